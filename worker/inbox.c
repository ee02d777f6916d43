/* What the inbox handlers share (inbox.h): JSON references, our own URIs,
 * statuses by URI, the transaction that records an activity once. */
#include "inbox.h"
#include "db.h"
#include "fetch.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mstdn_sanitize.h"

const mstdn_limits_t inbox_json_limits = { 32, 20000 };

const char *inbox_str(const mstdn_value_t *obj, const char *key)
{
    const mstdn_value_t *v = obj != NULL && obj->type == MSTDN_OBJECT
                             ? mstdn_object_get(obj, key) : NULL;
    return v != NULL && v->type == MSTDN_STRING ? v->str : NULL;
}

const char *inbox_ref(const mstdn_value_t *v)
{
    if (v == NULL)
        return NULL;
    if (v->type == MSTDN_STRING)
        return v->str;
    if (v->type == MSTDN_OBJECT)
        return inbox_str(v, "id");
    return NULL;
}

const char *inbox_ref_of(const mstdn_value_t *obj, const char *key)
{
    if (obj == NULL || obj->type != MSTDN_OBJECT)
        return NULL;
    return inbox_ref(mstdn_object_get(obj, key));
}

int inbox_type_is(const mstdn_value_t *obj, const char *type)
{
    const mstdn_value_t *t = obj != NULL && obj->type == MSTDN_OBJECT
                             ? mstdn_object_get(obj, "type") : NULL;
    if (t == NULL)
        return 0;
    if (t->type == MSTDN_STRING)
        return strcmp(t->str, type) == 0;
    if (t->type == MSTDN_ARRAY) {
        for (const mstdn_value_t *e = t->first; e != NULL; e = e->next) {
            if (e->type == MSTDN_STRING && strcmp(e->str, type) == 0)
                return 1;
        }
    }
    return 0;
}

int inbox_on_host(const char *uri, const char *host)
{
    char h[INBOX_HOST_MAX];

    if (uri == NULL || strlen(uri) > MSTDN_REMOTE_URL_MAX
        || (strncasecmp(uri, "https://", 8) != 0 && strncasecmp(uri, "http://", 7) != 0)
        || fetch_url_host(uri, h, sizeof(h)) != 0)
        return 0;
    return strcmp(h, host) == 0;
}

int inbox_local_account(inbox_activity *ib, const char *uri, char out[MW_ID_LEN],
                        char *err, size_t errlen)
{
    const char *base = ib->ctx->cfg->base;
    size_t n = strlen(base);

    if (uri == NULL || strncmp(uri, base, n) != 0)
        return 0;
    uri += n;
    if (strcmp(uri, "/actor") == 0) {
        snprintf(out, MW_ID_LEN, "-99");
        return 1;
    }
    if (strncmp(uri, "/users/", 7) != 0)
        return 0;
    const char *name = uri + 7;
    size_t len = strlen(name);
    if (len == 0 || len > 30 || strspn(name, "abcdefghijklmnopqrstuvwxyz"
                                            "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != len)
        return 0;

    const char *params[1] = { name };
    PGresult *res = db_query(ib->db, "SELECT id FROM accounts WHERE domain IS NULL"
                             " AND lower(username) = lower($1) AND suspended_at IS NULL",
                             1, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return -1;
    int found = PQntuples(res) == 1;
    if (found)
        snprintf(out, MW_ID_LEN, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return found;
}

int inbox_status(inbox_activity *ib, const char *uri, char id[MW_ID_LEN],
                 char account[MW_ID_LEN], int *local, char *err, size_t errlen)
{
    if (uri == NULL || strlen(uri) > MSTDN_REMOTE_URL_MAX)
        return 0;
    const char *params[1] = { uri };
    PGresult *res = db_query(ib->db, "SELECT s.id, s.account_id, a.domain IS NULL"
                             " FROM statuses s JOIN accounts a ON a.id = s.account_id"
                             " WHERE s.uri = $1 AND s.deleted_at IS NULL",
                             1, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return -1;
    int found = PQntuples(res) == 1;
    if (found) {
        snprintf(id, MW_ID_LEN, "%s", PQgetvalue(res, 0, 0));
        snprintf(account, MW_ID_LEN, "%s", PQgetvalue(res, 0, 1));
        *local = PQgetvalue(res, 0, 2)[0] == 't';
    }
    PQclear(res);
    return found;
}

int inbox_tombstoned(inbox_activity *ib, const char *uri, char *err, size_t errlen)
{
    const char *params[1] = { uri };
    PGresult *res = db_query(ib->db, "SELECT 1 FROM tombstones WHERE uri = $1", 1, params,
                             PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return -1;
    int found = PQntuples(res) > 0;
    PQclear(res);
    return found;
}

int inbox_begin(inbox_activity *ib, char *err, size_t errlen)
{
    if (db_exec(ib->db, "BEGIN", err, errlen) != 0)
        return -1;
    const char *params[1] = { ib->id };
    PGresult *res = db_query(ib->db, "INSERT INTO ap_processed_activities (uri) VALUES ($1)"
                             " ON CONFLICT DO NOTHING RETURNING 1", 1, params,
                             PGRES_TUPLES_OK, err, errlen);
    if (res == NULL) {
        inbox_rollback(ib);
        return -1;
    }
    int first = PQntuples(res) == 1;
    PQclear(res);
    if (!first)
        inbox_rollback(ib);
    return first;
}

int inbox_commit(inbox_activity *ib, char *err, size_t errlen)
{
    if (db_exec(ib->db, "COMMIT", err, errlen) != 0) {
        inbox_rollback(ib);
        return -1;
    }
    return 0;
}

void inbox_rollback(inbox_activity *ib)
{
    char ignored[64];
    (void) db_exec(ib->db, "ROLLBACK", ignored, sizeof(ignored));
}

PGresult *inbox_sql(inbox_activity *ib, const char *sql, int n, const char *const *params,
                    ExecStatusType want, char *err, size_t errlen)
{
    return db_query(ib->db, sql, n, params, want, err, errlen);
}

char *inbox_html(const char *html, size_t max_chars, char *err, size_t errlen)
{
    char *out;
    size_t len, n;

    if (html == NULL)
        html = "";
    len = strlen(html);
    if (max_chars > 0)
        len = mstdn_utf8_prefix(html, len, max_chars);
    int rc = mstdn_sanitize(html, len, MSTDN_REMOTE_TEXT_MAX, MSTDN_REMOTE_TEXT_MAX * 2,
                            &out, &n);
    if (rc != MSTDN_SANITIZE_OK) {
        snprintf(err, errlen, "remote HTML refused (%s)",
                 rc == MSTDN_SANITIZE_ETOOBIG ? "too large"
                 : rc == MSTDN_SANITIZE_EINVAL ? "not UTF-8" : "out of memory");
        return NULL;
    }
    return out;
}

/* Runs one statement in the activity's transaction (replay: nothing). */
int inbox_apply(inbox_activity *ib, const char *what, const char *sql, int n,
                 const char *const *params, char *err, size_t errlen)
{
    int first = inbox_begin(ib, err, errlen);
    if (first <= 0) {
        if (first == 0)
            mlog(LOG_INFO, "inbox: %s %s was processed before", ib->type, ib->id);
        return first == 0 ? INBOX_DONE : INBOX_RETRY;
    }
    PGresult *res = inbox_sql(ib, sql, n, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL) {
        inbox_rollback(ib);
        return INBOX_RETRY;
    }
    mlog(LOG_INFO, "inbox: %s %s by %s: %s %s", ib->type, ib->id, ib->actor_uri, what,
         PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
    return inbox_commit(ib, err, errlen) == 0 ? INBOX_DONE : INBOX_RETRY;
}
