/*
** l_mr.h: helpers shared by the bindings (engine/l_*.c and main.c): the one migrun.error
** shape, and reading option tables. Binding layer: needs lua.h, decides nothing.
*/
#ifndef MR_L_MR_H
#define MR_L_MR_H

#include <lua.h>

/* Push the migrun.error metatable, creating it on first use (migrun.errors fills in its
** __tostring later; every binding raises with this one table). */
void mr_l_error_mt(lua_State *L);

/* Push a new migrun.error {kind = kind, message = msg} with its metatable; the caller may add
** fields before raising it. msg may be NULL (no message field). */
void mr_l_push_error(lua_State *L, const char *kind, const char *msg);

/* Raise a migrun.error of kind; fmt is lua_pushfstring's (%s %d %I %f %p %c %U %%). */
int mr_l_raise(lua_State *L, const char *kind, const char *fmt, ...);

/* opts.env = {K = "V" | false} -> NULL-terminated "K=V" / "K" (remove) array, or NULL when
** absent; the strings and the array stay anchored on the stack. Raises on a bad entry. */
char **mr_l_check_env(lua_State *L, int opts);

/* opts[key] as a string (anchored by the opts table), or NULL when nil; raises otherwise. */
const char *mr_l_opt_string(lua_State *L, int opts, const char *key);

#endif
