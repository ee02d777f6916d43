#include "mstdn_grapheme.h"


/* Grapheme_Cluster_Break classes that matter here (UAX #29) */
#define MSTDN_GB_OTHER    0
#define MSTDN_GB_CR       1
#define MSTDN_GB_LF       2
#define MSTDN_GB_CONTROL  3
#define MSTDN_GB_EXTEND   4     /* Extend and SpacingMark: never a break */
#define MSTDN_GB_ZWJ      5
#define MSTDN_GB_RI       6
#define MSTDN_GB_PREPEND  7
#define MSTDN_GB_L        8
#define MSTDN_GB_V        9
#define MSTDN_GB_T        10
#define MSTDN_GB_LV       11
#define MSTDN_GB_LVT      12
#define MSTDN_GB_START    13    /* nothing before */


typedef struct {
    unsigned  lo;
    unsigned  hi;
} mstdn_grapheme_range_t;


/* Extend and SpacingMark: the combining marks of the scripts in use */
static const mstdn_grapheme_range_t  mstdn_grapheme_extend[] = {
    { 0x0300, 0x036f }, { 0x0483, 0x0489 }, { 0x0591, 0x05bd },
    { 0x05bf, 0x05bf }, { 0x05c1, 0x05c2 }, { 0x05c4, 0x05c5 },
    { 0x05c7, 0x05c7 }, { 0x0610, 0x061a }, { 0x064b, 0x065f },
    { 0x0670, 0x0670 }, { 0x06d6, 0x06dc }, { 0x06df, 0x06e4 },
    { 0x06e7, 0x06e8 }, { 0x06ea, 0x06ed }, { 0x0711, 0x0711 },
    { 0x0730, 0x074a }, { 0x07a6, 0x07b0 }, { 0x07eb, 0x07f3 },
    { 0x07fd, 0x07fd }, { 0x0816, 0x0819 }, { 0x081b, 0x0823 },
    { 0x0825, 0x0827 }, { 0x0829, 0x082d }, { 0x0859, 0x085b },
    { 0x0898, 0x089f }, { 0x08ca, 0x08e1 }, { 0x08e3, 0x0903 },
    { 0x093a, 0x093c }, { 0x093e, 0x094f }, { 0x0951, 0x0957 },
    { 0x0962, 0x0963 }, { 0x0981, 0x0983 }, { 0x09bc, 0x09bc },
    { 0x09be, 0x09c4 }, { 0x09c7, 0x09c8 }, { 0x09cb, 0x09cd },
    { 0x09d7, 0x09d7 }, { 0x09e2, 0x09e3 }, { 0x09fe, 0x09fe },
    { 0x0a01, 0x0a03 }, { 0x0a3c, 0x0a3c }, { 0x0a3e, 0x0a42 },
    { 0x0a47, 0x0a48 }, { 0x0a4b, 0x0a4d }, { 0x0a51, 0x0a51 },
    { 0x0a70, 0x0a71 }, { 0x0a75, 0x0a75 }, { 0x0a81, 0x0a83 },
    { 0x0abc, 0x0abc }, { 0x0abe, 0x0ac5 }, { 0x0ac7, 0x0ac9 },
    { 0x0acb, 0x0acd }, { 0x0ae2, 0x0ae3 }, { 0x0afa, 0x0aff },
    { 0x0b01, 0x0b03 }, { 0x0b3c, 0x0b3c }, { 0x0b3e, 0x0b44 },
    { 0x0b47, 0x0b48 }, { 0x0b4b, 0x0b4d }, { 0x0b55, 0x0b57 },
    { 0x0b62, 0x0b63 }, { 0x0b82, 0x0b82 }, { 0x0bbe, 0x0bc2 },
    { 0x0bc6, 0x0bc8 }, { 0x0bca, 0x0bcd }, { 0x0bd7, 0x0bd7 },
    { 0x0c00, 0x0c04 }, { 0x0c3c, 0x0c3c }, { 0x0c3e, 0x0c44 },
    { 0x0c46, 0x0c48 }, { 0x0c4a, 0x0c4d }, { 0x0c55, 0x0c56 },
    { 0x0c62, 0x0c63 }, { 0x0c81, 0x0c83 }, { 0x0cbc, 0x0cbc },
    { 0x0cbe, 0x0cc4 }, { 0x0cc6, 0x0cc8 }, { 0x0cca, 0x0ccd },
    { 0x0cd5, 0x0cd6 }, { 0x0ce2, 0x0ce3 }, { 0x0cf3, 0x0cf3 },
    { 0x0d00, 0x0d03 }, { 0x0d3b, 0x0d3c }, { 0x0d3e, 0x0d44 },
    { 0x0d46, 0x0d48 }, { 0x0d4a, 0x0d4d }, { 0x0d57, 0x0d57 },
    { 0x0d62, 0x0d63 }, { 0x0d81, 0x0d83 }, { 0x0dca, 0x0dca },
    { 0x0dcf, 0x0dd4 }, { 0x0dd6, 0x0dd6 }, { 0x0dd8, 0x0ddf },
    { 0x0df2, 0x0df3 }, { 0x0e31, 0x0e31 }, { 0x0e33, 0x0e3a },
    { 0x0e47, 0x0e4e }, { 0x0eb1, 0x0eb1 }, { 0x0eb3, 0x0ebc },
    { 0x0ec8, 0x0ece }, { 0x0f18, 0x0f19 }, { 0x0f35, 0x0f35 },
    { 0x0f37, 0x0f37 }, { 0x0f39, 0x0f39 }, { 0x0f3e, 0x0f3f },
    { 0x0f71, 0x0f84 }, { 0x0f86, 0x0f87 }, { 0x0f8d, 0x0f97 },
    { 0x0f99, 0x0fbc }, { 0x0fc6, 0x0fc6 }, { 0x102b, 0x103e },
    { 0x1056, 0x1059 }, { 0x105e, 0x1060 }, { 0x1062, 0x1064 },
    { 0x1067, 0x106d }, { 0x1071, 0x1074 }, { 0x1082, 0x108d },
    { 0x108f, 0x108f }, { 0x109a, 0x109d }, { 0x135d, 0x135f },
    { 0x1712, 0x1715 }, { 0x1732, 0x1734 }, { 0x1752, 0x1753 },
    { 0x1772, 0x1773 }, { 0x17b4, 0x17d3 }, { 0x17dd, 0x17dd },
    { 0x180b, 0x180d }, { 0x180f, 0x180f }, { 0x1885, 0x1886 },
    { 0x18a9, 0x18a9 }, { 0x1920, 0x192b }, { 0x1930, 0x193b },
    { 0x1a17, 0x1a1b }, { 0x1a55, 0x1a7f }, { 0x1ab0, 0x1ace },
    { 0x1b00, 0x1b04 }, { 0x1b34, 0x1b44 }, { 0x1b6b, 0x1b73 },
    { 0x1b80, 0x1b82 }, { 0x1ba1, 0x1bad }, { 0x1be6, 0x1bf3 },
    { 0x1c24, 0x1c37 }, { 0x1cd0, 0x1cd2 }, { 0x1cd4, 0x1ce8 },
    { 0x1ced, 0x1ced }, { 0x1cf4, 0x1cf4 }, { 0x1cf7, 0x1cf9 },
    { 0x1dc0, 0x1dff }, { 0x200c, 0x200c }, { 0x20d0, 0x20f0 },
    { 0x2cef, 0x2cf1 }, { 0x2d7f, 0x2d7f }, { 0x2de0, 0x2dff },
    { 0x302a, 0x302f }, { 0x3099, 0x309a }, { 0xa66f, 0xa672 },
    { 0xa674, 0xa67d }, { 0xa69e, 0xa69f }, { 0xa6f0, 0xa6f1 },
    { 0xa802, 0xa802 }, { 0xa806, 0xa806 }, { 0xa80b, 0xa80b },
    { 0xa823, 0xa827 }, { 0xa82c, 0xa82c }, { 0xa880, 0xa881 },
    { 0xa8b4, 0xa8c5 }, { 0xa8e0, 0xa8f1 }, { 0xa8ff, 0xa8ff },
    { 0xa926, 0xa92d }, { 0xa947, 0xa953 }, { 0xa980, 0xa983 },
    { 0xa9b3, 0xa9c0 }, { 0xa9e5, 0xa9e5 }, { 0xaa29, 0xaa36 },
    { 0xaa43, 0xaa43 }, { 0xaa4c, 0xaa4d }, { 0xaa7b, 0xaa7d },
    { 0xaab0, 0xaab0 }, { 0xaab2, 0xaab4 }, { 0xaab7, 0xaab8 },
    { 0xaabe, 0xaabf }, { 0xaac1, 0xaac1 }, { 0xaaeb, 0xaaef },
    { 0xaaf5, 0xaaf6 }, { 0xabe3, 0xabea }, { 0xabec, 0xabed },
    { 0xfb1e, 0xfb1e }, { 0xfe00, 0xfe0f }, { 0xfe20, 0xfe2f },
    { 0xff9e, 0xff9f }, { 0x101fd, 0x101fd }, { 0x102e0, 0x102e0 },
    { 0x10376, 0x1037a }, { 0x10a01, 0x10a0f }, { 0x10a38, 0x10a3f },
    { 0x10ae5, 0x10ae6 }, { 0x10d24, 0x10d27 }, { 0x11000, 0x11002 },
    { 0x11038, 0x11046 }, { 0x1107f, 0x11082 }, { 0x110b0, 0x110ba },
    { 0x11100, 0x11102 }, { 0x11127, 0x11134 }, { 0x1d165, 0x1d169 },
    { 0x1d16d, 0x1d172 }, { 0x1d17b, 0x1d182 }, { 0x1d185, 0x1d18b },
    { 0x1d1aa, 0x1d1ad }, { 0x1e8d0, 0x1e8d6 }, { 0x1e944, 0x1e94a },
    { 0x1f3fb, 0x1f3ff },       /* emoji modifiers */
    { 0xe0020, 0xe007f },       /* tags */
    { 0xe0100, 0xe01ef }        /* variation selectors supplement */
};


/* Control (other than CR and LF) */
static const mstdn_grapheme_range_t  mstdn_grapheme_control[] = {
    { 0x0000, 0x0009 }, { 0x000b, 0x000c }, { 0x000e, 0x001f },
    { 0x007f, 0x009f }, { 0x00ad, 0x00ad }, { 0x061c, 0x061c },
    { 0x180e, 0x180e }, { 0x200b, 0x200b }, { 0x200e, 0x200f },
    { 0x2028, 0x202e }, { 0x2060, 0x206f }, { 0xfeff, 0xfeff },
    { 0xfff0, 0xfffb }, { 0x13430, 0x1343f }, { 0x1bca0, 0x1bca3 },
    { 0x1d173, 0x1d17a }, { 0xe0000, 0xe001f }, { 0xe0080, 0xe00ff },
    { 0xe01f0, 0xe0fff }
};


static const mstdn_grapheme_range_t  mstdn_grapheme_prepend[] = {
    { 0x0600, 0x0605 }, { 0x06dd, 0x06dd }, { 0x070f, 0x070f },
    { 0x0890, 0x0891 }, { 0x08e2, 0x08e2 }, { 0x0d4e, 0x0d4e },
    { 0x110bd, 0x110bd }, { 0x110cd, 0x110cd }, { 0x111c2, 0x111c3 }
};


/* Extended_Pictographic */
static const mstdn_grapheme_range_t  mstdn_grapheme_pict[] = {
    { 0x00a9, 0x00a9 }, { 0x00ae, 0x00ae }, { 0x203c, 0x203c },
    { 0x2049, 0x2049 }, { 0x2122, 0x2122 }, { 0x2139, 0x2139 },
    { 0x2194, 0x2199 }, { 0x21a9, 0x21aa }, { 0x231a, 0x231b },
    { 0x2328, 0x2328 }, { 0x2388, 0x2388 }, { 0x23cf, 0x23cf },
    { 0x23e9, 0x23f3 }, { 0x23f8, 0x23fa }, { 0x24c2, 0x24c2 },
    { 0x25aa, 0x25ab }, { 0x25b6, 0x25b6 }, { 0x25c0, 0x25c0 },
    { 0x25fb, 0x25fe }, { 0x2600, 0x2605 }, { 0x2607, 0x2612 },
    { 0x2614, 0x2685 }, { 0x2690, 0x2705 }, { 0x2708, 0x2712 },
    { 0x2714, 0x2714 }, { 0x2716, 0x2716 }, { 0x271d, 0x271d },
    { 0x2721, 0x2721 }, { 0x2728, 0x2728 }, { 0x2733, 0x2734 },
    { 0x2744, 0x2744 }, { 0x2747, 0x2747 }, { 0x274c, 0x274c },
    { 0x274e, 0x274e }, { 0x2753, 0x2755 }, { 0x2757, 0x2757 },
    { 0x2763, 0x2767 }, { 0x2795, 0x2797 }, { 0x27a1, 0x27a1 },
    { 0x27b0, 0x27b0 }, { 0x27bf, 0x27bf }, { 0x2934, 0x2935 },
    { 0x2b05, 0x2b07 }, { 0x2b1b, 0x2b1c }, { 0x2b50, 0x2b50 },
    { 0x2b55, 0x2b55 }, { 0x3030, 0x3030 }, { 0x303d, 0x303d },
    { 0x3297, 0x3297 }, { 0x3299, 0x3299 }, { 0x1f000, 0x1f0ff },
    { 0x1f10d, 0x1f10f }, { 0x1f12f, 0x1f12f }, { 0x1f16c, 0x1f171 },
    { 0x1f17e, 0x1f17f }, { 0x1f18e, 0x1f18e }, { 0x1f191, 0x1f19a },
    { 0x1f1ad, 0x1f1e5 }, { 0x1f201, 0x1f20f }, { 0x1f21a, 0x1f21a },
    { 0x1f22f, 0x1f22f }, { 0x1f232, 0x1f23a }, { 0x1f23c, 0x1f23f },
    { 0x1f249, 0x1f3fa }, { 0x1f400, 0x1f53d }, { 0x1f546, 0x1f64f },
    { 0x1f680, 0x1f6ff }, { 0x1f774, 0x1f77f }, { 0x1f7d5, 0x1f7ff },
    { 0x1f80c, 0x1f80f }, { 0x1f848, 0x1f84f }, { 0x1f85a, 0x1f85f },
    { 0x1f888, 0x1f88f }, { 0x1f8ae, 0x1f8ff }, { 0x1f90c, 0x1f93a },
    { 0x1f93c, 0x1f945 }, { 0x1f947, 0x1faff }, { 0x1fc00, 0x1fffd }
};


#define mstdn_grapheme_in(cp, t)                                             \
    mstdn_grapheme_search(cp, t, sizeof(t) / sizeof(t[0]))


static int
mstdn_grapheme_search(unsigned cp, const mstdn_grapheme_range_t *t, size_t n)
{
    size_t  lo, hi, mid;

    if (cp < t[0].lo || cp > t[n - 1].hi) {
        return 0;
    }

    lo = 0;
    hi = n;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        if (cp < t[mid].lo) {
            hi = mid;
        } else if (cp > t[mid].hi) {
            lo = mid + 1;
        } else {
            return 1;
        }
    }

    return 0;
}


static unsigned
mstdn_grapheme_class(unsigned cp)
{
    if (cp == '\r') {
        return MSTDN_GB_CR;
    }

    if (cp == '\n') {
        return MSTDN_GB_LF;
    }

    if (cp < 0x20) {
        return MSTDN_GB_CONTROL;
    }

    if (cp < 0x7f) {
        return MSTDN_GB_OTHER;
    }

    if (cp == 0x200d) {
        return MSTDN_GB_ZWJ;
    }

    if (cp >= 0x1f1e6 && cp <= 0x1f1ff) {
        return MSTDN_GB_RI;
    }

    if ((cp >= 0x1100 && cp <= 0x115f) || (cp >= 0xa960 && cp <= 0xa97c)) {
        return MSTDN_GB_L;
    }

    if ((cp >= 0x1160 && cp <= 0x11a7) || (cp >= 0xd7b0 && cp <= 0xd7c6)) {
        return MSTDN_GB_V;
    }

    if ((cp >= 0x11a8 && cp <= 0x11ff) || (cp >= 0xd7cb && cp <= 0xd7fb)) {
        return MSTDN_GB_T;
    }

    if (cp >= 0xac00 && cp <= 0xd7a3) {
        return (cp - 0xac00) % 28 == 0 ? MSTDN_GB_LV : MSTDN_GB_LVT;
    }

    if (mstdn_grapheme_in(cp, mstdn_grapheme_extend)) {
        return MSTDN_GB_EXTEND;
    }

    if (mstdn_grapheme_in(cp, mstdn_grapheme_control)) {
        return MSTDN_GB_CONTROL;
    }

    if (mstdn_grapheme_in(cp, mstdn_grapheme_prepend)) {
        return MSTDN_GB_PREPEND;
    }

    return MSTDN_GB_OTHER;
}


/* Whether UAX #29 forbids a break between prev and cls (GB3-GB13). */
static int
mstdn_grapheme_joins(mstdn_grapheme_t *g, unsigned cls, int pict)
{
    unsigned  prev;

    prev = g->prev;

    if (prev == MSTDN_GB_CR && cls == MSTDN_GB_LF) {
        return 1;                                           /* GB3 */
    }

    if (prev == MSTDN_GB_CR || prev == MSTDN_GB_LF
        || prev == MSTDN_GB_CONTROL)
    {
        return 0;                                           /* GB4 */
    }

    if (cls == MSTDN_GB_CR || cls == MSTDN_GB_LF
        || cls == MSTDN_GB_CONTROL)
    {
        return 0;                                           /* GB5 */
    }

    switch (prev) {

    case MSTDN_GB_L:                                        /* GB6 */
        if (cls == MSTDN_GB_L || cls == MSTDN_GB_V || cls == MSTDN_GB_LV
            || cls == MSTDN_GB_LVT)
        {
            return 1;
        }
        break;

    case MSTDN_GB_LV:                                       /* GB7 */
    case MSTDN_GB_V:
        if (cls == MSTDN_GB_V || cls == MSTDN_GB_T) {
            return 1;
        }
        break;

    case MSTDN_GB_LVT:                                      /* GB8 */
    case MSTDN_GB_T:
        if (cls == MSTDN_GB_T) {
            return 1;
        }
        break;
    }

    if (cls == MSTDN_GB_EXTEND || cls == MSTDN_GB_ZWJ) {
        return 1;                                           /* GB9, GB9a */
    }

    if (prev == MSTDN_GB_PREPEND) {
        return 1;                                           /* GB9b */
    }

    if (prev == MSTDN_GB_ZWJ && g->pict_zwj && pict) {
        return 1;                                           /* GB11 */
    }

    if (prev == MSTDN_GB_RI && cls == MSTDN_GB_RI && g->ri % 2 == 1) {
        return 1;                                           /* GB12, GB13 */
    }

    return 0;                                               /* GB999 */
}


void
mstdn_grapheme_init(mstdn_grapheme_t *g)
{
    g->count = 0;
    g->prev = MSTDN_GB_START;
    g->ri = 0;
    g->pict = 0;
    g->pict_zwj = 0;
}


void
mstdn_grapheme_feed(mstdn_grapheme_t *g, unsigned cp)
{
    int       pict;
    unsigned  cls;

    cls = mstdn_grapheme_class(cp);
    pict = cp >= 0xa9 && cls == MSTDN_GB_OTHER
           && mstdn_grapheme_in(cp, mstdn_grapheme_pict);

    if (g->prev == MSTDN_GB_START || !mstdn_grapheme_joins(g, cls, pict)) {
        g->count++;
    }

    /* the state GB11 and GB12/13 look back at */
    g->pict_zwj = (cls == MSTDN_GB_ZWJ && g->pict);

    if (pict) {
        g->pict = 1;
    } else if (cls != MSTDN_GB_EXTEND) {
        g->pict = 0;
    }

    g->ri = (cls == MSTDN_GB_RI) ? g->ri + 1 : 0;
    g->prev = cls;
}


void
mstdn_grapheme_feed_utf8(mstdn_grapheme_t *g, const char *text, size_t len)
{
    unsigned              c, cp;
    size_t                n, i;
    const unsigned char  *p, *end;

    p = (const unsigned char *) text;
    end = p + len;

    while (p < end) {
        c = *p;

        if (c < 0x80) {
            cp = c;
            n = 1;
        } else if ((c & 0xe0) == 0xc0) {
            cp = c & 0x1f;
            n = 2;
        } else if ((c & 0xf0) == 0xe0) {
            cp = c & 0x0f;
            n = 3;
        } else if ((c & 0xf8) == 0xf0) {
            cp = c & 0x07;
            n = 4;
        } else {
            cp = 0xfffd;
            n = 1;
        }

        if ((size_t) (end - p) < n) {
            cp = 0xfffd;
            n = 1;
        }

        for (i = 1; i < n; i++) {
            if ((p[i] & 0xc0) != 0x80) {
                cp = 0xfffd;
                n = 1;
                break;
            }
            cp = (cp << 6) | (p[i] & 0x3f);
        }

        mstdn_grapheme_feed(g, cp);
        p += n;
    }
}


size_t
mstdn_grapheme_count(const char *text, size_t len)
{
    mstdn_grapheme_t  g;

    mstdn_grapheme_init(&g);
    mstdn_grapheme_feed_utf8(&g, text, len);

    return g.count;
}
