/*
 * The backends, on nginx's event loop: the PostgreSQL pool (_pg.c), Redis
 * (_redis.c), jobs for mastodon-worker (_queue.c) and the thread pool
 * (_thread.c); the operations their calls belong to (_op.c, _op.h),
 * throttled logging of their failures (_log_throttle.c), the timer-owned
 * and stream-owned test operations (_tick.c) and the test subscriptions
 * (_debug_subscribe.c).
 */

#ifndef _NGX_HTTP_MASTODON_BACKEND_H_INCLUDED_
#define _NGX_HTTP_MASTODON_BACKEND_H_INCLUDED_


#include "ngx_http_mastodon_core.h"


#define NGX_HTTP_MASTODON_PG_MAX_QUERIES 32


/* backend operations (the types: _op.h) */
ngx_http_mastodon_op_t *ngx_http_mastodon_request_op(ngx_http_request_t *r);


/*
 * Throttled logging (_log_throttle.c): during an outage the first failure
 * of an interval is written, the others counted; the count is written with
 * the next interval's first failure or by _end() when the outage is over.
 */
typedef struct {
    const char                    *what;        /* names the count line */
    ngx_msec_t                     start;       /* the interval's first */
    ngx_uint_t                     suppressed;  /* not written since */
    unsigned                       active:1;
} ngx_http_mastodon_log_throttle_t;

#define NGX_HTTP_MASTODON_LOG_INTERVAL   10000

#define ngx_http_mastodon_log_throttle(what)  { what, 0, 0, 0 }

void ngx_http_mastodon_log_throttled(ngx_http_mastodon_log_throttle_t *t,
    ngx_uint_t level, ngx_log_t *log, ngx_err_t err, const char *fmt, ...);
void ngx_http_mastodon_log_throttle_end(ngx_http_mastodon_log_throttle_t *t,
    ngx_log_t *log);


/* PostgreSQL */
typedef struct {
    const char                    *sql;
    int                            nparams;
    ngx_uint_t                     index;       /* assigned on first use */
    unsigned                       slow:1;      /* on the slow pool */
    unsigned                       unnamed:1;   /* planned each time */
} ngx_http_mastodon_pg_stmt_t;

#define ngx_http_mastodon_pg_stmt(sql, n)       { sql, n, 0, 0, 0 }
/* full-text search and the like: custom plans, mastodon_pg_slow_* */
#define ngx_http_mastodon_pg_slow_stmt(sql, n)  { sql, n, 0, 1, 0 }
/*
 * not prepared: planned for the sizes of its tables when it runs (a
 * connection's generic plan, made while a table was small, may scan it
 * whole once it has grown)
 */
#define ngx_http_mastodon_pg_unnamed_stmt(sql, n)  { sql, n, 0, 0, 1 }

typedef struct ngx_http_mastodon_pg_batch_s  ngx_http_mastodon_pg_batch_t;
typedef struct ngx_http_mastodon_pg_conn_s   ngx_http_mastodon_pg_conn_t;

typedef void (*ngx_http_mastodon_pg_done_pt)(
    ngx_http_mastodon_pg_batch_t *b);

typedef struct {
    ngx_http_mastodon_pg_stmt_t   *stmt;
    const char                   **values;      /* NUL-terminated text */
} ngx_http_mastodon_pg_query_t;

struct ngx_http_mastodon_pg_batch_s {
    ngx_http_request_t            *request;     /* NULL: not a request's */
    ngx_http_mastodon_op_t        *op;
    ngx_http_mastodon_pg_query_t   queries[NGX_HTTP_MASTODON_PG_MAX_QUERIES];
    PGresult                      *results[NGX_HTTP_MASTODON_PG_MAX_QUERIES];
    ngx_uint_t                     nqueries;
    ngx_int_t                      rc;          /* NGX_OK or NGX_ERROR */
    ngx_http_mastodon_pg_done_pt   handler;
    void                          *data;

    /* the pool's */
    ngx_http_mastodon_op_call_t    call;        /* in the operation */
    ngx_queue_t                    queue;
    ngx_event_t                    wait;
    ngx_http_mastodon_pg_conn_t   *conn;
    ngx_pool_cleanup_t            *cleanup;
    unsigned                       waiting:1;
    unsigned                       pending:1;   /* in the operation */
    unsigned                       notify_after:1; /* sql/0054 */
};

ngx_http_mastodon_pg_batch_t *ngx_http_mastodon_pg_batch(
    ngx_http_request_t *r, ngx_http_mastodon_pg_done_pt handler, void *data);
ngx_http_mastodon_pg_batch_t *ngx_http_mastodon_pg_op_batch(
    ngx_http_mastodon_op_t *op, ngx_http_mastodon_pg_done_pt handler,
    void *data);
ngx_int_t ngx_http_mastodon_pg_add(ngx_http_mastodon_pg_batch_t *b,
    ngx_http_mastodon_pg_stmt_t *stmt, const char **values);
ngx_int_t ngx_http_mastodon_pg_run(ngx_http_mastodon_pg_batch_t *b);
ngx_int_t ngx_http_mastodon_pg_query(ngx_http_request_t *r,
    ngx_http_mastodon_pg_stmt_t *stmt, const char **values,
    ngx_http_mastodon_pg_done_pt done, void *data);
PGresult *ngx_http_mastodon_pg_rows(ngx_http_mastodon_pg_batch_t *b,
    ngx_uint_t i);
ngx_uint_t ngx_http_mastodon_pg_ok(ngx_http_mastodon_pg_batch_t *b);
PGresult *ngx_http_mastodon_pg_slice(PGresult *res, int col,
    const char *key, int row);
int64_t ngx_http_mastodon_pg_int(PGresult *res, int row, int col);
ngx_uint_t ngx_http_mastodon_pg_bool(PGresult *res, int row, int col);
ngx_str_t ngx_http_mastodon_pg_str(PGresult *res, int row, int col);
const char *ngx_http_mastodon_pg_int64(ngx_http_request_t *r, int64_t n);
const char *ngx_http_mastodon_pg_pool_int64(ngx_pool_t *pool, int64_t n);
ngx_int_t ngx_http_mastodon_pg_query_id(ngx_http_request_t *r,
    ngx_http_mastodon_pg_stmt_t *stmt, int64_t id,
    ngx_http_mastodon_pg_done_pt done, void *data);
ngx_int_t ngx_http_mastodon_pg_query_ids(ngx_http_request_t *r,
    ngx_http_mastodon_pg_stmt_t *stmt, int64_t id1, int64_t id2,
    ngx_http_mastodon_pg_done_pt done, void *data);
ngx_int_t ngx_http_mastodon_pg_init_process(ngx_cycle_t *cycle,
    ngx_http_mastodon_main_conf_t *mcf);
void ngx_http_mastodon_pg_exit_process(ngx_cycle_t *cycle);


/* Redis */
typedef struct ngx_http_mastodon_redis_cmd_s  ngx_http_mastodon_redis_cmd_t;

typedef void (*ngx_http_mastodon_redis_done_pt)(ngx_http_request_t *r,
    redisReply *reply, void *data);
typedef void (*ngx_http_mastodon_redis_op_done_pt)(ngx_http_mastodon_op_t *op,
    redisReply *reply, void *data);

ngx_int_t ngx_http_mastodon_redis_command(ngx_http_request_t *r,
    ngx_http_mastodon_redis_done_pt handler, void *data, int argc,
    const char **argv, const size_t *argvlen);
ngx_int_t ngx_http_mastodon_redis_op_command(ngx_http_mastodon_op_t *op,
    ngx_http_mastodon_redis_op_done_pt handler, void *data, int argc,
    const char **argv, const size_t *argvlen);
ngx_int_t ngx_http_mastodon_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_mastodon_main_conf_t *mcf);
void ngx_http_mastodon_redis_exit_process(ngx_cycle_t *cycle);
char *ngx_http_mastodon_redis_conf(ngx_conf_t *cf,
    ngx_http_mastodon_main_conf_t *mcf);

/*
 * Pub/sub on the worker's pub/sub connection: a subscription belongs to an
 * operation (a stream's) and ends with it.  Redis hears SUBSCRIBE for a
 * channel's first subscriber in the worker and UNSUBSCRIBE after its last;
 * after a reconnect every channel is subscribed again.
 */
typedef struct ngx_http_mastodon_redis_sub_s  ngx_http_mastodon_redis_sub_t;

typedef enum {
    NGX_HTTP_MASTODON_REDIS_SUBSCRIBED = 0,  /* confirmed: messages come */
    NGX_HTTP_MASTODON_REDIS_MESSAGE,         /* message: valid in the call */
    NGX_HTTP_MASTODON_REDIS_DROPPED          /* lost until SUBSCRIBED again */
} ngx_http_mastodon_redis_event_e;

typedef void (*ngx_http_mastodon_redis_message_pt)(ngx_http_mastodon_op_t *op,
    ngx_http_mastodon_redis_event_e event, ngx_str_t *message, void *data);

ngx_http_mastodon_redis_sub_t *ngx_http_mastodon_redis_subscribe(
    ngx_http_mastodon_op_t *op, ngx_str_t *channel,
    ngx_http_mastodon_redis_message_pt handler, void *data);
ngx_uint_t ngx_http_mastodon_redis_subscribed(
    ngx_http_mastodon_redis_sub_t *sub);
void ngx_http_mastodon_redis_unsubscribe(ngx_http_mastodon_redis_sub_t *sub);


/*
 * Jobs for mastodon-worker: rows of the outbox (job_outbox), written in the
 * batch of the rows they concern; the worker relays them to Redis.
 *
 * _OUTBOX_SQL(rows) is the body of a data-modifying CTE, rows a SELECT of
 * (queue, type, args as json); ids in args are JSON strings.
 */
#define NGX_HTTP_MASTODON_OUTBOX_SQL(rows)                                    \
    "INSERT INTO job_outbox (queue, type, args)"                              \
    " SELECT job.q, job.t, job.a::text FROM (" rows ") job(q, t, a)"
/* a feed_merge / feed_unmerge row: {"account_id", "target_account_id"} */
#define NGX_HTTP_MASTODON_OUTBOX_FEED(type, account, target)                  \
    "SELECT 'default', '" type "', json_build_object('account_id',"           \
    " (" account ")::text, 'target_account_id', (" target ")::text)"
/* a status_forget row: the statuses' cached renderings go (NULLs left out) */
#define NGX_HTTP_MASTODON_OUTBOX_FORGET(ids)                                  \
    "SELECT 'default', 'status_forget', json_build_object('status_ids',"      \
    " array_to_json(array_remove(ARRAY[" ids "]::text[], NULL)))"
/*
 * An activitypub_relationship row (queue push) for each row of `rows`
 * (with id, uri and the two columns) whose `remote` account is remote:
 * what federation tells it (worker/job_ap_relationship.c): type follow,
 * undo_follow, accept, reject, block, undo_block.
 */
#define NGX_HTTP_MASTODON_OUTBOX_AP(type, rows, local, remote)                \
    "SELECT 'push', 'activitypub_relationship', json_build_object('type',"    \
    " '" type "', 'id', " rows ".id::text, 'account_id', " rows "." local     \
    "::text, 'target_account_id', " rows "." remote "::text, 'uri', "         \
    rows ".uri) FROM " rows " JOIN accounts apr ON apr.id = " rows "."        \
    remote " AND apr.domain IS NOT NULL"
/* the same for a favourite (rows: id, account_id, status_id) of a remote
 * author's status: type like, undo_like */
#define NGX_HTTP_MASTODON_OUTBOX_AP_STATUS(type, rows)                        \
    "SELECT 'push', 'activitypub_relationship', json_build_object('type',"    \
    " '" type "', 'id', " rows ".id::text, 'account_id', " rows               \
    ".account_id::text, 'status_id', " rows ".status_id::text) FROM " rows    \
    " JOIN statuses aps ON aps.id = " rows ".status_id JOIN accounts apr"     \
    " ON apr.id = aps.account_id AND apr.domain IS NOT NULL"

/* a job made in C: one more statement in the batch */
ngx_int_t ngx_http_mastodon_outbox_add(ngx_http_mastodon_pg_batch_t *b,
    const char *queue, const char *type, ngx_str_t *args);
/* after the commit: a rendering a job publishes (kind "status", "account") */
ngx_int_t ngx_http_mastodon_outbox_payload(ngx_http_request_t *r,
    const char *kind, int64_t id, ngx_str_t *json);


/*
 * Asking the worker and waiting for its answer (a key fetch, a resolve):
 * a job through the outbox whose args are {arg_name: arg}, then the Redis
 * string `key` the job SETs, polled every 100 ms for at most `wait`; an
 * answer still there (asked moments ago) needs no job.  done() is called
 * once: NGX_OK with a->answer, NGX_DECLINED when the bound passed first,
 * NGX_ERROR when PostgreSQL or Redis failed.  Never blocks.
 */
typedef struct ngx_http_mastodon_ask_s  ngx_http_mastodon_ask_t;

typedef void (*ngx_http_mastodon_ask_pt)(ngx_http_request_t *r,
    ngx_http_mastodon_ask_t *a, ngx_int_t rc);

struct ngx_http_mastodon_ask_s {
    const char                    *queue;
    const char                    *type;
    const char                    *arg_name;
    ngx_str_t                      arg;
    ngx_str_t                      key;         /* the answer's */
    ngx_msec_t                     wait;
    ngx_http_mastodon_ask_pt       done;
    void                          *data;
    ngx_str_t                      answer;

    ngx_http_request_t            *request;
    ngx_event_t                    poll;
    ngx_msec_t                     deadline;
    unsigned                       asked:1;
    unsigned                       cleanup:1;
};

/* NGX_DONE (done() follows) or NGX_ERROR */
ngx_int_t ngx_http_mastodon_ask(ngx_http_request_t *r,
    ngx_http_mastodon_ask_t *a);
/* prefix + the SHA-256 hex of subject: the answer keys' form */
ngx_int_t ngx_http_mastodon_ask_key(ngx_http_request_t *r,
    const char *prefix, ngx_str_t *subject, ngx_str_t *key);


/* thread pool */
/* runs in a pool thread: its own data and malloc only */
typedef void (*ngx_http_mastodon_thread_pt)(void *data, ngx_log_t *log);
/* back in the event loop; must end the request or go on asynchronously */
typedef void (*ngx_http_mastodon_thread_done_pt)(ngx_http_request_t *r,
    void *data);

/* the same for an operation that is no request's */
typedef void (*ngx_http_mastodon_thread_op_done_pt)(
    ngx_http_mastodon_op_t *op, void *data);

ngx_int_t ngx_http_mastodon_thread_run(ngx_http_request_t *r,
    ngx_http_mastodon_thread_pt work, ngx_http_mastodon_thread_done_pt done,
    void *data);
ngx_int_t ngx_http_mastodon_thread_op_run(ngx_http_mastodon_op_t *op,
    ngx_http_mastodon_thread_pt work, ngx_http_mastodon_thread_op_done_pt done,
    void *data);


/* mastodon_debug_subscribe: subscriptions driven from Redis (tests) */
void ngx_http_mastodon_debug_subscribe_init_process(ngx_cycle_t *cycle,
    ngx_http_mastodon_main_conf_t *mcf);
void ngx_http_mastodon_debug_subscribe_exit_process(ngx_cycle_t *cycle);


/* mastodon_debug_tick: the timer-owned test operation (_tick.c) */
char *ngx_http_mastodon_debug_tick(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
/* mastodon_debug_stream: stream-owned test operations (_tick.c) */
char *ngx_http_mastodon_debug_stream(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_http_mastodon_tick_init_process(ngx_cycle_t *cycle,
    ngx_http_mastodon_main_conf_t *mcf);
void ngx_http_mastodon_tick_exit_process(ngx_cycle_t *cycle);


#endif /* _NGX_HTTP_MASTODON_BACKEND_H_INCLUDED_ */
