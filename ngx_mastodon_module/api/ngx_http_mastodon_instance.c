/*
 * Server information: GET /api/v1/instance (V1::Instance), /api/v2/instance
 * (Instance), /.well-known/nodeinfo, /nodeinfo/2.0, /.well-known/host-meta,
 * and /health, which checks both backends.
 *
 * The counters come from PostgreSQL in one statement and are cached per
 * nginx worker for mastodon_instance_cache (Mastodon caches them too); the
 * rest comes from configuration.
 */

#include "ngx_http_mastodon_api.h"


#define NGX_HTTP_MASTODON_VERSION_STRING                                      \
    NGX_HTTP_MASTODON_COMPAT "+ngx"


typedef struct {
    int64_t     users;
    int64_t     statuses;
    int64_t     domains;
    int64_t     active_month;
    int64_t     active_halfyear;
} ngx_http_mastodon_instance_stats_t;

typedef ngx_int_t (*ngx_http_mastodon_instance_render_pt)(
    ngx_http_request_t *r, ngx_http_mastodon_instance_stats_t *stats);


static ngx_int_t ngx_http_mastodon_instance_stats(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx,
    ngx_http_mastodon_instance_render_pt render);
static void ngx_http_mastodon_instance_stats_done(
    ngx_http_mastodon_pg_batch_t *b);
static ngx_int_t ngx_http_mastodon_instance_v1_render(ngx_http_request_t *r,
    ngx_http_mastodon_instance_stats_t *stats);
static ngx_int_t ngx_http_mastodon_instance_v2_render(ngx_http_request_t *r,
    ngx_http_mastodon_instance_stats_t *stats);
static ngx_int_t ngx_http_mastodon_nodeinfo_render(ngx_http_request_t *r,
    ngx_http_mastodon_instance_stats_t *stats);
static void ngx_http_mastodon_instance_common(ngx_http_mastodon_json_t *j,
    ngx_http_mastodon_main_conf_t *mcf);
static void ngx_http_mastodon_health_pg_done(ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_health_slow_done(
    ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_health_redis_done(ngx_http_request_t *r,
    redisReply *reply, void *data);
static void ngx_http_mastodon_health_finish(ngx_http_request_t *r);
static ngx_int_t ngx_http_mastodon_health_respond(ngx_http_request_t *r);


/* Mastodon's defaults (app/models/media_attachment.rb, poll.rb, ...). */
static const char  *ngx_http_mastodon_mime_types[] = {
    "image/jpeg", "image/png", "image/gif", "image/heic", "image/heif",
    "image/webp", "image/avif", "video/webm", "video/mp4", "video/quicktime",
    "video/ogg", "audio/wave", "audio/wav", "audio/x-wav", "audio/x-pn-wave",
    "audio/vnd.wave", "audio/ogg", "audio/vorbis", "audio/mpeg", "audio/mp3",
    "audio/webm", "audio/flac", "audio/aac", "audio/m4a", "audio/x-m4a",
    "audio/mp4", "audio/3gpp", "video/x-ms-asf", NULL
};


static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_instance_stats_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT"
        " (SELECT count(*) FROM users u JOIN accounts a ON a.id = u.account_id"
        "   WHERE u.confirmed_at IS NOT NULL AND a.suspended_at IS NULL),"
        " (SELECT coalesce(sum(s.statuses_count), 0) FROM account_stats s"
        "   JOIN accounts a ON a.id = s.account_id WHERE a.domain IS NULL),"
        " (SELECT count(DISTINCT domain) FROM accounts"
        "   WHERE domain IS NOT NULL),"
        " (SELECT count(*) FROM users"
        "   WHERE current_sign_in_at > now() - interval '30 days'),"
        " (SELECT count(*) FROM users"
        "   WHERE current_sign_in_at > now() - interval '180 days')", 0);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_health_stmt =
    ngx_http_mastodon_pg_stmt("SELECT 1", 0);

/* the same on the slow pool, which has its own sessions and settings */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_health_slow_stmt =
    ngx_http_mastodon_pg_slow_stmt("SELECT 1", 0);


/* per worker */
static ngx_http_mastodon_instance_stats_t  ngx_http_mastodon_stats;
static ngx_msec_t                          ngx_http_mastodon_stats_time;
static ngx_uint_t                          ngx_http_mastodon_stats_valid;


static ngx_str_t  ngx_http_mastodon_json_type =
    ngx_string("application/json; charset=utf-8");
static ngx_str_t  ngx_http_mastodon_xrd_type =
    ngx_string("application/xrd+xml; charset=utf-8");
static ngx_str_t  ngx_http_mastodon_plain_type =
    ngx_string("text/plain; charset=utf-8");


ngx_int_t
ngx_http_mastodon_instance_v1(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_instance_stats(r, ctx,
                                        ngx_http_mastodon_instance_v1_render);
}


ngx_int_t
ngx_http_mastodon_instance_v2(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_instance_stats(r, ctx,
                                        ngx_http_mastodon_instance_v2_render);
}


ngx_int_t
ngx_http_mastodon_nodeinfo(ngx_http_request_t *r, ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_instance_stats(r, ctx,
                                            ngx_http_mastodon_nodeinfo_render);
}


static ngx_int_t
ngx_http_mastodon_instance_stats(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_instance_render_pt render)
{
    ngx_http_mastodon_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    if (ngx_http_mastodon_stats_valid
        && ngx_current_msec - ngx_http_mastodon_stats_time < mcf->instance_cache)
    {
        return render(r, &ngx_http_mastodon_stats);
    }

    return ngx_http_mastodon_pg_query(r, &ngx_http_mastodon_instance_stats_stmt,
                                      NULL,
                                      ngx_http_mastodon_instance_stats_done,
                                      (void *) render);
}


static void
ngx_http_mastodon_instance_stats_done(ngx_http_mastodon_pg_batch_t *b)
{
    PGresult                              *res;
    ngx_http_request_t                    *r;
    ngx_http_mastodon_instance_stats_t    *s;
    ngx_http_mastodon_instance_render_pt   render;

    r = b->request;
    res = ngx_http_mastodon_pg_rows(b, 0);
    render = (ngx_http_mastodon_instance_render_pt) b->data;

    if (res == NULL || PQntuples(res) != 1) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    s = &ngx_http_mastodon_stats;
    s->users = ngx_http_mastodon_pg_int(res, 0, 0);
    s->statuses = ngx_http_mastodon_pg_int(res, 0, 1);
    s->domains = ngx_http_mastodon_pg_int(res, 0, 2);
    s->active_month = ngx_http_mastodon_pg_int(res, 0, 3);
    s->active_halfyear = ngx_http_mastodon_pg_int(res, 0, 4);

    ngx_http_mastodon_stats_time = ngx_current_msec;
    ngx_http_mastodon_stats_valid = 1;

    ngx_http_mastodon_finalize(r, render(r, s));
}


static void
ngx_http_mastodon_json_kv_strs(ngx_http_mastodon_json_t *j, const char *key,
    const char **values)
{
    ngx_http_mastodon_json_open_array(j, key);

    for ( /* void */ ; *values; values++) {
        ngx_http_mastodon_json_cstr(j, *values);
    }

    ngx_http_mastodon_json_close_array(j);
}


/* The parts of "configuration" that V1::Instance and Instance share. */
static void
ngx_http_mastodon_instance_common(ngx_http_mastodon_json_t *j,
    ngx_http_mastodon_main_conf_t *mcf)
{
    ngx_http_mastodon_json_open(j, "statuses");
    ngx_http_mastodon_json_kv_int(j, "max_characters", mcf->max_characters);
    ngx_http_mastodon_json_kv_int(j, "max_media_attachments", 4);
    ngx_http_mastodon_json_kv_int(j, "characters_reserved_per_url", 23);
    ngx_http_mastodon_json_close(j);

    ngx_http_mastodon_json_open(j, "media_attachments");
    ngx_http_mastodon_json_kv_strs(j, "supported_mime_types",
                                   ngx_http_mastodon_mime_types);
    ngx_http_mastodon_json_kv_int(j, "image_size_limit",
                                  mcf->media_image_limit);
    ngx_http_mastodon_json_kv_int(j, "image_matrix_limit", 33177600);
    ngx_http_mastodon_json_kv_int(j, "video_size_limit",
                                  mcf->media_video_limit);
    ngx_http_mastodon_json_kv_int(j, "video_frame_rate_limit", 120);
    ngx_http_mastodon_json_kv_int(j, "video_matrix_limit", 8294400);
}


static void
ngx_http_mastodon_instance_polls(ngx_http_mastodon_json_t *j)
{
    ngx_http_mastodon_json_open(j, "polls");
    ngx_http_mastodon_json_kv_int(j, "max_options",
                                  NGX_HTTP_MASTODON_POLL_MAX_OPTIONS);
    ngx_http_mastodon_json_kv_int(j, "max_characters_per_option",
                                  NGX_HTTP_MASTODON_POLL_MAX_CHARS);
    ngx_http_mastodon_json_kv_int(j, "min_expiration",
                                  NGX_HTTP_MASTODON_POLL_MIN_EXPIRATION);
    ngx_http_mastodon_json_kv_int(j, "max_expiration",
                                  NGX_HTTP_MASTODON_POLL_MAX_EXPIRATION);
    ngx_http_mastodon_json_close(j);
}


static ngx_int_t
ngx_http_mastodon_instance_v1_render(ngx_http_request_t *r,
    ngx_http_mastodon_instance_stats_t *stats)
{
    ngx_http_mastodon_json_t        j;
    ngx_http_mastodon_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mastodon_json_open(&j, NULL);
    ngx_http_mastodon_json_kv_str(&j, "uri", &mcf->domain);
    ngx_http_mastodon_json_kv_str(&j, "title", &mcf->title);
    ngx_http_mastodon_json_kv_str(&j, "short_description", &mcf->description);
    ngx_http_mastodon_json_kv_str(&j, "description", &mcf->description);
    ngx_http_mastodon_json_kv_str(&j, "email", &mcf->contact_email);
    ngx_http_mastodon_json_kv_cstr(&j, "version",
                                   NGX_HTTP_MASTODON_VERSION_STRING);

    ngx_http_mastodon_json_open(&j, "urls");
    ngx_http_mastodon_json_kv_str(&j, "streaming_api", &mcf->streaming_url);
    ngx_http_mastodon_json_close(&j);

    ngx_http_mastodon_json_open(&j, "stats");
    ngx_http_mastodon_json_kv_int(&j, "user_count", stats->users);
    ngx_http_mastodon_json_kv_int(&j, "status_count", stats->statuses);
    ngx_http_mastodon_json_kv_int(&j, "domain_count", stats->domains);
    ngx_http_mastodon_json_close(&j);

    ngx_http_mastodon_json_kv_null(&j, "thumbnail");

    ngx_http_mastodon_json_open_array(&j, "languages");
    ngx_http_mastodon_json_cstr(&j, "en");
    ngx_http_mastodon_json_close_array(&j);

    ngx_http_mastodon_json_kv_bool(&j, "registrations",
                            mcf->registrations != NGX_HTTP_MASTODON_REG_CLOSED);
    ngx_http_mastodon_json_kv_bool(&j, "approval_required",
                          mcf->registrations == NGX_HTTP_MASTODON_REG_APPROVAL);
    ngx_http_mastodon_json_kv_bool(&j, "invites_enabled", 0);

    ngx_http_mastodon_json_open(&j, "configuration");
    ngx_http_mastodon_json_open(&j, "accounts");
    ngx_http_mastodon_json_kv_int(&j, "max_featured_tags", 10);
    ngx_http_mastodon_json_close(&j);
    ngx_http_mastodon_instance_common(&j, mcf);
    ngx_http_mastodon_json_close(&j);           /* media_attachments */
    ngx_http_mastodon_instance_polls(&j);
    ngx_http_mastodon_json_close(&j);           /* configuration */

    ngx_http_mastodon_json_kv_null(&j, "contact_account");

    ngx_http_mastodon_json_open_array(&j, "rules");
    ngx_http_mastodon_json_close_array(&j);

    ngx_http_mastodon_json_close(&j);

    return ngx_http_mastodon_json_send(&j, NGX_HTTP_OK);
}


static void
ngx_http_mastodon_timeline_access(ngx_http_mastodon_json_t *j,
    const char *key)
{
    ngx_http_mastodon_json_open(j, key);
    ngx_http_mastodon_json_kv_cstr(j, "local", "public");
    ngx_http_mastodon_json_kv_cstr(j, "remote", "public");
    ngx_http_mastodon_json_close(j);
}


static ngx_int_t
ngx_http_mastodon_instance_v2_render(ngx_http_request_t *r,
    ngx_http_mastodon_instance_stats_t *stats)
{
    ngx_http_mastodon_json_t        j;
    ngx_http_mastodon_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mastodon_json_open(&j, NULL);
    ngx_http_mastodon_json_kv_str(&j, "domain", &mcf->domain);
    ngx_http_mastodon_json_kv_str(&j, "title", &mcf->title);
    ngx_http_mastodon_json_kv_cstr(&j, "version",
                                   NGX_HTTP_MASTODON_VERSION_STRING);
    ngx_http_mastodon_json_kv_str(&j, "source_url", &mcf->source_url);
    ngx_http_mastodon_json_kv_str(&j, "description", &mcf->description);

    ngx_http_mastodon_json_open(&j, "usage");
    ngx_http_mastodon_json_open(&j, "users");
    ngx_http_mastodon_json_kv_int(&j, "active_month", stats->active_month);
    ngx_http_mastodon_json_close(&j);
    ngx_http_mastodon_json_close(&j);

    ngx_http_mastodon_json_open(&j, "thumbnail");
    ngx_http_mastodon_json_kv_url(&j, "url", &mcf->base_url,
                                  "/packs/media/images/preview.png");
    ngx_http_mastodon_json_kv_cstr(&j, "description", "");
    ngx_http_mastodon_json_close(&j);

    ngx_http_mastodon_json_open_array(&j, "icon");
    ngx_http_mastodon_json_close_array(&j);

    ngx_http_mastodon_json_open_array(&j, "languages");
    ngx_http_mastodon_json_cstr(&j, "en");
    ngx_http_mastodon_json_close_array(&j);

    ngx_http_mastodon_json_open(&j, "configuration");

    ngx_http_mastodon_json_open(&j, "urls");
    ngx_http_mastodon_json_kv_str(&j, "streaming", &mcf->streaming_url);
    ngx_http_mastodon_json_kv_null(&j, "status");
    ngx_http_mastodon_json_kv_url(&j, "about", &mcf->base_url, "/about");
    ngx_http_mastodon_json_kv_url(&j, "privacy_policy", &mcf->base_url,
                                  "/privacy-policy");
    ngx_http_mastodon_json_kv_null(&j, "terms_of_service");
    ngx_http_mastodon_json_close(&j);

    ngx_http_mastodon_json_open(&j, "vapid");
    ngx_http_mastodon_json_kv_str(&j, "public_key", &mcf->vapid_public_key);
    ngx_http_mastodon_json_close(&j);

    ngx_http_mastodon_json_open(&j, "accounts");
    ngx_http_mastodon_json_kv_int(&j, "max_featured_tags", 10);
    ngx_http_mastodon_json_kv_int(&j, "max_pinned_statuses", 5);
    ngx_http_mastodon_json_kv_int(&j, "max_display_name_length", 30);
    ngx_http_mastodon_json_kv_int(&j, "max_note_length", 500);
    ngx_http_mastodon_json_kv_int(&j, "max_avatar_description_length", 150);
    ngx_http_mastodon_json_kv_int(&j, "max_header_description_length", 150);
    ngx_http_mastodon_json_kv_int(&j, "max_profile_fields", 4);
    ngx_http_mastodon_json_kv_int(&j, "profile_field_name_limit", 255);
    ngx_http_mastodon_json_kv_int(&j, "profile_field_value_limit", 255);
    ngx_http_mastodon_json_close(&j);

    ngx_http_mastodon_instance_common(&j, mcf);
    ngx_http_mastodon_json_kv_int(&j, "description_limit", 1500);
    ngx_http_mastodon_json_close(&j);           /* media_attachments */
    ngx_http_mastodon_instance_polls(&j);

    ngx_http_mastodon_json_open(&j, "translation");
    ngx_http_mastodon_json_kv_bool(&j, "enabled", 0);
    ngx_http_mastodon_json_close(&j);

    ngx_http_mastodon_json_open(&j, "timelines_access");
    ngx_http_mastodon_timeline_access(&j, "live_feeds");
    ngx_http_mastodon_timeline_access(&j, "hashtag_feeds");
    ngx_http_mastodon_timeline_access(&j, "trending_link_feeds");
    ngx_http_mastodon_json_close(&j);

    ngx_http_mastodon_json_kv_bool(&j, "limited_federation", 0);
    ngx_http_mastodon_json_close(&j);           /* configuration */

    ngx_http_mastodon_json_open(&j, "registrations");
    ngx_http_mastodon_json_kv_bool(&j, "enabled",
                            mcf->registrations != NGX_HTTP_MASTODON_REG_CLOSED);
    ngx_http_mastodon_json_kv_bool(&j, "approval_required",
                          mcf->registrations == NGX_HTTP_MASTODON_REG_APPROVAL);
    ngx_http_mastodon_json_kv_null(&j, "message");
    ngx_http_mastodon_json_kv_null(&j, "min_age");
    ngx_http_mastodon_json_kv_bool(&j, "reason_required",
                          mcf->registrations == NGX_HTTP_MASTODON_REG_APPROVAL);
    ngx_http_mastodon_json_kv_null(&j, "url");
    ngx_http_mastodon_json_close(&j);

    ngx_http_mastodon_json_open(&j, "api_versions");
    ngx_http_mastodon_json_kv_int(&j, "mastodon",
                                  NGX_HTTP_MASTODON_API_VERSION);
    ngx_http_mastodon_json_close(&j);

    ngx_http_mastodon_json_open(&j, "contact");
    ngx_http_mastodon_json_kv_str(&j, "email", &mcf->contact_email);
    ngx_http_mastodon_json_kv_null(&j, "account");
    ngx_http_mastodon_json_close(&j);

    ngx_http_mastodon_json_open_array(&j, "rules");
    ngx_http_mastodon_json_close_array(&j);

    ngx_http_mastodon_json_kv_null(&j, "wrapstodon");

    ngx_http_mastodon_json_close(&j);

    return ngx_http_mastodon_json_send(&j, NGX_HTTP_OK);
}


ngx_int_t
ngx_http_mastodon_nodeinfo_links(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    ngx_http_mastodon_json_t        j;
    ngx_http_mastodon_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mastodon_json_open(&j, NULL);
    ngx_http_mastodon_json_open_array(&j, "links");
    ngx_http_mastodon_json_open(&j, NULL);
    ngx_http_mastodon_json_kv_cstr(&j, "rel",
                             "http://nodeinfo.diaspora.software/ns/schema/2.0");
    ngx_http_mastodon_json_kv_url(&j, "href", &mcf->base_url, "/nodeinfo/2.0");
    ngx_http_mastodon_json_close(&j);
    ngx_http_mastodon_json_close_array(&j);
    ngx_http_mastodon_json_close(&j);

    return ngx_http_mastodon_json_send(&j, NGX_HTTP_OK);
}


static ngx_int_t
ngx_http_mastodon_nodeinfo_render(ngx_http_request_t *r,
    ngx_http_mastodon_instance_stats_t *stats)
{
    ngx_http_mastodon_json_t        j;
    ngx_http_mastodon_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mastodon_json_open(&j, NULL);
    ngx_http_mastodon_json_kv_cstr(&j, "version", "2.0");

    ngx_http_mastodon_json_open(&j, "software");
    ngx_http_mastodon_json_kv_cstr(&j, "name", "mastodon");
    ngx_http_mastodon_json_kv_cstr(&j, "version",
                                   NGX_HTTP_MASTODON_VERSION_STRING);
    ngx_http_mastodon_json_close(&j);

    ngx_http_mastodon_json_open_array(&j, "protocols");
    ngx_http_mastodon_json_cstr(&j, "activitypub");
    ngx_http_mastodon_json_close_array(&j);

    ngx_http_mastodon_json_open(&j, "services");
    ngx_http_mastodon_json_open_array(&j, "outbound");
    ngx_http_mastodon_json_close_array(&j);
    ngx_http_mastodon_json_open_array(&j, "inbound");
    ngx_http_mastodon_json_close_array(&j);
    ngx_http_mastodon_json_close(&j);

    ngx_http_mastodon_json_open(&j, "usage");
    ngx_http_mastodon_json_open(&j, "users");
    ngx_http_mastodon_json_kv_int(&j, "total", stats->users);
    ngx_http_mastodon_json_kv_int(&j, "activeMonth", stats->active_month);
    ngx_http_mastodon_json_kv_int(&j, "activeHalfyear",
                                  stats->active_halfyear);
    ngx_http_mastodon_json_close(&j);
    ngx_http_mastodon_json_kv_int(&j, "localPosts", stats->statuses);
    ngx_http_mastodon_json_close(&j);

    ngx_http_mastodon_json_kv_bool(&j, "openRegistrations",
                            mcf->registrations == NGX_HTTP_MASTODON_REG_OPEN);

    ngx_http_mastodon_json_open(&j, "metadata");
    ngx_http_mastodon_json_kv_str(&j, "nodeName", &mcf->title);
    ngx_http_mastodon_json_kv_str(&j, "nodeDescription", &mcf->description);
    ngx_http_mastodon_json_close(&j);

    ngx_http_mastodon_json_close(&j);

    return ngx_http_mastodon_json_send(&j, NGX_HTTP_OK);
}


/* XRD by default; JRD with ?format=json, as Mastodon answers. */
ngx_int_t
ngx_http_mastodon_host_meta(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    u_char                         *p;
    size_t                          len;
    ngx_str_t                       body;
    const char                     *format;
    ngx_http_mastodon_json_t        j;
    ngx_http_mastodon_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    format = mstdn_param_str(ctx->params, "format", NULL);

    if (format && ngx_strcmp(format, "json") == 0) {
        if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_http_mastodon_json_open(&j, NULL);
        ngx_http_mastodon_json_open_array(&j, "links");
        ngx_http_mastodon_json_open(&j, NULL);
        ngx_http_mastodon_json_kv_cstr(&j, "rel", "lrdd");
        ngx_http_mastodon_json_kv_url(&j, "template", &mcf->base_url,
                                  "/.well-known/webfinger?resource={uri}");
        ngx_http_mastodon_json_close(&j);
        ngx_http_mastodon_json_close_array(&j);
        ngx_http_mastodon_json_close(&j);

        return ngx_http_mastodon_json_send(&j, NGX_HTTP_OK);
    }

    len = sizeof("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                 "<XRD xmlns=\"http://docs.oasis-open.org/ns/xri/xrd-1.0\">\n"
                 "  <Link rel=\"lrdd\" template=\""
                 "/.well-known/webfinger?resource={uri}\"/>\n"
                 "</XRD>\n") + mcf->base_url.len;

    body.data = ngx_pnalloc(r->pool, len);
    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* mastodon_domain holds neither quotes nor '<' (checked at startup) */
    p = ngx_sprintf(body.data,
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                    "<XRD xmlns=\"http://docs.oasis-open.org/ns/xri/xrd-1.0\">\n"
                    "  <Link rel=\"lrdd\" template=\"%V"
                    "/.well-known/webfinger?resource={uri}\"/>\n"
                    "</XRD>\n", &mcf->base_url);
    body.len = p - body.data;

    return ngx_http_mastodon_send_text(r, NGX_HTTP_OK,
                                       &ngx_http_mastodon_xrd_type, &body);
}


/*
 * GET /health: "OK" when PostgreSQL (both pools) and Redis answer, else
 * 503.
 */

typedef struct {
    ngx_uint_t   pg_ok;
    ngx_uint_t   slow_ok;
    ngx_uint_t   redis_ok;
    ngx_uint_t   pending;
} ngx_http_mastodon_health_t;


ngx_int_t
ngx_http_mastodon_health(ngx_http_request_t *r, ngx_http_mastodon_ctx_t *ctx)
{
    ngx_http_mastodon_health_t     *h;
    ngx_http_mastodon_pg_batch_t   *b;
    ngx_http_mastodon_main_conf_t  *mcf;
    static const char              *ping[] = { "PING" };
    static const size_t             ping_len[] = { 4 };

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    h = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_health_t));
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = h;
    h->slow_ok = 1;

    if (mcf->pg_slow_pool_size) {
        h->slow_ok = 0;

        b = ngx_http_mastodon_pg_batch(r, ngx_http_mastodon_health_slow_done,
                                       h);
        if (b == NULL
            || ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_health_slow_stmt,
                                        NULL)
               != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ngx_http_mastodon_pg_run(b) == NGX_OK) {
            h->pending++;
        }
    }

    b = ngx_http_mastodon_pg_batch(r, ngx_http_mastodon_health_pg_done, h);
    if (b == NULL
        || ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_health_stmt, NULL)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mastodon_pg_run(b) == NGX_OK) {
        h->pending++;
    }

    if (ngx_http_mastodon_redis_command(r, ngx_http_mastodon_health_redis_done,
                                        h, 1, ping, ping_len)
        == NGX_OK)
    {
        h->pending++;
    }

    if (h->pending) {
        return NGX_DONE;
    }

    return ngx_http_mastodon_health_respond(r);
}


static void
ngx_http_mastodon_health_pg_done(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_http_mastodon_health_t  *h = b->data;

    h->pg_ok = (b->rc == NGX_OK && b->results[0]
                && PQresultStatus(b->results[0]) == PGRES_TUPLES_OK);

    if (--h->pending == 0) {
        ngx_http_mastodon_health_finish(b->request);
    }
}


static void
ngx_http_mastodon_health_slow_done(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_http_mastodon_health_t  *h = b->data;

    h->slow_ok = (b->rc == NGX_OK && b->results[0]
                  && PQresultStatus(b->results[0]) == PGRES_TUPLES_OK);

    if (--h->pending == 0) {
        ngx_http_mastodon_health_finish(b->request);
    }
}


static void
ngx_http_mastodon_health_redis_done(ngx_http_request_t *r, redisReply *reply,
    void *data)
{
    ngx_http_mastodon_health_t  *h = data;

    h->redis_ok = (reply != NULL && reply->type == REDIS_REPLY_STATUS);

    if (--h->pending == 0) {
        ngx_http_mastodon_health_finish(r);
    }
}


static void
ngx_http_mastodon_health_finish(ngx_http_request_t *r)
{
    ngx_http_mastodon_finalize(r, ngx_http_mastodon_health_respond(r));
}


static ngx_int_t
ngx_http_mastodon_health_respond(ngx_http_request_t *r)
{
    u_char                      *p;
    ngx_str_t                    body;
    ngx_http_mastodon_ctx_t     *ctx;
    ngx_http_mastodon_health_t  *h;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);
    h = ctx->data;

    if (h->pg_ok && h->slow_ok && h->redis_ok) {
        ngx_str_set(&body, "OK");
        return ngx_http_mastodon_send_text(r, NGX_HTTP_OK,
                                           &ngx_http_mastodon_plain_type,
                                           &body);
    }

    body.data = ngx_pnalloc(r->pool, 64);
    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(body.data, "PostgreSQL: %s\nRedis: %s\n",
                    h->pg_ok && h->slow_ok ? "OK" : "unavailable",
                    h->redis_ok ? "OK" : "unavailable");
    body.len = p - body.data;

    return ngx_http_mastodon_send_text(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       &ngx_http_mastodon_plain_type, &body);
}


/*
 * The smaller server documents clients fetch when they start: custom
 * emojis, rules, translation languages (none of these exist yet, so empty,
 * which is true), peers (the domains of known accounts), the extended
 * description (configuration), and Mastodon's 12-week activity.
 */

static ngx_int_t
ngx_http_mastodon_instance_literal(ngx_http_request_t *r, const char *json)
{
    ngx_str_t  body;

    body.data = (u_char *) json;
    body.len = ngx_strlen(json);

    return ngx_http_mastodon_send_text(r, NGX_HTTP_OK,
                                       &ngx_http_mastodon_json_type, &body);
}


/* GET /api/v1/instance/rules */
ngx_int_t
ngx_http_mastodon_instance_rules(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_instance_literal(r, "[]");
}


/* GET /api/v1/instance/translation_languages */
ngx_int_t
ngx_http_mastodon_instance_translation_languages(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_instance_literal(r, "{}");
}


/* GET /api/v1/instance/extended_description */
ngx_int_t
ngx_http_mastodon_instance_extended_description(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    u_char                         *p;
    ngx_tm_t                        tm;
    ngx_str_t                       s, html;
    ngx_http_mastodon_json_t        j;
    ngx_http_mastodon_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    /* formatted as a local status' text; mentions stay text */
    if (ngx_http_mastodon_status_html(r, &mcf->description, NULL, &html)
        != NGX_OK
        || ngx_http_mastodon_json_init(r, &j) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mastodon_json_open(&j, NULL);

    /*
     * ExtendedDescription.current: none set is updated_at null; else the
     * configuration's load time, as Time#iso8601 (no fraction)
     */
    if (mcf->description.len == 0) {
        ngx_http_mastodon_json_kv_null(&j, "updated_at");

    } else {
        p = ngx_pnalloc(r->pool, sizeof("2026-11-23T00:00:00Z"));
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_gmtime(mcf->loaded_at, &tm);
        s.data = p;
        s.len = ngx_sprintf(p, "%4d-%02d-%02dT%02d:%02d:%02dZ",
                            tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                            tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec)
                - p;

        ngx_http_mastodon_json_kv_str(&j, "updated_at", &s);
    }

    ngx_http_mastodon_json_kv_str(&j, "content", &html);
    ngx_http_mastodon_json_close(&j);

    return ngx_http_mastodon_json_send(&j, NGX_HTTP_OK);
}


/*
 * Peers and activity scan whole tables: each worker keeps the rendered
 * document for mastodon_instance_cache, as the statistics above.
 */
typedef struct {
    u_char       *data;             /* ngx_alloc'ed, per worker */
    size_t        len;
    ngx_msec_t    at;
    ngx_uint_t    valid;
} ngx_http_mastodon_doc_cache_t;

static ngx_http_mastodon_doc_cache_t  ngx_http_mastodon_peers_cache;
static ngx_http_mastodon_doc_cache_t  ngx_http_mastodon_activity_cache;


static ngx_int_t
ngx_http_mastodon_doc_cached(ngx_http_request_t *r,
    ngx_http_mastodon_doc_cache_t *cache)
{
    ngx_str_t                       body;
    ngx_http_mastodon_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    if (!cache->valid
        || ngx_current_msec - cache->at >= mcf->instance_cache)
    {
        return NGX_DECLINED;
    }

    body.data = cache->data;
    body.len = cache->len;

    return ngx_http_mastodon_send_text(r, NGX_HTTP_OK,
                                       &ngx_http_mastodon_json_type, &body);
}


static ngx_int_t
ngx_http_mastodon_doc_keep_and_send(ngx_http_mastodon_json_t *j,
    ngx_http_mastodon_doc_cache_t *cache)
{
    u_char                         *p;
    ngx_chain_t                    *cl;
    ngx_http_mastodon_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(j->request, ngx_http_mastodon_module);

    if (mcf->instance_cache && !j->failed && j->out) {
        p = ngx_alloc(j->size, j->request->connection->log);

        if (p) {
            if (cache->data) {
                ngx_free(cache->data);
            }

            cache->data = p;
            cache->len = j->size;
            cache->at = ngx_current_msec;
            cache->valid = 1;

            for (cl = j->out; cl; cl = cl->next) {
                p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
            }
        }
    }

    return ngx_http_mastodon_json_send(j, NGX_HTTP_OK);
}


static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_peers_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT DISTINCT lower(domain) AS d FROM accounts"
        " WHERE domain IS NOT NULL ORDER BY d", 0);

/* weeks: start (unix time), local statuses, sign-ins, sign-ups */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_activity_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT extract(epoch FROM w)::bigint,"
        " (SELECT count(*) FROM statuses s WHERE s.local"
        "   AND s.deleted_at IS NULL"
        "   AND s.created_at >= w AND s.created_at < w + interval '1 week'),"
        " (SELECT count(*) FROM users u WHERE u.current_sign_in_at >= w"
        "   AND u.current_sign_in_at < w + interval '1 week'),"
        " (SELECT count(*) FROM users u WHERE u.created_at >= w"
        "   AND u.created_at < w + interval '1 week')"
        " FROM generate_series("
        "  date_trunc('week', now() AT TIME ZONE 'UTC') - interval '11 weeks',"
        "  date_trunc('week', now() AT TIME ZONE 'UTC'), interval '1 week')"
        "  AS w ORDER BY w DESC", 0);


static void
ngx_http_mastodon_peers_done(ngx_http_mastodon_pg_batch_t *b)
{
    int                        i, n;
    ngx_str_t                  s;
    PGresult                  *res;
    ngx_http_mastodon_json_t   j;

    res = ngx_http_mastodon_pg_rows(b, 0);

    if (res == NULL
        || ngx_http_mastodon_json_init(b->request, &j) != NGX_OK)
    {
        ngx_http_mastodon_finalize(b->request, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    ngx_http_mastodon_json_open_array(&j, NULL);

    for (i = 0, n = PQntuples(res); i < n; i++) {
        s = ngx_http_mastodon_pg_str(res, i, 0);
        ngx_http_mastodon_json_str(&j, &s);
    }

    ngx_http_mastodon_json_close_array(&j);

    ngx_http_mastodon_finalize(b->request,
        ngx_http_mastodon_doc_keep_and_send(&j,
                                            &ngx_http_mastodon_peers_cache));
}


/* GET /api/v1/instance/peers */
ngx_int_t
ngx_http_mastodon_instance_peers(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    ngx_int_t  rc;

    rc = ngx_http_mastodon_doc_cached(r, &ngx_http_mastodon_peers_cache);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    return ngx_http_mastodon_pg_query(r, &ngx_http_mastodon_peers_stmt, NULL,
                                      ngx_http_mastodon_peers_done, NULL);
}


static void
ngx_http_mastodon_activity_done(ngx_http_mastodon_pg_batch_t *b)
{
    int                        i, n;
    ngx_str_t                  s;
    PGresult                  *res;
    ngx_http_mastodon_json_t   j;

    static const char  *keys[] = { "week", "statuses", "logins",
                                   "registrations" };

    res = ngx_http_mastodon_pg_rows(b, 0);

    if (res == NULL
        || ngx_http_mastodon_json_init(b->request, &j) != NGX_OK)
    {
        ngx_http_mastodon_finalize(b->request, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    ngx_http_mastodon_json_open_array(&j, NULL);

    for (i = 0, n = PQntuples(res); i < n; i++) {
        int  k;

        ngx_http_mastodon_json_open(&j, NULL);

        /* Mastodon writes these numbers as strings */
        for (k = 0; k < 4; k++) {
            s = ngx_http_mastodon_pg_str(res, i, k);
            ngx_http_mastodon_json_kv_str(&j, keys[k], &s);
        }

        ngx_http_mastodon_json_close(&j);
    }

    ngx_http_mastodon_json_close_array(&j);

    ngx_http_mastodon_finalize(b->request,
        ngx_http_mastodon_doc_keep_and_send(&j,
                                            &ngx_http_mastodon_activity_cache));
}


/* GET /api/v1/instance/activity */
ngx_int_t
ngx_http_mastodon_instance_activity(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    ngx_int_t  rc;

    rc = ngx_http_mastodon_doc_cached(r, &ngx_http_mastodon_activity_cache);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    return ngx_http_mastodon_pg_query(r, &ngx_http_mastodon_activity_stmt,
                                      NULL, ngx_http_mastodon_activity_done,
                                      NULL);
}


/*
 * GET /api/v1/custom_emojis: CustomEmoji.listed (local, enabled, shown in
 * the picker), public and cached for 3 minutes as Mastodon's
 * render_with_cache.
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_custom_emojis_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT e.id, e.shortcode, e.image_file_name, c.name"
        " FROM custom_emojis e"
        " LEFT JOIN custom_emoji_categories c ON c.id = e.category_id"
        " WHERE e.domain IS NULL AND NOT e.disabled AND e.visible_in_picker"
        " AND e.image_file_name IS NOT NULL ORDER BY e.id", 0);

static ngx_str_t  ngx_http_mastodon_custom_emojis_cache =
    ngx_string("max-age=180, public");


static void
ngx_http_mastodon_custom_emojis_done(ngx_http_mastodon_pg_batch_t *b)
{
    int                        i, n;
    PGresult                  *res;
    ngx_str_t                  shortcode, name, category;
    ngx_http_request_t        *r;
    ngx_http_mastodon_json_t   j;

    r = b->request;

    res = ngx_http_mastodon_pg_rows(b, 0);
    if (res == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK
        || ngx_http_mastodon_add_header(r, "Cache-Control",
                                        &ngx_http_mastodon_custom_emojis_cache)
           != NGX_OK)
    {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_mastodon_json_open_array(&j, NULL);

    for (i = 0, n = PQntuples(res); i < n; i++) {
        shortcode = ngx_http_mastodon_pg_str(res, i, 1);
        name = ngx_http_mastodon_pg_str(res, i, 2);
        category = ngx_http_mastodon_pg_str(res, i, 3);

        ngx_http_mastodon_local_emoji(&j, &shortcode,
                                      ngx_http_mastodon_pg_int(res, i, 0),
                                      &name, 1,
                                      PQgetisnull(res, i, 3) ? NULL
                                                             : &category);
    }

    ngx_http_mastodon_json_close_array(&j);

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_json_send(&j,
                                                              NGX_HTTP_OK));
}


/* GET /api/v1/custom_emojis */
ngx_int_t
ngx_http_mastodon_custom_emojis(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_pg_query(r, &ngx_http_mastodon_custom_emojis_stmt,
                                      NULL,
                                      ngx_http_mastodon_custom_emojis_done,
                                      NULL);
}
