#ifndef MSTDN_MULTIPART_H
#define MSTDN_MULTIPART_H

#include "mstdn_value.h"

/*
 * multipart/form-data (RFC 7578) into the parameter tree: text fields as
 * strings with Rack's nesting rules, file fields as MSTDN_FILE nodes whose
 * bytes point into buf (which must outlive the tree).  Bounded: the part
 * count by limits->max_members, a part's header block by 8 KB; a missing
 * closing boundary is an error.
 */

/* The boundary parameter of a Content-Type value; 0, or -1 when absent. */
int mstdn_multipart_boundary(const char *ctype, size_t len,
    const char **boundary, size_t *blen);

int mstdn_multipart_parse(const char *buf, size_t len, const char *boundary,
    size_t blen, const mstdn_alloc_t *a, const mstdn_limits_t *limits,
    mstdn_value_t *root, char *err, size_t errlen);

#endif
