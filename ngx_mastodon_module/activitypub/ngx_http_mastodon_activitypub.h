/*
 * ActivityPub served by the module: being found and read (fed-read's
 * part), the inboxes, HTTP signatures and the key cache (fed-inbox's).
 */

#ifndef _NGX_HTTP_MASTODON_ACTIVITYPUB_H_INCLUDED_
#define _NGX_HTTP_MASTODON_ACTIVITYPUB_H_INCLUDED_


#include "ngx_http_mastodon_api.h"


/* --- the inbox, HTTP signatures, the key cache (fed-inbox) ------------- */

#include "mstdn_httpsig.h"


/* a remote actor's key, as the key cache and PostgreSQL give it */
typedef struct {
    int64_t                        account_id;
    ngx_str_t                      actor_uri;
    ngx_str_t                      acct;        /* user@domain */
    ngx_str_t                      public_key;  /* PEM */
    unsigned                       blocked:1;   /* domain suspended */
} ngx_http_mastodon_key_t;

/* the key cache (_keycache.c): shared memory, entries expire */
char *ngx_http_mastodon_keycache_init_conf(ngx_conf_t *cf,
    ngx_http_mastodon_main_conf_t *mcf);
ngx_int_t ngx_http_mastodon_keycache_get(ngx_http_mastodon_main_conf_t *mcf,
    ngx_str_t *key_id, ngx_pool_t *pool, ngx_http_mastodon_key_t *key);
void ngx_http_mastodon_keycache_put(ngx_http_mastodon_main_conf_t *mcf,
    ngx_str_t *key_id, ngx_http_mastodon_key_t *key);
void ngx_http_mastodon_keycache_forget(ngx_http_mastodon_main_conf_t *mcf,
    ngx_str_t *key_id);
mstdn_httpsig_key_t *ngx_http_mastodon_keycache_parsed(ngx_str_t *pem,
    ngx_log_t *log);


/*
 * A signed request (_signature.c): the checks without network, then the
 * key (cache, PostgreSQL, or fetched by the worker) and the verification;
 * done() is called once with NGX_OK (s->key is the signer), NGX_DECLINED
 * (the key is unknown and s->unknown_ok said so), or a status (401, 403,
 * 503; s->error says why).
 */
typedef struct ngx_http_mastodon_signed_s  ngx_http_mastodon_signed_t;

typedef void (*ngx_http_mastodon_signed_pt)(ngx_http_request_t *r,
    ngx_http_mastodon_signed_t *s, ngx_int_t rc);

struct ngx_http_mastodon_signed_s {
    ngx_http_request_t            *request;
    mstdn_httpsig_t               *sig;
    ngx_str_t                      body;        /* a POST's, as received */
    ngx_str_t                      key_id;
    ngx_str_t                      key_host;    /* the key id's host */
    u_char                        *base;        /* the signing string */
    size_t                         base_len;
    mstdn_httpsig_request_t        req;         /* what base covers */
    ngx_http_mastodon_key_t        key;
    const char                    *error;       /* for a 401/403/503 */
    ngx_http_mastodon_signed_pt    done;
    void                          *data;

    /* the key fetch: the answer's Redis key, the poll */
    u_char                        *answer_key;
    size_t                         answer_key_len;
    ngx_event_t                    poll;
    ngx_msec_t                     deadline;

    unsigned                       unknown_ok:1; /* no fetch: DECLINED */
    unsigned                       checks_block:1; /* the caller checks
                                                      the domain itself */
    unsigned                       from_cache:1;
    unsigned                       looked_up:1;  /* PostgreSQL read */
    unsigned                       refresh:1;    /* the stored key failed */
    unsigned                       asked:1;      /* the worker asked */
    unsigned                       reloaded:1;   /* read after the answer */
};

/* the checks without network: NGX_OK, or 400/401 with s->error */
ngx_int_t ngx_http_mastodon_signature_check(ngx_http_request_t *r,
    ngx_http_mastodon_signed_t *s);
/* the key and the verification: NGX_DONE (done() follows) or a status */
ngx_int_t ngx_http_mastodon_signature_verify(ngx_http_request_t *r,
    ngx_http_mastodon_signed_t *s);
/* {"error": ...} (and what Mastodon adds) with status */
ngx_int_t ngx_http_mastodon_signature_error(ngx_http_request_t *r,
    ngx_http_mastodon_signed_t *s, ngx_uint_t status);

/*
 * Authorized fetch (secure mode): with mastodon_authorized_fetch on, an
 * ActivityPub GET must be signed and its signer's domain not suspended.
 * NGX_DECLINED: go on at once (off, not an ActivityPub request, or a
 * cached key verified it); NGX_DONE: verification runs and next(r, ctx)
 * is called once it passed (else the request is answered 401/403/503);
 * anything else: answered, the request's rc.
 */
ngx_int_t ngx_http_mastodon_authorized_fetch(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_http_mastodon_handler_pt next);

/* POST /users/:username/inbox, POST /inbox (_inbox.c) */
ngx_int_t ngx_http_mastodon_inbox(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_shared_inbox(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);


#endif /* _NGX_HTTP_MASTODON_ACTIVITYPUB_H_INCLUDED_ */
