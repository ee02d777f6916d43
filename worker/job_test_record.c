/* test_record: the job the queue tests run.
 * args {"key": "<k>", "sleep_ms": <n>, "sql_sleep_ms": <n>, "fail": <bool>,
 * "crash": "<how>"}: RPUSH mastodon:test:<k>:started <consumer>, sleep
 * (sql_sleep_ms: pg_sleep on the job's PostgreSQL connection), then either
 * fail or RPUSH mastodon:test:<k>:done <consumer>.  "crash" (segv, abort or ill,
 * honoured only when the worker runs with MASTODON_TEST_CRASH=1) kills the
 * process after the start is recorded, for the crash handler's test. */
#include "jobs.h"
#include "args.h"
#include "db.h"
#include "util.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Faults for real, as a bug would (raise() would skip the fault path). */
static void crash(const char *how)
{
    volatile uintptr_t addr = 16;

    if (strcmp(how, "segv") == 0)
        *(volatile int *) addr = 1;
    else if (strcmp(how, "ill") == 0)
        __builtin_trap();           /* ud2: an illegal instruction */
    abort();
}

static int push(job_ctx *ctx, const char *key, const char *what, char *err, size_t errlen)
{
    redisReply *r = redisCommand(*ctx->redis, "RPUSH mastodon:test:%s:%s %s", key, what, ctx->consumer);
    if (r == NULL) {
        snprintf(err, errlen, "redis: %s", (*ctx->redis)->errstr);
        return -1;
    }
    int rc = r->type == REDIS_REPLY_INTEGER ? 0 : -1;
    if (rc != 0)
        snprintf(err, errlen, "redis: RPUSH: %s", r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    freeReplyObject(r);
    return rc;
}

int job_test_record(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen)
{
    static const char *sleep_path[] = { "sleep_ms", NULL };
    static const char *sql_sleep_path[] = { "sql_sleep_ms", NULL };
    job_args a;

    if (args_parse(&a, args_json, len, err, errlen) != 0)
        return -1;
    yajl_val sleep = yajl_tree_get(a.root, sleep_path, yajl_t_number);
    yajl_val sql_sleep = yajl_tree_get(a.root, sql_sleep_path, yajl_t_number);
    const char *k = args_string(&a, "key");
    int rc = -1;

    if (k == NULL || k[0] == '\0' || strlen(k) > 200) {
        snprintf(err, errlen, "args.key must be a string of 1 to 200 bytes");
        goto done;
    }
    long long ms = 0;
    if (sleep != NULL) {
        if (!YAJL_IS_INTEGER(sleep) || YAJL_GET_INTEGER(sleep) < 0 || YAJL_GET_INTEGER(sleep) > 600000) {
            snprintf(err, errlen, "args.sleep_ms must be an integer from 0 to 600000");
            goto done;
        }
        ms = YAJL_GET_INTEGER(sleep);
    }
    if (sql_sleep != NULL && (!YAJL_IS_INTEGER(sql_sleep) || YAJL_GET_INTEGER(sql_sleep) < 0
                              || YAJL_GET_INTEGER(sql_sleep) > 600000)) {
        snprintf(err, errlen, "args.sql_sleep_ms must be an integer from 0 to 600000");
        goto done;
    }

    const char *how = args_string(&a, "crash");
    const char *hooks = getenv("MASTODON_TEST_CRASH");
    if (how != NULL && (hooks == NULL || strcmp(hooks, "1") != 0)) {
        snprintf(err, errlen, "args.crash needs MASTODON_TEST_CRASH=1");
        goto done;
    }

    if (push(ctx, k, "started", err, errlen) != 0)
        goto done;
    if (how != NULL)
        crash(how);
    if (ms > 0)
        sleep_ms((long) ms);
    if (sql_sleep != NULL) {
        char seconds[32];
        const char *params[] = { seconds };
        PGconn *db = job_db(ctx, err, errlen);
        if (db == NULL)
            goto done;
        snprintf(seconds, sizeof(seconds), "%.3f", (double) YAJL_GET_INTEGER(sql_sleep) / 1000);
        PGresult *res = db_query(db, "SELECT pg_sleep($1::float8)", 1, params, PGRES_TUPLES_OK,
                                 err, errlen);
        if (res == NULL)
            goto done;
        PQclear(res);
    }
    if (args_true(&a, "fail")) {
        snprintf(err, errlen, "test failure requested");
        goto done;
    }
    rc = push(ctx, k, "done", err, errlen);

done:
    args_free(&a);
    return rc;
}
