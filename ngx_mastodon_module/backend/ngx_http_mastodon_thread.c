/*
 * CPU-heavy work (bcrypt, RSA key generation, digests) in an nginx thread
 * pool, so that it never stalls the event loop.  Every task belongs to a
 * backend operation (_op.c), a request's or another owner's.
 *
 * A task cannot be stopped once posted: it is a call of its operation
 * that cannot be detached (no cancel hook), and so it holds the owner
 * until it completes.  A request is not freed meanwhile (the operation
 * keeps r->main->blocked raised, as nginx's own thread tasks do in
 * ngx_http_copy_filter_module), so the task, in the request's pool, is
 * there when its completion comes; that completion resumes the request
 * through its write handler, which nginx replaces with its finalizer when
 * the request was terminated meanwhile.  An operation with its own pool
 * keeps it while the task runs; if the operation was cancelled meanwhile,
 * the completion only lets it go.
 *
 * The task function runs in another thread: it may only use its own data
 * (copied in beforehand) and malloc; no pools, no request, no events.
 */

#include <sys/resource.h>
#include <sys/syscall.h>

#include <openssl/crypto.h>

#include "ngx_http_mastodon_backend.h"


struct ngx_http_mastodon_thread_ctx_s {
    ngx_http_mastodon_op_call_t          call;      /* in the operation */
    ngx_http_mastodon_op_t              *op;
    ngx_http_mastodon_thread_pt          work;
    ngx_http_mastodon_thread_op_done_pt  done;
    ngx_http_mastodon_thread_done_pt     request_done;
    void                                *data;
    unsigned                             finished:1;
};


#if (NGX_THREADS)

static ngx_int_t ngx_http_mastodon_thread_post(ngx_http_mastodon_op_t *op,
    ngx_http_mastodon_thread_pt work, ngx_http_mastodon_thread_op_done_pt done,
    ngx_http_mastodon_thread_done_pt request_done, void *data);
static void ngx_http_mastodon_thread_handler(void *data, ngx_log_t *log);
static void ngx_http_mastodon_thread_nice(ngx_log_t *log);
static void ngx_http_mastodon_thread_event_handler(ngx_event_t *ev);
static void ngx_http_mastodon_thread_resume(ngx_http_request_t *r);


/*
 * A task of the request's operation.  NGX_OK: done(r, data) will be called
 * from the request's write handler, unless the request is terminated
 * first.  NGX_ERROR: the queue is full, the caller answers 503.
 */
ngx_int_t
ngx_http_mastodon_thread_run(ngx_http_request_t *r,
    ngx_http_mastodon_thread_pt work, ngx_http_mastodon_thread_done_pt done,
    void *data)
{
    ngx_http_mastodon_op_t  *op;

    op = ngx_http_mastodon_request_op(r);
    if (op == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_mastodon_thread_post(op, work, NULL, done, data);
}


/*
 * A task of any operation.  NGX_OK: done(op, data) will be called unless
 * the operation is cancelled first.  NGX_ERROR: the queue is full.
 */
ngx_int_t
ngx_http_mastodon_thread_op_run(ngx_http_mastodon_op_t *op,
    ngx_http_mastodon_thread_pt work, ngx_http_mastodon_thread_op_done_pt done,
    void *data)
{
    return ngx_http_mastodon_thread_post(op, work, done, NULL, data);
}


static ngx_int_t
ngx_http_mastodon_thread_post(ngx_http_mastodon_op_t *op,
    ngx_http_mastodon_thread_pt work, ngx_http_mastodon_thread_op_done_pt done,
    ngx_http_mastodon_thread_done_pt request_done, void *data)
{
    ngx_thread_task_t               *task;
    ngx_http_request_t              *r;
    ngx_http_mastodon_ctx_t         *ctx;
    ngx_http_mastodon_main_conf_t   *mcf;
    ngx_http_mastodon_thread_ctx_t  *tc;

    mcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                              ngx_http_mastodon_module);

    if (mcf->thread_pool == NULL) {
        return NGX_ERROR;
    }

    task = ngx_thread_task_alloc(op->pool,
                                 sizeof(ngx_http_mastodon_thread_ctx_t));
    if (task == NULL) {
        return NGX_ERROR;
    }

    tc = task->ctx;
    tc->op = op;
    tc->work = work;
    tc->done = done;
    tc->request_done = request_done;
    tc->data = data;

    task->handler = ngx_http_mastodon_thread_handler;
    task->event.handler = ngx_http_mastodon_thread_event_handler;
    task->event.data = task;
    task->event.log = op->log;

    if (ngx_thread_task_post(mcf->thread_pool, task) != NGX_OK) {
        return NGX_ERROR;
    }

    /* no cancel hook: the task holds the owner until it completes */
    ngx_http_mastodon_op_call_add(op, &tc->call, NULL);

    if (op->owner_kind == NGX_HTTP_MASTODON_OP_REQUEST) {
        r = op->owner;
        ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);
        ctx->thread = tc;
        r->write_event_handler = ngx_http_mastodon_thread_resume;
    }

    return NGX_OK;
}


static void
ngx_http_mastodon_thread_handler(void *data, ngx_log_t *log)
{
    ngx_http_mastodon_thread_ctx_t  *tc = data;

    ngx_http_mastodon_thread_nice(log);

    tc->work(tc->data, log);

    /*
     * A task may have used OpenSSL (SHA256, RAND_bytes): its state for this
     * thread is released now, not by the thread's exit.  At a worker's exit
     * the pool's threads end while exit() runs OpenSSL's cleanup, and the
     * thread's destructor then read freed locks (a SEGV seen under ASan
     * right after a reload).
     */
    OPENSSL_thread_stop();
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
    ngx_uint_t                       cancelled;
    ngx_connection_t                *c;
    ngx_thread_task_t               *task;
    ngx_http_request_t              *r;
    ngx_http_mastodon_op_t          *op;
    ngx_http_mastodon_thread_ctx_t  *tc;

    task = ev->data;
    tc = task->ctx;
    op = tc->op;

    if (op->owner_kind == NGX_HTTP_MASTODON_OP_REQUEST) {
        /* the request is still there: the task kept it (blocked) */
        r = op->owner;
        c = r->connection;

        ngx_http_mastodon_op_call_done(op, &tc->call);
        tc->finished = 1;

        /* ours, or nginx's finalizer if the request was terminated */
        r->write_event_handler(r);

        ngx_http_run_posted_requests(c);
        return;
    }

    cancelled = op->cancelled;

    /* if cancelled, the operation may go now, the task with it */
    ngx_http_mastodon_op_call_done(op, &tc->call);

    if (!cancelled) {
        tc->done(op, tc->data);
    }
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

    if (tc->request_done) {
        tc->request_done(r, tc->data);

    } else {
        tc->done(tc->op, tc->data);
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
