/* media_process (queue "media"): an upload the module handed over.  args
 * {"id", "spool", "offset", "size"}: the attachment, the spool file (a
 * link to nginx's temporary file of the upload, or a copy of the part) and
 * the range of it that is the file.  Images become the original and small
 * styles under media_root with Paperclip's layout, the meta, the blurhash
 * and processing complete; a bad image is processing failed (the API's
 * 422), not retried.  The spool file goes in every end but a retry: also
 * when the row is gone (the upload was deleted meanwhile). */
#include "jobs.h"
#include "args.h"
#include "db.h"
#include "log.h"
#include "media.h"
#include "mstdn_media.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char find_sql[] =
    "UPDATE media_attachments SET processing = 1 WHERE id = $1::bigint"
    " AND processing IN (0, 1) RETURNING file_file_name, file_content_type";

static const char done_sql[] =
    "UPDATE media_attachments SET processing = 2, file_file_name = $2,"
    " file_content_type = $3, file_file_size = $4::integer, blurhash = $5,"
    " file_meta = ((coalesce(file_meta::jsonb, '{}') - 'original' - 'small')"
    "  || $6::jsonb)::json, file_updated_at = now() AT TIME ZONE 'UTC',"
    " updated_at = now() AT TIME ZONE 'UTC' WHERE id = $1::bigint";

static const char failed_sql[] =
    "UPDATE media_attachments SET processing = 3,"
    " updated_at = now() AT TIME ZONE 'UTC' WHERE id = $1::bigint";

static int mark_failed(PGconn *db, const char *id, const char *why, char *err, size_t errlen)
{
    const char *params[] = { id };

    mlog(LOG_WARN, "media %s: processing failed: %s", id, why);
    PGresult *res = db_query(db, failed_sql, 1, params, PGRES_COMMAND_OK, err, errlen);
    if (res == NULL)
        return -1;
    PQclear(res);
    return 0;
}

static int process(job_ctx *ctx, PGconn *db, const char *id, const char *spool, long long offset,
                   long long size, char *err, size_t errlen)
{
    const char *params[6] = { id };
    PGresult *res = db_query(db, find_sql, 1, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return -1;
    if (PQntuples(res) != 1) {
        /* deleted, or already processed (a second delivery) */
        PQclear(res);
        return 0;
    }

    char type[64], base[64];
    snprintf(type, sizeof(type), "%s", PQgetvalue(res, 0, 1));
    snprintf(base, sizeof(base), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    char *dot = strrchr(base, '.');
    if (dot != NULL)
        *dot = '\0';

    if (strncmp(type, "image/", 6) != 0)
        return mark_failed(db, id, "video and audio are not processed yet", err, errlen);

    unsigned char *bytes = media_read_range(spool, offset, size, err, errlen);
    if (bytes == NULL)
        return mark_failed(db, id, err, err, errlen);

    media_image img = { .bytes = bytes, .len = (size_t) size, .content_type = type };
    const char *ext, *saved;
    media_image_format(type, &saved, &ext);
    char name[96], original[4096], small[4096];
    snprintf(name, sizeof(name), "%s.%s", base, ext);
    media_style_path(ctx->cfg->media_root, id, "original", name, original, sizeof(original));
    media_style_path(ctx->cfg->media_root, id, "small", name, small, sizeof(small));
    img.original_path = original;
    img.small_path = small;

    char why[512] = "";
    int rc = media_image_process(&img, why, sizeof(why));
    free(bytes);
    if (rc == -2) {
        snprintf(err, errlen, "writing %s: %s", original, why);
        return -1;
    }
    if (rc != 0)
        return mark_failed(db, id, why, err, errlen);

    char meta[512], bytes_text[24];
    snprintf(meta, sizeof(meta),
             "{\"original\":{\"width\":%d,\"height\":%d,\"size\":\"%dx%d\",\"aspect\":%.17g},"
             "\"small\":{\"width\":%d,\"height\":%d,\"size\":\"%dx%d\",\"aspect\":%.17g}}",
             img.original.width, img.original.height, img.original.width, img.original.height,
             (double) img.original.width / img.original.height, img.small.width, img.small.height,
             img.small.width, img.small.height, (double) img.small.width / img.small.height);
    snprintf(bytes_text, sizeof(bytes_text), "%zu", img.original_bytes);
    params[1] = name;
    params[2] = img.saved_type;
    params[3] = bytes_text;
    params[4] = img.blurhash;
    params[5] = meta;
    res = db_query(db, done_sql, 6, params, PGRES_COMMAND_OK, err, errlen);
    if (res == NULL)
        return -1;
    if (strcmp(PQcmdTuples(res), "1") != 0) {
        /* deleted while we worked: its files go now */
        PQclear(res);
        unlink(original);
        unlink(small);
        return 0;
    }
    PQclear(res);
    mlog(LOG_INFO, "media %s: %dx%d, small %dx%d, blurhash %s", id, img.original.width,
         img.original.height, img.small.width, img.small.height, img.blurhash);
    return 0;
}

int job_media_process(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen)
{
    static const char *offset_path[] = { "offset", NULL }, *size_path[] = { "size", NULL };
    char id[MW_ID_LEN];
    job_args a;
    int rc = -1;

    if (args_parse(&a, args_json, len, err, errlen) != 0)
        return -1;
    const char *spool = args_string(&a, "spool");
    yajl_val off = yajl_tree_get(a.root, offset_path, yajl_t_number);
    yajl_val sz = yajl_tree_get(a.root, size_path, yajl_t_number);
    if (args_id(&a, "id", id) != 1 || spool == NULL || off == NULL || sz == NULL
        || !YAJL_IS_INTEGER(off) || !YAJL_IS_INTEGER(sz) || YAJL_GET_INTEGER(off) < 0
        || YAJL_GET_INTEGER(sz) < 0 || YAJL_GET_INTEGER(sz) > MSTDN_MEDIA_VIDEO_LIMIT * 4LL) {
        snprintf(err, errlen, "args need id, spool, offset and size");
        goto out;
    }

    PGconn *db = job_db(ctx, err, errlen);
    if (db != NULL)
        rc = process(ctx, db, id, spool, YAJL_GET_INTEGER(off), YAJL_GET_INTEGER(sz), err, errlen);

    /* done with it, for good or bad; a retry needs it still */
    if (rc == 0 && unlink(spool) != 0 && errno != ENOENT)
        mlog(LOG_WARN, "media %s: unlink %s: %s", id, spool, strerror(errno));
out:
    args_free(&a);
    return rc;
}
