/*
 * OAuth applications: POST /api/v1/apps registers a client (Tusky, Elk,
 * toot...) and returns its CredentialApplication with client_id and
 * client_secret.  Validation errors are Mastodon's 422 "Validation failed:
 * ..." with Doorkeeper's wording.
 */

#include "ngx_http_mastodon_api.h"
#include "mstdn_oauth.h"
#include "mstdn_utf8.h"


#define NGX_HTTP_MASTODON_APP_NAME_MAX      60
#define NGX_HTTP_MASTODON_APP_URI_MAX       2000
#define NGX_HTTP_MASTODON_APP_WEBSITE_MAX   2000


typedef struct {
    ngx_str_t    name;
    ngx_str_t    website;          /* data NULL when absent */
    ngx_str_t    redirect_uri;     /* normalized: one URI a line */
    ngx_str_t    scopes;           /* normalized: single spaces */
    char         uid[MSTDN_SECRET_LEN + 1];
    char         secret[MSTDN_SECRET_LEN + 1];
} ngx_http_mastodon_app_t;


static ngx_int_t ngx_http_mastodon_apps_redirect_uris(ngx_http_request_t *r,
    mstdn_value_t *v, ngx_str_t *out, const char **err);
static ngx_int_t ngx_http_mastodon_apps_scopes(ngx_http_request_t *r,
    mstdn_value_t *v, ngx_str_t *out);
static void ngx_http_mastodon_apps_created(ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_json_kv_words(ngx_http_mastodon_json_t *j,
    const char *key, ngx_str_t *s, u_char sep);
static void ngx_http_mastodon_apps_render(ngx_http_mastodon_json_t *j,
    ngx_str_t *id, ngx_http_mastodon_app_t *app);
static void ngx_http_mastodon_apps_loaded(ngx_http_mastodon_pg_batch_t *b);


static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_apps_select =
    ngx_http_mastodon_pg_stmt(
        "SELECT id, name, website, redirect_uri, scopes"
        " FROM oauth_applications WHERE id = $1", 1);


static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_apps_insert =
    ngx_http_mastodon_pg_stmt(
        "INSERT INTO oauth_applications"
        " (name, uid, secret, redirect_uri, scopes, website,"
        "  created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, $6,"
        "  now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')"
        " RETURNING id", 6);


ngx_int_t
ngx_http_mastodon_apps_create(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    u_char                        *p, *msg, *last;
    size_t                         len;
    const char                    *s, *err, **values;
    mstdn_value_t                 *v;
    ngx_http_mastodon_app_t       *app;

    app = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_app_t));
    msg = ngx_pnalloc(r->pool, 1024);
    if (app == NULL || msg == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* Rails lists every failed validation: "Validation failed: A, B" */
    last = msg + 1024 - 1;
    p = ngx_slprintf(msg, last, "Validation failed: ");

    s = mstdn_param_str(ctx->params, "client_name", &len);

    if (s == NULL || len == 0) {
        p = ngx_slprintf(p, last, "Application name can't be blank, ");

    } else if (mstdn_utf8_length((const unsigned char *) s, len) > NGX_HTTP_MASTODON_APP_NAME_MAX)
    {
        p = ngx_slprintf(p, last, "Application name is too long (maximum is "
                         "%d characters), ", NGX_HTTP_MASTODON_APP_NAME_MAX);
    }

    app->name.data = (u_char *) s;
    app->name.len = s ? len : 0;

    v = mstdn_object_get(ctx->params, "redirect_uris");
    if (v == NULL) {
        v = mstdn_object_get(ctx->params, "redirect_uri");
    }

    if (ngx_http_mastodon_apps_redirect_uris(r, v, &app->redirect_uri, &err)
        != NGX_OK)
    {
        if (err == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        p = ngx_slprintf(p, last, "Redirect URI %s, ", err);
    }

    if (ngx_http_mastodon_apps_scopes(r, mstdn_object_get(ctx->params,
                                                          "scopes"),
                                      &app->scopes)
        != NGX_OK)
    {
        p = ngx_slprintf(p, last,
                         "Scopes doesn't match configured on the server., ");
    }

    s = mstdn_param_str(ctx->params, "website", &len);

    if (s && len) {
        if (len > NGX_HTTP_MASTODON_APP_WEBSITE_MAX
            || !((len > 7 && ngx_strncasecmp((u_char *) s,
                                             (u_char *) "http://", 7) == 0)
                 || (len > 8 && ngx_strncasecmp((u_char *) s,
                                                (u_char *) "https://", 8)
                                == 0))
            || mstdn_redirect_uri_check(s, len) != NULL)
        {
            p = ngx_slprintf(p, last, "Application website is invalid, ");
        }

        app->website.data = (u_char *) s;
        app->website.len = len;
    }

    if (p != msg + sizeof("Validation failed: ") - 1) {
        p -= 2;                                 /* the last ", " */
        *p = '\0';
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: app not registered: %s", msg);
        ctx->error_message = (const char *) msg;
        return 422;
    }

    if (mstdn_random_secret(app->uid) != 0
        || mstdn_random_secret(app->secret) != 0)
    {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "mastodon: no random bytes for a client secret");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values = ngx_pcalloc(r->pool, 6 * sizeof(char *));
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[0] = (const char *) app->name.data;      /* NUL-terminated */
    values[1] = app->uid;
    values[2] = app->secret;
    values[3] = (const char *) app->redirect_uri.data;
    values[4] = (const char *) app->scopes.data;
    values[5] = (const char *) app->website.data;   /* NULL: SQL NULL */

    return ngx_http_mastodon_pg_query(r, &ngx_http_mastodon_apps_insert, values,
                                      ngx_http_mastodon_apps_created, app);
}


/* A string of URIs separated by white space, or an array of strings. */
static ngx_int_t
ngx_http_mastodon_apps_redirect_uris(ngx_http_request_t *r, mstdn_value_t *v,
    ngx_str_t *out, const char **err)
{
    u_char         *p, *start, *end;
    size_t          total;
    ngx_uint_t      n;
    mstdn_value_t  *item;

    *err = "can't be blank";

    if (v == NULL) {
        return NGX_DECLINED;
    }

    total = 0;

    if (v->type == MSTDN_STRING) {
        total = v->len;

    } else if (v->type == MSTDN_ARRAY) {
        for (item = v->first; item; item = item->next) {
            if (item->type != MSTDN_STRING) {
                *err = "must be a valid URI.";
                return NGX_DECLINED;
            }
            total += item->len + 1;
        }

    } else {
        *err = "must be a valid URI.";
        return NGX_DECLINED;
    }

    if (total > NGX_HTTP_MASTODON_APP_URI_MAX) {
        *err = "is too long (maximum is 2000 characters)";
        return NGX_DECLINED;
    }

    out->data = ngx_pnalloc(r->pool, total + 1);
    if (out->data == NULL) {
        *err = NULL;
        return NGX_ERROR;
    }

    /* join, then split on white space as Doorkeeper does */
    p = out->data;

    if (v->type == MSTDN_STRING) {
        p = ngx_cpymem(p, v->str, v->len);

    } else {
        for (item = v->first; item; item = item->next) {
            p = ngx_cpymem(p, item->str, item->len);
            *p++ = '\n';
        }
    }

    end = p;
    p = out->data;
    out->len = 0;
    n = 0;

    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\n' || *p == '\r'
                           || *p == '\t'))
        {
            p++;
        }

        start = p;

        while (p < end && !(*p == ' ' || *p == '\n' || *p == '\r'
                            || *p == '\t'))
        {
            p++;
        }

        if (p == start) {
            break;
        }

        *err = mstdn_redirect_uri_check((char *) start, p - start);
        if (*err) {
            return NGX_DECLINED;
        }

        if (n++) {
            out->data[out->len++] = '\n';
        }

        ngx_memmove(out->data + out->len, start, p - start);
        out->len += p - start;
    }

    if (n == 0) {
        *err = "can't be blank";
        return NGX_DECLINED;
    }

    out->data[out->len] = '\0';

    return NGX_OK;
}


/*
 * Doorkeeper's Scopes.from_string: split at white space, each scope once,
 * in first-seen order; every scope must be one the server knows, so what
 * is kept is bounded by the list of known scopes.
 */
static ngx_int_t
ngx_http_mastodon_apps_scopes(ngx_http_request_t *r, mstdn_value_t *v,
    ngx_str_t *out)
{
    u_char  *p, *src, *end, *start, *seen;
    size_t   n;

    if (v == NULL || (v->type == MSTDN_STRING && v->len == 0)) {
        ngx_str_set(out, "read");
        return NGX_OK;
    }

    if (v->type != MSTDN_STRING) {
        return NGX_DECLINED;
    }

    out->data = ngx_pnalloc(r->pool, v->len + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    p = out->data;
    src = (u_char *) v->str;
    end = src + v->len;

    while (src < end) {
        if (ngx_strchr(" \t\n\v\f\r", *src) && *src != '\0') {
            src++;
            continue;
        }

        start = src;

        while (src < end && !(ngx_strchr(" \t\n\v\f\r", *src)
                              && *src != '\0'))
        {
            src++;
        }

        n = src - start;

        /* an unknown scope ends it: what is kept stays a few known ones */
        if (!mstdn_scope_valid((char *) start, n)) {
            return NGX_DECLINED;
        }

        /* already listed: " scope " somewhere in what was kept */
        for (seen = out->data; seen < p; seen++) {
            if ((seen == out->data || seen[-1] == ' ')
                && (size_t) (p - seen) >= n
                && ngx_strncmp(seen, start, n) == 0
                && (seen + n == p || seen[n] == ' '))
            {
                break;
            }
        }

        if (seen < p) {
            continue;
        }

        if (p != out->data) {
            *p++ = ' ';
        }

        p = ngx_cpymem(p, start, n);
    }

    *p = '\0';
    out->len = p - out->data;

    /* none at all: "   " */
    if (out->len == 0) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static void
ngx_http_mastodon_apps_created(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_str_t                  id, uid, secret;
    PGresult                  *res;
    ngx_http_request_t        *r;
    ngx_http_mastodon_app_t   *app;
    ngx_http_mastodon_json_t   j;

    r = b->request;
    app = b->data;
    res = ngx_http_mastodon_pg_rows(b, 0);

    if (res == NULL || PQntuples(res) != 1)
    {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    id = ngx_http_mastodon_pg_str(res, 0, 0);
    uid.data = (u_char *) app->uid;
    uid.len = MSTDN_SECRET_LEN;
    secret.data = (u_char *) app->secret;
    secret.len = MSTDN_SECRET_LEN;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mastodon: registered app %V \"%V\"", &id, &app->name);

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_mastodon_json_open(&j, NULL);
    ngx_http_mastodon_apps_render(&j, &id, app);
    ngx_http_mastodon_json_kv_str(&j, "client_id", &uid);
    ngx_http_mastodon_json_kv_str(&j, "client_secret", &secret);
    ngx_http_mastodon_json_kv_int(&j, "client_secret_expires_at", 0);
    ngx_http_mastodon_json_close(&j);

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_json_send(&j,
                                                              NGX_HTTP_OK));
}


/* The Application entity's attributes, inside an open object. */
static void
ngx_http_mastodon_apps_render(ngx_http_mastodon_json_t *j, ngx_str_t *id,
    ngx_http_mastodon_app_t *app)
{
    ngx_http_mastodon_json_kv_str(j, "id", id);
    ngx_http_mastodon_json_kv_str(j, "name", &app->name);

    if (app->website.data) {
        ngx_http_mastodon_json_kv_str(j, "website", &app->website);
    } else {
        ngx_http_mastodon_json_kv_null(j, "website");
    }

    ngx_http_mastodon_json_kv_words(j, "scopes", &app->scopes, ' ');
    ngx_http_mastodon_json_kv_str(j, "redirect_uri", &app->redirect_uri);
    ngx_http_mastodon_json_kv_words(j, "redirect_uris", &app->redirect_uri,
                                    '\n');
    ngx_http_mastodon_json_kv_str(j, "vapid_key", &j->conf->vapid_public_key);
}


/* GET /api/v1/apps/verify_credentials: the token's own application. */
ngx_int_t
ngx_http_mastodon_apps_verify_credentials(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_pg_query_id(r, &ngx_http_mastodon_apps_select,
                                         ctx->auth->app_id,
                                         ngx_http_mastodon_apps_loaded, NULL);
}


static void
ngx_http_mastodon_apps_loaded(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_str_t                  id;
    PGresult                  *res;
    ngx_http_request_t        *r;
    ngx_http_mastodon_app_t    app;
    ngx_http_mastodon_json_t   j;

    r = b->request;
    res = ngx_http_mastodon_pg_rows(b, 0);

    if (res == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (PQntuples(res) != 1) {
        /* the application was deleted under its token */
        ngx_http_mastodon_finalize(r, NGX_HTTP_UNAUTHORIZED);
        return;
    }

    ngx_memzero(&app, sizeof(app));

    id = ngx_http_mastodon_pg_str(res, 0, 0);
    app.name = ngx_http_mastodon_pg_str(res, 0, 1);

    if (!PQgetisnull(res, 0, 2)) {
        app.website = ngx_http_mastodon_pg_str(res, 0, 2);
    }

    app.redirect_uri = ngx_http_mastodon_pg_str(res, 0, 3);
    app.scopes = ngx_http_mastodon_pg_str(res, 0, 4);

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_mastodon_json_open(&j, NULL);
    ngx_http_mastodon_apps_render(&j, &id, &app);
    ngx_http_mastodon_json_close(&j);

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_json_send(&j,
                                                              NGX_HTTP_OK));
}


static void
ngx_http_mastodon_json_kv_words(ngx_http_mastodon_json_t *j, const char *key,
    ngx_str_t *s, u_char sep)
{
    u_char     *p, *end, *start;
    ngx_str_t   word;

    ngx_http_mastodon_json_open_array(j, key);

    p = s->data;
    end = p + s->len;

    while (p < end) {
        start = p;
        while (p < end && *p != sep) {
            p++;
        }

        word.data = start;
        word.len = p - start;

        if (word.len) {
            ngx_http_mastodon_json_str(j, &word);
        }

        p++;
    }

    ngx_http_mastodon_json_close_array(j);
}
