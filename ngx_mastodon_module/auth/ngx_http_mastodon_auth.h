/*
 * Who asks: bearer tokens and their scopes (_auth.c), rate limits
 * (_ratelimit.c), the OAuth back channel (_oauth.c) and front channel
 * (_authorize.c), browser sessions (_session.c), the e-mail confirmation
 * page (_confirm.c).
 */

#ifndef _NGX_HTTP_MASTODON_AUTH_H_INCLUDED_
#define _NGX_HTTP_MASTODON_AUTH_H_INCLUDED_


#include "ngx_http_mastodon_backend.h"


/* authentication */
ngx_int_t ngx_http_mastodon_auth(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
void ngx_http_mastodon_token_digest(ngx_str_t *token, u_char *hex);
void ngx_http_mastodon_auth_resume(ngx_http_request_t *r, redisReply *token,
    void *lookup);
void ngx_http_mastodon_auth_continue(ngx_http_request_t *r, ngx_int_t rc);
ngx_int_t ngx_http_mastodon_ratelimit(ngx_http_request_t *r, u_char *digest,
    u_char *token_key, size_t token_key_len, void *lookup);
ngx_int_t ngx_http_mastodon_ratelimit_resolved(ngx_http_request_t *r,
    ngx_int_t rc);
ngx_int_t ngx_http_mastodon_auth_revoke_cached(ngx_http_request_t *r,
    u_char *digest_hex, int64_t token_id,
    ngx_http_mastodon_redis_done_pt handler, void *data);
ngx_int_t ngx_http_mastodon_auth_forget_user_then(ngx_http_request_t *r,
    int64_t user_id, ngx_http_mastodon_redis_done_pt handler, void *data);


/* browser sessions and forms */
#define NGX_HTTP_MASTODON_SESSION_COOKIE  "_mastodon_session"
#define NGX_HTTP_MASTODON_CSRF_COOKIE     "_mastodon_csrf"
#define NGX_HTTP_MASTODON_SESSION_TTL     1209600     /* two weeks */

/* user id: 0 no session, -1 Redis failed */
typedef void (*ngx_http_mastodon_session_done_pt)(ngx_http_request_t *r,
    int64_t user_id, void *data);
typedef void (*ngx_http_mastodon_password_done_pt)(ngx_http_request_t *r,
    ngx_uint_t ok, void *data);

ngx_uint_t ngx_http_mastodon_secret_valid(ngx_str_t *s);
void ngx_http_mastodon_cookie(ngx_http_request_t *r, const char *name,
    ngx_str_t *value);
ngx_int_t ngx_http_mastodon_set_cookie(ngx_http_request_t *r,
    const char *name, ngx_str_t *value, ngx_int_t max_age);
void ngx_http_mastodon_csrf_token(ngx_str_t *secret, u_char *out);
ngx_uint_t ngx_http_mastodon_csrf_valid(ngx_http_mastodon_ctx_t *ctx,
    ngx_str_t *secret);
ngx_int_t ngx_http_mastodon_session_lookup(ngx_http_request_t *r,
    ngx_str_t *secret, ngx_http_mastodon_session_done_pt handler, void *data);
ngx_int_t ngx_http_mastodon_session_create(ngx_http_request_t *r,
    int64_t user_id, u_char *secret, ngx_http_mastodon_redis_done_pt handler,
    void *data);
ngx_int_t ngx_http_mastodon_password_check(ngx_http_request_t *r,
    ngx_str_t *password, ngx_str_t *hash,
    ngx_http_mastodon_password_done_pt handler, void *data);


/* OAuth helpers shared by the authorization and token endpoints */
ngx_int_t ngx_http_mastodon_oauth_scopes(ngx_http_request_t *r,
    ngx_str_t *requested, ngx_str_t *allowed, ngx_str_t *out);
ngx_uint_t ngx_http_mastodon_oauth_redirect_allowed(ngx_str_t *uri,
    ngx_str_t *registered);


/* endpoints */
ngx_int_t ngx_http_mastodon_confirmation(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_oauth_metadata(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_oauth_token(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_oauth_revoke(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_authorize_show(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_authorize_create(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_authorize_destroy(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_authorize_native(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_sign_in_show(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_sign_in_create(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);


#endif /* _NGX_HTTP_MASTODON_AUTH_H_INCLUDED_ */
