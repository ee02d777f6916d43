/*
 * E-mail confirmation: GET /auth/confirmation?confirmation_token=...
 * (Devise's confirmations#show), the link of the e-mail the worker's
 * user_confirmation job sends after a sign-up.
 *
 * users.confirmation_token holds the SHA-256 digest of the token; a valid
 * one confirms the user, clears the token (a link works once) and drops the
 * user's cached tokens, so that require_user! lets them in at once.  The
 * answer is a small HTML page; a missing, unknown or used token gets an
 * HTML error page with 422, as Devise renders its form again.
 */

#include "ngx_http_mastodon_auth.h"
#include "mstdn_html.h"


#define NGX_HTTP_MASTODON_CONFIRM_TOKEN_MAX  256


typedef struct {
    int64_t       user_id;
    ngx_str_t     username;
} ngx_http_mastodon_confirm_t;


static void ngx_http_mastodon_confirmed(ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_confirm_forgotten(ngx_http_request_t *r,
    redisReply *reply, void *data);
static ngx_int_t ngx_http_mastodon_confirm_page(ngx_http_request_t *r,
    ngx_uint_t status, const char *title, const char *text,
    ngx_str_t *username);


static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_confirm_stmt =
    ngx_http_mastodon_pg_stmt(
        "UPDATE users SET"
        " confirmed_at = coalesce(confirmed_at, now() AT TIME ZONE 'UTC'),"
        " confirmation_token = NULL,"
        " updated_at = now() AT TIME ZONE 'UTC'"
        " WHERE confirmation_token = $1"
        " RETURNING id,"
        "  (SELECT username FROM accounts WHERE id = users.account_id)", 1);


ngx_int_t
ngx_http_mastodon_confirmation(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    u_char                        *digest;
    size_t                         len;
    ngx_str_t                      token;
    const char                    *s, **values;

    s = mstdn_param_str(ctx->params, "confirmation_token", &len);

    if (s == NULL || len == 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: confirmation without a token");
        return ngx_http_mastodon_confirm_page(r, 422,
                   "The confirmation link is incomplete",
                   "Confirmation token can't be blank. Open the link of "
                   "the e-mail you received in full.", NULL);
    }

    if (len > NGX_HTTP_MASTODON_CONFIRM_TOKEN_MAX) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: confirmation token too long");
        return ngx_http_mastodon_confirm_page(r, 422,
                   "The confirmation link is invalid",
                   "Confirmation token is invalid.", NULL);
    }

    digest = ngx_pnalloc(r->pool, 64 + 1);
    values = ngx_palloc(r->pool, sizeof(char *));
    if (digest == NULL || values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    token.data = (u_char *) s;
    token.len = len;
    ngx_http_mastodon_token_digest(&token, digest);
    digest[64] = '\0';
    values[0] = (const char *) digest;

    return ngx_http_mastodon_pg_query(r, &ngx_http_mastodon_confirm_stmt,
                                      values, ngx_http_mastodon_confirmed,
                                      NULL);
}


static void
ngx_http_mastodon_confirmed(ngx_http_mastodon_pg_batch_t *b)
{
    PGresult                     *res;
    ngx_http_request_t           *r;
    ngx_http_mastodon_confirm_t  *cf;

    r = b->request;
    res = ngx_http_mastodon_pg_rows(b, 0);

    if (res == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (PQntuples(res) != 1) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: unknown or used confirmation token");
        ngx_http_mastodon_finalize(r, ngx_http_mastodon_confirm_page(r, 422,
            "The confirmation link is invalid",
            "Confirmation token is invalid. The link may have been used "
            "already, or a newer e-mail replaced it.", NULL));
        return;
    }

    cf = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_confirm_t));
    if (cf == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    cf->user_id = ngx_http_mastodon_pg_int(res, 0, 0);
    cf->username = ngx_http_mastodon_pg_str(res, 0, 1);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mastodon: user %L (@%V) confirmed their e-mail address",
                  cf->user_id, &cf->username);

    /* the cached tokens say "unconfirmed": wait until they are gone */
    if (ngx_http_mastodon_auth_forget_user_then(r, cf->user_id,
                                        ngx_http_mastodon_confirm_forgotten,
                                        cf)
        != NGX_OK)
    {
        ngx_http_mastodon_confirm_forgotten(r, NULL, cf);
    }
}


static void
ngx_http_mastodon_confirm_forgotten(ngx_http_request_t *r, redisReply *reply,
    void *data)
{
    ngx_http_mastodon_confirm_t  *cf = data;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        /* cached entries expire within NGX_HTTP_MASTODON_TOKEN_TTL */
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mastodon: could not drop the cached tokens of user %L",
                      cf->user_id);
    }

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_confirm_page(r,
        NGX_HTTP_OK, "Your e-mail address has been confirmed",
        "You can now log in", &cf->username));
}


/* A small self-contained page; every variable part is escaped. */
static ngx_int_t
ngx_http_mastodon_confirm_page(ngx_http_request_t *r, ngx_uint_t status,
    const char *title, const char *text, ngx_str_t *username)
{
    u_char                         *p;
    size_t                          len;
    ngx_str_t                       body;
    ngx_http_mastodon_main_conf_t  *mcf;

    static ngx_str_t  type = ngx_string("text/html; charset=utf-8");
    static ngx_str_t  no_store = ngx_string("no-store");
    static ngx_str_t  csp = ngx_string("default-src 'none'; "
                                       "style-src 'unsafe-inline'");
    static ngx_str_t  nosniff = ngx_string("nosniff");

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    len = sizeof("<!DOCTYPE html>\n<html lang=\"en\"><head>"
                 "<meta charset=\"utf-8\">"
                 "<meta name=\"viewport\" content=\"width=device-width, "
                 "initial-scale=1\"><title> - </title>"
                 "<style>body{font-family:sans-serif;max-width:36em;"
                 "margin:4em auto;padding:0 1em;line-height:1.5}</style>"
                 "</head><body><h1></h1><p></p><p><a href=\"/\"></a></p>"
                 "</body></html>\n")
          + 2 * ngx_strlen(title) + ngx_strlen(text)
          + 2 * MSTDN_HTML_ESCAPE_MAX(mcf->title.len) + sizeof(" as @")
          + MSTDN_HTML_ESCAPE_MAX(30) + 16;

    if (username) {
        len += MSTDN_HTML_ESCAPE_MAX(username->len);
    }

    body.data = ngx_pnalloc(r->pool, len);
    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(body.data,
                    "<!DOCTYPE html>\n<html lang=\"en\"><head>"
                    "<meta charset=\"utf-8\">"
                    "<meta name=\"viewport\" content=\"width=device-width, "
                    "initial-scale=1\"><title>%s - ", title);
    p += mstdn_html_escape((char *) p, (char *) mcf->title.data,
                           mcf->title.len);
    p = ngx_sprintf(p, "</title>"
                    "<style>body{font-family:sans-serif;max-width:36em;"
                    "margin:4em auto;padding:0 1em;line-height:1.5}</style>"
                    "</head><body><h1>%s</h1><p>%s", title, text);

    if (username && username->len) {
        p = ngx_cpymem(p, " as @", sizeof(" as @") - 1);
        p += mstdn_html_escape((char *) p, (char *) username->data,
                               ngx_min(username->len, 30));
        *p++ = '.';
    }

    p = ngx_cpymem(p, "</p><p><a href=\"/\">", sizeof("</p><p><a href=\"/\">")
                                               - 1);
    p += mstdn_html_escape((char *) p, (char *) mcf->title.data,
                           mcf->title.len);
    p = ngx_cpymem(p, "</a></p></body></html>\n",
                   sizeof("</a></p></body></html>\n") - 1);

    body.len = p - body.data;

    if (ngx_http_mastodon_add_header(r, "Cache-Control", &no_store) != NGX_OK
        || ngx_http_mastodon_add_header(r, "Content-Security-Policy", &csp)
           != NGX_OK
        || ngx_http_mastodon_add_header(r, "X-Content-Type-Options", &nosniff)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_send_text(r, status, &type, &body);
}

