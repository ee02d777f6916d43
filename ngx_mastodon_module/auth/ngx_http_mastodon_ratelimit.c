/*
 * Rate limits: Mastodon's rack-attack throttles (config/initializers/
 * rack_attack.rb), the same names, limits, periods and counting keys.
 * Which of them a request counts in comes from its route (the route table's
 * NGX_HTTP_MASTODON_RL_* bits, the /api/ pattern), its method and its
 * parameters, never from the URI, so "/auth/sign_in/" or
 * "/api/v1/accounts.json" count as what the router makes of them.
 *
 * Fixed windows counted in Redis (mastodon:rl:<window>:<throttle>:<who>),
 * as rack-attack's cache keys, and no extra round trip on the API: one
 * script fetches the cached token, learns its user from it and counts.  A
 * token that is not cached is counted after its PostgreSQL look-up (the
 * second trip only then), and one that does not authenticate counts as
 * unauthenticated, per address: guessing tokens is limited like any
 * anonymous request.  Counting stops at the first throttle over its limit,
 * as rack-attack's does.  Over a limit: 429 {"error": "Too many requests"}
 * with X-RateLimit-Limit, -Remaining 0 and -Reset; API answers carry the
 * headers of their most limited throttle (Mastodon's RateLimitHeaders).
 *
 * Redis failing (down, or hung past mastodon_redis_timeout): the API is not
 * limited, but sign-ins, sign-ups and confirmation e-mails are counted in
 * the worker's own fixed-size table, so a Redis outage never opens them to
 * guessing or flooding; each worker then allows the limit on its own.  A
 * table too full to take a new key answers 503 with Retry-After.
 *
 * Where we differ from Mastodon, on purpose: no localhost safelist; a valid
 * app token (client credentials) is counted per token only, not also per
 * address; confirmation e-mails also count per normalised target address
 * (the `email` parameter), so one inbox cannot be flooded from many
 * accounts; login attempts count per lower-cased e-mail address.
 */

#include "ngx_http_mastodon_auth.h"


/* who a throttle counts by; the letters are what the script reads */
#define NGX_HTTP_MASTODON_RL_BY_ADDRESS  'a'  /* the address, IPv6 per /64 */
#define NGX_HTTP_MASTODON_RL_BY_PARAM    'p'  /* a parameter, normalised */
#define NGX_HTTP_MASTODON_RL_BY_TOKEN    't'  /* an authenticating token */
#define NGX_HTTP_MASTODON_RL_BY_USER     'u'  /* the token's user */
#define NGX_HTTP_MASTODON_RL_BY_ANON     'n'  /* the address, without one */


typedef struct {
    const char                    *name;
    time_t                         period;
    u_char                         by;
    unsigned                       closed:1;   /* counted while Redis fails */
} ngx_http_mastodon_throttle_t;


/* in rack_attack.rb's order: counting stops at the first one over */
enum {
    NGX_HTTP_MASTODON_TH_AUTHENTICATED_API = 0,
    NGX_HTTP_MASTODON_TH_PER_TOKEN_API,
    NGX_HTTP_MASTODON_TH_UNAUTHENTICATED_API,
    NGX_HTTP_MASTODON_TH_API_MEDIA,
    NGX_HTTP_MASTODON_TH_API_SIGN_UP,
    NGX_HTTP_MASTODON_TH_AUTHENTICATED_PAGING,
    NGX_HTTP_MASTODON_TH_UNAUTHENTICATED_PAGING,
    NGX_HTTP_MASTODON_TH_API_DELETE,
    NGX_HTTP_MASTODON_TH_EMAIL_IP,
    NGX_HTTP_MASTODON_TH_EMAIL_USER,
    NGX_HTTP_MASTODON_TH_EMAIL_ADDRESS,
    NGX_HTTP_MASTODON_TH_LOGIN_IP,
    NGX_HTTP_MASTODON_TH_LOGIN_EMAIL,
    NGX_HTTP_MASTODON_TH_PASSWORD_CHANGE,
    NGX_HTTP_MASTODON_TH_N
};

static ngx_http_mastodon_throttle_t  ngx_http_mastodon_throttles[] = {
    { "throttle_authenticated_api", 300, NGX_HTTP_MASTODON_RL_BY_USER, 0 },
    { "throttle_per_token_api", 300, NGX_HTTP_MASTODON_RL_BY_TOKEN, 0 },
    { "throttle_unauthenticated_api", 300, NGX_HTTP_MASTODON_RL_BY_ANON, 0 },
    { "throttle_api_media", 1800, NGX_HTTP_MASTODON_RL_BY_USER, 0 },
    { "throttle_api_sign_up", 1800, NGX_HTTP_MASTODON_RL_BY_ADDRESS, 1 },
    { "throttle_authenticated_paging", 900, NGX_HTTP_MASTODON_RL_BY_USER, 0 },
    { "throttle_unauthenticated_paging",
      900, NGX_HTTP_MASTODON_RL_BY_ANON, 0 },
    { "throttle_api_delete", 1800, NGX_HTTP_MASTODON_RL_BY_USER, 0 },
    { "throttle_email_confirmations/ip",
      300, NGX_HTTP_MASTODON_RL_BY_ADDRESS, 1 },
    { "throttle_email_confirmations/email",
      1800, NGX_HTTP_MASTODON_RL_BY_USER, 0 },
    { "throttle_email_confirmations/email",
      1800, NGX_HTTP_MASTODON_RL_BY_PARAM, 1 },
    { "throttle_login_attempts/ip", 300, NGX_HTTP_MASTODON_RL_BY_ADDRESS, 1 },
    { "throttle_login_attempts/email",
      3600, NGX_HTTP_MASTODON_RL_BY_PARAM, 1 },
    { "throttle_password_change/account",
      600, NGX_HTTP_MASTODON_RL_BY_USER, 0 }
};


typedef struct {
    ngx_uint_t                     n;
    ngx_uint_t                     th[NGX_HTTP_MASTODON_TH_N];
    ngx_uint_t                     limit[NGX_HTTP_MASTODON_TH_N];
    ngx_str_t                      key[NGX_HTTP_MASTODON_TH_N];
    u_char                        *token_key;  /* the cached token's, or NULL */
    size_t                         token_key_len;
    void                          *lookup;     /* the token look-up, or NULL */
    ngx_int_t                      rc;         /* the look-up's verdict */
    time_t                         now;
    unsigned                       api:1;
    unsigned                       deferred:1; /* counted after the look-up */
    unsigned                       resolved:1; /* this is that count */
} ngx_http_mastodon_rl_t;


/* a worker's own counters while Redis fails */
#define NGX_HTTP_MASTODON_RL_LOCAL_SIZE    4096       /* a power of two */
#define NGX_HTTP_MASTODON_RL_LOCAL_PROBES  8

typedef struct {
    uint64_t                       hash;       /* of the key, window in it */
    time_t                         expires;
    ngx_uint_t                     count;
} ngx_http_mastodon_rl_slot_t;

static ngx_http_mastodon_rl_slot_t
    ngx_http_mastodon_rl_local[NGX_HTTP_MASTODON_RL_LOCAL_SIZE];


static ngx_int_t ngx_http_mastodon_rl_collect(ngx_http_request_t *r,
    ngx_http_mastodon_rl_t *rl, u_char *digest);
static ngx_int_t ngx_http_mastodon_rl_add(ngx_http_request_t *r,
    ngx_http_mastodon_rl_t *rl, ngx_uint_t th, ngx_str_t *who);
static ngx_uint_t ngx_http_mastodon_rl_limit(ngx_http_request_t *r,
    ngx_uint_t th);
static ngx_str_t ngx_http_mastodon_rl_address(ngx_http_request_t *r);
static ngx_int_t ngx_http_mastodon_rl_param(ngx_http_request_t *r,
    mstdn_value_t *obj, const char *name, ngx_str_t *value);
static ngx_int_t ngx_http_mastodon_rl_send(ngx_http_request_t *r,
    ngx_http_mastodon_rl_t *rl, ngx_str_t *state);
static void ngx_http_mastodon_rl_counted(ngx_http_request_t *r,
    redisReply *reply, void *data);
static ngx_int_t ngx_http_mastodon_rl_verdict(ngx_http_request_t *r,
    ngx_http_mastodon_rl_t *rl, redisReply *reply);
static ngx_int_t ngx_http_mastodon_rl_local_count(ngx_http_request_t *r,
    ngx_http_mastodon_rl_t *rl);
static ngx_int_t ngx_http_mastodon_rl_limited(ngx_http_request_t *r,
    ngx_http_mastodon_rl_t *rl, ngx_uint_t i);
static ngx_int_t ngx_http_mastodon_rl_headers(ngx_http_request_t *r,
    ngx_uint_t limit, ngx_uint_t remaining, time_t reset);


/*
 * KEYS[1] the cached token's key, or "" when ARGV[1] already says who is
 * asking: "-" no authenticating token, else the user id ("0": an app
 * token).  Then per throttle: key (the user id is appended to a user's),
 * limit, period, who.  Returns {cached token, count...}, a count 0 for a
 * throttle that does not apply; {nil} alone: the token is not cached, so
 * nothing was counted.
 */
static const char  ngx_http_mastodon_rl_script[] =
    "local t = false "
    "local s = ARGV[1] "
    "if KEYS[1] ~= '' then "
    " t = redis.call('GET', KEYS[1]) "
    " if not t then return {false} end "
    " s = string.match(t, '^%d+ %d+ (%d+) ') or '-' "
    "end "
    "local r = {t} "
    "for i = 2, #ARGV, 4 do "
    " local k, w = ARGV[i], ARGV[i + 3] "
    " if w == 'u' then "
    "  if s == '-' or s == '0' then k = false else k = k .. s end "
    " elseif (w == 'n' and s ~= '-') or (w == 't' and s == '-') then "
    "  k = false "
    " end "
    " local n = 0 "
    " if k then "
    "  n = redis.call('INCR', k) "
    "  if n == 1 then redis.call('EXPIRE', k, ARGV[i + 2]) end "
    " end "
    " r[#r + 1] = n "
    " if n > tonumber(ARGV[i + 1]) then break end "
    "end "
    "return r";


/*
 * Counts the request before its token is checked.  NGX_DECLINED: not
 * limited (no throttle applies, limits off, or Redis unavailable and none
 * of the sign-in, sign-up or e-mail limits reached): go on as if nothing
 * happened.  NGX_DONE: the count is under way;
 * ngx_http_mastodon_auth_resume(r, token reply, lookup) continues the
 * request, unless it is over a limit.  A status: refused.
 */
ngx_int_t
ngx_http_mastodon_ratelimit(ngx_http_request_t *r, u_char *digest,
    u_char *token_key, size_t token_key_len, void *lookup)
{
    ngx_int_t                       rc;
    ngx_str_t                       state;
    ngx_http_mastodon_rl_t         *rl;
    ngx_http_mastodon_ctx_t        *ctx;
    ngx_http_mastodon_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    if (!mcf->rate_limit) {
        return NGX_DECLINED;
    }

    rl = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_rl_t));
    if (rl == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rl->now = ngx_time();
    rl->lookup = lookup;
    rl->token_key = token_key;
    rl->token_key_len = token_key_len;

    if (ngx_http_mastodon_rl_collect(r, rl, digest) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rl->n == 0) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);
    ctx->rl = rl;

    /* without a token, nobody is authenticated */
    ngx_str_set(&state, "-");

    if (ngx_http_mastodon_rl_send(r, rl, token_key ? NULL : &state)
        == NGX_OK)
    {
        return NGX_DONE;
    }

    rc = ngx_http_mastodon_rl_local_count(r, rl);

    return rc == NGX_OK ? NGX_DECLINED : rc;
}


/*
 * After the look-up of a token that was not cached: counted now that it is
 * known whom it authenticates.  NGX_DONE: the count goes on and then
 * ngx_http_mastodon_auth_continue(r, rc); NGX_DECLINED: nothing to count.
 */
ngx_int_t
ngx_http_mastodon_ratelimit_resolved(ngx_http_request_t *r, ngx_int_t rc)
{
    u_char                   *p;
    ngx_str_t                 state;
    ngx_http_mastodon_rl_t   *rl;
    ngx_http_mastodon_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);
    rl = ctx->rl;

    if (rl == NULL || !rl->deferred) {
        return NGX_DECLINED;
    }

    rl->deferred = 0;
    rl->resolved = 1;
    rl->rc = rc;
    rl->token_key = NULL;

    if (ctx->auth) {
        p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
        if (p == NULL) {
            return NGX_DECLINED;
        }
        state.data = p;
        state.len = ngx_sprintf(p, "%L", ctx->auth->user_id) - p;

    } else {
        ngx_str_set(&state, "-");
    }

    if (ngx_http_mastodon_rl_send(r, rl, &state) == NGX_OK) {
        return NGX_DONE;
    }

    /* Redis failed meanwhile: the sign-in/up and e-mail limits still hold */
    rc = ngx_http_mastodon_rl_local_count(r, rl);

    if (rc != NGX_OK) {
        ngx_http_mastodon_auth_continue(r, rc);
        return NGX_DONE;
    }

    return NGX_DECLINED;
}


/* The throttles that apply to the request, in rack-attack's order. */
static ngx_int_t
ngx_http_mastodon_rl_collect(ngx_http_request_t *r,
    ngx_http_mastodon_rl_t *rl, u_char *digest)
{
    ngx_str_t                   address, token, v, none;
    ngx_uint_t                  limits, paging, i;
    const char                 *s;
    mstdn_value_t              *user;
    ngx_http_mastodon_ctx_t    *ctx;
    ngx_http_mastodon_route_t  *route;

    static const char  *paging_params[] = {
        "page", "min_id", "max_id", "since_id"
    };

    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);
    route = ctx->route;
    limits = route->limits;

    /* the streaming API is another server in Mastodon: not rack-attack's */
    rl->api = route->pattern.len > 5
              && ngx_strncmp(route->pattern.data, "/api/", 5) == 0
              && route->auth != NGX_HTTP_MASTODON_AUTH_STREAM;

    address = ngx_http_mastodon_rl_address(r);
    ngx_str_null(&none);

    token.data = digest;
    token.len = digest ? 64 : 0;

    /* a password grant is a sign-in (bcrypt, password guessing) */
    if (limits & NGX_HTTP_MASTODON_RL_GRANT) {
        s = mstdn_param_str(ctx->params, "grant_type", NULL);
        if (s && ngx_strcmp(s, "password") == 0) {
            limits |= NGX_HTTP_MASTODON_RL_SIGN_IN;
        }
    }

    paging = 0;
    for (i = 0; i < sizeof(paging_params) / sizeof(paging_params[0]); i++) {
        if (mstdn_param_str(ctx->params, paging_params[i], &v.len)
            && v.len)
        {
            paging = 1;
        }
    }

#define ADD(th, who)                                                          \
    if (ngx_http_mastodon_rl_add(r, rl, NGX_HTTP_MASTODON_TH_##th, who)       \
        != NGX_OK)                                                            \
    {                                                                         \
        return NGX_ERROR;                                                     \
    }

    if (rl->api) {
        ADD(AUTHENTICATED_API, &none);
        if (digest) {
            ADD(PER_TOKEN_API, &token);
        }
        ADD(UNAUTHENTICATED_API, &address);
    }

    if ((limits & NGX_HTTP_MASTODON_RL_MEDIA) && r->method == NGX_HTTP_POST) {
        ADD(API_MEDIA, &none);
    }

    if (limits & NGX_HTTP_MASTODON_RL_SIGN_UP) {
        ADD(API_SIGN_UP, &address);
    }

    if (paging) {
        ADD(AUTHENTICATED_PAGING, &none);
        ADD(UNAUTHENTICATED_PAGING, &address);
    }

    if (limits & NGX_HTTP_MASTODON_RL_DELETE) {
        ADD(API_DELETE, &none);
    }

    if (limits & NGX_HTTP_MASTODON_RL_EMAIL) {
        ADD(EMAIL_IP, &address);
        ADD(EMAIL_USER, &none);

        if (ngx_http_mastodon_rl_param(r, ctx->params, "email", &v) == NGX_OK)
        {
            ADD(EMAIL_ADDRESS, &v);
        }
    }

    if (limits & NGX_HTTP_MASTODON_RL_SIGN_IN) {
        ADD(LOGIN_IP, &address);

        if (limits & NGX_HTTP_MASTODON_RL_GRANT) {
            user = ctx->params;
            s = "username";

        } else {
            user = mstdn_object_get(ctx->params, "user");
            s = "email";
        }

        if (user && user->type == MSTDN_OBJECT
            && ngx_http_mastodon_rl_param(r, user, s, &v) == NGX_OK)
        {
            ADD(LOGIN_EMAIL, &v);
        }
    }

    /* rack_attack.rb: every PUT of a signed-in user */
    if (r->method == NGX_HTTP_PUT) {
        ADD(PASSWORD_CHANGE, &none);
    }

#undef ADD

    return NGX_OK;
}


/* mastodon:rl:<window>:<throttle>:<who>; a user's id is appended later */
static ngx_int_t
ngx_http_mastodon_rl_add(ngx_http_request_t *r, ngx_http_mastodon_rl_t *rl,
    ngx_uint_t th, ngx_str_t *who)
{
    u_char                        *p;
    ngx_uint_t                     limit;
    ngx_http_mastodon_throttle_t  *t;

    t = &ngx_http_mastodon_throttles[th];

    limit = ngx_http_mastodon_rl_limit(r, th);
    if (limit == 0) {
        return NGX_OK;                          /* 0: no limit */
    }

    p = ngx_pnalloc(r->pool, sizeof("mastodon:rl:::") + NGX_TIME_T_LEN
                             + ngx_strlen(t->name) + who->len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    rl->th[rl->n] = th;
    rl->limit[rl->n] = limit;
    rl->key[rl->n].data = p;
    rl->key[rl->n].len = ngx_sprintf(p, "mastodon:rl:%T:%s:%V",
                                     rl->now / t->period, t->name, who)
                         - p;
    rl->n++;

    return NGX_OK;
}


static ngx_uint_t
ngx_http_mastodon_rl_limit(ngx_http_request_t *r, ngx_uint_t th)
{
    ngx_http_mastodon_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    switch (th) {
    case NGX_HTTP_MASTODON_TH_AUTHENTICATED_API:
        return 1500;
    case NGX_HTTP_MASTODON_TH_PER_TOKEN_API:
    case NGX_HTTP_MASTODON_TH_UNAUTHENTICATED_API:
        return mcf->rate_limit_api;
    case NGX_HTTP_MASTODON_TH_API_MEDIA:
    case NGX_HTTP_MASTODON_TH_API_DELETE:
        return 30;
    case NGX_HTTP_MASTODON_TH_API_SIGN_UP:
        return mcf->rate_limit_sign_up;
    case NGX_HTTP_MASTODON_TH_AUTHENTICATED_PAGING:
    case NGX_HTTP_MASTODON_TH_UNAUTHENTICATED_PAGING:
        return 300;
    case NGX_HTTP_MASTODON_TH_EMAIL_USER:
    case NGX_HTTP_MASTODON_TH_EMAIL_ADDRESS:
        return 5;
    case NGX_HTTP_MASTODON_TH_PASSWORD_CHANGE:
        return 10;
    default:        /* e-mails per address, login attempts: 25 */
        return mcf->rate_limit_sign_in;
    }
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
 * An e-mail address (or user name) as a counting key: trimmed and
 * lower-cased, so "Alice@Example.com " is the same inbox; at most 320
 * bytes.  NGX_DECLINED: absent or empty.
 */
static ngx_int_t
ngx_http_mastodon_rl_param(ngx_http_request_t *r, mstdn_value_t *obj,
    const char *name, ngx_str_t *value)
{
    size_t       len;
    const char  *s;

    s = mstdn_param_str(obj, name, &len);
    if (s == NULL) {
        return NGX_DECLINED;
    }

    while (len && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')) {
        s++;
        len--;
    }

    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'
                   || s[len - 1] == '\r' || s[len - 1] == '\n'))
    {
        len--;
    }

    if (len == 0) {
        return NGX_DECLINED;
    }

    len = ngx_min(len, 320);

    value->data = ngx_pnalloc(r->pool, len);
    if (value->data == NULL) {
        return NGX_DECLINED;
    }

    ngx_strlow(value->data, (u_char *) s, len);
    value->len = len;

    return NGX_OK;
}


/* state NULL: the script reads the cached token to learn who is asking */
static ngx_int_t
ngx_http_mastodon_rl_send(ngx_http_request_t *r, ngx_http_mastodon_rl_t *rl,
    ngx_str_t *state)
{
    u_char                          *p;
    ngx_uint_t                       i, k;
    const char                     **argv;
    size_t                          *argvlen;
    ngx_http_mastodon_throttle_t    *t;

    argv = ngx_palloc(r->pool, (5 + 4 * rl->n) * sizeof(char *));
    argvlen = ngx_palloc(r->pool, (5 + 4 * rl->n) * sizeof(size_t));
    p = ngx_pnalloc(r->pool, rl->n * 2 * (NGX_INT_T_LEN + 1));
    if (argv == NULL || argvlen == NULL || p == NULL) {
        return NGX_ERROR;
    }

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = ngx_http_mastodon_rl_script;
    argvlen[1] = sizeof(ngx_http_mastodon_rl_script) - 1;
    argv[2] = "1";
    argvlen[2] = 1;
    argv[3] = state ? "" : (const char *) rl->token_key;
    argvlen[3] = state ? 0 : rl->token_key_len;
    argv[4] = state ? (const char *) state->data : "";
    argvlen[4] = state ? state->len : 0;

    for (i = 0, k = 5; i < rl->n; i++) {
        t = &ngx_http_mastodon_throttles[rl->th[i]];

        argv[k] = (const char *) rl->key[i].data;
        argvlen[k++] = rl->key[i].len;
        argv[k] = (const char *) p;
        argvlen[k++] = ngx_sprintf(p, "%ui", rl->limit[i]) - p;
        p += argvlen[k - 1];
        argv[k] = (const char *) p;
        argvlen[k++] = ngx_sprintf(p, "%T", t->period) - p;
        p += argvlen[k - 1];
        argv[k] = (const char *) &t->by;
        argvlen[k++] = 1;
    }

    return ngx_http_mastodon_redis_command(r, ngx_http_mastodon_rl_counted,
                                           rl, k, argv, argvlen);
}


static void
ngx_http_mastodon_rl_counted(ngx_http_request_t *r, redisReply *reply,
    void *data)
{
    ngx_int_t                 rc;
    redisReply               *token;
    ngx_http_mastodon_rl_t   *rl = data;

    token = NULL;

    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1) {

        token = reply->element[0];

        if (reply->elements == 1 && !rl->resolved) {
            /* the token is not cached: counted after its look-up */
            rl->deferred = 1;
            rc = NGX_OK;

        } else {
            rc = ngx_http_mastodon_rl_verdict(r, rl, reply);
        }

    } else {
        /* Redis failed: the sign-in/up and e-mail limits still hold */
        rc = ngx_http_mastodon_rl_local_count(r, rl);
    }

    if (rc != NGX_OK) {
        if (rl->resolved) {
            ngx_http_mastodon_auth_continue(r, rc);
            return;
        }

        ngx_http_mastodon_finalize(r, rc);
        return;
    }

    if (rl->resolved) {
        ngx_http_mastodon_auth_continue(r, rl->rc);
        return;
    }

    /* a failed count: the token reply is then unknown (NULL) */
    ngx_http_mastodon_auth_resume(r, token, rl->lookup);
}


/* NGX_OK, or the status that refuses the request */
static ngx_int_t
ngx_http_mastodon_rl_verdict(ngx_http_request_t *r,
    ngx_http_mastodon_rl_t *rl, redisReply *reply)
{
    time_t       period;
    int64_t      count;
    ngx_uint_t   i, most;
    ngx_uint_t   left, least;
    redisReply  *e;

    most = rl->n;
    least = NGX_MAX_UINT32_VALUE;

    for (i = 0; i + 1 < reply->elements && i < rl->n; i++) {
        e = reply->element[i + 1];

        if (e->type != REDIS_REPLY_INTEGER || e->integer <= 0) {
            continue;                           /* does not apply */
        }

        count = e->integer;

        if ((uint64_t) count > rl->limit[i]) {
            return ngx_http_mastodon_rl_limited(r, rl, i);
        }

        left = rl->limit[i] - (ngx_uint_t) count;

        if (left < least) {
            least = left;
            most = i;
        }
    }

    if (!rl->api || most == rl->n) {
        return NGX_OK;
    }

    period = ngx_http_mastodon_throttles[rl->th[most]].period;

    if (ngx_http_mastodon_rl_headers(r, rl->limit[most], least,
                                     rl->now - rl->now % period + period)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_OK;
}


/*
 * Redis failed: the throttles that must hold anyway (sign-in, sign-up,
 * e-mail) counted in this worker's table, by a 64-bit hash of their key
 * (which names the window).  A key takes one of a few slots at its hash;
 * a slot whose window has passed is free again.
 */
static ngx_int_t
ngx_http_mastodon_rl_local_count(ngx_http_request_t *r,
    ngx_http_mastodon_rl_t *rl)
{
    u_char                        *p, *last;
    time_t                         period, soonest;
    uint64_t                       h;
    ngx_str_t                      retry;
    ngx_uint_t                     i, k, slot;
    ngx_http_mastodon_rl_slot_t   *s, *free;
    ngx_http_mastodon_throttle_t  *t;

    for (i = 0; i < rl->n; i++) {
        t = &ngx_http_mastodon_throttles[rl->th[i]];

        if (!t->closed) {
            continue;
        }

        /* FNV-1a */
        h = 14695981039346656037ULL;
        last = rl->key[i].data + rl->key[i].len;
        for (p = rl->key[i].data; p < last; p++) {
            h = (h ^ *p) * 1099511628211ULL;
        }

        period = t->period;
        free = NULL;
        soonest = rl->now + period;
        s = NULL;

        for (k = 0; k < NGX_HTTP_MASTODON_RL_LOCAL_PROBES; k++) {
            slot = (h + k) & (NGX_HTTP_MASTODON_RL_LOCAL_SIZE - 1);
            s = &ngx_http_mastodon_rl_local[slot];

            if (s->expires > rl->now && s->hash == h) {
                break;
            }

            if (s->expires <= rl->now) {
                if (free == NULL) {
                    free = s;
                }

            } else if (s->expires < soonest) {
                soonest = s->expires;
            }

            s = NULL;
        }

        if (s == NULL) {
            if (free == NULL) {
                /* no room to count it: refused, not let through */
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "mastodon: rate limit table of the worker "
                              "is full while Redis fails");

                retry.data = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
                if (retry.data == NULL) {
                    return NGX_HTTP_INTERNAL_SERVER_ERROR;
                }
                retry.len = ngx_sprintf(retry.data, "%T", soonest - rl->now)
                            - retry.data;

                if (ngx_http_mastodon_add_header(r, "Retry-After", &retry)
                    != NGX_OK)
                {
                    return NGX_HTTP_INTERNAL_SERVER_ERROR;
                }

                return NGX_HTTP_SERVICE_UNAVAILABLE;
            }

            s = free;
            s->hash = h;
            s->count = 0;
            s->expires = rl->now - rl->now % period + period;
        }

        s->count++;

        if (s->count > rl->limit[i]) {
            return ngx_http_mastodon_rl_limited(r, rl, i);
        }
    }

    return NGX_OK;
}


/* 429 as rack-attack's throttled_responder answers it */
static ngx_int_t
ngx_http_mastodon_rl_limited(ngx_http_request_t *r,
    ngx_http_mastodon_rl_t *rl, ngx_uint_t i)
{
    time_t                    period;
    ngx_http_mastodon_ctx_t  *ctx;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mastodon: rate limited by %s",
                  ngx_http_mastodon_throttles[rl->th[i]].name);

    period = ngx_http_mastodon_throttles[rl->th[i]].period;

    if (ngx_http_mastodon_rl_headers(r, rl->limit[i], 0,
                                     rl->now - rl->now % period + period)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);
    ctx->error_message = "Too many requests";

    return NGX_HTTP_TOO_MANY_REQUESTS;
}


/* Mastodon's RateLimitHeaders: the window's end in ISO 8601 */
static ngx_int_t
ngx_http_mastodon_rl_headers(ngx_http_request_t *r, ngx_uint_t limit,
    ngx_uint_t remaining, time_t reset)
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
    v.len = ngx_sprintf(p, "%ui", remaining) - p;
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
