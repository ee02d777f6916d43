/*
 * libFuzzer: lib/mstdn_utf8, against libunistring's u8_check() (strict
 * UTF-8 too: no surrogates, nothing above U+10FFFF, no overlong forms).
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <unistr.h>

#include "mstdn_utf8.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t          bad, bad_nul;
    const uint8_t  *ref, *nul;

    bad = mstdn_utf8_check(data, size, 1);
    ref = u8_check(data, size);

    if (ref == NULL ? bad != MSTDN_UTF8_VALID : bad != (size_t) (ref - data)) {
        abort();
    }

    /* without NUL: the first NUL or the first bad byte, whichever first */
    bad_nul = mstdn_utf8_check(data, size, 0);
    nul = memchr(data, '\0', size);
    if (nul && (bad == MSTDN_UTF8_VALID || (size_t) (nul - data) < bad)) {
        bad = nul - data;
    }

    if (bad_nul != bad) {
        abort();
    }

    if (ref == NULL && mstdn_utf8_length(data, size) != u8_mbsnlen(data, size))
    {
        abort();
    }

    return 0;
}
