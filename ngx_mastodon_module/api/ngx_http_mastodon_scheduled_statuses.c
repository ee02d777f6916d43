/*
 * Scheduled statuses (Api::V1::ScheduledStatusesController and
 * PostStatusService#schedule_status!): POST /api/v1/statuses with
 * scheduled_at (called from _statuses.c once the post's parameters are
 * validated and prepared), GET /api/v1/scheduled_statuses (paginated),
 * GET, PUT (scheduled_at) and DELETE /api/v1/scheduled_statuses/:id.
 *
 * A scheduled status keeps the prepared arguments of the post
 * (post_args) next to Mastodon's params; its media are reserved
 * (media_attachments.scheduled_status_id) and no post takes them.  Its
 * scheduled_status_publish job (worker/job_scheduled_status.c) waits in
 * mastodon:schedule for scheduled_at, then posts it through
 * mastodon_post_statuses(), as POST /api/v1/statuses does.
 */

#include "ngx_http_mastodon_api.h"


#define NGX_HTTP_MASTODON_SCHEDULED_WRITTEN  "mastodon.written_scheduled"

/* the job that publishes ins (a CTE with id) */
#define NGX_HTTP_MASTODON_SCHEDULED_JOB(rows)                                 \
    NGX_HTTP_MASTODON_OUTBOX_SQL(                                             \
    "SELECT 'default', 'scheduled_status_publish',"                           \
    " json_build_object('scheduled_status_id', id::text) FROM " rows)


/*
 * $1-$18 the post's arguments (_statuses.c), $19 scheduled_at as given.
 * The first column says what was done, checked in Mastodon's order: 3
 * the status replied to is not there (the controller's 404), 4 media
 * refused (validate_media!: third and fourth columns as a post's), 1 not
 * a time (ArgumentError: RecordInvalid), 2 in the past (posted now
 * instead), 5 less than 5 minutes ahead, 6 the total limit (300), 7 the
 * daily limit (25) of ScheduledStatus' validations; 0 scheduled.
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_scheduled_create_stmt =
    ngx_http_mastodon_pg_stmt(
    "WITH t AS (SELECT mastodon_parse_time($19::text) AS at),"
    " p AS (SELECT 1 FROM statuses ps WHERE ps.id = $2::bigint"
    "  AND ps.reblog_of_id IS NULL"
    "  AND " NGX_HTTP_MASTODON_ST_SQL_VISIBLE("ps") "),"
    " md AS (SELECT id, type, processing FROM media_attachments"
    "  WHERE id = ANY($18::bigint[]) AND account_id = $1::bigint"
    "  AND status_id IS NULL AND scheduled_status_id IS NULL),"
    " mv AS (SELECT CASE"
    "  WHEN (SELECT count(*) FROM md) < cardinality($18::bigint[]) THEN 1"
    "  WHEN (SELECT count(*) FROM md) > 1"
    "  AND EXISTS (SELECT 1 FROM md WHERE type IN (2, 4)) THEN 2"
    "  WHEN EXISTS (SELECT 1 FROM md WHERE coalesce(processing, 2) <> 2)"
    "  THEN 3 ELSE 0 END AS why),"
    " us AS (SELECT nullif(settings, '')::jsonb AS j FROM users"
    "  WHERE account_id = $1::bigint),"
    " mine AS (SELECT scheduled_at FROM scheduled_statuses"
    "  WHERE account_id = $1::bigint),"
    " ck AS (SELECT CASE"
    "  WHEN $2::bigint IS NOT NULL AND NOT EXISTS (SELECT 1 FROM p) THEN 3"
    "  WHEN mv.why <> 0 THEN 4"
    "  WHEN t.at IS NULL THEN 1"
    "  WHEN t.at <= now() AT TIME ZONE 'UTC' THEN 2"
    "  WHEN t.at <= now() AT TIME ZONE 'UTC' + interval '5 minutes' THEN 5"
    "  WHEN (SELECT count(*) FROM mine) >= 300 THEN 6"
    "  WHEN (SELECT count(*) FROM mine"
    "   WHERE mine.scheduled_at::date = t.at::date) >= 25 THEN 7"
    "  ELSE 0 END AS what FROM t, mv),"
    " ins AS (INSERT INTO scheduled_statuses (account_id, scheduled_at,"
    "  params, post_args)"
    "  SELECT $1::bigint, t.at, jsonb_build_object('text', $3::text,"
    "  'poll', CASE WHEN $14::text[] IS NULL THEN NULL"
    "  ELSE jsonb_build_object('options', $14::text[], 'expires_in',"
    "  $15::bigint, 'multiple', $16::boolean, 'hide_totals',"
    "  $17::boolean) END,"
    "  'media_ids', CASE WHEN cardinality($18::bigint[]) = 0 THEN NULL"
    "  ELSE to_jsonb($18::bigint[]::text[]) END,"
    "  'sensitive', $4::boolean, 'spoiler_text', nullif($5::text, ''),"
    "  'visibility', (ARRAY['public', 'unlisted', 'private', 'direct'])"
    "  [coalesce($6::int, CASE (SELECT j FROM us)->>'default_privacy'"
    "  WHEN 'unlisted' THEN 1 WHEN 'private' THEN 2 ELSE 0 END) + 1],"
    "  'in_reply_to_id', $2::bigint, 'language', $7::text,"
    "  'application_id', $8::bigint, 'scheduled_at', NULL,"
    "  'idempotency', NULL, 'with_rate_limit', false),"
    "  ARRAY[$1::bigint::text, $2::bigint::text, $3::text,"
    "  $4::boolean::text, $5::text, $6::int::text, $7::text,"
    "  $8::bigint::text, $9::text, $10::text[]::text, $11::text[]::text,"
    "  $12::text[]::text, $13::text[]::text, $14::text[]::text,"
    "  $15::bigint::text, $16::boolean::text, $17::boolean::text,"
    "  $18::bigint[]::text]"
    "  FROM t, ck WHERE ck.what = 0 RETURNING id),"
    " ma AS (UPDATE media_attachments SET scheduled_status_id = ins.id,"
    "  updated_at = now() AT TIME ZONE 'UTC' FROM ins"
    "  WHERE media_attachments.id IN (SELECT id FROM md)),"
    " ob AS (" NGX_HTTP_MASTODON_SCHEDULED_JOB("ins") "),"
    " w AS (SELECT set_config('" NGX_HTTP_MASTODON_SCHEDULED_WRITTEN "',"
    "  id::text, true) FROM ins)"
    " SELECT ck.what, (SELECT count(*) FROM w), mv.why,"
    " array_to_string(ARRAY(SELECT x FROM unnest($18::bigint[]) x"
    "  WHERE x NOT IN (SELECT id FROM md)), ', ')"
    " FROM ck, mv", 19);


/*
 * The ScheduledStatus entities of $1, newest first: one ($6), the one
 * just written (the setting), or a page ($2 max_id, $3 since_id, $4
 * min_id: the page nearest it, $5 limit).  A row per media attachment
 * (none: one row with NULL media columns).
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_scheduled_select_stmt =
    ngx_http_mastodon_pg_stmt(
    "WITH one AS (SELECT coalesce($6::bigint, nullif(current_setting('"
    NGX_HTTP_MASTODON_SCHEDULED_WRITTEN "', true), '')::bigint) AS id),"
    " pg AS (SELECT ss.id, ss.scheduled_at, ss.params"
    "  FROM scheduled_statuses ss, one WHERE ss.account_id = $1::bigint"
    "  AND (one.id IS NULL OR ss.id = one.id)"
    "  AND ($2::bigint IS NULL OR ss.id < $2::bigint)"
    "  AND ($3::bigint IS NULL OR ss.id > $3::bigint)"
    "  AND ($4::bigint IS NULL OR ss.id > $4::bigint)"
    "  ORDER BY CASE WHEN $4::bigint IS NULL THEN -ss.id ELSE ss.id END"
    "  LIMIT $5::int)"
    " SELECT pg.id, to_char(pg.scheduled_at,"
    "  'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), pg.params::text, "
    NGX_HTTP_MASTODON_MEDIA_COLUMNS
    " FROM pg LEFT JOIN media_attachments m ON m.scheduled_status_id = pg.id"
    " ORDER BY pg.id DESC, array_position(ARRAY(SELECT jsonb_array_elements_text("
    "  CASE jsonb_typeof(pg.params->'media_ids') WHEN 'array'"
    "  THEN pg.params->'media_ids' ELSE '[]' END)), m.id::text), m.id", 6);

/*
 * PUT: $1 the account, $2 the scheduled status, $3 scheduled_at as given
 * (NULL: not given, nothing changes).  what: 8 not found, 1 not a time,
 * 5, 6, 7 as a post's; 0 saved (a new job for the new time).
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_scheduled_update_stmt =
    ngx_http_mastodon_pg_stmt(
    "WITH o AS (SELECT id FROM scheduled_statuses WHERE id = $2::bigint"
    "  AND account_id = $1::bigint FOR UPDATE),"
    " t AS (SELECT mastodon_parse_time($3::text) AS at),"
    " mine AS (SELECT scheduled_at FROM scheduled_statuses"
    "  WHERE account_id = $1::bigint),"
    " ck AS (SELECT CASE"
    "  WHEN NOT EXISTS (SELECT 1 FROM o) THEN 8"
    "  WHEN $3::text IS NULL THEN 0"
    "  WHEN t.at IS NULL THEN 1"
    "  WHEN t.at <= now() AT TIME ZONE 'UTC' + interval '5 minutes' THEN 5"
    "  WHEN (SELECT count(*) FROM mine) >= 300 THEN 6"
    "  WHEN (SELECT count(*) FROM mine"
    "   WHERE mine.scheduled_at::date = t.at::date) >= 25 THEN 7"
    "  ELSE 0 END AS what FROM t),"
    " ins AS (UPDATE scheduled_statuses SET scheduled_at = t.at FROM t, ck"
    "  WHERE scheduled_statuses.id IN (SELECT id FROM o) AND ck.what = 0"
    "  AND $3::text IS NOT NULL RETURNING scheduled_statuses.id),"
    " ob AS (" NGX_HTTP_MASTODON_SCHEDULED_JOB("ins") ")"
    " SELECT ck.what FROM ck", 3);

/* DELETE: $1 the account, $2 the scheduled status; its media are free */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_scheduled_delete_stmt =
    ngx_http_mastodon_pg_stmt(
    "WITH d AS (DELETE FROM scheduled_statuses WHERE id = $2::bigint"
    "  AND account_id = $1::bigint RETURNING id),"
    " m AS (UPDATE media_attachments SET scheduled_status_id = NULL"
    "  WHERE scheduled_status_id IN (SELECT id FROM d))"
    " SELECT id FROM d", 2);


typedef struct {
    ngx_http_mastodon_page_t       page;
    ngx_uint_t                     list;        /* an array is answered */
    ngx_uint_t                     what;        /* the write's outcome */
    const char                   **post;        /* a post: the values */
    ngx_str_t                      idempotency; /* a post: its claim */
} ngx_http_mastodon_scheduled_t;


static void ngx_http_mastodon_scheduled_created(
    ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_scheduled_updated(
    ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_scheduled_selected(
    ngx_http_mastodon_pg_batch_t *b);
static ngx_int_t ngx_http_mastodon_scheduled_send(ngx_http_request_t *r,
    ngx_http_mastodon_scheduled_t *sc, PGresult *res);
static ngx_int_t ngx_http_mastodon_scheduled_what(
    ngx_http_mastodon_ctx_t *ctx, ngx_uint_t what);


/* the select's values: $1 the account, page or id; NULL on no memory */
static const char **
ngx_http_mastodon_scheduled_values(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_scheduled_t *sc,
    int64_t id)
{
    const char  **values;

    values = ngx_pcalloc(r->pool, 6 * sizeof(char *));
    if (values == NULL) {
        return NULL;
    }

    values[0] = ngx_http_mastodon_pg_int64(r, ctx->auth->account_id);

    if (sc->list) {
        ngx_http_mastodon_page_values(r, &sc->page, &values[1]);

    } else {
        values[4] = "1";
    }

    if (id) {
        values[5] = ngx_http_mastodon_pg_int64(r, id);
        if (values[5] == NULL) {
            return NULL;
        }
    }

    if (values[0] == NULL || values[4] == NULL) {
        return NULL;
    }

    return values;
}


/*
 * POST /api/v1/statuses with scheduled_at: values are the post's
 * (ngx_http_mastodon_status_params()), 19 of them, the last one free;
 * idempotency the Idempotency-Key's claim (empty: none), made good with
 * the ScheduledStatus' id or given up.  Returns NGX_DONE or an HTTP status.
 */
ngx_int_t
ngx_http_mastodon_scheduled_create(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, const char **values, const char *at,
    ngx_str_t *idempotency)
{
    const char                    **sel;
    ngx_http_mastodon_scheduled_t  *sc;
    ngx_http_mastodon_pg_batch_t   *b;

    sc = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_scheduled_t));
    if (sc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    sc->post = values;
    sc->idempotency = *idempotency;
    values[18] = at;

    sel = ngx_http_mastodon_scheduled_values(r, ctx, sc, 0);

    b = ngx_http_mastodon_pg_batch(r, ngx_http_mastodon_scheduled_created,
                                   sc);
    if (sel == NULL || b == NULL
        || ngx_http_mastodon_pg_add(b,
                                    &ngx_http_mastodon_scheduled_create_stmt,
                                    values)
           != NGX_OK
        || ngx_http_mastodon_pg_add(b,
                                    &ngx_http_mastodon_scheduled_select_stmt,
                                    sel)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mastodon_pg_run(b) != NGX_OK) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}


static void
ngx_http_mastodon_scheduled_created(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_http_mastodon_scheduled_t *sc = b->data;

    u_char                   *p;
    ngx_int_t                 rc;
    ngx_str_t                 ids;
    PGresult                 *res;
    ngx_http_request_t       *r;
    ngx_http_mastodon_ctx_t  *ctx;

    r = b->request;
    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    res = ngx_http_mastodon_pg_rows(b, 0);
    if (res == NULL || PQntuples(res) != 1) {
        ngx_http_mastodon_idempotency_done(r, &sc->idempotency, 0);
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    sc->what = ngx_http_mastodon_pg_int(res, 0, 0);

    switch (sc->what) {

    case 0:
        /* committed: a retry with the key gets this ScheduledStatus */
        res = ngx_http_mastodon_pg_rows(b, 1);
        if (res && PQntuples(res)) {
            ngx_http_mastodon_idempotency_done(r, &sc->idempotency,
                                         ngx_http_mastodon_pg_int(res, 0, 0));
        }

        ngx_http_mastodon_finalize(r, ngx_http_mastodon_scheduled_send(r, sc,
                                                                       res));
        return;

    case 2:
        /* scheduled_in_the_past?: an ordinary post, now, keeping the key */
        sc->post[18] = NULL;
        rc = ngx_http_mastodon_status_post(r, ctx, sc->post,
                                           &sc->idempotency);
        break;

    case 4:
        /* validate_media!'s 422, as a post words it */
        switch (ngx_http_mastodon_pg_int(res, 0, 2)) {

        case 1:
            ids = ngx_http_mastodon_pg_str(res, 0, 3);
            p = ngx_pnalloc(r->pool, ids.len + 64);
            if (p == NULL) {
                rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
                break;
            }

            *ngx_sprintf(p, "Media %V not found or already attached to "
                         "another post", &ids) = '\0';
            ctx->error_message = (const char *) p;
            rc = 422;
            break;

        case 2:
            ctx->error_message = "Cannot attach a video to a post that "
                                 "already contains images";
            rc = 422;
            break;

        default:
            ctx->error_message = "Cannot attach files that have not "
                                 "finished processing. Try again in a "
                                 "moment!";
            rc = 422;
        }

        break;

    default:
        rc = ngx_http_mastodon_scheduled_what(ctx, sc->what);
    }

    if (rc != NGX_DONE) {
        if (sc->what != 2) {
            ngx_http_mastodon_idempotency_done(r, &sc->idempotency, 0);
        }

        ngx_http_mastodon_finalize(r, rc);
    }
}


/* the answer to a refused write (what: the statements' first column) */
static ngx_int_t
ngx_http_mastodon_scheduled_what(ngx_http_mastodon_ctx_t *ctx,
    ngx_uint_t what)
{
    switch (what) {

    case 1:
        ctx->error_message = "Record invalid";
        return 422;

    case 3:
        ctx->error_message = "The post you are trying to reply to does not "
                             "appear to exist.";
        return NGX_HTTP_NOT_FOUND;

    case 5:
        ctx->error_message = "Validation failed: Scheduled at The scheduled "
                             "date must be in the future";
        return 422;

    case 6:
        ctx->error_message = "Validation failed: You have exceeded the "
                             "limit of 300 scheduled posts";
        return 422;

    case 7:
        ctx->error_message = "Validation failed: You have exceeded the "
                             "limit of 25 scheduled posts for today";
        return 422;

    case 8:
        ctx->error_message = "Record not found";
        return NGX_HTTP_NOT_FOUND;

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


/* GET /api/v1/scheduled_statuses */
ngx_int_t
ngx_http_mastodon_scheduled_index(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    const char                    **values;
    ngx_http_mastodon_scheduled_t  *sc;

    sc = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_scheduled_t));
    if (sc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    sc->list = 1;

    /* DEFAULT_STATUSES_LIMIT, at most twice that */
    ngx_http_mastodon_page_init(ctx, &sc->page, 20, 40);

    values = ngx_http_mastodon_scheduled_values(r, ctx, sc, 0);
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_pg_query(r,
                                      &ngx_http_mastodon_scheduled_select_stmt,
                                      values,
                                      ngx_http_mastodon_scheduled_selected,
                                      sc);
}


/* GET /api/v1/scheduled_statuses/:id */
ngx_int_t
ngx_http_mastodon_scheduled_show(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    int64_t  id;

    id = ngx_http_mastodon_capture_id(ctx, 0);
    if (id == 0) {
        return NGX_HTTP_NOT_FOUND;
    }

    return ngx_http_mastodon_scheduled_find(r, ctx, id);
}


/* the user's ScheduledStatus id (an Idempotency-Key's retry too), or 404 */
ngx_int_t
ngx_http_mastodon_scheduled_find(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, int64_t id)
{
    const char                    **values;
    ngx_http_mastodon_scheduled_t  *sc;

    sc = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_scheduled_t));
    if (sc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values = ngx_http_mastodon_scheduled_values(r, ctx, sc, id);
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_pg_query(r,
                                      &ngx_http_mastodon_scheduled_select_stmt,
                                      values,
                                      ngx_http_mastodon_scheduled_selected,
                                      sc);
}


/* PUT /api/v1/scheduled_statuses/:id (scheduled_at) */
ngx_int_t
ngx_http_mastodon_scheduled_update(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    int64_t                         id;
    size_t                          len;
    u_char                         *p;
    const char                    **values, **sel, *at;
    ngx_http_mastodon_scheduled_t  *sc;
    ngx_http_mastodon_pg_batch_t   *b;

    id = ngx_http_mastodon_capture_id(ctx, 0);
    if (id == 0) {
        return NGX_HTTP_NOT_FOUND;
    }

    sc = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_scheduled_t));
    values = ngx_pcalloc(r->pool, 3 * sizeof(char *));
    if (sc == NULL || values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[0] = ngx_http_mastodon_pg_int64(r, ctx->auth->account_id);
    values[1] = ngx_http_mastodon_pg_int64(r, id);

    at = mstdn_param_str(ctx->params, "scheduled_at", &len);
    if (at) {
        p = ngx_pnalloc(r->pool, len + 1);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        *ngx_cpymem(p, at, len) = '\0';
        values[2] = (const char *) p;
    }

    sel = ngx_http_mastodon_scheduled_values(r, ctx, sc, id);

    b = ngx_http_mastodon_pg_batch(r, ngx_http_mastodon_scheduled_updated,
                                   sc);
    if (values[0] == NULL || values[1] == NULL || sel == NULL || b == NULL
        || ngx_http_mastodon_pg_add(b,
                                    &ngx_http_mastodon_scheduled_update_stmt,
                                    values)
           != NGX_OK
        || ngx_http_mastodon_pg_add(b,
                                    &ngx_http_mastodon_scheduled_select_stmt,
                                    sel)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mastodon_pg_run(b) != NGX_OK) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}


static void
ngx_http_mastodon_scheduled_updated(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_http_mastodon_scheduled_t *sc = b->data;

    PGresult                 *res;
    ngx_http_request_t       *r;
    ngx_http_mastodon_ctx_t  *ctx;

    r = b->request;
    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    res = ngx_http_mastodon_pg_rows(b, 0);
    if (res == NULL || PQntuples(res) != 1) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    sc->what = ngx_http_mastodon_pg_int(res, 0, 0);

    if (sc->what != 0) {
        ngx_http_mastodon_finalize(r,
                            ngx_http_mastodon_scheduled_what(ctx, sc->what));
        return;
    }

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_scheduled_send(r, sc,
                                          ngx_http_mastodon_pg_rows(b, 1)));
}


/* DELETE /api/v1/scheduled_statuses/:id */
ngx_int_t
ngx_http_mastodon_scheduled_delete(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    int64_t  id;

    id = ngx_http_mastodon_capture_id(ctx, 0);
    if (id == 0) {
        return NGX_HTTP_NOT_FOUND;
    }

    return ngx_http_mastodon_pg_query_ids(r,
               &ngx_http_mastodon_scheduled_delete_stmt,
               ctx->auth->account_id, id, ngx_http_mastodon_empty_if_found,
               NULL);
}



static void
ngx_http_mastodon_scheduled_selected(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_http_mastodon_scheduled_t *sc = b->data;

    ngx_http_mastodon_finalize(b->request,
                               ngx_http_mastodon_scheduled_send(b->request, sc,
                                             ngx_http_mastodon_pg_rows(b, 0)));
}


/*
 * ScheduledStatus entities (REST::ScheduledStatusSerializer) from the
 * select's rows; one (404 when none) or an array with its Link header
 * (next: the page was full; prev: it was not empty).
 */
static ngx_int_t
ngx_http_mastodon_scheduled_send(ngx_http_request_t *r,
    ngx_http_mastodon_scheduled_t *sc, PGresult *res)
{
    int                        row, n;
    int64_t                    id, first, last;
    ngx_str_t                  s, path;
    ngx_uint_t                 count;
    ngx_http_mastodon_ctx_t   *ctx;
    ngx_http_mastodon_json_t   j;

    if (res == NULL) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    n = PQntuples(res);

    if (n == 0 && !sc->list) {
        return NGX_HTTP_NOT_FOUND;
    }

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (sc->list) {
        ngx_http_mastodon_json_open_array(&j, NULL);
    }

    first = 0;
    last = 0;
    count = 0;

    for (row = 0; row < n; /* void */ ) {
        id = ngx_http_mastodon_pg_int(res, row, 0);

        if (first == 0) {
            first = id;
        }

        last = id;
        count++;

        ngx_http_mastodon_json_open(&j, NULL);

        s = ngx_http_mastodon_pg_str(res, row, 0);
        ngx_http_mastodon_json_kv_str(&j, "id", &s);
        ngx_http_mastodon_json_kv_pq(&j, "scheduled_at", res, row, 1);

        s = ngx_http_mastodon_pg_str(res, row, 2);
        ngx_http_mastodon_json_raw(&j, "params", &s);

        ngx_http_mastodon_json_open_array(&j, "media_attachments");

        for ( /* void */ ;
             row < n && ngx_http_mastodon_pg_int(res, row, 0) == id;
             row++)
        {
            if (!PQgetisnull(res, row, 3)) {
                ngx_http_mastodon_media_attachment(&j, res, row, 3);
            }
        }

        ngx_http_mastodon_json_close_array(&j);
        ngx_http_mastodon_json_close(&j);

        if (!sc->list) {
            break;
        }
    }

    if (sc->list) {
        ngx_http_mastodon_json_close_array(&j);

        if (count) {
            ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);
            ngx_str_set(&path, "/api/v1/scheduled_statuses");

            if (ngx_http_mastodon_page_link(r, ctx, &path,
                                        ngx_http_mastodon_page_keep_limit, 0,
                                        count == sc->page.limit ? last : 0,
                                        "min_id", first)
                != NGX_OK)
            {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
        }
    }

    return ngx_http_mastodon_json_send(&j, NGX_HTTP_OK);
}
