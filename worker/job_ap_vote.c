/* activitypub_vote {"vote_id"} (queue push): a local account's vote on a
 * remote poll to the poll's author, as Mastodon's VoteService#deliver_votes!:
 * a Create of a Note named after the option, in reply to the poll's status
 * (lib/mstdn_ap MSTDN_AP_VOTE, ActivityPub::VoteSerializer), signed by the
 * voter, to the author's own inbox.  Written by mastodon_poll_vote() (sql/
 * 0022) with the vote. */
#include "ap_send.h"
#include "db.h"
#include "deliver.h"
#include "jobs.h"
#include "log.h"

#include "mstdn_ap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char vote_sql[] =
    "SELECT va.username, s.uri, pa.uri, pa.inbox_url, p.options[v.choice + 1],"
    " v.account_id::text"
    " FROM poll_votes v JOIN polls p ON p.id = v.poll_id"
    " JOIN statuses s ON s.id = p.status_id"
    " JOIN accounts pa ON pa.id = p.account_id JOIN accounts va ON va.id = v.account_id"
    " WHERE v.id = $1::bigint AND va.domain IS NULL AND pa.domain IS NOT NULL"
    " AND s.deleted_at IS NULL AND s.uri IS NOT NULL AND pa.inbox_url <> ''"
    " AND p.options[v.choice + 1] IS NOT NULL";

int job_activitypub_vote(job_ctx *ctx, const char *args_json, size_t len, char *err,
                         size_t errlen)
{
    job_args a;
    char vote_id[MW_ID_LEN], actor[1200];
    char *body = NULL;
    size_t blen = 0;
    PGresult *res = NULL;
    int rc = -1;

    if (args_parse(&a, args_json, len, err, errlen) != 0)
        return -1;
    if (args_id(&a, "vote_id", vote_id) != 1) {
        snprintf(err, errlen, "args need vote_id (an id string)");
        goto out;
    }
    PGconn *db = job_db(ctx, err, errlen);
    if (db == NULL)
        goto out;
    const char *params[1] = { vote_id };
    res = db_query(db, vote_sql, 1, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        goto out;
    if (PQntuples(res) != 1) {
        mlog(LOG_INFO, "activitypub_vote: vote %s: nothing to send", vote_id);
        rc = 0;
        goto out;
    }
    if (mstdn_ap_uri(actor, sizeof(actor), ctx->cfg->base, MSTDN_AP_URI_ACCOUNT,
                     PQgetvalue(res, 0, 0), NULL) < 0) {
        snprintf(err, errlen, "vote %s: the voter's URI is too long", vote_id);
        goto out;
    }

    mstdn_ap_activity_t act;
    memset(&act, 0, sizeof(act));
    act.type = MSTDN_AP_VOTE;
    act.actor = actor;
    act.rel_id = vote_id;
    act.object = PQgetvalue(res, 0, 1);
    act.target = PQgetvalue(res, 0, 2);
    act.content = PQgetvalue(res, 0, 4);
    body = ap_render(&act, &blen);
    if (body == NULL) {
        snprintf(err, errlen, "vote %s: the activity could not be rendered", vote_id);
        goto out;
    }

    char *inbox = PQgetvalue(res, 0, 3);
    deliver_stats st;
    rc = deliver(ctx, db, PQgetvalue(res, 0, 5), body, blen, &inbox, 1, 0, &st, err, errlen);
    if (rc == 0)
        mlog(LOG_INFO, "activitypub_vote %s: %zu delivered, %zu given up, %zu skipped, "
             "%zu to retry", vote_id, st.delivered, st.given_up, st.skipped, st.failed);
out:
    free(body);
    PQclear(res);
    args_free(&a);
    return rc;
}
