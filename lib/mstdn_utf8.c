#include <unistr.h>
#include <unicase.h>

#include "mstdn_utf8.h"


size_t
mstdn_utf8_check(const unsigned char *p, size_t len, int allow_nul)
{
    size_t         i, n, k;
    unsigned int   c, min;

    for (i = 0; i < len; /* void */) {
        c = p[i];

        if (c < 0x80) {
            if (c == 0 && !allow_nul) {
                return i;
            }
            i++;
            continue;
        }

        if (c >= 0xc2 && c <= 0xdf) {
            n = 1; c &= 0x1f; min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2; c &= 0x0f; min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3; c &= 0x07; min = 0x10000;
        } else {
            return i;           /* continuation byte, 0xc0/0xc1, or > 0xf4 */
        }

        if (len - i <= n) {
            return i;           /* truncated sequence */
        }

        for (k = 1; k <= n; k++) {
            if ((p[i + k] & 0xc0) != 0x80) {
                return i;
            }
            c = (c << 6) | (p[i + k] & 0x3f);
        }

        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
            return i;           /* overlong, out of range, or a surrogate */
        }

        i += n + 1;
    }

    return MSTDN_UTF8_VALID;
}


size_t
mstdn_utf8_length(const unsigned char *p, size_t len)
{
    size_t  i, n;

    for (i = 0, n = 0; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            n++;
        }
    }

    return n;
}


size_t
mstdn_utf8_downcase(const unsigned char *p, size_t len, unsigned char *out)
{
    int             n;
    ucs4_t          c;
    unsigned char  *o;
    const uint8_t  *end;

    o = out;
    end = p + len;

    for ( /* void */ ; p < end; p += n) {
        n = u8_mbtoucr(&c, p, end - p);

        if (n < 0) {
            *o++ = *p;          /* not UTF-8: as it is */
            n = 1;
            continue;
        }

        if (c == 0x130) {
            *o++ = 'i';
            o += u8_uctomb(o, 0x307, 6);
            continue;
        }

        o += u8_uctomb(o, uc_tolower(c), 6);
    }

    return o - out;
}
