#ifndef MSTDN_TEXT_H
#define MSTDN_TEXT_H

/*
 * Plain text as Mastodon turns it into HTML (its TextFormatter and
 * Extractor): URLs, #hashtags and @mentions found with Mastodon's rules,
 * everything else HTML-escaped, paragraphs and line breaks as Rails'
 * simple_format.  Used for statuses and for local accounts' notes.
 */

#include <stddef.h>

#include "mstdn_value.h"
#include "mstdn_grapheme.h"


typedef enum {
    MSTDN_ENTITY_URL = 1,
    MSTDN_ENTITY_HASHTAG,
    MSTDN_ENTITY_MENTION
} mstdn_entity_type_t;

typedef struct {
    mstdn_entity_type_t   type;
    size_t                start;        /* byte offsets into the text: */
    size_t                end;          /* "#tag", "@user@host", the URL */
    /* MENTION: username and optional domain; HASHTAG: the name */
    const char           *name;
    size_t                name_len;
    const char           *domain;       /* NULL: no domain given */
    size_t                domain_len;
} mstdn_entity_t;

/*
 * Finds the entities, in text order, without overlaps (a URL wins over a
 * hashtag or mention inside it).  Returns how many were found (at most
 * max are stored).
 */
size_t mstdn_text_entities(const char *text, size_t len,
    mstdn_entity_t *entities, size_t max);

/*
 * What a status stores of its entities: keeps, in place and in text order,
 * the first of each distinct mention (username and domain, both compared
 * ignoring ASCII case; no domain is not the same as the local domain
 * spelled out: compare against it first) and of each distinct hashtag
 * (the name as first written, compared ignoring ASCII case: lookups use
 * lower(name)); URLs are dropped.  Returns how many are kept.
 */
size_t mstdn_text_distinct(mstdn_entity_t *entities, size_t n);

/*
 * Ruby's String#strip, as Mastodon strips a status' text and spoiler text
 * before it validates and stores them: NUL, \t, \n, \v, \f, \r and space
 * on both ends.
 */
void mstdn_text_strip(const char **text, size_t *len);

/*
 * The length of a status as Mastodon's StatusLengthValidator counts it: the
 * spoiler text and the text joined, in extended grapheme clusters, where
 * every URL the formatter links counts as MSTDN_STATUS_URL_LENGTH
 * characters and every mention @user@domain as @user.  Both are UTF-8,
 * already stripped.  MSTDN_GRAPHEME_ERROR when out of memory.
 */
#define MSTDN_STATUS_URL_LENGTH  23

size_t mstdn_status_length(const char *spoiler, size_t spoiler_len,
    const char *text, size_t len);

/*
 * twitter-text's MAX_URL_LENGTH: a longer URL (counted in code points, its
 * host as IDNA's ToASCII spells it when that is longer) is no URL: not
 * linked, counted as written.  A host ToASCII refuses is no URL either.
 */
#define MSTDN_URL_MAX_LENGTH  4096


typedef struct {
    const char   *base_url;             /* "https://example.com" */
    size_t        base_url_len;
    const char   *local_domain;         /* mentions of it are local */
    size_t        local_domain_len;
    int           multiline;            /* <p> and <br />: statuses, notes */
    int           rel_me;               /* rel="me" too: profile fields */

    /*
     * A mention: the account's profile URL and the name to show (its
     * username, or user@domain when ambiguous), or 0 when no such account
     * is known (then the mention stays plain text, as in Mastodon).
     * domain is NULL for a local account.
     */
    int         (*mention)(void *ctx, const char *username, size_t ulen,
                           const char *domain, size_t dlen,
                           const char **url, size_t *url_len,
                           const char **display, size_t *display_len);
    void         *ctx;
} mstdn_text_options_t;

/*
 * The HTML, allocated from a (NUL-terminated); *out_len its length.
 * Returns 0, or -1 when out of memory.
 */
int mstdn_text_format(const char *text, size_t len,
    const mstdn_text_options_t *opt, const mstdn_alloc_t *a, char **out,
    size_t *out_len);

#endif
