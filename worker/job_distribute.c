/* distribute: a new status or reblog reaches its readers (Mastodon's
 * FanOutOnWriteService and FeedInsertWorker).
 * args {"status_id": "<id>", "payload": <the Status entity, rendered>}.
 *
 * - mention notifications to the local accounts it mentions;
 * - the author's home feed and those of the local followers who pass the
 *   home filter (recipients.c); a direct status only reaches the mentioned
 *   followers; `update` events on their timeline:<id>.  A big account's
 *   status (big_accounts.c) is not pushed to its followers: their home
 *   timelines merge it on read; only the followers' `status`
 *   notifications walk them (the few with follows.notify), and the
 *   followers connected to streaming get its `update`;
 * - the feeds of the lists holding the author that take it (list_feeds.c),
 *   `update` on timeline:list:<id>;
 * - a public status with tags: the home feeds of the local followers of
 *   its tags (recipients.c's tag_followers_page_send, the home rule's blocks
 *   and mutes);
 * - `status` notifications to followers with follows.notify (not for
 *   reblogs or replies to others);
 * - a reblog: a `reblog` notification to the original's local author;
 * - `update` on the public and hashtag channels, or timeline:direct:<id>;
 * - a direct status: the direct-message threads (conversations.c) of its
 *   author and of the mentioned accounts notified of it;
 * - activitypub_distribute (create) when it reaches remote accounts.
 *
 * A status that is gone or deleted by now is skipped. */
#include "jobs.h"
#include "args.h"
#include "big_accounts.h"
#include "conversations.h"
#include "fanout.h"
#include "list_feeds.h"
#include "log.h"
#include "notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    job_ctx             *ctx;
    PGconn              *db;
    const status_facts  *f;
} page_notify;

/* `status` notifications for the followers of this page who asked for them
 * (Mastodon's FeedInsertWorker#notify?). */
static int notify_followers(void *arg, const PGresult *page, char *err, size_t errlen)
{
    page_notify *pn = arg;
    const status_facts *f = pn->f;

    if (f->reblog_of_id[0] != '\0' || f->reply_to_other)
        return 0;
    /* a PostgreSQL array of their ids: at most MW_ID_LEN - 1 digits and a comma each */
    size_t used = 0;
    char *ids = malloc(3 + (size_t) PQntuples(page) * MW_ID_LEN);
    if (ids == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    ids[used++] = '{';
    for (int i = 0; i < PQntuples(page); i++) {
        if (PQgetvalue(page, i, 1)[0] != 't')
            continue;
        const char *id = PQgetvalue(page, i, 0);
        size_t n = strnlen(id, MW_ID_LEN - 1);
        if (used > 1)
            ids[used++] = ',';
        memcpy(ids + used, id, n);
        used += n;
    }
    ids[used++] = '}';
    ids[used] = '\0';
    int rc = notify_status(*pn->ctx->redis, pn->db, "status", ids, f->id, f->account_id, err,
                           errlen);
    free(ids);
    return rc;
}

/* The home feeds (`update` events), `status` notifications page by page,
 * and for a reblog the `reblog` notification to the original's author. */
static int distribute(job_ctx *ctx, PGconn *db, const status_facts *f, fanout_event *event,
                      char *err, size_t errlen)
{
    long long written;
    page_notify pn = { ctx, db, f };
    fanout_walk w = {
        .filter = f, .account_id = f->account_id, .include_self = f->author_local,
        .status_id = f->id, .reblog_of_id = f->reblog_of_id, .op = FEED_ADD,
        .event = event, .on_page = notify_followers, .arg = &pn,
    };
    int merged = big_account_merged(db, f, ctx->cfg->big_account_followers, err, errlen);
    if (merged < 0)
        return -1;
    if (merged == 2)    /* the nodes' "no big account" is wrong from now */
        cache_forget_publish(*ctx->redis, "big", "0");
    w.notify_only = merged != 0;
    if (fanout_home(ctx, db, &w, &written, err, errlen) != 0)
        return -1;
    /* the followers reading their home stream get it as if pushed */
    if (merged && big_account_stream(*ctx->redis, db, f->account_id, f, NULL, event->ev,
                                      err, errlen) != 0)
        return -1;
    mlog(LOG_INFO, "distribute: status %s into %lld home feed(s)%s", f->id, written,
         merged ? ", merged on read by its followers' (a big account)" : "");
    /* the lists' scripts publish the event from Redis */
    const char *key = NULL;
    if (f->author_listed && (key = fanout_event_key(*ctx->redis, event, err, errlen)) == NULL)
        return -1;
    if (list_feeds_walk(ctx, db, f, f->account_id, f->id, f->reblog_of_id, FEED_ADD, key,
                        &written, err, errlen) != 0)
        return -1;
    mlog(LOG_INFO, "distribute: status %s into %lld list feed(s)", f->id, written);

    /* deliver_to_hashtag_followers!: a broadcastable status with tags
     * someone follows */
    if (status_broadcastable(f) && f->tags_followed) {
        fanout_walk tw = {
            .filter = f, .tag_followers = 1, .account_id = f->account_id,
            .status_id = f->id, .reblog_of_id = f->reblog_of_id, .op = FEED_ADD,
            .event = event,
        };
        if (fanout_home(ctx, db, &tw, &written, err, errlen) != 0)
            return -1;
        mlog(LOG_INFO, "distribute: status %s into %lld tag follower feed(s)", f->id, written);
    }

    if (f->visibility == VISIBILITY_DIRECT && f->reblog_of_id[0] == '\0'
        && conversations_add(db, *ctx->redis, f->id, err, errlen) != 0)
        return -1;

    if (f->reblog_of_id[0] != '\0' && f->reblog_account_domain == NULL) {
        if (notify_one(*ctx->redis, db, "reblog", f->reblog_account_id, f->account_id, "Status",
                       f->id, f->reblog_of_id, err, errlen) != 0)
            return -1;
    }
    return 0;
}

static const fanout_status_job distribute_job = {
    "distribute", "update", "create", 0, 0, distribute
};

int job_distribute(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen)
{
    return fanout_status(ctx, &distribute_job, args_json, len, err, errlen);
}
