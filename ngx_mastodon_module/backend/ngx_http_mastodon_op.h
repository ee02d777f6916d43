/*
 * A backend operation (_op.c): what PostgreSQL batches, Redis commands,
 * thread tasks and JSON builders belong to.  Its own header because the
 * request context (core/) holds a request's operation; it needs nginx's
 * core types only.
 */

#ifndef _NGX_HTTP_MASTODON_OP_H_INCLUDED_
#define _NGX_HTTP_MASTODON_OP_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


typedef struct ngx_http_mastodon_op_s         ngx_http_mastodon_op_t;
typedef struct ngx_http_mastodon_op_call_s    ngx_http_mastodon_op_call_t;
typedef struct ngx_http_mastodon_op_stream_s  ngx_http_mastodon_op_stream_t;

typedef enum {
    NGX_HTTP_MASTODON_OP_REQUEST = 0,   /* owner: ngx_http_request_t */
    NGX_HTTP_MASTODON_OP_STREAM,        /* owner: the stream's connection,
                                           NULL once it closed */
    NGX_HTTP_MASTODON_OP_TIMER          /* owner: the timer's ngx_event_t */
} ngx_http_mastodon_op_owner_e;

/* detaches a pending call: its completion will not be delivered */
typedef void (*ngx_http_mastodon_op_cancel_pt)(
    ngx_http_mastodon_op_call_t *call);
/* the operation goes: ended, nothing pending; its pool is destroyed next */
typedef void (*ngx_http_mastodon_op_free_pt)(ngx_http_mastodon_op_t *op);

struct ngx_http_mastodon_op_call_s {
    ngx_queue_t                        queue;
    ngx_http_mastodon_op_cancel_pt     cancel;     /* NULL: cannot detach;
                                                      holds the owner */
};

struct ngx_http_mastodon_op_s {
    ngx_pool_t                        *pool;
    ngx_log_t                         *log;
    ngx_http_mastodon_op_owner_e       owner_kind;
    void                              *owner;
    ngx_queue_t                        calls;       /* pending backend calls */
    ngx_uint_t                         npending;
    ngx_http_mastodon_op_free_pt       free;        /* NULL: nobody asks */
    void                              *data;        /* the owner's */
    ngx_queue_t                        queue;       /* in its stream's */
    ngx_queue_t                        live;        /* own pool: alive */
    unsigned                           cancelled:1;
    unsigned                           ended:1;
    unsigned                           own_pool:1;
};

/*
 * The operations of a long-lived connection (a WebSocket, an event
 * stream): one per event, each with its own pool and a copy of the
 * connection's log, freed when it ends, so that a stream that lives for
 * hours does not grow its connection's pool.  When the connection goes
 * (the pool given to _stream_create() is destroyed), every operation
 * still under way is ended: its calls are cancelled, its free hook is not
 * called, and what cannot be stopped (a thread task) keeps it until done.
 */
struct ngx_http_mastodon_op_stream_s {
    ngx_connection_t                  *connection;
    ngx_queue_t                        ops;         /* under way */
};


ngx_http_mastodon_op_t *ngx_http_mastodon_op_create(
    ngx_http_mastodon_op_owner_e kind, void *owner, ngx_log_t *log);
void ngx_http_mastodon_op_call_add(ngx_http_mastodon_op_t *op,
    ngx_http_mastodon_op_call_t *call, ngx_http_mastodon_op_cancel_pt cancel);
void ngx_http_mastodon_op_call_done(ngx_http_mastodon_op_t *op,
    ngx_http_mastodon_op_call_t *call);
void ngx_http_mastodon_op_cancel(ngx_http_mastodon_op_t *op);
void ngx_http_mastodon_op_end(ngx_http_mastodon_op_t *op);
ngx_http_mastodon_op_stream_t *ngx_http_mastodon_op_stream_create(
    ngx_connection_t *c, ngx_pool_t *pool);
ngx_http_mastodon_op_t *ngx_http_mastodon_op_stream_op(
    ngx_http_mastodon_op_stream_t *s);
ngx_uint_t ngx_http_mastodon_ops_alive(void);
void ngx_http_mastodon_ops_exit(void);


#endif /* _NGX_HTTP_MASTODON_OP_H_INCLUDED_ */
