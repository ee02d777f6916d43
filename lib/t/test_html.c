/* Unit tests of lib/mstdn_html (paragraphs: test_text.c). */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mstdn_html.h"


static void
escape(void **state)
{
    char    out[64];
    size_t  n;

    n = mstdn_html_escape(out, "'\"'", 3);
    assert_int_equal(n, 16);
    assert_memory_equal(out, "&#39;&quot;&#39;", 16);

    /* all five, and everything else as it is */
    n = mstdn_html_escape(out, "a&b<c>d\"e'f\xc3\xa9", 13);
    assert_int_equal(n, 32);
    assert_memory_equal(out, "a&amp;b&lt;c&gt;d&quot;e&#39;f\xc3\xa9", 32);
    assert_true(n <= MSTDN_HTML_ESCAPE_MAX(13));
}


static void
url_escape(void **state)
{
    char    out[128];
    size_t  n;

    /* unreserved bytes stay, the rest %XX (upper case), UTF-8 byte-wise */
    n = mstdn_url_escape(out, "aZ09-._~ /?#&=+%\xc3\xa9", 18, 0);
    assert_true(n <= MSTDN_URL_ESCAPE_MAX(18));
    assert_int_equal(n, 38);
    assert_memory_equal(out, "aZ09-._~%20%2F%3F%23%26%3D%2B%25%C3%A9", n);

    /* CGI.escape: a space is '+' */
    n = mstdn_url_escape(out, "a b+c", 5, MSTDN_URL_PLUS);
    assert_int_equal(n, 7);
    assert_memory_equal(out, "a+b%2Bc", n);

    /* a Rails path keeps "/" and the sub-delimiters, not '?', '#', ' ' */
    n = mstdn_url_escape(out, "/tags/a b?#!$&'()*+,;=:@\xc3\xa9", 26,
                         MSTDN_URL_PATH);
    assert_int_equal(n, 36);
    assert_memory_equal(out, "/tags/a%20b%3F%23!$&'()*+,;=:@%C3%A9", n);

    /* a NUL byte is escaped in every mode */
    n = mstdn_url_escape(out, "a\0b", 3, MSTDN_URL_PATH);
    assert_int_equal(n, 5);
    assert_memory_equal(out, "a%00b", n);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(escape),
        cmocka_unit_test(url_escape),
    };

    setenv("CMOCKA_MESSAGE_OUTPUT", "TAP", 0);

    return cmocka_run_group_tests_name("html", tests, NULL, NULL);
}
