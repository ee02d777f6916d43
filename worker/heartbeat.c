/* The heartbeat of held entries: a thread with its own Redis connection,
 * so that neither a long job nor the scheduler's work can delay it. */
#include "heartbeat.h"
#include "crash.h"
#include "log.h"
#include "queue.h"
#include "redis.h"
#include "util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int  used;
    int  lost;                      /* claimed by another worker meanwhile */
    char consumer[320];
    char queue[MW_QUEUE_NAMELEN];
    char id[48];
} held_entry;

static const worker_config *config;
static pthread_mutex_t      held_lock = PTHREAD_MUTEX_INITIALIZER;
static held_entry          *held, *snapshot;
static size_t               nheld;              /* slots */
static pthread_t            thread;
static int                  started;
static volatile int         stop;
static long long            last_ok_at;         /* monotonic ms a good round began */

/* Resets the idle time only while the entry is still ours: a heartbeat that
 * comes late must not take back an entry another worker has claimed. */
static redis_script beat_script = { .body =
    "local p = redis.call('XPENDING', KEYS[1], 'workers', ARGV[2], ARGV[2], 1)\n"
    "if #p == 0 then return 0 end\n"
    "if p[1][2] ~= ARGV[1] then return -1 end\n"
    "redis.call('XCLAIM', KEYS[1], 'workers', ARGV[1], 0, ARGV[2], 'JUSTID')\n"
    "return 1\n"
};

void heartbeat_hold(const char *consumer, const char *queue, const char *id)
{
    pthread_mutex_lock(&held_lock);
    for (size_t i = 0; i < nheld; i++) {
        if (!held[i].used) {
            held[i].used = 1;
            held[i].lost = 0;
            snprintf(held[i].consumer, sizeof(held[i].consumer), "%s", consumer);
            snprintf(held[i].queue, sizeof(held[i].queue), "%s", queue);
            snprintf(held[i].id, sizeof(held[i].id), "%s", id);
            break;
        }
    }
    pthread_mutex_unlock(&held_lock);
}

static held_entry *held_find(const char *queue, const char *id)
{
    for (size_t i = 0; i < nheld; i++) {
        if (held[i].used && strcmp(held[i].id, id) == 0 && strcmp(held[i].queue, queue) == 0)
            return &held[i];
    }
    return NULL;
}

void heartbeat_release(const char *queue, const char *id)
{
    pthread_mutex_lock(&held_lock);
    held_entry *h = held_find(queue, id);
    if (h != NULL)
        h->used = 0;
    pthread_mutex_unlock(&held_lock);
}

int heartbeat_healthy(void)
{
    long long ok = __atomic_load_n(&last_ok_at, __ATOMIC_SEQ_CST);
    return ok > 0 && monotonic_ms() - ok < config->claim_idle_ms / 2;
}

/* One round: 0, or -1 when the connection failed. */
static int beat_all(redisContext *c)
{
    size_t n = 0;

    pthread_mutex_lock(&held_lock);
    for (size_t i = 0; i < nheld; i++) {
        if (held[i].used && !held[i].lost)
            snapshot[n++] = held[i];
    }
    pthread_mutex_unlock(&held_lock);

    if (n == 0) {
        /* nothing held: still prove that Redis answers */
        redisReply *r = redisCommand(c, "PING");
        if (r == NULL)
            return -1;
        freeReplyObject(r);
        return 0;
    }

    for (size_t i = 0; i < n; i++) {
        char key[MW_QUEUE_NAMELEN + sizeof(QUEUE_PREFIX)];
        snprintf(key, sizeof(key), QUEUE_PREFIX "%s", snapshot[i].queue);
        const char *argv[] = { key, snapshot[i].consumer, snapshot[i].id };

        redisReply *r = redis_eval(c, &beat_script, 1, 3, argv, NULL);
        if (r == NULL)
            return -1;
        if (r->type == REDIS_REPLY_INTEGER && r->integer < 0) {
            mlog(LOG_WARN, "entry %s of %s was claimed by another worker while %s ran it",
                 snapshot[i].id, key, snapshot[i].consumer);
            pthread_mutex_lock(&held_lock);
            held_entry *h = held_find(snapshot[i].queue, snapshot[i].id);
            if (h != NULL)
                h->lost = 1;
            pthread_mutex_unlock(&held_lock);
        } else if (r->type == REDIS_REPLY_ERROR && !redis_reply_is_error(r, "NOGROUP")) {
            mlog(LOG_ERROR, "redis: heartbeat %s %s: %s", key, snapshot[i].id, r->str);
        }
        freeReplyObject(r);
    }
    return 0;
}

static long beat_period_ms(void)
{
    long ms = config->claim_idle_ms / 5;
    return ms < 20 ? 20 : ms > 1000 ? 1000 : ms;
}

static void *heartbeat_main(void *arg)
{
    redisContext *c = NULL;

    crash_thread_init();
    while (!stop) {
        if (c == NULL) {
            c = redis_open_retry(config, 0, &stop);
            if (c == NULL)
                break;
        }

        long long begun = monotonic_ms();
        if (beat_all(c) == 0) {
            __atomic_store_n(&last_ok_at, begun, __ATOMIC_SEQ_CST);
        } else {
            mlog(LOG_ERROR, "redis: heartbeat: %s", c->errstr);
            redis_close(&c);
            continue;
        }

        long long next = begun + beat_period_ms();
        for (long long now = monotonic_ms(); now < next && !stop; now = monotonic_ms())
            sleep_ms(next - now < 20 ? (long) (next - now) : 20);
    }
    redis_close(&c);
    return NULL;
}

int heartbeat_start(const worker_config *cfg)
{
    config = cfg;
    nheld = (size_t) (cfg->concurrency + cfg->media_concurrency) * (size_t) cfg->nqueues + 1;
    held = calloc(nheld, sizeof(*held));
    snapshot = calloc(nheld, sizeof(*snapshot));
    if (held == NULL || snapshot == NULL) {
        mlog(LOG_ERROR, "out of memory");
        return -1;
    }
    int err = pthread_create(&thread, NULL, heartbeat_main, NULL);
    if (err != 0) {
        mlog(LOG_ERROR, "cannot create the heartbeat thread: %s", strerror(err));
        return -1;
    }
    started = 1;
    return 0;
}

void heartbeat_stop(void)
{
    if (started) {
        __atomic_store_n(&stop, 1, __ATOMIC_SEQ_CST);
        pthread_join(thread, NULL);
        started = 0;
    }
    free(held);
    free(snapshot);
    held = snapshot = NULL;
    nheld = 0;
}
