/* The event loop: epoll for descriptors, a short list of timers (a loop
 * has a handful: libcurl wants one per multi handle). */
#include "loop.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define LOOP_MAX_EVENTS 64

typedef struct {
    int         events;             /* watched; 0: not in epoll */
    loop_io_cb  cb;
    void       *data;
} loop_io;

struct loop_s {
    int          epfd;
    loop_io     *io;                /* indexed by descriptor */
    int          nio;
    loop_timer  *timers;
};

loop_t *loop_new(void)
{
    loop_t *loop = calloc(1, sizeof(*loop));
    if (loop == NULL)
        return NULL;
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0) {
        int saved = errno;
        free(loop);
        errno = saved;
        return NULL;
    }
    return loop;
}

void loop_free(loop_t *loop)
{
    if (loop == NULL)
        return;
    close(loop->epfd);
    free(loop->io);
    free(loop);
}

int loop_watch(loop_t *loop, int fd, int events, loop_io_cb cb, void *data)
{
    if (fd < 0) {
        errno = EBADF;
        return -1;
    }
    if (fd >= loop->nio) {
        int n = loop->nio ? loop->nio : 64;
        while (n <= fd)
            n *= 2;
        loop_io *io = realloc(loop->io, (size_t) n * sizeof(*io));
        if (io == NULL)
            return -1;
        memset(io + loop->nio, 0, (size_t) (n - loop->nio) * sizeof(*io));
        loop->io = io;
        loop->nio = n;
    }

    loop_io *w = &loop->io[fd];
    struct epoll_event ev = { 0 };
    ev.data.fd = fd;
    ev.events = (events & LOOP_READ ? EPOLLIN : 0) | (events & LOOP_WRITE ? EPOLLOUT : 0);

    if (events == 0) {
        /* the descriptor may be closed already: epoll then forgot it */
        if (w->events != 0)
            epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, &ev);
        memset(w, 0, sizeof(*w));
        return 0;
    }

    /* A descriptor closed and reused without a stop in between is gone
     * from epoll although we remember it, or the other way round. */
    int op = w->events != 0 ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(loop->epfd, op, fd, &ev) != 0) {
        if (errno == ENOENT)
            op = EPOLL_CTL_ADD;
        else if (errno == EEXIST)
            op = EPOLL_CTL_MOD;
        else
            return -1;
        if (epoll_ctl(loop->epfd, op, fd, &ev) != 0)
            return -1;
    }
    w->events = events;
    w->cb = cb;
    w->data = data;
    return 0;
}

void loop_timer_stop(loop_t *loop, loop_timer *t)
{
    if (!t->active)
        return;
    for (loop_timer **p = &loop->timers; *p != NULL; p = &(*p)->next) {
        if (*p == t) {
            *p = t->next;
            break;
        }
    }
    t->active = 0;
    t->next = NULL;
}

void loop_timer_start(loop_t *loop, loop_timer *t, long ms, loop_timer_cb cb, void *data)
{
    loop_timer_stop(loop, t);
    t->when = monotonic_ms() + (ms > 0 ? ms : 0);
    t->cb = cb;
    t->data = data;
    t->active = 1;
    t->next = loop->timers;
    loop->timers = t;
}

/* Runs one due timer; 1 if it did (the list may have changed: look again). */
static int run_due_timer(loop_t *loop, long long now)
{
    for (loop_timer *t = loop->timers; t != NULL; t = t->next) {
        if (t->when <= now) {
            loop_timer_stop(loop, t);
            t->cb(loop, t->data);
            return 1;
        }
    }
    return 0;
}

int loop_run_once(loop_t *loop, long max_ms)
{
    struct epoll_event events[LOOP_MAX_EVENTS];
    long long now = monotonic_ms();
    long wait = max_ms < 0 ? 0 : max_ms;

    for (loop_timer *t = loop->timers; t != NULL; t = t->next) {
        long long left = t->when - now;
        if (left < wait)
            wait = left < 0 ? 0 : (long) left;
    }

    int n = epoll_wait(loop->epfd, events, LOOP_MAX_EVENTS, (int) wait);
    if (n < 0)
        return errno == EINTR ? 0 : -1;

    int ran = 0;
    for (int i = 0; i < n; i++) {
        int fd = events[i].data.fd;
        /* an earlier callback may have stopped watching it */
        if (fd >= loop->nio || loop->io[fd].events == 0)
            continue;
        loop_io *w = &loop->io[fd];
        uint32_t e = events[i].events;
        int ready = (e & EPOLLIN ? LOOP_READ : 0) | (e & EPOLLOUT ? LOOP_WRITE : 0);
        if (e & (EPOLLERR | EPOLLHUP))
            ready = LOOP_READ | LOOP_WRITE;
        w->cb(loop, fd, ready, w->data);
        ran++;
    }

    /* bounded: a timer that keeps re-arming itself at 0 ms waits for the
     * next call instead of starving the descriptors */
    now = monotonic_ms();
    for (int k = 0; k < LOOP_MAX_EVENTS && run_due_timer(loop, now); k++)
        ran++;
    return ran;
}
