/*
 * The render cache: one shared memory zone per node (every worker reads
 * and fills it), a red-black tree by (id, kind) and an LRU list: the least
 * recently used entries go when the zone is full.  Versions: a table of
 * counters by the hash of (kind, id), bumped by every forget; a fill
 * carries the counter it saw before it read its source and is dropped if
 * it moved (the source may have been read before the change).  The
 * worker's subscription to mastodon:cache:forget applies every node's
 * forgets; see ngx_http_mastodon_cache.h.
 */

#include "ngx_http_mastodon_cache.h"


#define NGX_HTTP_MASTODON_RENDER_CACHE_SIZE  (16 * 1024 * 1024)
#define NGX_HTTP_MASTODON_CACHE_VERSIONS     4096     /* a power of 2 */
#define NGX_HTTP_MASTODON_CACHE_EVICT        32
#define NGX_HTTP_MASTODON_CACHE_MAX_ENTRY    (256 * 1024)
/* rendered accounts are used while the worker's relay was heard this
 * recently (it says so every second) */
#define NGX_HTTP_MASTODON_CACHE_RELAY_ALIVE  3000


typedef struct {
    ngx_rbtree_t                   rbtree;
    ngx_rbtree_node_t              sentinel;
    ngx_queue_t                    lru;         /* most recent first */
    ngx_atomic_t                   versions[NGX_HTTP_MASTODON_CACHE_VERSIONS];
    ngx_atomic_t                   relay_heard; /* ms, the wall clock */
} ngx_http_mastodon_cache_sh_t;


typedef struct {
    ngx_http_mastodon_cache_sh_t  *sh;
    ngx_slab_pool_t               *shpool;
} ngx_http_mastodon_cache_t;


typedef struct {
    ngx_rbtree_node_t              node;        /* key: the id */
    ngx_queue_t                    lru;
    ngx_uint_t                     kind;
    size_t                         len;
    u_char                         data[1];
} ngx_http_mastodon_cache_node_t;


/* the worker's subscription to the forgets */
typedef struct {
    ngx_http_mastodon_op_t        *op;
    ngx_http_mastodon_redis_sub_t *sub;
    ngx_uint_t                     subscribed;
} ngx_http_mastodon_cache_listener_t;


static ngx_int_t ngx_http_mastodon_render_cache_init_zone(
    ngx_shm_zone_t *zone, void *data);
static void ngx_http_mastodon_cache_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static void ngx_http_mastodon_cache_heard(ngx_http_mastodon_op_t *op,
    ngx_http_mastodon_redis_event_e event, ngx_str_t *message, void *data);
static void ngx_http_mastodon_cache_listener_freed(ngx_http_mastodon_op_t *op);


/* this worker's view of the zone (NULL: no zone) */
static ngx_http_mastodon_cache_t           *ngx_http_mastodon_cache;
static ngx_http_mastodon_cache_listener_t   ngx_http_mastodon_cache_listener;


char *
ngx_http_mastodon_render_cache_init_conf(ngx_conf_t *cf,
    ngx_http_mastodon_main_conf_t *mcf)
{
    ngx_str_t                   name;
    ngx_http_mastodon_cache_t  *cache;

    ngx_conf_init_size_value(mcf->render_cache_size,
                             NGX_HTTP_MASTODON_RENDER_CACHE_SIZE);

    if (mcf->render_cache_size == 0) {
        return NGX_CONF_OK;
    }

    if (mcf->render_cache_size < 32 * ngx_pagesize) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mastodon_render_cache_size\" must be 0 (off) "
                           "or at least %uz", 32 * ngx_pagesize);
        return NGX_CONF_ERROR;
    }

    cache = ngx_pcalloc(cf->pool, sizeof(ngx_http_mastodon_cache_t));
    if (cache == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_str_set(&name, "mastodon_render_cache");

    mcf->render_cache = ngx_shared_memory_add(cf, &name,
                                              mcf->render_cache_size,
                                              &ngx_http_mastodon_module);
    if (mcf->render_cache == NULL) {
        return NGX_CONF_ERROR;
    }

    mcf->render_cache->init = ngx_http_mastodon_render_cache_init_zone;
    mcf->render_cache->data = cache;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_mastodon_render_cache_init_zone(ngx_shm_zone_t *zone, void *data)
{
    ngx_http_mastodon_cache_t  *ocache = data;

    ngx_http_mastodon_cache_t  *cache;

    cache = zone->data;

    if (ocache) {
        /* a reload keeps the entries (the workers' subscriptions restart
         * and empty the zone: forgets may be lost meanwhile) */
        cache->sh = ocache->sh;
        cache->shpool = ocache->shpool;
        return NGX_OK;
    }

    cache->shpool = (ngx_slab_pool_t *) zone->shm.addr;

    if (zone->shm.exists) {
        cache->sh = cache->shpool->data;
        return NGX_OK;
    }

    cache->sh = ngx_slab_calloc(cache->shpool,
                                sizeof(ngx_http_mastodon_cache_sh_t));
    if (cache->sh == NULL) {
        return NGX_ERROR;
    }

    cache->shpool->data = cache->sh;

    ngx_rbtree_init(&cache->sh->rbtree, &cache->sh->sentinel,
                    ngx_http_mastodon_cache_insert_value);
    ngx_queue_init(&cache->sh->lru);

    cache->shpool->log_nomem = 0;  /* a full zone evicts, it is no error */

    return NGX_OK;
}


static void
ngx_http_mastodon_cache_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t               **p;
    ngx_http_mastodon_cache_node_t   *n, *t;

    n = (ngx_http_mastodon_cache_node_t *) node;

    for ( ;; ) {
        t = (ngx_http_mastodon_cache_node_t *) temp;

        if (node->key != temp->key) {
            p = (node->key < temp->key) ? &temp->left : &temp->right;

        } else {
            p = (n->kind < t->kind) ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


static ngx_http_mastodon_cache_node_t *
ngx_http_mastodon_cache_find(ngx_http_mastodon_cache_t *cache,
    ngx_uint_t kind, int64_t id)
{
    ngx_rbtree_key_t                 key;
    ngx_rbtree_node_t               *node, *sentinel;
    ngx_http_mastodon_cache_node_t  *n;

    key = (ngx_rbtree_key_t) id;
    node = cache->sh->rbtree.root;
    sentinel = cache->sh->rbtree.sentinel;

    while (node != sentinel) {
        n = (ngx_http_mastodon_cache_node_t *) node;

        if (key != node->key) {
            node = (key < node->key) ? node->left : node->right;
            continue;
        }

        if (kind == n->kind) {
            return n;
        }

        node = (kind < n->kind) ? node->left : node->right;
    }

    return NULL;
}


static void
ngx_http_mastodon_cache_delete(ngx_http_mastodon_cache_t *cache,
    ngx_http_mastodon_cache_node_t *n)
{
    ngx_queue_remove(&n->lru);
    ngx_rbtree_delete(&cache->sh->rbtree, &n->node);
    ngx_slab_free_locked(cache->shpool, n);
}


static ngx_atomic_t *
ngx_http_mastodon_cache_version_slot(ngx_http_mastodon_cache_t *cache,
    ngx_uint_t kind, int64_t id)
{
    uint64_t  h;

    h = ((uint64_t) id + kind) * 0x9E3779B97F4A7C15ULL;

    return &cache->sh->versions[(h >> 40)
                                & (NGX_HTTP_MASTODON_CACHE_VERSIONS - 1)];
}


ngx_uint_t
ngx_http_mastodon_cache_usable(void)
{
    return ngx_http_mastodon_cache != NULL
           && ngx_http_mastodon_cache_listener.subscribed;
}


static ngx_msec_t
ngx_http_mastodon_cache_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (ngx_msec_t) tp->sec * 1000 + tp->msec;
}


/*
 * Rendered accounts: only while the worker's outbox relay publishes the
 * accounts PostgreSQL says changed (sql/0039): any writer, plain SQL too.
 * Without it (no worker) no account is read from or put in the cache.
 */
ngx_uint_t
ngx_http_mastodon_cache_accounts_usable(void)
{
    if (!ngx_http_mastodon_cache_usable()) {
        return 0;
    }

    return ngx_http_mastodon_cache_now()
           - (ngx_msec_t) ngx_http_mastodon_cache->sh->relay_heard
           < NGX_HTTP_MASTODON_CACHE_RELAY_ALIVE;
}


ngx_uint_t
ngx_http_mastodon_cache_version(ngx_uint_t kind, int64_t id)
{
    if (ngx_http_mastodon_cache == NULL) {
        return 0;
    }

    return *ngx_http_mastodon_cache_version_slot(ngx_http_mastodon_cache,
                                                 kind, id);
}


ngx_int_t
ngx_http_mastodon_cache_get(ngx_uint_t kind, int64_t id, ngx_pool_t *pool,
    ngx_str_t *out)
{
    u_char                          *p;
    ngx_int_t                        rc;
    ngx_http_mastodon_cache_t       *cache;
    ngx_http_mastodon_cache_node_t  *n;

    if (!ngx_http_mastodon_cache_usable()) {
        return NGX_DECLINED;
    }

    cache = ngx_http_mastodon_cache;
    rc = NGX_DECLINED;

    ngx_shmtx_lock(&cache->shpool->mutex);

    n = ngx_http_mastodon_cache_find(cache, kind, id);

    if (n) {
        p = ngx_pnalloc(pool, n->len);
        if (p) {
            ngx_memcpy(p, n->data, n->len);
            out->data = p;
            out->len = n->len;

            ngx_queue_remove(&n->lru);
            ngx_queue_insert_head(&cache->sh->lru, &n->lru);

            rc = NGX_OK;
        }
    }

    ngx_shmtx_unlock(&cache->shpool->mutex);

    return rc;
}


/*
 * Several entries of one kind under one lock (a page's statuses): out[i]
 * the copy of ids[i]'s entry, len 0 for a miss; the copies share one
 * aligned allocation from pool.  NGX_OK: every one was there; NGX_DECLINED:
 * some (or all) were not; NGX_ERROR: no memory.
 */
ngx_int_t
ngx_http_mastodon_cache_get_many(ngx_uint_t kind, int64_t *ids, ngx_uint_t n,
    ngx_pool_t *pool, ngx_str_t *out)
{
    u_char                           *p;
    size_t                            size;
    ngx_int_t                         rc;
    ngx_uint_t                        i;
    ngx_http_mastodon_cache_t        *cache;
    ngx_http_mastodon_cache_node_t  **nodes;

    for (i = 0; i < n; i++) {
        ngx_str_null(&out[i]);
    }

    if (!ngx_http_mastodon_cache_usable() || n == 0) {
        return NGX_DECLINED;
    }

    nodes = ngx_palloc(pool, n * sizeof(ngx_http_mastodon_cache_node_t *));
    if (nodes == NULL) {
        return NGX_ERROR;
    }

    cache = ngx_http_mastodon_cache;
    rc = NGX_OK;
    size = 0;

    ngx_shmtx_lock(&cache->shpool->mutex);

    for (i = 0; i < n; i++) {
        nodes[i] = ngx_http_mastodon_cache_find(cache, kind, ids[i]);

        if (nodes[i] == NULL) {
            rc = NGX_DECLINED;
            continue;
        }

        size += ngx_align(nodes[i]->len, NGX_ALIGNMENT);
    }

    p = NULL;

    if (size) {
        p = ngx_palloc(pool, size);
        if (p == NULL) {
            ngx_shmtx_unlock(&cache->shpool->mutex);
            return NGX_ERROR;
        }
    }

    for (i = 0; i < n; i++) {
        if (nodes[i] == NULL) {
            continue;
        }

        out[i].data = p;
        out[i].len = nodes[i]->len;
        ngx_memcpy(p, nodes[i]->data, nodes[i]->len);
        p += ngx_align(nodes[i]->len, NGX_ALIGNMENT);

        ngx_queue_remove(&nodes[i]->lru);
        ngx_queue_insert_head(&cache->sh->lru, &nodes[i]->lru);
    }

    ngx_shmtx_unlock(&cache->shpool->mutex);

    return rc;
}


/* whether an entry is there, nothing copied (a stream's per-event check) */
ngx_uint_t
ngx_http_mastodon_cache_has(ngx_uint_t kind, int64_t id)
{
    ngx_uint_t                  found;
    ngx_http_mastodon_cache_t  *cache;

    if (!ngx_http_mastodon_cache_usable()) {
        return 0;
    }

    cache = ngx_http_mastodon_cache;

    ngx_shmtx_lock(&cache->shpool->mutex);
    found = ngx_http_mastodon_cache_find(cache, kind, id) != NULL;
    ngx_shmtx_unlock(&cache->shpool->mutex);

    return found;
}


void
ngx_http_mastodon_cache_put(ngx_uint_t kind, int64_t id, ngx_uint_t version,
    ngx_str_t *value)
{
    size_t                           size;
    ngx_uint_t                       i;
    ngx_queue_t                     *q;
    ngx_http_mastodon_cache_t       *cache;
    ngx_http_mastodon_cache_node_t  *n;

    if (!ngx_http_mastodon_cache_usable()
        || value->len > NGX_HTTP_MASTODON_CACHE_MAX_ENTRY)
    {
        return;
    }

    cache = ngx_http_mastodon_cache;
    size = offsetof(ngx_http_mastodon_cache_node_t, data) + value->len;

    ngx_shmtx_lock(&cache->shpool->mutex);

    /* forgotten since the source was read: this may be the old one */
    if (*ngx_http_mastodon_cache_version_slot(cache, kind, id) != version) {
        ngx_shmtx_unlock(&cache->shpool->mutex);
        return;
    }

    n = ngx_http_mastodon_cache_find(cache, kind, id);
    if (n) {
        ngx_http_mastodon_cache_delete(cache, n);
    }

    n = ngx_slab_alloc_locked(cache->shpool, size);

    /* full: the least recently used entries go */
    for (i = 0; n == NULL && i < NGX_HTTP_MASTODON_CACHE_EVICT; i++) {
        if (ngx_queue_empty(&cache->sh->lru)) {
            break;
        }

        q = ngx_queue_last(&cache->sh->lru);
        ngx_http_mastodon_cache_delete(cache,
            ngx_queue_data(q, ngx_http_mastodon_cache_node_t, lru));

        n = ngx_slab_alloc_locked(cache->shpool, size);
    }

    if (n == NULL) {
        ngx_shmtx_unlock(&cache->shpool->mutex);
        return;
    }

    n->node.key = (ngx_rbtree_key_t) id;
    n->kind = kind;
    n->len = value->len;
    ngx_memcpy(n->data, value->data, value->len);

    ngx_rbtree_insert(&cache->sh->rbtree, &n->node);
    ngx_queue_insert_head(&cache->sh->lru, &n->lru);

    ngx_shmtx_unlock(&cache->shpool->mutex);
}


void
ngx_http_mastodon_cache_forget(ngx_uint_t kind, int64_t id)
{
    ngx_atomic_t                    *version;
    ngx_http_mastodon_cache_t       *cache;
    ngx_http_mastodon_cache_node_t  *n;

    cache = ngx_http_mastodon_cache;
    if (cache == NULL) {
        return;
    }

    version = ngx_http_mastodon_cache_version_slot(cache, kind, id);

    ngx_shmtx_lock(&cache->shpool->mutex);

    (*version)++;

    /*
     * Whatever changes what a public or tag timeline page selects makes its
     * author or viewer forgotten (sql/0039, sql/0047): every such page is.
     */
    if (kind == NGX_HTTP_MASTODON_CACHE_ACCOUNT) {
        (*ngx_http_mastodon_cache_version_slot(cache,
                                  NGX_HTTP_MASTODON_CACHE_PAGE, 0))++;
    }

    n = ngx_http_mastodon_cache_find(cache, kind, id);
    if (n) {
        ngx_http_mastodon_cache_delete(cache, n);
    }

    ngx_shmtx_unlock(&cache->shpool->mutex);
}


void
ngx_http_mastodon_cache_flush(void)
{
    ngx_uint_t                       i;
    ngx_queue_t                     *q;
    ngx_http_mastodon_cache_t       *cache;

    cache = ngx_http_mastodon_cache;
    if (cache == NULL) {
        return;
    }

    ngx_shmtx_lock(&cache->shpool->mutex);

    for (i = 0; i < NGX_HTTP_MASTODON_CACHE_VERSIONS; i++) {
        cache->sh->versions[i]++;
    }

    while (!ngx_queue_empty(&cache->sh->lru)) {
        q = ngx_queue_last(&cache->sh->lru);
        ngx_http_mastodon_cache_delete(cache,
            ngx_queue_data(q, ngx_http_mastodon_cache_node_t, lru));
    }

    ngx_shmtx_unlock(&cache->shpool->mutex);
}


/* "<kind> <id> [<id>...]"; an unknown kind or a bad id: ignored */
void
ngx_http_mastodon_cache_forget_message(ngx_str_t *message)
{
    u_char      *p, *last, *sp;
    int64_t      id;
    ngx_uint_t   kind;

    p = message->data;
    last = p + message->len;

    sp = ngx_strlchr(p, last, ' ');
    if (sp == NULL) {
        return;
    }

    if (sp - p == 6 && ngx_strncmp(p, "status", 6) == 0) {
        kind = NGX_HTTP_MASTODON_CACHE_STATUS;

    } else if (sp - p == 7 && ngx_strncmp(p, "filters", 7) == 0) {
        kind = NGX_HTTP_MASTODON_CACHE_FILTERS;

    } else if (sp - p == 6 && ngx_strncmp(p, "viewer", 6) == 0) {
        kind = NGX_HTTP_MASTODON_CACHE_VIEWER;

    } else if (sp - p == 3 && ngx_strncmp(p, "big", 3) == 0) {
        kind = NGX_HTTP_MASTODON_CACHE_BIG;

    } else if (sp - p == 7 && ngx_strncmp(p, "account", 7) == 0) {
        kind = NGX_HTTP_MASTODON_CACHE_ACCOUNT;

    } else if (sp - p == 13 && ngx_strncmp(p, "notifications", 13) == 0) {
        kind = NGX_HTTP_MASTODON_CACHE_NOTIFICATIONS;

    } else if (sp - p == 4 && ngx_strncmp(p, "list", 4) == 0) {
        kind = NGX_HTTP_MASTODON_CACHE_LIST;

    } else if (sp - p == 13 && ngx_strncmp(p, "account_relay", 13) == 0) {
        /* the relay is alive; after a gap it first published "account 0" */
        if (ngx_http_mastodon_cache) {
            ngx_http_mastodon_cache->sh->relay_heard =
                                          ngx_http_mastodon_cache_now();
        }
        return;

    } else {
        return;
    }

    for (p = sp + 1; p < last; p = sp + 1) {
        sp = ngx_strlchr(p, last, ' ');
        if (sp == NULL) {
            sp = last;
        }

        id = ngx_atoof(p, sp - p);
        if (id > 0
            || (id == 0 && (kind == NGX_HTTP_MASTODON_CACHE_VIEWER
                            || kind == NGX_HTTP_MASTODON_CACHE_BIG
                            || kind == NGX_HTTP_MASTODON_CACHE_ACCOUNT
                            || kind == NGX_HTTP_MASTODON_CACHE_NOTIFICATIONS)))
        {
            ngx_http_mastodon_cache_forget(kind, id);

            if (kind == NGX_HTTP_MASTODON_CACHE_ACCOUNT && id > 0) {
                ngx_http_mastodon_cache_forget(
                    NGX_HTTP_MASTODON_CACHE_CREDENTIALS, id);
            }

            if (kind == NGX_HTTP_MASTODON_CACHE_NOTIFICATIONS && id > 0) {
                ngx_http_mastodon_cache_forget(
                    NGX_HTTP_MASTODON_CACHE_NOTIFICATION_GROUPS, id);
            }
        }
    }
}


void
ngx_http_mastodon_cache_publish(ngx_http_request_t *r, const char *word,
    int64_t *ids, ngx_uint_t n)
{
    u_char      *p, *msg;
    size_t       argvlen[3], len;
    ngx_uint_t   i;
    const char  *argv[3];

    if (n == 0) {
        return;
    }

    len = ngx_strlen(word);

    msg = ngx_pnalloc(r->pool, len + n * (1 + NGX_INT64_LEN));
    if (msg == NULL) {
        return;
    }

    p = ngx_cpymem(msg, word, len);

    for (i = 0; i < n; i++) {
        p = ngx_sprintf(p, " %L", ids[i]);
    }

    argv[0] = "PUBLISH";
    argvlen[0] = sizeof("PUBLISH") - 1;
    argv[1] = NGX_HTTP_MASTODON_CACHE_CHANNEL;
    argvlen[1] = sizeof(NGX_HTTP_MASTODON_CACHE_CHANNEL) - 1;
    argv[2] = (const char *) msg;
    argvlen[2] = p - msg;

    (void) ngx_http_mastodon_redis_command(r, NULL, NULL, 3, argv, argvlen);
}


void
ngx_http_mastodon_render_cache_init_process(ngx_cycle_t *cycle,
    ngx_http_mastodon_main_conf_t *mcf)
{
    ngx_str_t                            channel;
    ngx_http_mastodon_op_t              *op;
    ngx_http_mastodon_cache_listener_t  *l;

    l = &ngx_http_mastodon_cache_listener;
    ngx_memzero(l, sizeof(ngx_http_mastodon_cache_listener_t));
    ngx_http_mastodon_cache = NULL;

    if (mcf->render_cache == NULL) {
        return;
    }

    ngx_http_mastodon_cache = mcf->render_cache->data;

    op = ngx_http_mastodon_op_create(NGX_HTTP_MASTODON_OP_STREAM, l,
                                     cycle->log);
    if (op == NULL) {
        ngx_http_mastodon_cache = NULL;
        return;
    }

    op->free = ngx_http_mastodon_cache_listener_freed;
    op->data = l;
    l->op = op;

    ngx_str_set(&channel, NGX_HTTP_MASTODON_CACHE_CHANNEL);

    l->sub = ngx_http_mastodon_redis_subscribe(op, &channel,
                                               ngx_http_mastodon_cache_heard,
                                               l);
    if (l->sub == NULL) {
        ngx_http_mastodon_op_end(op);
        ngx_http_mastodon_cache = NULL;
        return;
    }

    if (ngx_http_mastodon_redis_subscribed(l->sub)) {
        ngx_http_mastodon_cache_flush();
        l->subscribed = 1;
    }
}


void
ngx_http_mastodon_render_cache_exit_process(ngx_cycle_t *cycle)
{
    if (ngx_http_mastodon_cache_listener.op) {
        ngx_http_mastodon_op_end(ngx_http_mastodon_cache_listener.op);
    }

    ngx_http_mastodon_cache = NULL;
}


static void
ngx_http_mastodon_cache_heard(ngx_http_mastodon_op_t *op,
    ngx_http_mastodon_redis_event_e event, ngx_str_t *message, void *data)
{
    ngx_http_mastodon_cache_listener_t  *l = data;

    switch (event) {

    case NGX_HTTP_MASTODON_REDIS_SUBSCRIBED:
        /* forgets published while we were not listening are lost */
        ngx_http_mastodon_cache_flush();
        l->subscribed = 1;
        break;

    case NGX_HTTP_MASTODON_REDIS_DROPPED:
        l->subscribed = 0;
        break;

    default: /* NGX_HTTP_MASTODON_REDIS_MESSAGE */
        ngx_http_mastodon_cache_forget_message(message);
    }
}


static void
ngx_http_mastodon_cache_listener_freed(ngx_http_mastodon_op_t *op)
{
    ngx_http_mastodon_cache_listener_t  *l = op->data;

    l->op = NULL;
    l->sub = NULL;
    l->subscribed = 0;
}
