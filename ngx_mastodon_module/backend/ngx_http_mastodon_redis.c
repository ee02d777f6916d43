/*
 * Redis from inside nginx: hiredis' async API on nginx's event loop.
 *
 * One command connection per worker; hiredis pipelines the commands of
 * concurrent requests on it and answers them in order.  hiredis 0.14.1 has
 * no timeouts of its own, so each command carries an nginx timer; a command
 * that times out means the connection is stuck, and it is dropped (hiredis
 * then fails every pending command with a NULL reply).
 *
 * The socket is registered level-triggered because hiredis reads at most
 * 16 KB per call.  hiredis owns the descriptor; our ngx_connection_t is a
 * wrapper, released in the adapter's cleanup hook, never closed.
 *
 * A command owns heap memory (not the request pool): hiredis may answer
 * after the request is gone.  The request's cleanup only cuts the link.
 */

#include "ngx_http_mastodon_backend.h"


#define NGX_HTTP_MASTODON_REDIS_BACKOFF_MIN  100
#define NGX_HTTP_MASTODON_REDIS_BACKOFF_MAX  1000


typedef enum {
    NGX_HTTP_MASTODON_REDIS_DISCONNECTED = 0,
    NGX_HTTP_MASTODON_REDIS_CONNECTING,
    NGX_HTTP_MASTODON_REDIS_CONNECTED
} ngx_http_mastodon_redis_state_e;


/* One per hiredis context: its nginx wrapper, freed with the context. */
typedef struct {
    redisAsyncContext                 *ac;
    ngx_connection_t                  *connection;
} ngx_http_mastodon_redis_link_t;


typedef struct {
    ngx_http_mastodon_main_conf_t     *conf;
    redisAsyncContext                 *ac;         /* the current one */
    ngx_http_mastodon_redis_state_e    state;
    ngx_event_t                        connect_timer;
    ngx_msec_t                         backoff;
    ngx_msec_t                         retry_at;
    ngx_uint_t                         down;
    ngx_log_t                         *log;
} ngx_http_mastodon_redis_t;


struct ngx_http_mastodon_redis_cmd_s {
    ngx_http_request_t                *request;    /* NULL once answered */
    ngx_http_mastodon_redis_done_pt    handler;
    void                              *data;
    ngx_event_t                        timer;
    ngx_pool_cleanup_t                *cleanup;
};


static ngx_http_mastodon_redis_t  ngx_http_mastodon_redis;


static ngx_int_t ngx_http_mastodon_redis_connect(void);
static void ngx_http_mastodon_redis_connect_timeout(ngx_event_t *ev);
static void ngx_http_mastodon_redis_on_connect(const redisAsyncContext *ac,
    int status);
static void ngx_http_mastodon_redis_on_disconnect(const redisAsyncContext *ac,
    int status);
static void ngx_http_mastodon_redis_failed(const char *what,
    const char *why);
static void ngx_http_mastodon_redis_drop(const char *why);
static void ngx_http_mastodon_redis_reply(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_http_mastodon_redis_answer(ngx_http_mastodon_redis_cmd_t *cmd,
    redisReply *reply);
static void ngx_http_mastodon_redis_timeout(ngx_event_t *ev);
static void ngx_http_mastodon_redis_cmd_cleanup(void *data);

static void ngx_http_mastodon_redis_read_handler(ngx_event_t *ev);
static void ngx_http_mastodon_redis_write_handler(ngx_event_t *ev);
static void ngx_http_mastodon_redis_add_read(void *data);
static void ngx_http_mastodon_redis_del_read(void *data);
static void ngx_http_mastodon_redis_add_write(void *data);
static void ngx_http_mastodon_redis_del_write(void *data);
static void ngx_http_mastodon_redis_cleanup(void *data);


ngx_int_t
ngx_http_mastodon_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_mastodon_main_conf_t *mcf)
{
    ngx_http_mastodon_redis_t  *rd = &ngx_http_mastodon_redis;

    ngx_memzero(rd, sizeof(ngx_http_mastodon_redis_t));

    rd->conf = mcf;
    rd->log = cycle->log;

    rd->connect_timer.handler = ngx_http_mastodon_redis_connect_timeout;
    rd->connect_timer.data = rd;
    rd->connect_timer.log = cycle->log;
    rd->connect_timer.cancelable = 1;       /* never delays a reload */

    /* connect early so the first request does not pay for it */
    (void) ngx_http_mastodon_redis_connect();

    return NGX_OK;
}


void
ngx_http_mastodon_redis_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_mastodon_redis_drop(NULL);
}


/*
 * Sends a command.  NGX_OK: handler(r, reply, data) will be called once,
 * reply NULL on failure or timeout; handler NULL: nobody waits for the
 * answer (a cache write, fire and forget).  NGX_ERROR: Redis is unavailable
 * right now; the handler will not be called and the caller answers 503.
 */
ngx_int_t
ngx_http_mastodon_redis_command(ngx_http_request_t *r,
    ngx_http_mastodon_redis_done_pt handler, void *data, int argc,
    const char **argv, const size_t *argvlen)
{
    ngx_pool_cleanup_t             *cln;
    ngx_http_mastodon_redis_t      *rd = &ngx_http_mastodon_redis;
    ngx_http_mastodon_redis_cmd_t  *cmd;

    if (rd->state == NGX_HTTP_MASTODON_REDIS_DISCONNECTED) {
        if ((ngx_msec_int_t) (ngx_current_msec - rd->retry_at) < 0
            || ngx_http_mastodon_redis_connect() != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "mastodon: Redis is unavailable");
            return NGX_ERROR;
        }
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cmd = ngx_calloc(sizeof(ngx_http_mastodon_redis_cmd_t), r->connection->log);
    if (cmd == NULL) {
        return NGX_ERROR;
    }

    cmd->request = r;
    cmd->handler = handler;
    cmd->data = data;
    cmd->cleanup = cln;
    cmd->timer.handler = ngx_http_mastodon_redis_timeout;
    cmd->timer.data = cmd;
    cmd->timer.log = r->connection->log;

    if (redisAsyncCommandArgv(rd->ac, ngx_http_mastodon_redis_reply, cmd,
                              argc, argv, argvlen)
        != REDIS_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mastodon: Redis command failed: %s",
                      rd->ac->errstr[0] ? rd->ac->errstr : "disconnecting");
        ngx_free(cmd);
        return NGX_ERROR;
    }

    cln->handler = ngx_http_mastodon_redis_cmd_cleanup;
    cln->data = cmd;

    ngx_add_timer(&cmd->timer, rd->conf->redis_timeout);

    return NGX_OK;
}


static void
ngx_http_mastodon_redis_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    ngx_http_mastodon_redis_cmd_t  *cmd = privdata;

    if (cmd->timer.timer_set) {
        ngx_del_timer(&cmd->timer);
    }

    ngx_http_mastodon_redis_answer(cmd, reply);

    ngx_free(cmd);
}


/* Calls the command's handler once, unless its request is gone. */
static void
ngx_http_mastodon_redis_answer(ngx_http_mastodon_redis_cmd_t *cmd,
    redisReply *reply)
{
    ngx_http_request_t  *r;

    r = cmd->request;

    if (r) {
        cmd->request = NULL;
        cmd->cleanup->handler = NULL;

        if (cmd->handler) {
            cmd->handler(r, reply, cmd->data);
        }
    }
}


static void
ngx_http_mastodon_redis_timeout(ngx_event_t *ev)
{
    ngx_http_mastodon_redis_cmd_t  *cmd = ev->data;

    ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                  "mastodon: Redis command timed out");

    ngx_http_mastodon_redis_answer(cmd, NULL);

    /* replies come in order: the ones behind this one are stuck too */
    ngx_http_mastodon_redis_drop("command timed out");
}


static void
ngx_http_mastodon_redis_cmd_cleanup(void *data)
{
    ngx_http_mastodon_redis_cmd_t  *cmd = data;

    /* the request is gone; hiredis still holds cmd and frees it later */
    cmd->request = NULL;

    if (cmd->timer.timer_set) {
        ngx_del_timer(&cmd->timer);
    }
}


static ngx_int_t
ngx_http_mastodon_redis_connect(void)
{
    ngx_connection_t                *c;
    redisAsyncContext               *ac;
    ngx_http_mastodon_redis_t       *rd = &ngx_http_mastodon_redis;
    ngx_http_mastodon_redis_link_t  *link;

    /* numeric addresses only (checked at configuration time): no DNS */
    if (rd->conf->redis_unix.len) {
        ac = redisAsyncConnectUnix((char *) rd->conf->redis_unix.data);
    } else {
        ac = redisAsyncConnect((char *) rd->conf->redis_host.data,
                               (int) rd->conf->redis_port);
    }

    if (ac == NULL) {
        ngx_http_mastodon_redis_failed("connect", "out of memory");
        return NGX_ERROR;
    }

    if (ac->err) {
        ngx_http_mastodon_redis_failed("connect", ac->errstr);
        redisAsyncFree(ac);
        return NGX_ERROR;
    }

    link = ngx_alloc(sizeof(ngx_http_mastodon_redis_link_t), rd->log);
    c = ngx_get_connection(ac->c.fd, rd->log);

    if (link == NULL || c == NULL) {
        if (c) {
            ngx_free_connection(c);
        }
        if (link) {
            ngx_free(link);
        }
        redisAsyncFree(ac);
        return NGX_ERROR;
    }

    link->ac = ac;
    link->connection = c;

    c->data = link;
    c->read->handler = ngx_http_mastodon_redis_read_handler;
    c->write->handler = ngx_http_mastodon_redis_write_handler;
    c->read->log = c->log;
    c->write->log = c->log;
    c->log->action = "talking to Redis";

    rd->ac = ac;
    rd->state = NGX_HTTP_MASTODON_REDIS_CONNECTING;

    /* the adapter first: SetConnectCallback already asks for write events */
    ac->ev.data = link;
    ac->ev.addRead = ngx_http_mastodon_redis_add_read;
    ac->ev.delRead = ngx_http_mastodon_redis_del_read;
    ac->ev.addWrite = ngx_http_mastodon_redis_add_write;
    ac->ev.delWrite = ngx_http_mastodon_redis_del_write;
    ac->ev.cleanup = ngx_http_mastodon_redis_cleanup;

    redisAsyncSetConnectCallback(ac, ngx_http_mastodon_redis_on_connect);
    redisAsyncSetDisconnectCallback(ac, ngx_http_mastodon_redis_on_disconnect);

    ngx_add_timer(&rd->connect_timer, rd->conf->redis_connect_timeout);

    return NGX_OK;
}


static void
ngx_http_mastodon_redis_connect_timeout(ngx_event_t *ev)
{
    ngx_http_mastodon_redis_failed("connect", "timed out");
    ngx_http_mastodon_redis_drop(NULL);
}


static void
ngx_http_mastodon_redis_on_connect(const redisAsyncContext *ac, int status)
{
    ngx_http_mastodon_redis_t  *rd = &ngx_http_mastodon_redis;

    if (ac != rd->ac) {
        return;
    }

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    if (status != REDIS_OK) {
        /* hiredis frees the context after this; onDisconnect won't come */
        rd->ac = NULL;
        rd->state = NGX_HTTP_MASTODON_REDIS_DISCONNECTED;
        ngx_http_mastodon_redis_failed("connect", ac->errstr);
        return;
    }

    rd->state = NGX_HTTP_MASTODON_REDIS_CONNECTED;
    rd->backoff = 0;

    if (rd->down) {
        ngx_log_error(NGX_LOG_NOTICE, rd->log, 0, "mastodon: Redis is back");
        rd->down = 0;
    }
}


static void
ngx_http_mastodon_redis_on_disconnect(const redisAsyncContext *ac, int status)
{
    ngx_http_mastodon_redis_t  *rd = &ngx_http_mastodon_redis;

    if (ac != rd->ac) {
        return;
    }

    rd->ac = NULL;
    rd->state = NGX_HTTP_MASTODON_REDIS_DISCONNECTED;

    if (status != REDIS_OK) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "mastodon: Redis connection lost: %s", ac->errstr);
        rd->down = 1;
    }

    /* the next command reconnects at once */
    rd->retry_at = ngx_current_msec;
}


static void
ngx_http_mastodon_redis_failed(const char *what, const char *why)
{
    ngx_uint_t                  level;
    ngx_http_mastodon_redis_t  *rd = &ngx_http_mastodon_redis;

    level = rd->down ? NGX_LOG_INFO : NGX_LOG_ERR;

    /* once per outage at error level; the retries after it at info */
    ngx_log_error(level, rd->log, 0,
                  "mastodon: Redis %s failed: %s", what, why);

    rd->down = 1;
    rd->backoff = rd->backoff ? ngx_min(2 * rd->backoff,
                                        NGX_HTTP_MASTODON_REDIS_BACKOFF_MAX)
                              : NGX_HTTP_MASTODON_REDIS_BACKOFF_MIN;
    rd->retry_at = ngx_current_msec + rd->backoff;
}


/* Frees the context; hiredis answers every pending command with NULL. */
static void
ngx_http_mastodon_redis_drop(const char *why)
{
    redisAsyncContext          *ac;
    ngx_http_mastodon_redis_t  *rd = &ngx_http_mastodon_redis;

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    ac = rd->ac;
    if (ac == NULL) {
        return;
    }

    if (why) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "mastodon: dropping the Redis connection: %s", why);
        rd->down = 1;
    }

    ac->onDisconnect = NULL;
    ac->onConnect = NULL;
    rd->ac = NULL;
    rd->state = NGX_HTTP_MASTODON_REDIS_DISCONNECTED;

    redisAsyncFree(ac);
}


/* The adapter: hiredis asks for events through these hooks. */

static void
ngx_http_mastodon_redis_read_handler(ngx_event_t *ev)
{
    ngx_connection_t                *c = ev->data;
    ngx_http_mastodon_redis_link_t  *link = c->data;

    /* may free the context, the link and c: touch nothing after */
    redisAsyncHandleRead(link->ac);
}


static void
ngx_http_mastodon_redis_write_handler(ngx_event_t *ev)
{
    ngx_connection_t                *c = ev->data;
    ngx_http_mastodon_redis_link_t  *link = c->data;

    redisAsyncHandleWrite(link->ac);
}


static void
ngx_http_mastodon_redis_event(ngx_event_t *ev, ngx_int_t event, ngx_uint_t on)
{
    ngx_int_t  rc;

    rc = NGX_OK;

    /* level-triggered, like the PostgreSQL sockets */
    if (on && !ev->active) {
        rc = ngx_add_event(ev, event, NGX_LEVEL_EVENT);
    } else if (!on && ev->active) {
        rc = ngx_del_event(ev, event, 0);
    }

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, ev->log, 0,
                      "mastodon: Redis event registration failed");
    }
}


static void
ngx_http_mastodon_redis_add_read(void *data)
{
    ngx_http_mastodon_redis_link_t *link = data;

    ngx_http_mastodon_redis_event(link->connection->read, NGX_READ_EVENT, 1);
}


static void
ngx_http_mastodon_redis_del_read(void *data)
{
    ngx_http_mastodon_redis_link_t *link = data;

    ngx_http_mastodon_redis_event(link->connection->read, NGX_READ_EVENT, 0);
}


static void
ngx_http_mastodon_redis_add_write(void *data)
{
    ngx_http_mastodon_redis_link_t *link = data;

    ngx_http_mastodon_redis_event(link->connection->write, NGX_WRITE_EVENT, 1);
}


static void
ngx_http_mastodon_redis_del_write(void *data)
{
    ngx_http_mastodon_redis_link_t *link = data;

    ngx_http_mastodon_redis_event(link->connection->write, NGX_WRITE_EVENT, 0);
}


/* hiredis is done with the context and will close the descriptor itself. */
static void
ngx_http_mastodon_redis_cleanup(void *data)
{
    ngx_connection_t                *c;
    ngx_http_mastodon_redis_link_t  *link = data;

    c = link->connection;

    /* hiredis closes the descriptor right after: it leaves epoll by itself */
    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;

    link->ac->ev.data = NULL;
    ngx_free(link);
}
