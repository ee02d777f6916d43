/* `mastodon-worker run`: the job daemon.
 *
 * Threads, as Sidekiq runs: `concurrency` job threads, each with its own
 * blocking Redis connection (XREADGROUP ... BLOCK) and its own lazily opened
 * PostgreSQL connection, one housekeeping thread (consumer groups, the
 * retry/schedule scheduler) and the heartbeat thread (heartbeat.c) keeping
 * the entries in hand alive.  The main thread waits for signals, so no
 * handler but the crash handler (crash.c) has to be async-signal-safe.
 *
 * The media queue (transcodes of minutes) has `media_concurrency` threads
 * of its own when other queues are read too: the `concurrency` threads
 * read every other queue, so a long video never delays feeds or
 * notifications, and at most that many run at once. */
#include "commands.h"
#include "crash.h"
#include "db.h"
#include "heartbeat.h"
#include "jobs.h"
#include "media.h"
#include "log.h"
#include "outbox.h"
#include "periodic.h"
#include "queue.h"
#include "redis.h"
#include "scheduler.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READ_BLOCK_MS        1000    /* how soon a job thread notices a stop */
#define SCHEDULER_PERIOD_MS  500
#define SHUTDOWN_GRACE_MS    25000   /* Sidekiq's default */

typedef struct {
    pthread_t      tid;
    int            running;
    char           consumer[320];
    redisContext  *redis;
    PGconn        *db;
    loop_t        *loop;
    http_client   *http;
    ap_signer      instance_signer;    /* kept for the thread's life */
    worker_config *queues;             /* config, with the queues it reads */
} job_thread;

static worker_config *config;
static job_thread    *job_threads;
static long           nthreads;
static worker_config  general_queues, media_queues;
static volatile int   stopping;          /* stop reading new jobs */
static volatile int   abandoning;        /* shutdown grace is over */
static volatile int   housekeeping_stop;
/* monotonic ms of the next look for stale entries, one per set of queues
 * (the media threads' own and the others'): a media thread's turn only
 * looks at the media queue, so it must not use up the others' turn */
static long long      next_claim_at, next_media_claim_at;

/* ------------------------------------------------------------------ */
/* Crash recovery: one job thread at a time looks for stale entries.   */

static long claim_interval_ms(void)
{
    long ms = config->claim_idle_ms / 2;
    return ms < 100 ? 100 : ms > 1000 ? 1000 : ms;
}

static int claim_turn(const worker_config *queues)
{
    long long *at = queues == &media_queues ? &next_media_claim_at : &next_claim_at;
    long long now = monotonic_ms();
    long long next = __atomic_load_n(at, __ATOMIC_SEQ_CST);
    if (now < next)
        return 0;
    return __atomic_compare_exchange_n(at, &next, now + claim_interval_ms(), 0,
                                       __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

/* ------------------------------------------------------------------ */
/* Running one entry.                                                  */

/* Ack or fail the entry, reconnecting as long as Redis is down and the
 * shutdown grace lasts.  If we give up, the entry stays pending and another
 * worker claims it: at-least-once. */
static void finish_entry(job_thread *t, const job_entry *e, const char *error, long long elapsed)
{
    const char *type = e->type ? e->type : "-";

    for (;;) {
        if (t->redis != NULL && t->redis->err) {
            mlog(LOG_ERROR, "redis: connection lost: %s", t->redis->errstr);
            redis_close(&t->redis);
        }
        if (t->redis == NULL)
            t->redis = redis_open_retry(config, READ_BLOCK_MS, &abandoning);
        if (t->redis == NULL) {
            mlog(LOG_WARN, "job %s jid=%s left pending: Redis unreachable", type, e->jid);
            return;
        }

        int rc;
        long long delay = 0;
        if (error == NULL)
            rc = queue_ack(t->redis, e);
        else
            rc = queue_fail(t->redis, config, e, error, &delay);

        if (rc == 0) {
            if (error == NULL)
                mlog(LOG_INFO, "job %s jid=%s done in %lld ms", type, e->jid, elapsed);
            else if (delay >= 0)
                mlog(LOG_WARN, "job %s jid=%s attempt %ld failed after %lld ms: %s; retry in %lld ms",
                     type, e->jid, e->attempt, elapsed, error, delay);
            else
                mlog(LOG_ERROR, "job %s jid=%s attempt %ld failed after %lld ms: %s; moved to " QUEUE_DEAD,
                     type, e->jid, e->attempt, elapsed, error);
            return;
        }
        if (!t->redis->err) {
            /* Redis answered with an error: retrying will not help. */
            mlog(LOG_ERROR, "job %s jid=%s left pending after a Redis error", type, e->jid);
            return;
        }
    }
}

static void run_entry(job_thread *t, const job_entry *e)
{
    char err[1024] = "";
    const char *error = NULL;
    long long started = monotonic_ms();

    if (e->malformed != NULL) {
        error = e->malformed;
    } else if (e->deliveries > QUEUE_MAX_DELIVERIES) {
        snprintf(err, sizeof(err), "delivered %lld times without finishing (worker crashes?)", e->deliveries);
        error = err;
    } else {
        job_handler handler = jobs_find(e->type);
        if (handler == NULL) {
            error = "unknown job type";
        } else {
            job_ctx ctx = {
                .cfg = config, .job = e, .consumer = t->consumer,
                .redis = &t->redis, .db = &t->db, .http = t->http,
                .instance_signer = &t->instance_signer,
            };
            mlog(LOG_INFO, "job %s jid=%s queue=%s attempt=%ld start", e->type, e->jid, e->queue, e->attempt);
            if (handler(&ctx, e->args, e->args_len, err, sizeof(err)) != 0)
                error = err[0] ? err : "job failed";
        }
    }

    finish_entry(t, e, error, monotonic_ms() - started);
    heartbeat_release(e->queue, e->id);
}

static void *job_thread_main(void *arg)
{
    job_thread *t = arg;

    crash_thread_init();
    t->loop = loop_new();
    t->http = t->loop != NULL ? http_client_new(t->loop) : NULL;
    if (t->http == NULL)
        mlog(LOG_ERROR, "consumer %s has no event loop: %s", t->consumer, strerror(errno));

    while (!stopping) {
        if (t->redis == NULL) {
            t->redis = redis_open_retry(config, READ_BLOCK_MS, &stopping);
            if (t->redis == NULL)
                break;
            mlog(LOG_DEBUG, "consumer %s connected to redis %s", t->consumer, config->redis_name);
        }

        /* An entry taken now could not be kept alive: another worker
         * would claim it and run it too. */
        if (!heartbeat_healthy()) {
            sleep_ms(50);
            continue;
        }

        if (claim_turn(t->queues)) {
            job_entry e;
            int rc = queue_claim(t->redis, t->queues, t->consumer, &e);
            if (rc < 0) {
                redis_close(&t->redis);
                continue;
            }
            if (rc == 1) {
                heartbeat_hold(t->consumer, e.queue, e.id);
                mlog(LOG_NOTICE, "claimed job %s jid=%s from %s%s (%s), idle over %ld ms",
                     e.type ? e.type : "-", e.jid, QUEUE_PREFIX, e.queue, e.id, config->claim_idle_ms);
                /* There may be more: let the next thread look at once. */
                __atomic_store_n(&next_claim_at, 0, __ATOMIC_SEQ_CST);
                run_entry(t, &e);
                job_entry_free(&e);
                continue;
            }
        }

        job_batch batch;
        int n = queue_read(t->redis, t->queues, t->consumer, READ_BLOCK_MS, &batch);
        if (n < 0) {
            redis_close(&t->redis);
            sleep_ms(200);
            continue;
        }
        /* Everything read is in hand now (pending under our name): run it
         * all, even if a stop was requested meanwhile. */
        for (int i = 0; i < n; i++)
            heartbeat_hold(t->consumer, batch.entries[i].queue, batch.entries[i].id);
        for (int i = 0; i < n; i++)
            run_entry(t, &batch.entries[i]);
        job_batch_free(&batch);
    }

    if (t->redis != NULL && !t->redis->err)
        queue_forget_consumer(t->redis, config, t->consumer);
    redis_close(&t->redis);
    db_close(&t->db);
    ap_signer_free(&t->instance_signer);
    http_client_free(t->http);
    loop_free(t->loop);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Housekeeping: groups, scheduler.                                   */

static void *housekeeping_main(void *arg)
{
    redisContext *c = NULL;
    long long next_schedule = 0;

    crash_thread_init();

    while (!housekeeping_stop) {
        if (c == NULL) {
            c = redis_open_retry(config, 0, &housekeeping_stop);
            if (c == NULL)
                break;
            if (queue_create_groups(c, config) != 0) {
                redis_close(&c);
                sleep_ms(500);
                continue;
            }
            mlog(LOG_DEBUG, "housekeeping connected to redis %s", config->redis_name);
        }

        long long now = monotonic_ms();
        if (!stopping && now >= next_schedule) {
            scheduler_run(c);
            periodic_run(c, config);
            next_schedule = now + SCHEDULER_PERIOD_MS;
        }
        if (c->err) {
            mlog(LOG_ERROR, "redis: connection lost: %s", c->errstr);
            redis_close(&c);
            continue;
        }
        sleep_ms(100);
    }
    redis_close(&c);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Start and shutdown.                                                 */

static int wait_signal(const sigset_t *set, long timeout_ms)
{
    struct timespec ts = { timeout_ms / 1000, (timeout_ms % 1000) * 1000000L };
    int sig = sigtimedwait(set, NULL, &ts);
    return sig < 0 ? 0 : sig;
}

int cmd_run(worker_config *cfg, int argc, char **argv)
{
    if (argc > 1) {
        fprintf(stderr, "mastodon-worker: run takes no arguments\n");
        return 2;
    }
    config = cfg;

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    signal(SIGPIPE, SIG_IGN);
    /* Block before creating threads so that they inherit the mask and only
     * the main thread's sigtimedwait sees these signals. */
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    char host[256] = "localhost";
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';

    media_init("mastodon-worker");

    /* the media queue's own threads: a copy of the config each side */
    long media = 0;
    general_queues = *cfg;
    media_queues = *cfg;
    general_queues.nqueues = 0;
    media_queues.nqueues = 0;
    for (int i = 0; i < cfg->nqueues; i++) {
        worker_config *side = strcmp(cfg->queues[i], "media") == 0 ? &media_queues : &general_queues;
        memcpy(side->queues[side->nqueues++], cfg->queues[i], MW_QUEUE_NAMELEN);
    }
    if (media_queues.nqueues > 0 && general_queues.nqueues > 0 && cfg->media_concurrency > 0)
        media = cfg->media_concurrency;
    nthreads = cfg->concurrency + media;

    job_threads = calloc((size_t) nthreads, sizeof(job_thread));
    if (job_threads == NULL) {
        mlog(LOG_ERROR, "out of memory");
        return 1;
    }

    int start_failed = 0;
    pthread_t housekeeping;
    if (heartbeat_start(cfg) != 0)
        return 1;
    int err = pthread_create(&housekeeping, NULL, housekeeping_main, NULL);
    if (err != 0) {
        mlog(LOG_ERROR, "cannot create the housekeeping thread: %s", strerror(err));
        return 1;
    }
    if (outbox_relay_start(cfg, &stopping) != 0) {
        __atomic_store_n(&housekeeping_stop, 1, __ATOMIC_SEQ_CST);
        pthread_join(housekeeping, NULL);
        return 1;
    }
    for (long i = 0; i < nthreads; i++) {
        job_thread *t = &job_threads[i];
        snprintf(t->consumer, sizeof(t->consumer), "%s:%d:%ld", host, (int) getpid(), i);
        t->queues = media == 0 ? cfg : i < cfg->concurrency ? &general_queues : &media_queues;
        int rc = pthread_create(&t->tid, NULL, job_thread_main, t);
        if (rc != 0) {
            mlog(LOG_ERROR, "cannot create job thread %ld: %s", i, strerror(rc));
            start_failed = 1;
            stopping = 1;
            break;
        }
        t->running = 1;
    }

    if (!start_failed)
        mlog(LOG_NOTICE, "mastodon-worker started: %ld threads (%ld for media), queues %s, redis %s",
         nthreads, media, cfg->queues_list, cfg->redis_name);

    int sig = 0;
    while (!stopping) {
        sig = wait_signal(&set, 1000);
        if (sig == SIGHUP) {
            if (log_open(cfg->log_file) != 0)
                mlog(LOG_ERROR, "cannot reopen log file %s: %s", cfg->log_file, strerror(errno));
            else
                mlog(LOG_NOTICE, "log file reopened");
        } else if (sig == SIGTERM || sig == SIGINT) {
            break;
        }
    }

    __atomic_store_n(&stopping, 1, __ATOMIC_SEQ_CST);
    mlog(LOG_NOTICE, "%s received, finishing the jobs in hand (at most %d s)",
         sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "stop", SHUTDOWN_GRACE_MS / 1000);

    long long deadline = monotonic_ms() + SHUTDOWN_GRACE_MS;
    for (;;) {
        int left = 0;
        for (long i = 0; i < nthreads; i++) {
            job_thread *t = &job_threads[i];
            if (t->running && pthread_tryjoin_np(t->tid, NULL) == 0)
                t->running = 0;
            left += t->running;
        }
        if (left == 0)
            break;
        if (monotonic_ms() >= deadline) {
            __atomic_store_n(&abandoning, 1, __ATOMIC_SEQ_CST);
            mlog(LOG_WARN, "%d job thread(s) still busy after %d s: exiting, their entries stay "
                 "pending for another worker", left, SHUTDOWN_GRACE_MS / 1000);
            _exit(0);
        }
        sig = wait_signal(&set, 50);
        if (sig == SIGTERM || sig == SIGINT) {
            mlog(LOG_WARN, "second signal: exiting now, jobs in hand stay pending");
            _exit(1);
        }
    }

    outbox_relay_join();
    __atomic_store_n(&housekeeping_stop, 1, __ATOMIC_SEQ_CST);
    pthread_join(housekeeping, NULL);
    heartbeat_stop();

    free(job_threads);
    job_threads = NULL;
    mlog(LOG_NOTICE, "mastodon-worker stopped");
    return start_failed ? 1 : 0;
}
