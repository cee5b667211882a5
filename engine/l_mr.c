/*
** l_mr.c: what every binding shares (binding layer): the migrun.error metatable, pushing and
** raising migrun.error tables, and option-table readers. Calls only the Lua API.
*/
#include <stdarg.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "l_mr.h"
#include "mr.h"

void mr_l_error_mt(lua_State *L)
{
    luaL_newmetatable(L, MR_ERROR_MT); /* new or existing: pushed either way */
}

void mr_l_push_error(lua_State *L, const char *kind, const char *msg)
{
    lua_createtable(L, 0, 4); // [err]
    lua_pushstring(L, kind);
    lua_setfield(L, -2, "kind");
    if (msg != NULL) {
        lua_pushstring(L, msg);
        lua_setfield(L, -2, "message");
    }
    mr_l_error_mt(L);        // [err, mt]
    lua_setmetatable(L, -2); // [err]
}

int mr_l_raise(lua_State *L, const char *kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mr_l_push_error(L, kind, NULL); // [err]
    lua_pushvfstring(L, fmt, ap);   // [err, msg]
    va_end(ap);
    lua_setfield(L, -2, "message"); // [err]
    return lua_error(L);
}

char **mr_l_check_env(lua_State *L, int opts)
{
    if (lua_getfield(L, opts, "env") == LUA_TNIL) {
        lua_pop(L, 1);
        return NULL;
    }
    int t = lua_gettop(L); // [.., env]
    luaL_argexpected(L, lua_istable(L, t), opts, "env table");
    lua_newtable(L); // [.., env, strs]  anchors "K=V"
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, t)) { // [.., env, strs, k, v]
        /* never luaL_checkstring the key: converting it in place would confuse lua_next */
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, "env keys must be strings (got a %s)", luaL_typename(L, -2));
        const char *k = lua_tostring(L, -2);
        if (k[0] == '\0' || strchr(k, '=') != NULL)
            luaL_error(L, "bad env name '%s'", k);
        if (lua_toboolean(L, -1)) {
            if (!lua_isstring(L, -1))
                luaL_error(L, "env.%s must be a string, number or false", k);
            lua_pushfstring(L, "%s=%s", k, lua_tostring(L, -1));
        } else {
            lua_pushstring(L, k);
        }
        lua_rawseti(L, t + 1, ++n); // [.., env, strs, k, v]
        lua_pop(L, 1);              // [.., env, strs, k]
    }
    char **env = lua_newuserdatauv(L, (size_t)(n + 1) * sizeof *env, 0);
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, t + 1, i);
        env[i - 1] = (char *)lua_tostring(L, -1); /* anchored by strs */
        lua_pop(L, 1);
    }
    env[n] = NULL;
    return env; // [.., env, strs, scratch] stay
}

const char *mr_l_opt_string(lua_State *L, int opts, const char *key)
{
    lua_getfield(L, opts, key);
    const char *s = lua_isnil(L, -1) ? NULL : luaL_checkstring(L, -1);
    lua_pop(L, 1); /* the opts table anchors the string */
    return s;
}
