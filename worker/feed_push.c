/* Plain-command pushes of an original status into home feeds (feed_push.h).
 * The decisions are feed.c's add script's for an original: only a feed
 * that exists (ZCARD > 0), not when `:reblogs` holds the status (a reblog
 * of it is shown), trimmed to the sentinel and feed_max statuses, an
 * `update` on timeline:<account id> where it was added and the channel
 * has a subscriber. */
#include "feed_push.h"
#include "feed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FEED_PUSH_KEY_LEN  64

void feed_push_init(feed_push *p, redisContext *c, const char *event_key, int publish, long max,
                    const char *status_id)
{
    memset(p, 0, sizeof(*p));
    p->c = c;
    p->event_key = event_key;
    p->publish = publish && event_key != NULL;
    p->max = max;
    p->status_id = status_id;
}

void feed_push_free(feed_push *p)
{
    free(p->accounts);
    free(p->event);
    p->accounts = NULL;
    p->event = NULL;
}

static int append(feed_push *p, int argc, const char **argv, const size_t *lens,
                  char *err, size_t errlen)
{
    if (redisAppendCommandArgv(p->c, argc, argv, lens) != REDIS_OK) {
        snprintf(err, errlen, "redis: cannot queue a command: %s", p->c->errstr);
        return -1;
    }
    return 0;
}

static int append_feed(feed_push *p, const char *cmd, const char *suffix, const char *account,
                       const char *a1, const char *a2, char *err, size_t errlen)
{
    char key[FEED_PUSH_KEY_LEN];
    const char *argv[4] = { cmd, key, a1, a2 };
    size_t lens[4];
    int argc = a1 == NULL ? 2 : a2 == NULL ? 3 : 4;

    snprintf(key, sizeof(key), FEED_PREFIX "%s%s", account, suffix);
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    return append(p, argc, argv, lens, err, errlen);
}

int feed_push_add(feed_push *p, const char *account_id, char *err, size_t errlen)
{
    if (p->n == p->cap) {
        int cap = p->cap > 0 ? 2 * p->cap : 1024;
        void *a = realloc(p->accounts, (size_t) cap * sizeof(*p->accounts));
        if (a == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        p->accounts = a;
        p->cap = cap;
    }
    snprintf(p->accounts[p->n], sizeof(p->accounts[0]), "%s", account_id);
    p->n++;
    if (append_feed(p, "ZCARD", "", account_id, NULL, NULL, err, errlen) != 0
        || append_feed(p, "ZSCORE", ":reblogs", account_id, p->status_id, NULL, err, errlen) != 0)
        return -1;
    return 0;
}

int feed_push_send(feed_push *p, char *err, size_t errlen)
{
    int done = 0;

    while (!done) {
        if (redisBufferWrite(p->c, &done) != REDIS_OK) {
            snprintf(err, errlen, "redis: %s", p->c->errstr);
            return -1;
        }
    }
    return 0;
}

/* The next reply, which must be of this type (or nil for ZSCORE). */
static redisReply *reply(feed_push *p, char *err, size_t errlen)
{
    redisReply *r = NULL;

    if (redisGetReply(p->c, (void **) &r) != REDIS_OK || r == NULL) {
        snprintf(err, errlen, "redis: %s", p->c->errstr);
        return NULL;
    }
    return r;
}

/* Reads n replies; the first error reply, if any, goes into err. */
static int drain(feed_push *p, long n, char *err, size_t errlen)
{
    int rc = 0;

    while (n-- > 0) {
        redisReply *r = reply(p, err, errlen);
        if (r == NULL)
            return -1;
        if (r->type == REDIS_REPLY_ERROR && rc == 0) {
            snprintf(err, errlen, "redis: feed write: %s", r->str);
            rc = -1;
        }
        freeReplyObject(r);
    }
    return rc;
}

/* The event text, read once (the first time someone listens); without
 * it there is nothing to publish. */
static int event_load(feed_push *p, char *err, size_t errlen)
{
    if (p->event != NULL)
        return 0;
    redisReply *r = redisCommand(p->c, "GET %s", p->event_key);
    if (r == NULL) {
        snprintf(err, errlen, "redis: %s", p->c->errstr);
        return -1;
    }
    if (r->type == REDIS_REPLY_STRING) {
        p->event = malloc(r->len + 1);
        if (p->event != NULL) {
            memcpy(p->event, r->str, r->len);
            p->event_len = r->len;
        }
    }
    freeReplyObject(r);
    if (p->event == NULL)
        p->publish = 0;
    return 0;
}

/* The channels of the feeds the status went into: who listens, then the
 * event to them. */
static int publish_page(feed_push *p, const unsigned char *added, char *err, size_t errlen)
{
    int nch = 0, sent = 0, rc = -1;
    const char **argv = malloc((size_t) (p->n + 2) * sizeof(*argv));
    size_t *lens = malloc((size_t) (p->n + 2) * sizeof(*lens));
    char (*channels)[40] = malloc((size_t) p->n * sizeof(*channels));

    if (argv == NULL || lens == NULL || channels == NULL) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    argv[0] = "PUBSUB";
    argv[1] = "NUMSUB";
    lens[0] = 6;
    lens[1] = 6;
    for (int i = 0; i < p->n; i++) {
        if (!added[i])
            continue;
        snprintf(channels[nch], sizeof(channels[0]), "timeline:%s", p->accounts[i]);
        argv[2 + nch] = channels[nch];
        lens[2 + nch] = strlen(channels[nch]);
        nch++;
    }
    if (nch == 0) {
        rc = 0;
        goto done;
    }
    redisReply *r = redisCommandArgv(p->c, 2 + nch, argv, lens);
    if (r == NULL) {
        snprintf(err, errlen, "redis: %s", p->c->errstr);
        goto done;
    }
    rc = 0;
    for (size_t j = 0; r->type == REDIS_REPLY_ARRAY && j + 1 < r->elements; j += 2) {
        redisReply *ch = r->element[j], *subs = r->element[j + 1];
        if (ch->type != REDIS_REPLY_STRING || subs->type != REDIS_REPLY_INTEGER
            || subs->integer <= 0)
            continue;
        if (event_load(p, err, errlen) != 0) {
            rc = -1;
            break;
        }
        if (!p->publish)
            break;
        const char *pargv[3] = { "PUBLISH", ch->str, p->event };
        size_t plens[3] = { 7, ch->len, p->event_len };
        if (append(p, 3, pargv, plens, err, errlen) != 0) {
            rc = -1;
            break;
        }
        sent++;
    }
    freeReplyObject(r);
    if (sent > 0 && (feed_push_send(p, err, errlen) != 0 || drain(p, sent, err, errlen) != 0))
        rc = -1;
done:
    free(argv);
    free(lens);
    free(channels);
    return rc;
}

int feed_push_finish(feed_push *p, char *err, size_t errlen)
{
    char max1[24], score[24];
    int writes = 0;
    int rc = -1, n = p->n;
    unsigned char *take = calloc((size_t) n + 1, 2);
    unsigned char *added = take + n + 1;

    if (take == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (feed_push_send(p, err, errlen) != 0)
        goto done;

    /* the reads: every reply, even after an error, to stay in step */
    char rerr[256] = "";
    for (int i = 0; i < n; i++) {
        redisReply *card = reply(p, err, errlen), *tracked;
        if (card == NULL)
            goto done;
        tracked = reply(p, err, errlen);
        if (tracked == NULL) {
            freeReplyObject(card);
            goto done;
        }
        if (card->type == REDIS_REPLY_INTEGER && tracked->type == REDIS_REPLY_NIL) {
            take[i] = card->integer > 0 ? 1 : 0;
            /* over feed_max once added: ranks 1 to -(max+1) go, rank 0 the sentinel */
            if (take[i] && card->integer + 1 > p->max + 1)
                take[i] = 2;
        } else if (card->type == REDIS_REPLY_ERROR && rerr[0] == '\0') {
            snprintf(rerr, sizeof(rerr), "redis: feed read: %s", card->str);
        }
        freeReplyObject(card);
        freeReplyObject(tracked);
    }
    if (rerr[0] != '\0') {
        snprintf(err, errlen, "%s", rerr);
        goto done;
    }

    /* the writes */
    snprintf(max1, sizeof(max1), "%ld", -(p->max + 1));
    snprintf(score, sizeof(score), "%s", p->status_id);
    for (int i = 0; i < n; i++) {
        if (!take[i])
            continue;
        if (append_feed(p, "ZADD", "", p->accounts[i], score, p->status_id, err, errlen) != 0)
            goto done;
        writes++;
        if (take[i] == 2) {
            if (append_feed(p, "ZREMRANGEBYRANK", "", p->accounts[i], "1", max1, err,
                            errlen) != 0)
                goto done;
            writes++;
        }
    }
    if (writes > 0 && feed_push_send(p, err, errlen) != 0)
        goto done;
    for (int i = 0; i < n; i++) {
        if (!take[i])
            continue;
        redisReply *r = reply(p, err, errlen);
        if (r == NULL)
            goto done;
        if (r->type == REDIS_REPLY_INTEGER && r->integer == 1) {
            added[i] = 1;
            p->changed++;
        } else if (r->type == REDIS_REPLY_ERROR && rerr[0] == '\0') {
            snprintf(rerr, sizeof(rerr), "redis: feed write: %s", r->str);
        }
        freeReplyObject(r);
        if (take[i] == 2) {
            r = reply(p, err, errlen);
            if (r == NULL)
                goto done;
            if (r->type == REDIS_REPLY_ERROR && rerr[0] == '\0')
                snprintf(rerr, sizeof(rerr), "redis: feed trim: %s", r->str);
            freeReplyObject(r);
        }
    }
    if (rerr[0] != '\0') {
        snprintf(err, errlen, "%s", rerr);
        goto done;
    }
    if (p->publish && publish_page(p, added, err, errlen) != 0)
        goto done;
    rc = 0;
done:
    p->n = 0;
    free(take);
    return rc;
}
