/*
 * Rate limits as Mastodon's rack-attack sets them: the API, 300 requests
 * per 5 minutes per token (per address without one); sign-ins (POST
 * /auth/sign_in, and password grants), 25 per 5 minutes per address;
 * sign-ups (POST /api/v1/accounts), 5 per 30 minutes per address;
 * confirmation e-mails sent again, 25 per 5 minutes per address.  An IPv6
 * address counts by its /64, as Mastodon's throttleable_remote_ip.  Over the limit: 429
 * {"error": "Too many requests"}.  API answers carry X-RateLimit-Limit,
 * -Remaining and -Reset, which clients read.
 *
 * Fixed windows counted in Redis (mastodon:rl:<class>:<who>:<window>),
 * and no extra round trip: one script counts and, when the route looks at
 * tokens, fetches the cached token too.  Redis unavailable: not limited.
 */

#include "ngx_http_mastodon_auth.h"


typedef enum {
    NGX_HTTP_MASTODON_RL_NONE = 0,
    NGX_HTTP_MASTODON_RL_API,
    NGX_HTTP_MASTODON_RL_SIGN_IN,
    NGX_HTTP_MASTODON_RL_SIGN_UP,
    NGX_HTTP_MASTODON_RL_EMAIL
} ngx_http_mastodon_rl_class_e;


typedef struct {
    ngx_http_mastodon_rl_class_e   class;
    ngx_uint_t                     limit;
    time_t                         reset;      /* the window's end */
    void                          *lookup;     /* the token look-up, or NULL */
} ngx_http_mastodon_rl_t;


static void ngx_http_mastodon_rl_counted(ngx_http_request_t *r,
    redisReply *reply, void *data);
static ngx_int_t ngx_http_mastodon_rl_headers(ngx_http_request_t *r,
    ngx_uint_t limit, int64_t count, time_t reset);


/* KEYS[1] the token's cache key or "", KEYS[2] the counter */
static const char  ngx_http_mastodon_rl_script[] =
    "local t = false "
    "if KEYS[1] ~= '' then t = redis.call('GET', KEYS[1]) end "
    "local n = redis.call('INCR', KEYS[2]) "
    "if n == 1 then redis.call('EXPIRE', KEYS[2], ARGV[1]) end "
    "return {t, n}";


#define ngx_http_mastodon_rl_is(r, path)                                      \
    ((r)->uri.len == sizeof(path) - 1                                         \
     && ngx_strncmp((r)->uri.data, path, sizeof(path) - 1) == 0)

static ngx_http_mastodon_rl_class_e
ngx_http_mastodon_rl_class(ngx_http_request_t *r)
{
    const char               *grant;
    ngx_http_mastodon_ctx_t  *ctx;

    if (r->method == NGX_HTTP_POST) {
        if (ngx_http_mastodon_rl_is(r, "/auth/sign_in")) {
            return NGX_HTTP_MASTODON_RL_SIGN_IN;
        }

        if (ngx_http_mastodon_rl_is(r, "/oauth/token")) {
            /* a password grant is a sign-in (bcrypt, password guessing) */
            ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);
            grant = mstdn_param_str(ctx->params, "grant_type", NULL);

            return grant && ngx_strcmp(grant, "password") == 0
                   ? NGX_HTTP_MASTODON_RL_SIGN_IN : NGX_HTTP_MASTODON_RL_NONE;
        }

        if (ngx_http_mastodon_rl_is(r, "/api/v1/accounts")) {
            return NGX_HTTP_MASTODON_RL_SIGN_UP;
        }

        if (ngx_http_mastodon_rl_is(r, "/api/v1/emails/confirmations")) {
            return NGX_HTTP_MASTODON_RL_EMAIL;
        }
    }

    if (r->uri.len > 5 && ngx_strncmp(r->uri.data, "/api/", 5) == 0) {
        return NGX_HTTP_MASTODON_RL_API;
    }

    return NGX_HTTP_MASTODON_RL_NONE;
}


/* The client's address, an IPv6 one cut to its /64 (one customer's net). */
static ngx_str_t
ngx_http_mastodon_rl_address(ngx_http_request_t *r)
{
    u_char               *p;
    ngx_str_t             who;
#if (NGX_HAVE_INET6)
    struct sockaddr_in6  *sin6;
#endif

    who = r->connection->addr_text;

#if (NGX_HAVE_INET6)
    if (r->connection->sockaddr->sa_family == AF_INET6) {
        sin6 = (struct sockaddr_in6 *) r->connection->sockaddr;

        if (!IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
            p = ngx_pnalloc(r->pool, 16 + sizeof("::/64") - 1);
            if (p != NULL) {
                who.data = p;
                p = ngx_hex_dump(p, sin6->sin6_addr.s6_addr, 8);
                p = ngx_cpymem(p, "::/64", sizeof("::/64") - 1);
                who.len = p - who.data;
            }
        }
    }
#endif

    return who;
}


/*
 * Counts the request.  NGX_DECLINED: not limited (no class, limits off, or
 * Redis unavailable): go on as if nothing happened.  NGX_DONE: the count
 * is under way; ngx_http_mastodon_auth_resume(r, token reply, lookup)
 * continues the request, unless it is over the limit.
 */
ngx_int_t
ngx_http_mastodon_ratelimit(ngx_http_request_t *r, u_char *digest,
    u_char *token_key, size_t token_key_len, void *lookup)
{
    u_char                         *who, *key;
    size_t                          who_len;
    ngx_str_t                       address;
    time_t                          now, period;
    ngx_uint_t                      limit;
    ngx_http_mastodon_rl_t         *rl;
    ngx_http_mastodon_rl_class_e    class;
    ngx_http_mastodon_main_conf_t  *mcf;
    const char                     *argv[6];
    size_t                          argvlen[6];
    u_char                          ttl[NGX_INT_T_LEN];

    static const char  *names[] = { "", "api", "sign_in", "sign_up",
                                    "email" };

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    if (!mcf->rate_limit) {
        return NGX_DECLINED;
    }

    class = ngx_http_mastodon_rl_class(r);

    switch (class) {
    case NGX_HTTP_MASTODON_RL_API:
        limit = mcf->rate_limit_api;
        period = 300;
        break;
    case NGX_HTTP_MASTODON_RL_SIGN_IN:
        limit = mcf->rate_limit_sign_in;
        period = 300;
        break;
    case NGX_HTTP_MASTODON_RL_SIGN_UP:
        limit = mcf->rate_limit_sign_up;
        period = 1800;
        break;
    case NGX_HTTP_MASTODON_RL_EMAIL:
        limit = mcf->rate_limit_sign_in;         /* 25, as Mastodon's */
        period = 300;
        break;
    default:
        return NGX_DECLINED;
    }

    if (limit == 0) {
        return NGX_DECLINED;                     /* 0: no limit */
    }

    rl = ngx_palloc(r->pool, sizeof(ngx_http_mastodon_rl_t));
    if (rl == NULL) {
        return NGX_DECLINED;
    }

    rl->class = class;
    rl->limit = limit;

    /* per token on the API; per address otherwise, or without a token */
    if (digest && class == NGX_HTTP_MASTODON_RL_API) {
        who = digest;
        who_len = 64;

    } else {
        address = ngx_http_mastodon_rl_address(r);
        who = address.data;
        who_len = address.len;
    }

    now = ngx_time();
    rl->reset = now - now % period + period;
    rl->lookup = lookup;

    key = ngx_pnalloc(r->pool, sizeof("mastodon:rl:sign_up::") + who_len
                               + NGX_TIME_T_LEN);
    if (key == NULL) {
        return NGX_DECLINED;
    }

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = ngx_http_mastodon_rl_script;
    argvlen[1] = sizeof(ngx_http_mastodon_rl_script) - 1;
    argv[2] = "2";
    argvlen[2] = 1;
    argv[3] = token_key ? (const char *) token_key : "";
    argvlen[3] = token_key ? token_key_len : 0;
    argv[4] = (const char *) key;
    argvlen[4] = ngx_sprintf(key, "mastodon:rl:%s:%*s:%T", names[class],
                             who_len, who, now / period) - key;
    argv[5] = (const char *) ttl;
    argvlen[5] = ngx_sprintf(ttl, "%T", period) - ttl;

    if (ngx_http_mastodon_redis_command(r, ngx_http_mastodon_rl_counted, rl,
                                        6, argv, argvlen)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    return NGX_DONE;
}


static void
ngx_http_mastodon_rl_counted(ngx_http_request_t *r, redisReply *reply,
    void *data)
{
    redisReply               *token;
    ngx_http_mastodon_ctx_t  *ctx;
    ngx_http_mastodon_rl_t   *rl = data;

    token = NULL;

    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
        && reply->element[1]->type == REDIS_REPLY_INTEGER)
    {
        token = reply->element[0];

        if (rl->class == NGX_HTTP_MASTODON_RL_API
            && ngx_http_mastodon_rl_headers(r, rl->limit,
                                            reply->element[1]->integer,
                                            rl->reset)
               != NGX_OK)
        {
            ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        if ((ngx_uint_t) reply->element[1]->integer > rl->limit) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "mastodon: rate limited (%L requests)",
                          (int64_t) reply->element[1]->integer);

            ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);
            ctx->error_message = "Too many requests";
            ngx_http_mastodon_finalize(r, 429);
            return;
        }
    }

    /* a failed count is no limit: the token reply is then unknown (NULL) */
    ngx_http_mastodon_auth_resume(r, token, rl->lookup);
}


/* Mastodon's RateLimitHeaders: the window's end in ISO 8601 */
static ngx_int_t
ngx_http_mastodon_rl_headers(ngx_http_request_t *r, ngx_uint_t limit,
    int64_t count, time_t reset)
{
    u_char     *p;
    ngx_tm_t    tm;
    ngx_str_t   v;

    p = ngx_pnalloc(r->pool, 2 * NGX_INT_T_LEN
                             + sizeof("2026-11-23T00:00:00.000000Z"));
    if (p == NULL) {
        return NGX_ERROR;
    }

    v.data = p;
    v.len = ngx_sprintf(p, "%ui", limit) - p;
    if (ngx_http_mastodon_add_header(r, "X-RateLimit-Limit", &v) != NGX_OK) {
        return NGX_ERROR;
    }

    p += v.len;
    v.data = p;
    v.len = ngx_sprintf(p, "%L", count >= (int64_t) limit
                                 ? (int64_t) 0 : (int64_t) limit - count)
            - p;
    if (ngx_http_mastodon_add_header(r, "X-RateLimit-Remaining", &v)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_gmtime(reset, &tm);

    p += v.len;
    v.data = p;
    v.len = ngx_sprintf(p, "%4d-%02d-%02dT%02d:%02d:%02d.000000Z",
                        tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                        tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec)
            - p;

    return ngx_http_mastodon_add_header(r, "X-RateLimit-Reset", &v);
}
