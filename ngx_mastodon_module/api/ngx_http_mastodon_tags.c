/*
 * Hashtags (Api::V1::TagsController, FollowedTagsController,
 * FeaturedTagsController, FeaturedTags::SuggestionsController,
 * Accounts::FeaturedTagsController): GET /api/v1/tags/:id, POST
 * /api/v1/tags/:id/follow and /unfollow, POST /api/v1/tags/:id/feature
 * and /unfeature (4.4), GET /api/v1/followed_tags
 * (paginated by the follow), GET/POST /api/v1/featured_tags, DELETE
 * /api/v1/featured_tags/:id, GET /api/v1/featured_tags/suggestions, GET
 * /api/v1/accounts/:id/featured_tags.
 *
 * Tags are looked up by their normalized name (lib's HashtagNormalizer);
 * a followed tag brings its public statuses into the follower's home feed
 * through the worker's distribute (worker/recipients.c), and leaves it
 * when unfollowed (feed_unmerge with a tag_id).  A featured tag added or
 * removed federates (activitypub_account add_tag, remove_tag).  The Tag
 * entity: id, name (the display name), url, history (mastodon_tag_history() of
 * sql/0029_conversations_tags.sql), following and featuring for a user.
 * A featured tag's statuses_count and last_status_at are counted from
 * the account's public and unlisted statuses when read.
 */

#include "ngx_http_mastodon_api.h"
#include "mstdn_hashtag.h"
#include "mstdn_html.h"
#include "mstdn_utf8.h"


/* the Tag columns of tags t for viewer $1 (NULL: none) */
#define NGX_HTTP_MASTODON_TAG_COLUMNS                                         \
    "t.id, t.name, coalesce(t.display_name, t.name),"                         \
    " coalesce(mastodon_tag_history(t.id), '[]')::text,"                      \
    " EXISTS (SELECT 1 FROM tag_follows tf WHERE tf.tag_id = t.id"            \
    "  AND tf.account_id = $1::bigint),"                                      \
    " EXISTS (SELECT 1 FROM featured_tags ft WHERE ft.tag_id = t.id"          \
    "  AND ft.account_id = $1::bigint)"

/* $1 viewer, $2 normalized name, $3 the name as given: one row, the tag's
 * columns NULL when it is not stored */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_tag_stmt =
    ngx_http_mastodon_pg_stmt(
    "SELECT " NGX_HTTP_MASTODON_TAG_COLUMNS ", $3::text"
    " FROM (SELECT $2::text AS n) q"
    " LEFT JOIN tags t ON lower(t.name) = lower(q.n)", 3);

/* the tag made if new (as a post makes it), then followed */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_tag_follow_stmt =
    ngx_http_mastodon_pg_stmt(
    "WITH ti AS (INSERT INTO tags (name, display_name)"
    "  VALUES ($2::text, $3::text)"
    "  ON CONFLICT (lower((name)::text) text_pattern_ops)"
    "  DO UPDATE SET name = tags.name RETURNING id)"
    " INSERT INTO tag_follows (tag_id, account_id)"
    " SELECT id, $1::bigint FROM ti ON CONFLICT DO NOTHING", 3);

/* the follow gone, what came through the tag leaves the home feed
 * (TagUnmergeWorker: feed_unmerge with a tag_id) */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_tag_unfollow_stmt =
    ngx_http_mastodon_pg_stmt(
    "WITH del AS (DELETE FROM tag_follows tf USING tags t"
    "  WHERE tf.tag_id = t.id"
    "  AND lower(t.name) = lower($2::text) AND tf.account_id = $1::bigint"
    "  AND $3::text IS NOT NULL RETURNING tf.account_id, tf.tag_id) "
    NGX_HTTP_MASTODON_OUTBOX_SQL(
    "SELECT 'default', 'feed_unmerge', json_build_object('account_id',"
    " del.account_id::text, 'tag_id', del.tag_id::text) FROM del"), 3);

/* $1 the user, $2 max_id, $3 since_id, $4 min_id, $5 limit (of the
 * follows' ids); the follow's id first, newest first */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_followed_tags_stmt =
    ngx_http_mastodon_pg_stmt(
    "SELECT * FROM (SELECT tf.id AS fid, " NGX_HTTP_MASTODON_TAG_COLUMNS
    "  FROM tag_follows tf JOIN tags t ON t.id = tf.tag_id"
    "  WHERE tf.account_id = $1::bigint"
    "  AND ($2::bigint IS NULL OR tf.id < $2::bigint)"
    "  AND ($3::bigint IS NULL OR tf.id > $3::bigint)"
    "  AND ($4::bigint IS NULL OR tf.id > $4::bigint)"
    "  ORDER BY CASE WHEN $4::bigint IS NULL THEN -tf.id ELSE tf.id END"
    "  LIMIT $5::int) x ORDER BY fid DESC", 5);

/* FeaturedTag rows of account $1 (or one, $2): id, name, the account's
 * username, the tag's name, statuses_count, last_status_at */
#define NGX_HTTP_MASTODON_FEATURED_SQL                                        \
    "SELECT ft.id, coalesce(ft.name, t.display_name, t.name), a.username,"   \
    " t.name, fs.n, to_char(fs.last, 'YYYY-MM-DD')"                           \
    " FROM featured_tags ft JOIN tags t ON t.id = ft.tag_id"                  \
    " JOIN accounts a ON a.id = ft.account_id"                                \
    " CROSS JOIN LATERAL (SELECT count(*) AS n, max(s.created_at) AS last"    \
    "  FROM statuses_tags st JOIN statuses s ON s.id = st.status_id"          \
    "  WHERE st.tag_id = ft.tag_id AND s.account_id = ft.account_id"          \
    "  AND s.visibility IN (0, 1) AND s.deleted_at IS NULL"                   \
    "  AND s.reblog_of_id IS NULL) fs"

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_featured_tags_stmt =
    ngx_http_mastodon_pg_stmt(
    NGX_HTTP_MASTODON_FEATURED_SQL
    " WHERE ft.account_id = $1::bigint"
    " AND ($2::bigint IS NULL OR ft.id = $2::bigint)"
    " AND (a.domain IS NOT NULL OR " NGX_HTTP_MASTODON_ACCOUNT_SHOWN ")"
    " AND a.suspended_at IS NULL"
    " ORDER BY fs.n DESC, ft.id", 2);

/* a featured tag's Add or Remove to the remote followers (the worker's
 * activitypub_account add_tag, remove_tag), of rows with tag and name */
#define NGX_HTTP_MASTODON_FEATURED_FEDERATE(action, rows)                     \
    NGX_HTTP_MASTODON_OUTBOX_SQL(                                             \
    "SELECT 'push', 'activitypub_account', json_build_object("               \
    "'account_id', $1::bigint::text, 'action', '" action "',"                 \
    " 'tag', r.tag, 'display_name', r.name)"                                  \
    " FROM " rows " r"                                                        \
    " WHERE EXISTS (SELECT 1 FROM follows f JOIN accounts fa"                 \
    " ON fa.id = f.account_id AND fa.domain IS NOT NULL"                      \
    " WHERE f.target_account_id = $1::bigint)")

/*
 * POST: $1 the user, $2 normalized name, $3 display name.  The featured
 * tag of that tag if there is one (CreateFeaturedTagService), else a new
 * one unless the account has FeaturedTag::LIMIT (first column: its id, or
 * NULL at the limit); a new one federates.
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_featured_add_stmt =
    ngx_http_mastodon_pg_stmt(
    "WITH ti AS (INSERT INTO tags (name, display_name)"
    "  VALUES ($2::text, $3::text)"
    "  ON CONFLICT (lower((name)::text) text_pattern_ops)"
    "  DO UPDATE SET name = tags.name RETURNING id),"
    " old AS (SELECT ft.id FROM featured_tags ft, ti"
    "  WHERE ft.account_id = $1::bigint AND ft.tag_id = ti.id),"
    " ins AS (INSERT INTO featured_tags (account_id, tag_id)"
    "  SELECT $1::bigint, ti.id FROM ti WHERE NOT EXISTS (SELECT 1 FROM old)"
    "  AND (SELECT count(*) FROM featured_tags"
    "  WHERE account_id = $1::bigint) < 10"      /* FeaturedTag::LIMIT */
    "  RETURNING id),"
    " ob AS (" NGX_HTTP_MASTODON_FEATURED_FEDERATE("add_tag",
    "(SELECT $2::text AS tag, $3::text AS name FROM ins)") ")"
    " SELECT coalesce((SELECT id FROM old), (SELECT id FROM ins))", 3);

/* POST /api/v1/tags/:id/unfeature: $1 the user, $2 normalized name, $3
 * display name (unused); the account's featured tag of that tag gone,
 * federated as DELETE /api/v1/featured_tags/:id does */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_tag_unfeature_stmt =
    ngx_http_mastodon_pg_stmt(
    "WITH d AS (DELETE FROM featured_tags ft USING tags t"
    "  WHERE ft.tag_id = t.id AND lower(t.name) = lower($2::text)"
    "  AND ft.account_id = $1::bigint AND $3::text IS NOT NULL"
    "  RETURNING ft.id, ft.tag_id, ft.name),"
    " ob AS (" NGX_HTTP_MASTODON_FEATURED_FEDERATE("remove_tag",
    "(SELECT t.name AS tag, coalesce(d.name, t.display_name, t.name) AS name"
    " FROM d JOIN tags t ON t.id = d.tag_id)") ")"
    " SELECT id FROM d", 3);

/* Accounts::FeaturedTagsController#set_account: Account.find */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_featured_account_stmt =
    ngx_http_mastodon_pg_stmt(
    "SELECT 1 FROM accounts a WHERE a.id = $1::bigint"
    " AND " NGX_HTTP_MASTODON_ACCOUNT_SHOWN, 1);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_featured_delete_stmt =
    ngx_http_mastodon_pg_stmt(
    "WITH d AS (DELETE FROM featured_tags WHERE id = $2::bigint"
    "  AND account_id = $1::bigint RETURNING id, tag_id, name),"
    " ob AS (" NGX_HTTP_MASTODON_FEATURED_FEDERATE("remove_tag",
    "(SELECT t.name AS tag, coalesce(d.name, t.display_name, t.name) AS name"
    " FROM d JOIN tags t ON t.id = d.tag_id)") ")"
    " SELECT id FROM d", 2);

/* the tags of the user's recent public and unlisted statuses that it does
 * not feature, most used first (Tag.suggestions_for_account), 10 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_featured_suggest_stmt =
    ngx_http_mastodon_pg_stmt(
    "SELECT " NGX_HTTP_MASTODON_TAG_COLUMNS " FROM tags t JOIN ("
    " SELECT st.tag_id, count(*) AS n, max(s.id) AS last"
    "  FROM statuses s JOIN statuses_tags st ON st.status_id = s.id"
    "  WHERE s.account_id = $1::bigint AND s.visibility IN (0, 1)"
    "  AND s.deleted_at IS NULL AND s.reblog_of_id IS NULL"
    "  AND st.tag_id NOT IN (SELECT tag_id FROM featured_tags"
    "  WHERE account_id = $1::bigint)"
    "  GROUP BY st.tag_id ORDER BY n DESC, last DESC LIMIT 10) u"
    " ON u.tag_id = t.id ORDER BY u.n DESC, u.last DESC", 1);


typedef struct {
    ngx_http_mastodon_page_t       page;
    ngx_uint_t                     user;        /* following, featuring */
    ngx_uint_t                     one;         /* an object, not an array */
    int                            col;         /* the Tag columns' first */
} ngx_http_mastodon_tags_t;


static void ngx_http_mastodon_tag_done(ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_followed_tags_done(
    ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_featured_done(ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_featured_added(ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_featured_made(ngx_http_mastodon_pg_batch_t *b);
static ngx_int_t ngx_http_mastodon_tags_send(ngx_http_request_t *r,
    ngx_http_mastodon_tags_t *tg, PGresult *res);


/*
 * The tag named in the path or a parameter (Tag::HASHTAG_NAME_RE: no
 * character a tag cannot hold, not only digits): values[1] the normalized
 * name, values[2] the display name; NGX_OK, NGX_DECLINED (not a tag's
 * name) or NGX_ERROR.
 */
static ngx_int_t
ngx_http_mastodon_tag_name(ngx_http_request_t *r, u_char *name, size_t len,
    const char **values)
{
    u_char         *p, *n;
    size_t          i, nlen;
    ngx_uint_t      alpha;
    mstdn_alloc_t   a;

    if (len == 0 || mstdn_utf8_check(name, len, 0) != MSTDN_UTF8_VALID) {
        return NGX_DECLINED;
    }

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, name, len);
    p[len] = '\0';

    if (mstdn_hashtag_strip_invalid((char *) p, len) != len) {
        return NGX_DECLINED;
    }

    a.alloc = ngx_http_mastodon_pool_alloc;
    a.ctx = r->pool;

    n = (u_char *) mstdn_hashtag_normalize((char *) p, len, &a, &nlen);
    if (n == NULL) {
        return NGX_ERROR;
    }

    alpha = 0;
    for (i = 0; i < nlen; i++) {
        if (n[i] < '0' || n[i] > '9') {
            alpha = 1;
        }
    }

    if (nlen == 0 || !alpha) {
        return NGX_DECLINED;
    }

    values[1] = (const char *) n;
    values[2] = (const char *) p;

    return NGX_OK;
}


/* GET /api/v1/tags/:id, POST /api/v1/tags/:id/follow, /unfollow */
static ngx_int_t
ngx_http_mastodon_tag_run(ngx_http_request_t *r, ngx_http_mastodon_ctx_t *ctx,
    ngx_http_mastodon_pg_stmt_t *write)
{
    ngx_int_t                      rc;
    const char                   **values;
    ngx_http_mastodon_tags_t      *tg;
    ngx_http_mastodon_pg_batch_t  *b;

    if (ctx->ncaptures == 0) {
        return NGX_HTTP_NOT_FOUND;
    }

    tg = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_tags_t));
    values = ngx_pcalloc(r->pool, 3 * sizeof(char *));
    if (tg == NULL || values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_mastodon_tag_name(r, ctx->captures[0].data,
                                    ctx->captures[0].len, values);
    if (rc == NGX_DECLINED) {
        return NGX_HTTP_NOT_FOUND;
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    tg->one = 1;

    if (ctx->auth && ctx->auth->account_id) {
        tg->user = 1;
        values[0] = ngx_http_mastodon_pg_int64(r, ctx->auth->account_id);
        if (values[0] == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    b = ngx_http_mastodon_pg_batch(r, ngx_http_mastodon_tag_done, tg);
    if (b == NULL
        || (write && ngx_http_mastodon_pg_add(b, write, values) != NGX_OK)
        || ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_tag_stmt, values)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mastodon_pg_run(b) != NGX_OK) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}


ngx_int_t
ngx_http_mastodon_tag_show(ngx_http_request_t *r, ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_tag_run(r, ctx, NULL);
}


ngx_int_t
ngx_http_mastodon_tag_follow(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_tag_run(r, ctx,
                                     &ngx_http_mastodon_tag_follow_stmt);
}


ngx_int_t
ngx_http_mastodon_tag_unfollow(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_tag_run(r, ctx,
                                     &ngx_http_mastodon_tag_unfollow_stmt);
}


/*
 * POST /api/v1/tags/:id/feature (CreateFeaturedTagService with the tag,
 * as POST /api/v1/featured_tags: the same statement and limit), then the
 * Tag
 */
ngx_int_t
ngx_http_mastodon_tag_feature(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_tag_run(r, ctx,
                                     &ngx_http_mastodon_featured_add_stmt);
}


/* POST /api/v1/tags/:id/unfeature, then the Tag */
ngx_int_t
ngx_http_mastodon_tag_unfeature(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_tag_run(r, ctx,
                                     &ngx_http_mastodon_tag_unfeature_stmt);
}


static void
ngx_http_mastodon_tag_done(ngx_http_mastodon_pg_batch_t *b)
{
    PGresult                  *res;
    ngx_http_mastodon_ctx_t   *ctx;
    ngx_http_mastodon_tags_t  *tg = b->data;

    if (b->nqueries == 2 && b->queries[0].stmt
                            == &ngx_http_mastodon_featured_add_stmt)
    {
        /* feature: NULL at FeaturedTag::LIMIT */
        res = ngx_http_mastodon_pg_rows(b, 0);

        if (res && PQntuples(res) == 1 && PQgetisnull(res, 0, 0)) {
            ctx = ngx_http_get_module_ctx(b->request,
                                          ngx_http_mastodon_module);
            ctx->error_message = "Validation failed: You have already "
                                 "featured the maximum number of hashtags";
            ngx_http_mastodon_finalize(b->request, 422);
            return;
        }
    }

    ngx_http_mastodon_finalize(b->request,
        ngx_http_mastodon_tags_send(b->request, tg,
                                    ngx_http_mastodon_pg_rows(b,
                                                        b->nqueries - 1)));
}


/* GET /api/v1/followed_tags */
ngx_int_t
ngx_http_mastodon_followed_tags(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    const char                **values;
    ngx_http_mastodon_tags_t   *tg;

    tg = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_tags_t));
    values = ngx_pcalloc(r->pool, 5 * sizeof(char *));
    if (tg == NULL || values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    tg->user = 1;
    tg->col = 1;

    /* FollowedTagsController::TAGS_LIMIT, at most twice that */
    ngx_http_mastodon_page_init(ctx, &tg->page, 100, 200);
    ngx_http_mastodon_page_values(r, &tg->page, &values[1]);

    values[0] = ngx_http_mastodon_pg_int64(r, ctx->auth->account_id);
    if (values[0] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_pg_query(r, &ngx_http_mastodon_followed_tags_stmt,
                                      values,
                                      ngx_http_mastodon_followed_tags_done,
                                      tg);
}


static void
ngx_http_mastodon_followed_tags_done(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_http_mastodon_tags_t *tg = b->data;

    int                       n;
    PGresult                 *res;
    ngx_str_t                 path;
    ngx_http_request_t       *r;
    ngx_http_mastodon_ctx_t  *ctx;

    r = b->request;

    res = ngx_http_mastodon_pg_rows(b, 0);
    if (res == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    n = PQntuples(res);

    if (n) {
        ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);
        ngx_str_set(&path, "/api/v1/followed_tags");

        if (ngx_http_mastodon_page_link(r, ctx, &path,
                                 ngx_http_mastodon_page_keep_limit, 0,
                                 (ngx_uint_t) n == tg->page.limit
                                 ? ngx_http_mastodon_pg_int(res, n - 1, 0)
                                 : 0,
                                 "min_id", ngx_http_mastodon_pg_int(res, 0, 0))
            != NGX_OK)
        {
            ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }
    }

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_tags_send(r, tg, res));
}


/* GET /api/v1/featured_tags/suggestions */
ngx_int_t
ngx_http_mastodon_featured_suggestions(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    ngx_http_mastodon_tags_t  *tg;

    tg = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_tags_t));
    if (tg == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    tg->user = 1;

    return ngx_http_mastodon_pg_query_id(r,
                                   &ngx_http_mastodon_featured_suggest_stmt,
                                   ctx->auth->account_id,
                                   ngx_http_mastodon_tag_done, tg);
}


/* Tag entities from rows of NGX_HTTP_MASTODON_TAG_COLUMNS at tg->col */
static ngx_int_t
ngx_http_mastodon_tags_send(ngx_http_request_t *r,
    ngx_http_mastodon_tags_t *tg, PGresult *res)
{
    int                             row, n, c;
    u_char                         *p;
    ngx_str_t                       s, url;
    ngx_http_mastodon_json_t        j;
    ngx_http_mastodon_main_conf_t  *mcf;

    if (res == NULL) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!tg->one) {
        ngx_http_mastodon_json_open_array(&j, NULL);
    }

    n = PQntuples(res);
    c = tg->col;

    for (row = 0; row < n; row++) {
        ngx_http_mastodon_json_open(&j, NULL);

        /* a tag not stored yet (Tag.new): no id, the name as asked */
        s = ngx_http_mastodon_pg_str(res, row, c);
        ngx_http_mastodon_json_kv_str(&j, "id", &s);

        if (PQgetisnull(res, row, c)) {
            s = ngx_http_mastodon_pg_str(res, row, c + 6);
        } else {
            s = ngx_http_mastodon_pg_str(res, row, c + 2);
        }

        ngx_http_mastodon_json_kv_str(&j, "name", &s);

        if (!PQgetisnull(res, row, c)) {
            s = ngx_http_mastodon_pg_str(res, row, c + 1);
        }

        url.data = ngx_pnalloc(r->pool, mcf->base_url.len + sizeof("/tags/")
                                        + MSTDN_URL_ESCAPE_MAX(s.len));
        if (url.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = ngx_sprintf(url.data, "%V/tags/", &mcf->base_url);
        p += mstdn_url_escape((char *) p, (char *) s.data, s.len,
                              MSTDN_URL_PATH);
        url.len = p - url.data;
        ngx_http_mastodon_json_kv_str(&j, "url", &url);

        s = ngx_http_mastodon_pg_str(res, row, c + 3);
        if (s.len == 0) {
            ngx_str_set(&s, "[]");
        }

        ngx_http_mastodon_json_raw(&j, "history", &s);

        if (tg->user) {
            ngx_http_mastodon_json_kv_bool(&j, "following",
                                 ngx_http_mastodon_pg_bool(res, row, c + 4));
            ngx_http_mastodon_json_kv_bool(&j, "featuring",
                                 ngx_http_mastodon_pg_bool(res, row, c + 5));
        }

        ngx_http_mastodon_json_close(&j);

        if (tg->one) {
            break;
        }
    }

    if (!tg->one) {
        ngx_http_mastodon_json_close_array(&j);
    }

    return ngx_http_mastodon_json_send(&j, NGX_HTTP_OK);
}


/*
 * GET /api/v1/featured_tags, GET /api/v1/accounts/:id/featured_tags (find:
 * the account looked up first, 404 when unknown; a suspended one has none)
 */
static ngx_int_t
ngx_http_mastodon_featured_list(ngx_http_request_t *r, int64_t account,
    ngx_uint_t find)
{
    const char                    **values;
    ngx_http_mastodon_pg_batch_t   *b;

    values = ngx_pcalloc(r->pool, 2 * sizeof(char *));
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[0] = ngx_http_mastodon_pg_int64(r, account);
    if (values[0] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b = ngx_http_mastodon_pg_batch(r, ngx_http_mastodon_featured_done,
                                   (void *) find);
    if (b == NULL
        || (find
            && ngx_http_mastodon_pg_add(b,
                                   &ngx_http_mastodon_featured_account_stmt,
                                   values)
               != NGX_OK)
        || ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_featured_tags_stmt,
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


ngx_int_t
ngx_http_mastodon_featured_tags(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_featured_list(r, ctx->auth->account_id, 0);
}


ngx_int_t
ngx_http_mastodon_account_featured_tags(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    int64_t  id;

    id = ngx_http_mastodon_capture_id(ctx, 0);
    if (id == 0) {
        ctx->error_message = "Record not found";
        return NGX_HTTP_NOT_FOUND;
    }

    return ngx_http_mastodon_featured_list(r, id, 1);
}


/* FeaturedTag entities (one: the object, 404 when none) */
static ngx_int_t
ngx_http_mastodon_featured_send(ngx_http_request_t *r, PGresult *res,
    ngx_uint_t one)
{
    int                             row, n;
    u_char                         *p;
    ngx_str_t                       s, user, tag, url;
    ngx_http_mastodon_json_t        j;
    ngx_http_mastodon_main_conf_t  *mcf;

    if (res == NULL) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    n = PQntuples(res);

    if (one && n == 0) {
        return NGX_HTTP_NOT_FOUND;
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!one) {
        ngx_http_mastodon_json_open_array(&j, NULL);
    }

    for (row = 0; row < n; row++) {
        ngx_http_mastodon_json_open(&j, NULL);

        s = ngx_http_mastodon_pg_str(res, row, 0);
        ngx_http_mastodon_json_kv_str(&j, "id", &s);
        s = ngx_http_mastodon_pg_str(res, row, 1);
        ngx_http_mastodon_json_kv_str(&j, "name", &s);

        /* short_account_tag_url: /@username/tagged/name */
        user = ngx_http_mastodon_pg_str(res, row, 2);
        tag = ngx_http_mastodon_pg_str(res, row, 3);
        url.data = ngx_pnalloc(r->pool, mcf->base_url.len
                                        + sizeof("/@/tagged/")
                                        + MSTDN_URL_ESCAPE_MAX(user.len)
                                        + MSTDN_URL_ESCAPE_MAX(tag.len));
        if (url.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = ngx_sprintf(url.data, "%V/@", &mcf->base_url);
        p += mstdn_url_escape((char *) p, (char *) user.data, user.len,
                              MSTDN_URL_PATH);
        p = ngx_cpymem(p, "/tagged/", sizeof("/tagged/") - 1);
        p += mstdn_url_escape((char *) p, (char *) tag.data, tag.len,
                              MSTDN_URL_PATH);
        url.len = p - url.data;
        ngx_http_mastodon_json_kv_str(&j, "url", &url);

        /* statuses_count.to_s, last_status_at.to_date.iso8601 */
        ngx_http_mastodon_json_kv_pq(&j, "statuses_count", res, row, 4);
        ngx_http_mastodon_json_kv_pq(&j, "last_status_at", res, row, 5);

        ngx_http_mastodon_json_close(&j);

        if (one) {
            break;
        }
    }

    if (!one) {
        ngx_http_mastodon_json_close_array(&j);
    }

    return ngx_http_mastodon_json_send(&j, NGX_HTTP_OK);
}


static void
ngx_http_mastodon_featured_done(ngx_http_mastodon_pg_batch_t *b)
{
    PGresult                 *res;
    ngx_http_mastodon_ctx_t  *ctx;

    if (b->data) {
        res = ngx_http_mastodon_pg_rows(b, 0);
        if (res == NULL) {
            ngx_http_mastodon_finalize(b->request,
                                       NGX_HTTP_SERVICE_UNAVAILABLE);
            return;
        }

        if (PQntuples(res) == 0) {
            ctx = ngx_http_get_module_ctx(b->request,
                                          ngx_http_mastodon_module);
            ctx->error_message = "Record not found";
            ngx_http_mastodon_finalize(b->request, NGX_HTTP_NOT_FOUND);
            return;
        }
    }

    ngx_http_mastodon_finalize(b->request,
        ngx_http_mastodon_featured_send(b->request,
                                        ngx_http_mastodon_pg_rows(b,
                                                        b->nqueries - 1),
                                        0));
}


/* POST /api/v1/featured_tags (name) */
ngx_int_t
ngx_http_mastodon_featured_tag_create(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    size_t                         len;
    ngx_int_t                      rc;
    const char                    *name, **values;
    ngx_http_mastodon_pg_batch_t  *b;

    values = ngx_pcalloc(r->pool, 3 * sizeof(char *));
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    name = mstdn_param_str(ctx->params, "name", &len);
    if (name && len && name[0] == '#') {
        name++;
        len--;
    }

    if (name == NULL || len == 0) {
        ctx->error_message = "Validation failed: Name can't be blank";
        return 422;
    }

    rc = ngx_http_mastodon_tag_name(r, (u_char *) name, len, values);
    if (rc == NGX_DECLINED) {
        ctx->error_message = "Validation failed: Name is invalid";
        return 422;
    }

    values[0] = ngx_http_mastodon_pg_int64(r, ctx->auth->account_id);
    if (rc != NGX_OK || values[0] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b = ngx_http_mastodon_pg_batch(r, ngx_http_mastodon_featured_added, NULL);
    if (b == NULL
        || ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_featured_add_stmt,
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
ngx_http_mastodon_featured_added(ngx_http_mastodon_pg_batch_t *b)
{
    int64_t                   id;
    ngx_int_t                 rc;
    PGresult                 *res;
    const char              **values;
    ngx_http_request_t       *r;
    ngx_http_mastodon_ctx_t  *ctx;

    r = b->request;
    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    res = ngx_http_mastodon_pg_rows(b, 0);
    if (res == NULL || PQntuples(res) != 1) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (PQgetisnull(res, 0, 0)) {
        ctx->error_message = "Validation failed: You have already featured "
                             "the maximum number of hashtags";
        ngx_http_mastodon_finalize(r, 422);
        return;
    }

    id = ngx_http_mastodon_pg_int(res, 0, 0);

    values = ngx_pcalloc(r->pool, 2 * sizeof(char *));
    if (values == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    values[0] = ngx_http_mastodon_pg_int64(r, ctx->auth->account_id);
    values[1] = ngx_http_mastodon_pg_int64(r, id);

    rc = ngx_http_mastodon_pg_query(r, &ngx_http_mastodon_featured_tags_stmt,
                                    values, ngx_http_mastodon_featured_made,
                                    NULL);
    if (rc != NGX_DONE) {
        ngx_http_mastodon_finalize(r, rc);
    }
}


/* DELETE /api/v1/featured_tags/:id */
ngx_int_t
ngx_http_mastodon_featured_tag_delete(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    int64_t  id;

    id = ngx_http_mastodon_capture_id(ctx, 0);
    if (id == 0) {
        return NGX_HTTP_NOT_FOUND;
    }

    return ngx_http_mastodon_pg_query_ids(r,
               &ngx_http_mastodon_featured_delete_stmt,
               ctx->auth->account_id, id, ngx_http_mastodon_empty_if_found,
               NULL);
}


/* the featured tag made, read back */
static void
ngx_http_mastodon_featured_made(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_http_mastodon_finalize(b->request,
                               ngx_http_mastodon_featured_send(b->request,
                                   ngx_http_mastodon_pg_rows(b, 0), 1));
}
