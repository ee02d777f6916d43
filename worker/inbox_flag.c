/* Flag (Mastodon's ActivityPub::Activity::Flag): another server reports
 * some of our accounts, perhaps with some of their statuses.  A report is
 * stored per local account named among the objects, by the actor (in
 * practice that server's instance actor: Mastodon sends Flags from it),
 * with the statuses of that account named too, the content as the comment
 * (its first 5000 characters) and the Flag's id as the report's uri.
 *
 * Refused: a domain blocked with reject_reports (DomainBlock.
 * reject_reports?), suspended accounts.  ReportService's relaxed rule for a
 * remote reporter: a status counts if public or unlisted, private when the
 * account has followers on the reporter's domain, or mentioning someone
 * there.  Not done: reports of remote accounts replying to ours (Mastodon
 * stores them when the statuses answer local accounts). */
#include "inbox.h"
#include "db.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FLAG_OBJECTS_MAX  200

/* $1 the reporter, $2 the account, $3 its statuses named (bigint[]), $4
 * the comment, $5 the Flag's id, $6 the reporter's domain */
static const char insert_sql[] =
    "INSERT INTO reports (account_id, target_account_id, status_ids, comment, uri, forwarded)"
    " SELECT $1::bigint, t.id,"
    "  coalesce((SELECT array_agg(s.id ORDER BY s.id) FROM statuses s"
    "   WHERE s.id = ANY($3::bigint[]) AND s.account_id = t.id"
    "   AND (s.visibility IN (0, 1)"
    "    OR (s.visibility = 2 AND EXISTS (SELECT 1 FROM follows f"
    "     JOIN accounts fa ON fa.id = f.account_id"
    "     WHERE f.target_account_id = t.id AND lower(fa.domain) = $6))"
    "    OR EXISTS (SELECT 1 FROM mentions m JOIN accounts ma ON ma.id = m.account_id"
    "     WHERE m.status_id = s.id AND lower(ma.domain) = $6))), '{}'),"
    "  left($4, 5000), $5, false"
    " FROM accounts t WHERE t.id = $2::bigint AND t.domain IS NULL AND t.id > 0"
    " AND t.suspended_at IS NULL"
    " RETURNING id";

static int reports_rejected(inbox_activity *ib, char *err, size_t errlen)
{
    const char *params[1] = { ib->actor_host };
    PGresult *res = db_query(ib->db, "SELECT 1 FROM mastodon_domain_block($1)"
                             " WHERE reject_reports OR severity = 1",
                             1, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return -1;
    int rejected = PQntuples(res) > 0;
    PQclear(res);
    return rejected;
}

/* "{1,2}" of the statuses found whose author is account; malloc'd */
static char *statuses_of(char (*ids)[MW_ID_LEN], char (*authors)[MW_ID_LEN], size_t n,
                         const char *account)
{
    char *list = malloc(3 + n * MW_ID_LEN);
    size_t used = 0;

    if (list == NULL)
        return NULL;
    list[used++] = '{';
    for (size_t i = 0; i < n; i++) {
        if (strcmp(authors[i], account) != 0)
            continue;
        used += (size_t) sprintf(list + used, "%s%s", used > 1 ? "," : "", ids[i]);
    }
    list[used++] = '}';
    list[used] = '\0';
    return list;
}

int inbox_flag(inbox_activity *ib, char *err, size_t errlen)
{
    const mstdn_value_t *object = mstdn_object_get(ib->json, "object");
    char (*accounts)[MW_ID_LEN] = NULL, (*ids)[MW_ID_LEN] = NULL, (*authors)[MW_ID_LEN] = NULL;
    size_t naccounts = 0, nstatuses = 0, stored = 0;
    int rc = INBOX_DONE;

    int rejected = reports_rejected(ib, err, errlen);
    if (rejected != 0) {
        if (rejected > 0)
            mlog(LOG_INFO, "inbox: Flag %s: reports from %s are rejected", ib->id,
                 ib->actor_host);
        return rejected > 0 ? INBOX_DONE : INBOX_RETRY;
    }

    accounts = calloc(FLAG_OBJECTS_MAX, MW_ID_LEN);
    ids = calloc(FLAG_OBJECTS_MAX, MW_ID_LEN);
    authors = calloc(FLAG_OBJECTS_MAX, MW_ID_LEN);
    if (accounts == NULL || ids == NULL || authors == NULL) {
        snprintf(err, errlen, "out of memory");
        rc = INBOX_RETRY;
        goto out;
    }

    /* what the objects name: our accounts, and statuses (whose authors
     * are checked below) */
    int many = object != NULL && object->type == MSTDN_ARRAY;
    size_t seen = 0;
    for (const mstdn_value_t *o = many ? object->first : object; o != NULL && seen < FLAG_OBJECTS_MAX;
         o = many ? o->next : NULL, seen++) {
        const char *uri = inbox_ref(o);
        char id[MW_ID_LEN], author[MW_ID_LEN];
        int local = 0;

        int found = inbox_local_account(ib, uri, id, err, errlen);
        if (found == 1 && strcmp(id, "-99") != 0) {
            int dup = 0;
            for (size_t k = 0; k < naccounts && !dup; k++)
                dup = strcmp(accounts[k], id) == 0;
            if (!dup)
                memcpy(accounts[naccounts++], id, MW_ID_LEN);
            continue;
        }
        if (found < 0) {
            rc = INBOX_RETRY;
            goto out;
        }
        found = inbox_status(ib, uri, id, author, &local, err, errlen);
        if (found < 0) {
            rc = INBOX_RETRY;
            goto out;
        }
        if (found == 1 && local) {
            memcpy(ids[nstatuses], id, MW_ID_LEN);
            memcpy(authors[nstatuses++], author, MW_ID_LEN);
        }
    }

    if (naccounts == 0) {
        mlog(LOG_INFO, "inbox: Flag %s by %s names none of our accounts", ib->id, ib->actor_uri);
        goto out;
    }

    const char *content = inbox_str(ib->json, "content");
    int first = inbox_begin(ib, err, errlen);
    if (first <= 0) {
        if (first == 0)
            mlog(LOG_INFO, "inbox: Flag %s was processed before", ib->id);
        rc = first == 0 ? INBOX_DONE : INBOX_RETRY;
        goto out;
    }
    for (size_t i = 0; i < naccounts; i++) {
        char *list = statuses_of(ids, authors, nstatuses, accounts[i]);
        if (list == NULL) {
            snprintf(err, errlen, "out of memory");
            inbox_rollback(ib);
            rc = INBOX_RETRY;
            goto out;
        }
        const char *params[6] = { ib->actor_id, accounts[i], list, content ? content : "",
                                  ib->id, ib->actor_host };
        PGresult *res = inbox_sql(ib, insert_sql, 6, params, PGRES_TUPLES_OK, err, errlen);
        free(list);
        if (res == NULL) {
            inbox_rollback(ib);
            rc = INBOX_RETRY;
            goto out;
        }
        stored += (size_t) PQntuples(res);
        PQclear(res);
    }
    if (inbox_commit(ib, err, errlen) != 0) {
        rc = INBOX_RETRY;
        goto out;
    }
    mlog(LOG_INFO, "inbox: Flag %s by %s: %zu report(s) stored", ib->id, ib->actor_uri, stored);
out:
    free(accounts);
    free(ids);
    free(authors);
    return rc;
}
