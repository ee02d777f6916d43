/*
 * The route table: method + path pattern -> endpoint handler.  Every API
 * endpoint joins this table.  ":name" segments capture one path segment.
 * A path that no route knows gets 404; a known path with another method
 * gets 405 with an Allow header.  Bodies are JSON ({"error": ...}), written
 * by the error filter.  Captured segments (nginx has decoded them) are
 * checked here once for every route, as query parameters are: strict UTF-8
 * without NUL, or 400 (Rails' "Invalid path parameters").  Numeric ids are
 * the endpoints' to check: a non-numeric one is their 404, after the token.
 */

#include "ngx_http_mastodon_activitypub.h"
#include "ngx_http_mastodon_streaming.h"
#include "ngx_http_mastodon_filters.h"
#include "mstdn_utf8.h"


/*
 * method, path, handler, body (NGX_HTTP_MASTODON_BODY_*: 0 none, 1 JSON
 * or form, up to NGX_HTTP_MASTODON_BODY_FORM_MAX, 2 multipart with files,
 * up to client_max_body_size), token needed, scopes (any one); RL adds the
 * route's own rate limits (NGX_HTTP_MASTODON_RL_*)
 */
#define R(m, p, h, b, a, s)                                                   \
    { NGX_HTTP_##m, ngx_string(p), h, b, NGX_HTTP_MASTODON_AUTH_##a, s, 0,    \
      0, NULL }
#define RL(m, p, h, b, a, s, l)                                               \
    { NGX_HTTP_##m, ngx_string(p), h, b, NGX_HTTP_MASTODON_AUTH_##a, s,       \
      NGX_HTTP_MASTODON_RL_##l, 0, NULL }
/* an ActivityPub GET: through the one entry (activitypub/), which runs h */
#define AP(p, h)                                                              \
    { NGX_HTTP_GET, ngx_string(p), ngx_http_mastodon_activitypub, 0,          \
      NGX_HTTP_MASTODON_AUTH_NONE, NULL, 0, 0, h }

static ngx_http_mastodon_route_t  ngx_http_mastodon_routes[] = {

    /* a test aid: the parameters of an upload (_debug_upload.c) */
    { NGX_HTTP_POST, ngx_string("/api/mastodon_debug/upload"),
      ngx_http_mastodon_debug_upload, NGX_HTTP_MASTODON_BODY_MEDIA,
      NGX_HTTP_MASTODON_AUTH_NONE, NULL, 0, 1 },

    R(GET, "/api/v1/instance", ngx_http_mastodon_instance_v1, 0, NONE, NULL),
    R(GET, "/api/v2/instance", ngx_http_mastodon_instance_v2, 0, NONE, NULL),
    R(GET, "/.well-known/nodeinfo", ngx_http_mastodon_nodeinfo_links, 0,
      NONE, NULL),
    R(GET, "/nodeinfo/2.0", ngx_http_mastodon_nodeinfo, 0, NONE, NULL),
    R(GET, "/.well-known/host-meta", ngx_http_mastodon_host_meta, 0,
      NONE, NULL),
    R(GET, "/health", ngx_http_mastodon_health, 0, NONE, NULL),

    /* what the JSON answers link to (ngx_http_mastodon_public.c) */
    R(GET, "/avatars/original/missing.png", ngx_http_mastodon_default_avatar,
      0, NONE, NULL),
    R(GET, "/headers/original/missing.png", ngx_http_mastodon_default_header,
      0, NONE, NULL),
    R(GET, "/packs/media/images/preview.png",
      ngx_http_mastodon_default_thumbnail, 0, NONE, NULL),

    /* ActivityPub: being found and read (activitypub/); browsers get the
     * pages of the same URLs */
    R(GET, "/.well-known/webfinger", ngx_http_mastodon_webfinger, 0, NONE,
      NULL),
    AP("/@:username", ngx_http_mastodon_ap_actor),
    AP("/@:username/:id", ngx_http_mastodon_ap_note),
    AP("/users/:username", ngx_http_mastodon_ap_actor),
    AP("/users/:username/statuses/:id", ngx_http_mastodon_ap_note),
    AP("/users/:username/statuses/:id/activity",
       ngx_http_mastodon_ap_note_activity),
    AP("/users/:username/statuses/:id/replies", ngx_http_mastodon_ap_replies),
    AP("/users/:username/statuses/:id/likes", ngx_http_mastodon_ap_likes),
    AP("/users/:username/statuses/:id/shares", ngx_http_mastodon_ap_shares),
    AP("/users/:username/outbox", ngx_http_mastodon_ap_outbox),
    AP("/users/:username/followers", ngx_http_mastodon_ap_followers),
    AP("/users/:username/following", ngx_http_mastodon_ap_following),
    AP("/users/:username/collections/featured",
       ngx_http_mastodon_ap_featured),
    AP("/users/:username/collections/tags",
       ngx_http_mastodon_ap_featured_tags),
    AP("/users/:username/followers_synchronization",
       ngx_http_mastodon_ap_followers_sync),
    AP("/actor", ngx_http_mastodon_ap_instance_actor),
    AP("/actor/outbox", ngx_http_mastodon_ap_outbox),
    AP("/emojis/:id", ngx_http_mastodon_ap_emoji),

    R(GET, "/tags/:tag", ngx_http_mastodon_tag_page, 0, NONE, NULL),

    /* ActivityPub inboxes (activitypub/_inbox.c): the body kept raw */
    R(POST, "/users/:username/inbox", ngx_http_mastodon_inbox,
      NGX_HTTP_MASTODON_BODY_RAW, NONE, NULL),
    R(POST, "/inbox", ngx_http_mastodon_shared_inbox,
      NGX_HTTP_MASTODON_BODY_RAW, NONE, NULL),
    R(GET, "/about", ngx_http_mastodon_about_page, 0, NONE, NULL),
    R(GET, "/privacy-policy", ngx_http_mastodon_privacy_page, 0, NONE, NULL),
    R(GET, "/api/v1/instance/rules", ngx_http_mastodon_instance_rules, 0,
      NONE, NULL),
    R(GET, "/api/v1/instance/peers", ngx_http_mastodon_instance_peers, 0,
      NONE, NULL),
    R(GET, "/api/v1/instance/activity", ngx_http_mastodon_instance_activity,
      0, NONE, NULL),
    R(GET, "/api/v1/instance/extended_description",
      ngx_http_mastodon_instance_extended_description, 0, NONE, NULL),
    R(GET, "/api/v1/instance/translation_languages",
      ngx_http_mastodon_instance_translation_languages, 0, NONE, NULL),
    R(GET, "/api/v1/custom_emojis", ngx_http_mastodon_custom_emojis, 0,
      NONE, NULL),

    /* reports (api/_reports.c) */
    R(POST, "/api/v1/reports", ngx_http_mastodon_reports_create, 1, USER,
      "write write:reports"),

    R(POST, "/api/v1/apps", ngx_http_mastodon_apps_create, 1, NONE, NULL),
    R(GET, "/api/v1/apps/verify_credentials",
      ngx_http_mastodon_apps_verify_credentials, 0, APP, NULL),

    /* relationships */
    R(GET, "/api/v1/accounts/relationships", ngx_http_mastodon_relationships,
      0, USER, "read read:follows"),
    R(GET, "/api/v1/accounts/:id/followers", ngx_http_mastodon_followers, 0,
      OPTIONAL, "read read:accounts"),
    R(GET, "/api/v1/accounts/:id/following", ngx_http_mastodon_following, 0,
      OPTIONAL, "read read:accounts"),
    R(GET, "/api/v1/accounts/:id/endorsements",
      ngx_http_mastodon_account_endorsements, 0, OPTIONAL,
      "read read:accounts"),
    R(POST, "/api/v1/accounts/:id/follow", ngx_http_mastodon_follow, 1, USER,
      "follow write write:follows"),
    R(POST, "/api/v1/accounts/:id/unfollow", ngx_http_mastodon_unfollow, 0,
      USER, "follow write write:follows"),
    R(POST, "/api/v1/accounts/:id/remove_from_followers",
      ngx_http_mastodon_remove_from_followers, 0, USER,
      "follow write write:follows"),
    R(POST, "/api/v1/accounts/:id/block", ngx_http_mastodon_block, 0, USER,
      "follow write write:blocks"),
    R(POST, "/api/v1/accounts/:id/unblock", ngx_http_mastodon_unblock, 0,
      USER, "follow write write:blocks"),
    R(POST, "/api/v1/accounts/:id/mute", ngx_http_mastodon_mute, 1, USER,
      "follow write write:mutes"),
    R(POST, "/api/v1/accounts/:id/unmute", ngx_http_mastodon_unmute, 0, USER,
      "follow write write:mutes"),
    R(POST, "/api/v1/accounts/:id/note", ngx_http_mastodon_account_note, 1,
      USER, "write write:accounts"),
    R(POST, "/api/v1/accounts/:id/endorse", ngx_http_mastodon_endorse, 0,
      USER, "write write:accounts"),
    R(POST, "/api/v1/accounts/:id/unendorse", ngx_http_mastodon_unendorse, 0,
      USER, "write write:accounts"),
    R(POST, "/api/v1/accounts/:id/pin", ngx_http_mastodon_endorse, 0, USER,
      "write write:accounts"),
    R(POST, "/api/v1/accounts/:id/unpin", ngx_http_mastodon_unendorse, 0,
      USER, "write write:accounts"),
    R(GET, "/api/v1/blocks", ngx_http_mastodon_blocks, 0, USER,
      "follow read read:blocks"),
    R(GET, "/api/v1/mutes", ngx_http_mastodon_mutes, 0, USER,
      "follow read read:mutes"),
    R(GET, "/api/v1/endorsements", ngx_http_mastodon_endorsements, 0, USER,
      "read read:accounts"),
    R(GET, "/api/v1/follow_requests", ngx_http_mastodon_follow_requests, 0,
      USER, "follow read read:follows"),
    R(POST, "/api/v1/follow_requests/:account_id/authorize",
      ngx_http_mastodon_follow_request_authorize, 0, USER,
      "follow write write:follows"),
    R(POST, "/api/v1/follow_requests/:account_id/reject",
      ngx_http_mastodon_follow_request_reject, 0, USER,
      "follow write write:follows"),

    /* media uploads (_media.c): multipart bodies kept on disk */
    RL(POST, "/api/v1/media", ngx_http_mastodon_media_create_v1,
       NGX_HTTP_MASTODON_BODY_MEDIA, USER, "write write:media", MEDIA),
    RL(POST, "/api/v2/media", ngx_http_mastodon_media_create_v2,
       NGX_HTTP_MASTODON_BODY_MEDIA, USER, "write write:media", MEDIA),
    R(GET, "/api/v1/media/:id", ngx_http_mastodon_media_show, 0, USER,
      "write write:media"),
    R(PUT, "/api/v1/media/:id", ngx_http_mastodon_media_update,
      NGX_HTTP_MASTODON_BODY_MEDIA, USER, "write write:media"),
    R(DELETE, "/api/v1/media/:id", ngx_http_mastodon_media_destroy, 0, USER,
      "write write:media"),

    /* statuses */
    R(POST, "/api/v1/statuses", ngx_http_mastodon_statuses_create, 2, USER,
      "write write:statuses"),
    R(GET, "/api/v1/statuses", ngx_http_mastodon_statuses_index, 0,
      OPTIONAL, "read read:statuses"),
    R(GET, "/api/v1/statuses/:id", ngx_http_mastodon_statuses_show, 0,
      OPTIONAL, "read read:statuses"),
    R(PUT, "/api/v1/statuses/:id", ngx_http_mastodon_statuses_update, 2,
      USER, "write write:statuses"),
    RL(DELETE, "/api/v1/statuses/:id", ngx_http_mastodon_statuses_destroy, 0,
       USER, "write write:statuses", DELETE),
    R(GET, "/api/v1/statuses/:id/history", ngx_http_mastodon_status_history,
      0, OPTIONAL, "read read:statuses"),
    R(GET, "/api/v1/statuses/:id/source", ngx_http_mastodon_status_source,
      0, USER, "read read:statuses"),
    R(GET, "/api/v1/statuses/:id/context", ngx_http_mastodon_status_context,
      0, OPTIONAL, "read read:statuses"),

    /* timelines */
    R(GET, "/api/v1/timelines/home", ngx_http_mastodon_timelines_home, 0,
      USER, "read read:statuses"),
    R(GET, "/api/v1/timelines/public", ngx_http_mastodon_timelines_public, 0,
      OPTIONAL, "read read:statuses"),
    R(GET, "/api/v1/timelines/tag/:hashtag", ngx_http_mastodon_timelines_tag,
      0, OPTIONAL, "read read:statuses"),
    R(GET, "/api/v1/accounts/:id/statuses", ngx_http_mastodon_account_statuses,
      0, OPTIONAL, "read read:statuses"),

    /* the streaming API (streaming/): Mastodon's streaming server */
    R(GET, "/api/v1/streaming/health", ngx_http_mastodon_streaming_health, 0,
      NONE, NULL),
    R(GET, "/api/v1/streaming/user", ngx_http_mastodon_streaming_sse, 0,
      STREAM, NULL),
    R(GET, "/api/v1/streaming/user/notification",
      ngx_http_mastodon_streaming_sse, 0, STREAM, NULL),
    R(GET, "/api/v1/streaming/public", ngx_http_mastodon_streaming_sse, 0,
      STREAM, NULL),
    R(GET, "/api/v1/streaming/public/local", ngx_http_mastodon_streaming_sse,
      0, STREAM, NULL),
    R(GET, "/api/v1/streaming/public/remote", ngx_http_mastodon_streaming_sse,
      0, STREAM, NULL),
    R(GET, "/api/v1/streaming/hashtag", ngx_http_mastodon_streaming_sse, 0,
      STREAM, NULL),
    R(GET, "/api/v1/streaming/hashtag/local", ngx_http_mastodon_streaming_sse,
      0, STREAM, NULL),
    R(GET, "/api/v1/streaming/list", ngx_http_mastodon_streaming_sse, 0,
      STREAM, NULL),
    R(GET, "/api/v1/streaming/direct", ngx_http_mastodon_streaming_sse, 0,
      STREAM, NULL),
    R(GET, "/api/v1/streaming", ngx_http_mastodon_streaming_ws, 0,
      STREAM, NULL),
    R(GET, "/api/v1/streaming/:stream", ngx_http_mastodon_streaming_unknown,
      0, NONE, NULL),
    R(GET, "/api/v1/streaming/:stream/:sub",
      ngx_http_mastodon_streaming_unknown, 0, NONE, NULL),

    /* notifications: the fixed paths before :id and :group_key */
    R(GET, "/api/v1/notifications", ngx_http_mastodon_notifications, 0, USER,
      "read read:notifications"),
    R(GET, "/api/v1/notifications/unread_count",
      ngx_http_mastodon_notifications_unread, 0, USER,
      "read read:notifications"),
    R(POST, "/api/v1/notifications/clear",
      ngx_http_mastodon_notifications_clear, 0, USER,
      "write write:notifications"),
    R(GET, "/api/v1/notifications/:id", ngx_http_mastodon_notification, 0,
      USER, "read read:notifications"),
    R(POST, "/api/v1/notifications/:id/dismiss",
      ngx_http_mastodon_notification_dismiss, 0, USER,
      "write write:notifications"),
    R(GET, "/api/v2/notifications", ngx_http_mastodon_notification_groups, 0,
      USER, "read read:notifications"),
    R(GET, "/api/v2/notifications/unread_count",
      ngx_http_mastodon_notification_groups_unread, 0, USER,
      "read read:notifications"),
    R(POST, "/api/v2/notifications/clear",
      ngx_http_mastodon_notifications_clear, 0, USER,
      "write write:notifications"),
    R(GET, "/api/v2/notifications/:group_key",
      ngx_http_mastodon_notification_group, 0, USER,
      "read read:notifications"),
    R(POST, "/api/v2/notifications/:group_key/dismiss",
      ngx_http_mastodon_notification_group_dismiss, 0, USER,
      "write write:notifications"),

    /* status interactions: fixed paths, then under /api/v1/statuses/:id */
    R(GET, "/api/v1/favourites", ngx_http_mastodon_favourites, 0, USER,
      "read read:favourites"),
    R(GET, "/api/v1/bookmarks", ngx_http_mastodon_bookmarks, 0, USER,
      "read read:bookmarks"),
    R(POST, "/api/v1/statuses/:id/favourite", ngx_http_mastodon_status_action,
      0, USER, "write write:favourites"),
    R(POST, "/api/v1/statuses/:id/unfavourite", ngx_http_mastodon_status_action,
      0, USER, "write write:favourites"),
    R(POST, "/api/v1/statuses/:id/reblog", ngx_http_mastodon_status_action,
      1, USER, "write write:statuses"),
    RL(POST, "/api/v1/statuses/:id/unreblog", ngx_http_mastodon_status_action,
       0, USER, "write write:statuses", DELETE),
    R(POST, "/api/v1/statuses/:id/bookmark", ngx_http_mastodon_status_action,
      0, USER, "write write:bookmarks"),
    R(POST, "/api/v1/statuses/:id/unbookmark", ngx_http_mastodon_status_action,
      0, USER, "write write:bookmarks"),
    R(POST, "/api/v1/statuses/:id/pin", ngx_http_mastodon_status_action,
      0, USER, "write write:accounts"),
    R(POST, "/api/v1/statuses/:id/unpin", ngx_http_mastodon_status_action,
      0, USER, "write write:accounts"),
    R(POST, "/api/v1/statuses/:id/mute", ngx_http_mastodon_status_action,
      0, USER, "write write:mutes"),
    R(POST, "/api/v1/statuses/:id/unmute", ngx_http_mastodon_status_action,
      0, USER, "write write:mutes"),
    R(GET, "/api/v1/statuses/:id/favourited_by",
      ngx_http_mastodon_status_favourited_by, 0, OPTIONAL,
      "read read:accounts"),
    R(GET, "/api/v1/statuses/:id/reblogged_by",
      ngx_http_mastodon_status_reblogged_by, 0, OPTIONAL,
      "read read:accounts"),

    /* polls */
    R(GET, "/api/v1/polls/:id", ngx_http_mastodon_polls_show, 0, OPTIONAL,
      "read read:statuses"),
    R(POST, "/api/v1/polls/:id/votes", ngx_http_mastodon_polls_vote, 1, USER,
      "write write:statuses"),

    /* accounts: the fixed paths before /api/v1/accounts/:id */
    R(GET, "/api/v1/accounts/verify_credentials",
      ngx_http_mastodon_accounts_verify_credentials, 0, USER,
      "profile read read:accounts"),
    R(PATCH, "/api/v1/accounts/update_credentials",
      ngx_http_mastodon_accounts_update_credentials,
      NGX_HTTP_MASTODON_BODY_MEDIA, USER, "write write:accounts"),
    R(DELETE, "/api/v1/profile/avatar",
      ngx_http_mastodon_profile_avatar_delete, 0, USER,
      "write write:accounts"),
    R(DELETE, "/api/v1/profile/header",
      ngx_http_mastodon_profile_header_delete, 0, USER,
      "write write:accounts"),
    R(GET, "/api/v1/accounts/search", ngx_http_mastodon_accounts_search, 0,
      USER, "read read:accounts"),
    R(GET, "/api/v2/search", ngx_http_mastodon_search, 0, OPTIONAL,
      "read read:search"),
    R(GET, "/api/v1/accounts/lookup", ngx_http_mastodon_accounts_lookup, 0,
      OPTIONAL, "read read:accounts"),
    R(GET, "/api/v1/accounts/:id", ngx_http_mastodon_accounts_show, 0,
      OPTIONAL, "read read:accounts"),
    R(GET, "/api/v1/accounts", ngx_http_mastodon_accounts_index, 0,
      OPTIONAL, "read read:accounts"),
    R(GET, "/api/v1/preferences", ngx_http_mastodon_preferences, 0, USER,
      "read read:accounts"),
    R(GET, "/api/v1/markers", ngx_http_mastodon_markers_index, 0, USER, "read read:statuses"),
    R(POST, "/api/v1/markers", ngx_http_mastodon_markers_create, 1, USER, "write write:statuses"),
    R(GET, "/api/v1/announcements", ngx_http_mastodon_announcements_index, 0,
      USER, NULL),
    R(POST, "/api/v1/announcements/:id/dismiss",
      ngx_http_mastodon_announcement_dismiss, 1, USER,
      "write write:accounts"),
    R(PUT, "/api/v1/announcements/:id/reactions/:name",
      ngx_http_mastodon_announcement_reaction, 1, USER,
      "write write:favourites"),
    R(DELETE, "/api/v1/announcements/:id/reactions/:name",
      ngx_http_mastodon_announcement_reaction, 1, USER,
      "write write:favourites"),

    /* scheduled statuses (api/_scheduled_statuses.c) */
    R(GET, "/api/v1/scheduled_statuses", ngx_http_mastodon_scheduled_index, 0,
      USER, "read read:statuses"),
    R(GET, "/api/v1/scheduled_statuses/:id", ngx_http_mastodon_scheduled_show,
      0, USER, "read read:statuses"),
    R(PUT, "/api/v1/scheduled_statuses/:id",
      ngx_http_mastodon_scheduled_update, 1, USER, "write write:statuses"),
    R(DELETE, "/api/v1/scheduled_statuses/:id",
      ngx_http_mastodon_scheduled_delete, 0, USER, "write write:statuses"),

    /* tags, followed and featured (api/_tags.c) */
    R(GET, "/api/v1/tags/:id", ngx_http_mastodon_tag_show, 0, OPTIONAL, NULL),
    R(POST, "/api/v1/tags/:id/follow", ngx_http_mastodon_tag_follow, 0, USER,
      "follow write write:follows"),
    R(POST, "/api/v1/tags/:id/unfollow", ngx_http_mastodon_tag_unfollow, 0,
      USER, "follow write write:follows"),
    R(POST, "/api/v1/tags/:id/feature", ngx_http_mastodon_tag_feature, 0,
      USER, "write write:accounts"),
    R(POST, "/api/v1/tags/:id/unfeature", ngx_http_mastodon_tag_unfeature, 0,
      USER, "write write:accounts"),
    R(GET, "/api/v1/followed_tags", ngx_http_mastodon_followed_tags, 0, USER,
      "follow read read:follows"),
    R(GET, "/api/v1/featured_tags/suggestions",
      ngx_http_mastodon_featured_suggestions, 0, USER,
      "read read:accounts"),
    R(GET, "/api/v1/featured_tags", ngx_http_mastodon_featured_tags, 0, USER,
      "read read:accounts"),
    R(POST, "/api/v1/featured_tags", ngx_http_mastodon_featured_tag_create, 1,
      USER, "write write:accounts"),
    R(DELETE, "/api/v1/featured_tags/:id",
      ngx_http_mastodon_featured_tag_delete, 0, USER,
      "write write:accounts"),
    R(GET, "/api/v1/accounts/:id/featured_tags",
      ngx_http_mastodon_account_featured_tags, 0, OPTIONAL, NULL),

    /* conversations (api/_conversations.c) */
    R(GET, "/api/v1/conversations", ngx_http_mastodon_conversations_index, 0,
      USER, "read read:statuses"),
    R(POST, "/api/v1/conversations/:id/read",
      ngx_http_mastodon_conversation_read, 0, USER,
      "write write:conversations"),
    R(DELETE, "/api/v1/conversations/:id",
      ngx_http_mastodon_conversation_delete, 0, USER,
      "write write:conversations"),
    /* Web Push (api/_push.c) */
    R(POST, "/api/v1/push/subscription",
      ngx_http_mastodon_push_subscription_create, 1, USER, "push"),
    R(GET, "/api/v1/push/subscription",
      ngx_http_mastodon_push_subscription_show, 0, USER, "push"),
    R(PUT, "/api/v1/push/subscription",
      ngx_http_mastodon_push_subscription_update, 1, USER, "push"),
    R(DELETE, "/api/v1/push/subscription",
      ngx_http_mastodon_push_subscription_delete, 0, USER, "push"),

    /* lists (api/_lists.c) */
    R(GET, "/api/v1/lists", ngx_http_mastodon_lists_index, 0, USER,
      "read read:lists"),
    R(POST, "/api/v1/lists", ngx_http_mastodon_list_create, 1, USER,
      "write write:lists"),
    R(GET, "/api/v1/lists/:id", ngx_http_mastodon_list_show, 0, USER,
      "read read:lists"),
    R(PUT, "/api/v1/lists/:id", ngx_http_mastodon_list_update, 1, USER,
      "write write:lists"),
    R(DELETE, "/api/v1/lists/:id", ngx_http_mastodon_list_delete, 0, USER,
      "write write:lists"),
    R(GET, "/api/v1/lists/:id/accounts", ngx_http_mastodon_list_accounts, 0,
      USER, "read read:lists"),
    R(POST, "/api/v1/lists/:id/accounts",
      ngx_http_mastodon_list_accounts_add, 1, USER, "write write:lists"),
    R(DELETE, "/api/v1/lists/:id/accounts",
      ngx_http_mastodon_list_accounts_remove, 1, USER, "write write:lists"),
    R(GET, "/api/v1/accounts/:id/lists", ngx_http_mastodon_account_lists, 0,
      USER, "read read:lists"),
    R(GET, "/api/v1/timelines/list/:list_id", ngx_http_mastodon_timelines_list,
      0, USER, "read read:lists"),

    /* filters (filters/_filters.c) */
    R(GET, "/api/v2/filters", ngx_http_mastodon_filters_index, 0, USER,
      "read read:filters"),
    R(POST, "/api/v2/filters", ngx_http_mastodon_filter_create, 1, USER,
      "write write:filters"),
    R(GET, "/api/v2/filters/:id", ngx_http_mastodon_filter_show, 0, USER,
      "read read:filters"),
    R(PUT, "/api/v2/filters/:id", ngx_http_mastodon_filter_update, 1, USER,
      "write write:filters"),
    R(DELETE, "/api/v2/filters/:id", ngx_http_mastodon_filter_delete, 0, USER,
      "write write:filters"),
    R(GET, "/api/v2/filters/:filter_id/keywords",
      ngx_http_mastodon_filter_keywords_index, 0, USER, "read read:filters"),
    R(POST, "/api/v2/filters/:filter_id/keywords",
      ngx_http_mastodon_filter_keyword_create, 1, USER,
      "write write:filters"),
    R(GET, "/api/v2/filters/keywords/:id",
      ngx_http_mastodon_filter_keyword_show, 0, USER, "read read:filters"),
    R(PUT, "/api/v2/filters/keywords/:id",
      ngx_http_mastodon_filter_keyword_update, 1, USER,
      "write write:filters"),
    R(DELETE, "/api/v2/filters/keywords/:id",
      ngx_http_mastodon_filter_keyword_delete, 0, USER,
      "write write:filters"),
    R(GET, "/api/v2/filters/:filter_id/statuses",
      ngx_http_mastodon_filter_statuses_index, 0, USER, "read read:filters"),
    R(POST, "/api/v2/filters/:filter_id/statuses",
      ngx_http_mastodon_filter_status_create, 1, USER,
      "write write:filters"),
    R(GET, "/api/v2/filters/statuses/:id",
      ngx_http_mastodon_filter_status_show, 0, USER, "read read:filters"),
    R(DELETE, "/api/v2/filters/statuses/:id",
      ngx_http_mastodon_filter_status_delete, 0, USER,
      "write write:filters"),
    R(GET, "/api/v1/filters", ngx_http_mastodon_filters_v1_index, 0, USER,
      "read read:filters"),
    R(POST, "/api/v1/filters", ngx_http_mastodon_filter_v1_create, 1, USER,
      "write write:filters"),
    R(GET, "/api/v1/filters/:id", ngx_http_mastodon_filter_v1_show, 0, USER,
      "read read:filters"),
    R(PUT, "/api/v1/filters/:id", ngx_http_mastodon_filter_v1_update, 1,
      USER, "write write:filters"),
    R(DELETE, "/api/v1/filters/:id", ngx_http_mastodon_filter_v1_delete, 0,
      USER, "write write:filters"),

    /* registration */
    RL(POST, "/api/v1/accounts", ngx_http_mastodon_accounts_create, 1, APP,
       "write:accounts", SIGN_UP),
    R(GET, "/auth/confirmation", ngx_http_mastodon_confirmation, 0, NONE,
      NULL),
    RL(POST, "/api/v1/emails/confirmations",
       ngx_http_mastodon_emails_confirmation, 1, APP, "write write:accounts",
       EMAIL),

    /* OAuth */
    R(GET, "/.well-known/oauth-authorization-server",
      ngx_http_mastodon_oauth_metadata, 0, NONE, NULL),
    R(GET, "/oauth/authorize", ngx_http_mastodon_authorize_show, 0,
      NONE, NULL),
    R(POST, "/oauth/authorize", ngx_http_mastodon_authorize_create, 1,
      NONE, NULL),
    R(DELETE, "/oauth/authorize", ngx_http_mastodon_authorize_destroy, 1,
      NONE, NULL),
    R(GET, "/oauth/authorize/native", ngx_http_mastodon_authorize_native, 0,
      NONE, NULL),
    RL(POST, "/oauth/token", ngx_http_mastodon_oauth_token, 1, NONE, NULL,
       GRANT),
    R(POST, "/oauth/revoke", ngx_http_mastodon_oauth_revoke, 1, NONE, NULL),
    R(GET, "/auth/sign_in", ngx_http_mastodon_sign_in_show, 0, NONE, NULL),
    RL(POST, "/auth/sign_in", ngx_http_mastodon_sign_in_create, 1,
       NONE, NULL, SIGN_IN),

    /* remote media not cached here (_media_proxy.c) */
    R(GET, "/media_proxy/:id", ngx_http_mastodon_media_proxy, 0, OPTIONAL,
      NULL),
    R(GET, "/media_proxy/:id/:style", ngx_http_mastodon_media_proxy, 0,
      OPTIONAL, NULL),

    { 0, ngx_null_string, NULL, 0, 0, NULL, 0, 0, NULL }
};

#undef R
#undef RL
#undef AP


static ngx_str_t  ngx_http_mastodon_method_names[] = {
    ngx_string("GET"), ngx_string("HEAD"), ngx_string("POST"),
    ngx_string("PUT"), ngx_string("PATCH"), ngx_string("DELETE")
};

static ngx_uint_t  ngx_http_mastodon_methods[] = {
    NGX_HTTP_GET, NGX_HTTP_HEAD, NGX_HTTP_POST,
    NGX_HTTP_PUT, NGX_HTTP_PATCH, NGX_HTTP_DELETE
};


/* Matches uri against pattern; fills captures.  No allocation. */
static ngx_uint_t
ngx_http_mastodon_route_match(ngx_str_t *pattern, ngx_str_t *uri,
    ngx_str_t *captures, ngx_uint_t *ncaptures)
{
    u_char  *p, *pe, *u, *ue;

    p = pattern->data;
    pe = p + pattern->len;
    u = uri->data;
    ue = u + uri->len;
    *ncaptures = 0;

    while (p < pe && u < ue) {

        if (*p == ':') {
            /* a capture: one non-empty segment */
            if (*u == '/' || *ncaptures == NGX_HTTP_MASTODON_MAX_CAPTURES) {
                return 0;
            }

            captures[*ncaptures].data = u;

            while (u < ue && *u != '/') {
                u++;
            }

            captures[*ncaptures].len = u - captures[*ncaptures].data;
            (*ncaptures)++;

            while (p < pe && *p != '/') {
                p++;
            }

            continue;
        }

        if (*p != *u) {
            return 0;
        }

        p++;
        u++;
    }

    return p == pe && u == ue;
}


/* the path's capture i (":id") as a positive id, or 0: none, not a
 * number, zero or out of range (the handler answers 404) */
int64_t
ngx_http_mastodon_capture_id(ngx_http_mastodon_ctx_t *ctx, ngx_uint_t i)
{
    int64_t  id;

    if (i >= ctx->ncaptures) {
        return 0;
    }

    id = ngx_atoof(ctx->captures[i].data, ctx->captures[i].len);

    return id > 0 ? id : 0;
}


ngx_int_t
ngx_http_mastodon_route(ngx_http_request_t *r, ngx_http_mastodon_ctx_t *ctx)
{
    u_char                        *p;
    ngx_str_t                      uri, allow;
    ngx_str_t                      captures[NGX_HTTP_MASTODON_MAX_CAPTURES];
    ngx_uint_t                     i, k, ncaptures, allowed, suffix;
    ngx_http_mastodon_route_t     *route;
    ngx_http_mastodon_loc_conf_t  *mlcf;

    uri = r->uri;

    /* Rails ignores a trailing slash and a ".json" format suffix */
    if (uri.len > 1 && uri.data[uri.len - 1] == '/') {
        uri.len--;
    }

    /* elsewhere only the ActivityPub routes take it (Rails' resources),
     * and it asks for JSON whatever the Accept */
    suffix = 0;

    if (uri.len > 5
        && ngx_strncmp(uri.data + uri.len - 5, ".json", 5) == 0)
    {
        if (ngx_http_mastodon_api_path(r)) {
            uri.len -= 5;

        } else {
            suffix = 1;
            uri.len -= 5;
        }
    }

again:

    allowed = 0;
    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mastodon_module);

    for (route = ngx_http_mastodon_routes; route->handler; route++) {

        if ((route->debug && !mlcf->debug_upload)
            || (suffix && route->ap == NULL))
        {
            continue;
        }

        if (!ngx_http_mastodon_route_match(&route->pattern, &uri, captures,
                                           &ncaptures))
        {
            continue;
        }

        if (route->method == r->method
            || (route->method == NGX_HTTP_GET && r->method == NGX_HTTP_HEAD))
        {
            for (i = 0; i < ncaptures; i++) {
                if (mstdn_utf8_check(captures[i].data, captures[i].len, 0)
                    != MSTDN_UTF8_VALID)
                {
                    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                                  "mastodon: invalid path parameter in "
                                  "\"%V\": not UTF-8", &r->uri);
                    ctx->error_message = "Invalid path parameters: Invalid "
                                         "encoding for parameter";
                    return NGX_HTTP_BAD_REQUEST;
                }
            }

            ctx->route = route;
            ctx->format_json = suffix;
            ctx->ncaptures = ncaptures;
            ngx_memcpy(ctx->captures, captures, sizeof(captures));
            return NGX_OK;
        }

        allowed |= route->method;
    }

    if (allowed == 0 && suffix) {
        /* no ActivityPub route: ".json" is part of the path */
        suffix = 0;
        uri.len += 5;
        goto again;
    }

    if (allowed == 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: no route for \"%V\"", &r->uri);
        return NGX_HTTP_NOT_FOUND;
    }

    if (allowed & NGX_HTTP_GET) {
        allowed |= NGX_HTTP_HEAD;
    }

    allow.data = ngx_pnalloc(r->pool, sizeof("GET, HEAD, POST, PUT, PATCH, "
                                             "DELETE, OPTIONS"));
    if (allow.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = allow.data;

    for (i = 0; i < sizeof(ngx_http_mastodon_methods) / sizeof(ngx_uint_t);
         i++)
    {
        if (allowed & ngx_http_mastodon_methods[i]) {
            k = ngx_http_mastodon_method_names[i].len;
            p = ngx_cpymem(p, ngx_http_mastodon_method_names[i].data, k);
            *p++ = ','; *p++ = ' ';
        }
    }

    p = ngx_cpymem(p, "OPTIONS", sizeof("OPTIONS") - 1);
    allow.len = p - allow.data;

    if (ngx_http_mastodon_add_header(r, "Allow", &allow) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mastodon: method %V not allowed for \"%V\"",
                  &r->method_name, &r->uri);

    return NGX_HTTP_NOT_ALLOWED;
}
