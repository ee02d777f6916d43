/* activitypub_relationship (queue push): what a local account's action
 * tells a remote account, rendered by lib/mstdn_ap and delivered to its
 * inbox (mastodon_delivery_inboxes('target')).  The module writes the job
 * in the statement of the action (NGX_HTTP_MASTODON_OUTBOX_AP*), for
 * remote accounts only.  args {"type", "id" (the row's), "account_id"
 * (local), "target_account_id" (remote), "uri" (the row's, or null),
 * "status_id" (like, undo_like)}:
 *
 *   follow       Follow (FollowService for a remote account: a follow
 *                request until its Accept); its id ACTOR#follows/ID is
 *                stored in follow_requests.uri, so the Accept is matched
 *   undo_follow  Undo of that Follow (UnfollowService, a withdrawn request)
 *   accept       Accept of the remote's Follow (uri) (AuthorizeFollow)
 *   reject       Reject of it (RejectFollow, RemoveFromFollowers)
 *   block        Block; undo_block: Undo of it
 *   like         Like of the remote's status; undo_like: Undo of it */
#include "ap_send.h"
#include "db.h"
#include "deliver.h"
#include "jobs.h"
#include "log.h"

#include "mstdn_ap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char local_actor[1200];
    char remote_actor[1200];
    char status_uri[1200];
    char target_id[32];
} rel_parties;

/* the local actor's URI, the remote's, and for a like the status' */
static int parties(PGconn *db, const worker_config *cfg, const char *account_id,
                   const char *target_id, const char *status_id, rel_parties *p,
                   char *err, size_t errlen)
{
    const char *params[3] = { account_id, target_id, status_id };
    PGresult *res = db_query(db,
        "SELECT la.username, ra.uri, s.uri, ra.id::text"
        " FROM accounts la"
        " LEFT JOIN statuses s ON s.id = $3::bigint"
        " JOIN accounts ra ON ra.id = coalesce($2::bigint, s.account_id)"
        " WHERE la.id = $1::bigint AND la.domain IS NULL AND ra.domain IS NOT NULL",
        3, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return -1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return 0;
    }
    if (mstdn_ap_uri(p->local_actor, sizeof(p->local_actor), cfg->base, MSTDN_AP_URI_ACCOUNT,
                     PQgetvalue(res, 0, 0), NULL) < 0)
        p->local_actor[0] = '\0';
    snprintf(p->remote_actor, sizeof(p->remote_actor), "%s", PQgetvalue(res, 0, 1));
    snprintf(p->status_uri, sizeof(p->status_uri), "%s", PQgetvalue(res, 0, 2));
    snprintf(p->target_id, sizeof(p->target_id), "%s", PQgetvalue(res, 0, 3));
    PQclear(res);
    return p->local_actor[0] != '\0' && p->remote_actor[0] != '\0';
}

/* The Follow's id: the request's uri, given it once (ACTOR#follows/ID). */
static int follow_uri(PGconn *db, const char *request_id, const char *actor, char *uri,
                      size_t urilen, char *err, size_t errlen)
{
    char mine[1300];
    snprintf(mine, sizeof(mine), "%s#follows/%s", actor, request_id);
    const char *params[2] = { request_id, mine };
    PGresult *res = db_query(db,
        "UPDATE follow_requests SET uri = coalesce(uri, $2)"
        " WHERE id = $1::bigint RETURNING uri",
        2, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return -1;
    int found = PQntuples(res) == 1;
    if (found)
        snprintf(uri, urilen, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return found;
}

int job_activitypub_relationship(job_ctx *ctx, const char *args_json, size_t len,
                                 char *err, size_t errlen)
{
    job_args a;
    char account_id[MW_ID_LEN], target_id[MW_ID_LEN], status_id[MW_ID_LEN], id[MW_ID_LEN];
    char follow_id[1300], *body = NULL, **inboxes = NULL;
    const char *type, *uri;
    mstdn_ap_activity_t act, inner;
    rel_parties p;
    size_t blen = 0;
    long n = 0;
    int rc = -1, like;

    if (args_parse(&a, args_json, len, err, errlen) != 0)
        return -1;
    type = args_string(&a, "type");
    uri = args_string(&a, "uri");
    like = type != NULL && (strcmp(type, "like") == 0 || strcmp(type, "undo_like") == 0);
    if (type == NULL || args_id(&a, "id", id) != 1 || args_id(&a, "account_id", account_id) != 1
        || (like ? args_id(&a, "status_id", status_id) != 1
                 : args_id(&a, "target_account_id", target_id) != 1)) {
        snprintf(err, errlen, "args need type, id, account_id and target_account_id or status_id");
        goto out;
    }
    PGconn *db = job_db(ctx, err, errlen);
    if (db == NULL)
        goto out;
    memset(&p, 0, sizeof(p));
    int found = parties(db, ctx->cfg, account_id, like ? NULL : target_id, like ? status_id : NULL,
                        &p, err, errlen);
    if (found <= 0) {
        rc = found;
        if (found == 0)
            mlog(LOG_DEBUG, "activitypub_relationship %s: the accounts are gone", type);
        goto out;
    }

    memset(&act, 0, sizeof(act));
    memset(&inner, 0, sizeof(inner));
    if (strcmp(type, "follow") == 0) {
        found = follow_uri(db, id, p.local_actor, follow_id, sizeof(follow_id), err, errlen);
        if (found <= 0) {
            rc = found;             /* withdrawn before it went: nothing to say */
            goto out;
        }
        act.type = MSTDN_AP_FOLLOW;
        act.id = follow_id;
        act.actor = p.local_actor;
        act.object = p.remote_actor;
    } else if (strcmp(type, "undo_follow") == 0) {
        inner.type = MSTDN_AP_FOLLOW;
        inner.id = uri;
        inner.rel_id = id;
        inner.actor = p.local_actor;
        inner.object = p.remote_actor;
        act.type = MSTDN_AP_UNDO;
        act.inner = &inner;
    } else if (strcmp(type, "accept") == 0 || strcmp(type, "reject") == 0) {
        inner.type = MSTDN_AP_FOLLOW;
        inner.id = uri;
        inner.actor = p.remote_actor;
        inner.object = p.local_actor;
        act.type = type[0] == 'a' ? MSTDN_AP_ACCEPT : MSTDN_AP_REJECT;
        act.actor = p.local_actor;
        act.rel_id = id;
        act.inner = &inner;
    } else if (strcmp(type, "block") == 0 || strcmp(type, "undo_block") == 0) {
        inner.type = MSTDN_AP_BLOCK;
        inner.id = uri;
        inner.rel_id = id;
        inner.actor = p.local_actor;
        inner.object = p.remote_actor;
        if (type[0] == 'b') {
            act = inner;
        } else {
            act.type = MSTDN_AP_UNDO;
            act.inner = &inner;
        }
    } else if (like) {
        inner.type = MSTDN_AP_LIKE;
        inner.rel_id = id;
        inner.actor = p.local_actor;
        inner.object = p.status_uri;
        if (strcmp(type, "like") == 0) {
            act = inner;
        } else {
            act.type = MSTDN_AP_UNDO;
            act.inner = &inner;
        }
    } else {
        snprintf(err, errlen, "unknown relationship type \"%.40s\"", type);
        goto out;
    }

    body = ap_render(&act, &blen);
    if (body == NULL) {
        snprintf(err, errlen, "activitypub_relationship %s: the activity could not be rendered", type);
        goto out;
    }
    n = deliver_inboxes(db, "target", account_id, NULL, p.target_id, &inboxes, err, errlen);
    if (n < 0)
        goto out;
    deliver_stats st;
    rc = deliver(ctx, db, account_id, body, blen, inboxes, (size_t) n, 0, &st, err, errlen);
    if (rc == 0)
        mlog(LOG_INFO, "activitypub_relationship %s of %s: %zu delivered, %zu to retry", type,
             account_id, st.delivered, st.failed);
out:
    deliver_inboxes_free(inboxes, n);
    free(body);
    args_free(&a);
    return rc;
}
