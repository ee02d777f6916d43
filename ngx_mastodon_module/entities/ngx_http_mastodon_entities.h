/*
 * Entities as Mastodon renders them, shared by the endpoints: the Account
 * (_account_entity.c) and the Status for a viewer (_status_entity.c),
 * with the SQL fragments that select and filter their rows.  They render
 * in a backend operation (a request's, a stream's, a timer's), not for a
 * request; test aids that show it in _debug_entities.c.
 */

#ifndef _NGX_HTTP_MASTODON_ENTITIES_H_INCLUDED_
#define _NGX_HTTP_MASTODON_ENTITIES_H_INCLUDED_


#include "ngx_http_mastodon_backend.h"
#include "mstdn_emoji.h"


/* the custom emojis a text names: lib/mstdn_emoji.h */
#define NGX_HTTP_MASTODON_EMOJIS_SQL(domain, text)                            \
    MSTDN_EMOJIS_SQL(domain, text)

/* the Account entity: select these columns (a = accounts, s = account_stats) */
#define NGX_HTTP_MASTODON_ACCOUNT_COLUMNS                                     \
    "a.id, a.username, a.domain, a.display_name, a.locked,"                   \
    " coalesce(a.actor_type, 'Person'), a.discoverable, a.indexable,"         \
    " a.hide_collections,"                                                    \
    " to_char(date_trunc('day', a.created_at),"                               \
    "  'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"                                 \
    " a.note, a.url, a.uri, coalesce(s.followers_count, 0),"                  \
    " coalesce(s.following_count, 0), coalesce(s.statuses_count, 0),"         \
    " to_char(s.last_status_at, 'YYYY-MM-DD'),"                               \
    " coalesce(a.fields::text, '[]'), a.memorial,"                            \
    " a.suspended_at IS NOT NULL, a.silenced_at IS NOT NULL,"                 \
    " CASE WHEN a.domain IS NULL THEN a.avatar_file_name"                     \
    "  ELSE coalesce(a.avatar_file_name, a.avatar_remote_url) END,"           \
    " CASE WHEN a.domain IS NULL THEN a.header_file_name"                     \
    "  ELSE coalesce(a.header_file_name, a.header_remote_url) END, "          \
    NGX_HTTP_MASTODON_EMOJIS_SQL("a.domain",                                  \
        "a.display_name || ' ' || a.note || ' ' || coalesce(a.fields::text, '')")
#define NGX_HTTP_MASTODON_ACCOUNT_NCOLS  24
/* a local account is shown once its user is confirmed and approved */
#define NGX_HTTP_MASTODON_ACCOUNT_SHOWN                                       \
    " (a.domain IS NOT NULL OR EXISTS (SELECT 1 FROM users su"                \
    "  WHERE su.account_id = a.id AND su.approved"                            \
    "  AND su.confirmed_at IS NOT NULL))"
/*
 * The column after the Account's in a statement whose rendering is to be put
 * in the render cache (kind ACCOUNT, ngx_http_mastodon_account_fill_row()):
 * local (a remote account changes with federation, and tests change them
 * behind the module's back) and shown (GET /api/v1/accounts/:id reads the
 * cache before its statement, so what it would not find is never there).
 */
#define NGX_HTTP_MASTODON_ACCOUNT_CACHEABLE                                   \
    " (a.domain IS NULL AND" NGX_HTTP_MASTODON_ACCOUNT_SHOWN ")"
#define NGX_HTTP_MASTODON_ACCOUNT_FROM                                        \
    " FROM accounts a LEFT JOIN account_stats s ON s.account_id = a.id"

void ngx_http_mastodon_account(ngx_http_mastodon_json_t *j, PGresult *res,
    int row, int col);
void ngx_http_mastodon_account_attrs(ngx_http_mastodon_json_t *j,
    PGresult *res, int row, int col);
void ngx_http_mastodon_account_fields(ngx_http_mastodon_json_t *j,
    const char *key, ngx_str_t *json, ngx_uint_t local, ngx_uint_t raw);
void ngx_http_mastodon_account_partial(ngx_http_mastodon_json_t *j,
    PGresult *res, int row, int col);

/* rendered accounts in the render cache (kinds ACCOUNT, CREDENTIALS) */
typedef struct {
    ngx_uint_t                     usable;
    ngx_uint_t                     version;
    ngx_uint_t                     epoch;
} ngx_http_mastodon_account_fill_t;

/* NGX_OK: *json (in pool) is the cached rendering; NGX_DECLINED: a miss */
ngx_int_t ngx_http_mastodon_account_cached(ngx_uint_t kind, int64_t id,
    ngx_pool_t *pool, ngx_str_t *json);
void ngx_http_mastodon_account_fill_start(ngx_uint_t kind, int64_t id,
    ngx_http_mastodon_account_fill_t *fill);
void ngx_http_mastodon_account_fill(ngx_uint_t kind, int64_t id,
    ngx_http_mastodon_account_fill_t *fill, ngx_pool_t *pool,
    ngx_str_t *json);
/* kind ACCOUNT: *json, the Account of row (its columns from col, then
 * NGX_HTTP_MASTODON_ACCOUNT_CACHEABLE's), put when that column says so */
void ngx_http_mastodon_account_fill_row(ngx_http_mastodon_account_fill_t *fill,
    PGresult *res, int row, int col, ngx_pool_t *pool, ngx_str_t *json);
/* every writer of an account, its stats, user or follow requests, after
 * its commit: this node at once (the relay tells every node soon after) */
void ngx_http_mastodon_account_forget(ngx_http_request_t *r, int64_t *ids,
    ngx_uint_t n);
/* "emojis": the rows of NGX_HTTP_MASTODON_EMOJIS_SQL as CustomEmoji
 * entities (a remote one: url and static_url the remote image) */
void ngx_http_mastodon_emojis(ngx_http_mastodon_json_t *j, PGresult *res,
    int row, int col);
/* one CustomEmoji of a local emoji: id, its stored file name; category
 * NULL: none */
void ngx_http_mastodon_local_emoji(ngx_http_mastodon_json_t *j,
    ngx_str_t *shortcode, int64_t id, ngx_str_t *name, ngx_uint_t visible,
    ngx_str_t *category);
/* a local emoji's url and static_url (its stored file name): NGX_DECLINED
 * when the name is not one of ours */
ngx_int_t ngx_http_mastodon_local_emoji_urls(ngx_http_mastodon_json_t *j,
    int64_t id, ngx_str_t *name, ngx_str_t *url, ngx_str_t *static_url);
/* text a local user wrote (a note: multiline; a field value) as HTML */
ngx_int_t ngx_http_mastodon_text_html(ngx_pool_t *pool,
    ngx_http_mastodon_main_conf_t *mcf, ngx_str_t *text, ngx_uint_t multiline,
    ngx_str_t *html);


/*
 * The MediaAttachment entity (_media_entity.c): select these columns of
 * media_attachments m.
 */
#define NGX_HTTP_MASTODON_MEDIA_COLUMNS                                       \
    "m.id, m.type, m.processing, m.file_file_name, m.file_content_type,"      \
    " m.remote_url, m.thumbnail_file_name, m.thumbnail_remote_url,"           \
    " m.file_meta::text, m.description, m.blurhash"
#define NGX_HTTP_MASTODON_MEDIA_NCOLS  11
/* the processing column's state (col as the columns' first) */
#define ngx_http_mastodon_media_processing(res, row, col)                     \
    (PQgetisnull(res, row, (col) + 2) ? 2                                     \
     : ngx_http_mastodon_pg_int(res, row, (col) + 2))

/*
 * The public URL of a stored file: mastodon_media_base_url, [cache/ for a
 * remote record's copy,] <class>/<attachment>/<id partition>/<style>/
 * <name> with its extension swapped for extension when given (the keys
 * worker/media_storage.h stores under); in pool.
 */
ngx_int_t ngx_http_mastodon_media_file_url(ngx_pool_t *pool,
    ngx_http_mastodon_main_conf_t *mcf, ngx_uint_t remote,
    const char *class_name, const char *attachment, int64_t id,
    const char *style, ngx_str_t *name, const char *extension,
    ngx_str_t *url);
/*
 * A local account's avatar or header URL (attribute "avatar", "header";
 * style "original", or "static": a GIF's first frame, else the original).
 */
ngx_int_t ngx_http_mastodon_account_image_url(ngx_pool_t *pool,
    ngx_http_mastodon_main_conf_t *mcf, int64_t id, const char *attribute,
    const char *style, ngx_str_t *name, ngx_str_t *url);
void ngx_http_mastodon_media_attachment(ngx_http_mastodon_json_t *j,
    PGresult *res, int row, int col);


/*
 * Statuses (_status_entity.c): the Status entity for a viewer.  A set of
 * ids is loaded in two round trips at most: the rendered JSON of each status
 * (without account, reblog and the viewer's flags) from the Redis cache,
 * then one PostgreSQL batch with what may be shown to the viewer, its
 * flags, the authors' accounts and the rendering of cache misses.
 */
#define NGX_HTTP_MASTODON_ST_FILTER      0x01  /* drop what the viewer's
                                                  blocks and mutes hide
                                                  (timelines, context) */
/*
 * The filter context of the list (CustomFilter::VALID_CONTEXTS), at most
 * one: a status matching an active filter of the viewer whose
 * filter_action is hide in that context is not shown (home: home and list
 * timelines; public: public and tag timelines; thread: a context's
 * ancestors and descendants; account: an account's statuses).
 */
#define NGX_HTTP_MASTODON_ST_HOME           0x02
#define NGX_HTTP_MASTODON_ST_NOTIFICATIONS  0x04
#define NGX_HTTP_MASTODON_ST_PUBLIC         0x08
#define NGX_HTTP_MASTODON_ST_THREAD         0x10
#define NGX_HTTP_MASTODON_ST_ACCOUNT        0x20

typedef struct ngx_http_mastodon_statuses_s  ngx_http_mastodon_statuses_t;

typedef void (*ngx_http_mastodon_statuses_done_pt)(ngx_http_request_t *r,
    ngx_http_mastodon_statuses_t *st, void *data);

typedef struct {
    int64_t                        id;
    int64_t                        account_id;
    int64_t                        reblog_of_id;   /* 0: not a reblog */
    ngx_uint_t                     visibility;     /* 0 public .. 3 direct */
    ngx_str_t                      base;           /* cached JSON object */
    ngx_int_t                      account;        /* row in st->accounts */
    ngx_int_t                      reblog;         /* item of the original */
    unsigned                       found:1;        /* exists, not deleted */
    unsigned                       visible:1;      /* the viewer may see it */
    unsigned                       hidden:1;       /* blocks/mutes hide it */
    unsigned                       filter_hidden:1; /* a hide filter of the
                                                      list's context */
    unsigned                       favourited:1;
    unsigned                       reblogged:1;
    unsigned                       muted:1;
    unsigned                       bookmarked:1;
    unsigned                       pinned:1;
    unsigned                       mentioned:1;    /* the viewer is */
    unsigned                       versioned:1;    /* version taken before
                                                      PostgreSQL was read */
    unsigned                       redis_late:1;   /* ... but after Redis */
    ngx_uint_t                     version;        /* the render cache's */
    unsigned                       voted:1;        /* in its poll */
    uint64_t                       own_votes;      /* choices, a bit each */
    ngx_str_t                      filtered;       /* the viewer's
                                                      FilterResult array;
                                                      empty: [] */
} ngx_http_mastodon_status_item_t;

struct ngx_http_mastodon_statuses_s {
    ngx_http_mastodon_op_t        *op;             /* its calls, its pool */
    ngx_pool_t                    *pool;
    ngx_http_mastodon_main_conf_t *conf;           /* base URL, domain */
    ngx_http_request_t            *request;        /* NULL: not a request's */
    int64_t                        viewer;         /* account id, 0: none */
    ngx_uint_t                     flags;          /* NGX_HTTP_MASTODON_ST_* */
    ngx_array_t                    items;          /* the n asked, then
                                                      the reblogged ones */
    ngx_uint_t                     n;
    ngx_uint_t                    *slots;          /* id -> item + 1 */
    ngx_uint_t                     nslots;         /* a power of 2 */
    PGresult                      *accounts;       /* ACCOUNT_COLUMNS rows */
    ngx_str_t                     *account_json;   /* rendered, per row; or
                                                      per author, copied from
                                                      the worker's cache */
    unsigned                       cached_accounts:1;
    unsigned                       filters:1;      /* the viewer's filters
                                                      asked, last query */
    unsigned                       lean_meta:1;    /* all known: the lean
                                                      meta statement */
    unsigned                       filters_versioned:1;
    ngx_uint_t                     filters_version; /* the render cache's,
                                                      taken before asking */
    unsigned                       known:1;        /* the viewer's facts
                                                      from the render cache */
    unsigned                       vf_versioned:1; /* facts to remember */
    ngx_uint_t                     vf_version;     /* the viewer's entry */
    ngx_uint_t                     vf_epoch;       /* every viewer's */
    ngx_uint_t                    *versions;       /* each item's status
                                                      version, taken before
                                                      the lean statement */
    int64_t                       *who;            /* the lean statement's */
    ngx_uint_t                    *rels;           /* authors: relations */
    ngx_uint_t                     nwho;
    ngx_int_t                      rc;             /* NGX_OK, NGX_ERROR */
    ngx_http_mastodon_statuses_done_pt  handler;
    void                          *data;
};

/* ids in the order they are to be shown; viewer: ctx->auth's account */
ngx_http_mastodon_statuses_t *ngx_http_mastodon_statuses(
    ngx_http_request_t *r, int64_t *ids, ngx_uint_t n, ngx_uint_t flags);
/* the same in any operation (a stream's, a timer's): handler(r, ...) gets
 * st->request, NULL unless the operation is a request's */
ngx_http_mastodon_statuses_t *ngx_http_mastodon_statuses_op(
    ngx_http_mastodon_op_t *op, int64_t viewer, int64_t *ids, ngx_uint_t n,
    ngx_uint_t flags);
/* NGX_DONE (handler called later, also on failure: st->rc) or NGX_ERROR */
ngx_int_t ngx_http_mastodon_statuses_load(ngx_http_mastodon_statuses_t *st,
    ngx_http_mastodon_statuses_done_pt handler, void *data);
/* the same, the cache read already (two values per id, as the loader's
 * script returns them: the status, for a reblog its original); NGX_DONE */
ngx_int_t ngx_http_mastodon_statuses_load_cached(
    ngx_http_mastodon_statuses_t *st, redisReply *cached,
    ngx_http_mastodon_statuses_done_pt handler, void *data);
/*
 * A status just written, rendered from the batch that wrote it: the
 * writing statement sets NGX_HTTP_MASTODON_ST_WRITTEN (set_config(...,
 * true)) to its id; _written_add() adds the three statements that select
 * what the Status needs, _written(b, i) renders their rows (i: the first
 * one's index) for its author as viewer.  NULL: not there, or no memory.
 */
#define NGX_HTTP_MASTODON_ST_WRITTEN  "mastodon.written_status"
ngx_int_t ngx_http_mastodon_statuses_written_many_add(
    ngx_http_mastodon_pg_batch_t *b);
ngx_int_t ngx_http_mastodon_statuses_written_add(
    ngx_http_mastodon_pg_batch_t *b);
ngx_http_mastodon_statuses_t *ngx_http_mastodon_statuses_written(
    ngx_http_mastodon_pg_batch_t *b, ngx_uint_t i);
/* both in one: NGX_DONE or the HTTP status to answer with */
ngx_int_t ngx_http_mastodon_statuses_fetch(ngx_http_request_t *r,
    int64_t *ids, ngx_uint_t n, ngx_uint_t flags,
    ngx_http_mastodon_statuses_done_pt handler, void *data);
/* item i (< st->n) exists and may be shown (found, visible, not hidden
 * with ST_FILTER, and its reblogged status too) */
ngx_uint_t ngx_http_mastodon_statuses_shown(ngx_http_mastodon_statuses_t *st,
    ngx_uint_t i);
/* writes item i as a Status (key NULL: a value in an array) */
ngx_int_t ngx_http_mastodon_statuses_send_list(ngx_http_request_t *r,
    ngx_http_mastodon_statuses_t *st);
void ngx_http_mastodon_status_write(ngx_http_mastodon_json_t *j,
    const char *key, ngx_http_mastodon_statuses_t *st, ngx_uint_t i);
/* the viewer-less Status JSON of item i (streaming payloads, job args) */
ngx_int_t ngx_http_mastodon_status_json(ngx_http_mastodon_statuses_t *st,
    ngx_uint_t i, ngx_str_t *out);
/* after a change to statuses or their counters (after the commit): drop
 * the cached renderings; handler may be NULL (fire and forget) */
ngx_int_t ngx_http_mastodon_status_forget(ngx_http_request_t *r,
    int64_t *ids, ngx_uint_t n, ngx_http_mastodon_redis_done_pt handler,
    void *data);
/* the viewer's relations to one author */
#define NGX_HTTP_MASTODON_VIEWER_SUSPENDED        0x01
#define NGX_HTTP_MASTODON_VIEWER_FOLLOWING        0x02
#define NGX_HTTP_MASTODON_VIEWER_BLOCKING         0x04
#define NGX_HTTP_MASTODON_VIEWER_BLOCKED_BY       0x08
#define NGX_HTTP_MASTODON_VIEWER_MUTING           0x10
#define NGX_HTTP_MASTODON_VIEWER_DOMAIN_BLOCKING  0x20

/* the viewer's facts (_viewer_facts.c): known (NGX_OK, rels[i] the
 * relation to item i's author), NGX_DECLINED; then remembered after the
 * lean statement */
ngx_int_t ngx_http_mastodon_viewer_facts(ngx_http_mastodon_statuses_t *st,
    ngx_uint_t *rels);
void ngx_http_mastodon_viewer_facts_remember(
    ngx_http_mastodon_statuses_t *st);
/* after a change to what a viewer sees of statuses and authors (its
 * flags, follows, blocks, mutes; after the commit): its facts go from the
 * render cache, at once here, published for the other nodes; id 0: every
 * viewer's.  Fire and forget. */
void ngx_http_mastodon_viewer_forget(ngx_http_request_t *r, int64_t *ids,
    ngx_uint_t n);
/* a local status' text as HTML; mentions from _status_mentions() */
ngx_int_t ngx_http_mastodon_status_html(ngx_http_request_t *r,
    ngx_str_t *text, mstdn_value_t *mentions, ngx_str_t *html);
/* SQL: a status' mentions as the column _status_mentions() parses */
#define NGX_HTTP_MASTODON_ST_SQL_MENTIONS(s)                                  \
    "(SELECT json_agg(json_build_array(ma.id::text, ma.username,"             \
    "  ma.domain, ma.url) ORDER BY m.id) FROM mentions m"                     \
    "  JOIN accounts ma ON ma.id = m.account_id"                              \
    "  WHERE m.status_id = " s ".id AND NOT m.silent)"
mstdn_value_t *ngx_http_mastodon_status_mentions(ngx_http_request_t *r,
    PGresult *res, int row, int col);
/* an Account entity as a JSON string (rows of ACCOUNT_COLUMNS at col) */
ngx_int_t ngx_http_mastodon_account_json(ngx_http_request_t *r,
    PGresult *res, int row, int col, ngx_str_t *out);
ngx_int_t ngx_http_mastodon_account_op_json(ngx_http_mastodon_op_t *op,
    PGresult *res, int row, int col, ngx_str_t *out);

/*
 * SQL: can account $1 (NULL: anonymous) see status s (StatusPolicy#show?):
 * mastodon_status_visible() of sql/0009_rules.sql, the one home of the
 * rule in SQL (the status loader judges the same on facts it reads once
 * per batch: statuses_judge()); the planner inlines it.
 */
#define NGX_HTTP_MASTODON_ST_SQL_VISIBLE(s)                                   \
    "EXISTS (SELECT FROM mastodon_status_visible($1::bigint, " s ".id, "      \
    s ".account_id, " s ".visibility, " s ".deleted_at))"


/*
 * Polls (_poll_entity.c).  Mastodon's limits (PollValidator; the instance
 * configuration reports them).  The Poll entity every viewer sees alike is
 * mastodon_poll_json() of sql/0017_polls.sql (cached inside the status'
 * rendering, where it is the last key); the viewer's "voted" and
 * "own_votes" go before its closing brace.
 */
#define NGX_HTTP_MASTODON_POLL_MAX_OPTIONS      4
#define NGX_HTTP_MASTODON_POLL_MAX_CHARS        50
#define NGX_HTTP_MASTODON_POLL_MIN_EXPIRATION   300
#define NGX_HTTP_MASTODON_POLL_MAX_EXPIRATION   2629746
/* choices a viewer's votes are kept for (own_votes: a bit each) */
#define NGX_HTTP_MASTODON_POLL_CHOICES          64
/* the longest viewer part */
#define NGX_HTTP_MASTODON_POLL_VIEWER_LEN                                     \
    (sizeof(",\"voted\":false,\"own_votes\":[]")                              \
     + NGX_HTTP_MASTODON_POLL_CHOICES * 3)

/* SQL: the Poll JSON of status s, or NULL */
#define NGX_HTTP_MASTODON_ST_SQL_POLL(s)                                      \
    "(SELECT mastodon_poll_json(sp) FROM polls sp WHERE sp.id = " s ".poll_id)"

/* poll (a Poll JSON object) with the viewer's part spliced in at out
 * (room: poll->len + NGX_HTTP_MASTODON_POLL_VIEWER_LEN); the end */
u_char *ngx_http_mastodon_poll_viewer(u_char *out, ngx_str_t *poll,
    ngx_uint_t voted, uint64_t own_votes);


/* test aids (_debug_entities.c): an account and a status rendered in any
 * operation, as an anonymous client sees them; json NULL: failed */
typedef void (*ngx_http_mastodon_debug_render_pt)(ngx_http_mastodon_op_t *op,
    ngx_str_t *json, void *data);

ngx_int_t ngx_http_mastodon_debug_render(ngx_http_mastodon_op_t *op,
    int64_t account_id, int64_t status_id,
    ngx_http_mastodon_debug_render_pt done, void *data);


#endif /* _NGX_HTTP_MASTODON_ENTITIES_H_INCLUDED_ */
