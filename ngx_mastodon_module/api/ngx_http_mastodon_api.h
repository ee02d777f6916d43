/*
 * The Mastodon API endpoints by area: the handlers the router calls, and
 * what endpoints share (the relationship write and list engine of
 * _relationships.c, credentials, e-mail addresses, timeline limits and
 * Link headers).
 */

#ifndef _NGX_HTTP_MASTODON_API_H_INCLUDED_
#define _NGX_HTTP_MASTODON_API_H_INCLUDED_


#include "ngx_http_mastodon_auth.h"
#include "ngx_http_mastodon_entities.h"
#include "mstdn_media.h"


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
 * follow_request notification goes with it; a local requester's feed gets
 * the account's statuses (feed_merge, in the outbox).  _WITH is the CTEs
 * alone (req: the requests, ins: the follows inserted), for a statement
 * that goes on with ", st AS (" NGX_HTTP_MASTODON_REL_SQL_STATS ") ...".
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
    "  RETURNING id, account_id, target_account_id, uri),"                    \
    " d AS (SELECT account_id, 1 AS following, 0 AS followers FROM ins"       \
    "  UNION ALL SELECT target_account_id, 0, 1 FROM ins),"                   \
    " ob AS (" NGX_HTTP_MASTODON_OUTBOX_SQL(                                  \
    NGX_HTTP_MASTODON_OUTBOX_FEED("feed_merge", "ins.account_id",             \
    "ins.target_account_id") " FROM ins JOIN accounts ra"                     \
    " ON ra.id = ins.account_id AND ra.domain IS NULL"                        \
    " UNION ALL " NGX_HTTP_MASTODON_OUTBOX_AP("accept", "ins",                 \
    "target_account_id", "account_id")) ")"
#define NGX_HTTP_MASTODON_REL_SQL_AUTHORIZE(where)                            \
    NGX_HTTP_MASTODON_REL_SQL_AUTHORIZE_WITH(where)                           \
    NGX_HTTP_MASTODON_REL_SQL_STATS

typedef struct ngx_http_mastodon_rel_write_s  ngx_http_mastodon_rel_write_t;

/*
 * The statements put their jobs into the outbox themselves (CTEs guarded
 * like their writes).  Called once the batch committed and its check let
 * the write through: the endpoint leaves in Redis what its jobs publish
 * (ngx_http_mastodon_outbox_payload()); the answer follows at once.
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
ngx_int_t ngx_http_mastodon_rel_list(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_rel_list_t *list);
extern ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_rel_ensure_stats;

/*
 * A feed in Redis read a page at a time (ngx_http_mastodon_home.c): the
 * home feed and list feeds.  name: for the log; key: the key without the id; rebuild: the
 * statement that selects a missing feed's statuses ($1 the id, $2
 * mastodon_feed_max: id, reblog_of_id or 0, newest first); path and keep:
 * its Link header's; merge_big: the home feed, which merges the statuses
 * of the big accounts the viewer follows (sql/0031_big_accounts.sql).
 */
typedef struct {
    const char                    *name;
    const char                    *key;
    int64_t                        id;
    ngx_http_mastodon_pg_stmt_t   *rebuild;
    ngx_str_t                      path;
    const char *const             *keep;
    ngx_uint_t                     merge_big;
} ngx_http_mastodon_feed_t;

/* a rebuild statement's end, after its CTE c(id, reblog_of_id) of the
 * candidates: a reblog of a status there, or a second reblog of one
 * status, is left out (the :reblogs set) */
#define NGX_HTTP_MASTODON_FEED_REBUILD_END                                    \
    " r AS (SELECT id, reblog_of_id, row_number() OVER"                       \
    "  (PARTITION BY reblog_of_id ORDER BY id) AS n"                          \
    "  FROM c WHERE reblog_of_id IS NOT NULL)"                                \
    " SELECT id, 0 FROM c WHERE reblog_of_id IS NULL"                         \
    " UNION ALL SELECT id, reblog_of_id FROM r WHERE n = 1"                   \
    " AND reblog_of_id NOT IN (SELECT id FROM c WHERE reblog_of_id IS NULL)"  \
    " ORDER BY 1 DESC LIMIT $2::int"

ngx_int_t ngx_http_mastodon_feed_page(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_feed_t *feed);

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
ngx_int_t ngx_http_mastodon_push_subscription_create(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_push_subscription_show(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_push_subscription_update(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_push_subscription_delete(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_markers_index(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_markers_create(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_announcements_index(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_announcement_dismiss(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_announcement_reaction(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);


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
/* GET /api/v2/search (_search.c): exact matches and resolving for now */
ngx_int_t ngx_http_mastodon_search(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_accounts_search(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_accounts_update_credentials(
    ngx_http_request_t *r, ngx_http_mastodon_ctx_t *ctx);
ngx_http_mastodon_pg_stmt_t *ngx_http_mastodon_credentials_stmt(void);
void ngx_http_mastodon_credentials_done(ngx_http_mastodon_pg_batch_t *b);
ngx_int_t ngx_http_mastodon_profile_avatar_delete(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_profile_header_delete(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
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
ngx_int_t ngx_http_mastodon_emails_confirmation(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_email_normalize(ngx_http_request_t *r,
    const char *s, size_t len, ngx_str_t *email);

/* what the JSON answers link to: default images, placeholder pages
 * (_public.c) */
ngx_int_t ngx_http_mastodon_default_avatar(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_default_header(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_default_thumbnail(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_status_page(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_tag_page(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_about_page(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_privacy_page(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_users_redirect(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);


/* statuses (_statuses.c); history, source, context (_status_reads.c) */
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
/* lists (_lists.c) */
ngx_int_t ngx_http_mastodon_lists_index(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_list_show(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_list_create(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_list_update(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_list_delete(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_list_accounts(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_list_accounts_add(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_list_accounts_remove(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_account_lists(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_timelines_list(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);

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
/*
 * Notification id of account `viewer` rendered in an operation (a
 * stream's), as GET /api/v1/notifications/:id answers it.  handler gets
 * NGX_OK and the JSON (in op's pool), NGX_DECLINED (gone or not shown) or
 * NGX_ERROR.  NGX_DONE (handler called later) or NGX_ERROR.
 */
typedef void (*ngx_http_mastodon_notification_done_pt)(
    ngx_http_mastodon_op_t *op, ngx_int_t rc, ngx_str_t *json, void *data);
ngx_int_t ngx_http_mastodon_notification_render(ngx_http_mastodon_op_t *op,
    int64_t viewer, int64_t id, ngx_http_mastodon_notification_done_pt handler,
    void *data);
/* Conversation id of account `viewer` likewise, as GET
 * /api/v1/conversations shows it (_conversations.c) */
ngx_int_t ngx_http_mastodon_conversation_render(ngx_http_mastodon_op_t *op,
    int64_t viewer, int64_t id, ngx_http_mastodon_notification_done_pt handler,
    void *data);
/* Announcement id (a published one) as the announcement event shows it,
 * to no one (no read, reactions without me); with name, its Reaction of
 * that name and announcement_id, as announcement.reaction shows it
 * (_announcements.c) */
ngx_int_t ngx_http_mastodon_announcement_render(ngx_http_mastodon_op_t *op,
    int64_t id, ngx_str_t *name,
    ngx_http_mastodon_notification_done_pt handler, void *data);


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

/* POST /api/v1/reports (_reports.c) */
ngx_int_t ngx_http_mastodon_reports_create(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);


/* media uploads (_media.c) */
#define NGX_HTTP_MASTODON_MEDIA_NAME_LEN  16     /* file names: 8 random
                                                   bytes, hex */

#define NGX_HTTP_MASTODON_MEDIA_OK        0
#define NGX_HTTP_MASTODON_MEDIA_INVALID   1     /* not a supported type */
#define NGX_HTTP_MASTODON_MEDIA_TOO_LARGE 2
#define NGX_HTTP_MASTODON_MEDIA_FAILED    3     /* the spool: an alert */

/*
 * An upload handed over to the worker: _upload_init() fills it from a file
 * parameter, _handover() (a pool-thread task) sniffs the type, checks the
 * size and links (or copies) the part into the spool; _unspool() (a task
 * too, then _unspooled() answers 503) removes it again when its row could
 * not be written.  Media attachments and profile images (avatar, header)
 * alike.
 */
typedef struct {
    /* the file part, copied for the pool thread */
    const u_char                   *str;        /* in memory, or */
    const char                     *path;       /* nginx's file */
    int                             fd;
    uint64_t                        offset;
    uint64_t                        size;
    uint64_t                        image_limit;
    uint64_t                        video_limit;
    u_char                         *spool;      /* spool/<name> */
    ngx_uint_t                      profile_image;  /* JPEG, PNG, GIF,
                                                       WebP only */
    ngx_uint_t                      images_only;

    /* the task's answer */
    ngx_uint_t                      result;
    uint64_t                        spool_offset;
    ngx_err_t                       err;
    const char                     *failed;     /* what failed */
    mstdn_media_kind                kind;

    /* the request's */
    ngx_uint_t                      v2;
    u_char                          name[NGX_HTTP_MASTODON_MEDIA_NAME_LEN
                                         + 1];
    const char                     *description;
    const char                     *focus_x;
    const char                     *focus_y;
    void                           *data;       /* the caller's */

    /* waiting for the worker (uploads, profile images): _media_wait() */
    ngx_http_request_t             *request;
    ngx_event_t                     poll;
    ngx_msec_t                      deadline;
    const char                    **ids;        /* the row's id, account */
} ngx_http_mastodon_media_upload_t;

ngx_int_t ngx_http_mastodon_media_upload_init(ngx_http_request_t *r,
    ngx_http_mastodon_media_upload_t *u, mstdn_value_t *file);
void ngx_http_mastodon_media_handover(void *data, ngx_log_t *log);
/*
 * Waiting for the worker to process an upload, as Mastodon answers once
 * processed: look (the poll event's handler, ev->data the upload) runs
 * after 100 ms and queries; its answer handler calls _wait_again() while
 * not done.  Both NGX_OK, or NGX_DECLINED: answer now, as the upload is
 * (mastodon_media_v1_wait is 0, or over).
 */
ngx_int_t ngx_http_mastodon_media_wait(ngx_http_request_t *r,
    ngx_http_mastodon_media_upload_t *u, ngx_event_handler_pt look);
ngx_int_t ngx_http_mastodon_media_wait_again(
    ngx_http_mastodon_media_upload_t *u);
void ngx_http_mastodon_media_unspool(void *data, ngx_log_t *log);
void ngx_http_mastodon_media_unspooled(ngx_http_request_t *r, void *data);
ngx_int_t ngx_http_mastodon_media_create_v1(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_media_create_v2(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_media_show(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_media_update(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_media_destroy(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
/* the media_remove jobs (queue media: the worker unlinks the files) of
 * deleted media_attachments rows (id, file_file_name), as a statement's
 * CTE body */
#define NGX_HTTP_MASTODON_MEDIA_REMOVE_SQL(rows)                              \
    NGX_HTTP_MASTODON_OUTBOX_SQL(                                             \
    "SELECT 'media', 'media_remove', json_build_object('id', " rows           \
    ".id::text, 'file_file_name', " rows ".file_file_name,"                  \
    " 'thumbnail_file_name', " rows ".thumbnail_file_name) FROM " rows       \
    " WHERE " rows ".file_file_name IS NOT NULL")
/* description and focus of params, NULL each when not given: NGX_OK or
 * the 422 to answer (the upload's, PUT's, an edit's media_attributes[]) */
ngx_int_t ngx_http_mastodon_media_attrs(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, mstdn_value_t *params,
    const char **description, const char **x, const char **y);


/* polls (_polls.c) */
ngx_int_t ngx_http_mastodon_polls_show(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_polls_vote(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);

/* _media_proxy.c: GET /media_proxy/:id(/:style) */
ngx_int_t ngx_http_mastodon_media_proxy(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);


/* scheduled statuses (_scheduled_statuses.c); a post (_statuses.c) of
 * the values ngx_http_mastodon_status_params() prepared */
ngx_int_t ngx_http_mastodon_status_post(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, const char **values, ngx_str_t *idempotency);
void ngx_http_mastodon_idempotency_done(ngx_http_request_t *r, ngx_str_t *key,
    int64_t id);
ngx_int_t ngx_http_mastodon_scheduled_create(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, const char **values, const char *at,
    ngx_str_t *idempotency);
ngx_int_t ngx_http_mastodon_scheduled_find(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, int64_t id);
ngx_int_t ngx_http_mastodon_scheduled_index(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_scheduled_show(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_scheduled_update(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_scheduled_delete(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);


/* conversations (_conversations.c) */
ngx_int_t ngx_http_mastodon_conversations_index(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_conversation_read(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_conversation_delete(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);


/* tags, followed and featured (_tags.c) */
ngx_int_t ngx_http_mastodon_tag_show(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_tag_follow(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_tag_unfollow(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_tag_feature(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_tag_unfeature(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_followed_tags(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_featured_tags(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_featured_tag_create(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_featured_tag_delete(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_featured_suggestions(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_account_featured_tags(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);


/* _empty.c: Rails' render_empty ({}); the done handler answering it when
 * the statement found its row (else 404, 503 on failure) */
ngx_int_t ngx_http_mastodon_send_empty(ngx_http_request_t *r);
void ngx_http_mastodon_empty_if_found(ngx_http_mastodon_pg_batch_t *b);


#endif /* _NGX_HTTP_MASTODON_API_H_INCLUDED_ */
