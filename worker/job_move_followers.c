/* move_followers (Mastodon's MoveWorker and UnfollowFollowWorker): a remote
 * account moved (inbox_account.c checked the Move), so each of its local
 * followers follows the new account, with the options of the old follow,
 * and then stops following the old one (without unmerging its posts).
 * A follow of the new account that is refused (a block, a domain block...)
 * leaves the old follow as it was.  args {"account_id" (the old),
 * "target_account_id" (the new)}.  Both writes are the SQL functions of
 * sql/0014 (mastodon_follow, mastodon_unfollow), one transaction per
 * follower (one statement); a follower already moved is no longer a follower, so a retry
 * goes on where the last attempt stopped. */
#include "jobs.h"
#include "db.h"
#include "log.h"

#include <stdio.h>

#define MOVE_BATCH  500

/* $1 the follower, $2 the old account, $3 the new one */
static const char migrate_sql[] =
    "WITH o AS (SELECT show_reblogs, notify, languages FROM follows"
    "  WHERE account_id = $1::bigint AND target_account_id = $2::bigint FOR UPDATE),"
    " f AS (SELECT mastodon_follow($1::bigint, $3::bigint, o.show_reblogs, o.notify,"
    "  o.languages, true, (SELECT domain IS NULL FROM accounts WHERE id = $3::bigint))"
    "  AS r FROM o)"
    " SELECT f.r, CASE WHEN f.r <> 'refused' THEN mastodon_unfollow($1::bigint, $2::bigint,"
    "  false) END FROM f";

/* one follower, in one statement (so one transaction) */
static int move_one(PGconn *db, const char *follower, const char *old, const char *target,
                    char *err, size_t errlen)
{
    const char *params[3] = { follower, old, target };
    PGresult *res = db_query(db, migrate_sql, 3, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return -1;
    if (PQntuples(res) == 1)
        mlog(LOG_DEBUG, "move_followers: %s: %s the new account, %s", follower,
             PQgetvalue(res, 0, 0),
             PQgetisnull(res, 0, 1) ? "still follows the old" : PQgetvalue(res, 0, 1));
    PQclear(res);
    return 0;
}

static int move_followers(job_ctx *ctx, PGconn *db, const job_args *a, const char *old,
                          const char *target, char *err, size_t errlen)
{
    char after[MW_ID_LEN] = "0";
    long moved = 0;

    (void) a;
    for (;;) {
        const char *params[2] = { old, after };
        PGresult *res = db_query(db,
            "SELECT f.account_id FROM follows f JOIN accounts a ON a.id = f.account_id"
            " WHERE f.target_account_id = $1::bigint AND a.domain IS NULL"
            " AND f.account_id > $2::bigint ORDER BY f.account_id LIMIT 500",  /* MOVE_BATCH */
            2, params, PGRES_TUPLES_OK, err, errlen);
        if (res == NULL)
            return -1;
        int n = PQntuples(res);
        for (int i = 0; i < n; i++) {
            if (move_one(db, PQgetvalue(res, i, 0), old, target, err, errlen) != 0) {
                PQclear(res);
                return -1;
            }
            moved++;
        }
        if (n > 0)
            snprintf(after, sizeof(after), "%s", PQgetvalue(res, n - 1, 0));
        PQclear(res);
        if (n < MOVE_BATCH)
            break;
    }
    mlog(LOG_INFO, "move_followers: %ld local follower(s) of %s moved to %s", moved, old, target);
    /* whom they follow changed: every viewer's facts in the render caches */
    if (moved > 0)
        viewer_forget_now(*ctx->redis, "0");
    return 0;
}

int job_move_followers(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen)
{
    return job_account_pair(ctx, args_json, len, move_followers, err, errlen);
}
