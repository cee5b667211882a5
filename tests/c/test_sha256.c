/* test_sha256.c: streamed sha256 matches the published test vectors, for strings and files. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "mr.h"

volatile sig_atomic_t mr_interrupted = 0;

static void hashes(const char *s, const char *want)
{
    char hex[65];
    mr_sha256 *h = mr_sha256_new();
    CHECK(h != NULL);
    for (const char *p = s; *p; p++)           /* byte at a time: streaming must not matter */
        mr_sha256_update(h, p, 1);
    CHECK(mr_sha256_final_hex(h, hex) == 0);
    mr_sha256_free(h);
    CHECK_STR(hex, want);
}

int main(void)
{
    hashes("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    hashes("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    hashes("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
           "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");

    char path[] = "/tmp/migrun-test-sha-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    /* one million 'a': spans many read buffers */
    char *buf = malloc(1000000);
    memset(buf, 'a', 1000000);
    CHECK(write(fd, buf, 1000000) == 1000000);
    close(fd);
    free(buf);
    char hex[65];
    CHECK(mr_sha256_file_hex(path, hex) == 0);
    CHECK_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    unlink(path);
    CHECK(mr_sha256_file_hex("/nonexistent/migrun", hex) == -1);
    CHECK_DONE();
}
