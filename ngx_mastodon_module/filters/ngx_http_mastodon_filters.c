/*
 * Filters (Api::V2::FiltersController, Filters::KeywordsController,
 * Filters::StatusesController, Api::V1::FiltersController): the user's
 * custom filters, their keywords and statuses.  The rules (validations,
 * nested keywords, the v1 view of one keyword as a filter) and the
 * entities are PostgreSQL functions (sql/0021_filters.sql), so each route
 * here is one statement: its parameters in, its answer out.
 *
 * A statement answers one row: either the JSON to send, or (status, body)
 * where body is the JSON for 200 and the error for 422; no row is 404.
 * A change is published as Mastodon's filters_changed event on the
 * user's timeline:<account_id> channel.
 */

#include "ngx_http_mastodon_filters.h"
#include "ngx_http_mastodon_cache.h"


#define NGX_HTTP_MASTODON_FILTER_KEYWORDS_MAX  100

/* $1 the user, $2 the filter: the filter's keywords or statuses; no row:
 * not the user's filter */
#define NGX_HTTP_MASTODON_FILTER_OWNED                                        \
    " FROM custom_filters f WHERE f.id = $2::bigint"                          \
    " AND f.account_id = $1::bigint"


static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_filters_index_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT coalesce(json_agg(mastodon_filter_json(f, true)"
        " ORDER BY f.id), '[]') FROM custom_filters f"
        " WHERE f.account_id = $1::bigint", 1);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_filter_show_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT mastodon_filter_json(f, true)"
        NGX_HTTP_MASTODON_FILTER_OWNED, 2);

/* $3 title, $4 context (JSON array), $5 action, $6 expires_in given,
 * $7 expires_in, $8 keywords_attributes (JSON array of objects) */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_filter_save_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT status, body FROM mastodon_filter_save($1::bigint,"
        " $2::bigint, $3::text,"
        " CASE WHEN $4::json IS NULL THEN NULL"
        "  ELSE ARRAY(SELECT json_array_elements_text($4::json)) END,"
        " $5::int, $6::boolean, $7::text, $8::json)", 8);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_filter_delete_stmt =
    ngx_http_mastodon_pg_stmt(
        "DELETE FROM custom_filters f WHERE f.id = $2::bigint"
        " AND f.account_id = $1::bigint RETURNING '{}'", 2);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_filter_keywords_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT (SELECT coalesce(json_agg(mastodon_filter_keyword_json(k)"
        " ORDER BY k.id), '[]') FROM custom_filter_keywords k"
        " WHERE k.custom_filter_id = f.id)"
        NGX_HTTP_MASTODON_FILTER_OWNED, 2);

/* $3 keyword, $4 whole_word */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_filter_keyword_add_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT status, body FROM mastodon_filter_keyword_add($1::bigint,"
        " $2::bigint, $3::text, $4::boolean)", 4);

static ngx_http_mastodon_pg_stmt_t
    ngx_http_mastodon_filter_keyword_show_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT mastodon_filter_keyword_json(k) FROM custom_filter_keywords k"
        " JOIN custom_filters f ON f.id = k.custom_filter_id"
        " WHERE k.id = $2::bigint AND f.account_id = $1::bigint", 2);

static ngx_http_mastodon_pg_stmt_t
    ngx_http_mastodon_filter_keyword_update_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT status, body FROM mastodon_filter_keyword_update($1::bigint,"
        " $2::bigint, $3::text, $4::boolean)", 4);

static ngx_http_mastodon_pg_stmt_t
    ngx_http_mastodon_filter_keyword_delete_stmt =
    ngx_http_mastodon_pg_stmt(
        "DELETE FROM custom_filter_keywords k USING custom_filters f"
        " WHERE k.id = $2::bigint AND f.id = k.custom_filter_id"
        " AND f.account_id = $1::bigint RETURNING '{}'", 2);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_filter_statuses_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT (SELECT coalesce(json_agg(mastodon_filter_status_json(s)"
        " ORDER BY s.id), '[]') FROM custom_filter_statuses s"
        " WHERE s.custom_filter_id = f.id)"
        NGX_HTTP_MASTODON_FILTER_OWNED, 2);

/* $3 status_id (NULL: not an id) */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_filter_status_add_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT status, body FROM mastodon_filter_status_add($1::bigint,"
        " $2::bigint, $3::bigint)", 3);

static ngx_http_mastodon_pg_stmt_t
    ngx_http_mastodon_filter_status_show_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT mastodon_filter_status_json(s) FROM custom_filter_statuses s"
        " JOIN custom_filters f ON f.id = s.custom_filter_id"
        " WHERE s.id = $2::bigint AND f.account_id = $1::bigint", 2);

static ngx_http_mastodon_pg_stmt_t
    ngx_http_mastodon_filter_status_delete_stmt =
    ngx_http_mastodon_pg_stmt(
        "DELETE FROM custom_filter_statuses s USING custom_filters f"
        " WHERE s.id = $2::bigint AND f.id = s.custom_filter_id"
        " AND f.account_id = $1::bigint RETURNING '{}'", 2);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_filters_v1_index_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT coalesce(json_agg(mastodon_filter_v1_json(k, f)"
        " ORDER BY k.id), '[]') FROM custom_filter_keywords k"
        " JOIN custom_filters f ON f.id = k.custom_filter_id"
        " WHERE f.account_id = $1::bigint", 1);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_filter_v1_show_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT mastodon_filter_v1_json(k, f) FROM custom_filter_keywords k"
        " JOIN custom_filters f ON f.id = k.custom_filter_id"
        " WHERE k.id = $2::bigint AND f.account_id = $1::bigint", 2);

/* $3 phrase, $4 context (JSON array), $5 irreversible, $6 whole_word,
 * $7 expires_in given, $8 expires_in */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_filter_v1_save_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT status, body FROM mastodon_filter_v1_save($1::bigint,"
        " $2::bigint, $3::text,"
        " CASE WHEN $4::json IS NULL THEN NULL"
        "  ELSE ARRAY(SELECT json_array_elements_text($4::json)) END,"
        " $5::boolean, $6::boolean, $7::boolean, $8::text)", 8);


static const char  *ngx_http_mastodon_filter_actions[] = {
    "warn", "hide", "blur"      /* CustomFilter.actions, in order */
};


static ngx_int_t ngx_http_mastodon_filter_run(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_pg_stmt_t *stmt,
    const char **values, ngx_uint_t publish);
static void ngx_http_mastodon_filter_done(ngx_http_mastodon_pg_batch_t *b);
static const char **ngx_http_mastodon_filter_values(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_pg_stmt_t *stmt,
    ngx_uint_t id);
static const char *ngx_http_mastodon_filter_json_text(ngx_http_request_t *r,
    ngx_http_mastodon_json_t *j);
static const char *ngx_http_mastodon_filter_context(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
static ngx_int_t ngx_http_mastodon_filter_expires(ngx_http_mastodon_ctx_t *ctx,
    const char **values);
static const char *ngx_http_mastodon_filter_bool(ngx_http_mastodon_ctx_t *ctx,
    const char *key);
static ngx_int_t ngx_http_mastodon_filter_keywords(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, const char **out);


/* GET /api/v2/filters */
ngx_int_t
ngx_http_mastodon_filters_index(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_filter_run(r, ctx,
               &ngx_http_mastodon_filters_index_stmt,
               ngx_http_mastodon_filter_values(r, ctx,
                   &ngx_http_mastodon_filters_index_stmt, 0), 0);
}


/* GET /api/v2/filters/:id */
ngx_int_t
ngx_http_mastodon_filter_show(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_filter_run(r, ctx,
               &ngx_http_mastodon_filter_show_stmt,
               ngx_http_mastodon_filter_values(r, ctx,
                   &ngx_http_mastodon_filter_show_stmt, 1), 0);
}


/*
 * POST /api/v2/filters and PUT /api/v2/filters/:id: title, context[],
 * filter_action, expires_in, keywords_attributes[] (resource_params)
 */
static ngx_int_t
ngx_http_mastodon_filter_save(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_uint_t id)
{
    u_char       *p;
    size_t        len;
    ngx_int_t     rc;
    ngx_uint_t    k;
    const char   *s, **values;

    values = ngx_http_mastodon_filter_values(r, ctx,
                 &ngx_http_mastodon_filter_save_stmt, id);
    if (values == NULL) {
        return ctx->error_message ? NGX_HTTP_NOT_FOUND
                                  : NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[2] = mstdn_param_str(ctx->params, "title", &len);
    values[3] = ngx_http_mastodon_filter_context(r, ctx);

    s = mstdn_param_str(ctx->params, "filter_action", &len);

    if (s && len) {
        for (k = 0; k < 3; k++) {
            if (ngx_strcmp(s, ngx_http_mastodon_filter_actions[k]) == 0) {
                break;
            }
        }

        if (k == 3) {
            /* the enum's ArgumentError */
            p = ngx_pnalloc(r->pool, ngx_min(len, 100)
                                     + sizeof("'' is not a valid action"));
            if (p == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            *ngx_sprintf(p, "'%*s' is not a valid action",
                         ngx_min(len, 100), s) = '\0';

            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "mastodon: filter_action not known");
            ctx->error_message = (const char *) p;
            return 422;
        }

        values[4] = k == 0 ? "0" : k == 1 ? "1" : "2";
    }

    rc = ngx_http_mastodon_filter_expires(ctx, values + 5);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_mastodon_filter_keywords(r, ctx, &values[7]);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_mastodon_filter_run(r, ctx,
                                        &ngx_http_mastodon_filter_save_stmt,
                                        values, 1);
}


ngx_int_t
ngx_http_mastodon_filter_create(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_filter_save(r, ctx, 0);
}


ngx_int_t
ngx_http_mastodon_filter_update(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_filter_save(r, ctx, 1);
}


/* DELETE /api/v2/filters/:id */
ngx_int_t
ngx_http_mastodon_filter_delete(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_filter_run(r, ctx,
               &ngx_http_mastodon_filter_delete_stmt,
               ngx_http_mastodon_filter_values(r, ctx,
                   &ngx_http_mastodon_filter_delete_stmt, 1), 1);
}


/* GET /api/v2/filters/:filter_id/keywords */
ngx_int_t
ngx_http_mastodon_filter_keywords_index(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_filter_run(r, ctx,
               &ngx_http_mastodon_filter_keywords_stmt,
               ngx_http_mastodon_filter_values(r, ctx,
                   &ngx_http_mastodon_filter_keywords_stmt, 1), 0);
}


/* keyword, whole_word (CustomFilterKeyword's resource_params) */
static ngx_int_t
ngx_http_mastodon_filter_keyword_save(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_pg_stmt_t *stmt)
{
    size_t        len;
    const char  **values;

    values = ngx_http_mastodon_filter_values(r, ctx, stmt, 1);
    if (values == NULL) {
        return ctx->error_message ? NGX_HTTP_NOT_FOUND
                                  : NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[2] = mstdn_param_str(ctx->params, "keyword", &len);
    values[3] = ngx_http_mastodon_filter_bool(ctx, "whole_word");

    return ngx_http_mastodon_filter_run(r, ctx, stmt, values, 1);
}


/* POST /api/v2/filters/:filter_id/keywords */
ngx_int_t
ngx_http_mastodon_filter_keyword_create(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_filter_keyword_save(r, ctx,
               &ngx_http_mastodon_filter_keyword_add_stmt);
}


/* GET /api/v2/filters/keywords/:id */
ngx_int_t
ngx_http_mastodon_filter_keyword_show(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_filter_run(r, ctx,
               &ngx_http_mastodon_filter_keyword_show_stmt,
               ngx_http_mastodon_filter_values(r, ctx,
                   &ngx_http_mastodon_filter_keyword_show_stmt, 1), 0);
}


/* PUT /api/v2/filters/keywords/:id */
ngx_int_t
ngx_http_mastodon_filter_keyword_update(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_filter_keyword_save(r, ctx,
               &ngx_http_mastodon_filter_keyword_update_stmt);
}


/* DELETE /api/v2/filters/keywords/:id */
ngx_int_t
ngx_http_mastodon_filter_keyword_delete(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_filter_run(r, ctx,
               &ngx_http_mastodon_filter_keyword_delete_stmt,
               ngx_http_mastodon_filter_values(r, ctx,
                   &ngx_http_mastodon_filter_keyword_delete_stmt, 1), 1);
}


/* GET /api/v2/filters/:filter_id/statuses */
ngx_int_t
ngx_http_mastodon_filter_statuses_index(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_filter_run(r, ctx,
               &ngx_http_mastodon_filter_statuses_stmt,
               ngx_http_mastodon_filter_values(r, ctx,
                   &ngx_http_mastodon_filter_statuses_stmt, 1), 0);
}


/* POST /api/v2/filters/:filter_id/statuses: status_id */
ngx_int_t
ngx_http_mastodon_filter_status_create(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    int64_t       id;
    const char  **values;

    values = ngx_http_mastodon_filter_values(r, ctx,
                 &ngx_http_mastodon_filter_status_add_stmt, 1);
    if (values == NULL) {
        return ctx->error_message ? NGX_HTTP_NOT_FOUND
                                  : NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* not an id: no such status ("Status must exist") */
    if (mstdn_param_int64(ctx->params, "status_id", &id) == 0 && id > 0) {
        values[2] = ngx_http_mastodon_pg_int64(r, id);
        if (values[2] == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return ngx_http_mastodon_filter_run(r, ctx,
               &ngx_http_mastodon_filter_status_add_stmt, values, 1);
}


/* GET /api/v2/filters/statuses/:id */
ngx_int_t
ngx_http_mastodon_filter_status_show(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_filter_run(r, ctx,
               &ngx_http_mastodon_filter_status_show_stmt,
               ngx_http_mastodon_filter_values(r, ctx,
                   &ngx_http_mastodon_filter_status_show_stmt, 1), 0);
}


/* DELETE /api/v2/filters/statuses/:id */
ngx_int_t
ngx_http_mastodon_filter_status_delete(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_filter_run(r, ctx,
               &ngx_http_mastodon_filter_status_delete_stmt,
               ngx_http_mastodon_filter_values(r, ctx,
                   &ngx_http_mastodon_filter_status_delete_stmt, 1), 1);
}


/* GET /api/v1/filters */
ngx_int_t
ngx_http_mastodon_filters_v1_index(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_filter_run(r, ctx,
               &ngx_http_mastodon_filters_v1_index_stmt,
               ngx_http_mastodon_filter_values(r, ctx,
                   &ngx_http_mastodon_filters_v1_index_stmt, 0), 0);
}


/* GET /api/v1/filters/:id */
ngx_int_t
ngx_http_mastodon_filter_v1_show(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_filter_run(r, ctx,
               &ngx_http_mastodon_filter_v1_show_stmt,
               ngx_http_mastodon_filter_values(r, ctx,
                   &ngx_http_mastodon_filter_v1_show_stmt, 1), 0);
}


/*
 * POST /api/v1/filters and PUT /api/v1/filters/:id: phrase, context[],
 * irreversible, whole_word, expires_in
 */
static ngx_int_t
ngx_http_mastodon_filter_v1_save(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_uint_t id)
{
    size_t        len;
    ngx_int_t     rc;
    const char  **values;

    values = ngx_http_mastodon_filter_values(r, ctx,
                 &ngx_http_mastodon_filter_v1_save_stmt, id);
    if (values == NULL) {
        return ctx->error_message ? NGX_HTTP_NOT_FOUND
                                  : NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[2] = mstdn_param_str(ctx->params, "phrase", &len);
    values[3] = ngx_http_mastodon_filter_context(r, ctx);
    values[4] = ngx_http_mastodon_filter_bool(ctx, "irreversible");
    values[5] = ngx_http_mastodon_filter_bool(ctx, "whole_word");

    rc = ngx_http_mastodon_filter_expires(ctx, values + 6);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_mastodon_filter_run(r, ctx,
               &ngx_http_mastodon_filter_v1_save_stmt, values, 1);
}


ngx_int_t
ngx_http_mastodon_filter_v1_create(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_filter_v1_save(r, ctx, 0);
}


ngx_int_t
ngx_http_mastodon_filter_v1_update(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_filter_v1_save(r, ctx, 1);
}


/* DELETE /api/v1/filters/:id: the keyword goes, its filter stays */
ngx_int_t
ngx_http_mastodon_filter_v1_delete(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_filter_keyword_delete(r, ctx);
}


/*
 * The statement's values: $1 the user, $2 (id) the :id capture, the rest
 * NULL.  NULL when out of memory, or (ctx->error_message set) when the
 * capture is not an id: 404 as Rails' find.
 */
static const char **
ngx_http_mastodon_filter_values(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_pg_stmt_t *stmt,
    ngx_uint_t id)
{
    int64_t       n;
    const char  **values;

    values = ngx_pcalloc(r->pool, stmt->nparams * sizeof(char *));
    if (values == NULL) {
        return NULL;
    }

    values[0] = ngx_http_mastodon_pg_int64(r, ctx->auth->account_id);
    if (values[0] == NULL) {
        return NULL;
    }

    if (!id) {
        return values;
    }

    n = ngx_http_mastodon_capture_id(ctx, 0);

    if (n == 0) {
        ctx->error_message = "Record not found";
        return NULL;
    }

    values[1] = ngx_http_mastodon_pg_int64(r, n);

    return values[1] ? values : NULL;
}


/* the document j wrote, NUL-terminated for libpq; NULL on failure */
static const char *
ngx_http_mastodon_filter_json_text(ngx_http_request_t *r,
    ngx_http_mastodon_json_t *j)
{
    u_char     *p;
    ngx_str_t   s;

    if (ngx_http_mastodon_json_string(j, &s) != NGX_OK) {
        return NULL;
    }

    p = ngx_pnalloc(r->pool, s.len + 1);
    if (p == NULL) {
        return NULL;
    }

    *ngx_cpymem(p, s.data, s.len) = '\0';

    return (const char *) p;
}


/* context[] as a JSON array of strings; NULL when not given as an array */
static const char *
ngx_http_mastodon_filter_context(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    ngx_str_t                  s;
    ngx_uint_t                 given;
    mstdn_value_t             *v;
    ngx_http_mastodon_json_t   j;

    v = ngx_http_mastodon_param_array(ctx, "context", &given);
    if (!given) {
        return NULL;
    }

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        return NULL;
    }

    ngx_http_mastodon_json_open_array(&j, NULL);

    for ( /* void */ ; v; v = v->next) {
        s.data = (u_char *) v->str;
        s.len = v->len;
        ngx_http_mastodon_json_str(&j, &s);
    }

    ngx_http_mastodon_json_close_array(&j);

    return ngx_http_mastodon_filter_json_text(r, &j);
}


/* expires_in into values[0] (given) and values[1] (the text, "" for
 * null): Expireable#expires_in= reads it */
static ngx_int_t
ngx_http_mastodon_filter_expires(ngx_http_mastodon_ctx_t *ctx,
    const char **values)
{
    size_t          len;
    mstdn_value_t  *v;

    v = mstdn_object_get(ctx->params, "expires_in");
    if (v == NULL) {
        values[0] = "false";
        return NGX_OK;
    }

    values[0] = "true";
    values[1] = mstdn_param_str(ctx->params, "expires_in", &len);

    if (values[1] == NULL) {
        values[1] = "";
    }

    return NGX_OK;
}


/* a boolean parameter as Rails casts it: "true", "false" or NULL */
static const char *
ngx_http_mastodon_filter_bool(ngx_http_mastodon_ctx_t *ctx, const char *key)
{
    int  b;

    b = mstdn_param_bool(ctx->params, key, -1);

    return b == -1 ? NULL : b ? "true" : "false";
}


/*
 * keywords_attributes: an array of hashes, or a hash of hashes (Rails'
 * nested attributes take both), as a JSON array of
 * {id, keyword, whole_word, _destroy} for mastodon_filter_save(); an id
 * that is not one becomes -1, which no keyword has (RecordNotFound).
 */
static ngx_int_t
ngx_http_mastodon_filter_keywords(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, const char **out)
{
    int64_t                    id;
    ngx_str_t                  s;
    ngx_uint_t                 n;
    mstdn_value_t             *a, *v, *m;
    ngx_http_mastodon_json_t   j;

    a = mstdn_object_get(ctx->params, "keywords_attributes");
    if (a == NULL || (a->type != MSTDN_ARRAY && a->type != MSTDN_OBJECT)) {
        return NGX_OK;
    }

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mastodon_json_open_array(&j, NULL);

    for (v = a->first, n = 0; v; v = v->next) {
        if (v->type != MSTDN_OBJECT) {
            continue;
        }

        if (++n > NGX_HTTP_MASTODON_FILTER_KEYWORDS_MAX) {
            ctx->error_message = "Too many keywords";
            return 422;
        }

        ngx_http_mastodon_json_open(&j, NULL);

        m = mstdn_object_get(v, "id");
        if (m && !(m->type == MSTDN_STRING && m->len == 0)
            && m->type != MSTDN_NULL)
        {
            if (mstdn_param_int64(v, "id", &id) != 0 || id <= 0) {
                id = -1;
            }

            ngx_http_mastodon_json_kv_int(&j, "id", id);
        }

        s.data = (u_char *) mstdn_param_str(v, "keyword", &s.len);
        if (s.data) {
            ngx_http_mastodon_json_kv_str(&j, "keyword", &s);
        }

        switch (mstdn_param_bool(v, "whole_word", -1)) {
        case 0:
            ngx_http_mastodon_json_kv_bool(&j, "whole_word", 0);
            break;
        case 1:
            ngx_http_mastodon_json_kv_bool(&j, "whole_word", 1);
            break;
        default:
            break;
        }

        ngx_http_mastodon_json_kv_bool(&j, "_destroy",
                                       mstdn_param_bool(v, "_destroy", 0)
                                       == 1);

        ngx_http_mastodon_json_close(&j);
    }

    ngx_http_mastodon_json_close_array(&j);

    *out = ngx_http_mastodon_filter_json_text(r, &j);

    return *out ? NGX_OK : NGX_HTTP_INTERNAL_SERVER_ERROR;
}


static ngx_int_t
ngx_http_mastodon_filter_run(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_pg_stmt_t *stmt,
    const char **values, ngx_uint_t publish)
{
    if (values == NULL) {
        return ctx->error_message ? NGX_HTTP_NOT_FOUND
                                  : NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_pg_query(r, stmt, values,
                                      ngx_http_mastodon_filter_done,
                                      publish ? (void *) 1 : NULL);
}


static void
ngx_http_mastodon_filter_done(ngx_http_mastodon_pg_batch_t *b)
{
    u_char                    *p;
    PGresult                  *res;
    ngx_str_t                  body;
    ngx_int_t                  status;
    ngx_http_request_t        *r;
    ngx_http_mastodon_ctx_t   *ctx;
    ngx_http_mastodon_json_t   j;

    r = b->request;
    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    res = ngx_http_mastodon_pg_rows(b, 0);
    if (res == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (PQntuples(res) == 0) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_NOT_FOUND);
        return;
    }

    if (PQnfields(res) == 2) {
        status = ngx_http_mastodon_pg_int(res, 0, 0);
        body = ngx_http_mastodon_pg_str(res, 0, 1);

        if (status != NGX_HTTP_OK) {
            if (status == 422) {
                p = ngx_pnalloc(r->pool, body.len + 1);
                if (p == NULL) {
                    ngx_http_mastodon_finalize(r,
                                               NGX_HTTP_INTERNAL_SERVER_ERROR);
                    return;
                }

                *ngx_cpymem(p, body.data, body.len) = '\0';
                ctx->error_message = (const char *) p;

                ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                              "mastodon: filter not saved: %V", &body);

            } else {
                status = NGX_HTTP_NOT_FOUND;
            }

            ngx_http_mastodon_finalize(r, status);
            return;
        }

    } else {
        body = ngx_http_mastodon_pg_str(res, 0, 0);
    }

    if (b->data) {
        ngx_http_mastodon_filters_changed(r, ctx->auth->account_id);
    }

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_mastodon_json_raw(&j, NULL, &body);

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_json_send(&j,
                                                              NGX_HTTP_OK));
}


/*
 * CustomFilter#invalidate_cache!: the user's streams hear that the
 * filters changed; fire and forget, as Mastodon publishes it.  The status
 * loader's memory that the user has no filter (the render cache's kind
 * filters) goes: at once on this node, by the forget channel on the others.
 */
void
ngx_http_mastodon_filters_changed(ngx_http_request_t *r, int64_t account_id)
{
    u_char       channel[sizeof("timeline:") + NGX_INT64_LEN];
    u_char       forget[sizeof("filters ") + NGX_INT64_LEN];
    const char  *argv[3];
    size_t       argvlen[3];

    static const char  event[] = "{\"event\":\"filters_changed\"}";

    ngx_http_mastodon_cache_forget(NGX_HTTP_MASTODON_CACHE_FILTERS,
                                   account_id);

    argv[0] = "PUBLISH";
    argvlen[0] = 7;
    argv[1] = NGX_HTTP_MASTODON_CACHE_CHANNEL;
    argvlen[1] = sizeof(NGX_HTTP_MASTODON_CACHE_CHANNEL) - 1;
    argv[2] = (const char *) forget;
    argvlen[2] = ngx_sprintf(forget, "filters %L", account_id) - forget;

    (void) ngx_http_mastodon_redis_command(r, NULL, NULL, 3, argv, argvlen);

    argv[1] = (const char *) channel;
    argvlen[1] = ngx_sprintf(channel, "timeline:%L", account_id) - channel;
    argv[2] = event;
    argvlen[2] = sizeof(event) - 1;

    (void) ngx_http_mastodon_redis_command(r, NULL, NULL, 3, argv, argvlen);
}
