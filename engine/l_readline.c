/*
** l_readline.c: migrun.core.readline, the binding of engine/readline.c for the REPL (binding
** layer). The completion source is a Lua function; it runs inside readline's stack, so it is
** called under lua_pcall and its candidates come back as C strings: no error can longjmp
** through readline.
*/
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "mr.h"
#include "readline.h"

#define LINE_MT        "migrun.readline.line"
#define MAX_CANDIDATES 10000

static int reading; /* readline has one global state: no nested readline() */

/* What a completion needs from the Lua side while readline owns the C stack. */
typedef struct {
    lua_State *L;
    int fn; /* stack index of the completion function in l_rl_readline */
} l_completer;

/* Candidates being collected; freed by the caller when the collection fails half-way. */
typedef struct {
    const char *line;
    int start, end;
    char **v;
    size_t n, cap;
    int flags;
} collect_args;

static void free_candidates(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* collect(fn, args): fn(line, first, last) -> {string...} [.open = true], copied into args.
** Runs under lua_pcall: it may raise; its caller frees what was copied. */
static int collect(lua_State *L)
{
    collect_args *a = lua_touserdata(L, 2);
    lua_pushvalue(L, 1); // [fn, a, fn]
    lua_pushstring(L, a->line);
    lua_pushinteger(L, a->start + 1); /* Lua's word is line:sub(first, last) */
    lua_pushinteger(L, a->end);
    lua_call(L, 3, 1); // [fn, a, list]
    if (lua_isnil(L, -1))
        return 0;
    luaL_checktype(L, -1, LUA_TTABLE);
    if (lua_getfield(L, -1, "open") != LUA_TNIL && lua_toboolean(L, -1))
        a->flags |= MR_RL_KEEP_OPEN;
    lua_pop(L, 1);
    lua_Integer n = luaL_len(L, -1);
    if (n < 0)
        n = 0;
    if (n > MAX_CANDIDATES)
        n = MAX_CANDIDATES;
    a->v = calloc((size_t)n + 1, sizeof *a->v);
    if (a->v == NULL)
        return luaL_error(L, "out of memory");
    a->cap = (size_t)n;
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, -1, i); // [fn, a, list, cand]
        if (lua_type(L, -1) != LUA_TSTRING)
            return luaL_error(L, "completion candidate %d is a %s, not a string", (int)i,
                              luaL_typename(L, -1));
        size_t len;
        const char *s = lua_tolstring(L, -1, &len);
        char *copy = malloc(len + 1);
        if (copy == NULL)
            return luaL_error(L, "out of memory");
        memcpy(copy, s, len + 1);
        a->v[a->n++] = copy;
        lua_pop(L, 1); // [fn, a, list]
    }
    return 0;
}

/* mr_rl_complete_fn: calls the Lua completion function protected; an error means "no
** candidates" (a completion is never worth a crash, nor a longjmp through readline). */
static char **complete(void *ctx, const char *line, int start, int end, int *flags)
{
    l_completer *c = ctx;
    lua_State *L = c->L;
    collect_args a = {.line = line, .start = start, .end = end};
    /* none of these pushes allocates, so none can raise out here */
    lua_pushcfunction(L, collect);
    lua_pushvalue(L, c->fn);
    lua_pushlightuserdata(L, &a); // [.., collect, fn, a]
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
        lua_pop(L, 1); /* the error: dropped */
        free_candidates(a.v, a.n);
        return NULL;
    }
    *flags = a.flags;
    return a.v; /* NULL-terminated by calloc */
}

/* __gc of the box that owns a line between readline and lua_pushstring. */
static int l_line_gc(lua_State *L)
{
    char **box = luaL_checkudata(L, 1, LINE_MT);
    free(*box);
    *box = NULL;
    return 0;
}

/* readline.readline(prompt [, complete]) -> line | nil (end of input) | false, "interrupt" |
** false, "terminate"; raises on an I/O error. complete(line, first, last) returns the strings
** that may replace line:sub(first, last) (last is the cursor), or nil; a field open = true
** keeps a quote open after a unique match. Errors in complete are ignored. */
static int l_rl_readline(lua_State *L)
{
    const char *prompt = luaL_optstring(L, 1, "");
    int has_fn = !lua_isnoneornil(L, 2);
    if (has_fn)
        luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_settop(L, 2);
    if (reading)
        return luaL_error(L, "readline is already reading a line");
    luaL_checkstack(L, 8, NULL);                       /* complete() pushes without checking */
    char **box = lua_newuserdatauv(L, sizeof *box, 0); // [prompt, fn, box]
    *box = NULL;
    luaL_setmetatable(L, LINE_MT); /* the line is owned before it exists */
    l_completer c = {L, 2};
    reading = 1;
    mr_rl_status st = mr_rl_read(prompt, box, has_fn ? complete : NULL, &c);
    reading = 0;
    switch (st) {
    case MR_RL_LINE:
        lua_pushstring(L, *box);
        free(*box);
        *box = NULL;
        return 1;
    case MR_RL_EOF:
        lua_pushnil(L);
        return 1;
    case MR_RL_INTERRUPT:
    case MR_RL_TERMINATE:
        /* a SIGINT that hit while a key was handled went to migrun's handler, which armed the
        ** interrupt hook on the main thread; the line is already discarded, so disarm it */
        if (mr_interrupted) {
            lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
            lua_sethook(lua_tothread(L, -1), NULL, 0, 0);
            lua_pop(L, 1);
            mr_interrupted = 0;
        }
        lua_pushboolean(L, 0);
        lua_pushstring(L, st == MR_RL_INTERRUPT ? "interrupt" : "terminate");
        return 2;
    default:
        return luaL_error(L, "readline: %s", strerror(errno));
    }
}

/* Push true, or fail + "path: message" for an errno value. */
static int file_result(lua_State *L, int err, const char *path)
{
    if (err == 0) {
        lua_pushboolean(L, 1);
        return 1;
    }
    luaL_pushfail(L);
    lua_pushfstring(L, "%s: %s", path, strerror(err));
    lua_pushinteger(L, err);
    return 3;
}

/* readline.add_history(line) */
static int l_rl_add_history(lua_State *L)
{
    mr_rl_add_history(luaL_checkstring(L, 1));
    return 0;
}

/* readline.read_history(path) -> true | nil, message, errno (appends the file's entries) */
static int l_rl_read_history(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    return file_result(L, mr_rl_read_history(path), path);
}

/* readline.write_history(path) -> true | nil, message, errno (the whole list; mode 0600) */
static int l_rl_write_history(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    return file_result(L, mr_rl_write_history(path), path);
}

/* readline.append_history(path, n) -> true | nil, message, errno (the newest n entries; the
** file must exist) */
static int l_rl_append_history(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_argcheck(L, n >= 0 && n <= 1000000, 2, "out of range");
    return file_result(L, mr_rl_append_history(path, (int)n), path);
}

/* readline.stifle_history(max): keep at most max entries in memory */
static int l_rl_stifle_history(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n >= 0 && n <= 1000000, 1, "out of range");
    mr_rl_stifle_history((int)n);
    return 0;
}

/* readline.history_length() -> entries in memory */
static int l_rl_history_length(lua_State *L)
{
    lua_pushinteger(L, mr_rl_history_length());
    return 1;
}

static const luaL_Reg rl_funcs[] = {
    {"readline",       l_rl_readline      },
    {"add_history",    l_rl_add_history   },
    {"read_history",   l_rl_read_history  },
    {"write_history",  l_rl_write_history },
    {"append_history", l_rl_append_history},
    {"stifle_history", l_rl_stifle_history},
    {"history_length", l_rl_history_length},
    {NULL,             NULL               },
};

int luaopen_migrun_core_readline(lua_State *L)
{
    luaL_newmetatable(L, LINE_MT); // [mt]
    lua_pushcfunction(L, l_line_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1); // []
    mr_rl_init("migrun");
    luaL_newlib(L, rl_funcs);
    return 1;
}
