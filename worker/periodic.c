/* Periodic jobs (periodic.h). */
#include "periodic.h"
#include "log.h"
#include "queue.h"

#include <stdio.h>
#include <string.h>

#define PERIODIC_QUEUE  "scheduler"

static const struct {
    const char *type;
    long        period_s;
} periodic_jobs[] = {
    /* the replay guard keeps activity ids processed_activities_keep_days */
    { "prune_processed_activities", 3600 },
    /* unattached media over a day old (MediaCleanupScheduler) */
    { "media_cleanup", 3600 },
};

static int serves_queue(const worker_config *cfg, const char *queue)
{
    for (int i = 0; i < cfg->nqueues; i++) {
        if (strcmp(cfg->queues[i], queue) == 0)
            return 1;
    }
    return 0;
}

int periodic_run(redisContext *c, const worker_config *cfg)
{
    char id[48], err[256];
    int n = 0;

    if (!serves_queue(cfg, PERIODIC_QUEUE))
        return 0;
    for (size_t i = 0; i < sizeof(periodic_jobs) / sizeof(periodic_jobs[0]); i++) {
        redisReply *r = redisCommand(c, "SET mastodon:periodic:%s 1 NX EX %ld",
                                     periodic_jobs[i].type, periodic_jobs[i].period_s);
        if (r == NULL)
            return -1;
        int due = r->type == REDIS_REPLY_STATUS;
        freeReplyObject(r);
        if (!due)
            continue;
        if (queue_push(c, PERIODIC_QUEUE, periodic_jobs[i].type, "{}", 2, id, sizeof(id),
                       err, sizeof(err)) != 0) {
            /* the mark stays: the next period tries again */
            mlog(LOG_ERROR, "periodic %s not enqueued: %s", periodic_jobs[i].type, err);
            continue;
        }
        mlog(LOG_DEBUG, "periodic %s enqueued (%s)", periodic_jobs[i].type, id);
        n++;
    }
    return n;
}
