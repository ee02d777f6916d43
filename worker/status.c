/* Status facts for the fan-out jobs: who gets it in their home feed is
 * mastodon_home_accepts() (sql/0009_rules.sql), given these columns. */
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
    "       s.reply,"
    /* Status#with_media?: the ordered ids once set (an edit may leave
     * media attached but not shown), the rows otherwise */
    "       coalesce(cardinality(s.ordered_media_attachment_ids) > 0,"
    "         EXISTS (SELECT 1 FROM media_attachments ma WHERE ma.status_id = s.id)),"
    /* federation: only what a local account posts leaves from here */
    "       a.domain IS NULL AND a.suspended_at IS NULL AND ("
    "         o.id IS NOT NULL AND oa.domain IS NOT NULL"
    "         OR EXISTS (SELECT 1 FROM mentions m JOIN accounts ma ON ma.id = m.account_id"
    "                    WHERE m.status_id = s.id AND ma.domain IS NOT NULL)"
    "         OR s.visibility < 3 AND rf.remote_followers),"
    "       oa.domain,"
    "       coalesce((SELECT string_agg(lower(t.name), E'\\n') || E'\\n' FROM statuses_tags st"
    "                 JOIN tags t ON t.id = st.tag_id WHERE st.status_id = s.id), ''),"
    "       coalesce(s.in_reply_to_id::text, ''),"
    "       array(SELECT m.account_id FROM mentions m JOIN accounts ma ON ma.id = m.account_id"
    "             WHERE m.status_id = s.id AND NOT m.silent AND ma.domain IS NULL"
    "               AND m.account_id <> s.account_id ORDER BY m.account_id)::text,"
    "       coalesce(s.in_reply_to_account_id::text, ''),"
    /* for distribute, so that most posts need no statement of their own
     * for them: the author in a list (list_feeds.c), its switch to merge
     * on read and its followers (big_accounts.c) */
    "       EXISTS (SELECT 1 FROM list_accounts la WHERE la.account_id = s.account_id),"
    "       coalesce((SELECT b.since_status_id::text FROM feed_big_accounts b"
    "                  WHERE b.account_id = s.account_id), ''),"
    "       coalesce((SELECT st.followers_count FROM account_stats st"
    "                  WHERE st.account_id = s.account_id), 0),"
    /* and whether a tag of it has local followers: most tags have none,
     * and their statuses need no walk of them */
    "       EXISTS (SELECT 1 FROM statuses_tags st JOIN tag_follows tf ON tf.tag_id = st.tag_id"
    "               WHERE st.status_id = s.id),"
    /* and whether the author has no remote followers: then every
     * follower is local, and the recipients' pages need not ask */
    "       NOT rf.remote_followers"
    " FROM statuses s JOIN accounts a ON a.id = s.account_id"
    " LEFT JOIN statuses o ON o.id = s.reblog_of_id"
    " LEFT JOIN accounts oa ON oa.id = o.account_id"
    " CROSS JOIN LATERAL (SELECT EXISTS (SELECT 1 FROM follows f"
    "                       JOIN accounts fa ON fa.id = f.account_id"
    "                      WHERE f.target_account_id = s.account_id"
    "                        AND fa.domain IS NOT NULL) AS remote_followers) rf"
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
    /* every status job: planned once per connection */
    PGresult *res = db_query_prepared(db, "mw_status_load", status_sql, 1, params,
                                      PGRES_TUPLES_OK, err, errlen);
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
    f->reply = flag(res, 11);
    f->reply_to_other = f->in_reply_to_account_id[0] != '\0';
    f->has_media = flag(res, 12);
    f->reaches_remote = flag(res, 13);
    f->reblog_account_domain = PQgetisnull(res, 0, 14) ? NULL : PQgetvalue(res, 0, 14);
    f->tags = PQgetvalue(res, 0, 15);
    copy(f->in_reply_to_id, sizeof(f->in_reply_to_id), res, 16);
    f->mentioned = PQgetvalue(res, 0, 17);
    copy(f->replied_account_id, sizeof(f->replied_account_id), res, 18);
    f->author_listed = flag(res, 19);
    copy(f->big_since_status_id, sizeof(f->big_since_status_id), res, 20);
    f->author_followers = strtoll(PQgetvalue(res, 0, 21), NULL, 10);
    f->tags_followed = flag(res, 22);
    f->followers_all_local = flag(res, 23);
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
