#include <stdint.h>
#include <stdlib.h>

#include <unistr.h>
#include <unictype.h>
#include <uninorm.h>

#include "mstdn_hashtag.h"
#include "mstdn_utf8.h"


/*
 * ASCIIFolding (Ruby's String#tr over two tables): Latin-1 Supplement and
 * Latin Extended-A letters to the ASCII letter they are based on; '-' where
 * a letter has none (AE, thorn, sharp s, IJ, OE).  Indexed by code point -
 * 0xC0.
 */
static const char  mstdn_hashtag_fold[] =
    "AAAAAA-CEEEEIIIIDNOOOOO-OUUUUY--"      /* U+00C0 */
    "aaaaaa-ceeeeiiiidnooooo-ouuuuy-y"      /* U+00E0 */
    "AaAaAaCcCcCcCcDdDdEeEeEeEeEeGgGg"      /* U+0100 */
    "GgGgHhHhIiIiIiIiIi--JjKkkLlLlLlL"      /* U+0120 */
    "lLlNnNnNnnNnOoOoOo--RrRrRrSsSsSs"      /* U+0140 */
    "SsTtTtTtUuUuUuUuUuUuWwYyYZzZzZzs";     /* U+0160 */


static ucs4_t
mstdn_hashtag_ascii(ucs4_t c)
{
    if (c >= 0xc0 && c < 0x180 && mstdn_hashtag_fold[c - 0xc0] != '-') {
        return (unsigned char) mstdn_hashtag_fold[c - 0xc0];
    }

    return c;
}


/* [^[:alnum:]\u0E47-\u0E4E_\u00B7\u30FB\u200c] */
static int
mstdn_hashtag_valid(ucs4_t c)
{
    if (c < 0x80) {
        return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a'
                                          && (c | 0x20) <= 'z')
               || c == '_';
    }

    return uc_is_property_alphabetic(c)
           || uc_is_general_category(c, UC_DECIMAL_DIGIT_NUMBER)
           || (c >= 0x0e47 && c <= 0x0e4e)
           || c == 0x00b7 || c == 0x30fb || c == 0x200c;
}


char *
mstdn_hashtag_normalize(const char *name, size_t len, const mstdn_alloc_t *a,
    size_t *out_len)
{
    int             n;
    ucs4_t          c;
    size_t          nfkc_len, lower_len;
    uint8_t        *nfkc, *lower, *p;
    const uint8_t  *s, *end;

    if (len == 0) {
        p = a->alloc(a->ctx, 1);
        *out_len = 0;
        return (char *) p;      /* zeroed: "" */
    }

    /* cjk_width: NFKC */
    nfkc = u8_normalize(UNINORM_NFKC, (const uint8_t *) name, len, NULL,
                        &nfkc_len);
    if (nfkc == NULL) {
        return NULL;
    }

    lower = a->alloc(a->ctx, MSTDN_UTF8_DOWNCASE_MAX(nfkc_len) + 1);
    if (lower == NULL) {
        free(nfkc);
        return NULL;
    }

    /* lowercase: String#downcase */
    lower_len = mstdn_utf8_downcase(nfkc, nfkc_len, lower);
    free(nfkc);

    /* ascii_folding and remove_invalid_characters, in place */
    p = lower;
    end = lower + lower_len;

    for (s = lower; s < end; s += n) {
        n = u8_mbtouc(&c, s, end - s);
        c = mstdn_hashtag_ascii(c);

        if (mstdn_hashtag_valid(c)) {
            p += u8_uctomb(p, c, n);    /* folding never grows it */
        }
    }

    *p = '\0';
    *out_len = p - lower;

    return (char *) lower;
}


size_t
mstdn_hashtag_strip_invalid(char *name, size_t len)
{
    int             n;
    ucs4_t          c;
    uint8_t        *p;
    const uint8_t  *s, *end;

    s = (const uint8_t *) name;
    end = s + len;
    p = (uint8_t *) name;

    for ( /* void */ ; s < end; s += n) {
        n = u8_mbtouc(&c, s, end - s);

        if (mstdn_hashtag_valid(c)) {
            while (n--) {
                *p++ = *s++;
            }
            n = 0;
        }
    }

    return p - (uint8_t *) name;
}
