/* Whether a status of a big account is merged on read rather than pushed
 * (issue 10): one statement, which also records the switch the first time
 * the author's follower count (account_stats) reaches the threshold.  The
 * count is a counter, not a scan: the same work for 1,000,000 followers as
 * for 1,000. */
#include "big_accounts.h"
#include "db.h"
#include "log.h"
#include "recipients.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char big_account_sql[] =
    "WITH b AS (SELECT since_status_id FROM feed_big_accounts WHERE account_id = $1::bigint),"
    " n AS (INSERT INTO feed_big_accounts (account_id, since_status_id)"
    "        SELECT $1::bigint, $2::bigint"
    "         WHERE $3::bigint > 0 AND NOT EXISTS (SELECT 1 FROM b)"
    "           AND (SELECT followers_count FROM account_stats"
    "                 WHERE account_id = $1::bigint) >= $3::bigint"
    /* two jobs in the switch's moment: the second waits for the first's
     * row and lowers it to its own status if older, so that neither is
     * pushed nor lost (the read takes statuses from the switch on) */
    "        ON CONFLICT (account_id) DO UPDATE SET since_status_id ="
    "         least(feed_big_accounts.since_status_id, EXCLUDED.since_status_id)"
    "        RETURNING since_status_id, xmax = 0 AS inserted)"
    " SELECT EXISTS (SELECT 1 FROM b WHERE since_status_id <= $2::bigint)"
    "     OR EXISTS (SELECT 1 FROM n WHERE since_status_id <= $2::bigint),"
    "        EXISTS (SELECT 1 FROM n WHERE inserted)";

int big_account_merged(PGconn *db, const status_facts *f, long threshold,
                       char *err, size_t errlen)
{
    char limit[24];

    if (f->visibility == VISIBILITY_DIRECT)
        return 0;
    /* status_load() read the switch and the follower count: a statement
     * only for an account at the threshold without a switch yet (the
     * statement reads them again, in its own snapshot) */
    if (f->big_since_status_id[0] != '\0')
        return strtoull(f->big_since_status_id, NULL, 10) <= strtoull(f->id, NULL, 10);
    if (threshold <= 0 || f->author_followers < threshold)
        return 0;
    snprintf(limit, sizeof(limit), "%ld", threshold);
    const char *params[3] = { f->account_id, f->id, limit };
    PGresult *res = db_query_prepared(db, "mw_big_account", big_account_sql, 3, params,
                                      PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return -1;
    int merged = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
    if (merged && PQgetvalue(res, 0, 1)[0] == 't')
        merged = 2;                     /* the switch, recorded now */
    PQclear(res);
    return merged;
}

static const char is_merged_sql[] =
    "SELECT EXISTS (SELECT 1 FROM feed_big_accounts"
    "                WHERE account_id = $1::bigint AND since_status_id <= $2::bigint)";

int big_account_is_merged(PGconn *db, const char *account_id, const char *status_id,
                          int visibility, char *err, size_t errlen)
{
    if (visibility == VISIBILITY_DIRECT)
        return 0;
    const char *params[2] = { account_id, status_id };
    PGresult *res = db_query_prepared(db, "mw_big_account_is_merged", is_merged_sql, 2, params,
                                      PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return -1;
    int merged = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    return merged;
}

/* The accounts with a subscriber on timeline:<id>, as a PostgreSQL array
 * literal ("{}" when none).  NULL + err. */
static char *connected_accounts(redisContext *c, char *err, size_t errlen)
{
    redisReply *r = redisCommand(c, "PUBSUB CHANNELS " STREAM_HOME_CHANNELS);
    char *ids = NULL;
    size_t used = 0;

    if (r == NULL) {
        snprintf(err, errlen, "redis: %s", c->errstr);
        return NULL;
    }
    if (r->type != REDIS_REPLY_ARRAY) {
        snprintf(err, errlen, "redis: PUBSUB CHANNELS: %s",
                 r->type == REDIS_REPLY_ERROR ? r->str : "not an array");
        goto done;
    }
    ids = malloc(3 + r->elements * MW_ID_LEN);
    if (ids == NULL) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    ids[used++] = '{';
    for (size_t i = 0; i < r->elements; i++) {
        redisReply *ch = r->element[i];
        const char *id;
        size_t n = ch->type == REDIS_REPLY_STRING ? stream_home_channel_id(ch->str, ch->len, &id)
                                                  : 0;
        if (n == 0)
            continue;
        if (used > 1)
            ids[used++] = ',';
        memcpy(ids + used, id, n);
        used += n;
    }
    ids[used++] = '}';
    ids[used] = '\0';
done:
    freeReplyObject(r);
    return ids;
}

int big_account_stream(redisContext *c, PGconn *db, const char *account_id,
                       const status_facts *f, const char *event_key, const stream_event *ev,
                       char *err, size_t errlen)
{
    char *ids = connected_accounts(c, err, errlen), *stored = NULL;
    const char *text = ev != NULL ? ev->text : NULL;
    size_t len = ev != NULL ? ev->len : 0;
    PGresult *res = NULL;
    int rc = -1, sent = 0;

    if (ids == NULL)
        return -1;
    if (strcmp(ids, "{}") == 0) {
        rc = 0;
        goto done;
    }
    res = recipients_among(db, account_id, f, ids, err, errlen);
    if (res == NULL)
        goto done;
    if (PQntuples(res) > 0 && text == NULL) {
        redisReply *r = redisCommand(c, "GET %s", event_key);
        if (r == NULL) {
            snprintf(err, errlen, "redis: %s", c->errstr);
            goto done;
        }
        if (r->type == REDIS_REPLY_STRING && (stored = malloc(r->len + 1)) != NULL) {
            memcpy(stored, r->str, r->len);
            len = r->len;
            text = stored;
        }
        freeReplyObject(r);
    }
    rc = 0;
    if (text != NULL && PQntuples(res) > 0) {
        stream_event shown = { (char *) text, len };
        rc = stream_accounts(c, res, &shown, err, errlen);
        sent = PQntuples(res);
    }
    if (rc == 0 && sent > 0)
        mlog(LOG_DEBUG, "big account %s: an event to %d follower(s) connected", account_id, sent);
done:
    PQclear(res);
    free(ids);
    free(stored);
    return rc;
}
