/*
** mr.h: shared declarations of migrun's C core (engine/).
** Mechanism only: the area modules (db, clock, proc, hash, term, sys) and their Lua bindings.
** Policy lives in lua/migrun/; nothing here decides what a failure means.
*/
#ifndef MR_H
#define MR_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#define MR_VERSION  "0.1.0"
#define MR_CORE_ABI 1 /* bumped when the C<->Lua contract changes */

#define MR_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Metatable names (luaL_newmetatable also sets __name, so type errors read well). */
#define MR_DB_MT     "migrun.db"
#define MR_STREAM_MT "migrun.stream"
#define MR_ERROR_MT  "migrun.error"
#define MR_PROC_MT   "migrun.proc"
#define MR_HASH_MT   "migrun.hash"

/* Set by the SIGINT/SIGTERM handler; long C loops poll it and give up. */
extern volatile sig_atomic_t mr_interrupted;

/* url.c: copy of a connection URL or conninfo string with any password replaced by "***".
** Returns a malloc'd string (NULL on allocation failure). */
char *mr_url_redact(const char *s);

/* url.c: overwrite in place, with as many 'x', every password in s (a postgres:// URL: the
** user info's and any password= parameter's; a key=value conninfo string: each password
** value, between its quotes when quoted). Returns the number of bytes overwritten (0 when s
** holds no password, and then s is unchanged). For argv: ps must not show passwords. */
size_t mr_url_blank_password(char *s);

/* clock.c */
int64_t mr_clock_now(void);         /* monotonic, nanoseconds */
void mr_clock_sleep_ms(int64_t ms); /* returns early when mr_interrupted is set */

/* hash.c: sha256 */
typedef struct mr_sha256 mr_sha256;
mr_sha256 *mr_sha256_new(void);
int mr_sha256_update(mr_sha256 *h, const void *data, size_t len);
int mr_sha256_final_hex(mr_sha256 *h, char out[65]); /* h can't be updated afterwards */
void mr_sha256_free(mr_sha256 *h);
int mr_sha256_file_hex(const char *path, char out[65]); /* -1 and errno on failure */

#endif
