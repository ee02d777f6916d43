/* `mastodon-worker accounts delete USERNAME`: `tootctl accounts delete`,
 * i.e. DeleteAccountService with reserve_email false (the user row goes)
 * and reserve_username true (the account row stays, suspended and emptied,
 * so the name is never taken again and its key still signs the Delete).
 *
 * One transaction: the activitypub_account "delete" job (the Delete of the
 * actor, once to every known host, rendered and signed by the worker from
 * the kept row), the statuses marked deleted with a remove_status job each
 * (feeds, streams, notifications), a feed_unmerge for each local follower
 * (remove_status can no longer walk the follows; mastodon_accounts_sever(),
 * which a domain suspension uses too), then the relationships,
 * favourites, bookmarks, notifications, the user (its tokens, cascading)
 * and the profile.  The user's cached tokens are tombstoned in Redis
 * before the commit, so they are refused at once, and its home feed goes.
 * Its media attachments (but those of reported statuses, as
 * purge_media_attachments! keeps them) are deleted, and their files, the
 * avatar's and the header's go from the storage by media_remove and
 * account_image_remove jobs queued in the same transaction: at least once.
 *
 * An unconfirmed or unapproved local user (nothing federated, nothing in
 * feeds) is removed with its account altogether, as Mastodon does.
 * Remote accounts are not found (Account.find_local): exit 1. */
#include "commands.h"
#include "db.h"
#include "feed.h"
#include "feed_known.h"
#include "jobs.h"
#include "redis.h"

#include <stdio.h>
#include <string.h>

/* the module's token cache (ngx_http_mastodon_auth.c): a tombstone beats
 * any racing fill, and outlives every cached entry */
#define TOKEN_KEY     "mastodon:token:"
#define TOKEN_REVOKED "revoked"
#define TOKEN_TTL     300

static const char find_sql[] =
    "SELECT a.id::text, coalesce(u.id::text, ''),"
    " u.id IS NULL OR (u.confirmed_at IS NOT NULL AND u.approved),"
    " coalesce(s.statuses_count, 0)::text"
    " FROM accounts a LEFT JOIN users u ON u.account_id = a.id"
    " LEFT JOIN account_stats s ON s.account_id = a.id"
    " WHERE lower(a.username) = lower($1) AND a.domain IS NULL AND a.id > 0"
    " FOR UPDATE OF a";

/* the one statement of purge_sql that answers rows */
#define SEVER_SQL "SELECT mastodon_accounts_sever(ARRAY[$1::bigint])"

/* Each with $1 the account, in this order. */
static const char *const purge_sql[] = {
    /* the Delete of the actor, while the row and key are there */
    "INSERT INTO job_outbox (queue, type, args)"
    " SELECT 'push', 'activitypub_account',"
    " json_build_object('account_id', $1::text, 'action', 'delete')::text",

    /* its statuses and their reblogs, as the API's delete does */
    "WITH d AS (UPDATE statuses SET deleted_at = now() AT TIME ZONE 'UTC'"
    "  WHERE deleted_at IS NULL AND (account_id = $1::bigint OR reblog_of_id IN"
    "   (SELECT id FROM statuses WHERE account_id = $1::bigint))"
    "  RETURNING id, account_id, in_reply_to_id, reblog_of_id, visibility),"
    " pins AS (DELETE FROM status_pins WHERE status_id IN (SELECT id FROM d)),"
    " ac AS (UPDATE account_stats a SET statuses_count ="
    "  greatest(0, a.statuses_count - x.n), updated_at = now() AT TIME ZONE 'UTC'"
    "  FROM (SELECT account_id, count(*) AS n FROM d WHERE visibility <> 3"
    "   AND account_id <> $1::bigint GROUP BY account_id) x"
    "  WHERE a.account_id = x.account_id),"
    " rc AS (UPDATE status_stats ss SET"
    "  replies_count = greatest(0, ss.replies_count - x.n)"
    "  FROM (SELECT in_reply_to_id, count(*) AS n FROM d WHERE visibility <= 1"
    "   AND in_reply_to_id IS NOT NULL GROUP BY in_reply_to_id) x"
    "  WHERE ss.status_id = x.in_reply_to_id),"
    " rb AS (UPDATE status_stats ss SET"
    "  reblogs_count = greatest(0, ss.reblogs_count - x.n)"
    "  FROM (SELECT reblog_of_id, count(*) AS n FROM d WHERE reblog_of_id IS NOT NULL"
    "   GROUP BY reblog_of_id) x WHERE ss.status_id = x.reblog_of_id)"
    " INSERT INTO job_outbox (queue, type, args)"
    " SELECT 'default', 'remove_status', json_build_object('status_id', id::text,"
    "  'account_id', account_id::text, 'reblog_of_id', coalesce(reblog_of_id, 0)::text)::text"
    " FROM d WHERE account_id = $1::bigint"
    /* the renderings of those and of the statuses whose counters moved,
     * 16 ids a job (status_forget's limit) */
    " UNION ALL SELECT 'default', 'status_forget', json_build_object('status_ids',"
    "  array_to_json(array_agg(c.id::text)))::text"
    " FROM (SELECT id, (row_number() OVER () - 1) / 16 AS chunk FROM"
    "  (SELECT id FROM d UNION SELECT reblog_of_id FROM d WHERE reblog_of_id IS NOT NULL"
    "   UNION SELECT in_reply_to_id FROM d WHERE in_reply_to_id IS NOT NULL) u) c"
    " GROUP BY c.chunk",

    /* its follows both ways end, out of the local followers' home feeds
     * (as an unfollow), the other side's counters down (sql/0042) */
    SEVER_SQL,
    "DELETE FROM blocks WHERE account_id = $1::bigint OR target_account_id = $1::bigint",
    "DELETE FROM mutes WHERE account_id = $1::bigint OR target_account_id = $1::bigint",
    "DELETE FROM account_pins WHERE account_id = $1::bigint OR target_account_id = $1::bigint",
    "DELETE FROM account_notes WHERE account_id = $1::bigint OR target_account_id = $1::bigint",
    "DELETE FROM conversation_mutes WHERE account_id = $1::bigint",
    "DELETE FROM account_domain_blocks WHERE account_id = $1::bigint",
    "DELETE FROM featured_tags WHERE account_id = $1::bigint",

    "WITH f AS (DELETE FROM favourites WHERE account_id = $1::bigint RETURNING status_id),"
    " u AS (UPDATE status_stats ss SET favourites_count = greatest(0, ss.favourites_count - x.n)"
    "  FROM (SELECT status_id, count(*) AS n FROM f GROUP BY status_id) x"
    "  WHERE ss.status_id = x.status_id)"
    " INSERT INTO job_outbox (queue, type, args)"
    " SELECT 'default', 'status_forget', json_build_object('status_ids',"
    "  array_to_json(array_agg(c.status_id::text)))::text"
    " FROM (SELECT status_id, (row_number() OVER () - 1) / 16 AS chunk FROM"
    "  (SELECT DISTINCT status_id FROM f) x) c GROUP BY c.chunk",
    "DELETE FROM bookmarks WHERE account_id = $1::bigint",
    "DELETE FROM mentions WHERE account_id = $1::bigint",
    "DELETE FROM notifications WHERE account_id = $1::bigint OR from_account_id = $1::bigint",

    /* tokens, grants, applications, markers go with it (foreign keys) */
    "DELETE FROM users WHERE account_id = $1::bigint",

    /* the tombstone: DeleteAccountService#purge_profile! */
    "UPDATE accounts SET suspended_at = now() AT TIME ZONE 'UTC', suspension_origin = 0,"
    " silenced_at = NULL, locked = false, memorial = false, discoverable = false,"
    " trendable = false, display_name = '', note = '', fields = '[]',"
    " moved_to_account_id = NULL, reviewed_at = NULL, requested_review_at = NULL,"
    " also_known_as = '{}', avatar_file_name = NULL, avatar_content_type = NULL,"
    " avatar_file_size = NULL, avatar_updated_at = NULL, header_file_name = NULL,"
    " header_content_type = NULL, header_file_size = NULL, header_updated_at = NULL,"
    " updated_at = now() AT TIME ZONE 'UTC'"
    " WHERE id = $1::bigint",
    "UPDATE account_stats SET statuses_count = 0, followers_count = 0, following_count = 0,"
    " updated_at = now() AT TIME ZONE 'UTC' WHERE account_id = $1::bigint",
};

/* Each with $1 the account, in both cases, before the rows go. */
static const char *const media_sql[] = {
    "WITH d AS (DELETE FROM media_attachments m WHERE m.account_id = $1::bigint"
    "  AND NOT (m.status_id IS NOT NULL AND EXISTS (SELECT 1 FROM reports r"
    "   WHERE r.target_account_id = $1::bigint AND m.status_id = ANY (r.status_ids)))"
    "  RETURNING m.id, m.file_file_name, m.thumbnail_file_name, m.remote_url)"
    " INSERT INTO job_outbox (queue, type, args)"
    " SELECT 'media', 'media_remove', json_build_object('id', d.id::text,"
    "  'file_file_name', d.file_file_name, 'thumbnail_file_name', d.thumbnail_file_name,"
    "  'remote', coalesce(d.remote_url, '') <> '')::text"
    " FROM d WHERE d.file_file_name IS NOT NULL",

    "INSERT INTO job_outbox (queue, type, args)"
    " SELECT 'media', 'account_image_remove', json_build_object('account_id', $1::text,"
    "  'attribute', x.attribute, 'file_name', x.name)::text"
    " FROM accounts a, LATERAL (VALUES ('avatar', a.avatar_file_name),"
    "  ('header', a.header_file_name)) x (attribute, name)"
    " WHERE a.id = $1::bigint AND x.name IS NOT NULL",
};

static int usage(void)
{
    fprintf(stderr, "usage: mastodon-worker accounts delete USERNAME\n");
    return 2;
}

/* In Redis, before the commit: the user's tokens refused now, whatever the
 * module has cached, their streams told to close ("kill"), and the account's home feed gone (FeedManager's
 * clean_feeds!).  Redis unreachable: nothing is deleted. */
static int redis_forget(PGconn *db, const worker_config *cfg, const char *account_id,
                        const char *user_id, char *err, size_t errlen)
{
    const char *params[1] = { user_id[0] != '\0' ? user_id : NULL };
    PGresult *res = db_query(db,
        "SELECT token, id FROM oauth_access_tokens WHERE resource_owner_id = $1::bigint",
        1, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return -1;
    redisContext *c = redis_open(cfg, 0, err, errlen);
    int rc = c != NULL ? 0 : -1;
    /* and each token's open streams closed, as a revocation closes them */
    for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
        rc = redis_do(c, err, errlen, "SET " TOKEN_KEY "%s " TOKEN_REVOKED " EX %d",
                      PQgetvalue(res, i, 0), TOKEN_TTL);
        if (rc == 0)
            rc = redis_do(c, err, errlen, "PUBLISH timeline:access_token:%s {\"event\":\"kill\"}",
                          PQgetvalue(res, i, 1));
    }
    if (rc == 0)
        rc = redis_do(c, err, errlen, "DEL " FEED_PREFIX "%s " FEED_PREFIX "%s:reblogs",
                      account_id, account_id);
    if (rc == 0)
        rc = redis_do(c, err, errlen, "SREM " FEED_ACTIVE_KEY " %s", account_id);
    /* the workers' memory of the set's members is dropped (feed_known.h) */
    if (rc == 0)
        rc = redis_do(c, err, errlen, "INCR " FEED_KNOWN_EPOCH_KEY);
    redis_close(&c);
    PQclear(res);
    return rc;
}

static int purge(PGconn *db, const worker_config *cfg, const char *account_id,
                 const char *user_id, int keep_account, char *err, size_t errlen)
{
    const char *params[1] = { account_id };
    PGresult *res;

    for (size_t i = 0; i < sizeof(media_sql) / sizeof(media_sql[0]); i++) {
        res = db_query(db, media_sql[i], 1, params, PGRES_COMMAND_OK, err, errlen);
        if (res == NULL)
            return -1;
        PQclear(res);
    }
    if (!keep_account) {
        res = db_query(db, "DELETE FROM accounts WHERE id = $1::bigint", 1, params,
                       PGRES_COMMAND_OK, err, errlen);
        PQclear(res);
        return res != NULL ? 0 : -1;
    }
    /* before the user row takes its tokens with it */
    if (redis_forget(db, cfg, account_id, user_id, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < sizeof(purge_sql) / sizeof(purge_sql[0]); i++) {
        res = db_query(db, purge_sql[i], 1, params,
                       strcmp(purge_sql[i], SEVER_SQL) == 0 ? PGRES_TUPLES_OK : PGRES_COMMAND_OK,
                       err, errlen);
        if (res == NULL)
            return -1;
        PQclear(res);
    }
    return 0;
}

int cmd_accounts_delete(worker_config *cfg, int argc, char **argv)
{
    char err[1024], rollback_err[256], account_id[32], user_id[32], statuses[32];
    int keep_account, rc = 1;

    if (argc != 3 || argv[2][0] == '-')
        return usage();
    PGconn *db = db_open(cfg, 0, err, sizeof(err));
    if (db == NULL) {
        fprintf(stderr, "mastodon-worker: %s\n", err);
        return 1;
    }
    if (db_exec(db, "BEGIN", err, sizeof(err)) != 0)
        goto failed;
    const char *params[1] = { argv[2] };
    PGresult *res = db_query(db, find_sql, 1, params, PGRES_TUPLES_OK, err, sizeof(err));
    if (res == NULL)
        goto failed;
    if (PQntuples(res) != 1) {
        PQclear(res);
        snprintf(err, sizeof(err), "No user with such username");
        goto failed;
    }
    snprintf(account_id, sizeof(account_id), "%s", PQgetvalue(res, 0, 0));
    snprintf(user_id, sizeof(user_id), "%s", PQgetvalue(res, 0, 1));
    keep_account = PQgetvalue(res, 0, 2)[0] == 't';
    snprintf(statuses, sizeof(statuses), "%s", PQgetvalue(res, 0, 3));
    PQclear(res);

    printf("Deleting user with %s statuses, this might take a while...\n", statuses);
    fflush(stdout);
    if (purge(db, cfg, account_id, user_id, keep_account, err, sizeof(err)) != 0
        || db_exec(db, "COMMIT", err, sizeof(err)) != 0)
        goto failed;
    /* the rendered account on every node now (the relay will too) */
    redisContext *c = redis_open(cfg, 0, err, sizeof(err));
    cache_forget_publish(c, "account", account_id);
    redis_close(&c);
    printf("OK\n");
    rc = 0;
    goto out;

failed:
    db_exec(db, "ROLLBACK", rollback_err, sizeof(rollback_err));   /* err tells why */
    fprintf(stderr, "mastodon-worker: accounts delete: %s\n", err);
out:
    PQfinish(db);
    return rc;
}
