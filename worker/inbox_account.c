/* Move (Mastodon's ActivityPub::Activity::Move; Flag is inbox_flag.c).
 *
 * Move: the actor moved to target, which must name the actor among its
 * alsoKnownAs (the target's document, fetched from its origin); the
 * account gets moved_to_account_id and, in the same transaction, a
 * move_followers job that moves its local followers over (MoveWorker). */
#include "inbox.h"
#include "db.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

int inbox_move(inbox_activity *ib, char *err, size_t errlen)
{
    const char *object = inbox_ref_of(ib->json, "object");
    const char *target = inbox_ref_of(ib->json, "target");
    char target_id[MW_ID_LEN];
    const mstdn_value_t *doc = NULL;

    if (object == NULL || strcmp(object, ib->actor_uri) != 0 || target == NULL
        || strcmp(target, ib->actor_uri) == 0) {
        mlog(LOG_INFO, "inbox: Move %s: not a move of %s", ib->id, ib->actor_uri);
        return INBOX_DONE;
    }
    /* the target's own word, from its origin */
    int rc = inbox_fetch_document(ib->ctx, target, ib->alloc, &doc, err, errlen);
    if (rc <= 0) {
        if (rc == 0)
            mlog(LOG_INFO, "inbox: Move %s: %s", ib->id, err);
        return rc < 0 ? INBOX_RETRY : INBOX_DONE;
    }
    const mstdn_value_t *aka = mstdn_object_get(doc, "alsoKnownAs");
    int named = 0;
    int many = aka != NULL && aka->type == MSTDN_ARRAY;
    for (const mstdn_value_t *e = many ? aka->first : aka; e != NULL && !named;
         e = many ? e->next : NULL) {
        const char *r = inbox_ref(e);
        named = r != NULL && strcmp(r, ib->actor_uri) == 0;
    }
    if (!named) {
        mlog(LOG_INFO, "inbox: Move %s: %s does not name %s as an alias", ib->id, target,
             ib->actor_uri);
        return INBOX_DONE;
    }
    rc = inbox_actor_store_new(ib->ctx, ib->db, doc, target, target_id, err, errlen);
    if (rc <= 0) {
        if (rc == 0)
            mlog(LOG_INFO, "inbox: Move %s: %s", ib->id, err);
        return rc < 0 ? INBOX_RETRY : INBOX_DONE;
    }
    /* the redirect, and the local followers moved over (MoveWorker) */
    const char *params[2] = { ib->actor_id, target_id };
    return inbox_apply(ib, "moved", "WITH u AS (UPDATE accounts SET"
                       " moved_to_account_id = $2::bigint,"
                       " updated_at = now() AT TIME ZONE 'UTC' WHERE id = $1::bigint"
                       " RETURNING id, moved_to_account_id),"
                       " ob AS (INSERT INTO job_outbox (queue, type, args)"
                       " SELECT 'default', 'move_followers', json_build_object('account_id',"
                       " id::text, 'target_account_id', moved_to_account_id::text)::text"
                       " FROM u)"
                       " SELECT moved_to_account_id FROM u", 2, params, err, errlen);
}
