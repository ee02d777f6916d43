#ifndef MSTDN_JSON_H
#define MSTDN_JSON_H

#include "mstdn_value.h"

/*
 * Parses one JSON document from outside into a tree, with bounds: nesting
 * depth and node count limited (yajl's callback parser is used because its
 * tree parser has no depth limit and frees recursively), comments refused,
 * strict UTF-8 (no overlong forms, no surrogates), \u escapes that are not
 * UTF-16 (a surrogate not in a high-low pair) refused, "\u0000" refused,
 * trailing garbage refused.  Duplicate keys are all kept; lookups return the
 * last one (Rails' behaviour).  On error, err receives a short message.
 */
int mstdn_json_parse(const char *buf, size_t len, const mstdn_alloc_t *a,
    const mstdn_limits_t *limits, mstdn_value_t **out, char *err,
    size_t errlen);

/* Bytes mstdn_json_quote() writes at most for len input bytes. */
#define MSTDN_JSON_QUOTE_MAX(len)  ((len) * 6 + 2)

/*
 * s as a JSON string, the quotes included, for JSON written by hand (job
 * arguments, streaming events): '"' and '\\' escaped, control characters
 * as \b \f \n \r \t or \u00XX, and U+2028 and U+2029 as \u2028 and
 * \u2029 (as Rails writes them: JavaScript before ES2019 ends a string
 * there).  Other bytes are copied: s is to be UTF-8.  Returns the length.
 */
size_t mstdn_json_quote(char *out, const char *s, size_t len);

#endif
