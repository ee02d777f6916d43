/* Unit tests of lib/mstdn_search_query: Mastodon's status search syntax. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mstdn_search_query.h"
#include "mstdn_value.h"


static void
clause(mstdn_search_query_t *q, size_t i, mstdn_sq_kind_t kind, int negated,
    const char *text)
{
    assert_true(i < q->n);
    assert_int_equal(q->clauses[i].kind, kind);
    assert_int_equal(q->clauses[i].negated, negated);
    assert_int_equal(q->clauses[i].len, strlen(text));
    assert_memory_equal(q->clauses[i].text, text, strlen(text));
}


static void
parse(const char *s, mstdn_search_query_t *q)
{
    print_message("# [%s]\n", s);
    assert_int_equal(mstdn_search_query_parse(s, strlen(s), q), MSTDN_OK);
}


static void
terms_and_phrases(void **state)
{
    mstdn_search_query_t  q;

    parse("", &q);
    assert_int_equal(q.n, 0);

    parse("  \t\n ", &q);
    assert_int_equal(q.n, 0);

    parse("hello world", &q);
    assert_int_equal(q.n, 2);
    clause(&q, 0, MSTDN_SQ_TERM, 0, "hello");
    clause(&q, 1, MSTDN_SQ_TERM, 0, "world");

    parse("+cat -dog \"black  cat\" -\"bad dog\"", &q);
    assert_int_equal(q.n, 4);
    clause(&q, 0, MSTDN_SQ_TERM, 0, "cat");
    clause(&q, 1, MSTDN_SQ_TERM, 1, "dog");
    clause(&q, 2, MSTDN_SQ_PHRASE, 0, "black  cat");
    clause(&q, 3, MSTDN_SQ_PHRASE, 1, "bad dog");

    /* an unclosed quote is part of a term */
    parse("\"open ended", &q);
    assert_int_equal(q.n, 2);
    clause(&q, 0, MSTDN_SQ_TERM, 0, "\"open");
    clause(&q, 1, MSTDN_SQ_TERM, 0, "ended");

    /* empty phrase, lone operator */
    parse("\"\" - + x", &q);
    assert_int_equal(q.n, 3);
    clause(&q, 0, MSTDN_SQ_TERM, 0, "-");
    clause(&q, 1, MSTDN_SQ_TERM, 0, "+");
    clause(&q, 2, MSTDN_SQ_TERM, 0, "x");

    /* a closing quote ends the phrase; what follows is the next clause */
    parse("\"a b\"c", &q);
    assert_int_equal(q.n, 2);
    clause(&q, 0, MSTDN_SQ_PHRASE, 0, "a b");
    clause(&q, 1, MSTDN_SQ_TERM, 0, "c");
}


static void
prefixes(void **state)
{
    mstdn_search_query_t  q;

    parse("has:media -is:reply language:fr from:@alice@example.com"
          " before:2024-01-02 after:\"2023-12-31\" during:2024-01-01"
          " in:library is:sensitive -has:poll", &q);
    assert_int_equal(q.n, 10);
    clause(&q, 0, MSTDN_SQ_HAS, 0, "media");
    clause(&q, 1, MSTDN_SQ_IS, 1, "reply");
    clause(&q, 2, MSTDN_SQ_LANGUAGE, 0, "fr");
    clause(&q, 3, MSTDN_SQ_FROM, 0, "@alice@example.com");
    clause(&q, 4, MSTDN_SQ_BEFORE, 0, "2024-01-02");
    clause(&q, 5, MSTDN_SQ_AFTER, 0, "2023-12-31");
    clause(&q, 6, MSTDN_SQ_DURING, 0, "2024-01-01");
    clause(&q, 7, MSTDN_SQ_IN, 0, "library");
    clause(&q, 8, MSTDN_SQ_IS, 0, "sensitive");
    clause(&q, 9, MSTDN_SQ_HAS, 1, "poll");

    /* unknown prefixes and URLs are terms; a prefix without value: none */
    parse("https://example.com/x issue:1 HAS:media from: x", &q);
    assert_int_equal(q.n, 4);
    clause(&q, 0, MSTDN_SQ_TERM, 0, "https://example.com/x");
    clause(&q, 1, MSTDN_SQ_TERM, 0, "issue:1");
    clause(&q, 2, MSTDN_SQ_TERM, 0, "HAS:media");
    clause(&q, 3, MSTDN_SQ_TERM, 0, "x");
}


static void
bounds(void **state)
{
    char                  buf[MSTDN_SEARCH_QUERY_MAX + 2];
    size_t                i;
    mstdn_search_query_t  q;

    memset(buf, 'a', sizeof(buf));
    assert_int_equal(mstdn_search_query_parse(buf, MSTDN_SEARCH_QUERY_MAX,
                                              &q), MSTDN_OK);
    assert_int_equal(q.n, 1);
    assert_int_equal(mstdn_search_query_parse(buf,
                                              MSTDN_SEARCH_QUERY_MAX + 1,
                                              &q), MSTDN_ETOOBIG);

    for (i = 0; i < 2 * MSTDN_SEARCH_QUERY_CLAUSES; i++) {
        buf[2 * i] = 'x';
        buf[2 * i + 1] = ' ';
    }

    assert_int_equal(mstdn_search_query_parse(buf,
                         2 * MSTDN_SEARCH_QUERY_CLAUSES, &q), MSTDN_OK);
    assert_int_equal(q.n, MSTDN_SEARCH_QUERY_CLAUSES);
    assert_int_equal(mstdn_search_query_parse(buf,
                         2 * MSTDN_SEARCH_QUERY_CLAUSES + 2, &q),
                     MSTDN_ETOOMANY);
}


static void
dates(void **state)
{
    long  d;
    char  out[11];

    assert_int_equal(mstdn_search_date("1970-01-01", 10, &d), 0);
    assert_int_equal(d, 0);
    assert_int_equal(mstdn_search_date("2024-02-29", 10, &d), 0);
    mstdn_search_date_format(d + 1, out);
    assert_string_equal(out, "2024-03-01");
    assert_int_equal(mstdn_search_date("2023-12-31", 10, &d), 0);
    mstdn_search_date_format(d + 1, out);
    assert_string_equal(out, "2024-01-01");
    mstdn_search_date_format(d, out);
    assert_string_equal(out, "2023-12-31");

    assert_int_equal(mstdn_search_date("2023-02-29", 10, &d), -1);
    assert_int_equal(mstdn_search_date("1900-02-29", 10, &d), -1);
    assert_int_equal(mstdn_search_date("2000-02-29", 10, &d), 0);
    assert_int_equal(mstdn_search_date("2023-13-01", 10, &d), -1);
    assert_int_equal(mstdn_search_date("2023-04-31", 10, &d), -1);
    assert_int_equal(mstdn_search_date("2023-1-01", 9, &d), -1);
    assert_int_equal(mstdn_search_date("2023/01/01", 10, &d), -1);
    assert_int_equal(mstdn_search_date("yesterday!", 10, &d), -1);
    assert_int_equal(mstdn_search_date("0999-01-01", 10, &d), -1);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(terms_and_phrases),
        cmocka_unit_test(prefixes),
        cmocka_unit_test(bounds),
        cmocka_unit_test(dates),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
