/*
** l_mr.h: helpers shared by the bindings (engine/l_*.c): reading option tables.
*/
#ifndef MR_L_MR_H
#define MR_L_MR_H

#include <lua.h>

/* opts.env = {K = "V" | false} -> NULL-terminated "K=V" / "K" (remove) array, or NULL when
** absent; the strings and the array stay anchored on the stack. Raises on a bad entry. */
char **mr_l_check_env(lua_State *L, int opts);

/* opts[key] as a string (anchored by the opts table), or NULL when nil; raises otherwise. */
const char *mr_l_opt_string(lua_State *L, int opts, const char *key);

#endif
