/*
 * GET /api/v2/search (Mastodon's Api::V2::SearchController and
 * SearchService) and GET /api/v1/accounts/search (AccountSearchService),
 * without Elasticsearch: PostgreSQL's full-text search (sql/0028_search.sql).
 *
 * The exact part: an account address (`@user@host`, `user@host`) found by
 * acct, and a URL found as a known account's or status' uri/url (a status
 * only when the viewer may see it: the visibility rule), each as Mastodon's
 * exact match.  With resolve=true and a user, what is not known is asked
 * of the worker (job `resolve`, answer in Redis mastodon:resolve:<sha256 hex
 * of q>) for at most mastodon_resolve_wait; a timeout or the worker's
 * failure answers what was found, as Mastodon does when resolving fails
 * (Redis or PostgreSQL down: 503).
 *
 * The rest, as SearchService decides which apply: accounts ranked by
 * mastodon_search_accounts() after the exact one; statuses (a user's
 * search only) by mastodon_search_statuses() with the query parsed by
 * lib/mstdn_search_query (Mastodon's operators), then loaded by the status
 * loader, which leaves out what the viewer's blocks and mutes hide
 * (StatusFilter); hashtags by mastodon_search_tags().
 */

#include "ngx_http_mastodon_api.h"
#include "mstdn_json.h"
#include "mstdn_hashtag.h"
#include "mstdn_search_query.h"


#define NGX_HTTP_MASTODON_RESOLVE_PREFIX  "mastodon:resolve:"

#define NGX_HTTP_MASTODON_SEARCH_ACCOUNTS  0x01
#define NGX_HTTP_MASTODON_SEARCH_STATUSES  0x02
#define NGX_HTTP_MASTODON_SEARCH_HASHTAGS  0x04

/* the parameters of ngx_http_mastodon_search_text_stmt */
#define NGX_HTTP_MASTODON_SEARCH_TEXT_ARGS  21


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
    int64_t                        limit;
    int64_t                        offset;
    ngx_uint_t                     full;        /* SEARCH_* by full text */
    PGresult                      *ranked;     /* accounts */
    PGresult                      *tags;       /* Tag JSON */
    const char                   **text;       /* the statuses' search */
    const char                    *ranked_q;   /* the accounts' */
    const char                    *tag_q;      /* the hashtags' */
    unsigned                       resolve:1;   /* may ask the worker */
    unsigned                       v1:1;        /* /api/v1/accounts/search */
    unsigned                       filter:1;    /* statuses found by text */
} ngx_http_mastodon_search_t;


static ngx_int_t ngx_http_mastodon_search_parse(ngx_http_request_t *r,
    ngx_http_mastodon_search_t *sr);
static ngx_int_t ngx_http_mastodon_search_full(ngx_http_request_t *r,
    ngx_http_mastodon_search_t *sr);
static ngx_int_t ngx_http_mastodon_search_text(ngx_http_request_t *r,
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


/*
 * Ranked accounts: $1 the viewer (NULL: anonymous), $2 the query, $3
 * following, $4 limit, $5 offset
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_search_ranked =
    ngx_http_mastodon_pg_slow_stmt(
        "SELECT " NGX_HTTP_MASTODON_ACCOUNT_COLUMNS
        " FROM mastodon_search_accounts($1::bigint, $2::text,"
        "  $3::boolean, $4::integer, $5::integer) WITH ORDINALITY x(id, n)"
        " JOIN accounts a ON a.id = x.id"
        " LEFT JOIN account_stats s ON s.account_id = a.id"
        " ORDER BY x.n", 5);

/*
 * Statuses by full text, ids newest first: the arguments of
 * mastodon_search_statuses() (sql/0028_search.sql) in its order
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_search_statuses_text =
    ngx_http_mastodon_pg_slow_stmt(
        "SELECT x.id FROM mastodon_search_statuses($1::bigint, $2::text,"
        " $3::text[], $4::text[], $5::text, $6::text[], $7::text[],"
        " $8::text[], $9::text[], $10::text[], $11::text[], $12::bigint,"
        " $13::text, $14::timestamp[], $15::timestamp[], $16::timestamp[],"
        " $17::integer, $18::bigint, $19::bigint, $20::integer,"
        " $21::integer) x(id)",
        NGX_HTTP_MASTODON_SEARCH_TEXT_ARGS);

/* Hashtags as Tag JSON: $1 the name, $2 exclude_unreviewed, $3 limit,
 * $4 offset, $5 the base URL */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_search_tags =
    ngx_http_mastodon_pg_stmt(
        "SELECT mastodon_tag_json(t, $5::text)"
        " FROM mastodon_search_tags($1::text, $2::boolean, $3::integer,"
        "  $4::integer) WITH ORDINALITY x(id, n)"
        " JOIN tags t ON t.id = x.id ORDER BY x.n", 5);


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

    /* limit_param(RESULTS_LIMIT): 20, at most 40; offset with a type only */
    if (mstdn_param_int64(ctx->params, "limit", &sr->limit) != 0) {
        sr->limit = 20;
    }

    sr->limit = ngx_min(sr->limit, 40);

    s = mstdn_param_str(ctx->params, "type", &len);

    if (s == NULL || len == 0
        || mstdn_param_int64(ctx->params, "offset", &sr->offset) != 0)
    {
        sr->offset = 0;
    }

    rc = ngx_http_mastodon_search_parse(r, sr);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_mastodon_search_full(r, sr);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_mastodon_search_find(r, sr);
}


/*
 * GET /api/v1/accounts/search?q=&limit=&offset=&following=&resolve=: the
 * accounts part of the same search (40 by default, at most 80)
 */
ngx_int_t
ngx_http_mastodon_accounts_search(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    ngx_int_t                    rc;
    ngx_http_mastodon_search_t  *sr;

    sr = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_search_t));
    if (sr == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    sr->ctx = ctx;
    sr->v1 = 1;

    if (mstdn_param_int64(ctx->params, "limit", &sr->limit) != 0
        || sr->limit < 0)
    {
        sr->limit = 40;
    }

    sr->limit = ngx_min(sr->limit, 80);

    if (mstdn_param_int64(ctx->params, "offset", &sr->offset) != 0
        || sr->offset < 0)
    {
        sr->offset = 0;
    }

    rc = ngx_http_mastodon_search_parse(r, sr);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_mastodon_search_full(r, sr);
    if (rc != NGX_OK) {
        return rc;
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

    if (sr->v1) {
        sr->types = NGX_HTTP_MASTODON_SEARCH_ACCOUNTS;

    } else if (type == NULL || len == 0) {
        sr->types = NGX_HTTP_MASTODON_SEARCH_ACCOUNTS
                    | NGX_HTTP_MASTODON_SEARCH_STATUSES
                    | NGX_HTTP_MASTODON_SEARCH_HASHTAGS;

    } else if (len == 8 && ngx_strncmp(type, "accounts", 8) == 0) {
        sr->types = NGX_HTTP_MASTODON_SEARCH_ACCOUNTS;

    } else if (len == 8 && ngx_strncmp(type, "statuses", 8) == 0) {
        sr->types = NGX_HTTP_MASTODON_SEARCH_STATUSES;

    } else if (len == 8 && ngx_strncmp(type, "hashtags", 8) == 0) {
        sr->types = NGX_HTTP_MASTODON_SEARCH_HASHTAGS;
    }

    if (sr->limit <= 0) {
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


/*
 * Which full-text searches apply (SearchService#account_searchable?,
 * full_text_searchable?, hashtag_searchable?) and their arguments; the
 * exact match is the first result only.
 */
static ngx_int_t
ngx_http_mastodon_search_full(ngx_http_request_t *r,
    ngx_http_mastodon_search_t *sr)
{
    u_char                   *p, *name;
    size_t                    len;
    ngx_str_t                 q;
    ngx_uint_t                url, hash, at, blank;
    mstdn_alloc_t             al;
    ngx_http_mastodon_ctx_t  *ctx;

    ctx = sr->ctx;
    q = sr->q;

    if (sr->offset > 0) {
        /* no exact match past the first page; following stays */
        sr->values[0] = NULL;
        sr->values[1] = NULL;
        sr->values[2] = NULL;
        sr->values[4] = NULL;
        sr->values[5] = NULL;
        sr->resolve = 0;
    }

    if (q.len == 0 || sr->types == 0) {
        return NGX_OK;
    }

    url = (q.len > 8 && ngx_strncasecmp(q.data, (u_char *) "https://", 8) == 0)
          || (q.len > 7
              && ngx_strncasecmp(q.data, (u_char *) "http://", 7) == 0);

    if (url && ngx_strlchr(q.data, q.data + q.len, ' ') == NULL) {
        /* a URL is looked up (or resolved), not searched for */
        return NGX_OK;
    }

    hash = q.data[0] == '#';
    at = ngx_strlchr(q.data, q.data + q.len, '@') != NULL;
    blank = ngx_strlchr(q.data, q.data + q.len, ' ') != NULL;

    if ((sr->types & NGX_HTTP_MASTODON_SEARCH_ACCOUNTS)
        && (sr->v1 || !(hash || (at && blank))))
    {
        /* AccountSearchService: q without its '@', a local domain off */
        p = q.data;
        len = q.len;

        if (len && *p == '@') {
            p++;
            len--;
        }

        if (sr->values[0] && sr->values[1] == NULL) {
            p = (u_char *) sr->values[0];
            len = ngx_strlen(p);
        }

        if (len) {
            sr->full |= NGX_HTTP_MASTODON_SEARCH_ACCOUNTS;
            sr->ranked_q = ngx_pnalloc(r->pool, len + 1);
            if (sr->ranked_q == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            *ngx_cpymem((u_char *) sr->ranked_q, p, len) = '\0';
        }
    }

    if ((sr->types & NGX_HTTP_MASTODON_SEARCH_STATUSES)
        && ctx->auth && ctx->auth->user_id
        && !((hash || at) && !blank))
    {
        sr->full |= NGX_HTTP_MASTODON_SEARCH_STATUSES;

        if (ngx_http_mastodon_search_text(r, sr) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if ((sr->types & NGX_HTTP_MASTODON_SEARCH_HASHTAGS) && !at) {
        /* TagSearchService: without '#', as HashtagNormalizer makes it */
        p = q.data + hash;
        len = q.len - hash;

        al.alloc = ngx_http_mastodon_pool_alloc;
        al.ctx = r->pool;

        name = (u_char *) mstdn_hashtag_normalize((const char *) p, len, &al,
                                                  &len);
        if (name != NULL && len > 0) {
            sr->full |= NGX_HTTP_MASTODON_SEARCH_HASHTAGS;
            sr->tag_q = (const char *) name;
        }
    }

    return NGX_OK;
}


/* a PostgreSQL array literal of n strings */
static const char *
ngx_http_mastodon_search_array(ngx_http_request_t *r, ngx_str_t *items,
    ngx_uint_t n)
{
    u_char      *buf, *p;
    size_t       len;
    ngx_uint_t   i, k;

    len = 3;

    for (i = 0; i < n; i++) {
        len += 2 * items[i].len + 3;
    }

    buf = ngx_pnalloc(r->pool, len);
    if (buf == NULL) {
        return NULL;
    }

    p = buf;
    *p++ = '{';

    for (i = 0; i < n; i++) {
        if (i) {
            *p++ = ',';
        }

        *p++ = '"';

        for (k = 0; k < items[i].len; k++) {
            if (items[i].data[k] == '"' || items[i].data[k] == '\\') {
                *p++ = '\\';
            }
            *p++ = items[i].data[k];
        }

        *p++ = '"';
    }

    *p++ = '}';
    *p = '\0';

    return (const char *) buf;
}


/* the kinds of list mastodon_search_statuses() takes */
enum {
    NGX_HTTP_MASTODON_SQ_PHRASES = 0,
    NGX_HTTP_MASTODON_SQ_EXCLUDED,
    NGX_HTTP_MASTODON_SQ_PROPS,
    NGX_HTTP_MASTODON_SQ_NOT_PROPS,
    NGX_HTTP_MASTODON_SQ_LANGS,
    NGX_HTTP_MASTODON_SQ_NOT_LANGS,
    NGX_HTTP_MASTODON_SQ_FROM,
    NGX_HTTP_MASTODON_SQ_NOT_FROM,
    NGX_HTTP_MASTODON_SQ_SINCE,
    NGX_HTTP_MASTODON_SQ_UNTIL,
    NGX_HTTP_MASTODON_SQ_NOT_DAYS,
    NGX_HTTP_MASTODON_SQ_LISTS
};


/*
 * q parsed (lib/mstdn_search_query) into the arguments of
 * mastodon_search_statuses(); a query Mastodon could not run (too long, a
 * bad date) finds no status.
 */
static ngx_int_t
ngx_http_mastodon_search_text(ngx_http_request_t *r,
    ngx_http_mastodon_search_t *sr)
{
    u_char                         *words, *w, *day;
    long                            days;
    int64_t                         n;
    ngx_str_t                      *item;
    ngx_uint_t                      i, k, list, none, scope;
    const char                    **v, *lang;
    mstdn_sq_clause_t              *c;
    mstdn_search_query_t           *sq;
    ngx_http_mastodon_ctx_t        *ctx;
    ngx_http_mastodon_main_conf_t  *mcf;
    ngx_str_t                       lists[NGX_HTTP_MASTODON_SQ_LISTS]
                                         [2 * MSTDN_SEARCH_QUERY_CLAUSES];
    ngx_uint_t                      nlist[NGX_HTTP_MASTODON_SQ_LISTS];

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);
    ctx = sr->ctx;

    sq = ngx_palloc(r->pool, sizeof(mstdn_search_query_t));
    v = ngx_pcalloc(r->pool,
                    NGX_HTTP_MASTODON_SEARCH_TEXT_ARGS * sizeof(char *));
    words = ngx_pnalloc(r->pool, sr->q.len + 1);
    if (sq == NULL || v == NULL || words == NULL) {
        return NGX_ERROR;
    }

    sr->text = v;

    if (mstdn_search_query_parse((const char *) sr->q.data, sr->q.len, sq)
        != MSTDN_OK)
    {
        sr->full &= ~NGX_HTTP_MASTODON_SEARCH_STATUSES;
        return NGX_OK;
    }

    ngx_memzero(nlist, sizeof(nlist));
    w = words;
    lang = NULL;
    scope = 0;
    none = 0;

    for (i = 0; i < sq->n; i++) {
        c = &sq->clauses[i];
        list = NGX_HTTP_MASTODON_SQ_LISTS;
        day = NULL;

        switch (c->kind) {

        case MSTDN_SQ_TERM:
        case MSTDN_SQ_PHRASE:
            if (c->negated) {
                list = NGX_HTTP_MASTODON_SQ_EXCLUDED;
                break;
            }

            /* every word must be there: the index finds them */
            if (w != words) {
                *w++ = ' ';
            }
            w = ngx_cpymem(w, c->text, c->len);

            if (c->kind == MSTDN_SQ_PHRASE) {
                list = NGX_HTTP_MASTODON_SQ_PHRASES;
            }
            break;

        case MSTDN_SQ_HAS:
        case MSTDN_SQ_IS:
            list = c->negated ? NGX_HTTP_MASTODON_SQ_NOT_PROPS
                              : NGX_HTTP_MASTODON_SQ_PROPS;
            break;

        case MSTDN_SQ_LANGUAGE:
            list = c->negated ? NGX_HTTP_MASTODON_SQ_NOT_LANGS
                              : NGX_HTTP_MASTODON_SQ_LANGS;
            break;

        case MSTDN_SQ_FROM:
            list = c->negated ? NGX_HTTP_MASTODON_SQ_NOT_FROM
                              : NGX_HTTP_MASTODON_SQ_FROM;
            break;

        case MSTDN_SQ_BEFORE:
        case MSTDN_SQ_AFTER:
        case MSTDN_SQ_DURING:
            if (mstdn_search_date(c->text, c->len, &days) != 0) {
                none = 1;
                break;
            }

            day = ngx_pnalloc(r->pool, 2 * 11);
            if (day == NULL) {
                return NGX_ERROR;
            }

            /* the day's start and the next one's, UTC */
            mstdn_search_date_format(days, (char *) day);
            mstdn_search_date_format(days + 1, (char *) day + 11);

            if (c->kind == MSTDN_SQ_BEFORE) {
                list = c->negated ? NGX_HTTP_MASTODON_SQ_SINCE
                                  : NGX_HTTP_MASTODON_SQ_UNTIL;

            } else if (c->kind == MSTDN_SQ_AFTER) {
                list = c->negated ? NGX_HTTP_MASTODON_SQ_UNTIL
                                  : NGX_HTTP_MASTODON_SQ_SINCE;
                day += 11;

            } else if (c->negated) {
                list = NGX_HTTP_MASTODON_SQ_NOT_DAYS;

            } else {
                item = &lists[NGX_HTTP_MASTODON_SQ_UNTIL]
                             [nlist[NGX_HTTP_MASTODON_SQ_UNTIL]++];
                item->data = day + 11;
                item->len = 10;
                list = NGX_HTTP_MASTODON_SQ_SINCE;
            }
            break;

        case MSTDN_SQ_IN:
            if (c->len == 7 && ngx_strncmp(c->text, "library", 7) == 0) {
                scope = 1;

            } else if (c->len == 6 && ngx_strncmp(c->text, "public", 6) == 0)
            {
                scope = 2;

            } else {
                scope = 0;
            }
            break;
        }

        if (list == NGX_HTTP_MASTODON_SQ_LISTS) {
            continue;
        }

        item = &lists[list][nlist[list]++];

        if (day) {
            item->data = day;
            item->len = 10;

        } else {
            item->data = (u_char *) c->text;
            item->len = c->len;
        }

        if (list == NGX_HTTP_MASTODON_SQ_LANGS && lang == NULL) {
            lang = (const char *) item->data;
        }
    }

    if (none) {
        sr->full &= ~NGX_HTTP_MASTODON_SEARCH_STATUSES;
        return NGX_OK;
    }

    *w = '\0';

    v[0] = ngx_http_mastodon_pg_int64(r, ctx->auth->account_id);
    v[1] = (const char *) words;
    v[2] = ngx_http_mastodon_search_array(r,
               lists[NGX_HTTP_MASTODON_SQ_PHRASES],
               nlist[NGX_HTTP_MASTODON_SQ_PHRASES]);
    v[3] = ngx_http_mastodon_search_array(r,
               lists[NGX_HTTP_MASTODON_SQ_EXCLUDED],
               nlist[NGX_HTTP_MASTODON_SQ_EXCLUDED]);

    if (lang) {
        /* the first language: the words stemmed in it */
        item = &lists[NGX_HTTP_MASTODON_SQ_LANGS][0];
        v[4] = ngx_pnalloc(r->pool, item->len + 1);
        if (v[4] == NULL) {
            return NGX_ERROR;
        }
        *ngx_cpymem((u_char *) v[4], item->data, item->len) = '\0';
    }

    for (k = NGX_HTTP_MASTODON_SQ_PROPS; k <= NGX_HTTP_MASTODON_SQ_NOT_FROM;
         k++)
    {
        v[5 + k - NGX_HTTP_MASTODON_SQ_PROPS] =
            ngx_http_mastodon_search_array(r, lists[k], nlist[k]);
    }

    /* the API's account_id: a status' author */
    if (mstdn_param_int64(ctx->params, "account_id", &n) == 0 && n > 0) {
        v[11] = ngx_http_mastodon_pg_int64(r, n);
    }

    v[12] = (const char *) mcf->domain.data;

    for (k = NGX_HTTP_MASTODON_SQ_SINCE; k <= NGX_HTTP_MASTODON_SQ_NOT_DAYS;
         k++)
    {
        v[13 + k - NGX_HTTP_MASTODON_SQ_SINCE] =
            ngx_http_mastodon_search_array(r, lists[k], nlist[k]);
    }

    v[16] = ngx_http_mastodon_pg_int64(r, scope);

    if (mstdn_param_int64(ctx->params, "min_id", &n) == 0) {
        v[17] = ngx_http_mastodon_pg_int64(r, n);
    }

    if (mstdn_param_int64(ctx->params, "max_id", &n) == 0) {
        v[18] = ngx_http_mastodon_pg_int64(r, n);
    }

    v[19] = ngx_http_mastodon_pg_int64(r, sr->limit);
    v[20] = ngx_http_mastodon_pg_int64(r, sr->offset);

    for (k = 0; k < NGX_HTTP_MASTODON_SEARCH_TEXT_ARGS; k++) {
        if (v[k] == NULL && k != 4 && k != 11 && k != 17 && k != 18) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* the known account and status q names (or the worker resolved), and what
 * the full-text searches find */
static ngx_int_t
ngx_http_mastodon_search_find(ngx_http_request_t *r,
    ngx_http_mastodon_search_t *sr)
{
    const char                    **values, **ranked, **tags;
    ngx_http_mastodon_ctx_t        *ctx;
    ngx_http_mastodon_pg_batch_t   *b;
    ngx_http_mastodon_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);
    ctx = sr->ctx;

    if (sr->values[0] == NULL && sr->values[2] == NULL
        && sr->values[3] == NULL && sr->resolved_account == NULL
        && sr->resolved_status == NULL && sr->full == 0)
    {
        return ngx_http_mastodon_search_send(r, sr);
    }

    b = ngx_http_mastodon_pg_batch(r, ngx_http_mastodon_search_found, sr);
    values = ngx_pcalloc(r->pool, 9 * sizeof(char *));
    ranked = ngx_pcalloc(r->pool, 5 * sizeof(char *));
    tags = ngx_pcalloc(r->pool, 5 * sizeof(char *));
    if (b == NULL || values == NULL || ranked == NULL || tags == NULL) {
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

    /* the full-text searches, only when nothing was resolved */
    if (sr->resolved_account || sr->resolved_status) {
        sr->full = 0;
    }

    if (sr->full & NGX_HTTP_MASTODON_SEARCH_ACCOUNTS) {
        if (ctx->auth && ctx->auth->user_id) {
            ranked[0] = ngx_http_mastodon_pg_int64(r, ctx->auth->account_id);
        }

        ranked[1] = sr->ranked_q;
        ranked[2] = sr->values[3] ? "true" : "false";
        ranked[3] = ngx_http_mastodon_pg_int64(r, sr->limit);
        ranked[4] = ngx_http_mastodon_pg_int64(r, sr->offset);

        if (ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_search_ranked,
                                     ranked)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if ((sr->full & NGX_HTTP_MASTODON_SEARCH_STATUSES)
        && ngx_http_mastodon_pg_add(b,
                                    &ngx_http_mastodon_search_statuses_text,
                                    sr->text)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (sr->full & NGX_HTTP_MASTODON_SEARCH_HASHTAGS) {
        tags[0] = sr->tag_q;
        tags[1] = mstdn_param_bool(ctx->params, "exclude_unreviewed", 0)
                  ? "true" : "false";
        tags[2] = ngx_http_mastodon_pg_int64(r, sr->limit);
        tags[3] = ngx_http_mastodon_pg_int64(r, sr->offset);
        tags[4] = (const char *) mcf->base_url.data;

        if (ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_search_tags, tags)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
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

    int                             i, n;
    int64_t                        *ids;
    ngx_int_t                       rc;
    ngx_uint_t                      next, flags;
    PGresult                       *accounts, *statuses, *text;
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

    next = 2;
    text = NULL;

    if (sr->full & NGX_HTTP_MASTODON_SEARCH_ACCOUNTS) {
        sr->ranked = ngx_http_mastodon_pg_rows(b, next++);
    }

    if (sr->full & NGX_HTTP_MASTODON_SEARCH_STATUSES) {
        text = ngx_http_mastodon_pg_rows(b, next++);
    }

    if (sr->full & NGX_HTTP_MASTODON_SEARCH_HASHTAGS) {
        sr->tags = ngx_http_mastodon_pg_rows(b, next++);
    }

    if (((sr->full & NGX_HTTP_MASTODON_SEARCH_ACCOUNTS) && sr->ranked == NULL)
        || ((sr->full & NGX_HTTP_MASTODON_SEARCH_STATUSES) && text == NULL)
        || ((sr->full & NGX_HTTP_MASTODON_SEARCH_HASHTAGS)
            && sr->tags == NULL))
    {
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

    n = text ? PQntuples(text) : 0;

    if (n > 0) {
        ids = ngx_palloc(r->pool, n * sizeof(int64_t));
        if (ids == NULL) {
            ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        for (i = 0; i < n; i++) {
            ids[i] = ngx_http_mastodon_pg_int(text, i, 0);
        }

        /* StatusFilter: what the viewer's blocks and mutes hide, out */
        sr->filter = 1;
        flags = NGX_HTTP_MASTODON_ST_FILTER;

        rc = ngx_http_mastodon_statuses_fetch(r, ids, n, flags,
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
    if (sr->filter || ngx_http_mastodon_statuses_shown(st, 0)) {
        sr->st = st;
    }

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_search_send(r, sr));
}


/* the exact account, then the ranked ones (without it), up to the limit */
static void
ngx_http_mastodon_search_write_accounts(ngx_http_mastodon_json_t *j,
    ngx_http_mastodon_search_t *sr)
{
    int        i;
    int64_t    n;
    ngx_str_t  exact, id;

    n = 0;
    exact.len = 0;

    if (sr->accounts) {
        ngx_http_mastodon_account(j, sr->accounts, 0, 0);
        exact = ngx_http_mastodon_pg_str(sr->accounts, 0, 0);
        n++;
    }

    if (sr->ranked == NULL) {
        return;
    }

    for (i = 0; i < PQntuples(sr->ranked) && n < sr->limit; i++) {
        id = ngx_http_mastodon_pg_str(sr->ranked, i, 0);

        if (id.len == exact.len
            && ngx_strncmp(id.data, exact.data, id.len) == 0)
        {
            continue;
        }

        ngx_http_mastodon_account(j, sr->ranked, i, 0);
        n++;
    }
}


/* REST::SearchSerializer: accounts, statuses, hashtags; v1: accounts */
static ngx_int_t
ngx_http_mastodon_search_send(ngx_http_request_t *r,
    ngx_http_mastodon_search_t *sr)
{
    int                       i;
    ngx_str_t                 tag;
    ngx_uint_t                k;
    ngx_http_mastodon_json_t  j;

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (sr->v1) {
        ngx_http_mastodon_json_open_array(&j, NULL);
        ngx_http_mastodon_search_write_accounts(&j, sr);
        ngx_http_mastodon_json_close_array(&j);

        return ngx_http_mastodon_json_send(&j, NGX_HTTP_OK);
    }

    ngx_http_mastodon_json_open(&j, NULL);

    ngx_http_mastodon_json_open_array(&j, "accounts");
    ngx_http_mastodon_search_write_accounts(&j, sr);
    ngx_http_mastodon_json_close_array(&j);

    ngx_http_mastodon_json_open_array(&j, "statuses");
    if (sr->st) {
        for (k = 0; k < sr->st->n; k++) {
            if (ngx_http_mastodon_statuses_shown(sr->st, k)) {
                ngx_http_mastodon_status_write(&j, NULL, sr->st, k);
            }
        }
    }
    ngx_http_mastodon_json_close_array(&j);

    ngx_http_mastodon_json_open_array(&j, "hashtags");
    if (sr->tags) {
        for (i = 0; i < PQntuples(sr->tags); i++) {
            tag = ngx_http_mastodon_pg_str(sr->tags, i, 0);
            ngx_http_mastodon_json_raw(&j, NULL, &tag);
        }
    }
    ngx_http_mastodon_json_close_array(&j);

    ngx_http_mastodon_json_close(&j);

    return ngx_http_mastodon_json_send(&j, NGX_HTTP_OK);
}
