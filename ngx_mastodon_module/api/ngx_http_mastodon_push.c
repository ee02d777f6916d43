/*
 * Web Push subscriptions (Api::V1::Push::SubscriptionsController):
 * POST, GET, PUT, DELETE /api/v1/push/subscription, scope push, one
 * subscription per access token (a POST replaces the token's: a new id).
 *
 * POST takes subscription[endpoint], subscription[keys][p256dh|auth],
 * subscription[standard] (4.4: the client decrypts RFC 8291 aes128gcm)
 * and data[alerts][<type>], data[policy]; PUT replaces data.  data is
 * stored as JSON text written here ({"alerts":{...},"policy":"..."}, the
 * alerts cast to booleans as the serializer shows them), and shown back
 * as the WebPushSubscription entity with the server's VAPID key.  The
 * worker (worker/job_web_push.c) reads it to push each notification.
 */

#include "ngx_http_mastodon_api.h"
#include "mstdn_json.h"
#include "mstdn_webpush.h"


#define NGX_HTTP_MASTODON_PUSH_ENDPOINT_MAX  4096
#define NGX_HTTP_MASTODON_PUSH_KEY_MAX       256
#define NGX_HTTP_MASTODON_PUSH_POLICY_MAX    64


/* Notification::TYPES: the alerts data[alerts] may set */
static const char  *ngx_http_mastodon_push_types[] = {
    "mention", "quote", "status", "reblog", "follow", "follow_request",
    "favourite", "poll", "update", "quoted_update", "admin.sign_up",
    "admin.report", "severed_relationships", "moderation_warning", NULL
};


#define NGX_HTTP_MASTODON_PUSH_COLUMNS                                        \
    " RETURNING id, endpoint, standard,"                                      \
    " coalesce(data->'alerts', '{}')::text, coalesce(data->>'policy', 'all')"

/*
 * $1 token, $2 user, $3 endpoint, $4 p256dh, $5 auth, $6 standard, $7 data,
 * $8 the bearer token itself (only its digest is in oauth_access_tokens;
 * every push carries it)
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_push_create =
    ngx_http_mastodon_pg_stmt(
        "INSERT INTO web_push_subscriptions (access_token_id, user_id,"
        " endpoint, key_p256dh, key_auth, standard, data, token)"
        " VALUES ($1::bigint, $2::bigint, $3, $4, $5, $6::boolean, $7::json,"
        " $8)"
        " ON CONFLICT (access_token_id) DO UPDATE SET"
        " id = nextval('web_push_subscriptions_id_seq'),"
        " user_id = excluded.user_id, endpoint = excluded.endpoint,"
        " key_p256dh = excluded.key_p256dh, key_auth = excluded.key_auth,"
        " standard = excluded.standard, data = excluded.data,"
        " token = excluded.token,"
        " created_at = now() AT TIME ZONE 'UTC',"
        " updated_at = now() AT TIME ZONE 'UTC'"
        NGX_HTTP_MASTODON_PUSH_COLUMNS, 8);

/* $1 token, $2 data */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_push_update =
    ngx_http_mastodon_pg_stmt(
        "UPDATE web_push_subscriptions SET data = $2::json,"
        " updated_at = now() AT TIME ZONE 'UTC'"
        " WHERE access_token_id = $1::bigint"
        NGX_HTTP_MASTODON_PUSH_COLUMNS, 2);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_push_show =
    ngx_http_mastodon_pg_stmt(
        "SELECT id, endpoint, standard,"
        " coalesce(data->'alerts', '{}')::text,"
        " coalesce(data->>'policy', 'all')"
        " FROM web_push_subscriptions WHERE access_token_id = $1::bigint", 1);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_push_delete =
    ngx_http_mastodon_pg_stmt(
        "DELETE FROM web_push_subscriptions"
        " WHERE access_token_id = $1::bigint", 1);


static const char *ngx_http_mastodon_push_data(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
static void ngx_http_mastodon_push_done(ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_push_deleted(ngx_http_mastodon_pg_batch_t *b);


/* String#blank? */
static ngx_uint_t
ngx_http_mastodon_push_blank(const char *s, size_t len)
{
    size_t  i;

    for (i = 0; s && i < len; i++) {
        if (!ngx_strchr(" \t\n\v\f\r", s[i])) {
            return 0;
        }
    }

    return 1;
}


/* POST /api/v1/push/subscription */
ngx_int_t
ngx_http_mastodon_push_subscription_create(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    size_t          elen, plen, alen;
    const char     *endpoint, *p256dh, *auth, **values, *error;
    mstdn_value_t  *sub, *keys;

    sub = ctx->params ? mstdn_object_get(ctx->params, "subscription") : NULL;

    if (sub == NULL || sub->type != MSTDN_OBJECT || sub->count == 0) {
        /* params.require(:subscription) */
        ctx->error_message = "param is missing or the value is empty: "
                             "subscription";
        return NGX_HTTP_BAD_REQUEST;
    }

    endpoint = mstdn_param_str(sub, "endpoint", &elen);
    keys = mstdn_object_get(sub, "keys");

    p256dh = NULL;
    auth = NULL;
    plen = 0;
    alen = 0;

    if (keys && keys->type == MSTDN_OBJECT) {
        p256dh = mstdn_param_str(keys, "p256dh", &plen);
        auth = mstdn_param_str(keys, "auth", &alen);
    }

    /* Web::PushSubscription's validations, in their order */
    error = NULL;

    if (ngx_http_mastodon_push_blank(endpoint, elen)) {
        error = "Validation failed: Endpoint can't be blank";

    } else if (ngx_http_mastodon_push_blank(p256dh, plen)) {
        error = "Validation failed: Key p256dh can't be blank";

    } else if (ngx_http_mastodon_push_blank(auth, alen)) {
        error = "Validation failed: Key auth can't be blank";

    } else if (elen > NGX_HTTP_MASTODON_PUSH_ENDPOINT_MAX
               || !((elen > 8 && ngx_strncmp(endpoint, "https://", 8) == 0)
                    || (elen > 7
                        && ngx_strncmp(endpoint, "http://", 7) == 0)))
    {
        error = "Validation failed: Endpoint is invalid";

    } else if (plen > NGX_HTTP_MASTODON_PUSH_KEY_MAX
               || alen > NGX_HTTP_MASTODON_PUSH_KEY_MAX
               || !mstdn_webpush_keys_valid(p256dh, plen, auth, alen))
    {
        /* WebPushKeyValidator: crypto.errors.invalid_key on base */
        error = "Validation failed: is not a valid Ed25519 or Curve25519 key";
    }

    if (error) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: push subscription refused: %s", error);
        ctx->error_message = error;
        return 422;
    }

    values = ngx_pcalloc(r->pool, 8 * sizeof(const char *));
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[0] = ngx_http_mastodon_pg_int64(r, ctx->auth->token_id);
    values[1] = ngx_http_mastodon_pg_int64(r, ctx->auth->user_id);
    values[2] = endpoint;
    values[3] = p256dh;
    values[4] = auth;
    values[5] = mstdn_param_bool(sub, "standard", 0) ? "true" : "false";
    values[6] = ngx_http_mastodon_push_data(r, ctx);
    values[7] = ngx_pnalloc(r->pool, ctx->auth->bearer.len + 1);

    if (values[0] == NULL || values[1] == NULL || values[6] == NULL
        || values[7] == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_cpystrn((u_char *) values[7], ctx->auth->bearer.data,
                ctx->auth->bearer.len + 1);

    return ngx_http_mastodon_pg_query(r, &ngx_http_mastodon_push_create,
                                      values, ngx_http_mastodon_push_done,
                                      NULL);
}


/* GET /api/v1/push/subscription */
ngx_int_t
ngx_http_mastodon_push_subscription_show(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_pg_query_id(r, &ngx_http_mastodon_push_show,
                                         ctx->auth->token_id,
                                         ngx_http_mastodon_push_done, NULL);
}


/* PUT /api/v1/push/subscription */
ngx_int_t
ngx_http_mastodon_push_subscription_update(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    const char  **values;

    values = ngx_pcalloc(r->pool, 2 * sizeof(const char *));
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[0] = ngx_http_mastodon_pg_int64(r, ctx->auth->token_id);
    values[1] = ngx_http_mastodon_push_data(r, ctx);

    if (values[0] == NULL || values[1] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_pg_query(r, &ngx_http_mastodon_push_update,
                                      values, ngx_http_mastodon_push_done,
                                      NULL);
}


/* DELETE /api/v1/push/subscription */
ngx_int_t
ngx_http_mastodon_push_subscription_delete(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_pg_query_id(r, &ngx_http_mastodon_push_delete,
                                         ctx->auth->token_id,
                                         ngx_http_mastodon_push_deleted,
                                         NULL);
}


/*
 * data_params as JSON text: {} when data is blank, else the permitted
 * alerts (cast as the serializer casts them; blank ones left out) and the
 * policy when given.  NULL when out of memory.
 */
static const char *
ngx_http_mastodon_push_data(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    int             on;
    u_char         *buf, *p;
    size_t          plen;
    ngx_uint_t      i, n;
    const char     *policy;
    mstdn_value_t  *data, *alerts;

    data = ctx->params ? mstdn_object_get(ctx->params, "data") : NULL;

    if (data == NULL || data->type != MSTDN_OBJECT) {
        return "{}";
    }

    alerts = mstdn_object_get(data, "alerts");
    plen = 0;
    policy = mstdn_param_str(data, "policy", &plen);

    if (policy == NULL) {
        plen = 0;
    }

    if (policy && plen > NGX_HTTP_MASTODON_PUSH_POLICY_MAX) {
        /* none of Mastodon's; pushes nothing, as an unknown policy */
        plen = NGX_HTTP_MASTODON_PUSH_POLICY_MAX;
    }

    buf = ngx_pnalloc(r->pool, sizeof("{\"alerts\":{},\"policy\":}")
                      + 32 * (sizeof(ngx_http_mastodon_push_types)
                              / sizeof(char *))
                      + MSTDN_JSON_QUOTE_MAX(plen));
    if (buf == NULL) {
        return NULL;
    }

    p = ngx_cpymem(buf, "{\"alerts\":{", sizeof("{\"alerts\":{") - 1);

    for (i = 0, n = 0;
         alerts && alerts->type == MSTDN_OBJECT
         && ngx_http_mastodon_push_types[i];
         i++)
    {
        on = mstdn_param_bool(alerts, ngx_http_mastodon_push_types[i], -1);
        if (on == -1) {
            continue;
        }

        p = ngx_sprintf(p, "%s\"%s\":%s", n++ ? "," : "",
                        ngx_http_mastodon_push_types[i],
                        on ? "true" : "false");
    }

    *p++ = '}';

    if (policy) {
        p = ngx_cpymem(p, ",\"policy\":", sizeof(",\"policy\":") - 1);
        p += mstdn_json_quote((char *) p, policy, plen);
    }

    *p++ = '}';
    *p = '\0';

    return (const char *) buf;
}


/* REST::WebPushSubscriptionSerializer of the row, or 404 */
static void
ngx_http_mastodon_push_done(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_str_t                  s;
    PGresult                  *res;
    ngx_http_request_t        *r;
    ngx_http_mastodon_json_t   j;

    r = b->request;
    res = ngx_http_mastodon_pg_rows(b, 0);

    if (res == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (PQntuples(res) == 0) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_NOT_FOUND);
        return;
    }

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_mastodon_json_open(&j, NULL);
    ngx_http_mastodon_json_kv_pq(&j, "id", res, 0, 0);
    ngx_http_mastodon_json_kv_pq(&j, "endpoint", res, 0, 1);
    ngx_http_mastodon_json_kv_bool(&j, "standard",
                                   ngx_http_mastodon_pg_bool(res, 0, 2));
    s = ngx_http_mastodon_pg_str(res, 0, 3);
    ngx_http_mastodon_json_raw(&j, "alerts", &s);
    ngx_http_mastodon_json_kv_str(&j, "server_key",
                                  &j.conf->vapid_public_key);
    ngx_http_mastodon_json_kv_pq(&j, "policy", res, 0, 4);
    ngx_http_mastodon_json_close(&j);

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_json_send(&j,
                                                              NGX_HTTP_OK));
}


/* render_empty */
static void
ngx_http_mastodon_push_deleted(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_http_mastodon_finalize(b->request, ngx_http_mastodon_pg_ok(b)
                               ? ngx_http_mastodon_send_empty(b->request)
                               : NGX_HTTP_SERVICE_UNAVAILABLE);
}
