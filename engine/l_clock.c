/*
** l_clock.c: migrun.core.clock, monotonic time in nanoseconds and sleep.
** Parsing and formatting durations is policy-free but readable in Lua: lua/migrun/clock.lua.
*/
#include <lauxlib.h>
#include <lua.h>

#include "mr.h"

/* clock.now() -> integer nanoseconds (monotonic) */
static int l_clock_now(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)mr_clock_now());
    return 1;
}

/* clock.since(t) -> integer nanoseconds elapsed since t (wraps like Lua's own integers) */
static int l_clock_since(lua_State *L)
{
    lua_Unsigned t = (lua_Unsigned)luaL_checkinteger(L, 1);
    lua_pushinteger(L, (lua_Integer)((lua_Unsigned)mr_clock_now() - t));
    return 1;
}

/* clock.sleep(ms); returns early on Ctrl-C. NaN and negatives don't sleep; the longest sleep
** is a day per call (a float beyond int64 would be undefined behaviour to convert). */
static int l_clock_sleep(lua_State *L)
{
    lua_Number ms = luaL_checknumber(L, 1);
    if (ms > 0)
        mr_clock_sleep_ms(ms < 86400000.0 ? (int64_t)ms : 86400000);
    return 0;
}

static const luaL_Reg clock_funcs[] = {
    {"now",   l_clock_now  },
    {"since", l_clock_since},
    {"sleep", l_clock_sleep},
    {NULL,    NULL         },
};

int luaopen_migrun_core_clock(lua_State *L)
{
    luaL_newlib(L, clock_funcs);
    return 1;
}
