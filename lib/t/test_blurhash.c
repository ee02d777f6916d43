/*
 * Unit tests of lib/mstdn_blurhash: hashes of synthetic images, checked
 * against what Wolt's reference encoder (the npm package blurhash 2.0.5,
 * encode() of the same pixels as RGBA) answers for them.  That TypeScript
 * encoder takes the largest AC value, where the C reference (and the Ruby
 * gem Mastodon uses, built on it) takes the largest absolute value, as the
 * algorithm's description says; the hashes of the images where the two
 * differ were taken from it with that one comparison made absolute.  The
 * solid and the 1x2 hashes are the same either way.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mstdn_blurhash.h"


typedef void (*pixel_fn)(int x, int y, unsigned char *rgb);


static void
gradient(int x, int y, unsigned char *p)
{
    p[0] = x * 255 / 31;
    p[1] = y * 255 / 23;
    p[2] = ((x ^ y) * 16) & 255;
}


static void
solid(int x, int y, unsigned char *p)
{
    p[0] = 10;
    p[1] = 200;
    p[2] = 30;
}


static void
checker(int x, int y, unsigned char *p)
{
    static const unsigned char  a[] = { 250, 240, 10 }, b[] = { 5, 20, 120 };

    memcpy(p, (((x >> 2) + (y >> 2)) & 1) ? a : b, 3);
}


static const char *
hash(pixel_fn f, int w, int h, int channels, int cx, int cy)
{
    static char     out[MSTDN_BLURHASH_MAX];
    unsigned char  *px;
    int             x, y;

    px = calloc((size_t) w * h, channels);
    assert_non_null(px);

    for (y = 0; y < h; y++) {
        for (x = 0; x < w; x++) {
            f(x, y, px + ((size_t) y * w + x) * channels);
        }
    }

    assert_true(mstdn_blurhash_encode(px, w, h, (size_t) w * channels,
                                      channels, cx, cy, out) > 0);
    free(px);

    return out;
}


static void
reference(void **state)
{
    assert_string_equal(hash(gradient, 32, 24, 3, 4, 3),
                        "L$HewW2owxX2l}WCjte:gJfffQfe");
    assert_string_equal(hash(gradient, 32, 24, 3, 4, 4),
                        "U$HewW2owxX2l}WCjte:gJfffQfen,WnjtfN");
    assert_string_equal(hash(solid, 8, 8, 3, 1, 1), "001JlB");
    assert_string_equal(hash(solid, 8, 8, 3, 4, 4),
                        "UN1JlBlzfQlzlzg0fQg0fQfQfQfQlzg0fQg0");
    assert_string_equal(hash(checker, 17, 13, 3, 4, 4),
                        "ULL4b_t7RnR;--R.WENLRnD?N24{%K9PIu0D");
    assert_string_equal(hash(checker, 17, 13, 3, 9, 9),
        "|ZL4b_ogWEWGD??Aoc%Jj@%JWEa#RnN2t3j?odfQRnIuRnD?9P-#ococj@xtIcNL9P0D"
        "?Rt3s,j@ocxot3%F?8IbWEWEaz%Jodj@ococa#azj[fQfQj@j@j@j?azfQfQfQ%Jj[a|"
        "j[a#odfQj[fQfQazazaza#j@fQfQfQ");
    assert_string_equal(hash(checker, 17, 13, 3, 1, 2), "9AL4b_~l");
}


static void
rgba(void **state)
{
    /* a fourth byte (alpha) is skipped, as the reference skips it */
    assert_string_equal(hash(gradient, 32, 24, 4, 4, 3),
                        "L$HewW2owxX2l}WCjte:gJfffQfe");
}


static void
bad_arguments(void **state)
{
    char           out[MSTDN_BLURHASH_MAX];
    unsigned char  px[12] = { 0 };

    assert_int_equal(mstdn_blurhash_encode(px, 2, 2, 6, 3, 0, 4, out), 0);
    assert_int_equal(mstdn_blurhash_encode(px, 2, 2, 6, 3, 4, 10, out), 0);
    assert_int_equal(mstdn_blurhash_encode(px, 0, 2, 6, 3, 4, 4, out), 0);
    assert_int_equal(mstdn_blurhash_encode(px, 2, 2, 6, 2, 4, 4, out), 0);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reference),
        cmocka_unit_test(rgba),
        cmocka_unit_test(bad_arguments),
    };

    setenv("CMOCKA_MESSAGE_OUTPUT", "TAP", 0);

    return cmocka_run_group_tests_name("blurhash", tests, NULL, NULL);
}
