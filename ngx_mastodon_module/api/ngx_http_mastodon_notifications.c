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
 */

#include "ngx_http_mastodon_api.h"


#define NGX_HTTP_MASTODON_NOTIF_LIMIT        40
#define NGX_HTTP_MASTODON_NOTIF_COUNT_LIMIT  100
#define NGX_HTTP_MASTODON_NOTIF_COUNT_MAX    1000
#define NGX_HTTP_MASTODON_NOTIF_SAMPLES      "8"

#define NGX_HTTP_MASTODON_NOTIF_GROUPABLE    "{favourite,reblog,follow}"


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
static ngx_int_t ngx_http_mastodon_notif_load(ngx_http_request_t *r,
    ngx_http_mastodon_notif_t *nt, int col);
static void ngx_http_mastodon_notif_statuses_done(ngx_http_request_t *r,
    ngx_http_mastodon_statuses_t *st, void *data);
static void ngx_http_mastodon_notif_accounts_done(
    ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_notif_op_rows_done(
    ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_notif_op_respond(ngx_http_mastodon_notif_t *nt);
static void ngx_http_mastodon_notif_respond(ngx_http_request_t *r,
    ngx_http_mastodon_notif_t *nt);
static ngx_uint_t ngx_http_mastodon_notif_shown(ngx_http_mastodon_notif_t *nt,
    int row, int type_col);
static void ngx_http_mastodon_notif_v1(ngx_http_mastodon_json_t *j,
    ngx_http_mastodon_notif_t *nt, int row);
static ngx_int_t ngx_http_mastodon_notif_v2(ngx_http_request_t *r,
    ngx_http_mastodon_json_t *j, ngx_http_mastodon_notif_t *nt);
static ngx_int_t ngx_http_mastodon_notif_link(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_notif_t *nt);
static void ngx_http_mastodon_notif_empty_done(
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

/* Notification.browserable: types (NULL: all), filtered ones, sender */
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
    " AND ($2::bigint IS NULL OR n.id < $2)"                                  \
    " AND ($3::bigint IS NULL OR n.id > $3)"                                  \
    " AND ($4::bigint IS NULL OR n.id > $4)"                                  \
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
    " AND ($2::bigint IS NULL OR n.id < $2)"                                  \
    " AND ($3::bigint IS NULL OR n.id > $3)"                                  \
    " AND ($4::bigint IS NULL OR n.id > $4)"

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

    values[0] = ngx_http_mastodon_pg_int64(r, ctx->auth->account_id);
    values[1] = nt->max_id ? ngx_http_mastodon_pg_int64(r, nt->max_id) : NULL;
    values[2] = nt->since_id ? ngx_http_mastodon_pg_int64(r, nt->since_id)
                             : NULL;
    values[3] = nt->min_id ? ngx_http_mastodon_pg_int64(r, nt->min_id) : NULL;
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
    ngx_int_t                     rc;
    const char                  **values;
    ngx_http_mastodon_pg_stmt_t  *stmt;
    ngx_http_mastodon_notif_t    *nt;

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

    if (version == 1) {
        stmt = nt->min_id ? &ngx_http_mastodon_notif_page_up
                          : &ngx_http_mastodon_notif_page;
    } else {
        stmt = nt->min_id ? &ngx_http_mastodon_notif_groups_up
                          : &ngx_http_mastodon_notif_groups;
    }

    return ngx_http_mastodon_pg_query(r, stmt, values,
                                      ngx_http_mastodon_notif_rows_done, nt);
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
    const char                **values;
    ngx_http_mastodon_notif_t  *nt;

    id = ngx_http_mastodon_capture_id(ctx, 0);
    if (id == 0) {
        return NGX_HTTP_NOT_FOUND;
    }

    nt = ngx_http_mastodon_notif_new(r, 1);
    values = ngx_pcalloc(r->pool, 2 * sizeof(char *));
    if (nt == NULL || values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[0] = ngx_http_mastodon_pg_int64(r, ctx->auth->account_id);
    values[1] = ngx_http_mastodon_pg_int64(r, id);
    if (values[0] == NULL || values[1] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_pg_query(r, &ngx_http_mastodon_notif_show,
                                      values,
                                      ngx_http_mastodon_notif_rows_done, nt);
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

    if (ngx_http_mastodon_notif_load(NULL, nt, NGX_HTTP_MASTODON_NCOL_STATUS)
        != NGX_OK)
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

    if (!ngx_http_mastodon_notif_shown(nt, 0, NGX_HTTP_MASTODON_NCOL_TYPE)) {
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
    int64_t       id;
    const char  **values;

    id = ngx_http_mastodon_capture_id(ctx, 0);
    if (id == 0) {
        return NGX_HTTP_NOT_FOUND;
    }

    values = ngx_pcalloc(r->pool, 2 * sizeof(char *));
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[0] = ngx_http_mastodon_pg_int64(r, ctx->auth->account_id);
    values[1] = ngx_http_mastodon_pg_int64(r, id);

    if (values[0] == NULL || values[1] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_pg_query(r, &ngx_http_mastodon_notif_dismiss,
                                      values,
                                      ngx_http_mastodon_empty_if_found, NULL);
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
    int                            i, n, col;
    u_char                        *list, *p;
    size_t                         len;
    ngx_str_t                      samples;
    ngx_int_t                      rc;
    const char                   **values;
    ngx_http_request_t            *r;
    ngx_http_mastodon_ctx_t       *ctx;
    ngx_http_mastodon_notif_t     *nt;

    r = b->request;
    nt = b->data;
    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    if (!ngx_http_mastodon_pg_ok(b)) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    nt->rows = b->results[0];
    n = PQntuples(nt->rows);

    if (!nt->paginated && n == 0) {
        /* find / take! */
        ngx_http_mastodon_finalize(r, NGX_HTTP_NOT_FOUND);
        return;
    }

    if (nt->paginated
        && ngx_http_mastodon_notif_link(r, ctx, nt) != NGX_OK)
    {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    col = nt->version == 1 ? NGX_HTTP_MASTODON_NCOL_STATUS
                           : NGX_HTTP_MASTODON_GCOL_STATUS;

    if (n == 0) {
        ngx_http_mastodon_notif_respond(r, nt);
        return;
    }

    nt->pending = 1;                /* until the loads are started */

    if (nt->version == 2) {
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
            ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
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

        rc = ngx_http_mastodon_pg_query(r, &ngx_http_mastodon_notif_accounts,
                                        values,
                                        ngx_http_mastodon_notif_accounts_done,
                                        nt);
        if (rc != NGX_DONE) {
            ngx_http_mastodon_finalize(r, rc);
            return;
        }

        nt->pending++;
    }

    if (ngx_http_mastodon_notif_load(r, nt, col) != NGX_OK) {
        nt->failed = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (--nt->pending == 0) {
        ngx_http_mastodon_notif_respond(r, nt);
    }
}


/* the statuses the rows are about, each once */
static ngx_int_t
ngx_http_mastodon_notif_load(ngx_http_request_t *r,
    ngx_http_mastodon_notif_t *nt, int col)
{
    int          i, n, type_col;
    int64_t     *ids, id;
    ngx_int_t    t;
    ngx_uint_t   k, nids;
    ngx_str_t    type;
    ngx_pool_t  *pool;

    n = PQntuples(nt->rows);
    type_col = nt->version == 1 ? NGX_HTTP_MASTODON_NCOL_TYPE
                                : NGX_HTTP_MASTODON_GCOL_TYPE;
    pool = nt->op ? nt->op->pool : r->pool;

    ids = ngx_palloc(pool, n * sizeof(int64_t));
    nt->status = ngx_palloc(pool, n * sizeof(ngx_int_t));
    if (ids == NULL || nt->status == NULL) {
        return NGX_ERROR;
    }

    nids = 0;

    for (i = 0; i < n; i++) {
        nt->status[i] = -1;

        type = ngx_http_mastodon_pg_str(nt->rows, i, type_col);
        t = ngx_http_mastodon_notif_type((char *) type.data, type.len);

        if (t < 0 || !(NGX_HTTP_MASTODON_NOTIF_STATUS_MASK & (1 << t))
            || PQgetisnull(nt->rows, i, col))
        {
            continue;
        }

        id = ngx_http_mastodon_pg_int(nt->rows, i, col);

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


static void
ngx_http_mastodon_notif_respond(ngx_http_request_t *r,
    ngx_http_mastodon_notif_t *nt)
{
    int                        i, k, n;
    ngx_http_mastodon_json_t   j;

    if (nt->failed) {
        ngx_http_mastodon_finalize(r, nt->failed);
        return;
    }

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    n = PQntuples(nt->rows);

    if (nt->version == 2) {
        if (ngx_http_mastodon_notif_v2(r, &j, nt) != NGX_OK) {
            ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

    } else if (!nt->paginated) {
        /* show: one */
        if (!ngx_http_mastodon_notif_shown(nt, 0,
                                           NGX_HTTP_MASTODON_NCOL_TYPE))
        {
            ngx_http_mastodon_finalize(r, NGX_HTTP_NOT_FOUND);
            return;
        }

        ngx_http_mastodon_notif_v1(&j, nt, 0);

    } else {
        /* newest first: a min_id page was read oldest first */
        ngx_http_mastodon_json_open_array(&j, NULL);

        for (k = 0; k < n; k++) {
            i = nt->min_id ? n - 1 - k : k;

            if (ngx_http_mastodon_notif_shown(nt, i,
                                              NGX_HTTP_MASTODON_NCOL_TYPE))
            {
                ngx_http_mastodon_notif_v1(&j, nt, i);
            }
        }

        ngx_http_mastodon_json_close_array(&j);
    }

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_json_send(&j,
                                                              NGX_HTTP_OK));
}


/* a row whose type carries a status is shown only with its status */
static ngx_uint_t
ngx_http_mastodon_notif_shown(ngx_http_mastodon_notif_t *nt, int row,
    int type_col)
{
    ngx_int_t  t;
    ngx_str_t  type;

    type = ngx_http_mastodon_pg_str(nt->rows, row, type_col);
    t = ngx_http_mastodon_notif_type((char *) type.data, type.len);

    if (t < 0 || !(NGX_HTTP_MASTODON_NOTIF_STATUS_MASK & (1 << t))) {
        return 1;
    }

    return nt->status && nt->status[row] >= 0
           && ngx_http_mastodon_statuses_shown(nt->st, nt->status[row]);
}


/* REST::NotificationSerializer */
static void
ngx_http_mastodon_notif_v1(ngx_http_mastodon_json_t *j,
    ngx_http_mastodon_notif_t *nt, int row)
{
    ngx_str_t  s;

    ngx_http_mastodon_json_open(j, NULL);

    s = ngx_http_mastodon_pg_str(nt->rows, row, NGX_HTTP_MASTODON_NCOL_ID);
    ngx_http_mastodon_json_kv_str(j, "id", &s);
    s = ngx_http_mastodon_pg_str(nt->rows, row,
                                    NGX_HTTP_MASTODON_NCOL_TYPE);
    ngx_http_mastodon_json_kv_str(j, "type", &s);
    s = ngx_http_mastodon_pg_str(nt->rows, row,
                                    NGX_HTTP_MASTODON_NCOL_CREATED_AT);
    ngx_http_mastodon_json_kv_str(j, "created_at", &s);
    s = ngx_http_mastodon_pg_str(nt->rows, row,
                                    NGX_HTTP_MASTODON_NCOL_GROUP_KEY);
    ngx_http_mastodon_json_kv_str(j, "group_key", &s);

    if (PQgetvalue(nt->rows, row, NGX_HTTP_MASTODON_NCOL_FILTERED)[0] == 't') {
        ngx_http_mastodon_json_kv_bool(j, "filtered", 1);
    }

    ngx_http_mastodon_json_key(j, "account");
    ngx_http_mastodon_account(j, nt->rows, row, NGX_HTTP_MASTODON_NCOL_ACCOUNT);

    if (nt->status[row] >= 0) {
        ngx_http_mastodon_status_write(j, "status", nt->st, nt->status[row]);
    }

    ngx_http_mastodon_json_close(j);
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
        shown_status[i] = ngx_http_mastodon_notif_shown(nt, i,
                                                  NGX_HTTP_MASTODON_GCOL_TYPE);
        if (!shown_status[i]) {
            continue;
        }

        ns = ngx_http_mastodon_notif_split(nt, i, &samples[i * 8]);
        nsamples[i] = ns;

        /* accounts: every sample (full) or each group's first (partial) */
        for (k = 0; k < ns; k++) {
            s = samples[i * 8 + k];

            if (ngx_http_mastodon_notif_account_row(nt, &s) < 0) {
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

                if (ngx_http_mastodon_notif_account_row(nt, &s) >= 0
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
        row = ngx_http_mastodon_notif_account_row(nt, &accounts[k]);
        ngx_http_mastodon_account(j, nt->accounts, row, 0);
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

    n = PQntuples(nt->rows);
    if (n == 0) {
        return NGX_OK;
    }

    /* rows are newest first (v1 up pages are reversed when written) */
    oldest = ngx_http_mastodon_pg_int(nt->rows, n - 1, 0);
    newest = ngx_http_mastodon_pg_int(nt->rows, 0, 0);

    if (nt->version == 1 && nt->min_id) {
        oldest = newest;
        newest = ngx_http_mastodon_pg_int(nt->rows, n - 1, 0);
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

