/* feed_unmerge: after an unfollow, block or mute, the target's statuses out
 * of the account's home feed.
 * args {"account_id": "<reader>", "target_account_id": "<target>", "clear": true|false}.
 *
 * Without clear (an unfollow: Mastodon's unmerge_from_home): the statuses
 * the target posted or reblogged, silently.  With "clear": true (a block or
 * mute: Mastodon's clear_from_home) also reblogs of the target's statuses
 * and statuses mentioning the target, with `delete` events.  The feed's
 * members (at most feed_max) are looked up in PostgreSQL, rather than all
 * the target's statuses.
 *
 * The account's list feeds are dropped, to be rebuilt from PostgreSQL on
 * their next read (the follow's end already ended the target's list
 * memberships; blocked and muted accounts are left out of a rebuild). */
#include "jobs.h"
#include "args.h"
#include "db.h"
#include "feed.h"
#include "list_feeds.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char in_feed_sql[] =
    "SELECT s.id, coalesce(s.reblog_of_id::text, '') FROM statuses s"
    " WHERE s.id = ANY ($1::bigint[]) AND (s.account_id = $2::bigint OR $3::bool AND ("
    "   EXISTS (SELECT 1 FROM statuses o WHERE o.id = s.reblog_of_id AND o.account_id = $2::bigint)"
    "   OR EXISTS (SELECT 1 FROM mentions m WHERE m.status_id IN (s.id, s.reblog_of_id)"
    "              AND m.account_id = $2::bigint AND NOT m.silent)))";

/* The feed's members as a PostgreSQL array text, malloc'd; NULL + err. */
static char *feed_members(redisContext *c, const char *feed, char *err, size_t errlen)
{
    redisReply *r = redisCommand(c, "ZRANGE %s 0 -1", feed);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        snprintf(err, errlen, "redis: ZRANGE: %s", r == NULL ? c->errstr : "unexpected reply");
        freeReplyObject(r);
        return NULL;
    }
    size_t cap = 3 + r->elements * 21, used = 0;
    char *ids = malloc(cap);
    if (ids != NULL) {
        ids[used++] = '{';
        for (size_t i = 0; i < r->elements; i++) {
            const char *m = r->element[i]->str;
            size_t n = m != NULL ? strlen(m) : 0;
            if (n == 0 || n > 19 || strspn(m, "0123456789") != n)
                continue;
            if (used > 1)
                ids[used++] = ',';
            memcpy(ids + used, m, n);
            used += n;
        }
        ids[used++] = '}';
        ids[used] = '\0';
    } else {
        snprintf(err, errlen, "out of memory");
    }
    freeReplyObject(r);
    return ids;
}

static int unmerge(job_ctx *ctx, PGconn *db, const job_args *a, const char *account,
                   const char *target, char *err, size_t errlen)
{
    redisContext *c = *ctx->redis;
    int clear = args_true(a, "clear");
    char feed[64];

    if (list_feeds_drop(c, db, account, NULL, err, errlen) != 0)
        return -1;

    snprintf(feed, sizeof(feed), FEED_PREFIX "%s", account);
    char *ids = feed_members(c, feed, err, errlen);
    if (ids == NULL)
        return -1;
    const char *params[3] = { ids, target, clear ? "t" : "f" };
    PGresult *res = db_query(db, in_feed_sql, 3, params, PGRES_TUPLES_OK, err, errlen);
    free(ids);
    if (res == NULL)
        return -1;
    long long removed;
    int rc = feed_write_rows(c, FEED_REMOVE, clear, ctx->cfg->feed_max, account, res, &removed,
                             err, errlen);
    if (rc == 0)
        mlog(LOG_INFO, "feed_unmerge: %lld status(es) of %s out of the feed of %s",
             removed, target, account);
    PQclear(res);
    return rc;
}

int job_feed_unmerge(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen)
{
    return job_account_pair(ctx, args_json, len, unmerge, err, errlen);
}
