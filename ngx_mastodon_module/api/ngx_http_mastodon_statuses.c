/*
 * Statuses: post (POST /api/v1/statuses), show (one, several), edit, its
 * history and source, delete, and the context (thread) of a status.
 *
 * A post is one statement (the row, its conversation, counters, mentions,
 * tags and its `distribute` job in the outbox: one transaction); the worker
 * does the rest from that job, and publishes the viewer-less rendering the
 * module leaves in Redis once it has rendered the answer.
 */

#include "ngx_http_mastodon_api.h"
#include "mstdn_text.h"
#include "mstdn_hashtag.h"
#include "mstdn_grapheme.h"


#define NGX_HTTP_MASTODON_STATUS_ENTITIES     256
#define NGX_HTTP_MASTODON_IDEMPOTENCY_MAX     256
#define NGX_HTTP_MASTODON_STATUSES_MAX_IDS    20
#define NGX_HTTP_MASTODON_MEDIA_MAX           4   /* MEDIA_ATTACHMENTS_LIMIT */


typedef struct {
    int64_t                        id;
    const char                    *job;             /* in the outbox */
    ngx_uint_t                     status;          /* of the answer */
    ngx_str_t                      idempotency;     /* the Redis key */
    const char                    *at;              /* scheduled_at */
    ngx_str_t                      text;            /* delete: the source */
    ngx_str_t                      answer;          /* delete: rendered */
    ngx_http_mastodon_statuses_t  *st;
    int64_t                        forget[4];
    ngx_uint_t                     nforget;
    const char                   **values;
} ngx_http_mastodon_status_op_t;


static void ngx_http_mastodon_statuses_send(ngx_http_request_t *r,
    ngx_http_mastodon_statuses_t *st, void *data);
static void ngx_http_mastodon_status_posted(ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_status_saved(ngx_http_request_t *r,
    ngx_http_mastodon_statuses_t *st, void *data);
static ngx_int_t ngx_http_mastodon_status_checked(ngx_http_request_t *r,
    ngx_http_mastodon_status_op_t *op, ngx_http_mastodon_pg_stmt_t *write,
    ngx_http_mastodon_pg_done_pt done);
static ngx_int_t ngx_http_mastodon_status_media_refused(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, PGresult *res, int col, int ids_col);


/* what a post and an edit share: $3 text, $4 sensitive, $5 spoiler,
 * $10 local mentions, $11 remote mentions, $12 tags (normalized names),
 * $13 their display names (in the same order).  Only the tags not there
 * yet go through the upsert: its DO UPDATE locks the tag's row until the
 * commit, and every post with a popular tag waited for the one before. */
#define NGX_HTTP_MASTODON_STATUS_SQL_MENTIONS(s)                              \
    " INSERT INTO mentions (status_id, account_id)"                           \
    " SELECT " s ".id, ma.id FROM " s ","                                     \
    " mastodon_mentioned($10::text[], $11::text[]) ma"                        \
    " ON CONFLICT (account_id, status_id) DO UPDATE SET silent = false"

#define NGX_HTTP_MASTODON_STATUS_SQL_TAGS(s)                                  \
    " tn AS (SELECT DISTINCT ON (lower(x.n)) x.n AS name, x.d AS display"   \
    "  FROM unnest($12::text[], $13::text[]) WITH ORDINALITY x (n, d, i)"     \
    "  WHERE x.n <> '' ORDER BY lower(x.n), x.i),"                            \
    " ti AS (INSERT INTO tags (name, display_name)"                           \
    "  SELECT name, display FROM tn WHERE EXISTS (SELECT 1 FROM " s ")"       \
    "  AND NOT EXISTS (SELECT 1 FROM tags et"                                 \
    "  WHERE lower(et.name) = lower(tn.name))"                                \
    "  ON CONFLICT (lower((name)::text) text_pattern_ops)"                    \
    "  DO UPDATE SET name = tags.name RETURNING id),"                         \
    " tg AS (INSERT INTO statuses_tags (status_id, tag_id)"                   \
    "  SELECT " s ".id, t.id FROM " s ", (SELECT id FROM ti UNION"            \
    "  SELECT tags.id FROM tags JOIN tn ON lower(tags.name) = lower(tn.name))"\
    "  t ON CONFLICT DO NOTHING)"

/*
 * Why a post or an edit attaches none of media_ids (validate_media!): 1
 * not found, 2 a video or audio among several, 3 not processed; 0 fine.
 * md: the media found.
 */
#define NGX_HTTP_MASTODON_STATUS_SQL_MEDIA_WHY                                \
    "SELECT CASE"                                                             \
    "  WHEN (SELECT count(*) FROM md) < cardinality($18::bigint[]) THEN 1"    \
    "  WHEN (SELECT count(*) FROM md) > 1"                                    \
    "  AND EXISTS (SELECT 1 FROM md WHERE type IN (2, 4)) THEN 2"             \
    "  WHEN EXISTS (SELECT 1 FROM md WHERE coalesce(processing, 2) <> 2)"     \
    "  THEN 3 ELSE 0 END AS why"

/* the ids of media_ids not found, as Mastodon's not_found lists them */
#define NGX_HTTP_MASTODON_STATUS_SQL_MEDIA_MISSING                            \
    " array_to_string(ARRAY(SELECT x FROM unnest($18::bigint[]) x"            \
    "  WHERE x NOT IN (SELECT id FROM md)), ', ')"

/*
 * A post: mastodon_post_statuses() with one post (sql/0050_post_batch.sql),
 * the one home of what posting writes (the worker's scheduled_status_publish
 * calls it too; several posts at once: the group commit below).  $1 the
 * author, $2 in_reply_to_id, $3 text, $4 sensitive, $5 spoiler_text, $6
 * visibility, $7 language, $8 application, $9 base URL, $10-$13 above, $14
 * the poll's options (NULL: no poll), $15 its expires_in (seconds), $16
 * multiple, $17 hide_totals, $18 media_ids.  A poll gets a poll_expire
 * job, which waits in mastodon:schedule for the poll's end.  The fourth
 * column says why nothing was posted (the fifth: the media ids not found,
 * as Mastodon lists them): 1 media not found, 2 a video or audio with
 * others, 3 media not processed, 0 the status replied to is not there for
 * the author (then the row's id is NULL).  The new id goes into
 * NGX_HTTP_MASTODON_ST_WRITTEN (the third column, unused): the batch's next
 * statements select what the answer renders
 * (ngx_http_mastodon_statuses_written()).
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_status_post_stmt =
    ngx_http_mastodon_pg_stmt(
    "SELECT s.id, s.in_reply_to_id, CASE WHEN s.id IS NOT NULL"
    "  THEN set_config('" NGX_HTTP_MASTODON_ST_WRITTEN "', s.id::text, true)"
    "  END, s.why, s.missing"
    " FROM mastodon_post_statuses(ARRAY[ROW($1::bigint, $2::bigint, $3,"
    "  $4::boolean, $5, $6::int, $7, $8::bigint, $9, $10::text[],"
    "  $11::text[], $12::text[], $13::text[], $14::text[], $15::bigint,"
    "  $16::boolean, $17::boolean, $18::bigint[], NULL)::mastodon_post]) s",
    18);


/* $1 the viewer, $2 the status: exists for it, and is its own */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_status_check_stmt =
    ngx_http_mastodon_pg_stmt(
    "SELECT s.account_id = $1::bigint, s.reblog_of_id IS NOT NULL,"
    " s.text, s.spoiler_text"
    " FROM statuses s WHERE s.id = $2::bigint"
    " AND " NGX_HTTP_MASTODON_ST_SQL_VISIBLE("s") " FOR UPDATE OF s", 2);

/*
 * An edit (UpdateStatusService): the first edit also records the original
 * version; mentions and tags follow the new text.  The media become $14
 * (media_ids, always: Mastodon's controller always passes the key, an edit
 * without it drops them; the author's, unattached or this status', as a
 * post validates them; those left out stay attached but are not shown, as
 * Mastodon leaves them) and media_attributes ($15: [{"id", "d"
 * description, "x", "y" focus}], each key only when given) change the
 * description and focus of those kept; a version records the media and
 * their descriptions (status_edits).  Nothing changed: no row of u.
 * $1 author, $2 status, $3 text, $4 sensitive, $5 spoiler, $7 language,
 * $10-$13 mentions and tags, $14-$17 the poll as for a post, $18 and
 * $19 the media (above); $6, $8, $9 unused.  The poll (update_poll!): none given removes the status' poll;
 * one given replaces its options and settings and ends it expires_in from
 * now, and changed options or multiple throw its votes away
 * (Poll#reset_votes!); a new end gets a poll_expire job.

 * The last two columns are the post's: why media were refused, the ids
 * not found.
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_status_edit_stmt =
    ngx_http_mastodon_pg_stmt(
    "WITH md AS (SELECT id, type, processing, description, file_meta"
    "  FROM media_attachments"
    "  WHERE id = ANY($18::bigint[]) AND account_id = $1::bigint"
    "  AND (status_id IS NULL OR status_id = $2::bigint)"
    "  AND scheduled_status_id IS NULL),"
    " mv AS (" NGX_HTTP_MASTODON_STATUS_SQL_MEDIA_WHY "),"
    " cur AS (SELECT coalesce(cs.ordered_media_attachment_ids,"
    "  ARRAY(SELECT ca.id FROM media_attachments ca"
    "  WHERE ca.status_id = cs.id ORDER BY ca.id)) AS ids"
    "  FROM statuses cs WHERE cs.id = $2::bigint),"
    " mat AS (SELECT DISTINCT ON (id) (x->>'id')::bigint AS id,"
    "  x->'d' IS NOT NULL AS has_d, x->>'d' AS d,"
    "  (x->>'x')::float8 AS fx, (x->>'y')::float8 AS fy"
    "  FROM json_array_elements(coalesce($19::json, '[]'))"
    "  WITH ORDINALITY AS xa (x, n) ORDER BY id, n DESC),"
    " mn AS (SELECT md.id,"
    "  CASE WHEN mat.has_d THEN mat.d ELSE md.description END"
    "  AS description,"
    "  CASE WHEN mat.fx IS NULL THEN md.file_meta"
    "  ELSE (coalesce(md.file_meta::jsonb, '{}'::jsonb)"
    "  || jsonb_build_object('focus', jsonb_build_object('x', mat.fx,"
    "  'y', mat.fy)))::json END AS file_meta,"
    "  coalesce(mat.has_d AND mat.d IS DISTINCT FROM md.description, false)"
    "  OR (mat.fx IS NOT NULL AND (md.file_meta::jsonb->'focus')"
    "  IS DISTINCT FROM jsonb_build_object('x', mat.fx, 'y', mat.fy))"
    "  AS changed"
    "  FROM md LEFT JOIN mat ON mat.id = md.id),"
    " o AS (SELECT id, text, spoiler_text, sensitive, created_at,"
    "  (SELECT ids FROM cur) AS media_ids, poll_id"
    "  FROM statuses WHERE id = $2::bigint AND account_id = $1::bigint"
    "  AND deleted_at IS NULL AND reblog_of_id IS NULL"
    "  AND ($6::text IS NULL OR $8::text IS NULL OR $9::text IS NULL"
    "  OR true)"
    "  AND (SELECT why FROM mv) = 0"
    "  AND (text IS DISTINCT FROM $3"
    "  OR spoiler_text IS DISTINCT FROM coalesce($5, spoiler_text)"
    "  OR sensitive IS DISTINCT FROM coalesce($4::boolean, sensitive)"
    "  OR language IS DISTINCT FROM coalesce($7, language)"
    "  OR $14::text[] IS NOT NULL OR poll_id IS NOT NULL"
    "  OR $18::bigint[] IS DISTINCT FROM (SELECT ids FROM cur)"
    "  OR EXISTS (SELECT 1 FROM mn WHERE changed))"
    "  FOR UPDATE),"
    " op AS (SELECT pp.id, pp.options::text[] AS options,"
    "  pp.options::text[] IS DISTINCT FROM $14::text[]"
    "  OR pp.multiple IS DISTINCT FROM $16::boolean AS changed"
    "  FROM polls pp JOIN o ON pp.id = o.poll_id),"
    " pd AS (DELETE FROM polls WHERE $14::text[] IS NULL"
    "  AND id IN (SELECT id FROM op)),"
    " pvd AS (DELETE FROM poll_votes WHERE $14::text[] IS NOT NULL"
    "  AND poll_id IN (SELECT id FROM op WHERE changed)),"
    " pu AS (UPDATE polls SET options = $14::text[],"
    "  multiple = $16::boolean, hide_totals = $17::boolean,"
    "  expires_at = now() AT TIME ZONE 'UTC'"
    "  + make_interval(secs => $15::bigint),"
    "  cached_tallies = CASE WHEN op.changed THEN"
    "  array_fill(0::bigint,"
    "  ARRAY[coalesce(cardinality($14::text[]), 0)])"
    "  ELSE polls.cached_tallies END,"
    "  votes_count = CASE WHEN op.changed THEN 0 ELSE polls.votes_count END,"
    "  voters_count = CASE WHEN op.changed THEN 0"
    "  ELSE polls.voters_count END,"
    "  updated_at = now() AT TIME ZONE 'UTC'"
    "  FROM op WHERE polls.id = op.id AND $14::text[] IS NOT NULL"
    "  RETURNING polls.id),"
    " pn AS (SELECT nextval('polls_id_seq') AS id FROM o"
    "  WHERE o.poll_id IS NULL AND $14::text[] IS NOT NULL),"
    " pi AS (INSERT INTO polls (id, account_id, status_id, expires_at,"
    "  options, cached_tallies, multiple, hide_totals, votes_count,"
    "  voters_count)"
    "  SELECT pn.id, $1::bigint, o.id, now() AT TIME ZONE 'UTC'"
    "  + make_interval(secs => $15::bigint), $14::text[],"
    "  array_fill(0::bigint,"
    "  ARRAY[coalesce(cardinality($14::text[]), 0)]),"
    "  $16::boolean, $17::boolean, 0, 0 FROM pn, o RETURNING id),"
    " f AS (INSERT INTO status_edits (status_id, account_id, text,"
    "  spoiler_text, sensitive, poll_options, created_at, updated_at,"
    "  ordered_media_attachment_ids, media_descriptions)"
    "  SELECT o.id, $1::bigint, o.text, o.spoiler_text, o.sensitive,"
    "  (SELECT options FROM op), o.created_at, o.created_at, o.media_ids,"
    "  ARRAY(SELECT fa.description FROM unnest(o.media_ids)"
    "  WITH ORDINALITY AS fx (id, n)"
    "  JOIN media_attachments fa ON fa.id = fx.id ORDER BY fx.n)"
    "  FROM o WHERE NOT EXISTS (SELECT 1"
    "  FROM status_edits e WHERE e.status_id = o.id)),"
    " mu AS (UPDATE media_attachments ma SET status_id = o.id,"
    "  description = mn.description, file_meta = mn.file_meta,"
    "  updated_at = now() AT TIME ZONE 'UTC'"
    "  FROM mn, o WHERE ma.id = mn.id),"
    " u AS (UPDATE statuses s SET text = $3,"
    "  sensitive = coalesce($4::boolean, s.sensitive),"
    "  spoiler_text = coalesce($5, s.spoiler_text),"
    "  language = coalesce($7, s.language),"
    "  poll_id = CASE WHEN $14::text[] IS NULL THEN NULL"
    "  ELSE coalesce((SELECT id FROM pn), s.poll_id) END,"
    "  ordered_media_attachment_ids = $18::bigint[],"
    "  edited_at = now() AT TIME ZONE 'UTC',"
    "  updated_at = now() AT TIME ZONE 'UTC'"
    "  FROM o WHERE s.id = o.id"
    "  RETURNING s.id, s.spoiler_text, s.sensitive,"
    "  s.ordered_media_attachment_ids AS media_ids),"
    " e AS (INSERT INTO status_edits (status_id, account_id, text,"
    "  spoiler_text, sensitive, poll_options, created_at, updated_at,"
    "  ordered_media_attachment_ids, media_descriptions)"
    "  SELECT u.id, $1::bigint, $3, u.spoiler_text, u.sensitive,"
    "  $14::text[],"
    "  now() AT TIME ZONE 'UTC' + interval '1 microsecond',"
    "  now() AT TIME ZONE 'UTC', u.media_ids,"
    "  ARRAY(SELECT CASE WHEN en.id IS NULL THEN ea.description"
    "  ELSE en.description END FROM unnest(u.media_ids)"
    "  WITH ORDINALITY AS ex (id, n)"
    "  JOIN media_attachments ea ON ea.id = ex.id"
    "  LEFT JOIN mn en ON en.id = ex.id ORDER BY ex.n)"
    "  FROM u),"
    " md2 AS (UPDATE mentions dm SET silent = true FROM u"
    "  WHERE dm.status_id = u.id"
    "  AND dm.account_id NOT IN (SELECT ma.id"
    "  FROM mastodon_mentioned($10::text[], $11::text[]) ma)),"
    " m AS (" NGX_HTTP_MASTODON_STATUS_SQL_MENTIONS("u") "),"
    " td AS (DELETE FROM statuses_tags dt USING u WHERE dt.status_id = u.id"
    "  AND dt.tag_id NOT IN (SELECT tags.id FROM tags"
    "  WHERE lower(tags.name) IN (SELECT lower(x)"
    "  FROM unnest($12::text[]) x))),"
    NGX_HTTP_MASTODON_STATUS_SQL_TAGS("u") ","
    " ob AS (" NGX_HTTP_MASTODON_OUTBOX_SQL(
    "SELECT 'default', 'status_update', json_build_object('status_id',"
    " id::text) FROM u"
    " UNION ALL SELECT 'default', 'poll_expire', json_build_object("
    " 'poll_id', id::text) FROM (SELECT id FROM pi UNION ALL"
    " SELECT id FROM pu) x"
    " UNION ALL " NGX_HTTP_MASTODON_OUTBOX_FORGET("id") " FROM u") ")"
    " SELECT u.id, mv.why," NGX_HTTP_MASTODON_STATUS_SQL_MEDIA_MISSING
    " FROM mv LEFT JOIN u ON true", 19);

/*
 * A delete (discard_with_reblogs): the status and its reblogs, pins,
 * counters; remove_status takes them out of the feeds.  $1 the author, $2
 * the status, $3 delete_media.  Its media (RemoveStatusService, unless the
 * status was reported: then it is preserved with them): without
 * delete_media detached, as Mastodon's destroy nullifies them, for a
 * redraft to attach again; with it deleted, their files removed by
 * media_remove jobs.
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_status_delete_stmt =
    ngx_http_mastodon_pg_stmt(
    "WITH d AS (UPDATE statuses SET deleted_at = now() AT TIME ZONE 'UTC'"
    "  WHERE EXISTS (SELECT 1 FROM statuses o WHERE o.id = $2::bigint"
    "  AND o.account_id = $1::bigint AND o.deleted_at IS NULL)"
    "  AND (id = $2::bigint OR reblog_of_id = $2::bigint)"
    "  AND deleted_at IS NULL"
    "  RETURNING id, account_id, in_reply_to_id, reblog_of_id, visibility),"
    " pins AS (DELETE FROM status_pins WHERE status_id IN"
    "  (SELECT id FROM d)),"
    " ma AS (SELECT id FROM media_attachments WHERE status_id = $2::bigint"
    "  AND EXISTS (SELECT 1 FROM d WHERE d.id = $2::bigint)"
    "  AND NOT EXISTS (SELECT 1 FROM reports"
    "  WHERE $2::bigint = ANY(reports.status_ids))),"
    " mx AS (UPDATE media_attachments SET status_id = NULL,"
    "  updated_at = now() AT TIME ZONE 'UTC'"
    "  WHERE id IN (SELECT id FROM ma) AND NOT $3::boolean),"
    " mr AS (DELETE FROM media_attachments WHERE id IN (SELECT id FROM ma)"
    "  AND $3::boolean RETURNING id, file_file_name, thumbnail_file_name),"
    " mj AS (" NGX_HTTP_MASTODON_MEDIA_REMOVE_SQL("mr") "),"
    " ac AS (UPDATE account_stats a SET statuses_count ="
    "  greatest(0, a.statuses_count - x.n),"
    "  updated_at = now() AT TIME ZONE 'UTC'"
    "  FROM (SELECT account_id, count(*) AS n FROM d"
    "  WHERE visibility <> 3 GROUP BY account_id) x"
    "  WHERE a.account_id = x.account_id),"
    " rc AS (UPDATE status_stats ss SET"
    "  replies_count = greatest(0, ss.replies_count - 1)"
    "  FROM d WHERE d.id = $2::bigint AND ss.status_id = d.in_reply_to_id"
    "  AND d.visibility <= 1),"
    " rb AS (UPDATE status_stats ss SET"
    "  reblogs_count = greatest(0, ss.reblogs_count - 1)"
    "  FROM d WHERE d.id = $2::bigint AND ss.status_id = d.reblog_of_id),"
    " ob AS (" NGX_HTTP_MASTODON_OUTBOX_SQL(
    "SELECT 'default', 'remove_status', json_build_object('status_id',"
    " id::text, 'account_id', account_id::text, 'reblog_of_id',"
    " coalesce(reblog_of_id, 0)::text) FROM d WHERE id = $2::bigint"
    " UNION ALL " NGX_HTTP_MASTODON_OUTBOX_FORGET(
    "id, in_reply_to_id, reblog_of_id") " FROM d WHERE id = $2::bigint") ")"
    " SELECT id, account_id, coalesce(in_reply_to_id, 0),"
    " coalesce(reblog_of_id, 0) FROM d ORDER BY id = $2::bigint DESC", 3);


/* A text[] literal: {"a","b"} with " and \ escaped. */
typedef struct {
    u_char      *start;
    u_char      *pos;
    ngx_uint_t   n;
} ngx_http_mastodon_text_array_t;


static void
ngx_http_mastodon_text_array_add(ngx_http_mastodon_text_array_t *a,
    const char *s, size_t len, const char *s2, size_t len2, ngx_uint_t lower)
{
    size_t       i, k;
    u_char       c;
    const char  *part;
    size_t       plen;

    *a->pos++ = a->n++ ? ',' : '{';
    *a->pos++ = '"';

    for (k = 0; k < 2; k++) {
        part = k ? s2 : s;
        plen = k ? len2 : len;

        if (k && part == NULL) {
            break;
        }

        if (k) {
            *a->pos++ = '@';
        }

        for (i = 0; i < plen; i++) {
            c = part[i];
            if (c == '"' || c == '\\') {
                *a->pos++ = '\\';
            }
            *a->pos++ = lower ? ngx_tolower(c) : c;
        }
    }

    *a->pos++ = '"';
}


static const char *
ngx_http_mastodon_text_array_end(ngx_http_mastodon_text_array_t *a)
{
    if (a->n == 0) {
        *a->pos++ = '{';
    }

    *a->pos++ = '}';
    *a->pos = '\0';

    return (const char *) a->start;
}


/* String#to_i of a parameter: its leading digits, 0 without any */
static int64_t
ngx_http_mastodon_status_to_i(mstdn_value_t *v)
{
    int64_t      id;
    const char  *c;

    id = 0;

    if (v == NULL || (v->type != MSTDN_STRING && v->type != MSTDN_NUMBER)) {
        return 0;
    }

    for (c = v->str; c < v->str + v->len && *c >= '0' && *c <= '9'; c++) {
        if (id > (INT64_MAX - 9) / 10) {
            break;
        }
        id = id * 10 + (*c - '0');
    }

    return id;
}


/*
 * media_ids (PostStatusService#validate_media!): none, or at most
 * NGX_HTTP_MASTODON_MEDIA_MAX ids as Ruby's to_i reads them, repeats
 * dropped (ordered_media_attachment_ids is media_ids & the media found),
 * as a bigint[] literal; whose they are and whether they are ready the
 * statement decides.
 */
static ngx_int_t
ngx_http_mastodon_status_media_ids(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, const char **value, ngx_uint_t *n)
{
    u_char         *p, *last;
    int64_t         ids[NGX_HTTP_MASTODON_MEDIA_MAX], id;
    ngx_uint_t      i, k, given;
    mstdn_value_t  *v, *e, one;

    *n = 0;
    *value = "{}";

    v = mstdn_object_get(ctx->params, "media_ids");
    if (v == NULL) {
        return NGX_OK;
    }

    if (v->type == MSTDN_STRING || v->type == MSTDN_NUMBER) {
        one = *v;
        one.next = NULL;
        e = &one;

    } else if (v->type == MSTDN_ARRAY) {
        e = v->first;

    } else {
        return NGX_OK;
    }

    given = 0;
    for (v = e; v; v = v->next) {
        given++;
    }

    if (given > NGX_HTTP_MASTODON_MEDIA_MAX) {
        ctx->error_message = "Cannot attach more than 4 files";
        return 422;
    }

    for ( /* void */ ; e; e = e->next) {
        if ((e->type != MSTDN_STRING && e->type != MSTDN_NUMBER)
            || e->len == 0)
        {
            continue;
        }

        id = ngx_http_mastodon_status_to_i(e);

        for (k = 0; k < *n && ids[k] != id; k++) { /* void */ }

        if (k == *n) {
            ids[(*n)++] = id;
        }
    }

    if (*n == 0) {
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, *n * (NGX_INT64_LEN + 1) + 3);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *value = (const char *) p;
    last = p;
    *last++ = '{';

    for (i = 0; i < *n; i++) {
        last = ngx_sprintf(last, i ? ",%L" : "%L", ids[i]);
    }

    *last++ = '}';
    *last = '\0';

    return NGX_OK;
}


/*
 * An edit's media_attributes[] (id, description, focus; a thumbnail is
 * not taken) as the edit statement's $15: [{"id", "d", "x", "y"}], a key
 * only when given.  Elements of an array, or of an object (the form
 * media_attributes[0][id]=...).
 */
static ngx_int_t
ngx_http_mastodon_status_media_attributes(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, const char **value)
{
    u_char                    *p;
    int64_t                    id;
    ngx_int_t                  rc;
    ngx_str_t                  out;
    ngx_uint_t                 n;
    const char                *description, *x, *y;
    mstdn_value_t             *v, *e;
    ngx_http_mastodon_json_t   j;

    *value = NULL;

    v = mstdn_object_get(ctx->params, "media_attributes");
    if (v == NULL || (v->type != MSTDN_ARRAY && v->type != MSTDN_OBJECT)) {
        return NGX_OK;
    }

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mastodon_json_open_array(&j, NULL);

    for (n = 0, e = v->first; e && n < 64; e = e->next, n++) {
        if (e->type != MSTDN_OBJECT) {
            continue;
        }

        id = ngx_http_mastodon_status_to_i(mstdn_object_get(e, "id"));
        if (id <= 0) {
            continue;
        }

        rc = ngx_http_mastodon_media_attrs(r, ctx, e, &description, &x, &y);
        if (rc != NGX_OK) {
            return rc;
        }

        p = ngx_pnalloc(r->pool, NGX_INT64_LEN + 1);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        *ngx_sprintf(p, "%L", id) = '\0';

        ngx_http_mastodon_json_open(&j, NULL);
        ngx_http_mastodon_json_kv_cstr(&j, "id", (const char *) p);

        if (description) {
            ngx_http_mastodon_json_kv_cstr(&j, "d", description);
        }

        if (x) {
            ngx_http_mastodon_json_kv_cstr(&j, "x", x);
        }

        if (y) {
            ngx_http_mastodon_json_kv_cstr(&j, "y", y);
        }

        ngx_http_mastodon_json_close(&j);
    }

    ngx_http_mastodon_json_close_array(&j);

    if (ngx_http_mastodon_json_string(&j, &out) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_pnalloc(r->pool, out.len + 1);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *ngx_cpymem(p, out.data, out.len) = '\0';
    *value = (const char *) p;

    return NGX_OK;
}


/*
 * poll[options][], poll[expires_in], poll[multiple], poll[hide_totals] as
 * Mastodon's Poll model validates them (options stripped, blank ones left
 * out; PollOptionsValidator, PollExpirationValidator): values[0..3] for
 * $14-$17, values[0] NULL without a poll.  NGX_OK, or an HTTP status with
 * ctx->error_message.
 */
static ngx_int_t
ngx_http_mastodon_status_poll_params(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, const char **values)
{
    size_t                           len, size, k;
    u_char                          *msg;
    int64_t                          expires_in;
    ngx_str_t                       *options;
    ngx_uint_t                       n, i, nvalues;
    const char                      *s;
    mstdn_value_t                   *poll, *v, *o;
    ngx_http_mastodon_text_array_t   array;

    values[0] = NULL;

    poll = mstdn_object_get(ctx->params, "poll");
    if (poll == NULL || poll->type != MSTDN_OBJECT || poll->first == NULL) {
        return NGX_OK;
    }

    v = mstdn_object_get(poll, "options");
    nvalues = v == NULL ? 0
              : v->type == MSTDN_ARRAY ? v->count
              : v->type == MSTDN_STRING ? 1 : 0;

    if (nvalues > 64) {
        ctx->error_message = "Validation failed: Poll options can't contain "
                             "more than 4 items";
        return 422;
    }

    options = ngx_palloc(r->pool, (nvalues + 1) * sizeof(ngx_str_t));
    if (options == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    n = 0;
    size = 8;
    o = v == NULL ? NULL : v->type == MSTDN_ARRAY ? v->first : v;

    for ( /* void */ ; o && n < nvalues; o = v->type == MSTDN_ARRAY
                                             ? o->next : NULL)
    {
        if (o->type != MSTDN_STRING && o->type != MSTDN_NUMBER) {
            continue;
        }

        s = o->str;
        len = o->len;
        mstdn_text_strip(&s, &len);

        if (len == 0) {
            continue;
        }

        options[n].data = (u_char *) s;
        options[n].len = len;
        size += 2 * len + 3;
        n++;
    }

    if (n < 2) {
        ctx->error_message = "Validation failed: Poll options must have more "
                             "than one item";
        return 422;
    }

    if (n > NGX_HTTP_MASTODON_POLL_MAX_OPTIONS) {
        msg = ngx_pnalloc(r->pool, 96);
        if (msg == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        *ngx_sprintf(msg, "Validation failed: Poll options can't contain "
                     "more than %d items", NGX_HTTP_MASTODON_POLL_MAX_OPTIONS)
            = '\0';
        ctx->error_message = (const char *) msg;
        return 422;
    }

    for (i = 0; i < n; i++) {
        if (mstdn_grapheme_count((const char *) options[i].data,
                                 options[i].len)
            > NGX_HTTP_MASTODON_POLL_MAX_CHARS)
        {
            msg = ngx_pnalloc(r->pool, 96);
            if (msg == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
            *ngx_sprintf(msg, "Validation failed: Poll options cannot be "
                         "longer than %d characters each",
                         NGX_HTTP_MASTODON_POLL_MAX_CHARS) = '\0';
            ctx->error_message = (const char *) msg;
            return 422;
        }

        for (k = 0; k < i; k++) {
            if (options[k].len == options[i].len
                && ngx_memcmp(options[k].data, options[i].data,
                              options[i].len) == 0)
            {
                ctx->error_message = "Validation failed: Poll options "
                                     "contain duplicate items";
                return 422;
            }
        }
    }

    if (mstdn_param_int64(poll, "expires_in", &expires_in) != 0) {
        ctx->error_message = "Validation failed: Poll expires at can't be "
                             "blank";
        return 422;
    }

    if (expires_in > NGX_HTTP_MASTODON_POLL_MAX_EXPIRATION) {
        ctx->error_message = "Validation failed: Poll expires at is too far "
                             "into the future";
        return 422;
    }

    if (expires_in < NGX_HTTP_MASTODON_POLL_MIN_EXPIRATION) {
        ctx->error_message = "Validation failed: Poll expires at is too soon";
        return 422;
    }

    array.start = ngx_pnalloc(r->pool, size);
    if (array.start == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    array.pos = array.start;
    array.n = 0;

    for (i = 0; i < n; i++) {
        ngx_http_mastodon_text_array_add(&array, (const char *) options[i].data,
                                         options[i].len, NULL, 0, 0);
    }

    values[0] = ngx_http_mastodon_text_array_end(&array);
    values[1] = ngx_http_mastodon_pg_int64(r, expires_in);
    values[2] = mstdn_param_bool(poll, "multiple", 0) ? "t" : "f";
    values[3] = mstdn_param_bool(poll, "hide_totals", 0) ? "t" : "f";

    if (values[1] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_OK;
}


/*
 * The parameters a post and an edit share, validated as Mastodon's
 * PostStatusService and Status model do; values[] for the statements.
 * Returns NGX_OK, or an HTTP status with ctx->error_message.
 */
static ngx_int_t
ngx_http_mastodon_status_params(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, const char **values, ngx_uint_t edit)
{
    size_t                           len, slen, vlen, llen, i, n, count;
    size_t                           size;
    u_char                          *p;
    int64_t                          reply;
    ngx_int_t                        visibility, rc;
    ngx_uint_t                       ours, has_spoiler, nmedia;
    ngx_str_t                       *names;
    const char                      *text, *spoiler, *vis, *lang;
    mstdn_value_t                   *v;
    mstdn_alloc_t                    a;
    mstdn_entity_t                  *e;
    ngx_http_mastodon_text_array_t   local, remote, tags, displays;
    ngx_http_mastodon_main_conf_t   *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    text = mstdn_param_str(ctx->params, "status", &len);
    if (text == NULL) {
        text = "";
        len = 0;
    }

    spoiler = mstdn_param_str(ctx->params, "spoiler_text", &slen);
    has_spoiler = spoiler != NULL;
    if (spoiler == NULL) {
        spoiler = "";
        slen = 0;
    }

    /* Mastodon strips both before it validates and stores them */
    mstdn_text_strip(&text, &len);
    mstdn_text_strip(&spoiler, &slen);

    /* PostStatusService: a content warning alone becomes the text */
    if (!edit && len == 0 && slen) {
        text = spoiler;
        len = slen;
        spoiler = "";
        slen = 0;
    }

    rc = ngx_http_mastodon_status_media_ids(r, ctx, &values[17], &nmedia);
    if (rc != NGX_OK) {
        return rc;
    }

    if (edit) {
        rc = ngx_http_mastodon_status_media_attributes(r, ctx, &values[18]);
        if (rc != NGX_OK) {
            return rc;
        }
    }


    rc = ngx_http_mastodon_status_poll_params(r, ctx, &values[13]);
    if (rc != NGX_OK) {
        return rc;
    }

    /* PostStatusService#validate_media!: media and a poll never together */
    if (nmedia && values[13] != NULL) {
        ctx->error_message = "Cannot attach more than 4 files";
        return 422;
    }

    if (len == 0 && nmedia == 0) {
        ctx->error_message = "Validation failed: Text can't be blank";
        return 422;
    }

    count = mstdn_status_length(spoiler, slen, text, len);
    if (count == MSTDN_GRAPHEME_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (count > mcf->max_characters) {
        p = ngx_pnalloc(r->pool, 80);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        *ngx_sprintf(p, "Validation failed: Text character limit of %ui "
                     "exceeded", mcf->max_characters) = '\0';
        ctx->error_message = (const char *) p;
        return 422;
    }

    /*
     * Absent or null: the user's default_privacy.  Anything else that is
     * not a visibility's name (an array, an object, a boolean, "") is
     * refused: an audience not understood is never widened to a default.
     */
    visibility = -1;
    v = mstdn_object_get(ctx->params, "visibility");
    vis = mstdn_param_str(ctx->params, "visibility", &vlen);
    if (v && v->type != MSTDN_NULL && !edit) {
        static const char *names[] = { "public", "unlisted", "private",
                                       "direct" };

        visibility = -1;
        for (i = 0; vis && i < 4; i++) {
            if (vlen == ngx_strlen(names[i])
                && ngx_strncmp(vis, names[i], vlen) == 0)
            {
                visibility = i;
            }
        }

        if (visibility < 0) {
            ctx->error_message = "Validation failed: Visibility is not "
                                 "included in the list";
            return 422;
        }
    }

    /* an ISO 639 code, or nothing (Mastodon falls back to its default) */
    lang = mstdn_param_str(ctx->params, "language", &llen);
    if (lang && (llen < 2 || llen > 3)) {
        lang = NULL;
    }
    for (i = 0; lang && i < llen; i++) {
        if (lang[i] < 'a' || lang[i] > 'z') {
            lang = NULL;
        }
    }

    reply = 0;
    if (!edit && mstdn_param_str(ctx->params, "in_reply_to_id", &n) && n) {
        if (mstdn_param_int64(ctx->params, "in_reply_to_id", &reply) != 0
            || reply <= 0)
        {
            ctx->error_message = "The post you are trying to reply to does "
                                 "not appear to exist.";
            return NGX_HTTP_NOT_FOUND;
        }
    }

    /* mentions and tags, as the formatter finds them */
    e = ngx_palloc(r->pool, NGX_HTTP_MASTODON_STATUS_ENTITIES
                            * sizeof(mstdn_entity_t));
    names = ngx_palloc(r->pool, NGX_HTTP_MASTODON_STATUS_ENTITIES
                                * sizeof(ngx_str_t));
    local.start = ngx_pnalloc(r->pool, 2 * len + 8);
    remote.start = ngx_pnalloc(r->pool, 2 * len + 8);
    displays.start = ngx_pnalloc(r->pool, 2 * len + 8);
    if (e == NULL || names == NULL || local.start == NULL
        || remote.start == NULL || displays.start == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    local.pos = local.start;
    local.n = 0;
    remote.pos = remote.start;
    remote.n = 0;
    displays.pos = displays.start;
    displays.n = 0;

    n = mstdn_text_entities(text, len, e, NGX_HTTP_MASTODON_STATUS_ENTITIES);
    if (n > NGX_HTTP_MASTODON_STATUS_ENTITIES) {
        n = NGX_HTTP_MASTODON_STATUS_ENTITIES;
    }
    n = mstdn_text_distinct(e, n);

    /*
     * Tag.find_or_create_by_names: a tag's name is the normalized one
     * (HashtagNormalizer), its display_name the name as written less the
     * characters a tag cannot hold.
     */
    a.alloc = ngx_http_mastodon_pool_alloc;
    a.ctx = r->pool;
    size = 8;

    for (i = 0; i < n; i++) {
        if (e[i].type != MSTDN_ENTITY_HASHTAG) {
            continue;
        }

        names[i].data = (u_char *) mstdn_hashtag_normalize(e[i].name,
                                                           e[i].name_len, &a,
                                                           &names[i].len);
        p = ngx_pnalloc(r->pool, e[i].name_len);
        if (names[i].data == NULL || p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(p, e[i].name, e[i].name_len);
        ngx_http_mastodon_text_array_add(&displays, (char *) p,
                                         mstdn_hashtag_strip_invalid(
                                             (char *) p, e[i].name_len),
                                         NULL, 0, 0);
        size += 2 * names[i].len + 3;
    }

    tags.start = ngx_pnalloc(r->pool, size);
    if (tags.start == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    tags.pos = tags.start;
    tags.n = 0;

    for (i = 0; i < n; i++) {
        if (e[i].type == MSTDN_ENTITY_HASHTAG) {
            ngx_http_mastodon_text_array_add(&tags, (char *) names[i].data,
                                             names[i].len, NULL, 0, 0);
            continue;
        }

        if (e[i].type != MSTDN_ENTITY_MENTION) {
            continue;
        }

        ours = e[i].domain == NULL
               || (e[i].domain_len == mcf->domain.len
                   && ngx_strncasecmp((u_char *) e[i].domain,
                                      mcf->domain.data, e[i].domain_len)
                      == 0);

        if (ours) {
            ngx_http_mastodon_text_array_add(&local, e[i].name,
                                             e[i].name_len, NULL, 0, 1);
        } else {
            ngx_http_mastodon_text_array_add(&remote, e[i].name,
                                             e[i].name_len, e[i].domain,
                                             e[i].domain_len, 1);
        }
    }

    values[0] = ngx_http_mastodon_pg_int64(r, ctx->auth->account_id);
    values[1] = reply ? ngx_http_mastodon_pg_int64(r, reply) : NULL;

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    *ngx_cpymem(p, text, len) = '\0';
    values[2] = (const char *) p;

    /*
     * Absent parameters are NULL: a post takes the user's defaults
     * (users.settings), an edit keeps what the status has.  A content
     * warning makes the status sensitive.
     */
    if (slen) {
        values[3] = "t";
    } else if (mstdn_object_get(ctx->params, "sensitive")) {
        values[3] = mstdn_param_bool(ctx->params, "sensitive", 0) ? "t" : "f";
    } else {
        values[3] = NULL;
    }

    if (has_spoiler || !edit) {
        p = ngx_pnalloc(r->pool, slen + 1);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        *ngx_cpymem(p, spoiler, slen) = '\0';
        values[4] = (const char *) p;

    } else {
        values[4] = NULL;
    }

    values[5] = visibility >= 0 ? ngx_http_mastodon_pg_int64(r, visibility)
                                : NULL;

    if (lang) {
        p = ngx_pnalloc(r->pool, llen + 1);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        *ngx_cpymem(p, lang, llen) = '\0';
        values[6] = (const char *) p;
    } else {
        values[6] = NULL;
    }

    values[7] = ctx->auth->app_id
                ? ngx_http_mastodon_pg_int64(r, ctx->auth->app_id) : NULL;
    values[8] = (const char *) mcf->base_url.data;     /* NUL-terminated */
    values[9] = ngx_http_mastodon_text_array_end(&local);
    values[10] = ngx_http_mastodon_text_array_end(&remote);
    values[11] = ngx_http_mastodon_text_array_end(&tags);
    values[12] = ngx_http_mastodon_text_array_end(&displays);

    /* $14-$17 (the poll) and $19 may be NULL; $18 (media_ids) may not */
    for (i = 0; i < 13; i++) {
        if (values[i] == NULL && (i == 0 || i == 2 || i >= 8)) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (values[17] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_OK;
}


/* POST /api/v1/statuses */

static void ngx_http_mastodon_status_idempotent(ngx_http_request_t *r,
    redisReply *reply, void *data);
static ngx_int_t ngx_http_mastodon_status_insert_alone(ngx_http_request_t *r,
    ngx_http_mastodon_status_op_t *op);
static ngx_int_t ngx_http_mastodon_post_enqueue(ngx_http_request_t *r,
    ngx_http_mastodon_status_op_t *op);
static void ngx_http_mastodon_status_unclaim(ngx_http_request_t *r,
    ngx_http_mastodon_status_op_t *op);
static ngx_int_t ngx_http_mastodon_status_insert(ngx_http_request_t *r,
    ngx_http_mastodon_status_op_t *op);

/* the key's status id, or claims it ("pending") for this request */
static const char  ngx_http_mastodon_idempotency_lua[] =
    "local v = redis.call('GET', KEYS[1])\n"
    "if v then return v end\n"
    "redis.call('SET', KEYS[1], 'pending', 'EX', 3600)\n"
    "return false\n";


ngx_int_t
ngx_http_mastodon_statuses_create(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    u_char                         *p;
    size_t                          len;
    ngx_int_t                       rc;
    ngx_uint_t                      n;
    const char                     *argv[4], *at;
    size_t                          argvlen[4];
    ngx_table_elt_t                *h;
    ngx_http_mastodon_status_op_t  *op;

    op = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_status_op_t));
    if (op == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    op->job = "distribute";
    op->values = ngx_pcalloc(r->pool, 19 * sizeof(char *));
    if (op->values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_mastodon_status_params(r, ctx, op->values, 0);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx->data = op;

    /*
     * scheduled_at: a ScheduledStatus, under the same Idempotency-Key as a
     * post (PostStatusService: the key then holds the ScheduledStatus' id)
     */
    at = mstdn_param_str(ctx->params, "scheduled_at", &len);
    if (at && len) {
        p = ngx_pnalloc(r->pool, len + 1);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        *ngx_cpymem(p, at, len) = '\0';
        op->at = (const char *) p;
    }

    h = ngx_http_mastodon_header_in(r, "Idempotency-Key", &n);

    /* two keys: which post a retry repeats is not known, none is made */
    if (n > 1) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: Idempotency-Key given more than once");
        ctx->error_message = "Idempotency-Key must be given once";
        return NGX_HTTP_BAD_REQUEST;
    }

    if (h == NULL || h->value.len == 0
        || h->value.len > NGX_HTTP_MASTODON_IDEMPOTENCY_MAX)
    {
        return ngx_http_mastodon_status_insert(r, op);
    }

    p = ngx_pnalloc(r->pool, sizeof("mastodon:idempotency:status::")
                             + NGX_INT64_LEN + h->value.len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    op->idempotency.data = p;
    op->idempotency.len = ngx_sprintf(p, "mastodon:idempotency:status:%L:%V",
                                      ctx->auth->account_id, &h->value) - p;

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = ngx_http_mastodon_idempotency_lua;
    argvlen[1] = sizeof(ngx_http_mastodon_idempotency_lua) - 1;
    argv[2] = "1";
    argvlen[2] = 1;
    argv[3] = (const char *) op->idempotency.data;
    argvlen[3] = op->idempotency.len;

    if (ngx_http_mastodon_redis_command(r, ngx_http_mastodon_status_idempotent,
                                        op, 4, argv, argvlen)
        != NGX_OK)
    {
        /* without Redis a retry may post twice; the post itself works */
        op->idempotency.len = 0;
        return ngx_http_mastodon_status_insert(r, op);
    }

    return NGX_DONE;
}


static void
ngx_http_mastodon_status_idempotent(ngx_http_request_t *r, redisReply *reply,
    void *data)
{
    ngx_http_mastodon_status_op_t *op = data;

    int64_t                        id;
    ngx_int_t                      rc;
    ngx_http_mastodon_ctx_t       *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    if (reply && reply->type == REDIS_REPLY_STRING) {
        if (reply->len == 7 && ngx_strncmp(reply->str, "pending", 7) == 0) {
            ctx->error_message = "A post with this Idempotency-Key is being "
                                 "processed";
            ngx_http_mastodon_finalize(r, NGX_HTTP_CONFLICT);
            return;
        }

        /* the post was made: answer with it again */
        id = ngx_atoof((u_char *) reply->str, reply->len);

        if (id > 0 && op->at) {
            rc = ngx_http_mastodon_scheduled_find(r, ctx, id);
            if (rc != NGX_DONE) {
                ngx_http_mastodon_finalize(r, rc);
            }
            return;
        }

        if (id > 0) {
            rc = ngx_http_mastodon_statuses_fetch(r, &id, 1, 0,
                                              ngx_http_mastodon_statuses_send,
                                              NULL);
            if (rc != NGX_DONE) {
                ngx_http_mastodon_finalize(r, rc);
            }
            return;
        }
    }

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        op->idempotency.len = 0;
    }

    rc = ngx_http_mastodon_status_insert(r, op);

    if (rc != NGX_DONE) {
        ngx_http_mastodon_finalize(r, rc);
    }
}


/*
 * A post of values prepared by ngx_http_mastodon_status_params() (a
 * scheduled_at in the past: ngx_http_mastodon_scheduled_create())
 */
ngx_int_t
ngx_http_mastodon_status_post(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, const char **values, ngx_str_t *idempotency)
{
    ngx_http_mastodon_status_op_t  *op;

    op = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_status_op_t));
    if (op == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    op->job = "distribute";
    op->values = values;
    op->idempotency = *idempotency;
    ctx->data = op;

    return ngx_http_mastodon_status_insert(r, op);
}


/* one batch: the post, then what its answer renders (or the schedule) */
static ngx_int_t
ngx_http_mastodon_status_insert(ngx_http_request_t *r,
    ngx_http_mastodon_status_op_t *op)
{
    if (op->at) {
        return ngx_http_mastodon_scheduled_create(r,
                          ngx_http_get_module_ctx(r, ngx_http_mastodon_module),
                          op->values, op->at, &op->idempotency);
    }

    return ngx_http_mastodon_post_enqueue(r, op);
}


/* the post alone, in a batch of the request's operation */
static ngx_int_t
ngx_http_mastodon_status_insert_alone(ngx_http_request_t *r,
    ngx_http_mastodon_status_op_t *op)
{
    ngx_http_mastodon_pg_batch_t  *b;

    b = ngx_http_mastodon_pg_batch(r, ngx_http_mastodon_status_posted, op);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->notify_after = 1;

    if (ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_status_post_stmt,
                                 op->values)
        != NGX_OK
        || ngx_http_mastodon_statuses_written_add(b) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mastodon_pg_run(b) != NGX_OK) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}


/*
 * Group commit of posts (issue 10): at most NGX_HTTP_MASTODON_POST_INFLIGHT
 * post transactions per worker; posts arriving meanwhile wait, and go
 * together (up to _POST_GROUP) in one transaction when one ends:
 * mastodon_post_statuses() (sql/0050) and their answers loaded at once;
 * each request then gets its own rows (slices of the results) and its
 * usual handler, as if it had posted alone.  A group of one is the single
 * post's batch.  The group's batch belongs to an operation of its own: a
 * client that goes away leaves the transaction to commit or not as a
 * whole.  A merged batch that fails: each post runs alone, so one bad post
 * fails no other.  The posts wait no longer than a batch: each group's
 * batch has the pool's queue and query timeouts, and its end starts the
 * next group.
 */

#define NGX_HTTP_MASTODON_POST_INFLIGHT  2
#define NGX_HTTP_MASTODON_POST_GROUP     16
#define NGX_HTTP_MASTODON_POST_NVALUES   18


typedef struct {
    ngx_queue_t                     queue;     /* waiting, or in a group */
    ngx_uint_t                      index;     /* in its group */
    ngx_http_request_t             *request;
    ngx_http_mastodon_status_op_t  *op;
    ngx_pool_cleanup_t             *cleanup;
} ngx_http_mastodon_post_wait_t;


typedef struct {
    ngx_queue_t                     members;
    ngx_uint_t                      n;
    ngx_http_mastodon_op_t         *op;
} ngx_http_mastodon_post_group_t;


static ngx_queue_t  ngx_http_mastodon_posts_waiting;
static ngx_uint_t   ngx_http_mastodon_posts_inited;
static ngx_uint_t   ngx_http_mastodon_posts_inflight;


static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_status_post_many_stmt =
    ngx_http_mastodon_pg_stmt(
    "WITH s AS (SELECT r.* FROM mastodon_post_statuses(ARRAY("
    "  SELECT ROW(p.a[i][1]::bigint, p.a[i][2]::bigint, p.a[i][3],"
    "  p.a[i][4]::boolean, p.a[i][5], p.a[i][6]::int, p.a[i][7],"
    "  p.a[i][8]::bigint, p.a[i][9], p.a[i][10]::text[], p.a[i][11]::text[],"
    "  p.a[i][12]::text[], p.a[i][13]::text[], p.a[i][14]::text[],"
    "  p.a[i][15]::bigint, p.a[i][16]::boolean, p.a[i][17]::boolean,"
    "  p.a[i][18]::bigint[], NULL)::mastodon_post"
    "  FROM (SELECT $1::text[] AS a) p, generate_subscripts(p.a, 1) i"
    "  ORDER BY i)) r),"
    " w AS (SELECT set_config('" NGX_HTTP_MASTODON_ST_WRITTEN "',"
    "  string_agg(id::text, ','), true) FROM s WHERE id IS NOT NULL)"
    " SELECT s.id, s.in_reply_to_id, (SELECT count(*) FROM w), s.why,"
    " s.missing FROM s ORDER BY s.n", 1);


static ngx_int_t ngx_http_mastodon_post_group_start(
    ngx_http_mastodon_post_wait_t *self);
static void ngx_http_mastodon_post_alone(ngx_http_mastodon_post_wait_t *w);
static void ngx_http_mastodon_post_group_done(ngx_http_mastodon_pg_batch_t *b);


static void
ngx_http_mastodon_post_wait_cleanup(void *data)
{
    ngx_http_mastodon_post_wait_t *w = data;

    /* the request goes: out of the queue or its group */
    ngx_queue_remove(&w->queue);
}


static ngx_int_t
ngx_http_mastodon_post_enqueue(ngx_http_request_t *r,
    ngx_http_mastodon_status_op_t *op)
{
    ngx_pool_cleanup_t             *cln;
    ngx_http_mastodon_post_wait_t  *w;

    if (!ngx_http_mastodon_posts_inited) {
        ngx_queue_init(&ngx_http_mastodon_posts_waiting);
        ngx_http_mastodon_posts_inited = 1;
    }

    w = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_post_wait_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (w == NULL || cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    w->request = r;
    w->op = op;
    w->cleanup = cln;
    cln->handler = ngx_http_mastodon_post_wait_cleanup;
    cln->data = w;

    ngx_queue_insert_tail(&ngx_http_mastodon_posts_waiting, &w->queue);

    /* posts wait only while as many transactions as allowed run */
    if (ngx_http_mastodon_posts_inflight < NGX_HTTP_MASTODON_POST_INFLIGHT
        && ngx_http_mastodon_post_group_start(w) != NGX_OK)
    {
        /* alone, as before groups: the pool's verdict (503, Retry-After) */
        return ngx_http_mastodon_status_insert_alone(r, op);
    }

    return NGX_DONE;
}


/* the members' values as one two-dimensional text[] literal */
static u_char *
ngx_http_mastodon_post_group_array(ngx_pool_t *pool,
    ngx_http_mastodon_post_group_t *g)
{
    u_char                         *p, *start;
    size_t                          len;
    ngx_uint_t                      i;
    const char                     *v;
    ngx_queue_t                    *q;
    ngx_http_mastodon_post_wait_t  *w;

    len = 3;

    for (q = ngx_queue_head(&g->members);
         q != ngx_queue_sentinel(&g->members);
         q = ngx_queue_next(q))
    {
        w = ngx_queue_data(q, ngx_http_mastodon_post_wait_t, queue);

        len += 3;

        for (i = 0; i < NGX_HTTP_MASTODON_POST_NVALUES; i++) {
            v = w->op->values[i];
            len += 1 + (v ? 2 + 2 * ngx_strlen(v) : 4);
        }
    }

    start = ngx_pnalloc(pool, len);
    if (start == NULL) {
        return NULL;
    }

    p = start;
    *p++ = '{';

    for (q = ngx_queue_head(&g->members);
         q != ngx_queue_sentinel(&g->members);
         q = ngx_queue_next(q))
    {
        w = ngx_queue_data(q, ngx_http_mastodon_post_wait_t, queue);

        if (p != start + 1) {
            *p++ = ',';
        }

        *p++ = '{';

        for (i = 0; i < NGX_HTTP_MASTODON_POST_NVALUES; i++) {
            if (i) {
                *p++ = ',';
            }

            v = w->op->values[i];

            if (v == NULL) {
                p = ngx_cpymem(p, "NULL", 4);
                continue;
            }

            *p++ = '"';

            for ( /* void */ ; *v; v++) {
                if (*v == '"' || *v == '\\') {
                    *p++ = '\\';
                }
                *p++ = *v;
            }

            *p++ = '"';
        }

        *p++ = '}';
    }

    *p++ = '}';
    *p = '\0';

    return start;
}


/*
 * The waiting posts, up to a group, in one batch of their own operation;
 * when it cannot start, each is posted alone (self: by the caller), which
 * gets the pool's verdict (a backend outage's 503 and Retry-After).
 */
static ngx_int_t
ngx_http_mastodon_post_group_start(ngx_http_mastodon_post_wait_t *self)
{
    u_char                          *array, *copy;
    size_t                           len;
    ngx_uint_t                       i;
    const char                     **values;
    ngx_queue_t                     *q;
    ngx_http_mastodon_op_t          *op;
    ngx_http_mastodon_pg_batch_t    *b;
    ngx_http_mastodon_post_wait_t   *w;
    ngx_http_mastodon_post_group_t  *g;

    op = ngx_http_mastodon_op_create(NGX_HTTP_MASTODON_OP_TIMER, NULL,
                                     ngx_cycle->log);
    if (op == NULL) {
        return NGX_ERROR;
    }

    g = ngx_pcalloc(op->pool, sizeof(ngx_http_mastodon_post_group_t));
    if (g == NULL) {
        ngx_http_mastodon_op_end(op);
        return NGX_ERROR;
    }

    g->op = op;
    ngx_queue_init(&g->members);

    while (g->n < NGX_HTTP_MASTODON_POST_GROUP
           && !ngx_queue_empty(&ngx_http_mastodon_posts_waiting))
    {
        q = ngx_queue_head(&ngx_http_mastodon_posts_waiting);
        ngx_queue_remove(q);
        ngx_queue_insert_tail(&g->members, q);
        w = ngx_queue_data(q, ngx_http_mastodon_post_wait_t, queue);
        w->index = g->n++;
    }

    b = ngx_http_mastodon_pg_op_batch(op, ngx_http_mastodon_post_group_done,
                                      g);
    if (b == NULL) {
        goto failed;
    }

    /* the posts' commit waits for no other writer's: sql/0054 */
    b->notify_after = 1;

    if (g->n == 1) {
        /*
         * a lone post: the single post's statement, its values copied (the
         * batch may wait for a connection longer than its request lives)
         */
        w = ngx_queue_data(ngx_queue_head(&g->members),
                           ngx_http_mastodon_post_wait_t, queue);

        values = ngx_pcalloc(op->pool,
                             NGX_HTTP_MASTODON_POST_NVALUES * sizeof(char *));
        if (values == NULL) {
            goto failed;
        }

        for (i = 0; i < NGX_HTTP_MASTODON_POST_NVALUES; i++) {
            if (w->op->values[i]) {
                len = ngx_strlen(w->op->values[i]) + 1;
                copy = ngx_pnalloc(op->pool, len);
                if (copy == NULL) {
                    goto failed;
                }

                values[i] = (const char *) ngx_cpymem(copy, w->op->values[i],
                                                      len) - len;
            }
        }

        if (ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_status_post_stmt,
                                     values)
            != NGX_OK
            || ngx_http_mastodon_statuses_written_add(b) != NGX_OK)
        {
            goto failed;
        }

    } else {
        array = ngx_http_mastodon_post_group_array(op->pool, g);
        values = ngx_palloc(op->pool, sizeof(char *));
        if (array == NULL || values == NULL) {
            goto failed;
        }

        values[0] = (const char *) array;

        if (ngx_http_mastodon_pg_add(b,
                                     &ngx_http_mastodon_status_post_many_stmt,
                                     values)
            != NGX_OK
            || ngx_http_mastodon_statuses_written_many_add(b) != NGX_OK)
        {
            goto failed;
        }
    }

    if (ngx_http_mastodon_pg_run(b) != NGX_OK) {
        goto failed;
    }

    ngx_http_mastodon_posts_inflight++;

    return NGX_OK;

failed:

    while (!ngx_queue_empty(&g->members)) {
        q = ngx_queue_head(&g->members);
        ngx_queue_remove(q);
        ngx_queue_init(q);
        w = ngx_queue_data(q, ngx_http_mastodon_post_wait_t, queue);

        if (w != self) {
            ngx_http_mastodon_post_alone(w);
        }
    }

    ngx_http_mastodon_op_end(op);

    return NGX_ERROR;
}


/* a waiting post taken out of the groups: its own batch, as before them */
static void
ngx_http_mastodon_post_alone(ngx_http_mastodon_post_wait_t *w)
{
    ngx_int_t  rc;

    rc = ngx_http_mastodon_status_insert_alone(w->request, w->op);

    if (rc != NGX_DONE) {
        ngx_http_mastodon_status_unclaim(w->request, w->op);
        ngx_http_mastodon_finalize(w->request, rc);
    }
}


static const char *
ngx_http_mastodon_post_value(PGresult *res, int col)
{
    if (res == NULL || PQntuples(res) != 1 || PQgetisnull(res, 0, col)) {
        return NULL;
    }

    return PQgetvalue(res, 0, col);
}


/* the group's transaction ended: each member its answer */
static void
ngx_http_mastodon_post_group_done(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_http_mastodon_post_group_t *g = b->data;

    ngx_uint_t                      i, failed;
    PGresult                       *res, *mine;
    const char                     *id;
    ngx_queue_t                    *q;
    ngx_http_request_t             *r;
    ngx_http_mastodon_pg_batch_t   *mb;
    ngx_http_mastodon_post_wait_t  *w;

    ngx_http_mastodon_posts_inflight--;

    res = ngx_http_mastodon_pg_rows(b, 0);
    failed = g->n > 1 && (res == NULL || PQntuples(res) != (int) g->n);

    while (!ngx_queue_empty(&g->members)) {
        q = ngx_queue_head(&g->members);
        ngx_queue_remove(q);
        ngx_queue_init(q);          /* its cleanup may still remove it */
        w = ngx_queue_data(q, ngx_http_mastodon_post_wait_t, queue);
        w->cleanup->handler = NULL;
        r = w->request;

        if (failed) {
            /* one bad post fails no other: each alone, as before groups */
            ngx_http_mastodon_post_alone(w);
            continue;
        }

        mb = ngx_http_mastodon_pg_batch(r, ngx_http_mastodon_status_posted,
                                        w->op);
        if (mb != NULL) {
            mb->notify_after = 1;
        }

        if (mb == NULL
            || ngx_http_mastodon_pg_add(mb,
                                        &ngx_http_mastodon_status_post_stmt,
                                        w->op->values)
               != NGX_OK
            || ngx_http_mastodon_statuses_written_add(mb) != NGX_OK)
        {
            ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            continue;
        }

        mb->rc = b->rc;

        if (g->n == 1) {
            for (i = 0; i < b->nqueries; i++) {
                mb->results[i] = b->results[i];
                b->results[i] = NULL;
            }

        } else if (res) {
            /* the rows are in the group's order, gone members' included */
            mine = ngx_http_mastodon_pg_slice(res, 0, NULL, w->index);
            mb->results[0] = mine;
            id = ngx_http_mastodon_post_value(mine, 0);

            if (id && ngx_http_mastodon_pg_rows(b, 1)
                && ngx_http_mastodon_pg_rows(b, 2)
                && ngx_http_mastodon_pg_rows(b, 3))
            {
                mb->results[1] = ngx_http_mastodon_pg_slice(b->results[1], 0,
                                                            id, 0);
                mb->results[2] = ngx_http_mastodon_pg_slice(b->results[2], 0,
                                                      w->op->values[0], 0);
                mb->results[3] = ngx_http_mastodon_pg_slice(b->results[3], 0,
                                                            id, 0);
            }
        }

        mb->handler(mb);
    }

    if (ngx_http_mastodon_posts_inflight < NGX_HTTP_MASTODON_POST_INFLIGHT
        && !ngx_queue_empty(&ngx_http_mastodon_posts_waiting))
    {
        (void) ngx_http_mastodon_post_group_start(NULL);
    }

    ngx_http_mastodon_op_end(g->op);
}


/* the idempotency claim goes when the post failed: a retry may post */
static void
ngx_http_mastodon_status_unclaim(ngx_http_request_t *r,
    ngx_http_mastodon_status_op_t *op)
{
    ngx_http_mastodon_idempotency_done(r, &op->idempotency, 0);
}


/*
 * The Idempotency-Key's claim (key: empty when none) made good with what
 * was written (id, a status or a scheduled status: from now on a retry
 * gets it, whatever happens) or given up (0: a retry may post)
 */
void
ngx_http_mastodon_idempotency_done(ngx_http_request_t *r, ngx_str_t *key,
    int64_t id)
{
    u_char       s[NGX_INT64_LEN];
    size_t       argvlen[5];
    const char  *argv[5];

    if (key == NULL || key->len == 0) {
        return;
    }

    argv[1] = (const char *) key->data;
    argvlen[1] = key->len;

    if (id == 0) {
        argv[0] = "DEL";
        argvlen[0] = 3;

        (void) ngx_http_mastodon_redis_command(r, NULL, NULL, 2, argv,
                                               argvlen);
        return;
    }

    argv[0] = "SET";
    argvlen[0] = 3;
    argv[2] = (const char *) s;
    argvlen[2] = ngx_sprintf(s, "%L", id) - s;
    argv[3] = "EX";
    argvlen[3] = 2;
    argv[4] = "3600";
    argvlen[4] = 4;

    (void) ngx_http_mastodon_redis_command(r, NULL, NULL, 5, argv, argvlen);
}


/* why the post statement posted nothing: its last columns */
static ngx_int_t
ngx_http_mastodon_status_not_posted(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, PGresult *res)
{
    if (PQntuples(res) == 1 && ngx_http_mastodon_pg_int(res, 0, 3) != 0) {
        return ngx_http_mastodon_status_media_refused(r, ctx, res, 3, 4);
    }

    ctx->error_message = "The post you are trying to reply to does not "
                         "appear to exist.";
    return NGX_HTTP_NOT_FOUND;
}


/*
 * validate_media!'s 422 (Mastodon::ValidationError): why (column col, the
 * statements' NGX_HTTP_MASTODON_STATUS_SQL_MEDIA_WHY) and the ids not
 * found (column col + 1)
 */
static ngx_int_t
ngx_http_mastodon_status_media_refused(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, PGresult *res, int col, int ids_col)
{
    u_char     *p;
    ngx_str_t   ids;

    switch (ngx_http_mastodon_pg_int(res, 0, col)) {

    case 1:
        ids = ngx_http_mastodon_pg_str(res, 0, ids_col);
        p = ngx_pnalloc(r->pool, ids.len + sizeof("Media  not found or "
                                                  "already attached to "
                                                  "another post"));
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        *ngx_sprintf(p, "Media %V not found or already attached to another "
                     "post", &ids) = '\0';
        ctx->error_message = (const char *) p;
        return 422;

    case 2:
        ctx->error_message = "Cannot attach a video to a post that already "
                             "contains images";
        return 422;

    default:
        ctx->error_message = "Cannot attach files that have not finished "
                             "processing. Try again in a moment!";
        return 422;
    }
}


static void
ngx_http_mastodon_status_posted(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_http_mastodon_status_op_t *op = b->data;

    PGresult                      *res;
    ngx_http_request_t            *r;
    ngx_http_mastodon_ctx_t       *ctx;
    ngx_http_mastodon_statuses_t  *st;

    r = b->request;
    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    res = ngx_http_mastodon_pg_rows(b, 0);
    if (res == NULL) {
        ngx_http_mastodon_status_unclaim(r, op);
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
        ngx_http_mastodon_status_unclaim(r, op);
        ngx_http_mastodon_finalize(r, ngx_http_mastodon_status_not_posted(r,
                                                                  ctx, res));
        return;
    }

    op->id = ngx_http_mastodon_pg_int(res, 0, 0);

    /* committed: from now on a retry gets this status, whatever happens */
    ngx_http_mastodon_idempotency_done(r, &op->idempotency, op->id);

    /* the author's statuses_count, last_status_at */
    ngx_http_mastodon_account_forget(r, &ctx->auth->account_id, 1);

    /* the parent's replies_count changed */
    if (!PQgetisnull(res, 0, 1)) {
        op->forget[op->nforget++] = ngx_http_mastodon_pg_int(res, 0, 1);
        (void) ngx_http_mastodon_status_forget(r, op->forget, op->nforget,
                                               NULL, NULL);
    }

    st = ngx_http_mastodon_statuses_written(b, 1);
    if (st == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mastodon: status %L posted but not rendered: its "
                      "distribute job publishes no events", op->id);
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    ngx_http_mastodon_status_saved(r, st, op);
}


/*
 * A post or an edit, committed with its job (op->job) and rendered: the
 * rendering the job publishes, then the answer.
 */
static void
ngx_http_mastodon_status_saved(ngx_http_request_t *r,
    ngx_http_mastodon_statuses_t *st, void *data)
{
    ngx_http_mastodon_status_op_t *op = data;

    ngx_str_t  payload;

    if (st->rc != NGX_OK || !ngx_http_mastodon_statuses_shown(st, 0)
        || ngx_http_mastodon_status_json(st, 0, &payload) != NGX_OK)
    {
        /* the job goes anyway: it is in the outbox */
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mastodon: status %L saved but not rendered: its %s "
                      "job publishes no events", op->id, op->job);
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    (void) ngx_http_mastodon_outbox_payload(r, "status", op->id, &payload);

    ngx_http_mastodon_statuses_send(r, st, NULL);
}



/* The answer: st's first status, or 404 when it may not be shown. */
static void
ngx_http_mastodon_statuses_send(ngx_http_request_t *r,
    ngx_http_mastodon_statuses_t *st, void *data)
{
    ngx_http_mastodon_json_t  j;

    if (st->rc != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (!ngx_http_mastodon_statuses_shown(st, 0)) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_NOT_FOUND);
        return;
    }

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_mastodon_status_write(&j, NULL, st, 0);

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_json_send(&j,
                                                              NGX_HTTP_OK));
}


/* GET /api/v1/statuses/:id */
ngx_int_t
ngx_http_mastodon_statuses_show(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    int64_t                        id;

    id = ngx_http_mastodon_capture_id(ctx, 0);
    if (id == 0) {
        return NGX_HTTP_NOT_FOUND;
    }

    return ngx_http_mastodon_statuses_fetch(r, &id, 1, 0,
                                            ngx_http_mastodon_statuses_send,
                                            NULL);
}


static void
ngx_http_mastodon_statuses_list_loaded(ngx_http_request_t *r,
    ngx_http_mastodon_statuses_t *st, void *data)
{
    if (st->rc != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_statuses_send_list(r, st));
}


/* GET /api/v1/statuses?id[]=: the ones that may be shown, in that order */
ngx_int_t
ngx_http_mastodon_statuses_index(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    int64_t                        ids[NGX_HTTP_MASTODON_STATUSES_MAX_IDS];
    int64_t                        id;
    ngx_uint_t                     n, k, dup;
    mstdn_value_t                 *v, *e;

    n = 0;
    v = mstdn_object_get(ctx->params, "id");

    e = NULL;
    if (v && v->type == MSTDN_ARRAY) {
        e = v->first;
    } else if (v && v->type == MSTDN_STRING) {
        e = v;
    }

    for ( /* void */ ; e; e = (v->type == MSTDN_ARRAY) ? e->next : NULL) {
        if (e->type != MSTDN_STRING) {
            continue;
        }

        id = ngx_atoof((u_char *) e->str, e->len);
        if (id <= 0) {
            continue;
        }

        dup = 0;
        for (k = 0; k < n; k++) {
            dup |= ids[k] == id;
        }

        if (dup) {
            continue;
        }

        if (n == NGX_HTTP_MASTODON_STATUSES_MAX_IDS) {
            ctx->error_message = "Too many ids requested";
            return 422;
        }

        ids[n++] = id;
    }

    return ngx_http_mastodon_statuses_fetch(r, ids, n, 0,
                                        ngx_http_mastodon_statuses_list_loaded,
                                        NULL);
}


/* PUT /api/v1/statuses/:id: an edit (UpdateStatusService) */

static void ngx_http_mastodon_status_edited(ngx_http_mastodon_pg_batch_t *b);

ngx_int_t
ngx_http_mastodon_statuses_update(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    int64_t                         id;
    ngx_int_t                       rc;
    ngx_http_mastodon_status_op_t  *op;

    id = ngx_http_mastodon_capture_id(ctx, 0);
    if (id == 0) {
        return NGX_HTTP_NOT_FOUND;
    }

    op = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_status_op_t));
    if (op == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    op->id = id;
    op->job = "status_update";
    op->values = ngx_pcalloc(r->pool, 19 * sizeof(char *));
    if (op->values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_mastodon_status_params(r, ctx, op->values, 1);
    if (rc != NGX_OK) {
        return rc;
    }

    op->values[1] = ngx_http_mastodon_pg_int64(r, id);
    if (op->values[1] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_status_checked(r, op,
                                            &ngx_http_mastodon_status_edit_stmt,
                                            ngx_http_mastodon_status_edited);
}


/*
 * The viewer's own status, locked (the check statement), then the write:
 * one batch, one transaction; the handler answers from the check.
 */
static ngx_int_t
ngx_http_mastodon_status_checked(ngx_http_request_t *r,
    ngx_http_mastodon_status_op_t *op, ngx_http_mastodon_pg_stmt_t *write,
    ngx_http_mastodon_pg_done_pt done)
{
    ngx_http_mastodon_pg_batch_t  *b;

    b = ngx_http_mastodon_pg_batch(r, done, op);
    if (b == NULL
        || ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_status_check_stmt,
                                    op->values)
           != NGX_OK
        || ngx_http_mastodon_pg_add(b, write, op->values) != NGX_OK
        || ngx_http_mastodon_pg_run(b) != NGX_OK)
    {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}


/*
 * After the check statement: the viewer's own status or 404, as Mastodon's
 * Status.where(account: current_account).find; a reblog is not edited.
 */
static ngx_int_t
ngx_http_mastodon_status_owned(ngx_http_request_t *r, PGresult *check)
{
    ngx_http_mastodon_ctx_t  *ctx;

    if (PQntuples(check) == 0 || PQgetvalue(check, 0, 0)[0] != 't') {
        return NGX_HTTP_NOT_FOUND;
    }

    if (PQgetvalue(check, 0, 1)[0] == 't') {
        ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);
        ctx->error_message = "This action is not allowed";
        return NGX_HTTP_FORBIDDEN;
    }

    return NGX_OK;
}


static void
ngx_http_mastodon_status_edited(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_http_mastodon_status_op_t *op = b->data;

    PGresult                 *check, *res;
    ngx_int_t                 rc;
    ngx_http_request_t       *r;
    ngx_http_mastodon_ctx_t  *ctx;

    r = b->request;

    check = ngx_http_mastodon_pg_rows(b, 0);
    res = ngx_http_mastodon_pg_rows(b, 1);
    if (check == NULL || res == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    rc = ngx_http_mastodon_status_owned(r, check);
    if (rc != NGX_OK) {
        ngx_http_mastodon_finalize(r, rc);
        return;
    }

    if (PQntuples(res) == 1 && PQgetisnull(res, 0, 0)
        && ngx_http_mastodon_pg_int(res, 0, 1) != 0)
    {
        ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);
        ngx_http_mastodon_finalize(r, ngx_http_mastodon_status_media_refused(r,
                                                          ctx, res, 1, 2));
        return;
    }

    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
        /* nothing changed (NoChangesSubmittedError): the status as it is */
        rc = ngx_http_mastodon_statuses_fetch(r, &op->id, 1, 0,
                                              ngx_http_mastodon_statuses_send,
                                              NULL);
        if (rc != NGX_DONE) {
            ngx_http_mastodon_finalize(r, rc);
        }
        return;
    }

    op->forget[op->nforget++] = op->id;

    /* the cached rendering goes before the new one is read */
    if (ngx_http_mastodon_status_forget(r, op->forget, op->nforget,
                                        NULL, NULL)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mastodon: status %L edited, its cached rendering "
                      "may stay stale for a day", op->id);
    }

    rc = ngx_http_mastodon_statuses_fetch(r, &op->id, 1, 0,
                                          ngx_http_mastodon_status_saved,
                                          op);
    if (rc != NGX_DONE) {
        ngx_http_mastodon_finalize(r, rc);
    }
}



/* DELETE /api/v1/statuses/:id: answers with the status and its source */

static void ngx_http_mastodon_status_delete_loaded(ngx_http_request_t *r,
    ngx_http_mastodon_statuses_t *st, void *data);
static void ngx_http_mastodon_status_deleted(ngx_http_mastodon_pg_batch_t *b);

ngx_int_t
ngx_http_mastodon_statuses_destroy(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    ngx_http_mastodon_status_op_t  *op;

    op = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_status_op_t));
    if (op == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    op->id = ngx_http_mastodon_capture_id(ctx, 0);
    if (op->id == 0) {
        return NGX_HTTP_NOT_FOUND;
    }

    /* rendered before it goes: the answer shows it as it was */
    return ngx_http_mastodon_statuses_fetch(r, &op->id, 1, 0,
                                       ngx_http_mastodon_status_delete_loaded,
                                       op);
}


static void
ngx_http_mastodon_status_delete_loaded(ngx_http_request_t *r,
    ngx_http_mastodon_statuses_t *st, void *data)
{
    ngx_http_mastodon_status_op_t *op = data;

    ngx_int_t                         rc;
    ngx_http_mastodon_ctx_t          *ctx;
    ngx_http_mastodon_status_item_t  *it;

    op->st = st;

    if (st->rc != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    it = st->items.elts;

    if (!it->found || !it->visible) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_NOT_FOUND);
        return;
    }

    if (it->account_id != st->viewer) {
        /* Mastodon: Status.where(account: current_account).find */
        ngx_http_mastodon_finalize(r, NGX_HTTP_NOT_FOUND);
        return;
    }

    op->values = ngx_palloc(r->pool, 3 * sizeof(char *));
    if (op->values == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    op->values[0] = ngx_http_mastodon_pg_int64(r, st->viewer);
    op->values[1] = ngx_http_mastodon_pg_int64(r, op->id);
    op->values[2] = ctx->params
                    && mstdn_param_bool(ctx->params, "delete_media", 0)
                    ? "t" : "f";
    if (op->values[0] == NULL || op->values[1] == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = ngx_http_mastodon_status_checked(r, op,
                                          &ngx_http_mastodon_status_delete_stmt,
                                          ngx_http_mastodon_status_deleted);
    if (rc != NGX_DONE) {
        ngx_http_mastodon_finalize(r, rc);
    }
}


static void
ngx_http_mastodon_status_deleted(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_http_mastodon_status_op_t *op = b->data;

    int                        row;
    u_char                    *p;
    int64_t                    id;
    PGresult                  *check, *res;
    ngx_str_t                  text, rendered;
    ngx_http_request_t        *r;
    ngx_http_mastodon_ctx_t   *ctx;
    ngx_http_mastodon_json_t   j;

    r = b->request;

    check = ngx_http_mastodon_pg_rows(b, 0);
    res = ngx_http_mastodon_pg_rows(b, 1);
    if (check == NULL || res == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (PQntuples(check) == 0 || PQntuples(res) == 0) {
        /* deleted by a concurrent request */
        ngx_http_mastodon_finalize(r, NGX_HTTP_NOT_FOUND);
        return;
    }

    /*
     * The one it replied to or reblogged (counters) and the status itself;
     * its reblogs need no forgetting: the loader reads deleted_at fresh.
     */
    op->forget[op->nforget++] = op->id;
    for (row = 2; row <= 3; row++) {
        id = ngx_http_mastodon_pg_int(res, 0, row);
        if (id > 0) {
            op->forget[op->nforget++] = id;
        }
    }

    (void) ngx_http_mastodon_status_forget(r, op->forget, op->nforget, NULL,
                                           NULL);

    /* the author's statuses_count (the viewer's own status) */
    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);
    ngx_http_mastodon_account_forget(r, &ctx->auth->account_id, 1);

    /* the answer: the status as it was, with "text" (delete and redraft) */
    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_mastodon_status_write(&j, NULL, op->st, 0);

    if (ngx_http_mastodon_json_string(&j, &rendered) != NGX_OK
        || ngx_http_mastodon_json_init(r, &j) != NGX_OK)
    {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    text = ngx_http_mastodon_pg_str(check, 0, 2);
    ngx_http_mastodon_json_str(&j, &text);

    if (ngx_http_mastodon_json_string(&j, &text) != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    p = ngx_pnalloc(r->pool, rendered.len + text.len + sizeof(",\"text\":"));
    if (p == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    op->answer.data = p;
    p = ngx_cpymem(p, rendered.data, rendered.len - 1);
    p = ngx_cpymem(p, ",\"text\":", sizeof(",\"text\":") - 1);
    p = ngx_cpymem(p, text.data, text.len);
    *p++ = '}';
    op->answer.len = p - op->answer.data;

    /* the worker takes it out of feeds (remove_status, in the outbox) */
    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_mastodon_json_raw(&j, NULL, &op->answer);

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_json_send(&j,
                                                              NGX_HTTP_OK));
}
