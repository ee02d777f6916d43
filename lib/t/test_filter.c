/* Unit tests of lib/mstdn_filter: CustomFilter's keyword matching. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mstdn_filter.h"


/* the matched text of one keyword in text, or NULL */
static const char *
match1(const char *text, const char *keyword, int whole_word)
{
    static char             out[256];
    size_t                  which, start, len;
    mstdn_filter_keyword_t  k = { keyword, strlen(keyword), whole_word };

    if (!mstdn_filter_match(text, strlen(text), &k, 1, &which, &start, &len)) {
        return NULL;
    }

    assert_int_equal(which, 0);
    assert_true(len < sizeof(out));
    memcpy(out, text + start, len);
    out[len] = '\0';

    return out;
}


/* not whole_word: /#{Regexp.escape(keyword)}/i anywhere */
static void
substring(void **state)
{
    assert_string_equal(match1("I like cats", "cat", 0), "cat");
    assert_string_equal(match1("CATEGORY", "cat", 0), "CAT");
    assert_string_equal(match1("a Cat!", "cAT", 0), "Cat");
    assert_null(match1("a dog", "cat", 0));
    /* Regexp.escape: metacharacters are themselves */
    assert_string_equal(match1("1+1=2", "1+1", 0), "1+1");
    assert_null(match1("11=2", "1+1", 0));
    assert_string_equal(match1("a.b", ".", 0), ".");
    assert_null(match1("ab", ".", 0));
    /* Unicode case-insensitivity */
    assert_string_equal(match1("\xc3\x89T\xc3\x89", "\xc3\xa9t\xc3\xa9", 0),
                        "\xc3\x89T\xc3\x89");                     /* ÉTÉ/été */
    assert_string_equal(match1("\xce\x9a\xce\x91\xce\x9b\xce\x97", "\xce\xba\xce\xb1", 0),
                        "\xce\x9a\xce\x91");                      /* ΚΑΛΗ/κα */
    assert_null(match1("", "cat", 0));
    assert_null(match1("cat", "", 0));
}


/* whole_word: \b at the ends that are word characters */
static void
whole_word(void **state)
{
    assert_string_equal(match1("I like cats and a cat.", "cat", 1), "cat");
    assert_null(match1("I like cats", "cat", 1));
    assert_null(match1("concatenate", "cat", 1));
    assert_string_equal(match1("CAT", "cat", 1), "CAT");
    assert_string_equal(match1("(cat)", "cat", 1), "cat");
    /* _ and digits are word characters */
    assert_null(match1("cat_food", "cat", 1));
    assert_null(match1("cat9", "cat", 1));
    /* letters beyond ASCII are word characters: no boundary */
    assert_null(match1("cat\xc3\xa9", "cat", 1));                   /* caté */
    assert_null(match1("\xd0\xb6" "cat", "cat", 1));                   /* жcat */
    assert_string_equal(match1("\xd0\xba\xd0\xbe\xd1\x82 cat", "\xd0\xba\xd0\xbe\xd1\x82", 1),
                        "\xd0\xba\xd0\xbe\xd1\x82");                /* кот */
    assert_null(match1("\xd0\xba\xd0\xbe\xd1\x82\xd1\x8b", "\xd0\xba\xd0\xbe\xd1\x82", 1));
    /* an end that is not a word character needs no boundary there */
    assert_null(match1("#tagged", "#tag", 1));
    assert_string_equal(match1("x#tag", "#tag", 1), "#tag");
    assert_string_equal(match1("#tag tagged", "tag ", 1), "tag ");
    assert_null(match1("xtag tagged", "tag ", 1));
    assert_string_equal(match1("x#tag y", "#tag", 1), "#tag");
    assert_string_equal(match1("wow!!!", "!!", 1), "!!");
    assert_string_equal(match1("a-b", "-", 1), "-");
    /* spaces inside the keyword are literal */
    assert_string_equal(match1("new york city", "York City", 1), "york city");
    assert_null(match1("new yorkcity", "york city", 1));
    /* a later occurrence at a boundary is found */
    assert_string_equal(match1("cats cat", "cat", 1), "cat");
}


/* Regexp.union: the leftmost match, then the first keyword listed */
static void
union_order(void **state)
{
    size_t                  which, start, len;
    mstdn_filter_keyword_t  k[3] = {
        { "dog", 3, 0 }, { "ca", 2, 0 }, { "cat", 3, 0 }
    };
    const char             *text = "a cat and a dog";

    assert_true(mstdn_filter_match(text, strlen(text), k, 3, &which, &start,
                                   &len));
    assert_int_equal(which, 1);
    assert_int_equal(start, 2);
    assert_int_equal(len, 2);

    /* an empty keyword is skipped, not a match everywhere */
    k[1].len = 0;
    assert_true(mstdn_filter_match(text, strlen(text), k, 3, &which, &start,
                                   &len));
    assert_int_equal(which, 2);
    assert_int_equal(len, 3);

    assert_false(mstdn_filter_match("nothing", 7, k, 0, &which, &start, &len));
}


/* bytes that are not UTF-8 match only themselves */
static void
invalid_utf8(void **state)
{
    assert_string_equal(match1("a\xff" "cat", "cat", 1), "cat");
    assert_null(match1("a\xff", "\xfe", 0));
    assert_string_equal(match1("a\xff", "\xff", 0), "\xff");
    assert_null(match1("\xe2\x82", "\xe2\x82\xac", 0));   /* truncated € */
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(substring),
        cmocka_unit_test(whole_word),
        cmocka_unit_test(union_order),
        cmocka_unit_test(invalid_utf8),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
