/*
 * The key cache: remote actors' public keys by key id, in a shared memory
 * zone (mastodon_key_cache_size) that every nginx worker reads, so that a
 * signed request from a known peer is verified without PostgreSQL.
 * Entries are filled from PostgreSQL (mastodon_signing_key()) and live
 * mastodon_key_cache_valid; the least recently used go when the zone is
 * full.  An entry also says whether the key's domain was suspended when
 * it was read (authorized fetch answers 403 from it; the inbox checks
 * again as it stores).
 */

#include "ngx_http_mastodon_activitypub.h"


typedef struct {
    ngx_rbtree_t                   rbtree;
    ngx_rbtree_node_t              sentinel;
    ngx_queue_t                    lru;         /* most recent first */
} ngx_http_mastodon_keycache_sh_t;


typedef struct {
    ngx_http_mastodon_keycache_sh_t  *sh;
    ngx_slab_pool_t                  *shpool;
} ngx_http_mastodon_keycache_t;


typedef struct {
    ngx_str_node_t                 sn;          /* sn.str: the key id */
    ngx_queue_t                    lru;
    time_t                         expires;
    int64_t                        account_id;
    ngx_uint_t                     blocked;
    ngx_str_t                      actor_uri;
    ngx_str_t                      acct;
    ngx_str_t                      public_key;
    u_char                         data[1];
} ngx_http_mastodon_keycache_node_t;


#define NGX_HTTP_MASTODON_KEY_CACHE_SIZE   (1024 * 1024)
#define NGX_HTTP_MASTODON_KEY_CACHE_VALID  60000        /* a minute */
#define NGX_HTTP_MASTODON_KEY_FETCH_WAIT   3000
#define NGX_HTTP_MASTODON_KEY_CACHE_EVICT  16


static ngx_int_t ngx_http_mastodon_keycache_init_zone(ngx_shm_zone_t *zone,
    void *data);
static ngx_http_mastodon_keycache_node_t *ngx_http_mastodon_keycache_find(
    ngx_http_mastodon_keycache_t *kc, ngx_str_t *key_id, uint32_t hash);
static void ngx_http_mastodon_keycache_delete(ngx_http_mastodon_keycache_t *kc,
    ngx_http_mastodon_keycache_node_t *n);


char *
ngx_http_mastodon_keycache_init_conf(ngx_conf_t *cf,
    ngx_http_mastodon_main_conf_t *mcf)
{
    ngx_str_t                      name;
    ngx_http_mastodon_keycache_t  *kc;

    ngx_conf_init_size_value(mcf->key_cache_size,
                             NGX_HTTP_MASTODON_KEY_CACHE_SIZE);
    ngx_conf_init_msec_value(mcf->key_cache_valid,
                             NGX_HTTP_MASTODON_KEY_CACHE_VALID);
    ngx_conf_init_msec_value(mcf->key_fetch_wait,
                             NGX_HTTP_MASTODON_KEY_FETCH_WAIT);
    ngx_conf_init_value(mcf->authorized_fetch, 0);

    if (mcf->key_cache_size < 8 * ngx_pagesize) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mastodon_key_cache_size\" must be at least %uz",
                           8 * ngx_pagesize);
        return NGX_CONF_ERROR;
    }

    kc = ngx_pcalloc(cf->pool, sizeof(ngx_http_mastodon_keycache_t));
    if (kc == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_str_set(&name, "mastodon_key_cache");

    mcf->key_cache = ngx_shared_memory_add(cf, &name, mcf->key_cache_size,
                                           &ngx_http_mastodon_module);
    if (mcf->key_cache == NULL) {
        return NGX_CONF_ERROR;
    }

    mcf->key_cache->init = ngx_http_mastodon_keycache_init_zone;
    mcf->key_cache->data = kc;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_mastodon_keycache_init_zone(ngx_shm_zone_t *zone, void *data)
{
    ngx_http_mastodon_keycache_t  *okc = data;

    ngx_http_mastodon_keycache_t  *kc;

    kc = zone->data;

    if (okc) {
        /* a reload keeps the entries */
        kc->sh = okc->sh;
        kc->shpool = okc->shpool;
        return NGX_OK;
    }

    kc->shpool = (ngx_slab_pool_t *) zone->shm.addr;

    if (zone->shm.exists) {
        kc->sh = kc->shpool->data;
        return NGX_OK;
    }

    kc->sh = ngx_slab_alloc(kc->shpool,
                            sizeof(ngx_http_mastodon_keycache_sh_t));
    if (kc->sh == NULL) {
        return NGX_ERROR;
    }

    kc->shpool->data = kc->sh;

    ngx_rbtree_init(&kc->sh->rbtree, &kc->sh->sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_queue_init(&kc->sh->lru);

    kc->shpool->log_nomem = 0;  /* a full zone evicts, it is no error */

    return NGX_OK;
}


static ngx_http_mastodon_keycache_node_t *
ngx_http_mastodon_keycache_find(ngx_http_mastodon_keycache_t *kc,
    ngx_str_t *key_id, uint32_t hash)
{
    return (ngx_http_mastodon_keycache_node_t *)
           ngx_str_rbtree_lookup(&kc->sh->rbtree, key_id, hash);
}


static void
ngx_http_mastodon_keycache_delete(ngx_http_mastodon_keycache_t *kc,
    ngx_http_mastodon_keycache_node_t *n)
{
    ngx_queue_remove(&n->lru);
    ngx_rbtree_delete(&kc->sh->rbtree, &n->sn.node);
    ngx_slab_free_locked(kc->shpool, n);
}


/* NGX_OK: key filled (strings copied into pool); NGX_DECLINED: a miss */
ngx_int_t
ngx_http_mastodon_keycache_get(ngx_http_mastodon_main_conf_t *mcf,
    ngx_str_t *key_id, ngx_pool_t *pool, ngx_http_mastodon_key_t *key)
{
    u_char                             *p;
    uint32_t                            hash;
    ngx_int_t                           rc;
    ngx_http_mastodon_keycache_t       *kc;
    ngx_http_mastodon_keycache_node_t  *n;

    if (mcf->key_cache_valid == 0) {
        return NGX_DECLINED;
    }

    kc = mcf->key_cache->data;
    hash = ngx_crc32_long(key_id->data, key_id->len);

    rc = NGX_DECLINED;

    ngx_shmtx_lock(&kc->shpool->mutex);

    n = ngx_http_mastodon_keycache_find(kc, key_id, hash);

    if (n && n->expires <= ngx_time()) {
        ngx_http_mastodon_keycache_delete(kc, n);
        n = NULL;
    }

    if (n) {
        p = ngx_pnalloc(pool, n->actor_uri.len + n->acct.len
                              + n->public_key.len + 3);
        if (p) {
            key->account_id = n->account_id;
            key->blocked = n->blocked ? 1 : 0;

            key->actor_uri.data = p;
            key->actor_uri.len = n->actor_uri.len;
            p = ngx_cpymem(p, n->actor_uri.data, n->actor_uri.len);
            *p++ = '\0';

            key->acct.data = p;
            key->acct.len = n->acct.len;
            p = ngx_cpymem(p, n->acct.data, n->acct.len);
            *p++ = '\0';

            key->public_key.data = p;
            key->public_key.len = n->public_key.len;
            p = ngx_cpymem(p, n->public_key.data, n->public_key.len);
            *p = '\0';

            ngx_queue_remove(&n->lru);
            ngx_queue_insert_head(&kc->sh->lru, &n->lru);

            rc = NGX_OK;
        }
    }

    ngx_shmtx_unlock(&kc->shpool->mutex);

    return rc;
}


void
ngx_http_mastodon_keycache_put(ngx_http_mastodon_main_conf_t *mcf,
    ngx_str_t *key_id, ngx_http_mastodon_key_t *key)
{
    u_char                             *p;
    size_t                              size;
    uint32_t                            hash;
    ngx_uint_t                          i;
    ngx_queue_t                        *q;
    ngx_http_mastodon_keycache_t       *kc;
    ngx_http_mastodon_keycache_node_t  *n;

    if (mcf->key_cache_valid == 0) {
        return;
    }

    kc = mcf->key_cache->data;
    hash = ngx_crc32_long(key_id->data, key_id->len);

    size = offsetof(ngx_http_mastodon_keycache_node_t, data)
           + key_id->len + key->actor_uri.len + key->acct.len
           + key->public_key.len;

    ngx_shmtx_lock(&kc->shpool->mutex);

    n = ngx_http_mastodon_keycache_find(kc, key_id, hash);
    if (n) {
        ngx_http_mastodon_keycache_delete(kc, n);
    }

    n = ngx_slab_alloc_locked(kc->shpool, size);

    /* full: the least recently used entries go, then once more */
    for (i = 0; n == NULL && i < NGX_HTTP_MASTODON_KEY_CACHE_EVICT; i++) {
        if (ngx_queue_empty(&kc->sh->lru)) {
            break;
        }

        q = ngx_queue_last(&kc->sh->lru);
        ngx_http_mastodon_keycache_delete(kc,
            ngx_queue_data(q, ngx_http_mastodon_keycache_node_t, lru));

        n = ngx_slab_alloc_locked(kc->shpool, size);
    }

    if (n == NULL) {
        ngx_shmtx_unlock(&kc->shpool->mutex);
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "mastodon: key cache full, key of %uz bytes not kept",
                      size);
        return;
    }

    p = n->data;

    n->sn.str.data = p;
    n->sn.str.len = key_id->len;
    p = ngx_cpymem(p, key_id->data, key_id->len);

    n->actor_uri.data = p;
    n->actor_uri.len = key->actor_uri.len;
    p = ngx_cpymem(p, key->actor_uri.data, key->actor_uri.len);

    n->acct.data = p;
    n->acct.len = key->acct.len;
    p = ngx_cpymem(p, key->acct.data, key->acct.len);

    n->public_key.data = p;
    n->public_key.len = key->public_key.len;
    ngx_memcpy(p, key->public_key.data, key->public_key.len);

    n->sn.node.key = hash;
    n->account_id = key->account_id;
    n->blocked = key->blocked;
    n->expires = ngx_time() + (time_t) (mcf->key_cache_valid / 1000);

    ngx_rbtree_insert(&kc->sh->rbtree, &n->sn.node);
    ngx_queue_insert_head(&kc->sh->lru, &n->lru);

    ngx_shmtx_unlock(&kc->shpool->mutex);
}


void
ngx_http_mastodon_keycache_forget(ngx_http_mastodon_main_conf_t *mcf,
    ngx_str_t *key_id)
{
    uint32_t                            hash;
    ngx_http_mastodon_keycache_t       *kc;
    ngx_http_mastodon_keycache_node_t  *n;

    kc = mcf->key_cache->data;
    hash = ngx_crc32_long(key_id->data, key_id->len);

    ngx_shmtx_lock(&kc->shpool->mutex);

    n = ngx_http_mastodon_keycache_find(kc, key_id, hash);
    if (n) {
        ngx_http_mastodon_keycache_delete(kc, n);
    }

    ngx_shmtx_unlock(&kc->shpool->mutex);
}


/*
 * Parsed keys, per worker process: OpenSSL 3 takes far longer to parse a
 * PEM key (its decoder framework: a hundred microseconds and more) than to
 * verify an RSA signature with it, and a parsed key cannot live in shared
 * memory.  A direct-mapped table by the PEM's hash: a key rotated or
 * evicted is simply parsed again.
 */

#define NGX_HTTP_MASTODON_PARSED_KEYS  256

typedef struct {
    uint32_t                       hash;
    size_t                         len;
    u_char                        *pem;
    mstdn_httpsig_key_t           *key;
} ngx_http_mastodon_parsed_key_t;


static ngx_http_mastodon_parsed_key_t  *ngx_http_mastodon_parsed_keys;


static void
ngx_http_mastodon_parsed_keys_free(void *data)
{
    ngx_uint_t                       i;
    ngx_http_mastodon_parsed_key_t  *pk;

    pk = ngx_http_mastodon_parsed_keys;
    if (pk == NULL) {
        return;
    }

    for (i = 0; i < NGX_HTTP_MASTODON_PARSED_KEYS; i++) {
        if (pk[i].key) {
            mstdn_httpsig_key_free(pk[i].key);
            ngx_free(pk[i].pem);
        }
    }

    ngx_free(pk);
    ngx_http_mastodon_parsed_keys = NULL;
}


/* The key of a PEM, parsed once in this worker; NULL: unusable. */
mstdn_httpsig_key_t *
ngx_http_mastodon_keycache_parsed(ngx_str_t *pem, ngx_log_t *log)
{
    u_char                          *copy;
    uint32_t                         hash;
    ngx_pool_cleanup_t              *cln;
    mstdn_httpsig_key_t             *key;
    ngx_http_mastodon_parsed_key_t  *pk;

    if (ngx_http_mastodon_parsed_keys == NULL) {
        cln = ngx_pool_cleanup_add(ngx_cycle->pool, 0);
        if (cln == NULL) {
            return NULL;
        }

        ngx_http_mastodon_parsed_keys = ngx_calloc(
            NGX_HTTP_MASTODON_PARSED_KEYS
            * sizeof(ngx_http_mastodon_parsed_key_t), log);
        if (ngx_http_mastodon_parsed_keys == NULL) {
            return NULL;
        }

        cln->handler = ngx_http_mastodon_parsed_keys_free;
    }

    hash = ngx_crc32_long(pem->data, pem->len);
    pk = &ngx_http_mastodon_parsed_keys[hash % NGX_HTTP_MASTODON_PARSED_KEYS];

    if (pk->key && pk->hash == hash && pk->len == pem->len
        && ngx_memcmp(pk->pem, pem->data, pem->len) == 0)
    {
        return pk->key;
    }

    key = mstdn_httpsig_public_key((char *) pem->data, pem->len);
    if (key == NULL) {
        return NULL;
    }

    copy = ngx_alloc(pem->len, log);
    if (copy == NULL) {
        mstdn_httpsig_key_free(key);
        return NULL;
    }

    ngx_memcpy(copy, pem->data, pem->len);

    if (pk->key) {
        mstdn_httpsig_key_free(pk->key);
        ngx_free(pk->pem);
    }

    pk->hash = hash;
    pk->len = pem->len;
    pk->pem = copy;
    pk->key = key;

    return key;
}
