/*
 * GET /api/v1/timelines/home: the viewer's home feed, a Redis sorted set
 * (mastodon:feed:home:<account id>, see ARCHITECTURE.md) the worker fills.
 *
 * Read path: one Lua script selects the page (and tells a missing feed:
 * no "0" sentinel), then the status loader renders it (one Redis, one
 * PostgreSQL round trip); the newest page, with the render cache, is two
 * plain commands instead (home_fetch_plain).  Scores are the ids as
 * doubles, which lose precision above 2^53, so the script selects with
 * inclusive bounds and compares the members (decimal strings) exactly,
 * fetching more while members at the bounds' rounded scores are cut.
 *
 * A missing feed is rebuilt from PostgreSQL first (FeedManager#populate_home
 * with filter_from_home, mastodon_home_accepts()): the viewer's own
 * statuses and those of the accounts it follows, newest mastodon_feed_max; the same script then
 * writes them with the sentinel, trims, and returns the page.  One request
 * rebuilds a feed at a time (after a Redis restart every returning reader
 * would start one): the script marks the feed, and requests finding the
 * mark wait for the sentinel, asking again every HOME_POLL_MS.  Mastodon
 * answers 206 while a feed regenerates; here the rebuild is awaited, so
 * 200.
 *
 * Big accounts (sql/0031_big_accounts.sql, worker/big_accounts.c): the
 * worker does not push their statuses from the switch on; the home page
 * asks PostgreSQL for the same page of those of the big accounts the
 * viewer follows, through the same rule (mastodon_home_accepts()), and
 * merges the two by id, a status in both once.  With
 * mastodon_big_account_followers 0 (as the worker's big_account_followers)
 * the query is not made.
 *
 * List feeds (mastodon:feed:list:<list id>, _lists.c) are read and
 * rebuilt by the same code, ngx_http_mastodon_feed_page(), with their own
 * rebuild statement.
 */

#include "ngx_http_mastodon_api.h"
#include "ngx_http_mastodon_cache.h"


#define NGX_HTTP_MASTODON_HOME_LIMIT     20
#define NGX_HTTP_MASTODON_HOME_KEY       "mastodon:feed:home:"
/* one rebuild of a feed at a time: the others wait for it, polling */
#define NGX_HTTP_MASTODON_HOME_LOCK_MS   "30000"
#define NGX_HTTP_MASTODON_HOME_POLL_MS   50


typedef struct {
    ngx_http_mastodon_page_t       page;
    ngx_http_request_t            *request;
    ngx_http_mastodon_feed_t      *feed;
    int                            argc;
    const char                   **argv;
    size_t                        *argvlen;
    ngx_uint_t                     rebuilt;
    ngx_uint_t                     renderings;  /* the script returns them */
    ngx_uint_t                     big_version; /* of the "no big" entry */
    ngx_uint_t                     big_versioned;
    ngx_event_t                    poll;        /* waiting for a rebuild */
    int64_t                       *ids;
    ngx_uint_t                     n;
    ngx_uint_t                     replies;     /* of the plain commands */
    ngx_int_t                      sentinel;    /* 1 there, 0 not, -1 no
                                                   answer */
    ngx_uint_t                     ranged;      /* the ids came */
} ngx_http_mastodon_home_t;


static ngx_int_t ngx_http_mastodon_home_fetch(ngx_http_request_t *r,
    ngx_http_mastodon_home_t *h);
static void ngx_http_mastodon_home_fetched(ngx_http_request_t *r,
    redisReply *reply, void *data);
static ngx_int_t ngx_http_mastodon_home_fetch_plain(ngx_http_request_t *r,
    ngx_http_mastodon_home_t *h);
static void ngx_http_mastodon_home_sentinel(ngx_http_request_t *r,
    redisReply *reply, void *data);
static void ngx_http_mastodon_home_range(ngx_http_request_t *r,
    redisReply *reply, void *data);
static void ngx_http_mastodon_home_plain(ngx_http_request_t *r,
    ngx_http_mastodon_home_t *h);
static void ngx_http_mastodon_home_page(ngx_http_request_t *r,
    ngx_http_mastodon_home_t *h, redisReply *reply);
static ngx_int_t ngx_http_mastodon_home_rebuild(ngx_http_request_t *r,
    ngx_http_mastodon_home_t *h);
static ngx_uint_t ngx_http_mastodon_home_no_big(ngx_http_request_t *r,
    ngx_http_mastodon_home_t *h);
static ngx_int_t ngx_http_mastodon_home_big(ngx_http_request_t *r,
    ngx_http_mastodon_home_t *h);
static void ngx_http_mastodon_home_rows(ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_home_merge(ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_home_load(ngx_http_request_t *r,
    ngx_http_mastodon_home_t *h);
static void ngx_http_mastodon_home_loaded(ngx_http_request_t *r,
    ngx_http_mastodon_statuses_t *st, void *data);
static ngx_int_t ngx_http_mastodon_home_wait(ngx_http_request_t *r,
    ngx_http_mastodon_home_t *h);
static void ngx_http_mastodon_home_poll(ngx_event_t *ev);
static void ngx_http_mastodon_home_poll_cleanup(void *data);
static void ngx_http_mastodon_home_unmark(ngx_http_request_t *r,
    ngx_http_mastodon_home_t *h);


/*
 * KEYS[1] the feed, KEYS[2] its :reblogs set.  ARGV: max_id, the lower
 * bound (min_id or since_id), flags ("a": the oldest first (min_id), "r":
 * the renderings too), limit,
 * then for a rebuild feed_max and pairs (id, reblog_of_id or 0), else "".
 * Returns nil when the feed has no sentinel and the caller is to rebuild
 * it (it holds the feed's :rebuild mark until its rebuild writes, or the
 * mark expires), 0 when another request is rebuilding it, else the ids of
 * the page,
 * newest first, and (with "r") their cached renderings as the status
 * loader's own script returns them (two per id: the status, for a reblog
 * the original), which spares the loader its Redis round trip; without
 * "r" (the render cache is used) an empty array.
 */
static const char  ngx_http_mastodon_home_lua[] =
    "local k = KEYS[1]\n"
    "if ARGV[5] ~= '' then\n"
    "  for i = 6, #ARGV - 1, 2 do\n"
    "    redis.call('ZADD', k, ARGV[i], ARGV[i])\n"
    "    if ARGV[i + 1] ~= '0' then\n"
    "      redis.call('ZADD', KEYS[2], ARGV[i], ARGV[i + 1])\n"
    "    end\n"
    "  end\n"
    "  redis.call('ZADD', k, 0, '0')\n"
    "  redis.call('ZREMRANGEBYRANK', k, 1, -(tonumber(ARGV[5]) + 1))\n"
    "  redis.call('DEL', k .. ':rebuild')\n"
    "elseif not redis.call('ZSCORE', k, '0') then\n"
    "  if redis.call('SET', k .. ':rebuild', '1', 'NX', 'PX', '"
    NGX_HTTP_MASTODON_HOME_LOCK_MS "') then\n"
    "    return false\n"
    "  end\n"
    "  return 0\n"
    "end\n"
    "local hi, lo, lim = ARGV[1], ARGV[2], tonumber(ARGV[4])\n"
    "local asc = string.find(ARGV[3], 'a', 1, true)\n"
    "local function lt(a, b)\n"
    "  if #a ~= #b then return #a < #b end\n"
    "  return a < b\n"
    "end\n"
    "local top = hi == '' and '+inf' or hi\n"
    "local bot = lo == '' and '(0' or lo\n"
    "local out, off, batch = {}, 0, lim + 8\n"
    "while #out < lim do\n"
    "  local ids\n"
    "  if asc then\n"
    "    ids = redis.call('ZRANGEBYSCORE', k, bot, top, 'LIMIT', off, batch)\n"
    "  else\n"
    "    ids = redis.call('ZREVRANGEBYSCORE', k, top, bot, 'LIMIT', off,"
    " batch)\n"
    "  end\n"
    "  for _, id in ipairs(ids) do\n"
    "    if id ~= '0' and (hi == '' or lt(id, hi))"
    " and (lo == '' or lt(lo, id)) then\n"
    "      out[#out + 1] = id\n"
    "      if #out == lim then break end\n"
    "    end\n"
    "  end\n"
    "  if #ids < batch then break end\n"
    "  off = off + batch\n"
    "end\n"
    "local n = #out\n"
    "if asc then\n"
    "  for i = 1, math.floor(n / 2) do\n"
    "    out[i], out[n + 1 - i] = out[n + 1 - i], out[i]\n"
    "  end\n"
    "end\n"
    "local vals = {}\n"
    "if not string.find(ARGV[3], 'r', 1, true) then\n"
    "  return {out, vals}\n"
    "end\n"
    "for i, id in ipairs(out) do\n"
    "  local v = redis.call('GET', 'mastodon:status:' .. id)\n"
    "  local o = false\n"
    "  if v then\n"
    "    local r = string.match(v, '^%d+ (%d+) ')\n"
    "    if r and r ~= '0' then\n"
    "      o = redis.call('GET', 'mastodon:status:' .. r)\n"
    "    end\n"
    "  end\n"
    "  vals[2 * i - 1] = v\n"
    "  vals[2 * i] = o\n"
    "end\n"
    "return {out, vals}\n";


/*
 * The statuses a rebuilt feed holds, newest $2 (FeedManager#populate_home):
 * the viewer's own, all of them; of each account it follows, the public,
 * unlisted and private ones whose original, for a reblog, is not deleted
 * and that mastodon_home_accepts() (sql/0009_rules.sql) lets into the feed.
 * Accounts the viewer blocks or mutes are skipped at once (the function
 * would refuse each of their statuses: a shortcut, not a rule).  A reblog
 * of a status in the feed, or a second reblog of one status, is left out
 * (the :reblogs set).
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_home_rebuild_stmt =
    ngx_http_mastodon_pg_stmt(
    "WITH c AS ((SELECT s.id, s.reblog_of_id FROM statuses s"
    "  WHERE s.account_id = $1::bigint AND s.deleted_at IS NULL"
    "  ORDER BY s.id DESC LIMIT $2::int)"
    " UNION ALL"
    " SELECT s.id, s.reblog_of_id FROM follows f CROSS JOIN LATERAL"
    " (SELECT s.id, s.reblog_of_id FROM statuses s"
    "  LEFT JOIN statuses o ON o.id = s.reblog_of_id"
    "  LEFT JOIN accounts oa ON oa.id = o.account_id"
    "  CROSS JOIN LATERAL mastodon_home_accepts($1::bigint, f.languages,"
    "   f.show_reblogs, s.id, s.account_id, s.visibility, s.reply,"
    "   s.in_reply_to_id, s.in_reply_to_account_id, s.language,"
    "   s.reblog_of_id, o.account_id, oa.domain)"
    "  WHERE s.account_id = f.target_account_id AND s.deleted_at IS NULL"
    "  AND s.visibility IN (0, 1, 2)"
    "  AND (o.id IS NULL OR o.deleted_at IS NULL)"
    "  ORDER BY s.id DESC LIMIT $2::int) s"
    " WHERE f.account_id = $1::bigint"
    " AND f.target_account_id NOT IN (SELECT target_account_id FROM blocks"
    "  WHERE account_id = $1::bigint"
    "  UNION ALL SELECT target_account_id FROM mutes"
    "  WHERE account_id = $1::bigint AND (expires_at IS NULL"
    "  OR expires_at > now() AT TIME ZONE 'UTC'))),"
    NGX_HTTP_MASTODON_FEED_REBUILD_END, 2);


/*
 * The page's statuses of the big accounts the viewer follows, not older
 * than their switch, the same rule as the fan-out's: $1 the viewer, ids
 * below $2 and above $3, at most $4, newest first (or, for a min_id page,
 * the oldest); and a NULL row when no account is merged on read at all,
 * which the render cache remembers (NGX_HTTP_MASTODON_CACHE_BIG) so that
 * warm pages ask nothing of PostgreSQL until the worker's first switch.
 */
#define NGX_HTTP_MASTODON_HOME_BIG_SQL(order)                                 \
    "(SELECT s.id FROM follows f"                                             \
    " JOIN feed_big_accounts b ON b.account_id = f.target_account_id"         \
    " CROSS JOIN LATERAL (SELECT s.id FROM statuses s"                        \
    "  LEFT JOIN statuses o ON o.id = s.reblog_of_id"                         \
    "  LEFT JOIN accounts oa ON oa.id = o.account_id"                         \
    "  CROSS JOIN LATERAL mastodon_home_accepts($1::bigint, f.languages,"     \
    "   f.show_reblogs, s.id, s.account_id, s.visibility, s.reply,"           \
    "   s.in_reply_to_id, s.in_reply_to_account_id, s.language,"              \
    "   s.reblog_of_id, o.account_id, oa.domain)"                             \
    "  WHERE s.account_id = f.target_account_id"                              \
    "  AND s.id >= b.since_status_id AND s.id < $2::bigint"                   \
    "  AND s.id > $3::bigint AND s.deleted_at IS NULL"                        \
    "  AND s.visibility IN (0, 1, 2)"                                         \
    "  AND (o.id IS NULL OR o.deleted_at IS NULL)"                            \
    "  ORDER BY s.id " order " LIMIT $4::int) s"                              \
    " WHERE f.account_id = $1::bigint"                                        \
    " ORDER BY s.id " order " LIMIT $4::int)"                                 \
    " UNION ALL SELECT NULL::bigint"                                          \
    "  WHERE NOT EXISTS (SELECT 1 FROM feed_big_accounts)"

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_home_big_stmt =
    ngx_http_mastodon_pg_stmt(NGX_HTTP_MASTODON_HOME_BIG_SQL("DESC"), 4);
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_home_big_asc_stmt =
    ngx_http_mastodon_pg_stmt(NGX_HTTP_MASTODON_HOME_BIG_SQL("ASC"), 4);


/* what Api::V1::Timelines::HomeController keeps in its links */
/* this worker saw "no big account" (kind big, id 0) at that version */
static ngx_uint_t  ngx_http_mastodon_home_none_seen;
static ngx_uint_t  ngx_http_mastodon_home_none_version;


static const char *const  ngx_http_mastodon_home_keep[] = {
    "limit", "local", NULL
};


ngx_int_t
ngx_http_mastodon_timelines_home(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    ngx_http_mastodon_feed_t       *feed;
    ngx_http_mastodon_main_conf_t  *mcf;

    feed = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_feed_t));
    if (feed == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    feed->name = "home";
    feed->key = NGX_HTTP_MASTODON_HOME_KEY;
    feed->id = ctx->auth->account_id;
    feed->rebuild = &ngx_http_mastodon_home_rebuild_stmt;
    ngx_str_set(&feed->path, "/api/v1/timelines/home");
    feed->keep = ngx_http_mastodon_home_keep;
    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);
    feed->merge_big = mcf->big_account_followers != 0;

    return ngx_http_mastodon_feed_page(r, ctx, feed);
}


ngx_int_t
ngx_http_mastodon_feed_page(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_feed_t *feed)
{
    u_char                         *p;
    size_t                          klen;
    int64_t                         lower;
    ngx_uint_t                      i;
    ngx_http_mastodon_home_t       *h;

    h = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_home_t));
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->request = r;
    h->feed = feed;
    klen = ngx_strlen(feed->key);

    ngx_http_mastodon_page_init(ctx, &h->page, NGX_HTTP_MASTODON_HOME_LIMIT,
                                2 * NGX_HTTP_MASTODON_HOME_LIMIT);
    h->page.limit = ngx_http_mastodon_timeline_limit(ctx,
                                                NGX_HTTP_MASTODON_HOME_LIMIT);

    if (h->page.limit == 0) {
        return ngx_http_mastodon_statuses_send_list(r, NULL);
    }

    /* EVAL script 2 feed reblogs max lower asc limit rebuild [pairs]: the
     * pairs only after a rebuild (home_rows makes room for them) */
    h->argv = ngx_palloc(r->pool, 10 * sizeof(char *));
    h->argvlen = ngx_palloc(r->pool, 10 * sizeof(size_t));
    p = ngx_pnalloc(r->pool, 2 * (klen + sizeof(":reblogs") + NGX_INT64_LEN)
                             + 3 * (NGX_INT64_LEN + 1));
    if (h->argv == NULL || h->argvlen == NULL || p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->argv[0] = "EVAL";            /* sent as EVALSHA by _redis.c */
    h->argv[1] = ngx_http_mastodon_home_lua;
    h->argvlen[1] = sizeof(ngx_http_mastodon_home_lua) - 1;
    h->argv[2] = "2";

    h->argv[3] = (const char *) p;
    p = ngx_sprintf(p, "%s%L", feed->key, feed->id);
    h->argvlen[3] = p - (u_char *) h->argv[3];

    h->argv[4] = (const char *) p;
    p = ngx_sprintf(p, "%s%L:reblogs", feed->key, feed->id);
    h->argvlen[4] = p - (u_char *) h->argv[4];

    h->argv[5] = (const char *) p;
    if (h->page.max_id) {
        p = ngx_sprintf(p, "%L", h->page.max_id);
    }
    h->argvlen[5] = p - (u_char *) h->argv[5];

    /* Feed#from_redis: min_id wins over since_id */
    lower = h->page.min_id ? h->page.min_id : h->page.since_id;

    h->argv[6] = (const char *) p;
    if (lower) {
        p = ngx_sprintf(p, "%L", lower);
    }
    h->argvlen[6] = p - (u_char *) h->argv[6];

    /* with the render cache the loader looks there first */
    h->renderings = !ngx_http_mastodon_cache_usable();
    h->argv[7] = h->page.ascending ? (h->renderings ? "ar" : "a")
                                   : (h->renderings ? "r" : "");

    h->argv[8] = (const char *) p;
    p = ngx_sprintf(p, "%ui", h->page.limit);
    h->argvlen[8] = p - (u_char *) h->argv[8];

    h->argv[9] = "";
    h->argc = 10;

    for (i = 0; i < 10; i++) {
        if (i != 1 && i != 3 && i != 4 && i != 5 && i != 6 && i != 8) {
            h->argvlen[i] = ngx_strlen(h->argv[i]);
        }
    }

    /* the newest page, the renderings from the render cache: no script */
    if (!h->renderings && !h->page.ascending && h->page.max_id == 0
        && lower == 0)
    {
        return ngx_http_mastodon_home_fetch_plain(r, h);
    }

    return ngx_http_mastodon_home_fetch(r, h);
}


/*
 * The newest page of a feed by two plain commands sent together (cheaper
 * for Redis than the script): whether the sentinel is there (ZSCORE) and
 * the newest ids above it (no bounds to compare: the scores' precision
 * does not matter).  A feed without the sentinel goes to the script, which
 * rebuilds it or waits for its rebuild.
 */
static ngx_int_t
ngx_http_mastodon_home_fetch_plain(ngx_http_request_t *r,
    ngx_http_mastodon_home_t *h)
{
    const char  **argv;
    size_t       *argvlen;

    argv = ngx_palloc(r->pool, 10 * sizeof(char *));
    argvlen = ngx_palloc(r->pool, 10 * sizeof(size_t));
    if (argv == NULL || argvlen == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    argv[0] = "ZSCORE";
    argvlen[0] = sizeof("ZSCORE") - 1;
    argv[1] = h->argv[3];
    argvlen[1] = h->argvlen[3];
    argv[2] = "0";
    argvlen[2] = 1;

    argv[3] = "ZREVRANGEBYSCORE";
    argvlen[3] = sizeof("ZREVRANGEBYSCORE") - 1;
    argv[4] = h->argv[3];
    argvlen[4] = h->argvlen[3];
    argv[5] = "+inf";
    argvlen[5] = sizeof("+inf") - 1;
    argv[6] = "(0";
    argvlen[6] = sizeof("(0") - 1;
    argv[7] = "LIMIT";
    argvlen[7] = sizeof("LIMIT") - 1;
    argv[8] = "0";
    argvlen[8] = 1;
    argv[9] = h->argv[8];           /* the limit */
    argvlen[9] = h->argvlen[8];

    h->replies = 0;

    if (ngx_http_mastodon_redis_command(r, ngx_http_mastodon_home_sentinel,
                                        h, 3, argv, argvlen)
        != NGX_OK
        || ngx_http_mastodon_redis_command(r, ngx_http_mastodon_home_range,
                                           h, 7, argv + 3, argvlen + 3)
           != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mastodon: feed %s%L: Redis unavailable",
                      h->feed->key, h->feed->id);
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}


static void
ngx_http_mastodon_home_sentinel(ngx_http_request_t *r, redisReply *reply,
    void *data)
{
    ngx_http_mastodon_home_t *h = data;

    if (reply && reply->type == REDIS_REPLY_STRING) {
        h->sentinel = 1;

    } else if (reply && reply->type == REDIS_REPLY_NIL) {
        h->sentinel = 0;

    } else {
        h->sentinel = -1;
    }

    if (++h->replies == 2) {
        ngx_http_mastodon_home_plain(r, h);
    }
}


static void
ngx_http_mastodon_home_range(ngx_http_request_t *r, redisReply *reply,
    void *data)
{
    ngx_http_mastodon_home_t *h = data;

    ngx_uint_t   i;
    redisReply  *e;

    h->ranged = 0;

    if (reply && reply->type == REDIS_REPLY_ARRAY) {
        h->n = 0;
        h->ids = ngx_palloc(r->pool, (reply->elements + h->page.limit + 1)
                                     * sizeof(int64_t));

        for (i = 0; h->ids && i < reply->elements && h->n < h->page.limit;
             i++)
        {
            e = reply->element[i];
            if (e->type == REDIS_REPLY_STRING) {
                h->ids[h->n] = ngx_atoof((u_char *) e->str, e->len);
                if (h->ids[h->n] > 0) {
                    h->n++;
                }
            }
        }

        h->ranged = (h->ids != NULL);
    }

    if (++h->replies == 2) {
        ngx_http_mastodon_home_plain(r, h);
    }
}


/* both plain answers are in */
static void
ngx_http_mastodon_home_plain(ngx_http_request_t *r,
    ngx_http_mastodon_home_t *h)
{
    ngx_int_t  rc;

    if (h->sentinel == 0) {
        /* no feed: the script marks it for a rebuild, or waits */
        rc = ngx_http_mastodon_home_fetch(r, h);
        if (rc != NGX_DONE) {
            ngx_http_mastodon_finalize(r, rc);
        }
        return;
    }

    if (h->sentinel < 0 || !h->ranged) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mastodon: feed %s%L: no answer from Redis",
                      h->feed->key, h->feed->id);
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    ngx_http_mastodon_home_page(r, h, NULL);
}


static ngx_int_t
ngx_http_mastodon_home_fetch(ngx_http_request_t *r,
    ngx_http_mastodon_home_t *h)
{
    if (ngx_http_mastodon_redis_command(r, ngx_http_mastodon_home_fetched, h,
                                        h->argc, h->argv, h->argvlen)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mastodon: feed %s%L: Redis unavailable",
                      h->feed->key, h->feed->id);
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}


static void
ngx_http_mastodon_home_fetched(ngx_http_request_t *r, redisReply *reply,
    void *data)
{
    ngx_http_mastodon_home_t *h = data;

    ngx_int_t    rc;
    ngx_uint_t   i;
    redisReply  *e, *ids;

    if (reply && reply->type == REDIS_REPLY_INTEGER && !h->rebuilt) {
        rc = ngx_http_mastodon_home_wait(r, h);
        if (rc != NGX_DONE) {
            ngx_http_mastodon_finalize(r, rc);
        }
        return;
    }

    if (reply && reply->type == REDIS_REPLY_NIL && !h->rebuilt) {
        rc = ngx_http_mastodon_home_rebuild(r, h);
        if (rc != NGX_DONE) {
            ngx_http_mastodon_finalize(r, rc);
        }
        return;
    }

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_ARRAY)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mastodon: feed %s%L: %s", h->feed->key, h->feed->id,
                      reply && reply->type == REDIS_REPLY_ERROR
                      ? reply->str : "no answer from Redis");
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    ids = reply->element[0];

    h->n = 0;
    h->ids = ngx_palloc(r->pool,
                        (ids->elements + h->page.limit + 1) * sizeof(int64_t));
    if (h->ids == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* newest first (the script turned a min_id page round) */
    for (i = 0; i < ids->elements && h->n < h->page.limit; i++) {
        e = ids->element[i];
        if (e->type == REDIS_REPLY_STRING) {
            h->ids[h->n] = ngx_atoof((u_char *) e->str, e->len);
            if (h->ids[h->n] > 0) {
                h->n++;
            }
        }
    }

    ngx_http_mastodon_home_page(r, h,
                                h->n == ids->elements ? reply->element[1]
                                                      : NULL);
}


/*
 * The page's ids are in h->ids: merged with the big accounts' and loaded;
 * renderings (when the script returned them, every id's): spare the
 * loader its Redis round trip.
 */
static void
ngx_http_mastodon_home_page(ngx_http_request_t *r,
    ngx_http_mastodon_home_t *h, redisReply *renderings)
{
    ngx_int_t                      rc;
    ngx_http_mastodon_statuses_t  *st;

    if (h->feed->merge_big && !ngx_http_mastodon_home_no_big(r, h)) {
        rc = ngx_http_mastodon_home_big(r, h);
        if (rc != NGX_DONE) {
            ngx_http_mastodon_finalize(r, rc);
        }
        return;
    }

    if (h->n == 0) {
        ngx_http_mastodon_finalize(r,
                          ngx_http_mastodon_statuses_send_list(r, NULL));
        return;
    }

    st = ngx_http_mastodon_statuses(r, h->ids, h->n,
                                    NGX_HTTP_MASTODON_ST_FILTER
                                    |NGX_HTTP_MASTODON_ST_HOME);
    if (st == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (h->renderings && renderings && st->n == h->n) {
        /* the renderings came along: straight to PostgreSQL */
        (void) ngx_http_mastodon_statuses_load_cached(st, renderings,
                                               ngx_http_mastodon_home_loaded,
                                               h);
        return;
    }

    if (ngx_http_mastodon_statuses_load(st, ngx_http_mastodon_home_loaded, h)
        == NGX_ERROR)
    {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
    }
}


/*
 * 1: the render cache knows that no account is merged on read; else the
 * entry's version is taken, for home_merge to remember a "none" answer
 */
static ngx_uint_t
ngx_http_mastodon_home_no_big(ngx_http_request_t *r,
    ngx_http_mastodon_home_t *h)
{
    ngx_uint_t  version;

    if (!ngx_http_mastodon_cache_usable()) {
        return 0;
    }

    /*
     * "none" holds until its entry is forgotten, which moves the version:
     * once seen at a version, this worker needs no look (and no lock) until
     * the version moves (an eviction loses the entry, not its truth)
     */
    version = ngx_http_mastodon_cache_version(NGX_HTTP_MASTODON_CACHE_BIG, 0);

    if (ngx_http_mastodon_home_none_seen
        && version == ngx_http_mastodon_home_none_version)
    {
        return 1;
    }

    /* only whether "none" is there: no copy of it into the request */
    if (ngx_http_mastodon_cache_has(NGX_HTTP_MASTODON_CACHE_BIG, 0)) {
        ngx_http_mastodon_home_none_version = version;
        ngx_http_mastodon_home_none_seen = 1;
        return 1;
    }

    h->big_version = version;
    h->big_versioned = 1;

    return 0;
}


/* the page of the big accounts' statuses, to merge (home_merge) */
static ngx_int_t
ngx_http_mastodon_home_big(ngx_http_request_t *r, ngx_http_mastodon_home_t *h)
{
    u_char       *p;
    int64_t       lower;
    const char  **values;

    values = ngx_palloc(r->pool, 4 * sizeof(char *));
    p = ngx_pnalloc(r->pool, 4 * (NGX_INT64_LEN + 1));
    if (values == NULL || p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    lower = h->page.min_id ? h->page.min_id : h->page.since_id;

    values[0] = (const char *) p;
    p = ngx_sprintf(p, "%L", h->feed->id);
    *p++ = '\0';
    values[1] = (const char *) p;
    p = ngx_sprintf(p, "%L", h->page.max_id ? h->page.max_id
                                             : (int64_t) INT64_MAX);
    *p++ = '\0';
    values[2] = (const char *) p;
    p = ngx_sprintf(p, "%L", lower);
    *p++ = '\0';
    values[3] = (const char *) p;
    *ngx_sprintf(p, "%ui", h->page.limit) = '\0';

    return ngx_http_mastodon_pg_query(r, h->page.ascending
                                         ? &ngx_http_mastodon_home_big_asc_stmt
                                         : &ngx_http_mastodon_home_big_stmt,
                                      values, ngx_http_mastodon_home_merge,
                                      h);
}


/*
 * The feed's page (newest first) and the big accounts' (newest first, or
 * oldest first for a min_id page) merged, newest first, each id once; of
 * the merge the newest page.limit, or for a min_id page the oldest.
 */
static void
ngx_http_mastodon_home_merge(ngx_http_mastodon_pg_batch_t *b)
{
    int                        rows, j;
    int64_t                   *big, *out, id;
    PGresult                  *res;
    ngx_uint_t                 i, k, n;
    ngx_http_request_t        *r;
    ngx_http_mastodon_home_t  *h;

    static ngx_str_t  none = ngx_string("0");

    r = b->request;
    h = b->data;

    res = ngx_http_mastodon_pg_rows(b, 0);
    if (res == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    rows = PQntuples(res);

    /* the last row, NULL: no account is merged on read at all */
    if (rows > 0 && PQgetisnull(res, rows - 1, 0)) {
        rows--;

        if (h->big_versioned) {
            ngx_http_mastodon_cache_put(NGX_HTTP_MASTODON_CACHE_BIG, 0,
                                        h->big_version, &none);
        }
    }

    if (rows == 0) {
        ngx_http_mastodon_home_load(r, h);
        return;
    }

    big = ngx_palloc(r->pool, rows * sizeof(int64_t));
    out = ngx_palloc(r->pool, (h->n + rows) * sizeof(int64_t));
    if (big == NULL || out == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    for (j = 0; j < rows; j++) {
        big[h->page.ascending ? rows - 1 - j : j] =
                                       ngx_http_mastodon_pg_int(res, j, 0);
    }

    i = 0;
    k = 0;
    n = 0;

    while (i < h->n || k < (ngx_uint_t) rows) {
        if (k == (ngx_uint_t) rows
            || (i < h->n && h->ids[i] >= big[k]))
        {
            id = h->ids[i++];
            if (k < (ngx_uint_t) rows && big[k] == id) {
                k++;
            }

        } else {
            id = big[k++];
        }

        out[n++] = id;
    }

    if (n > h->page.limit) {
        if (h->page.ascending) {
            out += n - h->page.limit;
        }
        n = h->page.limit;
    }

    h->ids = out;
    h->n = n;

    ngx_http_mastodon_home_load(r, h);
}


/* the merged page to the status loader */
static void
ngx_http_mastodon_home_load(ngx_http_request_t *r,
    ngx_http_mastodon_home_t *h)
{
    ngx_http_mastodon_statuses_t  *st;

    if (h->n == 0) {
        ngx_http_mastodon_finalize(r,
                          ngx_http_mastodon_statuses_send_list(r, NULL));
        return;
    }

    st = ngx_http_mastodon_statuses(r, h->ids, h->n,
                                    NGX_HTTP_MASTODON_ST_FILTER
                                    |NGX_HTTP_MASTODON_ST_HOME);
    if (st == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (ngx_http_mastodon_statuses_load(st, ngx_http_mastodon_home_loaded, h)
        == NGX_ERROR)
    {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
    }
}


static ngx_int_t
ngx_http_mastodon_home_rebuild(ngx_http_request_t *r,
    ngx_http_mastodon_home_t *h)
{
    u_char                         *p;
    ngx_int_t                       rc;
    const char                    **values;
    ngx_http_mastodon_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    values = ngx_palloc(r->pool, 2 * sizeof(char *));
    p = ngx_pnalloc(r->pool, 2 * (NGX_INT64_LEN + 1));
    if (values == NULL || p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[0] = (const char *) p;
    p = ngx_sprintf(p, "%L", h->feed->id);
    *p++ = '\0';
    values[1] = (const char *) p;
    *ngx_sprintf(p, "%ui", mcf->feed_max) = '\0';

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mastodon: rebuilding the %s feed of %L", h->feed->name,
                  h->feed->id);

    rc = ngx_http_mastodon_pg_query(r, h->feed->rebuild,
                                    values, ngx_http_mastodon_home_rows, h);
    if (rc != NGX_DONE) {
        ngx_http_mastodon_home_unmark(r, h);
    }

    return rc;
}


/* another request rebuilds the feed: ask again in a moment */
static ngx_int_t
ngx_http_mastodon_home_wait(ngx_http_request_t *r,
    ngx_http_mastodon_home_t *h)
{
    ngx_pool_cleanup_t  *cln;

    if (h->poll.handler == NULL) {
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        cln->handler = ngx_http_mastodon_home_poll_cleanup;
        cln->data = h;

        h->poll.handler = ngx_http_mastodon_home_poll;
        h->poll.data = h;
        h->poll.log = r->connection->log;
        h->poll.cancelable = 1;
    }

    ngx_add_timer(&h->poll, NGX_HTTP_MASTODON_HOME_POLL_MS);

    return NGX_DONE;
}


static void
ngx_http_mastodon_home_poll(ngx_event_t *ev)
{
    ngx_http_mastodon_home_t *h = ev->data;

    ngx_int_t            rc;
    ngx_http_request_t  *r;

    r = h->request;

    rc = ngx_http_mastodon_home_fetch(r, h);
    if (rc != NGX_DONE) {
        ngx_http_mastodon_finalize(r, rc);
    }
}


static void
ngx_http_mastodon_home_poll_cleanup(void *data)
{
    ngx_http_mastodon_home_t *h = data;

    if (h->poll.timer_set) {
        ngx_del_timer(&h->poll);
    }
}


/* a failed rebuild lets the next request try at once */
static void
ngx_http_mastodon_home_unmark(ngx_http_request_t *r,
    ngx_http_mastodon_home_t *h)
{
    u_char       *p;
    const char   *argv[2];
    size_t        argvlen[2];

    p = ngx_pnalloc(r->pool, h->argvlen[3] + sizeof(":rebuild") - 1);
    if (p == NULL) {
        return;
    }

    argv[0] = "DEL";
    argvlen[0] = 3;
    argv[1] = (const char *) p;
    p = ngx_cpymem(p, h->argv[3], h->argvlen[3]);
    p = ngx_cpymem(p, ":rebuild", sizeof(":rebuild") - 1);
    argvlen[1] = p - (u_char *) argv[1];

    (void) ngx_http_mastodon_redis_command(r, NULL, NULL, 2, argv, argvlen);
}


static void
ngx_http_mastodon_home_rows(ngx_http_mastodon_pg_batch_t *b)
{
    int                             i, rows;
    u_char                         *p;
    size_t                         *argvlen;
    PGresult                       *res;
    const char                    **argv;
    ngx_int_t                       rc;
    ngx_http_request_t             *r;
    ngx_http_mastodon_home_t       *h;
    ngx_http_mastodon_main_conf_t  *mcf;

    r = b->request;
    h = b->data;

    res = ngx_http_mastodon_pg_rows(b, 0);
    if (res == NULL) {
        ngx_http_mastodon_home_unmark(r, h);
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    rows = PQntuples(res);
    if ((ngx_uint_t) rows > mcf->feed_max) {
        rows = mcf->feed_max;
    }

    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    argv = ngx_palloc(r->pool, (10 + 2 * rows) * sizeof(char *));
    argvlen = ngx_palloc(r->pool, (10 + 2 * rows) * sizeof(size_t));
    if (p == NULL || argv == NULL || argvlen == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_memcpy(argv, h->argv, 10 * sizeof(char *));
    ngx_memcpy(argvlen, h->argvlen, 10 * sizeof(size_t));
    h->argv = argv;
    h->argvlen = argvlen;

    h->argv[9] = (const char *) p;
    h->argvlen[9] = ngx_sprintf(p, "%ui", mcf->feed_max) - p;
    h->argc = 10;

    /* PGresult values live as long as the request: no copies */
    for (i = 0; i < rows; i++) {
        h->argv[h->argc] = PQgetvalue(res, i, 0);
        h->argvlen[h->argc++] = PQgetlength(res, i, 0);
        h->argv[h->argc] = PQgetvalue(res, i, 1);
        h->argvlen[h->argc++] = PQgetlength(res, i, 1);
    }

    h->rebuilt = 1;

    rc = ngx_http_mastodon_home_fetch(r, h);
    if (rc != NGX_DONE) {
        ngx_http_mastodon_finalize(r, rc);
    }
}


static void
ngx_http_mastodon_home_loaded(ngx_http_request_t *r,
    ngx_http_mastodon_statuses_t *st, void *data)
{
    ngx_http_mastodon_home_t *h = data;

    ngx_uint_t                        i, first, last;
    ngx_http_mastodon_ctx_t          *ctx;
    ngx_http_mastodon_status_item_t  *it;

    if (st->rc != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    /* the links: the first and last statuses that exist (@statuses) */
    it = st->items.elts;
    first = st->n;
    last = st->n;

    for (i = 0; i < st->n; i++) {
        if (it[i].found) {
            if (first == st->n) {
                first = i;
            }
            last = i;
        }
    }

    if (first < st->n) {
        ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);
        if (ngx_http_mastodon_page_link(r, ctx, &h->feed->path,
                                        h->feed->keep, 0,
                                        it[last].id, "min_id", it[first].id)
            != NGX_OK)
        {
            ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }
    }

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_statuses_send_list(r, st));
}
