/* activitypub_account {"account_id", "action"} (queue push): a local
 * account's profile change ("update": Update of the actor, to its remote
 * followers, as Mastodon's ActivityPub::UpdateDistributionWorker) or its
 * deletion ("delete": Delete of the actor, once to every known host, as
 * DeleteAccountService; the account's row and key must still be there). */
#include "ap_send.h"
#include "deliver.h"
#include "jobs.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int job_activitypub_account(job_ctx *ctx, const char *args_json, size_t len,
                            char *err, size_t errlen)
{
    job_args a;
    char account_id[MW_ID_LEN];
    const char *action;
    char *body = NULL, **inboxes = NULL;
    size_t blen = 0;
    long n = 0;
    int rc = -1;

    if (args_parse(&a, args_json, len, err, errlen) != 0)
        return -1;
    action = args_string(&a, "action");
    if (args_id(&a, "account_id", account_id) != 1 || action == NULL
        || (strcmp(action, "update") != 0 && strcmp(action, "delete") != 0)) {
        snprintf(err, errlen, "args need account_id and action (update or delete)");
        goto out;
    }
    PGconn *db = job_db(ctx, err, errlen);
    if (db == NULL)
        goto out;
    int found = ap_account_activity(db, ctx->cfg, account_id, action, &body, &blen, err, errlen);
    if (found <= 0) {
        rc = found;
        goto out;
    }
    n = deliver_inboxes(db, strcmp(action, "delete") == 0 ? "account_delete" : "account",
                        account_id, NULL, NULL, &inboxes, err, errlen);
    if (n < 0)
        goto out;
    deliver_stats st;
    rc = deliver(ctx, db, account_id, body, blen, inboxes, (size_t) n, 0, &st, err, errlen);
    if (rc == 0)
        mlog(LOG_INFO, "activitypub_account %s of %s: %ld inbox(es): %zu delivered, %zu to retry",
             action, account_id, n, st.delivered, st.failed);
out:
    deliver_inboxes_free(inboxes, n);
    free(body);
    args_free(&a);
    return rc;
}
