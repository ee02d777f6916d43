#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>

#include "mstdn_value.h"


const char *
mstdn_strerror(int rc)
{
    switch (rc) {
    case MSTDN_OK:       return "ok";
    case MSTDN_ESYNTAX:  return "malformed";
    case MSTDN_EDEPTH:   return "nested too deeply";
    case MSTDN_EUTF8:    return "invalid UTF-8";
    case MSTDN_ENUL:     return "NUL character";
    case MSTDN_ETYPE:    return "conflicting parameter types";
    case MSTDN_ETOOMANY: return "too many parameters";
    case MSTDN_ENOMEM:   return "out of memory";
    case MSTDN_ETOOBIG:  return "too large";
    default:             return "error";
    }
}


mstdn_value_t *
mstdn_value_new(const mstdn_alloc_t *a, mstdn_type_t type)
{
    mstdn_value_t  *v;

    v = a->alloc(a->ctx, sizeof(mstdn_value_t));
    if (v == NULL) {
        return NULL;
    }

    memset(v, 0, sizeof(mstdn_value_t));
    v->type = type;

    if (type == MSTDN_OBJECT) {
        v->alloc = a->alloc;
        v->alloc_ctx = a->ctx;
    }

    return v;
}


/*
 * Objects index their members by name past MSTDN_INDEX_FROM of them, so
 * that a form with thousands of names parses in linear time, not
 * quadratic.  Open addressing; a later member of the same name replaces
 * the earlier one in the index, as lookups want the last.
 */

#define MSTDN_INDEX_FROM  16

/*
 * Seeded per process (an attacker cannot precompute colliding names) and
 * fully mixed (the table uses the low bits): FNV-1a over the key, then
 * MurmurHash3's 64-bit finalizer.
 */
static uint64_t
mstdn_hash_seed(void)
{
    static uint64_t  seed;
    uint64_t         s, expected;

    s = __atomic_load_n(&seed, __ATOMIC_ACQUIRE);
    if (s) {
        return s;
    }

    if (getrandom(&s, sizeof(s), GRND_NONBLOCK) != (ssize_t) sizeof(s)) {
        s = (uint64_t) (uintptr_t) &s ^ (uint64_t) time(NULL)
            ^ ((uint64_t) getpid() << 32);
    }
    s |= 1;

    /* threads (the worker) must all use the first seed set */
    expected = 0;
    if (!__atomic_compare_exchange_n(&seed, &expected, s, 0,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
    {
        s = expected;
    }

    return s;
}


static size_t
mstdn_hash(const char *key, size_t len)
{
    uint64_t  h;
    size_t    i;

    h = 14695981039346656037ULL ^ mstdn_hash_seed();

    for (i = 0; i < len; i++) {
        h = (h ^ (unsigned char) key[i]) * 1099511628211ULL;
    }

    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;

    return (size_t) h;
}


static void
mstdn_index_put(mstdn_value_t **index, size_t size, mstdn_value_t *v)
{
    size_t  i;

    for (i = mstdn_hash(v->key, v->key_len) & (size - 1);
         index[i];
         i = (i + 1) & (size - 1))
    {
        if (index[i]->key_len == v->key_len
            && memcmp(index[i]->key, v->key, v->key_len) == 0)
        {
            break;
        }
    }

    index[i] = v;
}


static void
mstdn_index_build(mstdn_value_t *obj, size_t size)
{
    mstdn_value_t  **index, *v;

    index = obj->alloc(obj->alloc_ctx, size * sizeof(mstdn_value_t *));
    if (index == NULL) {
        /* linear lookups: slower, still right (an old index would not be) */
        obj->index = NULL;
        obj->index_size = 0;
        return;
    }

    memset(index, 0, size * sizeof(mstdn_value_t *));

    for (v = obj->first; v; v = v->next) {
        if (v->key) {
            mstdn_index_put(index, size, v);
        }
    }

    obj->index = index;
    obj->index_size = size;
}


char *
mstdn_strndup(const mstdn_alloc_t *a, const char *s, size_t len)
{
    char  *p;

    p = a->alloc(a->ctx, len + 1);
    if (p == NULL) {
        return NULL;
    }

    if (len) {
        memcpy(p, s, len);
    }
    p[len] = '\0';

    return p;
}


void
mstdn_value_append(mstdn_value_t *parent, mstdn_value_t *child)
{
    child->next = NULL;

    if (parent->last) {
        parent->last->next = child;
    } else {
        parent->first = child;
    }

    parent->last = child;
    parent->count++;

    if (parent->type != MSTDN_OBJECT || child->key == NULL
        || parent->alloc == NULL)
    {
        return;
    }

    if (parent->index && parent->count * 2 <= parent->index_size) {
        mstdn_index_put(parent->index, parent->index_size, child);

    } else if (parent->count >= MSTDN_INDEX_FROM) {
        mstdn_index_build(parent, parent->index_size ? 2 * parent->index_size
                                                     : 4 * MSTDN_INDEX_FROM);
    }
}


mstdn_value_t *
mstdn_object_getn(const mstdn_value_t *obj, const char *key, size_t len)
{
    mstdn_value_t  *v, *found;

    if (obj == NULL || obj->type != MSTDN_OBJECT) {
        return NULL;
    }

    if (obj->index) {
        size_t  i;

        for (i = mstdn_hash(key, len) & (obj->index_size - 1);
             obj->index[i];
             i = (i + 1) & (obj->index_size - 1))
        {
            v = obj->index[i];
            if (v->key_len == len && memcmp(v->key, key, len) == 0) {
                return v;
            }
        }

        return NULL;
    }

    found = NULL;

    for (v = obj->first; v; v = v->next) {
        if (v->key_len == len && memcmp(v->key, key, len) == 0) {
            found = v;
        }
    }

    return found;
}


mstdn_value_t *
mstdn_object_get(const mstdn_value_t *obj, const char *key)
{
    return mstdn_object_getn(obj, key, strlen(key));
}


const char *
mstdn_param_str(const mstdn_value_t *obj, const char *key, size_t *len)
{
    mstdn_value_t  *v;

    v = mstdn_object_get(obj, key);
    if (v == NULL || (v->type != MSTDN_STRING && v->type != MSTDN_NUMBER)) {
        return NULL;
    }

    if (len) {
        *len = v->len;
    }

    return v->str;
}


int
mstdn_param_bool(const mstdn_value_t *obj, const char *key, int dflt)
{
    /* ActiveModel::Type::Boolean::FALSE_VALUES: these cases only */
    static const char  *falses[] = {
        "0", "f", "F", "false", "FALSE", "off", "OFF", NULL
    };
    mstdn_value_t      *v;
    size_t              i;

    v = mstdn_object_get(obj, key);
    if (v == NULL || v->type == MSTDN_NULL) {
        return dflt;
    }

    if (v->type == MSTDN_BOOL) {
        return v->boolean;
    }

    if (v->type == MSTDN_NUMBER) {
        /* 0 == 0.0 in Ruby: a JSON zero is false */
        return strtod(v->str, NULL) != 0.0;
    }

    if (v->type == MSTDN_STRING) {
        if (v->len == 0) {
            return dflt;
        }
        for (i = 0; falses[i]; i++) {
            if (strcmp(v->str, falses[i]) == 0) {
                return 0;
            }
        }
    }

    return 1;
}


int
mstdn_param_int64(const mstdn_value_t *obj, const char *key, int64_t *out)
{
    const char  *s;
    char        *end;
    size_t       len;
    long long    n;

    s = mstdn_param_str(obj, key, &len);
    if (s == NULL || len == 0) {
        return -1;
    }

    errno = 0;
    n = strtoll(s, &end, 10);
    if (errno != 0 || end != s + len) {
        return -1;
    }

    *out = n;

    return 0;
}


/* The arena: a list of blocks, freed together. */

#define MSTDN_ARENA_BLOCK  8192

typedef struct mstdn_arena_block_s  mstdn_arena_block_t;

struct mstdn_arena_block_s {
    mstdn_arena_block_t  *next;
    size_t                used;
    size_t                size;
    max_align_t           data[];
};

struct mstdn_arena_s {
    mstdn_arena_block_t  *blocks;
};


mstdn_arena_t *
mstdn_arena_create(void)
{
    return calloc(1, sizeof(mstdn_arena_t));
}


void
mstdn_arena_destroy(mstdn_arena_t *arena)
{
    mstdn_arena_block_t  *b, *next;

    if (arena == NULL) {
        return;
    }

    for (b = arena->blocks; b; b = next) {
        next = b->next;
        free(b);
    }

    free(arena);
}


static void *
mstdn_arena_alloc(void *ctx, size_t size)
{
    mstdn_arena_t        *arena = ctx;
    mstdn_arena_block_t  *b;
    size_t                bsize;
    void                 *p;

    size = (size + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);

    b = arena->blocks;

    if (b == NULL || b->size - b->used < size) {
        bsize = size > MSTDN_ARENA_BLOCK ? size : MSTDN_ARENA_BLOCK;
        b = malloc(sizeof(mstdn_arena_block_t) + bsize);
        if (b == NULL) {
            return NULL;
        }
        b->used = 0;
        b->size = bsize;
        b->next = arena->blocks;
        arena->blocks = b;
    }

    p = (char *) b->data + b->used;
    b->used += size;
    memset(p, 0, size);

    return p;
}


void
mstdn_arena_allocator(mstdn_arena_t *arena, mstdn_alloc_t *a)
{
    a->alloc = mstdn_arena_alloc;
    a->ctx = arena;
}
