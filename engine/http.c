/*
** http.c: one HTTP request over libcurl's easy API (pure C, no Lua). The callbacks only
** append to C buffers or read mr_interrupted; the transfer's outcome is sorted into a few
** failure classes here, and what they mean (retry or not) is decided in lua/migrun/http.lua.
*/
#include <ctype.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "http.h"
#include "mr.h"

_Static_assert(sizeof(((mr_http_response *)0)->error) >= CURL_ERROR_SIZE,
               "curl writes up to CURL_ERROR_SIZE bytes of message");

#define MAX_HEADER_BYTES ((size_t)1 << 20) /* all of one response's header lines */

typedef struct {
    mr_http_response *res;
    size_t max_body;
    size_t too_large; /* the cap a callback hit (body or headers), refusing data; 0: none */
} transfer;

/* Append n bytes to b, keeping it NUL-terminated. 0, or -1 when out of memory. */
static int buf_add(mr_http_buf *b, const char *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (d == NULL)
            return -1;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

static void buf_free(mr_http_buf *b)
{
    free(b->data);
    *b = (mr_http_buf){0};
}

/* CURLOPT_WRITEFUNCTION: the body, up to the cap. Returning less than n stops the transfer. */
static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    transfer *t = ud;
    size_t len = size * n;
    if (t->res->body.len + len > t->max_body) {
        t->too_large = t->max_body;
        return 0;
    }
    return buf_add(&t->res->body, p, len) == 0 ? len : 0;
}

/* CURLOPT_HEADERFUNCTION: one header line per call. Each status line starts a new response
** (a 100 Continue, a redirect): only the last one's headers are kept, without its status
** line or the blank line that ends it. */
static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    transfer *t = ud;
    size_t len = size * n;
    mr_http_buf *h = &t->res->headers;
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        h->len = 0;
        if (h->data)
            h->data[0] = '\0';
        return len;
    }
    size_t keep = len;
    while (keep > 0 && (p[keep - 1] == '\r' || p[keep - 1] == '\n'))
        keep--;
    if (keep == 0)
        return len;
    if (h->len + keep + 2 > MAX_HEADER_BYTES) {
        t->too_large = MAX_HEADER_BYTES;
        return 0;
    }
    if (buf_add(h, p, keep) < 0 || buf_add(h, "\r\n", 2) < 0)
        return 0;
    return len;
}

/* CURLOPT_XFERINFOFUNCTION: called at least once a second, even on a silent connection.
** Non-zero aborts the transfer with CURLE_ABORTED_BY_CALLBACK. */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)ud, (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    return mr_interrupted ? 1 : 0;
}

static mr_http_failure classify(CURLcode rc, const transfer *t)
{
    if (t->too_large)
        return MR_HTTP_TOO_LARGE;
    switch (rc) {
    case CURLE_OK:
        return MR_HTTP_OK;
    case CURLE_ABORTED_BY_CALLBACK:
        return MR_HTTP_INTERRUPTED;
    case CURLE_OPERATION_TIMEDOUT:
        return MR_HTTP_TIMEOUT;
    case CURLE_COULDNT_CONNECT:
        return MR_HTTP_REFUSED;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return MR_HTTP_DNS;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED:
        return MR_HTTP_TLS;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return MR_HTTP_URL;
    default:
        return MR_HTTP_IO;
    }
}

/* Does a "Name: value" line in list have this name (case-insensitive)? */
static int has_header(const char *const *list, const char *name)
{
    size_t n = strlen(name);
    for (; list && *list; list++)
        if (strncasecmp(*list, name, n) == 0 && ((*list)[n] == ':' || (*list)[n] == ';'))
            return 1;
    return 0;
}

/* libcurl is opened on the first request instead of linked: the twenty-odd libraries it
** brings (TLS, SSH, LDAP, IDN, HTTP/2...) cost every migrun start about 4 ms, a fifth of it,
** and most runs make no request. These are the only curl functions used. */
static struct {
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_perform)(CURL *);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    void (*easy_cleanup)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
    char *(*version)(void);
} curl;

#define MR_LIBCURL "libcurl.so.4"
static char curl_missing[200]; /* why libcurl could not be opened; "" when it was */

/* 0 once libcurl is open and initialised; -1 with curl_missing set. The VM is
** single-threaded: no race on first use. */
static int ensure_init(void)
{
    static int state = 0; /* 0 not tried, 1 ready, -1 failed */
    if (state != 0)
        return state > 0 ? 0 : -1;
    state = -1;
    void *lib = dlopen(MR_LIBCURL, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        snprintf(curl_missing, sizeof curl_missing, "cannot open %s (Debian: apt-get install libcurl4): %s",
                 MR_LIBCURL, dlerror());
        return -1;
    }
    /* the POSIX way to turn dlsym's void * into a function pointer */
#define LOAD(field, name)                                                                          \
    if ((*(void **)&curl.field = dlsym(lib, name)) == NULL) {                                      \
        snprintf(curl_missing, sizeof curl_missing, "%s has no %s", MR_LIBCURL, name);            \
        return -1;                                                                                 \
    }
    LOAD(global_init, "curl_global_init")
    LOAD(easy_init, "curl_easy_init")
    LOAD(easy_setopt, "curl_easy_setopt")
    LOAD(easy_perform, "curl_easy_perform")
    LOAD(easy_getinfo, "curl_easy_getinfo")
    LOAD(easy_cleanup, "curl_easy_cleanup")
    LOAD(easy_strerror, "curl_easy_strerror")
    LOAD(slist_append, "curl_slist_append")
    LOAD(slist_free_all, "curl_slist_free_all")
    LOAD(version, "curl_version")
#undef LOAD
    if (curl.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(curl_missing, sizeof curl_missing, "libcurl failed to initialise");
        return -1;
    }
    state = 1; /* the library stays open for the process's life */
    return 0;
}

/* The request's options onto the handle; the header list is built into *hl (caller frees). */
static CURLcode set_request(CURL *c, const mr_http_request *req, transfer *t,
                            struct curl_slist **hl)
{
    CURLcode rc = CURLE_OK;
#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if ((rc = curl.easy_setopt(c, opt, val)) != CURLE_OK)                                      \
            return rc;                                                                             \
    } while (0)
    SET(CURLOPT_ERRORBUFFER, t->res->error);
    SET(CURLOPT_URL, req->url);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_USERAGENT, "migrun/" MR_VERSION);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, t);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, t);
    SET(CURLOPT_NOPROGRESS, 0L);
    SET(CURLOPT_XFERINFOFUNCTION, on_progress);
    SET(CURLOPT_XFERINFODATA, NULL);
    if (req->timeout_ms > 0)
        SET(CURLOPT_TIMEOUT_MS, (long)req->timeout_ms);
    if (req->connect_timeout_ms > 0)
        SET(CURLOPT_CONNECTTIMEOUT_MS, (long)req->connect_timeout_ms);
    SET(CURLOPT_SSL_VERIFYPEER, req->insecure ? 0L : 1L);
    SET(CURLOPT_SSL_VERIFYHOST, req->insecure ? 0L : 2L);
    if (req->cafile)
        SET(CURLOPT_CAINFO, req->cafile);

    const char *m = req->method;
    if (strcmp(m, "HEAD") == 0) {
        SET(CURLOPT_NOBODY, 1L);
    } else if (req->body != NULL || strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 ||
               strcmp(m, "PATCH") == 0) {
        /* a body (an empty one for POST/PUT/PATCH: servers want a Content-Length) */
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(req->body ? req->body_len : 0));
        SET(CURLOPT_POSTFIELDS, req->body ? req->body : "");
        if (strcmp(m, "POST") != 0)
            SET(CURLOPT_CUSTOMREQUEST, m);
    } else if (strcmp(m, "GET") == 0) {
        SET(CURLOPT_HTTPGET, 1L);
    } else {
        SET(CURLOPT_CUSTOMREQUEST, m);
    }

    for (const char *const *h = req->headers; h && *h; h++)
        if ((*hl = curl.slist_append(*hl, *h)) == NULL)
            return CURLE_OUT_OF_MEMORY;
    /* send only what was asked: no form-urlencoded type of curl's, no 100-continue wait */
    if (!has_header(req->headers, "Content-Type") &&
        (*hl = curl.slist_append(*hl, "Content-Type:")) == NULL)
        return CURLE_OUT_OF_MEMORY;
    if (!has_header(req->headers, "Expect") && (*hl = curl.slist_append(*hl, "Expect:")) == NULL)
        return CURLE_OUT_OF_MEMORY;
    SET(CURLOPT_HTTPHEADER, *hl);
#undef SET
    return CURLE_OK;
}

int mr_http_perform(const mr_http_request *req, mr_http_response *res)
{
    transfer t = {res, req->max_body ? req->max_body : MR_HTTP_MAX_BODY, 0};
    res->status = 0;
    res->failure = MR_HTTP_IO;
    res->error[0] = '\0';
    if (ensure_init() < 0) {
        res->curl_code = CURLE_FAILED_INIT;
        snprintf(res->error, sizeof res->error, "%s", curl_missing);
        return -1;
    }
    CURL *c = curl.easy_init();
    if (c == NULL) {
        res->curl_code = CURLE_FAILED_INIT;
        snprintf(res->error, sizeof res->error, "libcurl: no easy handle (out of memory?)");
        return -1;
    }
    struct curl_slist *hl = NULL;
    CURLcode rc = set_request(c, req, &t, &hl);
    if (rc == CURLE_OK)
        rc = curl.easy_perform(c);
    curl_off_t us = 0;
    if (curl.easy_getinfo(c, CURLINFO_TOTAL_TIME_T, &us) == CURLE_OK)
        res->seconds = (double)us / 1e6;
    if (rc == CURLE_OK)
        curl.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res->status);
    curl.easy_cleanup(c);
    curl.slist_free_all(hl);

    res->curl_code = (int)rc;
    res->failure = classify(rc, &t);
    if (res->failure == MR_HTTP_OK)
        return 0;
    if (res->failure == MR_HTTP_TOO_LARGE)
        snprintf(res->error, sizeof res->error, "the response %s more than %zu bytes",
                 t.too_large == t.max_body ? "body has" : "headers have", t.too_large);
    else if (res->failure == MR_HTTP_INTERRUPTED)
        snprintf(res->error, sizeof res->error, "interrupted (Ctrl-C or SIGTERM)");
    else if (res->error[0] == '\0')
        snprintf(res->error, sizeof res->error, "%s", curl.easy_strerror(rc));
    return -1;
}

void mr_http_response_free(mr_http_response *res)
{
    buf_free(&res->headers);
    buf_free(&res->body);
}

const char *mr_http_version(void)
{
    return ensure_init() == 0 ? curl.version() : curl_missing;
}

/* ---------------------------------------------------------------------------------------- */
/* URL redaction */

static int hexval(int c)
{
    return isdigit(c) ? c - '0' : isxdigit(c) ? (tolower(c) - 'a' + 10) : -1;
}

/* Is the parameter name q[0..n) (percent-decoded, any case) a secret's name? Redacting a
** harmless value ("monkey=1") is the safe mistake. */
static int secret_name(const char *q, size_t n)
{
    static const char *const holds[] = {"token",     "key",  "pass",       "secret",
                                        "signature", "auth", "credential", "session"};
    static const char *const exact[] = {"sig", "pwd", "code"};
    char name[128];
    size_t k = 0;
    for (size_t i = 0; i < n && k < sizeof name - 1; i++) {
        int c = (unsigned char)q[i];
        if (c == '%' && i + 2 < n && hexval(q[i + 1]) >= 0 && hexval(q[i + 2]) >= 0) {
            c = hexval(q[i + 1]) * 16 + hexval(q[i + 2]);
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        name[k++] = (char)tolower(c);
    }
    name[k] = '\0';
    for (size_t i = 0; i < MR_COUNT(holds); i++)
        if (strstr(name, holds[i]))
            return 1;
    for (size_t i = 0; i < MR_COUNT(exact); i++)
        if (strcmp(name, exact[i]) == 0)
            return 1;
    return 0;
}

typedef struct {
    char *p;
    size_t len;
} out;

static void put(out *o, const char *s, size_t n)
{
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

/* Copy a parameter list s[0..n) ("a=1&token=x;b"), secret values as "***". */
static void put_params(out *o, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t end = i;
        while (end < n && s[end] != '&' && s[end] != ';')
            end++;
        const char *eq = memchr(s + i, '=', end - i);
        if (eq && secret_name(s + i, (size_t)(eq - (s + i)))) {
            put(o, s + i, (size_t)(eq - (s + i)) + 1);
            put(o, "***", 3);
        } else {
            put(o, s + i, end - i);
        }
        if (end < n)
            put(o, s + end, 1);
        i = end + 1;
    }
}

size_t mr_http_url_redact(const char *url, char *dst)
{
    out o = {dst, 0};
    const char *scheme = strstr(url, "://");
    const char *auth = scheme ? scheme + 3 : url;
    if (scheme && strcspn(url, "/?#") < (size_t)(scheme - url))
        auth = url; /* "://" inside a path or query: there is no scheme */
    const char *auth_end = auth + strcspn(auth, "/?#");
    const char *at = NULL;
    for (const char *p = auth; p < auth_end; p++)
        if (*p == '@')
            at = p;
    put(&o, url, (size_t)(auth - url));
    if (at) {
        const char *colon = memchr(auth, ':', (size_t)(at - auth));
        if (colon)
            put(&o, auth, (size_t)(colon - auth) + 1);
        put(&o, "***", 3);
        auth = at;
    }
    const char *q = auth_end + strcspn(auth_end, "?#");
    put(&o, auth, (size_t)(q - auth));
    while (*q) { /* '?' query, then '#' fragment: both may carry tokens */
        put(&o, q, 1);
        const char *part = q + 1;
        const char *end = *q == '?' ? part + strcspn(part, "#") : part + strlen(part);
        put_params(&o, part, (size_t)(end - part));
        q = end;
    }
    o.p[o.len] = '\0';
    return o.len;
}
