/*
 * The per-worker PostgreSQL pool, driven by nginx's event loop.
 *
 * Each nginx worker owns up to mastodon_pg_pool_size libpq connections,
 * opened lazily with PQconnectStart/PQconnectPoll.  An operation (_op.c: a
 * request's, a stream's or a timer's) submits a
 * batch of prepared statements; the batch goes to an idle connection in
 * pipeline mode (statements prepared on first use per connection, one
 * PQpipelineSync per batch, so one batch is one implicit transaction and
 * one round trip), or waits in a bounded queue with its own timer.
 *
 * Sockets are registered level-triggered: libpq reads at most its buffer
 * per PQconsumeInput(), and with edge-triggered epoll the rest of a reply
 * would never raise another event.  libpq owns the file descriptor; the
 * ngx_connection_t is only a wrapper and is released, never closed.
 *
 * When PostgreSQL is down, connection attempts back off (up to 1 s) and
 * requests fail at once with 503 instead of hanging; the first request
 * after the backoff tries again, so the pool recovers by itself.
 */

#include "ngx_http_mastodon_backend.h"


#define NGX_HTTP_MASTODON_PG_MAX_STMTS   512
#define NGX_HTTP_MASTODON_PG_BACKOFF_MIN 100
#define NGX_HTTP_MASTODON_PG_BACKOFF_MAX 1000

#define NGX_HTTP_MASTODON_PG_ITEM_SYNC   -1
#define NGX_HTTP_MASTODON_PG_ITEM_PREP   -2     /* minus the statement index */


typedef enum {
    NGX_HTTP_MASTODON_PG_CLOSED = 0,
    NGX_HTTP_MASTODON_PG_CONNECTING,
    NGX_HTTP_MASTODON_PG_IDLE,
    NGX_HTTP_MASTODON_PG_BUSY
} ngx_http_mastodon_pg_state_e;


struct ngx_http_mastodon_pg_conn_s {
    PGconn                          *pgconn;
    ngx_connection_t                *connection;
    ngx_http_mastodon_pg_state_e     state;
    ngx_queue_t                      queue;        /* in the idle list */

    ngx_http_mastodon_pg_batch_t    *batch;        /* NULL once orphaned */

    /* what the server will answer, in order: queries, prepares, the sync */
    ngx_int_t                        items[2 * NGX_HTTP_MASTODON_PG_MAX_QUERIES
                                           + 1];
    ngx_uint_t                       nitems;
    ngx_uint_t                       item;
    ngx_uint_t                       got_result;

    ngx_uint_t                       requests;
    u_char                           prepared[NGX_HTTP_MASTODON_PG_MAX_STMTS];
};


typedef struct {
    ngx_http_mastodon_main_conf_t   *conf;
    ngx_http_mastodon_pg_conn_t     *conns;
    ngx_uint_t                       nconns;
    ngx_queue_t                      idle;
    ngx_queue_t                      waiting;
    ngx_uint_t                       nwaiting;
    ngx_uint_t                       nconnecting;
    ngx_uint_t                       nlive;
    ngx_msec_t                       backoff;
    ngx_msec_t                       retry_at;
    ngx_uint_t                       down;         /* logged once per outage */
    ngx_uint_t                       nstmts;
    ngx_log_t                       *log;
} ngx_http_mastodon_pg_pool_t;


static ngx_http_mastodon_pg_pool_t  ngx_http_mastodon_pg_pool;


static ngx_int_t ngx_http_mastodon_pg_connect(ngx_http_mastodon_pg_conn_t *pc);
static void ngx_http_mastodon_pg_connect_handler(ngx_event_t *ev);
static ngx_int_t ngx_http_mastodon_pg_poll(ngx_http_mastodon_pg_conn_t *pc);
static ngx_int_t ngx_http_mastodon_pg_wrap(ngx_http_mastodon_pg_conn_t *pc);
static void ngx_http_mastodon_pg_unwrap(ngx_http_mastodon_pg_conn_t *pc);
static void ngx_http_mastodon_pg_connected(ngx_http_mastodon_pg_conn_t *pc);
static void ngx_http_mastodon_pg_connect_failed(
    ngx_http_mastodon_pg_conn_t *pc, const char *why);
static ngx_int_t ngx_http_mastodon_pg_send(ngx_http_mastodon_pg_conn_t *pc,
    ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_pg_read_handler(ngx_event_t *ev);
static void ngx_http_mastodon_pg_write_handler(ngx_event_t *ev);
static ngx_int_t ngx_http_mastodon_pg_flush(ngx_http_mastodon_pg_conn_t *pc);
static ngx_int_t ngx_http_mastodon_pg_results(ngx_http_mastodon_pg_conn_t *pc);
static void ngx_http_mastodon_pg_done(ngx_http_mastodon_pg_conn_t *pc);
static void ngx_http_mastodon_pg_fail(ngx_http_mastodon_pg_conn_t *pc,
    const char *why);
static void ngx_http_mastodon_pg_close(ngx_http_mastodon_pg_conn_t *pc);
static void ngx_http_mastodon_pg_ready(ngx_http_mastodon_pg_conn_t *pc);
static void ngx_http_mastodon_pg_fail_waiting(void);
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
    ngx_http_mastodon_pg_pool_t  *pool = &ngx_http_mastodon_pg_pool;

    ngx_memzero(pool, sizeof(ngx_http_mastodon_pg_pool_t));

    pool->conf = mcf;
    pool->log = cycle->log;
    pool->nconns = mcf->pg_pool_size;
    pool->conns = ngx_pcalloc(cycle->pool,
                              pool->nconns * sizeof(ngx_http_mastodon_pg_conn_t));
    if (pool->conns == NULL) {
        return NGX_ERROR;
    }

    ngx_queue_init(&pool->idle);
    ngx_queue_init(&pool->waiting);

    return NGX_OK;
}


void
ngx_http_mastodon_pg_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                    i;
    ngx_http_mastodon_pg_pool_t  *pool = &ngx_http_mastodon_pg_pool;

    for (i = 0; i < pool->nconns; i++) {
        if (pool->conns[i].state != NGX_HTTP_MASTODON_PG_CLOSED) {
            ngx_http_mastodon_pg_close(&pool->conns[i]);
        }
    }

    pool->nconns = 0;
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
    ngx_http_mastodon_pg_pool_t  *pool = &ngx_http_mastodon_pg_pool;

    if (b->nqueries == NGX_HTTP_MASTODON_PG_MAX_QUERIES) {
        ngx_log_error(NGX_LOG_ALERT, b->op->log, 0,
                      "mastodon: more than %d statements in one batch",
                      NGX_HTTP_MASTODON_PG_MAX_QUERIES);
        return NGX_ERROR;
    }

    if (stmt->index == 0) {
        if (pool->nstmts + 1 >= NGX_HTTP_MASTODON_PG_MAX_STMTS) {
            ngx_log_error(NGX_LOG_ALERT, b->op->log, 0,
                          "mastodon: too many prepared statements");
            return NGX_ERROR;
        }
        stmt->index = ++pool->nstmts;
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
    u_char  *p;

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN + 1);
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


/*
 * Sends the batch, or queues it.  NGX_OK: the batch's handler will be
 * called later.  NGX_ERROR: PostgreSQL is unavailable right now (down,
 * backing off, or the queue is full); the handler will not be called and
 * the caller answers 503.
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
    ngx_queue_t                   *q;
    ngx_http_mastodon_pg_conn_t   *pc, *closed;
    ngx_http_mastodon_pg_pool_t   *pool = &ngx_http_mastodon_pg_pool;

    if (b->nqueries == 0) {
        return NGX_ERROR;
    }

    while (!ngx_queue_empty(&pool->idle)) {
        q = ngx_queue_head(&pool->idle);
        ngx_queue_remove(q);
        pc = ngx_queue_data(q, ngx_http_mastodon_pg_conn_t, queue);

        if (ngx_http_mastodon_pg_send(pc, b) == NGX_OK) {
            return NGX_OK;
        }

        /* that connection was dead: closed by send; try the next one */
    }

    if (pool->nwaiting >= pool->conf->pg_queue_size) {
        ngx_log_error(NGX_LOG_WARN, b->op->log, 0,
                      "mastodon: PostgreSQL wait queue is full (%ui)",
                      pool->nwaiting);
        return NGX_ERROR;
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
        ngx_log_error(NGX_LOG_ERR, b->op->log, 0,
                      "mastodon: PostgreSQL is unavailable");
        return NGX_ERROR;
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


static void
ngx_http_mastodon_pg_wait_handler(ngx_event_t *ev)
{
    ngx_http_mastodon_pg_batch_t  *b = ev->data;

    ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                  "mastodon: timed out waiting for a PostgreSQL connection");

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
    ngx_http_mastodon_pg_pool_t  *pool = &ngx_http_mastodon_pg_pool;

    if (b->waiting) {
        ngx_queue_remove(&b->queue);
        pool->nwaiting--;
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
    ngx_http_mastodon_pg_pool_t  *pool = &ngx_http_mastodon_pg_pool;

    ngx_memzero(pc, sizeof(ngx_http_mastodon_pg_conn_t));

    /*
     * The conninfo was checked at configuration time: no DNS here.
     * Generic plans: every statement is prepared, parameterized and an
     * index look-up; planning one afresh for each execution (the custom
     * plans PostgreSQL tries first) cost more than running it.  An
     * operator's own "options" in the conninfo win.
     */
    if (ngx_strstr(pool->conf->database.data, "options") == NULL) {
        static const char  *keys[] = { "dbname", "options", NULL };
        const char         *values[3];

        values[0] = (const char *) pool->conf->database.data;
        values[1] = "-c plan_cache_mode=force_generic_plan";
        values[2] = NULL;

        pc->pgconn = PQconnectStartParams(keys, values, 1);

    } else {
        pc->pgconn = PQconnectStart((char *) pool->conf->database.data);
    }

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

    PQsetNoticeProcessor(pc->pgconn, ngx_http_mastodon_pg_notice, NULL);

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
    ngx_connection_t  *c;

    fd = PQsocket(pc->pgconn);
    if (fd == (ngx_socket_t) -1) {
        return NGX_ERROR;
    }

    c = ngx_get_connection(fd, ngx_http_mastodon_pg_pool.log);
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
     * libpq closes the descriptor itself (on EOF it may have done so
     * already), and a closed descriptor leaves epoll by itself: only mark
     * the events inactive, as nginx does before closing a socket.
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

    if (ev->timedout) {
        ngx_http_mastodon_pg_connect_failed(pc, "connection timed out");
        return;
    }

    (void) ngx_http_mastodon_pg_poll(pc);
}


static ngx_int_t
ngx_http_mastodon_pg_poll(ngx_http_mastodon_pg_conn_t *pc)
{
    ngx_socket_t                  fd;
    ngx_connection_t             *c;
    PostgresPollingStatusType     st;

    for ( ;; ) {
        st = PQconnectPoll(pc->pgconn);

        /* libpq may open a new socket while connecting (another host) */
        fd = PQsocket(pc->pgconn);
        c = pc->connection;

        if (st != PGRES_POLLING_FAILED && fd != c->fd) {
            ngx_msec_t  left = 0;

            if (c->read->timer_set) {
                left = c->read->timer.key - ngx_current_msec;
            }

            ngx_http_mastodon_pg_unwrap(pc);

            if (ngx_http_mastodon_pg_wrap(pc) != NGX_OK) {
                ngx_http_mastodon_pg_connect_failed(pc, "cannot watch socket");
                return NGX_ERROR;
            }

            ngx_add_timer(pc->connection->read, left ? left : 1);
            c = pc->connection;
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


static void
ngx_http_mastodon_pg_connected(ngx_http_mastodon_pg_conn_t *pc)
{
    ngx_connection_t             *c;
    ngx_http_mastodon_pg_pool_t  *pool = &ngx_http_mastodon_pg_pool;

    c = pc->connection;

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
                      "mastodon: PostgreSQL is back");
        pool->down = 0;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, pool->log, 0,
                   "mastodon: PostgreSQL connected, %ui live", pool->nlive);

    ngx_http_mastodon_pg_ready(pc);
}


static void
ngx_http_mastodon_pg_connect_failed(ngx_http_mastodon_pg_conn_t *pc,
    const char *why)
{
    ngx_str_t                     msg;
    ngx_uint_t                    level;
    ngx_http_mastodon_pg_pool_t  *pool = &ngx_http_mastodon_pg_pool;

    msg = ngx_http_mastodon_pg_message(why);

    level = pool->down ? NGX_LOG_INFO : NGX_LOG_ERR;

    /* once per outage at error level; the retries after it at info */
    ngx_log_error(level, pool->log, 0,
                  "mastodon: PostgreSQL connection failed: %V", &msg);

    pool->down = 1;

    pool->backoff = pool->backoff ? ngx_min(2 * pool->backoff,
                                            NGX_HTTP_MASTODON_PG_BACKOFF_MAX)
                                  : NGX_HTTP_MASTODON_PG_BACKOFF_MIN;
    pool->retry_at = ngx_current_msec + pool->backoff;

    ngx_http_mastodon_pg_close(pc);
    ngx_http_mastodon_pg_fail_waiting();
}


/*
 * No connection alive or coming: nobody will serve the queue soon, so its
 * batches fail now (503) rather than after mastodon_pg_queue_timeout.
 */
static void
ngx_http_mastodon_pg_fail_waiting(void)
{
    ngx_queue_t                   *q;
    ngx_http_mastodon_pg_batch_t  *b;
    ngx_http_mastodon_pg_pool_t   *pool = &ngx_http_mastodon_pg_pool;

    if (pool->nlive || pool->nconnecting) {
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
    ngx_http_mastodon_pg_batch_t  *b;
    ngx_http_mastodon_pg_pool_t   *pool = &ngx_http_mastodon_pg_pool;

    if (pool->conf->pg_max_requests
        && pc->requests >= pool->conf->pg_max_requests)
    {
        /*
         * libpq's buffers only grow: recycle long-lived connections.  Not
         * in the idle list: close() must count it out as a busy one.
         */
        pc->state = NGX_HTTP_MASTODON_PG_BUSY;
        ngx_http_mastodon_pg_close(pc);

        if (!ngx_queue_empty(&pool->waiting)) {
            (void) ngx_http_mastodon_pg_connect(pc);
        }

        return;
    }

    if (!ngx_queue_empty(&pool->waiting)) {
        q = ngx_queue_head(&pool->waiting);
        b = ngx_queue_data(q, ngx_http_mastodon_pg_batch_t, queue);

        ngx_http_mastodon_pg_unlink(b);

        if (ngx_http_mastodon_pg_send(pc, b) != NGX_OK) {
            /* the connection died under us (send closed it) */
            ngx_http_mastodon_pg_complete(b, NGX_ERROR);
            ngx_http_mastodon_pg_fail_waiting();
        }

        return;
    }

    pc->state = NGX_HTTP_MASTODON_PG_IDLE;
    ngx_queue_insert_tail(&pool->idle, &pc->queue);
}


static ngx_int_t
ngx_http_mastodon_pg_send(ngx_http_mastodon_pg_conn_t *pc,
    ngx_http_mastodon_pg_batch_t *b)
{
    char                          name[32];
    ngx_str_t                     msg;
    ngx_uint_t                    i;
    ngx_http_mastodon_pg_stmt_t  *stmt;
    ngx_http_mastodon_pg_pool_t  *pool = &ngx_http_mastodon_pg_pool;

    pc->state = NGX_HTTP_MASTODON_PG_BUSY;
    pc->batch = b;
    pc->nitems = 0;
    pc->item = 0;
    pc->got_result = 0;
    pc->requests++;
    b->conn = pc;

    for (i = 0; i < b->nqueries; i++) {
        stmt = b->queries[i].stmt;
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

    if (!PQpipelineSync(pc->pgconn)) {
        goto failed;
    }

    pc->items[pc->nitems++] = NGX_HTTP_MASTODON_PG_ITEM_SYNC;

    ngx_add_timer(pc->connection->read, pool->conf->pg_query_timeout);

    if (ngx_http_mastodon_pg_flush(pc) == NGX_ERROR) {
        goto failed;
    }

    return NGX_OK;

failed:

    msg = ngx_http_mastodon_pg_message(PQerrorMessage(pc->pgconn));
    ngx_log_error(NGX_LOG_ERR, pool->log, 0,
                  "mastodon: sending to PostgreSQL failed: %V", &msg);

    b->conn = NULL;
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

    c = ev->data;
    pc = c->data;

    if (ev->timedout) {
        ev->timedout = 0;
        ngx_http_mastodon_pg_fail(pc, "query timed out");
        return;
    }

    if (!PQconsumeInput(pc->pgconn)) {
        ngx_http_mastodon_pg_fail(pc, PQerrorMessage(pc->pgconn));
        return;
    }

    if (pc->state == NGX_HTTP_MASTODON_PG_IDLE) {
        /* an idle connection speaks only to say it is going away */
        while (!PQisBusy(pc->pgconn)) {
            PGresult  *res = PQgetResult(pc->pgconn);
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
            return pc->item + 1 == pc->nitems ? NGX_OK : NGX_ERROR;
        }

        if (pc->item >= pc->nitems || pc->got_result) {
            PQclear(res);           /* more than one result for a statement */
            continue;
        }

        pc->got_result = 1;
        item = pc->items[pc->item];
        b = pc->batch;

        if (item <= NGX_HTTP_MASTODON_PG_ITEM_PREP) {
            if (st != PGRES_COMMAND_OK) {
                /*
                 * Skipped because an earlier statement of the batch failed
                 * (PGRES_PIPELINE_ABORTED): prepared with the next batch.
                 */
                if (st != PGRES_PIPELINE_ABORTED) {
                    msg = ngx_http_mastodon_pg_message(
                                                 PQresultErrorMessage(res));
                    ngx_log_error(NGX_LOG_ALERT,
                                  ngx_http_mastodon_pg_pool.log, 0,
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
            ngx_log_error(level, ngx_http_mastodon_pg_pool.log, 0,
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


static void
ngx_http_mastodon_pg_done(ngx_http_mastodon_pg_conn_t *pc)
{
    ngx_http_mastodon_pg_batch_t  *b;

    if (pc->connection->read->timer_set) {
        ngx_del_timer(pc->connection->read);
    }

    b = pc->batch;
    pc->batch = NULL;

    /*
     * The batch first: serving the next waiter may fail it at once, and
     * its handler may end a request that also owns this batch.
     */
    if (b) {
        b->conn = NULL;
        ngx_http_mastodon_pg_complete(b, NGX_OK);
    }

    ngx_http_mastodon_pg_ready(pc);
}


static void
ngx_http_mastodon_pg_fail(ngx_http_mastodon_pg_conn_t *pc, const char *why)
{
    ngx_str_t                      msg;
    ngx_http_mastodon_pg_batch_t  *b;

    msg = ngx_http_mastodon_pg_message(why);

    ngx_log_error(NGX_LOG_ERR, ngx_http_mastodon_pg_pool.log, 0,
                  "mastodon: PostgreSQL connection lost: %V", &msg);

    b = pc->batch;
    pc->batch = NULL;

    if (b) {
        b->conn = NULL;
    }

    ngx_http_mastodon_pg_close(pc);

    if (b) {
        ngx_http_mastodon_pg_complete(b, NGX_ERROR);
    }

    ngx_http_mastodon_pg_fail_waiting();
}


static void
ngx_http_mastodon_pg_close(ngx_http_mastodon_pg_conn_t *pc)
{
    ngx_http_mastodon_pg_pool_t  *pool = &ngx_http_mastodon_pg_pool;

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
    ngx_str_t  msg;

    msg = ngx_http_mastodon_pg_message(message);

    ngx_log_error(NGX_LOG_NOTICE, ngx_http_mastodon_pg_pool.log, 0,
                  "mastodon: PostgreSQL: %V", &msg);
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
