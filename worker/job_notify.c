/* notify: one notification the module asks for (a favourite, reblog,
 * follow, follow request, ...), Mastodon's LocalNotificationWorker.
 * args {"type", "account_id" (recipient), "from_account_id", "activity_type",
 *       "activity_id"}; renderings some senders add ("account", "status") are
 * not used: the event names the notification and the streaming side renders
 * it for the recipient.
 *
 * Nothing happens when the activity is gone by now (a favourite undone, a
 * follow request withdrawn) or NotifyService would drop it (notify.c).
 * The status it is about comes from the activity: favourite and reblog
 * notifications are grouped by it. */
#include "jobs.h"
#include "args.h"
#include "db.h"
#include "log.h"
#include "notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The activity, if it still exists, and the status it concerns. */
static const char activity_sql[] =
    "SELECT coalesce(t.target::text, '') FROM ("
    "  SELECT fv.status_id AS target FROM favourites fv WHERE $1 = 'Favourite' AND fv.id = $2::bigint"
    "  UNION ALL SELECT m.status_id FROM mentions m WHERE $1 = 'Mention' AND m.id = $2::bigint"
    "  UNION ALL SELECT coalesce(s.reblog_of_id, s.id) FROM statuses s"
    "            WHERE $1 = 'Status' AND s.id = $2::bigint AND s.deleted_at IS NULL"
    "  UNION ALL SELECT NULL FROM follows f WHERE $1 = 'Follow' AND f.id = $2::bigint"
    "  UNION ALL SELECT NULL FROM follow_requests r WHERE $1 = 'FollowRequest' AND r.id = $2::bigint"
    "  UNION ALL SELECT NULL WHERE $1 NOT IN ('Favourite', 'Mention', 'Status', 'Follow', 'FollowRequest')"
    ") t";

static int word(const char *s, const char *extra)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > 40)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || strchr(extra, c) != NULL))
            return 0;
    }
    return 1;
}

int job_notify(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen)
{
    job_args a;
    char recipient[MW_ID_LEN], from[MW_ID_LEN], activity[MW_ID_LEN];

    if (args_parse(&a, args_json, len, err, errlen) != 0)
        return -1;
    int rc = -1;
    const char *type = args_string(&a, "type"), *activity_type = args_string(&a, "activity_type");
    if (!word(type, "_.") || !word(activity_type, "") || args_id(&a, "account_id", recipient) != 1
        || args_id(&a, "from_account_id", from) != 1 || args_id(&a, "activity_id", activity) != 1) {
        snprintf(err, errlen, "args need type, activity_type (words), account_id, from_account_id"
                 " and activity_id (id strings)");
        goto out;
    }
    PGconn *db = job_db(ctx, err, errlen);
    if (db == NULL)
        goto out;
    const char *params[2] = { activity_type, activity };
    PGresult *res = db_query(db, activity_sql, 2, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        goto out;
    if (PQntuples(res) == 0) {
        mlog(LOG_INFO, "notify: %s %s is gone, no %s notification", activity_type, activity, type);
        rc = 0;
    } else {
        rc = notify_one(*ctx->redis, db, type, recipient, from, activity_type, activity,
                        PQgetvalue(res, 0, 0), err, errlen);
    }
    PQclear(res);
out:
    args_free(&a);
    return rc;
}
