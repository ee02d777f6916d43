/* Job arguments.  Rendered entities (a status payload, an account) are
 * copied into streaming events byte for byte, never decoded and encoded
 * again, so their 64-bit numbers and key order survive: json_object_member
 * finds a member's raw text in a document yajl has already accepted. */
#include "args.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

int args_parse(job_args *args, const char *text, size_t len, char *err, size_t errlen)
{
    char perr[256];

    memset(args, 0, sizeof(*args));
    /* the size was checked when the entry was read (job_max_bytes) */
    if (strlen(text) != len) {
        snprintf(err, errlen, "args are not text");
        return -1;
    }
    args->root = yajl_tree_parse(text, perr, sizeof(perr));
    if (args->root == NULL) {
        snprintf(err, errlen, "invalid args: %s", perr);
        return -1;
    }
    if (!YAJL_IS_OBJECT(args->root)) {
        snprintf(err, errlen, "args must be a JSON object");
        yajl_tree_free(args->root);
        args->root = NULL;
        return -1;
    }
    args->text = text;
    args->len = len;
    return 0;
}

void args_free(job_args *args)
{
    if (args->root != NULL)
        yajl_tree_free(args->root);
    args->root = NULL;
}

static yajl_val member(const job_args *args, const char *name)
{
    const char *path[] = { name, NULL };
    return yajl_tree_get(args->root, path, yajl_t_any);
}

int args_has(const job_args *args, const char *name)
{
    return member(args, name) != NULL;
}

int args_id(const job_args *args, const char *name, char out[MW_ID_LEN])
{
    yajl_val v = member(args, name);
    const char *s;

    out[0] = '\0';
    if (v == NULL || YAJL_IS_NULL(v))
        return 0;
    if (YAJL_IS_STRING(v))
        s = YAJL_GET_STRING(v);
    else if (YAJL_IS_INTEGER(v))
        s = YAJL_GET_NUMBER(v);
    else
        return -1;

    size_t n = strlen(s);
    if (n == 0 || (n == 1 && s[0] == '0'))
        return 0;
    if (n > 19 || strspn(s, "0123456789") != n || s[0] == '0')
        return -1;
    /* a bigint: at most 9223372036854775807 */
    if (n == 19 && strcmp(s, "9223372036854775807") > 0)
        return -1;
    memcpy(out, s, n + 1);
    return 1;
}

const char *args_string(const job_args *args, const char *name)
{
    yajl_val v = member(args, name);
    return v != NULL && YAJL_IS_STRING(v) ? YAJL_GET_STRING(v) : NULL;
}

int args_true(const job_args *args, const char *name)
{
    yajl_val v = member(args, name);
    return v != NULL && YAJL_IS_TRUE(v);
}

/* --- raw member text ------------------------------------------------------ */

static size_t skip_ws(const char *s, size_t i, size_t len)
{
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* Index just past the string starting at s[i] == '"', or len. */
static size_t skip_string(const char *s, size_t i, size_t len)
{
    for (i++; i < len; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return len;
}

/* Index just past the value starting at s[i].  The document is known to be
 * valid JSON, so only strings and nesting need care. */
static size_t skip_value(const char *s, size_t i, size_t len)
{
    if (i >= len)
        return len;
    if (s[i] == '"')
        return skip_string(s, i, len);
    if (s[i] == '{' || s[i] == '[') {
        size_t depth = 0;
        while (i < len) {
            char c = s[i];
            if (c == '"') {
                i = skip_string(s, i, len);
                continue;
            }
            if (c == '{' || c == '[')
                depth++;
            else if ((c == '}' || c == ']') && --depth == 0)
                return i + 1;
            i++;
        }
        return len;
    }
    while (i < len && s[i] != ',' && s[i] != '}' && s[i] != ']'
           && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
        i++;
    return i;
}

int json_object_member(const char *obj, size_t len, const char *name,
                       const char **value, size_t *vlen)
{
    size_t namelen = strlen(name), i = skip_ws(obj, 0, len);
    int found = 0;

    if (i >= len || obj[i] != '{')
        return 0;
    i = skip_ws(obj, i + 1, len);
    while (i < len && obj[i] == '"') {
        size_t kstart = i + 1, kend = skip_string(obj, i, len);
        /* a key written with escapes never equals one of our plain names */
        int match = kend - 1 - kstart == namelen && memcmp(obj + kstart, name, namelen) == 0;

        i = skip_ws(obj, kend, len);
        if (i >= len || obj[i] != ':')
            return 0;
        i = skip_ws(obj, i + 1, len);
        size_t vstart = i;
        i = skip_value(obj, i, len);
        if (match && obj[vstart] == '{') {      /* the last one wins, as in yajl_tree */
            *value = obj + vstart;
            *vlen = i - vstart;
            found = 1;
        } else if (match) {
            found = 0;
        }
        i = skip_ws(obj, i, len);
        if (i < len && obj[i] == ',')
            i = skip_ws(obj, i + 1, len);
    }
    return found;
}

int args_object_raw(const job_args *args, const char *name, const char **value, size_t *vlen)
{
    return json_object_member(args->text, args->len, name, value, vlen);
}
