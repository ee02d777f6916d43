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
 * accepted.  NULL + err on failure. */
PGresult *recipients_page(PGconn *db, const status_facts *f, const char *cursor,
                          char *err, size_t errlen);

/* One page of every local follower of account_id (no filter): for removals,
 * where a status that is not in a feed costs nothing. */
PGresult *followers_page(PGconn *db, const char *account_id, const char *cursor,
                         char *err, size_t errlen);

/* One page of the local accounts following a tag of the status (not its
 * author), in account id order after cursor, as recipients_page's columns
 * (notify false): accepted by the home rule's blocks and mutes
 * (mastodon_feed_accepts()) and the author's domain not blocked. */
PGresult *tag_followers_page(PGconn *db, const status_facts *f, const char *cursor,
                             char *err, size_t errlen);

#endif
