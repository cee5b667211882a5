/*
** l_backup.c: migrun.core.backup, the binding of backup.c (checks, conversion, errors only).
** What to run, how to name files and what a failure means is lua/migrun/backup.lua's business.
** May call backup.c, and libpq for parsing conninfo strings; nothing else.
*/
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "backup.h"
#include "db.h"
#include "l_mr.h"
#include "mr.h"

/* A NULL-terminated string array read from the list at idx (NULL when nil), kept alive by the
** returned userdata (left on the stack) and by the list's strings. */
static char **check_argv(lua_State *L, int opts, const char *key)
{
    if (lua_getfield(L, opts, key) == LUA_TNIL) {
        lua_pop(L, 1);
        return NULL;
    }
    int t = lua_gettop(L); // [.., list]
    if (!lua_istable(L, t))
        luaL_error(L, "backup: %s must be an argv list", key);
    lua_Integer n = luaL_len(L, t);
    if (n < 1)
        luaL_error(L, "backup: %s needs at least the program", key);
    char **argv = lua_newuserdatauv(L, (size_t)(n + 1) * sizeof *argv, 0); // [.., list, ud]
    for (lua_Integer i = 1; i <= n; i++) {
        if (lua_rawgeti(L, t, i) != LUA_TSTRING)
            luaL_error(L, "backup: %s[%d] is not a string", key, (int)i);
        argv[i - 1] = (char *)lua_tostring(L, -1); /* anchored by the list */
        lua_pop(L, 1);
    }
    argv[n] = NULL;
    return argv; /* list and ud stay on the stack */
}

static int opt_bool(lua_State *L, int opts, const char *key)
{
    lua_getfield(L, opts, key);
    int b = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return b;
}

/* opts.progress = {label = s, total = n}: a progress line on stderr; absent: quiet. */
static mr_progress *check_progress(lua_State *L, int opts, mr_progress *p)
{
    if (lua_getfield(L, opts, "progress") != LUA_TTABLE) {
        lua_pop(L, 1);
        return NULL;
    }
    int t = lua_gettop(L);
    const char *label = mr_l_opt_string(L, t, "label");
    lua_getfield(L, t, "total");
    lua_Integer total = lua_isnil(L, -1) ? 0 : luaL_checkinteger(L, -1);
    lua_pop(L, 1);
    mr_progress_start(p, 2, label, total > 0 ? (uint64_t)total : 0);
    lua_pop(L, 1); /* label stays anchored by opts */
    return p;
}

/* ---- tee ------------------------------------------------------------------------------ */

typedef struct {
    mr_tee_result res; /* its stderr buffers are freed by __gc if a push raises */
} l_tee;

static int l_tee_gc(lua_State *L)
{
    l_tee *t = lua_touserdata(L, 1);
    mr_tee_result_free(&t->res);
    return 0;
}

static void push_child(lua_State *L, const mr_tee_child *c)
{
    lua_createtable(L, 0, 6);
    lua_pushboolean(L, c->started);
    lua_setfield(L, -2, "started");
    if (c->started) {
        lua_pushinteger(L, c->status);
        lua_setfield(L, -2, "status");
        lua_pushboolean(L, c->exited && c->status == 0);
        lua_setfield(L, -2, "ok");
        if (c->signal) {
            lua_pushinteger(L, c->signal);
            lua_setfield(L, -2, "signal");
        }
    }
    lua_pushlstring(L, c->err ? c->err : "", c->errlen);
    lua_setfield(L, -2, "stderr");
    lua_pushboolean(L, c->err_truncated);
    lua_setfield(L, -2, "stderr_truncated");
}

/* tee{src = argv | src_file = path, sink = argv?, env = {K=V}?, out = path?, fsync = bool,
** progress = {label, total}?} -> {ok, bytes, sha256, src, sink, interrupted,
** sink_closed_early, error, errno}; never raises for a failure of the run itself (the result
** says), only for misuse. out is removed unless ok. */
static int l_backup_tee(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    mr_tee_opts o = {0};
    o.src_argv = check_argv(L, 1, "src");
    o.src_path = mr_l_opt_string(L, 1, "src_file");
    luaL_argcheck(L, (o.src_argv == NULL) != (o.src_path == NULL), 1,
                  "exactly one of src (argv) and src_file");
    o.sink_argv = check_argv(L, 1, "sink");
    o.env = mr_l_check_env(L, 1);
    o.out_path = mr_l_opt_string(L, 1, "out");
    o.fsync_out = opt_bool(L, 1, "fsync");
    mr_progress prog;
    o.progress = check_progress(L, 1, &prog);

    l_tee *t = lua_newuserdatauv(L, sizeof *t, 0); // [.., tee]
    memset(t, 0, sizeof *t);
    lua_newtable(L); /* a metatable just for __gc */
    lua_pushcfunction(L, l_tee_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    int rc = mr_backup_tee(&o, &t->res); /* no Lua inside: nothing can longjmp */
    mr_tee_result *r = &t->res;

    lua_createtable(L, 0, 10); // [.., tee, res]
    lua_pushboolean(L, rc == 0);
    lua_setfield(L, -2, "ok");
    lua_pushinteger(L, (lua_Integer)r->bytes);
    lua_setfield(L, -2, "bytes");
    if (r->sha256[0]) {
        lua_pushstring(L, r->sha256);
        lua_setfield(L, -2, "sha256");
    }
    push_child(L, &r->src);
    lua_setfield(L, -2, "src");
    if (o.sink_argv) {
        push_child(L, &r->sink);
        lua_setfield(L, -2, "sink");
    }
    lua_pushboolean(L, r->interrupted);
    lua_setfield(L, -2, "interrupted");
    lua_pushboolean(L, r->sink_closed_early);
    lua_setfield(L, -2, "sink_closed_early");
    if (r->local_error[0]) {
        lua_pushstring(L, r->local_error);
        lua_setfield(L, -2, "error");
        lua_pushinteger(L, r->local_errno);
        lua_setfield(L, -2, "errno");
    }
    mr_tee_result_free(r);
    return 1;
}

/* ---- COPY TO a file ------------------------------------------------------------------- */

/* copy_out(conn, sql, path [, {fsync = bool, progress = {label}}]) -> {rows, bytes, sha256};
** path must not exist; raises migrun.error kind "sql" (with sqlstate), "connection" or "io" */
static int l_backup_copy_out(lua_State *L)
{
    PGcancel *cancel = NULL; /* active while C streams: Ctrl-C cancels */
    PGconn *conn = mr_db_checkconn(L, 1, &cancel);
    const char *sql = luaL_checkstring(L, 2);
    const char *path = luaL_checkstring(L, 3);
    if (lua_isnoneornil(L, 4)) {
        lua_settop(L, 3);
        lua_newtable(L);
    }
    luaL_checktype(L, 4, LUA_TTABLE);
    int fsync_out = opt_bool(L, 4, "fsync");
    mr_progress prog;
    mr_progress *pp = check_progress(L, 4, &prog);
    mr_copy_result r;
    mr_db_active_cancel = cancel;
    mr_backup_copy_out(conn, sql, path, fsync_out, pp, &r); /* no Lua inside */
    mr_db_active_cancel = NULL;
    switch (r.kind) {
    case MR_COPY_OK:
        break;
    case MR_COPY_SQL: {
        mr_l_push_error(L, "sql", NULL); // [.., err]
        const char *f[][2] = {
            {"sqlstate", r.sqlstate},
            {"severity", r.severity},
            {"message",  r.message },
            {"detail",   r.detail  },
            {"hint",     r.hint    }
        };
        for (size_t i = 0; i < MR_COUNT(f); i++) {
            if (f[i][1][0]) {
                lua_pushstring(L, f[i][1]);
                lua_setfield(L, -2, f[i][0]);
            }
        }
        return lua_error(L);
    }
    case MR_COPY_CONN:
        return mr_l_raise(L, "connection", "%s", r.message);
    case MR_COPY_IO:
        return mr_l_raise(L, "io", "%s", r.message);
    default:
        return luaL_error(L, "copy_out: %s", r.message);
    }
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, (lua_Integer)r.rows);
    lua_setfield(L, -2, "rows");
    lua_pushinteger(L, (lua_Integer)r.bytes);
    lua_setfield(L, -2, "bytes");
    lua_pushstring(L, r.sha256);
    lua_setfield(L, -2, "sha256");
    return 1;
}

/* ---- files ---------------------------------------------------------------------------- */

/* publish(tmp, final) -> true | nil, message: rename, never replacing final; fsync the dir */
static int l_backup_publish(lua_State *L)
{
    const char *tmp = luaL_checkstring(L, 1);
    const char *final = luaL_checkstring(L, 2);
    char err[512];
    if (mr_backup_publish(tmp, final, err, sizeof err) < 0) {
        luaL_pushfail(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* write_new(path, data) -> true | nil, message: a new 0600 file, fsync'd */
static int l_backup_write_new(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    size_t len;
    const char *data = luaL_checklstring(L, 2, &len);
    char err[512];
    if (mr_backup_write_new(path, data, len, err, sizeof err) < 0) {
        luaL_pushfail(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

typedef struct {
    PQconninfoOption *opts; /* NULL once freed */
} l_conninfo;

static int l_conninfo_gc(lua_State *L)
{
    l_conninfo *c = lua_touserdata(L, 1);
    PQconninfoFree(c->opts);
    c->opts = NULL;
    return 0;
}

/* parse_conninfo(s) -> {keyword = value} (only those given) | nil, message (which may quote
** part of s: the caller redacts) */
static int l_backup_parse_conninfo(lua_State *L)
{
    const char *s = luaL_checkstring(L, 1);
    l_conninfo *c = lua_newuserdatauv(L, sizeof *c, 0); // [s, owner]
    c->opts = NULL;
    lua_newtable(L); /* a metatable just for __gc */
    lua_pushcfunction(L, l_conninfo_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    char *err = NULL;
    c->opts = PQconninfoParse(s, &err); /* owned by the userdata from here */
    if (c->opts == NULL) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", err ? err : "out of memory");
        PQfreemem(err); /* before any Lua call can longjmp */
        luaL_pushfail(L);
        lua_pushstring(L, msg);
        return 2;
    }
    lua_newtable(L); // [s, owner, map]
    for (PQconninfoOption *o = c->opts; o->keyword; o++) {
        if (o->val != NULL) {
            lua_pushstring(L, o->val);
            lua_setfield(L, -2, o->keyword);
        }
    }
    PQconninfoFree(c->opts);
    c->opts = NULL;
    return 1;
}

static const luaL_Reg backup_funcs[] = {
    {"tee",            l_backup_tee           },
    {"copy_out",       l_backup_copy_out      },
    {"publish",        l_backup_publish       },
    {"write_new",      l_backup_write_new     },
    {"parse_conninfo", l_backup_parse_conninfo},
    {NULL,             NULL                   },
};

int luaopen_migrun_core_backup(lua_State *L)
{
    luaL_newlib(L, backup_funcs);
    return 1;
}
