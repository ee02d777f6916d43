/* Status facts for the fan-out jobs.  hidden_by is FeedManager's
 * check_for_blocks: the author, the accounts mentioned, and for a reblog
 * the original's author and its mentions; a follower blocking or muting
 * any of them does not get the status in their home feed. */
#include "status.h"
#include "db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char status_sql[] =
    "SELECT s.id, s.account_id, coalesce(s.reblog_of_id::text, ''), coalesce(o.account_id::text, ''),"
    "       CASE WHEN s.reply AND s.in_reply_to_account_id <> s.account_id"
    "            THEN s.in_reply_to_account_id::text ELSE '' END,"
    "       coalesce(s.language, ''), s.visibility, s.deleted_at IS NOT NULL,"
    "       coalesce(s.local, s.uri IS NULL), a.domain IS NULL, a.silenced_at IS NOT NULL,"
    "       s.reply AND (s.in_reply_to_id IS NULL OR s.in_reply_to_account_id IS NULL),"
    "       cardinality(s.ordered_media_attachment_ids) > 0"
    "         OR EXISTS (SELECT 1 FROM media_attachments ma WHERE ma.status_id = s.id),"
    /* federation: only what a local account posts leaves from here */
    "       a.domain IS NULL AND ("
    "         o.id IS NOT NULL AND oa.domain IS NOT NULL"
    "         OR EXISTS (SELECT 1 FROM mentions m JOIN accounts ma ON ma.id = m.account_id"
    "                    WHERE m.status_id = s.id AND ma.domain IS NOT NULL)"
    "         OR s.visibility < 3 AND EXISTS (SELECT 1 FROM follows f JOIN accounts fa ON fa.id = f.account_id"
    "                    WHERE f.target_account_id = s.account_id AND fa.domain IS NOT NULL)),"
    "       oa.domain,"
    "       coalesce((SELECT string_agg(lower(t.name), E'\\n') || E'\\n' FROM statuses_tags st"
    "                 JOIN tags t ON t.id = st.tag_id WHERE st.status_id = s.id), ''),"
    "       array(SELECT s.account_id UNION SELECT o.account_id WHERE o.account_id IS NOT NULL"
    "             UNION SELECT m.account_id FROM mentions m"
    "                   WHERE m.status_id IN (s.id, s.reblog_of_id) AND NOT m.silent)::text,"
    "       array(SELECT m.account_id FROM mentions m JOIN accounts ma ON ma.id = m.account_id"
    "             WHERE m.status_id = s.id AND NOT m.silent AND ma.domain IS NULL"
    "               AND m.account_id <> s.account_id ORDER BY m.account_id)::text"
    " FROM statuses s JOIN accounts a ON a.id = s.account_id"
    " LEFT JOIN statuses o ON o.id = s.reblog_of_id"
    " LEFT JOIN accounts oa ON oa.id = o.account_id"
    " WHERE s.id = $1::bigint";

static void copy(char *dst, size_t n, const PGresult *res, int col)
{
    snprintf(dst, n, "%s", PQgetvalue(res, 0, col));
}

static int flag(const PGresult *res, int col)
{
    return PQgetvalue(res, 0, col)[0] == 't';
}

int status_load(PGconn *db, const char *id, status_facts *f, char *err, size_t errlen)
{
    const char *params[1] = { id };

    memset(f, 0, sizeof(*f));
    PGresult *res = db_query(db, status_sql, 1, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return -1;
    f->res = res;
    if (PQntuples(res) == 0)
        return 0;

    f->found = 1;
    copy(f->id, sizeof(f->id), res, 0);
    copy(f->account_id, sizeof(f->account_id), res, 1);
    copy(f->reblog_of_id, sizeof(f->reblog_of_id), res, 2);
    copy(f->reblog_account_id, sizeof(f->reblog_account_id), res, 3);
    copy(f->in_reply_to_account_id, sizeof(f->in_reply_to_account_id), res, 4);
    copy(f->language, sizeof(f->language), res, 5);
    f->visibility = atoi(PQgetvalue(res, 0, 6));
    f->deleted = flag(res, 7);
    f->local = flag(res, 8);
    f->author_local = flag(res, 9);
    f->author_silenced = flag(res, 10);
    f->reply_without_parent = flag(res, 11);
    f->reply_to_other = f->in_reply_to_account_id[0] != '\0';
    f->has_media = flag(res, 12);
    f->reaches_remote = flag(res, 13);
    f->reblog_account_domain = PQgetisnull(res, 0, 14) ? NULL : PQgetvalue(res, 0, 14);
    f->tags = PQgetvalue(res, 0, 15);
    f->hidden_by = PQgetvalue(res, 0, 16);
    f->mentioned = PQgetvalue(res, 0, 17);
    return 0;
}

void status_free(status_facts *f)
{
    PQclear(f->res);
    f->res = NULL;
}

int status_broadcastable(const status_facts *f)
{
    return f->visibility == VISIBILITY_PUBLIC && f->reblog_of_id[0] == '\0' && !f->author_silenced;
}
