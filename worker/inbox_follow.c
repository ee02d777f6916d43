/* Follow, Accept, Reject, Block and the Undo of a Follow or a Block
 * (Mastodon's ActivityPub::Activity::Follow, Accept, Reject, Block, Undo).
 * Relationships change as the module changes them (rows, counters, the
 * same notify / feed jobs in job_outbox); only local accounts are
 * followed or blocked here. */
#include "inbox.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

/* $1 the remote follower, $2 the local account, $3 the Follow's id, $4 the
 * follower's domain.  Locked: a request (follow_request notification);
 * else a follow (follow notification, the Accept sent back: fed-send's
 * activitypub_relationship job, queue push).  Refused
 * when the local account blocks the follower or its domain; an existing
 * follow gets its Accept again, as Mastodon does. */
static const char follow_sql[] =
    "WITH t AS (SELECT id, locked FROM accounts WHERE id = $2::bigint),"
    " ok AS (SELECT 1 AS one WHERE NOT EXISTS (SELECT 1 FROM blocks"
    "   WHERE account_id = $2::bigint AND target_account_id = $1::bigint)"
    "  AND NOT EXISTS (SELECT 1 FROM account_domain_blocks"
    "   WHERE account_id = $2::bigint AND domain = $4)),"
    " old AS (SELECT id FROM follows WHERE account_id = $1::bigint"
    "  AND target_account_id = $2::bigint),"
    " fr AS (INSERT INTO follow_requests (account_id, target_account_id, uri)"
    "  SELECT $1::bigint, $2::bigint, $3 FROM t, ok WHERE t.locked"
    "  AND NOT EXISTS (SELECT 1 FROM old)"
    "  ON CONFLICT (account_id, target_account_id) DO UPDATE SET uri = excluded.uri"
    "  RETURNING id, xmax = 0 AS new),"
    " f AS (INSERT INTO follows (account_id, target_account_id, uri)"
    "  SELECT $1::bigint, $2::bigint, $3 FROM t, ok WHERE NOT t.locked"
    "  ON CONFLICT (account_id, target_account_id) DO NOTHING RETURNING id),"
    " st AS (INSERT INTO account_stats (account_id, following_count, followers_count)"
    "  SELECT $1::bigint, 1, 0 FROM f UNION ALL SELECT $2::bigint, 0, 1 FROM f"
    "  ON CONFLICT (account_id) DO UPDATE SET"
    "  following_count = account_stats.following_count + excluded.following_count,"
    "  followers_count = account_stats.followers_count + excluded.followers_count,"
    "  updated_at = now() AT TIME ZONE 'UTC'),"
    " ob AS (INSERT INTO job_outbox (queue, type, args)"
    "  SELECT 'default', 'notify', json_build_object('type', 'follow', 'account_id',"
    "   $2::text, 'from_account_id', $1::text, 'activity_type', 'Follow',"
    "   'activity_id', id::text)::text FROM f"
    "  UNION ALL SELECT 'default', 'notify', json_build_object('type', 'follow_request',"
    "   'account_id', $2::text, 'from_account_id', $1::text, 'activity_type',"
    "   'FollowRequest', 'activity_id', id::text)::text FROM fr WHERE new"
    "  UNION ALL SELECT 'push', 'activitypub_relationship', json_build_object('type',"
    "   'accept', 'id', id::text, 'account_id', $2::text, 'target_account_id', $1::text,"
    "   'uri', $3::text)::text FROM (SELECT id FROM f UNION ALL SELECT id FROM old"
    "   WHERE EXISTS (SELECT 1 FROM ok)) x)"
    " SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM ok) THEN 'refused'"
    "  WHEN EXISTS (SELECT 1 FROM f) THEN 'followed'"
    "  WHEN EXISTS (SELECT 1 FROM fr) THEN 'requested' ELSE 'already following' END";

int inbox_follow(inbox_activity *ib, char *err, size_t errlen)
{
    char target[MW_ID_LEN];
    const char *object = inbox_ref_of(ib->json, "object");

    int rc = inbox_local_account(ib, object, target, err, errlen);
    if (rc <= 0 || strcmp(target, "-99") == 0) {
        if (rc == 0)
            mlog(LOG_INFO, "inbox: Follow %s of %s: not an account of ours", ib->id,
                 object != NULL ? object : "nothing");
        return rc < 0 ? INBOX_RETRY : INBOX_DONE;
    }
    const char *params[4] = { ib->actor_id, target, ib->id, ib->actor_host };
    return inbox_apply(ib, "follow", follow_sql, 4, params, err, errlen);
}

/* The local follower an Accept or Reject concerns: the object is our
 * Follow (embedded: its actor is ours; or its id: a request whose uri it
 * is).  1 (follower in out), 0, -1. */
static int our_follower(inbox_activity *ib, char out[MW_ID_LEN], char *err, size_t errlen)
{
    const mstdn_value_t *object = mstdn_object_get(ib->json, "object");
    const char *follower = inbox_ref_of(object, "actor");
    const char *followee = inbox_ref_of(object, "object");

    if (follower != NULL) {
        /* an embedded Follow: of the actor, by one of ours */
        if (followee == NULL || strcmp(followee, ib->actor_uri) != 0)
            return 0;
        return inbox_local_account(ib, follower, out, err, errlen);
    }
    const char *uri = inbox_ref(object);
    if (uri == NULL)
        return 0;
    const char *params[2] = { uri, ib->actor_id };
    PGresult *res = inbox_sql(ib, "SELECT account_id FROM follow_requests WHERE uri = $1"
                              " AND target_account_id = $2::bigint"
                              " UNION ALL SELECT account_id FROM follows WHERE uri = $1"
                              " AND target_account_id = $2::bigint LIMIT 1",
                              2, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return -1;
    int found = PQntuples(res) == 1;
    if (found)
        snprintf(out, MW_ID_LEN, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return found;
}

/* $1 our follower, $2 the remote account: the request becomes a follow */
static const char accept_sql[] =
    "WITH r AS (DELETE FROM follow_requests WHERE account_id = $1::bigint"
    "  AND target_account_id = $2::bigint"
    "  RETURNING account_id, target_account_id, show_reblogs, notify, languages, uri),"
    " f AS (INSERT INTO follows (account_id, target_account_id, show_reblogs, notify,"
    "  languages, uri) SELECT * FROM r ON CONFLICT (account_id, target_account_id)"
    "  DO NOTHING RETURNING id),"
    " st AS (INSERT INTO account_stats (account_id, following_count, followers_count)"
    "  SELECT $1::bigint, 1, 0 FROM f UNION ALL SELECT $2::bigint, 0, 1 FROM f"
    "  ON CONFLICT (account_id) DO UPDATE SET"
    "  following_count = account_stats.following_count + excluded.following_count,"
    "  followers_count = account_stats.followers_count + excluded.followers_count,"
    "  updated_at = now() AT TIME ZONE 'UTC'),"
    " ob AS (INSERT INTO job_outbox (queue, type, args)"
    "  SELECT 'default', 'feed_merge', json_build_object('account_id', $1::text,"
    "   'target_account_id', $2::text)::text FROM f)"
    " SELECT count(*) FROM f";

/* An Accept or a Reject of a Follow of ours: sql with $1 our follower and
 * $2 the remote account; done names what it changed in the log. */
static int follow_answer(inbox_activity *ib, const char *verb, const char *done,
                         const char *sql, char *err, size_t errlen)
{
    char follower[MW_ID_LEN];

    int rc = our_follower(ib, follower, err, errlen);
    if (rc <= 0) {
        if (rc == 0)
            mlog(LOG_INFO, "inbox: %s %s: no Follow of ours to answer", verb, ib->id);
        return rc < 0 ? INBOX_RETRY : INBOX_DONE;
    }
    const char *params[2] = { follower, ib->actor_id };
    rc = inbox_apply(ib, done, sql, 2, params, err, errlen);
    if (rc == INBOX_DONE)
        viewer_forget_now(*ib->ctx->redis, follower);     /* following */
    return rc;
}

int inbox_accept(inbox_activity *ib, char *err, size_t errlen)
{
    return follow_answer(ib, "Accept", "follows accepted:", accept_sql, err, errlen);
}

/* $1 our follower, $2 the remote account: the request or the follow goes */
static const char reject_sql[] =
    "WITH r AS (DELETE FROM follow_requests WHERE account_id = $1::bigint"
    "  AND target_account_id = $2::bigint RETURNING id),"
    " f AS (DELETE FROM follows WHERE account_id = $1::bigint"
    "  AND target_account_id = $2::bigint RETURNING id),"
    " st AS (UPDATE account_stats SET"
    "  following_count = greatest(0, following_count - CASE WHEN account_id = $1::bigint"
    "   THEN 1 ELSE 0 END),"
    "  followers_count = greatest(0, followers_count - CASE WHEN account_id = $2::bigint"
    "   THEN 1 ELSE 0 END), updated_at = now() AT TIME ZONE 'UTC'"
    "  WHERE account_id IN ($1::bigint, $2::bigint) AND EXISTS (SELECT 1 FROM f)),"
    " ob AS (INSERT INTO job_outbox (queue, type, args)"
    "  SELECT 'default', 'feed_unmerge', json_build_object('account_id', $1::text,"
    "   'target_account_id', $2::text)::text FROM f)"
    " SELECT (SELECT count(*) FROM r) + (SELECT count(*) FROM f)";

int inbox_reject(inbox_activity *ib, char *err, size_t errlen)
{
    return follow_answer(ib, "Reject", "follows rejected:", reject_sql, err, errlen);
}

/* $1 the remote blocker, $2 the local account, $3 the Block's id: follows
 * both ways and requests go (feed_unmerge for the local follower), then
 * the block. */
static const char block_sql[] =
    "WITH f AS (DELETE FROM follows WHERE (account_id = $1::bigint"
    "  AND target_account_id = $2::bigint) OR (account_id = $2::bigint"
    "  AND target_account_id = $1::bigint) RETURNING account_id, target_account_id),"
    " r AS (DELETE FROM follow_requests WHERE (account_id = $1::bigint"
    "  AND target_account_id = $2::bigint) OR (account_id = $2::bigint"
    "  AND target_account_id = $1::bigint)),"
    " st AS (UPDATE account_stats s SET"
    "  following_count = greatest(0, following_count"
    "   - (SELECT count(*) FROM f WHERE f.account_id = s.account_id)),"
    "  followers_count = greatest(0, followers_count"
    "   - (SELECT count(*) FROM f WHERE f.target_account_id = s.account_id)),"
    "  updated_at = now() AT TIME ZONE 'UTC'"
    "  WHERE s.account_id IN (SELECT account_id FROM f UNION SELECT target_account_id FROM f)),"
    " b AS (INSERT INTO blocks (account_id, target_account_id, uri)"
    "  VALUES ($1::bigint, $2::bigint, $3)"
    "  ON CONFLICT (account_id, target_account_id) DO UPDATE SET uri = excluded.uri"
    "  RETURNING id),"
    " ob AS (INSERT INTO job_outbox (queue, type, args)"
    "  SELECT 'default', 'feed_unmerge', json_build_object('account_id', $2::text,"
    "   'target_account_id', $1::text)::text FROM f WHERE f.account_id = $2::bigint)"
    " SELECT id FROM b";

int inbox_block(inbox_activity *ib, char *err, size_t errlen)
{
    char target[MW_ID_LEN];
    const char *object = inbox_ref_of(ib->json, "object");

    int rc = inbox_local_account(ib, object, target, err, errlen);
    if (rc <= 0 || strcmp(target, "-99") == 0)
        return rc < 0 ? INBOX_RETRY : INBOX_DONE;
    const char *params[3] = { ib->actor_id, target, ib->id };
    rc = inbox_apply(ib, "block", block_sql, 3, params, err, errlen);
    if (rc == INBOX_DONE)
        viewer_forget_now(*ib->ctx->redis, target);       /* blocked by */
    return rc;
}

int inbox_undo_follow(inbox_activity *ib, const mstdn_value_t *object, char *err, size_t errlen)
{
    char target[MW_ID_LEN];
    const char *followee = inbox_ref_of(object, "object");
    int rc;

    if (followee != NULL) {
        rc = inbox_local_account(ib, followee, target, err, errlen);
    } else {
        /* the Follow by its id: the actor's own follow */
        const char *params[2] = { inbox_ref(object), ib->actor_id };
        PGresult *res = inbox_sql(ib, "SELECT target_account_id FROM follows WHERE uri = $1"
                                  " AND account_id = $2::bigint UNION ALL"
                                  " SELECT target_account_id FROM follow_requests WHERE"
                                  " uri = $1 AND account_id = $2::bigint LIMIT 1",
                                  2, params, PGRES_TUPLES_OK, err, errlen);
        if (res == NULL)
            return INBOX_RETRY;
        rc = PQntuples(res) == 1;
        if (rc)
            snprintf(target, MW_ID_LEN, "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
    }
    if (rc <= 0)
        return rc < 0 ? INBOX_RETRY : INBOX_DONE;
    /* the follow (or else the request) goes with its notification and
     * counters: UnfollowService, sql/0014's mastodon_unfollow() */
    const char *params[2] = { ib->actor_id, target };
    return inbox_apply(ib, "follow:", "SELECT mastodon_unfollow($1::bigint, $2::bigint, false)",
                       2, params, err, errlen);
}

int inbox_undo_block(inbox_activity *ib, const mstdn_value_t *object, char *err, size_t errlen)
{
    char target[MW_ID_LEN];

    int rc = inbox_local_account(ib, inbox_ref_of(object, "object"), target, err, errlen);
    if (rc <= 0)
        return rc < 0 ? INBOX_RETRY : INBOX_DONE;
    const char *params[2] = { ib->actor_id, target };
    rc = inbox_apply(ib, "unblocked:", "WITH b AS (DELETE FROM blocks WHERE account_id = $1::bigint"
                 " AND target_account_id = $2::bigint RETURNING id) SELECT count(*) FROM b",
                 2, params, err, errlen);
    if (rc == INBOX_DONE)
        viewer_forget_now(*ib->ctx->redis, target);
    return rc;
}
