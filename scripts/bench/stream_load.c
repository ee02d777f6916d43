/*
 * The streaming bench's load client (scripts/bench.sh): N WebSocket
 * clients of GET /api/v1/streaming?stream=public on 127.0.0.1, plain
 * sockets and epoll.
 *
 *   stream_load PORT TOKEN N idle SECONDS READYFILE
 *       connects, writes READYFILE once all are upgraded, holds SECONDS
 *   stream_load PORT TOKEN N latency POSTS
 *       POSTs POSTS public statuses one after another (each once every
 *       client got the previous one) and prints the post-to-client
 *       latencies' p50 and p99 in ms
 *   stream_load PORT TOKEN N rate REDISPORT EVENTS PAYLOADFILE
 *       PUBLISHes EVENTS update events with the payload on timeline:public,
 *       WAVE at a time, and prints the events delivered a second
 *
 * Bounded: every wait ends after 30 s; what arrived by then is reported.
 */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF   65536
#define WAVE  5

typedef struct {
    int       fd;
    int       upgraded;
    size_t    len;            /* bytes in buf */
    uint64_t  skip;           /* of a frame too large for buf */
    long      got;            /* update events */
    long      last;           /* latency: the last marker seen */
    char     *buf;
} client_t;

static client_t  *clients;
static int        nclients, ep, port;
static char      *token;
static int        parse_frames;
static int        marker;           /* latency: the post awaited */
static double     posted_at;
static double    *lat;
static long       nlat;

static double
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int
connect_to(int p)
{
    int                 fd, one = 1;
    struct sockaddr_in  sa;

    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(p);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static int
write_all(int fd, const char *s, size_t n)
{
    ssize_t  w;

    while (n) {
        w = write(fd, s, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return -1;
        }
        s += w;
        n -= w;
    }

    return 0;
}

static void
frame(client_t *c, unsigned op, const char *p, size_t n)
{
    char  m[32];

    if (op != 1 || n < 20 || memcmp(p, "{\"stream\":", 10) != 0
        || memmem(p, n, "\"event\":\"update\"", 16) == NULL)
    {
        return;
    }

    c->got++;

    if (marker) {
        snprintf(m, sizeof(m), "lat%dx", marker);
        if (c->last != marker && memmem(p, n, m, strlen(m))) {
            c->last = marker;
            lat[nlat++] = now_ms() - posted_at;
        }
    }
}

/* text frames of the server (unmasked) out of c->buf */
static void
frames(client_t *c)
{
    unsigned char  *p;
    size_t          off, hl;
    uint64_t        n;

    off = 0;
    p = (unsigned char *) c->buf;

    while (c->len - off >= 2) {
        n = p[off + 1] & 0x7f;
        hl = 2;
        if (n == 126) {
            if (c->len - off < 4) break;
            n = (p[off + 2] << 8) | p[off + 3];
            hl = 4;
        } else if (n == 127) {
            if (c->len - off < 10) break;
            n = 0;
            for (int i = 0; i < 8; i++) n = (n << 8) | p[off + 2 + i];
            hl = 10;
        }

        if (hl + n > BUF) {
            /* not ours to read: skipped */
            c->skip = hl + n - (c->len - off);
            c->len = 0;
            return;
        }

        if (c->len - off < hl + n) break;

        frame(c, p[off] & 0x0f, (char *) p + off + hl, n);
        off += hl + n;
    }

    memmove(c->buf, c->buf + off, c->len - off);
    c->len -= off;
}

static void
readable(client_t *c)
{
    char     tmp[BUF], *e;
    ssize_t  r;
    size_t   take;

    for ( ;; ) {
        if (!parse_frames || !c->upgraded) {
            r = read(c->fd, tmp, sizeof(tmp));
            if (r <= 0) {
                return;
            }
            if (!c->upgraded) {
                if (memmem(tmp, r, "HTTP/1.1 101", 12) == NULL) {
                    fprintf(stderr, "stream_load: not upgraded: %.*s\n",
                            (int) (r > 200 ? 200 : r), tmp);
                    exit(1);
                }
                c->upgraded = 1;
                e = memmem(tmp, r, "\r\n\r\n", 4);
                if (parse_frames && e && e + 4 < tmp + r) {
                    c->len = tmp + r - (e + 4);
                    memcpy(c->buf, e + 4, c->len);
                    frames(c);
                }
            }
            continue;
        }

        r = read(c->fd, c->buf + c->len, BUF - c->len);
        if (r <= 0) {
            return;
        }

        if (c->skip) {
            take = (uint64_t) r < c->skip ? (size_t) r : c->skip;
            c->skip -= take;
            memmove(c->buf + c->len, c->buf + c->len + take, r - take);
            r -= take;
        }

        c->len += r;
        frames(c);
    }
}

static void
pump(int ms)
{
    int                 i, n;
    struct epoll_event  ev[256];

    n = epoll_wait(ep, ev, 256, ms);
    for (i = 0; i < n; i++) {
        readable(&clients[ev[i].data.u32]);
    }
}

static int
upgraded(void)
{
    int  i, k = 0;

    for (i = 0; i < nclients; i++) {
        k += clients[i].upgraded;
    }

    return k;
}

static void
connect_all(void)
{
    int                 i, fd, batch;
    char                req[512];
    double              until;
    struct epoll_event  ev;

    snprintf(req, sizeof(req),
             "GET /api/v1/streaming?stream=public&access_token=%s HTTP/1.1\r\n"
             "Host: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             "Sec-WebSocket-Version: 13\r\n\r\n", token);

    for (i = 0; i < nclients; i += batch) {
        batch = nclients - i < 200 ? nclients - i : 200;

        for (int k = i; k < i + batch; k++) {
            fd = connect_to(port);
            if (fd < 0 || write_all(fd, req, strlen(req)) != 0) {
                perror("stream_load: connect");
                exit(1);
            }
            fcntl(fd, F_SETFL, O_NONBLOCK);
            clients[k].fd = fd;
            if (parse_frames) {
                clients[k].buf = malloc(BUF);
            }
            ev.events = EPOLLIN;
            ev.data.u32 = k;
            epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        }

        until = now_ms() + 30000;
        while (upgraded() < i + batch && now_ms() < until) {
            pump(100);
        }

        if (upgraded() < i + batch) {
            fprintf(stderr, "stream_load: %d of %d upgraded\n", upgraded(),
                    i + batch);
            exit(1);
        }
    }
}

static int
cmp(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;

    return x < y ? -1 : x > y;
}

static void
post(int n)
{
    int   fd;
    char  body[64], req[1024], tmp[4096];

    snprintf(body, sizeof(body), "status=stream+bench+lat%dx&visibility=public",
             n);
    snprintf(req, sizeof(req),
             "POST /api/v1/statuses HTTP/1.1\r\nHost: localhost\r\n"
             "Authorization: Bearer %s\r\nConnection: close\r\n"
             "Content-Type: application/x-www-form-urlencoded\r\n"
             "Content-Length: %zu\r\n\r\n%s", token, strlen(body), body);

    fd = connect_to(port);
    marker = n;
    posted_at = now_ms();
    if (fd < 0 || write_all(fd, req, strlen(req)) != 0) {
        perror("stream_load: post");
        exit(1);
    }
    while (read(fd, tmp, sizeof(tmp)) > 0) { }
    close(fd);
}

static int
all_have(long n)
{
    int  i;

    for (i = 0; i < nclients; i++) {
        if (clients[i].got < n) return 0;
    }

    return 1;
}

int
main(int argc, char **argv)
{
    int     i, n, rfd, events;
    long    total, posts;
    char   *payload, *cmd, hdr[64];
    FILE   *f;
    size_t  plen;
    double  t0, until;

    if (argc < 6) {
        fprintf(stderr, "usage: see the comment of stream_load.c\n");
        return 2;
    }

    port = atoi(argv[1]);
    token = argv[2];
    nclients = atoi(argv[3]);
    clients = calloc(nclients, sizeof(client_t));
    ep = epoll_create1(0);
    parse_frames = strcmp(argv[4], "idle") != 0;

    connect_all();

    if (strcmp(argv[4], "idle") == 0 && argc >= 7) {
        f = fopen(argv[6], "w");
        if (f) fclose(f);
        until = now_ms() + atoi(argv[5]) * 1000.0;
        while (now_ms() < until) pump(200);
        return 0;
    }

    if (strcmp(argv[4], "latency") == 0) {
        posts = atol(argv[5]);
        lat = calloc(posts * nclients + 1, sizeof(double));
        for (n = 1; n <= posts; n++) {
            post(n);
            until = now_ms() + 30000;
            while (now_ms() < until) {
                for (i = 0; i < nclients && clients[i].last == n; i++) { }
                if (i == nclients) break;
                pump(50);
            }
        }
        qsort(lat, nlat, sizeof(double), cmp);
        if (nlat == 0) {
            printf("no events\n");
            return 1;
        }
        printf("%.1f %.1f %ld %ld\n", lat[nlat / 2],
               lat[(long) (nlat * 0.99) < nlat ? (long) (nlat * 0.99)
                                               : nlat - 1],
               nlat, posts * nclients);
        return 0;
    }

    if (strcmp(argv[4], "rate") == 0 && argc >= 8) {
        events = atoi(argv[6]);
        f = fopen(argv[7], "r");
        if (f == NULL) return 1;
        payload = malloc(BUF);
        plen = fread(payload, 1, BUF - 1, f);
        fclose(f);
        while (plen && (payload[plen - 1] == '\n')) plen--;

        /* {"event":"update","payload":<payload>} */
        cmd = malloc(plen + 256);
        n = snprintf(hdr, sizeof(hdr), "{\"event\":\"update\",\"payload\":");
        memcpy(cmd, hdr, n);
        memcpy(cmd + n, payload, plen);
        memcpy(cmd + n + plen, "}", 1);
        plen += n + 1;

        rfd = connect_to(atoi(argv[5]));
        if (rfd < 0) {
            perror("stream_load: redis");
            return 1;
        }

        for (i = 0; i < nclients; i++) clients[i].got = 0;
        t0 = now_ms();
        for (i = 0; i < events; i++) {
            n = snprintf(hdr, sizeof(hdr),
                         "*3\r\n$7\r\nPUBLISH\r\n$15\r\ntimeline:public\r\n"
                         "$%zu\r\n", plen);
            if (write_all(rfd, hdr, n) != 0
                || write_all(rfd, cmd, plen) != 0
                || write_all(rfd, "\r\n", 2) != 0)
            {
                return 1;
            }
            pump(0);

            /* in waves: a burst past the PostgreSQL queue's bound (every
             * client's filter statement of every event) is dropped */
            if ((i + 1) % WAVE == 0) {
                until = t0 + 30000;
                while (!all_have(i + 1) && now_ms() < until) pump(20);
            }
        }

        until = t0 + 30000;
        while (!all_have(events) && now_ms() < until) pump(50);

        total = 0;
        for (i = 0; i < nclients; i++) total += clients[i].got;
        printf("%.0f %ld %.0f\n", total * 1000.0 / (now_ms() - t0), total,
               now_ms() - t0);
        close(rfd);
        return 0;
    }

    fprintf(stderr, "stream_load: unknown mode %s\n", argv[4]);
    return 2;
}
