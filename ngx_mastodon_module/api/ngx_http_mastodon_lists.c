/*
 * Lists (Api::V1::ListsController, Lists::AccountsController,
 * Accounts::ListsController, Timelines::ListController): the user's lists
 * (at most 50), their members (accounts the user follows, or the user),
 * and the list timeline, a feed in Redis (mastodon:feed:list:<id>) the
 * worker's fan-out fills and the home feed's reader reads and rebuilds
 * (ngx_http_mastodon_feed_page()).
 *
 * A list feed whose members change, or whose list goes, is dropped from
 * Redis once the change committed: the next read rebuilds it from
 * PostgreSQL with the members' statuses as they are then (Mastodon merges
 * and unmerges instead; the statuses a rebuild selects are the same).
 */

#include "ngx_http_mastodon_api.h"
#include "ngx_http_mastodon_cache.h"


#define NGX_HTTP_MASTODON_LIST_KEY     "mastodon:feed:list:"
#define NGX_HTTP_MASTODON_LISTS_LIMIT  "50"     /* List::PER_ACCOUNT_LIMIT */
#define NGX_HTTP_MASTODON_LIST_MAX_IDS 1000

#define NGX_HTTP_MASTODON_LIST_COLUMNS                                        \
    "l.id, l.title, l.replies_policy, l.exclusive"


typedef enum {
    NGX_HTTP_MASTODON_LIST_ONE = 0,     /* a List; no row: 404 */
    NGX_HTTP_MASTODON_LIST_MANY,        /* an array of List (NULL ids not) */
    NGX_HTTP_MASTODON_LIST_ACCOUNT,     /* the same; no row: 404 */
    NGX_HTTP_MASTODON_LIST_CREATED,     /* a List; no row: the limit */
    NGX_HTTP_MASTODON_LIST_EMPTY,       /* {}; no row: 404 */
    NGX_HTTP_MASTODON_LIST_ADDED,       /* {} or the verdict's error */
    NGX_HTTP_MASTODON_LIST_TIMELINE     /* the feed; no row: 404 */
} ngx_http_mastodon_list_answer_e;


typedef struct {
    ngx_http_mastodon_list_answer_e  answer;
    int64_t                          list;
    ngx_uint_t                       drop;      /* the list feed goes */
    PGresult                        *res;       /* answered once it went */
    ngx_uint_t                       version;   /* of its owner's entry */
    ngx_uint_t                       versioned;
} ngx_http_mastodon_list_t;


static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_lists_index_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT " NGX_HTTP_MASTODON_LIST_COLUMNS " FROM lists l"
        " WHERE l.account_id = $1::bigint ORDER BY l.id", 1);

/* $1 the list, $2 the user: the user's list, or no row */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_list_show_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT " NGX_HTTP_MASTODON_LIST_COLUMNS " FROM lists l"
        " WHERE l.id = $1::bigint AND l.account_id = $2::bigint", 2);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_list_create_stmt =
    ngx_http_mastodon_pg_stmt(
        "INSERT INTO lists AS l (account_id, title, replies_policy, exclusive)"
        " SELECT $1::bigint, $2::text, coalesce($3::int, 0),"
        "  coalesce($4::boolean, false)"
        " WHERE (SELECT count(*) FROM lists WHERE account_id = $1::bigint)"
        "  < " NGX_HTTP_MASTODON_LISTS_LIMIT
        " RETURNING " NGX_HTTP_MASTODON_LIST_COLUMNS, 4);

/* $3..$5 NULL: unchanged */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_list_update_stmt =
    ngx_http_mastodon_pg_stmt(
        "UPDATE lists AS l SET title = coalesce($3::text, l.title),"
        " replies_policy = coalesce($4::int, l.replies_policy),"
        " exclusive = coalesce($5::boolean, l.exclusive),"
        " updated_at = now() AT TIME ZONE 'UTC'"
        " WHERE l.id = $1::bigint AND l.account_id = $2::bigint"
        " RETURNING " NGX_HTTP_MASTODON_LIST_COLUMNS, 5);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_list_delete_stmt =
    ngx_http_mastodon_pg_stmt(
        "DELETE FROM lists WHERE id = $1::bigint AND account_id = $2::bigint"
        " RETURNING id", 2);

/* $1 the account, $2 the user: the user's lists holding it (one row with
 * NULLs when none); no row: no such account */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_account_lists_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT " NGX_HTTP_MASTODON_LIST_COLUMNS " FROM accounts a"
        " LEFT JOIN lists l ON l.account_id = $2::bigint"
        "  AND a.suspended_at IS NULL"
        "  AND EXISTS (SELECT 1 FROM list_accounts la"
        "   WHERE la.list_id = l.id AND la.account_id = a.id)"
        " WHERE a.id = $1::bigint ORDER BY l.id", 2);

/*
 * $1 the list, $2 the user, $3 the accounts: all of them join the list or
 * none (one transaction in Mastodon too); the verdict in Mastodon's order:
 * the list (404), the accounts (Account.find: 404), then ListAccount's
 * validations (422): a follow of it, not a member yet.
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_list_add_stmt =
    ngx_http_mastodon_pg_stmt(
        "WITH l AS (SELECT id FROM lists"
        "  WHERE id = $1::bigint AND account_id = $2::bigint),"
        " a AS (SELECT i.id, t.id IS NOT NULL AS found, f.id AS follow_id,"
        "  EXISTS (SELECT 1 FROM list_accounts x WHERE x.list_id = $1::bigint"
        "   AND x.account_id = i.id) AS taken"
        "  FROM (SELECT DISTINCT unnest($3::bigint[]) AS id) i"
        "  LEFT JOIN accounts t ON t.id = i.id"
        "  LEFT JOIN follows f ON f.account_id = $2::bigint"
        "   AND f.target_account_id = i.id),"
        " v AS (SELECT CASE"
        "  WHEN NOT EXISTS (SELECT 1 FROM l) THEN 'list'"
        "  WHEN EXISTS (SELECT 1 FROM a WHERE NOT found) THEN 'account'"
        "  WHEN EXISTS (SELECT 1 FROM a WHERE follow_id IS NULL"
        "   AND id <> $2::bigint) THEN 'follow'"
        "  WHEN EXISTS (SELECT 1 FROM a WHERE taken) THEN 'taken'"
        "  ELSE 'ok' END AS verdict),"
        " ins AS (INSERT INTO list_accounts (list_id, account_id, follow_id)"
        "  SELECT $1::bigint, a.id, a.follow_id FROM a, v"
        "  WHERE v.verdict = 'ok' ORDER BY a.id)"
        " SELECT verdict FROM v", 3);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_list_remove_stmt =
    ngx_http_mastodon_pg_stmt(
        "WITH l AS (SELECT id FROM lists"
        "  WHERE id = $1::bigint AND account_id = $2::bigint),"
        " d AS (DELETE FROM list_accounts la USING l"
        "  WHERE la.list_id = l.id AND la.account_id = ANY ($3::bigint[]))"
        " SELECT id FROM l", 3);

/* GET /api/v1/lists/:id/accounts: $1 the list, $2 the user */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_list_accounts_check =
    ngx_http_mastodon_pg_stmt(
        "SELECT false FROM lists"
        " WHERE id = $1::bigint AND account_id = $2::bigint", 2);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_list_accounts_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT " NGX_HTTP_MASTODON_ACCOUNT_COLUMNS ", a.id"
        NGX_HTTP_MASTODON_ACCOUNT_FROM
        " JOIN list_accounts la ON la.account_id = a.id"
        " WHERE la.list_id = $1::bigint AND a.suspended_at IS NULL"
        " AND ($2::bigint IS NULL OR a.id < $2)"
        " AND ($3::bigint IS NULL OR a.id > $3)"
        " ORDER BY a.id DESC LIMIT $4::bigint", 4);

static ngx_http_mastodon_rel_list_t  ngx_http_mastodon_list_accounts_list = {
    &ngx_http_mastodon_list_accounts_check,
    &ngx_http_mastodon_list_accounts_stmt,
    "/api/v1/lists/%L/accounts", 1, 0
};

/*
 * A list feed rebuilt (FeedManager#populate_list): the statuses of its
 * members, newest $2 of each, that mastodon_list_accepts()
 * (sql/0018_lists.sql) lets into it, as the fan-out does; members the
 * owner blocks or mutes are skipped at once.
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_list_rebuild_stmt =
    ngx_http_mastodon_pg_stmt(
    "WITH c AS (SELECT s.id, s.reblog_of_id FROM lists l"
    " JOIN list_accounts la ON la.list_id = l.id"
    " LEFT JOIN follows f ON f.id = la.follow_id"
    " CROSS JOIN LATERAL"
    " (SELECT s.id, s.reblog_of_id FROM statuses s"
    "  LEFT JOIN statuses o ON o.id = s.reblog_of_id"
    "  LEFT JOIN accounts oa ON oa.id = o.account_id"
    "  CROSS JOIN LATERAL mastodon_list_accepts(l.id, l.account_id,"
    "   l.replies_policy, f.languages, coalesce(f.show_reblogs, true),"
    "   s.id, s.account_id, s.visibility, s.reply,"
    "   s.in_reply_to_id, s.in_reply_to_account_id, s.language,"
    "   s.reblog_of_id, o.account_id, oa.domain)"
    "  WHERE s.account_id = la.account_id AND s.deleted_at IS NULL"
    "  AND s.visibility IN (0, 1, 2)"
    "  AND (o.id IS NULL OR o.deleted_at IS NULL)"
    "  ORDER BY s.id DESC LIMIT $2::int) s"
    " WHERE l.id = $1::bigint"
    " AND (la.follow_id IS NOT NULL OR la.account_id = l.account_id)"
    " AND la.account_id NOT IN (SELECT target_account_id FROM blocks"
    "  WHERE account_id = l.account_id"
    "  UNION ALL SELECT target_account_id FROM mutes"
    "  WHERE account_id = l.account_id AND (expires_at IS NULL"
    "  OR expires_at > now() AT TIME ZONE 'UTC'))),"
    NGX_HTTP_MASTODON_FEED_REBUILD_END, 2);


/* what Api::V1::Timelines::ListController keeps in its links */
static const char *const  ngx_http_mastodon_list_keep[] = {
    "limit", NULL
};

static const char  *ngx_http_mastodon_list_policies[] = {
    "list", "followed", "none"      /* List.replies_policies, in order */
};


static ngx_int_t ngx_http_mastodon_list_run(ngx_http_request_t *r,
    ngx_http_mastodon_list_answer_e answer, ngx_http_mastodon_pg_stmt_t *stmt,
    const char **values, int64_t list, ngx_uint_t drop);
static void ngx_http_mastodon_list_done(ngx_http_mastodon_pg_batch_t *b);
static ngx_int_t ngx_http_mastodon_list_send(ngx_http_request_t *r,
    PGresult *res, ngx_uint_t array);
static ngx_int_t ngx_http_mastodon_list_params(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, const char **values, ngx_uint_t create);
static const char *ngx_http_mastodon_list_ids(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
static ngx_int_t ngx_http_mastodon_list_reply(ngx_http_request_t *r,
    ngx_http_mastodon_list_t *l, PGresult *res);
static void ngx_http_mastodon_list_dropped(ngx_http_request_t *r,
    redisReply *reply, void *data);
static ngx_int_t ngx_http_mastodon_list_feed(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, int64_t list);


/* values[0] the list, values[1] the user, room for n in all */
static const char **
ngx_http_mastodon_list_values(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, int64_t list, ngx_uint_t n)
{
    const char  **values;

    values = ngx_pcalloc(r->pool, n * sizeof(char *));
    if (values == NULL) {
        return NULL;
    }

    values[0] = ngx_http_mastodon_pg_int64(r, list);
    values[1] = ngx_http_mastodon_pg_int64(r, ctx->auth->account_id);

    return (values[0] && values[1]) ? values : NULL;
}


/* GET /api/v1/lists */
ngx_int_t
ngx_http_mastodon_lists_index(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    const char  **values;

    values = ngx_pcalloc(r->pool, sizeof(char *));
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[0] = ngx_http_mastodon_pg_int64(r, ctx->auth->account_id);

    return ngx_http_mastodon_list_run(r, NGX_HTTP_MASTODON_LIST_MANY,
                                      &ngx_http_mastodon_lists_index_stmt,
                                      values, 0, 0);
}


/* GET /api/v1/lists/:id */
ngx_int_t
ngx_http_mastodon_list_show(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    int64_t       list;
    const char  **values;

    list = ngx_http_mastodon_capture_id(ctx, 0);
    if (list == 0) {
        return NGX_HTTP_NOT_FOUND;
    }

    values = ngx_http_mastodon_list_values(r, ctx, list, 2);
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_list_run(r, NGX_HTTP_MASTODON_LIST_ONE,
                                      &ngx_http_mastodon_list_show_stmt,
                                      values, list, 0);
}


/* POST /api/v1/lists */
ngx_int_t
ngx_http_mastodon_list_create(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    ngx_int_t     rc;
    const char  **values;

    values = ngx_pcalloc(r->pool, 4 * sizeof(char *));
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[0] = ngx_http_mastodon_pg_int64(r, ctx->auth->account_id);

    rc = ngx_http_mastodon_list_params(r, ctx, values + 1, 1);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_mastodon_list_run(r, NGX_HTTP_MASTODON_LIST_CREATED,
                                      &ngx_http_mastodon_list_create_stmt,
                                      values, 0, 0);
}


/* PUT /api/v1/lists/:id */
ngx_int_t
ngx_http_mastodon_list_update(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    int64_t       list;
    ngx_int_t     rc;
    const char  **values;

    list = ngx_http_mastodon_capture_id(ctx, 0);
    if (list == 0) {
        return NGX_HTTP_NOT_FOUND;
    }

    values = ngx_http_mastodon_list_values(r, ctx, list, 5);
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_mastodon_list_params(r, ctx, values + 2, 0);
    if (rc != NGX_OK) {
        return rc;
    }

    /* a new replies_policy changes what the feed takes */
    return ngx_http_mastodon_list_run(r, NGX_HTTP_MASTODON_LIST_ONE,
                                      &ngx_http_mastodon_list_update_stmt,
                                      values, list, values[3] != NULL);
}


/* DELETE /api/v1/lists/:id */
ngx_int_t
ngx_http_mastodon_list_delete(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    int64_t       list;
    const char  **values;

    list = ngx_http_mastodon_capture_id(ctx, 0);
    if (list == 0) {
        return NGX_HTTP_NOT_FOUND;
    }

    values = ngx_http_mastodon_list_values(r, ctx, list, 2);
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_list_run(r, NGX_HTTP_MASTODON_LIST_EMPTY,
                                      &ngx_http_mastodon_list_delete_stmt,
                                      values, list, 1);
}


/* GET /api/v1/lists/:id/accounts */
ngx_int_t
ngx_http_mastodon_list_accounts(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    if (ngx_http_mastodon_capture_id(ctx, 0) == 0) {
        return NGX_HTTP_NOT_FOUND;
    }

    return ngx_http_mastodon_rel_list(r, ctx,
                                      &ngx_http_mastodon_list_accounts_list);
}


/* POST /api/v1/lists/:id/accounts */
ngx_int_t
ngx_http_mastodon_list_accounts_add(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    int64_t       list;
    const char  **values;

    list = ngx_http_mastodon_capture_id(ctx, 0);
    if (list == 0) {
        return NGX_HTTP_NOT_FOUND;
    }

    values = ngx_http_mastodon_list_values(r, ctx, list, 3);
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[2] = ngx_http_mastodon_list_ids(r, ctx);
    if (values[2] == NULL) {
        return NGX_HTTP_NOT_FOUND;      /* Account.find of a non-id */
    }

    return ngx_http_mastodon_list_run(r, NGX_HTTP_MASTODON_LIST_ADDED,
                                      &ngx_http_mastodon_list_add_stmt,
                                      values, list, 1);
}


/* DELETE /api/v1/lists/:id/accounts */
ngx_int_t
ngx_http_mastodon_list_accounts_remove(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    int64_t       list;
    const char  **values;

    list = ngx_http_mastodon_capture_id(ctx, 0);
    if (list == 0) {
        return NGX_HTTP_NOT_FOUND;
    }

    values = ngx_http_mastodon_list_values(r, ctx, list, 3);
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* ListAccount.where(account_id: ...): non-ids match nothing */
    values[2] = ngx_http_mastodon_list_ids(r, ctx);
    if (values[2] == NULL) {
        values[2] = "{}";
    }

    return ngx_http_mastodon_list_run(r, NGX_HTTP_MASTODON_LIST_EMPTY,
                                      &ngx_http_mastodon_list_remove_stmt,
                                      values, list, 1);
}


/* GET /api/v1/accounts/:id/lists */
ngx_int_t
ngx_http_mastodon_account_lists(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    int64_t       account;
    const char  **values;

    account = ngx_http_mastodon_capture_id(ctx, 0);
    if (account == 0) {
        return NGX_HTTP_NOT_FOUND;
    }

    values = ngx_http_mastodon_list_values(r, ctx, account, 2);
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_list_run(r, NGX_HTTP_MASTODON_LIST_ACCOUNT,
                                      &ngx_http_mastodon_account_lists_stmt,
                                      values, 0, 0);
}


/*
 * GET /api/v1/timelines/list/:list_id: the list checked, then its feed.
 * The check is remembered in the render cache (kind list: the owner's id):
 * a list never changes hands, and its deletion (or a member's removal)
 * forgets it on every node; a list deleted with its account leaves an entry
 * that only the deleted account could use.
 */
ngx_int_t
ngx_http_mastodon_timelines_list(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    int64_t       list;
    ngx_str_t     owner;
    const char  **values;

    list = ngx_http_mastodon_capture_id(ctx, 0);
    if (list == 0) {
        return NGX_HTTP_NOT_FOUND;
    }

    if (ngx_http_mastodon_cache_get_many(NGX_HTTP_MASTODON_CACHE_LIST, &list,
                                         1, r->pool, &owner)
        == NGX_OK
        && ngx_atoof(owner.data, owner.len) == ctx->auth->account_id)
    {
        return ngx_http_mastodon_list_feed(r, ctx, list);
    }

    values = ngx_http_mastodon_list_values(r, ctx, list, 2);
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_list_run(r, NGX_HTTP_MASTODON_LIST_TIMELINE,
                                      &ngx_http_mastodon_list_show_stmt,
                                      values, list, 0);
}


static ngx_int_t
ngx_http_mastodon_list_run(ngx_http_request_t *r,
    ngx_http_mastodon_list_answer_e answer, ngx_http_mastodon_pg_stmt_t *stmt,
    const char **values, int64_t list, ngx_uint_t drop)
{
    ngx_http_mastodon_list_t  *l;

    l = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_list_t));
    if (l == NULL || values[0] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    l->answer = answer;
    l->list = list;
    l->drop = drop;

    /* the owner is read from here on: a fill must not predate a delete */
    if (answer == NGX_HTTP_MASTODON_LIST_TIMELINE
        && ngx_http_mastodon_cache_usable())
    {
        l->version = ngx_http_mastodon_cache_version(
                                         NGX_HTTP_MASTODON_CACHE_LIST, list);
        l->versioned = 1;
    }

    return ngx_http_mastodon_pg_query(r, stmt, values,
                                      ngx_http_mastodon_list_done, l);
}


static void
ngx_http_mastodon_list_done(ngx_http_mastodon_pg_batch_t *b)
{
    PGresult                  *res;
    ngx_int_t                  rc;
    ngx_str_t                  verdict, owner;
    ngx_http_request_t        *r;
    ngx_http_mastodon_ctx_t   *ctx;
    ngx_http_mastodon_list_t  *l;

    r = b->request;
    l = b->data;
    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    res = ngx_http_mastodon_pg_rows(b, 0);
    if (res == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (PQntuples(res) == 0 && l->answer != NGX_HTTP_MASTODON_LIST_MANY) {
        if (l->answer == NGX_HTTP_MASTODON_LIST_CREATED) {
            ctx->error_message = "Validation failed: You have reached the"
                                 " maximum number of lists";
            ngx_http_mastodon_finalize(r, 422);
            return;
        }

        ngx_http_mastodon_finalize(r, NGX_HTTP_NOT_FOUND);
        return;
    }

    switch (l->answer) {

    case NGX_HTTP_MASTODON_LIST_ADDED:
        verdict = ngx_http_mastodon_pg_str(res, 0, 0);

        if (verdict.len == 4 && ngx_strncmp(verdict.data, "list", 4) == 0) {
            rc = NGX_HTTP_NOT_FOUND;
            break;
        }

        if (verdict.len == 7 && ngx_strncmp(verdict.data, "account", 7) == 0) {
            rc = NGX_HTTP_NOT_FOUND;
            break;
        }

        if (verdict.len == 6 && ngx_strncmp(verdict.data, "follow", 6) == 0) {
            ctx->error_message = "Validation failed: Account follow"
                                 " relationship missing";
            rc = 422;
            break;
        }

        if (verdict.len == 5 && ngx_strncmp(verdict.data, "taken", 5) == 0) {
            ctx->error_message = "Validation failed: Account has already"
                                 " been taken";
            rc = 422;
            break;
        }

        rc = ngx_http_mastodon_list_reply(r, l, NULL);
        break;

    case NGX_HTTP_MASTODON_LIST_EMPTY:
        rc = ngx_http_mastodon_list_reply(r, l, NULL);
        break;

    case NGX_HTTP_MASTODON_LIST_TIMELINE:
        if (l->versioned) {
            owner.data = ngx_pnalloc(r->pool, NGX_INT64_LEN);
            if (owner.data) {
                owner.len = ngx_sprintf(owner.data, "%L",
                                        ctx->auth->account_id)
                            - owner.data;
                ngx_http_mastodon_cache_put(NGX_HTTP_MASTODON_CACHE_LIST,
                                            l->list, l->version, &owner);
            }
        }

        rc = ngx_http_mastodon_list_feed(r, ctx, l->list);
        if (rc == NGX_DONE) {
            return;
        }

        break;

    case NGX_HTTP_MASTODON_LIST_MANY:
    case NGX_HTTP_MASTODON_LIST_ACCOUNT:
        rc = ngx_http_mastodon_list_send(r, res, 1);
        break;

    default:
        rc = ngx_http_mastodon_list_reply(r, l, res);
        break;
    }

    if (rc != NGX_DONE) {
        ngx_http_mastodon_finalize(r, rc);
    }
}


/* List entities: res NULL is {} (render_empty), else its first row or
 * (array) every row with an id */
static ngx_int_t
ngx_http_mastodon_list_send(ngx_http_request_t *r, PGresult *res,
    ngx_uint_t array)
{
    int                        row, n;
    int64_t                    policy;
    ngx_str_t                  s;
    ngx_http_mastodon_json_t   j;

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (array) {
        ngx_http_mastodon_json_open_array(&j, NULL);
    }

    n = res ? (array ? PQntuples(res) : 1) : 0;

    if (res == NULL) {
        ngx_http_mastodon_json_open(&j, NULL);
        ngx_http_mastodon_json_close(&j);
    }

    for (row = 0; row < n; row++) {
        if (PQgetisnull(res, row, 0)) {
            continue;
        }

        ngx_http_mastodon_json_open(&j, NULL);

        s = ngx_http_mastodon_pg_str(res, row, 0);
        ngx_http_mastodon_json_kv_str(&j, "id", &s);

        s = ngx_http_mastodon_pg_str(res, row, 1);
        ngx_http_mastodon_json_kv_str(&j, "title", &s);

        policy = ngx_http_mastodon_pg_int(res, row, 2);
        if (policy < 0 || policy > 2) {
            policy = 0;
        }

        ngx_http_mastodon_json_kv_cstr(&j, "replies_policy",
                                   ngx_http_mastodon_list_policies[policy]);
        ngx_http_mastodon_json_kv_bool(&j, "exclusive",
                                  ngx_http_mastodon_pg_bool(res, row, 3));

        ngx_http_mastodon_json_close(&j);
    }

    if (array) {
        ngx_http_mastodon_json_close_array(&j);
    }

    return ngx_http_mastodon_json_send(&j, NGX_HTTP_OK);
}


/*
 * title, replies_policy, exclusive (list_params) into values[0..2], NULL
 * when not given.  A blank title fails List's presence validation (422),
 * given or, on create, missing; an unknown replies_policy is the enum's
 * ArgumentError, which ListsController answers 422 with its message.
 */
static ngx_int_t
ngx_http_mastodon_list_params(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, const char **values, ngx_uint_t create)
{
    u_char       *p;
    size_t        len, i;
    ngx_int_t     b;
    ngx_uint_t    k, blank;
    const char   *s;

    s = mstdn_param_str(ctx->params, "title", &len);

    blank = 1;
    for (i = 0; s && i < len && blank; i++) {
        blank = ngx_strchr(" \t\n\v\f\r", s[i]) != NULL;
    }

    if ((s || create) && blank) {
        ctx->error_message = "Validation failed: Title can't be blank";
        return 422;
    }

    values[0] = s;

    s = mstdn_param_str(ctx->params, "replies_policy", &len);

    if (s && len) {
        for (k = 0; k < 3; k++) {
            if (ngx_strcmp(s, ngx_http_mastodon_list_policies[k]) == 0) {
                break;
            }
        }

        if (k == 3) {
            p = ngx_pnalloc(r->pool, len + sizeof("'' is not a valid"
                                                  " replies_policy"));
            if (p == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            *ngx_sprintf(p, "'%*s' is not a valid replies_policy", len, s)
                = '\0';

            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "mastodon: list replies_policy not known");
            ctx->error_message = (const char *) p;
            return 422;
        }

        values[1] = k == 0 ? "0" : k == 1 ? "1" : "2";
    }

    b = mstdn_param_bool(ctx->params, "exclusive", -1);
    if (b != -1) {
        values[2] = b ? "true" : "false";
    }

    return NGX_OK;
}


/* account_ids[] as a bigint[] literal; NULL when one is not an id */
static const char *
ngx_http_mastodon_list_ids(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    u_char         *p, *out;
    int64_t         id;
    ngx_uint_t      n, given;
    mstdn_value_t  *v, *first;

    first = ngx_http_mastodon_param_array(ctx, "account_ids", &given);

    out = ngx_pnalloc(r->pool,
                      3 + NGX_HTTP_MASTODON_LIST_MAX_IDS * (NGX_INT64_LEN + 1));
    if (out == NULL) {
        return NULL;
    }

    p = out;
    *p++ = '{';

    for (v = first, n = 0; v; v = v->next, n++) {
        if (n == NGX_HTTP_MASTODON_LIST_MAX_IDS) {
            return NULL;
        }

        id = (v->len > 0 && v->len < NGX_INT64_LEN)
             ? ngx_atoof((u_char *) v->str, v->len) : NGX_ERROR;
        if (id <= 0) {
            return NULL;
        }

        if (n) {
            *p++ = ',';
        }

        p = ngx_sprintf(p, "%L", id);
    }

    *p++ = '}';
    *p = '\0';

    return (const char *) out;
}


/*
 * The answer (res NULL: {}), once the list feed and its :reblogs are out
 * of Redis when the change asks for it: the next read, on whichever
 * connection, rebuilds the feed.  Redis unreachable: answered all the same
 * (the change is committed), the error logged.
 */
/* the viewer's list, known to be its: the page of its feed */
static ngx_int_t
ngx_http_mastodon_list_feed(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, int64_t list)
{
    ngx_http_mastodon_feed_t  *feed;

    feed = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_feed_t));
    if (feed == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    feed->name = "list";
    feed->key = NGX_HTTP_MASTODON_LIST_KEY;
    feed->id = list;
    feed->rebuild = &ngx_http_mastodon_list_rebuild_stmt;
    feed->keep = ngx_http_mastodon_list_keep;

    feed->path.data = ngx_pnalloc(r->pool, sizeof("/api/v1/timelines/list/")
                                           + NGX_INT64_LEN);
    if (feed->path.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    feed->path.len = ngx_sprintf(feed->path.data,
                                 "/api/v1/timelines/list/%L", list)
                     - feed->path.data;

    return ngx_http_mastodon_feed_page(r, ctx, feed);
}


static ngx_int_t
ngx_http_mastodon_list_reply(ngx_http_request_t *r,
    ngx_http_mastodon_list_t *l, PGresult *res)
{
    u_char      *p;
    const char  *argv[3];
    size_t       argvlen[3];

    if (!l->drop) {
        return ngx_http_mastodon_list_send(r, res, 0);
    }

    /* deleted (or a member removed: a needless miss): the owner's entry
     * goes on every node */
    ngx_http_mastodon_cache_forget(NGX_HTTP_MASTODON_CACHE_LIST, l->list);
    ngx_http_mastodon_cache_publish(r, "list", &l->list, 1);

    l->res = res;

    p = ngx_pnalloc(r->pool, 2 * (sizeof(NGX_HTTP_MASTODON_LIST_KEY ":reblogs")
                                  + NGX_INT64_LEN));
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    argv[0] = "DEL";
    argvlen[0] = 3;

    argv[1] = (const char *) p;
    p = ngx_sprintf(p, NGX_HTTP_MASTODON_LIST_KEY "%L", l->list);
    argvlen[1] = p - (u_char *) argv[1];

    argv[2] = (const char *) p;
    p = ngx_sprintf(p, NGX_HTTP_MASTODON_LIST_KEY "%L:reblogs", l->list);
    argvlen[2] = p - (u_char *) argv[2];

    if (ngx_http_mastodon_redis_command(r, ngx_http_mastodon_list_dropped, l,
                                        3, argv, argvlen)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mastodon: list feed %L not dropped: Redis unavailable",
                      l->list);
        return ngx_http_mastodon_list_send(r, res, 0);
    }

    return NGX_DONE;
}


static void
ngx_http_mastodon_list_dropped(ngx_http_request_t *r, redisReply *reply,
    void *data)
{
    ngx_http_mastodon_list_t *l = data;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mastodon: list feed %L not dropped: %s", l->list,
                      reply ? reply->str : "no answer from Redis");
    }

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_list_send(r, l->res, 0));
}
