/* prune_processed_activities (periodic.c, hourly): the replay guard's
 * activity ids (ap_processed_activities) older than
 * processed_activities_keep_days go.  The window is far longer than what
 * a replay can still pass the module with: Mastodon's signature window
 * (12 h of clock skew, an hour after an RFC 9421 `created`) plus a
 * sender's retries (about two days).  Deleted in batches so a large
 * backlog does not hold one long transaction. */
#include "jobs.h"
#include "db.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>

#define PRUNE_BATCH     5000         /* the LIMIT below */
#define PRUNE_BATCHES   200         /* a million rows per run at most */

int job_prune_processed_activities(job_ctx *ctx, const char *args_json, size_t len,
                                   char *err, size_t errlen)
{
    char days[32];
    long total = 0;

    (void) args_json;
    (void) len;
    PGconn *db = job_db(ctx, err, errlen);
    if (db == NULL)
        return -1;
    snprintf(days, sizeof(days), "%ld", ctx->cfg->processed_activities_keep_days);
    const char *params[1] = { days };
    for (int i = 0; i < PRUNE_BATCHES; i++) {
        PGresult *res = db_query(db,
            "DELETE FROM ap_processed_activities WHERE uri IN"
            " (SELECT uri FROM ap_processed_activities WHERE processed_at <"
            "  (now() AT TIME ZONE 'UTC') - make_interval(days => $1::int)"
            "  LIMIT 5000)",
            1, params, PGRES_COMMAND_OK, err, errlen);
        if (res == NULL)
            return -1;
        long n = atol(PQcmdTuples(res));
        PQclear(res);
        total += n;
        if (n < PRUNE_BATCH)
            break;
    }
    mlog(LOG_INFO, "prune_processed_activities: %ld activity id(s) older than %s days removed",
         total, days);
    return 0;
}
