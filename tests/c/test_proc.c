/* test_proc.c: argv without a shell, capture, stdin data, exit status, timeouts, files,
** environment removal, signals, spawn/wait, children that die with their parent, and no file
** descriptor leaks. */
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "mr.h"
#include "proc.h"

volatile sig_atomic_t mr_interrupted = 0;

static int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    static char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* A middle process starts `sleep 60` (die_signal as given), reports its pid, and is then
** SIGKILLed. We are a subreaper, so the orphan becomes our child: returns its pid, or -1. */
static pid_t orphan_of_killed_parent(int die_signal)
{
    int p[2];
    if (pipe(p) < 0)
        return -1;
    pid_t mid = fork();
    if (mid == 0) {
        close(p[0]);
        char err[256];
        int fds[3];
        char *slp[] = {"sleep", "60", NULL};
        mr_proc_opts o = {.argv = slp, .die_signal = die_signal,
                          .io = {{MR_IO_NULL}, {MR_IO_NULL}, {MR_IO_NULL}}};
        pid_t child = mr_proc_start(&o, fds, err, sizeof err);
        if (write(p[1], &child, sizeof child) != sizeof child)
            _exit(1);
        for (;;)
            pause();
    }
    close(p[1]);
    pid_t child = -1;
    if (mid < 0 || read(p[0], &child, sizeof child) != sizeof child)
        child = -1;
    close(p[0]);
    if (mid > 0) {
        kill(mid, SIGKILL);
        waitpid(mid, NULL, 0);
    }
    return child;
}

/* Reap pid within ms (it is our child by now): its wait status, or -1 while it still runs. */
static int reap_within(pid_t pid, int ms)
{
    for (int waited = 0; waited <= ms; waited += 10) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid)
            return st;
        usleep(10000);
    }
    return -1;
}

int main(void)
{
    char err[256];
    mr_proc_result r;
    signal(SIGPIPE, SIG_IGN);                  /* as migrun's main() does */
    int fds_before = count_fds();

    /* no shell: the metacharacters arrive as one argument */
    char *echo[] = {"echo", "a;b $HOME `x`", NULL};
    mr_proc_opts o = {.argv = echo, .io = {{MR_IO_NULL}, {MR_IO_CAPTURE}, {MR_IO_CAPTURE}}};
    CHECK(mr_proc_run(&o, &r, err, sizeof err) == 0);
    CHECK(r.exited && r.status == 0);
    CHECK_STR(r.out.data, "a;b $HOME `x`\n");
    mr_buf_free(&r.out);
    mr_buf_free(&r.err);

    /* stdin data larger than a pipe buffer, read back through cat */
    size_t n = 1 << 20;
    char *big = malloc(n);
    memset(big, 'x', n);
    char *cat[] = {"cat", NULL};
    mr_proc_opts c = {.argv = cat,
                      .io = {{MR_IO_DATA, NULL, big, n}, {MR_IO_CAPTURE}, {MR_IO_CAPTURE}}};
    CHECK(mr_proc_run(&c, &r, err, sizeof err) == 0);
    CHECK(r.out.len == n);
    mr_buf_free(&r.out);
    mr_buf_free(&r.err);
    free(big);

    /* exit status and extra environment */
    char *sh[] = {"sh", "-c", "echo $MR_X >&2; exit 7", NULL};
    char *env[] = {"MR_X=hello", NULL};
    mr_proc_opts s = {.argv = sh, .env = env,
                      .io = {{MR_IO_NULL}, {MR_IO_CAPTURE}, {MR_IO_CAPTURE}}};
    CHECK(mr_proc_run(&s, &r, err, sizeof err) == 0);
    CHECK(r.exited && r.status == 7);
    CHECK_STR(r.err.data, "hello\n");
    mr_buf_free(&r.out);
    mr_buf_free(&r.err);

    /* timeout stops the child's whole group */
    char *sl[] = {"sh", "-c", "sleep 30 & sleep 30", NULL};
    mr_proc_opts t = {.argv = sl, .timeout_ms = 200,
                      .io = {{MR_IO_NULL}, {MR_IO_CAPTURE}, {MR_IO_CAPTURE}}};
    int64_t t0 = mr_clock_now();
    CHECK(mr_proc_run(&t, &r, err, sizeof err) == 0);
    CHECK(r.timed_out);
    CHECK(mr_clock_now() - t0 < 10LL * 1000000000);
    mr_buf_free(&r.out);
    mr_buf_free(&r.err);

    /* a missing program is an error with the reason, not a child exit code */
    char *no[] = {"/nonexistent/migrun-prog", NULL};
    mr_proc_opts m = {.argv = no};
    CHECK(mr_proc_run(&m, &r, err, sizeof err) == -1);
    CHECK(strstr(err, "No such file") != NULL);

    /* an env entry without '=' removes the variable */
    char *env_sh[] = {"sh", "-c", "echo ${HOME-unset}", NULL};
    char *no_home[] = {"HOME", NULL};
    mr_proc_opts e = {.argv = env_sh, .env = no_home,
                      .io = {{MR_IO_NULL}, {MR_IO_CAPTURE}, {MR_IO_CAPTURE}}};
    CHECK(mr_proc_run(&e, &r, err, sizeof err) == 0);
    CHECK_STR(r.out.data, "unset\n");
    mr_buf_free(&r.out);
    mr_buf_free(&r.err);

    /* stdin from a file, stdout to a file (truncated), then appended to; cwd */
    char dir[] = "/tmp/migrun-test-proc-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char in[256], out[256];
    snprintf(in, sizeof in, "%s/in", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    FILE *f = fopen(in, "w");
    fputs("from a file\n", f);
    fclose(f);
    f = fopen(out, "w");
    fputs("old content that must go\n", f);
    fclose(f);
    char *cat2[] = {"cat", NULL};
    mr_proc_opts fi = {.argv = cat2,
                       .io = {{MR_IO_FILE, in}, {MR_IO_FILE, out}, {MR_IO_NULL}}};
    CHECK(mr_proc_run(&fi, &r, err, sizeof err) == 0);
    CHECK(r.exited && r.status == 0);
    CHECK_STR(slurp(out), "from a file\n");
    char *pwd[] = {"pwd", NULL};
    mr_proc_opts ap = {.argv = pwd, .cwd = dir,
                       .io = {{MR_IO_NULL}, {MR_IO_APPEND, out}, {MR_IO_NULL}}};
    CHECK(mr_proc_run(&ap, &r, err, sizeof err) == 0);
    char want[512];
    snprintf(want, sizeof want, "from a file\n%s\n", dir);
    CHECK_STR(slurp(out), want);
    /* a missing input file is a start failure naming the file */
    char missing[256];
    snprintf(missing, sizeof missing, "%s/missing", dir);
    mr_proc_opts mi = {.argv = cat2, .io = {{MR_IO_FILE, missing}, {MR_IO_NULL}, {MR_IO_NULL}}};
    CHECK(mr_proc_run(&mi, &r, err, sizeof err) == -1);
    CHECK(strstr(err, missing) != NULL);
    unlink(in);
    unlink(out);
    rmdir(dir);

    /* killed by a signal: no exit status, the signal and 128+sig */
    char *kill9[] = {"sh", "-c", "kill -9 $$", NULL};
    mr_proc_opts k = {.argv = kill9, .io = {{MR_IO_NULL}, {MR_IO_CAPTURE}, {MR_IO_CAPTURE}}};
    CHECK(mr_proc_run(&k, &r, err, sizeof err) == 0);
    CHECK(!r.exited && r.signal == SIGKILL && r.status == 128 + SIGKILL);
    mr_buf_free(&r.out);
    mr_buf_free(&r.err);

    /* stdin data the child never reads: no SIGPIPE death, no hang */
    char *tru[] = {"true", NULL};
    size_t bn = 4 << 20;
    char *bigin = calloc(1, bn);
    mr_proc_opts nr = {.argv = tru, .io = {{MR_IO_DATA, NULL, bigin, bn}, {MR_IO_NULL}, {MR_IO_NULL}}};
    CHECK(mr_proc_run(&nr, &r, err, sizeof err) == 0);
    CHECK(r.exited && r.status == 0);
    free(bigin);

    /* start + wait: still running after a short wait, reaped after a kill */
    char *slp[] = {"sleep", "30", NULL};
    mr_proc_opts sp = {.argv = slp, .io = {{MR_IO_NULL}, {MR_IO_NULL}, {MR_IO_NULL}}};
    int fds[3];
    pid_t pid = mr_proc_start(&sp, fds, err, sizeof err);
    CHECK(pid > 0);
    CHECK(fds[0] == -1 && fds[1] == -1 && fds[2] == -1);
    mr_proc_result w = {0};
    CHECK(mr_proc_wait(pid, 0, &w) == 0);
    CHECK(kill(-pid, SIGTERM) == 0);          /* the child leads its own process group */
    CHECK(mr_proc_wait(pid, 5000, &w) == 1);
    CHECK(!w.exited && w.signal == SIGTERM);

    /* die_signal: the child goes when the process that started it is killed (SIGKILL: no
    ** cleanup of its own could have done it); without it, the child lives on */
    CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
    pid_t orphan = orphan_of_killed_parent(SIGKILL);
    CHECK(orphan > 0);
    int st = orphan > 0 ? reap_within(orphan, 2000) : -1;
    CHECK(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    orphan = orphan_of_killed_parent(0);
    CHECK(orphan > 0);
    CHECK(orphan > 0 && reap_within(orphan, 300) == -1);   /* still running */
    if (orphan > 0) {
        kill(orphan, SIGKILL);
        waitpid(orphan, NULL, 0);
    }
    CHECK(prctl(PR_SET_CHILD_SUBREAPER, 0) == 0);

    /* nothing above leaked a descriptor, failures included */
    CHECK(count_fds() == fds_before);
    CHECK_DONE();
}
