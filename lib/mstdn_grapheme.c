#include <stdint.h>
#include <stdlib.h>

#include <unigbrk.h>

#include "mstdn_grapheme.h"


size_t
mstdn_grapheme_count(const char *text, size_t len)
{
    char    *breaks;
    size_t   i, count;

    if (len == 0) {
        return 0;
    }

    /* one flag a byte: where a cluster begins */
    breaks = malloc(len);
    if (breaks == NULL) {
        return MSTDN_GRAPHEME_ERROR;
    }

    u8_grapheme_breaks((const uint8_t *) text, len, breaks);

    count = 0;

    for (i = 0; i < len; i++) {
        count += breaks[i] != 0;
    }

    free(breaks);

    return count;
}
