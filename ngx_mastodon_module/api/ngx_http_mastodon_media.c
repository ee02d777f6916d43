/*
 * Media uploads (Api::V1::MediaController, Api::V2::MediaController):
 * POST /api/v1/media and /api/v2/media, GET, PUT and DELETE
 * /api/v1/media/:id, the uploader's unattached media only.
 *
 * An upload's bytes stay where nginx wrote them (media routes always keep
 * a multipart body in nginx's temporary file).  One pool-thread task
 * reads the file part's first bytes, decides the type from them
 * (lib/mstdn_media.c: never the name or the declared Content-Type),
 * checks the size limit of that type and hands the file over: link(2)
 * of nginx's temporary file into the spool (mastodon_media_spool), no
 * copy (a copy of the part only when the spool is on another file
 * system).  The worker reads it there: the event loop never reads the
 * file, and nginx's cleanup at the request's end removes only its own
 * name.  The row (processing: queued) and the worker's job (queue
 * "media", type media_process: the id, the spool file, the part's offset
 * and size) are one statement.  Mastodon processes an upload in the
 * request unless v2 delays it (larger_media_format?: video, gifv, audio),
 * so v1, and v2 for an image, poll the row (a timer, every 100 ms, at most
 * mastodon_media_v1_wait) and answer 200 once complete, 422 once failed,
 * or, past the wait, the row with url null: 200 (v1) or 202 (v2).  v2
 * answers 202 at once for video and audio, and for an animated GIF, which
 * the worker made a gifv (Mastodon's GifTranscoder makes it one before
 * set_processing queues it).
 */

#include <math.h>
#include <openssl/rand.h>

#include "ngx_http_mastodon_api.h"
#include "mstdn_media.h"
#include "mstdn_utf8.h"


#define NGX_HTTP_MASTODON_MEDIA_POLL  100       /* ms between looks */


/*
 * $1 account, $2 file name, $3 content type, $4 size, $5 type, $6
 * description, $7 focus x, $8 focus y, $9 the spool file, $10 the part's
 * offset in it
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_media_insert =
    ngx_http_mastodon_pg_stmt(
        "WITH m AS (INSERT INTO media_attachments (account_id,"
        " file_file_name, file_content_type, file_file_size,"
        " file_updated_at, type, processing, description, file_meta)"
        " VALUES ($1::bigint, $2, $3, $4::integer,"
        "  now() AT TIME ZONE 'UTC', $5::integer, 0, $6,"
        "  CASE WHEN $7::float8 IS NULL THEN NULL"
        "  ELSE json_build_object('focus', json_build_object('x', $7::float8,"
        "   'y', $8::float8)) END)"
        " RETURNING *),"
        " job AS (" NGX_HTTP_MASTODON_OUTBOX_SQL(
        "SELECT 'media', 'media_process', json_build_object('id',"
        " m.id::text, 'spool', $9::text, 'offset', $10::bigint,"
        " 'size', $4::bigint) FROM m") ")"
        " SELECT " NGX_HTTP_MASTODON_MEDIA_COLUMNS " FROM m", 10);

/*
 * $1 id, $2 account, $3 the spool file, $4 the part's offset, $5 its
 * size, $6 its type, $7 the thumbnail's name: a media_thumbnail job for
 * the caller's unattached audio or video; whether one was queued
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_media_thumbnail_job =
    ngx_http_mastodon_pg_stmt(
        "WITH job AS (" NGX_HTTP_MASTODON_OUTBOX_SQL(
        "SELECT 'media', 'media_thumbnail', json_build_object('id',"
        " m.id::text, 'spool', $3::text, 'offset', $4::bigint,"
        " 'size', $5::bigint, 'content_type', $6::text,"
        " 'file_name', $7::text) FROM media_attachments m"
        " WHERE m.id = $1::bigint AND m.account_id = $2::bigint"
        " AND m.status_id IS NULL AND m.type IN (2, 4)"
        " AND m.processing IS DISTINCT FROM 3") " RETURNING 1)"
        " SELECT count(*) FROM job", 7);

/* $1 id, $2 account: set_media_attachment's, status_id nil */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_media_select =
    ngx_http_mastodon_pg_stmt(
        "SELECT " NGX_HTTP_MASTODON_MEDIA_COLUMNS
        " FROM media_attachments m WHERE m.id = $1::bigint"
        " AND m.account_id = $2::bigint AND m.status_id IS NULL", 2);

/*
 * $1 id, $2 account, $3 description given, $4 description, $5 focus x,
 * $6 focus y (NULL: not given): only while not failed (check_processing
 * comes first); the focus replaces meta's, the rest of meta stays
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_media_change =
    ngx_http_mastodon_pg_stmt(
        "UPDATE media_attachments m SET"
        " description = CASE WHEN $3::boolean THEN $4 ELSE m.description END,"
        " file_meta = CASE WHEN $5::float8 IS NULL THEN m.file_meta"
        "  ELSE (coalesce(m.file_meta::jsonb, '{}'::jsonb)"
        "   || jsonb_build_object('focus', jsonb_build_object('x',"
        "   $5::float8, 'y', $6::float8)))::json END,"
        " updated_at = now() AT TIME ZONE 'UTC'"
        " WHERE m.id = $1::bigint AND m.account_id = $2::bigint"
        " AND m.status_id IS NULL AND m.processing IS DISTINCT FROM 3"
        " RETURNING " NGX_HTTP_MASTODON_MEDIA_COLUMNS, 6);

/*
 * $1 id, $2 account: deleted (1 or 0), and whether it is the account's
 * at all (the snapshot before the delete); its files go with a
 * media_remove job
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_media_delete =
    ngx_http_mastodon_pg_stmt(
        "WITH d AS (DELETE FROM media_attachments WHERE id = $1::bigint"
        " AND account_id = $2::bigint AND status_id IS NULL"
        " RETURNING id, file_file_name, thumbnail_file_name),"
        " job AS (" NGX_HTTP_MASTODON_MEDIA_REMOVE_SQL("d") ")"
        " SELECT (SELECT count(*) FROM d), EXISTS (SELECT 1"
        " FROM media_attachments WHERE id = $1::bigint"
        " AND account_id = $2::bigint)", 2);


static ngx_int_t ngx_http_mastodon_media_create(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_uint_t v2);
static ngx_int_t ngx_http_mastodon_media_copy(
    ngx_http_mastodon_media_upload_t *u);
static void ngx_http_mastodon_media_handed(ngx_http_request_t *r,
    void *data);
static void ngx_http_mastodon_media_inserted(ngx_http_mastodon_pg_batch_t *b);
static ngx_int_t ngx_http_mastodon_media_wait_processed(
    ngx_http_request_t *r, ngx_http_mastodon_media_upload_t *u,
    PGresult *res);
static ngx_uint_t ngx_http_mastodon_media_created(
    ngx_http_mastodon_media_upload_t *u, PGresult *res);
static void ngx_http_mastodon_media_poll(ngx_event_t *ev);
static void ngx_http_mastodon_media_polled(ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_media_wait_cleanup(void *data);
static void ngx_http_mastodon_media_thumbnail_handed(ngx_http_request_t *r,
    void *data);
static ngx_int_t ngx_http_mastodon_media_change_run(ngx_http_request_t *r,
    const char **values, ngx_http_mastodon_media_upload_t *u);
static void ngx_http_mastodon_media_thumbnailed(
    ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_media_not_thumbnailed(ngx_http_request_t *r,
    void *data);
static void ngx_http_mastodon_media_one_done(ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_media_deleted(ngx_http_mastodon_pg_batch_t *b);
static ngx_int_t ngx_http_mastodon_media_send(ngx_http_request_t *r,
    PGresult *res, ngx_uint_t status);


/* POST /api/v1/media */
ngx_int_t
ngx_http_mastodon_media_create_v1(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_media_create(r, ctx, 0);
}


/* POST /api/v2/media */
ngx_int_t
ngx_http_mastodon_media_create_v2(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_media_create(r, ctx, 1);
}


static ngx_int_t
ngx_http_mastodon_media_create(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_uint_t v2)
{
    ngx_int_t                          rc;
    mstdn_value_t                     *file;
    ngx_http_mastodon_media_upload_t  *u;

    u = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_media_upload_t));
    if (u == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    u->v2 = v2;

    file = ctx->params ? ngx_http_mastodon_param_file(ctx, "file") : NULL;
    if (file == NULL) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: media upload without a file");
        ctx->error_message = "Validation failed: File can't be blank";
        return 422;
    }

    rc = ngx_http_mastodon_media_attrs(r, ctx, ctx->params, &u->description,
                                       &u->focus_x, &u->focus_y);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_mastodon_media_upload_init(r, u, file) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mastodon_thread_run(r, ngx_http_mastodon_media_handover,
                                     ngx_http_mastodon_media_handed, u)
        != NGX_OK)
    {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}


/*
 * u filled for ngx_http_mastodon_media_handover() with the file parameter
 * and a fresh spool name (Attachmentable's: 8 random bytes, hex)
 */
ngx_int_t
ngx_http_mastodon_media_upload_init(ngx_http_request_t *r,
    ngx_http_mastodon_media_upload_t *u, mstdn_value_t *file)
{
    u_char                          rnd[NGX_HTTP_MASTODON_MEDIA_NAME_LEN / 2];
    ngx_str_t                      *spool;
    ngx_http_mastodon_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        return NGX_ERROR;
    }

    ngx_hex_dump(u->name, rnd, sizeof(rnd));

    u->str = (const u_char *) file->str;
    u->path = file->path;
    u->fd = file->fd;
    u->offset = file->offset;
    u->size = file->len;
    u->image_limit = mcf->media_image_limit;
    u->video_limit = mcf->media_video_limit;

    spool = &mcf->media_spool->name;

    u->spool = ngx_pnalloc(r->pool, spool->len + 1
                                    + NGX_HTTP_MASTODON_MEDIA_NAME_LEN + 1);
    if (u->spool == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(u->spool, "%V/%s%Z", spool, u->name);

    return NGX_OK;
}


/*
 * description and focus of params (the request's, or an edit's
 * media_attributes[] element), as create and update take them: NGX_OK with
 * each NULL when not given, or the 422 to answer.  focus is "x,y"
 * (String#split(',').map(&:to_f): what is no number is 0.0).
 */
ngx_int_t
ngx_http_mastodon_media_attrs(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, mstdn_value_t *params,
    const char **description, const char **x, const char **y)
{
    u_char                   *comma;
    double                    d;
    ngx_str_t                 part;
    mstdn_value_t            *v;

    *description = NULL;
    *x = NULL;
    *y = NULL;

    v = params ? mstdn_object_get(params, "description") : NULL;

    if (v && v->type == MSTDN_STRING) {
        if (mstdn_utf8_length((const u_char *) v->str, v->len)
            > MSTDN_MEDIA_DESCRIPTION_MAX)
        {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "mastodon: media description too long");
            ctx->error_message = "Validation failed: Description is too "
                                 "long (maximum is 1500 characters)";
            return 422;
        }

        *description = v->str;
    }

    v = params ? mstdn_object_get(params, "focus") : NULL;

    /* point.blank?: nothing changes */
    if (v == NULL || v->type != MSTDN_STRING || v->len == 0) {
        return NGX_OK;
    }

    part.data = (u_char *) v->str;
    comma = ngx_strlchr(part.data, part.data + v->len, ',');
    part.len = comma ? (size_t) (comma - part.data) : v->len;

    d = strtod((const char *) part.data, NULL);
    *x = (const char *) ngx_pnalloc(r->pool, 32);
    if (*x == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    snprintf((char *) *x, 32, "%.17g", isfinite(d) ? d : 0.0);

    if (comma == NULL) {
        /* y nil, as the Ruby multiple assignment leaves it */
        return NGX_OK;
    }

    d = strtod((const char *) comma + 1, NULL);
    *y = (const char *) ngx_pnalloc(r->pool, 32);
    if (*y == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    snprintf((char *) *y, 32, "%.17g", isfinite(d) ? d : 0.0);

    return NGX_OK;
}


/* in a pool thread: sniff, check the size, hand the file over */
void
ngx_http_mastodon_media_handover(void *data, ngx_log_t *log)
{
    ssize_t                            n;
    u_char                             head[MSTDN_MEDIA_SNIFF_LEN];
    ngx_http_mastodon_media_upload_t  *u = data;

    n = ngx_min(u->size, sizeof(head));

    if (u->str) {
        ngx_memcpy(head, u->str, n);

    } else if (n) {
        n = pread(u->fd, head, n, u->offset);   /* thread pool */
        if (n < 0) {
            u->err = ngx_errno;
            u->failed = "pread()";   /* thread pool */
            u->result = NGX_HTTP_MASTODON_MEDIA_FAILED;
            return;
        }
    }

    if (mstdn_media_sniff(head, n, &u->kind) != 0) {
        u->result = NGX_HTTP_MASTODON_MEDIA_INVALID;
        return;
    }

    /* thumbnails: IMAGE_MIME_TYPES */
    if (u->images_only && u->kind.type != MSTDN_MEDIA_IMAGE) {
        u->result = NGX_HTTP_MASTODON_MEDIA_INVALID;
        return;
    }

    /* avatars and headers: AVATAR_IMAGE_MIME_TYPES */
    if (u->profile_image
        && (u->kind.type != MSTDN_MEDIA_IMAGE
            || ngx_strcmp(u->kind.mime, "image/heic") == 0
            || ngx_strcmp(u->kind.mime, "image/avif") == 0))
    {
        u->result = NGX_HTTP_MASTODON_MEDIA_INVALID;
        return;
    }

    if (mstdn_media_too_large(u->kind.type, u->size, u->image_limit,
                              u->video_limit))
    {
        u->result = NGX_HTTP_MASTODON_MEDIA_TOO_LARGE;
        return;
    }

    /* the whole body under a second name: the part stays at its offset */
    /* thread pool: this task runs in a pool thread */
    if (u->path && link(u->path, (char *) u->spool) == 0) {
        u->spool_offset = u->offset;
        return;
    }

    /* thread pool: on another file system (EXDEV), or from a body in
     * memory, the part alone is copied */
    if (ngx_http_mastodon_media_copy(u) != NGX_OK) {
        u->result = NGX_HTTP_MASTODON_MEDIA_FAILED;
        /* thread pool: this task runs in a pool thread */
        (void) unlink((char *) u->spool);
    }
}


/* in a pool thread: the part copied into the spool file */
static ngx_int_t
ngx_http_mastodon_media_copy(ngx_http_mastodon_media_upload_t *u)
{
    int        fd;
    size_t     size;
    ssize_t    n, w;
    uint64_t   done;
    u_char     buf[NGX_HTTP_MASTODON_BODY_CHUNK / 4];

    /* thread pool: this task runs in a pool thread */
    fd = open((char *) u->spool, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd == -1) {
        u->err = ngx_errno;
        u->failed = "open()";
        return NGX_ERROR;
    }

    u->spool_offset = 0;

    for (done = 0; done < u->size; done += n) {
        size = ngx_min(sizeof(buf), u->size - done);

        if (u->str) {
            ngx_memcpy(buf, u->str + done, size);
            n = size;

        } else {
            n = pread(u->fd, buf, size, u->offset + done);   /* thread pool */
            if (n <= 0) {
                u->err = n == 0 ? 0 : ngx_errno;
                u->failed = "pread()";   /* thread pool */
                goto failed;
            }
        }

        w = write(fd, buf, n);
        if (w != n) {
            u->err = w == -1 ? ngx_errno : 0;
            u->failed = "write()";
            goto failed;
        }
    }

    if (close(fd) != 0) {
        u->err = ngx_errno;
        u->failed = "close()";
        return NGX_ERROR;
    }

    return NGX_OK;

failed:

    (void) close(fd);
    return NGX_ERROR;
}


/*
 * The handover's verdict on a file given as `attribute` (Paperclip's
 * name: "File", "Thumbnail"): NGX_OK to go on, else the request has been
 * finalized with Mastodon's 422 (or a 503 when the spool failed).
 */
static ngx_int_t
ngx_http_mastodon_media_refused(ngx_http_request_t *r,
    ngx_http_mastodon_media_upload_t *u, const char *attribute,
    const char *what)
{
    char                      size[32];
    u_char                   *p;
    ngx_http_mastodon_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    switch (u->result) {

    case NGX_HTTP_MASTODON_MEDIA_OK:
        return NGX_OK;

    case NGX_HTTP_MASTODON_MEDIA_INVALID:
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: %s of no supported media type", what);

        p = ngx_pnalloc(r->pool, 128);
        if (p == NULL) {
            break;
        }

        ngx_sprintf(p, "Validation failed: %s content type is invalid, "
                    "%s is invalid%Z", attribute, attribute);
        ctx->error_message = (const char *) p;
        ngx_http_mastodon_finalize(r, 422);
        return NGX_DONE;

    case NGX_HTTP_MASTODON_MEDIA_TOO_LARGE:
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: %s of %uL bytes over its type's limit",
                      what, u->size);

        mstdn_media_human_size(u->kind.type == MSTDN_MEDIA_IMAGE
                               ? u->image_limit : u->video_limit,
                               size, sizeof(size));

        p = ngx_pnalloc(r->pool, 160);
        if (p == NULL) {
            break;
        }

        /* Paperclip's two errors, of <attribute>_file_size and of itself */
        ngx_sprintf(p, "Validation failed: %s file size must be less than "
                    "%s, %s must be less than %s%Z",
                    attribute, size, attribute, size);
        ctx->error_message = (const char *) p;
        ngx_http_mastodon_finalize(r, 422);
        return NGX_DONE;

    default: /* NGX_HTTP_MASTODON_MEDIA_FAILED */
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, u->err,
                      "mastodon: %s of the %s into \"%s\" failed",
                      u->failed, what, u->spool);
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return NGX_DONE;
    }

    ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    return NGX_DONE;
}


static void
ngx_http_mastodon_media_handed(ngx_http_request_t *r, void *data)
{
    const char                       **values;
    ngx_http_mastodon_ctx_t           *ctx;
    ngx_http_mastodon_media_upload_t  *u = data;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    if (ngx_http_mastodon_media_refused(r, u, "File", "upload") != NGX_OK) {
        return;
    }

    values = ngx_pcalloc(r->pool, 10 * sizeof(char *));
    if (values == NULL) {
        goto failed;
    }

    values[0] = ngx_http_mastodon_pg_int64(r, ctx->auth->account_id);
    values[1] = (const char *) ngx_pnalloc(r->pool,
                                         NGX_HTTP_MASTODON_MEDIA_NAME_LEN + 8);
    values[2] = u->kind.mime;
    values[3] = ngx_http_mastodon_pg_int64(r, u->size);
    values[4] = ngx_http_mastodon_pg_int64(r, u->kind.type);
    values[5] = u->description;
    values[6] = u->focus_x;
    values[7] = u->focus_y;
    values[8] = (const char *) u->spool;
    values[9] = ngx_http_mastodon_pg_int64(r, u->spool_offset);

    if (values[0] == NULL || values[1] == NULL || values[3] == NULL
        || values[4] == NULL || values[9] == NULL)
    {
        goto failed;
    }

    /* Attachmentable: random hex, the type's extension */
    ngx_sprintf((u_char *) values[1], "%s.%s%Z", u->name, u->kind.extension);

    if (ngx_http_mastodon_pg_query(r, &ngx_http_mastodon_media_insert, values,
                                   ngx_http_mastodon_media_inserted, u)
        == NGX_DONE)
    {
        return;
    }

failed:

    /* the file is the spool's now: it goes again */
    u->result = NGX_HTTP_MASTODON_MEDIA_FAILED;

    if (ngx_http_mastodon_thread_run(r, ngx_http_mastodon_media_unspool,
                                     ngx_http_mastodon_media_unspooled, u)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "mastodon: \"%s\" left in the spool", u->spool);
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
    }
}


static void
ngx_http_mastodon_media_inserted(ngx_http_mastodon_pg_batch_t *b)
{
    PGresult                          *res;
    ngx_http_request_t                *r;
    ngx_http_mastodon_media_upload_t  *u;

    r = b->request;
    u = b->data;

    res = ngx_http_mastodon_pg_rows(b, 0);

    if (b->rc != NGX_OK || res == NULL || PQntuples(res) != 1) {
        if (ngx_http_mastodon_thread_run(r, ngx_http_mastodon_media_unspool,
                                         ngx_http_mastodon_media_unspooled,
                                         u)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "mastodon: \"%s\" left in the spool", u->spool);
            ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        }

        return;
    }

    /* v2 delays the larger media formats (202); the rest waits */
    if ((u->v2 && u->kind.type != MSTDN_MEDIA_IMAGE)
        || ngx_http_mastodon_media_wait_processed(r, u, res) != NGX_OK)
    {
        ngx_http_mastodon_finalize(r, ngx_http_mastodon_media_send(r, res,
                                      ngx_http_mastodon_media_created(u, res)));
    }
}


/* the row looked at again soon; NGX_ERROR: answer now (no wait) */
static ngx_int_t
ngx_http_mastodon_media_wait_processed(ngx_http_request_t *r,
    ngx_http_mastodon_media_upload_t *u, PGresult *res)
{
    ngx_http_mastodon_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    u->ids = ngx_palloc(r->pool, 2 * sizeof(char *));
    if (u->ids == NULL) {
        return NGX_ERROR;
    }

    u->ids[0] = ngx_http_mastodon_pg_int64(r,
                                       ngx_http_mastodon_pg_int(res, 0, 0));
    u->ids[1] = ngx_http_mastodon_pg_int64(r, ctx->auth->account_id);
    if (u->ids[0] == NULL || u->ids[1] == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_mastodon_media_wait(r, u, ngx_http_mastodon_media_poll)
           == NGX_OK ? NGX_OK : NGX_ERROR;
}


ngx_int_t
ngx_http_mastodon_media_wait(ngx_http_request_t *r,
    ngx_http_mastodon_media_upload_t *u, ngx_event_handler_pt look)
{
    ngx_pool_cleanup_t             *cln;
    ngx_http_mastodon_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    if (mcf->media_v1_wait == 0) {
        return NGX_DECLINED;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_mastodon_media_wait_cleanup;
    cln->data = u;

    u->request = r;
    u->deadline = ngx_current_msec + mcf->media_v1_wait;
    u->poll.handler = look;
    u->poll.data = u;
    u->poll.log = r->connection->log;
    u->poll.cancelable = 1;

    ngx_add_timer(&u->poll, NGX_HTTP_MASTODON_MEDIA_POLL);

    return NGX_OK;
}


ngx_int_t
ngx_http_mastodon_media_wait_again(ngx_http_mastodon_media_upload_t *u)
{
    if ((ngx_msec_int_t) (u->deadline - ngx_current_msec) <= 0) {
        return NGX_DECLINED;
    }

    ngx_add_timer(&u->poll, NGX_HTTP_MASTODON_MEDIA_POLL);

    return NGX_OK;
}


static void
ngx_http_mastodon_media_poll(ngx_event_t *ev)
{
    ngx_http_request_t                *r;
    ngx_http_mastodon_media_upload_t  *u = ev->data;

    r = u->request;

    if (ngx_http_mastodon_pg_query(r, &ngx_http_mastodon_media_select, u->ids,
                                   ngx_http_mastodon_media_polled, u)
        != NGX_DONE)
    {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
    }
}


/* complete: the answer; failed: 422 (Paperclip's error); else again, or
 * the row as it is once the wait is over */
static void
ngx_http_mastodon_media_polled(ngx_http_mastodon_pg_batch_t *b)
{
    PGresult                          *res;
    ngx_int_t                          processing;
    ngx_http_request_t                *r;
    ngx_http_mastodon_ctx_t           *ctx;
    ngx_http_mastodon_media_upload_t  *u;

    r = b->request;
    u = b->data;
    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    res = ngx_http_mastodon_pg_rows(b, 0);

    if (b->rc != NGX_OK || res == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (PQntuples(res) != 1) {
        /* deleted or attached meanwhile */
        ngx_http_mastodon_finalize(r, NGX_HTTP_NOT_FOUND);
        return;
    }

    processing = ngx_http_mastodon_media_processing(res, 0, 0);

    if (processing == MSTDN_MEDIA_FAILED) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: media %s failed processing", u->ids[0]);
        ctx->error_message = "Error processing thumbnail for uploaded media";
        ngx_http_mastodon_finalize(r, 422);
        return;
    }

    if (processing == MSTDN_MEDIA_COMPLETE
        || ngx_http_mastodon_media_wait_again(u) != NGX_OK)
    {
        ngx_http_mastodon_finalize(r, ngx_http_mastodon_media_send(r, res,
                                      ngx_http_mastodon_media_created(u, res)));
    }
}


/*
 * The status of a create's answer with its row: v1 200 always; v2 200
 * once an image is processed, else 202 (not_processed?, or a gifv, which
 * Mastodon queues for processing again)
 */
static ngx_uint_t
ngx_http_mastodon_media_created(ngx_http_mastodon_media_upload_t *u,
    PGresult *res)
{
    if (!u->v2
        || (ngx_http_mastodon_media_processing(res, 0, 0)
            == MSTDN_MEDIA_COMPLETE
            && ngx_http_mastodon_pg_int(res, 0, 1) == MSTDN_MEDIA_IMAGE))
    {
        return NGX_HTTP_OK;
    }

    return NGX_HTTP_ACCEPTED;
}


static void
ngx_http_mastodon_media_wait_cleanup(void *data)
{
    ngx_http_mastodon_media_upload_t  *u = data;

    if (u->poll.timer_set) {
        ngx_del_timer(&u->poll);
    }
}


/* in a pool thread: an upload whose row failed leaves the spool */
void
ngx_http_mastodon_media_unspool(void *data, ngx_log_t *log)
{
    ngx_http_mastodon_media_upload_t  *u = data;

    /* thread pool: this task runs in a pool thread */
    u->err = unlink((char *) u->spool) == 0 ? 0 : ngx_errno;
}


void
ngx_http_mastodon_media_unspooled(ngx_http_request_t *r, void *data)
{
    ngx_http_mastodon_media_upload_t  *u = data;

    if (u->err) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, u->err,
                      "mastodon: unlink() of \"%s\" failed", u->spool);
    }

    ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
}


/* GET /api/v1/media/:id */
ngx_int_t
ngx_http_mastodon_media_show(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    int64_t  id;

    id = ngx_http_mastodon_capture_id(ctx, 0);
    if (id == 0) {
        return NGX_HTTP_NOT_FOUND;
    }

    return ngx_http_mastodon_pg_query_ids(r, &ngx_http_mastodon_media_select,
                                          id, ctx->auth->account_id,
                                          ngx_http_mastodon_media_one_done,
                                          NULL);
}


/* PUT /api/v1/media/:id: description, focus, thumbnail */
ngx_int_t
ngx_http_mastodon_media_update(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    int64_t                            id;
    ngx_int_t                          rc;
    const char                       **values, *description, *x, *y;
    mstdn_value_t                     *file;
    ngx_http_mastodon_media_upload_t  *u;

    id = ngx_http_mastodon_capture_id(ctx, 0);
    if (id == 0) {
        return NGX_HTTP_NOT_FOUND;
    }

    rc = ngx_http_mastodon_media_attrs(r, ctx, ctx->params, &description, &x,
                                       &y);
    if (rc != NGX_OK) {
        return rc;
    }

    values = ngx_pcalloc(r->pool, 6 * sizeof(char *));
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[0] = ngx_http_mastodon_pg_int64(r, id);
    values[1] = ngx_http_mastodon_pg_int64(r, ctx->auth->account_id);
    values[2] = description ? "true" : "false";
    values[3] = description;
    values[4] = x;
    values[5] = y;

    if (values[0] == NULL || values[1] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    file = ctx->params ? ngx_http_mastodon_param_file(ctx, "thumbnail") : NULL;

    if (file == NULL) {
        return ngx_http_mastodon_media_change_run(r, values, NULL);
    }

    /* the thumbnail: an image, handed to the worker as uploads are */
    u = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_media_upload_t));
    if (u == NULL
        || ngx_http_mastodon_media_upload_init(r, u, file) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    u->images_only = 1;
    u->ids = values;

    if (ngx_http_mastodon_thread_run(r, ngx_http_mastodon_media_handover,
                                     ngx_http_mastodon_media_thumbnail_handed,
                                     u)
        != NGX_OK)
    {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}


static void
ngx_http_mastodon_media_thumbnail_handed(ngx_http_request_t *r, void *data)
{
    ngx_http_mastodon_media_upload_t  *u = data;

    if (ngx_http_mastodon_media_refused(r, u, "Thumbnail", "thumbnail")
        != NGX_OK)
    {
        return;
    }

    if (ngx_http_mastodon_media_change_run(r, u->ids, u) != NGX_DONE) {
        if (ngx_http_mastodon_thread_run(r, ngx_http_mastodon_media_unspool,
                                         ngx_http_mastodon_media_unspooled, u)
            != NGX_OK)
        {
            ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        }
    }
}


/*
 * The change, then what it found when it changed nothing; with a
 * thumbnail first its media_thumbnail job, queued for the caller's
 * unattached audio or video only (Mastodon: audio_or_video?)
 */
static ngx_int_t
ngx_http_mastodon_media_change_run(ngx_http_request_t *r,
    const char **values, ngx_http_mastodon_media_upload_t *u)
{
    const char                   **v;
    ngx_http_mastodon_pg_batch_t  *b;

    b = ngx_http_mastodon_pg_batch(r, u ? ngx_http_mastodon_media_thumbnailed
                                        : ngx_http_mastodon_media_one_done,
                                   u);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (u) {
        v = ngx_pcalloc(r->pool, 7 * sizeof(char *));
        if (v == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        v[0] = values[0];
        v[1] = values[1];
        v[2] = (const char *) u->spool;
        v[3] = ngx_http_mastodon_pg_int64(r, u->spool_offset);
        v[4] = ngx_http_mastodon_pg_int64(r, u->size);
        v[5] = u->kind.mime;
        v[6] = (const char *) ngx_pnalloc(r->pool,
                                          NGX_HTTP_MASTODON_MEDIA_NAME_LEN + 8);
        if (v[3] == NULL || v[4] == NULL || v[6] == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_sprintf((u_char *) v[6], "%s.%s%Z", u->name, u->kind.extension);

        if (ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_media_thumbnail_job,
                                     v)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_media_change, values)
        != NGX_OK
        || ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_media_select, values)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mastodon_pg_run(b) != NGX_OK) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}


/* with a thumbnail: one not queued (no such media, or not audio or
 * video: Mastodon's "must be blank") leaves the spool, then the answer */
static void
ngx_http_mastodon_media_thumbnailed(ngx_http_mastodon_pg_batch_t *b)
{
    PGresult                          *res;
    ngx_http_request_t                *r;
    ngx_http_mastodon_media_upload_t  *u;

    r = b->request;
    u = b->data;

    res = ngx_http_mastodon_pg_rows(b, 0);

    if (b->rc == NGX_OK && res && PQntuples(res) == 1
        && ngx_http_mastodon_pg_int(res, 0, 0) == 1)
    {
        ngx_http_mastodon_media_one_done(b);
        return;
    }

    /* the spool file is still ours */
    u->result = b->rc == NGX_OK && res ? NGX_HTTP_MASTODON_MEDIA_INVALID
                                       : NGX_HTTP_MASTODON_MEDIA_FAILED;

    if (ngx_http_mastodon_thread_run(r, ngx_http_mastodon_media_unspool,
                                     ngx_http_mastodon_media_not_thumbnailed,
                                     u)
        != NGX_OK)
    {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
    }
}


static void
ngx_http_mastodon_media_not_thumbnailed(ngx_http_request_t *r, void *data)
{
    ngx_http_mastodon_ctx_t           *ctx;
    ngx_http_mastodon_media_upload_t  *u = data;

    if (u->result == NGX_HTTP_MASTODON_MEDIA_FAILED) {
        ngx_http_mastodon_media_unspooled(r, data);
        return;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mastodon: thumbnail for no audio or video of the caller");
    ctx->error_message = "Validation failed: Thumbnail must be blank";
    ngx_http_mastodon_finalize(r, 422);
}


/* DELETE /api/v1/media/:id: unattached ones only */
ngx_int_t
ngx_http_mastodon_media_destroy(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    int64_t       id;
    const char  **values;

    id = ngx_http_mastodon_capture_id(ctx, 0);
    if (id == 0) {
        return NGX_HTTP_NOT_FOUND;
    }

    values = ngx_palloc(r->pool, 2 * sizeof(char *));
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[0] = ngx_http_mastodon_pg_int64(r, id);
    values[1] = ngx_http_mastodon_pg_int64(r, ctx->auth->account_id);
    if (values[0] == NULL || values[1] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_pg_query(r, &ngx_http_mastodon_media_delete,
                                      values, ngx_http_mastodon_media_deleted,
                                      NULL);
}


/*
 * show and update: the row (the update's, else the lookup's) answered
 * 200, or 206 while processing; 404 without one; 422 when processing
 * failed (check_processing)
 */
static void
ngx_http_mastodon_media_one_done(ngx_http_mastodon_pg_batch_t *b)
{
    PGresult                 *res;
    ngx_int_t                 processing;
    ngx_uint_t                i;
    ngx_http_request_t       *r;
    ngx_http_mastodon_ctx_t  *ctx;

    r = b->request;
    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    if (!ngx_http_mastodon_pg_ok(b)) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    res = NULL;

    /* after a thumbnail's job statement (the batch's data) */
    for (i = b->data ? 1 : 0; i < b->nqueries; i++) {
        res = ngx_http_mastodon_pg_rows(b, i);
        if (res && PQntuples(res) == 1) {
            break;
        }
    }

    if (res == NULL || PQntuples(res) != 1) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_NOT_FOUND);
        return;
    }

    processing = ngx_http_mastodon_media_processing(res, 0, 0);

    if (processing == MSTDN_MEDIA_FAILED) {
        ctx->error_message = "Error processing thumbnail for uploaded media";
        ngx_http_mastodon_finalize(r, 422);
        return;
    }

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_media_send(r, res,
                                     processing == MSTDN_MEDIA_COMPLETE
                                     ? NGX_HTTP_OK : NGX_HTTP_PARTIAL_CONTENT));
}


static void
ngx_http_mastodon_media_deleted(ngx_http_mastodon_pg_batch_t *b)
{
    PGresult                 *res;
    ngx_str_t                 body, type;
    ngx_http_request_t       *r;
    ngx_http_mastodon_ctx_t  *ctx;

    r = b->request;
    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    res = ngx_http_mastodon_pg_rows(b, 0);

    if (b->rc != NGX_OK || res == NULL || PQntuples(res) != 1) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (ngx_http_mastodon_pg_int(res, 0, 0) == 1) {
        /* render_empty */
        ngx_str_set(&body, "{}");
        ngx_str_set(&type, "application/json; charset=utf-8");
        ngx_http_mastodon_finalize(r, ngx_http_mastodon_send_text(r,
                                                  NGX_HTTP_OK, &type, &body));
        return;
    }

    if (ngx_http_mastodon_pg_bool(res, 0, 1)) {
        ctx->error_message = "Media attachment is currently used by a status";
        ngx_http_mastodon_finalize(r, 422);
        return;
    }

    ngx_http_mastodon_finalize(r, NGX_HTTP_NOT_FOUND);
}


static ngx_int_t
ngx_http_mastodon_media_send(ngx_http_request_t *r, PGresult *res,
    ngx_uint_t status)
{
    ngx_http_mastodon_json_t  j;

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mastodon_media_attachment(&j, res, 0, 0);

    return ngx_http_mastodon_json_send(&j, status);
}
