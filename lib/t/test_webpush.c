/* Unit tests of lib/mstdn_webpush: RFC 8291's example message, base64url,
 * the keys' checks, VAPID keys and JWTs. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/ecdsa.h>
#include <openssl/evp.h>

#include "mstdn_webpush.h"


static size_t
decode(const char *b64, unsigned char *out, size_t size)
{
    long  n;

    n = mstdn_base64url_decode(b64, strlen(b64), out, size);
    assert_true(n >= 0);

    return (size_t) n;
}


/* RFC 8291 appendix A */
static void
rfc8291_example(void **state)
{
    char                      b64[512];
    unsigned char             as_key[97], ua[65], auth[16], salt[16];
    mstdn_webpush_message_t   m;
    static const char         plain[] = "When I grow up, I want to be a "
                                        "watermelon";

    (void) state;

    assert_int_equal(decode("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw",
                            as_key, 32), 32);
    assert_int_equal(decode("BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDl"
                            "l6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8",
                            as_key + 32, 65), 65);
    assert_int_equal(decode("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaO"
                            "zi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
                            ua, 65), 65);
    assert_int_equal(decode("BTBZMqHH6r4Tts7J_aSIgg", auth, 16), 16);
    assert_int_equal(decode("DGv6ra1nlYgDCS1FRnbzlw", salt, 16), 16);

    assert_int_equal(mstdn_webpush_encrypt_with(1, ua, auth,
                         (const unsigned char *) plain, sizeof(plain) - 1,
                         as_key, salt, &m), 0);
    assert_true(m.len * 4 / 3 + 4 < sizeof(b64));
    mstdn_base64url_encode(m.body, m.len, b64);
    assert_string_equal(b64,
        "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMo"
        "ZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf"
        "1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN");
    mstdn_webpush_message_free(&m);

    /* the legacy form: the body is the padding length, the payload and
     * the tag; the salt and the key go in headers */
    assert_int_equal(mstdn_webpush_encrypt(0, ua, auth,
                         (const unsigned char *) plain, sizeof(plain) - 1,
                         &m), 0);
    assert_int_equal(m.len, 2 + sizeof(plain) - 1 + 16);
    assert_int_equal(m.server_key[0], 0x04);
    mstdn_webpush_message_free(&m);
}


static void
base64url(void **state)
{
    char           out[16];
    unsigned char  buf[8];

    (void) state;

    assert_int_equal(mstdn_base64url_encode((const unsigned char *) "\xfb\xff",
                                            2, out), 3);
    assert_string_equal(out, "-_8");
    assert_int_equal(mstdn_base64url_decode("-_8", 3, buf, sizeof(buf)), 2);
    assert_int_equal(mstdn_base64url_decode("-_8=", 4, buf, sizeof(buf)), 2);
    assert_int_equal(mstdn_base64url_decode("+/8=", 4, buf, sizeof(buf)), 2);
    assert_memory_equal(buf, "\xfb\xff", 2);
    assert_int_equal(mstdn_base64url_decode("a", 1, buf, sizeof(buf)), -1);
    assert_int_equal(mstdn_base64url_decode("a b=", 4, buf, sizeof(buf)), -1);
    assert_int_equal(mstdn_base64url_decode("AAAAAAAAAAAA", 12, buf, 8), -1);
}


static void
keys_valid(void **state)
{
    static const char  ua[] = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaO"
                              "zi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
    static const char  off[] = "BCVxsr7N_fNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaO"
                               "zi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";

    (void) state;

    assert_int_equal(mstdn_webpush_keys_valid(ua, strlen(ua),
                         "BTBZMqHH6r4Tts7J_aSIgg", 22), 1);
    /* not on the curve */
    assert_int_equal(mstdn_webpush_keys_valid(off, strlen(off),
                         "BTBZMqHH6r4Tts7J_aSIgg", 22), 0);
    /* auth of 15 bytes */
    assert_int_equal(mstdn_webpush_keys_valid(ua, strlen(ua),
                         "BTBZMqHH6r4Tts7J_aSI", 20), 0);
    assert_int_equal(mstdn_webpush_keys_valid("abc", 3,
                         "BTBZMqHH6r4Tts7J_aSIgg", 22), 0);
}


static void
vapid(void **state)
{
    char            priv[MSTDN_WEBPUSH_KEY_B64_LEN];
    char            pub[MSTDN_WEBPUSH_KEY_B64_LEN];
    char            priv2[MSTDN_WEBPUSH_KEY_B64_LEN];
    char            pub2[MSTDN_WEBPUSH_KEY_B64_LEN];
    char            jwt[1024], *dot;
    size_t          siglen;
    EVP_PKEY       *key;
    ECDSA_SIG      *sig;
    EVP_MD_CTX     *md;
    unsigned char   raw[64], der[80], *p;
    BIGNUM         *r, *s;

    (void) state;

    assert_int_equal(mstdn_webpush_vapid_generate(priv, pub), 0);
    assert_int_equal(strlen(pub), 88);
    assert_int_equal(pub[87], '=');
    assert_int_equal(mstdn_webpush_vapid_generate(priv2, pub2), 0);

    key = mstdn_webpush_vapid_load(priv, pub);
    assert_non_null(key);
    /* halves of two pairs */
    assert_null(mstdn_webpush_vapid_load(priv, pub2));
    assert_null(mstdn_webpush_vapid_load("abc", pub));

    assert_int_equal(mstdn_webpush_vapid_jwt(key, "https://push.example",
                         1700000000, "mailto:admin@example.com", jwt,
                         sizeof(jwt)), 0);
    assert_int_equal(mstdn_webpush_vapid_jwt(key, "https://push.example",
                         1700000000, "mailto:admin@example.com", jwt, 40),
                     -1);
    assert_int_equal(mstdn_webpush_vapid_jwt(key, "https://push.example",
                         1700000000, "mailto:admin@example.com", jwt,
                         sizeof(jwt)), 0);
    assert_true(strncmp(jwt, "eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9.", 37)
                == 0);

    /* the signature verifies over header.claims */
    dot = strrchr(jwt, '.');
    assert_non_null(dot);
    assert_int_equal(mstdn_base64url_decode(dot + 1, strlen(dot + 1), raw,
                                            sizeof(raw)), 64);
    sig = ECDSA_SIG_new();
    r = BN_bin2bn(raw, 32, NULL);
    s = BN_bin2bn(raw + 32, 32, NULL);
    assert_int_equal(ECDSA_SIG_set0(sig, r, s), 1);
    p = der;
    siglen = (size_t) i2d_ECDSA_SIG(sig, &p);
    md = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key),
                     1);
    assert_int_equal(EVP_DigestVerify(md, der, siglen,
                         (const unsigned char *) jwt, (size_t) (dot - jwt)),
                     1);
    EVP_MD_CTX_free(md);
    ECDSA_SIG_free(sig);
    EVP_PKEY_free(key);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(rfc8291_example),
        cmocka_unit_test(base64url),
        cmocka_unit_test(keys_valid),
        cmocka_unit_test(vapid),
    };

    return cmocka_run_group_tests_name("webpush", tests, NULL, NULL);
}
