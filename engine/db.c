/*
** db.c: libpq mechanism that has no Lua in it: the notice queue, the cancel handle the
** signal handler uses, waiting for the server (poll, Ctrl-C, the client-side limit), and
** file <-> COPY streaming (bulk data never passes through Lua).
*/
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "db.h"
#include "mr.h"

PGcancel *volatile mr_db_active_cancel = NULL;
volatile sig_atomic_t mr_db_cancel_sent = 0;

static char *dup_field(const PGresult *res, int code)
{
    const char *v = PQresultErrorField(res, code);
    return v ? strdup(v) : NULL;
}

/* Called by libpq inside its own stack: no Lua here, only a bounded append (R7). */
void mr_notice_collect(void *arg, const PGresult *res)
{
    mr_notices *q = arg;
    if (q->count >= MR_NOTICES_MAX) {
        q->dropped++;
        return;
    }
    mr_notice *n = calloc(1, sizeof *n);
    if (n == NULL) {
        q->dropped++;
        return;
    }
    n->severity = dup_field(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    n->sqlstate = dup_field(res, PG_DIAG_SQLSTATE);
    n->message = dup_field(res, PG_DIAG_MESSAGE_PRIMARY);
    n->detail = dup_field(res, PG_DIAG_MESSAGE_DETAIL);
    n->hint = dup_field(res, PG_DIAG_MESSAGE_HINT);
    n->context = dup_field(res, PG_DIAG_CONTEXT);
    if (q->tail)
        q->tail->next = n;
    else
        q->head = n;
    q->tail = n;
    q->count++;
}

mr_notice *mr_notices_pop(mr_notices *q)
{
    mr_notice *n = q->head;
    if (n == NULL)
        return NULL;
    q->head = n->next;
    if (q->head == NULL)
        q->tail = NULL;
    q->count--;
    n->next = NULL;
    return n;
}

void mr_notice_free(mr_notice *n)
{
    if (n == NULL)
        return;
    free(n->severity);
    free(n->sqlstate);
    free(n->message);
    free(n->detail);
    free(n->hint);
    free(n->context);
    free(n);
}

void mr_notices_clear(mr_notices *q)
{
    mr_notice *n;
    while ((n = mr_notices_pop(q)) != NULL)
        mr_notice_free(n);
    q->dropped = 0;
}

void mr_db_cancel_active(void)
{
    PGcancel *c = mr_db_active_cancel;
    char buf[256];
    if (c != NULL) {
        PQcancel(c, buf, sizeof buf); /* documented as safe in a signal handler */
        mr_db_cancel_sent = 1;
    }
}

static void send_cancel(PGcancel *cancel)
{
    char err[256];
    if (cancel != NULL)
        PQcancel(cancel, err, sizeof err);
}

void mr_db_call_begin(mr_db_call *c, PGconn *conn, PGcancel *cancel, int64_t timeout_ms)
{
    *c = (mr_db_call){.conn = conn, .cancel = cancel, .timeout_ms = timeout_ms};
    c->since = mr_clock_now();
    c->prev_active = mr_db_active_cancel;
    if (cancel != NULL) {
        mr_db_cancel_sent = 0;
        mr_db_active_cancel = cancel;
    }
}

void mr_db_call_end(mr_db_call *c)
{
    mr_db_active_cancel = c->prev_active;
}

/* Poll slices stay short: a signal that lands between the mr_interrupted test and poll()
** would otherwise go unnoticed for a whole slice (the handler has cancelled the query by
** then; this only matters when it could not). */
#define SLICE_MS 200

int mr_db_wait_io(mr_db_call *c, int want_write)
{
    if (!c->cancelled && !c->keep_since)
        c->since = mr_clock_now(); /* silence is counted while we wait */
    for (;;) {
        if (mr_interrupted && !c->interrupt_cancelled) {
            c->interrupt_cancelled = 1;
            if (!mr_db_cancel_sent) /* the handler could not: no cancel was active */
                send_cancel(c->cancel);
        }
        int64_t now = mr_clock_now();
        int slice = SLICE_MS, overdue = 0;
        if (c->timeout_ms > 0) {
            int64_t limit = c->cancelled ? MR_DB_GRACE_MS : c->timeout_ms;
            int64_t left = (c->since - now) / 1000000 + limit;
            if (left <= 0)
                overdue = 1, slice = 0; /* one last look: the answer may be in the socket */
            else if (left < slice)
                slice = (int)left;
        }
        if (c->until != 0) {
            /* out of time once the socket had a look (a server sending without a pause must
            ** not hold the call); the limit's own deadline goes first */
            if (c->polled && now >= c->until && !overdue)
                return MR_DB_PENDING;
            int64_t left = (c->until - now + 999999) / 1000000; /* rounded up: no spinning */
            if (left < slice)
                slice = left > 0 ? (int)left : 0;
        }
        int fd = PQsocket(c->conn);
        if (fd < 0)
            return MR_DB_BROKEN;
        struct pollfd p = {.fd = fd, .events = POLLIN | (want_write ? POLLOUT : 0)};
        int n = poll(&p, 1, slice);
        c->polled = 1;
        if (n < 0 && errno != EINTR)
            return MR_DB_BROKEN;
        if (n > 0) {
            if ((p.revents & (POLLIN | POLLERR | POLLHUP | POLLNVAL)) && !PQconsumeInput(c->conn))
                return MR_DB_BROKEN;
            if (!c->cancelled)
                c->since = mr_clock_now(); /* the server was heard: a new silence begins */
            return MR_DB_READY;
        }
        if (n == 0 && overdue) {
            if (c->cancelled)
                return MR_DB_TIMEOUT;
            c->cancelled = 1; /* ask the server to stop, then give it a grace */
            send_cancel(c->cancel);
            c->since = mr_clock_now();
        }
        /* else a slice passed, or a signal: look again */
    }
}

int mr_db_await(mr_db_call *c)
{
    for (;;) {
        int f = PQflush(c->conn); /* nonblocking: 0 all sent, 1 more to send */
        if (f < 0)
            return MR_DB_BROKEN;
        if (f == 0 && !PQisBusy(c->conn))
            return PQstatus(c->conn) == CONNECTION_BAD ? MR_DB_BROKEN : MR_DB_READY;
        if (PQstatus(c->conn) == CONNECTION_BAD)
            return MR_DB_BROKEN;
        int rc = mr_db_wait_io(c, f == 1);
        if (rc != MR_DB_READY)
            return rc;
    }
}

int mr_db_next(mr_db_call *c, PGresult **res)
{
    *res = NULL;
    int rc = mr_db_await(c);
    if (rc == MR_DB_TIMEOUT || rc == MR_DB_PENDING)
        return rc;
    if (rc == MR_DB_BROKEN && PQstatus(c->conn) != CONNECTION_BAD)
        return rc;
    *res = PQgetResult(c->conn); /* does not block now */
    return MR_DB_READY;
}

/* Wait until libpq has sent everything queued (reading meanwhile). */
static int flush_all(mr_db_call *c)
{
    int f;
    while ((f = PQflush(c->conn)) == 1) {
        int rc = mr_db_wait_io(c, 1);
        if (rc != MR_DB_READY)
            return rc;
    }
    return f < 0 ? MR_DB_BROKEN : MR_DB_READY;
}

int mr_db_put_copy(mr_db_call *c, const char *p, size_t len)
{
    while (len > 0) {
        int n = len > (1u << 30) ? (1 << 30) : (int)len; /* libpq takes an int length */
        int r = PQputCopyData(c->conn, p, n);
        if (r < 0)
            return MR_DB_FAILED;
        if (r == 0) { /* nonblocking and full: let some of it go */
            int rc = mr_db_wait_io(c, 1);
            if (rc != MR_DB_READY)
                return rc;
            continue;
        }
        p += n;
        len -= (size_t)n;
        int rc = flush_all(c);
        if (rc != MR_DB_READY)
            return rc;
    }
    return MR_DB_READY;
}

int mr_db_put_copy_end(mr_db_call *c, const char *errmsg)
{
    for (;;) {
        int r = PQputCopyEnd(c->conn, errmsg);
        if (r < 0)
            return MR_DB_FAILED;
        if (r == 1)
            return flush_all(c);
        int rc = mr_db_wait_io(c, 1);
        if (rc != MR_DB_READY)
            return rc;
    }
}

/* Read and drop what is left of a COPY TO STDOUT. */
static int skip_copy_data(mr_db_call *c)
{
    for (;;) {
        char *buf;
        int len = PQgetCopyData(c->conn, &buf, 1);
        if (len > 0) {
            PQfreemem(buf);
            continue;
        }
        if (len < 0)
            return MR_DB_READY; /* -1 the end, -2 an error: PQgetResult tells */
        int rc = mr_db_wait_io(c, 0);
        if (rc != MR_DB_READY)
            return rc;
    }
}

int mr_db_drain_call(mr_db_call *c)
{
    PGresult *r;
    int rc;
    while ((rc = mr_db_next(c, &r)) == MR_DB_READY && r != NULL) {
        ExecStatusType st = PQresultStatus(r);
        PQclear(r);
        /* a COPY still open must be ended before results can finish (else PQgetResult
        ** hands back the same COPY state forever) */
        if (st == PGRES_COPY_IN || st == PGRES_COPY_BOTH)
            rc = mr_db_put_copy_end(c, "cancelled by migrun");
        if (rc == MR_DB_READY && (st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH))
            rc = skip_copy_data(c);
        if (rc == MR_DB_FAILED)
            rc = MR_DB_READY; /* the connection broke: PQstatus says so */
        if (rc != MR_DB_READY || PQstatus(c->conn) == CONNECTION_BAD)
            break;
    }
    return rc;
}

void mr_db_hang_up(PGconn *conn)
{
    if (conn == NULL)
        return;
    int fd = PQsocket(conn);
    if (fd >= 0)
        shutdown(fd, SHUT_RDWR); /* PQfinish's goodbye can't block on a full socket */
    PQfinish(conn);
}

int mr_db_drain(PGconn *conn)
{
    int n = 0;
    PGresult *r;
    while ((r = PQgetResult(conn)) != NULL) {
        ExecStatusType st = PQresultStatus(r);
        PQclear(r);
        n++;
        /* a COPY still open must be ended before results can finish (else PQgetResult
        ** hands back the same COPY state forever) */
        if (st == PGRES_COPY_IN || st == PGRES_COPY_BOTH)
            PQputCopyEnd(conn, "cancelled by migrun");
        if (st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
            char *buf;
            int len;
            while ((len = PQgetCopyData(conn, &buf, 0)) > 0)
                PQfreemem(buf);
        }
        if (PQstatus(conn) == CONNECTION_BAD)
            break;
    }
    return n;
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0) {
            if (errno == EINTR && !mr_interrupted)
                continue;
            return -1;
        }
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

/* COPY hands over one row at a time: gather rows into one buffer, one write() per 256 KiB */
#define MR_COPY_BUF (256 * 1024)

static int flush_out(int fd, char *out, size_t *used, char *err, size_t errlen)
{
    if (*used == 0)
        return 0;
    int rc = write_all(fd, out, *used);
    if (rc < 0)
        snprintf(err, errlen, "write failed: %s", strerror(errno));
    *used = 0;
    return rc;
}

int mr_db_copy_out_fd(mr_db_call *c, int fd, char *err, size_t errlen)
{
    char *buf;
    int len;
    int rc = 0;
    char *out = malloc(MR_COPY_BUF);
    size_t used = 0;
    if (out == NULL) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    for (;;) {
        len = PQgetCopyData(c->conn, &buf, 1);
        if (len == 0) {
            int w = mr_db_wait_io(c, 0);
            if (w == MR_DB_READY)
                continue;
            free(out);
            return w;
        }
        if (len < 0)
            break;
        if (rc == 0) {
            if (used + (size_t)len > MR_COPY_BUF)
                rc = flush_out(fd, out, &used, err, errlen);
            if (rc == 0 && (size_t)len > MR_COPY_BUF) {
                if (write_all(fd, buf, (size_t)len) < 0) {
                    snprintf(err, errlen, "write failed: %s", strerror(errno));
                    rc = -1;
                }
            } else if (rc == 0) {
                memcpy(out + used, buf, (size_t)len);
                used += (size_t)len;
            }
            if (rc < 0)
                send_cancel(c->cancel); /* stop the server sending the rest */
        }
        PQfreemem(buf);
    }
    if (rc == 0)
        rc = flush_out(fd, out, &used, err, errlen);
    free(out);
    if (len == -2 && rc == 0) {
        snprintf(err, errlen, "%s", PQerrorMessage(c->conn));
        rc = PQstatus(c->conn) == CONNECTION_BAD ? MR_DB_BROKEN : MR_DB_FAILED;
    }
    return rc < 0 ? rc : MR_DB_READY;
}

int mr_db_copy_in_fd(mr_db_call *c, int fd, char *err, size_t errlen)
{
    static char buf[1 << 16];
    int rc;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR && !mr_interrupted)
                continue;
            snprintf(err, errlen, "read failed: %s", strerror(errno));
            rc = mr_db_put_copy_end(c, "read failed in migrun");
            return rc == MR_DB_READY || rc == MR_DB_FAILED ? MR_DB_FAILED : rc;
        }
        if (mr_interrupted) {
            snprintf(err, errlen, "interrupted");
            rc = mr_db_put_copy_end(c, "interrupted");
            return rc == MR_DB_READY || rc == MR_DB_FAILED ? MR_DB_FAILED : rc;
        }
        if (n == 0)
            break;
        rc = mr_db_put_copy(c, buf, (size_t)n);
        if (rc != MR_DB_READY) {
            snprintf(err, errlen, "%s", PQerrorMessage(c->conn));
            return rc;
        }
    }
    rc = mr_db_put_copy_end(c, NULL);
    if (rc != MR_DB_READY)
        snprintf(err, errlen, "%s", PQerrorMessage(c->conn));
    return rc;
}
