/*
 * Jobs for mastodon-worker go through the outbox (ARCHITECTURE.md, "Job
 * outbox"): rows of job_outbox written in the same batch, so the same
 * transaction, as the rows they concern; the worker's relay moves them
 * into the Redis streams.  What is committed gets its jobs, whatever
 * happens to Redis, nginx or the client afterwards.
 *
 * A statement whose jobs depend on what it changed writes them in a CTE
 * (NGX_HTTP_MASTODON_OUTBOX_SQL); a job whose args are made in C is one
 * more statement in the batch (ngx_http_mastodon_outbox_add()).  Jobs
 * carry ids; the renderings a job publishes are left in Redis after the
 * commit (ngx_http_mastodon_outbox_payload()).  A request that needs the
 * worker's answer (a key fetch, a resolve) asks with
 * ngx_http_mastodon_ask(): a job, then its answer polled in Redis.
 */

#include <openssl/evp.h>

#include "ngx_http_mastodon_backend.h"


#define NGX_HTTP_MASTODON_PAYLOAD_PREFIX  "mastodon:payload:"
#define NGX_HTTP_MASTODON_ASK_POLL        100          /* ms */


static ngx_int_t ngx_http_mastodon_ask_get(ngx_http_mastodon_ask_t *a);
static void ngx_http_mastodon_ask_answer(ngx_http_request_t *r,
    redisReply *reply, void *data);
static void ngx_http_mastodon_ask_asked(ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_ask_poll(ngx_event_t *ev);
static void ngx_http_mastodon_ask_cleanup(void *data);
static void ngx_http_mastodon_ask_done(ngx_http_mastodon_ask_t *a,
    ngx_int_t rc);


static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_outbox_stmt =
    ngx_http_mastodon_pg_stmt(
    "INSERT INTO job_outbox (queue, type, args) VALUES ($1, $2, $3)", 3);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_ask_stmt =
    ngx_http_mastodon_pg_stmt(
    "INSERT INTO job_outbox (queue, type, args)"
    " VALUES ($1, $2, json_build_object($3::text, $4::text)::text)", 4);


ngx_int_t
ngx_http_mastodon_outbox_add(ngx_http_mastodon_pg_batch_t *b,
    const char *queue, const char *type, ngx_str_t *args)
{
    u_char       *p;
    const char  **values;

    values = ngx_palloc(b->request->pool, 3 * sizeof(char *));
    p = ngx_pnalloc(b->request->pool, args->len + 1);
    if (values == NULL || p == NULL) {
        return NGX_ERROR;
    }

    *ngx_cpymem(p, args->data, args->len) = '\0';

    values[0] = queue;
    values[1] = type;
    values[2] = (const char *) p;

    return ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_outbox_stmt,
                                    values);
}


/*
 * SET mastodon:payload:<kind>:<id> <json> EX 3600, fire and forget: a job
 * that finds none writes its rows and feeds without publishing events.
 */
ngx_int_t
ngx_http_mastodon_outbox_payload(ngx_http_request_t *r, const char *kind,
    int64_t id, ngx_str_t *json)
{
    u_char       key[sizeof(NGX_HTTP_MASTODON_PAYLOAD_PREFIX) + 32
                     + NGX_INT64_LEN];
    size_t       argvlen[5];
    const char  *argv[5];

    argv[0] = "SET";
    argvlen[0] = 3;
    argv[1] = (const char *) key;
    argvlen[1] = ngx_snprintf(key, sizeof(key),
                              NGX_HTTP_MASTODON_PAYLOAD_PREFIX "%s:%L",
                              kind, id)
                 - key;
    argv[2] = (const char *) json->data;
    argvlen[2] = json->len;
    argv[3] = "EX";
    argvlen[3] = 2;
    argv[4] = "3600";
    argvlen[4] = 4;

    return ngx_http_mastodon_redis_command(r, NULL, NULL, 5, argv, argvlen);
}


ngx_int_t
ngx_http_mastodon_ask_key(ngx_http_request_t *r, const char *prefix,
    ngx_str_t *subject, ngx_str_t *key)
{
    size_t          len;
    unsigned char   md[32];
    unsigned int    mdlen;

    len = ngx_strlen(prefix);

    key->data = ngx_pnalloc(r->pool, len + 64);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    if (EVP_Digest(subject->data, subject->len, md, &mdlen, EVP_sha256(),
                   NULL)
        != 1)
    {
        return NGX_ERROR;
    }

    ngx_hex_dump(ngx_cpymem(key->data, prefix, len), md, 32);
    key->len = len + 64;

    return NGX_OK;
}


ngx_int_t
ngx_http_mastodon_ask(ngx_http_request_t *r, ngx_http_mastodon_ask_t *a)
{
    ngx_pool_cleanup_t  *cln;

    a->request = r;
    a->asked = 0;
    ngx_str_null(&a->answer);

    if (!a->cleanup) {
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NGX_ERROR;
        }

        cln->handler = ngx_http_mastodon_ask_cleanup;
        cln->data = a;
        a->cleanup = 1;

        a->poll.handler = ngx_http_mastodon_ask_poll;
        a->poll.data = a;
        a->poll.log = r->connection->log;
        a->poll.cancelable = 1;
    }

    return ngx_http_mastodon_ask_get(a);
}


/* GET the answer key */
static ngx_int_t
ngx_http_mastodon_ask_get(ngx_http_mastodon_ask_t *a)
{
    size_t       argvlen[2];
    const char  *argv[2];

    argv[0] = "GET";
    argvlen[0] = 3;
    argv[1] = (const char *) a->key.data;
    argvlen[1] = a->key.len;

    if (ngx_http_mastodon_redis_command(a->request,
                                        ngx_http_mastodon_ask_answer, a,
                                        2, argv, argvlen)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_DONE;
}


static void
ngx_http_mastodon_ask_answer(ngx_http_request_t *r, redisReply *reply,
    void *data)
{
    ngx_http_mastodon_ask_t *a = data;

    const char  *values[4];

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_http_mastodon_ask_done(a, NGX_ERROR);
        return;
    }

    if (reply->type == REDIS_REPLY_STRING) {
        a->answer.data = ngx_pnalloc(r->pool, reply->len + 1);
        if (a->answer.data == NULL) {
            ngx_http_mastodon_ask_done(a, NGX_ERROR);
            return;
        }

        *ngx_cpymem(a->answer.data, reply->str, reply->len) = '\0';
        a->answer.len = reply->len;

        ngx_http_mastodon_ask_done(a, NGX_OK);
        return;
    }

    /* no answer yet */

    if (!a->asked) {
        a->asked = 1;

        values[0] = a->queue;
        values[1] = a->type;
        values[2] = a->arg_name;
        values[3] = ngx_pnalloc(r->pool, a->arg.len + 1);
        if (values[3] == NULL) {
            ngx_http_mastodon_ask_done(a, NGX_ERROR);
            return;
        }

        *ngx_cpymem((u_char *) values[3], a->arg.data, a->arg.len) = '\0';

        if (ngx_http_mastodon_pg_query(r, &ngx_http_mastodon_ask_stmt, values,
                                       ngx_http_mastodon_ask_asked, a)
            != NGX_DONE)
        {
            ngx_http_mastodon_ask_done(a, NGX_ERROR);
        }
        return;
    }

    if ((ngx_msec_int_t) (a->deadline - ngx_current_msec) <= 0) {
        ngx_http_mastodon_ask_done(a, NGX_DECLINED);
        return;
    }

    ngx_add_timer(&a->poll, NGX_HTTP_MASTODON_ASK_POLL);
}


/* the job is in the outbox: no answer yet, by definition; poll soon */
static void
ngx_http_mastodon_ask_asked(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_http_mastodon_ask_t *a = b->data;

    if (!ngx_http_mastodon_pg_ok(b)) {
        ngx_http_mastodon_ask_done(a, NGX_ERROR);
        return;
    }

    a->deadline = ngx_current_msec + a->wait;

    ngx_add_timer(&a->poll, NGX_HTTP_MASTODON_ASK_POLL);
}


static void
ngx_http_mastodon_ask_poll(ngx_event_t *ev)
{
    ngx_http_mastodon_ask_t *a = ev->data;

    if (ngx_http_mastodon_ask_get(a) != NGX_DONE) {
        ngx_http_mastodon_ask_done(a, NGX_ERROR);
    }
}


static void
ngx_http_mastodon_ask_cleanup(void *data)
{
    ngx_http_mastodon_ask_t *a = data;

    if (a->poll.timer_set) {
        ngx_del_timer(&a->poll);
    }
}


static void
ngx_http_mastodon_ask_done(ngx_http_mastodon_ask_t *a, ngx_int_t rc)
{
    if (a->poll.timer_set) {
        ngx_del_timer(&a->poll);
    }

    a->done(a->request, a, rc);
}
