#include <stdio.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "mstdn_json.h"
#include "mstdn_utf8.h"


#define MSTDN_JSON_STACK  256     /* hard ceiling whatever the limits say */


typedef struct {
    const mstdn_alloc_t   *a;
    const mstdn_limits_t  *limits;
    mstdn_value_t         *root;
    mstdn_value_t         *stack[MSTDN_JSON_STACK];
    size_t                 depth;
    size_t                 nodes;
    const char            *key;
    size_t                 key_len;
    int                    rc;
} mstdn_json_ctx_t;


static int
mstdn_json_add(mstdn_json_ctx_t *ctx, mstdn_value_t *v)
{
    mstdn_value_t  *parent;

    if (++ctx->nodes > ctx->limits->max_members) {
        ctx->rc = MSTDN_ETOOMANY;
        return 0;
    }

    if (ctx->depth == 0) {
        ctx->root = v;
        return 1;
    }

    parent = ctx->stack[ctx->depth - 1];

    if (parent->type == MSTDN_OBJECT) {
        v->key = ctx->key;
        v->key_len = ctx->key_len;
    }

    mstdn_value_append(parent, v);

    return 1;
}


static mstdn_value_t *
mstdn_json_new(mstdn_json_ctx_t *ctx, mstdn_type_t type)
{
    mstdn_value_t  *v;

    v = mstdn_value_new(ctx->a, type);
    if (v == NULL) {
        ctx->rc = MSTDN_ENOMEM;
    }

    return v;
}


static int
mstdn_json_check_string(mstdn_json_ctx_t *ctx, const unsigned char *s,
    size_t len)
{
    /* yajl decodes escapes: "\u0000" only shows up here */
    if (memchr(s, '\0', len) != NULL) {
        ctx->rc = MSTDN_ENUL;
        return 0;
    }

    if (mstdn_utf8_check(s, len, 0) != MSTDN_UTF8_VALID) {
        ctx->rc = MSTDN_EUTF8;
        return 0;
    }

    return 1;
}


static int
mstdn_json_scalar(mstdn_json_ctx_t *ctx, mstdn_type_t type, const char *s,
    size_t len, int boolean)
{
    mstdn_value_t  *v;

    v = mstdn_json_new(ctx, type);
    if (v == NULL) {
        return 0;
    }

    v->boolean = boolean;

    if (s) {
        v->str = mstdn_strndup(ctx->a, s, len);
        if (v->str == NULL) {
            ctx->rc = MSTDN_ENOMEM;
            return 0;
        }
        v->len = len;
    }

    return mstdn_json_add(ctx, v);
}


static int
mstdn_json_null(void *data)
{
    return mstdn_json_scalar(data, MSTDN_NULL, NULL, 0, 0);
}


static int
mstdn_json_boolean(void *data, int b)
{
    return mstdn_json_scalar(data, MSTDN_BOOL, NULL, 0, b);
}


static int
mstdn_json_number(void *data, const char *s, size_t len)
{
    return mstdn_json_scalar(data, MSTDN_NUMBER, s, len, 0);
}


static int
mstdn_json_string(void *data, const unsigned char *s, size_t len)
{
    if (!mstdn_json_check_string(data, s, len)) {
        return 0;
    }

    return mstdn_json_scalar(data, MSTDN_STRING, (const char *) s, len, 0);
}


static int
mstdn_json_map_key(void *data, const unsigned char *s, size_t len)
{
    mstdn_json_ctx_t  *ctx = data;

    if (!mstdn_json_check_string(ctx, s, len)) {
        return 0;
    }

    ctx->key = mstdn_strndup(ctx->a, (const char *) s, len);
    if (ctx->key == NULL) {
        ctx->rc = MSTDN_ENOMEM;
        return 0;
    }

    ctx->key_len = len;

    return 1;
}


static int
mstdn_json_open(mstdn_json_ctx_t *ctx, mstdn_type_t type)
{
    mstdn_value_t  *v;

    if (ctx->depth >= ctx->limits->max_depth
        || ctx->depth >= MSTDN_JSON_STACK)
    {
        ctx->rc = MSTDN_EDEPTH;
        return 0;
    }

    v = mstdn_json_new(ctx, type);
    if (v == NULL || !mstdn_json_add(ctx, v)) {
        return 0;
    }

    ctx->stack[ctx->depth++] = v;

    return 1;
}


static int
mstdn_json_start_map(void *data)
{
    return mstdn_json_open(data, MSTDN_OBJECT);
}


static int
mstdn_json_start_array(void *data)
{
    return mstdn_json_open(data, MSTDN_ARRAY);
}


static int
mstdn_json_close(void *data)
{
    mstdn_json_ctx_t  *ctx = data;

    ctx->depth--;

    return 1;
}


static const yajl_callbacks  mstdn_json_callbacks = {
    mstdn_json_null,
    mstdn_json_boolean,
    NULL,                       /* integers and doubles go to yajl_number */
    NULL,
    mstdn_json_number,
    mstdn_json_string,
    mstdn_json_start_map,
    mstdn_json_map_key,
    mstdn_json_close,
    mstdn_json_start_array,
    mstdn_json_close
};


static int
mstdn_json_hex4(const unsigned char *p, const unsigned char *end)
{
    int       i, d;
    unsigned  c;

    if (end - p < 4) {
        return -1;
    }

    c = 0;

    for (i = 0; i < 4; i++) {
        d = p[i];
        if (d >= '0' && d <= '9') {
            d -= '0';
        } else if ((d | 0x20) >= 'a' && (d | 0x20) <= 'f') {
            d = (d | 0x20) - 'a' + 10;
        } else {
            return -1;
        }
        c = c << 4 | d;
    }

    return c;
}


/*
 * The \u escapes of every string and key must spell UTF-16: a high
 * surrogate escape followed at once by a low one, no surrogate alone.
 * yajl decodes them itself, into '?' or a wrong code point, so they are
 * checked in the raw text.  Returns the offset of the bad escape or
 * (size_t) -1.  Malformed escapes are left to yajl's syntax errors.
 */
static size_t
mstdn_json_check_escapes(const unsigned char *buf, size_t len)
{
    int                   in_string, c, low;
    const unsigned char  *p, *end;

    in_string = 0;
    end = buf + len;

    for (p = buf; p < end; p++) {

        if (*p == '"') {
            in_string = !in_string;
            continue;
        }

        if (!in_string || *p != '\\') {
            continue;
        }

        if (++p == end) {
            break;
        }

        if (*p != 'u') {
            continue;           /* \" \\ \n ...: one character */
        }

        c = mstdn_json_hex4(p + 1, end);
        if (c < 0xd800 || c > 0xdfff) {
            continue;
        }

        if (c >= 0xdc00) {
            return p - 1 - buf;             /* a low surrogate alone */
        }

        low = (end - p >= 7 && p[5] == '\\' && p[6] == 'u')
              ? mstdn_json_hex4(p + 7, end) : -1;

        if (low < 0xdc00 || low > 0xdfff) {
            return p - 1 - buf;             /* a high surrogate alone */
        }

        p += 10;                            /* "uD83D\uDE00" */
    }

    return (size_t) -1;
}


int
mstdn_json_parse(const char *buf, size_t len, const mstdn_alloc_t *a,
    const mstdn_limits_t *limits, mstdn_value_t **out, char *err,
    size_t errlen)
{
    size_t             bad;
    int                at_end;
    yajl_handle        h;
    yajl_status        st;
    mstdn_json_ctx_t   ctx;

    *out = NULL;

    /* raw bytes first: yajl accepts overlong forms and surrogates */
    bad = mstdn_utf8_check((const unsigned char *) buf, len, 1);
    if (bad != MSTDN_UTF8_VALID) {
        snprintf(err, errlen, "invalid UTF-8 at byte %zu", bad);
        return MSTDN_EUTF8;
    }

    bad = mstdn_json_check_escapes((const unsigned char *) buf, len);
    if (bad != (size_t) -1) {
        snprintf(err, errlen, "invalid \\u escape (an unpaired UTF-16 "
                 "surrogate) at byte %zu", bad);
        return MSTDN_EUTF8;
    }

    memset(&ctx, 0, sizeof(ctx));
    ctx.a = a;
    ctx.limits = limits;

    h = yajl_alloc(&mstdn_json_callbacks, NULL, &ctx);
    if (h == NULL) {
        snprintf(err, errlen, "out of memory");
        return MSTDN_ENOMEM;
    }

    yajl_config(h, yajl_allow_comments, 0);

    at_end = 0;
    st = yajl_parse(h, (const unsigned char *) buf, len);
    if (st == yajl_status_ok) {
        at_end = 1;
        st = yajl_complete_parse(h);
    }

    if (st == yajl_status_ok && ctx.root == NULL) {
        ctx.rc = MSTDN_ESYNTAX;         /* empty or blank document */
        st = yajl_status_error;
    }

    if (st != yajl_status_ok) {
        if (ctx.rc == MSTDN_OK) {
            ctx.rc = MSTDN_ESYNTAX;
        }

        if (ctx.rc == MSTDN_ESYNTAX) {
            if (at_end) {
                snprintf(err, errlen, "unexpected end of document");
            } else {
                snprintf(err, errlen, "unexpected input at byte %zu",
                         yajl_get_bytes_consumed(h));
            }
        } else if (ctx.rc == MSTDN_EDEPTH) {
            snprintf(err, errlen, "nested deeper than %zu levels",
                     limits->max_depth);
        } else {
            snprintf(err, errlen, "%s", mstdn_strerror(ctx.rc));
        }

        yajl_free(h);
        return ctx.rc;
    }

    yajl_free(h);

    *out = ctx.root;

    return MSTDN_OK;
}


size_t
mstdn_json_quote(char *out, const char *s, size_t len)
{
    char                 *p = out;
    size_t                i;
    unsigned char         c;
    static const char     hex[] = "0123456789abcdef";

    *p++ = '"';

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        switch (c) {
        case '"':  *p++ = '\\'; *p++ = '"'; continue;
        case '\\': *p++ = '\\'; *p++ = '\\'; continue;
        case '\b': *p++ = '\\'; *p++ = 'b'; continue;
        case '\f': *p++ = '\\'; *p++ = 'f'; continue;
        case '\n': *p++ = '\\'; *p++ = 'n'; continue;
        case '\r': *p++ = '\\'; *p++ = 'r'; continue;
        case '\t': *p++ = '\\'; *p++ = 't'; continue;
        }

        if (c < 0x20) {
            memcpy(p, "\\u00", 4);
            p[4] = hex[c >> 4];
            p[5] = hex[c & 0x0f];
            p += 6;

        } else if (c == 0xe2 && i + 2 < len
                   && (unsigned char) s[i + 1] == 0x80
                   && ((unsigned char) s[i + 2] == 0xa8
                       || (unsigned char) s[i + 2] == 0xa9))
        {
            memcpy(p, (unsigned char) s[i + 2] == 0xa8 ? "\\u2028"
                                                       : "\\u2029", 6);
            p += 6;
            i += 2;

        } else {
            *p++ = (char) c;
        }
    }

    *p++ = '"';

    return p - out;
}
