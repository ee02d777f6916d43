/* activitypub_poll_update {"status_id"} (queue push): a local poll's new
 * counts to the servers concerned, as Mastodon's
 * ActivityPub::DistributePollUpdateWorker: the Update of its Question
 * (ap_status_activity "poll_update"), to mastodon_poll_update_inboxes()
 * (sql/0022: those the status reached and the remote voters).  Like
 * Mastodon's (perform_in 3 minutes, unique until executed) it waits
 * poll_update_delay_ms and sends once for the votes of that while: the
 * first vote's job sets mastodon:poll_update:<status id> and schedules the
 * sending ({"status_id", "send": "1"}); the others find the key and stop.
 * Written by mastodon_poll_vote() with the votes. */
#include "ap_send.h"
#include "db.h"
#include "deliver.h"
#include "jobs.h"
#include "log.h"
#include "queue.h"
#include "redis.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int send_update(job_ctx *ctx, PGconn *db, const char *status_id, char *err,
                       size_t errlen)
{
    char account_id[32], **inboxes = NULL;
    char *body = NULL;
    size_t blen = 0;
    long n = 0;
    int rc;

    int found = ap_status_activity(db, ctx->cfg, status_id, "poll_update", &body, &blen,
                                   account_id, err, errlen);
    if (found <= 0) {
        if (found == 0)
            mlog(LOG_INFO, "activitypub_poll_update: status %s: nothing to send", status_id);
        return found;
    }
    const char *params[1] = { status_id };
    PGresult *res = db_query(db, "SELECT inbox_url FROM mastodon_poll_update_inboxes($1::bigint)",
                             1, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL) {
        free(body);
        return -1;
    }
    n = PQntuples(res);
    inboxes = calloc((size_t) n + 1, sizeof(char *));
    for (long i = 0; inboxes != NULL && i < n; i++)
        inboxes[i] = PQgetvalue(res, (int) i, 0);
    if (inboxes == NULL) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    } else {
        deliver_stats st;
        rc = deliver(ctx, db, account_id, body, blen, inboxes, (size_t) n, 0, &st, err, errlen);
        if (rc == 0)
            mlog(LOG_INFO, "activitypub_poll_update of status %s: %ld inbox(es): %zu delivered, "
                 "%zu given up, %zu skipped, %zu to retry", status_id, n, st.delivered,
                 st.given_up, st.skipped, st.failed);
    }
    free(inboxes);
    PQclear(res);
    free(body);
    return rc;
}

int job_activitypub_poll_update(job_ctx *ctx, const char *args_json, size_t len, char *err,
                                size_t errlen)
{
    job_args a;
    char status_id[MW_ID_LEN], key[64], *args = NULL;
    int rc = -1;

    if (args_parse(&a, args_json, len, err, errlen) != 0)
        return -1;
    if (args_id(&a, "status_id", status_id) != 1) {
        snprintf(err, errlen, "args need status_id (an id string)");
        goto out;
    }
    snprintf(key, sizeof(key), "mastodon:poll_update:%s", status_id);
    long long delay = ctx->cfg->poll_update_delay_ms;
    const char *send = args_string(&a, "send");

    if (delay > 0 && send == NULL) {
        /* the first of a while's votes schedules the sending */
        redisReply *r = redisCommand(*ctx->redis, "SET %s 1 NX PX %lld", key, delay + 60000);
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            snprintf(err, errlen, "redis: SET %s failed", key);
            if (r != NULL)
                freeReplyObject(r);
            goto out;
        }
        int first = r->type == REDIS_REPLY_STATUS;
        freeReplyObject(r);
        if (!first) {
            mlog(LOG_DEBUG, "activitypub_poll_update: status %s: already pending", status_id);
            rc = 0;
            goto out;
        }
        int n = asprintf(&args, "{\"status_id\":\"%s\",\"send\":\"1\"}", status_id);
        if (n < 0) {
            args = NULL;
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        rc = queue_schedule_at(*ctx->redis, "push", "activitypub_poll_update", args, (size_t) n,
                               now_ms() + delay, err, errlen);
        goto out;
    }

    if (send != NULL) {
        redisReply *r = redisCommand(*ctx->redis, "DEL %s", key);
        if (r != NULL)
            freeReplyObject(r);
    }
    PGconn *db = job_db(ctx, err, errlen);
    if (db == NULL)
        goto out;
    rc = send_update(ctx, db, status_id, err, errlen) < 0 ? -1 : 0;
out:
    free(args);
    args_free(&a);
    return rc;
}
