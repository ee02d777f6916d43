#ifndef MW_CONVERSATIONS_H
#define MW_CONVERSATIONS_H

#include <stddef.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>

/* Direct-message threads (Mastodon's AccountConversation), one row per
 * user, conversation and set of other participants. */

/* A direct status distributed: into the thread of its local author (read)
 * and of each local account it mentions that was notified of it (unread:
 * NotifyService#push_to_conversation!, so blocks and mutes keep it out).
 * Idempotent (a status already in a thread changes nothing).  Each thread
 * written is a conversation event on its owner's direct stream.  0 or -1 + err. */
int conversations_add(PGconn *db, redisContext *c, const char *status_id, char *err,
                      size_t errlen);

/* A status deleted: out of every thread holding it; a thread left empty
 * goes (AccountConversation.remove_status); one that stays is a
 * conversation event.  0 or -1 + err. */
int conversations_remove(PGconn *db, redisContext *c, const char *status_id, char *err,
                         size_t errlen);

#endif
