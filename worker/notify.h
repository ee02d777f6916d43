#ifndef MW_NOTIFY_H
#define MW_NOTIFY_H

/* Notifications: Mastodon's NotifyService.  A row in `notifications`
 * (idempotent: the unique index on recipient + activity + type, ON
 * CONFLICT DO NOTHING) and a `notification` event on
 * timeline:<recipient>:notifications naming it,
 * {"event":"notification","notification_id":"<id>"}: the streaming side
 * renders the Notification for its viewer (not Mastodon's form: only our
 * streaming side reads these channels). */

#include <stddef.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>

/* One notification of `type` for recipient, unless NotifyService would
 * drop it (see notify.c).  target_status_id ("" none) is the status it is
 * about: favourite and reblog notifications are grouped by it.  0 or -1. */
int notify_one(redisContext *c, PGconn *db, const char *type, const char *recipient_id,
               const char *from_account_id, const char *activity_type, const char *activity_id,
               const char *target_status_id, char *err, size_t errlen);

/* Notifications of `type` ("status", "update") with the status as activity
 * for every account in recipients (a PostgreSQL bigint array), from its
 * author.  "update" replaces an earlier one, so each edit shows anew. */
int notify_status(redisContext *c, PGconn *db, const char *type, const char *recipients,
                  const char *status_id, const char *author_id, char *err, size_t errlen);

/* `poll` notifications of a poll's end (Poll + the poll id, from its
 * author) for every account in recipients (a PostgreSQL bigint array), the
 * author included, each published by its id.  0 or -1. */
int notify_poll(redisContext *c, PGconn *db, const char *recipients, const char *poll_id,
                const char *status_id, const char *author_id, char *err, size_t errlen);

/* `mention` notifications for the local accounts a status mentions (not
 * silently), with the Mention rows as activities. */
int notify_mentions(redisContext *c, PGconn *db, const char *status_id, char *err,
                    size_t errlen);

/* Mastodon's group key for favourite/reblog ("<type>-<status id>-<hour>")
 * and follow ("follow-<hour>"): the hour bucket of the recipient's previous
 * group of that kind is reused while it is less than 12 hours old.  Empty
 * for the other types.  0 or -1. */
int notify_group_key(redisContext *c, const char *type, const char *recipient_id,
                     const char *target_status_id, char *out, size_t outlen,
                     char *err, size_t errlen);

#endif
