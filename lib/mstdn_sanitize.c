/*
 * Remote HTML to Mastodon's allowlist (see mstdn_sanitize.h): an HTML5-like
 * tokenizer feeding a stack of open elements, each token written out at
 * once, escaped as HTML5 serializes.  No tree is built: what Sanitize's
 * transformers decide looks only at the element itself (its name and its
 * attributes), so a stream suffices.
 */

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mstdn_sanitize.h"
#include "mstdn_utf8.h"


enum {
    E_UNKNOWN = 0,
    /* kept */
    E_P, E_BR, E_SPAN, E_A, E_DEL, E_S, E_PRE, E_BLOCKQUOTE, E_CODE, E_B,
    E_STRONG, E_U, E_I, E_EM, E_UL, E_OL, E_LI, E_RUBY, E_RT, E_RP,
    E_HEADING,          /* h1-h6: written <p><strong> ... </strong></p>, */
    E_HEADP,            /* on the stack as this <p> under that <strong> */
    /* removed, a space before and after (Sanitize's whitespace elements) */
    E_SPACED,
    /* removed with their content, raw text to their end tag */
    E_RAWTEXT,
    /* removed, their content is text (RCDATA) */
    E_RCDATA,
    /* removed with everything that follows */
    E_PLAINTEXT,
    /* removed with their content, nested markup (foreign content) */
    E_FOREIGN,
    /* void elements that are removed (no content, no end tag) */
    E_VOID
};

#define F_CLOSES_P  0x01    /* a start tag closing an open <p> */
#define F_SPACED    0x02    /* a whitespace element */


typedef struct {
    const char     *name;
    unsigned char   id;
    unsigned char   flags;
} mstdn_san_elt_t;

static const mstdn_san_elt_t  mstdn_san_elts[] = {
    { "a", E_A, 0 },
    { "address", E_SPACED, F_CLOSES_P | F_SPACED },
    { "area", E_VOID, 0 },
    { "article", E_SPACED, F_CLOSES_P | F_SPACED },
    { "aside", E_SPACED, F_CLOSES_P | F_SPACED },
    { "b", E_B, 0 },
    { "base", E_VOID, 0 },
    { "blockquote", E_BLOCKQUOTE, F_CLOSES_P },
    { "br", E_BR, 0 },
    { "center", E_UNKNOWN, F_CLOSES_P },
    { "code", E_CODE, 0 },
    { "col", E_VOID, 0 },
    { "dd", E_SPACED, F_SPACED },
    { "del", E_DEL, 0 },
    { "details", E_UNKNOWN, F_CLOSES_P },
    { "dialog", E_UNKNOWN, F_CLOSES_P },
    { "dir", E_UNKNOWN, F_CLOSES_P },
    { "div", E_SPACED, F_CLOSES_P | F_SPACED },
    { "dl", E_SPACED, F_CLOSES_P | F_SPACED },
    { "dt", E_SPACED, F_SPACED },
    { "em", E_EM, 0 },
    { "embed", E_VOID, 0 },
    { "fieldset", E_UNKNOWN, F_CLOSES_P },
    { "figcaption", E_UNKNOWN, F_CLOSES_P },
    { "figure", E_UNKNOWN, F_CLOSES_P },
    { "footer", E_SPACED, F_CLOSES_P | F_SPACED },
    { "form", E_UNKNOWN, F_CLOSES_P },
    { "h1", E_HEADING, F_CLOSES_P },
    { "h2", E_HEADING, F_CLOSES_P },
    { "h3", E_HEADING, F_CLOSES_P },
    { "h4", E_HEADING, F_CLOSES_P },
    { "h5", E_HEADING, F_CLOSES_P },
    { "h6", E_HEADING, F_CLOSES_P },
    { "header", E_SPACED, F_CLOSES_P | F_SPACED },
    { "hgroup", E_SPACED, F_CLOSES_P | F_SPACED },
    { "hr", E_VOID, F_CLOSES_P | F_SPACED },
    { "i", E_I, 0 },
    { "iframe", E_RAWTEXT, 0 },
    { "img", E_VOID, 0 },
    { "input", E_VOID, 0 },
    { "li", E_LI, 0 },
    { "link", E_VOID, 0 },
    { "listing", E_UNKNOWN, F_CLOSES_P },
    { "main", E_UNKNOWN, F_CLOSES_P },
    { "math", E_FOREIGN, 0 },
    { "menu", E_UNKNOWN, F_CLOSES_P },
    { "meta", E_VOID, 0 },
    { "nav", E_SPACED, F_CLOSES_P | F_SPACED },
    { "noembed", E_RAWTEXT, 0 },
    { "noframes", E_RAWTEXT, 0 },
    { "noscript", E_RAWTEXT, 0 },
    { "ol", E_OL, F_CLOSES_P },
    { "p", E_P, F_CLOSES_P },
    { "param", E_VOID, 0 },
    { "plaintext", E_PLAINTEXT, F_CLOSES_P },
    { "pre", E_PRE, F_CLOSES_P },
    { "rp", E_RP, 0 },
    { "rt", E_RT, 0 },
    { "ruby", E_RUBY, 0 },
    { "s", E_S, 0 },
    { "script", E_RAWTEXT, 0 },
    { "section", E_SPACED, F_CLOSES_P | F_SPACED },
    { "source", E_VOID, 0 },
    { "span", E_SPAN, 0 },
    { "strong", E_STRONG, 0 },
    { "style", E_RAWTEXT, 0 },
    { "summary", E_UNKNOWN, F_CLOSES_P },
    { "svg", E_FOREIGN, 0 },
    { "table", E_UNKNOWN, F_CLOSES_P },
    { "textarea", E_RCDATA, 0 },
    { "title", E_RCDATA, 0 },
    { "track", E_VOID, 0 },
    { "u", E_U, 0 },
    { "ul", E_UL, F_CLOSES_P },
    { "wbr", E_VOID, 0 },
    { "xmp", E_RAWTEXT, F_CLOSES_P },
};

static const char  *mstdn_san_names[] = {
    "", "p", "br", "span", "a", "del", "s", "pre", "blockquote", "code",
    "b", "strong", "u", "i", "em", "ul", "ol", "li", "ruby", "rt", "rp",
    "strong", "p"
};


/* the attributes any kept element may carry */
enum {
    A_OTHER = 0, A_HREF, A_REL, A_CLASS, A_TRANSLATE, A_START, A_REVERSED,
    A_VALUE
};

static const char  *mstdn_san_attr_names[] = {
    "", "href", "rel", "class", "translate", "start", "reversed", "value"
};

#define MSTDN_SAN_ATTRS  8

typedef struct {
    int          id;
    const char  *value;         /* decoded, in the scratch buffer */
    size_t       len;
} mstdn_san_attr_t;

typedef struct {
    int               id;       /* mstdn_san_elts' id, E_UNKNOWN */
    unsigned          flags;
    size_t            name_len;
    char              name[16];
    int               end;
    int               self_closing;
    mstdn_san_attr_t  attrs[MSTDN_SAN_ATTRS];
    int               nattrs;
} mstdn_san_tag_t;

typedef struct {
    const char     *p;
    const char     *end;

    char           *out;
    size_t          len;
    size_t          cap;
    size_t          max;
    int             rc;

    char           *scratch;    /* decoded attribute values of one tag */
    size_t          scratch_len;

    unsigned char   stack[MSTDN_SANITIZE_MAX_DEPTH];
    int             depth;

    int             text_only;  /* in an <a> that is no link: its text */
    const char     *foreign;    /* in <svg> or <math>: dropped */
    int             foreign_depth;
} mstdn_san_t;


static void
mstdn_san_put(mstdn_san_t *s, const char *b, size_t n)
{
    size_t   cap;
    char    *o;

    if (s->rc != MSTDN_SANITIZE_OK) {
        return;
    }

    if (n > s->max - s->len) {
        s->rc = MSTDN_SANITIZE_ETOOBIG;
        return;
    }

    if (s->len + n + 1 > s->cap) {
        cap = s->cap * 2;
        if (cap < s->len + n + 1) {
            cap = s->len + n + 1;
        }
        if (cap > s->max + 1) {
            cap = s->max + 1;
        }

        o = realloc(s->out, cap);
        if (o == NULL) {
            s->rc = MSTDN_SANITIZE_ENOMEM;
            return;
        }
        s->out = o;
        s->cap = cap;
    }

    memcpy(s->out + s->len, b, n);
    s->len += n;
}


static void
mstdn_san_puts(mstdn_san_t *s, const char *str)
{
    mstdn_san_put(s, str, strlen(str));
}


/* Text (attr == 0) or an attribute value, escaped as HTML5 serializes. */
static void
mstdn_san_escape(mstdn_san_t *s, const char *b, size_t n, int attr)
{
    size_t       i, from;
    const char  *rep;

    from = 0;

    for (i = 0; i < n; i++) {
        switch (b[i]) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = attr ? "&quot;" : NULL;
            break;
        case '\r':
            /* only a reference makes one (the input's are LF): kept so */
            rep = "&#13;";
            break;
        case '\xc2':
            rep = (i + 1 < n && b[i + 1] == '\xa0') ? "&nbsp;" : NULL;
            break;
        default:
            rep = NULL;
        }

        if (rep == NULL) {
            continue;
        }

        mstdn_san_put(s, b + from, i - from);
        mstdn_san_puts(s, rep);
        from = i + 1;

        if (b[i] == '\xc2') {
            i++;
            from++;
        }
    }

    mstdn_san_put(s, b + from, n - from);
}


static int
mstdn_san_visible(mstdn_san_t *s)
{
    return s->foreign == NULL;
}


static void
mstdn_san_text(mstdn_san_t *s, const char *b, size_t n)
{
    if (mstdn_san_visible(s)) {
        mstdn_san_escape(s, b, n, 0);
    }
}


/* --- character references ------------------------------------------------ */

static const struct {
    const char  *name;
    const char  *utf8;
} mstdn_san_entities[] = {
    { "amp", "&" }, { "lt", "<" }, { "gt", ">" }, { "quot", "\"" },
    { "apos", "'" }, { "nbsp", "\xc2\xa0" }, { "shy", "\xc2\xad" },
    { "copy", "\xc2\xa9" }, { "reg", "\xc2\xae" }, { "deg", "\xc2\xb0" },
    { "middot", "\xc2\xb7" }, { "laquo", "\xc2\xab" },
    { "raquo", "\xc2\xbb" }, { "times", "\xc3\x97" },
    { "ndash", "\xe2\x80\x93" }, { "mdash", "\xe2\x80\x94" },
    { "lsquo", "\xe2\x80\x98" }, { "rsquo", "\xe2\x80\x99" },
    { "ldquo", "\xe2\x80\x9c" }, { "rdquo", "\xe2\x80\x9d" },
    { "bull", "\xe2\x80\xa2" }, { "hellip", "\xe2\x80\xa6" },
    { "trade", "\xe2\x84\xa2" }, { "euro", "\xe2\x82\xac" },
    { "zwj", "\xe2\x80\x8d" }, { "zwnj", "\xe2\x80\x8c" },
};

/* HTML5's replacements of references to C1 controls (windows-1252) */
static const unsigned short  mstdn_san_c1[32] = {
    0x20ac, 0x81, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
    0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8d, 0x017d, 0x8f,
    0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
    0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x9d, 0x017e, 0x0178
};


static size_t
mstdn_san_utf8(unsigned long cp, char *o)
{
    if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        cp = 0xfffd;
    }

    if (cp >= 0x80 && cp <= 0x9f) {
        cp = mstdn_san_c1[cp - 0x80];
    }

    if (cp < 0x80) {
        o[0] = (char) cp;
        return 1;
    }

    if (cp < 0x800) {
        o[0] = (char) (0xc0 | (cp >> 6));
        o[1] = (char) (0x80 | (cp & 0x3f));
        return 2;
    }

    if (cp < 0x10000) {
        o[0] = (char) (0xe0 | (cp >> 12));
        o[1] = (char) (0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char) (0x80 | (cp & 0x3f));
        return 3;
    }

    o[0] = (char) (0xf0 | (cp >> 18));
    o[1] = (char) (0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char) (0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char) (0x80 | (cp & 0x3f));
    return 4;
}


/*
 * A character reference at p ('&') before end: its UTF-8 in o (4 bytes of
 * room), returns the bytes it spans, or 0 when it is none (the '&' is
 * text).  Named references need their ';' here (a small table of HTML5's).
 */
static size_t
mstdn_san_charref(const char *p, const char *end, char *o, size_t *olen)
{
    int            hex, digits;
    size_t         i, n;
    const char    *q;
    unsigned long  cp;

    q = p + 1;

    if (q < end && *q == '#') {
        q++;
        hex = 0;
        if (q < end && (*q == 'x' || *q == 'X')) {
            hex = 1;
            q++;
        }

        cp = 0;
        digits = 0;

        for ( /* void */ ; q < end; q++) {
            int  d;

            if (*q >= '0' && *q <= '9') {
                d = *q - '0';
            } else if (hex && *q >= 'a' && *q <= 'f') {
                d = *q - 'a' + 10;
            } else if (hex && *q >= 'A' && *q <= 'F') {
                d = *q - 'A' + 10;
            } else {
                break;
            }

            digits++;
            cp = cp * (hex ? 16 : 10) + d;
            if (cp > 0x10ffff) {
                cp = 0x110000;
            }
        }

        if (digits == 0) {
            return 0;
        }

        if (q < end && *q == ';') {
            q++;
        }

        *olen = mstdn_san_utf8(cp, o);
        return q - p;
    }

    for (i = 0; i < sizeof(mstdn_san_entities)
                    / sizeof(mstdn_san_entities[0]); i++)
    {
        n = strlen(mstdn_san_entities[i].name);

        if ((size_t) (end - q) > n && q[n] == ';'
            && memcmp(q, mstdn_san_entities[i].name, n) == 0)
        {
            *olen = strlen(mstdn_san_entities[i].utf8);
            memcpy(o, mstdn_san_entities[i].utf8, *olen);
            return n + 2;
        }
    }

    return 0;
}


size_t
mstdn_charref(const char *p, const char *end, char *o, size_t *olen)
{
    return mstdn_san_charref(p, end, o, olen);
}


/* --- the stack of open elements -------------------------------------------- */

static void
mstdn_san_close_top(mstdn_san_t *s)
{
    int  id;

    id = s->stack[--s->depth];

    if (id == E_SPACED) {
        mstdn_san_puts(s, " ");

    } else {
        mstdn_san_puts(s, "</");
        mstdn_san_puts(s, mstdn_san_names[id]);
        mstdn_san_puts(s, ">");
    }
}


/* The index of the topmost open id, -1 if none (or above a list for li). */
static int
mstdn_san_find(mstdn_san_t *s, int id)
{
    int  i;

    for (i = s->depth - 1; i >= 0; i--) {
        if (s->stack[i] == id) {
            return i;
        }

        /* a heading is written as a paragraph: closed like one */
        if (id == E_P && s->stack[i] == E_HEADP) {
            return i;
        }
        if (id == E_LI && (s->stack[i] == E_UL || s->stack[i] == E_OL)) {
            return -1;
        }
    }

    return -1;
}


static void
mstdn_san_close_to(mstdn_san_t *s, int i)
{
    while (s->depth > i) {
        mstdn_san_close_top(s);
    }
}


/* --- tags ------------------------------------------------------------------ */

static int
mstdn_san_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}


static int
mstdn_san_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}


static char
mstdn_san_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}


static const mstdn_san_elt_t *
mstdn_san_lookup(const char *name, size_t len)
{
    int     c;
    size_t  lo, hi, mid, n;

    lo = 0;
    hi = sizeof(mstdn_san_elts) / sizeof(mstdn_san_elts[0]);

    while (lo < hi) {
        mid = (lo + hi) / 2;
        n = strlen(mstdn_san_elts[mid].name);
        c = memcmp(mstdn_san_elts[mid].name, name, n < len ? n : len);
        if (c == 0) {
            c = (n > len) - (n < len);
        }
        if (c == 0) {
            return &mstdn_san_elts[mid];
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }

    return NULL;
}


/* An attribute value decoded into the scratch buffer (CR LF as LF). */
static void
mstdn_san_decode(mstdn_san_t *s, const char *v, size_t n,
    const char **val, size_t *vlen)
{
    char         buf[4];
    char        *o;
    size_t       m, k;
    const char  *end;

    o = s->scratch + s->scratch_len;
    *val = o;
    end = v + n;

    while (v < end) {
        if (*v == '&') {
            k = mstdn_san_charref(v, end, buf, &m);
            if (k > 0) {
                memcpy(o, buf, m);
                o += m;
                v += k;
                continue;
            }

        } else if (*v == '\r') {
            *o++ = '\n';
            v++;
            if (v < end && *v == '\n') {
                v++;
            }
            continue;

        } else if (*v == '\0') {
            v++;
            continue;
        }

        *o++ = *v++;
    }

    *vlen = o - *val;
    s->scratch_len += *vlen;
}


/*
 * A tag from s->p (just after '<' or '</'): name, attributes, up to '>'.
 * Returns 0 at end of input without '>' (the tag is dropped, as HTML5 does).
 */
static int
mstdn_san_tag(mstdn_san_t *s, mstdn_san_tag_t *t)
{
    int                     id, i, dup;
    char                    q;
    size_t                  n, vn;
    const char             *p, *end, *an, *v;
    const mstdn_san_elt_t  *e;

    p = s->p;
    end = s->end;

    n = 0;
    while (p < end && !mstdn_san_space(*p) && *p != '/' && *p != '>') {
        if (n < sizeof(t->name)) {
            t->name[n] = mstdn_san_lower(*p);
        }
        n++;
        p++;
    }

    t->name_len = n;
    t->id = E_UNKNOWN;
    t->flags = 0;
    t->self_closing = 0;
    t->nattrs = 0;
    s->scratch_len = 0;

    if (n < sizeof(t->name)) {
        e = mstdn_san_lookup(t->name, n);
        if (e != NULL) {
            t->id = e->id;
            t->flags = e->flags;
        }
    } else {
        t->name_len = 0;
    }

    for ( ;; ) {
        while (p < end && (mstdn_san_space(*p) || *p == '/')) {
            t->self_closing = (*p == '/');
            p++;
        }

        if (p >= end) {
            s->p = end;
            return 0;
        }

        if (*p == '>') {
            s->p = p + 1;
            return 1;
        }

        t->self_closing = 0;

        /* an attribute name: its first character may be '=' */
        an = p++;
        while (p < end && !mstdn_san_space(*p) && *p != '/' && *p != '>'
               && *p != '=')
        {
            p++;
        }
        n = p - an;

        while (p < end && mstdn_san_space(*p)) {
            p++;
        }

        v = NULL;
        vn = 0;

        if (p < end && *p == '=') {
            p++;
            while (p < end && mstdn_san_space(*p)) {
                p++;
            }

            if (p < end && (*p == '"' || *p == '\'')) {
                q = *p++;
                v = p;
                while (p < end && *p != q) {
                    p++;
                }
                if (p >= end) {
                    s->p = end;
                    return 0;
                }
                vn = p - v;
                p++;

            } else {
                v = p;
                while (p < end && !mstdn_san_space(*p) && *p != '>') {
                    p++;
                }
                vn = p - v;
            }
        }

        id = A_OTHER;
        for (i = 1; i < (int) (sizeof(mstdn_san_attr_names)
                               / sizeof(mstdn_san_attr_names[0])); i++)
        {
            if (strlen(mstdn_san_attr_names[i]) == n
                && strncasecmp(mstdn_san_attr_names[i], an, n) == 0)
            {
                id = i;
                break;
            }
        }

        if (id == A_OTHER || t->end || t->nattrs == MSTDN_SAN_ATTRS) {
            continue;
        }

        /* a duplicate attribute: the first one counts */
        dup = 0;
        for (i = 0; i < t->nattrs; i++) {
            if (t->attrs[i].id == id) {
                dup = 1;
            }
        }
        if (dup) {
            continue;
        }

        t->attrs[t->nattrs].id = id;
        mstdn_san_decode(s, v ? v : "", vn, &t->attrs[t->nattrs].value,
                         &t->attrs[t->nattrs].len);
        t->nattrs++;
    }
}


static const char  *mstdn_san_link_protocols[] = {
    "http", "https", "dat", "dweb", "ipfs", "ipns", "ssb", "gopher",
    "xmpp", "magnet", "gemini"
};


/*
 * UNSUPPORTED_HREF_TRANSFORMER: Addressable::URI.parse(href).normalized_scheme
 * in LINK_PROTOCOLS.  The scheme is what precedes the first ':' when no '/',
 * '?' or '#' comes first, and it must read [A-Za-z][A-Za-z0-9+.-]* (else
 * Addressable raises: no link, so " https://..." is none either).
 */
static int
mstdn_san_link(const char *v, size_t n)
{
    size_t  j, k;
    char    c;

    for (j = 0; j < n && v[j] != ':'; j++) {
        c = v[j];
        if (!(mstdn_san_alpha(c) || (j > 0 && ((c >= '0' && c <= '9')
                                               || c == '+' || c == '.'
                                               || c == '-'))))
        {
            return 0;
        }
    }

    if (j == n || j == 0) {
        return 0;
    }

    for (k = 0; k < sizeof(mstdn_san_link_protocols)
                    / sizeof(mstdn_san_link_protocols[0]); k++)
    {
        if (strlen(mstdn_san_link_protocols[k]) == j
            && strncasecmp(mstdn_san_link_protocols[k], v, j) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* CLASS_WHITELIST_TRANSFORMER: the classes Mastodon keeps, space-joined. */
static int
mstdn_san_class_ok(const char *c, size_t n)
{
    static const char  *prefixes[] = { "h-", "p-", "u-", "dt-", "e-" };
    static const char  *names[] = {
        "mention", "hashtag", "ellipsis", "invisible", "quote-inline"
    };
    size_t              i, l;

    for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        l = strlen(prefixes[i]);
        if (n >= l && memcmp(c, prefixes[i], l) == 0) {
            return 1;
        }
    }

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strlen(names[i]) == n && memcmp(c, names[i], n) == 0) {
            return 1;
        }
    }

    return 0;
}


static void
mstdn_san_class(mstdn_san_t *s, const char *v, size_t n)
{
    int     first;
    size_t  i, j;

    first = 1;
    i = 0;

    while (i <= n) {
        j = i;
        while (j < n && !mstdn_san_space(v[j])) {
            j++;
        }

        if (j > i && mstdn_san_class_ok(v + i, j - i)) {
            if (!first) {
                mstdn_san_puts(s, " ");
            }
            mstdn_san_escape(s, v + i, j - i, 1);
            first = 0;
        }

        i = j + 1;
    }
}


static int
mstdn_san_attr_allowed(int elt, int attr)
{
    switch (elt) {
    case E_A:
        return attr == A_HREF || attr == A_REL || attr == A_CLASS
               || attr == A_TRANSLATE;
    case E_SPAN:
        return attr == A_CLASS || attr == A_TRANSLATE;
    case E_P:
        return attr == A_CLASS;
    case E_OL:
        return attr == A_START || attr == A_REVERSED;
    case E_LI:
        return attr == A_VALUE;
    }

    return 0;
}


static void
mstdn_san_open(mstdn_san_t *s, mstdn_san_tag_t *t)
{
    int                i, rel;
    mstdn_san_attr_t  *a;

    if (t->id == E_HEADING) {
        mstdn_san_puts(s, "<p><strong>");
        s->stack[s->depth++] = E_HEADP;
        s->stack[s->depth++] = E_HEADING;
        return;
    }

    mstdn_san_puts(s, "<");
    mstdn_san_puts(s, mstdn_san_names[t->id]);

    rel = 0;

    for (i = 0; i < t->nattrs; i++) {
        a = &t->attrs[i];

        if (!mstdn_san_attr_allowed(t->id, a->id)) {
            continue;
        }

        /* TRANSLATE_TRANSFORMER */
        if (a->id == A_TRANSLATE
            && !(a->len == 2 && memcmp(a->value, "no", 2) == 0))
        {
            continue;
        }

        mstdn_san_puts(s, " ");
        mstdn_san_puts(s, mstdn_san_attr_names[a->id]);
        mstdn_san_puts(s, "=\"");

        if (a->id == A_CLASS) {
            mstdn_san_class(s, a->value, a->len);

        } else if (a->id == A_REL) {
            mstdn_san_puts(s, "nofollow noopener");
            rel = 1;

        } else {
            mstdn_san_escape(s, a->value, a->len, 1);
        }

        mstdn_san_puts(s, "\"");
    }

    if (t->id == E_A) {
        if (!rel) {
            mstdn_san_puts(s, " rel=\"nofollow noopener\"");
        }
        mstdn_san_puts(s, " target=\"_blank\"");
    }

    mstdn_san_puts(s, ">");

    if (t->id != E_BR) {
        s->stack[s->depth++] = (unsigned char) t->id;
    }
}


/*
 * Raw text up to its end tag "</name" (left for the tokenizer): dropped, or
 * with keep (RCDATA: <textarea>, <title>) text with character references.
 */
static void
mstdn_san_skip_raw(mstdn_san_t *s, const char *name, size_t n, int keep)
{
    char         buf[4];
    size_t       k, m;
    const char  *p, *q;

    for (p = s->p; p < s->end; p++) {
        if (*p == '<' && p + 2 + n <= s->end && p[1] == '/'
            && strncasecmp(p + 2, name, n) == 0
            && (p + 2 + n == s->end || mstdn_san_space(p[2 + n])
                || p[2 + n] == '/' || p[2 + n] == '>'))
        {
            break;
        }
    }

    for (q = s->p; keep && q < p; /* void */ ) {
        if (*q == '&') {
            k = mstdn_san_charref(q, p, buf, &m);
            if (k > 0) {
                mstdn_san_text(s, buf, m);
                q += k;
                continue;
            }
        }

        if (*q == '\r') {
            if (q + 1 == p || q[1] != '\n') {
                mstdn_san_text(s, "\n", 1);
            }
        } else if (*q != '\0') {
            mstdn_san_text(s, q, 1);
        }
        q++;
    }

    s->p = p;
}


static void
mstdn_san_start(mstdn_san_t *s, mstdn_san_tag_t *t)
{
    int  i;

    if (s->foreign != NULL) {
        if (!t->self_closing && t->name_len == strlen(s->foreign)
            && memcmp(t->name, s->foreign, t->name_len) == 0)
        {
            s->foreign_depth++;
        }
        return;
    }

    if (s->text_only) {
        if (t->id != E_A) {
            return;
        }
        s->text_only = 0;
    }

    if (t->flags & F_CLOSES_P) {
        i = mstdn_san_find(s, E_P);
        if (i >= 0) {
            mstdn_san_close_to(s, i);
        }
    }

    switch (t->id) {

    case E_RAWTEXT:
    case E_RCDATA:
        mstdn_san_skip_raw(s, t->name, t->name_len, t->id == E_RCDATA);
        return;

    case E_PLAINTEXT:
        s->p = s->end;
        return;

    case E_FOREIGN:
        if (!t->self_closing) {
            s->foreign = (t->name[0] == 's') ? "svg" : "math";
            s->foreign_depth = 1;
        }
        return;

    case E_VOID:
        if (t->flags & F_SPACED) {
            mstdn_san_puts(s, "  ");
        }
        return;

    case E_UNKNOWN:
        return;

    case E_SPACED:
        mstdn_san_puts(s, " ");
        if (s->depth < MSTDN_SANITIZE_MAX_DEPTH) {
            s->stack[s->depth++] = E_SPACED;
        }
        return;

    case E_LI:
        i = mstdn_san_find(s, E_LI);
        if (i >= 0) {
            mstdn_san_close_to(s, i);
        }
        break;

    case E_RT:
    case E_RP:
        /* one closes an open rt or rp (down to their ruby) */
        for (i = s->depth - 1; i >= 0 && s->stack[i] != E_RUBY; i--) {
            if (s->stack[i] == E_RT || s->stack[i] == E_RP) {
                mstdn_san_close_to(s, i);
                break;
            }
        }
        break;

    case E_A:
        i = mstdn_san_find(s, E_A);
        if (i >= 0) {
            mstdn_san_close_to(s, i);
        }

        /* UNSUPPORTED_HREF_TRANSFORMER: no link, its text only */
        for (i = 0; i < t->nattrs; i++) {
            if (t->attrs[i].id == A_HREF) {
                break;
            }
        }
        if (i == t->nattrs
            || !mstdn_san_link(t->attrs[i].value, t->attrs[i].len))
        {
            s->text_only = 1;
            return;
        }
        break;
    }

    /* too deep: the tag goes (a heading takes two: <p><strong>) */
    if (t->id != E_BR
        && s->depth + (t->id == E_HEADING) >= MSTDN_SANITIZE_MAX_DEPTH)
    {
        return;
    }

    mstdn_san_open(s, t);
}


static void
mstdn_san_end_tag(mstdn_san_t *s, mstdn_san_tag_t *t)
{
    int  i, id;

    if (s->foreign != NULL) {
        if (t->name_len == strlen(s->foreign)
            && memcmp(t->name, s->foreign, t->name_len) == 0
            && --s->foreign_depth == 0)
        {
            s->foreign = NULL;
        }
        return;
    }

    id = t->id;

    if (s->text_only) {
        if (id == E_A) {
            s->text_only = 0;
            return;
        }
        if (id == E_UNKNOWN || id > E_SPACED || mstdn_san_find(s, id) < 0) {
            return;
        }
        s->text_only = 0;
    }

    if (id == E_BR) {
        /* </br> is <br> */
        mstdn_san_puts(s, "<br>");
        return;
    }

    if (id == E_UNKNOWN || id > E_SPACED) {
        return;
    }

    i = mstdn_san_find(s, id);

    if (id == E_P && i >= 0 && s->stack[i] == E_HEADP) {
        /* </p> in a heading: no paragraph of its own to close */
        return;
    }

    if (id == E_HEADING && i > 0) {
        i--;                /* its <p> too */
    }

    if (i < 0) {
        if (id == E_P && s->depth < MSTDN_SANITIZE_MAX_DEPTH) {
            /* </p> without <p>: an empty paragraph, as HTML5 makes */
            mstdn_san_puts(s, "<p></p>");
        }
        return;
    }

    mstdn_san_close_to(s, i);
}


/* --- the tokenizer --------------------------------------------------------- */

static void
mstdn_san_markup(mstdn_san_t *s)
{
    const char       *p, *end, *q;
    mstdn_san_tag_t   t;

    p = s->p;               /* at '<' */
    end = s->end;

    if (p + 1 < end && mstdn_san_alpha(p[1])) {
        s->p = p + 1;
        t.end = 0;
        if (mstdn_san_tag(s, &t)) {
            mstdn_san_start(s, &t);
        }
        return;
    }

    if (p + 2 < end && p[1] == '/' && mstdn_san_alpha(p[2])) {
        s->p = p + 2;
        t.end = 1;
        if (mstdn_san_tag(s, &t)) {
            mstdn_san_end_tag(s, &t);
        }
        return;
    }

    if (p + 3 < end && memcmp(p, "<!--", 4) == 0) {
        q = p + 4;
        if (q < end && *q == '>') {
            s->p = q + 1;
            return;
        }
        if (q + 1 < end && q[0] == '-' && q[1] == '>') {
            s->p = q + 2;
            return;
        }
        /* (memmem is a GNU extension the module is not built with) */
        while (q + 2 < end && !(q[0] == '-' && q[1] == '-' && q[2] == '>')) {
            q++;
        }
        s->p = (q + 2 < end) ? q + 3 : end;
        return;
    }

    if (p + 1 < end && (p[1] == '!' || p[1] == '?' || p[1] == '/')) {
        /* a bogus comment, or "</>" */
        q = memchr(p + 1, '>', end - p - 1);
        s->p = q ? q + 1 : end;
        return;
    }

    /* '<' as text */
    mstdn_san_text(s, "<", 1);
    s->p = p + 1;
}


int
mstdn_sanitize(const char *in, size_t len, size_t max_in, size_t max_out,
    char **out, size_t *out_len)
{
    char          buf[4];
    size_t        k, m;
    const char   *from;
    mstdn_san_t   s;

    *out = NULL;
    *out_len = 0;

    if (len > max_in) {
        return MSTDN_SANITIZE_ETOOBIG;
    }

    if (mstdn_utf8_check((const unsigned char *) in, len, 1)
        != MSTDN_UTF8_VALID)
    {
        return MSTDN_SANITIZE_EINVAL;
    }

    memset(&s, 0, sizeof(s));
    s.p = in;
    s.end = in + len;
    s.max = max_out;
    s.rc = MSTDN_SANITIZE_OK;

    s.scratch = malloc(len + 1);
    s.cap = (len + 64 < max_out ? len + 64 : max_out) + 1;
    s.out = malloc(s.cap);

    if (s.scratch == NULL || s.out == NULL) {
        free(s.scratch);
        free(s.out);
        return MSTDN_SANITIZE_ENOMEM;
    }

    while (s.p < s.end && s.rc == MSTDN_SANITIZE_OK) {

        /* a run of plain text */
        from = s.p;
        while (s.p < s.end && *s.p != '<' && *s.p != '&' && *s.p != '\r'
               && *s.p != '\0')
        {
            s.p++;
        }
        if (s.p > from) {
            mstdn_san_text(&s, from, s.p - from);
        }

        if (s.p >= s.end) {
            break;
        }

        switch (*s.p) {

        case '<':
            mstdn_san_markup(&s);
            break;

        case '&':
            k = mstdn_san_charref(s.p, s.end, buf, &m);
            if (k == 0) {
                mstdn_san_text(&s, "&", 1);
                s.p++;
            } else {
                mstdn_san_text(&s, buf, m);
                s.p += k;
            }
            break;

        case '\r':
            mstdn_san_text(&s, "\n", 1);
            s.p++;
            if (s.p < s.end && *s.p == '\n') {
                s.p++;
            }
            break;

        default:            /* NUL */
            s.p++;
        }
    }

    while (s.depth > 0) {
        mstdn_san_close_top(&s);
    }

    free(s.scratch);

    if (s.rc != MSTDN_SANITIZE_OK) {
        free(s.out);
        return s.rc;
    }

    s.out[s.len] = '\0';
    *out = s.out;
    *out_len = s.len;

    return MSTDN_SANITIZE_OK;
}


size_t
mstdn_utf8_prefix(const char *s, size_t len, size_t max_chars)
{
    size_t  i, n;

    n = 0;

    for (i = 0; i < len; i++) {
        if (((unsigned char) s[i] & 0xc0) != 0x80) {
            if (n == max_chars) {
                return i;
            }
            n++;
        }
    }

    return len;
}
