/*
 * The error filter (HTTP output filters, not Mastodon's content filters):
 * header and body filter for the module's locations:
 *  - every error answer on an API path, and to an ActivityPub client
 *    (ctx->ap_errors), carries Mastodon's {"error": "..."} body, whoever produced it (a route's status code, or nginx itself:
 *    413 for client_max_body_size, 400, 408, ...), because client libraries
 *    such as masto.js crash on an empty or HTML error body;
 *  - CORS headers as Mastodon's rack-cors set-up sends them, so browser
 *    clients (Elk, Phanpy) can call the API;
 *  - Retry-After on every 503 of the module's locations: a 503 here is a
 *    backend outage (PostgreSQL, Redis, the thread pool's queue), and the
 *    backends are retried within a second (their backoff's ceiling), unless
 *    the backend said when (the PostgreSQL pool, while it backs off).
 */

#include "ngx_http_mastodon_core.h"


static ngx_int_t ngx_http_mastodon_error_header_filter(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_mastodon_error_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_mastodon_error_json(ngx_http_request_t *r,
    ngx_http_mastodon_json_t *j, const char *message);
static ngx_int_t ngx_http_mastodon_cors_headers(ngx_http_request_t *r);
static ngx_uint_t ngx_http_mastodon_has_retry_after(ngx_http_request_t *r);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


static ngx_str_t  ngx_http_mastodon_api_prefixes[] = {
    ngx_string("/api/"),
    ngx_string("/oauth/"),
    ngx_string("/.well-known/"),
    ngx_string("/nodeinfo/"),
    ngx_null_string
};


/* seconds; the backends' backoff tops at one */
static ngx_str_t  ngx_http_mastodon_retry_after = ngx_string("1");

static ngx_str_t  ngx_http_mastodon_cors_origin = ngx_string("*");
static ngx_str_t  ngx_http_mastodon_cors_expose = ngx_string(
    "Link, X-RateLimit-Reset, X-RateLimit-Limit, X-RateLimit-Remaining, "
    "X-Request-Id, Idempotency-Key");
static ngx_str_t  ngx_http_mastodon_cors_methods = ngx_string(
    "POST, PUT, DELETE, GET, PATCH, OPTIONS");
static ngx_str_t  ngx_http_mastodon_cors_headers_default = ngx_string(
    "Authorization, Content-Type, Idempotency-Key");
static ngx_str_t  ngx_http_mastodon_cors_max_age = ngx_string("7200");
static ngx_str_t  ngx_http_mastodon_text_type = ngx_string(
    "text/plain; charset=utf-8");


ngx_int_t
ngx_http_mastodon_error_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_mastodon_error_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_mastodon_error_body_filter;

    return NGX_OK;
}


ngx_uint_t
ngx_http_mastodon_api_path(ngx_http_request_t *r)
{
    ngx_str_t  *p;

    for (p = ngx_http_mastodon_api_prefixes; p->len; p++) {
        if (r->uri.len >= p->len
            && ngx_strncmp(r->uri.data, p->data, p->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


static ngx_int_t
ngx_http_mastodon_error_header_filter(ngx_http_request_t *r)
{
    ngx_buf_t                     *b;
    ngx_uint_t                     ap;
    ngx_http_mastodon_ctx_t       *ctx;
    ngx_http_mastodon_json_t       j;
    ngx_http_mastodon_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mastodon_module);

    if (!mlcf->enable || r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    if (r->headers_out.status == NGX_HTTP_SERVICE_UNAVAILABLE
        && !ngx_http_mastodon_has_retry_after(r)
        && ngx_http_mastodon_add_header(r, "Retry-After",
                                        &ngx_http_mastodon_retry_after)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    /* an ActivityPub client's errors are JSON too (respond_with_error) */
    ap = (ctx != NULL && ctx->ap_errors);

    if (!ap) {
        if (!ngx_http_mastodon_api_path(r)) {
            return ngx_http_next_header_filter(r);
        }

        if (ngx_http_mastodon_cors_headers(r) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (r->headers_out.status < NGX_HTTP_BAD_REQUEST) {
        return ngx_http_next_header_filter(r);
    }

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_ctx_t));
        if (ctx == NULL) {
            return NGX_ERROR;
        }
        ngx_http_set_ctx(r, ctx, ngx_http_mastodon_module);
    }

    if (ctx->own_body) {
        return ngx_http_next_header_filter(r);
    }

    /* render {"error": ...} now; the body filter swaps it in */

    /* no message, or one yajl refused: the status's own words, still JSON */
    if ((ctx->error_message == NULL
         || ngx_http_mastodon_error_json(r, &j, ctx->error_message) != NGX_OK)
        && ngx_http_mastodon_error_json(r, &j,
               ap ? ngx_http_mastodon_status_phrase(r->headers_out.status)
                  : ngx_http_mastodon_status_message(r->headers_out.status))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    b = j.out->buf;
    b->last_buf = 1;
    b->last_in_chain = 1;

    ctx->error_chain = j.out;
    ctx->error_body = 1;

    ngx_str_set(&r->headers_out.content_type,
                "application/json; charset=utf-8");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.charset.len = 0;
    r->headers_out.content_length_n = b->last - b->pos;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    /* nginx's own error pages need their body to be one buffer */
    r->allow_ranges = 0;

    return ngx_http_next_header_filter(r);
}


/* {"error": message} in one buffer, as the body filter sends it */
static ngx_int_t
ngx_http_mastodon_error_json(ngx_http_request_t *r,
    ngx_http_mastodon_json_t *j, const char *message)
{
    if (ngx_http_mastodon_json_init(r, j) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_mastodon_json_open(j, NULL);
    ngx_http_mastodon_json_kv_cstr(j, "error", message);
    ngx_http_mastodon_json_close(j);

    if (j->failed || j->out == NULL || j->out->next != NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_mastodon_error_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_uint_t                last;
    ngx_chain_t              *cl, *out;
    ngx_http_mastodon_ctx_t  *ctx;

    if (r != r->main) {
        return ngx_http_next_body_filter(r, in);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    if (ctx == NULL || !ctx->error_body) {
        return ngx_http_next_body_filter(r, in);
    }

    /* swallow whatever body nginx or a handler wanted to send */

    last = 0;

    for (cl = in; cl; cl = cl->next) {
        if (cl->buf->last_buf || cl->buf->last_in_chain) {
            last = 1;
        }
        cl->buf->pos = cl->buf->last;
        cl->buf->file_pos = cl->buf->file_last;
    }

    if (ctx->error_sent || !last) {
        return ngx_http_next_body_filter(r, NULL);
    }

    ctx->error_sent = 1;
    out = ctx->error_chain;

    return ngx_http_next_body_filter(r, out);
}


static ngx_int_t
ngx_http_mastodon_cors_headers(ngx_http_request_t *r)
{
    if (ngx_http_mastodon_add_header(r, "Access-Control-Allow-Origin",
                                     &ngx_http_mastodon_cors_origin)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_mastodon_add_header(r, "Access-Control-Expose-Headers",
                                        &ngx_http_mastodon_cors_expose);
}


/*
 * OPTIONS on an API path: the CORS preflight, answered without routing as
 * rack-cors does (200, empty body; Allow-Origin and Expose-Headers come from
 * the header filter).
 */
ngx_int_t
ngx_http_mastodon_cors_preflight(ngx_http_request_t *r)
{
    ngx_str_t         *allow, empty;
    ngx_table_elt_t   *h;

    allow = &ngx_http_mastodon_cors_headers_default;

    h = ngx_http_mastodon_header_in(r, "Access-Control-Request-Headers",
                                    NULL);
    if (h && h->value.len) {
        /* headers: :any, as Mastodon's rack-cors resource says */
        allow = &h->value;
    }

    if (ngx_http_mastodon_add_header(r, "Access-Control-Allow-Methods",
                                     &ngx_http_mastodon_cors_methods)
            != NGX_OK
        || ngx_http_mastodon_add_header(r, "Access-Control-Allow-Headers",
                                        allow)
           != NGX_OK
        || ngx_http_mastodon_add_header(r, "Access-Control-Max-Age",
                                        &ngx_http_mastodon_cors_max_age)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_null(&empty);

    return ngx_http_mastodon_send_text(r, NGX_HTTP_OK,
                                       &ngx_http_mastodon_text_type, &empty);
}


static ngx_uint_t
ngx_http_mastodon_has_retry_after(ngx_http_request_t *r)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return 0;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash
            && h[i].key.len == sizeof("Retry-After") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "Retry-After",
                               sizeof("Retry-After") - 1)
               == 0)
        {
            return 1;
        }
    }
}
