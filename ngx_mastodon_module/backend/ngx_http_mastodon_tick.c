/*
 * mastodon_debug_tick: a test aid, off unless configured.  Every interval a
 * timer-owned backend operation runs one round without any request: a
 * PostgreSQL statement (which sleeps as long as told, so that a round is
 * usually under way when the worker exits), a JSON document rendered into
 * the operation's pool, a digest of it made in the thread pool, and a
 * Redis command recording it in the hash mastodon:debug:tick under the
 * worker's pid.  If mastodon:debug:render holds "<account id> <status id>",
 * the round then renders that account and status (the entities' renderers,
 * as an anonymous client is shown them) into mastodon:debug:rendered.  At
 * exit the round under way is cancelled, and the worker checks that no
 * operation is left (an ALERT otherwise).
 *
 * mastodon_debug_stream (below), another test aid, does the same per event
 * of a long-lived answer, in operations owned by its connection.
 */

#include <openssl/sha.h>

#include "ngx_http_mastodon_backend.h"
/* a test aid above the layers: it renders entities */
#include "ngx_http_mastodon_entities.h"


typedef struct {
    ngx_event_t                     timer;
    ngx_http_mastodon_main_conf_t  *conf;
    ngx_http_mastodon_op_t         *op;         /* the round under way */
    ngx_uint_t                      rounds;
    ngx_str_t                       json;
    u_char                          digest[2 * SHA256_DIGEST_LENGTH];
} ngx_http_mastodon_tick_t;


static void ngx_http_mastodon_tick_handler(ngx_event_t *ev);
static void ngx_http_mastodon_tick_counted(ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_tick_digest(void *data, ngx_log_t *log);
static void ngx_http_mastodon_tick_digested(ngx_http_mastodon_op_t *op,
    void *data);
static void ngx_http_mastodon_tick_stored(ngx_http_mastodon_op_t *op,
    redisReply *reply, void *data);
static void ngx_http_mastodon_tick_render(ngx_http_mastodon_op_t *op,
    redisReply *reply, void *data);
static void ngx_http_mastodon_tick_rendered(ngx_http_mastodon_op_t *op,
    ngx_str_t *json, void *data);
static void ngx_http_mastodon_tick_end(ngx_http_mastodon_op_t *op,
    redisReply *reply, void *data);
static void ngx_http_mastodon_tick_freed(ngx_http_mastodon_op_t *op);


static ngx_http_mastodon_tick_t  ngx_http_mastodon_tick;

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_tick_stmt =
    ngx_http_mastodon_pg_stmt(
    "SELECT count(*) FROM accounts, pg_sleep($1::float8 / 1000)", 1);


/* "mastodon_debug_tick interval [sleep]" */
char *
ngx_http_mastodon_debug_tick(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mastodon_main_conf_t *mcf = conf;

    ngx_str_t  *value;

    if (mcf->debug_tick != NGX_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    value = cf->args->elts;

    mcf->debug_tick = ngx_parse_time(&value[1], 0);
    if (mcf->debug_tick == (ngx_msec_t) NGX_ERROR || mcf->debug_tick == 0) {
        return "has an invalid interval";
    }

    mcf->debug_tick_sleep = 0;

    if (cf->args->nelts == 3) {
        mcf->debug_tick_sleep = ngx_parse_time(&value[2], 0);
        if (mcf->debug_tick_sleep == (ngx_msec_t) NGX_ERROR) {
            return "has an invalid sleep";
        }
    }

    return NGX_CONF_OK;
}


void
ngx_http_mastodon_tick_init_process(ngx_cycle_t *cycle,
    ngx_http_mastodon_main_conf_t *mcf)
{
    ngx_http_mastodon_tick_t  *t = &ngx_http_mastodon_tick;

    ngx_memzero(t, sizeof(ngx_http_mastodon_tick_t));

    if (mcf->debug_tick == NGX_CONF_UNSET_MSEC || mcf->debug_tick == 0) {
        return;
    }

    t->conf = mcf;
    t->timer.handler = ngx_http_mastodon_tick_handler;
    t->timer.data = t;
    t->timer.log = cycle->log;
    t->timer.cancelable = 1;

    ngx_add_timer(&t->timer, mcf->debug_tick);
}


void
ngx_http_mastodon_tick_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_mastodon_tick_t  *t = &ngx_http_mastodon_tick;

    if (t->timer.timer_set) {
        ngx_del_timer(&t->timer);
    }

    if (t->op) {
        ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                      "mastodon: debug tick: round %ui cancelled at exit",
                      t->rounds + 1);
        ngx_http_mastodon_op_end(t->op);
    }
}


static void
ngx_http_mastodon_tick_handler(ngx_event_t *ev)
{
    u_char                         *p;
    const char                    **values;
    ngx_http_mastodon_op_t         *op;
    ngx_http_mastodon_tick_t       *t = ev->data;
    ngx_http_mastodon_pg_batch_t   *b;

    if (ngx_exiting) {
        return;                 /* a graceful exit waits for no new round */
    }

    ngx_add_timer(&t->timer, t->conf->debug_tick);

    if (t->op) {
        return;                 /* the last round still runs */
    }

    op = ngx_http_mastodon_op_create(NGX_HTTP_MASTODON_OP_TIMER, &t->timer,
                                     ev->log);
    if (op == NULL) {
        return;
    }

    op->free = ngx_http_mastodon_tick_freed;
    op->data = t;
    t->op = op;

    values = ngx_palloc(op->pool, sizeof(char *));
    p = ngx_pnalloc(op->pool, NGX_INT_T_LEN + 1);
    if (values == NULL || p == NULL) {
        goto failed;
    }

    *ngx_sprintf(p, "%M", t->conf->debug_tick_sleep) = '\0';
    values[0] = (const char *) p;

    b = ngx_http_mastodon_pg_op_batch(op, ngx_http_mastodon_tick_counted, t);

    if (b == NULL
        || ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_tick_stmt, values)
           != NGX_OK
        || ngx_http_mastodon_pg_run(b) != NGX_OK)
    {
        goto failed;
    }

    return;

failed:

    ngx_http_mastodon_op_end(op);
}


static void
ngx_http_mastodon_tick_counted(ngx_http_mastodon_pg_batch_t *b)
{
    PGresult                  *res;
    ngx_http_mastodon_op_t    *op = b->op;
    ngx_http_mastodon_tick_t  *t = b->data;
    ngx_http_mastodon_json_t   j;

    res = ngx_http_mastodon_pg_rows(b, 0);
    if (res == NULL || PQntuples(res) != 1) {
        goto failed;
    }

    if (ngx_http_mastodon_json_op_init(op, &j) != NGX_OK) {
        goto failed;
    }

    ngx_http_mastodon_json_open(&j, NULL);
    ngx_http_mastodon_json_kv_int(&j, "pid", ngx_pid);
    ngx_http_mastodon_json_kv_int(&j, "round", t->rounds + 1);
    ngx_http_mastodon_json_kv_pq(&j, "accounts", res, 0, 0);
    ngx_http_mastodon_json_kv_int(&j, "operations",
                                  ngx_http_mastodon_ops_alive());
    ngx_http_mastodon_json_close(&j);

    if (ngx_http_mastodon_json_string(&j, &t->json) != NGX_OK) {
        goto failed;
    }

    if (ngx_http_mastodon_thread_op_run(op, ngx_http_mastodon_tick_digest,
                                        ngx_http_mastodon_tick_digested, t)
        == NGX_OK)
    {
        return;
    }

failed:

    ngx_http_mastodon_op_end(op);
}


/* in a pool thread: the document and the digest are the round's own */
static void
ngx_http_mastodon_tick_digest(void *data, ngx_log_t *log)
{
    ngx_http_mastodon_tick_t  *t = data;

    u_char  md[SHA256_DIGEST_LENGTH];

    SHA256(t->json.data, t->json.len, md);
    ngx_hex_dump(t->digest, md, SHA256_DIGEST_LENGTH);
}


static void
ngx_http_mastodon_tick_digested(ngx_http_mastodon_op_t *op, void *data)
{
    ngx_http_mastodon_tick_t  *t = data;

    u_char      *p;
    const char  *argv[4];
    size_t       argvlen[4];
    u_char       pid[NGX_INT64_LEN];

    /* {"pid":...,"digest":"<sha256 of the rest>"} */
    p = ngx_pnalloc(op->pool, t->json.len + sizeof(",\"digest\":\"\"")
                              + sizeof(t->digest));
    if (p == NULL) {
        ngx_http_mastodon_op_end(op);
        return;
    }

    argv[0] = "HSET";
    argv[1] = "mastodon:debug:tick";
    argv[2] = (const char *) pid;
    argv[3] = (const char *) p;

    argvlen[0] = 4;
    argvlen[1] = sizeof("mastodon:debug:tick") - 1;
    argvlen[2] = ngx_sprintf(pid, "%P", ngx_pid) - pid;

    p = ngx_cpymem(p, t->json.data, t->json.len - 1);
    p = ngx_sprintf(p, ",\"digest\":\"%*s\"}", sizeof(t->digest), t->digest);
    argvlen[3] = p - (u_char *) argv[3];

    if (ngx_http_mastodon_redis_op_command(op, ngx_http_mastodon_tick_stored,
                                           t, 4, argv, argvlen)
        != NGX_OK)
    {
        ngx_http_mastodon_op_end(op);
    }
}


static void
ngx_http_mastodon_tick_stored(ngx_http_mastodon_op_t *op, redisReply *reply,
    void *data)
{
    ngx_http_mastodon_tick_t  *t = data;

    const char  *argv[2];
    size_t       argvlen[2];

    if (reply && reply->type == REDIS_REPLY_INTEGER) {
        t->rounds++;
    }

    argv[0] = "GET";
    argv[1] = "mastodon:debug:render";
    argvlen[0] = 3;
    argvlen[1] = sizeof("mastodon:debug:render") - 1;

    if (ngx_http_mastodon_redis_op_command(op, ngx_http_mastodon_tick_render,
                                           t, 2, argv, argvlen)
        != NGX_OK)
    {
        ngx_http_mastodon_op_end(op);
    }
}


/* "<account id> <status id>": both rendered in this operation */
static void
ngx_http_mastodon_tick_render(ngx_http_mastodon_op_t *op, redisReply *reply,
    void *data)
{
    u_char   *p, *last, *sp;
    int64_t   account_id, status_id;

    if (reply == NULL || reply->type != REDIS_REPLY_STRING) {
        ngx_http_mastodon_op_end(op);
        return;
    }

    p = (u_char *) reply->str;
    last = p + reply->len;

    sp = ngx_strlchr(p, last, ' ');
    if (sp == NULL) {
        ngx_http_mastodon_op_end(op);
        return;
    }

    account_id = ngx_atoof(p, sp - p);
    status_id = ngx_atoof(sp + 1, last - sp - 1);

    if (account_id <= 0 || status_id <= 0
        || ngx_http_mastodon_debug_render(op, account_id, status_id,
                                          ngx_http_mastodon_tick_rendered,
                                          data)
           != NGX_OK)
    {
        ngx_http_mastodon_op_end(op);
    }
}


static void
ngx_http_mastodon_tick_rendered(ngx_http_mastodon_op_t *op, ngx_str_t *json,
    void *data)
{
    const char  *argv[3];
    size_t       argvlen[3];

    if (json == NULL) {
        ngx_http_mastodon_op_end(op);
        return;
    }

    argv[0] = "SET";
    argv[1] = "mastodon:debug:rendered";
    argv[2] = (const char *) json->data;
    argvlen[0] = 3;
    argvlen[1] = sizeof("mastodon:debug:rendered") - 1;
    argvlen[2] = json->len;

    if (ngx_http_mastodon_redis_op_command(op, ngx_http_mastodon_tick_end,
                                           data, 3, argv, argvlen)
        != NGX_OK)
    {
        ngx_http_mastodon_op_end(op);
    }
}


static void
ngx_http_mastodon_tick_end(ngx_http_mastodon_op_t *op, redisReply *reply,
    void *data)
{
    ngx_http_mastodon_op_end(op);
}


static void
ngx_http_mastodon_tick_freed(ngx_http_mastodon_op_t *op)
{
    ngx_http_mastodon_tick_t  *t = op->data;

    t->op = NULL;
}


/*
 * mastodon_debug_stream: a test aid, a location whose answer never ends on
 * its own.  GET ?account=<id>&status=<id> with interval, sleep, work and
 * task (ms) writes one line per event (every interval; 0: the next begins
 * as soon as one is written), each event a stream-owned operation with its
 * own pool: a PostgreSQL statement sleeping `sleep`, the account and the
 * status rendered, a task sleeping `work` in the thread pool, then the line
 * ({"event", "pid", "operations", the request's and connection's pool
 * blocks, "rendered"}).  The client closing ends the operation under way.
 * With `task`, a thread task of the request's own operation sleeps first,
 * after the header: the request path's guarantee (the request is not freed
 * while its task runs) can be watched.
 */

typedef struct {
    ngx_http_request_t              *request;
    ngx_http_mastodon_op_stream_t   *stream;
    ngx_http_mastodon_op_t          *op;        /* the event under way */
    ngx_event_t                      timer;     /* the next event */
    ngx_event_t                      watch;     /* ngx_exiting? */
    ngx_uint_t                       events;
    int64_t                          account_id;
    int64_t                          status_id;
    ngx_msec_t                       interval;
    ngx_msec_t                       sleep;
    ngx_msec_t                       work;
    ngx_msec_t                       task;      /* the request's, first */
} ngx_http_mastodon_debug_stream_t;


static ngx_int_t ngx_http_mastodon_debug_stream_handler(
    ngx_http_request_t *r);
static ngx_msec_t ngx_http_mastodon_debug_stream_arg(ngx_http_request_t *r,
    const char *name, ngx_msec_t dflt);
static void ngx_http_mastodon_debug_stream_tasked(ngx_http_request_t *r,
    void *data);
static void ngx_http_mastodon_debug_stream_begin(
    ngx_http_mastodon_debug_stream_t *ds);
static void ngx_http_mastodon_debug_stream_cleanup(void *data);
static void ngx_http_mastodon_debug_stream_event(ngx_event_t *ev);
static void ngx_http_mastodon_debug_stream_watch(ngx_event_t *ev);
static void ngx_http_mastodon_debug_stream_slept(
    ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_debug_stream_rendered(
    ngx_http_mastodon_op_t *op, ngx_str_t *json, void *data);
static void ngx_http_mastodon_debug_stream_task(void *data, ngx_log_t *log);
static void ngx_http_mastodon_debug_stream_work(void *data, ngx_log_t *log);
static void ngx_http_mastodon_debug_stream_worked(ngx_http_mastodon_op_t *op,
    void *data);
static void ngx_http_mastodon_debug_stream_write(ngx_http_request_t *r);
static void ngx_http_mastodon_debug_stream_sent(
    ngx_http_mastodon_debug_stream_t *ds);
static void ngx_http_mastodon_debug_stream_freed(ngx_http_mastodon_op_t *op);


static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_debug_sleep_stmt =
    ngx_http_mastodon_pg_stmt("SELECT pg_sleep($1::float8 / 1000)", 1);


char *
ngx_http_mastodon_debug_stream(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_mastodon_debug_stream_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_mastodon_debug_stream_handler(ngx_http_request_t *r)
{
    ngx_int_t                          rc;
    ngx_pool_cleanup_t                *cln;
    ngx_http_mastodon_ctx_t           *ctx;
    ngx_http_mastodon_debug_stream_t  *ds;

    if (!(r->method & NGX_HTTP_GET)) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_ctx_t));
    ds = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_debug_stream_t));
    if (ctx == NULL || ds == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->data = ds;
    ngx_http_set_ctx(r, ctx, ngx_http_mastodon_module);

    ds->request = r;
    ds->account_id = ngx_http_mastodon_debug_stream_arg(r, "account", 0);
    ds->status_id = ngx_http_mastodon_debug_stream_arg(r, "status", 0);
    ds->interval = ngx_http_mastodon_debug_stream_arg(r, "interval", 10);
    ds->sleep = ngx_http_mastodon_debug_stream_arg(r, "sleep", 0);
    ds->work = ngx_http_mastodon_debug_stream_arg(r, "work", 0);
    ds->task = ngx_http_mastodon_debug_stream_arg(r, "task", 0);

    if (ds->account_id <= 0 || ds->status_id <= 0) {
        return NGX_HTTP_BAD_REQUEST;
    }

    ds->stream = ngx_http_mastodon_op_stream_create(r->connection, r->pool);
    if (ds->stream == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* after the stream's: runs before it (pool cleanups run last first) */
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_mastodon_debug_stream_cleanup;
    cln->data = ds;

    r->headers_out.status = NGX_HTTP_OK;
    ngx_str_set(&r->headers_out.content_type, "application/x-ndjson");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_length_n = -1;

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    /* the header now, not with the first event */
    if (ngx_http_send_special(r, NGX_HTTP_FLUSH) == NGX_ERROR) {
        return NGX_ERROR;
    }

    /* a client that closes is noticed: the request is terminated */
    r->read_event_handler = ngx_http_test_reading;

    if (ds->task) {
        /* the request path: a task of the request's own operation first */
        if (ngx_http_mastodon_thread_run(r, ngx_http_mastodon_debug_stream_task,
                                         ngx_http_mastodon_debug_stream_tasked,
                                         &ds->task)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        r->main->count++;

        return NGX_DONE;
    }

    ngx_http_mastodon_debug_stream_begin(ds);

    r->main->count++;

    return NGX_DONE;
}


/*
 * The request's task is done (not called if the request was terminated
 * meanwhile: nginx finalizes it instead, once the task is over).
 */
static void
ngx_http_mastodon_debug_stream_tasked(ngx_http_request_t *r, void *data)
{
    ngx_http_mastodon_ctx_t  *ctx;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mastodon: debug stream: the request's task is done");

    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    ngx_http_mastodon_debug_stream_begin(ctx->data);
}


static void
ngx_http_mastodon_debug_stream_begin(ngx_http_mastodon_debug_stream_t *ds)
{
    ngx_http_request_t  *r;

    r = ds->request;

    ds->timer.handler = ngx_http_mastodon_debug_stream_event;
    ds->timer.data = ds;
    ds->timer.log = r->connection->log;
    ds->timer.cancelable = 1;
    ngx_add_timer(&ds->timer, 1);

    /*
     * Not cancelable: a worker that exits gracefully waits for it, and it
     * ends the stream (and the event under way) instead of the worker
     * leaving the socket open.
     */
    ds->watch.handler = ngx_http_mastodon_debug_stream_watch;
    ds->watch.data = ds;
    ds->watch.log = r->connection->log;
    ngx_add_timer(&ds->watch, 100);
}


static ngx_msec_t
ngx_http_mastodon_debug_stream_arg(ngx_http_request_t *r, const char *name,
    ngx_msec_t dflt)
{
    off_t      n;
    ngx_str_t  value;

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &value) != NGX_OK) {
        return dflt;
    }

    n = ngx_atoof(value.data, value.len);

    return n < 0 ? 0 : (ngx_msec_t) n;
}


static void
ngx_http_mastodon_debug_stream_cleanup(void *data)
{
    ngx_http_mastodon_debug_stream_t  *ds = data;

    if (ds->timer.timer_set) {
        ngx_del_timer(&ds->timer);
    }

    if (ds->watch.timer_set) {
        ngx_del_timer(&ds->watch);
    }

    if (ds->op) {
        ngx_log_error(NGX_LOG_INFO, ds->op->log, 0,
                      "mastodon: debug stream: gone with event %ui under way",
                      ds->events + 1);
    }

    ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                  "mastodon: debug stream: request freed after %ui events",
                  ds->events);
}


static void
ngx_http_mastodon_debug_stream_event(ngx_event_t *ev)
{
    const char                        **values;
    ngx_http_request_t                 *r;
    ngx_http_mastodon_op_t             *op;
    ngx_http_mastodon_pg_batch_t       *b;
    ngx_http_mastodon_debug_stream_t   *ds = ev->data;

    r = ds->request;

    if (ngx_exiting) {
        return;                 /* the watch ends the stream */
    }

    op = ngx_http_mastodon_op_stream_op(ds->stream);
    if (op == NULL) {
        ngx_http_mastodon_finalize(r, NGX_ERROR);
        return;
    }

    op->free = ngx_http_mastodon_debug_stream_freed;
    op->data = ds;
    ds->op = op;

    if (ds->sleep == 0) {
        if (ngx_http_mastodon_debug_render(op, ds->account_id, ds->status_id,
                                       ngx_http_mastodon_debug_stream_rendered,
                                       NULL)
            != NGX_OK)
        {
            goto failed;
        }

        return;
    }

    values = ngx_palloc(op->pool, sizeof(char *));
    if (values == NULL) {
        goto failed;
    }

    values[0] = ngx_http_mastodon_pg_pool_int64(op->pool, ds->sleep);
    b = ngx_http_mastodon_pg_op_batch(op, ngx_http_mastodon_debug_stream_slept,
                                      NULL);

    if (values[0] == NULL || b == NULL
        || ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_debug_sleep_stmt,
                                    values)
           != NGX_OK
        || ngx_http_mastodon_pg_run(b) != NGX_OK)
    {
        goto failed;
    }

    return;

failed:

    ngx_http_mastodon_op_end(op);
    ngx_http_mastodon_finalize(r, NGX_ERROR);
}


static void
ngx_http_mastodon_debug_stream_watch(ngx_event_t *ev)
{
    ngx_http_request_t                *r;
    ngx_http_mastodon_debug_stream_t  *ds = ev->data;

    r = ds->request;

    if (!ngx_exiting) {
        ngx_add_timer(&ds->watch, 100);
        return;
    }

    /* the worker exits: the stream ends, the client reconnects */
    ngx_http_mastodon_finalize(r, ngx_http_send_special(r, NGX_HTTP_LAST));
}


static void
ngx_http_mastodon_debug_stream_slept(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_http_mastodon_op_t            *op = b->op;
    ngx_http_mastodon_debug_stream_t  *ds = op->data;

    if (ngx_http_mastodon_pg_rows(b, 0) == NULL
        || ngx_http_mastodon_debug_render(op, ds->account_id, ds->status_id,
                                       ngx_http_mastodon_debug_stream_rendered,
                                       NULL)
           != NGX_OK)
    {
        ngx_http_mastodon_op_end(op);
        ngx_http_mastodon_finalize(ds->request, NGX_ERROR);
    }
}


/* the rendering, then the task: the task's data is the operation's own */
typedef struct {
    ngx_msec_t                       work;
    ngx_str_t                        json;
} ngx_http_mastodon_debug_event_t;


static void
ngx_http_mastodon_debug_stream_rendered(ngx_http_mastodon_op_t *op,
    ngx_str_t *json, void *data)
{
    ngx_http_mastodon_debug_event_t   *e;
    ngx_http_mastodon_debug_stream_t  *ds = op->data;

    e = ngx_palloc(op->pool, sizeof(ngx_http_mastodon_debug_event_t));

    if (json == NULL || e == NULL) {
        goto failed;
    }

    e->work = ds->work;
    e->json = *json;

    if (ngx_http_mastodon_thread_op_run(op,
                                        ngx_http_mastodon_debug_stream_work,
                                        ngx_http_mastodon_debug_stream_worked,
                                        e)
        == NGX_OK)
    {
        return;
    }

failed:

    ngx_http_mastodon_op_end(op);
    ngx_http_mastodon_finalize(ds->request, NGX_ERROR);
}


/* in a pool thread: its data is in the request's pool, which must live */
static void
ngx_http_mastodon_debug_stream_task(void *data, ngx_log_t *log)
{
    ngx_msec_t  *ms = data;

    ngx_msleep(*ms);                    /* thread pool */

    ngx_log_error(NGX_LOG_INFO, log, 0,
                  "mastodon: debug stream: the request's task slept %M ms",
                  *ms);
}


/* in a pool thread */
static void
ngx_http_mastodon_debug_stream_work(void *data, ngx_log_t *log)
{
    ngx_http_mastodon_debug_event_t  *e = data;

    if (e->work) {
        ngx_msleep(e->work);            /* thread pool */
    }
}


static void
ngx_http_mastodon_debug_stream_worked(ngx_http_mastodon_op_t *op, void *data)
{
    ngx_http_mastodon_debug_event_t   *e = data;
    ngx_http_mastodon_debug_stream_t  *ds = op->data;

    u_char              *p;
    size_t               len;
    ngx_int_t            rc;
    ngx_buf_t           *b;
    ngx_uint_t           rblocks, cblocks;
    ngx_pool_t          *pool;
    ngx_chain_t         *cl;
    ngx_http_request_t  *r;

    r = ds->request;

    /* the long-lived pools: the same number of blocks event after event */
    rblocks = 0;
    for (pool = r->pool; pool; pool = pool->d.next) {
        rblocks++;
    }

    cblocks = 0;
    for (pool = r->connection->pool; pool; pool = pool->d.next) {
        cblocks++;
    }

    len = sizeof("{\"event\":,\"pid\":,\"operations\":,\"request_pool_blocks\":"
                 ",\"connection_pool_blocks\":,\"rendered\":}\n")
          + 5 * NGX_INT_T_LEN + e->json.len;

    p = ngx_pnalloc(op->pool, len);
    b = ngx_calloc_buf(op->pool);
    cl = ngx_alloc_chain_link(op->pool);
    if (p == NULL || b == NULL || cl == NULL) {
        ngx_http_mastodon_op_end(op);
        ngx_http_mastodon_finalize(r, NGX_ERROR);
        return;
    }

    b->pos = p;
    b->last = ngx_sprintf(p, "{\"event\":%ui,\"pid\":%P,\"operations\":%ui,"
                          "\"request_pool_blocks\":%ui,"
                          "\"connection_pool_blocks\":%ui,\"rendered\":%V}\n",
                          ds->events + 1, ngx_pid,
                          ngx_http_mastodon_ops_alive(), rblocks, cblocks,
                          &e->json);
    b->memory = 1;
    b->flush = 1;

    cl->buf = b;
    cl->next = NULL;

    ds->events++;

    rc = ngx_http_output_filter(r, cl);

    if (rc == NGX_ERROR) {
        ngx_http_mastodon_finalize(r, NGX_ERROR);
        return;
    }

    if (r->out) {
        /* the buffer is the operation's: it stays until written */
        r->write_event_handler = ngx_http_mastodon_debug_stream_write;
        return;
    }

    ngx_http_mastodon_debug_stream_sent(ds);
}


static void
ngx_http_mastodon_debug_stream_write(ngx_http_request_t *r)
{
    ngx_int_t                   rc;
    ngx_event_t                *wev;
    ngx_http_mastodon_ctx_t    *ctx;
    ngx_http_core_loc_conf_t   *clcf;

    wev = r->connection->write;

    if (wev->timedout) {
        ngx_http_finalize_request(r, NGX_HTTP_REQUEST_TIME_OUT);
        return;
    }

    rc = ngx_http_output_filter(r, NULL);

    if (rc == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_ERROR);
        return;
    }

    if (r->out) {
        clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
        ngx_add_timer(wev, clcf->send_timeout);

        if (ngx_handle_write_event(wev, clcf->send_lowat) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_ERROR);
        }

        return;
    }

    if (wev->timer_set) {
        ngx_del_timer(wev);
    }

    r->write_event_handler = ngx_http_request_empty_handler;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    ngx_http_mastodon_debug_stream_sent(ctx->data);
}


/*
 * The event is out: its operation goes, the next one comes (at once with
 * an interval of 0: under way before the client has read this one).
 */
static void
ngx_http_mastodon_debug_stream_sent(ngx_http_mastodon_debug_stream_t *ds)
{
    ngx_http_mastodon_op_end(ds->op);

    if (ds->interval) {
        ngx_add_timer(&ds->timer, ds->interval);
        return;
    }

    ngx_http_mastodon_debug_stream_event(&ds->timer);
}


static void
ngx_http_mastodon_debug_stream_freed(ngx_http_mastodon_op_t *op)
{
    ngx_http_mastodon_debug_stream_t  *ds = op->data;

    ds->op = NULL;
}
