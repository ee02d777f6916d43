#ifndef MSTDN_GRAPHEME_H
#define MSTDN_GRAPHEME_H

/*
 * Extended grapheme clusters (Unicode UAX #29), as Ruby's
 * String#each_grapheme_cluster counts them: libunistring's
 * u8_grapheme_breaks(), which applies the whole rule set (emoji ZWJ
 * sequences, regional indicator pairs, Hangul syllables, CR LF,
 * prepended marks) with the Unicode data it is built with.
 */

#include <stddef.h>


/* What the counters return when out of memory (over any limit). */
#define MSTDN_GRAPHEME_ERROR  ((size_t) -1)

/*
 * The clusters of UTF-8 text (invalid bytes count as one character each),
 * or MSTDN_GRAPHEME_ERROR.
 */
size_t mstdn_grapheme_count(const char *text, size_t len);

#endif
