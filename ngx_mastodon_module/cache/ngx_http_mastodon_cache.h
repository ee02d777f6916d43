/*
 * The render cache (_render_cache.c): rendered entities, without what
 * depends on the viewer, in a shared memory zone that every nginx worker of
 * a node reads (mastodon_render_cache_size), keyed by kind and id.
 *
 * Coherence: a writer calls _forget() after its commit (this node) and
 * publishes the change on Redis (channel mastodon:cache:forget, message
 * "<kind> <id> [<id>...]"), which every worker of every node hears and
 * forgets too.  A fill takes the entry's version before it reads its
 * source; _put() stores nothing if the entry was forgotten since.  While a
 * worker is not subscribed (Redis down, reconnecting) it neither reads nor
 * fills, and each (re)subscription empties the zone: what was published
 * meanwhile is lost.
 */

#ifndef _NGX_HTTP_MASTODON_CACHE_H_INCLUDED_
#define _NGX_HTTP_MASTODON_CACHE_H_INCLUDED_


#include "ngx_http_mastodon_backend.h"


#define NGX_HTTP_MASTODON_CACHE_CHANNEL  "mastodon:cache:forget"

typedef enum {
    NGX_HTTP_MASTODON_CACHE_STATUS = 1,   /* "<account> <reblog of> <vis>\n"
                                             + the viewer-less Status */
    NGX_HTTP_MASTODON_CACHE_FILTERS,      /* by account: "0", the account
                                             has no filter that can match */
    NGX_HTTP_MASTODON_CACHE_VIEWER,       /* by account: the viewer's facts
                                             about statuses and authors it
                                             saw; id 0: every viewer's */
    NGX_HTTP_MASTODON_CACHE_BIG,          /* id 0: "0", no account is
                                             merged on read (no home page
                                             asks for big accounts' posts);
                                             the worker's switch forgets it */
    NGX_HTTP_MASTODON_CACHE_ACCOUNT,      /* "<epoch>\n" + the Account of a
                                             shown account; id 0: the epoch
                                             (every account's version) */
    NGX_HTTP_MASTODON_CACHE_CREDENTIALS,  /* "<epoch>\n" + the account's
                                             CredentialAccount; forgotten
                                             with its Account ("account") */
    NGX_HTTP_MASTODON_CACHE_PAGE,         /* by the hash of a public or tag
                                             timeline's statement and
                                             values: its page's ids; id 0:
                                             the epoch, moved by every
                                             account forget (sql/0047) */
    NGX_HTTP_MASTODON_CACHE_NOTIFICATIONS, /* by recipient: the newest rows
                                             of its notification page
                                             (_notifications.c); id 0: every
                                             recipient's epoch */
    NGX_HTTP_MASTODON_CACHE_NOTIFICATION_GROUPS, /* by recipient: the rows
                                             of its first v2 page;
                                             forgotten with its
                                             "notifications" */
    NGX_HTTP_MASTODON_CACHE_LIST,         /* by list: its owner's account
                                             id (the list timeline's
                                             check) */
    NGX_HTTP_MASTODON_CACHE_KINDS
} ngx_http_mastodon_cache_kind_e;


char *ngx_http_mastodon_render_cache_init_conf(ngx_conf_t *cf,
    ngx_http_mastodon_main_conf_t *mcf);
void ngx_http_mastodon_render_cache_init_process(ngx_cycle_t *cycle,
    ngx_http_mastodon_main_conf_t *mcf);
void ngx_http_mastodon_render_cache_exit_process(ngx_cycle_t *cycle);

/* 0: the cache is not to be used now (off, or not subscribed) */
ngx_uint_t ngx_http_mastodon_cache_usable(void);
/* 0: rendered accounts are not to be used now (no relay heard) */
ngx_uint_t ngx_http_mastodon_cache_accounts_usable(void);
/* take before reading what is to be put */
ngx_uint_t ngx_http_mastodon_cache_version(ngx_uint_t kind, int64_t id);
/* NGX_OK: *out is a copy in pool; NGX_DECLINED: a miss */
ngx_int_t ngx_http_mastodon_cache_get(ngx_uint_t kind, int64_t id,
    ngx_pool_t *pool, ngx_str_t *out);
/* several of one kind under one lock, one aligned copy in pool: out[i]
 * (len 0: a miss); NGX_OK: all there, NGX_DECLINED: some missed */
ngx_int_t ngx_http_mastodon_cache_get_many(ngx_uint_t kind, int64_t *ids,
    ngx_uint_t n, ngx_pool_t *pool, ngx_str_t *out);
/* 1: an entry is there (nothing copied, the LRU left as it is) */
ngx_uint_t ngx_http_mastodon_cache_has(ngx_uint_t kind, int64_t id);
void ngx_http_mastodon_cache_put(ngx_uint_t kind, int64_t id,
    ngx_uint_t version, ngx_str_t *value);
void ngx_http_mastodon_cache_forget(ngx_uint_t kind, int64_t id);
/* a forget message, as published: "<kind> <id> [<id>...]" */
void ngx_http_mastodon_cache_forget_message(ngx_str_t *message);
void ngx_http_mastodon_cache_flush(void);
/* publishes "<word> <id>..." on the channel (the other workers and nodes;
 * the caller forgets on this one) */
void ngx_http_mastodon_cache_publish(ngx_http_request_t *r, const char *word,
    int64_t *ids, ngx_uint_t n);


#endif /* _NGX_HTTP_MASTODON_CACHE_H_INCLUDED_ */
