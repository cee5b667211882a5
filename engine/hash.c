/*
** hash.c: streamed sha256 through OpenSSL's EVP interface (pure C, no Lua).
*/
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "mr.h"

struct mr_sha256 {
    EVP_MD_CTX *ctx;
};

mr_sha256 *mr_sha256_new(void)
{
    mr_sha256 *h = malloc(sizeof *h);
    if (h == NULL)
        return NULL;
    h->ctx = EVP_MD_CTX_new();
    if (h->ctx == NULL || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
        mr_sha256_free(h);
        return NULL;
    }
    return h;
}

int mr_sha256_update(mr_sha256 *h, const void *data, size_t len)
{
    return EVP_DigestUpdate(h->ctx, data, len) == 1 ? 0 : -1;
}

int mr_sha256_final_hex(mr_sha256 *h, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(h->ctx, md, &n) != 1 || n != 32)
        return -1;
    for (unsigned int i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return 0;
}

void mr_sha256_free(mr_sha256 *h)
{
    if (h == NULL)
        return;
    EVP_MD_CTX_free(h->ctx);
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
