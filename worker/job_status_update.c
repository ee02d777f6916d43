/* status_update: a status was edited (Mastodon's FanOutOnWriteService with
 * update: true).  args {"status_id": "<id>", "payload": <the Status entity>}.
 *
 * - `status.update` on timeline:<id> of the home feeds that hold it (the
 *   author's and the followers' who pass the home filter), on the public
 *   and hashtag channels, and timeline:direct:<id> for a direct status;
 *   likewise on timeline:list:<id> of the list feeds that hold it;
 * - `mention` notifications to accounts the edit newly mentions (those
 *   already notified are not notified again);
 * - an `update` notification to each local account that reblogged it;
 * - activitypub_distribute (update).
 *
 * Feeds are not written: an edit does not move a status.  A big account's
 * merged status (big_accounts.c) is in its author's feed only: the
 * followers are not walked, those connected to streaming get the event. */
#include "jobs.h"
#include "big_accounts.h"
#include "db.h"
#include "fanout.h"
#include "list_feeds.h"
#include "log.h"
#include "notify.h"

static const char rebloggers_sql[] =
    "SELECT array(SELECT DISTINCT r.account_id FROM statuses r JOIN accounts a ON a.id = r.account_id"
    "             WHERE r.reblog_of_id = $1::bigint AND r.deleted_at IS NULL AND a.domain IS NULL)::text";

static int notify_rebloggers(redisContext *c, PGconn *db, const status_facts *f, char *err,
                             size_t errlen)
{
    const char *params[1] = { f->id };
    PGresult *res = db_query(db, rebloggers_sql, 1, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return -1;
    int rc = notify_status(c, db, "update", PQgetvalue(res, 0, 0), f->id, f->account_id, err,
                           errlen);
    PQclear(res);
    return rc;
}

/* `status.update` where the status is in a home feed, then an `update`
 * notification to each local reblogger. */
static int update(job_ctx *ctx, PGconn *db, const status_facts *f, fanout_event *event,
                  char *err, size_t errlen)
{
    long long found;
    fanout_walk w = {
        .filter = f, .account_id = f->account_id, .include_self = f->author_local,
        .status_id = f->id, .reblog_of_id = "", .op = FEED_TOUCH,
        .event = event,
    };
    int merged = big_account_is_merged(db, f->account_id, f->id, f->visibility, err, errlen);
    if (merged < 0)
        return -1;
    w.self_only = merged;
    if (fanout_home(ctx, db, &w, &found, err, errlen) != 0)
        return -1;
    if (merged && big_account_stream(*ctx->redis, db, f->account_id, f, NULL, event->ev,
                                      err, errlen) != 0)
        return -1;
    mlog(LOG_INFO, "status_update: status %s is in %lld home feed(s)%s", f->id, found,
         merged ? " (merged on read: followers not walked)" : "");
    const char *key = fanout_event_key(*ctx->redis, event, err, errlen);
    if (key == NULL
        || list_feeds_walk(ctx, db, NULL, f->account_id, f->id, "", FEED_TOUCH, key, &found,
                           err, errlen) != 0)
        return -1;
    return notify_rebloggers(*ctx->redis, db, f, err, errlen);
}

static const fanout_status_job status_update_job = {
    "status_update", "status.update", "update", 1, 1, update
};

int job_status_update(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen)
{
    return fanout_status(ctx, &status_update_job, args_json, len, err, errlen);
}
