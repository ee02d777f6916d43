/* `mastodon-worker reports list [--all]`: the reports waiting for the
 * moderators (Mastodon's admin/reports, unresolved ones; --all: resolved
 * too), newest first, one tab-separated line each:
 *
 *   ID  CREATED_AT  REPORTER  TARGET  CATEGORY  [forwarded]  STATUS_IDS  COMMENT
 *
 * accounts as acct (user, or user@domain), the statuses as "1,2" ("-":
 * none), the comment on one line (newlines and tabs as spaces). */
#include "commands.h"
#include "db.h"

#include <stdio.h>
#include <string.h>

static const char usage[] = "usage: mastodon-worker reports list [--all]\n";

static void print_oneline(const char *s)
{
    for (; *s; s++)
        putchar(*s == '\n' || *s == '\r' || *s == '\t' ? ' ' : *s);
}

int cmd_reports(worker_config *cfg, int argc, char **argv)
{
    char err[512];

    if (argc < 2 || strcmp(argv[1], "list") != 0 || argc > 3
        || (argc == 3 && strcmp(argv[2], "--all") != 0)) {
        fprintf(stderr, "%s", usage);
        return 2;
    }
    PGconn *db = db_open(cfg, 0, err, sizeof(err));
    if (db == NULL) {
        fprintf(stderr, "mastodon-worker: %s\n", err);
        return 1;
    }
    const char *params[1] = { argc == 3 ? "t" : "f" };
    PGresult *res = db_query(db,
        "SELECT r.id, to_char(r.created_at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
        " a.username || coalesce('@' || a.domain, ''),"
        " t.username || coalesce('@' || t.domain, ''),"
        " CASE r.category WHEN 1000 THEN 'spam' WHEN 1500 THEN 'legal'"
        "  WHEN 2000 THEN 'violation' ELSE 'other' END,"
        " coalesce(r.forwarded, false),"
        " coalesce(nullif(array_to_string(r.status_ids, ','), ''), '-'), r.comment"
        " FROM reports r JOIN accounts a ON a.id = r.account_id"
        " JOIN accounts t ON t.id = r.target_account_id"
        " WHERE $1::boolean OR r.action_taken_at IS NULL"
        " ORDER BY r.id DESC",
        1, params, PGRES_TUPLES_OK, err, sizeof(err));
    db_close(&db);
    if (res == NULL) {
        fprintf(stderr, "mastodon-worker: %s\n", err);
        return 1;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        printf("%s\t%s\t%s\t%s\t%s%s\t%s\t", PQgetvalue(res, r, 0), PQgetvalue(res, r, 1),
               PQgetvalue(res, r, 2), PQgetvalue(res, r, 3), PQgetvalue(res, r, 4),
               PQgetvalue(res, r, 5)[0] == 't' ? " forwarded" : "", PQgetvalue(res, r, 6));
        print_oneline(PQgetvalue(res, r, 7));
        putchar('\n');
    }
    PQclear(res);
    return 0;
}
