/*
 * Pagination as Mastodon does it: max_id, since_id, min_id and limit, and a
 * Link header with rel="next" (older: max_id) and rel="prev" (newer:
 * since_id or min_id, as the endpoint's Mastodon controller writes it).
 *
 * Statements take the page as four parameters, SQL NULL when absent:
 *   ... AND ($2::bigint IS NULL OR x.id < $2)     max_id
 *       AND ($3::bigint IS NULL OR x.id > $3)     since_id
 *       AND ($4::bigint IS NULL OR x.id > $4)     min_id
 *   ORDER BY x.id DESC LIMIT $5
 * With min_id the page is the oldest ones above it: order ascending
 * (page->ascending) and emit the rows in reverse.
 */

#include "ngx_http_mastodon_core.h"
#include "ngx_http_mastodon_backend.h"


static int64_t
ngx_http_mastodon_page_id(ngx_http_mastodon_ctx_t *ctx, const char *key)
{
    int64_t  n;

    if (mstdn_param_int64(ctx->params, key, &n) != 0 || n <= 0) {
        return 0;                   /* absent or not an id: ignored */
    }

    return n;
}


void
ngx_http_mastodon_page_init(ngx_http_mastodon_ctx_t *ctx,
    ngx_http_mastodon_page_t *page, ngx_uint_t dflt, ngx_uint_t max)
{
    int64_t  n;

    page->max_id = ngx_http_mastodon_page_id(ctx, "max_id");
    page->since_id = ngx_http_mastodon_page_id(ctx, "since_id");
    page->min_id = ngx_http_mastodon_page_id(ctx, "min_id");
    page->ascending = page->min_id != 0;

    /* Mastodon clamps the limit; nonsense means the default */
    if (mstdn_param_int64(ctx->params, "limit", &n) != 0 || n <= 0) {
        page->limit = dflt;
    } else {
        page->limit = (ngx_uint_t) ngx_min(n, (int64_t) max);
    }
}


/* values[0..3]: max_id, since_id, min_id, limit, for a statement's $n.. */
void
ngx_http_mastodon_page_values(ngx_http_request_t *r,
    ngx_http_mastodon_page_t *page, const char **values)
{
    int64_t     n[4];
    ngx_uint_t  i;

    n[0] = page->max_id;
    n[1] = page->since_id;
    n[2] = page->min_id;
    n[3] = page->limit;

    for (i = 0; i < 4; i++) {
        /* 0, absent, is SQL NULL (limit 0: every row) */
        values[i] = n[i] ? ngx_http_mastodon_pg_int64(r, n[i]) : NULL;
    }
}


/*
 * Link: <base path?limit=N&max_id=OLDEST>; rel="next",
 *       <base path?limit=N&since_id=NEWEST>; rel="prev"
 * next_max_id 0: no next link (the page was not full); prev_id 0: no prev
 * link (the page was empty).  extra: more query, already encoded
 * ("exclude_replies=true&..."), or NULL.
 */
ngx_int_t
ngx_http_mastodon_page_link(ngx_http_request_t *r,
    ngx_http_mastodon_page_t *page, ngx_str_t *path, int64_t next_max_id,
    int64_t prev_id, const char *prev_key, const char *extra)
{
    u_char                         *p;
    size_t                          len, one;
    ngx_str_t                       link;
    ngx_http_mastodon_main_conf_t  *mcf;

    if (next_max_id == 0 && prev_id == 0) {
        return NGX_OK;
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    one = sizeof("<?limit=&since_id=>; rel=\"prev\", ") - 1 + mcf->base_url.len
          + path->len + 2 * NGX_INT64_LEN + (extra ? ngx_strlen(extra) + 1 : 0)
          + ngx_strlen(prev_key);
    len = 2 * one;

    link.data = ngx_pnalloc(r->pool, len);
    if (link.data == NULL) {
        return NGX_ERROR;
    }

    p = link.data;

    if (next_max_id) {
        p = ngx_sprintf(p, "<%V%V?%s%slimit=%ui&max_id=%L>; rel=\"next\"",
                        &mcf->base_url, path, extra ? extra : "",
                        extra ? "&" : "", page->limit, next_max_id);
    }

    if (prev_id) {
        p = ngx_sprintf(p, "%s<%V%V?%s%slimit=%ui&%s=%L>; rel=\"prev\"",
                        next_max_id ? ", " : "", &mcf->base_url, path,
                        extra ? extra : "", extra ? "&" : "", page->limit,
                        prev_key, prev_id);
    }

    link.len = p - link.data;

    return ngx_http_mastodon_add_header(r, "Link", &link);
}
