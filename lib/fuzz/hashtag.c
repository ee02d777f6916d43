/*
 * libFuzzer: lib/mstdn_hashtag (HashtagNormalizer) on valid UTF-8, as the
 * callers give it: the name and the display name stay valid UTF-8, and
 * what is left of a display name is a valid name.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mstdn_hashtag.h"
#include "mstdn_utf8.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char           *out, *copy;
    size_t          len, n;
    mstdn_arena_t  *ar;
    mstdn_alloc_t   a;

    if (mstdn_utf8_check(data, size, 0) != MSTDN_UTF8_VALID) {
        return 0;
    }

    ar = mstdn_arena_create();
    mstdn_arena_allocator(ar, &a);

    out = mstdn_hashtag_normalize((const char *) data, size, &a, &len);
    if (out == NULL || strlen(out) != len
        || mstdn_utf8_check((unsigned char *) out, len, 0)
           != MSTDN_UTF8_VALID)
    {
        abort();
    }

    copy = malloc(size + 1);
    if (copy) {
        memcpy(copy, data, size);
        n = mstdn_hashtag_strip_invalid(copy, size);
        if (n > size
            || mstdn_utf8_check((unsigned char *) copy, n, 0)
               != MSTDN_UTF8_VALID
            || mstdn_hashtag_strip_invalid(copy, n) != n)
        {
            abort();
        }
        free(copy);
    }

    mstdn_arena_destroy(ar);

    return 0;
}
