/* Whether a status of a big account is merged on read rather than pushed
 * (issue 10): one statement, which also records the switch the first time
 * the author's follower count (account_stats) reaches the threshold.  The
 * count is a counter, not a scan: the same work for 1,000,000 followers as
 * for 1,000. */
#include "big_accounts.h"
#include "db.h"

#include <stdio.h>

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
