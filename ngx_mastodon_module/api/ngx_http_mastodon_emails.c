/*
 * POST /api/v1/emails/confirmations: a new confirmation e-mail for a user
 * who has not confirmed yet (the first one was lost, or went to a wrong
 * address: the optional `email` parameter changes it first).  Only the
 * application the user signed up with may ask, as in Mastodon.  A fresh
 * token replaces the old one (only its digest is stored), and the worker
 * sends the mail (a user_confirmation job on the mailers queue).
 */

#include "ngx_http_mastodon_api.h"
#include "mstdn_oauth.h"


typedef struct {
    char         token[MSTDN_SECRET_LEN + 1];
    u_char       digest[64 + 1];
    u_char       user_id[NGX_INT64_LEN + 1];
    u_char       app_id[NGX_INT64_LEN + 1];
} ngx_http_mastodon_resend_t;


static void ngx_http_mastodon_resend_updated(ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_resend_enqueued(ngx_http_request_t *r,
    redisReply *reply, void *data);


/* the state before the update: confirmed? signed up with this app? */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_resend_check =
    ngx_http_mastodon_pg_stmt(
        "SELECT confirmed_at IS NOT NULL,"
        " coalesce(created_by_application_id, 0) = $2::bigint"
        " FROM users WHERE id = $1::bigint", 2);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_resend_update =
    ngx_http_mastodon_pg_stmt(
        "UPDATE users SET confirmation_token = $3,"
        " confirmation_sent_at = now() AT TIME ZONE 'UTC',"
        " email = coalesce($4, email), updated_at = now() AT TIME ZONE 'UTC'"
        " WHERE id = $1::bigint AND confirmed_at IS NULL"
        " AND created_by_application_id = $2::bigint"
        " RETURNING id", 4);


ngx_int_t
ngx_http_mastodon_emails_confirmation(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    size_t                         len;
    ngx_str_t                      token, address;
    const char                    *email, **values;
    ngx_http_mastodon_resend_t    *rs;
    ngx_http_mastodon_pg_batch_t  *b;

    if (ctx->auth->user_id == 0) {
        ctx->error_message = "This method requires an authenticated user";
        return 422;
    }

    email = mstdn_param_str(ctx->params, "email", &len);

    if (email && len) {
        /* stripped, lower case, Mastodon's validations: as at sign-up */
        switch (ngx_http_mastodon_email_normalize(r, email, len, &address)) {
        case NGX_OK:
            email = (const char *) address.data;
            break;
        case NGX_DECLINED:
            ctx->error_message = "Validation failed: Email is invalid";
            return 422;
        default:
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

    } else {
        email = NULL;
    }

    rs = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_resend_t));
    values = ngx_pcalloc(r->pool, 4 * sizeof(char *));
    if (rs == NULL || values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (mstdn_random_secret(rs->token) != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    token.data = (u_char *) rs->token;
    token.len = MSTDN_SECRET_LEN;
    ngx_http_mastodon_token_digest(&token, rs->digest);

    *ngx_sprintf(rs->user_id, "%L", ctx->auth->user_id) = '\0';
    *ngx_sprintf(rs->app_id, "%L", ctx->auth->app_id) = '\0';

    values[0] = (const char *) rs->user_id;
    values[1] = (const char *) rs->app_id;
    values[2] = (const char *) rs->digest;
    values[3] = email;

    b = ngx_http_mastodon_pg_batch(r, ngx_http_mastodon_resend_updated, rs);
    if (b == NULL
        || ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_resend_check, values)
           != NGX_OK
        || ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_resend_update,
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
ngx_http_mastodon_resend_updated(ngx_http_mastodon_pg_batch_t *b)
{
    PGresult                    *check, *update;
    ngx_str_t                    args;
    const char                  *state;
    ngx_http_request_t          *r;
    ngx_http_mastodon_ctx_t     *ctx;
    ngx_http_mastodon_json_t     j;
    ngx_http_mastodon_resend_t  *rs;

    r = b->request;
    rs = b->data;
    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);
    check = b->results[0];
    update = b->results[1];

    if (b->rc != NGX_OK || check == NULL || update == NULL
        || PQresultStatus(check) != PGRES_TUPLES_OK)
    {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (PQresultStatus(update) != PGRES_TUPLES_OK) {
        state = PQresultErrorField(update, PG_DIAG_SQLSTATE);

        if (state && ngx_strcmp(state, "23505") == 0) {
            ctx->error_message = "Validation failed: Email has already been "
                                 "taken";
            ngx_http_mastodon_finalize(r, 422);
            return;
        }

        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (PQntuples(check) != 1) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_NOT_FOUND);
        return;
    }

    if (PQgetvalue(check, 0, 1)[0] != 't') {
        ctx->error_message = "This method is only available to the "
                             "application the user originally signed-up with";
        ngx_http_mastodon_finalize(r, NGX_HTTP_FORBIDDEN);
        return;
    }

    if (PQgetvalue(check, 0, 0)[0] == 't' || PQntuples(update) != 1) {
        ctx->error_message = "This method is only available while the e-mail "
                             "is awaiting confirmation";
        ngx_http_mastodon_finalize(r, NGX_HTTP_FORBIDDEN);
        return;
    }

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_mastodon_json_open(&j, NULL);
    ngx_http_mastodon_json_kv_cstr(&j, "user_id", (const char *) rs->user_id);
    ngx_http_mastodon_json_kv_cstr(&j, "token", (const char *) rs->token);
    ngx_http_mastodon_json_close(&j);

    if (ngx_http_mastodon_json_string(&j, &args) != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (ngx_http_mastodon_enqueue(r, "mailers", "user_confirmation", &args,
                                  ngx_http_mastodon_resend_enqueued, rs)
        != NGX_OK)
    {
        ngx_http_mastodon_resend_enqueued(r, NULL, rs);
    }
}


static void
ngx_http_mastodon_resend_enqueued(ngx_http_request_t *r, redisReply *reply,
    void *data)
{
    ngx_str_t  body, type;

    if (reply == NULL || reply->type != REDIS_REPLY_STRING) {
        /* the token was replaced but no mail will come: say so, to retry */
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mastodon: could not queue a confirmation e-mail");
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    ngx_str_set(&body, "{}");
    ngx_str_set(&type, "application/json; charset=utf-8");

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_send_text(r, NGX_HTTP_OK,
                                                              &type, &body));
}
