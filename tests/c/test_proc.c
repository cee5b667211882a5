/* test_proc.c: argv without a shell, capture, stdin data, exit status, timeouts. */
#include <signal.h>
#include <stdlib.h>

#include "check.h"
#include "mr.h"
#include "proc.h"

volatile sig_atomic_t mr_interrupted = 0;

int main(void)
{
    char err[256];
    mr_proc_result r;

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
    CHECK_DONE();
}
