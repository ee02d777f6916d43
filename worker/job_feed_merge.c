/* feed_merge: after a follow, the followed account's recent statuses into
 * the follower's home feed (Mastodon's FeedManager#merge_into_home).
 * args {"account_id": "<follower>", "target_account_id": "<followed>"}.
 *
 * Only when the follower's feed exists (a missing one is rebuilt by the
 * module on the next read, and that includes the new follow).  The newest
 * feed_max / 4 public, unlisted and private statuses of the target, newer
 * than the feed's oldest when the feed holds at least that many, that
 * mastodon_home_accepts() lets into the feed (as the fan-out does), but a
 * big account's merged on read (from its switch on, as the fan-out skips
 * them: a merge running late must not push them).  No events: Mastodon
 * sends none either. */
#include "jobs.h"
#include "args.h"
#include "db.h"
#include "feed.h"
#include "log.h"
#include "redis.h"

#include <stdio.h>
#include <string.h>

static const char statuses_sql[] =
    "SELECT s.id, coalesce(s.reblog_of_id::text, '') FROM follows f"
    " JOIN statuses s ON s.account_id = f.target_account_id"
    " LEFT JOIN statuses o ON o.id = s.reblog_of_id"
    " LEFT JOIN accounts oa ON oa.id = o.account_id"
    " CROSS JOIN LATERAL mastodon_home_accepts($1::bigint, f.languages, f.show_reblogs,"
    "   s.id, s.account_id, s.visibility, s.reply, s.in_reply_to_id, s.in_reply_to_account_id,"
    "   s.language, s.reblog_of_id, o.account_id, oa.domain)"
    " WHERE f.account_id = $1::bigint AND f.target_account_id = $2::bigint"
    "   AND s.deleted_at IS NULL AND s.visibility IN (0, 1, 2) AND s.id > $3::bigint"
    "   AND (o.id IS NULL OR o.deleted_at IS NULL)"
    /* a big account's statuses from its switch on are merged on read */
    "   AND NOT EXISTS (SELECT 1 FROM feed_big_accounts b"
    "                    WHERE b.account_id = $2::bigint AND s.id >= b.since_status_id)"
    " ORDER BY s.id DESC LIMIT $4::int";

/* How far back to merge: everything when the feed holds fewer than limit
 * statuses, else only what is newer than its oldest (rank 0 is the
 * sentinel when there is one). */
static int oldest_kept(redisContext *c, const char *feed, long limit, char out[32],
                       char *err, size_t errlen)
{
    redisReply *r = redisCommand(c, "ZRANGE %s 0 1 WITHSCORES", feed);
    redisReply *n = r != NULL ? redisCommand(c, "ZCARD %s", feed) : NULL;
    int rc = -1;

    snprintf(out, 32, "0");
    if (r == NULL || n == NULL) {
        snprintf(err, errlen, "redis: %s", c->errstr);
    } else if (r->type != REDIS_REPLY_ARRAY || n->type != REDIS_REPLY_INTEGER) {
        snprintf(err, errlen, "redis: feed %s: unexpected reply", feed);
    } else {
        size_t first = r->elements >= 2 && strcmp(r->element[0]->str, "0") == 0 ? 2 : 0;
        long long held = n->integer - (first == 2);
        if (held >= limit && r->elements >= first + 2)
            snprintf(out, 32, "%s", r->element[first]->str);
        rc = 0;
    }
    freeReplyObject(r);
    freeReplyObject(n);
    return rc;
}

static int merge(job_ctx *ctx, PGconn *db, const job_args *a, const char *account,
                 const char *target, char *err, size_t errlen)
{
    redisContext *c = *ctx->redis;
    char feed[64], since[32], limit[24];
    long lim = ctx->cfg->feed_max / 4;

    snprintf(feed, sizeof(feed), FEED_PREFIX "%s", account);
    redisReply *r = redisCommand(c, "EXISTS %s", feed);
    if (r == NULL) {
        snprintf(err, errlen, "redis: %s", c->errstr);
        return -1;
    }
    int exists = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    freeReplyObject(r);
    if (!exists) {
        mlog(LOG_DEBUG, "feed_merge: no home feed for %s, nothing to do", account);
        return 0;
    }
    if (oldest_kept(c, feed, lim, since, err, errlen) != 0)
        return -1;

    snprintf(limit, sizeof(limit), "%ld", lim);
    const char *params[4] = { account, target, since, limit };
    PGresult *res = db_query(db, statuses_sql, 4, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return -1;
    long long added;
    int rc = feed_write_rows(c, FEED_ADD, 0, ctx->cfg->feed_max, account, res, &added, err, errlen);
    if (rc == 0)
        mlog(LOG_INFO, "feed_merge: %lld of %d status(es) of %s into the feed of %s",
             added, PQntuples(res), target, account);
    PQclear(res);
    return rc;
}

int job_feed_merge(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen)
{
    return job_account_pair(ctx, args_json, len, merge, err, errlen);
}
