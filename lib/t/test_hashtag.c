/* Unit tests of lib/mstdn_hashtag: Mastodon's HashtagNormalizer. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mstdn_hashtag.h"


static void
check(const char *in, const char *expected)
{
    char           *out;
    size_t          len;
    mstdn_arena_t  *ar;
    mstdn_alloc_t   a;

    ar = mstdn_arena_create();
    mstdn_arena_allocator(ar, &a);

    print_message("# [%s]\n", in);
    out = mstdn_hashtag_normalize(in, strlen(in), &a, &len);
    assert_non_null(out);
    assert_int_equal(strlen(out), len);
    assert_string_equal(out, expected);

    mstdn_arena_destroy(ar);
}


/* spec/lib/hashtag_normalizer_spec.rb */
static void
mastodon_spec(void **state)
{
    /* full-width Latin to basic Latin */
    check("\xef\xbc\xb3\xef\xbd\x99\xef\xbd\x8e\xef\xbd\x94\xef\xbd\x88"
          "\xef\xbd\x97\xef\xbd\x81\xef\xbd\x96\xef\xbd\x85", "synthwave");
    /* half-width Katakana to Kana: sea side liner */
    check("\xef\xbd\xbc\xef\xbd\xb0\xef\xbd\xbb\xef\xbd\xb2\xef\xbe\x84"
          "\xef\xbe\x9e\xef\xbe\x97\xef\xbd\xb2\xef\xbe\x85\xef\xbd\xb0",
          "\xe3\x82\xb7\xe3\x83\xbc\xe3\x82\xb5\xe3\x82\xa4\xe3\x83\x89"
          "\xe3\x83\xa9\xe3\x82\xa4\xe3\x83\x8a\xe3\x83\xbc");
    /* modified Latin to basic Latin */
    check("BL\xc3\x85HAJ", "blahaj");
    /* invalid characters out */
    check("#foo", "foo");
    /* valid ones kept */
    check("a\xc2\xb7" "b", "a\xc2\xb7" "b");
}


static void
more(void **state)
{
    check("", "");
    check("Mastodon", "mastodon");
    /* full-width MASTODON */
    check("\xef\xbc\xad\xef\xbc\xa1\xef\xbc\xb3\xef\xbc\xb4\xef\xbc\xaf"
          "\xef\xbc\xa4\xef\xbc\xaf\xef\xbc\xae", "mastodon");
    check("Caf\xc3\xa9_2024", "cafe_2024");
    /* decomposed e + acute: NFKC composes it, then it folds */
    check("cafe\xcc\x81", "cafe");
    /* letters the folding has no ASCII for stay: ae, sharp s, thorn, oe */
    check("\xc3\x86gir", "\xc3\xa6gir");
    check("Stra\xc3\x9f" "e", "stra\xc3\x9f" "e");
    check("\xc5\x92uvre", "\xc5\x93uvre");
    /* long s, dotless i, kra */
    check("\xc5\xbf\xc4\xb1\xc4\xb8", "sik");
    /* capital I with dot above: i and U+0307, a mark, removed */
    check("\xc4\xb0stanbul", "istanbul");
    /* no final sigma: Ruby's downcase has no context */
    check("\xce\xa3\xce\x91\xce\xa3", "\xcf\x83\xce\xb1\xcf\x83");
    /* separators kept: _ U+00B7 U+30FB U+200C; others removed */
    check("a_b\xe3\x83\xbb" "c\xe2\x80\x8c" "d", "a_b\xe3\x83\xbb" "c\xe2\x80\x8c" "d");
    check("a-b.c d!", "abcd");
    check("a\xe2\x80\x8d" "b", "ab");                    /* ZWJ goes */
    /* Thai: the marks U+0E47-0E4E stay (and those that are Alphabetic,
     * U+0E31), other marks go */
    check("\xe0\xb8\x81\xe0\xb9\x88\xe0\xb8\xb1\xcc\x81",
          "\xe0\xb8\x81\xe0\xb9\x88\xe0\xb8\xb1");
    /* emoji go; full-width digits become digits; other digits stay */
    check("\xf0\x9f\x98\x80" "x\xef\xbc\x91\xd9\xa3", "x1\xd9\xa3");
    /* NFKC: ligature fi, superscript two, circled a, roman numeral */
    check("\xef\xac\x81" "x\xc2\xb2\xe2\x93\x90\xe2\x85\xab", "fix2axii");
    /* Hangul: compatibility jamo stay letters; CJK as is */
    check("\xed\x95\x9c\xea\xb5\xad\xe6\x97\xa5\xe6\x9c\xac",
          "\xed\x95\x9c\xea\xb5\xad\xe6\x97\xa5\xe6\x9c\xac");
}


static void
strip_invalid(void **state)
{
    char    s[64];
    size_t  n;

    strcpy(s, "Caf\xc3\xa9-Cr\xc3\xa8me!\xf0\x9f\x98\x80_X");
    n = mstdn_hashtag_strip_invalid(s, strlen(s));
    assert_int_equal(n, strlen("Caf\xc3\xa9" "Cr\xc3\xa8me_X"));
    assert_memory_equal(s, "Caf\xc3\xa9" "Cr\xc3\xa8me_X", n);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mastodon_spec),
        cmocka_unit_test(more),
        cmocka_unit_test(strip_invalid),
    };

    setenv("CMOCKA_MESSAGE_OUTPUT", "TAP", 0);

    return cmocka_run_group_tests_name("hashtag", tests, NULL, NULL);
}
