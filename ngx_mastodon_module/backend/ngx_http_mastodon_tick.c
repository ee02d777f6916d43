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

    if (ngx_http_mastodon_ops_alive()) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "mastodon: %ui backend operations left at exit",
                      ngx_http_mastodon_ops_alive());
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
