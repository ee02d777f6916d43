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


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(escape),
    };

    setenv("CMOCKA_MESSAGE_OUTPUT", "TAP", 0);

    return cmocka_run_group_tests_name("html", tests, NULL, NULL);
}
