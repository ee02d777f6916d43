#ifndef MSTDN_FUZZ_TREE_H
#define MSTDN_FUZZ_TREE_H

/*
 * What every parser into the parameter tree promises, checked on each tree
 * it returns: strings and keys are valid UTF-8 without NUL, counts match
 * the children, nesting is bounded by the limits (a form name's "a[][b]"
 * puts an object inside the array: up to two levels a segment).
 */

#include <stdlib.h>
#include <string.h>

#include "mstdn_utf8.h"
#include "mstdn_value.h"


static void
mstdn_fuzz_text(const char *s, size_t len)
{
    if (s == NULL) {
        return;
    }

    if (mstdn_utf8_check((const unsigned char *) s, len, 0)
        != MSTDN_UTF8_VALID)
    {
        abort();
    }
}


static void
mstdn_fuzz_tree(const mstdn_value_t *v, size_t depth,
    const mstdn_limits_t *limits)
{
    size_t                n;
    const mstdn_value_t  *c;

    if (depth > 2 * (limits->max_depth + 1) + 1) {
        abort();
    }

    mstdn_fuzz_text(v->key, v->key_len);

    if (v->type == MSTDN_STRING) {
        mstdn_fuzz_text(v->str, v->len);
        if (v->str[v->len] != '\0') {
            abort();
        }
    }

    /* a file: its hints are there (the client's bytes, not checked) */
    if (v->type == MSTDN_FILE
        && (v->filename == NULL || v->content_type == NULL || v->first))
    {
        abort();
    }

    n = 0;

    for (c = v->first; c; c = c->next) {
        mstdn_fuzz_tree(c, depth + 1, limits);
        n++;
    }

    if (n != v->count) {
        abort();
    }
}

#endif
