/* Who gets a status in their home feed: the followers whose feeds
 * mastodon_home_accepts() (sql/0009_rules.sql, FeedManager#filter_from_home)
 * says take it, one query per page of followers.  The page is cut before
 * the rule is applied (every follower of the page comes back, the third
 * column says whether the rule accepts it): applied to all followers and
 * cut after, PostgreSQL ran the rule's anti-joins over every follower for
 * each page, quadratic in the number of followers.  The status' columns go
 * in as parameters, so PostgreSQL reads the small sets the rule tests once
 * per page (the accounts blocking or muting the author, ...) rather than
 * probing per follower: a page of thousands costs about what reading the
 * follows index costs. */
#include "recipients.h"
#include "db.h"

#include <stdio.h>

/* the fourth column: whether a reblog of the status exists (once per page,
 * an InitPlan); without one feed_push.c need not read `:reblogs` */
#define REBLOGGED  "EXISTS (SELECT 1 FROM statuses r WHERE r.reblog_of_id = $4::bigint)"

/* the local followers after the cursor */
#define LOCAL_FOLLOWERS                                                                    \
    "         FROM follows f JOIN accounts a ON a.id = f.account_id"                       \
    "        WHERE f.target_account_id = $1::bigint AND f.account_id > $2::bigint"          \
    "          AND a.domain IS NULL"                                                       \
    "          AND a.id > $2::bigint"  /* the same, so a merge join starts at the cursor too */

/* the same when the author has no remote followers (status_load() says):
 * no account read per follower */
#define ALL_FOLLOWERS                                                                      \
    "         FROM follows f"                                                              \
    "        WHERE f.target_account_id = $1::bigint AND f.account_id > $2::bigint"

#define RECIPIENTS_SQL(followers, which)                                                   \
    "SELECT p.account_id, p.notify AND h.ok IS NOT NULL, h.ok IS NOT NULL, " REBLOGGED     \
    " FROM (SELECT f.account_id, f.notify, f.languages, f.show_reblogs"                    \
    followers which                                                                        \
    "        ORDER BY f.account_id LIMIT $3::int) p"                                       \
    " LEFT JOIN LATERAL mastodon_home_accepts(p.account_id, p.languages, p.show_reblogs,"  \
    "   $4::bigint, $1::bigint, $5::int, $6::boolean, $7::bigint, $8::bigint, $9::varchar," \
    "   $10::bigint, $11::bigint, $12::varchar) h(ok) ON true"                             \
    " ORDER BY p.account_id"

static const char recipients_sql[] = RECIPIENTS_SQL(LOCAL_FOLLOWERS, "");
static const char recipients_all_local_sql[] = RECIPIENTS_SQL(ALL_FOLLOWERS, "");
static const char notify_recipients_sql[] = RECIPIENTS_SQL(LOCAL_FOLLOWERS, " AND f.notify");

static const char followers_sql[] =
    "SELECT f.account_id FROM follows f JOIN accounts a ON a.id = f.account_id"
    " WHERE f.target_account_id = $1::bigint AND f.account_id > $2::bigint AND a.domain IS NULL"
    "   AND a.id > $2::bigint"     /* the same, so a merge join starts at the cursor too */
    " ORDER BY f.account_id LIMIT $3::int";

/* FanOutOnWriteService#deliver_to_hashtag_followers!: the local accounts
 * following a tag of the status, but its author; the home rule without
 * its language, reply and exclusive-list lines (FeedManager's
 * filter_from_tags?: blocks and mutes of the author and the mentioned),
 * and the author's domain blocked */
static const char tag_followers_sql[] =
    "SELECT p.account_id, false, h.ok IS NOT NULL AND NOT EXISTS (SELECT 1"
    "   FROM account_domain_blocks d JOIN accounts au ON au.id = $1::bigint"
    "  WHERE d.account_id = p.account_id AND d.domain = au.domain), " REBLOGGED
    " FROM (SELECT DISTINCT tf.account_id FROM tag_follows tf"
    "         JOIN statuses_tags st ON st.tag_id = tf.tag_id AND st.status_id = $4::bigint"
    "         JOIN accounts a ON a.id = tf.account_id"
    "        WHERE tf.account_id > $2::bigint AND tf.account_id <> $1::bigint"
    "          AND a.domain IS NULL"
    "        ORDER BY tf.account_id LIMIT $3::int) p"
    " LEFT JOIN LATERAL mastodon_feed_accepts(p.account_id, NULL, true,"
    "   $4::bigint, $1::bigint, $5::int, false, NULL, NULL, NULL, NULL, NULL, NULL) h(ok) ON true"
    " ORDER BY p.account_id";

static const char followers_among_sql[] =
    "SELECT f.account_id FROM follows f"
    " WHERE f.target_account_id = $1::bigint AND f.account_id = ANY($2::bigint[])"
    " ORDER BY f.account_id";

static const char recipients_among_sql[] =
    "SELECT f.account_id FROM follows f"
    " WHERE f.target_account_id = $1::bigint AND f.account_id = ANY($2::bigint[])"
    "   AND EXISTS (SELECT 1 FROM mastodon_home_accepts(f.account_id, f.languages,"
    "     f.show_reblogs, $3::bigint, $1::bigint, $4::int, $5::boolean, $6::bigint,"
    "     $7::bigint, $8::varchar, $9::bigint, $10::bigint, $11::varchar))"
    " ORDER BY f.account_id";

static const char *or_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : NULL;
}

int recipients_page_send(PGconn *db, const status_facts *f, int notify_only, const char *cursor,
                         char *err, size_t errlen)
{
    char limit[16], visibility[16];
    snprintf(limit, sizeof(limit), "%d", RECIPIENTS_PAGE);
    snprintf(visibility, sizeof(visibility), "%d", f->visibility);
    const char *params[12] = {
        f->account_id, cursor, limit, f->id, visibility, f->reply ? "t" : "f",
        or_null(f->in_reply_to_id), or_null(f->replied_account_id), or_null(f->language),
        or_null(f->reblog_of_id), or_null(f->reblog_account_id),
        f->reblog_of_id[0] != '\0' ? f->reblog_account_domain : NULL,
    };
    /* planning the rule costs more than running it on a page of 100 */
    if (notify_only)
        return db_send_prepared(db, "mw_notify_recipients", notify_recipients_sql, 12, params,
                                err, errlen);
    if (f->followers_all_local)
        return db_send_prepared(db, "mw_recipients_all_local", recipients_all_local_sql, 12,
                                params, err, errlen);
    return db_send_prepared(db, "mw_recipients", recipients_sql, 12, params, err, errlen);
}

int followers_page_send(PGconn *db, const char *account_id, const char *cursor,
                        char *err, size_t errlen)
{
    char limit[16];
    snprintf(limit, sizeof(limit), "%d", RECIPIENTS_PAGE);
    const char *params[3] = { account_id, cursor, limit };
    return db_send_prepared(db, "mw_followers", followers_sql, 3, params, err, errlen);
}

PGresult *recipients_page_receive(PGconn *db, char *err, size_t errlen)
{
    return db_receive(db, PGRES_TUPLES_OK, err, errlen);
}

int tag_followers_page_send(PGconn *db, const status_facts *f, const char *cursor,
                            char *err, size_t errlen)
{
    char limit[16], visibility[16];
    snprintf(limit, sizeof(limit), "%d", RECIPIENTS_PAGE);
    snprintf(visibility, sizeof(visibility), "%d", f->visibility);
    const char *params[5] = { f->account_id, cursor, limit, f->id, visibility };
    return db_send_prepared(db, "mw_tag_followers", tag_followers_sql, 5, params, err, errlen);
}

PGresult *recipients_among(PGconn *db, const char *account_id, const status_facts *f,
                           const char *ids, char *err, size_t errlen)
{
    char visibility[16];

    if (f == NULL) {
        const char *params[2] = { account_id, ids };
        return db_query(db, followers_among_sql, 2, params, PGRES_TUPLES_OK, err, errlen);
    }
    snprintf(visibility, sizeof(visibility), "%d", f->visibility);
    const char *params[11] = {
        account_id, ids, f->id, visibility, f->reply ? "t" : "f",
        or_null(f->in_reply_to_id), or_null(f->replied_account_id), or_null(f->language),
        or_null(f->reblog_of_id), or_null(f->reblog_account_id),
        f->reblog_of_id[0] != '\0' ? f->reblog_account_domain : NULL,
    };
    return db_query(db, recipients_among_sql, 11, params, PGRES_TUPLES_OK, err, errlen);
}
