/*
 * Mastodon's status search syntax: see mstdn_search_query.h.
 */

#include <string.h>

#include "mstdn_search_query.h"
#include "mstdn_value.h"


typedef struct {
    const char       *name;
    size_t            len;
    mstdn_sq_kind_t   kind;
} mstdn_sq_prefix_t;

static const mstdn_sq_prefix_t  mstdn_sq_prefixes[] = {
    { "has", 3, MSTDN_SQ_HAS },
    { "is", 2, MSTDN_SQ_IS },
    { "language", 8, MSTDN_SQ_LANGUAGE },
    { "from", 4, MSTDN_SQ_FROM },
    { "before", 6, MSTDN_SQ_BEFORE },
    { "after", 5, MSTDN_SQ_AFTER },
    { "during", 6, MSTDN_SQ_DURING },
    { "in", 2, MSTDN_SQ_IN }
};


static int
mstdn_sq_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
           || c == '\v';
}


/*
 * A term or a phrase at *p: its text in *text and *len (a phrase's inside,
 * blanks around it dropped), 1 for a phrase; *p moves past it.
 */
static int
mstdn_sq_value(const char **p, const char *end, const char **text,
    size_t *len)
{
    const char  *s, *close, *a, *b;

    s = *p;

    if (s < end && *s == '"') {
        close = memchr(s + 1, '"', end - s - 1);

        if (close != NULL) {
            a = s + 1;
            b = close;

            while (a < b && mstdn_sq_blank(*a)) {
                a++;
            }

            while (b > a && mstdn_sq_blank(b[-1])) {
                b--;
            }

            *text = a;
            *len = b - a;
            *p = close + 1;
            return 1;
        }
    }

    /* a term; an unclosed quote is part of it */
    while (s < end && !mstdn_sq_blank(*s)) {
        s++;
    }

    *text = *p;
    *len = s - *p;
    *p = s;
    return 0;
}


int
mstdn_search_query_parse(const char *q, size_t len, mstdn_search_query_t *out)
{
    size_t              i, vlen;
    int                 negated, phrase;
    const char         *p, *end, *w, *colon, *value;
    mstdn_sq_kind_t     kind;
    mstdn_sq_clause_t  *c;

    out->n = 0;

    if (len > MSTDN_SEARCH_QUERY_MAX) {
        return MSTDN_ETOOBIG;
    }

    p = q;
    end = q + len;

    for ( ;; ) {
        while (p < end && mstdn_sq_blank(*p)) {
            p++;
        }

        if (p == end) {
            return MSTDN_OK;
        }

        negated = 0;

        if ((*p == '+' || *p == '-') && p + 1 < end && !mstdn_sq_blank(p[1]))
        {
            negated = *p == '-';
            p++;
        }

        /* a known prefix: the word up to a colon */
        kind = MSTDN_SQ_TERM;
        w = p;

        while (w < end && *w >= 'a' && *w <= 'z') {
            w++;
        }

        colon = (w < end && *w == ':') ? w : NULL;

        if (colon) {
            for (i = 0; i < sizeof(mstdn_sq_prefixes)
                            / sizeof(mstdn_sq_prefixes[0]); i++)
            {
                if ((size_t) (colon - p) == mstdn_sq_prefixes[i].len
                    && memcmp(p, mstdn_sq_prefixes[i].name,
                              mstdn_sq_prefixes[i].len) == 0)
                {
                    kind = mstdn_sq_prefixes[i].kind;
                    p = colon + 1;
                    break;
                }
            }
        }

        phrase = mstdn_sq_value(&p, end, &value, &vlen);

        if (vlen == 0) {
            /* an empty phrase, a prefix with no value: nothing */
            continue;
        }

        if (out->n == MSTDN_SEARCH_QUERY_CLAUSES) {
            return MSTDN_ETOOMANY;
        }

        c = &out->clauses[out->n++];
        c->kind = (kind == MSTDN_SQ_TERM && phrase) ? MSTDN_SQ_PHRASE : kind;
        c->negated = negated;
        c->text = value;
        c->len = vlen;
    }
}


/* days since 1970-01-01 of a proleptic Gregorian date */
static long
mstdn_sq_days(long y, long m, long d)
{
    long  era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}


int
mstdn_search_date(const char *s, size_t len, long *days)
{
    size_t  i;
    long    y, m, d, mdays;

    if (len != 10 || s[4] != '-' || s[7] != '-') {
        return -1;
    }

    for (i = 0; i < 10; i++) {
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9')) {
            return -1;
        }
    }

    y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10
        + (s[3] - '0');
    m = (s[5] - '0') * 10 + (s[6] - '0');
    d = (s[8] - '0') * 10 + (s[9] - '0');

    if (y < 1000 || m < 1 || m > 12 || d < 1) {
        return -1;
    }

    if (m == 2) {
        mdays = ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0) ? 29 : 28;

    } else if (m == 4 || m == 6 || m == 9 || m == 11) {
        mdays = 30;

    } else {
        mdays = 31;
    }

    if (d > mdays) {
        return -1;
    }

    *days = mstdn_sq_days(y, m, d);

    return 0;
}


void
mstdn_search_date_format(long days, char *buf)
{
    long  z, era, doe, yoe, y, doy, mp, d, m;

    z = days + 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp + (mp < 10 ? 3 : -9);
    y += m <= 2;

    if (y < 0 || y > 9999) {
        y = y < 0 ? 0 : 9999;
    }

    buf[0] = '0' + y / 1000;
    buf[1] = '0' + y / 100 % 10;
    buf[2] = '0' + y / 10 % 10;
    buf[3] = '0' + y % 10;
    buf[4] = '-';
    buf[5] = '0' + m / 10;
    buf[6] = '0' + m % 10;
    buf[7] = '-';
    buf[8] = '0' + d / 10;
    buf[9] = '0' + d % 10;
    buf[10] = '\0';
}
