/* poll_expire: a poll's end (Mastodon's PollExpirationNotifyWorker).
 * args {"poll_id"}.  Written by the module with the poll; run before the
 * poll ends it puts itself into mastodon:schedule for the end (again after
 * an edit moved the end: the job reads the poll each time).  At the end:
 * the status' cached rendering goes (it says "expired" now), and `poll`
 * notifications go to the author and every local voter, once each (the
 * notifications' unique index: a second run, or a second job for the same
 * poll, inserts nothing); each event names its notification, which the
 * streams render. */
#include "jobs.h"
#include "args.h"
#include "db.h"
#include "log.h"
#include "notify.h"
#include "redis.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char poll_sql[] =
    "SELECT p.status_id, (extract(epoch FROM p.expires_at) * 1000)::bigint,"
    " p.expires_at <= now() AT TIME ZONE 'UTC', p.account_id,"
    " ARRAY(SELECT p.account_id UNION SELECT v.account_id FROM poll_votes v"
    "       WHERE v.poll_id = p.id)::text"
    " FROM polls p JOIN statuses s ON s.id = p.status_id AND s.deleted_at IS NULL"
    " WHERE p.id = $1::bigint AND p.expires_at IS NOT NULL";

int job_poll_expire(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen)
{
    job_args a;
    char poll[MW_ID_LEN];
    PGresult *res = NULL;
    int rc = -1;

    if (args_parse(&a, args_json, len, err, errlen) != 0)
        return -1;
    if (args_id(&a, "poll_id", poll) != 1) {
        snprintf(err, errlen, "args need poll_id (an id string)");
        goto out;
    }
    PGconn *db = job_db(ctx, err, errlen);
    if (db == NULL)
        goto out;
    const char *params[1] = { poll };
    res = db_query(db, poll_sql, 1, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        goto out;
    if (PQntuples(res) == 0) {
        mlog(LOG_INFO, "poll_expire: poll %s is gone or does not end", poll);
        rc = 0;
        goto out;
    }

    const char *status_id = PQgetvalue(res, 0, 0), *author = PQgetvalue(res, 0, 3);
    if (PQgetvalue(res, 0, 2)[0] != 't') {
        long long due = atoll(PQgetvalue(res, 0, 1));
        rc = queue_schedule_at(*ctx->redis, "default", "poll_expire", args_json, len, due,
                               err, errlen);
        goto out;
    }

    if (status_forget_now(*ctx->redis, status_id, err, errlen) != 0)
        goto out;

    rc = notify_poll(*ctx->redis, db, PQgetvalue(res, 0, 4), poll, status_id, author,
                     err, errlen);
out:
    PQclear(res);
    args_free(&a);
    return rc;
}
