/* Unit tests of lib/mstdn_grapheme: extended grapheme clusters. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mstdn_grapheme.h"


#define COUNT(s, n)                                                           \
    do {                                                                      \
        print_message("# [%s]\n", s);                                         \
        assert_int_equal(mstdn_grapheme_count(s, sizeof(s) - 1), n);          \
    } while (0)


static void
emoji(void **state)
{
    COUNT("", 0);
    COUNT("abc", 3);
    /* man ZWJ woman ZWJ girl */
    COUNT("\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d"
          "\xf0\x9f\x91\xa7", 1);
    /* woman, skin tone, ZWJ, laptop */
    COUNT("\xf0\x9f\x91\xa9\xf0\x9f\x8f\xbd\xe2\x80\x8d\xf0\x9f\x92\xbb", 1);
    /* rainbow flag: white flag VS16 ZWJ rainbow */
    COUNT("\xf0\x9f\x8f\xb3\xef\xb8\x8f\xe2\x80\x8d\xf0\x9f\x8c\x88", 1);
    /* thumbs up + tone; heart + VS16; keycap 1 */
    COUNT("\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd", 1);
    COUNT("\xe2\x9d\xa4\xef\xb8\x8f", 1);
    COUNT("1\xef\xb8\x8f\xe2\x83\xa3", 1);
    /* ZWJ after a letter joins it, the emoji after is its own (GB11) */
    COUNT("a\xe2\x80\x8d\xf0\x9f\x91\xa9", 2);
    COUNT("a\xe2\x80\x8d" "b", 2);
    /* England: black flag and tag characters */
    COUNT("\xf0\x9f\x8f\xb4\xf3\xa0\x81\xa7\xf3\xa0\x81\xa2\xf3\xa0\x81\xa5"
          "\xf3\xa0\x81\xae\xf3\xa0\x81\xa7\xf3\xa0\x81\xbf", 1);
}


static void
flags(void **state)
{
    /* regional indicators pair up from the left: JP FR DE */
    COUNT("\xf0\x9f\x87\xaf\xf0\x9f\x87\xb5\xf0\x9f\x87\xab\xf0\x9f\x87\xb7"
          "\xf0\x9f\x87\xa9\xf0\x9f\x87\xaa", 3);
    /* three indicators: a flag and a lone one */
    COUNT("\xf0\x9f\x87\xaf\xf0\x9f\x87\xb5\xf0\x9f\x87\xab", 2);
    COUNT("\xf0\x9f\x87\xaf", 1);
    /* a letter between restarts the pairing */
    COUNT("\xf0\x9f\x87\xaf" "a\xf0\x9f\x87\xaf\xf0\x9f\x87\xb5", 3);
}


static void
marks(void **state)
{
    COUNT("caf\xc3\xa9", 4);                    /* precomposed */
    COUNT("cafe\xcc\x81", 4);                   /* e + U+0301 */
    COUNT("e\xcc\x81\xcc\xa3\xcc\x88", 1);      /* three marks */
    COUNT("\xcc\x81", 1);                       /* a mark alone */
    /* Devanagari: namaste, with a virama and a spacing mark */
    COUNT("\xe0\xa4\xa8\xe0\xa4\xae\xe0\xa4\xb8\xe0\xa5\x8d\xe0\xa4\xa4"
          "\xe0\xa5\x87", 4);
    COUNT("\xe0\xb8\x81\xe0\xb8\xb3", 1);       /* Thai SARA AM */
    COUNT("\xd8\x80" "1", 1);                   /* prepended U+0600 */
}


static void
hangul(void **state)
{
    COUNT("\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8", 1);   /* L V T */
    COUNT("\xea\xb0\x80\xe1\x86\xa8", 1);               /* LV T */
    COUNT("\xea\xb0\x81\xe1\x86\xa8", 1);               /* LVT T */
    COUNT("\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4", 3);   /* 3 syllables */
    COUNT("\xe1\x84\x80\xe1\x84\x80\xea\xb0\x80", 1);   /* L L LV */
    COUNT("\xe1\x86\xa8\xe1\x85\xa1", 2);               /* T V */
}


static void
controls(void **state)
{
    COUNT("a\r\nb", 3);                         /* CR LF is one */
    COUNT("a\n\rb", 4);                         /* LF CR is two */
    COUNT("\r\r\n\n", 3);
    COUNT("\n\xcc\x81", 2);                     /* no mark on a control */
    COUNT("\t\xe2\x80\x8d", 2);
    COUNT("a\0b", 3);                           /* NUL is a control */
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(emoji),
        cmocka_unit_test(flags),
        cmocka_unit_test(marks),
        cmocka_unit_test(hangul),
        cmocka_unit_test(controls),
    };

    setenv("CMOCKA_MESSAGE_OUTPUT", "TAP", 0);

    return cmocka_run_group_tests_name("grapheme", tests, NULL, NULL);
}
