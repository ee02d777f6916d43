/* The outbox relay: job_outbox rows into the Redis streams.
 *
 * Every worker process runs a relay thread; the one holding the session
 * advisory lock OUTBOX_LOCK_KEY relays, the others try again every second
 * (the lock goes with a dead relay's connection).  The active relay
 * LISTENs on mastodon_outbox (the table's trigger notifies at each commit
 * that inserted jobs) and polls once a second anyway, so a lost
 * notification costs at most a second.  A pass reads rows in id order,
 * XADDs them pipelined (jid: the row id in hex, so a job relayed twice
 * keeps its jid) and deletes them.  It also LISTENs on mastodon_account
 * and publishes the accounts changed (account_forget.h).  Jobs a poll
 * finds that no notification announced were committed by a writer whose
 * notifications went after its commit (sql/0054) and were lost with its
 * connection: their account changes are lost too, so every account is
 * forgotten. */
#include "outbox.h"
#include "account_forget.h"
#include "db.h"
#include "log.h"
#include "queue.h"
#include "redis.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OUTBOX_POLL_MS    1000

static const char select_sql[] =
    "SELECT id, queue, type, args FROM job_outbox ORDER BY id LIMIT 200";

static const char delete_sql[] =
    "DELETE FROM job_outbox WHERE id = ANY($1::bigint[])";

static int type_valid(const char *type)
{
    size_t n = strlen(type);
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((type[i] >= 'a' && type[i] <= 'z') || (type[i] >= '0' && type[i] <= '9')
              || type[i] == '_'))
            return 0;
    return 1;
}

/* A row that cannot become a job (bad queue or type) goes to the dead
 * stream, so it neither blocks the outbox nor disappears unseen. */
static int append_row(redisContext *c, const PGresult *res, int i, const char *enq)
{
    const char *id = PQgetvalue(res, i, 0), *queue = PQgetvalue(res, i, 1);
    const char *type = PQgetvalue(res, i, 2), *args = PQgetvalue(res, i, 3);
    size_t args_len = (size_t) PQgetlength(res, i, 3);
    char jid[24];

    snprintf(jid, sizeof(jid), "%016llx", strtoull(id, NULL, 10));
    if (!queue_name_valid(queue) || !type_valid(type)) {
        mlog(LOG_ERROR, "outbox row %s: bad queue \"%.64s\" or type \"%.64s\": moved to " QUEUE_DEAD,
             id, queue, type);
        return redisAppendCommand(c, "XADD " QUEUE_DEAD " * queue %s type %s args %b attempt 0"
                                  " jid %s enqueued_at %s error %s failed_at %s", queue, type,
                                  args, args_len, jid, enq, "bad outbox row", enq);
    }
    return redisAppendCommand(c, "XADD " QUEUE_PREFIX "%s * type %s args %b attempt 0 jid %s"
                              " enqueued_at %s", queue, type, args, args_len, jid, enq);
}

int outbox_relay_batch(PGconn *db, redisContext *c, char *err, size_t errlen)
{
    /* a pass per commit that queued jobs: planned once per connection */
    PGresult *res = db_query_prepared(db, "mw_outbox_select", select_sql, 0, NULL,
                                      PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return -1;
    int n = PQntuples(res), rc = -1;
    char enq[32], *ids = NULL;

    if (n == 0) {
        PQclear(res);
        return 0;
    }
    snprintf(enq, sizeof(enq), "%lld", now_ms());
    for (int i = 0; i < n; i++) {
        if (append_row(c, res, i, enq) != REDIS_OK) {
            snprintf(err, errlen, "redis: %s", c->errstr);
            goto done;
        }
    }
    /* Every reply is read, so the connection stays in step even when one
     * failed; then nothing is deleted and the pass is tried again. */
    int failed = 0;
    for (int i = 0; i < n; i++) {
        redisReply *r = NULL;
        if (redisGetReply(c, (void **) &r) != REDIS_OK) {
            snprintf(err, errlen, "redis: %s", c->errstr);
            goto done;
        }
        if (r->type != REDIS_REPLY_STRING && !failed) {
            snprintf(err, errlen, "redis: XADD: %s", r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
            failed = 1;
        }
        freeReplyObject(r);
    }
    if (failed)
        goto done;

    /* {id,id,...}: at most 20 digits and a comma each */
    ids = malloc((size_t) (n > 0 ? n : 1) * 21 + 3);
    if (ids == NULL) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    char *p = ids;
    *p++ = '{';
    for (int i = 0; i < n; i++)
        p += sprintf(p, "%s%s", i ? "," : "", PQgetvalue(res, i, 0));
    *p++ = '}';
    *p = '\0';
    const char *params[1] = { ids };
    PGresult *del = db_query_prepared(db, "mw_outbox_delete", delete_sql, 1, params,
                                      PGRES_COMMAND_OK, err, errlen);
    if (del == NULL)
        goto done;
    PQclear(del);
    mlog(LOG_DEBUG, "outbox: %d job(s) relayed, up to row %s", n, PQgetvalue(res, n - 1, 0));
    rc = n;

done:
    free(ids);
    PQclear(res);
    return rc;
}

/* ------------------------------------------------------------------ */
/* The relay thread.                                                   */

static const worker_config *relay_cfg;
static volatile int        *relay_stop;
static pthread_t            relay_tid;
static int                  relay_started;

/* Waits for a notification or the poll period; the outbox's are only a
 * wake-up, mastodon_account's name accounts to forget on every node,
 * mastodon_notifications' the recipients of notification pages.
 * Notifications a query already read are taken at once.  1: the outbox's
 * was heard, 0: not, -1: the connection is gone. */
static int wait_notify(PGconn *db, redisContext *c, long ms)
{
    struct pollfd pfd = { PQsocket(db), POLLIN, 0 };
    account_forget forget = { .word = "account" };
    account_forget notif = { .word = "notifications" };
    PGnotify *n;
    int heard = 0, jobs = 0;

    if (pfd.fd < 0)
        return -1;
    for (;;) {
        while ((n = PQnotifies(db)) != NULL) {
            heard = 1;
            if (strcmp(n->relname, ACCOUNT_FORGET_CHANNEL) == 0)
                account_forget_add(&forget, c, n->extra);
            else if (strcmp(n->relname, NOTIFICATIONS_FORGET_CHANNEL) == 0)
                account_forget_add(&notif, c, n->extra);
            else if (strcmp(n->relname, OUTBOX_CHANNEL) == 0)
                jobs = 1;
            PQfreemem(n);
        }
        if (heard || ms == 0)
            break;
        if (poll(&pfd, 1, (int) ms) < 0 && errno != EINTR)
            return -1;
        if (PQconsumeInput(db) == 0)
            return -1;
        ms = 0;
    }
    account_forget_flush(&forget, c);
    account_forget_flush(&notif, c);
    return jobs;
}

/* 1 we hold the lock (and LISTEN), 0 another relay does, -1 error. */
static int take_lock(PGconn *db, char *err, size_t errlen)
{
    PGresult *res = db_query(db, "SELECT pg_try_advisory_lock(" OUTBOX_LOCK_KEY ")", 0, NULL,
                             PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return -1;
    int held = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    if (held && (db_exec(db, "LISTEN " OUTBOX_CHANNEL, err, errlen) != 0
                 || db_exec(db, "LISTEN " ACCOUNT_FORGET_CHANNEL, err, errlen) != 0
                 || db_exec(db, "LISTEN " NOTIFICATIONS_FORGET_CHANNEL, err, errlen) != 0))
        return -1;
    return held;
}

static void *relay_main(void *arg)
{
    PGconn *db = NULL;
    redisContext *c = NULL;
    int held = 0, waiting_logged = 0, listened = 0, announced = 1;
    long long beat = 0;
    char err[512];

    (void) arg;
    while (!*relay_stop) {
        if (db == NULL || PQstatus(db) != CONNECTION_OK) {
            if (db != NULL)
                mlog(LOG_WARN, "outbox: postgresql connection lost");
            db_close(&db);
            held = 0;
            db = db_open(relay_cfg, 0, err, sizeof(err));
            if (db == NULL) {
                mlog(LOG_ERROR, "outbox: %s", err);
                sleep_ms(OUTBOX_POLL_MS);
                continue;
            }
        }
        if (!held) {
            held = take_lock(db, err, sizeof(err));
            if (held < 0) {
                mlog(LOG_ERROR, "outbox: %s", err);
                db_close(&db);
                held = 0;
                sleep_ms(OUTBOX_POLL_MS);
                continue;
            }
            if (!held) {
                if (!waiting_logged++)
                    mlog(LOG_INFO, "outbox: another worker relays, standing by");
                sleep_ms(OUTBOX_POLL_MS);
                continue;
            }
            mlog(LOG_INFO, "outbox: relaying jobs to redis");
            listened = 1;
        }
        if (c == NULL) {
            c = redis_open_retry(relay_cfg, 0, relay_stop);
            if (c == NULL)
                break;
        }
        if (listened) {
            /* account changes nobody listened to: every account */
            account_forget_all(c);
            listened = 0;
        }
        if (now_ms() - beat >= ACCOUNT_FORGET_BEAT_MS) {
            account_forget_beat(c);
            beat = now_ms();
        }

        int n, moved = 0;
        do {
            n = outbox_relay_batch(db, c, err, sizeof(err));
            moved += n > 0 ? n : 0;
        } while (n == OUTBOX_BATCH && !*relay_stop);
        /* a direct NOTIFY is read with the pass that saw its commit */
        if (moved > 0 && !announced && wait_notify(db, c, 0) == 0) {
            mlog(LOG_INFO, "outbox: jobs nobody announced: every account forgotten");
            account_forget_all(c);
        }
        if (n < 0) {
            /* rows stay; Redis is reopened (with backoff), PostgreSQL too */
            mlog(LOG_ERROR, "outbox: %s", err);
            if (c->err)
                redis_close(&c);
            sleep_ms(OUTBOX_POLL_MS);
            continue;
        }
        announced = wait_notify(db, c, OUTBOX_POLL_MS);
        if (announced < 0)
            db_close(&db);
    }
    redis_close(&c);
    db_close(&db);
    return NULL;
}

int outbox_relay_start(const worker_config *cfg, volatile int *stop)
{
    relay_cfg = cfg;
    relay_stop = stop;
    int rc = pthread_create(&relay_tid, NULL, relay_main, NULL);
    if (rc != 0) {
        mlog(LOG_ERROR, "cannot create the outbox relay thread: %s", strerror(rc));
        return -1;
    }
    relay_started = 1;
    return 0;
}

void outbox_relay_join(void)
{
    if (relay_started) {
        pthread_join(relay_tid, NULL);
        relay_started = 0;
    }
}
