/*
 * Who is asking: the OAuth bearer token of a request, its scopes, and its
 * user's state, checked against the route's requirements before the
 * endpoint runs (Doorkeeper's doorkeeper_authorize and Mastodon's
 * require_user!, with their status codes and messages).
 *
 * Tokens are stored as SHA-256 digests only.  A look-up costs one Redis
 * GET in the common case: the token's row (with its user's state) is cached
 * under mastodon:token:<digest> for NGX_HTTP_MASTODON_TOKEN_TTL seconds.
 * The cache is filled with SET NX, and revocation writes a tombstone
 * without NX, so a fill that raced with a revocation can never win: a
 * revoked token is refused at once.  Redis down: the look-up goes to
 * PostgreSQL.
 */

#include <openssl/sha.h>

#include "ngx_http_mastodon_auth.h"
#include "mstdn_oauth.h"


#define NGX_HTTP_MASTODON_TOKEN_TTL      300
#define NGX_HTTP_MASTODON_TOKEN_MAX      256
#define NGX_HTTP_MASTODON_TOKEN_REVOKED  "revoked"
/* mastodon:token:<digest>: the cached token */
#define NGX_HTTP_MASTODON_TOKEN_KEY      "mastodon:token:"
#define NGX_HTTP_MASTODON_TOKEN_KEY_LEN                                       \
    (sizeof(NGX_HTTP_MASTODON_TOKEN_KEY) - 1 + SHA256_DIGEST_LENGTH * 2)

#define NGX_HTTP_MASTODON_AUTH_CONFIRMED  0x01
#define NGX_HTTP_MASTODON_AUTH_APPROVED   0x02
#define NGX_HTTP_MASTODON_AUTH_DISABLED   0x04
#define NGX_HTTP_MASTODON_AUTH_SUSPENDED  0x08
#define NGX_HTTP_MASTODON_AUTH_STALE      0x10  /* not seen for a day */


typedef struct {
    ngx_str_t                   token;
    u_char                      digest[SHA256_DIGEST_LENGTH * 2];
    u_char                      key[NGX_HTTP_MASTODON_TOKEN_KEY_LEN];
} ngx_http_mastodon_auth_lookup_t;


static ngx_int_t ngx_http_mastodon_auth_bearer(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_str_t *token);
static void ngx_http_mastodon_auth_cached(ngx_http_request_t *r,
    redisReply *reply, void *data);
static ngx_int_t ngx_http_mastodon_auth_query(ngx_http_request_t *r,
    ngx_http_mastodon_auth_lookup_t *lk);
static void ngx_http_mastodon_auth_loaded(ngx_http_mastodon_pg_batch_t *b);
static ngx_int_t ngx_http_mastodon_auth_parse(ngx_http_request_t *r,
    u_char *p, size_t len, ngx_http_mastodon_auth_t *auth);
static ngx_int_t ngx_http_mastodon_auth_check(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
static ngx_int_t ngx_http_mastodon_auth_fail(ngx_http_request_t *r,
    ngx_uint_t status, const char *message);
static void ngx_http_mastodon_auth_touch(ngx_http_request_t *r,
    ngx_http_mastodon_auth_t *auth);
static void ngx_http_mastodon_auth_touched(ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_auth_key(u_char *key, u_char *digest);


static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_touch_stmt =
    ngx_http_mastodon_pg_stmt(
        "UPDATE users SET last_sign_in_at = coalesce(current_sign_in_at,"
        "  now() AT TIME ZONE 'UTC'),"
        " current_sign_in_at = now() AT TIME ZONE 'UTC'"
        " WHERE id = $1::bigint AND (current_sign_in_at IS NULL"
        "  OR current_sign_in_at < (now() AT TIME ZONE 'UTC') - interval '1 day')",
        1);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_auth_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT t.id, coalesce(t.application_id, 0),"
        " coalesce(t.resource_owner_id, 0), coalesce(u.account_id, 0),"
        " (CASE WHEN u.confirmed_at IS NOT NULL THEN 1 ELSE 0 END"
        "  | CASE WHEN coalesce(u.approved, true) THEN 2 ELSE 0 END"
        "  | CASE WHEN coalesce(u.disabled, false) THEN 4 ELSE 0 END"
        "  | CASE WHEN a.suspended_at IS NOT NULL THEN 8 ELSE 0 END"
        "  | CASE WHEN u.id IS NOT NULL AND (u.current_sign_in_at IS NULL"
        "     OR u.current_sign_in_at"
        "        < (now() AT TIME ZONE 'UTC') - interval '1 day')"
        "    THEN 16 ELSE 0 END),"
        " coalesce(r.permissions, 0),"
        " extract(epoch FROM t.created_at"
        "  + make_interval(secs => t.expires_in)"
        "  - (now() AT TIME ZONE 'UTC'))::bigint,"          /* NULL: never */
        " t.revoked_at IS NOT NULL,"
        " coalesce(t.scopes, '')"
        " FROM oauth_access_tokens t"
        " LEFT JOIN users u ON u.id = t.resource_owner_id"
        " LEFT JOIN accounts a ON a.id = u.account_id"
        " LEFT JOIN user_roles r ON r.id = u.role_id"
        " WHERE t.token = $1", 1);


/*
 * After the rate limit's count: token is the cached entry it fetched (NULL
 * when the count failed or nothing was fetched), lookup the token look-up
 * (NULL without a token).
 */
void
ngx_http_mastodon_auth_resume(ngx_http_request_t *r, redisReply *token,
    void *lookup)
{
    ngx_int_t                 rc;
    ngx_http_mastodon_ctx_t  *ctx;

    if (lookup) {
        /* a nil or failed fetch falls back to PostgreSQL there */
        ngx_http_mastodon_auth_cached(r, token, lookup);
        return;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    rc = ctx->route->auth == NGX_HTTP_MASTODON_AUTH_NONE
         ? NGX_OK : ngx_http_mastodon_auth_check(r, ctx);

    ngx_http_mastodon_auth_continue(r, rc);
}


/* SHA-256 of a token, lower-case hex: what oauth_access_tokens.token holds */
void
ngx_http_mastodon_token_digest(ngx_str_t *token, u_char *hex)
{
    u_char  md[SHA256_DIGEST_LENGTH];

    SHA256(token->data, token->len, md);
    ngx_hex_dump(hex, md, SHA256_DIGEST_LENGTH);
}


/*
 * NGX_OK: go on (anonymous, or no token needed).  NGX_DONE: a look-up is
 * under way and will continue the request.  A status: refused.
 */
ngx_int_t
ngx_http_mastodon_auth(ngx_http_request_t *r, ngx_http_mastodon_ctx_t *ctx)
{
    ngx_int_t                         rc;
    ngx_str_t                         token;
    ngx_http_mastodon_auth_lookup_t  *lk;
    const char                       *argv[2];
    size_t                            argvlen[2];

    if (ctx->route->auth == NGX_HTTP_MASTODON_AUTH_NONE) {
        /* rate limits still count; NGX_DONE: the count goes on */
        rc = ngx_http_mastodon_ratelimit(r, NULL, NULL, 0, NULL);
        return rc == NGX_DECLINED ? NGX_OK : rc;
    }

    rc = ngx_http_mastodon_auth_bearer(r, ctx, &token);
    if (rc != NGX_OK) {
        return rc;
    }

    if (token.len == 0) {
        rc = ngx_http_mastodon_ratelimit(r, NULL, NULL, 0, NULL);
        if (rc != NGX_DECLINED) {
            return rc;
        }
        return ngx_http_mastodon_auth_check(r, ctx);
    }

    lk = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_auth_lookup_t));
    if (lk == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    lk->token = token;
    ngx_http_mastodon_token_digest(&token, lk->digest);
    ngx_http_mastodon_auth_key(lk->key, lk->digest);

    /* the rate limit's count fetches the cached token in the same trip */
    rc = ngx_http_mastodon_ratelimit(r, lk->digest, lk->key, sizeof(lk->key),
                                     lk);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    argv[0] = "GET";
    argvlen[0] = 3;
    argv[1] = (const char *) lk->key;
    argvlen[1] = sizeof(lk->key);

    if (ngx_http_mastodon_redis_command(r, ngx_http_mastodon_auth_cached, lk,
                                        2, argv, argvlen)
        == NGX_OK)
    {
        return NGX_DONE;
    }

    /* no Redis: PostgreSQL still knows */
    return ngx_http_mastodon_auth_query(r, lk);
}


/* "Authorization: Bearer <token>", or the access_token parameter. */
static ngx_int_t
ngx_http_mastodon_auth_bearer(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_str_t *token)
{
    u_char           *p, *last;
    size_t            len;
    const char       *s;
    ngx_table_elt_t  *h;

    ngx_str_null(token);

    if (r->headers_in.authorization) {
        p = r->headers_in.authorization->value.data;
        last = p + r->headers_in.authorization->value.len;

        /*
         * Another scheme (Basic, for a site behind a password) is no
         * token: Doorkeeper reads only Bearer.
         */
        if (last - p >= 7
            && ngx_strncasecmp(p, (u_char *) "Bearer ", 7) == 0)
        {
            for (p += 7; p < last && *p == ' '; p++) { /* void */ }
            while (last > p && last[-1] == ' ') {
                last--;
            }

            token->data = p;
            token->len = last - p;
        }
    }

    if (token->data == NULL) {
        s = mstdn_param_str(ctx->params, "access_token", &len);
        if (s) {
            token->data = (u_char *) s;
            token->len = len;
        }
    }

    if (token->data == NULL
        && ctx->route->auth == NGX_HTTP_MASTODON_AUTH_STREAM)
    {
        /* a browser's WebSocket can send no header but this one */
        h = ngx_http_mastodon_header_in(r, "Sec-WebSocket-Protocol", NULL);
        if (h) {
            *token = h->value;
        }
    }

    if (token->len > NGX_HTTP_MASTODON_TOKEN_MAX
        || (token->data && token->len == 0))
    {
        return ngx_http_mastodon_auth_fail(r, NGX_HTTP_UNAUTHORIZED,
                                           "The access token is invalid");
    }

    return NGX_OK;
}


static void
ngx_http_mastodon_auth_cached(ngx_http_request_t *r, redisReply *reply,
    void *data)
{
    ngx_int_t                         rc;
    ngx_http_mastodon_ctx_t          *ctx;
    ngx_http_mastodon_auth_lookup_t  *lk = data;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    if (reply && reply->type == REDIS_REPLY_STRING) {

        if ((size_t) reply->len == sizeof(NGX_HTTP_MASTODON_TOKEN_REVOKED) - 1
            && ngx_strncmp(reply->str, NGX_HTTP_MASTODON_TOKEN_REVOKED,
                           reply->len) == 0)
        {
            ngx_http_mastodon_auth_continue(r,
                ngx_http_mastodon_auth_fail(r, NGX_HTTP_UNAUTHORIZED,
                                            "The access token was revoked"));
            return;
        }

        ctx->auth = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_auth_t));
        if (ctx->auth == NULL
            || ngx_http_mastodon_auth_parse(r, (u_char *) reply->str,
                                            reply->len, ctx->auth)
               != NGX_OK)
        {
            ctx->auth = NULL;       /* unreadable: ask PostgreSQL */
        } else {
            ctx->auth->digest = lk->digest;
            ctx->auth->bearer = lk->token;
            ngx_http_mastodon_auth_continue(r,
                                          ngx_http_mastodon_auth_check(r, ctx));
            return;
        }
    }

    /* a miss (nil), or Redis failed: PostgreSQL */
    rc = ngx_http_mastodon_auth_query(r, lk);

    if (rc != NGX_DONE) {
        ngx_http_mastodon_auth_continue(r, rc);
    }
}


static ngx_int_t
ngx_http_mastodon_auth_query(ngx_http_request_t *r,
    ngx_http_mastodon_auth_lookup_t *lk)
{
    const char                    **values;

    values = ngx_palloc(r->pool, sizeof(char *));
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[0] = (const char *) ngx_pnalloc(r->pool, sizeof(lk->digest) + 1);
    if (values[0] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    ngx_cpystrn((u_char *) values[0], lk->digest, sizeof(lk->digest) + 1);

    return ngx_http_mastodon_pg_query(r, &ngx_http_mastodon_auth_stmt, values,
                                      ngx_http_mastodon_auth_loaded, lk);
}


static void
ngx_http_mastodon_auth_loaded(ngx_http_mastodon_pg_batch_t *b)
{
    u_char                           *p, *v;
    int64_t                           ttl;
    PGresult                         *res;
    ngx_http_request_t               *r;
    ngx_http_mastodon_ctx_t          *ctx;
    ngx_http_mastodon_auth_t         *auth;
    ngx_http_mastodon_auth_lookup_t  *lk;
    const char                       *argv[9];
    size_t                            argvlen[9];
    u_char                            ttlbuf[NGX_INT64_LEN];

    r = b->request;
    lk = b->data;
    res = ngx_http_mastodon_pg_rows(b, 0);
    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    if (res == NULL) {
        ngx_http_mastodon_auth_continue(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (PQntuples(res) != 1) {
        ngx_http_mastodon_auth_continue(r,
            ngx_http_mastodon_auth_fail(r, NGX_HTTP_UNAUTHORIZED,
                                        "The access token is invalid"));
        return;
    }

    if (PQgetvalue(res, 0, 7)[0] == 't') {
        ngx_http_mastodon_auth_continue(r,
            ngx_http_mastodon_auth_fail(r, NGX_HTTP_UNAUTHORIZED,
                                        "The access token was revoked"));
        return;
    }

    if (PQgetisnull(res, 0, 6)) {
        ttl = NGX_HTTP_MASTODON_TOKEN_TTL;      /* never expires */

    } else if (PQgetvalue(res, 0, 6)[0] == '-'
               || (ttl = ngx_atoof((u_char *) PQgetvalue(res, 0, 6),
                                   PQgetlength(res, 0, 6)))
                  <= 0)
    {
        ngx_http_mastodon_auth_continue(r,
            ngx_http_mastodon_auth_fail(r, NGX_HTTP_UNAUTHORIZED,
                                        "The access token expired"));
        return;
    }

    ttl = ngx_min(ttl, NGX_HTTP_MASTODON_TOKEN_TTL);

    /* "id app user account flags permissions scopes..." */
    v = ngx_pnalloc(r->pool, 6 * NGX_INT64_LEN + PQgetlength(res, 0, 8) + 8);
    if (v == NULL) {
        ngx_http_mastodon_auth_continue(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    p = ngx_sprintf(v, "%s %s %s %s %s %s %s",
                    PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
                    PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3),
                    PQgetvalue(res, 0, 4), PQgetvalue(res, 0, 5),
                    PQgetvalue(res, 0, 8));

    auth = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_auth_t));
    if (auth == NULL
        || ngx_http_mastodon_auth_parse(r, v, p - v, auth) != NGX_OK)
    {
        ngx_http_mastodon_auth_continue(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    auth->digest = lk->digest;
    auth->bearer = lk->token;
    ctx->auth = auth;

    /*
     * Cache it, atomically with its entry in the user's set, which outlives
     * every entry it lists (600 s > NGX_HTTP_MASTODON_TOKEN_TTL).  NX: a
     * revocation's tombstone is never overwritten.  Not at all while the
     * user's state has just changed (mastodon:user_changed:<id>, set by
     * forget_user_then): this row may have been read before that change.
     */
    {
        u_char  setkey[sizeof("mastodon:user_tokens:") + NGX_INT64_LEN];
        u_char  chkey[sizeof("mastodon:user_changed:") + NGX_INT64_LEN];

        static const char  fill[] =
            "if KEYS[3] ~= '' and redis.call('EXISTS', KEYS[3]) == 1 then"
            " return 0 end "
            "if not redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2], 'NX')"
            " then return 0 end "
            "if KEYS[2] ~= '' then"
            " redis.call('SADD', KEYS[2], ARGV[3])"
            " redis.call('EXPIRE', KEYS[2], 600) end "
            "return 1";

        argv[0] = "EVAL";
        argvlen[0] = 4;
        argv[1] = fill;
        argvlen[1] = sizeof(fill) - 1;
        argv[2] = "3";
        argvlen[2] = 1;
        argv[3] = (const char *) lk->key;
        argvlen[3] = sizeof(lk->key);
        argv[4] = (const char *) setkey;
        argvlen[4] = auth->user_id
                     ? ngx_sprintf(setkey, "mastodon:user_tokens:%L",
                                   auth->user_id) - setkey
                     : 0;
        argv[5] = (const char *) chkey;
        argvlen[5] = auth->user_id
                     ? ngx_sprintf(chkey, "mastodon:user_changed:%L",
                                   auth->user_id) - chkey
                     : 0;
        argv[6] = (const char *) v;
        argvlen[6] = p - v;
        argv[7] = (const char *) ttlbuf;
        argvlen[7] = ngx_sprintf(ttlbuf, "%L", ttl) - ttlbuf;
        argv[8] = (const char *) lk->digest;
        argvlen[8] = sizeof(lk->digest);

        /* a cache write: failing it only costs a PostgreSQL look-up later */
        (void) ngx_http_mastodon_redis_command(r, NULL, NULL, 9, argv,
                                               argvlen);
    }

    ngx_http_mastodon_auth_continue(r, ngx_http_mastodon_auth_check(r, ctx));
}



static ngx_int_t
ngx_http_mastodon_auth_parse(ngx_http_request_t *r, u_char *p, size_t len,
    ngx_http_mastodon_auth_t *auth)
{
    u_char      *last, *start;
    int64_t      n[6];
    ngx_uint_t   i;

    last = p + len;

    for (i = 0; i < 6; i++) {
        start = p;
        while (p < last && *p != ' ') {
            p++;
        }
        if (p == start || p == last) {
            return NGX_ERROR;
        }
        n[i] = ngx_atoof(start, p - start);
        if (n[i] < 0) {
            return NGX_ERROR;
        }
        p++;
    }

    auth->token_id = n[0];
    auth->app_id = n[1];
    auth->user_id = n[2];
    auth->account_id = n[3];
    auth->confirmed = (n[4] & NGX_HTTP_MASTODON_AUTH_CONFIRMED) ? 1 : 0;
    auth->approved = (n[4] & NGX_HTTP_MASTODON_AUTH_APPROVED) ? 1 : 0;
    auth->disabled = (n[4] & NGX_HTTP_MASTODON_AUTH_DISABLED) ? 1 : 0;
    auth->suspended = (n[4] & NGX_HTTP_MASTODON_AUTH_SUSPENDED) ? 1 : 0;
    auth->stale = (n[4] & NGX_HTTP_MASTODON_AUTH_STALE) ? 1 : 0;
    auth->permissions = n[5];

    auth->scopes.data = ngx_pnalloc(r->pool, last - p + 1);
    if (auth->scopes.data == NULL) {
        return NGX_ERROR;
    }
    auth->scopes.len = last - p;
    *ngx_cpymem(auth->scopes.data, p, last - p) = '\0';

    return NGX_OK;
}


/* The route's requirements against what the token gives. */
static ngx_int_t
ngx_http_mastodon_auth_check(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    ngx_http_mastodon_auth_t   *auth;
    ngx_http_mastodon_route_t  *route;

    route = ctx->route;
    auth = ctx->auth;

    if (route->auth == NGX_HTTP_MASTODON_AUTH_STREAM) {
        /* the streaming server's accountFromRequest: scopes are per stream */
        if (auth == NULL) {
            return ngx_http_mastodon_auth_fail(r, NGX_HTTP_UNAUTHORIZED,
                                               "Missing access token");
        }

        if (auth->user_id == 0) {
            return ngx_http_mastodon_auth_fail(r, NGX_HTTP_UNAUTHORIZED,
                                               "Invalid access token");
        }

        return NGX_OK;
    }

    if (auth == NULL) {
        if (route->auth == NGX_HTTP_MASTODON_AUTH_OPTIONAL) {
            return NGX_OK;
        }
        return ngx_http_mastodon_auth_fail(r, NGX_HTTP_UNAUTHORIZED,
                                           "The access token is invalid");
    }

    if (route->scopes
        && !mstdn_scopes_allow((char *) auth->scopes.data, auth->scopes.len,
                               route->scopes))
    {
        return ngx_http_mastodon_auth_fail(r, NGX_HTTP_FORBIDDEN,
                               "This action is outside the authorized scopes");
    }

    if (route->auth != NGX_HTTP_MASTODON_AUTH_USER) {
        return NGX_OK;
    }

    /* Mastodon's require_user!, in its order */

    if (auth->user_id == 0) {
        return ngx_http_mastodon_auth_fail(r, 422,
                                 "This method requires an authenticated user");
    }

    if (!auth->confirmed) {
        return ngx_http_mastodon_auth_fail(r, NGX_HTTP_FORBIDDEN,
                           "Your login is missing a confirmed e-mail address");
    }

    if (!auth->approved) {
        return ngx_http_mastodon_auth_fail(r, NGX_HTTP_FORBIDDEN,
                                    "Your login is currently pending approval");
    }

    if (auth->disabled || auth->suspended) {
        return ngx_http_mastodon_auth_fail(r, NGX_HTTP_FORBIDDEN,
                                         "Your login is currently disabled");
    }

    if (auth->stale) {
        ngx_http_mastodon_auth_touch(r, auth);
    }

    return NGX_OK;
}


/*
 * Mastodon's update_user_sign_in: a user seen through the API counts as
 * active (the instance's active_month), recorded at most once a day.  Fire
 * and forget: the request does not wait.  The cached token loses its
 * "stale" flag by being dropped; the next request reads it afresh.
 */
static void
ngx_http_mastodon_auth_touch(ngx_http_request_t *r,
    ngx_http_mastodon_auth_t *auth)
{
    u_char       key[NGX_HTTP_MASTODON_TOKEN_KEY_LEN];
    const char  *argv[4];
    size_t       argvlen[4];

    static const char  drop[] =
        "if redis.call('GET', KEYS[1]) ~= '" NGX_HTTP_MASTODON_TOKEN_REVOKED "'"
        " then redis.call('DEL', KEYS[1]) end return 1";

    auth->stale = 0;

    (void) ngx_http_mastodon_pg_query_id(r, &ngx_http_mastodon_touch_stmt,
                                         auth->user_id,
                                         ngx_http_mastodon_auth_touched,
                                         NULL);

    ngx_http_mastodon_auth_key(key, auth->digest);

    /* never a revocation's tombstone */
    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = drop;
    argvlen[1] = sizeof(drop) - 1;
    argv[2] = "1";
    argvlen[2] = 1;
    argv[3] = (const char *) key;
    argvlen[3] = sizeof(key);

    (void) ngx_http_mastodon_redis_command(r, NULL,
                                           NULL, 4, argv, argvlen);
}


static void
ngx_http_mastodon_auth_touched(ngx_http_mastodon_pg_batch_t *b)
{
    /* nothing waits for it: a failure only delays the record to next time */
}


static void
ngx_http_mastodon_auth_key(u_char *key, u_char *digest)
{
    ngx_memcpy(ngx_cpymem(key, NGX_HTTP_MASTODON_TOKEN_KEY,
                          sizeof(NGX_HTTP_MASTODON_TOKEN_KEY) - 1),
               digest, SHA256_DIGEST_LENGTH * 2);
}


/*
 * After an asynchronous look-up: run the endpoint, or end the request.  A
 * token that was not cached is first counted by the rate limits, now that
 * it is known whom it authenticates.
 */
void
ngx_http_mastodon_auth_continue(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_http_mastodon_ctx_t  *ctx;

    if (ngx_http_mastodon_ratelimit_resolved(r, rc) == NGX_DONE) {
        return;
    }

    if (rc == NGX_OK) {
        ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);
        rc = ctx->route->handler(r, ctx);
    }

    if (rc != NGX_DONE) {
        ngx_http_mastodon_finalize(r, rc);
    }
}


static ngx_int_t
ngx_http_mastodon_auth_fail(ngx_http_request_t *r, ngx_uint_t status,
    const char *message)
{
    ngx_http_mastodon_ctx_t  *ctx;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mastodon: %s", message);

    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    if (ctx->route->auth == NGX_HTTP_MASTODON_AUTH_STREAM) {
        /* the streaming server knows one failure besides a missing token */
        if (status == NGX_HTTP_UNAUTHORIZED
            && ngx_strcmp(message, "Missing access token") != 0)
        {
            message = "Invalid access token";
        }

        ctx->error_message = message;
        return status;
    }

    ctx->error_message = message;

    if (status == NGX_HTTP_UNAUTHORIZED) {
        /* RFC 6750, as Doorkeeper sends it */
        static ngx_str_t  challenge = ngx_string(
            "Bearer realm=\"Doorkeeper\", error=\"invalid_token\"");

        if (ngx_http_mastodon_add_header(r, "WWW-Authenticate", &challenge)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return status;
}


/*
 * Revocation: a tombstone in the cache (no NX: it beats any racing fill),
 * after the caller has marked the row revoked in PostgreSQL; and the
 * token's streams are told to close (Mastodon's "kill" on
 * timeline:access_token:<id>, streaming/).
 */
ngx_int_t
ngx_http_mastodon_auth_revoke_cached(ngx_http_request_t *r,
    u_char *digest_hex, int64_t token_id,
    ngx_http_mastodon_redis_done_pt handler, void *data)
{
    u_char       key[NGX_HTTP_MASTODON_TOKEN_KEY_LEN];
    u_char       ttl[NGX_INT_T_LEN];
    u_char       channel[sizeof("timeline:access_token:") + NGX_INT64_LEN];
    const char  *argv[5];
    size_t       argvlen[5];

    static const char  kill[] = "{\"event\":\"kill\"}";

    argv[0] = "PUBLISH";
    argvlen[0] = 7;
    argv[1] = (const char *) channel;
    argvlen[1] = ngx_sprintf(channel, "timeline:access_token:%L", token_id)
                 - channel;
    argv[2] = kill;
    argvlen[2] = sizeof(kill) - 1;

    /* fire and forget, as Mastodon publishes it */
    (void) ngx_http_mastodon_redis_command(r, NULL, NULL, 3, argv, argvlen);

    ngx_http_mastodon_auth_key(key, digest_hex);

    argv[0] = "SET";
    argvlen[0] = 3;
    argv[1] = (const char *) key;
    argvlen[1] = sizeof(key);
    argv[2] = NGX_HTTP_MASTODON_TOKEN_REVOKED;
    argvlen[2] = sizeof(NGX_HTTP_MASTODON_TOKEN_REVOKED) - 1;
    argv[3] = "EX";
    argvlen[3] = 2;
    argv[4] = (const char *) ttl;
    argvlen[4] = ngx_sprintf(ttl, "%d", NGX_HTTP_MASTODON_TOKEN_TTL) - ttl;

    return ngx_http_mastodon_redis_command(r, handler, data, 5, argv, argvlen);
}


/*
 * A user's state changed (confirmed, approved, disabled, suspended, role):
 * drop every cached token of theirs, so the next request reads it afresh.
 */
ngx_int_t
ngx_http_mastodon_auth_forget_user_then(ngx_http_request_t *r,
    int64_t user_id, ngx_http_mastodon_redis_done_pt handler, void *data)
{
    u_char       key[sizeof("mastodon:user_tokens:") + NGX_INT64_LEN];
    u_char       chkey[sizeof("mastodon:user_changed:") + NGX_INT64_LEN];
    const char  *argv[5];
    size_t       argvlen[5];

    /*
     * Drop the cached tokens, and refuse cache fills for a while: a look-up
     * that read the user's row before this change must not cache it after.
     */
    static const char  script[] =
        "local d = redis.call('SMEMBERS', KEYS[1]) "
        "for _, x in ipairs(d) do redis.call('DEL', 'mastodon:token:' .. x) end "
        "redis.call('DEL', KEYS[1]) "
        "redis.call('SET', KEYS[2], '1', 'EX', 10) return #d";

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = script;
    argvlen[1] = sizeof(script) - 1;
    argv[2] = "2";
    argvlen[2] = 1;
    argv[3] = (const char *) key;
    argvlen[3] = ngx_sprintf(key, "mastodon:user_tokens:%L", user_id) - key;
    argv[4] = (const char *) chkey;
    argvlen[4] = ngx_sprintf(chkey, "mastodon:user_changed:%L", user_id)
                 - chkey;

    return ngx_http_mastodon_redis_command(r, handler, data, 5, argv,
                                           argvlen);
}
