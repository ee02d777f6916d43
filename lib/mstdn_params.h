#ifndef MSTDN_PARAMS_H
#define MSTDN_PARAMS_H

#include "mstdn_value.h"

/*
 * application/x-www-form-urlencoded (bodies and query strings) merged into
 * the object `root`, with Rack's nesting rules: "a=1", "a[]=1&a[]=2",
 * "a[b]=1", "a[][b]=1" (array of objects), "a[0][b]=1" (object keyed "0").
 * A repeated scalar name keeps the last value.  Bad %-encoding, invalid
 * UTF-8, NUL, a name used as two types, or limits exceeded: an error code,
 * and err receives a short message.
 */
int mstdn_params_parse_urlencoded(const char *buf, size_t len,
    const mstdn_alloc_t *a, const mstdn_limits_t *limits,
    mstdn_value_t *root, char *err, size_t errlen);

/*
 * One decoded name=value pair into root, with the same nesting rules (for
 * multipart form fields).  name and value need not be NUL-terminated.
 */
int mstdn_params_add(const mstdn_alloc_t *a, const mstdn_limits_t *limits,
    mstdn_value_t *root, const char *name, size_t name_len,
    const char *value, size_t value_len, char *err, size_t errlen);

/* An uploaded file (an MSTDN_FILE node) under a field name. */
int mstdn_params_add_file(const mstdn_alloc_t *a,
    const mstdn_limits_t *limits, mstdn_value_t *root, const char *name,
    size_t name_len, mstdn_value_t *file, char *err, size_t errlen);

/* Decodes %XX and '+' in place; returns the new length or -1. */
long mstdn_params_unescape(char *s, size_t len, int plus_is_space);

#endif
