/*
** l_proc.c: migrun.core.proc, the binding of proc.c (checks and conversion only).
** proc.run(argv, opts) runs to completion; proc.spawn(argv, opts) returns a handle whose
** __gc/__close stop the child's process group if it is still running.
*/
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include <lauxlib.h>
#include <lua.h>

#include "l_mr.h"
#include "mr.h"
#include "proc.h"

typedef struct {
    pid_t pid; /* 0 once reaped */
    mr_proc_result res;
} l_proc;

/* Read argv (a list of strings) into a NULL-terminated array kept alive by the stack. */
static char **check_argv(lua_State *L, int idx)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_Integer n = luaL_len(L, idx);
    luaL_argcheck(L, n >= 1, idx, "argv needs at least the program");
    char **argv = lua_newuserdatauv(L, (size_t)(n + 1) * sizeof *argv, 0);
    for (lua_Integer i = 1; i <= n; i++) {
        if (lua_rawgeti(L, idx, i) != LUA_TSTRING)
            luaL_argerror(L, idx, lua_pushfstring(L, "argv[%d] is not a string", (int)i));
        argv[i - 1] = (char *)lua_tostring(L, -1); /* anchored by the argv table */
        lua_pop(L, 1);
    }
    argv[n] = NULL;
    return argv;
}

/* stdin: "null" | "inherit" | {data = s} | {file = path}; stdout/stderr: "capture" |
** "null" | "inherit" | {file = path} | {append = path} */
static void check_io(lua_State *L, int opts, const char *key, mr_io *io, int def)
{
    io->mode = def;
    int t = lua_getfield(L, opts, key);
    if (t == LUA_TSTRING) {
        const char *s = lua_tostring(L, -1);
        if (strcmp(s, "null") == 0)
            io->mode = MR_IO_NULL;
        else if (strcmp(s, "inherit") == 0)
            io->mode = MR_IO_INHERIT;
        else if (strcmp(s, "capture") == 0 && strcmp(key, "stdin") != 0)
            io->mode = MR_IO_CAPTURE;
        else
            luaL_error(L, "proc: bad %s mode '%s'", key, s);
    } else if (t == LUA_TTABLE) {
        const char *v;
        if ((v = mr_l_opt_string(L, lua_gettop(L), "file")) != NULL) {
            io->mode = MR_IO_FILE;
            io->path = v;
        } else if ((v = mr_l_opt_string(L, lua_gettop(L), "append")) != NULL) {
            io->mode = MR_IO_APPEND;
            io->path = v;
        } else if (strcmp(key, "stdin") == 0 && lua_getfield(L, -1, "data") == LUA_TSTRING) {
            io->mode = MR_IO_DATA;
            io->data = lua_tolstring(L, -1, &io->len);
            lua_pop(L, 1);
        } else {
            luaL_error(L, "proc: %s table needs file, append%s", key,
                       strcmp(key, "stdin") == 0 ? " or data" : "");
        }
    } else if (t != LUA_TNIL) {
        luaL_error(L, "proc: bad %s (a %s)", key, luaL_typename(L, -1));
    }
    lua_pop(L, 1);
}

static void check_opts(lua_State *L, int idx, mr_proc_opts *o, int capture_default)
{
    *o = (mr_proc_opts){0};
    o->argv = check_argv(L, 1);
    if (lua_isnoneornil(L, idx)) {
        lua_newtable(L);
        lua_replace(L, idx);
    }
    luaL_checktype(L, idx, LUA_TTABLE);
    o->env = mr_l_check_env(L, idx);
    o->cwd = mr_l_opt_string(L, idx, "cwd");
    o->user = mr_l_opt_string(L, idx, "user");
    lua_getfield(L, idx, "new_session");
    o->new_session = lua_toboolean(L, -1);
    lua_pop(L, 1);
    /* die_with_parent = true (SIGKILL) | a signal number: the child goes when we go */
    lua_getfield(L, idx, "die_with_parent");
    if (lua_type(L, -1) == LUA_TBOOLEAN) {
        o->die_signal = lua_toboolean(L, -1) ? SIGKILL : 0;
    } else if (!lua_isnil(L, -1)) {
        lua_Integer sig = luaL_checkinteger(L, -1);
        luaL_argcheck(L, sig > 0 && sig < 65, idx, "die_with_parent: not a signal number");
        o->die_signal = (int)sig;
    }
    lua_pop(L, 1);
    lua_getfield(L, idx, "timeout_ms");
    o->timeout_ms = lua_isnil(L, -1) ? 0 : (int64_t)luaL_checkinteger(L, -1);
    lua_pop(L, 1);
    check_io(L, idx, "stdin", &o->io[0], MR_IO_NULL);
    check_io(L, idx, "stdout", &o->io[1], capture_default ? MR_IO_CAPTURE : MR_IO_INHERIT);
    check_io(L, idx, "stderr", &o->io[2], capture_default ? MR_IO_CAPTURE : MR_IO_INHERIT);
}

static void push_result(lua_State *L, mr_proc_result *r)
{
    lua_createtable(L, 0, 8);
    lua_pushinteger(L, r->status);
    lua_setfield(L, -2, "status");
    lua_pushboolean(L, r->exited && r->status == 0 && !r->timed_out && !r->interrupted);
    lua_setfield(L, -2, "ok");
    if (r->signal) {
        lua_pushinteger(L, r->signal);
        lua_setfield(L, -2, "signal");
    }
    lua_pushboolean(L, r->timed_out);
    lua_setfield(L, -2, "timed_out");
    lua_pushboolean(L, r->interrupted);
    lua_setfield(L, -2, "interrupted");
    if (r->out.data) {
        lua_pushlstring(L, r->out.data, r->out.len);
        lua_setfield(L, -2, "stdout");
    }
    if (r->err.data) {
        lua_pushlstring(L, r->err.data, r->err.len);
        lua_setfield(L, -2, "stderr");
    }
}

/* The buffers of an in-flight proc.run live here so an error in push_result leaks nothing. */
typedef struct {
    mr_proc_result res;
} l_run;

/* __gc of the l_run box: frees captured output left behind by an error. Never raises. */
static int l_run_gc(lua_State *L)
{
    l_run *r = lua_touserdata(L, 1);
    mr_buf_free(&r->res.out);
    mr_buf_free(&r->res.err);
    return 0;
}

/* proc.run(argv, opts) -> {status, ok, signal, timed_out, interrupted, stdout, stderr};
** raises migrun.error{kind="environment"} when the program can't be started */
static int l_proc_run(lua_State *L)
{
    lua_settop(L, 2);
    mr_proc_opts o;
    check_opts(L, 2, &o, 1);
    l_run *r = lua_newuserdatauv(L, sizeof *r, 0);
    memset(r, 0, sizeof *r);
    lua_newtable(L); /* a metatable just for __gc */
    lua_pushcfunction(L, l_run_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    char err[512];
    if (mr_proc_run(&o, &r->res, err, sizeof err) < 0)
        return mr_l_raise(L, "environment", "%s", err);
    push_result(L, &r->res);
    mr_buf_free(&r->res.out);
    mr_buf_free(&r->res.err);
    return 1;
}

static l_proc *check_proc(lua_State *L)
{
    return luaL_checkudata(L, 1, MR_PROC_MT);
}

/* proc.spawn(argv, opts) -> handle; stdio may be "null", "inherit" or files, not captured;
** opts.die_with_parent = true | signal: the child is sent SIGKILL (or that signal) when this
** process dies, however it dies (also accepted by proc.run); raises
** migrun.error{kind="environment"} when the program can't be started */
static int l_proc_spawn(lua_State *L)
{
    lua_settop(L, 2);
    mr_proc_opts o;
    check_opts(L, 2, &o, 0);
    for (int i = 0; i < 3; i++)
        if (o.io[i].mode == MR_IO_CAPTURE || o.io[i].mode == MR_IO_DATA)
            return luaL_error(L, "proc.spawn: use files for stdio (capture needs proc.run)");
    if (o.timeout_ms > 0) /* nothing would enforce it: say so rather than ignore it */
        return luaL_error(L, "proc.spawn: no timeout option (use handle:wait(ms), handle:kill())");
    l_proc *p = lua_newuserdatauv(L, sizeof *p, 0);
    memset(p, 0, sizeof *p);
    luaL_setmetatable(L, MR_PROC_MT);
    int fds[3];
    char err[512];
    p->pid = mr_proc_start(&o, fds, err, sizeof err);
    if (p->pid < 0) {
        p->pid = 0;
        return mr_l_raise(L, "environment", "%s", err);
    }
    return 1;
}

/* handle:wait([timeout_ms]) -> result table, or nil while still running */
static int l_proc_wait(lua_State *L)
{
    l_proc *p = check_proc(L);
    if (p->pid == 0) {
        push_result(L, &p->res);
        return 1;
    }
    int64_t t = (int64_t)luaL_optinteger(L, 2, -1);
    if (!mr_proc_wait(p->pid, t, &p->res))
        return 0;
    p->pid = 0;
    push_result(L, &p->res);
    return 1;
}

/* handle:kill([signal = SIGTERM]) -> true; signals the child's whole process group */
static int l_proc_kill(lua_State *L)
{
    l_proc *p = check_proc(L);
    int sig = (int)luaL_optinteger(L, 2, SIGTERM);
    if (p->pid > 0)
        kill(-p->pid, sig);
    lua_pushboolean(L, p->pid > 0);
    return 1;
}

/* handle:pid() -> integer, or nil once reaped */
static int l_proc_pid(lua_State *L)
{
    l_proc *p = check_proc(L);
    if (p->pid == 0)
        return 0;
    lua_pushinteger(L, p->pid);
    return 1;
}

/* __gc/__close: a child still running is killed with its group and reaped. Never raises. */
static int l_proc_gc(lua_State *L)
{
    l_proc *p = check_proc(L);
    if (p->pid > 0) {
        kill(-p->pid, SIGKILL);
        mr_proc_wait(p->pid, 5000, &p->res);
        p->pid = 0;
    }
    return 0;
}

/* handle:detach(): forget the child; it runs on after the handle is collected */
static int l_proc_detach(lua_State *L)
{
    check_proc(L)->pid = 0;
    return 0;
}

/* tostring(handle) -> "migrun.proc (pid N)" or "migrun.proc (exited N)" */
static int l_proc_tostring(lua_State *L)
{
    l_proc *p = check_proc(L);
    if (p->pid > 0)
        lua_pushfstring(L, "migrun.proc (pid %d)", (int)p->pid);
    else
        lua_pushfstring(L, "migrun.proc (exited %d)", p->res.status);
    return 1;
}

static const luaL_Reg proc_meta[] = {
    {"__index",    NULL           },
    {"__gc",       l_proc_gc      },
    {"__close",    l_proc_gc      },
    {"__tostring", l_proc_tostring},
    {NULL,         NULL           },
};

static const luaL_Reg proc_methods[] = {
    {"wait",   l_proc_wait  },
    {"kill",   l_proc_kill  },
    {"pid",    l_proc_pid   },
    {"detach", l_proc_detach},
    {"close",  l_proc_gc    },
    {NULL,     NULL         },
};

static const luaL_Reg proc_funcs[] = {
    {"run",   l_proc_run  },
    {"spawn", l_proc_spawn},
    {NULL,    NULL        },
};

int luaopen_migrun_core_proc(lua_State *L)
{
    luaL_newmetatable(L, MR_PROC_MT); // [mt]
    luaL_setfuncs(L, proc_meta, 0);
    luaL_newlib(L, proc_methods);   // [mt, methods]
    lua_setfield(L, -2, "__index"); // [mt]
    lua_pop(L, 1);                  // []
    luaL_newlib(L, proc_funcs);
    lua_pushinteger(L, SIGTERM);
    lua_setfield(L, -2, "SIGTERM");
    lua_pushinteger(L, SIGKILL);
    lua_setfield(L, -2, "SIGKILL");
    lua_pushinteger(L, SIGINT);
    lua_setfield(L, -2, "SIGINT");
    return 1;
}
