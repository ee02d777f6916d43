/*
 * Actors: a local account's document at /users/:username (and /@:username)
 * for ActivityPub clients, its plain HTML profile page for browsers, and
 * the instance actor at /actor (Mastodon's account -99, made with its key
 * by `mastodon-worker migrate`).
 */

#include "ngx_http_mastodon_activitypub.h"
#include "mstdn_json.h"
#include "mstdn_media.h"


enum {
    NGX_HTTP_MASTODON_AC_ID = 0,
    NGX_HTTP_MASTODON_AC_USERNAME,
    NGX_HTTP_MASTODON_AC_DISPLAY_NAME,
    NGX_HTTP_MASTODON_AC_NOTE,
    NGX_HTTP_MASTODON_AC_LOCKED,
    NGX_HTTP_MASTODON_AC_ACTOR_TYPE,
    NGX_HTTP_MASTODON_AC_DISCOVERABLE,
    NGX_HTTP_MASTODON_AC_INDEXABLE,
    NGX_HTTP_MASTODON_AC_MEMORIAL,
    NGX_HTTP_MASTODON_AC_SUSPENDED,
    NGX_HTTP_MASTODON_AC_PUBLIC_KEY,
    NGX_HTTP_MASTODON_AC_PUBLISHED,
    NGX_HTTP_MASTODON_AC_FIELDS,
    NGX_HTTP_MASTODON_AC_MOVED_URI,
    NGX_HTTP_MASTODON_AC_MOVED_LOCAL,
    NGX_HTTP_MASTODON_AC_ALSO_KNOWN_AS,
    NGX_HTTP_MASTODON_AC_ATTRIBUTION,
    NGX_HTTP_MASTODON_AC_AVATAR,
    NGX_HTTP_MASTODON_AC_AVATAR_TYPE,
    NGX_HTTP_MASTODON_AC_HEADER,
    NGX_HTTP_MASTODON_AC_HEADER_TYPE,
    NGX_HTTP_MASTODON_AC_EMOJIS
};


/* a local account, shown (confirmed and approved) as Mastodon's
 * AccountOwnedConcern requires; the username matched as find_local! does */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_ap_actor_stmt =
    ngx_http_mastodon_pg_stmt(
    "SELECT a.id, a.username, a.display_name, a.note, a.locked,"
    " coalesce(a.actor_type, 'Person'), coalesce(a.discoverable, false),"
    " a.indexable, a.memorial, a.suspended_at IS NOT NULL, a.public_key,"
    " to_char(date_trunc('day', a.created_at),"
    "  'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
    " coalesce(a.fields::text, '[]'),"
    " (SELECT m.uri FROM accounts m WHERE m.id = a.moved_to_account_id"
    "   AND m.domain IS NOT NULL),"
    " (SELECT m.username FROM accounts m WHERE m.id = a.moved_to_account_id"
    "   AND m.domain IS NULL),"
    " coalesce(array_to_json(a.also_known_as)::text, '[]'),"
    " coalesce(array_to_json(a.attribution_domains)::text, '[]'),"
    " a.avatar_file_name, a.avatar_content_type,"
    " a.header_file_name, a.header_content_type, "
    MSTDN_ACCOUNT_EMOJIS_SQL("a")
    " FROM accounts a"
    " WHERE lower(a.username) = lower($1) AND a.domain IS NULL"
    " AND a.id > 0 AND" NGX_HTTP_MASTODON_ACCOUNT_SHOWN, 1);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_ap_instance_stmt =
    ngx_http_mastodon_pg_stmt(
    "SELECT public_key FROM accounts WHERE id = -99 AND public_key <> ''", 0);


static void ngx_http_mastodon_ap_actor_done(ngx_http_mastodon_pg_batch_t *b);
static ngx_int_t ngx_http_mastodon_ap_actor_image(ngx_http_request_t *r,
    PGresult *res, const char *attribute, int col, mstdn_ap_image_t *image);
static void ngx_http_mastodon_ap_instance_done(
    ngx_http_mastodon_pg_batch_t *b);
static ngx_int_t ngx_http_mastodon_ap_profile_page(ngx_http_request_t *r,
    PGresult *res);
static mstdn_value_t *ngx_http_mastodon_ap_parse(ngx_http_request_t *r,
    PGresult *res, int col);


/* GET /users/:username and /@:username */
ngx_int_t
ngx_http_mastodon_ap_actor(ngx_http_request_t *r, ngx_http_mastodon_ctx_t *ctx)
{
    const char              **values;
    ngx_http_mastodon_ap_t   *ap;

    ap = ctx->data;

    if (!ngx_http_mastodon_ap_username(&ctx->captures[0])) {
        return NGX_HTTP_NOT_FOUND;
    }

    /* a browser at /users/NAME: Mastodon's route redirects to /@NAME */
    if (!ap->json && ctx->route->pattern.data[1] == 'u') {
        return ngx_http_mastodon_users_redirect(r, ctx);
    }

    values = ngx_palloc(r->pool, sizeof(char *));
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[0] = ngx_http_mastodon_ap_cstr(r, &ctx->captures[0]);
    if (values[0] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_pg_query(r, &ngx_http_mastodon_ap_actor_stmt,
                                      values,
                                      ngx_http_mastodon_ap_actor_done, NULL);
}


static void
ngx_http_mastodon_ap_actor_done(ngx_http_mastodon_pg_batch_t *b)
{
    int                             n;
    ngx_str_t                       s, html;
    PGresult                       *res;
    const char                     *type, **aka, **domains;
    ngx_int_t                       rc;
    mstdn_value_t                  *v, *f, *name, *value;
    mstdn_ap_tag_t                 *tags;
    mstdn_ap_actor_t                a;
    mstdn_ap_field_t               *fields;
    ngx_http_request_t             *r;
    ngx_http_mastodon_ap_t         *ap;
    ngx_http_mastodon_ctx_t        *ctx;
    ngx_http_mastodon_json_t        j;
    ngx_http_mastodon_main_conf_t  *mcf;
    u_char                          moved[MSTDN_AP_URI_MAX];

    r = b->request;
    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);
    ap = ctx->data;
    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    res = ngx_http_mastodon_pg_rows(b, 0);
    if (res == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (PQntuples(res) != 1) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_NOT_FOUND);
        return;
    }

    if (!ap->json) {
        ngx_http_mastodon_finalize(r,
                                   ngx_http_mastodon_ap_profile_page(r, res));
        return;
    }

    ngx_memzero(&a, sizeof(mstdn_ap_actor_t));

    a.base = (const char *) mcf->base_url.data;
    a.username = PQgetvalue(res, 0, NGX_HTTP_MASTODON_AC_USERNAME);
    a.name = PQgetvalue(res, 0, NGX_HTTP_MASTODON_AC_DISPLAY_NAME);
    a.published = PQgetvalue(res, 0, NGX_HTTP_MASTODON_AC_PUBLISHED);
    a.public_key_pem = PQgetvalue(res, 0, NGX_HTTP_MASTODON_AC_PUBLIC_KEY);
    a.locked = ngx_http_mastodon_pg_bool(res, 0, NGX_HTTP_MASTODON_AC_LOCKED);
    a.discoverable = ngx_http_mastodon_pg_bool(res, 0,
                                       NGX_HTTP_MASTODON_AC_DISCOVERABLE);
    a.indexable = ngx_http_mastodon_pg_bool(res, 0,
                                            NGX_HTTP_MASTODON_AC_INDEXABLE);
    a.memorial = ngx_http_mastodon_pg_bool(res, 0,
                                           NGX_HTTP_MASTODON_AC_MEMORIAL);
    a.suspended = ngx_http_mastodon_pg_bool(res, 0,
                                            NGX_HTTP_MASTODON_AC_SUSPENDED);

    /* Account#bot? (Service, Application), #group? */
    type = PQgetvalue(res, 0, NGX_HTTP_MASTODON_AC_ACTOR_TYPE);

    if (ngx_strcmp(type, "Service") == 0
        || ngx_strcmp(type, "Application") == 0)
    {
        a.type = MSTDN_AP_SERVICE;

    } else if (ngx_strcmp(type, "Group") == 0) {
        a.type = MSTDN_AP_GROUP;

    } else {
        a.type = MSTDN_AP_PERSON;
    }

    /* the note and the field values as Mastodon formats them */
    s = ngx_http_mastodon_pg_str(res, 0, NGX_HTTP_MASTODON_AC_NOTE);

    if (ngx_http_mastodon_text_html(r->pool, mcf, &s, 1, &html)
        != NGX_OK)
    {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    a.summary = (const char *) html.data;   /* NUL-terminated by mstdn_text */
    a.note_text = (const char *) s.data;    /* NUL-terminated by libpq */

    v = ngx_http_mastodon_ap_parse(r, res, NGX_HTTP_MASTODON_AC_FIELDS);
    n = 0;

    fields = ngx_pcalloc(r->pool, (v ? v->count : 0) * sizeof(*fields) + 1);
    if (fields == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    for (f = v ? v->first : NULL; f; f = f->next) {
        if (f->type != MSTDN_OBJECT) {
            continue;
        }

        name = mstdn_object_get(f, "name");
        value = mstdn_object_get(f, "value");

        if (name == NULL || name->type != MSTDN_STRING
            || value == NULL || value->type != MSTDN_STRING)
        {
            continue;
        }

        s.data = (u_char *) value->str;
        s.len = value->len;

        if (ngx_http_mastodon_text_html(r->pool, mcf, &s, 0, &html)
            != NGX_OK)
        {
            ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        fields[n].name = name->str;
        fields[n].value = (const char *) html.data;
        n++;
    }

    a.fields = fields;
    a.nfields = n;

    /* movedTo: a remote account's uri, a local one's built */
    if (!PQgetisnull(res, 0, NGX_HTTP_MASTODON_AC_MOVED_URI)) {
        a.moved_to = PQgetvalue(res, 0, NGX_HTTP_MASTODON_AC_MOVED_URI);

    } else if (!PQgetisnull(res, 0, NGX_HTTP_MASTODON_AC_MOVED_LOCAL)) {
        if (mstdn_ap_uri((char *) moved, sizeof(moved), a.base,
                         MSTDN_AP_URI_ACCOUNT,
                         PQgetvalue(res, 0, NGX_HTTP_MASTODON_AC_MOVED_LOCAL),
                         NULL) > 0)
        {
            a.moved_to = (const char *) moved;
        }
    }

    v = ngx_http_mastodon_ap_parse(r, res, NGX_HTTP_MASTODON_AC_ALSO_KNOWN_AS);
    aka = ngx_pcalloc(r->pool, (v ? v->count : 0) * sizeof(char *) + 1);
    if (aka == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    for (f = v ? v->first : NULL; f; f = f->next) {
        if (f->type == MSTDN_STRING) {
            aka[a.n_also_known_as++] = f->str;
        }
    }

    a.also_known_as = aka;

    v = ngx_http_mastodon_ap_parse(r, res, NGX_HTTP_MASTODON_AC_ATTRIBUTION);
    domains = ngx_pcalloc(r->pool, (v ? v->count : 0) * sizeof(char *) + 1);
    if (domains == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    for (f = v ? v->first : NULL; f; f = f->next) {
        if (f->type == MSTDN_STRING) {
            domains[a.n_attribution_domains++] = f->str;
        }
    }

    a.attribution_domains = domains;

    /* tag: the local emojis of the name, the note and the fields */
    v = ngx_http_mastodon_ap_parse(r, res, NGX_HTTP_MASTODON_AC_EMOJIS);
    tags = ngx_pcalloc(r->pool, (v ? v->count : 0) * sizeof(*tags) + 1);
    if (tags == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    for (f = v ? v->first : NULL; f; f = f->next) {
        rc = ngx_http_mastodon_ap_emoji_tag(r->pool, mcf, f, &tags[a.ntags]);

        if (rc == NGX_ERROR) {
            ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        if (rc == NGX_OK) {
            a.ntags++;
        }
    }

    a.tags = tags;

    if (ngx_http_mastodon_ap_actor_image(r, res, "avatar",
                                         NGX_HTTP_MASTODON_AC_AVATAR, &a.icon)
        != NGX_OK
        || ngx_http_mastodon_ap_actor_image(r, res, "header",
                                            NGX_HTTP_MASTODON_AC_HEADER,
                                            &a.image)
           != NGX_OK
        || ngx_http_mastodon_json_init(r, &j) != NGX_OK)
    {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (mstdn_ap_actor(j.gen, &a) != 0) {
        j.failed = 1;
    }

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_ap_send(&j, 180));
}


/* icon, image: the original style of the avatar, header (none: no key) */
static ngx_int_t
ngx_http_mastodon_ap_actor_image(ngx_http_request_t *r, PGresult *res,
    const char *attribute, int col, mstdn_ap_image_t *image)
{
    ngx_str_t                       name, url;
    ngx_http_mastodon_main_conf_t  *mcf;

    if (PQgetisnull(res, 0, col) || PQgetlength(res, 0, col) == 0) {
        return NGX_OK;
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    name.data = (u_char *) PQgetvalue(res, 0, col);
    name.len = PQgetlength(res, 0, col);

    /* a C string for lib/mstdn_ap: mstdn_media_key() ends it with NUL */
    if (ngx_http_mastodon_account_image_url(r->pool, mcf,
            ngx_http_mastodon_pg_int(res, 0, NGX_HTTP_MASTODON_AC_ID),
            attribute, "original", &name, &url)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    image->url = (const char *) url.data;
    image->media_type = PQgetisnull(res, 0, col + 1)
                        ? NULL : PQgetvalue(res, 0, col + 1);

    return NGX_OK;
}


/* The browser's profile page: the name, the handle, the bio; what the
 * account wrote is escaped (the bio is Mastodon's formatted HTML of it). */
static ngx_int_t
ngx_http_mastodon_ap_profile_page(ngx_http_request_t *r, PGresult *res)
{
    u_char                         *p;
    ngx_str_t                       s, html, handle;
    const char                     *title;
    ngx_http_mastodon_html_t        h;
    ngx_http_mastodon_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    s = ngx_http_mastodon_pg_str(res, 0, NGX_HTTP_MASTODON_AC_USERNAME);

    handle.data = ngx_pnalloc(r->pool, s.len + mcf->domain.len + 3);
    if (handle.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(handle.data, "@%V@%V", &s, &mcf->domain);
    handle.len = p - handle.data;
    *p = '\0';

    title = PQgetvalue(res, 0, NGX_HTTP_MASTODON_AC_DISPLAY_NAME);
    if (*title == '\0') {
        title = PQgetvalue(res, 0, NGX_HTTP_MASTODON_AC_USERNAME);
    }

    if (ngx_http_mastodon_html_begin(r, &h, title, NULL) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mastodon_html_raw(&h, "<p class=\"handle\">");
    ngx_http_mastodon_html_text(&h, &handle);
    ngx_http_mastodon_html_raw(&h, "</p>\n");

    if (ngx_http_mastodon_pg_bool(res, 0, NGX_HTTP_MASTODON_AC_SUSPENDED)) {
        ngx_http_mastodon_html_raw(&h, "<p>This account has been "
                                       "suspended.</p>\n");

    } else {
        s = ngx_http_mastodon_pg_str(res, 0, NGX_HTTP_MASTODON_AC_NOTE);

        if (ngx_http_mastodon_text_html(r->pool, mcf, &s, 1, &html)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        /* formatted by mstdn_text: its text is escaped, its links ours */
        ngx_http_mastodon_html_raw(&h, "<div class=\"note\">");
        ngx_http_mastodon_html_raw(&h, (const char *) html.data);
        ngx_http_mastodon_html_raw(&h, "</div>\n");
    }

    ngx_http_mastodon_html_raw(&h, "<p>Follow this account from a Mastodon "
                                   "app or server: search for ");
    ngx_http_mastodon_html_text(&h, &handle);
    ngx_http_mastodon_html_raw(&h, ".</p>\n");

    if (ngx_http_mastodon_add_header(r, "Vary",
                                     &(ngx_str_t) ngx_string("Accept"))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_html_send(&h, NGX_HTTP_OK);
}


/* GET /actor: JSON whatever the Accept (InstanceActorsController) */
ngx_int_t
ngx_http_mastodon_ap_instance_actor(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_pg_query(r, &ngx_http_mastodon_ap_instance_stmt,
                                      NULL,
                                      ngx_http_mastodon_ap_instance_done,
                                      NULL);
}


static void
ngx_http_mastodon_ap_instance_done(ngx_http_mastodon_pg_batch_t *b)
{
    PGresult                       *res;
    mstdn_ap_actor_t                a;
    ngx_http_request_t             *r;
    ngx_http_mastodon_json_t        j;
    ngx_http_mastodon_main_conf_t  *mcf;

    r = b->request;
    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    res = ngx_http_mastodon_pg_rows(b, 0);
    if (res == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (PQntuples(res) != 1) {
        /* `mastodon-worker migrate` makes it: not run since 0010 */
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mastodon: the instance actor (account -99) has no "
                      "key: run \"mastodon-worker migrate\"");
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    ngx_memzero(&a, sizeof(mstdn_ap_actor_t));

    /* Account.representative: username the local domain */
    a.base = (const char *) mcf->base_url.data;
    a.username = (const char *) mcf->domain.data;
    a.type = MSTDN_AP_APPLICATION;
    a.public_key_pem = PQgetvalue(res, 0, 0);

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (mstdn_ap_actor(j.gen, &a) != 0) {
        j.failed = 1;
    }

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_ap_send(&j, 600));
}


/* a JSON column (fields, arrays) as a tree in the request pool */
static mstdn_value_t *
ngx_http_mastodon_ap_parse(ngx_http_request_t *r, PGresult *res, int col)
{
    char             err[64];
    mstdn_alloc_t    a;
    mstdn_value_t   *v;
    mstdn_limits_t   limits = { 4, 10000 };

    if (PQgetisnull(res, 0, col)) {
        return NULL;
    }

    a.alloc = ngx_http_mastodon_pool_alloc;
    a.ctx = r->pool;

    if (mstdn_json_parse(PQgetvalue(res, 0, col), PQgetlength(res, 0, col),
                         &a, &limits, &v, err, sizeof(err))
        != MSTDN_OK
        || v->type != MSTDN_ARRAY)
    {
        return NULL;
    }

    return v;
}
