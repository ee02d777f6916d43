/* Undo (Mastodon's ActivityPub::Activity::Undo): of a Follow, Like,
 * Announce or Block, the actor's own (each half deletes only rows of the
 * actor).  The undone activity is embedded, or named by its id (then the
 * stored row with that uri tells its kind). */
#include "inbox.h"
#include "db.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

int inbox_undo(inbox_activity *ib, char *err, size_t errlen)
{
    const mstdn_value_t *object = mstdn_object_get(ib->json, "object");
    const char *uri = inbox_ref(object);

    if (uri == NULL)
        return INBOX_DONE;
    if (object->type == MSTDN_OBJECT) {
        const char *actor = inbox_ref_of(object, "actor");
        if (actor != NULL && strcmp(actor, ib->actor_uri) != 0) {
            mlog(LOG_INFO, "inbox: Undo %s of %s's activity, ignored", ib->id, actor);
            return INBOX_DONE;
        }
        if (inbox_type_is(object, "Follow"))
            return inbox_undo_follow(ib, object, err, errlen);
        if (inbox_type_is(object, "Like"))
            return inbox_undo_like(ib, object, err, errlen);
        if (inbox_type_is(object, "Announce"))
            return inbox_undo_announce(ib, object, err, errlen);
        if (inbox_type_is(object, "Block"))
            return inbox_undo_block(ib, object, err, errlen);
        mlog(LOG_INFO, "inbox: Undo %s: not undone here", ib->id);
        return INBOX_DONE;
    }

    /* by id: a reblog or a follow of the actor's with that uri */
    const char *params[2] = { uri, ib->actor_id };
    PGresult *res = db_query(ib->db, "SELECT 'Announce' FROM statuses WHERE uri = $1"
                             " AND account_id = $2::bigint AND reblog_of_id IS NOT NULL"
                             " UNION ALL SELECT 'Follow' FROM follows WHERE uri = $1"
                             " AND account_id = $2::bigint"
                             " UNION ALL SELECT 'Follow' FROM follow_requests WHERE uri = $1"
                             " AND account_id = $2::bigint"
                             " UNION ALL SELECT 'Block' FROM blocks WHERE uri = $1"
                             " AND account_id = $2::bigint LIMIT 1",
                             2, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return INBOX_RETRY;
    char kind[16] = "";
    if (PQntuples(res) == 1)
        snprintf(kind, sizeof(kind), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    if (strcmp(kind, "Announce") == 0)
        return inbox_undo_announce(ib, object, err, errlen);
    if (strcmp(kind, "Follow") == 0)
        return inbox_undo_follow(ib, object, err, errlen);
    if (strcmp(kind, "Block") == 0) {
        /* the block row by uri: the actor's; whom it blocked is not
         * known here: every viewer's facts go */
        int rc = inbox_apply(ib, "unblocked:", "WITH b AS (DELETE FROM blocks WHERE uri = $1"
                             " AND account_id = $2::bigint RETURNING id) SELECT count(*) FROM b",
                             2, params, err, errlen);
        if (rc == INBOX_DONE)
            viewer_forget_now(*ib->ctx->redis, "0");
        return rc;
    }
    mlog(LOG_INFO, "inbox: Undo %s: %s is nothing of %s's here", ib->id, uri, ib->actor_uri);
    return INBOX_DONE;
}
