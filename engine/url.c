/*
** url.c: secrets in connection strings (pure C, no Lua). One scanner finds every password in
** a postgres:// URL or a key=value conninfo string; mr_url_redact() copies the string with
** each one replaced by "***" (for __tostring, errors and reports), mr_url_blank_password()
** overwrites them in place (for our own argv, so ps does not show them).
*/
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "mr.h"

/* Where a password sits in the scanned string: [off, off + len) is replaced by "***" when
** redacting; [in, in + inlen) (inside the quotes, when quoted) is overwritten when blanking. */
typedef struct {
    size_t off, len;
    size_t in, inlen;
} secret;

#define MAX_SECRETS 64

typedef struct {
    secret v[MAX_SECRETS];
    int n;
    int overflow; /* more than MAX_SECRETS: everything after the last one is secret */
} secrets;

static void add(secrets *ss, size_t off, size_t len, size_t in, size_t inlen)
{
    if (ss->n == MAX_SECRETS) {
        ss->overflow = 1;
        return;
    }
    ss->v[ss->n++] = (secret){off, len, in, inlen};
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

/* postgresql://user:secret@host/db?password=x: the user info's password and every password
** parameter. The user info ends at the last '@' before the first '/' (libpq lets '?' and '@'
** slip into an unencoded password); with none there, at the last '@' at all, so a stray '/'
** in a password can't make it escape. Masking too much of a strange URL is the safe mistake:
** spans may overlap here, scan() merges them. */
static void scan_url(const char *s, secrets *ss)
{
    const char *scheme_end = strstr(s, "://") + 3;
    const char *auth_end = scheme_end + strcspn(scheme_end, "/");
    const char *at = NULL;
    for (const char *p = scheme_end; p < auth_end; p++)
        if (*p == '@')
            at = p;
    if (at == NULL)
        at = strrchr(scheme_end, '@');
    if (at != NULL) {
        const char *colon = memchr(scheme_end, ':', (size_t)(at - scheme_end));
        if (colon != NULL) {
            size_t off = (size_t)(colon + 1 - s), len = (size_t)(at - colon - 1);
            add(ss, off, len, off, len);
        }
    }
    const char *query = strchr(scheme_end, '?');
    if (query == NULL)
        return;
    for (const char *q = query + 1; *q;) {
        size_t n = strcspn(q, "&");
        const char *eq = memchr(q, '=', n);
        if (eq != NULL && is_password_param(q, n)) {
            size_t off = (size_t)(eq + 1 - s), len = n - (size_t)(eq + 1 - q);
            add(ss, off, len, off, len);
        }
        q += n;
        if (*q == '&')
            q++;
    }
}

/* key = value pairs; values may be 'quoted' with \' and \\ escapes. Stops at the first
** token that is not key=value (then it is not conninfo; what came before still counts). */
static void scan_conninfo(const char *s, secrets *ss)
{
    const char *p = s;
    while (*p) {
        while (isspace((unsigned char)*p))
            p++;
        const char *key = p;
        while (*p && *p != '=' && !isspace((unsigned char)*p))
            p++;
        size_t keylen = (size_t)(p - key);
        while (isspace((unsigned char)*p))
            p++;
        if (*p != '=' || keylen == 0)
            return;
        p++;
        while (isspace((unsigned char)*p))
            p++;
        const char *val = p, *in = p, *in_end;
        if (*p == '\'') {
            in = ++p;
            while (*p && *p != '\'') {
                if (*p == '\\' && p[1])
                    p++;
                p++;
            }
            in_end = p;
            if (*p == '\'')
                p++;
        } else {
            while (*p && !isspace((unsigned char)*p))
                p++;
            in_end = p;
        }
        if (keylen == 8 && strncmp(key, "password", 8) == 0)
            add(ss, (size_t)(val - s), (size_t)(p - val), (size_t)(in - s), (size_t)(in_end - in));
    }
}

static int by_offset(const void *a, const void *b)
{
    const secret *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* Every password in s, sorted, overlapping spans merged. */
static void scan(const char *s, secrets *ss)
{
    *ss = (secrets){0};
    if (is_url(s))
        scan_url(s, ss);
    else
        scan_conninfo(s, ss);
    if (ss->overflow) { /* absurd input: the rest of it is secret */
        size_t off = ss->n ? ss->v[ss->n - 1].off : 0, len = strlen(s) - off;
        ss->v[ss->n - 1] = (secret){off, len, off, len};
    }
    qsort(ss->v, (size_t)ss->n, sizeof ss->v[0], by_offset);
    int k = 0;
    for (int i = 0; i < ss->n; i++) {
        secret *c = &ss->v[i];
        if (k > 0 && c->off <= ss->v[k - 1].off + ss->v[k - 1].len) {
            secret *m = &ss->v[k - 1]; /* only URL spans overlap: in == off there */
            size_t end = c->off + c->len > m->off + m->len ? c->off + c->len : m->off + m->len;
            m->len = m->inlen = end - m->off;
            continue;
        }
        ss->v[k++] = *c;
    }
    ss->n = k;
}

char *mr_url_redact(const char *s)
{
    secrets ss;
    scan(s, &ss);
    size_t len = strlen(s);
    char *out = malloc(len + 3 * (size_t)ss.n + 1); /* every span may become longer */
    if (out == NULL)
        return NULL;
    size_t o = 0, done = 0;
    for (int i = 0; i < ss.n; i++) {
        memcpy(out + o, s + done, ss.v[i].off - done);
        o += ss.v[i].off - done;
        memcpy(out + o, "***", 3);
        o += 3;
        done = ss.v[i].off + ss.v[i].len;
    }
    memcpy(out + o, s + done, len - done + 1);
    return out;
}

size_t mr_url_blank_password(char *s)
{
    secrets ss;
    scan(s, &ss);
    size_t n = 0;
    for (int i = 0; i < ss.n; i++) {
        memset(s + ss.v[i].in, 'x', ss.v[i].inlen);
        n += ss.v[i].inlen;
    }
    return n;
}
