#include <stdio.h>
#include <string.h>

#include "mstdn_params.h"
#include "mstdn_html.h"
#include "mstdn_utf8.h"


long
mstdn_params_unescape(char *s, size_t len, int plus_is_space)
{
    size_t  i, j;
    int     h, l;

    for (i = 0, j = 0; i < len; i++, j++) {
        if (s[i] == '%') {
            if (len - i < 3) {
                return -1;
            }
            h = mstdn_hex_digit((unsigned char) s[i + 1]);
            l = mstdn_hex_digit((unsigned char) s[i + 2]);
            if (h < 0 || l < 0) {
                return -1;
            }
            s[j] = (char) (h << 4 | l);
            i += 2;

        } else if (s[i] == '+' && plus_is_space) {
            s[j] = ' ';

        } else {
            s[j] = s[i];
        }
    }

    return (long) j;
}


/* Splits "a[b][]" into segments: "a", "b", "" (empty means "push"). */

#define MSTDN_PARAMS_SEGMENTS  64

typedef struct {
    const char  *data;
    size_t       len;
} mstdn_segment_t;


static int
mstdn_params_split(const char *name, size_t len, mstdn_segment_t *seg,
    size_t max, size_t *n)
{
    const char  *p, *end, *close;

    end = name + len;
    p = memchr(name, '[', len);

    if (p == NULL || p == name) {
        /* plain name, or one starting with '[' which Rack keeps whole */
        seg[0].data = name;
        seg[0].len = len;
        *n = 1;
        return MSTDN_OK;
    }

    seg[0].data = name;
    seg[0].len = p - name;
    *n = 1;

    while (p < end && *p == '[') {
        close = memchr(p, ']', end - p);
        if (close == NULL) {
            break;              /* "a[b": Rack ignores the unclosed tail */
        }

        if (*n >= max) {
            return MSTDN_EDEPTH;
        }

        seg[*n].data = p + 1;
        seg[*n].len = close - p - 1;
        (*n)++;
        p = close + 1;
    }

    return MSTDN_OK;
}


static mstdn_value_t *
mstdn_params_child(const mstdn_alloc_t *a, mstdn_value_t *obj,
    const mstdn_segment_t *seg, mstdn_type_t type, int *rc)
{
    mstdn_value_t  *v;

    v = mstdn_object_getn(obj, seg->data, seg->len);

    if (v != NULL) {
        if (v->type != type) {
            *rc = MSTDN_ETYPE;
            return NULL;
        }
        return v;
    }

    v = mstdn_value_new(a, type);
    if (v == NULL) {
        *rc = MSTDN_ENOMEM;
        return NULL;
    }

    v->key = mstdn_strndup(a, seg->data, seg->len);
    if (v->key == NULL) {
        *rc = MSTDN_ENOMEM;
        return NULL;
    }
    v->key_len = seg->len;

    mstdn_value_append(obj, v);

    return v;
}


static mstdn_value_t *
mstdn_params_string(const mstdn_alloc_t *a, const char *s, size_t len)
{
    mstdn_value_t  *v;

    v = mstdn_value_new(a, MSTDN_STRING);
    if (v == NULL) {
        return NULL;
    }

    v->str = mstdn_strndup(a, s, len);
    if (v->str == NULL) {
        return NULL;
    }
    v->len = len;

    return v;
}


/* Rack's normalize_params, iteratively. */
static int
mstdn_params_set(const mstdn_alloc_t *a, mstdn_value_t *root,
    const mstdn_segment_t *seg, size_t n, mstdn_value_t *leaf)
{
    size_t          i;
    int             rc;
    mstdn_value_t  *cur, *v, *last, *str;

    rc = MSTDN_OK;
    cur = root;

    for (i = 0; i < n; i++) {

        if (cur->type == MSTDN_OBJECT && i + 1 == n) {
            /* the leaf: "a=1" or "a[b]=1" */
            str = leaf;

            v = mstdn_object_getn(cur, seg[i].data, seg[i].len);
            if (v != NULL && v->type != MSTDN_STRING && v->type != MSTDN_FILE)
            {
                return MSTDN_ETYPE;
            }

            /* appended after any earlier one: lookups take the last */
            str->key = mstdn_strndup(a, seg[i].data, seg[i].len);
            if (str->key == NULL) {
                return MSTDN_ENOMEM;
            }
            str->key_len = seg[i].len;
            mstdn_value_append(cur, str);
            return MSTDN_OK;
        }

        if (cur->type == MSTDN_OBJECT) {
            /* the next segment says what this one holds */
            cur = mstdn_params_child(a, cur, &seg[i],
                                     seg[i + 1].len == 0 ? MSTDN_ARRAY
                                                         : MSTDN_OBJECT,
                                     &rc);
            if (cur == NULL) {
                return rc;
            }
            continue;
        }

        /* cur is an array and seg[i] is "" */

        if (i + 1 == n) {
            /* "a[]=1" */
            str = leaf;
            mstdn_value_append(cur, str);
            return MSTDN_OK;
        }

        if (seg[i + 1].len == 0) {
            return MSTDN_ETYPE;         /* "a[][]=1": Rack refuses it too */
        }

        /* "a[][b]=1": fill the last object unless it has b already */
        last = cur->last;

        if (last == NULL || last->type != MSTDN_OBJECT
            || (i + 2 == n
                && mstdn_object_getn(last, seg[i + 1].data, seg[i + 1].len)))
        {
            last = mstdn_value_new(a, MSTDN_OBJECT);
            if (last == NULL) {
                return MSTDN_ENOMEM;
            }
            mstdn_value_append(cur, last);
        }

        cur = last;
    }

    return MSTDN_OK;
}


static int
mstdn_params_add_leaf(const mstdn_alloc_t *a, const mstdn_limits_t *limits,
    mstdn_value_t *root, const char *name, size_t name_len,
    const char *val, size_t val_len, mstdn_value_t *leaf, char *err,
    size_t errlen)
{
    size_t           n;
    int              rc;
    mstdn_segment_t  seg[MSTDN_PARAMS_SEGMENTS];

    if (leaf) {
        val = "";       /* a file's bytes are not text: nothing to check */
        val_len = 0;
    }

    if (memchr(name, '\0', name_len) || memchr(val, '\0', val_len)) {
        snprintf(err, errlen, "NUL character in parameter");
        return MSTDN_ENUL;
    }

    if (mstdn_utf8_check((unsigned char *) name, name_len, 0)
            != MSTDN_UTF8_VALID
        || mstdn_utf8_check((unsigned char *) val, val_len, 0)
            != MSTDN_UTF8_VALID)
    {
        snprintf(err, errlen, "invalid UTF-8 in parameter");
        return MSTDN_EUTF8;
    }

    if (name_len == 0) {
        return MSTDN_OK;
    }

    rc = mstdn_params_split(name, name_len, seg,
                            limits->max_depth < MSTDN_PARAMS_SEGMENTS
                            ? limits->max_depth + 1
                            : MSTDN_PARAMS_SEGMENTS,
                            &n);
    if (rc == MSTDN_OK) {
        if (leaf == NULL) {
            leaf = mstdn_params_string(a, val, val_len);
        }
        rc = leaf ? mstdn_params_set(a, root, seg, n, leaf) : MSTDN_ENOMEM;
    }

    if (rc != MSTDN_OK) {
        size_t  shown = name_len > 64 ? 64 : name_len;

        /* not in the middle of a UTF-8 sequence: the message becomes JSON */
        while (shown < name_len && shown
               && ((unsigned char) name[shown] & 0xc0) == 0x80)
        {
            shown--;
        }

        snprintf(err, errlen, "parameter \"%.*s\": %s", (int) shown, name,
                 mstdn_strerror(rc));
    }

    return rc;
}


int
mstdn_params_add(const mstdn_alloc_t *a, const mstdn_limits_t *limits,
    mstdn_value_t *root, const char *name, size_t name_len,
    const char *value, size_t value_len, char *err, size_t errlen)
{
    return mstdn_params_add_leaf(a, limits, root, name, name_len, value,
                                 value_len, NULL, err, errlen);
}


int
mstdn_params_add_file(const mstdn_alloc_t *a, const mstdn_limits_t *limits,
    mstdn_value_t *root, const char *name, size_t name_len,
    mstdn_value_t *file, char *err, size_t errlen)
{
    return mstdn_params_add_leaf(a, limits, root, name, name_len, NULL, 0,
                                 file, err, errlen);
}


int
mstdn_params_parse_urlencoded(const char *buf, size_t len,
    const mstdn_alloc_t *a, const mstdn_limits_t *limits,
    mstdn_value_t *root, char *err, size_t errlen)
{
    const char       *p, *end, *amp, *eq;
    char             *name, *val;
    long              name_len, val_len;
    size_t            pairs;
    int               rc;

    p = buf;
    end = buf + len;
    pairs = 0;

    while (p < end) {
        amp = memchr(p, '&', end - p);
        if (amp == NULL) {
            amp = end;
        }

        if (amp == p) {
            p++;
            continue;
        }

        if (++pairs > limits->max_members) {
            snprintf(err, errlen, "more than %zu parameters",
                     limits->max_members);
            return MSTDN_ETOOMANY;
        }

        eq = memchr(p, '=', amp - p);

        name = mstdn_strndup(a, p, (eq ? eq : amp) - p);
        val = eq ? mstdn_strndup(a, eq + 1, amp - eq - 1)
                 : mstdn_strndup(a, "", 0);
        if (name == NULL || val == NULL) {
            return MSTDN_ENOMEM;
        }

        /* the raw lengths: a raw NUL byte must not shorten anything */
        name_len = mstdn_params_unescape(name, (eq ? eq : amp) - p, 1);
        val_len = mstdn_params_unescape(val, eq ? amp - eq - 1 : 0, 1);

        if (name_len < 0 || val_len < 0) {
            snprintf(err, errlen, "invalid %%-encoding");
            return MSTDN_ESYNTAX;
        }

        p = amp + 1;

        rc = mstdn_params_add(a, limits, root, name, name_len, val, val_len,
                              err, errlen);
        if (rc != MSTDN_OK) {
            return rc;
        }
    }

    return MSTDN_OK;
}
