#ifndef MSTDN_SANITIZE_H
#define MSTDN_SANITIZE_H

#include <stddef.h>

/*
 * Remote HTML to Mastodon's allowlist (Sanitize::Config::MASTODON_STRICT,
 * app/lib/sanitize_config.rb, Mastodon 4.3+), what Mastodon stores as a
 * remote status' text, an account's note and its fields' values:
 *
 *   elements   p br span a del s pre blockquote code b strong u i em ul ol
 *              li ruby rt rp; h1-h6 become <p><strong>...</strong></p>;
 *              any other element goes, its content stays (block elements
 *              leave a space on each side, as Sanitize's whitespace
 *              elements), but script style iframe math svg noscript
 *              noembed noframes xmp plaintext go with their content;
 *   attributes a: href rel class translate; span: class translate;
 *              p: class; ol: start reversed; li: value; class keeps only
 *              microformats (h- p- u- dt- e-), mention, hashtag, ellipsis,
 *              invisible, quote-inline; translate only "no";
 *   links      an <a> whose href has no scheme (as Addressable parses it:
 *              no leading space) of Mastodon's LINK_PROTOCOLS (http https
 *              dat dweb ipfs ipns ssb gopher xmpp magnet gemini) becomes
 *              its text; every other gets rel="nofollow noopener"
 *              target="_blank" (rel where it stood, target last).
 *
 * Not done: the MathML transformer (<math> goes whole, no "$tex$"), and
 * named character references beyond a common few (others stay text).
 *
 * The input is tokenized as HTML5 does (character references, comments,
 * raw text), the output is serialized as HTML5 does (& < > and U+00A0
 * escaped in text, & " and U+00A0 in attributes), every element closed.
 * Bounded: input length, nesting of kept elements (deeper tags go, their
 * text stays), output length.
 */

#define MSTDN_SANITIZE_OK        0
#define MSTDN_SANITIZE_EINVAL   -1      /* not UTF-8 */
#define MSTDN_SANITIZE_ETOOBIG  -2      /* input or output over its bound */
#define MSTDN_SANITIZE_ENOMEM   -3

#define MSTDN_SANITIZE_MAX_DEPTH  32    /* kept elements open at once */

/*
 * Sanitizes len bytes of in (UTF-8; NUL bytes are dropped) into a malloc'ed,
 * NUL-terminated *out of *out_len bytes (the caller frees it).  Input over
 * max_in bytes, or output that would exceed max_out, is MSTDN_SANITIZE_ETOOBIG.
 */
int mstdn_sanitize(const char *in, size_t len, size_t max_in, size_t max_out,
    char **out, size_t *out_len);

/*
 * The bounds Mastodon applies to federated content, in characters (code
 * points) unless said: Account::*_HARD_LIMIT, what ProcessAccountService
 * and ActivityPub::Activity::Create take of a document.  The one place for
 * them: the worker cuts every remote field with these.
 */
#define MSTDN_REMOTE_USERNAME_MAX      2048    /* Account::USERNAME_LENGTH_HARD_LIMIT */
#define MSTDN_REMOTE_DISPLAY_NAME_MAX  2048    /* DISPLAY_NAME_LENGTH_HARD_LIMIT */
#define MSTDN_REMOTE_NOTE_MAX          20480   /* NOTE_LENGTH_HARD_LIMIT (20.kilobytes) */
#define MSTDN_REMOTE_FIELDS_MAX        50      /* profile fields kept */
#define MSTDN_REMOTE_FIELD_NAME_MAX    2048
#define MSTDN_REMOTE_FIELD_VALUE_MAX   2048
#define MSTDN_REMOTE_ALSO_KNOWN_AS_MAX 256     /* ALSO_KNOWN_AS_HARD_LIMIT */
#define MSTDN_REMOTE_URL_MAX           2048    /* any URI or URL kept */
#define MSTDN_REMOTE_KEY_MAX           8192    /* a PEM public key, bytes */
#define MSTDN_REMOTE_SPOILER_MAX       2048    /* summary of a status (the
                                                  display name's bound) */
#define MSTDN_REMOTE_TEXT_MAX          (512 * 1024)  /* status HTML, bytes */
#define MSTDN_REMOTE_POLL_OPTIONS_MAX  50      /* options of a Question */
#define MSTDN_REMOTE_POLL_OPTION_MAX   2048    /* one option's title */
#define MSTDN_REMOTE_TAGS_MAX          100     /* tag entries of a status read */
#define MSTDN_REMOTE_HASHTAG_MAX       256     /* one hashtag's name */
#define MSTDN_REMOTE_LANGUAGE_MAX      16

/*
 * The byte length of the longest prefix of UTF-8 s (len bytes) holding at
 * most max_chars code points: Ruby's str[0...max_chars].
 */
size_t mstdn_utf8_prefix(const char *s, size_t len, size_t max_chars);

/*
 * A character reference at p (its '&') before end, as the sanitizer reads
 * them (numeric, and HTML5's common named ones with their ';'): its UTF-8
 * in o (4 bytes of room, *olen bytes), returns the bytes it spans, 0 when
 * it is none (the '&' is text).  Never longer than what it replaces.
 */
size_t mstdn_charref(const char *p, const char *end, char *o, size_t *olen);

#endif
