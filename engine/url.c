/*
** url.c: redaction of secrets in connection strings (pure C, no Lua).
** One function serves __tostring, error messages and reports: mr_url_redact().
*/
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "mr.h"

typedef struct {
    char *buf;
    size_t len, cap;
} sbuf;

static int sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->buf, cap);
        if (p == NULL)
            return -1;
        b->buf = p;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
    return 0;
}

static int is_url(const char *s)
{
    return strncmp(s, "postgresql://", 13) == 0 || strncmp(s, "postgres://", 11) == 0;
}

static int hexval(int c)
{
    return isdigit(c) ? c - '0' : isxdigit(c) ? (tolower(c) - 'a' + 10) : -1;
}

/* Is the query parameter at q (n bytes, up to '&') a password? libpq percent-decodes keys,
** so "pass%77ord=x" sets the password too. */
static int is_password_param(const char *q, size_t n)
{
    static const char want[] = "password";
    size_t k = 0;
    for (size_t i = 0; i < n && q[i] != '='; i++) {
        int c = (unsigned char)q[i];
        if (c == '%' && i + 2 < n && hexval(q[i + 1]) >= 0 && hexval(q[i + 2]) >= 0) {
            c = hexval(q[i + 1]) * 16 + hexval(q[i + 2]);
            i += 2;
        }
        if (k >= sizeof want - 1 || c != want[k])
            return 0;
        k++;
    }
    return k == sizeof want - 1;
}

/* postgresql://user:secret@host/db?password=x -> postgresql://user:***@host/db?password=***
** The user info ends at the last '@' before the first '/' (libpq lets '?' and '@' slip into
** an unencoded password); with none there, at the last '@' at all, so a stray '/' in a
** password can't make it escape. Masking too much of a strange URL is the safe mistake. */
static int redact_url(sbuf *b, const char *s)
{
    const char *scheme_end = strstr(s, "://") + 3;
    const char *auth_end = scheme_end + strcspn(scheme_end, "/");
    const char *at = NULL;
    for (const char *p = scheme_end; p < auth_end; p++)
        if (*p == '@')
            at = p;
    if (at == NULL)
        at = strrchr(scheme_end, '@');
    if (sb_put(b, s, scheme_end - s) < 0)
        return -1;
    const char *p = scheme_end;
    if (at != NULL) {
        const char *colon = memchr(scheme_end, ':', at - scheme_end);
        if (colon != NULL) {
            if (sb_put(b, scheme_end, colon - scheme_end) < 0 || sb_put(b, ":***", 4) < 0)
                return -1;
            p = at;
        }
    }
    const char *query = strchr(p, '?');
    if (query == NULL)
        return sb_put(b, p, strlen(p));
    if (sb_put(b, p, query - p + 1) < 0)
        return -1;
    for (const char *q = query + 1; *q;) {
        size_t n = strcspn(q, "&");
        if (is_password_param(q, n)) {
            const char *eq = memchr(q, '=', n);
            size_t keylen = eq ? (size_t)(eq - q) : n;
            if (sb_put(b, q, keylen) < 0 || sb_put(b, "=***", 4) < 0)
                return -1;
        } else if (sb_put(b, q, n) < 0) {
            return -1;
        }
        q += n;
        if (*q == '&') {
            if (sb_put(b, "&", 1) < 0)
                return -1;
            q++;
        }
    }
    return 0;
}

/* key = value pairs; values may be 'quoted' with \' and \\ escapes. */
static int redact_conninfo(sbuf *b, const char *s)
{
    const char *p = s;
    while (*p) {
        const char *start = p;
        while (isspace((unsigned char)*p))
            p++;
        const char *key = p;
        while (*p && *p != '=' && !isspace((unsigned char)*p))
            p++;
        size_t keylen = p - key;
        while (isspace((unsigned char)*p))
            p++;
        if (*p != '=')                      /* not conninfo after all: copy the rest */
            return sb_put(b, start, strlen(start));
        p++;
        while (isspace((unsigned char)*p))
            p++;
        const char *val = p;
        if (*p == '\'') {
            p++;
            while (*p && *p != '\'') {
                if (*p == '\\' && p[1])
                    p++;
                p++;
            }
            if (*p == '\'')
                p++;
        } else {
            while (*p && !isspace((unsigned char)*p))
                p++;
        }
        int secret = keylen == 8 && strncmp(key, "password", 8) == 0;
        if (sb_put(b, start, (secret ? val : p) - start) < 0)
            return -1;
        if (secret && sb_put(b, "***", 3) < 0)
            return -1;
    }
    return 0;
}

char *mr_url_redact(const char *s)
{
    sbuf b = {0};
    if (sb_put(&b, "", 0) < 0)
        return NULL;
    int rc = is_url(s) ? redact_url(&b, s) : redact_conninfo(&b, s);
    if (rc < 0) {
        free(b.buf);
        return NULL;
    }
    return b.buf;
}
