/* The fan-out walk.  Followers come in pages of RECIPIENTS_PAGE in account
 * id order (a cursor, not an offset, so a page costs the same at the end of
 * 100,000 followers as at the start); each page becomes a few script calls
 * of FEED_CALL_ENTRIES feeds, written to Redis before the next page is
 * asked of PostgreSQL, and their replies are read after it. */
#include "fanout.h"
#include "args.h"
#include "log.h"
#include "payload.h"
#include "queue.h"
#include "recipients.h"
#include "redis.h"
#include "stream.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* how long a first attempt waits for a local post's rendering */
#define PAYLOAD_WAIT_TRIES  10
#define PAYLOAD_WAIT_MS     50

/* The key holding this job's event text: mastodon:event:<jid>. */
static void fanout_event_key(const job_ctx *ctx, char *out, size_t outlen)
{
    snprintf(out, outlen, "mastodon:event:%s", ctx->job->jid);
}

static PGresult *next_page(PGconn *db, const fanout_walk *w, const char *cursor,
                           char *err, size_t errlen)
{
    if (w->filter != NULL && w->tag_followers)
        return tag_followers_page(db, w->filter, cursor, err, errlen);
    if (w->filter != NULL)
        return recipients_page(db, w->filter, cursor, err, errlen);
    return followers_page(db, w->account_id, cursor, err, errlen);
}

int fanout_home(job_ctx *ctx, PGconn *db, const fanout_walk *w, long long *changed,
                char *err, size_t errlen)
{
    redisContext *c = *ctx->redis;
    feed_batch *b = malloc(sizeof(*b));
    char cursor[MW_ID_LEN] = "0";
    long long pg_ms = 0, redis_ms = 0, t0 = monotonic_ms();
    int rc = -1, pages = 0;

    *changed = 0;
    if (b == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (feed_scripts_load(c, err, errlen) != 0)
        goto done;
    feed_batch_init(b, c, w->op, w->event_key, 1, ctx->cfg->feed_max);
    if (w->include_self)
        feed_batch_add(b, w->account_id, w->status_id, w->reblog_of_id);

    PGresult *page = next_page(db, w, cursor, err, errlen);
    if (page == NULL)
        goto done;
    pages++;
    pg_ms += monotonic_ms() - t0;

    for (;;) {
        int n = page != NULL ? PQntuples(page) : 0;
        for (int i = 0; i < n; i++) {
            /* a recipients page holds every follower scanned, accepted or not */
            if (PQnfields(page) > 2 && PQgetvalue(page, i, 2)[0] != 't')
                continue;
            feed_batch_add(b, PQgetvalue(page, i, 0), w->status_id, w->reblog_of_id);
        }
        if (feed_batch_send(b, err, errlen) != 0)
            break;

        PGresult *next = NULL;
        char perr[512] = "";
        t0 = monotonic_ms();
        if (n == RECIPIENTS_PAGE) {
            snprintf(cursor, sizeof(cursor), "%s", PQgetvalue(page, n - 1, 0));
            next = next_page(db, w, cursor, perr, sizeof(perr));
            pages++;
        }
        long long t1 = monotonic_ms();
        pg_ms += t1 - t0;
        int collected = feed_batch_collect(b, err, errlen);
        redis_ms += monotonic_ms() - t1;
        if (collected != 0) {
            PQclear(next);
            break;
        }
        if (n == RECIPIENTS_PAGE && next == NULL) {
            snprintf(err, errlen, "%s", perr);
            break;
        }
        if (page != NULL && w->on_page != NULL && w->on_page(w->arg, page, err, errlen) != 0) {
            PQclear(next);
            break;
        }
        PQclear(page);
        page = next;
        if (page == NULL) {
            rc = 0;
            break;
        }
    }
    PQclear(page);
    *changed = b->changed;
    mlog(LOG_DEBUG, "fan-out of %s: %d page(s) of followers in %lld ms, then %lld ms waiting for redis",
         w->status_id, pages, pg_ms, redis_ms);

done:
    free(b);
    return rc;
}

int fanout_federate(job_ctx *ctx, const status_facts *f, const char *action,
                    char *err, size_t errlen)
{
    char once[128], *args = NULL, *qid, *qaction;
    int pushed, rc;

    if (!f->reaches_remote)
        return 0;
    snprintf(once, sizeof(once), "mastodon:once:%s:activitypub_distribute", ctx->job->jid);
    qid = json_quoted(f->id);
    qaction = json_quoted(action);
    int n = qid != NULL && qaction != NULL
            ? asprintf(&args, "{\"status_id\":%s,\"action\":%s}", qid, qaction) : -1;
    free(qid);
    free(qaction);
    if (n < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    rc = queue_push_once(*ctx->redis, once, "push", "activitypub_distribute", args, (size_t) n,
                         &pushed, err, errlen);
    free(args);
    if (rc != 0)
        return -1;
    if (pushed)
        mlog(LOG_DEBUG, "activitypub_distribute %s of status %s queued", action, f->id);
    return 0;
}

static int fanout_status_run(job_ctx *ctx, const fanout_status_job *job, PGconn *db,
                             const status_facts *f, const char *payload, size_t plen,
                             char *err, size_t errlen)
{
    redisContext *c = *ctx->redis;
    stream_event ev = { NULL, 0 };
    char key[96];

    /* without a rendering (a remote post) the event names the status: the
     * streaming side renders it for each viewer */
    if ((payload != NULL ? stream_event_make(&ev, job->event, payload, plen)
                         : stream_event_status_id(&ev, job->event, f->id)) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    fanout_event_key(ctx, key, sizeof(key));

    int rc = -1;
    if (f->reblog_of_id[0] == '\0' && notify_mentions(c, db, f->id, err, errlen) != 0)
        goto done;
    if (stream_event_store(c, key, &ev, err, errlen) != 0
        || job->fan(ctx, db, f, key, err, errlen) != 0)
        goto done;
    if (stream_public(c, f, &ev, err, errlen) != 0 || stream_direct(c, f, &ev, err, errlen) != 0)
        goto done;
    if (fanout_federate(ctx, f, job->action, err, errlen) != 0)
        goto done;
    rc = redis_do(c, err, errlen, "DEL %s", key);

done:
    stream_event_free(&ev);
    return rc;
}

int fanout_status(job_ctx *ctx, const fanout_status_job *job, const char *args_json, size_t len,
                  char *err, size_t errlen)
{
    job_args a;
    status_facts f;
    char id[MW_ID_LEN];
    const char *payload;
    char *stored = NULL;
    size_t plen;

    if (args_parse(&a, args_json, len, err, errlen) != 0)
        return -1;
    int rc = -1;
    if (args_id(&a, "status_id", id) != 1) {
        snprintf(err, errlen, "args need status_id (an id string)");
        goto out;
    }
    PGconn *db = job_db(ctx, err, errlen);
    if (db == NULL || status_load(db, id, &f, err, errlen) != 0)
        goto out;
    if (!f.found || f.deleted || (job->skip_reblogs && f.reblog_of_id[0] != '\0')) {
        mlog(LOG_INFO, "%s: status %s is %s, nothing to do", job->name, id,
             job->skip_reblogs ? "gone or a reblog" : "gone");
        rc = 0;
        goto done;
    }
    /* the rendering: in args (the CLI, older modules), else the module's */
    if (!args_object_raw(&a, "payload", &payload, &plen)) {
        /* a local post's rendering is stored by the module right after its
         * commit: a first attempt waits a moment for it (an event with it is
         * not rendered again by every stream); a remote post has none, and
         * without it the events carry the id */
        int found;
        for (int try = 0;; try++) {
            found = payload_get(*ctx->redis, "status", id, &stored, &plen, err, errlen);
            if (found != 0 || !f.author_local || ctx->job->attempt > 0
                || try + 1 >= PAYLOAD_WAIT_TRIES)
                break;
            sleep_ms(PAYLOAD_WAIT_MS);
        }
        if (found < 0)
            goto done;
        if (found == 0)
            mlog(LOG_DEBUG, "%s: no rendering of status %s: events carry its id", job->name, id);
        payload = stored;
    }
    rc = fanout_status_run(ctx, job, db, &f, payload, plen, err, errlen);
done:
    status_free(&f);
out:
    free(stored);
    args_free(&a);
    return rc;
}
