/*
 * PATCH /api/v1/accounts/update_credentials: the user's own profile and
 * posting defaults.  Form, JSON and multipart (Tusky sends multipart) all
 * work.  Validated first (Mastodon's 422 "Validation failed: ..."), then
 * one batch updates the account, merges the settings and reads the
 * CredentialAccount back: one round trip, all or nothing.  Unlocking the
 * account turns its pending follow requests into follows.
 */

#include "ngx_http_mastodon_api.h"
#include "mstdn_utf8.h"


#define NGX_HTTP_MASTODON_DISPLAY_NAME_MAX  30
#define NGX_HTTP_MASTODON_NOTE_MAX          500
#define NGX_HTTP_MASTODON_FIELDS_MAX        4
#define NGX_HTTP_MASTODON_FIELD_MAX         255


static const char *ngx_http_mastodon_bool_value(mstdn_value_t *params,
    const char *key);
static ngx_int_t ngx_http_mastodon_fields_json(ngx_http_request_t *r,
    mstdn_value_t *attrs, const char **out, const char **err);
static const char *ngx_http_mastodon_gen_string(ngx_http_request_t *r,
    yajl_gen g);


/* the profile goes to the remote followers (activitypub_account) */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_update_federate =
    ngx_http_mastodon_pg_stmt(
        NGX_HTTP_MASTODON_OUTBOX_SQL(
        "SELECT 'push', 'activitypub_account', json_build_object("
        "'account_id', $1::bigint::text, 'action', 'update')"
        " WHERE EXISTS (SELECT 1 FROM follows f JOIN accounts fa"
        " ON fa.id = f.account_id AND fa.domain IS NOT NULL"
        " WHERE f.target_account_id = $1::bigint)"), 1);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_update_account =
    ngx_http_mastodon_pg_stmt(
        "UPDATE accounts SET"
        " display_name = coalesce($2, display_name),"
        " note = coalesce($3, note),"
        " locked = coalesce($4::boolean, locked),"
        " actor_type = CASE WHEN $5::boolean IS NULL THEN actor_type"
        "  WHEN $5::boolean THEN 'Service' ELSE 'Person' END,"
        " discoverable = coalesce($6::boolean, discoverable),"
        " hide_collections = coalesce($7::boolean, hide_collections),"
        " indexable = coalesce($8::boolean, indexable),"
        " fields = coalesce($9::jsonb, fields),"
        " updated_at = now() AT TIME ZONE 'UTC'"
        " WHERE id = $1", 9);

/*
 * An account that is not locked (any more): its pending follow requests
 * become follows, with their options, as Mastodon's UpdateAccountService
 * authorizes them on unlocking; those of silenced accounts stay pending.
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_unlock_requests =
    ngx_http_mastodon_pg_stmt(NGX_HTTP_MASTODON_REL_SQL_AUTHORIZE(
        "target_account_id = $1::bigint"
        " AND NOT (SELECT locked FROM accounts WHERE id = $1::bigint)"
        " AND NOT EXISTS (SELECT 1 FROM accounts s"
        "  WHERE s.id = follow_requests.account_id"
        "  AND s.silenced_at IS NOT NULL)"), 1);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_update_settings =
    ngx_http_mastodon_pg_stmt(
        "UPDATE users SET settings ="
        " (coalesce(nullif(settings, ''), '{}')::jsonb || $2::jsonb)::text"
        " WHERE account_id = $1", 2);


ngx_int_t
ngx_http_mastodon_accounts_update_credentials(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    u_char                        *msg, *p, *last;
    size_t                         len;
    yajl_gen                       g;
    const char                    *s, *err, **values, **svalues, **cvalues;
    mstdn_value_t                 *params, *source, *attrs, *privacy;
    ngx_http_mastodon_pg_batch_t  *b;

    params = ctx->params;

    values = ngx_pcalloc(r->pool, 9 * sizeof(char *));
    svalues = ngx_pcalloc(r->pool, 2 * sizeof(char *));
    cvalues = ngx_pcalloc(r->pool, sizeof(char *));
    msg = ngx_pnalloc(r->pool, 512);
    if (values == NULL || svalues == NULL || cvalues == NULL || msg == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[0] = ngx_http_mastodon_pg_int64(r, ctx->auth->account_id);
    if (values[0] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    svalues[0] = values[0];
    cvalues[0] = values[0];

    last = msg + 511;
    p = ngx_slprintf(msg, last, "Validation failed: ");

    s = mstdn_param_str(params, "display_name", &len);
    if (s) {
        if (mstdn_utf8_length((u_char *) s, len)
            > NGX_HTTP_MASTODON_DISPLAY_NAME_MAX)
        {
            p = ngx_slprintf(p, last, "Display name is too long (maximum is "
                             "%d characters), ",
                             NGX_HTTP_MASTODON_DISPLAY_NAME_MAX);
        }
        values[1] = s;
    }

    s = mstdn_param_str(params, "note", &len);
    if (s) {
        if (mstdn_utf8_length((u_char *) s, len) > NGX_HTTP_MASTODON_NOTE_MAX) {
            p = ngx_slprintf(p, last, "Note is too long (maximum is %d "
                             "characters), ", NGX_HTTP_MASTODON_NOTE_MAX);
        }
        values[2] = s;
    }

    values[3] = ngx_http_mastodon_bool_value(params, "locked");
    values[4] = ngx_http_mastodon_bool_value(params, "bot");
    values[5] = ngx_http_mastodon_bool_value(params, "discoverable");
    values[6] = ngx_http_mastodon_bool_value(params, "hide_collections");
    values[7] = ngx_http_mastodon_bool_value(params, "indexable");

    /* permit(fields_attributes: [:name, :value]) drops a scalar */
    attrs = mstdn_object_get(params, "fields_attributes");
    if (attrs && (attrs->type == MSTDN_OBJECT || attrs->type == MSTDN_ARRAY)) {
        if (ngx_http_mastodon_fields_json(r, attrs, &values[8], &err)
            != NGX_OK)
        {
            if (err == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
            p = ngx_slprintf(p, last, "%s, ", err);
        }
    }

    /* source[...]: the posting defaults, kept in users.settings */
    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    yajl_gen_map_open(g);

    source = mstdn_object_get(params, "source");

    /* a boolean is a scalar Rails lets through, and no visibility */
    privacy = mstdn_object_get(source, "privacy");
    if (privacy && privacy->type == MSTDN_BOOL) {
        p = ngx_slprintf(p, last, "Posting privacy is not included in "
                         "the list, ");
    }

    s = mstdn_param_str(source, "privacy", &len);
    if (s && len) {
        if (ngx_strcmp(s, "public") != 0 && ngx_strcmp(s, "unlisted") != 0
            && ngx_strcmp(s, "private") != 0)
        {
            p = ngx_slprintf(p, last, "Posting privacy is not included in "
                             "the list, ");
        }
        yajl_gen_string(g, (u_char *) "default_privacy", 15);
        yajl_gen_string(g, (u_char *) s, len);
    }

    if (mstdn_object_get(source, "sensitive")) {
        yajl_gen_string(g, (u_char *) "default_sensitive", 17);
        yajl_gen_bool(g, mstdn_param_bool(source, "sensitive", 0));
    }

    s = mstdn_param_str(source, "language", &len);
    if (s) {
        /* an ISO 639 code, or empty for none */
        if (len > 3 || (len && len < 2)) {
            p = ngx_slprintf(p, last, "Posting language is not included in "
                             "the list, ");
        }
        yajl_gen_string(g, (u_char *) "default_language", 16);
        if (len) {
            yajl_gen_string(g, (u_char *) s, len);
        } else {
            yajl_gen_null(g);
        }
    }

    yajl_gen_map_close(g);
    svalues[1] = ngx_http_mastodon_gen_string(r, g);
    yajl_gen_free(g);

    if (svalues[1] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (p != msg + sizeof("Validation failed: ") - 1) {
        p -= 2;
        *p = '\0';
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: profile not updated: %s", msg);
        ctx->error_message = (const char *) msg;
        return 422;
    }

    b = ngx_http_mastodon_pg_batch(r, ngx_http_mastodon_credentials_done,
                                   NULL);
    if (b == NULL
        || ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_update_account,
                                    values) != NGX_OK
        || (values[3] && values[3][0] == 'f'
            && ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_unlock_requests,
                                        cvalues) != NGX_OK)
        || ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_update_settings,
                                    svalues) != NGX_OK
        || ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_update_federate,
                                    values) != NGX_OK
        || ngx_http_mastodon_pg_add(b, ngx_http_mastodon_credentials_stmt(),
                                    cvalues) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mastodon_pg_run(b) != NGX_OK) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}


/* "t", "f", or NULL (absent: unchanged), with Rails' casting */
static const char *
ngx_http_mastodon_bool_value(mstdn_value_t *params, const char *key)
{
    mstdn_value_t  *v;

    v = mstdn_object_get(params, key);
    if (v == NULL || v->type == MSTDN_NULL
        || (v->type == MSTDN_STRING && v->len == 0))
    {
        return NULL;
    }

    return mstdn_param_bool(params, key, 0) ? "t" : "f";
}


/*
 * fields_attributes as {"0": {"name","value"}, ...} (forms) or an array
 * (JSON): pairs with both parts blank are dropped, as Mastodon does.
 */
static ngx_int_t
ngx_http_mastodon_fields_json(ngx_http_request_t *r, mstdn_value_t *attrs,
    const char **out, const char **err)
{
    size_t          nlen, vlen;
    yajl_gen        g;
    ngx_uint_t      n;
    const char     *name, *value;
    mstdn_value_t  *f;

    *err = NULL;

    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        return NGX_ERROR;
    }

    yajl_gen_array_open(g);
    n = 0;

    for (f = attrs->first; f; f = f->next) {
        name = mstdn_param_str(f, "name", &nlen);
        value = mstdn_param_str(f, "value", &vlen);

        if (name == NULL) {
            name = "";
            nlen = 0;
        }
        if (value == NULL) {
            value = "";
            vlen = 0;
        }

        if (nlen == 0 && vlen == 0) {
            continue;
        }

        if (mstdn_utf8_length((u_char *) name, nlen)
                > NGX_HTTP_MASTODON_FIELD_MAX
            || mstdn_utf8_length((u_char *) value, vlen)
               > NGX_HTTP_MASTODON_FIELD_MAX)
        {
            *err = "Fields is too long (maximum is 255 characters)";
            yajl_gen_free(g);
            return NGX_DECLINED;
        }

        if (++n > NGX_HTTP_MASTODON_FIELDS_MAX) {
            *err = "Fields is too big (maximum is 4 fields)";
            yajl_gen_free(g);
            return NGX_DECLINED;
        }

        yajl_gen_map_open(g);
        yajl_gen_string(g, (u_char *) "name", 4);
        yajl_gen_string(g, (u_char *) name, nlen);
        yajl_gen_string(g, (u_char *) "value", 5);
        yajl_gen_string(g, (u_char *) value, vlen);
        yajl_gen_map_close(g);
    }

    yajl_gen_array_close(g);

    *out = ngx_http_mastodon_gen_string(r, g);
    yajl_gen_free(g);

    return *out ? NGX_OK : NGX_ERROR;
}


static const char *
ngx_http_mastodon_gen_string(ngx_http_request_t *r, yajl_gen g)
{
    u_char                *p;
    size_t                 len;
    const unsigned char   *buf;

    if (yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok) {
        return NULL;
    }

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        return NULL;
    }

    *ngx_cpymem(p, buf, len) = '\0';

    return (const char *) p;
}
