#ifndef MW_DELIVER_H
#define MW_DELIVER_H

/* Delivery of one activity to many inboxes (Mastodon's
 * ActivityPub::DeliveryWorker, all at once on the thread's multi handle):
 * each POST signed as the actor (fresh Date per attempt), at most
 * deliver_host_concurrency at once per host, no redirects followed.
 *
 * Per inbox: a 2xx is delivered; a 4xx other than 401, 408 and 429, or a
 * 501, is given up at once (Mastodon's response_error_unsalvageable?); a
 * URL or address the guard refuses is given up; anything else failed and
 * is retried: on the first run (attempt 0) as a new activitypub_deliver
 * job of its own scheduled on the queue's retry curve at attempt 1, on a
 * retry by failing the job, up to DELIVER_RETRIES (Mastodon's retry: 16,
 * about two days and a half of backoff), then dropped.
 *
 * Hosts: a failure adds today to mastodon:exhausted_deliveries:<host>;
 * on its 7th day the host goes into unavailable_domains and is skipped
 * (DeliveryFailureTracker); an answer (2xx or unsalvageable) clears both. */

#include "ap_send.h"
#include "jobs.h"

#define DELIVER_RETRIES       16
#define DELIVER_FAILURE_DAYS  7
#define DELIVER_MAX_RESPONSE  (64 * 1024)

typedef struct {
    size_t  delivered;
    size_t  given_up;       /* unsalvageable answers, refused URLs */
    size_t  skipped;        /* unavailable or suspended hosts */
    size_t  failed;         /* to be retried */
} deliver_stats;

/* make bench only (deliver-bench): POSTs go unsigned, libcurl's floor. */
extern int deliver_bench_unsigned;

/* deliver()'s flags */
#define DELIVER_RETRY_JOB       1   /* an activitypub_deliver retry: its failure
                                     * is returned as -1 rather than scheduled */
#define DELIVER_SYNC_FOLLOWERS  2   /* a followers-only post: each POST carries
                                     * Mastodon's Collection-Synchronization */

/* Delivers body to the inboxes as account_id (a local account, or the
 * instance actor).  flags: DELIVER_*.  0, or -1 + err (nothing could be
 * tried, or with DELIVER_RETRY_JOB a failure). */
int deliver(job_ctx *ctx, PGconn *db, const char *account_id, const char *body, size_t len,
            char *const *inboxes, size_t n, int flags, deliver_stats *stats,
            char *err, size_t errlen);

/* The inboxes mastodon_delivery_inboxes(kind, account, status, target)
 * names (sql/0012_delivery.sql: the one rule of who receives what),
 * malloc'd array of malloc'd strings in *out.  Count, or -1 + err. */
long deliver_inboxes(PGconn *db, const char *kind, const char *account_id,
                     const char *status_id, const char *target_id, char ***out,
                     char *err, size_t errlen);
void deliver_inboxes_free(char **inboxes, long n);

/* Enqueues an activitypub_deliver job (queue push) of an activity already
 * rendered: to the inboxes of `kind` (computed when the job runs).  Jobs
 * that render activities call this rather than delivering themselves when
 * they are not on the push queue.  once_key: see queue_push_once (NULL:
 * pushed every time).  0 or -1 + err. */
int deliver_enqueue(job_ctx *ctx, const char *once_key, const char *account_id,
                    const char *activity, size_t len, const char *kind,
                    const char *status_id, const char *target_id, char *err, size_t errlen);

#endif
