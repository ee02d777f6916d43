/* Unit tests of lib/mstdn_redis_url: Mastodon's REDIS_URL forms. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mstdn_redis_url.h"


static mstdn_redis_url  u;


static int
parse(const char *s)
{
    mstdn_redis_url_free(&u);
    return mstdn_redis_url_parse(s, strlen(s), &u);
}


static void
plain(void **state)
{
    assert_int_equal(parse("127.0.0.1"), 0);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);
    assert_null(u.password);
    assert_null(u.user);
    assert_int_equal(u.tls, 0);

    assert_int_equal(parse("redis.test:6380"), 0);
    assert_string_equal(u.host, "redis.test");
    assert_int_equal(u.port, 6380);

    assert_int_equal(parse("[::1]:7000"), 0);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 7000);

    assert_int_equal(parse("[::1]"), 0);
    assert_int_equal(u.port, 6379);
}


static void
urls(void **state)
{
    assert_int_equal(parse("redis://:s3cr%40t@127.0.0.1:6390/3"), 0);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 6390);
    assert_int_equal(u.db, 3);
    assert_null(u.user);
    assert_string_equal(u.password, "s3cr@t");

    /* the last @ ends the user info */
    assert_int_equal(parse("rediss://mastodon:p@ss@10.0.0.1/"), 0);
    assert_int_equal(u.tls, 1);
    assert_string_equal(u.user, "mastodon");
    assert_string_equal(u.password, "p@ss");
    assert_string_equal(u.host, "10.0.0.1");
    assert_int_equal(u.db, 0);

    assert_int_equal(parse("redis://[::1]:6379/15"), 0);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.db, 15);

    assert_int_equal(parse("redis://u:@h"), 0);
    assert_string_equal(u.user, "u");
    assert_string_equal(u.password, "");
}


static void
unix_sockets(void **state)
{
    assert_int_equal(parse("unix:/run/redis.sock"), 0);
    assert_null(u.host);
    assert_string_equal(u.unix_path, "/run/redis.sock");

    assert_int_equal(parse("unix:///run/redis.sock?db=1&password=x%26y"), 0);
    assert_string_equal(u.unix_path, "/run/redis.sock");
    assert_int_equal(u.db, 1);
    assert_string_equal(u.password, "x&y");
}


static void
invalid(void **state)
{
    static const char  *bad[] = {
        "", "redis://", "redis://127.0.0.1:6379/x", "redis://pw@127.0.0.1",
        "unix:///run/redis.sock?db=x", "unix:///run/redis.sock?user=a",
        "unix:relative", "unix:", "host:", "host:0", "host:65536", ":6379",
        "[::1", "[::1]x", "redis://:%zz@h", "redis://:%00@h", "redis://:%4@h",
        "redis://:pw@", "redis://h/99999999999999999999999",
    };
    size_t  i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (parse(bad[i]) == 0) {
            fail_msg("\"%s\" was accepted", bad[i]);
        }
        assert_null(u.host);
        assert_null(u.password);
    }
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain),
        cmocka_unit_test(urls),
        cmocka_unit_test(unix_sockets),
        cmocka_unit_test(invalid),
    };
    int  rc;

    setenv("CMOCKA_MESSAGE_OUTPUT", "TAP", 0);

    rc = cmocka_run_group_tests_name("redis_url", tests, NULL, NULL);
    mstdn_redis_url_free(&u);

    return rc;
}
