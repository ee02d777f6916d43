/*
 * What every file of the module shares: nginx, libpq, hiredis, yajl and
 * lib/'s value tree; the configuration, the request context and routes;
 * the module, the router, request parameters, JSON and HTML responses,
 * pagination and the error filter (the files of core/).
 */

#ifndef _NGX_HTTP_MASTODON_CORE_H_INCLUDED_
#define _NGX_HTTP_MASTODON_CORE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <libpq-fe.h>
#include <hiredis/hiredis.h>
#include <yajl/yajl_gen.h>

#include "mstdn_value.h"
#include "ngx_http_mastodon_op.h"


/* what clients see: they enable features by the Mastodon version */
#define NGX_HTTP_MASTODON_COMPAT         "4.3.0"
#define NGX_HTTP_MASTODON_API_VERSION    2

#define NGX_HTTP_MASTODON_REG_OPEN       1
#define NGX_HTTP_MASTODON_REG_APPROVAL   2
#define NGX_HTTP_MASTODON_REG_CLOSED     3

#define NGX_HTTP_MASTODON_MAX_CAPTURES   4


typedef struct {
    ngx_str_t                  database;
    ngx_str_t                  redis;
    ngx_str_t                  domain;          /* LOCAL_DOMAIN: acct: */
    ngx_str_t                  web_domain;      /* WEB_DOMAIN: URLs */
    ngx_flag_t                 https;
    ngx_str_t                  title;
    ngx_str_t                  description;
    ngx_str_t                  contact_email;
    ngx_str_t                  source_url;
    ngx_uint_t                 registrations;
    ngx_uint_t                 max_characters;

    ngx_uint_t                 pg_pool_size;    /* 0: by worker_processes */
    ngx_uint_t                 pg_slow_pool_size;
    ngx_uint_t                 pg_queue_size;
    ngx_uint_t                 pg_max_requests;
    ngx_msec_t                 pg_connect_timeout;
    ngx_msec_t                 pg_query_timeout;
    ngx_msec_t                 pg_queue_timeout;
    ngx_msec_t                 pg_slow_query_timeout;
    ngx_flag_t                 pg_pgbouncer;

    ngx_msec_t                 redis_connect_timeout;
    ngx_msec_t                 redis_timeout;
    ngx_str_t                  redis_ssl_trusted_certificate;
    ngx_str_t                  redis_ssl_certificate;
    ngx_str_t                  redis_ssl_certificate_key;
    ngx_str_t                  redis_ssl_name;
    ngx_msec_t                 debug_tick;      /* tests: 0 off */
    ngx_msec_t                 debug_tick_sleep;
    ngx_flag_t                 debug_subscribe; /* tests */

    ngx_msec_t                 instance_cache;
    ngx_msec_t                 account_cache;
    ngx_uint_t                 json_max_depth;
    ngx_uint_t                 json_max_members;
    ngx_str_t                  thread_pool_name;
    ngx_flag_t                 rate_limit;
    ngx_uint_t                 rate_limit_api;
    ngx_uint_t                 rate_limit_sign_in;
    ngx_uint_t                 rate_limit_sign_up;
    ngx_uint_t                 bcrypt_cost;
    ngx_flag_t                 require_confirmation;
    ngx_flag_t                 oauth_password_grant;
    ngx_uint_t                 feed_max;        /* home feed length */
    ngx_uint_t                 big_account_followers;  /* 0: no merge */

    /* the inbox and signed requests (activitypub/, fed-inbox) */
    size_t                     key_cache_size;
    ngx_msec_t                 key_cache_valid;
    ngx_msec_t                 key_fetch_wait;
    ngx_flag_t                 authorized_fetch;
    ngx_msec_t                 resolve_wait;    /* search resolve=true */
    ngx_shm_zone_t            *key_cache;

    /* streaming (streaming/) */
    ngx_msec_t                 streaming_heartbeat;
    size_t                     streaming_max_output;
    size_t                     streaming_max_message;

    /* Web Push: the VAPID public key (VAPID_PUBLIC_KEY; the worker signs
     * with its private half) shown to clients (api/_push.c) */
    ngx_str_t                  vapid_public_key;

    /* rendered entities shared by the workers (cache/) */
    size_t                     render_cache_size;
    ngx_shm_zone_t            *render_cache;

    /* media uploads (api/_media.c) */
    ngx_path_t                *media_spool;     /* handed to the worker */
    size_t                     media_image_limit;
    size_t                     media_video_limit;
    ngx_msec_t                 media_v1_wait;   /* POST /api/v[12]/media */
    ngx_str_t                  media_base_url;  /* stored keys' public base */

    /* derived in init_main_conf */
    time_t                     loaded_at;
    ngx_flag_t                 enabled;
    ngx_str_t                  base_url;        /* https://web_domain */
    ngx_str_t                  streaming_url;   /* wss://web_domain */
    ngx_str_t                  redis_host;      /* numeric address */
    ngx_int_t                  redis_port;
    ngx_str_t                  redis_unix;      /* or a unix socket */
    ngx_str_t                  redis_username;  /* NUL-terminated */
    ngx_str_t                  redis_password;
    ngx_int_t                  redis_db;
    ngx_uint_t                 redis_tls;       /* rediss:// */
    ngx_addr_t                 redis_addr;
    ngx_uint_t                 redis_ssl_name_ip;
#if (NGX_SSL)
    ngx_ssl_t                 *redis_ssl;
#endif
#if (NGX_THREADS)
    ngx_thread_pool_t         *thread_pool;
#endif
} ngx_http_mastodon_main_conf_t;


typedef struct {
    ngx_flag_t                 enable;
    ngx_flag_t                 debug_upload;    /* the test aid's route */
} ngx_http_mastodon_loc_conf_t;


/* What a route asks of the request's OAuth token. */
#define NGX_HTTP_MASTODON_AUTH_NONE      0  /* tokens are not looked at */
#define NGX_HTTP_MASTODON_AUTH_OPTIONAL  1  /* a token, if given, must be valid */
#define NGX_HTTP_MASTODON_AUTH_APP       2  /* any valid token (app or user) */
#define NGX_HTTP_MASTODON_AUTH_USER      3  /* a user's token, user in order */
#define NGX_HTTP_MASTODON_AUTH_STREAM    4  /* Mastodon's streaming server: a
                                               user's token required (also
                                               Sec-WebSocket-Protocol), its
                                               messages, no rate limits,
                                               scopes the endpoint's */


/*
 * Which of Mastodon's path-bound rate limits (rack-attack throttles) a route
 * counts in; the API-wide and paging limits apply by the route's pattern and
 * parameters (auth/_ratelimit.c).
 */
#define NGX_HTTP_MASTODON_RL_SIGN_UP     0x01  /* throttle_api_sign_up */
#define NGX_HTTP_MASTODON_RL_SIGN_IN     0x02  /* throttle_login_attempts */
#define NGX_HTTP_MASTODON_RL_GRANT       0x04  /* SIGN_IN if a password grant */
#define NGX_HTTP_MASTODON_RL_EMAIL       0x08  /* the e-mail confirmations */
#define NGX_HTTP_MASTODON_RL_DELETE      0x10  /* throttle_api_delete */
#define NGX_HTTP_MASTODON_RL_MEDIA       0x20  /* throttle_api_media */

/* What a route reads of a request body, and up to what size. */
#define NGX_HTTP_MASTODON_BODY_NONE      0  /* discarded */
#define NGX_HTTP_MASTODON_BODY_FORM      1  /* JSON, form, small multipart */
#define NGX_HTTP_MASTODON_BODY_FILES     2  /* multipart with files */
#define NGX_HTTP_MASTODON_BODY_MEDIA     3  /* FILES, multipart always a file */
#define NGX_HTTP_MASTODON_BODY_RAW       4  /* bytes as received (inbox):
                                               not parsed, FORM's limit */
/* a form body's limit (under client_max_body_size) */
#define NGX_HTTP_MASTODON_BODY_FORM_MAX  (1024 * 1024)
/* mastodon locations buffer at least this much in memory; more: a file */
#define NGX_HTTP_MASTODON_BODY_MEMORY    (64 * 1024)
/* a multipart body in its file is parsed in chunks of this size */
#define NGX_HTTP_MASTODON_BODY_CHUNK     (64 * 1024)
/* a multipart body's text fields together, the limit of a form body's */
#define NGX_HTTP_MASTODON_BODY_TEXT_MAX  NGX_HTTP_MASTODON_BODY_FORM_MAX


typedef struct {
    int64_t                    token_id;
    int64_t                    app_id;
    int64_t                    user_id;        /* 0: an app token */
    int64_t                    account_id;
    int64_t                    permissions;    /* the user's role */
    ngx_str_t                  scopes;         /* NUL-terminated */
    unsigned                   confirmed:1;
    unsigned                   approved:1;
    unsigned                   disabled:1;
    unsigned                   suspended:1;
    unsigned                   stale:1;        /* not seen for a day */
    u_char                    *digest;         /* the token's, hex */
    ngx_str_t                  bearer;         /* the token as presented
                                                * (Web Push sends it back) */
} ngx_http_mastodon_auth_t;


typedef struct ngx_http_mastodon_ctx_s  ngx_http_mastodon_ctx_t;

typedef ngx_int_t (*ngx_http_mastodon_handler_pt)(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);


typedef struct {
    ngx_uint_t                     method;      /* NGX_HTTP_GET, ... */
    ngx_str_t                      pattern;     /* "/api/v1/statuses/:id" */
    ngx_http_mastodon_handler_pt   handler;
    unsigned                       body:3;      /* NGX_HTTP_MASTODON_BODY_* */
    unsigned                       auth:3;      /* NGX_HTTP_MASTODON_AUTH_* */
    const char                    *scopes;      /* any one of these */
    ngx_uint_t                     limits;      /* NGX_HTTP_MASTODON_RL_* */
    ngx_uint_t                     debug;       /* only where the test aid
                                                   mastodon_debug_upload is */
    ngx_http_mastodon_handler_pt   ap;          /* an ActivityPub GET: what
                                                   the one entry,
                                                   ngx_http_mastodon_
                                                   activitypub(), runs */
} ngx_http_mastodon_route_t;


/* a multipart body parsed from its file (_body.c) */
typedef struct ngx_http_mastodon_multipart_s  ngx_http_mastodon_multipart_t;

/* the thread pool's state of a request (backend/_thread.c) */
typedef struct ngx_http_mastodon_thread_ctx_s  ngx_http_mastodon_thread_ctx_t;


struct ngx_http_mastodon_ctx_s {
    ngx_http_mastodon_route_t     *route;
    ngx_str_t                      captures[NGX_HTTP_MASTODON_MAX_CAPTURES];
    ngx_uint_t                     ncaptures;

    mstdn_value_t                 *params;      /* query + body, merged */
    ngx_str_t                      args;        /* the query as received;
                                                   r->args is the logged one */

    void                          *data;        /* the handler's own state */
    const char                    *error_message; /* for an error status */
    ngx_chain_t                   *error_chain; /* the filter's {"error"} */
    ngx_http_mastodon_auth_t      *auth;        /* NULL: anonymous */
    ngx_http_mastodon_thread_ctx_t *thread;
    ngx_uint_t                     pending;     /* backend replies awaited */
    ngx_http_mastodon_op_t         op;          /* backend calls (backend/) */

    off_t                          body_received; /* counted by the filter */
    ngx_str_t                      body;        /* read from its file */
    ngx_http_mastodon_multipart_t *multipart;   /* or parsed there */
    void                          *rl;          /* the rate limit's count */

    unsigned                       own_body:1;  /* the filter leaves it be */
    unsigned                       error_body:1;
    unsigned                       error_sent:1;
    unsigned                       ap_errors:1; /* an ActivityPub client's:
                                                   {"error"} with Rack's
                                                   words (activitypub/) */
    unsigned                       format_json:1; /* ".json" on an
                                                     ActivityPub path */
};


/* module */
extern ngx_module_t  ngx_http_mastodon_module;

void ngx_http_mastodon_finalize(ngx_http_request_t *r, ngx_int_t rc);
void ngx_http_mastodon_body_ready(ngx_http_request_t *r, ngx_int_t rc);


/* router */
int64_t ngx_http_mastodon_capture_id(ngx_http_mastodon_ctx_t *ctx,
    ngx_uint_t i);
ngx_int_t ngx_http_mastodon_route(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);


/* request parameters */
ngx_int_t ngx_http_mastodon_body_filter_init(ngx_conf_t *cf);
ngx_int_t ngx_http_mastodon_body_load(ngx_http_request_t *r);
ngx_int_t ngx_http_mastodon_read_params(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_body_bytes(ngx_http_request_t *r,
    ngx_str_t *body);
void *ngx_http_mastodon_pool_alloc(void *pool, size_t size);
mstdn_value_t *ngx_http_mastodon_param_array(ngx_http_mastodon_ctx_t *ctx,
    const char *key, ngx_uint_t *given);
mstdn_value_t *ngx_http_mastodon_param_file(ngx_http_mastodon_ctx_t *ctx,
    const char *key);
ngx_int_t ngx_http_mastodon_multipart_type(ngx_http_request_t *r,
    ngx_str_t *boundary);

/* mastodon_debug_upload: the test aid's route (_debug_upload.c) */
ngx_int_t ngx_http_mastodon_debug_upload(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);


/* responses */
typedef struct {
    ngx_http_request_t            *request;     /* NULL: not a request's;
                                                   only to send it */
    ngx_pool_t                    *pool;
    ngx_http_mastodon_main_conf_t *conf;        /* base URL, domain */
    yajl_gen                       gen;
    ngx_chain_t                   *out;
    ngx_chain_t                  **last;
    ngx_buf_t                     *buf;
    size_t                         size;
    ngx_uint_t                     failed;
} ngx_http_mastodon_json_t;

ngx_int_t ngx_http_mastodon_json_init(ngx_http_request_t *r,
    ngx_http_mastodon_json_t *j);
ngx_int_t ngx_http_mastodon_json_op_init(ngx_http_mastodon_op_t *op,
    ngx_http_mastodon_json_t *j);
ngx_int_t ngx_http_mastodon_json_send(ngx_http_mastodon_json_t *j,
    ngx_uint_t status);
/* the same with another JSON media type (application/activity+json...) */
ngx_int_t ngx_http_mastodon_json_send_type(ngx_http_mastodon_json_t *j,
    ngx_uint_t status, ngx_str_t *type);
void ngx_http_mastodon_json_key(ngx_http_mastodon_json_t *j, const char *key);
void ngx_http_mastodon_json_str(ngx_http_mastodon_json_t *j, ngx_str_t *s);
void ngx_http_mastodon_json_cstr(ngx_http_mastodon_json_t *j, const char *s);
void ngx_http_mastodon_json_kv_str(ngx_http_mastodon_json_t *j,
    const char *key, ngx_str_t *s);
void ngx_http_mastodon_json_kv_cstr(ngx_http_mastodon_json_t *j,
    const char *key, const char *s);
void ngx_http_mastodon_json_kv_url(ngx_http_mastodon_json_t *j,
    const char *key, ngx_str_t *base, const char *path);
void ngx_http_mastodon_json_kv_int(ngx_http_mastodon_json_t *j,
    const char *key, int64_t n);
void ngx_http_mastodon_json_kv_bool(ngx_http_mastodon_json_t *j,
    const char *key, ngx_uint_t b);
void ngx_http_mastodon_json_kv_null(ngx_http_mastodon_json_t *j,
    const char *key);
void ngx_http_mastodon_json_kv_pq(ngx_http_mastodon_json_t *j,
    const char *key, PGresult *res, int row, int col);
void ngx_http_mastodon_json_open(ngx_http_mastodon_json_t *j,
    const char *key);
void ngx_http_mastodon_json_close(ngx_http_mastodon_json_t *j);
void ngx_http_mastodon_json_open_array(ngx_http_mastodon_json_t *j,
    const char *key);
void ngx_http_mastodon_json_close_array(ngx_http_mastodon_json_t *j);

ngx_int_t ngx_http_mastodon_add_header(ngx_http_request_t *r,
    const char *key, ngx_str_t *value);
/* the first request header of that name (any case) or NULL; n (if not
 * NULL): how many times it occurs (a header that must be one is refused
 * when it is more) */
ngx_table_elt_t *ngx_http_mastodon_header_in(ngx_http_request_t *r,
    const char *name, ngx_uint_t *n);
ngx_int_t ngx_http_mastodon_send_text(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *type, ngx_str_t *body);
ngx_int_t ngx_http_mastodon_json_send_str(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *body);
ngx_int_t ngx_http_mastodon_json_send_chain(ngx_http_request_t *r,
    ngx_uint_t status, ngx_chain_t *out, off_t size);
const char *ngx_http_mastodon_status_message(ngx_uint_t status);
/* Rack's words for a status (Rack::Utils::HTTP_STATUS_CODES), what
 * Mastodon's respond_with_error writes for a JSON request */
const char *ngx_http_mastodon_status_phrase(ngx_uint_t status);

/* a raw JSON value (already valid JSON) under key */
void ngx_http_mastodon_json_raw(ngx_http_mastodon_json_t *j,
    const char *key, ngx_str_t *value);
/* the document written so far, as one string in the document's pool */
ngx_int_t ngx_http_mastodon_json_string(ngx_http_mastodon_json_t *j,
    ngx_str_t *out);


/* HTML pages, redirects, query strings */
typedef struct {
    ngx_http_request_t            *request;
    u_char                        *start;
    u_char                        *pos;
    u_char                        *end;
    ngx_uint_t                     failed;
    u_char                         nonce[44];   /* CSP nonce, NUL-terminated */
} ngx_http_mastodon_html_t;

ngx_int_t ngx_http_mastodon_html_begin(ngx_http_request_t *r,
    ngx_http_mastodon_html_t *h, const char *title, ngx_str_t *lang);
void ngx_http_mastodon_html_raw(ngx_http_mastodon_html_t *h, const char *s);
void ngx_http_mastodon_html_text(ngx_http_mastodon_html_t *h, ngx_str_t *s);
void ngx_http_mastodon_html_ctext(ngx_http_mastodon_html_t *h,
    const char *s);
void ngx_http_mastodon_html_hidden(ngx_http_mastodon_html_t *h,
    const char *name, ngx_str_t *value);
ngx_int_t ngx_http_mastodon_html_send(ngx_http_mastodon_html_t *h,
    ngx_uint_t status);
ngx_int_t ngx_http_mastodon_redirect(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *location);
ngx_int_t ngx_http_mastodon_query_start(ngx_http_request_t *r,
    ngx_http_mastodon_html_t *q, ngx_str_t *base);
void ngx_http_mastodon_query_add(ngx_http_mastodon_html_t *q,
    const char *key, ngx_str_t *value);
void ngx_http_mastodon_query_done(ngx_http_mastodon_html_t *q,
    ngx_str_t *out);


/* pagination */
typedef struct {
    int64_t                    max_id;      /* 0: absent */
    int64_t                    since_id;
    int64_t                    min_id;
    ngx_uint_t                 limit;
    ngx_uint_t                 ascending;   /* min_id: oldest first */
} ngx_http_mastodon_page_t;

void ngx_http_mastodon_page_init(ngx_http_mastodon_ctx_t *ctx,
    ngx_http_mastodon_page_t *page, ngx_uint_t dflt, ngx_uint_t max);
void ngx_http_mastodon_page_values(ngx_http_request_t *r,
    ngx_http_mastodon_page_t *page, const char **values);
/* the Link header of every paginated endpoint (keep: the parameters its
 * links keep, sorted; limit non-zero: limit=that always) */
ngx_int_t ngx_http_mastodon_page_link(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_str_t *path, const char *const *keep,
    ngx_uint_t limit, int64_t next_max_id, const char *prev_key,
    int64_t prev_id);
extern const char *const  ngx_http_mastodon_page_keep_limit[];


/* the error filter: {"error": ...} bodies and CORS headers */
ngx_int_t ngx_http_mastodon_error_filter_init(ngx_conf_t *cf);
ngx_int_t ngx_http_mastodon_cors_preflight(ngx_http_request_t *r);
ngx_uint_t ngx_http_mastodon_api_path(ngx_http_request_t *r);


/* secrets out of nginx's logs (_logfilter.c) */
ngx_int_t ngx_http_mastodon_logfilter_init(ngx_conf_t *cf);
ngx_int_t ngx_http_mastodon_logfilter_args(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);


#endif /* _NGX_HTTP_MASTODON_CORE_H_INCLUDED_ */
