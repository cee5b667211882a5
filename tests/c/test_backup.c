/* test_backup.c: the dump tee (file + sha256 + verifier in one pass), its failure paths (a
** failing source or verifier, a full disk, a missing program, an interrupt) leave no file,
** no fd and no child behind; publishing never replaces a file. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include "backup.h"
#include "check.h"
#include "mr.h"

volatile sig_atomic_t mr_interrupted = 0;

static int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static int no_children(void)
{
    return waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD;
}

static int exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

static long long size_of(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 ? (long long)st.st_size : -1;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);                  /* as migrun's main() does */
    char dir[] = "/tmp/migrun-test-backup-XXXXXX";
    if (mkdtemp(dir) == NULL)
        return 2;
    char out[256], out2[256], big[256];
    snprintf(out, sizeof out, "%s/out.dump", dir);
    snprintf(out2, sizeof out2, "%s/final.dump", dir);
    snprintf(big, sizeof big, "%s/big", dir);
    int fds_before = count_fds();
    mr_tee_result r;

    /* a program's stdout to a file, sha256 and a verifier, all of it */
    char *src[] = {"head", "-c", "5000000", "/dev/urandom", NULL};
    char *sink[] = {"sh", "-c", "exec cat > /dev/null", NULL};
    mr_tee_opts o = {.src_argv = src, .sink_argv = sink, .out_path = out, .fsync_out = 1};
    CHECK(mr_backup_tee(&o, &r) == 0);
    CHECK(r.bytes == 5000000);
    CHECK(size_of(out) == 5000000);
    char hex[65];
    CHECK(mr_sha256_file_hex(out, hex) == 0);
    CHECK_STR(r.sha256, hex);
    CHECK(r.src.started && r.src.exited && r.src.status == 0);
    CHECK(r.sink.started && r.sink.status == 0 && !r.sink_closed_early);
    mr_tee_result_free(&r);

    /* the output file must be new: never overwrite */
    CHECK(mr_backup_tee(&o, &r) == -1);
    CHECK(r.local_errno == EEXIST);
    CHECK(size_of(out) == 5000000);            /* untouched, and not removed */
    mr_tee_result_free(&r);
    rename(out, big);

    /* a file as the source, read by a verifier that is slower than the reader */
    char *slow[] = {"sh", "-c", "sleep 0.2; exec wc -c > /dev/null", NULL};
    mr_tee_opts f = {.src_path = big, .sink_argv = slow};
    CHECK(mr_backup_tee(&f, &r) == 0);
    CHECK(r.bytes == 5000000);
    CHECK_STR(r.sha256, hex);
    mr_tee_result_free(&r);

    /* a verifier that stops reading early: reported, the hash still covers everything */
    char *head10[] = {"head", "-c", "10", NULL};
    mr_tee_opts e = {.src_path = big, .sink_argv = head10};
    mr_backup_tee(&e, &r);
    CHECK(r.sink_closed_early);
    CHECK(r.bytes == 5000000);
    CHECK_STR(r.sha256, hex);
    mr_tee_result_free(&r);

    /* a failing source: its status and stderr come back, the partial file is removed */
    char *bad[] = {"sh", "-c", "printf partial; echo 'pg_dump: error: boom' >&2; exit 3", NULL};
    mr_tee_opts b = {.src_argv = bad, .sink_argv = sink, .out_path = out};
    CHECK(mr_backup_tee(&b, &r) == -1);
    CHECK(r.src.status == 3);
    CHECK(r.src.err && strstr(r.src.err, "boom") != NULL);
    CHECK(!exists(out));
    mr_tee_result_free(&r);

    /* a failing verifier: the file is removed */
    char *refuse[] = {"sh", "-c", "cat > /dev/null; exit 4", NULL};
    mr_tee_opts v = {.src_argv = src, .sink_argv = refuse, .out_path = out};
    CHECK(mr_backup_tee(&v, &r) == -1);
    CHECK(r.sink.status == 4);
    CHECK(!exists(out));
    mr_tee_result_free(&r);

    /* a full disk (a file size limit standing in for it): the partial file is removed */
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 1000000;
    signal(SIGXFSZ, SIG_IGN);
    setrlimit(RLIMIT_FSIZE, &lim);
    mr_tee_opts d = {.src_argv = src, .sink_argv = sink, .out_path = out};
    CHECK(mr_backup_tee(&d, &r) == -1);
    setrlimit(RLIMIT_FSIZE, &old);
    CHECK(r.local_errno == EFBIG);
    CHECK(strstr(r.local_error, "write") != NULL);
    CHECK(!exists(out));
    mr_tee_result_free(&r);

    /* a program that can't start: the verifier already running is stopped and reaped */
    char *missing[] = {"/nonexistent/pg_dump", NULL};
    mr_tee_opts m = {.src_argv = missing, .sink_argv = sink, .out_path = out};
    CHECK(mr_backup_tee(&m, &r) == -1);
    CHECK(strstr(r.local_error, "nonexistent") != NULL);
    CHECK(r.sink.started);
    CHECK(!exists(out));
    mr_tee_result_free(&r);

    /* an interrupt stops both programs at once */
    char *forever[] = {"sleep", "30", NULL};
    mr_tee_opts i = {.src_argv = forever, .sink_argv = sink, .out_path = out};
    mr_interrupted = 1;
    int64_t t0 = mr_clock_now();
    CHECK(mr_backup_tee(&i, &r) == -1);
    mr_interrupted = 0;
    CHECK(r.interrupted);
    CHECK(mr_clock_now() - t0 < 5000000000LL);
    CHECK(!exists(out));
    mr_tee_result_free(&r);

    /* publish: a rename that never replaces */
    char err[256];
    CHECK(mr_backup_write_new(out, "one", 3, err, sizeof err) == 0);
    CHECK(mr_backup_write_new(out, "two", 3, err, sizeof err) == -1);
    CHECK(mr_backup_publish(out, big, err, sizeof err) == -1);   /* big exists */
    CHECK(size_of(big) == 5000000);
    CHECK(mr_backup_publish(out, out2, err, sizeof err) == 0);
    CHECK(size_of(out2) == 3 && !exists(out));

    CHECK(count_fds() == fds_before);
    CHECK(no_children());
    unlink(out2);
    unlink(big);
    rmdir(dir);
    CHECK_DONE();
}
