/*
 * libFuzzer: lib/mstdn_multipart (multipart/form-data bodies).  The first
 * line of the input is the Content-Type header's value, the rest the body.
 *
 * The body is parsed whole into the tree, then fed again in pieces (cut in
 * two at a place drawn from the input, and in small pieces of sizes drawn
 * from it): the outcome must be the same however it is cut, and every file
 * part's range must end where a delimiter begins.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mstdn_multipart.h"
#include "fuzz_tree.h"


#define MSTDN_FUZZ_MAX_TEXT  64       /* small: the limit is reached too */


static int
mstdn_fuzz_stream(const char *body, size_t len, const char *boundary,
    size_t blen, uint32_t seed, int mode, mstdn_multipart_t **mp)
{
    int      rc;
    char     err[128];
    size_t   n, from;

    *mp = mstdn_multipart_create(boundary, blen, 50, MSTDN_FUZZ_MAX_TEXT);
    if (*mp == NULL) {
        return MSTDN_ENOMEM;
    }

    if (mode == 1) {
        /* in two, the first piece possibly empty */
        n = seed % (len + 1);
        rc = mstdn_multipart_feed(*mp, body, n, err, sizeof(err));
        if (rc == MSTDN_OK) {
            rc = mstdn_multipart_feed(*mp, body + n, len - n, err,
                                      sizeof(err));
        }

    } else {
        rc = MSTDN_OK;

        for (from = 0; from < len && rc == MSTDN_OK; from += n) {
            n = len - from;                         /* whole */

            if (mode == 2) {
                seed = seed * 1103515245 + 12345;   /* small pieces */
                n = 1 + (seed >> 16) % 9;
                if (n > len - from) {
                    n = len - from;
                }
            }

            rc = mstdn_multipart_feed(*mp, body + from, n, err, sizeof(err));
        }
    }

    if (rc == MSTDN_OK) {
        rc = mstdn_multipart_finish(*mp, err, sizeof(err));
    }

    return rc;
}


static void
mstdn_fuzz_same(const mstdn_multipart_t *a, const mstdn_multipart_t *b,
    const char *body, size_t len, const char *boundary, size_t blen)
{
    const mstdn_multipart_part_t  *p, *q;

    for (p = mstdn_multipart_parts(a), q = mstdn_multipart_parts(b);
         p && q;
         p = p->next, q = q->next)
    {
        if (p->name_len != q->name_len
            || memcmp(p->name, q->name, p->name_len) != 0
            || (p->filename == NULL) != (q->filename == NULL))
        {
            abort();
        }

        if (p->filename == NULL) {
            if (p->len != q->len || memcmp(p->value, q->value, p->len) != 0
                || p->value[p->len] != '\0')
            {
                abort();
            }
            continue;
        }

        if (strcmp(p->filename, q->filename) != 0
            || strcmp(p->content_type, q->content_type) != 0
            || p->offset != q->offset || p->size != q->size)
        {
            abort();
        }

        /* the range is inside the body, and a delimiter follows it */
        if (p->offset > len || p->size > len - p->offset
            || len - p->offset - p->size < blen + 4
            || memcmp(body + p->offset + p->size, "\r\n--", 4) != 0
            || memcmp(body + p->offset + p->size + 4, boundary, blen) != 0)
        {
            abort();
        }
    }

    if (p != NULL || q != NULL) {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                    rc, mode;
    char                   err[128];
    size_t                 clen, blen, len;
    uint32_t               seed;
    const char            *ctype, *body, *nl, *boundary;
    mstdn_arena_t         *ar;
    mstdn_alloc_t          a;
    mstdn_value_t         *root;
    mstdn_multipart_t     *whole, *cut;
    static mstdn_limits_t  limits = { 32, 1000 };

    ctype = (const char *) data;
    nl = memchr(data, '\n', size);
    clen = nl ? (size_t) (nl - ctype) : size;
    body = nl ? nl + 1 : ctype + size;
    len = ctype + size - body;

    if (mstdn_multipart_boundary(ctype, clen, &boundary, &blen) != 0) {
        return 0;
    }

    ar = mstdn_arena_create();
    mstdn_arena_allocator(ar, &a);

    root = mstdn_value_new(&a, MSTDN_OBJECT);
    if (root
        && mstdn_multipart_parse(body, len, boundary, blen, &a, &limits, root,
                                 err, sizeof(err))
           == MSTDN_OK)
    {
        mstdn_fuzz_tree(root, 1, &limits);
    }

    mstdn_arena_destroy(ar);

    seed = 2166136261u;
    for (clen = 0; clen < size; clen++) {
        seed = (seed ^ data[clen]) * 16777619u;
    }

    rc = mstdn_fuzz_stream(body, len, boundary, blen, seed, 0, &whole);

    for (mode = 1; mode <= 2 && whole; mode++) {
        if (mstdn_fuzz_stream(body, len, boundary, blen, seed, mode, &cut)
            != rc)
        {
            abort();
        }

        if (rc == MSTDN_OK) {
            mstdn_fuzz_same(whole, cut, body, len, boundary, blen);
        }

        mstdn_multipart_destroy(cut);
    }

    /* the parts as file references into the tree */
    if (rc == MSTDN_OK) {
        mstdn_multipart_body_t  where = { NULL, 3, "/body", 100 };

        ar = mstdn_arena_create();
        mstdn_arena_allocator(ar, &a);

        root = mstdn_value_new(&a, MSTDN_OBJECT);
        if (root
            && mstdn_multipart_params(whole, &where, &a, &limits, root, err,
                                      sizeof(err))
               == MSTDN_OK)
        {
            mstdn_fuzz_tree(root, 1, &limits);
        }

        mstdn_arena_destroy(ar);
    }

    mstdn_multipart_destroy(whole);

    return 0;
}
