/* `mastodon-worker deliver-bench ACCOUNT_ID COUNT URL...`: for `make
 * bench` only.  COUNT deliveries of one activity to the URLs (round
 * robin), through deliver() as a job runs them, three ways in one run:
 *   sign      COUNT signatures alone (ap_sign, no network): the ceiling
 *   unsigned  the same POSTs without signatures: libcurl multi's floor
 *   signed    the deliveries as they are made
 * one line each: "<name> <count> in <ms> ms: <rate>/s". */
#include "ap_send.h"
#include "commands.h"
#include "db.h"
#include "deliver.h"
#include "jobs.h"
#include "redis.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void line(const char *name, long n, long long ms, const deliver_stats *st)
{
    printf("%s %ld in %lld ms: %.0f/s", name, n, ms, ms > 0 ? n * 1000.0 / (double) ms : 0.0);
    if (st != NULL)
        printf(" (delivered %zu, failed %zu)", st->delivered, st->failed);
    printf("\n");
    fflush(stdout);
}

int cmd_deliver_bench(worker_config *cfg, int argc, char **argv)
{
    char err[512];
    int rc = 1;

    if (argc < 4) {
        fprintf(stderr, "usage: mastodon-worker deliver-bench ACCOUNT_ID COUNT URL...\n");
        return 2;
    }
    const char *account_id = argv[1];
    long count = atol(argv[2]);
    int nurls = argc - 3;
    if (count <= 0) {
        fprintf(stderr, "mastodon-worker: COUNT must be positive\n");
        return 2;
    }

    PGconn *db = db_open(cfg, 0, err, sizeof(err));
    redisContext *redis = db != NULL ? redis_open(cfg, 0, err, sizeof(err)) : NULL;
    loop_t *loop = loop_new();
    http_client *http = loop != NULL ? http_client_new(loop) : NULL;
    char **inboxes = calloc((size_t) count, sizeof(char *));
    ap_signer signer;
    memset(&signer, 0, sizeof(signer));
    if (db == NULL || redis == NULL || http == NULL || inboxes == NULL) {
        fprintf(stderr, "mastodon-worker: %s\n", db == NULL || redis == NULL ? err : "no event loop");
        goto out;
    }
    for (long i = 0; i < count; i++)
        inboxes[i] = argv[3 + i % nurls];

    static const char body[] =
        "{\"@context\":[\"https://www.w3.org/ns/activitystreams\"],"
        "\"id\":\"https://bench.example/users/bench/statuses/1/activity\",\"type\":\"Create\","
        "\"actor\":\"https://bench.example/users/bench\",\"published\":\"2026-01-01T00:00:00Z\","
        "\"to\":[\"https://www.w3.org/ns/activitystreams#Public\"],"
        "\"cc\":[\"https://bench.example/users/bench/followers\"],"
        "\"object\":{\"id\":\"https://bench.example/users/bench/statuses/1\",\"type\":\"Note\","
        "\"content\":\"<p>A benchmark post of a typical length, with a few words in it, as "
        "people write them every day on the fediverse.</p>\"}}";
    size_t blen = sizeof(body) - 1;

    /* the RSA ceiling: signatures alone */
    if (ap_signer_load(db, cfg, account_id, &signer, err, sizeof(err)) != 1) {
        fprintf(stderr, "mastodon-worker: account %s has no key here\n", account_id);
        goto out;
    }
    ap_signing sg = { &signer, 0 };
    long long t0 = monotonic_ms();
    for (long i = 0; i < count; i++) {
        struct curl_slist *h = NULL;
        if (ap_sign(&sg, "POST", inboxes[i], body, blen, &h, err, sizeof(err)) != 0) {
            fprintf(stderr, "mastodon-worker: %s\n", err);
            curl_slist_free_all(h);
            goto out;
        }
        curl_slist_free_all(h);
    }
    line("sign", count, monotonic_ms() - t0, NULL);

    job_entry entry;
    memset(&entry, 0, sizeof(entry));
    snprintf(entry.jid, sizeof(entry.jid), "bench");
    job_ctx ctx = { cfg, &entry, "bench", &redis, &db, http, NULL };
    deliver_stats st;

    deliver_bench_unsigned = 1;
    t0 = monotonic_ms();
    if (deliver(&ctx, db, account_id, body, blen, inboxes, (size_t) count, 1, &st,
                err, sizeof(err)) != 0 && st.failed == 0) {
        fprintf(stderr, "mastodon-worker: %s\n", err);
        goto out;
    }
    line("unsigned", count, monotonic_ms() - t0, &st);

    deliver_bench_unsigned = 0;
    t0 = monotonic_ms();
    if (deliver(&ctx, db, account_id, body, blen, inboxes, (size_t) count, 1, &st,
                err, sizeof(err)) != 0 && st.failed == 0) {
        fprintf(stderr, "mastodon-worker: %s\n", err);
        goto out;
    }
    line("signed", count, monotonic_ms() - t0, &st);
    rc = 0;

out:
    ap_signer_free(&signer);
    free(inboxes);
    http_client_free(http);
    loop_free(loop);
    redis_close(&redis);
    db_close(&db);
    return rc;
}
