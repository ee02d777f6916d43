/*
 * The streaming API, as Mastodon's streaming server (streaming/index.js)
 * answers it: GET /api/v1/streaming/<stream> as server-sent events, the
 * health check, and the stream a connection holds.
 *
 * A stream is a request that does not end: its connection subscribes to
 * the Redis channels of what it asked for (Mastodon's channel names, the
 * worker publishes there: ARCHITECTURE.md "Streaming channels") and to its
 * token's (timeline:access_token:<id>, where a revocation says "kill").
 * Each subscription is an operation of the connection's (backend/_op.c)
 * with its own small pool, so subscribing and unsubscribing do not grow
 * the request's pool; a message is written as it comes, or, for update
 * and status.update on the public and hashtag streams, after Mastodon's
 * streaming filter (the viewers' blocks, mutes, domain blocks and
 * languages): one statement per event for all of the worker's viewers who
 * heard it in one round of the event loop (a batch, in an operation of the
 * worker's, freed once the event is out).  What is written waits in heap chunks freed as the
 * socket takes them; more than mastodon_streaming_max_output waiting and
 * the client is dropped.  A heartbeat comment (":thump") every
 * mastodon_streaming_heartbeat; a worker that exits closes its streams at
 * once (the connection counts as idle: ngx_close_idle_connections()).
 */

#include "ngx_http_mastodon_streaming.h"
#include "ngx_http_mastodon_cache.h"
#include "mstdn_hashtag.h"
#include <openssl/sha.h>
#include <wslay/wslay.h>
#include "mstdn_json.h"
#include "mstdn_oauth.h"


#define NGX_HTTP_MASTODON_STREAM_USER          1
#define NGX_HTTP_MASTODON_STREAM_NOTIFICATION  2
#define NGX_HTTP_MASTODON_STREAM_PUBLIC        3
#define NGX_HTTP_MASTODON_STREAM_HASHTAG       4
#define NGX_HTTP_MASTODON_STREAM_LIST          5
#define NGX_HTTP_MASTODON_STREAM_DIRECT        6

#define NGX_HTTP_MASTODON_STREAM_CHANNELS      3
/* the user streams' announcement events (worker/announcements.c): ids,
 * rendered here once per message and worker */
#define NGX_HTTP_MASTODON_STREAM_ANNOUNCEMENTS  "timeline:announcements"


typedef struct ngx_http_mastodon_stream_s  ngx_http_mastodon_stream_t;

/* Mastodon's stream names and what they need */
typedef struct {
    ngx_str_t                      name;        /* "public:local:media" */
    ngx_uint_t                     kind;        /* _STREAM_* */
    const char                    *channel;     /* PUBLIC: the channel */
    unsigned                       filter:1;    /* needsFiltering */
    unsigned                       anyone:1;    /* PUBLIC_CHANNELS: no scope */
} ngx_http_mastodon_stream_type_t;

/* what one stream asked for: channel ids and its name in events */
typedef struct {
    ngx_http_mastodon_stream_type_t  *type;
    ngx_str_t                      channels[NGX_HTTP_MASTODON_STREAM_CHANNELS];
    ngx_uint_t                     nchannels;
    ngx_str_t                      name;        /* JSON: ["hashtag","x"] */
    int64_t                        list_id;     /* LIST: to check */
} ngx_http_mastodon_stream_req_t;

/* a subscription of a stream, in its own operation's pool */
typedef struct {
    ngx_queue_t                    queue;       /* in the stream's */
    ngx_http_mastodon_stream_t    *stream;
    ngx_http_mastodon_op_t        *op;
    ngx_uint_t                     serial;      /* names it after it went */
    ngx_str_t                      name;
    ngx_str_t                      key;         /* channels joined by ';' */
    ngx_uint_t                     context;     /* ST_HOME, ST_PUBLIC, 0 */
    unsigned                       filter:1;
    unsigned                       system:1;    /* the token's channel */
} ngx_http_mastodon_stream_sub_t;

/* output waiting for the socket: heap, freed once written */
typedef struct {
    ngx_queue_t                    queue;
    ngx_chain_t                    cl;
    ngx_buf_t                      b;
    size_t                         size;
} ngx_http_mastodon_stream_chunk_t;

struct ngx_http_mastodon_stream_s {
    ngx_http_request_t            *request;
    ngx_http_mastodon_main_conf_t *mcf;
    ngx_http_mastodon_op_stream_t *ops;
    int64_t                        account_id;
    int64_t                        token_id;
    ngx_queue_t                    subs;
    ngx_queue_t                    batched;     /* its entries in batches */
    ngx_queue_t                    chunks;
    size_t                         queued;      /* bytes in chunks */
    ngx_uint_t                     serial;
    ngx_event_t                    heartbeat;
    ngx_event_t                    drop;        /* posted: closes it */
    wslay_event_context_ptr        ws;          /* a WebSocket's */
    ngx_uint_t                     pinged;      /* no pong since */
    unsigned                       done:1;      /* being finalized */
};

/* an event rendered or filtered for its viewer, in its own operation */
typedef struct {
    ngx_http_mastodon_stream_t    *stream;
    ngx_http_mastodon_op_t        *op;
    ngx_uint_t                     serial;      /* of its subscription */
    ngx_str_t                      event;
    ngx_str_t                      payload;
    int64_t                        status_id;   /* to render, or 0 */
    ngx_uint_t                     context;     /* the viewer's filters */
} ngx_http_mastodon_stream_check_t;

/*
 * An update or status.update of a public or hashtag channel for every
 * subscription of this worker that heard it in one round of the event
 * loop: rendered once if it came as an id, then the streaming server's
 * filter for all of their viewers in one statement.  Likewise an
 * announcement or announcement.reaction (by id) of the user streams:
 * rendered once, as no one sees it, for all of them.  In an operation of
 * its own (a worker's, not a connection's), ended once delivered.
 */
typedef struct {
    ngx_queue_t                    queue;       /* gathering: in the list */
    ngx_http_mastodon_op_t        *op;
    ngx_event_t                    run;         /* posted: the round ended */
    ngx_str_t                      message;     /* as it came: the key */
    ngx_str_t                      event;
    ngx_str_t                      payload;     /* empty: rendered first */
    int64_t                        status_id;
    ngx_queue_t                    entries;
    ngx_uint_t                     nentries;
    int64_t                       *hidden;      /* viewers, sorted */
    ngx_uint_t                     nhidden;
    int64_t                       *filtering;   /* viewers, sorted */
    ngx_uint_t                     nfiltering;
    int64_t                        announcement_id;     /* or 0 */
    ngx_str_t                      reaction;    /* announcement.reaction's */
    unsigned                       gathering:1;
} ngx_http_mastodon_stream_batch_t;

/* a subscription in a batch; stream NULL: it went meanwhile */
typedef struct {
    ngx_queue_t                    queue;       /* in its batch's */
    ngx_queue_t                    link;        /* in its stream's */
    ngx_http_mastodon_stream_t    *stream;
    ngx_uint_t                     serial;
} ngx_http_mastodon_stream_entry_t;


static ngx_int_t ngx_http_mastodon_stream_parse(ngx_pool_t *pool,
    ngx_http_mastodon_auth_t *a, mstdn_value_t *params,
    ngx_http_mastodon_stream_type_t *type, ngx_http_mastodon_stream_req_t *sr,
    const char **error);
static ngx_uint_t ngx_http_mastodon_stream_scoped(ngx_http_mastodon_auth_t *a,
    ngx_http_mastodon_stream_type_t *type);
static void ngx_http_mastodon_stream_list_checked(
    ngx_http_mastodon_pg_batch_t *b);
static ngx_http_mastodon_stream_t *ngx_http_mastodon_stream_create(
    ngx_http_request_t *r, ngx_http_mastodon_ctx_t *ctx);
static ngx_int_t ngx_http_mastodon_stream_start(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_stream_req_t *sr);
static ngx_int_t ngx_http_mastodon_stream_subscribe(
    ngx_http_mastodon_stream_t *s, ngx_http_mastodon_stream_req_t *sr,
    ngx_uint_t system);
static void ngx_http_mastodon_stream_message(ngx_http_mastodon_op_t *op,
    ngx_http_mastodon_redis_event_e event, ngx_str_t *message, void *data);
static ngx_int_t ngx_http_mastodon_stream_split(ngx_str_t *msg,
    ngx_str_t *event, ngx_str_t *payload, ngx_str_t *status_id,
    ngx_str_t *entity_id);
static u_char *ngx_http_mastodon_stream_skip(u_char *p, u_char *last);
static ngx_int_t ngx_http_mastodon_stream_check(
    ngx_http_mastodon_stream_sub_t *sub, ngx_str_t *event,
    ngx_str_t *payload, ngx_str_t *status_id, ngx_str_t *entity_id);
static void ngx_http_mastodon_stream_notified(ngx_http_mastodon_op_t *op,
    ngx_int_t rc, ngx_str_t *json, void *data);
static void ngx_http_mastodon_stream_rendered(ngx_http_request_t *r,
    ngx_http_mastodon_statuses_t *st, void *data);
static ngx_int_t ngx_http_mastodon_stream_filtered(
    ngx_http_mastodon_stream_check_t *ck, ngx_http_mastodon_statuses_t *st);
static int64_t ngx_http_mastodon_stream_payload_id(ngx_http_mastodon_op_t *op,
    ngx_str_t *payload);
static ngx_int_t ngx_http_mastodon_stream_batch_add(
    ngx_http_mastodon_stream_sub_t *sub, ngx_str_t *message);
static void ngx_http_mastodon_stream_batch_run(ngx_event_t *ev);
static void ngx_http_mastodon_stream_batch_rendered(ngx_http_request_t *r,
    ngx_http_mastodon_statuses_t *st, void *data);
static ngx_int_t ngx_http_mastodon_stream_batch_filter(
    ngx_http_mastodon_stream_batch_t *bt);
static void ngx_http_mastodon_stream_batch_checked(
    ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_stream_batch_end(
    ngx_http_mastodon_stream_batch_t *bt);
static ngx_uint_t ngx_http_mastodon_stream_announcement(ngx_str_t *event);
static ngx_int_t ngx_http_mastodon_stream_announcement_ids(
    ngx_http_mastodon_stream_batch_t *bt);
static void ngx_http_mastodon_stream_announced(ngx_http_mastodon_op_t *op,
    ngx_int_t rc, ngx_str_t *json, void *data);
static ngx_http_mastodon_stream_sub_t *ngx_http_mastodon_stream_entry_sub(
    ngx_http_mastodon_stream_entry_t *e);
static void ngx_http_mastodon_stream_deliver(
    ngx_http_mastodon_stream_check_t *ck);
static void ngx_http_mastodon_stream_send(ngx_http_mastodon_stream_t *s,
    ngx_str_t *sub_name, ngx_str_t *event, ngx_str_t *payload);
static ngx_int_t ngx_http_mastodon_stream_output(
    ngx_http_mastodon_stream_t *s, u_char *data, size_t len);
static void ngx_http_mastodon_stream_reap(ngx_http_mastodon_stream_t *s);
static void ngx_http_mastodon_stream_write(ngx_http_request_t *r);
static void ngx_http_mastodon_stream_read(ngx_http_request_t *r);
static void ngx_http_mastodon_stream_thump(ngx_event_t *ev);
static void ngx_http_mastodon_stream_end(ngx_http_mastodon_stream_t *s,
    ngx_int_t rc);
static void ngx_http_mastodon_stream_drop(ngx_http_mastodon_stream_t *s);
static void ngx_http_mastodon_stream_dropped(ngx_event_t *ev);
static void ngx_http_mastodon_stream_cleanup(void *data);
static void ngx_http_mastodon_ws_going_away(ngx_http_mastodon_stream_t *s);
static void ngx_http_mastodon_ws_send(ngx_http_mastodon_stream_t *s,
    ngx_str_t *name, ngx_str_t *event, ngx_str_t *payload);
static void ngx_http_mastodon_ws_ping(ngx_http_mastodon_stream_t *s);
static void ngx_http_mastodon_ws_flush(ngx_http_mastodon_stream_t *s);
static void ngx_http_mastodon_ws_subscribe(ngx_http_mastodon_stream_t *s,
    mstdn_value_t *msg, ngx_uint_t unsubscribe);


static ngx_http_mastodon_stream_type_t  ngx_http_mastodon_stream_types[] = {
    { ngx_string("user"), NGX_HTTP_MASTODON_STREAM_USER, NULL, 0, 0 },
    { ngx_string("user:notification"), NGX_HTTP_MASTODON_STREAM_NOTIFICATION,
      NULL, 0, 0 },
    { ngx_string("public"), NGX_HTTP_MASTODON_STREAM_PUBLIC,
      "timeline:public", 1, 1 },
    { ngx_string("public:media"), NGX_HTTP_MASTODON_STREAM_PUBLIC,
      "timeline:public:media", 1, 1 },
    { ngx_string("public:local"), NGX_HTTP_MASTODON_STREAM_PUBLIC,
      "timeline:public:local", 1, 1 },
    { ngx_string("public:local:media"), NGX_HTTP_MASTODON_STREAM_PUBLIC,
      "timeline:public:local:media", 1, 1 },
    { ngx_string("public:remote"), NGX_HTTP_MASTODON_STREAM_PUBLIC,
      "timeline:public:remote", 1, 1 },
    { ngx_string("public:remote:media"), NGX_HTTP_MASTODON_STREAM_PUBLIC,
      "timeline:public:remote:media", 1, 1 },
    { ngx_string("hashtag"), NGX_HTTP_MASTODON_STREAM_HASHTAG, NULL, 1, 1 },
    { ngx_string("hashtag:local"), NGX_HTTP_MASTODON_STREAM_HASHTAG, NULL,
      1, 1 },
    { ngx_string("list"), NGX_HTTP_MASTODON_STREAM_LIST, NULL, 0, 0 },
    { ngx_string("direct"), NGX_HTTP_MASTODON_STREAM_DIRECT, NULL, 0, 0 },
    { ngx_null_string, 0, NULL, 0, 0 }
};


/* the event-stream paths (channelNameFromPath); only_media: the next type */
static struct {
    ngx_str_t                      path;
    ngx_str_t                      stream;
    ngx_uint_t                     media;
} ngx_http_mastodon_stream_paths[] = {
    { ngx_string("/api/v1/streaming/user"), ngx_string("user"), 0 },
    { ngx_string("/api/v1/streaming/user/notification"),
      ngx_string("user:notification"), 0 },
    { ngx_string("/api/v1/streaming/public"), ngx_string("public"), 1 },
    { ngx_string("/api/v1/streaming/public/local"),
      ngx_string("public:local"), 1 },
    { ngx_string("/api/v1/streaming/public/remote"),
      ngx_string("public:remote"), 1 },
    { ngx_string("/api/v1/streaming/hashtag"), ngx_string("hashtag"), 0 },
    { ngx_string("/api/v1/streaming/hashtag/local"),
      ngx_string("hashtag:local"), 0 },
    { ngx_string("/api/v1/streaming/list"), ngx_string("list"), 0 },
    { ngx_string("/api/v1/streaming/direct"), ngx_string("direct"), 0 },
    { ngx_null_string, ngx_null_string, 0 }
};


/* authorizeListAccess */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_stream_list_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT 1 FROM lists WHERE id = $1::bigint AND account_id = $2::bigint"
        " LIMIT 1", 2);

/*
 * The streaming server's filter of update and status.update on public and
 * hashtag streams, for all the viewers of one event at once: $1 the
 * viewers, $2 the author, $3 the author and the mentioned accounts, $4 the
 * author's domain (NULL: local), $5 the status' language.  The rows: the
 * viewers it is not for (hidden), and those who have custom filters at
 * all (the status loader tells whether one matches); the others get the
 * event as it is.
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_stream_filter_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT id, hidden FROM (SELECT v.id,"
        " EXISTS (SELECT 1 FROM users u WHERE u.account_id = v.id"
        "  AND $5::text IS NOT NULL AND cardinality(u.chosen_languages) > 0"
        "  AND NOT $5::text = ANY(u.chosen_languages))"
        " OR EXISTS (SELECT 1 FROM blocks b"
        "  WHERE (b.account_id = v.id"
        "  AND b.target_account_id = ANY($3::bigint[]))"
        "  OR (b.account_id = $2::bigint AND b.target_account_id = v.id))"
        " OR EXISTS (SELECT 1 FROM mutes m WHERE m.account_id = v.id"
        "  AND m.target_account_id = ANY($3::bigint[]))"
        " OR ($4::text IS NOT NULL AND EXISTS (SELECT 1"
        "  FROM account_domain_blocks d WHERE d.account_id = v.id"
        "  AND d.domain = $4::text)) AS hidden,"
        " EXISTS (SELECT 1 FROM custom_filters f WHERE f.account_id = v.id)"
        "  AS filters"
        " FROM (SELECT DISTINCT id FROM unnest($1::bigint[]) AS u (id)) v) x"
        " WHERE hidden OR filters", 5);

/* the batches of this round's messages, until the round ends */
static ngx_queue_t  ngx_http_mastodon_stream_gathering;


ngx_int_t
ngx_http_mastodon_streaming_health(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    static ngx_str_t  type = ngx_string("text/plain");
    static ngx_str_t  ok = ngx_string("OK");

    return ngx_http_mastodon_send_text(r, NGX_HTTP_OK, &type, &ok);
}


ngx_int_t
ngx_http_mastodon_streaming_unknown(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    ctx->error_message = "Unknown channel requested";
    return NGX_HTTP_BAD_REQUEST;
}


ngx_int_t
ngx_http_mastodon_streaming_sse(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    ngx_str_t                         uri, *stream, *path;
    ngx_int_t                         rc;
    ngx_uint_t                        i;
    const char                      **values;
    ngx_http_mastodon_pg_batch_t     *b;
    ngx_http_mastodon_stream_req_t   *sr;
    ngx_http_mastodon_stream_type_t  *type;

    uri = r->uri;
    if (uri.len > 1 && uri.data[uri.len - 1] == '/') {
        uri.len--;
    }

    stream = NULL;

    for (i = 0; ngx_http_mastodon_stream_paths[i].path.len; i++) {
        path = &ngx_http_mastodon_stream_paths[i].path;

        if (uri.len == path->len
            && ngx_strncmp(uri.data, path->data, uri.len) == 0)
        {
            stream = &ngx_http_mastodon_stream_paths[i].stream;
            break;
        }
    }

    if (stream == NULL) {
        return ngx_http_mastodon_streaming_unknown(r, ctx);
    }

    for (type = ngx_http_mastodon_stream_types; type->name.len; type++) {
        if (type->name.len == stream->len
            && ngx_strncmp(type->name.data, stream->data, stream->len) == 0)
        {
            break;
        }
    }

    if (ngx_http_mastodon_stream_paths[i].media
        && mstdn_param_bool(ctx->params, "only_media", 0))
    {
        type++;                 /* its :media variant follows it */
    }

    if (!ngx_http_mastodon_stream_scoped(ctx->auth, type)) {
        ctx->error_message = "Access token does not have the required scopes";
        return NGX_HTTP_UNAUTHORIZED;
    }

    sr = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_stream_req_t));
    if (sr == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_mastodon_stream_parse(r->pool, ctx->auth, ctx->params, type,
                                        sr, &ctx->error_message);
    if (rc != NGX_OK) {
        return rc;
    }

    if (type->kind != NGX_HTTP_MASTODON_STREAM_LIST) {
        return ngx_http_mastodon_stream_start(r, ctx, sr);
    }

    values = ngx_palloc(r->pool, 2 * sizeof(char *));
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[0] = ngx_http_mastodon_pg_int64(r, sr->list_id);
    values[1] = ngx_http_mastodon_pg_int64(r, ctx->auth->account_id);

    b = ngx_http_mastodon_pg_batch(r, ngx_http_mastodon_stream_list_checked,
                                   sr);
    if (values[0] == NULL || values[1] == NULL || b == NULL
        || ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_stream_list_stmt,
                                    values)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mastodon_pg_run(b) != NGX_OK) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}


/*
 * checkScopes: the public and hashtag streams need none; the notification
 * stream read or read:notifications, the others read or read:statuses.
 */
static ngx_uint_t
ngx_http_mastodon_stream_scoped(ngx_http_mastodon_auth_t *a,
    ngx_http_mastodon_stream_type_t *type)
{
    if (type->anyone) {
        return 1;
    }

    if (type->kind == NGX_HTTP_MASTODON_STREAM_NOTIFICATION) {
        return mstdn_scopes_allow((char *) a->scopes.data, a->scopes.len,
                                  "read read:notifications");
    }

    return mstdn_scopes_allow((char *) a->scopes.data, a->scopes.len,
                              "read read:statuses");
}


/* channelNameToIds and streamNameFromChannelName */
static ngx_int_t
ngx_http_mastodon_stream_parse(ngx_pool_t *pool, ngx_http_mastodon_auth_t *a,
    mstdn_value_t *params, ngx_http_mastodon_stream_type_t *type,
    ngx_http_mastodon_stream_req_t *sr, const char **error)
{
    u_char         *p;
    size_t          len, nlen;
    char           *tag;
    const char     *s;
    mstdn_alloc_t   alloc;

    sr->type = type;

    switch (type->kind) {

    case NGX_HTTP_MASTODON_STREAM_USER:
        sr->channels[0].data = ngx_pnalloc(pool,
                                           sizeof("timeline:") + NGX_INT64_LEN);
        sr->channels[1].data = ngx_pnalloc(pool,
                                           sizeof("timeline::notifications")
                                           + NGX_INT64_LEN);
        if (sr->channels[0].data == NULL || sr->channels[1].data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        sr->channels[0].len = ngx_sprintf(sr->channels[0].data, "timeline:%L",
                                          a->account_id)
                              - sr->channels[0].data;
        sr->nchannels = 1;

        /* notifications only with a scope that reads them */
        if (mstdn_scopes_allow((char *) a->scopes.data, a->scopes.len,
                               "read read:notifications"))
        {
            sr->channels[1].len = ngx_sprintf(sr->channels[1].data,
                                              "timeline:%L:notifications",
                                              a->account_id)
                                  - sr->channels[1].data;
            sr->nchannels = 2;
        }

        /*
         * Mastodon publishes announcement events on every local user's
         * timeline:<id>; here on one channel all user streams hear, so an
         * event is one PUBLISH and one delivery per nginx worker
         */
        sr->channels[sr->nchannels].data = (u_char *)
                                    NGX_HTTP_MASTODON_STREAM_ANNOUNCEMENTS;
        sr->channels[sr->nchannels].len =
                            sizeof(NGX_HTTP_MASTODON_STREAM_ANNOUNCEMENTS) - 1;
        sr->nchannels++;

        break;

    case NGX_HTTP_MASTODON_STREAM_NOTIFICATION:
        sr->channels[0].data = ngx_pnalloc(pool,
                                           sizeof("timeline::notifications")
                                           + NGX_INT64_LEN);
        if (sr->channels[0].data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        sr->channels[0].len = ngx_sprintf(sr->channels[0].data,
                                          "timeline:%L:notifications",
                                          a->account_id)
                              - sr->channels[0].data;
        sr->nchannels = 1;
        break;

    case NGX_HTTP_MASTODON_STREAM_PUBLIC:
        sr->channels[0].data = (u_char *) type->channel;
        sr->channels[0].len = ngx_strlen(type->channel);
        sr->nchannels = 1;
        break;

    case NGX_HTTP_MASTODON_STREAM_DIRECT:
        sr->channels[0].data = ngx_pnalloc(pool, sizeof("timeline:direct:")
                                                    + NGX_INT64_LEN);
        if (sr->channels[0].data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        sr->channels[0].len = ngx_sprintf(sr->channels[0].data,
                                          "timeline:direct:%L", a->account_id)
                              - sr->channels[0].data;
        sr->nchannels = 1;
        break;

    case NGX_HTTP_MASTODON_STREAM_HASHTAG:
        s = mstdn_param_str(params, "tag", &len);
        if (s == NULL || len == 0) {
            *error = "Missing tag name parameter";
            return NGX_HTTP_BAD_REQUEST;
        }

        alloc.alloc = ngx_http_mastodon_pool_alloc;
        alloc.ctx = pool;

        tag = mstdn_hashtag_normalize(s, len, &alloc, &nlen);
        if (tag == NULL) {
            *error = "Missing tag name parameter";
            return NGX_HTTP_BAD_REQUEST;
        }

        p = ngx_pnalloc(pool, sizeof("timeline:hashtag::local") + nlen);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        sr->channels[0].data = p;
        sr->channels[0].len = ngx_sprintf(p, "timeline:hashtag:%*s%s", nlen,
                                          tag,
                                          type->name.len > sizeof("hashtag") - 1
                                          ? ":local" : "")
                              - p;
        sr->nchannels = 1;

        /* ["hashtag","<tag as asked>"] */
        p = ngx_pnalloc(pool, type->name.len + MSTDN_JSON_QUOTE_MAX(len)
                                 + sizeof("[\"\",]"));
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        sr->name.data = p;
        p = ngx_sprintf(p, "[\"%V\",", &type->name);
        p += mstdn_json_quote((char *) p, s, len);
        *p++ = ']';
        sr->name.len = p - sr->name.data;

        return NGX_OK;

    case NGX_HTTP_MASTODON_STREAM_LIST:
        s = mstdn_param_str(params, "list", &len);
        if (s == NULL || len == 0) {
            *error = "Missing list name parameter";
            return NGX_HTTP_BAD_REQUEST;
        }

        sr->list_id = ngx_atoof((u_char *) s, len);
        if (sr->list_id <= 0) {
            sr->list_id = 0;            /* no list of anyone's: refused */
        }

        p = ngx_pnalloc(pool, sizeof("timeline:list:") + len);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        sr->channels[0].data = p;
        sr->channels[0].len = ngx_sprintf(p, "timeline:list:%L", sr->list_id)
                              - p;
        sr->nchannels = 1;

        /* ["list","<list as asked>"] */
        p = ngx_pnalloc(pool, MSTDN_JSON_QUOTE_MAX(len)
                              + sizeof("[\"list\",]"));
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        sr->name.data = p;
        p = ngx_cpymem(p, "[\"list\",", sizeof("[\"list\",") - 1);
        p += mstdn_json_quote((char *) p, s, len);
        *p++ = ']';
        sr->name.len = p - sr->name.data;

        return NGX_OK;

    default:
        *error = "Unknown stream type";
        return NGX_HTTP_BAD_REQUEST;
    }

    p = ngx_pnalloc(pool, type->name.len + sizeof("[\"\"]"));
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    sr->name.data = p;
    sr->name.len = ngx_sprintf(p, "[\"%V\"]", &type->name) - p;

    return NGX_OK;
}


static void
ngx_http_mastodon_stream_list_checked(ngx_http_mastodon_pg_batch_t *b)
{
    PGresult                 *res;
    ngx_int_t                 rc;
    ngx_http_request_t       *r;
    ngx_http_mastodon_ctx_t  *ctx;

    r = b->request;
    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    /* any failure is Mastodon's "Not authorized" (its catch-all) */
    res = ngx_http_mastodon_pg_rows(b, 0);

    if (res == NULL || PQntuples(res) != 1) {
        ctx->error_message = "Not authorized to stream this list";
        ngx_http_mastodon_finalize(r, NGX_HTTP_UNAUTHORIZED);
        return;
    }

    rc = ngx_http_mastodon_stream_start(r, ctx, b->data);

    if (rc != NGX_DONE) {
        ngx_http_mastodon_finalize(r, rc);
    }
}


/*
 * A stream of the request: its operations, its cleanup, its token's
 * channel (a revocation closes it).
 */
static ngx_http_mastodon_stream_t *
ngx_http_mastodon_stream_create(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    u_char                          *p;
    ngx_pool_cleanup_t              *cln;
    ngx_http_mastodon_stream_t      *s;
    ngx_http_mastodon_stream_req_t   sys;

    s = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_stream_t));
    if (s == NULL) {
        return NULL;
    }

    ctx->data = s;
    s->request = r;
    s->mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);
    s->account_id = ctx->auth->account_id;
    s->token_id = ctx->auth->token_id;
    ngx_queue_init(&s->subs);
    ngx_queue_init(&s->batched);
    ngx_queue_init(&s->chunks);

    s->ops = ngx_http_mastodon_op_stream_create(r->connection, r->pool);
    if (s->ops == NULL) {
        return NULL;
    }

    /* after the operations': runs before them (cleanups run last first) */
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_mastodon_stream_cleanup;
    cln->data = s;

    ngx_memzero(&sys, sizeof(ngx_http_mastodon_stream_req_t));
    p = ngx_pnalloc(r->pool, sizeof("timeline:access_token:") + NGX_INT64_LEN);
    if (p == NULL) {
        return NULL;
    }

    sys.channels[0].data = p;
    sys.channels[0].len = ngx_sprintf(p, "timeline:access_token:%L",
                                      s->token_id)
                          - p;
    sys.nchannels = 1;

    if (ngx_http_mastodon_stream_subscribe(s, &sys, 1) != NGX_OK) {
        return NULL;
    }

    s->heartbeat.handler = ngx_http_mastodon_stream_thump;
    s->heartbeat.data = s;
    s->heartbeat.log = r->connection->log;
    s->heartbeat.cancelable = 1;

    return s;
}


/* streamToHttp: the header, ":)", the subscriptions, the heartbeat */
static ngx_int_t
ngx_http_mastodon_stream_start(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_stream_req_t *sr)
{
    ngx_int_t                    rc;
    ngx_http_mastodon_stream_t  *s;

    static ngx_str_t  type = ngx_string("text/event-stream");
    static ngx_str_t  no_store = ngx_string("no-store");

    s = ngx_http_mastodon_stream_create(r, ctx);
    if (s == NULL || ngx_http_mastodon_stream_subscribe(s, sr, 0) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_type = type;
    r->headers_out.content_type_len = type.len;
    r->headers_out.content_length_n = -1;

    if (ngx_http_mastodon_add_header(r, "Cache-Control", &no_store)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    r->read_event_handler = ngx_http_mastodon_stream_read;
    r->write_event_handler = ngx_http_mastodon_stream_write;

    /* a worker that exits closes it (ngx_close_idle_connections) */
    r->connection->idle = 1;

    ngx_add_timer(&s->heartbeat, s->mcf->streaming_heartbeat);

    if (ngx_http_mastodon_stream_output(s, (u_char *) ":)\n", 3) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_DONE;
}


/*
 * One subscription: its operation, its channels.  The operation's pool
 * holds it; unsubscribing (the WebSocket's) ends the operation.
 */
static ngx_int_t
ngx_http_mastodon_stream_subscribe(ngx_http_mastodon_stream_t *s,
    ngx_http_mastodon_stream_req_t *sr, ngx_uint_t system)
{
    u_char                          *p;
    size_t                           len;
    ngx_uint_t                       i;
    ngx_http_mastodon_op_t          *op;
    ngx_http_mastodon_stream_sub_t  *sub;

    op = ngx_http_mastodon_op_stream_op(s->ops);
    if (op == NULL) {
        return NGX_ERROR;
    }

    sub = ngx_pcalloc(op->pool, sizeof(ngx_http_mastodon_stream_sub_t));
    if (sub == NULL) {
        goto failed;
    }

    sub->stream = s;
    sub->op = op;
    sub->serial = ++s->serial;
    sub->system = system;
    sub->filter = sr->type ? sr->type->filter : 0;

    /* the custom filters' context of its statuses (notifications: theirs) */
    switch (sr->type ? sr->type->kind : 0) {

    case NGX_HTTP_MASTODON_STREAM_USER:
    case NGX_HTTP_MASTODON_STREAM_LIST:
        sub->context = NGX_HTTP_MASTODON_ST_HOME;
        break;

    case NGX_HTTP_MASTODON_STREAM_PUBLIC:
    case NGX_HTTP_MASTODON_STREAM_HASHTAG:
        sub->context = NGX_HTTP_MASTODON_ST_PUBLIC;
        break;

    default:
        sub->context = 0;
    }

    sub->name.data = ngx_pstrdup(op->pool, &sr->name);
    sub->name.len = sr->name.len;

    len = 0;
    for (i = 0; i < sr->nchannels; i++) {
        len += sr->channels[i].len + 1;
    }

    p = ngx_pnalloc(op->pool, len);
    if (p == NULL || (sr->name.len && sub->name.data == NULL)) {
        goto failed;
    }

    sub->key.data = p;

    for (i = 0; i < sr->nchannels; i++) {
        if (i) {
            *p++ = ';';
        }
        p = ngx_cpymem(p, sr->channels[i].data, sr->channels[i].len);

        if (ngx_http_mastodon_redis_subscribe(op, &sr->channels[i],
                                              ngx_http_mastodon_stream_message,
                                              sub)
            == NULL)
        {
            goto failed;
        }
    }

    sub->key.len = p - sub->key.data;

    op->data = sub;
    ngx_queue_insert_tail(&s->subs, &sub->queue);

    return NGX_OK;

failed:

    ngx_http_mastodon_op_end(op);

    return NGX_ERROR;
}


/* a message on one of a subscription's channels (streamFrom's listener) */
static void
ngx_http_mastodon_stream_message(ngx_http_mastodon_op_t *op,
    ngx_http_mastodon_redis_event_e event, ngx_str_t *message, void *data)
{
    ngx_str_t                        name, payload, status_id;
    ngx_str_t                        entity_id;
    ngx_uint_t                       update, entity, filters;
    ngx_http_mastodon_stream_t      *s;
    ngx_http_mastodon_stream_sub_t  *sub = data;

    if (event != NGX_HTTP_MASTODON_REDIS_MESSAGE) {
        return;         /* pub/sub is lossy: Mastodon's clients catch up */
    }

    s = sub->stream;

    if (s->done
        || ngx_http_mastodon_stream_split(message, &name, &payload,
                                          &status_id, &entity_id)
           != NGX_OK
        || name.len == 0)
    {
        return;
    }

    if (sub->system) {
        if (name.len == 4 && ngx_strncmp(name.data, "kill", 4) == 0) {
            ngx_log_error(NGX_LOG_INFO, s->request->connection->log, 0,
                          "mastodon: stream closed: its token was revoked");
            ngx_http_mastodon_stream_end(s, NGX_OK);
        }

        return;
    }

    update = (name.len == 6 && ngx_strncmp(name.data, "update", 6) == 0)
             || (name.len == 13
                 && ngx_strncmp(name.data, "status.update", 13) == 0);

    /* a notification or a conversation is named by its id */
    entity = (name.len == 12
              && ngx_strncmp(name.data, "notification", 12) == 0)
             || (name.len == 12
                 && ngx_strncmp(name.data, "conversation", 12) == 0);

    if (payload.len == 0 && ngx_http_mastodon_stream_announcement(&name)) {
        /* with every user stream of this worker that heard it */
        if (ngx_http_mastodon_stream_batch_add(sub, message) != NGX_OK) {
            ngx_log_error(NGX_LOG_ERR, s->request->connection->log, 0,
                          "mastodon: stream: an announcement event could "
                          "not be rendered");
        }

        return;
    }

    if (payload.len == 0
        && !(update && status_id.len)
        && !(entity && entity_id.len))
    {
        return;
    }

    /*
     * A viewer's status with its custom filters applied (a hide filter of
     * the stream's context: not sent; others: "filtered"), unless the
     * render cache knows the viewer has none: most cost nothing.
     */
    filters = update && sub->context && s->account_id
              && !ngx_http_mastodon_cache_has(NGX_HTTP_MASTODON_CACHE_FILTERS,
                                              s->account_id);

    if (sub->filter && update) {
        /* with every viewer of this worker who heard it (ids or text) */
        if (ngx_http_mastodon_stream_batch_add(sub, message) != NGX_OK) {
            ngx_log_error(NGX_LOG_ERR, s->request->connection->log, 0,
                          "mastodon: stream: an event could not be checked");
        }

        return;
    }

    if (payload.len == 0 || filters) {
        /* to be rendered or filtered here first */
        if (ngx_http_mastodon_stream_check(sub, &name, &payload, &status_id,
                                           &entity_id)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ERR, s->request->connection->log, 0,
                          "mastodon: stream: an event could not be checked");
        }

        return;
    }

    ngx_http_mastodon_stream_send(s, &sub->name, &name, &payload);
}


/*
 * The members "event" (a string, its text) and "payload" (a string's text,
 * or any other value as written) of a message, from its JSON text: what
 * the stream writes is the payload as the worker wrote it.
 */
static ngx_int_t
ngx_http_mastodon_stream_split(ngx_str_t *msg, ngx_str_t *event,
    ngx_str_t *payload, ngx_str_t *status_id, ngx_str_t *entity_id)
{
    u_char     *p, *last, *key, *v;
    size_t      klen;
    ngx_str_t  *to;

    ngx_str_null(event);
    ngx_str_null(payload);
    ngx_str_null(status_id);
    ngx_str_null(entity_id);

    p = msg->data;
    last = p + msg->len;

#define ngx_http_mastodon_stream_ws()                                         \
    while (p < last && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) \
        p++

    ngx_http_mastodon_stream_ws();

    if (p == last || *p++ != '{') {
        return NGX_ERROR;
    }

    for ( ;; ) {
        ngx_http_mastodon_stream_ws();

        if (p < last && *p == '}') {
            return NGX_OK;
        }

        if (p == last || *p != '"') {
            return NGX_ERROR;
        }

        key = p + 1;
        p = ngx_http_mastodon_stream_skip(p, last);
        if (p == NULL) {
            return NGX_ERROR;
        }
        klen = p - 1 - key;

        ngx_http_mastodon_stream_ws();

        if (p == last || *p++ != ':') {
            return NGX_ERROR;
        }

        ngx_http_mastodon_stream_ws();

        v = p;
        p = ngx_http_mastodon_stream_skip(p, last);
        if (p == NULL) {
            return NGX_ERROR;
        }

        to = NULL;
        if (klen == 5 && ngx_strncmp(key, "event", 5) == 0) {
            to = event;
        } else if (klen == 7 && ngx_strncmp(key, "payload", 7) == 0) {
            to = payload;
        } else if (klen == 9 && ngx_strncmp(key, "status_id", 9) == 0) {
            to = status_id;
        } else if ((klen == 15
                    && ngx_strncmp(key, "notification_id", 15) == 0)
                   || (klen == 15
                       && ngx_strncmp(key, "conversation_id", 15) == 0))
        {
            to = entity_id;
        }

        if (to) {
            if (*v == '"') {
                to->data = v + 1;
                to->len = p - v - 2;
            } else if (to == payload && *v != 'n') {    /* not null */
                to->data = v;
                to->len = p - v;
            }
        }

        ngx_http_mastodon_stream_ws();

        if (p < last && *p == ',') {
            p++;
            continue;
        }

        if (p < last && *p == '}') {
            return NGX_OK;
        }

        return NGX_ERROR;
    }

#undef ngx_http_mastodon_stream_ws
}


/* past one JSON value at p (its syntax trusted, its bounds not) */
static u_char *
ngx_http_mastodon_stream_skip(u_char *p, u_char *last)
{
    ngx_uint_t  depth, string;

    depth = 0;
    string = 0;

    for ( /* void */ ; p < last; p++) {

        if (string) {
            if (*p == '\\') {
                p++;
            } else if (*p == '"') {
                string = 0;
                if (depth == 0) {
                    return p + 1;
                }
            }
            continue;
        }

        switch (*p) {

        case '"':
            string = 1;
            break;

        case '{':
        case '[':
            depth++;
            break;

        case '}':
        case ']':
            if (depth == 0) {
                return p;       /* a scalar ended by its container */
            }
            if (--depth == 0) {
                return p + 1;
            }
            break;

        case ',':
        case ' ':
        case '\t':
        case '\r':
        case '\n':
            if (depth == 0) {
                return p;
            }
            break;
        }
    }

    return (depth == 0 && !string) ? p : NULL;
}


/*
 * An event that is not written as it came: an update for a viewer who may
 * have custom filters, the status' id only (the worker had no rendering: a
 * remote post) or a notification's or a conversation's id (always),
 * rendered here for the viewer first.  In an operation of its own, whose pool holds the
 * event until it is out.
 */
static ngx_int_t
ngx_http_mastodon_stream_check(ngx_http_mastodon_stream_sub_t *sub,
    ngx_str_t *event, ngx_str_t *payload, ngx_str_t *status_id,
    ngx_str_t *entity_id)
{
    int64_t                            id;
    ngx_int_t                          rc;
    ngx_http_mastodon_op_t            *op;
    ngx_http_mastodon_stream_t        *s;
    ngx_http_mastodon_statuses_t      *st;
    ngx_http_mastodon_stream_check_t  *ck;

    s = sub->stream;

    op = ngx_http_mastodon_op_stream_op(s->ops);
    if (op == NULL) {
        return NGX_ERROR;
    }

    ck = ngx_pcalloc(op->pool, sizeof(ngx_http_mastodon_stream_check_t));
    if (ck == NULL) {
        goto failed;
    }

    ck->stream = s;
    ck->op = op;
    ck->serial = sub->serial;
    ck->context = sub->context;
    ck->event.data = ngx_pstrdup(op->pool, event);
    ck->event.len = event->len;
    if (ck->event.data == NULL) {
        goto failed;
    }

    op->data = ck;

    if (payload->len) {
        ck->payload.data = ngx_pstrdup(op->pool, payload);
        ck->payload.len = payload->len;

        if (ck->payload.data == NULL) {
            goto failed;
        }

        if (!ck->context || s->account_id == 0
            || ngx_http_mastodon_cache_has(NGX_HTTP_MASTODON_CACHE_FILTERS,
                                           s->account_id))
        {
            ngx_http_mastodon_stream_deliver(ck);
            return NGX_OK;
        }

        /* the viewer's filters: the status loaded for it, by its id */
        ck->status_id = ngx_http_mastodon_stream_payload_id(op, &ck->payload);
        if (ck->status_id <= 0) {
            goto failed;
        }

        goto load;
    }

    if (status_id->len == 0) {
        /* as GET /api/v1/notifications/:id or /api/v1/conversations shows
         * it to the viewer */
        id = ngx_atoof(entity_id->data, entity_id->len);
        if (id <= 0) {
            goto failed;
        }

        rc = (event->len == 12
              && ngx_strncmp(event->data, "conversation", 12) == 0)
             ? ngx_http_mastodon_conversation_render(op, s->account_id, id,
                                           ngx_http_mastodon_stream_notified,
                                           ck)
             : ngx_http_mastodon_notification_render(op, s->account_id, id,
                                           ngx_http_mastodon_stream_notified,
                                           ck);
        if (rc != NGX_DONE) {
            goto failed;
        }

        return NGX_OK;
    }

    ck->status_id = ngx_atoof(status_id->data, status_id->len);
    if (ck->status_id <= 0) {
        goto failed;
    }

load:

    /* for this viewer: what it may not see (a hide filter of the stream's
     * context too) is not shown */
    st = ngx_http_mastodon_statuses_op(op, s->account_id, &ck->status_id, 1,
                                       ck->context);
    if (st == NULL
        || ngx_http_mastodon_statuses_load(st,
                                           ngx_http_mastodon_stream_rendered,
                                           ck)
           != NGX_DONE)
    {
        goto failed;
    }

    return NGX_OK;

failed:

    ngx_http_mastodon_op_end(op);

    return NGX_ERROR;
}


/* r is NULL: the operation is the stream's */
static void
ngx_http_mastodon_stream_rendered(ngx_http_request_t *r,
    ngx_http_mastodon_statuses_t *st, void *data)
{
    ngx_http_mastodon_stream_check_t  *ck = data;

    if (st->rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, ck->op->log, 0,
                      "mastodon: stream: status %L could not be rendered",
                      ck->status_id);
        ngx_http_mastodon_op_end(ck->op);
        return;
    }

    if (!ngx_http_mastodon_statuses_shown(st, 0)
        || (ck->payload.len == 0
            && ngx_http_mastodon_status_json(st, 0, &ck->payload) != NGX_OK)
        || ngx_http_mastodon_stream_filtered(ck, st) != NGX_OK)
    {
        ngx_http_mastodon_op_end(ck->op);
        return;
    }

    ngx_http_mastodon_stream_deliver(ck);
}


static void
ngx_http_mastodon_stream_notified(ngx_http_mastodon_op_t *op, ngx_int_t rc,
    ngx_str_t *json, void *data)
{
    ngx_http_mastodon_stream_check_t  *ck = data;

    if (rc != NGX_OK) {
        if (rc == NGX_ERROR) {
            ngx_log_error(NGX_LOG_ERR, op->log, 0,
                          "mastodon: stream: a %V could not be rendered",
                          &ck->event);
        }

        ngx_http_mastodon_op_end(op);
        return;
    }

    ck->payload = *json;

    ngx_http_mastodon_stream_deliver(ck);
}


/*
 * The viewer's FilterResult array of the status (the status loader's), as
 * the streaming server adds it: "filtered" as the payload's last member,
 * when a filter matched.
 */
static ngx_int_t
ngx_http_mastodon_stream_filtered(ngx_http_mastodon_stream_check_t *ck,
    ngx_http_mastodon_statuses_t *st)
{
    u_char                           *p;
    ngx_str_t                        *payload;
    ngx_http_mastodon_status_item_t  *it;

    it = st->items.elts;
    payload = &ck->payload;

    if (it[0].filtered.len == 0 || payload->len < 2
        || payload->data[payload->len - 1] != '}')
    {
        return NGX_OK;
    }

    p = ngx_pnalloc(ck->op->pool, payload->len + it[0].filtered.len
                                  + sizeof(",\"filtered\":") - 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    payload->data = ngx_cpymem(p, payload->data, payload->len - 1);
    payload->data = ngx_cpymem(payload->data, ",\"filtered\":",
                               sizeof(",\"filtered\":") - 1);
    payload->data = ngx_cpymem(payload->data, it[0].filtered.data,
                               it[0].filtered.len);
    *payload->data++ = '}';

    payload->len = payload->data - p;
    payload->data = p;

    return NGX_OK;
}


/* the id of a status payload: its "id" */
static int64_t
ngx_http_mastodon_stream_payload_id(ngx_http_mastodon_op_t *op,
    ngx_str_t *payload)
{
    char             err[64];
    const char      *id;
    mstdn_alloc_t    alloc;
    mstdn_limits_t   limits;
    mstdn_value_t   *status;

    alloc.alloc = ngx_http_mastodon_pool_alloc;
    alloc.ctx = op->pool;
    limits.max_depth = 32;
    limits.max_members = 100000;

    if (mstdn_json_parse((char *) payload->data, payload->len, &alloc,
                         &limits, &status, err, sizeof(err))
        != MSTDN_OK
        || status->type != MSTDN_OBJECT)
    {
        return -1;
    }

    id = mstdn_param_str(status, "id", NULL);
    if (id == NULL) {
        return -1;
    }

    return ngx_atoof((u_char *) id, ngx_strlen(id));
}


/*
 * An update of a filtered subscription joins the batch of its message
 * (the same text, heard on any channel in this round), which the first
 * makes: the batch runs once the round's messages were all heard.
 */
static ngx_int_t
ngx_http_mastodon_stream_batch_add(ngx_http_mastodon_stream_sub_t *sub,
    ngx_str_t *message)
{
    ngx_str_t                          status_id, entity_id;
    ngx_queue_t                       *q;
    ngx_http_mastodon_op_t            *op;
    ngx_http_mastodon_stream_batch_t  *bt;
    ngx_http_mastodon_stream_entry_t  *e;

    if (ngx_http_mastodon_stream_gathering.next == NULL) {
        ngx_queue_init(&ngx_http_mastodon_stream_gathering);
    }

    bt = NULL;

    for (q = ngx_queue_head(&ngx_http_mastodon_stream_gathering);
         q != ngx_queue_sentinel(&ngx_http_mastodon_stream_gathering);
         q = ngx_queue_next(q))
    {
        bt = ngx_queue_data(q, ngx_http_mastodon_stream_batch_t, queue);

        if (bt->message.len == message->len
            && ngx_memcmp(bt->message.data, message->data, message->len) == 0)
        {
            break;
        }

        bt = NULL;
    }

    if (bt == NULL) {
        op = ngx_http_mastodon_op_create(NGX_HTTP_MASTODON_OP_STREAM, NULL,
                                         ngx_cycle->log);
        if (op == NULL) {
            return NGX_ERROR;
        }

        bt = ngx_pcalloc(op->pool, sizeof(ngx_http_mastodon_stream_batch_t));
        if (bt == NULL) {
            ngx_http_mastodon_op_end(op);
            return NGX_ERROR;
        }

        bt->op = op;
        op->data = bt;
        ngx_queue_init(&bt->entries);

        bt->message.data = ngx_pstrdup(op->pool, message);
        bt->message.len = message->len;

        if (bt->message.data == NULL
            || ngx_http_mastodon_stream_split(&bt->message, &bt->event,
                                              &bt->payload, &status_id,
                                              &entity_id)
               != NGX_OK)
        {
            ngx_http_mastodon_op_end(op);
            return NGX_ERROR;
        }

        if (bt->payload.len == 0
            && ngx_http_mastodon_stream_announcement(&bt->event))
        {
            if (ngx_http_mastodon_stream_announcement_ids(bt) != NGX_OK) {
                ngx_http_mastodon_op_end(op);
                return NGX_ERROR;
            }

        } else if (bt->payload.len == 0) {
            bt->status_id = ngx_atoof(status_id.data, status_id.len);

            if (bt->status_id <= 0) {
                ngx_http_mastodon_op_end(op);
                return NGX_ERROR;
            }
        }

        bt->run.handler = ngx_http_mastodon_stream_batch_run;
        bt->run.data = bt;
        bt->run.log = op->log;

        bt->gathering = 1;
        ngx_queue_insert_tail(&ngx_http_mastodon_stream_gathering, &bt->queue);
        ngx_post_event(&bt->run, &ngx_posted_events);
    }

    e = ngx_palloc(bt->op->pool, sizeof(ngx_http_mastodon_stream_entry_t));
    if (e == NULL) {
        return NGX_ERROR;
    }

    e->stream = sub->stream;
    e->serial = sub->serial;
    ngx_queue_insert_tail(&bt->entries, &e->queue);
    ngx_queue_insert_tail(&sub->stream->batched, &e->link);
    bt->nentries++;

    return NGX_OK;
}


/* the round is over: the status rendered once if it came as an id */
static void
ngx_http_mastodon_stream_batch_run(ngx_event_t *ev)
{
    ngx_http_mastodon_statuses_t      *st;
    ngx_http_mastodon_stream_batch_t  *bt = ev->data;

    ngx_queue_remove(&bt->queue);
    bt->gathering = 0;

    if (bt->announcement_id) {
        if (ngx_http_mastodon_announcement_render(bt->op, bt->announcement_id,
                                                  bt->reaction.len
                                                  ? &bt->reaction : NULL,
                                          ngx_http_mastodon_stream_announced,
                                                  bt)
            != NGX_DONE)
        {
            goto failed;
        }

        return;
    }

    if (bt->payload.len) {
        if (ngx_http_mastodon_stream_batch_filter(bt) != NGX_OK) {
            goto failed;
        }

        return;
    }

    /* as anyone sees it (the public streams' is Mastodon's anonymous
     * rendering): the viewers' blocks are the filter's */
    st = ngx_http_mastodon_statuses_op(bt->op, 0, &bt->status_id, 1, 0);
    if (st == NULL
        || ngx_http_mastodon_statuses_load(st,
                                        ngx_http_mastodon_stream_batch_rendered,
                                        bt)
           != NGX_DONE)
    {
        goto failed;
    }

    return;

failed:

    ngx_log_error(NGX_LOG_ERR, bt->op->log, 0,
                  "mastodon: stream: an event could not be checked");
    ngx_http_mastodon_stream_batch_end(bt);
}


/* r is NULL: the operation is the batch's */
static void
ngx_http_mastodon_stream_batch_rendered(ngx_http_request_t *r,
    ngx_http_mastodon_statuses_t *st, void *data)
{
    ngx_http_mastodon_stream_batch_t  *bt = data;

    if (st->rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, bt->op->log, 0,
                      "mastodon: stream: status %L could not be rendered",
                      bt->status_id);
        ngx_http_mastodon_stream_batch_end(bt);
        return;
    }

    if (!ngx_http_mastodon_statuses_shown(st, 0)
        || ngx_http_mastodon_status_json(st, 0, &bt->payload) != NGX_OK
        || ngx_http_mastodon_stream_batch_filter(bt) != NGX_OK)
    {
        ngx_http_mastodon_stream_batch_end(bt);
    }
}


/*
 * The streaming server's filter, one statement for all of the batch's
 * viewers: the status' author, mentioned accounts, domain and language
 * from its payload, read once.
 */
static ngx_int_t
ngx_http_mastodon_stream_batch_filter(ngx_http_mastodon_stream_batch_t *bt)
{
    u_char                            *p;
    char                               err[64];
    size_t                             len;
    ngx_queue_t                       *q;
    const char                        *at, **values;
    mstdn_alloc_t                      alloc;
    mstdn_limits_t                     limits;
    mstdn_value_t                     *status, *account, *mentions, *m, *v;
    ngx_http_mastodon_op_t            *op;
    ngx_http_mastodon_pg_batch_t      *b;
    ngx_http_mastodon_stream_entry_t  *e;

    op = bt->op;

    values = ngx_pcalloc(op->pool, 5 * sizeof(char *));
    if (values == NULL) {
        return NGX_ERROR;
    }

    alloc.alloc = ngx_http_mastodon_pool_alloc;
    alloc.ctx = op->pool;
    limits.max_depth = 32;
    limits.max_members = 100000;

    if (mstdn_json_parse((char *) bt->payload.data, bt->payload.len, &alloc,
                         &limits, &status, err, sizeof(err))
        != MSTDN_OK
        || status->type != MSTDN_OBJECT)
    {
        return NGX_ERROR;
    }

    account = mstdn_object_get(status, "account");
    mentions = mstdn_object_get(status, "mentions");

    /* "{viewer,...}": those still there */
    p = ngx_pnalloc(op->pool, bt->nentries * (NGX_INT64_LEN + 1) + 3);
    if (p == NULL) {
        return NGX_ERROR;
    }

    values[0] = (const char *) p;
    *p++ = '{';

    for (q = ngx_queue_head(&bt->entries);
         q != ngx_queue_sentinel(&bt->entries);
         q = ngx_queue_next(q))
    {
        e = ngx_queue_data(q, ngx_http_mastodon_stream_entry_t, queue);

        if (e->stream && !e->stream->done) {
            p = ngx_sprintf(p, "%s%L", p[-1] == '{' ? "" : ",",
                            e->stream->account_id);
        }
    }

    if (p[-1] == '{') {
        ngx_http_mastodon_stream_batch_end(bt);     /* nobody is left */
        return NGX_OK;
    }

    *p++ = '}';
    *p = '\0';

    values[1] = account ? mstdn_param_str(account, "id", NULL) : NULL;

    /* "{author,mentioned...}" */
    len = sizeof("{}") + NGX_INT64_LEN;
    if (mentions && mentions->type == MSTDN_ARRAY) {
        len += mentions->count * (NGX_INT64_LEN + 1);
    }

    p = ngx_pnalloc(op->pool, len);
    if (values[1] == NULL || p == NULL) {
        return NGX_ERROR;
    }

    values[2] = (const char *) p;
    p = ngx_sprintf(p, "{%L", ngx_atoof((u_char *) values[1],
                                        ngx_strlen(values[1])));

    if (mentions && mentions->type == MSTDN_ARRAY) {
        for (m = mentions->first; m; m = m->next) {
            at = mstdn_param_str(m, "id", NULL);
            if (at) {
                p = ngx_sprintf(p, ",%L", ngx_atoof((u_char *) at,
                                                    ngx_strlen(at)));
            }
        }
    }

    *p++ = '}';
    *p = '\0';

    /* the domain of acct "user@domain" */
    at = mstdn_param_str(account, "acct", NULL);
    if (at) {
        at = strchr(at, '@');
        if (at) {
            values[3] = at + 1;
        }
    }

    v = mstdn_object_get(status, "language");
    if (v && v->type == MSTDN_STRING) {
        values[4] = v->str;
    }

    b = ngx_http_mastodon_pg_op_batch(op, ngx_http_mastodon_stream_batch_checked,
                                      bt);
    if (b == NULL
        || ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_stream_filter_stmt,
                                    values)
           != NGX_OK
        || ngx_http_mastodon_pg_run(b) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static int ngx_libc_cdecl
ngx_http_mastodon_stream_id_cmp(const void *one, const void *two)
{
    int64_t  a = *(const int64_t *) one, b = *(const int64_t *) two;

    return (a > b) - (a < b);
}


/* whether id is in ids (sorted) */
static ngx_uint_t
ngx_http_mastodon_stream_id_in(int64_t id, int64_t *ids, ngx_uint_t n)
{
    ngx_uint_t  lo, hi, mid;

    lo = 0;
    hi = n;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        if (ids[mid] == id) {
            return 1;
        }

        if (ids[mid] < id) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    return 0;
}


/*
 * The viewers the filter hides get nothing; those who have custom filters
 * get the event through them (unless the render cache knows none can
 * match); the others get it as it is.
 */
static void
ngx_http_mastodon_stream_batch_checked(ngx_http_mastodon_pg_batch_t *b)
{
    int                                i, n;
    int64_t                            viewer, id;
    PGresult                          *res;
    ngx_str_t                          none;
    ngx_queue_t                       *q;
    ngx_http_mastodon_stream_t        *s;
    ngx_http_mastodon_stream_sub_t    *sub;
    ngx_http_mastodon_stream_batch_t  *bt;
    ngx_http_mastodon_stream_entry_t  *e;

    bt = b->data;

    res = ngx_http_mastodon_pg_rows(b, 0);

    if (res == NULL) {
        /* Mastodon logs it and sends nothing */
        ngx_log_error(NGX_LOG_ERR, bt->op->log, 0,
                      "mastodon: stream: the viewers' filter failed");
        ngx_http_mastodon_stream_batch_end(bt);
        return;
    }

    n = PQntuples(res);

    bt->hidden = ngx_palloc(bt->op->pool, (n + 1) * sizeof(int64_t));
    bt->filtering = ngx_palloc(bt->op->pool, (n + 1) * sizeof(int64_t));
    if (bt->hidden == NULL || bt->filtering == NULL) {
        ngx_http_mastodon_stream_batch_end(bt);
        return;
    }

    for (i = 0; i < n; i++) {
        id = ngx_atoof((u_char *) PQgetvalue(res, i, 0),
                       PQgetlength(res, i, 0));

        if (ngx_http_mastodon_pg_bool(res, i, 1)) {
            bt->hidden[bt->nhidden++] = id;

        } else {
            bt->filtering[bt->nfiltering++] = id;
        }
    }

    ngx_qsort(bt->hidden, bt->nhidden, sizeof(int64_t),
              ngx_http_mastodon_stream_id_cmp);
    ngx_qsort(bt->filtering, bt->nfiltering, sizeof(int64_t),
              ngx_http_mastodon_stream_id_cmp);

    ngx_str_null(&none);

    for (q = ngx_queue_head(&bt->entries);
         q != ngx_queue_sentinel(&bt->entries);
         q = ngx_queue_next(q))
    {
        e = ngx_queue_data(q, ngx_http_mastodon_stream_entry_t, queue);
        s = e->stream;

        if (s == NULL || s->done) {
            continue;
        }

        viewer = s->account_id;

        if (ngx_http_mastodon_stream_id_in(viewer, bt->hidden, bt->nhidden)) {
            continue;
        }

        sub = ngx_http_mastodon_stream_entry_sub(e);
        if (sub == NULL) {
            continue;
        }

        if (sub->context && viewer
            && ngx_http_mastodon_stream_id_in(viewer, bt->filtering,
                                              bt->nfiltering)
            && !ngx_http_mastodon_cache_has(NGX_HTTP_MASTODON_CACHE_FILTERS,
                                            viewer))
        {
            if (ngx_http_mastodon_stream_check(sub, &bt->event, &bt->payload,
                                               &none, &none)
                != NGX_OK)
            {
                ngx_log_error(NGX_LOG_ERR, s->request->connection->log, 0,
                              "mastodon: stream: an event could not be "
                              "checked");
            }

            continue;
        }

        /* never ends the stream at once: it is dropped from a posted event */
        ngx_http_mastodon_stream_send(s, &sub->name, &bt->event,
                                      &bt->payload);
    }

    ngx_http_mastodon_stream_batch_end(bt);
}


/* the subscription of a batch's entry, if its stream still has it (a
 * WebSocket may have unsubscribed meanwhile) */
static ngx_http_mastodon_stream_sub_t *
ngx_http_mastodon_stream_entry_sub(ngx_http_mastodon_stream_entry_t *e)
{
    ngx_queue_t                     *q;
    ngx_http_mastodon_stream_sub_t  *sub;

    if (e->stream == NULL || e->stream->done) {
        return NULL;
    }

    for (q = ngx_queue_head(&e->stream->subs);
         q != ngx_queue_sentinel(&e->stream->subs);
         q = ngx_queue_next(q))
    {
        sub = ngx_queue_data(q, ngx_http_mastodon_stream_sub_t, queue);

        if (sub->serial == e->serial) {
            return sub;
        }
    }

    return NULL;
}


/* announcement and announcement.reaction: named by ids, rendered here */
static ngx_uint_t
ngx_http_mastodon_stream_announcement(ngx_str_t *event)
{
    return (event->len == 12
            && ngx_strncmp(event->data, "announcement", 12) == 0)
           || (event->len == 21
               && ngx_strncmp(event->data, "announcement.reaction", 21)
                  == 0);
}


/* the batch's message: its "announcement_id" and a reaction's "name" */
static ngx_int_t
ngx_http_mastodon_stream_announcement_ids(
    ngx_http_mastodon_stream_batch_t *bt)
{
    char             err[64];
    const char      *id, *name;
    mstdn_alloc_t    alloc;
    mstdn_limits_t   limits;
    mstdn_value_t   *msg;

    alloc.alloc = ngx_http_mastodon_pool_alloc;
    alloc.ctx = bt->op->pool;
    limits.max_depth = 2;
    limits.max_members = 16;

    if (mstdn_json_parse((char *) bt->message.data, bt->message.len, &alloc,
                         &limits, &msg, err, sizeof(err))
        != MSTDN_OK
        || msg->type != MSTDN_OBJECT)
    {
        return NGX_ERROR;
    }

    id = mstdn_param_str(msg, "announcement_id", NULL);
    if (id == NULL) {
        return NGX_ERROR;
    }

    bt->announcement_id = ngx_atoof((u_char *) id, ngx_strlen(id));
    if (bt->announcement_id <= 0) {
        return NGX_ERROR;
    }

    if (bt->event.len == 12) {
        return NGX_OK;          /* "announcement" */
    }

    name = mstdn_param_str(msg, "name", NULL);
    if (name == NULL || name[0] == '\0') {
        return NGX_ERROR;
    }

    bt->reaction.data = (u_char *) name;
    bt->reaction.len = ngx_strlen(name);

    return NGX_OK;
}


/* rendered (or gone meanwhile): written to all of the batch's streams */
static void
ngx_http_mastodon_stream_announced(ngx_http_mastodon_op_t *op, ngx_int_t rc,
    ngx_str_t *json, void *data)
{
    ngx_queue_t                       *q;
    ngx_http_mastodon_stream_sub_t    *sub;
    ngx_http_mastodon_stream_batch_t  *bt = data;
    ngx_http_mastodon_stream_entry_t  *e;

    if (rc != NGX_OK) {
        if (rc == NGX_ERROR) {
            ngx_log_error(NGX_LOG_ERR, op->log, 0,
                          "mastodon: stream: announcement %L could not be "
                          "rendered", bt->announcement_id);
        }

        ngx_http_mastodon_stream_batch_end(bt);
        return;
    }

    for (q = ngx_queue_head(&bt->entries);
         q != ngx_queue_sentinel(&bt->entries);
         q = ngx_queue_next(q))
    {
        e = ngx_queue_data(q, ngx_http_mastodon_stream_entry_t, queue);

        sub = ngx_http_mastodon_stream_entry_sub(e);
        if (sub == NULL) {
            continue;
        }

        /* never ends the stream at once: it is dropped from a posted event */
        ngx_http_mastodon_stream_send(e->stream, &sub->name, &bt->event,
                                      json);
    }

    ngx_http_mastodon_stream_batch_end(bt);
}


/* its streams forget it, its operation goes */
static void
ngx_http_mastodon_stream_batch_end(ngx_http_mastodon_stream_batch_t *bt)
{
    ngx_queue_t                       *q;
    ngx_http_mastodon_stream_entry_t  *e;

    for (q = ngx_queue_head(&bt->entries);
         q != ngx_queue_sentinel(&bt->entries);
         q = ngx_queue_next(q))
    {
        e = ngx_queue_data(q, ngx_http_mastodon_stream_entry_t, queue);

        if (e->stream) {
            ngx_queue_remove(&e->link);
            e->stream = NULL;
        }
    }

    if (bt->gathering) {
        ngx_queue_remove(&bt->queue);
        bt->gathering = 0;
    }

    if (bt->run.posted) {
        ngx_delete_posted_event(&bt->run);
    }

    ngx_http_mastodon_op_end(bt->op);
}


/* the event is written if its subscription is still there (a WebSocket
 * may have unsubscribed meanwhile), and its operation goes */
static void
ngx_http_mastodon_stream_deliver(ngx_http_mastodon_stream_check_t *ck)
{
    ngx_queue_t                     *q;
    ngx_http_mastodon_op_t          *op;
    ngx_http_mastodon_stream_t      *s;
    ngx_http_mastodon_stream_sub_t  *sub;

    s = ck->stream;
    op = ck->op;

    if (s->done) {
        ngx_http_mastodon_op_end(op);
        return;
    }

    for (q = ngx_queue_head(&s->subs);
         q != ngx_queue_sentinel(&s->subs);
         q = ngx_queue_next(q))
    {
        sub = ngx_queue_data(q, ngx_http_mastodon_stream_sub_t, queue);

        if (sub->serial == ck->serial) {
            /* never ends the stream at once: the operation is still ours */
            ngx_http_mastodon_stream_send(s, &sub->name, &ck->event,
                                          &ck->payload);
            break;
        }
    }

    ngx_http_mastodon_op_end(op);
}


/* streamToHttp's output: "event: <event>\ndata: <payload>\n\n" */
static void
ngx_http_mastodon_stream_send(ngx_http_mastodon_stream_t *s,
    ngx_str_t *sub_name, ngx_str_t *event, ngx_str_t *payload)
{
    u_char  *p, *data;
    size_t   len;

    if (s->ws) {
        ngx_http_mastodon_ws_send(s, sub_name, event, payload);
        return;
    }

    len = sizeof("event: \ndata: \n\n") - 1 + event->len + payload->len;

    data = ngx_alloc(len, s->request->connection->log);
    if (data == NULL) {
        ngx_http_mastodon_stream_drop(s);
        return;
    }

    p = ngx_sprintf(data, "event: %V\ndata: %V\n\n", event, payload);

    if (ngx_http_mastodon_stream_output(s, data, p - data) != NGX_OK) {
        ngx_http_mastodon_stream_drop(s);
    }

    ngx_free(data);
}


/*
 * Bytes to the client, through nginx's filters (chunked): copied into a
 * heap chunk that stays until the socket took it.  Too much waiting: the
 * client does not read, it is dropped.
 */
static ngx_int_t
ngx_http_mastodon_stream_output(ngx_http_mastodon_stream_t *s, u_char *data,
    size_t len)
{
    ngx_int_t                          rc;
    ngx_http_request_t                *r;
    ngx_http_mastodon_stream_chunk_t  *ch;

    r = s->request;

    if (s->done) {
        return NGX_OK;
    }

    if (s->queued + len > s->mcf->streaming_max_output) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: stream closed: the client does not read "
                      "(%uz bytes waiting)", s->queued);
        return NGX_ERROR;
    }

    ch = ngx_alloc(sizeof(ngx_http_mastodon_stream_chunk_t) + len,
                   r->connection->log);
    if (ch == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(ch, sizeof(ngx_http_mastodon_stream_chunk_t));

    ch->size = len;
    ch->b.pos = (u_char *) (ch + 1);
    ch->b.last = ngx_cpymem(ch->b.pos, data, len);
    ch->b.start = ch->b.pos;
    ch->b.end = ch->b.last;
    ch->b.memory = 1;
    ch->b.flush = 1;
    ch->cl.buf = &ch->b;
    ch->cl.next = NULL;

    ngx_queue_insert_tail(&s->chunks, &ch->queue);
    s->queued += len;

    rc = ngx_http_output_filter(r, &ch->cl);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    ngx_http_mastodon_stream_reap(s);

    if (r->out || r->connection->buffered) {
        ngx_http_mastodon_stream_write(r);
    }

    return NGX_OK;
}


/* the chunks the socket took go */
static void
ngx_http_mastodon_stream_reap(ngx_http_mastodon_stream_t *s)
{
    ngx_queue_t                       *q;
    ngx_http_mastodon_stream_chunk_t  *ch;

    while (!ngx_queue_empty(&s->chunks)) {
        q = ngx_queue_head(&s->chunks);
        ch = ngx_queue_data(q, ngx_http_mastodon_stream_chunk_t, queue);

        if (s->request->out && ch->b.pos != ch->b.last) {
            return;
        }

        ngx_queue_remove(q);
        s->queued -= ch->size;
        ngx_free(ch);
    }
}


static void
ngx_http_mastodon_stream_write(ngx_http_request_t *r)
{
    ngx_event_t                 *wev;
    ngx_http_mastodon_ctx_t     *ctx;
    ngx_http_core_loc_conf_t    *clcf;
    ngx_http_mastodon_stream_t  *s;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);
    s = ctx->data;
    wev = r->connection->write;

    if (wev->timedout) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, NGX_ETIMEDOUT,
                      "mastodon: stream closed: client timed out");
        ngx_http_mastodon_stream_end(s, NGX_ERROR);
        return;
    }

    if (r->out && wev->ready) {
        if (ngx_http_output_filter(r, NULL) == NGX_ERROR) {
            ngx_http_mastodon_stream_end(s, NGX_ERROR);
            return;
        }

        ngx_http_mastodon_stream_reap(s);
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (r->out) {
        if (!wev->timer_set) {
            ngx_add_timer(wev, clcf->send_timeout);
        }

        if (ngx_handle_write_event(wev, clcf->send_lowat) != NGX_OK) {
            ngx_http_mastodon_stream_end(s, NGX_ERROR);
        }

        return;
    }

    if (wev->timer_set) {
        ngx_del_timer(wev);
    }
}


/* the client closed, or the worker exits (c->close: nginx ends it) */
static void
ngx_http_mastodon_stream_read(ngx_http_request_t *r)
{
    ngx_http_test_reading(r);
}


static void
ngx_http_mastodon_stream_thump(ngx_event_t *ev)
{
    ngx_http_mastodon_stream_t  *s = ev->data;

    if (s->ws) {
        ngx_http_mastodon_ws_ping(s);
        return;
    }

    if (ngx_http_mastodon_stream_output(s, (u_char *) ":thump\n", 7)
        != NGX_OK)
    {
        ngx_http_mastodon_stream_end(s, NGX_ERROR);
        return;
    }

    ngx_add_timer(&s->heartbeat, s->mcf->streaming_heartbeat);
}


/* NGX_OK: the answer ends (kill); NGX_ERROR: the connection is dropped */
static void
ngx_http_mastodon_stream_end(ngx_http_mastodon_stream_t *s, ngx_int_t rc)
{
    ngx_http_request_t  *r;

    if (s->done) {
        return;
    }

    s->done = 1;
    r = s->request;

    if (s->heartbeat.timer_set) {
        ngx_del_timer(&s->heartbeat);
    }

    if (rc == NGX_OK) {
        /* the client reconnects on a new connection, as from Mastodon's */
        r->keepalive = 0;
        rc = ngx_http_send_special(r, NGX_HTTP_LAST);
    }

    ngx_http_mastodon_finalize(r, rc);
}


/*
 * The connection is dropped from the event loop's next round, not at once:
 * the caller may be an operation of the stream, which must end first.
 */
static void
ngx_http_mastodon_stream_drop(ngx_http_mastodon_stream_t *s)
{
    if (s->done) {
        return;
    }

    s->done = 1;

    if (s->heartbeat.timer_set) {
        ngx_del_timer(&s->heartbeat);
    }

    s->drop.handler = ngx_http_mastodon_stream_dropped;
    s->drop.data = s;
    s->drop.log = s->request->connection->log;
    ngx_post_event(&s->drop, &ngx_posted_events);
}


static void
ngx_http_mastodon_stream_dropped(ngx_event_t *ev)
{
    ngx_http_mastodon_stream_t  *s = ev->data;

    ngx_http_mastodon_finalize(s->request, NGX_ERROR);
}


/*
 * A worker that exits (reload, binary upgrade, stop) ends its sockets: each
 * is told so with a close frame, 1001 "going away" (RFC 6455 7.4.1), when
 * no frame of ours is half sent; written once, without waiting, as the
 * connection closes right after (the request's pool goes first: nginx has
 * marked the connection destroyed by then, its socket still open).
 */
static void
ngx_http_mastodon_ws_going_away(ngx_http_mastodon_stream_t *s)
{
    ngx_connection_t  *c;

    static u_char  going_away[] = { 0x88, 0x02, 0x03, 0xe9 };

    c = s->request->connection;

    if ((!ngx_exiting && !ngx_terminate && !ngx_quit)
        || c->error || wslay_event_want_write(s->ws)
        || !wslay_event_get_write_enabled(s->ws))
    {
        return;
    }

    (void) c->send(c, going_away, sizeof(going_away));
}


/* the request goes: its subscriptions and waiting output with it */
static void
ngx_http_mastodon_stream_cleanup(void *data)
{
    ngx_http_mastodon_stream_t  *s = data;

    ngx_queue_t                       *q;
    ngx_http_mastodon_stream_chunk_t  *ch;
    ngx_http_mastodon_stream_entry_t  *e;

    s->done = 1;

    /* the batches it is in will not write to it */
    while (!ngx_queue_empty(&s->batched)) {
        q = ngx_queue_head(&s->batched);
        e = ngx_queue_data(q, ngx_http_mastodon_stream_entry_t, link);
        ngx_queue_remove(q);
        e->stream = NULL;
    }

    if (s->heartbeat.timer_set) {
        ngx_del_timer(&s->heartbeat);
    }

    if (s->drop.posted) {
        ngx_delete_posted_event(&s->drop);
    }

    while (!ngx_queue_empty(&s->chunks)) {
        q = ngx_queue_head(&s->chunks);
        ch = ngx_queue_data(q, ngx_http_mastodon_stream_chunk_t, queue);
        ngx_queue_remove(q);
        ngx_free(ch);
    }

    s->queued = 0;

    if (s->ws) {
        ngx_http_mastodon_ws_going_away(s);
        wslay_event_context_free(s->ws);
        s->ws = NULL;
    }

    /* the operations (and their subscriptions) end with the stream's */
    ngx_queue_init(&s->subs);
}


/*
 * The WebSocket (GET /api/v1/streaming upgraded): framing by wslay, over
 * the request's connection once the 101 is out.  wslay reads and writes
 * through c->recv and c->send (and first takes what nginx read past the
 * request's header), copies each queued message (nothing of the
 * connection's pool per event), and its queue is the output meter.  The
 * client's messages: {"type": "subscribe"|"unsubscribe", "stream", "tag",
 * "list"}, at most mastodon_streaming_max_message bytes.
 */

#define NGX_HTTP_MASTODON_WS_GUID  "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


static ssize_t
ngx_http_mastodon_ws_recv(wslay_event_context_ptr ctx, uint8_t *buf,
    size_t len, int flags, void *user_data)
{
    ssize_t                      n;
    ngx_buf_t                   *b;
    ngx_connection_t            *c;
    ngx_http_mastodon_stream_t  *s = user_data;

    c = s->request->connection;
    b = s->request->header_in;

    /* what the client sent right after the header, first */
    if (b && b->pos < b->last) {
        n = ngx_min((size_t) (b->last - b->pos), len);
        ngx_memcpy(buf, b->pos, n);
        b->pos += n;
        return n;
    }

    n = c->recv(c, buf, len);

    if (n == NGX_AGAIN) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }

    if (n == 0 || n == NGX_ERROR) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }

    return n;
}


static ssize_t
ngx_http_mastodon_ws_send_cb(wslay_event_context_ptr ctx,
    const uint8_t *data, size_t len, int flags, void *user_data)
{
    ssize_t                      n;
    ngx_connection_t            *c;
    ngx_http_mastodon_stream_t  *s = user_data;

    c = s->request->connection;

    n = c->send(c, (u_char *) data, len);

    if (n == NGX_AGAIN || n == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }

    if (n == NGX_ERROR) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }

    return n;
}


/* Mastodon's error answer to a subscription: {"error", "status"} */
static void
ngx_http_mastodon_ws_error(ngx_http_mastodon_stream_t *s, const char *error,
    ngx_uint_t status)
{
    u_char                             buf[256], *p;
    struct wslay_event_msg             msg;

    p = ngx_snprintf(buf, sizeof(buf) - 1, "{\"error\":\"%s\"", error);
    if (status) {
        p = ngx_snprintf(p, buf + sizeof(buf) - p, ",\"status\":%ui", status);
    }
    *p++ = '}';

    msg.opcode = WSLAY_TEXT_FRAME;
    msg.msg = buf;
    msg.msg_length = p - buf;

    if (wslay_event_queue_msg(s->ws, &msg) != 0) {
        ngx_http_mastodon_stream_drop(s);
    }
}


static void
ngx_http_mastodon_ws_message(wslay_event_context_ptr ctx,
    const struct wslay_event_on_msg_recv_arg *arg, void *user_data)
{
    char                         err[64];
    const char                  *type;
    ngx_pool_t                  *pool;
    mstdn_alloc_t                alloc;
    mstdn_limits_t               limits;
    mstdn_value_t               *msg;
    ngx_http_mastodon_stream_t  *s = user_data;

    if (s->done) {
        return;
    }

    if (arg->opcode == WSLAY_PONG) {
        s->pinged = 0;
        return;
    }

    if (arg->opcode == WSLAY_BINARY_FRAME) {
        static const char  reason[] =
            "The mastodon streaming server does not support binary messages";

        ngx_log_error(NGX_LOG_INFO, s->request->connection->log, 0,
                      "mastodon: stream: a binary message, closing");
        (void) wslay_event_queue_close(ctx, WSLAY_CODE_UNSUPPORTED_DATA,
                                       (const uint8_t *) reason,
                                       sizeof(reason) - 1);
        return;
    }

    if (arg->opcode != WSLAY_TEXT_FRAME) {
        return;
    }

    /* a pool for this message alone */
    pool = ngx_create_pool(1024, s->request->connection->log);
    if (pool == NULL) {
        ngx_http_mastodon_stream_drop(s);
        return;
    }

    alloc.alloc = ngx_http_mastodon_pool_alloc;
    alloc.ctx = pool;
    limits.max_depth = 8;
    limits.max_members = 64;

    /* not JSON: ignored, as Mastodon does */
    if (mstdn_json_parse((const char *) arg->msg, arg->msg_length, &alloc,
                         &limits, &msg, err, sizeof(err))
        == MSTDN_OK
        && msg->type == MSTDN_OBJECT)
    {
        type = mstdn_param_str(msg, "type", NULL);

        if (type && ngx_strcmp(type, "subscribe") == 0) {
            ngx_http_mastodon_ws_subscribe(s, msg, 0);

        } else if (type && ngx_strcmp(type, "unsubscribe") == 0) {
            ngx_http_mastodon_ws_subscribe(s, msg, 1);
        }

    } else {
        ngx_log_error(NGX_LOG_INFO, s->request->connection->log, 0,
                      "mastodon: stream: a message that is no JSON object "
                      "ignored");
    }

    ngx_destroy_pool(pool);
}


/* firstParam(stream) */
static const char *
ngx_http_mastodon_ws_stream_name(mstdn_value_t *msg)
{
    mstdn_value_t  *v;

    v = mstdn_object_get(msg, "stream");

    if (v && v->type == MSTDN_ARRAY) {
        v = v->first;
    }

    if (v == NULL || v->type != MSTDN_STRING) {
        return NULL;
    }

    return v->str;
}


typedef struct {
    ngx_http_mastodon_stream_t      *stream;
    ngx_http_mastodon_op_t          *op;
    ngx_http_mastodon_stream_req_t   req;
} ngx_http_mastodon_ws_pending_t;


static void ngx_http_mastodon_ws_list_checked(ngx_http_mastodon_pg_batch_t *b);


/*
 * subscribeWebsocketToChannel / unsubscribeWebsocketFromChannel: the
 * stream's channels worked out in an operation of their own (a list is
 * checked there first), then subscribed by their own.
 */
static void
ngx_http_mastodon_ws_subscribe(ngx_http_mastodon_stream_t *s,
    mstdn_value_t *msg, ngx_uint_t unsubscribe)
{
    u_char                            *p;
    size_t                             len;
    ngx_int_t                          rc;
    ngx_str_t                          name;
    ngx_uint_t                         i;
    ngx_queue_t                       *q;
    const char                        *stream, *error, **values;
    ngx_http_mastodon_op_t            *op;
    ngx_http_mastodon_auth_t           auth;
    ngx_http_mastodon_ctx_t           *ctx;
    ngx_http_mastodon_pg_batch_t      *b;
    ngx_http_mastodon_stream_sub_t    *sub;
    ngx_http_mastodon_ws_pending_t    *wp;
    ngx_http_mastodon_stream_type_t   *type, unknown;

    ctx = ngx_http_get_module_ctx(s->request, ngx_http_mastodon_module);

    stream = ngx_http_mastodon_ws_stream_name(msg);
    name.data = (u_char *) (stream ? stream : "");
    name.len = ngx_strlen(name.data);

    for (type = ngx_http_mastodon_stream_types; type->name.len; type++) {
        if (type->name.len == name.len
            && ngx_strncmp(type->name.data, name.data, name.len) == 0)
        {
            break;
        }
    }

    if (type->name.len == 0) {
        /* checkScopes, then channelNameToIds' "Unknown stream type" */
        ngx_memzero(&unknown, sizeof(unknown));
        type = &unknown;
    }

    if (!unsubscribe && !ngx_http_mastodon_stream_scoped(ctx->auth, type)) {
        ngx_http_mastodon_ws_error(s,
                             "Access token does not have the required scopes",
                             NGX_HTTP_UNAUTHORIZED);
        return;
    }

    op = ngx_http_mastodon_op_stream_op(s->ops);
    if (op == NULL) {
        ngx_http_mastodon_stream_drop(s);
        return;
    }

    wp = ngx_pcalloc(op->pool, sizeof(ngx_http_mastodon_ws_pending_t));
    if (wp == NULL) {
        ngx_http_mastodon_op_end(op);
        ngx_http_mastodon_stream_drop(s);
        return;
    }

    wp->stream = s;
    wp->op = op;
    op->data = wp;

    /* the account and scopes of the stream's token (the request's) */
    auth = *ctx->auth;
    error = NULL;

    rc = ngx_http_mastodon_stream_parse(op->pool, &auth, msg, type, &wp->req,
                                        &error);
    if (rc != NGX_OK) {
        ngx_http_mastodon_op_end(op);

        if (unsubscribe) {
            ngx_http_mastodon_ws_error(s, "Error unsubscribing from channel",
                                       0);
        } else {
            ngx_http_mastodon_ws_error(s, error ? error : "Internal error",
                                       rc);
        }

        return;
    }

    /* the channels' key: subscriptions[channelIds.join(';')] */
    len = 0;
    for (i = 0; i < wp->req.nchannels; i++) {
        len += wp->req.channels[i].len + 1;
    }

    p = ngx_pnalloc(op->pool, len);
    if (p == NULL) {
        ngx_http_mastodon_op_end(op);
        ngx_http_mastodon_stream_drop(s);
        return;
    }

    name.data = p;
    for (i = 0; i < wp->req.nchannels; i++) {
        if (i) {
            *p++ = ';';
        }
        p = ngx_cpymem(p, wp->req.channels[i].data, wp->req.channels[i].len);
    }
    name.len = p - name.data;

    for (q = ngx_queue_head(&s->subs);
         q != ngx_queue_sentinel(&s->subs);
         q = ngx_queue_next(q))
    {
        sub = ngx_queue_data(q, ngx_http_mastodon_stream_sub_t, queue);

        if (!sub->system && sub->key.len == name.len
            && ngx_strncmp(sub->key.data, name.data, name.len) == 0)
        {
            if (unsubscribe) {
                ngx_queue_remove(&sub->queue);
                ngx_http_mastodon_op_end(sub->op);
            }

            /* already subscribed: nothing to do */
            ngx_http_mastodon_op_end(op);
            return;
        }
    }

    if (unsubscribe) {
        ngx_http_mastodon_op_end(op);
        return;
    }

    if (type->kind != NGX_HTTP_MASTODON_STREAM_LIST) {
        if (ngx_http_mastodon_stream_subscribe(s, &wp->req, 0) != NGX_OK) {
            ngx_http_mastodon_stream_drop(s);
        }

        ngx_http_mastodon_op_end(op);
        return;
    }

    values = ngx_palloc(op->pool, 2 * sizeof(char *));
    if (values == NULL) {
        goto failed;
    }

    values[0] = ngx_http_mastodon_pg_pool_int64(op->pool, wp->req.list_id);
    values[1] = ngx_http_mastodon_pg_pool_int64(op->pool, s->account_id);

    b = ngx_http_mastodon_pg_op_batch(op, ngx_http_mastodon_ws_list_checked,
                                      wp);
    if (values[0] == NULL || values[1] == NULL || b == NULL
        || ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_stream_list_stmt,
                                    values)
           != NGX_OK
        || ngx_http_mastodon_pg_run(b) != NGX_OK)
    {
        goto failed;
    }

    return;

failed:

    ngx_http_mastodon_op_end(op);
    ngx_http_mastodon_ws_error(s, "Not authorized to stream this list",
                               NGX_HTTP_UNAUTHORIZED);
}


static void
ngx_http_mastodon_ws_list_checked(ngx_http_mastodon_pg_batch_t *b)
{
    PGresult                        *res;
    ngx_http_mastodon_stream_t      *s;
    ngx_http_mastodon_ws_pending_t  *wp = b->data;

    s = wp->stream;
    res = ngx_http_mastodon_pg_rows(b, 0);

    if (s->done) {
        ngx_http_mastodon_op_end(wp->op);
        return;
    }

    if (res == NULL || PQntuples(res) != 1) {
        ngx_http_mastodon_ws_error(s, "Not authorized to stream this list",
                                   NGX_HTTP_UNAUTHORIZED);

    } else if (ngx_http_mastodon_stream_subscribe(s, &wp->req, 0) != NGX_OK) {
        ngx_http_mastodon_stream_drop(s);
    }

    ngx_http_mastodon_op_end(wp->op);
    ngx_http_mastodon_ws_flush(s);
}


/* streamToWs: {"stream": [...], "event", "payload": <payload as a string>} */
static void
ngx_http_mastodon_ws_send(ngx_http_mastodon_stream_t *s, ngx_str_t *name,
    ngx_str_t *event, ngx_str_t *payload)
{
    u_char                  *p, *data;
    size_t                   len;
    struct wslay_event_msg   msg;

    if (wslay_event_get_queued_msg_length(s->ws) + payload->len
        > s->mcf->streaming_max_output)
    {
        ngx_log_error(NGX_LOG_INFO, s->request->connection->log, 0,
                      "mastodon: stream closed: the client does not read "
                      "(%uz bytes waiting)",
                      wslay_event_get_queued_msg_length(s->ws));
        ngx_http_mastodon_stream_drop(s);
        return;
    }

    len = sizeof("{\"stream\":,\"event\":\"\",\"payload\":}") + name->len
          + event->len + MSTDN_JSON_QUOTE_MAX(payload->len);

    data = ngx_alloc(len, s->request->connection->log);
    if (data == NULL) {
        ngx_http_mastodon_stream_drop(s);
        return;
    }

    p = ngx_sprintf(data, "{\"stream\":%V,\"event\":\"%V\",\"payload\":",
                    name, event);
    p += mstdn_json_quote((char *) p, (char *) payload->data, payload->len);
    *p++ = '}';

    msg.opcode = WSLAY_TEXT_FRAME;
    msg.msg = data;
    msg.msg_length = p - data;

    /* wslay copies it */
    if (wslay_event_queue_msg(s->ws, &msg) != 0) {
        ngx_free(data);
        ngx_http_mastodon_stream_drop(s);
        return;
    }

    ngx_free(data);

    ngx_http_mastodon_ws_flush(s);
}


/* every heartbeat a ping; the one before unanswered: the client is gone */
static void
ngx_http_mastodon_ws_ping(ngx_http_mastodon_stream_t *s)
{
    struct wslay_event_msg  msg;

    if (s->pinged) {
        ngx_log_error(NGX_LOG_INFO, s->request->connection->log, 0,
                      "mastodon: stream closed: no pong");
        ngx_http_mastodon_stream_end(s, NGX_ERROR);
        return;
    }

    msg.opcode = WSLAY_PING;
    msg.msg = (const uint8_t *) "";
    msg.msg_length = 0;

    if (wslay_event_queue_msg(s->ws, &msg) != 0) {
        ngx_http_mastodon_stream_end(s, NGX_ERROR);
        return;
    }

    s->pinged = 1;
    ngx_add_timer(&s->heartbeat, s->mcf->streaming_heartbeat);

    ngx_http_mastodon_ws_flush(s);
}


/* what wslay holds goes out as far as the socket takes it */
static void
ngx_http_mastodon_ws_flush(ngx_http_mastodon_stream_t *s)
{
    ngx_event_t               *wev;
    ngx_connection_t          *c;
    ngx_http_core_loc_conf_t  *clcf;

    if (s->done) {
        return;
    }

    c = s->request->connection;
    wev = c->write;

    if (wslay_event_want_write(s->ws) && wev->ready) {
        if (wslay_event_send(s->ws) != 0) {
            ngx_http_mastodon_stream_drop(s);
            return;
        }
    }

    if (!wslay_event_want_read(s->ws) && !wslay_event_want_write(s->ws)) {
        /* the close handshake is over */
        ngx_http_mastodon_stream_drop(s);
        return;
    }

    clcf = ngx_http_get_module_loc_conf(s->request, ngx_http_core_module);

    if (wslay_event_want_write(s->ws)) {
        if (!wev->timer_set) {
            ngx_add_timer(wev, clcf->send_timeout);
        }

        if (ngx_handle_write_event(wev, 0) != NGX_OK) {
            ngx_http_mastodon_stream_drop(s);
        }

        return;
    }

    if (wev->timer_set) {
        ngx_del_timer(wev);
    }
}


static void
ngx_http_mastodon_ws_read(ngx_http_request_t *r)
{
    ngx_connection_t            *c;
    ngx_http_mastodon_ctx_t     *ctx;
    ngx_http_mastodon_stream_t  *s;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);
    s = ctx->data;
    c = r->connection;

    if (s->done) {
        return;
    }

    if (wslay_event_recv(s->ws) != 0) {
        /* a read error, the client gone, a frame past the limits */
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "mastodon: stream closed by the client or for a bad "
                      "frame");
        ngx_http_mastodon_stream_end(s, NGX_ERROR);
        return;
    }

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_http_mastodon_stream_end(s, NGX_ERROR);
        return;
    }

    ngx_http_mastodon_ws_flush(s);
}


static void
ngx_http_mastodon_ws_write(ngx_http_request_t *r)
{
    ngx_http_mastodon_ctx_t     *ctx;
    ngx_http_mastodon_stream_t  *s;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);
    s = ctx->data;

    if (r->connection->write->timedout) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, NGX_ETIMEDOUT,
                      "mastodon: stream closed: client timed out");
        ngx_http_mastodon_stream_end(s, NGX_ERROR);
        return;
    }

    ngx_http_mastodon_ws_flush(s);
}


/* GET /api/v1/streaming with Upgrade: websocket */
ngx_int_t
ngx_http_mastodon_streaming_ws(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    u_char                           *p;
    u_char                            md[SHA_DIGEST_LENGTH];
    u_char                            accept[64];
    ngx_str_t                         src, dst, protocol;
    ngx_int_t                         rc;
    SHA_CTX                           sha;
    ngx_table_elt_t                  *key, *version, *proto;
    mstdn_value_t                    *query;
    ngx_http_mastodon_stream_t       *s;
    struct wslay_event_callbacks      callbacks;

    if (r->headers_in.upgrade == NULL
        || r->headers_in.upgrade->value.len != sizeof("websocket") - 1
        || ngx_strncasecmp(r->headers_in.upgrade->value.data,
                           (u_char *) "websocket", sizeof("websocket") - 1)
           != 0
        || r != r->main)
    {
        /* no stream in the path: the streaming server's answer */
        return ngx_http_mastodon_streaming_unknown(r, ctx);
    }

    key = ngx_http_mastodon_header_in(r, "Sec-WebSocket-Key", NULL);
    version = ngx_http_mastodon_header_in(r, "Sec-WebSocket-Version", NULL);

    if (key == NULL || key->value.len != 24 || version == NULL
        || version->value.len != 2
        || ngx_strncmp(version->value.data, "13", 2) != 0)
    {
        ctx->error_message = "Bad Request";
        return NGX_HTTP_BAD_REQUEST;
    }

    s = ngx_http_mastodon_stream_create(r, ctx);
    if (s == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(&callbacks, sizeof(callbacks));
    callbacks.recv_callback = ngx_http_mastodon_ws_recv;
    callbacks.send_callback = ngx_http_mastodon_ws_send_cb;
    callbacks.on_msg_recv_callback = ngx_http_mastodon_ws_message;

    if (wslay_event_context_server_init(&s->ws, &callbacks, s) != 0) {
        s->ws = NULL;
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    wslay_event_config_set_max_recv_msg_length(s->ws,
                                               s->mcf->streaming_max_message);

    /* Sec-WebSocket-Accept: base64(SHA-1(key GUID)) */
    SHA1_Init(&sha);
    SHA1_Update(&sha, key->value.data, key->value.len);
    SHA1_Update(&sha, NGX_HTTP_MASTODON_WS_GUID,
                sizeof(NGX_HTTP_MASTODON_WS_GUID) - 1);
    SHA1_Final(md, &sha);

    src.data = md;
    src.len = sizeof(md);
    dst.data = accept;
    ngx_encode_base64(&dst, &src);

    r->headers_out.status = NGX_HTTP_SWITCHING_PROTOCOLS;
    r->keepalive = 0;

    {
        static ngx_str_t  websocket = ngx_string("websocket");

        if (ngx_http_mastodon_add_header(r, "Upgrade", &websocket) != NGX_OK
            || ngx_http_mastodon_add_header(r, "Sec-WebSocket-Accept", &dst)
               != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    /* the token as the protocol: a browser fails unless it is echoed */
    proto = ngx_http_mastodon_header_in(r, "Sec-WebSocket-Protocol", NULL);
    if (proto) {
        protocol = proto->value;
        p = ngx_strlchr(protocol.data, protocol.data + protocol.len, ',');
        if (p) {
            protocol.len = p - protocol.data;
        }

        if (ngx_http_mastodon_add_header(r, "Sec-WebSocket-Protocol",
                                         &protocol)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK) {
        return rc;
    }

    if (ngx_http_send_special(r, NGX_HTTP_FLUSH) == NGX_ERROR || r->out) {
        return NGX_ERROR;
    }

    r->read_event_handler = ngx_http_mastodon_ws_read;
    r->write_event_handler = ngx_http_mastodon_ws_write;
    r->connection->idle = 1;

    (void) ngx_tcp_nodelay(r->connection);

    ngx_add_timer(&s->heartbeat, s->mcf->streaming_heartbeat);

    /* ?stream=...: subscribed at once, with the query's tag and list */
    query = ctx->params;
    if (query && mstdn_param_str(query, "stream", NULL)) {
        ngx_http_mastodon_ws_subscribe(s, query, 0);
    }

    if (r->header_in->pos < r->header_in->last) {
        ngx_post_event(r->connection->read, &ngx_posted_events);
    }

    ngx_http_mastodon_ws_flush(s);

    return NGX_DONE;
}
