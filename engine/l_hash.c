/*
** l_hash.c: migrun.core.hash, streamed sha256 (OpenSSL) of strings and files.
*/
#include <errno.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "mr.h"

typedef struct {
    mr_sha256 *h; /* NULL once finished */
} l_hash;

/* hash.sha256(s) -> hex */
static int l_hash_sha256(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    l_hash *u = lua_newuserdatauv(L, sizeof *u, 0); /* owns h until freed below */
    u->h = NULL;
    luaL_setmetatable(L, MR_HASH_MT);
    u->h = mr_sha256_new();
    char hex[65];
    if (u->h == NULL || mr_sha256_update(u->h, s, len) < 0 || mr_sha256_final_hex(u->h, hex) < 0)
        return luaL_error(L, "sha256 failed");
    mr_sha256_free(u->h);
    u->h = NULL;
    lua_pushstring(L, hex);
    return 1;
}

/* hash.sha256_file(path) -> hex | nil, message (a question: the file may be missing) */
static int l_hash_sha256_file(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    char hex[65];
    if (mr_sha256_file_hex(path, hex) < 0) {
        luaL_pushfail(L);
        lua_pushfstring(L, "%s: %s", path, strerror(errno));
        return 2;
    }
    lua_pushstring(L, hex);
    return 1;
}

/* hash.new() -> h with h:update(s) -> h and h:hex() -> hex (finishes it) */
static int l_hash_new(lua_State *L)
{
    l_hash *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->h = NULL;
    luaL_setmetatable(L, MR_HASH_MT);
    u->h = mr_sha256_new();
    if (u->h == NULL)
        return luaL_error(L, "sha256: out of memory");
    return 1;
}

static l_hash *check_open(lua_State *L)
{
    l_hash *u = luaL_checkudata(L, 1, MR_HASH_MT);
    if (u->h == NULL)
        luaL_argerror(L, 1, "hash is finished");
    return u;
}

/* h:update(s) -> h; raises once h is finished */
static int l_hash_update(lua_State *L)
{
    l_hash *u = check_open(L);
    size_t len;
    const char *s = luaL_checklstring(L, 2, &len);
    if (mr_sha256_update(u->h, s, len) < 0)
        return luaL_error(L, "sha256 failed");
    lua_settop(L, 1);
    return 1;
}

/* h:hex() -> hex digest; finishes h (a second call raises) */
static int l_hash_hex(lua_State *L)
{
    l_hash *u = check_open(L);
    char hex[65];
    int rc = mr_sha256_final_hex(u->h, hex);
    mr_sha256_free(u->h);
    u->h = NULL;
    if (rc < 0)
        return luaL_error(L, "sha256 failed");
    lua_pushstring(L, hex);
    return 1;
}

/* __gc, __close: frees the digest state; never raises */
static int l_hash_gc(lua_State *L)
{
    l_hash *u = luaL_checkudata(L, 1, MR_HASH_MT);
    mr_sha256_free(u->h);
    u->h = NULL;
    return 0;
}

static const luaL_Reg hash_meta[] = {
    {"__index", NULL     },
    {"__gc",    l_hash_gc},
    {"__close", l_hash_gc},
    {NULL,      NULL     },
};

static const luaL_Reg hash_methods[] = {
    {"update", l_hash_update},
    {"hex",    l_hash_hex   },
    {NULL,     NULL         },
};

static const luaL_Reg hash_funcs[] = {
    {"sha256",      l_hash_sha256     },
    {"sha256_file", l_hash_sha256_file},
    {"new",         l_hash_new        },
    {NULL,          NULL              },
};

int luaopen_migrun_core_hash(lua_State *L)
{
    luaL_newmetatable(L, MR_HASH_MT); // [mt]
    luaL_setfuncs(L, hash_meta, 0);
    luaL_newlib(L, hash_methods);   // [mt, methods]
    lua_setfield(L, -2, "__index"); // [mt]
    lua_pop(L, 1);
    luaL_newlib(L, hash_funcs);
    return 1;
}
