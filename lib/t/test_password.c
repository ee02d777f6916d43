/* Unit tests of lib/mstdn_password: Devise-compatible bcrypt. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mstdn_password.h"


static void
known_vectors(void **state)
{
    /* OpenWall's crypt_blowfish test vectors */
    assert_true(mstdn_password_verify("U*U", 3,
        "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"));
    assert_true(mstdn_password_verify("", 0,
        "$2a$05$CCCCCCCCCCCCCCCCCCCCC.7uG0VCzI2bS7j6ymqJi9CdcdxiRTWNy"));
    assert_false(mstdn_password_verify("U*V", 3,
        "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"));
}


static void
hash_and_verify(void **state)
{
    char  h[MSTDN_PASSWORD_HASH_MAX], h2[MSTDN_PASSWORD_HASH_MAX];

    assert_int_equal(mstdn_password_hash("correct horse", 13, 4, h), 0);
    assert_memory_equal(h, "$2a$04$", 7);
    assert_int_equal(strlen(h), 60);
    assert_true(mstdn_password_verify("correct horse", 13, h));
    assert_false(mstdn_password_verify("correct horsf", 13, h));
    assert_false(mstdn_password_verify("correct hors", 12, h));

    /* a fresh salt each time */
    assert_int_equal(mstdn_password_hash("correct horse", 13, 4, h2), 0);
    assert_string_not_equal(h, h2);

    /* default cost */
    assert_int_equal(mstdn_password_hash("pw", 2, 10, h), 0);
    assert_memory_equal(h, "$2a$10$", 7);
}


static void
rejects(void **state)
{
    char  h[MSTDN_PASSWORD_HASH_MAX];

    assert_int_equal(mstdn_password_hash("pw", 2, 3, h), -1);
    assert_int_equal(mstdn_password_hash("p\0w", 3, 4, h), -1);
    assert_false(mstdn_password_verify("pw", 2, ""));
    assert_false(mstdn_password_verify("pw", 2, "plaintext"));
    assert_false(mstdn_password_verify("pw", 2, "$1$abc$def"));
    assert_true(mstdn_secure_equal("abc", "abc", 3));
    assert_false(mstdn_secure_equal("abc", "abd", 3));
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(known_vectors),
        cmocka_unit_test(hash_and_verify),
        cmocka_unit_test(rejects),
    };

    setenv("CMOCKA_MESSAGE_OUTPUT", "TAP", 0);

    return cmocka_run_group_tests_name("password", tests, NULL, NULL);
}
