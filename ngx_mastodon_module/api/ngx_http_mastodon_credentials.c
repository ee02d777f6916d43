/*
 * PATCH /api/v1/accounts/update_credentials: the user's own profile and
 * posting defaults.  Form, JSON and multipart (Tusky sends multipart) all
 * work.  Validated first (Mastodon's 422 "Validation failed: ..."), then
 * one batch updates the account, merges the settings and reads the
 * CredentialAccount back: one round trip, all or nothing.  Unlocking the
 * account turns its pending follow requests into follows.
 *
 * An avatar or header is handed to the worker first (its job in a batch
 * of its own), and the request waits for it as POST /api/v1/media does
 * (_media_wait(), at most mastodon_media_v1_wait), as Mastodon processes
 * it before saving: once taken (or past the wait) the batch above saves
 * the rest and answers with the new image; not taken (the worker could
 * not decode it: account_image_failures), 422 and nothing else saved.
 */

#include "ngx_http_mastodon_api.h"
#include "mstdn_utf8.h"


#define NGX_HTTP_MASTODON_DISPLAY_NAME_MAX  30
#define NGX_HTTP_MASTODON_NOTE_MAX          500
#define NGX_HTTP_MASTODON_FIELDS_MAX        4
#define NGX_HTTP_MASTODON_FIELD_MAX         255
/* Account::Avatar::AVATAR_LIMIT, Account::Header::HEADER_LIMIT */
#define NGX_HTTP_MASTODON_PROFILE_IMAGE_LIMIT  (8 * 1024 * 1024)


typedef struct {
    const char                        **values;
    const char                        **svalues;
    const char                        **cvalues;
    ngx_uint_t                          nimages;
    const char                         *attribute[2];    /* avatar, header */
    ngx_http_mastodon_media_upload_t    images[2];
    const char                        **wait;    /* account, file names */
} ngx_http_mastodon_credentials_t;


static const char *ngx_http_mastodon_bool_value(mstdn_value_t *params,
    const char *key);
static ngx_int_t ngx_http_mastodon_fields_json(ngx_http_request_t *r,
    mstdn_value_t *attrs, const char **out, const char **err);
static const char *ngx_http_mastodon_gen_string(ngx_http_request_t *r,
    yajl_gen g);
static ngx_int_t ngx_http_mastodon_credentials_images(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_credentials_t *cr);
static void ngx_http_mastodon_credentials_handover(void *data,
    ngx_log_t *log);
static void ngx_http_mastodon_credentials_handed(ngx_http_request_t *r,
    void *data);
static ngx_int_t ngx_http_mastodon_credentials_run(ngx_http_request_t *r,
    ngx_http_mastodon_credentials_t *cr);
static ngx_int_t ngx_http_mastodon_credentials_queue(ngx_http_request_t *r,
    ngx_http_mastodon_credentials_t *cr);
static void ngx_http_mastodon_credentials_queued(
    ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_credentials_unspool(void *data,
    ngx_log_t *log);
static void ngx_http_mastodon_credentials_look(ngx_event_t *ev);
static void ngx_http_mastodon_credentials_looked(
    ngx_http_mastodon_pg_batch_t *b);
static ngx_int_t ngx_http_mastodon_profile_image_delete(
    ngx_http_request_t *r, ngx_http_mastodon_ctx_t *ctx,
    ngx_http_mastodon_pg_stmt_t *stmt);


/* the profile goes to the remote followers (activitypub_account) */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_update_federate =
    ngx_http_mastodon_pg_stmt(
        NGX_HTTP_MASTODON_OUTBOX_SQL(
        "SELECT 'push', 'activitypub_account', json_build_object("
        "'account_id', $1::bigint::text, 'action', 'update')"
        " WHERE EXISTS (SELECT 1 FROM follows f JOIN accounts fa"
        " ON fa.id = f.account_id AND fa.domain IS NOT NULL"
        " WHERE f.target_account_id = $1::bigint)"), 1);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_update_account =
    ngx_http_mastodon_pg_stmt(
        "UPDATE accounts SET"
        " display_name = coalesce($2, display_name),"
        " note = coalesce($3, note),"
        " locked = coalesce($4::boolean, locked),"
        " actor_type = CASE WHEN $5::boolean IS NULL THEN actor_type"
        "  WHEN $5::boolean THEN 'Service' ELSE 'Person' END,"
        " discoverable = coalesce($6::boolean, discoverable),"
        " hide_collections = coalesce($7::boolean, hide_collections),"
        " indexable = coalesce($8::boolean, indexable),"
        " fields = coalesce($9::jsonb, fields),"
        " updated_at = now() AT TIME ZONE 'UTC'"
        " WHERE id = $1", 9);

/*
 * An account that is not locked (any more): its pending follow requests
 * become follows, with their options, as Mastodon's UpdateAccountService
 * authorizes them on unlocking; those of silenced accounts stay pending.
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_unlock_requests =
    ngx_http_mastodon_pg_stmt(NGX_HTTP_MASTODON_REL_SQL_AUTHORIZE(
        "target_account_id = $1::bigint"
        " AND NOT (SELECT locked FROM accounts WHERE id = $1::bigint)"
        " AND NOT EXISTS (SELECT 1 FROM accounts s"
        "  WHERE s.id = follow_requests.account_id"
        "  AND s.silenced_at IS NOT NULL)"), 1);

/*
 * $1 account, $2 attribute (avatar, header), $3 the spool file, $4 the
 * part's offset in it, $5 its size, $6 the sniffed type, $7 the file name
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_profile_image_job =
    ngx_http_mastodon_pg_stmt(
        NGX_HTTP_MASTODON_OUTBOX_SQL(
        "SELECT 'media', 'account_image_process', json_build_object("
        "'account_id', $1::bigint::text, 'attribute', $2::text,"
        " 'spool', $3::text, 'offset', $4::bigint, 'size', $5::bigint,"
        " 'content_type', $6::text, 'file_name', $7::text)"), 7);

/*
 * $1 account: the image's columns cleared, its files go (an
 * account_image_remove job), the profile Update goes to the remote
 * followers; nothing when there was none
 */
#define NGX_HTTP_MASTODON_PROFILE_IMAGE_DELETE(attr)                          \
    "WITH o AS (SELECT " attr "_file_name AS name FROM accounts"               \
    " WHERE id = $1::bigint AND " attr "_file_name IS NOT NULL"                \
    " FOR UPDATE),"                                                           \
    " u AS (UPDATE accounts SET " attr "_file_name = NULL,"                    \
    " " attr "_content_type = NULL, " attr "_file_size = NULL,"                \
    " " attr "_updated_at = NULL, updated_at = now() AT TIME ZONE 'UTC'"       \
    " WHERE id = (SELECT $1::bigint FROM o) RETURNING id),"                   \
    " job AS (" NGX_HTTP_MASTODON_OUTBOX_SQL(                                 \
    "SELECT 'media', 'account_image_remove', json_build_object("              \
    "'account_id', $1::bigint::text, 'attribute', '" attr "',"                \
    " 'file_name', o.name) FROM o"                                            \
    " UNION ALL SELECT 'push', 'activitypub_account', json_build_object("     \
    "'account_id', $1::bigint::text, 'action', 'update') FROM u"              \
    " WHERE EXISTS (SELECT 1 FROM follows f JOIN accounts fa"                 \
    " ON fa.id = f.account_id AND fa.domain IS NOT NULL"                      \
    " WHERE f.target_account_id = $1::bigint)") ")"                           \
    " SELECT count(*) FROM u"

/*
 * $1 account, $2 the new avatar's file name, $3 the header's (NULL: none):
 * the attribute the worker could not take, and whether the account has
 * both (a taken one beats a failure recorded by a redelivery)
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_profile_image_state =
    ngx_http_mastodon_pg_stmt(
        "SELECT (SELECT f.attribute FROM account_image_failures f"
        " WHERE f.account_id = $1::bigint AND f.file_name IN ($2, $3)"
        " ORDER BY f.attribute LIMIT 1),"
        " ($2::text IS NULL OR a.avatar_file_name = $2)"
        " AND ($3::text IS NULL OR a.header_file_name = $3)"
        " FROM accounts a WHERE a.id = $1::bigint", 3);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_avatar_delete =
    ngx_http_mastodon_pg_stmt(
        NGX_HTTP_MASTODON_PROFILE_IMAGE_DELETE("avatar"), 1);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_header_delete =
    ngx_http_mastodon_pg_stmt(
        NGX_HTTP_MASTODON_PROFILE_IMAGE_DELETE("header"), 1);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_update_settings =
    ngx_http_mastodon_pg_stmt(
        "UPDATE users SET settings ="
        " (coalesce(nullif(settings, ''), '{}')::jsonb || $2::jsonb)::text"
        " WHERE account_id = $1", 2);


ngx_int_t
ngx_http_mastodon_accounts_update_credentials(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    u_char                           *msg, *p, *last;
    size_t                            len;
    yajl_gen                          g;
    const char                       *s, *err, **values, **svalues,
                                    **cvalues;
    mstdn_value_t                    *params, *source, *attrs, *privacy;
    ngx_http_mastodon_credentials_t  *cr;

    params = ctx->params;

    values = ngx_pcalloc(r->pool, 9 * sizeof(char *));
    svalues = ngx_pcalloc(r->pool, 2 * sizeof(char *));
    cvalues = ngx_pcalloc(r->pool, sizeof(char *));
    msg = ngx_pnalloc(r->pool, 512);
    if (values == NULL || svalues == NULL || cvalues == NULL || msg == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[0] = ngx_http_mastodon_pg_int64(r, ctx->auth->account_id);
    if (values[0] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    svalues[0] = values[0];
    cvalues[0] = values[0];

    last = msg + 511;
    p = ngx_slprintf(msg, last, "Validation failed: ");

    s = mstdn_param_str(params, "display_name", &len);
    if (s) {
        if (mstdn_utf8_length((u_char *) s, len)
            > NGX_HTTP_MASTODON_DISPLAY_NAME_MAX)
        {
            p = ngx_slprintf(p, last, "Display name is too long (maximum is "
                             "%d characters), ",
                             NGX_HTTP_MASTODON_DISPLAY_NAME_MAX);
        }
        values[1] = s;
    }

    s = mstdn_param_str(params, "note", &len);
    if (s) {
        if (mstdn_utf8_length((u_char *) s, len) > NGX_HTTP_MASTODON_NOTE_MAX) {
            p = ngx_slprintf(p, last, "Note is too long (maximum is %d "
                             "characters), ", NGX_HTTP_MASTODON_NOTE_MAX);
        }
        values[2] = s;
    }

    values[3] = ngx_http_mastodon_bool_value(params, "locked");
    values[4] = ngx_http_mastodon_bool_value(params, "bot");
    values[5] = ngx_http_mastodon_bool_value(params, "discoverable");
    values[6] = ngx_http_mastodon_bool_value(params, "hide_collections");
    values[7] = ngx_http_mastodon_bool_value(params, "indexable");

    /* permit(fields_attributes: [:name, :value]) drops a scalar */
    attrs = mstdn_object_get(params, "fields_attributes");
    if (attrs && (attrs->type == MSTDN_OBJECT || attrs->type == MSTDN_ARRAY)) {
        if (ngx_http_mastodon_fields_json(r, attrs, &values[8], &err)
            != NGX_OK)
        {
            if (err == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
            p = ngx_slprintf(p, last, "%s, ", err);
        }
    }

    /* source[...]: the posting defaults, kept in users.settings */
    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    yajl_gen_map_open(g);

    source = mstdn_object_get(params, "source");

    /* a boolean is a scalar Rails lets through, and no visibility */
    privacy = mstdn_object_get(source, "privacy");
    if (privacy && privacy->type == MSTDN_BOOL) {
        p = ngx_slprintf(p, last, "Posting privacy is not included in "
                         "the list, ");
    }

    s = mstdn_param_str(source, "privacy", &len);
    if (s && len) {
        if (ngx_strcmp(s, "public") != 0 && ngx_strcmp(s, "unlisted") != 0
            && ngx_strcmp(s, "private") != 0)
        {
            p = ngx_slprintf(p, last, "Posting privacy is not included in "
                             "the list, ");
        }
        yajl_gen_string(g, (u_char *) "default_privacy", 15);
        yajl_gen_string(g, (u_char *) s, len);
    }

    if (mstdn_object_get(source, "sensitive")) {
        yajl_gen_string(g, (u_char *) "default_sensitive", 17);
        yajl_gen_bool(g, mstdn_param_bool(source, "sensitive", 0));
    }

    s = mstdn_param_str(source, "language", &len);
    if (s) {
        /* an ISO 639 code, or empty for none */
        if (len > 3 || (len && len < 2)) {
            p = ngx_slprintf(p, last, "Posting language is not included in "
                             "the list, ");
        }
        yajl_gen_string(g, (u_char *) "default_language", 16);
        if (len) {
            yajl_gen_string(g, (u_char *) s, len);
        } else {
            yajl_gen_null(g);
        }
    }

    yajl_gen_map_close(g);
    svalues[1] = ngx_http_mastodon_gen_string(r, g);
    yajl_gen_free(g);

    if (svalues[1] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (p != msg + sizeof("Validation failed: ") - 1) {
        p -= 2;
        *p = '\0';
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: profile not updated: %s", msg);
        ctx->error_message = (const char *) msg;
        return 422;
    }

    cr = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_credentials_t));
    if (cr == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cr->values = values;
    cr->svalues = svalues;
    cr->cvalues = cvalues;

    if (ctx->params
        && (ngx_http_mastodon_param_file(ctx, "avatar")
            || ngx_http_mastodon_param_file(ctx, "header")))
    {
        return ngx_http_mastodon_credentials_images(r, ctx, cr);
    }

    if (ngx_http_mastodon_credentials_run(r, cr) != NGX_OK) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}


/* the avatar and header files: both handed over in one pool-thread task */
static ngx_int_t
ngx_http_mastodon_credentials_images(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_credentials_t *cr)
{
    ngx_uint_t                         i;
    mstdn_value_t                     *file;
    ngx_http_mastodon_media_upload_t  *u;
    static const char                 *attributes[] = { "avatar", "header" };

    for (i = 0; i < 2; i++) {
        file = ngx_http_mastodon_param_file(ctx, attributes[i]);
        if (file == NULL) {
            continue;
        }

        u = &cr->images[cr->nimages];
        cr->attribute[cr->nimages++] = attributes[i];

        if (ngx_http_mastodon_media_upload_init(r, u, file) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        u->profile_image = 1;
        u->data = cr;
        u->image_limit = NGX_HTTP_MASTODON_PROFILE_IMAGE_LIMIT;
        u->video_limit = 0;
    }

    if (ngx_http_mastodon_thread_run(r, ngx_http_mastodon_credentials_handover,
                                     ngx_http_mastodon_credentials_handed, cr)
        != NGX_OK)
    {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}


/* in a pool thread: each handed over; all or none stay in the spool */
static void
ngx_http_mastodon_credentials_handover(void *data, ngx_log_t *log)
{
    ngx_uint_t                        i, j;
    ngx_http_mastodon_credentials_t  *cr = data;

    for (i = 0; i < cr->nimages; i++) {
        ngx_http_mastodon_media_handover(&cr->images[i], log);

        if (cr->images[i].result != NGX_HTTP_MASTODON_MEDIA_OK) {
            for (j = 0; j < i; j++) {
                /* thread pool: this task runs in a pool thread */
                (void) unlink((char *) cr->images[j].spool);
            }

            return;
        }
    }
}


static void
ngx_http_mastodon_credentials_handed(ngx_http_request_t *r, void *data)
{
    u_char                            *msg;
    ngx_uint_t                         i;
    ngx_http_mastodon_ctx_t           *ctx;
    ngx_http_mastodon_media_upload_t  *u;
    ngx_http_mastodon_credentials_t   *cr = data;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    for (i = 0; i < cr->nimages; i++) {
        u = &cr->images[i];

        if (u->result == NGX_HTTP_MASTODON_MEDIA_OK) {
            continue;
        }

        if (u->result == NGX_HTTP_MASTODON_MEDIA_FAILED) {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, u->err,
                          "mastodon: %s of the %s into \"%s\" failed",
                          u->failed, cr->attribute[i], u->spool);
            ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
            return;
        }

        msg = ngx_pnalloc(r->pool, 160);
        if (msg == NULL) {
            ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: %s not taken: %s", cr->attribute[i],
                      u->result == NGX_HTTP_MASTODON_MEDIA_INVALID
                      ? "no supported image" : "too large");

        /* Paperclip's errors, with the attribute's human name */
        if (u->result == NGX_HTTP_MASTODON_MEDIA_INVALID) {
            ngx_sprintf(msg, "Validation failed: %c%s content type is "
                        "invalid, %c%s is invalid%Z",
                        ngx_toupper(cr->attribute[i][0]),
                        cr->attribute[i] + 1,
                        ngx_toupper(cr->attribute[i][0]),
                        cr->attribute[i] + 1);

        } else {
            ngx_sprintf(msg, "Validation failed: %c%s file size must be less "
                        "than 8 MB, %c%s must be less than 8 MB%Z",
                        ngx_toupper(cr->attribute[i][0]),
                        cr->attribute[i] + 1,
                        ngx_toupper(cr->attribute[i][0]),
                        cr->attribute[i] + 1);
        }

        ctx->error_message = (const char *) msg;
        ngx_http_mastodon_finalize(r, 422);
        return;
    }

    if (ngx_http_mastodon_credentials_queue(r, cr) != NGX_OK) {
        /* the spool files are ours still */
        if (ngx_http_mastodon_thread_run(r,
                                         ngx_http_mastodon_credentials_unspool,
                                         ngx_http_mastodon_media_unspooled,
                                         &cr->images[0])
            != NGX_OK)
        {
            ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        }
    }
}


/* the batch: the account, the settings, the answer */
static ngx_int_t
ngx_http_mastodon_credentials_run(ngx_http_request_t *r,
    ngx_http_mastodon_credentials_t *cr)
{
    ngx_http_mastodon_pg_batch_t  *b;

    b = ngx_http_mastodon_pg_batch(r, ngx_http_mastodon_credentials_done, cr);
    if (b == NULL
        || ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_update_account,
                                    cr->values) != NGX_OK
        || (cr->values[3] && cr->values[3][0] == 'f'
            && ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_unlock_requests,
                                        cr->cvalues) != NGX_OK)
        || ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_update_settings,
                                    cr->svalues) != NGX_OK
        || ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_update_federate,
                                    cr->values) != NGX_OK
        || ngx_http_mastodon_pg_add(b, ngx_http_mastodon_credentials_stmt(),
                                    cr->cvalues) != NGX_OK
        || ngx_http_mastodon_pg_run(b) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the images' jobs, before anything else is saved */
static ngx_int_t
ngx_http_mastodon_credentials_queue(ngx_http_request_t *r,
    ngx_http_mastodon_credentials_t *cr)
{
    ngx_uint_t                         i;
    const char                       **v;
    ngx_http_mastodon_pg_batch_t      *b;
    ngx_http_mastodon_media_upload_t  *u;

    cr->wait = ngx_pcalloc(r->pool, 3 * sizeof(char *));
    b = ngx_http_mastodon_pg_batch(r, ngx_http_mastodon_credentials_queued,
                                   cr);
    if (cr->wait == NULL || b == NULL) {
        return NGX_ERROR;
    }

    cr->wait[0] = cr->values[0];

    for (i = 0; i < cr->nimages; i++) {
        u = &cr->images[i];

        v = ngx_pcalloc(r->pool, 7 * sizeof(char *));
        if (v == NULL) {
            return NGX_ERROR;
        }

        v[0] = cr->values[0];
        v[1] = cr->attribute[i];
        v[2] = (const char *) u->spool;
        v[3] = ngx_http_mastodon_pg_int64(r, u->spool_offset);
        v[4] = ngx_http_mastodon_pg_int64(r, u->size);
        v[5] = u->kind.mime;
        v[6] = (const char *) ngx_pnalloc(r->pool,
                                          NGX_HTTP_MASTODON_MEDIA_NAME_LEN + 8);
        if (v[3] == NULL || v[4] == NULL || v[6] == NULL) {
            return NGX_ERROR;
        }

        ngx_sprintf((u_char *) v[6], "%s.%s%Z", u->name, u->kind.extension);
        cr->wait[cr->attribute[i][0] == 'a' ? 1 : 2] = v[6];

        if (ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_profile_image_job,
                                     v)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return ngx_http_mastodon_pg_run(b);
}


/*
 * queued: the request waits for the worker (no wait: the rest is saved
 * now); a failed batch leaves nothing in the spool
 */
static void
ngx_http_mastodon_credentials_queued(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_int_t                         rc;
    ngx_http_mastodon_credentials_t  *cr = b->data;

    if (ngx_http_mastodon_pg_ok(b)) {
        rc = ngx_http_mastodon_media_wait(b->request, &cr->images[0],
                                          ngx_http_mastodon_credentials_look);
        if (rc == NGX_DECLINED) {
            rc = ngx_http_mastodon_credentials_run(b->request, cr);
        }

        if (rc != NGX_OK) {
            ngx_http_mastodon_finalize(b->request,
                                       NGX_HTTP_SERVICE_UNAVAILABLE);
        }

        return;
    }

    if (ngx_http_mastodon_thread_run(b->request,
                                     ngx_http_mastodon_credentials_unspool,
                                     ngx_http_mastodon_media_unspooled,
                                     &cr->images[0])
        != NGX_OK)
    {
        ngx_http_mastodon_finalize(b->request, NGX_HTTP_SERVICE_UNAVAILABLE);
    }
}


/* what became of the images */
static void
ngx_http_mastodon_credentials_look(ngx_event_t *ev)
{
    ngx_http_request_t                *r;
    ngx_http_mastodon_pg_batch_t      *b;
    ngx_http_mastodon_credentials_t   *cr;
    ngx_http_mastodon_media_upload_t  *u = ev->data;

    r = u->request;
    cr = u->data;

    b = ngx_http_mastodon_pg_batch(r, ngx_http_mastodon_credentials_looked,
                                   cr);
    if (b == NULL
        || ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_profile_image_state,
                                    cr->wait) != NGX_OK
        || ngx_http_mastodon_pg_run(b) != NGX_OK)
    {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
    }
}


/*
 * taken (or the wait over): the rest saved, the CredentialAccount; not
 * taken: 422 as Paperclip's processing error of the attribute, nothing
 * saved; else again
 */
static void
ngx_http_mastodon_credentials_looked(ngx_http_mastodon_pg_batch_t *b)
{
    u_char                           *msg;
    ngx_str_t                         failed;
    PGresult                         *res;
    ngx_http_request_t               *r;
    ngx_http_mastodon_ctx_t          *ctx;
    ngx_http_mastodon_credentials_t  *cr = b->data;

    r = b->request;
    res = ngx_http_mastodon_pg_rows(b, 0);

    if (b->rc != NGX_OK || res == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (PQntuples(res) != 1 || ngx_http_mastodon_pg_bool(res, 0, 1)) {
        goto save;
    }

    failed = ngx_http_mastodon_pg_str(res, 0, 0);

    if (failed.len) {
        ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

        msg = ngx_pnalloc(r->pool, failed.len + 64);
        if (msg == NULL) {
            ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: %V not taken: not a decodable image",
                      &failed);

        /* Paperclip's geometry error, on the attribute */
        ngx_sprintf(msg, "Validation failed: %c%*s Could not identify image "
                    "size%Z", ngx_toupper(failed.data[0]), failed.len - 1,
                    failed.data + 1);

        ctx->error_message = (const char *) msg;
        ngx_http_mastodon_finalize(r, 422);
        return;
    }

    if (ngx_http_mastodon_media_wait_again(&cr->images[0]) == NGX_OK) {
        return;
    }

save:

    if (ngx_http_mastodon_credentials_run(r, cr) != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
    }
}


/* in a pool thread: every image of the request out of the spool */
static void
ngx_http_mastodon_credentials_unspool(void *data, ngx_log_t *log)
{
    ngx_uint_t                         i;
    ngx_http_mastodon_credentials_t   *cr;
    ngx_http_mastodon_media_upload_t  *u = data;

    cr = u->data;

    for (i = 0; i < cr->nimages; i++) {
        ngx_http_mastodon_media_unspool(&cr->images[i], log);
    }

    u->err = cr->images[cr->nimages - 1].err;
}


/* DELETE /api/v1/profile/avatar */
ngx_int_t
ngx_http_mastodon_profile_avatar_delete(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_profile_image_delete(r, ctx,
                                            &ngx_http_mastodon_avatar_delete);
}


/* DELETE /api/v1/profile/header */
ngx_int_t
ngx_http_mastodon_profile_header_delete(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_profile_image_delete(r, ctx,
                                            &ngx_http_mastodon_header_delete);
}


/* the image gone, then the CredentialAccount (Mastodon 4.2's answer) */
static ngx_int_t
ngx_http_mastodon_profile_image_delete(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_pg_stmt_t *stmt)
{
    const char                   **values;
    ngx_http_mastodon_pg_batch_t  *b;

    values = ngx_pcalloc(r->pool, sizeof(char *));
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[0] = ngx_http_mastodon_pg_int64(r, ctx->auth->account_id);
    if (values[0] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b = ngx_http_mastodon_pg_batch(r, ngx_http_mastodon_credentials_done,
                                   NULL);
    if (b == NULL
        || ngx_http_mastodon_pg_add(b, stmt, values) != NGX_OK
        || ngx_http_mastodon_pg_add(b, ngx_http_mastodon_credentials_stmt(),
                                    values) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mastodon_pg_run(b) != NGX_OK) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}


/* "t", "f", or NULL (absent: unchanged), with Rails' casting */
static const char *
ngx_http_mastodon_bool_value(mstdn_value_t *params, const char *key)
{
    mstdn_value_t  *v;

    v = mstdn_object_get(params, key);
    if (v == NULL || v->type == MSTDN_NULL
        || (v->type == MSTDN_STRING && v->len == 0))
    {
        return NULL;
    }

    return mstdn_param_bool(params, key, 0) ? "t" : "f";
}


/*
 * fields_attributes as {"0": {"name","value"}, ...} (forms) or an array
 * (JSON): pairs with both parts blank are dropped, as Mastodon does.
 */
static ngx_int_t
ngx_http_mastodon_fields_json(ngx_http_request_t *r, mstdn_value_t *attrs,
    const char **out, const char **err)
{
    size_t          nlen, vlen;
    yajl_gen        g;
    ngx_uint_t      n;
    const char     *name, *value;
    mstdn_value_t  *f;

    *err = NULL;

    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        return NGX_ERROR;
    }

    yajl_gen_array_open(g);
    n = 0;

    for (f = attrs->first; f; f = f->next) {
        name = mstdn_param_str(f, "name", &nlen);
        value = mstdn_param_str(f, "value", &vlen);

        if (name == NULL) {
            name = "";
            nlen = 0;
        }
        if (value == NULL) {
            value = "";
            vlen = 0;
        }

        if (nlen == 0 && vlen == 0) {
            continue;
        }

        if (mstdn_utf8_length((u_char *) name, nlen)
                > NGX_HTTP_MASTODON_FIELD_MAX
            || mstdn_utf8_length((u_char *) value, vlen)
               > NGX_HTTP_MASTODON_FIELD_MAX)
        {
            *err = "Fields is too long (maximum is 255 characters)";
            yajl_gen_free(g);
            return NGX_DECLINED;
        }

        if (++n > NGX_HTTP_MASTODON_FIELDS_MAX) {
            *err = "Fields is too big (maximum is 4 fields)";
            yajl_gen_free(g);
            return NGX_DECLINED;
        }

        yajl_gen_map_open(g);
        yajl_gen_string(g, (u_char *) "name", 4);
        yajl_gen_string(g, (u_char *) name, nlen);
        yajl_gen_string(g, (u_char *) "value", 5);
        yajl_gen_string(g, (u_char *) value, vlen);
        yajl_gen_map_close(g);
    }

    yajl_gen_array_close(g);

    *out = ngx_http_mastodon_gen_string(r, g);
    yajl_gen_free(g);

    return *out ? NGX_OK : NGX_ERROR;
}


static const char *
ngx_http_mastodon_gen_string(ngx_http_request_t *r, yajl_gen g)
{
    u_char                *p;
    size_t                 len;
    const unsigned char   *buf;

    if (yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok) {
        return NULL;
    }

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        return NULL;
    }

    *ngx_cpymem(p, buf, len) = '\0';

    return (const char *) p;
}
