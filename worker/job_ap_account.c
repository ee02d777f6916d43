/* activitypub_account {"account_id", "action"} (queue push): a local
 * account's profile change ("update": Update of the actor, to its remote
 * followers, as Mastodon's ActivityPub::UpdateDistributionWorker), its
 * deletion ("delete": Delete of the actor, once to every known host, as
 * DeleteAccountService; the account's row and key must still be there) or
 * its move ("move" with "target_account_id", the new account, and "id",
 * the migration's: Move to its followers, as MoveWorker's
 * ActivityPub::MoveSerializer), or a featured tag's addition or removal
 * ("add_tag", "remove_tag" with "tag", its name, and "display_name": Add
 * or Remove of the Hashtag to and from the featured collection, to its
 * followers, as AccountRawDistributionWorker with Add/RemoveSerializer). */
#include "ap_send.h"
#include "deliver.h"
#include "jobs.h"
#include "db.h"
#include "log.h"

#include "mstdn_ap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Move: the account's URI to the new account's (local or remote). */
static int move_activity(PGconn *db, const worker_config *cfg, const job_args *a,
                         const char *account_id, char **out, size_t *len, char *err, size_t errlen)
{
    char target_id[MW_ID_LEN], rel[MW_ID_LEN], actor[1200], target[1200];
    mstdn_ap_activity_t act;

    if (args_id(a, "target_account_id", target_id) != 1) {
        snprintf(err, errlen, "a move needs target_account_id");
        return -1;
    }
    if (args_id(a, "id", rel) != 1)
        snprintf(rel, sizeof(rel), "%s", target_id);
    const char *params[2] = { account_id, target_id };
    PGresult *res = db_query(db,
        "SELECT a.username, t.username, t.domain IS NULL, t.uri FROM accounts a, accounts t"
        " WHERE a.id = $1::bigint AND a.domain IS NULL AND t.id = $2::bigint",
        2, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return -1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return 0;
    }
    mstdn_ap_uri(actor, sizeof(actor), cfg->base, MSTDN_AP_URI_ACCOUNT, PQgetvalue(res, 0, 0), NULL);
    if (PQgetvalue(res, 0, 2)[0] == 't')
        mstdn_ap_uri(target, sizeof(target), cfg->base, MSTDN_AP_URI_ACCOUNT,
                     PQgetvalue(res, 0, 1), NULL);
    else
        snprintf(target, sizeof(target), "%s", PQgetvalue(res, 0, 3));
    PQclear(res);
    memset(&act, 0, sizeof(act));
    act.type = MSTDN_AP_MOVE;
    act.actor = actor;
    act.target = target;
    act.rel_id = rel;
    *out = ap_render(&act, len);
    if (*out == NULL) {
        snprintf(err, errlen, "the Move could not be rendered");
        return -1;
    }
    return 1;
}

/* Add or Remove of a featured tag. */
static int featured_tag_activity(PGconn *db, const worker_config *cfg, const job_args *a,
                                 const char *account_id, int add, char **out, size_t *len,
                                 char *err, size_t errlen)
{
    char actor[1200], target[1200], href[1200], name[600];
    const char *tag = args_string(a, "tag"), *display = args_string(a, "display_name");
    mstdn_ap_activity_t act;

    if (tag == NULL || *tag == '\0' || strlen(tag) > 512) {
        snprintf(err, errlen, "a featured tag's activity needs tag");
        return -1;
    }
    if (display == NULL || *display == '\0' || strlen(display) > 512)
        display = tag;
    const char *params[1] = { account_id };
    PGresult *res = db_query(db, "SELECT username FROM accounts WHERE id = $1::bigint"
                             " AND domain IS NULL", 1, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return -1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return 0;
    }
    mstdn_ap_uri(actor, sizeof(actor), cfg->base, MSTDN_AP_URI_ACCOUNT, PQgetvalue(res, 0, 0), NULL);
    mstdn_ap_uri(target, sizeof(target), cfg->base, MSTDN_AP_URI_FEATURED, PQgetvalue(res, 0, 0),
                 NULL);
    PQclear(res);
    mstdn_ap_uri(href, sizeof(href), cfg->base, MSTDN_AP_URI_TAG, tag, NULL);
    snprintf(name, sizeof(name), "#%s", display);
    memset(&act, 0, sizeof(act));
    act.type = add ? MSTDN_AP_ADD_HASHTAG : MSTDN_AP_REMOVE_HASHTAG;
    act.actor = actor;
    act.target = target;
    act.object = href;
    act.content = name;
    *out = ap_render(&act, len);
    if (*out == NULL) {
        snprintf(err, errlen, "the %s could not be rendered", add ? "Add" : "Remove");
        return -1;
    }
    return 1;
}

int job_activitypub_account(job_ctx *ctx, const char *args_json, size_t len,
                            char *err, size_t errlen)
{
    job_args a;
    char account_id[MW_ID_LEN];
    const char *action;
    char *body = NULL, **inboxes = NULL;
    size_t blen = 0;
    long n = 0;
    int rc = -1;

    if (args_parse(&a, args_json, len, err, errlen) != 0)
        return -1;
    action = args_string(&a, "action");
    if (args_id(&a, "account_id", account_id) != 1 || action == NULL
        || (strcmp(action, "update") != 0 && strcmp(action, "delete") != 0
            && strcmp(action, "move") != 0 && strcmp(action, "add_tag") != 0
            && strcmp(action, "remove_tag") != 0)) {
        snprintf(err, errlen, "args need account_id and action (update, delete, move,"
                 " add_tag or remove_tag)");
        goto out;
    }
    PGconn *db = job_db(ctx, err, errlen);
    if (db == NULL)
        goto out;
    int found;
    if (strcmp(action, "move") == 0)
        found = move_activity(db, ctx->cfg, &a, account_id, &body, &blen, err, errlen);
    else if (strcmp(action, "add_tag") == 0 || strcmp(action, "remove_tag") == 0)
        found = featured_tag_activity(db, ctx->cfg, &a, account_id, action[0] == 'a', &body,
                                      &blen, err, errlen);
    else
        found = ap_account_activity(db, ctx->cfg, account_id, action, &body, &blen, err, errlen);
    if (found <= 0) {
        rc = found;
        goto out;
    }
    n = deliver_inboxes(db, strcmp(action, "delete") == 0 ? "account_delete" : "account",
                        account_id, NULL, NULL, &inboxes, err, errlen);
    if (n < 0)
        goto out;
    deliver_stats st;
    rc = deliver(ctx, db, account_id, body, blen, inboxes, (size_t) n, 0, &st, err, errlen);
    if (rc == 0)
        mlog(LOG_INFO, "activitypub_account %s of %s: %ld inbox(es): %zu delivered, %zu to retry",
             action, account_id, n, st.delivered, st.failed);
out:
    deliver_inboxes_free(inboxes, n);
    free(body);
    args_free(&a);
    return rc;
}
