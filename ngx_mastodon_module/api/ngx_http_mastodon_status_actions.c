/*
 * What a user does to a status: POST /api/v1/statuses/:id/favourite,
 * /unfavourite, /reblog, /unreblog, /bookmark, /unbookmark, /pin, /unpin,
 * /mute, /unmute.  Each answers with the Status as the viewer sees it
 * afterwards (the reblog action with the reblog, unreblog with the
 * original).
 *
 * One batch (one transaction) per action: the action's statement checks
 * the status in a CTE (found, StatusPolicy#show? for the viewer, the
 * policy of the action) and does its writes guarded by that check, so a
 * refusal (404, 403, 422) writes nothing and the answer and the writes see
 * the same snapshot.  Rows are inserted with ON CONFLICT DO NOTHING and
 * deleted with DELETE ... RETURNING, and the counters (status_stats,
 * account_stats) move by the rows really changed, so concurrent duplicates
 * count once.  Reblogs and pins, which have no unique index to lean on
 * (one live reblog per account and status; at most 5 pins), first take a
 * transaction-scoped advisory lock, so the next statement's snapshot sees
 * a concurrent winner (Mastodon takes a Redis lock for reblogs).
 *
 * The jobs of the contract (ARCHITECTURE.md, issue 4) go into the outbox
 * in the same statement, with a status_forget of the statuses whose
 * counters changed.  After the commit: their cached renderings are dropped
 * at once too, the status is loaded for the viewer, the renderings the job
 * publishes are left in Redis, then the answer.
 */

#include "ngx_http_mastodon_api.h"


#define NGX_HTTP_MASTODON_SA_FAVOURITE    0
#define NGX_HTTP_MASTODON_SA_UNFAVOURITE  1
#define NGX_HTTP_MASTODON_SA_REBLOG       2
#define NGX_HTTP_MASTODON_SA_UNREBLOG     3
#define NGX_HTTP_MASTODON_SA_BOOKMARK     4
#define NGX_HTTP_MASTODON_SA_UNBOOKMARK   5
#define NGX_HTTP_MASTODON_SA_PIN          6
#define NGX_HTTP_MASTODON_SA_UNPIN        7
#define NGX_HTTP_MASTODON_SA_MUTE         8
#define NGX_HTTP_MASTODON_SA_UNMUTE       9

#define NGX_HTTP_MASTODON_SA_JOB_NONE        0
#define NGX_HTTP_MASTODON_SA_JOB_NOTIFY      1
#define NGX_HTTP_MASTODON_SA_JOB_DISTRIBUTE  2
#define NGX_HTTP_MASTODON_SA_JOB_REMOVE      3

/* StatusPinValidator::PIN_LIMIT */
#define NGX_HTTP_MASTODON_PIN_LIMIT       "5"

/* the reblog's visibility parameter, as $3 */
#define NGX_HTTP_MASTODON_VIS_DEFAULT     "-1"  /* absent: the user's default */
#define NGX_HTTP_MASTODON_VIS_INVALID     "-3"  /* not a visibility */
#define NGX_HTTP_MASTODON_VIS_BLANK       "-4"  /* "": the original's */


typedef struct {
    ngx_uint_t                     action;
    int64_t                        id;          /* the status in the path */
    const char                   **values;
    ngx_uint_t                     result;      /* the action's statement */

    int64_t                        answer;      /* the status answered */
    ngx_uint_t                     force;       /* even if not visible now */
    int64_t                        forget[2];
    ngx_uint_t                     nforget;

    ngx_uint_t                     job;
    int64_t                        job_id;      /* favourite, reblog */
    int64_t                        job_account; /* recipient, reblogger */
    int64_t                        job_status;  /* favourited, reblogged */

    ngx_http_mastodon_statuses_t  *st;
} ngx_http_mastodon_sa_t;


static ngx_int_t ngx_http_mastodon_sa_start(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_uint_t action);
static void ngx_http_mastodon_sa_done(ngx_http_mastodon_pg_batch_t *b);
static ngx_int_t ngx_http_mastodon_sa_check(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_sa_t *sa, PGresult *res);
static void ngx_http_mastodon_sa_forgotten(ngx_http_request_t *r,
    redisReply *reply, void *data);
static ngx_int_t ngx_http_mastodon_sa_load(ngx_http_request_t *r,
    ngx_http_mastodon_sa_t *sa);
static void ngx_http_mastodon_sa_loaded(ngx_http_request_t *r,
    ngx_http_mastodon_statuses_t *st, void *data);
static void ngx_http_mastodon_sa_payload(ngx_http_request_t *r,
    ngx_http_mastodon_sa_t *sa);
static ngx_int_t ngx_http_mastodon_sa_respond(ngx_http_request_t *r,
    ngx_http_mastodon_sa_t *sa);


/*
 * The status $2 as the viewer $1 finds it: no row when it does not exist
 * (or is deleted); visible: StatusPolicy#show?; blocking: the viewer
 * blocks its author (StatusPolicy#blocking_author?).
 */
#define NGX_HTTP_MASTODON_SA_CHECK                                            \
    "chk AS (SELECT st.id, st.account_id, st.reblog_of_id, st.visibility,"    \
    "  st.conversation_id, "                                                  \
    NGX_HTTP_MASTODON_ST_SQL_VISIBLE("st") " AS visible,"                     \
    "  EXISTS (SELECT 1 FROM blocks ab WHERE ab.account_id = $1::bigint"      \
    "   AND ab.target_account_id = st.account_id) AS blocking"                \
    "  FROM statuses st WHERE st.id = $2::bigint AND st.deleted_at IS NULL)"

#define NGX_HTTP_MASTODON_SA_NOW  "(now() AT TIME ZONE 'UTC')"


/*
 * FavouriteService: a reblog's favourite goes to the original; a second
 * favourite changes nothing.  Answers visible, blocking, the favourite's
 * id and status when one was made, and the author to notify (local, not
 * the viewer).
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_sa_favourite =
    ngx_http_mastodon_pg_stmt(
        "WITH " NGX_HTTP_MASTODON_SA_CHECK ","
        " ins AS (INSERT INTO favourites (account_id, status_id)"
        "  SELECT $1::bigint, o.id FROM chk JOIN statuses o"
        "  ON o.id = coalesce(chk.reblog_of_id, chk.id)"
        "  AND o.deleted_at IS NULL"
        "  WHERE chk.visible AND NOT chk.blocking"
        "  ON CONFLICT (account_id, status_id) DO NOTHING"
        "  RETURNING id, account_id, status_id),"
        " cnt AS (INSERT INTO status_stats (status_id, favourites_count)"
        "  SELECT status_id, 1 FROM ins"
        "  ON CONFLICT (status_id) DO UPDATE SET"
        "  favourites_count = status_stats.favourites_count + 1,"
        "  updated_at = " NGX_HTTP_MASTODON_SA_NOW "),"
        " author AS (SELECT o.account_id FROM ins JOIN statuses o"
        "  ON o.id = ins.status_id JOIN accounts oa ON oa.id = o.account_id"
        "  WHERE oa.domain IS NULL AND o.account_id <> $1::bigint),"
        " ob AS (" NGX_HTTP_MASTODON_OUTBOX_SQL(
        "SELECT 'default', 'notify', json_build_object('type', 'favourite',"
        " 'account_id', author.account_id::text, 'from_account_id',"
        " $1::bigint::text, 'activity_type', 'Favourite', 'activity_id',"
        " ins.id::text) FROM ins, author"
        " UNION ALL " NGX_HTTP_MASTODON_OUTBOX_FORGET("status_id")
        " FROM ins"
        " UNION ALL " NGX_HTTP_MASTODON_OUTBOX_AP_STATUS("like", "ins")) ")"
        " SELECT chk.visible, chk.blocking, ins.id, ins.status_id,"
        "  (SELECT account_id FROM author)"
        " FROM chk LEFT JOIN ins ON true", 2);

/*
 * The favourite of exactly this id (Mastodon looks it up so), whether or
 * not the status is still visible; its notification goes with it
 * (Favourite has_one :notification, dependent: :destroy).  Answers
 * visible, whether one was deleted.
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_sa_unfavourite =
    ngx_http_mastodon_pg_stmt(
        "WITH " NGX_HTTP_MASTODON_SA_CHECK ","
        " del AS (DELETE FROM favourites f USING chk"
        "  WHERE f.account_id = $1::bigint AND f.status_id = chk.id"
        "  RETURNING f.id, f.account_id, f.status_id),"
        " cnt AS (UPDATE status_stats ss SET"
        "  favourites_count = greatest(0, ss.favourites_count - d.n),"
        "  updated_at = " NGX_HTTP_MASTODON_SA_NOW
        "  FROM (SELECT status_id, count(*) AS n FROM del GROUP BY status_id) d"
        "  WHERE ss.status_id = d.status_id),"
        " nt AS (DELETE FROM notifications n USING del"
        "  WHERE n.activity_type = 'Favourite' AND n.activity_id = del.id),"
        " ob AS (" NGX_HTTP_MASTODON_OUTBOX_SQL(
        NGX_HTTP_MASTODON_OUTBOX_FORGET("status_id")
        " FROM (SELECT DISTINCT status_id FROM del) x"
        " UNION ALL " NGX_HTTP_MASTODON_OUTBOX_AP_STATUS("undo_like", "del"))
        ")"
        " SELECT chk.visible, EXISTS (SELECT 1 FROM del) FROM chk", 2);

/* find_or_create_by!: a reblog's bookmark goes to the original */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_sa_bookmark =
    ngx_http_mastodon_pg_stmt(
        "WITH " NGX_HTTP_MASTODON_SA_CHECK ","
        " ins AS (INSERT INTO bookmarks (account_id, status_id)"
        "  SELECT $1::bigint, o.id FROM chk JOIN statuses o"
        "  ON o.id = coalesce(chk.reblog_of_id, chk.id)"
        "  AND o.deleted_at IS NULL WHERE chk.visible"
        "  ON CONFLICT (account_id, status_id) DO NOTHING)"
        " SELECT chk.visible FROM chk", 2);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_sa_unbookmark =
    ngx_http_mastodon_pg_stmt(
        "WITH " NGX_HTTP_MASTODON_SA_CHECK ","
        " del AS (DELETE FROM bookmarks b USING chk"
        "  WHERE b.account_id = $1::bigint AND b.status_id = chk.id"
        "  RETURNING b.id)"
        " SELECT chk.visible, EXISTS (SELECT 1 FROM del) FROM chk", 2);

/*
 * Serializes the reblogs of one account and status, and the pins of one
 * account, until the commit; $2 (pins: unused, 0) is resolved to the
 * original as ReblogService does.
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_sa_lock =
    ngx_http_mastodon_pg_stmt(
        "SELECT pg_advisory_xact_lock(hashtextextended("
        " CASE WHEN $2::bigint = 0 THEN 'mastodon:pin:' || $1::bigint"
        " ELSE 'mastodon:reblog:' || $1::bigint || ':' || coalesce("
        "  (SELECT reblog_of_id FROM statuses WHERE id = $2::bigint),"
        "  $2::bigint) END, 0))", 2);

/*
 * ReblogService: the original ($2 or what it reblogs) must pass
 * StatusPolicy#reblog? (not direct, private only by its author, visible,
 * author not blocked); an existing reblog is the answer; the visibility
 * is the original's when it is private, else $3 (or the user's
 * default_privacy), and a reblog may not be direct.  The reblog: text '',
 * local, a conversation of its own (Status#set_conversation), uri
 * <base>/users/<name>/statuses/<id>/activity; counters as
 * Status#increment_counter_caches.  $4 the base URL.
 *
 * Answers visible, allowed, the visibility, the reblog's id, whether it
 * was made now, the original's id.
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_sa_reblog =
    ngx_http_mastodon_pg_stmt(
        "WITH " NGX_HTTP_MASTODON_SA_CHECK ","
        " o AS (SELECT o.id, o.account_id, o.visibility,"
        "  (o.visibility IN (0, 1) OR o.visibility = 2"
        "   AND o.account_id = $1::bigint)"
        "  AND " NGX_HTTP_MASTODON_ST_SQL_VISIBLE("o")
        "  AND NOT EXISTS (SELECT 1 FROM blocks ob"
        "   WHERE ob.account_id = $1::bigint"
        "   AND ob.target_account_id = o.account_id) AS allowed"
        "  FROM chk JOIN statuses o"
        "  ON o.id = coalesce(chk.reblog_of_id, chk.id)"
        "  AND o.deleted_at IS NULL WHERE chk.visible),"
        " old AS (SELECT min(r.id) AS id FROM o JOIN statuses r"
        "  ON r.reblog_of_id = o.id AND r.account_id = $1::bigint"
        "  AND r.deleted_at IS NULL WHERE o.allowed),"
        " vis AS (SELECT CASE WHEN o.visibility >= 2 THEN o.visibility"
        "  WHEN $3::integer = " NGX_HTTP_MASTODON_VIS_BLANK
        "   THEN o.visibility"
        "  WHEN $3::integer = " NGX_HTTP_MASTODON_VIS_DEFAULT
        "   THEN coalesce((SELECT CASE u.settings::jsonb ->> 'default_privacy'"
        "   WHEN 'unlisted' THEN 1 WHEN 'private' THEN 2"
        "   WHEN 'direct' THEN 3 ELSE 0 END FROM users u"
        "   WHERE u.account_id = $1::bigint"
        "   AND u.settings IS NOT NULL AND u.settings <> ''), 0)"
        "  ELSE $3::integer END AS v FROM o),"
        " nid AS (SELECT timestamp_id('statuses') AS id FROM o, old, vis"
        "  WHERE o.allowed AND old.id IS NULL AND vis.v BETWEEN 0 AND 2),"
        " conv AS (INSERT INTO conversations (created_at, updated_at)"
        "  SELECT " NGX_HTTP_MASTODON_SA_NOW ", " NGX_HTTP_MASTODON_SA_NOW
        "  FROM nid RETURNING id),"
        " ins AS (INSERT INTO statuses (id, uri, text, reblog_of_id, url,"
        "  sensitive, visibility, reply, conversation_id, local, account_id)"
        "  SELECT nid.id, $4::text || '/users/' || a.username || '/statuses/'"
        "  || nid.id || '/activity', '', o.id, NULL, false, vis.v, false,"
        "  conv.id, true, a.id FROM nid, conv, o, vis, accounts a"
        "  WHERE a.id = $1::bigint RETURNING id, reblog_of_id),"
        " own AS (INSERT INTO status_stats (status_id) SELECT id FROM ins),"
        " cnt AS (INSERT INTO status_stats (status_id, reblogs_count)"
        "  SELECT reblog_of_id, 1 FROM ins"
        "  ON CONFLICT (status_id) DO UPDATE SET"
        "  reblogs_count = status_stats.reblogs_count + 1,"
        "  updated_at = " NGX_HTTP_MASTODON_SA_NOW "),"
        " acc AS (INSERT INTO account_stats (account_id, statuses_count,"
        "  last_status_at)"
        "  SELECT $1::bigint, 1, " NGX_HTTP_MASTODON_SA_NOW " FROM ins"
        "  ON CONFLICT (account_id) DO UPDATE SET"
        "  statuses_count = account_stats.statuses_count + 1,"
        "  last_status_at = excluded.last_status_at,"
        "  updated_at = " NGX_HTTP_MASTODON_SA_NOW "),"
        " ob AS (" NGX_HTTP_MASTODON_OUTBOX_SQL(
        "SELECT 'default', 'distribute', json_build_object('status_id',"
        " id::text) FROM ins"
        " UNION ALL " NGX_HTTP_MASTODON_OUTBOX_FORGET("reblog_of_id")
        " FROM ins") ")"
        " SELECT chk.visible, o.allowed, vis.v,"
        "  coalesce(old.id, (SELECT id FROM ins)),"
        "  EXISTS (SELECT 1 FROM ins), o.id"
        " FROM chk LEFT JOIN o ON true LEFT JOIN old ON true"
        " LEFT JOIN vis ON true", 4);

/*
 * The viewer's live reblog of exactly $2 is discarded (deleted_at), its
 * counters undone (Status#decrement_counter_caches); the worker's
 * remove_status takes it out of the feeds.  Answers visible, the reblog's
 * id (NULL: there was none).
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_sa_unreblog =
    ngx_http_mastodon_pg_stmt(
        "WITH " NGX_HTTP_MASTODON_SA_CHECK ","
        " del AS (UPDATE statuses s SET deleted_at = " NGX_HTTP_MASTODON_SA_NOW
        "  FROM chk WHERE s.account_id = $1::bigint"
        "  AND s.reblog_of_id = chk.id AND s.deleted_at IS NULL"
        "  RETURNING s.id, s.reblog_of_id, s.visibility),"
        " cnt AS (UPDATE status_stats ss SET"
        "  reblogs_count = greatest(0, ss.reblogs_count - d.n),"
        "  updated_at = " NGX_HTTP_MASTODON_SA_NOW
        "  FROM (SELECT reblog_of_id, count(*) AS n FROM del"
        "   WHERE visibility <> 3 GROUP BY reblog_of_id) d"
        "  WHERE ss.status_id = d.reblog_of_id),"
        " acc AS (UPDATE account_stats ac SET"
        "  statuses_count = greatest(0, ac.statuses_count - d.n),"
        "  updated_at = " NGX_HTTP_MASTODON_SA_NOW
        "  FROM (SELECT count(*) AS n FROM del WHERE visibility <> 3) d"
        "  WHERE ac.account_id = $1::bigint AND d.n > 0),"
        " ob AS (" NGX_HTTP_MASTODON_OUTBOX_SQL(
        "SELECT 'default', 'remove_status', json_build_object('status_id',"
        " id::text, 'account_id', $1::bigint::text, 'reblog_of_id',"
        " reblog_of_id::text) FROM del WHERE id = (SELECT min(id) FROM del)"
        " UNION ALL " NGX_HTTP_MASTODON_OUTBOX_FORGET("reblog_of_id, id")
        " FROM del WHERE id = (SELECT min(id) FROM del)") ")"
        " SELECT chk.visible, (SELECT min(id) FROM del) FROM chk", 2);

/*
 * StatusPinValidator, its messages in its order: a reblog, someone else's,
 * direct, the limit (a local account's pins); then the unique index
 * (Mastodon: 422 "Duplicate record").  Answers visible, the four
 * validation failures, already pinned.
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_sa_pin =
    ngx_http_mastodon_pg_stmt(
        "WITH " NGX_HTTP_MASTODON_SA_CHECK ","
        " e AS (SELECT chk.reblog_of_id IS NOT NULL AS reblog,"
        "  chk.account_id <> $1::bigint AS other, chk.visibility = 3 AS direct,"
        "  (SELECT count(*) FROM status_pins p"
        "   WHERE p.account_id = $1::bigint) >= " NGX_HTTP_MASTODON_PIN_LIMIT
        "  AS at_limit,"
        "  EXISTS (SELECT 1 FROM status_pins p WHERE p.account_id = $1::bigint"
        "   AND p.status_id = chk.id) AS dup"
        "  FROM chk WHERE chk.visible),"
        " ins AS (INSERT INTO status_pins (account_id, status_id)"
        "  SELECT $1::bigint, $2::bigint FROM e"
        "  WHERE NOT (e.reblog OR e.other OR e.direct OR e.at_limit OR e.dup)"
        "  ON CONFLICT (account_id, status_id) DO NOTHING)"
        " SELECT chk.visible, e.reblog, e.other, e.direct, e.at_limit, e.dup"
        " FROM chk LEFT JOIN e ON true", 2);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_sa_unpin =
    ngx_http_mastodon_pg_stmt(
        "WITH " NGX_HTTP_MASTODON_SA_CHECK ","
        " del AS (DELETE FROM status_pins p USING chk"
        "  WHERE p.account_id = $1::bigint AND p.status_id = chk.id"
        "  AND chk.visible)"
        " SELECT chk.visible FROM chk", 2);

/* Account#mute_conversation! (find_or_create_by!); answers visible and
 * whether the status has a conversation (else Mastodon::ValidationError) */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_sa_mute =
    ngx_http_mastodon_pg_stmt(
        "WITH " NGX_HTTP_MASTODON_SA_CHECK ","
        " ins AS (INSERT INTO conversation_mutes (account_id, conversation_id)"
        "  SELECT $1::bigint, chk.conversation_id FROM chk"
        "  WHERE chk.visible AND chk.conversation_id IS NOT NULL"
        "  ON CONFLICT (account_id, conversation_id) DO NOTHING)"
        " SELECT chk.visible, chk.conversation_id IS NOT NULL FROM chk", 2);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_sa_unmute =
    ngx_http_mastodon_pg_stmt(
        "WITH " NGX_HTTP_MASTODON_SA_CHECK ","
        " del AS (DELETE FROM conversation_mutes m USING chk"
        "  WHERE m.account_id = $1::bigint"
        "  AND m.conversation_id = chk.conversation_id AND chk.visible)"
        " SELECT chk.visible, chk.conversation_id IS NOT NULL FROM chk", 2);


static ngx_http_mastodon_pg_stmt_t  *ngx_http_mastodon_sa_stmts[] = {
    &ngx_http_mastodon_sa_favourite,
    &ngx_http_mastodon_sa_unfavourite,
    &ngx_http_mastodon_sa_reblog,
    &ngx_http_mastodon_sa_unreblog,
    &ngx_http_mastodon_sa_bookmark,
    &ngx_http_mastodon_sa_unbookmark,
    &ngx_http_mastodon_sa_pin,
    &ngx_http_mastodon_sa_unpin,
    &ngx_http_mastodon_sa_mute,
    &ngx_http_mastodon_sa_unmute
};


/* the last segment of each route, in NGX_HTTP_MASTODON_SA_* order */
static ngx_str_t  ngx_http_mastodon_sa_names[] = {
    ngx_string("favourite"),
    ngx_string("unfavourite"),
    ngx_string("reblog"),
    ngx_string("unreblog"),
    ngx_string("bookmark"),
    ngx_string("unbookmark"),
    ngx_string("pin"),
    ngx_string("unpin"),
    ngx_string("mute"),
    ngx_string("unmute")
};


/*
 * POST /api/v1/statuses/:id/favourite, /unfavourite, /reblog, /unreblog,
 * /bookmark, /unbookmark, /pin, /unpin, /mute, /unmute: one handler, the
 * route's last segment says which.
 */
ngx_int_t
ngx_http_mastodon_status_action(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    u_char      *p, *last;
    size_t       len;
    ngx_uint_t   i;

    last = ctx->route->pattern.data + ctx->route->pattern.len;

    for (p = last; p > ctx->route->pattern.data && p[-1] != '/'; p--) {
        /* void */
    }

    len = last - p;

    for (i = 0; i < sizeof(ngx_http_mastodon_sa_names) / sizeof(ngx_str_t);
         i++)
    {
        if (ngx_http_mastodon_sa_names[i].len == len
            && ngx_strncmp(ngx_http_mastodon_sa_names[i].data, p, len) == 0)
        {
            return ngx_http_mastodon_sa_start(r, ctx, i);
        }
    }

    ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                  "mastodon: no status action for route \"%V\"",
                  &ctx->route->pattern);

    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


/* the reblog's visibility parameter as $3 */
static const char *
ngx_http_mastodon_sa_visibility(ngx_http_mastodon_ctx_t *ctx)
{
    size_t       len;
    ngx_uint_t   i;
    const char  *s;

    static const char  *names[] = {
        "public", "unlisted", "private", "direct", "limited"
    };
    static const char  *codes[] = { "0", "1", "2", "3", "4" };

    if (mstdn_object_get(ctx->params, "visibility") == NULL) {
        return NGX_HTTP_MASTODON_VIS_DEFAULT;
    }

    s = mstdn_param_str(ctx->params, "visibility", &len);
    if (s == NULL) {
        return NGX_HTTP_MASTODON_VIS_INVALID;
    }

    if (len == 0) {
        return NGX_HTTP_MASTODON_VIS_BLANK;
    }

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (len == ngx_strlen(names[i])
            && ngx_strncmp(s, names[i], len) == 0)
        {
            return codes[i];
        }
    }

    return NGX_HTTP_MASTODON_VIS_INVALID;
}


static ngx_int_t
ngx_http_mastodon_sa_start(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_uint_t action)
{
    ngx_http_mastodon_sa_t         *sa;
    ngx_http_mastodon_pg_batch_t   *b;
    ngx_http_mastodon_main_conf_t  *mcf;
    const char                    **pin_lock;

    sa = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_sa_t));
    if (sa == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    sa->action = action;
    sa->id = ngx_http_mastodon_capture_id(ctx, 0);
    if (sa->id == 0) {
        return NGX_HTTP_NOT_FOUND;
    }

    sa->values = ngx_pcalloc(r->pool, 4 * sizeof(char *));
    if (sa->values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    sa->values[0] = ngx_http_mastodon_pg_int64(r, ctx->auth->account_id);
    sa->values[1] = ngx_http_mastodon_pg_int64(r, sa->id);

    b = ngx_http_mastodon_pg_batch(r, ngx_http_mastodon_sa_done, sa);
    if (b == NULL || sa->values[0] == NULL || sa->values[1] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (action == NGX_HTTP_MASTODON_SA_REBLOG) {
        mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

        sa->values[2] = ngx_http_mastodon_sa_visibility(ctx);
        sa->values[3] = (const char *) mcf->base_url.data; /* NUL-terminated */

        if (ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_sa_lock,
                                     sa->values) != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

    } else if (action == NGX_HTTP_MASTODON_SA_PIN) {
        pin_lock = ngx_pcalloc(r->pool, 2 * sizeof(char *));
        if (pin_lock == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        pin_lock[0] = sa->values[0];
        pin_lock[1] = "0";

        if (ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_sa_lock,
                                     pin_lock) != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    sa->result = b->nqueries;

    if (ngx_http_mastodon_pg_add(b, ngx_http_mastodon_sa_stmts[action],
                                 sa->values) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mastodon_pg_run(b) != NGX_OK) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}


static void
ngx_http_mastodon_sa_done(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_int_t                 rc;
    PGresult                 *res;
    ngx_uint_t                i;
    ngx_http_request_t       *r;
    ngx_http_mastodon_sa_t   *sa;
    ngx_http_mastodon_ctx_t  *ctx;

    r = b->request;
    sa = b->data;
    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    for (i = 0; i < b->nqueries; i++) {
        if (ngx_http_mastodon_pg_rows(b, i) == NULL) {
            ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
            return;
        }
    }

    res = b->results[sa->result];

    rc = ngx_http_mastodon_sa_check(r, ctx, sa, res);
    if (rc != NGX_OK) {
        if (ctx->error_message) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "mastodon: status %L: %s", sa->id,
                          ctx->error_message);
        }

        ngx_http_mastodon_finalize(r, rc);
        return;
    }

    /* the viewer's flags changed: its facts in the render cache go */
    ngx_http_mastodon_viewer_forget(r, &ctx->auth->account_id, 1);

    /* a reblog is one of the viewer's statuses (statuses_count) */
    if (sa->action == NGX_HTTP_MASTODON_SA_REBLOG
        || sa->action == NGX_HTTP_MASTODON_SA_UNREBLOG)
    {
        ngx_http_mastodon_account_forget(r, &ctx->auth->account_id, 1);
    }

    if (sa->nforget) {
        if (ngx_http_mastodon_status_forget(r, sa->forget, sa->nforget,
                                            ngx_http_mastodon_sa_forgotten,
                                            sa)
            == NGX_OK)
        {
            return;
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mastodon: could not drop the cached status %L",
                      sa->forget[0]);
    }

    rc = ngx_http_mastodon_sa_load(r, sa);
    if (rc != NGX_DONE) {
        ngx_http_mastodon_finalize(r, rc);
    }
}


/*
 * The action's outcome from its statement: Mastodon's refusals, or what
 * to answer with, what to forget and which job to queue.
 */
static ngx_int_t
ngx_http_mastodon_sa_check(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_sa_t *sa, PGresult *res)
{
    u_char      *p, *last;
    u_char       msg[256];
    int64_t      id;
    ngx_uint_t   i, visible, changed;

    static const char  *pin_errors[] = {
        "A boost cannot be pinned",
        "Someone else's post cannot be pinned",
        "Posts that are only visible to mentioned users cannot be pinned",
        "You have already pinned the maximum number of posts"
    };

    /* Status.find: not found, or deleted */
    if (PQntuples(res) != 1) {
        return NGX_HTTP_NOT_FOUND;
    }

    visible = ngx_http_mastodon_pg_bool(res, 0, 0);
    sa->answer = sa->id;

    switch (sa->action) {

    case NGX_HTTP_MASTODON_SA_FAVOURITE:
        if (!visible) {
            return NGX_HTTP_NOT_FOUND;
        }

        /* FavouriteService: authorize favourite? */
        if (ngx_http_mastodon_pg_bool(res, 0, 1)) {
            ctx->error_message = "This action is not allowed";
            return NGX_HTTP_FORBIDDEN;
        }

        id = ngx_http_mastodon_pg_int(res, 0, 2);
        if (id) {
            sa->forget[sa->nforget++] = ngx_http_mastodon_pg_int(res, 0, 3);
            sa->job_id = id;
            sa->job_status = ngx_http_mastodon_pg_int(res, 0, 3);
            sa->job_account = ngx_http_mastodon_pg_int(res, 0, 4);

            if (sa->job_account) {
                sa->job = NGX_HTTP_MASTODON_SA_JOB_NOTIFY;
            }
        }

        return NGX_OK;

    case NGX_HTTP_MASTODON_SA_UNFAVOURITE:
        changed = ngx_http_mastodon_pg_bool(res, 0, 1);
        if (!visible && !changed) {
            return NGX_HTTP_NOT_FOUND;
        }

        if (changed) {
            sa->forget[sa->nforget++] = sa->id;
            sa->force = 1;
        }

        return NGX_OK;

    case NGX_HTTP_MASTODON_SA_BOOKMARK:
    case NGX_HTTP_MASTODON_SA_UNPIN:
        return visible ? NGX_OK : NGX_HTTP_NOT_FOUND;

    case NGX_HTTP_MASTODON_SA_UNBOOKMARK:
        changed = ngx_http_mastodon_pg_bool(res, 0, 1);
        if (!visible && !changed) {
            return NGX_HTTP_NOT_FOUND;
        }

        sa->force = changed;
        return NGX_OK;

    case NGX_HTTP_MASTODON_SA_REBLOG:
        if (!visible || PQgetisnull(res, 0, 1)) {
            return NGX_HTTP_NOT_FOUND;
        }

        /* ReblogService: authorize reblog? */
        if (!ngx_http_mastodon_pg_bool(res, 0, 1)) {
            ctx->error_message = "This action is not allowed";
            return NGX_HTTP_FORBIDDEN;
        }

        id = ngx_http_mastodon_pg_int(res, 0, 3);

        if (id == 0) {
            switch (ngx_http_mastodon_pg_int(res, 0, 2)) {
            case 3:
            case 4:
                ctx->error_message = "Validation failed: Visibility is"
                                     " reserved";
                break;
            default:
                ctx->error_message = "Validation failed: Visibility is not"
                                     " included in the list";
            }

            return 422;
        }

        sa->answer = id;

        if (ngx_http_mastodon_pg_bool(res, 0, 4)) {
            sa->forget[sa->nforget++] = ngx_http_mastodon_pg_int(res, 0, 5);
            sa->job = NGX_HTTP_MASTODON_SA_JOB_DISTRIBUTE;
            sa->job_id = id;
        }

        return NGX_OK;

    case NGX_HTTP_MASTODON_SA_UNREBLOG:
        id = ngx_http_mastodon_pg_int(res, 0, 1);
        if (!visible && id == 0) {
            return NGX_HTTP_NOT_FOUND;
        }

        if (id) {
            sa->force = 1;
            sa->forget[sa->nforget++] = sa->id;
            sa->forget[sa->nforget++] = id;
            sa->job = NGX_HTTP_MASTODON_SA_JOB_REMOVE;
            sa->job_id = id;
            sa->job_account = ctx->auth->account_id;
            sa->job_status = sa->id;
        }

        return NGX_OK;

    case NGX_HTTP_MASTODON_SA_PIN:
        if (!visible) {
            return NGX_HTTP_NOT_FOUND;
        }

        p = msg;
        last = msg + sizeof(msg) - 1;

        /* columns 1 to 4, in StatusPinValidator's order */
        for (i = 0; i < sizeof(pin_errors) / sizeof(pin_errors[0]); i++) {
            if (ngx_http_mastodon_pg_bool(res, 0, i + 1)) {
                p = ngx_slprintf(p, last, "%s%s", p == msg ? "" : ", ",
                                 pin_errors[i]);
            }
        }

        if (p != msg) {
            ctx->error_message = ngx_pnalloc(r->pool,
                                             sizeof("Validation failed: ")
                                             + (p - msg));
            if (ctx->error_message == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            *ngx_sprintf((u_char *) ctx->error_message,
                         "Validation failed: %*s", p - msg, msg) = '\0';

            return 422;
        }

        if (ngx_http_mastodon_pg_bool(res, 0, 5)) {
            ctx->error_message = "Duplicate record";
            return 422;
        }

        return NGX_OK;

    default: /* MUTE, UNMUTE */
        if (!visible) {
            return NGX_HTTP_NOT_FOUND;
        }

        if (!ngx_http_mastodon_pg_bool(res, 0, 1)) {
            ctx->error_message = "Mastodon::ValidationError";
            return 422;
        }

        return NGX_OK;
    }
}


static void
ngx_http_mastodon_sa_forgotten(ngx_http_request_t *r, redisReply *reply,
    void *data)
{
    ngx_int_t                rc;
    ngx_http_mastodon_sa_t  *sa = data;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mastodon: could not drop the cached status %L",
                      sa->forget[0]);
    }

    rc = ngx_http_mastodon_sa_load(r, sa);
    if (rc != NGX_DONE) {
        ngx_http_mastodon_finalize(r, rc);
    }
}


static ngx_int_t
ngx_http_mastodon_sa_load(ngx_http_request_t *r, ngx_http_mastodon_sa_t *sa)
{
    return ngx_http_mastodon_statuses_fetch(r, &sa->answer, 1, 0,
                                            ngx_http_mastodon_sa_loaded, sa);
}


static void
ngx_http_mastodon_sa_loaded(ngx_http_request_t *r,
    ngx_http_mastodon_statuses_t *st, void *data)
{
    ngx_http_mastodon_sa_t           *sa = data;
    ngx_http_mastodon_status_item_t  *item;

    if (st->rc != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    sa->st = st;
    item = st->items.elts;

    /* what was just done to a status it may no longer see is answered */
    if (!ngx_http_mastodon_statuses_shown(st, 0)
        && !(sa->force && item[0].found))
    {
        ngx_http_mastodon_finalize(r, NGX_HTTP_NOT_FOUND);
        return;
    }

    ngx_http_mastodon_sa_payload(r, sa);

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_sa_respond(r, sa));
}


/*
 * The job went into the outbox with the action; what it publishes is left
 * in Redis: the favourited status and the viewer for a notify, the reblog
 * for a distribute.
 */
static void
ngx_http_mastodon_sa_payload(ngx_http_request_t *r,
    ngx_http_mastodon_sa_t *sa)
{
    ngx_str_t                         status;
    ngx_uint_t                        i;
    ngx_http_mastodon_status_item_t  *item;

    item = sa->st->items.elts;

    switch (sa->job) {

    case NGX_HTTP_MASTODON_SA_JOB_NOTIFY:

        /* the favourited status: the original of a reblog */
        i = 0;

        if (item[0].id != sa->job_status && item[0].reblog > 0) {
            i = item[0].reblog;
        }

        if (item[i].id == sa->job_status
            && ngx_http_mastodon_status_json(sa->st, i, &status) == NGX_OK)
        {
            (void) ngx_http_mastodon_outbox_payload(r, "status",
                                                    sa->job_status, &status);
        }

        break;

    case NGX_HTTP_MASTODON_SA_JOB_DISTRIBUTE:

        if (ngx_http_mastodon_status_json(sa->st, 0, &status) == NGX_OK) {
            (void) ngx_http_mastodon_outbox_payload(r, "status", sa->job_id,
                                                    &status);
        }

        break;

    default:
        break;
    }
}


static ngx_int_t
ngx_http_mastodon_sa_respond(ngx_http_request_t *r,
    ngx_http_mastodon_sa_t *sa)
{
    ngx_http_mastodon_json_t          j;
    ngx_http_mastodon_status_item_t  *item;

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /*
     * The reblog is rendered without a relationships presenter: its flags
     * are Account#favourited?/reblogged?/bookmarked? of status.proper.
     */
    item = sa->st->items.elts;

    if (sa->action == NGX_HTTP_MASTODON_SA_REBLOG && item[0].reblog > 0) {
        item[0].reblogged = 1;
        item[0].favourited = item[item[0].reblog].favourited;
        item[0].bookmarked = item[item[0].reblog].bookmarked;
    }

    ngx_http_mastodon_status_write(&j, NULL, sa->st, 0);

    return ngx_http_mastodon_json_send(&j, NGX_HTTP_OK);
}

