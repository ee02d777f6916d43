#ifndef MSTDN_HTML_H
#define MSTDN_HTML_H

#include <stddef.h>

/* Bytes mstdn_html_escape() writes at most for len input bytes. */
#define MSTDN_HTML_ESCAPE_MAX(len)  ((len) * 6)

/* & < > " ' escaped as Mastodon's HTML does; returns the output length. */
size_t mstdn_html_escape(char *out, const char *in, size_t len);

/*
 * Plain text (an account note, a profile field written by a local user) as
 * Mastodon renders it: escaped, blank lines separate <p> paragraphs, single
 * new lines become <br />.  out must hold MSTDN_TEXT_HTML_MAX(len) bytes.
 */
#define MSTDN_TEXT_HTML_MAX(len)  (MSTDN_HTML_ESCAPE_MAX(len) * 2 + 16)

size_t mstdn_text_to_html(char *out, const char *in, size_t len);

#endif
