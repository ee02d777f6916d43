/* `mastodon-worker search deploy [--batch-size N]` (tootctl search deploy):
 * recomputes every status' search_vector (mastodon_search_vector_of() of
 * sql/0038_search_poll_media_tz.sql), in batches of N statuses (10000 by
 * default), each its own transaction, so that a large table is never
 * locked for long and an interrupted run can simply be started again.
 * Accounts and hashtags are searched through expression indexes that
 * PostgreSQL keeps: nothing to rebuild.  Prints the progress and the
 * total. */
#include "commands.h"
#include "db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] = "usage: mastodon-worker search deploy [--batch-size N]\n";

int cmd_search(worker_config *cfg, int argc, char **argv)
{
    char err[512], last[32] = "0", limit[16];
    long batch = 10000, total = 0;

    if (argc < 2 || strcmp(argv[1], "deploy") != 0) {
        fprintf(stderr, "%s", usage);
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        char *end;
        if (strcmp(argv[i], "--batch-size") == 0 && i + 1 < argc) {
            batch = strtol(argv[++i], &end, 10);
            if (*end != '\0' || batch < 1 || batch > 1000000) {
                fprintf(stderr, "mastodon-worker: --batch-size: 1 to 1000000\n");
                return 2;
            }
        } else {
            fprintf(stderr, "%s", usage);
            return 2;
        }
    }
    snprintf(limit, sizeof(limit), "%ld", batch);

    /* no statement timeout: a batch of long statuses may take a while */
    PGconn *db = db_open(cfg, 0, err, sizeof(err));
    if (db == NULL) {
        fprintf(stderr, "mastodon-worker: %s\n", err);
        return 1;
    }
    for (;;) {
        const char *params[2] = { last, limit };
        PGresult *res = db_query(db,
            "WITH batch AS (SELECT id FROM statuses WHERE id > $1::bigint"
            "  ORDER BY id LIMIT $2::integer),"
            " done AS (UPDATE statuses st SET search_vector ="
            "  mastodon_search_vector_of(st)"
            "  FROM batch WHERE st.id = batch.id RETURNING st.id)"
            " SELECT coalesce(max(id), 0), count(*) FROM done",
            2, params, PGRES_TUPLES_OK, err, sizeof(err));
        if (res == NULL) {
            fprintf(stderr, "mastodon-worker: %s\n", err);
            db_close(&db);
            return 1;
        }
        long n = atol(PQgetvalue(res, 0, 1));
        if (n > 0)
            snprintf(last, sizeof(last), "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
        if (n == 0)
            break;
        total += n;
        fprintf(stderr, "search deploy: %ld statuses\n", total);
    }
    db_close(&db);
    printf("%ld statuses indexed\n", total);
    return 0;
}
