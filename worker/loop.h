#ifndef MW_LOOP_H
#define MW_LOOP_H

/* A small event loop (epoll, level-triggered, one per thread), in the
 * manner of Redis' ae: descriptors watched for reading and/or writing, and
 * one-shot timers.  It drives libcurl's multi interface (http.c) so that
 * one thread runs many transfers at once. */

enum { LOOP_READ = 1, LOOP_WRITE = 2 };

typedef struct loop_s loop_t;

/* events: LOOP_READ | LOOP_WRITE as ready; an error or hang-up on the
 * descriptor reports both, so the owner's next read or write sees it. */
typedef void (*loop_io_cb)(loop_t *loop, int fd, int events, void *data);
typedef void (*loop_timer_cb)(loop_t *loop, void *data);

/* A timer is the caller's memory (zeroed before first use); the loop
 * links it while it is started. */
typedef struct loop_timer_s {
    long long             when;     /* monotonic ms */
    loop_timer_cb         cb;
    void                 *data;
    int                   active;
    struct loop_timer_s  *next;
} loop_timer;

loop_t *loop_new(void);             /* NULL on failure (errno set) */
void    loop_free(loop_t *loop);

/* Watch fd for events (LOOP_READ and/or LOOP_WRITE), replacing what was
 * watched before; events 0 stops watching it.  0, or -1 (errno set). */
int  loop_watch(loop_t *loop, int fd, int events, loop_io_cb cb, void *data);

/* (Re)starts a timer to fire once after ms; stopping an idle one is fine. */
void loop_timer_start(loop_t *loop, loop_timer *t, long ms, loop_timer_cb cb, void *data);
void loop_timer_stop(loop_t *loop, loop_timer *t);

/* Waits at most max_ms (less when a timer is due sooner) and runs the
 * callbacks of what happened.  Returns the number of callbacks run, or -1
 * if epoll failed. */
int  loop_run_once(loop_t *loop, long max_ms);

#endif
