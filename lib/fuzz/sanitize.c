/*
 * libFuzzer: lib/mstdn_sanitize (remote HTML to Mastodon's allowlist) on
 * any bytes.  What it writes must be valid UTF-8 without NUL, within its
 * bound, and a fixed point: sanitizing it again changes nothing (what it
 * keeps is well-formed, every tag closed, every attribute quoted).
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mstdn_sanitize.h"
#include "mstdn_utf8.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int      rc;
    char    *out, *again;
    size_t   n, m, max_out;

    max_out = size * 8 + 64;

    rc = mstdn_sanitize((const char *) data, size, 1 << 20, max_out, &out,
                        &n);
    if (rc != MSTDN_SANITIZE_OK) {
        if (out != NULL
            || (rc == MSTDN_SANITIZE_EINVAL
                && mstdn_utf8_check(data, size, 1) == MSTDN_UTF8_VALID))
        {
            abort();
        }
        return 0;
    }

    if (n > max_out || strlen(out) != n
        || mstdn_utf8_check((const unsigned char *) out, n, 0)
           != MSTDN_UTF8_VALID)
    {
        abort();
    }

    rc = mstdn_sanitize(out, n, 1 << 20, n * 2 + 64, &again, &m);
    if (rc != MSTDN_SANITIZE_OK || m != n || memcmp(out, again, n) != 0) {
        abort();
    }

    free(again);
    free(out);

    (void) mstdn_utf8_prefix((const char *) data, size, size / 2);

    return 0;
}
