
/*
 * Rails' render_empty: the {} body of Mastodon's deletes, dismissals and
 * reads, written once for every handler that answers so.
 */


#include "ngx_http_mastodon_api.h"


static ngx_str_t  ngx_http_mastodon_empty_type =
    ngx_string("application/json; charset=utf-8");
static ngx_str_t  ngx_http_mastodon_empty_body = ngx_string("{}");


ngx_int_t
ngx_http_mastodon_send_empty(ngx_http_request_t *r)
{
    return ngx_http_mastodon_send_text(r, NGX_HTTP_OK,
                                       &ngx_http_mastodon_empty_type,
                                       &ngx_http_mastodon_empty_body);
}


/*
 * A pg batch's done handler for a statement that returns the row it acted
 * on: {} when it found one, 404 when none, 503 when the batch failed.
 */
void
ngx_http_mastodon_empty_if_found(ngx_http_mastodon_pg_batch_t *b)
{
    PGresult  *res;

    res = ngx_http_mastodon_pg_rows(b, 0);

    if (res == NULL) {
        ngx_http_mastodon_finalize(b->request, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    ngx_http_mastodon_finalize(b->request, PQntuples(res) == 0
                                           ? NGX_HTTP_NOT_FOUND
                                           : ngx_http_mastodon_send_empty(
                                                                 b->request));
}
