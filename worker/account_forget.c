/* The relay's publishing of account changes (account_forget.h). */
#include "account_forget.h"
#include "log.h"

#include <string.h>

#define ACCOUNT_FORGET_WORD  "account"
#define ACCOUNT_ID_MAX       20

/* a publication failed: every account is forgotten before the next beat */
static int lost;

void account_forget_flush(account_forget *f, redisContext *c)
{
    redisReply *r;

    if (f->len <= strlen(f->word))
        return;
    /* a node that misses it is not listening, and empties its cache when
     * it listens again */
    r = redisCommand(c, "PUBLISH mastodon:cache:forget %b", f->msg, f->len);
    if (r == NULL) {
        mlog(LOG_WARN, "outbox: %s forget not published: %s", f->word, c->errstr);
        lost = 1;
    } else {
        freeReplyObject(r);
    }
    f->len = 0;
}

void account_forget_add(account_forget *f, redisContext *c, const char *id)
{
    size_t n = strlen(id), w = strlen(f->word);

    if (n == 0 || n > ACCOUNT_ID_MAX || strspn(id, "0123456789") != n)
        return;
    if (f->len + 1 + n > sizeof(f->msg))
        account_forget_flush(f, c);
    if (f->len == 0) {
        memcpy(f->msg, f->word, w);
        f->len = w;
    }
    f->msg[f->len++] = ' ';
    memcpy(f->msg + f->len, id, n);
    f->len += n;
}

static int publish(redisContext *c, const char *msg)
{
    redisReply *r = redisCommand(c, "PUBLISH mastodon:cache:forget %s", msg);

    if (r == NULL) {
        mlog(LOG_WARN, "outbox: \"%s\" not published: %s", msg, c->errstr);
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

void account_forget_all(redisContext *c)
{
    lost = publish(c, ACCOUNT_FORGET_WORD " 0") != 0;
}

void account_forget_beat(redisContext *c)
{
    if (lost) {
        account_forget_all(c);
        if (lost)
            return;
    }
    (void) publish(c, ACCOUNT_FORGET_WORD "_relay 1");
}
