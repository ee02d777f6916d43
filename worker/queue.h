#ifndef MW_QUEUE_H
#define MW_QUEUE_H

/* The job queue on Redis Streams (ARCHITECTURE.md, "Redis keys"):
 * one stream per queue read through the consumer group "workers",
 * at-least-once delivery, retries and the dead stream. */

#include "config.h"
#include <hiredis/hiredis.h>

#define QUEUE_PREFIX   "mastodon:queue:"
#define QUEUE_GROUP    "workers"
#define QUEUE_RETRY    "mastodon:retry"
#define QUEUE_SCHEDULE "mastodon:schedule"
#define QUEUE_DEAD     "mastodon:dead"

/* Entries delivered more often than this (workers died while running them)
 * are failed instead of run again: a poison job must not kill every worker. */
#define QUEUE_MAX_DELIVERIES 3

typedef struct {
    char       queue[MW_QUEUE_NAMELEN];
    char       id[48];              /* stream entry id */
    char      *type;                /* malloc'd, NULL if missing */
    char      *args;                /* malloc'd, NUL-terminated */
    size_t     args_len;
    long       attempt;
    char       jid[40];
    long long  enqueued_at;
    long long  deliveries;          /* known for claimed entries only, else 0 */
    const char *malformed;          /* why the entry cannot run, or NULL */
    char       why[320];            /* malformed's text when it is composed */
} job_entry;

typedef struct {
    int       n;
    job_entry entries[MW_MAX_QUEUES];
} job_batch;

void job_entry_free(job_entry *e);
void job_batch_free(job_batch *b);

/* XGROUP CREATE <stream> workers 0 MKSTREAM for every queue; BUSYGROUP is
 * fine.  0 rather than $ so jobs enqueued before any worker ran are read. */
int queue_create_groups(redisContext *c, const worker_config *cfg);

/* XREADGROUP over all queues in priority order, COUNT 1 (so at most one
 * entry per queue).  Returns the number of entries (0 on timeout) or -1 if
 * the connection is unusable. */
int queue_read(redisContext *c, const worker_config *cfg, const char *consumer,
               long block_ms, job_batch *out);

/* XAUTOCLAIM one entry idle longer than claim_idle_ms, queues in priority
 * order.  1 claimed (in *out), 0 none, -1 connection error. */
int queue_claim(redisContext *c, const worker_config *cfg, const char *consumer, job_entry *out);

/* Reset the idle time of an entry we are still running (XCLAIM JUSTID), so
 * that no other worker claims it while we are alive. */
int queue_heartbeat(redisContext *c, const char *queue, const char *consumer, const char *id);

/* Success: XACK + XDEL in MULTI.  0 or -1. */
int queue_ack(redisContext *c, const job_entry *e);

/* Failure: atomically (Lua) if the entry is still pending, XACK + XDEL and
 * ZADD mastodon:retry, or XADD mastodon:dead once attempt >= retry_max.
 * *delay_ms gets the backoff, or -1 when the job went to the dead stream.
 * 0 or -1 (Redis error). */
int queue_fail(redisContext *c, const worker_config *cfg, const job_entry *e,
               const char *error, long long *delay_ms);

/* On a clean exit: XGROUP DELCONSUMER on every queue where this consumer
 * has nothing pending, so consumer names do not pile up in the group. */
void queue_forget_consumer(redisContext *c, const worker_config *cfg, const char *consumer);

/* XADD a new job (attempt 0, fresh jid).  id_out gets the entry id. */
int queue_push(redisContext *c, const char *queue, const char *type,
               const char *args, size_t args_len, char *id_out, size_t id_len,
               char *err, size_t errlen);

/* queue_push, but only once per once_key (kept a day): a job that enqueues
 * another passes a key made of its own jid, so its retries do not enqueue
 * it again.  *pushed tells whether it was pushed now.  0 or -1 + err. */
int queue_push_once(redisContext *c, const char *once_key, const char *queue, const char *type,
                    const char *args, size_t args_len, int *pushed, char *err, size_t errlen);

/* A new job into mastodon:retry (fresh jid), due after delay_ms, with
 * the given attempt number: a job that failed inside a batch (a delivery
 * to one inbox of many) continues on the queue's retry curve as if it had
 * run alone.  0 or -1 + err. */
int queue_schedule(redisContext *c, const char *queue, const char *type,
                   const char *args, size_t args_len, long attempt, long long delay_ms,
                   const char *error, char *err, size_t errlen);

/* A new job (fresh jid, attempt 0) into mastodon:schedule, due at due_ms
 * (Unix time in ms): a job that waits for its time (a poll's end).
 * 0 or -1 + err. */
int queue_schedule_at(redisContext *c, const char *queue, const char *type,
                      const char *args, size_t args_len, long long due_ms,
                      char *err, size_t errlen);

/* Backoff before retry number attempt+1: retry_base_ms * (attempt^4 + 1)
 * plus up to retry_base_ms * (attempt + 1) of jitter (Sidekiq's curve). */
long long queue_backoff_ms(const worker_config *cfg, long attempt);

#endif
