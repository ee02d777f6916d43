/* Direct-message threads: account_conversations kept as Mastodon's
 * AccountConversation.add_status / remove_status keep them.  Participants:
 * the accounts the status mentions and its author, less the thread's
 * owner, in id order. */
#include "conversations.h"
#include "db.h"
#include "log.h"
#include "stream.h"

#include <string.h>

static const char add_sql[] =
    "WITH s AS (SELECT s.id, s.account_id, s.conversation_id FROM statuses s"
    "  WHERE s.id = $1::bigint AND s.visibility = 3 AND s.deleted_at IS NULL"
    "  AND s.reblog_of_id IS NULL AND s.conversation_id IS NOT NULL),"
    " parts AS (SELECT ARRAY(SELECT x FROM (SELECT m.account_id FROM mentions m"
    "   WHERE m.status_id = s.id UNION SELECT s.account_id) q (x) ORDER BY x) AS ids"
    "  FROM s),"
    " r AS (SELECT a.id FROM s JOIN accounts a ON a.id = s.account_id"
    "   WHERE a.domain IS NULL"
    "  UNION SELECT n.account_id FROM s JOIN mentions m ON m.status_id = s.id"
    "   JOIN notifications n ON n.activity_type = 'Mention' AND n.activity_id = m.id"
    "   AND n.type = 'mention')"
    " INSERT INTO account_conversations AS ac (account_id, conversation_id,"
    "  participant_account_ids, status_ids, last_status_id, unread)"
    " SELECT r.id, s.conversation_id, array_remove(parts.ids, r.id), ARRAY[s.id], s.id,"
    "  s.account_id <> r.id FROM s, parts, r"
    " ON CONFLICT (account_id, conversation_id, participant_account_ids) DO UPDATE SET"
    "  status_ids = ac.status_ids || excluded.last_status_id,"
    "  last_status_id = excluded.last_status_id, unread = excluded.unread,"
    "  lock_version = ac.lock_version + 1"
    " WHERE NOT excluded.last_status_id = ANY (ac.status_ids)"
    " RETURNING ac.id, ac.account_id";

static const char remove_sql[] =
    "WITH d AS (DELETE FROM account_conversations"
    "  WHERE status_ids = ARRAY[$1::bigint] RETURNING id)"
    " UPDATE account_conversations SET"
    "  status_ids = array_remove(status_ids, $1::bigint),"
    "  last_status_id = (array_remove(status_ids, $1::bigint))"
    "   [cardinality(status_ids) - 1],"
    "  lock_version = lock_version + 1"
    " WHERE $1::bigint = ANY (status_ids) AND id NOT IN (SELECT id FROM d)"
    " RETURNING id, account_id";

/* AccountConversation#push_to_streaming_api: each thread written (id,
 * account) is a conversation event on its owner's direct stream */
static int conversations_push(redisContext *c, PGresult *res, char *err, size_t errlen)
{
    for (int i = 0; i < PQntuples(res); i++) {
        if (stream_conversation(c, PQgetvalue(res, i, 1), PQgetvalue(res, i, 0), err, errlen) != 0)
            return -1;
    }
    return 0;
}

int conversations_add(PGconn *db, redisContext *c, const char *status_id, char *err,
                      size_t errlen)
{
    const char *params[1] = { status_id };
    PGresult *res = db_query(db, add_sql, 1, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return -1;
    if (PQntuples(res) > 0)
        mlog(LOG_DEBUG, "conversations: status %s into %d thread(s)", status_id, PQntuples(res));
    int rc = conversations_push(c, res, err, errlen);
    PQclear(res);
    return rc;
}

int conversations_remove(PGconn *db, redisContext *c, const char *status_id, char *err,
                         size_t errlen)
{
    const char *params[1] = { status_id };
    PGresult *res = db_query(db, remove_sql, 1, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return -1;
    int rc = conversations_push(c, res, err, errlen);
    PQclear(res);
    return rc;
}
