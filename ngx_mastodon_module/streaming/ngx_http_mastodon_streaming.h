/*
 * The streaming API (Mastodon's streaming server, inside nginx): the
 * event-stream endpoints and the stream they hold (_streaming.c): a
 * connection subscribed to Redis channels, the events written to it as
 * Mastodon's streaming server writes them.
 */

#ifndef _NGX_HTTP_MASTODON_STREAMING_H_INCLUDED_
#define _NGX_HTTP_MASTODON_STREAMING_H_INCLUDED_


#include "ngx_http_mastodon_api.h"


/* GET /api/v1/streaming/health */
ngx_int_t ngx_http_mastodon_streaming_health(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
/* GET /api/v1/streaming/<stream>: server-sent events */
ngx_int_t ngx_http_mastodon_streaming_sse(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
/* GET /api/v1/streaming: a WebSocket (without Upgrade: unknown) */
ngx_int_t ngx_http_mastodon_streaming_ws(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
/* any other path under /api/v1/streaming */
ngx_int_t ngx_http_mastodon_streaming_unknown(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);


#endif /* _NGX_HTTP_MASTODON_STREAMING_H_INCLUDED_ */
