/*
** http.h: one HTTP request over libcurl's easy API (pure C, no Lua). Callbacks only append to
** C buffers; Ctrl-C (mr_interrupted) aborts a transfer. Retries, JSON and secrets are policy:
** lua/migrun/http.lua.
*/
#ifndef MR_HTTP_H
#define MR_HTTP_H

#include <stddef.h>
#include <stdint.h>

#define MR_HTTP_MAX_BODY ((size_t)16 << 20) /* default cap on a response body */

/* Why a request got no response (mr_http_response.failure). */
typedef enum {
    MR_HTTP_OK = 0,
    MR_HTTP_TIMEOUT,     /* connect or total timeout */
    MR_HTTP_REFUSED,     /* could not connect (refused, unreachable) */
    MR_HTTP_TLS,         /* handshake or certificate verification */
    MR_HTTP_DNS,         /* host name did not resolve */
    MR_HTTP_INTERRUPTED, /* mr_interrupted was set (Ctrl-C, SIGTERM) */
    MR_HTTP_TOO_LARGE,   /* the body passed max_body */
    MR_HTTP_URL,         /* malformed URL or a scheme other than http/https */
    MR_HTTP_IO,          /* anything else: reset, empty reply, bad reply, out of memory */
} mr_http_failure;

typedef struct {
    const char *method;         /* "GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", ... */
    const char *url;            /* http:// or https:// only */
    const char *const *headers; /* NULL-terminated "Name: value" lines, or NULL; sent as they
                                ** are (curl adds no Content-Type of its own) */
    const char *body;           /* NULL: no body */
    size_t body_len;
    int64_t timeout_ms;         /* whole transfer; 0 = no limit */
    int64_t connect_timeout_ms; /* 0 = curl's default (300 s, capped by timeout_ms) */
    int insecure;               /* 1: skip TLS peer and host verification */
    const char *cafile;         /* NULL: the system's CA store */
    size_t max_body;            /* 0: MR_HTTP_MAX_BODY */
} mr_http_request;

typedef struct {
    char *data; /* malloc'd, NUL-terminated when not NULL */
    size_t len, cap;
} mr_http_buf;

typedef struct {
    long status;         /* the final response's status (0 when none arrived) */
    mr_http_buf headers; /* the final response's header lines, "Name: value\r\n" each */
    mr_http_buf body;
    double seconds;          /* total time of the transfer */
    mr_http_failure failure; /* MR_HTTP_OK when a response arrived (whatever its status) */
    int curl_code;           /* CURLcode of the transfer */
    char error[256];         /* curl's message on failure (CURL_ERROR_SIZE) */
} mr_http_response;

/* Run one request, filling *res (which must start zeroed). Returns 0 when a response arrived
** (any status), -1 with res->failure, res->curl_code and res->error otherwise. Either way the
** caller frees res with mr_http_response_free. Never calls back into anything but C. */
int mr_http_perform(const mr_http_request *req, mr_http_response *res);

void mr_http_response_free(mr_http_response *res);

/* The bytes mr_http_url_redact may write for a URL of len bytes (each redaction turns >= 0
** bytes into 3, so never more than 4 out per byte in, plus the NUL). */
#define MR_HTTP_REDACT_SIZE(len) (4 * (size_t)(len) + 8)

/* Write into out (MR_HTTP_REDACT_SIZE(strlen(url)) bytes) the URL with its user info
** ("user:pass@" -> "user:***@"; a lone user, often a token, -> "***@") and the values of
** secret-looking query and fragment parameters (names holding token, key, pass, secret,
** signature, auth, credential or session, or exactly sig, pwd or code) replaced by "***".
** Returns the length written (out is NUL-terminated). */
size_t mr_http_url_redact(const char *url, char *out);

/* The libcurl version string, e.g. "libcurl/7.88.1 OpenSSL/3.0.15 ..." */
const char *mr_http_version(void);

#endif
