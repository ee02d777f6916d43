/*
 * Redis from inside nginx: hiredis' async API on nginx's event loop.
 *
 * Two connections per worker: one for commands, where hiredis pipelines
 * the commands of concurrent operations and answers them in order, and one
 * for pub/sub (a RESP2 connection that subscribed can run nothing else),
 * subscribed to the worker's own channel; streaming subscribes there.  Each
 * connection says who it is (CLIENT SETNAME mastodon:cmd:<pid>,
 * mastodon:pubsub:<pid>) after AUTH and SELECT, and is ready only once
 * Redis answered that: a Redis that accepts connections but does not
 * answer never looks alive.
 *
 * hiredis 0.14.1 has no timeouts of its own: each command carries an nginx
 * timer.  A command that times out fails alone: its caller gets the failure
 * at once, its reply is discarded when it comes, and the connection stays.
 * Whether the connection itself is hung is for a PING to tell (sent then,
 * and every few seconds anyway); while it is awaited new commands fail at
 * once, and if it goes unanswered the connection is dropped: a hung Redis
 * costs one request the command timeout, and the others nothing.  The PING
 * is a PUBLISH to the worker's channel, so the pub/sub connection is
 * checked by the same message coming back to it.
 *
 * Scripts are sent by EVALSHA; a caller's EVAL is rewritten (the SHA1 of
 * each script is computed once per worker) except the first on each
 * command connection, which loads the script in order; a NOSCRIPT answer
 * (SCRIPT FLUSH) sends the script itself once.
 *
 * The sockets are registered level-triggered because hiredis reads at most
 * 16 KB per call.  hiredis owns the descriptors; our ngx_connection_t is a
 * wrapper, released in the adapter's cleanup hook, never closed.
 *
 * A command owns heap memory, not its operation's pool: hiredis may answer
 * after the operation is gone.  Cancelling only cuts the link.
 */

#include <openssl/sha.h>

#include "ngx_http_mastodon_backend.h"


#define NGX_HTTP_MASTODON_REDIS_BACKOFF_MIN    100
#define NGX_HTTP_MASTODON_REDIS_BACKOFF_MAX    1000
#define NGX_HTTP_MASTODON_REDIS_PING_INTERVAL  5000
#define NGX_HTTP_MASTODON_REDIS_MAX_SCRIPTS    32


typedef enum {
    NGX_HTTP_MASTODON_REDIS_DISCONNECTED = 0,
    NGX_HTTP_MASTODON_REDIS_CONNECTING,         /* TCP, AUTH, SELECT, name */
    NGX_HTTP_MASTODON_REDIS_READY
} ngx_http_mastodon_redis_state_e;


/* One per hiredis context: its nginx wrapper, freed with the context. */
typedef struct {
    redisAsyncContext                 *ac;
    ngx_connection_t                  *connection;
} ngx_http_mastodon_redis_link_t;


typedef struct {
    const char                        *role;       /* "cmd", "pubsub" */
    redisAsyncContext                 *ac;         /* the current one */
    ngx_http_mastodon_redis_state_e    state;
    ngx_event_t                        connect_timer;
    ngx_event_t                        retry_timer;
    ngx_msec_t                         backoff;
    ngx_msec_t                         seen;       /* pubsub: last ping */
    unsigned                           down:1;     /* failing: fail fast */
} ngx_http_mastodon_redis_conn_t;


typedef struct {
    u_char                            *source;     /* a copy */
    size_t                             len;
    u_char                             sha[2 * SHA_DIGEST_LENGTH];
    unsigned                           sent:1;     /* on this connection */
} ngx_http_mastodon_redis_script_t;


typedef struct {
    ngx_http_mastodon_main_conf_t     *conf;
    ngx_http_mastodon_redis_conn_t     cmd;
    ngx_http_mastodon_redis_conn_t     pubsub;
    ngx_event_t                        ping_timer;  /* every few seconds */
    ngx_event_t                        ping_wait;   /* a PING unanswered */
    u_char                             channel[sizeof("mastodon:worker:")
                                               + NGX_INT64_LEN];
    size_t                             channel_len;
    ngx_log_t                         *log;
    ngx_http_mastodon_redis_script_t   scripts[
                                          NGX_HTTP_MASTODON_REDIS_MAX_SCRIPTS];
    ngx_uint_t                         nscripts;
    ngx_http_mastodon_log_throttle_t   unavailable;
    ngx_http_mastodon_log_throttle_t   timed_out;
    ngx_msec_t                         ping_sent;   /* the PING awaited */
    ngx_msec_t                         answered;    /* the last answered */
    unsigned                           suspect:1;   /* PING awaited */
} ngx_http_mastodon_redis_t;


struct ngx_http_mastodon_redis_cmd_s {
    ngx_http_mastodon_op_call_t        call;
    ngx_http_mastodon_op_t            *op;         /* NULL once detached */
    ngx_http_mastodon_redis_op_done_pt handler;
    ngx_http_mastodon_redis_done_pt    request_handler;
    void                              *data;
    ngx_event_t                        timer;

    /* a script, to be sent again whole after NOSCRIPT */
    ngx_http_mastodon_redis_script_t  *script;
    int                                argc;
    const char                       **argv;
    size_t                            *argvlen;
    unsigned                           evaled:1;
};


static ngx_http_mastodon_redis_t  ngx_http_mastodon_redis;


static ngx_int_t ngx_http_mastodon_redis_send(ngx_http_mastodon_op_t *op,
    ngx_http_mastodon_redis_op_done_pt handler,
    ngx_http_mastodon_redis_done_pt request_handler, void *data, int argc,
    const char **argv, const size_t *argvlen);
static ngx_uint_t ngx_http_mastodon_redis_available(
    ngx_http_mastodon_op_t *op);
static ngx_http_mastodon_redis_cmd_t *ngx_http_mastodon_redis_cmd_alloc(
    int argc, const char **argv, const size_t *argvlen, ngx_log_t *log);
static ngx_http_mastodon_redis_script_t *ngx_http_mastodon_redis_script(
    const char *source, size_t len);
static void ngx_http_mastodon_redis_reply(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_http_mastodon_redis_answer(ngx_http_mastodon_redis_cmd_t *cmd,
    redisReply *reply);
static void ngx_http_mastodon_redis_detach(ngx_http_mastodon_redis_cmd_t *cmd);
static void ngx_http_mastodon_redis_cancel(ngx_http_mastodon_op_call_t *call);
static void ngx_http_mastodon_redis_timeout(ngx_event_t *ev);

static void ngx_http_mastodon_redis_ping(void);
static void ngx_http_mastodon_redis_ping_handler(ngx_event_t *ev);
static void ngx_http_mastodon_redis_pong(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_http_mastodon_redis_ping_timeout(ngx_event_t *ev);

static ngx_int_t ngx_http_mastodon_redis_connect(
    ngx_http_mastodon_redis_conn_t *rc);
static ngx_int_t ngx_http_mastodon_redis_handshake(
    ngx_http_mastodon_redis_conn_t *rc, redisAsyncContext *ac);
static void ngx_http_mastodon_redis_handshake_reply(redisAsyncContext *ac,
    void *r, void *privdata);
static void ngx_http_mastodon_redis_named(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_http_mastodon_redis_message(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_http_mastodon_redis_ready(ngx_http_mastodon_redis_conn_t *rc);
static void ngx_http_mastodon_redis_connect_timeout(ngx_event_t *ev);
static void ngx_http_mastodon_redis_retry(ngx_event_t *ev);
static void ngx_http_mastodon_redis_on_connect(const redisAsyncContext *ac,
    int status);
static void ngx_http_mastodon_redis_on_disconnect(const redisAsyncContext *ac,
    int status);
static void ngx_http_mastodon_redis_failed(ngx_http_mastodon_redis_conn_t *rc,
    const char *what, const char *why);
static void ngx_http_mastodon_redis_drop(ngx_http_mastodon_redis_conn_t *rc);

static void ngx_http_mastodon_redis_read_handler(ngx_event_t *ev);
static void ngx_http_mastodon_redis_write_handler(ngx_event_t *ev);
static void ngx_http_mastodon_redis_add_read(void *data);
static void ngx_http_mastodon_redis_del_read(void *data);
static void ngx_http_mastodon_redis_add_write(void *data);
static void ngx_http_mastodon_redis_del_write(void *data);
static void ngx_http_mastodon_redis_cleanup(void *data);


static void
ngx_http_mastodon_redis_conn_init(ngx_http_mastodon_redis_conn_t *rc,
    const char *role, ngx_log_t *log)
{
    rc->role = role;

    rc->connect_timer.handler = ngx_http_mastodon_redis_connect_timeout;
    rc->connect_timer.data = rc;
    rc->connect_timer.log = log;
    rc->connect_timer.cancelable = 1;       /* never delays a reload */

    rc->retry_timer.handler = ngx_http_mastodon_redis_retry;
    rc->retry_timer.data = rc;
    rc->retry_timer.log = log;
    rc->retry_timer.cancelable = 1;
}


ngx_int_t
ngx_http_mastodon_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_mastodon_main_conf_t *mcf)
{
    ngx_http_mastodon_redis_t  *rd = &ngx_http_mastodon_redis;

    ngx_memzero(rd, sizeof(ngx_http_mastodon_redis_t));

    rd->conf = mcf;
    rd->log = cycle->log;

    rd->channel_len = ngx_sprintf(rd->channel, "mastodon:worker:%P",
                                  ngx_pid)
                      - rd->channel;

    rd->unavailable = (ngx_http_mastodon_log_throttle_t)
                      ngx_http_mastodon_log_throttle("Redis is unavailable");
    rd->timed_out = (ngx_http_mastodon_log_throttle_t)
                    ngx_http_mastodon_log_throttle("Redis command timed out");

    ngx_http_mastodon_redis_conn_init(&rd->cmd, "cmd", cycle->log);
    ngx_http_mastodon_redis_conn_init(&rd->pubsub, "pubsub", cycle->log);

    rd->ping_timer.handler = ngx_http_mastodon_redis_ping_handler;
    rd->ping_timer.data = rd;
    rd->ping_timer.log = cycle->log;
    rd->ping_timer.cancelable = 1;

    rd->ping_wait.handler = ngx_http_mastodon_redis_ping_timeout;
    rd->ping_wait.data = rd;
    rd->ping_wait.log = cycle->log;
    rd->ping_wait.cancelable = 1;

    /* connect early so the first request does not pay for it */
    (void) ngx_http_mastodon_redis_connect(&rd->cmd);
    (void) ngx_http_mastodon_redis_connect(&rd->pubsub);

    ngx_add_timer(&rd->ping_timer, NGX_HTTP_MASTODON_REDIS_PING_INTERVAL);

    return NGX_OK;
}


void
ngx_http_mastodon_redis_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                  i;
    ngx_http_mastodon_redis_t  *rd = &ngx_http_mastodon_redis;

    if (rd->log == NULL) {
        return;                 /* never started in this process */
    }

    if (rd->ping_timer.timer_set) {
        ngx_del_timer(&rd->ping_timer);
    }

    if (rd->ping_wait.timer_set) {
        ngx_del_timer(&rd->ping_wait);
    }

    ngx_http_mastodon_redis_drop(&rd->pubsub);
    ngx_http_mastodon_redis_drop(&rd->cmd);

    for (i = 0; i < rd->nscripts; i++) {
        ngx_free(rd->scripts[i].source);
    }

    rd->nscripts = 0;
}


/*
 * Sends a command for a request.  NGX_OK: handler(r, reply, data) will be
 * called once, reply NULL on failure or timeout, unless the request goes
 * away first; handler NULL: nobody waits for the answer (a cache write,
 * fire and forget).  NGX_ERROR: Redis is unavailable right now; the
 * handler will not be called and the caller answers 503.
 */
ngx_int_t
ngx_http_mastodon_redis_command(ngx_http_request_t *r,
    ngx_http_mastodon_redis_done_pt handler, void *data, int argc,
    const char **argv, const size_t *argvlen)
{
    ngx_http_mastodon_op_t  *op;

    op = ngx_http_mastodon_request_op(r);
    if (op == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_mastodon_redis_send(op, NULL, handler, data, argc, argv,
                                        argvlen);
}


/* The same for any operation: handler(op, reply, data). */
ngx_int_t
ngx_http_mastodon_redis_op_command(ngx_http_mastodon_op_t *op,
    ngx_http_mastodon_redis_op_done_pt handler, void *data, int argc,
    const char **argv, const size_t *argvlen)
{
    return ngx_http_mastodon_redis_send(op, handler, NULL, data, argc, argv,
                                        argvlen);
}


static ngx_int_t
ngx_http_mastodon_redis_send(ngx_http_mastodon_op_t *op,
    ngx_http_mastodon_redis_op_done_pt handler,
    ngx_http_mastodon_redis_done_pt request_handler, void *data, int argc,
    const char **argv, const size_t *argvlen)
{
    ngx_uint_t                      waited;
    ngx_http_mastodon_redis_t      *rd = &ngx_http_mastodon_redis;
    ngx_http_mastodon_redis_cmd_t  *cmd;

    if (!ngx_http_mastodon_redis_available(op)) {
        return NGX_ERROR;
    }

    cmd = ngx_http_mastodon_redis_cmd_alloc(argc, argv, argvlen, op->log);
    if (cmd == NULL) {
        return NGX_ERROR;
    }

    waited = (handler != NULL || request_handler != NULL);

    cmd->handler = handler;
    cmd->request_handler = request_handler;
    cmd->data = data;

    if (redisAsyncCommandArgv(rd->cmd.ac, ngx_http_mastodon_redis_reply, cmd,
                              cmd->argc, cmd->argv, cmd->argvlen)
        != REDIS_OK)
    {
        ngx_http_mastodon_log_throttled(&rd->unavailable, NGX_LOG_ERR,
                      op->log, 0, "mastodon: Redis command failed: %s",
                      rd->cmd.ac->errstr[0] ? rd->cmd.ac->errstr
                                            : "disconnecting");
        ngx_free(cmd);
        return NGX_ERROR;
    }

    if (!waited) {
        return NGX_OK;              /* fire and forget: no timer, no owner */
    }

    cmd->op = op;
    ngx_http_mastodon_op_call_add(op, &cmd->call,
                                  ngx_http_mastodon_redis_cancel);

    /* not the operation's log: the timer may fire after it is gone */
    cmd->timer.handler = ngx_http_mastodon_redis_timeout;
    cmd->timer.data = cmd;
    cmd->timer.log = rd->log;
    ngx_add_timer(&cmd->timer, rd->conf->redis_timeout);

    return NGX_OK;
}


/*
 * Whether a command may be sent now: the connection is ready, or being
 * made for the first time (or again after it closed cleanly).  While Redis
 * is known to fail, or a PING decides whether it hangs, commands fail at
 * once instead of each waiting for the timeout.
 */
static ngx_uint_t
ngx_http_mastodon_redis_available(ngx_http_mastodon_op_t *op)
{
    ngx_http_mastodon_redis_t       *rd = &ngx_http_mastodon_redis;
    ngx_http_mastodon_redis_conn_t  *rc = &rd->cmd;

    if (rc->state == NGX_HTTP_MASTODON_REDIS_DISCONNECTED && !rc->down
        && !rc->retry_timer.timer_set)
    {
        (void) ngx_http_mastodon_redis_connect(rc);
    }

    if (rc->state == NGX_HTTP_MASTODON_REDIS_READY && !rd->suspect) {
        return 1;
    }

    if (rc->state == NGX_HTTP_MASTODON_REDIS_CONNECTING && !rc->down) {
        return 1;
    }

    ngx_http_mastodon_log_throttled(&rd->unavailable, NGX_LOG_ERR, op->log, 0,
                                    rd->suspect
                                    ? "mastodon: Redis is not answering"
                                    : "mastodon: Redis is unavailable");

    return 0;
}


/*
 * The command in heap memory of its own.  An EVAL becomes an EVALSHA, and
 * then its arguments are copied too: after NOSCRIPT the script goes again,
 * maybe when the caller's memory is gone.
 */
static ngx_http_mastodon_redis_cmd_t *
ngx_http_mastodon_redis_cmd_alloc(int argc, const char **argv,
    const size_t *argvlen, ngx_log_t *log)
{
    int                                i;
    u_char                            *p;
    size_t                             size;
    ngx_http_mastodon_redis_cmd_t     *cmd;
    ngx_http_mastodon_redis_script_t  *script;

    script = NULL;

    if (argc >= 3 && argvlen[0] == 4
        && ngx_strncasecmp((u_char *) argv[0], (u_char *) "EVAL", 4) == 0)
    {
        script = ngx_http_mastodon_redis_script(argv[1], argvlen[1]);

        /*
         * The first use on a connection goes whole: it loads the script in
         * its turn.  A NOSCRIPT answer's second try would come after the
         * commands sent meanwhile, a cache read after the invalidation
         * the script does; that is left to a SCRIPT FLUSH.
         */
        if (script && !script->sent) {
            script->sent = 1;
            script = NULL;
        }
    }

    if (script == NULL) {
        cmd = ngx_calloc(sizeof(ngx_http_mastodon_redis_cmd_t), log);
        if (cmd == NULL) {
            return NULL;
        }

        cmd->argc = argc;
        cmd->argv = argv;
        cmd->argvlen = (size_t *) argvlen;    /* used only while sending */

        return cmd;
    }

    size = sizeof(ngx_http_mastodon_redis_cmd_t)
           + argc * (sizeof(char *) + sizeof(size_t));

    for (i = 2; i < argc; i++) {
        size += argvlen[i];
    }

    cmd = ngx_calloc(size, log);
    if (cmd == NULL) {
        return NULL;
    }

    cmd->script = script;
    cmd->argc = argc;
    cmd->argv = (const char **) (cmd + 1);
    cmd->argvlen = (size_t *) (cmd->argv + argc);
    p = (u_char *) (cmd->argvlen + argc);

    cmd->argv[0] = "EVALSHA";
    cmd->argvlen[0] = sizeof("EVALSHA") - 1;
    cmd->argv[1] = (const char *) script->sha;
    cmd->argvlen[1] = sizeof(script->sha);

    for (i = 2; i < argc; i++) {
        cmd->argv[i] = (const char *) p;
        cmd->argvlen[i] = argvlen[i];
        p = ngx_cpymem(p, argv[i], argvlen[i]);
    }

    return cmd;
}


/* A script's SHA1, computed once per worker; NULL: send it whole. */
static ngx_http_mastodon_redis_script_t *
ngx_http_mastodon_redis_script(const char *source, size_t len)
{
    ngx_uint_t                         i;
    ngx_http_mastodon_redis_t         *rd = &ngx_http_mastodon_redis;
    ngx_http_mastodon_redis_script_t  *s;
    u_char                             md[SHA_DIGEST_LENGTH];

    for (i = 0; i < rd->nscripts; i++) {
        s = &rd->scripts[i];

        if (s->len == len && ngx_memcmp(s->source, source, len) == 0) {
            return s;
        }
    }

    if (rd->nscripts == NGX_HTTP_MASTODON_REDIS_MAX_SCRIPTS) {
        return NULL;
    }

    s = &rd->scripts[rd->nscripts];

    s->source = ngx_alloc(len, rd->log);
    if (s->source == NULL) {
        return NULL;
    }

    ngx_memcpy(s->source, source, len);
    s->len = len;

    SHA1((u_char *) source, len, md);
    ngx_hex_dump(s->sha, md, SHA_DIGEST_LENGTH);

    rd->nscripts++;

    return s;
}


static void
ngx_http_mastodon_redis_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply                     *reply = r;
    ngx_http_mastodon_redis_cmd_t  *cmd = privdata;

    if (reply && reply->type == REDIS_REPLY_ERROR && cmd->script
        && !cmd->evaled && ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0)
    {
        /* a new or flushed Redis: the script itself, once */
        cmd->evaled = 1;
        cmd->argv[0] = "EVAL";
        cmd->argvlen[0] = sizeof("EVAL") - 1;
        cmd->argv[1] = (const char *) cmd->script->source;
        cmd->argvlen[1] = cmd->script->len;

        if (redisAsyncCommandArgv(ac, ngx_http_mastodon_redis_reply, cmd,
                                  cmd->argc, cmd->argv, cmd->argvlen)
            == REDIS_OK)
        {
            return;
        }

        reply = NULL;
    }

    ngx_http_mastodon_redis_answer(cmd, reply);

    if (cmd->timer.timer_set) {
        ngx_del_timer(&cmd->timer);
    }

    ngx_free(cmd);
}


/* Calls the command's handler once, unless it was detached. */
static void
ngx_http_mastodon_redis_answer(ngx_http_mastodon_redis_cmd_t *cmd,
    redisReply *reply)
{
    ngx_http_mastodon_op_t  *op;

    op = cmd->op;
    if (op == NULL) {
        return;
    }

    ngx_http_mastodon_redis_detach(cmd);

    if (cmd->request_handler) {
        cmd->request_handler(op->owner, reply, cmd->data);

    } else if (cmd->handler) {
        cmd->handler(op, reply, cmd->data);
    }
}


/* The operation forgets the command; hiredis still holds and frees it. */
static void
ngx_http_mastodon_redis_detach(ngx_http_mastodon_redis_cmd_t *cmd)
{
    ngx_http_mastodon_op_t  *op;

    op = cmd->op;
    cmd->op = NULL;

    if (cmd->timer.timer_set) {
        ngx_del_timer(&cmd->timer);
    }

    ngx_http_mastodon_op_call_done(op, &cmd->call);
}


static void
ngx_http_mastodon_redis_cancel(ngx_http_mastodon_op_call_t *call)
{
    ngx_http_mastodon_redis_cmd_t  *cmd;

    cmd = (ngx_http_mastodon_redis_cmd_t *) call;   /* the first field */

    ngx_http_mastodon_redis_detach(cmd);
}


/*
 * The command failed alone: its caller hears it now, its reply will be
 * discarded.  Redis answers in order, so either this command is slow or
 * the connection hangs: a PING tells, meanwhile new commands fail fast.
 */
static void
ngx_http_mastodon_redis_timeout(ngx_event_t *ev)
{
    ngx_http_mastodon_redis_cmd_t  *cmd = ev->data;

    ngx_http_mastodon_redis_t  *rd = &ngx_http_mastodon_redis;

    ngx_http_mastodon_log_throttled(&rd->timed_out, NGX_LOG_ERR, cmd->op->log,
                                    0, "mastodon: Redis command timed out");

    if (!rd->suspect) {
        rd->suspect = 1;
        ngx_http_mastodon_redis_ping();
    }

    ngx_http_mastodon_redis_answer(cmd, NULL);
}


/*
 * Liveness: a PUBLISH to the worker's own channel.  Its answer shows the
 * command connection alive; the message arriving on the pub/sub
 * connection shows that one alive.  Unanswered for twice the command
 * timeout (a slow command may be ahead of it), the connection is hung.
 */
static void
ngx_http_mastodon_redis_ping(void)
{
    ngx_http_mastodon_redis_t  *rd = &ngx_http_mastodon_redis;

    if (rd->ping_wait.timer_set
        || rd->cmd.state != NGX_HTTP_MASTODON_REDIS_READY)
    {
        return;
    }

    if (redisAsyncCommand(rd->cmd.ac, ngx_http_mastodon_redis_pong, NULL,
                          "PUBLISH %b ping", rd->channel, rd->channel_len)
        != REDIS_OK)
    {
        return;
    }

    rd->ping_sent = ngx_current_msec;
    ngx_add_timer(&rd->ping_wait, 2 * rd->conf->redis_timeout);
}


static void
ngx_http_mastodon_redis_ping_handler(ngx_event_t *ev)
{
    ngx_http_mastodon_redis_t  *rd = &ngx_http_mastodon_redis;

    ngx_http_mastodon_redis_ping();

    if (!ngx_exiting) {
        ngx_add_timer(&rd->ping_timer, NGX_HTTP_MASTODON_REDIS_PING_INTERVAL);
    }
}


static void
ngx_http_mastodon_redis_pong(redisAsyncContext *ac, void *r, void *privdata)
{
    ngx_msec_t                       prev;
    ngx_http_mastodon_redis_t       *rd = &ngx_http_mastodon_redis;
    ngx_http_mastodon_redis_conn_t  *ps = &rd->pubsub;

    if (ac != rd->cmd.ac || r == NULL) {
        return;                 /* an old connection's, or dropped */
    }

    if (rd->ping_wait.timer_set) {
        ngx_del_timer(&rd->ping_wait);
    }

    if (rd->suspect) {
        rd->suspect = 0;
        ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                      "mastodon: Redis answers again");
        ngx_http_mastodon_log_throttle_end(&rd->unavailable, rd->log);
        ngx_http_mastodon_log_throttle_end(&rd->timed_out, rd->log);
    }

    /* the previous ping was published an interval ago: was it heard? */
    prev = rd->answered;
    rd->answered = rd->ping_sent;

    if (prev && ps->state == NGX_HTTP_MASTODON_REDIS_READY
        && (ngx_msec_int_t) (ps->seen - prev) < 0)
    {
        ngx_http_mastodon_redis_failed(ps, "connection",
                                       "hears nothing");
    }
}


static void
ngx_http_mastodon_redis_ping_timeout(ngx_event_t *ev)
{
    ngx_http_mastodon_redis_t  *rd = &ngx_http_mastodon_redis;

    ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                  "mastodon: Redis does not answer PING in %M ms: "
                  "dropping the connections", 2 * rd->conf->redis_timeout);

    rd->suspect = 0;

    /* the same server: the pub/sub connection hangs as well */
    ngx_http_mastodon_redis_failed(&rd->cmd, "connection", "hung");
    ngx_http_mastodon_redis_failed(&rd->pubsub, "connection", "hung");
}


static ngx_int_t
ngx_http_mastodon_redis_connect(ngx_http_mastodon_redis_conn_t *rc)
{
    ngx_uint_t                       i;
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
        ngx_http_mastodon_redis_failed(rc, "connect", "out of memory");
        return NGX_ERROR;
    }

    if (ac->err) {
        ngx_http_mastodon_redis_failed(rc, "connect", ac->errstr);
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
        ngx_http_mastodon_redis_failed(rc, "connect", "no memory");
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

    ac->data = rc;
    rc->ac = ac;
    rc->state = NGX_HTTP_MASTODON_REDIS_CONNECTING;

    if (rc == &rd->cmd) {
        /* maybe a restarted Redis: each script goes whole once more */
        for (i = 0; i < rd->nscripts; i++) {
            rd->scripts[i].sent = 0;
        }
    }

    /* the adapter first: SetConnectCallback already asks for write events */
    ac->ev.data = link;
    ac->ev.addRead = ngx_http_mastodon_redis_add_read;
    ac->ev.delRead = ngx_http_mastodon_redis_del_read;
    ac->ev.addWrite = ngx_http_mastodon_redis_add_write;
    ac->ev.delWrite = ngx_http_mastodon_redis_del_write;
    ac->ev.cleanup = ngx_http_mastodon_redis_cleanup;

    redisAsyncSetConnectCallback(ac, ngx_http_mastodon_redis_on_connect);
    redisAsyncSetDisconnectCallback(ac, ngx_http_mastodon_redis_on_disconnect);

    /* the time to connect covers the handshake: a hung Redis fails it */
    ngx_add_timer(&rc->connect_timer, rd->conf->redis_connect_timeout);

    if (ngx_http_mastodon_redis_handshake(rc, ac) != NGX_OK) {
        ngx_http_mastodon_redis_failed(rc, "connect", "handshake not sent");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Queued before the connection completes; replies come in order, the
 * commands of operations after them.  Ready once the name is answered.
 */
static ngx_int_t
ngx_http_mastodon_redis_handshake(ngx_http_mastodon_redis_conn_t *rc,
    redisAsyncContext *ac)
{
    int                             n;
    u_char                         *p;
    ngx_http_mastodon_redis_t      *rd = &ngx_http_mastodon_redis;
    ngx_http_mastodon_main_conf_t  *mcf = rd->conf;
    const char                     *argv[3];
    size_t                          argvlen[3];
    u_char                          name[sizeof("mastodon:pubsub:")
                                         + NGX_INT64_LEN];
    u_char                          db[NGX_INT_T_LEN];

    if (mcf->redis_password.len) {
        n = 0;
        argv[n] = "AUTH";
        argvlen[n++] = 4;

        if (mcf->redis_username.len) {
            argv[n] = (const char *) mcf->redis_username.data;
            argvlen[n++] = mcf->redis_username.len;
        }

        argv[n] = (const char *) mcf->redis_password.data;
        argvlen[n++] = mcf->redis_password.len;

        if (redisAsyncCommandArgv(ac, ngx_http_mastodon_redis_handshake_reply,
                                  (void *) "AUTH", n, argv, argvlen)
            != REDIS_OK)
        {
            return NGX_ERROR;
        }
    }

    if (mcf->redis_db && rc == &rd->cmd) {
        argv[0] = "SELECT";
        argvlen[0] = 6;
        argv[1] = (const char *) db;
        argvlen[1] = ngx_sprintf(db, "%i", mcf->redis_db) - db;

        if (redisAsyncCommandArgv(ac, ngx_http_mastodon_redis_handshake_reply,
                                  (void *) "SELECT", 2, argv, argvlen)
            != REDIS_OK)
        {
            return NGX_ERROR;
        }
    }

    p = ngx_sprintf(name, "mastodon:%s:%P", rc->role, ngx_pid);

    argv[0] = "CLIENT";
    argvlen[0] = 6;
    argv[1] = "SETNAME";
    argvlen[1] = 7;
    argv[2] = (const char *) name;
    argvlen[2] = p - name;

    if (redisAsyncCommandArgv(ac, ngx_http_mastodon_redis_named, NULL,
                              3, argv, argvlen)
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    if (rc == &rd->pubsub) {
        argv[0] = "SUBSCRIBE";
        argvlen[0] = 9;
        argv[1] = (const char *) rd->channel;
        argvlen[1] = rd->channel_len;

        if (redisAsyncCommandArgv(ac, ngx_http_mastodon_redis_message, NULL,
                                  2, argv, argvlen)
            != REDIS_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* AUTH or SELECT answered: only a refusal matters. */
static void
ngx_http_mastodon_redis_handshake_reply(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply                      *reply = r;
    ngx_http_mastodon_redis_conn_t  *rc = ac->data;

    if (reply == NULL || rc == NULL || ac != rc->ac
        || reply->type != REDIS_REPLY_ERROR)
    {
        return;
    }

    /* a wrong password or database */
    ngx_http_mastodon_redis_failed(rc, (char *) privdata, reply->str);
}


static void
ngx_http_mastodon_redis_named(redisAsyncContext *ac, void *r, void *privdata)
{
    ngx_http_mastodon_redis_conn_t  *rc = ac->data;

    if (r == NULL || rc == NULL || ac != rc->ac
        || rc->state != NGX_HTTP_MASTODON_REDIS_CONNECTING)
    {
        return;
    }

    if (rc == &ngx_http_mastodon_redis.cmd) {
        ngx_http_mastodon_redis_ready(rc);
    }

    /* the pub/sub connection is ready once subscribed */
}


/* The pub/sub connection's subscription: confirmations and messages. */
static void
ngx_http_mastodon_redis_message(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply                      *reply = r;
    ngx_http_mastodon_redis_conn_t  *rc = ac->data;

    if (reply == NULL || rc == NULL || ac != rc->ac
        || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        return;
    }

    rc->seen = ngx_current_msec;

    if (rc->state == NGX_HTTP_MASTODON_REDIS_CONNECTING
        && ngx_strcmp(reply->element[0]->str, "subscribe") == 0)
    {
        ngx_http_mastodon_redis_ready(rc);
    }
}


static void
ngx_http_mastodon_redis_ready(ngx_http_mastodon_redis_conn_t *rc)
{
    ngx_http_mastodon_redis_t  *rd = &ngx_http_mastodon_redis;

    if (rc->connect_timer.timer_set) {
        ngx_del_timer(&rc->connect_timer);
    }

    rc->state = NGX_HTTP_MASTODON_REDIS_READY;
    rc->backoff = 0;
    rc->seen = ngx_current_msec;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "mastodon: Redis %s connection ready", rc->role);

    if (rc->down) {
        rc->down = 0;

        if (rc == &rd->cmd) {
            ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                          "mastodon: Redis is back");
            ngx_http_mastodon_log_throttle_end(&rd->unavailable, rd->log);
            ngx_http_mastodon_log_throttle_end(&rd->timed_out, rd->log);
        }
    }
}


static void
ngx_http_mastodon_redis_connect_timeout(ngx_event_t *ev)
{
    ngx_http_mastodon_redis_conn_t  *rc = ev->data;

    ngx_http_mastodon_redis_failed(rc, "connect", "timed out");
}


static void
ngx_http_mastodon_redis_retry(ngx_event_t *ev)
{
    ngx_http_mastodon_redis_conn_t  *rc = ev->data;

    if (rc->state == NGX_HTTP_MASTODON_REDIS_DISCONNECTED) {
        (void) ngx_http_mastodon_redis_connect(rc);
    }
}


static void
ngx_http_mastodon_redis_on_connect(const redisAsyncContext *ac, int status)
{
    ngx_http_mastodon_redis_conn_t  *rc = ac->data;

    if (rc == NULL || ac != rc->ac || status == REDIS_OK) {
        return;                 /* connected: the handshake goes on */
    }

    /* hiredis frees the context after this; onDisconnect won't come */
    rc->ac = NULL;
    ngx_http_mastodon_redis_failed(rc, "connect", ac->errstr);
}


static void
ngx_http_mastodon_redis_on_disconnect(const redisAsyncContext *ac, int status)
{
    ngx_http_mastodon_redis_conn_t  *rc = ac->data;

    if (rc == NULL || ac != rc->ac) {
        return;
    }

    /* hiredis frees the context after this */
    rc->ac = NULL;

    if (status == REDIS_OK) {
        rc->state = NGX_HTTP_MASTODON_REDIS_DISCONNECTED;
        return;                 /* the next command reconnects */
    }

    ngx_http_mastodon_redis_failed(rc, "connection", ac->errstr);
}


/*
 * A connection failed or was lost: it goes (every pending command fails),
 * and a new one is tried after a backoff; until it is ready commands fail
 * at once.  Logged at error level once per outage, the retries at info.
 */
static void
ngx_http_mastodon_redis_failed(ngx_http_mastodon_redis_conn_t *rc,
    const char *what, const char *why)
{
    ngx_uint_t                  level;
    ngx_http_mastodon_redis_t  *rd = &ngx_http_mastodon_redis;

    level = rc->down ? NGX_LOG_INFO : NGX_LOG_ERR;

    ngx_log_error(level, rd->log, 0, "mastodon: Redis %s %s failed: %s",
                  rc->role, what, why);

    rc->down = 1;
    rc->backoff = rc->backoff ? ngx_min(2 * rc->backoff,
                                        NGX_HTTP_MASTODON_REDIS_BACKOFF_MAX)
                              : NGX_HTTP_MASTODON_REDIS_BACKOFF_MIN;

    ngx_http_mastodon_redis_drop(rc);

    if (!ngx_exiting && !ngx_terminate && !ngx_quit) {
        ngx_add_timer(&rc->retry_timer, rc->backoff);
    }
}


/* Frees the context; hiredis answers every pending command with NULL. */
static void
ngx_http_mastodon_redis_drop(ngx_http_mastodon_redis_conn_t *rc)
{
    redisAsyncContext          *ac;
    ngx_http_mastodon_redis_t  *rd = &ngx_http_mastodon_redis;

    if (rc->connect_timer.timer_set) {
        ngx_del_timer(&rc->connect_timer);
    }

    if (rc->retry_timer.timer_set) {
        ngx_del_timer(&rc->retry_timer);
    }

    if (rc == &rd->cmd) {
        rd->suspect = 0;
        rd->answered = 0;

        if (rd->ping_wait.timer_set) {
            ngx_del_timer(&rd->ping_wait);
        }
    }

    rc->state = NGX_HTTP_MASTODON_REDIS_DISCONNECTED;

    ac = rc->ac;
    if (ac == NULL) {
        return;
    }

    ac->onDisconnect = NULL;
    ac->onConnect = NULL;
    ac->data = NULL;
    rc->ac = NULL;

    /* inside a hiredis callback this is deferred until it returns */
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
