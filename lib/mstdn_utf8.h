#ifndef MSTDN_UTF8_H
#define MSTDN_UTF8_H

#include <stddef.h>

/*
 * Strict UTF-8 (RFC 3629): no overlong forms, no UTF-16 surrogates, nothing
 * above U+10FFFF.  With allow_nul == 0 a NUL byte is refused too, because
 * PostgreSQL text cannot hold one.  Returns the offset of the first bad byte,
 * or (size_t) -1 when the whole buffer is valid.
 */
#define MSTDN_UTF8_VALID  ((size_t) -1)

size_t mstdn_utf8_check(const unsigned char *p, size_t len, int allow_nul);

/* Number of code points in valid UTF-8 (what Mastodon counts as characters). */
size_t mstdn_utf8_length(const unsigned char *p, size_t len);

/*
 * Ruby's String#downcase of valid UTF-8: Unicode's full lower case mapping
 * without context (no final sigma: Ruby has none), which is the simple
 * mapping but for U+0130, I with dot above, that becomes "i" and U+0307.
 * out has room for 2 * len bytes (no character grows more); returns the
 * length written.
 */
#define MSTDN_UTF8_DOWNCASE_MAX(len)  (2 * (len))

size_t mstdn_utf8_downcase(const unsigned char *p, size_t len,
    unsigned char *out);

#endif
