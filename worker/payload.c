/* Renderings left by the module for the jobs that publish them. */
#include "payload.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAYLOAD_WAIT_TRIES  10
#define PAYLOAD_WAIT_MS     50

int payload_get(redisContext *c, const char *kind, const char *id, int wait, char **out,
                size_t *len, char *err, size_t errlen)
{
    *out = NULL;
    *len = 0;
    for (int try = 0;; try++) {
        redisReply *r = redisCommand(c, "GET mastodon:payload:%s:%s", kind, id);
        if (r == NULL) {
            snprintf(err, errlen, "redis: %s", c->errstr);
            return -1;
        }
        if (r->type == REDIS_REPLY_STRING && r->len > 0) {
            *out = malloc(r->len + 1);
            if (*out == NULL) {
                freeReplyObject(r);
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            memcpy(*out, r->str, r->len);
            (*out)[r->len] = '\0';
            *len = r->len;
            freeReplyObject(r);
            return 1;
        }
        int error = r->type == REDIS_REPLY_ERROR;
        if (error)
            snprintf(err, errlen, "redis: GET: %s", r->str);
        freeReplyObject(r);
        if (error)
            return -1;
        if (!wait || try + 1 >= PAYLOAD_WAIT_TRIES)
            return 0;
        sleep_ms(PAYLOAD_WAIT_MS);
    }
}
