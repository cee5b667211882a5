/*
** hash.c: streamed sha256 through OpenSSL's SHA256_* functions (pure C, no Lua).
**
** Not EVP: in OpenSSL 3 the first EVP digest loads openssl.cnf and initialises the default
** provider, 2-3 ms that every verb loading a playbook paid for its first checksum (psql,
** whose libpq only starts OpenSSL for a TLS connection, pays none). SHA256_* run the same
** assembly with no provider and no configuration; 3.0 deprecates them, hence the API level
** below (they remain in every 3.x).
*/
#define OPENSSL_API_COMPAT 10101
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "mr.h"

struct mr_sha256 {
    SHA256_CTX ctx;
};

mr_sha256 *mr_sha256_new(void)
{
    mr_sha256 *h = malloc(sizeof *h);
    if (h == NULL)
        return NULL;
    if (SHA256_Init(&h->ctx) != 1) {
        mr_sha256_free(h);
        return NULL;
    }
    return h;
}

int mr_sha256_update(mr_sha256 *h, const void *data, size_t len)
{
    return SHA256_Update(&h->ctx, data, len) == 1 ? 0 : -1;
}

int mr_sha256_final_hex(mr_sha256 *h, char out[65])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[SHA256_DIGEST_LENGTH];
    if (SHA256_Final(md, &h->ctx) != 1)
        return -1;
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        out[2 * i] = digits[md[i] >> 4];
        out[2 * i + 1] = digits[md[i] & 0xf];
    }
    out[64] = '\0';
    return 0;
}

void mr_sha256_free(mr_sha256 *h)
{
    free(h);
}

int mr_sha256_file_hex(const char *path, char out[65])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    mr_sha256 *h = mr_sha256_new();
    if (h == NULL) {
        close(fd);
        errno = ENOMEM;
        return -1;
    }
    static char buf[1 << 16];
    ssize_t n;
    int rc = 0;
    while ((n = read(fd, buf, sizeof buf)) != 0) {
        if (n < 0) {
            if (errno == EINTR && !mr_interrupted)
                continue;
            rc = -1;
            break;
        }
        if (mr_sha256_update(h, buf, (size_t)n) < 0) {
            errno = EIO;
            rc = -1;
            break;
        }
    }
    int saved = errno;
    if (rc == 0)
        rc = mr_sha256_final_hex(h, out);
    mr_sha256_free(h);
    close(fd);
    errno = saved;
    return rc;
}
