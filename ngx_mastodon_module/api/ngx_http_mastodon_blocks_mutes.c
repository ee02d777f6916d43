/*
 * Blocks and mutes: POST /api/v1/accounts/:id/block, /unblock, /mute,
 * /unmute; GET /api/v1/blocks, GET /api/v1/mutes (MutedAccount).
 *
 * As Mastodon's BlockService, a block ends the follows both ways (with
 * their endorsements and counters) and the pending follow requests both
 * ways; blocking or muting oneself does nothing.  A mute lasts `duration`
 * seconds (0: for ever) and hides notifications unless notifications=false.
 */

#include "ngx_http_mastodon_api.h"


/* longer is "for ever" anyway; keeps the timestamp in range */
#define NGX_HTTP_MASTODON_MUTE_MAX_DURATION  (100LL * 366 * 86400)


/*
 * The other side is told by federation (Block activity), later.  The
 * notifications of the follows and requests ended go with them, and
 * AfterBlockService's: every notification the account gave the user.
 * AfterBlockService clears the account's statuses from the user's feed
 * (feed_unmerge when the block is new or the user followed it); the
 * account's unfollow (BlockService) clears the user's from a local
 * account's feed.
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_block_stmt =
    ngx_http_mastodon_pg_stmt(
        "WITH ok AS (SELECT 1 WHERE $1::bigint <> $2::bigint"
        "  AND " NGX_HTTP_MASTODON_REL_SQL_VISIBLE "),"
        " del AS (DELETE FROM follows f USING ok"
        "  WHERE f.account_id = $1 AND f.target_account_id = $2"
        "  OR f.account_id = $2 AND f.target_account_id = $1"
        "  RETURNING f.id, f.account_id, f.target_account_id),"
        " pins AS (DELETE FROM account_pins p USING del"
        "  WHERE p.account_id = del.account_id"
        "  AND p.target_account_id = del.target_account_id),"
        " req AS (DELETE FROM follow_requests r USING ok"
        "  WHERE r.account_id = $1 AND r.target_account_id = $2"
        "  OR r.account_id = $2 AND r.target_account_id = $1"
        "  RETURNING r.id),"
        " blk AS (INSERT INTO blocks (account_id, target_account_id)"
        "  SELECT $1, $2 FROM ok"
        "  ON CONFLICT (account_id, target_account_id) DO NOTHING"
        "  RETURNING id, account_id, target_account_id, uri),"
        " nd AS (DELETE FROM notifications n USING ok"
        "  WHERE n.account_id = $1 AND n.from_account_id = $2"
        "  OR n.activity_type = 'Follow'"
        "  AND n.activity_id IN (SELECT id FROM del)"
        "  OR n.activity_type = 'FollowRequest'"
        "  AND n.activity_id IN (SELECT id FROM req)),"
        " d AS (SELECT account_id, -1 AS following, 0 AS followers FROM del"
        "  UNION ALL SELECT target_account_id, 0, -1 FROM del),"
        " st AS (" NGX_HTTP_MASTODON_REL_SQL_STATS "),"
        " ob AS (" NGX_HTTP_MASTODON_OUTBOX_SQL(
        NGX_HTTP_MASTODON_OUTBOX_FEED("feed_unmerge", "$1::bigint",
        "$2::bigint") " WHERE EXISTS (SELECT 1 FROM blk)"
        "  OR EXISTS (SELECT 1 FROM del WHERE account_id = $1)"
        " UNION ALL " NGX_HTTP_MASTODON_OUTBOX_FEED("feed_unmerge",
        "$2::bigint", "$1::bigint")
        " WHERE EXISTS (SELECT 1 FROM del WHERE account_id = $2)"
        "  AND EXISTS (SELECT 1 FROM accounts ba WHERE ba.id = $2"
        "  AND ba.domain IS NULL)"
        " UNION ALL " NGX_HTTP_MASTODON_OUTBOX_AP("block", "blk", "account_id",
        "target_account_id")) ")"
        " SELECT 1", 2);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_unblock_stmt =
    ngx_http_mastodon_pg_stmt(
        "WITH del AS (DELETE FROM blocks"
        "  WHERE account_id = $1::bigint AND target_account_id = $2::bigint"
        "  AND " NGX_HTTP_MASTODON_REL_SQL_VISIBLE
        "  RETURNING id, account_id, target_account_id, uri)"
        " " NGX_HTTP_MASTODON_OUTBOX_SQL(NGX_HTTP_MASTODON_OUTBOX_AP(
        "undo_block", "del", "account_id", "target_account_id")), 2);

/*
 * $3 hide notifications, $4 duration in seconds (0: for ever; below 0
 * an expiry already past, as -5.seconds.from_now in Mastodon).  Hiding
 * notifications deletes the account's (BlockWorker, as MuteService).  The
 * mute written: feed_unmerge (MuteWorker or BlockWorker).
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_mute_stmt =
    ngx_http_mastodon_pg_stmt(
        "WITH m AS (INSERT INTO mutes (account_id, target_account_id,"
        "  hide_notifications, expires_at)"
        " SELECT $1::bigint, $2::bigint, $3::boolean,"
        " CASE WHEN $4::bigint <> 0 THEN (now() AT TIME ZONE 'UTC')"
        "  + make_interval(secs => $4::bigint) END"
        " WHERE $1 <> $2 AND " NGX_HTTP_MASTODON_REL_SQL_VISIBLE
        " ON CONFLICT (account_id, target_account_id) DO UPDATE SET"
        " hide_notifications = excluded.hide_notifications,"
        " expires_at = excluded.expires_at,"
        " updated_at = now() AT TIME ZONE 'UTC'"
        " RETURNING hide_notifications),"
        " nd AS (DELETE FROM notifications n"
        "  WHERE n.account_id = $1 AND n.from_account_id = $2"
        "  AND EXISTS (SELECT 1 FROM m WHERE m.hide_notifications)),"
        " ob AS (" NGX_HTTP_MASTODON_OUTBOX_SQL(
        NGX_HTTP_MASTODON_OUTBOX_FEED("feed_unmerge", "$1::bigint",
        "$2::bigint") " FROM m") ")"
        " SELECT hide_notifications FROM m", 4);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_unmute_stmt =
    ngx_http_mastodon_pg_stmt(
        "DELETE FROM mutes"
        " WHERE account_id = $1::bigint AND target_account_id = $2::bigint"
        " AND " NGX_HTTP_MASTODON_REL_SQL_VISIBLE, 2);


static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_blocks_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT " NGX_HTTP_MASTODON_ACCOUNT_COLUMNS ", b.id"
        NGX_HTTP_MASTODON_ACCOUNT_FROM
        " JOIN blocks b ON b.target_account_id = a.id"
        " WHERE b.account_id = $1::bigint AND a.suspended_at IS NULL"
        " AND ($2::bigint IS NULL OR b.id < $2)"
        " AND ($3::bigint IS NULL OR b.id > $3)"
        " ORDER BY b.id DESC LIMIT $4::bigint", 4);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_mutes_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT " NGX_HTTP_MASTODON_ACCOUNT_COLUMNS ", m.id,"
        " to_char(m.expires_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
        NGX_HTTP_MASTODON_ACCOUNT_FROM
        " JOIN mutes m ON m.target_account_id = a.id"
        " WHERE m.account_id = $1::bigint AND a.suspended_at IS NULL"
        " AND (m.expires_at IS NULL"
        "      OR m.expires_at > (now() AT TIME ZONE 'UTC'))"
        " AND ($2::bigint IS NULL OR m.id < $2)"
        " AND ($3::bigint IS NULL OR m.id > $3)"
        " ORDER BY m.id DESC LIMIT $4::bigint", 4);


static ngx_http_mastodon_rel_list_t  ngx_http_mastodon_blocks_list = {
    NULL, &ngx_http_mastodon_blocks_stmt, "/api/v1/blocks", 0, 0
};

static ngx_http_mastodon_rel_list_t  ngx_http_mastodon_mutes_list = {
    NULL, &ngx_http_mastodon_mutes_stmt, "/api/v1/mutes", 0, 1
};


static ngx_int_t
ngx_http_mastodon_blocks_mutes_write(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_pg_stmt_t *stmt,
    ngx_uint_t counters)
{
    ngx_int_t                       rc;
    ngx_http_mastodon_rel_write_t  *w;

    rc = ngx_http_mastodon_rel_write(r, ctx, NGX_HTTP_MASTODON_REL_VISIBLE, 2,
                                     &w);
    if (rc != NGX_OK) {
        return rc;
    }

    if ((counters
         && ngx_http_mastodon_rel_write_add(w,
                                     &ngx_http_mastodon_rel_ensure_stats)
            != NGX_OK)
        || ngx_http_mastodon_rel_write_add(w, stmt) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_rel_write_run(w);
}


/* POST /api/v1/accounts/:id/block */
ngx_int_t
ngx_http_mastodon_block(ngx_http_request_t *r, ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_blocks_mutes_write(r, ctx,
                                                &ngx_http_mastodon_block_stmt,
                                                1);
}


/* POST /api/v1/accounts/:id/unblock */
ngx_int_t
ngx_http_mastodon_unblock(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_blocks_mutes_write(r, ctx,
                                              &ngx_http_mastodon_unblock_stmt,
                                              0);
}


/*
 * params[:duration].to_i: white space, a sign, leading digits; anything
 * else 0.  A negative duration is an expiry in the past (a mute that has
 * already ended), never a permanent one.
 */
static int64_t
ngx_http_mastodon_mute_duration(ngx_http_mastodon_ctx_t *ctx)
{
    size_t       len, i;
    int64_t      n, sign;
    const char  *s;

    s = mstdn_param_str(ctx->params, "duration", &len);
    if (s == NULL) {
        return 0;
    }

    i = 0;
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n')) {
        i++;
    }

    sign = 1;

    if (i < len && (s[i] == '+' || s[i] == '-')) {
        sign = (s[i] == '-') ? -1 : 1;
        i++;
    }

    for (n = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        n = n * 10 + (s[i] - '0');

        if (n > NGX_HTTP_MASTODON_MUTE_MAX_DURATION) {
            n = NGX_HTTP_MASTODON_MUTE_MAX_DURATION;
            break;
        }
    }

    return sign * n;
}


/* POST /api/v1/accounts/:id/mute */
ngx_int_t
ngx_http_mastodon_mute(ngx_http_request_t *r, ngx_http_mastodon_ctx_t *ctx)
{
    ngx_int_t                       rc;
    ngx_http_mastodon_rel_write_t  *w;

    rc = ngx_http_mastodon_rel_write(r, ctx, NGX_HTTP_MASTODON_REL_VISIBLE, 4,
                                     &w);
    if (rc != NGX_OK) {
        return rc;
    }

    w->values[2] = mstdn_param_bool(ctx->params, "notifications", 1) ? "t"
                                                                     : "f";
    w->values[3] = ngx_http_mastodon_pg_int64(r,
                                        ngx_http_mastodon_mute_duration(ctx));

    if (w->values[3] == NULL
        || ngx_http_mastodon_rel_write_add(w, &ngx_http_mastodon_mute_stmt)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_rel_write_run(w);
}


/* POST /api/v1/accounts/:id/unmute */
ngx_int_t
ngx_http_mastodon_unmute(ngx_http_request_t *r, ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_blocks_mutes_write(r, ctx,
                                               &ngx_http_mastodon_unmute_stmt,
                                               0);
}


/* GET /api/v1/blocks */
ngx_int_t
ngx_http_mastodon_blocks(ngx_http_request_t *r, ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_rel_list(r, ctx, &ngx_http_mastodon_blocks_list);
}


/* GET /api/v1/mutes */
ngx_int_t
ngx_http_mastodon_mutes(ngx_http_request_t *r, ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_rel_list(r, ctx, &ngx_http_mastodon_mutes_list);
}
