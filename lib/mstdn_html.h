#ifndef MSTDN_HTML_H
#define MSTDN_HTML_H

#include <stddef.h>

/* Bytes mstdn_html_escape() writes at most for len input bytes. */
#define MSTDN_HTML_ESCAPE_MAX(len)  ((len) * 6)

/* & < > " ' escaped as Mastodon's HTML does; returns the output length. */
size_t mstdn_html_escape(char *out, const char *in, size_t len);

/* Bytes mstdn_url_escape() writes at most for len input bytes. */
#define MSTDN_URL_ESCAPE_MAX(len)  ((len) * 3)

#define MSTDN_URL_PATH   0x01   /* a path: segments and their "/" (Rails'
                                   url helpers) keep the sub-delimiters,
                                   ':' and '@' */
#define MSTDN_URL_PLUS   0x02   /* a query value as CGI.escape (Ruby's
                                   to_query) writes it: ' ' as '+' */

/* Percent-encoding, upper-case hex: RFC 3986's unreserved characters stay,
 * and what flags add; the one URL escaper of module, worker and lib.
 * Returns the output length. */
size_t mstdn_url_escape(char *out, const char *in, size_t len,
    unsigned flags);

/* A hexadecimal digit's value (either case), or -1: what percent-decoding
 * (form parameters, Redis URLs) reads. */
int mstdn_hex_digit(int c);

#endif
