#ifndef MSTDN_BLURHASH_H
#define MSTDN_BLURHASH_H

#include <stddef.h>

/*
 * BlurHash (Wolt's algorithm, as Mastodon's BlurhashTranscoder computes
 * it: 4x4 components of the small preview scaled to 100 pixels wide).
 */

/* the longest hash: 9x9 components, with the NUL */
#define MSTDN_BLURHASH_MAX  (1 + 1 + 4 + 2 * 80 + 1)

/*
 * The hash of width x height 8-bit sRGB pixels, channels bytes each (3:
 * RGB, 4: RGBA, alpha ignored), rows stride bytes apart; 1..9 components
 * on each axis.  Returns the hash's length, or 0 for bad arguments.
 */
size_t mstdn_blurhash_encode(const unsigned char *pixels, int width,
                             int height, size_t stride, int channels,
                             int xcomponents, int ycomponents, char *out);

#endif
