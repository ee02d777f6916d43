/* Like and its Undo (Mastodon's ActivityPub::Activity::Like): a favourite
 * of one of our statuses by the actor, with its counter, the `favourite`
 * notification (the notify job) and the rendering forgotten. */
#include "inbox.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

/* $1 the actor, $2 the status */
static const char like_sql[] =
    "WITH f AS (INSERT INTO favourites (account_id, status_id)"
    "  SELECT $1::bigint, id FROM statuses WHERE id = $2::bigint AND deleted_at IS NULL"
    "  ON CONFLICT (account_id, status_id) DO NOTHING RETURNING id, status_id),"
    " ss AS (INSERT INTO status_stats (status_id, favourites_count) SELECT status_id, 1 FROM f"
    "  ON CONFLICT (status_id) DO UPDATE SET favourites_count ="
    "  status_stats.favourites_count + 1, updated_at = now() AT TIME ZONE 'UTC'),"
    " ob AS (INSERT INTO job_outbox (queue, type, args)"
    "  SELECT 'default', 'notify', json_build_object('type', 'favourite', 'account_id',"
    "   s.account_id::text, 'from_account_id', $1::text, 'activity_type', 'Favourite',"
    "   'activity_id', f.id::text)::text FROM f JOIN statuses s ON s.id = f.status_id"
    "  UNION ALL SELECT 'default', 'status_forget', json_build_object('status_ids',"
    "   json_build_array(status_id::text))::text FROM f)"
    " SELECT id FROM f";

/* $1 the actor, $2 the status */
static const char unlike_sql[] =
    "WITH f AS (DELETE FROM favourites WHERE account_id = $1::bigint"
    "  AND status_id = $2::bigint RETURNING id, status_id),"
    " n AS (DELETE FROM notifications WHERE activity_type = 'Favourite'"
    "  AND activity_id IN (SELECT id FROM f)),"
    " ss AS (UPDATE status_stats SET favourites_count = greatest(0, favourites_count - 1),"
    "  updated_at = now() AT TIME ZONE 'UTC' WHERE status_id IN (SELECT status_id FROM f)),"
    " ob AS (INSERT INTO job_outbox (queue, type, args)"
    "  SELECT 'default', 'status_forget', json_build_object('status_ids',"
    "   json_build_array(status_id::text))::text FROM f)"
    " SELECT count(*) FROM f";

/* Our status a Like names (only local statuses are liked here, as
 * Mastodon processes them): 1, 0, -1. */
static int liked(inbox_activity *ib, const mstdn_value_t *like, char id[MW_ID_LEN],
                 char *err, size_t errlen)
{
    char author[MW_ID_LEN];
    int local;
    int rc = inbox_status(ib, inbox_ref_of(like, "object"), id, author, &local, err, errlen);
    return rc > 0 && !local ? 0 : rc;
}

int inbox_like(inbox_activity *ib, char *err, size_t errlen)
{
    char id[MW_ID_LEN];

    int rc = liked(ib, ib->json, id, err, errlen);
    if (rc <= 0) {
        if (rc == 0)
            mlog(LOG_INFO, "inbox: Like %s: not a status of ours, ignored", ib->id);
        return rc < 0 ? INBOX_RETRY : INBOX_DONE;
    }
    const char *params[2] = { ib->actor_id, id };
    return inbox_apply(ib, "favourite", like_sql, 2, params, err, errlen);
}

int inbox_undo_like(inbox_activity *ib, const mstdn_value_t *object, char *err, size_t errlen)
{
    char id[MW_ID_LEN];

    /* the favourite is the actor's own: the statement deletes only it */
    int rc = liked(ib, object, id, err, errlen);
    if (rc <= 0)
        return rc < 0 ? INBOX_RETRY : INBOX_DONE;
    const char *params[2] = { ib->actor_id, id };
    return inbox_apply(ib, "unfavourited:", unlike_sql, 2, params, err, errlen);
}
