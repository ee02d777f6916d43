/* feed_merge: after a follow, the followed account's recent statuses into
 * the follower's home feed (Mastodon's FeedManager#merge_into_home).
 * args {"account_id": "<follower>", "target_account_id": "<followed>"}.
 *
 * Only when the follower's feed exists (a missing one is rebuilt by the
 * module on the next read, and that includes the new follow).  The newest
 * feed_max / 4 public, unlisted and private statuses of the target, newer
 * than the feed's oldest when the feed holds at least that many, filtered
 * as the fan-out filters (recipients.c: the same rules, written for one
 * reader and many statuses).  No events: Mastodon sends none either. */
#include "jobs.h"
#include "args.h"
#include "db.h"
#include "feed.h"
#include "log.h"
#include "redis.h"

#include <stdio.h>
#include <string.h>

#define HIDDEN_BY_ANY                                                                     \
    " (s.account_id, o.account_id) OR x.target_account_id IN (SELECT m.account_id FROM mentions m" \
    "   WHERE m.status_id IN (s.id, s.reblog_of_id) AND NOT m.silent)))"

static const char statuses_sql[] =
    "SELECT s.id, coalesce(s.reblog_of_id::text, '') FROM statuses s"
    " LEFT JOIN statuses o ON o.id = s.reblog_of_id"
    " LEFT JOIN accounts oa ON oa.id = o.account_id"
    " WHERE s.account_id = $2::bigint AND s.deleted_at IS NULL AND s.visibility IN (0, 1, 2)"
    "   AND s.id > $3::bigint AND (o.id IS NULL OR o.deleted_at IS NULL)"
    "   AND NOT (s.reply AND (s.in_reply_to_id IS NULL OR s.in_reply_to_account_id IS NULL))"
    "   AND NOT EXISTS (SELECT 1 FROM follows lf WHERE lf.account_id = $1::bigint"
    "                   AND lf.target_account_id = s.account_id AND cardinality(lf.languages) > 0"
    "                   AND coalesce(s.language, '') <> '' AND NOT s.language = ANY (lf.languages))"
    "   AND NOT EXISTS (SELECT 1 FROM blocks x WHERE x.account_id = $1::bigint"
    "                   AND (x.target_account_id IN" HIDDEN_BY_ANY
    "   AND NOT EXISTS (SELECT 1 FROM mutes x WHERE x.account_id = $1::bigint"
    "                   AND (x.expires_at IS NULL OR x.expires_at > now() AT TIME ZONE 'UTC')"
    "                   AND (x.target_account_id IN" HIDDEN_BY_ANY
    "   AND (NOT s.reply OR s.in_reply_to_account_id IN ($1::bigint, s.account_id)"
    "        OR EXISTS (SELECT 1 FROM follows rf WHERE rf.account_id = $1::bigint"
    "                   AND rf.target_account_id = s.in_reply_to_account_id))"
    "   AND (s.reblog_of_id IS NULL OR ("
    "        NOT EXISTS (SELECT 1 FROM follows hf WHERE hf.account_id = $1::bigint"
    "                    AND hf.target_account_id = s.account_id AND NOT hf.show_reblogs)"
    "        AND NOT EXISTS (SELECT 1 FROM blocks ob WHERE ob.account_id = o.account_id"
    "                        AND ob.target_account_id = $1::bigint)"
    "        AND (oa.domain IS NULL OR NOT EXISTS (SELECT 1 FROM account_domain_blocks d"
    "                        WHERE d.account_id = $1::bigint AND d.domain = oa.domain))))"
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
