#include "mstdn_filter.h"

#include <unicase.h>
#include <unictype.h>
#include <unistr.h>


/* the code point at s (at most n bytes): its length, or 1 and the byte
 * itself tagged as invalid for a malformed sequence */
static size_t
next_char(const char *s, size_t n, ucs4_t *c, int *valid)
{
    int  k;

    k = u8_mbtouc(c, (const uint8_t *) s, n);
    *valid = k > 0 && *c != 0xfffd;

    if (!*valid) {
        /* U+FFFD itself is valid when its bytes are there */
        if (k == 3 && (unsigned char) s[0] == 0xef
            && (unsigned char) s[1] == 0xbf && (unsigned char) s[2] == 0xbd)
        {
            *valid = 1;
            return 3;
        }

        *c = 0x110000 + (unsigned char) s[0];
        return 1;
    }

    return (size_t) k;
}


static int
word_char(ucs4_t c)
{
    if (c >= 0x110000) {
        return 0;
    }

    return uc_is_general_category(c, UC_CATEGORY_L)
           || uc_is_general_category(c, UC_CATEGORY_M)
           || uc_is_general_category(c, UC_CATEGORY_Nd)
           || uc_is_general_category(c, UC_CATEGORY_Pc);
}


static ucs4_t
fold(ucs4_t c)
{
    return c < 0x110000 ? uc_tolower(c) : c;
}


/* the code point before pos (0: none) is a word character */
static int
word_before(const char *text, size_t pos)
{
    size_t  i;
    ucs4_t  c;
    int     valid;

    if (pos == 0) {
        return 0;
    }

    /* back to the start of the previous sequence */
    for (i = pos - 1; i > 0 && ((unsigned char) text[i] & 0xc0) == 0x80
                      && pos - i < 4; i--)
    {
        /* void */
    }

    if (next_char(text + i, pos - i, &c, &valid) != pos - i) {
        return 0;
    }

    return word_char(c);
}


/* keyword k matches text at pos: its length in text, or 0 */
static size_t
match_at(const char *text, size_t len, size_t pos,
    const mstdn_filter_keyword_t *k)
{
    size_t  i, j, a, b;
    ucs4_t  tc, kc, first, last;
    int     tv, kv;

    i = pos;
    j = 0;
    first = last = 0;

    while (j < k->len) {
        if (i >= len) {
            return 0;
        }

        a = next_char(text + i, len - i, &tc, &tv);
        b = next_char(k->keyword + j, k->len - j, &kc, &kv);

        if (tv != kv || fold(tc) != fold(kc)) {
            return 0;
        }

        if (j == 0) {
            first = kc;
        }

        last = kc;
        i += a;
        j += b;
    }

    if (k->whole_word) {
        /* \b where the keyword starts or ends with a word character */
        if (word_char(first) && word_before(text, pos)) {
            return 0;
        }

        if (word_char(last) && i < len) {
            next_char(text + i, len - i, &tc, &tv);
            if (word_char(tc)) {
                return 0;
            }
        }
    }

    return i - pos;
}


int
mstdn_filter_match(const char *text, size_t len,
    const mstdn_filter_keyword_t *keywords, size_t n, size_t *which,
    size_t *start, size_t *mlen)
{
    size_t  pos, k, m;
    ucs4_t  c;
    int     valid;

    for (pos = 0; pos < len; pos += next_char(text + pos, len - pos, &c,
                                               &valid))
    {
        for (k = 0; k < n; k++) {
            if (keywords[k].len == 0) {
                continue;
            }

            m = match_at(text, len, pos, &keywords[k]);
            if (m) {
                *which = k;
                *start = pos;
                *mlen = m;
                return 1;
            }
        }
    }

    return 0;
}
