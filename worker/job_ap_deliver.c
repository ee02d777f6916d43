/* activitypub_deliver (queue push): one rendered activity to its inboxes.
 *
 * args: {"account_id": the signer (a local account id, or "-99" the
 * instance actor), "activity": the activity (a JSON object, sent byte for
 * byte as it is here), and the inboxes: "inbox" (one URL), "inboxes" (an
 * array), or "kind" with "status_id" / "target_account_id": the inboxes
 * mastodon_delivery_inboxes() names when the job runs; optional
 * "synchronize_followers": true, the Collection-Synchronization header of
 * a followers-only post}.
 *
 * A first run delivers to all at once and leaves each failed inbox to a
 * job of its own at attempt 1 (deliver.c); such a job (one "inbox",
 * attempt >= 1) fails as a whole and is retried on the queue's curve, and
 * is dropped after its DELIVER_RETRIES-th retry, as Mastodon's
 * ActivityPub::DeliveryWorker (retry: 16, dead: false). */
#include "deliver.h"
#include "jobs.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int signer_id_valid(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    size_t i = n > 0 && s[0] == '-' ? 1 : 0;

    if (n == i || n > 20)
        return 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
    }
    return 1;
}

int job_activitypub_deliver(job_ctx *ctx, const char *args_json, size_t len,
                            char *err, size_t errlen)
{
    job_args a;
    const char *activity, *account_id, *kind, *inbox;
    size_t alen;
    char **inboxes = NULL;
    long n = 0;
    int rc = -1, owned = 0, retry_job = 0;

    if (args_parse(&a, args_json, len, err, errlen) != 0)
        return -1;
    account_id = args_string(&a, "account_id");
    kind = args_string(&a, "kind");
    inbox = args_string(&a, "inbox");
    if (!signer_id_valid(account_id) || !args_object_raw(&a, "activity", &activity, &alen)) {
        snprintf(err, errlen, "args need account_id (an id string) and activity (an object)");
        goto out;
    }
    PGconn *db = job_db(ctx, err, errlen);
    if (db == NULL)
        goto out;

    yajl_val list = yajl_tree_get(a.root, (const char *[]) { "inboxes", NULL }, yajl_t_array);
    if (inbox != NULL) {
        inboxes = calloc(1, sizeof(char *));
        if (inboxes == NULL)
            goto oom;
        inboxes[0] = (char *) inbox;
        n = 1;
        retry_job = ctx->job->attempt > 0;
    } else if (list != NULL) {
        inboxes = calloc(list->u.array.len + 1, sizeof(char *));
        if (inboxes == NULL)
            goto oom;
        for (size_t i = 0; i < list->u.array.len; i++) {
            if (YAJL_IS_STRING(list->u.array.values[i]))
                inboxes[n++] = YAJL_GET_STRING(list->u.array.values[i]);
        }
    } else if (kind != NULL) {
        const char *status_id = args_string(&a, "status_id");
        const char *target_id = args_string(&a, "target_account_id");
        n = deliver_inboxes(db, kind, account_id,
                            status_id != NULL && status_id[0] != '\0' ? status_id : NULL,
                            target_id != NULL && target_id[0] != '\0' ? target_id : NULL,
                            &inboxes, err, errlen);
        if (n < 0)
            goto out;
        owned = 1;
    } else {
        snprintf(err, errlen, "args need inbox, inboxes or kind");
        goto out;
    }

    deliver_stats st;
    rc = deliver(ctx, db, account_id, activity, alen, inboxes, (size_t) n,
                 (retry_job ? DELIVER_RETRY_JOB : 0)
                 | (args_true(&a, "synchronize_followers") ? DELIVER_SYNC_FOLLOWERS : 0),
                 &st, err, errlen);
    if (rc != 0 && retry_job && ctx->job->attempt >= DELIVER_RETRIES) {
        mlog(LOG_WARN, "activitypub_deliver jid=%s: %s; given up after %d retries",
             ctx->job->jid, err, DELIVER_RETRIES);
        rc = 0;
    } else if (rc == 0) {
        mlog(LOG_INFO, "activitypub_deliver jid=%s: %zu delivered, %zu given up, %zu skipped, "
             "%zu to retry", ctx->job->jid, st.delivered, st.given_up, st.skipped, st.failed);
    }
    goto out;

oom:
    snprintf(err, errlen, "out of memory");
out:
    if (owned)
        deliver_inboxes_free(inboxes, n);
    else
        free(inboxes);
    args_free(&a);
    return rc;
}
