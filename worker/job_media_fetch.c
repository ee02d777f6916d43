/* media_fetch (queue "media"): a remote attachment's file cached here, as
 * Mastodon's MediaAttachment#download_file! after a remote status is
 * stored (ActivityPub::Activity::Create, ProcessStatusUpdateService) and
 * RedownloadMediaWorker / MediaProxyController when a view finds it not
 * cached.  args {"id"}.  A video's or audio's thumbnail (its icon,
 * thumbnail_remote_url) is cached too (media_thumbnail_store()), as
 * download_thumbnail!.  Nothing is fetched when a copy is cached already
 * (a second delivery), the attachment is gone or not remote, or its
 * account's domain is blocked with reject_media.  The file is downloaded
 * (media_download.c: guarded, bounded by the attachment's type: images
 * IMAGE_LIMIT, the rest VIDEO_LIMIT), then processed and stored under
 * cache/ as an upload is (media_attachment_store()); the entity then shows
 * our url and preview_url with remote_url.  A file not to be had leaves
 * the attachment as it was: the media proxy's URLs and the remote file. */
#include "jobs.h"
#include "args.h"
#include "db.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* what is still to cache: the file, the thumbnail (audio, video) */
static const char find_sql[] =
    "SELECT m.remote_url, m.type, mastodon_domain_rejects_media(a.domain),"
    " m.file_file_name IS NULL, CASE WHEN m.type IN (2, 4)"
    "  AND m.thumbnail_file_name IS NULL THEN m.thumbnail_remote_url END"
    " FROM media_attachments m JOIN accounts a ON a.id = m.account_id"
    " WHERE m.id = $1::bigint AND m.remote_url <> '' AND a.domain IS NOT NULL"
    " AND (m.file_file_name IS NULL OR (m.type IN (2, 4) AND m.thumbnail_file_name IS NULL"
    "  AND coalesce(m.thumbnail_remote_url, '') <> ''))";

/* Mastodon's "media_download:<id>" lock, in Redis (the worker's
 * PostgreSQL connection may be shared through a pooler): take: 1 taken, 0
 * held by another, -1 error; it expires after the longest download. */
static int lock(job_ctx *ctx, const char *id, int take, char *err, size_t errlen)
{
    redisReply *r;

    if (take)
        r = redisCommand(*ctx->redis, "SET mastodon:media_download:%s 1 NX PX %lld", id,
                         ctx->cfg->media_timeout * 1000LL + 60000);
    else
        r = redisCommand(*ctx->redis, "DEL mastodon:media_download:%s", id);
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "redis: the media_download lock of %s failed", id);
        if (r != NULL)
            freeReplyObject(r);
        return -1;
    }
    int got = r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    return take ? got : 0;
}

/* MediaAttachment#download_file! */
static int cache_file(job_ctx *ctx, PGconn *db, const char *id, const char *url, int image,
                      char *err, size_t errlen)
{
    char base[24];
    media_download_t dl;

    int rc = media_download(ctx, url, image ? MSTDN_MEDIA_IMAGE_LIMIT : MSTDN_MEDIA_VIDEO_LIMIT,
                            &dl, err, errlen);
    if (rc <= 0) {
        if (rc == 0)
            mlog(LOG_WARN, "media %s: not cached: %s", id, err);
        return rc;
    }
    if (random_hex(base, 8) != 0) {
        snprintf(err, errlen, "no randomness for a file name");
        rc = -1;
    } else {
        media_source src = { .id = id, .base = base, .type = dl.kind.mime, .spool = dl.path,
                             .offset = 0, .size = dl.size, .remote = 1 };
        rc = media_attachment_store(ctx, db, &src, err, errlen);
    }
    if (unlink(dl.path) != 0 && errno != ENOENT)
        mlog(LOG_WARN, "media %s: unlink %s: %s", id, dl.path, strerror(errno));
    return rc;
}

/* MediaAttachment#download_thumbnail!: an audio's or video's icon */
static int cache_thumbnail(job_ctx *ctx, PGconn *db, const char *id, const char *url,
                           char *err, size_t errlen)
{
    char base[24];
    media_download_t dl;

    int rc = media_download(ctx, url, MSTDN_MEDIA_IMAGE_LIMIT, &dl, err, errlen);
    if (rc <= 0) {
        if (rc == 0)
            mlog(LOG_WARN, "media %s: thumbnail not cached: %s", id, err);
        return rc;
    }
    if (dl.kind.type != MSTDN_MEDIA_IMAGE) {
        mlog(LOG_WARN, "media %s: thumbnail not cached: %s is not an image", id, dl.kind.mime);
        rc = 0;
    } else if (random_hex(base, 8) != 0) {
        snprintf(err, errlen, "no randomness for a file name");
        rc = -1;
    } else {
        rc = media_thumbnail_store(ctx, db, id, dl.path, 0, dl.size, dl.kind.mime, base, 1, err,
                                   errlen);
    }
    if (unlink(dl.path) != 0 && errno != ENOENT)
        mlog(LOG_WARN, "media %s: unlink %s: %s", id, dl.path, strerror(errno));
    return rc;
}

/* the status' rendering, after a change of its attachment */
static int forget(PGconn *db, const char *id, char *err, size_t errlen)
{
    const char *params[1] = { id };
    PGresult *res = db_query(db, "INSERT INTO job_outbox (queue, type, args)"
                             " SELECT 'default', 'status_forget', json_build_object('status_ids',"
                             " json_build_array(status_id::text))::text FROM media_attachments"
                             " WHERE id = $1::bigint AND status_id IS NOT NULL",
                             1, params, PGRES_COMMAND_OK, err, errlen);
    if (res == NULL)
        return -1;
    PQclear(res);
    return 0;
}

static int fetch_one(job_ctx *ctx, PGconn *db, const char *id, char *err, size_t errlen)
{
    const char *params[1] = { id };
    char url[2048], thumb[2048];

    PGresult *res = db_query(db, find_sql, 1, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return -1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return 0;
    }
    int image = atoi(PQgetvalue(res, 0, 1)) == MSTDN_MEDIA_IMAGE;
    int reject = PQgetvalue(res, 0, 2)[0] == 't';
    int file = PQgetvalue(res, 0, 3)[0] == 't';
    snprintf(url, sizeof(url), "%s", PQgetvalue(res, 0, 0));
    snprintf(thumb, sizeof(thumb), "%s", PQgetvalue(res, 0, 4));
    PQclear(res);
    if (reject) {
        mlog(LOG_INFO, "media %s: not cached: its domain rejects media", id);
        return 0;
    }

    /* one download at a time per attachment (Mastodon's media_download
     * lock): views of it while one runs each enqueue a job; those find
     * the lock taken and leave it to the one holding it */
    int locked = lock(ctx, id, 1, err, errlen);
    if (locked <= 0) {
        if (locked == 0)
            mlog(LOG_DEBUG, "media %s: being downloaded by another job", id);
        return locked;
    }

    /* the thumbnail first: the file's completion then has the status'
     * rendering forgotten with both; a thumbnail alone does it itself */
    int rc = thumb[0] != '\0' ? cache_thumbnail(ctx, db, id, thumb, err, errlen) : 0;
    if (rc == 0 && file)
        rc = cache_file(ctx, db, id, url, image, err, errlen);
    else if (rc == 0 && thumb[0] != '\0')
        rc = forget(db, id, err, errlen);
    char uerr[256];
    if (lock(ctx, id, 0, uerr, sizeof(uerr)) < 0)
        mlog(LOG_WARN, "media %s: unlock: %s", id, uerr);
    return rc;
}

int job_media_fetch(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen)
{
    char id[MW_ID_LEN];
    job_args a;
    int rc = -1;

    if (args_parse(&a, args_json, len, err, errlen) != 0)
        return -1;
    if (args_id(&a, "id", id) != 1) {
        snprintf(err, errlen, "args need id");
        goto out;
    }
    PGconn *db = job_db(ctx, err, errlen);
    if (db != NULL)
        rc = fetch_one(ctx, db, id, err, errlen);
out:
    args_free(&a);
    return rc;
}
