/*
 * ngx_http_mastodon_module: the Mastodon client API and ActivityPub served
 * from inside nginx.  This file holds the module's anatomy: directives,
 * configuration, worker process hooks and the content handler that routes
 * a request to its endpoint.
 */

#include <arpa/inet.h>
#include <ctype.h>
#include <malloc.h>

#include "ngx_http_mastodon_core.h"
#include "ngx_http_mastodon_backend.h"
#include "ngx_http_mastodon_auth.h"
#include "ngx_http_mastodon_activitypub.h"
#include "ngx_http_mastodon_cache.h"
#include "mstdn_redis_url.h"
#include "mstdn_media.h"
#include "mstdn_webpush.h"


static void *ngx_http_mastodon_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_mastodon_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_mastodon_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_mastodon_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_mastodon(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mastodon_check_domain(ngx_conf_t *cf,
    const char *name, ngx_str_t *domain);
static char *ngx_http_mastodon_check_database(ngx_conf_t *cf,
    ngx_http_mastodon_main_conf_t *mcf);
static ngx_int_t ngx_http_mastodon_redis_copy(ngx_conf_t *cf,
    const char *in, ngx_str_t *out);
static char *ngx_http_mastodon_check_redis(ngx_conf_t *cf,
    ngx_http_mastodon_main_conf_t *mcf);
static ngx_int_t ngx_http_mastodon_postconfiguration(ngx_conf_t *cf);
/* heap kept by a worker rather than given back to the kernel at once */
#define NGX_HTTP_MASTODON_TRIM_THRESHOLD  (32 * 1024 * 1024)


static ngx_int_t ngx_http_mastodon_init_process(ngx_cycle_t *cycle);
static void ngx_http_mastodon_exit_process(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_mastodon_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_mastodon_read_body(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
static void ngx_http_mastodon_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_mastodon_dispatch(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);


static ngx_conf_enum_t  ngx_http_mastodon_registrations[] = {
    { ngx_string("open"), NGX_HTTP_MASTODON_REG_OPEN },
    { ngx_string("approval"), NGX_HTTP_MASTODON_REG_APPROVAL },
    { ngx_string("closed"), NGX_HTTP_MASTODON_REG_CLOSED },
    { ngx_null_string, 0 }
};


/* nginx's stock bounds check does not name the directive; this one does */
typedef struct {
    ngx_conf_post_handler_pt  post_handler;
    ngx_int_t                 low;
    ngx_int_t                 high;
    const char               *name;
} ngx_http_mastodon_bounds_t;

static char *ngx_http_mastodon_check_bounds(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_mastodon_check_msec_bounds(ngx_conf_t *cf, void *post,
    void *data);

#define ngx_http_mastodon_bounds(name, low, high)                             \
    static ngx_http_mastodon_bounds_t  ngx_http_mastodon_##name##_bounds = {  \
        ngx_http_mastodon_check_bounds, low, high, "mastodon_" #name          \
    }

#define ngx_http_mastodon_msec_bounds(name, low, high)                        \
    static ngx_http_mastodon_bounds_t  ngx_http_mastodon_##name##_bounds = {  \
        ngx_http_mastodon_check_msec_bounds, low, high, "mastodon_" #name     \
    }

/* every number has bounds: a typo fails nginx -t, not the server later */
ngx_http_mastodon_bounds(max_characters, 1, 100000);
ngx_http_mastodon_bounds(pg_pool_size, 1, 1024);
ngx_http_mastodon_bounds(pg_slow_pool_size, 0, 1024);         /* 0: none */
ngx_http_mastodon_bounds(pg_queue_size, 0, 1000000);          /* 0: no wait */
ngx_http_mastodon_bounds(pg_max_requests, 0, 1000000000);     /* 0: never */
ngx_http_mastodon_bounds(feed_max, 1, 10000);
ngx_http_mastodon_bounds(big_account_followers, 0, 1000000000);
ngx_http_mastodon_msec_bounds(streaming_heartbeat, 100, 3600000);
ngx_http_mastodon_bounds(streaming_max_output, 4096, 1073741824);
ngx_http_mastodon_bounds(streaming_max_message, 64, 1048576);
ngx_http_mastodon_bounds(json_max_depth, 1, 256);
ngx_http_mastodon_bounds(json_max_members, 1, 1000000);
ngx_http_mastodon_bounds(bcrypt_cost, 4, 31);
ngx_http_mastodon_bounds(rate_limit_api, 0, 1000000);         /* 0: none */
ngx_http_mastodon_bounds(rate_limit_sign_in, 0, 1000000);
ngx_http_mastodon_bounds(rate_limit_sign_up, 0, 1000000);

/* milliseconds: timeouts at least 1 ms, at most 10 min; caches 0 (off)..1 d */
ngx_http_mastodon_msec_bounds(pg_connect_timeout, 1, 600000);
ngx_http_mastodon_msec_bounds(pg_query_timeout, 1, 600000);
ngx_http_mastodon_msec_bounds(pg_queue_timeout, 1, 600000);
ngx_http_mastodon_msec_bounds(pg_slow_query_timeout, 1, 600000);
ngx_http_mastodon_msec_bounds(redis_connect_timeout, 1, 600000);
ngx_http_mastodon_msec_bounds(redis_timeout, 1, 600000);
ngx_http_mastodon_msec_bounds(instance_cache, 0, 86400000);
ngx_http_mastodon_msec_bounds(account_cache, 0, 86400000);
ngx_http_mastodon_msec_bounds(key_cache_valid, 0, 86400000);
ngx_http_mastodon_msec_bounds(key_fetch_wait, 1, 60000);
ngx_http_mastodon_msec_bounds(resolve_wait, 1, 60000);


#define NGX_HTTP_MASTODON_MAIN  (NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1)

static ngx_command_t  ngx_http_mastodon_commands[] = {

    { ngx_string("mastodon"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_mastodon,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mastodon_debug_upload"),
      NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mastodon_loc_conf_t, debug_upload),
      NULL },

    { ngx_string("mastodon_database"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, database),
      NULL },

    { ngx_string("mastodon_redis"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, redis),
      NULL },

    { ngx_string("mastodon_domain"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, domain),
      NULL },

    { ngx_string("mastodon_web_domain"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, web_domain),
      NULL },

    { ngx_string("mastodon_https"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, https),
      NULL },

    { ngx_string("mastodon_title"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, title),
      NULL },

    { ngx_string("mastodon_description"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, description),
      NULL },

    { ngx_string("mastodon_contact_email"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, contact_email),
      NULL },

    { ngx_string("mastodon_vapid_public_key"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, vapid_public_key),
      NULL },

    { ngx_string("mastodon_source_url"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, source_url),
      NULL },

    { ngx_string("mastodon_registrations"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_enum_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, registrations),
      &ngx_http_mastodon_registrations },

    { ngx_string("mastodon_max_characters"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, max_characters),
      &ngx_http_mastodon_max_characters_bounds },

    { ngx_string("mastodon_pg_pool_size"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, pg_pool_size),
      &ngx_http_mastodon_pg_pool_size_bounds },

    { ngx_string("mastodon_pg_queue_size"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, pg_queue_size),
      &ngx_http_mastodon_pg_queue_size_bounds },

    { ngx_string("mastodon_pg_max_requests"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, pg_max_requests),
      &ngx_http_mastodon_pg_max_requests_bounds },

    { ngx_string("mastodon_pg_connect_timeout"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, pg_connect_timeout),
      &ngx_http_mastodon_pg_connect_timeout_bounds },

    { ngx_string("mastodon_pg_query_timeout"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, pg_query_timeout),
      &ngx_http_mastodon_pg_query_timeout_bounds },

    { ngx_string("mastodon_pg_queue_timeout"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, pg_queue_timeout),
      &ngx_http_mastodon_pg_queue_timeout_bounds },

    { ngx_string("mastodon_pg_slow_pool_size"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, pg_slow_pool_size),
      &ngx_http_mastodon_pg_slow_pool_size_bounds },

    { ngx_string("mastodon_pg_slow_query_timeout"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, pg_slow_query_timeout),
      &ngx_http_mastodon_pg_slow_query_timeout_bounds },

    { ngx_string("mastodon_pg_pgbouncer"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, pg_pgbouncer),
      NULL },

    { ngx_string("mastodon_redis_connect_timeout"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, redis_connect_timeout),
      &ngx_http_mastodon_redis_connect_timeout_bounds },

    { ngx_string("mastodon_redis_ssl_trusted_certificate"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, redis_ssl_trusted_certificate),
      NULL },

    { ngx_string("mastodon_redis_ssl_certificate"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, redis_ssl_certificate),
      NULL },

    { ngx_string("mastodon_redis_ssl_certificate_key"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, redis_ssl_certificate_key),
      NULL },

    { ngx_string("mastodon_redis_ssl_name"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, redis_ssl_name),
      NULL },

    { ngx_string("mastodon_debug_subscribe"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, debug_subscribe),
      NULL },

    { ngx_string("mastodon_debug_tick"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_mastodon_debug_tick,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mastodon_debug_stream"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_mastodon_debug_stream,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mastodon_redis_timeout"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, redis_timeout),
      &ngx_http_mastodon_redis_timeout_bounds },

    { ngx_string("mastodon_instance_cache"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, instance_cache),
      &ngx_http_mastodon_instance_cache_bounds },

    { ngx_string("mastodon_account_cache"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, account_cache),
      &ngx_http_mastodon_account_cache_bounds },

    { ngx_string("mastodon_feed_max"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, feed_max),
      &ngx_http_mastodon_feed_max_bounds },

    { ngx_string("mastodon_big_account_followers"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, big_account_followers),
      &ngx_http_mastodon_big_account_followers_bounds },

    { ngx_string("mastodon_json_max_depth"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, json_max_depth),
      &ngx_http_mastodon_json_max_depth_bounds },

    { ngx_string("mastodon_json_max_members"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, json_max_members),
      &ngx_http_mastodon_json_max_members_bounds },

    { ngx_string("mastodon_thread_pool"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, thread_pool_name),
      NULL },

    { ngx_string("mastodon_bcrypt_cost"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, bcrypt_cost),
      &ngx_http_mastodon_bcrypt_cost_bounds },

    { ngx_string("mastodon_require_confirmation"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, require_confirmation),
      NULL },

    { ngx_string("mastodon_rate_limit"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, rate_limit),
      NULL },

    { ngx_string("mastodon_rate_limit_api"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, rate_limit_api),
      &ngx_http_mastodon_rate_limit_api_bounds },

    { ngx_string("mastodon_rate_limit_sign_in"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, rate_limit_sign_in),
      &ngx_http_mastodon_rate_limit_sign_in_bounds },

    { ngx_string("mastodon_rate_limit_sign_up"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, rate_limit_sign_up),
      &ngx_http_mastodon_rate_limit_sign_up_bounds },

    { ngx_string("mastodon_oauth_password_grant"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, oauth_password_grant),
      NULL },

    /* the inbox and signed requests (activitypub/) */
    { ngx_string("mastodon_key_cache_size"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, key_cache_size),
      NULL },

    { ngx_string("mastodon_key_cache_valid"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, key_cache_valid),
      &ngx_http_mastodon_key_cache_valid_bounds },

    { ngx_string("mastodon_key_fetch_wait"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, key_fetch_wait),
      &ngx_http_mastodon_key_fetch_wait_bounds },

    { ngx_string("mastodon_resolve_wait"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, resolve_wait),
      &ngx_http_mastodon_resolve_wait_bounds },

    { ngx_string("mastodon_authorized_fetch"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, authorized_fetch),
      NULL },

    { ngx_string("mastodon_streaming_heartbeat"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, streaming_heartbeat),
      &ngx_http_mastodon_streaming_heartbeat_bounds },

    { ngx_string("mastodon_streaming_max_output"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, streaming_max_output),
      &ngx_http_mastodon_streaming_max_output_bounds },

    { ngx_string("mastodon_streaming_max_message"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, streaming_max_message),
      &ngx_http_mastodon_streaming_max_message_bounds },

    /* rendered entities shared by the workers (cache/) */
    { ngx_string("mastodon_render_cache_size"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, render_cache_size),
      NULL },

    /* media uploads (api/_media.c) */
    { ngx_string("mastodon_media_spool"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_path_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, media_spool),
      NULL },

    { ngx_string("mastodon_media_image_size_limit"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, media_image_limit),
      NULL },

    { ngx_string("mastodon_media_video_size_limit"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, media_video_limit),
      NULL },

    { ngx_string("mastodon_media_v1_wait"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, media_v1_wait),
      NULL },

    { ngx_string("mastodon_media_base_url"),
      NGX_HTTP_MASTODON_MAIN,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mastodon_main_conf_t, media_base_url),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_mastodon_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_mastodon_postconfiguration,   /* postconfiguration */

    ngx_http_mastodon_create_main_conf,    /* create main configuration */
    ngx_http_mastodon_init_main_conf,      /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_mastodon_create_loc_conf,     /* create location configuration */
    ngx_http_mastodon_merge_loc_conf       /* merge location configuration */
};


ngx_module_t  ngx_http_mastodon_module = {
    NGX_MODULE_V1,
    &ngx_http_mastodon_module_ctx,         /* module context */
    ngx_http_mastodon_commands,            /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_mastodon_init_process,        /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_mastodon_exit_process,        /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static char *
ngx_http_mastodon_check_bounds(ngx_conf_t *cf, void *post, void *data)
{
    ngx_http_mastodon_bounds_t  *b = post;
    ngx_int_t                   *np = data;

    if (*np < b->low || *np > b->high) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" must be between %i and %i",
                           b->name, b->low, b->high);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_mastodon_check_msec_bounds(ngx_conf_t *cf, void *post, void *data)
{
    ngx_http_mastodon_bounds_t  *b = post;
    ngx_msec_t                  *mp = data;

    if (*mp < (ngx_msec_t) b->low || *mp > (ngx_msec_t) b->high) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" must be between %ims and %ims",
                           b->name, b->low, b->high);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_mastodon_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_mastodon_main_conf_t  *mcf;

    mcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_mastodon_main_conf_t));
    if (mcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     mcf->database = { 0, NULL };
     *     mcf->redis = { 0, NULL };
     *     mcf->domain, web_domain, title, description, contact_email,
     *     source_url = { 0 };
     *     mcf->enabled = 0;
     *     mcf->base_url, streaming_url, redis_host, redis_unix = { 0, NULL };
 *     mcf->redis_ssl_* = { 0, NULL };
 *     mcf->redis_tls = 0;
     */

    mcf->https = NGX_CONF_UNSET;
    mcf->registrations = NGX_CONF_UNSET_UINT;
    mcf->max_characters = NGX_CONF_UNSET_UINT;
    mcf->pg_pool_size = NGX_CONF_UNSET_UINT;
    mcf->pg_queue_size = NGX_CONF_UNSET_UINT;
    mcf->pg_max_requests = NGX_CONF_UNSET_UINT;
    mcf->pg_connect_timeout = NGX_CONF_UNSET_MSEC;
    mcf->pg_query_timeout = NGX_CONF_UNSET_MSEC;
    mcf->pg_queue_timeout = NGX_CONF_UNSET_MSEC;
    mcf->pg_slow_pool_size = NGX_CONF_UNSET_UINT;
    mcf->pg_slow_query_timeout = NGX_CONF_UNSET_MSEC;
    mcf->pg_pgbouncer = NGX_CONF_UNSET;
    mcf->redis_connect_timeout = NGX_CONF_UNSET_MSEC;
    mcf->redis_timeout = NGX_CONF_UNSET_MSEC;
    mcf->debug_tick = NGX_CONF_UNSET_MSEC;
    mcf->debug_subscribe = NGX_CONF_UNSET;
    mcf->instance_cache = NGX_CONF_UNSET_MSEC;
    mcf->account_cache = NGX_CONF_UNSET_MSEC;
    mcf->json_max_depth = NGX_CONF_UNSET_UINT;
    mcf->json_max_members = NGX_CONF_UNSET_UINT;
    mcf->bcrypt_cost = NGX_CONF_UNSET_UINT;
    mcf->rate_limit = NGX_CONF_UNSET;
    mcf->rate_limit_api = NGX_CONF_UNSET_UINT;
    mcf->rate_limit_sign_in = NGX_CONF_UNSET_UINT;
    mcf->rate_limit_sign_up = NGX_CONF_UNSET_UINT;
    mcf->require_confirmation = NGX_CONF_UNSET;
    mcf->oauth_password_grant = NGX_CONF_UNSET;
    mcf->feed_max = NGX_CONF_UNSET_UINT;
    mcf->big_account_followers = NGX_CONF_UNSET_UINT;
    mcf->key_cache_size = NGX_CONF_UNSET_SIZE;
    mcf->render_cache_size = NGX_CONF_UNSET_SIZE;
    mcf->key_cache_valid = NGX_CONF_UNSET_MSEC;
    mcf->key_fetch_wait = NGX_CONF_UNSET_MSEC;
    mcf->resolve_wait = NGX_CONF_UNSET_MSEC;
    mcf->authorized_fetch = NGX_CONF_UNSET;
    mcf->streaming_heartbeat = NGX_CONF_UNSET_MSEC;
    mcf->streaming_max_output = NGX_CONF_UNSET_SIZE;
    mcf->streaming_max_message = NGX_CONF_UNSET_SIZE;
    mcf->redis_port = NGX_CONF_UNSET;
    mcf->media_image_limit = NGX_CONF_UNSET_SIZE;
    mcf->media_video_limit = NGX_CONF_UNSET_SIZE;
    mcf->media_v1_wait = NGX_CONF_UNSET_MSEC;

    return mcf;
}


static char *
ngx_http_mastodon_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_mastodon_main_conf_t *mcf = conf;

    u_char         *p;
    unsigned char   point[MSTDN_WEBPUSH_POINT_LEN + 1];

    ngx_conf_init_value(mcf->https, 1);
    ngx_conf_init_uint_value(mcf->registrations, NGX_HTTP_MASTODON_REG_OPEN);
    ngx_conf_init_uint_value(mcf->max_characters, 500);
    /* 0: fitted to worker_processes when the workers start (_pg.c) */
    ngx_conf_init_uint_value(mcf->pg_pool_size, 0);
    ngx_conf_init_uint_value(mcf->pg_slow_pool_size, 2);
    ngx_conf_init_msec_value(mcf->pg_slow_query_timeout, 30000);
    ngx_conf_init_msec_value(mcf->resolve_wait, 5000);
    ngx_conf_init_value(mcf->pg_pgbouncer, 0);
    ngx_conf_init_uint_value(mcf->pg_queue_size, 1024);
    ngx_conf_init_uint_value(mcf->pg_max_requests, 100000);
    ngx_conf_init_msec_value(mcf->pg_connect_timeout, 5000);
    ngx_conf_init_msec_value(mcf->pg_query_timeout, 10000);
    ngx_conf_init_msec_value(mcf->pg_queue_timeout, 5000);
    ngx_conf_init_msec_value(mcf->redis_connect_timeout, 3000);
    ngx_conf_init_msec_value(mcf->redis_timeout, 5000);
    ngx_conf_init_value(mcf->debug_subscribe, 0);
    ngx_conf_init_msec_value(mcf->instance_cache, 60000);
    ngx_conf_init_msec_value(mcf->account_cache, 2000);
    ngx_conf_init_uint_value(mcf->json_max_depth, 32);
    ngx_conf_init_uint_value(mcf->json_max_members, 10000);
    ngx_conf_init_uint_value(mcf->bcrypt_cost, 10);

    /* Mastodon's rack-attack: 300 / 5 min, 25 / 5 min, 5 / 30 min */
    ngx_conf_init_value(mcf->rate_limit, 1);
    ngx_conf_init_uint_value(mcf->rate_limit_api, 300);
    ngx_conf_init_uint_value(mcf->rate_limit_sign_in, 25);
    ngx_conf_init_uint_value(mcf->rate_limit_sign_up, 5);
    ngx_conf_init_value(mcf->require_confirmation, 1);
    ngx_conf_init_value(mcf->oauth_password_grant, 0);
    ngx_conf_init_uint_value(mcf->feed_max, 400);
    ngx_conf_init_uint_value(mcf->big_account_followers, 10000);
    /* streaming/: Mastodon's :thump every 15 s */
    ngx_conf_init_msec_value(mcf->streaming_heartbeat, 15000);
    ngx_conf_init_size_value(mcf->streaming_max_output, 1024 * 1024);
    ngx_conf_init_size_value(mcf->streaming_max_message, 4096);

    /* MAX_IMAGE_SIZE, MAX_VIDEO_SIZE; the spool: by nginx's temp files */
    ngx_conf_init_size_value(mcf->media_image_limit,
                             MSTDN_MEDIA_IMAGE_LIMIT);
    ngx_conf_init_msec_value(mcf->media_v1_wait, 60000);
    ngx_conf_init_size_value(mcf->media_video_limit,
                             MSTDN_MEDIA_VIDEO_LIMIT);

    /* created at start by nginx, as its temporary paths, for its user */
    if (mcf->media_spool == NULL) {
        mcf->media_spool = ngx_pcalloc(cf->pool, sizeof(ngx_path_t));
        if (mcf->media_spool == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_str_set(&mcf->media_spool->name, "media_spool");

        if (ngx_conf_full_name(cf->cycle, &mcf->media_spool->name, 0)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    if (ngx_add_path(cf, &mcf->media_spool) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (mcf->thread_pool_name.len == 0) {
        ngx_str_set(&mcf->thread_pool_name, "default");
    }

    mcf->loaded_at = ngx_time();

    if (!mcf->enabled) {
        return NGX_CONF_OK;
    }

    if (mcf->domain.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mastodon_domain\" is not set: the instance "
                           "needs its public domain name");
        return NGX_CONF_ERROR;
    }

    /* WEB_DOMAIN: where the server is reached, LOCAL_DOMAIN by default */
    if (mcf->web_domain.len == 0) {
        mcf->web_domain = mcf->domain;
    }

    if (ngx_http_mastodon_check_domain(cf, "mastodon_domain", &mcf->domain)
            != NGX_CONF_OK
        || ngx_http_mastodon_check_domain(cf, "mastodon_web_domain",
                                          &mcf->web_domain)
           != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (mcf->vapid_public_key.len
        && (mstdn_base64url_decode((char *) mcf->vapid_public_key.data,
                                   mcf->vapid_public_key.len, point,
                                   sizeof(point))
            != MSTDN_WEBPUSH_POINT_LEN
            || point[0] != 0x04))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mastodon_vapid_public_key\" is not a P-256 "
                           "point in URL-safe base64 (VAPID_PUBLIC_KEY, as "
                           "\"mastodon-worker vapid-keys\" prints it)");
        return NGX_CONF_ERROR;
    }

    if (ngx_http_mastodon_check_database(cf, mcf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_mastodon_check_redis(cf, mcf) != NGX_CONF_OK
        || ngx_http_mastodon_redis_conf(cf, mcf) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

#if (NGX_THREADS)
    /* an unknown name fails startup with "unknown thread pool" */
    mcf->thread_pool = ngx_thread_pool_add(cf, &mcf->thread_pool_name);
    if (mcf->thread_pool == NULL) {
        return NGX_CONF_ERROR;
    }
#else
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "the mastodon module needs nginx built with threads "
                       "(--with-threads): passwords are hashed in a thread "
                       "pool");
    return NGX_CONF_ERROR;
#endif

    if (mcf->title.len == 0) {
        ngx_str_set(&mcf->title, "Mastodon");
    }

    /* both NUL-terminated too: SQL parameters and C strings use them */
    mcf->base_url.len = sizeof("https://") - 1 + mcf->web_domain.len;
    mcf->base_url.data = ngx_pnalloc(cf->pool, mcf->base_url.len + 1);
    mcf->streaming_url.len = sizeof("wss://") - 1 + mcf->web_domain.len;
    mcf->streaming_url.data = ngx_pnalloc(cf->pool,
                                          mcf->streaming_url.len + 1);
    if (mcf->base_url.data == NULL || mcf->streaming_url.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_sprintf(mcf->base_url.data, "%s://%V",
                    mcf->https ? "https" : "http", &mcf->web_domain);
    mcf->base_url.len = p - mcf->base_url.data;
    *p = '\0';

    p = ngx_sprintf(mcf->streaming_url.data, "%s://%V",
                    mcf->https ? "wss" : "ws", &mcf->web_domain);
    mcf->streaming_url.len = p - mcf->streaming_url.data;
    *p = '\0';

    /*
     * where the stored media keys are public: the worker's media_root
     * served here under /system/ (conf/media.conf), or the S3 bucket's
     * (or its CDN's) address, as Mastodon's S3_ALIAS_HOST
     */
    if (mcf->media_base_url.len == 0) {
        mcf->media_base_url.len = mcf->base_url.len + sizeof("/system") - 1;
        mcf->media_base_url.data = ngx_pnalloc(cf->pool,
                                               mcf->media_base_url.len + 1);
        if (mcf->media_base_url.data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_sprintf(mcf->media_base_url.data, "%V/system%Z", &mcf->base_url);

    } else {
        if ((mcf->media_base_url.len < sizeof("http://x") - 1
             || ngx_strncmp(mcf->media_base_url.data, "http://", 7) != 0)
            && (mcf->media_base_url.len < sizeof("https://x") - 1
                || ngx_strncmp(mcf->media_base_url.data, "https://", 8) != 0))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "mastodon_media_base_url \"%V\" is not an "
                               "http:// or https:// URL",
                               &mcf->media_base_url);
            return NGX_CONF_ERROR;
        }

        while (mcf->media_base_url.data[mcf->media_base_url.len - 1] == '/') {
            mcf->media_base_url.len--;
        }

        /* NUL-terminated: lib/ renderers take it as a C string */
        mcf->media_base_url.data[mcf->media_base_url.len] = '\0';
    }

    if (mcf->source_url.len == 0) {
        ngx_str_set(&mcf->source_url,
                    "https://github.com/mastodon/mastodon");
    }

    /* the render cache (cache/_render_cache.c) */
    if (ngx_http_mastodon_render_cache_init_conf(cf, mcf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    /* the inbox's key cache (activitypub/_keycache.c) */
    return ngx_http_mastodon_keycache_init_conf(cf, mcf);
}


/* a host name with an optional port: written into URLs, XML and JSON
 * unescaped */
static char *
ngx_http_mastodon_check_domain(ngx_conf_t *cf, const char *name,
    ngx_str_t *domain)
{
    u_char  *p;

    for (p = domain->data; p < domain->data + domain->len; p++) {
        if (!(isalnum(*p) || *p == '.' || *p == '-' || *p == ':'
              || *p == '[' || *p == ']'))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid \"%s\" value \"%V\": a host name "
                               "with an optional port, not a URL", name,
                               domain);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/*
 * Checked at config time: PQconnectStart() would resolve host names with a
 * blocking DNS look-up, so only numeric addresses (hostaddr=, or a numeric
 * host=) and unix socket directories are accepted.
 */
static char *
ngx_http_mastodon_check_database(ngx_conf_t *cf,
    ngx_http_mastodon_main_conf_t *mcf)
{
    char                    *errmsg, *host, *hostaddr, *h, *comma;
    u_char                   addr[sizeof(struct in6_addr)];
    ngx_str_t                conninfo;
    ngx_int_t                rc;
    PQconninfoOption        *opts, *o;

    if (mcf->database.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mastodon_database\" is not set");
        return NGX_CONF_ERROR;
    }

    conninfo.data = ngx_pnalloc(cf->pool, mcf->database.len + 1);
    if (conninfo.data == NULL) {
        return NGX_CONF_ERROR;
    }
    (void) ngx_cpystrn(conninfo.data, mcf->database.data,
                       mcf->database.len + 1);

    errmsg = NULL;
    opts = PQconninfoParse((char *) conninfo.data, &errmsg);

    if (opts == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"mastodon_database\" value: %s",
                           errmsg ? errmsg : "out of memory");
        if (errmsg) {
            PQfreemem(errmsg);
        }
        return NGX_CONF_ERROR;
    }

    host = NULL;
    hostaddr = NULL;

    for (o = opts; o->keyword; o++) {
        if (o->val == NULL) {
            continue;
        }
        if (ngx_strcmp(o->keyword, "host") == 0) {
            host = o->val;
        } else if (ngx_strcmp(o->keyword, "hostaddr") == 0) {
            hostaddr = o->val;
        }
    }

    rc = NGX_OK;

    if (host && hostaddr == NULL) {
        for (h = host; h && *h; h = comma ? comma + 1 : NULL) {
            comma = strchr(h, ',');
            if (comma) {
                *comma = '\0';
            }

            if (h[0] != '/' && h[0] != '@'
                && inet_pton(AF_INET, h, addr) != 1
                && inet_pton(AF_INET6, h, addr) != 1)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"mastodon_database\" host \"%s\" is a "
                                   "name: resolving it would block nginx; "
                                   "use hostaddr=<address> or a unix socket "
                                   "directory", h);
                rc = NGX_ERROR;
                break;
            }
        }
    }

    PQconninfoFree(opts);

    if (rc != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* NUL-terminated for PQconnectStart() */
    mcf->database.data = conninfo.data;

    return NGX_CONF_OK;
}


/*
 * mastodon_redis: address[:port], [v6]:port or unix:/path as before, or
 * Mastodon's REDIS_URL forms: redis://[[user]:password@]host[:port][/db],
 * the same with rediss:// (TLS, backend/_redis.c) and
 * unix:///path[?db=N&password=P], parsed as the worker parses its own
 * (lib/mstdn_redis_url.h).  The password may be percent-encoded.
 */
static char *
ngx_http_mastodon_check_redis(ngx_conf_t *cf,
    ngx_http_mastodon_main_conf_t *mcf)
{
    char             *rv;
    u_char            addr[sizeof(struct in6_addr)];
    mstdn_redis_url   u;

    if (mcf->redis.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mastodon_redis\" is not set");
        return NGX_CONF_ERROR;
    }

    if (mstdn_redis_url_parse((char *) mcf->redis.data, mcf->redis.len, &u)
        != 0)
    {
        if (ngx_errno == NGX_ENOMEM) {
            return NGX_CONF_ERROR;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"mastodon_redis\" value \"%V\": expected "
                           "address[:port], unix:/path, "
                           "redis[s]://[[user]:password@]address[:port][/db] "
                           "or unix:///path?db=N&password=P", &mcf->redis);
        return NGX_CONF_ERROR;
    }

    rv = NGX_CONF_ERROR;

    mcf->redis_tls = u.tls;
    mcf->redis_db = u.db;

    if (ngx_http_mastodon_redis_copy(cf, u.user, &mcf->redis_username)
        != NGX_OK
        || ngx_http_mastodon_redis_copy(cf, u.password, &mcf->redis_password)
           != NGX_OK
        || ngx_http_mastodon_redis_copy(cf, u.unix_path, &mcf->redis_unix)
           != NGX_OK
        || ngx_http_mastodon_redis_copy(cf, u.host, &mcf->redis_host)
           != NGX_OK)
    {
        goto done;
    }

    mcf->redis_port = u.port;

    if (u.host != NULL
        && inet_pton(AF_INET, u.host, addr) != 1
        && inet_pton(AF_INET6, u.host, addr) != 1)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mastodon_redis\" host \"%V\" is not a numeric "
                           "address: resolving it would block nginx; use an "
                           "IP address (for TLS, with the certificate's name "
                           "in \"mastodon_redis_ssl_name\") or unix:/path",
                           &mcf->redis_host);
        goto done;
    }

    rv = NGX_CONF_OK;

done:

    mstdn_redis_url_free(&u);

    return rv;
}


/* A part of the URL into the pool, NUL-terminated; NULL stays empty. */
static ngx_int_t
ngx_http_mastodon_redis_copy(ngx_conf_t *cf, const char *in, ngx_str_t *out)
{
    if (in == NULL) {
        ngx_str_null(out);
        return NGX_OK;
    }

    out->len = ngx_strlen(in);
    out->data = ngx_pnalloc(cf->pool, out->len + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(out->data, in, out->len + 1);

    return NGX_OK;
}


static void *
ngx_http_mastodon_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_mastodon_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_mastodon_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->enable = NGX_CONF_UNSET;
    conf->debug_upload = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_http_mastodon_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_mastodon_loc_conf_t *prev = parent;
    ngx_http_mastodon_loc_conf_t *conf = child;

    ngx_http_core_loc_conf_t  *clcf;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_value(conf->debug_upload, prev->debug_upload, 0);

    /*
     * The API's bodies stay in memory: a body nginx writes to a temporary
     * file costs a trip to the thread pool to be read back.  (The core
     * module's configuration is merged before ours.)
     */
    if (conf->enable == 1) {
        clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

        if (clcf->client_body_buffer_size < NGX_HTTP_MASTODON_BODY_MEMORY) {
            clcf->client_body_buffer_size = NGX_HTTP_MASTODON_BODY_MEMORY;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_mastodon(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mastodon_loc_conf_t *mlcf = conf;

    ngx_http_core_loc_conf_t       *clcf;
    ngx_http_mastodon_main_conf_t  *mcf;

    if (mlcf->enable != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    mlcf->enable = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_mastodon_handler;

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mastodon_module);
    mcf->enabled = 1;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_mastodon_postconfiguration(ngx_conf_t *cf)
{
    if (ngx_http_mastodon_error_filter_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_mastodon_logfilter_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_mastodon_body_filter_init(cf);
}


static ngx_int_t
ngx_http_mastodon_init_process(ngx_cycle_t *cycle)
{
    ngx_http_mastodon_main_conf_t  *mcf;

    /* the cache manager and loader need no backends */
    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    mcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_mastodon_module);
    if (mcf == NULL || !mcf->enabled) {
        return NGX_OK;
    }

    if (ngx_http_mastodon_pg_init_process(cycle, mcf) != NGX_OK
        || ngx_http_mastodon_redis_init_process(cycle, mcf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_mastodon_tick_init_process(cycle, mcf);
    ngx_http_mastodon_debug_subscribe_init_process(cycle, mcf);
    ngx_http_mastodon_render_cache_init_process(cycle, mcf);

#if (defined __GLIBC__ && defined M_TRIM_THRESHOLD)
    /*
     * A page of statuses takes some 100 KB of the heap and gives it back
     * at the request's end: glibc's default (128 KB) then returns the top
     * of the heap to the kernel after most requests, and the next one
     * faults the same pages in again.
     */
    (void) mallopt(M_TRIM_THRESHOLD, NGX_HTTP_MASTODON_TRIM_THRESHOLD);
#endif

    return NGX_OK;
}


static void
ngx_http_mastodon_exit_process(ngx_cycle_t *cycle)
{
    /*
     * The owners end their operations first, then what is left goes (a
     * stream's, one a thread task held), all before the backends close:
     * they let go of their calls.  ops_exit() frees a stream's operations,
     * so an owner ending its own afterwards would end freed memory.
     */
    ngx_http_mastodon_debug_subscribe_exit_process(cycle);
    ngx_http_mastodon_render_cache_exit_process(cycle);
    ngx_http_mastodon_tick_exit_process(cycle);
    ngx_http_mastodon_ops_exit();

    if (ngx_http_mastodon_ops_alive()) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "mastodon: %ui backend operations left at exit",
                      ngx_http_mastodon_ops_alive());
    }

    ngx_http_mastodon_pg_exit_process(cycle);
    ngx_http_mastodon_redis_exit_process(cycle);
}


static ngx_int_t
ngx_http_mastodon_handler(ngx_http_request_t *r)
{
    ngx_int_t                 rc;
    ngx_http_mastodon_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);
    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_ctx_t));
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        ngx_http_set_ctx(r, ctx, ngx_http_mastodon_module);

        /* no ?access_token= and the like in what nginx logs */
        if (ngx_http_mastodon_logfilter_args(r, ctx) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (r->method == NGX_HTTP_OPTIONS && ngx_http_mastodon_api_path(r)) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }
        return ngx_http_mastodon_cors_preflight(r);
    }

    rc = ngx_http_mastodon_route(r, ctx);
    if (rc != NGX_OK) {
        ngx_http_discard_request_body(r);
        return rc;
    }

    if (ctx->route->body
        && (r->headers_in.content_length_n > 0 || r->headers_in.chunked))
    {
        return ngx_http_mastodon_read_body(r, ctx);
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_mastodon_dispatch(r, ctx);

    if (rc == NGX_DONE) {
        /* an endpoint waiting on a backend holds the request */
        r->main->count++;
    }

    return rc;
}


/*
 * The route's body limit holds before anything is read: a Content-Length
 * over it is answered 413 at once (the body is discarded unread, as nginx
 * does for client_max_body_size), a chunked body is cut at the limit by
 * the request body filter (_body.c).
 */
static ngx_int_t
ngx_http_mastodon_read_body(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    ngx_int_t  rc;

    if ((ctx->route->body == NGX_HTTP_MASTODON_BODY_FORM
         || ctx->route->body == NGX_HTTP_MASTODON_BODY_RAW)
        && r->headers_in.content_length_n > NGX_HTTP_MASTODON_BODY_FORM_MAX)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: body of %O bytes over the route's limit",
                      r->headers_in.content_length_n);

        r->expect_tested = 1;       /* no "100 Continue" for it */
        (void) ngx_http_discard_request_body(r);

        return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
    }

    /* small bodies stay in memory (merge_loc_conf sized the buffer) */
    r->request_body_in_single_buf = 1;

    /*
     * An upload to a media route always goes to a file, kept under its
     * name while the request lives (and removed after, unless a handler
     * moved it): its file parameters are ranges of that file.
     */
    if (ctx->route->body == NGX_HTTP_MASTODON_BODY_MEDIA
        && ngx_http_mastodon_multipart_type(r, NULL) == NGX_OK)
    {
        r->request_body_in_file_only = 1;
        r->request_body_in_persistent_file = 1;
        r->request_body_in_clean_file = 1;
        r->request_body_file_log_level = NGX_LOG_INFO;
    }

    rc = ngx_http_read_client_request_body(r, ngx_http_mastodon_body_handler);
    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_mastodon_body_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    /* NGX_DONE: a body nginx wrote to a file is read in the thread pool */
    rc = ngx_http_mastodon_body_load(r);

    if (rc != NGX_DONE) {
        ngx_http_mastodon_body_ready(r, rc);
    }
}


/* The body is read (rc NGX_OK) or could not be: the endpoint, or the end. */
void
ngx_http_mastodon_body_ready(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_http_mastodon_ctx_t  *ctx;

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    rc = ngx_http_mastodon_dispatch(r, ctx);

    if (rc == NGX_DONE) {
        /* the reference taken by reading the body is kept for the backend */
        return;
    }

    ngx_http_finalize_request(r, rc);
}


static ngx_int_t
ngx_http_mastodon_dispatch(ngx_http_request_t *r, ngx_http_mastodon_ctx_t *ctx)
{
    ngx_int_t  rc;

    rc = ngx_http_mastodon_read_params(r, ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    /* NGX_DONE: a token look-up runs and will call the handler itself */
    rc = ngx_http_mastodon_auth(r, ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    return ctx->route->handler(r, ctx);
}


/* Ends a request that an endpoint held while waiting on a backend. */
void
ngx_http_mastodon_finalize(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_connection_t  *c;

    c = r->connection;

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}
