/* Renderings left by the module for the jobs that publish them. */
#include "payload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int payload_get(redisContext *c, const char *kind, const char *id, char **out, size_t *len,
                char *err, size_t errlen)
{
    *out = NULL;
    *len = 0;
    redisReply *r = redisCommand(c, "GET mastodon:payload:%s:%s", kind, id);
    if (r == NULL) {
        snprintf(err, errlen, "redis: %s", c->errstr);
        return -1;
    }
    int rc = 0;
    if (r->type == REDIS_REPLY_STRING && r->len > 0) {
        *out = malloc(r->len + 1);
        if (*out == NULL) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        } else {
            memcpy(*out, r->str, r->len);
            (*out)[r->len] = '\0';
            *len = r->len;
            rc = 1;
        }
    } else if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "redis: GET: %s", r->str);
        rc = -1;
    }
    freeReplyObject(r);
    return rc;
}
