/*
 * Test aids, off unless configured: entities rendered without a request.
 * ngx_http_mastodon_debug_render() renders an account and a status by id,
 * as an anonymous client is shown them, in whatever operation it is given:
 * the debug tick's (backend/_tick.c, owned by a timer) or a debug stream's
 * (owned by a long-lived connection, one operation per event).
 */

#include "ngx_http_mastodon_entities.h"


typedef struct {
    ngx_http_mastodon_op_t             *op;
    int64_t                             status_id;
    ngx_str_t                           account;
    ngx_http_mastodon_debug_render_pt   done;
    void                               *data;
} ngx_http_mastodon_debug_render_t;


static void ngx_http_mastodon_debug_account(ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_debug_status(ngx_http_request_t *r,
    ngx_http_mastodon_statuses_t *st, void *data);


/* as GET /api/v1/accounts/:id selects it */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_debug_account_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT " NGX_HTTP_MASTODON_ACCOUNT_COLUMNS
        NGX_HTTP_MASTODON_ACCOUNT_FROM
        " WHERE a.id = $1 AND" NGX_HTTP_MASTODON_ACCOUNT_SHOWN, 1);


/*
 * {"account": <Account>, "status": <Status>} in the operation's pool.
 * NGX_OK: done(op, json, data) will be called (json NULL: not found or
 * failed) unless the operation is cancelled first.
 */
ngx_int_t
ngx_http_mastodon_debug_render(ngx_http_mastodon_op_t *op, int64_t account_id,
    int64_t status_id, ngx_http_mastodon_debug_render_pt done, void *data)
{
    const char                        **values;
    ngx_http_mastodon_pg_batch_t       *b;
    ngx_http_mastodon_debug_render_t   *dr;

    dr = ngx_pcalloc(op->pool, sizeof(ngx_http_mastodon_debug_render_t));
    values = ngx_palloc(op->pool, sizeof(char *));
    if (dr == NULL || values == NULL) {
        return NGX_ERROR;
    }

    dr->op = op;
    dr->status_id = status_id;
    dr->done = done;
    dr->data = data;

    values[0] = ngx_http_mastodon_pg_pool_int64(op->pool, account_id);
    if (values[0] == NULL) {
        return NGX_ERROR;
    }

    b = ngx_http_mastodon_pg_op_batch(op, ngx_http_mastodon_debug_account, dr);

    if (b == NULL
        || ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_debug_account_stmt,
                                    values)
           != NGX_OK
        || ngx_http_mastodon_pg_run(b) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_mastodon_debug_account(ngx_http_mastodon_pg_batch_t *b)
{
    PGresult                          *res;
    ngx_http_mastodon_statuses_t      *st;
    ngx_http_mastodon_debug_render_t  *dr = b->data;

    res = ngx_http_mastodon_pg_rows(b, 0);

    if (res == NULL || PQntuples(res) != 1
        || ngx_http_mastodon_account_op_json(dr->op, res, 0, 0, &dr->account)
           != NGX_OK)
    {
        goto failed;
    }

    st = ngx_http_mastodon_statuses_op(dr->op, 0, &dr->status_id, 1, 0);

    if (st != NULL
        && ngx_http_mastodon_statuses_load(st, ngx_http_mastodon_debug_status,
                                           dr)
           == NGX_DONE)
    {
        return;
    }

failed:

    dr->done(dr->op, NULL, dr->data);
}


/* r is NULL: the operation is no request's */
static void
ngx_http_mastodon_debug_status(ngx_http_request_t *r,
    ngx_http_mastodon_statuses_t *st, void *data)
{
    ngx_http_mastodon_debug_render_t *dr = data;

    ngx_str_t                 json;
    ngx_http_mastodon_json_t  j;

    if (st->rc != NGX_OK || !ngx_http_mastodon_statuses_shown(st, 0)
        || ngx_http_mastodon_json_op_init(dr->op, &j) != NGX_OK)
    {
        dr->done(dr->op, NULL, dr->data);
        return;
    }

    ngx_http_mastodon_json_open(&j, NULL);
    ngx_http_mastodon_json_raw(&j, "account", &dr->account);
    ngx_http_mastodon_status_write(&j, "status", st, 0);
    ngx_http_mastodon_json_close(&j);

    if (ngx_http_mastodon_json_string(&j, &json) != NGX_OK) {
        dr->done(dr->op, NULL, dr->data);
        return;
    }

    dr->done(dr->op, &json, dr->data);
}
