/*
 * GET /.well-known/webfinger?resource=...: Mastodon's WebfingerController
 * and WebfingerResource.  The resource is acct:user@domain (domain our
 * LOCAL_DOMAIN or WEB_DOMAIN), or the URL of an account (/users/NAME,
 * /@NAME) or of the instance actor (/actor, or the bare domain).  Errors
 * are bodiless as Mastodon's `head`: 400 without a usable resource, 404
 * for an unknown account or another domain.
 */

#include "ngx_http_mastodon_activitypub.h"


static ngx_str_t  ngx_http_mastodon_jrd_type =
    ngx_string("application/jrd+json; charset=utf-8");


static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_webfinger_stmt =
    ngx_http_mastodon_pg_stmt(
    "SELECT a.username FROM accounts a"
    " WHERE lower(a.username) = lower($1) AND a.domain IS NULL"
    " AND a.id > 0", 1);


static ngx_int_t ngx_http_mastodon_webfinger_head(ngx_http_request_t *r,
    ngx_uint_t status);
static ngx_int_t ngx_http_mastodon_webfinger_send(ngx_http_request_t *r,
    const char *username);
static void ngx_http_mastodon_webfinger_done(ngx_http_mastodon_pg_batch_t *b);
static ngx_uint_t ngx_http_mastodon_webfinger_is_domain(ngx_http_request_t *r,
    const u_char *s, size_t len);


ngx_int_t
ngx_http_mastodon_webfinger(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    u_char                         *p, *last, *at, *name, *host;
    size_t                          len;
    const char                     *res, **values;
    ngx_str_t                       username;
    ngx_http_mastodon_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    res = mstdn_param_str(ctx->params, "resource", &len);

    if (res == NULL || len == 0 || len > 2048) {
        return ngx_http_mastodon_webfinger_head(r, NGX_HTTP_BAD_REQUEST);
    }

    p = (u_char *) res;
    last = p + len;

    /* the instance actor: (https?://)?DOMAIN/? */
    name = p;

    if (len > 7 && ngx_strncmp(name, "http://", 7) == 0) {
        name += 7;

    } else if (len > 8 && ngx_strncmp(name, "https://", 8) == 0) {
        name += 8;
    }

    host = last;
    if (host > name && host[-1] == '/') {
        host--;
    }

    if (ngx_http_mastodon_webfinger_is_domain(r, name, host - name)) {
        return ngx_http_mastodon_webfinger_send(r, NULL);
    }

    if (len > 4 && ngx_strncasecmp(p, (u_char *) "http", 4) == 0) {

        /* an account's URL: the path decides (recognize_path) */
        if (name == p) {
            return ngx_http_mastodon_webfinger_head(r, NGX_HTTP_NOT_FOUND);
        }

        name = ngx_strlchr(name, last, '/');
        if (name == NULL) {
            return ngx_http_mastodon_webfinger_head(r, NGX_HTTP_NOT_FOUND);
        }

        host = name;
        while (host < last && *host != '?' && *host != '#') {
            host++;
        }

        last = host;
        if (last - name > 1 && last[-1] == '/') {
            last--;
        }

        if (last - name == 6 && ngx_strncmp(name, "/actor", 6) == 0) {
            return ngx_http_mastodon_webfinger_send(r, NULL);
        }

        if (last - name > 7 && ngx_strncmp(name, "/users/", 7) == 0) {
            username.data = name + 7;

        } else if (last - name > 2 && ngx_strncmp(name, "/@", 2) == 0) {
            username.data = name + 2;

        } else {
            return ngx_http_mastodon_webfinger_head(r, NGX_HTTP_NOT_FOUND);
        }

        username.len = last - username.data;

    } else if ((at = ngx_strlchr(p, last, '@')) != NULL) {

        /* acct:user@domain (split('@'): the first part and the last) */
        if (len > 5 && ngx_strncmp(p, "acct:", 5) == 0) {
            p += 5;
        }

        at = ngx_strlchr(p, last, '@');
        host = last;
        while (host > p && host[-1] != '@') {
            host--;
        }

        if (at == NULL || at == p
            || !ngx_http_mastodon_webfinger_is_domain(r, host, last - host))
        {
            return ngx_http_mastodon_webfinger_head(r, NGX_HTTP_NOT_FOUND);
        }

        username.data = p;
        username.len = at - p;

    } else {
        return ngx_http_mastodon_webfinger_head(r, NGX_HTTP_BAD_REQUEST);
    }

    /* Account.representative by its username, the local domain */
    if (username.len == mcf->domain.len
        && ngx_strncmp(username.data, mcf->domain.data, username.len) == 0)
    {
        return ngx_http_mastodon_webfinger_send(r, NULL);
    }

    if (username.len == mcf->web_domain.len
        && ngx_strncmp(username.data, mcf->web_domain.data, username.len)
           == 0)
    {
        return ngx_http_mastodon_webfinger_send(r, NULL);
    }

    if (!ngx_http_mastodon_ap_username(&username)) {
        return ngx_http_mastodon_webfinger_head(r, NGX_HTTP_NOT_FOUND);
    }

    values = ngx_palloc(r->pool, sizeof(char *));
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[0] = ngx_http_mastodon_ap_cstr(r, &username);
    if (values[0] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_pg_query(r, &ngx_http_mastodon_webfinger_stmt,
                                      values,
                                      ngx_http_mastodon_webfinger_done, NULL);
}


static void
ngx_http_mastodon_webfinger_done(ngx_http_mastodon_pg_batch_t *b)
{
    PGresult            *res;
    ngx_http_request_t  *r;

    r = b->request;

    res = ngx_http_mastodon_pg_rows(b, 0);
    if (res == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (PQntuples(res) != 1) {
        ngx_http_mastodon_finalize(r,
            ngx_http_mastodon_webfinger_head(r, NGX_HTTP_NOT_FOUND));
        return;
    }

    ngx_http_mastodon_finalize(r,
        ngx_http_mastodon_webfinger_send(r, PQgetvalue(res, 0, 0)));
}


/* username NULL: the instance actor */
static ngx_int_t
ngx_http_mastodon_webfinger_send(ngx_http_request_t *r, const char *username)
{
    ngx_http_mastodon_json_t        j;
    ngx_http_mastodon_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    if (ngx_http_mastodon_add_header(r, "Cache-Control",
            &(ngx_str_t) ngx_string("max-age=259200, public"))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (mstdn_ap_webfinger(j.gen, (const char *) mcf->base_url.data,
                           (const char *) mcf->domain.data, username,
                           (const char *) mcf->domain.data)
        != 0)
    {
        j.failed = 1;
    }

    return ngx_http_mastodon_json_send_type(&j, NGX_HTTP_OK,
                                            &ngx_http_mastodon_jrd_type);
}


/* Mastodon's `head status`, cached for 3 minutes */
static ngx_int_t
ngx_http_mastodon_webfinger_head(ngx_http_request_t *r, ngx_uint_t status)
{
    ngx_str_t  empty = ngx_string("");

    if (ngx_http_mastodon_add_header(r, "Cache-Control",
            &(ngx_str_t) ngx_string("max-age=180, public"))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_send_text(r, status, &ngx_http_mastodon_jrd_type,
                                       &empty);
}


/* LOCAL_DOMAIN or WEB_DOMAIN (TagManager#local_domain?, #web_domain?) */
static ngx_uint_t
ngx_http_mastodon_webfinger_is_domain(ngx_http_request_t *r, const u_char *s,
    size_t len)
{
    ngx_http_mastodon_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    return (len == mcf->domain.len
            && ngx_strncasecmp((u_char *) s, mcf->domain.data, len) == 0)
           || (len == mcf->web_domain.len
               && ngx_strncasecmp((u_char *) s, mcf->web_domain.data, len)
                  == 0);
}
