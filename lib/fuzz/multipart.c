/*
 * libFuzzer: lib/mstdn_multipart (multipart/form-data bodies).  The first
 * line of the input is the Content-Type header's value, the rest the body.
 */

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mstdn_multipart.h"
#include "fuzz_tree.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                   err[128];
    size_t                 clen, blen;
    const char            *ctype, *body, *nl, *boundary;
    mstdn_arena_t         *ar;
    mstdn_alloc_t          a;
    mstdn_value_t         *root;
    static mstdn_limits_t  limits = { 32, 1000 };

    ctype = (const char *) data;
    nl = memchr(data, '\n', size);
    clen = nl ? (size_t) (nl - ctype) : size;
    body = nl ? nl + 1 : ctype + size;

    if (mstdn_multipart_boundary(ctype, clen, &boundary, &blen) != 0) {
        return 0;
    }

    ar = mstdn_arena_create();
    mstdn_arena_allocator(ar, &a);

    root = mstdn_value_new(&a, MSTDN_OBJECT);
    if (root
        && mstdn_multipart_parse(body, ctype + size - body, boundary, blen,
                                 &a, &limits, root, err, sizeof(err))
           == MSTDN_OK)
    {
        mstdn_fuzz_tree(root, 1, &limits);
    }

    mstdn_arena_destroy(ar);

    return 0;
}
