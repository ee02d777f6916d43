/* status_update: a status was edited (Mastodon's FanOutOnWriteService with
 * update: true).  args {"status_id": "<id>", "payload": <the Status entity>}.
 *
 * - `status.update` on timeline:<id> of the home feeds that hold it (the
 *   author's and the followers' who pass the home filter), on the public
 *   and hashtag channels, and timeline:direct:<id> for a direct status;
 * - `mention` notifications to accounts the edit newly mentions (those
 *   already notified are not notified again);
 * - an `update` notification to each local account that reblogged it;
 * - activitypub_distribute (update).
 *
 * Feeds are not written: an edit does not move a status. */
#include "jobs.h"
#include "args.h"
#include "db.h"
#include "fanout.h"
#include "log.h"
#include "notify.h"
#include "redis.h"
#include "stream.h"

#include <stdio.h>
#include <string.h>

static const char rebloggers_sql[] =
    "SELECT array(SELECT DISTINCT r.account_id FROM statuses r JOIN accounts a ON a.id = r.account_id"
    "             WHERE r.reblog_of_id = $1::bigint AND r.deleted_at IS NULL AND a.domain IS NULL)::text";

static int notify_rebloggers(redisContext *c, PGconn *db, const status_facts *f,
                             const notify_render *render, char *err, size_t errlen)
{
    const char *params[1] = { f->id };
    PGresult *res = PQexecParams(db, rebloggers_sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        db_error(db, res, err, errlen);
        PQclear(res);
        return -1;
    }
    int rc = notify_status(c, db, "update", PQgetvalue(res, 0, 0), f->id, f->account_id, render,
                           err, errlen);
    PQclear(res);
    return rc;
}

static int update(job_ctx *ctx, PGconn *db, const status_facts *f, const char *payload,
                  size_t plen, char *err, size_t errlen)
{
    redisContext *c = *ctx->redis;
    stream_event ev;
    notify_render render = { NULL, 0, payload, plen };
    char key[96];
    long long found;

    json_object_member(payload, plen, "account", &render.account, &render.account_len);
    if (stream_event_make(&ev, "status.update", payload, plen) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    fanout_event_key(ctx, key, sizeof(key));

    int rc = -1;
    if (notify_mentions(c, db, f->id, &render, err, errlen) != 0
        || stream_event_store(c, key, &ev, err, errlen) != 0)
        goto done;
    fanout_walk w = {
        .filter = f, .account_id = f->account_id, .include_self = f->author_local,
        .status_id = f->id, .reblog_of_id = "", .op = FEED_TOUCH,
        .event_key = key, .publish = 1,
    };
    if (fanout_home(ctx, db, &w, &found, err, errlen) != 0)
        goto done;
    mlog(LOG_INFO, "status_update: status %s is in %lld home feed(s)", f->id, found);
    if (notify_rebloggers(c, db, f, &render, err, errlen) != 0
        || stream_public(c, f, &ev, err, errlen) != 0 || stream_direct(c, f, &ev, err, errlen) != 0
        || fanout_federate(ctx, f, "update", err, errlen) != 0)
        goto done;
    rc = redis_do(c, err, errlen, "DEL %s", key);

done:
    stream_event_free(&ev);
    return rc;
}

int job_status_update(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen)
{
    job_args a;
    status_facts f;
    char id[MW_ID_LEN];
    const char *payload;
    size_t plen;

    if (args_parse(&a, args_json, len, err, errlen) != 0)
        return -1;
    int rc = -1;
    if (args_id(&a, "status_id", id) != 1 || !args_object_raw(&a, "payload", &payload, &plen)) {
        snprintf(err, errlen, "args need status_id (an id string) and payload (an object)");
        goto out;
    }
    PGconn *db = job_db(ctx, err, errlen);
    if (db == NULL || status_load(db, id, &f, err, errlen) != 0)
        goto out;
    if (!f.found || f.deleted || f.reblog_of_id[0] != '\0') {
        mlog(LOG_INFO, "status_update: status %s is gone or a reblog, nothing to do", id);
        rc = 0;
    } else {
        rc = update(ctx, db, &f, payload, plen, err, errlen);
    }
    status_free(&f);
out:
    args_free(&a);
    return rc;
}
