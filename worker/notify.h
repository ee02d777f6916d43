#ifndef MW_NOTIFY_H
#define MW_NOTIFY_H

/* Notifications: Mastodon's NotifyService.  A row in `notifications`
 * (idempotent: the unique index on recipient + activity + type, ON
 * CONFLICT DO NOTHING) and a `notification` event on timeline:<recipient>. */

#include <stddef.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>

/* Rendered entities for the event: raw JSON objects (or NULL). */
typedef struct {
    const char *account;            /* the sender */
    size_t      account_len;
    const char *status;             /* the status concerned, or NULL */
    size_t      status_len;
} notify_render;

/* One notification of `type` for recipient, unless NotifyService would
 * drop it (see notify.c).  target_status_id ("" none) is the status it is
 * about: favourite and reblog notifications are grouped by it.  0 or -1. */
int notify_one(redisContext *c, PGconn *db, const char *type, const char *recipient_id,
               const char *from_account_id, const char *activity_type, const char *activity_id,
               const char *target_status_id, const notify_render *render,
               char *err, size_t errlen);

/* Notifications of `type` ("status", "update") with the status as activity
 * for every account in recipients (a PostgreSQL bigint array), from its
 * author.  "update" replaces an earlier one, so each edit shows anew. */
int notify_status(redisContext *c, PGconn *db, const char *type, const char *recipients,
                  const char *status_id, const char *author_id, const notify_render *render,
                  char *err, size_t errlen);

/* `poll` notifications of a poll's end (Poll + the poll id, from its
 * author) for every account in recipients (a PostgreSQL bigint array), the
 * author included; render NULL: rows only, no events (the renderings are
 * gone).  0 or -1. */
int notify_poll(redisContext *c, PGconn *db, const char *recipients, const char *poll_id,
                const char *status_id, const char *author_id, const notify_render *render,
                char *err, size_t errlen);

/* `mention` notifications for the local accounts a status mentions (not
 * silently), with the Mention rows as activities. */
int notify_mentions(redisContext *c, PGconn *db, const char *status_id,
                    const notify_render *render, char *err, size_t errlen);

/* Mastodon's group key for favourite/reblog ("<type>-<status id>-<hour>")
 * and follow ("follow-<hour>"): the hour bucket of the recipient's previous
 * group of that kind is reused while it is less than 12 hours old.  Empty
 * for the other types.  0 or -1. */
int notify_group_key(redisContext *c, const char *type, const char *recipient_id,
                     const char *target_status_id, char *out, size_t outlen,
                     char *err, size_t errlen);

#endif
