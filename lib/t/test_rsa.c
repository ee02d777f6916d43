/* Unit tests of lib/mstdn_rsa: the accounts' RSA key pairs. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "mstdn_rsa.h"


static EVP_PKEY *
read_key(const char *pem, int private)
{
    BIO       *bio;
    EVP_PKEY  *key;

    bio = BIO_new_mem_buf(pem, -1);
    assert_non_null(bio);

    key = private ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)
                  : PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);

    return key;
}


static void
keypair(void **state)
{
    char      *priv, *pub, *priv2, *pub2;
    EVP_PKEY  *k1, *k2;

    assert_int_equal(mstdn_rsa_keypair(&priv, &pub), 0);

    /* the PEM forms Mastodon stores: PKCS#1 private, SPKI public */
    assert_non_null(strstr(priv, "-----BEGIN RSA PRIVATE KEY-----\n"));
    assert_non_null(strstr(pub, "-----BEGIN PUBLIC KEY-----\n"));

    k1 = read_key(priv, 1);
    k2 = read_key(pub, 0);
    assert_non_null(k1);
    assert_non_null(k2);
    assert_int_equal(EVP_PKEY_get_bits(k1), 2048);
    assert_int_equal(EVP_PKEY_eq(k1, k2), 1);     /* one pair */

    /* a fresh pair each time */
    assert_int_equal(mstdn_rsa_keypair(&priv2, &pub2), 0);
    assert_string_not_equal(pub, pub2);

    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
    mstdn_rsa_free(priv, pub);
    mstdn_rsa_free(priv2, pub2);
    mstdn_rsa_free(NULL, NULL);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keypair),
    };

    setenv("CMOCKA_MESSAGE_OUTPUT", "TAP", 0);

    return cmocka_run_group_tests_name("rsa", tests, NULL, NULL);
}
