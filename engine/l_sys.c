/*
** l_sys.c: migrun.core.sys, the few POSIX facts and actions Lua and lfs don't offer:
** who we are, private temp dirs, ownership, a free loopback port, signals, interrupts.
*/
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "mr.h"

static int fail(lua_State *L, const char *what)
{
    int e = errno;
    luaL_pushfail(L);
    lua_pushfstring(L, "%s: %s", what, strerror(e));
    return 2;
}

/* sys.geteuid() -> integer */
static int l_sys_geteuid(lua_State *L)
{
    lua_pushinteger(L, geteuid());
    return 1;
}

/* sys.getpid() -> integer */
static int l_sys_getpid(lua_State *L)
{
    lua_pushinteger(L, getpid());
    return 1;
}

/* sys.hostname() -> string */
static int l_sys_hostname(lua_State *L)
{
    char buf[256];
    if (gethostname(buf, sizeof buf) < 0)
        return fail(L, "gethostname");
    buf[sizeof buf - 1] = '\0';
    lua_pushstring(L, buf);
    return 1;
}

/* sys.username() -> the effective user's name (or its uid as a string) */
static int l_sys_username(lua_State *L)
{
    struct passwd *pw = getpwuid(geteuid());
    if (pw)
        lua_pushstring(L, pw->pw_name);
    else
        lua_pushfstring(L, "%d", (int)geteuid());
    return 1;
}

/* sys.mkdtemp(prefix) -> path of a new 0700 directory | nil, message. The template is a C
** copy: mkdtemp writes into it, and a Lua string must never be modified (short ones are
** interned and shared). */
static int l_sys_mkdtemp(lua_State *L)
{
    size_t len;
    const char *prefix = luaL_checklstring(L, 1, &len);
    char tmpl[PATH_MAX];
    luaL_argcheck(L, len + 7 <= sizeof tmpl, 1, "prefix too long");
    memcpy(tmpl, prefix, len);
    memcpy(tmpl + len, "XXXXXX", 7);
    if (mkdtemp(tmpl) == NULL)
        return fail(L, prefix);
    lua_pushstring(L, tmpl);
    return 1;
}

/* sys.chown(path, user) -> true | nil, message */
static int l_sys_chown(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    const char *user = luaL_checkstring(L, 2);
    struct passwd *pw = getpwnam(user);
    if (pw == NULL) {
        luaL_pushfail(L);
        lua_pushfstring(L, "no such user: %s", user);
        return 2;
    }
    if (chown(path, pw->pw_uid, pw->pw_gid) < 0)
        return fail(L, path);
    lua_pushboolean(L, 1);
    return 1;
}

/* sys.user_exists(name) -> boolean */
static int l_sys_user_exists(lua_State *L)
{
    lua_pushboolean(L, getpwnam(luaL_checkstring(L, 1)) != NULL);
    return 1;
}

/* sys.free_port() -> a TCP port on 127.0.0.1 that was free a moment ago | nil, message */
static int l_sys_free_port(lua_State *L)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return fail(L, "socket");
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(s, (struct sockaddr *)&a, &len) < 0) {
        int e = errno;
        close(s);
        errno = e;
        return fail(L, "bind");
    }
    close(s);
    lua_pushinteger(L, ntohs(a.sin_port));
    return 1;
}

/* sys.kill(pid, sig) -> true | nil, message; sig 0 asks whether pid is alive */
static int l_sys_kill(lua_State *L)
{
    pid_t pid = (pid_t)luaL_checkinteger(L, 1);
    int sig = (int)luaL_optinteger(L, 2, SIGTERM);
    luaL_argcheck(L, pid > 0, 1, "pid must be positive");
    if (kill(pid, sig) < 0)
        return fail(L, "kill");
    lua_pushboolean(L, 1);
    return 1;
}

/* sys.interrupted([clear]) -> boolean: Ctrl-C or SIGTERM arrived (and clear the flag) */
static int l_sys_interrupted(lua_State *L)
{
    lua_pushboolean(L, mr_interrupted != 0);
    if (lua_toboolean(L, 1))
        mr_interrupted = 0;
    return 1;
}

/* sys.cpus() -> integer: the processors online (at least 1) */
static int l_sys_cpus(lua_State *L)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    lua_pushinteger(L, n > 0 ? n : 1);
    return 1;
}

static const luaL_Reg sys_funcs[] = {
    {"geteuid",     l_sys_geteuid    },
    {"getpid",      l_sys_getpid     },
    {"hostname",    l_sys_hostname   },
    {"username",    l_sys_username   },
    {"mkdtemp",     l_sys_mkdtemp    },
    {"chown",       l_sys_chown      },
    {"user_exists", l_sys_user_exists},
    {"free_port",   l_sys_free_port  },
    {"kill",        l_sys_kill       },
    {"interrupted", l_sys_interrupted},
    {"cpus",        l_sys_cpus       },
    {NULL,          NULL             },
};

int luaopen_migrun_core_sys(lua_State *L)
{
    luaL_newlib(L, sys_funcs);
    lua_pushliteral(L, MR_VERSION); /* one version for C and Lua */
    lua_setfield(L, -2, "VERSION");
    return 1;
}
