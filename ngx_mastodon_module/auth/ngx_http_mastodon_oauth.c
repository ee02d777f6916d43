/*
 * The OAuth 2 back channel, as Doorkeeper answers it for Mastodon:
 *
 *   POST /oauth/token    authorization_code (client secret or PKCE S256),
 *                        client_credentials, password (only with
 *                        mastodon_oauth_password_grant on);
 *   POST /oauth/revoke   RFC 7009;
 *   GET  /.well-known/oauth-authorization-server   RFC 8414 metadata.
 *
 * Errors carry RFC 6749's own body {"error": ..., "error_description": ...}
 * in Doorkeeper's words.  Codes and tokens are stored as SHA-256 digests; a
 * code is spent by the same statement that creates its token, so it works
 * once even under concurrent exchanges.
 */

#include <openssl/sha.h>

#include "ngx_http_mastodon_auth.h"
#include "mstdn_oauth.h"
#include "mstdn_password.h"


#define NGX_HTTP_MASTODON_OAUTH_PARAM_MAX   256
#define NGX_HTTP_MASTODON_OAUTH_URI_MAX     2000
#define NGX_HTTP_MASTODON_OAUTH_SCOPE_MAX   1024
#define NGX_HTTP_MASTODON_OAUTH_PASSWORD_MAX  1024

#define NGX_HTTP_MASTODON_GRANT_CODE         1
#define NGX_HTTP_MASTODON_GRANT_CLIENT       2
#define NGX_HTTP_MASTODON_GRANT_PASSWORD     3


#define NGX_HTTP_MASTODON_INVALID_CLIENT                                      \
    "Client authentication failed due to unknown client, no client "          \
    "authentication included, or unsupported authentication method."
#define NGX_HTTP_MASTODON_INVALID_GRANT                                       \
    "The provided authorization grant is invalid, expired, revoked, does "    \
    "not match the redirection URI used in the authorization request, or "    \
    "was issued to another client."
#define NGX_HTTP_MASTODON_UNSUPPORTED_GRANT                                   \
    "The authorization grant type is not supported by the authorization "     \
    "server."
#define NGX_HTTP_MASTODON_INVALID_SCOPE                                       \
    "The requested scope is invalid, unknown, or malformed."
#define NGX_HTTP_MASTODON_INVALID_REQUEST                                     \
    "The request is missing a required parameter, includes an unsupported "   \
    "parameter value, or is otherwise malformed."


typedef struct {
    ngx_uint_t                  grant;
    ngx_str_t                   client_id;
    ngx_str_t                   client_secret;  /* data NULL: not given */
    ngx_str_t                   code;
    ngx_str_t                   redirect_uri;
    ngx_str_t                   code_verifier;
    ngx_str_t                   scope;
    ngx_str_t                   username;
    ngx_str_t                   password;
    ngx_str_t                   token_param;    /* revoke */
    int64_t                     token_id;       /* revoke: the row's */

    ngx_str_t                   app_id;         /* from PostgreSQL */
    ngx_str_t                   app_scopes;
    ngx_str_t                   user_id;
    ngx_str_t                   scopes;         /* granted, NUL-terminated */

    u_char                      digest[SHA256_DIGEST_LENGTH * 2 + 1];
    u_char                      token[MSTDN_SECRET_LEN + 1];
    u_char                      token_digest[SHA256_DIGEST_LENGTH * 2 + 1];
} ngx_http_mastodon_token_req_t;


static ngx_int_t ngx_http_mastodon_oauth_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *error, const char *description);
static ngx_int_t ngx_http_mastodon_oauth_client(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_token_req_t *t);
static ngx_int_t ngx_http_mastodon_oauth_param(ngx_http_mastodon_ctx_t *ctx,
    const char *name, ngx_str_t *out, size_t max);
static ngx_uint_t ngx_http_mastodon_oauth_secret_ok(
    ngx_http_mastodon_token_req_t *t, PGresult *app);
static void ngx_http_mastodon_oauth_code_loaded(
    ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_oauth_client_loaded(
    ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_oauth_password_checked(ngx_http_request_t *r,
    ngx_uint_t ok, void *data);
static ngx_int_t ngx_http_mastodon_oauth_issue(ngx_http_request_t *r,
    ngx_http_mastodon_token_req_t *t);
static void ngx_http_mastodon_oauth_continue(ngx_http_request_t *r,
    ngx_int_t rc);
static void ngx_http_mastodon_oauth_issued(ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_oauth_revoke_loaded(
    ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_oauth_revoked(ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_oauth_revoke_done(ngx_http_request_t *r,
    redisReply *reply, void *data);
static ngx_int_t ngx_http_mastodon_oauth_run(ngx_http_request_t *r,
    ngx_http_mastodon_pg_done_pt handler, void *data,
    ngx_http_mastodon_pg_stmt_t *s1, const char **v1,
    ngx_http_mastodon_pg_stmt_t *s2, const char **v2);


static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_oauth_app_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT id, secret, scopes FROM oauth_applications WHERE uid = $1",
        1);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_oauth_grant_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT id, application_id, redirect_uri,"
        " coalesce(code_challenge, ''), coalesce(code_challenge_method, ''),"
        " revoked_at IS NULL AND created_at"
        "  + make_interval(secs => expires_in) > now() AT TIME ZONE 'UTC'"
        " FROM oauth_access_grants WHERE token = $1", 1);

/* spends the code and creates its token: zero rows if already spent */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_oauth_exchange_stmt =
    ngx_http_mastodon_pg_stmt(
        "WITH g AS (UPDATE oauth_access_grants"
        "  SET revoked_at = now() AT TIME ZONE 'UTC'"
        "  WHERE id = $1 AND revoked_at IS NULL"
        "  RETURNING application_id, resource_owner_id, scopes)"
        " INSERT INTO oauth_access_tokens"
        " (token, scopes, application_id, resource_owner_id, created_at)"
        " SELECT $2, g.scopes, g.application_id, g.resource_owner_id,"
        "  now() AT TIME ZONE 'UTC' FROM g"
        " RETURNING coalesce(scopes, ''),"
        "  floor(extract(epoch FROM created_at))::bigint", 2);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_oauth_insert_stmt =
    ngx_http_mastodon_pg_stmt(
        "INSERT INTO oauth_access_tokens"
        " (token, scopes, application_id, resource_owner_id, created_at)"
        " VALUES ($1, $2, $3, $4, now() AT TIME ZONE 'UTC')"
        " RETURNING coalesce(scopes, ''),"
        "  floor(extract(epoch FROM created_at))::bigint", 4);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_oauth_user_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT id, encrypted_password, otp_required_for_login"
        " FROM users WHERE email = lower($1)", 1);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_oauth_token_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT id, coalesce(application_id, 0)"
        " FROM oauth_access_tokens WHERE token = $1", 1);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_oauth_revoke_stmt =
    ngx_http_mastodon_pg_stmt(
        "UPDATE oauth_access_tokens SET revoked_at = now() AT TIME ZONE 'UTC'"
        " WHERE id = $1 AND revoked_at IS NULL", 1);


static ngx_str_t  ngx_http_mastodon_oauth_no_store = ngx_string("no-store");
static ngx_str_t  ngx_http_mastodon_oauth_no_cache = ngx_string("no-cache");


/* POST /oauth/token */
ngx_int_t
ngx_http_mastodon_oauth_token(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    ngx_str_t                       type;
    const char                    **v1, **v2;
    ngx_http_mastodon_main_conf_t  *mcf;
    ngx_http_mastodon_token_req_t  *t;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    t = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_token_req_t));
    v1 = ngx_pcalloc(r->pool, 2 * sizeof(char *));
    v2 = ngx_pcalloc(r->pool, 2 * sizeof(char *));
    if (t == NULL || v1 == NULL || v2 == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mastodon_oauth_param(ctx, "grant_type", &type, 64) != NGX_OK
        || type.len == 0)
    {
        return ngx_http_mastodon_oauth_error(r, NGX_HTTP_BAD_REQUEST,
                                             "invalid_request",
                                  "Missing required parameter: grant_type.");
    }

    if (type.len == sizeof("authorization_code") - 1
        && ngx_strncmp(type.data, "authorization_code", type.len) == 0)
    {
        t->grant = NGX_HTTP_MASTODON_GRANT_CODE;

    } else if (type.len == sizeof("client_credentials") - 1
               && ngx_strncmp(type.data, "client_credentials", type.len) == 0)
    {
        t->grant = NGX_HTTP_MASTODON_GRANT_CLIENT;

    } else if (type.len == sizeof("password") - 1
               && ngx_strncmp(type.data, "password", type.len) == 0
               && mcf->oauth_password_grant)
    {
        t->grant = NGX_HTTP_MASTODON_GRANT_PASSWORD;

    } else {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: unsupported grant type \"%V\"", &type);
        return ngx_http_mastodon_oauth_error(r, NGX_HTTP_BAD_REQUEST,
                                         "unsupported_grant_type",
                                         NGX_HTTP_MASTODON_UNSUPPORTED_GRANT);
    }

    if (ngx_http_mastodon_oauth_param(ctx, "code", &t->code, 256) != NGX_OK
        || ngx_http_mastodon_oauth_param(ctx, "redirect_uri", &t->redirect_uri,
                                         NGX_HTTP_MASTODON_OAUTH_URI_MAX)
           != NGX_OK
        || ngx_http_mastodon_oauth_param(ctx, "code_verifier",
                                         &t->code_verifier, 128)
           != NGX_OK
        || ngx_http_mastodon_oauth_param(ctx, "scope", &t->scope,
                                         NGX_HTTP_MASTODON_OAUTH_SCOPE_MAX)
           != NGX_OK
        || ngx_http_mastodon_oauth_param(ctx, "username", &t->username, 320)
           != NGX_OK
        || ngx_http_mastodon_oauth_param(ctx, "password", &t->password,
                                         NGX_HTTP_MASTODON_OAUTH_PASSWORD_MAX)
           != NGX_OK)
    {
        return ngx_http_mastodon_oauth_error(r, NGX_HTTP_BAD_REQUEST,
                                           "invalid_request",
                                           NGX_HTTP_MASTODON_INVALID_REQUEST);
    }

    if (t->grant == NGX_HTTP_MASTODON_GRANT_CODE && t->code.len == 0) {
        return ngx_http_mastodon_oauth_error(r, NGX_HTTP_BAD_REQUEST,
                                             "invalid_request",
                                        "Missing required parameter: code.");
    }

    if (ngx_http_mastodon_oauth_client(r, ctx, t) != NGX_OK
        || t->client_id.len == 0
        || (t->grant != NGX_HTTP_MASTODON_GRANT_CODE
            && t->client_secret.data == NULL))
    {
        return ngx_http_mastodon_oauth_error(r, NGX_HTTP_UNAUTHORIZED,
                                             "invalid_client",
                                             NGX_HTTP_MASTODON_INVALID_CLIENT);
    }

    v1[0] = (const char *) t->client_id.data;

    switch (t->grant) {

    case NGX_HTTP_MASTODON_GRANT_CODE:
        ngx_http_mastodon_token_digest(&t->code, t->digest);
        v2[0] = (const char *) t->digest;
        return ngx_http_mastodon_oauth_run(r,
                   ngx_http_mastodon_oauth_code_loaded, t,
                   &ngx_http_mastodon_oauth_app_stmt, v1,
                   &ngx_http_mastodon_oauth_grant_stmt, v2);

    case NGX_HTTP_MASTODON_GRANT_PASSWORD:
        v2[0] = t->username.data ? (const char *) t->username.data : "";
        return ngx_http_mastodon_oauth_run(r,
                   ngx_http_mastodon_oauth_client_loaded, t,
                   &ngx_http_mastodon_oauth_app_stmt, v1,
                   &ngx_http_mastodon_oauth_user_stmt, v2);

    default: /* NGX_HTTP_MASTODON_GRANT_CLIENT */
        return ngx_http_mastodon_oauth_run(r,
                   ngx_http_mastodon_oauth_client_loaded, t,
                   &ngx_http_mastodon_oauth_app_stmt, v1, NULL, NULL);
    }
}


static void
ngx_http_mastodon_oauth_code_loaded(ngx_http_mastodon_pg_batch_t *b)
{
    u_char                          md[SHA256_DIGEST_LENGTH];
    u_char                          challenge[MSTDN_SECRET_LEN + 1];
    u_char                         *p;
    ngx_str_t                       src, dst, s;
    PGresult                       *app, *grant;
    ngx_uint_t                      pkce, ok;
    ngx_http_request_t             *r;
    ngx_http_mastodon_token_req_t  *t;

    r = b->request;
    t = b->data;
    app = b->results[0];
    grant = b->results[1];

    if (b->rc != NGX_OK || app == NULL || grant == NULL
        || PQresultStatus(app) != PGRES_TUPLES_OK
        || PQresultStatus(grant) != PGRES_TUPLES_OK)
    {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (PQntuples(app) != 1) {
        ngx_http_mastodon_finalize(r,
            ngx_http_mastodon_oauth_error(r, NGX_HTTP_UNAUTHORIZED,
                                          "invalid_client",
                                          NGX_HTTP_MASTODON_INVALID_CLIENT));
        return;
    }

    pkce = PQntuples(grant) == 1 && PQgetlength(grant, 0, 3) > 0;

    /* Doorkeeper's order: parameters, client, grant, redirect URI, PKCE */

    if (pkce && t->code_verifier.len == 0) {
        ngx_http_mastodon_finalize(r,
            ngx_http_mastodon_oauth_error(r, NGX_HTTP_BAD_REQUEST,
                                          "invalid_request",
                               "Missing required parameter: code_verifier."));
        return;
    }

    if (t->redirect_uri.len == 0) {
        ngx_http_mastodon_finalize(r,
            ngx_http_mastodon_oauth_error(r, NGX_HTTP_BAD_REQUEST,
                                          "invalid_request",
                                "Missing required parameter: redirect_uri."));
        return;
    }

    /* a public client proves itself by PKCE instead of its secret */
    if (t->client_secret.data ? !ngx_http_mastodon_oauth_secret_ok(t, app)
                              : !pkce)
    {
        ngx_http_mastodon_finalize(r,
            ngx_http_mastodon_oauth_error(r, NGX_HTTP_UNAUTHORIZED,
                                          "invalid_client",
                                          NGX_HTTP_MASTODON_INVALID_CLIENT));
        return;
    }

    ok = PQntuples(grant) == 1
         && PQgetvalue(grant, 0, 5)[0] == 't'
         && ngx_strcmp(PQgetvalue(grant, 0, 1), PQgetvalue(app, 0, 0)) == 0;

    if (ok) {
        /* exactly the redirect URI of the authorization request */
        s = ngx_http_mastodon_pg_str(grant, 0, 2);

        ok = s.len == t->redirect_uri.len
             && ngx_strncmp(s.data, t->redirect_uri.data, s.len) == 0;
    }

    if (ok && pkce) {
        /* RFC 7636: 43-128 unreserved characters, S256 only */
        ok = t->code_verifier.len >= 43
             && ngx_strcmp(PQgetvalue(grant, 0, 4), "S256") == 0
             && PQgetlength(grant, 0, 3) == MSTDN_SECRET_LEN;

        for (p = t->code_verifier.data;
             ok && p < t->code_verifier.data + t->code_verifier.len;
             p++)
        {
            ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
                 || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'
                 || *p == '_' || *p == '~';
        }

        if (ok) {
            SHA256(t->code_verifier.data, t->code_verifier.len, md);
            src.data = md;
            src.len = sizeof(md);
            dst.data = challenge;
            ngx_encode_base64url(&dst, &src);

            ok = dst.len == MSTDN_SECRET_LEN
                 && mstdn_secure_equal(challenge, PQgetvalue(grant, 0, 3),
                                       MSTDN_SECRET_LEN);
        }

    } else if (ok && t->code_verifier.len) {
        ok = 0;                 /* a verifier for a grant without PKCE */
    }

    if (!ok) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: authorization code refused");
        ngx_http_mastodon_finalize(r,
            ngx_http_mastodon_oauth_error(r, NGX_HTTP_BAD_REQUEST,
                                          "invalid_grant",
                                          NGX_HTTP_MASTODON_INVALID_GRANT));
        return;
    }

    t->user_id = ngx_http_mastodon_pg_str(grant, 0, 0);   /* grant id */

    ngx_http_mastodon_oauth_continue(r, ngx_http_mastodon_oauth_issue(r, t));
}


/* client_credentials and password: the client, then scopes and user */
static void
ngx_http_mastodon_oauth_client_loaded(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_int_t                       rc;
    ngx_str_t                       hash;
    PGresult                       *app, *user;
    ngx_http_request_t             *r;
    ngx_http_mastodon_token_req_t  *t;

    r = b->request;
    t = b->data;
    app = b->results[0];
    user = b->results[1];

    if (b->rc != NGX_OK || app == NULL
        || PQresultStatus(app) != PGRES_TUPLES_OK
        || (t->grant == NGX_HTTP_MASTODON_GRANT_PASSWORD
            && (user == NULL || PQresultStatus(user) != PGRES_TUPLES_OK)))
    {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (PQntuples(app) != 1 || !ngx_http_mastodon_oauth_secret_ok(t, app)) {
        ngx_http_mastodon_finalize(r,
            ngx_http_mastodon_oauth_error(r, NGX_HTTP_UNAUTHORIZED,
                                          "invalid_client",
                                          NGX_HTTP_MASTODON_INVALID_CLIENT));
        return;
    }

    t->app_id = ngx_http_mastodon_pg_str(app, 0, 0);
    t->app_scopes = ngx_http_mastodon_pg_str(app, 0, 2);

    if (ngx_http_mastodon_oauth_scopes(r, &t->scope, &t->app_scopes,
                                       &t->scopes)
        != NGX_OK)
    {
        ngx_http_mastodon_finalize(r,
            ngx_http_mastodon_oauth_error(r, NGX_HTTP_BAD_REQUEST,
                                          "invalid_scope",
                                          NGX_HTTP_MASTODON_INVALID_SCOPE));
        return;
    }

    if (t->grant == NGX_HTTP_MASTODON_GRANT_CLIENT) {
        ngx_http_mastodon_oauth_continue(r,
                                         ngx_http_mastodon_oauth_issue(r, t));
        return;
    }

    /* password: the user, if any, with two-factor sign-in off */

    ngx_str_null(&hash);

    if (PQntuples(user) == 1 && PQgetvalue(user, 0, 2)[0] != 't') {
        t->user_id = ngx_http_mastodon_pg_str(user, 0, 0);
        hash = ngx_http_mastodon_pg_str(user, 0, 1);
    }

    if (t->password.len == 0) {
        ngx_http_mastodon_finalize(r,
            ngx_http_mastodon_oauth_error(r, NGX_HTTP_BAD_REQUEST,
                                          "invalid_grant",
                                          NGX_HTTP_MASTODON_INVALID_GRANT));
        return;
    }

    rc = ngx_http_mastodon_password_check(r, &t->password, &hash,
                                     ngx_http_mastodon_oauth_password_checked,
                                     t);
    if (rc != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
    }
}


static void
ngx_http_mastodon_oauth_password_checked(ngx_http_request_t *r,
    ngx_uint_t ok, void *data)
{
    ngx_http_mastodon_token_req_t  *t = data;

    if (!ok || t->user_id.len == 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: password grant refused for \"%V\"",
                      &t->username);
        ngx_http_mastodon_finalize(r,
            ngx_http_mastodon_oauth_error(r, NGX_HTTP_BAD_REQUEST,
                                          "invalid_grant",
                                          NGX_HTTP_MASTODON_INVALID_GRANT));
        return;
    }

    ngx_http_mastodon_oauth_continue(r, ngx_http_mastodon_oauth_issue(r, t));
}


/* After a look-up: the request ends, or goes on (NGX_DONE). */
static void
ngx_http_mastodon_oauth_continue(ngx_http_request_t *r, ngx_int_t rc)
{
    if (rc != NGX_DONE) {
        ngx_http_mastodon_finalize(r, rc);
    }
}


/* A new token: random, only its digest stored. */
static ngx_int_t
ngx_http_mastodon_oauth_issue(ngx_http_request_t *r,
    ngx_http_mastodon_token_req_t *t)
{
    ngx_str_t                      s;
    const char                   **values;
    ngx_http_mastodon_pg_batch_t  *b;

    values = ngx_pcalloc(r->pool, 4 * sizeof(char *));
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (mstdn_random_secret((char *) t->token) != 0) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "mastodon: no random bytes for a token");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    s.data = t->token;
    s.len = MSTDN_SECRET_LEN;
    ngx_http_mastodon_token_digest(&s, t->token_digest);
    t->token_digest[SHA256_DIGEST_LENGTH * 2] = '\0';

    b = ngx_http_mastodon_pg_batch(r, ngx_http_mastodon_oauth_issued, t);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (t->grant == NGX_HTTP_MASTODON_GRANT_CODE) {
        values[0] = (const char *) t->user_id.data;     /* the grant's id */
        values[1] = (const char *) t->token_digest;

        if (ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_oauth_exchange_stmt,
                                     values)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

    } else {
        values[0] = (const char *) t->token_digest;
        values[1] = (const char *) t->scopes.data;
        values[2] = (const char *) t->app_id.data;
        values[3] = t->user_id.len ? (const char *) t->user_id.data : NULL;

        if (ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_oauth_insert_stmt,
                                     values)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (ngx_http_mastodon_pg_run(b) != NGX_OK) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}


static void
ngx_http_mastodon_oauth_issued(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_str_t                       s;
    PGresult                       *res;
    ngx_http_request_t             *r;
    ngx_http_mastodon_json_t        j;
    ngx_http_mastodon_token_req_t  *t;

    r = b->request;
    t = b->data;
    res = ngx_http_mastodon_pg_rows(b, 0);

    if (res == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (PQntuples(res) != 1) {
        /* the code was spent meanwhile */
        ngx_http_mastodon_finalize(r,
            ngx_http_mastodon_oauth_error(r, NGX_HTTP_BAD_REQUEST,
                                          "invalid_grant",
                                          NGX_HTTP_MASTODON_INVALID_GRANT));
        return;
    }

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK
        || ngx_http_mastodon_add_header(r, "Cache-Control",
                                        &ngx_http_mastodon_oauth_no_store)
           != NGX_OK
        || ngx_http_mastodon_add_header(r, "Pragma",
                                        &ngx_http_mastodon_oauth_no_cache)
           != NGX_OK)
    {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    s.data = t->token;
    s.len = MSTDN_SECRET_LEN;

    ngx_http_mastodon_json_open(&j, NULL);
    ngx_http_mastodon_json_kv_str(&j, "access_token", &s);
    ngx_http_mastodon_json_kv_cstr(&j, "token_type", "Bearer");
    ngx_http_mastodon_json_kv_cstr(&j, "scope", PQgetvalue(res, 0, 0));
    ngx_http_mastodon_json_kv_int(&j, "created_at",
                                  ngx_http_mastodon_pg_int(res, 0, 1));
    ngx_http_mastodon_json_close(&j);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mastodon: issued a token for client %V", &t->client_id);

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_json_send(&j,
                                                              NGX_HTTP_OK));
}


/* POST /oauth/revoke (RFC 7009, Doorkeeper's answers) */
ngx_int_t
ngx_http_mastodon_oauth_revoke(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    const char                    **v1, **v2;
    ngx_http_mastodon_token_req_t  *t;

    t = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_token_req_t));
    v1 = ngx_pcalloc(r->pool, sizeof(char *));
    v2 = ngx_pcalloc(r->pool, sizeof(char *));
    if (t == NULL || v1 == NULL || v2 == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the client first: confidential clients authenticate */
    if (ngx_http_mastodon_oauth_client(r, ctx, t) != NGX_OK
        || t->client_id.len == 0 || t->client_secret.data == NULL)
    {
        return ngx_http_mastodon_oauth_error(r, NGX_HTTP_FORBIDDEN,
                                             "unauthorized_client",
                                "You are not authorized to revoke this token");
    }

    if (ngx_http_mastodon_oauth_param(ctx, "token", &t->token_param, 256)
        != NGX_OK)
    {
        t->token_param.len = 0;             /* no such token */
    }

    ngx_http_mastodon_token_digest(&t->token_param, t->digest);

    v1[0] = (const char *) t->client_id.data;
    v2[0] = (const char *) t->digest;

    return ngx_http_mastodon_oauth_run(r,
               ngx_http_mastodon_oauth_revoke_loaded, t,
               &ngx_http_mastodon_oauth_app_stmt, v1,
               &ngx_http_mastodon_oauth_token_stmt, v2);
}


static void
ngx_http_mastodon_oauth_revoke_loaded(ngx_http_mastodon_pg_batch_t *b)
{
    PGresult                       *app, *token;
    const char                    **values;
    ngx_http_request_t             *r;
    ngx_http_mastodon_pg_batch_t   *nb;
    ngx_http_mastodon_token_req_t  *t;

    r = b->request;
    t = b->data;
    app = b->results[0];
    token = b->results[1];

    if (b->rc != NGX_OK || app == NULL || token == NULL
        || PQresultStatus(app) != PGRES_TUPLES_OK
        || PQresultStatus(token) != PGRES_TUPLES_OK)
    {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (PQntuples(app) != 1 || !ngx_http_mastodon_oauth_secret_ok(t, app)
        || (PQntuples(token) == 1
            && ngx_strcmp(PQgetvalue(token, 0, 1), "0") != 0
            && ngx_strcmp(PQgetvalue(token, 0, 1), PQgetvalue(app, 0, 0))
               != 0))
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: token revocation refused for client %V",
                      &t->client_id);
        ngx_http_mastodon_finalize(r,
            ngx_http_mastodon_oauth_error(r, NGX_HTTP_FORBIDDEN,
                               "unauthorized_client",
                               "You are not authorized to revoke this token"));
        return;
    }

    if (t->token_param.len == 0 || PQntuples(token) != 1) {
        /* RFC 7009: an unknown token is no error */
        ngx_http_mastodon_oauth_revoke_done(r, NULL, NULL);
        return;
    }

    values = ngx_palloc(r->pool, sizeof(char *));
    if (values == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    values[0] = PQgetvalue(token, 0, 0);
    t->token_id = ngx_atoof((u_char *) values[0], PQgetlength(token, 0, 0));

    nb = ngx_http_mastodon_pg_batch(r, ngx_http_mastodon_oauth_revoked, t);
    if (nb == NULL
        || ngx_http_mastodon_pg_add(nb, &ngx_http_mastodon_oauth_revoke_stmt,
                                    values)
           != NGX_OK)
    {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (ngx_http_mastodon_pg_run(nb) != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
    }
}


static void
ngx_http_mastodon_oauth_revoked(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_http_request_t             *r;
    ngx_http_mastodon_token_req_t  *t;

    r = b->request;
    t = b->data;

    if (b->rc != NGX_OK || b->results[0] == NULL
        || PQresultStatus(b->results[0]) != PGRES_COMMAND_OK)
    {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    /* refused at once, even where the token is cached */
    if (ngx_http_mastodon_auth_revoke_cached(r, t->digest, t->token_id,
                                      ngx_http_mastodon_oauth_revoke_done, t)
        != NGX_OK)
    {
        /* still cached as valid: the client must try again */
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
    }
}


static void
ngx_http_mastodon_oauth_revoke_done(ngx_http_request_t *r, redisReply *reply,
    void *data)
{
    ngx_str_t                 body;
    static ngx_str_t          type = ngx_string(
                                  "application/json; charset=utf-8");

    if (data && (reply == NULL || reply->type == REDIS_REPLY_ERROR)) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mastodon: revoked token not marked in Redis");
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    ngx_str_set(&body, "{}");

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_send_text(r, NGX_HTTP_OK,
                                                              &type, &body));
}


/* GET /.well-known/oauth-authorization-server (RFC 8414, Mastodon 4.3) */
ngx_int_t
ngx_http_mastodon_oauth_metadata(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    ngx_str_t                       root;
    const char                    **s;
    ngx_http_mastodon_json_t        j;
    ngx_http_mastodon_main_conf_t  *mcf;

    static const char  *scopes[] = {
        "read", "profile", "write", "write:accounts", "write:blocks",
        "write:bookmarks", "write:conversations", "write:favourites",
        "write:filters", "write:follows", "write:lists", "write:media",
        "write:mutes", "write:notifications", "write:reports",
        "write:statuses", "read:accounts", "read:blocks", "read:bookmarks",
        "read:favourites", "read:filters", "read:follows", "read:lists",
        "read:mutes", "read:notifications", "read:search", "read:statuses",
        "follow", "push", "admin:read", "admin:read:accounts",
        "admin:read:reports", "admin:read:domain_allows",
        "admin:read:domain_blocks", "admin:read:ip_blocks",
        "admin:read:email_domain_blocks", "admin:read:canonical_email_blocks",
        "admin:write", "admin:write:accounts", "admin:write:reports",
        "admin:write:domain_allows", "admin:write:domain_blocks",
        "admin:write:ip_blocks", "admin:write:email_domain_blocks",
        "admin:write:canonical_email_blocks",
        NULL
    };

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    root.len = mcf->base_url.len + 1;
    root.data = ngx_pnalloc(r->pool, root.len);
    if (root.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    *ngx_cpymem(root.data, mcf->base_url.data, mcf->base_url.len) = '/';

    ngx_http_mastodon_json_open(&j, NULL);
    ngx_http_mastodon_json_kv_str(&j, "issuer", &root);
    ngx_http_mastodon_json_kv_cstr(&j, "service_documentation",
                                   "https://docs.joinmastodon.org/");
    ngx_http_mastodon_json_kv_url(&j, "authorization_endpoint",
                                  &mcf->base_url, "/oauth/authorize");
    ngx_http_mastodon_json_kv_url(&j, "token_endpoint", &mcf->base_url,
                                  "/oauth/token");
    ngx_http_mastodon_json_kv_url(&j, "app_registration_endpoint",
                                  &mcf->base_url, "/api/v1/apps");
    ngx_http_mastodon_json_kv_url(&j, "revocation_endpoint", &mcf->base_url,
                                  "/oauth/revoke");

    ngx_http_mastodon_json_open_array(&j, "scopes_supported");
    for (s = scopes; *s; s++) {
        ngx_http_mastodon_json_cstr(&j, *s);
    }
    ngx_http_mastodon_json_close_array(&j);

    ngx_http_mastodon_json_open_array(&j, "response_types_supported");
    ngx_http_mastodon_json_cstr(&j, "code");
    ngx_http_mastodon_json_close_array(&j);

    ngx_http_mastodon_json_open_array(&j, "response_modes_supported");
    ngx_http_mastodon_json_cstr(&j, "query");
    ngx_http_mastodon_json_cstr(&j, "fragment");
    ngx_http_mastodon_json_close_array(&j);

    ngx_http_mastodon_json_open_array(&j, "code_challenge_methods_supported");
    ngx_http_mastodon_json_cstr(&j, "S256");
    ngx_http_mastodon_json_close_array(&j);

    ngx_http_mastodon_json_open_array(&j, "grant_types_supported");
    ngx_http_mastodon_json_cstr(&j, "authorization_code");
    if (mcf->oauth_password_grant) {
        ngx_http_mastodon_json_cstr(&j, "password");
    }
    ngx_http_mastodon_json_cstr(&j, "client_credentials");
    ngx_http_mastodon_json_close_array(&j);

    ngx_http_mastodon_json_open_array(&j,
                                      "token_endpoint_auth_methods_supported");
    ngx_http_mastodon_json_cstr(&j, "client_secret_basic");
    ngx_http_mastodon_json_cstr(&j, "client_secret_post");
    ngx_http_mastodon_json_close_array(&j);

    ngx_http_mastodon_json_close(&j);

    return ngx_http_mastodon_json_send(&j, NGX_HTTP_OK);
}


/*
 * The scopes a token or grant gets: `requested` (space-separated; empty
 * means Mastodon's default, "read"), each a known scope that the app was
 * registered with (the exact word, as Doorkeeper checks).  Normalized and
 * de-duplicated into `out` (NUL-terminated).  NGX_DECLINED: invalid_scope.
 */
ngx_int_t
ngx_http_mastodon_oauth_scopes(ngx_http_request_t *r, ngx_str_t *requested,
    ngx_str_t *allowed, ngx_str_t *out)
{
    u_char     *p, *end, *start, *a, *aend, *as, *o, *oend, *os;
    ngx_str_t   req;
    ngx_uint_t  found;

    req = *requested;

    if (req.len == 0) {
        ngx_str_set(&req, "read");
    }

    out->data = ngx_pnalloc(r->pool, req.len + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    o = out->data;
    p = req.data;
    end = req.data + req.len;

    while (p < end) {
        while (p < end && *p == ' ') {
            p++;
        }

        start = p;

        while (p < end && *p != ' ') {
            p++;
        }

        if (p == start) {
            break;
        }

        if (!mstdn_scope_valid((const char *) start, p - start)) {
            return NGX_DECLINED;
        }

        /* one of the app's scopes (they are separated by single spaces) */
        found = 0;
        aend = allowed->data + allowed->len;

        for (a = allowed->data; a < aend && !found; /* void */) {
            as = a;
            while (a < aend && *a != ' ') {
                a++;
            }
            found = (size_t) (a - as) == (size_t) (p - start)
                    && ngx_strncmp(as, start, p - start) == 0;
            a++;
        }

        if (!found) {
            return NGX_DECLINED;
        }

        /* already listed? */
        found = 0;
        oend = o;

        for (os = out->data; os < oend && !found; /* void */) {
            a = os;
            while (os < oend && *os != ' ') {
                os++;
            }
            found = (size_t) (os - a) == (size_t) (p - start)
                    && ngx_strncmp(a, start, p - start) == 0;
            os++;
        }

        if (found) {
            continue;
        }

        if (o > out->data) {
            *o++ = ' ';
        }

        o = ngx_cpymem(o, start, p - start);
    }

    if (o == out->data) {
        return NGX_DECLINED;
    }

    *o = '\0';
    out->len = o - out->data;

    return NGX_OK;
}


/* Is uri exactly one of the app's redirect URIs (one a line)? */
ngx_uint_t
ngx_http_mastodon_oauth_redirect_allowed(ngx_str_t *uri, ngx_str_t *registered)
{
    u_char  *p, *end, *start;

    if (uri->len == 0) {
        return 0;
    }

    p = registered->data;
    end = p + registered->len;

    while (p < end) {
        start = p;

        while (p < end && *p != '\n' && *p != '\r') {
            p++;
        }

        if ((size_t) (p - start) == uri->len
            && ngx_strncmp(start, uri->data, uri->len) == 0)
        {
            return 1;
        }

        p++;
    }

    return 0;
}


static ngx_int_t
ngx_http_mastodon_oauth_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *error, const char *description)
{
    u_char                    *p;
    ngx_str_t                  challenge;
    ngx_http_mastodon_json_t   j;

    if (status == NGX_HTTP_UNAUTHORIZED) {
        challenge.len = sizeof("Bearer realm=\"Doorkeeper\", error=\"\", "
                               "error_description=\"\"")
                        + ngx_strlen(error) + ngx_strlen(description);
        challenge.data = ngx_pnalloc(r->pool, challenge.len);
        if (challenge.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = ngx_sprintf(challenge.data, "Bearer realm=\"Doorkeeper\", "
                        "error=\"%s\", error_description=\"%s\"",
                        error, description);
        challenge.len = p - challenge.data;

        if (ngx_http_mastodon_add_header(r, "WWW-Authenticate", &challenge)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK
        || ngx_http_mastodon_add_header(r, "Cache-Control",
                                        &ngx_http_mastodon_oauth_no_store)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mastodon_json_open(&j, NULL);
    ngx_http_mastodon_json_kv_cstr(&j, "error", error);
    ngx_http_mastodon_json_kv_cstr(&j, "error_description", description);
    ngx_http_mastodon_json_close(&j);

    return ngx_http_mastodon_json_send(&j, status);
}


/*
 * Client credentials: HTTP Basic (client_id:client_secret) or the
 * client_id/client_secret parameters.  NGX_DECLINED: malformed.
 */
static ngx_int_t
ngx_http_mastodon_oauth_client(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_token_req_t *t)
{
    u_char     *p, *colon;
    ngx_str_t   src, dst;

    /* a Bearer (or any other) scheme: Doorkeeper reads the parameters */
    if (r->headers_in.authorization == NULL
        || r->headers_in.authorization->value.len < 6
        || ngx_strncasecmp(r->headers_in.authorization->value.data,
                           (u_char *) "Basic ", 6) != 0)
    {

        if (ngx_http_mastodon_oauth_param(ctx, "client_id", &t->client_id,
                                          NGX_HTTP_MASTODON_OAUTH_PARAM_MAX)
                != NGX_OK
            || ngx_http_mastodon_oauth_param(ctx, "client_secret",
                                             &t->client_secret,
                                             NGX_HTTP_MASTODON_OAUTH_PARAM_MAX)
               != NGX_OK)
        {
            return NGX_DECLINED;
        }

        if (t->client_secret.len == 0) {
            t->client_secret.data = NULL;
        }

        return NGX_OK;
    }

    src = r->headers_in.authorization->value;

    if (src.len > 1024) {
        return NGX_DECLINED;
    }

    src.data += 6;
    src.len -= 6;

    while (src.len && src.data[0] == ' ') {
        src.data++;
        src.len--;
    }

    dst.data = ngx_pnalloc(r->pool, ngx_base64_decoded_length(src.len) + 1);
    if (dst.data == NULL || ngx_decode_base64(&dst, &src) != NGX_OK) {
        return NGX_DECLINED;
    }

    colon = ngx_strlchr(dst.data, dst.data + dst.len, ':');
    if (colon == NULL || ngx_strlchr(dst.data, dst.data + dst.len, '\0')) {
        return NGX_DECLINED;
    }

    /* NUL-terminate both halves for PostgreSQL */
    p = ngx_pnalloc(r->pool, dst.len + 1);
    if (p == NULL) {
        return NGX_DECLINED;
    }
    ngx_memcpy(p, dst.data, dst.len);
    p[colon - dst.data] = '\0';
    p[dst.len] = '\0';

    t->client_id.data = p;
    t->client_id.len = colon - dst.data;
    t->client_secret.data = p + t->client_id.len + 1;
    t->client_secret.len = dst.len - t->client_id.len - 1;

    if (t->client_secret.len == 0) {
        t->client_secret.data = NULL;
    }

    return NGX_OK;
}


/* A string parameter of at most max bytes (absent: empty, data NULL). */
static ngx_int_t
ngx_http_mastodon_oauth_param(ngx_http_mastodon_ctx_t *ctx, const char *name,
    ngx_str_t *out, size_t max)
{
    size_t       len;
    const char  *s;

    ngx_str_null(out);

    s = mstdn_param_str(ctx->params, name, &len);
    if (s == NULL) {
        return NGX_OK;
    }

    if (len > max) {
        return NGX_DECLINED;
    }

    out->data = (u_char *) s;           /* NUL-terminated */
    out->len = len;

    return NGX_OK;
}


static ngx_uint_t
ngx_http_mastodon_oauth_secret_ok(ngx_http_mastodon_token_req_t *t,
    PGresult *app)
{
    size_t  len;

    if (t->client_secret.data == NULL) {
        return 0;
    }

    len = PQgetlength(app, 0, 1);

    return len == t->client_secret.len
           && mstdn_secure_equal(PQgetvalue(app, 0, 1), t->client_secret.data,
                                 len);
}


/* One or two look-ups in one round trip. */
static ngx_int_t
ngx_http_mastodon_oauth_run(ngx_http_request_t *r,
    ngx_http_mastodon_pg_done_pt handler, void *data,
    ngx_http_mastodon_pg_stmt_t *s1, const char **v1,
    ngx_http_mastodon_pg_stmt_t *s2, const char **v2)
{
    ngx_http_mastodon_pg_batch_t  *b;

    b = ngx_http_mastodon_pg_batch(r, handler, data);
    if (b == NULL || ngx_http_mastodon_pg_add(b, s1, v1) != NGX_OK
        || (s2 && ngx_http_mastodon_pg_add(b, s2, v2) != NGX_OK))
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mastodon_pg_run(b) != NGX_OK) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}
