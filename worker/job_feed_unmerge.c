/* feed_unmerge: after an unfollow, block or mute, the target's statuses out
 * of the account's home feed.
 * args {"account_id": "<reader>", "target_account_id": "<target>", "clear": true|false},
 * or {"account_id": "<reader>", "tag_id": "<tag>"} after a tag's unfollow.
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
 * memberships; blocked and muted accounts are left out of a rebuild).
 *
 * With tag_id (Mastodon's unmerge_tag_from_home, TagUnmergeWorker): the
 * feed's statuses tagged with it, silently, except the reader's own, those
 * of accounts it follows and those with another tag it still follows: only
 * what came through the tag.  Lists never hold tag statuses. */
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

/* $1 the feed's ids, $2 the reader, $3 the tag no longer followed */
static const char tag_in_feed_sql[] =
    "SELECT s.id, coalesce(s.reblog_of_id::text, '') FROM statuses s"
    " JOIN statuses_tags st ON st.status_id = s.id AND st.tag_id = $3::bigint"
    " WHERE s.id = ANY ($1::bigint[]) AND s.account_id <> $2::bigint"
    " AND NOT EXISTS (SELECT 1 FROM follows f WHERE f.account_id = $2::bigint"
    "                 AND f.target_account_id = s.account_id)"
    " AND NOT EXISTS (SELECT 1 FROM statuses_tags o JOIN tag_follows tf"
    "                 ON tf.tag_id = o.tag_id AND tf.account_id = $2::bigint"
    "                 WHERE o.status_id = s.id)";

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

/* The members of the account's home feed that `sql` ($1 the ids, then
 * p2, p3) picks out of it, removed (with `delete` events when clear);
 * `what` names them in the log. */
static int feed_remove(job_ctx *ctx, PGconn *db, const char *sql, const char *p2,
                       const char *p3, int clear, const char *account, const char *what,
                       char *err, size_t errlen)
{
    redisContext *c = *ctx->redis;
    char feed[64];

    snprintf(feed, sizeof(feed), FEED_PREFIX "%s", account);
    char *ids = feed_members(c, feed, err, errlen);
    if (ids == NULL)
        return -1;
    const char *params[3] = { ids, p2, p3 };
    PGresult *res = db_query(db, sql, 3, params, PGRES_TUPLES_OK, err, errlen);
    free(ids);
    if (res == NULL)
        return -1;
    long long removed;
    int rc = feed_write_rows(c, FEED_REMOVE, clear, ctx->cfg->feed_max, account, res, &removed,
                             err, errlen);
    if (rc == 0)
        mlog(LOG_INFO, "feed_unmerge: %lld status(es) of %s out of the feed of %s",
             removed, what, account);
    PQclear(res);
    return rc;
}

static int unmerge(job_ctx *ctx, PGconn *db, const job_args *a, const char *account,
                   const char *target, char *err, size_t errlen)
{
    int clear = args_true(a, "clear");

    if (list_feeds_drop(*ctx->redis, db, account, NULL, err, errlen) != 0)
        return -1;
    return feed_remove(ctx, db, in_feed_sql, target, clear ? "t" : "f", clear, account,
                       target, err, errlen);
}

/* {"account_id", "tag_id"}: what came through the tag goes */
static int unmerge_tag(job_ctx *ctx, const job_args *a, char *err, size_t errlen)
{
    char account[MW_ID_LEN], tag[MW_ID_LEN];

    if (args_id(a, "account_id", account) != 1 || args_id(a, "tag_id", tag) != 1) {
        snprintf(err, errlen, "args need account_id and tag_id (id strings)");
        return -1;
    }
    PGconn *db = job_db(ctx, err, errlen);
    if (db == NULL)
        return -1;
    return feed_remove(ctx, db, tag_in_feed_sql, account, tag, 0, account, "a tag", err,
                       errlen);
}

int job_feed_unmerge(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen)
{
    job_args a;

    if (args_parse(&a, args_json, len, err, errlen) != 0)
        return -1;
    int tag = args_has(&a, "tag_id");
    int rc = tag ? unmerge_tag(ctx, &a, err, errlen) : 0;
    args_free(&a);
    if (tag)
        return rc;
    return job_account_pair(ctx, args_json, len, unmerge, err, errlen);
}
