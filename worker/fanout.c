/* The fan-out walk.  Followers come in pages of RECIPIENTS_PAGE in account
 * id order (a cursor, not an offset, so a page costs the same at the end of
 * 100,000 followers as at the start); each page's feed writes go to Redis
 * (plain commands for a new original, feed_push.c, pipelined across pages;
 * script calls of FEED_CALL_ENTRIES feeds otherwise), then the next page is
 * asked of PostgreSQL without waiting, and Redis' replies are read while it
 * works. */
#include "fanout.h"
#include "feed_push.h"
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

const char *fanout_event_key(redisContext *c, fanout_event *fe, char *err, size_t errlen)
{
    if (!fe->stored) {
        if (stream_event_store(c, fe->key, fe->ev, err, errlen) != 0)
            return NULL;
        fe->stored = 1;
    }
    return fe->key;
}

static int next_page_send(PGconn *db, const fanout_walk *w, const char *cursor,
                          char *err, size_t errlen)
{
    if (w->filter != NULL && w->tag_followers)
        return tag_followers_page_send(db, w->filter, cursor, err, errlen);
    if (w->filter != NULL)
        return recipients_page_send(db, w->filter, w->notify_only, cursor, err, errlen);
    return followers_page_send(db, w->account_id, cursor, err, errlen);
}

/* The feed writes of one walk: plain commands for a new original
 * (feed_push.c), the scripts of feed.c otherwise. */
typedef struct {
    int          plain;
    feed_push    push;
    feed_batch  *batch;
} fanout_writes;

static void writes_add(fanout_writes *fw, const fanout_walk *w, const char *account_id,
                       char *err, size_t errlen)
{
    if (!fw->plain) {
        feed_batch_add(fw->batch, account_id, w->status_id, w->reblog_of_id);
    } else if (err[0] == '\0') {
        (void) feed_push_add(&fw->push, account_id, err, errlen);
    }
}

static int writes_send(fanout_writes *fw, int last, char *err, size_t errlen)
{
    if (err[0] != '\0')
        return -1;
    return fw->plain ? feed_push_send(&fw->push, last, err, errlen)
                     : feed_batch_send(fw->batch, err, errlen);
}

static int writes_collect(fanout_writes *fw, char *err, size_t errlen)
{
    return fw->plain ? feed_push_finish(&fw->push, err, errlen)
                     : feed_batch_collect(fw->batch, err, errlen);
}

/* Whether the page names followers to notify (its second column): the
 * page's callback then writes to Redis, on the connection the pipelined
 * feed writes use. */
static int page_notifies(const PGresult *page)
{
    if (PQnfields(page) < 2)
        return 0;
    for (int i = 0; i < PQntuples(page); i++) {
        if (PQgetvalue(page, i, 1)[0] == 't')
            return 1;
    }
    return 0;
}

int fanout_home(job_ctx *ctx, PGconn *db, const fanout_walk *w, long long *changed,
                char *err, size_t errlen)
{
    redisContext *c = *ctx->redis;
    fanout_writes fw = { .plain = w->op == FEED_ADD && w->reblog_of_id[0] == '\0' };
    char cursor[MW_ID_LEN] = "0";
    long long pg_ms = 0, redis_ms = 0, t0 = monotonic_ms();
    int rc = -1, pages = 0;
    PGresult *page = NULL;

    *changed = 0;
    err[0] = '\0';
    if (fw.plain) {
        feed_push_init(&fw.push, c, w->event != NULL ? w->event->ev->text : NULL,
                       w->event != NULL ? w->event->ev->len : 0, ctx->cfg->feed_max,
                       w->status_id);
    } else {
        const char *key = NULL;
        fw.batch = malloc(sizeof(*fw.batch));
        if (fw.batch == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        if (feed_scripts_load(c, err, errlen) != 0
            || (w->event != NULL && (key = fanout_event_key(c, w->event, err, errlen)) == NULL))
            goto done;
        feed_batch_init(fw.batch, c, w->op, key, 1, ctx->cfg->feed_max);
    }
    if (w->include_self)
        writes_add(&fw, w, w->account_id, err, errlen);
    if (w->self_only) {
        if (writes_send(&fw, 1, err, errlen) == 0 && writes_collect(&fw, err, errlen) == 0) {
            *changed = fw.plain ? fw.push.changed : fw.batch->changed;
            rc = 0;
        }
        goto done;
    }

    if (next_page_send(db, w, cursor, err, errlen) != 0)
        goto done;
    page = recipients_page_receive(db, err, errlen);
    if (page == NULL)
        goto done;
    pages++;
    pg_ms += monotonic_ms() - t0;

    /* while PostgreSQL reads the next page, Redis writes this one */
    for (;;) {
        int n = PQntuples(page), more = n == RECIPIENTS_PAGE, asked = 0;
        char perr[512] = "";
        if (more) {
            snprintf(cursor, sizeof(cursor), "%s", PQgetvalue(page, n - 1, 0));
            asked = next_page_send(db, w, cursor, perr, sizeof(perr)) == 0;
        }
        for (int i = 0; i < n; i++) {
            /* a recipients page holds every follower scanned, accepted or not */
            if (w->notify_only
                || (PQnfields(page) > 2 && PQgetvalue(page, i, 2)[0] != 't'))
                continue;
            writes_add(&fw, w, PQgetvalue(page, i, 0), err, errlen);
        }
        /* `:reblogs` is read only when a reblog of the status exists */
        if (n == 0 || PQnfields(page) < 4 || PQgetvalue(page, 0, 3)[0] != 'f')
            fw.push.check_reblogs = 1;
        t0 = monotonic_ms();
        int collected = writes_send(&fw, !more, err, errlen) == 0
                        && writes_collect(&fw, err, errlen) == 0 ? 0 : -1;
        long long t1 = monotonic_ms();
        redis_ms += t1 - t0;

        PGresult *next = NULL;
        if (asked) {
            next = recipients_page_receive(db, perr, sizeof(perr));
            pages++;
            pg_ms += monotonic_ms() - t1;
        }
        if (collected != 0) {
            PQclear(next);
            break;
        }
        if (more && next == NULL) {
            snprintf(err, errlen, "%s", perr);
            break;
        }
        if (w->on_page != NULL && fw.plain && page_notifies(page)
            && feed_push_sync(&fw.push, err, errlen) != 0) {
            PQclear(next);
            break;
        }
        if (w->on_page != NULL && w->on_page(w->arg, page, err, errlen) != 0) {
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
    *changed = fw.plain ? fw.push.changed : fw.batch->changed;
    mlog(LOG_DEBUG, "fan-out of %s: %d page(s) of followers, %lld ms waiting for postgresql,"
         " %lld ms for redis", w->status_id, pages, pg_ms, redis_ms);

done:
    PQclear(page);
    if (fw.plain)
        feed_push_free(&fw.push);
    free(fw.batch);
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
    fanout_event fe = { &ev, "", 0 };

    /* without a rendering (a remote post) the event names the status: the
     * streaming side renders it for each viewer */
    if ((payload != NULL ? stream_event_make(&ev, job->event, payload, plen)
                         : stream_event_status_id(&ev, job->event, f->id)) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(fe.key, sizeof(fe.key), "mastodon:event:%s", ctx->job->jid);

    int rc = -1;
    /* f->mentioned holds every account a mention notification could go
     * to: most statuses mention none, and need no statement for them */
    if (f->reblog_of_id[0] == '\0' && strcmp(f->mentioned, "{}") != 0
        && notify_mentions(c, db, f->id, err, errlen) != 0)
        goto done;
    if (job->fan(ctx, db, f, &fe, err, errlen) != 0)
        goto done;
    if (stream_public(c, f, &ev, err, errlen) != 0 || stream_direct(c, f, &ev, err, errlen) != 0)
        goto done;
    if (fanout_federate(ctx, f, job->action, err, errlen) != 0)
        goto done;
    rc = fe.stored ? redis_do(c, err, errlen, "DEL %s", fe.key) : 0;

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
    int given = args_object_raw(&a, "payload", &payload, &plen);
    if (!given && job->edit) {
        /* the module stores an edit's rendering after its commit, so the one
         * found may be the version before; the streams render the id, and the
         * forget goes first on this connection, so every node drops the old
         * rendering before it hears the event (a remote Update's own
         * status_forget job may run after this one) */
        if (status_forget_now(*ctx->redis, id, err, errlen) != 0)
            goto done;
        payload = NULL;
        plen = 0;
    } else if (!given) {
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
