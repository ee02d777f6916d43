/* Unit tests of lib/mstdn_logfilter: secrets out of logged query strings. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mstdn_logfilter.h"


/* the filtered query, or "" when nothing changed */
static char *
filtered(const char *q)
{
    static char  out[1024];
    size_t       n;

    assert_true(mstdn_logfilter_size(q, strlen(q)) < sizeof(out));

    n = mstdn_logfilter_query(q, strlen(q), out);
    out[n] = '\0';

    return out;
}


static void
nothing_secret(void **state)
{
    assert_string_equal(filtered(""), "");
    assert_string_equal(filtered("limit=20&max_id=5"), "");
    assert_string_equal(filtered("a&b=&&c"), "");
    /* a name alone has no value to hide */
    assert_string_equal(filtered("access_token"), "");
}


static void
secrets(void **state)
{
    assert_string_equal(filtered("access_token=abc"),
                        "access_token=[FILTERED]");
    assert_string_equal(filtered("limit=1&access_token=abc&max_id=2"),
                        "limit=1&access_token=[FILTERED]&max_id=2");
    assert_string_equal(filtered("code=x&client_secret=y&client_id=z"),
                        "code=[FILTERED]&client_secret=[FILTERED]"
                        "&client_id=z");
    assert_string_equal(filtered("password=p&user[password]=q"),
                        "password=[FILTERED]&user[password]=[FILTERED]");
    assert_string_equal(filtered("refresh_token=r&confirmation_token=c"),
                        "refresh_token=[FILTERED]"
                        "&confirmation_token=[FILTERED]");
    assert_string_equal(filtered("otp_attempt=1&private_key=k&public_key=l"),
                        "otp_attempt=[FILTERED]&private_key=[FILTERED]"
                        "&public_key=[FILTERED]");
    assert_string_equal(filtered("access_token="), "access_token=[FILTERED]");
    assert_string_equal(filtered("x=1&token=a=b&"), "x=1&token=[FILTERED]&");
}


static void
names_decoded(void **state)
{
    /* case, %-encoding and '+' do not hide a name */
    assert_string_equal(filtered("Access_Token=abc"), "Access_Token=[FILTERED]");
    assert_string_equal(filtered("access%5Ftoken=abc"),
                        "access%5Ftoken=[FILTERED]");
    assert_string_equal(filtered("%54OKEN=abc"), "%54OKEN=[FILTERED]");
    /* bad %-encoding: the raw name still counts */
    assert_string_equal(filtered("token%zz=abc"), "token%zz=[FILTERED]");
}


static void
size_bound(void **state)
{
    const char  *q = "token=&token=&token=";
    char         out[64];
    size_t       n;

    n = mstdn_logfilter_query(q, strlen(q), out);
    assert_int_equal(n, strlen(q) + 3 * 10);
    assert_true(n <= mstdn_logfilter_size(q, strlen(q)));
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nothing_secret),
        cmocka_unit_test(secrets),
        cmocka_unit_test(names_decoded),
        cmocka_unit_test(size_bound),
    };

    setenv("CMOCKA_MESSAGE_OUTPUT", "TAP", 0);

    return cmocka_run_group_tests_name("logfilter", tests, NULL, NULL);
}
