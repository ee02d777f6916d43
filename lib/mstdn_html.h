#ifndef MSTDN_HTML_H
#define MSTDN_HTML_H

#include <stddef.h>

/* Bytes mstdn_html_escape() writes at most for len input bytes. */
#define MSTDN_HTML_ESCAPE_MAX(len)  ((len) * 6)

/* & < > " ' escaped as Mastodon's HTML does; returns the output length. */
size_t mstdn_html_escape(char *out, const char *in, size_t len);

#endif
