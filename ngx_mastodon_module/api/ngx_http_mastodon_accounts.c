/*
 * Reading accounts: GET /api/v1/accounts/verify_credentials
 * (CredentialAccount), /api/v1/accounts/:id, /api/v1/accounts?id[]=,
 * /api/v1/accounts/lookup, /api/v1/preferences.
 */

#include "ngx_http_mastodon_api.h"
#include "ngx_http_mastodon_cache.h"
#include "mstdn_json.h"


#define NGX_HTTP_MASTODON_ACCOUNTS_MAX_IDS  40


static void ngx_http_mastodon_accounts_one_done(
    ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_verify_credentials_done(
    ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_credentials_answer(
    ngx_http_mastodon_pg_batch_t *b, ngx_http_mastodon_account_fill_t *fill);
static void ngx_http_mastodon_accounts_list_done(
    ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_preferences_done(
    ngx_http_mastodon_pg_batch_t *b);
static mstdn_value_t *ngx_http_mastodon_user_settings(ngx_http_request_t *r,
    PGresult *res, int row, int col);


static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_account_by_id =
    ngx_http_mastodon_pg_stmt(
        "SELECT " NGX_HTTP_MASTODON_ACCOUNT_COLUMNS ","
        NGX_HTTP_MASTODON_ACCOUNT_CACHEABLE
        NGX_HTTP_MASTODON_ACCOUNT_FROM
        " WHERE a.id = $1 AND" NGX_HTTP_MASTODON_ACCOUNT_SHOWN, 1);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_accounts_by_ids =
    ngx_http_mastodon_pg_stmt(
        "SELECT " NGX_HTTP_MASTODON_ACCOUNT_COLUMNS
        NGX_HTTP_MASTODON_ACCOUNT_FROM
        " WHERE a.id = ANY($1::bigint[]) AND" NGX_HTTP_MASTODON_ACCOUNT_SHOWN
        " ORDER BY array_position($1::bigint[], a.id)", 1);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_account_by_acct =
    ngx_http_mastodon_pg_stmt(
        "SELECT " NGX_HTTP_MASTODON_ACCOUNT_COLUMNS
        NGX_HTTP_MASTODON_ACCOUNT_FROM
        " WHERE lower(a.username) = lower($1)"
        " AND coalesce(lower(a.domain), '') = coalesce(lower($2), '')"
        " AND" NGX_HTTP_MASTODON_ACCOUNT_SHOWN, 2);

/* the account, then settings, follow requests and the role */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_credentials =
    ngx_http_mastodon_pg_stmt(
        "SELECT " NGX_HTTP_MASTODON_ACCOUNT_COLUMNS ","
        " coalesce(u.settings, ''),"
        " (SELECT count(*) FROM follow_requests fr"
        "   WHERE fr.target_account_id = a.id),"
        " coalesce(r.id, -99), coalesce(r.name, ''), coalesce(r.color, ''),"
        " coalesce(r.permissions, 0), coalesce(r.highlighted, false)"
        NGX_HTTP_MASTODON_ACCOUNT_FROM
        " JOIN users u ON u.account_id = a.id"
        " LEFT JOIN user_roles r ON r.id = coalesce(u.role_id, -99)"
        " WHERE a.id = $1", 1);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_preferences_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT coalesce(settings, '') FROM users WHERE id = $1", 1);


ngx_http_mastodon_pg_stmt_t *
ngx_http_mastodon_credentials_stmt(void)
{
    return &ngx_http_mastodon_credentials;
}


/*
 * GET /api/v1/accounts/:id: the same for every viewer (anonymous too), so
 * from the render cache when it is there, else rendered and put.
 */
ngx_int_t
ngx_http_mastodon_accounts_show(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    int64_t                            id;
    ngx_str_t                          json;
    ngx_http_mastodon_account_fill_t  *fill;

    id = ngx_http_mastodon_capture_id(ctx, 0);
    if (id == 0) {
        return NGX_HTTP_NOT_FOUND;
    }

    if (ngx_http_mastodon_account_cached(NGX_HTTP_MASTODON_CACHE_ACCOUNT, id,
                                         r->pool, &json)
        == NGX_OK)
    {
        return ngx_http_mastodon_json_send_str(r, NGX_HTTP_OK, &json);
    }

    fill = ngx_palloc(r->pool, sizeof(ngx_http_mastodon_account_fill_t));
    if (fill == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mastodon_account_fill_start(NGX_HTTP_MASTODON_CACHE_ACCOUNT, id,
                                         fill);

    return ngx_http_mastodon_pg_query_id(r, &ngx_http_mastodon_account_by_id,
                                         id,
                                         ngx_http_mastodon_accounts_one_done,
                                         fill);
}


/* GET /api/v1/accounts?id[]=1&id[]=2: the ones that exist, in that order */
ngx_int_t
ngx_http_mastodon_accounts_index(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    u_char         *p, *list;
    int64_t         id;
    ngx_uint_t      n;
    const char    **values;
    mstdn_value_t  *ids, *v;

    ids = mstdn_object_get(ctx->params, "id");

    list = ngx_pnalloc(r->pool, 2 + NGX_HTTP_MASTODON_ACCOUNTS_MAX_IDS
                                    * (NGX_INT64_LEN + 1));
    values = ngx_palloc(r->pool, sizeof(char *));
    if (list == NULL || values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = list;
    *p++ = '{';
    n = 0;

    if (ids && ids->type == MSTDN_STRING) {
        /* id=1 alone, as some clients send it */
        id = ngx_atoof((u_char *) ids->str, ids->len);
        if (id > 0) {
            p = ngx_sprintf(p, "%L", id);
            n++;
        }

    } else if (ids && ids->type == MSTDN_ARRAY) {
        for (v = ids->first;
             v && n < NGX_HTTP_MASTODON_ACCOUNTS_MAX_IDS;
             v = v->next)
        {
            if (v->type != MSTDN_STRING && v->type != MSTDN_NUMBER) {
                continue;
            }
            id = ngx_atoof((u_char *) v->str, v->len);
            if (id <= 0) {
                continue;           /* not an id: cannot exist */
            }
            p = ngx_sprintf(p, "%s%L", n ? "," : "", id);
            n++;
        }
    }

    *p++ = '}';
    *p = '\0';
    values[0] = (const char *) list;

    return ngx_http_mastodon_pg_query(r, &ngx_http_mastodon_accounts_by_ids,
                                      values,
                                      ngx_http_mastodon_accounts_list_done,
                                      NULL);
}


/* GET /api/v1/accounts/lookup?acct=user or user@domain */
ngx_int_t
ngx_http_mastodon_accounts_lookup(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    u_char                         *at;
    size_t                          len;
    const char                     *acct, **values;
    ngx_str_t                       domain;
    ngx_http_mastodon_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    acct = mstdn_param_str(ctx->params, "acct", &len);
    if (acct == NULL || len == 0) {
        ctx->error_message = "Missing required parameter: acct";
        return NGX_HTTP_BAD_REQUEST;
    }

    if (acct[0] == '@') {
        acct++;
        len--;
    }

    values = ngx_pcalloc(r->pool, 2 * sizeof(char *));
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    at = ngx_strlchr((u_char *) acct, (u_char *) acct + len, '@');

    if (at) {
        domain.data = at + 1;
        domain.len = (u_char *) acct + len - domain.data;

        if (domain.len == 0 || at == (u_char *) acct) {
            return NGX_HTTP_NOT_FOUND;          /* "user@" or "@domain" */
        }

        /* our own domain means a local account */
        if (!(domain.len == mcf->domain.len
              && ngx_strncasecmp(domain.data, mcf->domain.data, domain.len)
                 == 0))
        {
            values[1] = (const char *) domain.data;     /* NUL-terminated */
        }

        values[0] = (const char *) ngx_pnalloc(r->pool,
                                               at - (u_char *) acct + 1);
        if (values[0] == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        ngx_cpystrn((u_char *) values[0], (u_char *) acct,
                    at - (u_char *) acct + 1);

    } else {
        values[0] = acct;
    }

    return ngx_http_mastodon_pg_query(r, &ngx_http_mastodon_account_by_acct,
                                      values,
                                      ngx_http_mastodon_accounts_one_done,
                                      NULL);
}


/* GET /api/v1/accounts/verify_credentials: cached like an Account */
ngx_int_t
ngx_http_mastodon_accounts_verify_credentials(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    ngx_str_t                          json;
    ngx_http_mastodon_account_fill_t  *fill;

    if (ngx_http_mastodon_account_cached(NGX_HTTP_MASTODON_CACHE_CREDENTIALS,
                                         ctx->auth->account_id, r->pool,
                                         &json)
        == NGX_OK)
    {
        return ngx_http_mastodon_json_send_str(r, NGX_HTTP_OK, &json);
    }

    fill = ngx_palloc(r->pool, sizeof(ngx_http_mastodon_account_fill_t));
    if (fill == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mastodon_account_fill_start(NGX_HTTP_MASTODON_CACHE_CREDENTIALS,
                                         ctx->auth->account_id, fill);

    return ngx_http_mastodon_pg_query_id(r, &ngx_http_mastodon_credentials,
                                ctx->auth->account_id,
                                ngx_http_mastodon_verify_credentials_done,
                                fill);
}


/* GET /api/v1/preferences */
ngx_int_t
ngx_http_mastodon_preferences(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_pg_query_id(r,
                                         &ngx_http_mastodon_preferences_stmt,
                                         ctx->auth->user_id,
                                         ngx_http_mastodon_preferences_done,
                                         NULL);
}


static PGresult *
ngx_http_mastodon_accounts_result(ngx_http_mastodon_pg_batch_t *b)
{
    PGresult  *res;

    /* the last statement answers; the ones before it are writes */
    res = ngx_http_mastodon_pg_rows(b, b->nqueries - 1);

    if (res == NULL) {
        ngx_http_mastodon_finalize(b->request, NGX_HTTP_SERVICE_UNAVAILABLE);
        return NULL;
    }

    return res;
}


/* The same, and 404 when it found nothing. */
static PGresult *
ngx_http_mastodon_accounts_found(ngx_http_mastodon_pg_batch_t *b)
{
    PGresult  *res;

    res = ngx_http_mastodon_accounts_result(b);

    if (res != NULL && PQntuples(res) == 0) {
        ngx_http_mastodon_finalize(b->request, NGX_HTTP_NOT_FOUND);
        return NULL;
    }

    return res;
}


/*
 * One account: GET /api/v1/accounts/lookup, and GET /api/v1/accounts/:id
 * whose statement selects NGX_HTTP_MASTODON_ACCOUNT_CACHEABLE too and whose
 * fill (b->data) puts the rendering into the render cache.
 */
static void
ngx_http_mastodon_accounts_one_done(ngx_http_mastodon_pg_batch_t *b)
{
    PGresult                  *res;
    ngx_str_t                  json;
    ngx_http_request_t        *r;
    ngx_http_mastodon_json_t   j;

    r = b->request;

    res = ngx_http_mastodon_accounts_found(b);
    if (res == NULL) {
        return;
    }

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_mastodon_account(&j, res, 0, 0);

    if (ngx_http_mastodon_json_string(&j, &json) != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (b->data) {
        ngx_http_mastodon_account_fill_row(b->data, res, 0, 0, r->pool, &json);
    }

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_json_send_str(r,
                                                       NGX_HTTP_OK, &json));
}


static void
ngx_http_mastodon_accounts_list_done(ngx_http_mastodon_pg_batch_t *b)
{
    int                        i, n;
    PGresult                  *res;
    ngx_http_request_t        *r;
    ngx_http_mastodon_json_t   j;

    r = b->request;

    res = ngx_http_mastodon_accounts_result(b);
    if (res == NULL) {
        return;
    }

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_mastodon_json_open_array(&j, NULL);

    for (i = 0, n = PQntuples(res); i < n; i++) {
        ngx_http_mastodon_account(&j, res, i, 0);
    }

    ngx_http_mastodon_json_close_array(&j);

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_json_send(&j,
                                                              NGX_HTTP_OK));
}


/* users.settings: Mastodon's JSON of preferences, possibly empty */
static mstdn_value_t *
ngx_http_mastodon_user_settings(ngx_http_request_t *r, PGresult *res,
    int row, int col)
{
    char             err[64];
    mstdn_alloc_t    a;
    mstdn_value_t   *doc;
    mstdn_limits_t   limits = { 8, 1000 };

    a.alloc = ngx_http_mastodon_pool_alloc;
    a.ctx = r->pool;

    if (PQgetlength(res, row, col) == 0
        || mstdn_json_parse(PQgetvalue(res, row, col),
                            PQgetlength(res, row, col), &a, &limits, &doc,
                            err, sizeof(err))
           != MSTDN_OK
        || doc->type != MSTDN_OBJECT)
    {
        return mstdn_value_new(&a, MSTDN_OBJECT);
    }

    return doc;
}


static const char *
ngx_http_mastodon_setting_str(mstdn_value_t *settings, const char *key,
    const char *dflt)
{
    mstdn_value_t  *v;

    v = mstdn_object_get(settings, key);

    return v && v->type == MSTDN_STRING && v->len ? v->str : dflt;
}


/*
 * The CredentialAccount from the last statement of the batch; the
 * statements before it (update_credentials, a profile image's deletion)
 * changed the account: it is forgotten.
 */
void
ngx_http_mastodon_credentials_done(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_http_mastodon_credentials_answer(b, NULL);
}


static void
ngx_http_mastodon_verify_credentials_done(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_http_mastodon_credentials_answer(b, b->data);
}


static void
ngx_http_mastodon_credentials_answer(ngx_http_mastodon_pg_batch_t *b,
    ngx_http_mastodon_account_fill_t *fill)
{
    int                        c;
    int64_t                    id;
    ngx_str_t                  s, json;
    PGresult                  *res;
    const char                *lang;
    mstdn_value_t             *settings;
    ngx_http_request_t        *r;
    ngx_http_mastodon_json_t   j;

    r = b->request;

    res = ngx_http_mastodon_accounts_found(b);
    if (res == NULL) {
        return;
    }

    id = ngx_http_mastodon_pg_int(res, 0, 0);

    if (b->nqueries > 1) {
        ngx_http_mastodon_account_forget(r, &id, 1);
    }

    c = NGX_HTTP_MASTODON_ACCOUNT_NCOLS;
    settings = ngx_http_mastodon_user_settings(r, res, 0, c);

    if (settings == NULL || ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_mastodon_json_open(&j, NULL);
    ngx_http_mastodon_account_attrs(&j, res, 0, 0);

    ngx_http_mastodon_json_open(&j, "source");
    ngx_http_mastodon_json_kv_cstr(&j, "privacy",
        ngx_http_mastodon_setting_str(settings, "default_privacy", "public"));
    ngx_http_mastodon_json_kv_bool(&j, "sensitive",
                        mstdn_param_bool(settings, "default_sensitive", 0));
    lang = ngx_http_mastodon_setting_str(settings, "default_language", NULL);
    if (lang) {
        ngx_http_mastodon_json_kv_cstr(&j, "language", lang);
    } else {
        ngx_http_mastodon_json_kv_cstr(&j, "language", "");
    }

    s = ngx_http_mastodon_pg_str(res, 0, 10);         /* the raw note */
    ngx_http_mastodon_json_kv_str(&j, "note", &s);

    s = ngx_http_mastodon_pg_str(res, 0, 17);         /* raw fields */
    ngx_http_mastodon_account_fields(&j, "fields", &s, 1, 1);

    ngx_http_mastodon_json_kv_int(&j, "follow_requests_count",
        ngx_http_mastodon_pg_int(res, 0, c + 1));

    if (PQgetisnull(res, 0, 8)) {
        ngx_http_mastodon_json_kv_null(&j, "hide_collections");
    } else {
        ngx_http_mastodon_json_kv_bool(&j, "hide_collections",
                                       PQgetvalue(res, 0, 8)[0] == 't');
    }

    if (PQgetisnull(res, 0, 6)) {
        ngx_http_mastodon_json_kv_null(&j, "discoverable");
    } else {
        ngx_http_mastodon_json_kv_bool(&j, "discoverable",
                                       PQgetvalue(res, 0, 6)[0] == 't');
    }

    ngx_http_mastodon_json_kv_bool(&j, "indexable",
                                   PQgetvalue(res, 0, 7)[0] == 't');
    ngx_http_mastodon_json_open_array(&j, "attribution_domains");
    ngx_http_mastodon_json_close_array(&j);
    ngx_http_mastodon_json_kv_cstr(&j, "quote_policy", "public");
    ngx_http_mastodon_json_close(&j);                    /* source */

    ngx_http_mastodon_json_open(&j, "role");
    s = ngx_http_mastodon_pg_str(res, 0, c + 2);
    ngx_http_mastodon_json_kv_str(&j, "id", &s);
    s = ngx_http_mastodon_pg_str(res, 0, c + 3);
    ngx_http_mastodon_json_kv_str(&j, "name", &s);
    s = ngx_http_mastodon_pg_str(res, 0, c + 4);
    ngx_http_mastodon_json_kv_str(&j, "color", &s);
    s = ngx_http_mastodon_pg_str(res, 0, c + 5);       /* a string */
    ngx_http_mastodon_json_kv_str(&j, "permissions", &s);
    ngx_http_mastodon_json_kv_bool(&j, "highlighted",
                                   PQgetvalue(res, 0, c + 6)[0] == 't');
    ngx_http_mastodon_json_kv_int(&j, "collection_limit", 0);
    ngx_http_mastodon_json_close(&j);                    /* role */

    ngx_http_mastodon_json_close(&j);

    if (ngx_http_mastodon_json_string(&j, &json) != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (fill) {
        ngx_http_mastodon_account_fill(NGX_HTTP_MASTODON_CACHE_CREDENTIALS,
                                       id, fill, r->pool, &json);
    }

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_json_send_str(r,
                                                       NGX_HTTP_OK, &json));
}


static void
ngx_http_mastodon_preferences_done(ngx_http_mastodon_pg_batch_t *b)
{
    PGresult                  *res;
    const char                *lang;
    mstdn_value_t             *settings;
    ngx_http_request_t        *r;
    ngx_http_mastodon_json_t   j;

    r = b->request;

    res = ngx_http_mastodon_accounts_found(b);
    if (res == NULL) {
        return;
    }

    settings = ngx_http_mastodon_user_settings(r, res, 0, 0);

    if (settings == NULL || ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_mastodon_json_open(&j, NULL);
    ngx_http_mastodon_json_kv_cstr(&j, "posting:default:visibility",
        ngx_http_mastodon_setting_str(settings, "default_privacy", "public"));
    ngx_http_mastodon_json_kv_bool(&j, "posting:default:sensitive",
                        mstdn_param_bool(settings, "default_sensitive", 0));

    lang = ngx_http_mastodon_setting_str(settings, "default_language", NULL);
    if (lang) {
        ngx_http_mastodon_json_kv_cstr(&j, "posting:default:language", lang);
    } else {
        ngx_http_mastodon_json_kv_null(&j, "posting:default:language");
    }

    ngx_http_mastodon_json_kv_cstr(&j, "posting:default:quote_policy",
        ngx_http_mastodon_setting_str(settings, "default_quote_policy",
                                      "public"));
    ngx_http_mastodon_json_kv_cstr(&j, "reading:expand:media",
        ngx_http_mastodon_setting_str(settings, "web.display_media",
                                      "default"));
    ngx_http_mastodon_json_kv_bool(&j, "reading:expand:spoilers",
                          mstdn_param_bool(settings, "web.expand_content", 0));
    ngx_http_mastodon_json_kv_bool(&j, "reading:autoplay:gifs",
                          mstdn_param_bool(settings, "web.auto_play", 0));
    ngx_http_mastodon_json_close(&j);

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_json_send(&j,
                                                              NGX_HTTP_OK));
}

