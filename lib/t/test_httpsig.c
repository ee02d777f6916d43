/*
 * Unit tests of lib/mstdn_httpsig: HTTP signatures.  The vectors were made
 * with the openssl command line (an implementation independent of ours):
 * `openssl dgst -sha256 -sign priv.pem` over the signing strings below.
 * The keys are test keys, used nowhere else.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cmocka.h>

#include "mstdn_httpsig.h"


static const char  *priv_pem =
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEAnji/bsjCe4hbw3efiYVEthJHovwg2P7uxuSaiOGT5bGm+btD\n"
    "zRlVyIVXg8H4cYAvTG5D1F8YJLrtTx5s1BeqNF2KIikv/eSC/CSBkgUF/VVesNOB\n"
    "2au2N5bokgHFlWDwqOXeUrnYyRW7hdjP8snaM0WzpXa8l4ei6+rWAbfA9ig26XYE\n"
    "dOT3tFpO+MmYhm9MmrCZVoy1VAM/8c5paZldLrIb20tt5lJ6ul4cnKr25a1T107b\n"
    "6eOB4amXowF307jwkzVvqDFtRoIYzfE9XCbuVFZoS8UOZvO0HjpFaeIb6kECl6GE\n"
    "XSG1mrGZU5P0+k/TRfXNROAUiMLDfHawYgPZKwIDAQABAoIBABfHHXXPs/KOroO0\n"
    "oYQwRAA8xQlIbMNPpKC9UEAL7ocRaK+VJf5XtV2aNGm3p9ee1PzegVEULXOvp+RB\n"
    "BUfmeoy+FflGSVEVm127OsGwAZNt1foq/xOwS4UVJ8RxgbkORXyMdxnllh+6JWFb\n"
    "EP1CuokEC5htPLBlEOX1d83wSI51hjJIG53NIHFCrBiLlBMTOP9tgZ0R8z866G8u\n"
    "x1y1ucuJYHvzJSdPuyWJ3D357xTAadKBxYramhR1DR/yEm+wTxO8WzOn17A/Rcie\n"
    "ecLtYM9uc8EzfrwQUAuWKgvmVvI7I13a4pVx29VwTDjdkCHPahcIMuLvCWaXYdcr\n"
    "pJy5eSECgYEAzTmI2L0DkjTRUlnSpLO8cCviIeH5ty7URQ0OtFaDsVYobXHRNQ8I\n"
    "y5oaWnHpa/r3W8zC65Mpkk91sd5QySXXdzpIROd7FC/pLzjbm6oEH0jw1MLb4rO4\n"
    "FVp5G5XFZkASTOBFnH1jCJWGz/6zORICWMPeiqCMblbgvqi0geCxrrsCgYEAxV4l\n"
    "a9FwEBpRP+jr963Ov8WvsMD6Ogb56YCReoAy5lJ2z2n7HbgMQH64oFrjuKVS8thD\n"
    "AKv6WNAqV9lz+t6SQUfJPzwLpXpU3QE7hM7GrBbuPW5DFJQKad9hDX6+Jyi82OJe\n"
    "uj+lRiJacILP6rx3EbHiL49aUhEcrDRVg0HRsFECgYBorKba/ZVbtmrpmPzymuZL\n"
    "RGbDp3Hp+A225pEQdGwZQHvATuRJLtDqoEA+z4kiVVBjV044P8hdYwAB6AXGgvGi\n"
    "U2zXEEZbppBGULbab95IYrjLnFPxDn+fDJVm935Gx/lNkrqOtfmUQEgRwLSDMGdY\n"
    "BRd2F6tpABEDziK7d/LIzwKBgQCFCDZU/DB6yiJl34vdwEuRO6B2lTyUjEs7NqvY\n"
    "VDz6vi7TE25t07Z+amvruhewR88nXNmcxE7UOkuwNyRTvl36nnZppwF6ooA9Dy2d\n"
    "EPsc17/xrDaO0lJKloSGYh2tq2nPDpYnF+tA4LrxB1s5r5raVHpO8GNC2cHn2Mai\n"
    "2GSMYQKBgGfIUzJ87XTt6X31Tg9jIZdS36VmafodM56NNRWquKp1h5A+yFB9k2er\n"
    "h5ViuiS1TbBXBUH8pQ1QdbJobjOay14i2ePFRcHFRyuqrVSedEIeREQeR1p3ZGyb\n"
    "OhvIatAtEcrmgxfc3K0xAq+InoQaZh1ijj5r+UFEDYImMM8HfNWj\n"
    "-----END RSA PRIVATE KEY-----\n"
    ;

static const char  *pub_pem =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAnji/bsjCe4hbw3efiYVE\n"
    "thJHovwg2P7uxuSaiOGT5bGm+btDzRlVyIVXg8H4cYAvTG5D1F8YJLrtTx5s1Beq\n"
    "NF2KIikv/eSC/CSBkgUF/VVesNOB2au2N5bokgHFlWDwqOXeUrnYyRW7hdjP8sna\n"
    "M0WzpXa8l4ei6+rWAbfA9ig26XYEdOT3tFpO+MmYhm9MmrCZVoy1VAM/8c5paZld\n"
    "LrIb20tt5lJ6ul4cnKr25a1T107b6eOB4amXowF307jwkzVvqDFtRoIYzfE9XCbu\n"
    "VFZoS8UOZvO0HjpFaeIb6kECl6GEXSG1mrGZU5P0+k/TRfXNROAUiMLDfHawYgPZ\n"
    "KwIDAQAB\n"
    "-----END PUBLIC KEY-----\n"
    ;

static const char  *pub1_pem =
    "-----BEGIN RSA PUBLIC KEY-----\n"
    "MIIBCgKCAQEAnji/bsjCe4hbw3efiYVEthJHovwg2P7uxuSaiOGT5bGm+btDzRlV\n"
    "yIVXg8H4cYAvTG5D1F8YJLrtTx5s1BeqNF2KIikv/eSC/CSBkgUF/VVesNOB2au2\n"
    "N5bokgHFlWDwqOXeUrnYyRW7hdjP8snaM0WzpXa8l4ei6+rWAbfA9ig26XYEdOT3\n"
    "tFpO+MmYhm9MmrCZVoy1VAM/8c5paZldLrIb20tt5lJ6ul4cnKr25a1T107b6eOB\n"
    "4amXowF307jwkzVvqDFtRoIYzfE9XCbuVFZoS8UOZvO0HjpFaeIb6kECl6GEXSG1\n"
    "mrGZU5P0+k/TRfXNROAUiMLDfHawYgPZKwIDAQAB\n"
    "-----END RSA PUBLIC KEY-----\n"
    ;

static const char  *otherpub_pem =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAq6v5A8e4U4pFRSJWknpa\n"
    "HeNjPC/iJ/Zg2MoDWXcRvDEJrxtgbZYPIkC5cpc+rr4Esao4SQRCFoWC6Wv+9Yfk\n"
    "KA1mgMsX3EwOgEhxF3/05QF9Wfr6Sz8iU9+RAATcmzsSNU2IcFe6XcRn3GQdSe7H\n"
    "qc6Lli+O8Aw86e7JTSABGP/celgqM666CEIfjUpveZYn1OBMo9SYsnMH4mS36qEJ\n"
    "Rxv+MJtZcE6BfGacloHAjxbb7WYtHQrzE5A3L4YAVTVV84w1S6s1x/HXb/ddtyx1\n"
    "2h3NOC8ADsnWQdd2iAzWPPCsWpwNAMl7JHyBn1gQVzj4vD49YULiU6cc+GL9cJY/\n"
    "FwIDAQAB\n"
    "-----END PUBLIC KEY-----\n"
    ;

static const char  *cavage_sig =
    "jb/Z5qmgvD6ThOk7N04xcOHGctxsQxr7c8UQr7D8iBH2j3xPaAxbEZgPVqlfwa95"
    "y29/HVnqyy1WDZS1wap5GNT3zHdagH5cEOME3rQ8TO71/Xcub2+ZbN9OKZIBY1L8"
    "z4i7pMcttrq6H/gjkBh76BRC8+d8EcRlOPAhe6Jzp2ikFV84khlmCM97WxzHyc1d"
    "6bRV6YuUdXe4JT74hNYr+Qqqst33RdnHZei4tZc4yzJT/awvtjnZWZ+ac5jKXG/J"
    "jhF8M08QbSLUD6OZgC26TdOW3KlDqCx8j+d8zAh2kjjjP+Pf7leGL+ZLZqiyPt+h"
    "9Z2uqr4UxwA8Y+Whol+Jng==";

static const char  *rfc_sig =
    "aFM9FRWZFAtjnpRg2GMJjowZ10Be3v0kUprhWHvVyKoWJX+E6/pqc4TWK3J9/zHp"
    "ILOoqcdnOqj0nxuch8LRVSlf734cwtC5f/0KFrnwbs/570KhE7Bp9Ophlwj5tu6Z"
    "y64xgNs5oJao0nzyaRmIX9+/+aYkRISs6WebDAMdEFHLDp7+vyyiok69DRqxNIfc"
    "vJhxXCmiQXAXsPH20Do+7iBC0uoeSPQ+0DrOdBLuEauKzUKxl6v2oSc98UiTSF9H"
    "S8S2bVNDp1ODrMATBoNcQlXIONvSQCwyDMgdaTwaq6+1OBi2w7K+4mxDj9X6na80"
    "aOc617k6c4qbxlZfqdcbkw==";


#define BODY        "{\"hello\": \"world\"}"
#define BODY_DIGEST "SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE="
#define KEY_ID      "https://remote.test/users/bob#main-key"
#define DATE        "Sun, 05 Jan 2014 21:31:40 GMT"
#define DATE_T      1388957500

#define CAVAGE_STRING                                                       \
    "(request-target): post /users/alice/inbox\n"                           \
    "host: example.test\n"                                                  \
    "date: " DATE "\n"                                                      \
    "digest: " BODY_DIGEST

#define RFC_PARAMS                                                          \
    "(\"@method\" \"@target-uri\" \"content-digest\");created=1389000000;"  \
    "keyid=\"" KEY_ID "\""

#define RFC_BASE                                                            \
    "\"@method\": POST\n"                                                   \
    "\"@target-uri\": https://example.test/users/alice/inbox\n"             \
    "\"content-digest\": sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9"  \
    "DBPE=:\n"                                                              \
    "\"@signature-params\": " RFC_PARAMS


/* a request's headers: name, value pairs, NULL-terminated */
typedef struct {
    const char  *h[16][2];
} headers_t;


static int
lookup(void *data, const char *name, size_t len, const char **v,
    size_t *vlen)
{
    int         i, found;
    headers_t  *hs = data;

    found = 0;
    for (i = 0; hs->h[i][0]; i++) {
        if (strlen(hs->h[i][0]) == len
            && strncasecmp(hs->h[i][0], name, len) == 0)
        {
            *v = hs->h[i][1];
            *vlen = strlen(hs->h[i][1]);
            found++;
        }
    }

    return found == 0 ? -1 : found == 1 ? 0 : -2;
}


static headers_t  std_headers = {{
    { "Host", "example.test" },
    { "Date", DATE },
    { "Digest", BODY_DIGEST },
    { "Content-Digest",
      "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:" },
    { NULL, NULL }
}};


static void
request(mstdn_httpsig_request_t *req, headers_t *hs)
{
    memset(req, 0, sizeof(*req));
    req->method = "POST";
    req->method_len = 4;
    req->scheme = "https";
    req->scheme_len = 5;
    req->authority = "example.test";
    req->authority_len = 12;
    req->path = "/users/alice/inbox";
    req->path_len = strlen(req->path);
    req->header = lookup;
    req->data = hs;
}


static mstdn_httpsig_t *
new_sig(void)
{
    mstdn_httpsig_t  *sig = malloc(sizeof(mstdn_httpsig_t));

    assert_non_null(sig);
    return sig;
}


static int
cavage(const char *value, mstdn_httpsig_t *sig)
{
    return mstdn_httpsig_parse_cavage(value, strlen(value), sig);
}


static int
rfc(const char *input, const char *signature, mstdn_httpsig_t *sig)
{
    return mstdn_httpsig_parse_rfc9421(input, strlen(input), signature,
                                       strlen(signature), sig);
}


static char *
cavage_header(const char *params)
{
    static char  buf[MSTDN_HTTPSIG_VALUE_MAX * 2];

    snprintf(buf, sizeof(buf), "%s,signature=\"%s\"", params, cavage_sig);
    return buf;
}


static void
base64(void **state)
{
    char           enc[64];
    unsigned char  dec[64];

    assert_int_equal(mstdn_base64_encode((unsigned char *) "", 0, enc), 0);
    mstdn_base64_encode((unsigned char *) "f", 1, enc);
    assert_string_equal(enc, "Zg==");
    mstdn_base64_encode((unsigned char *) "fo", 2, enc);
    assert_string_equal(enc, "Zm8=");
    mstdn_base64_encode((unsigned char *) "foob", 4, enc);
    assert_string_equal(enc, "Zm9vYg==");
    mstdn_base64_encode((unsigned char *) "\xfb\xff", 2, enc);
    assert_string_equal(enc, "+/8=");

    assert_int_equal(mstdn_base64_decode("Zm9vYg==", 8, dec, 64), 4);
    assert_memory_equal(dec, "foob", 4);
    assert_int_equal(mstdn_base64_decode("Zm9vYmFy", 8, dec, 64), 6);
    assert_int_equal(mstdn_base64_decode("+/8=", 4, dec, 64), 2);

    /* strict: no padding missing, no whitespace, no URL alphabet, no
     * stray bits, no '=' inside, no room: -1 */
    assert_int_equal(mstdn_base64_decode("Zm9vYg", 6, dec, 64), -1);
    assert_int_equal(mstdn_base64_decode("Zm9v\nYg==", 9, dec, 64), -1);
    assert_int_equal(mstdn_base64_decode("-_8=", 4, dec, 64), -1);
    assert_int_equal(mstdn_base64_decode("Zh==", 4, dec, 64), -1);
    assert_int_equal(mstdn_base64_decode("Zm9=", 4, dec, 64), -1);
    assert_int_equal(mstdn_base64_decode("Zg==Zg==", 8, dec, 64), -1);
    assert_int_equal(mstdn_base64_decode("====", 4, dec, 64), -1);
    assert_int_equal(mstdn_base64_decode("Zm9vYmFy", 8, dec, 5), -1);
}


static void
parse_cavage(void **state)
{
    mstdn_httpsig_t  *sig = new_sig();

    assert_int_equal(cavage(cavage_header("keyId=\"" KEY_ID "\","
        "algorithm=\"rsa-sha256\",headers=\"(request-target) Host date "
        "digest\""), sig), MSTDN_HTTPSIG_OK);
    assert_int_equal(sig->kind, MSTDN_HTTPSIG_CAVAGE);
    assert_int_equal(sig->algorithm, MSTDN_HTTPSIG_ALG_RSA_SHA256);
    assert_string_equal(sig->key_id, KEY_ID);
    assert_int_equal(sig->signature_len, 256);
    assert_int_equal(sig->ncomponents, 4);
    assert_string_equal(sig->components[1], "host");    /* lower-cased */
    assert_true(mstdn_httpsig_covers(sig, "digest"));
    assert_false(mstdn_httpsig_covers(sig, "content-type"));
    assert_int_equal(sig->created, -1);

    /* spaces around '=' and ',', the old "Signature " prefix, tokens */
    assert_int_equal(cavage(cavage_header("Signature keyId = \"" KEY_ID
        "\" , algorithm=hs2019 ,headers=\"date\""), sig), MSTDN_HTTPSIG_OK);
    assert_int_equal(sig->algorithm, MSTDN_HTTPSIG_ALG_HS2019);

    /* defaults: hs2019 covering (created); rsa-sha256 covering date */
    assert_int_equal(cavage(cavage_header("keyId=\"k\",created=1389000000"),
                            sig), MSTDN_HTTPSIG_OK);
    assert_int_equal(sig->algorithm, MSTDN_HTTPSIG_ALG_HS2019);
    assert_int_equal(sig->ncomponents, 1);
    assert_string_equal(sig->components[0], "(created)");
    assert_int_equal(sig->created, 1389000000);
    assert_int_equal(cavage(cavage_header("keyId=\"k\",algorithm=\""
                            "rsa-sha256\""), sig), MSTDN_HTTPSIG_OK);
    assert_string_equal(sig->components[0], "date");

    free(sig);
}


static void
parse_cavage_errors(void **state)
{
    char              big[MSTDN_HTTPSIG_VALUE_MAX + 64];
    mstdn_httpsig_t  *sig = new_sig();

    /* duplicated parameters */
    assert_int_equal(cavage(cavage_header("keyId=\"a\",keyId=\"b\""), sig),
                     MSTDN_HTTPSIG_EPARSE);
    assert_int_equal(cavage(cavage_header("keyId=\"a\",headers=\"date\","
                            "headers=\"date\""), sig), MSTDN_HTTPSIG_EPARSE);
    assert_int_equal(cavage("keyId=\"a\",signature=\"Zg==\","
                            "signature=\"Zg==\"", sig),
                     MSTDN_HTTPSIG_EPARSE);
    /* a header listed twice */
    assert_int_equal(cavage(cavage_header("keyId=\"a\",headers=\"date "
                            "Date\""), sig), MSTDN_HTTPSIG_EPARSE);
    /* unknown parameter, unknown pseudo-header */
    assert_int_equal(cavage(cavage_header("keyId=\"a\",foo=\"b\""), sig),
                     MSTDN_HTTPSIG_EPARSE);
    assert_int_equal(cavage(cavage_header("keyId=\"a\",headers=\"(foo)\""),
                            sig), MSTDN_HTTPSIG_EPARSE);
    /* syntax */
    assert_int_equal(cavage(cavage_header("keyId=\"a"), sig),
                     MSTDN_HTTPSIG_EPARSE);
    assert_int_equal(cavage("keyId=\"a\",signature=\"Zg==", sig),
                     MSTDN_HTTPSIG_EPARSE);
    assert_int_equal(cavage(cavage_header("keyId=\"a\\\"b\""), sig),
                     MSTDN_HTTPSIG_EPARSE);
    assert_int_equal(cavage(cavage_header("keyId=\"a\",,algorithm=hs2019"),
                            sig), MSTDN_HTTPSIG_EPARSE);
    assert_int_equal(cavage("keyId=\"a\",signature=\"Zg==\",", sig),
                     MSTDN_HTTPSIG_EPARSE);
    assert_int_equal(cavage("keyId=\"a\";signature=\"Zg==\"", sig),
                     MSTDN_HTTPSIG_EPARSE);
    assert_int_equal(cavage("", sig), MSTDN_HTTPSIG_EPARSE);
    assert_int_equal(cavage(cavage_header("keyId=\"a\",headers=\"\""), sig),
                     MSTDN_HTTPSIG_EPARSE);
    assert_int_equal(cavage(cavage_header("keyId=\"a\",created=12x"), sig),
                     MSTDN_HTTPSIG_EPARSE);
    /* missing fields */
    assert_int_equal(cavage(cavage_header("algorithm=\"rsa-sha256\""), sig),
                     MSTDN_HTTPSIG_EMISSING);
    assert_int_equal(cavage(cavage_header("keyId=\"\""), sig),
                     MSTDN_HTTPSIG_EMISSING);
    assert_int_equal(cavage("keyId=\"a\",headers=\"date\"", sig),
                     MSTDN_HTTPSIG_EMISSING);
    assert_int_equal(cavage("keyId=\"a\",signature=\"\"", sig),
                     MSTDN_HTTPSIG_EMISSING);
    /* algorithms */
    assert_int_equal(cavage(cavage_header("keyId=\"a\",algorithm=\""
                            "rsa-sha512\""), sig), MSTDN_HTTPSIG_EALGORITHM);
    assert_int_equal(cavage(cavage_header("keyId=\"a\",algorithm=\""
                            "RSA-SHA256\""), sig), MSTDN_HTTPSIG_EALGORITHM);
    /* base64 */
    assert_int_equal(cavage("keyId=\"a\",signature=\"Zg=\"", sig),
                     MSTDN_HTTPSIG_EBASE64);
    assert_int_equal(cavage("keyId=\"a\",signature=\"Z g==\"", sig),
                     MSTDN_HTTPSIG_EBASE64);
    /* (created) with rsa-sha256, or without its parameter */
    assert_int_equal(cavage(cavage_header("keyId=\"a\",algorithm=\""
                            "rsa-sha256\",headers=\"(created)\",created=1"),
                            sig), MSTDN_HTTPSIG_ECREATED);
    assert_int_equal(cavage(cavage_header("keyId=\"a\",headers=\"(created)\""),
                            sig), MSTDN_HTTPSIG_ECREATED);

    /* sizes: the whole value, the key id, the signature, the list */
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(cavage(big, sig), MSTDN_HTTPSIG_ETOOBIG);

    memcpy(big, "keyId=\"", 7);
    big[7 + MSTDN_HTTPSIG_KEYID_MAX + 1] = '"';
    big[7 + MSTDN_HTTPSIG_KEYID_MAX + 2] = '\0';
    assert_int_equal(cavage(big, sig), MSTDN_HTTPSIG_ETOOBIG);

    memcpy(big, "signature=\"", 11);
    memset(big + 11, 'A', 1400);
    strcpy(big + 11 + 1400, "\"");
    assert_int_equal(cavage(big, sig), MSTDN_HTTPSIG_ETOOBIG);

    assert_int_equal(cavage(cavage_header("keyId=\"a\",headers=\"a b c d e f "
                            "g h i j k l m n o p q\""), sig),
                     MSTDN_HTTPSIG_ETOOBIG);

    free(sig);
}


static void
strength(void **state)
{
    mstdn_httpsig_t  *sig = new_sig();

    assert_int_equal(cavage(cavage_header("keyId=\"a\",headers=\""
                            "(request-target) host date digest\""), sig), 0);
    assert_int_equal(mstdn_httpsig_check_strength(sig, 1), MSTDN_HTTPSIG_OK);

    assert_int_equal(cavage(cavage_header("keyId=\"a\",headers=\""
                            "(request-target) host date\""), sig), 0);
    assert_int_equal(mstdn_httpsig_check_strength(sig, 1),
                     MSTDN_HTTPSIG_ENODIGEST);
    assert_int_equal(mstdn_httpsig_check_strength(sig, 0), MSTDN_HTTPSIG_OK);

    assert_int_equal(cavage(cavage_header("keyId=\"a\",headers=\""
                            "(request-target) date digest\""), sig), 0);
    assert_int_equal(mstdn_httpsig_check_strength(sig, 1),
                     MSTDN_HTTPSIG_ENOHOST);

    assert_int_equal(cavage(cavage_header("keyId=\"a\",headers=\""
                            "host date digest\""), sig), 0);
    assert_int_equal(mstdn_httpsig_check_strength(sig, 1),
                     MSTDN_HTTPSIG_ENOTARGET);

    assert_int_equal(cavage(cavage_header("keyId=\"a\",headers=\""
                            "(request-target) host digest\""), sig), 0);
    assert_int_equal(mstdn_httpsig_check_strength(sig, 1),
                     MSTDN_HTTPSIG_ENODATE);

    assert_int_equal(rfc("sig1=(\"@method\" \"@target-uri\");created=1;"
                         "keyid=\"k\"", "sig1=:Zg==:", sig), 0);
    assert_int_equal(mstdn_httpsig_check_strength(sig, 1),
                     MSTDN_HTTPSIG_ENOCDIGEST);
    assert_int_equal(mstdn_httpsig_check_strength(sig, 0), MSTDN_HTTPSIG_OK);

    assert_int_equal(rfc("sig1=(\"@method\" \"@path\" \"content-digest\");"
                         "created=1;keyid=\"k\"", "sig1=:Zg==:", sig), 0);
    assert_int_equal(mstdn_httpsig_check_strength(sig, 1),
                     MSTDN_HTTPSIG_ENOMETHOD);

    free(sig);
}


static void
cavage_vector(void **state)
{
    char                     base[MSTDN_HTTPSIG_BASE_MAX];
    size_t                   len;
    mstdn_httpsig_t         *sig = new_sig();
    mstdn_httpsig_request_t  req;
    headers_t                hs;

    request(&req, &std_headers);

    assert_int_equal(cavage(cavage_header("keyId=\"" KEY_ID "\","
        "algorithm=\"rsa-sha256\",headers=\"(request-target) host date "
        "digest\""), sig), MSTDN_HTTPSIG_OK);

    assert_int_equal(mstdn_httpsig_base(sig, &req, base, sizeof(base), &len),
                     MSTDN_HTTPSIG_OK);
    assert_string_equal(base, CAVAGE_STRING);
    assert_int_equal(len, strlen(CAVAGE_STRING));

    assert_int_equal(mstdn_httpsig_verify(pub_pem, strlen(pub_pem), sig,
                                          base, len), MSTDN_HTTPSIG_OK);
    /* the PKCS#1 form of the same key */
    assert_int_equal(mstdn_httpsig_verify(pub1_pem, strlen(pub1_pem), sig,
                                          base, len), MSTDN_HTTPSIG_OK);
    /* another key, another string, a flipped bit */
    assert_int_equal(mstdn_httpsig_verify(otherpub_pem, strlen(otherpub_pem),
                                          sig, base, len),
                     MSTDN_HTTPSIG_EVERIFY);
    base[0] = 'X';
    assert_int_equal(mstdn_httpsig_verify(pub_pem, strlen(pub_pem), sig,
                                          base, len), MSTDN_HTTPSIG_EVERIFY);
    base[0] = '(';
    sig->signature[10] ^= 1;
    assert_int_equal(mstdn_httpsig_verify(pub_pem, strlen(pub_pem), sig,
                                          base, len), MSTDN_HTTPSIG_EVERIFY);
    sig->signature[10] ^= 1;
    /* not a key; a private key where the public one goes */
    assert_int_equal(mstdn_httpsig_verify("nonsense", 8, sig, base, len),
                     MSTDN_HTTPSIG_EKEY);
    assert_int_equal(mstdn_httpsig_verify(priv_pem, strlen(priv_pem), sig,
                                          base, len), MSTDN_HTTPSIG_EKEY);

    /* a key parsed once, used twice */
    {
        mstdn_httpsig_key_t  *k;

        k = mstdn_httpsig_public_key(pub_pem, strlen(pub_pem));
        assert_non_null(k);
        assert_int_equal(mstdn_httpsig_verify_with(k, sig, base, len),
                         MSTDN_HTTPSIG_OK);
        assert_int_equal(mstdn_httpsig_verify_with(k, sig, base, len - 1),
                         MSTDN_HTTPSIG_EVERIFY);
        mstdn_httpsig_key_free(k);
        assert_null(mstdn_httpsig_public_key("x", 1));
        assert_null(mstdn_httpsig_public_key(priv_pem, strlen(priv_pem)));
    }

    /* a query: in (request-target) unless told (old Mastodons) */
    req.query = "a=b";
    req.query_len = 3;
    assert_int_equal(mstdn_httpsig_base(sig, &req, base, sizeof(base), &len),
                     MSTDN_HTTPSIG_OK);
    assert_non_null(strstr(base, "post /users/alice/inbox?a=b\n"));
    req.target_no_query = 1;
    assert_int_equal(mstdn_httpsig_base(sig, &req, base, sizeof(base), &len),
                     MSTDN_HTTPSIG_OK);
    assert_string_equal(base, CAVAGE_STRING);

    /* a signed header absent, or twice */
    memset(&hs, 0, sizeof(hs));
    hs.h[0][0] = "Host";
    hs.h[0][1] = "example.test";
    hs.h[1][0] = "Date";
    hs.h[1][1] = DATE;
    req.data = &hs;
    assert_int_equal(mstdn_httpsig_base(sig, &req, base, sizeof(base), &len),
                     MSTDN_HTTPSIG_EHEADER);
    hs.h[2][0] = "digest";
    hs.h[2][1] = BODY_DIGEST;
    hs.h[3][0] = "Host";
    hs.h[3][1] = "evil.test";
    assert_int_equal(mstdn_httpsig_base(sig, &req, base, sizeof(base), &len),
                     MSTDN_HTTPSIG_EDUPLICATE);

    /* no room */
    req.data = &std_headers;
    assert_int_equal(mstdn_httpsig_base(sig, &req, base, 20, &len),
                     MSTDN_HTTPSIG_ETOOBIG);

    free(sig);
}


static void
der_key(void **state)
{
    char                     b64[1024], base[] = CAVAGE_STRING;
    const char              *p;
    size_t                   n;
    long                     len;
    unsigned char            der[1024];
    mstdn_httpsig_t         *sig = new_sig();

    /* the PEM's body, decoded */
    n = 0;
    for (p = strchr(pub_pem, '\n') + 1; *p != '-'; p++) {
        if (*p != '\n') {
            b64[n++] = *p;
        }
    }
    len = mstdn_base64_decode(b64, n, der, sizeof(der));
    assert_true(len > 0);

    assert_int_equal(cavage(cavage_header("keyId=\"a\",algorithm=\""
        "rsa-sha256\",headers=\"(request-target) host date digest\""), sig),
        MSTDN_HTTPSIG_OK);
    assert_int_equal(mstdn_httpsig_verify((char *) der, (size_t) len, sig,
                                          base, strlen(base)),
                     MSTDN_HTTPSIG_OK);
    assert_int_equal(mstdn_httpsig_verify((char *) der, (size_t) len - 1,
                                          sig, base, strlen(base)),
                     MSTDN_HTTPSIG_EKEY);
    free(sig);
}


static void
sign_cavage(void **state)
{
    char                     value[MSTDN_HTTPSIG_VALUE_MAX], expected[2048];
    char                     base[MSTDN_HTTPSIG_BASE_MAX];
    size_t                   len;
    mstdn_httpsig_t         *sig = new_sig();
    mstdn_httpsig_request_t  req;

    request(&req, &std_headers);

    assert_int_equal(mstdn_httpsig_sign_cavage(priv_pem, strlen(priv_pem),
        KEY_ID, &req, "(request-target) host date digest", value,
        sizeof(value)), MSTDN_HTTPSIG_OK);

    /* PKCS#1 v1.5 is deterministic: openssl's signature, byte for byte */
    snprintf(expected, sizeof(expected), "keyId=\"%s\",algorithm=\""
             "rsa-sha256\",headers=\"(request-target) host date digest\","
             "signature=\"%s\"", KEY_ID, cavage_sig);
    assert_string_equal(value, expected);

    /* and it verifies */
    assert_int_equal(cavage(value, sig), MSTDN_HTTPSIG_OK);
    assert_int_equal(mstdn_httpsig_base(sig, &req, base, sizeof(base), &len),
                     MSTDN_HTTPSIG_OK);
    assert_int_equal(mstdn_httpsig_verify(pub_pem, strlen(pub_pem), sig,
                                          base, len), MSTDN_HTTPSIG_OK);

    /* refused: a key id that cannot be quoted, a bad key, no room */
    assert_int_equal(mstdn_httpsig_sign_cavage(priv_pem, strlen(priv_pem),
        "a\"b", &req, "date", value, sizeof(value)), MSTDN_HTTPSIG_EPARSE);
    assert_int_equal(mstdn_httpsig_sign_cavage(pub_pem, strlen(pub_pem),
        KEY_ID, &req, "date", value, sizeof(value)), MSTDN_HTTPSIG_EKEY);
    assert_int_equal(mstdn_httpsig_sign_cavage(priv_pem, strlen(priv_pem),
        KEY_ID, &req, "date", value, 100), MSTDN_HTTPSIG_ETOOBIG);

    free(sig);
}


static void
parse_rfc9421(void **state)
{
    char                     base[MSTDN_HTTPSIG_BASE_MAX];
    char                     sigv[1024];
    size_t                   len;
    mstdn_httpsig_t         *sig = new_sig();
    mstdn_httpsig_request_t  req;

    request(&req, &std_headers);
    snprintf(sigv, sizeof(sigv), "sig1=:%s:", rfc_sig);

    assert_int_equal(rfc("sig1=" RFC_PARAMS, sigv, sig), MSTDN_HTTPSIG_OK);
    assert_int_equal(sig->kind, MSTDN_HTTPSIG_RFC9421);
    assert_int_equal(sig->algorithm, MSTDN_HTTPSIG_ALG_NONE);
    assert_string_equal(sig->label, "sig1");
    assert_string_equal(sig->key_id, KEY_ID);
    assert_int_equal(sig->created, 1389000000);
    assert_int_equal(sig->ncomponents, 3);
    assert_string_equal(sig->params, RFC_PARAMS);

    assert_int_equal(mstdn_httpsig_base(sig, &req, base, sizeof(base), &len),
                     MSTDN_HTTPSIG_OK);
    assert_string_equal(base, RFC_BASE);
    assert_int_equal(mstdn_httpsig_verify(pub_pem, strlen(pub_pem), sig,
                                          base, len), MSTDN_HTTPSIG_OK);

    /* extra spaces are not kept in @signature-params: it is re-serialized */
    assert_int_equal(rfc("sig1=(  \"@method\"  \"@target-uri\" "
                         "\"content-digest\" );created=01389000000;keyid=\""
                         KEY_ID "\"", sigv, sig), MSTDN_HTTPSIG_OK);
    assert_string_equal(sig->params, RFC_PARAMS);

    /* other components, alg, expires, nonce, tag */
    assert_int_equal(rfc("x=(\"@authority\" \"@path\" \"@query\" \"@scheme\" "
                         "\"@request-target\" \"date\");created=5;"
                         "expires=10;keyid=\"k\";alg=\"rsa-v1_5-sha256\";"
                         "nonce=\"n\";tag=\"t\"", "x=:Zg==:", sig),
                     MSTDN_HTTPSIG_OK);
    assert_int_equal(sig->algorithm, MSTDN_HTTPSIG_ALG_RSA_V1_5_SHA256);
    assert_int_equal(sig->expires, 10);
    req.query = "a=b";
    req.query_len = 3;
    assert_int_equal(mstdn_httpsig_base(sig, &req, base, sizeof(base), &len),
                     MSTDN_HTTPSIG_OK);
    assert_string_equal(base,
        "\"@authority\": example.test\n"
        "\"@path\": /users/alice/inbox\n"
        "\"@query\": ?a=b\n"
        "\"@scheme\": https\n"
        "\"@request-target\": /users/alice/inbox?a=b\n"
        "\"date\": " DATE "\n"
        "\"@signature-params\": (\"@authority\" \"@path\" \"@query\" "
        "\"@scheme\" \"@request-target\" \"date\");created=5;expires=10;"
        "keyid=\"k\";alg=\"rsa-v1_5-sha256\";nonce=\"n\";tag=\"t\"");

    free(sig);
}


static void
parse_rfc9421_errors(void **state)
{
    mstdn_httpsig_t  *sig = new_sig();

#define OK_SIG  "sig1=:Zg==:"

    /* two labels, label mismatch, junk after */
    assert_int_equal(rfc("sig1=(\"@method\");created=1;keyid=\"k\", "
                         "sig2=(\"@method\");created=1;keyid=\"k\"", OK_SIG,
                         sig), MSTDN_HTTPSIG_EPARSE);
    assert_int_equal(rfc("sig1=(\"@method\");created=1;keyid=\"k\"",
                         "sig1=:Zg==:, sig2=:Zg==:", sig),
                     MSTDN_HTTPSIG_EPARSE);
    assert_int_equal(rfc("sig1=(\"@method\");created=1;keyid=\"k\"",
                         "sig2=:Zg==:", sig), MSTDN_HTTPSIG_EPARSE);
    /* parameters: unknown, duplicated, boolean, wrong type */
    assert_int_equal(rfc("sig1=(\"@method\");created=1;keyid=\"k\";x=\"y\"",
                         OK_SIG, sig), MSTDN_HTTPSIG_EPARSE);
    assert_int_equal(rfc("sig1=(\"@method\");created=1;created=2;keyid=\"k\"",
                         OK_SIG, sig), MSTDN_HTTPSIG_EPARSE);
    assert_int_equal(rfc("sig1=(\"@method\");created=1;keyid=\"k\";"
                         "keyid=\"j\"", OK_SIG, sig), MSTDN_HTTPSIG_EPARSE);
    assert_int_equal(rfc("sig1=(\"@method\");created;keyid=\"k\"", OK_SIG,
                         sig), MSTDN_HTTPSIG_EPARSE);
    assert_int_equal(rfc("sig1=(\"@method\");created=\"1\";keyid=\"k\"",
                         OK_SIG, sig), MSTDN_HTTPSIG_EPARSE);
    /* components: parameters, upper case, unknown derived, twice, none */
    assert_int_equal(rfc("sig1=(\"@method\" \"x\";sf);created=1;keyid=\"k\"",
                         OK_SIG, sig), MSTDN_HTTPSIG_EPARSE);
    assert_int_equal(rfc("sig1=(\"Date\");created=1;keyid=\"k\"", OK_SIG,
                         sig), MSTDN_HTTPSIG_EPARSE);
    assert_int_equal(rfc("sig1=(\"@status\");created=1;keyid=\"k\"", OK_SIG,
                         sig), MSTDN_HTTPSIG_EPARSE);
    assert_int_equal(rfc("sig1=(\"date\" \"date\");created=1;keyid=\"k\"",
                         OK_SIG, sig), MSTDN_HTTPSIG_EPARSE);
    assert_int_equal(rfc("sig1=(\"date\"\"host\");created=1;keyid=\"k\"",
                         OK_SIG, sig), MSTDN_HTTPSIG_EPARSE);
    assert_int_equal(rfc("sig1=();created=1;keyid=\"k\"", OK_SIG, sig),
                     MSTDN_HTTPSIG_EPARSE);
    assert_int_equal(rfc("sig1=(\"date\";created=1;keyid=\"k\"", OK_SIG,
                         sig), MSTDN_HTTPSIG_EPARSE);
    /* the signature: bad base64, not a byte sequence, parameters */
    assert_int_equal(rfc("sig1=(\"@method\");created=1;keyid=\"k\"",
                         "sig1=:Zg=:", sig), MSTDN_HTTPSIG_EBASE64);
    assert_int_equal(rfc("sig1=(\"@method\");created=1;keyid=\"k\"",
                         "sig1=\"Zg==\"", sig), MSTDN_HTTPSIG_EPARSE);
    assert_int_equal(rfc("sig1=(\"@method\");created=1;keyid=\"k\"",
                         "sig1=:Zg==:;a=1", sig), MSTDN_HTTPSIG_EPARSE);
    assert_int_equal(rfc("sig1=(\"@method\");created=1;keyid=\"k\"",
                         "sig1=::", sig), MSTDN_HTTPSIG_EPARSE);
    /* missing keyid or created; another algorithm */
    assert_int_equal(rfc("sig1=(\"@method\");created=1", OK_SIG, sig),
                     MSTDN_HTTPSIG_EMISSING9421);
    assert_int_equal(rfc("sig1=(\"@method\");keyid=\"k\"", OK_SIG, sig),
                     MSTDN_HTTPSIG_EMISSING9421);
    assert_int_equal(rfc("sig1=(\"@method\");created=1;keyid=\"k\";"
                         "alg=\"ed25519\"", OK_SIG, sig),
                     MSTDN_HTTPSIG_EALGORITHM);

    free(sig);
}


static void
sign_rfc9421(void **state)
{
    char                     input[4096], signature[2048], expected[1024];
    char                     base[MSTDN_HTTPSIG_BASE_MAX];
    size_t                   len;
    mstdn_httpsig_t         *sig = new_sig();
    mstdn_httpsig_request_t  req;

    request(&req, &std_headers);

    assert_int_equal(mstdn_httpsig_sign_rfc9421(priv_pem, strlen(priv_pem),
        KEY_ID, &req, "@method @target-uri content-digest", 1389000000,
        input, sizeof(input), signature, sizeof(signature)),
        MSTDN_HTTPSIG_OK);

    assert_string_equal(input, "sig1=" RFC_PARAMS);
    snprintf(expected, sizeof(expected), "sig1=:%s:", rfc_sig);
    assert_string_equal(signature, expected);

    assert_int_equal(rfc(input, signature, sig), MSTDN_HTTPSIG_OK);
    assert_int_equal(mstdn_httpsig_base(sig, &req, base, sizeof(base), &len),
                     MSTDN_HTTPSIG_OK);
    assert_int_equal(mstdn_httpsig_verify(pub_pem, strlen(pub_pem), sig,
                                          base, len), MSTDN_HTTPSIG_OK);

    assert_int_equal(mstdn_httpsig_sign_rfc9421(priv_pem, strlen(priv_pem),
        KEY_ID, &req, "@method @status", 1, input, sizeof(input), signature,
        sizeof(signature)), MSTDN_HTTPSIG_EPARSE);

    free(sig);
}


static void
time_window(void **state)
{
    mstdn_httpsig_t         *sig = new_sig();
    mstdn_httpsig_request_t  req;
    headers_t                bad = {{ { "Date", "Sun, 05 Jan 2014 21:31:40" },
                                      { NULL, NULL } }};
    headers_t                none = {{ { NULL, NULL } }};

    request(&req, &std_headers);

    assert_int_equal(cavage(cavage_header("keyId=\"a\",algorithm=\""
                            "rsa-sha256\",headers=\"date\""), sig), 0);

    /* Mastodon: created <= now + 1 h; now <= created + 5 min + 1 h */
    assert_int_equal(mstdn_httpsig_check_time(sig, &req, DATE_T), 0);
    assert_int_equal(mstdn_httpsig_check_time(sig, &req, DATE_T + 3900), 0);
    assert_int_equal(mstdn_httpsig_check_time(sig, &req, DATE_T + 3901),
                     MSTDN_HTTPSIG_EWINDOW);
    assert_int_equal(mstdn_httpsig_check_time(sig, &req, DATE_T - 3600), 0);
    assert_int_equal(mstdn_httpsig_check_time(sig, &req, DATE_T - 3601),
                     MSTDN_HTTPSIG_EWINDOW);

    req.data = &bad;
    assert_int_equal(mstdn_httpsig_check_time(sig, &req, DATE_T),
                     MSTDN_HTTPSIG_EDATE);
    req.data = &none;
    assert_int_equal(mstdn_httpsig_check_time(sig, &req, DATE_T),
                     MSTDN_HTTPSIG_EHEADER);

    /* hs2019 with created and a longer expires (capped at 12 h) */
    assert_int_equal(cavage(cavage_header("keyId=\"a\",headers=\"(created) "
                            "(expires)\",created=1000,expires=100000"), sig),
                     0);
    assert_int_equal(mstdn_httpsig_check_time(sig, &req, 1000 + 43200 + 3600), 0);
    assert_int_equal(mstdn_httpsig_check_time(sig, &req, 1000 + 43200 + 3601),
                     MSTDN_HTTPSIG_EWINDOW);

    /* RFC 9421: created */
    assert_int_equal(rfc("s=(\"@method\");created=1000;keyid=\"k\"",
                         "s=:Zg==:", sig), 0);
    assert_int_equal(mstdn_httpsig_check_time(sig, &req, 1000), 0);
    assert_int_equal(mstdn_httpsig_check_time(sig, &req, 1000 - 3601),
                     MSTDN_HTTPSIG_EWINDOW);
    assert_int_equal(mstdn_httpsig_check_time(sig, &req, 1000 + 3901),
                     MSTDN_HTTPSIG_EWINDOW);

    free(sig);
}


static void
dates(void **state)
{
    char     out[MSTDN_HTTPSIG_DATE_LEN];
    int64_t  t;

    assert_int_equal(mstdn_httpsig_parse_date(
        "Sun, 06 Nov 1994 08:49:37 GMT", 29, &t), 0);
    assert_int_equal(t, 784111777);
    mstdn_httpsig_format_date(784111777, out);
    assert_string_equal(out, "Sun, 06 Nov 1994 08:49:37 GMT");
    mstdn_httpsig_format_date(DATE_T, out);
    assert_string_equal(out, DATE);
    mstdn_httpsig_format_date(951782400, out);          /* a leap day */
    assert_string_equal(out, "Tue, 29 Feb 2000 00:00:00 GMT");
    assert_int_equal(mstdn_httpsig_parse_date(out, 29, &t), 0);
    assert_int_equal(t, 951782400);

    assert_int_equal(mstdn_httpsig_parse_date(
        "Sun, 06 Nov 1994 08:49:37 UTC", 29, &t), MSTDN_HTTPSIG_EDATE);
    assert_int_equal(mstdn_httpsig_parse_date(
        "Sun, 31 Nov 1994 08:49:37 GMT", 29, &t), MSTDN_HTTPSIG_EDATE);
    assert_int_equal(mstdn_httpsig_parse_date(
        "Sun, 29 Feb 1900 08:49:37 GMT", 29, &t), MSTDN_HTTPSIG_EDATE);
    assert_int_equal(mstdn_httpsig_parse_date(
        "Sun, 06 Nov 1994 24:49:37 GMT", 29, &t), MSTDN_HTTPSIG_EDATE);
    assert_int_equal(mstdn_httpsig_parse_date(
        "Sunday, 06-Nov-94 08:49:37 GMT", 30, &t), MSTDN_HTTPSIG_EDATE);
    assert_int_equal(mstdn_httpsig_parse_date(
        "Xyz, 06 Nov 1994 08:49:37 GMT", 29, &t), MSTDN_HTTPSIG_EDATE);
}


#define D(s)  s, strlen(s)

static void
digests(void **state)
{
    char  out[MSTDN_HTTPSIG_CDIGEST_LEN];

    mstdn_httpsig_digest(BODY, strlen(BODY), out);
    assert_string_equal(out, BODY_DIGEST);
    mstdn_httpsig_content_digest(BODY, strlen(BODY), out);
    assert_string_equal(out,
        "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:");

    assert_int_equal(mstdn_httpsig_check_digest(D(BODY_DIGEST), D(BODY)), 0);
    assert_int_equal(mstdn_httpsig_check_digest(D("sha-256="
        "X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE="), D(BODY)), 0);
    assert_int_equal(mstdn_httpsig_check_digest(D("SHA-512=abc,"
        BODY_DIGEST), D(BODY)), 0);
    assert_int_equal(mstdn_httpsig_check_digest(D(BODY_DIGEST), D("{}")),
                     MSTDN_HTTPSIG_EDIGEST);
    assert_int_equal(mstdn_httpsig_check_digest(D(BODY_DIGEST "x"), D(BODY)),
                     MSTDN_HTTPSIG_EDIGEST);
    assert_int_equal(mstdn_httpsig_check_digest(D("SHA-512=abc"), D(BODY)),
                     MSTDN_HTTPSIG_EDIGESTALG);
    assert_int_equal(mstdn_httpsig_check_digest(D(""), D(BODY)),
                     MSTDN_HTTPSIG_EDIGESTALG);

    assert_int_equal(mstdn_httpsig_check_content_digest(D("sha-256=:"
        "X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"), D(BODY)), 0);
    assert_int_equal(mstdn_httpsig_check_content_digest(D("sha-512=:Zg==:, "
        "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"), D(BODY)),
        0);
    assert_int_equal(mstdn_httpsig_check_content_digest(D("sha-256=:"
        "X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"), D("{}")),
        MSTDN_HTTPSIG_EDIGEST);
    assert_int_equal(mstdn_httpsig_check_content_digest(D("sha-256=:Zg==:"),
                     D(BODY)), MSTDN_HTTPSIG_EDIGEST);
    assert_int_equal(mstdn_httpsig_check_content_digest(D("sha-512=:Zg==:"),
                     D(BODY)), MSTDN_HTTPSIG_EDIGESTALG);
    assert_int_equal(mstdn_httpsig_check_content_digest(D("sha-256=X48E9"),
                     D(BODY)), MSTDN_HTTPSIG_EDIGESTALG);
    assert_int_equal(mstdn_httpsig_check_content_digest(D("sha-256=:Zg=:"),
                     D(BODY)), MSTDN_HTTPSIG_EPARSE);
    assert_int_equal(mstdn_httpsig_check_content_digest(D("SHA-256=:Zg==:"),
                     D(BODY)), MSTDN_HTTPSIG_EPARSE);
}


static void
errors(void **state)
{
    int  rc;

    for (rc = 0; rc >= MSTDN_HTTPSIG_ESIGN; rc--) {
        assert_non_null(mstdn_httpsig_error(rc));
    }
    assert_string_equal(mstdn_httpsig_error(MSTDN_HTTPSIG_EWINDOW),
                        "Signed request date outside acceptable time window");
}


/* the parameter list Mastodon's Collection-Synchronization header uses */
static void
next_param(void **state)
{
    const char  *in, *p, *end, *k, *v;
    size_t       klen, vlen;

    (void) state;

    in = "collectionId=\"https://a.test/users/x/followers\", "
         "url=\"https://a.test/users/x/followers_synchronization\",digest=ab12";
    p = in;
    end = in + strlen(in);

    assert_int_equal(mstdn_httpsig_next_param(&p, end, &k, &klen, &v, &vlen),
                     1);
    assert_int_equal(klen, 12);
    assert_memory_equal(k, "collectionId", 12);
    assert_int_equal(vlen, strlen("https://a.test/users/x/followers"));
    assert_memory_equal(v, "https://a.test/users/x/followers", vlen);

    assert_int_equal(mstdn_httpsig_next_param(&p, end, &k, &klen, &v, &vlen),
                     1);
    assert_memory_equal(k, "url", 3);

    assert_int_equal(mstdn_httpsig_next_param(&p, end, &k, &klen, &v, &vlen),
                     1);
    assert_memory_equal(k, "digest", 6);
    assert_int_equal(vlen, 4);
    assert_memory_equal(v, "ab12", 4);

    assert_int_equal(mstdn_httpsig_next_param(&p, end, &k, &klen, &v, &vlen),
                     0);

    /* a trailing comma, an unclosed quote, a control byte, no value */
    in = "a=\"b\",";
    p = in;
    end = in + strlen(in);
    assert_int_equal(mstdn_httpsig_next_param(&p, end, &k, &klen, &v, &vlen),
                     MSTDN_HTTPSIG_EPARSE);

    in = "a=\"b";
    p = in;
    end = in + strlen(in);
    assert_int_equal(mstdn_httpsig_next_param(&p, end, &k, &klen, &v, &vlen),
                     MSTDN_HTTPSIG_EPARSE);

    in = "a=\"b\nc\"";
    p = in;
    end = in + strlen(in);
    assert_int_equal(mstdn_httpsig_next_param(&p, end, &k, &klen, &v, &vlen),
                     MSTDN_HTTPSIG_EPARSE);

    in = "a=";
    p = in;
    end = in + strlen(in);
    assert_int_equal(mstdn_httpsig_next_param(&p, end, &k, &klen, &v, &vlen),
                     MSTDN_HTTPSIG_EPARSE);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(base64),
        cmocka_unit_test(parse_cavage),
        cmocka_unit_test(parse_cavage_errors),
        cmocka_unit_test(strength),
        cmocka_unit_test(cavage_vector),
        cmocka_unit_test(der_key),
        cmocka_unit_test(sign_cavage),
        cmocka_unit_test(parse_rfc9421),
        cmocka_unit_test(parse_rfc9421_errors),
        cmocka_unit_test(sign_rfc9421),
        cmocka_unit_test(time_window),
        cmocka_unit_test(dates),
        cmocka_unit_test(digests),
        cmocka_unit_test(errors),
        cmocka_unit_test(next_param),
    };

    setenv("CMOCKA_MESSAGE_OUTPUT", "TAP", 0);

    return cmocka_run_group_tests_name("httpsig", tests, NULL, NULL);
}
