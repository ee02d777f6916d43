/*
 * Secrets in query strings (?access_token=, ?code=, ?client_secret=, ...)
 * kept out of nginx's logs as Rails' filter_parameters keeps them out of
 * Mastodon's (the names: lib/mstdn_logfilter.c).  A post-read phase handler
 * rewrites the request line, which the access log prints as $request and
 * the error log as "request: ..."; the content handler swaps r->args and
 * r->unparsed_uri ($args, $request_uri) for filtered copies after keeping
 * the query as received for the parameters.  Locations without `mastodon`
 * (a proxied streaming server, say) keep their arguments as they came.
 * nginx's own debug log prints the request line before any module runs.
 */

#include "ngx_http_mastodon_core.h"
#include "mstdn_logfilter.h"


static ngx_int_t ngx_http_mastodon_logfilter_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_mastodon_logfilter_str(ngx_http_request_t *r,
    ngx_str_t *s, u_char *start, u_char *end);


ngx_int_t
ngx_http_mastodon_logfilter_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt            *h;
    ngx_http_core_main_conf_t      *cmcf;
    ngx_http_mastodon_main_conf_t  *mcf;

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mastodon_module);
    if (!mcf->enabled) {
        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_POST_READ_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_mastodon_logfilter_handler;

    return NGX_OK;
}


/* The request line: the logs' only copy until the content handler runs. */
static ngx_int_t
ngx_http_mastodon_logfilter_handler(ngx_http_request_t *r)
{
    u_char     *start, *end, *p;
    ngx_str_t  *line;

    line = &r->request_line;

    if (r != r->main || r->args.len == 0 || line->len == 0) {
        return NGX_DECLINED;
    }

    if (r->args.data >= line->data
        && r->args.data + r->args.len <= line->data + line->len)
    {
        /* HTTP/1: the arguments lie in the request line */
        start = r->args.data;
        end = start + r->args.len;

    } else {
        /* HTTP/2 and 3 build the line: the query ends at the last space */
        start = ngx_strlchr(line->data, line->data + line->len, '?');
        if (start == NULL) {
            return NGX_DECLINED;
        }

        start++;
        end = line->data + line->len;

        for (p = end; p > start; p--) {
            if (p[-1] == ' ') {
                end = p - 1;
                break;
            }
        }
    }

    if (ngx_http_mastodon_logfilter_str(r, line, start, end) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DECLINED;
}


/* Before anything else in the content handler: ctx->args is what to parse. */
ngx_int_t
ngx_http_mastodon_logfilter_args(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    u_char  *q;

    ctx->args = r->args;

    if (r->args.len == 0) {
        return NGX_OK;
    }

    if (ngx_http_mastodon_logfilter_str(r, &r->args, r->args.data,
                                        r->args.data + r->args.len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    q = ngx_strlchr(r->unparsed_uri.data,
                    r->unparsed_uri.data + r->unparsed_uri.len, '?');

    if (q == NULL) {
        return NGX_OK;
    }

    return ngx_http_mastodon_logfilter_str(r, &r->unparsed_uri, q + 1,
                              r->unparsed_uri.data + r->unparsed_uri.len);
}


/* s with its query [start, end) filtered, in a copy; s itself is kept. */
static ngx_int_t
ngx_http_mastodon_logfilter_str(ngx_http_request_t *r, ngx_str_t *s,
    u_char *start, u_char *end)
{
    u_char  *buf, *p;
    size_t   n, head, tail;

    head = start - s->data;
    tail = s->data + s->len - end;

    buf = ngx_pnalloc(r->pool, head + tail
                      + mstdn_logfilter_size((char *) start, end - start));
    if (buf == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(buf, s->data, head);

    n = mstdn_logfilter_query((char *) start, end - start, (char *) p);
    if (n == 0) {
        /* nothing secret: the few bytes go back with the pool */
        return NGX_OK;
    }

    p = ngx_cpymem(p + n, end, tail);

    s->data = buf;
    s->len = p - buf;

    return NGX_OK;
}
