/*
** db.h: libpq mechanism shared by the db binding and the signal handler (pure C, no Lua).
*/
#ifndef MR_DB_H
#define MR_DB_H

#include <signal.h>
#include <stdint.h>

#include <libpq-fe.h>

/* One NOTICE/WARNING as the server sent it; strings are owned by the node. */
typedef struct mr_notice {
    struct mr_notice *next;
    char *severity, *sqlstate, *message, *detail, *hint, *context;
} mr_notice;

typedef struct {
    mr_notice *head, *tail;
    int count;   /* queued */
    int dropped; /* not queued because the queue was full */
} mr_notices;

#define MR_NOTICES_MAX 10000

void mr_notice_collect(void *arg, const PGresult *res); /* a PQnoticeReceiver */
mr_notice *mr_notices_pop(mr_notices *q);               /* caller frees with mr_notice_free */
void mr_notice_free(mr_notice *n);
void mr_notices_clear(mr_notices *q);

/* The cancel handle of the query now blocking, or NULL. The SIGINT handler cancels it and
** sets mr_db_cancel_sent, so a wait that wakes up interrupted knows not to send another. */
extern PGcancel *volatile mr_db_active_cancel;
extern volatile sig_atomic_t mr_db_cancel_sent;
void mr_db_cancel_active(void); /* async-signal-safe */

/* One call's conversation with the server. Connections run in libpq's nonblocking mode, and
** every wait is a poll() on the socket that keeps reading while it sends (no deadlock with a
** server busy writing), wakes up on signals (Ctrl-C: the query is cancelled, once) and
** enforces the client-side limit: after timeout_ms of silence from the server the query is
** cancelled, and if no answer comes MR_DB_GRACE_MS later the wait gives up (MR_DB_TIMEOUT:
** the caller closes the connection). PQcancel itself may block while it connects.
** Silence is counted from `since`: the start of each wait, or of the call with keep_since,
** and from the last time the socket woke the wait up. A caller that spreads one query over
** several calls (conn:send, conn:wait) sets keep_since, carries since and cancelled from one
** call to the next, and bounds each call with until. */
typedef struct {
    PGconn *conn;
    PGcancel *cancel;        /* for timeouts and Ctrl-C; may be NULL */
    int64_t timeout_ms;      /* the longest silence allowed; 0: no limit */
    int64_t since;           /* when the current silence began (mr_clock_now) */
    int64_t until;           /* 0, or when (mr_clock_now) a wait gives up with MR_DB_PENDING */
    int keep_since;          /* since is the caller's: a wait does not restart it */
    int polled;              /* the socket was polled in this call (until needs one look) */
    int cancelled;           /* out: the limit ran out and a cancel was sent */
    int interrupt_cancelled; /* a cancel was sent for Ctrl-C (by the wait or the handler) */
    PGcancel *prev_active;   /* mr_db_active_cancel before the call, restored at its end */
} mr_db_call;

/* MR_DB_PENDING: the call's own time (until) ran out first; nothing is wrong, ask again. */
enum {
    MR_DB_READY = 0,
    MR_DB_FAILED = -1,
    MR_DB_BROKEN = -2,
    MR_DB_TIMEOUT = -3,
    MR_DB_PENDING = -4
};
#define MR_DB_GRACE_MS 2000

void mr_db_call_begin(mr_db_call *c, PGconn *conn, PGcancel *cancel, int64_t timeout_ms);
void mr_db_call_end(mr_db_call *c);
/* Wait for the socket (readable, or writable too when want_write), and read what arrived.
** MR_DB_READY once something happened, MR_DB_BROKEN (the connection failed), MR_DB_TIMEOUT,
** or MR_DB_PENDING (until passed; the socket is polled at least once). The functions below
** pass each of these on. */
int mr_db_wait_io(mr_db_call *c, int want_write);
/* Wait until all queued output is sent and a result can be read without blocking.
** MR_DB_READY, MR_DB_TIMEOUT, or MR_DB_BROKEN: the connection failed (when PQstatus is
** CONNECTION_BAD, PQgetResult then answers at once, with libpq's error). */
int mr_db_await(mr_db_call *c);
/* mr_db_await, then PQgetResult into *res (NULL: the end of this query's results). Returns
** MR_DB_READY (also when the connection broke: *res says so), MR_DB_TIMEOUT, MR_DB_PENDING,
** or MR_DB_BROKEN when the connection failed but libpq has not noticed (PQgetResult could
** block: close it). */
int mr_db_next(mr_db_call *c, PGresult **res);
/* Read and drop the rest of a query's results (a COPY still open is ended). MR_DB_READY, or
** what mr_db_next said. */
int mr_db_drain_call(mr_db_call *c);
/* Queue COPY data / the end of a COPY (errmsg: abort it) and wait until libpq has sent it:
** memory stays bounded. MR_DB_READY, MR_DB_FAILED (libpq's message), BROKEN or TIMEOUT. */
int mr_db_put_copy(mr_db_call *c, const char *p, size_t len);
int mr_db_put_copy_end(mr_db_call *c, const char *errmsg);
/* Close a connection that may be stuck: shut the socket down first, so nothing blocks. */
void mr_db_hang_up(PGconn *conn);

/* For other bindings (l_*.c; defined in l_db.c): the PGconn of the migrun.db at stack index
** idx, raising as the db methods do when it is closed or busy (a rows() loop, a COPY
** callback). *cancel, when cancel is not NULL, gets its cancel handle: set it as
** mr_db_active_cancel around a blocking call so Ctrl-C cancels the query. The connection
** stays owned by the migrun.db. */
struct lua_State;
PGconn *mr_db_checkconn(struct lua_State *L, int idx, PGcancel **cancel);

/* Drain every pending result after an error or an early stop, blocking; returns the number
** drained. (For callers without a mr_db_call; mr_db_drain_call waits politely.) */
int mr_db_drain(PGconn *conn);

/* Stream a COPY ... TO STDOUT that has started into fd. Returns MR_DB_READY, MR_DB_FAILED
** with a message in err (errno-style or libpq's), MR_DB_BROKEN or MR_DB_TIMEOUT. */
int mr_db_copy_out_fd(mr_db_call *c, int fd, char *err, size_t errlen);
/* Feed a COPY ... FROM STDIN that has started from fd, then end it. Same returns. */
int mr_db_copy_in_fd(mr_db_call *c, int fd, char *err, size_t errlen);

#endif
