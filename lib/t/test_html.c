/* Unit tests of lib/mstdn_html. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mstdn_html.h"


static void
check(const char *in, const char *expected)
{
    char    out[1024];
    size_t  n;

    n = mstdn_text_to_html(out, in, strlen(in));
    out[n] = '\0';
    print_message("# [%s]\n", in ? in : "(null)");
    assert_string_equal(out, expected);
    assert_true(n <= MSTDN_TEXT_HTML_MAX(strlen(in)));
}


static void
text_to_html(void **state)
{
    check("", "");
    check("hello", "<p>hello</p>");
    check("a\nb", "<p>a<br />b</p>");
    check("a\r\nb", "<p>a<br />b</p>");
    check("a\n\nb", "<p>a</p><p>b</p>");
    check("a\n\n\n\nb\nc", "<p>a</p><p>b<br />c</p>");
    check("\n\nlead and trail\n\n", "<p>lead and trail</p>");
    check("<script>alert('x') & \"y\"</script>",
          "<p>&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;</p>");
    check("\xf0\x9f\x90\x98 caf\xc3\xa9", "<p>\xf0\x9f\x90\x98 caf\xc3\xa9</p>");
}


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
        cmocka_unit_test(text_to_html),
        cmocka_unit_test(escape),
    };

    setenv("CMOCKA_MESSAGE_OUTPUT", "TAP", 0);

    return cmocka_run_group_tests_name("html", tests, NULL, NULL);
}
