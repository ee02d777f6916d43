#ifndef MW_RECIPIENTS_H
#define MW_RECIPIENTS_H

/* Local followers whose home feeds get a status, a page at a time. */

#include <libpq-fe.h>
#include "status.h"

#define RECIPIENTS_PAGE 2000

/* One page of the local followers of f->account_id, in account id order
 * after cursor ("0" to start), each with whether its home feed takes the
 * status (mastodon_home_accepts(): for a direct status only the mentioned
 * ones): columns account_id, notify (follows.notify, and accepted),
 * accepted; with notify_only only the followers with follows.notify (a
 * partial index: a big account's few, sql/0031_big_accounts.sql).  Sent (0, or -1 + err), then received with
 * recipients_page_receive(), so the caller writes feeds meanwhile. */
int recipients_page_send(PGconn *db, const status_facts *f, int notify_only, const char *cursor,
                         char *err, size_t errlen);

/* One page of the local accounts following a tag of the status (not its
 * author), in account id order after cursor, as recipients_page's columns
 * (notify false): accepted by the home rule's blocks and mutes
 * (mastodon_feed_accepts()) and the author's domain not blocked.  Sent,
 * then received with recipients_page_receive(), as recipients_page_send. */
int tag_followers_page_send(PGconn *db, const status_facts *f, const char *cursor,
                            char *err, size_t errlen);
/* One page of every local follower of account_id (no filter): for removals,
 * where a status that is not in a feed costs nothing.  The same halves. */
int followers_page_send(PGconn *db, const char *account_id, const char *cursor,
                        char *err, size_t errlen);

/* Which of the accounts in `ids` (a PostgreSQL array literal of ids)
 * follow account_id, and with f (else NULL: all of them) whose home feed
 * takes f (mastodon_home_accepts(), the push's rule): one column,
 * account_id.  For the few followers of a big account connected to
 * streaming (big_accounts.c).  NULL + err on failure. */
PGresult *recipients_among(PGconn *db, const char *account_id, const status_facts *f,
                           const char *ids, char *err, size_t errlen);

/* The page sent: NULL + err on failure. */
PGresult *recipients_page_receive(PGconn *db, char *err, size_t errlen);

#endif
