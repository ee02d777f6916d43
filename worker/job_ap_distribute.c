/* activitypub_distribute {"status_id", "action"} (queue push): a local
 * status to the servers concerned, as Mastodon's
 * ActivityPub::DistributionWorker / StatusUpdateDistributionWorker /
 * RemovalWorker: the activity rendered (ap_send_status.c), the inboxes of
 * mastodon_delivery_inboxes('status' | 'status_delete'), all delivered at
 * once (deliver.c). */
#include "ap_send.h"
#include "db.h"
#include "deliver.h"
#include "jobs.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int job_activitypub_distribute(job_ctx *ctx, const char *args_json, size_t len,
                               char *err, size_t errlen)
{
    job_args a;
    char status_id[MW_ID_LEN], account_id[32];
    const char *action;
    char *body = NULL, **inboxes = NULL;
    size_t blen = 0;
    long n = 0;
    int rc = -1;

    if (args_parse(&a, args_json, len, err, errlen) != 0)
        return -1;
    action = args_string(&a, "action");
    if (args_id(&a, "status_id", status_id) != 1 || action == NULL
        || (strcmp(action, "create") != 0 && strcmp(action, "update") != 0
            && strcmp(action, "delete") != 0)) {
        snprintf(err, errlen, "args need status_id and action (create, update or delete)");
        goto out;
    }
    PGconn *db = job_db(ctx, err, errlen);
    if (db == NULL)
        goto out;

    int found = ap_status_activity(db, ctx->cfg, status_id, action, &body, &blen, account_id,
                                   err, errlen);
    if (found <= 0) {
        rc = found;
        if (found == 0)
            mlog(LOG_DEBUG, "activitypub_distribute: status %s: nothing to send", status_id);
        goto out;
    }
    n = deliver_inboxes(db, strcmp(action, "delete") == 0 ? "status_delete" : "status",
                        account_id, status_id, NULL, &inboxes, err, errlen);
    if (n < 0)
        goto out;

    /* a followers-only post (its Create or Update, as Mastodon's
     * DistributionWorker) tells each host which of its accounts follow
     * the author here (Collection-Synchronization) */
    const char *params[1] = { status_id };
    PGresult *res = db_query(db, "SELECT visibility = 2 FROM statuses WHERE id = $1::bigint",
                             1, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        goto out;
    int sync = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't'
               && strcmp(action, "delete") != 0;
    PQclear(res);

    deliver_stats st;
    rc = deliver(ctx, db, account_id, body, blen, inboxes, (size_t) n,
                 sync ? DELIVER_SYNC_FOLLOWERS : 0, &st, err, errlen);
    if (rc == 0)
        mlog(LOG_INFO, "activitypub_distribute %s of status %s: %ld inbox(es): %zu delivered, "
             "%zu given up, %zu skipped, %zu to retry", action, status_id, n, st.delivered,
             st.given_up, st.skipped, st.failed);
out:
    deliver_inboxes_free(inboxes, n);
    free(body);
    args_free(&a);
    return rc;
}
