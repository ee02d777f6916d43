#ifndef MW_ANNOUNCEMENTS_H
#define MW_ANNOUNCEMENTS_H

/* Announcements (sql/0044_announcements.sql): publishing them and their
 * streaming events.  Mastodon publishes each event on every local user's
 * timeline:<id>; here on the one channel every user stream listens to,
 * ANNOUNCEMENTS_CHANNEL: one PUBLISH per event. */

#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include "config.h"

#define ANNOUNCEMENTS_CHANNEL  "timeline:announcements"

/* Renders the announcement's text (content, mentions, tags: its `rendered`),
 * marks it published (PublishScheduledAnnouncementWorker's publish!) and
 * sends {"event":"announcement","announcement_id":"<id>"} (the streams
 * render the Announcement).  1 done, 0 no such announcement, -1 + err. */
int announcement_publish(PGconn *db, redisContext *c, const worker_config *cfg,
                         const char *id, char *err, size_t errlen);

/* {"event":"announcement.delete","payload":"<id>"}: 0 or -1 + err. */
int announcement_delete_event(redisContext *c, const char *id, char *err, size_t errlen);

#endif
