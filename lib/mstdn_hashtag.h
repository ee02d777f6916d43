#ifndef MSTDN_HASHTAG_H
#define MSTDN_HASHTAG_H

/*
 * Hashtag names as Mastodon's HashtagNormalizer makes them: NFKC (full-width
 * and half-width forms to their usual ones), lower case, Mastodon's ASCII
 * folding of Latin letters with diacritics, and every character that is not
 * [[:alnum:]] (Ruby: Alphabetic or decimal digit), a Thai mark U+0E47-E4E or
 * a separator (_ U+00B7 U+30FB U+200C) removed.  Tags are stored under this
 * name and looked up by it (lower(name) = lower(normalized)), so #ＭＡＳＴＯＤＯＮ
 * and #mastodon are one tag.
 */

#include <stddef.h>

#include "mstdn_value.h"


/*
 * The normalized name of UTF-8 name, allocated from a (NUL-terminated);
 * *out_len its length.  NULL when out of memory or name is not UTF-8.
 */
char *mstdn_hashtag_normalize(const char *name, size_t len,
    const mstdn_alloc_t *a, size_t *out_len);

/*
 * Tag::HASHTAG_INVALID_CHARS_RE removed, in place (what Mastodon stores as
 * a tag's display_name); returns the new length.  name is valid UTF-8.
 */
size_t mstdn_hashtag_strip_invalid(char *name, size_t len);

#endif
