/* Notifications.  NotifyService's drop conditions, in SQL, for recipient r
 * and sender snd:
 *
 * - r is not local, is suspended, or is the sender (but for `poll`: the
 *   author hears of the end of its own poll);
 * - r blocks the sender, or mutes it with hide_notifications (unexpired);
 * - r blocks the sender's domain and does not follow the sender;
 * - the sender is silenced and r does not follow it;
 * - r muted the conversation of the status concerned;
 * - for a mention also (FeedManager#filter_from_mentions?): r blocks, or
 *   mutes with hide_notifications, an account the status mentions or the
 *   account it replies to.
 *
 * group_key is stored as Mastodon 4.3 computes it (notify_group_key) for
 * favourite, reblog and follow, NULL for the rest: readers show NULL as
 * "ungrouped-<notification id>", as Mastodon does. */
#include "notify.h"
#include "args.h"
#include "db.h"
#include "log.h"
#include "queue.h"
#include "redis.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GROUP_SPAN_HOURS 12         /* Mastodon's MAXIMUM_GROUP_SPAN_HOURS */

#define ACTIVE_MUTE "(mu.expires_at IS NULL OR mu.expires_at > now() AT TIME ZONE 'UTC')"

#define NOTIFY_DROP(target, self)                                                               \
    " r.domain IS NULL AND r.suspended_at IS NULL AND (r.id <> snd.id OR " self ")"             \
    " AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.account_id = r.id"                         \
    "                 AND b.target_account_id = snd.id)"                                       \
    " AND NOT EXISTS (SELECT 1 FROM mutes mu WHERE mu.account_id = r.id"                        \
    "                 AND mu.target_account_id = snd.id AND mu.hide_notifications AND " ACTIVE_MUTE ")" \
    " AND (snd.domain IS NULL OR EXISTS (SELECT 1 FROM follows f WHERE f.account_id = r.id"     \
    "                 AND f.target_account_id = snd.id)"                                       \
    "      OR NOT EXISTS (SELECT 1 FROM account_domain_blocks d WHERE d.account_id = r.id"      \
    "                 AND d.domain = snd.domain))"                                             \
    " AND (snd.silenced_at IS NULL OR EXISTS (SELECT 1 FROM follows f WHERE f.account_id = r.id" \
    "                 AND f.target_account_id = snd.id))"                                      \
    " AND NOT EXISTS (SELECT 1 FROM statuses ts JOIN conversation_mutes cm"                     \
    "                 ON cm.conversation_id = ts.conversation_id"                              \
    "                 WHERE ts.id = " target " AND cm.account_id = r.id)"

#define NOTIFY_RETURNING                                                                        \
    " ON CONFLICT (account_id, activity_type, activity_id, type) DO NOTHING"                    \
    " RETURNING id, account_id, EXISTS (SELECT 1 FROM users u JOIN web_push_subscriptions w"      \
    "           ON w.user_id = u.id WHERE u.account_id = notifications.account_id)"

static const char insert_sql[] =
    "INSERT INTO notifications (activity_id, activity_type, account_id, from_account_id, type, group_key)"
    " SELECT $1::bigint, $2::text, r.id, snd.id, $4::text, $5::text"
    " FROM accounts r JOIN accounts snd ON snd.id = $3::bigint"
    " WHERE r.id = ANY ($6::bigint[]) AND" NOTIFY_DROP("$7::bigint", "$4::text = 'poll'")
    NOTIFY_RETURNING;

static const char mentions_sql[] =
    "INSERT INTO notifications (activity_id, activity_type, account_id, from_account_id, type)"
    " SELECT m.id, 'Mention', r.id, snd.id, 'mention'"
    " FROM statuses s JOIN accounts snd ON snd.id = s.account_id"
    " JOIN mentions m ON m.status_id = s.id AND NOT m.silent"
    " JOIN accounts r ON r.id = m.account_id"
    " WHERE s.id = $1::bigint AND s.deleted_at IS NULL AND" NOTIFY_DROP("s.id", "false")
    " AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.account_id = r.id AND b.target_account_id IN"
    "       (SELECT mm.account_id FROM mentions mm WHERE mm.status_id = s.id AND NOT mm.silent"
    "        UNION ALL SELECT s.in_reply_to_account_id))"
    " AND NOT EXISTS (SELECT 1 FROM mutes mu WHERE mu.account_id = r.id AND mu.hide_notifications"
    "       AND " ACTIVE_MUTE " AND mu.target_account_id IN"
    "       (SELECT mm.account_id FROM mentions mm WHERE mm.status_id = s.id AND NOT mm.silent"
    "        UNION ALL SELECT s.in_reply_to_account_id))"
    NOTIFY_RETURNING;

static const char forget_update_sql[] =
    "DELETE FROM notifications WHERE activity_type = 'Status' AND activity_id = $1::bigint"
    " AND type = 'update' AND account_id = ANY ($2::bigint[])";

/* Publishes the `notification` event of each inserted row, pipelined: its
 * id, for the streaming side to render for the recipient; and for a
 * recipient with Web Push subscriptions a `web_push` job on its own queue
 * (webpush), so pushes never wait behind feeds. */
static int publish_rows(redisContext *c, const PGresult *res, char *err, size_t errlen)
{
    int pending = 0;

    for (int i = 0; i < PQntuples(res); i++) {
        char channel[64], ev[96];
        /* Mastodon's NotifyService: the user's notifications channel */
        snprintf(channel, sizeof(channel), "timeline:%s:notifications", PQgetvalue(res, i, 1));
        int n = snprintf(ev, sizeof(ev), "{\"event\":\"notification\",\"notification_id\":\"%s\"}",
                         PQgetvalue(res, i, 0));
        if (redisAppendCommand(c, "PUBLISH %s %b", channel, ev, (size_t) n) == REDIS_OK)
            pending++;
    }
    while (pending-- > 0) {
        redisReply *r = NULL;
        if (redisGetReply(c, (void **) &r) != REDIS_OK || r == NULL) {
            snprintf(err, errlen, "redis: %s", c->errstr);
            return -1;
        }
        freeReplyObject(r);
    }
    for (int i = 0; i < PQntuples(res); i++) {
        char args[64], id[48];
        if (PQgetvalue(res, i, 2)[0] != 't')
            continue;
        int n = snprintf(args, sizeof(args), "{\"notification_id\":\"%s\"}", PQgetvalue(res, i, 0));
        if (queue_push(c, "webpush", "web_push", args, (size_t) n, id, sizeof(id), err,
                       errlen) != 0)
            return -1;
    }
    return 0;
}

static int insert(redisContext *c, PGconn *db, const char *const params[7], const char *type,
                  char *err, size_t errlen)
{
    /* every status' followers with notify, every favourite, reblog, follow:
     * planned once per connection */
    PGresult *res = db_query_prepared(db, "mw_notify", insert_sql, 7, params, PGRES_TUPLES_OK,
                                      err, errlen);
    if (res == NULL)
        return -1;
    if (PQntuples(res) > 0)
        mlog(LOG_DEBUG, "notify: %d %s notification(s) for activity %s %s", PQntuples(res), type,
             params[1], params[0]);
    int rc = publish_rows(c, res, err, errlen);
    PQclear(res);
    return rc;
}

int notify_poll(redisContext *c, PGconn *db, const char *recipients, const char *poll_id,
                const char *status_id, const char *author_id, char *err, size_t errlen)
{
    if (strcmp(recipients, "{}") == 0)
        return 0;
    const char *params[7] = { poll_id, "Poll", author_id, "poll", NULL, recipients, status_id };
    return insert(c, db, params, "poll", err, errlen);
}

int notify_group_key(redisContext *c, const char *type, const char *recipient_id,
                     const char *target_status_id, char *out, size_t outlen,
                     char *err, size_t errlen)
{
    char prefix[64], key[160];

    out[0] = '\0';
    if ((strcmp(type, "favourite") == 0 || strcmp(type, "reblog") == 0) && target_status_id[0] != '\0')
        snprintf(prefix, sizeof(prefix), "%s-%s", type, target_status_id);
    else if (strcmp(type, "follow") == 0)
        snprintf(prefix, sizeof(prefix), "follow");
    else
        return 0;

    snprintf(key, sizeof(key), "mastodon:notif_group:%s:%s", recipient_id, prefix);
    long long bucket = now_ms() / 1000 / 3600;
    redisReply *r = redisCommand(c, "GET %s", key);
    if (r == NULL) {
        snprintf(err, errlen, "redis: %s", c->errstr);
        return -1;
    }
    if (r->type == REDIS_REPLY_STRING) {
        long long previous = atoll(r->str);
        if (bucket < previous + GROUP_SPAN_HOURS)
            bucket = previous;
    }
    freeReplyObject(r);
    if (redis_do(c, err, errlen, "SET %s %lld EX %d", key, bucket, GROUP_SPAN_HOURS * 3600) != 0)
        return -1;
    snprintf(out, outlen, "%s-%lld", prefix, bucket);
    return 0;
}

int notify_one(redisContext *c, PGconn *db, const char *type, const char *recipient_id,
               const char *from_account_id, const char *activity_type, const char *activity_id,
               const char *target_status_id, char *err, size_t errlen)
{
    char group[160], recipients[MW_ID_LEN + 2];

    if (notify_group_key(c, type, recipient_id, target_status_id, group, sizeof(group), err, errlen) != 0)
        return -1;
    snprintf(recipients, sizeof(recipients), "{%s}", recipient_id);
    const char *params[7] = {
        activity_id, activity_type, from_account_id, type, group[0] ? group : NULL, recipients,
        target_status_id[0] ? target_status_id : NULL,
    };
    return insert(c, db, params, type, err, errlen);
}

int notify_status(redisContext *c, PGconn *db, const char *type, const char *recipients,
                  const char *status_id, const char *author_id, char *err, size_t errlen)
{
    if (strcmp(recipients, "{}") == 0)
        return 0;
    if (strcmp(type, "update") == 0) {
        const char *p[2] = { status_id, recipients };
        PGresult *res = db_query(db, forget_update_sql, 2, p, PGRES_COMMAND_OK, err, errlen);
        if (res == NULL)
            return -1;
        PQclear(res);
    }
    const char *params[7] = { status_id, "Status", author_id, type, NULL, recipients, status_id };
    return insert(c, db, params, type, err, errlen);
}

int notify_mentions(redisContext *c, PGconn *db, const char *status_id, char *err,
                    size_t errlen)
{
    const char *params[1] = { status_id };
    /* every post: planned once per connection */
    PGresult *res = db_query_prepared(db, "mw_notify_mentions", mentions_sql, 1, params,
                                      PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return -1;
    int rc = publish_rows(c, res, err, errlen);
    PQclear(res);
    return rc;
}
