/*
 * Sign-up through the API: POST /api/v1/accounts (Mastodon's
 * Api::V1::AccountsController#create and AppSignUpService).
 *
 * An app token (client credentials) with write:accounts creates an account,
 * its user and a new user token for the same application, with the
 * application's scopes; the answer is Doorkeeper's token response.
 *
 *   1. Validation, in the order Mastodon's models add their errors; a
 *      failure is a 422 with ValidationErrorFormatter's body:
 *      {"error": "Validation failed: ...", "details": {"username":
 *      [{"error": "ERR_TAKEN", "description": "..."}], ...}}.
 *   2. One batch asks whether the username (case-insensitively) or the
 *      e-mail address is taken, so that every error is reported at once.
 *   3. The thread pool hashes the password (bcrypt) and makes the account's
 *      RSA key pair.
 *   4. One batch inserts accounts, account_stats, users, user_invite_requests
 *      and oauth_access_tokens: one implicit transaction, all or nothing.  A
 *      unique violation (a concurrent sign-up won) is the same 422.
 *   5. With mastodon_require_confirmation on, a user_confirmation job goes
 *      to the mailers queue; the worker sends the link to /auth/confirmation.
 *
 * Tokens are stored as SHA-256 digests only, the confirmation token too.
 */

#include <openssl/crypto.h>

#include "ngx_http_mastodon_api.h"
#include "mstdn_oauth.h"
#include "mstdn_password.h"
#include "mstdn_rsa.h"
#include "mstdn_utf8.h"
#include "mstdn_email.h"


#define NGX_HTTP_MASTODON_USERNAME_MAX   30
#define NGX_HTTP_MASTODON_PASSWORD_MIN   8
#define NGX_HTTP_MASTODON_PASSWORD_MAX   72     /* characters; bcrypt's bound */
#define NGX_HTTP_MASTODON_REASON_MAX     420
#define NGX_HTTP_MASTODON_DIGEST_LEN     64


/* Validation errors, in the order Mastodon's validations add them. */
enum {
    NGX_HTTP_MASTODON_E_EMAIL_BLANK = 0,
    NGX_HTTP_MASTODON_E_EMAIL_TAKEN,
    NGX_HTTP_MASTODON_E_EMAIL_INVALID,
    NGX_HTTP_MASTODON_E_PASSWORD_BLANK,
    NGX_HTTP_MASTODON_E_PASSWORD_SHORT,
    NGX_HTTP_MASTODON_E_PASSWORD_LONG,
    NGX_HTTP_MASTODON_E_USERNAME_BLANK,
    NGX_HTTP_MASTODON_E_USERNAME_TAKEN,
    NGX_HTTP_MASTODON_E_USERNAME_INVALID,
    NGX_HTTP_MASTODON_E_USERNAME_LONG,
    NGX_HTTP_MASTODON_E_USERNAME_RESERVED,
    NGX_HTTP_MASTODON_E_REASON_BLANK,
    NGX_HTTP_MASTODON_E_REASON_LONG,
    NGX_HTTP_MASTODON_E_LOCALE,
    NGX_HTTP_MASTODON_E_AGREEMENT,
    NGX_HTTP_MASTODON_E_LAST
};


typedef struct {
    const char  *attr;          /* the key in "details" */
    const char  *human;         /* Rails' human attribute name */
    const char  *code;
    const char  *description;
} ngx_http_mastodon_reg_error_t;


/* config/locales/activerecord.en.yml and Rails' own messages */
static ngx_http_mastodon_reg_error_t  ngx_http_mastodon_reg_errors[] = {
    { "email", "E-mail address", "ERR_BLANK", "can't be blank" },
    { "email", "E-mail address", "ERR_TAKEN", "has already been taken" },
    { "email", "E-mail address", "ERR_INVALID", "is invalid" },
    { "password", "Password", "ERR_BLANK", "can't be blank" },
    { "password", "Password", "ERR_TOO_SHORT",
      "is too short (minimum is 8 characters)" },
    { "password", "Password", "ERR_TOO_LONG",
      "is too long (maximum is 72 characters)" },
    { "username", "Username", "ERR_BLANK", "can't be blank" },
    { "username", "Username", "ERR_TAKEN", "has already been taken" },
    { "username", "Username", "ERR_INVALID",
      "must contain only letters, numbers and underscores" },
    { "username", "Username", "ERR_TOO_LONG",
      "is too long (maximum is 30 characters)" },
    { "username", "Username", "ERR_RESERVED", "is reserved" },
    { "reason", "Reason", "ERR_BLANK", "can't be blank" },
    { "reason", "Reason", "ERR_TOO_LONG",
      "is too long (maximum is 420 characters)" },
    { "locale", "Locale", "ERR_INCLUSION", "is not included in the list" },
    { "agreement", "Service agreement", "ERR_ACCEPTED", "must be accepted" }
};


/* Mastodon's default reserved_usernames (config/settings.yml) */
static const char  *ngx_http_mastodon_reserved[] = {
    "admin", "support", "help", "root", "webmaster", "administrator",
    "mod", "moderator", NULL
};


/* Mastodon's config.i18n.available_locales */
static const char  *ngx_http_mastodon_locales[] = {
    "af", "an", "ar", "ast", "be", "bg", "bn", "br", "bs", "ca", "ckb", "co",
    "cs", "cy", "da", "de", "el", "en", "en-GB", "eo", "es", "es-AR",
    "es-MX", "et", "eu", "fa", "fi", "fo", "fr", "fr-CA", "fr-QC", "fy",
    "ga", "gd", "gl", "he", "hi", "hr", "hu", "hy", "ia", "id", "ie", "ig",
    "io", "is", "it", "ja", "ka", "kab", "kk", "kn", "ko", "ku", "kw", "la",
    "lad", "lt", "lv", "mk", "ml", "mr", "ms", "my", "nan", "nl", "nn", "no",
    "oc", "pa", "pl", "pt-BR", "pt-PT", "ro", "ru", "sa", "sc", "sco", "si",
    "sk", "sl", "sq", "sr", "sr-Latn", "sv", "szl", "ta", "te", "th", "tr",
    "tt", "ug", "uk", "ur", "vi", "zgh", "zh-CN", "zh-HK", "zh-TW", NULL
};


/* What the pool thread gets and gives: its own memory, nothing shared. */
typedef struct {
    char                 password[NGX_HTTP_MASTODON_PASSWORD_MAX * 4 + 1];
    size_t               password_len;
    unsigned             cost;
    int                  rc;
    char                 hash[MSTDN_PASSWORD_HASH_MAX];
    char                *private_pem;           /* malloc'd */
    char                *public_pem;
} ngx_http_mastodon_reg_work_t;


typedef struct {
    uint32_t                       errors;      /* 1 << NGX_HTTP_..._E_* */

    ngx_str_t                      username;    /* NUL-terminated */
    ngx_str_t                      email;       /* lower-cased, stripped */
    ngx_str_t                      password;
    ngx_str_t                      reason;      /* data NULL: none */
    ngx_str_t                      locale;      /* data NULL: none */
    ngx_str_t                      time_zone;   /* data NULL: none */
    unsigned                       check_username:1;
    unsigned                       check_email:1;
    unsigned                       confirm:1;

    char                           app_id[NGX_INT64_LEN + 1];
    char                           token[MSTDN_SECRET_LEN + 1];
    char                           token_digest[NGX_HTTP_MASTODON_DIGEST_LEN
                                                + 1];
    char                           confirm_token[MSTDN_SECRET_LEN + 1];
    char                           confirm_digest[NGX_HTTP_MASTODON_DIGEST_LEN
                                                  + 1];

    ngx_http_mastodon_reg_work_t  *work;

    /* the answer */
    ngx_str_t                      user_id;
    ngx_str_t                      scope;
    int64_t                        created_at;
} ngx_http_mastodon_reg_t;


static ngx_int_t ngx_http_mastodon_reg_validate(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_reg_t *reg);
static ngx_int_t ngx_http_mastodon_reg_email(ngx_http_request_t *r,
    ngx_http_mastodon_reg_t *reg, const char *s, size_t len);
static ngx_uint_t ngx_http_mastodon_reg_blank(const char *s, size_t len);
static ngx_int_t ngx_http_mastodon_reg_check(ngx_http_request_t *r,
    ngx_http_mastodon_reg_t *reg);
static void ngx_http_mastodon_reg_checked(ngx_http_mastodon_pg_batch_t *b);
static ngx_int_t ngx_http_mastodon_reg_reject(ngx_http_request_t *r,
    ngx_http_mastodon_reg_t *reg);
static ngx_int_t ngx_http_mastodon_reg_hash(ngx_http_request_t *r,
    ngx_http_mastodon_reg_t *reg);
static void ngx_http_mastodon_reg_work(void *data, ngx_log_t *log);
static void ngx_http_mastodon_reg_work_cleanup(void *data);
static void ngx_http_mastodon_reg_hashed(ngx_http_request_t *r, void *data);
static ngx_int_t ngx_http_mastodon_reg_insert(ngx_http_request_t *r,
    ngx_http_mastodon_reg_t *reg);
static void ngx_http_mastodon_reg_inserted(ngx_http_mastodon_pg_batch_t *b);
static ngx_int_t ngx_http_mastodon_reg_respond(ngx_http_request_t *r,
    ngx_http_mastodon_reg_t *reg);
static char *ngx_http_mastodon_reg_cstr(ngx_http_request_t *r, const char *s,
    size_t len);


static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_reg_taken =
    ngx_http_mastodon_pg_stmt(
        "SELECT EXISTS (SELECT 1 FROM accounts"
        "  WHERE lower(username) = lower($1) AND domain IS NULL),"
        " EXISTS (SELECT 1 FROM users WHERE email = $2)", 2);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_reg_account =
    ngx_http_mastodon_pg_stmt(
        "INSERT INTO accounts (username, domain, private_key, public_key,"
        "  created_at, updated_at)"
        " VALUES ($1, NULL, $2, $3,"
        "  now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')"
        " RETURNING id", 3);

/* the ids come from the rows inserted before, in the same transaction */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_reg_stats =
    ngx_http_mastodon_pg_stmt(
        "INSERT INTO account_stats (account_id, created_at, updated_at)"
        " VALUES ((SELECT id FROM accounts"
        "   WHERE lower(username) = lower($1) AND domain IS NULL),"
        "  now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')", 1);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_reg_user =
    ngx_http_mastodon_pg_stmt(
        "INSERT INTO users (email, encrypted_password, account_id, locale,"
        "  approved, confirmed_at, confirmation_token, confirmation_sent_at,"
        "  created_by_application_id, sign_up_ip, created_at, updated_at)"
        " VALUES ($2, $3, (SELECT id FROM accounts"
        "   WHERE lower(username) = lower($1) AND domain IS NULL),"
        "  $4, $5::boolean,"
        "  CASE WHEN $6::text IS NULL THEN now() AT TIME ZONE 'UTC' END, $6,"
        "  CASE WHEN $6::text IS NOT NULL THEN now() AT TIME ZONE 'UTC' END,"
        "  $7::bigint, $8::inet,"
        "  now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')"
        " RETURNING id", 8);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_reg_invite =
    ngx_http_mastodon_pg_stmt(
        "INSERT INTO user_invite_requests (user_id, text, created_at,"
        "  updated_at)"
        " SELECT id, $2, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'"
        " FROM users WHERE email = $1 AND $2::text IS NOT NULL", 2);

/* the confirmation e-mail, when one is due: $2 the raw token (the row
 * has its digest; Mastodon's mailer job carries the token too) */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_reg_confirm =
    ngx_http_mastodon_pg_stmt(
        NGX_HTTP_MASTODON_OUTBOX_SQL(
        "SELECT 'mailers', 'user_confirmation', json_build_object("
        " 'user_id', id::text, 'token', $2::text) FROM users"
        " WHERE email = $1 AND $2::text IS NOT NULL"), 2);

/* time_zone, kept when PostgreSQL knows it: User normalizes one it does
 * not know to nil (the search's date operators read it) */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_reg_time_zone =
    ngx_http_mastodon_pg_stmt(
        "UPDATE users SET time_zone = $2"
        " WHERE email = $1 AND mastodon_time_zone_known($2)", 2);

/* the application's scopes, as AppSignUpService gives them */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_reg_token =
    ngx_http_mastodon_pg_stmt(
        "INSERT INTO oauth_access_tokens (token, scopes, application_id,"
        "  resource_owner_id, created_at)"
        " VALUES ($1, (SELECT scopes FROM oauth_applications"
        "   WHERE id = $2::bigint), $2::bigint,"
        "  (SELECT id FROM users WHERE email = $3),"
        "  now() AT TIME ZONE 'UTC')"
        " RETURNING coalesce(scopes, ''),"
        "  extract(epoch FROM created_at)::bigint", 3);


ngx_int_t
ngx_http_mastodon_accounts_create(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    ngx_int_t                       rc;
    ngx_http_mastodon_reg_t        *reg;
    ngx_http_mastodon_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    /* Mastodon's require_client_credentials!, then its registration check */

    if (ctx->auth->user_id) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: sign-up with a user's token refused");
        ctx->error_message =
            "This method requires an client credentials authentication";
        return NGX_HTTP_FORBIDDEN;
    }

    if (mcf->registrations == NGX_HTTP_MASTODON_REG_CLOSED) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: sign-up refused: registrations are closed");
        return NGX_HTTP_FORBIDDEN;
    }

    reg = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_reg_t));
    if (reg == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = reg;
    reg->confirm = mcf->require_confirmation ? 1 : 0;
    ngx_sprintf((u_char *) reg->app_id, "%L%Z", ctx->auth->app_id);

    rc = ngx_http_mastodon_reg_validate(r, ctx, reg);
    if (rc != NGX_OK) {
        return rc;
    }

    if (reg->check_username || reg->check_email) {
        return ngx_http_mastodon_reg_check(r, reg);
    }

    /* nothing to look up: the username alone is already wrong */
    return ngx_http_mastodon_reg_reject(r, reg);
}


static ngx_int_t
ngx_http_mastodon_reg_validate(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_reg_t *reg)
{
    size_t                          len, n, i;
    const char                     *s, **name;
    mstdn_value_t                  *v;
    ngx_http_mastodon_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

#define E(e)  reg->errors |= 1u << NGX_HTTP_MASTODON_E_##e

    /* e-mail: Devise strips and lower-cases it */

    s = mstdn_param_str(ctx->params, "email", &len);

    if (s == NULL || ngx_http_mastodon_reg_blank(s, len)) {
        E(EMAIL_BLANK);

    } else if (ngx_http_mastodon_reg_email(r, reg, s, len) != NGX_OK) {
        if (reg->email.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        E(EMAIL_INVALID);

    } else {
        reg->check_email = 1;
    }

    /* password: 8 to 72 characters */

    s = mstdn_param_str(ctx->params, "password", &len);

    if (s == NULL || ngx_http_mastodon_reg_blank(s, len)) {
        E(PASSWORD_BLANK);

    } else {
        n = mstdn_utf8_length((const unsigned char *) s, len);

        if (n < NGX_HTTP_MASTODON_PASSWORD_MIN) {
            E(PASSWORD_SHORT);

        } else if (n > NGX_HTTP_MASTODON_PASSWORD_MAX) {
            E(PASSWORD_LONG);

        } else {
            reg->password.data = (u_char *) s;
            reg->password.len = len;
        }
    }

    /* username: /\A[a-z0-9_]+\z/i, at most 30, unique, not reserved */

    s = mstdn_param_str(ctx->params, "username", &len);

    if (s == NULL || ngx_http_mastodon_reg_blank(s, len)) {
        E(USERNAME_BLANK);
        E(USERNAME_INVALID);            /* "" does not match the format */

    } else {
        for (i = 0; i < len; i++) {
            if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')
                  || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            {
                break;
            }
        }

        if (i < len) {
            E(USERNAME_INVALID);
        }

        if (mstdn_utf8_length((const unsigned char *) s, len)
            > NGX_HTTP_MASTODON_USERNAME_MAX)
        {
            E(USERNAME_LONG);
        }

        for (name = ngx_http_mastodon_reserved; *name; name++) {
            if (ngx_strlen(*name) == len
                && ngx_strncasecmp((u_char *) s, (u_char *) *name, len) == 0)
            {
                E(USERNAME_RESERVED);
                break;
            }
        }

        /* no local account has an invalid or overlong name */
        if (i == len && len <= NGX_HTTP_MASTODON_USERNAME_MAX) {
            reg->check_username = 1;
        }

        reg->username.data = (u_char *) s;      /* NUL-terminated */
        reg->username.len = len;
    }

    /* reason: stored whenever given; required when sign-ups need approval */

    s = mstdn_param_str(ctx->params, "reason", &len);

    if (s == NULL || ngx_http_mastodon_reg_blank(s, len)) {
        if (mcf->registrations == NGX_HTTP_MASTODON_REG_APPROVAL) {
            E(REASON_BLANK);
        }

    } else if (mstdn_utf8_length((const unsigned char *) s, len)
               > NGX_HTTP_MASTODON_REASON_MAX)
    {
        E(REASON_LONG);

    } else {
        reg->reason.data = (u_char *) s;
        reg->reason.len = len;
    }

    /* locale: one Mastodon knows, when given */

    s = mstdn_param_str(ctx->params, "locale", &len);

    if (s && !ngx_http_mastodon_reg_blank(s, len)) {
        for (name = ngx_http_mastodon_locales; *name; name++) {
            if (ngx_strlen(*name) == len && ngx_strncmp(s, *name, len) == 0) {
                break;
            }
        }

        if (*name == NULL) {
            E(LOCALE);

        } else {
            reg->locale.data = (u_char *) s;
            reg->locale.len = len;
        }
    }

    /* time_zone: an IANA name is at most a few dozen bytes */

    s = mstdn_param_str(ctx->params, "time_zone", &len);

    if (s && len <= 64 && !ngx_http_mastodon_reg_blank(s, len)) {
        reg->time_zone.data = (u_char *) s;
        reg->time_zone.len = len;
    }

    /* agreement: accept: [true, 'true', '1'] */

    v = mstdn_object_get(ctx->params, "agreement");

    if (v == NULL
        || !((v->type == MSTDN_BOOL && v->boolean)
             || (v->type == MSTDN_STRING
                 && ((v->len == 4 && ngx_strncmp(v->str, "true", 4) == 0)
                     || (v->len == 1 && v->str[0] == '1')))))
    {
        E(AGREEMENT);
    }

#undef E

    return NGX_OK;
}


/* Rails' blank?: empty or white space only */
static ngx_uint_t
ngx_http_mastodon_reg_blank(const char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (!(s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'
              || s[i] == '\f' || s[i] == '\v'))
        {
            return 0;
        }
    }

    return 1;
}


/*
 * An e-mail address as Mastodon keeps it and validates it (lib's
 * mstdn_email_normalize()).  NGX_OK, NGX_DECLINED (invalid) or NGX_ERROR.
 * Sign-up and the change of address on resending share it.
 */
ngx_int_t
ngx_http_mastodon_email_normalize(ngx_http_request_t *r, const char *s,
    size_t len, ngx_str_t *email)
{
    char           *out;
    mstdn_alloc_t   a;

    a.alloc = ngx_http_mastodon_pool_alloc;
    a.ctx = r->pool;

    switch (mstdn_email_normalize(s, len, &a, &out, &email->len)) {

    case MSTDN_OK:
        email->data = (u_char *) out;
        return NGX_OK;

    case MSTDN_ESYNTAX:
        email->data = (u_char *) "";
        return NGX_DECLINED;

    default:
        email->data = NULL;
        return NGX_ERROR;
    }
}


static ngx_int_t
ngx_http_mastodon_reg_email(ngx_http_request_t *r,
    ngx_http_mastodon_reg_t *reg, const char *s, size_t len)
{
    return ngx_http_mastodon_email_normalize(r, s, len, &reg->email);
}


/* Is the username or the e-mail address taken?  One round trip. */
static ngx_int_t
ngx_http_mastodon_reg_check(ngx_http_request_t *r,
    ngx_http_mastodon_reg_t *reg)
{
    const char                    **values;

    values = ngx_pcalloc(r->pool, 2 * sizeof(char *));
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* NULL (SQL NULL) matches nothing */
    values[0] = reg->check_username ? (const char *) reg->username.data : NULL;
    values[1] = reg->check_email ? (const char *) reg->email.data : NULL;

    return ngx_http_mastodon_pg_query(r, &ngx_http_mastodon_reg_taken, values,
                                      ngx_http_mastodon_reg_checked, reg);
}


static void
ngx_http_mastodon_reg_checked(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_int_t                 rc;
    PGresult                 *res;
    ngx_http_request_t       *r;
    ngx_http_mastodon_reg_t  *reg;

    r = b->request;
    reg = b->data;
    res = ngx_http_mastodon_pg_rows(b, 0);

    if (res == NULL || PQntuples(res) != 1)
    {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (PQgetvalue(res, 0, 0)[0] == 't') {
        reg->errors |= 1u << NGX_HTTP_MASTODON_E_USERNAME_TAKEN;
    }

    if (PQgetvalue(res, 0, 1)[0] == 't') {
        reg->errors |= 1u << NGX_HTTP_MASTODON_E_EMAIL_TAKEN;
    }

    if (reg->errors) {
        rc = ngx_http_mastodon_reg_reject(r, reg);

    } else {
        rc = ngx_http_mastodon_reg_hash(r, reg);
    }

    if (rc != NGX_DONE) {
        ngx_http_mastodon_finalize(r, rc);
    }
}


/* 422 with ValidationErrorFormatter's body */
static ngx_int_t
ngx_http_mastodon_reg_reject(ngx_http_request_t *r,
    ngx_http_mastodon_reg_t *reg)
{
    u_char                         *msg, *p;
    size_t                          len;
    ngx_uint_t                      i;
    const char                     *attr;
    ngx_http_mastodon_json_t        j;
    ngx_http_mastodon_reg_error_t  *e;

    len = sizeof("Validation failed: ");

    for (i = 0; i < NGX_HTTP_MASTODON_E_LAST; i++) {
        if (reg->errors & (1u << i)) {
            e = &ngx_http_mastodon_reg_errors[i];
            len += ngx_strlen(e->human) + 1 + ngx_strlen(e->description) + 2;
        }
    }

    msg = ngx_pnalloc(r->pool, len);
    if (msg == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(msg, "Validation failed: ",
                   sizeof("Validation failed: ") - 1);

    for (i = 0; i < NGX_HTTP_MASTODON_E_LAST; i++) {
        if (reg->errors & (1u << i)) {
            e = &ngx_http_mastodon_reg_errors[i];
            p = ngx_sprintf(p, "%s %s, ", e->human, e->description);
        }
    }

    p -= 2;                                     /* the last ", " */
    *p = '\0';

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mastodon: sign-up refused: %s", msg);

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mastodon_json_open(&j, NULL);
    ngx_http_mastodon_json_kv_cstr(&j, "error", (const char *) msg);
    ngx_http_mastodon_json_open(&j, "details");

    attr = NULL;

    for (i = 0; i < NGX_HTTP_MASTODON_E_LAST; i++) {
        if (!(reg->errors & (1u << i))) {
            continue;
        }

        e = &ngx_http_mastodon_reg_errors[i];

        if (attr == NULL || ngx_strcmp(attr, e->attr) != 0) {
            if (attr) {
                ngx_http_mastodon_json_close_array(&j);
            }
            attr = e->attr;
            ngx_http_mastodon_json_open_array(&j, attr);
        }

        ngx_http_mastodon_json_open(&j, NULL);
        ngx_http_mastodon_json_kv_cstr(&j, "error", e->code);
        ngx_http_mastodon_json_kv_cstr(&j, "description", e->description);
        ngx_http_mastodon_json_close(&j);
    }

    if (attr) {
        ngx_http_mastodon_json_close_array(&j);
    }

    ngx_http_mastodon_json_close(&j);
    ngx_http_mastodon_json_close(&j);

    return ngx_http_mastodon_json_send(&j, 422);
}


/* bcrypt and the RSA key pair, in the thread pool */
static ngx_int_t
ngx_http_mastodon_reg_hash(ngx_http_request_t *r,
    ngx_http_mastodon_reg_t *reg)
{
    ngx_pool_cleanup_t             *cln;
    ngx_http_mastodon_reg_work_t   *w;
    ngx_http_mastodon_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    if (reg->password.len >= sizeof(w->password)) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;      /* validated before */
    }

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_mastodon_reg_work_t));
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /*
     * The pool lives until the task is over (r->main->blocked), whatever
     * happens to the request: the cleanup frees what the thread made.
     */
    w = cln->data;
    ngx_memzero(w, sizeof(ngx_http_mastodon_reg_work_t));
    cln->handler = ngx_http_mastodon_reg_work_cleanup;

    ngx_memcpy(w->password, reg->password.data, reg->password.len);
    w->password_len = reg->password.len;
    w->cost = mcf->bcrypt_cost;
    w->rc = -1;
    reg->work = w;

    if (ngx_http_mastodon_thread_run(r, ngx_http_mastodon_reg_work,
                                     ngx_http_mastodon_reg_hashed, reg)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mastodon: sign-up: the thread pool is full");
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}


/* In a pool thread: w is the task's own memory. */
static void
ngx_http_mastodon_reg_work(void *data, ngx_log_t *log)
{
    ngx_http_mastodon_reg_t       *reg = data;
    ngx_http_mastodon_reg_work_t  *w = reg->work;

    if (mstdn_password_hash(w->password, w->password_len, w->cost, w->hash)
        != 0)
    {
        w->rc = -1;
        return;
    }

    if (mstdn_rsa_keypair(&w->private_pem, &w->public_pem) != 0) {
        w->rc = -2;
        return;
    }

    w->rc = 0;
}


static void
ngx_http_mastodon_reg_work_cleanup(void *data)
{
    ngx_http_mastodon_reg_work_t  *w = data;

    OPENSSL_cleanse(w->password, sizeof(w->password));
    OPENSSL_cleanse(w->hash, sizeof(w->hash));
    mstdn_rsa_free(w->private_pem, w->public_pem);
    w->private_pem = NULL;
    w->public_pem = NULL;
}


static void
ngx_http_mastodon_reg_hashed(ngx_http_request_t *r, void *data)
{
    ngx_int_t                      rc;
    ngx_http_mastodon_reg_t       *reg = data;
    ngx_http_mastodon_reg_work_t  *w = reg->work;

    if (w->rc != 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mastodon: sign-up: %s failed",
                      w->rc == -1 ? "bcrypt" : "RSA key generation");
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = ngx_http_mastodon_reg_insert(r, reg);

    if (rc != NGX_DONE) {
        ngx_http_mastodon_finalize(r, rc);
    }
}


/* Every row in one batch: one implicit transaction. */
static ngx_int_t
ngx_http_mastodon_reg_insert(ngx_http_request_t *r,
    ngx_http_mastodon_reg_t *reg)
{
    u_char                         *ip;
    ngx_str_t                       s;
    const char                    **v;
    ngx_http_mastodon_pg_batch_t   *b;
    ngx_http_mastodon_main_conf_t  *mcf;
    ngx_http_mastodon_reg_work_t   *w = reg->work;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    if (mstdn_random_secret(reg->token) != 0
        || (reg->confirm && mstdn_random_secret(reg->confirm_token) != 0))
    {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "mastodon: no random bytes for a token");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    s.data = (u_char *) reg->token;
    s.len = MSTDN_SECRET_LEN;
    ngx_http_mastodon_token_digest(&s, (u_char *) reg->token_digest);

    if (reg->confirm) {
        s.data = (u_char *) reg->confirm_token;
        ngx_http_mastodon_token_digest(&s, (u_char *) reg->confirm_digest);
    }

    ip = NULL;

    if (r->connection->sockaddr->sa_family == AF_INET
#if (NGX_HAVE_INET6)
        || r->connection->sockaddr->sa_family == AF_INET6
#endif
       )
    {
        ip = (u_char *) ngx_http_mastodon_reg_cstr(r,
                                  (const char *) r->connection->addr_text.data,
                                  r->connection->addr_text.len);
        if (ip == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    b = ngx_http_mastodon_pg_batch(r, ngx_http_mastodon_reg_inserted, reg);
    v = ngx_pcalloc(r->pool, 19 * sizeof(char *));
    if (b == NULL || v == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* accounts */
    v[0] = (const char *) reg->username.data;
    v[1] = w->private_pem;
    v[2] = w->public_pem;

    /* users */
    v[3] = (const char *) reg->username.data;
    v[4] = (const char *) reg->email.data;
    v[5] = w->hash;
    v[6] = reg->locale.data
           ? ngx_http_mastodon_reg_cstr(r, (const char *) reg->locale.data,
                                        reg->locale.len)
           : NULL;
    v[7] = mcf->registrations == NGX_HTTP_MASTODON_REG_APPROVAL ? "f" : "t";
    v[8] = reg->confirm ? reg->confirm_digest : NULL;
    v[9] = reg->app_id;
    v[10] = (const char *) ip;

    /* user_invite_requests */
    v[11] = (const char *) reg->email.data;
    v[12] = reg->reason.data ? (const char *) reg->reason.data : NULL;

    /* oauth_access_tokens */
    v[13] = reg->token_digest;
    v[14] = reg->app_id;
    v[15] = (const char *) reg->email.data;

    /* job_outbox */
    v[16] = reg->confirm ? reg->confirm_token : NULL;

    /* users.time_zone, after the rest (the results read by position) */
    v[17] = (const char *) reg->email.data;
    v[18] = reg->time_zone.data
            ? ngx_http_mastodon_reg_cstr(r, (const char *) reg->time_zone.data,
                                         reg->time_zone.len)
            : NULL;

    if (ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_reg_account, &v[0])
           != NGX_OK
        || ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_reg_stats, &v[0])
           != NGX_OK
        || ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_reg_user, &v[3])
           != NGX_OK
        || ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_reg_invite, &v[11])
           != NGX_OK
        || ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_reg_token, &v[13])
           != NGX_OK
        || ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_reg_confirm, &v[15])
           != NGX_OK
        || (v[18]
            && ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_reg_time_zone,
                                        &v[17])
               != NGX_OK))
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mastodon_pg_run(b) != NGX_OK) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}


static void
ngx_http_mastodon_reg_inserted(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_uint_t                i;
    PGresult                 *res;
    const char               *state, *constraint;
    ngx_http_request_t       *r;
    ngx_http_mastodon_reg_t  *reg;

    r = b->request;
    reg = b->data;

    if (b->rc != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    /* a statement failed: the whole batch was rolled back */

    for (i = 0; i < b->nqueries; i++) {
        res = b->results[i];

        if (res && PQresultStatus(res) == PGRES_FATAL_ERROR) {
            state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
            constraint = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);

            if (state && constraint && ngx_strcmp(state, "23505") == 0) {

                /* a concurrent sign-up took the name or the address */

                if (ngx_strcmp(constraint,
                               "index_accounts_on_username_and_domain_lower")
                    == 0)
                {
                    reg->errors |= 1u << NGX_HTTP_MASTODON_E_USERNAME_TAKEN;

                } else if (ngx_strcmp(constraint, "index_users_on_email")
                           == 0)
                {
                    reg->errors |= 1u << NGX_HTTP_MASTODON_E_EMAIL_TAKEN;
                }

                if (reg->errors) {
                    ngx_http_mastodon_finalize(r,
                                      ngx_http_mastodon_reg_reject(r, reg));
                    return;
                }
            }

            ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
            return;
        }

        if (res == NULL
            || (PQresultStatus(res) != PGRES_TUPLES_OK
                && PQresultStatus(res) != PGRES_COMMAND_OK))
        {
            ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
            return;
        }
    }

    if (PQntuples(b->results[2]) != 1 || PQntuples(b->results[4]) != 1) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    reg->user_id = ngx_http_mastodon_pg_str(b->results[2], 0, 0);
    reg->scope = ngx_http_mastodon_pg_str(b->results[4], 0, 0);
    reg->created_at = ngx_http_mastodon_pg_int(b->results[4], 0, 1);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mastodon: signed up @%V (user %V, account %s)",
                  &reg->username, &reg->user_id,
                  PQgetvalue(b->results[0], 0, 0));

    /* the confirmation e-mail, if due, is in the outbox */
    ngx_http_mastodon_finalize(r, ngx_http_mastodon_reg_respond(r, reg));
}


/* Doorkeeper's token response */
static ngx_int_t
ngx_http_mastodon_reg_respond(ngx_http_request_t *r,
    ngx_http_mastodon_reg_t *reg)
{
    ngx_str_t                 token;
    ngx_http_mastodon_json_t  j;

    static ngx_str_t  no_store = ngx_string("no-store");
    static ngx_str_t  no_cache = ngx_string("no-cache");

    if (ngx_http_mastodon_add_header(r, "Cache-Control", &no_store) != NGX_OK
        || ngx_http_mastodon_add_header(r, "Pragma", &no_cache) != NGX_OK
        || ngx_http_mastodon_json_init(r, &j) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    token.data = (u_char *) reg->token;
    token.len = MSTDN_SECRET_LEN;

    ngx_http_mastodon_json_open(&j, NULL);
    ngx_http_mastodon_json_kv_str(&j, "access_token", &token);
    ngx_http_mastodon_json_kv_cstr(&j, "token_type", "Bearer");
    ngx_http_mastodon_json_kv_str(&j, "scope", &reg->scope);
    ngx_http_mastodon_json_kv_int(&j, "created_at", reg->created_at);
    ngx_http_mastodon_json_close(&j);

    return ngx_http_mastodon_json_send(&j, NGX_HTTP_OK);
}


static char *
ngx_http_mastodon_reg_cstr(ngx_http_request_t *r, const char *s, size_t len)
{
    u_char  *p;

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        return NULL;
    }

    *ngx_cpymem(p, s, len) = '\0';

    return (char *) p;
}
