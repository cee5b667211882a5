/*
** db.c: libpq mechanism that has no Lua in it: the notice queue, the cancel handle the
** signal handler uses, and file <-> COPY streaming (bulk data never passes through Lua).
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "mr.h"

PGcancel *volatile mr_db_active_cancel = NULL;

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
    if (c != NULL)
        PQcancel(c, buf, sizeof buf);   /* documented as safe in a signal handler */
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

int mr_db_copy_out_fd(PGconn *conn, int fd, char *err, size_t errlen)
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
    while ((len = PQgetCopyData(conn, &buf, 0)) > 0) {
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
            if (rc < 0) {
                mr_db_active_cancel = NULL;
                PGcancel *c = PQgetCancel(conn);   /* stop the server sending the rest */
                if (c) {
                    char e[256];
                    PQcancel(c, e, sizeof e);
                    PQfreeCancel(c);
                }
            }
        }
        PQfreemem(buf);
    }
    if (rc == 0)
        rc = flush_out(fd, out, &used, err, errlen);
    free(out);
    if (len == -2 && rc == 0) {
        snprintf(err, errlen, "%s", PQerrorMessage(conn));
        rc = -1;
    }
    return rc;
}

int mr_db_copy_in_fd(PGconn *conn, int fd, char *err, size_t errlen)
{
    static char buf[1 << 16];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR && !mr_interrupted)
                continue;
            snprintf(err, errlen, "read failed: %s", strerror(errno));
            PQputCopyEnd(conn, "read failed in migrun");
            return -1;
        }
        if (mr_interrupted) {
            snprintf(err, errlen, "interrupted");
            PQputCopyEnd(conn, "interrupted");
            return -1;
        }
        if (n == 0)
            break;
        if (PQputCopyData(conn, buf, (int)n) != 1) {
            snprintf(err, errlen, "%s", PQerrorMessage(conn));
            return -1;
        }
    }
    if (PQputCopyEnd(conn, NULL) != 1) {
        snprintf(err, errlen, "%s", PQerrorMessage(conn));
        return -1;
    }
    return 0;
}
