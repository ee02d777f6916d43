/* The job type registry: type string -> handler; what handlers share. */
#include "jobs.h"
#include "db.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *type;
    job_handler handler;
} job_types[] = {
    { "test_record", job_test_record },
    { "user_confirmation", job_user_confirmation },
    { "distribute", job_distribute },
    { "status_update", job_status_update },
    { "remove_status", job_remove_status },
    { "notify", job_notify },
    { "feed_merge", job_feed_merge },
    { "feed_unmerge", job_feed_unmerge },
    { "status_forget", job_status_forget },
    { "activitypub_deliver", job_activitypub_deliver },
    { "activitypub_distribute", job_activitypub_distribute },
    { "activitypub_relationship", job_activitypub_relationship },
    { "activitypub_account", job_activitypub_account },
    { "activitypub_flag", job_activitypub_flag },
    { "inbox_process", job_inbox_process },
    { "fetch_key", job_fetch_key },
    { "resolve", job_resolve },
    { "prune_processed_activities", job_prune_processed_activities },
    { "thread_resolve", job_thread_resolve },
    { "move_followers", job_move_followers },
    { "followers_synchronization", job_followers_synchronization },
    { "media_process", job_media_process },
    { "media_remove", job_media_remove },
    { "account_image_process", job_account_image_process },
    { "account_image_remove", job_account_image_remove },
    { "media_thumbnail", job_media_thumbnail },
    { "media_cleanup", job_media_cleanup },
    { "media_fetch", job_media_fetch },
    { "account_image_fetch", job_account_image_fetch },
    { "poll_expire", job_poll_expire },
    { "activitypub_vote", job_activitypub_vote },
    { "activitypub_poll_update", job_activitypub_poll_update },
    { "scheduled_status_publish", job_scheduled_status_publish },
    { "web_push", job_web_push },
    { "announcement_publish", job_announcement_publish },
    { "announcement_reaction", job_announcement_reaction },
};

job_handler jobs_find(const char *type)
{
    for (size_t i = 0; i < sizeof(job_types) / sizeof(job_types[0]); i++) {
        if (strcmp(job_types[i].type, type) == 0)
            return job_types[i].handler;
    }
    return NULL;
}

PGconn *job_db(job_ctx *ctx, char *err, size_t errlen)
{
    return db_ensure(ctx->db, ctx->cfg, err, errlen);
}

int job_account_pair(job_ctx *ctx, const char *args_json, size_t len, job_pair_fn fn,
                     char *err, size_t errlen)
{
    job_args a;
    char account[MW_ID_LEN], target[MW_ID_LEN];

    if (args_parse(&a, args_json, len, err, errlen) != 0)
        return -1;
    int rc = -1;
    if (args_id(&a, "account_id", account) != 1 || args_id(&a, "target_account_id", target) != 1) {
        snprintf(err, errlen, "args need account_id and target_account_id (id strings)");
    } else {
        PGconn *db = job_db(ctx, err, errlen);
        if (db != NULL)
            rc = fn(ctx, db, &a, account, target, err, errlen);
    }
    args_free(&a);
    return rc;
}
