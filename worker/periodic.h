#ifndef MW_PERIODIC_H
#define MW_PERIODIC_H

#include <hiredis/hiredis.h>

#include "config.h"

/* Periodic work, as Mastodon's sidekiq-scheduler runs its Scheduler::
 * jobs: each kind is enqueued (queue `scheduler`) at most once per its
 * period across all workers, by whoever first takes the Redis mark
 * mastodon:periodic:<type> (SET NX EX period); the job itself runs like
 * any other (at-least-once, retried).  Called from the housekeeping
 * thread; a worker that does not serve `scheduler` enqueues nothing.
 * Returns the number of jobs enqueued, -1 on a Redis error. */
int periodic_run(redisContext *c, const worker_config *cfg);

#endif
