/*
** l_term.c: migrun.core.term, what the terminal is (tty or not, how wide).
*/
#include <sys/ioctl.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

/* term.isatty(fd) -> boolean (0 stdin, 1 stdout, 2 stderr) */
static int l_term_isatty(lua_State *L)
{
    lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
    return 1;
}

/* term.width([fd = 1]) -> columns, or nil when fd is not a terminal */
static int l_term_width(lua_State *L)
{
    struct winsize ws;
    if (ioctl((int)luaL_optinteger(L, 1, 1), TIOCGWINSZ, &ws) < 0 || ws.ws_col == 0)
        return 0;
    lua_pushinteger(L, ws.ws_col);
    return 1;
}

static const luaL_Reg term_funcs[] = {
    {"isatty", l_term_isatty},
    {"width",  l_term_width },
    {NULL,     NULL         },
};

int luaopen_migrun_core_term(lua_State *L)
{
    luaL_newlib(L, term_funcs);
    return 1;
}
