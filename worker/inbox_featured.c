/* Add and Remove of a status to and from the actor's featured collection
 * (Mastodon's ActivityPub::Activity::Add, Remove: pins).  Only the actor's
 * own statuses, only into its own collection. */
#include "inbox.h"
#include "db.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

/* The actor's own status the activity moves, when its target is the
 * actor's featured collection: 1, 0, -1. */
static int featured_status(inbox_activity *ib, char id[MW_ID_LEN], char *err, size_t errlen)
{
    char author[MW_ID_LEN];
    int local;
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
    if (!ours) {
        mlog(LOG_INFO, "inbox: %s %s: not the featured collection of %s", ib->type, ib->id,
             ib->actor_uri);
        return 0;
    }
    int rc = inbox_status(ib, inbox_ref_of(ib->json, "object"), id, author, &local, err, errlen);
    if (rc > 0 && strcmp(author, ib->actor_id) != 0) {
        mlog(LOG_INFO, "inbox: %s %s: the status is not %s's", ib->type, ib->id, ib->actor_uri);
        return 0;
    }
    return rc;
}

int inbox_add(inbox_activity *ib, char *err, size_t errlen)
{
    char id[MW_ID_LEN];

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

    int rc = featured_status(ib, id, err, errlen);
    if (rc <= 0)
        return rc < 0 ? INBOX_RETRY : INBOX_DONE;
    const char *params[2] = { ib->actor_id, id };
    return inbox_apply(ib, "unpinned", "WITH p AS (DELETE FROM status_pins WHERE"
                       " account_id = $1::bigint AND status_id = $2::bigint RETURNING id)"
                       " SELECT count(*) FROM p", 2, params, err, errlen);
}
