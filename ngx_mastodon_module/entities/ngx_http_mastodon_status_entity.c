/*
 * The Status entity for a viewer.
 *
 * A status is rendered in two parts.  What every viewer sees alike (text,
 * counters, mentions, tags, ...) is a JSON object cached in Redis as
 * mastodon:status:<id> ("<account id> <reblog_of_id or 0> <visibility>\n"
 * + the object); the author's Account, the reblogged status and the
 * viewer's flags are stitched in per request.  Loading n statuses costs one
 * Redis round trip (a script returns each cached object and, for reblogs,
 * the original's) and one PostgreSQL batch: what the viewer may see, its
 * flags, the authors' accounts, and the rendering of cache misses, which
 * then fill the cache.
 */

#include "ngx_http_mastodon_entities.h"
#include "ngx_http_mastodon_cache.h"
#include "mstdn_json.h"
#include "mstdn_text.h"
#include "mstdn_filter.h"


#define NGX_HTTP_MASTODON_STATUS_KEY      "mastodon:status:"
#define NGX_HTTP_MASTODON_STATUS_TTL      "86400"
#define NGX_HTTP_MASTODON_STATUS_MAX      8200    /* ids per load: a context */
#define NGX_HTTP_MASTODON_ACCOUNT_SLOTS   4096    /* the worker's account cache */
#define NGX_HTTP_MASTODON_ACCOUNT_PAGE    80      /* loads that may use it */

#define NGX_HTTP_MASTODON_TIME(col)                                           \
    "to_char(" col ", 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"


static void ngx_http_mastodon_statuses_cached(ngx_http_mastodon_op_t *op,
    redisReply *reply, void *data);
static ngx_int_t ngx_http_mastodon_statuses_query(
    ngx_http_mastodon_statuses_t *st);
static ngx_int_t ngx_http_mastodon_statuses_link(
    ngx_http_mastodon_statuses_t *st);
static ngx_int_t ngx_http_mastodon_statuses_post(
    ngx_http_mastodon_statuses_t *st);
static void ngx_http_mastodon_statuses_judge(ngx_http_mastodon_statuses_t *st,
    ngx_http_mastodon_status_item_t *it, ngx_uint_t rel);
static void ngx_http_mastodon_statuses_loaded(ngx_http_mastodon_pg_batch_t *b);
static ngx_int_t ngx_http_mastodon_statuses_render(
    ngx_http_mastodon_statuses_t *st, PGresult *res, PGresult *media);
static void ngx_http_mastodon_status_media(ngx_http_mastodon_json_t *j,
    PGresult *media, int64_t id);
static void ngx_http_mastodon_statuses_fill(ngx_http_mastodon_statuses_t *st,
    ngx_str_t *keys, ngx_str_t *values, ngx_uint_t n);
static ngx_int_t ngx_http_mastodon_status_assemble(
    ngx_http_mastodon_statuses_t *st, ngx_uint_t i, ngx_uint_t viewer,
    ngx_str_t *out);
static ngx_int_t ngx_http_mastodon_statuses_filter(
    ngx_http_mastodon_statuses_t *st, PGresult *res);
static ngx_int_t ngx_http_mastodon_statuses_rehash(
    ngx_http_mastodon_statuses_t *st, ngx_uint_t n);
static ngx_int_t ngx_http_mastodon_status_html_pool(ngx_pool_t *pool,
    ngx_http_mastodon_main_conf_t *mcf, ngx_str_t *text,
    mstdn_value_t *mentions, ngx_str_t *html);
static mstdn_value_t *ngx_http_mastodon_status_mentions_pool(ngx_pool_t *pool,
    PGresult *res, int row, int col);


/*
 * KEYS: mastodon:status:<id>...  Returns two values per key: the cached
 * status, and for a reblog the cached original (or nil).
 */
static const char  ngx_http_mastodon_statuses_get_lua[] =
    "local out = {}\n"
    "for i, k in ipairs(KEYS) do\n"
    "  local v = redis.call('GET', k)\n"
    "  local o = false\n"
    "  if v then\n"
    "    local r = string.match(v, '^%d+ (%d+) ')\n"
    "    if r and r ~= '0' then\n"
    "      o = redis.call('GET', '" NGX_HTTP_MASTODON_STATUS_KEY "' .. r)\n"
    "    end\n"
    "  end\n"
    "  out[2 * i - 1] = v\n"
    "  out[2 * i] = o\n"
    "end\n"
    "return out\n";

/* KEYS: status keys, ARGV: their values; not while a change is recent */
static const char  ngx_http_mastodon_statuses_fill_lua[] =
    "for i, k in ipairs(KEYS) do\n"
    "  if redis.call('EXISTS', 'mastodon:status_changed:' .. string.sub(k, "
    "17)) == 0 then\n"
    "    redis.call('SET', k, ARGV[i], 'EX', " NGX_HTTP_MASTODON_STATUS_TTL
    ")\n"
    "  end\n"
    "end\n"
    "return 0\n";

/* and every node's render cache forgets them too */
static const char  ngx_http_mastodon_statuses_forget_lua[] =
    "local ids = {}\n"
    "for i, k in ipairs(KEYS) do\n"
    "  ids[i] = string.sub(k, 17)\n"
    "  redis.call('DEL', k)\n"
    "  redis.call('SET', 'mastodon:status_changed:' .. ids[i],"
    " '1', 'EX', 10)\n"
    "end\n"
    "redis.call('PUBLISH', '" NGX_HTTP_MASTODON_CACHE_CHANNEL "',"
    " 'status ' .. table.concat(ids, ' '))\n"
    "return 0\n";


/*
 * The worker's cache of rendered accounts (mastodon_account_cache): a page of
 * cached statuses then needs no accounts statement and no account
 * rendering.  Direct-mapped by id; an entry is used until it expires.
 */
typedef struct {
    int64_t                           id;
    ngx_msec_t                        expires;
    u_char                           *json;
    size_t                            len;
    size_t                            size;
} ngx_http_mastodon_account_slot_t;

static ngx_http_mastodon_account_slot_t
    ngx_http_mastodon_account_slots[NGX_HTTP_MASTODON_ACCOUNT_SLOTS];


static ngx_http_mastodon_account_slot_t *
ngx_http_mastodon_account_slot(int64_t id)
{
    uint64_t  h;

    h = (uint64_t) id * 0x9E3779B97F4A7C15ULL;

    return &ngx_http_mastodon_account_slots[(h >> 40)
                                       & (NGX_HTTP_MASTODON_ACCOUNT_SLOTS - 1)];
}


static void
ngx_http_mastodon_account_cache_put(ngx_http_mastodon_statuses_t *st,
    int64_t id, ngx_str_t *json)
{
    u_char                            *p;
    ngx_http_mastodon_main_conf_t     *mcf;
    ngx_http_mastodon_account_slot_t  *e;

    mcf = st->conf;
    if (mcf->account_cache == 0) {
        return;
    }

    e = ngx_http_mastodon_account_slot(id);

    if (e->size < json->len) {
        p = ngx_alloc(json->len, st->op->log);
        if (p == NULL) {
            return;
        }
        ngx_free(e->json);
        e->json = p;
        e->size = json->len;
    }

    e->id = id;
    e->expires = ngx_current_msec + mcf->account_cache;
    e->len = json->len;
    ngx_memcpy(e->json, json->data, json->len);
}


static ngx_http_mastodon_account_slot_t *
ngx_http_mastodon_account_cache_get(int64_t id)
{
    ngx_http_mastodon_account_slot_t  *e;

    e = ngx_http_mastodon_account_slot(id);

    if (e->id != id || e->json == NULL
        || (ngx_msec_int_t) (e->expires - ngx_current_msec) <= 0)
    {
        return NULL;
    }

    return e;
}


/*
 * All authors of a page of cached statuses from the worker's cache, copied
 * into the operation (the cache may change before the answer is written).
 * NGX_DECLINED: some are not there, the accounts statement runs.
 */
static ngx_int_t
ngx_http_mastodon_statuses_cached_accounts(ngx_http_mastodon_statuses_t *st)
{
    u_char                            *p;
    size_t                             size;
    ngx_uint_t                         i, k, n;
    ngx_http_mastodon_main_conf_t     *mcf;
    ngx_http_mastodon_status_item_t   *it;
    ngx_http_mastodon_account_slot_t  *e;

    mcf = st->conf;

    if (mcf->account_cache == 0 || st->n > NGX_HTTP_MASTODON_ACCOUNT_PAGE) {
        return NGX_DECLINED;
    }

    it = st->items.elts;
    size = 0;

    for (i = 0; i < st->items.nelts; i++) {
        if (it[i].base.len == 0 || it[i].account_id <= 0) {
            return NGX_DECLINED;
        }

        e = ngx_http_mastodon_account_cache_get(it[i].account_id);
        if (e == NULL) {
            return NGX_DECLINED;
        }

        size += e->len;
    }

    st->account_json = ngx_pcalloc(st->pool,
                                   (st->items.nelts + 1) * sizeof(ngx_str_t));
    /* room for every item's (an author's twice at most): one allocation */
    p = ngx_pnalloc(st->pool, size);
    if (st->account_json == NULL || p == NULL) {
        return NGX_ERROR;
    }

    n = 0;

    for (i = 0; i < st->items.nelts; i++) {
        for (k = 0; k < i; k++) {
            if (it[k].account_id == it[i].account_id) {
                break;
            }
        }

        if (k < i) {
            it[i].account = it[k].account;
            continue;
        }

        e = ngx_http_mastodon_account_cache_get(it[i].account_id);

        st->account_json[n].data = p;
        st->account_json[n].len = e->len;
        p = ngx_cpymem(p, e->json, e->len);
        it[i].account = n++;
    }

    st->cached_accounts = 1;

    return NGX_OK;
}


/*
 * $1 the viewer (NULL: anonymous), $2 the ids: a row for each of them and
 * what they reblog; the viewer's relations to the statuses and their
 * authors as arrays (computed once: every row has the same), so that the
 * visibility rule (mastodon_visible_to() in SQL, statuses_judge() here)
 * and the hiding by blocks, mutes and domain blocks are applied in C.  A
 * correlated subquery per status and rule cost three times as much, most of
 * it starting up its many plan nodes; so did calling the SQL function per
 * status (the status endpoint answered 30% fewer requests).
 */
#define NGX_HTTP_MASTODON_SM_ARRAY(col, from, where)                          \
    " (SELECT array_agg(" col ") FROM " from " WHERE " where ")"

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_statuses_meta_stmt =
    ngx_http_mastodon_pg_stmt(
    "WITH s AS MATERIALIZED (SELECT id, account_id, reblog_of_id,"
    "  visibility, deleted_at, conversation_id, poll_id FROM statuses"
    "  WHERE id = ANY($2::bigint[])"
    " UNION SELECT o.id, o.account_id, o.reblog_of_id, o.visibility,"
    "  o.deleted_at, o.conversation_id, o.poll_id FROM statuses r"
    "  JOIN statuses o ON o.id = r.reblog_of_id"
    "  WHERE r.id = ANY($2::bigint[])),"
    " a AS MATERIALIZED (SELECT DISTINCT account_id FROM s)"
    " SELECT s.id, s.account_id, coalesce(s.reblog_of_id, 0), s.visibility,"
    " s.deleted_at IS NULL,"
    " $1::bigint IS NOT NULL AND s.visibility >= 2 AND EXISTS (SELECT 1"
    "  FROM mentions m WHERE m.status_id = s.id"
    "  AND m.account_id = $1::bigint),"
    " $1::bigint IS NOT NULL AND s.conversation_id IS NOT NULL"
    "  AND EXISTS (SELECT 1 FROM conversation_mutes cm"
    "  WHERE cm.conversation_id = s.conversation_id"
    "  AND cm.account_id = $1::bigint),"
    NGX_HTTP_MASTODON_SM_ARRAY("f.status_id", "favourites f",
        "f.account_id = $1::bigint AND f.status_id IN (SELECT id FROM s)") ","
    NGX_HTTP_MASTODON_SM_ARRAY("b.status_id", "bookmarks b",
        "b.account_id = $1::bigint AND b.status_id IN (SELECT id FROM s)") ","
    NGX_HTTP_MASTODON_SM_ARRAY("p.status_id", "status_pins p",
        "p.account_id = $1::bigint AND p.status_id IN (SELECT id FROM s)") ","
    NGX_HTTP_MASTODON_SM_ARRAY("rb.reblog_of_id", "statuses rb",
        "rb.account_id = $1::bigint AND rb.reblog_of_id IN"
        " (SELECT id FROM s) AND rb.deleted_at IS NULL") ","
    NGX_HTTP_MASTODON_SM_ARRAY("x.id", "accounts x",
        "x.id IN (SELECT account_id FROM a)"
        " AND x.suspended_at IS NOT NULL") ","
    NGX_HTTP_MASTODON_SM_ARRAY("fo.target_account_id", "follows fo",
        "fo.account_id = $1::bigint AND fo.target_account_id IN"
        " (SELECT account_id FROM a)") ","
    NGX_HTTP_MASTODON_SM_ARRAY("bl.target_account_id", "blocks bl",
        "bl.account_id = $1::bigint AND bl.target_account_id IN"
        " (SELECT account_id FROM a)") ","
    NGX_HTTP_MASTODON_SM_ARRAY("bb.account_id", "blocks bb",
        "bb.target_account_id = $1::bigint AND bb.account_id IN"
        " (SELECT account_id FROM a)") ","
    NGX_HTTP_MASTODON_SM_ARRAY("mu.target_account_id", "mutes mu",
        "mu.account_id = $1::bigint AND mu.target_account_id IN"
        " (SELECT account_id FROM a) AND (mu.expires_at IS NULL"
        " OR mu.expires_at > now() AT TIME ZONE 'UTC')") ","
    NGX_HTTP_MASTODON_SM_ARRAY("x.id",
        "accounts x JOIN account_domain_blocks d ON d.domain = x.domain",
        "d.account_id = $1::bigint AND x.id IN (SELECT account_id FROM a)")
    ","
    NGX_HTTP_MASTODON_SM_ARRAY("vp.status_id::text || ':' || pv.choice",
        "poll_votes pv JOIN polls vp ON vp.id = pv.poll_id",
        "pv.poll_id IN (SELECT poll_id FROM s WHERE poll_id IS NOT NULL)"
        " AND pv.account_id = $1::bigint")
    " FROM s", 2);

enum {
    NGX_HTTP_MASTODON_SM_ID = 0,
    NGX_HTTP_MASTODON_SM_ACCOUNT,
    NGX_HTTP_MASTODON_SM_REBLOG_OF,
    NGX_HTTP_MASTODON_SM_VISIBILITY,
    NGX_HTTP_MASTODON_SM_FOUND,
    NGX_HTTP_MASTODON_SM_MENTIONED,
    NGX_HTTP_MASTODON_SM_MUTED,
    NGX_HTTP_MASTODON_SM_FAVOURITED,       /* arrays from here on */
    NGX_HTTP_MASTODON_SM_BOOKMARKED,
    NGX_HTTP_MASTODON_SM_PINNED,
    NGX_HTTP_MASTODON_SM_REBLOGGED,
    NGX_HTTP_MASTODON_SM_SUSPENDED,
    NGX_HTTP_MASTODON_SM_FOLLOWING,
    NGX_HTTP_MASTODON_SM_BLOCKING,
    NGX_HTTP_MASTODON_SM_BLOCKED_BY,
    NGX_HTTP_MASTODON_SM_MUTING,
    NGX_HTTP_MASTODON_SM_DOMAIN_BLOCKING,
    NGX_HTTP_MASTODON_SM_POLL_VOTES,       /* "<status id>:<choice>" */
    NGX_HTTP_MASTODON_SM_NCOLS
};

/*
 * The same facts when every status and author is known from the cache:
 * $1 the viewer, $2 all the statuses, $3 their authors; a row per fact
 * (kind, id, and for kind 0 the status).  No aggregates and no joins to
 * set up: half the cost of the statement above.
 */
#define NGX_HTTP_MASTODON_SM_FACT(kind, col, from, where)                     \
    " UNION ALL SELECT " kind ", " col ", 0, 0, 0, 0 FROM " from              \
    " WHERE " where

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_statuses_lean_stmt =
    ngx_http_mastodon_pg_stmt(
    "SELECT 0, s.id, s.account_id, coalesce(s.reblog_of_id, 0),"
    " s.visibility, (s.deleted_at IS NULL)::int FROM statuses s"
    " WHERE s.id = ANY($2::bigint[])"
    NGX_HTTP_MASTODON_SM_FACT("1", "f.status_id", "favourites f",
        "f.account_id = $1::bigint AND f.status_id = ANY($2::bigint[])")
    NGX_HTTP_MASTODON_SM_FACT("2", "b.status_id", "bookmarks b",
        "b.account_id = $1::bigint AND b.status_id = ANY($2::bigint[])")
    NGX_HTTP_MASTODON_SM_FACT("3", "p.status_id", "status_pins p",
        "p.account_id = $1::bigint AND p.status_id = ANY($2::bigint[])")
    NGX_HTTP_MASTODON_SM_FACT("4", "rb.reblog_of_id", "statuses rb",
        "rb.account_id = $1::bigint AND rb.reblog_of_id = ANY($2::bigint[])"
        " AND rb.deleted_at IS NULL")
    NGX_HTTP_MASTODON_SM_FACT("5", "a.id", "accounts a",
        "a.id = ANY($3::bigint[]) AND a.suspended_at IS NOT NULL")
    NGX_HTTP_MASTODON_SM_FACT("6", "fo.target_account_id", "follows fo",
        "fo.account_id = $1::bigint"
        " AND fo.target_account_id = ANY($3::bigint[])")
    NGX_HTTP_MASTODON_SM_FACT("7", "bl.target_account_id", "blocks bl",
        "bl.account_id = $1::bigint"
        " AND bl.target_account_id = ANY($3::bigint[])")
    NGX_HTTP_MASTODON_SM_FACT("8", "bb.account_id", "blocks bb",
        "bb.target_account_id = $1::bigint"
        " AND bb.account_id = ANY($3::bigint[])")
    NGX_HTTP_MASTODON_SM_FACT("9", "mu.target_account_id", "mutes mu",
        "mu.account_id = $1::bigint"
        " AND mu.target_account_id = ANY($3::bigint[])"
        " AND (mu.expires_at IS NULL"
        " OR mu.expires_at > now() AT TIME ZONE 'UTC')")
    NGX_HTTP_MASTODON_SM_FACT("10", "a.id",
        "accounts a JOIN account_domain_blocks d ON d.domain = a.domain",
        "d.account_id = $1::bigint AND a.id = ANY($3::bigint[])")
    NGX_HTTP_MASTODON_SM_FACT("11", "m.status_id", "mentions m",
        "m.account_id = $1::bigint AND m.status_id = ANY($2::bigint[])")
    NGX_HTTP_MASTODON_SM_FACT("12", "ms.id",
        "statuses ms JOIN conversation_mutes cm"
        " ON cm.conversation_id = ms.conversation_id",
        "cm.account_id = $1::bigint AND ms.id = ANY($2::bigint[])")
    /* the viewer's votes: kind 13, the status, the choice */
    " UNION ALL SELECT 13, vp.status_id, pv.choice, 0, 0, 0"
    " FROM polls vp JOIN poll_votes pv ON pv.poll_id = vp.id"
    " WHERE vp.status_id = ANY($2::bigint[]) AND pv.account_id = $1::bigint",
    3);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_statuses_accounts_stmt =
    ngx_http_mastodon_pg_stmt(
    "SELECT " NGX_HTTP_MASTODON_ACCOUNT_COLUMNS NGX_HTTP_MASTODON_ACCOUNT_FROM
    " WHERE a.id IN (SELECT st.account_id FROM statuses st"
    "  WHERE st.id = ANY($1::bigint[])"
    " UNION SELECT o.account_id FROM statuses st"
    "  JOIN statuses o ON o.id = st.reblog_of_id"
    "  WHERE st.id = ANY($1::bigint[]))", 1);

/* what every viewer sees alike, for the cache: the columns and tables */
#define NGX_HTTP_MASTODON_SR_SELECT                                           \
    "SELECT s.id, s.account_id, coalesce(s.reblog_of_id, 0), s.visibility, "  \
    NGX_HTTP_MASTODON_TIME("s.created_at") ","                                \
    " s.in_reply_to_id, s.in_reply_to_account_id, s.sensitive,"               \
    " s.spoiler_text, s.language, s.uri, s.url,"                              \
    " coalesce(ss.replies_count, 0), coalesce(ss.reblogs_count, 0),"          \
    " coalesce(ss.favourites_count, 0), coalesce(ss.quotes_count, 0), "       \
    NGX_HTTP_MASTODON_TIME("s.edited_at") ","                                 \
    " s.text, a.domain IS NULL, a.username, app.name, app.website,"           \
    " " NGX_HTTP_MASTODON_ST_SQL_MENTIONS("s") ","                            \
    " (SELECT json_agg(t.name ORDER BY t.id) FROM statuses_tags stt"          \
    "  JOIN tags t ON t.id = stt.tag_id WHERE stt.status_id = s.id), "        \
    NGX_HTTP_MASTODON_EMOJIS_SQL("a.domain",                                  \
                                 "s.spoiler_text || ' ' || s.text") ", "      \
    NGX_HTTP_MASTODON_ST_SQL_POLL("s")
#define NGX_HTTP_MASTODON_SR_FROM                                             \
    " FROM statuses s JOIN accounts a ON a.id = s.account_id"                 \
    " LEFT JOIN status_stats ss ON ss.status_id = s.id"                       \
    " LEFT JOIN oauth_applications app ON app.id = s.application_id"

/*
 * The attachments of the statuses rendered (Status#ordered_media_attachments:
 * those of ordered_media_attachment_ids in its order, all attached ones
 * when it is NULL): the status id, then the MediaAttachment columns.
 */
#define NGX_HTTP_MASTODON_SR_MEDIA(where)                                     \
    "SELECT s.id, " NGX_HTTP_MASTODON_MEDIA_COLUMNS                           \
    " FROM statuses s JOIN media_attachments m ON m.status_id = s.id"         \
    " WHERE " where " AND (s.ordered_media_attachment_ids IS NULL"            \
    "  OR m.id = ANY(s.ordered_media_attachment_ids))"                        \
    " ORDER BY s.id, array_position(s.ordered_media_attachment_ids, m.id),"   \
    " m.id"

#define NGX_HTTP_MASTODON_SR_MISSES                                           \
    "(SELECT id FROM statuses"                                                \
    "  WHERE id = ANY($1::bigint[]) UNION SELECT reblog_of_id FROM statuses"  \
    "  WHERE id = ANY($1::bigint[]) AND reblog_of_id IS NOT NULL)"

/* misses and their originals */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_statuses_media_stmt =
    ngx_http_mastodon_pg_stmt(
    NGX_HTTP_MASTODON_SR_MEDIA("s.id IN " NGX_HTTP_MASTODON_SR_MISSES), 1);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_statuses_render_stmt =
    ngx_http_mastodon_pg_stmt(
    NGX_HTTP_MASTODON_SR_SELECT NGX_HTTP_MASTODON_SR_FROM
    " WHERE s.deleted_at IS NULL AND s.id IN " NGX_HTTP_MASTODON_SR_MISSES,
    1);

/*
 * The status the same transaction just wrote (its id in the setting
 * mastodon.written), and whether its author muted its conversation: a
 * post is rendered from the batch that makes it, without a second load.
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_statuses_written_stmt =
    ngx_http_mastodon_pg_stmt(
    NGX_HTTP_MASTODON_SR_SELECT ","
    " EXISTS (SELECT 1 FROM conversation_mutes cm"
    "  WHERE cm.account_id = s.account_id"
    "  AND cm.conversation_id = s.conversation_id)"
    NGX_HTTP_MASTODON_SR_FROM
    " WHERE s.id = nullif(current_setting('" NGX_HTTP_MASTODON_ST_WRITTEN "',"
    " true), '')::bigint", 0);

static ngx_http_mastodon_pg_stmt_t
    ngx_http_mastodon_statuses_written_media_stmt =
    ngx_http_mastodon_pg_stmt(
    NGX_HTTP_MASTODON_SR_MEDIA("s.id = nullif(current_setting('"
    NGX_HTTP_MASTODON_ST_WRITTEN "', true), '')::bigint"), 0);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_statuses_author_stmt =
    ngx_http_mastodon_pg_stmt(
    "SELECT " NGX_HTTP_MASTODON_ACCOUNT_COLUMNS NGX_HTTP_MASTODON_ACCOUNT_FROM
    " WHERE a.id = (SELECT account_id FROM statuses"
    "  WHERE id = nullif(current_setting('" NGX_HTTP_MASTODON_ST_WRITTEN "',"
    "  true), '')::bigint)", 0);

/*
 * The statuses a merged post batch just wrote, their ids comma-separated
 * in the same setting; rows keyed by column 0 (the status, or the author
 * for the accounts), which the requests' slices select.  The statuses are
 * planned for each group: a connection's generic plan hashed the whole of
 * status_stats when it was made while the table was small, and kept
 * scanning it as posts made it grow (planning the authors each time cost
 * more than it saved).
 */
#define NGX_HTTP_MASTODON_ST_WRITTEN_MANY                                     \
    "ANY(string_to_array(current_setting('" NGX_HTTP_MASTODON_ST_WRITTEN     \
    "', true), ',')::bigint[])"

static ngx_http_mastodon_pg_stmt_t
    ngx_http_mastodon_statuses_written_many_stmt =
    ngx_http_mastodon_pg_unnamed_stmt(
    NGX_HTTP_MASTODON_SR_SELECT ","
    " EXISTS (SELECT 1 FROM conversation_mutes cm"
    "  WHERE cm.account_id = s.account_id"
    "  AND cm.conversation_id = s.conversation_id)"
    NGX_HTTP_MASTODON_SR_FROM
    " WHERE s.id = " NGX_HTTP_MASTODON_ST_WRITTEN_MANY, 0);

static ngx_http_mastodon_pg_stmt_t
    ngx_http_mastodon_statuses_written_many_media_stmt =
    ngx_http_mastodon_pg_stmt(
    NGX_HTTP_MASTODON_SR_MEDIA("s.id = " NGX_HTTP_MASTODON_ST_WRITTEN_MANY),
    0);

static ngx_http_mastodon_pg_stmt_t
    ngx_http_mastodon_statuses_many_authors_stmt =
    ngx_http_mastodon_pg_stmt(
    "SELECT " NGX_HTTP_MASTODON_ACCOUNT_COLUMNS NGX_HTTP_MASTODON_ACCOUNT_FROM
    " WHERE a.id IN (SELECT account_id FROM statuses"
    "  WHERE id = " NGX_HTTP_MASTODON_ST_WRITTEN_MANY ")", 0);

enum {
    NGX_HTTP_MASTODON_SR_ID = 0,
    NGX_HTTP_MASTODON_SR_ACCOUNT,
    NGX_HTTP_MASTODON_SR_REBLOG_OF,
    NGX_HTTP_MASTODON_SR_VISIBILITY,
    NGX_HTTP_MASTODON_SR_CREATED_AT,
    NGX_HTTP_MASTODON_SR_IN_REPLY_TO,
    NGX_HTTP_MASTODON_SR_IN_REPLY_TO_ACCOUNT,
    NGX_HTTP_MASTODON_SR_SENSITIVE,
    NGX_HTTP_MASTODON_SR_SPOILER,
    NGX_HTTP_MASTODON_SR_LANGUAGE,
    NGX_HTTP_MASTODON_SR_URI,
    NGX_HTTP_MASTODON_SR_URL,
    NGX_HTTP_MASTODON_SR_REPLIES,
    NGX_HTTP_MASTODON_SR_REBLOGS,
    NGX_HTTP_MASTODON_SR_FAVOURITES,
    NGX_HTTP_MASTODON_SR_QUOTES,
    NGX_HTTP_MASTODON_SR_EDITED_AT,
    NGX_HTTP_MASTODON_SR_TEXT,
    NGX_HTTP_MASTODON_SR_LOCAL,
    NGX_HTTP_MASTODON_SR_USERNAME,
    NGX_HTTP_MASTODON_SR_APP_NAME,
    NGX_HTTP_MASTODON_SR_APP_WEBSITE,
    NGX_HTTP_MASTODON_SR_MENTIONS,
    NGX_HTTP_MASTODON_SR_TAGS,
    NGX_HTTP_MASTODON_SR_EMOJIS,
    NGX_HTTP_MASTODON_SR_POLL,
    NGX_HTTP_MASTODON_SR_WRITTEN_MUTED     /* the written statement's */
};


static const char  *ngx_http_mastodon_visibilities[] = {
    "public", "unlisted", "private", "direct", "limited"
};


ngx_http_mastodon_statuses_t *
ngx_http_mastodon_statuses(ngx_http_request_t *r, int64_t *ids, ngx_uint_t n,
    ngx_uint_t flags)
{
    int64_t                   viewer;
    ngx_http_mastodon_op_t   *op;
    ngx_http_mastodon_ctx_t  *ctx;

    op = ngx_http_mastodon_request_op(r);
    if (op == NULL) {
        return NULL;
    }

    viewer = 0;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);
    if (ctx && ctx->auth && ctx->auth->user_id) {
        viewer = ctx->auth->account_id;
    }

    return ngx_http_mastodon_statuses_op(op, viewer, ids, n, flags);
}


/* The same for any operation; viewer: an account id, 0: anonymous. */
ngx_http_mastodon_statuses_t *
ngx_http_mastodon_statuses_op(ngx_http_mastodon_op_t *op, int64_t viewer,
    int64_t *ids, ngx_uint_t n, ngx_uint_t flags)
{
    ngx_uint_t                        i;
    ngx_http_mastodon_statuses_t     *st;
    ngx_http_mastodon_status_item_t  *it;

    if (n > NGX_HTTP_MASTODON_STATUS_MAX) {
        n = NGX_HTTP_MASTODON_STATUS_MAX;
    }

    st = ngx_pcalloc(op->pool, sizeof(ngx_http_mastodon_statuses_t));
    if (st == NULL) {
        return NULL;
    }

    if (ngx_array_init(&st->items, op->pool, 2 * n + 1,
                       sizeof(ngx_http_mastodon_status_item_t))
        != NGX_OK)
    {
        return NULL;
    }

    st->op = op;
    st->pool = op->pool;
    st->request = op->owner_kind == NGX_HTTP_MASTODON_OP_REQUEST ? op->owner
                                                                 : NULL;
    st->conf = st->request
               ? ngx_http_get_module_main_conf(st->request,
                                               ngx_http_mastodon_module)
               : ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                                     ngx_http_mastodon_module);
    st->viewer = viewer;
    st->flags = flags;
    st->n = n;

    for (i = 0; i < n; i++) {
        it = ngx_array_push(&st->items);
        ngx_memzero(it, sizeof(ngx_http_mastodon_status_item_t));
        it->id = ids[i];
        it->account = -1;
        it->reblog = -1;
    }

    /* room for the reblogged ones too */
    if (ngx_http_mastodon_statuses_rehash(st, 2 * n) != NGX_OK) {
        return NULL;
    }

    return st;
}


/*
 * Items by id: open addressing over item indexes, at most half full (a
 * thread's context loads thousands of statuses: no linear searches).
 */
static ngx_uint_t
ngx_http_mastodon_statuses_slot(ngx_http_mastodon_statuses_t *st, int64_t id)
{
    uint64_t  h;

    h = (uint64_t) id * 0x9E3779B97F4A7C15ULL;

    return (ngx_uint_t) (h >> 32) & (st->nslots - 1);
}


static ngx_int_t
ngx_http_mastodon_statuses_rehash(ngx_http_mastodon_statuses_t *st,
    ngx_uint_t n)
{
    ngx_uint_t                        i, k, size;
    ngx_http_mastodon_status_item_t  *it;

    for (size = 16; size < 2 * (n + 1); size <<= 1) { /* void */ }

    st->slots = ngx_pcalloc(st->pool, size * sizeof(ngx_uint_t));
    if (st->slots == NULL) {
        return NGX_ERROR;
    }

    st->nslots = size;
    it = st->items.elts;

    for (i = 0; i < st->items.nelts; i++) {
        for (k = ngx_http_mastodon_statuses_slot(st, it[i].id);
             st->slots[k];
             k = (k + 1) & (size - 1))
        {
            if (it[st->slots[k] - 1].id == it[i].id) {
                break;              /* a duplicate id: the first one wins */
            }
        }

        if (st->slots[k] == 0) {
            st->slots[k] = i + 1;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_mastodon_statuses_find(ngx_http_mastodon_statuses_t *st, int64_t id)
{
    ngx_uint_t                        k;
    ngx_http_mastodon_status_item_t  *it;

    it = st->items.elts;

    for (k = ngx_http_mastodon_statuses_slot(st, id);
         st->slots[k];
         k = (k + 1) & (st->nslots - 1))
    {
        if (it[st->slots[k] - 1].id == id) {
            return st->slots[k] - 1;
        }
    }

    return -1;
}


static ngx_http_mastodon_status_item_t *
ngx_http_mastodon_statuses_add(ngx_http_mastodon_statuses_t *st, int64_t id)
{
    ngx_int_t                         k;
    ngx_uint_t                        slot;
    ngx_http_mastodon_status_item_t  *it;

    k = ngx_http_mastodon_statuses_find(st, id);
    if (k >= 0) {
        return (ngx_http_mastodon_status_item_t *) st->items.elts + k;
    }

    it = ngx_array_push(&st->items);
    if (it == NULL) {
        return NULL;
    }

    ngx_memzero(it, sizeof(ngx_http_mastodon_status_item_t));
    it->id = id;
    it->account = -1;
    it->reblog = -1;

    if (2 * st->items.nelts >= st->nslots) {
        if (ngx_http_mastodon_statuses_rehash(st, 2 * st->items.nelts)
            != NGX_OK)
        {
            return NULL;
        }

        return (ngx_http_mastodon_status_item_t *) st->items.elts
               + st->items.nelts - 1;
    }

    for (slot = ngx_http_mastodon_statuses_slot(st, id);
         st->slots[slot];
         slot = (slot + 1) & (st->nslots - 1))
    { /* void */ }

    st->slots[slot] = st->items.nelts;

    return it;
}


/*
 * "<account id> <reblog_of_id> <visibility>\n{...}" (a cache entry, Redis'
 * or the render cache's) into the item; returns the original's id for a
 * reblog, 0 otherwise or if the entry was not taken.
 */
static int64_t
ngx_http_mastodon_statuses_entry(ngx_http_mastodon_status_item_t *it,
    u_char *p, size_t len)
{
    u_char  *end, *nl, *sp;

    end = p + len;

    nl = ngx_strlchr(p, end, '\n');
    if (nl == NULL || end - nl < 3 || nl[1] != '{' || end[-1] != '}') {
        return 0;                   /* not ours: rendered again */
    }

    it->base.data = nl + 1;
    it->base.len = end - nl - 1;

    /* the author and the original (the meta says them too) */
    sp = ngx_strlchr(p, nl, ' ');
    if (sp == NULL) {
        return 0;
    }

    it->account_id = ngx_atoof(p, sp - p);

    p = sp + 1;
    sp = ngx_strlchr(p, nl, ' ');
    if (sp == NULL) {
        return 0;
    }

    it->reblog_of_id = ngx_atoof(p, sp - p);
    if (it->reblog_of_id < 0) {
        it->reblog_of_id = 0;
    }

    return it->reblog_of_id;
}


/*
 * The render cache first: every status asked and every original they
 * reblog.  NGX_OK: all of them are there (no Redis round trip); else the
 * items hold what was found and Redis is asked for the rest.  Each item's
 * version is taken before anything is read for it.
 */
static ngx_int_t
ngx_http_mastodon_statuses_shared(ngx_http_mastodon_statuses_t *st)
{
    int64_t                          *ids, reblog_of;
    ngx_int_t                         rc;
    ngx_str_t                        *v;
    ngx_uint_t                        i, n, first;
    ngx_http_mastodon_status_item_t  *it, *orig;

    n = st->n;

    ids = ngx_palloc(st->pool, 2 * n * sizeof(int64_t));
    v = ngx_palloc(st->pool, n * sizeof(ngx_str_t));
    if (ids == NULL || v == NULL) {
        return NGX_ERROR;
    }

    it = st->items.elts;

    for (i = 0; i < n; i++) {
        ids[i] = it[i].id;
        it[i].version = ngx_http_mastodon_cache_version(
                                      NGX_HTTP_MASTODON_CACHE_STATUS, ids[i]);
        it[i].versioned = 1;
    }

    /* the page under one lock, then what its reblogs need under another */
    rc = ngx_http_mastodon_cache_get_many(NGX_HTTP_MASTODON_CACHE_STATUS,
                                          ids, n, st->pool, v);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    first = st->items.nelts;

    for (i = 0; i < n; i++) {
        it = (ngx_http_mastodon_status_item_t *) st->items.elts + i;

        if (v[i].len == 0 || it->base.len) {
            continue;
        }

        reblog_of = ngx_http_mastodon_statuses_entry(it, v[i].data, v[i].len);
        if (reblog_of <= 0) {
            continue;
        }

        orig = ngx_http_mastodon_statuses_add(st, reblog_of);
        if (orig == NULL) {
            return NGX_ERROR;
        }

        if (orig->versioned) {
            continue;               /* asked for already */
        }

        orig->version = ngx_http_mastodon_cache_version(
                                      NGX_HTTP_MASTODON_CACHE_STATUS,
                                      reblog_of);
        orig->versioned = 1;
    }

    n = st->items.nelts - first;
    it = st->items.elts;

    if (n) {
        for (i = 0; i < n; i++) {
            ids[i] = it[first + i].id;
        }

        rc = ngx_http_mastodon_cache_get_many(NGX_HTTP_MASTODON_CACHE_STATUS,
                                              ids, n, st->pool, v);
        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        for (i = 0; i < n; i++) {
            if (v[i].len) {
                (void) ngx_http_mastodon_statuses_entry(&it[first + i],
                                                        v[i].data, v[i].len);
            }
        }
    }

    /* every status asked and every original they reblog */
    for (i = 0; i < st->items.nelts; i++) {
        if (it[i].base.len == 0) {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_mastodon_statuses_load(ngx_http_mastodon_statuses_t *st,
    ngx_http_mastodon_statuses_done_pt handler, void *data)
{
    u_char                           *p;
    size_t                           *argvlen;
    ngx_uint_t                        i, argc;
    const char                      **argv;
    ngx_http_mastodon_status_item_t  *it;

    st->handler = handler;
    st->data = data;

    if (st->n == 0) {
        return ngx_http_mastodon_statuses_query(st);
    }

    if (ngx_http_mastodon_cache_usable()) {
        switch (ngx_http_mastodon_statuses_shared(st)) {
        case NGX_OK:
            return ngx_http_mastodon_statuses_query(st);
        case NGX_ERROR:
            return NGX_ERROR;
        default: /* NGX_DECLINED: Redis for the rest */
            break;
        }
    }

    argc = 3 + st->n;
    argv = ngx_palloc(st->pool, argc * sizeof(char *));
    argvlen = ngx_palloc(st->pool, argc * sizeof(size_t));
    if (argv == NULL || argvlen == NULL) {
        return NGX_ERROR;
    }

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = ngx_http_mastodon_statuses_get_lua;
    argvlen[1] = sizeof(ngx_http_mastodon_statuses_get_lua) - 1;

    p = ngx_pnalloc(st->pool, NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }
    argv[2] = (const char *) p;
    argvlen[2] = ngx_sprintf(p, "%ui", st->n) - p;

    it = st->items.elts;

    for (i = 0; i < st->n; i++) {
        p = ngx_pnalloc(st->pool, sizeof(NGX_HTTP_MASTODON_STATUS_KEY)
                                  + NGX_INT64_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }
        argv[3 + i] = (const char *) p;
        argvlen[3 + i] = ngx_sprintf(p, NGX_HTTP_MASTODON_STATUS_KEY "%L",
                                     it[i].id) - p;
    }

    if (ngx_http_mastodon_redis_op_command(st->op,
                                           ngx_http_mastodon_statuses_cached,
                                           st, argc, argv, argvlen)
        != NGX_OK)
    {
        /* no cache: everything from PostgreSQL */
        return ngx_http_mastodon_statuses_query(st);
    }

    return NGX_DONE;
}


/*
 * For callers whose own script read the cache (the home feed): no round
 * trip of ours.  The reply is only read during the call.
 */
ngx_int_t
ngx_http_mastodon_statuses_load_cached(ngx_http_mastodon_statuses_t *st,
    redisReply *cached, ngx_http_mastodon_statuses_done_pt handler,
    void *data)
{
    ngx_uint_t                        i;
    ngx_http_mastodon_status_item_t  *it;

    st->handler = handler;
    st->data = data;

    /* the caller read Redis before: renderings made here may fill the
     * render cache, not what Redis gave */
    if (ngx_http_mastodon_cache_usable()) {
        it = st->items.elts;
        for (i = 0; i < st->items.nelts; i++) {
            it[i].version = ngx_http_mastodon_cache_version(
                                      NGX_HTTP_MASTODON_CACHE_STATUS,
                                      it[i].id);
            it[i].versioned = 1;
            it[i].redis_late = 1;
        }
    }

    ngx_http_mastodon_statuses_cached(st->op, cached, st);

    return NGX_DONE;
}


static void
ngx_http_mastodon_statuses_cached(ngx_http_mastodon_op_t *op,
    redisReply *reply, void *data)
{
    ngx_http_mastodon_statuses_t *st = data;

    u_char                           *p;
    int64_t                           reblog_of;
    ngx_int_t                         rc;
    ngx_str_t                         v;
    ngx_uint_t                        i, n;
    redisReply                       *e;
    ngx_http_mastodon_status_item_t  *it, *orig;

    n = st->n;

    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 * n)
    {
        for (i = 0; i < n; i++) {
            it = (ngx_http_mastodon_status_item_t *) st->items.elts + i;
            e = reply->element[2 * i];

            if (it->base.len) {
                /* from the render cache, which said what it reblogs */
                reblog_of = it->reblog_of_id;

            } else if (e->type == REDIS_REPLY_STRING) {
                reblog_of = ngx_http_mastodon_statuses_entry(it,
                                                      (u_char *) e->str,
                                                      e->len);

                if (it->base.len && it->versioned && !it->redis_late) {
                    v.data = (u_char *) e->str;
                    v.len = e->len;
                    ngx_http_mastodon_cache_put(
                                      NGX_HTTP_MASTODON_CACHE_STATUS, it->id,
                                      it->version, &v);
                }

            } else {
                continue;
            }

            /* a cached reblog needs its original, cached or not */
            if (it->base.len == 0 || reblog_of <= 0) {
                continue;
            }

            orig = ngx_http_mastodon_statuses_add(st, reblog_of);
            if (orig == NULL) {
                st->rc = NGX_ERROR;
                st->handler(st->request, st, st->data);
                return;
            }

            /* read before its version: only its rendering may fill */
            if (!orig->versioned && ngx_http_mastodon_cache_usable()) {
                orig->version = ngx_http_mastodon_cache_version(
                                      NGX_HTTP_MASTODON_CACHE_STATUS,
                                      reblog_of);
                orig->versioned = 1;
                orig->redis_late = 1;
            }

            e = reply->element[2 * i + 1];

            if (orig->base.len || e->type != REDIS_REPLY_STRING) {
                continue;
            }

            (void) ngx_http_mastodon_statuses_entry(orig, (u_char *) e->str,
                                                    e->len);

            if (orig->base.len && orig->versioned && !orig->redis_late) {
                v.data = (u_char *) e->str;
                v.len = e->len;
                ngx_http_mastodon_cache_put(NGX_HTTP_MASTODON_CACHE_STATUS,
                                            orig->id, orig->version, &v);
            }
        }
    }

    /* the base pointers stay valid: hiredis frees the reply after us */
    it = st->items.elts;
    for (i = 0; i < st->items.nelts; i++) {
        if (it[i].base.len) {
            p = ngx_pnalloc(st->pool, it[i].base.len);
            if (p == NULL) {
                st->rc = NGX_ERROR;
                st->handler(st->request, st, st->data);
                return;
            }
            ngx_memcpy(p, it[i].base.data, it[i].base.len);
            it[i].base.data = p;
        }
    }

    rc = ngx_http_mastodon_statuses_query(st);

    if (rc != NGX_DONE) {
        st->rc = NGX_ERROR;
        st->handler(st->request, st, st->data);
    }
}


/*
 * The viewer's active filters (CustomFilter.cached_filters_for) and, when
 * there are any, the searchable text of the statuses asked ($2, originals
 * included): rows (filter, Filter JSON, keyword, whole_word, status) for
 * the filters' keywords and statuses, then (NULL, NULL, text, NULL,
 * status) for the texts; the last column: the filter hides what it
 * matches in context $3 (filter_action hide, $3 among its contexts).
 * Status#searchable_text: the spoiler, the plain text, the poll's options
 * and the media descriptions (mastodon_search_extra()) joined by blank
 * lines; a remote status' HTML is reduced to its text (tags dropped, the
 * usual entities decoded).
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_statuses_filters_stmt =
    ngx_http_mastodon_pg_stmt(
    "WITH f AS (SELECT f.* FROM custom_filters f"
    " WHERE f.account_id = $1::bigint AND (f.expires_at IS NULL"
    "  OR f.expires_at > now() AT TIME ZONE 'UTC'))"
    " SELECT f.id, mastodon_filter_json(f, false)::text, k.keyword,"
    "  k.whole_word, NULL::bigint,"
    "  f.action = 1 AND $3::text = ANY (f.context)"
    " FROM f JOIN custom_filter_keywords k ON k.custom_filter_id = f.id"
    " UNION ALL SELECT f.id, mastodon_filter_json(f, false)::text, NULL,"
    "  NULL, cs.status_id, f.action = 1 AND $3::text = ANY (f.context)"
    " FROM f JOIN custom_filter_statuses cs ON cs.custom_filter_id = f.id"
    " UNION ALL SELECT NULL, NULL, concat_ws(E'\\n\\n',"
    "  nullif(s.spoiler_text, ''), CASE WHEN a.domain IS NULL THEN s.text"
    "  ELSE replace(replace(replace(replace(replace(regexp_replace("
    "  regexp_replace(s.text, '<br\\s*/?>|</p>\\s*<p>', E'\\n', 'gi'),"
    "  '<[^>]*>', '', 'g'), '&lt;', '<'), '&gt;', '>'), '&quot;', '\"'),"
    "  '&#39;', ''''), '&amp;', '&') END, nullif(mastodon_search_extra(s.id,"
    "  s.poll_id, s.ordered_media_attachment_ids), '')), NULL, s.id, NULL"
    " FROM statuses s JOIN accounts a ON a.id = s.account_id"
    " WHERE s.id = ANY ($2::bigint[]) AND EXISTS (SELECT 1 FROM f)"
    " ORDER BY 1 NULLS LAST", 3);


/* the name of the list's filter context (NGX_HTTP_MASTODON_ST_HOME...) */
static const char *
ngx_http_mastodon_statuses_context(ngx_uint_t flags)
{
    if (flags & NGX_HTTP_MASTODON_ST_HOME) {
        return "home";
    }

    if (flags & NGX_HTTP_MASTODON_ST_NOTIFICATIONS) {
        return "notifications";
    }

    if (flags & NGX_HTTP_MASTODON_ST_PUBLIC) {
        return "public";
    }

    if (flags & NGX_HTTP_MASTODON_ST_THREAD) {
        return "thread";
    }

    if (flags & NGX_HTTP_MASTODON_ST_ACCOUNT) {
        return "account";
    }

    return NULL;
}


/* "{1,2,3}": a bigint[] parameter */
static const char *
ngx_http_mastodon_statuses_array(ngx_pool_t *pool, int64_t *ids,
    ngx_uint_t n)
{
    u_char      *p, *s;
    ngx_uint_t   i;

    s = ngx_pnalloc(pool, n * (NGX_INT64_LEN + 1) + 3);
    if (s == NULL) {
        return NULL;
    }

    p = s;
    *p++ = '{';

    for (i = 0; i < n; i++) {
        if (i) {
            *p++ = ',';
        }
        p = ngx_sprintf(p, "%L", ids[i]);
    }

    *p++ = '}';
    *p = '\0';

    return (const char *) s;
}


/*
 * What meta[1], meta[2] of the lean statement say: every item's id (ids,
 * room for every item) and the distinct authors (authors, as much room),
 * as the cache headers name them; sets st->lean_meta.
 */
static ngx_int_t
ngx_http_mastodon_statuses_lean_values(ngx_http_mastodon_statuses_t *st,
    int64_t *ids, int64_t *authors, ngx_uint_t *nauthors_out)
{
    ngx_uint_t                        i, k, n, nauthors;
    ngx_http_mastodon_status_item_t  *it;

    it = st->items.elts;
    n = st->items.nelts;

    if (n > NGX_HTTP_MASTODON_ACCOUNT_PAGE * 2) {
        return NGX_OK;              /* the full statement finds them */
    }

    nauthors = 0;

    for (i = 0; i < n; i++) {
        if (it[i].account_id <= 0) {
            return NGX_OK;          /* the full statement finds them */
        }

        ids[i] = it[i].id;

        for (k = 0; k < nauthors && authors[k] != it[i].account_id; k++) {
            /* void */
        }

        if (k == nauthors) {
            authors[nauthors++] = it[i].account_id;
        }
    }

    *nauthors_out = nauthors;
    st->lean_meta = 1;

    return NGX_OK;
}


static ngx_int_t
ngx_http_mastodon_statuses_query(ngx_http_mastodon_statuses_t *st)
{
    int64_t                          *ids, *misses, *lean_ids, *authors;
    ngx_int_t                         rc;
    ngx_uint_t                        i, nmisses, nauthors;
    ngx_uint_t                       *rels, ask_filters;
    const char                      **meta, **accounts, **render, **filters;
    ngx_http_mastodon_pg_batch_t     *b;
    ngx_http_mastodon_status_item_t  *it;

    it = st->items.elts;
    st->known = 0;
    st->vf_versioned = 0;

    ids = ngx_palloc(st->pool, (st->n + 1) * sizeof(int64_t));
    misses = ngx_palloc(st->pool, (st->items.nelts + 1) * sizeof(int64_t));
    if (ids == NULL || misses == NULL) {
        return NGX_ERROR;
    }

    nmisses = 0;
    nauthors = 0;
    lean_ids = NULL;
    authors = NULL;

    for (i = 0; i < st->items.nelts; i++) {
        if (i < st->n) {
            ids[i] = it[i].id;
        }
        if (it[i].base.len == 0) {
            misses[nmisses++] = it[i].id;
        }
    }

    if (nmisses == 0) {
        rc = ngx_http_mastodon_statuses_cached_accounts(st);
        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        /* every status and author known: the lean meta statement */
        lean_ids = ngx_palloc(st->pool,
                              (st->items.nelts + 1) * sizeof(int64_t));
        authors = ngx_palloc(st->pool,
                             (st->items.nelts + 1) * sizeof(int64_t));
        if (lean_ids == NULL || authors == NULL
            || ngx_http_mastodon_statuses_lean_values(st, lean_ids, authors,
                                                      &nauthors)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        /* ... or not even that: the viewer's facts are remembered */
        if (st->lean_meta) {
            rels = ngx_palloc(st->pool,
                              (st->items.nelts + 1) * sizeof(ngx_uint_t));
            if (rels == NULL) {
                return NGX_ERROR;
            }

            rc = ngx_http_mastodon_viewer_facts(st, rels);
            if (rc == NGX_ERROR) {
                return NGX_ERROR;
            }

            if (rc == NGX_OK) {
                for (i = 0; i < st->items.nelts; i++) {
                    ngx_http_mastodon_statuses_judge(st, &it[i], rels[i]);
                }
            }
        }
    }

    /* the viewer's filters, unless it is known to have none */
    st->filters = 0;
    st->filters_versioned = 0;
    ask_filters = st->viewer != 0;

    if (st->viewer && ngx_http_mastodon_cache_usable()) {
        st->filters_version = ngx_http_mastodon_cache_version(
                                  NGX_HTTP_MASTODON_CACHE_FILTERS, st->viewer);

        if (ngx_http_mastodon_cache_has(NGX_HTTP_MASTODON_CACHE_FILTERS,
                                        st->viewer))
        {
            ask_filters = 0;

        } else {
            st->filters_versioned = 1;
        }
    }

    if (st->known && st->cached_accounts && nmisses == 0 && !ask_filters) {
        /* nothing to ask PostgreSQL */
        return ngx_http_mastodon_statuses_post(st);
    }

    /* the statements' parameters */
    meta = ngx_palloc(st->pool, 3 * sizeof(char *));
    accounts = ngx_palloc(st->pool, sizeof(char *));
    render = ngx_palloc(st->pool, sizeof(char *));
    if (meta == NULL || accounts == NULL || render == NULL) {
        return NGX_ERROR;
    }

    if (st->viewer) {
        meta[0] = ngx_http_mastodon_pg_pool_int64(st->pool, st->viewer);
        if (meta[0] == NULL) {
            return NGX_ERROR;
        }

    } else {
        meta[0] = NULL;
    }

    meta[1] = ngx_http_mastodon_statuses_array(st->pool, ids, st->n);
    accounts[0] = meta[1];
    render[0] = ngx_http_mastodon_statuses_array(st->pool, misses, nmisses);
    if (meta[1] == NULL || render[0] == NULL) {
        return NGX_ERROR;
    }

    if (st->lean_meta && lean_ids) {
        meta[1] = ngx_http_mastodon_statuses_array(st->pool, lean_ids,
                                                   st->items.nelts);
        meta[2] = ngx_http_mastodon_statuses_array(st->pool, authors,
                                                   nauthors);
        if (meta[1] == NULL || meta[2] == NULL) {
            return NGX_ERROR;
        }
    }

    b = ngx_http_mastodon_pg_op_batch(st->op, ngx_http_mastodon_statuses_loaded,
                                      st);
    if (b == NULL
        || (!st->known
            && ngx_http_mastodon_pg_add(b, st->lean_meta
                                       ? &ngx_http_mastodon_statuses_lean_stmt
                                       : &ngx_http_mastodon_statuses_meta_stmt,
                                        meta)
               != NGX_OK))
    {
        return NGX_ERROR;
    }

    if (!st->cached_accounts
        && ngx_http_mastodon_pg_add(b,
                                    &ngx_http_mastodon_statuses_accounts_stmt,
                                    accounts)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (nmisses
        && (ngx_http_mastodon_pg_add(b,
                                     &ngx_http_mastodon_statuses_render_stmt,
                                     render)
            != NGX_OK
            || ngx_http_mastodon_pg_add(b,
                                        &ngx_http_mastodon_statuses_media_stmt,
                                        render)
               != NGX_OK))
    {
        return NGX_ERROR;
    }

    if (ask_filters) {
        filters = ngx_palloc(st->pool, 3 * sizeof(char *));
        if (filters == NULL) {
            return NGX_ERROR;
        }

        filters[2] = ngx_http_mastodon_statuses_context(st->flags);

        for (i = 0; i < st->items.nelts; i++) {
            misses[i] = it[i].id;
        }

        filters[0] = meta[0];
        filters[1] = ngx_http_mastodon_statuses_array(st->pool, misses,
                                                      st->items.nelts);
        if (filters[1] == NULL
            || ngx_http_mastodon_pg_add(b,
                                     &ngx_http_mastodon_statuses_filters_stmt,
                                     filters)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        st->filters = 1;
    }

    if (ngx_http_mastodon_pg_run(b) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_DONE;
}


/* is id in the PostgreSQL array text "{1,2,3}" (or NULL) */
static ngx_uint_t
ngx_http_mastodon_pq_array_has(PGresult *res, int row, int col, int64_t id)
{
    u_char  *p, *end, *start;

    if (PQgetisnull(res, row, col)) {
        return 0;
    }

    p = (u_char *) PQgetvalue(res, row, col);
    end = p + PQgetlength(res, row, col);

    while (p < end) {
        while (p < end && (*p < '0' || *p > '9')) {
            p++;
        }

        start = p;

        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }

        if (p > start && ngx_atoof(start, p - start) == id) {
            return 1;
        }
    }

    return 0;
}


/* a vote of the viewer in the poll of item it */
static void
ngx_http_mastodon_statuses_vote(ngx_http_mastodon_status_item_t *it,
    int64_t choice)
{
    it->voted = 1;

    if (choice >= 0 && choice < NGX_HTTP_MASTODON_POLL_CHOICES) {
        it->own_votes |= (uint64_t) 1 << choice;
    }
}


/* the votes of the meta statement's array "{<status id>:<choice>,...}" */
static void
ngx_http_mastodon_statuses_votes(ngx_http_mastodon_status_item_t *it,
    PGresult *res, int row)
{
    u_char     *p, *end, *start;
    int64_t     id;
    int         col;

    col = NGX_HTTP_MASTODON_SM_POLL_VOTES;

    if (PQgetisnull(res, row, col)) {
        return;
    }

    p = (u_char *) PQgetvalue(res, row, col);
    end = p + PQgetlength(res, row, col);

    while (p < end) {
        while (p < end && (*p < '0' || *p > '9')) {
            p++;
        }

        start = p;

        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }

        if (p == start || p == end || *p != ':') {
            continue;
        }

        id = ngx_atoof(start, p - start);
        start = ++p;

        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }

        if (id == it->id && p > start) {
            ngx_http_mastodon_statuses_vote(it, ngx_atoof(start, p - start));
        }
    }
}


/*
 * StatusPolicy#show? on facts read once per batch: the C side of
 * mastodon_visible_to() (sql/0009_rules.sql), the only other place the
 * rule is written (t/visibility_paths.t checks both on every path); and
 * what the viewer's blocks, mutes and domain blocks hide (hidden: either
 * way for blocks, not the viewer's own statuses); rel:
 * NGX_HTTP_MASTODON_VIEWER_* of the viewer and the status' author.
 */
static void
ngx_http_mastodon_statuses_judge(ngx_http_mastodon_statuses_t *st,
    ngx_http_mastodon_status_item_t *it, ngx_uint_t rel)
{
    ngx_uint_t  own, blocked_by;

    it->hidden = 0;

    if (!it->found || (rel & NGX_HTTP_MASTODON_VIEWER_SUSPENDED)) {
        it->visible = 0;
        return;
    }

    if (st->viewer == 0) {
        it->visible = it->visibility <= 1;
        return;
    }

    own = it->account_id == st->viewer;
    blocked_by = !own && (rel & NGX_HTTP_MASTODON_VIEWER_BLOCKED_BY);

    if (it->visibility <= 1) {
        it->visible = !blocked_by;

    } else if (own) {
        it->visible = 1;

    } else if (it->visibility == 2) {
        it->visible = (rel & NGX_HTTP_MASTODON_VIEWER_FOLLOWING) || it->mentioned;

    } else {
        it->visible = it->visibility == 3 && it->mentioned;
    }

    it->hidden = !own
                 && (rel & (NGX_HTTP_MASTODON_VIEWER_BLOCKING
                            | NGX_HTTP_MASTODON_VIEWER_BLOCKED_BY
                            | NGX_HTTP_MASTODON_VIEWER_MUTING
                            | NGX_HTTP_MASTODON_VIEWER_DOMAIN_BLOCKING));
}


/*
 * The item of a row of either meta statement: its id, author, reblogged
 * status and visibility are the columns from col on.
 */
static ngx_http_mastodon_status_item_t *
ngx_http_mastodon_statuses_meta_item(ngx_http_mastodon_statuses_t *st,
    PGresult *meta, int row, int col)
{
    ngx_http_mastodon_status_item_t  *it;

    it = ngx_http_mastodon_statuses_add(st,
                                    ngx_http_mastodon_pg_int(meta, row, col));
    if (it == NULL) {
        return NULL;
    }

    it->account_id = ngx_http_mastodon_pg_int(meta, row, col + 1);
    it->reblog_of_id = ngx_http_mastodon_pg_int(meta, row, col + 2);
    it->visibility = ngx_http_mastodon_pg_int(meta, row, col + 3);

    return it;
}


/* a row of the meta statement: flags from its arrays, then the policy */
static void
ngx_http_mastodon_statuses_policy(ngx_http_mastodon_statuses_t *st,
    ngx_http_mastodon_status_item_t *it, PGresult *meta, int row)
{
    int64_t     author;
    ngx_uint_t  rel;

#define B(c)  ngx_http_mastodon_pg_bool(meta, row, NGX_HTTP_MASTODON_SM_##c)
#define HAS(c, id)                                                            \
    ngx_http_mastodon_pq_array_has(meta, row, NGX_HTTP_MASTODON_SM_##c, id)

    author = it->account_id;

    it->found = B(FOUND);
    it->muted = B(MUTED);
    it->mentioned = B(MENTIONED);
    it->favourited = HAS(FAVOURITED, it->id);
    it->bookmarked = HAS(BOOKMARKED, it->id);
    it->pinned = HAS(PINNED, it->id);
    it->reblogged = HAS(REBLOGGED, it->id);
    ngx_http_mastodon_statuses_votes(it, meta, row);

    rel = 0;
    rel |= HAS(SUSPENDED, author) ? NGX_HTTP_MASTODON_VIEWER_SUSPENDED : 0;
    rel |= HAS(FOLLOWING, author) ? NGX_HTTP_MASTODON_VIEWER_FOLLOWING : 0;
    rel |= HAS(BLOCKING, author) ? NGX_HTTP_MASTODON_VIEWER_BLOCKING : 0;
    rel |= HAS(BLOCKED_BY, author) ? NGX_HTTP_MASTODON_VIEWER_BLOCKED_BY : 0;
    rel |= HAS(MUTING, author) ? NGX_HTTP_MASTODON_VIEWER_MUTING : 0;
    rel |= HAS(DOMAIN_BLOCKING, author)
           ? NGX_HTTP_MASTODON_VIEWER_DOMAIN_BLOCKING : 0;

#undef HAS
#undef B

    ngx_http_mastodon_statuses_judge(st, it, rel);
}


/*
 * The rows of the lean meta statement (every status and author known from
 * the cache): (kind, id, ...) per fact, kinds as in its SQL.
 */
static ngx_int_t
ngx_http_mastodon_statuses_facts(ngx_http_mastodon_statuses_t *st,
    PGresult *meta)
{
    int                               row, nrows, kind;
    int64_t                           id, *who;
    ngx_uint_t                        i, k, nwho, *rels;
    ngx_http_mastodon_status_item_t  *it;

    nrows = PQntuples(meta);

    /* the statuses first (kind 0) */
    for (row = 0; row < nrows; row++) {
        if (ngx_http_mastodon_pg_int(meta, row, 0) != 0) {
            continue;
        }

        /* the flags stay 0 (items start zeroed) unless a fact sets them */
        it = ngx_http_mastodon_statuses_meta_item(st, meta, row, 1);
        if (it == NULL) {
            return NGX_ERROR;
        }

        it->found = PQgetvalue(meta, row, 5)[0] == '1';
    }

    who = ngx_palloc(st->pool, (nrows + 1) * sizeof(int64_t));
    rels = ngx_palloc(st->pool, (nrows + 1) * sizeof(ngx_uint_t));
    if (who == NULL || rels == NULL) {
        return NGX_ERROR;
    }

    nwho = 0;

    for (row = 0; row < nrows; row++) {
        kind = ngx_http_mastodon_pg_int(meta, row, 0);
        id = ngx_http_mastodon_pg_int(meta, row, 1);

        if (kind >= 5 && kind <= 10) {
            /* a relation with an author */
            for (k = 0; k < nwho && who[k] != id; k++) { /* void */ }

            if (k == nwho) {
                who[nwho] = id;
                rels[nwho++] = 0;
            }

            rels[k] |= 1 << (kind - 5);
            continue;
        }

        if (kind == 0 || (k = ngx_http_mastodon_statuses_find(st, id))
                         == (ngx_uint_t) -1)
        {
            continue;
        }

        it = (ngx_http_mastodon_status_item_t *) st->items.elts + k;

        switch (kind) {
        case 1: it->favourited = 1; break;
        case 2: it->bookmarked = 1; break;
        case 3: it->pinned = 1; break;
        case 4: it->reblogged = 1; break;
        case 11: it->mentioned = 1; break;
        case 12: it->muted = 1; break;
        case 13:
            ngx_http_mastodon_statuses_vote(it,
                                      ngx_http_mastodon_pg_int(meta, row, 2));
            break;
        }
    }

    it = st->items.elts;

    for (i = 0; i < st->items.nelts; i++) {
        for (k = 0; k < nwho && who[k] != it[i].account_id; k++) { /* void */ }

        ngx_http_mastodon_statuses_judge(st, &it[i], k < nwho ? rels[k] : 0);
    }

    /* for the viewer's facts in the render cache */
    st->who = who;
    st->rels = rels;
    st->nwho = nwho;

    return NGX_OK;
}


typedef struct {
    int64_t    id;
    int        row;
} ngx_http_mastodon_account_row_t;


static int ngx_libc_cdecl
ngx_http_mastodon_account_row_cmp(const void *one, const void *two)
{
    const ngx_http_mastodon_account_row_t  *a = one, *b = two;

    return a->id < b->id ? -1 : a->id > b->id;
}


/* each item's row in st->accounts: sorted ids, binary search */
static ngx_int_t
ngx_http_mastodon_statuses_accounts(ngx_http_mastodon_statuses_t *st)
{
    int                               row, nrows;
    ngx_uint_t                        i, lo, hi, mid;
    ngx_http_mastodon_account_row_t  *rows;
    ngx_http_mastodon_status_item_t  *it;

    nrows = PQntuples(st->accounts);

    rows = ngx_palloc(st->pool,
                      (nrows + 1) * sizeof(ngx_http_mastodon_account_row_t));
    if (rows == NULL) {
        return NGX_ERROR;
    }

    for (row = 0; row < nrows; row++) {
        rows[row].id = ngx_http_mastodon_pg_int(st->accounts, row, 0);
        rows[row].row = row;
    }

    ngx_qsort(rows, nrows, sizeof(ngx_http_mastodon_account_row_t),
              ngx_http_mastodon_account_row_cmp);

    it = st->items.elts;

    for (i = 0; i < st->items.nelts; i++) {
        lo = 0;
        hi = nrows;

        while (lo < hi) {
            mid = lo + (hi - lo) / 2;

            if (rows[mid].id < it[i].account_id) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }

        if (lo < (ngx_uint_t) nrows && rows[lo].id == it[i].account_id) {
            it[i].account = rows[lo].row;
        }
    }

    return NGX_OK;
}


static void
ngx_http_mastodon_statuses_loaded(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_http_mastodon_statuses_t *st = b->data;

    int                               row, nrows;
    PGresult                         *meta, *res, *media;
    ngx_int_t                         k;
    ngx_uint_t                        nq;
    ngx_http_mastodon_status_item_t  *it;

    /* meta unless the viewer's facts are known, then the accounts unless
     * cached, then renderings if missed, then the viewer's filters */
    meta = NULL;
    k = 0;

    if (!st->known) {
        meta = ngx_http_mastodon_pg_rows(b, k++);
    }

    if (!st->cached_accounts) {
        st->accounts = ngx_http_mastodon_pg_rows(b, k++);
    }

    nq = b->nqueries - st->filters;
    res = NULL;
    media = NULL;

    if (nq > (ngx_uint_t) k) {
        res = ngx_http_mastodon_pg_rows(b, k);
        media = ngx_http_mastodon_pg_rows(b, k + 1);
    }

    if ((!st->known && meta == NULL)
        || (!st->cached_accounts && st->accounts == NULL)
        || (nq > (ngx_uint_t) k && (res == NULL || media == NULL)))
    {
        goto failed;
    }

    nrows = (st->lean_meta || st->known) ? 0 : PQntuples(meta);

    if (st->lean_meta && !st->known) {
        if (ngx_http_mastodon_statuses_facts(st, meta) != NGX_OK) {
            goto failed;
        }

        ngx_http_mastodon_viewer_facts_remember(st);
    }

    for (row = 0; row < nrows; row++) {
        it = ngx_http_mastodon_statuses_meta_item(st, meta, row,
                                                  NGX_HTTP_MASTODON_SM_ID);
        if (it == NULL) {
            goto failed;
        }

        ngx_http_mastodon_statuses_policy(st, it, meta, row);
    }

    if (!st->cached_accounts) {
        st->account_json = ngx_pcalloc(st->pool,
                                       (PQntuples(st->accounts) + 1)
                                       * sizeof(ngx_str_t));
        if (st->account_json == NULL) {
            goto failed;
        }
    }

    if (res && ngx_http_mastodon_statuses_render(st, res, media) != NGX_OK) {
        goto failed;
    }

    if (!st->cached_accounts
        && ngx_http_mastodon_statuses_accounts(st) != NGX_OK)
    {
        goto failed;
    }

    if (ngx_http_mastodon_statuses_link(st) != NGX_OK) {
        goto failed;
    }

    if (st->filters
        && ngx_http_mastodon_statuses_filter(st,
                                   ngx_http_mastodon_pg_rows(b, nq))
           != NGX_OK)
    {
        goto failed;
    }

    st->rc = NGX_OK;
    st->handler(st->request, st, st->data);
    return;

failed:

    st->rc = NGX_ERROR;
    st->handler(st->request, st, st->data);
}


/* the reblogs to their originals; what lacks a rendering is not shown */
static ngx_int_t
ngx_http_mastodon_statuses_link(ngx_http_mastodon_statuses_t *st)
{
    ngx_int_t                         k;
    ngx_uint_t                        i;
    ngx_http_mastodon_status_item_t  *it;

    it = st->items.elts;

    for (i = 0; i < st->items.nelts; i++) {

        if (it[i].reblog_of_id) {
            k = ngx_http_mastodon_statuses_find(st, it[i].reblog_of_id);
            it = st->items.elts;
            it[i].reblog = k;
        }

        /* a row without its rendering (deleted meanwhile) is not shown */
        if (it[i].base.len == 0 || it[i].account < 0) {
            it[i].found = 0;
        }
    }

    return NGX_OK;
}


/*
 * Nothing to ask PostgreSQL (every rendering, account and fact known): the
 * load completes from a posted event, as it would from a batch, never
 * within the caller's call.
 */
typedef struct {
    ngx_http_mastodon_op_call_t    call;
    ngx_event_t                    event;
    ngx_http_mastodon_statuses_t  *st;
} ngx_http_mastodon_statuses_posted_t;


static void
ngx_http_mastodon_statuses_posted_cancel(ngx_http_mastodon_op_call_t *call)
{
    ngx_http_mastodon_statuses_posted_t  *ps;

    ps = (ngx_http_mastodon_statuses_posted_t *) call;

    if (ps->event.posted) {
        ngx_delete_posted_event(&ps->event);
    }

    ngx_http_mastodon_op_call_done(ps->st->op, &ps->call);
}


static void
ngx_http_mastodon_statuses_posted(ngx_event_t *ev)
{
    ngx_http_mastodon_statuses_posted_t *ps = ev->data;

    ngx_http_mastodon_statuses_t  *st;

    st = ps->st;

    ngx_http_mastodon_op_call_done(st->op, &ps->call);

    st->rc = ngx_http_mastodon_statuses_link(st);
    st->handler(st->request, st, st->data);
}


static ngx_int_t
ngx_http_mastodon_statuses_post(ngx_http_mastodon_statuses_t *st)
{
    ngx_http_mastodon_statuses_posted_t  *ps;

    ps = ngx_pcalloc(st->pool, sizeof(ngx_http_mastodon_statuses_posted_t));
    if (ps == NULL) {
        return NGX_ERROR;
    }

    ps->st = st;
    ps->event.handler = ngx_http_mastodon_statuses_posted;
    ps->event.data = ps;
    ps->event.log = st->op->log;

    ngx_http_mastodon_op_call_add(st->op, &ps->call,
                                  ngx_http_mastodon_statuses_posted_cancel);
    ngx_post_event(&ps->event, &ngx_posted_events);

    return NGX_DONE;
}


/* mention look-up for the text formatter: the status's own mentions */
typedef struct {
    ngx_pool_t                     *pool;
    ngx_http_mastodon_main_conf_t  *conf;
    mstdn_value_t                  *mentions;   /* [[id, username, domain,
                                                   url]] */
} ngx_http_mastodon_mention_ctx_t;


static ngx_uint_t
ngx_http_mastodon_str_eq_ci(const char *a, size_t alen, const char *b,
    size_t blen)
{
    return alen == blen && ngx_strncasecmp((u_char *) a, (u_char *) b, alen)
                           == 0;
}


static int
ngx_http_mastodon_status_mention(void *data, const char *username,
    size_t ulen, const char *domain, size_t dlen, const char **url,
    size_t *url_len, const char **display, size_t *display_len)
{
    ngx_http_mastodon_mention_ctx_t *mc = data;

    u_char                         *p;
    mstdn_value_t                  *m, *name, *dom, *u;
    ngx_http_mastodon_main_conf_t  *mcf;

    if (mc->mentions == NULL || mc->mentions->type != MSTDN_ARRAY) {
        return 0;
    }

    mcf = mc->conf;

    for (m = mc->mentions->first; m; m = m->next) {
        if (m->type != MSTDN_ARRAY || m->first == NULL) {
            continue;
        }

        name = m->first->next;
        dom = name ? name->next : NULL;
        u = dom ? dom->next : NULL;
        if (u == NULL || name->type != MSTDN_STRING) {
            continue;
        }

        if (!ngx_http_mastodon_str_eq_ci(username, ulen, name->str,
                                         name->len))
        {
            continue;
        }

        if (dom->type == MSTDN_STRING) {
            if (domain == NULL
                || !ngx_http_mastodon_str_eq_ci(domain, dlen, dom->str,
                                                dom->len))
            {
                continue;
            }

            if (u->type != MSTDN_STRING) {
                continue;
            }

            *url = u->str;
            *url_len = u->len;

        } else {
            /* a local account: @name, or @name@our.domain */
            if (domain
                && !ngx_http_mastodon_str_eq_ci(domain, dlen,
                                                (char *) mcf->domain.data,
                                                mcf->domain.len))
            {
                continue;
            }

            p = ngx_pnalloc(mc->pool,
                            mcf->base_url.len + 2 + name->len);
            if (p == NULL) {
                return 0;
            }

            *url = (const char *) p;
            *url_len = ngx_sprintf(p, "%V/@%*s", &mcf->base_url,
                                   name->len, name->str) - p;
        }

        *display = name->str;
        *display_len = name->len;

        return 1;
    }

    return 0;
}



/*
 * A local status' text as HTML (Mastodon's TextFormatter); mentions:
 * [[id, username, domain, url]] of the status, NULL: none resolved.
 */
ngx_int_t
ngx_http_mastodon_status_html(ngx_http_request_t *r, ngx_str_t *text,
    mstdn_value_t *mentions, ngx_str_t *html)
{
    return ngx_http_mastodon_status_html_pool(r->pool,
               ngx_http_get_module_main_conf(r, ngx_http_mastodon_module),
               text, mentions, html);
}


static ngx_int_t
ngx_http_mastodon_status_html_pool(ngx_pool_t *pool,
    ngx_http_mastodon_main_conf_t *mcf, ngx_str_t *text,
    mstdn_value_t *mentions, ngx_str_t *html)
{
    char                             *out;
    size_t                            len;
    mstdn_alloc_t                     a;
    mstdn_text_options_t              opt;
    ngx_http_mastodon_mention_ctx_t   mc;

    if (text->len == 0) {
        ngx_str_set(html, "");
        return NGX_OK;
    }

    a.alloc = ngx_http_mastodon_pool_alloc;
    a.ctx = pool;

    ngx_memzero(&opt, sizeof(opt));
    opt.base_url = (char *) mcf->base_url.data;
    opt.base_url_len = mcf->base_url.len;
    opt.local_domain = (char *) mcf->domain.data;
    opt.local_domain_len = mcf->domain.len;
    opt.multiline = 1;
    mc.pool = pool;
    mc.conf = mcf;
    mc.mentions = mentions;
    opt.mention = ngx_http_mastodon_status_mention;
    opt.ctx = &mc;

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


/*
 * "media_attachments": the rows of the media statement (the status id,
 * then NGX_HTTP_MASTODON_MEDIA_COLUMNS) that are the status', in their order.
 */
static void
ngx_http_mastodon_status_media(ngx_http_mastodon_json_t *j, PGresult *media,
    int64_t id)
{
    int  row, nrows;

    ngx_http_mastodon_json_open_array(j, "media_attachments");

    nrows = media ? PQntuples(media) : 0;

    for (row = 0; row < nrows; row++) {
        if (ngx_http_mastodon_pg_int(media, row, 0) == id) {
            ngx_http_mastodon_media_attachment(j, media, row, 1);
        }
    }

    ngx_http_mastodon_json_close_array(j);
}


/* the mentions column of a statement ([[id, username, domain, url]]) */
mstdn_value_t *
ngx_http_mastodon_status_mentions(ngx_http_request_t *r, PGresult *res,
    int row, int col)
{
    return ngx_http_mastodon_status_mentions_pool(r->pool, res, row, col);
}


static mstdn_value_t *
ngx_http_mastodon_status_mentions_pool(ngx_pool_t *pool, PGresult *res,
    int row, int col)
{
    char             err[64];
    mstdn_alloc_t    a;
    mstdn_value_t   *v;
    mstdn_limits_t   limits = { 4, 10000 };

    if (PQgetisnull(res, row, col)) {
        return NULL;
    }

    a.alloc = ngx_http_mastodon_pool_alloc;
    a.ctx = pool;

    if (mstdn_json_parse(PQgetvalue(res, row, col), PQgetlength(res, row, col),
                         &a, &limits, &v, err, sizeof(err))
        != MSTDN_OK)
    {
        return NULL;
    }

    return v;
}


/* One viewer-less Status object (no account, reblog, flags) per row. */
static ngx_int_t
ngx_http_mastodon_statuses_render(ngx_http_mastodon_statuses_t *st,
    PGresult *res, PGresult *media)
{
    int                               row, nrows;
    char                              err[64];
    u_char                           *p;
    int64_t                           id;
    ngx_str_t                         s, text, username, url, *keys, *values;
    ngx_uint_t                        local, visibility, nfill;
    mstdn_alloc_t                     a;
    mstdn_value_t                    *mentions, *tags, *m, *v;
    mstdn_limits_t                    limits = { 4, 10000 };
    ngx_http_mastodon_json_t          j;
    ngx_http_mastodon_main_conf_t    *mcf;
    ngx_http_mastodon_status_item_t  *it;

    mcf = st->conf;

    a.alloc = ngx_http_mastodon_pool_alloc;
    a.ctx = st->pool;

    nrows = PQntuples(res);

    keys = ngx_palloc(st->pool, (nrows + 1) * sizeof(ngx_str_t));
    values = ngx_palloc(st->pool, (nrows + 1) * sizeof(ngx_str_t));
    if (keys == NULL || values == NULL) {
        return NGX_ERROR;
    }

    nfill = 0;

#define V(c)  NGX_HTTP_MASTODON_SR_##c

    for (row = 0; row < nrows; row++) {
        id = ngx_http_mastodon_pg_int(res, row, V(ID));
        local = ngx_http_mastodon_pg_bool(res, row, V(LOCAL));
        visibility = ngx_http_mastodon_pg_int(res, row, V(VISIBILITY));
        if (visibility > 4) {
            visibility = 4;
        }

        username = ngx_http_mastodon_pg_str(res, row, V(USERNAME));

        tags = NULL;

        mentions = ngx_http_mastodon_status_mentions_pool(st->pool, res, row,
                                                          V(MENTIONS));

        if (!PQgetisnull(res, row, V(TAGS))
            && mstdn_json_parse(PQgetvalue(res, row, V(TAGS)),
                                PQgetlength(res, row, V(TAGS)), &a,
                                &limits, &tags, err, sizeof(err))
               != MSTDN_OK)
        {
            tags = NULL;
        }

        if (ngx_http_mastodon_json_op_init(st->op, &j) != NGX_OK) {
            return NGX_ERROR;
        }

        ngx_http_mastodon_json_open(&j, NULL);

        s = ngx_http_mastodon_pg_str(res, row, V(ID));
        ngx_http_mastodon_json_kv_str(&j, "id", &s);
        ngx_http_mastodon_json_kv_pq(&j, "created_at", res, row,
                                     V(CREATED_AT));
        ngx_http_mastodon_json_kv_pq(&j, "in_reply_to_id", res, row,
                                     V(IN_REPLY_TO));
        ngx_http_mastodon_json_kv_pq(&j, "in_reply_to_account_id",
                                     res, row,
                                     V(IN_REPLY_TO_ACCOUNT));
        ngx_http_mastodon_json_kv_bool(&j, "sensitive",
                           ngx_http_mastodon_pg_bool(res, row, V(SENSITIVE)));
        ngx_http_mastodon_json_kv_pq(&j, "spoiler_text", res, row,
                                     V(SPOILER));
        ngx_http_mastodon_json_kv_cstr(&j, "visibility",
                                   ngx_http_mastodon_visibilities[visibility]);
        ngx_http_mastodon_json_kv_pq(&j, "language", res, row,
                                     V(LANGUAGE));

        /* uri: stored for every status; url: the local page or theirs */
        if (PQgetisnull(res, row, V(URI))) {
            p = ngx_pnalloc(st->pool, mcf->base_url.len + username.len
                                     + NGX_INT64_LEN + 32);
            if (p == NULL) {
                return NGX_ERROR;
            }
            s.data = p;
            s.len = ngx_sprintf(p, "%V/users/%V/statuses/%L", &mcf->base_url,
                                &username, id) - p;
            ngx_http_mastodon_json_kv_str(&j, "uri", &s);

        } else {
            ngx_http_mastodon_json_kv_pq(&j, "uri", res, row,
                                         V(URI));
        }

        if (!local || ngx_http_mastodon_pg_int(res, row, V(REBLOG_OF))) {
            /* remote: as it came; a local reblog: its activity's URI */
            if (PQgetisnull(res, row, V(URL))) {
                ngx_http_mastodon_json_kv_pq(&j, "url", res, row,
                                             local ? V(URI) : V(URL));
            } else {
                ngx_http_mastodon_json_kv_pq(&j, "url", res, row,
                                             V(URL));
            }

        } else {
            p = ngx_pnalloc(st->pool, mcf->base_url.len + username.len
                                     + NGX_INT64_LEN + 8);
            if (p == NULL) {
                return NGX_ERROR;
            }
            url.data = p;
            url.len = ngx_sprintf(p, "%V/@%V/%L", &mcf->base_url, &username,
                                  id) - p;
            ngx_http_mastodon_json_kv_str(&j, "url", &url);
        }

        ngx_http_mastodon_json_kv_int(&j, "replies_count",
                    ngx_http_mastodon_pg_int(res, row, V(REPLIES)));
        ngx_http_mastodon_json_kv_int(&j, "reblogs_count",
                    ngx_http_mastodon_pg_int(res, row, V(REBLOGS)));
        ngx_http_mastodon_json_kv_int(&j, "favourites_count",
                    ngx_http_mastodon_pg_int(res, row, V(FAVOURITES)));
        ngx_http_mastodon_json_kv_int(&j, "quotes_count",
                    ngx_http_mastodon_pg_int(res, row, V(QUOTES)));
        ngx_http_mastodon_json_kv_pq(&j, "edited_at", res, row,
                                     V(EDITED_AT));

        /* content: local text as Mastodon's TextFormatter, remote HTML as
         * it was sanitized on arrival */
        text = ngx_http_mastodon_pg_str(res, row, V(TEXT));

        if (local) {
            if (ngx_http_mastodon_status_html_pool(st->pool, mcf, &text,
                                                   mentions, &s)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            ngx_http_mastodon_json_kv_str(&j, "content", &s);

        } else {
            ngx_http_mastodon_json_kv_str(&j, "content", &text);
        }

        if (!PQgetisnull(res, row, V(APP_NAME))) {
            ngx_http_mastodon_json_open(&j, "application");
            ngx_http_mastodon_json_kv_pq(&j, "name", res, row,
                                         V(APP_NAME));
            ngx_http_mastodon_json_kv_pq(&j, "website", res, row,
                                         V(APP_WEBSITE));
            ngx_http_mastodon_json_close(&j);
        }

        ngx_http_mastodon_status_media(&j, media, id);

        ngx_http_mastodon_json_open_array(&j, "mentions");
        if (mentions && mentions->type == MSTDN_ARRAY) {
            for (m = mentions->first; m; m = m->next) {
                mstdn_value_t  *mid, *name, *dom, *u;

                mid = m->type == MSTDN_ARRAY ? m->first : NULL;
                name = mid ? mid->next : NULL;
                dom = name ? name->next : NULL;
                u = dom ? dom->next : NULL;
                if (u == NULL || mid->type != MSTDN_STRING
                    || name->type != MSTDN_STRING)
                {
                    continue;
                }

                ngx_http_mastodon_json_open(&j, NULL);
                s.data = (u_char *) mid->str;
                s.len = mid->len;
                ngx_http_mastodon_json_kv_str(&j, "id", &s);
                s.data = (u_char *) name->str;
                s.len = name->len;
                ngx_http_mastodon_json_kv_str(&j, "username", &s);

                if (dom->type == MSTDN_STRING) {
                    if (u->type == MSTDN_STRING) {
                        url.data = (u_char *) u->str;
                        url.len = u->len;
                        ngx_http_mastodon_json_kv_str(&j, "url", &url);
                    } else {
                        ngx_http_mastodon_json_kv_cstr(&j, "url", "");
                    }

                    p = ngx_pnalloc(st->pool, name->len + dom->len + 1);
                    if (p == NULL) {
                        return NGX_ERROR;
                    }
                    s.data = p;
                    s.len = ngx_sprintf(p, "%*s@%*s", name->len, name->str,
                                        dom->len, dom->str) - p;
                    ngx_http_mastodon_json_kv_str(&j, "acct", &s);

                } else {
                    p = ngx_pnalloc(st->pool, mcf->base_url.len + 2
                                             + name->len);
                    if (p == NULL) {
                        return NGX_ERROR;
                    }
                    url.data = p;
                    url.len = ngx_sprintf(p, "%V/@%*s", &mcf->base_url,
                                          name->len, name->str) - p;
                    ngx_http_mastodon_json_kv_str(&j, "url", &url);
                    ngx_http_mastodon_json_kv_str(&j, "acct", &s);
                }

                ngx_http_mastodon_json_close(&j);
            }
        }
        ngx_http_mastodon_json_close_array(&j);

        ngx_http_mastodon_json_open_array(&j, "tags");
        if (tags && tags->type == MSTDN_ARRAY) {
            for (v = tags->first; v; v = v->next) {
                if (v->type != MSTDN_STRING) {
                    continue;
                }

                ngx_http_mastodon_json_open(&j, NULL);
                s.data = (u_char *) v->str;
                s.len = v->len;
                ngx_http_mastodon_json_kv_str(&j, "name", &s);

                p = ngx_pnalloc(st->pool, mcf->base_url.len + 6 + 3 * v->len);
                if (p == NULL) {
                    return NGX_ERROR;
                }
                url.data = p;
                p = ngx_sprintf(p, "%V/tags/", &mcf->base_url);
                p = (u_char *) ngx_escape_uri(p, (u_char *) v->str, v->len,
                                              NGX_ESCAPE_URI_COMPONENT);
                url.len = p - url.data;
                ngx_http_mastodon_json_kv_str(&j, "url", &url);
                ngx_http_mastodon_json_close(&j);
            }
        }
        ngx_http_mastodon_json_close_array(&j);

        ngx_http_mastodon_emojis(&j, res, row, V(EMOJIS));

        ngx_http_mastodon_json_kv_null(&j, "quote");
        ngx_http_mastodon_json_open(&j, "quote_approval");
        ngx_http_mastodon_json_open_array(&j, "automatic");
        ngx_http_mastodon_json_close_array(&j);
        ngx_http_mastodon_json_open_array(&j, "manual");
        ngx_http_mastodon_json_close_array(&j);
        ngx_http_mastodon_json_kv_cstr(&j, "current_user", "denied");
        ngx_http_mastodon_json_close(&j);
        ngx_http_mastodon_json_open_array(&j, "tagged_collections");
        ngx_http_mastodon_json_close_array(&j);

        ngx_http_mastodon_json_kv_null(&j, "card");

        /* the last key: the viewer's part of the poll is spliced in at
         * the end (ngx_http_mastodon_status_assemble()) */
        if (PQgetisnull(res, row, V(POLL))) {
            ngx_http_mastodon_json_kv_null(&j, "poll");

        } else {
            s = ngx_http_mastodon_pg_str(res, row, V(POLL));
            ngx_http_mastodon_json_raw(&j, "poll", &s);
        }

        ngx_http_mastodon_json_close(&j);

        it = ngx_http_mastodon_statuses_add(st, id);
        if (it == NULL || ngx_http_mastodon_json_string(&j, &s) != NGX_OK) {
            return NGX_ERROR;
        }

        it->base = s;
        it->account_id = ngx_http_mastodon_pg_int(res, row, V(ACCOUNT));
        it->reblog_of_id = ngx_http_mastodon_pg_int(res, row,
                                                      V(REBLOG_OF));
        it->visibility = visibility;

        /* the cache entry: header line + the object */
        p = ngx_pnalloc(st->pool, 3 * NGX_INT64_LEN + 4 + s.len);
        if (p == NULL) {
            return NGX_ERROR;
        }
        values[nfill].data = p;
        p = ngx_sprintf(p, "%L %L %ui\n", it->account_id, it->reblog_of_id,
                        visibility);
        p = ngx_cpymem(p, s.data, s.len);
        values[nfill].len = p - values[nfill].data;

        if (it->versioned) {
            ngx_http_mastodon_cache_put(NGX_HTTP_MASTODON_CACHE_STATUS, id,
                                        it->version, &values[nfill]);
        }

        p = ngx_pnalloc(st->pool, sizeof(NGX_HTTP_MASTODON_STATUS_KEY)
                                 + NGX_INT64_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }
        keys[nfill].data = p;
        keys[nfill].len = ngx_sprintf(p, NGX_HTTP_MASTODON_STATUS_KEY "%L",
                                      id) - p;
        nfill++;
    }

#undef V

    ngx_http_mastodon_statuses_fill(st, keys, values, nfill);

    return NGX_OK;
}


static void
ngx_http_mastodon_statuses_fill(ngx_http_mastodon_statuses_t *st,
    ngx_str_t *keys, ngx_str_t *values, ngx_uint_t n)
{
    u_char               *p;
    size_t               *argvlen;
    ngx_uint_t            i, argc;
    const char          **argv;

    if (n == 0) {
        return;
    }

    argc = 3 + 2 * n;

    argv = ngx_palloc(st->pool, argc * sizeof(char *));
    argvlen = ngx_palloc(st->pool, argc * sizeof(size_t));
    p = ngx_pnalloc(st->pool, NGX_INT_T_LEN);
    if (argv == NULL || argvlen == NULL || p == NULL) {
        return;
    }

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = ngx_http_mastodon_statuses_fill_lua;
    argvlen[1] = sizeof(ngx_http_mastodon_statuses_fill_lua) - 1;
    argv[2] = (const char *) p;
    argvlen[2] = ngx_sprintf(p, "%ui", n) - p;

    for (i = 0; i < n; i++) {
        argv[3 + i] = (const char *) keys[i].data;
        argvlen[3 + i] = keys[i].len;
        argv[3 + n + i] = (const char *) values[i].data;
        argvlen[3 + n + i] = values[i].len;
    }

    /* a cache fill: nothing waits for it */
    (void) ngx_http_mastodon_redis_op_command(st->op, NULL, NULL, argc, argv,
                                              argvlen);
}



/*
 * ngx_http_mastodon_statuses() and _load() in one: NGX_DONE, or the status
 * to answer with (500 out of memory, 503 the backends).
 */
ngx_int_t
ngx_http_mastodon_statuses_written_add(ngx_http_mastodon_pg_batch_t *b)
{
    if (ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_statuses_written_stmt,
                                 NULL)
        != NGX_OK
        || ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_statuses_author_stmt,
                                    NULL)
           != NGX_OK
        || ngx_http_mastodon_pg_add(b,
                                &ngx_http_mastodon_statuses_written_media_stmt,
                                    NULL)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* _written_add() for a merged post batch (several requests' posts) */
ngx_int_t
ngx_http_mastodon_statuses_written_many_add(ngx_http_mastodon_pg_batch_t *b)
{
    if (ngx_http_mastodon_pg_add(b,
                                 &ngx_http_mastodon_statuses_written_many_stmt,
                                 NULL)
        != NGX_OK
        || ngx_http_mastodon_pg_add(b,
                                 &ngx_http_mastodon_statuses_many_authors_stmt,
                                    NULL)
           != NGX_OK
        || ngx_http_mastodon_pg_add(b,
                           &ngx_http_mastodon_statuses_written_many_media_stmt,
                                    NULL)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_http_mastodon_statuses_t *
ngx_http_mastodon_statuses_written(ngx_http_mastodon_pg_batch_t *b,
    ngx_uint_t i)
{
    PGresult                         *res, *account, *media;
    ngx_http_mastodon_statuses_t     *st;
    ngx_http_mastodon_status_item_t  *it;

    res = ngx_http_mastodon_pg_rows(b, i);
    account = ngx_http_mastodon_pg_rows(b, i + 1);
    media = ngx_http_mastodon_pg_rows(b, i + 2);

    if (res == NULL || account == NULL || media == NULL || PQntuples(res) != 1
        || PQntuples(account) != 1)
    {
        return NULL;
    }

    /* the author: a request's viewer */
    st = b->request ? ngx_http_mastodon_statuses(b->request, NULL, 0, 0)
                    : ngx_http_mastodon_statuses_op(b->op, 0, NULL, 0, 0);
    if (st == NULL) {
        return NULL;
    }

    st->accounts = account;
    st->account_json = ngx_pcalloc(st->pool, 2 * sizeof(ngx_str_t));

    if (st->account_json == NULL
        || ngx_http_mastodon_statuses_render(st, res, media) != NGX_OK
        || ngx_http_mastodon_statuses_accounts(st) != NGX_OK)
    {
        return NULL;
    }

    st->n = 1;
    it = st->items.elts;

    /* the author's own: its flags are false, but a muted conversation */
    it->found = it->base.len && it->account >= 0;
    it->muted = ngx_http_mastodon_pg_bool(res, 0,
                                          NGX_HTTP_MASTODON_SR_WRITTEN_MUTED);
    ngx_http_mastodon_statuses_judge(st, it, 0);

    st->rc = NGX_OK;

    return st;
}


ngx_int_t
ngx_http_mastodon_statuses_fetch(ngx_http_request_t *r, int64_t *ids,
    ngx_uint_t n, ngx_uint_t flags, ngx_http_mastodon_statuses_done_pt handler,
    void *data)
{
    ngx_http_mastodon_statuses_t  *st;

    st = ngx_http_mastodon_statuses(r, ids, n, flags);
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mastodon_statuses_load(st, handler, data) != NGX_DONE) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}


/* one active filter of the viewer: its rules, rows of the filters query */
typedef struct {
    ngx_str_t                  json;        /* the Filter, without rules */
    mstdn_filter_keyword_t    *keywords;
    ngx_uint_t                 nkeywords;
    int64_t                   *statuses;
    ngx_uint_t                 nstatuses;
    ngx_uint_t                 hide;        /* in the list's context */
} ngx_http_mastodon_filter_rules_t;


/*
 * CustomFilter.apply_cached_filters for every item: the viewer's active
 * filters whose keywords match the searchable text of the status (a
 * reblog: of its original) or whose statuses are it or what it reblogs,
 * as the FilterResult array of item->filtered.  Every filter is applied,
 * whatever its context and action, as StatusRelationshipsPresenter does:
 * the client reads them from the Filter.
 */
static ngx_int_t
ngx_http_mastodon_statuses_filter(ngx_http_mastodon_statuses_t *st,
    PGresult *res)
{
    int                                row, nrows;
    size_t                             which, start, mlen;
    int64_t                            fid, last, sid;
    ngx_str_t                          s, *texts, *text;
    ngx_int_t                          k;
    ngx_uint_t                         i, f, nfilters, n, kw, hit;
    ngx_http_mastodon_json_t           j;
    ngx_http_mastodon_status_item_t   *it;
    ngx_http_mastodon_filter_rules_t  *filters, *fr;

    static ngx_str_t  none = ngx_string("0");

    if (res == NULL) {
        return NGX_ERROR;
    }

    nrows = PQntuples(res);
    if (nrows == 0) {
        /* no active filter with a keyword or a status: remembered until
         * the viewer's filters change (_filters_changed() forgets it);
         * expiry only ever takes filters away */
        if (st->filters_versioned) {
            ngx_http_mastodon_cache_put(NGX_HTTP_MASTODON_CACHE_FILTERS,
                                        st->viewer, st->filters_version,
                                        &none);
        }

        return NGX_OK;
    }

    filters = ngx_pcalloc(st->pool,
                          nrows * sizeof(ngx_http_mastodon_filter_rules_t));
    texts = ngx_pcalloc(st->pool, st->items.nelts * sizeof(ngx_str_t));
    if (filters == NULL || texts == NULL) {
        return NGX_ERROR;
    }

    nfilters = 0;
    last = 0;
    fr = NULL;

    for (row = 0; row < nrows; row++) {
        if (PQgetisnull(res, row, 0)) {
            /* a status' searchable text */
            sid = ngx_atoof((u_char *) PQgetvalue(res, row, 4),
                            PQgetlength(res, row, 4));
            k = ngx_http_mastodon_statuses_find(st, sid);
            if (k >= 0) {
                texts[k] = ngx_http_mastodon_pg_str(res, row, 2);
            }

            continue;
        }

        fid = ngx_http_mastodon_pg_int(res, row, 0);

        if (fr == NULL || fid != last) {
            fr = &filters[nfilters++];
            fr->json = ngx_http_mastodon_pg_str(res, row, 1);
            fr->hide = ngx_http_mastodon_pg_bool(res, row, 5);
            fr->keywords = ngx_pcalloc(st->pool,
                                       (nrows - row)
                                       * sizeof(mstdn_filter_keyword_t));
            fr->statuses = ngx_pcalloc(st->pool,
                                       (nrows - row) * sizeof(int64_t));
            if (fr->keywords == NULL || fr->statuses == NULL) {
                return NGX_ERROR;
            }

            last = fid;
        }

        if (PQgetisnull(res, row, 4)) {
            s = ngx_http_mastodon_pg_str(res, row, 2);
            fr->keywords[fr->nkeywords].keyword = (const char *) s.data;
            fr->keywords[fr->nkeywords].len = s.len;
            fr->keywords[fr->nkeywords].whole_word =
                ngx_http_mastodon_pg_bool(res, row, 3);
            fr->nkeywords++;

        } else {
            fr->statuses[fr->nstatuses++] = ngx_http_mastodon_pg_int(res, row,
                                                                     4);
        }
    }

    it = st->items.elts;

    for (i = 0; i < st->items.nelts; i++) {
        text = &texts[i];

        if (it[i].reblog_of_id) {
            k = ngx_http_mastodon_statuses_find(st, it[i].reblog_of_id);
            text = k >= 0 ? &texts[k] : NULL;
        }

        if (ngx_http_mastodon_json_op_init(st->op, &j) != NGX_OK) {
            return NGX_ERROR;
        }

        ngx_http_mastodon_json_open_array(&j, NULL);
        hit = 0;

        for (f = 0; f < nfilters; f++) {
            fr = &filters[f];

            kw = text && text->len
                 && mstdn_filter_match((const char *) text->data, text->len,
                                       fr->keywords, fr->nkeywords, &which,
                                       &start, &mlen);

            sid = 0;

            for (n = 0; n < fr->nstatuses; n++) {
                if (fr->statuses[n] == it[i].id
                    || (it[i].reblog_of_id
                        && fr->statuses[n] == it[i].reblog_of_id))
                {
                    sid = fr->statuses[n];
                    break;
                }
            }

            if (!kw && sid == 0) {
                continue;
            }

            hit = 1;

            if (fr->hide) {
                it[i].filter_hidden = 1;
            }

            ngx_http_mastodon_json_open(&j, NULL);
            ngx_http_mastodon_json_raw(&j, "filter", &fr->json);

            if (kw) {
                ngx_http_mastodon_json_open_array(&j, "keyword_matches");
                s.data = text->data + start;
                s.len = mlen;
                ngx_http_mastodon_json_str(&j, &s);
                ngx_http_mastodon_json_close_array(&j);

            } else {
                ngx_http_mastodon_json_kv_null(&j, "keyword_matches");
            }

            if (sid) {
                ngx_http_mastodon_json_open_array(&j, "status_matches");
                s.data = ngx_pnalloc(st->pool, NGX_INT64_LEN);
                if (s.data == NULL) {
                    return NGX_ERROR;
                }

                s.len = ngx_sprintf(s.data, "%L", sid) - s.data;
                ngx_http_mastodon_json_str(&j, &s);
                ngx_http_mastodon_json_close_array(&j);

            } else {
                ngx_http_mastodon_json_kv_null(&j, "status_matches");
            }

            ngx_http_mastodon_json_close(&j);
        }

        ngx_http_mastodon_json_close_array(&j);

        if (hit
            && ngx_http_mastodon_json_string(&j, &it[i].filtered) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


ngx_uint_t
ngx_http_mastodon_statuses_shown(ngx_http_mastodon_statuses_t *st,
    ngx_uint_t i)
{
    ngx_http_mastodon_status_item_t  *it, *orig;

    if (i >= st->n || st->rc != NGX_OK) {
        return 0;
    }

    it = (ngx_http_mastodon_status_item_t *) st->items.elts + i;

    if (!it->found || !it->visible || it->filter_hidden
        || ((st->flags & NGX_HTTP_MASTODON_ST_FILTER) && it->hidden))
    {
        return 0;
    }

    if (it->reblog_of_id) {
        if (it->reblog < 0) {
            return 0;
        }

        orig = (ngx_http_mastodon_status_item_t *) st->items.elts
               + it->reblog;

        if (!orig->found || !orig->visible || orig->filter_hidden
            || ((st->flags & NGX_HTTP_MASTODON_ST_FILTER) && orig->hidden))
        {
            return 0;
        }
    }

    return 1;
}


static ngx_str_t *
ngx_http_mastodon_statuses_account(ngx_http_mastodon_statuses_t *st,
    ngx_http_mastodon_status_item_t *it)
{
    ngx_str_t  *s;

    s = &st->account_json[it->account];

    if (s->len == 0) {
        if (st->cached_accounts
            || ngx_http_mastodon_account_op_json(st->op, st->accounts,
                                                 it->account, 0, s)
               != NGX_OK)
        {
            return NULL;
        }

        ngx_http_mastodon_account_cache_put(st, it->account_id, s);
    }

    return s;
}


/*
 * The whole Status of item i: its cached object with the account, the
 * reblogged status and (viewer) the flags stitched in before its "}".
 */
static ngx_int_t
ngx_http_mastodon_status_assemble(ngx_http_mastodon_statuses_t *st,
    ngx_uint_t i, ngx_uint_t viewer, ngx_str_t *out)
{
    u_char                           *p;
    size_t                            len;
    ngx_str_t                        *account, reblog, poll;
    ngx_uint_t                        viewer_poll;
    ngx_http_mastodon_status_item_t  *it;

    it = (ngx_http_mastodon_status_item_t *) st->items.elts + i;

    if (it->base.len < 2 || it->account < 0) {
        return NGX_ERROR;
    }

    account = ngx_http_mastodon_statuses_account(st, it);
    if (account == NULL) {
        return NGX_ERROR;
    }

    ngx_str_set(&reblog, "null");

    if (it->reblog_of_id && it->reblog >= 0 && (ngx_uint_t) it->reblog != i
        && ngx_http_mastodon_status_assemble(st, it->reblog, viewer, &reblog)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    len = it->base.len + account->len + reblog.len
          + sizeof(",\"account\":,\"reblog\":") - 1
          + sizeof(",\"favourited\":false,\"reblogged\":false,\"muted\":false,"
                   "\"bookmarked\":false,\"pinned\":false,\"filtered\":[]")
          - 1 + it->filtered.len;

    /* a poll is the cached object's last key: "...,"poll":{...}}" */
    viewer_poll = viewer && st->viewer
                  && it->base.data[it->base.len - 2] == '}';
    if (viewer_poll) {
        len += NGX_HTTP_MASTODON_POLL_VIEWER_LEN;
    }

    p = ngx_pnalloc(st->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;

    if (viewer_poll) {
        poll.data = it->base.data;
        poll.len = it->base.len - 1;
        p = ngx_http_mastodon_poll_viewer(p, &poll, it->voted, it->own_votes);

    } else {
        p = ngx_cpymem(p, it->base.data, it->base.len - 1);
    }
    p = ngx_cpymem(p, ",\"account\":", sizeof(",\"account\":") - 1);
    p = ngx_cpymem(p, account->data, account->len);
    p = ngx_cpymem(p, ",\"reblog\":", sizeof(",\"reblog\":") - 1);
    p = ngx_cpymem(p, reblog.data, reblog.len);

    if (viewer && st->viewer) {
        p = ngx_sprintf(p, ",\"favourited\":%s,\"reblogged\":%s,\"muted\":%s,"
                        "\"bookmarked\":%s",
                        it->favourited ? "true" : "false",
                        it->reblogged ? "true" : "false",
                        it->muted ? "true" : "false",
                        it->bookmarked ? "true" : "false");

        /* Mastodon's pinnable?: the viewer's own, not a reblog, not direct */
        if (it->account_id == st->viewer && it->reblog_of_id == 0
            && it->visibility <= 2)
        {
            p = ngx_sprintf(p, ",\"pinned\":%s",
                            it->pinned ? "true" : "false");
        }

        if (it->filtered.len) {
            p = ngx_cpymem(p, ",\"filtered\":", sizeof(",\"filtered\":") - 1);
            p = ngx_cpymem(p, it->filtered.data, it->filtered.len);

        } else {
            p = ngx_cpymem(p, ",\"filtered\":[]",
                           sizeof(",\"filtered\":[]") - 1);
        }
    }

    *p++ = '}';
    out->len = p - out->data;

    return NGX_OK;
}


/*
 * A list's answer written straight into the output chain: the small parts
 * (keys, flags, separators) are copied into shared buffers, the big ones
 * (each cached object, each account) are pointed at where the load keeps
 * them for the request, when that is the request's pool: no copy of them
 * at all.  Pointed-at pieces are capped so that the chain stays within one
 * writev (nginx's 64 vectors).
 */
#define NGX_HTTP_MASTODON_LIST_BUF        8192
#define NGX_HTTP_MASTODON_LIST_REF_MIN    256
#define NGX_HTTP_MASTODON_LIST_REFS       28

typedef struct {
    ngx_pool_t                     *pool;
    ngx_chain_t                    *out;
    ngx_chain_t                   **last;
    ngx_buf_t                      *buf;       /* copies go here; NULL: a
                                                  new one over free..end */
    u_char                         *free;
    u_char                         *end;
    off_t                           size;
    ngx_uint_t                      refs;      /* pieces left to point at */
    ngx_uint_t                      failed;
} ngx_http_mastodon_list_out_t;


static void
ngx_http_mastodon_list_link(ngx_http_mastodon_list_out_t *o, ngx_buf_t *b)
{
    ngx_chain_t  *cl;

    cl = ngx_alloc_chain_link(o->pool);
    if (cl == NULL) {
        o->failed = 1;
        return;
    }

    cl->buf = b;
    cl->next = NULL;
    *o->last = cl;
    o->last = &cl->next;
}


/* room for len bytes at the end of the copies; NULL: failed */
static u_char *
ngx_http_mastodon_list_room(ngx_http_mastodon_list_out_t *o, size_t len)
{
    size_t      size;
    ngx_buf_t  *b;

    if (o->failed) {
        return NULL;
    }

    if (o->buf && (size_t) (o->end - o->buf->last) >= len) {
        return o->buf->last;
    }

    if ((size_t) (o->end - o->free) < len) {
        size = ngx_max(len, NGX_HTTP_MASTODON_LIST_BUF);

        o->free = ngx_pnalloc(o->pool, size);
        if (o->free == NULL) {
            o->failed = 1;
            return NULL;
        }

        o->end = o->free + size;
    }

    b = ngx_calloc_buf(o->pool);
    if (b == NULL) {
        o->failed = 1;
        return NULL;
    }

    b->start = o->free;
    b->pos = o->free;
    b->last = o->free;
    b->end = o->end;
    b->temporary = 1;

    ngx_http_mastodon_list_link(o, b);
    o->buf = b;

    return o->failed ? NULL : b->last;
}


/* what was written at the room's start up to p */
static void
ngx_http_mastodon_list_wrote(ngx_http_mastodon_list_out_t *o, u_char *p)
{
    o->size += p - o->buf->last;
    o->buf->last = p;
    o->free = p;
}


static void
ngx_http_mastodon_list_copy(ngx_http_mastodon_list_out_t *o, u_char *data,
    size_t len)
{
    u_char  *p;

    p = ngx_http_mastodon_list_room(o, len);
    if (p) {
        ngx_http_mastodon_list_wrote(o, ngx_cpymem(p, data, len));
    }
}

#define ngx_http_mastodon_list_literal(o, s)                                  \
    ngx_http_mastodon_list_copy(o, (u_char *) s, sizeof(s) - 1)


/* a piece that lives as long as the answer: pointed at if big enough */
static void
ngx_http_mastodon_list_piece(ngx_http_mastodon_list_out_t *o, u_char *data,
    size_t len)
{
    ngx_buf_t  *b;

    if (len < NGX_HTTP_MASTODON_LIST_REF_MIN || o->refs == 0) {
        ngx_http_mastodon_list_copy(o, data, len);
        return;
    }

    b = ngx_calloc_buf(o->pool);
    if (b == NULL) {
        o->failed = 1;
        return;
    }

    b->pos = data;
    b->last = data + len;
    b->memory = 1;

    ngx_http_mastodon_list_link(o, b);
    o->buf = NULL;          /* what is copied next follows this piece */
    o->size += len;
    o->refs--;
}


static u_char *
ngx_http_mastodon_list_bool(u_char *p, const char *key, size_t len,
    ngx_uint_t value)
{
    p = ngx_cpymem(p, key, len);

    return value ? ngx_cpymem(p, "true", 4) : ngx_cpymem(p, "false", 5);
}

#define NGX_HTTP_MASTODON_LIST_FLAG(p, key, value)                            \
    ngx_http_mastodon_list_bool(p, key, sizeof(key) - 1, value)


/*
 * Item i as ngx_http_mastodon_status_assemble() writes it for a viewer
 * (the same pieces in the same order), into the answer.
 */
static void
ngx_http_mastodon_status_out(ngx_http_mastodon_list_out_t *o,
    ngx_http_mastodon_statuses_t *st, ngx_uint_t i)
{
    u_char                           *p;
    ngx_str_t                        *account, poll;
    ngx_http_mastodon_status_item_t  *it;

    it = (ngx_http_mastodon_status_item_t *) st->items.elts + i;

    if (it->base.len < 2 || it->account < 0) {
        o->failed = 1;
        return;
    }

    account = ngx_http_mastodon_statuses_account(st, it);
    if (account == NULL) {
        o->failed = 1;
        return;
    }

    /* a poll is the cached object's last key: "...,"poll":{...}}" */
    if (st->viewer && it->base.data[it->base.len - 2] == '}') {
        p = ngx_http_mastodon_list_room(o, it->base.len
                                           + NGX_HTTP_MASTODON_POLL_VIEWER_LEN);
        if (p == NULL) {
            return;
        }

        poll.data = it->base.data;
        poll.len = it->base.len - 1;
        ngx_http_mastodon_list_wrote(o,
                  ngx_http_mastodon_poll_viewer(p, &poll, it->voted,
                                                it->own_votes));

    } else {
        ngx_http_mastodon_list_piece(o, it->base.data, it->base.len - 1);
    }

    ngx_http_mastodon_list_literal(o, ",\"account\":");
    ngx_http_mastodon_list_piece(o, account->data, account->len);
    ngx_http_mastodon_list_literal(o, ",\"reblog\":");

    if (it->reblog_of_id && it->reblog >= 0 && (ngx_uint_t) it->reblog != i) {
        ngx_http_mastodon_status_out(o, st, it->reblog);

        /* the original's items may have moved: none are added here */
        it = (ngx_http_mastodon_status_item_t *) st->items.elts + i;

    } else {
        ngx_http_mastodon_list_literal(o, "null");
    }

    p = ngx_http_mastodon_list_room(o,
            sizeof(",\"favourited\":false,\"reblogged\":false,"
                   "\"muted\":false,\"bookmarked\":false,\"pinned\":false,"
                   "\"filtered\":[]}"));
    if (p == NULL) {
        return;
    }

    if (st->viewer) {
        p = NGX_HTTP_MASTODON_LIST_FLAG(p, ",\"favourited\":", it->favourited);
        p = NGX_HTTP_MASTODON_LIST_FLAG(p, ",\"reblogged\":", it->reblogged);
        p = NGX_HTTP_MASTODON_LIST_FLAG(p, ",\"muted\":", it->muted);
        p = NGX_HTTP_MASTODON_LIST_FLAG(p, ",\"bookmarked\":", it->bookmarked);

        /* Mastodon's pinnable?: the viewer's own, not a reblog, not direct */
        if (it->account_id == st->viewer && it->reblog_of_id == 0
            && it->visibility <= 2)
        {
            p = NGX_HTTP_MASTODON_LIST_FLAG(p, ",\"pinned\":", it->pinned);
        }

        if (it->filtered.len == 0) {
            p = ngx_cpymem(p, ",\"filtered\":[]",
                           sizeof(",\"filtered\":[]") - 1);
        }
    }

    if (st->viewer && it->filtered.len) {
        ngx_http_mastodon_list_wrote(o, ngx_cpymem(p, ",\"filtered\":",
                                                sizeof(",\"filtered\":") - 1));
        ngx_http_mastodon_list_piece(o, it->filtered.data, it->filtered.len);
        ngx_http_mastodon_list_literal(o, "}");
        return;
    }

    *p++ = '}';
    ngx_http_mastodon_list_wrote(o, p);
}


/*
 * The statuses of st (NULL: none) that may be shown, as a JSON array: the
 * answer of every list of statuses.  The rc for finalize.
 */
ngx_int_t
ngx_http_mastodon_statuses_send_list(ngx_http_request_t *r,
    ngx_http_mastodon_statuses_t *st)
{
    ngx_uint_t                    i, n;
    ngx_http_mastodon_list_out_t  o;

    ngx_memzero(&o, sizeof(ngx_http_mastodon_list_out_t));
    o.pool = r->pool;
    o.last = &o.out;

    /* pieces are pointed at only where they outlive the answer */
    o.refs = (st && st->pool == r->pool) ? NGX_HTTP_MASTODON_LIST_REFS : 0;

    ngx_http_mastodon_list_literal(&o, "[");

    n = 0;

    for (i = 0; st && i < st->n; i++) {
        if (!ngx_http_mastodon_statuses_shown(st, i)) {
            continue;
        }

        if (n++) {
            ngx_http_mastodon_list_literal(&o, ",");
        }

        ngx_http_mastodon_status_out(&o, st, i);
    }

    ngx_http_mastodon_list_literal(&o, "]");

    if (o.failed) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mastodon: JSON output failed");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_json_send_chain(r, NGX_HTTP_OK, o.out, o.size);
}


void
ngx_http_mastodon_status_write(ngx_http_mastodon_json_t *j, const char *key,
    ngx_http_mastodon_statuses_t *st, ngx_uint_t i)
{
    ngx_str_t  s;

    if (ngx_http_mastodon_status_assemble(st, i, 1, &s) != NGX_OK) {
        j->failed = 1;
        return;
    }

    ngx_http_mastodon_json_raw(j, key, &s);
}


ngx_int_t
ngx_http_mastodon_status_json(ngx_http_mastodon_statuses_t *st, ngx_uint_t i,
    ngx_str_t *out)
{
    return ngx_http_mastodon_status_assemble(st, i, 0, out);
}


ngx_int_t
ngx_http_mastodon_status_forget(ngx_http_request_t *r, int64_t *ids,
    ngx_uint_t n, ngx_http_mastodon_redis_done_pt handler, void *data)
{
    u_char       *p;
    size_t       *argvlen;
    ngx_uint_t    i, argc;
    const char  **argv;

    if (n == 0) {
        return NGX_DECLINED;
    }

    /* this node at once; the script tells the others */
    for (i = 0; i < n; i++) {
        ngx_http_mastodon_cache_forget(NGX_HTTP_MASTODON_CACHE_STATUS,
                                       ids[i]);
    }

    argc = 3 + n;
    argv = ngx_palloc(r->pool, argc * sizeof(char *));
    argvlen = ngx_palloc(r->pool, argc * sizeof(size_t));
    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN
                             + n * (sizeof(NGX_HTTP_MASTODON_STATUS_KEY)
                                    + NGX_INT64_LEN));
    if (argv == NULL || argvlen == NULL || p == NULL) {
        return NGX_ERROR;
    }

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = ngx_http_mastodon_statuses_forget_lua;
    argvlen[1] = sizeof(ngx_http_mastodon_statuses_forget_lua) - 1;
    argv[2] = (const char *) p;
    argvlen[2] = ngx_sprintf(p, "%ui", n) - p;
    p += argvlen[2];

    for (i = 0; i < n; i++) {
        argv[3 + i] = (const char *) p;
        argvlen[3 + i] = ngx_sprintf(p, NGX_HTTP_MASTODON_STATUS_KEY "%L",
                                     ids[i]) - p;
        p += argvlen[3 + i];
    }

    return ngx_http_mastodon_redis_command(r,
               handler, data,
               argc, argv, argvlen);
}


ngx_int_t
ngx_http_mastodon_account_json(ngx_http_request_t *r, PGresult *res, int row,
    int col, ngx_str_t *out)
{
    ngx_http_mastodon_op_t  *op;

    op = ngx_http_mastodon_request_op(r);
    if (op == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_mastodon_account_op_json(op, res, row, col, out);
}


ngx_int_t
ngx_http_mastodon_account_op_json(ngx_http_mastodon_op_t *op, PGresult *res,
    int row, int col, ngx_str_t *out)
{
    ngx_http_mastodon_json_t  j;

    if (ngx_http_mastodon_json_op_init(op, &j) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_mastodon_account(&j, res, row, col);

    return ngx_http_mastodon_json_string(&j, out);
}
