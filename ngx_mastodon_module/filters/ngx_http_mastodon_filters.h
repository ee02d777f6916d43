/*
 * Filters (_filters.c): the user's custom filters (v2 with keywords and
 * statuses, and the v1 view of one keyword as a filter).
 */

#ifndef _NGX_HTTP_MASTODON_FILTERS_H_INCLUDED_
#define _NGX_HTTP_MASTODON_FILTERS_H_INCLUDED_


#include "ngx_http_mastodon_auth.h"


ngx_int_t ngx_http_mastodon_filters_index(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_filter_create(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_filter_show(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_filter_update(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_filter_delete(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_filter_keywords_index(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_filter_keyword_create(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_filter_keyword_show(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_filter_keyword_update(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_filter_keyword_delete(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_filter_statuses_index(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_filter_status_create(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_filter_status_show(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_filter_status_delete(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_filters_v1_index(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_filter_v1_create(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_filter_v1_show(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_filter_v1_update(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_filter_v1_delete(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);

/* CustomFilter#invalidate_cache!'s event on timeline:<account_id> */
void ngx_http_mastodon_filters_changed(ngx_http_request_t *r,
    int64_t account_id);


#endif /* _NGX_HTTP_MASTODON_FILTERS_H_INCLUDED_ */
