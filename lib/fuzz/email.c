/*
 * libFuzzer: lib/mstdn_email (sign-up and e-mail change) on valid UTF-8, as
 * the callers give it: an accepted address is short, valid UTF-8 with one
 * '@', and accepted again as it is.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mstdn_email.h"
#include "mstdn_utf8.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char           *out, *again;
    size_t          len, len2;
    mstdn_arena_t  *ar;
    mstdn_alloc_t   a;

    if (mstdn_utf8_check(data, size, 0) != MSTDN_UTF8_VALID) {
        return 0;
    }

    ar = mstdn_arena_create();
    mstdn_arena_allocator(ar, &a);

    if (mstdn_email_normalize((const char *) data, size, &a, &out, &len)
        == MSTDN_OK)
    {
        if (strlen(out) != len || len > 2 * MSTDN_EMAIL_MAX
            || mstdn_utf8_check((unsigned char *) out, len, 0)
               != MSTDN_UTF8_VALID
            || strchr(out, '@') == NULL
            || strchr(out, '@') != strrchr(out, '@'))
        {
            abort();
        }

        /* lower case of lower case may differ (U+0130): only accepted */
        if (len <= MSTDN_EMAIL_MAX
            && mstdn_email_normalize(out, len, &a, &again, &len2) != MSTDN_OK)
        {
            abort();
        }
    }

    mstdn_arena_destroy(ar);

    return 0;
}
