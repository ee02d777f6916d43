/* Who gets a status in their home feed: FeedManager#filter_from_home? as
 * one query per page of followers.  The per-follower tests are anti-joins
 * against small sets (the accounts blocking or muting the author, ...)
 * rather than look-ups per follower, so a page of thousands costs about
 * what reading the follows index costs.  The rules, for a follower r:
 *
 * - r blocks or mutes (an unexpired mute) the author, an account the
 *   status mentions, or for a reblog the original's author or mentions;
 * - r's follow has `languages` and the status has a language not in them;
 * - a reply to another account reaches r only if r follows that account or
 *   is that account;
 * - a reblog: not when r's follow has show_reblogs false, the original's
 *   author blocks r, or r blocks the original author's domain.
 *
 * A reply whose parent is unknown reaches nobody but its author (the
 * caller does not ask).  Keep job_feed_merge.c's query in step with this. */
#include "recipients.h"
#include "db.h"

#include <stdio.h>

static const char recipients_sql[] =
    "SELECT f.account_id, f.notify FROM follows f JOIN accounts a ON a.id = f.account_id"
    " WHERE f.target_account_id = $1::bigint AND f.account_id > $2::bigint AND a.domain IS NULL"
    "   AND a.id > $2::bigint"     /* the same, so a merge join starts at the cursor too */
    "   AND f.account_id NOT IN (SELECT b.account_id FROM blocks b"
    "                             WHERE b.target_account_id = ANY ($4::bigint[]))"
    "   AND f.account_id NOT IN (SELECT m.account_id FROM mutes m"
    "                             WHERE m.target_account_id = ANY ($4::bigint[])"
    "                               AND (m.expires_at IS NULL OR m.expires_at > now() AT TIME ZONE 'UTC'))"
    "   AND ($5::text IS NULL OR f.languages IS NULL OR cardinality(f.languages) = 0"
    "        OR $5::text = ANY (f.languages))"
    "   AND ($6::bigint IS NULL OR f.account_id = $6::bigint"
    "        OR EXISTS (SELECT 1 FROM follows rf WHERE rf.account_id = f.account_id"
    "                   AND rf.target_account_id = $6::bigint))"
    "   AND ($7::bigint IS NULL OR (f.show_reblogs"
    "        AND f.account_id NOT IN (SELECT ob.target_account_id FROM blocks ob"
    "                                  WHERE ob.account_id = $7::bigint)"
    "        AND ($8::text IS NULL OR f.account_id NOT IN (SELECT d.account_id FROM account_domain_blocks d"
    "                                                       WHERE d.domain = $8::text))))"
    "   AND ($9::bigint[] IS NULL OR f.account_id = ANY ($9::bigint[]))"
    " ORDER BY f.account_id LIMIT $3::int";

static const char followers_sql[] =
    "SELECT f.account_id FROM follows f JOIN accounts a ON a.id = f.account_id"
    " WHERE f.target_account_id = $1::bigint AND f.account_id > $2::bigint AND a.domain IS NULL"
    "   AND a.id > $2::bigint"     /* the same, so a merge join starts at the cursor too */
    " ORDER BY f.account_id LIMIT $3::int";

static const char *or_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : NULL;
}

PGresult *recipients_page(PGconn *db, const status_facts *f, const char *cursor,
                          char *err, size_t errlen)
{
    char limit[16];
    snprintf(limit, sizeof(limit), "%d", RECIPIENTS_PAGE);
    const char *params[9] = {
        f->account_id, cursor, limit, f->hidden_by, or_null(f->language),
        or_null(f->in_reply_to_account_id), or_null(f->reblog_account_id),
        f->reblog_of_id[0] != '\0' ? f->reblog_account_domain : NULL,
        f->visibility == VISIBILITY_DIRECT ? f->mentioned : NULL,
    };
    return db_query(db, recipients_sql, 9, params, PGRES_TUPLES_OK, err, errlen);
}

PGresult *followers_page(PGconn *db, const char *account_id, const char *cursor,
                         char *err, size_t errlen)
{
    char limit[16];
    snprintf(limit, sizeof(limit), "%d", RECIPIENTS_PAGE);
    const char *params[3] = { account_id, cursor, limit };
    return db_query(db, followers_sql, 3, params, PGRES_TUPLES_OK, err, errlen);
}
