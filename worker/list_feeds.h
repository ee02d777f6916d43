#ifndef MW_LIST_FEEDS_H
#define MW_LIST_FEEDS_H

/* List feeds (mastodon:feed:list:<list id>): the lists of local users that
 * hold a status' author get the status as the home feeds do (Mastodon's
 * FanOutOnWriteService#deliver_to_lists, FeedManager#push_to_list). */

#include "fanout.h"

/* The status through op into the feeds of the lists holding account_id
 * (members by a follow, or the owner itself), LIST_FEEDS_PAGE lists per
 * query.  With filter (FEED_ADD): only public, unlisted and private
 * statuses, into the lists mastodon_list_accepts() (sql/0018_lists.sql)
 * lets them in; events on timeline:list:<id>.  *changed as fanout_home's.
 * 0 or -1 + err. */
int list_feeds_walk(job_ctx *ctx, PGconn *db, const status_facts *filter, const char *account_id,
                    const char *status_id, const char *reblog_of_id, feed_op op,
                    const char *event_key, long long *changed, char *err, size_t errlen);

/* Drops the list feeds of the lists `owner` owns (list_id NULL) or of the
 * one list of theirs: the module rebuilds them from PostgreSQL on their next read,
 * without the statuses of members gone or accounts blocked or muted.
 * 0 or -1 + err. */
int list_feeds_drop(redisContext *c, PGconn *db, const char *owner, const char *list_id,
                    char *err, size_t errlen);

#endif
