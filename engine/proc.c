/*
** proc.c: fork/exec without a shell, stdio redirection, privilege drop, capture with poll(),
** timeouts and interrupts (pure C, no Lua). The child runs in its own process group so a
** timeout or Ctrl-C can stop it and everything it started.
*/
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mr.h"
#include "proc.h"

extern char **environ;

void mr_buf_free(mr_buf *b)
{
    free(b->data);
    *b = (mr_buf){0};
}

static int buf_add(mr_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (p == NULL)
            return -1;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

/* environ with the extra entries applied; the array is malloc'd, the strings are borrowed */
static char **make_env(char *const *extra)
{
    size_t n = 0, m = 0;
    while (environ[n])
        n++;
    while (extra && extra[m])
        m++;
    char **env = calloc(n + m + 1, sizeof *env);
    if (env == NULL)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t klen = strcspn(environ[i], "=");
        int replaced = 0;
        for (size_t j = 0; j < m && !replaced; j++)
            replaced = strncmp(extra[j], environ[i], klen) == 0 &&
                       (extra[j][klen] == '=' || extra[j][klen] == '\0');
        if (!replaced)
            env[k++] = environ[i];
    }
    for (size_t j = 0; j < m; j++)
        if (strchr(extra[j], '='))
            env[k++] = extra[j];
    return env;
}

/* In the child: report errno to the parent through the exec pipe, then die. */
static void child_fail(int pipefd, const char *stage)
{
    int e = errno;
    char msg[256];
    int n = snprintf(msg, sizeof msg, "%s: %s", stage, strerror(e));
    ssize_t ignored = write(pipefd, msg, (size_t)n); /* failing, nothing more we can do */
    (void)ignored;
    _exit(127);
}

static int open_io(const mr_io *io, int fd, int pipe_end)
{
    int f = -1;
    switch (io->mode) {
    case MR_IO_INHERIT:
        return 0;
    case MR_IO_NULL:
        f = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
        break;
    case MR_IO_FILE:
        f = fd == 0 ? open(io->path, O_RDONLY) : open(io->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        break;
    case MR_IO_APPEND:
        f = open(io->path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        break;
    default: /* capture or data: the pipe end */
        f = pipe_end;
    }
    if (f < 0 || dup2(f, fd) < 0)
        return -1;
    if (f != fd)
        close(f);
    return 0;
}

pid_t mr_proc_start(const mr_proc_opts *o, int fds[3], char *err, size_t errlen)
{
    int pipes[3][2] = {
        {-1, -1},
        {-1, -1},
        {-1, -1}
    };
    int execpipe[2] = {-1, -1};
    struct passwd *pw = NULL;
    char **env = NULL;
    pid_t pid = -1;
    pid_t parent = getpid(); /* the child compares getppid() with it */

    fds[0] = fds[1] = fds[2] = -1;
    if (o->user) {
        errno = 0;
        pw = getpwnam(o->user);
        if (pw == NULL) {
            snprintf(err, errlen, "no such user: %s", o->user);
            return -1;
        }
    }
    env = make_env(o->env);
    if (env == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int i = 0; i < 3; i++) {
        if ((o->io[i].mode == MR_IO_CAPTURE || o->io[i].mode == MR_IO_DATA) &&
            pipe2(pipes[i], O_CLOEXEC) < 0)
            goto fail;
    }
    if (pipe2(execpipe, O_CLOEXEC) < 0)
        goto fail;
    pid = fork();
    if (pid < 0)
        goto fail;
    if (pid == 0) {
        /* child: only async-signal-safe calls from here on */
        signal(SIGPIPE, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        if (o->new_session ? setsid() < 0 : setpgid(0, 0) < 0)
            child_fail(execpipe[1], "setsid");
        for (int i = 0; i < 3; i++) {
            int end = i == 0 ? pipes[i][0] : pipes[i][1];
            if (open_io(&o->io[i], i, end) < 0)
                child_fail(execpipe[1], o->io[i].path ? o->io[i].path : "redirect");
        }
        if (pw) {
            if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
                setuid(pw->pw_uid) < 0)
                child_fail(execpipe[1], "switching user");
        }
        if (o->cwd && chdir(o->cwd) < 0)
            child_fail(execpipe[1], o->cwd);
        if (o->die_signal > 0) {
            /* after setuid (which clears it); then close the race with a parent that died
            ** before the prctl: we would have been reparented already */
            if (prctl(PR_SET_PDEATHSIG, o->die_signal) < 0)
                child_fail(execpipe[1], "prctl(PR_SET_PDEATHSIG)");
            if (getppid() != parent) {
                kill(getpid(), o->die_signal);
                _exit(128 + o->die_signal);
            }
        }
        execvpe(o->argv[0], o->argv, env);
        child_fail(execpipe[1], o->argv[0]);
    }
    /* parent */
    free(env);
    env = NULL;
    close(execpipe[1]);
    execpipe[1] = -1;
    char msg[256];
    ssize_t n;
    while ((n = read(execpipe[0], msg, sizeof msg - 1)) < 0 && errno == EINTR)
        ;
    close(execpipe[0]);
    execpipe[0] = -1;
    if (n > 0) { /* exec failed: the child told us why */
        msg[n] = '\0';
        snprintf(err, errlen, "cannot run %s", msg);
        waitpid(pid, NULL, 0);
        pid = -1;
        errno = 0;
        goto fail;
    }
    for (int i = 0; i < 3; i++) {
        if (pipes[i][0] < 0)
            continue;
        fds[i] = i == 0 ? pipes[i][1] : pipes[i][0];
        close(i == 0 ? pipes[i][0] : pipes[i][1]);
    }
    return pid;

fail:
    if (errno != 0)
        snprintf(err, errlen, "cannot start %s: %s", o->argv[0], strerror(errno));
    free(env);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 2; j++)
            if (pipes[i][j] >= 0)
                close(pipes[i][j]);
    if (execpipe[0] >= 0)
        close(execpipe[0]);
    if (execpipe[1] >= 0)
        close(execpipe[1]);
    return -1;
}

static void set_status(mr_proc_result *res, int st)
{
    res->exited = WIFEXITED(st);
    res->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    res->signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
}

/* Longest timeout honoured (about 30 years): beyond it, ms * 1e6 + now would overflow. */
#define MAX_TIMEOUT_MS ((int64_t)1000000000000)

int mr_proc_wait(pid_t pid, int64_t timeout_ms, mr_proc_result *res)
{
    if (timeout_ms > MAX_TIMEOUT_MS)
        timeout_ms = MAX_TIMEOUT_MS;
    int64_t deadline = mr_clock_now() + (timeout_ms > 0 ? timeout_ms : 0) * 1000000;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            set_status(res, st);
            return 1;
        }
        if (r < 0 && errno != EINTR) {
            res->exited = 1;
            res->status = -1;
            return 1;
        }
        if (timeout_ms >= 0 && mr_clock_now() >= deadline)
            return 0;
        if (mr_interrupted && timeout_ms < 0)
            return 0;
        mr_clock_sleep_ms(2);
    }
}

/* Stop the child's group politely, then firmly. */
static void stop_group(pid_t pid, mr_proc_result *res)
{
    kill(-pid, SIGTERM);
    if (!mr_proc_wait(pid, 2000, res)) {
        kill(-pid, SIGKILL);
        mr_proc_wait(pid, 5000, res);
    }
}

int mr_proc_run(const mr_proc_opts *o, mr_proc_result *res, char *err, size_t errlen)
{
    int fds[3];
    *res = (mr_proc_result){0};
    pid_t pid = mr_proc_start(o, fds, err, errlen);
    if (pid < 0)
        return -1;
    int64_t tmo = o->timeout_ms > MAX_TIMEOUT_MS ? MAX_TIMEOUT_MS : o->timeout_ms;
    int64_t deadline = tmo > 0 ? mr_clock_now() + tmo * 1000000 : 0;
    size_t in_off = 0;
    if (fds[0] >= 0)
        fcntl(fds[0], F_SETFL, O_NONBLOCK);
    for (;;) {
        struct pollfd p[3];
        int np = 0;
        for (int i = 0; i < 3; i++) {
            if (fds[i] >= 0) {
                p[np].fd = fds[i];
                p[np].events = i == 0 ? POLLOUT : POLLIN;
                p[np].revents = 0;
                np++;
            }
        }
        if (np == 0)
            break;
        int wait_ms = 200;
        if (deadline) {
            int64_t left = (deadline - mr_clock_now()) / 1000000;
            if (left <= 0) {
                res->timed_out = 1;
                break;
            }
            if (left < wait_ms)
                wait_ms = (int)left;
        }
        if (mr_interrupted) {
            res->interrupted = 1;
            break;
        }
        if (poll(p, (nfds_t)np, wait_ms) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int k = 0; k < np; k++) {
            if (p[k].revents == 0)
                continue;
            int i = p[k].fd == fds[0] ? 0 : p[k].fd == fds[1] ? 1 : 2;
            if (i == 0) {
                ssize_t w = write(fds[0], o->io[0].data + in_off, o->io[0].len - in_off);
                if (w > 0)
                    in_off += (size_t)w;
                if (w < 0 && errno != EAGAIN && errno != EINTR)
                    in_off = o->io[0].len; /* the child closed stdin: stop feeding it */
                if (in_off >= o->io[0].len) {
                    close(fds[0]);
                    fds[0] = -1;
                }
            } else {
                char buf[65536];
                ssize_t r = read(fds[i], buf, sizeof buf);
                if (r > 0) {
                    buf_add(i == 1 ? &res->out : &res->err, buf, (size_t)r);
                } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
                    close(fds[i]);
                    fds[i] = -1;
                }
            }
        }
    }
    for (int i = 0; i < 3; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    if (res->timed_out || res->interrupted) {
        stop_group(pid, res);
        return 0;
    }
    /* output closed: wait for the exit, still honouring the timeout and interrupts */
    for (;;) {
        int64_t slice = 100;
        if (deadline) {
            int64_t left = (deadline - mr_clock_now()) / 1000000;
            if (left <= 0) {
                res->timed_out = 1;
                stop_group(pid, res);
                return 0;
            }
            if (left < slice)
                slice = left;
        }
        if (mr_proc_wait(pid, slice, res))
            return 0;
        if (mr_interrupted) {
            res->interrupted = 1;
            stop_group(pid, res);
            return 0;
        }
    }
}
