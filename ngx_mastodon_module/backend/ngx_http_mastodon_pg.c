/*
 * The per-worker PostgreSQL pools, driven by nginx's event loop.
 *
 * Each nginx worker owns up to mastodon_pg_pool_size libpq connections,
 * opened lazily with PQconnectStart/PQconnectPoll, and a second, smaller
 * pool (mastodon_pg_slow_pool_size) for statements marked slow, such as
 * full-text search: custom plans and a timeout of their own, so they
 * neither hold up nor are cut short by the ordinary ones.  An operation
 * (_op.c: a request's, a stream's or a timer's) submits a batch of
 * statements; the batch goes to an idle connection in pipeline mode
 * (statements prepared on first use per connection, or sent unnamed through
 * PgBouncer or when planned each time, ngx_http_mastodon_pg_unnamed_stmt();
 * one PQpipelineSync per batch, so one batch is one implicit transaction
 * and one round trip), or waits in a bounded queue with its own timer.
 * A batch marked notify_after has its transaction's notifications kept
 * (sql/0054_notify_after_commit.sql) and sent by a second transaction in
 * the same round trip, after its commit: a transaction that notifies
 * commits alone (PostgreSQL's lock on the database's notification queue is
 * held until its commit record is flushed), one that only notifies writes
 * nothing to flush.  Its handler runs at the first sync.
 *
 * Sockets are registered level-triggered: libpq reads at most its buffer
 * per PQconsumeInput(), and with edge-triggered epoll the rest of a reply
 * would never raise another event.  Bytes OpenSSL decrypted but libpq had
 * no room for raise no event either: the read handler runs again while
 * OpenSSL holds some.  libpq owns the file descriptor; the
 * ngx_connection_t is only a wrapper and is released, never closed.
 * While connecting, libpq may close its socket and open another (next
 * host, SSL or GSS fallback), often under the same number: the socket's
 * inode tells, and the new one is wrapped and registered.
 *
 * When PostgreSQL is down, connection attempts back off (up to 1 s) and
 * requests fail at once with 503 instead of hanging; the first request
 * after the backoff tries again, so the pool recovers by itself.  When it
 * accepts but does not answer (a query or a connection attempt timed
 * out, and a probe got no answer within a second), requests fail at once
 * for a few seconds, then a probe asks again.  Failures during an outage
 * are logged once, then counted per interval.
 */

#include "ngx_http_mastodon_backend.h"


#define NGX_HTTP_MASTODON_PG_MAX_STMTS      512
#define NGX_HTTP_MASTODON_PG_BACKOFF_MIN    100
#define NGX_HTTP_MASTODON_PG_BACKOFF_MAX    1000
#define NGX_HTTP_MASTODON_PG_PROBE_TIMEOUT  1000
#define NGX_HTTP_MASTODON_PG_HUNG_MIN       1000
#define NGX_HTTP_MASTODON_PG_HUNG_MAX       4000

/* the server's statement_timeout is ours plus this: we answer 503 first */
#define NGX_HTTP_MASTODON_PG_TIMEOUT_MARGIN 1000

/*
 * Connections all workers may hold when mastodon_pg_pool_size is not set:
 * PostgreSQL's default max_connections (100) less superuser_reserved (3),
 * the worker daemon (concurrency 5) and room for psql, migrations and
 * monitoring.
 */
#define NGX_HTTP_MASTODON_PG_AUTO_BUDGET    80
#define NGX_HTTP_MASTODON_PG_AUTO_MAX       16
#define NGX_HTTP_MASTODON_PG_AUTO_MIN       2

#define NGX_HTTP_MASTODON_PG_ITEM_SYNC      -1
#define NGX_HTTP_MASTODON_PG_ITEM_EXTRA     -2  /* a probe, a setting */
#define NGX_HTTP_MASTODON_PG_ITEM_PREP      -3  /* minus the statement index */

#define NGX_HTTP_MASTODON_PG_MAIN           0
#define NGX_HTTP_MASTODON_PG_SLOW           1


typedef enum {
    NGX_HTTP_MASTODON_PG_CLOSED = 0,
    NGX_HTTP_MASTODON_PG_CONNECTING,
    NGX_HTTP_MASTODON_PG_IDLE,
    NGX_HTTP_MASTODON_PG_BUSY
} ngx_http_mastodon_pg_state_e;


typedef struct ngx_http_mastodon_pg_pool_s  ngx_http_mastodon_pg_pool_t;


struct ngx_http_mastodon_pg_conn_s {
    ngx_http_mastodon_pg_pool_t     *pool;
    PGconn                          *pgconn;
    ngx_connection_t                *connection;
    ino_t                            inode;        /* of the wrapped socket */
    ngx_http_mastodon_pg_state_e     state;
    ngx_queue_t                      queue;        /* in the idle list */

    ngx_http_mastodon_pg_batch_t    *batch;        /* NULL once orphaned */

    /* what the server will answer, in order: queries, prepares, the sync */
    ngx_int_t                        items[2 * NGX_HTTP_MASTODON_PG_MAX_QUERIES
                                           + 5];
    ngx_uint_t                       nitems;
    ngx_uint_t                       item;
    ngx_uint_t                       got_result;

    ngx_uint_t                       requests;
    u_char                           prepared[NGX_HTTP_MASTODON_PG_MAX_STMTS];
};



struct ngx_http_mastodon_pg_pool_s {
    const char                      *name;         /* in log lines */
    ngx_http_mastodon_main_conf_t   *conf;
    const char                     **keys;         /* connection parameters */
    const char                     **values;
    ngx_msec_t                       query_timeout;
    const char                      *statement_timeout;  /* PgBouncer's */

    ngx_http_mastodon_pg_conn_t     *conns;
    ngx_uint_t                       nconns;
    ngx_queue_t                      idle;
    ngx_queue_t                      waiting;
    ngx_uint_t                       nwaiting;
    ngx_uint_t                       nconnecting;
    ngx_uint_t                       nlive;

    ngx_msec_t                       backoff;
    ngx_msec_t                       retry_at;
    ngx_uint_t                       down;         /* refuses connections */

    ngx_event_t                      probe;        /* timer: does it answer? */
    ngx_msec_t                       hung_backoff;
    ngx_msec_t                       hung_until;
    ngx_uint_t                       hung;         /* accepts, never answers */

    ngx_http_mastodon_log_throttle_t failures;     /* logged throttled */
    ngx_log_t                       *log;
};


static ngx_http_mastodon_pg_pool_t  ngx_http_mastodon_pg_pools[2];
static ngx_uint_t                   ngx_http_mastodon_pg_nstmts;


static ngx_int_t ngx_http_mastodon_pg_pool_init(ngx_cycle_t *cycle,
    ngx_http_mastodon_pg_pool_t *pool, ngx_http_mastodon_main_conf_t *mcf,
    const char *name, const char *app, ngx_uint_t size, ngx_msec_t timeout,
    const char *plans);
static ngx_int_t ngx_http_mastodon_pg_params(ngx_cycle_t *cycle,
    ngx_http_mastodon_pg_pool_t *pool, const char *app, const char *plans);
static ngx_http_mastodon_pg_pool_t *ngx_http_mastodon_pg_batch_pool(
    ngx_http_mastodon_pg_batch_t *b);
static ngx_int_t ngx_http_mastodon_pg_refuse(ngx_http_mastodon_pg_batch_t *b,
    ngx_http_mastodon_pg_pool_t *pool, const char *why);
static ngx_int_t ngx_http_mastodon_pg_connect(ngx_http_mastodon_pg_conn_t *pc);
static void ngx_http_mastodon_pg_connect_handler(ngx_event_t *ev);
static ngx_int_t ngx_http_mastodon_pg_poll(ngx_http_mastodon_pg_conn_t *pc);
static ngx_uint_t ngx_http_mastodon_pg_new_socket(
    ngx_http_mastodon_pg_conn_t *pc);
static ngx_int_t ngx_http_mastodon_pg_wrap(ngx_http_mastodon_pg_conn_t *pc);
static void ngx_http_mastodon_pg_unwrap(ngx_http_mastodon_pg_conn_t *pc);
static void ngx_http_mastodon_pg_connected(ngx_http_mastodon_pg_conn_t *pc);
static void ngx_http_mastodon_pg_connect_failed(
    ngx_http_mastodon_pg_conn_t *pc, const char *why);
static ngx_http_mastodon_pg_conn_t *ngx_http_mastodon_pg_take_idle(
    ngx_http_mastodon_pg_pool_t *pool);
static ngx_int_t ngx_http_mastodon_pg_send(ngx_http_mastodon_pg_conn_t *pc,
    ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_pg_read_handler(ngx_event_t *ev);
static void ngx_http_mastodon_pg_read(ngx_http_mastodon_pg_conn_t *pc);
static void ngx_http_mastodon_pg_write_handler(ngx_event_t *ev);
static ngx_int_t ngx_http_mastodon_pg_flush(ngx_http_mastodon_pg_conn_t *pc);
static ngx_int_t ngx_http_mastodon_pg_results(ngx_http_mastodon_pg_conn_t *pc);
static void ngx_http_mastodon_pg_batch_end(ngx_http_mastodon_pg_conn_t *pc);
static void ngx_http_mastodon_pg_done(ngx_http_mastodon_pg_conn_t *pc);
static void ngx_http_mastodon_pg_fail(ngx_http_mastodon_pg_conn_t *pc,
    const char *why);
static void ngx_http_mastodon_pg_abort(ngx_http_mastodon_pg_conn_t *pc);
static void ngx_http_mastodon_pg_close(ngx_http_mastodon_pg_conn_t *pc);
static void ngx_http_mastodon_pg_ready(ngx_http_mastodon_pg_conn_t *pc);
static void ngx_http_mastodon_pg_fail_waiting(
    ngx_http_mastodon_pg_pool_t *pool, ngx_uint_t always);
static void ngx_http_mastodon_pg_suspect(ngx_http_mastodon_pg_pool_t *pool);
static void ngx_http_mastodon_pg_probe_handler(ngx_event_t *ev);
static void ngx_http_mastodon_pg_hung(ngx_http_mastodon_pg_pool_t *pool);
static void ngx_http_mastodon_pg_alive(ngx_http_mastodon_pg_pool_t *pool);
static void ngx_http_mastodon_pg_complete(ngx_http_mastodon_pg_batch_t *b,
    ngx_int_t rc);
static void ngx_http_mastodon_pg_unlink(ngx_http_mastodon_pg_batch_t *b);
static ngx_int_t ngx_http_mastodon_pg_start(ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_pg_forget(ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_pg_cancel(ngx_http_mastodon_op_call_t *call);
static void ngx_http_mastodon_pg_wait_handler(ngx_event_t *ev);
static void ngx_http_mastodon_pg_batch_cleanup(void *data);
static ngx_int_t ngx_http_mastodon_pg_event(ngx_event_t *ev, ngx_int_t event,
    ngx_uint_t on);
static void ngx_http_mastodon_pg_notice(void *arg, const char *message);
static ngx_str_t ngx_http_mastodon_pg_message(const char *message);


ngx_int_t
ngx_http_mastodon_pg_init_process(ngx_cycle_t *cycle,
    ngx_http_mastodon_main_conf_t *mcf)
{
    ngx_uint_t                    size, workers;
    ngx_core_conf_t              *ccf;
    ngx_http_mastodon_pg_pool_t  *pools;

    ngx_http_mastodon_pg_nstmts = 0;

    size = mcf->pg_pool_size;

    if (size == 0) {
        /* not set: all workers' pools fit under max_connections 100 */
        ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx,
                                               ngx_core_module);
        workers = ccf->worker_processes > 0 ? ccf->worker_processes : 1;

        size = NGX_HTTP_MASTODON_PG_AUTO_BUDGET / workers;
        size = size > mcf->pg_slow_pool_size
               ? size - mcf->pg_slow_pool_size : 0;
        size = ngx_min(size, NGX_HTTP_MASTODON_PG_AUTO_MAX);
        size = ngx_max(size, NGX_HTTP_MASTODON_PG_AUTO_MIN);
    }

    pools = ngx_http_mastodon_pg_pools;

    if (ngx_http_mastodon_pg_pool_init(cycle, &pools[NGX_HTTP_MASTODON_PG_MAIN],
                                       mcf, "PostgreSQL", "ngx_mastodon",
                                       size, mcf->pg_query_timeout,
                                       "force_generic_plan")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_mastodon_pg_pool_init(cycle,
                                          &pools[NGX_HTTP_MASTODON_PG_SLOW],
                                          mcf, "PostgreSQL (slow pool)",
                                          "ngx_mastodon slow",
                                          mcf->pg_slow_pool_size,
                                          mcf->pg_slow_query_timeout,
                                          "force_custom_plan");
}


/*
 * Generic plans for the main pool: its statements are parameterized index
 * look-ups, and planning one afresh for each execution (the custom plans
 * PostgreSQL tries first) cost more than running it.  Custom plans for the
 * slow pool: what full-text search costs depends on the words.
 */
static ngx_int_t
ngx_http_mastodon_pg_pool_init(ngx_cycle_t *cycle,
    ngx_http_mastodon_pg_pool_t *pool, ngx_http_mastodon_main_conf_t *mcf,
    const char *name, const char *app, ngx_uint_t size, ngx_msec_t timeout,
    const char *plans)
{
    ngx_uint_t  i;

    ngx_memzero(pool, sizeof(ngx_http_mastodon_pg_pool_t));

    pool->name = name;
    pool->failures.what = name;
    pool->conf = mcf;
    pool->log = cycle->log;
    pool->nconns = size;
    pool->query_timeout = timeout;

    ngx_queue_init(&pool->idle);
    ngx_queue_init(&pool->waiting);

    pool->probe.handler = ngx_http_mastodon_pg_probe_handler;
    pool->probe.data = pool;
    pool->probe.log = cycle->log;
    pool->probe.cancelable = 1;

    if (size == 0) {
        return NGX_OK;
    }

    pool->conns = ngx_pcalloc(cycle->pool,
                              size * sizeof(ngx_http_mastodon_pg_conn_t));
    if (pool->conns == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < size; i++) {
        pool->conns[i].pool = pool;
    }

    return ngx_http_mastodon_pg_params(cycle, pool, app, plans);
}


/*
 * The operator's conninfo (checked at configuration time: no DNS), plus
 * what it does not say itself: the pool's application_name; TCP keepalives
 * and tcp_user_timeout, so a vanished host is noticed; a statement_timeout
 * a little past ours, so the server also stops a query we gave up on; the
 * pool's plan_cache_mode.
 * PgBouncer refuses the "options" startup parameter: there the statement
 * timeout is set in each batch (see _send()) and unnamed statements get
 * custom plans anyway.
 */
static ngx_int_t
ngx_http_mastodon_pg_params(ngx_cycle_t *cycle,
    ngx_http_mastodon_pg_pool_t *pool, const char *app, const char *plans)
{
    char               *errmsg;
    u_char             *p;
    size_t              len;
    ngx_uint_t          n, i, d;
    ngx_msec_t          timeout;
    const char         *options;
    PQconninfoOption   *opts, *o;

    static const char  *defaults[][2] = {
        { "keepalives", "1" },
        { "keepalives_idle", "30" },
        { "keepalives_interval", "10" },
        { "keepalives_count", "3" },
        { "tcp_user_timeout", "30000" },
        { NULL, NULL }
    };

    errmsg = NULL;
    opts = PQconninfoParse((char *) pool->conf->database.data, &errmsg);

    if (opts == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "invalid \"mastodon_database\" value: %s",
                      errmsg ? errmsg : "out of memory");
        if (errmsg) {
            PQfreemem(errmsg);
        }
        return NGX_ERROR;
    }

    for (n = 0, o = opts; o->keyword; o++) {
        n++;
    }

    pool->keys = ngx_pcalloc(cycle->pool, (n + 2) * sizeof(char *));
    pool->values = ngx_pcalloc(cycle->pool, (n + 2) * sizeof(char *));
    if (pool->keys == NULL || pool->values == NULL) {
        goto failed;
    }

    i = 0;
    options = NULL;

    for (o = opts; o->keyword; o++) {

        if (ngx_strcmp(o->keyword, "options") == 0) {
            options = o->val;
            continue;
        }

        if (o->val == NULL) {
            if (ngx_strcmp(o->keyword, "application_name") == 0) {
                /* which pool a session is, in pg_stat_activity */
                pool->keys[i] = "application_name";
                pool->values[i++] = app;
                continue;
            }

            for (d = 0; defaults[d][0]; d++) {
                if (ngx_strcmp(o->keyword, defaults[d][0]) == 0) {
                    pool->keys[i] = defaults[d][0];
                    pool->values[i++] = defaults[d][1];
                    break;
                }
            }
            continue;
        }

        len = ngx_strlen(o->keyword) + 1 + ngx_strlen(o->val) + 1;
        p = ngx_pnalloc(cycle->pool, len);
        if (p == NULL) {
            goto failed;
        }

        pool->keys[i] = (char *) p;
        p = ngx_cpymem(p, o->keyword, ngx_strlen(o->keyword) + 1);
        pool->values[i++] = (char *) p;
        ngx_memcpy(p, o->val, ngx_strlen(o->val) + 1);
    }

    timeout = pool->query_timeout + NGX_HTTP_MASTODON_PG_TIMEOUT_MARGIN;

    if (pool->conf->pg_pgbouncer) {
        p = ngx_pnalloc(cycle->pool, NGX_INT_T_LEN + 1);
        if (p == NULL) {
            goto failed;
        }
        ngx_sprintf(p, "%M%Z", timeout);
        pool->statement_timeout = (char *) p;

        if (options) {
            /* the operator's, if their PgBouncer lets it through */
            len = ngx_strlen(options) + 1;
            p = ngx_pnalloc(cycle->pool, len);
            if (p == NULL) {
                goto failed;
            }
            ngx_memcpy(p, options, len);
            pool->keys[i] = "options";
            pool->values[i++] = (char *) p;
        }

    } else {
        len = (options ? ngx_strlen(options) : 0)
              + sizeof(" -c statement_timeout=") + NGX_INT_T_LEN
              + sizeof(" -c plan_cache_mode=") + ngx_strlen(plans) + 1;

        p = ngx_pnalloc(cycle->pool, len);
        if (p == NULL) {
            goto failed;
        }

        pool->keys[i] = "options";
        pool->values[i++] = (char *) p;

        /* the operator's own settings win */
        if (options) {
            p = ngx_cpymem(p, options, ngx_strlen(options));
        }

        if (options == NULL || ngx_strstr(options, "statement_timeout") == NULL)
        {
            p = ngx_sprintf(p, " -c statement_timeout=%M", timeout);
        }

        if (options == NULL || ngx_strstr(options, "plan_cache_mode") == NULL) {
            p = ngx_sprintf(p, " -c plan_cache_mode=%s", plans);
        }

        *p = '\0';
    }

    pool->keys[i] = NULL;
    pool->values[i] = NULL;

    PQconninfoFree(opts);

    return NGX_OK;

failed:

    PQconninfoFree(opts);

    return NGX_ERROR;
}


void
ngx_http_mastodon_pg_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                    i, k;
    ngx_http_mastodon_pg_pool_t  *pool;

    for (k = 0; k < 2; k++) {
        pool = &ngx_http_mastodon_pg_pools[k];

        for (i = 0; i < pool->nconns; i++) {
            if (pool->conns[i].state != NGX_HTTP_MASTODON_PG_CLOSED) {
                ngx_http_mastodon_pg_close(&pool->conns[i]);
            }
        }

        if (pool->probe.timer_set) {
            ngx_del_timer(&pool->probe);
        }

        pool->nconns = 0;
    }
}

ngx_http_mastodon_pg_batch_t *
ngx_http_mastodon_pg_batch(ngx_http_request_t *r,
    ngx_http_mastodon_pg_done_pt handler, void *data)
{
    ngx_http_mastodon_op_t  *op;

    op = ngx_http_mastodon_request_op(r);
    if (op == NULL) {
        return NULL;
    }

    return ngx_http_mastodon_pg_op_batch(op, handler, data);
}


/* A batch of an operation, in its pool; b->request is NULL unless a request's. */
ngx_http_mastodon_pg_batch_t *
ngx_http_mastodon_pg_op_batch(ngx_http_mastodon_op_t *op,
    ngx_http_mastodon_pg_done_pt handler, void *data)
{
    ngx_pool_cleanup_t            *cln;
    ngx_http_mastodon_pg_batch_t  *b;

    b = ngx_pcalloc(op->pool, sizeof(ngx_http_mastodon_pg_batch_t));
    if (b == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(op->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_mastodon_pg_batch_cleanup;
    cln->data = b;

    b->op = op;
    b->request = op->owner_kind == NGX_HTTP_MASTODON_OP_REQUEST ? op->owner
                                                                : NULL;
    b->handler = handler;
    b->data = data;
    b->cleanup = cln;
    b->rc = NGX_ERROR;

    return b;
}


ngx_int_t
ngx_http_mastodon_pg_add(ngx_http_mastodon_pg_batch_t *b,
    ngx_http_mastodon_pg_stmt_t *stmt, const char **values)
{
    if (b->nqueries == NGX_HTTP_MASTODON_PG_MAX_QUERIES) {
        ngx_log_error(NGX_LOG_ALERT, b->op->log, 0,
                      "mastodon: more than %d statements in one batch",
                      NGX_HTTP_MASTODON_PG_MAX_QUERIES);
        return NGX_ERROR;
    }

    if (stmt->index == 0) {
        if (ngx_http_mastodon_pg_nstmts + 1 >= NGX_HTTP_MASTODON_PG_MAX_STMTS)
        {
            ngx_log_error(NGX_LOG_ALERT, b->op->log, 0,
                          "mastodon: too many prepared statements");
            return NGX_ERROR;
        }
        stmt->index = ++ngx_http_mastodon_pg_nstmts;
    }

    b->queries[b->nqueries].stmt = stmt;
    b->queries[b->nqueries].values = values;
    b->nqueries++;

    return NGX_OK;
}


/* The i-th statement's rows, or NULL: the batch or the statement failed. */
PGresult *
ngx_http_mastodon_pg_rows(ngx_http_mastodon_pg_batch_t *b, ngx_uint_t i)
{
    PGresult  *res;

    res = b->results[i];

    if (b->rc != NGX_OK || res == NULL
        || PQresultStatus(res) != PGRES_TUPLES_OK)
    {
        return NULL;
    }

    return res;
}


/*
 * The rows of res whose column col is key (key NULL: row alone), as a
 * result of their own (a request's share of a merged batch's rows); NULL:
 * out of memory.
 */
PGresult *
ngx_http_mastodon_pg_slice(PGresult *res, int col, const char *key, int row)
{
    int        i, j, k, n, ncols, null;
    PGresult  *dst;

    dst = PQcopyResult(res, PG_COPYRES_ATTRS);
    if (dst == NULL) {
        return NULL;
    }

    ncols = PQnfields(res);
    n = PQntuples(res);
    k = 0;

    for (i = 0; i < n; i++) {
        if (key == NULL ? i != row
            : PQgetisnull(res, i, col)
              || ngx_strcmp(PQgetvalue(res, i, col), key) != 0)
        {
            continue;
        }

        for (j = 0; j < ncols; j++) {
            null = PQgetisnull(res, i, j);

            if (!PQsetvalue(dst, k, j, null ? NULL : PQgetvalue(res, i, j),
                            null ? -1 : PQgetlength(res, i, j)))
            {
                PQclear(dst);
                return NULL;
            }
        }

        k++;
    }

    return dst;
}


/* Every statement answered, with rows or as a command; the pool logged a failure. */
ngx_uint_t
ngx_http_mastodon_pg_ok(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_uint_t      i;
    ExecStatusType  st;

    if (b->rc != NGX_OK) {
        return 0;
    }

    for (i = 0; i < b->nqueries; i++) {
        if (b->results[i] == NULL) {
            return 0;
        }

        st = PQresultStatus(b->results[i]);

        if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
            return 0;
        }
    }

    return 1;
}


/* A bigint column, 0 when NULL. */
int64_t
ngx_http_mastodon_pg_int(PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col)) {
        return 0;
    }

    return ngx_atoof((u_char *) PQgetvalue(res, row, col),
                     PQgetlength(res, row, col));
}


/* A boolean column, false when NULL. */
ngx_uint_t
ngx_http_mastodon_pg_bool(PGresult *res, int row, int col)
{
    return !PQgetisnull(res, row, col) && PQgetvalue(res, row, col)[0] == 't';
}


/* A column's text ("" when NULL), pointing into the result. */
ngx_str_t
ngx_http_mastodon_pg_str(PGresult *res, int row, int col)
{
    ngx_str_t  s;

    s.data = (u_char *) PQgetvalue(res, row, col);
    s.len = PQgetlength(res, row, col);

    return s;
}


/* n as a statement parameter: decimal, NUL-terminated, in the request pool. */
const char *
ngx_http_mastodon_pg_int64(ngx_http_request_t *r, int64_t n)
{
    return ngx_http_mastodon_pg_pool_int64(r->pool, n);
}


const char *
ngx_http_mastodon_pg_pool_int64(ngx_pool_t *pool, int64_t n)
{
    u_char  *p;

    p = ngx_pnalloc(pool, NGX_INT64_LEN + 1);
    if (p) {
        *ngx_sprintf(p, "%L", n) = '\0';
    }

    return (const char *) p;
}


/*
 * The common case, one statement: NGX_DONE when done() will be called with
 * the batch, otherwise the status to answer (500, or 503 when PostgreSQL is
 * unavailable).
 */
ngx_int_t
ngx_http_mastodon_pg_query(ngx_http_request_t *r,
    ngx_http_mastodon_pg_stmt_t *stmt, const char **values,
    ngx_http_mastodon_pg_done_pt done, void *data)
{
    ngx_http_mastodon_pg_batch_t  *b;

    b = ngx_http_mastodon_pg_batch(r, done, data);
    if (b == NULL || ngx_http_mastodon_pg_add(b, stmt, values) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mastodon_pg_run(b) != NGX_OK) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}


/* The same with a single parameter, an id. */
ngx_int_t
ngx_http_mastodon_pg_query_id(ngx_http_request_t *r,
    ngx_http_mastodon_pg_stmt_t *stmt, int64_t id,
    ngx_http_mastodon_pg_done_pt done, void *data)
{
    const char  **values;

    values = ngx_palloc(r->pool, sizeof(char *));
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[0] = ngx_http_mastodon_pg_int64(r, id);
    if (values[0] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_pg_query(r, stmt, values, done, data);
}


/* The same with two, ids (the user's account and the route's :id, most). */
ngx_int_t
ngx_http_mastodon_pg_query_ids(ngx_http_request_t *r,
    ngx_http_mastodon_pg_stmt_t *stmt, int64_t id1, int64_t id2,
    ngx_http_mastodon_pg_done_pt done, void *data)
{
    const char  **values;

    values = ngx_palloc(r->pool, 2 * sizeof(char *));
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[0] = ngx_http_mastodon_pg_int64(r, id1);
    values[1] = ngx_http_mastodon_pg_int64(r, id2);
    if (values[0] == NULL || values[1] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_pg_query(r, stmt, values, done, data);
}


/*
 * Sends the batch, or queues it.  NGX_OK: the batch's handler will be
 * called later.  NGX_ERROR: PostgreSQL is unavailable right now (down,
 * not answering, backing off, or the queue is full); the handler will not
 * be called and the caller answers 503 (with Retry-After).
 */
ngx_int_t
ngx_http_mastodon_pg_run(ngx_http_mastodon_pg_batch_t *b)
{
    if (ngx_http_mastodon_pg_start(b) != NGX_OK) {
        return NGX_ERROR;
    }

    /* pending in its operation until completed or cancelled */
    b->pending = 1;
    ngx_http_mastodon_op_call_add(b->op, &b->call,
                                  ngx_http_mastodon_pg_cancel);

    return NGX_OK;
}


static ngx_int_t
ngx_http_mastodon_pg_start(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_uint_t                     i;
    ngx_http_mastodon_pg_conn_t   *pc, *closed;
    ngx_http_mastodon_pg_pool_t   *pool;

    if (b->nqueries == 0) {
        return NGX_ERROR;
    }

    pool = ngx_http_mastodon_pg_batch_pool(b);

    if (pool->hung) {
        if ((ngx_msec_int_t) (pool->hung_until - ngx_current_msec) > 0) {
            return ngx_http_mastodon_pg_refuse(b, pool, "does not answer");
        }

        /* time to ask again; meanwhile this batch waits for the answer */
        ngx_http_mastodon_pg_suspect(pool);
    }

    /* while a probe asks whether the server answers, nothing else is sent */
    while (!pool->probe.timer_set) {
        pc = ngx_http_mastodon_pg_take_idle(pool);
        if (pc == NULL) {
            break;
        }

        if (ngx_http_mastodon_pg_send(pc, b) == NGX_OK) {
            return NGX_OK;
        }

        /* that connection was dead: closed by send; try the next one */
    }

    if (pool->nwaiting >= pool->conf->pg_queue_size) {
        return ngx_http_mastodon_pg_refuse(b, pool, "wait queue is full");
    }

    closed = NULL;

    for (i = 0; i < pool->nconns; i++) {
        if (pool->conns[i].state == NGX_HTTP_MASTODON_PG_CLOSED) {
            closed = &pool->conns[i];
            break;
        }
    }

    /* one connection attempt at a time while none is alive */
    if (closed
        && (pool->nlive > 0 || pool->nconnecting == 0)
        && (ngx_msec_int_t) (ngx_current_msec - pool->retry_at) >= 0)
    {
        (void) ngx_http_mastodon_pg_connect(closed);
    }

    if (pool->nlive == 0 && pool->nconnecting == 0) {
        return ngx_http_mastodon_pg_refuse(b, pool, "is unavailable");
    }

    b->waiting = 1;
    ngx_queue_insert_tail(&pool->waiting, &b->queue);
    pool->nwaiting++;

    b->wait.handler = ngx_http_mastodon_pg_wait_handler;
    b->wait.data = b;
    b->wait.log = b->op->log;
    ngx_add_timer(&b->wait, pool->conf->pg_queue_timeout);

    return NGX_OK;
}


/* A batch with a statement marked slow runs on the slow pool, if any. */
static ngx_http_mastodon_pg_pool_t *
ngx_http_mastodon_pg_batch_pool(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_uint_t                    i;
    ngx_http_mastodon_pg_pool_t  *slow;

    slow = &ngx_http_mastodon_pg_pools[NGX_HTTP_MASTODON_PG_SLOW];

    if (slow->nconns) {
        for (i = 0; i < b->nqueries; i++) {
            if (b->queries[i].stmt->slow) {
                return slow;
            }
        }
    }

    return &ngx_http_mastodon_pg_pools[NGX_HTTP_MASTODON_PG_MAIN];
}


/* The 503's Retry-After: when the pool will try the server again. */
static ngx_int_t
ngx_http_mastodon_pg_refuse(ngx_http_mastodon_pg_batch_t *b,
    ngx_http_mastodon_pg_pool_t *pool, const char *why)
{
    u_char             *p;
    ngx_str_t           value;
    ngx_msec_int_t      wait;
    ngx_http_request_t *r;

    r = b->request;

    ngx_http_mastodon_log_throttled(&pool->failures, NGX_LOG_ERR, b->op->log,
                                    0, "mastodon: %s %s", pool->name, why);

    if (r == NULL) {
        return NGX_ERROR;           /* no answer to send: not a request's */
    }

    wait = 0;

    if (pool->hung) {
        wait = (ngx_msec_int_t) (pool->hung_until - ngx_current_msec);

    } else if (pool->nlive == 0) {
        wait = (ngx_msec_int_t) (pool->retry_at - ngx_current_msec);
    }

    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    value.data = p;
    wait = ngx_max(1, (wait + 999) / 1000);
    value.len = ngx_sprintf(p, "%i", (ngx_int_t) wait) - p;

    (void) ngx_http_mastodon_add_header(r, "Retry-After", &value);

    return NGX_ERROR;
}


static void
ngx_http_mastodon_pg_wait_handler(ngx_event_t *ev)
{
    ngx_http_mastodon_pg_batch_t  *b = ev->data;

    ngx_http_mastodon_pg_pool_t   *pool;

    pool = ngx_http_mastodon_pg_batch_pool(b);

    ngx_http_mastodon_log_throttled(&pool->failures, NGX_LOG_ERR, ev->log, 0,
                                    "mastodon: timed out waiting for a %s "
                                    "connection", pool->name);

    ngx_http_mastodon_pg_complete(b, NGX_ERROR);
}


/* Unlinks the batch from the pool and calls its handler once. */
static void
ngx_http_mastodon_pg_complete(ngx_http_mastodon_pg_batch_t *b, ngx_int_t rc)
{
    ngx_http_mastodon_pg_unlink(b);
    ngx_http_mastodon_pg_forget(b);

    b->rc = rc;
    b->handler(b);
}


/* The batch is no longer pending in its operation. */
static void
ngx_http_mastodon_pg_forget(ngx_http_mastodon_pg_batch_t *b)
{
    if (b->pending) {
        b->pending = 0;
        ngx_http_mastodon_op_call_done(b->op, &b->call);
    }
}


/* Its operation was cancelled: the connection discards the results. */
static void
ngx_http_mastodon_pg_cancel(ngx_http_mastodon_op_call_t *call)
{
    ngx_http_mastodon_pg_batch_t  *b;

    b = (ngx_http_mastodon_pg_batch_t *)
            ((u_char *) call - offsetof(ngx_http_mastodon_pg_batch_t, call));

    ngx_http_mastodon_pg_unlink(b);
    ngx_http_mastodon_pg_forget(b);
}


/*
 * Out of the wait queue, no timer, and forgotten by its connection, which
 * then drains the replies still due and discards them.
 */
static void
ngx_http_mastodon_pg_unlink(ngx_http_mastodon_pg_batch_t *b)
{
    if (b->waiting) {
        ngx_queue_remove(&b->queue);
        ngx_http_mastodon_pg_batch_pool(b)->nwaiting--;
        b->waiting = 0;
    }

    if (b->wait.timer_set) {
        ngx_del_timer(&b->wait);
    }

    if (b->conn) {
        b->conn->batch = NULL;
        b->conn = NULL;
    }
}


/* Its operation's pool is going away: forget the batch, free its results. */
static void
ngx_http_mastodon_pg_batch_cleanup(void *data)
{
    ngx_http_mastodon_pg_batch_t *b = data;

    ngx_uint_t  i;

    ngx_http_mastodon_pg_unlink(b);
    ngx_http_mastodon_pg_forget(b);

    for (i = 0; i < b->nqueries; i++) {
        if (b->results[i]) {
            PQclear(b->results[i]);
            b->results[i] = NULL;
        }
    }
}


static ngx_int_t
ngx_http_mastodon_pg_connect(ngx_http_mastodon_pg_conn_t *pc)
{
    ngx_http_mastodon_pg_pool_t  *pool;

    pool = pc->pool;

    ngx_memzero(pc, sizeof(ngx_http_mastodon_pg_conn_t));
    pc->pool = pool;

    pc->pgconn = PQconnectStartParams(pool->keys, pool->values, 0);

    if (pc->pgconn == NULL) {
        ngx_http_mastodon_pg_connect_failed(pc, "out of memory");
        return NGX_ERROR;
    }

    if (PQstatus(pc->pgconn) == CONNECTION_BAD
        || PQsetnonblocking(pc->pgconn, 1) != 0)
    {
        ngx_http_mastodon_pg_connect_failed(pc, PQerrorMessage(pc->pgconn));
        return NGX_ERROR;
    }

    PQsetNoticeProcessor(pc->pgconn, ngx_http_mastodon_pg_notice, pool);

    pc->state = NGX_HTTP_MASTODON_PG_CONNECTING;
    pool->nconnecting++;

    if (ngx_http_mastodon_pg_wrap(pc) != NGX_OK) {
        ngx_http_mastodon_pg_connect_failed(pc, "no free connection");
        return NGX_ERROR;
    }

    ngx_add_timer(pc->connection->read, pool->conf->pg_connect_timeout);

    /* PQconnectStart() leaves us in the "writing" state */
    if (ngx_http_mastodon_pg_event(pc->connection->write, NGX_WRITE_EVENT, 1)
        != NGX_OK)
    {
        ngx_http_mastodon_pg_connect_failed(pc, "event registration failed");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* Wraps libpq's socket in an ngx_connection_t and watches it for reading. */
static ngx_int_t
ngx_http_mastodon_pg_wrap(ngx_http_mastodon_pg_conn_t *pc)
{
    ngx_socket_t       fd;
    ngx_file_info_t    fi;
    ngx_connection_t  *c;

    fd = PQsocket(pc->pgconn);
    if (fd == (ngx_socket_t) -1) {
        return NGX_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, pc->pool->log, ngx_errno,
                      "fstat() of the PostgreSQL socket failed");
        return NGX_ERROR;
    }

    c = ngx_get_connection(fd, pc->pool->log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->data = pc;
    c->read->handler = ngx_http_mastodon_pg_connect_handler;
    c->write->handler = ngx_http_mastodon_pg_connect_handler;
    c->read->log = c->log;
    c->write->log = c->log;
    c->log->action = "talking to PostgreSQL";

    pc->connection = c;
    pc->inode = fi.st_ino;

    return ngx_http_mastodon_pg_event(c->read, NGX_READ_EVENT, 1);
}


/* Releases the wrapper; libpq keeps (and later closes) the descriptor. */
static void
ngx_http_mastodon_pg_unwrap(ngx_http_mastodon_pg_conn_t *pc)
{
    ngx_connection_t  *c;

    c = pc->connection;
    if (c == NULL) {
        return;
    }

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    /*
     * libpq closes the descriptor itself (on EOF, or for the next host, it
     * may have done so already), and a closed descriptor leaves epoll by
     * itself: only mark the events inactive, as nginx does before closing
     * a socket.
     */
    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_CLOSE_EVENT);
    }

    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;

    pc->connection = NULL;
}


static void
ngx_http_mastodon_pg_connect_handler(ngx_event_t *ev)
{
    ngx_connection_t             *c;
    ngx_http_mastodon_pg_conn_t  *pc;

    c = ev->data;
    pc = c->data;

    if (c->close) {
        /* the worker is shutting down */
        ngx_http_mastodon_pg_abort(pc);
        return;
    }

    if (ev->timedout) {
        ngx_http_mastodon_pg_connect_failed(pc, "connection timed out");
        return;
    }

    (void) ngx_http_mastodon_pg_poll(pc);
}


static ngx_int_t
ngx_http_mastodon_pg_poll(ngx_http_mastodon_pg_conn_t *pc)
{
    ngx_msec_t                    left;
    ngx_connection_t             *c;
    PostgresPollingStatusType     st;

    for ( ;; ) {
        st = PQconnectPoll(pc->pgconn);

        c = pc->connection;

        if (st != PGRES_POLLING_FAILED
            && ngx_http_mastodon_pg_new_socket(pc))
        {
            left = 1;

            if (c->read->timer_set
                && (ngx_msec_int_t) (c->read->timer.key - ngx_current_msec)
                   > 0)
            {
                left = c->read->timer.key - ngx_current_msec;
            }

            ngx_http_mastodon_pg_unwrap(pc);

            if (ngx_http_mastodon_pg_wrap(pc) != NGX_OK) {
                ngx_http_mastodon_pg_connect_failed(pc, "cannot watch socket");
                return NGX_ERROR;
            }

            c = pc->connection;
            ngx_add_timer(c->read, left);
        }

        switch (st) {

        case PGRES_POLLING_OK:
            ngx_http_mastodon_pg_connected(pc);
            return NGX_OK;

        case PGRES_POLLING_FAILED:
            ngx_http_mastodon_pg_connect_failed(pc,
                                                PQerrorMessage(pc->pgconn));
            return NGX_ERROR;

        case PGRES_POLLING_READING:
            if (ngx_http_mastodon_pg_event(c->write, NGX_WRITE_EVENT, 0)
                != NGX_OK)
            {
                ngx_http_mastodon_pg_connect_failed(pc, "event failed");
                return NGX_ERROR;
            }
            return NGX_AGAIN;

        case PGRES_POLLING_WRITING:
            if (ngx_http_mastodon_pg_event(c->write, NGX_WRITE_EVENT, 1)
                != NGX_OK)
            {
                ngx_http_mastodon_pg_connect_failed(pc, "event failed");
                return NGX_ERROR;
            }
            return NGX_AGAIN;

        default:
            /* PGRES_POLLING_ACTIVE (obsolete): poll again at once */
            continue;
        }
    }
}


/*
 * Whether libpq now talks through another socket than the one wrapped: it
 * closes its socket and opens a new one for the next host or address, or
 * to retry without SSL or GSS encryption.  The new one usually gets the
 * same number (the lowest free), but it is unknown to epoll, which forgot
 * the old one when libpq closed it: the inode tells them apart.
 */
static ngx_uint_t
ngx_http_mastodon_pg_new_socket(ngx_http_mastodon_pg_conn_t *pc)
{
    ngx_socket_t     fd;
    ngx_file_info_t  fi;

    fd = PQsocket(pc->pgconn);

    if (fd != pc->connection->fd) {
        return 1;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        return 1;
    }

    return fi.st_ino != pc->inode;
}


static void
ngx_http_mastodon_pg_connected(ngx_http_mastodon_pg_conn_t *pc)
{
    ngx_connection_t             *c;
    ngx_http_mastodon_pg_pool_t  *pool;

    c = pc->connection;
    pool = pc->pool;

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (ngx_http_mastodon_pg_event(c->write, NGX_WRITE_EVENT, 0) != NGX_OK
        || PQenterPipelineMode(pc->pgconn) != 1)
    {
        ngx_http_mastodon_pg_connect_failed(pc, PQerrorMessage(pc->pgconn));
        return;
    }

    c->read->handler = ngx_http_mastodon_pg_read_handler;
    c->write->handler = ngx_http_mastodon_pg_write_handler;

    pool->nconnecting--;
    pool->nlive++;
    pool->backoff = 0;

    if (pool->down) {
        ngx_log_error(NGX_LOG_NOTICE, pool->log, 0,
                      "mastodon: %s is back", pool->name);
        pool->down = 0;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, pool->log, 0,
                   "mastodon: %s connected, %ui live", pool->name, pool->nlive);

    /* a new session means the server answers */
    ngx_http_mastodon_pg_alive(pool);

    ngx_http_mastodon_pg_ready(pc);
}


static void
ngx_http_mastodon_pg_connect_failed(ngx_http_mastodon_pg_conn_t *pc,
    const char *why)
{
    ngx_str_t                     msg;
    ngx_uint_t                    level, timedout;
    ngx_http_mastodon_pg_pool_t  *pool;

    pool = pc->pool;
    msg = ngx_http_mastodon_pg_message(why);
    timedout = (pc->connection && pc->connection->read->timedout);

    level = pool->down ? NGX_LOG_INFO : NGX_LOG_ERR;

    /* once per outage at error level; the retries after it at info */
    ngx_log_error(level, pool->log, 0,
                  "mastodon: %s connection failed: %V", pool->name, &msg);

    pool->down = 1;

    pool->backoff = pool->backoff ? ngx_min(2 * pool->backoff,
                                            NGX_HTTP_MASTODON_PG_BACKOFF_MAX)
                                  : NGX_HTTP_MASTODON_PG_BACKOFF_MIN;
    pool->retry_at = ngx_current_msec + pool->backoff;

    ngx_http_mastodon_pg_close(pc);

    if (timedout) {
        /*
         * It accepts connections but does not answer, or its host drops
         * them: with nothing alive, requests would each wait for this
         * timeout; else a probe on a live connection asks.
         */
        if (pool->nlive == 0) {
            ngx_http_mastodon_pg_hung(pool);
        } else {
            ngx_http_mastodon_pg_suspect(pool);
        }
        return;
    }

    ngx_http_mastodon_pg_fail_waiting(pool, 0);
}


/*
 * No connection alive or coming (or the server does not answer: always):
 * nobody will serve the queue soon, so its batches fail now (503) rather
 * than after mastodon_pg_queue_timeout.
 */
static void
ngx_http_mastodon_pg_fail_waiting(ngx_http_mastodon_pg_pool_t *pool,
    ngx_uint_t always)
{
    ngx_queue_t                   *q;
    ngx_http_mastodon_pg_batch_t  *b;

    if (!always && (pool->nlive || pool->nconnecting)) {
        return;
    }

    while (!ngx_queue_empty(&pool->waiting)) {
        q = ngx_queue_head(&pool->waiting);
        b = ngx_queue_data(q, ngx_http_mastodon_pg_batch_t, queue);
        ngx_http_mastodon_pg_complete(b, NGX_ERROR);
    }
}


/* An idle connection serves the oldest waiting batch or joins the list. */
static void
ngx_http_mastodon_pg_ready(ngx_http_mastodon_pg_conn_t *pc)
{
    ngx_queue_t                   *q;
    ngx_http_mastodon_pg_pool_t   *pool;
    ngx_http_mastodon_pg_batch_t  *b;

    pool = pc->pool;

    if ((pool->conf->pg_max_requests
         && pc->requests >= pool->conf->pg_max_requests)
        || ((ngx_exiting || ngx_terminate)
            && ngx_queue_empty(&pool->waiting)))
    {
        /*
         * libpq's buffers only grow: recycle long-lived connections; and
         * a worker that is shutting down keeps none.  Not in the idle
         * list: close() must count it out as a busy one.
         */
        pc->state = NGX_HTTP_MASTODON_PG_BUSY;
        ngx_http_mastodon_pg_close(pc);

        if (!ngx_queue_empty(&pool->waiting)) {
            (void) ngx_http_mastodon_pg_connect(pc);
        }

        return;
    }

    if (!ngx_queue_empty(&pool->waiting) && !pool->probe.timer_set) {
        q = ngx_queue_head(&pool->waiting);
        b = ngx_queue_data(q, ngx_http_mastodon_pg_batch_t, queue);

        ngx_http_mastodon_pg_unlink(b);

        if (ngx_http_mastodon_pg_send(pc, b) != NGX_OK) {
            /* the connection died under us (send closed it) */
            ngx_http_mastodon_pg_complete(b, NGX_ERROR);
            ngx_http_mastodon_pg_fail_waiting(pool, 0);
        }

        return;
    }

    pc->state = NGX_HTTP_MASTODON_PG_IDLE;
    ngx_queue_insert_tail(&pool->idle, &pc->queue);

    /* ngx_close_idle_connections() closes it when the worker shuts down */
    pc->connection->idle = 1;
}


static ngx_http_mastodon_pg_conn_t *
ngx_http_mastodon_pg_take_idle(ngx_http_mastodon_pg_pool_t *pool)
{
    ngx_queue_t                  *q;
    ngx_http_mastodon_pg_conn_t  *pc;

    if (ngx_queue_empty(&pool->idle)) {
        return NULL;
    }

    q = ngx_queue_head(&pool->idle);
    ngx_queue_remove(q);

    pc = ngx_queue_data(q, ngx_http_mastodon_pg_conn_t, queue);
    pc->connection->idle = 0;

    return pc;
}


/*
 * Sends a batch, or, without one, a probe: does the server still answer?
 * Through PgBouncer (transaction mode) a session is not ours between
 * batches: statements go unnamed, and the statement timeout is set for
 * each batch's transaction.
 */
static ngx_int_t
ngx_http_mastodon_pg_send(ngx_http_mastodon_pg_conn_t *pc,
    ngx_http_mastodon_pg_batch_t *b)
{
    char                          name[32];
    ngx_str_t                     msg;
    ngx_uint_t                    i, notify_after;
    ngx_msec_t                    timeout;
    ngx_http_mastodon_pg_stmt_t  *stmt;
    ngx_http_mastodon_pg_pool_t  *pool;

    pool = pc->pool;
    notify_after = 0;

    pc->state = NGX_HTTP_MASTODON_PG_BUSY;
    pc->batch = b;
    pc->nitems = 0;
    pc->item = 0;
    pc->got_result = 0;
    pc->requests++;

    if (b == NULL) {
        if (!PQsendQueryParams(pc->pgconn, "SELECT 1", 0, NULL, NULL, NULL,
                               NULL, 0))
        {
            goto failed;
        }

        pc->items[pc->nitems++] = NGX_HTTP_MASTODON_PG_ITEM_EXTRA;
        timeout = ngx_min(pool->query_timeout,
                          NGX_HTTP_MASTODON_PG_PROBE_TIMEOUT);
        goto sync;
    }

    b->conn = pc;
    timeout = pool->query_timeout;

    if (pool->statement_timeout) {
        if (!PQsendQueryParams(pc->pgconn,
                               "SELECT set_config('statement_timeout', $1,"
                               " true)",
                               1, NULL, &pool->statement_timeout, NULL, NULL,
                               0))
        {
            goto failed;
        }

        pc->items[pc->nitems++] = NGX_HTTP_MASTODON_PG_ITEM_EXTRA;
    }

    /* not through PgBouncer: the flush could reach another server */
    notify_after = b->notify_after && !pool->conf->pg_pgbouncer;

    if (notify_after) {
        if (!PQsendQueryParams(pc->pgconn,
                               "SELECT set_config('mastodon.notify_deferred',"
                               " 'on', true)",
                               0, NULL, NULL, NULL, NULL, 0))
        {
            goto failed;
        }

        pc->items[pc->nitems++] = NGX_HTTP_MASTODON_PG_ITEM_EXTRA;
    }

    for (i = 0; i < b->nqueries; i++) {
        stmt = b->queries[i].stmt;

        if (pool->conf->pg_pgbouncer || stmt->unnamed) {
            if (!PQsendQueryParams(pc->pgconn, stmt->sql, stmt->nparams, NULL,
                                   b->queries[i].values, NULL, NULL, 0))
            {
                goto failed;
            }

            pc->items[pc->nitems++] = i;
            continue;
        }

        ngx_sprintf((u_char *) name, "s%ui%Z", stmt->index);

        if (!pc->prepared[stmt->index]) {
            if (!PQsendPrepare(pc->pgconn, name, stmt->sql, stmt->nparams,
                               NULL))
            {
                goto failed;
            }
            pc->prepared[stmt->index] = 1;
            pc->items[pc->nitems++] = NGX_HTTP_MASTODON_PG_ITEM_PREP
                                      - (ngx_int_t) stmt->index;
        }

        if (!PQsendQueryPrepared(pc->pgconn, name, stmt->nparams,
                                 b->queries[i].values, NULL, NULL, 0))
        {
            goto failed;
        }

        pc->items[pc->nitems++] = i;
    }

sync:

    if (!PQpipelineSync(pc->pgconn)) {
        goto failed;
    }

    pc->items[pc->nitems++] = NGX_HTTP_MASTODON_PG_ITEM_SYNC;

    if (notify_after) {
        /* its own transaction: run whether the batch's committed or not */
        if (!PQsendQueryParams(pc->pgconn, "SELECT mastodon_notify_flush()",
                               0, NULL, NULL, NULL, NULL, 0)
            || !PQpipelineSync(pc->pgconn))
        {
            goto failed;
        }

        pc->items[pc->nitems++] = NGX_HTTP_MASTODON_PG_ITEM_EXTRA;
        pc->items[pc->nitems++] = NGX_HTTP_MASTODON_PG_ITEM_SYNC;
    }

    ngx_add_timer(pc->connection->read, timeout);

    if (ngx_http_mastodon_pg_flush(pc) == NGX_ERROR) {
        goto failed;
    }

    return NGX_OK;

failed:

    msg = ngx_http_mastodon_pg_message(PQerrorMessage(pc->pgconn));
    ngx_http_mastodon_log_throttled(&pool->failures, NGX_LOG_ERR, pool->log,
                                    0, "mastodon: sending to %s failed: %V",
                                    pool->name, &msg);

    if (b) {
        b->conn = NULL;
    }

    pc->batch = NULL;
    ngx_http_mastodon_pg_close(pc);

    return NGX_ERROR;
}


static ngx_int_t
ngx_http_mastodon_pg_flush(ngx_http_mastodon_pg_conn_t *pc)
{
    int  rc;

    rc = PQflush(pc->pgconn);

    if (rc < 0) {
        return NGX_ERROR;
    }

    /*
     * 1: the socket is full.  Wait for it to drain, and keep reading
     * meanwhile: the server may be blocked writing results to us.
     */
    if (ngx_http_mastodon_pg_event(pc->connection->write, NGX_WRITE_EVENT,
                                   rc == 1)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_mastodon_pg_write_handler(ngx_event_t *ev)
{
    ngx_connection_t             *c;
    ngx_http_mastodon_pg_conn_t  *pc;

    c = ev->data;
    pc = c->data;

    if (ngx_http_mastodon_pg_flush(pc) != NGX_OK) {
        ngx_http_mastodon_pg_fail(pc, PQerrorMessage(pc->pgconn));
    }
}


static void
ngx_http_mastodon_pg_read_handler(ngx_event_t *ev)
{
    ngx_connection_t             *c;
    ngx_http_mastodon_pg_conn_t  *pc;
    ngx_http_mastodon_pg_pool_t  *pool;
#if (NGX_OPENSSL)
    SSL                          *ssl;
#endif

    c = ev->data;
    pc = c->data;

    if (c->close) {
        /*
         * The worker is shutting down: ngx_close_idle_connections(), or
         * worker_shutdown_timeout for a busy one.
         */
        ngx_http_mastodon_pg_abort(pc);
        ngx_http_mastodon_pg_fail_waiting(pc->pool, 0);
        return;
    }

    if (ev->timedout) {
        ev->timedout = 0;
        pool = pc->pool;
        ngx_http_mastodon_pg_fail(pc, "query timed out");
        ngx_http_mastodon_pg_suspect(pool);
        return;
    }

    ngx_http_mastodon_pg_read(pc);

#if (NGX_OPENSSL)

    /*
     * OpenSSL decrypts a whole record, and keeps what did not fit in
     * libpq's buffer; the socket has nothing left to signal.  Read again
     * in this cycle (the same connection, or none: it was closed).
     */
    if (pc->connection == c
        && (pc->state == NGX_HTTP_MASTODON_PG_IDLE
            || pc->state == NGX_HTTP_MASTODON_PG_BUSY)
        && PQsslInUse(pc->pgconn))
    {
        ssl = PQsslStruct(pc->pgconn, "OpenSSL");

        if (ssl && SSL_pending(ssl) > 0) {
            ngx_post_event(c->read, &ngx_posted_events);
        }
    }

#endif
}


static void
ngx_http_mastodon_pg_read(ngx_http_mastodon_pg_conn_t *pc)
{
    PGresult  *res;

    if (!PQconsumeInput(pc->pgconn)) {
        ngx_http_mastodon_pg_fail(pc, PQerrorMessage(pc->pgconn));
        return;
    }

    if (pc->state == NGX_HTTP_MASTODON_PG_IDLE) {
        /* an idle connection speaks only to say it is going away */
        while (!PQisBusy(pc->pgconn)) {
            res = PQgetResult(pc->pgconn);
            if (res == NULL) {
                break;
            }
            PQclear(res);
        }

        if (PQstatus(pc->pgconn) == CONNECTION_BAD) {
            ngx_http_mastodon_pg_fail(pc, PQerrorMessage(pc->pgconn));
        }

        return;
    }

    if (PQisBusy(pc->pgconn) && PQstatus(pc->pgconn) == CONNECTION_OK) {
        return;
    }

    switch (ngx_http_mastodon_pg_results(pc)) {

    case NGX_OK:
        ngx_http_mastodon_pg_done(pc);
        return;

    case NGX_ERROR:
        ngx_http_mastodon_pg_fail(pc, PQerrorMessage(pc->pgconn));
        return;

    default: /* NGX_AGAIN */
        if (PQstatus(pc->pgconn) == CONNECTION_BAD) {
            ngx_http_mastodon_pg_fail(pc, PQerrorMessage(pc->pgconn));
        }
        return;
    }
}


/*
 * Takes every result that is complete.  In pipeline mode each statement's
 * results end with a NULL, and the batch ends with PGRES_PIPELINE_SYNC.
 * NGX_OK: the sync arrived.  NGX_AGAIN: more to come.
 */
static ngx_int_t
ngx_http_mastodon_pg_results(ngx_http_mastodon_pg_conn_t *pc)
{
    ngx_int_t                      item;
    ngx_str_t                      msg;
    PGresult                      *res;
    ngx_uint_t                     level;
    const char                    *state;
    ExecStatusType                 st;
    ngx_http_mastodon_pg_batch_t  *b;

    while (!PQisBusy(pc->pgconn)) {

        res = PQgetResult(pc->pgconn);

        if (res == NULL) {
            if (!pc->got_result) {
                return NGX_AGAIN;           /* nothing more available */
            }
            pc->item++;
            pc->got_result = 0;
            continue;
        }

        st = PQresultStatus(res);

        if (st == PGRES_PIPELINE_SYNC) {
            PQclear(res);

            if (pc->item + 1 < pc->nitems
                && pc->items[pc->item] == NGX_HTTP_MASTODON_PG_ITEM_SYNC)
            {
                /* the batch's transaction ended; its notifications follow */
                pc->item++;
                ngx_http_mastodon_pg_batch_end(pc);
                continue;
            }

            return pc->item + 1 == pc->nitems ? NGX_OK : NGX_ERROR;
        }

        if (pc->item >= pc->nitems || pc->got_result) {
            PQclear(res);           /* more than one result for a statement */
            continue;
        }

        pc->got_result = 1;
        item = pc->items[pc->item];
        b = pc->batch;

        if (item < NGX_HTTP_MASTODON_PG_ITEM_EXTRA) {
            if (st != PGRES_COMMAND_OK) {
                /*
                 * Skipped because an earlier statement of the batch failed
                 * (PGRES_PIPELINE_ABORTED): prepared with the next batch.
                 */
                if (st != PGRES_PIPELINE_ABORTED) {
                    msg = ngx_http_mastodon_pg_message(
                                                 PQresultErrorMessage(res));
                    ngx_log_error(NGX_LOG_ALERT, pc->pool->log, 0,
                                  "mastodon: preparing a statement failed: "
                                  "%V", &msg);
                }
                pc->prepared[NGX_HTTP_MASTODON_PG_ITEM_PREP - item] = 0;
            }
            PQclear(res);
            continue;
        }

        if (st == PGRES_FATAL_ERROR) {
            msg = ngx_http_mastodon_pg_message(PQresultErrorMessage(res));
            state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

            /* a unique violation is an answer the caller handles (a race) */
            level = (state && ngx_strcmp(state, "23505") == 0)
                    ? NGX_LOG_INFO : NGX_LOG_ERR;
            ngx_log_error(level, pc->pool->log, 0,
                          "mastodon: query failed: %V", &msg);
        }

        if (b && item >= 0 && (ngx_uint_t) item < b->nqueries) {
            b->results[item] = res;
        } else {
            PQclear(res);
        }
    }

    return NGX_AGAIN;
}


/* Its results are all in: the batch's handler runs, the connection reads on. */
static void
ngx_http_mastodon_pg_batch_end(ngx_http_mastodon_pg_conn_t *pc)
{
    ngx_http_mastodon_pg_batch_t  *b;

    b = pc->batch;
    pc->batch = NULL;

    if (b) {
        b->conn = NULL;
        ngx_http_mastodon_pg_complete(b, NGX_OK);
    }
}


static void
ngx_http_mastodon_pg_done(ngx_http_mastodon_pg_conn_t *pc)
{
    if (pc->connection->read->timer_set) {
        ngx_del_timer(pc->connection->read);
    }

    /* whatever it was, a probe or a batch, the server answered */
    ngx_http_mastodon_pg_alive(pc->pool);

    /*
     * The batch first: serving the next waiter may fail it at once, and
     * its handler may end a request that also owns this batch.
     */
    ngx_http_mastodon_pg_batch_end(pc);

    ngx_http_mastodon_pg_ready(pc);
}


static void
ngx_http_mastodon_pg_fail(ngx_http_mastodon_pg_conn_t *pc, const char *why)
{
    ngx_str_t                     msg;
    ngx_http_mastodon_pg_pool_t  *pool;

    pool = pc->pool;
    msg = ngx_http_mastodon_pg_message(why);

    ngx_http_mastodon_log_throttled(&pool->failures, NGX_LOG_ERR, pool->log,
                                    0, "mastodon: %s connection lost: %V",
                                    pool->name, &msg);

    ngx_http_mastodon_pg_abort(pc);
    ngx_http_mastodon_pg_fail_waiting(pool, 0);
}


/* Closes the connection and fails its batch, if it has one. */
static void
ngx_http_mastodon_pg_abort(ngx_http_mastodon_pg_conn_t *pc)
{
    ngx_http_mastodon_pg_batch_t  *b;

    b = pc->batch;
    pc->batch = NULL;

    if (b) {
        b->conn = NULL;
    }

    ngx_http_mastodon_pg_close(pc);

    if (b) {
        ngx_http_mastodon_pg_complete(b, NGX_ERROR);
    }
}


static void
ngx_http_mastodon_pg_close(ngx_http_mastodon_pg_conn_t *pc)
{
    ngx_http_mastodon_pg_pool_t  *pool;

    pool = pc->pool;

    switch (pc->state) {
    case NGX_HTTP_MASTODON_PG_CONNECTING:
        pool->nconnecting--;
        break;
    case NGX_HTTP_MASTODON_PG_IDLE:
        ngx_queue_remove(&pc->queue);
        pool->nlive--;
        break;
    case NGX_HTTP_MASTODON_PG_BUSY:
        pool->nlive--;
        break;
    default:
        break;
    }

    ngx_http_mastodon_pg_unwrap(pc);

    if (pc->pgconn) {
        PQfinish(pc->pgconn);           /* closes the descriptor */
        pc->pgconn = NULL;
    }

    pc->state = NGX_HTTP_MASTODON_PG_CLOSED;
    pc->batch = NULL;
}


/*
 * A query or a connection attempt timed out.  A slow query, or a server
 * that accepts but does not answer?  A probe asks ("SELECT 1" on an idle
 * connection, or a new connection); until it is answered nothing else is
 * sent, and if it is not answered within a second the server is taken as
 * hung.
 */
static void
ngx_http_mastodon_pg_suspect(ngx_http_mastodon_pg_pool_t *pool)
{
    ngx_uint_t                    i;
    ngx_http_mastodon_pg_conn_t  *pc;

    if (pool->probe.timer_set) {
        return;
    }

    ngx_add_timer(&pool->probe, ngx_min(pool->query_timeout,
                                        NGX_HTTP_MASTODON_PG_PROBE_TIMEOUT));

    for ( ;; ) {
        pc = ngx_http_mastodon_pg_take_idle(pool);
        if (pc == NULL) {
            break;
        }

        if (ngx_http_mastodon_pg_send(pc, NULL) == NGX_OK) {
            return;
        }
    }

    for (i = 0; i < pool->nconns; i++) {
        if (pool->conns[i].state == NGX_HTTP_MASTODON_PG_CLOSED) {
            (void) ngx_http_mastodon_pg_connect(&pool->conns[i]);
            return;
        }
    }

    /* every connection is busy or connecting: the first answer will do */
}


static void
ngx_http_mastodon_pg_probe_handler(ngx_event_t *ev)
{
    ngx_http_mastodon_pg_pool_t  *pool = ev->data;

    ngx_http_mastodon_pg_hung(pool);
}


/*
 * The server does not answer.  Requests fail at once (503) for a while,
 * then the first one sends a probe; every connection to it would wait in
 * vain, so all are closed.
 */
static void
ngx_http_mastodon_pg_hung(ngx_http_mastodon_pg_pool_t *pool)
{
    ngx_uint_t  i, level;

    if (pool->probe.timer_set) {
        ngx_del_timer(&pool->probe);
    }

    pool->hung_backoff = pool->hung_backoff
                         ? ngx_min(2 * pool->hung_backoff,
                                   NGX_HTTP_MASTODON_PG_HUNG_MAX)
                         : NGX_HTTP_MASTODON_PG_HUNG_MIN;
    pool->hung_until = ngx_current_msec + pool->hung_backoff;

    level = pool->hung ? NGX_LOG_INFO : NGX_LOG_ERR;

    ngx_log_error(level, pool->log, 0,
                  "mastodon: %s does not answer: requests fail at once "
                  "for %M ms", pool->name, pool->hung_backoff);

    pool->hung = 1;

    for (i = 0; i < pool->nconns; i++) {
        if (pool->conns[i].state != NGX_HTTP_MASTODON_PG_CLOSED) {
            ngx_http_mastodon_pg_abort(&pool->conns[i]);
        }
    }

    ngx_http_mastodon_pg_fail_waiting(pool, 1);
}


/* The server answered: no more probing; the queue may go again. */
static void
ngx_http_mastodon_pg_alive(ngx_http_mastodon_pg_pool_t *pool)
{
    ngx_http_mastodon_pg_conn_t  *pc;

    if (pool->probe.timer_set) {
        ngx_del_timer(&pool->probe);
    }

    pool->hung_backoff = 0;

    if (pool->hung) {
        ngx_log_error(NGX_LOG_NOTICE, pool->log, 0,
                      "mastodon: %s answers again", pool->name);
        pool->hung = 0;
    }

    ngx_http_mastodon_log_throttle_end(&pool->failures, pool->log);

    /* batches held back while the probe asked */
    while (!ngx_queue_empty(&pool->waiting)) {
        pc = ngx_http_mastodon_pg_take_idle(pool);
        if (pc == NULL) {
            break;
        }
        ngx_http_mastodon_pg_ready(pc);
    }
}


/*
 * Level-triggered registration (see the top of the file).  nginx's epoll
 * code ORs the flags of both events into one registration, so both events
 * are always added as level events.
 */
static ngx_int_t
ngx_http_mastodon_pg_event(ngx_event_t *ev, ngx_int_t event, ngx_uint_t on)
{
    if (on && !ev->active) {
        return ngx_add_event(ev, event, NGX_LEVEL_EVENT);
    }

    if (!on && ev->active) {
        return ngx_del_event(ev, event, 0);
    }

    return NGX_OK;
}


static void
ngx_http_mastodon_pg_notice(void *arg, const char *message)
{
    ngx_str_t                     msg;
    ngx_http_mastodon_pg_pool_t  *pool = arg;

    msg = ngx_http_mastodon_pg_message(message);

    ngx_log_error(NGX_LOG_NOTICE, pool->log, 0,
                  "mastodon: %s: %V", pool->name, &msg);
}


/* libpq's messages span lines; the error log wants one line each. */
static ngx_str_t
ngx_http_mastodon_pg_message(const char *message)
{
    static u_char  buf[512];
    u_char        *p, *last;
    ngx_str_t      msg;

    p = buf;
    last = buf + sizeof(buf);

    for ( /* void */ ; *message && p < last; message++) {
        if (*message == '\n' || *message == '\t' || *message == '\r') {
            if (p > buf && p[-1] != ' ') {
                *p++ = ' ';
            }
            continue;
        }
        *p++ = *message;
    }

    while (p > buf && p[-1] == ' ') {
        p--;
    }

    msg.data = buf;
    msg.len = p - buf;

    return msg;
}
