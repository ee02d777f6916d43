/* activitypub_flag (queue push): a report forwarded to the reported
 * account's server, as Mastodon's ReportService#forward_to_origin!: a Flag
 * from the instance actor (account -99: the reporter stays anonymous) of
 * the account and the statuses, with the comment, to the account's inbox.
 * args {"id" (the report's), "target_account_id" (remote), "status_ids"
 * ([ids]), "comment", "uri" (the Flag's id; default base/reports/ID)}. */
#include "ap_send.h"
#include "db.h"
#include "deliver.h"
#include "jobs.h"
#include "log.h"

#include "mstdn_ap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int job_activitypub_flag(job_ctx *ctx, const char *args_json, size_t len,
                         char *err, size_t errlen)
{
    job_args a;
    char id[MW_ID_LEN], target_id[MW_ID_LEN], uri[1200], actor[1200];
    char *body = NULL, **inboxes = NULL, *ids = NULL;
    const char **objects = NULL;
    mstdn_ap_activity_t act;
    PGresult *res = NULL;
    size_t blen = 0;
    long n = 0;
    int rc = -1;

    if (args_parse(&a, args_json, len, err, errlen) != 0)
        return -1;
    if (args_id(&a, "id", id) != 1 || args_id(&a, "target_account_id", target_id) != 1) {
        snprintf(err, errlen, "args need id and target_account_id");
        goto out;
    }
    PGconn *db = job_db(ctx, err, errlen);
    if (db == NULL)
        goto out;

    /* the account's URI, then its reported statuses' (only its own) */
    yajl_val list = yajl_tree_get(a.root, (const char *[]) { "status_ids", NULL }, yajl_t_array);
    size_t cap = 16, used = 2;
    ids = malloc(cap);
    if (ids == NULL)
        goto oom;
    strcpy(ids, "{");
    for (size_t i = 0; list != NULL && i < list->u.array.len; i++) {
        const char *s = YAJL_IS_STRING(list->u.array.values[i])
                        ? YAJL_GET_STRING(list->u.array.values[i]) : NULL;
        if (s == NULL || s[0] == '\0' || strspn(s, "0123456789") != strlen(s) || strlen(s) > 19)
            continue;
        if (used + strlen(s) + 2 > cap) {
            cap = 2 * (used + strlen(s) + 2);
            char *p = realloc(ids, cap);
            if (p == NULL)
                goto oom;
            ids = p;
        }
        if (used > 2)
            strcat(ids, ",");
        strcat(ids, s);
        used = strlen(ids) + 1;
    }
    strcat(ids, "}");
    const char *params[2] = { target_id, ids };
    res = db_query(db,
        "SELECT t.uri, 0 AS o FROM accounts t WHERE t.id = $1::bigint AND t.domain IS NOT NULL"
        " UNION ALL SELECT s.uri, 1 FROM statuses s"
        " WHERE s.id = ANY($2::bigint[]) AND s.account_id = $1::bigint AND s.uri IS NOT NULL"
        " ORDER BY 2", 2, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        goto out;
    if (PQntuples(res) == 0 || strcmp(PQgetvalue(res, 0, 1), "0") != 0) {
        rc = 0;                         /* not a remote account (any more) */
        goto out;
    }
    objects = calloc((size_t) PQntuples(res), sizeof(char *));
    if (objects == NULL)
        goto oom;
    for (int r = 0; r < PQntuples(res); r++)
        objects[r] = PQgetvalue(res, r, 0);

    const char *given = args_string(&a, "uri");
    if (given != NULL && given[0] != '\0')
        snprintf(uri, sizeof(uri), "%s", given);
    else
        snprintf(uri, sizeof(uri), "%s/reports/%s", ctx->cfg->base, id);
    mstdn_ap_uri(actor, sizeof(actor), ctx->cfg->base, MSTDN_AP_URI_INSTANCE_ACTOR, NULL, NULL);
    memset(&act, 0, sizeof(act));
    act.type = MSTDN_AP_FLAG;
    act.id = uri;
    act.actor = actor;
    act.content = args_string(&a, "comment");
    act.objects = objects;
    act.nobjects = (size_t) PQntuples(res);
    body = ap_render(&act, &blen);
    if (body == NULL) {
        snprintf(err, errlen, "the Flag could not be rendered");
        goto out;
    }
    n = deliver_inboxes(db, "target", AP_INSTANCE_ACTOR_ID, NULL, target_id, &inboxes, err, errlen);
    if (n < 0)
        goto out;
    deliver_stats st;
    rc = deliver(ctx, db, AP_INSTANCE_ACTOR_ID, body, blen, inboxes, (size_t) n, 0, &st, err, errlen);
    if (rc == 0)
        mlog(LOG_INFO, "activitypub_flag of report %s: %zu delivered, %zu to retry", id,
             st.delivered, st.failed);
    goto out;
oom:
    snprintf(err, errlen, "out of memory");
out:
    free(objects);
    PQclear(res);
    free(ids);
    deliver_inboxes_free(inboxes, n);
    free(body);
    args_free(&a);
    return rc;
}
