/* Unit tests of lib/mstdn_oauth: scopes, redirect URIs, secrets. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mstdn_oauth.h"


static void
scopes(void **state)
{
    const char  *bad;
    size_t       bad_len;

    assert_int_equal(mstdn_scopes_check("read", 4, &bad, &bad_len), 0);
    assert_int_equal(mstdn_scopes_check("read write follow push", 22,
                                        &bad, &bad_len), 0);
    assert_int_equal(mstdn_scopes_check(" read:statuses  admin:read:accounts ",
                                        36, &bad, &bad_len), 0);
    assert_int_equal(mstdn_scopes_check("read wrte", 9, &bad, &bad_len), -1);
    assert_int_equal(bad_len, 4);
    assert_memory_equal(bad, "wrte", 4);
    assert_int_equal(mstdn_scopes_check("", 0, &bad, &bad_len), -1);
    assert_int_equal(mstdn_scopes_check("   ", 3, &bad, &bad_len), -1);
    assert_int_equal(mstdn_scopes_check("READ", 4, &bad, &bad_len), -1);
}


static void
scope_hierarchy(void **state)
{
    static const struct {
        const char  *granted;
        const char  *required;
        int          ok;
    } cases[] = {
        { "read", "read:accounts", 1 },
        { "read", "read", 1 },
        { "read:accounts", "read", 0 },
        { "read:accounts", "read:accounts", 1 },
        { "read:statuses", "read:accounts", 0 },
        { "write", "read:accounts", 0 },
        { "write", "write:follows follow", 1 },
        { "follow", "write:follows follow", 1 },
        { "read:follows", "write:follows follow", 0 },
        { "admin:read", "admin:read:accounts", 1 },
        { "read", "admin:read:accounts", 0 },
        { "admin:read", "admin:write:accounts", 0 },
        { "profile", "read:accounts profile", 1 },
        { "readx", "read", 0 },
        { "read write follow push", "push", 1 },
        { "", "read", 0 },
        { "", "", 1 },
        { "read", "", 1 },
        { "reading", "reading:x", 0 },
    };
    size_t  i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        print_message("# %s / %s\n", cases[i].granted, cases[i].required);
        assert_int_equal(mstdn_scopes_allow(cases[i].granted,
                                            strlen(cases[i].granted),
                                            cases[i].required),
                         cases[i].ok);
    }
}


static void
redirect_uris(void **state)
{
    static const struct {
        const char  *uri;
        int          ok;
    } cases[] = {
        { "urn:ietf:wg:oauth:2.0:oob", 1 },
        { "https://elk.zone/api/mastodon.social/oauth/callback", 1 },
        { "http://localhost:8080/cb?x=1", 1 },
        { "com.keylesspalace.tusky://oauth", 1 },
        { "toot://callback", 1 },
        { "/relative/path", 0 },
        { "no-scheme", 0 },
        { "https://example.com/cb#frag", 0 },
        { "https:///nohost", 0 },
        { "https:", 0 },
        { "https://exa mple.com/", 0 },
        { "1http://x", 0 },
        { "javascript:alert(1)", 0 },
        { "JavaScript://x", 0 },
        { "data:text/html,x", 0 },
        { "vbscript:x", 0 },
        { "", 0 },
    };
    size_t  i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        print_message("# %s\n", cases[i].uri);
        if (cases[i].ok) {
            assert_null(mstdn_redirect_uri_check(cases[i].uri,
                                                 strlen(cases[i].uri)));
        } else {
            assert_non_null(mstdn_redirect_uri_check(cases[i].uri,
                                                     strlen(cases[i].uri)));
        }
    }
}


static void
secrets(void **state)
{
    char    a[MSTDN_SECRET_LEN + 1], b[MSTDN_SECRET_LEN + 1];
    size_t  i;

    assert_int_equal(mstdn_random_secret(a), 0);
    assert_int_equal(mstdn_random_secret(b), 0);
    assert_int_equal(strlen(a), 43);
    assert_string_not_equal(a, b);

    for (i = 0; i < 43; i++) {
        assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
                               "vwxyz0123456789-_", a[i]));
    }
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scopes),
        cmocka_unit_test(scope_hierarchy),
        cmocka_unit_test(redirect_uris),
        cmocka_unit_test(secrets),
    };

    setenv("CMOCKA_MESSAGE_OUTPUT", "TAP", 0);

    return cmocka_run_group_tests_name("oauth", tests, NULL, NULL);
}
