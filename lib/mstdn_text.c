#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <idna.h>

#include "mstdn_text.h"
#include "mstdn_html.h"
#include "mstdn_grapheme.h"


/*
 * Character classes, for UTF-8 text, without a Unicode database: ASCII as
 * POSIX defines it; beyond ASCII, letters unless the code point is in a
 * punctuation, space or symbol block (Latin-1 punctuation, General
 * Punctuation, CJK punctuation, full-width ASCII punctuation, emoji and
 * pictographs).  Close to Ruby's [[:word:]] and [[:alpha:]] for the
 * scripts people write hashtags and names in.
 */

static unsigned
mstdn_text_decode(const unsigned char *p, const unsigned char *end,
    size_t *n)
{
    unsigned  c;

    c = p[0];

    if (c < 0x80 || p + 1 >= end) {
        *n = 1;
        return c;
    }

    if ((c & 0xe0) == 0xc0) {
        *n = 2;
        return ((c & 0x1f) << 6) | (p[1] & 0x3f);
    }

    if ((c & 0xf0) == 0xe0 && p + 2 < end) {
        *n = 3;
        return ((c & 0x0f) << 12) | ((p[1] & 0x3f) << 6) | (p[2] & 0x3f);
    }

    if ((c & 0xf8) == 0xf0 && p + 3 < end) {
        *n = 4;
        return ((c & 0x07) << 18) | ((p[1] & 0x3f) << 12)
               | ((p[2] & 0x3f) << 6) | (p[3] & 0x3f);
    }

    *n = 1;
    return 0xfffd;
}


static int
mstdn_text_is_alpha(unsigned c)
{
    if (c < 0x80) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    }

    if (c <= 0xbf || c == 0xd7 || c == 0xf7
        || (c >= 0x2000 && c <= 0x2bff)         /* punctuation, symbols */
        || (c >= 0x3000 && c <= 0x303f)         /* CJK punctuation */
        || (c >= 0xfe30 && c <= 0xfe4f)
        || (c >= 0xff00 && c <= 0xff0f) || (c >= 0xff1a && c <= 0xff20)
        || (c >= 0xff3b && c <= 0xff40) || (c >= 0xff5b && c <= 0xff65)
        || (c >= 0x1f000 && c <= 0x1faff)       /* emoji, pictographs */
        || c == 0xfffd || c == 0x30fb || c == 0x200c)
    {
        return 0;
    }

    return 1;
}


static int
mstdn_text_is_digit(unsigned c)
{
    return c >= '0' && c <= '9';
}


static int
mstdn_text_is_word(unsigned c)
{
    return mstdn_text_is_alpha(c) || mstdn_text_is_digit(c) || c == '_';
}


/* the code point ending just before p (p > start) */
static unsigned
mstdn_text_before(const unsigned char *start, const unsigned char *p)
{
    const unsigned char  *q;
    size_t                n;

    q = p - 1;

    while (q > start && (*q & 0xc0) == 0x80 && p - q < 4) {
        q--;
    }

    return mstdn_text_decode(q, p, &n);
}


/* Hashtag separators allowed inside a name: _ · ・ ZWNJ */
static int
mstdn_text_is_tag_separator(unsigned c)
{
    return c == '_' || c == 0xb7 || c == 0x30fb || c == 0x200c;
}


/*
 * Tag::HASHTAG_RE: '#' not after = / ) or a letter or digit, then a name,
 * by the first of two patterns that matches: W (W|S)* (A|S) (W|S)* W, or
 * W* A W*
 * (W a word character, A a letter, S a separator).  The first is the
 * run of word characters and separators up to its last word character,
 * when a letter or separator comes strictly between its first and last
 * characters; otherwise the second, the run of word characters alone,
 * when it has a letter.
 */
static size_t
mstdn_text_hashtag(const unsigned char *s, const unsigned char *p,
    const unsigned char *end, mstdn_entity_t *e)
{
    unsigned              c;
    size_t                n;
    int                   word, alpha;
    const unsigned char  *q, *last, *last_start, *inner, *words;

    if (p > s) {
        c = mstdn_text_before(s, p);
        if (c == '=' || c == '/' || c == ')'
            || mstdn_text_is_alpha(c) || mstdn_text_is_digit(c))
        {
            return 0;
        }
    }

    q = p + 1;

    if (q >= end || !mstdn_text_is_word(mstdn_text_decode(q, end, &n))) {
        return 0;
    }

    last = NULL;            /* after the run's last word character */
    last_start = NULL;      /* where that character starts */
    inner = NULL;           /* the first letter or separator after the 1st */
    words = NULL;           /* the end of the leading word characters */
    alpha = 0;              /* a letter among them */

    for ( /* void */ ; q < end; q += n) {
        c = mstdn_text_decode(q, end, &n);

        word = mstdn_text_is_word(c);

        if (!word && !mstdn_text_is_tag_separator(c)) {
            break;
        }

        if (inner == NULL && q > p + 1
            && (mstdn_text_is_alpha(c) || mstdn_text_is_tag_separator(c)))
        {
            inner = q;
        }

        if (word) {
            last = q + n;
            last_start = q;

            if (words == NULL) {
                alpha |= mstdn_text_is_alpha(c);
            }

        } else if (words == NULL) {
            words = q;
        }
    }

    if (words == NULL) {
        words = q;
    }

    if (inner == NULL || inner >= last_start) {
        /* not the first pattern: the second, word characters only */
        if (!alpha) {
            return 0;
        }
        last = words;
    }

    /* "#foohttps://x": the URL's scheme is not part of the tag */
    if (end - last >= 3 && memcmp(last, "://", 3) == 0) {
        if (last - (p + 1) > 5 && memcmp(last - 5, "https", 5) == 0) {
            last -= 5;
        } else if (last - (p + 1) > 4 && memcmp(last - 4, "http", 4) == 0) {
            last -= 4;
        }
    }

    e->type = MSTDN_ENTITY_HASHTAG;
    e->start = p - s;
    e->end = last - s;
    e->name = (const char *) p + 1;
    e->name_len = last - (p + 1);
    e->domain = NULL;
    e->domain_len = 0;

    return 1;
}


static int
mstdn_text_is_username_char(unsigned c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '_';
}


/* twitter-text's latin_accents */
static int
mstdn_text_is_latin_accent(unsigned c)
{
    return (c >= 0xc0 && c <= 0xd6) || (c >= 0xd8 && c <= 0xf6)
           || (c >= 0xf8 && c <= 0x24f)
           || c == 0x253 || c == 0x254 || c == 0x256 || c == 0x257
           || c == 0x259 || c == 0x25b || c == 0x263 || c == 0x268
           || c == 0x26f || c == 0x272 || c == 0x289 || c == 0x28b
           || c == 0x2bb || (c >= 0x300 && c <= 0x36f)
           || (c >= 0x1e00 && c <= 0x1eff);
}


static size_t
mstdn_text_mention(const unsigned char *s, const unsigned char *p,
    const unsigned char *end, mstdn_entity_t *e)
{
    unsigned              c;
    size_t                n, chars, dchars;
    const unsigned char  *q, *uend, *d, *dend;

    dchars = 0;

    /* '@' not after = / or a word character */
    if (p > s) {
        c = mstdn_text_before(s, p);
        if (c == '=' || c == '/' || mstdn_text_is_word(c)) {
            return 0;
        }
    }

    /* username: [a-z0-9_]+([.-]+[a-z0-9_]+)* */
    q = p + 1;
    uend = NULL;

    while (q < end) {
        if (mstdn_text_is_username_char(*q)) {
            q++;
            uend = q;
            continue;
        }

        if ((*q == '.' || *q == '-') && uend == q) {
            const unsigned char  *r = q;

            while (r < end && (*r == '.' || *r == '-')) {
                r++;
            }
            if (r < end && mstdn_text_is_username_char(*r)) {
                q = r;
                continue;
            }
        }

        break;
    }

    if (uend == NULL) {
        return 0;
    }

    d = NULL;
    dend = NULL;

    /*
     * @domain: [[:word:].-]+[[:word:]]+, so at least two characters ending
     * with a word character; the Extractor drops mentions whose domain is
     * longer than 253 characters
     */
    if (uend < end && *uend == '@') {
        chars = 0;

        for (q = uend + 1; q < end; q += n) {
            c = mstdn_text_decode(q, end, &n);
            if (c != '.' && c != '-' && !mstdn_text_is_word(c)) {
                break;
            }
            chars++;
            if (mstdn_text_is_word(c) && chars >= 2) {
                dend = q + n;
                dchars = chars;
            }
        }

        if (dend) {
            if (dchars > 253) {
                return 0;
            }
            d = uend + 1;
        }
    }

    q = dend ? dend : uend;

    /* not followed by @, a Latin accent or :// (twitter-text's rule) */
    if (q < end) {
        c = mstdn_text_decode(q, end, &n);

        if (c == '@' || c == 0xff20 || mstdn_text_is_latin_accent(c)
            || (end - q >= 3 && memcmp(q, "://", 3) == 0))
        {
            return 0;
        }
    }

    e->type = MSTDN_ENTITY_MENTION;
    e->start = p - s;
    e->end = q - s;
    e->name = (const char *) p + 1;
    e->name_len = uend - (p + 1);
    e->domain = (const char *) d;
    e->domain_len = d ? dend - d : 0;

    return 1;
}


static int
mstdn_text_is_url_char(unsigned c)
{
    if (c >= 0x80) {
        return mstdn_text_is_alpha(c) || c == 0xb7;
    }

    return c > 0x20 && c != '<' && c != '>' && c != '"' && c != '`'
           && c != '{' && c != '}' && c != '\\' && c != '^' && c != 0x7f;
}


/* Code points in valid UTF-8: the bytes that are not continuations. */
static size_t
mstdn_text_chars(const unsigned char *p, const unsigned char *end)
{
    size_t  n;

    for (n = 0; p < end; p++) {
        n += (*p & 0xc0) != 0x80;
    }

    return n;
}


/*
 * twitter-text's is_valid_domain(): the URL is at most MSTDN_URL_MAX_LENGTH
 * code points, its host counted as libidn's ToASCII spells it when that is
 * longer (idn-ruby is libidn), and ToASCII must accept the host.
 */
static int
mstdn_text_url_fits(const unsigned char *url, const unsigned char *host,
    const unsigned char *host_end, const unsigned char *url_end)
{
    int      rc;
    char    *name, *ascii;
    size_t   chars, host_chars, ascii_len;

    chars = mstdn_text_chars(url, url_end);
    if (chars > MSTDN_URL_MAX_LENGTH) {
        return 0;
    }

    name = malloc(host_end - host + 1);
    if (name == NULL) {
        return 0;
    }

    memcpy(name, host, host_end - host);
    name[host_end - host] = '\0';

    ascii = NULL;
    rc = idna_to_ascii_8z(name, &ascii, 0);
    free(name);

    if (rc != IDNA_SUCCESS) {
        free(ascii);
        return 0;
    }

    ascii_len = strlen(ascii);
    free(ascii);

    host_chars = mstdn_text_chars(host, host_end);
    if (ascii_len > host_chars) {
        chars += ascii_len - host_chars;
    }

    return chars <= MSTDN_URL_MAX_LENGTH;
}


/*
 * A URL at p.  One twitter-text finds but then drops (too long, a host
 * ToASCII refuses) is no URL, and as the regexp's scan resumes after it, no
 * URL starts inside it either: *skip is its end then.
 */
static size_t
mstdn_text_url(const unsigned char *s, const unsigned char *p,
    const unsigned char *end, mstdn_entity_t *e, const unsigned char **skip)
{
    unsigned              c;
    size_t                n, scheme;
    int                   dots, parens;
    const unsigned char  *q, *host, *host_end, *last;

    if (end - p > 8 && strncasecmp((char *) p, "https://", 8) == 0) {
        scheme = 8;
    } else if (end - p > 7 && strncasecmp((char *) p, "http://", 7) == 0) {
        scheme = 7;
    } else {
        return 0;
    }

    /* not glued to a word, an @, $ or # (twitter-text's preceding chars) */
    if (p > s) {
        c = mstdn_text_before(s, p);
        if (mstdn_text_is_alpha(c) || mstdn_text_is_digit(c)
            || c == '@' || c == '$' || c == '#')
        {
            return 0;
        }
    }

    /* the host: labels of letters, digits, - and _, with a dot */
    host = p + scheme;
    dots = 0;

    for (q = host; q < end; q += n) {
        c = mstdn_text_decode(q, end, &n);
        if (c == '.') {
            if (q == host || q[-1] == '.') {
                break;
            }
            dots++;
            continue;
        }
        if (!(mstdn_text_is_word(c) || c == '-')) {
            break;
        }
    }

    while (q > host && q[-1] == '.') {
        q--;
        dots--;
    }

    if (q == host || (dots == 0 && !(q - host == 9
                                     && strncasecmp((char *) host,
                                                    "localhost", 9) == 0)))
    {
        return 0;
    }

    host_end = q;

    /* :port, path, query, fragment */
    parens = 0;
    last = q;

    for ( /* void */ ; q < end; q += n) {
        c = mstdn_text_decode(q, end, &n);

        if (!mstdn_text_is_url_char(c)) {
            break;
        }

        if (c == '(') {
            parens++;
        } else if (c == ')') {
            if (parens == 0) {
                break;
            }
            parens--;
        }

        /* a URL does not end with punctuation that ends sentences */
        if (!(c == '.' || c == ',' || c == ':' || c == ';' || c == '!'
              || c == '?' || c == '\'' || c == '*' || c == '('))
        {
            last = q + n;
        }
    }

    if (!mstdn_text_url_fits(p, host, host_end, last)) {
        *skip = last;
        return 0;
    }

    e->type = MSTDN_ENTITY_URL;
    e->start = p - s;
    e->end = last - s;
    e->name = (const char *) p;
    e->name_len = last - p;
    e->domain = NULL;
    e->domain_len = 0;

    return 1;
}


/* Where a scan for entities is. */
typedef struct {
    const unsigned char  *pos;          /* where to look next */
    const unsigned char  *no_url;       /* no URL starts before this */
} mstdn_text_scan_t;

#define mstdn_text_scan_init(sc, s)  ((sc)->pos = (sc)->no_url = (s))


/* The next entity at or after sc->pos: 1 and sc past it, or 0 at the end. */
static int
mstdn_text_next(const unsigned char *s, mstdn_text_scan_t *sc,
    const unsigned char *end, mstdn_entity_t *e)
{
    const unsigned char  *p;

    for (p = sc->pos; p < end; p++) {

        if (((*p == 'h' || *p == 'H') && p >= sc->no_url
             && mstdn_text_url(s, p, end, e, &sc->no_url))
            || (*p == '#' && mstdn_text_hashtag(s, p, end, e))
            || (*p == '@' && mstdn_text_mention(s, p, end, e)))
        {
            sc->pos = s + e->end;   /* what an entity covers is not looked at */
            return 1;
        }
    }

    sc->pos = end;

    return 0;
}


size_t
mstdn_text_entities(const char *text, size_t len, mstdn_entity_t *entities,
    size_t max)
{
    size_t                count;
    mstdn_entity_t        e;
    mstdn_text_scan_t     sc;
    const unsigned char  *s, *end;

    s = (const unsigned char *) text;
    end = s + len;
    count = 0;

    for (mstdn_text_scan_init(&sc, s); mstdn_text_next(s, &sc, end, &e); count++) {
        if (count < max) {
            entities[count] = e;
        }
    }

    return count;
}


static int
mstdn_text_same(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && (alen == 0 || strncasecmp(a, b, alen) == 0);
}


size_t
mstdn_text_distinct(mstdn_entity_t *entities, size_t n)
{
    size_t           i, j, k;
    mstdn_entity_t  *e, *o;

    k = 0;

    for (i = 0; i < n; i++) {
        e = &entities[i];

        if (e->type == MSTDN_ENTITY_URL) {
            continue;
        }

        for (j = 0; j < k; j++) {
            o = &entities[j];

            if (o->type == e->type
                && mstdn_text_same(o->name, o->name_len, e->name, e->name_len)
                && (o->domain == NULL) == (e->domain == NULL)
                && mstdn_text_same(o->domain, o->domain_len, e->domain,
                                   e->domain_len))
            {
                break;
            }
        }

        if (j == k) {
            entities[k++] = *e;
        }
    }

    return k;
}


void
mstdn_text_strip(const char **text, size_t *len)
{
    const char  *s;
    size_t       n;

    s = *text;
    n = *len;

    /* Ruby's String#strip: NUL, \t, \n, \v, \f, \r and space */
    while (n && (s[0] == ' ' || (s[0] >= '\t' && s[0] <= '\r')
                 || s[0] == '\0'))
    {
        s++;
        n--;
    }

    while (n && (s[n - 1] == ' ' || (s[n - 1] >= '\t' && s[n - 1] <= '\r')
                 || s[n - 1] == '\0'))
    {
        n--;
    }

    *text = s;
    *len = n;
}


/*
 * StatusLengthValidator: the spoiler text joined with the text in which
 * every URL is 23 characters (URL_PLACEHOLDER) and every mention is
 * @username (its domain dropped), in grapheme clusters.  URLs and mentions
 * are the entities the formatter links, found by the same scan.  Two
 * passes over the entities: the size of the joined string, then the string.
 */
size_t
mstdn_status_length(const char *spoiler, size_t slen, const char *text,
    size_t len)
{
    int                   pass;
    char                 *joined, *o;
    size_t                size, count;
    mstdn_entity_t        e;
    mstdn_text_scan_t     sc;
    const unsigned char  *s, *pos, *end;

    s = (const unsigned char *) text;
    end = s + len;
    joined = NULL;
    size = 0;

    for (pass = 0; pass < 2; pass++) {
        o = joined;
        size = slen;
        if (o) {
            memcpy(o, spoiler, slen);
            o += slen;
        }

        pos = s;

        for (mstdn_text_scan_init(&sc, s); mstdn_text_next(s, &sc, end, &e); /* void */) {

            if (e.type == MSTDN_ENTITY_HASHTAG
                || (e.type == MSTDN_ENTITY_MENTION && e.domain == NULL))
            {
                continue;       /* counted as written */
            }

            size += (s + e.start) - pos;
            if (o) {
                memcpy(o, pos, (s + e.start) - pos);
                o += (s + e.start) - pos;
            }

            if (e.type == MSTDN_ENTITY_URL) {
                size += MSTDN_STATUS_URL_LENGTH;
                if (o) {
                    memset(o, 'x', MSTDN_STATUS_URL_LENGTH);
                    o += MSTDN_STATUS_URL_LENGTH;
                }

            } else {
                size += 1 + e.name_len;
                if (o) {
                    *o++ = '@';
                    memcpy(o, e.name, e.name_len);
                    o += e.name_len;
                }
            }

            pos = s + e.end;
        }

        size += end - pos;
        if (o) {
            memcpy(o, pos, end - pos);
            break;
        }

        if (size == 0) {
            return 0;
        }

        joined = malloc(size);
        if (joined == NULL) {
            return MSTDN_GRAPHEME_ERROR;
        }
    }

    count = mstdn_grapheme_count(joined, size);

    free(joined);

    return count;
}


/* A growing output buffer from an arena-style allocator. */
typedef struct {
    const mstdn_alloc_t  *a;
    char                 *data;
    size_t                len;
    size_t                size;
    int                   failed;
} mstdn_text_buf_t;


static char *
mstdn_text_reserve(mstdn_text_buf_t *b, size_t n)
{
    char    *p;
    size_t   size;

    if (b->failed) {
        return NULL;
    }

    if (b->len + n + 1 > b->size) {
        size = 2 * b->size > b->len + n + 1 ? 2 * b->size : b->len + n + 1;
        p = b->a->alloc(b->a->ctx, size);
        if (p == NULL) {
            b->failed = 1;
            return NULL;
        }
        if (b->len) {
            memcpy(p, b->data, b->len);
        }
        b->data = p;
        b->size = size;
    }

    return b->data + b->len;
}


static void
mstdn_text_put(mstdn_text_buf_t *b, const char *s, size_t n)
{
    char  *p;

    p = mstdn_text_reserve(b, n);
    if (p) {
        memcpy(p, s, n);
        b->len += n;
    }
}


#define mstdn_text_puts(b, s)  mstdn_text_put(b, s, sizeof(s) - 1)


static void
mstdn_text_escape(mstdn_text_buf_t *b, const char *s, size_t n)
{
    char  *p;

    p = mstdn_text_reserve(b, MSTDN_HTML_ESCAPE_MAX(n));
    if (p) {
        b->len += mstdn_html_escape(p, s, n);
    }
}


/*
 * Escaped text between entities.  With multiline, Rails' simple_format:
 * "\n\n+" separates paragraphs, a single "\n" between two characters is
 * <br />, other new lines vanish.
 */
static void
mstdn_text_plain(mstdn_text_buf_t *b, const char *s, size_t n, int multiline,
    int *para_open)
{
    size_t       i, run, start;

    if (!multiline) {
        mstdn_text_escape(b, s, n);
        return;
    }

    start = 0;

    for (i = 0; i < n; /* void */) {
        if (s[i] != '\n' && s[i] != '\r') {
            if (!*para_open) {
                mstdn_text_puts(b, "<p>");
                *para_open = 1;
            }
            i++;
            continue;
        }

        mstdn_text_escape(b, s + start, i - start);

        /* a run of new lines (\r\n counts as one) */
        run = 0;
        while (i < n && (s[i] == '\n' || s[i] == '\r')) {
            if (s[i] == '\n' || i + 1 == n || s[i + 1] != '\n') {
                run++;
            }
            i++;
        }

        start = i;

        if (!*para_open) {
            continue;
        }

        if (run >= 2) {
            mstdn_text_puts(b, "</p>");
            *para_open = 0;
        } else {
            mstdn_text_puts(b, "<br />");
        }
    }

    mstdn_text_escape(b, s + start, n - start);
}


/*
 * TextFormatter.shortened_link: "https://", "http://" (and "www.") in an
 * invisible span, the next 30 characters shown, with class "ellipsis" when
 * more follow, the rest invisible; a rest of one character is shown
 * instead.
 */
static void
mstdn_text_link(mstdn_text_buf_t *b, const char *url, size_t len, int rel_me)
{
    size_t  prefix, k, chars, rest;

    prefix = 0;

    if (len >= 8 && memcmp(url, "https://", 8) == 0) {
        prefix = 8;
    } else if (len >= 7 && memcmp(url, "http://", 7) == 0) {
        prefix = 7;
    }

    if (prefix && len >= prefix + 4 && memcmp(url + prefix, "www.", 4) == 0) {
        prefix += 4;
    }

    /* 30 characters, not bytes */
    for (k = prefix, chars = 0; k < len && chars < 30; k++) {
        if ((url[k] & 0xc0) != 0x80) {
            chars++;
        }
    }

    while (k < len && (url[k] & 0xc0) == 0x80) {
        k++;
    }

    /* the characters left */
    for (rest = 0, chars = k; chars < len; chars++) {
        if ((url[chars] & 0xc0) != 0x80) {
            rest++;
        }
    }

    if (rest == 1) {
        k = len;
        rest = 0;
    }

    mstdn_text_puts(b, "<a href=\"");
    mstdn_text_escape(b, url, len);
    mstdn_text_puts(b, "\" target=\"_blank\" rel=\"nofollow noopener");
    if (rel_me) {
        mstdn_text_puts(b, " me");
    }
    mstdn_text_puts(b, "\" translate=\"no\"><span class=\"invisible\">");
    mstdn_text_escape(b, url, prefix);
    mstdn_text_puts(b, "</span><span class=\"");
    if (rest) {
        mstdn_text_puts(b, "ellipsis");
    }
    mstdn_text_puts(b, "\">");
    mstdn_text_escape(b, url + prefix, k - prefix);
    mstdn_text_puts(b, "</span><span class=\"invisible\">");
    mstdn_text_escape(b, url + k, len - k);
    mstdn_text_puts(b, "</span></a>");
}


/*
 * tag_url(name): Rails escapes a path segment, so the bytes of non-ASCII
 * letters are %XX (a name has only word characters and separators).
 */
static void
mstdn_text_tag_href(mstdn_text_buf_t *b, const char *name, size_t len)
{
    char  *p;

    p = mstdn_text_reserve(b, MSTDN_URL_ESCAPE_MAX(len));
    if (p == NULL) {
        return;
    }

    b->len = p + mstdn_url_escape(p, name, len, 0) - b->data;
}


int
mstdn_text_format(const char *text, size_t len,
    const mstdn_text_options_t *opt, const mstdn_alloc_t *a, char **out,
    size_t *out_len)
{
    size_t                pos, url_len, disp_len;
    int                   para_open;
    const char           *url, *disp, *domain;
    mstdn_entity_t        e;
    mstdn_text_buf_t      b;
    mstdn_text_scan_t     sc;
    const unsigned char  *s, *end;

    memset(&b, 0, sizeof(b));
    b.a = a;

    /* surrounding white space, as Mastodon strips a status' text */
    mstdn_text_strip(&text, &len);

    s = (const unsigned char *) text;
    end = s + len;
    pos = 0;
    para_open = 0;

    if (mstdn_text_reserve(&b, len * 2 + 64) == NULL) {
        return -1;
    }

    for (mstdn_text_scan_init(&sc, s); mstdn_text_next(s, &sc, end, &e); /* void */) {

        mstdn_text_plain(&b, text + pos, e.start - pos, opt->multiline,
                         &para_open);

        if (opt->multiline && !para_open) {
            mstdn_text_puts(&b, "<p>");
            para_open = 1;
        }

        pos = e.end;

        switch (e.type) {

        case MSTDN_ENTITY_URL:
            mstdn_text_link(&b, e.name, e.name_len, opt->rel_me);
            break;

        case MSTDN_ENTITY_HASHTAG:
            mstdn_text_puts(&b, "<a href=\"");
            mstdn_text_escape(&b, opt->base_url, opt->base_url_len);
            mstdn_text_puts(&b, "/tags/");
            mstdn_text_tag_href(&b, e.name, e.name_len);
            mstdn_text_puts(&b, "\" class=\"mention hashtag\" rel=\"tag\">"
                                "#<span>");
            mstdn_text_escape(&b, e.name, e.name_len);
            mstdn_text_puts(&b, "</span></a>");
            break;

        case MSTDN_ENTITY_MENTION:
            domain = e.domain;

            /* @user@our.domain is a local mention */
            if (domain && e.domain_len == opt->local_domain_len
                && strncasecmp(domain, opt->local_domain, e.domain_len) == 0)
            {
                domain = NULL;
            }

            if (opt->mention == NULL
                || !opt->mention(opt->ctx, e.name, e.name_len, domain,
                                 domain ? e.domain_len : 0, &url, &url_len,
                                 &disp, &disp_len))
            {
                mstdn_text_escape(&b, text + e.start, e.end - e.start);
                break;
            }

            mstdn_text_puts(&b, "<span class=\"h-card\" translate=\"no\">"
                                "<a href=\"");
            mstdn_text_escape(&b, url, url_len);
            mstdn_text_puts(&b, "\" class=\"u-url mention\">@<span>");
            mstdn_text_escape(&b, disp, disp_len);
            mstdn_text_puts(&b, "</span></a></span>");
            break;
        }
    }

    mstdn_text_plain(&b, text + pos, len - pos, opt->multiline, &para_open);

    if (para_open) {
        mstdn_text_puts(&b, "</p>");
    }

    if (mstdn_text_reserve(&b, 1) == NULL) {
        return -1;
    }

    b.data[b.len] = '\0';
    *out = b.data;
    *out_len = b.len;

    return 0;
}
