/*
 * An actor's collections, as Mastodon's controllers page them: the outbox
 * (OutboxesController: Create and Announce, 20 a page by id), followers
 * and following (FollowerAccountsController, FollowingAccountsController:
 * 12 a page by number, newest first, the lists hidden per the account's
 * hide_collections), the featured (pinned) statuses and the featured tags
 * (CollectionsController), and the followers on the signer's site
 * (FollowersSynchronizationsController, signed requests only: the
 * Collection-Synchronization of Mastodon's deliveries points there).  JSON
 * whatever the Accept.
 */

#include "ngx_http_mastodon_activitypub.h"


#define NGX_HTTP_MASTODON_AP_OUTBOX_LIMIT   20
#define NGX_HTTP_MASTODON_AP_FOLLOW_LIMIT   12


typedef enum {
    NGX_HTTP_MASTODON_AP_OUTBOX = 0,
    NGX_HTTP_MASTODON_AP_FOLLOWERS,
    NGX_HTTP_MASTODON_AP_FOLLOWING,
    NGX_HTTP_MASTODON_AP_FEATURED,
    NGX_HTTP_MASTODON_AP_FEATURED_TAGS,
    NGX_HTTP_MASTODON_AP_FOLLOWERS_SYNC
} ngx_http_mastodon_ap_col_kind_t;


typedef struct {
    ngx_http_mastodon_ap_col_kind_t  kind;
    const char                      *owner[1];    /* the owner's $1 */
    const char                      *values[5];   /* the list's */
    ngx_uint_t                       instance;    /* /actor/outbox */
    ngx_uint_t                       page;        /* a page was asked for */
    int64_t                          number;      /* followers' page */
    int64_t                          max_id;      /* the outbox's, -1: */
    int64_t                          min_id;      /* not given */
} ngx_http_mastodon_ap_col_t;


/* $1 the username (NULL: the instance actor): the account and counts */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_ap_owner_stmt =
    ngx_http_mastodon_pg_stmt(
    "SELECT a.id::text, a.username, coalesce(st.statuses_count, 0),"
    " coalesce(st.followers_count, 0), coalesce(st.following_count, 0),"
    " coalesce(a.hide_collections, false)"
    " FROM accounts a LEFT JOIN account_stats st ON st.account_id = a.id"
    " WHERE CASE WHEN $1::text IS NULL THEN a.id = -99"
    "  ELSE lower(a.username) = lower($1) AND a.domain IS NULL AND a.id > 0"
    "   AND" NGX_HTTP_MASTODON_ACCOUNT_SHOWN " END", 1);

/* the outbox: $1 the viewer, $2 the username, $3 max_id, $4 since_id,
 * $5 min_id; what the viewer may see (AccountStatusesFilter) */
#define NGX_HTTP_MASTODON_AP_OUTBOX_SQL(order)                                \
    "SELECT " NGX_HTTP_MASTODON_AP_STATUS_COLUMNS                             \
    NGX_HTTP_MASTODON_AP_STATUS_FROM                                          \
    " WHERE lower(a.username) = lower($2) AND a.domain IS NULL"               \
    " AND (s.id < $3::bigint OR $3 IS NULL)"                                  \
    " AND (s.id > $4::bigint OR $4 IS NULL)"                                  \
    " AND (s.id > $5::bigint OR $5 IS NULL)"                                  \
    " AND " NGX_HTTP_MASTODON_ST_SQL_VISIBLE("s")                             \
    " ORDER BY s.id " order " LIMIT 20"

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_ap_outbox_stmt =
    ngx_http_mastodon_pg_stmt(NGX_HTTP_MASTODON_AP_OUTBOX_SQL("DESC"), 5);

/* min_id: the 20 just after it, oldest first (paginate_by_min_id) */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_ap_outbox_min_stmt =
    ngx_http_mastodon_pg_stmt(NGX_HTTP_MASTODON_AP_OUTBOX_SQL("ASC"), 5);

/* followers and following: $1 the username, $2 the offset; one more than
 * a page tells whether there is a next one */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_ap_followers_stmt =
    ngx_http_mastodon_pg_stmt(
    "SELECT fa.username, fa.domain IS NULL, fa.uri"
    " FROM follows f JOIN accounts fa ON fa.id = f.account_id"
    " WHERE f.target_account_id = (SELECT t.id FROM accounts t"
    "  WHERE lower(t.username) = lower($1) AND t.domain IS NULL)"
    " ORDER BY f.id DESC LIMIT 13 OFFSET $2::bigint", 2);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_ap_following_stmt =
    ngx_http_mastodon_pg_stmt(
    "SELECT fa.username, fa.domain IS NULL, fa.uri"
    " FROM follows f JOIN accounts fa ON fa.id = f.target_account_id"
    " WHERE f.account_id = (SELECT t.id FROM accounts t"
    "  WHERE lower(t.username) = lower($1) AND t.domain IS NULL)"
    " ORDER BY f.id DESC LIMIT 13 OFFSET $2::bigint", 2);

/* pinned statuses, newest pin first; the ones not to be distributed
 * (private) by URI only, as Mastodon does */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_ap_featured_stmt =
    ngx_http_mastodon_pg_stmt(
    "SELECT " NGX_HTTP_MASTODON_AP_STATUS_COLUMNS ", s.visibility IN (0, 1)"
    NGX_HTTP_MASTODON_AP_STATUS_FROM
    " JOIN status_pins sp ON sp.status_id = s.id AND sp.account_id = a.id"
    " WHERE lower(a.username) = lower($1) AND a.domain IS NULL"
    " AND s.deleted_at IS NULL"
    " ORDER BY sp.created_at DESC, sp.id DESC", 1);

/* $1 the username, $2 the signer's site (scheme://host[:port]): the URIs
 * of the followers there */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_ap_followers_sync_stmt =
    ngx_http_mastodon_pg_stmt(
    "SELECT fa.uri FROM follows f JOIN accounts fa ON fa.id = f.account_id"
    " WHERE f.target_account_id = (SELECT t.id FROM accounts t"
    "  WHERE lower(t.username) = lower($1) AND t.domain IS NULL)"
    " AND fa.domain IS NOT NULL"
    " AND (fa.uri = $2 OR left(fa.uri, length($2) + 1) = $2 || '/')"
    " ORDER BY fa.uri", 2);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_ap_featured_tags_stmt =
    ngx_http_mastodon_pg_stmt(
    "SELECT coalesce(t.display_name, t.name), t.name"
    " FROM featured_tags ft JOIN tags t ON t.id = ft.tag_id"
    " JOIN accounts a ON a.id = ft.account_id"
    " WHERE lower(a.username) = lower($1) AND a.domain IS NULL"
    " ORDER BY ft.id", 1);


static int64_t ngx_http_mastodon_ap_param_id(ngx_http_mastodon_ctx_t *ctx,
    const char *key);
static ngx_int_t ngx_http_mastodon_ap_col_start(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_ap_col_kind_t kind,
    ngx_uint_t instance);
static void ngx_http_mastodon_ap_col_done(ngx_http_mastodon_pg_batch_t *b);
static ngx_int_t ngx_http_mastodon_ap_outbox_write(ngx_http_request_t *r,
    ngx_http_mastodon_ap_col_t *q, PGresult *owner, PGresult *res,
    ngx_http_mastodon_json_t *j);
static ngx_int_t ngx_http_mastodon_ap_follows_write(ngx_http_request_t *r,
    ngx_http_mastodon_ap_col_t *q, PGresult *owner, PGresult *res,
    ngx_http_mastodon_json_t *j);
static ngx_int_t ngx_http_mastodon_ap_featured_write(ngx_http_request_t *r,
    ngx_http_mastodon_ap_col_t *q, PGresult *owner, PGresult *res,
    ngx_http_mastodon_json_t *j);
static const char *ngx_http_mastodon_ap_col_uri(ngx_http_request_t *r,
    ngx_http_mastodon_ap_col_t *q, PGresult *owner, int kind);
static ngx_int_t ngx_http_mastodon_ap_sync_write(ngx_http_request_t *r,
    ngx_http_mastodon_ap_col_t *q, PGresult *owner, PGresult *res,
    ngx_http_mastodon_json_t *j);
static const char *ngx_http_mastodon_ap_site(ngx_http_request_t *r,
    const char *uri);


/* GET /users/:username/outbox and /actor/outbox */
ngx_int_t
ngx_http_mastodon_ap_outbox(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_ap_col_start(r, ctx, NGX_HTTP_MASTODON_AP_OUTBOX,
                                          ctx->ncaptures == 0);
}


ngx_int_t
ngx_http_mastodon_ap_followers(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_ap_col_start(r, ctx,
                                          NGX_HTTP_MASTODON_AP_FOLLOWERS, 0);
}


ngx_int_t
ngx_http_mastodon_ap_following(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_ap_col_start(r, ctx,
                                          NGX_HTTP_MASTODON_AP_FOLLOWING, 0);
}


ngx_int_t
ngx_http_mastodon_ap_featured(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_ap_col_start(r, ctx,
                                          NGX_HTTP_MASTODON_AP_FEATURED, 0);
}


ngx_int_t
ngx_http_mastodon_ap_featured_tags(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_ap_col_start(r, ctx,
                                          NGX_HTTP_MASTODON_AP_FEATURED_TAGS,
                                          0);
}


/* GET /users/:username/followers_synchronization (signed only: the
 * entry's authorized fetch has checked the signature whatever the
 * directive says, ap->signer_uri is the signer) */
ngx_int_t
ngx_http_mastodon_ap_followers_sync(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_ap_col_start(r, ctx,
                                          NGX_HTTP_MASTODON_AP_FOLLOWERS_SYNC,
                                          0);
}


static ngx_int_t
ngx_http_mastodon_ap_col_start(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_ap_col_kind_t kind,
    ngx_uint_t instance)
{
    size_t                        len;
    int64_t                       n;
    const char                   *v, *username;
    ngx_http_mastodon_ap_t       *ap;
    ngx_http_mastodon_pg_stmt_t  *stmt;
    ngx_http_mastodon_pg_batch_t *b;
    ngx_http_mastodon_ap_col_t   *q;

    ap = ctx->data;

    q = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_ap_col_t));
    if (q == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ap->data = q;
    q->kind = kind;
    q->instance = instance;

    username = NULL;

    if (!instance) {
        if (!ngx_http_mastodon_ap_username(&ctx->captures[0])) {
            return NGX_HTTP_NOT_FOUND;
        }

        username = ngx_http_mastodon_ap_cstr(r, &ctx->captures[0]);
        if (username == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    b = ngx_http_mastodon_pg_batch(r, ngx_http_mastodon_ap_col_done, q);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* $1 of the owner's statement: the username, NULL the instance actor */
    q->owner[0] = username;
    q->values[0] = username;

    if (ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_ap_owner_stmt,
                                 q->owner) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    stmt = NULL;

    switch (kind) {

    case NGX_HTTP_MASTODON_AP_OUTBOX:
        v = mstdn_param_str(ctx->params, "page", &len);
        q->page = (v != NULL && len == 4 && ngx_strncmp(v, "true", 4) == 0);

        /* max_id, since_id, min_id as given (min_id=0: the oldest page,
         * the collection's "last") */
        q->max_id = ngx_http_mastodon_ap_param_id(ctx, "max_id");
        q->min_id = ngx_http_mastodon_ap_param_id(ctx, "min_id");
        n = ngx_http_mastodon_ap_param_id(ctx, "since_id");

        if (q->page && !instance) {
            /* $1 the viewer, $2 the username, $3.. the ids */
            q->values[0] = ap->viewer;
            q->values[1] = username;
            q->values[2] = (q->max_id >= 0)
                           ? ngx_http_mastodon_pg_int64(r, q->max_id) : NULL;
            q->values[3] = (n >= 0) ? ngx_http_mastodon_pg_int64(r, n) : NULL;
            q->values[4] = (q->min_id >= 0)
                           ? ngx_http_mastodon_pg_int64(r, q->min_id) : NULL;

            stmt = (q->min_id >= 0) ? &ngx_http_mastodon_ap_outbox_min_stmt
                                    : &ngx_http_mastodon_ap_outbox_stmt;
        }

        break;

    case NGX_HTTP_MASTODON_AP_FOLLOWERS:
    case NGX_HTTP_MASTODON_AP_FOLLOWING:
        q->page = (mstdn_param_str(ctx->params, "page", &len) != NULL
                   && len > 0);

        /* kaminari: a page below 1 or not a number is the first */
        if (mstdn_param_int64(ctx->params, "page", &n) != 0 || n < 1
            || n > 1000000)
        {
            n = 1;
        }

        q->number = n;

        if (q->page) {
            q->values[1] = ngx_http_mastodon_pg_int64(r,
                               (n - 1) * NGX_HTTP_MASTODON_AP_FOLLOW_LIMIT);
            stmt = (kind == NGX_HTTP_MASTODON_AP_FOLLOWERS)
                   ? &ngx_http_mastodon_ap_followers_stmt
                   : &ngx_http_mastodon_ap_following_stmt;
        }

        break;

    case NGX_HTTP_MASTODON_AP_FEATURED:
        stmt = &ngx_http_mastodon_ap_featured_stmt;
        break;

    case NGX_HTTP_MASTODON_AP_FEATURED_TAGS:
        stmt = &ngx_http_mastodon_ap_featured_tags_stmt;
        break;

    case NGX_HTTP_MASTODON_AP_FOLLOWERS_SYNC:
        q->values[1] = ngx_http_mastodon_ap_site(r, ap->signer_uri);
        if (q->values[1] == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        stmt = &ngx_http_mastodon_ap_followers_sync_stmt;
        break;
    }

    if (stmt && ngx_http_mastodon_pg_add(b, stmt, q->values) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mastodon_pg_run(b) != NGX_OK) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}


static void
ngx_http_mastodon_ap_col_done(ngx_http_mastodon_pg_batch_t *b)
{
    time_t                       max_age;
    ngx_int_t                    rc;
    PGresult                    *owner, *res;
    ngx_http_request_t          *r;
    ngx_http_mastodon_json_t     j;
    ngx_http_mastodon_ap_col_t  *q;

    r = b->request;
    q = b->data;

    owner = ngx_http_mastodon_pg_rows(b, 0);
    res = (b->nqueries > 1) ? ngx_http_mastodon_pg_rows(b, 1) : NULL;

    if (owner == NULL || (b->nqueries > 1 && res == NULL)) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (PQntuples(owner) != 1) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_NOT_FOUND);
        return;
    }

    /* a hidden list's pages are refused (FollowerAccountsController) */
    if ((q->kind == NGX_HTTP_MASTODON_AP_FOLLOWERS
         || q->kind == NGX_HTTP_MASTODON_AP_FOLLOWING)
        && q->page && ngx_http_mastodon_pg_bool(owner, 0, 5))
    {
        ngx_http_mastodon_finalize(r, NGX_HTTP_FORBIDDEN);
        return;
    }

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    switch (q->kind) {

    case NGX_HTTP_MASTODON_AP_OUTBOX:
        rc = ngx_http_mastodon_ap_outbox_write(r, q, owner, res, &j);
        max_age = q->page ? 60 : 180;
        break;

    case NGX_HTTP_MASTODON_AP_FOLLOWERS:
    case NGX_HTTP_MASTODON_AP_FOLLOWING:
        rc = ngx_http_mastodon_ap_follows_write(r, q, owner, res, &j);
        max_age = q->page ? 0 : 180;
        break;

    case NGX_HTTP_MASTODON_AP_FOLLOWERS_SYNC:
        rc = ngx_http_mastodon_ap_sync_write(r, q, owner, res, &j);
        max_age = 0;
        break;

    default:
        rc = ngx_http_mastodon_ap_featured_write(r, q, owner, res, &j);
        max_age = 180;
    }

    if (rc != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_ap_send(&j, max_age));
}


static ngx_int_t
ngx_http_mastodon_ap_outbox_write(ngx_http_request_t *r,
    ngx_http_mastodon_ap_col_t *q, PGresult *owner, PGresult *res,
    ngx_http_mastodon_json_t *j)
{
    int                     i, k, n;
    u_char                 *p;
    size_t                  len;
    const char             *outbox;
    mstdn_ap_item_t        *items;
    mstdn_ap_status_t      *st;
    mstdn_ap_collection_t   c;

    outbox = ngx_http_mastodon_ap_col_uri(r, q, owner, MSTDN_AP_URI_OUTBOX);
    if (outbox == NULL) {
        return NGX_ERROR;
    }

    len = ngx_strlen(outbox) + sizeof("?max_id=&min_id=&page=true")
          + 2 * NGX_INT64_LEN;

    ngx_memzero(&c, sizeof(mstdn_ap_collection_t));
    c.ordered = 1;

    if (!q->page) {
        c.id = outbox;
        c.total_items = ngx_http_mastodon_pg_int(owner, 0, 2);

        p = ngx_pnalloc(r->pool, 2 * len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        c.first = (const char *) p;
        p = ngx_sprintf(p, "%s?page=true", outbox);
        *p++ = '\0';
        c.last = (const char *) p;
        p = ngx_sprintf(p, "%s?min_id=0&page=true", outbox);
        *p = '\0';

        return mstdn_ap_collection(j->gen, &c) == 0 ? NGX_OK : NGX_ERROR;
    }

    n = res ? PQntuples(res) : 0;

    items = ngx_pcalloc(r->pool, (n + 1) * sizeof(mstdn_ap_item_t));
    st = ngx_pcalloc(r->pool, (n + 1) * sizeof(mstdn_ap_status_t));
    p = ngx_pnalloc(r->pool, 3 * len);
    if (items == NULL || st == NULL || p == NULL) {
        return NGX_ERROR;
    }

    /* newest first, also when read oldest first after min_id */
    for (i = 0; i < n; i++) {
        k = (q->min_id >= 0) ? n - 1 - i : i;

        if (ngx_http_mastodon_ap_status(r, res, k, 0, &st[i]) != NGX_OK) {
            return NGX_ERROR;
        }

        items[i].kind = st[i].reblog_of_uri ? MSTDN_AP_ITEM_ANNOUNCE
                                            : MSTDN_AP_ITEM_CREATE;
        items[i].status = &st[i];
    }

    c.page = 1;
    c.total_items = -1;
    c.part_of = outbox;
    c.has_items = 1;
    c.items = items;
    c.nitems = n;

    /* page_params: max_id, min_id as asked, page=true (sorted) */
    c.id = (const char *) p;
    p = ngx_sprintf(p, "%s?", outbox);

    if (q->max_id >= 0) {
        p = ngx_sprintf(p, "max_id=%L&", q->max_id);
    }

    if (q->min_id >= 0) {
        p = ngx_sprintf(p, "min_id=%L&", q->min_id);
    }

    p = ngx_sprintf(p, "page=true");
    *p++ = '\0';

    if (n == NGX_HTTP_MASTODON_AP_OUTBOX_LIMIT) {
        c.next = (const char *) p;
        p = ngx_sprintf(p, "%s?max_id=%s&page=true", outbox, st[n - 1].id);
        *p++ = '\0';
    }

    if (n > 0) {
        c.prev = (const char *) p;
        p = ngx_sprintf(p, "%s?min_id=%s&page=true", outbox, st[0].id);
        *p = '\0';
    }

    return mstdn_ap_collection(j->gen, &c) == 0 ? NGX_OK : NGX_ERROR;
}


static ngx_int_t
ngx_http_mastodon_ap_follows_write(ngx_http_request_t *r,
    ngx_http_mastodon_ap_col_t *q, PGresult *owner, PGresult *res,
    ngx_http_mastodon_json_t *j)
{
    int                     i, n;
    u_char                 *p;
    size_t                  len;
    const char             *list;
    mstdn_ap_item_t        *items;
    mstdn_ap_collection_t   c;

    list = ngx_http_mastodon_ap_col_uri(r, q, owner,
                               q->kind == NGX_HTTP_MASTODON_AP_FOLLOWERS
                               ? MSTDN_AP_URI_FOLLOWERS
                               : MSTDN_AP_URI_FOLLOWING);
    if (list == NULL) {
        return NGX_ERROR;
    }

    len = ngx_strlen(list) + sizeof("?page=") + NGX_INT64_LEN;

    p = ngx_pnalloc(r->pool, 3 * len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(&c, sizeof(mstdn_ap_collection_t));
    c.ordered = 1;
    c.total_items = ngx_http_mastodon_pg_int(owner, 0,
                        q->kind == NGX_HTTP_MASTODON_AP_FOLLOWERS ? 3 : 4);

    if (!q->page) {
        c.id = list;

        if (ngx_http_mastodon_pg_bool(owner, 0, 5)) {
            /* restrict_fields_to: id, type, totalItems */
            c.fields = MSTDN_AP_FIELDS_ID_TYPE_TOTAL;

        } else {
            c.first = (const char *) p;
            p = ngx_sprintf(p, "%s?page=1", list);
            *p = '\0';
        }

        return mstdn_ap_collection(j->gen, &c) == 0 ? NGX_OK : NGX_ERROR;
    }

    n = PQntuples(res);

    items = ngx_pcalloc(r->pool, (n + 1) * sizeof(mstdn_ap_item_t));
    if (items == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n && i < NGX_HTTP_MASTODON_AP_FOLLOW_LIMIT; i++) {
        items[i].kind = MSTDN_AP_ITEM_URI;

        if (ngx_http_mastodon_pg_bool(res, i, 1)) {
            items[i].uri = ngx_http_mastodon_ap_uri(r, MSTDN_AP_URI_ACCOUNT,
                                                    PQgetvalue(res, i, 0),
                                                    NULL);
            if (items[i].uri == NULL) {
                return NGX_ERROR;
            }

        } else {
            items[i].uri = PQgetvalue(res, i, 2);
        }
    }

    c.page = 1;
    c.part_of = list;
    c.has_items = 1;
    c.items = items;
    c.nitems = i;

    c.id = (const char *) p;
    p = ngx_sprintf(p, "%s?page=%L", list, q->number);
    *p++ = '\0';

    if (n > NGX_HTTP_MASTODON_AP_FOLLOW_LIMIT) {
        c.next = (const char *) p;
        p = ngx_sprintf(p, "%s?page=%L", list, q->number + 1);
        *p++ = '\0';
    }

    if (q->number > 1) {
        c.prev = (const char *) p;
        p = ngx_sprintf(p, "%s?page=%L", list, q->number - 1);
        *p = '\0';
    }

    return mstdn_ap_collection(j->gen, &c) == 0 ? NGX_OK : NGX_ERROR;
}


static ngx_int_t
ngx_http_mastodon_ap_featured_write(ngx_http_request_t *r,
    ngx_http_mastodon_ap_col_t *q, PGresult *owner, PGresult *res,
    ngx_http_mastodon_json_t *j)
{
    int                             i, n;
    u_char                         *p;
    mstdn_ap_item_t                *items;
    mstdn_ap_status_t              *st;
    mstdn_ap_collection_t           c;
    ngx_http_mastodon_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    n = PQntuples(res);

    items = ngx_pcalloc(r->pool, (n + 1) * sizeof(mstdn_ap_item_t));
    st = ngx_pcalloc(r->pool, (n + 1) * sizeof(mstdn_ap_status_t));
    if (items == NULL || st == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(&c, sizeof(mstdn_ap_collection_t));

    for (i = 0; i < n; i++) {

        if (q->kind == NGX_HTTP_MASTODON_AP_FEATURED_TAGS) {
            /* HashtagSerializer: the profile's tagged page */
            p = ngx_pnalloc(r->pool, mcf->base_url.len
                                     + ngx_strlen(PQgetvalue(owner, 0, 1))
                                     + 3 * PQgetlength(res, i, 1)
                                     + sizeof("/@/tagged/"));
            if (p == NULL) {
                return NGX_ERROR;
            }

            items[i].kind = MSTDN_AP_ITEM_HASHTAG;
            items[i].name = PQgetvalue(res, i, 0);
            items[i].uri = (const char *) p;

            p = ngx_sprintf(p, "%V/@%s/tagged/", &mcf->base_url,
                            PQgetvalue(owner, 0, 1));
            p = (u_char *) ngx_escape_uri(p, (u_char *) PQgetvalue(res, i, 1),
                                          PQgetlength(res, i, 1),
                                          NGX_ESCAPE_URI_COMPONENT);
            *p = '\0';
            continue;
        }

        if (ngx_http_mastodon_ap_status(r, res, i, 0, &st[i]) != NGX_OK) {
            return NGX_ERROR;
        }

        if (ngx_http_mastodon_pg_bool(res, i,
                                      NGX_HTTP_MASTODON_AP_STATUS_NCOLS))
        {
            items[i].kind = MSTDN_AP_ITEM_NOTE;
            items[i].status = &st[i];

        } else {
            items[i].kind = MSTDN_AP_ITEM_URI;
            items[i].uri = ngx_http_mastodon_ap_uri(r, MSTDN_AP_URI_STATUS,
                                                    st[i].username, st[i].id);
            if (items[i].uri == NULL) {
                return NGX_ERROR;
            }
        }
    }

    c.ordered = (q->kind == NGX_HTTP_MASTODON_AP_FEATURED);
    c.total_items = n;
    c.has_items = 1;
    c.items = items;
    c.nitems = n;
    c.id = ngx_http_mastodon_ap_col_uri(r, q, owner,
                               q->kind == NGX_HTTP_MASTODON_AP_FEATURED
                               ? MSTDN_AP_URI_FEATURED
                               : MSTDN_AP_URI_FEATURED_TAGS);
    if (c.id == NULL) {
        return NGX_ERROR;
    }

    return mstdn_ap_collection(j->gen, &c) == 0 ? NGX_OK : NGX_ERROR;
}


static ngx_int_t
ngx_http_mastodon_ap_sync_write(ngx_http_request_t *r,
    ngx_http_mastodon_ap_col_t *q, PGresult *owner, PGresult *res,
    ngx_http_mastodon_json_t *j)
{
    int                     i, n;
    u_char                 *p;
    const char             *followers;
    mstdn_ap_item_t        *items;
    mstdn_ap_collection_t   c;

    followers = ngx_http_mastodon_ap_col_uri(r, q, owner,
                                             MSTDN_AP_URI_FOLLOWERS);
    if (followers == NULL) {
        return NGX_ERROR;
    }

    n = PQntuples(res);

    items = ngx_pcalloc(r->pool, (n + 1) * sizeof(mstdn_ap_item_t));
    p = ngx_pnalloc(r->pool, ngx_strlen(followers)
                             + sizeof("_synchronization"));
    if (items == NULL || p == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        items[i].kind = MSTDN_AP_ITEM_URI;
        items[i].uri = PQgetvalue(res, i, 0);
    }

    /* account_followers_synchronization_url: base/users/NAME/followers
     * with "_synchronization" */
    *ngx_sprintf(p, "%s_synchronization", followers) = '\0';

    /* CollectionPresenter without size: no totalItems */
    ngx_memzero(&c, sizeof(mstdn_ap_collection_t));
    c.id = (const char *) p;
    c.ordered = 1;
    c.total_items = -1;
    c.has_items = 1;
    c.items = items;
    c.nitems = n;

    return mstdn_ap_collection(j->gen, &c) == 0 ? NGX_OK : NGX_ERROR;
}


/* Account::URL_PREFIX_RE of a URI: "http(s)://host[:port]", in the pool;
 * "" when it has none (then no follower matches) */
static const char *
ngx_http_mastodon_ap_site(ngx_http_request_t *r, const char *uri)
{
    size_t       len;
    const char  *p;
    ngx_str_t    s;

    len = 0;

    if (uri != NULL) {
        if (ngx_strncmp(uri, "https://", 8) == 0) {
            len = 8;

        } else if (ngx_strncmp(uri, "http://", 7) == 0) {
            len = 7;
        }
    }

    if (len > 0) {
        for (p = uri + len; *p && *p != '/'; p++) { /* void */ }

        len = (p == uri + len) ? 0 : (size_t) (p - uri);
    }

    s.data = (u_char *) uri;
    s.len = len;

    return ngx_http_mastodon_ap_cstr(r, &s);
}


/* a URI of the owner (its username in column 1; the instance actor's
 * outbox for /actor/outbox), in the request pool */
static const char *
ngx_http_mastodon_ap_col_uri(ngx_http_request_t *r,
    ngx_http_mastodon_ap_col_t *q, PGresult *owner, int kind)
{
    if (q->instance && kind == MSTDN_AP_URI_OUTBOX) {
        kind = MSTDN_AP_URI_INSTANCE_OUTBOX;
    }

    return ngx_http_mastodon_ap_uri(r, kind, PQgetvalue(owner, 0, 1), NULL);
}


/* an id parameter: its value (0 included), -1 when absent or not one */
static int64_t
ngx_http_mastodon_ap_param_id(ngx_http_mastodon_ctx_t *ctx, const char *key)
{
    int64_t  n;

    if (mstdn_param_int64(ctx->params, key, &n) != 0 || n < 0) {
        return -1;
    }

    return n;
}
