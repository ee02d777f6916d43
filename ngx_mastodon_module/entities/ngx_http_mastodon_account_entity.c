/*
 * The Account entity, as Mastodon's REST::AccountSerializer writes it, from
 * one row of NGX_HTTP_MASTODON_ACCOUNT_COLUMNS.  Every endpoint that shows
 * an account selects those columns and calls ngx_http_mastodon_account().
 */

#include "ngx_http_mastodon_entities.h"
#include "ngx_http_mastodon_cache.h"
#include "mstdn_json.h"
#include "mstdn_text.h"
#include "mstdn_media.h"




static void ngx_http_mastodon_account_local_image(ngx_http_mastodon_json_t *j,
    const char *key, int64_t id, const char *attribute, const char *style,
    ngx_str_t *name);
static void ngx_http_mastodon_account_cached_image(ngx_http_mastodon_json_t *j,
    const char *key, int64_t id, const char *attribute, const char *style,
    ngx_str_t *name);


enum {
    NGX_HTTP_MASTODON_ACC_ID = 0,
    NGX_HTTP_MASTODON_ACC_USERNAME,
    NGX_HTTP_MASTODON_ACC_DOMAIN,
    NGX_HTTP_MASTODON_ACC_DISPLAY_NAME,
    NGX_HTTP_MASTODON_ACC_LOCKED,
    NGX_HTTP_MASTODON_ACC_ACTOR_TYPE,
    NGX_HTTP_MASTODON_ACC_DISCOVERABLE,
    NGX_HTTP_MASTODON_ACC_INDEXABLE,
    NGX_HTTP_MASTODON_ACC_HIDE_COLLECTIONS,
    NGX_HTTP_MASTODON_ACC_CREATED_AT,
    NGX_HTTP_MASTODON_ACC_NOTE,
    NGX_HTTP_MASTODON_ACC_URL,
    NGX_HTTP_MASTODON_ACC_URI,
    NGX_HTTP_MASTODON_ACC_FOLLOWERS,
    NGX_HTTP_MASTODON_ACC_FOLLOWING,
    NGX_HTTP_MASTODON_ACC_STATUSES,
    NGX_HTTP_MASTODON_ACC_LAST_STATUS_AT,
    NGX_HTTP_MASTODON_ACC_FIELDS,
    NGX_HTTP_MASTODON_ACC_MEMORIAL,
    NGX_HTTP_MASTODON_ACC_SUSPENDED,
    NGX_HTTP_MASTODON_ACC_SILENCED,
    NGX_HTTP_MASTODON_ACC_AVATAR_REMOTE,
    NGX_HTTP_MASTODON_ACC_HEADER_REMOTE,
    NGX_HTTP_MASTODON_ACC_EMOJIS
};


/*
 * An image of the account (key, key_static; base: the account's first
 * column, col: the image's): a local account's file under /system/, a
 * remote account's copy cached here (a file name: under cache/, as
 * Mastodon's cached avatars), or while it is not cached its URL as the
 * actor document gave it, else Mastodon's default.
 */
static void
ngx_http_mastodon_account_image(ngx_http_mastodon_json_t *j, const char *key,
    const char *key_static, PGresult *res, int row, int base, int col,
    ngx_uint_t shown, char *missing)
{
    int64_t     id;
    ngx_str_t   s;
    ngx_uint_t  local;

    s = ngx_http_mastodon_pg_str(res, row, col);
    local = PQgetisnull(res, row, base + NGX_HTTP_MASTODON_ACC_DOMAIN);

    if (shown && s.len > 0 && local) {
        id = ngx_http_mastodon_pg_int(res, row,
                                      base + NGX_HTTP_MASTODON_ACC_ID);
        ngx_http_mastodon_account_local_image(j, key, id, key, "original", &s);
        ngx_http_mastodon_account_local_image(j, key_static, id, key, "static",
                                              &s);
        return;
    }

    if (shown && s.len > 0
        && ngx_strlchr(s.data, s.data + s.len, '/') == NULL)
    {
        id = ngx_http_mastodon_pg_int(res, row,
                                      base + NGX_HTTP_MASTODON_ACC_ID);
        ngx_http_mastodon_account_cached_image(j, key, id, key, "original",
                                               &s);
        ngx_http_mastodon_account_cached_image(j, key_static, id, key,
                                               "static", &s);
        return;
    }

    if (shown && s.len > 0) {
        ngx_http_mastodon_json_kv_str(j, key, &s);
        ngx_http_mastodon_json_kv_str(j, key_static, &s);
        return;
    }

    ngx_http_mastodon_json_kv_url(j, key, &j->conf->base_url, missing);
    ngx_http_mastodon_json_kv_url(j, key_static, &j->conf->base_url, missing);
}


/*
 * The public URL of a local account's avatar or header (attribute "avatar",
 * "header") of file name `name`, style "original" or "static"
 * (mstdn_media_profile_style(): a GIF's first frame, else the original),
 * through ngx_http_mastodon_media_file_url(); in pool.
 */
ngx_int_t
ngx_http_mastodon_account_image_url(ngx_pool_t *pool,
    ngx_http_mastodon_main_conf_t *mcf, int64_t id, const char *attribute,
    const char *style, ngx_str_t *name, ngx_str_t *url)
{
    u_char      *file;
    const char  *extension;

    file = ngx_pnalloc(pool, name->len + 1);
    if (file == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(file, name->data, name->len);
    file[name->len] = '\0';

    style = mstdn_media_profile_style(style, (const char *) file, &extension);

    return ngx_http_mastodon_media_file_url(pool, mcf, 0, "accounts",
               ngx_strcmp(attribute, "avatar") == 0 ? "avatars" : "headers",
               id, style, name, extension, url);
}


/* a local account's avatar or header */
static void
ngx_http_mastodon_account_local_image(ngx_http_mastodon_json_t *j,
    const char *key, int64_t id, const char *attribute, const char *style,
    ngx_str_t *name)
{
    ngx_str_t  url;

    if (ngx_http_mastodon_account_image_url(j->pool, j->conf, id, attribute,
                                            style, name, &url)
        != NGX_OK)
    {
        j->failed = 1;
        return;
    }

    ngx_http_mastodon_json_kv_str(j, key, &url);
}


/* a remote account's avatar or header cached here: under cache/ */
static void
ngx_http_mastodon_account_cached_image(ngx_http_mastodon_json_t *j,
    const char *key, int64_t id, const char *attribute, const char *style,
    ngx_str_t *name)
{
    u_char      *file;
    ngx_str_t    url;
    const char  *extension;

    file = ngx_pnalloc(j->pool, name->len + 1);
    if (file == NULL) {
        j->failed = 1;
        return;
    }

    ngx_memcpy(file, name->data, name->len);
    file[name->len] = '\0';

    style = mstdn_media_profile_style(style, (const char *) file, &extension);

    if (ngx_http_mastodon_media_file_url(j->pool, j->conf, 1, "accounts",
            ngx_strcmp(attribute, "avatar") == 0 ? "avatars" : "headers",
            id, style, name, extension, &url)
        != NGX_OK)
    {
        j->failed = 1;
        return;
    }

    ngx_http_mastodon_json_kv_str(j, key, &url);
}


static void
ngx_http_mastodon_json_kv_pq_bool(ngx_http_mastodon_json_t *j,
    const char *key, PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col)) {
        ngx_http_mastodon_json_kv_null(j, key);
        return;
    }

    ngx_http_mastodon_json_kv_bool(j, key, PQgetvalue(res, row, col)[0] == 't');
}


static void
ngx_http_mastodon_json_kv_pq_int(ngx_http_mastodon_json_t *j,
    const char *key, PGresult *res, int row, int col)
{
    ngx_http_mastodon_json_kv_int(j, key,
        ngx_atoof((u_char *) PQgetvalue(res, row, col),
                  PQgetlength(res, row, col)));
}


/*
 * Text a local user wrote (a note, a field value) as Mastodon renders it:
 * links and hashtags; mentions stay text (resolving them would cost a
 * query per account shown).
 */
ngx_int_t
ngx_http_mastodon_text_html(ngx_pool_t *pool,
    ngx_http_mastodon_main_conf_t *mcf, ngx_str_t *text,
    ngx_uint_t multiline, ngx_str_t *html)
{
    char                           *out;
    size_t                          len;
    mstdn_alloc_t                   a;
    mstdn_text_options_t            opt;

    ngx_memzero(&opt, sizeof(opt));
    opt.base_url = (char *) mcf->base_url.data;
    opt.base_url_len = mcf->base_url.len;
    opt.local_domain = (char *) mcf->domain.data;
    opt.local_domain_len = mcf->domain.len;
    opt.multiline = multiline;
    opt.rel_me = !multiline;

    a.alloc = ngx_http_mastodon_pool_alloc;
    a.ctx = pool;

    if (mstdn_text_format((char *) text->data, text->len, &opt, &a, &out,
                          &len)
        != 0)
    {
        return NGX_ERROR;
    }

    html->data = (u_char *) out;
    html->len = len;

    return NGX_OK;
}


/* Writes s as HTML: formatted plain text (local input) or as stored. */
static void
ngx_http_mastodon_json_kv_html(ngx_http_mastodon_json_t *j, const char *key,
    ngx_str_t *s, ngx_uint_t plain)
{
    ngx_str_t  html;

    if (!plain) {
        ngx_http_mastodon_json_kv_str(j, key, s);
        return;
    }

    if (ngx_http_mastodon_text_html(j->pool, j->conf, s, 1, &html) != NGX_OK) {
        j->failed = 1;
        return;
    }

    ngx_http_mastodon_json_kv_str(j, key, &html);
}


/*
 * Profile fields: jsonb [{"name","value","verified_at"}].  Local values
 * are plain text and rendered as HTML (field values only: names stay
 * text); raw (source) gives them back as written.
 */
void
ngx_http_mastodon_account_fields(ngx_http_mastodon_json_t *j,
    const char *key, ngx_str_t *json, ngx_uint_t local, ngx_uint_t raw)
{
    char             err[64];
    ngx_str_t        s;
    mstdn_alloc_t    a;
    mstdn_value_t   *doc, *f, *v;
    mstdn_limits_t   limits = { 4, 1000 };

    ngx_http_mastodon_json_open_array(j, key);

    a.alloc = ngx_http_mastodon_pool_alloc;
    a.ctx = j->pool;

    if (json->len
        && mstdn_json_parse((char *) json->data, json->len, &a, &limits, &doc,
                            err, sizeof(err)) == MSTDN_OK
        && doc->type == MSTDN_ARRAY)
    {
        for (f = doc->first; f; f = f->next) {
            if (f->type != MSTDN_OBJECT) {
                continue;
            }

            ngx_http_mastodon_json_open(j, NULL);

            v = mstdn_object_get(f, "name");
            s.data = (u_char *) (v && v->type == MSTDN_STRING ? v->str : "");
            s.len = v && v->type == MSTDN_STRING ? v->len : 0;
            ngx_http_mastodon_json_kv_str(j, "name", &s);

            v = mstdn_object_get(f, "value");
            s.data = (u_char *) (v && v->type == MSTDN_STRING ? v->str : "");
            s.len = v && v->type == MSTDN_STRING ? v->len : 0;

            if (raw) {
                ngx_http_mastodon_json_kv_str(j, "value", &s);

            } else {
                ngx_str_t  html;

                if (!local) {
                    html = s;               /* sanitized when it arrived */

                } else if (ngx_http_mastodon_text_html(j->pool, j->conf, &s, 0,
                                                       &html)
                           != NGX_OK)
                {
                    j->failed = 1;
                    return;
                }

                ngx_http_mastodon_json_kv_str(j, "value", &html);

                v = mstdn_object_get(f, "verified_at");
                if (v && v->type == MSTDN_STRING) {
                    s.data = (u_char *) v->str;
                    s.len = v->len;
                    ngx_http_mastodon_json_kv_str(j, "verified_at", &s);
                } else {
                    ngx_http_mastodon_json_kv_null(j, "verified_at");
                }
            }

            ngx_http_mastodon_json_close(j);
        }
    }

    ngx_http_mastodon_json_close_array(j);
}


/* What the full and the partial entity both start with. */
typedef struct {
    ngx_str_t   username;
    ngx_uint_t  local;
    ngx_uint_t  suspended;
} ngx_http_mastodon_account_head_t;


/* "id", "username" (the full entity only), "acct" (user@domain if remote). */
static ngx_int_t
ngx_http_mastodon_account_head(ngx_http_mastodon_json_t *j, PGresult *res,
    int row, int col, ngx_uint_t full, ngx_http_mastodon_account_head_t *h)
{
    u_char     *p;
    ngx_str_t   id, domain, acct;

#define C(n)  (col + NGX_HTTP_MASTODON_ACC_##n)

    id = ngx_http_mastodon_pg_str(res, row, C(ID));
    h->username = ngx_http_mastodon_pg_str(res, row, C(USERNAME));
    h->local = PQgetisnull(res, row, C(DOMAIN));
    domain = ngx_http_mastodon_pg_str(res, row, C(DOMAIN));
    h->suspended = PQgetvalue(res, row, C(SUSPENDED))[0] == 't';

#undef C

    ngx_http_mastodon_json_kv_str(j, "id", &id);

    if (full) {
        ngx_http_mastodon_json_kv_str(j, "username", &h->username);
    }

    if (h->local) {
        ngx_http_mastodon_json_kv_str(j, "acct", &h->username);
        return NGX_OK;
    }

    acct.len = h->username.len + 1 + domain.len;
    acct.data = ngx_pnalloc(j->pool, acct.len);
    if (acct.data == NULL) {
        j->failed = 1;
        return NGX_ERROR;
    }
    p = ngx_cpymem(acct.data, h->username.data, h->username.len);
    *p++ = '@';
    ngx_memcpy(p, domain.data, domain.len);
    ngx_http_mastodon_json_kv_str(j, "acct", &acct);

    return NGX_OK;
}


/* Mastodon's bot?: an actor of type Service or Application. */
static ngx_uint_t
ngx_http_mastodon_account_bot(ngx_str_t *actor_type)
{
    return (actor_type->len == 7
            && ngx_strncmp(actor_type->data, "Service", 7) == 0)
           || (actor_type->len == 11
               && ngx_strncmp(actor_type->data, "Application", 11) == 0);
}


/* A local account's url or uri: base_url, path, username. */
static ngx_int_t
ngx_http_mastodon_account_link(ngx_http_mastodon_json_t *j, const char *key,
    ngx_str_t *base, const char *path, ngx_str_t *username)
{
    u_char     *p;
    ngx_str_t   s;
    size_t      len;

    len = ngx_strlen(path);
    s.len = base->len + len + username->len;
    s.data = ngx_pnalloc(j->pool, s.len);
    if (s.data == NULL) {
        j->failed = 1;
        return NGX_ERROR;
    }

    p = ngx_cpymem(s.data, base->data, base->len);
    p = ngx_cpymem(p, path, len);
    ngx_memcpy(p, username->data, username->len);
    ngx_http_mastodon_json_kv_str(j, key, &s);

    return NGX_OK;
}


/* The Account's attributes, inside an object the caller opened. */
void
ngx_http_mastodon_account_attrs(ngx_http_mastodon_json_t *j, PGresult *res,
    int row, int col)
{
    ngx_str_t                          s;
    ngx_uint_t                         local, suspended;
    ngx_http_mastodon_main_conf_t     *mcf;
    ngx_http_mastodon_account_head_t   h;

#define C(n)  (col + NGX_HTTP_MASTODON_ACC_##n)

    mcf = j->conf;

    if (ngx_http_mastodon_account_head(j, res, row, col, 1, &h) != NGX_OK) {
        return;
    }

    local = h.local;
    suspended = h.suspended;

    if (suspended) {
        /* Mastodon shows nothing of a suspended account but its name */
        ngx_str_set(&s, "");
        ngx_http_mastodon_json_kv_str(j, "display_name", &s);
        ngx_http_mastodon_json_kv_bool(j, "locked", 0);
        ngx_http_mastodon_json_kv_bool(j, "bot", 0);
        ngx_http_mastodon_json_kv_null(j, "discoverable");
        ngx_http_mastodon_json_kv_bool(j, "indexable", 0);
        ngx_http_mastodon_json_kv_bool(j, "group", 0);
        ngx_http_mastodon_json_kv_null(j, "hide_collections");

    } else {
        s = ngx_http_mastodon_pg_str(res, row, C(DISPLAY_NAME));
        ngx_http_mastodon_json_kv_str(j, "display_name", &s);
        ngx_http_mastodon_json_kv_pq_bool(j, "locked", res, row, C(LOCKED));

        s = ngx_http_mastodon_pg_str(res, row, C(ACTOR_TYPE));
        ngx_http_mastodon_json_kv_bool(j, "bot",
                                       ngx_http_mastodon_account_bot(&s));
        ngx_http_mastodon_json_kv_pq_bool(j, "discoverable", res, row,
                                          C(DISCOVERABLE));
        ngx_http_mastodon_json_kv_pq_bool(j, "indexable", res, row,
                                          C(INDEXABLE));
        ngx_http_mastodon_json_kv_bool(j, "group",
                               s.len == 5 && ngx_strncmp(s.data, "Group", 5) == 0);
        ngx_http_mastodon_json_kv_pq_bool(j, "hide_collections", res, row,
                                          C(HIDE_COLLECTIONS));
    }

    /* created_at at midnight, as Mastodon writes it */
    ngx_http_mastodon_json_kv_pq(j, "created_at", res, row, C(CREATED_AT));

    if (suspended) {
        ngx_str_set(&s, "");
        ngx_http_mastodon_json_kv_str(j, "note", &s);
    } else {
        s = ngx_http_mastodon_pg_str(res, row, C(NOTE));
        ngx_http_mastodon_json_kv_html(j, "note", &s, local);
    }

    if (local) {
        if (ngx_http_mastodon_account_link(j, "url", &mcf->base_url, "/@",
                                           &h.username)
            != NGX_OK
            || ngx_http_mastodon_account_link(j, "uri", &mcf->base_url,
                                              "/users/", &h.username)
               != NGX_OK)
        {
            return;
        }

    } else {
        ngx_http_mastodon_json_kv_pq(j, "url", res, row, C(URL));
        ngx_http_mastodon_json_kv_pq(j, "uri", res, row, C(URI));
    }

    /* Mastodon's default images for none (and suspended accounts) */
    ngx_http_mastodon_account_image(j, "avatar", "avatar_static", res, row,
                                    col, C(AVATAR_REMOTE), !suspended,
                                    "/avatars/original/missing.png");
    ngx_http_mastodon_json_kv_cstr(j, "avatar_description", "");
    ngx_http_mastodon_account_image(j, "header", "header_static", res, row,
                                    col, C(HEADER_REMOTE), !suspended,
                                    "/headers/original/missing.png");
    ngx_http_mastodon_json_kv_cstr(j, "header_description", "");

    if (suspended) {
        ngx_http_mastodon_json_kv_int(j, "followers_count", 0);
        ngx_http_mastodon_json_kv_int(j, "following_count", 0);
        ngx_http_mastodon_json_kv_int(j, "statuses_count", 0);
        ngx_http_mastodon_json_kv_null(j, "last_status_at");
        ngx_http_mastodon_json_open_array(j, "fields");
        ngx_http_mastodon_json_close_array(j);

    } else {
        ngx_http_mastodon_json_kv_pq_int(j, "followers_count", res, row,
                                         C(FOLLOWERS));
        ngx_http_mastodon_json_kv_pq_int(j, "following_count", res, row,
                                         C(FOLLOWING));
        ngx_http_mastodon_json_kv_pq_int(j, "statuses_count", res, row,
                                         C(STATUSES));
        ngx_http_mastodon_json_kv_pq(j, "last_status_at", res, row,
                                     C(LAST_STATUS_AT));

        s = ngx_http_mastodon_pg_str(res, row, C(FIELDS));
        ngx_http_mastodon_account_fields(j, "fields", &s, local, 0);
    }

    if (suspended) {
        ngx_http_mastodon_json_open_array(j, "emojis");
        ngx_http_mastodon_json_close_array(j);

    } else {
        ngx_http_mastodon_emojis(j, res, row, C(EMOJIS));
    }

    ngx_http_mastodon_json_open_array(j, "roles");
    ngx_http_mastodon_json_close_array(j);

    if (local) {
        ngx_http_mastodon_json_kv_bool(j, "noindex", 0);
    }

    if (PQgetvalue(res, row, C(MEMORIAL))[0] == 't') {
        ngx_http_mastodon_json_kv_bool(j, "memorial", 1);
    }

    if (suspended) {
        ngx_http_mastodon_json_kv_bool(j, "suspended", 1);
    }

    if (PQgetvalue(res, row, C(SILENCED))[0] == 't') {
        ngx_http_mastodon_json_kv_bool(j, "limited", 1);
    }

    ngx_http_mastodon_json_kv_bool(j, "show_media", 1);
    ngx_http_mastodon_json_kv_bool(j, "show_media_replies", 1);
    ngx_http_mastodon_json_kv_bool(j, "show_featured", 1);

    ngx_http_mastodon_json_open(j, "feature_approval");
    ngx_http_mastodon_json_open_array(j, "automatic");
    ngx_http_mastodon_json_close_array(j);
    ngx_http_mastodon_json_open_array(j, "manual");
    ngx_http_mastodon_json_close_array(j);
    ngx_http_mastodon_json_kv_cstr(j, "current_user", "missing");
    ngx_http_mastodon_json_close(j);

#undef C
}


void
ngx_http_mastodon_account(ngx_http_mastodon_json_t *j, PGresult *res,
    int row, int col)
{
    ngx_http_mastodon_json_open(j, NULL);
    ngx_http_mastodon_account_attrs(j, res, row, col);
    ngx_http_mastodon_json_close(j);
}


/*
 * The partial account of grouped notifications (PartialAccountWithAvatar:
 * DedupNotificationGroupSerializer's PartialAccountSerializer): id, acct,
 * locked, bot, url, avatar, avatar_static, as the full entity has them.
 */
void
ngx_http_mastodon_account_partial(ngx_http_mastodon_json_t *j, PGresult *res,
    int row, int col)
{
    ngx_str_t                          s;
    ngx_http_mastodon_main_conf_t     *mcf;
    ngx_http_mastodon_account_head_t   h;

#define C(n)  (col + NGX_HTTP_MASTODON_ACC_##n)

    mcf = j->conf;

    if (ngx_http_mastodon_account_head(j, res, row, col, 0, &h) != NGX_OK) {
        return;
    }

    if (h.suspended) {
        ngx_http_mastodon_json_kv_bool(j, "locked", 0);
        ngx_http_mastodon_json_kv_bool(j, "bot", 0);

    } else {
        ngx_http_mastodon_json_kv_pq_bool(j, "locked", res, row, C(LOCKED));

        s = ngx_http_mastodon_pg_str(res, row, C(ACTOR_TYPE));
        ngx_http_mastodon_json_kv_bool(j, "bot",
                                       ngx_http_mastodon_account_bot(&s));
    }

    if (h.local) {
        if (ngx_http_mastodon_account_link(j, "url", &mcf->base_url, "/@",
                                           &h.username)
            != NGX_OK)
        {
            return;
        }

    } else {
        ngx_http_mastodon_json_kv_pq(j, "url", res, row, C(URL));
    }

    ngx_http_mastodon_account_image(j, "avatar", "avatar_static", res, row,
                                    col, C(AVATAR_REMOTE), !h.suspended,
                                    "/avatars/original/missing.png");
}

#undef C


void
ngx_http_mastodon_emojis(ngx_http_mastodon_json_t *j, PGresult *res, int row,
    int col)
{
    char             err[64];
    ngx_str_t        s, name;
    mstdn_alloc_t    a;
    mstdn_value_t   *doc, *e, *code, *url, *id, *file;
    mstdn_limits_t   limits = { 3, 10000 };

    ngx_http_mastodon_json_open_array(j, "emojis");

    a.alloc = ngx_http_mastodon_pool_alloc;
    a.ctx = j->pool;

    s = ngx_http_mastodon_pg_str(res, row, col);

    if (s.len
        && mstdn_json_parse((char *) s.data, s.len, &a, &limits, &doc,
                            err, sizeof(err)) == MSTDN_OK
        && doc->type == MSTDN_ARRAY)
    {
        for (e = doc->first; e; e = e->next) {
            code = (e->type == MSTDN_ARRAY) ? e->first : NULL;
            url = code ? code->next : NULL;
            id = url ? url->next : NULL;
            file = id ? id->next : NULL;

            if (url == NULL || code->type != MSTDN_STRING) {
                continue;
            }

            s.data = (u_char *) code->str;
            s.len = code->len;

            if (url->type != MSTDN_STRING) {
                /* a local one: its stored file */
                if (file == NULL || id->type != MSTDN_STRING
                    || file->type != MSTDN_STRING)
                {
                    continue;
                }

                name.data = (u_char *) file->str;
                name.len = file->len;
                ngx_http_mastodon_local_emoji(j, &s,
                    ngx_atoof((u_char *) id->str, id->len), &name, 1, NULL);
                continue;
            }

            /* REST::CustomEmojiSerializer (its category only when loaded) */
            ngx_http_mastodon_json_open(j, NULL);
            ngx_http_mastodon_json_kv_str(j, "shortcode", &s);
            s.data = (u_char *) url->str;
            s.len = url->len;
            ngx_http_mastodon_json_kv_str(j, "url", &s);
            ngx_http_mastodon_json_kv_str(j, "static_url", &s);
            ngx_http_mastodon_json_kv_bool(j, "visible_in_picker", 1);
            ngx_http_mastodon_json_close(j);
        }
    }

    ngx_http_mastodon_json_close_array(j);
}


/*
 * REST::CustomEmojiSerializer of a local emoji: url the original style,
 * static_url the static one (its first frame as PNG), the keys the
 * worker's `emoji import` stored them under.
 */
ngx_int_t
ngx_http_mastodon_local_emoji_urls(ngx_http_mastodon_json_t *j, int64_t id,
    ngx_str_t *name, ngx_str_t *url, ngx_str_t *static_url)
{
    if (ngx_http_mastodon_media_file_url(j->pool, j->conf, 0, "custom_emojis",
                                         "images", id, "original", name,
                                         NULL, url)
            != NGX_OK
        || ngx_http_mastodon_media_file_url(j->pool, j->conf, 0,
                                            "custom_emojis", "images", id,
                                            "static", name, "png",
                                            static_url)
           != NGX_OK)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


void
ngx_http_mastodon_local_emoji(ngx_http_mastodon_json_t *j,
    ngx_str_t *shortcode, int64_t id, ngx_str_t *name, ngx_uint_t visible,
    ngx_str_t *category)
{
    ngx_str_t  url, static_url;

    if (ngx_http_mastodon_local_emoji_urls(j, id, name, &url, &static_url)
        != NGX_OK)
    {
        return;                 /* not a file name of ours: not shown */
    }

    ngx_http_mastodon_json_open(j, NULL);
    ngx_http_mastodon_json_kv_str(j, "shortcode", shortcode);
    ngx_http_mastodon_json_kv_str(j, "url", &url);
    ngx_http_mastodon_json_kv_str(j, "static_url", &static_url);
    ngx_http_mastodon_json_kv_bool(j, "visible_in_picker", visible);

    if (category) {
        ngx_http_mastodon_json_kv_str(j, "category", category);
    }

    ngx_http_mastodon_json_close(j);
}


/*
 * Rendered accounts in the render cache (kinds ACCOUNT and CREDENTIALS, by
 * account id): "<epoch>\n" + the JSON, the epoch being the version of
 * (ACCOUNT, 0) when the fill began, so that "account 0" (a custom emoji or
 * a role changed) forgets them all.  The counters are in the JSON: every
 * change of an account, its stats, its user or its follow requests is
 * forgotten (sql/0039's triggers, published by the worker's relay; the
 * module's own writers at once with ngx_http_mastodon_account_forget()).
 */
ngx_int_t
ngx_http_mastodon_account_cached(ngx_uint_t kind, int64_t id,
    ngx_pool_t *pool, ngx_str_t *json)
{
    u_char     *nl;
    ngx_str_t   v;

    if (!ngx_http_mastodon_cache_accounts_usable()
        || ngx_http_mastodon_cache_get(kind, id, pool, &v) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    nl = ngx_strlchr(v.data, v.data + v.len, '\n');

    if (nl == NULL
        || (ngx_uint_t) ngx_atoof(v.data, nl - v.data)
           != ngx_http_mastodon_cache_version(NGX_HTTP_MASTODON_CACHE_ACCOUNT,
                                              0))
    {
        return NGX_DECLINED;
    }

    json->data = nl + 1;
    json->len = v.data + v.len - json->data;

    return NGX_OK;
}


/* before the statement whose rendering is to be put */
void
ngx_http_mastodon_account_fill_start(ngx_uint_t kind, int64_t id,
    ngx_http_mastodon_account_fill_t *fill)
{
    fill->usable = ngx_http_mastodon_cache_accounts_usable();
    fill->version = ngx_http_mastodon_cache_version(kind, id);
    fill->epoch = ngx_http_mastodon_cache_version(
                                        NGX_HTTP_MASTODON_CACHE_ACCOUNT, 0);
}


void
ngx_http_mastodon_account_fill(ngx_uint_t kind, int64_t id,
    ngx_http_mastodon_account_fill_t *fill, ngx_pool_t *pool,
    ngx_str_t *json)
{
    u_char     *p;
    ngx_str_t   v;

    if (!fill->usable
        || fill->epoch
           != ngx_http_mastodon_cache_version(NGX_HTTP_MASTODON_CACHE_ACCOUNT,
                                              0))
    {
        return;
    }

    v.data = ngx_pnalloc(pool, NGX_ATOMIC_T_LEN + 1 + json->len);
    if (v.data == NULL) {
        return;
    }

    p = ngx_sprintf(v.data, "%uA\n", (ngx_atomic_uint_t) fill->epoch);
    p = ngx_cpymem(p, json->data, json->len);
    v.len = p - v.data;

    ngx_http_mastodon_cache_put(kind, id, fill->version, &v);
}


void
ngx_http_mastodon_account_fill_row(ngx_http_mastodon_account_fill_t *fill,
    PGresult *res, int row, int col, ngx_pool_t *pool, ngx_str_t *json)
{
    if (PQgetvalue(res, row, col + NGX_HTTP_MASTODON_ACCOUNT_NCOLS)[0] != 't') {
        return;
    }

    ngx_http_mastodon_account_fill(NGX_HTTP_MASTODON_CACHE_ACCOUNT,
                                   ngx_http_mastodon_pg_int(res, row, col),
                                   fill, pool, json);
}


/*
 * After the commit of a change to these accounts: this node's workers at
 * once (read your writes).  No message: rendered accounts are only used
 * while the relay publishes every commit's changes to every node, and a
 * post would pay a PUBLISH twice.
 */
void
ngx_http_mastodon_account_forget(ngx_http_request_t *r, int64_t *ids,
    ngx_uint_t n)
{
    ngx_uint_t  i;

    for (i = 0; i < n; i++) {
        ngx_http_mastodon_cache_forget(NGX_HTTP_MASTODON_CACHE_ACCOUNT, ids[i]);
        ngx_http_mastodon_cache_forget(NGX_HTTP_MASTODON_CACHE_CREDENTIALS,
                                       ids[i]);
    }
}
