#ifndef MW_JOBS_H
#define MW_JOBS_H

#include <stddef.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include "ap_send.h"
#include "args.h"
#include "config.h"
#include "http.h"
#include "queue.h"
#include "mstdn_media.h"

/* What a job handler gets: the job, the configuration, and its thread's
 * connections.  The Redis connection is the thread's own (blocking); the
 * PostgreSQL connection is opened on first use; http runs transfers
 * (HTTP, SMTP) on the thread's event loop, many at once: start them, then
 * http_wait() (NULL if the loop could not be made). */
typedef struct {
    const worker_config *cfg;
    const job_entry     *job;
    const char          *consumer;
    redisContext       **redis;
    PGconn             **db;
    http_client         *http;
    ap_signer           *instance_signer;   /* the thread's, for signed GETs
                                             * (loaded on first use, key kept
                                             * parsed); NULL: GETs unsigned */
} job_ctx;

/* Returns 0 on success, -1 on failure with a message in err (the job is
 * retried later, then moved to the dead stream). */
typedef int (*job_handler)(job_ctx *ctx, const char *args_json, size_t len,
                           char *err, size_t errlen);

job_handler jobs_find(const char *type);

/* The thread's PostgreSQL connection, (re)opened as needed; NULL + err. */
PGconn *job_db(job_ctx *ctx, char *err, size_t errlen);

/* Jobs with args {"account_id", "target_account_id", ...}: both ids
 * parsed, the database connected, then fn with the args for the rest.
 * 0 or -1 + err. */
typedef int (*job_pair_fn)(job_ctx *ctx, PGconn *db, const job_args *a, const char *account,
                           const char *target, char *err, size_t errlen);
int job_account_pair(job_ctx *ctx, const char *args_json, size_t len, job_pair_fn fn,
                     char *err, size_t errlen);

/* Handlers, one file each. */
int job_test_record(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen);
int job_announcement_publish(job_ctx *ctx, const char *args_json, size_t len, char *err,
                             size_t errlen);
int job_announcement_reaction(job_ctx *ctx, const char *args_json, size_t len, char *err,
                              size_t errlen);
int job_user_confirmation(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen);
int job_distribute(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen);
int job_status_update(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen);
int job_remove_status(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen);
int job_notify(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen);
int job_feed_merge(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen);
int job_feed_unmerge(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen);
int job_status_forget(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen);
/* the same for one status, from a job that changed it */
int status_forget_now(redisContext *c, const char *id, char *err, size_t errlen);
/* after a change to what viewers see of authors (a follow accepted or
 * rejected, a block, a suspension): the viewer's facts in every nginx
 * node's render cache go ("0": every viewer's); fire and forget */
void viewer_forget_now(redisContext *c, const char *id);
/* "<kind> <id>" on the render cache's forget channel (kind: the module's
 * words, ngx_http_mastodon_cache_forget_message()) */
void cache_forget_publish(redisContext *c, const char *kind, const char *id);
int job_activitypub_distribute(job_ctx *ctx, const char *args_json, size_t len, char *err,
                               size_t errlen);
int job_activitypub_relationship(job_ctx *ctx, const char *args_json, size_t len, char *err,
                                 size_t errlen);
int job_activitypub_account(job_ctx *ctx, const char *args_json, size_t len, char *err,
                            size_t errlen);
int job_activitypub_flag(job_ctx *ctx, const char *args_json, size_t len, char *err,
                         size_t errlen);
int job_activitypub_deliver(job_ctx *ctx, const char *args_json, size_t len, char *err,
                            size_t errlen);
int job_inbox_process(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen);
int job_fetch_key(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen);
int job_resolve(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen);
int job_followers_synchronization(job_ctx *ctx, const char *args_json, size_t len, char *err,
                                  size_t errlen);
int job_move_followers(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen);
int job_thread_resolve(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen);
int job_prune_processed_activities(job_ctx *ctx, const char *args_json, size_t len, char *err,
                                   size_t errlen);
int job_media_process(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen);
int job_activitypub_vote(job_ctx *ctx, const char *args_json, size_t len, char *err,
                         size_t errlen);
int job_activitypub_poll_update(job_ctx *ctx, const char *args_json, size_t len, char *err,
                                size_t errlen);
int job_media_remove(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen);
int job_account_image_process(job_ctx *ctx, const char *args_json, size_t len, char *err,
                              size_t errlen);
int job_media_thumbnail(job_ctx *ctx, const char *args_json, size_t len, char *err,
                        size_t errlen);
int job_account_image_remove(job_ctx *ctx, const char *args_json, size_t len, char *err,
                             size_t errlen);
int job_media_cleanup(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen);
int job_web_push(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen);
int job_media_fetch(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen);
int job_account_image_fetch(job_ctx *ctx, const char *args_json, size_t len, char *err,
                            size_t errlen);

/* A remote media file (media_download.c), unsigned through fetch.h: at
 * most limit bytes, typed from its bytes, within its type's limit, in a
 * temporary file at path (the caller unlinks it).  1 downloaded; 0 not
 * to be had (refused, gone, too large, not media: err says which); -1 a
 * retry later. */
typedef struct {
    char              path[256];
    long long         size;
    mstdn_media_kind  kind;
} media_download_t;

int media_download(job_ctx *ctx, const char *url, size_t limit, media_download_t *out,
                   char *err, size_t errlen);

/* One attachment's file (job_media_process.c), an upload's or (remote) a
 * remote attachment's downloaded copy: the range [offset, offset + size)
 * of spool, of the sniffed type, stored as base.<ext>. */
typedef struct {
    const char  *id, *base, *type, *spool;
    long long    offset, size;
    int          remote;
} media_source;

/* Processed and stored, the row completed; 0 (done, or a bad file: failed,
 * or for a remote one left uncached) or -1 (a retry). */
int media_attachment_store(job_ctx *ctx, PGconn *db, const media_source *src, char *err,
                           size_t errlen);

/* A thumbnail of an audio or video attachment (job_media_thumbnail.c):
 * the image at [offset, offset + size) of spool as the small style,
 * stored as given's 16 hex digits and the saved type's extension (remote:
 * under cache/), the row's thumbnail columns set, the former one removed.
 * 0 (done, or a bad image or a row that is not audio or video: nothing
 * changed) or -1 (a retry). */
int media_thumbnail_store(job_ctx *ctx, PGconn *db, const char *id, const char *spool,
                          long long offset, long long size, const char *type, const char *given,
                          int remote, char *err, size_t errlen);
int job_poll_expire(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen);
int job_scheduled_status_publish(job_ctx *ctx, const char *args_json, size_t len, char *err,
                                 size_t errlen);

#endif
