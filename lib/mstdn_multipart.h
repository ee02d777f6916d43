#ifndef MSTDN_MULTIPART_H
#define MSTDN_MULTIPART_H

#include <stdint.h>

#include "mstdn_value.h"

/*
 * multipart/form-data (RFC 7578) into the parameter tree: text fields as
 * strings with Rack's nesting rules, file fields as MSTDN_FILE nodes.
 *
 * The parser is incremental: a body may be fed in pieces of any size (a
 * delimiter split across them is found all the same), so one of tens of MB
 * is read from its file in fixed-size chunks and never held whole.  Text
 * fields are kept (in the parser's own malloc'd memory), file parts only
 * as (offset, size) ranges of the body.  Bounded: the part count by
 * max_parts, all text fields together by max_text bytes (MSTDN_ETOOBIG), a
 * part's header block by 8 KB; a missing closing boundary is an error.
 * The part's declared Content-Type and filename are kept as the client
 * sent them: hints, not facts.
 */

typedef struct mstdn_multipart_s  mstdn_multipart_t;

typedef struct mstdn_multipart_part_s  mstdn_multipart_part_t;

struct mstdn_multipart_part_s {
    char                    *name;          /* NUL-terminated copies */
    size_t                   name_len;
    char                    *filename;      /* NULL: a text field */
    char                    *content_type;  /* "" when none declared */
    char                    *value;         /* text: its bytes, NUL-ended */
    size_t                   len;           /* text: value's length */
    uint64_t                 offset;        /* file: its first byte's offset
                                               in the body */
    uint64_t                 size;          /* file: its length */
    mstdn_multipart_part_t  *next;
};

/* Where a body's bytes are, for its file parts. */
typedef struct {
    const char  *data;          /* the body in memory, or NULL: */
    int          fd;            /* in this file, open for reading, */
    const char  *path;          /* named so (NULL: unlinked), */
    uint64_t     offset;        /* from this offset on */
} mstdn_multipart_body_t;

/* The boundary parameter of a Content-Type value; 0, or -1 when absent. */
int mstdn_multipart_boundary(const char *ctype, size_t len,
    const char **boundary, size_t *blen);

/* NULL: a bad boundary (empty, over 70 bytes, CR or LF), or no memory. */
mstdn_multipart_t *mstdn_multipart_create(const char *boundary, size_t blen,
    size_t max_parts, size_t max_text);
void mstdn_multipart_destroy(mstdn_multipart_t *mp);

/*
 * The next piece of the body.  An error sticks: later calls return it
 * again.  After the closing boundary the rest (the epilogue) is ignored.
 */
int mstdn_multipart_feed(mstdn_multipart_t *mp, const char *buf, size_t len,
    char *err, size_t errlen);

/* The body has ended: MSTDN_OK if it was complete. */
int mstdn_multipart_finish(mstdn_multipart_t *mp, char *err, size_t errlen);

/* The parts found, in order (complete ones only). */
const mstdn_multipart_part_t *mstdn_multipart_parts(
    const mstdn_multipart_t *mp);

/*
 * The parts into root (text fields checked as form fields are: UTF-8, no
 * NUL, nesting and count limits); file nodes refer to body.  Everything is
 * copied with a: the parser may be destroyed afterwards.
 */
int mstdn_multipart_params(const mstdn_multipart_t *mp,
    const mstdn_multipart_body_t *body, const mstdn_alloc_t *a,
    const mstdn_limits_t *limits, mstdn_value_t *root, char *err,
    size_t errlen);

/*
 * All of it for a body in one buffer, file nodes pointing into buf (which
 * must outlive the tree); at most limits->max_members parts.
 */
int mstdn_multipart_parse(const char *buf, size_t len, const char *boundary,
    size_t blen, const mstdn_alloc_t *a, const mstdn_limits_t *limits,
    mstdn_value_t *root, char *err, size_t errlen);

#endif
