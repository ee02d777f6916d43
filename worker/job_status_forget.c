/* status_forget: cached renderings of statuses that changed go (what the
 * module does after its commit, made durable: an edit or a new counter
 * made while Redis was unreachable must not leave the old rendering
 * served once it is back).  args {"status_ids": ["<id>", ...]}.
 * DEL mastodon:status:<id> and the 10 s mark that keeps fills out, and
 * tell every nginx node's render cache (mastodon:cache:forget). */
#include "jobs.h"
#include "args.h"

#include <stdio.h>
#include <string.h>

#define FORGET_MAX  16

/* the commands that forget one status' renderings, appended: their count */
static int forget_append(redisContext *c, const char *id)
{
    char msg[sizeof "status " + MW_ID_LEN];
    int mlen = snprintf(msg, sizeof msg, "status %s", id);

    redisAppendCommand(c, "DEL mastodon:status:%s", id);
    redisAppendCommand(c, "SET mastodon:status_changed:%s 1 EX 10", id);
    redisAppendCommand(c, "PUBLISH mastodon:cache:forget %b", msg, (size_t) mlen);
    return 3;
}

static int forget_replies(redisContext *c, int n, char *err, size_t errlen)
{
    int rc = 0;

    for (int i = 0; i < n; i++) {
        redisReply *r = NULL;
        if (redisGetReply(c, (void **) &r) != REDIS_OK) {
            snprintf(err, errlen, "redis: %s", c->errstr);
            return -1;
        }
        if (r->type == REDIS_REPLY_ERROR && rc == 0) {
            snprintf(err, errlen, "redis: %s", r->str);
            rc = -1;
        }
        freeReplyObject(r);
    }
    return rc;
}

/* A worker job's own change to a status (an id checked by the caller):
 * forgotten at once, as a status_forget job would. */
int status_forget_now(redisContext *c, const char *id, char *err, size_t errlen)
{
    return forget_replies(c, forget_append(c, id), err, errlen);
}

void cache_forget_publish(redisContext *c, const char *kind, const char *id)
{
    char msg[16 + MW_ID_LEN];
    int mlen = snprintf(msg, sizeof msg, "%s %s", kind, id);
    redisReply *r;

    if (c == NULL || mlen <= 0 || (size_t) mlen >= sizeof msg)
        return;
    /* a node that misses it is not listening, and empties its cache when
     * it listens again */
    r = redisCommand(c, "PUBLISH mastodon:cache:forget %b", msg, (size_t) mlen);
    if (r != NULL)
        freeReplyObject(r);
}

void viewer_forget_now(redisContext *c, const char *id)
{
    cache_forget_publish(c, "viewer", id);
}

int job_status_forget(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen)
{
    static const char *path[] = { "status_ids", NULL };
    redisContext *c = *ctx->redis;
    job_args a;
    int n = 0, rc = -1;

    if (args_parse(&a, args_json, len, err, errlen) != 0)
        return -1;
    yajl_val ids = yajl_tree_get(a.root, path, yajl_t_array);
    if (ids == NULL || YAJL_GET_ARRAY(ids)->len > FORGET_MAX) {
        snprintf(err, errlen, "args need status_ids (at most %d id strings)", FORGET_MAX);
        goto out;
    }
    for (size_t i = 0; i < YAJL_GET_ARRAY(ids)->len; i++) {
        const char *id = YAJL_GET_STRING(YAJL_GET_ARRAY(ids)->values[i]);
        size_t k = id != NULL ? strlen(id) : 0;
        if (k == 0 || k >= MW_ID_LEN || strspn(id, "0123456789") != k) {
            snprintf(err, errlen, "status_ids: not an id");
            goto out;
        }
        n += forget_append(c, id);
    }
    rc = forget_replies(c, n, err, errlen);
out:
    args_free(&a);
    return rc;
}
