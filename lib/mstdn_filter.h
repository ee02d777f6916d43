#ifndef MSTDN_FILTER_H
#define MSTDN_FILTER_H

/*
 * Filter keywords matched as Mastodon's CustomFilter does: the keywords of
 * a filter become one Regexp.union of case-insensitive escaped keywords; a
 * whole_word keyword gets \b before it when it starts with a word character
 * and after it when it ends with one ([[:word:]] in Ruby: a letter, mark,
 * decimal digit or connector punctuation).  The match is searched in the
 * status' searchable text (spoiler, plain text, poll options and media
 * descriptions joined by blank lines) and the first one (leftmost; among
 * keywords matching there, the first listed) is the FilterResult's
 * keyword_matches.
 *
 * Case is compared code point by code point after simple lower-casing
 * (Onigmo's multi-character folds, such as "ß" against "ss", are not).
 * Text and keywords are UTF-8; invalid bytes match only themselves and are
 * not word characters.
 */

#include <stddef.h>

typedef struct {
    const char  *keyword;
    size_t       len;
    int          whole_word;
} mstdn_filter_keyword_t;

/*
 * The first match of any of the n keywords in text: 1 and *which (the
 * keyword's index), *start and *mlen (bytes of text) set, or 0.  Empty
 * keywords never match.
 */
int mstdn_filter_match(const char *text, size_t len,
    const mstdn_filter_keyword_t *keywords, size_t n, size_t *which,
    size_t *start, size_t *mlen);

#endif
