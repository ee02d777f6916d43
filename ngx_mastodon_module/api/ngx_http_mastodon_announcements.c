
/*
 * Announcements (Api::V1::AnnouncementsController and
 * Announcements::ReactionsController): GET /api/v1/announcements (the
 * published ones, Announcement.published.chronological, with the user's
 * read and reactions), POST /api/v1/announcements/:id/dismiss (an
 * AnnouncementMute), PUT and DELETE /api/v1/announcements/:id/reactions/
 * :name.  A reaction is a Unicode emoji or the shortcode of an enabled
 * local custom emoji, and an announcement has at most 8 distinct ones
 * (ReactionValidator).  A reaction's change queues the worker's
 * announcement_reaction job, which publishes announcement.reaction to the
 * user streams (PublishAnnouncementReactionWorker).  The viewer-independent
 * part of the entity (content, mentions, tags) is what the worker rendered
 * when it published the announcement (sql/0044_announcements.sql).  The
 * streams' announcement and announcement.reaction events, which name ids,
 * are rendered here too, for no one (ngx_http_mastodon_announcement_render()).
 */

#include "ngx_http_mastodon_api.h"
#include "mstdn_json.h"
#include "mstdn_utf8.h"


/* ReactionValidator::LIMIT (distinct names of an announcement): 8 */

/* the worker's announcement_reaction job for the rows (announcement_id) */
#define NGX_HTTP_MASTODON_ANN_REACTION_JOB(rows)                              \
    "SELECT 'default', 'announcement_reaction', json_build_object("          \
    " 'announcement_id', announcement_id::text, 'name', $3::text) FROM " rows

#define NGX_HTTP_MASTODON_ANN_TIME(c)                                         \
    "to_char(" c ", 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/*
 * REST::AnnouncementSerializer's columns: $1 the viewer's account (0: no
 * one), $2 the base URL
 */
#define NGX_HTTP_MASTODON_ANN_COLUMNS                                         \
    "SELECT a.id, a.rendered->>'content',"                                    \
    " " NGX_HTTP_MASTODON_ANN_TIME("a.starts_at") ","                         \
    " " NGX_HTTP_MASTODON_ANN_TIME("a.ends_at") ", a.all_day,"                \
    " " NGX_HTTP_MASTODON_ANN_TIME("a.published_at") ","                      \
    " " NGX_HTTP_MASTODON_ANN_TIME("a.updated_at") ","                        \
    " coalesce(a.rendered->>'mentions', '[]'),"                               \
    " mastodon_announcement_statuses(a.status_ids, $2::text),"                \
    " coalesce(a.rendered->>'tags', '[]'),"                                   \
    " " NGX_HTTP_MASTODON_EMOJIS_SQL("NULL", "a.text") ","                    \
    " EXISTS (SELECT 1 FROM announcement_mutes m"                             \
    "  WHERE m.announcement_id = a.id AND m.account_id = $1::bigint),"        \
    " (SELECT json_agg(json_build_array(r.name, r.n, r.me, ce.id::text,"      \
    "   ce.image_file_name) ORDER BY r.first)"                                \
    "  FROM (SELECT name, custom_emoji_id, count(*) n,"                       \
    "   bool_or(account_id = $1::bigint) me, min(created_at) first"           \
    "   FROM announcement_reactions WHERE announcement_id = a.id"             \
    "   GROUP BY name, custom_emoji_id) r"                                    \
    "  LEFT JOIN custom_emojis ce ON ce.id = r.custom_emoji_id)"              \
    " FROM announcements a WHERE a.published"

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_announcements_select =
    ngx_http_mastodon_pg_stmt(
        NGX_HTTP_MASTODON_ANN_COLUMNS
        " ORDER BY COALESCE(a.starts_at, a.scheduled_at, a.published_at,"
        "  a.created_at), a.id", 2);

/* the same, $3 the announcement */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_announcement_select =
    ngx_http_mastodon_pg_stmt(
        NGX_HTTP_MASTODON_ANN_COLUMNS " AND a.id = $3::bigint", 3);

/*
 * $1 the announcement, $2 a name: the reaction's count now, and its local
 * custom emoji when it has reactions (none left: Mastodon renders a new,
 * unsaved reaction, without emoji); no row: the announcement is gone
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_reaction_select =
    ngx_http_mastodon_pg_stmt(
        "SELECT n, CASE WHEN n > 0 THEN ce.id::text END,"
        " CASE WHEN n > 0 THEN ce.image_file_name END"
        " FROM announcements a CROSS JOIN LATERAL (SELECT count(*) n"
        "  FROM announcement_reactions r WHERE r.announcement_id = a.id"
        "  AND r.name = $2::text) c"
        " LEFT JOIN custom_emojis ce ON ce.domain IS NULL"
        "  AND ce.shortcode = $2::text AND NOT ce.disabled"
        " WHERE a.id = $1::bigint", 2);

/* $1 the account, $2 the announcement */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_announcement_mute =
    ngx_http_mastodon_pg_stmt(
        "WITH a AS (SELECT id FROM announcements"
        "  WHERE id = $2::bigint AND published),"
        " i AS (INSERT INTO announcement_mutes (account_id, announcement_id)"
        "  SELECT $1::bigint, id FROM a"
        "  ON CONFLICT (account_id, announcement_id) DO NOTHING)"
        " SELECT id FROM a", 2);

/*
 * $1 the account, $2 the announcement, $3 the name, $4 whether it is a
 * Unicode emoji.  Rows: whether it was found, the custom emoji, whether
 * it is a new name past the limit, and the job's row when one was made.
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_reaction_add =
    ngx_http_mastodon_pg_stmt(
        "WITH a AS (SELECT id FROM announcements"
        "  WHERE id = $2::bigint AND published FOR UPDATE),"
        " ce AS (SELECT id FROM custom_emojis WHERE domain IS NULL"
        "  AND NOT disabled AND shortcode = $3::text),"
        " ok AS (SELECT a.id, (SELECT id FROM ce) ce,"
        "  NOT EXISTS (SELECT 1 FROM announcement_reactions r"
        "   WHERE r.announcement_id = a.id AND r.name = $3::text)"
        "  AND (SELECT count(DISTINCT name) FROM announcement_reactions r"
        "   WHERE r.announcement_id = a.id AND r.name <> $3::text)"
        "  >= 8 too_many"
        "  FROM a),"
        " i AS (INSERT INTO announcement_reactions"
        "  (account_id, announcement_id, name, custom_emoji_id)"
        "  SELECT $1::bigint, id, $3::text, ce FROM ok"
        "  WHERE NOT too_many AND (ce IS NOT NULL OR $4::boolean)"
        "  ON CONFLICT (account_id, announcement_id, name) DO NOTHING"
        "  RETURNING announcement_id),"
        " j AS (" NGX_HTTP_MASTODON_OUTBOX_SQL(
            NGX_HTTP_MASTODON_ANN_REACTION_JOB("i")) " RETURNING 1)"
        " SELECT ok.ce IS NOT NULL OR $4::boolean, ok.too_many,"
        "  (SELECT count(*) FROM j) FROM ok", 4);

/* $1 the account, $2 the announcement, $3 the name */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_reaction_remove =
    ngx_http_mastodon_pg_stmt(
        "WITH d AS (DELETE FROM announcement_reactions r"
        "  USING announcements a WHERE a.id = $2::bigint AND a.published"
        "  AND r.announcement_id = a.id AND r.account_id = $1::bigint"
        "  AND r.name = $3::text RETURNING r.announcement_id),"
        " j AS (" NGX_HTTP_MASTODON_OUTBOX_SQL(
            NGX_HTTP_MASTODON_ANN_REACTION_JOB("d")) " RETURNING 1)"
        " SELECT count(*) FROM j", 3);


static void ngx_http_mastodon_announcements_done(
    ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_announcement_write(ngx_http_mastodon_json_t *j,
    PGresult *res, int row, ngx_uint_t viewer);
static void ngx_http_mastodon_reactions(ngx_http_mastodon_json_t *j,
    PGresult *res, int row, int col, ngx_uint_t me);
static void ngx_http_mastodon_reaction_members(ngx_http_mastodon_json_t *j,
    ngx_str_t *name, int64_t count, ngx_int_t me, ngx_str_t *emoji_id,
    ngx_str_t *file);
static void ngx_http_mastodon_announcement_op_rows(
    ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_reaction_added(ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_reaction_removed(
    ngx_http_mastodon_pg_batch_t *b);
static ngx_uint_t ngx_http_mastodon_unicode_emoji(u_char *p, size_t len);


/* GET /api/v1/announcements */
ngx_int_t
ngx_http_mastodon_announcements_index(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    const char                     **values;
    ngx_http_mastodon_main_conf_t   *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    values = ngx_palloc(r->pool, 2 * sizeof(char *));
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[0] = ngx_http_mastodon_pg_int64(r, ctx->auth->account_id);
    values[1] = (const char *) ngx_pnalloc(r->pool, mcf->base_url.len + 1);
    if (values[0] == NULL || values[1] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *ngx_cpymem((u_char *) values[1], mcf->base_url.data,
                mcf->base_url.len) = '\0';

    return ngx_http_mastodon_pg_query(r,
                                      &ngx_http_mastodon_announcements_select,
                                      values,
                                      ngx_http_mastodon_announcements_done,
                                      NULL);
}


static void
ngx_http_mastodon_announcements_done(ngx_http_mastodon_pg_batch_t *b)
{
    int                        i, n;
    PGresult                  *res;
    ngx_http_request_t        *r;
    ngx_http_mastodon_json_t   j;

    r = b->request;
    res = ngx_http_mastodon_pg_rows(b, 0);

    if (res == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_mastodon_json_open_array(&j, NULL);

    n = PQntuples(res);

    for (i = 0; i < n; i++) {
        ngx_http_mastodon_announcement_write(&j, res, i, 1);
    }

    ngx_http_mastodon_json_close_array(&j);

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_json_send(&j,
                                                              NGX_HTTP_OK));
}


/*
 * REST::AnnouncementSerializer of a row of NGX_HTTP_MASTODON_ANN_COLUMNS;
 * with no viewer as InlineRenderer renders it for the streams: no "read",
 * reactions without "me"
 */
static void
ngx_http_mastodon_announcement_write(ngx_http_mastodon_json_t *j,
    PGresult *res, int row, ngx_uint_t viewer)
{
    ngx_str_t  v;

    ngx_http_mastodon_json_open(j, NULL);
    ngx_http_mastodon_json_kv_pq(j, "id", res, row, 0);
    ngx_http_mastodon_json_kv_pq(j, "content", res, row, 1);
    ngx_http_mastodon_json_kv_pq(j, "starts_at", res, row, 2);
    ngx_http_mastodon_json_kv_pq(j, "ends_at", res, row, 3);
    ngx_http_mastodon_json_kv_bool(j, "all_day",
                                   ngx_http_mastodon_pg_bool(res, row, 4));
    ngx_http_mastodon_json_kv_pq(j, "published_at", res, row, 5);
    ngx_http_mastodon_json_kv_pq(j, "updated_at", res, row, 6);

    if (viewer) {
        ngx_http_mastodon_json_kv_bool(j, "read",
                                       ngx_http_mastodon_pg_bool(res, row, 11));
    }

    v = ngx_http_mastodon_pg_str(res, row, 7);
    ngx_http_mastodon_json_raw(j, "mentions", &v);
    v = ngx_http_mastodon_pg_str(res, row, 8);
    ngx_http_mastodon_json_raw(j, "statuses", &v);
    v = ngx_http_mastodon_pg_str(res, row, 9);
    ngx_http_mastodon_json_raw(j, "tags", &v);
    ngx_http_mastodon_emojis(j, res, row, 10);
    ngx_http_mastodon_reactions(j, res, row, 12, viewer);
    ngx_http_mastodon_json_close(j);
}


/*
 * "reactions": REST::ReactionSerializer of the rows [name, count, me,
 * custom emoji id, its file name]
 */
static void
ngx_http_mastodon_reactions(ngx_http_mastodon_json_t *j, PGresult *res,
    int row, int col, ngx_uint_t me)
{
    char             err[64];
    ngx_str_t        s, name, id, file;
    mstdn_alloc_t    a;
    mstdn_value_t   *doc, *e, *n, *count, *mine, *eid, *fn;
    mstdn_limits_t   limits = { 3, 1000 };

    ngx_http_mastodon_json_open_array(j, "reactions");

    a.alloc = ngx_http_mastodon_pool_alloc;
    a.ctx = j->pool;

    s = ngx_http_mastodon_pg_str(res, row, col);

    if (s.len == 0
        || mstdn_json_parse((char *) s.data, s.len, &a, &limits, &doc,
                            err, sizeof(err)) != MSTDN_OK
        || doc->type != MSTDN_ARRAY)
    {
        ngx_http_mastodon_json_close_array(j);
        return;
    }

    for (e = doc->first; e; e = e->next) {
        n = (e->type == MSTDN_ARRAY) ? e->first : NULL;
        count = n ? n->next : NULL;
        mine = count ? count->next : NULL;
        eid = mine ? mine->next : NULL;
        fn = eid ? eid->next : NULL;

        if (fn == NULL || n->type != MSTDN_STRING) {
            continue;
        }

        name.data = (u_char *) n->str;
        name.len = n->len;
        ngx_str_null(&id);
        ngx_str_null(&file);

        if (eid->type == MSTDN_STRING && fn->type == MSTDN_STRING) {
            id.data = (u_char *) eid->str;
            id.len = eid->len;
            file.data = (u_char *) fn->str;
            file.len = fn->len;
        }

        ngx_http_mastodon_json_open(j, NULL);
        ngx_http_mastodon_reaction_members(j, &name,
                                           count->type == MSTDN_NUMBER
                                           ? ngx_atoof((u_char *) count->str,
                                                       count->len)
                                           : 0,
                                           me ? (mine->type == MSTDN_BOOL
                                                 && mine->boolean)
                                              : -1,
                                           &id, &file);
        ngx_http_mastodon_json_close(j);
    }

    ngx_http_mastodon_json_close_array(j);
}


/*
 * A Reaction's members: name, count, me (-1: none, as with no viewer),
 * url and static_url of its custom emoji (an empty id: none)
 */
static void
ngx_http_mastodon_reaction_members(ngx_http_mastodon_json_t *j,
    ngx_str_t *name, int64_t count, ngx_int_t me, ngx_str_t *emoji_id,
    ngx_str_t *file)
{
    int64_t    id;
    ngx_str_t  url, static_url;

    ngx_http_mastodon_json_kv_str(j, "name", name);
    ngx_http_mastodon_json_kv_int(j, "count", count);

    if (me >= 0) {
        ngx_http_mastodon_json_kv_bool(j, "me", me);
    }

    if (emoji_id->len == 0 || file->len == 0) {
        return;
    }

    id = ngx_atoof(emoji_id->data, emoji_id->len);

    if (ngx_http_mastodon_local_emoji_urls(j, id, file, &url, &static_url)
        == NGX_OK)
    {
        ngx_http_mastodon_json_kv_str(j, "url", &url);
        ngx_http_mastodon_json_kv_str(j, "static_url", &static_url);
    }
}


/* the rendering of an event, in its operation */
typedef struct {
    ngx_http_mastodon_op_t                  *op;
    int64_t                                  id;
    ngx_str_t                                name;      /* a reaction's */
    ngx_http_mastodon_notification_done_pt   handler;
    void                                    *data;
} ngx_http_mastodon_ann_render_t;


ngx_int_t
ngx_http_mastodon_announcement_render(ngx_http_mastodon_op_t *op, int64_t id,
    ngx_str_t *name, ngx_http_mastodon_notification_done_pt handler,
    void *data)
{
    u_char                          *p;
    const char                     **values;
    ngx_http_mastodon_pg_batch_t    *b;
    ngx_http_mastodon_main_conf_t   *mcf;
    ngx_http_mastodon_ann_render_t  *ar;

    ar = ngx_pcalloc(op->pool, sizeof(ngx_http_mastodon_ann_render_t));
    values = ngx_pcalloc(op->pool, 3 * sizeof(char *));
    if (ar == NULL || values == NULL) {
        return NGX_ERROR;
    }

    ar->op = op;
    ar->id = id;
    ar->handler = handler;
    ar->data = data;

    b = ngx_http_mastodon_pg_op_batch(op,
                                      ngx_http_mastodon_announcement_op_rows,
                                      ar);
    if (b == NULL) {
        return NGX_ERROR;
    }

    if (name) {
        /* $2 a text parameter: NUL-terminated */
        p = ngx_pnalloc(op->pool, name->len + 1);
        values[0] = ngx_http_mastodon_pg_pool_int64(op->pool, id);
        if (p == NULL || values[0] == NULL) {
            return NGX_ERROR;
        }

        *ngx_cpymem(p, name->data, name->len) = '\0';
        ar->name.data = p;
        ar->name.len = name->len;
        values[1] = (const char *) p;

        if (ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_reaction_select,
                                     values)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

    } else {
        mcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                                  ngx_http_mastodon_module);

        values[0] = "0";
        values[1] = (const char *) ngx_pnalloc(op->pool,
                                               mcf->base_url.len + 1);
        values[2] = ngx_http_mastodon_pg_pool_int64(op->pool, id);
        if (values[1] == NULL || values[2] == NULL) {
            return NGX_ERROR;
        }

        *ngx_cpymem((u_char *) values[1], mcf->base_url.data,
                    mcf->base_url.len) = '\0';

        if (ngx_http_mastodon_pg_add(b,
                                     &ngx_http_mastodon_announcement_select,
                                     values)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ngx_http_mastodon_pg_run(b) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_DONE;
}


static void
ngx_http_mastodon_announcement_op_rows(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_http_mastodon_ann_render_t *ar = b->data;

    PGresult                  *res;
    ngx_str_t                  out, id, file;
    const char                *aid;
    ngx_http_mastodon_json_t   j;

    res = ngx_http_mastodon_pg_rows(b, 0);

    if (res == NULL) {
        ar->handler(ar->op, NGX_ERROR, NULL, ar->data);
        return;
    }

    if (PQntuples(res) == 0) {
        /* gone, or unpublished meanwhile */
        ar->handler(ar->op, NGX_DECLINED, NULL, ar->data);
        return;
    }

    aid = ngx_http_mastodon_pg_pool_int64(ar->op->pool, ar->id);

    if (aid == NULL || ngx_http_mastodon_json_op_init(ar->op, &j) != NGX_OK) {
        ar->handler(ar->op, NGX_ERROR, NULL, ar->data);
        return;
    }

    if (ar->name.data == NULL) {
        ngx_http_mastodon_announcement_write(&j, res, 0, 0);

    } else {
        /* PublishAnnouncementReactionWorker: with announcement_id */
        id = ngx_http_mastodon_pg_str(res, 0, 1);
        file = ngx_http_mastodon_pg_str(res, 0, 2);

        ngx_http_mastodon_json_open(&j, NULL);
        ngx_http_mastodon_reaction_members(&j, &ar->name,
                                     ngx_http_mastodon_pg_int(res, 0, 0), -1,
                                     &id, &file);
        ngx_http_mastodon_json_kv_cstr(&j, "announcement_id", aid);
        ngx_http_mastodon_json_close(&j);
    }

    if (ngx_http_mastodon_json_string(&j, &out) != NGX_OK) {
        ar->handler(ar->op, NGX_ERROR, NULL, ar->data);
        return;
    }

    ar->handler(ar->op, NGX_OK, &out, ar->data);
}


/* POST /api/v1/announcements/:id/dismiss */
ngx_int_t
ngx_http_mastodon_announcement_dismiss(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    const char  **values;

    values = ngx_palloc(r->pool, 2 * sizeof(char *));
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[0] = ngx_http_mastodon_pg_int64(r, ctx->auth->account_id);
    values[1] = ngx_http_mastodon_pg_int64(r,
                                     ngx_http_mastodon_capture_id(ctx, 0));
    if (values[0] == NULL || values[1] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_pg_query(r,
                                      &ngx_http_mastodon_announcement_mute,
                                      values,
                                      ngx_http_mastodon_empty_if_found, NULL);
}


/* PUT and DELETE /api/v1/announcements/:id/reactions/:name */
ngx_int_t
ngx_http_mastodon_announcement_reaction(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    u_char       *name, *dst, *src;
    const char  **values;

    values = ngx_palloc(r->pool, 4 * sizeof(char *));
    name = ngx_pnalloc(r->pool, ctx->captures[1].len + 1);
    if (values == NULL || name == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the name as sent, percent-decoded: an emoji or a shortcode */
    src = ctx->captures[1].data;
    dst = name;
    ngx_unescape_uri(&dst, &src, ctx->captures[1].len, 0);
    *dst = '\0';

    if (mstdn_utf8_check(name, dst - name, 0) != (size_t) -1) {
        return NGX_HTTP_NOT_FOUND;
    }

    values[0] = ngx_http_mastodon_pg_int64(r, ctx->auth->account_id);
    values[1] = ngx_http_mastodon_pg_int64(r,
                                     ngx_http_mastodon_capture_id(ctx, 0));
    values[2] = (const char *) name;
    values[3] = ngx_http_mastodon_unicode_emoji(name, dst - name)
                ? "true" : "false";
    if (values[0] == NULL || values[1] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->method == NGX_HTTP_DELETE) {
        return ngx_http_mastodon_pg_query(r,
                                          &ngx_http_mastodon_reaction_remove,
                                          values,
                                          ngx_http_mastodon_reaction_removed,
                                          NULL);
    }

    if (dst == name) {
        /* validates :name, presence: true */
        ctx->error_message = "Validation failed: Name can't be blank";
        return 422;
    }

    return ngx_http_mastodon_pg_query(r, &ngx_http_mastodon_reaction_add,
                                      values,
                                      ngx_http_mastodon_reaction_added, NULL);
}


static void
ngx_http_mastodon_reaction_added(ngx_http_mastodon_pg_batch_t *b)
{
    PGresult                 *res;
    ngx_http_request_t       *r;
    ngx_http_mastodon_ctx_t  *ctx;

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

    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    /* ReactionValidator's two errors, in its order */
    if (!ngx_http_mastodon_pg_bool(res, 0, 0)) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: announcement reaction: not an emoji");
        ctx->error_message = "Validation failed: Name is not a recognized"
                             " emoji";
        ngx_http_mastodon_finalize(r, 422);
        return;
    }

    if (ngx_http_mastodon_pg_bool(res, 0, 1)) {
        ctx->error_message = "Validation failed: Maximum number of different"
                             " reactions reached";
        ngx_http_mastodon_finalize(r, 422);
        return;
    }

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_send_empty(r));
}


static void
ngx_http_mastodon_reaction_removed(ngx_http_mastodon_pg_batch_t *b)
{
    PGresult  *res;

    res = ngx_http_mastodon_pg_rows(b, 0);

    if (res == NULL) {
        ngx_http_mastodon_finalize(b->request, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    /* find_by!: no such reaction of the user's is a 404 */
    ngx_http_mastodon_finalize(b->request,
                               ngx_http_mastodon_pg_int(res, 0, 0) == 0
                               ? NGX_HTTP_NOT_FOUND
                               : ngx_http_mastodon_send_empty(b->request));
}


/*
 * Whether a name is one Unicode emoji (Mastodon's emoji_map.json keys):
 * at most 10 code points (sequences joined by ZWJ, skin tones, flags,
 * keycaps), the first of which is in the emoji blocks, the others emoji,
 * modifiers, variation selectors, ZWJ or keycap digits.
 */
static ngx_uint_t
ngx_http_mastodon_unicode_emoji(u_char *p, size_t len)
{
    u_char      *last;
    uint32_t     c;
    ngx_uint_t   n;

    last = p + len;

    for (n = 0; p < last; n++) {
        c = ngx_utf8_decode(&p, last - p);

        if (c > 0x10ffff || n == 10) {
            return 0;
        }

        if ((c >= 0x1f000 && c <= 0x1faff)          /* pictographs, flags */
            || (c >= 0x2190 && c <= 0x2bff)         /* arrows, symbols */
            || c == 0x00a9 || c == 0x00ae || c == 0x203c || c == 0x2049
            || c == 0x2122 || c == 0x2139 || c == 0x3030 || c == 0x303d
            || c == 0x3297 || c == 0x3299)
        {
            continue;
        }

        /* not first: ZWJ, variation selectors, keycap, tags */
        if (n > 0
            && (c == 0x200d || c == 0xfe0f || c == 0xfe0e || c == 0x20e3
                || (c >= 0xe0020 && c <= 0xe007f)))
        {
            continue;
        }

        /* a keycap's digit, # or * first */
        if (n == 0 && ((c >= '0' && c <= '9') || c == '#' || c == '*')
            && len > 1)
        {
            continue;
        }

        return 0;
    }

    return n > 0;
}
