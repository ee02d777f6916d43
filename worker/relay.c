/* `mastodon-worker relay`: moves what the outbox holds into the Redis
 * streams now, once (operators, tests); a running worker does it anyway. */
#include "commands.h"
#include "db.h"
#include "outbox.h"
#include "redis.h"

#include <stdio.h>

int cmd_relay(worker_config *cfg, int argc, char **argv)
{
    char err[512];
    int rc = 1, total = 0, n;

    (void) argv;
    if (argc != 1) {
        fprintf(stderr, "usage: mastodon-worker relay\n");
        return 2;
    }
    PGconn *db = db_open(cfg, 0, err, sizeof(err));
    if (db == NULL) {
        fprintf(stderr, "mastodon-worker: %s\n", err);
        return 1;
    }
    redisContext *c = redis_open(cfg, 0, err, sizeof(err));
    if (c == NULL)
        goto fail;

    /* the relays' lock: the order of the streams is one relay's */
    PGresult *res = db_query(db, "SELECT pg_try_advisory_lock(" OUTBOX_LOCK_KEY ")", 0, NULL,
                             PGRES_TUPLES_OK, err, sizeof(err));
    if (res == NULL)
        goto fail;
    int held = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    if (!held) {
        printf("a running worker relays the outbox\n");
        rc = 0;
        goto done;
    }
    while ((n = outbox_relay_batch(db, c, err, sizeof(err))) > 0)
        total += n;
    if (n < 0)
        goto fail;
    printf("%d job(s) relayed\n", total);
    rc = 0;
    goto done;

fail:
    fprintf(stderr, "mastodon-worker: %s\n", err);
done:
    redis_close(&c);
    db_close(&db);
    return rc;
}
