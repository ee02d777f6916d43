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


/* the first Accept header (nginx keeps them all in the list) */
static ngx_table_elt_t *
ngx_http_mastodon_ap_accept_header(ngx_http_request_t *r)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == sizeof("Accept") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "Accept",
                               sizeof("Accept") - 1) == 0)
        {
            return &h[i];
        }
    }
}


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

    accept = ngx_http_mastodon_ap_accept_header(r);

    wants = accept ? mstdn_ap_accept((char *) accept->value.data,
                                     accept->value.len)
                   : MSTDN_AP_WANTS_HTML;

    if (wants == MSTDN_AP_WANTS_NONE) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: nothing acceptable in \"Accept: %V\"",
                      &accept->value);
        return 406;                     /* ActionController::UnknownFormat */
    }

    ap->json = (wants == MSTDN_AP_WANTS_JSON);

    /* authorized fetch (secure mode): HTML pages are never signed */
    if (ap->json) {
        return ngx_http_mastodon_authorized_fetch(r, ctx);
    }

    return ngx_http_mastodon_ap_run(r, ctx);
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
