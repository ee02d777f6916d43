/*
 * Redis from inside nginx: our own connections on nginx's event loop,
 * plain or TLS (rediss://), with hiredis for what it does well: the RESP
 * reader and command formatting.
 *
 * Two connections per worker: one for commands, pipelined (the commands of
 * concurrent operations go out together and are answered in order), and
 * one for pub/sub (a RESP2 connection that subscribed can run nothing
 * else), subscribed to the worker's own channel and to what streams ask
 * for (ngx_http_mastodon_redis_subscribe()).  Each connection says who it
 * is (CLIENT SETNAME mastodon:cmd:<pid>, mastodon:pubsub:<pid>) after AUTH
 * and SELECT, and is ready only once Redis answered that: a Redis that
 * accepts connections but does not answer never looks alive.
 *
 * A connection is an ngx_connection_t of ours, registered edge-triggered
 * like nginx's own: it is read until c->recv() says NGX_AGAIN (OpenSSL may
 * hold bytes the socket no longer signals), replies are fed to a hiredis
 * reader and matched in order to the commands awaiting them.  Commands are
 * formatted into an output buffer that a posted write event sends once per
 * event loop iteration.  With TLS, c->recv and c->send are OpenSSL's
 * (ngx_ssl_handshake() sets them): the same code runs both ways.  The
 * server certificate is verified against mastodon_redis_ssl_trusted_
 * certificate and its name (mastodon_redis_ssl_name, or the address).
 *
 * Commands have nginx timers.  A command that times out fails alone: its
 * caller gets the failure at once, its reply is discarded when it comes,
 * and the connection stays.  Whether the connection itself is hung is for
 * a PING to tell (sent then, and every few seconds anyway); while it is
 * awaited new commands fail at once, and if it goes unanswered the
 * connection is dropped: a hung Redis costs one request the command
 * timeout, and the others nothing.  The PING is a PUBLISH to the worker's
 * channel, so the pub/sub connection is checked by the same message coming
 * back to it.
 *
 * Scripts are sent by EVALSHA; a caller's EVAL is rewritten (the SHA1 of
 * each script is computed once per worker) except the first on each
 * command connection, which loads the script in order; a NOSCRIPT answer
 * (SCRIPT FLUSH) sends the script itself once.
 *
 * A command owns heap memory, not its operation's pool: Redis may answer
 * after the operation is gone.  Cancelling only cuts the link.  So do
 * subscriptions: a subscription is a call of its operation, which
 * unsubscribes when cancelled.
 */

#include <openssl/sha.h>
#include <netinet/tcp.h>

#include "ngx_http_mastodon_backend.h"


#define NGX_HTTP_MASTODON_REDIS_BACKOFF_MIN    100
#define NGX_HTTP_MASTODON_REDIS_BACKOFF_MAX    1000
#define NGX_HTTP_MASTODON_REDIS_PING_INTERVAL  5000
#define NGX_HTTP_MASTODON_REDIS_MAX_SCRIPTS    32
#define NGX_HTTP_MASTODON_REDIS_READ_SIZE      16384
/* an output buffer grown past this goes back once sent */
#define NGX_HTTP_MASTODON_REDIS_OUT_KEEP       65536
#define NGX_HTTP_MASTODON_REDIS_MAX_CHANNEL    1024


typedef enum {
    NGX_HTTP_MASTODON_REDIS_DISCONNECTED = 0,
    NGX_HTTP_MASTODON_REDIS_CONNECTING,   /* TCP, TLS, AUTH, SELECT, name */
    NGX_HTTP_MASTODON_REDIS_READY
} ngx_http_mastodon_redis_state_e;


typedef struct ngx_http_mastodon_redis_conn_s  ngx_http_mastodon_redis_conn_t;
typedef struct ngx_http_mastodon_redis_link_s  ngx_http_mastodon_redis_link_t;

/* a reply, or NULL (and rc NULL) when the connection went first */
typedef void (*ngx_http_mastodon_redis_reply_pt)(
    ngx_http_mastodon_redis_conn_t *rc, redisReply *reply, void *data);

/* A command sent and not yet answered, in its connection's FIFO. */
typedef struct {
    ngx_queue_t                        queue;
    ngx_http_mastodon_redis_reply_pt   handler;
    void                              *data;
    unsigned                           own:1;      /* freed after the reply */
} ngx_http_mastodon_redis_pending_t;


/*
 * One connection attempt: the socket, its reader, what is to be sent and
 * what awaits replies.  Heap memory of its own, so that a connection
 * dropped from inside its own read handler goes only once that returns.
 */
struct ngx_http_mastodon_redis_link_s {
    ngx_http_mastodon_redis_conn_t    *rc;         /* NULL once closed */
    ngx_connection_t                  *connection;
    redisReader                       *reader;
    ngx_queue_t                        pending;
    u_char                            *out;        /* formatted commands */
    size_t                             sent;       /* of out, written */
    size_t                             len;        /* of out, in use */
    size_t                             size;
    ngx_uint_t                         busy;       /* in its read handler */
    ngx_log_t                          log;
    unsigned                           established:1;  /* may send */
    unsigned                           closed:1;
};


struct ngx_http_mastodon_redis_conn_s {
    const char                        *role;       /* "cmd", "pubsub" */
    ngx_http_mastodon_redis_link_t    *link;       /* the current one */
    ngx_http_mastodon_redis_state_e    state;
    ngx_event_t                        connect_timer;
    ngx_event_t                        retry_timer;
    ngx_msec_t                         backoff;
    ngx_msec_t                         seen;       /* pubsub: last message */
    unsigned                           down:1;     /* failing: fail fast */
};


typedef struct {
    u_char                            *source;     /* a copy */
    size_t                             len;
    u_char                             sha[2 * SHA_DIGEST_LENGTH];
    unsigned                           sent:1;     /* on this connection */
} ngx_http_mastodon_redis_script_t;


/*
 * A channel some operations of this worker subscribed to.  Redis hears
 * one SUBSCRIBE when the first subscriber comes and one UNSUBSCRIBE when
 * the last goes; "inflight" counts those not yet confirmed, and the
 * channel stays (and may be asked for again) until they are.
 */
typedef struct {
    ngx_str_node_t                     sn;         /* the name, hashed */
    ngx_queue_t                        queue;      /* all channels */
    ngx_queue_t                        subs;
    ngx_uint_t                         nsubs;      /* not removed */
    ngx_uint_t                         inflight;
    ngx_uint_t                         busy;       /* handlers running */
    unsigned                           subscribed:1;  /* last sent */
    unsigned                           tell_drop:1;
} ngx_http_mastodon_redis_channel_t;


struct ngx_http_mastodon_redis_sub_s {
    ngx_http_mastodon_op_call_t         call;      /* the first field */
    ngx_queue_t                         queue;     /* in its channel */
    ngx_http_mastodon_redis_channel_t  *channel;
    ngx_http_mastodon_op_t             *op;
    ngx_http_mastodon_redis_message_pt  handler;
    void                               *data;
    unsigned                            confirmed:1;
    unsigned                            removed:1;  /* freed after dispatch */
};


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
    ngx_rbtree_t                       channels;    /* by name */
    ngx_rbtree_node_t                  sentinel;
    ngx_queue_t                        channel_list;
    unsigned                           suspect:1;   /* PING awaited */
} ngx_http_mastodon_redis_t;


struct ngx_http_mastodon_redis_cmd_s {
    ngx_http_mastodon_op_call_t        call;
    ngx_http_mastodon_redis_pending_t  pending;
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
static void ngx_http_mastodon_redis_reply(ngx_http_mastodon_redis_conn_t *rc,
    redisReply *reply, void *data);
static void ngx_http_mastodon_redis_answer(ngx_http_mastodon_redis_cmd_t *cmd,
    redisReply *reply);
static void ngx_http_mastodon_redis_detach(ngx_http_mastodon_redis_cmd_t *cmd);
static void ngx_http_mastodon_redis_cancel(ngx_http_mastodon_op_call_t *call);
static void ngx_http_mastodon_redis_timeout(ngx_event_t *ev);

static void ngx_http_mastodon_redis_ping(void);
static void ngx_http_mastodon_redis_ping_handler(ngx_event_t *ev);
static void ngx_http_mastodon_redis_pong(ngx_http_mastodon_redis_conn_t *rc,
    redisReply *reply, void *data);
static void ngx_http_mastodon_redis_ping_timeout(ngx_event_t *ev);

static ngx_http_mastodon_redis_channel_t *ngx_http_mastodon_redis_channel(
    ngx_str_t *name, ngx_uint_t create);
static void ngx_http_mastodon_redis_channel_sync(
    ngx_http_mastodon_redis_channel_t *ch);
static void ngx_http_mastodon_redis_channel_notify(
    ngx_http_mastodon_redis_channel_t *ch,
    ngx_http_mastodon_redis_event_e event, ngx_str_t *message);
static void ngx_http_mastodon_redis_channel_settle(
    ngx_http_mastodon_redis_channel_t *ch);
static void ngx_http_mastodon_redis_sub_cancel(
    ngx_http_mastodon_op_call_t *call);
static ngx_int_t ngx_http_mastodon_redis_pubsub_route(redisReply *reply);
static void ngx_http_mastodon_redis_pubsub_dropped(void);

static ngx_int_t ngx_http_mastodon_redis_connect(
    ngx_http_mastodon_redis_conn_t *rc);
static void ngx_http_mastodon_redis_connected(ngx_event_t *ev);
static void ngx_http_mastodon_redis_tcp_connected(
    ngx_http_mastodon_redis_link_t *link);
#if (NGX_SSL)
static void ngx_http_mastodon_redis_ssl_handshaked(ngx_connection_t *c);
#endif
static void ngx_http_mastodon_redis_established(
    ngx_http_mastodon_redis_link_t *link);
static ngx_int_t ngx_http_mastodon_redis_handshake(
    ngx_http_mastodon_redis_conn_t *rc);
static void ngx_http_mastodon_redis_handshake_reply(
    ngx_http_mastodon_redis_conn_t *rc, redisReply *reply, void *data);
static void ngx_http_mastodon_redis_named(ngx_http_mastodon_redis_conn_t *rc,
    redisReply *reply, void *data);
static void ngx_http_mastodon_redis_ready(ngx_http_mastodon_redis_conn_t *rc);
static void ngx_http_mastodon_redis_connect_timeout(ngx_event_t *ev);
static void ngx_http_mastodon_redis_retry(ngx_event_t *ev);
static void ngx_http_mastodon_redis_failed(ngx_http_mastodon_redis_conn_t *rc,
    const char *what, const char *why);
static void ngx_http_mastodon_redis_drop(ngx_http_mastodon_redis_conn_t *rc);

static ngx_int_t ngx_http_mastodon_redis_append(
    ngx_http_mastodon_redis_conn_t *rc, int argc, const char **argv,
    const size_t *argvlen, ngx_http_mastodon_redis_pending_t *pending);
static ngx_int_t ngx_http_mastodon_redis_call(
    ngx_http_mastodon_redis_conn_t *rc, int argc, const char **argv,
    const size_t *argvlen, ngx_http_mastodon_redis_reply_pt handler,
    void *data);
static void ngx_http_mastodon_redis_read_handler(ngx_event_t *rev);
static void ngx_http_mastodon_redis_write_handler(ngx_event_t *wev);
static void ngx_http_mastodon_redis_flush(
    ngx_http_mastodon_redis_link_t *link);
static void ngx_http_mastodon_redis_dispatch(
    ngx_http_mastodon_redis_link_t *link);
static void ngx_http_mastodon_redis_link_close(
    ngx_http_mastodon_redis_link_t *link);
static void ngx_http_mastodon_redis_link_free(
    ngx_http_mastodon_redis_link_t *link);


/*
 * At configuration time (init_main_conf): the address parsed from
 * mastodon_redis as a socket address, and for rediss:// the TLS context:
 * the trusted CAs (the system's by default, as Mastodon's redis client
 * uses), an optional client certificate, the name to verify.
 */
char *
ngx_http_mastodon_redis_conf(ngx_conf_t *cf,
    ngx_http_mastodon_main_conf_t *mcf)
{
    ngx_addr_t           *a = &mcf->redis_addr;
    struct sockaddr_in   *sin;
#if (NGX_HAVE_INET6)
    struct sockaddr_in6  *sin6;
#endif
#if (NGX_HAVE_UNIX_DOMAIN)
    struct sockaddr_un   *saun;
#endif
#if (NGX_SSL)
    ngx_pool_cleanup_t   *cln;
    ngx_str_t             cafile;
    u_char                addr[sizeof(struct in6_addr)];
#endif

    a->sockaddr = ngx_pcalloc(cf->pool, sizeof(ngx_sockaddr_t));
    if (a->sockaddr == NULL) {
        return NGX_CONF_ERROR;
    }

    if (mcf->redis_unix.len) {
#if (NGX_HAVE_UNIX_DOMAIN)
        saun = (struct sockaddr_un *) a->sockaddr;

        if (mcf->redis_unix.len >= sizeof(saun->sun_path)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"mastodon_redis\" socket path \"%V\" is "
                               "too long", &mcf->redis_unix);
            return NGX_CONF_ERROR;
        }

        saun->sun_family = AF_UNIX;
        ngx_memcpy(saun->sun_path, mcf->redis_unix.data, mcf->redis_unix.len);
        a->socklen = sizeof(struct sockaddr_un);
        a->name = mcf->redis_unix;
#else
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mastodon_redis\": no unix sockets here");
        return NGX_CONF_ERROR;
#endif

    } else {
        sin = (struct sockaddr_in *) a->sockaddr;

        if (inet_pton(AF_INET, (char *) mcf->redis_host.data, &sin->sin_addr)
            == 1)
        {
            sin->sin_family = AF_INET;
            sin->sin_port = htons((in_port_t) mcf->redis_port);
            a->socklen = sizeof(struct sockaddr_in);

        } else {
#if (NGX_HAVE_INET6)
            sin6 = (struct sockaddr_in6 *) a->sockaddr;

            if (inet_pton(AF_INET6, (char *) mcf->redis_host.data,
                          &sin6->sin6_addr)
                != 1)
            {
                return NGX_CONF_ERROR;      /* checked before */
            }

            sin6->sin6_family = AF_INET6;
            sin6->sin6_port = htons((in_port_t) mcf->redis_port);
            a->socklen = sizeof(struct sockaddr_in6);
#else
            return NGX_CONF_ERROR;
#endif
        }

        a->name.data = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN);
        if (a->name.data == NULL) {
            return NGX_CONF_ERROR;
        }

        a->name.len = ngx_sock_ntop(a->sockaddr, a->socklen, a->name.data,
                                    NGX_SOCKADDR_STRLEN, 1);
    }

    if (!mcf->redis_tls) {
        if (mcf->redis_ssl_trusted_certificate.len
            || mcf->redis_ssl_certificate.len || mcf->redis_ssl_name.len)
        {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "\"mastodon_redis_ssl_*\" directives are "
                               "ignored: \"mastodon_redis\" is not a "
                               "rediss:// URL");
        }

        return NGX_CONF_OK;
    }

#if (NGX_SSL)

    if (mcf->redis_ssl_name.len == 0) {
        mcf->redis_ssl_name = mcf->redis_host;
    }

    /* an address is checked against the certificate's IP addresses */
    mcf->redis_ssl_name_ip =
        (inet_pton(AF_INET, (char *) mcf->redis_ssl_name.data, addr) == 1
         || inet_pton(AF_INET6, (char *) mcf->redis_ssl_name.data, addr)
            == 1);

    if (mcf->redis_ssl_certificate.len
        && mcf->redis_ssl_certificate_key.len == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "no \"mastodon_redis_ssl_certificate_key\" for "
                           "\"mastodon_redis_ssl_certificate\" \"%V\"",
                           &mcf->redis_ssl_certificate);
        return NGX_CONF_ERROR;
    }

    mcf->redis_ssl = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_t));
    if (mcf->redis_ssl == NULL) {
        return NGX_CONF_ERROR;
    }

    mcf->redis_ssl->log = cf->log;

    if (ngx_ssl_create(mcf->redis_ssl, NGX_SSL_TLSv1_2|NGX_SSL_TLSv1_3, NULL)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngx_ssl_cleanup_ctx(mcf->redis_ssl);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_ssl_cleanup_ctx;
    cln->data = mcf->redis_ssl;

    /* read now, whole: no lazy look-ups in a directory at handshake time */
    cafile = mcf->redis_ssl_trusted_certificate;

    if (cafile.len == 0) {
        /* OpenSSL's own choice: $SSL_CERT_FILE, else its default file */
        cafile.data = (u_char *) getenv(X509_get_default_cert_file_env());

        if (cafile.data == NULL || cafile.data[0] == '\0') {
            cafile.data = (u_char *) X509_get_default_cert_file();
        }

        cafile.len = ngx_strlen(cafile.data);
    }

    if (ngx_ssl_trusted_certificate(cf, mcf->redis_ssl, &cafile, 100)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (mcf->redis_ssl_certificate.len
        && ngx_ssl_certificate(cf, mcf->redis_ssl,
                               &mcf->redis_ssl_certificate,
                               &mcf->redis_ssl_certificate_key, NULL)
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

#else

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"mastodon_redis\": rediss:// needs nginx built "
                       "with OpenSSL");
    return NGX_CONF_ERROR;

#endif
}


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

    ngx_rbtree_init(&rd->channels, &rd->sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_queue_init(&rd->channel_list);

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
    ngx_uint_t                          i;
    ngx_queue_t                        *q;
    ngx_http_mastodon_redis_t          *rd = &ngx_http_mastodon_redis;
    ngx_http_mastodon_redis_sub_t      *sub;
    ngx_http_mastodon_redis_channel_t  *ch;

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

    /* subscriptions their owners did not end: let go of them quietly */
    while (!ngx_queue_empty(&rd->channel_list)) {
        q = ngx_queue_head(&rd->channel_list);
        ch = ngx_queue_data(q, ngx_http_mastodon_redis_channel_t, queue);

        while (!ngx_queue_empty(&ch->subs)) {
            q = ngx_queue_head(&ch->subs);
            sub = ngx_queue_data(q, ngx_http_mastodon_redis_sub_t, queue);

            ngx_queue_remove(q);

            if (!sub->removed) {
                ngx_http_mastodon_op_call_done(sub->op, &sub->call);
            }

            ngx_free(sub);
        }

        ngx_rbtree_delete(&rd->channels, &ch->sn.node);
        ngx_queue_remove(&ch->queue);
        ngx_free(ch);
    }

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

    cmd->pending.handler = ngx_http_mastodon_redis_reply;
    cmd->pending.data = cmd;

    if (ngx_http_mastodon_redis_append(&rd->cmd, cmd->argc, cmd->argv,
                                       cmd->argvlen, &cmd->pending)
        != NGX_OK)
    {
        ngx_http_mastodon_log_throttled(&rd->unavailable, NGX_LOG_ERR,
                      op->log, 0, "mastodon: Redis command failed: %s",
                      rd->cmd.link ? "cannot format it" : "disconnected");
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
ngx_http_mastodon_redis_reply(ngx_http_mastodon_redis_conn_t *rc,
    redisReply *reply, void *data)
{
    ngx_http_mastodon_redis_cmd_t  *cmd = data;

    if (reply && reply->type == REDIS_REPLY_ERROR && cmd->script
        && !cmd->evaled && ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0)
    {
        /* a new or flushed Redis: the script itself, once */
        cmd->evaled = 1;
        cmd->argv[0] = "EVAL";
        cmd->argvlen[0] = sizeof("EVAL") - 1;
        cmd->argv[1] = (const char *) cmd->script->source;
        cmd->argvlen[1] = cmd->script->len;

        if (ngx_http_mastodon_redis_append(rc, cmd->argc, cmd->argv,
                                           cmd->argvlen, &cmd->pending)
            == NGX_OK)
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


/* The operation forgets the command; the connection still holds, frees it. */
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
    const char                 *argv[3];
    size_t                      argvlen[3];

    if (rd->ping_wait.timer_set
        || rd->cmd.state != NGX_HTTP_MASTODON_REDIS_READY)
    {
        return;
    }

    argv[0] = "PUBLISH";
    argvlen[0] = sizeof("PUBLISH") - 1;
    argv[1] = (const char *) rd->channel;
    argvlen[1] = rd->channel_len;
    argv[2] = "ping";
    argvlen[2] = sizeof("ping") - 1;

    if (ngx_http_mastodon_redis_call(&rd->cmd, 3, argv, argvlen,
                                     ngx_http_mastodon_redis_pong, NULL)
        != NGX_OK)
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
ngx_http_mastodon_redis_pong(ngx_http_mastodon_redis_conn_t *rc,
    redisReply *reply, void *data)
{
    ngx_msec_t                       prev;
    ngx_http_mastodon_redis_t       *rd = &ngx_http_mastodon_redis;
    ngx_http_mastodon_redis_conn_t  *ps = &rd->pubsub;

    if (rc == NULL) {
        return;                 /* the connection went */
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


/*
 * Subscribes an operation (a stream, usually) to a channel: handler(op,
 * event, message, data) hears NGX_HTTP_MASTODON_REDIS_SUBSCRIBED once
 * Redis confirmed (again after a reconnect), _MESSAGE for each message
 * (valid during the call), _DROPPED when the pub/sub connection went:
 * messages are lost until the next _SUBSCRIBED.  If the channel was
 * subscribed already, ngx_http_mastodon_redis_subscribed() is true at once
 * and no _SUBSCRIBED comes.  The subscription ends with
 * ngx_http_mastodon_redis_unsubscribe() or when the operation is
 * cancelled or ended.  NULL: out of memory or a bad name.
 */
ngx_http_mastodon_redis_sub_t *
ngx_http_mastodon_redis_subscribe(ngx_http_mastodon_op_t *op,
    ngx_str_t *channel, ngx_http_mastodon_redis_message_pt handler,
    void *data)
{
    ngx_http_mastodon_redis_sub_t      *sub;
    ngx_http_mastodon_redis_channel_t  *ch;

    if (channel->len == 0
        || channel->len > NGX_HTTP_MASTODON_REDIS_MAX_CHANNEL)
    {
        return NULL;
    }

    sub = ngx_calloc(sizeof(ngx_http_mastodon_redis_sub_t), op->log);
    if (sub == NULL) {
        return NULL;
    }

    ch = ngx_http_mastodon_redis_channel(channel, 1);
    if (ch == NULL) {
        ngx_free(sub);
        return NULL;
    }

    sub->channel = ch;
    sub->op = op;
    sub->handler = handler;
    sub->data = data;

    /* already subscribed and confirmed: live at once */
    sub->confirmed = (ch->subscribed && ch->inflight == 0);

    ngx_queue_insert_tail(&ch->subs, &sub->queue);
    ch->nsubs++;

    ngx_http_mastodon_op_call_add(op, &sub->call,
                                  ngx_http_mastodon_redis_sub_cancel);

    if (ch->nsubs == 1) {
        ngx_http_mastodon_redis_channel_sync(ch);
    }

    return sub;
}


ngx_uint_t
ngx_http_mastodon_redis_subscribed(ngx_http_mastodon_redis_sub_t *sub)
{
    return sub->confirmed;
}


/* The subscription goes; the last of its channel sends UNSUBSCRIBE. */
void
ngx_http_mastodon_redis_unsubscribe(ngx_http_mastodon_redis_sub_t *sub)
{
    ngx_http_mastodon_redis_channel_t  *ch;

    if (sub->removed) {
        return;
    }

    ch = sub->channel;

    sub->removed = 1;
    ch->nsubs--;

    /* may free the operation: not touched again */
    ngx_http_mastodon_op_call_done(sub->op, &sub->call);

    if (ch->busy) {
        return;                 /* freed once its handlers have run */
    }

    ngx_queue_remove(&sub->queue);
    ngx_free(sub);

    ngx_http_mastodon_redis_channel_sync(ch);
}


static void
ngx_http_mastodon_redis_sub_cancel(ngx_http_mastodon_op_call_t *call)
{
    /* the first field */
    ngx_http_mastodon_redis_unsubscribe((ngx_http_mastodon_redis_sub_t *)
                                        call);
}


static ngx_http_mastodon_redis_channel_t *
ngx_http_mastodon_redis_channel(ngx_str_t *name, ngx_uint_t create)
{
    uint32_t                            hash;
    ngx_str_node_t                     *sn;
    ngx_http_mastodon_redis_t          *rd = &ngx_http_mastodon_redis;
    ngx_http_mastodon_redis_channel_t  *ch;

    hash = ngx_crc32_long(name->data, name->len);

    sn = ngx_str_rbtree_lookup(&rd->channels, name, hash);
    if (sn) {
        return (ngx_http_mastodon_redis_channel_t *) sn;   /* the first */
    }

    if (!create) {
        return NULL;
    }

    ch = ngx_calloc(sizeof(ngx_http_mastodon_redis_channel_t) + name->len,
                    rd->log);
    if (ch == NULL) {
        return NULL;
    }

    ch->sn.str.data = (u_char *) (ch + 1);
    ch->sn.str.len = name->len;
    ngx_memcpy(ch->sn.str.data, name->data, name->len);
    ch->sn.node.key = hash;

    ngx_queue_init(&ch->subs);
    ngx_rbtree_insert(&rd->channels, &ch->sn.node);
    ngx_queue_insert_tail(&rd->channel_list, &ch->queue);

    return ch;
}


/*
 * Brings Redis in line with the channel's subscribers: SUBSCRIBE when it
 * has some and the last command sent was not that, UNSUBSCRIBE when it has
 * none.  Sent only on a ready connection; a new one subscribes every
 * channel (_ready()).  The channel goes once nobody wants it and Redis
 * confirmed what was sent.
 */
static void
ngx_http_mastodon_redis_channel_sync(ngx_http_mastodon_redis_channel_t *ch)
{
    ngx_uint_t                  want;
    ngx_http_mastodon_redis_t  *rd = &ngx_http_mastodon_redis;
    const char                 *argv[2];
    size_t                      argvlen[2];

    want = (ch->nsubs > 0);

    if (rd->pubsub.state == NGX_HTTP_MASTODON_REDIS_READY
        && want != ch->subscribed)
    {
        argv[0] = want ? "SUBSCRIBE" : "UNSUBSCRIBE";
        argvlen[0] = want ? sizeof("SUBSCRIBE") - 1
                          : sizeof("UNSUBSCRIBE") - 1;
        argv[1] = (const char *) ch->sn.str.data;
        argvlen[1] = ch->sn.str.len;

        /* the confirmations are routed by channel, not by order */
        if (ngx_http_mastodon_redis_append(&rd->pubsub, 2, argv, argvlen,
                                           NULL)
            == NGX_OK)
        {
            ch->subscribed = want;
            ch->inflight++;
        }
    }

    if (ch->nsubs == 0 && ch->inflight == 0 && ch->busy == 0) {
        ngx_rbtree_delete(&rd->channels, &ch->sn.node);
        ngx_queue_remove(&ch->queue);
        ngx_free(ch);
    }
}


/*
 * Tells the channel's subscribers, those there when it starts: a handler
 * may subscribe and unsubscribe (itself or others) meanwhile.
 */
static void
ngx_http_mastodon_redis_channel_notify(ngx_http_mastodon_redis_channel_t *ch,
    ngx_http_mastodon_redis_event_e event, ngx_str_t *message)
{
    ngx_queue_t                    *q, *last;
    ngx_http_mastodon_redis_sub_t  *sub;

    if (ngx_queue_empty(&ch->subs)) {
        return;
    }

    ch->busy++;

    last = ngx_queue_last(&ch->subs);

    for (q = ngx_queue_head(&ch->subs); /* void */; q = ngx_queue_next(q)) {
        sub = ngx_queue_data(q, ngx_http_mastodon_redis_sub_t, queue);

        if (!sub->removed) {
            if (event == NGX_HTTP_MASTODON_REDIS_SUBSCRIBED) {
                if (sub->confirmed) {
                    goto next;
                }

                sub->confirmed = 1;

            } else if (event == NGX_HTTP_MASTODON_REDIS_DROPPED) {
                sub->confirmed = 0;
            }

            sub->handler(sub->op, event, message, sub->data);
        }

    next:

        if (q == last) {
            break;
        }
    }

    ch->busy--;

    ngx_http_mastodon_redis_channel_settle(ch);
}


/* After handlers ran: the subscriptions they ended go, then maybe Redis'. */
static void
ngx_http_mastodon_redis_channel_settle(ngx_http_mastodon_redis_channel_t *ch)
{
    ngx_queue_t                    *q, *next;
    ngx_http_mastodon_redis_sub_t  *sub;

    if (ch->busy) {
        return;
    }

    for (q = ngx_queue_head(&ch->subs);
         q != ngx_queue_sentinel(&ch->subs);
         q = next)
    {
        next = ngx_queue_next(q);
        sub = ngx_queue_data(q, ngx_http_mastodon_redis_sub_t, queue);

        if (sub->removed) {
            ngx_queue_remove(q);
            ngx_free(sub);
        }
    }

    ngx_http_mastodon_redis_channel_sync(ch);
}


/*
 * A push message on the pub/sub connection: a message or a confirmation.
 * NGX_DECLINED: something else, the answer of a command (AUTH, SETNAME).
 */
static ngx_int_t
ngx_http_mastodon_redis_pubsub_route(redisReply *reply)
{
    ngx_str_t                           kind, name, message;
    ngx_http_mastodon_redis_t          *rd = &ngx_http_mastodon_redis;
    ngx_http_mastodon_redis_conn_t     *ps = &rd->pubsub;
    ngx_http_mastodon_redis_channel_t  *ch;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_STRING)
    {
        return NGX_DECLINED;
    }

    kind.data = (u_char *) reply->element[0]->str;
    kind.len = reply->element[0]->len;
    name.data = (u_char *) reply->element[1]->str;
    name.len = reply->element[1]->len;

    if (kind.len == 7 && ngx_strncmp(kind.data, "message", 7) == 0) {

        if (reply->element[2]->type != REDIS_REPLY_STRING) {
            return NGX_DECLINED;
        }

        ps->seen = ngx_current_msec;

        if (name.len == rd->channel_len
            && ngx_strncmp(name.data, rd->channel, name.len) == 0)
        {
            return NGX_OK;      /* a ping */
        }

        ch = ngx_http_mastodon_redis_channel(&name, 0);

        if (ch && ch->nsubs) {
            message.data = (u_char *) reply->element[2]->str;
            message.len = reply->element[2]->len;

            ngx_http_mastodon_redis_channel_notify(ch,
                                          NGX_HTTP_MASTODON_REDIS_MESSAGE,
                                          &message);
        }

        return NGX_OK;
    }

    if (!(kind.len == 9 && ngx_strncmp(kind.data, "subscribe", 9) == 0)
        && !(kind.len == 11 && ngx_strncmp(kind.data, "unsubscribe", 11) == 0))
    {
        return NGX_DECLINED;
    }

    ps->seen = ngx_current_msec;

    if (name.len == rd->channel_len
        && ngx_strncmp(name.data, rd->channel, name.len) == 0)
    {
        if (ps->state == NGX_HTTP_MASTODON_REDIS_CONNECTING) {
            ngx_http_mastodon_redis_ready(ps);
        }

        return NGX_OK;
    }

    ch = ngx_http_mastodon_redis_channel(&name, 0);
    if (ch == NULL || ch->inflight == 0) {
        return NGX_OK;
    }

    if (--ch->inflight == 0 && ch->subscribed) {
        ngx_http_mastodon_redis_channel_notify(ch,
                                          NGX_HTTP_MASTODON_REDIS_SUBSCRIBED,
                                          NULL);
        return NGX_OK;
    }

    ngx_http_mastodon_redis_channel_settle(ch);

    return NGX_OK;
}


/*
 * The pub/sub connection went: nothing sent is answered any more, and
 * every subscriber hears that messages may be lost until it is subscribed
 * again.  A channel held while its handlers run stays valid, so its next
 * is taken after them; channels made meanwhile are not told.
 */
static void
ngx_http_mastodon_redis_pubsub_dropped(void)
{
    ngx_queue_t                        *q, *next;
    ngx_http_mastodon_redis_t          *rd = &ngx_http_mastodon_redis;
    ngx_http_mastodon_redis_channel_t  *ch;

    for (q = ngx_queue_head(&rd->channel_list);
         q != ngx_queue_sentinel(&rd->channel_list);
         q = ngx_queue_next(q))
    {
        ch = ngx_queue_data(q, ngx_http_mastodon_redis_channel_t, queue);

        ch->inflight = 0;
        ch->subscribed = 0;
        ch->tell_drop = (ch->nsubs > 0);
    }

    q = ngx_queue_head(&rd->channel_list);

    while (q != ngx_queue_sentinel(&rd->channel_list)) {
        ch = ngx_queue_data(q, ngx_http_mastodon_redis_channel_t, queue);

        ch->busy++;

        if (ch->tell_drop) {
            ch->tell_drop = 0;
            ngx_http_mastodon_redis_channel_notify(ch,
                                          NGX_HTTP_MASTODON_REDIS_DROPPED,
                                          NULL);
        }

        next = ngx_queue_next(q);

        ch->busy--;
        ngx_http_mastodon_redis_channel_settle(ch);

        q = next;
    }
}


/*
 * A connection attempt: the handshake is queued at once, sent when TCP
 * (and TLS) are up.  Numeric addresses only (checked at configuration
 * time): no DNS.
 */
static ngx_int_t
ngx_http_mastodon_redis_connect(ngx_http_mastodon_redis_conn_t *rc)
{
    int                              tcp_nodelay;
    ngx_err_t                        err;
    ngx_uint_t                       i;
    ngx_int_t                        event;
    ngx_socket_t                     s;
    ngx_addr_t                      *addr;
    ngx_connection_t                *c;
    ngx_http_mastodon_redis_t       *rd = &ngx_http_mastodon_redis;
    ngx_http_mastodon_redis_link_t  *link;
    u_char                           why[NGX_MAX_ERROR_STR];

    addr = &rd->conf->redis_addr;

    link = ngx_calloc(sizeof(ngx_http_mastodon_redis_link_t), rd->log);
    if (link == NULL) {
        ngx_http_mastodon_redis_failed(rc, "connect", "out of memory");
        return NGX_ERROR;
    }

    link->reader = redisReaderCreate();
    if (link->reader == NULL) {
        ngx_free(link);
        ngx_http_mastodon_redis_failed(rc, "connect", "out of memory");
        return NGX_ERROR;
    }

    ngx_queue_init(&link->pending);
    link->log = *rd->log;           /* its own action, not the cycle's */
    link->log.action = "talking to Redis";
    link->rc = rc;

    rc->link = link;
    rc->state = NGX_HTTP_MASTODON_REDIS_CONNECTING;

    if (rc == &rd->cmd) {
        /* maybe a restarted Redis: each script goes whole once more */
        for (i = 0; i < rd->nscripts; i++) {
            rd->scripts[i].sent = 0;
        }
    }

    /* the time to connect covers TLS and the handshake: a hung Redis fails */
    ngx_add_timer(&rc->connect_timer, rd->conf->redis_connect_timeout);

    if (ngx_http_mastodon_redis_handshake(rc) != NGX_OK) {
        ngx_http_mastodon_redis_failed(rc, "connect", "handshake not queued");
        return NGX_ERROR;
    }

    s = ngx_socket(addr->sockaddr->sa_family, SOCK_STREAM, 0);

    if (s == (ngx_socket_t) -1) {
        err = ngx_socket_errno;
        *ngx_strerror(err, why, sizeof(why) - 1) = '\0';
        ngx_http_mastodon_redis_failed(rc, "socket", (char *) why);
        return NGX_ERROR;
    }

    c = ngx_get_connection(s, &link->log);

    if (c == NULL) {
        (void) ngx_close_socket(s);
        ngx_http_mastodon_redis_failed(rc, "connect",
                                       "no free worker_connections");
        return NGX_ERROR;
    }

    link->connection = c;
    c->data = link;

    /* for OpenSSL's state (ngx_ssl_create_connection()); goes with c */
    c->pool = ngx_create_pool(512, c->log);
    if (c->pool == NULL) {
        ngx_http_mastodon_redis_failed(rc, "connect", "out of memory");
        return NGX_ERROR;
    }

    c->type = SOCK_STREAM;
    c->recv = ngx_recv;
    c->send = ngx_send;
    c->recv_chain = ngx_recv_chain;
    c->send_chain = ngx_send_chain;
    c->log_error = NGX_ERROR_INFO;   /* failures are ours to log */
    c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);

    c->read->handler = ngx_http_mastodon_redis_connected;
    c->write->handler = ngx_http_mastodon_redis_connected;
    c->read->log = c->log;
    c->write->log = c->log;

    if (ngx_nonblocking(s) == -1) {
        err = ngx_socket_errno;
        *ngx_strerror(err, why, sizeof(why) - 1) = '\0';
        ngx_http_mastodon_redis_failed(rc, "connect", (char *) why);
        return NGX_ERROR;
    }

    if (addr->sockaddr->sa_family != AF_UNIX) {
        /* commands are small and answered one by one */
        tcp_nodelay = 1;
        (void) setsockopt(s, IPPROTO_TCP, TCP_NODELAY,
                          (const void *) &tcp_nodelay, sizeof(int));
    }

    /* as ngx_event_connect_peer(): edge-triggered where epoll is */
    if (ngx_add_conn) {
        if (ngx_add_conn(c) == NGX_ERROR) {
            ngx_http_mastodon_redis_failed(rc, "connect",
                                           "event registration failed");
            return NGX_ERROR;
        }

    } else {
        event = (ngx_event_flags & NGX_USE_CLEAR_EVENT) ? NGX_CLEAR_EVENT
                                                        : NGX_LEVEL_EVENT;

        if (ngx_add_event(c->read, NGX_READ_EVENT, event) != NGX_OK
            || ngx_add_event(c->write, NGX_WRITE_EVENT, event) != NGX_OK)
        {
            ngx_http_mastodon_redis_failed(rc, "connect",
                                           "event registration failed");
            return NGX_ERROR;
        }
    }

    if (connect(s, addr->sockaddr, addr->socklen) == -1) {
        err = ngx_socket_errno;

        if (err != NGX_EINPROGRESS) {
            *ngx_strerror(err, why, sizeof(why) - 1) = '\0';
            ngx_http_mastodon_redis_failed(rc, "connect", (char *) why);
            return NGX_ERROR;
        }

        return NGX_OK;          /* _connected() when it is writable */
    }

    /* a unix socket connects at once */
    c->write->ready = 1;
    ngx_http_mastodon_redis_tcp_connected(link);

    return NGX_OK;
}


/* The socket connected, or failed to. */
static void
ngx_http_mastodon_redis_connected(ngx_event_t *ev)
{
    int                              err;
    socklen_t                        len;
    ngx_connection_t                *c = ev->data;
    ngx_http_mastodon_redis_link_t  *link = c->data;
    u_char                           why[NGX_MAX_ERROR_STR];

    err = 0;
    len = sizeof(int);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len) == -1) {
        err = ngx_socket_errno;
    }

    if (err) {
        *ngx_strerror(err, why, sizeof(why) - 1) = '\0';
        ngx_http_mastodon_redis_failed(link->rc, "connect", (char *) why);
        return;
    }

    if (!c->write->ready) {
        return;                 /* not yet */
    }

    ngx_http_mastodon_redis_tcp_connected(link);
}


static void
ngx_http_mastodon_redis_tcp_connected(ngx_http_mastodon_redis_link_t *link)
{
#if (NGX_SSL)
    ngx_int_t                        rc;
    ngx_connection_t                *c = link->connection;
    ngx_http_mastodon_main_conf_t   *mcf = ngx_http_mastodon_redis.conf;

    if (mcf->redis_ssl) {
        if (ngx_ssl_create_connection(mcf->redis_ssl, c, NGX_SSL_CLIENT)
            != NGX_OK)
        {
            ngx_http_mastodon_redis_failed(link->rc, "TLS",
                                           "no TLS connection");
            return;
        }

        /* the output buffer may move between two tries of one write */
        SSL_set_mode(c->ssl->connection,
                     SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

        if (!mcf->redis_ssl_name_ip
            && SSL_set_tlsext_host_name(c->ssl->connection,
                                        (char *) mcf->redis_ssl_name.data)
               == 0)
        {
            ngx_http_mastodon_redis_failed(link->rc, "TLS",
                                           "server name not set");
            return;
        }

        rc = ngx_ssl_handshake(c);

        if (rc == NGX_AGAIN) {
            c->ssl->handler = ngx_http_mastodon_redis_ssl_handshaked;
            return;
        }

        ngx_http_mastodon_redis_ssl_handshaked(c);
        return;
    }
#endif

    ngx_http_mastodon_redis_established(link);
}


#if (NGX_SSL)

/* The handshake ended: the server's certificate is checked, as Mastodon's. */
static void
ngx_http_mastodon_redis_ssl_handshaked(ngx_connection_t *c)
{
    long                             v;
    int                              match;
    X509                            *cert;
    ngx_http_mastodon_redis_link_t  *link = c->data;
    ngx_http_mastodon_main_conf_t   *mcf = ngx_http_mastodon_redis.conf;
    u_char                           why[NGX_MAX_ERROR_STR];

    if (!c->ssl->handshaked) {
        ngx_http_mastodon_redis_failed(link->rc, "TLS handshake",
                                       "refused or broken");
        return;
    }

    v = SSL_get_verify_result(c->ssl->connection);

    if (v != X509_V_OK) {
        *ngx_snprintf(why, sizeof(why) - 1,
                      "certificate verify error: (%l:%s)",
                      v, X509_verify_cert_error_string(v)) = '\0';
        ngx_http_mastodon_redis_failed(link->rc, "TLS", (char *) why);
        return;
    }

#if (OPENSSL_VERSION_NUMBER >= 0x30000000L)
    cert = SSL_get1_peer_certificate(c->ssl->connection);
#else
    cert = SSL_get_peer_certificate(c->ssl->connection);
#endif

    if (cert == NULL) {
        ngx_http_mastodon_redis_failed(link->rc, "TLS",
                                       "no server certificate");
        return;
    }

    if (mcf->redis_ssl_name_ip) {
        match = X509_check_ip_asc(cert, (char *) mcf->redis_ssl_name.data, 0);
    } else {
        match = X509_check_host(cert, (char *) mcf->redis_ssl_name.data,
                                mcf->redis_ssl_name.len, 0, NULL);
    }

    X509_free(cert);

    if (match != 1) {
        *ngx_snprintf(why, sizeof(why) - 1,
                      "certificate does not match \"%V\"",
                      &mcf->redis_ssl_name) = '\0';
        ngx_http_mastodon_redis_failed(link->rc, "TLS", (char *) why);
        return;
    }

    ngx_http_mastodon_redis_established(link);
}

#endif


/* TCP and TLS are up: what was queued goes, replies are read. */
static void
ngx_http_mastodon_redis_established(ngx_http_mastodon_redis_link_t *link)
{
    ngx_connection_t  *c = link->connection;

    link->established = 1;

    c->read->handler = ngx_http_mastodon_redis_read_handler;
    c->write->handler = ngx_http_mastodon_redis_write_handler;

    link->busy++;       /* a failed write frees nothing under our feet */
    ngx_http_mastodon_redis_flush(link);
    link->busy--;

    if (link->closed) {
        ngx_http_mastodon_redis_link_free(link);
        return;
    }

    if (c->read->ready) {
        /* OpenSSL may hold bytes already: no edge would tell */
        ngx_post_event(c->read, &ngx_posted_events);
        return;
    }

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_http_mastodon_redis_failed(link->rc, "connection",
                                       "event registration failed");
    }
}


/*
 * Queued before the connection completes; replies come in order, the
 * commands of operations after them.  Ready once the name is answered
 * (the pub/sub connection: once subscribed to the worker's channel).
 */
static ngx_int_t
ngx_http_mastodon_redis_handshake(ngx_http_mastodon_redis_conn_t *rc)
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

        if (ngx_http_mastodon_redis_call(rc, n, argv, argvlen,
                                       ngx_http_mastodon_redis_handshake_reply,
                                       (void *) "AUTH")
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (mcf->redis_db && rc == &rd->cmd) {
        argv[0] = "SELECT";
        argvlen[0] = 6;
        argv[1] = (const char *) db;
        argvlen[1] = ngx_sprintf(db, "%i", mcf->redis_db) - db;

        if (ngx_http_mastodon_redis_call(rc, 2, argv, argvlen,
                                       ngx_http_mastodon_redis_handshake_reply,
                                       (void *) "SELECT")
            != NGX_OK)
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

    if (ngx_http_mastodon_redis_call(rc, 3, argv, argvlen,
                                     ngx_http_mastodon_redis_named, NULL)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (rc == &rd->pubsub) {
        argv[0] = "SUBSCRIBE";
        argvlen[0] = 9;
        argv[1] = (const char *) rd->channel;
        argvlen[1] = rd->channel_len;

        /* its confirmation is routed as a push message */
        if (ngx_http_mastodon_redis_append(rc, 2, argv, argvlen, NULL)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* AUTH or SELECT answered: only a refusal matters. */
static void
ngx_http_mastodon_redis_handshake_reply(ngx_http_mastodon_redis_conn_t *rc,
    redisReply *reply, void *data)
{
    if (rc == NULL || reply->type != REDIS_REPLY_ERROR) {
        return;
    }

    /* a wrong password or database */
    ngx_http_mastodon_redis_failed(rc, (char *) data, reply->str);
}


static void
ngx_http_mastodon_redis_named(ngx_http_mastodon_redis_conn_t *rc,
    redisReply *reply, void *data)
{
    if (rc == NULL || rc->state != NGX_HTTP_MASTODON_REDIS_CONNECTING) {
        return;
    }

    /* the name is for CLIENT LIST; an ACL may refuse it, not AUTH */
    if (reply->type == REDIS_REPLY_ERROR
        && ngx_strncmp(reply->str, "NOAUTH", 6) == 0)
    {
        ngx_http_mastodon_redis_failed(rc, "CLIENT SETNAME", reply->str);
        return;
    }

    if (rc == &ngx_http_mastodon_redis.cmd) {
        ngx_http_mastodon_redis_ready(rc);
    }

    /* the pub/sub connection is ready once subscribed */
}


static void
ngx_http_mastodon_redis_ready(ngx_http_mastodon_redis_conn_t *rc)
{
    ngx_queue_t                        *q, *next;
    ngx_http_mastodon_redis_t          *rd = &ngx_http_mastodon_redis;
    ngx_http_mastodon_redis_channel_t  *ch;

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

    if (rc != &rd->pubsub) {
        return;
    }

    /* every channel wanted, again after a reconnect */
    for (q = ngx_queue_head(&rd->channel_list);
         q != ngx_queue_sentinel(&rd->channel_list);
         q = next)
    {
        next = ngx_queue_next(q);
        ch = ngx_queue_data(q, ngx_http_mastodon_redis_channel_t, queue);

        ngx_http_mastodon_redis_channel_sync(ch);
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


/* The connection goes; every command awaiting a reply is answered NULL. */
static void
ngx_http_mastodon_redis_drop(ngx_http_mastodon_redis_conn_t *rc)
{
    ngx_http_mastodon_redis_t       *rd = &ngx_http_mastodon_redis;
    ngx_http_mastodon_redis_link_t  *link;

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

    link = rc->link;
    if (link == NULL) {
        return;
    }

    rc->link = NULL;

    ngx_http_mastodon_redis_link_close(link);

    if (rc == &rd->pubsub) {
        ngx_http_mastodon_redis_pubsub_dropped();
    }
}


/*
 * Formats a command into the connection's output buffer, sent by the
 * posted write event at the end of this event loop iteration (with the
 * other commands of the iteration); pending, if given, hears the reply.
 */
static ngx_int_t
ngx_http_mastodon_redis_append(ngx_http_mastodon_redis_conn_t *rc, int argc,
    const char **argv, const size_t *argvlen,
    ngx_http_mastodon_redis_pending_t *pending)
{
    int                              len;
    char                            *cmd;
    size_t                           size;
    u_char                          *out;
    ngx_connection_t                *c;
    ngx_http_mastodon_redis_link_t  *link;

    link = rc->link;
    if (link == NULL) {
        return NGX_ERROR;
    }

    len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
    if (len < 0) {
        return NGX_ERROR;
    }

    if (link->len + len > link->size) {
        /* what is unsent moves to the start of a bigger buffer */
        size = ngx_max(2 * link->size, 4096);
        size = ngx_max(size, link->len - link->sent + len);

        out = ngx_alloc(size, ngx_http_mastodon_redis.log);
        if (out == NULL) {
            free(cmd);
            return NGX_ERROR;
        }

        if (link->out) {
            ngx_memcpy(out, link->out + link->sent, link->len - link->sent);
            ngx_free(link->out);
        }

        link->len -= link->sent;
        link->sent = 0;
        link->out = out;
        link->size = size;
    }

    ngx_memcpy(link->out + link->len, cmd, len);
    link->len += len;
    free(cmd);

    if (pending) {
        ngx_queue_insert_tail(&link->pending, &pending->queue);
    }

    c = link->connection;

    if (link->established && !c->write->posted) {
        ngx_post_event(c->write, &ngx_posted_events);
    }

    return NGX_OK;
}


/* A command of our own: the FIFO entry is allocated and freed here. */
static ngx_int_t
ngx_http_mastodon_redis_call(ngx_http_mastodon_redis_conn_t *rc, int argc,
    const char **argv, const size_t *argvlen,
    ngx_http_mastodon_redis_reply_pt handler, void *data)
{
    ngx_http_mastodon_redis_pending_t  *p;

    p = ngx_alloc(sizeof(ngx_http_mastodon_redis_pending_t),
                  ngx_http_mastodon_redis.log);
    if (p == NULL) {
        return NGX_ERROR;
    }

    p->handler = handler;
    p->data = data;
    p->own = 1;

    if (ngx_http_mastodon_redis_append(rc, argc, argv, argvlen, p)
        != NGX_OK)
    {
        ngx_free(p);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_mastodon_redis_write_handler(ngx_event_t *wev)
{
    ngx_connection_t  *c = wev->data;

    ngx_http_mastodon_redis_flush(c->data);
}


static void
ngx_http_mastodon_redis_flush(ngx_http_mastodon_redis_link_t *link)
{
    ssize_t            n;
    ngx_connection_t  *c = link->connection;

    while (link->sent < link->len) {
        n = c->send(c, link->out + link->sent, link->len - link->sent);

        if (n == NGX_AGAIN) {
            if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
                ngx_http_mastodon_redis_failed(link->rc, "connection",
                                               "event registration failed");
            }

            return;
        }

        if (n == NGX_ERROR) {
            ngx_http_mastodon_redis_failed(link->rc, "connection",
                                           "write failed");
            return;
        }

        link->sent += n;
    }

    link->sent = 0;
    link->len = 0;

    if (link->size > NGX_HTTP_MASTODON_REDIS_OUT_KEEP) {
        ngx_free(link->out);
        link->out = NULL;
        link->size = 0;
    }
}


/*
 * Read until nginx says NGX_AGAIN: with edge-triggered events, and bytes
 * OpenSSL holds, no further event would come for what is left.
 */
static void
ngx_http_mastodon_redis_read_handler(ngx_event_t *rev)
{
    ssize_t                          n;
    ngx_connection_t                *c = rev->data;
    ngx_http_mastodon_redis_link_t  *link = c->data;
    u_char                           buf[NGX_HTTP_MASTODON_REDIS_READ_SIZE];

    link->busy++;

    for ( ;; ) {
        n = c->recv(c, buf, sizeof(buf));

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(rev, 0) != NGX_OK) {
                ngx_http_mastodon_redis_failed(link->rc, "connection",
                                               "event registration failed");
            }

            break;
        }

        if (n == 0 || n == NGX_ERROR) {
            ngx_http_mastodon_redis_failed(link->rc, "connection",
                                           n == 0 ? "closed by Redis"
                                                  : "read failed");
            break;
        }

        if (redisReaderFeed(link->reader, (const char *) buf, n)
            != REDIS_OK)
        {
            ngx_http_mastodon_redis_failed(link->rc, "connection",
                                           "out of memory");
            break;
        }

        ngx_http_mastodon_redis_dispatch(link);

        if (link->closed) {
            break;              /* c is gone */
        }
    }

    if (--link->busy == 0 && link->closed) {
        ngx_http_mastodon_redis_link_free(link);
    }
}


/* Each complete reply goes to the command at the head of the FIFO. */
static void
ngx_http_mastodon_redis_dispatch(ngx_http_mastodon_redis_link_t *link)
{
    void                               *r;
    unsigned                            own;
    ngx_queue_t                        *q;
    redisReply                         *reply;
    ngx_http_mastodon_redis_conn_t     *rc;
    ngx_http_mastodon_redis_pending_t  *p;
    u_char                              why[256];

    while (!link->closed) {
        rc = link->rc;

        if (redisReaderGetReply(link->reader, &r) != REDIS_OK) {
            *ngx_snprintf(why, sizeof(why) - 1, "protocol error: %s",
                          link->reader->errstr) = '\0';
            ngx_http_mastodon_redis_failed(rc, "connection", (char *) why);
            return;
        }

        if (r == NULL) {
            return;             /* more to read */
        }

        reply = r;

        if (rc == &ngx_http_mastodon_redis.pubsub
            && ngx_http_mastodon_redis_pubsub_route(reply) == NGX_OK)
        {
            freeReplyObject(reply);
            continue;
        }

        if (ngx_queue_empty(&link->pending)
            && rc == &ngx_http_mastodon_redis.pubsub
            && reply->type == REDIS_REPLY_ERROR)
        {
            /* a SUBSCRIBE refused (an ACL): that channel stays silent */
            ngx_log_error(NGX_LOG_ERR, ngx_http_mastodon_redis.log, 0,
                          "mastodon: Redis pubsub refused a subscription: %s",
                          reply->str);
            freeReplyObject(reply);
            continue;
        }

        if (ngx_queue_empty(&link->pending)) {
            *ngx_snprintf(why, sizeof(why) - 1, "unexpected reply%s%s",
                          reply->type == REDIS_REPLY_ERROR ? ": " : "",
                          reply->type == REDIS_REPLY_ERROR ? reply->str : "")
                = '\0';
            freeReplyObject(reply);
            ngx_http_mastodon_redis_failed(rc, "connection", (char *) why);
            return;
        }

        q = ngx_queue_head(&link->pending);
        ngx_queue_remove(q);
        p = ngx_queue_data(q, ngx_http_mastodon_redis_pending_t, queue);
        own = p->own;

        /* may drop the connection, or free p (a command) */
        p->handler(rc, reply, p->data);

        if (own) {
            ngx_free(p);
        }

        freeReplyObject(reply);
    }
}


/*
 * The socket goes now; the link once its read handler returned.  Every
 * command awaiting a reply is answered NULL.
 */
static void
ngx_http_mastodon_redis_link_close(ngx_http_mastodon_redis_link_t *link)
{
    unsigned                            own;
    ngx_pool_t                         *pool;
    ngx_queue_t                        *q;
    ngx_connection_t                   *c;
    ngx_http_mastodon_redis_pending_t  *p;

    link->rc = NULL;
    link->closed = 1;

    c = link->connection;
    link->connection = NULL;

    if (c) {
#if (NGX_SSL)
        if (c->ssl) {
            /* no close_notify to a server that may hang */
            c->ssl->no_wait_shutdown = 1;
            c->ssl->no_send_shutdown = 1;
            (void) ngx_ssl_shutdown(c);
        }
#endif
        pool = c->pool;
        ngx_close_connection(c);

        if (pool) {
            ngx_destroy_pool(pool);
        }
    }

    while (!ngx_queue_empty(&link->pending)) {
        q = ngx_queue_head(&link->pending);
        ngx_queue_remove(q);
        p = ngx_queue_data(q, ngx_http_mastodon_redis_pending_t, queue);
        own = p->own;

        p->handler(NULL, NULL, p->data);

        if (own) {
            ngx_free(p);
        }
    }

    if (link->busy == 0) {
        ngx_http_mastodon_redis_link_free(link);
    }
}


static void
ngx_http_mastodon_redis_link_free(ngx_http_mastodon_redis_link_t *link)
{
    redisReaderFree(link->reader);

    if (link->out) {
        ngx_free(link->out);
    }

    ngx_free(link);
}
