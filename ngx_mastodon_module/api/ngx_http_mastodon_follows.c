/*
 * Follows: POST /api/v1/accounts/:id/follow, /unfollow,
 * /remove_from_followers; GET /api/v1/accounts/:id/followers, /following;
 * GET /api/v1/follow_requests, POST .../:account_id/authorize, /reject.
 *
 * As Mastodon's FollowService: following an account one already follows
 * (or asked to) changes the options given; a locked account, a remote one
 * (until its Accept, which federation brings) or a silenced follower makes
 * a follow request instead.  Follow and unfollow are sql/0014's
 * mastodon_follow() and mastodon_unfollow(), which the worker's Move calls
 * too.  Counters follow the rows really inserted or deleted.
 */

#include "ngx_http_mastodon_api.h"


#define NGX_HTTP_MASTODON_FOLLOW_MAX_LANGUAGES  100


/*
 * FollowService, written by sql/0014's mastodon_follow(): $3 reblogs, $4
 * notify (NULL: unchanged, or the default), $5 languages, $6 whether
 * languages were given.  A locked or remote account (until its Accept,
 * which federation brings) or a silenced follower gets a request; the
 * target is told by a notification (a notify job) or by federation, and
 * a new follow merges the target's statuses into the follower's feed
 * (feed_merge).  Answers 'followed' or 'requested' for a new row.
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_follow_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT mastodon_follow($1::bigint, $2::bigint, $3::boolean,"
        " $4::boolean, $5::varchar[], $6::boolean, false)", 6);

/*
 * UnfollowService, written by sql/0014's mastodon_unfollow(): the follow
 * (and its endorsement), or else the request; their notifications go with
 * them (has_one :notification, dependent: :destroy); the target's
 * statuses leave the feed (feed_unmerge); a remote account gets the Undo.
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_unfollow_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT mastodon_unfollow($1::bigint, $2::bigint, true)"
        " WHERE " NGX_HTTP_MASTODON_REL_SQL_VISIBLE, 2);

/* RemoveFromFollowersService: the account's follow of the user; the
 * user's statuses leave a local former follower's feed */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_remove_follower_stmt =
    ngx_http_mastodon_pg_stmt(
        "WITH del AS (DELETE FROM follows"
        "  WHERE account_id = $2::bigint AND target_account_id = $1::bigint"
        "  AND " NGX_HTTP_MASTODON_REL_SQL_VISIBLE
        "  RETURNING id, account_id, target_account_id, uri),"
        " pins AS (DELETE FROM account_pins p USING del"
        "  WHERE p.account_id = del.account_id"
        "  AND p.target_account_id = del.target_account_id),"
        " nd AS (DELETE FROM notifications n USING del"
        "  WHERE n.activity_type = 'Follow' AND n.activity_id = del.id),"
        " d AS (SELECT account_id, -1 AS following, 0 AS followers FROM del"
        "  UNION ALL SELECT target_account_id, 0, -1 FROM del),"
        " st AS (" NGX_HTTP_MASTODON_REL_SQL_STATS "),"
        " ob AS (" NGX_HTTP_MASTODON_OUTBOX_SQL(
        NGX_HTTP_MASTODON_OUTBOX_FEED("feed_unmerge", "del.account_id",
        "del.target_account_id") " FROM del JOIN accounts fa"
        " ON fa.id = del.account_id AND fa.domain IS NULL"
        " UNION ALL " NGX_HTTP_MASTODON_OUTBOX_AP("reject", "del",
        "target_account_id", "account_id")) ")"
        " SELECT id FROM del", 2);

/*
 * FollowRequest#authorize!: $2 asked $1; the follow takes its options
 * (feed_merge for a local requester, in the macro).
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_authorize_stmt =
    ngx_http_mastodon_pg_stmt(NGX_HTTP_MASTODON_REL_SQL_AUTHORIZE_WITH(
        "account_id = $2::bigint AND target_account_id = $1::bigint")
        ", st AS (" NGX_HTTP_MASTODON_REL_SQL_STATS ")"
        " SELECT id FROM ins", 2);

/* the request and its follow_request notification */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_reject_stmt =
    ngx_http_mastodon_pg_stmt(
        "WITH req AS (DELETE FROM follow_requests"
        "  WHERE account_id = $2::bigint AND target_account_id = $1::bigint"
        "  RETURNING id, account_id, target_account_id, uri),"
        " ob AS (" NGX_HTTP_MASTODON_OUTBOX_SQL(
        NGX_HTTP_MASTODON_OUTBOX_AP("reject", "req", "target_account_id",
        "account_id")) ")"
        " DELETE FROM notifications n USING req"
        " WHERE n.activity_type = 'FollowRequest' AND n.activity_id = req.id",
        2);


/* the accounts a user's blocks and mutes leave out of lists ($5) */
#define NGX_HTTP_MASTODON_FOLLOWS_NOT_EXCLUDED                                \
    " AND ($5::bigint IS NULL OR NOT EXISTS (SELECT 1 FROM blocks b"          \
    "  WHERE b.account_id = $5 AND b.target_account_id = a.id"                \
    "  OR b.account_id = a.id AND b.target_account_id = $5)"                  \
    " AND NOT EXISTS (SELECT 1 FROM mutes m"                                  \
    "  WHERE m.account_id = $5 AND m.target_account_id = a.id"                \
    "  AND (m.expires_at IS NULL"                                             \
    "       OR m.expires_at > (now() AT TIME ZONE 'UTC'))))"

/* $1 the account, $2 the user: hidden when suspended, hidden by its owner
 * (hide_collections) from others, or when it blocks the user */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_follows_check =
    ngx_http_mastodon_pg_stmt(
        "SELECT a.suspended_at IS NOT NULL"
        " OR (coalesce(a.hide_collections, false)"
        "     AND $2::bigint IS DISTINCT FROM a.id)"
        " OR ($2 IS NOT NULL AND EXISTS (SELECT 1 FROM blocks b"
        "     WHERE b.account_id = a.id AND b.target_account_id = $2))"
        " FROM accounts a WHERE a.id = $1::bigint", 2);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_followers_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT " NGX_HTTP_MASTODON_ACCOUNT_COLUMNS ", f.id"
        NGX_HTTP_MASTODON_ACCOUNT_FROM
        " JOIN follows f ON f.account_id = a.id"
        " WHERE f.target_account_id = $1::bigint"
        " AND ($2::bigint IS NULL OR f.id < $2)"
        " AND ($3::bigint IS NULL OR f.id > $3)"
        NGX_HTTP_MASTODON_FOLLOWS_NOT_EXCLUDED
        " ORDER BY f.id DESC LIMIT $4::bigint", 5);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_following_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT " NGX_HTTP_MASTODON_ACCOUNT_COLUMNS ", f.id"
        NGX_HTTP_MASTODON_ACCOUNT_FROM
        " JOIN follows f ON f.target_account_id = a.id"
        " WHERE f.account_id = $1::bigint"
        " AND ($2::bigint IS NULL OR f.id < $2)"
        " AND ($3::bigint IS NULL OR f.id > $3)"
        NGX_HTTP_MASTODON_FOLLOWS_NOT_EXCLUDED
        " ORDER BY f.id DESC LIMIT $4::bigint", 5);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_follow_requests_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT " NGX_HTTP_MASTODON_ACCOUNT_COLUMNS ", r.id"
        NGX_HTTP_MASTODON_ACCOUNT_FROM
        " JOIN follow_requests r ON r.account_id = a.id"
        " WHERE r.target_account_id = $1::bigint AND a.suspended_at IS NULL"
        " AND ($2::bigint IS NULL OR r.id < $2)"
        " AND ($3::bigint IS NULL OR r.id > $3)"
        " ORDER BY r.id DESC LIMIT $4::bigint", 4);


static ngx_http_mastodon_rel_list_t  ngx_http_mastodon_followers_list = {
    &ngx_http_mastodon_follows_check, &ngx_http_mastodon_followers_stmt,
    "/api/v1/accounts/%L/followers", 0, 0
};

static ngx_http_mastodon_rel_list_t  ngx_http_mastodon_following_list = {
    &ngx_http_mastodon_follows_check, &ngx_http_mastodon_following_stmt,
    "/api/v1/accounts/%L/following", 0, 0
};

static ngx_http_mastodon_rel_list_t  ngx_http_mastodon_follow_requests_list = {
    NULL, &ngx_http_mastodon_follow_requests_stmt,
    "/api/v1/follow_requests", 0, 0
};


/*
 * languages[]: NULL when not given (or null), else a PostgreSQL array
 * literal; *invalid when a code is not a language (LanguageValidator).
 */
static const char *
ngx_http_mastodon_follow_languages(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_uint_t *invalid)
{
    u_char         *p, *list;
    size_t          i;
    ngx_uint_t      n;
    mstdn_value_t  *v, *first, one;

    *invalid = 0;

    v = mstdn_object_get(ctx->params, "languages");

    if (v == NULL || v->type == MSTDN_NULL) {
        return NULL;
    }

    if (v->type == MSTDN_ARRAY) {
        first = v->first;

    } else {
        one = *v;
        one.next = NULL;
        first = &one;
    }

    n = 0;
    for (v = first; v; v = v->next) {
        if (++n > NGX_HTTP_MASTODON_FOLLOW_MAX_LANGUAGES) {
            *invalid = 1;
            return NULL;
        }
    }

    list = ngx_pnalloc(r->pool, 3 + n * 9);
    if (list == NULL) {
        return NULL;
    }

    p = list;
    *p++ = '{';

    for (v = first; v; v = v->next) {

        /* ISO 639 codes as Mastodon knows them: en, ast, zh-TW */
        if (v->type != MSTDN_STRING || v->len < 2 || v->len > 8) {
            *invalid = 1;
            return NULL;
        }

        for (i = 0; i < v->len; i++) {
            if (!((v->str[i] >= 'a' && v->str[i] <= 'z')
                  || (i >= 3 && v->str[i] >= 'A' && v->str[i] <= 'Z')
                  || (i >= 2 && v->str[i] == '-' && i + 1 < v->len)))
            {
                *invalid = 1;
                return NULL;
            }
        }

        if (p - list > 1) {
            *p++ = ',';
        }
        p = ngx_cpymem(p, v->str, v->len);
    }

    *p++ = '}';
    *p = '\0';

    return (const char *) list;
}


static const char *
ngx_http_mastodon_follow_bool(ngx_http_mastodon_ctx_t *ctx, const char *key)
{
    switch (mstdn_param_bool(ctx->params, key, -1)) {
    case -1:
        return NULL;                /* not given: unchanged, or the default */
    case 0:
        return "f";
    default:
        return "t";
    }
}


/* POST /api/v1/accounts/:id/follow */
ngx_int_t
ngx_http_mastodon_follow(ngx_http_request_t *r, ngx_http_mastodon_ctx_t *ctx)
{
    ngx_int_t                         rc;
    ngx_uint_t                        invalid;
    ngx_http_mastodon_rel_write_t    *w;

    rc = ngx_http_mastodon_rel_write(r, ctx, NGX_HTTP_MASTODON_REL_VISIBLE
                                             | NGX_HTTP_MASTODON_REL_FOLLOW,
                                     6, &w);
    if (rc != NGX_OK) {
        return rc;
    }

    w->values[2] = ngx_http_mastodon_follow_bool(ctx, "reblogs");
    w->values[3] = ngx_http_mastodon_follow_bool(ctx, "notify");
    w->values[4] = ngx_http_mastodon_follow_languages(r, ctx, &invalid);
    w->values[5] = w->values[4] ? "t" : "f";

    if (invalid) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: follow with invalid languages");
        ctx->error_message = "Validation failed: Languages is invalid";
        return 422;
    }

    if (ngx_http_mastodon_rel_write_add(w, &ngx_http_mastodon_rel_ensure_stats)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mastodon_rel_write_add(w, &ngx_http_mastodon_follow_stmt)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_rel_write_run(w);
}


static ngx_int_t
ngx_http_mastodon_follows_write(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_uint_t flags,
    ngx_http_mastodon_pg_stmt_t *stmt, ngx_uint_t counters)
{
    ngx_int_t                       rc;
    ngx_http_mastodon_rel_write_t  *w;

    rc = ngx_http_mastodon_rel_write(r, ctx, flags, 2, &w);
    if (rc != NGX_OK) {
        return rc;
    }

    if (counters
        && ngx_http_mastodon_rel_write_add(w,
                                     &ngx_http_mastodon_rel_ensure_stats)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mastodon_rel_write_add(w, stmt) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_rel_write_run(w);
}


/* POST /api/v1/accounts/:id/unfollow */
ngx_int_t
ngx_http_mastodon_unfollow(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_follows_write(r, ctx,
                                           NGX_HTTP_MASTODON_REL_VISIBLE,
                                           &ngx_http_mastodon_unfollow_stmt,
                                           1);
}


/* POST /api/v1/accounts/:id/remove_from_followers */
ngx_int_t
ngx_http_mastodon_remove_from_followers(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_follows_write(r, ctx,
                                    NGX_HTTP_MASTODON_REL_VISIBLE,
                                    &ngx_http_mastodon_remove_follower_stmt,
                                    1);
}


/*
 * POST /api/v1/follow_requests/:account_id/authorize: 404 without a
 * request.  The requester is told by federation (Accept) only; the user's
 * follow_request notification goes with the request, as on reject.
 */
ngx_int_t
ngx_http_mastodon_follow_request_authorize(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_follows_write(r, ctx,
                                           NGX_HTTP_MASTODON_REL_REQUESTED,
                                           &ngx_http_mastodon_authorize_stmt,
                                           1);
}


/* POST /api/v1/follow_requests/:account_id/reject */
ngx_int_t
ngx_http_mastodon_follow_request_reject(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_follows_write(r, ctx,
                                           NGX_HTTP_MASTODON_REL_REQUESTED,
                                           &ngx_http_mastodon_reject_stmt,
                                           0);
}


/* GET /api/v1/accounts/:id/followers */
ngx_int_t
ngx_http_mastodon_followers(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_rel_list(r, ctx,
                                      &ngx_http_mastodon_followers_list);
}


/* GET /api/v1/accounts/:id/following */
ngx_int_t
ngx_http_mastodon_following(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_rel_list(r, ctx,
                                      &ngx_http_mastodon_following_list);
}


/* GET /api/v1/follow_requests */
ngx_int_t
ngx_http_mastodon_follow_requests(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_rel_list(r, ctx,
                                      &ngx_http_mastodon_follow_requests_list);
}
