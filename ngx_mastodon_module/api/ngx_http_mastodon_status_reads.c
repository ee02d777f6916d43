/*
 * What else is read of one status: its edit history, its source, and its
 * context (the thread around it), as Mastodon's HistoriesController,
 * SourcesController and StatusesController#context answer.
 */

#include "ngx_http_mastodon_api.h"


#define NGX_HTTP_MASTODON_TIME(col)                                           \
    "to_char(" col ", 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* Mastodon's limits: everyone, and without a token */
#define NGX_HTTP_MASTODON_CONTEXT_LIMIT        "4096"
#define NGX_HTTP_MASTODON_CONTEXT_ANCESTORS    "40"
#define NGX_HTTP_MASTODON_CONTEXT_DESCENDANTS  "60"
#define NGX_HTTP_MASTODON_CONTEXT_DEPTH        "20"


/*
 * $1 the viewer, $2 the status: its versions, oldest first; a status never
 * edited has one, itself (Status#build_snapshot).
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_status_history_stmt =
    ngx_http_mastodon_pg_stmt(
    "SELECT x.text, x.spoiler_text, x.sensitive, "
    NGX_HTTP_MASTODON_TIME("x.created_at") ", st.local IS NOT FALSE"
    " AND a.domain IS NULL, "
    NGX_HTTP_MASTODON_ST_SQL_MENTIONS("st") ","
    " (SELECT json_build_object('options', json_agg(json_build_object("
    "  'title', po.title) ORDER BY po.i))::text"
    "  FROM unnest(x.poll_options) WITH ORDINALITY po (title, i)"
    "  HAVING count(*) > 0), "
    NGX_HTTP_MASTODON_ACCOUNT_COLUMNS ", x.id"
    " FROM statuses st JOIN LATERAL ("
    "  SELECT e.text, e.spoiler_text, coalesce(e.sensitive, st.sensitive)"
    "  AS sensitive, e.created_at, e.id, e.poll_options FROM status_edits e"
    "  WHERE e.status_id = st.id"
    "  UNION ALL SELECT st.text, st.spoiler_text, st.sensitive,"
    "  coalesce(st.edited_at, st.created_at), 0,"
    "  (SELECT sp.options FROM polls sp WHERE sp.id = st.poll_id)"
    "  WHERE NOT EXISTS (SELECT 1 FROM status_edits e2"
    "  WHERE e2.status_id = st.id)) x ON true"
    " JOIN accounts a ON a.id = st.account_id"
    " LEFT JOIN account_stats s ON s.account_id = a.id"
    " WHERE st.id = $2::bigint AND " NGX_HTTP_MASTODON_ST_SQL_VISIBLE("st")
    " ORDER BY x.created_at, x.id", 2);

/*
 * The same versions' media (StatusEdit#ordered_media_attachments): the
 * version (status_edits.id, 0 for the status never edited), then the
 * MediaAttachment with the description the version recorded.
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_status_history_media =
    ngx_http_mastodon_pg_stmt(
    "SELECT v.id, " NGX_HTTP_MASTODON_MEDIA_COLUMNS
    " FROM statuses st JOIN LATERAL ("
    "  SELECT e.id, e.ordered_media_attachment_ids AS ids,"
    "  e.media_descriptions AS descriptions FROM status_edits e"
    "  WHERE e.status_id = st.id"
    "  UNION ALL SELECT 0, coalesce(st.ordered_media_attachment_ids,"
    "  ARRAY(SELECT ca.id FROM media_attachments ca"
    "  WHERE ca.status_id = st.id ORDER BY ca.id)), NULL"
    "  WHERE NOT EXISTS (SELECT 1 FROM status_edits e2"
    "  WHERE e2.status_id = st.id)) v ON true"
    " CROSS JOIN LATERAL unnest(v.ids) WITH ORDINALITY AS o (id, n)"
    " JOIN media_attachments ma ON ma.id = o.id AND ma.status_id = st.id"
    " CROSS JOIN LATERAL jsonb_populate_record(ma,"
    "  jsonb_build_object('description', CASE WHEN v.id = 0"
    "  THEN ma.description ELSE v.descriptions[o.n] END)) m"
    " WHERE st.id = $2::bigint AND " NGX_HTTP_MASTODON_ST_SQL_VISIBLE("st")
    " ORDER BY v.id, o.n", 2);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_status_source_stmt =
    ngx_http_mastodon_pg_stmt(
    "SELECT s.id, s.text, s.spoiler_text FROM statuses s"
    " WHERE s.id = $2::bigint AND " NGX_HTTP_MASTODON_ST_SQL_VISIBLE("s"),
    2);

/* $1 the status, $2 how many: ancestors, the nearest last */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_status_ancestors_stmt =
    ngx_http_mastodon_pg_stmt(
    "WITH RECURSIVE up(id, parent, depth) AS ("
    "  SELECT s.id, s.in_reply_to_id, 0 FROM statuses s"
    "  WHERE s.id = $1::bigint"
    " UNION ALL SELECT s.id, s.in_reply_to_id, up.depth + 1"
    "  FROM up JOIN statuses s ON s.id = up.parent"
    "  WHERE up.depth < $2::int)"
    " SELECT id FROM up WHERE depth > 0 ORDER BY depth DESC", 2);

/* $1 the status, $2 how many, $3 how deep: depth first, by id */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_status_descendants_stmt =
    ngx_http_mastodon_pg_stmt(
    "WITH RECURSIVE down(id, path) AS ("
    "  SELECT s.id, ARRAY[s.id] FROM statuses s"
    "  WHERE s.in_reply_to_id = $1::bigint AND s.deleted_at IS NULL"
    " UNION ALL SELECT s.id, down.path || s.id"
    "  FROM down JOIN statuses s ON s.in_reply_to_id = down.id"
    "  WHERE s.deleted_at IS NULL AND cardinality(down.path) < $3::int"
    "  AND NOT s.id = ANY(down.path))"
    " SELECT id FROM down ORDER BY path LIMIT $2::int", 3);


static const char **
ngx_http_mastodon_status_values(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    u_char       *p;
    int64_t       id;
    const char  **values;

    id = ngx_http_mastodon_capture_id(ctx, 0);
    if (id == 0) {
        return NULL;
    }

    values = ngx_palloc(r->pool, 3 * sizeof(char *));
    p = ngx_pnalloc(r->pool, 2 * (NGX_INT64_LEN + 1));
    if (values == NULL || p == NULL) {
        return NULL;
    }

    values[0] = NULL;
    if (ctx->auth && ctx->auth->user_id) {
        values[0] = (const char *) p;
        p = ngx_sprintf(p, "%L", ctx->auth->account_id);
        *p++ = '\0';
    }

    values[1] = (const char *) p;
    p = ngx_sprintf(p, "%L", id);
    *p = '\0';

    return values;
}


static ngx_int_t
ngx_http_mastodon_status_read(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_pg_stmt_t *stmt,
    ngx_http_mastodon_pg_done_pt done)
{
    const char  **values;

    values = ngx_http_mastodon_status_values(r, ctx);
    if (values == NULL) {
        return NGX_HTTP_NOT_FOUND;
    }

    return ngx_http_mastodon_pg_query(r, stmt, values, done, NULL);
}


static PGresult *
ngx_http_mastodon_status_found(ngx_http_mastodon_pg_batch_t *b)
{
    PGresult  *res;

    res = ngx_http_mastodon_pg_rows(b, 0);

    if (res == NULL) {
        ngx_http_mastodon_finalize(b->request, NGX_HTTP_SERVICE_UNAVAILABLE);
        return NULL;
    }

    if (PQntuples(res) == 0) {
        ngx_http_mastodon_finalize(b->request, NGX_HTTP_NOT_FOUND);
        return NULL;
    }

    return res;
}


/* GET /api/v1/statuses/:id/history: StatusEdit entities */

static void
ngx_http_mastodon_status_history_done(ngx_http_mastodon_pg_batch_t *b)
{
    int                        row, k, nmedia;
    int64_t                    version;
    PGresult                  *res, *media;
    ngx_str_t                  s, html;
    mstdn_value_t             *mentions;
    ngx_http_request_t        *r;
    ngx_http_mastodon_json_t   j;

    r = b->request;

    res = ngx_http_mastodon_status_found(b);
    if (res == NULL) {
        return;
    }

    media = ngx_http_mastodon_pg_rows(b, 1);
    if (media == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    nmedia = PQntuples(media);

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    mentions = ngx_http_mastodon_status_mentions(r, res, 0, 5);

    ngx_http_mastodon_json_open_array(&j, NULL);

    for (row = 0; row < PQntuples(res); row++) {
        ngx_http_mastodon_json_open(&j, NULL);

        s = ngx_http_mastodon_pg_str(res, row, 0);

        if (PQgetvalue(res, row, 4)[0] == 't') {
            if (ngx_http_mastodon_status_html(r, &s, mentions, &html)
                != NGX_OK)
            {
                ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
                return;
            }
            ngx_http_mastodon_json_kv_str(&j, "content", &html);

        } else {
            ngx_http_mastodon_json_kv_str(&j, "content", &s);
        }

        s = ngx_http_mastodon_pg_str(res, row, 1);
        ngx_http_mastodon_json_kv_str(&j, "spoiler_text", &s);
        ngx_http_mastodon_json_kv_bool(&j, "sensitive",
                                       PQgetvalue(res, row, 2)[0] == 't');
        s = ngx_http_mastodon_pg_str(res, row, 3);
        ngx_http_mastodon_json_kv_str(&j, "created_at", &s);

        ngx_http_mastodon_json_key(&j, "account");
        ngx_http_mastodon_account(&j, res, row, 7);

        /* StatusEdit::PollSerializer: the options of that version */
        if (!PQgetisnull(res, row, 6)) {
            s = ngx_http_mastodon_pg_str(res, row, 6);
            ngx_http_mastodon_json_raw(&j, "poll", &s);
        }

        version = ngx_http_mastodon_pg_int(res, row,
                                        7 + NGX_HTTP_MASTODON_ACCOUNT_NCOLS);

        ngx_http_mastodon_json_open_array(&j, "media_attachments");
        for (k = 0; k < nmedia; k++) {
            if (ngx_http_mastodon_pg_int(media, k, 0) == version) {
                ngx_http_mastodon_media_attachment(&j, media, k, 1);
            }
        }
        ngx_http_mastodon_json_close_array(&j);
        ngx_http_mastodon_json_open_array(&j, "emojis");
        ngx_http_mastodon_json_close_array(&j);

        ngx_http_mastodon_json_close(&j);
    }

    ngx_http_mastodon_json_close_array(&j);

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_json_send(&j,
                                                              NGX_HTTP_OK));
}


ngx_int_t
ngx_http_mastodon_status_history(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    const char                    **values;
    ngx_http_mastodon_pg_batch_t   *b;

    values = ngx_http_mastodon_status_values(r, ctx);
    if (values == NULL) {
        return NGX_HTTP_NOT_FOUND;
    }

    b = ngx_http_mastodon_pg_batch(r, ngx_http_mastodon_status_history_done,
                                   NULL);
    if (b == NULL
        || ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_status_history_stmt,
                                    values)
           != NGX_OK
        || ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_status_history_media,
                                    values)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mastodon_pg_run(b) != NGX_OK) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}


/* GET /api/v1/statuses/:id/source: StatusSource */

static void
ngx_http_mastodon_status_source_done(ngx_http_mastodon_pg_batch_t *b)
{
    PGresult                  *res;
    ngx_str_t                  s;
    ngx_http_request_t        *r;
    ngx_http_mastodon_json_t   j;

    r = b->request;

    res = ngx_http_mastodon_status_found(b);
    if (res == NULL) {
        return;
    }

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_mastodon_json_open(&j, NULL);
    s = ngx_http_mastodon_pg_str(res, 0, 0);
    ngx_http_mastodon_json_kv_str(&j, "id", &s);
    s = ngx_http_mastodon_pg_str(res, 0, 1);
    ngx_http_mastodon_json_kv_str(&j, "text", &s);
    s = ngx_http_mastodon_pg_str(res, 0, 2);
    ngx_http_mastodon_json_kv_str(&j, "spoiler_text", &s);
    ngx_http_mastodon_json_close(&j);

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_json_send(&j,
                                                              NGX_HTTP_OK));
}


ngx_int_t
ngx_http_mastodon_status_source(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_status_read(r, ctx,
                                         &ngx_http_mastodon_status_source_stmt,
                                         ngx_http_mastodon_status_source_done);
}


/* GET /api/v1/statuses/:id/context */

typedef struct {
    ngx_uint_t                     nancestors;
} ngx_http_mastodon_context_t;


static void ngx_http_mastodon_status_context_ids(
    ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_status_context_loaded(ngx_http_request_t *r,
    ngx_http_mastodon_statuses_t *st, void *data);


ngx_int_t
ngx_http_mastodon_status_context(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    ngx_uint_t                      anonymous;
    const char                    **values, **up, **down;
    ngx_http_mastodon_pg_batch_t   *b;

    values = ngx_http_mastodon_status_values(r, ctx);
    up = ngx_palloc(r->pool, 2 * sizeof(char *));
    down = ngx_palloc(r->pool, 3 * sizeof(char *));
    if (values == NULL) {
        return NGX_HTTP_NOT_FOUND;
    }
    if (up == NULL || down == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    anonymous = values[0] == NULL;

    up[0] = values[1];
    up[1] = anonymous ? NGX_HTTP_MASTODON_CONTEXT_ANCESTORS
                      : NGX_HTTP_MASTODON_CONTEXT_LIMIT;
    down[0] = values[1];
    down[1] = anonymous ? NGX_HTTP_MASTODON_CONTEXT_DESCENDANTS
                        : NGX_HTTP_MASTODON_CONTEXT_LIMIT;
    down[2] = anonymous ? NGX_HTTP_MASTODON_CONTEXT_DEPTH
                        : NGX_HTTP_MASTODON_CONTEXT_LIMIT;

    b = ngx_http_mastodon_pg_batch(r, ngx_http_mastodon_status_context_ids,
                                   NULL);
    if (b == NULL
        || ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_status_ancestors_stmt,
                                    up)
           != NGX_OK
        || ngx_http_mastodon_pg_add(b,
                                    &ngx_http_mastodon_status_descendants_stmt,
                                    down)
           != NGX_OK
        || ngx_http_mastodon_pg_run(b) != NGX_OK)
    {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}


static void
ngx_http_mastodon_status_context_ids(ngx_http_mastodon_pg_batch_t *b)
{
    int                            row, nup, ndown;
    int64_t                       *ids;
    PGresult                      *up, *down;
    ngx_int_t                      rc;
    ngx_http_request_t            *r;
    ngx_http_mastodon_ctx_t       *ctx;
    ngx_http_mastodon_context_t   *cx;

    r = b->request;
    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    up = ngx_http_mastodon_pg_rows(b, 0);
    down = ngx_http_mastodon_pg_rows(b, 1);
    if (up == NULL || down == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    nup = PQntuples(up);
    ndown = PQntuples(down);

    ids = ngx_palloc(r->pool, (1 + nup + ndown) * sizeof(int64_t));
    cx = ngx_palloc(r->pool, sizeof(ngx_http_mastodon_context_t));
    if (ids == NULL || cx == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ids[0] = ngx_http_mastodon_capture_id(ctx, 0);

    for (row = 0; row < nup; row++) {
        ids[1 + row] = ngx_http_mastodon_pg_int(up, row, 0);
    }

    for (row = 0; row < ndown; row++) {
        ids[1 + nup + row] = ngx_http_mastodon_pg_int(down, row, 0);
    }

    cx->nancestors = nup;

    rc = ngx_http_mastodon_statuses_fetch(r, ids, 1 + nup + ndown,
                                        NGX_HTTP_MASTODON_ST_FILTER
                                        |NGX_HTTP_MASTODON_ST_THREAD,
                                        ngx_http_mastodon_status_context_loaded,
                                        cx);
    if (rc != NGX_DONE) {
        ngx_http_mastodon_finalize(r, rc);
    }
}


static void
ngx_http_mastodon_status_context_loaded(ngx_http_request_t *r,
    ngx_http_mastodon_statuses_t *st, void *data)
{
    ngx_http_mastodon_context_t *cx = data;

    ngx_uint_t                        i;
    ngx_http_mastodon_json_t          j;
    ngx_http_mastodon_status_item_t  *it;

    if (st->rc != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    /* the status itself: StatusPolicy#show?, not the viewer's mutes */
    it = st->items.elts;
    if (!it->found || !it->visible) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_NOT_FOUND);
        return;
    }

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_mastodon_json_open(&j, NULL);

    ngx_http_mastodon_json_open_array(&j, "ancestors");
    for (i = 1; i <= cx->nancestors && i < st->n; i++) {
        if (ngx_http_mastodon_statuses_shown(st, i)) {
            ngx_http_mastodon_status_write(&j, NULL, st, i);
        }
    }
    ngx_http_mastodon_json_close_array(&j);

    ngx_http_mastodon_json_open_array(&j, "descendants");
    for (i = 1 + cx->nancestors; i < st->n; i++) {
        if (ngx_http_mastodon_statuses_shown(st, i)) {
            ngx_http_mastodon_status_write(&j, NULL, st, i);
        }
    }
    ngx_http_mastodon_json_close_array(&j);

    ngx_http_mastodon_json_close(&j);

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_json_send(&j,
                                                              NGX_HTTP_OK));
}
