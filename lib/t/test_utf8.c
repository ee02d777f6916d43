/* Unit tests of lib/mstdn_utf8: strict UTF-8, lengths, downcase. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mstdn_utf8.h"


#define BAD(s, at)                                                            \
    do {                                                                      \
        print_message("# bad at %d\n", at);                                   \
        assert_int_equal(mstdn_utf8_check((const unsigned char *) s,         \
                                          sizeof(s) - 1, 1), at);            \
    } while (0)

#define GOOD(s)                                                               \
    assert_int_equal(mstdn_utf8_check((const unsigned char *) s,             \
                                      sizeof(s) - 1, 1), MSTDN_UTF8_VALID)


static void
check(void **state)
{
    GOOD("");
    GOOD("\x7f");
    GOOD("\xc2\x80\xdf\xbf");                       /* U+0080, U+07FF */
    GOOD("\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80");   /* U+0800 D7FF E000 */
    GOOD("\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf"); /* FFFF 10000 10FFFF */

    BAD("\x80", 0);                                 /* lone continuation */
    BAD("a\xbf", 1);
    BAD("\xc0\x80", 0);                             /* overlong NUL */
    BAD("\xc1\xbf", 0);                             /* overlong */
    BAD("\xe0\x9f\xbf", 0);                         /* overlong 3 bytes */
    BAD("\xf0\x8f\xbf\xbf", 0);                     /* overlong 4 bytes */
    BAD("ab\xed\xa0\x80", 2);                       /* U+D800 */
    BAD("\xed\xbf\xbf", 0);                         /* U+DFFF */
    BAD("\xf4\x90\x80\x80", 0);                     /* U+110000 */
    BAD("\xf5\x80\x80\x80", 0);
    BAD("\xf8\x88\x80\x80\x80", 0);                 /* 5 bytes */
    BAD("\xfe", 0);
    BAD("\xff", 0);
    BAD("x\xc3", 1);                                /* truncated */
    BAD("x\xe2\x82", 1);
    BAD("x\xf0\x9f\x98", 1);
    BAD("\xe2\x28\xa1", 0);                         /* bad continuation */

    /* NUL: allowed or not */
    assert_int_equal(mstdn_utf8_check((const unsigned char *) "ab\0", 3, 0), 2);
    assert_int_equal(mstdn_utf8_check((const unsigned char *) "ab\0", 3, 1),
                     MSTDN_UTF8_VALID);
}


static void
length(void **state)
{
    assert_int_equal(mstdn_utf8_length((const unsigned char *) "", 0), 0);
    assert_int_equal(mstdn_utf8_length((const unsigned char *)
                                       "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
                                       10), 4);
}


static void
downcase(void **state)
{
    unsigned char  out[64];
    size_t         n;

#define DOWN(in, expected)                                                    \
    do {                                                                      \
        n = mstdn_utf8_downcase((const unsigned char *) in, sizeof(in) - 1,   \
                                out);                                         \
        assert_true(n <= MSTDN_UTF8_DOWNCASE_MAX(sizeof(in) - 1));            \
        assert_int_equal(n, sizeof(expected) - 1);                            \
        assert_memory_equal(out, expected, n);                                \
    } while (0)

    DOWN("", "");
    DOWN("ABC xyz 123", "abc xyz 123");
    DOWN("\xc3\x89" "COLE", "\xc3\xa9" "cole");                 /* E acute */
    DOWN("\xce\xa3\xce\x91\xce\xa3", "\xcf\x83\xce\xb1\xcf\x83"); /* no final sigma */
    DOWN("\xc4\xb0", "i\xcc\x87");                              /* U+0130 */
    DOWN("\xc8\xba", "\xe2\xb1\xa5");                           /* grows: U+023A */
    DOWN("\xe1\xba\x9e", "\xc3\x9f");                           /* capital sharp s */
    DOWN("\xef\xbc\xa1", "\xef\xbd\x81");                       /* full-width A */
    DOWN("\xf0\x90\x90\x80", "\xf0\x90\x90\xa8");               /* Deseret */
    DOWN("a\xffZ", "a\xffz");                                   /* not UTF-8: kept */
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(check),
        cmocka_unit_test(length),
        cmocka_unit_test(downcase),
    };

    setenv("CMOCKA_MESSAGE_OUTPUT", "TAP", 0);

    return cmocka_run_group_tests_name("utf8", tests, NULL, NULL);
}
