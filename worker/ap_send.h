#ifndef MW_AP_SEND_H
#define MW_AP_SEND_H

/* The worker's outgoing ActivityPub: who signs (a local account's key, or
 * the instance actor's), and the signature of each request, made per hop
 * and per attempt with a fresh Date (lib/mstdn_httpsig: draft-cavage
 * rsa-sha256 over "(request-target) host date digest", or RFC 9421 with
 * Content-Digest for a peer that refuses the former). */

#include <stddef.h>
#include <curl/curl.h>
#include <libpq-fe.h>
#include <yajl/yajl_tree.h>

#include "mstdn_ap.h"

#include "config.h"

#define AP_INSTANCE_ACTOR_ID "-99"      /* Mastodon's instance actor account */

typedef struct {
    char    key_id[1120];           /* base/users/NAME#main-key */
    char    actor[1100];            /* base/users/NAME */
    char    username[64];
    char   *private_key;            /* PEM, malloc'd */
    size_t  private_key_len;
    void   *pkey;                   /* EVP_PKEY parsed once (lazily) */
} ap_signer;

/* What a fetch_sign_fn gets: the signer and the form to sign in. */
typedef struct {
    ap_signer       *signer;
    int              rfc9421;       /* 0: cavage, 1: RFC 9421 */
} ap_signing;

/* The signer of a local account (or AP_INSTANCE_ACTOR_ID): 1 loaded,
 * 0 no such local account or no key (nothing can be signed for it),
 * -1 database error (err). */
int  ap_signer_load(PGconn *db, const worker_config *cfg, const char *account_id,
                    ap_signer *s, char *err, size_t errlen);
void ap_signer_free(ap_signer *s);

/* The instance actor's signer for GETs (Mastodon signs a fetch made on
 * no account's behalf as the instance actor): s is a signer kept by the
 * caller (a job thread's), loaded here the first time and kept with its
 * parsed key after.  1 ready, 0 no instance actor key (unsigned), -1
 * database error (err). */
int  ap_signer_instance(PGconn *db, const worker_config *cfg, ap_signer *s,
                        char *err, size_t errlen);

/* fetch_sign_fn with an ap_signing as its data: adds Host, Date, Digest
 * (a body) and Signature, or Content-Digest, Signature-Input and
 * Signature (RFC 9421). */
int  ap_sign(void *signing, const char *method, const char *url, const char *body,
             size_t body_len, struct curl_slist **headers, char *err, size_t errlen);

/* An activity of lib/mstdn_ap as a malloc'd JSON document (*len its
 * length), or NULL. */
struct mstdn_ap_activity_s;
char *ap_render(const struct mstdn_ap_activity_s *a, size_t *len);

/* The activity of a local status for action "create" (Create, or
 * Announce for a reblog), "update" (Update; nothing for a reblog),
 * "poll_update" (the Update of its Question after votes) or
 * "delete" (Delete with a Tombstone, or Undo of the Announce): 1 with the
 * document in *out (malloc'd) and its author in account_id, 0 nothing to
 * send (gone, not local, deleted before its Create), -1 + err. */
int ap_status_activity(PGconn *db, const worker_config *cfg, const char *status_id,
                       const char *action, char **out, size_t *out_len,
                       char account_id[32], char *err, size_t errlen);

/* A local account's activity for action "update" (Update of the actor)
 * or "delete" (Delete of the actor): 1 with the document in *out, 0 no
 * such local account, -1 + err. */
/* The Emoji tags of the local emojis in emojis (MSTDN_EMOJIS_SQL's array
 * parsed, NULL: none), written into tags (room for as many as the array
 * has): their count.  The tags point into emojis and *urls (free() it when
 * they are written). */
typedef struct {
    char id[600];
    char icon[1024];
} ap_emoji_urls;
size_t ap_emoji_tags(const worker_config *cfg, yajl_val emojis, mstdn_ap_tag_t *tags,
                     ap_emoji_urls **urls);

int ap_account_activity(PGconn *db, const worker_config *cfg, const char *account_id,
                        const char *action, char **out, size_t *out_len, char *err, size_t errlen);

#endif
