/*
** db.h: libpq mechanism shared by the db binding and the signal handler (pure C, no Lua).
*/
#ifndef MR_DB_H
#define MR_DB_H

#include <libpq-fe.h>

/* One NOTICE/WARNING as the server sent it; strings are owned by the node. */
typedef struct mr_notice {
    struct mr_notice *next;
    char *severity, *sqlstate, *message, *detail, *hint, *context;
} mr_notice;

typedef struct {
    mr_notice *head, *tail;
    int count;              /* queued */
    int dropped;            /* not queued because the queue was full */
} mr_notices;

#define MR_NOTICES_MAX 10000

void mr_notice_collect(void *arg, const PGresult *res);   /* a PQnoticeReceiver */
mr_notice *mr_notices_pop(mr_notices *q);                  /* caller frees with mr_notice_free */
void mr_notice_free(mr_notice *n);
void mr_notices_clear(mr_notices *q);

/* The cancel handle of the query now blocking, or NULL. The SIGINT handler cancels it. */
extern PGcancel *volatile mr_db_active_cancel;
void mr_db_cancel_active(void);                            /* async-signal-safe */

/* For other bindings (l_*.c; defined in l_db.c): the PGconn of the migrun.db at stack index
** idx, raising as the db methods do when it is closed or busy (a rows() loop, a COPY
** callback). *cancel, when cancel is not NULL, gets its cancel handle: set it as
** mr_db_active_cancel around a blocking call so Ctrl-C cancels the query. The connection
** stays owned by the migrun.db. */
struct lua_State;
PGconn *mr_db_checkconn(struct lua_State *L, int idx, PGcancel **cancel);

/* Drain every pending result after an error or an early stop; returns the number drained. */
int mr_db_drain(PGconn *conn);

/* Stream a COPY ... TO STDOUT that has started into fd. Returns 0, or -1 with a message
** in err (errno-style or libpq's). */
int mr_db_copy_out_fd(PGconn *conn, int fd, char *err, size_t errlen);
/* Feed a COPY ... FROM STDIN that has started from fd, then end it. */
int mr_db_copy_in_fd(PGconn *conn, int fd, char *err, size_t errlen);

#endif
