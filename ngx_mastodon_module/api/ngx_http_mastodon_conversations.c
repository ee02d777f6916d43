/*
 * Conversations (Api::V1::ConversationsController): GET
 * /api/v1/conversations (paginated by last_status_id, as
 * AccountConversation.to_a_paginated_by_id), POST
 * /api/v1/conversations/:id/read, DELETE /api/v1/conversations/:id.
 * The threads are account_conversations rows the worker keeps when it
 * distributes and removes direct statuses (worker/conversations.c).
 *
 * The Conversation entity (REST::ConversationSerializer): id, unread,
 * accounts (the other participants; none: the owner), last_status (the
 * Status for the viewer through the status loader; null when it may not
 * be shown).
 */

#include "ngx_http_mastodon_api.h"


/*
 * $1 the account; a page ($2 max_id, $3 since_id, $4 min_id: the page
 * nearest it, of last_status_id, $5 limit) or one ($6).  A row per
 * participant, conversations newest first.
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_conversations_stmt =
    ngx_http_mastodon_pg_stmt(
    "WITH pg AS (SELECT ac.id, ac.unread, ac.last_status_id,"
    "  CASE WHEN cardinality(ac.participant_account_ids) = 0"
    "  THEN ARRAY[ac.account_id] ELSE ac.participant_account_ids END AS ids"
    "  FROM account_conversations ac WHERE ac.account_id = $1::bigint"
    "  AND ($6::bigint IS NULL OR ac.id = $6::bigint)"
    "  AND ($2::bigint IS NULL OR ac.last_status_id < $2::bigint)"
    "  AND ($3::bigint IS NULL OR ac.last_status_id > $3::bigint)"
    "  AND ($4::bigint IS NULL OR ac.last_status_id > $4::bigint)"
    "  ORDER BY CASE WHEN $4::bigint IS NULL THEN -ac.last_status_id"
    "  ELSE ac.last_status_id END LIMIT $5::int)"
    " SELECT pg.id, pg.unread, pg.last_status_id, "
    NGX_HTTP_MASTODON_ACCOUNT_COLUMNS
    " FROM pg JOIN accounts a ON a.id = ANY (pg.ids)"
    " LEFT JOIN account_stats s ON s.account_id = a.id"
    " ORDER BY pg.last_status_id DESC, pg.id, a.id", 6);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_conversation_read_stmt =
    ngx_http_mastodon_pg_stmt(
    "UPDATE account_conversations SET unread = false,"
    " lock_version = lock_version + 1"
    " WHERE id = $2::bigint AND account_id = $1::bigint"
    " RETURNING id, account_id", 2);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_conversation_delete_stmt =
    ngx_http_mastodon_pg_stmt(
    "DELETE FROM account_conversations"
    " WHERE id = $2::bigint AND account_id = $1::bigint RETURNING id", 2);


typedef struct {
    ngx_http_mastodon_page_t       page;
    ngx_uint_t                     list;
    PGresult                      *res;
    ngx_uint_t                     nconv;
    int64_t                       *status_ids;    /* a conversation each */
    ngx_http_mastodon_op_t        *op;            /* rendered in an op */
    int64_t                        viewer;
    ngx_http_mastodon_notification_done_pt  handler;
    void                          *data;
} ngx_http_mastodon_conv_t;


static void ngx_http_mastodon_conversations_done(
    ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_conversations_rows(ngx_http_request_t *r,
    ngx_http_mastodon_conv_t *cv, PGresult *res);
static void ngx_http_mastodon_conversations_loaded(ngx_http_request_t *r,
    ngx_http_mastodon_statuses_t *st, void *data);
static void ngx_http_mastodon_conversation_read_done(
    ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_conversation_write(ngx_http_mastodon_json_t *j,
    PGresult *res, int *row, ngx_http_mastodon_statuses_t *st, ngx_uint_t i);
static void ngx_http_mastodon_conversation_op_rows(
    ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_conversation_op_loaded(ngx_http_request_t *r,
    ngx_http_mastodon_statuses_t *st, void *data);
static void ngx_http_mastodon_conversation_publish(ngx_http_request_t *r,
    int64_t account_id, int64_t id);


static const char **
ngx_http_mastodon_conversations_values(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_conv_t *cv, int64_t id)
{
    const char  **values;

    values = ngx_pcalloc(r->pool, 6 * sizeof(char *));
    if (values == NULL) {
        return NULL;
    }

    values[0] = ngx_http_mastodon_pg_int64(r, ctx->auth->account_id);

    if (cv->list) {
        ngx_http_mastodon_page_values(r, &cv->page, &values[1]);

    } else {
        values[4] = "1";
        values[5] = ngx_http_mastodon_pg_int64(r, id);
        if (values[5] == NULL) {
            return NULL;
        }
    }

    if (values[0] == NULL || values[4] == NULL) {
        return NULL;
    }

    return values;
}


/* GET /api/v1/conversations */
ngx_int_t
ngx_http_mastodon_conversations_index(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    const char                **values;
    ngx_http_mastodon_conv_t   *cv;

    cv = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_conv_t));
    if (cv == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cv->list = 1;

    /* ConversationsController::LIMIT, at most twice that */
    ngx_http_mastodon_page_init(ctx, &cv->page, 20, 40);

    values = ngx_http_mastodon_conversations_values(r, ctx, cv, 0);
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_pg_query(r, &ngx_http_mastodon_conversations_stmt,
                                      values,
                                      ngx_http_mastodon_conversations_done,
                                      cv);
}


/* POST /api/v1/conversations/:id/read: the Conversation, read */
ngx_int_t
ngx_http_mastodon_conversation_read(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    int64_t                        id;
    const char                   **values, **write;
    ngx_http_mastodon_conv_t      *cv;
    ngx_http_mastodon_pg_batch_t  *b;

    id = ngx_http_mastodon_capture_id(ctx, 0);
    if (id == 0) {
        return NGX_HTTP_NOT_FOUND;
    }

    cv = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_conv_t));
    if (cv == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values = ngx_http_mastodon_conversations_values(r, ctx, cv, id);
    write = ngx_pcalloc(r->pool, 2 * sizeof(char *));
    if (values == NULL || write == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    write[0] = values[0];
    write[1] = values[5];

    b = ngx_http_mastodon_pg_batch(r, ngx_http_mastodon_conversation_read_done,
                                   cv);
    if (b == NULL
        || ngx_http_mastodon_pg_add(b,
                                    &ngx_http_mastodon_conversation_read_stmt,
                                    write)
           != NGX_OK
        || ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_conversations_stmt,
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


static void
ngx_http_mastodon_conversation_read_done(ngx_http_mastodon_pg_batch_t *b)
{
    PGresult  *res;

    res = ngx_http_mastodon_pg_rows(b, 0);
    if (res == NULL) {
        ngx_http_mastodon_finalize(b->request, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (PQntuples(res) == 0) {
        ngx_http_mastodon_finalize(b->request, NGX_HTTP_NOT_FOUND);
        return;
    }

    /* AccountConversation#push_to_streaming_api: an update is pushed */
    ngx_http_mastodon_conversation_publish(b->request,
                                   ngx_http_mastodon_pg_int(res, 0, 1),
                                   ngx_http_mastodon_pg_int(res, 0, 0));

    ngx_http_mastodon_conversations_rows(b->request, b->data,
                                         ngx_http_mastodon_pg_rows(b, 1));
}


/* DELETE /api/v1/conversations/:id */
ngx_int_t
ngx_http_mastodon_conversation_delete(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    int64_t  id;

    id = ngx_http_mastodon_capture_id(ctx, 0);
    if (id == 0) {
        return NGX_HTTP_NOT_FOUND;
    }

    return ngx_http_mastodon_pg_query_ids(r,
               &ngx_http_mastodon_conversation_delete_stmt,
               ctx->auth->account_id, id, ngx_http_mastodon_empty_if_found,
               NULL);
}



/* the rows: each conversation's last status through the loader */
static void
ngx_http_mastodon_conversations_done(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_http_mastodon_conversations_rows(b->request, b->data,
                                         ngx_http_mastodon_pg_rows(b, 0));
}


static void
ngx_http_mastodon_conversations_rows(ngx_http_request_t *r,
    ngx_http_mastodon_conv_t *cv, PGresult *res)
{
    int        row, n;
    int64_t    id, prev;
    ngx_int_t  rc;

    if (res == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    cv->res = res;
    n = PQntuples(res);

    if (n == 0 && !cv->list) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_NOT_FOUND);
        return;
    }

    cv->status_ids = ngx_palloc(r->pool, (n + 1) * sizeof(int64_t));
    if (cv->status_ids == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    prev = 0;

    for (row = 0; row < n; row++) {
        id = ngx_http_mastodon_pg_int(res, row, 0);
        if (id != prev) {
            cv->status_ids[cv->nconv++] = ngx_http_mastodon_pg_int(res, row, 2);
            prev = id;
        }
    }

    if (cv->nconv == 0) {
        ngx_http_mastodon_conversations_loaded(r, NULL, cv);
        return;
    }

    rc = ngx_http_mastodon_statuses_fetch(r, cv->status_ids, cv->nconv, 0,
                                       ngx_http_mastodon_conversations_loaded,
                                       cv);
    if (rc != NGX_DONE) {
        ngx_http_mastodon_finalize(r, rc);
    }
}


/* Conversation entities; a list with its Link header (st NULL: empty) */
static void
ngx_http_mastodon_conversations_loaded(ngx_http_request_t *r,
    ngx_http_mastodon_statuses_t *st, void *data)
{
    ngx_http_mastodon_conv_t *cv = data;

    int                        row, n;
    ngx_str_t                  path;
    ngx_uint_t                 i;
    ngx_http_mastodon_ctx_t   *ctx;
    ngx_http_mastodon_json_t   j;

    if (st && st->rc != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (cv->list) {
        ngx_http_mastodon_json_open_array(&j, NULL);
    }

    n = PQntuples(cv->res);

    for (row = 0, i = 0; row < n; i++) {
        ngx_http_mastodon_conversation_write(&j, cv->res, &row, st, i);
    }

    if (cv->list) {
        ngx_http_mastodon_json_close_array(&j);

        if (cv->nconv) {
            ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);
            ngx_str_set(&path, "/api/v1/conversations");

            if (ngx_http_mastodon_page_link(r, ctx, &path,
                                    ngx_http_mastodon_page_keep_limit, 0,
                                    cv->nconv == cv->page.limit
                                    ? cv->status_ids[cv->nconv - 1] : 0,
                                    "min_id", cv->status_ids[0])
                != NGX_OK)
            {
                ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
                return;
            }
        }
    }

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_json_send(&j,
                                                              NGX_HTTP_OK));
}


/* one Conversation: the rows of one from *row on, its last status st's i */
static void
ngx_http_mastodon_conversation_write(ngx_http_mastodon_json_t *j,
    PGresult *res, int *row, ngx_http_mastodon_statuses_t *st, ngx_uint_t i)
{
    int        n;
    int64_t    id;
    ngx_str_t  s;

    n = PQntuples(res);
    id = ngx_http_mastodon_pg_int(res, *row, 0);

    ngx_http_mastodon_json_open(j, NULL);

    s = ngx_http_mastodon_pg_str(res, *row, 0);
    ngx_http_mastodon_json_kv_str(j, "id", &s);
    ngx_http_mastodon_json_kv_bool(j, "unread",
                                   ngx_http_mastodon_pg_bool(res, *row, 1));

    ngx_http_mastodon_json_open_array(j, "accounts");

    for ( /* void */ ;
         *row < n && ngx_http_mastodon_pg_int(res, *row, 0) == id;
         (*row)++)
    {
        ngx_http_mastodon_account(j, res, *row, 3);
    }

    ngx_http_mastodon_json_close_array(j);

    if (st && ngx_http_mastodon_statuses_shown(st, i)) {
        ngx_http_mastodon_status_write(j, "last_status", st, i);

    } else {
        ngx_http_mastodon_json_kv_null(j, "last_status");
    }

    ngx_http_mastodon_json_close(j);
}


ngx_int_t
ngx_http_mastodon_conversation_render(ngx_http_mastodon_op_t *op,
    int64_t viewer, int64_t id, ngx_http_mastodon_notification_done_pt handler,
    void *data)
{
    const char                    **values;
    ngx_http_mastodon_conv_t       *cv;
    ngx_http_mastodon_pg_batch_t   *b;

    cv = ngx_pcalloc(op->pool, sizeof(ngx_http_mastodon_conv_t));
    values = ngx_pcalloc(op->pool, 6 * sizeof(char *));
    if (cv == NULL || values == NULL) {
        return NGX_ERROR;
    }

    cv->op = op;
    cv->viewer = viewer;
    cv->handler = handler;
    cv->data = data;

    values[0] = ngx_http_mastodon_pg_pool_int64(op->pool, viewer);
    values[4] = "1";
    values[5] = ngx_http_mastodon_pg_pool_int64(op->pool, id);

    b = ngx_http_mastodon_pg_op_batch(op, ngx_http_mastodon_conversation_op_rows,
                                      cv);
    if (values[0] == NULL || values[5] == NULL || b == NULL
        || ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_conversations_stmt,
                                    values)
           != NGX_OK
        || ngx_http_mastodon_pg_run(b) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_DONE;
}


static void
ngx_http_mastodon_conversation_op_rows(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_http_mastodon_conv_t      *cv = b->data;
    ngx_http_mastodon_statuses_t  *st;

    cv->res = ngx_http_mastodon_pg_rows(b, 0);

    if (cv->res == NULL) {
        cv->handler(cv->op, NGX_ERROR, NULL, cv->data);
        return;
    }

    if (PQntuples(cv->res) == 0) {
        cv->handler(cv->op, NGX_DECLINED, NULL, cv->data);
        return;
    }

    cv->status_ids = ngx_palloc(cv->op->pool, sizeof(int64_t));
    if (cv->status_ids == NULL) {
        cv->handler(cv->op, NGX_ERROR, NULL, cv->data);
        return;
    }

    cv->status_ids[0] = ngx_http_mastodon_pg_int(cv->res, 0, 2);
    cv->nconv = 1;

    st = ngx_http_mastodon_statuses_op(cv->op, cv->viewer, cv->status_ids, 1,
                                       0);
    if (st == NULL
        || ngx_http_mastodon_statuses_load(st,
                                    ngx_http_mastodon_conversation_op_loaded,
                                    cv)
           != NGX_DONE)
    {
        cv->handler(cv->op, NGX_ERROR, NULL, cv->data);
    }
}


/* r is NULL: the operation's */
static void
ngx_http_mastodon_conversation_op_loaded(ngx_http_request_t *r,
    ngx_http_mastodon_statuses_t *st, void *data)
{
    ngx_http_mastodon_conv_t *cv = data;

    int                        row;
    ngx_str_t                  out;
    ngx_http_mastodon_json_t   j;

    if (st->rc != NGX_OK
        || ngx_http_mastodon_json_op_init(cv->op, &j) != NGX_OK)
    {
        cv->handler(cv->op, NGX_ERROR, NULL, cv->data);
        return;
    }

    row = 0;
    ngx_http_mastodon_conversation_write(&j, cv->res, &row, st, 0);

    if (ngx_http_mastodon_json_string(&j, &out) != NGX_OK) {
        cv->handler(cv->op, NGX_ERROR, NULL, cv->data);
        return;
    }

    cv->handler(cv->op, NGX_OK, &out, cv->data);
}


/*
 * The conversation event of the owner's direct stream (PushConversationWorker):
 * its id, which the stream renders for its viewer.
 */
static void
ngx_http_mastodon_conversation_publish(ngx_http_request_t *r,
    int64_t account_id, int64_t id)
{
    u_char       channel[sizeof("timeline:direct:") + NGX_INT64_LEN];
    u_char       event[sizeof("{\"event\":\"conversation\","
                              "\"conversation_id\":\"\"}")
                       + NGX_INT64_LEN];
    size_t       argvlen[3];
    const char  *argv[3];

    argv[0] = "PUBLISH";
    argvlen[0] = sizeof("PUBLISH") - 1;
    argv[1] = (const char *) channel;
    argvlen[1] = ngx_sprintf(channel, "timeline:direct:%L", account_id)
                 - channel;
    argv[2] = (const char *) event;
    argvlen[2] = ngx_sprintf(event, "{\"event\":\"conversation\","
                                    "\"conversation_id\":\"%L\"}", id)
                 - event;

    (void) ngx_http_mastodon_redis_command(r, NULL, NULL, 3, argv, argvlen);
}
