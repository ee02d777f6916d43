#ifndef _NGX_HTTP_MASTODON_MODULE_H_INCLUDED_
#define _NGX_HTTP_MASTODON_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <libpq-fe.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <yajl/yajl_gen.h>

#include "mstdn_value.h"


/* what clients see: they enable features by the Mastodon version */
#define NGX_HTTP_MASTODON_COMPAT         "4.3.0"
#define NGX_HTTP_MASTODON_API_VERSION    2

#define NGX_HTTP_MASTODON_REG_OPEN       1
#define NGX_HTTP_MASTODON_REG_APPROVAL   2
#define NGX_HTTP_MASTODON_REG_CLOSED     3

#define NGX_HTTP_MASTODON_MAX_CAPTURES   4
#define NGX_HTTP_MASTODON_PG_MAX_QUERIES 32


typedef struct {
    ngx_str_t                  database;
    ngx_str_t                  redis;
    ngx_str_t                  domain;
    ngx_flag_t                 https;
    ngx_str_t                  title;
    ngx_str_t                  description;
    ngx_str_t                  contact_email;
    ngx_str_t                  source_url;
    ngx_uint_t                 registrations;
    ngx_uint_t                 max_characters;

    ngx_uint_t                 pg_pool_size;
    ngx_uint_t                 pg_queue_size;
    ngx_uint_t                 pg_max_requests;
    ngx_msec_t                 pg_connect_timeout;
    ngx_msec_t                 pg_query_timeout;
    ngx_msec_t                 pg_queue_timeout;

    ngx_msec_t                 redis_connect_timeout;
    ngx_msec_t                 redis_timeout;

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

    /* derived in init_main_conf */
    time_t                     loaded_at;
    ngx_flag_t                 enabled;
    ngx_str_t                  base_url;        /* https://domain */
    ngx_str_t                  streaming_url;   /* wss://domain */
    ngx_str_t                  redis_host;      /* numeric address */
    ngx_int_t                  redis_port;
    ngx_str_t                  redis_unix;      /* or a unix socket */
#if (NGX_THREADS)
    ngx_thread_pool_t         *thread_pool;
#endif
} ngx_http_mastodon_main_conf_t;


typedef struct {
    ngx_flag_t                 enable;
} ngx_http_mastodon_loc_conf_t;


/* What a route asks of the request's OAuth token. */
#define NGX_HTTP_MASTODON_AUTH_NONE      0  /* tokens are not looked at */
#define NGX_HTTP_MASTODON_AUTH_OPTIONAL  1  /* a token, if given, must be valid */
#define NGX_HTTP_MASTODON_AUTH_APP       2  /* any valid token (app or user) */
#define NGX_HTTP_MASTODON_AUTH_USER      3  /* a user's token, user in order */


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
} ngx_http_mastodon_auth_t;


typedef struct ngx_http_mastodon_ctx_s  ngx_http_mastodon_ctx_t;

typedef ngx_int_t (*ngx_http_mastodon_handler_pt)(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);


typedef struct {
    ngx_uint_t                     method;      /* NGX_HTTP_GET, ... */
    ngx_str_t                      pattern;     /* "/api/v1/statuses/:id" */
    ngx_http_mastodon_handler_pt   handler;
    unsigned                       body:1;      /* reads a request body */
    unsigned                       auth:2;      /* NGX_HTTP_MASTODON_AUTH_* */
    const char                    *scopes;      /* any one of these */
} ngx_http_mastodon_route_t;


typedef struct ngx_http_mastodon_thread_ctx_s  ngx_http_mastodon_thread_ctx_t;

/* runs in a pool thread: its own data and malloc only */
typedef void (*ngx_http_mastodon_thread_pt)(void *data, ngx_log_t *log);
/* back in the event loop; must end the request or go on asynchronously */
typedef void (*ngx_http_mastodon_thread_done_pt)(ngx_http_request_t *r,
    void *data);


struct ngx_http_mastodon_ctx_s {
    ngx_http_mastodon_route_t     *route;
    ngx_str_t                      captures[NGX_HTTP_MASTODON_MAX_CAPTURES];
    ngx_uint_t                     ncaptures;

    mstdn_value_t                 *params;      /* query + body, merged */

    void                          *data;        /* the handler's own state */
    const char                    *error_message; /* for an error status */
    ngx_chain_t                   *error_chain; /* the filter's {"error"} */
    ngx_http_mastodon_auth_t      *auth;        /* NULL: anonymous */
    ngx_http_mastodon_thread_ctx_t *thread;
    ngx_uint_t                     pending;     /* backend replies awaited */

    unsigned                       own_body:1;  /* the filter leaves it be */
    unsigned                       error_body:1;
    unsigned                       error_sent:1;
};


/* module */
extern ngx_module_t  ngx_http_mastodon_module;

void ngx_http_mastodon_finalize(ngx_http_request_t *r, ngx_int_t rc);


/* router */
ngx_int_t ngx_http_mastodon_route(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);


/* request parameters */
ngx_int_t ngx_http_mastodon_read_params(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
void *ngx_http_mastodon_pool_alloc(void *pool, size_t size);


/* responses */
typedef struct {
    ngx_http_request_t            *request;
    yajl_gen                       gen;
    ngx_chain_t                   *out;
    ngx_chain_t                  **last;
    ngx_buf_t                     *buf;
    size_t                         size;
    ngx_uint_t                     failed;
} ngx_http_mastodon_json_t;

ngx_int_t ngx_http_mastodon_json_init(ngx_http_request_t *r,
    ngx_http_mastodon_json_t *j);
ngx_int_t ngx_http_mastodon_json_send(ngx_http_mastodon_json_t *j,
    ngx_uint_t status);
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
ngx_int_t ngx_http_mastodon_send_text(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *type, ngx_str_t *body);
const char *ngx_http_mastodon_status_message(ngx_uint_t status);


/* PostgreSQL */
typedef struct {
    const char                    *sql;
    int                            nparams;
    ngx_uint_t                     index;       /* assigned on first use */
} ngx_http_mastodon_pg_stmt_t;

#define ngx_http_mastodon_pg_stmt(sql, n)  { sql, n, 0 }

typedef struct ngx_http_mastodon_pg_batch_s  ngx_http_mastodon_pg_batch_t;
typedef struct ngx_http_mastodon_pg_conn_s   ngx_http_mastodon_pg_conn_t;

typedef void (*ngx_http_mastodon_pg_done_pt)(
    ngx_http_mastodon_pg_batch_t *b);

typedef struct {
    ngx_http_mastodon_pg_stmt_t   *stmt;
    const char                   **values;      /* NUL-terminated text */
} ngx_http_mastodon_pg_query_t;

struct ngx_http_mastodon_pg_batch_s {
    ngx_http_request_t            *request;
    ngx_http_mastodon_pg_query_t   queries[NGX_HTTP_MASTODON_PG_MAX_QUERIES];
    PGresult                      *results[NGX_HTTP_MASTODON_PG_MAX_QUERIES];
    ngx_uint_t                     nqueries;
    ngx_int_t                      rc;          /* NGX_OK or NGX_ERROR */
    ngx_http_mastodon_pg_done_pt   handler;
    void                          *data;

    /* the pool's */
    ngx_queue_t                    queue;
    ngx_event_t                    wait;
    ngx_http_mastodon_pg_conn_t   *conn;
    ngx_pool_cleanup_t            *cleanup;
    unsigned                       waiting:1;
};

ngx_http_mastodon_pg_batch_t *ngx_http_mastodon_pg_batch(
    ngx_http_request_t *r, ngx_http_mastodon_pg_done_pt handler, void *data);
ngx_int_t ngx_http_mastodon_pg_add(ngx_http_mastodon_pg_batch_t *b,
    ngx_http_mastodon_pg_stmt_t *stmt, const char **values);
ngx_int_t ngx_http_mastodon_pg_run(ngx_http_mastodon_pg_batch_t *b);
ngx_int_t ngx_http_mastodon_pg_query(ngx_http_request_t *r,
    ngx_http_mastodon_pg_stmt_t *stmt, const char **values,
    ngx_http_mastodon_pg_done_pt done, void *data);
PGresult *ngx_http_mastodon_pg_rows(ngx_http_mastodon_pg_batch_t *b,
    ngx_uint_t i);
ngx_uint_t ngx_http_mastodon_pg_ok(ngx_http_mastodon_pg_batch_t *b);
int64_t ngx_http_mastodon_pg_int(PGresult *res, int row, int col);
ngx_uint_t ngx_http_mastodon_pg_bool(PGresult *res, int row, int col);
ngx_str_t ngx_http_mastodon_pg_str(PGresult *res, int row, int col);
const char *ngx_http_mastodon_pg_int64(ngx_http_request_t *r, int64_t n);
ngx_int_t ngx_http_mastodon_pg_query_id(ngx_http_request_t *r,
    ngx_http_mastodon_pg_stmt_t *stmt, int64_t id,
    ngx_http_mastodon_pg_done_pt done, void *data);
ngx_int_t ngx_http_mastodon_pg_init_process(ngx_cycle_t *cycle,
    ngx_http_mastodon_main_conf_t *mcf);
void ngx_http_mastodon_pg_exit_process(ngx_cycle_t *cycle);


/* Redis */
typedef struct ngx_http_mastodon_redis_cmd_s  ngx_http_mastodon_redis_cmd_t;

typedef void (*ngx_http_mastodon_redis_done_pt)(ngx_http_request_t *r,
    redisReply *reply, void *data);

ngx_int_t ngx_http_mastodon_redis_command(ngx_http_request_t *r,
    ngx_http_mastodon_redis_done_pt handler, void *data, int argc,
    const char **argv, const size_t *argvlen);
ngx_int_t ngx_http_mastodon_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_mastodon_main_conf_t *mcf);
void ngx_http_mastodon_redis_exit_process(ngx_cycle_t *cycle);


/* authentication */
ngx_int_t ngx_http_mastodon_auth(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
void ngx_http_mastodon_token_digest(ngx_str_t *token, u_char *hex);
void ngx_http_mastodon_auth_resume(ngx_http_request_t *r, redisReply *token,
    void *lookup);
ngx_int_t ngx_http_mastodon_ratelimit(ngx_http_request_t *r, u_char *digest,
    u_char *token_key, size_t token_key_len, void *lookup);
ngx_int_t ngx_http_mastodon_auth_revoke_cached(ngx_http_request_t *r,
    u_char *digest_hex, ngx_http_mastodon_redis_done_pt handler, void *data);
ngx_int_t ngx_http_mastodon_auth_forget_user_then(ngx_http_request_t *r,
    int64_t user_id, ngx_http_mastodon_redis_done_pt handler, void *data);


/* jobs for mastodon-worker */
ngx_int_t ngx_http_mastodon_enqueue(ngx_http_request_t *r, const char *queue,
    const char *type, ngx_str_t *args,
    ngx_http_mastodon_redis_done_pt handler, void *data);


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


/* OAuth helpers shared by the authorization and token endpoints */
ngx_int_t ngx_http_mastodon_oauth_scopes(ngx_http_request_t *r,
    ngx_str_t *requested, ngx_str_t *allowed, ngx_str_t *out);
ngx_uint_t ngx_http_mastodon_oauth_redirect_allowed(ngx_str_t *uri,
    ngx_str_t *registered);


/* thread pool */
ngx_int_t ngx_http_mastodon_thread_run(ngx_http_request_t *r,
    ngx_http_mastodon_thread_pt work, ngx_http_mastodon_thread_done_pt done,
    void *data);


/* the Account entity: select these columns (a = accounts, s = account_stats) */
#define NGX_HTTP_MASTODON_ACCOUNT_COLUMNS                                     \
    "a.id, a.username, a.domain, a.display_name, a.locked,"                   \
    " coalesce(a.actor_type, 'Person'), a.discoverable, a.indexable,"         \
    " a.hide_collections,"                                                    \
    " to_char(date_trunc('day', a.created_at),"                               \
    "  'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"                                 \
    " a.note, a.url, a.uri, coalesce(s.followers_count, 0),"                  \
    " coalesce(s.following_count, 0), coalesce(s.statuses_count, 0),"         \
    " to_char(s.last_status_at, 'YYYY-MM-DD'),"                               \
    " coalesce(a.fields::text, '[]'), a.memorial,"                            \
    " a.suspended_at IS NOT NULL, a.silenced_at IS NOT NULL"
#define NGX_HTTP_MASTODON_ACCOUNT_NCOLS  21
/* a local account is shown once its user is confirmed and approved */
#define NGX_HTTP_MASTODON_ACCOUNT_SHOWN                                       \
    " (a.domain IS NOT NULL OR EXISTS (SELECT 1 FROM users su"                \
    "  WHERE su.account_id = a.id AND su.approved"                            \
    "  AND su.confirmed_at IS NOT NULL))"
#define NGX_HTTP_MASTODON_ACCOUNT_FROM                                        \
    " FROM accounts a LEFT JOIN account_stats s ON s.account_id = a.id"

void ngx_http_mastodon_account(ngx_http_mastodon_json_t *j, PGresult *res,
    int row, int col);
void ngx_http_mastodon_account_attrs(ngx_http_mastodon_json_t *j,
    PGresult *res, int row, int col);
void ngx_http_mastodon_account_fields(ngx_http_mastodon_json_t *j,
    const char *key, ngx_str_t *json, ngx_uint_t local, ngx_uint_t raw);
void ngx_http_mastodon_account_partial(ngx_http_mastodon_json_t *j,
    PGresult *res, int row, int col);


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
ngx_int_t ngx_http_mastodon_page_link(ngx_http_request_t *r,
    ngx_http_mastodon_page_t *page, ngx_str_t *path, int64_t next_max_id,
    int64_t prev_id, const char *prev_key, const char *extra);


/*
 * Statuses (_status.c): the Status entity for a viewer.  A set of ids is
 * loaded in two round trips at most: the rendered JSON of each status
 * (without account, reblog and the viewer's flags) from the Redis cache,
 * then one PostgreSQL batch with what may be shown to the viewer, its
 * flags, the authors' accounts and the rendering of cache misses.
 */
#define NGX_HTTP_MASTODON_ST_FILTER      0x01  /* drop what the viewer's
                                                  blocks and mutes hide
                                                  (timelines, context) */

typedef struct ngx_http_mastodon_statuses_s  ngx_http_mastodon_statuses_t;

typedef void (*ngx_http_mastodon_statuses_done_pt)(ngx_http_request_t *r,
    ngx_http_mastodon_statuses_t *st, void *data);

typedef struct {
    int64_t                        id;
    int64_t                        account_id;
    int64_t                        reblog_of_id;   /* 0: not a reblog */
    ngx_uint_t                     visibility;     /* 0 public .. 3 direct */
    ngx_str_t                      base;           /* cached JSON object */
    ngx_int_t                      account;        /* row in st->accounts */
    ngx_int_t                      reblog;         /* item of the original */
    unsigned                       found:1;        /* exists, not deleted */
    unsigned                       visible:1;      /* the viewer may see it */
    unsigned                       hidden:1;       /* blocks/mutes hide it */
    unsigned                       favourited:1;
    unsigned                       reblogged:1;
    unsigned                       muted:1;
    unsigned                       bookmarked:1;
    unsigned                       pinned:1;
    unsigned                       mentioned:1;    /* the viewer is */
} ngx_http_mastodon_status_item_t;

struct ngx_http_mastodon_statuses_s {
    ngx_http_request_t            *request;
    int64_t                        viewer;         /* account id, 0: none */
    ngx_uint_t                     flags;          /* NGX_HTTP_MASTODON_ST_* */
    ngx_array_t                    items;          /* the n asked, then
                                                      the reblogged ones */
    ngx_uint_t                     n;
    ngx_uint_t                    *slots;          /* id -> item + 1 */
    ngx_uint_t                     nslots;         /* a power of 2 */
    PGresult                      *accounts;       /* ACCOUNT_COLUMNS rows */
    ngx_str_t                     *account_json;   /* rendered, per row; or
                                                      per author, copied from
                                                      the worker's cache */
    unsigned                       cached_accounts:1;
    unsigned                       lean_meta:1;    /* all known: the lean
                                                      meta statement */
    ngx_int_t                      rc;             /* NGX_OK, NGX_ERROR */
    ngx_http_mastodon_statuses_done_pt  handler;
    void                          *data;
};

/* ids in the order they are to be shown; viewer: ctx->auth's account */
ngx_http_mastodon_statuses_t *ngx_http_mastodon_statuses(
    ngx_http_request_t *r, int64_t *ids, ngx_uint_t n, ngx_uint_t flags);
/* NGX_DONE (handler called later, also on failure: st->rc) or NGX_ERROR */
ngx_int_t ngx_http_mastodon_statuses_load(ngx_http_mastodon_statuses_t *st,
    ngx_http_mastodon_statuses_done_pt handler, void *data);
/* the same, the cache read already (two values per id, as the loader's
 * script returns them: the status, for a reblog its original); NGX_DONE */
ngx_int_t ngx_http_mastodon_statuses_load_cached(
    ngx_http_mastodon_statuses_t *st, redisReply *cached,
    ngx_http_mastodon_statuses_done_pt handler, void *data);
/* both in one: NGX_DONE or the HTTP status to answer with */
ngx_int_t ngx_http_mastodon_statuses_fetch(ngx_http_request_t *r,
    int64_t *ids, ngx_uint_t n, ngx_uint_t flags,
    ngx_http_mastodon_statuses_done_pt handler, void *data);
/* item i (< st->n) exists and may be shown (found, visible, not hidden
 * with ST_FILTER, and its reblogged status too) */
ngx_uint_t ngx_http_mastodon_statuses_shown(ngx_http_mastodon_statuses_t *st,
    ngx_uint_t i);
/* writes item i as a Status (key NULL: a value in an array) */
ngx_int_t ngx_http_mastodon_statuses_send_list(ngx_http_request_t *r,
    ngx_http_mastodon_statuses_t *st);
void ngx_http_mastodon_status_write(ngx_http_mastodon_json_t *j,
    const char *key, ngx_http_mastodon_statuses_t *st, ngx_uint_t i);
/* the viewer-less Status JSON of item i (streaming payloads, job args) */
ngx_int_t ngx_http_mastodon_status_json(ngx_http_mastodon_statuses_t *st,
    ngx_uint_t i, ngx_str_t *out);
/* after a change to statuses or their counters (after the commit): drop
 * the cached renderings; handler may be NULL (fire and forget) */
ngx_int_t ngx_http_mastodon_status_forget(ngx_http_request_t *r,
    int64_t *ids, ngx_uint_t n, ngx_http_mastodon_redis_done_pt handler,
    void *data);
/* a local status' text as HTML; mentions from _status_mentions() */
ngx_int_t ngx_http_mastodon_status_html(ngx_http_request_t *r,
    ngx_str_t *text, mstdn_value_t *mentions, ngx_str_t *html);
/* SQL: a status' mentions as the column _status_mentions() parses */
#define NGX_HTTP_MASTODON_ST_SQL_MENTIONS(s)                                  \
    "(SELECT json_agg(json_build_array(ma.id::text, ma.username,"             \
    "  ma.domain, ma.url) ORDER BY m.id) FROM mentions m"                     \
    "  JOIN accounts ma ON ma.id = m.account_id"                              \
    "  WHERE m.status_id = " s ".id AND NOT m.silent)"
mstdn_value_t *ngx_http_mastodon_status_mentions(ngx_http_request_t *r,
    PGresult *res, int row, int col);
/* an Account entity as a JSON string (rows of ACCOUNT_COLUMNS at col) */
ngx_int_t ngx_http_mastodon_account_json(ngx_http_request_t *r,
    PGresult *res, int row, int col, ngx_str_t *out);
/* a raw JSON value (already valid JSON) under key */
void ngx_http_mastodon_json_raw(ngx_http_mastodon_json_t *j,
    const char *key, ngx_str_t *value);
/* the document written so far, as one string in the request pool */
ngx_int_t ngx_http_mastodon_json_string(ngx_http_mastodon_json_t *j,
    ngx_str_t *out);

/*
 * SQL: can account $1 (NULL: anonymous) see status s (StatusPolicy#show?).
 * The status loader applies the same rules in C (statuses_judge()).
 */
#define NGX_HTTP_MASTODON_ST_SQL_VISIBLE(s)                                   \
    "(" s ".deleted_at IS NULL AND NOT EXISTS (SELECT 1 FROM accounts va"     \
    "  WHERE va.id = " s ".account_id AND va.suspended_at IS NOT NULL)"      \
    " AND CASE WHEN " s ".visibility IN (0, 1) THEN $1::bigint IS NULL"       \
    "  OR NOT EXISTS (SELECT 1 FROM blocks vb WHERE vb.account_id = "         \
    s ".account_id AND vb.target_account_id = $1::bigint)"                    \
    " WHEN " s ".account_id = $1::bigint THEN true"                           \
    " WHEN " s ".visibility = 2 THEN EXISTS (SELECT 1 FROM follows vf"        \
    "  WHERE vf.account_id = $1::bigint AND vf.target_account_id = "          \
    s ".account_id) OR EXISTS (SELECT 1 FROM mentions vm"                     \
    "  WHERE vm.status_id = " s ".id AND vm.account_id = $1::bigint)"         \
    " WHEN " s ".visibility = 3 THEN EXISTS (SELECT 1 FROM mentions vm"       \
    "  WHERE vm.status_id = " s ".id AND vm.account_id = $1::bigint)"         \
    " ELSE false END)"

/* relationships: the Relationship entity, writes answered with it, lists */
#define NGX_HTTP_MASTODON_REL_VISIBLE    0x01  /* 404: a pending local user */
#define NGX_HTTP_MASTODON_REL_FOLLOW     0x02  /* FollowService's refusals */
#define NGX_HTTP_MASTODON_REL_ENDORSE    0x04  /* 422 unless following */
#define NGX_HTTP_MASTODON_REL_REQUESTED  0x08  /* 404 unless it asked to follow */

/* SQL: $1 the user, $2 the other account (set_account, and no pending user) */
#define NGX_HTTP_MASTODON_REL_SQL_EXISTS                                      \
    "EXISTS (SELECT 1 FROM accounts t WHERE t.id = $2::bigint)"
#define NGX_HTTP_MASTODON_REL_SQL_VISIBLE                                     \
    "EXISTS (SELECT 1 FROM accounts t WHERE t.id = $2::bigint"                \
    " AND (t.domain IS NOT NULL OR EXISTS (SELECT 1 FROM users u"             \
    "  WHERE u.account_id = t.id AND u.approved"                              \
    "  AND u.confirmed_at IS NOT NULL)))"
/* ends a statement whose CTE d(account_id, following, followers) holds the
 * counter changes of the follows it really inserted or deleted */
#define NGX_HTTP_MASTODON_REL_SQL_STATS                                       \
    " INSERT INTO account_stats (account_id, following_count,"                \
    "  followers_count)"                                                      \
    " SELECT account_id, sum(following), sum(followers) FROM d"               \
    " GROUP BY account_id"                                                    \
    " HAVING sum(following) <> 0 OR sum(followers) <> 0"                      \
    " ORDER BY account_id"                                                    \
    " ON CONFLICT (account_id) DO UPDATE SET"                                 \
    " following_count = greatest(0, account_stats.following_count"            \
    "  + excluded.following_count),"                                          \
    " followers_count = greatest(0, account_stats.followers_count"            \
    "  + excluded.followers_count),"                                          \
    " updated_at = now() AT TIME ZONE 'UTC'"

/*
 * The follow requests matching `where` become follows with their options
 * (FollowRequest#authorize!), counters included: authorizing one request,
 * and every pending one when an account is unlocked.  The request's
 * follow_request notification goes with it.  _WITH is the CTEs alone
 * (req: the requests, ins: the follows inserted), for a statement that
 * goes on with ", st AS (" NGX_HTTP_MASTODON_REL_SQL_STATS ") SELECT ...".
 */
#define NGX_HTTP_MASTODON_REL_SQL_AUTHORIZE_WITH(where)                       \
    "WITH req AS (DELETE FROM follow_requests WHERE " where                  \
    "  RETURNING id, account_id, target_account_id, show_reblogs, notify,"    \
    "  languages, uri),"                                                      \
    " nd AS (DELETE FROM notifications n USING req"                           \
    "  WHERE n.activity_type = 'FollowRequest' AND n.activity_id = req.id),"  \
    " ins AS (INSERT INTO follows (account_id, target_account_id,"            \
    "  show_reblogs, notify, languages, uri)"                                 \
    "  SELECT account_id, target_account_id, show_reblogs, notify,"           \
    "  languages, uri FROM req"                                               \
    "  ON CONFLICT (account_id, target_account_id) DO NOTHING"                \
    "  RETURNING id, account_id, target_account_id),"                         \
    " d AS (SELECT account_id, 1 AS following, 0 AS followers FROM ins"       \
    "  UNION ALL SELECT target_account_id, 0, 1 FROM ins)"
#define NGX_HTTP_MASTODON_REL_SQL_AUTHORIZE(where)                            \
    NGX_HTTP_MASTODON_REL_SQL_AUTHORIZE_WITH(where)                           \
    NGX_HTTP_MASTODON_REL_SQL_STATS

typedef struct ngx_http_mastodon_rel_write_s  ngx_http_mastodon_rel_write_t;

/*
 * Called once the batch committed and its check let the write through:
 * the endpoint reads what its statements' RETURNING says really changed
 * and enqueues its jobs with ngx_http_mastodon_rel_job(); the answer waits
 * for Redis (a failure is logged, the answer goes on).
 */
typedef void (*ngx_http_mastodon_rel_jobs_pt)(ngx_http_mastodon_rel_write_t *w);

struct ngx_http_mastodon_rel_write_s {
    ngx_http_mastodon_pg_batch_t  *batch;
    int64_t                        target;
    ngx_uint_t                     flags;       /* NGX_HTTP_MASTODON_REL_* */
    const char                   **values;      /* $1 the user, $2 target */
    ngx_http_mastodon_rel_jobs_pt  jobs;        /* NULL: none */
    void                          *data;        /* the endpoint's */

    /* the engine's */
    PGresult                      *relationship;
    ngx_int_t                      following;
    ngx_int_t                      requested;
    ngx_uint_t                     pending;     /* jobs awaiting Redis */
    unsigned                       enqueuing:1;
};

typedef struct {
    ngx_http_mastodon_pg_stmt_t   *check;       /* NULL: the user's own */
    ngx_http_mastodon_pg_stmt_t   *list;
    const char                    *path;        /* with %L: the account */
    ngx_uint_t                     unlimited;   /* limit=0: every row */
    ngx_uint_t                     muted;       /* MutedAccount */
} ngx_http_mastodon_rel_list_t;

ngx_int_t ngx_http_mastodon_rel_write(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_uint_t flags, ngx_uint_t nvalues,
    ngx_http_mastodon_rel_write_t **wp);
ngx_int_t ngx_http_mastodon_rel_write_add(ngx_http_mastodon_rel_write_t *w,
    ngx_http_mastodon_pg_stmt_t *stmt);
ngx_int_t ngx_http_mastodon_rel_write_run(ngx_http_mastodon_rel_write_t *w);
/* the target is a remote account (from the check) */
ngx_uint_t ngx_http_mastodon_rel_remote(ngx_http_mastodon_rel_write_t *w);
/* a job on queue default, args a JSON object; from w->jobs only */
void ngx_http_mastodon_rel_job(ngx_http_mastodon_rel_write_t *w,
    const char *type, ngx_str_t *args);
/* feed_merge / feed_unmerge {"account_id", "target_account_id"} */
void ngx_http_mastodon_rel_feed_job(ngx_http_mastodon_rel_write_t *w,
    const char *type, int64_t account_id, int64_t target_account_id);
ngx_int_t ngx_http_mastodon_rel_list(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_rel_list_t *list);
extern ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_rel_ensure_stats;

ngx_int_t ngx_http_mastodon_relationships(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_follow(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_unfollow(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_remove_from_followers(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_followers(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_following(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_follow_requests(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_follow_request_authorize(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_follow_request_reject(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_block(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_unblock(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_mute(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_unmute(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_blocks(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_mutes(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_endorse(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_unendorse(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_endorsements(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_account_endorsements(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_account_note(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_markers_index(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_markers_create(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);


/* filter */
ngx_int_t ngx_http_mastodon_error_filter_init(ngx_conf_t *cf);
ngx_int_t ngx_http_mastodon_cors_preflight(ngx_http_request_t *r);
ngx_uint_t ngx_http_mastodon_api_path(ngx_http_request_t *r);


/* endpoints */
ngx_int_t ngx_http_mastodon_instance_v1(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_instance_v2(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_nodeinfo_links(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_nodeinfo(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_host_meta(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_apps_create(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_apps_verify_credentials(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_accounts_show(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_accounts_index(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_accounts_lookup(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_accounts_verify_credentials(
    ngx_http_request_t *r, ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_preferences(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_accounts_search(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_accounts_update_credentials(
    ngx_http_request_t *r, ngx_http_mastodon_ctx_t *ctx);
ngx_http_mastodon_pg_stmt_t *ngx_http_mastodon_credentials_stmt(void);
void ngx_http_mastodon_credentials_done(ngx_http_mastodon_pg_batch_t *b);
ngx_int_t ngx_http_mastodon_custom_emojis(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_instance_rules(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_instance_translation_languages(
    ngx_http_request_t *r, ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_instance_extended_description(
    ngx_http_request_t *r, ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_instance_peers(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_instance_activity(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_health(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_accounts_create(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_confirmation(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_emails_confirmation(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_email_normalize(ngx_http_request_t *r,
    const char *s, size_t len, ngx_str_t *email);
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


/* statuses (_statuses.c, _status_edit.c, _status_context.c) */
ngx_int_t ngx_http_mastodon_statuses_create(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_statuses_index(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_statuses_show(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_statuses_update(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_statuses_destroy(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_status_history(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_status_source(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_status_context(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);

/* timelines (_timelines.c, _home.c) */
ngx_uint_t ngx_http_mastodon_timeline_limit(ngx_http_mastodon_ctx_t *ctx,
    ngx_uint_t dflt);
ngx_int_t ngx_http_mastodon_timeline_link(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_str_t *path, const char *const *keep,
    int64_t next_max_id, const char *prev_key, int64_t prev_id);
ngx_int_t ngx_http_mastodon_timelines_home(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_timelines_public(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_timelines_tag(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_account_statuses(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);


/* notifications (_notifications.c) */
ngx_int_t ngx_http_mastodon_notifications(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_notification(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_notifications_unread(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_notifications_clear(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_notification_dismiss(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_notification_groups(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_notification_group(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_notification_groups_unread(
    ngx_http_request_t *r, ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_notification_group_dismiss(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);


/* status interactions (_status_actions.c) and their lists (_status_lists.c) */
ngx_int_t ngx_http_mastodon_status_action(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_status_favourited_by(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_status_reblogged_by(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_favourites(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_bookmarks(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);


#endif /* _NGX_HTTP_MASTODON_MODULE_H_INCLUDED_ */
