#ifndef MW_FANOUT_H
#define MW_FANOUT_H

/* What the status jobs share: walking the home feeds of an account's
 * followers page by page, and handing a status to federation. */

#include "feed.h"
#include "jobs.h"
#include "notify.h"
#include "status.h"
#include "stream.h"

/* A status job's event: its text, and the key that holds it for the
 * feed scripts (feed.c publishes from Redis), stored on first use only:
 * the plain push (feed_push.c) publishes the text itself. */
typedef struct {
    const stream_event *ev;
    char                key[96];        /* mastodon:event:<jid> */
    int                 stored;
} fanout_event;

/* The key, the text stored under it for an hour the first time.  NULL +
 * err. */
const char *fanout_event_key(redisContext *c, fanout_event *fe, char *err, size_t errlen);

typedef int (*fanout_page_fn)(void *arg, const PGresult *page, char *err, size_t errlen);

typedef struct {
    const status_facts *filter;     /* recipients of this status, or NULL: every local follower */
    int           tag_followers;    /* with filter: the followers of its tags instead */
    int           notify_only;      /* with filter: no feed writes, only the followers
                                     * with follows.notify, for on_page (a big account) */
    const char   *account_id;       /* whose followers */
    int           include_self;     /* and the account's own feed */
    int           self_only;        /* only that feed: a big account's merged
                                     * status, in no follower's feed */
    const char   *status_id;
    const char   *reblog_of_id;     /* "" when not a reblog */
    feed_op       op;
    fanout_event *event;            /* for ADD/TOUCH, else NULL */
    fanout_page_fn on_page;         /* after each page's feed writes, or NULL */
    void         *arg;
} fanout_walk;

/* The feed writes, pipelined, with their events on timeline:<id>; while
 * Redis works through one page, the next is read from PostgreSQL.
 * *changed counts the feeds changed (or found, for FEED_TOUCH).  0 or -1 + err. */
int fanout_home(job_ctx *ctx, PGconn *db, const fanout_walk *w, long long *changed,
                char *err, size_t errlen);

/* An activitypub_distribute job {"status_id", "action"} on queue push when
 * the status reaches remote accounts, once per job (retries included). */
int fanout_federate(job_ctx *ctx, const status_facts *f, const char *action,
                    char *err, size_t errlen);

/* distribute and status_update: args {"status_id", "payload"}, the status
 * loaded (skipped when gone, or a reblog with skip_reblogs), mention
 * notifications (not for a reblog),
 * then fan(), then the event on the public and direct channels and
 * activitypub_distribute with `action`. */
typedef int (*fanout_status_fn)(job_ctx *ctx, PGconn *db, const status_facts *f,
                                fanout_event *event, char *err, size_t errlen);

typedef struct {
    const char       *name;         /* the job type, for the log */
    const char       *event;        /* update, status.update */
    const char       *action;       /* create, update */
    int               skip_reblogs;
    int               edit;         /* the status changed after its rendering was
                                     * stored: events carry its id, its cached
                                     * renderings forgotten before them */
    fanout_status_fn  fan;          /* the home feeds and the job's own notifications */
} fanout_status_job;

int fanout_status(job_ctx *ctx, const fanout_status_job *job, const char *args_json, size_t len,
                  char *err, size_t errlen);

#endif
