#ifndef MSTDN_SEARCH_QUERY_H
#define MSTDN_SEARCH_QUERY_H

/*
 * Mastodon's status search syntax (SearchQueryParser and
 * SearchQueryTransformer of Mastodon 4.2+): clauses separated by blanks,
 * each [+|-][prefix:](term | "phrase").  A term is a run of non-blank
 * bytes, a phrase the words between two double quotes.  Prefixes: has, is,
 * language, from, before, after, during, in; any other word before a colon
 * is part of a term (so URLs stay terms).  '+' or none: the clause must
 * hold, '-': it must not.  A '"' that is never closed makes what follows
 * it a term, as Mastodon's grammar does.
 *
 * The parse is bounded: at most MSTDN_SEARCH_QUERY_MAX bytes and
 * MSTDN_SEARCH_QUERY_CLAUSES clauses; clauses point into the query.
 */

#include <stddef.h>

#define MSTDN_SEARCH_QUERY_MAX      1024
#define MSTDN_SEARCH_QUERY_CLAUSES  32

typedef enum {
    MSTDN_SQ_TERM = 0,
    MSTDN_SQ_PHRASE,
    MSTDN_SQ_HAS,
    MSTDN_SQ_IS,
    MSTDN_SQ_LANGUAGE,
    MSTDN_SQ_FROM,
    MSTDN_SQ_BEFORE,
    MSTDN_SQ_AFTER,
    MSTDN_SQ_DURING,
    MSTDN_SQ_IN
} mstdn_sq_kind_t;

typedef struct {
    mstdn_sq_kind_t   kind;
    int               negated;     /* '-' */
    const char       *text;        /* the term, the phrase's inside or the
                                      prefix's value (itself a term or a
                                      phrase's inside) */
    size_t            len;
} mstdn_sq_clause_t;

typedef struct {
    mstdn_sq_clause_t  clauses[MSTDN_SEARCH_QUERY_CLAUSES];
    size_t             n;
} mstdn_search_query_t;

/*
 * Parses q into *out: MSTDN_OK, MSTDN_ETOOBIG (longer than the bound) or
 * MSTDN_ETOOMANY (more clauses than the bound).  Empty phrases and prefixes
 * without a value are left out.
 */
int mstdn_search_query_parse(const char *q, size_t len,
    mstdn_search_query_t *out);

/*
 * A date as the date prefixes take it, YYYY-MM-DD (a day that exists, years
 * 1000 to 9999), as days since 1970-01-01 in *days: 0, or -1 when it is not
 * one.
 */
int mstdn_search_date(const char *s, size_t len, long *days);

/* days since 1970-01-01 as YYYY-MM-DD and a NUL (buf: 11 bytes) */
void mstdn_search_date_format(long days, char *buf);

#endif
