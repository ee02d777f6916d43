/* Remote statuses: Create and Update of a Note (Question, Article, Page),
 * Delete of a status or of the actor, Announce and its Undo (Mastodon's
 * ActivityPub::Activity::Create, Update, Delete, Announce, Undo).  The
 * rows are written as the module writes a local post (counters,
 * conversation, mentions, tags) and the same jobs go into job_outbox:
 * distribute, status_update, remove_status, status_forget. */
#include "inbox.h"
#include "db.h"
#include "fetch.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mstdn_hashtag.h"
#include "mstdn_json.h"
#include "mstdn_sanitize.h"

#define PUBLIC_COLLECTION  "https://www.w3.org/ns/activitystreams#Public"

enum { VIS_PUBLIC = 0, VIS_UNLISTED = 1, VIS_PRIVATE = 2, VIS_DIRECT = 3 };

static const char *const note_types[] = { "Note", "Question", "Article", "Page" };

static int public_collection(const char *s)
{
    return s != NULL && (strcmp(s, PUBLIC_COLLECTION) == 0 || strcmp(s, "as:Public") == 0
                         || strcmp(s, "Public") == 0);
}

/* 1 if the audience (a string, object or array of them) holds what match
 * accepts (public) or the URI want */
static int audience_has(const mstdn_value_t *v, const char *want)
{
    if (v == NULL)
        return 0;
    int many = v->type == MSTDN_ARRAY;
    for (const mstdn_value_t *e = many ? v->first : v; e != NULL; e = many ? e->next : NULL) {
        const char *r = inbox_ref(e);
        if (want == NULL ? public_collection(r) : (r != NULL && strcmp(r, want) == 0))
            return 1;
    }
    return 0;
}

/* Create#visibility_from_audience: to/cc of the object, else of the
 * activity.  "limited" (directMessage false) is stored as direct. */
static int visibility(const mstdn_value_t *activity, const mstdn_value_t *obj,
                      const char *followers)
{
    const mstdn_value_t *to = mstdn_object_get(obj, "to"), *cc = mstdn_object_get(obj, "cc");

    if (to == NULL)
        to = mstdn_object_get(activity, "to");
    if (cc == NULL)
        cc = mstdn_object_get(activity, "cc");
    if (audience_has(to, NULL))
        return VIS_PUBLIC;
    if (audience_has(cc, NULL))
        return VIS_UNLISTED;
    if (followers != NULL && followers[0] != '\0' && audience_has(to, followers))
        return VIS_PRIVATE;
    return VIS_DIRECT;
}

static int is_note(const mstdn_value_t *obj)
{
    for (size_t i = 0; i < sizeof(note_types) / sizeof(note_types[0]); i++) {
        if (inbox_type_is(obj, note_types[i]))
            return 1;
    }
    return 0;
}

/* A growing JSON array of strings (ids, tag names) for one parameter. */
typedef struct {
    char   *s;
    size_t  len, cap;
    int     n;
} json_list;

static int list_add(json_list *l, const char *v)
{
    size_t need = l->len + MSTDN_JSON_QUOTE_MAX(strlen(v)) + 3;
    if (need > l->cap) {
        char *o = realloc(l->s, need * 2);
        if (o == NULL)
            return -1;
        l->s = o;
        l->cap = need * 2;
    }
    l->s[l->len++] = l->n++ ? ',' : '[';
    l->len += mstdn_json_quote(l->s + l->len, v, strlen(v));
    l->s[l->len] = ']';
    l->s[l->len + 1] = '\0';
    return 0;
}

static const char *list_text(json_list *l)
{
    return l->n > 0 ? l->s : "[]";
}

/* The status' mentions (known accounts: ours or stored remote ones) and
 * hashtags (normalized as Mastodon's Tag.find_or_create_by_names). */
static int tags_of(inbox_activity *ib, const mstdn_value_t *obj, json_list *mentions,
                   json_list *hashtags, char *err, size_t errlen)
{
    const mstdn_value_t *tag = mstdn_object_get(obj, "tag");
    int many = tag != NULL && tag->type == MSTDN_ARRAY, seen = 0, fetched = 0;

    for (const mstdn_value_t *e = many ? tag->first : tag;
         e != NULL && seen < MSTDN_REMOTE_TAGS_MAX; e = many ? e->next : NULL, seen++) {
        if (inbox_type_is(e, "Mention")) {
            char id[MW_ID_LEN];
            const char *href = inbox_str(e, "href");
            int rc = inbox_local_account(ib, href, id, err, errlen);
            if (rc == 0 && href != NULL && strlen(href) <= MSTDN_REMOTE_URL_MAX) {
                const char *params[1] = { href };
                PGresult *res = db_query(ib->db, "SELECT id FROM accounts WHERE uri = $1"
                                         " AND domain IS NOT NULL", 1, params,
                                         PGRES_TUPLES_OK, err, errlen);
                if (res == NULL)
                    return -1;
                if ((rc = PQntuples(res) == 1))
                    snprintf(id, MW_ID_LEN, "%s", PQgetvalue(res, 0, 0));
                PQclear(res);
                if (rc == 0 && ib->ctx != NULL && fetched < INBOX_MENTION_FETCH_MAX
                    && (strncmp(href, "https://", 8) == 0 || strncmp(href, "http://", 7) == 0)) {
                    /* an unknown account: fetched from its origin, as
                     * Mastodon's process_mention; one that cannot be
                     * had now is left out, the status is not held */
                    char why[512];
                    fetched++;
                    rc = inbox_actor_fetch(ib->ctx, ib->db, href, id, why, sizeof(why));
                    if (rc != 1)
                        mlog(LOG_INFO, "inbox: %s %s: mention of %s left out: %s", ib->type,
                             ib->id, href, why);
                    rc = rc == 1;
                }
            }
            if (rc < 0)
                return -1;
            if (rc == 1 && list_add(mentions, id) != 0)
                goto nomem;

        } else if (inbox_type_is(e, "Hashtag")) {
            const char *name = inbox_str(e, "name");
            if (name == NULL)
                continue;
            if (name[0] == '#')
                name++;
            size_t n = mstdn_utf8_prefix(name, strlen(name), MSTDN_REMOTE_HASHTAG_MAX), len;
            mstdn_arena_t *ar = mstdn_arena_create();
            mstdn_alloc_t a;
            if (ar == NULL)
                goto nomem;
            mstdn_arena_allocator(ar, &a);
            char *norm = mstdn_hashtag_normalize(name, n, &a, &len);
            int bad = norm != NULL && len > 0 && list_add(hashtags, norm) != 0;
            mstdn_arena_destroy(ar);
            if (bad)
                goto nomem;
        }
    }
    return 0;
nomem:
    snprintf(err, errlen, "out of memory");
    return -1;
}

/* The status' content: content, else the first of contentMap (whose key
 * is then its language). */
static const char *content_of(const mstdn_value_t *obj, const char **language)
{
    const char *content = inbox_str(obj, "content");
    const mstdn_value_t *map = mstdn_object_get(obj, "contentMap");

    *language = NULL;
    if (map != NULL && map->type == MSTDN_OBJECT && map->first != NULL
        && map->first->type == MSTDN_STRING) {
        if (map->first->key_len > 0 && map->first->key_len <= MSTDN_REMOTE_LANGUAGE_MAX
            && strspn(map->first->key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-")
               == map->first->key_len)
            *language = map->first->key;
        if (content == NULL)
            content = map->first->str;
    }
    return content;
}

/* $1 uri, $2 url, $3 text, $4 spoiler, $5 sensitive, $6 visibility,
 * $7 language, $8 the parent's id (or NULL), $9 reply, $10 author,
 * $11 published, $12 mentioned account ids, $13 tag names (JSON arrays),
 * $14 the parent's URI to fetch later (thread_resolve) or NULL, $15 the
 * depth that job is at; a Question's poll (poll_read): $16 the options, $17
 * their counts (JSON arrays), $18 multiple, $19 the end, $20 the voters */
static const char create_sql[] =
    "WITH p AS (SELECT id, account_id, conversation_id FROM statuses"
    "  WHERE id = $8::bigint AND deleted_at IS NULL),"
    " pn AS (SELECT nextval('polls_id_seq') AS id WHERE $16::json IS NOT NULL),"
    " c AS (INSERT INTO conversations (created_at) SELECT now() AT TIME ZONE 'UTC'"
    "  WHERE NOT EXISTS (SELECT 1 FROM p WHERE conversation_id IS NOT NULL) RETURNING id),"
    " s AS (INSERT INTO statuses (uri, url, text, spoiler_text, sensitive, visibility,"
    "  language, in_reply_to_id, in_reply_to_account_id, reply, conversation_id, local,"
    "  account_id, created_at, poll_id)"
    "  SELECT $1::varchar, $2, $3, $4, $5::boolean, $6::int, $7, p.id, p.account_id, $9::boolean,"
    "  coalesce(p.conversation_id, (SELECT id FROM c)), false, $10::bigint,"
    "  least(coalesce($11::timestamptz AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'),"
    "   now() AT TIME ZONE 'UTC'), (SELECT id FROM pn)"
    "  FROM (SELECT 1) one LEFT JOIN p ON true"
    "  WHERE NOT EXISTS (SELECT 1 FROM statuses WHERE uri = $1::varchar)"
    "  RETURNING id, in_reply_to_id, visibility),"
    " ss AS (INSERT INTO status_stats (status_id) SELECT id FROM s),"
    " pl AS (INSERT INTO polls (id, account_id, status_id, expires_at, options, cached_tallies,"
    "  multiple, votes_count, voters_count, last_fetched_at)"
    "  SELECT pn.id, $10::bigint, s.id, $19::timestamptz AT TIME ZONE 'UTC',"
    "  ARRAY(SELECT o FROM json_array_elements_text($16::json) WITH ORDINALITY x (o, i)"
    "   ORDER BY i),"
    "  ARRAY(SELECT n::bigint FROM json_array_elements_text($17::json) WITH ORDINALITY x (n, i)"
    "   ORDER BY i),"
    "  $18::boolean, (SELECT coalesce(sum(n::bigint), 0) FROM json_array_elements_text($17::json) n),"
    "  $20::bigint, now() AT TIME ZONE 'UTC' FROM pn, s),"
    " rs AS (INSERT INTO status_stats (status_id, replies_count)"
    "  SELECT in_reply_to_id, 1 FROM s WHERE in_reply_to_id IS NOT NULL AND visibility <= 1"
    "  ON CONFLICT (status_id) DO UPDATE SET replies_count = status_stats.replies_count + 1,"
    "  updated_at = now() AT TIME ZONE 'UTC'),"
    " ac AS (INSERT INTO account_stats (account_id, statuses_count, last_status_at)"
    "  SELECT $10::bigint, 1, now() AT TIME ZONE 'UTC' FROM s WHERE visibility <> 3"
    "  ON CONFLICT (account_id) DO UPDATE SET statuses_count = account_stats.statuses_count + 1,"
    "  last_status_at = excluded.last_status_at, updated_at = now() AT TIME ZONE 'UTC'),"
    " m AS (INSERT INTO mentions (status_id, account_id)"
    "  SELECT s.id, j::bigint FROM s, json_array_elements_text($12::json) j"
    "  ON CONFLICT (account_id, status_id) DO NOTHING),"
    " tn AS (SELECT DISTINCT ON (lower(n)) n AS name FROM json_array_elements_text($13::json) n"
    "  WHERE EXISTS (SELECT 1 FROM s)),"
    " ti AS (INSERT INTO tags (name, display_name) SELECT name, name FROM tn"
    "  ON CONFLICT (lower((name)::text) text_pattern_ops) DO UPDATE SET name = tags.name"
    "  RETURNING id),"
    " tg AS (INSERT INTO statuses_tags (status_id, tag_id)"
    "  SELECT s.id, t.id FROM s, (SELECT id FROM ti UNION"
    "  SELECT tags.id FROM tags JOIN tn ON lower(tags.name) = lower(tn.name)) t"
    "  ON CONFLICT DO NOTHING),"
    " ob AS (INSERT INTO job_outbox (queue, type, args)"
    "  SELECT 'default', 'distribute', json_build_object('status_id', id::text)::text FROM s"
    "  UNION ALL SELECT 'default', 'status_forget', json_build_object('status_ids',"
    "   json_build_array(in_reply_to_id::text))::text FROM s"
    "  WHERE in_reply_to_id IS NOT NULL AND visibility <= 1"
    "  UNION ALL SELECT 'pull', 'thread_resolve', json_build_object('status_id', id::text,"
    "   'uri', $14::text, 'depth', $15::text)::text FROM s"
    "  WHERE $14::text IS NOT NULL AND in_reply_to_id IS NULL)"
    " SELECT id FROM s";

/* A Note's fields for Create and Update. */
typedef struct {
    char       *text;
    char       *spoiler;
    const char *language;
    const char *sensitive;
    json_list   mentions;
    json_list   hashtags;
} note_fields;

static void fields_free(note_fields *f)
{
    free(f->text);
    free(f->spoiler);
    free(f->mentions.s);
    free(f->hashtags.s);
}

/* 1 read, 0 refused (err), -1 error */
static int fields_read(inbox_activity *ib, const mstdn_value_t *obj, note_fields *f,
                       char *err, size_t errlen)
{
    const char *content = content_of(obj, &f->language);
    const char *summary = inbox_str(obj, "summary");

    f->text = inbox_html(content, 0, err, errlen);
    if (f->text == NULL)
        return 0;
    if (summary == NULL)
        summary = "";
    size_t n = mstdn_utf8_prefix(summary, strlen(summary), MSTDN_REMOTE_SPOILER_MAX);
    f->spoiler = malloc(n + 1);
    if (f->spoiler == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(f->spoiler, summary, n);
    f->spoiler[n] = '\0';
    const mstdn_value_t *sv = mstdn_object_get(obj, "sensitive");
    f->sensitive = (sv != NULL && sv->type == MSTDN_BOOL && sv->boolean) ? "true" : "false";
    return tags_of(ib, obj, &f->mentions, &f->hashtags, err, errlen) == 0 ? 1 : -1;
}

/* A Question's poll as ActivityPub::Activity::Create#process_poll reads
 * it: the options of oneOf (or anyOf: multiple) by name (or content), their
 * replies.totalItems, endTime (or closed), votersCount; bounded. */
typedef struct {
    json_list   options;
    json_list   tallies;
    const char *multiple;
    const char *expires_at;
    char        voters[24];
    int         has_voters;
} poll_fields;

static void poll_free(poll_fields *p)
{
    free(p->options.s);
    free(p->tallies.s);
}

/* 1 a poll read, 0 none, -1 out of memory */
static int poll_read(const mstdn_value_t *obj, poll_fields *p)
{
    const mstdn_value_t *items = mstdn_object_get(obj, "oneOf");
    char title[MSTDN_REMOTE_POLL_OPTION_MAX + 1], count[24];

    p->multiple = "false";
    if (items == NULL || items->type != MSTDN_ARRAY) {
        items = mstdn_object_get(obj, "anyOf");
        p->multiple = "true";
    }
    if (!inbox_type_is(obj, "Question") || items == NULL || items->type != MSTDN_ARRAY)
        return 0;
    for (const mstdn_value_t *it = items->first; it != NULL; it = it->next) {
        if (p->options.n >= MSTDN_REMOTE_POLL_OPTIONS_MAX)
            break;
        if (it->type != MSTDN_OBJECT)
            continue;
        const char *name = inbox_str(it, "name");
        if (name == NULL || name[0] == '\0')
            name = inbox_str(it, "content");
        if (name == NULL)
            continue;
        size_t n = mstdn_utf8_prefix(name, strlen(name), MSTDN_REMOTE_POLL_OPTION_MAX);
        memcpy(title, name, n);
        title[n] = '\0';
        const mstdn_value_t *replies = mstdn_object_get(it, "replies");
        const mstdn_value_t *total = replies != NULL && replies->type == MSTDN_OBJECT
                                     ? mstdn_object_get(replies, "totalItems") : NULL;
        long long c = total != NULL && total->type == MSTDN_NUMBER ? strtoll(total->str, NULL, 10)
                                                                   : 0;
        snprintf(count, sizeof(count), "%lld", c > 0 && c < (1LL << 53) ? c : 0);
        if (list_add(&p->options, title) != 0 || list_add(&p->tallies, count) != 0)
            return -1;
    }
    if (p->options.n == 0)
        return 0;
    const mstdn_value_t *closed = mstdn_object_get(obj, "closed");
    if (closed != NULL && closed->type == MSTDN_STRING)
        p->expires_at = inbox_time(closed->str);
    else if (closed != NULL && closed->type != MSTDN_NULL
             && !(closed->type == MSTDN_BOOL && !closed->boolean))
        p->expires_at = "now";
    else
        p->expires_at = inbox_time(inbox_str(obj, "endTime"));
    const mstdn_value_t *voters = mstdn_object_get(obj, "votersCount");
    if (voters != NULL && voters->type == MSTDN_NUMBER) {
        long long v = strtoll(voters->str, NULL, 10);
        snprintf(p->voters, sizeof(p->voters), "%lld", v > 0 && v < (1LL << 53) ? v : 0);
        p->has_voters = 1;
    }
    return 1;
}

/* The object of a Create or Update: the embedded copy when it comes from
 * the actor's host (the signer speaks for it), else nothing (a reference
 * alone is fetched from its origin, which must be the actor's). */
static int object_of(inbox_activity *ib, const mstdn_value_t **obj, char *err, size_t errlen)
{
    const mstdn_value_t *o = mstdn_object_get(ib->json, "object");
    const char *uri = inbox_ref(o);

    if (uri == NULL || !inbox_on_host(uri, ib->actor_host)) {
        mlog(LOG_INFO, "inbox: %s %s: object %s is not on %s", ib->type, ib->id,
             uri != NULL ? uri : "(none)", ib->actor_host);
        return 0;
    }
    if (o->type == MSTDN_OBJECT) {
        *obj = o;
        return 1;
    }
    int rc = inbox_fetch_document(ib->ctx, uri, ib->alloc, obj, err, errlen);
    if (rc == 0)
        mlog(LOG_INFO, "inbox: %s %s: %s", ib->type, ib->id, err);
    return rc;
}

/* attributedTo (a reference or an array of them): the actor's */
static int attributed_to_actor(inbox_activity *ib, const mstdn_value_t *obj)
{
    const mstdn_value_t *at = mstdn_object_get(obj, "attributedTo");
    if (at != NULL && at->type == MSTDN_ARRAY)
        at = at->first;
    const char *who = inbox_ref(at);
    return who != NULL && strcmp(who, ib->actor_uri) == 0;
}

/* inbox_apply() with the Note's attachments: sql answers the status' id
 * (none: nothing written); then its attachments become media (NULL: left
 * as they are), in the same transaction. */
static int apply_with_media(inbox_activity *ib, const char *what, const char *sql, int n,
                            const char *const *params, const char *media,
                            char *err, size_t errlen)
{
    int first = inbox_begin(ib, err, errlen);
    if (first <= 0) {
        if (first == 0)
            mlog(LOG_INFO, "inbox: %s %s was processed before", ib->type, ib->id);
        return first == 0 ? INBOX_DONE : INBOX_RETRY;
    }
    PGresult *res = inbox_sql(ib, sql, n, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL) {
        inbox_rollback(ib);
        return INBOX_RETRY;
    }
    char id[MW_ID_LEN] = "";
    if (PQntuples(res) > 0)
        snprintf(id, sizeof(id), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    int changed = 0;
    if (id[0] != '\0' && media != NULL) {
        changed = inbox_media_store(ib, id, media, err, errlen);
        if (changed < 0) {
            inbox_rollback(ib);
            return INBOX_RETRY;
        }
    }
    mlog(LOG_INFO, "inbox: %s %s by %s: %s %s%s", ib->type, ib->id, ib->actor_uri, what, id,
         changed ? " (attachments)" : "");
    return inbox_commit(ib, err, errlen) == 0 ? INBOX_DONE : INBOX_RETRY;
}

/* A vote (ActivityPub::Activity::Create#poll_vote?): a Note named after an
 * option of a local status' poll, in reply to it, is a vote on it, never a
 * status.  1 it was one (counted by mastodon_poll_vote(), the module's
 * rule, unless the poll ended or the rule refuses it: logged), 0 not a
 * vote, or INBOX_RETRY's -1. */
static int poll_vote(inbox_activity *ib, const mstdn_value_t *obj, int *outcome, char *err,
                     size_t errlen)
{
    const char *name = inbox_str(obj, "name"), *reply_to = inbox_ref_of(obj, "inReplyTo");
    char status[MW_ID_LEN], author[MW_ID_LEN];
    int local;

    if (name == NULL || reply_to == NULL)
        return 0;
    int rc = inbox_status(ib, reply_to, status, author, &local, err, errlen);
    if (rc <= 0 || !local)
        return rc < 0 ? -1 : 0;
    const char *params[2] = { status, name };
    PGresult *res = inbox_sql(ib,
        "SELECT p.id::text, array_position(p.options, $2::varchar) - 1,"
        " p.expires_at IS NOT NULL AND p.expires_at <= now() AT TIME ZONE 'UTC'"
        " FROM statuses s JOIN polls p ON p.id = s.poll_id WHERE s.id = $1::bigint"
        " AND $2::varchar = ANY(p.options)", 2, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return -1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return 0;
    }
    char poll[MW_ID_LEN], choice[24];
    snprintf(poll, sizeof(poll), "%s", PQgetvalue(res, 0, 0));
    snprintf(choice, sizeof(choice), "{%s}", PQgetvalue(res, 0, 1));
    int ended = PQgetvalue(res, 0, 2)[0] == 't';
    PQclear(res);
    if (ended) {
        mlog(LOG_INFO, "inbox: %s %s: a vote on poll %s, which has ended", ib->type, ib->id,
             poll);
        *outcome = INBOX_DONE;
        return 1;
    }
    const char *vparams[4] = { ib->actor_id, poll, choice, inbox_str(obj, "id") };
    *outcome = inbox_apply(ib, "vote (refused if not empty)",
                           "SELECT error FROM mastodon_poll_vote($1::bigint, $2::bigint,"
                           " $3::int[], $4::varchar)", 4, vparams, err, errlen);
    return 1;
}

/* Stores the Note obj of ib's actor (its id on the actor's host) as the
 * activity's transaction: INBOX_DONE (stored, or refused: logged) or
 * INBOX_RETRY. */
static int note_store(inbox_activity *ib, const mstdn_value_t *obj, char *err, size_t errlen)
{
    note_fields f = { 0 };
    char parent[MW_ID_LEN] = "", pauthor[MW_ID_LEN];
    int plocal;

    if (!is_note(obj)) {
        mlog(LOG_INFO, "inbox: %s %s: not a status, ignored", ib->type, ib->id);
        return INBOX_DONE;
    }
    const char *uri = inbox_str(obj, "id");
    if (!attributed_to_actor(ib, obj)) {
        mlog(LOG_INFO, "inbox: %s %s: %s is not attributed to %s", ib->type, ib->id, uri,
             ib->actor_uri);
        return INBOX_DONE;
    }
    int rc = inbox_tombstoned(ib, uri, err, errlen);
    if (rc != 0) {
        if (rc > 0)
            mlog(LOG_INFO, "inbox: %s %s: %s was deleted", ib->type, ib->id, uri);
        return rc > 0 ? INBOX_DONE : INBOX_RETRY;
    }

    int outcome;
    rc = poll_vote(ib, obj, &outcome, err, errlen);
    if (rc != 0)
        return rc < 0 ? INBOX_RETRY : outcome;

    /* the followers collection says "private" */
    const char *params0[1] = { ib->actor_id };
    PGresult *res = db_query(ib->db, "SELECT followers_url FROM accounts WHERE id = $1::bigint",
                             1, params0, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return INBOX_RETRY;
    int vis = visibility(ib->json, obj, PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : NULL);
    PQclear(res);

    const char *reply_to = inbox_ref_of(obj, "inReplyTo");
    if (reply_to != NULL && inbox_status(ib, reply_to, parent, pauthor, &plocal, err, errlen) < 0)
        return INBOX_RETRY;

    rc = fields_read(ib, obj, &f, err, errlen);
    if (rc <= 0) {
        fields_free(&f);
        if (rc == 0)
            mlog(LOG_INFO, "inbox: %s %s: %s", ib->type, ib->id, err);
        return rc < 0 ? INBOX_RETRY : INBOX_DONE;
    }

    const mstdn_value_t *urlv = mstdn_object_get(obj, "url");
    const char *url = urlv != NULL && urlv->type == MSTDN_STRING
                      && strlen(urlv->str) <= MSTDN_REMOTE_URL_MAX
                      && strncmp(urlv->str, "http", 4) == 0 ? urlv->str : uri;
    if (urlv != NULL && urlv->type == MSTDN_OBJECT && inbox_str(urlv, "href") != NULL
        && strlen(inbox_str(urlv, "href")) <= MSTDN_REMOTE_URL_MAX)
        url = inbox_str(urlv, "href");
    if (inbox_emojis_store(ib->db, ib->actor_id, obj, err, errlen) < 0) {
        fields_free(&f);
        return INBOX_RETRY;
    }
    char visbuf[4], depth[16];
    snprintf(visbuf, sizeof(visbuf), "%d", vis);
    snprintf(depth, sizeof(depth), "%d", ib->thread_depth);
    /* an unknown parent is fetched from its origin by a job of its own
     * (ThreadResolveWorker), a bounded number of ancestors deep */
    const char *resolve = NULL;
    if (reply_to != NULL && parent[0] == '\0' && ib->thread_depth < INBOX_THREAD_DEPTH_MAX
        && strlen(reply_to) <= MSTDN_REMOTE_URL_MAX
        && (strncmp(reply_to, "https://", 8) == 0 || strncmp(reply_to, "http://", 7) == 0))
        resolve = reply_to;
    poll_fields poll = { 0 };
    int has_poll = poll_read(obj, &poll);
    if (has_poll < 0) {
        poll_free(&poll);
        fields_free(&f);
        snprintf(err, errlen, "out of memory");
        return INBOX_RETRY;
    }
    const char *params[20] = {
        uri, url, f.text, f.spoiler, f.sensitive, visbuf, f.language,
        parent[0] != '\0' ? parent : NULL, reply_to != NULL ? "true" : "false",
        ib->actor_id, inbox_time(inbox_str(obj, "published")),
        list_text(&f.mentions), list_text(&f.hashtags), resolve, depth,
        has_poll ? list_text(&poll.options) : NULL, list_text(&poll.tallies), poll.multiple,
        poll.expires_at, poll.has_voters ? poll.voters : NULL,
    };
    int nmedia;
    char *media = inbox_media_json(obj, &nmedia);
    if (media == NULL) {
        poll_free(&poll);
        fields_free(&f);
        snprintf(err, errlen, "out of memory");
        return INBOX_RETRY;
    }
    rc = apply_with_media(ib, "status", create_sql, 20, params, nmedia > 0 ? media : NULL,
                          err, errlen);
    free(media);
    poll_free(&poll);
    fields_free(&f);
    return rc;
}

int inbox_create(inbox_activity *ib, char *err, size_t errlen)
{
    const mstdn_value_t *obj = NULL;

    int rc = object_of(ib, &obj, err, errlen);
    if (rc <= 0)
        return rc < 0 ? INBOX_RETRY : INBOX_DONE;
    return note_store(ib, obj, err, errlen);
}

int inbox_status_fetch(job_ctx *ctx, PGconn *db, const mstdn_alloc_t *alloc, const char *uri,
                       int depth, char out[MW_ID_LEN], char *err, size_t errlen)
{
    char author_id[MW_ID_LEN];
    const mstdn_value_t *doc = NULL;
    int local;
    inbox_activity ib = { .ctx = ctx, .db = db, .alloc = alloc, .type = "Fetch", .id = uri,
                          .thread_depth = depth };

    int rc = inbox_status(&ib, uri, out, author_id, &local, err, errlen);
    if (rc != 0)
        return rc;
    if ((rc = inbox_tombstoned(&ib, uri, err, errlen)) != 0) {
        snprintf(err, errlen, "%s was deleted", uri);
        return rc > 0 ? 0 : -1;
    }
    rc = inbox_fetch_document(ctx, uri, alloc, &doc, err, errlen);
    if (rc <= 0)
        return rc;
    if (!is_note(doc)) {
        snprintf(err, errlen, "%s is not a status", uri);
        return 0;
    }
    /* its author, on its host, fetched from there */
    const mstdn_value_t *at = mstdn_object_get(doc, "attributedTo");
    if (at != NULL && at->type == MSTDN_ARRAY)
        at = at->first;
    const char *author = inbox_ref(at);
    if (fetch_url_host(uri, ib.actor_host, sizeof(ib.actor_host)) != 0
        || !inbox_on_host(author, ib.actor_host)) {
        snprintf(err, errlen, "%s: its author is on another host", uri);
        return 0;
    }
    rc = inbox_actor_fetch(ctx, db, author, ib.actor_id, err, errlen);
    if (rc <= 0)
        return rc;
    ib.json = doc;
    ib.actor_uri = author;
    if (note_store(&ib, doc, err, errlen) != INBOX_DONE)
        return -1;
    rc = inbox_status(&ib, uri, out, author_id, &local, err, errlen);
    if (rc == 0)
        snprintf(err, errlen, "%s was not stored", uri);
    return rc;
}

/* $1 the status, $2 text, $3 spoiler, $4 sensitive, $5 language: the
 * status' new text; a Question's poll ($6 options, $7 counts, $8 multiple,
 * $9 the end, $10 the voters) refreshes the status' poll, its local votes
 * thrown away when the options changed, or a new one when the status had
 * none; no poll ($6 NULL) removes the one it had
 * (ProcessStatusUpdateService#update_poll!).  Answers the status and
 * whether the change is significant (text, spoiler, sensitive, a poll
 * added, removed or its options changed: an edit); a count update alone
 * is none (handle_implicit_update!). */
static const char update_sql[] =
    "WITH o AS (SELECT id, text, spoiler_text, sensitive, account_id, poll_id FROM statuses"
    "  WHERE id = $1::bigint FOR UPDATE),"
    " po AS (SELECT ARRAY(SELECT x.o FROM json_array_elements_text($6::json)"
    "   WITH ORDINALITY x (o, i) ORDER BY i)::varchar[] AS options,"
    "  ARRAY(SELECT x.n::bigint FROM json_array_elements_text($7::json)"
    "   WITH ORDINALITY x (n, i) ORDER BY i) AS tallies WHERE $6::json IS NOT NULL),"
    " op AS (SELECT pl.id, pl.options, pl.multiple FROM polls pl JOIN o ON pl.id = o.poll_id),"
    " sig AS (SELECT o.text IS DISTINCT FROM $2 OR o.spoiler_text IS DISTINCT FROM $3"
    "  OR o.sensitive IS DISTINCT FROM $4::boolean"
    "  OR (SELECT count(*) FROM op) <> (SELECT count(*) FROM po)"
    "  OR EXISTS (SELECT 1 FROM op, po WHERE op.options <> po.options"
    "   OR op.multiple <> $8::boolean) AS significant FROM o),"
    " pn AS (SELECT nextval('polls_id_seq') AS id FROM o"
    "  WHERE o.poll_id IS NULL AND $6::json IS NOT NULL),"
    " u AS (UPDATE statuses s SET text = $2, spoiler_text = $3, sensitive = $4::boolean,"
    "  poll_id = CASE WHEN $6::json IS NULL THEN NULL"
    "   ELSE coalesce(s.poll_id, (SELECT id FROM pn)) END,"
    "  language = coalesce($5, s.language), updated_at = now() AT TIME ZONE 'UTC'"
    "  FROM o WHERE s.id = o.id RETURNING s.id),"
    " px AS (DELETE FROM polls pl USING o WHERE $6::json IS NULL AND pl.id = o.poll_id),"
    " pv AS (DELETE FROM poll_votes v USING o, polls pl, po"
    "  WHERE pl.id = o.poll_id AND v.poll_id = pl.id"
    "  AND (pl.options <> po.options OR pl.multiple <> $8::boolean)),"
    " pu AS (UPDATE polls pl SET options = po.options, cached_tallies = po.tallies,"
    "  multiple = $8::boolean,"
    "  votes_count = (SELECT coalesce(sum(t), 0) FROM unnest(po.tallies) t),"
    "  voters_count = $10::bigint, expires_at = $9::timestamptz AT TIME ZONE 'UTC',"
    "  last_fetched_at = now() AT TIME ZONE 'UTC', updated_at = now() AT TIME ZONE 'UTC'"
    "  FROM o, po WHERE pl.id = o.poll_id RETURNING pl.status_id),"
    " pi AS (INSERT INTO polls (id, account_id, status_id, expires_at, options, cached_tallies,"
    "  multiple, votes_count, voters_count, last_fetched_at)"
    "  SELECT pn.id, o.account_id, o.id, $9::timestamptz AT TIME ZONE 'UTC', po.options,"
    "  po.tallies, $8::boolean, (SELECT coalesce(sum(t), 0) FROM unnest(po.tallies) t),"
    "  $10::bigint, now() AT TIME ZONE 'UTC' FROM pn, o, po),"
    " ob AS (INSERT INTO job_outbox (queue, type, args)"
    "  SELECT 'default', 'status_forget', json_build_object('status_ids',"
    "   json_build_array(id::text))::text FROM u)"
    " SELECT u.id, sig.significant FROM u, sig";

/* A significant change is an edit: the version made recorded, the status
 * edited, its Update sent on to local timelines */
static const char edit_sql[] =
    "WITH u AS (UPDATE statuses SET edited_at = now() AT TIME ZONE 'UTC',"
    "  updated_at = now() AT TIME ZONE 'UTC' WHERE id = $1::bigint RETURNING id)"
    " INSERT INTO job_outbox (queue, type, args)"
    " SELECT 'default', 'status_update', json_build_object('status_id', id::text)::text"
    " FROM u, mastodon_status_snapshot(u.id, false)";

/* ProcessStatusUpdateService#handle_explicit_update! in one transaction:
 * the version before the first edit kept, the text and poll (update_sql),
 * the attachments; a significant change of any of them an edit (edit_sql),
 * none: the kept version dropped again. */
static int apply_update(inbox_activity *ib, const char *const *params, const char *media,
                        char *err, size_t errlen)
{
    int first = inbox_begin(ib, err, errlen);
    if (first <= 0) {
        if (first == 0)
            mlog(LOG_INFO, "inbox: %s %s was processed before", ib->type, ib->id);
        return first == 0 ? INBOX_DONE : INBOX_RETRY;
    }
    const char *id = params[0];
    char previous[MW_ID_LEN] = "";
    int significant = 0, changed = 0;
    const char *p1[1] = { id };
    PGresult *res = inbox_sql(ib, "SELECT mastodon_status_snapshot($1::bigint, true)", 1, p1,
                              PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        goto fail;
    if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
        snprintf(previous, sizeof(previous), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    res = inbox_sql(ib, update_sql, 10, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        goto fail;
    significant = PQntuples(res) == 1 && PQgetvalue(res, 0, 1)[0] == 't';
    PQclear(res);
    changed = inbox_media_store(ib, id, media, err, errlen);
    if (changed < 0)
        goto fail;
    if (significant || changed) {
        res = inbox_sql(ib, edit_sql, 1, p1, PGRES_COMMAND_OK, err, errlen);
    } else if (previous[0] != '\0') {
        const char *p2[1] = { previous };
        res = inbox_sql(ib, "DELETE FROM status_edits WHERE id = $1::bigint", 1, p2,
                        PGRES_COMMAND_OK, err, errlen);
    } else {
        res = NULL;
    }
    if ((significant || changed || previous[0] != '\0') && res == NULL)
        goto fail;
    PQclear(res);
    mlog(LOG_INFO, "inbox: %s %s by %s: %s %s%s%s", ib->type, ib->id, ib->actor_uri,
         significant || changed ? "edited status" : "refreshed status", id,
         changed ? " (attachments)" : "", significant ? " (text or poll)" : "");
    return inbox_commit(ib, err, errlen) == 0 ? INBOX_DONE : INBOX_RETRY;
fail:
    inbox_rollback(ib);
    return INBOX_RETRY;
}

static int update_note(inbox_activity *ib, const mstdn_value_t *obj, char *err, size_t errlen)
{
    char id[MW_ID_LEN], author[MW_ID_LEN];
    int local;
    note_fields f = { 0 };
    const char *uri = inbox_str(obj, "id");

    int rc = inbox_status(ib, uri, id, author, &local, err, errlen);
    if (rc <= 0 || strcmp(author, ib->actor_id) != 0) {
        /* unknown, or another's: Update touches only what the actor owns */
        if (rc > 0)
            mlog(LOG_INFO, "inbox: Update %s: %s is not %s's", ib->id, uri, ib->actor_uri);
        return rc < 0 ? INBOX_RETRY : INBOX_DONE;
    }
    rc = fields_read(ib, obj, &f, err, errlen);
    if (rc <= 0) {
        fields_free(&f);
        return rc < 0 ? INBOX_RETRY : INBOX_DONE;
    }
    poll_fields poll = { 0 };
    int has_poll = poll_read(obj, &poll);
    if (has_poll < 0) {
        poll_free(&poll);
        fields_free(&f);
        snprintf(err, errlen, "out of memory");
        return INBOX_RETRY;
    }
    const char *params[10] = {
        id, f.text, f.spoiler, f.sensitive, f.language,
        has_poll ? list_text(&poll.options) : NULL, list_text(&poll.tallies), poll.multiple,
        poll.expires_at, poll.has_voters ? poll.voters : NULL,
    };
    int nmedia;
    char *media = inbox_media_json(obj, &nmedia);
    if (media == NULL) {
        poll_free(&poll);
        fields_free(&f);
        snprintf(err, errlen, "out of memory");
        return INBOX_RETRY;
    }
    rc = apply_update(ib, params, media, err, errlen);
    free(media);
    poll_free(&poll);
    fields_free(&f);
    return rc;
}

int inbox_update(inbox_activity *ib, char *err, size_t errlen)
{
    const mstdn_value_t *o = mstdn_object_get(ib->json, "object");
    const char *uri = inbox_ref(o);
    char id[MW_ID_LEN];

    if (uri != NULL && strcmp(uri, ib->actor_uri) == 0) {
        /* the actor's own profile: embedded (its own word), or fetched */
        const mstdn_value_t *doc = o;
        if (o->type != MSTDN_OBJECT) {
            int rc = inbox_fetch_document(ib->ctx, uri, ib->alloc, &doc, err, errlen);
            if (rc <= 0)
                return rc < 0 ? INBOX_RETRY : INBOX_DONE;
        }
        int first = inbox_begin(ib, err, errlen);
        if (first <= 0)
            return first < 0 ? INBOX_RETRY : INBOX_DONE;
        int rc = inbox_actor_store(ib->db, ib->ctx->cfg, doc, uri, NULL, id, err, errlen);
        if (rc < 0) {
            inbox_rollback(ib);
            return INBOX_RETRY;
        }
        if (rc == 0)
            mlog(LOG_INFO, "inbox: Update %s: %s", ib->id, err);
        else
            mlog(LOG_INFO, "inbox: Update %s: profile of %s", ib->id, uri);
        return inbox_commit(ib, err, errlen) == 0 ? INBOX_DONE : INBOX_RETRY;
    }

    const mstdn_value_t *obj = NULL;
    int rc = object_of(ib, &obj, err, errlen);
    if (rc <= 0)
        return rc < 0 ? INBOX_RETRY : INBOX_DONE;
    if (!is_note(obj)) {
        mlog(LOG_INFO, "inbox: Update %s: not a status nor the actor, ignored", ib->id);
        return INBOX_DONE;
    }
    return update_note(ib, obj, err, errlen);
}

/* $1 the status (the actor's), $2 its uri, $3 the actor: deleted with its
 * reblogs and pins, counters, remove_status; the URI tombstoned */
static const char delete_sql[] =
    "WITH d AS (UPDATE statuses SET deleted_at = now() AT TIME ZONE 'UTC'"
    "  WHERE (id = $1::bigint OR reblog_of_id = $1::bigint) AND deleted_at IS NULL"
    "  RETURNING id, account_id, in_reply_to_id, reblog_of_id, visibility),"
    " pins AS (DELETE FROM status_pins WHERE status_id IN (SELECT id FROM d)),"
    " ac AS (UPDATE account_stats a SET statuses_count = greatest(0, a.statuses_count - x.n),"
    "  updated_at = now() AT TIME ZONE 'UTC'"
    "  FROM (SELECT account_id, count(*) AS n FROM d WHERE visibility <> 3"
    "  GROUP BY account_id) x WHERE a.account_id = x.account_id),"
    " rc AS (UPDATE status_stats ss SET replies_count = greatest(0, ss.replies_count - 1)"
    "  FROM d WHERE d.id = $1::bigint AND ss.status_id = d.in_reply_to_id"
    "  AND d.visibility <= 1),"
    " rb AS (UPDATE status_stats ss SET reblogs_count = greatest(0, ss.reblogs_count - 1)"
    "  FROM d WHERE d.id = $1::bigint AND ss.status_id = d.reblog_of_id),"
    " t AS (INSERT INTO tombstones (account_id, uri) VALUES ($3::bigint, $2)"
    "  ON CONFLICT (uri) DO NOTHING),"
    " ob AS (INSERT INTO job_outbox (queue, type, args)"
    "  SELECT 'default', 'remove_status', json_build_object('status_id', id::text,"
    "   'account_id', account_id::text, 'reblog_of_id',"
    "   coalesce(reblog_of_id, 0)::text)::text FROM d"
    "  UNION ALL SELECT 'default', 'status_forget', json_build_object('status_ids',"
    "   array_to_json(array_remove(ARRAY[id, in_reply_to_id, reblog_of_id]::text[],"
    "   NULL)))::text FROM d WHERE id = $1::bigint)"
    " SELECT count(*) FROM d";

/* The actor deleted: suspended (origin remote), its statuses out of the
 * feeds (remove_status each), its relations gone. */
static const char delete_actor_sql[] =
    "WITH a AS (UPDATE accounts SET suspended_at = now() AT TIME ZONE 'UTC',"
    "  suspension_origin = 1 WHERE id = $1::bigint AND suspended_at IS NULL RETURNING id),"
    " d AS (UPDATE statuses SET deleted_at = now() AT TIME ZONE 'UTC'"
    "  WHERE account_id IN (SELECT id FROM a) AND deleted_at IS NULL"
    "  RETURNING id, account_id, reblog_of_id),"
    " f AS (DELETE FROM follows WHERE account_id IN (SELECT id FROM a)"
    "  OR target_account_id IN (SELECT id FROM a) RETURNING account_id, target_account_id),"
    " r AS (DELETE FROM follow_requests WHERE account_id IN (SELECT id FROM a)"
    "  OR target_account_id IN (SELECT id FROM a)),"
    " st AS (UPDATE account_stats s SET"
    "  following_count = greatest(0, following_count"
    "   - (SELECT count(*) FROM f WHERE f.account_id = s.account_id)),"
    "  followers_count = greatest(0, followers_count"
    "   - (SELECT count(*) FROM f WHERE f.target_account_id = s.account_id))"
    "  WHERE s.account_id IN (SELECT account_id FROM f UNION SELECT target_account_id FROM f)),"
    " ob AS (INSERT INTO job_outbox (queue, type, args)"
    "  SELECT 'default', 'remove_status', json_build_object('status_id', id::text,"
    "   'account_id', account_id::text, 'reblog_of_id',"
    "   coalesce(reblog_of_id, 0)::text)::text FROM d)"
    " SELECT count(*) FROM d";

int inbox_delete(inbox_activity *ib, char *err, size_t errlen)
{
    const char *uri = inbox_ref_of(ib->json, "object");
    char id[MW_ID_LEN], author[MW_ID_LEN];
    int local;

    if (uri == NULL)
        return INBOX_DONE;
    if (strcmp(uri, ib->actor_uri) == 0) {
        const char *params[1] = { ib->actor_id };
        int rc = inbox_apply(ib, "actor deleted, statuses:", delete_actor_sql, 1, params,
                             err, errlen);
        /* suspended: every viewer's facts about it go */
        if (rc == INBOX_DONE)
            viewer_forget_now(*ib->ctx->redis, "0");
        return rc;
    }
    int rc = inbox_status(ib, uri, id, author, &local, err, errlen);
    if (rc < 0)
        return INBOX_RETRY;
    if (rc > 0 && strcmp(author, ib->actor_id) != 0) {
        mlog(LOG_INFO, "inbox: Delete %s: %s is not %s's", ib->id, uri, ib->actor_uri);
        return INBOX_DONE;
    }
    if (rc == 0) {
        /* not here (yet): on the actor's host, it stays deleted */
        if (!inbox_on_host(uri, ib->actor_host))
            return INBOX_DONE;
        const char *params[2] = { ib->actor_id, uri };
        return inbox_apply(ib, "tombstone", "INSERT INTO tombstones (account_id, uri)"
                           " VALUES ($1::bigint, $2) ON CONFLICT (uri) DO NOTHING"
                           " RETURNING id", 2, params, err, errlen);
    }
    const char *params[3] = { id, uri, ib->actor_id };
    return inbox_apply(ib, "deleted statuses:", delete_sql, 3, params, err, errlen);
}

/* $1 the reblogger, $2 the original, $3 the Announce's id, $4 visibility,
 * $5 published */
static const char announce_sql[] =
    "WITH o AS (SELECT id FROM statuses WHERE id = $2::bigint AND deleted_at IS NULL"
    "  AND reblog_of_id IS NULL),"
    " s AS (INSERT INTO statuses (uri, url, text, visibility, reblog_of_id, local, account_id,"
    "  created_at)"
    "  SELECT $3::varchar, $3::varchar, '', $4::int, o.id, false, $1::bigint,"
    "  least(coalesce($5::timestamptz AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'),"
    "   now() AT TIME ZONE 'UTC') FROM o"
    "  WHERE NOT EXISTS (SELECT 1 FROM statuses WHERE uri = $3::varchar)"
    "  AND NOT EXISTS (SELECT 1 FROM statuses WHERE account_id = $1::bigint"
    "   AND reblog_of_id = $2::bigint AND deleted_at IS NULL)"
    "  RETURNING id, reblog_of_id),"
    " ss AS (INSERT INTO status_stats (status_id, reblogs_count) SELECT reblog_of_id, 1 FROM s"
    "  ON CONFLICT (status_id) DO UPDATE SET reblogs_count = status_stats.reblogs_count + 1,"
    "  updated_at = now() AT TIME ZONE 'UTC'),"
    " ob AS (INSERT INTO job_outbox (queue, type, args)"
    "  SELECT 'default', 'distribute', json_build_object('status_id', id::text)::text FROM s"
    "  UNION ALL SELECT 'default', 'status_forget', json_build_object('status_ids',"
    "   json_build_array(reblog_of_id::text))::text FROM s)"
    " SELECT id FROM s";

int inbox_announce(inbox_activity *ib, char *err, size_t errlen)
{
    char id[MW_ID_LEN], author[MW_ID_LEN];
    int local;
    const char *uri = inbox_ref_of(ib->json, "object");

    err[0] = '\0';
    /* the original as we know it (ours, or stored from its origin); an
     * embedded copy is never taken */
    if (uri == NULL || strlen(uri) > MSTDN_REMOTE_URL_MAX)
        return INBOX_DONE;
    int rc = inbox_status(ib, uri, id, author, &local, err, errlen);
    if (rc == 0 && strncmp(uri, ib->ctx->cfg->base, strlen(ib->ctx->cfg->base)) != 0)
        rc = inbox_status_fetch(ib->ctx, ib->db, ib->alloc, uri, 0, id, err, errlen);
    if (rc > 0)
        rc = inbox_status(ib, uri, id, author, &local, err, errlen);
    if (rc <= 0) {
        if (rc == 0)
            mlog(LOG_INFO, "inbox: Announce %s: %s: not found (%s), ignored", ib->id, uri, err);
        return rc < 0 ? INBOX_RETRY : INBOX_DONE;
    }
    const char *params1[1] = { id };
    PGresult *res = db_query(ib->db, "SELECT visibility FROM statuses WHERE id = $1::bigint",
                             1, params1, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return INBOX_RETRY;
    int ovis = PQntuples(res) == 1 ? atoi(PQgetvalue(res, 0, 0)) : VIS_DIRECT;
    PQclear(res);
    /* announceable?: public or unlisted (or the author's own private) */
    if (ovis > VIS_UNLISTED && !(ovis == VIS_PRIVATE && strcmp(author, ib->actor_id) == 0)) {
        mlog(LOG_INFO, "inbox: Announce %s: %s may not be boosted", ib->id, uri);
        return INBOX_DONE;
    }

    res = db_query(ib->db, "SELECT followers_url FROM accounts WHERE id = $1::bigint", 1,
                   (const char *const[]){ ib->actor_id }, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return INBOX_RETRY;
    int vis = visibility(ib->json, ib->json, PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : NULL);
    PQclear(res);
    if (vis == VIS_DIRECT) {
        mlog(LOG_INFO, "inbox: Announce %s: to nobody, ignored", ib->id);
        return INBOX_DONE;
    }
    char visbuf[4];
    snprintf(visbuf, sizeof(visbuf), "%d", vis);
    const char *params[5] = { ib->actor_id, id, ib->id, visbuf,
                              inbox_time(inbox_str(ib->json, "published")) };
    return inbox_apply(ib, "reblog", announce_sql, 5, params, err, errlen);
}

int inbox_undo_announce(inbox_activity *ib, const mstdn_value_t *object, char *err,
                        size_t errlen)
{
    char id[MW_ID_LEN], author[MW_ID_LEN];
    int local;
    const char *uri = inbox_ref(object);

    /* the reblog by its uri: the actor's own */
    int rc = inbox_status(ib, uri, id, author, &local, err, errlen);
    if (rc <= 0 || strcmp(author, ib->actor_id) != 0)
        return rc < 0 ? INBOX_RETRY : INBOX_DONE;
    const char *params[3] = { id, uri, ib->actor_id };
    return inbox_apply(ib, "unreblogged:", delete_sql, 3, params, err, errlen);
}
