/* scheduled_status_publish: a scheduled status posted at its time
 * (Mastodon's PublishScheduledStatusWorker).  args {"scheduled_status_id"}.
 * Written by the module with the scheduled status (and again when PUT
 * moves it); run before its time it puts itself into mastodon:schedule
 * for scheduled_at (the job reads the row each time: a moved or cancelled
 * status is never posted early, or at all).
 *
 * When due, one statement deletes the row and posts it through
 * mastodon_post_statuses() with one post (sql/0050_post_batch.sql), the
 * function POST /api/v1/statuses calls: the status, its reserved media,
 * its poll,
 * its distribute job, all or nothing.  That makes the publication happen
 * exactly once: a second run of the job (another worker, a retry after a
 * crash, a second job after a PUT) finds no row, or waits on the first
 * run's row lock and then finds none.  A post refused by now (its media
 * or the status replied to gone) drops the scheduled status, as Mastodon
 * does (RecordNotFound / RecordInvalid). */
#include "jobs.h"
#include "args.h"
#include "db.h"
#include "log.h"
#include "queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char publish_sql[] =
    "WITH d AS (DELETE FROM scheduled_statuses WHERE id = $1::bigint"
    "  AND scheduled_at <= now() AT TIME ZONE 'UTC' RETURNING id, post_args a)"
    " SELECT p.id, p.why FROM d CROSS JOIN LATERAL mastodon_post_statuses("
    "  ARRAY[ROW(a[1]::bigint, a[2]::bigint, a[3], a[4]::boolean, a[5],"
    "  a[6]::int, a[7], a[8]::bigint, a[9], a[10]::text[], a[11]::text[],"
    "  a[12]::text[], a[13]::text[], a[14]::text[], a[15]::bigint,"
    "  a[16]::boolean, a[17]::boolean, a[18]::bigint[], d.id)::mastodon_post])"
    "  p";

static const char due_sql[] =
    "SELECT (extract(epoch FROM scheduled_at) * 1000)::bigint"
    " FROM scheduled_statuses WHERE id = $1::bigint";

int job_scheduled_status_publish(job_ctx *ctx, const char *args_json, size_t len, char *err,
                                 size_t errlen)
{
    job_args a;
    char id[MW_ID_LEN];
    PGresult *res = NULL;
    int rc = -1;

    if (args_parse(&a, args_json, len, err, errlen) != 0)
        return -1;
    if (args_id(&a, "scheduled_status_id", id) != 1) {
        snprintf(err, errlen, "args need scheduled_status_id (an id string)");
        goto out;
    }
    PGconn *db = job_db(ctx, err, errlen);
    if (db == NULL)
        goto out;
    const char *params[1] = { id };
    res = db_query(db, publish_sql, 1, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        goto out;
    if (PQntuples(res) == 1) {
        if (PQgetisnull(res, 0, 0))
            mlog(LOG_INFO, "scheduled_status_publish: %s dropped (refused now: %s)", id,
                 PQgetvalue(res, 0, 1));
        else
            mlog(LOG_INFO, "scheduled_status_publish: %s posted as status %s", id,
                 PQgetvalue(res, 0, 0));
        rc = 0;
        goto out;
    }

    /* not due yet, or gone (posted, cancelled) */
    PQclear(res);
    res = db_query(db, due_sql, 1, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        goto out;
    if (PQntuples(res) == 0) {
        mlog(LOG_INFO, "scheduled_status_publish: %s is gone", id);
        rc = 0;
        goto out;
    }
    rc = queue_schedule_at(*ctx->redis, "default", "scheduled_status_publish", args_json, len,
                           atoll(PQgetvalue(res, 0, 0)), err, errlen);
out:
    PQclear(res);
    args_free(&a);
    return rc;
}
