/* media_cleanup (periodic.c, hourly; queue "scheduler"): Mastodon's
 * MediaCleanupScheduler.  Uploads never attached, and the media a status
 * delete detached (kept for a redraft, as RemoveStatusService does unless
 * delete_media is given), go once they are a day old: the rows in
 * batches, each batch with its media_remove jobs (the files, from
 * whichever storage) in the same statement, so no file is forgotten when
 * the job dies halfway.  The day-old rows of account_image_failures (the
 * avatars and headers the API has long answered 422 for) go too. */
#include "jobs.h"
#include "db.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>

#define CLEANUP_BATCH     1000          /* the LIMIT below */
#define CLEANUP_BATCHES   100

static const char cleanup_sql[] =
    "WITH d AS (DELETE FROM media_attachments WHERE id IN"
    "  (SELECT id FROM media_attachments WHERE status_id IS NULL"
    "   AND scheduled_status_id IS NULL"
    "   AND created_at < (now() AT TIME ZONE 'UTC') - interval '1 day'"
    "   ORDER BY created_at LIMIT 1000 FOR UPDATE SKIP LOCKED)"
    "  RETURNING id, file_file_name, thumbnail_file_name, remote_url),"
    " j AS (INSERT INTO job_outbox (queue, type, args)"
    "  SELECT 'media', 'media_remove', json_build_object('id', d.id::text,"
    "   'file_file_name', d.file_file_name, 'thumbnail_file_name', d.thumbnail_file_name,"
    "   'remote', d.remote_url <> '')::text"
    "  FROM d WHERE d.file_file_name IS NOT NULL)"
    " SELECT count(*) FROM d";

int job_media_cleanup(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen)
{
    long total = 0;

    (void) args_json;
    (void) len;
    PGconn *db = job_db(ctx, err, errlen);
    if (db == NULL)
        return -1;
    for (int i = 0; i < CLEANUP_BATCHES; i++) {
        PGresult *res = db_query(db, cleanup_sql, 0, NULL, PGRES_TUPLES_OK, err, errlen);
        if (res == NULL)
            return -1;
        long n = atol(PQgetvalue(res, 0, 0));
        PQclear(res);
        total += n;
        if (n < CLEANUP_BATCH)
            break;
    }
    PGresult *res = db_query(db,
        "DELETE FROM account_image_failures"
        " WHERE created_at < (now() AT TIME ZONE 'UTC') - interval '1 day'",
        0, NULL, PGRES_COMMAND_OK, err, errlen);
    if (res == NULL)
        return -1;
    PQclear(res);
    mlog(LOG_INFO, "media_cleanup: %ld unattached media attachment(s) over a day old removed",
         total);
    return 0;
}
