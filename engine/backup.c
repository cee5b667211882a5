/*
** backup.c: the streaming machinery of backups (pure C over POSIX and libpq, no Lua): the
** dump tee (source -> file + sha256 + verifier, one pass, poll()), COPY TO a file with the
** hash taken as it streams, and publishing a finished file under its final name.
** It may call proc.c (spawning), hash.c (sha256) and db.c (cancel, drain); nothing above.
*/
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup.h"
#include "db.h"
#include "mr.h"
#include "proc.h"

#define TEE_RING  (4u << 20) /* bytes read ahead of a slow verifier */
#define PIPE_SIZE (1 << 20)  /* fewer wake-ups than the default 64 KiB */
#define COPY_BUF  (1u << 20)

/* ---- progress ------------------------------------------------------------------------- */

static void human(char *buf, size_t len, double bytes)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    size_t u = 0;
    while (bytes >= 1024 && u + 1 < MR_COUNT(units)) {
        bytes /= 1024;
        u++;
    }
    snprintf(buf, len, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
}

void mr_progress_start(mr_progress *p, int fd, const char *label, uint64_t total)
{
    *p = (mr_progress){.fd = fd, .label = label ? label : "", .total = total};
    p->start_ns = p->last_ns = mr_clock_now();
}

static void progress_show(mr_progress *p, uint64_t bytes, int64_t now)
{
    double secs = (double)(now - p->start_ns) / 1e9;
    char done[32], rate[32], pct[16] = "";
    human(done, sizeof done, (double)bytes);
    human(rate, sizeof rate, secs > 0 ? (double)bytes / secs : 0);
    if (p->total > 0)
        snprintf(pct, sizeof pct, "  %3d%%", (int)(bytes * 100 / p->total));
    char line[256];
    int n = snprintf(line, sizeof line, "\r\033[K%s  %s  %s/s  %d:%02d%s", p->label, done, rate,
                     (int)secs / 60, (int)secs % 60, pct);
    if (n > 0 && write(p->fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1) > 0)
        p->shown = 1;
}

void mr_progress_update(mr_progress *p, uint64_t bytes)
{
    if (p == NULL || p->fd < 0)
        return;
    int64_t now = mr_clock_now();
    if (now - p->last_ns < 200000000)
        return;
    p->last_ns = now;
    progress_show(p, bytes, now);
}

void mr_progress_end(mr_progress *p)
{
    if (p == NULL || p->fd < 0 || !p->shown)
        return;
    static const char clear[] = "\r\033[K";
    ssize_t ignored = write(p->fd, clear, sizeof clear - 1); /* a progress line: best effort */
    (void)ignored;
    p->shown = 0;
}

/* ---- small helpers -------------------------------------------------------------------- */

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

static void set_local(mr_tee_result *r, int e, const char *what, const char *path)
{
    if (r->local_error[0])
        return; /* keep the first cause */
    r->local_errno = e;
    snprintf(r->local_error, sizeof r->local_error, "%s%s%s: %s", what, path ? " " : "",
             path ? path : "", strerror(e));
}

static void child_err_add(mr_tee_child *c, const char *s, size_t n)
{
    if (c->errlen + n > MR_TEE_ERR_MAX) {
        c->err_truncated = 1;
        n = MR_TEE_ERR_MAX - c->errlen;
    }
    if (n == 0)
        return;
    if (c->err == NULL) {
        c->err = malloc(MR_TEE_ERR_MAX + 1);
        if (c->err == NULL) {
            c->err_truncated = 1;
            return;
        }
    }
    memcpy(c->err + c->errlen, s, n);
    c->errlen += n;
    c->err[c->errlen] = '\0';
}

/* Read what a child wrote on stderr; closes fd at EOF. */
static void drain_err(int *fd, mr_tee_child *c)
{
    char buf[4096];
    ssize_t n = read(*fd, buf, sizeof buf);
    if (n > 0)
        child_err_add(c, buf, (size_t)n);
    else if (n == 0 || (errno != EINTR && errno != EAGAIN))
        close_fd(fd);
}

/* After the child is reaped: take what is left without waiting (a grandchild could hold the
** pipe open), then close it. */
static void drain_err_final(int *fd, mr_tee_child *c)
{
    char buf[4096];
    ssize_t n;
    while (*fd >= 0 && ((n = read(*fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)))
        if (n > 0)
            child_err_add(c, buf, (size_t)n);
    close_fd(fd);
}

static void set_status(mr_tee_child *c, const mr_proc_result *pr)
{
    c->exited = pr->exited;
    c->status = pr->status;
    c->signal = pr->signal;
}

/* Stop a child's process group: politely, then firmly. Reaps it. */
static void stop_child(pid_t pid, mr_tee_child *c)
{
    mr_proc_result pr = {0};
    kill(-pid, SIGTERM);
    if (!mr_proc_wait(pid, 2000, &pr)) {
        kill(-pid, SIGKILL);
        if (!mr_proc_wait(pid, 5000, &pr))
            return; /* unkillable: nothing more we can do */
    }
    set_status(c, &pr);
}

/* Wait for a child that should be ending; an interrupt stops it. Reaps it. */
static void reap_child(pid_t pid, mr_tee_child *c, int *interrupted)
{
    mr_proc_result pr = {0};
    for (;;) {
        if (mr_proc_wait(pid, 100, &pr)) {
            set_status(c, &pr);
            return;
        }
        if (mr_interrupted) {
            *interrupted = 1;
            stop_child(pid, c);
            return;
        }
    }
}

static void nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Start a program: stdin from a pipe (in != NULL) or /dev/null, stdout to a pipe (out != NULL)
** or /dev/null, stderr to a pipe. Returns the pid or -1 (message in r). */
static pid_t start_child(mr_tee_result *r, char *const *argv, char *const *env, int *in, int *out,
                         int *err)
{
    mr_proc_opts po = {.argv = argv, .env = env};
    po.io[0].mode = in ? MR_IO_DATA : MR_IO_NULL;
    po.io[1].mode = out ? MR_IO_CAPTURE : MR_IO_NULL;
    po.io[2].mode = MR_IO_CAPTURE;
    int fds[3];
    char msg[400];
    errno = 0;
    pid_t pid = mr_proc_start(&po, fds, msg, sizeof msg);
    if (pid < 0) {
        if (!r->local_error[0]) {
            r->local_errno = errno ? errno : ENOEXEC;
            snprintf(r->local_error, sizeof r->local_error, "%s", msg);
        }
        return -1;
    }
    if (in)
        *in = fds[0];
    if (out)
        *out = fds[1];
    *err = fds[2];
    for (int i = 0; i < 3; i++)
        if (fds[i] >= 0) {
            nonblock(fds[i]);
            if (i < 2)
                fcntl(fds[i], F_SETPIPE_SZ, PIPE_SIZE); /* best effort */
        }
    return pid;
}

/* ---- the tee -------------------------------------------------------------------------- */

void mr_tee_result_free(mr_tee_result *r)
{
    free(r->src.err);
    free(r->sink.err);
    r->src.err = r->sink.err = NULL;
    r->src.errlen = r->sink.errlen = 0;
}

int mr_backup_tee(const mr_tee_opts *o, mr_tee_result *r)
{
    *r = (mr_tee_result){0};
    int src_fd = -1, sink_fd = -1, out_fd = -1, src_err = -1, sink_err = -1;
    pid_t src_pid = -1, sink_pid = -1;
    int created = 0, src_eof = 0;
    int src_is_file = o->src_argv == NULL;
    char *ring = NULL;
    size_t head = 0, len = 0;
    mr_sha256 *h = mr_sha256_new();

    ring = malloc(TEE_RING);
    if (h == NULL || ring == NULL) {
        set_local(r, ENOMEM, "tee", NULL);
        goto finish;
    }
    if (src_is_file) {
        src_fd = open(o->src_path, O_RDONLY | O_CLOEXEC);
        if (src_fd < 0) {
            set_local(r, errno, "open", o->src_path);
            goto finish;
        }
    }
    if (o->out_path) {
        out_fd = open(o->out_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (out_fd < 0) {
            set_local(r, errno, "create", o->out_path);
            goto finish;
        }
        created = 1;
    }
    /* the verifier first, so it is reading when the first bytes come; every parent-side pipe
    ** end is close-on-exec, so neither program holds the other's pipes open */
    if (o->sink_argv) {
        sink_pid = start_child(r, o->sink_argv, o->env, &sink_fd, NULL, &sink_err);
        if (sink_pid < 0)
            goto finish;
        r->sink.started = 1;
    }
    if (!src_is_file) {
        src_pid = start_child(r, o->src_argv, o->env, NULL, &src_fd, &src_err);
        if (src_pid < 0)
            goto finish;
        r->src.started = 1;
    }

    for (;;) {
        if (mr_interrupted) {
            r->interrupted = 1;
            break;
        }
        if (src_eof && len == 0)
            close_fd(&sink_fd); /* EOF for the verifier */
        if (src_eof && sink_fd < 0 && src_err < 0 && sink_err < 0)
            break;
        int want_read = !src_eof && len < TEE_RING;
        struct pollfd p[4];
        int np = 0, i_src = -1, i_sink = -1, i_e1 = -1, i_e2 = -1;
        if (want_read && !src_is_file)
            p[i_src = np++] = (struct pollfd){.fd = src_fd, .events = POLLIN};
        if (sink_fd >= 0 && len > 0)
            p[i_sink = np++] = (struct pollfd){.fd = sink_fd, .events = POLLOUT};
        if (src_err >= 0)
            p[i_e1 = np++] = (struct pollfd){.fd = src_err, .events = POLLIN};
        if (sink_err >= 0)
            p[i_e2 = np++] = (struct pollfd){.fd = sink_err, .events = POLLIN};
        /* a file is always readable: don't wait when there is room for it */
        int timeout = want_read && src_is_file ? 0 : 200;
        if (np > 0 && poll(p, (nfds_t)np, timeout) < 0) {
            if (errno == EINTR)
                continue;
            set_local(r, errno, "poll", NULL);
            break;
        }
        if (i_e1 >= 0 && p[i_e1].revents)
            drain_err(&src_err, &r->src);
        if (i_e2 >= 0 && p[i_e2].revents)
            drain_err(&sink_err, &r->sink);
        if (i_sink >= 0 && p[i_sink].revents) {
            size_t chunk = head + len <= TEE_RING ? len : TEE_RING - head;
            ssize_t w = write(sink_fd, ring + head, chunk);
            if (w > 0) {
                head = (head + (size_t)w) % TEE_RING;
                len -= (size_t)w;
                if (len == 0)
                    head = 0;
            } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
                r->sink_closed_early = 1; /* EPIPE: it stopped reading; its status tells */
                close_fd(&sink_fd);
                head = len = 0;
            }
        }
        if (want_read && (src_is_file || (i_src >= 0 && p[i_src].revents))) {
            size_t tail = head + len, room;
            if (tail >= TEE_RING) {
                tail -= TEE_RING;
                room = head - tail;
            } else {
                room = TEE_RING - tail;
            }
            ssize_t got = read(src_fd, ring + tail, room);
            if (got > 0) {
                if (out_fd >= 0 && write_all(out_fd, ring + tail, (size_t)got) < 0) {
                    set_local(r, errno, "write", o->out_path);
                    break;
                }
                mr_sha256_update(h, ring + tail, (size_t)got);
                r->bytes += (uint64_t)got;
                if (sink_fd >= 0)
                    len += (size_t)got; /* else the bytes are done with */
                mr_progress_update(o->progress, r->bytes);
            } else if (got == 0) {
                src_eof = 1;
                close_fd(&src_fd);
            } else if (errno != EAGAIN && errno != EINTR) {
                set_local(r, errno, "read", src_is_file ? o->src_path : "from the dump program");
                break;
            }
        }
    }

finish:
    if (r->local_error[0] || r->interrupted) {
        /* stop both at once, so neither waits on the other's pipe */
        if (src_pid > 0)
            kill(-src_pid, SIGTERM);
        if (sink_pid > 0)
            kill(-sink_pid, SIGTERM);
        if (src_pid > 0)
            stop_child(src_pid, &r->src);
        if (sink_pid > 0)
            stop_child(sink_pid, &r->sink);
        src_pid = sink_pid = -1;
    }
    close_fd(&src_fd);
    close_fd(&sink_fd);
    if (src_pid > 0)
        reap_child(src_pid, &r->src, &r->interrupted);
    if (sink_pid > 0)
        reap_child(sink_pid, &r->sink, &r->interrupted);
    /* stderr of a reaped child: whatever is still in the pipe */
    drain_err_final(&src_err, &r->src);
    drain_err_final(&sink_err, &r->sink);
    mr_progress_end(o->progress);
    if (h && !r->local_error[0] && mr_sha256_final_hex(h, r->sha256) < 0)
        set_local(r, EIO, "sha256", NULL);
    mr_sha256_free(h);
    free(ring);
    if (out_fd >= 0) {
        if (!r->local_error[0] && o->fsync_out && fsync(out_fd) < 0)
            set_local(r, errno, "fsync", o->out_path);
        if (close(out_fd) < 0)
            set_local(r, errno, "close", o->out_path);
    }
    int ok = !r->local_error[0] && !r->interrupted &&
             (!r->src.started || (r->src.exited && r->src.status == 0)) &&
             (!r->sink.started || (r->sink.exited && r->sink.status == 0));
    if (!ok && created)
        unlink(o->out_path);
    return ok ? 0 : -1;
}

/* ---- COPY TO a file ------------------------------------------------------------------- */

static void copy_error(mr_copy_result *r, int kind, const char *fmt, const char *a, const char *b)
{
    if (r->kind != MR_COPY_OK)
        return; /* keep the first cause */
    r->kind = kind;
    snprintf(r->message, sizeof r->message, fmt, a ? a : "", b ? b : "");
    size_t n = strlen(r->message);
    while (n > 0 && (r->message[n - 1] == '\n' || r->message[n - 1] == ' '))
        r->message[--n] = '\0'; /* libpq ends messages with a newline */
}

static void field(char *dst, size_t len, const PGresult *res, int code)
{
    const char *v = PQresultErrorField(res, code);
    snprintf(dst, len, "%s", v ? v : "");
}

static void result_error(mr_copy_result *r, PGconn *conn, const PGresult *res)
{
    if (res == NULL || PQresultErrorField(res, PG_DIAG_SQLSTATE) == NULL) {
        copy_error(r, MR_COPY_CONN, "%s%s", res ? PQresultErrorMessage(res) : PQerrorMessage(conn),
                   NULL);
        return;
    }
    if (r->kind != MR_COPY_OK)
        return;
    r->kind = MR_COPY_SQL;
    field(r->sqlstate, sizeof r->sqlstate, res, PG_DIAG_SQLSTATE);
    field(r->severity, sizeof r->severity, res, PG_DIAG_SEVERITY_NONLOCALIZED);
    field(r->message, sizeof r->message, res, PG_DIAG_MESSAGE_PRIMARY);
    field(r->detail, sizeof r->detail, res, PG_DIAG_MESSAGE_DETAIL);
    field(r->hint, sizeof r->hint, res, PG_DIAG_MESSAGE_HINT);
}

static void request_cancel(PGcancel *c)
{
    char e[256];
    if (c)
        PQcancel(c, e, sizeof e);
}

int mr_backup_copy_out(PGconn *conn, const char *sql, const char *path, int fsync_out,
                       mr_progress *progress, mr_copy_result *r)
{
    *r = (mr_copy_result){.rows = -1};
    int fd = -1, created = 0, failed = 0;
    char *buf = NULL;
    size_t used = 0;
    mr_sha256 *h = NULL;
    PGcancel *cancel = PQgetCancel(conn);
    mr_db_active_cancel = cancel;

    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COPY_OUT) {
        if (st == PGRES_COPY_IN || st == PGRES_COPY_BOTH) {
            PQputCopyEnd(conn, "migrun expected COPY ... TO STDOUT");
            copy_error(r, MR_COPY_USAGE, "expected COPY ... TO STDOUT%s%s", NULL, NULL);
        } else if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
            copy_error(r, MR_COPY_USAGE, "not a COPY statement%s%s", NULL, NULL);
        } else {
            result_error(r, conn, res);
        }
        PQclear(res);
        mr_db_drain(conn);
        goto done;
    }
    PQclear(res);

    h = mr_sha256_new();
    buf = malloc(COPY_BUF);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0)
        created = 1;
    if (h == NULL || buf == NULL || fd < 0) {
        copy_error(r, MR_COPY_IO, "%s: %s", path, strerror(fd < 0 ? errno : ENOMEM));
        failed = 1;
        request_cancel(cancel);
    }
    char *row;
    int n;
    while ((n = PQgetCopyData(conn, &row, 0)) > 0) {
        if (!failed) {
            if (used + (size_t)n > COPY_BUF) {
                if (write_all(fd, buf, used) < 0) {
                    copy_error(r, MR_COPY_IO, "%s: %s", path, strerror(errno));
                    failed = 1;
                    request_cancel(cancel); /* stop the server sending the rest */
                }
                mr_sha256_update(h, buf, used);
                r->bytes += used;
                used = 0;
                mr_progress_update(progress, r->bytes);
            }
            if (!failed && (size_t)n > COPY_BUF) { /* a row larger than the buffer */
                if (write_all(fd, row, (size_t)n) < 0) {
                    copy_error(r, MR_COPY_IO, "%s: %s", path, strerror(errno));
                    failed = 1;
                    request_cancel(cancel);
                }
                mr_sha256_update(h, row, (size_t)n);
                r->bytes += (uint64_t)n;
            } else if (!failed) {
                memcpy(buf + used, row, (size_t)n);
                used += (size_t)n;
            }
        }
        PQfreemem(row);
    }
    if (n == -2)
        copy_error(r, MR_COPY_CONN, "%s%s", PQerrorMessage(conn), NULL);
    if (!failed && used > 0) {
        if (write_all(fd, buf, used) < 0) {
            copy_error(r, MR_COPY_IO, "%s: %s", path, strerror(errno));
            failed = 1;
        }
        mr_sha256_update(h, buf, used);
        r->bytes += used;
    }
    res = PQgetResult(conn);
    if (PQresultStatus(res) == PGRES_COMMAND_OK) {
        const char *t = PQcmdTuples(res);
        r->rows = t[0] ? strtoll(t, NULL, 10) : 0;
    } else {
        result_error(r, conn, res); /* after an io error, the cancel: ignored */
    }
    PQclear(res);
    mr_db_drain(conn);
    if (r->kind == MR_COPY_OK && fsync_out && fsync(fd) < 0)
        copy_error(r, MR_COPY_IO, "%s: fsync: %s", path, strerror(errno));
    if (fd >= 0 && close(fd) < 0)
        copy_error(r, MR_COPY_IO, "%s: close: %s", path, strerror(errno));
    fd = -1;
    if (r->kind == MR_COPY_OK && mr_sha256_final_hex(h, r->sha256) < 0)
        copy_error(r, MR_COPY_IO, "%s: sha256 failed%s", path, NULL);
    mr_progress_end(progress);

done:
    mr_db_active_cancel = NULL;
    PQfreeCancel(cancel);
    if (fd >= 0)
        close(fd);
    free(buf);
    mr_sha256_free(h);
    if (r->kind != MR_COPY_OK && created)
        unlink(path);
    return r->kind == MR_COPY_OK ? 0 : -1;
}

/* ---- publishing ----------------------------------------------------------------------- */

static int fsync_parent(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

int mr_backup_publish(const char *tmp, const char *final, char *err, size_t errlen)
{
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_NOREPLACE) < 0) {
        if (errno != EINVAL && errno != ENOSYS) {
            snprintf(err, errlen, "%s: %s", final, strerror(errno));
            return -1;
        }
        /* a filesystem without RENAME_NOREPLACE: check, then rename (a narrow race) */
        struct stat st;
        if (lstat(final, &st) == 0) {
            errno = EEXIST;
            snprintf(err, errlen, "%s: %s", final, strerror(errno));
            return -1;
        }
        if (rename(tmp, final) < 0) {
            snprintf(err, errlen, "%s: %s", final, strerror(errno));
            return -1;
        }
    }
    if (fsync_parent(final) < 0) {
        snprintf(err, errlen, "%s: fsync of its directory: %s", final, strerror(errno));
        return -1;
    }
    return 0;
}

int mr_backup_write_new(const char *path, const char *data, size_t len, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    int rc = write_all(fd, data, len) < 0 || fsync(fd) < 0 ? -1 : 0;
    int e = errno;
    if (close(fd) < 0 && rc == 0) {
        rc = -1;
        e = errno;
    }
    if (rc < 0) {
        unlink(path);
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        errno = e;
    }
    return rc;
}
