/* Add and Remove of a status to and from the actor's featured collection
 * (Mastodon's ActivityPub::Activity::Add, Remove: pins).  Only the actor's
 * own statuses, only into its own collection.  A Hashtag added to or
 * removed from that collection is one of the account's featured tags
 * (add_featured_tags, remove_featured_tags). */
#include "inbox.h"
#include "db.h"
#include "log.h"
#include "mstdn_hashtag.h"
#include "mstdn_json.h"
#include "mstdn_sanitize.h"
#include "mstdn_utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 1 if the activity's target is the actor's featured collection, 0, -1. */
static int featured_target(inbox_activity *ib, char *err, size_t errlen)
{
    const char *target = inbox_ref_of(ib->json, "target");
    const char *params[1] = { ib->actor_id };

    PGresult *res = db_query(ib->db, "SELECT coalesce(featured_collection_url, '')"
                             " FROM accounts WHERE id = $1::bigint", 1, params,
                             PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return -1;
    int ours = target != NULL && PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] != '\0'
               && strcmp(PQgetvalue(res, 0, 0), target) == 0;
    PQclear(res);
    if (!ours)
        mlog(LOG_INFO, "inbox: %s %s: not the featured collection of %s", ib->type, ib->id,
             ib->actor_uri);
    return ours;
}

/* The actor's own status the activity moves, when its target is the
 * actor's featured collection: 1, 0, -1. */
static int featured_status(inbox_activity *ib, char id[MW_ID_LEN], char *err, size_t errlen)
{
    char author[MW_ID_LEN];
    int local;

    int ours = featured_target(ib, err, errlen);
    if (ours <= 0)
        return ours;
    int rc = inbox_status(ib, inbox_ref_of(ib->json, "object"), id, author, &local, err, errlen);
    if (rc > 0 && strcmp(author, ib->actor_id) != 0) {
        mlog(LOG_INFO, "inbox: %s %s: the status is not %s's", ib->type, ib->id, ib->actor_uri);
        return 0;
    }
    return rc;
}

/* $1 the actor, $2 the normalized name, $3 the name as given: the tag
 * made if new, featured once (FeaturedTag's uniqueness; no limit for a
 * remote account) */
static const char featured_tag_add_sql[] =
    "WITH ti AS (INSERT INTO tags (name, display_name) VALUES ($2::text, $3::text)"
    "  ON CONFLICT (lower((name)::text) text_pattern_ops) DO UPDATE SET name = tags.name"
    "  RETURNING id),"
    " ins AS (INSERT INTO featured_tags (account_id, tag_id, name)"
    "  SELECT $1::bigint, ti.id, $3::text FROM ti WHERE NOT EXISTS (SELECT 1"
    "  FROM featured_tags f WHERE f.account_id = $1::bigint AND f.tag_id = ti.id)"
    "  RETURNING id)"
    " SELECT count(*) FROM ins";

static const char featured_tag_remove_sql[] =
    "WITH d AS (DELETE FROM featured_tags f USING tags t WHERE f.tag_id = t.id"
    "  AND f.account_id = $1::bigint AND lower(t.name) = lower($2::text)"
    "  AND $3::text IS NOT NULL RETURNING f.id)"
    " SELECT count(*) FROM d";

/* An Add or Remove of a Hashtag (the object embedded, its name with or
 * without '#') to or from the actor's featured collection. */
static int featured_tag(inbox_activity *ib, const mstdn_value_t *object, int add, char *err,
                        size_t errlen)
{
    int ours = featured_target(ib, err, errlen);
    if (ours <= 0)
        return ours < 0 ? INBOX_RETRY : INBOX_DONE;

    const char *name = inbox_str(object, "name");
    if (name != NULL && name[0] == '#')
        name++;
    size_t n = name != NULL ? strlen(name) : 0, len = 0;
    if (n == 0 || n > MSTDN_REMOTE_HASHTAG_MAX
        || mstdn_utf8_check((const unsigned char *) name, n, 0) != MSTDN_UTF8_VALID) {
        mlog(LOG_INFO, "inbox: %s %s: no valid hashtag name", ib->type, ib->id);
        return INBOX_DONE;
    }
    char *given = strndup(name, n);
    if (given == NULL) {
        snprintf(err, errlen, "out of memory");
        return INBOX_RETRY;
    }
    mstdn_arena_t *ar = mstdn_arena_create();
    mstdn_alloc_t a;
    char *norm = NULL;
    if (ar != NULL && mstdn_hashtag_strip_invalid(given, n) == n) {
        mstdn_arena_allocator(ar, &a);
        norm = mstdn_hashtag_normalize(given, n, &a, &len);
    }
    int rc;
    if (ar == NULL) {
        snprintf(err, errlen, "out of memory");
        rc = INBOX_RETRY;
    } else if (norm == NULL || len == 0 || strspn(norm, "0123456789") == len) {
        mlog(LOG_INFO, "inbox: %s %s: not a hashtag's name", ib->type, ib->id);
        rc = INBOX_DONE;
    } else {
        const char *params[3] = { ib->actor_id, norm, given };
        rc = inbox_apply(ib, add ? "featured tag" : "featured tag removed",
                         add ? featured_tag_add_sql : featured_tag_remove_sql, 3, params,
                         err, errlen);
    }
    mstdn_arena_destroy(ar);
    free(given);
    return rc;
}

int inbox_add(inbox_activity *ib, char *err, size_t errlen)
{
    char id[MW_ID_LEN];
    const mstdn_value_t *object = mstdn_object_get(ib->json, "object");

    if (object != NULL && inbox_type_is(object, "Hashtag"))
        return featured_tag(ib, object, 1, err, errlen);

    int rc = featured_status(ib, id, err, errlen);
    if (rc <= 0)
        return rc < 0 ? INBOX_RETRY : INBOX_DONE;
    const char *params[2] = { ib->actor_id, id };
    return inbox_apply(ib, "pinned", "WITH p AS (INSERT INTO status_pins (account_id,"
                       " status_id) VALUES ($1::bigint, $2::bigint) ON CONFLICT DO NOTHING"
                       " RETURNING id) SELECT count(*) FROM p", 2, params, err, errlen);
}

int inbox_remove(inbox_activity *ib, char *err, size_t errlen)
{
    char id[MW_ID_LEN];
    const mstdn_value_t *object = mstdn_object_get(ib->json, "object");

    if (object != NULL && inbox_type_is(object, "Hashtag"))
        return featured_tag(ib, object, 0, err, errlen);

    int rc = featured_status(ib, id, err, errlen);
    if (rc <= 0)
        return rc < 0 ? INBOX_RETRY : INBOX_DONE;
    const char *params[2] = { ib->actor_id, id };
    return inbox_apply(ib, "unpinned", "WITH p AS (DELETE FROM status_pins WHERE"
                       " account_id = $1::bigint AND status_id = $2::bigint RETURNING id)"
                       " SELECT count(*) FROM p", 2, params, err, errlen);
}
