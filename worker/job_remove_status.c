/* remove_status: a status was deleted (Mastodon's RemoveStatusService);
 * the module already set deleted_at on it and its reblogs.
 * args {"status_id": "<id>", "account_id": "<author>", "reblog_of_id": "<id>" or null}.
 *
 * - out of the author's feed and every local follower's, with `delete` on
 *   timeline:<id> where it was; each reblog of it likewise out of its
 *   reblogger's feed and the reblogger's followers' feeds (`:reblogs`
 *   tracking fixed on the way, feed.c); likewise out of the list feeds
 *   of the lists holding its author or reblogger (list_feeds.c); a big
 *   account's merged status (or reblog) only out of its author's feed,
 *   with `delete` to the followers connected to streaming;
 * - `delete` on the public and hashtag channels (a public status), or
 *   timeline:direct:<id> (a direct one);
 * - its notifications deleted: those whose activity is the status, a
 *   reblog of it, one of its mentions or favourites;
 * - out of the direct-message threads holding it (conversations.c);
 * - activitypub_distribute (delete).
 *
 * With the row gone altogether, the args say whose followers to visit, and
 * the public channels get the delete anyway (harmless). */
#include "jobs.h"
#include "args.h"
#include "big_accounts.h"
#include "conversations.h"
#include "db.h"
#include "fanout.h"
#include "list_feeds.h"
#include "log.h"
#include "redis.h"
#include "stream.h"

#include <stdio.h>
#include <string.h>

static const char reblogs_sql[] =
    "SELECT r.id, r.account_id FROM statuses r WHERE r.reblog_of_id = $1::bigint ORDER BY r.id";

static const char forget_notifications_sql[] =
    "DELETE FROM notifications n WHERE"
    " (n.activity_type = 'Status' AND n.activity_id IN"
    "    (SELECT $1::bigint UNION ALL SELECT r.id FROM statuses r WHERE r.reblog_of_id = $1::bigint))"
    " OR (n.activity_type = 'Mention' AND n.activity_id IN"
    "    (SELECT m.id FROM mentions m WHERE m.status_id = $1::bigint))"
    " OR (n.activity_type = 'Favourite' AND n.activity_id IN"
    "    (SELECT fv.id FROM favourites fv WHERE fv.status_id = $1::bigint))";

/* visibility: the status' (a reblog's is never direct), or -1 when its
 * row is gone (then it is taken as pushed: every follower is walked) */
static int remove_from_feeds(job_ctx *ctx, PGconn *db, const char *account_id, const char *status_id,
                             const char *reblog_of_id, int visibility, char *err, size_t errlen)
{
    long long removed;
    fanout_walk w = {
        .filter = NULL, .account_id = account_id, .include_self = 1,
        .status_id = status_id, .reblog_of_id = reblog_of_id, .op = FEED_REMOVE,
    };
    int merged = visibility < 0 ? 0
        : big_account_is_merged(db, account_id, status_id, visibility, err, errlen);
    if (merged < 0)
        return -1;
    /* merged on read: in its author's feed only (a follower's feed rebuilt
     * meanwhile may hold it; the module leaves deleted statuses out) */
    w.self_only = merged;
    if (fanout_home(ctx, db, &w, &removed, err, errlen) != 0)
        return -1;
    if (merged) {
        stream_event ev = { NULL, 0 };
        if (stream_event_delete(&ev, status_id) != 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        int rc = big_account_stream(*ctx->redis, db, account_id, NULL, NULL, &ev, err, errlen);
        stream_event_free(&ev);
        if (rc != 0)
            return -1;
    }
    mlog(LOG_INFO, "remove_status: status %s out of %lld home feed(s)%s", status_id, removed,
         merged ? " (merged on read: followers not walked)" : "");
    if (list_feeds_walk(ctx, db, NULL, account_id, status_id, reblog_of_id, FEED_REMOVE, NULL,
                        &removed, err, errlen) != 0)
        return -1;
    return 0;
}

static int remove_reblogs(job_ctx *ctx, PGconn *db, const char *status_id, char *err, size_t errlen)
{
    const char *params[1] = { status_id };
    PGresult *res = db_query(db, reblogs_sql, 1, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return -1;
    int rc = 0;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++)
        rc = remove_from_feeds(ctx, db, PQgetvalue(res, i, 1), PQgetvalue(res, i, 0), status_id,
                               VISIBILITY_PUBLIC, err, errlen);
    PQclear(res);
    return rc;
}

static int forget_notifications(PGconn *db, const char *status_id, char *err, size_t errlen)
{
    const char *params[1] = { status_id };
    PGresult *res = db_query(db, forget_notifications_sql, 1, params, PGRES_COMMAND_OK, err, errlen);
    if (res == NULL)
        return -1;
    if (strcmp(PQcmdTuples(res), "0") != 0)
        mlog(LOG_INFO, "remove_status: %s notification(s) of status %s deleted", PQcmdTuples(res), status_id);
    PQclear(res);
    return 0;
}

int job_remove_status(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen)
{
    job_args a;
    status_facts f = { 0 };
    char id[MW_ID_LEN], account[MW_ID_LEN], reblog_of[MW_ID_LEN];
    stream_event ev = { 0 };

    if (args_parse(&a, args_json, len, err, errlen) != 0)
        return -1;
    int rc = -1;
    if (args_id(&a, "status_id", id) != 1 || args_id(&a, "account_id", account) != 1
        || args_id(&a, "reblog_of_id", reblog_of) < 0) {
        snprintf(err, errlen, "args need status_id and account_id (id strings), reblog_of_id (an id or null)");
        goto out;
    }
    PGconn *db = job_db(ctx, err, errlen);
    if (db == NULL || status_load(db, id, &f, err, errlen) != 0)
        goto out;
    if (!f.found) {
        /* the row is gone: what the args say, and every public channel */
        snprintf(f.id, sizeof(f.id), "%s", id);
        snprintf(f.account_id, sizeof(f.account_id), "%s", account);
        snprintf(f.reblog_of_id, sizeof(f.reblog_of_id), "%s", reblog_of);
        f.local = f.author_local = f.has_media = 1;
        f.tags = f.mentioned = (char *) "";
    }
    if (stream_event_delete(&ev, id) != 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    redisContext *c = *ctx->redis;
    if (remove_from_feeds(ctx, db, f.account_id, id, f.reblog_of_id, f.found ? f.visibility : -1,
                          err, errlen) != 0
        || (f.reblog_of_id[0] == '\0' && remove_reblogs(ctx, db, id, err, errlen) != 0)
        || stream_public(c, &f, &ev, err, errlen) != 0 || stream_direct(c, &f, &ev, err, errlen) != 0
        || forget_notifications(db, id, err, errlen) != 0
        || conversations_remove(db, c, id, err, errlen) != 0
        || (f.found && fanout_federate(ctx, &f, "delete", err, errlen) != 0))
        goto out;
    rc = 0;

out:
    stream_event_free(&ev);
    status_free(&f);
    args_free(&a);
    return rc;
}
