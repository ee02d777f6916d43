/* Streaming events.  Publishing is fire and forget: a channel nobody
 * listens to costs Redis a hash look-up.  Retried jobs publish again;
 * clients tolerate a repeated update or delete. */
#include "stream.h"
#include "args.h"
#include "redis.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* {"event":<name>,"payload":<payload, raw JSON>} */
static int stream_event_text(stream_event *ev, const char *name, const char *payload, size_t len)
{
    char *q = json_quoted(name);
    int n = q != NULL ? asprintf(&ev->text, "{\"event\":%s,\"payload\":%.*s}", q, (int) len, payload)
                      : -1;

    free(q);
    if (n < 0) {
        ev->text = NULL;
        return -1;
    }
    ev->len = (size_t) n;
    return 0;
}

int stream_event_make(stream_event *ev, const char *name, const char *payload, size_t len)
{
    return stream_event_text(ev, name, payload, len);
}

int stream_event_status_id(stream_event *ev, const char *name, const char *status_id)
{
    char *qn = json_quoted(name), *qi = json_quoted(status_id);
    int n = qn != NULL && qi != NULL
            ? asprintf(&ev->text, "{\"event\":%s,\"status_id\":%s}", qn, qi) : -1;

    free(qn);
    free(qi);
    if (n < 0) {
        ev->text = NULL;
        return -1;
    }
    ev->len = (size_t) n;
    return 0;
}

int stream_event_delete(stream_event *ev, const char *status_id)
{
    char *q = json_quoted(status_id);
    int rc = q != NULL ? stream_event_text(ev, "delete", q, strlen(q)) : -1;

    free(q);
    if (q == NULL)
        ev->text = NULL;
    return rc;
}

void stream_event_free(stream_event *ev)
{
    free(ev->text);
    ev->text = NULL;
}

int stream_event_store(redisContext *c, const char *key, const stream_event *ev,
                       char *err, size_t errlen)
{
    return redis_do_set(c, key, ev->text, ev->len, err, errlen);
}

/* PUBLISHes pipelined, replies read at the end. */
typedef struct {
    redisContext       *c;
    const stream_event *ev;
    int                 pending;
    int                 failed;
} publisher;

static void publish(publisher *p, const char *channel)
{
    if (redisAppendCommand(p->c, "PUBLISH %s %b", channel, p->ev->text, p->ev->len) == REDIS_OK)
        p->pending++;
    else
        p->failed = 1;
}

static int publisher_finish(publisher *p, char *err, size_t errlen)
{
    int rc = p->failed ? -1 : 0;
    if (p->failed)
        snprintf(err, errlen, "redis: cannot queue PUBLISH");
    while (p->pending > 0) {
        redisReply *r = NULL;
        if (redisGetReply(p->c, (void **) &r) != REDIS_OK || r == NULL) {
            snprintf(err, errlen, "redis: %s", p->c->errstr);
            return -1;
        }
        p->pending--;
        if (r->type == REDIS_REPLY_ERROR && rc == 0) {
            snprintf(err, errlen, "redis: PUBLISH: %s", r->str);
            rc = -1;
        }
        freeReplyObject(r);
    }
    return rc;
}

int stream_accounts(redisContext *c, PGresult *ids, const stream_event *ev,
                    char *err, size_t errlen)
{
    publisher p = { c, ev, 0, 0 };
    char channel[64];

    for (int i = 0; i < PQntuples(ids); i++) {
        snprintf(channel, sizeof(channel), "timeline:%s", PQgetvalue(ids, i, 0));
        publish(&p, channel);
    }
    return publisher_finish(&p, err, errlen);
}

int stream_public(redisContext *c, const status_facts *f, const stream_event *ev,
                  char *err, size_t errlen)
{
    publisher p = { c, ev, 0, 0 };
    char channel[512];

    if (!status_broadcastable(f))
        return 0;
    for (const char *t = f->tags; *t != '\0'; ) {
        size_t n = strcspn(t, "\n");
        if (n > 0 && n < 400) {
            snprintf(channel, sizeof(channel), "timeline:hashtag:%.*s", (int) n, t);
            publish(&p, channel);
            if (f->local) {
                snprintf(channel, sizeof(channel), "timeline:hashtag:%.*s:local", (int) n, t);
                publish(&p, channel);
            }
        }
        t += n + (t[n] == '\n');
    }
    if (!f->reply_to_other) {
        const char *where = f->local ? "local" : "remote";
        publish(&p, "timeline:public");
        snprintf(channel, sizeof(channel), "timeline:public:%s", where);
        publish(&p, channel);
        if (f->has_media) {
            publish(&p, "timeline:public:media");
            snprintf(channel, sizeof(channel), "timeline:public:%s:media", where);
            publish(&p, channel);
        }
    }
    return publisher_finish(&p, err, errlen);
}

/* Calls fn for each id of a PostgreSQL bigint array text ("{1,2,3}"). */
static void pg_array_each(const char *array, void (*fn)(void *arg, const char *id), void *arg)
{
    char id[MW_ID_LEN];
    const char *p = array;

    if (p == NULL || *p++ != '{')
        return;
    while (*p != '\0' && *p != '}') {
        size_t n = strspn(p, "0123456789");
        if (n > 0 && n < sizeof(id)) {
            memcpy(id, p, n);
            id[n] = '\0';
            fn(arg, id);
        }
        p += n;
        if (*p == ',')
            p++;
        else if (n == 0)
            break;
    }
}

static void publish_direct(void *arg, const char *id)
{
    char channel[64];
    snprintf(channel, sizeof(channel), "timeline:direct:%s", id);
    publish(arg, channel);
}

int stream_direct(redisContext *c, const status_facts *f, const stream_event *ev,
                  char *err, size_t errlen)
{
    publisher p = { c, ev, 0, 0 };

    if (f->visibility != VISIBILITY_DIRECT)
        return 0;
    if (f->author_local)
        publish_direct(&p, f->account_id);
    pg_array_each(f->mentioned, publish_direct, &p);
    return publisher_finish(&p, err, errlen);
}

int stream_conversation(redisContext *c, const char *account_id, const char *conversation_id,
                        char *err, size_t errlen)
{
    stream_event ev = { NULL, 0 };
    char channel[64], *q = json_quoted(conversation_id);
    int n = q != NULL ? asprintf(&ev.text, "{\"event\":\"conversation\",\"conversation_id\":%s}", q)
                      : -1;

    free(q);
    if (n < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    ev.len = (size_t) n;
    publisher p = { c, &ev, 0, 0 };
    snprintf(channel, sizeof(channel), "timeline:direct:%s", account_id);
    publish(&p, channel);
    int rc = publisher_finish(&p, err, errlen);
    free(ev.text);
    return rc;
}

size_t stream_home_channel_id(const char *channel, size_t len, const char **id)
{
    if (len <= 9 || len - 9 >= MW_ID_LEN || memcmp(channel, "timeline:", 9) != 0)
        return 0;
    for (size_t i = 9; i < len; i++) {
        if (channel[i] < '0' || channel[i] > '9')
            return 0;
    }
    *id = channel + 9;
    return len - 9;
}
