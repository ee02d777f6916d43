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
 * commit (ngx_http_mastodon_outbox_payload()).
 */

#include "ngx_http_mastodon_backend.h"


#define NGX_HTTP_MASTODON_PAYLOAD_PREFIX  "mastodon:payload:"


static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_outbox_stmt =
    ngx_http_mastodon_pg_stmt(
    "INSERT INTO job_outbox (queue, type, args) VALUES ($1, $2, $3)", 3);


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
