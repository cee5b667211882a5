/*
** main.c: the migrun binary. Like lua.c's pmain: build the VM, preload the C modules, find
** the Lua layer, then run migrun.cli.main(argv) inside one lua_pcall. The Lua layer returns
** the exit code; an error that escapes it is mapped by its kind (R6).
*/
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "db.h"
#include "l_mr.h"
#include "mr.h"

#ifndef MR_LUA_REL
#define MR_LUA_REL "../share/migrun/lua"
#endif

volatile sig_atomic_t mr_interrupted = 0;
static lua_State *volatile global_L = NULL;

int luaopen_migrun_core_db(lua_State *L);
int luaopen_migrun_core_clock(lua_State *L);
int luaopen_migrun_core_proc(lua_State *L);
int luaopen_migrun_core_hash(lua_State *L);
int luaopen_migrun_core_sys(lua_State *L);
int luaopen_migrun_core_term(lua_State *L);
int luaopen_migrun_core_backup(lua_State *L);
int luaopen_migrun_core_readline(lua_State *L);
int luaopen_migrun_core_pgquery(lua_State *L);
int luaopen_migrun_core_http(lua_State *L);

static const luaL_Reg core_modules[] = {
    {"migrun.core.db",       luaopen_migrun_core_db      },
    {"migrun.core.clock",    luaopen_migrun_core_clock   },
    {"migrun.core.proc",     luaopen_migrun_core_proc    },
    {"migrun.core.hash",     luaopen_migrun_core_hash    },
    {"migrun.core.sys",      luaopen_migrun_core_sys     },
    {"migrun.core.term",     luaopen_migrun_core_term    },
    {"migrun.core.backup",   luaopen_migrun_core_backup  },
    {"migrun.core.readline", luaopen_migrun_core_readline},
    {"migrun.core.pgquery",  luaopen_migrun_core_pgquery },
    {"migrun.core.http",     luaopen_migrun_core_http    },
    {NULL,                   NULL                        },
};

/* The hook the signal handler arms: raise migrun.error{kind="interrupted"} in Lua's time. */
static void interrupt_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    mr_interrupted = 0; /* the error now carries the news */
    mr_l_raise(L, "interrupted", "interrupted (Ctrl-C or SIGTERM)");
}

/* Only async-signal-safe work: a flag, a cancel request, a hook (as lua.c does). */
static void on_signal(int sig)
{
    (void)sig;
    mr_interrupted = 1;
    mr_db_cancel_active();
    if (global_L)
        lua_sethook(global_L, interrupt_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

/* The directory holding our executable, from /proc/self/exe. */
static int exe_dir(char *buf, size_t len)
{
    ssize_t n = readlink("/proc/self/exe", buf, len - 1);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *slash = strrchr(buf, '/');
    if (slash == NULL)
        return -1;
    *slash = '\0';
    return 0;
}

/* package.path = MIGRUN_LUA_PATH (";;" = our default) or <exe>/<MR_LUA_REL>, prepended to
** Lua's own path so lfs, cjson and busted still load (R8). */
static void set_path(lua_State *L)
{
    char dir[PATH_MAX];
    if (exe_dir(dir, sizeof dir) == 0)
        lua_pushfstring(L, "%s/%s/?.lua;%s/%s/?/init.lua", dir, MR_LUA_REL, dir, MR_LUA_REL);
    else
        lua_pushliteral(L, ""); // [ours]
    const char *env = getenv("MIGRUN_LUA_PATH");
    if (env && *env) {
        lua_pushfstring(L, ";%s;", lua_tostring(L, 1)); // [ours, ;ours;]
        luaL_gsub(L, env, ";;", lua_tostring(L, -1));   // [ours, ;ours;, mine]
    } else {
        lua_pushvalue(L, 1);
        lua_pushvalue(L, 1); // [ours, ours, mine]
    }
    lua_getglobal(L, "package"); // [.., mine, package]
    lua_getfield(L, -1, "path"); // [.., mine, package, old]
    lua_pushfstring(L, "%s;%s", lua_tostring(L, -3), lua_tostring(L, -1));
    lua_setfield(L, -3, "path"); // [.., mine, package, old]
    lua_settop(L, 0);
}

/* An error as text: its __tostring (migrun.errors), else its message (an error raised before
** the Lua layer loaded has the metatable but no __tostring yet), else luaL_tolstring's. */
static const char *error_text(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    if (lua_istable(L, idx)) {
        if (luaL_getmetafield(L, idx, "__tostring") != LUA_TNIL) {
            lua_pop(L, 1);
        } else {
            if (lua_getfield(L, idx, "message") == LUA_TSTRING)
                return lua_tostring(L, -1);
            lua_pop(L, 1);
        }
    }
    return luaL_tolstring(L, idx, NULL);
}

static int msghandler(lua_State *L)
{
    /* keep the error object (its kind decides the exit code); stash a traceback beside it */
    const char *msg = error_text(L, 1);
    luaL_traceback(L, L, msg, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, "migrun.traceback");
    lua_settop(L, 1);
    return 1;
}

/* pmain: everything that can raise runs here, inside lua_pcall. */
static int pmain(lua_State *L)
{
    int argc = (int)lua_tointeger(L, 1);
    char **argv = lua_touserdata(L, 2);
    lua_settop(L, 0);
    luaL_openlibs(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    for (const luaL_Reg *m = core_modules; m->name; m++) {
        lua_pushcfunction(L, m->func);
        lua_setfield(L, -2, m->name);
    }
    lua_pop(L, 1);
    set_path(L);

    lua_getglobal(L, "require");
    lua_pushliteral(L, "migrun");
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) // [migrun | err]
        return mr_l_raise(L, "environment",
                          "cannot load migrun's Lua layer (set MIGRUN_LUA_PATH?): %s",
                          luaL_tolstring(L, -1, NULL));
    lua_getfield(L, -1, "CORE_ABI"); // [migrun, abi]
    if (lua_tointeger(L, -1) != MR_CORE_ABI) {
        lua_getglobal(L, "package");
        lua_getfield(L, -1, "path");
        return mr_l_raise(L, "environment",
                          "migrun's Lua layer (ABI %d) does not match this binary (ABI %d); "
                          "package.path was %s",
                          (int)lua_tointeger(L, -3), MR_CORE_ABI, lua_tostring(L, -1));
    }
    lua_settop(L, 0);

    lua_getglobal(L, "require");
    lua_pushliteral(L, "migrun.cli");
    lua_call(L, 1, 1);           // [cli]
    lua_getfield(L, -1, "main"); // [cli, main]
    lua_createtable(L, argc, 1); // [cli, main, argv]
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i); /* argv[0] is the program, as in `arg` */
    }
    /* Lua has its copies now: blank the passwords in our own argv, so ps and
    ** /proc/PID/cmdline no longer show them (as the mysql client does) */
    for (int i = 1; i < argc; i++)
        mr_url_blank_password(strncmp(argv[i], "--db=", 5) == 0 ? argv[i] + 5 : argv[i]);
    lua_call(L, 1, 1); // [cli, code]
    return 1;
}

static int exit_code_for(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TTABLE)
        return 5;
    lua_getfield(L, idx, "kind");
    const char *kind = lua_tostring(L, -1);
    int code = 5;
    if (kind == NULL)
        code = 5;
    else if (strcmp(kind, "usage") == 0 || strcmp(kind, "playbook") == 0)
        code = 2;
    else if (strcmp(kind, "connection") == 0 || strcmp(kind, "environment") == 0)
        code = 3;
    else if (strcmp(kind, "interrupted") == 0)
        code = 130;
    lua_pop(L, 1);
    return code;
}

/* The heap on transparent huge pages (glibc on Linux). A page fault costs 10 to 40 us on the
** virtual machines migrun runs on, and the heap grows a 4 kB page at a time: a lint of the seed
** playbooks took 680 faults on its heap, about a third of its run. So, before the Lua state
** exists: the heap grows in 32 MB steps of address space from now on (memory still comes only
** as pages are touched); the step taken here is marked MADV_HUGEPAGE, so that where THP is
** "madvise" or "always" a first touch brings in 2 MB; and the step's unaligned head is taken by
** a block that is never touched, so that what comes next starts on a huge page. Without THP,
** or under another allocator (ASan), the heap only grows in bigger steps. */
static void *volatile heap_head; /* volatile: a malloc whose result is never read is dropped */

static void heap_on_huge_pages(void)
{
#if defined(__GLIBC__) && defined(MADV_HUGEPAGE) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
    const uintptr_t huge = (uintptr_t)2 << 20;
    mallopt(M_MMAP_THRESHOLD, 4 << 20); /* fixed from here: glibc stops raising it itself */
    mallopt(M_TOP_PAD, 32 << 20);
    uintptr_t lo = (uintptr_t)sbrk(0);
    size_t top = mallinfo2().keepcost; /* the free space past the heap's last block */
    char *first = malloc(top + 64);    /* more than that: the heap takes a step */
    uintptr_t hi = (uintptr_t)sbrk(0), end = (uintptr_t)first + top + 64;
    uintptr_t from = (end + huge - 1) & ~(huge - 1), to = hi & ~(huge - 1);
    if (first && hi > lo && to > from && madvise((void *)from, to - from, MADV_HUGEPAGE) == 0 &&
        from - end > 64)
        heap_head = malloc(from - end - 64); /* ends at `from`, less a chunk header */
    free(first);
#endif
}

int main(int argc, char **argv)
{
    /* `migrun --version` answers before the VM starts: scripts call it to probe for migrun */
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("migrun %s (%s, libpq %d)\n", MR_VERSION, LUA_RELEASE, PQlibVersion());
        return 0;
    }

    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    heap_on_huge_pages();
    lua_State *L = luaL_newstate();
    if (L == NULL) {
        fprintf(stderr, "migrun: cannot create the Lua state: out of memory\n");
        return 5;
    }
    global_L = L;
    lua_pushcfunction(L, msghandler);
    lua_pushcfunction(L, pmain);
    lua_pushinteger(L, argc);
    lua_pushlightuserdata(L, argv);
    int status = lua_pcall(L, 2, 1, 1);
    int code;
    if (status == LUA_OK) {
        code = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 0;
    } else {
        code = exit_code_for(L, -1);
        int verbose = 0;
        for (int i = 1; i < argc; i++)
            verbose |= strcmp(argv[i], "--verbose") == 0;
        if (verbose && lua_getfield(L, LUA_REGISTRYINDEX, "migrun.traceback") == LUA_TSTRING) {
            fprintf(stderr, "migrun: %s\n", lua_tostring(L, -1));
        } else {
            lua_pop(L, verbose ? 1 : 0);
            fprintf(stderr, "migrun: %s\n", error_text(L, -1));
        }
    }
    global_L = NULL;
    lua_close(L); /* every __gc runs: LSan stays clean */
    return code;
}
