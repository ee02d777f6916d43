/*
 * CPU-heavy work (bcrypt, RSA key generation) in an nginx thread pool, so a
 * sign-in never stalls the event loop.  The pattern is nginx's own
 * (ngx_http_copy_filter_module): r->main->blocked keeps the request alive
 * while the task runs, even if the client goes away; the completion event
 * resumes the request through its write handler, which nginx replaces with
 * its finalizer when the request was terminated meanwhile.
 *
 * An operation that is no request's (_op.c) has a task of its own: pending
 * in the operation, which cannot stop it; if the operation was cancelled
 * meanwhile, the completion only lets it go.
 *
 * The task function runs in another thread: it may only use its own data
 * (copied in beforehand) and malloc; no pools, no request, no events.
 */

#include <sys/resource.h>
#include <sys/syscall.h>

#include "ngx_http_mastodon_backend.h"


struct ngx_http_mastodon_thread_ctx_s {
    ngx_http_mastodon_thread_pt        work;
    ngx_http_mastodon_thread_done_pt   done;
    void                              *data;
    ngx_http_request_t                *request;
    ngx_uint_t                         finished;
};


typedef struct {
    ngx_http_mastodon_op_call_t          call;      /* the first field */
    ngx_http_mastodon_op_t              *op;
    ngx_http_mastodon_thread_pt          work;
    ngx_http_mastodon_thread_op_done_pt  done;
    void                                *data;
} ngx_http_mastodon_thread_op_ctx_t;


static void ngx_http_mastodon_thread_handler(void *data, ngx_log_t *log);
static void ngx_http_mastodon_thread_nice(ngx_log_t *log);
static void ngx_http_mastodon_thread_op_handler(void *data, ngx_log_t *log);
static void ngx_http_mastodon_thread_op_event_handler(ngx_event_t *ev);
static void ngx_http_mastodon_thread_op_cancel(
    ngx_http_mastodon_op_call_t *call);
static void ngx_http_mastodon_thread_event_handler(ngx_event_t *ev);
static void ngx_http_mastodon_thread_resume(ngx_http_request_t *r);


#if (NGX_THREADS)

ngx_int_t
ngx_http_mastodon_thread_run(ngx_http_request_t *r,
    ngx_http_mastodon_thread_pt work, ngx_http_mastodon_thread_done_pt done,
    void *data)
{
    ngx_thread_task_t               *task;
    ngx_http_mastodon_ctx_t         *ctx;
    ngx_http_mastodon_main_conf_t   *mcf;
    ngx_http_mastodon_thread_ctx_t  *tc;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    task = ngx_thread_task_alloc(r->pool,
                                 sizeof(ngx_http_mastodon_thread_ctx_t));
    if (task == NULL) {
        return NGX_ERROR;
    }

    tc = task->ctx;
    tc->work = work;
    tc->done = done;
    tc->data = data;
    tc->request = r;

    task->handler = ngx_http_mastodon_thread_handler;
    task->event.handler = ngx_http_mastodon_thread_event_handler;
    task->event.data = task;

    ctx->thread = tc;

    if (ngx_thread_task_post(mcf->thread_pool, task) != NGX_OK) {
        /* the queue is full: the caller answers 503 */
        ctx->thread = NULL;
        return NGX_ERROR;
    }

    r->main->blocked++;
    r->write_event_handler = ngx_http_mastodon_thread_resume;

    return NGX_OK;
}


static void
ngx_http_mastodon_thread_handler(void *data, ngx_log_t *log)
{
    ngx_http_mastodon_thread_ctx_t  *tc = data;

    ngx_http_mastodon_thread_nice(log);

    tc->work(tc->data, log);
}


static void
ngx_http_mastodon_thread_nice(ngx_log_t *log)
{
    static __thread ngx_uint_t  niced;

    /*
     * The pool threads share the cores with the event loop: at the lowest
     * priority, a burst of bcrypt never delays the requests the loop serves.
     * Linux's nice is per thread.
     */
    if (!niced) {
        niced = 1;
        if (setpriority(PRIO_PROCESS, (id_t) syscall(SYS_gettid), 19) == -1) {
            ngx_log_error(NGX_LOG_WARN, log, ngx_errno,
                          "mastodon: setpriority() for a pool thread failed");
        }
    }
}


static void
ngx_http_mastodon_thread_event_handler(ngx_event_t *ev)
{
    ngx_connection_t                *c;
    ngx_thread_task_t               *task;
    ngx_http_request_t              *r;
    ngx_http_mastodon_thread_ctx_t  *tc;

    task = ev->data;
    tc = task->ctx;
    r = tc->request;
    c = r->connection;

    r->main->blocked--;
    tc->finished = 1;

    /* ours, or nginx's finalizer if the request was terminated meanwhile */
    r->write_event_handler(r);

    ngx_http_run_posted_requests(c);
}


static void
ngx_http_mastodon_thread_resume(ngx_http_request_t *r)
{
    ngx_http_mastodon_ctx_t         *ctx;
    ngx_http_mastodon_thread_ctx_t  *tc;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);
    tc = ctx->thread;

    if (tc == NULL || !tc->finished) {
        return;                 /* a stray write event before completion */
    }

    ctx->thread = NULL;
    r->write_event_handler = ngx_http_request_empty_handler;

    tc->done(r, tc->data);
}


/*
 * A task of an operation that is no request's.  NGX_OK: done(op, data)
 * will be called unless the operation is cancelled first.  NGX_ERROR: the
 * queue is full.
 */
ngx_int_t
ngx_http_mastodon_thread_op_run(ngx_http_mastodon_op_t *op,
    ngx_http_mastodon_thread_pt work, ngx_http_mastodon_thread_op_done_pt done,
    void *data)
{
    ngx_thread_task_t                  *task;
    ngx_http_mastodon_main_conf_t      *mcf;
    ngx_http_mastodon_thread_op_ctx_t  *tc;

    mcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                              ngx_http_mastodon_module);

    if (mcf->thread_pool == NULL) {
        return NGX_ERROR;
    }

    task = ngx_thread_task_alloc(op->pool,
                                 sizeof(ngx_http_mastodon_thread_op_ctx_t));
    if (task == NULL) {
        return NGX_ERROR;
    }

    tc = task->ctx;
    tc->op = op;
    tc->work = work;
    tc->done = done;
    tc->data = data;

    task->handler = ngx_http_mastodon_thread_op_handler;
    task->event.handler = ngx_http_mastodon_thread_op_event_handler;
    task->event.data = task;
    task->event.log = op->log;

    if (ngx_thread_task_post(mcf->thread_pool, task) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_mastodon_op_call_add(op, &tc->call,
                                  ngx_http_mastodon_thread_op_cancel);

    return NGX_OK;
}


static void
ngx_http_mastodon_thread_op_handler(void *data, ngx_log_t *log)
{
    ngx_http_mastodon_thread_op_ctx_t  *tc = data;

    ngx_http_mastodon_thread_nice(log);

    tc->work(tc->data, log);
}


static void
ngx_http_mastodon_thread_op_event_handler(ngx_event_t *ev)
{
    ngx_thread_task_t                  *task = ev->data;
    ngx_http_mastodon_op_t             *op;
    ngx_http_mastodon_thread_op_ctx_t  *tc;

    tc = task->ctx;
    op = tc->op;

    if (op->cancelled) {
        /* may free the operation, the task with it */
        ngx_http_mastodon_op_call_done(op, &tc->call);
        return;
    }

    ngx_http_mastodon_op_call_done(op, &tc->call);

    tc->done(op, tc->data);
}


/*
 * A running task cannot be stopped: it stays pending and keeps the
 * operation (whose pool holds it) until it completes.  Only at exit, when
 * the thread pool has run every task to its end, does it let go.
 */
static void
ngx_http_mastodon_thread_op_cancel(ngx_http_mastodon_op_call_t *call)
{
    ngx_http_mastodon_thread_op_ctx_t  *tc;

    tc = (ngx_http_mastodon_thread_op_ctx_t *) call;

    if (ngx_http_mastodon_ops_exiting()) {
        ngx_http_mastodon_op_call_done(tc->op, &tc->call);
    }
}

#else

ngx_int_t
ngx_http_mastodon_thread_run(ngx_http_request_t *r,
    ngx_http_mastodon_thread_pt work, ngx_http_mastodon_thread_done_pt done,
    void *data)
{
    return NGX_ERROR;
}


ngx_int_t
ngx_http_mastodon_thread_op_run(ngx_http_mastodon_op_t *op,
    ngx_http_mastodon_thread_pt work, ngx_http_mastodon_thread_op_done_pt done,
    void *data)
{
    return NGX_ERROR;
}

#endif
