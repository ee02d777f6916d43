/* `mastodon-worker enqueue QUEUE TYPE JSON`: XADD one job, print its id. */
#include "commands.h"
#include "queue.h"
#include "redis.h"
#include "util.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static int job_type_valid(const char *type)
{
    size_t n = strlen(type);
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) type[i];
        if (!(islower(c) || isdigit(c) || c == '_'))
            return 0;
    }
    return 1;
}

int cmd_enqueue(worker_config *cfg, int argc, char **argv)
{
    char err[512];

    if (argc != 4) {
        fprintf(stderr, "usage: mastodon-worker enqueue QUEUE TYPE JSON\n");
        return 2;
    }
    const char *queue = argv[1], *type = argv[2], *json = argv[3];

    if (!queue_name_valid(queue)) {
        fprintf(stderr, "mastodon-worker: invalid queue name \"%s\" (a-z, 0-9, _ and -)\n", queue);
        return 2;
    }
    if (!job_type_valid(type)) {
        fprintf(stderr, "mastodon-worker: invalid job type \"%s\" (a-z, 0-9 and _)\n", type);
        return 2;
    }
    /* what the workers would refuse is refused here */
    if (!json_valid(json, strlen(json), (size_t) cfg->job_max_bytes, err, sizeof(err))) {
        fprintf(stderr, "mastodon-worker: job arguments: %s (job_max_bytes)\n", err);
        return 2;
    }

    redisContext *c = redis_open(cfg, 0, err, sizeof(err));
    if (c == NULL) {
        fprintf(stderr, "mastodon-worker: %s\n", err);
        return 1;
    }
    char id[64];
    int rc = queue_push(c, queue, type, json, strlen(json), id, sizeof(id), err, sizeof(err));
    redis_close(&c);
    if (rc != 0) {
        fprintf(stderr, "mastodon-worker: %s\n", err);
        return 1;
    }
    printf("%s\n", id);
    return 0;
}
