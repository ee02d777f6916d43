/*
 * Lists around status interactions:
 *
 *  - GET /api/v1/statuses/:id/favourited_by and /reblogged_by: Accounts,
 *    paginated by the favourite's (the reblog's) id as Mastodon's
 *    paginate_by_max_id (max_id, since_id; Link next max_id, prev
 *    since_id); 404 unless the viewer (or anyone, without a token) may see
 *    the status; suspended accounts and those the viewer blocks, is
 *    blocked by or mutes are left out (not_excluded_by_account);
 *    reblogged_by counts only public and unlisted reblogs.
 *  - GET /api/v1/favourites and /api/v1/bookmarks: the viewer's, newest
 *    first, paginated by the favourite's (bookmark's) id, not the
 *    status's: max_id, since_id, min_id; Link next max_id, prev min_id.
 *    Mastodon filters nothing there but deleted statuses; what the viewer
 *    may no longer see is left out of the page (the Link still counts it).
 */

#include "ngx_http_mastodon_api.h"


typedef struct {
    ngx_http_mastodon_page_t       page;
    int64_t                        status_id;
    const char                    *path;
    ngx_uint_t                     nrows;       /* rows of the page */
    int64_t                        first;       /* row ids, newest */
    int64_t                        last;        /* and oldest */
} ngx_http_mastodon_sl_t;


static void ngx_http_mastodon_sl_accounts_done(
    ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_sl_statuses_done(
    ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_sl_loaded(ngx_http_request_t *r,
    ngx_http_mastodon_statuses_t *st, void *data);
static ngx_int_t ngx_http_mastodon_sl_link(ngx_http_request_t *r,
    ngx_http_mastodon_sl_t *sl, const char *prev_key);


/* $1 the viewer (NULL: anonymous), $2 the status */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_sl_check =
    ngx_http_mastodon_pg_stmt(
        "SELECT 1 FROM statuses s WHERE s.id = $2::bigint AND "
        NGX_HTTP_MASTODON_ST_SQL_VISIBLE("s"), 2);

/* Account#excluded_from_timeline_account_ids of $1 */
#define NGX_HTTP_MASTODON_SL_NOT_EXCLUDED                                     \
    " AND a.suspended_at IS NULL AND ($1::bigint IS NULL OR ("                \
    " NOT EXISTS (SELECT 1 FROM blocks xb WHERE xb.account_id = $1::bigint"   \
    "  AND xb.target_account_id = a.id)"                                      \
    " AND NOT EXISTS (SELECT 1 FROM blocks xb WHERE xb.account_id = a.id"     \
    "  AND xb.target_account_id = $1::bigint)"                                \
    " AND NOT EXISTS (SELECT 1 FROM mutes xm WHERE xm.account_id = $1::bigint"\
    "  AND xm.target_account_id = a.id AND (xm.expires_at IS NULL"            \
    "  OR xm.expires_at > (now() AT TIME ZONE 'UTC')))))"

/* $1 the viewer, $2 the status, $3 max_id, $4 since_id, $5 limit */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_sl_favourited_by =
    ngx_http_mastodon_pg_stmt(
        "SELECT " NGX_HTTP_MASTODON_ACCOUNT_COLUMNS ", f.id"
        " FROM favourites f JOIN accounts a ON a.id = f.account_id"
        " LEFT JOIN account_stats s ON s.account_id = a.id"
        " WHERE f.status_id = $2::bigint" NGX_HTTP_MASTODON_SL_NOT_EXCLUDED
        " AND ($3::bigint IS NULL OR f.id < $3::bigint)"
        " AND ($4::bigint IS NULL OR f.id > $4::bigint)"
        " ORDER BY f.id DESC LIMIT $5::bigint", 5);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_sl_reblogged_by =
    ngx_http_mastodon_pg_stmt(
        "SELECT " NGX_HTTP_MASTODON_ACCOUNT_COLUMNS ", r.id"
        " FROM statuses r JOIN accounts a ON a.id = r.account_id"
        " LEFT JOIN account_stats s ON s.account_id = a.id"
        " WHERE r.reblog_of_id = $2::bigint AND r.deleted_at IS NULL"
        " AND r.visibility IN (0, 1)" NGX_HTTP_MASTODON_SL_NOT_EXCLUDED
        " AND ($3::bigint IS NULL OR r.id < $3::bigint)"
        " AND ($4::bigint IS NULL OR r.id > $4::bigint)"
        " ORDER BY r.id DESC LIMIT $5::bigint", 5);

/*
 * $1 the viewer, $2 max_id, $3 since_id, $4 min_id, $5 limit: the rows'
 * ids and their statuses (not deleted); newest first, or with min_id the
 * oldest above it first (to_a_paginated_by_id reverses them).
 */
#define NGX_HTTP_MASTODON_SL_OWN(table, order)                                \
    "SELECT x.id, x.status_id FROM " table " x JOIN statuses s"               \
    " ON s.id = x.status_id AND s.deleted_at IS NULL"                         \
    " WHERE x.account_id = $1::bigint"                                        \
    " AND ($2::bigint IS NULL OR x.id < $2::bigint)"                          \
    " AND ($3::bigint IS NULL OR x.id > $3::bigint)"                          \
    " AND ($4::bigint IS NULL OR x.id > $4::bigint)"                          \
    " ORDER BY x.id " order " LIMIT $5::bigint"

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_sl_favourites[2] = {
    ngx_http_mastodon_pg_stmt(
        NGX_HTTP_MASTODON_SL_OWN("favourites", "DESC"), 5),
    ngx_http_mastodon_pg_stmt(
        NGX_HTTP_MASTODON_SL_OWN("favourites", "ASC"), 5)
};

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_sl_bookmarks[2] = {
    ngx_http_mastodon_pg_stmt(
        NGX_HTTP_MASTODON_SL_OWN("bookmarks", "DESC"), 5),
    ngx_http_mastodon_pg_stmt(
        NGX_HTTP_MASTODON_SL_OWN("bookmarks", "ASC"), 5)
};


static ngx_int_t
ngx_http_mastodon_sl_accounts(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_pg_stmt_t *stmt,
    const char *path)
{
    const char                    **values, *page[4];
    ngx_http_mastodon_sl_t         *sl;
    ngx_http_mastodon_pg_batch_t   *b;

    sl = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_sl_t));
    values = ngx_pcalloc(r->pool, 5 * sizeof(char *));
    if (sl == NULL || values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    sl->status_id = ngx_http_mastodon_capture_id(ctx, 0);
    if (sl->status_id == 0) {
        return NGX_HTTP_NOT_FOUND;
    }

    sl->path = path;

    /* paginate_by_max_id: max_id and since_id, newest first */
    ngx_http_mastodon_page_init(ctx, &sl->page, 40, 80);
    sl->page.min_id = 0;
    sl->page.ascending = 0;
    ngx_http_mastodon_page_values(r, &sl->page, page);

    values[0] = ctx->auth ? ngx_http_mastodon_pg_int64(r, ctx->auth->account_id)
                          : NULL;
    values[1] = ngx_http_mastodon_pg_int64(r, sl->status_id);
    values[2] = page[0];
    values[3] = page[1];
    values[4] = page[3];

    b = ngx_http_mastodon_pg_batch(r, ngx_http_mastodon_sl_accounts_done, sl);

    if (b == NULL || values[1] == NULL || (ctx->auth && values[0] == NULL)
        || ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_sl_check, values)
           != NGX_OK
        || ngx_http_mastodon_pg_add(b, stmt, values) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mastodon_pg_run(b) != NGX_OK) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}


/* GET /api/v1/statuses/:id/favourited_by */
ngx_int_t
ngx_http_mastodon_status_favourited_by(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_sl_accounts(r, ctx,
                                         &ngx_http_mastodon_sl_favourited_by,
                                         "/api/v1/statuses/%L/favourited_by");
}


/* GET /api/v1/statuses/:id/reblogged_by */
ngx_int_t
ngx_http_mastodon_status_reblogged_by(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_sl_accounts(r, ctx,
                                         &ngx_http_mastodon_sl_reblogged_by,
                                         "/api/v1/statuses/%L/reblogged_by");
}


static void
ngx_http_mastodon_sl_accounts_done(ngx_http_mastodon_pg_batch_t *b)
{
    int                        i, n, col;
    PGresult                  *chk, *res;
    ngx_http_request_t        *r;
    ngx_http_mastodon_sl_t    *sl;
    ngx_http_mastodon_json_t   j;

    r = b->request;
    sl = b->data;

    chk = ngx_http_mastodon_pg_rows(b, 0);
    res = ngx_http_mastodon_pg_rows(b, 1);

    if (chk == NULL || res == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (PQntuples(chk) == 0) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_NOT_FOUND);
        return;
    }

    n = PQntuples(res);
    col = NGX_HTTP_MASTODON_ACCOUNT_NCOLS;

    sl->nrows = n;

    if (n > 0) {
        sl->first = ngx_http_mastodon_pg_int(res, 0, col);
        sl->last = ngx_http_mastodon_pg_int(res, n - 1, col);
    }

    if (ngx_http_mastodon_sl_link(r, sl, "since_id") != NGX_OK
        || ngx_http_mastodon_json_init(r, &j) != NGX_OK)
    {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_mastodon_json_open_array(&j, NULL);

    for (i = 0; i < n; i++) {
        ngx_http_mastodon_account(&j, res, i, 0);
    }

    ngx_http_mastodon_json_close_array(&j);

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_json_send(&j,
                                                              NGX_HTTP_OK));
}


static ngx_int_t
ngx_http_mastodon_sl_statuses(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_pg_stmt_t *stmts,
    const char *path)
{
    const char              **values;
    ngx_http_mastodon_sl_t   *sl;

    sl = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_sl_t));
    values = ngx_pcalloc(r->pool, 5 * sizeof(char *));
    if (sl == NULL || values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    sl->path = path;

    /* DEFAULT_STATUSES_LIMIT, at most twice that */
    ngx_http_mastodon_page_init(ctx, &sl->page, 20, 40);
    ngx_http_mastodon_page_values(r, &sl->page, &values[1]);

    values[0] = ngx_http_mastodon_pg_int64(r, ctx->auth->account_id);
    if (values[0] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_pg_query(r, &stmts[sl->page.ascending ? 1 : 0],
                                      values,
                                      ngx_http_mastodon_sl_statuses_done, sl);
}


/* GET /api/v1/favourites */
ngx_int_t
ngx_http_mastodon_favourites(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_sl_statuses(r, ctx,
                                         ngx_http_mastodon_sl_favourites,
                                         "/api/v1/favourites");
}


/* GET /api/v1/bookmarks */
ngx_int_t
ngx_http_mastodon_bookmarks(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_sl_statuses(r, ctx,
                                         ngx_http_mastodon_sl_bookmarks,
                                         "/api/v1/bookmarks");
}


static void
ngx_http_mastodon_sl_statuses_done(ngx_http_mastodon_pg_batch_t *b)
{
    int                      i, n, row;
    int64_t                 *ids;
    PGresult                *res;
    ngx_int_t                rc;
    ngx_http_request_t      *r;
    ngx_http_mastodon_sl_t  *sl;

    r = b->request;
    sl = b->data;

    res = ngx_http_mastodon_pg_rows(b, 0);
    if (res == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    n = PQntuples(res);
    sl->nrows = n;

    if (n == 0) {
        ngx_http_mastodon_sl_loaded(r, NULL, sl);
        return;
    }

    ids = ngx_palloc(r->pool, n * sizeof(int64_t));
    if (ids == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* newest first, whichever way the page was selected */
    for (i = 0; i < n; i++) {
        row = sl->page.ascending ? n - 1 - i : i;
        ids[i] = ngx_http_mastodon_pg_int(res, row, 1);

        if (i == 0) {
            sl->first = ngx_http_mastodon_pg_int(res, row, 0);
        }

        if (i == n - 1) {
            sl->last = ngx_http_mastodon_pg_int(res, row, 0);
        }
    }

    rc = ngx_http_mastodon_statuses_fetch(r, ids, n, 0,
                                          ngx_http_mastodon_sl_loaded, sl);
    if (rc != NGX_DONE) {
        ngx_http_mastodon_finalize(r, rc);
    }
}


/* st NULL: the page is empty */
static void
ngx_http_mastodon_sl_loaded(ngx_http_request_t *r,
    ngx_http_mastodon_statuses_t *st, void *data)
{
    ngx_http_mastodon_sl_t  *sl = data;

    if (st && st->rc != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (ngx_http_mastodon_sl_link(r, sl, "min_id") != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_statuses_send_list(r, st));
}


/* next: the page was full; prev: it was not empty */
static ngx_int_t
ngx_http_mastodon_sl_link(ngx_http_request_t *r, ngx_http_mastodon_sl_t *sl,
    const char *prev_key)
{
    u_char                   *p;
    ngx_str_t                 path;
    ngx_http_mastodon_ctx_t  *ctx;

    if (sl->nrows == 0) {
        return NGX_OK;
    }

    path.data = ngx_pnalloc(r->pool, ngx_strlen(sl->path) + NGX_INT64_LEN);
    if (path.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(path.data, sl->path, sl->status_id);
    path.len = p - path.data;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    return ngx_http_mastodon_page_link(r, ctx, &path,
                                       ngx_http_mastodon_page_keep_limit,
                                       sl->page.limit,
                                       sl->nrows == sl->page.limit
                                       ? sl->last : 0,
                                       prev_key, sl->first);
}

