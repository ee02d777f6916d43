/*
 * libFuzzer: lib/mstdn_text (status text to HTML, entities, length) and
 * lib/mstdn_grapheme, on valid UTF-8 as the callers give them.  The HTML
 * must be valid UTF-8 too.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mstdn_text.h"
#include "mstdn_utf8.h"


static int
mstdn_fuzz_mention(void *ctx, const char *username, size_t ulen,
    const char *domain, size_t dlen, const char **url, size_t *url_len,
    const char **display, size_t *display_len)
{
    if (ulen == 0 || username[0] == 'x') {
        return 0;
    }

    *url = "https://ex.com/@someone";
    *url_len = strlen(*url);
    *display = username;
    *display_len = ulen;

    return 1;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                    rel_me;
    char                  *html;
    size_t                 len, n, max, i, cut;
    const char            *text;
    mstdn_arena_t         *ar;
    mstdn_alloc_t          a;
    mstdn_entity_t         e[16];
    mstdn_text_options_t   opt = {
        "https://ex.com", 14, "ex.com", 6, 1, 0, mstdn_fuzz_mention, NULL
    };

    if (size == 0
        || mstdn_utf8_check(data, size, 0) != MSTDN_UTF8_VALID)
    {
        return 0;
    }

    rel_me = data[0] & 1;
    opt.multiline = !(data[0] & 2);
    opt.rel_me = rel_me;

    text = (const char *) data;
    len = size;

    ar = mstdn_arena_create();
    mstdn_arena_allocator(ar, &a);

    if (mstdn_text_format(text, len, &opt, &a, &html, &n) == 0) {
        if (strlen(html) != n
            || mstdn_utf8_check((const unsigned char *) html, n, 0)
               != MSTDN_UTF8_VALID)
        {
            abort();
        }
    }

    mstdn_arena_destroy(ar);

    max = sizeof(e) / sizeof(e[0]);
    n = mstdn_text_entities(text, len, e, max);
    for (i = 0; i < n && i < max; i++) {
        if (e[i].start >= e[i].end || e[i].end > len
            || (i > 0 && e[i].start < e[i - 1].end))
        {
            abort();
        }
    }
    mstdn_text_distinct(e, n < max ? n : max);

    /* the spoiler: a prefix cut where a character starts */
    cut = len / 2;
    while (cut > 0 && (data[cut] & 0xc0) == 0x80) {
        cut--;
    }

    if (mstdn_status_length(text, cut, text + cut, len - cut)
        == MSTDN_GRAPHEME_ERROR
        || mstdn_grapheme_count(text, len) > len)
    {
        abort();
    }

    mstdn_text_strip(&text, &len);

    return 0;
}
