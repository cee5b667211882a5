/*
** proc.h: run programs from an argv list, never through a shell (pure C, no Lua).
*/
#ifndef MR_PROC_H
#define MR_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum { MR_IO_INHERIT, MR_IO_NULL, MR_IO_FILE, MR_IO_APPEND, MR_IO_CAPTURE, MR_IO_DATA };

typedef struct {
    int mode;
    const char *path; /* MR_IO_FILE / MR_IO_APPEND */
    const char *data; /* MR_IO_DATA (stdin only) */
    size_t len;
} mr_io;

typedef struct {
    char *const *argv;  /* argv[0] is looked up in PATH */
    char *const *env;   /* extra "K=V" entries ("K" alone removes K); may be NULL */
    const char *cwd;    /* NULL: inherit */
    const char *user;   /* NULL: as is; else setuid to this user (needs root) */
    int new_session;    /* setsid(): not in the terminal's process group at all */
    int die_signal;     /* 0, or the signal the child gets when the process that
                        ** started it dies (PR_SET_PDEATHSIG, set after the user
                        ** switch: a setuid/setgid exec'd program clears it) */
    mr_io io[3];        /* stdin, stdout, stderr */
    int64_t timeout_ms; /* 0: none; then SIGTERM, and SIGKILL 2 s later */
} mr_proc_opts;

typedef struct {
    char *data;
    size_t len, cap;
} mr_buf;

typedef struct {
    int exited; /* 1: exit status valid; 0: killed by signal */
    int status; /* exit status */
    int signal; /* terminating signal */
    int timed_out;
    int interrupted; /* stopped because mr_interrupted was set */
    mr_buf out, err; /* captured output (MR_IO_CAPTURE), malloc'd */
} mr_proc_result;

/* Start a child. Returns its pid (in its own process group), or -1 with a message in err.
** Capture and data pipes are returned in fds[0..2] (-1 where not piped). */
pid_t mr_proc_start(const mr_proc_opts *o, int fds[3], char *err, size_t errlen);

/* Start, feed stdin, collect output, wait (with timeout and interrupt). 0, or -1 + err. */
int mr_proc_run(const mr_proc_opts *o, mr_proc_result *res, char *err, size_t errlen);

/* Wait for a started child up to timeout_ms (<0: forever). 1 exited, 0 still running. */
int mr_proc_wait(pid_t pid, int64_t timeout_ms, mr_proc_result *res);

void mr_buf_free(mr_buf *b);

#endif
