/*
 * Timelines read from PostgreSQL: GET /api/v1/timelines/public,
 * /api/v1/timelines/tag/:hashtag and /api/v1/accounts/:id/statuses (the
 * home timeline, read from its Redis feed, is _home.c); and what every
 * timeline shares: Mastodon's limit_param, its Link header, the answer.
 *
 * A page is one PostgreSQL batch selecting the ids (Mastodon's scopes in
 * SQL, newest first, or oldest first above min_id), then the status loader
 * (one Redis and one PostgreSQL round trip) renders them for the viewer.
 * Statement parameters, in every statement: $1 the viewer (NULL:
 * anonymous), $2 max_id, $3 since_id, $4 min_id, $5 limit; then the
 * endpoint's own.
 *
 * Public and tag pages are remembered in the render cache (kind "page",
 * keyed by the statement and its values, the viewer among them): a warm
 * page asks PostgreSQL nothing.  Such a page holds while the pages' epoch
 * (the version of page 0) stays: every account forget moves it, and every
 * commit that changes what these statements select forgets an account
 * (sql/0039, sql/0047: posts, deletes, edits of tags, media or language,
 * suspensions and silences, blocks, mutes, domain blocks, chosen
 * languages), so the rules stay in the statements alone.  Only with the
 * worker's relay heard (ngx_http_mastodon_cache_accounts_usable()), which
 * publishes those forgets; a viewer's page also ends when the viewer's
 * first mute expires.
 */

#include "ngx_http_mastodon_api.h"
#include "ngx_http_mastodon_cache.h"
#include "mstdn_hashtag.h"
#include "mstdn_utf8.h"


#define NGX_HTTP_MASTODON_TL_LIMIT       20      /* DEFAULT_STATUSES_LIMIT */
#define NGX_HTTP_MASTODON_TL_NAMES       4       /* TagFeed::LIMIT_PER_MODE */

#define NGX_HTTP_MASTODON_TL_ACCOUNT     0x01    /* accounts/:id/statuses */


typedef struct {
    ngx_http_mastodon_page_t       page;
    ngx_str_t                      path;        /* for the Link header */
    const char *const             *keep;        /* query kept in links */
    ngx_uint_t                     flags;       /* NGX_HTTP_MASTODON_ST_* */
    ngx_uint_t                     kind;        /* NGX_HTTP_MASTODON_TL_* */
    ngx_uint_t                     checked;     /* results[0]: the check */
    ngx_uint_t                     reverse;     /* rows came oldest first */
    const char                   **values;      /* of the statement */
    int64_t                       *ids;
    ngx_uint_t                     n;

    /* a page to remember (NGX_HTTP_MASTODON_CACHE_PAGE) */
    ngx_uint_t                     cache;
    ngx_uint_t                     mutes;       /* results[]: the deadline */
    ngx_uint_t                     epoch;       /* page 0's, before */
    ngx_uint_t                     version;     /* the entry's, before */
    int64_t                        cache_id;
    ngx_str_t                      key;
} ngx_http_mastodon_tl_t;


static void ngx_http_mastodon_tl_listed(ngx_http_mastodon_pg_batch_t *b);
static ngx_int_t ngx_http_mastodon_tl_show(ngx_http_request_t *r,
    ngx_http_mastodon_tl_t *tl);
static ngx_int_t ngx_http_mastodon_tl_run(ngx_http_request_t *r,
    ngx_http_mastodon_tl_t *tl, ngx_http_mastodon_pg_stmt_t *check,
    const char **check_values, ngx_http_mastodon_pg_stmt_t *list,
    const char **values);
static void ngx_http_mastodon_tl_remember(ngx_http_mastodon_pg_batch_t *b,
    ngx_http_mastodon_tl_t *tl);
static void ngx_http_mastodon_tl_loaded(ngx_http_request_t *r,
    ngx_http_mastodon_statuses_t *st, void *data);


/* the page bounds; $1 is the viewer */
#define NGX_HTTP_MASTODON_TL_SQL_PAGE                                         \
    " AND ($2::bigint IS NULL OR s.id < $2::bigint)"                          \
    " AND ($3::bigint IS NULL OR s.id > $3::bigint)"                          \
    " AND ($4::bigint IS NULL OR s.id > $4::bigint)"

#define NGX_HTTP_MASTODON_TL_SQL_ORDER(order)                                 \
    " ORDER BY s.id " order " LIMIT $5::int"

/* Account#excluded_from_timeline_account_ids: blocking, blocked by, muting */
#define NGX_HTTP_MASTODON_TL_SQL_EXCLUDED                                     \
    " (SELECT xb.target_account_id FROM blocks xb"                            \
    "  WHERE xb.account_id = $1::bigint"                                      \
    " UNION ALL SELECT xb.account_id FROM blocks xb"                          \
    "  WHERE xb.target_account_id = $1::bigint"                               \
    " UNION ALL SELECT xm.target_account_id FROM mutes xm"                    \
    "  WHERE xm.account_id = $1::bigint AND (xm.expires_at IS NULL"           \
    "  OR xm.expires_at > now() AT TIME ZONE 'UTC'))"

#define NGX_HTTP_MASTODON_TL_SQL_NOT_EXCLUDED                                 \
    " AND ($1::bigint IS NULL OR s.account_id NOT IN"                         \
    NGX_HTTP_MASTODON_TL_SQL_EXCLUDED ")"

/* Status.not_domain_blocked_by_account */
#define NGX_HTTP_MASTODON_TL_SQL_DOMAINS                                      \
    " AND ($1::bigint IS NULL OR a.domain IS NULL OR a.domain NOT IN"         \
    " (SELECT xd.domain FROM account_domain_blocks xd"                        \
    "  WHERE xd.account_id = $1::bigint))"

/* PublicFeed's public_scope */
#define NGX_HTTP_MASTODON_TL_SQL_PUBLIC_WHERE                                 \
    " WHERE s.visibility = 0 AND s.deleted_at IS NULL"                        \
    " AND a.suspended_at IS NULL AND a.silenced_at IS NULL"

#define NGX_HTTP_MASTODON_TL_SQL_PUBLIC                                       \
    " FROM statuses s JOIN accounts a ON a.id = s.account_id"                 \
    NGX_HTTP_MASTODON_TL_SQL_PUBLIC_WHERE

#define NGX_HTTP_MASTODON_TL_SQL_MEDIA(param)                                 \
    " AND (NOT " param "::boolean OR EXISTS (SELECT 1"                        \
    "  FROM media_attachments ma WHERE ma.status_id = s.id))"

/* Status.local, Status.remote */
#define NGX_HTTP_MASTODON_TL_SQL_LOCAL   " AND (s.local OR s.uri IS NULL)"
#define NGX_HTTP_MASTODON_TL_SQL_REMOTE                                       \
    " AND s.local = false AND s.uri IS NOT NULL"


/*
 * PublicFeed: no replies (but self-replies), no reblogs; the viewer's
 * blocks and mutes, its domain blocks (not on the local timeline), its
 * chosen languages.  $6 only_media.  Each variant matches its partial index
 * (index_statuses_public_20250129, index_statuses_local_20190824).
 */
#define NGX_HTTP_MASTODON_TL_SQL_PUBLIC_FEED(where, order)                    \
    "SELECT s.id" NGX_HTTP_MASTODON_TL_SQL_PUBLIC                             \
    " AND s.reblog_of_id IS NULL"                                             \
    " AND ((NOT s.reply) OR s.in_reply_to_account_id = s.account_id)"         \
    where                                                                     \
    NGX_HTTP_MASTODON_TL_SQL_PAGE                                             \
    NGX_HTTP_MASTODON_TL_SQL_NOT_EXCLUDED                                     \
    " AND ($1::bigint IS NULL OR NOT EXISTS (SELECT 1 FROM users u"           \
    "  WHERE u.account_id = $1::bigint"                                       \
    "  AND cardinality(u.chosen_languages) > 0"                               \
    "  AND NOT coalesce(s.language = ANY(u.chosen_languages), false)))"       \
    NGX_HTTP_MASTODON_TL_SQL_MEDIA("$6")                                      \
    NGX_HTTP_MASTODON_TL_SQL_ORDER(order)

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_tl_public[2][3] = {
    {
        ngx_http_mastodon_pg_stmt(NGX_HTTP_MASTODON_TL_SQL_PUBLIC_FEED(
            NGX_HTTP_MASTODON_TL_SQL_DOMAINS, "DESC"), 6),
        ngx_http_mastodon_pg_stmt(NGX_HTTP_MASTODON_TL_SQL_PUBLIC_FEED(
            NGX_HTTP_MASTODON_TL_SQL_LOCAL, "DESC"), 6),
        ngx_http_mastodon_pg_stmt(NGX_HTTP_MASTODON_TL_SQL_PUBLIC_FEED(
            NGX_HTTP_MASTODON_TL_SQL_REMOTE NGX_HTTP_MASTODON_TL_SQL_DOMAINS,
            "DESC"), 6)
    },
    {
        ngx_http_mastodon_pg_stmt(NGX_HTTP_MASTODON_TL_SQL_PUBLIC_FEED(
            NGX_HTTP_MASTODON_TL_SQL_DOMAINS, "ASC"), 6),
        ngx_http_mastodon_pg_stmt(NGX_HTTP_MASTODON_TL_SQL_PUBLIC_FEED(
            NGX_HTTP_MASTODON_TL_SQL_LOCAL, "ASC"), 6),
        ngx_http_mastodon_pg_stmt(NGX_HTTP_MASTODON_TL_SQL_PUBLIC_FEED(
            NGX_HTTP_MASTODON_TL_SQL_REMOTE NGX_HTTP_MASTODON_TL_SQL_DOMAINS,
            "ASC"), 6)
    }
};


/* tags whose lower-cased name is one of a text[] parameter's */
#define NGX_HTTP_MASTODON_TL_SQL_TAGS(param)                                  \
    " (SELECT t.id FROM tags t WHERE lower(t.name) IN"                        \
    "  (SELECT lower(x) FROM unnest(" param "::text[]) x))"

/*
 * TagFeed: $6 only_media, $7 local only, $8 remote only, $9 any (the tag
 * first), $10 all, $11 none (names, at most 4 each), $12 the tag.  What
 * both statements below ask of each status besides its tags in "any".
 */
#define NGX_HTTP_MASTODON_TL_SQL_TAG_FILTERS                                  \
    " AND (cardinality($10::text[]) = 0 OR NOT EXISTS (SELECT 1 FROM"         \
    NGX_HTTP_MASTODON_TL_SQL_TAGS("$10")                                      \
    "  ta WHERE NOT EXISTS (SELECT 1 FROM statuses_tags st"                   \
    "  WHERE st.status_id = s.id AND st.tag_id = ta.id)))"                    \
    " AND (cardinality($11::text[]) = 0 OR NOT EXISTS (SELECT 1"              \
    "  FROM statuses_tags st WHERE st.status_id = s.id AND st.tag_id IN"      \
    NGX_HTTP_MASTODON_TL_SQL_TAGS("$11") "))"                                 \
    " AND (NOT $7::boolean OR s.local OR s.uri IS NULL)"                      \
    " AND (NOT $8::boolean OR (s.local = false AND s.uri IS NOT NULL))"       \
    NGX_HTTP_MASTODON_TL_SQL_NOT_EXCLUDED                                     \
    " AND ($7::boolean OR $1::bigint IS NULL OR a.domain IS NULL"             \
    "  OR a.domain NOT IN (SELECT xd.domain FROM account_domain_blocks xd"    \
    "  WHERE xd.account_id = $1::bigint))"                                    \
    NGX_HTTP_MASTODON_TL_SQL_MEDIA("$6")

#define NGX_HTTP_MASTODON_TL_SQL_TAG_FEED(order)                              \
    "SELECT s.id" NGX_HTTP_MASTODON_TL_SQL_PUBLIC                             \
    " AND EXISTS (SELECT 1 FROM tags t0 WHERE lower(t0.name) = lower($12))"   \
    " AND s.id IN (SELECT st.status_id FROM statuses_tags st"                 \
    "  WHERE st.tag_id IN" NGX_HTTP_MASTODON_TL_SQL_TAGS("$9") ")"            \
    NGX_HTTP_MASTODON_TL_SQL_TAG_FILTERS                                      \
    NGX_HTTP_MASTODON_TL_SQL_PAGE                                             \
    NGX_HTTP_MASTODON_TL_SQL_ORDER(order)

/*
 * The same when "any" is the tag alone (nearly always): the page walks
 * statuses_tags by (tag_id, status_id) and stops at the limit.  The generic
 * plan cannot know how many statuses carry a tag and, with the statuses
 * joined first, scanned and sorted them all; here each status is checked
 * in its own subquery (OFFSET 0 keeps it one) and the page's bounds are
 * index conditions.  Its author is looked up by its key (a lateral
 * subquery of its own): joined, the generic plan hashed every account for
 * each status of the page.
 */
#define NGX_HTTP_MASTODON_TL_SQL_TAG_ONE_FEED(order)                          \
    "SELECT st.status_id FROM statuses_tags st, LATERAL (SELECT 1"            \
    " FROM statuses s, LATERAL (SELECT a.domain, a.suspended_at,"             \
    "  a.silenced_at FROM accounts a WHERE a.id = s.account_id OFFSET 0) a"   \
    NGX_HTTP_MASTODON_TL_SQL_PUBLIC_WHERE " AND s.id = st.status_id"          \
    NGX_HTTP_MASTODON_TL_SQL_TAG_FILTERS " OFFSET 0) s"                       \
    " WHERE st.tag_id = (SELECT t.id FROM tags t"                             \
    "  WHERE lower(t.name) = lower($12))"                                     \
    " AND cardinality($9::text[]) = 1"                                        \
    " AND st.status_id < coalesce($2::bigint, 9223372036854775807)"           \
    " AND st.status_id > greatest($3::bigint, $4::bigint, 0)"                 \
    " ORDER BY st.status_id " order " LIMIT $5::int"

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_tl_tag[2][2] = {
    {
        ngx_http_mastodon_pg_stmt(NGX_HTTP_MASTODON_TL_SQL_TAG_FEED("DESC"),
                                  12),
        ngx_http_mastodon_pg_stmt(NGX_HTTP_MASTODON_TL_SQL_TAG_FEED("ASC"),
                                  12)
    },
    {
        ngx_http_mastodon_pg_stmt(
            NGX_HTTP_MASTODON_TL_SQL_TAG_ONE_FEED("DESC"), 12),
        ngx_http_mastodon_pg_stmt(
            NGX_HTTP_MASTODON_TL_SQL_TAG_ONE_FEED("ASC"), 12)
    }
};


/*
 * AccountStatusesFilter: $6 the account, $7 only_media, $8 exclude_replies,
 * $9 exclude_reblogs, $10 tagged (NULL: none), $11 pinned.  The statuses
 * the viewer may see (StatusPolicy#show? as mastodon_status_visible() says,
 * in its two parts: the viewer's relation to the account read once), none
 * when the account blocks the viewer (the filter's blocked?); strangers
 * and followers (not anonymous viewers nor the author) do not see reblogs
 * of accounts they block, are blocked by or mute.
 */
#define NGX_HTTP_MASTODON_TL_SQL_ACCOUNT_FEED(order)                          \
    "SELECT s.id FROM mastodon_viewer_relation($1::bigint, $6::bigint) v,"    \
    " statuses s"                                                             \
    " WHERE s.account_id = $6::bigint AND s.deleted_at IS NULL"               \
    " AND NOT v.blocked_by AND mastodon_visible_to($1::bigint IS NULL,"       \
    "  v.own, v.following, v.blocked_by, s.visibility, EXISTS (SELECT 1"      \
    "  FROM mentions m WHERE m.status_id = s.id"                              \
    "  AND m.account_id = $1::bigint))"                                       \
    " AND ($1::bigint IS NULL OR $1::bigint = $6::bigint"                     \
    "  OR $7::boolean OR $9::boolean"                                         \
    "  OR $10::text IS NOT NULL OR s.reblog_of_id IS NULL"                    \
    "  OR NOT EXISTS (SELECT 1 FROM statuses o WHERE o.id = s.reblog_of_id"   \
    "  AND o.account_id IN" NGX_HTTP_MASTODON_TL_SQL_EXCLUDED "))"            \
    " AND (NOT $7::boolean OR EXISTS (SELECT 1 FROM media_attachments ma"     \
    "  WHERE ma.status_id = s.id AND ma.account_id = $6::bigint))"            \
    " AND (NOT $8::boolean OR (NOT s.reply)"                                  \
    "  OR s.in_reply_to_account_id = s.account_id)"                           \
    " AND (NOT $9::boolean OR s.reblog_of_id IS NULL)"                        \
    " AND ($10::text IS NULL OR EXISTS (SELECT 1 FROM statuses_tags st"       \
    "  JOIN tags t ON t.id = st.tag_id WHERE st.status_id = s.id"             \
    "  AND lower(t.name) = lower($10::text)))"                                \
    " AND (NOT $11::boolean OR EXISTS (SELECT 1 FROM status_pins p"           \
    "  WHERE p.status_id = s.id AND p.account_id = $6::bigint))"              \
    NGX_HTTP_MASTODON_TL_SQL_PAGE                                             \
    order " LIMIT $5::int"

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_tl_account[3] = {
    ngx_http_mastodon_pg_stmt(NGX_HTTP_MASTODON_TL_SQL_ACCOUNT_FEED(
        " ORDER BY s.id DESC"), 11),
    ngx_http_mastodon_pg_stmt(NGX_HTTP_MASTODON_TL_SQL_ACCOUNT_FEED(
        " ORDER BY s.id ASC"), 11),
    /* account.pinned_statuses: by the pin's date, newest first */
    ngx_http_mastodon_pg_stmt(NGX_HTTP_MASTODON_TL_SQL_ACCOUNT_FEED(
        " ORDER BY (SELECT p.created_at FROM status_pins p"
        "  WHERE p.status_id = s.id AND p.account_id = $6::bigint) DESC,"
        " s.id DESC"), 11)
};

/* the account: no row is 404 (absent, or a local user not yet shown) */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_tl_account_check =
    ngx_http_mastodon_pg_stmt(
    "SELECT a.id FROM accounts a WHERE a.id = $1::bigint AND"
    NGX_HTTP_MASTODON_ACCOUNT_SHOWN, 1);


/*
 * When the viewer's first mute ends (unix seconds; NULL: none ends): its
 * remembered pages end then, as the statements' now() would see it.
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_tl_mutes_end =
    ngx_http_mastodon_pg_stmt(
    "SELECT floor(extract(epoch FROM min(m.expires_at)))::bigint"
    " FROM mutes m WHERE m.account_id = $1::bigint"
    " AND m.expires_at > now() AT TIME ZONE 'UTC'", 1);


/* the query parameters each controller keeps in its links, sorted */
static const char *const  ngx_http_mastodon_tl_public_keep[] = {
    "limit", "local", "only_media", "remote", NULL
};

static const char *const  ngx_http_mastodon_tl_tag_keep[] = {
    "limit", "local", "only_media", NULL
};

static const char *const  ngx_http_mastodon_tl_account_keep[] = {
    "exclude_reblogs", "exclude_replies", "limit", "only_media", "pinned",
    "tagged", NULL
};


/*
 * Api::BaseController#limit_param: the default without "limit", else
 * |to_i| up to twice the default (Ruby's to_i: leading blanks, a sign,
 * digits; anything else is 0, which means an empty page).
 */
ngx_uint_t
ngx_http_mastodon_timeline_limit(ngx_http_mastodon_ctx_t *ctx,
    ngx_uint_t dflt)
{
    size_t       len;
    ngx_uint_t   n;
    const char  *s, *end;

    s = mstdn_param_str(ctx->params, "limit", &len);
    if (s == NULL) {
        return dflt;
    }

    end = s + len;

    while (s < end && (*s == ' ' || (*s >= '\t' && *s <= '\r'))) {
        s++;
    }

    if (s < end && (*s == '-' || *s == '+')) {
        s++;
    }

    for (n = 0; s < end && *s >= '0' && *s <= '9'; s++) {
        n = n * 10 + (*s - '0');
        if (n >= 2 * dflt) {
            return 2 * dflt;
        }
    }

    return n;
}


static const char *
ngx_http_mastodon_tl_bool(ngx_uint_t b)
{
    return b ? "true" : "false";
}


static int64_t
ngx_http_mastodon_tl_viewer(ngx_http_mastodon_ctx_t *ctx)
{
    return ctx->auth && ctx->auth->user_id ? ctx->auth->account_id : 0;
}


/* the page and n statement values, $1..$5 set (the endpoint's own NULL) */
static ngx_http_mastodon_tl_t *
ngx_http_mastodon_tl_create(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_uint_t n)
{
    int64_t                  viewer;
    const char             **values;
    ngx_http_mastodon_tl_t  *tl;

    tl = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_tl_t));
    values = ngx_pcalloc(r->pool, n * sizeof(char *));
    if (tl == NULL || values == NULL) {
        return NULL;
    }

    tl->values = values;

    ngx_http_mastodon_page_init(ctx, &tl->page, NGX_HTTP_MASTODON_TL_LIMIT,
                                2 * NGX_HTTP_MASTODON_TL_LIMIT);
    tl->page.limit = ngx_http_mastodon_timeline_limit(ctx,
                                                   NGX_HTTP_MASTODON_TL_LIMIT);

    viewer = ngx_http_mastodon_tl_viewer(ctx);
    values[0] = viewer ? ngx_http_mastodon_pg_int64(r, viewer) : NULL;

    ngx_http_mastodon_page_values(r, &tl->page, values + 1);

    /* page_values leaves a 0 limit NULL */
    values[4] = ngx_http_mastodon_pg_int64(r, tl->page.limit);

    if ((viewer && values[0] == NULL) || values[4] == NULL) {
        return NULL;
    }

    return tl;
}


/*
 * The page's key: which statement (a letter and its variant) and every
 * value, each as its length and bytes ("-" for NULL); the entry's id a
 * hash of it (never 0, the epoch's), the key kept in the entry to tell
 * collisions.  Off without the cache or the relay (nothing would tell us
 * of a change).
 */
static ngx_int_t
ngx_http_mastodon_tl_page_key(ngx_http_request_t *r,
    ngx_http_mastodon_tl_t *tl, u_char kind, ngx_uint_t variant,
    ngx_uint_t nvalues)
{
    u_char      *p;
    size_t       size;
    uint64_t     h;
    ngx_uint_t   i;

    if (!ngx_http_mastodon_cache_accounts_usable()) {
        return NGX_DECLINED;
    }

    size = 2;
    for (i = 0; i < nvalues; i++) {
        size += NGX_SIZE_T_LEN + 2
                + (tl->values[i] ? ngx_strlen(tl->values[i]) : 0);
    }

    tl->key.data = ngx_pnalloc(r->pool, size);
    if (tl->key.data == NULL) {
        return NGX_ERROR;
    }

    p = tl->key.data;
    *p++ = kind;
    *p++ = (u_char) ('0' + variant);

    for (i = 0; i < nvalues; i++) {
        if (tl->values[i] == NULL) {
            *p++ = '-';
            continue;
        }

        p = ngx_sprintf(p, "%uz:%s", ngx_strlen(tl->values[i]),
                        tl->values[i]);
    }

    tl->key.len = p - tl->key.data;

    h = ((uint64_t) ngx_crc32_long(tl->key.data, tl->key.len) << 32)
        | ngx_murmur_hash2(tl->key.data, tl->key.len);
    h &= 0x7fffffffffffffffULL;

    tl->cache_id = h ? (int64_t) h : 1;
    tl->cache = 1;

    return NGX_OK;
}


/*
 * The remembered page: "<epoch> <end> <key length>\n" + the key + its ids
 * (int64_t each, newest first); <end> 0 or the unix second it ends.
 * NGX_OK: tl->ids and tl->n are the page; else the versions a fill takes.
 */
static ngx_int_t
ngx_http_mastodon_tl_page_get(ngx_http_request_t *r,
    ngx_http_mastodon_tl_t *tl)
{
    u_char     *p, *last, *sp;
    off_t       head[3];
    size_t      n;
    ngx_str_t   v;
    ngx_uint_t  i;

    tl->epoch = ngx_http_mastodon_cache_version(NGX_HTTP_MASTODON_CACHE_PAGE,
                                                0);
    tl->version = ngx_http_mastodon_cache_version(
                                  NGX_HTTP_MASTODON_CACHE_PAGE, tl->cache_id);

    if (ngx_http_mastodon_cache_get(NGX_HTTP_MASTODON_CACHE_PAGE,
                                    tl->cache_id, r->pool, &v)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    p = v.data;
    last = v.data + v.len;

    for (i = 0; i < 3; i++) {
        sp = ngx_strlchr(p, last, i < 2 ? ' ' : '\n');
        if (sp == NULL) {
            return NGX_DECLINED;
        }

        head[i] = ngx_atoof(p, sp - p);
        if (head[i] == NGX_ERROR) {
            return NGX_DECLINED;
        }

        p = sp + 1;
    }

    if ((ngx_uint_t) head[0] != tl->epoch
        || (head[1] && ngx_time() >= (time_t) head[1])
        || (size_t) head[2] != tl->key.len
        || (size_t) (last - p) < tl->key.len
        || ngx_memcmp(p, tl->key.data, tl->key.len) != 0)
    {
        return NGX_DECLINED;
    }

    p += tl->key.len;
    n = (last - p) / sizeof(int64_t);

    if ((size_t) (last - p) != n * sizeof(int64_t)) {
        return NGX_DECLINED;
    }

    tl->ids = ngx_palloc(r->pool, (n + 1) * sizeof(int64_t));
    if (tl->ids == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(tl->ids, p, n * sizeof(int64_t));
    tl->n = n;

    return NGX_OK;
}


/* the page just selected, remembered with the versions taken before */
static void
ngx_http_mastodon_tl_remember(ngx_http_mastodon_pg_batch_t *b,
    ngx_http_mastodon_tl_t *tl)
{
    u_char    *p;
    int64_t    end;
    PGresult  *res;
    ngx_str_t  v;

    end = 0;

    if (tl->mutes) {
        res = ngx_http_mastodon_pg_rows(b, tl->mutes);
        if (res == NULL || PQntuples(res) != 1) {
            return;
        }

        if (!PQgetisnull(res, 0, 0)) {
            end = ngx_http_mastodon_pg_int(res, 0, 0);
            if (end <= 0) {
                return;
            }
        }
    }

    v.len = 3 * NGX_INT64_LEN + 3 + tl->key.len + tl->n * sizeof(int64_t);
    v.data = ngx_pnalloc(b->request->pool, v.len);
    if (v.data == NULL) {
        return;
    }

    p = ngx_sprintf(v.data, "%ui %L %uz\n", tl->epoch, end, tl->key.len);
    p = ngx_cpymem(p, tl->key.data, tl->key.len);
    p = ngx_cpymem(p, tl->ids, tl->n * sizeof(int64_t));

    v.len = p - v.data;

    /* the epoch moved meanwhile: the page may predate the change */
    if (ngx_http_mastodon_cache_version(NGX_HTTP_MASTODON_CACHE_PAGE, 0)
        != tl->epoch)
    {
        return;
    }

    ngx_http_mastodon_cache_put(NGX_HTTP_MASTODON_CACHE_PAGE, tl->cache_id,
                                tl->version, &v);
}


/*
 * A public or tag page: remembered, or selected by list (and remembered
 * when it may be); the key made of its values.
 */
static ngx_int_t
ngx_http_mastodon_tl_page(ngx_http_request_t *r, ngx_http_mastodon_tl_t *tl,
    u_char kind, ngx_uint_t variant, ngx_uint_t nvalues,
    ngx_http_mastodon_pg_stmt_t *list)
{
    ngx_int_t  rc;

    rc = ngx_http_mastodon_tl_page_key(r, tl, kind, variant, nvalues);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_OK) {
        rc = ngx_http_mastodon_tl_page_get(r, tl);

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc == NGX_OK) {
            return ngx_http_mastodon_tl_show(r, tl);
        }
    }

    return ngx_http_mastodon_tl_run(r, tl, NULL, NULL, list, tl->values);
}


static ngx_int_t
ngx_http_mastodon_tl_run(ngx_http_request_t *r, ngx_http_mastodon_tl_t *tl,
    ngx_http_mastodon_pg_stmt_t *check, const char **check_values,
    ngx_http_mastodon_pg_stmt_t *list, const char **values)
{
    ngx_http_mastodon_pg_batch_t  *b;

    b = ngx_http_mastodon_pg_batch(r, ngx_http_mastodon_tl_listed, tl);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (check) {
        tl->checked = 1;
        if (ngx_http_mastodon_pg_add(b, check, check_values) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (ngx_http_mastodon_pg_add(b, list, values) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (tl->cache && values[0] != NULL) {
        tl->mutes = b->nqueries;
        if (ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_tl_mutes_end,
                                     values)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (ngx_http_mastodon_pg_run(b) != NGX_OK) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}


static void
ngx_http_mastodon_tl_listed(ngx_http_mastodon_pg_batch_t *b)
{
    int                       i, rows;
    PGresult                 *res;
    ngx_int_t                 rc;
    ngx_http_request_t       *r;
    ngx_http_mastodon_tl_t   *tl;

    r = b->request;
    tl = b->data;

    res = ngx_http_mastodon_pg_rows(b, tl->checked ? 1 : 0);

    if (res == NULL || (tl->checked && ngx_http_mastodon_pg_rows(b, 0) == NULL))
    {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (tl->checked && PQntuples(b->results[0]) == 0) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_NOT_FOUND);
        return;
    }

    rows = PQntuples(res);

    tl->ids = ngx_palloc(r->pool, (rows + 1) * sizeof(int64_t));
    if (tl->ids == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* newest first, whatever the order the page was selected in */
    for (i = 0; i < rows; i++) {
        tl->ids[tl->reverse ? rows - 1 - i : i]
            = ngx_http_mastodon_pg_int(res, i, 0);
    }

    tl->n = rows;

    if (tl->cache) {
        ngx_http_mastodon_tl_remember(b, tl);
    }

    rc = ngx_http_mastodon_tl_show(r, tl);
    if (rc != NGX_DONE) {
        ngx_http_mastodon_finalize(r, rc);
    }
}


/* the page's ids, selected or remembered, to the loader */
static ngx_int_t
ngx_http_mastodon_tl_show(ngx_http_request_t *r, ngx_http_mastodon_tl_t *tl)
{
    if (tl->n == 0) {
        return ngx_http_mastodon_statuses_send_list(r, NULL);
    }

    return ngx_http_mastodon_statuses_fetch(r, tl->ids, tl->n, tl->flags,
                                            ngx_http_mastodon_tl_loaded, tl);
}


static void
ngx_http_mastodon_tl_loaded(ngx_http_request_t *r,
    ngx_http_mastodon_statuses_t *st, void *data)
{
    ngx_http_mastodon_tl_t  *tl = data;

    int64_t                   next;
    ngx_http_mastodon_ctx_t  *ctx;

    if (st->rc != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    /*
     * The links come from the page as selected (Mastodon's @statuses);
     * the account timeline has a next link only after a full page
     * (records_continue?).
     */
    next = tl->ids[tl->n - 1];

    if (tl->kind == NGX_HTTP_MASTODON_TL_ACCOUNT && tl->n != tl->page.limit) {
        next = 0;
    }

    if (ngx_http_mastodon_page_link(r, ctx, &tl->path, tl->keep, 0, next,
                                    "min_id", tl->ids[0])
        != NGX_OK)
    {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_statuses_send_list(r, st));
}


/* GET /api/v1/timelines/public: local, remote, only_media */
ngx_int_t
ngx_http_mastodon_timelines_public(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    ngx_uint_t               local, remote, which;
    const char             **values;
    ngx_http_mastodon_tl_t  *tl;

    tl = ngx_http_mastodon_tl_create(r, ctx, 6);
    if (tl == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values = tl->values;

    ngx_str_set(&tl->path, "/api/v1/timelines/public");
    tl->keep = ngx_http_mastodon_tl_public_keep;
    tl->flags = NGX_HTTP_MASTODON_ST_FILTER|NGX_HTTP_MASTODON_ST_PUBLIC;
    tl->reverse = tl->page.ascending;

    if (tl->page.limit == 0) {
        return ngx_http_mastodon_statuses_send_list(r, NULL);
    }

    /* PublicFeed#local_only?, #remote_only? */
    local = mstdn_param_bool(ctx->params, "local", 0);
    remote = mstdn_param_bool(ctx->params, "remote", 0);
    which = (local && !remote) ? 1 : (remote && !local) ? 2 : 0;

    values[5] = ngx_http_mastodon_tl_bool(
                            mstdn_param_bool(ctx->params, "only_media", 0));

    return ngx_http_mastodon_tl_page(r, tl, 'p', tl->page.ascending * 3 + which,
                            6, &ngx_http_mastodon_tl_public[tl->page.ascending]
                                                           [which]);
}


/* '{"a","b"}': a text[] parameter */
static u_char *
ngx_http_mastodon_tl_text_item(u_char *p, const char *s, size_t len,
    ngx_uint_t first)
{
    if (!first) {
        *p++ = ',';
    }

    *p++ = '"';

    while (len--) {
        if (*s == '"' || *s == '\\') {
            *p++ = '\\';
        }
        *p++ = *s++;
    }

    *p++ = '"';

    return p;
}


/*
 * Tag.matching_name: names are looked up as HashtagNormalizer makes them
 * (lib's mstdn_hashtag_normalize()).  NULL when out of memory.
 */
static const char *
ngx_http_mastodon_tl_tag_name(ngx_http_request_t *r, const char *name,
    size_t len, size_t *out_len)
{
    mstdn_alloc_t  a;

    a.alloc = ngx_http_mastodon_pool_alloc;
    a.ctx = r->pool;

    return mstdn_hashtag_normalize(name, len, &a, out_len);
}


/*
 * Array(params[key]).take(4), normalized, as a text[] literal; with tag
 * (normalized already): Array(tag) | Array(params[key]) (TagFeed's "any").
 */
static const char *
ngx_http_mastodon_tl_names(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, const char *key, ngx_str_t *tag)
{
    u_char         *s, *p;
    size_t          size;
    ngx_str_t       names[NGX_HTTP_MASTODON_TL_NAMES];
    ngx_uint_t      n, i, dup, scalar;
    mstdn_value_t  *v, *e, *list[NGX_HTTP_MASTODON_TL_NAMES];

    v = mstdn_object_get(ctx->params, key);
    n = 0;
    size = 3 + (tag ? 2 * tag->len + 3 : 0);

    scalar = v && (v->type == MSTDN_STRING || v->type == MSTDN_NUMBER);
    e = scalar ? v : (v && v->type == MSTDN_ARRAY) ? v->first : NULL;

    for ( /* void */ ; e && n < NGX_HTTP_MASTODON_TL_NAMES;
         e = scalar ? NULL : e->next)
    {
        if (e->type != MSTDN_STRING && e->type != MSTDN_NUMBER) {
            continue;
        }

        if (tag && tag->len == e->len
            && ngx_strncmp(tag->data, e->str, e->len) == 0)
        {
            continue;
        }

        dup = 0;
        for (i = 0; i < n; i++) {
            if (list[i]->len == e->len
                && ngx_strncmp(list[i]->str, e->str, e->len) == 0)
            {
                dup = 1;
            }
        }

        if (!dup) {
            list[n++] = e;
        }
    }

    for (i = 0; i < n; i++) {
        names[i].data = (u_char *) ngx_http_mastodon_tl_tag_name(r,
                                       list[i]->str, list[i]->len,
                                       &names[i].len);
        if (names[i].data == NULL) {
            return NULL;
        }
        size += 2 * names[i].len + 3;
    }

    s = ngx_pnalloc(r->pool, size);
    if (s == NULL) {
        return NULL;
    }

    p = s;
    *p++ = '{';

    if (tag) {
        p = ngx_http_mastodon_tl_text_item(p, (char *) tag->data, tag->len, 1);
        if (n == NGX_HTTP_MASTODON_TL_NAMES) {
            n--;                    /* the tag counts in the 4 */
        }
    }

    for (i = 0; i < n; i++) {
        p = ngx_http_mastodon_tl_text_item(p, (char *) names[i].data,
                                           names[i].len,
                                           i == 0 && tag == NULL);
    }

    *p++ = '}';
    *p = '\0';

    return (const char *) s;
}


/* GET /api/v1/timelines/tag/:hashtag: any[], all[], none[], local, ... */
ngx_int_t
ngx_http_mastodon_timelines_tag(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    u_char                  *p;
    ngx_uint_t               local, remote, one;
    ngx_str_t               *tag, name;
    const char             **values;
    ngx_http_mastodon_tl_t  *tl;

    tl = ngx_http_mastodon_tl_create(r, ctx, 12);
    if (tl == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values = tl->values;

    tag = &ctx->captures[0];

    /* the decoded path: Rails refuses a parameter that is not UTF-8 */
    if (mstdn_utf8_check(tag->data, tag->len, 0) != MSTDN_UTF8_VALID) {
        ctx->error_message = "Invalid path parameters";
        return NGX_HTTP_BAD_REQUEST;
    }

    tl->path.len = sizeof("/api/v1/timelines/tag/") - 1 + tag->len;
    tl->path.data = ngx_pnalloc(r->pool, tl->path.len);
    p = (u_char *) ngx_http_mastodon_tl_tag_name(r, (char *) tag->data,
                                                 tag->len, &name.len);
    if (tl->path.data == NULL || p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(ngx_cpymem(tl->path.data, "/api/v1/timelines/tag/",
                          sizeof("/api/v1/timelines/tag/") - 1),
               tag->data, tag->len);
    name.data = p;

    tl->keep = ngx_http_mastodon_tl_tag_keep;
    tl->flags = NGX_HTTP_MASTODON_ST_FILTER|NGX_HTTP_MASTODON_ST_PUBLIC;
    tl->reverse = tl->page.ascending;

    if (tl->page.limit == 0) {
        return ngx_http_mastodon_statuses_send_list(r, NULL);
    }

    local = mstdn_param_bool(ctx->params, "local", 0);
    remote = mstdn_param_bool(ctx->params, "remote", 0);

    values[5] = ngx_http_mastodon_tl_bool(
                            mstdn_param_bool(ctx->params, "only_media", 0));
    values[6] = ngx_http_mastodon_tl_bool(local && !remote);
    values[7] = ngx_http_mastodon_tl_bool(remote && !local);
    values[8] = ngx_http_mastodon_tl_names(r, ctx, "any", &name);
    values[9] = ngx_http_mastodon_tl_names(r, ctx, "all", NULL);
    values[10] = ngx_http_mastodon_tl_names(r, ctx, "none", NULL);
    values[11] = (const char *) p;

    if (values[8] == NULL || values[9] == NULL || values[10] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* any[] absent: the tag alone */
    one = (mstdn_object_get(ctx->params, "any") == NULL);

    return ngx_http_mastodon_tl_page(r, tl, 't',
                            one * 2 + tl->page.ascending, 12,
                            &ngx_http_mastodon_tl_tag[one][tl->page.ascending]);
}


/* GET /api/v1/accounts/:id/statuses */
ngx_int_t
ngx_http_mastodon_account_statuses(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    size_t                        len;
    int64_t                       account;
    ngx_uint_t                    pinned, which;
    const char                  **values, **check, *tagged;
    ngx_http_mastodon_tl_t       *tl;

    account = ngx_http_mastodon_capture_id(ctx, 0);
    if (account == 0) {
        return NGX_HTTP_NOT_FOUND;
    }

    tl = ngx_http_mastodon_tl_create(r, ctx, 11);
    check = ngx_pcalloc(r->pool, sizeof(char *));
    if (tl == NULL || check == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values = tl->values;

    tl->kind = NGX_HTTP_MASTODON_TL_ACCOUNT;
    tl->flags = NGX_HTTP_MASTODON_ST_ACCOUNT;
    tl->keep = ngx_http_mastodon_tl_account_keep;

    tl->path.data = ngx_pnalloc(r->pool, sizeof("/api/v1/accounts//statuses")
                                         + NGX_INT64_LEN);
    if (tl->path.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    tl->path.len = ngx_sprintf(tl->path.data, "/api/v1/accounts/%L/statuses",
                               account)
                   - tl->path.data;

    values[5] = ngx_http_mastodon_pg_int64(r, account);
    values[6] = ngx_http_mastodon_tl_bool(
                            mstdn_param_bool(ctx->params, "only_media", 0));
    values[7] = ngx_http_mastodon_tl_bool(
                        mstdn_param_bool(ctx->params, "exclude_replies", 0));
    values[8] = ngx_http_mastodon_tl_bool(
                        mstdn_param_bool(ctx->params, "exclude_reblogs", 0));

    /* params[:tagged].present? */
    tagged = mstdn_param_str(ctx->params, "tagged", &len);
    if (tagged) {
        while (len && (*tagged == ' ' || (*tagged >= '\t' && *tagged <= '\r')))
        {
            tagged++;
            len--;
        }
        if (len == 0) {
            tagged = NULL;
        }
    }

    if (tagged) {
        tagged = ngx_http_mastodon_tl_tag_name(r, tagged, len, &len);
        if (tagged == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    values[9] = tagged;

    pinned = mstdn_param_bool(ctx->params, "pinned", 0);
    values[10] = ngx_http_mastodon_tl_bool(pinned);

    check[0] = values[5];

    if (values[5] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* pinned: in the pins' order, min_id only a bound */
    which = pinned ? 2 : tl->page.ascending;
    tl->reverse = (which == 1);

    return ngx_http_mastodon_tl_run(r, tl, &ngx_http_mastodon_tl_account_check,
                                    check, &ngx_http_mastodon_tl_account[which],
                                    values);
}
