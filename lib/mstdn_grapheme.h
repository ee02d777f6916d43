#ifndef MSTDN_GRAPHEME_H
#define MSTDN_GRAPHEME_H

/*
 * Extended grapheme clusters (Unicode UAX #29), as Ruby's
 * String#each_grapheme_cluster counts them, without a Unicode database:
 * compact tables of the classes real text uses (combining and spacing
 * marks of the common scripts, ZWJ sequences, variation selectors, emoji
 * modifiers, regional indicator pairs, tag characters, Hangul syllables,
 * controls, prepended concatenation marks).
 *
 * Counting is a stream of code points, so text put together from pieces
 * (Mastodon's status length replaces URLs before counting) is counted as
 * the joined string would be.
 */

#include <stddef.h>


typedef struct {
    size_t     count;           /* clusters so far */
    unsigned   prev;            /* class of the previous code point */
    unsigned   ri;              /* regional indicators just before */
    unsigned   pict:1;          /* in ExtPict Extend* */
    unsigned   pict_zwj:1;      /* ExtPict Extend* ZWJ just before */
} mstdn_grapheme_t;

/* Zeroes the state. */
void mstdn_grapheme_init(mstdn_grapheme_t *g);

/* Feeds one code point. */
void mstdn_grapheme_feed(mstdn_grapheme_t *g, unsigned cp);

/* Feeds UTF-8 text (invalid bytes count as U+FFFD each). */
void mstdn_grapheme_feed_utf8(mstdn_grapheme_t *g, const char *text,
    size_t len);

/* The clusters of UTF-8 text. */
size_t mstdn_grapheme_count(const char *text, size_t len);

#endif
