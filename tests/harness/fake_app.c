/*
** fake_app.c: a fake application for the specs: a small HTTP/1.1 server (one process, plain
** sockets and poll) on 127.0.0.1 that answers by rules and logs every request as a JSON line.
** Test harness only: not part of migrun. Usage:
**
**   fake_app [--port N] [--log FILE] [--ready FILE] [--route RULE]... [--routes FILE]
**            [--delay "PATH MS"]...
**
** --port 0 (the default) takes a free port; the port is written to the ready file (renamed
** into place, so a reader never sees half of it) once the server accepts connections.
** RULE: "METHOD PATH STATUS [+Name:value]... [BODY]": METHOD may be *, PATH may end in * (a
** prefix); the newest matching rule wins; no match is 404. STATUS 0 closes the connection
** without an answer. BODY "@echo" answers the request as JSON (as logged); "@bytes:N" is N
** bytes of 'x'. A GET rule answers HEAD too. The content type is JSON when the body starts
** with { or [, else text/plain, unless a +Content-Type:... header says otherwise. --delay
** waits MS ms before answering requests for PATH (exact or prefix*). A routes file holds
** one RULE a line (# comments). Control (never logged): PUT /__route with a RULE as the body
** adds it; PUT /__delay with "PATH MS" sets a delay; GET /__ping answers 200. Each
** connection is closed after one answer.
** A log line: {"seq":N,"method":..,"path":..,"query":..,"headers":{lowercased: value},"body":..}
*/
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS    128
#define MAX_HEAD     (64 * 1024)
#define MAX_BODY     (64 * 1024 * 1024)
#define MAX_HEADERS  64
#define DRAIN_MS     2000
#define MAX_RESPONSE (256 * 1024 * 1024)

/* ---- growing strings ---- */

typedef struct {
    char *p;
    size_t len, cap;
} sb;

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fake_app: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void sb_add(sb *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL)
            die("out of memory");
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(sb *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static void sb_printf(sb *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp)
        die("sb_printf: line too long");
    sb_add(b, tmp, (size_t)n);
}

static void sb_json(sb *b, const char *s, size_t n)
{
    sb_add(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            sb_add(b, esc, 2);
        } else if (c < 0x20) {
            sb_printf(b, "\\u%04x", c);
        } else {
            sb_add(b, (const char *)&c, 1);
        }
    }
    sb_add(b, "\"", 1);
}

static void sb_free(sb *b)
{
    free(b->p);
    *b = (sb){0};
}

static char *xstrndup(const char *s, size_t n)
{
    char *p = strndup(s, n);
    if (p == NULL)
        die("out of memory");
    return p;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- rules ---- */

typedef struct rule {
    char *method, *path; /* path may end in '*' */
    int status;
    char *headers; /* "Name: value\r\n" lines */
    char *body;
    struct rule *next; /* older rules */
} rule;

typedef struct delay {
    char *path;
    int ms;
    struct delay *next;
} delay;

static rule *rules;
static delay *delays;

static int path_matches(const char *pattern, const char *path)
{
    size_t n = strlen(pattern);
    if (n > 0 && pattern[n - 1] == '*')
        return strncmp(pattern, path, n - 1) == 0;
    return strcmp(pattern, path) == 0;
}

/* Parse "METHOD PATH STATUS [+Name:value]... [BODY]"; NULL and a message in err when bad. */
static rule *parse_rule(const char *s, char *err, size_t errlen)
{
    while (*s == ' ')
        s++;
    const char *tok[3];
    size_t len[3];
    for (int i = 0; i < 3; i++) {
        tok[i] = s;
        len[i] = strcspn(s, " \r\n");
        if (len[i] == 0) {
            snprintf(err, errlen, "a rule is METHOD PATH STATUS [BODY]");
            return NULL;
        }
        s += len[i];
        while (*s == ' ')
            s++;
    }
    char *end;
    long status = strtol(tok[2], &end, 10);
    if (end != tok[2] + len[2] || status < 0 || status > 999) {
        snprintf(err, errlen, "bad status in rule");
        return NULL;
    }
    sb h = {0};
    while (*s == '+') {
        size_t n = strcspn(s, " \r\n");
        const char *colon = memchr(s, ':', n);
        if (colon == NULL) {
            snprintf(err, errlen, "a rule header is +Name:value");
            sb_free(&h);
            return NULL;
        }
        sb_add(&h, s + 1, (size_t)(colon - s - 1));
        sb_str(&h, ": ");
        sb_add(&h, colon + 1, n - (size_t)(colon + 1 - s));
        sb_str(&h, "\r\n");
        s += n;
        while (*s == ' ')
            s++;
    }
    rule *r = calloc(1, sizeof *r);
    if (r == NULL)
        die("out of memory");
    r->method = xstrndup(tok[0], len[0]);
    r->path = xstrndup(tok[1], len[1]);
    r->status = (int)status;
    r->headers = h.p ? h.p : xstrndup("", 0);
    size_t blen = strlen(s);
    while (blen > 0 && (s[blen - 1] == '\n' || s[blen - 1] == '\r'))
        blen--;
    r->body = xstrndup(s, blen);
    return r;
}

static int add_rule(const char *s, char *err, size_t errlen)
{
    rule *r = parse_rule(s, err, errlen);
    if (r == NULL)
        return -1;
    r->next = rules;
    rules = r;
    return 0;
}

static int add_delay(const char *s, char *err, size_t errlen)
{
    char path[1024];
    int ms;
    if (sscanf(s, " %1023s %d", path, &ms) != 2 || ms < 0) {
        snprintf(err, errlen, "a delay is \"PATH MS\"");
        return -1;
    }
    delay *d = calloc(1, sizeof *d);
    if (d == NULL)
        die("out of memory");
    d->path = xstrndup(path, strlen(path));
    d->ms = ms;
    d->next = delays;
    delays = d;
    return 0;
}

static void free_rules(void)
{
    while (rules) {
        rule *r = rules;
        rules = r->next;
        free(r->method), free(r->path), free(r->headers), free(r->body), free(r);
    }
    while (delays) {
        delay *d = delays;
        delays = d->next;
        free(d->path), free(d);
    }
}

/* ---- requests ---- */

typedef struct {
    char *method, *path, *query;
    int nh;
    char *hname[MAX_HEADERS], *hvalue[MAX_HEADERS]; /* names lowercased */
    char *body;
    size_t body_len;
} request;

static void request_free(request *q)
{
    free(q->method), free(q->path), free(q->query), free(q->body);
    for (int i = 0; i < q->nh; i++)
        free(q->hname[i]), free(q->hvalue[i]);
    *q = (request){0};
}

static const char *header(const request *q, const char *name)
{
    for (int i = q->nh - 1; i >= 0; i--)
        if (strcmp(q->hname[i], name) == 0)
            return q->hvalue[i];
    return NULL;
}

static long seq = 0;

static void request_json(sb *b, const request *q, long n)
{
    sb_printf(b, "{\"seq\":%ld,\"method\":", n);
    sb_json(b, q->method, strlen(q->method));
    sb_str(b, ",\"path\":");
    sb_json(b, q->path, strlen(q->path));
    sb_str(b, ",\"query\":");
    sb_json(b, q->query, strlen(q->query));
    sb_str(b, ",\"headers\":{");
    int first = 1;
    for (int i = 0; i < q->nh; i++) {
        if (header(q, q->hname[i]) != q->hvalue[i])
            continue; /* a repeated header: the last one */
        if (!first)
            sb_str(b, ",");
        first = 0;
        sb_json(b, q->hname[i], strlen(q->hname[i]));
        sb_str(b, ":");
        sb_json(b, q->hvalue[i], strlen(q->hvalue[i]));
    }
    sb_str(b, "},\"body\":");
    sb_json(b, q->body ? q->body : "", q->body_len);
    sb_str(b, "}");
}

/* ---- connections ---- */

enum { READING, WAITING, WRITING, DRAINING };

typedef struct {
    int fd; /* -1: free slot */
    int state;
    sb in;
    sb out;
    size_t out_off;
    int64_t due; /* WAITING: when to answer; DRAINING: when to give up */
} conn;

static conn conns[MAX_CONNS];
static FILE *logf;
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 409:
        return "Conflict";
    case 413:
        return "Content Too Large";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Status";
    }
}

static void conn_close(conn *c)
{
    close(c->fd);
    c->fd = -1;
    sb_free(&c->in);
    sb_free(&c->out);
    c->out_off = 0;
}

/* Queue an answer; delay_ms > 0 holds it back that long. */
static void respond(conn *c, int status, const char *headers, const char *body, size_t len,
                    int head_only, int delay_ms)
{
    const char *type =
        (len > 0 && (body[0] == '{' || body[0] == '[')) ? "application/json" : "text/plain";
    sb_printf(&c->out, "HTTP/1.1 %d %s\r\n", status, reason(status));
    if (strcasestr(headers, "content-type:") == NULL && status != 204 && status != 304)
        sb_printf(&c->out, "Content-Type: %s\r\n", type);
    sb_str(&c->out, headers);
    sb_printf(&c->out, "X-Fake-Seq: %ld\r\nConnection: close\r\n", seq);
    if (status != 204 && status != 304)
        sb_printf(&c->out, "Content-Length: %zu\r\n", len);
    sb_str(&c->out, "\r\n");
    if (!head_only && status != 204 && status != 304)
        sb_add(&c->out, body, len);
    c->state = WAITING;
    c->due = now_ms() + delay_ms;
}

static void answer_rule(conn *c, const request *q, const rule *r, int delay_ms)
{
    int head = strcmp(q->method, "HEAD") == 0;
    if (strcmp(r->body, "@echo") == 0) {
        sb j = {0};
        request_json(&j, q, seq);
        respond(c, r->status, r->headers, j.p, j.len, head, delay_ms);
        sb_free(&j);
    } else if (strncmp(r->body, "@bytes:", 7) == 0) {
        size_t n = strtoul(r->body + 7, NULL, 10);
        if (n > MAX_RESPONSE)
            n = MAX_RESPONSE;
        char *p = malloc(n + 1);
        if (p == NULL)
            die("out of memory");
        memset(p, 'x', n);
        respond(c, r->status, r->headers, p, n, head, delay_ms);
        free(p);
    } else {
        respond(c, r->status, r->headers, r->body, strlen(r->body), head, delay_ms);
    }
}

static void control(conn *c, const request *q)
{
    char err[256] = "";
    int rc = 0;
    const char *body = q->body ? q->body : "";
    if (strcmp(q->path, "/__ping") == 0)
        rc = 0;
    else if (strcmp(q->path, "/__route") == 0 && strcmp(q->method, "PUT") == 0)
        rc = add_rule(body, err, sizeof err);
    else if (strcmp(q->path, "/__delay") == 0 && strcmp(q->method, "PUT") == 0)
        rc = add_delay(body, err, sizeof err);
    else
        rc = -1, snprintf(err, sizeof err, "unknown control request");
    if (rc == 0)
        respond(c, strcmp(q->path, "/__ping") == 0 ? 200 : 204, "", "pong", 4, 0, 0);
    else
        respond(c, 400, "", err, strlen(err), 0, 0);
}

static void handle(conn *c, request *q)
{
    if (strncmp(q->path, "/__", 3) == 0) {
        control(c, q);
        return;
    }
    seq++;
    if (logf) {
        sb line = {0};
        request_json(&line, q, seq);
        sb_str(&line, "\n");
        fwrite(line.p, 1, line.len, logf);
        fflush(logf);
        sb_free(&line);
    }
    int delay_ms = 0;
    for (delay *d = delays; d; d = d->next)
        if (path_matches(d->path, q->path)) {
            delay_ms = d->ms;
            break;
        }
    for (rule *r = rules; r; r = r->next) {
        if ((strcmp(r->method, "*") == 0 || strcmp(r->method, q->method) == 0 ||
             (strcmp(r->method, "GET") == 0 && strcmp(q->method, "HEAD") == 0)) &&
            path_matches(r->path, q->path)) {
            if (r->status == 0) { /* hang up without a word (after the delay) */
                c->state = WAITING;
                c->due = now_ms() + delay_ms;
                c->out_off = (size_t)-1;
                return;
            }
            answer_rule(c, q, r, delay_ms);
            return;
        }
    }
    const char *nf = "{\"error\":\"no route\"}";
    respond(c, 404, "", nf, strlen(nf), 0, delay_ms);
}

/* Parse c->in once the head is complete. 1: a request was handled (or refused); 0: needs
** more bytes. */
static int parse(conn *c)
{
    const char *in = c->in.p;
    size_t n = c->in.len;
    /* not HTTP at all (a TLS ClientHello): refuse at once rather than wait for a blank line */
    if (n > 0 && !isupper((unsigned char)in[0])) {
        respond(c, 400, "", "not HTTP", 8, 0, 0);
        return 1;
    }
    const char *end = n >= 4 ? memmem(in, n, "\r\n\r\n", 4) : NULL;
    if (end == NULL) {
        if (n > MAX_HEAD) {
            respond(c, 431, "", "head too large", 14, 0, 0);
            return 1;
        }
        return 0;
    }
    size_t head_len = (size_t)(end - in) + 4;
    request q = {0};
    const char *line_end = memmem(in, head_len, "\r\n", 2);
    char method[32], target[8192], version[16];
    char first[8300];
    size_t flen = (size_t)(line_end - in);
    if (flen >= sizeof first || (memcpy(first, in, flen), first[flen] = '\0',
                                 sscanf(first, "%31s %8191s %15s", method, target, version)) != 3) {
        respond(c, 400, "", "bad request line", 16, 0, 0);
        return 1;
    }
    q.method = xstrndup(method, strlen(method));
    size_t plen = strcspn(target, "?");
    q.path = xstrndup(target, plen);
    const char *query = target[plen] ? target + plen + 1 : "";
    q.query = xstrndup(query, strlen(query));
    const char *p = line_end + 2;
    while (p < end) {
        const char *le = memmem(p, (size_t)(end + 2 - p), "\r\n", 2);
        const char *colon = memchr(p, ':', (size_t)(le - p));
        if (colon && q.nh < MAX_HEADERS) {
            const char *v = colon + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            const char *ve = le;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            char *name = xstrndup(p, (size_t)(colon - p));
            for (char *k = name; *k; k++)
                *k = (char)tolower((unsigned char)*k);
            q.hname[q.nh] = name;
            q.hvalue[q.nh++] = xstrndup(v, (size_t)(ve - v));
        }
        p = le + 2;
    }
    const char *te = header(&q, "transfer-encoding");
    if (te && strcasecmp(te, "identity") != 0) {
        respond(c, 501, "", "chunked bodies are not supported", 32, 0, 0);
        request_free(&q);
        return 1;
    }
    const char *cl = header(&q, "content-length");
    size_t want = cl ? strtoul(cl, NULL, 10) : 0;
    if (want > MAX_BODY) {
        respond(c, 413, "", "body too large", 14, 0, 0);
        request_free(&q);
        return 1;
    }
    if (n < head_len + want) {
        request_free(&q);
        return 0;
    }
    q.body = xstrndup(in + head_len, want);
    q.body_len = want;
    handle(c, &q);
    request_free(&q);
    return 1;
}

static void on_readable(conn *c)
{
    char buf[65536];
    ssize_t r = recv(c->fd, buf, sizeof buf, 0);
    if (c->state == DRAINING) {
        if (r <= 0 && !(r < 0 && (errno == EAGAIN || errno == EINTR)))
            conn_close(c);
        return;
    }
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        conn_close(c); /* the client went away before asking */
        return;
    }
    if (r < 0)
        return;
    sb_add(&c->in, buf, (size_t)r);
    parse(c);
}

static void on_writable(conn *c)
{
    if (c->out_off == (size_t)-1) { /* a status-0 rule: hang up */
        conn_close(c);
        return;
    }
    ssize_t w = send(c->fd, c->out.p + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
    if (w < 0) {
        if (errno != EAGAIN && errno != EINTR)
            conn_close(c);
        return;
    }
    c->out_off += (size_t)w;
    if (c->out_off == c->out.len) {
        /* all sent: stop writing, read until the client closes (no RST on unread bytes) */
        shutdown(c->fd, SHUT_WR);
        c->state = DRAINING;
        c->due = now_ms() + DRAIN_MS;
    }
}

static void write_ready(const char *path, int port)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        die("cannot write %s: %s", tmp, strerror(errno));
    fprintf(f, "%d\n", port);
    if (fclose(f) != 0 || rename(tmp, path) != 0)
        die("cannot write %s: %s", path, strerror(errno));
}

static void load_routes(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        die("cannot read %s: %s", path, strerror(errno));
    char line[8192], err[256];
    while (fgets(line, sizeof line, f)) {
        const char *s = line + strspn(line, " \t");
        if (*s == '#' || *s == '\n' || *s == '\0')
            continue;
        if (add_rule(s, err, sizeof err) < 0)
            die("%s: %s: %s", path, err, line);
    }
    fclose(f);
}

int main(int argc, char **argv)
{
    int port = 0;
    const char *log_path = NULL, *ready = NULL;
    char err[256];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            die("%s needs a value", a);
        const char *v = argv[++i];
        if (strcmp(a, "--port") == 0)
            port = atoi(v);
        else if (strcmp(a, "--log") == 0)
            log_path = v;
        else if (strcmp(a, "--ready") == 0)
            ready = v;
        else if (strcmp(a, "--routes") == 0)
            load_routes(v);
        else if (strcmp(a, "--route") == 0) {
            if (add_rule(v, err, sizeof err) < 0)
                die("--route %s: %s", v, err);
        } else if (strcmp(a, "--delay") == 0) {
            if (add_delay(v, err, sizeof err) < 0)
                die("--delay %s: %s", v, err);
        } else
            die("unknown option %s", a);
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_signal; /* no SA_RESTART: poll returns, the loop sees stop */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (log_path && (logf = fopen(log_path, "a")) == NULL)
        die("cannot open %s: %s", log_path, strerror(errno));
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0)
        die("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, 64) < 0)
        die("bind 127.0.0.1:%d: %s", port, strerror(errno));
    socklen_t alen = sizeof addr;
    getsockname(lfd, (struct sockaddr *)&addr, &alen);
    if (ready)
        write_ready(ready, ntohs(addr.sin_port));
    for (int i = 0; i < MAX_CONNS; i++)
        conns[i].fd = -1;

    while (!stop) {
        struct pollfd pfd[MAX_CONNS + 1];
        int map[MAX_CONNS + 1];
        int n = 0;
        int64_t now = now_ms(), wait = -1;
        pfd[n] = (struct pollfd){.fd = lfd, .events = POLLIN};
        map[n++] = -1;
        for (int i = 0; i < MAX_CONNS; i++) {
            conn *c = &conns[i];
            if (c->fd < 0)
                continue;
            short ev = 0;
            if (c->state == READING || c->state == DRAINING)
                ev = POLLIN;
            if (c->state == WAITING && c->due <= now)
                c->state = WRITING;
            if (c->state == WRITING)
                ev = POLLOUT;
            if (c->state == DRAINING && c->due <= now) {
                conn_close(c);
                continue;
            }
            if (c->state == WAITING || c->state == DRAINING) {
                int64_t left = c->due - now;
                if (wait < 0 || left < wait)
                    wait = left;
            }
            pfd[n] = (struct pollfd){.fd = c->fd, .events = ev};
            map[n++] = i;
        }
        int r = poll(pfd, (nfds_t)n, (int)(wait < 0 ? -1 : wait + 1));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            die("poll: %s", strerror(errno));
        }
        for (int k = 1; k < n; k++) {
            conn *c = &conns[map[k]];
            if (c->fd < 0 || pfd[k].revents == 0)
                continue;
            if (pfd[k].revents & POLLOUT)
                on_writable(c);
            else if (pfd[k].revents & (POLLIN | POLLHUP | POLLERR))
                on_readable(c);
        }
        if (pfd[0].revents & POLLIN) {
            for (;;) {
                int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0)
                    break;
                int slot = -1;
                for (int i = 0; i < MAX_CONNS && slot < 0; i++)
                    if (conns[i].fd < 0)
                        slot = i;
                if (slot < 0) {
                    close(fd);
                    continue;
                }
                conns[slot] = (conn){.fd = fd, .state = READING};
            }
        }
    }
    for (int i = 0; i < MAX_CONNS; i++)
        if (conns[i].fd >= 0)
            conn_close(&conns[i]);
    close(lfd);
    if (logf)
        fclose(logf);
    free_rules();
    return 0;
}
