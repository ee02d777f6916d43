/*
 * Notifications: GET /api/v1/notifications, /:id, /unread_count, POST
 * /clear, /:id/dismiss (Api::V1::NotificationsController); GET
 * /api/v2/notifications, /:group_key, /unread_count, POST /clear,
 * /:group_key/dismiss (Api::V2::NotificationsController: notification
 * groups, Mastodon 4.3).
 *
 * The worker inserts the rows (notify, distribute jobs) with Mastodon's
 * group_key for favourite, reblog and follow, NULL otherwise; a NULL key
 * reads as "ungrouped-<id>".  What is shown, as Mastodon's browserable and
 * without_suspended scopes: types[] and exclude_types[] (arrays only, as
 * Rails permits them), account_id (v1), filtered ones only with
 * include_filtered or account_id, never from a suspended account; and, at
 * read, nothing from an account the user blocks or mutes with
 * hide_notifications (Mastodon deletes those when the block or mute is
 * made; a notification inserted meanwhile stays hidden this way).
 *
 * The status a notification is about (the mention's, the favourited or
 * reblogged one, the status itself for status and update) comes from the
 * status loader, with the viewer's flags; one it cannot show (deleted, no
 * longer visible) takes its notification out of the answer.
 *
 * The stream renders the notification its event names with the same
 * statement and writer (ngx_http_mastodon_notification_render), in the
 * stream's operation rather than a request.
 *
 * v2 pages walk the notifications newest first (oldest first with min_id)
 * keeping one per group until `limit` groups, as Notification::Groups'
 * recursive query; each group's count, sample accounts (8) and bounds come
 * from its rows up to the page's range.  Where Mastodon's range has an open
 * end (an incomplete page without since_id, or paginating up without
 * max_id) the group is bounded by nothing on that side.
 *
 * The first pages of both (their statements' rows) are kept in the render
 * cache per recipient and read while nothing they depend on changed: see
 * ngx_http_mastodon_notif_epochs() at the end.
 */

#include "ngx_http_mastodon_api.h"
#include "ngx_http_mastodon_cache.h"


#define NGX_HTTP_MASTODON_NOTIF_LIMIT        40
#define NGX_HTTP_MASTODON_NOTIF_COUNT_LIMIT  100
#define NGX_HTTP_MASTODON_NOTIF_COUNT_MAX    1000
#define NGX_HTTP_MASTODON_NOTIF_SAMPLES      "8"

#define NGX_HTTP_MASTODON_NOTIF_GROUPABLE    "{favourite,reblog,follow}"

/* the newest rows of a v1 page the render cache keeps per recipient */
#define NGX_HTTP_MASTODON_NOTIF_WINDOW       40


/* Notification::TYPES of Mastodon 4.3, in its order */
static const char  *ngx_http_mastodon_notif_types[] = {
    "mention", "status", "reblog", "follow", "follow_request", "favourite",
    "poll", "update", "admin.sign_up", "admin.report",
    "severed_relationships", "moderation_warning", NULL
};

#define NGX_HTTP_MASTODON_NOTIF_ALL   0xfff

/* favourite, reblog, follow */
#define NGX_HTTP_MASTODON_NOTIF_GROUPABLE_MASK  ((1 << 5) | (1 << 2) | (1 << 3))

/* the types whose entity carries the status (status_type?) */
#define NGX_HTTP_MASTODON_NOTIF_STATUS_MASK                                   \
    ((1 << 5) | (1 << 2) | (1 << 1) | (1 << 0) | (1 << 6) | (1 << 7))


/* the rows of a v1 statement */
enum {
    NGX_HTTP_MASTODON_NCOL_ID = 0,
    NGX_HTTP_MASTODON_NCOL_TYPE,
    NGX_HTTP_MASTODON_NCOL_CREATED_AT,
    NGX_HTTP_MASTODON_NCOL_GROUP_KEY,
    NGX_HTTP_MASTODON_NCOL_FILTERED,
    NGX_HTTP_MASTODON_NCOL_STATUS,
    NGX_HTTP_MASTODON_NCOL_ACCOUNT
};

/* the rows of a v2 statement: a notification and its group */
enum {
    NGX_HTTP_MASTODON_GCOL_ID = 0,
    NGX_HTTP_MASTODON_GCOL_TYPE,
    NGX_HTTP_MASTODON_GCOL_CREATED_AT,
    NGX_HTTP_MASTODON_GCOL_GROUP_KEY,
    NGX_HTTP_MASTODON_GCOL_GROUPED,
    NGX_HTTP_MASTODON_GCOL_STATUS,
    NGX_HTTP_MASTODON_GCOL_FROM,
    NGX_HTTP_MASTODON_GCOL_RECENT,
    NGX_HTTP_MASTODON_GCOL_SAMPLES,
    NGX_HTTP_MASTODON_GCOL_COUNT,
    NGX_HTTP_MASTODON_GCOL_MIN_ID,
    NGX_HTTP_MASTODON_GCOL_LATEST
};


/* a v1 row, from the statement or the render cache */
typedef struct {
    int64_t                        id;
    ngx_str_t                      type;
    ngx_str_t                      created_at;
    ngx_str_t                      group_key;
    ngx_uint_t                     filtered;
    int64_t                        from;
    ngx_str_t                      account;     /* rendered; empty: res */
    PGresult                      *res;         /* the sender's columns */
    int                            res_row;
    int                            res_col;
} ngx_http_mastodon_notif_row_t;


/* the versions a page put in the render cache is read against (_epochs()) */
typedef struct {
    ngx_uint_t                     usable;
    ngx_uint_t                     version;
    ngx_uint_t                     epoch[4];
} ngx_http_mastodon_notif_fill_t;


typedef struct {
    ngx_uint_t                     version;
    ngx_uint_t                     limit;
    int64_t                        max_id;
    int64_t                        since_id;
    int64_t                        min_id;
    ngx_uint_t                     types;       /* mask of shown types */
    ngx_uint_t                     grouped;     /* mask of grouped types */
    ngx_uint_t                     include_filtered;
    ngx_uint_t                     partial;     /* partial_avatars */
    ngx_uint_t                     paginated;   /* page_* in groups */
    const char                    *from;        /* account_id (v1) */

    PGresult                      *rows;
    PGresult                      *accounts;    /* v2: sample accounts */
    ngx_uint_t                     n;           /* rows */
    ngx_int_t                     *type;        /* per row: its index */
    int64_t                       *target;      /* per row: status, or 0 */
    ngx_http_mastodon_notif_row_t *row;         /* v1 */
    ngx_http_mastodon_notif_fill_t *fill;       /* the page is put */
    ngx_uint_t                     window;      /* v1: more rows than
                                                   the page's were read */
    int64_t                       *senders;     /* v1 cached: to render */
    ngx_http_mastodon_account_fill_t *sender_fill;
    ngx_uint_t                     nsenders;
    ngx_str_t                     *cached_ids;  /* v2: sample accounts */
    ngx_str_t                     *cached_json; /* from the render cache */
    ngx_uint_t                     ncached;
    ngx_http_mastodon_statuses_t  *st;
    ngx_int_t                     *status;      /* per row: item, or -1 */
    ngx_uint_t                     pending;
    ngx_uint_t                     failed;      /* an HTTP status */

    ngx_http_mastodon_op_t        *op;          /* rendering for a stream */
    int64_t                        viewer;
    ngx_http_mastodon_notification_done_pt  handler;
    void                          *data;
} ngx_http_mastodon_notif_t;


static ngx_int_t ngx_http_mastodon_notif_params(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_notif_t *nt);
static const char *ngx_http_mastodon_notif_types_sql(ngx_http_request_t *r,
    ngx_uint_t mask, ngx_uint_t all);
static ngx_int_t ngx_http_mastodon_notif_type(const char *s, size_t len);
static void ngx_http_mastodon_notif_rows_done(ngx_http_mastodon_pg_batch_t *b);
static ngx_int_t ngx_http_mastodon_notif_v1_rows(ngx_pool_t *pool,
    ngx_http_mastodon_notif_t *nt);
static void ngx_http_mastodon_notif_classify(ngx_http_mastodon_notif_t *nt,
    ngx_uint_t i, int type_col, int status_col);
static ngx_int_t ngx_http_mastodon_notif_v2_rows(ngx_pool_t *pool,
    ngx_http_mastodon_notif_t *nt);
static ngx_int_t ngx_http_mastodon_notif_load(ngx_http_request_t *r,
    ngx_http_mastodon_notif_t *nt);
static ngx_int_t ngx_http_mastodon_notif_cached(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_notif_t *nt);
static void ngx_http_mastodon_notif_fill_start(ngx_uint_t kind,
    int64_t viewer, ngx_http_mastodon_notif_fill_t *fill);
static void ngx_http_mastodon_notif_put(ngx_http_request_t *r,
    ngx_http_mastodon_notif_t *nt, int64_t viewer, PGresult *until);
static ngx_int_t ngx_http_mastodon_notif_cached_samples(ngx_http_request_t *r,
    ngx_http_mastodon_notif_t *nt, u_char *list, u_char *last);
static ngx_uint_t ngx_http_mastodon_notif_seen(ngx_str_t *list, ngx_uint_t n,
    ngx_str_t *id);
static int ngx_http_mastodon_notif_account_row(ngx_http_mastodon_notif_t *nt,
    ngx_str_t *id);
static void ngx_http_mastodon_notif_senders_done(
    ngx_http_mastodon_pg_batch_t *b);
static ngx_int_t ngx_http_mastodon_notif_run(ngx_http_request_t *r,
    ngx_http_mastodon_notif_t *nt);
static ngx_int_t ngx_http_mastodon_notif_rows(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_notif_t *nt);
static ngx_int_t ngx_http_mastodon_notif_groups_cached(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_notif_t *nt);
static void ngx_http_mastodon_notif_groups_put(ngx_http_request_t *r,
    ngx_http_mastodon_notif_t *nt, int64_t viewer, PGresult *until);
static void ngx_http_mastodon_notif_statuses_done(ngx_http_request_t *r,
    ngx_http_mastodon_statuses_t *st, void *data);
static void ngx_http_mastodon_notif_accounts_done(
    ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_notif_op_rows_done(
    ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_notif_op_respond(ngx_http_mastodon_notif_t *nt);
static void ngx_http_mastodon_notif_respond(ngx_http_request_t *r,
    ngx_http_mastodon_notif_t *nt);
static ngx_int_t ngx_http_mastodon_notif_answer(ngx_http_request_t *r,
    ngx_http_mastodon_notif_t *nt);
static ngx_uint_t ngx_http_mastodon_notif_shown(ngx_http_mastodon_notif_t *nt,
    ngx_uint_t row);
static void ngx_http_mastodon_notif_v1(ngx_http_mastodon_json_t *j,
    ngx_http_mastodon_notif_t *nt, ngx_uint_t row);
static ngx_int_t ngx_http_mastodon_notif_v2(ngx_http_request_t *r,
    ngx_http_mastodon_json_t *j, ngx_http_mastodon_notif_t *nt);
static ngx_int_t ngx_http_mastodon_notif_link(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_notif_t *nt);
static void ngx_http_mastodon_notif_empty_done(
    ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_notif_dismiss_done(
    ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_notif_count_done(
    ngx_http_mastodon_pg_batch_t *b);


/*
 * SQL.  n is the notification; $1 the user's account everywhere.
 *
 * Shown: from an account that exists and is not suspended
 * (without_suspended), that the user neither blocks nor mutes with
 * hide_notifications.
 */
#define NGX_HTTP_MASTODON_NOTIF_SQL_SHOWN(n)                                  \
    " EXISTS (SELECT 1 FROM accounts fa WHERE fa.id = " n ".from_account_id"  \
    "  AND fa.suspended_at IS NULL)"                                          \
    " AND NOT EXISTS (SELECT 1 FROM blocks hb WHERE hb.account_id = $1"       \
    "  AND hb.target_account_id = " n ".from_account_id)"                     \
    " AND NOT EXISTS (SELECT 1 FROM mutes hm WHERE hm.account_id = $1"        \
    "  AND hm.target_account_id = " n ".from_account_id"                      \
    "  AND hm.hide_notifications AND (hm.expires_at IS NULL"                  \
    "   OR hm.expires_at > now() AT TIME ZONE 'UTC'))"

/*
 * The page's bounds (paginate_by_id): nt's field, how a row's id compares
 * with it, the statements' value ($i).  Both sides must filter: the
 * statement (its LIMIT takes the page from the index, at any depth) and the
 * cached window's rows (the warm path, no PostgreSQL).  So one table for the
 * statements (NOTIF_SQL_BOUNDS), their values (_page_values()) and the
 * cached rows (_in_page()): the cache's filter cannot drift from the SQL.
 */
#define NGX_HTTP_MASTODON_NOTIF_BOUNDS(bound)                                 \
    bound(max_id, <, 2)                                                       \
    bound(since_id, >, 3)                                                     \
    bound(min_id, >, 4)

#define NGX_HTTP_MASTODON_NOTIF_SQL_BOUND(field, cmp, i)                      \
    " AND ($" #i "::bigint IS NULL OR n.id " #cmp " $" #i ")"
#define NGX_HTTP_MASTODON_NOTIF_SQL_BOUNDS                                    \
    NGX_HTTP_MASTODON_NOTIF_BOUNDS(NGX_HTTP_MASTODON_NOTIF_SQL_BOUND)

/* Notification.browserable: types (NULL: all, else the literal of nt's
 * mask: _types_sql(); _in_page() the same), filtered ones, sender */
#define NGX_HTTP_MASTODON_NOTIF_SQL_BROWSE(n, types, filtered, from)          \
    " AND (" types "::varchar[] IS NULL OR " n ".type = ANY (" types "))"     \
    " AND (" filtered "::boolean OR NOT " n ".filtered)"                      \
    " AND (" from "::bigint IS NULL OR " n ".from_account_id = " from ")"

/* Notification#target_status */
#define NGX_HTTP_MASTODON_NOTIF_SQL_TARGET(n)                                 \
    " CASE WHEN " n ".type IN ('status', 'update')"                           \
    "  AND " n ".activity_type = 'Status' THEN " n ".activity_id"             \
    " WHEN " n ".type = 'reblog' THEN (SELECT ts.reblog_of_id FROM statuses"  \
    "  ts WHERE ts.id = " n ".activity_id)"                                   \
    " WHEN " n ".type = 'favourite' THEN (SELECT tf.status_id"                \
    "  FROM favourites tf WHERE tf.id = " n ".activity_id)"                   \
    " WHEN " n ".type = 'mention' THEN (SELECT tm.status_id FROM mentions tm" \
    "  WHERE tm.id = " n ".activity_id)"                                      \
    " WHEN " n ".type = 'poll' THEN (SELECT tp.status_id FROM polls tp"       \
    "  WHERE tp.id = " n ".activity_id) END"

#define NGX_HTTP_MASTODON_NOTIF_SQL_TIME(c)                                   \
    " to_char(" c ", 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* the v1 columns: NCOL_* then the sender's Account */
#define NGX_HTTP_MASTODON_NOTIF_SQL_V1                                        \
    "SELECT n.id, n.type," NGX_HTTP_MASTODON_NOTIF_SQL_TIME("n.created_at")   \
    ", coalesce(n.group_key, 'ungrouped-' || n.id), n.filtered,"              \
    NGX_HTTP_MASTODON_NOTIF_SQL_TARGET("n") ","                               \
    NGX_HTTP_MASTODON_ACCOUNT_COLUMNS                                         \
    " FROM notifications n JOIN accounts a ON a.id = n.from_account_id"       \
    " LEFT JOIN account_stats s ON s.account_id = a.id"                       \
    " WHERE n.account_id = $1::bigint AND" NGX_HTTP_MASTODON_NOTIF_SQL_SHOWN("n")

/*
 * v1 page: $2 max_id, $3 since_id, $4 min_id, $5 limit, $6 types, $7 with
 * filtered ones, $8 account_id
 */
#define NGX_HTTP_MASTODON_NOTIF_SQL_PAGE(order)                               \
    NGX_HTTP_MASTODON_NOTIF_SQL_V1                                            \
    NGX_HTTP_MASTODON_NOTIF_SQL_BROWSE("n", "$6", "$7", "$8")                 \
    NGX_HTTP_MASTODON_NOTIF_SQL_BOUNDS                                        \
    " ORDER BY n.id " order " LIMIT $5::bigint"

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_notif_page =
    ngx_http_mastodon_pg_stmt(NGX_HTTP_MASTODON_NOTIF_SQL_PAGE("DESC"), 8);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_notif_page_up =
    ngx_http_mastodon_pg_stmt(NGX_HTTP_MASTODON_NOTIF_SQL_PAGE("ASC"), 8);

/* v1 show: $2 the id */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_notif_show =
    ngx_http_mastodon_pg_stmt(NGX_HTTP_MASTODON_NOTIF_SQL_V1
                              " AND n.id = $2::bigint", 2);

/* the notifications marker of user $2 */
#define NGX_HTTP_MASTODON_NOTIF_SQL_MARKER                                    \
    " coalesce((SELECT mk.last_read_id FROM markers mk"                       \
    "  WHERE mk.user_id = $2::bigint AND mk.timeline = 'notifications'), 0)"

/* v1 unread: $2 the user, $3 limit, $4 types, $5 filtered, $6 account_id */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_notif_unread_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT count(*) FROM (SELECT 1 FROM notifications n"
        " WHERE n.account_id = $1::bigint AND"
        NGX_HTTP_MASTODON_NOTIF_SQL_SHOWN("n")
        NGX_HTTP_MASTODON_NOTIF_SQL_BROWSE("n", "$4", "$5", "$6")
        " AND n.id >" NGX_HTTP_MASTODON_NOTIF_SQL_MARKER
        " ORDER BY n.id ASC LIMIT $3::bigint) c", 6);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_notif_clear =
    ngx_http_mastodon_pg_stmt(
        "DELETE FROM notifications WHERE account_id = $1::bigint", 1);

/* v1 dismiss: find_by!(id:).destroy! */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_notif_dismiss =
    ngx_http_mastodon_pg_stmt(
        "DELETE FROM notifications"
        " WHERE account_id = $1::bigint AND id = $2::bigint RETURNING id", 2);


/*
 * Groups.  The group of n, with grouped types gt (a varchar[]): its key,
 * or "ungrouped-<id>".
 */
#define NGX_HTTP_MASTODON_NOTIF_SQL_GKEY(n, gt)                               \
    "coalesce(CASE WHEN " n ".type = ANY (" gt "::varchar[])"                 \
    " THEN " n ".group_key END, 'ungrouped-' || " n ".id)"

/* one notification per group, walking in `order` from the bounds ($2-$4) */
#define NGX_HTTP_MASTODON_NOTIF_SQL_WALK(order, cmp, limit, gt, where)        \
    "WITH RECURSIVE g AS ((SELECT n.id,"                                      \
    "  ARRAY[" NGX_HTTP_MASTODON_NOTIF_SQL_GKEY("n", gt) "] AS groups"        \
    "  FROM notifications n WHERE " where                                     \
    "  ORDER BY n.id " order " LIMIT 1)"                                      \
    " UNION ALL SELECT n.id,"                                                 \
    "  array_append(w.groups, " NGX_HTTP_MASTODON_NOTIF_SQL_GKEY("n", gt) ")" \
    "  FROM (SELECT g.id, g.groups FROM g"                                    \
    "   WHERE array_length(g.groups, 1) < " limit ") w,"                      \
    "  LATERAL (SELECT n.* FROM notifications n WHERE " where                 \
    "   AND n.id " cmp " w.id"                                                \
    "   AND " NGX_HTTP_MASTODON_NOTIF_SQL_GKEY("n", gt) " <> ALL (w.groups)"  \
    "   ORDER BY n.id " order " LIMIT 1) n)"

/* what v2 pages walk: $6 types, $7 with filtered ones */
#define NGX_HTTP_MASTODON_NOTIF_SQL_V2_WHERE                                  \
    " n.account_id = $1::bigint AND" NGX_HTTP_MASTODON_NOTIF_SQL_SHOWN("n")   \
    NGX_HTTP_MASTODON_NOTIF_SQL_BROWSE("n", "$6", "$7", "NULL")               \
    NGX_HTTP_MASTODON_NOTIF_SQL_BOUNDS

/* a group's rows up to hi (inclusive; NULL: all) */
#define NGX_HTTP_MASTODON_NOTIF_SQL_MEMBERS(hi)                               \
    " FROM notifications y WHERE y.account_id = $1::bigint"                   \
    " AND y.group_key = n.group_key AND" NGX_HTTP_MASTODON_NOTIF_SQL_SHOWN("y") \
    " AND (" hi " IS NULL OR y.id <= " hi ")"

/*
 * GCOL_*: the notification n, whether it stands for a group (its key and
 * a grouped type), and the group's data within [lo, hi] (NULL: open):
 * NotificationGroup.load_groups_data.
 */
#define NGX_HTTP_MASTODON_NOTIF_SQL_GROUP(gt, lo, hi, from)                   \
    " n.id, n.type," NGX_HTTP_MASTODON_NOTIF_SQL_TIME("n.created_at") ","     \
    NGX_HTTP_MASTODON_NOTIF_SQL_GKEY("n", gt) ","                             \
    " n.group_key IS NOT NULL AND n.type = ANY (" gt "::varchar[]),"          \
    NGX_HTTP_MASTODON_NOTIF_SQL_TARGET("n") ", n.from_account_id,"            \
    " x.recent, x.samples, x.cnt, x.min_id," NGX_HTTP_MASTODON_NOTIF_SQL_TIME("x.latest") \
    " FROM " from " LEFT JOIN LATERAL (SELECT"                                \
    "  (SELECT max(y.id)" NGX_HTTP_MASTODON_NOTIF_SQL_MEMBERS(hi) ") AS recent," \
    "  array_to_string(ARRAY(SELECT y.from_account_id"                        \
    NGX_HTTP_MASTODON_NOTIF_SQL_MEMBERS(hi)                                   \
    "   ORDER BY y.id DESC LIMIT " NGX_HTTP_MASTODON_NOTIF_SAMPLES "), ',')"  \
    "   AS samples,"                                                          \
    "  (SELECT count(*)" NGX_HTTP_MASTODON_NOTIF_SQL_MEMBERS(hi) ") AS cnt,"  \
    "  (SELECT min(y.id) FROM notifications y WHERE y.account_id = $1::bigint" \
    "   AND y.group_key = n.group_key AND" NGX_HTTP_MASTODON_NOTIF_SQL_SHOWN("y") \
    "   AND (" lo " IS NULL OR y.id >= " lo ")) AS min_id,"                   \
    "  (SELECT y.created_at" NGX_HTTP_MASTODON_NOTIF_SQL_MEMBERS(hi)          \
    "   ORDER BY y.id DESC LIMIT 1) AS latest"                                \
    "  WHERE n.group_key IS NOT NULL AND n.type = ANY (" gt "::varchar[])) x" \
    "  ON true"

/*
 * v2 page: $2 max_id, $3 since_id, $4 min_id, $5 limit, $6 types, $7 with
 * filtered ones, $8 grouped types.  The range of an incomplete page is
 * opened as the controller's load_grouped_notifications does.
 */
#define NGX_HTTP_MASTODON_NOTIF_SQL_GROUPS(order, cmp)                        \
    NGX_HTTP_MASTODON_NOTIF_SQL_WALK(order, cmp, "$5::bigint", "$8",          \
                                     NGX_HTTP_MASTODON_NOTIF_SQL_V2_WHERE)    \
    ", p AS (SELECT id FROM g ORDER BY id " order " LIMIT $5::bigint),"       \
    " b AS (SELECT CASE WHEN count(*) < $5 THEN CASE WHEN $4 IS NOT NULL"     \
    "   THEN min(p.id) ELSE $3 + 1 END ELSE min(p.id) END AS lo,"             \
    "  CASE WHEN count(*) < $5 AND $4 IS NOT NULL THEN $2"                    \
    "   ELSE max(p.id) END AS hi FROM p)"                                     \
    " SELECT" NGX_HTTP_MASTODON_NOTIF_SQL_GROUP("$8", "b.lo", "b.hi",         \
        "b CROSS JOIN p JOIN notifications n ON n.id = p.id")                 \
    " ORDER BY n.id DESC"

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_notif_groups =
    ngx_http_mastodon_pg_stmt(NGX_HTTP_MASTODON_NOTIF_SQL_GROUPS("DESC", "<"),
                              8);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_notif_groups_up =
    ngx_http_mastodon_pg_stmt(NGX_HTTP_MASTODON_NOTIF_SQL_GROUPS("ASC", ">"),
                              8);

/* by_group_key: $2 the key, $3 the id of "ungrouped-<id>" (or NULL) */
#define NGX_HTTP_MASTODON_NOTIF_SQL_BY_KEY                                    \
    " n.account_id = $1::bigint AND CASE WHEN $3::bigint IS NULL"             \
    "  THEN n.group_key = $2::varchar ELSE n.id = $3 END"

/* v2 show: the newest of the group, its data over the whole group */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_notif_group_show =
    ngx_http_mastodon_pg_stmt(
        "SELECT" NGX_HTTP_MASTODON_NOTIF_SQL_GROUP(
            "'" NGX_HTTP_MASTODON_NOTIF_GROUPABLE "'", "NULL::bigint",
            "NULL::bigint", "notifications n")
        " WHERE n.id = (SELECT n.id FROM notifications n"
        "  WHERE" NGX_HTTP_MASTODON_NOTIF_SQL_BY_KEY
        "  AND" NGX_HTTP_MASTODON_NOTIF_SQL_SHOWN("n")
        "  ORDER BY n.id DESC LIMIT 1)", 3);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_notif_group_dismiss =
    ngx_http_mastodon_pg_stmt(
        "DELETE FROM notifications n WHERE" NGX_HTTP_MASTODON_NOTIF_SQL_BY_KEY,
        3);

/* v2 unread: groups above the marker, $2 the user, $3 limit, $4 types, $5
 * with filtered ones, $6 grouped types */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_notif_group_unread =
    ngx_http_mastodon_pg_stmt(
        NGX_HTTP_MASTODON_NOTIF_SQL_WALK("ASC", ">", "$3::bigint", "$6",
            " n.account_id = $1::bigint AND"
            NGX_HTTP_MASTODON_NOTIF_SQL_SHOWN("n")
            NGX_HTTP_MASTODON_NOTIF_SQL_BROWSE("n", "$4", "$5", "NULL")
            " AND n.id >" NGX_HTTP_MASTODON_NOTIF_SQL_MARKER)
        " SELECT count(*) FROM (SELECT 1 FROM g LIMIT $3::bigint) c", 6);

/* the sample accounts: $1 their ids ('{1,2}') */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_notif_accounts =
    ngx_http_mastodon_pg_stmt(
        "SELECT " NGX_HTTP_MASTODON_ACCOUNT_COLUMNS
        NGX_HTTP_MASTODON_ACCOUNT_FROM
        " WHERE a.id = ANY ($1::bigint[])", 1);


/*
 * When the page the render cache keeps stops being what the statement
 * would give: the end of the first mute that hides its sender's
 * notifications (NGX_HTTP_MASTODON_NOTIF_SQL_SHOWN), in Unix seconds.
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_notif_until =
    ngx_http_mastodon_pg_stmt(
        "SELECT coalesce(ceil(extract(epoch FROM min(hm.expires_at))), 0)"
        "::bigint FROM mutes hm WHERE hm.account_id = $1::bigint"
        " AND hm.hide_notifications"
        " AND hm.expires_at > now() AT TIME ZONE 'UTC'", 1);

/* the senders of a cached page that are not in the render cache: $1 their
 * ids; whether their rendering may be put there */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_notif_senders =
    ngx_http_mastodon_pg_stmt(
        "SELECT " NGX_HTTP_MASTODON_ACCOUNT_COLUMNS ","
        NGX_HTTP_MASTODON_ACCOUNT_CACHEABLE
        NGX_HTTP_MASTODON_ACCOUNT_FROM
        " WHERE a.id = ANY ($1::bigint[])", 1);


/* Ruby's String#to_i: leading blanks, a sign, digits */
static int64_t
ngx_http_mastodon_notif_to_i(const char *s, size_t len)
{
    size_t   i;
    int64_t  n;
    int      neg;

    i = 0;
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n'
                       || s[i] == '\r' || s[i] == '\f' || s[i] == '\v'))
    {
        i++;
    }

    neg = 0;
    if (i < len && (s[i] == '+' || s[i] == '-')) {
        neg = s[i] == '-';
        i++;
    }

    for (n = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        if (n > (INT64_MAX - 9) / 10) {
            break;                  /* no id is that big */
        }
        n = n * 10 + (s[i] - '0');
    }

    return neg ? -n : n;
}


/* Api::BaseController#limit_param: params[:limit].to_i.abs, capped */
static ngx_uint_t
ngx_http_mastodon_notif_limit(ngx_http_mastodon_ctx_t *ctx, ngx_uint_t dflt,
    ngx_uint_t max)
{
    size_t       len;
    int64_t      n;
    const char  *s;

    if (mstdn_object_get(ctx->params, "limit") == NULL) {
        return dflt;
    }

    s = mstdn_param_str(ctx->params, "limit", &len);
    if (s == NULL) {
        return dflt;
    }

    n = ngx_http_mastodon_notif_to_i(s, len);
    if (n < 0) {
        n = -n;
    }

    return (ngx_uint_t) ngx_min(n, (int64_t) max);
}


static ngx_int_t
ngx_http_mastodon_notif_type(const char *s, size_t len)
{
    ngx_uint_t  i;

    for (i = 0; ngx_http_mastodon_notif_types[i]; i++) {
        if (ngx_strlen(ngx_http_mastodon_notif_types[i]) == len
            && ngx_strncmp(ngx_http_mastodon_notif_types[i], s, len) == 0)
        {
            return i;
        }
    }

    return -1;
}


static ngx_uint_t
ngx_http_mastodon_notif_mask(mstdn_value_t *v)
{
    ngx_int_t   t;
    ngx_uint_t  mask;

    for (mask = 0; v; v = v->next) {
        t = ngx_http_mastodon_notif_type(v->str, v->len);
        if (t >= 0) {
            mask |= 1 << t;
        }
    }

    return mask;
}


/* the request's filters and page; NGX_OK or an HTTP status */
static ngx_int_t
ngx_http_mastodon_notif_params(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_notif_t *nt)
{
    size_t          len;
    int64_t         n;
    ngx_uint_t      given;
    const char     *s;
    mstdn_value_t  *v;

    /* browserable: types (all when none), minus exclude_types */
    v = ngx_http_mastodon_param_array(ctx, "types", &given);
    nt->types = (given && v) ? ngx_http_mastodon_notif_mask(v)
                             : NGX_HTTP_MASTODON_NOTIF_ALL;

    v = ngx_http_mastodon_param_array(ctx, "exclude_types", &given);
    nt->types &= ~ngx_http_mastodon_notif_mask(v);

    nt->include_filtered = mstdn_param_bool(ctx->params, "include_filtered",
                                            0) == 1;

    if (nt->version == 1) {
        s = mstdn_param_str(ctx->params, "account_id", &len);

        if (s && len) {
            /* where(from_account_id: "x") matches nothing but "x".to_i */
            n = ngx_http_mastodon_notif_to_i(s, len);
            nt->from = ngx_http_mastodon_pg_int64(r, n);
            if (nt->from == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
            nt->include_filtered = 1;
        }

    } else {
        v = ngx_http_mastodon_param_array(ctx, "grouped_types", &given);
        nt->grouped = given ? ngx_http_mastodon_notif_mask(v)
                              & NGX_HTTP_MASTODON_NOTIF_GROUPABLE_MASK
                            : NGX_HTTP_MASTODON_NOTIF_GROUPABLE_MASK;

        v = mstdn_object_get(ctx->params, "expand_accounts");

        if (v && v->type != MSTDN_NULL) {
            if (v->type == MSTDN_STRING && v->len == 4
                && ngx_strncmp(v->str, "full", 4) == 0)
            {
                nt->partial = 0;

            } else if (v->type == MSTDN_STRING && v->len == 15
                       && ngx_strncmp(v->str, "partial_avatars", 15) == 0)
            {
                nt->partial = 1;

            } else {
                len = v->type == MSTDN_STRING ? ngx_min(v->len, 200) : 0;
                s = ngx_pnalloc(r->pool, len + 128);
                if (s == NULL) {
                    return NGX_HTTP_INTERNAL_SERVER_ERROR;
                }

                *ngx_sprintf((u_char *) s, "Invalid value for "
                             "'expand_accounts': '%*s', allowed values are "
                             "'full' and 'partial_avatars'",
                             len, v->type == MSTDN_STRING ? v->str : "")
                    = '\0';

                ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                              "mastodon: notifications: invalid "
                              "expand_accounts");
                ctx->error_message = s;
                return NGX_HTTP_BAD_REQUEST;
            }
        }
    }

    nt->limit = ngx_http_mastodon_notif_limit(ctx,
                                              NGX_HTTP_MASTODON_NOTIF_LIMIT,
                                              2 * NGX_HTTP_MASTODON_NOTIF_LIMIT);

    if (mstdn_param_int64(ctx->params, "max_id", &n) == 0 && n > 0) {
        nt->max_id = n;
    }

    if (mstdn_param_int64(ctx->params, "min_id", &n) == 0 && n > 0) {
        nt->min_id = n;

    } else if (mstdn_param_int64(ctx->params, "since_id", &n) == 0 && n > 0) {
        nt->since_id = n;           /* ignored with min_id, as Mastodon */
    }

    return NGX_OK;
}


/* a varchar[] literal of the types in mask; NULL when every type is in */
static const char *
ngx_http_mastodon_notif_types_sql(ngx_http_request_t *r, ngx_uint_t mask,
    ngx_uint_t all)
{
    u_char      *p, *start;
    ngx_uint_t   i;

    if (all && mask == NGX_HTTP_MASTODON_NOTIF_ALL) {
        return NULL;
    }

    start = ngx_pnalloc(r->pool, 256);
    if (start == NULL) {
        return NULL;
    }

    p = start;
    *p++ = '{';

    for (i = 0; ngx_http_mastodon_notif_types[i]; i++) {
        if (mask & (1 << i)) {
            if (p - start > 1) {
                *p++ = ',';
            }
            p = ngx_cpymem(p, ngx_http_mastodon_notif_types[i],
                           ngx_strlen(ngx_http_mastodon_notif_types[i]));
        }
    }

    *p++ = '}';
    *p = '\0';

    return (const char *) start;
}


/* a bound's value ($i), when the request gives it */
#define NGX_HTTP_MASTODON_NOTIF_BOUND_VALUE(field, cmp, i)                    \
    if (nt->field) {                                                          \
        values[i - 1] = ngx_http_mastodon_pg_int64(r, nt->field);             \
        if (values[i - 1] == NULL) {                                          \
            return NULL;                                                      \
        }                                                                     \
    }


/* the user, then 7 more values of the page statements */
static const char **
ngx_http_mastodon_notif_page_values(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_notif_t *nt)
{
    const char  **values;

    values = ngx_pcalloc(r->pool, 8 * sizeof(char *));
    if (values == NULL) {
        return NULL;
    }

    NGX_HTTP_MASTODON_NOTIF_BOUNDS(NGX_HTTP_MASTODON_NOTIF_BOUND_VALUE)

    values[0] = ngx_http_mastodon_pg_int64(r, ctx->auth->account_id);
    values[4] = ngx_http_mastodon_pg_int64(r, nt->limit);
    values[5] = ngx_http_mastodon_notif_types_sql(r, nt->types, 1);
    values[6] = nt->include_filtered ? "t" : "f";

    if (nt->version == 1) {
        values[7] = nt->from;
    } else {
        values[7] = ngx_http_mastodon_notif_types_sql(r, nt->grouped, 0);
    }

    if (values[0] == NULL || values[4] == NULL
        || (nt->types != NGX_HTTP_MASTODON_NOTIF_ALL && values[5] == NULL)
        || (nt->version == 2 && values[7] == NULL))
    {
        return NULL;
    }

    return values;
}


static ngx_http_mastodon_notif_t *
ngx_http_mastodon_notif_new(ngx_http_request_t *r, ngx_uint_t version)
{
    ngx_http_mastodon_notif_t  *nt;

    nt = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_notif_t));
    if (nt) {
        nt->version = version;
    }

    return nt;
}


static ngx_int_t
ngx_http_mastodon_notif_index(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_uint_t version)
{
    ngx_int_t                      rc;
    const char                   **values;
    ngx_http_mastodon_pg_stmt_t   *stmt;
    ngx_http_mastodon_notif_t     *nt;
    ngx_http_mastodon_pg_batch_t  *b;

    nt = ngx_http_mastodon_notif_new(r, version);
    if (nt == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_mastodon_notif_params(r, ctx, nt);
    if (rc != NGX_OK) {
        return rc;
    }

    values = ngx_http_mastodon_notif_page_values(r, ctx, nt);
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    nt->paginated = 1;

    if (version == 1 && !nt->include_filtered
        && ngx_http_mastodon_cache_accounts_usable())
    {
        rc = ngx_http_mastodon_notif_cached(r, ctx, nt);
        if (rc != NGX_DECLINED) {
            return rc;
        }

        if (nt->max_id == 0 && nt->since_id == 0 && nt->min_id == 0
            && nt->types == NGX_HTTP_MASTODON_NOTIF_ALL
            && nt->limit <= NGX_HTTP_MASTODON_NOTIF_WINDOW)
        {
            /* the first page: the window's rows are read and put, the
             * page's first `limit` answered */
            nt->fill = ngx_palloc(r->pool,
                                  sizeof(ngx_http_mastodon_notif_fill_t));
            values[4] = ngx_http_mastodon_pg_int64(r,
                                             NGX_HTTP_MASTODON_NOTIF_WINDOW);
            if (nt->fill == NULL || values[4] == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            ngx_http_mastodon_notif_fill_start(
                NGX_HTTP_MASTODON_CACHE_NOTIFICATIONS, ctx->auth->account_id,
                nt->fill);
            nt->window = 1;
        }
    }

    if (version == 2 && !nt->include_filtered && nt->max_id == 0
        && nt->since_id == 0 && nt->min_id == 0
        && ngx_http_mastodon_cache_accounts_usable())
    {
        rc = ngx_http_mastodon_notif_groups_cached(r, ctx, nt);
        if (rc != NGX_DECLINED) {
            return rc;
        }

        nt->fill = ngx_palloc(r->pool, sizeof(ngx_http_mastodon_notif_fill_t));
        if (nt->fill == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_http_mastodon_notif_fill_start(
            NGX_HTTP_MASTODON_CACHE_NOTIFICATION_GROUPS,
            ctx->auth->account_id, nt->fill);
    }

    if (version == 1) {
        stmt = nt->min_id ? &ngx_http_mastodon_notif_page_up
                          : &ngx_http_mastodon_notif_page;
    } else {
        stmt = nt->min_id ? &ngx_http_mastodon_notif_groups_up
                          : &ngx_http_mastodon_notif_groups;
    }

    /* a page to be put: when its rows stop being the statement's */
    b = ngx_http_mastodon_pg_batch(r, ngx_http_mastodon_notif_rows_done, nt);
    if (b == NULL
        || ngx_http_mastodon_pg_add(b, stmt, values) != NGX_OK
        || (nt->fill
            && ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_notif_until,
                                        values)
               != NGX_OK))
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mastodon_pg_run(b) != NGX_OK) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}


/* GET /api/v1/notifications */
ngx_int_t
ngx_http_mastodon_notifications(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_notif_index(r, ctx, 1);
}


/* GET /api/v2/notifications */
ngx_int_t
ngx_http_mastodon_notification_groups(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_notif_index(r, ctx, 2);
}


/* GET /api/v1/notifications/:id */
ngx_int_t
ngx_http_mastodon_notification(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    int64_t                     id;
    ngx_http_mastodon_notif_t  *nt;

    id = ngx_http_mastodon_capture_id(ctx, 0);
    if (id == 0) {
        return NGX_HTTP_NOT_FOUND;
    }

    nt = ngx_http_mastodon_notif_new(r, 1);
    if (nt == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_pg_query_ids(r, &ngx_http_mastodon_notif_show,
                                          ctx->auth->account_id, id,
                                          ngx_http_mastodon_notif_rows_done,
                                          nt);
}


ngx_int_t
ngx_http_mastodon_notification_render(ngx_http_mastodon_op_t *op,
    int64_t viewer, int64_t id, ngx_http_mastodon_notification_done_pt handler,
    void *data)
{
    const char                    **values;
    ngx_http_mastodon_notif_t      *nt;
    ngx_http_mastodon_pg_batch_t   *b;

    nt = ngx_pcalloc(op->pool, sizeof(ngx_http_mastodon_notif_t));
    values = ngx_pcalloc(op->pool, 2 * sizeof(char *));
    if (nt == NULL || values == NULL) {
        return NGX_ERROR;
    }

    nt->version = 1;
    nt->op = op;
    nt->viewer = viewer;
    nt->handler = handler;
    nt->data = data;

    values[0] = ngx_http_mastodon_pg_pool_int64(op->pool, viewer);
    values[1] = ngx_http_mastodon_pg_pool_int64(op->pool, id);

    b = ngx_http_mastodon_pg_op_batch(op, ngx_http_mastodon_notif_op_rows_done,
                                      nt);
    if (values[0] == NULL || values[1] == NULL || b == NULL
        || ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_notif_show, values)
           != NGX_OK
        || ngx_http_mastodon_pg_run(b) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_DONE;
}


static void
ngx_http_mastodon_notif_op_rows_done(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_http_mastodon_notif_t  *nt = b->data;

    if (!ngx_http_mastodon_pg_ok(b)) {
        nt->handler(nt->op, NGX_ERROR, NULL, nt->data);
        return;
    }

    nt->rows = b->results[0];

    if (PQntuples(nt->rows) == 0) {
        nt->handler(nt->op, NGX_DECLINED, NULL, nt->data);
        return;
    }

    nt->pending = 1;                /* until the load is started */

    if (ngx_http_mastodon_notif_v1_rows(nt->op->pool, nt) != NGX_OK
        || ngx_http_mastodon_notif_load(NULL, nt) != NGX_OK)
    {
        nt->failed = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (--nt->pending == 0) {
        ngx_http_mastodon_notif_op_respond(nt);
    }
}


static void
ngx_http_mastodon_notif_op_respond(ngx_http_mastodon_notif_t *nt)
{
    ngx_str_t                 out;
    ngx_http_mastodon_json_t  j;

    if (nt->failed) {
        nt->handler(nt->op, NGX_ERROR, NULL, nt->data);
        return;
    }

    if (!ngx_http_mastodon_notif_shown(nt, 0)) {
        nt->handler(nt->op, NGX_DECLINED, NULL, nt->data);
        return;
    }

    if (ngx_http_mastodon_json_op_init(nt->op, &j) != NGX_OK) {
        nt->handler(nt->op, NGX_ERROR, NULL, nt->data);
        return;
    }

    ngx_http_mastodon_notif_v1(&j, nt, 0);

    if (ngx_http_mastodon_json_string(&j, &out) != NGX_OK) {
        nt->handler(nt->op, NGX_ERROR, NULL, nt->data);
        return;
    }

    nt->handler(nt->op, NGX_OK, &out, nt->data);
}


/* by_group_key's values: $2 the key, $3 the id of "ungrouped-<id>" */
static const char **
ngx_http_mastodon_notif_key_values(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    u_char       *p, *last, *src;
    ngx_str_t    *key;
    const char  **values;

    key = &ctx->captures[0];

    values = ngx_pcalloc(r->pool, 3 * sizeof(char *));
    p = ngx_pnalloc(r->pool, key->len + 1);
    if (values == NULL || p == NULL) {
        return NULL;
    }

    /* the path segment, %-decoded; with a NUL inside it matches no key */
    src = key->data;
    last = p;
    ngx_unescape_uri(&last, &src, key->len, NGX_UNESCAPE_URI);

    if (ngx_strlchr(p, last, '\0')) {
        last = p;
    }

    *last = '\0';

    values[0] = ngx_http_mastodon_pg_int64(r, ctx->auth->account_id);
    values[1] = (const char *) p;

    if (ngx_strncmp(p, "ungrouped-", 10) == 0) {
        /* where(id: "...") */
        values[2] = ngx_http_mastodon_pg_int64(r,
                        ngx_http_mastodon_notif_to_i((char *) p + 10,
                                                     last - p - 10));
        if (values[2] == NULL) {
            return NULL;
        }
    }

    return values[0] ? values : NULL;
}


/* GET /api/v2/notifications/:group_key */
ngx_int_t
ngx_http_mastodon_notification_group(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    const char                **values;
    ngx_http_mastodon_notif_t  *nt;

    nt = ngx_http_mastodon_notif_new(r, 2);
    values = ngx_http_mastodon_notif_key_values(r, ctx);
    if (nt == NULL || values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_pg_query(r, &ngx_http_mastodon_notif_group_show,
                                      values,
                                      ngx_http_mastodon_notif_rows_done, nt);
}


static ngx_int_t
ngx_http_mastodon_notif_unread(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_uint_t version)
{
    ngx_int_t                   rc;
    const char                **values;
    ngx_http_mastodon_notif_t  *nt;

    nt = ngx_http_mastodon_notif_new(r, version);
    values = ngx_pcalloc(r->pool, 6 * sizeof(char *));
    if (nt == NULL || values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_mastodon_notif_params(r, ctx, nt);
    if (rc != NGX_OK) {
        return rc;
    }

    nt->limit = ngx_http_mastodon_notif_limit(ctx,
                                          NGX_HTTP_MASTODON_NOTIF_COUNT_LIMIT,
                                          NGX_HTTP_MASTODON_NOTIF_COUNT_MAX);

    values[0] = ngx_http_mastodon_pg_int64(r, ctx->auth->account_id);
    values[1] = ngx_http_mastodon_pg_int64(r, ctx->auth->user_id);
    values[2] = ngx_http_mastodon_pg_int64(r, nt->limit);
    values[3] = ngx_http_mastodon_notif_types_sql(r, nt->types, 1);
    values[4] = nt->include_filtered ? "t" : "f";
    values[5] = version == 1
                ? nt->from
                : ngx_http_mastodon_notif_types_sql(r, nt->grouped, 0);

    if (values[0] == NULL || values[1] == NULL || values[2] == NULL
        || (nt->types != NGX_HTTP_MASTODON_NOTIF_ALL && values[3] == NULL)
        || (version == 2 && values[5] == NULL))
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_pg_query(r,
                                      version == 1
                                      ? &ngx_http_mastodon_notif_unread_stmt
                                      : &ngx_http_mastodon_notif_group_unread,
                                      values,
                                      ngx_http_mastodon_notif_count_done, nt);
}


/* GET /api/v1/notifications/unread_count */
ngx_int_t
ngx_http_mastodon_notifications_unread(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_notif_unread(r, ctx, 1);
}


/* GET /api/v2/notifications/unread_count */
ngx_int_t
ngx_http_mastodon_notification_groups_unread(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_notif_unread(r, ctx, 2);
}


static void
ngx_http_mastodon_notif_count_done(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_http_request_t        *r;
    ngx_http_mastodon_json_t   j;

    r = b->request;

    if (!ngx_http_mastodon_pg_ok(b)) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_mastodon_json_open(&j, NULL);
    ngx_http_mastodon_json_kv_int(&j, "count",
                                  ngx_http_mastodon_pg_int(b->results[0],
                                                              0, 0));
    ngx_http_mastodon_json_close(&j);

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_json_send(&j,
                                                              NGX_HTTP_OK));
}


/* POST /api/v1/notifications/clear, /api/v2/notifications/clear */
ngx_int_t
ngx_http_mastodon_notifications_clear(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    const char  **values;

    values = ngx_pcalloc(r->pool, sizeof(char *));
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[0] = ngx_http_mastodon_pg_int64(r, ctx->auth->account_id);
    if (values[0] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_pg_query(r, &ngx_http_mastodon_notif_clear,
                                      values,
                                      ngx_http_mastodon_notif_empty_done,
                                      NULL);
}


/* POST /api/v1/notifications/:id/dismiss: 404 unless it is the user's */
ngx_int_t
ngx_http_mastodon_notification_dismiss(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    int64_t  id;

    id = ngx_http_mastodon_capture_id(ctx, 0);
    if (id == 0) {
        return NGX_HTTP_NOT_FOUND;
    }

    return ngx_http_mastodon_pg_query_ids(r, &ngx_http_mastodon_notif_dismiss,
                                          ctx->auth->account_id, id,
                                          ngx_http_mastodon_notif_dismiss_done,
                                          NULL);
}


/*
 * After a dismiss or a clear: the page this node's render cache keeps, at
 * once (the relay tells every node: sql/0048).
 */
static void
ngx_http_mastodon_notif_forget(ngx_http_request_t *r)
{
    ngx_http_mastodon_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    ngx_http_mastodon_cache_forget(NGX_HTTP_MASTODON_CACHE_NOTIFICATIONS,
                                   ctx->auth->account_id);
    ngx_http_mastodon_cache_forget(NGX_HTTP_MASTODON_CACHE_NOTIFICATION_GROUPS,
                                   ctx->auth->account_id);
}


static void
ngx_http_mastodon_notif_dismiss_done(ngx_http_mastodon_pg_batch_t *b)
{
    if (ngx_http_mastodon_pg_ok(b)) {
        ngx_http_mastodon_notif_forget(b->request);
    }

    ngx_http_mastodon_empty_if_found(b);
}


/* POST /api/v2/notifications/:group_key/dismiss: destroy_all, always {} */
ngx_int_t
ngx_http_mastodon_notification_group_dismiss(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    const char  **values;

    values = ngx_http_mastodon_notif_key_values(r, ctx);
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_pg_query(r, &ngx_http_mastodon_notif_group_dismiss,
                                      values,
                                      ngx_http_mastodon_notif_empty_done,
                                      NULL);
}


static void
ngx_http_mastodon_notif_empty_done(ngx_http_mastodon_pg_batch_t *b)
{
    if (!ngx_http_mastodon_pg_ok(b)) {
        ngx_http_mastodon_finalize(b->request, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    ngx_http_mastodon_notif_forget(b->request);

    ngx_http_mastodon_finalize(b->request,
                               ngx_http_mastodon_send_empty(b->request));
}


/*
 * The rows are in: v1 loads the statuses, v2 also the sample accounts;
 * then the answer.
 */
static void
ngx_http_mastodon_notif_rows_done(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_int_t                   rc;
    ngx_http_request_t         *r;
    ngx_http_mastodon_ctx_t    *ctx;
    ngx_http_mastodon_notif_t  *nt;

    r = b->request;
    nt = b->data;
    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    if (!ngx_http_mastodon_pg_ok(b)) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    nt->rows = b->results[0];

    if (nt->fill) {
        if (nt->version == 1) {
            ngx_http_mastodon_notif_put(r, nt, ctx->auth->account_id,
                                        b->results[1]);
        } else {
            ngx_http_mastodon_notif_groups_put(r, nt, ctx->auth->account_id,
                                               b->results[1]);
        }
    }

    rc = ngx_http_mastodon_notif_rows(r, ctx, nt);
    if (rc != NGX_DONE) {
        ngx_http_mastodon_finalize(r, rc);
    }
}


/*
 * The rows are in (nt->rows, from the statement or the render cache): v1
 * loads the statuses, v2 also the sample accounts; then the answer.
 * NGX_DONE while that is under way, else the answer's status.
 */
static ngx_int_t
ngx_http_mastodon_notif_rows(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_notif_t *nt)
{
    int                            i, n;
    u_char                        *list, *p;
    size_t                         len;
    ngx_str_t                      samples;
    ngx_int_t                      rc;
    const char                   **values;

    n = PQntuples(nt->rows);

    rc = nt->version == 1 ? ngx_http_mastodon_notif_v1_rows(r->pool, nt)
                          : ngx_http_mastodon_notif_v2_rows(r->pool, nt);
    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!nt->paginated && n == 0) {
        /* find / take! */
        return NGX_HTTP_NOT_FOUND;
    }

    if (nt->paginated
        && ngx_http_mastodon_notif_link(r, ctx, nt) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (nt->n && nt->version == 2) {
        /* every sample account */
        len = 3;

        for (i = 0; i < n; i++) {
            len += PQgetlength(nt->rows, i, NGX_HTTP_MASTODON_GCOL_SAMPLES)
                   + PQgetlength(nt->rows, i, NGX_HTTP_MASTODON_GCOL_FROM)
                   + 2;
        }

        list = ngx_pnalloc(r->pool, len);
        values = ngx_pcalloc(r->pool, sizeof(char *));
        if (list == NULL || values == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = list;
        *p++ = '{';

        for (i = 0; i < n; i++) {
            if (PQgetvalue(nt->rows, i, NGX_HTTP_MASTODON_GCOL_GROUPED)[0]
                == 't')
            {
                samples = ngx_http_mastodon_pg_str(nt->rows, i,
                                              NGX_HTTP_MASTODON_GCOL_SAMPLES);
            } else {
                samples = ngx_http_mastodon_pg_str(nt->rows, i,
                                              NGX_HTTP_MASTODON_GCOL_FROM);
            }

            if (samples.len == 0) {
                continue;
            }

            if (p - list > 1) {
                *p++ = ',';
            }

            p = ngx_cpymem(p, samples.data, samples.len);
        }

        *p++ = '}';
        *p = '\0';
        values[0] = (const char *) list;

        rc = ngx_http_mastodon_notif_cached_samples(r, nt, list, p);
        if (rc == NGX_OK) {
            goto run;
        }

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        rc = ngx_http_mastodon_pg_query(r, &ngx_http_mastodon_notif_accounts,
                                        values,
                                        ngx_http_mastodon_notif_accounts_done,
                                        nt);
        if (rc != NGX_DONE) {
            return rc;
        }

        nt->pending++;
    }

run:

    return ngx_http_mastodon_notif_run(r, nt);
}


/*
 * The statuses are loaded (and the v2 accounts read), then the answer:
 * NGX_DONE while that is under way, else the answer's status (nothing to
 * wait for: given to the caller, which may be the handler).
 */
static ngx_int_t
ngx_http_mastodon_notif_run(ngx_http_request_t *r,
    ngx_http_mastodon_notif_t *nt)
{
    nt->pending++;                  /* until the load is started */

    if (nt->n && ngx_http_mastodon_notif_load(r, nt) != NGX_OK) {
        nt->failed = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (--nt->pending == 0) {
        return ngx_http_mastodon_notif_answer(r, nt);
    }

    return NGX_DONE;
}


/* a v1 statement's rows (a window's first `limit`) */
static ngx_int_t
ngx_http_mastodon_notif_v1_rows(ngx_pool_t *pool,
    ngx_http_mastodon_notif_t *nt)
{
    ngx_uint_t                      i, n;
    ngx_http_mastodon_notif_row_t  *row;

    n = PQntuples(nt->rows);

    if (nt->window && n > nt->limit) {
        n = nt->limit;
    }

    nt->n = n;
    nt->row = ngx_pcalloc(pool,
                          (n + 1) * sizeof(ngx_http_mastodon_notif_row_t));
    nt->type = ngx_palloc(pool, (n + 1) * sizeof(ngx_int_t));
    nt->target = ngx_palloc(pool, (n + 1) * sizeof(int64_t));
    if (nt->row == NULL || nt->type == NULL || nt->target == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        row = &nt->row[i];

        row->id = ngx_http_mastodon_pg_int(nt->rows, i,
                                           NGX_HTTP_MASTODON_NCOL_ID);
        row->type = ngx_http_mastodon_pg_str(nt->rows, i,
                                             NGX_HTTP_MASTODON_NCOL_TYPE);
        row->created_at = ngx_http_mastodon_pg_str(nt->rows, i,
                                            NGX_HTTP_MASTODON_NCOL_CREATED_AT);
        row->group_key = ngx_http_mastodon_pg_str(nt->rows, i,
                                            NGX_HTTP_MASTODON_NCOL_GROUP_KEY);
        row->filtered = PQgetvalue(nt->rows, i,
                                   NGX_HTTP_MASTODON_NCOL_FILTERED)[0] == 't';
        row->from = ngx_http_mastodon_pg_int(nt->rows, i,
                                             NGX_HTTP_MASTODON_NCOL_ACCOUNT);
        row->res = nt->rows;
        row->res_row = i;
        row->res_col = NGX_HTTP_MASTODON_NCOL_ACCOUNT;

        ngx_http_mastodon_notif_classify(nt, i, NGX_HTTP_MASTODON_NCOL_TYPE,
                                         NGX_HTTP_MASTODON_NCOL_STATUS);
    }

    return NGX_OK;
}


/* a v2 statement's rows: their types and statuses */
static ngx_int_t
ngx_http_mastodon_notif_v2_rows(ngx_pool_t *pool,
    ngx_http_mastodon_notif_t *nt)
{
    ngx_uint_t  i, n;

    n = PQntuples(nt->rows);

    nt->n = n;
    nt->type = ngx_palloc(pool, (n + 1) * sizeof(ngx_int_t));
    nt->target = ngx_palloc(pool, (n + 1) * sizeof(int64_t));
    if (nt->type == NULL || nt->target == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        ngx_http_mastodon_notif_classify(nt, i, NGX_HTTP_MASTODON_GCOL_TYPE,
                                         NGX_HTTP_MASTODON_GCOL_STATUS);
    }

    return NGX_OK;
}


/* row i's type and the status it is about (0: none), from its columns */
static void
ngx_http_mastodon_notif_classify(ngx_http_mastodon_notif_t *nt, ngx_uint_t i,
    int type_col, int status_col)
{
    ngx_str_t  type;

    type = ngx_http_mastodon_pg_str(nt->rows, i, type_col);

    nt->type[i] = ngx_http_mastodon_notif_type((char *) type.data, type.len);
    nt->target[i] = PQgetisnull(nt->rows, i, status_col)
                    ? 0 : ngx_http_mastodon_pg_int(nt->rows, i, status_col);
}


/* the statuses the rows are about, each once */
static ngx_int_t
ngx_http_mastodon_notif_load(ngx_http_request_t *r,
    ngx_http_mastodon_notif_t *nt)
{
    int64_t     *ids, id;
    ngx_int_t    t;
    ngx_uint_t   i, k, nids;
    ngx_pool_t  *pool;

    pool = nt->op ? nt->op->pool : r->pool;

    ids = ngx_palloc(pool, (nt->n + 1) * sizeof(int64_t));
    nt->status = ngx_palloc(pool, (nt->n + 1) * sizeof(ngx_int_t));
    if (ids == NULL || nt->status == NULL) {
        return NGX_ERROR;
    }

    nids = 0;

    for (i = 0; i < nt->n; i++) {
        nt->status[i] = -1;

        t = nt->type[i];
        id = nt->target[i];

        if (t < 0 || !(NGX_HTTP_MASTODON_NOTIF_STATUS_MASK & (1 << t))
            || id == 0)
        {
            continue;
        }

        for (k = 0; k < nids; k++) {
            if (ids[k] == id) {
                break;
            }
        }

        if (k == nids) {
            ids[nids++] = id;
        }

        nt->status[i] = k;
    }

    /* a stream's notification: its status with the viewer's filters of
     * the notifications context, as the list applies them */
    nt->st = nt->op ? ngx_http_mastodon_statuses_op(nt->op, nt->viewer, ids,
                                          nids,
                                          NGX_HTTP_MASTODON_ST_NOTIFICATIONS)
                    : ngx_http_mastodon_statuses(r, ids, nids,
                                          NGX_HTTP_MASTODON_ST_NOTIFICATIONS);
    if (nt->st == NULL) {
        return NGX_ERROR;
    }

    if (nids == 0) {
        return NGX_OK;
    }

    nt->pending++;

    if (ngx_http_mastodon_statuses_load(nt->st,
                                        ngx_http_mastodon_notif_statuses_done,
                                        nt)
        == NGX_ERROR)
    {
        nt->pending--;
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_mastodon_notif_statuses_done(ngx_http_request_t *r,
    ngx_http_mastodon_statuses_t *st, void *data)
{
    ngx_http_mastodon_notif_t  *nt = data;

    if (st->rc != NGX_OK) {
        nt->failed = NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    if (--nt->pending == 0) {
        if (nt->op) {
            ngx_http_mastodon_notif_op_respond(nt);
        } else {
            ngx_http_mastodon_notif_respond(r, nt);
        }
    }
}


static void
ngx_http_mastodon_notif_accounts_done(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_http_mastodon_notif_t  *nt = b->data;

    if (!ngx_http_mastodon_pg_ok(b)) {
        nt->failed = NGX_HTTP_SERVICE_UNAVAILABLE;
    } else {
        nt->accounts = b->results[0];
    }

    if (--nt->pending == 0) {
        ngx_http_mastodon_notif_respond(b->request, nt);
    }
}


static ngx_int_t
ngx_http_mastodon_notif_answer(ngx_http_request_t *r,
    ngx_http_mastodon_notif_t *nt)
{
    ngx_uint_t                 i, k, n;
    ngx_http_mastodon_json_t   j;

    if (nt->failed) {
        return nt->failed;
    }

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    n = nt->n;

    if (nt->version == 2) {
        if (ngx_http_mastodon_notif_v2(r, &j, nt) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

    } else if (!nt->paginated) {
        /* show: one */
        if (!ngx_http_mastodon_notif_shown(nt, 0)) {
            return NGX_HTTP_NOT_FOUND;
        }

        ngx_http_mastodon_notif_v1(&j, nt, 0);

    } else {
        /* newest first: a min_id page was read oldest first */
        ngx_http_mastodon_json_open_array(&j, NULL);

        for (k = 0; k < n; k++) {
            i = nt->min_id ? n - 1 - k : k;

            if (ngx_http_mastodon_notif_shown(nt, i)) {
                ngx_http_mastodon_notif_v1(&j, nt, i);
            }
        }

        ngx_http_mastodon_json_close_array(&j);
    }

    return ngx_http_mastodon_json_send(&j, NGX_HTTP_OK);
}


static void
ngx_http_mastodon_notif_respond(ngx_http_request_t *r,
    ngx_http_mastodon_notif_t *nt)
{
    ngx_http_mastodon_finalize(r, ngx_http_mastodon_notif_answer(r, nt));
}


/* a row whose type carries a status is shown only with its status */
static ngx_uint_t
ngx_http_mastodon_notif_shown(ngx_http_mastodon_notif_t *nt, ngx_uint_t row)
{
    ngx_int_t  t;

    t = nt->type[row];

    if (t < 0 || !(NGX_HTTP_MASTODON_NOTIF_STATUS_MASK & (1 << t))) {
        return 1;
    }

    return nt->status && nt->status[row] >= 0
           && ngx_http_mastodon_statuses_shown(nt->st, nt->status[row]);
}


/* REST::NotificationSerializer */
static void
ngx_http_mastodon_notif_v1(ngx_http_mastodon_json_t *j,
    ngx_http_mastodon_notif_t *nt, ngx_uint_t row)
{
    ngx_str_t                       s;
    ngx_http_mastodon_notif_row_t  *n;

    n = &nt->row[row];

    ngx_http_mastodon_json_open(j, NULL);

    s.data = ngx_pnalloc(j->pool, NGX_INT64_LEN);
    if (s.data == NULL) {
        j->failed = 1;
        return;
    }

    s.len = ngx_sprintf(s.data, "%L", n->id) - s.data;
    ngx_http_mastodon_json_kv_str(j, "id", &s);
    ngx_http_mastodon_json_kv_str(j, "type", &n->type);
    ngx_http_mastodon_json_kv_str(j, "created_at", &n->created_at);
    ngx_http_mastodon_json_kv_str(j, "group_key", &n->group_key);

    if (n->filtered) {
        ngx_http_mastodon_json_kv_bool(j, "filtered", 1);
    }

    if (n->account.len) {
        ngx_http_mastodon_json_raw(j, "account", &n->account);

    } else {
        ngx_http_mastodon_json_key(j, "account");
        ngx_http_mastodon_account(j, n->res, n->res_row, n->res_col);
    }

    if (nt->status[row] >= 0) {
        ngx_http_mastodon_status_write(j, "status", nt->st, nt->status[row]);
    }

    ngx_http_mastodon_json_close(j);
}


/*
 * Every sample account of a v2 page (the ids "{1,2}" in [list, last)) from
 * the rendered accounts, when all are there and the page shows them whole
 * (partial_avatars needs their columns): NGX_DECLINED, the statement reads
 * them.
 */
static ngx_int_t
ngx_http_mastodon_notif_cached_samples(ngx_http_request_t *r,
    ngx_http_mastodon_notif_t *nt, u_char *list, u_char *last)
{
    u_char     *p, *start;
    int64_t     id;
    ngx_uint_t  n;

    if (nt->partial || !ngx_http_mastodon_cache_accounts_usable()) {
        return NGX_DECLINED;
    }

    n = 1;

    for (p = list; p < last; p++) {
        n += *p == ',';
    }

    nt->cached_ids = ngx_palloc(r->pool, n * sizeof(ngx_str_t));
    nt->cached_json = ngx_palloc(r->pool, n * sizeof(ngx_str_t));
    if (nt->cached_ids == NULL || nt->cached_json == NULL) {
        return NGX_ERROR;
    }

    nt->ncached = 0;
    p = list + 1;                   /* past '{' */
    last--;                         /* at '}' */

    while (p < last) {
        start = p;
        while (p < last && *p != ',') {
            p++;
        }

        n = nt->ncached;
        nt->cached_ids[n].data = start;
        nt->cached_ids[n].len = p - start;
        p++;

        if (ngx_http_mastodon_notif_seen(nt->cached_ids, n,
                                         &nt->cached_ids[n]))
        {
            continue;
        }

        id = ngx_atoof(nt->cached_ids[n].data, nt->cached_ids[n].len);

        if (id <= 0
            || ngx_http_mastodon_account_cached(
                   NGX_HTTP_MASTODON_CACHE_ACCOUNT, id, r->pool,
                   &nt->cached_json[n])
               != NGX_OK)
        {
            nt->ncached = 0;
            return NGX_DECLINED;
        }

        nt->ncached++;
    }

    return NGX_OK;
}


/* the rendered account of id, from the render cache or nt->accounts */
static ngx_uint_t
ngx_http_mastodon_notif_account_known(ngx_http_mastodon_notif_t *nt,
    ngx_str_t *id)
{
    if (nt->ncached) {
        return ngx_http_mastodon_notif_seen(nt->cached_ids, nt->ncached, id);
    }

    return ngx_http_mastodon_notif_account_row(nt, id) >= 0;
}


static void
ngx_http_mastodon_notif_account_write(ngx_http_mastodon_json_t *j,
    ngx_http_mastodon_notif_t *nt, ngx_str_t *id)
{
    ngx_uint_t  i;

    if (nt->ncached) {
        for (i = 0; i < nt->ncached; i++) {
            if (nt->cached_ids[i].len == id->len
                && ngx_strncmp(nt->cached_ids[i].data, id->data, id->len)
                   == 0)
            {
                ngx_http_mastodon_json_raw(j, NULL, &nt->cached_json[i]);
                return;
            }
        }

        return;
    }

    ngx_http_mastodon_account(j, nt->accounts,
                              ngx_http_mastodon_notif_account_row(nt, id), 0);
}


/* the row of account id in nt->accounts, or -1 */
static int
ngx_http_mastodon_notif_account_row(ngx_http_mastodon_notif_t *nt,
    ngx_str_t *id)
{
    int        i, n;
    ngx_str_t  s;

    n = nt->accounts ? PQntuples(nt->accounts) : 0;

    for (i = 0; i < n; i++) {
        s = ngx_http_mastodon_pg_str(nt->accounts, i, 0);
        if (s.len == id->len && ngx_strncmp(s.data, id->data, s.len) == 0) {
            return i;
        }
    }

    return -1;
}


/* a row's sample account ids, split */
static ngx_uint_t
ngx_http_mastodon_notif_split(ngx_http_mastodon_notif_t *nt, int row,
    ngx_str_t *out)
{
    u_char      *p, *last, *start;
    ngx_str_t    s;
    ngx_uint_t   n;

    if (PQgetvalue(nt->rows, row, NGX_HTTP_MASTODON_GCOL_GROUPED)[0] != 't') {
        out[0] = ngx_http_mastodon_pg_str(nt->rows, row,
                                             NGX_HTTP_MASTODON_GCOL_FROM);
        return 1;
    }

    s = ngx_http_mastodon_pg_str(nt->rows, row,
                                    NGX_HTTP_MASTODON_GCOL_SAMPLES);
    p = s.data;
    last = s.data + s.len;
    n = 0;

    while (p < last && n < 8) {
        start = p;
        while (p < last && *p != ',') {
            p++;
        }
        out[n].data = start;
        out[n].len = p - start;
        n++;
        p++;
    }

    return n;
}


/* is id among the first n of list */
static ngx_uint_t
ngx_http_mastodon_notif_seen(ngx_str_t *list, ngx_uint_t n, ngx_str_t *id)
{
    ngx_uint_t  i;

    for (i = 0; i < n; i++) {
        if (list[i].len == id->len
            && ngx_strncmp(list[i].data, id->data, id->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* PartialAccountSerializer: id acct locked bot url avatar avatar_static */
static void
ngx_http_mastodon_notif_partial(ngx_http_mastodon_json_t *j, PGresult *res,
    int row)
{
    ngx_http_mastodon_account_partial(j, res, row, 0);
}


/* REST::DedupNotificationGroupSerializer over GroupedNotificationsPresenter */
static ngx_int_t
ngx_http_mastodon_notif_v2(ngx_http_request_t *r,
    ngx_http_mastodon_json_t *j, ngx_http_mastodon_notif_t *nt)
{
    int          i, n, row;
    ngx_str_t   *samples, *accounts, *partials, s;
    ngx_int_t   *shown_status;
    ngx_uint_t   k, ns, na, np, *nsamples, first, nstatuses, *statuses;

    n = PQntuples(nt->rows);

    samples = ngx_palloc(r->pool, (n * 8 + 1) * sizeof(ngx_str_t));
    nsamples = ngx_pcalloc(r->pool, (n + 1) * sizeof(ngx_uint_t));
    accounts = ngx_palloc(r->pool, (n * 8 + 1) * sizeof(ngx_str_t));
    partials = ngx_palloc(r->pool, (n * 8 + 1) * sizeof(ngx_str_t));
    shown_status = ngx_palloc(r->pool, (n + 1) * sizeof(ngx_int_t));
    statuses = ngx_palloc(r->pool, (n + 1) * sizeof(ngx_uint_t));
    if (samples == NULL || nsamples == NULL || accounts == NULL
        || partials == NULL || shown_status == NULL || statuses == NULL)
    {
        return NGX_ERROR;
    }

    na = 0;
    np = 0;
    nstatuses = 0;

    for (i = 0; i < n; i++) {
        shown_status[i] = ngx_http_mastodon_notif_shown(nt, i);
        if (!shown_status[i]) {
            continue;
        }

        ns = ngx_http_mastodon_notif_split(nt, i, &samples[i * 8]);
        nsamples[i] = ns;

        /* accounts: every sample (full) or each group's first (partial) */
        for (k = 0; k < ns; k++) {
            s = samples[i * 8 + k];

            if (!ngx_http_mastodon_notif_account_known(nt, &s)) {
                continue;
            }

            first = k == 0 || !nt->partial;

            if (first && !ngx_http_mastodon_notif_seen(accounts, na, &s)) {
                accounts[na++] = s;
            }
        }

        /* statuses: each once, in the groups' order */
        if (nt->status[i] >= 0) {
            for (k = 0; k < nstatuses; k++) {
                if (statuses[k] == (ngx_uint_t) nt->status[i]) {
                    break;
                }
            }

            if (k == nstatuses) {
                statuses[nstatuses++] = nt->status[i];
            }
        }
    }

    if (nt->partial) {
        for (i = 0; i < n; i++) {
            for (k = 1; k < nsamples[i]; k++) {
                s = samples[i * 8 + k];

                if (ngx_http_mastodon_notif_account_known(nt, &s)
                    && !ngx_http_mastodon_notif_seen(partials, np, &s)
                    && !ngx_http_mastodon_notif_seen(accounts, na, &s))
                {
                    partials[np++] = s;
                }
            }
        }
    }

    ngx_http_mastodon_json_open(j, NULL);

    ngx_http_mastodon_json_open_array(j, "accounts");
    for (k = 0; k < na; k++) {
        ngx_http_mastodon_notif_account_write(j, nt, &accounts[k]);
    }
    ngx_http_mastodon_json_close_array(j);

    if (nt->partial) {
        ngx_http_mastodon_json_open_array(j, "partial_accounts");
        for (k = 0; k < np; k++) {
            row = ngx_http_mastodon_notif_account_row(nt, &partials[k]);
            ngx_http_mastodon_json_open(j, NULL);
            ngx_http_mastodon_notif_partial(j, nt->accounts, row);
            ngx_http_mastodon_json_close(j);
        }
        ngx_http_mastodon_json_close_array(j);
    }

    ngx_http_mastodon_json_open_array(j, "statuses");
    for (k = 0; k < nstatuses; k++) {
        ngx_http_mastodon_status_write(j, NULL, nt->st, statuses[k]);
    }
    ngx_http_mastodon_json_close_array(j);

    ngx_http_mastodon_json_open_array(j, "notification_groups");

    for (i = 0; i < n; i++) {
        ngx_uint_t  grouped;

        if (!shown_status[i]) {
            continue;
        }

        grouped = PQgetvalue(nt->rows, i, NGX_HTTP_MASTODON_GCOL_GROUPED)[0]
                  == 't';

        ngx_http_mastodon_json_open(j, NULL);

        s = ngx_http_mastodon_pg_str(nt->rows, i,
                                        NGX_HTTP_MASTODON_GCOL_GROUP_KEY);
        ngx_http_mastodon_json_kv_str(j, "group_key", &s);
        ngx_http_mastodon_json_kv_int(j, "notifications_count",
            grouped ? ngx_http_mastodon_pg_int(nt->rows, i,
                                               NGX_HTTP_MASTODON_GCOL_COUNT)
                    : 1);
        s = ngx_http_mastodon_pg_str(nt->rows, i,
                                        NGX_HTTP_MASTODON_GCOL_TYPE);
        ngx_http_mastodon_json_kv_str(j, "type", &s);

        s = ngx_http_mastodon_pg_str(nt->rows, i, grouped
                                        ? NGX_HTTP_MASTODON_GCOL_RECENT
                                        : NGX_HTTP_MASTODON_GCOL_ID);
        ngx_http_mastodon_json_kv_str(j, "most_recent_notification_id", &s);

        if (nt->paginated) {
            s = ngx_http_mastodon_pg_str(nt->rows, i, grouped
                                            ? NGX_HTTP_MASTODON_GCOL_MIN_ID
                                            : NGX_HTTP_MASTODON_GCOL_ID);
            ngx_http_mastodon_json_kv_str(j, "page_min_id", &s);
            s = ngx_http_mastodon_pg_str(nt->rows, i, grouped
                                            ? NGX_HTTP_MASTODON_GCOL_RECENT
                                            : NGX_HTTP_MASTODON_GCOL_ID);
            ngx_http_mastodon_json_kv_str(j, "page_max_id", &s);
            s = ngx_http_mastodon_pg_str(nt->rows, i, grouped
                                            ? NGX_HTTP_MASTODON_GCOL_LATEST
                                            : NGX_HTTP_MASTODON_GCOL_CREATED_AT);
            ngx_http_mastodon_json_kv_str(j, "latest_page_notification_at",
                                          &s);
        }

        ngx_http_mastodon_json_open_array(j, "sample_account_ids");
        for (k = 0; k < nsamples[i]; k++) {
            ngx_http_mastodon_json_str(j, &samples[i * 8 + k]);
        }
        ngx_http_mastodon_json_close_array(j);

        if (nt->status[i] >= 0) {
            s = ngx_http_mastodon_pg_str(nt->rows, i,
                                            NGX_HTTP_MASTODON_GCOL_STATUS);
            ngx_http_mastodon_json_kv_str(j, "status_id", &s);
        }

        ngx_http_mastodon_json_close(j);
    }

    ngx_http_mastodon_json_close_array(j);
    ngx_http_mastodon_json_close(j);

    return NGX_OK;
}


/*
 * Link: next (max_id: the page's oldest) and prev (min_id: its newest)
 * whenever the page has rows, as both controllers' next_path/prev_path.
 */
static ngx_int_t
ngx_http_mastodon_notif_link(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_notif_t *nt)
{
    int        n;
    int64_t    oldest, newest;
    ngx_str_t  path;

    /* pagination_params of each controller, sorted */
    static const char *const  v1_keep[] = {
        "account_id", "exclude_types[]", "include_filtered", "limit",
        "types[]", NULL
    };

    static const char *const  v2_keep[] = {
        "exclude_types[]", "grouped_types[]", "include_filtered", "limit",
        "supported_types[]", "types[]", NULL
    };

    n = nt->n;
    if (n == 0) {
        return NGX_OK;
    }

    /* rows are newest first (v1 up pages are reversed when written) */
    if (nt->version == 1) {
        oldest = nt->row[n - 1].id;
        newest = nt->row[0].id;

        if (nt->min_id) {
            oldest = newest;
            newest = nt->row[n - 1].id;
        }

    } else {
        oldest = ngx_http_mastodon_pg_int(nt->rows, n - 1, 0);
        newest = ngx_http_mastodon_pg_int(nt->rows, 0, 0);
    }

    if (nt->version == 1) {
        ngx_str_set(&path, "/api/v1/notifications");
    } else {
        ngx_str_set(&path, "/api/v2/notifications");
    }

    return ngx_http_mastodon_page_link(r, ctx, &path,
                                       nt->version == 1 ? v1_keep : v2_keep,
                                       0, oldest, "min_id", newest);
}



/*
 * The first v1 page in the render cache (kind NOTIFICATIONS, by recipient):
 * the newest NGX_HTTP_MASTODON_NOTIF_WINDOW rows its statement gives (every
 * type, no filtered ones), "<epochs> <until> <complete>\n" then a line per
 * row, "<id> <type> <from> <status or 0> <created_at> <group_key>\n".
 * Which rows are shown is the statement's alone (NOTIF_SQL_SHOWN); the
 * entry is used while nothing they depend on may have changed since:
 * the recipient's notifications (sql/0048's triggers, relayed as
 * "notifications <id>", and dismiss and clear at once), a sender's
 * suspension ("notifications 0"), the recipient's blocks and mutes (the
 * version of its viewer facts, forgotten by every relationship write) and
 * every viewer's ("viewer 0"), what the relay did not hear ("account 0"),
 * and the end of the first mute that hides notifications (until).  Only
 * while the relay is heard.  The senders come from the rendered accounts.
 */
static void
ngx_http_mastodon_notif_epochs(int64_t viewer, ngx_uint_t *epoch)
{
    epoch[0] = ngx_http_mastodon_cache_version(NGX_HTTP_MASTODON_CACHE_VIEWER,
                                               0);
    epoch[1] = ngx_http_mastodon_cache_version(NGX_HTTP_MASTODON_CACHE_VIEWER,
                                               viewer);
    epoch[2] = ngx_http_mastodon_cache_version(
                                        NGX_HTTP_MASTODON_CACHE_ACCOUNT, 0);
    epoch[3] = ngx_http_mastodon_cache_version(
                                   NGX_HTTP_MASTODON_CACHE_NOTIFICATIONS, 0);
}


/* before the statement of a page to be put (kind: v1's or v2's) */
static void
ngx_http_mastodon_notif_fill_start(ngx_uint_t kind, int64_t viewer,
    ngx_http_mastodon_notif_fill_t *fill)
{
    fill->usable = ngx_http_mastodon_cache_accounts_usable();
    fill->version = ngx_http_mastodon_cache_version(kind, viewer);
    ngx_http_mastodon_notif_epochs(viewer, fill->epoch);
}


/* a word of the entry: no blank, no line end */
static ngx_uint_t
ngx_http_mastodon_notif_word(ngx_str_t *s, ngx_uint_t blank)
{
    u_char  *p;

    if (s->len == 0) {
        return 0;
    }

    for (p = s->data; p < s->data + s->len; p++) {
        if (*p == '\n' || (*p == ' ' && !blank)) {
            return 0;
        }
    }

    return 1;
}


static void
ngx_http_mastodon_notif_put(ngx_http_request_t *r,
    ngx_http_mastodon_notif_t *nt, int64_t viewer, PGresult *until)
{
    int                              i, n;
    u_char                          *p;
    size_t                           len;
    ngx_str_t                        v, type, created_at, group_key;
    ngx_uint_t                       epoch[4];
    ngx_http_mastodon_notif_fill_t  *fill;

    fill = nt->fill;
    ngx_http_mastodon_notif_epochs(viewer, epoch);

    if (!fill->usable || ngx_memcmp(epoch, fill->epoch, sizeof(epoch)) != 0
        || PQntuples(until) != 1)
    {
        return;
    }

    n = PQntuples(nt->rows);
    len = 6 * (NGX_ATOMIC_T_LEN + 1) + 2;

    for (i = 0; i < n; i++) {
        len += 4 * (NGX_INT64_LEN + 1)
               + PQgetlength(nt->rows, i, NGX_HTTP_MASTODON_NCOL_TYPE)
               + PQgetlength(nt->rows, i, NGX_HTTP_MASTODON_NCOL_CREATED_AT)
               + PQgetlength(nt->rows, i, NGX_HTTP_MASTODON_NCOL_GROUP_KEY);
    }

    v.data = ngx_pnalloc(r->pool, len);
    if (v.data == NULL) {
        return;
    }

    p = ngx_sprintf(v.data, "%uA %uA %uA %uA %L %ui\n",
                    (ngx_atomic_uint_t) epoch[0], (ngx_atomic_uint_t) epoch[1],
                    (ngx_atomic_uint_t) epoch[2], (ngx_atomic_uint_t) epoch[3],
                    ngx_http_mastodon_pg_int(until, 0, 0),
                    (ngx_uint_t) (n < NGX_HTTP_MASTODON_NOTIF_WINDOW));

    for (i = 0; i < n; i++) {
        type = ngx_http_mastodon_pg_str(nt->rows, i,
                                        NGX_HTTP_MASTODON_NCOL_TYPE);
        created_at = ngx_http_mastodon_pg_str(nt->rows, i,
                                            NGX_HTTP_MASTODON_NCOL_CREATED_AT);
        group_key = ngx_http_mastodon_pg_str(nt->rows, i,
                                             NGX_HTTP_MASTODON_NCOL_GROUP_KEY);

        if (!ngx_http_mastodon_notif_word(&type, 0)
            || !ngx_http_mastodon_notif_word(&created_at, 0)
            || !ngx_http_mastodon_notif_word(&group_key, 1))
        {
            return;
        }

        p = ngx_sprintf(p, "%L %V %L %L %V %V\n",
                        ngx_http_mastodon_pg_int(nt->rows, i,
                                                 NGX_HTTP_MASTODON_NCOL_ID),
                        &type,
                        ngx_http_mastodon_pg_int(nt->rows, i,
                                               NGX_HTTP_MASTODON_NCOL_ACCOUNT),
                        PQgetisnull(nt->rows, i, NGX_HTTP_MASTODON_NCOL_STATUS)
                        ? (int64_t) 0
                        : ngx_http_mastodon_pg_int(nt->rows, i,
                                               NGX_HTTP_MASTODON_NCOL_STATUS),
                        &created_at, &group_key);
    }

    v.len = p - v.data;

    ngx_http_mastodon_cache_put(NGX_HTTP_MASTODON_CACHE_NOTIFICATIONS, viewer,
                                fill->version, &v);
}


/* the next word of [*pos, last) up to c, or an empty string */
static ngx_str_t
ngx_http_mastodon_notif_next(u_char **pos, u_char *last, u_char c)
{
    u_char     *p;
    ngx_str_t   s;

    p = ngx_strlchr(*pos, last, c);
    if (p == NULL) {
        ngx_str_null(&s);
        *pos = last;
        return s;
    }

    s.data = *pos;
    s.len = p - *pos;
    *pos = p + 1;

    return s;
}


/*
 * Whether a row of the cached page (shown, not filtered: what the window's
 * statement gives) is in the request's page: its type in the request's and
 * its id within the bounds, as the page statement's NOTIF_SQL_BROWSE and
 * NOTIF_SQL_BOUNDS select it.
 */
#define NGX_HTTP_MASTODON_NOTIF_IN_BOUND(field, cmp, i)                       \
    if (nt->field && !(id cmp nt->field)) {                                   \
        return 0;                                                             \
    }


static ngx_uint_t
ngx_http_mastodon_notif_in_page(ngx_http_mastodon_notif_t *nt, int64_t id,
    ngx_int_t type)
{
    NGX_HTTP_MASTODON_NOTIF_BOUNDS(NGX_HTTP_MASTODON_NOTIF_IN_BOUND)

    return nt->types == NGX_HTTP_MASTODON_NOTIF_ALL
           || (type >= 0 && (nt->types & (1 << type)));
}


/* the page's rows from the entry; NGX_DECLINED: the statement says */
static ngx_int_t
ngx_http_mastodon_notif_entry(ngx_http_request_t *r, int64_t viewer,
    ngx_http_mastodon_notif_t *nt)
{
    u_char                         *p, *last;
    int64_t                         until, oldest;
    ngx_str_t                       v, w;
    ngx_int_t                       t;
    ngx_uint_t                      i, k, m, complete, epoch[4], taken;
    ngx_http_mastodon_notif_row_t   rows[NGX_HTTP_MASTODON_NOTIF_WINDOW];
    int64_t                         targets[NGX_HTTP_MASTODON_NOTIF_WINDOW];
    ngx_int_t                       types[NGX_HTTP_MASTODON_NOTIF_WINDOW];

    if (ngx_http_mastodon_cache_get(NGX_HTTP_MASTODON_CACHE_NOTIFICATIONS,
                                    viewer, r->pool, &v)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    p = v.data;
    last = v.data + v.len;

    ngx_http_mastodon_notif_epochs(viewer, epoch);

    for (i = 0; i < 4; i++) {
        w = ngx_http_mastodon_notif_next(&p, last, ' ');
        if (w.len == 0 || (ngx_uint_t) ngx_atoof(w.data, w.len) != epoch[i]) {
            return NGX_DECLINED;
        }
    }

    w = ngx_http_mastodon_notif_next(&p, last, ' ');
    until = ngx_atoof(w.data, w.len);
    w = ngx_http_mastodon_notif_next(&p, last, '\n');

    if (until < 0 || (until && ngx_time() >= until) || w.len != 1) {
        return NGX_DECLINED;
    }

    complete = w.data[0] == '1';

    for (m = 0; p < last && m < NGX_HTTP_MASTODON_NOTIF_WINDOW; m++) {
        ngx_memzero(&rows[m], sizeof(ngx_http_mastodon_notif_row_t));

        w = ngx_http_mastodon_notif_next(&p, last, ' ');
        rows[m].id = ngx_atoof(w.data, w.len);
        rows[m].type = ngx_http_mastodon_notif_next(&p, last, ' ');
        w = ngx_http_mastodon_notif_next(&p, last, ' ');
        rows[m].from = ngx_atoof(w.data, w.len);
        w = ngx_http_mastodon_notif_next(&p, last, ' ');
        targets[m] = ngx_atoof(w.data, w.len);
        rows[m].created_at = ngx_http_mastodon_notif_next(&p, last, ' ');
        rows[m].group_key = ngx_http_mastodon_notif_next(&p, last, '\n');

        if (rows[m].id <= 0 || rows[m].from <= 0 || targets[m] < 0
            || rows[m].group_key.len == 0)
        {
            return NGX_DECLINED;
        }

        types[m] = ngx_http_mastodon_notif_type((char *) rows[m].type.data,
                                                rows[m].type.len);
    }

    /* every shown row above the oldest is there (all of them: complete) */
    oldest = m ? rows[m - 1].id : 0;

    nt->row = ngx_pcalloc(r->pool, (nt->limit + 1)
                                   * sizeof(ngx_http_mastodon_notif_row_t));
    nt->type = ngx_palloc(r->pool, (nt->limit + 1) * sizeof(ngx_int_t));
    nt->target = ngx_palloc(r->pool, (nt->limit + 1) * sizeof(int64_t));
    if (nt->row == NULL || nt->type == NULL || nt->target == NULL) {
        return NGX_ERROR;
    }

    taken = 0;

    for (k = 0; k < m && taken < nt->limit; k++) {
        /* a min_id page is read oldest first, as its statement */
        i = nt->min_id ? m - 1 - k : k;
        t = types[i];

        if (!ngx_http_mastodon_notif_in_page(nt, rows[i].id, t)) {
            continue;
        }

        nt->row[taken] = rows[i];
        nt->type[taken] = t;
        nt->target[taken] = targets[i];
        taken++;
    }

    if (!complete) {
        if (nt->min_id) {
            if (nt->min_id < oldest) {
                return NGX_DECLINED;
            }

        } else if (taken < nt->limit
                   && (nt->since_id == 0 || nt->since_id < oldest))
        {
            return NGX_DECLINED;
        }
    }

    nt->n = taken;

    return NGX_OK;
}


/*
 * A v1 page from the render cache, its senders rendered from it too (those
 * that are not there from PostgreSQL, then put).  NGX_DECLINED: the page's
 * statement is to run.
 */
static ngx_int_t
ngx_http_mastodon_notif_cached(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_notif_t *nt)
{
    u_char                         *list, *p;
    ngx_int_t                       rc;
    ngx_uint_t                      i, k, n;
    const char                    **values;
    ngx_http_mastodon_notif_row_t  *row;

    rc = ngx_http_mastodon_notif_entry(r, ctx->auth->account_id, nt);
    if (rc != NGX_OK) {
        return rc == NGX_DECLINED ? NGX_DECLINED
                                  : NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mastodon_notif_link(r, ctx, nt) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    nt->senders = ngx_palloc(r->pool, (nt->n + 1) * sizeof(int64_t));
    nt->sender_fill = ngx_palloc(r->pool, (nt->n + 1)
                                  * sizeof(ngx_http_mastodon_account_fill_t));
    if (nt->senders == NULL || nt->sender_fill == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    n = 0;

    for (i = 0; i < nt->n; i++) {
        row = &nt->row[i];

        for (k = 0; k < i; k++) {
            if (nt->row[k].from == row->from) {
                break;
            }
        }

        if (k < i) {
            row->account = nt->row[k].account;
            continue;
        }

        if (ngx_http_mastodon_account_cached(NGX_HTTP_MASTODON_CACHE_ACCOUNT,
                                             row->from, r->pool,
                                             &row->account)
            == NGX_OK)
        {
            continue;
        }

        ngx_http_mastodon_account_fill_start(NGX_HTTP_MASTODON_CACHE_ACCOUNT,
                                             row->from, &nt->sender_fill[n]);
        nt->senders[n++] = row->from;
    }

    nt->nsenders = n;

    if (n == 0) {
        return ngx_http_mastodon_notif_run(r, nt);
    }

    list = ngx_pnalloc(r->pool, 3 + n * (NGX_INT64_LEN + 1));
    values = ngx_palloc(r->pool, sizeof(char *));
    if (list == NULL || values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(list, "{%L", nt->senders[0]);

    for (i = 1; i < n; i++) {
        p = ngx_sprintf(p, ",%L", nt->senders[i]);
    }

    *p++ = '}';
    *p = '\0';
    values[0] = (const char *) list;

    return ngx_http_mastodon_pg_query(r, &ngx_http_mastodon_notif_senders,
                                      values,
                                      ngx_http_mastodon_notif_senders_done,
                                      nt);
}


static void
ngx_http_mastodon_notif_senders_done(ngx_http_mastodon_pg_batch_t *b)
{
    int                             k;
    int64_t                         id;
    PGresult                       *res;
    ngx_int_t                       rc;
    ngx_str_t                       json;
    ngx_uint_t                      i, n, s;
    ngx_http_request_t             *r;
    ngx_http_mastodon_json_t        j;
    ngx_http_mastodon_notif_t      *nt;

    r = b->request;
    nt = b->data;

    if (!ngx_http_mastodon_pg_ok(b)) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    res = b->results[0];

    for (k = 0; k < PQntuples(res); k++) {
        id = ngx_http_mastodon_pg_int(res, k, 0);

        if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
            ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_http_mastodon_account(&j, res, k, 0);

        if (ngx_http_mastodon_json_string(&j, &json) != NGX_OK) {
            ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        for (s = 0; s < nt->nsenders; s++) {
            if (nt->senders[s] == id) {
                break;
            }
        }

        if (s < nt->nsenders) {
            ngx_http_mastodon_account_fill_row(&nt->sender_fill[s], res, k, 0,
                                               r->pool, &json);
        }

        for (i = 0; i < nt->n; i++) {
            if (nt->row[i].from == id) {
                nt->row[i].account = json;
            }
        }
    }

    /* a sender gone meanwhile: its notifications went with it */
    n = 0;

    for (i = 0; i < nt->n; i++) {
        if (nt->row[i].account.len) {
            nt->row[n] = nt->row[i];
            nt->type[n] = nt->type[i];
            nt->target[n] = nt->target[i];
            n++;
        }
    }

    nt->n = n;

    rc = ngx_http_mastodon_notif_run(r, nt);
    if (rc != NGX_DONE) {
        ngx_http_mastodon_finalize(r, rc);
    }
}


/*
 * The first v2 page in the render cache (kind NOTIFICATION_GROUPS, by
 * recipient): the statement's result as it came (the grouping is the
 * statement's alone), "<epochs> <until> <limit> <types> <grouped>\n"
 * "<rows> <columns>\n" then each value as "<length> <bytes>" (-1: NULL).
 * Forgotten with the v1 page and used under the same versions; a request
 * without cursors nor include_filtered whose limit and types are those of
 * the entry is answered from it.
 */
#define NGX_HTTP_MASTODON_NOTIF_GCOLS  (NGX_HTTP_MASTODON_GCOL_LATEST + 1)


static void
ngx_http_mastodon_notif_groups_put(ngx_http_request_t *r,
    ngx_http_mastodon_notif_t *nt, int64_t viewer, PGresult *until)
{
    int                              i, k, n;
    u_char                          *p;
    size_t                           len;
    ngx_str_t                        v;
    ngx_uint_t                       epoch[4];
    ngx_http_mastodon_notif_fill_t  *fill;

    fill = nt->fill;
    ngx_http_mastodon_notif_epochs(viewer, epoch);

    n = PQntuples(nt->rows);

    if (!fill->usable || ngx_memcmp(epoch, fill->epoch, sizeof(epoch)) != 0
        || PQntuples(until) != 1
        || PQnfields(nt->rows) != NGX_HTTP_MASTODON_NOTIF_GCOLS)
    {
        return;
    }

    len = 9 * (NGX_ATOMIC_T_LEN + 1) + 4;

    for (i = 0; i < n; i++) {
        for (k = 0; k < NGX_HTTP_MASTODON_NOTIF_GCOLS; k++) {
            len += NGX_INT_T_LEN + 1 + PQgetlength(nt->rows, i, k);
        }
    }

    v.data = ngx_pnalloc(r->pool, len);
    if (v.data == NULL) {
        return;
    }

    p = ngx_sprintf(v.data, "%uA %uA %uA %uA %L %ui %ui %ui\n%d %d\n",
                    (ngx_atomic_uint_t) epoch[0], (ngx_atomic_uint_t) epoch[1],
                    (ngx_atomic_uint_t) epoch[2], (ngx_atomic_uint_t) epoch[3],
                    ngx_http_mastodon_pg_int(until, 0, 0), nt->limit,
                    nt->types, nt->grouped, n,
                    (int) NGX_HTTP_MASTODON_NOTIF_GCOLS);

    for (i = 0; i < n; i++) {
        for (k = 0; k < NGX_HTTP_MASTODON_NOTIF_GCOLS; k++) {
            if (PQgetisnull(nt->rows, i, k)) {
                p = ngx_cpymem(p, "-1 ", 3);
                continue;
            }

            p = ngx_sprintf(p, "%d ", PQgetlength(nt->rows, i, k));
            p = ngx_cpymem(p, PQgetvalue(nt->rows, i, k),
                           PQgetlength(nt->rows, i, k));
        }
    }

    v.len = p - v.data;

    ngx_http_mastodon_cache_put(NGX_HTTP_MASTODON_CACHE_NOTIFICATION_GROUPS,
                                viewer, fill->version, &v);
}


static void
ngx_http_mastodon_notif_pqclear(void *data)
{
    PQclear(data);
}


/* NGX_DECLINED: the statement is to run */
static ngx_int_t
ngx_http_mastodon_notif_groups_cached(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_notif_t *nt)
{
    int                  i, k, n, ncols;
    u_char              *p, *last;
    int64_t              until, len;
    PGresult            *res;
    ngx_str_t            v, w;
    ngx_uint_t           epoch[4];
    PGresAttDesc         attrs[NGX_HTTP_MASTODON_NOTIF_GCOLS];
    ngx_pool_cleanup_t  *cln;

    if (ngx_http_mastodon_cache_get(NGX_HTTP_MASTODON_CACHE_NOTIFICATION_GROUPS,
                                    ctx->auth->account_id, r->pool, &v)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    p = v.data;
    last = v.data + v.len;

    ngx_http_mastodon_notif_epochs(ctx->auth->account_id, epoch);

    for (i = 0; i < 4; i++) {
        w = ngx_http_mastodon_notif_next(&p, last, ' ');
        if (w.len == 0 || (ngx_uint_t) ngx_atoof(w.data, w.len) != epoch[i]) {
            return NGX_DECLINED;
        }
    }

    w = ngx_http_mastodon_notif_next(&p, last, ' ');
    until = ngx_atoof(w.data, w.len);

    if (until < 0 || (until && ngx_time() >= until)) {
        return NGX_DECLINED;
    }

    w = ngx_http_mastodon_notif_next(&p, last, ' ');
    if ((ngx_uint_t) ngx_atoof(w.data, w.len) != nt->limit) {
        return NGX_DECLINED;
    }

    w = ngx_http_mastodon_notif_next(&p, last, ' ');
    if ((ngx_uint_t) ngx_atoof(w.data, w.len) != nt->types) {
        return NGX_DECLINED;
    }

    w = ngx_http_mastodon_notif_next(&p, last, '\n');
    if ((ngx_uint_t) ngx_atoof(w.data, w.len) != nt->grouped) {
        return NGX_DECLINED;
    }

    w = ngx_http_mastodon_notif_next(&p, last, ' ');
    n = ngx_atoi(w.data, w.len);
    w = ngx_http_mastodon_notif_next(&p, last, '\n');
    ncols = ngx_atoi(w.data, w.len);

    if (n < 0 || n > 2 * NGX_HTTP_MASTODON_NOTIF_LIMIT
        || ncols != NGX_HTTP_MASTODON_NOTIF_GCOLS)
    {
        return NGX_DECLINED;
    }

    res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (res == NULL || cln == NULL) {
        PQclear(res);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_mastodon_notif_pqclear;
    cln->data = res;

    ngx_memzero(attrs, sizeof(attrs));

    for (k = 0; k < ncols; k++) {
        attrs[k].name = "";
        attrs[k].typid = 25;        /* text */
        attrs[k].typlen = -1;
        attrs[k].atttypmod = -1;
    }

    if (!PQsetResultAttrs(res, ncols, attrs)) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < n; i++) {
        for (k = 0; k < ncols; k++) {
            w = ngx_http_mastodon_notif_next(&p, last, ' ');

            if (w.len == 2 && w.data[0] == '-' && w.data[1] == '1') {
                len = -1;

            } else {
                len = ngx_atoof(w.data, w.len);
                if (len < 0 || len > last - p) {
                    return NGX_DECLINED;
                }
            }

            if (!PQsetvalue(res, i, k, len < 0 ? NULL : (char *) p,
                            (int) len))
            {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            if (len > 0) {
                p += len;
            }
        }
    }

    nt->rows = res;

    return ngx_http_mastodon_notif_rows(r, ctx, nt);
}
