/*
 * A backend operation: what PostgreSQL batches, Redis commands, thread
 * tasks and JSON builders belong to.  It gives them a pool, a log and an
 * owner, and keeps the list of calls still pending so that the owner can
 * cancel them all at once.
 *
 * The common owner is a request: its operation lives in the request's ctx,
 * uses r->pool and the connection's log, and is cancelled by one cleanup
 * of r->pool (no allocation of its own).  Other owners, a long-lived stream
 * connection or a timer, create an operation with its own pool and end it;
 * the pool goes once the operation is ended and nothing is pending.  A
 * stream's operations (one per event) are also ended when its connection
 * goes.
 *
 * Cancelling detaches every pending call: a Redis command's reply, or a
 * batch's results, are then discarded when they come, and nothing of the
 * operation (pool, log) is touched again.  A thread task cannot be stopped:
 * it stays pending and holds the owner (a request is not freed, an own
 * pool not destroyed) until its completion, which then only releases it.
 */

#include "ngx_http_mastodon_backend.h"


static void ngx_http_mastodon_op_request_cleanup(void *data);
static void ngx_http_mastodon_op_stream_cleanup(void *data);
static void ngx_http_mastodon_op_free(ngx_http_mastodon_op_t *op);


/* operations with their own pool, alive in this worker (leak check) */
static ngx_queue_t  ngx_http_mastodon_ops_live;
static ngx_uint_t   ngx_http_mastodon_ops_nalive;
static ngx_uint_t   ngx_http_mastodon_ops_exit_started;


ngx_http_mastodon_op_t *
ngx_http_mastodon_op_create(ngx_http_mastodon_op_owner_e kind, void *owner,
    ngx_log_t *log)
{
    ngx_pool_t              *pool;
    ngx_http_mastodon_op_t  *op;

    pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, log);
    if (pool == NULL) {
        return NULL;
    }

    op = ngx_pcalloc(pool, sizeof(ngx_http_mastodon_op_t));
    if (op == NULL) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    op->pool = pool;
    op->log = log;
    op->owner_kind = kind;
    op->owner = owner;
    op->own_pool = 1;
    ngx_queue_init(&op->calls);
    ngx_queue_init(&op->queue);

    if (ngx_http_mastodon_ops_nalive++ == 0) {
        ngx_queue_init(&ngx_http_mastodon_ops_live);
    }

    ngx_queue_insert_tail(&ngx_http_mastodon_ops_live, &op->live);

    return op;
}


/*
 * A long-lived connection's operations, all ended when pool (the
 * request's of a WebSocket or an event stream, or the connection's) goes.
 */
ngx_http_mastodon_op_stream_t *
ngx_http_mastodon_op_stream_create(ngx_connection_t *c, ngx_pool_t *pool)
{
    ngx_pool_cleanup_t             *cln;
    ngx_http_mastodon_op_stream_t  *s;

    s = ngx_pcalloc(pool, sizeof(ngx_http_mastodon_op_stream_t));
    if (s == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_mastodon_op_stream_cleanup;
    cln->data = s;

    s->connection = c;
    ngx_queue_init(&s->ops);

    return s;
}


/* An operation of the stream's, for one event: ended by its owner. */
ngx_http_mastodon_op_t *
ngx_http_mastodon_op_stream_op(ngx_http_mastodon_op_stream_t *s)
{
    ngx_log_t               *log;
    ngx_http_mastodon_op_t  *op;

    op = ngx_http_mastodon_op_create(NGX_HTTP_MASTODON_OP_STREAM,
                                     s->connection, s->connection->log);
    if (op == NULL) {
        return NULL;
    }

    /*
     * It may outlive the connection (a thread task): a log of its own,
     * without the connection's context, which goes with the connection.
     */
    log = ngx_palloc(op->pool, sizeof(ngx_log_t));
    if (log == NULL) {
        ngx_http_mastodon_op_end(op);
        return NULL;
    }

    *log = *s->connection->log;
    log->handler = NULL;
    log->data = NULL;

    op->log = log;
    op->pool->log = log;

    ngx_queue_insert_tail(&s->ops, &op->queue);

    return op;
}


/* The connection goes: its operations under way are ended. */
static void
ngx_http_mastodon_op_stream_cleanup(void *data)
{
    ngx_http_mastodon_op_stream_t  *s = data;

    ngx_queue_t             *q;
    ngx_http_mastodon_op_t  *op;

    while (!ngx_queue_empty(&s->ops)) {
        q = ngx_queue_head(&s->ops);
        op = ngx_queue_data(q, ngx_http_mastodon_op_t, queue);

        /* nothing of the owner's is touched after this */
        ngx_queue_remove(q);
        ngx_queue_init(q);

        op->owner = NULL;
        op->free = NULL;
        op->data = NULL;

        ngx_http_mastodon_op_end(op);
    }
}


/* The request's operation, set up on first use. */
ngx_http_mastodon_op_t *
ngx_http_mastodon_request_op(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t       *cln;
    ngx_http_mastodon_op_t   *op;
    ngx_http_mastodon_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_ctx_t));
        if (ctx == NULL) {
            return NULL;
        }
        ngx_http_set_ctx(r, ctx, ngx_http_mastodon_module);
    }

    op = &ctx->op;

    if (op->pool) {
        return op;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_mastodon_op_request_cleanup;
    cln->data = op;

    op->pool = r->pool;
    op->log = r->connection->log;
    op->owner_kind = NGX_HTTP_MASTODON_OP_REQUEST;
    op->owner = r;
    ngx_queue_init(&op->calls);

    return op;
}


/* The request is going away: its backend calls are forgotten. */
static void
ngx_http_mastodon_op_request_cleanup(void *data)
{
    ngx_http_mastodon_op_t  *op = data;

    ngx_http_mastodon_op_cancel(op);
    op->ended = 1;
}


/*
 * A call without a cancel hook (a thread task) cannot be detached: it holds
 * the owner until it is done.  An operation with its own pool keeps it
 * (npending); a request is not freed (r->main->blocked, as nginx's own
 * thread tasks do), and with it its pool and the operation's cleanup.
 */
void
ngx_http_mastodon_op_call_add(ngx_http_mastodon_op_t *op,
    ngx_http_mastodon_op_call_t *call, ngx_http_mastodon_op_cancel_pt cancel)
{
    ngx_http_request_t  *r;

    call->cancel = cancel;
    ngx_queue_insert_tail(&op->calls, &call->queue);
    op->npending++;

    if (cancel == NULL && op->owner_kind == NGX_HTTP_MASTODON_OP_REQUEST) {
        r = op->owner;
        r->main->blocked++;
    }
}


/*
 * The call completed or was detached.  Called before its completion
 * handler runs, which may end the operation.
 */
void
ngx_http_mastodon_op_call_done(ngx_http_mastodon_op_t *op,
    ngx_http_mastodon_op_call_t *call)
{
    ngx_http_request_t  *r;

    ngx_queue_remove(&call->queue);
    op->npending--;

    if (call->cancel == NULL
        && op->owner_kind == NGX_HTTP_MASTODON_OP_REQUEST)
    {
        r = op->owner;
        r->main->blocked--;
    }

    if (op->ended && op->npending == 0 && op->own_pool) {
        ngx_http_mastodon_op_free(op);
    }
}


/*
 * Every pending call is detached, except those that cannot be stopped:
 * they stay pending until they complete, or until the worker exits (then
 * the thread pool has run every task to its end, and their completions
 * will never be delivered).
 */
void
ngx_http_mastodon_op_cancel(ngx_http_mastodon_op_t *op)
{
    ngx_queue_t                  *q, *next;
    ngx_http_mastodon_op_call_t  *call;

    op->cancelled = 1;

    for (q = ngx_queue_head(&op->calls);
         q != ngx_queue_sentinel(&op->calls);
         q = next)
    {
        next = ngx_queue_next(q);
        call = ngx_queue_data(q, ngx_http_mastodon_op_call_t, queue);

        if (call->cancel) {
            call->cancel(call);     /* calls ngx_http_mastodon_op_call_done() */

        } else if (ngx_http_mastodon_ops_exit_started) {
            ngx_http_mastodon_op_call_done(op, call);
        }
    }
}


/*
 * The owner is done with the operation: what is pending is cancelled, and
 * the pool goes now or when the last call that could not be stopped ends.
 * The operation must not be used after this.
 */
void
ngx_http_mastodon_op_end(ngx_http_mastodon_op_t *op)
{
    if (!op->own_pool) {
        return;                 /* a request's: its pool cleanup ends it */
    }

    op->ended = 1;          /* first: the cancel hooks may free it */

    op->npending++;         /* held while cancelling */
    ngx_http_mastodon_op_cancel(op);
    op->npending--;

    if (op->npending == 0) {
        ngx_http_mastodon_op_free(op);
    }
}


static void
ngx_http_mastodon_op_free(ngx_http_mastodon_op_t *op)
{
    if (op->free) {
        op->free(op);
    }

    /* out of its stream's list (a no-op if in none) */
    ngx_queue_remove(&op->queue);

    ngx_queue_remove(&op->live);
    ngx_http_mastodon_ops_nalive--;
    ngx_destroy_pool(op->pool);
}


/* Operations with their own pool still alive in this worker. */
ngx_uint_t
ngx_http_mastodon_ops_alive(void)
{
    return ngx_http_mastodon_ops_nalive;
}


/*
 * The worker exits: the thread pool module's exit (before ours) let every
 * queued task run to its end, whose completion will never be delivered;
 * the operations they hold may go now.  A stream's operations go too: its
 * connection, still open, will not close in this process.  Timers end
 * their own.
 */
void
ngx_http_mastodon_ops_exit(void)
{
    ngx_queue_t             *q, *next;
    ngx_http_mastodon_op_t  *op;

    ngx_http_mastodon_ops_exit_started = 1;

    if (ngx_http_mastodon_ops_nalive == 0) {
        return;
    }

    /* each operation frees only itself: the next one stays */
    for (q = ngx_queue_head(&ngx_http_mastodon_ops_live);
         q != ngx_queue_sentinel(&ngx_http_mastodon_ops_live);
         q = next)
    {
        next = ngx_queue_next(q);
        op = ngx_queue_data(q, ngx_http_mastodon_op_t, live);

        if (!op->ended && op->owner_kind == NGX_HTTP_MASTODON_OP_STREAM) {
            ngx_queue_remove(&op->queue);
            ngx_queue_init(&op->queue);
            op->free = NULL;
            op->ended = 1;
        }

        if (op->ended) {
            ngx_http_mastodon_op_end(op);       /* lets the tasks go */
        }
    }
}
