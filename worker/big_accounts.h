#ifndef MW_BIG_ACCOUNTS_H
#define MW_BIG_ACCOUNTS_H

/* Big accounts merged on read (sql/0031_big_accounts.sql): whether a
 * status skips the push into its author's followers' home feeds. */

#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include "status.h"
#include "stream.h"

/* 1 when f is merged on read (its author has reached `threshold`
 * followers, now or before, and f is not older than the switch: the first
 * such status records it, and 2 is returned then), 0 when it is pushed,
 * -1 + err.  Direct statuses
 * are always pushed (to the few mentioned); threshold 0 turns new
 * switches off. */
int big_account_merged(PGconn *db, const status_facts *f, long threshold,
                       char *err, size_t errlen);

/* Whether the status (of account_id, with that visibility) is merged on
 * read, the switch only read, never recorded: for its edit and deletion,
 * which then leave the followers' feeds alone.  1, 0 or -1 + err. */
int big_account_is_merged(PGconn *db, const char *account_id, const char *status_id,
                          int visibility, char *err, size_t errlen);

/* The streaming event of a merged status to its author's followers who
 * are connected (a subscriber on timeline:<id>, PUBSUB CHANNELS) and, with
 * f, whose home feed would take it (the push's rule; without f, a delete,
 * all of them): the work grows with the users connected, not with the
 * followers.  The event is ev, else the text stored under event_key.
 * 0 or -1 + err. */
int big_account_stream(redisContext *c, PGconn *db, const char *account_id,
                       const status_facts *f, const char *event_key, const stream_event *ev,
                       char *err, size_t errlen);

#endif
