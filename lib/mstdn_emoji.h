#ifndef MSTDN_EMOJI_H
#define MSTDN_EMOJI_H

/*
 * The custom emojis a text names (CustomEmoji.from_text), one query for the
 * module's REST entities and ActivityPub renders and the worker's
 * deliveries: those of the author's domain (the local ones for a local
 * author) whose :shortcode: the text holds, as a JSON array of
 * [shortcode, remote image URL, id, file name, content type, updated]
 * (a local one: no remote URL, its stored file under
 * custom_emojis/images/<id>/original/<file name>; updated ISO 8601);
 * NULL when none.  domain and text are SQL expressions.
 */
#define MSTDN_EMOJIS_SQL(domain, text)                                        \
    "(SELECT json_agg(json_build_array(ce.shortcode, ce.image_remote_url,"    \
    "  ce.id::text, ce.image_file_name, ce.image_content_type,"               \
    "  to_char(ce.updated_at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))"             \
    "  ORDER BY ce.shortcode)"                                                \
    "  FROM custom_emojis ce"                                                 \
    "  WHERE (ce.domain = " domain " OR (" domain " IS NULL"                  \
    "   AND ce.domain IS NULL AND ce.image_file_name IS NOT NULL))"           \
    "  AND NOT ce.disabled"                                                   \
    "  AND (ce.image_remote_url IS NOT NULL OR ce.domain IS NULL)"            \
    "  AND ce.shortcode IN (SELECT (regexp_matches(" text ","                 \
    "   ':([A-Za-z0-9_]{2,}):', 'g'))[1]))"

/* The custom emojis of an account (Account#emojis): those its display
 * name, note and profile fields (names and values) name; `a` is the SQL
 * alias of its accounts row. */
#define MSTDN_ACCOUNT_EMOJIS_SQL(a)                                           \
    MSTDN_EMOJIS_SQL(a ".domain", a ".display_name || ' ' || " a ".note"     \
                     " || ' ' || coalesce(" a ".fields::text, '')")

#endif
