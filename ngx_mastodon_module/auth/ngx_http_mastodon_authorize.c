/*
 * The OAuth 2 front channel: what a person sees in the browser (or the
 * popup a web client opens).
 *
 *   GET    /oauth/authorize          validates the request as Doorkeeper
 *                                    does, then the sign-in form or the
 *                                    consent screen;
 *   POST   /oauth/authorize          Authorize: a grant (code), 303 to the
 *                                    client (or the out-of-band page);
 *   DELETE /oauth/authorize          Deny (also POST with _method=delete,
 *                                    what the HTML form sends);
 *   GET    /oauth/authorize/native   shows an out-of-band code;
 *   GET    /auth/sign_in, POST /auth/sign_in   the sign-in form, sessions.
 *
 * An unknown client or a redirect URI the app did not register gets an error
 * page, never a redirect; the other errors go back to the client as
 * error=...&error_description=...&state=... (RFC 6749 4.1.2.1).  Every form
 * carries an authenticity_token (_session.c); every page is HTML-escaped.
 */

#include "ngx_http_mastodon_auth.h"
#include "mstdn_oauth.h"


#define NGX_HTTP_MASTODON_AUTHZ_SHOW     0
#define NGX_HTTP_MASTODON_AUTHZ_APPROVE  1
#define NGX_HTTP_MASTODON_AUTHZ_DENY     2
#define NGX_HTTP_MASTODON_AUTHZ_SIGN_IN  3

#define NGX_HTTP_MASTODON_AUTHZ_GRANT_TTL  "600"

#define NGX_HTTP_MASTODON_INVALID_LOGIN  "Invalid email or password."


typedef struct {
    ngx_uint_t                  action;
    ngx_uint_t                  force_login;

    ngx_str_t                   client_id;
    ngx_str_t                   redirect_uri;
    ngx_str_t                   response_type;
    ngx_str_t                   response_mode;
    ngx_str_t                   scope;
    ngx_str_t                   state;
    ngx_str_t                   code_challenge;
    ngx_str_t                   code_challenge_method;
    ngx_str_t                   lang;

    ngx_str_t                   session;        /* the cookie's secret */
    int64_t                     user_id;

    ngx_str_t                   app_id;         /* from PostgreSQL */
    ngx_str_t                   app_name;
    ngx_str_t                   app_website;
    ngx_str_t                   app_redirect;
    ngx_str_t                   app_scopes;
    ngx_str_t                   username;
    ngx_str_t                   scopes;         /* validated */
    ngx_uint_t                  fragment;

    ngx_str_t                   login;          /* sign-in */
    ngx_str_t                   password;
    ngx_str_t                   login_user_id;

    u_char                      code[MSTDN_SECRET_LEN + 1];
    u_char                      digest[65];
    u_char                      new_session[MSTDN_SECRET_LEN + 1];
} ngx_http_mastodon_authz_t;


typedef struct {
    const char                 *scope;
    const char                 *text;
} ngx_http_mastodon_scope_text_t;


static ngx_http_mastodon_scope_text_t  ngx_http_mastodon_scope_texts[] = {
    { "read", "read all your account's data" },
    { "write", "modify all your account's data" },
    { "follow", "modify account relationships" },
    { "push", "receive your push notifications" },
    { "profile", "read only your account's profile information" },
    { "read:accounts", "see accounts information" },
    { "read:blocks", "see your blocks" },
    { "read:bookmarks", "see your bookmarks" },
    { "read:favourites", "see your favorites" },
    { "read:filters", "see your filters" },
    { "read:follows", "see your follows" },
    { "read:lists", "see your lists" },
    { "read:mutes", "see your mutes" },
    { "read:notifications", "see your notifications" },
    { "read:search", "search on your behalf" },
    { "read:statuses", "see all posts" },
    { "write:accounts", "modify your profile" },
    { "write:blocks", "block accounts and domains" },
    { "write:bookmarks", "bookmark posts" },
    { "write:conversations", "mute and delete conversations" },
    { "write:favourites", "favorite posts" },
    { "write:filters", "create filters" },
    { "write:follows", "follow people" },
    { "write:lists", "create lists" },
    { "write:media", "upload media files" },
    { "write:mutes", "mute people and conversations" },
    { "write:notifications", "clear your notifications" },
    { "write:reports", "report other people" },
    { "write:statuses", "publish posts" },
    { NULL, NULL }
};


static ngx_int_t ngx_http_mastodon_authz_init(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_uint_t action,
    ngx_http_mastodon_authz_t **ap);
static ngx_int_t ngx_http_mastodon_authz_start(ngx_http_request_t *r,
    ngx_http_mastodon_authz_t *a);
static void ngx_http_mastodon_authz_session(ngx_http_request_t *r,
    int64_t user_id, void *data);
static ngx_int_t ngx_http_mastodon_authz_load(ngx_http_request_t *r,
    ngx_http_mastodon_authz_t *a);
static void ngx_http_mastodon_authz_loaded(ngx_http_mastodon_pg_batch_t *b);
static ngx_int_t ngx_http_mastodon_authz_validate(ngx_http_request_t *r,
    ngx_http_mastodon_authz_t *a, const char **error,
    const char **description);
static ngx_int_t ngx_http_mastodon_authz_approve(ngx_http_request_t *r,
    ngx_http_mastodon_authz_t *a);
static void ngx_http_mastodon_authz_granted(ngx_http_mastodon_pg_batch_t *b);
static ngx_int_t ngx_http_mastodon_authz_redirect(ngx_http_request_t *r,
    ngx_http_mastodon_authz_t *a, const char *key, ngx_str_t *value,
    const char *description);
static ngx_int_t ngx_http_mastodon_authz_consent(ngx_http_request_t *r,
    ngx_http_mastodon_authz_t *a);
static void ngx_http_mastodon_authz_fields(ngx_http_mastodon_html_t *h,
    ngx_http_mastodon_authz_t *a);
static ngx_int_t ngx_http_mastodon_authz_pg(ngx_http_request_t *r,
    ngx_http_mastodon_authz_t *a, ngx_http_mastodon_pg_stmt_t *stmt,
    const char **values, ngx_http_mastodon_pg_done_pt done);
static ngx_int_t ngx_http_mastodon_authz_query(ngx_http_request_t *r,
    ngx_http_mastodon_authz_t *a, ngx_uint_t force_login, ngx_str_t *out);
static ngx_int_t ngx_http_mastodon_error_page(ngx_http_request_t *r,
    ngx_http_mastodon_authz_t *a, ngx_uint_t status, const char *description);
static ngx_int_t ngx_http_mastodon_csrf_page(ngx_http_request_t *r,
    ngx_http_mastodon_authz_t *a);
static ngx_int_t ngx_http_mastodon_authz_malformed(ngx_http_request_t *r,
    ngx_http_mastodon_authz_t *a);
static ngx_int_t ngx_http_mastodon_sign_in_page(ngx_http_request_t *r,
    ngx_http_mastodon_authz_t *a, ngx_uint_t status, const char *alert);
static void ngx_http_mastodon_sign_in_loaded(ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_sign_in_checked(ngx_http_request_t *r,
    ngx_uint_t ok, void *data);
static void ngx_http_mastodon_sign_in_stored(ngx_http_request_t *r,
    redisReply *reply, void *data);
static void ngx_http_mastodon_sign_in_counted(
    ngx_http_mastodon_pg_batch_t *b);


static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_authz_app_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT id, name, coalesce(website, ''), redirect_uri, scopes"
        " FROM oauth_applications WHERE uid = $1", 1);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_authz_user_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT a.username, u.disabled OR a.suspended_at IS NOT NULL"
        " FROM users u JOIN accounts a ON a.id = u.account_id"
        " WHERE u.id = $1", 1);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_authz_grant_stmt =
    ngx_http_mastodon_pg_stmt(
        "INSERT INTO oauth_access_grants"
        " (token, expires_in, redirect_uri, scopes, application_id,"
        "  resource_owner_id, code_challenge, code_challenge_method,"
        "  created_at)"
        " VALUES ($1, " NGX_HTTP_MASTODON_AUTHZ_GRANT_TTL ", $2, $3, $4, $5,"
        "  $6, $7, now() AT TIME ZONE 'UTC')", 7);

/* by e-mail, or a local username */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_sign_in_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT u.id, u.encrypted_password,"
        " u.disabled OR a.suspended_at IS NOT NULL, u.otp_required_for_login"
        " FROM users u JOIN accounts a ON a.id = u.account_id"
        " WHERE u.email = lower($1)"
        "  OR (a.domain IS NULL AND lower(a.username) = lower($1))"
        " ORDER BY u.email = lower($1) DESC LIMIT 1", 1);

/* Devise's trackable */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_sign_in_count_stmt =
    ngx_http_mastodon_pg_stmt(
        "UPDATE users SET sign_in_count = sign_in_count + 1,"
        " last_sign_in_at = coalesce(current_sign_in_at,"
        "  now() AT TIME ZONE 'UTC'),"
        " current_sign_in_at = now() AT TIME ZONE 'UTC'"
        " WHERE id = $1", 1);


/* GET /oauth/authorize */
ngx_int_t
ngx_http_mastodon_authorize_show(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    ngx_int_t                   rc;
    ngx_http_mastodon_authz_t  *a;

    rc = ngx_http_mastodon_authz_init(r, ctx, NGX_HTTP_MASTODON_AUTHZ_SHOW,
                                      &a);
    if (rc != NGX_OK) {
        return rc == NGX_DECLINED ? ngx_http_mastodon_authz_malformed(r, a)
                                  : rc;
    }

    return ngx_http_mastodon_authz_start(r, a);
}


/* A decision on the consent screen: checked, then carried out. */
static ngx_int_t
ngx_http_mastodon_authorize_decide(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_uint_t action)
{
    ngx_int_t                   rc;
    ngx_http_mastodon_authz_t  *a;

    rc = ngx_http_mastodon_authz_init(r, ctx, action, &a);
    if (rc != NGX_OK) {
        return rc == NGX_DECLINED ? ngx_http_mastodon_authz_malformed(r, a)
                                  : rc;
    }

    if (!ngx_http_mastodon_csrf_valid(ctx, &a->session)) {
        return ngx_http_mastodon_csrf_page(r, a);
    }

    return ngx_http_mastodon_authz_start(r, a);
}


/* POST /oauth/authorize: Authorize, or Deny with _method=delete */
ngx_int_t
ngx_http_mastodon_authorize_create(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    size_t       len;
    const char  *method;

    method = mstdn_param_str(ctx->params, "_method", &len);

    return ngx_http_mastodon_authorize_decide(r, ctx,
               (method && len == 6
                && ngx_strncasecmp((u_char *) method, (u_char *) "delete", 6)
                   == 0)
               ? NGX_HTTP_MASTODON_AUTHZ_DENY
               : NGX_HTTP_MASTODON_AUTHZ_APPROVE);
}


/* DELETE /oauth/authorize: Deny */
ngx_int_t
ngx_http_mastodon_authorize_destroy(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_authorize_decide(r, ctx,
                                              NGX_HTTP_MASTODON_AUTHZ_DENY);
}


/* GET /oauth/authorize/native?code=...: the out-of-band code, to copy */
ngx_int_t
ngx_http_mastodon_authorize_native(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    size_t                     len;
    ngx_str_t                  code;
    const char                *s;
    ngx_http_mastodon_html_t   h;

    s = mstdn_param_str(ctx->params, "code", &len);
    if (s == NULL || len == 0 || len > 256) {
        return ngx_http_mastodon_error_page(r, NULL, NGX_HTTP_BAD_REQUEST,
                                        "Missing required parameter: code.");
    }

    code.data = (u_char *) s;
    code.len = len;

    if (ngx_http_mastodon_html_begin(r, &h, "Authorization code", NULL)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mastodon_html_raw(&h, "<p>Copy this authorization code and "
                               "paste it into the application.</p>\n"
                               "<p class=\"code\" id=\"code\">");
    ngx_http_mastodon_html_text(&h, &code);
    ngx_http_mastodon_html_raw(&h, "</p>\n");

    return ngx_http_mastodon_html_send(&h, NGX_HTTP_OK);
}


/* GET /auth/sign_in */
ngx_int_t
ngx_http_mastodon_sign_in_show(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    ngx_int_t                   rc;
    ngx_http_mastodon_authz_t  *a;

    rc = ngx_http_mastodon_authz_init(r, ctx, NGX_HTTP_MASTODON_AUTHZ_SIGN_IN,
                                      &a);
    if (rc != NGX_OK) {
        return rc == NGX_DECLINED ? ngx_http_mastodon_authz_malformed(r, a)
                                  : rc;
    }

    return ngx_http_mastodon_sign_in_page(r, a, NGX_HTTP_OK, NULL);
}


/* POST /auth/sign_in: user[email], user[password], the OAuth request */
ngx_int_t
ngx_http_mastodon_sign_in_create(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    size_t                         len;
    ngx_int_t                      rc;
    ngx_str_t                      csrf;
    const char                    *s, **values;
    mstdn_value_t                 *user;
    ngx_http_mastodon_authz_t     *a;

    rc = ngx_http_mastodon_authz_init(r, ctx, NGX_HTTP_MASTODON_AUTHZ_SIGN_IN,
                                      &a);
    if (rc != NGX_OK) {
        return rc == NGX_DECLINED ? ngx_http_mastodon_authz_malformed(r, a)
                                  : rc;
    }

    /* the sign-in form is bound to the pre-session cookie */
    ngx_http_mastodon_cookie(r, NGX_HTTP_MASTODON_CSRF_COOKIE, &csrf);

    if (!ngx_http_mastodon_csrf_valid(ctx, &csrf)) {
        return ngx_http_mastodon_csrf_page(r, a);
    }

    user = mstdn_object_get(ctx->params, "user");

    if (user && user->type == MSTDN_OBJECT) {
        s = mstdn_param_str(user, "email", &len);
        if (s && len > 0 && len <= 320) {
            a->login.data = (u_char *) s;
            a->login.len = len;
        }

        s = mstdn_param_str(user, "password", &len);
        if (s && len > 0 && len <= 1024) {
            a->password.data = (u_char *) s;
            a->password.len = len;
        }
    }

    if (a->login.len == 0 || a->password.len == 0) {
        return ngx_http_mastodon_sign_in_page(r, a, 422,
                                              NGX_HTTP_MASTODON_INVALID_LOGIN);
    }

    values = ngx_palloc(r->pool, sizeof(char *));
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[0] = (const char *) a->login.data;       /* NUL-terminated */

    return ngx_http_mastodon_authz_pg(r, a, &ngx_http_mastodon_sign_in_stmt,
                                      values, ngx_http_mastodon_sign_in_loaded);
}


static void
ngx_http_mastodon_sign_in_loaded(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_str_t                   hash;
    PGresult                   *res;
    ngx_http_request_t         *r;
    ngx_http_mastodon_authz_t  *a;

    r = b->request;
    a = b->data;
    res = ngx_http_mastodon_pg_rows(b, 0);

    if (res == NULL) {
        ngx_http_mastodon_finalize(r,
            ngx_http_mastodon_error_page(r, a, NGX_HTTP_SERVICE_UNAVAILABLE,
                                         NULL));
        return;
    }

    ngx_str_null(&hash);

    if (PQntuples(res) == 1) {
        a->login_user_id = ngx_http_mastodon_pg_str(res, 0, 0);
        hash = ngx_http_mastodon_pg_str(res, 0, 1);

        /* disabled/suspended, or two-factor: checked once the password is */
        if (PQgetvalue(res, 0, 2)[0] == 't') {
            a->user_id = -1;
        } else if (PQgetvalue(res, 0, 3)[0] == 't') {
            a->user_id = -2;
        }
    }

    if (ngx_http_mastodon_password_check(r, &a->password, &hash,
                                         ngx_http_mastodon_sign_in_checked, a)
        != NGX_OK)
    {
        ngx_http_mastodon_finalize(r,
            ngx_http_mastodon_error_page(r, a, NGX_HTTP_SERVICE_UNAVAILABLE,
                                         NULL));
    }
}


static void
ngx_http_mastodon_sign_in_checked(ngx_http_request_t *r, ngx_uint_t ok,
    void *data)
{
    int64_t                     id;
    ngx_http_mastodon_authz_t  *a = data;

    if (!ok || a->login_user_id.len == 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: sign-in failed for \"%V\"", &a->login);
        ngx_http_mastodon_finalize(r,
            ngx_http_mastodon_sign_in_page(r, a, 422,
                                           NGX_HTTP_MASTODON_INVALID_LOGIN));
        return;
    }

    if (a->user_id == -1) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: sign-in refused for disabled user %V",
                      &a->login_user_id);
        ngx_http_mastodon_finalize(r,
            ngx_http_mastodon_sign_in_page(r, a, 422,
                                           "Your account has been disabled."));
        return;
    }

    if (a->user_id == -2) {
        ngx_http_mastodon_finalize(r,
            ngx_http_mastodon_sign_in_page(r, a, 422,
                "This account uses two-factor authentication, which this "
                "server does not support yet."));
        return;
    }

    id = ngx_atoof(a->login_user_id.data, a->login_user_id.len);

    /* a new session at every sign-in: no fixation */
    if (ngx_http_mastodon_session_create(r, id, a->new_session,
                                         ngx_http_mastodon_sign_in_stored, a)
        != NGX_OK)
    {
        ngx_http_mastodon_finalize(r,
            ngx_http_mastodon_error_page(r, a, NGX_HTTP_SERVICE_UNAVAILABLE,
                                         NULL));
    }
}


static void
ngx_http_mastodon_sign_in_stored(ngx_http_request_t *r, redisReply *reply,
    void *data)
{
    ngx_int_t                       rc;
    const char                    **values;
    ngx_http_mastodon_authz_t      *a = data;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mastodon: session not stored in Redis");
        ngx_http_mastodon_finalize(r,
            ngx_http_mastodon_error_page(r, a, NGX_HTTP_SERVICE_UNAVAILABLE,
                                         NULL));
        return;
    }

    values = ngx_palloc(r->pool, sizeof(char *));
    if (values == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    values[0] = (const char *) a->login_user_id.data;

    rc = ngx_http_mastodon_authz_pg(r, a, &ngx_http_mastodon_sign_in_count_stmt,
                                      values, ngx_http_mastodon_sign_in_counted);

    if (rc != NGX_DONE) {
        ngx_http_mastodon_finalize(r, rc);
    }
}


static void
ngx_http_mastodon_sign_in_counted(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_str_t                   secret, location;
    ngx_http_request_t         *r;
    ngx_http_mastodon_html_t    h;
    ngx_http_mastodon_authz_t  *a;

    r = b->request;
    a = b->data;

    if (b->rc != NGX_OK || b->results[0] == NULL
        || PQresultStatus(b->results[0]) != PGRES_COMMAND_OK)
    {
        /* the session exists; only the counters are lost */
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mastodon: sign-in counters of user %V not updated",
                      &a->login_user_id);
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mastodon: user %V signed in", &a->login_user_id);

    secret.data = a->new_session;
    secret.len = MSTDN_SECRET_LEN;

    if (ngx_http_mastodon_set_cookie(r, NGX_HTTP_MASTODON_SESSION_COOKIE,
                                     &secret, NGX_HTTP_MASTODON_SESSION_TTL)
        != NGX_OK)
    {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (a->client_id.len) {
        /* back to the authorization request, signed in */
        if (ngx_http_mastodon_authz_query(r, a, 0, &location) != NGX_OK) {
            ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_http_mastodon_finalize(r,
            ngx_http_mastodon_redirect(r, NGX_HTTP_SEE_OTHER, &location));
        return;
    }

    if (ngx_http_mastodon_html_begin(r, &h, "Signed in", &a->lang)
        != NGX_OK)
    {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_mastodon_html_raw(&h, "<p>You are signed in. You can close "
                               "this page and return to your "
                               "application.</p>\n");

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_html_send(&h,
                                                              NGX_HTTP_OK));
}


/* The request's OAuth parameters (query or form) and its session cookie. */
static ngx_int_t
ngx_http_mastodon_authz_init(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_uint_t action,
    ngx_http_mastodon_authz_t **ap)
{
    size_t                      len, i;
    const char                 *s;
    ngx_str_t                  *field;
    ngx_http_mastodon_authz_t  *a;

    static struct {
        const char  *name;
        size_t       offset;
        size_t       max;
    }  params[] = {
        { "client_id", offsetof(ngx_http_mastodon_authz_t, client_id), 256 },
        { "redirect_uri", offsetof(ngx_http_mastodon_authz_t, redirect_uri),
          2000 },
        { "response_type",
          offsetof(ngx_http_mastodon_authz_t, response_type), 64 },
        { "response_mode",
          offsetof(ngx_http_mastodon_authz_t, response_mode), 64 },
        { "scope", offsetof(ngx_http_mastodon_authz_t, scope), 1024 },
        { "state", offsetof(ngx_http_mastodon_authz_t, state), 2000 },
        { "code_challenge",
          offsetof(ngx_http_mastodon_authz_t, code_challenge), 128 },
        { "code_challenge_method",
          offsetof(ngx_http_mastodon_authz_t, code_challenge_method), 16 },
        { "lang", offsetof(ngx_http_mastodon_authz_t, lang), 16 }
    };

    a = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_authz_t));
    if (a == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *ap = a;
    a->action = action;

    for (i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
        field = (ngx_str_t *) ((u_char *) a + params[i].offset);
        s = mstdn_param_str(ctx->params, params[i].name, &len);

        if (s == NULL || len == 0) {
            continue;
        }

        if (len > params[i].max) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "mastodon: OAuth parameter \"%s\" too long",
                          params[i].name);
            return NGX_DECLINED;
        }

        field->data = (u_char *) s;         /* NUL-terminated */
        field->len = len;
    }

    a->force_login = mstdn_param_bool(ctx->params, "force_login", 0);

    ngx_http_mastodon_cookie(r, NGX_HTTP_MASTODON_SESSION_COOKIE,
                             &a->session);

    if (!ngx_http_mastodon_secret_valid(&a->session)) {
        ngx_str_null(&a->session);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_mastodon_authz_start(ngx_http_request_t *r,
    ngx_http_mastodon_authz_t *a)
{
    if (a->client_id.len == 0) {
        return ngx_http_mastodon_error_page(r, a, NGX_HTTP_BAD_REQUEST,
                                   "Missing required parameter: client_id.");
    }

    if (a->session.len
        && !(a->action == NGX_HTTP_MASTODON_AUTHZ_SHOW && a->force_login)
        && ngx_http_mastodon_session_lookup(r, &a->session,
                                            ngx_http_mastodon_authz_session, a)
           == NGX_OK)
    {
        return NGX_DONE;
    }

    /* no session (or no Redis): not signed in */
    return ngx_http_mastodon_authz_load(r, a);
}


static void
ngx_http_mastodon_authz_session(ngx_http_request_t *r, int64_t user_id,
    void *data)
{
    ngx_int_t                   rc;
    ngx_http_mastodon_authz_t  *a = data;

    a->user_id = user_id > 0 ? user_id : 0;

    rc = ngx_http_mastodon_authz_load(r, a);

    if (rc != NGX_DONE) {
        ngx_http_mastodon_finalize(r, rc);
    }
}


/* The app (and the signed-in user) in one round trip. */
static ngx_int_t
ngx_http_mastodon_authz_load(ngx_http_request_t *r,
    ngx_http_mastodon_authz_t *a)
{
    const char                    **v1, **v2;
    ngx_http_mastodon_pg_batch_t   *b;

    v1 = ngx_palloc(r->pool, sizeof(char *));
    v2 = ngx_palloc(r->pool, sizeof(char *));
    if (v1 == NULL || v2 == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    v1[0] = (const char *) a->client_id.data;
    v2[0] = ngx_http_mastodon_pg_int64(r, a->user_id);

    b = ngx_http_mastodon_pg_batch(r, ngx_http_mastodon_authz_loaded, a);
    if (b == NULL || v2[0] == NULL
        || ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_authz_app_stmt, v1)
           != NGX_OK
        || (a->user_id
            && ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_authz_user_stmt,
                                        v2)
               != NGX_OK))
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mastodon_pg_run(b) != NGX_OK) {
        return ngx_http_mastodon_error_page(r, a, NGX_HTTP_SERVICE_UNAVAILABLE,
                                            NULL);
    }

    return NGX_DONE;
}


static void
ngx_http_mastodon_authz_loaded(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_int_t                   rc;
    ngx_str_t                   error;
    PGresult                   *app, *user;
    const char                 *err, *description;
    ngx_http_request_t         *r;
    ngx_http_mastodon_authz_t  *a;

    r = b->request;
    a = b->data;
    app = b->results[0];
    user = a->user_id ? b->results[1] : NULL;

    if (b->rc != NGX_OK || app == NULL
        || PQresultStatus(app) != PGRES_TUPLES_OK
        || (a->user_id
            && (user == NULL || PQresultStatus(user) != PGRES_TUPLES_OK)))
    {
        ngx_http_mastodon_finalize(r,
            ngx_http_mastodon_error_page(r, a, NGX_HTTP_SERVICE_UNAVAILABLE,
                                         NULL));
        return;
    }

    /* these two are never redirected (RFC 6749 3.1.2.4, 4.1.2.1) */

    if (PQntuples(app) != 1) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: authorization for unknown client \"%V\"",
                      &a->client_id);
        ngx_http_mastodon_finalize(r,
            ngx_http_mastodon_error_page(r, a, NGX_HTTP_UNAUTHORIZED,
                "Client authentication failed due to unknown client, no "
                "client authentication included, or unsupported "
                "authentication method."));
        return;
    }

    a->app_id = ngx_http_mastodon_pg_str(app, 0, 0);
    a->app_name = ngx_http_mastodon_pg_str(app, 0, 1);
    a->app_website = ngx_http_mastodon_pg_str(app, 0, 2);
    a->app_redirect = ngx_http_mastodon_pg_str(app, 0, 3);
    a->app_scopes = ngx_http_mastodon_pg_str(app, 0, 4);

    if (!ngx_http_mastodon_oauth_redirect_allowed(&a->redirect_uri,
                                                  &a->app_redirect))
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: redirect URI \"%V\" not registered by "
                      "app %V", &a->redirect_uri, &a->app_id);
        ngx_http_mastodon_finalize(r,
            ngx_http_mastodon_error_page(r, a, NGX_HTTP_BAD_REQUEST,
                "The requested redirect URI is malformed or doesn't match "
                "the client redirect URI."));
        return;
    }

    /* the rest go back to the client */
    rc = ngx_http_mastodon_authz_validate(r, a, &err, &description);

    if (rc == NGX_DECLINED) {
        error.data = (u_char *) err;
        error.len = ngx_strlen(err);
        ngx_http_mastodon_finalize(r,
            ngx_http_mastodon_authz_redirect(r, a, "error", &error,
                                             description));
        return;
    }

    if (rc != NGX_OK) {
        ngx_http_mastodon_finalize(r, rc);
        return;
    }

    if (user && PQntuples(user) == 1 && PQgetvalue(user, 0, 1)[0] != 't') {
        a->username = ngx_http_mastodon_pg_str(user, 0, 0);

    } else {
        a->user_id = 0;
    }

    if (a->user_id == 0
        || (a->action == NGX_HTTP_MASTODON_AUTHZ_SHOW && a->force_login))
    {
        ngx_http_mastodon_finalize(r,
            ngx_http_mastodon_sign_in_page(r, a, NGX_HTTP_OK, NULL));
        return;
    }

    switch (a->action) {

    case NGX_HTTP_MASTODON_AUTHZ_APPROVE:
        rc = ngx_http_mastodon_authz_approve(r, a);
        break;

    case NGX_HTTP_MASTODON_AUTHZ_DENY:
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: user %L denied app %V", a->user_id,
                      &a->app_id);
        ngx_str_set(&error, "access_denied");
        rc = ngx_http_mastodon_authz_redirect(r, a, "error", &error,
                 "The resource owner or authorization server denied the "
                 "request.");
        break;

    default:
        rc = ngx_http_mastodon_authz_consent(r, a);
    }

    if (rc != NGX_DONE) {
        ngx_http_mastodon_finalize(r, rc);
    }
}


/*
 * Doorkeeper's checks after the client's: NGX_OK, or NGX_DECLINED with the
 * error to send back to the client.
 */
static ngx_int_t
ngx_http_mastodon_authz_validate(ngx_http_request_t *r,
    ngx_http_mastodon_authz_t *a, const char **error,
    const char **description)
{
    ngx_int_t  rc;

    if (a->response_type.len == 0) {
        *error = "invalid_request";
        *description = "Missing required parameter: response_type.";
        return NGX_DECLINED;
    }

    if (a->response_type.len != 4
        || ngx_strncmp(a->response_type.data, "code", 4) != 0)
    {
        *error = "unsupported_response_type";
        *description = "The authorization server does not support this "
                       "response type.";
        return NGX_DECLINED;
    }

    if (a->response_mode.len == sizeof("fragment") - 1
        && ngx_strncmp(a->response_mode.data, "fragment",
                       a->response_mode.len) == 0)
    {
        a->fragment = 1;

    } else if (a->response_mode.len
               && !(a->response_mode.len == sizeof("query") - 1
                    && ngx_strncmp(a->response_mode.data, "query",
                                   a->response_mode.len) == 0))
    {
        *error = "unsupported_response_mode";
        *description = "The authorization server does not support this "
                       "response mode.";
        return NGX_DECLINED;
    }

    rc = ngx_http_mastodon_oauth_scopes(r, &a->scope, &a->app_scopes,
                                        &a->scopes);
    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: scope \"%V\" not allowed for app %V",
                      &a->scope, &a->app_id);
        *error = "invalid_scope";
        *description = "The requested scope is invalid, unknown, or "
                       "malformed.";
        return NGX_DECLINED;
    }

    if (a->code_challenge.len
        && !(a->code_challenge_method.len == 4
             && ngx_strncmp(a->code_challenge_method.data, "S256", 4) == 0))
    {
        /* no method means "plain", which Mastodon does not accept */
        *error = "invalid_code_challenge_method";
        *description = "The code_challenge_method must be S256.";
        return NGX_DECLINED;
    }

    if (a->code_challenge.len && !ngx_http_mastodon_secret_valid(
                                                         &a->code_challenge))
    {
        /* a base64url SHA-256, 43 characters */
        *error = "invalid_request";
        *description = "The request is missing a required parameter, "
                       "includes an unsupported parameter value, or is "
                       "otherwise malformed.";
        return NGX_DECLINED;
    }

    if (a->code_challenge.len == 0) {
        ngx_str_null(&a->code_challenge_method);
    }

    return NGX_OK;
}


/* Authorize: a grant, then back to the client with its code. */
static ngx_int_t
ngx_http_mastodon_authz_approve(ngx_http_request_t *r,
    ngx_http_mastodon_authz_t *a)
{
    ngx_str_t                       code;
    const char                    **values;

    values = ngx_pcalloc(r->pool, 7 * sizeof(char *));
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[4] = ngx_http_mastodon_pg_int64(r, a->user_id);
    if (values[4] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (mstdn_random_secret((char *) a->code) != 0) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "mastodon: no random bytes for an authorization code");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    code.data = a->code;
    code.len = MSTDN_SECRET_LEN;
    ngx_http_mastodon_token_digest(&code, a->digest);
    a->digest[64] = '\0';

    values[0] = (const char *) a->digest;
    values[1] = (const char *) a->redirect_uri.data;
    values[2] = (const char *) a->scopes.data;
    values[3] = (const char *) a->app_id.data;
    values[5] = (const char *) a->code_challenge.data;  /* NULL: none */
    values[6] = (const char *) a->code_challenge_method.data;

    return ngx_http_mastodon_authz_pg(r, a, &ngx_http_mastodon_authz_grant_stmt,
                                      values, ngx_http_mastodon_authz_granted);
}


static void
ngx_http_mastodon_authz_granted(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_str_t                   code;
    ngx_http_request_t         *r;
    ngx_http_mastodon_authz_t  *a;

    r = b->request;
    a = b->data;

    if (b->rc != NGX_OK || b->results[0] == NULL
        || PQresultStatus(b->results[0]) != PGRES_COMMAND_OK)
    {
        ngx_http_mastodon_finalize(r,
            ngx_http_mastodon_error_page(r, a, NGX_HTTP_SERVICE_UNAVAILABLE,
                                         NULL));
        return;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mastodon: user %L authorized app %V (%V)", a->user_id,
                  &a->app_id, &a->scopes);

    code.data = a->code;
    code.len = MSTDN_SECRET_LEN;

    ngx_http_mastodon_finalize(r,
        ngx_http_mastodon_authz_redirect(r, a, "code", &code, NULL));
}


/*
 * Back to the client: redirect_uri?key=value[&error_description=...]
 * &state=...; the out-of-band URI gets a page instead (the code page, or
 * the error page).
 */
static ngx_int_t
ngx_http_mastodon_authz_redirect(ngx_http_request_t *r,
    ngx_http_mastodon_authz_t *a, const char *key, ngx_str_t *value,
    const char *description)
{
    ngx_str_t                  location, desc, base;
    ngx_http_mastodon_html_t   q;

    if (a->redirect_uri.len == sizeof(MSTDN_OAUTH_OOB) - 1
        && ngx_strncmp(a->redirect_uri.data, MSTDN_OAUTH_OOB,
                       a->redirect_uri.len) == 0)
    {
        if (description) {
            return ngx_http_mastodon_error_page(r, a, NGX_HTTP_BAD_REQUEST,
                                                description);
        }

        ngx_str_set(&base, "/oauth/authorize/native?");

        if (ngx_http_mastodon_query_start(r, &q, &base) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_http_mastodon_query_add(&q, key, value);

    } else {
        if (ngx_http_mastodon_query_start(r, &q, &a->redirect_uri) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (a->fragment) {
            ngx_http_mastodon_html_raw(&q, "#");

        } else if (ngx_strlchr(a->redirect_uri.data,
                               a->redirect_uri.data + a->redirect_uri.len, '?')
                   == NULL)
        {
            ngx_http_mastodon_html_raw(&q, "?");
        }

        ngx_http_mastodon_query_add(&q, key, value);

        if (description) {
            desc.data = (u_char *) description;
            desc.len = ngx_strlen(description);
            ngx_http_mastodon_query_add(&q, "error_description", &desc);
        }

        ngx_http_mastodon_query_add(&q, "state", &a->state);
    }

    ngx_http_mastodon_query_done(&q, &location);
    if (location.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* after a form post: 303, so the client's page is fetched with GET */
    return ngx_http_mastodon_redirect(r,
               a->action == NGX_HTTP_MASTODON_AUTHZ_SHOW
               ? NGX_HTTP_MOVED_TEMPORARILY : NGX_HTTP_SEE_OTHER,
               &location);
}


/* The consent screen. */
static ngx_int_t
ngx_http_mastodon_authz_consent(ngx_http_request_t *r,
    ngx_http_mastodon_authz_t *a)
{
    u_char                          *p, *end, *start;
    ngx_str_t                        word, other;
    ngx_http_mastodon_html_t         h;
    ngx_http_mastodon_scope_text_t  *st;

    if (ngx_http_mastodon_authz_query(r, a, 1, &other) != NGX_OK
        || ngx_http_mastodon_html_begin(r, &h, "Authorization required",
                                        &a->lang)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mastodon_html_raw(&h, "<p><strong id=\"app-name\">");
    ngx_http_mastodon_html_text(&h, &a->app_name);
    ngx_http_mastodon_html_raw(&h, "</strong> would like permission to "
                               "access your account.");

    if (a->app_website.len) {
        ngx_http_mastodon_html_raw(&h, " <a href=\"");
        ngx_http_mastodon_html_text(&h, &a->app_website);
        ngx_http_mastodon_html_raw(&h, "\" rel=\"noopener noreferrer "
                                   "nofollow\" target=\"_blank\">");
        ngx_http_mastodon_html_text(&h, &a->app_website);
        ngx_http_mastodon_html_raw(&h, "</a>");
    }

    ngx_http_mastodon_html_raw(&h, "</p>\n<p class=\"muted\">Signed in as "
                               "<strong>@");
    ngx_http_mastodon_html_text(&h, &a->username);
    ngx_http_mastodon_html_raw(&h, "</strong>. <a href=\"");
    ngx_http_mastodon_html_text(&h, &other);
    ngx_http_mastodon_html_raw(&h, "\">Not you?</a></p>\n"
                               "<p>This application will be able to:</p>\n"
                               "<ul class=\"scopes\">\n");

    p = a->scopes.data;
    end = p + a->scopes.len;

    while (p < end) {
        start = p;
        while (p < end && *p != ' ') {
            p++;
        }

        word.data = start;
        word.len = p - start;
        p++;

        for (st = ngx_http_mastodon_scope_texts; st->scope; st++) {
            if (ngx_strlen(st->scope) == word.len
                && ngx_strncmp(st->scope, word.data, word.len) == 0)
            {
                break;
            }
        }

        ngx_http_mastodon_html_raw(&h, "<li>");
        ngx_http_mastodon_html_ctext(&h, st->text ? st->text
                                     : "administer the server");
        ngx_http_mastodon_html_raw(&h, " <code>");
        ngx_http_mastodon_html_text(&h, &word);
        ngx_http_mastodon_html_raw(&h, "</code></li>\n");
    }

    ngx_http_mastodon_html_raw(&h, "</ul>\n"
        "<form method=\"post\" action=\"/oauth/authorize\">\n");
    ngx_http_mastodon_authz_fields(&h, a);
    ngx_http_mastodon_html_raw(&h, "<button type=\"submit\" id=\"authorize\">"
                               "Authorize</button>\n</form>\n"
        "<form method=\"post\" action=\"/oauth/authorize\">\n"
        "<input type=\"hidden\" name=\"_method\" value=\"delete\">\n");
    ngx_http_mastodon_authz_fields(&h, a);
    ngx_http_mastodon_html_raw(&h, "<button type=\"submit\" id=\"deny\" "
                               "class=\"secondary\">Deny</button>\n"
                               "</form>\n");

    return ngx_http_mastodon_html_send(&h, NGX_HTTP_OK);
}


/* The consent forms' hidden fields: the token and the request. */
static void
ngx_http_mastodon_authz_fields(ngx_http_mastodon_html_t *h,
    ngx_http_mastodon_authz_t *a)
{
    u_char     token[MSTDN_SECRET_LEN + 1];
    ngx_str_t  t;

    ngx_http_mastodon_csrf_token(&a->session, token);
    t.data = token;
    t.len = MSTDN_SECRET_LEN;

    ngx_http_mastodon_html_hidden(h, "authenticity_token", &t);
    ngx_http_mastodon_html_hidden(h, "client_id", &a->client_id);
    ngx_http_mastodon_html_hidden(h, "redirect_uri", &a->redirect_uri);
    ngx_http_mastodon_html_hidden(h, "state", &a->state);
    ngx_http_mastodon_html_hidden(h, "response_type", &a->response_type);
    ngx_http_mastodon_html_hidden(h, "response_mode", &a->response_mode);
    ngx_http_mastodon_html_hidden(h, "scope", &a->scopes);
    ngx_http_mastodon_html_hidden(h, "code_challenge", &a->code_challenge);
    ngx_http_mastodon_html_hidden(h, "code_challenge_method",
                                  &a->code_challenge_method);
    ngx_http_mastodon_html_hidden(h, "lang", &a->lang);
}


/* /oauth/authorize?<the request>[&force_login=true] */
static ngx_int_t
ngx_http_mastodon_authz_query(ngx_http_request_t *r,
    ngx_http_mastodon_authz_t *a, ngx_uint_t force_login, ngx_str_t *out)
{
    ngx_str_t                  base, t;
    ngx_http_mastodon_html_t   q;

    ngx_str_set(&base, "/oauth/authorize?");

    if (ngx_http_mastodon_query_start(r, &q, &base) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_mastodon_query_add(&q, "client_id", &a->client_id);
    ngx_http_mastodon_query_add(&q, "redirect_uri", &a->redirect_uri);
    ngx_http_mastodon_query_add(&q, "response_type", &a->response_type);
    ngx_http_mastodon_query_add(&q, "response_mode", &a->response_mode);
    ngx_http_mastodon_query_add(&q, "scope", &a->scope);
    ngx_http_mastodon_query_add(&q, "state", &a->state);
    ngx_http_mastodon_query_add(&q, "code_challenge", &a->code_challenge);
    ngx_http_mastodon_query_add(&q, "code_challenge_method",
                                &a->code_challenge_method);
    ngx_http_mastodon_query_add(&q, "lang", &a->lang);

    if (force_login) {
        ngx_str_set(&t, "true");
        ngx_http_mastodon_query_add(&q, "force_login", &t);
    }

    ngx_http_mastodon_query_done(&q, out);

    return out->data ? NGX_OK : NGX_ERROR;
}


/* The sign-in form, bound to the pre-session cookie. */
static ngx_int_t
ngx_http_mastodon_sign_in_page(ngx_http_request_t *r,
    ngx_http_mastodon_authz_t *a, ngx_uint_t status, const char *alert)
{
    u_char                     secret[MSTDN_SECRET_LEN + 1];
    u_char                     token[MSTDN_SECRET_LEN + 1];
    ngx_str_t                  csrf, t;
    ngx_http_mastodon_html_t   h;

    ngx_http_mastodon_cookie(r, NGX_HTTP_MASTODON_CSRF_COOKIE, &csrf);

    if (!ngx_http_mastodon_secret_valid(&csrf)) {
        if (mstdn_random_secret((char *) secret) != 0) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        csrf.data = ngx_pnalloc(r->pool, MSTDN_SECRET_LEN);
        if (csrf.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(csrf.data, secret, MSTDN_SECRET_LEN);
        csrf.len = MSTDN_SECRET_LEN;

        if (ngx_http_mastodon_set_cookie(r, NGX_HTTP_MASTODON_CSRF_COOKIE,
                                         &csrf, -1)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    ngx_http_mastodon_csrf_token(&csrf, token);
    t.data = token;
    t.len = MSTDN_SECRET_LEN;

    if (ngx_http_mastodon_html_begin(r, &h, "Log in", &a->lang) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (a->app_name.len) {
        ngx_http_mastodon_html_raw(&h, "<p>Log in to continue to <strong>");
        ngx_http_mastodon_html_text(&h, &a->app_name);
        ngx_http_mastodon_html_raw(&h, "</strong>.</p>\n");
    }

    if (alert) {
        ngx_http_mastodon_html_raw(&h, "<p class=\"error\" role=\"alert\" "
                                   "id=\"alert\">");
        ngx_http_mastodon_html_ctext(&h, alert);
        ngx_http_mastodon_html_raw(&h, "</p>\n");
    }

    ngx_http_mastodon_html_raw(&h,
        "<form method=\"post\" action=\"/auth/sign_in\">\n");
    ngx_http_mastodon_html_hidden(&h, "authenticity_token", &t);
    ngx_http_mastodon_html_hidden(&h, "client_id", &a->client_id);
    ngx_http_mastodon_html_hidden(&h, "redirect_uri", &a->redirect_uri);
    ngx_http_mastodon_html_hidden(&h, "response_type", &a->response_type);
    ngx_http_mastodon_html_hidden(&h, "response_mode", &a->response_mode);
    ngx_http_mastodon_html_hidden(&h, "scope", &a->scope);
    ngx_http_mastodon_html_hidden(&h, "state", &a->state);
    ngx_http_mastodon_html_hidden(&h, "code_challenge", &a->code_challenge);
    ngx_http_mastodon_html_hidden(&h, "code_challenge_method",
                                  &a->code_challenge_method);
    ngx_http_mastodon_html_hidden(&h, "lang", &a->lang);
    ngx_http_mastodon_html_raw(&h,
        "<label for=\"user_email\">E-mail address or username</label>\n"
        "<input type=\"text\" id=\"user_email\" name=\"user[email]\" "
        "autocomplete=\"username\" autocapitalize=\"none\" "
        "spellcheck=\"false\" required value=\"");
    ngx_http_mastodon_html_text(&h, &a->login);
    ngx_http_mastodon_html_raw(&h, "\">\n"
        "<label for=\"user_password\">Password</label>\n"
        "<input type=\"password\" id=\"user_password\" "
        "name=\"user[password]\" autocomplete=\"current-password\" "
        "required>\n"
        "<button type=\"submit\" id=\"sign-in\">Log in</button>\n"
        "</form>\n");

    return ngx_http_mastodon_html_send(&h, status);
}


/* Doorkeeper's error page. */
static ngx_int_t
ngx_http_mastodon_error_page(ngx_http_request_t *r,
    ngx_http_mastodon_authz_t *a, ngx_uint_t status, const char *description)
{
    ngx_http_mastodon_html_t  h;

    if (description == NULL) {
        description = "The authorization server is currently unable to "
                      "handle the request due to a temporary overloading or "
                      "maintenance of the server.";
    }

    if (ngx_http_mastodon_html_begin(r, &h, "An error has occurred",
                                     a ? &a->lang : NULL)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mastodon_html_raw(&h, "<p class=\"error\" role=\"alert\" "
                               "id=\"error\">");
    ngx_http_mastodon_html_ctext(&h, description);
    ngx_http_mastodon_html_raw(&h, "</p>\n");

    return ngx_http_mastodon_html_send(&h, status);
}


static ngx_int_t
ngx_http_mastodon_authz_malformed(ngx_http_request_t *r,
    ngx_http_mastodon_authz_t *a)
{
    return ngx_http_mastodon_error_page(r, a, NGX_HTTP_BAD_REQUEST,
        "The request is missing a required parameter, includes an "
        "unsupported parameter value, or is otherwise malformed.");
}


/* A form without a valid authenticity_token: Rails' 422. */
static ngx_int_t
ngx_http_mastodon_csrf_page(ngx_http_request_t *r,
    ngx_http_mastodon_authz_t *a)
{
    ngx_http_mastodon_html_t  h;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mastodon: form without a valid authenticity token");

    if (ngx_http_mastodon_html_begin(r, &h, "Security verification failed",
                                     &a->lang)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mastodon_html_raw(&h, "<p class=\"error\" role=\"alert\" "
        "id=\"error\">The change you wanted was rejected: the form's "
        "authenticity token is missing or invalid. Are you blocking "
        "cookies? Go back, reload the page and try again.</p>\n");

    return ngx_http_mastodon_html_send(&h, 422);
}


/* One statement; PostgreSQL unavailable is an HTML page here, not JSON. */
static ngx_int_t
ngx_http_mastodon_authz_pg(ngx_http_request_t *r,
    ngx_http_mastodon_authz_t *a, ngx_http_mastodon_pg_stmt_t *stmt,
    const char **values, ngx_http_mastodon_pg_done_pt done)
{
    ngx_int_t  rc;

    rc = ngx_http_mastodon_pg_query(r, stmt, values, done, a);

    return rc == NGX_HTTP_SERVICE_UNAVAILABLE
           ? ngx_http_mastodon_error_page(r, a, NGX_HTTP_SERVICE_UNAVAILABLE,
                                          NULL)
           : rc;
}
