#ifndef MW_INBOX_H
#define MW_INBOX_H

/* The worker's incoming side: activities the module's inbox stored
 * (inbox_activities), processed by job_inbox_process.c with the rules that
 * keep it honest, one file per family of activities (inbox_*.c):
 *
 * - the signer is the activity's actor (the module verified the signature
 *   of actor_uri's key; the activity must name that actor);
 * - the activity's id and the ids of objects it creates are on the actor's
 *   host;
 * - Update, Delete and Undo touch only what the actor owns;
 * - an object from another origin is fetched from there (worker/fetch.h),
 *   never taken from the embedded copy; a fetched document counts only
 *   for its own id (the final URL after redirects is the id);
 * - a deleted URI stays deleted (tombstones); an activity id is processed
 *   once (ap_processed_activities, in the transaction of its effects);
 * - a suspended domain's activities are dropped.
 *
 * Effects are rows plus the existing jobs (distribute, notify, ...) put
 * into job_outbox in the same transaction, so remote posts reach home
 * feeds and notifications as local ones do. */

#include <stddef.h>
#include <libpq-fe.h>

#include "jobs.h"
#include "mstdn_value.h"

#define INBOX_HOST_MAX  256
#define INBOX_ACCT_MAX  512         /* the user part of a WebFinger acct */

typedef struct {
    job_ctx              *ctx;
    PGconn               *db;
    const mstdn_alloc_t  *alloc;        /* documents fetched meanwhile */

    const mstdn_value_t  *json;         /* the activity */
    const char           *id;           /* its id (on the actor's host) */
    const char           *type;
    const char           *actor_uri;    /* the signer, = the actor */
    char                  actor_id[MW_ID_LEN];
    char                  actor_host[INBOX_HOST_MAX];
    int                   thread_depth; /* ancestors fetched so far for the
                                         * status stored (thread_resolve) */
} inbox_activity;

/* How many ancestors of a status are fetched one after another, each by
 * its own thread_resolve job (Mastodon's ThreadResolveWorker). */
#define INBOX_THREAD_DEPTH_MAX  8

/* Unknown accounts a status mentions that are fetched while storing it. */
#define INBOX_MENTION_FETCH_MAX 10

/* What a handler returns: done (processed or refused, the row goes) or a
 * temporary failure (err; the job is retried). */
#define INBOX_DONE    0
#define INBOX_RETRY  -1

typedef int (*inbox_handler)(inbox_activity *ib, char *err, size_t errlen);

int inbox_follow(inbox_activity *ib, char *err, size_t errlen);
int inbox_accept(inbox_activity *ib, char *err, size_t errlen);
int inbox_reject(inbox_activity *ib, char *err, size_t errlen);
int inbox_block(inbox_activity *ib, char *err, size_t errlen);
int inbox_create(inbox_activity *ib, char *err, size_t errlen);
int inbox_update(inbox_activity *ib, char *err, size_t errlen);
int inbox_delete(inbox_activity *ib, char *err, size_t errlen);
int inbox_announce(inbox_activity *ib, char *err, size_t errlen);
int inbox_like(inbox_activity *ib, char *err, size_t errlen);
int inbox_undo(inbox_activity *ib, char *err, size_t errlen);
int inbox_add(inbox_activity *ib, char *err, size_t errlen);
int inbox_remove(inbox_activity *ib, char *err, size_t errlen);
int inbox_move(inbox_activity *ib, char *err, size_t errlen);
int inbox_flag(inbox_activity *ib, char *err, size_t errlen);

/* Undo's halves, by the type of what is undone (object: the activity
 * undone, embedded or its id, checked to be the actor's). */
int inbox_undo_follow(inbox_activity *ib, const mstdn_value_t *object, char *err, size_t errlen);
int inbox_undo_block(inbox_activity *ib, const mstdn_value_t *object, char *err, size_t errlen);
int inbox_undo_like(inbox_activity *ib, const mstdn_value_t *object, char *err, size_t errlen);
int inbox_undo_announce(inbox_activity *ib, const mstdn_value_t *object, char *err, size_t errlen);

/* --- inbox.c: what the handlers share ---------------------------------- */

/* A string member, or NULL. */
const char *inbox_str(const mstdn_value_t *obj, const char *key);

/* The id of a reference: the string itself, or an object's "id". */
const char *inbox_ref(const mstdn_value_t *v);

/* The member key as a reference (inbox_ref), or NULL. */
const char *inbox_ref_of(const mstdn_value_t *obj, const char *key);

/* 1 if the object's type (a string, or an array holding it) is type. */
int inbox_type_is(const mstdn_value_t *obj, const char *type);

/* 1 if uri is an http(s) URL on host (lower case, no port). */
int inbox_on_host(const char *uri, const char *host);

/* The local account a URI of ours names (base/users/NAME, base/actor):
 * 1 found (id in out), 0 not ours or unknown, -1 error. */
int inbox_local_account(inbox_activity *ib, const char *uri, char out[MW_ID_LEN],
                        char *err, size_t errlen);

/* A status (not deleted) by its URI: 1 (id, author, author local), 0, -1. */
int inbox_status(inbox_activity *ib, const char *uri, char id[MW_ID_LEN],
                 char account[MW_ID_LEN], int *local, char *err, size_t errlen);

/* 1 if the URI was deleted for good (tombstones), 0, -1. */
int inbox_tombstoned(inbox_activity *ib, const char *uri, char *err, size_t errlen);

/* BEGIN and record the activity id: 1 first time, 0 a replay (rolled
 * back), -1 error (rolled back). */
int inbox_begin(inbox_activity *ib, char *err, size_t errlen);

/* COMMIT; or ROLLBACK.  0 / -1. */
int inbox_commit(inbox_activity *ib, char *err, size_t errlen);
void inbox_rollback(inbox_activity *ib);

/* A statement of the transaction: the result of the wanted status, or
 * NULL + err (the caller rolls back). */
PGresult *inbox_sql(inbox_activity *ib, const char *sql, int n, const char *const *params,
                    ExecStatusType want, char *err, size_t errlen);

/* ISO 8601 as ActivityPub writes it (published, updated), or NULL. */
const char *inbox_time(const char *s);

/* 1 if host (or a parent domain) is suspended by a domain block, 0, -1. */
int inbox_domain_suspended(PGconn *db, const char *host, char *err, size_t errlen);

/* Runs one statement (its rows: a word for the log) as the activity's
 * transaction: inbox_begin, the statement, COMMIT; a replay does nothing.
 * INBOX_DONE or INBOX_RETRY. */
int inbox_apply(inbox_activity *ib, const char *what, const char *sql, int n,
                const char *const *params, char *err, size_t errlen);

/* The sanitized HTML of a remote text (NULL: ""), cut at max_chars
 * first; malloc'd (free it), NULL + err. */
char *inbox_html(const char *html, size_t max_chars, char *err, size_t errlen);

/* --- inbox_actor.c: remote actors -------------------------------------- */

/* What a WebFinger lookup answered: the subject's acct split, and the
 * ActivityPub actor it links as self. */
typedef struct {
    char  user[INBOX_ACCT_MAX];
    char  domain[INBOX_HOST_MAX + 8];
    char  self[2048 + 1];               /* MSTDN_REMOTE_URL_MAX */
} inbox_webfinger_t;

/* Stores (inserts or updates) the actor document doc, whose id must be
 * uri (the final URL it was fetched from, or the signer's own Update):
 * 1 stored (its account id in out), 0 refused (not an actor, id or key
 * of another origin, domain suspended...: why in err), -1 error.  A new
 * account takes its username and domain from wf (its confirmed acct)
 * when given, else preferredUsername and the id's host. */
int inbox_actor_store(PGconn *db, const worker_config *cfg, const mstdn_value_t *doc,
                      const char *uri, const inbox_webfinger_t *wf, char out[MW_ID_LEN],
                      char *err, size_t errlen);

/* --- inbox_webfinger.c --------------------------------------------------- */

/* WebFinger of acct:user@domain (over https, or http with
 * federation_allow_http; unsigned): 1 (wf), 0 none or unusable (err),
 * -1 temporary (err). */
int inbox_webfinger(job_ctx *ctx, const char *user, const char *domain, inbox_webfinger_t *wf,
                    char *err, size_t errlen);

/* FetchRemoteActorService#check_webfinger!: acct username@<uri's domain>
 * links back to uri, or names another acct (split domain) whose own
 * WebFinger answers for itself and links back to uri.  1 confirmed (the
 * acct in wf), 0 refused (err), -1 temporary (err). */
int inbox_actor_webfinger(job_ctx *ctx, const char *uri, const char *username,
                          inbox_webfinger_t *wf, char *err, size_t errlen);

/* inbox_actor_store of a fetched actor document: a known account is
 * updated; a new one is stored only once its acct is confirmed by
 * WebFinger (inbox_actor_webfinger), with that acct.  1, 0, -1 as the
 * store. */
int inbox_actor_store_new(job_ctx *ctx, PGconn *db, const mstdn_value_t *doc, const char *uri,
                          char out[MW_ID_LEN], char *err, size_t errlen);

/* A JSON object fetched from url (ActivityPub, or with webfinger its
 * Accept), whatever its id: *final_url (malloc'd) is where it came from.
 * 1, 0 refused or gone (err), -1 temporary failure (err). */
int inbox_fetch_json(job_ctx *ctx, const char *url, int webfinger, const mstdn_alloc_t *alloc,
                     const mstdn_value_t **doc, char **final_url, char *err, size_t errlen);

/* The account of an actor URI: known, or fetched from its origin and
 * stored once WebFinger confirms it (inbox_actor_store_new).  1 (out), 0
 * refused or gone (err), -1 temporary failure (err). */
int inbox_actor_fetch(job_ctx *ctx, PGconn *db, const char *uri, char out[MW_ID_LEN],
                      char *err, size_t errlen);

/* A document fetched from its origin: 1 parsed (in *doc, from alloc),
 * its id equal to the URL that answered and to uri; 0 refused, gone or
 * not that document (err); -1 temporary failure (err). */
int inbox_fetch_document(job_ctx *ctx, const char *uri, const mstdn_alloc_t *alloc,
                         const mstdn_value_t **doc, char *err, size_t errlen);

/* A remote status by its URI: known, or fetched from its origin with its
 * author and stored (an unknown parent it answers is fetched later by a
 * thread_resolve job, while depth < INBOX_THREAD_DEPTH_MAX).  1 (id in
 * out), 0 refused, gone or deleted (err), -1 temporary failure (err). */
int inbox_status_fetch(job_ctx *ctx, PGconn *db, const mstdn_alloc_t *alloc, const char *uri,
                       int depth, char out[MW_ID_LEN], char *err, size_t errlen);

/* The bounds of remote JSON documents (depth, nodes). */
extern const mstdn_limits_t inbox_json_limits;

/* --- inbox_emoji.c: custom emojis -------------------------------------- */

/* The Emoji tags of obj (a Note, an actor) into custom_emojis under the
 * domain of account_id: how many were stored, or -1 (err). */
int inbox_emojis_store(PGconn *db, const char *account_id, const mstdn_value_t *obj,
                       char *err, size_t errlen);

/* --- inbox_media.c: media attachments -------------------------------- */

/* The attachments of Note obj as mastodon_remote_media_set() takes them
 * (a JSON array, malloc'd; NULL: out of memory); *count of them. */
char *inbox_media_json(const mstdn_value_t *obj, int *count);

/* Sets status_id's attachments to media in the activity's transaction:
 * 1 they changed, 0 unchanged, -1 (err). */
int inbox_media_store(inbox_activity *ib, const char *status_id, const char *media, char *err,
                      size_t errlen);

#endif
