/*
** bench/delayproxy.c: a TCP proxy that delays every byte by DELAY_US microseconds in each
** direction, for benchmarks of a server "1 ms away" where tc netem is not available (a
** container without the sch_netem module). Listens on 127.0.0.1:PORT and forwards each
** connection to a Unix socket (PostgreSQL's) or host:port. Single-threaded: ppoll with
** nanosecond timeouts, a FIFO of timestamped chunks per direction. Not part of migrun.
**   cc -O2 -o delayproxy bench/delayproxy.c
**   delayproxy PORT /path/.s.PGSQL.5432 DELAY_US      (or HOST:PORT as the target)
*/
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAXC 64

typedef struct chunk {
    struct chunk *next;
    int64_t due;
    size_t len, off;
    char data[];
} chunk;

typedef struct {
    int fd[2];             /* 0: client, 1: server */
    chunk *head[2], *tail[2]; /* head[d]: bytes read from fd[d], to write to fd[!d] */
    int open;
} pair;

static pair pairs[MAXC];
static int64_t delay_ns;
static const char *target;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int connect_target(void)
{
    int fd;
    if (target[0] == '/') {
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        snprintf(a.sun_path, sizeof a.sun_path, "%s", target);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
            if (fd >= 0)
                close(fd);
            return -1;
        }
        return fd;
    }
    char host[256];
    snprintf(host, sizeof host, "%s", target);
    char *colon = strrchr(host, ':');
    if (!colon)
        return -1;
    *colon = '\0';
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
        return -1;
    fd = socket(res->ai_family, SOCK_STREAM, 0);
    if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
}

static void close_pair(pair *p)
{
    for (int d = 0; d < 2; d++) {
        close(p->fd[d]);
        while (p->head[d]) {
            chunk *c = p->head[d];
            p->head[d] = c->next;
            free(c);
        }
        p->tail[d] = NULL;
    }
    p->open = 0;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: delayproxy PORT TARGET DELAY_US\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    target = argv[2];
    delay_ns = atoll(argv[3]) * 1000;
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 16) < 0) {
        perror("delayproxy: listen");
        return 1;
    }
    for (;;) {
        struct pollfd pfd[1 + 2 * MAXC];
        int map[1 + 2 * MAXC];
        int n = 0;
        pfd[n++] = (struct pollfd){.fd = ls, .events = POLLIN};
        int64_t now = now_ns(), next = -1;
        for (int i = 0; i < MAXC; i++) {
            pair *p = &pairs[i];
            if (!p->open)
                continue;
            for (int d = 0; d < 2; d++) {
                map[n] = i * 2 + d;
                short ev = POLLIN;
                chunk *c = p->head[!d]; /* what waits to be written to fd[d] */
                if (c && c->due <= now)
                    ev |= POLLOUT;
                else if (c && (next < 0 || c->due < next))
                    next = c->due;
                pfd[n++] = (struct pollfd){.fd = p->fd[d], .events = ev};
            }
        }
        struct timespec ts, *tp = NULL;
        if (next >= 0) {
            int64_t w = next - now;
            if (w < 0)
                w = 0;
            ts.tv_sec = w / 1000000000;
            ts.tv_nsec = w % 1000000000;
            tp = &ts;
        }
        if (ppoll(pfd, (nfds_t)n, tp, NULL) < 0 && errno != EINTR)
            return 1;
        if (pfd[0].revents & POLLIN) {
            int cfd = accept(ls, NULL, NULL);
            int sfd = cfd >= 0 ? connect_target() : -1;
            int slot = -1;
            for (int i = 0; i < MAXC && slot < 0; i++)
                if (!pairs[i].open)
                    slot = i;
            if (cfd >= 0 && (sfd < 0 || slot < 0)) {
                close(cfd);
                if (sfd >= 0)
                    close(sfd);
            } else if (cfd >= 0) {
                setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                pairs[slot] = (pair){.fd = {cfd, sfd}, .open = 1};
            }
        }
        now = now_ns();
        for (int k = 1; k < n; k++) {
            pair *p = &pairs[map[k] / 2];
            int d = map[k] % 2;
            if (!p->open)
                continue;
            if (pfd[k].revents & POLLOUT) {
                while (p->head[!d] && p->head[!d]->due <= now) {
                    chunk *c = p->head[!d];
                    ssize_t w = write(p->fd[d], c->data + c->off, c->len - c->off);
                    if (w < 0 && errno == EAGAIN)
                        break;
                    if (w <= 0) {
                        close_pair(p);
                        break;
                    }
                    c->off += (size_t)w;
                    if (c->off < c->len)
                        break;
                    p->head[!d] = c->next;
                    if (!p->head[!d])
                        p->tail[!d] = NULL;
                    free(c);
                }
                if (!p->open)
                    continue;
            }
            if (pfd[k].revents & (POLLIN | POLLHUP | POLLERR)) {
                chunk *c = malloc(sizeof *c + 65536);
                ssize_t r = c ? read(p->fd[d], c->data, 65536) : -1;
                if (r <= 0) {
                    free(c);
                    close_pair(p);
                    continue;
                }
                c->len = (size_t)r;
                c->off = 0;
                c->due = now + delay_ns;
                c->next = NULL;
                if (p->tail[d])
                    p->tail[d]->next = c;
                else
                    p->head[d] = c;
                p->tail[d] = c;
            }
        }
    }
}
