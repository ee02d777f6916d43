/*
 * GET /api/v2/search (Mastodon's Api::V2::SearchController), for now the
 * exact part only: an account address (`@user@host`, `user@host`) found
 * by acct, and a URL found as a known account's or status' uri/url (a
 * status only when the viewer may see it: the visibility rule), each as
 * Mastodon's exact match.  With resolve=true and a user, what is not
 * known is asked of the worker (job `resolve`, answer in Redis
 * mastodon:resolve:<sha256 hex of q>) for at most mastodon_resolve_wait;
 * a timeout or the worker's failure answers the empty result, as Mastodon
 * does when resolving fails (Redis or PostgreSQL down: 503).  Full-text search of accounts, statuses and hashtags is
 * issue 13: other queries get empty results for now.
 */

#include "ngx_http_mastodon_api.h"
#include "mstdn_json.h"


#define NGX_HTTP_MASTODON_RESOLVE_PREFIX  "mastodon:resolve:"

#define NGX_HTTP_MASTODON_SEARCH_ACCOUNTS  0x01
#define NGX_HTTP_MASTODON_SEARCH_STATUSES  0x02


typedef struct {
    ngx_http_mastodon_ctx_t       *ctx;
    ngx_str_t                      q;
    ngx_uint_t                     types;
    const char                    *values[6];
    PGresult                      *accounts;
    int64_t                        status_id;
    ngx_http_mastodon_statuses_t  *st;
    const char                    *resolved_account;
    const char                    *resolved_status;
    ngx_http_mastodon_ask_t        ask;
    unsigned                       resolve:1;   /* may ask the worker */
} ngx_http_mastodon_search_t;


static ngx_int_t ngx_http_mastodon_search_parse(ngx_http_request_t *r,
    ngx_http_mastodon_search_t *sr);
static ngx_int_t ngx_http_mastodon_search_find(ngx_http_request_t *r,
    ngx_http_mastodon_search_t *sr);
static void ngx_http_mastodon_search_found(ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_search_resolved(ngx_http_request_t *r,
    ngx_http_mastodon_ask_t *a, ngx_int_t rc);
static void ngx_http_mastodon_search_loaded(ngx_http_request_t *r,
    ngx_http_mastodon_statuses_t *st, void *data);
static ngx_int_t ngx_http_mastodon_search_send(ngx_http_request_t *r,
    ngx_http_mastodon_search_t *sr);


/*
 * $1 username, $2 its domain (NULL: local), $3 a URL, $4 the viewer when
 * following=true, $5 an id the worker resolved
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_search_accounts =
    ngx_http_mastodon_pg_stmt(
        "SELECT " NGX_HTTP_MASTODON_ACCOUNT_COLUMNS
        NGX_HTTP_MASTODON_ACCOUNT_FROM
        " WHERE a.suspended_at IS NULL AND" NGX_HTTP_MASTODON_ACCOUNT_SHOWN
        " AND ((lower(a.username) = lower($1)"
        "   AND coalesce(lower(a.domain), '') = coalesce(lower($2), ''))"
        "  OR a.uri = $3 OR a.url = $3 OR a.id = $5::bigint)"
        " AND ($4::bigint IS NULL OR EXISTS (SELECT 1 FROM follows f"
        "  WHERE f.account_id = $4 AND f.target_account_id = a.id))"
        " LIMIT 1", 5);

/*
 * $1 a URL, $2 and $3 a local status URL's id and username, $4 an id the
 * worker resolved; whether the viewer may see it is the loader's
 * (mastodon_status_visible)
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_search_statuses =
    ngx_http_mastodon_pg_stmt(
        "SELECT st.id FROM statuses st"
        " JOIN accounts sa ON sa.id = st.account_id"
        " WHERE st.deleted_at IS NULL AND st.reblog_of_id IS NULL"
        " AND (st.uri = $1 OR st.url = $1 OR st.id = $4::bigint"
        "  OR (st.id = $2::bigint AND sa.domain IS NULL"
        "   AND lower(sa.username) = lower($3)))"
        " LIMIT 1", 4);


/* GET /api/v2/search?q=&type=&resolve=&limit=&offset=&following= */
ngx_int_t
ngx_http_mastodon_search(ngx_http_request_t *r, ngx_http_mastodon_ctx_t *ctx)
{
    size_t                       len;
    int64_t                      n;
    ngx_int_t                    rc;
    const char                  *s;
    ngx_http_mastodon_search_t  *sr;

    s = mstdn_param_str(ctx->params, "q", &len);

    if (s == NULL || len == 0) {
        /* Rails' params.require(:q) */
        ctx->error_message = "param is missing or the value is empty: q";
        return NGX_HTTP_BAD_REQUEST;
    }

    if (ctx->auth == NULL || ctx->auth->user_id == 0) {
        s = mstdn_param_str(ctx->params, "offset", &len);

        if (s && len) {
            ctx->error_message = "Search queries pagination is not "
                                 "supported without authentication";
            return NGX_HTTP_UNAUTHORIZED;
        }

        if (mstdn_param_bool(ctx->params, "resolve", 0)) {
            ctx->error_message = "Search queries that resolve remote "
                                 "resources are not supported without "
                                 "authentication";
            return NGX_HTTP_UNAUTHORIZED;
        }
    }

    /* require_valid_pagination_options! */
    if ((mstdn_param_int64(ctx->params, "limit", &n) == 0 && n < 0)
        || (mstdn_param_int64(ctx->params, "offset", &n) == 0 && n < 0))
    {
        ctx->error_message = "Pagination values for `offset` and `limit` "
                             "must be positive";
        return NGX_HTTP_BAD_REQUEST;
    }

    sr = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_search_t));
    if (sr == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    sr->ctx = ctx;

    rc = ngx_http_mastodon_search_parse(r, sr);
    if (rc != NGX_OK) {
        return rc;
    }

    if (sr->values[0] == NULL && sr->values[2] == NULL
        && sr->values[3] == NULL)
    {
        return ngx_http_mastodon_search_send(r, sr);
    }

    return ngx_http_mastodon_search_find(r, sr);
}


/*
 * What q names: an account address or a URL (sr->values), and whether the
 * worker may be asked (remote, resolve=true, a user).  Neither: nothing
 * to look for until issue 13's full-text search.
 */
static ngx_int_t
ngx_http_mastodon_search_parse(ngx_http_request_t *r,
    ngx_http_mastodon_search_t *sr)
{
    u_char                         *p, *end, *at, *slash;
    size_t                          len;
    int64_t                         n;
    ngx_str_t                       q, user, rest;
    const char                     *s, *type;
    ngx_uint_t                      local;
    ngx_http_mastodon_ctx_t        *ctx;
    ngx_http_mastodon_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);
    ctx = sr->ctx;

    /* type: accounts, statuses, hashtags, or all; another finds nothing */
    type = mstdn_param_str(ctx->params, "type", &len);

    if (type == NULL || len == 0) {
        sr->types = NGX_HTTP_MASTODON_SEARCH_ACCOUNTS
                    | NGX_HTTP_MASTODON_SEARCH_STATUSES;

    } else if (len == 8 && ngx_strncmp(type, "accounts", 8) == 0) {
        sr->types = NGX_HTTP_MASTODON_SEARCH_ACCOUNTS;

    } else if (len == 8 && ngx_strncmp(type, "statuses", 8) == 0) {
        sr->types = NGX_HTTP_MASTODON_SEARCH_STATUSES;
    }

    /* the exact match is the first result only */
    if (mstdn_param_int64(ctx->params, "offset", &n) == 0 && n > 0) {
        sr->types = 0;
    }

    if (mstdn_param_int64(ctx->params, "limit", &n) == 0 && n == 0) {
        sr->types = 0;
    }

    if (sr->types == 0) {
        return NGX_OK;
    }

    if (ctx->auth && ctx->auth->user_id
        && mstdn_param_bool(ctx->params, "following", 0))
    {
        sr->values[3] = ngx_http_mastodon_pg_int64(r, ctx->auth->account_id);
    }

    s = mstdn_param_str(ctx->params, "q", &len);
    q.data = (u_char *) s;
    q.len = len;

    while (q.len && (q.data[0] == ' ' || q.data[0] == '\t')) {
        q.data++;
        q.len--;
    }

    while (q.len && (q.data[q.len - 1] == ' ' || q.data[q.len - 1] == '\t')) {
        q.len--;
    }

    if (q.len == 0 || q.len > 2048) {
        return NGX_OK;
    }

    sr->q = q;
    p = q.data;
    end = q.data + q.len;

    sr->resolve = ctx->auth && ctx->auth->user_id
                  && mstdn_param_bool(ctx->params, "resolve", 0);

    if ((q.len > 8 && ngx_strncasecmp(p, (u_char *) "https://", 8) == 0)
        || (q.len > 7 && ngx_strncasecmp(p, (u_char *) "http://", 7) == 0))
    {
        if (ngx_strlchr(p, end, ' ') != NULL) {
            return NGX_OK;
        }

        sr->values[2] = ngx_pnalloc(r->pool, q.len + 1);
        if (sr->values[2] == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        *ngx_cpymem((u_char *) sr->values[2], p, q.len) = '\0';

        /* our own: /@user, /users/user, /@user/ID, /users/user/statuses/ID */
        if (q.len <= mcf->base_url.len
            || ngx_strncasecmp(p, mcf->base_url.data, mcf->base_url.len) != 0
            || p[mcf->base_url.len] != '/')
        {
            return NGX_OK;
        }

        sr->resolve = 0;
        p += mcf->base_url.len + 1;

        if (p < end && *p == '@') {
            p++;

        } else if (end - p > 6 && ngx_strncmp(p, "users/", 6) == 0) {
            p += 6;

        } else {
            return NGX_OK;
        }

        slash = ngx_strlchr(p, end, '/');

        user.data = p;
        user.len = (slash ? slash : end) - p;

        if (user.len == 0) {
            return NGX_OK;
        }

        if (slash == NULL) {
            sr->values[0] = ngx_pnalloc(r->pool, user.len + 1);
            if (sr->values[0] == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            *ngx_cpymem((u_char *) sr->values[0], user.data, user.len) = '\0';
            return NGX_OK;
        }

        rest.data = slash + 1;
        rest.len = end - rest.data;

        if (rest.len > 9 && ngx_strncmp(rest.data, "statuses/", 9) == 0) {
            rest.data += 9;
            rest.len -= 9;
        }

        n = ngx_atoof(rest.data, rest.len);
        if (n <= 0) {
            return NGX_OK;
        }

        sr->values[4] = ngx_http_mastodon_pg_int64(r, n);
        sr->values[5] = ngx_pnalloc(r->pool, user.len + 1);
        if (sr->values[4] == NULL || sr->values[5] == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        *ngx_cpymem((u_char *) sr->values[5], user.data, user.len) = '\0';
        return NGX_OK;
    }

    /* an account address: [@]user[@host] with a host */
    if (*p == '@') {
        p++;
    }

    at = ngx_strlchr(p, end, '@');

    if (at == NULL || at == p || at + 1 == end
        || ngx_strlchr(at + 1, end, '@') != NULL
        || ngx_strlchr(p, end, ' ') != NULL)
    {
        sr->resolve = 0;
        return NGX_OK;
    }

    sr->values[0] = ngx_pnalloc(r->pool, at - p + 1);
    if (sr->values[0] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *ngx_cpymem((u_char *) sr->values[0], p, at - p) = '\0';

    len = end - at - 1;
    local = (len == mcf->domain.len
             && ngx_strncasecmp(at + 1, mcf->domain.data, len) == 0)
            || (len == mcf->web_domain.len
                && ngx_strncasecmp(at + 1, mcf->web_domain.data, len) == 0);

    if (local) {
        sr->resolve = 0;
        return NGX_OK;
    }

    sr->values[1] = ngx_pnalloc(r->pool, len + 1);
    if (sr->values[1] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *ngx_cpymem((u_char *) sr->values[1], at + 1, len) = '\0';

    /* the worker takes "user@host" or "@user@host": q as written */
    sr->types &= NGX_HTTP_MASTODON_SEARCH_ACCOUNTS;

    return NGX_OK;
}


/* the known account and status q names (or the worker resolved) */
static ngx_int_t
ngx_http_mastodon_search_find(ngx_http_request_t *r,
    ngx_http_mastodon_search_t *sr)
{
    const char                    **values;
    ngx_http_mastodon_pg_batch_t   *b;

    b = ngx_http_mastodon_pg_batch(r, ngx_http_mastodon_search_found, sr);
    values = ngx_pcalloc(r->pool, 9 * sizeof(char *));
    if (b == NULL || values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* accounts: user, domain, url, following, resolved id */
    values[0] = sr->values[0];
    values[1] = sr->values[1];
    values[2] = sr->values[2];
    values[3] = sr->values[3];
    values[4] = sr->resolved_account;

    /* statuses: url, local id, local user, resolved id */
    values[5] = sr->values[2];
    values[6] = sr->values[4];
    values[7] = sr->values[5];
    values[8] = sr->resolved_status;

    if (ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_search_accounts,
                                 values)
        != NGX_OK
        || ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_search_statuses,
                                    values + 5)
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
ngx_http_mastodon_search_found(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_http_mastodon_search_t *sr = b->data;

    ngx_int_t                       rc;
    PGresult                       *accounts, *statuses;
    ngx_http_request_t             *r;
    ngx_http_mastodon_main_conf_t  *mcf;

    r = b->request;
    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    accounts = ngx_http_mastodon_pg_rows(b, 0);
    statuses = ngx_http_mastodon_pg_rows(b, 1);

    if (accounts == NULL || statuses == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if ((sr->types & NGX_HTTP_MASTODON_SEARCH_ACCOUNTS)
        && PQntuples(accounts) > 0)
    {
        sr->accounts = accounts;
    }

    if ((sr->types & NGX_HTTP_MASTODON_SEARCH_STATUSES)
        && PQntuples(statuses) > 0)
    {
        sr->status_id = ngx_http_mastodon_pg_int(statuses, 0, 0);
    }

    if (sr->accounts == NULL && sr->status_id == 0 && sr->resolve) {
        /* not known here: the worker resolves it, within a bound */
        sr->resolve = 0;

        if (ngx_http_mastodon_ask_key(r, NGX_HTTP_MASTODON_RESOLVE_PREFIX,
                                      &sr->q, &sr->ask.key)
            != NGX_OK)
        {
            ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        sr->ask.queue = "default";
        sr->ask.type = "resolve";
        sr->ask.arg_name = "q";
        sr->ask.arg = sr->q;
        sr->ask.wait = mcf->resolve_wait;
        sr->ask.done = ngx_http_mastodon_search_resolved;
        sr->ask.data = sr;

        if (ngx_http_mastodon_ask(r, &sr->ask) != NGX_DONE) {
            ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        }
        return;
    }

    if (sr->status_id) {
        rc = ngx_http_mastodon_statuses_fetch(r, &sr->status_id, 1, 0,
                                              ngx_http_mastodon_search_loaded,
                                              sr);
        if (rc != NGX_DONE) {
            ngx_http_mastodon_finalize(r, rc);
        }
        return;
    }

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_search_send(r, sr));
}


/* the worker's answer: {"account_id":"N"}, {"status_id":"N"}, {"error"} */
static void
ngx_http_mastodon_search_resolved(ngx_http_request_t *r,
    ngx_http_mastodon_ask_t *a, ngx_int_t rc)
{
    ngx_http_mastodon_search_t *sr = a->data;

    char             err[64];
    size_t           len;
    int64_t          id;
    const char      *s;
    mstdn_alloc_t    al;
    mstdn_value_t   *v;
    mstdn_limits_t   limits;

    if (rc == NGX_ERROR) {
        /* Redis or PostgreSQL failed: a backend outage, not a failed
         * resolve */
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: \"%V\" not resolved in time", &sr->q);
        ngx_http_mastodon_finalize(r, ngx_http_mastodon_search_send(r, sr));
        return;
    }

    al.alloc = ngx_http_mastodon_pool_alloc;
    al.ctx = r->pool;
    limits.max_depth = 4;
    limits.max_members = 16;

    if (mstdn_json_parse((const char *) a->answer.data, a->answer.len, &al,
                         &limits, &v, err, sizeof(err))
        != MSTDN_OK || v->type != MSTDN_OBJECT)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mastodon: resolve answer is not JSON: %s", err);
        ngx_http_mastodon_finalize(r, ngx_http_mastodon_search_send(r, sr));
        return;
    }

    if (mstdn_param_int64(v, "account_id", &id) == 0 && id > 0) {
        sr->resolved_account = ngx_http_mastodon_pg_int64(r, id);

    } else if (mstdn_param_int64(v, "status_id", &id) == 0 && id > 0) {
        sr->resolved_status = ngx_http_mastodon_pg_int64(r, id);

    } else {
        s = mstdn_param_str(v, "error", &len);
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: \"%V\" not resolved: %*s", &sr->q,
                      s ? len : 0, s ? s : "");
        ngx_http_mastodon_finalize(r, ngx_http_mastodon_search_send(r, sr));
        return;
    }

    rc = ngx_http_mastodon_search_find(r, sr);
    if (rc != NGX_DONE) {
        ngx_http_mastodon_finalize(r, rc);
    }
}


static void
ngx_http_mastodon_search_loaded(ngx_http_request_t *r,
    ngx_http_mastodon_statuses_t *st, void *data)
{
    ngx_http_mastodon_search_t *sr = data;

    if (st->rc != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    /* a status the viewer may not see is not found (the one rule) */
    if (ngx_http_mastodon_statuses_shown(st, 0)) {
        sr->st = st;
    }

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_search_send(r, sr));
}


/* REST::SearchSerializer: accounts, statuses, hashtags */
static ngx_int_t
ngx_http_mastodon_search_send(ngx_http_request_t *r,
    ngx_http_mastodon_search_t *sr)
{
    ngx_http_mastodon_json_t  j;

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mastodon_json_open(&j, NULL);

    ngx_http_mastodon_json_open_array(&j, "accounts");
    if (sr->accounts) {
        ngx_http_mastodon_account(&j, sr->accounts, 0, 0);
    }
    ngx_http_mastodon_json_close_array(&j);

    ngx_http_mastodon_json_open_array(&j, "statuses");
    if (sr->st) {
        ngx_http_mastodon_status_write(&j, NULL, sr->st, 0);
    }
    ngx_http_mastodon_json_close_array(&j);

    /* hashtags: issue 13 */
    ngx_http_mastodon_json_open_array(&j, "hashtags");
    ngx_http_mastodon_json_close_array(&j);

    ngx_http_mastodon_json_close(&j);

    return ngx_http_mastodon_json_send(&j, NGX_HTTP_OK);
}
