/* media_thumbnail (queue "media"): a custom thumbnail of an audio or video
 * attachment (PUT /api/v1/media/:id `thumbnail`).  args {"id", "spool",
 * "offset", "size", "content_type", "file_name"}: scaled as the small
 * style (THUMBNAIL_STYLES), written beside the spool file and stored
 * (media_storage.h) under media_attachments/thumbnails/<id partition>/
 * original/<name>, then the
 * row's thumbnail columns, its blurhash and meta.small are the
 * thumbnail's (populate_meta) and its former thumbnail file goes.  A bad
 * image changes nothing.  The spool file goes in every end but a retry.
 *
 * media_thumbnail_store() is the same for a remote attachment's thumbnail
 * (its icon, thumbnail_remote_url) downloaded by media_fetch: under
 * cache/. */
#include "jobs.h"
#include "args.h"
#include "db.h"
#include "log.h"
#include "media.h"
#include "media_storage.h"
#include "mstdn_media.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* the former thumbnail's name, when the row is still audio or video */
static const char set_sql[] =
    "WITH o AS (SELECT thumbnail_file_name AS name FROM media_attachments"
    " WHERE id = $1::bigint AND type IN (2, 4) FOR UPDATE),"
    " u AS (UPDATE media_attachments SET thumbnail_file_name = $2,"
    " thumbnail_content_type = $3, thumbnail_file_size = $4::integer,"
    " thumbnail_updated_at = now() AT TIME ZONE 'UTC', blurhash = $5,"
    " file_meta = ((coalesce(file_meta::jsonb, '{}') - 'small')"
    "  || jsonb_build_object('small', $6::jsonb))::json,"
    " updated_at = now() AT TIME ZONE 'UTC'"
    " WHERE id = (SELECT $1::bigint FROM o) RETURNING id)"
    " SELECT o.name FROM o, u";

int media_thumbnail_store(job_ctx *ctx, PGconn *db, const char *id, const char *spool,
                          long long offset, long long size, const char *type, const char *given,
                          int remote, char *err, size_t errlen)
{
    char name[96], path[4096], why[512] = "", meta[256], bytes_text[24], key[MEDIA_KEY_MAX];
    const char *saved, *ext;

    media_image_format(type, &saved, &ext);
    snprintf(name, sizeof(name), "%.16s.%s", given, ext);
    if (media_key(key, sizeof(key), remote, "media_attachments", "thumbnails", id, "original",
                  name) != 0) {
        mlog(LOG_WARN, "media %s: thumbnail not taken: not a file name of ours", id);
        return 0;
    }
    /* written beside the spool file, then handed to the storage */
    snprintf(path, sizeof(path), "%s.thumbnail", spool);

    unsigned char *bytes = media_read_range(spool, offset, size, err, errlen);
    if (bytes == NULL) {
        mlog(LOG_WARN, "media %s: thumbnail not taken: %s", id, err);
        return 0;
    }
    media_image img = { .bytes = bytes, .len = (size_t) size, .content_type = type,
                        .small_path = path };
    int rc = media_image_process(&img, why, sizeof(why));
    free(bytes);
    if (rc == -2) {
        snprintf(err, errlen, "writing %s: %s", path, why);
        return -1;
    }
    if (rc != 0) {
        mlog(LOG_WARN, "media %s: thumbnail not taken: %s", id, why);
        return 0;
    }
    if (media_storage_put(ctx->cfg, key, path, img.saved_type, err, errlen) != 0) {
        /* a retry makes it again */
        unlink(path);
        return -1;
    }

    snprintf(meta, sizeof(meta), "{\"width\":%d,\"height\":%d,\"size\":\"%dx%d\",\"aspect\":%.17g}",
             img.small.width, img.small.height, img.small.width, img.small.height,
             (double) img.small.width / img.small.height);
    snprintf(bytes_text, sizeof(bytes_text), "%zu", img.original_bytes);
    const char *params[6] = { id, name, img.saved_type, bytes_text, img.blurhash, meta };
    PGresult *res = db_query(db, set_sql, 6, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return -1;
    if (PQntuples(res) != 1) {
        /* gone meanwhile: so is the new file */
        PQclear(res);
        return media_storage_delete(ctx->cfg, key, err, errlen);
    }
    char former[64] = "";
    if (!PQgetisnull(res, 0, 0))
        snprintf(former, sizeof(former), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    mlog(LOG_INFO, "media %s: thumbnail %s, %dx%d", id, name, img.small.width, img.small.height);
    if (media_file_name_valid(former) && strcmp(former, name) != 0) {
        if (media_key(key, sizeof(key), remote, "media_attachments", "thumbnails", id,
                      "original", former) != 0
            || media_storage_delete(ctx->cfg, key, err, errlen) != 0)
            mlog(LOG_WARN, "media %s: former thumbnail left: %s", id, err);
    }
    return 0;
}

int job_media_thumbnail(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen)
{
    static const char *offset_path[] = { "offset", NULL }, *size_path[] = { "size", NULL };
    char id[MW_ID_LEN];
    job_args a;
    int rc = -1;

    if (args_parse(&a, args_json, len, err, errlen) != 0)
        return -1;
    const char *spool = args_string(&a, "spool");
    const char *type = args_string(&a, "content_type");
    const char *name = args_string(&a, "file_name");
    yajl_val off = yajl_tree_get(a.root, offset_path, yajl_t_number);
    yajl_val sz = yajl_tree_get(a.root, size_path, yajl_t_number);
    if (args_id(&a, "id", id) != 1 || spool == NULL || type == NULL || strncmp(type, "image/", 6) != 0
        || !media_file_name_valid(name) || off == NULL || sz == NULL || !YAJL_IS_INTEGER(off)
        || !YAJL_IS_INTEGER(sz) || YAJL_GET_INTEGER(off) < 0 || YAJL_GET_INTEGER(sz) < 0
        || YAJL_GET_INTEGER(sz) > MSTDN_MEDIA_VIDEO_LIMIT) {
        snprintf(err, errlen, "args need id, spool, offset, size, an image content_type and"
                              " file_name (one the module made)");
        goto out;
    }

    PGconn *db = job_db(ctx, err, errlen);
    if (db != NULL)
        rc = media_thumbnail_store(ctx, db, id, spool, YAJL_GET_INTEGER(off),
                                   YAJL_GET_INTEGER(sz), type, name, 0, err, errlen);

    if (rc == 0 && unlink(spool) != 0 && errno != ENOENT)
        mlog(LOG_WARN, "media %s: unlink %s: %s", id, spool, strerror(errno));
out:
    args_free(&a);
    return rc;
}
