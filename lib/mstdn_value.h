#ifndef MSTDN_VALUE_H
#define MSTDN_VALUE_H

/*
 * The parameter tree: what a JSON body, a form body and a query string are
 * parsed into, so that API handlers read parameters one way whatever the
 * client sent (as Rails' params do).  Nodes come from a caller-supplied
 * allocator (nginx: the request pool) and are never freed one by one.
 */

#include <stddef.h>
#include <stdint.h>

typedef enum {
    MSTDN_NULL = 0,
    MSTDN_BOOL,
    MSTDN_NUMBER,           /* kept as its JSON text: ids exceed 2^53 */
    MSTDN_STRING,
    MSTDN_ARRAY,
    MSTDN_OBJECT,
    MSTDN_FILE              /* a multipart upload: see below */
} mstdn_type_t;

typedef struct mstdn_value_s  mstdn_value_t;

struct mstdn_value_s {
    mstdn_type_t    type;
    int             boolean;
    const char     *str;            /* STRING, NUMBER: NUL-terminated */
    size_t          len;
    const char     *key;            /* member name inside an OBJECT */
    size_t          key_len;
    mstdn_value_t  *first;          /* ARRAY, OBJECT children */
    mstdn_value_t  *last;
    size_t          count;
    mstdn_value_t  *next;

    /*
     * FILE: its len bytes are at str when the body was in memory; when it
     * was in a file (str NULL), at offset in fd, open for reading as long
     * as the request lives, named path (NULL: already unlinked).  Its name
     * and type are the client's word: hints only.
     */
    const char     *filename;
    const char     *content_type;
    const char     *path;
    uint64_t        offset;
    int             fd;

    /* OBJECT: a hash of member names once it is big (lookups in O(1)) */
    void         *(*alloc)(void *ctx, size_t size);
    void           *alloc_ctx;
    mstdn_value_t **index;
    size_t          index_size;     /* a power of two, or 0 */
};

typedef struct {
    void   *(*alloc)(void *ctx, size_t size);   /* zeroed memory or NULL */
    void    *ctx;
} mstdn_alloc_t;

/* Limits shared by every parser of outside input. */
typedef struct {
    size_t  max_depth;          /* nesting of arrays/objects (Rack's a[b][c]) */
    size_t  max_members;        /* total nodes in one document */
} mstdn_limits_t;

#define MSTDN_OK         0
#define MSTDN_ESYNTAX   -1      /* not valid JSON / bad %-encoding */
#define MSTDN_EDEPTH    -2
#define MSTDN_EUTF8     -3
#define MSTDN_ENUL      -4
#define MSTDN_ETYPE     -5      /* a[]=1&a[b]=2: one name used as two types */
#define MSTDN_ETOOMANY  -6
#define MSTDN_ENOMEM    -7
#define MSTDN_ETOOBIG   -8      /* over a size limit */

const char *mstdn_strerror(int rc);

mstdn_value_t *mstdn_value_new(const mstdn_alloc_t *a, mstdn_type_t type);
char *mstdn_strndup(const mstdn_alloc_t *a, const char *s, size_t len);
void mstdn_value_append(mstdn_value_t *parent, mstdn_value_t *child);

/* Member of an object; with duplicate keys the last one wins, as in Rails. */
mstdn_value_t *mstdn_object_get(const mstdn_value_t *obj, const char *key);
mstdn_value_t *mstdn_object_getn(const mstdn_value_t *obj, const char *key,
    size_t len);

/* A string (or number) parameter's text, NULL when absent or not scalar. */
const char *mstdn_param_str(const mstdn_value_t *obj, const char *key,
    size_t *len);

/*
 * Rails' boolean casting (ActiveModel::Type::Boolean): "0", "f", "F",
 * "false", "FALSE", "off", "OFF", false and a JSON 0 are false ("False" is
 * true, as in Rails); other present values are true.
 * Returns dflt when the key is absent, null or "".
 */
int mstdn_param_bool(const mstdn_value_t *obj, const char *key, int dflt);

/* Decimal int64 from a string or number; -1 when absent or not a number. */
int mstdn_param_int64(const mstdn_value_t *obj, const char *key,
    int64_t *out);

/* A simple malloc arena for code outside nginx (worker, tests). */
typedef struct mstdn_arena_s  mstdn_arena_t;

mstdn_arena_t *mstdn_arena_create(void);
void mstdn_arena_destroy(mstdn_arena_t *arena);
void mstdn_arena_allocator(mstdn_arena_t *arena, mstdn_alloc_t *a);

#endif
