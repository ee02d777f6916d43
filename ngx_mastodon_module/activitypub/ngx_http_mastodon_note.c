/*
 * A local status for ActivityPub clients: its Note at
 * /users/:username/statuses/:id (and /@:username/:id), its Create (or
 * Announce) at .../activity, its replies, likes and shares collections.
 * What may be served is the project's one visibility rule
 * (mastodon_status_visible() of sql/0009_rules.sql) for the viewer: nobody
 * without a signature, so public and unlisted statuses only.
 */

#include "ngx_http_mastodon_activitypub.h"
#include "mstdn_json.h"


enum {
    NGX_HTTP_MASTODON_AS_ID = 0,
    NGX_HTTP_MASTODON_AS_VISIBILITY,
    NGX_HTTP_MASTODON_AS_PUBLISHED,
    NGX_HTTP_MASTODON_AS_EDITED,
    NGX_HTTP_MASTODON_AS_PARENT_ID,
    NGX_HTTP_MASTODON_AS_PARENT_URI,
    NGX_HTTP_MASTODON_AS_PARENT_USERNAME,
    NGX_HTTP_MASTODON_AS_PARENT_LOCAL,
    NGX_HTTP_MASTODON_AS_SPOILER,
    NGX_HTTP_MASTODON_AS_TEXT,
    NGX_HTTP_MASTODON_AS_LANGUAGE,
    NGX_HTTP_MASTODON_AS_SENSITIVE,
    NGX_HTTP_MASTODON_AS_CONV_URI,
    NGX_HTTP_MASTODON_AS_CONV_DATE,
    NGX_HTTP_MASTODON_AS_CONV_ID,
    NGX_HTTP_MASTODON_AS_MENTIONS,
    NGX_HTTP_MASTODON_AS_TAGS,
    NGX_HTTP_MASTODON_AS_SELF_REPLIES,
    NGX_HTTP_MASTODON_AS_FAVOURITES,
    NGX_HTTP_MASTODON_AS_REBLOGS,
    NGX_HTTP_MASTODON_AS_USERNAME,
    NGX_HTTP_MASTODON_AS_REBLOG_ID,
    NGX_HTTP_MASTODON_AS_REBLOG_URI,
    NGX_HTTP_MASTODON_AS_REBLOG_USERNAME,
    NGX_HTTP_MASTODON_AS_REBLOG_LOCAL,
    NGX_HTTP_MASTODON_AS_REBLOG_ACCOUNT_URI,
    NGX_HTTP_MASTODON_AS_POLL,
    NGX_HTTP_MASTODON_AS_ATTACHMENTS,
    NGX_HTTP_MASTODON_AS_EMOJIS
};


/* $1 the viewer, $2 the author's username, $3 the status id: the status
 * of that local account (@account.statuses.find) that the viewer may see */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_ap_note_stmt =
    ngx_http_mastodon_pg_stmt(
    "SELECT " NGX_HTTP_MASTODON_AP_STATUS_COLUMNS
    NGX_HTTP_MASTODON_AP_STATUS_FROM
    " WHERE s.id = $3::bigint AND lower(a.username) = lower($2)"
    " AND a.domain IS NULL AND" NGX_HTTP_MASTODON_ACCOUNT_SHOWN
    " AND " NGX_HTTP_MASTODON_ST_SQL_VISIBLE("s"), 3);

/*
 * RepliesController: $1 the status, $2 only other accounts' replies, $3
 * min_id; public and unlisted replies (distributable_visibility), 60 a
 * page, oldest first; local ones inlined as Notes, remote ones by URI
 */
#define NGX_HTTP_MASTODON_AP_REPLIES_LIMIT  60

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_ap_replies_stmt =
    ngx_http_mastodon_pg_stmt(
    "SELECT " NGX_HTTP_MASTODON_AP_STATUS_COLUMNS ", s.uri, a.domain IS NULL"
    NGX_HTTP_MASTODON_AP_STATUS_FROM
    " WHERE s.in_reply_to_id = $1::bigint"
    " AND s.visibility IN (0, 1) AND s.deleted_at IS NULL"
    " AND (s.id > $3::bigint OR $3 IS NULL)"
    " AND CASE WHEN $2::boolean"
    "  THEN s.account_id <> (SELECT ps.account_id FROM statuses ps"
    "                         WHERE ps.id = $1::bigint)"
    "       AND a.suspended_at IS NULL"
    "  ELSE s.account_id = (SELECT ps.account_id FROM statuses ps"
    "                        WHERE ps.id = $1::bigint) END"
    " ORDER BY s.id LIMIT 60", 3);

/* the status (visible) alone: whether the collection exists */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_ap_status_exists_stmt =
    ngx_http_mastodon_pg_stmt(
    "SELECT s.id::text, coalesce(ss.favourites_count, 0),"
    " coalesce(ss.reblogs_count, 0), a.username"
    " FROM statuses s JOIN accounts a ON a.id = s.account_id"
    " LEFT JOIN status_stats ss ON ss.status_id = s.id"
    " WHERE s.id = $3::bigint AND lower(a.username) = lower($2)"
    " AND a.domain IS NULL AND" NGX_HTTP_MASTODON_ACCOUNT_SHOWN
    " AND " NGX_HTTP_MASTODON_ST_SQL_VISIBLE("s"), 3);


typedef enum {
    NGX_HTTP_MASTODON_AP_NOTE = 0,
    NGX_HTTP_MASTODON_AP_ACTIVITY,
    NGX_HTTP_MASTODON_AP_REPLIES,
    NGX_HTTP_MASTODON_AP_LIKES,
    NGX_HTTP_MASTODON_AP_SHARES
} ngx_http_mastodon_ap_note_kind_t;


typedef struct {
    ngx_http_mastodon_ap_note_kind_t  kind;
    const char                       *values[5];
    ngx_uint_t                        page;
    ngx_uint_t                        only_other;
} ngx_http_mastodon_ap_note_req_t;


static ngx_int_t ngx_http_mastodon_ap_note_start(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_ap_note_kind_t kind);
static void ngx_http_mastodon_ap_note_done(ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_ap_count_done(ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_ap_replies_done(
    ngx_http_mastodon_pg_batch_t *b);
static mstdn_value_t *ngx_http_mastodon_ap_json_col(ngx_http_request_t *r,
    PGresult *res, int row, int col, mstdn_type_t type);


/* GET /users/:username/statuses/:id and /@:username/:id */
ngx_int_t
ngx_http_mastodon_ap_note(ngx_http_request_t *r, ngx_http_mastodon_ctx_t *ctx)
{
    ngx_http_mastodon_ap_t  *ap;

    ap = ctx->data;

    if (!ap->json) {
        /* a browser: the /@ page, or the redirect to it */
        if (ctx->route->pattern.data[1] == 'u') {
            return ngx_http_mastodon_users_redirect(r, ctx);
        }

        return ngx_http_mastodon_status_page(r, ctx);
    }

    return ngx_http_mastodon_ap_note_start(r, ctx, NGX_HTTP_MASTODON_AP_NOTE);
}


/* GET /users/:username/statuses/:id/activity (JSON whatever the Accept) */
ngx_int_t
ngx_http_mastodon_ap_note_activity(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_ap_note_start(r, ctx,
                                           NGX_HTTP_MASTODON_AP_ACTIVITY);
}


/* GET /users/:username/statuses/:id/replies[?page=true&min_id=&
 * only_other_accounts=] */
ngx_int_t
ngx_http_mastodon_ap_replies(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_ap_note_start(r, ctx,
                                           NGX_HTTP_MASTODON_AP_REPLIES);
}


/* GET /users/:username/statuses/:id/likes and /shares: their counts */
ngx_int_t
ngx_http_mastodon_ap_likes(ngx_http_request_t *r, ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_ap_note_start(r, ctx, NGX_HTTP_MASTODON_AP_LIKES);
}


ngx_int_t
ngx_http_mastodon_ap_shares(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_ap_note_start(r, ctx,
                                           NGX_HTTP_MASTODON_AP_SHARES);
}


/* Rails' truthy_param? */
static ngx_uint_t
ngx_http_mastodon_ap_truthy(ngx_http_mastodon_ctx_t *ctx, const char *key)
{
    size_t       len;
    const char  *v;

    v = mstdn_param_str(ctx->params, key, &len);

    return v != NULL
           && ((len == 4 && ngx_strncasecmp((u_char *) v, (u_char *) "true", 4)
                            == 0)
               || (len == 1 && (v[0] == '1' || v[0] == 't' || v[0] == 'T'))
               || (len == 2 && ngx_strncasecmp((u_char *) v, (u_char *) "on",
                                               2) == 0));
}


static ngx_int_t
ngx_http_mastodon_ap_note_start(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_ap_note_kind_t kind)
{
    int64_t                           min_id;
    ngx_http_mastodon_ap_t           *ap;
    ngx_http_mastodon_pg_stmt_t      *stmt;
    ngx_http_mastodon_pg_done_pt      done;
    ngx_http_mastodon_pg_batch_t     *b;
    ngx_http_mastodon_ap_note_req_t  *q;

    ap = ctx->data;

    if (!ngx_http_mastodon_ap_username(&ctx->captures[0])) {
        return NGX_HTTP_NOT_FOUND;
    }

    q = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_ap_note_req_t));
    if (q == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ap->data = q;
    q->kind = kind;

    q->values[0] = ap->viewer;
    q->values[1] = ngx_http_mastodon_ap_cstr(r, &ctx->captures[0]);
    q->values[2] = ngx_http_mastodon_ap_id(r, &ctx->captures[1]);

    if (q->values[1] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (q->values[2] == NULL) {
        return NGX_HTTP_NOT_FOUND;
    }

    switch (kind) {

    case NGX_HTTP_MASTODON_AP_REPLIES:
        q->page = ngx_http_mastodon_ap_truthy(ctx, "page");
        q->only_other = ngx_http_mastodon_ap_truthy(ctx,
                                                    "only_other_accounts");
        q->values[3] = q->only_other ? "true" : "false";

        if (mstdn_param_int64(ctx->params, "min_id", &min_id) == 0
            && min_id > 0)
        {
            q->values[4] = ngx_http_mastodon_pg_int64(r, min_id);
        }

        stmt = &ngx_http_mastodon_ap_replies_stmt;
        done = ngx_http_mastodon_ap_replies_done;
        break;

    case NGX_HTTP_MASTODON_AP_LIKES:
    case NGX_HTTP_MASTODON_AP_SHARES:
        stmt = &ngx_http_mastodon_ap_status_exists_stmt;
        done = ngx_http_mastodon_ap_count_done;
        break;

    default:
        stmt = &ngx_http_mastodon_ap_note_stmt;
        done = ngx_http_mastodon_ap_note_done;
    }

    if (kind != NGX_HTTP_MASTODON_AP_REPLIES) {
        return ngx_http_mastodon_pg_query(r, stmt, q->values, done, q);
    }

    /* the status (may it be seen?), then its replies */
    b = ngx_http_mastodon_pg_batch(r, done, q);
    if (b == NULL
        || ngx_http_mastodon_pg_add(b,
                                    &ngx_http_mastodon_ap_status_exists_stmt,
                                    q->values) != NGX_OK
        || ngx_http_mastodon_pg_add(b, stmt, &q->values[2]) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mastodon_pg_run(b) != NGX_OK) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}


static void
ngx_http_mastodon_ap_note_done(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_str_t                         location;
    PGresult                         *res;
    mstdn_ap_status_t                 s;
    mstdn_ap_activity_t               a;
    ngx_http_request_t               *r;
    ngx_http_mastodon_json_t          j;
    ngx_http_mastodon_ap_note_req_t  *q;

    r = b->request;
    q = b->data;

    res = ngx_http_mastodon_pg_rows(b, 0);
    if (res == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (PQntuples(res) != 1) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_NOT_FOUND);
        return;
    }

    if (ngx_http_mastodon_ap_status(r, res, 0, 0, &s) != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* a reblog's page is its original's (redirect_to_original) */
    if (q->kind == NGX_HTTP_MASTODON_AP_NOTE && s.reblog_of_uri) {
        if (ngx_http_mastodon_pg_bool(res, 0,
                                      NGX_HTTP_MASTODON_AS_REBLOG_LOCAL))
        {
            location.data = (u_char *) ngx_http_mastodon_ap_uri(r,
                MSTDN_AP_URI_STATUS_URL,
                PQgetvalue(res, 0, NGX_HTTP_MASTODON_AS_REBLOG_USERNAME),
                PQgetvalue(res, 0, NGX_HTTP_MASTODON_AS_REBLOG_ID));

        } else {
            location.data = (u_char *) s.reblog_of_uri;
        }

        if (location.data == NULL) {
            ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        location.len = ngx_strlen(location.data);

        ngx_http_mastodon_finalize(r,
            ngx_http_mastodon_redirect(r, NGX_HTTP_MOVED_TEMPORARILY,
                                       &location));
        return;
    }

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (q->kind == NGX_HTTP_MASTODON_AP_NOTE) {
        if (mstdn_ap_note(j.gen, &s) != 0) {
            j.failed = 1;
        }

    } else {
        ngx_memzero(&a, sizeof(mstdn_ap_activity_t));
        a.type = s.reblog_of_uri ? MSTDN_AP_ANNOUNCE : MSTDN_AP_CREATE;
        a.status = &s;

        if (mstdn_ap_activity(j.gen, &a) != 0) {
            j.failed = 1;
        }
    }

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_ap_send(&j, 180));
}


/* LikesController, SharesController */
static void
ngx_http_mastodon_ap_count_done(ngx_http_mastodon_pg_batch_t *b)
{
    PGresult                         *res;
    mstdn_ap_collection_t             c;
    ngx_http_request_t               *r;
    ngx_http_mastodon_json_t          j;
    ngx_http_mastodon_ap_note_req_t  *q;

    r = b->request;
    q = b->data;

    res = ngx_http_mastodon_pg_rows(b, 0);
    if (res == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (PQntuples(res) != 1) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_NOT_FOUND);
        return;
    }

    ngx_memzero(&c, sizeof(mstdn_ap_collection_t));

    c.id = ngx_http_mastodon_ap_uri(r, q->kind == NGX_HTTP_MASTODON_AP_LIKES
                                    ? MSTDN_AP_URI_LIKES
                                    : MSTDN_AP_URI_SHARES,
                                    PQgetvalue(res, 0, 3),
                                    PQgetvalue(res, 0, 0));
    c.total_items = ngx_http_mastodon_pg_int(res, 0,
                                    q->kind == NGX_HTTP_MASTODON_AP_LIKES
                                    ? 1 : 2);

    if (c.id == NULL || ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (mstdn_ap_collection(j.gen, &c) != 0) {
        j.failed = 1;
    }

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_ap_send(&j, 180));
}


static void
ngx_http_mastodon_ap_replies_done(ngx_http_mastodon_pg_batch_t *b)
{
    int                               i, n, last_col;
    u_char                           *p;
    size_t                            len;
    PGresult                         *res;
    const char                       *replies, *username;
    mstdn_ap_item_t                  *items;
    mstdn_ap_status_t                *st;
    mstdn_ap_collection_t             c, page;
    ngx_http_request_t               *r;
    ngx_http_mastodon_ctx_t          *ctx;
    ngx_http_mastodon_json_t          j;
    ngx_http_mastodon_ap_note_req_t  *q;

    r = b->request;
    q = b->data;
    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    res = ngx_http_mastodon_pg_rows(b, 0);
    if (res == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (PQntuples(res) != 1) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_NOT_FOUND);
        return;
    }

    res = ngx_http_mastodon_pg_rows(b, 1);
    if (res == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    n = PQntuples(res);

    items = ngx_pcalloc(r->pool, (n + 1) * sizeof(mstdn_ap_item_t));
    st = ngx_pcalloc(r->pool, (n + 1) * sizeof(mstdn_ap_status_t));
    if (items == NULL || st == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    last_col = NGX_HTTP_MASTODON_AP_STATUS_NCOLS;

    for (i = 0; i < n; i++) {
        if (ngx_http_mastodon_pg_bool(res, i, last_col + 1)) {
            if (ngx_http_mastodon_ap_status(r, res, i, 0, &st[i]) != NGX_OK) {
                ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
                return;
            }

            items[i].kind = MSTDN_AP_ITEM_NOTE;
            items[i].status = &st[i];

        } else {
            items[i].kind = MSTDN_AP_ITEM_URI;
            items[i].uri = PQgetvalue(res, i, last_col);
        }
    }

    username = ngx_http_mastodon_ap_cstr(r, &ctx->captures[0]);
    replies = ngx_http_mastodon_ap_uri(r, MSTDN_AP_URI_REPLIES,
                                       username, q->values[2]);
    if (username == NULL || replies == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    len = ngx_strlen(replies) + sizeof("?min_id=&only_other_accounts=false"
                                       "&page=true") + NGX_INT64_LEN;

    ngx_memzero(&page, sizeof(mstdn_ap_collection_t));
    page.page = 1;
    page.total_items = -1;
    page.part_of = replies;
    page.has_items = 1;
    page.items = items;
    page.nitems = n;

    /* the page's id: the parameters it was asked with, sorted */
    p = ngx_pnalloc(r->pool, 2 * len);
    if (p == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    page.id = (const char *) p;
    p = ngx_sprintf(p, "%s?", replies);

    if (q->values[4]) {
        p = ngx_sprintf(p, "min_id=%s&", q->values[4]);
    }

    if (mstdn_param_str(ctx->params, "only_other_accounts", NULL)) {
        p = ngx_sprintf(p, "only_other_accounts=%s&",
                        q->only_other ? "true" : "false");
    }

    p = ngx_sprintf(p, "page=true");
    *p++ = '\0';

    /* next: self-replies go on, or other accounts' begin */
    page.next = (const char *) p;

    if (q->only_other) {
        if (n < NGX_HTTP_MASTODON_AP_REPLIES_LIMIT) {
            page.next = NULL;

        } else {
            p = ngx_sprintf(p, "%s?min_id=%s&only_other_accounts=true"
                            "&page=true", replies,
                            PQgetvalue(res, n - 1, NGX_HTTP_MASTODON_AS_ID));
            *p = '\0';
        }

    } else if (n < NGX_HTTP_MASTODON_AP_REPLIES_LIMIT) {
        p = ngx_sprintf(p, "%s?only_other_accounts=true&page=true", replies);
        *p = '\0';

    } else {
        p = ngx_sprintf(p, "%s?min_id=%s&only_other_accounts=false"
                        "&page=true", replies,
                        PQgetvalue(res, n - 1, NGX_HTTP_MASTODON_AS_ID));
        *p = '\0';
    }

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (q->page) {
        if (mstdn_ap_collection(j.gen, &page) != 0) {
            j.failed = 1;
        }

    } else {
        ngx_memzero(&c, sizeof(mstdn_ap_collection_t));
        c.id = replies;
        c.total_items = -1;
        c.first_page = &page;

        if (mstdn_ap_collection(j.gen, &c) != 0) {
            j.failed = 1;
        }
    }

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_ap_send(&j, 0));
}


ngx_int_t
ngx_http_mastodon_ap_status(ngx_http_request_t *r, PGresult *res, int row,
    int col, mstdn_ap_status_t *s)
{
    size_t                          nt, i;
    ngx_str_t                       text, html;
    const char                    **replies, *v;
    ngx_int_t                       rc;
    mstdn_value_t                  *mentions, *tags, *emojis, *ids, *m, *e;
    mstdn_ap_tag_t                 *t;
    ngx_http_mastodon_main_conf_t  *mcf;
    u_char                         *conv;

#define COL(n)     (col + NGX_HTTP_MASTODON_AS_##n)
#define VAL(n)     PQgetvalue(res, row, COL(n))
#define NUL(n)     PQgetisnull(res, row, COL(n))

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    ngx_memzero(s, sizeof(mstdn_ap_status_t));

    s->base = (const char *) mcf->base_url.data;
    s->media_base = (const char *) mcf->media_base_url.data;
    s->username = VAL(USERNAME);
    s->id = VAL(ID);
    s->visibility = ngx_atoi((u_char *) VAL(VISIBILITY),
                             ngx_strlen(VAL(VISIBILITY)));
    s->published = VAL(PUBLISHED);
    s->updated = NUL(EDITED) ? NULL : VAL(EDITED);
    s->summary = VAL(SPOILER);
    s->language = NUL(LANGUAGE) ? NULL : VAL(LANGUAGE);
    s->sensitive = ngx_http_mastodon_pg_bool(res, row, COL(SENSITIVE));
    s->favourites_count = ngx_http_mastodon_pg_int(res, row, COL(FAVOURITES));
    s->reblogs_count = ngx_http_mastodon_pg_int(res, row, COL(REBLOGS));

    /* the parent's URI: a remote one's, a local one's built */
    if (!NUL(PARENT_ID)) {
        if (ngx_http_mastodon_pg_bool(res, row, COL(PARENT_LOCAL))) {
            s->in_reply_to = ngx_http_mastodon_ap_uri(r, MSTDN_AP_URI_STATUS,
                                                      VAL(PARENT_USERNAME),
                                                      VAL(PARENT_ID));
        } else if (!NUL(PARENT_URI)) {
            s->in_reply_to = VAL(PARENT_URI);
        }
    }

    /* the conversation: its URI, or the tag of a local one */
    if (!NUL(CONV_ID)) {
        if (!NUL(CONV_URI)) {
            s->conversation = VAL(CONV_URI);

        } else {
            conv = ngx_pnalloc(r->pool, MSTDN_AP_URI_MAX);
            if (conv == NULL) {
                return NGX_ERROR;
            }

            if (mstdn_ap_conversation_tag((char *) conv, MSTDN_AP_URI_MAX,
                                          (const char *) mcf->domain.data,
                                          VAL(CONV_DATE), VAL(CONV_ID))
                > 0)
            {
                s->conversation = (const char *) conv;
            }
        }
    }

    /* a reblog: the original's URI and its author's */
    if (!NUL(REBLOG_ID)) {
        if (ngx_http_mastodon_pg_bool(res, row, COL(REBLOG_LOCAL))) {
            s->reblog_of_uri = ngx_http_mastodon_ap_uri(r,
                                   MSTDN_AP_URI_STATUS, VAL(REBLOG_USERNAME),
                                   VAL(REBLOG_ID));
            s->reblog_account_uri = ngx_http_mastodon_ap_uri(r,
                                   MSTDN_AP_URI_ACCOUNT, VAL(REBLOG_USERNAME),
                                   NULL);
        } else {
            s->reblog_of_uri = VAL(REBLOG_URI);
            s->reblog_account_uri = NUL(REBLOG_ACCOUNT_URI)
                                    ? NULL : VAL(REBLOG_ACCOUNT_URI);
        }

        if (s->reblog_of_uri == NULL) {
            return NGX_ERROR;
        }
    }

    /* tags: the mentions (by mention id), the hashtags, the emojis */
    mentions = ngx_http_mastodon_ap_json_col(r, res, row, COL(MENTIONS),
                                               MSTDN_ARRAY);
    tags = ngx_http_mastodon_ap_json_col(r, res, row, COL(TAGS),
                                         MSTDN_ARRAY);
    emojis = ngx_http_mastodon_ap_json_col(r, res, row, COL(EMOJIS),
                                           MSTDN_ARRAY);

    nt = (mentions ? mentions->count : 0) + (tags ? tags->count : 0)
         + (emojis ? emojis->count : 0);

    t = ngx_pcalloc(r->pool, (nt + 1) * sizeof(mstdn_ap_tag_t));
    if (t == NULL) {
        return NGX_ERROR;
    }

    s->tags = t;

    for (m = mentions ? mentions->first : NULL; m; m = m->next) {
        /* [id, username, domain, url, uri] */
        if (m->type != MSTDN_ARRAY || m->count != 5
            || m->first->next->type != MSTDN_STRING)
        {
            continue;
        }

        e = m->first->next;                         /* username */
        t->kind = MSTDN_AP_TAG_MENTION;

        if (e->next->type == MSTDN_STRING) {
            /* a remote account: user@domain, its uri */
            v = ngx_pnalloc(r->pool, e->len + e->next->len + 2);
            if (v == NULL) {
                return NGX_ERROR;
            }

            *ngx_sprintf((u_char *) v, "%s@%s", e->str, e->next->str) = '\0';
            t->name = v;
            t->href = (e->next->next->next->type == MSTDN_STRING)
                      ? e->next->next->next->str : "";

        } else {
            t->name = e->str;
            t->username = e->str;
        }

        t++;
        s->ntags++;
    }

    for (e = tags ? tags->first : NULL; e; e = e->next) {
        if (e->type != MSTDN_STRING) {
            continue;
        }

        t->kind = MSTDN_AP_TAG_HASHTAG;
        t->name = e->str;
        t++;
        s->ntags++;
    }

    for (e = emojis ? emojis->first : NULL; e; e = e->next) {
        rc = ngx_http_mastodon_ap_emoji_tag(r->pool, mcf, e, t);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_OK) {
            t++;
            s->ntags++;
        }
    }

    /* the content: Mastodon's HTML of the text, mentions linked */
    text = ngx_http_mastodon_pg_str(res, row, COL(TEXT));

    if (ngx_http_mastodon_status_html(r, &text, mentions, &html) != NGX_OK) {
        return NGX_ERROR;
    }

    s->content = (const char *) html.data;

    /* the first self-replies, for the replies collection */
    ids = ngx_http_mastodon_ap_json_col(r, res, row, COL(SELF_REPLIES),
                                        MSTDN_ARRAY);

    if (ids && ids->count) {
        replies = ngx_pcalloc(r->pool, ids->count * sizeof(char *));
        if (replies == NULL) {
            return NGX_ERROR;
        }

        for (e = ids->first, i = 0; e; e = e->next) {
            if (e->type != MSTDN_STRING) {
                continue;
            }

            replies[i] = ngx_http_mastodon_ap_uri(r, MSTDN_AP_URI_STATUS,
                                                  s->username, e->str);
            if (replies[i] == NULL) {
                return NGX_ERROR;
            }

            s->last_reply_id = e->str;
            i++;
        }

        s->self_replies = replies;
        s->nself_replies = i;
    }

    /* a poll: the Poll entity, the Note then a Question */
    s->poll = ngx_http_mastodon_ap_json_col(r, res, row, COL(POLL),
                                            MSTDN_OBJECT);

    /* the processed local attachments, as Documents */
    s->attachments = ngx_http_mastodon_ap_json_col(r, res, row,
                                                   COL(ATTACHMENTS),
                                                   MSTDN_ARRAY);

#undef COL
#undef VAL
#undef NUL

    return NGX_OK;
}


static mstdn_value_t *
ngx_http_mastodon_ap_json_col(ngx_http_request_t *r, PGresult *res, int row,
    int col, mstdn_type_t type)
{
    char             err[64];
    mstdn_alloc_t    a;
    mstdn_value_t   *v;
    mstdn_limits_t   limits = { 4, 10000 };

    if (PQgetisnull(res, row, col)) {
        return NULL;
    }

    a.alloc = ngx_http_mastodon_pool_alloc;
    a.ctx = r->pool;

    if (mstdn_json_parse(PQgetvalue(res, row, col),
                         PQgetlength(res, row, col), &a, &limits, &v, err,
                         sizeof(err))
        != MSTDN_OK
        || v->type != type)
    {
        return NULL;
    }

    return v;
}


/*
 * ActivityPub::EmojiSerializer of a local emoji: its id
 * (base/emojis/ID), :shortcode:, updated, the original image as icon.
 */
ngx_int_t
ngx_http_mastodon_ap_emoji_tag(ngx_pool_t *pool,
    ngx_http_mastodon_main_conf_t *mcf, mstdn_value_t *e, mstdn_ap_tag_t *t)
{
    u_char         *p;
    ngx_str_t       name, url;
    mstdn_value_t  *v[6];
    ngx_uint_t      i;

    /* [shortcode, remote URL, id, file name, content type, updated] */
    if (e->type != MSTDN_ARRAY || e->count < 6) {
        return NGX_DECLINED;
    }

    for (i = 0, v[0] = e->first; i < 5; i++) {
        v[i + 1] = v[i]->next;
    }

    if (v[1]->type != MSTDN_NULL) {
        return NGX_DECLINED;                    /* a remote one */
    }

    for (i = 0; i < 6; i++) {
        if (i != 1 && v[i]->type != MSTDN_STRING) {
            return NGX_DECLINED;
        }
    }

    name.data = (u_char *) v[3]->str;
    name.len = v[3]->len;

    if (ngx_http_mastodon_media_file_url(pool, mcf, 0, "custom_emojis",
                                         "images",
                                         ngx_atoof((u_char *) v[2]->str,
                                                   v[2]->len),
                                         "original", &name, NULL, &url)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    p = ngx_pnalloc(pool, url.len + 1 + mcf->base_url.len
                          + sizeof("/emojis/") + v[2]->len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    t->kind = MSTDN_AP_TAG_EMOJI;
    t->name = v[0]->str;
    t->media_type = v[4]->str;
    t->updated = v[5]->str;

    t->icon_url = (const char *) p;
    p = ngx_cpymem(p, url.data, url.len);
    *p++ = '\0';

    t->id = (const char *) p;
    *ngx_sprintf(p, "%V/emojis/%s", &mcf->base_url, v[2]->str) = '\0';

    return NGX_OK;
}
