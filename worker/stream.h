#ifndef MW_STREAM_H
#define MW_STREAM_H

/* Streaming events (ARCHITECTURE.md, "Streaming channels"): PUBLISH
 * <channel> {"event":"<name>","payload":<payload>}, as Mastodon's
 * streaming server reads them. */

#include <stddef.h>
#include <hiredis/hiredis.h>
#include "status.h"

typedef struct {
    char  *text;                    /* malloc'd */
    size_t len;
} stream_event;

/* {"event":"<name>","payload":<payload JSON, inserted as it is>}.
 * 0 or -1 (out of memory). */
int  stream_event_make(stream_event *ev, const char *name, const char *payload, size_t len);
/* {"event":"<name>","status_id":"<id>"}: no rendering here (a remote
 * post); the streaming side (nginx) renders the status for each viewer.
 * Not Mastodon's form: only our streaming side reads these channels. */
int  stream_event_status_id(stream_event *ev, const char *name, const char *status_id);
/* {"event":"delete","payload":"<id>"} */
int  stream_event_delete(stream_event *ev, const char *status_id);
void stream_event_free(stream_event *ev);

/* The event text under key for an hour, for the feed scripts to publish. */
int  stream_event_store(redisContext *c, const char *key, const stream_event *ev,
                        char *err, size_t errlen);

/* PUBLISH on the public and hashtag channels, Mastodon's broadcast rules:
 * a public status that is not a reblog and whose author is not silenced
 * goes to timeline:hashtag:<name> (and :local), and unless it is a reply to
 * another account to timeline:public, :local or :remote, and their :media
 * variants when it has media.  0 or -1 + err. */
int  stream_public(redisContext *c, const status_facts *f, const stream_event *ev,
                   char *err, size_t errlen);

/* A direct status: timeline:direct:<id> of its local author and of each
 * local account it mentions. */
int  stream_direct(redisContext *c, const status_facts *f, const stream_event *ev,
                   char *err, size_t errlen);

/* {"event":"conversation","conversation_id":"<id>"} on timeline:direct:<account>
 * (PushConversationWorker's channel): the streaming side renders the
 * Conversation for its owner, as notifications.  0 or -1 + err. */
/* The event on timeline:<id> of each row's first column (account ids):
 * the user streams of those accounts.  0 or -1 with err. */
int  stream_accounts(redisContext *c, PGresult *ids, const stream_event *ev,
                     char *err, size_t errlen);

/* The pattern of the home timelines' channels for PUBSUB CHANNELS, and
 * the account id of such a channel: timeline:<digits> only (not
 * :notifications, list:, ...); its length, 0 for another channel. */
#define STREAM_HOME_CHANNELS  "timeline:[0-9]*"
size_t stream_home_channel_id(const char *channel, size_t len, const char **id);

int  stream_conversation(redisContext *c, const char *account_id, const char *conversation_id,
                         char *err, size_t errlen);

#endif
