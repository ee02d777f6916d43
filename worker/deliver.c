/* One activity to many inboxes (deliver.h): the inboxes grouped by host,
 * each group started up to deliver_host_concurrency at once and refilled
 * as its transfers end, all on the thread's event loop; then, once all
 * ended, the hosts' failure days and availability, and the retries. */
#include "deliver.h"
#include "db.h"
#include "fetch.h"
#include "log.h"
#include "queue.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/sha.h>

int deliver_bench_unsigned;

enum { R_PENDING, R_DELIVERED, R_ANSWERED, R_GIVEN_UP, R_SKIPPED, R_FAILED };

typedef struct deliver_run_s deliver_run;

typedef struct {
    deliver_run *run;
    const char  *url;
    char         host[256];
    size_t       group;
    ap_signing   signing;
    int          switched;      /* tried the other signature form */
    int          result;
    char        *sync;          /* Collection-Synchronization line, or NULL */
    const char  *lines[2];
    char         error[300];
} deliver_item;

typedef struct {
    size_t first, count, next;      /* into run->order */
    long   inflight;
} host_group;

struct deliver_run_s {
    job_ctx        *ctx;
    ap_signer       signer;
    const char     *body;
    size_t          len;
    deliver_item   *items;
    size_t          n;
    deliver_item  **order;          /* by host */
    host_group     *groups;
    size_t          ngroups;
    size_t          left;
    int             all_done;
    int             starting;
    int             flags;          /* DELIVER_* */
};

/* Mastodon's response_error_unsalvageable?: retrying will not help. */
static int unsalvageable(long status)
{
    return status == 501 || (status >= 400 && status < 500 && status != 401 && status != 408
                             && status != 429);
}

static void start_group(deliver_run *run, size_t g);

static void item_end(deliver_item *it)
{
    deliver_run *run = it->run;

    run->groups[it->group].inflight--;
    if (--run->left == 0)
        run->all_done = 1;
    if (!run->starting)
        start_group(run, it->group);
}

static void start_item(deliver_run *run, deliver_item *it);

static void item_done(fetch_response *res, void *data)
{
    deliver_item *it = data;

    if (res->outcome == FETCH_OK && res->status == 401 && !it->switched) {
        /* a peer refusing the signature: the other form once, at once
         * (Mastodon 4.5+ verifies RFC 9421; older peers only cavage) */
        it->switched = 1;
        it->signing.rfc9421 = !it->signing.rfc9421;
        it->run->groups[it->group].inflight--;
        start_item(it->run, it);
        return;
    }
    if (res->outcome == FETCH_OK && res->status >= 200 && res->status < 300) {
        it->result = R_DELIVERED;
    } else if (res->outcome == FETCH_OK && unsalvageable(res->status)) {
        it->result = R_ANSWERED;
        snprintf(it->error, sizeof(it->error), "answered %ld: given up", res->status);
    } else if (res->outcome == FETCH_REFUSED) {
        it->result = R_GIVEN_UP;
        snprintf(it->error, sizeof(it->error), "%s", res->error);
    } else {
        it->result = R_FAILED;
        if (res->outcome == FETCH_OK)
            snprintf(it->error, sizeof(it->error), "answered %ld", res->status);
        else
            snprintf(it->error, sizeof(it->error), "%s", res->error);
    }
    item_end(it);
}

static void start_item(deliver_run *run, deliver_item *it)
{
    char err[256];
    fetch_request req = {
        .kind = FETCH_DELIVERY,
        .method = "POST",
        .url = it->url,
        .body = run->body,
        .body_len = run->len,
        .sign = deliver_bench_unsigned ? NULL : ap_sign,
        .sign_data = &it->signing,
        .headers = it->sync != NULL ? it->lines : NULL,
        .timeout_ms = run->ctx->cfg->deliver_timeout_ms,
        .max_bytes = DELIVER_MAX_RESPONSE,
    };

    run->groups[it->group].inflight++;
    if (fetch_start(run->ctx->http, run->ctx->cfg, &req, item_done, it, err, sizeof(err)) != 0) {
        it->result = R_FAILED;
        snprintf(it->error, sizeof(it->error), "%s", err);
        item_end(it);
    }
}

static void start_group(deliver_run *run, size_t g)
{
    host_group *hg = &run->groups[g];
    int outer = run->starting;

    run->starting = 1;
    while (hg->inflight < run->ctx->cfg->deliver_host_concurrency && hg->next < hg->count) {
        deliver_item *it = run->order[hg->first + hg->next++];
        if (it->result == R_PENDING)
            start_item(run, it);
    }
    run->starting = outer;
}

static int by_host(const void *a, const void *b)
{
    const deliver_item *x = *(deliver_item *const *) a, *y = *(deliver_item *const *) b;
    int c = strcmp(x->host, y->host);
    return c != 0 ? c : (x < y ? -1 : x > y);
}

/* A text[] literal of the strings (quoted, with \ and " escaped). */
static char *text_array(size_t n, size_t (*pick)(void *, size_t, const char **), void *ctx)
{
    size_t cap = 3, len = 0;
    const char *s;

    for (size_t i = 0; i < n; i++) {
        if (pick(ctx, i, &s))
            cap += 2 * strlen(s) + 3;
    }
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;
    out[len++] = '{';
    for (size_t i = 0; i < n; i++) {
        if (!pick(ctx, i, &s))
            continue;
        if (len > 1)
            out[len++] = ',';
        out[len++] = '"';
        for (; *s != '\0'; s++) {
            if (*s == '"' || *s == '\\')
                out[len++] = '\\';
            out[len++] = *s;
        }
        out[len++] = '"';
    }
    out[len++] = '}';
    out[len] = '\0';
    return out;
}

static size_t pick_url(void *ctx, size_t i, const char **s)
{
    deliver_run *run = ctx;
    *s = run->items[i].url;
    return run->items[i].result == R_PENDING;
}

/* Inboxes on hosts marked unavailable or suspended: skipped. */
static int skip_refused(deliver_run *run, PGconn *db, char *err, size_t errlen)
{
    char *urls = text_array(run->n, pick_url, run);
    if (urls == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const char *params[1] = { urls };
    PGresult *res = db_query(db,
        "SELECT u FROM unnest($1::text[]) u"
        " WHERE mastodon_delivery_refused(mastodon_url_host(u))",
        1, params, PGRES_TUPLES_OK, err, errlen);
    free(urls);
    if (res == NULL)
        return -1;
    for (int r = 0; r < PQntuples(res); r++) {
        const char *u = PQgetvalue(res, r, 0);
        for (size_t i = 0; i < run->n; i++) {
            if (run->items[i].result == R_PENDING && strcmp(run->items[i].url, u) == 0) {
                run->items[i].result = R_SKIPPED;
                snprintf(run->items[i].error, sizeof(run->items[i].error),
                         "host unavailable or suspended");
            }
        }
    }
    PQclear(res);
    return 0;
}

typedef struct {
    deliver_run *run;
    int          want;          /* 1: hosts that answered, 0: that failed */
} host_pick;

/* One entry per host (the first item of each group) */
static size_t pick_host(void *ctx, size_t g, const char **s)
{
    host_pick *hp = ctx;
    deliver_run *run = hp->run;
    const host_group *hg = &run->groups[g];
    int answered = 0, failed = 0;

    for (size_t k = 0; k < hg->count; k++) {
        int r = run->order[hg->first + k]->result;
        answered |= r == R_DELIVERED || r == R_ANSWERED;
        failed |= r == R_FAILED;
    }
    *s = run->order[hg->first]->host;
    return hp->want ? answered : failed && !answered;
}

/* The signature form each host wants: mastodon:httpsig_rfc9421:<host>
 * set (a week) when a host refused cavage and took RFC 9421, deleted when
 * it went the other way. */
static void signature_forms_read(deliver_run *run)
{
    redisContext *rc = *run->ctx->redis;
    size_t sent = 0;

    for (size_t g = 0; g < run->ngroups; g++, sent++)
        redisAppendCommand(rc, "GET mastodon:httpsig_rfc9421:%s", run->order[run->groups[g].first]->host);
    for (size_t g = 0; g < sent; g++) {
        redisReply *r = NULL;
        if (redisGetReply(rc, (void **) &r) != REDIS_OK)
            return;
        if (r->type == REDIS_REPLY_STRING && strcmp(r->str, "1") == 0) {
            for (size_t k = 0; k < run->groups[g].count; k++)
                run->order[run->groups[g].first + k]->signing.rfc9421 = 1;
        }
        freeReplyObject(r);
    }
}

static void signature_forms_write(deliver_run *run)
{
    redisContext *rc = *run->ctx->redis;
    size_t sent = 0;

    for (size_t i = 0; i < run->n; i++) {
        const deliver_item *it = &run->items[i];
        if (!it->switched || it->result != R_DELIVERED)
            continue;
        if (it->signing.rfc9421)
            redisAppendCommand(rc, "SET mastodon:httpsig_rfc9421:%s 1 EX 604800", it->host);
        else
            redisAppendCommand(rc, "DEL mastodon:httpsig_rfc9421:%s", it->host);
        sent++;
    }
    for (size_t i = 0; i < sent; i++) {
        redisReply *r = NULL;
        if (redisGetReply(rc, (void **) &r) != REDIS_OK)
            return;
        freeReplyObject(r);
    }
}

/* DeliveryFailureTracker: an answer clears the host's failure days and
 * its unavailability; a failure adds today, and the 7th day marks it. */
static void track_hosts(deliver_run *run, PGconn *db)
{
    redisContext *rc = *run->ctx->redis;
    char day[16], err[256];
    time_t now = time(NULL);
    struct tm tm;
    host_pick answered = { run, 1 }, failed = { run, 0 };
    const char *h;

    gmtime_r(&now, &tm);
    strftime(day, sizeof(day), "%Y%m%d", &tm);

    size_t ncmds = 0;
    for (size_t g = 0; g < run->ngroups; g++) {
        if (pick_host(&answered, g, &h)) {
            redisAppendCommand(rc, "DEL mastodon:exhausted_deliveries:%s", h);
            ncmds++;
        } else if (pick_host(&failed, g, &h)) {
            redisAppendCommand(rc, "SADD mastodon:exhausted_deliveries:%s %s", h, day);
            redisAppendCommand(rc, "EXPIRE mastodon:exhausted_deliveries:%s 2592000", h);
            redisAppendCommand(rc, "SCARD mastodon:exhausted_deliveries:%s", h);
            ncmds += 3;
        }
    }

    char **reached = calloc(run->ngroups + 1, sizeof(char *));
    size_t nreached = 0;
    for (size_t g = 0; g < run->ngroups && ncmds > 0; g++) {
        redisReply *r = NULL;
        if (pick_host(&answered, g, &h)) {
            if (redisGetReply(rc, (void **) &r) != REDIS_OK)
                break;
            freeReplyObject(r);
            ncmds--;
        } else if (pick_host(&failed, g, &h)) {
            for (int k = 0; k < 3; k++) {
                if (redisGetReply(rc, (void **) &r) != REDIS_OK)
                    goto redis_done;
                if (k == 2 && r->type == REDIS_REPLY_INTEGER && r->integer >= DELIVER_FAILURE_DAYS
                    && reached != NULL)
                    reached[nreached++] = (char *) h;
                freeReplyObject(r);
                ncmds--;
            }
        }
    }
redis_done:
    if (ncmds > 0)
        mlog(LOG_WARN, "delivery: the hosts' failure days were not all recorded: %s", rc->errstr);

    char *ok = text_array(run->ngroups, pick_host, &answered);
    if (ok != NULL && strcmp(ok, "{}") != 0) {
        const char *params[1] = { ok };
        PGresult *res = db_query(db, "DELETE FROM unavailable_domains WHERE domain = ANY($1::text[])",
                                 1, params, PGRES_COMMAND_OK, err, sizeof(err));
        if (res == NULL)
            mlog(LOG_WARN, "delivery: unavailable_domains: %s", err);
        else if (atol(PQcmdTuples(res)) > 0)
            mlog(LOG_NOTICE, "delivery: %s host(s) available again", PQcmdTuples(res));
        PQclear(res);
    }
    free(ok);

    for (size_t i = 0; i < nreached; i++) {
        const char *params[1] = { reached[i] };
        PGresult *res = db_query(db,
            "INSERT INTO unavailable_domains (domain) VALUES ($1) ON CONFLICT (domain) DO NOTHING",
            1, params, PGRES_COMMAND_OK, err, sizeof(err));
        if (res == NULL)
            mlog(LOG_WARN, "delivery: unavailable_domains: %s", err);
        else
            mlog(LOG_NOTICE, "delivery: %s failed on %d days: marked unavailable", reached[i],
                 DELIVER_FAILURE_DAYS);
        PQclear(res);
    }
    free(reached);
}

/* A failed inbox continues as an activitypub_deliver job of its own. */
static int schedule_retry(deliver_run *run, const char *account_id, const deliver_item *it,
                          char *err, size_t errlen)
{
    char *url = json_quoted(it->url);
    char *acct = json_quoted(account_id);
    int rc = -1;

    if (url != NULL && acct != NULL) {
        size_t cap = strlen(url) + strlen(acct) + run->len + 64;
        char *args = malloc(cap);
        if (args != NULL) {
            int n = snprintf(args, cap, "{\"account_id\":%s,\"inbox\":%s,%s\"activity\":%.*s}",
                             acct, url, (run->flags & DELIVER_SYNC_FOLLOWERS)
                             ? "\"synchronize_followers\":true," : "",
                             (int) run->len, run->body);
            rc = queue_schedule(*run->ctx->redis, "push", "activitypub_deliver", args, (size_t) n,
                                1, queue_backoff_ms(run->ctx->cfg, 0), it->error, err, errlen);
            free(args);
        }
    }
    if (rc != 0 && (url == NULL || acct == NULL))
        snprintf(err, errlen, "out of memory");
    free(url);
    free(acct);
    return rc;
}

/* The scheme and authority an URL starts with (Mastodon's
 * Account::URL_PREFIX_RE, \Ahttps?://[^/]+): its length, 0 if none. */
static size_t url_prefix(const char *url)
{
    size_t k = strncmp(url, "https://", 8) == 0 ? 8 : strncmp(url, "http://", 7) == 0 ? 7 : 0;
    size_t h = k > 0 ? strcspn(url + k, "/") : 0;
    return h > 0 ? k + h : 0;
}

/*
 * Mastodon's Collection-Synchronization header of a followers-only post
 * (DeliveryWorker#synchronization_header): the signer's followers
 * collection, the digest of its followers on the inbox's host (the XOR of
 * the SHA-256 of their URIs, Account#remote_followers_hash: URIs that are
 * the inbox URL's scheme and authority, or start with it and "/") and
 * the URL of that partial collection.
 */
static int sync_headers(deliver_run *run, PGconn *db, const char *account_id,
                        char *err, size_t errlen)
{
    const char *params[1] = { account_id };
    PGresult *res = db_query(db, "SELECT a.uri FROM follows f JOIN accounts a"
                             " ON a.id = f.account_id WHERE f.target_account_id = $1::bigint"
                             " AND a.domain IS NOT NULL", 1, params, PGRES_TUPLES_OK,
                             err, errlen);
    if (res == NULL)
        return -1;
    int m = PQntuples(res);
    for (size_t i = 0; i < run->n; i++) {
        deliver_item *it = &run->items[i];
        unsigned char x[SHA256_DIGEST_LENGTH] = { 0 }, md[SHA256_DIGEST_LENGTH];
        char hex[2 * SHA256_DIGEST_LENGTH + 1];
        size_t p = url_prefix(it->url);

        if (it->result != R_PENDING || p == 0)
            continue;
        for (int k = 0; k < m; k++) {
            const char *uri = PQgetvalue(res, k, 0);
            if (strncmp(uri, it->url, p) != 0 || (uri[p] != '\0' && uri[p] != '/'))
                continue;
            SHA256((const unsigned char *) uri, strlen(uri), md);
            for (size_t b = 0; b < sizeof(x); b++)
                x[b] ^= md[b];
        }
        hex_encode(hex, x, sizeof(x));
        size_t cap = 2 * strlen(run->signer.actor) + sizeof(hex) + 128;
        it->sync = malloc(cap);
        if (it->sync == NULL) {
            PQclear(res);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        snprintf(it->sync, cap, "Collection-Synchronization: collectionId=\"%s/followers\","
                 " digest=\"%s\", url=\"%s/followers_synchronization\"", run->signer.actor,
                 hex, run->signer.actor);
        it->lines[0] = it->sync;
        it->lines[1] = NULL;
    }
    PQclear(res);
    return 0;
}

int deliver(job_ctx *ctx, PGconn *db, const char *account_id, const char *body, size_t len,
            char *const *inboxes, size_t n, int flags, deliver_stats *stats,
            char *err, size_t errlen)
{
    int retry_job = flags & DELIVER_RETRY_JOB;
    deliver_run run;
    int rc = -1;

    memset(stats, 0, sizeof(*stats));
    memset(&run, 0, sizeof(run));
    if (n == 0)
        return 0;
    if (ctx->http == NULL) {
        snprintf(err, errlen, "no event loop for the deliveries");
        return -1;
    }
    run.ctx = ctx;
    run.body = body;
    run.len = len;
    run.n = n;
    run.flags = flags;

    int found = ap_signer_load(db, ctx->cfg, account_id, &run.signer, err, errlen);
    if (found < 0)
        return -1;
    if (found == 0) {
        /* the actor is gone (or never had a key): nothing can be signed */
        mlog(LOG_NOTICE, "delivery: account %s has no key here: %zu inbox(es) dropped", account_id, n);
        stats->given_up = n;
        return 0;
    }

    run.items = calloc(n, sizeof(*run.items));
    run.order = calloc(n, sizeof(*run.order));
    run.groups = calloc(n, sizeof(*run.groups));
    if (run.items == NULL || run.order == NULL || run.groups == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        deliver_item *it = &run.items[i];
        it->run = &run;
        it->url = inboxes[i];
        it->signing.signer = &run.signer;
        if (fetch_url_host(it->url, it->host, sizeof(it->host)) != 0) {
            it->result = R_GIVEN_UP;
            snprintf(it->error, sizeof(it->error), "not an inbox URL");
        }
        run.order[i] = it;
    }
    if (skip_refused(&run, db, err, errlen) != 0)
        goto out;
    if ((flags & DELIVER_SYNC_FOLLOWERS) && sync_headers(&run, db, account_id, err, errlen) != 0)
        goto out;

    qsort(run.order, n, sizeof(*run.order), by_host);
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || strcmp(run.order[i]->host, run.order[i - 1]->host) != 0) {
            run.groups[run.ngroups].first = i;
            run.ngroups++;
        }
        run.groups[run.ngroups - 1].count++;
        run.order[i]->group = run.ngroups - 1;
        if (run.order[i]->result == R_PENDING)
            run.left++;
    }

    if (run.left > 0) {
        signature_forms_read(&run);
        run.starting = 1;
        for (size_t g = 0; g < run.ngroups; g++)
            start_group(&run, g);
        run.starting = 0;
        /* transfers that ended while starting left their group's slots
         * free: fill them */
        for (size_t g = 0; g < run.ngroups && !run.all_done; g++)
            start_group(&run, g);
        http_wait(ctx->http, &run.all_done);
    }
    if (!run.all_done && run.left > 0) {
        snprintf(err, errlen, "the event loop failed with %zu deliveries running", run.left);
        goto out;
    }

    track_hosts(&run, db);
    signature_forms_write(&run);

    rc = 0;
    for (size_t i = 0; i < n; i++) {
        deliver_item *it = &run.items[i];
        switch (it->result) {
        case R_DELIVERED:
            stats->delivered++;
            mlog(LOG_DEBUG, "delivered to %s", it->url);
            break;
        case R_ANSWERED:
        case R_GIVEN_UP:
            stats->given_up++;
            mlog(LOG_INFO, "delivery to %s given up: %s", it->url, it->error);
            break;
        case R_SKIPPED:
            stats->skipped++;
            mlog(LOG_DEBUG, "delivery to %s skipped: %s", it->url, it->error);
            break;
        default:
            stats->failed++;
            if (retry_job) {
                snprintf(err, errlen, "delivery to %.300s failed: %s", it->url, it->error);
                rc = -1;
            } else {
                char serr[256];
                mlog(LOG_INFO, "delivery to %s failed: %s; retried later", it->url, it->error);
                if (schedule_retry(&run, account_id, it, serr, sizeof(serr)) != 0) {
                    /* the whole job is retried: the others get it again,
                     * which their inboxes deduplicate by activity id */
                    snprintf(err, errlen, "cannot schedule the retry of %.200s: %s", it->url, serr);
                    rc = -1;
                }
            }
        }
    }

out:
    ap_signer_free(&run.signer);
    for (size_t i = 0; run.items != NULL && i < n; i++)
        free(run.items[i].sync);
    free(run.items);
    free(run.order);
    free(run.groups);
    return rc;
}

long deliver_inboxes(PGconn *db, const char *kind, const char *account_id,
                     const char *status_id, const char *target_id, char ***out,
                     char *err, size_t errlen)
{
    const char *params[4] = { kind, account_id, status_id, target_id };

    *out = NULL;
    PGresult *res = db_query(db,
        "SELECT inbox_url FROM mastodon_delivery_inboxes($1, $2::bigint, $3::bigint, $4::bigint)",
        4, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return -1;
    long n = PQntuples(res);
    char **v = calloc((size_t) n + 1, sizeof(char *));
    if (v == NULL) {
        PQclear(res);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (long i = 0; i < n; i++) {
        v[i] = strdup(PQgetvalue(res, (int) i, 0));
        if (v[i] == NULL) {
            deliver_inboxes_free(v, i);
            PQclear(res);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    PQclear(res);
    *out = v;
    return n;
}

void deliver_inboxes_free(char **inboxes, long n)
{
    for (long i = 0; inboxes != NULL && i < n; i++)
        free(inboxes[i]);
    free(inboxes);
}

int deliver_enqueue(job_ctx *ctx, const char *once_key, const char *account_id,
                    const char *activity, size_t len, const char *kind,
                    const char *status_id, const char *target_id, char *err, size_t errlen)
{
    char *acct = json_quoted(account_id), *k = json_quoted(kind);
    char *st = json_quoted(status_id != NULL ? status_id : "");
    char *tg = json_quoted(target_id != NULL ? target_id : "");
    int rc = -1;

    if (acct != NULL && k != NULL && st != NULL && tg != NULL) {
        size_t cap = strlen(acct) + strlen(k) + strlen(st) + strlen(tg) + len + 128;
        char *args = malloc(cap);
        if (args != NULL) {
            int n = snprintf(args, cap,
                             "{\"account_id\":%s,\"kind\":%s,\"status_id\":%s,"
                             "\"target_account_id\":%s,\"activity\":%.*s}",
                             acct, k, st, tg, (int) len, activity);
            if (once_key != NULL) {
                int pushed;
                rc = queue_push_once(*ctx->redis, once_key, "push", "activitypub_deliver", args,
                                     (size_t) n, &pushed, err, errlen);
            } else {
                char id[64];
                rc = queue_push(*ctx->redis, "push", "activitypub_deliver", args, (size_t) n,
                                id, sizeof(id), err, errlen);
            }
            free(args);
        }
    }
    if (rc != 0 && (acct == NULL || k == NULL || st == NULL || tg == NULL))
        snprintf(err, errlen, "out of memory");
    free(acct);
    free(k);
    free(st);
    free(tg);
    return rc;
}
