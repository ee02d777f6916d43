/*
 * Browser sessions, for the OAuth authorization screens.
 *
 *  - The session cookie (_mastodon_session) holds a random secret; Redis
 *    maps its SHA-256 digest to the user id (mastodon:session:<digest>,
 *    NGX_HTTP_MASTODON_SESSION_TTL seconds).  A new secret at every sign-in.
 *  - Forms carry an authenticity_token derived from a cookie the page's
 *    scripts cannot read (HttpOnly): the session cookie once signed in, a
 *    pre-session cookie (_mastodon_csrf) on the sign-in form.  A forged
 *    cross-site form cannot know it; it is compared in constant time.
 *  - Passwords are checked with bcrypt in the thread pool, never in the
 *    event loop; the thread gets its own copies in memory that outlives it.
 */

#include <openssl/sha.h>

#include "ngx_http_mastodon_auth.h"
#include "mstdn_oauth.h"
#include "mstdn_password.h"


#define NGX_HTTP_MASTODON_SESSION_KEY  "mastodon:session:"
#define NGX_HTTP_MASTODON_CSRF_SALT    "mastodon authenticity token:"


typedef struct {
    ngx_http_mastodon_session_done_pt   handler;
    void                               *data;
} ngx_http_mastodon_session_lookup_t;


typedef struct {
    u_char                             *password;   /* NUL-terminated */
    size_t                              len;
    u_char                             *hash;       /* NUL-terminated */
    ngx_uint_t                          cost;       /* for unknown users */
    ngx_uint_t                          ok;
    ngx_http_mastodon_password_done_pt  handler;
    void                               *data;
} ngx_http_mastodon_password_task_t;


static void ngx_http_mastodon_session_found(ngx_http_request_t *r,
    redisReply *reply, void *data);
static void ngx_http_mastodon_password_work(void *data, ngx_log_t *log);
static void ngx_http_mastodon_password_done(ngx_http_request_t *r,
    void *data);


/* A secret as mstdn_random_secret() makes them: 43 base64url characters. */
ngx_uint_t
ngx_http_mastodon_secret_valid(ngx_str_t *s)
{
    u_char  *p;

    if (s->len != MSTDN_SECRET_LEN) {
        return 0;
    }

    for (p = s->data; p < s->data + s->len; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
        {
            return 0;
        }
    }

    return 1;
}


/* The value of cookie `name`, or an empty string. */
void
ngx_http_mastodon_cookie(ngx_http_request_t *r, const char *name,
    ngx_str_t *value)
{
    ngx_str_t  n;

    n.data = (u_char *) name;
    n.len = ngx_strlen(name);

    ngx_str_null(value);

#if (nginx_version >= 1023000)
    if (ngx_http_parse_multi_header_lines(r, r->headers_in.cookie, &n, value)
        == NULL)
    {
        ngx_str_null(value);
    }
#else
    if (ngx_http_parse_multi_header_lines(&r->headers_in.cookies, &n, value)
        == NGX_DECLINED)
    {
        ngx_str_null(value);
    }
#endif
}


ngx_int_t
ngx_http_mastodon_set_cookie(ngx_http_request_t *r, const char *name,
    ngx_str_t *value, ngx_int_t max_age)
{
    u_char                         *p;
    ngx_str_t                       v;
    ngx_http_mastodon_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    v.len = ngx_strlen(name) + 1 + value->len
            + sizeof("; Path=/; Max-Age=; HttpOnly; SameSite=Lax; Secure")
            + NGX_INT_T_LEN;
    v.data = ngx_pnalloc(r->pool, v.len);
    if (v.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(v.data, "%s=%V; Path=/", name, value);

    if (max_age >= 0) {
        p = ngx_sprintf(p, "; Max-Age=%i", max_age);
    }

    p = ngx_cpymem(p, "; HttpOnly; SameSite=Lax",
                   sizeof("; HttpOnly; SameSite=Lax") - 1);

    if (mcf->https) {
        p = ngx_cpymem(p, "; Secure", sizeof("; Secure") - 1);
    }

    v.len = p - v.data;

    return ngx_http_mastodon_add_header(r, "Set-Cookie", &v);
}


/* authenticity_token for forms bound to cookie secret `secret`. */
void
ngx_http_mastodon_csrf_token(ngx_str_t *secret, u_char *out)
{
    u_char     md[SHA256_DIGEST_LENGTH];
    u_char     buf[sizeof(NGX_HTTP_MASTODON_CSRF_SALT) - 1 + MSTDN_SECRET_LEN];
    ngx_str_t  src, dst;

    /* only called with a valid secret (43 characters) */
    ngx_memcpy(ngx_cpymem(buf, NGX_HTTP_MASTODON_CSRF_SALT,
                          sizeof(NGX_HTTP_MASTODON_CSRF_SALT) - 1),
               secret->data, MSTDN_SECRET_LEN);
    SHA256(buf, sizeof(buf), md);

    src.data = md;
    src.len = sizeof(md);
    dst.data = out;

    ngx_encode_base64url(&dst, &src);      /* 32 bytes: 43 characters */
    out[MSTDN_SECRET_LEN] = '\0';
}


/* Does the form's authenticity_token belong to cookie secret `secret`? */
ngx_uint_t
ngx_http_mastodon_csrf_valid(ngx_http_mastodon_ctx_t *ctx, ngx_str_t *secret)
{
    size_t       len;
    u_char       expected[MSTDN_SECRET_LEN + 1];
    const char  *token;

    if (!ngx_http_mastodon_secret_valid(secret)) {
        return 0;
    }

    token = mstdn_param_str(ctx->params, "authenticity_token", &len);
    if (token == NULL || len != MSTDN_SECRET_LEN) {
        return 0;
    }

    ngx_http_mastodon_csrf_token(secret, expected);

    return mstdn_secure_equal(expected, token, MSTDN_SECRET_LEN);
}


/*
 * The user id of session cookie secret `secret`: handler(r, id, data) with
 * 0 for no session, -1 when Redis failed.  NGX_ERROR: Redis is unavailable.
 */
ngx_int_t
ngx_http_mastodon_session_lookup(ngx_http_request_t *r, ngx_str_t *secret,
    ngx_http_mastodon_session_done_pt handler, void *data)
{
    u_char       key[sizeof(NGX_HTTP_MASTODON_SESSION_KEY) - 1
                     + SHA256_DIGEST_LENGTH * 2];
    size_t       argvlen[2];
    const char  *argv[2];

    ngx_http_mastodon_session_lookup_t  *lk;

    lk = ngx_palloc(r->pool, sizeof(ngx_http_mastodon_session_lookup_t));
    if (lk == NULL) {
        return NGX_ERROR;
    }

    lk->handler = handler;
    lk->data = data;

    ngx_http_mastodon_token_digest(secret,
        ngx_cpymem(key, NGX_HTTP_MASTODON_SESSION_KEY,
                   sizeof(NGX_HTTP_MASTODON_SESSION_KEY) - 1));

    argv[0] = "GET";
    argvlen[0] = 3;
    argv[1] = (const char *) key;
    argvlen[1] = sizeof(key);

    return ngx_http_mastodon_redis_command(r, ngx_http_mastodon_session_found,
                                           lk, 2, argv, argvlen);
}


static void
ngx_http_mastodon_session_found(ngx_http_request_t *r, redisReply *reply,
    void *data)
{
    int64_t                              id;
    ngx_http_mastodon_session_lookup_t  *lk = data;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        id = -1;

    } else if (reply->type == REDIS_REPLY_STRING) {
        id = ngx_atoof((u_char *) reply->str, reply->len);
        if (id <= 0) {
            id = 0;
        }

    } else {
        id = 0;
    }

    lk->handler(r, id, lk->data);
}


/*
 * A new session for user_id: a fresh secret into `secret` (44 bytes), its
 * digest into Redis; handler(r, reply, data) once stored.
 */
ngx_int_t
ngx_http_mastodon_session_create(ngx_http_request_t *r, int64_t user_id,
    u_char *secret, ngx_http_mastodon_redis_done_pt handler, void *data)
{
    u_char      key[sizeof(NGX_HTTP_MASTODON_SESSION_KEY) - 1
                    + SHA256_DIGEST_LENGTH * 2];
    u_char      id[NGX_INT64_LEN], ttl[NGX_INT_T_LEN];
    ngx_str_t   s;
    const char *argv[5];
    size_t      argvlen[5];

    if (mstdn_random_secret((char *) secret) != 0) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "mastodon: no random bytes for a session");
        return NGX_ERROR;
    }

    s.data = secret;
    s.len = MSTDN_SECRET_LEN;

    ngx_http_mastodon_token_digest(&s,
        ngx_cpymem(key, NGX_HTTP_MASTODON_SESSION_KEY,
                   sizeof(NGX_HTTP_MASTODON_SESSION_KEY) - 1));

    argv[0] = "SET";
    argvlen[0] = 3;
    argv[1] = (const char *) key;
    argvlen[1] = sizeof(key);
    argv[2] = (const char *) id;
    argvlen[2] = ngx_sprintf(id, "%L", user_id) - id;
    argv[3] = "EX";
    argvlen[3] = 2;
    argv[4] = (const char *) ttl;
    argvlen[4] = ngx_sprintf(ttl, "%d", NGX_HTTP_MASTODON_SESSION_TTL) - ttl;

    return ngx_http_mastodon_redis_command(r, handler, data, 5, argv, argvlen);
}


/*
 * bcrypt in the thread pool: handler(r, ok, data) back in the event loop.
 * hash NULL (no such user) takes the same time and fails.  NGX_ERROR: the pool's queue is full (answer 503).
 */
ngx_int_t
ngx_http_mastodon_password_check(ngx_http_request_t *r, ngx_str_t *password,
    ngx_str_t *hash, ngx_http_mastodon_password_done_pt handler, void *data)
{
    ngx_http_mastodon_main_conf_t      *mcf;
    ngx_http_mastodon_password_task_t  *t;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    t = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_password_task_t));
    if (t == NULL) {
        return NGX_ERROR;
    }

    t->cost = mcf->bcrypt_cost;

    /* copies the thread owns: the request pool lives while r->main->blocked */
    t->password = ngx_pnalloc(r->pool, password->len + 1);
    if (t->password == NULL) {
        return NGX_ERROR;
    }
    *ngx_cpymem(t->password, password->data, password->len) = '\0';
    t->len = password->len;

    if (hash && hash->len) {
        t->hash = ngx_pnalloc(r->pool, hash->len + 1);
        if (t->hash == NULL) {
            return NGX_ERROR;
        }
        *ngx_cpymem(t->hash, hash->data, hash->len) = '\0';

    } else {
        t->hash = NULL;
    }

    t->handler = handler;
    t->data = data;

    return ngx_http_mastodon_thread_run(r, ngx_http_mastodon_password_work,
                                        ngx_http_mastodon_password_done, t);
}


static void
ngx_http_mastodon_password_work(void *data, ngx_log_t *log)
{
    ngx_http_mastodon_password_task_t  *t = data;

    if (t->hash) {
        t->ok = mstdn_password_verify((const char *) t->password, t->len,
                                      (const char *) t->hash) ? 1 : 0;

    } else {
        char  out[MSTDN_PASSWORD_HASH_MAX];

        /*
         * An unknown user costs a hash at the configured cost, as much
         * time as checking a real one: the answer's timing does not tell
         * which e-mails exist.
         */
        (void) mstdn_password_hash((const char *) t->password, t->len,
                                   t->cost, out);
        t->ok = 0;
    }
}


static void
ngx_http_mastodon_password_done(ngx_http_request_t *r, void *data)
{
    ngx_http_mastodon_password_task_t  *t = data;

    explicit_bzero(t->password, t->len);

    t->handler(r, t->ok, t->data);
}
