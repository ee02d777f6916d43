/*
 * The Relationship entity (REST::RelationshipSerializer) and
 * GET /api/v1/accounts/relationships; the machinery the relationship
 * endpoints share:
 *
 *  - a write on the user's relationship with one account is one batch (one
 *    round trip, one transaction): a check of the target (exists, pending,
 *    suspended, blocks, ...), the endpoint's statements, each guarded in SQL
 *    by the same conditions the check reports, and the Relationship as it
 *    is afterwards.  The handler reads the check to pick Mastodon's status
 *    (404, 403, 422); when it refuses, the guarded statements did nothing.
 *  - an account list (followers, blocks, ...) is a check of the account
 *    whose list it is (hidden collections, suspension) and one page of
 *    accounts with Mastodon's Link header, paginated by the id of the
 *    relationship's row.
 *
 * Follower/following counters: statements that insert or delete follows
 * end with NGX_HTTP_MASTODON_REL_STATS over the rows they really changed
 * (data-modifying CTEs), so concurrent duplicates count once; the batch
 * first makes sure both account_stats rows exist, and the counters are
 * updated in account id order, so concurrent writes never deadlock on them.
 */

#include "ngx_http_mastodon_api.h"


#define NGX_HTTP_MASTODON_REL_MAX_IDS  1000


/* the check's columns */
enum {
    NGX_HTTP_MASTODON_CHK_ID = 0,
    NGX_HTTP_MASTODON_CHK_HIDDEN,
    NGX_HTTP_MASTODON_CHK_SUSPENDED,
    NGX_HTTP_MASTODON_CHK_LOCKED,
    NGX_HTTP_MASTODON_CHK_REMOTE,
    NGX_HTTP_MASTODON_CHK_ACTIVITYPUB,
    NGX_HTTP_MASTODON_CHK_MOVED,
    NGX_HTTP_MASTODON_CHK_BLOCKING,
    NGX_HTTP_MASTODON_CHK_BLOCKED_BY,
    NGX_HTTP_MASTODON_CHK_DOMAIN_BLOCKING,
    NGX_HTTP_MASTODON_CHK_SILENCED,
    NGX_HTTP_MASTODON_CHK_FOLLOWING,
    NGX_HTTP_MASTODON_CHK_ENDORSED,
    NGX_HTTP_MASTODON_CHK_REQUESTED_BY
};


/* the Relationship's columns */
enum {
    NGX_HTTP_MASTODON_RCOL_ID = 0,
    NGX_HTTP_MASTODON_RCOL_FOLLOWING,
    NGX_HTTP_MASTODON_RCOL_SHOWING_REBLOGS,
    NGX_HTTP_MASTODON_RCOL_NOTIFYING,
    NGX_HTTP_MASTODON_RCOL_LANGUAGES,
    NGX_HTTP_MASTODON_RCOL_FOLLOWED_BY,
    NGX_HTTP_MASTODON_RCOL_BLOCKING,
    NGX_HTTP_MASTODON_RCOL_BLOCKED_BY,
    NGX_HTTP_MASTODON_RCOL_MUTING,
    NGX_HTTP_MASTODON_RCOL_MUTING_NOTIFICATIONS,
    NGX_HTTP_MASTODON_RCOL_MUTING_EXPIRES_AT,
    NGX_HTTP_MASTODON_RCOL_REQUESTED,
    NGX_HTTP_MASTODON_RCOL_REQUESTED_BY,
    NGX_HTTP_MASTODON_RCOL_DOMAIN_BLOCKING,
    NGX_HTTP_MASTODON_RCOL_ENDORSED,
    NGX_HTTP_MASTODON_RCOL_NOTE
};


typedef struct {
    ngx_http_mastodon_rel_list_t  *list;
    ngx_http_mastodon_page_t       page;
    int64_t                        subject;
    ngx_uint_t                     checked;
} ngx_http_mastodon_rel_list_ctx_t;


static void ngx_http_mastodon_rel_write_done(ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_rel_write_answer(
    ngx_http_mastodon_rel_write_t *w);
static void ngx_http_mastodon_relationships_done(
    ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_rel_list_done(ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_relationship(ngx_http_mastodon_json_t *j,
    PGresult *res, int row, ngx_int_t following, ngx_int_t requested);


/* $1: the user, $2: the other account; one row, or none if it is unknown */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_rel_check =
    ngx_http_mastodon_pg_stmt(
        "SELECT t.id,"
        " t.domain IS NULL AND NOT EXISTS (SELECT 1 FROM users u"
        "  WHERE u.account_id = t.id AND u.approved"
        "  AND u.confirmed_at IS NOT NULL),"
        " t.suspended_at IS NOT NULL, t.locked, t.domain IS NOT NULL,"
        " t.protocol = 1, t.moved_to_account_id IS NOT NULL,"
        " EXISTS (SELECT 1 FROM blocks b WHERE b.account_id = $1"
        "  AND b.target_account_id = t.id),"
        " EXISTS (SELECT 1 FROM blocks b WHERE b.account_id = t.id"
        "  AND b.target_account_id = $1),"
        " EXISTS (SELECT 1 FROM account_domain_blocks d"
        "  WHERE d.account_id = $1 AND d.domain = t.domain),"
        " EXISTS (SELECT 1 FROM accounts m WHERE m.id = $1"
        "  AND m.silenced_at IS NOT NULL),"
        " EXISTS (SELECT 1 FROM follows f WHERE f.account_id = $1"
        "  AND f.target_account_id = t.id),"
        " EXISTS (SELECT 1 FROM account_pins p WHERE p.account_id = $1"
        "  AND p.target_account_id = t.id),"
        " EXISTS (SELECT 1 FROM follow_requests r WHERE r.account_id = t.id"
        "  AND r.target_account_id = $1)"
        " FROM accounts t WHERE t.id = $2::bigint", 2);


/* both counters' rows, so that NGX_HTTP_MASTODON_REL_STATS only updates */
ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_rel_ensure_stats =
    ngx_http_mastodon_pg_stmt(
        "INSERT INTO account_stats (account_id)"
        " SELECT id FROM accounts WHERE id IN ($1::bigint, $2::bigint)"
        " ORDER BY id"
        " ON CONFLICT (account_id) DO NOTHING", 2);


/*
 * $1: the user, $2: account ids ('{1,2}'), $3: with suspended accounts.
 * The accounts that exist, in the order asked, each once.
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_relationships_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT a.id,"
        " f.id IS NOT NULL,"
        " coalesce(f.show_reblogs, false) OR coalesce(r.show_reblogs, false),"
        " coalesce(f.notify, false) OR coalesce(r.notify, false),"
        " array_to_string(coalesce(f.languages, r.languages), ','),"
        " EXISTS (SELECT 1 FROM follows x WHERE x.account_id = a.id"
        "  AND x.target_account_id = $1),"
        " EXISTS (SELECT 1 FROM blocks b WHERE b.account_id = $1"
        "  AND b.target_account_id = a.id),"
        " EXISTS (SELECT 1 FROM blocks b WHERE b.account_id = a.id"
        "  AND b.target_account_id = $1),"
        " m.id IS NOT NULL, coalesce(m.hide_notifications, false),"
        " to_char(m.expires_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
        " r.id IS NOT NULL,"
        " EXISTS (SELECT 1 FROM follow_requests x WHERE x.account_id = a.id"
        "  AND x.target_account_id = $1),"
        " a.domain IS NOT NULL AND EXISTS (SELECT 1 FROM account_domain_blocks d"
        "  WHERE d.account_id = $1 AND d.domain = a.domain),"
        " EXISTS (SELECT 1 FROM account_pins p WHERE p.account_id = $1"
        "  AND p.target_account_id = a.id),"
        " coalesce(n.comment, '')"
        " FROM (SELECT u.id, min(u.n) AS n"
        "  FROM unnest($2::bigint[]) WITH ORDINALITY AS u(id, n)"
        "  GROUP BY u.id) ids"
        " JOIN accounts a ON a.id = ids.id"
        " LEFT JOIN follows f ON f.account_id = $1::bigint"
        "  AND f.target_account_id = a.id"
        " LEFT JOIN follow_requests r ON r.account_id = $1"
        "  AND r.target_account_id = a.id"
        " LEFT JOIN mutes m ON m.account_id = $1 AND m.target_account_id = a.id"
        "  AND (m.expires_at IS NULL"
        "       OR m.expires_at > (now() AT TIME ZONE 'UTC'))"
        " LEFT JOIN account_notes n ON n.account_id = $1"
        "  AND n.target_account_id = a.id"
        " WHERE $3::boolean OR a.suspended_at IS NULL"
        " ORDER BY ids.n", 3);


/* GET /api/v1/accounts/relationships?id[]=1&id[]=2 */
ngx_int_t
ngx_http_mastodon_relationships(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    u_char                        *p, *list;
    int64_t                        id;
    ngx_uint_t                     n, max;
    const char                   **values;
    mstdn_value_t                 *ids, *v, one;
    ngx_http_mastodon_pg_batch_t  *b;

    ids = mstdn_object_get(ctx->params, "id");

    if (ids && (ids->type == MSTDN_STRING || ids->type == MSTDN_NUMBER)) {
        /* id=1 alone: Array(params[:id]) */
        one = *ids;
        one.next = NULL;
        ids = &one;

    } else if (ids && ids->type == MSTDN_ARRAY) {
        ids = ids->first;

    } else {
        ids = NULL;
    }

    max = 0;
    for (v = ids; v && max < NGX_HTTP_MASTODON_REL_MAX_IDS; v = v->next) {
        max++;
    }

    list = ngx_pnalloc(r->pool, 3 + max * (NGX_INT64_LEN + 1));
    values = ngx_pcalloc(r->pool, 3 * sizeof(char *));
    if (list == NULL || values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = list;
    *p++ = '{';

    for (v = ids, n = 0; v && n < max; v = v->next, n++) {
        if (v->type != MSTDN_STRING && v->type != MSTDN_NUMBER) {
            continue;
        }

        id = ngx_atoof((u_char *) v->str, v->len);
        if (id <= 0) {
            continue;               /* "x".to_i == 0: no such account */
        }

        p = ngx_sprintf(p, "%s%L", p - list > 1 ? "," : "", id);
    }

    *p++ = '}';
    *p = '\0';

    values[0] = ngx_http_mastodon_pg_int64(r, ctx->auth->account_id);
    values[1] = (const char *) list;
    values[2] = mstdn_param_bool(ctx->params, "with_suspended", 0) ? "t" : "f";

    b = ngx_http_mastodon_pg_batch(r, ngx_http_mastodon_relationships_done,
                                   NULL);
    if (b == NULL || values[0] == NULL
        || ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_relationships_stmt,
                                    values) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mastodon_pg_run(b) != NGX_OK) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}


static void
ngx_http_mastodon_relationships_done(ngx_http_mastodon_pg_batch_t *b)
{
    int                        i, n;
    PGresult                  *res;
    ngx_http_request_t        *r;
    ngx_http_mastodon_json_t   j;

    r = b->request;

    if (!ngx_http_mastodon_pg_ok(b)) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    res = b->results[0];

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_mastodon_json_open_array(&j, NULL);

    for (i = 0, n = PQntuples(res); i < n; i++) {
        ngx_http_mastodon_relationship(&j, res, i, -1, -1);
    }

    ngx_http_mastodon_json_close_array(&j);

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_json_send(&j,
                                                              NGX_HTTP_OK));
}


/* following, requested: -1 as stored, or what the answer must say */
static void
ngx_http_mastodon_relationship(ngx_http_mastodon_json_t *j, PGresult *res,
    int row, ngx_int_t following, ngx_int_t requested)
{
    u_char     *p, *last, *start;
    ngx_str_t   s;

#define B(n)  ngx_http_mastodon_pg_bool(res, row, NGX_HTTP_MASTODON_RCOL_##n)

    ngx_http_mastodon_json_open(j, NULL);

    s = ngx_http_mastodon_pg_str(res, row, NGX_HTTP_MASTODON_RCOL_ID);
    ngx_http_mastodon_json_kv_str(j, "id", &s);

    ngx_http_mastodon_json_kv_bool(j, "following",
                                   following >= 0 ? (ngx_uint_t) following
                                                  : B(FOLLOWING));
    ngx_http_mastodon_json_kv_bool(j, "showing_reblogs", B(SHOWING_REBLOGS));
    ngx_http_mastodon_json_kv_bool(j, "notifying", B(NOTIFYING));

    if (PQgetisnull(res, row, NGX_HTTP_MASTODON_RCOL_LANGUAGES)) {
        ngx_http_mastodon_json_kv_null(j, "languages");

    } else {
        /* codes checked on the way in: no commas, nothing to escape */
        ngx_http_mastodon_json_open_array(j, "languages");

        p = (u_char *) PQgetvalue(res, row, NGX_HTTP_MASTODON_RCOL_LANGUAGES);
        last = p + PQgetlength(res, row, NGX_HTTP_MASTODON_RCOL_LANGUAGES);

        while (p < last) {
            start = p;
            while (p < last && *p != ',') {
                p++;
            }
            s.data = start;
            s.len = p - start;
            ngx_http_mastodon_json_str(j, &s);
            p++;
        }

        ngx_http_mastodon_json_close_array(j);
    }

    ngx_http_mastodon_json_kv_bool(j, "followed_by", B(FOLLOWED_BY));
    ngx_http_mastodon_json_kv_bool(j, "blocking", B(BLOCKING));
    ngx_http_mastodon_json_kv_bool(j, "blocked_by", B(BLOCKED_BY));
    ngx_http_mastodon_json_kv_bool(j, "muting", B(MUTING));
    ngx_http_mastodon_json_kv_bool(j, "muting_notifications",
                                   B(MUTING_NOTIFICATIONS));

    if (PQgetisnull(res, row, NGX_HTTP_MASTODON_RCOL_MUTING_EXPIRES_AT)) {
        ngx_http_mastodon_json_kv_null(j, "muting_expires_at");
    } else {
        s = ngx_http_mastodon_pg_str(res, row,
                                     NGX_HTTP_MASTODON_RCOL_MUTING_EXPIRES_AT);
        ngx_http_mastodon_json_kv_str(j, "muting_expires_at", &s);
    }

    ngx_http_mastodon_json_kv_bool(j, "requested",
                                   requested >= 0 ? (ngx_uint_t) requested
                                                  : B(REQUESTED));
    ngx_http_mastodon_json_kv_bool(j, "requested_by", B(REQUESTED_BY));
    ngx_http_mastodon_json_kv_bool(j, "domain_blocking", B(DOMAIN_BLOCKING));
    ngx_http_mastodon_json_kv_bool(j, "endorsed", B(ENDORSED));

    s = ngx_http_mastodon_pg_str(res, row, NGX_HTTP_MASTODON_RCOL_NOTE);
    ngx_http_mastodon_json_kv_str(j, "note", &s);

    ngx_http_mastodon_json_close(j);

#undef B
}


/*
 * Starts a write on the relationship with the account in the path's first
 * capture: the check goes first; values[0] and values[1] are the user and
 * the account, the caller fills its own from values[2] on.
 */
ngx_int_t
ngx_http_mastodon_rel_write(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_uint_t flags, ngx_uint_t nvalues,
    ngx_http_mastodon_rel_write_t **wp)
{
    int64_t                         id;
    ngx_http_mastodon_rel_write_t  *w;

    id = ngx_http_mastodon_capture_id(ctx, 0);
    if (id == 0) {
        return NGX_HTTP_NOT_FOUND;
    }

    w = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_rel_write_t));
    if (w == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    w->values = ngx_pcalloc(r->pool, ngx_max(nvalues, 2) * sizeof(char *));
    if (w->values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    w->target = id;
    w->flags = flags;
    w->values[0] = ngx_http_mastodon_pg_int64(r, ctx->auth->account_id);
    w->values[1] = ngx_http_mastodon_pg_int64(r, id);

    w->batch = ngx_http_mastodon_pg_batch(r, ngx_http_mastodon_rel_write_done,
                                          w);

    if (w->values[0] == NULL || w->values[1] == NULL || w->batch == NULL
        || ngx_http_mastodon_pg_add(w->batch, &ngx_http_mastodon_rel_check,
                                    w->values) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *wp = w;

    return NGX_OK;
}


ngx_int_t
ngx_http_mastodon_rel_write_add(ngx_http_mastodon_rel_write_t *w,
    ngx_http_mastodon_pg_stmt_t *stmt)
{
    return ngx_http_mastodon_pg_add(w->batch, stmt, w->values);
}


/* Adds the Relationship and sends the batch: NGX_DONE or a status. */
ngx_int_t
ngx_http_mastodon_rel_write_run(ngx_http_mastodon_rel_write_t *w)
{
    u_char               *list;
    const char          **values;
    ngx_http_request_t   *r;

    r = w->batch->request;

    list = ngx_pnalloc(r->pool, NGX_INT64_LEN + 3);
    values = ngx_pcalloc(r->pool, 3 * sizeof(char *));
    if (list == NULL || values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *ngx_sprintf(list, "{%L}", w->target) = '\0';

    values[0] = w->values[0];
    values[1] = (const char *) list;
    values[2] = "t";                /* set_account: suspended ones too */

    if (ngx_http_mastodon_pg_add(w->batch,
                                 &ngx_http_mastodon_relationships_stmt,
                                 values) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mastodon_pg_run(w->batch) != NGX_OK) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}


static void
ngx_http_mastodon_rel_write_done(ngx_http_mastodon_pg_batch_t *b)
{
    int64_t                         who[2];
    PGresult                       *chk, *res;
    ngx_int_t                       following, requested;
    ngx_http_request_t             *r;
    ngx_http_mastodon_ctx_t        *ctx;
    ngx_http_mastodon_rel_write_t  *w;

#define C(n)  ngx_http_mastodon_pg_bool(chk, 0, NGX_HTTP_MASTODON_CHK_##n)

    r = b->request;
    w = b->data;
    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    if (!ngx_http_mastodon_pg_ok(b)) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    chk = b->results[0];
    res = b->results[b->nqueries - 1];

    /* follows, blocks, mutes both ways may have changed: what the viewer
     * and the target know of each other goes from the render cache */
    who[0] = ctx->auth->account_id;
    who[1] = w->target;
    ngx_http_mastodon_viewer_forget(r, who, w->target > 0 ? 2 : 1);

    /* and their counters (follows), follow requests */
    ngx_http_mastodon_account_forget(r, who, w->target > 0 ? 2 : 1);

    /* set_account, check_account_approval, check_account_confirmation */
    if (PQntuples(chk) == 0 || PQntuples(res) == 0
        || ((w->flags & NGX_HTTP_MASTODON_REL_VISIBLE) && C(HIDDEN)))
    {
        ngx_http_mastodon_finalize(r, NGX_HTTP_NOT_FOUND);
        return;
    }

    following = -1;
    requested = -1;

    if (w->flags & NGX_HTTP_MASTODON_REL_FOLLOW) {

        if (w->target == ctx->auth->account_id) {
            ctx->error_message = "Following your own account is not allowed";
            ngx_http_mastodon_finalize(r, NGX_HTTP_FORBIDDEN);
            return;
        }

        if (C(SUSPENDED)) {
            ngx_http_mastodon_finalize(r, NGX_HTTP_NOT_FOUND);
            return;
        }

        if (C(BLOCKING) || C(BLOCKED_BY) || C(MOVED) || C(DOMAIN_BLOCKING)
            || (C(REMOTE) && !C(ACTIVITYPUB)))
        {
            ngx_http_mastodon_finalize(r, NGX_HTTP_FORBIDDEN);
            return;
        }

        /*
         * Mastodon answers a follow of an unlocked account as done, even a
         * remote one whose Accept has not come yet
         */
        if (!C(LOCKED) && !C(SILENCED)) {
            following = 1;
            requested = 0;
        }
    }

    if ((w->flags & NGX_HTTP_MASTODON_REL_ENDORSE)
        && !C(ENDORSED) && !C(FOLLOWING))
    {
        ctx->error_message = "Validation failed: You must be already following"
                             " the person you want to endorse";
        ngx_http_mastodon_finalize(r, 422);
        return;
    }

    if ((w->flags & NGX_HTTP_MASTODON_REL_REQUESTED) && !C(REQUESTED_BY)) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_NOT_FOUND);
        return;
    }

    w->relationship = res;
    w->following = following;
    w->requested = requested;

    if (w->jobs) {
        /* committed with its jobs: what they publish */
        w->jobs(w);
    }

    ngx_http_mastodon_rel_write_answer(w);
#undef C
}


static void
ngx_http_mastodon_rel_write_answer(ngx_http_mastodon_rel_write_t *w)
{
    ngx_http_request_t        *r;
    ngx_http_mastodon_json_t   j;

    r = w->batch->request;

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_mastodon_relationship(&j, w->relationship, 0, w->following,
                                   w->requested);

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_json_send(&j,
                                                              NGX_HTTP_OK));
}


ngx_uint_t
ngx_http_mastodon_rel_remote(ngx_http_mastodon_rel_write_t *w)
{
    return ngx_http_mastodon_pg_bool(w->batch->results[0], 0,
                                      NGX_HTTP_MASTODON_CHK_REMOTE);
}


/*
 * An account list.  The list statement takes $1 the account whose list it
 * is, $2 max_id, $3 since_id, $4 limit (NULL: all) and, if it has five
 * parameters, $5 the user whose blocks and mutes leave accounts out (NULL
 * when anonymous or the account's own); it selects the Account columns,
 * then the id that paginates, then (MutedAccount) mute_expires_at.  The
 * check takes $1 the account, $2 the user (or NULL) and answers whether the
 * list is hidden; no row: 404.
 */
ngx_int_t
ngx_http_mastodon_rel_list(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_rel_list_t *list)
{
    size_t                             len;
    int64_t                            me;
    const char                        *s, **values, **cvalues, *page[4];
    ngx_http_mastodon_pg_batch_t      *b;
    ngx_http_mastodon_rel_list_ctx_t  *lc;

    lc = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_rel_list_ctx_t));
    values = ngx_pcalloc(r->pool, 5 * sizeof(char *));
    cvalues = ngx_pcalloc(r->pool, 2 * sizeof(char *));
    if (lc == NULL || values == NULL || cvalues == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    me = ctx->auth ? ctx->auth->account_id : 0;
    lc->list = list;

    if (list->check) {
        lc->subject = ngx_http_mastodon_capture_id(ctx, 0);
        if (lc->subject == 0) {
            return NGX_HTTP_NOT_FOUND;
        }

    } else {
        lc->subject = me;
    }

    /* paginate_by_max_id: max_id and since_id, newest first */
    ngx_http_mastodon_page_init(ctx, &lc->page, 40, 80);
    lc->page.min_id = 0;
    lc->page.ascending = 0;

    s = mstdn_param_str(ctx->params, "limit", &len);
    if (list->unlimited && s && len == 1 && s[0] == '0') {
        lc->page.limit = 0;
    }

    ngx_http_mastodon_page_values(r, &lc->page, page);

    values[0] = ngx_http_mastodon_pg_int64(r, lc->subject);
    values[1] = page[0];
    values[2] = page[1];
    values[3] = page[3];
    values[4] = me && me != lc->subject ? ngx_http_mastodon_pg_int64(r, me)
                                        : NULL;

    cvalues[0] = values[0];
    cvalues[1] = me ? ngx_http_mastodon_pg_int64(r, me) : NULL;

    b = ngx_http_mastodon_pg_batch(r, ngx_http_mastodon_rel_list_done, lc);
    if (b == NULL || values[0] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (list->check) {
        lc->checked = 1;
        if (ngx_http_mastodon_pg_add(b, list->check, cvalues) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (ngx_http_mastodon_pg_add(b, list->list, values) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mastodon_pg_run(b) != NGX_OK) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}


static void
ngx_http_mastodon_rel_list_done(ngx_http_mastodon_pg_batch_t *b)
{
    int                                i, n, col;
    u_char                            *p;
    int64_t                            next, prev;
    ngx_str_t                          path, s;
    PGresult                          *chk, *res;
    ngx_uint_t                         hidden;
    ngx_http_request_t                *r;
    ngx_http_mastodon_json_t           j;
    ngx_http_mastodon_rel_list_ctx_t  *lc;

    r = b->request;
    lc = b->data;

    if (!ngx_http_mastodon_pg_ok(b)) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    hidden = 0;

    if (lc->checked) {
        chk = b->results[0];

        if (PQntuples(chk) == 0) {
            ngx_http_mastodon_finalize(r, NGX_HTTP_NOT_FOUND);
            return;
        }

        hidden = ngx_http_mastodon_pg_bool(chk, 0, 0);
    }

    res = b->results[b->nqueries - 1];
    n = hidden ? 0 : PQntuples(res);
    col = NGX_HTTP_MASTODON_ACCOUNT_NCOLS;

    /* unlimited? (limit=0): no links at all, as Mastodon's next_path and
     * prev_path say */
    if (n > 0 && lc->page.limit) {
        path.data = ngx_pnalloc(r->pool, ngx_strlen(lc->list->path)
                                         + NGX_INT64_LEN);
        if (path.data == NULL) {
            ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        p = ngx_sprintf(path.data, lc->list->path, lc->subject);
        path.len = p - path.data;

        next = 0;
        if (lc->page.limit && (ngx_uint_t) n == lc->page.limit) {
            next = ngx_http_mastodon_pg_int(res, n - 1, col);
        }

        prev = ngx_http_mastodon_pg_int(res, 0, col);

        if (ngx_http_mastodon_page_link(r, ngx_http_get_module_ctx(r,
                                                    ngx_http_mastodon_module),
                                        &path,
                                        ngx_http_mastodon_page_keep_limit,
                                        lc->page.limit, next, "since_id",
                                        prev)
            != NGX_OK)
        {
            ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }
    }

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_mastodon_json_open_array(&j, NULL);

    for (i = 0; i < n; i++) {
        ngx_http_mastodon_json_open(&j, NULL);
        ngx_http_mastodon_account_attrs(&j, res, i, 0);

        if (lc->list->muted) {
            if (PQgetisnull(res, i, col + 1)) {
                ngx_http_mastodon_json_kv_null(&j, "mute_expires_at");
            } else {
                s = ngx_http_mastodon_pg_str(res, i, col + 1);
                ngx_http_mastodon_json_kv_str(&j, "mute_expires_at", &s);
            }
        }

        ngx_http_mastodon_json_close(&j);
    }

    ngx_http_mastodon_json_close_array(&j);

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_json_send(&j,
                                                              NGX_HTTP_OK));
}

