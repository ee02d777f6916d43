/* media_process (queue "media"): an upload the module handed over.  args
 * {"id", "spool", "offset", "size"}: the attachment, the spool file (a
 * link to nginx's temporary file of the upload, or a copy of the part) and
 * the range of it that is the file.  Images become the original and small
 * styles (written beside the spool file, then handed to media_storage.h:
 * media_root or S3) with Paperclip's layout, the meta, the blurhash
 * and processing complete; video, audio and animated GIFs go through
 * ffmpeg (media_av.c: MP4 or MP3, type gifv, video or audio as
 * Mastodon's transcoder decides, the first frame as the small PNG), stored
 * the same way; a bad file is processing failed (the API's 422), not
 * retried.  The spool file goes in every end but a retry: also
 * when the row is gone (the upload was deleted meanwhile).
 *
 * media_attachment_store() is the same work for a remote attachment's
 * downloaded file (job_media_fetch.c): its keys under cache/, the row
 * completed only while no copy is cached yet (then its statuses' render
 * forgotten), and a bad file leaves it uncached (the media proxy's URLs
 * stay) rather than failed. */
#include "jobs.h"
#include "args.h"
#include "db.h"
#include "log.h"
#include "media.h"
#include "media_storage.h"
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
    " type = coalesce($7::integer, type),"
    " updated_at = now() AT TIME ZONE 'UTC' WHERE id = $1::bigint";

/* a remote attachment's copy: only the first of concurrent downloads
 * lands; the status' rendering is forgotten */
static const char remote_done_sql[] =
    "WITH u AS (UPDATE media_attachments SET processing = 2, file_file_name = $2,"
    " file_content_type = $3, file_file_size = $4::integer, blurhash = $5,"
    " file_meta = ((coalesce(file_meta::jsonb, '{}') - 'original' - 'small')"
    "  || $6::jsonb)::json, file_updated_at = now() AT TIME ZONE 'UTC',"
    " type = coalesce($7::integer, type),"
    " updated_at = now() AT TIME ZONE 'UTC' WHERE id = $1::bigint"
    " AND file_file_name IS NULL AND remote_url <> '' RETURNING status_id),"
    " ob AS (INSERT INTO job_outbox (queue, type, args)"
    "  SELECT 'default', 'status_forget', json_build_object('status_ids',"
    "  json_build_array(status_id::text))::text FROM u WHERE status_id IS NOT NULL)"
    " SELECT 1 FROM u";

static const char failed_sql[] =
    "UPDATE media_attachments SET processing = 3,"
    " updated_at = now() AT TIME ZONE 'UTC' WHERE id = $1::bigint";

static int mark_failed(PGconn *db, const media_source *src, const char *why, char *err,
                       size_t errlen)
{
    const char *id = src->id;
    const char *params[] = { id };

    if (src->remote) {
        /* MediaAttachment#download_file! failing: still the remote file */
        mlog(LOG_WARN, "media %s: remote file not cached: %s", id, why);
        return 0;
    }
    mlog(LOG_WARN, "media %s: processing failed: %s", id, why);
    PGresult *res = db_query(db, failed_sql, 1, params, PGRES_COMMAND_OK, err, errlen);
    if (res == NULL)
        return -1;
    PQclear(res);
    return 0;
}

/* the row complete, or (deleted meanwhile) the stored files gone */
static int complete(job_ctx *ctx, PGconn *db, int remote, const char *params[7],
                    const char *okey, const char *skey, char *err, size_t errlen)
{
    PGresult *res = db_query(db, remote ? remote_done_sql : done_sql, 7, params,
                             remote ? PGRES_TUPLES_OK : PGRES_COMMAND_OK, err, errlen);
    if (res == NULL)
        return -1;
    if (remote ? PQntuples(res) != 1 : strcmp(PQcmdTuples(res), "1") != 0) {
        PQclear(res);
        if (media_storage_delete(ctx->cfg, okey, err, errlen) != 0
            || (skey != NULL && media_storage_delete(ctx->cfg, skey, err, errlen) != 0))
            return -1;
        return 0;
    }
    PQclear(res);
    return 0;
}

/* video, audio, an animated GIF: through ffmpeg from a file of its own */
static int process_av(job_ctx *ctx, PGconn *db, const media_source *src, char *err,
                      size_t errlen)
{
    const char *id = src->id, *base = src->base, *type = src->type, *spool = src->spool;
    char input[4200], name[96], small_name[96], original[4200], small[4200], why[512] = "";
    char okey[MEDIA_KEY_MAX], skey[MEDIA_KEY_MAX];
    media_av av;

    int audio_in = strncmp(type, "audio/", 6) == 0 || strcmp(type, "video/x-ms-asf") == 0;
    snprintf(name, sizeof(name), "%s.%s", base, audio_in ? "mp3" : "mp4");
    snprintf(small_name, sizeof(small_name), "%s.png", base);
    if (media_key(okey, sizeof(okey), src->remote, "media_attachments", "files", id, "original",
                  name) != 0
        || media_key(skey, sizeof(skey), src->remote, "media_attachments", "files", id, "small",
                     small_name) != 0)
        return mark_failed(db, src, "not a file name of ours", err, errlen);
    /* written beside the spool file, then handed to the storage */
    snprintf(original, sizeof(original), "%s.original", spool);
    snprintf(small, sizeof(small), "%s.small", spool);

    snprintf(input, sizeof(input), "%s.av", spool);
    if (media_copy_range(spool, src->offset, src->size, input, err, errlen) != 0)
        return -1;

    memset(&av, 0, sizeof(av));
    av.input = input;
    av.content_type = type;
    av.timeout_s = ctx->cfg->media_timeout;
    av.original_path = original;
    av.small_path = audio_in ? NULL : small;
    av.audio = audio_in;
    int rc = media_av_process(&av, why, sizeof(why));
    unlink(input);
    if (rc == -2) {
        snprintf(err, errlen, "writing %s: %s", original, why);
        return -1;
    }
    if (rc != 0)
        return mark_failed(db, src, why, err, errlen);
    if (media_storage_put(ctx->cfg, okey, original, av.audio ? "audio/mpeg" : "video/mp4", err,
                          errlen) != 0
        || (!av.audio && media_storage_put(ctx->cfg, skey, small, "image/png", err, errlen) != 0)) {
        /* a retry makes them again */
        unlink(original);
        unlink(small);
        return -1;
    }

    char meta[768], original_meta[384], bytes_text[24], type_text[8];
    const media_probe_t *o = &av.out;
    if (av.audio)
        snprintf(original_meta, sizeof(original_meta), "{\"duration\":%.6g,\"bitrate\":%lld}",
                 o->duration, o->bitrate);
    else
        snprintf(original_meta, sizeof(original_meta),
                 "{\"width\":%d,\"height\":%d,\"frame_rate\":\"%s\",\"duration\":%.6g,"
                 "\"bitrate\":%lld}",
                 o->width, o->height, o->frame_rate, o->duration, o->bitrate);
    if (av.audio)
        snprintf(meta, sizeof(meta), "{\"original\":%s}", original_meta);
    else
        snprintf(meta, sizeof(meta),
                 "{\"original\":%s,\"small\":{\"width\":%d,\"height\":%d,\"size\":\"%dx%d\","
                 "\"aspect\":%.17g}}",
                 original_meta, av.small.width, av.small.height, av.small.width, av.small.height,
                 (double) av.small.width / av.small.height);
    snprintf(bytes_text, sizeof(bytes_text), "%zu", av.original_bytes);
    snprintf(type_text, sizeof(type_text), "%d",
             av.audio ? MSTDN_MEDIA_AUDIO : av.gifv ? MSTDN_MEDIA_GIFV : MSTDN_MEDIA_VIDEO);
    const char *params[7] = { id, name, av.audio ? "audio/mpeg" : "video/mp4", bytes_text,
                              av.audio ? NULL : av.blurhash, meta, type_text };
    if (complete(ctx, db, src->remote, params, okey, av.audio ? NULL : skey, err, errlen) != 0)
        return -1;
    mlog(LOG_INFO, "media %s: %s, %s %.2f s, %lld bit/s", id, av.audio ? "audio" : av.gifv ? "gifv"
         : "video", type, o->duration, o->bitrate);
    return 0;
}

int media_attachment_store(job_ctx *ctx, PGconn *db, const media_source *src, char *err,
                           size_t errlen)
{
    const char *id = src->id, *type = src->type, *spool = src->spool;
    long long size = src->size;

    if (strncmp(type, "image/", 6) != 0)
        return process_av(ctx, db, src, err, errlen);

    unsigned char *bytes = media_read_range(spool, src->offset, size, err, errlen);
    if (bytes == NULL)
        return mark_failed(db, src, err, err, errlen);
    if (strcmp(type, "image/gif") == 0 && media_gif_animated(bytes, (size_t) size)) {
        /* GifTranscoder: an animation is a gifv */
        free(bytes);
        return process_av(ctx, db, src, err, errlen);
    }

    media_image img = { .bytes = bytes, .len = (size_t) size, .content_type = type };
    const char *ext, *saved;
    media_image_format(type, &saved, &ext);
    char name[96], original[4096], small[4096], okey[MEDIA_KEY_MAX], skey[MEDIA_KEY_MAX];
    snprintf(name, sizeof(name), "%s.%s", src->base, ext);
    if (media_key(okey, sizeof(okey), src->remote, "media_attachments", "files", id, "original",
                  name) != 0
        || media_key(skey, sizeof(skey), src->remote, "media_attachments", "files", id, "small",
                     name) != 0) {
        free(bytes);
        return mark_failed(db, src, "not a file name of ours", err, errlen);
    }
    /* written beside the spool file, then handed to the storage */
    snprintf(original, sizeof(original), "%s.original", spool);
    snprintf(small, sizeof(small), "%s.small", spool);
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
        return mark_failed(db, src, why, err, errlen);
    if (media_storage_put(ctx->cfg, okey, original, img.saved_type, err, errlen) != 0
        || media_storage_put(ctx->cfg, skey, small, img.saved_type, err, errlen) != 0) {
        /* a retry makes them again */
        unlink(original);
        unlink(small);
        return -1;
    }

    char meta[512], bytes_text[24], type_text[8];
    snprintf(meta, sizeof(meta),
             "{\"original\":{\"width\":%d,\"height\":%d,\"size\":\"%dx%d\",\"aspect\":%.17g},"
             "\"small\":{\"width\":%d,\"height\":%d,\"size\":\"%dx%d\",\"aspect\":%.17g}}",
             img.original.width, img.original.height, img.original.width, img.original.height,
             (double) img.original.width / img.original.height, img.small.width, img.small.height,
             img.small.width, img.small.height, (double) img.small.width / img.small.height);
    snprintf(bytes_text, sizeof(bytes_text), "%zu", img.original_bytes);
    snprintf(type_text, sizeof(type_text), "%d", MSTDN_MEDIA_IMAGE);
    const char *params[7] = { id, name, img.saved_type, bytes_text, img.blurhash, meta,
                              type_text };
    if (complete(ctx, db, src->remote, params, okey, skey, err, errlen) != 0)
        return -1;
    mlog(LOG_INFO, "media %s: %dx%d, small %dx%d, blurhash %s", id, img.original.width,
         img.original.height, img.small.width, img.small.height, img.blurhash);
    return 0;
}

static int process(job_ctx *ctx, PGconn *db, const char *id, const char *spool, long long offset,
                   long long size, char *err, size_t errlen)
{
    const char *params[1] = { id };
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

    media_source src = { .id = id, .base = base, .type = type, .spool = spool,
                         .offset = offset, .size = size, .remote = 0 };
    return media_attachment_store(ctx, db, &src, err, errlen);
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
