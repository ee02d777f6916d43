/*
 * The one entry of every ActivityPub GET route: format negotiation as Rails
 * does it for Mastodon (lib/mstdn_ap's mstdn_ap_accept()), the place of
 * authorized fetch, then the route; and what the routes share: answering a
 * document, reading captures.
 */

#include "ngx_http_mastodon_activitypub.h"


static ngx_str_t  ngx_http_mastodon_ap_type =
    ngx_string(MSTDN_AP_MEDIA_TYPE "; charset=utf-8");
static ngx_str_t  ngx_http_mastodon_ap_vary = ngx_string("Accept");


/* $1 the username: what AccountOwnedConcern checks of a local account */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_ap_owner_stmt =
    ngx_http_mastodon_pg_stmt(
    "SELECT a.suspended_at IS NOT NULL, u.id IS NOT NULL,"
    " coalesce(u.approved, false), u.confirmed_at IS NOT NULL"
    " FROM accounts a LEFT JOIN users u ON u.account_id = a.id"
    " WHERE lower(a.username) = lower($1) AND a.domain IS NULL"
    " AND a.id > 0", 1);

/* expires_in 3.minutes, public: true */
static ngx_str_t  ngx_http_mastodon_ap_gone_cache =
    ngx_string("max-age=180, public");


static ngx_int_t ngx_http_mastodon_ap_continue(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
static ngx_int_t ngx_http_mastodon_ap_owner(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
static void ngx_http_mastodon_ap_owner_done(ngx_http_mastodon_pg_batch_t *b);


ngx_int_t
ngx_http_mastodon_activitypub(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    int                      wants;
    ngx_table_elt_t         *accept;
    ngx_http_mastodon_ap_t  *ap;

    ap = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_ap_t));
    if (ap == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = ap;

    accept = ngx_http_mastodon_header_in(r, "Accept", NULL);

    if (ctx->format_json
        || ctx->route->ap == ngx_http_mastodon_ap_followers_sync)
    {
        /* "/users/alice.json", or a route rendering JSON whatever the
         * Accept asks */
        wants = MSTDN_AP_WANTS_JSON;

    } else {
        wants = accept ? mstdn_ap_accept((char *) accept->value.data,
                                         accept->value.len)
                       : MSTDN_AP_WANTS_HTML;
    }

    if (wants == MSTDN_AP_WANTS_NONE) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: nothing acceptable in \"Accept: %V\"",
                      &accept->value);
        return 406;                     /* ActionController::UnknownFormat */
    }

    ap->json = (wants == MSTDN_AP_WANTS_JSON);

    /* an ActivityPub client's errors: respond_with_error's JSON */
    ctx->ap_errors = ap->json;

    /* FollowersSynchronizationsController: require_account_signature! */
    ap->signed_only =
        (ctx->route->ap == ngx_http_mastodon_ap_followers_sync);

    if (ctx->route->ap == ngx_http_mastodon_ap_emoji) {
        /* EmojisController: format.json only, not an account's, open to
         * all (no signature asked) */
        return ap->json ? ngx_http_mastodon_ap_run(r, ctx) : 406;
    }

    if (ctx->ncaptures == 0
        || (!ap->json && ctx->route->pattern.data[1] == 'u'
            && (ctx->route->ap == ngx_http_mastodon_ap_actor
                || ctx->route->ap == ngx_http_mastodon_ap_note)))
    {
        /* the instance actor's routes, and a browser's redirects, which
         * Mastodon's routes answer before any controller */
        return ngx_http_mastodon_ap_continue(r, ctx);
    }

    return ngx_http_mastodon_ap_owner(r, ctx);
}


/* the account's checks passed: authorized fetch, then the route */
static ngx_int_t
ngx_http_mastodon_ap_continue(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    ngx_http_mastodon_ap_t  *ap;

    ap = ctx->data;

    /* authorized fetch (secure mode): HTML pages are never signed */
    if (ap->json) {
        return ngx_http_mastodon_authorized_fetch(r, ctx);
    }

    return ngx_http_mastodon_ap_run(r, ctx);
}


/*
 * AccountOwnedConcern, before the route: the owner of /users/:username/...
 * and /@:username/... is a local account, approved, not suspended for good
 * (410), not suspended for now (403; its actor JSON is still served), and
 * confirmed, in Mastodon's order.  An account suspended for good is one
 * deleted (`mastodon-worker accounts delete` keeps the row suspended,
 * without its user); one suspended with its user kept is Mastodon's
 * temporary suspension (a pending deletion request).
 */
static ngx_int_t
ngx_http_mastodon_ap_owner(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    const char  **values;

    if (!ngx_http_mastodon_ap_username(&ctx->captures[0])) {
        return NGX_HTTP_NOT_FOUND;
    }

    values = ngx_palloc(r->pool, sizeof(char *));
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[0] = ngx_http_mastodon_ap_cstr(r, &ctx->captures[0]);
    if (values[0] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_pg_query(r, &ngx_http_mastodon_ap_owner_stmt,
                                      values, ngx_http_mastodon_ap_owner_done,
                                      NULL);
}


static void
ngx_http_mastodon_ap_owner_done(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_int_t                 rc;
    PGresult                 *res;
    ngx_uint_t                suspended, user, approved, confirmed;
    ngx_http_request_t       *r;
    ngx_http_mastodon_ap_t   *ap;
    ngx_http_mastodon_ctx_t  *ctx;

    r = b->request;
    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);
    ap = ctx->data;

    res = ngx_http_mastodon_pg_rows(b, 0);
    if (res == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (PQntuples(res) != 1) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_NOT_FOUND);
        return;
    }

    suspended = ngx_http_mastodon_pg_bool(res, 0, 0);
    user = ngx_http_mastodon_pg_bool(res, 0, 1);
    approved = ngx_http_mastodon_pg_bool(res, 0, 2);
    confirmed = ngx_http_mastodon_pg_bool(res, 0, 3);

    if (user && !approved) {
        rc = NGX_HTTP_NOT_FOUND;                /* check_account_approval */

    } else if (suspended && !user) {
        rc = 410;                     /* suspended_permanently? */

    } else if (suspended
               && !(ap->json && ctx->route->ap == ngx_http_mastodon_ap_actor))
    {
        rc = NGX_HTTP_FORBIDDEN;                /* temporarily */

    } else if (!user || !confirmed) {
        rc = NGX_HTTP_NOT_FOUND;                /* check_account_confirmation */

    } else {
        rc = ngx_http_mastodon_ap_continue(r, ctx);

        if (rc == NGX_DONE) {
            /* the route waits on a backend: the reference goes on */
            return;
        }
    }

    if ((rc == 410 || rc == NGX_HTTP_FORBIDDEN)
        && ngx_http_mastodon_add_header(r, "Cache-Control",
                                        &ngx_http_mastodon_ap_gone_cache)
           != NGX_OK)
    {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mastodon_finalize(r, rc);
}


ngx_int_t
ngx_http_mastodon_ap_run(ngx_http_request_t *r, ngx_http_mastodon_ctx_t *ctx)
{
    return ctx->route->ap(r, ctx);
}


ngx_int_t
ngx_http_mastodon_ap_send(ngx_http_mastodon_json_t *j, time_t max_age)
{
    u_char                  *p;
    ngx_str_t                cache;
    ngx_http_request_t      *r;
    ngx_http_mastodon_ap_t  *ap;
    ngx_http_mastodon_ctx_t *ctx;

    r = j->request;
    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);
    ap = ctx->data;

    p = ngx_pnalloc(r->pool, sizeof("max-age=, private") + NGX_TIME_T_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cache.data = p;

    /* Mastodon's expires_in: public unless a signature decided */
    if (max_age == 0) {
        p = ngx_cpymem(p, "no-cache", sizeof("no-cache") - 1);

    } else {
        p = ngx_sprintf(p, "max-age=%T, %s", max_age,
                        ap->viewer ? "private" : "public");
    }

    cache.len = p - cache.data;

    if (ngx_http_mastodon_add_header(r, "Cache-Control", &cache) != NGX_OK
        || ngx_http_mastodon_add_header(r, "Vary", &ngx_http_mastodon_ap_vary)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_json_send_type(j, NGX_HTTP_OK,
                                            &ngx_http_mastodon_ap_type);
}


ngx_uint_t
ngx_http_mastodon_ap_username(ngx_str_t *s)
{
    u_char  *p;

    if (s->len == 0 || s->len > 64) {
        return 0;
    }

    for (p = s->data; p < s->data + s->len; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9')
              || *p == '_' || *p == '.' || *p == '-'))
        {
            return 0;
        }
    }

    return 1;
}


const char *
ngx_http_mastodon_ap_id(ngx_http_request_t *r, ngx_str_t *s)
{
    ngx_uint_t  i;

    if (s->len == 0 || s->len > 19) {
        return NULL;
    }

    for (i = 0; i < s->len; i++) {
        if (s->data[i] < '0' || s->data[i] > '9') {
            return NULL;
        }
    }

    /* a bigint: not above 2^63 - 1 (PostgreSQL would refuse it) */
    if (s->len == 19
        && ngx_strncmp(s->data, "9223372036854775807", 19) > 0)
    {
        return NULL;
    }

    return ngx_http_mastodon_ap_cstr(r, s);
}


const char *
ngx_http_mastodon_ap_cstr(ngx_http_request_t *r, ngx_str_t *s)
{
    u_char  *p;

    p = ngx_pnalloc(r->pool, s->len + 1);
    if (p == NULL) {
        return NULL;
    }

    *ngx_cpymem(p, s->data, s->len) = '\0';

    return (const char *) p;
}


const char *
ngx_http_mastodon_ap_uri(ngx_http_request_t *r, int kind, const char *name,
    const char *id)
{
    char                           *p;
    ngx_http_mastodon_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    p = ngx_pnalloc(r->pool, MSTDN_AP_URI_MAX);
    if (p == NULL) {
        return NULL;
    }

    if (mstdn_ap_uri(p, MSTDN_AP_URI_MAX, (const char *) mcf->base_url.data,
                     kind, name, id)
        < 0)
    {
        return NULL;
    }

    return p;
}
