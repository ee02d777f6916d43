#ifndef MW_ACCOUNT_FORGET_H
#define MW_ACCOUNT_FORGET_H

/* Rendered accounts forgotten on every node (ARCHITECTURE.md, "Render
 * cache"): sql/0039's triggers notify mastodon_account with the id of each
 * account a commit changed ('0': every account); the active outbox relay
 * LISTENs and publishes them, batched, as "account <id>..." on
 * mastodon:cache:forget. */

#include <hiredis/hiredis.h>
#include <stddef.h>

#define ACCOUNT_FORGET_CHANNEL  "mastodon_account"
/* sql/0048: the recipients whose notification pages changed, published as
 * "notifications <id>..." the same way */
#define NOTIFICATIONS_FORGET_CHANNEL  "mastodon_notifications"
/* how often the relay says it listens ("account_relay 1"): the module uses
 * rendered accounts only while it hears that */
#define ACCOUNT_FORGET_BEAT_MS  1000

typedef struct {
    const char  *word;      /* "account", "notifications" */
    char         msg[4096]; /* "<word> <id> <id>..." */
    size_t       len;
} account_forget;

/* Adds a notification's payload (a decimal id; others are ignored),
 * publishing what is gathered when full. */
void account_forget_add(account_forget *f, redisContext *c, const char *id);
/* Publishes what is gathered, if anything. */
void account_forget_flush(account_forget *f, redisContext *c);
/* "account 0" (nobody listened: every account; the module's notification
 * pages are checked against it too), or the heartbeat */
void account_forget_all(redisContext *c);
void account_forget_beat(redisContext *c);

#endif
