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
