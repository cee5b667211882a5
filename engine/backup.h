/*
** backup.h: the streaming machinery of migrun's backups (pure C over POSIX and libpq, no Lua).
** A tee copies one byte stream (a program's stdout, or a file) to a new file, to sha256 and to
** a second program's stdin at once, so a dump is hashed and verified while it is written.
** COPY ... TO STDOUT goes to a file with its sha256 taken as it streams. Which programs run,
** and what a failure means, is decided by lua/migrun/backup.lua.
*/
#ifndef MR_BACKUP_H
#define MR_BACKUP_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

/* A progress line (bytes, rate, elapsed) rewritten in place on fd, at most 5 times a second. */
typedef struct {
    int fd; /* -1: quiet */
    const char *label;
    uint64_t total; /* bytes expected, 0 when unknown (no percentage) */
    int64_t start_ns, last_ns;
    int shown; /* a line is on screen: cleared at the end */
} mr_progress;

void mr_progress_start(mr_progress *p, int fd, const char *label, uint64_t total);
void mr_progress_update(mr_progress *p, uint64_t bytes); /* rate-limited */
void mr_progress_end(mr_progress *p);                    /* clears the line */

typedef struct {
    char *const *src_argv;  /* the stream: a program's stdout ... */
    const char *src_path;   /* ... or a file; exactly one of the two */
    char *const *sink_argv; /* NULL, or a program reading the stream on its stdin */
    char *const *env;       /* extra "K=V" entries for both programs; may be NULL */
    const char *out_path;   /* NULL, or a new file (O_EXCL, 0600) receiving the stream */
    int fsync_out;          /* fsync out_path before reporting success */
    mr_progress *progress;  /* NULL: quiet */
} mr_tee_opts;

typedef struct {
    int started; /* the program ran (status fields are valid) */
    int exited;  /* 1: ended by exit(); 0: by a signal */
    int status;  /* exit status, or 128 + signal */
    int signal;
    char *err; /* its stderr (the first MR_TEE_ERR_MAX bytes), malloc'd */
    size_t errlen;
    int err_truncated;
} mr_tee_child;

#define MR_TEE_ERR_MAX (64 * 1024)

typedef struct {
    uint64_t bytes;  /* bytes that went through the tee */
    char sha256[65]; /* of those bytes (valid when no local error) */
    mr_tee_child src, sink;
    int sink_closed_early; /* the sink stopped reading before the end (EPIPE) */
    int interrupted;       /* mr_interrupted was set: both programs were stopped */
    int local_errno;       /* a failure of our own (open, read, write, fsync, start) */
    char local_error[512]; /* ... described; "" when none */
} mr_tee_result;

/* Run the tee to the end. Returns 0 when everything succeeded: no local error, no interrupt,
** both programs exited 0 and out_path is complete (and fsync'd if asked). Otherwise -1, and
** out_path has been removed if this call created it. Every fd is closed and every child is
** reaped on return. Call mr_tee_result_free afterwards in both cases. Needs SIGPIPE ignored. */
int mr_backup_tee(const mr_tee_opts *o, mr_tee_result *r);
void mr_tee_result_free(mr_tee_result *r);

enum { MR_COPY_OK, MR_COPY_SQL, MR_COPY_CONN, MR_COPY_IO, MR_COPY_USAGE };

typedef struct {
    int kind; /* MR_COPY_*: what went wrong */
    int64_t rows;
    uint64_t bytes;
    char sha256[65];
    char sqlstate[6], severity[16]; /* MR_COPY_SQL: the server's error fields */
    char message[1024], detail[512], hint[512];
} mr_copy_result;

/* Run sql (a COPY ... TO STDOUT) on an idle conn and stream it into path, a new file (O_EXCL,
** 0600), through a 1 MiB buffer, hashing as it goes. 0, or -1 with r->kind and the message;
** the file is removed on failure. The copy is cancellable through mr_db_active_cancel. */
int mr_backup_copy_out(PGconn *conn, const char *sql, const char *path, int fsync_out,
                       mr_progress *progress, mr_copy_result *r);

/* Rename tmp to final without ever replacing an existing final, then fsync final's directory.
** Works for files and directories. 0, or -1 + errno with a message in err. */
int mr_backup_publish(const char *tmp, const char *final, char *err, size_t errlen);

/* Write data into path, a new file (O_EXCL, 0600), and fsync it. 0, or -1 + message. */
int mr_backup_write_new(const char *path, const char *data, size_t len, char *err, size_t errlen);

#endif
