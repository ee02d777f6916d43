/*
 * Web Push encryption and VAPID with OpenSSL 3's EVP interfaces (see
 * mstdn_webpush.h).  The key derivations:
 *
 * aes128gcm (RFC 8291 section 3.4, RFC 8188):
 *   IKM   = HKDF(salt = auth, ikm = ECDH, "WebPush: info\0" ua as, 32)
 *   CEK   = HKDF(salt = salt, ikm = IKM, "Content-Encoding: aes128gcm\0", 16)
 *   NONCE = HKDF(salt = salt, ikm = IKM, "Content-Encoding: nonce\0", 12)
 *   body  = salt | rs (4096, 32 bits) | idlen (65) | as | AES-GCM(payload 02)
 *
 * aesgcm (draft-ietf-webpush-encryption-04, the webpush gem Mastodon used):
 *   PRK   = HKDF(salt = auth, ikm = ECDH, "Content-Encoding: auth\0", 32)
 *   ctx   = "P-256\0" | 65 (16 bits) | ua | 65 (16 bits) | as
 *   CEK   = HKDF(salt = salt, ikm = PRK, "Content-Encoding: aesgcm\0" ctx, 16)
 *   NONCE = HKDF(salt = salt, ikm = PRK, "Content-Encoding: nonce\0" ctx, 12)
 *   body  = AES-GCM(00 00 payload)
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>

#include "mstdn_webpush.h"


#define MSTDN_WEBPUSH_RS   4096
#define MSTDN_WEBPUSH_TAG  16


static const char  b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";


size_t
mstdn_base64url_encode(const unsigned char *in, size_t len, char *out)
{
    size_t    i, n;
    uint32_t  v;

    for (i = 0, n = 0; i + 2 < len; i += 3) {
        v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8 | in[i + 2];
        out[n++] = b64url[v >> 18 & 63];
        out[n++] = b64url[v >> 12 & 63];
        out[n++] = b64url[v >> 6 & 63];
        out[n++] = b64url[v & 63];
    }

    if (len - i == 1) {
        v = (uint32_t) in[i] << 16;
        out[n++] = b64url[v >> 18 & 63];
        out[n++] = b64url[v >> 12 & 63];

    } else if (len - i == 2) {
        v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8;
        out[n++] = b64url[v >> 18 & 63];
        out[n++] = b64url[v >> 12 & 63];
        out[n++] = b64url[v >> 6 & 63];
    }

    out[n] = '\0';

    return n;
}


static int
b64url_value(int c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '-' || c == '+') {
        return 62;
    }
    if (c == '_' || c == '/') {
        return 63;
    }
    return -1;
}


long
mstdn_base64url_decode(const char *in, size_t len, unsigned char *out,
    size_t size)
{
    int       d;
    size_t    i, n, bits;
    uint32_t  acc;

    /* padding: at most two '=' at the end, where they belong */
    while (len > 0 && in[len - 1] == '=') {
        len--;
    }

    if (len % 4 == 1) {
        return -1;
    }

    acc = 0;
    bits = 0;
    n = 0;

    for (i = 0; i < len; i++) {
        d = b64url_value((unsigned char) in[i]);
        if (d < 0) {
            return -1;
        }

        acc = (acc << 6 | (uint32_t) d) & 0xffffff;
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            if (n == size) {
                return -1;
            }
            out[n++] = (unsigned char) (acc >> bits);
        }
    }

    return (long) n;
}


/* A P-256 key from its public point (and private scalar if given). */
static EVP_PKEY *
ec_key(const unsigned char *point, const unsigned char *scalar)
{
    BIGNUM          *priv;
    EVP_PKEY        *key;
    OSSL_PARAM      *params;
    EVP_PKEY_CTX    *ctx;
    OSSL_PARAM_BLD  *bld;

    key = NULL;
    priv = NULL;
    params = NULL;
    ctx = NULL;

    bld = OSSL_PARAM_BLD_new();
    if (bld == NULL) {
        return NULL;
    }

    if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                         "prime256v1", 0)
        || !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
                                             point, MSTDN_WEBPUSH_POINT_LEN))
    {
        goto done;
    }

    if (scalar) {
        priv = BN_bin2bn(scalar, 32, NULL);
        if (priv == NULL
            || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv))
        {
            goto done;
        }
    }

    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);

    if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0
        || EVP_PKEY_fromdata(ctx, &key,
                             scalar ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
                             params) <= 0)
    {
        key = NULL;
    }

done:

    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    BN_clear_free(priv);
    OSSL_PARAM_BLD_free(bld);

    return key;
}


/* The uncompressed public point of a P-256 key. */
static int
ec_point(EVP_PKEY *key, unsigned char *point)
{
    size_t  n;

    if (EVP_PKEY_get_octet_string_param(key,
                                        OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
                                        point, MSTDN_WEBPUSH_POINT_LEN, &n)
        != 1 || n != MSTDN_WEBPUSH_POINT_LEN || point[0] != 0x04)
    {
        return -1;
    }

    return 0;
}


/* The 32-byte private scalar of a P-256 key. */
static int
ec_scalar(EVP_PKEY *key, unsigned char *scalar)
{
    int      rc;
    BIGNUM  *priv;

    priv = NULL;

    if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &priv) != 1) {
        return -1;
    }

    rc = BN_bn2binpad(priv, scalar, 32) == 32 ? 0 : -1;
    BN_clear_free(priv);

    return rc;
}


int
mstdn_webpush_keys_valid(const char *p256dh, size_t p256dh_len,
    const char *auth, size_t auth_len)
{
    long           n;
    EVP_PKEY      *key;
    unsigned char  point[MSTDN_WEBPUSH_POINT_LEN + 1];
    unsigned char  secret[MSTDN_WEBPUSH_AUTH_LEN + 1];

    n = mstdn_base64url_decode(auth, auth_len, secret, sizeof(secret));
    if (n != MSTDN_WEBPUSH_AUTH_LEN) {
        return 0;
    }

    n = mstdn_base64url_decode(p256dh, p256dh_len, point, sizeof(point));
    if (n != MSTDN_WEBPUSH_POINT_LEN || point[0] != 0x04) {
        return 0;
    }

    /* the point is decoded, and checked to lie on the curve, here */
    key = ec_key(point, NULL);
    if (key == NULL) {
        return 0;
    }

    EVP_PKEY_free(key);

    return 1;
}


/* Padded URL-safe base64, as Ruby's urlsafe_encode64. */
static void
b64url_padded(const unsigned char *in, size_t len, char *out)
{
    size_t  n;

    n = mstdn_base64url_encode(in, len, out);

    while (n % 4) {
        out[n++] = '=';
    }

    out[n] = '\0';
}


int
mstdn_webpush_vapid_generate(char *private_b64, char *public_b64)
{
    int            rc;
    EVP_PKEY      *key;
    unsigned char  scalar[32], point[MSTDN_WEBPUSH_POINT_LEN];

    key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (key == NULL) {
        return -1;
    }

    rc = -1;

    if (ec_scalar(key, scalar) == 0 && ec_point(key, point) == 0) {
        b64url_padded(scalar, sizeof(scalar), private_b64);
        b64url_padded(point, sizeof(point), public_b64);
        rc = 0;
    }

    OPENSSL_cleanse(scalar, sizeof(scalar));
    EVP_PKEY_free(key);

    return rc;
}


EVP_PKEY *
mstdn_webpush_vapid_load(const char *private_b64, const char *public_b64)
{
    long           n, m;
    EVP_PKEY      *key;
    unsigned char  scalar[33], point[MSTDN_WEBPUSH_POINT_LEN + 1];
    unsigned char  check[MSTDN_WEBPUSH_POINT_LEN];

    n = mstdn_base64url_decode(private_b64, strlen(private_b64), scalar,
                               sizeof(scalar));
    m = mstdn_base64url_decode(public_b64, strlen(public_b64), point,
                               sizeof(point));

    if (n != 32 || m != MSTDN_WEBPUSH_POINT_LEN || point[0] != 0x04) {
        OPENSSL_cleanse(scalar, sizeof(scalar));
        return NULL;
    }

    key = ec_key(point, scalar);
    OPENSSL_cleanse(scalar, sizeof(scalar));

    if (key == NULL) {
        return NULL;
    }

    /* the public half must be the private one's: a pair that does not
     * match would sign what push services then refuse, silently */
    {
        EVP_PKEY_CTX  *ctx;
        int            ok;

        ctx = EVP_PKEY_CTX_new(key, NULL);
        ok = ctx != NULL && EVP_PKEY_pairwise_check(ctx) == 1
             && ec_point(key, check) == 0
             && memcmp(check, point, sizeof(check)) == 0;
        EVP_PKEY_CTX_free(ctx);

        if (!ok) {
            EVP_PKEY_free(key);
            return NULL;
        }
    }

    return key;
}


int
mstdn_webpush_vapid_jwt(EVP_PKEY *key, const char *aud, long long exp,
    const char *sub, char *out, size_t size)
{
    int               rc;
    char              claims[1024];
    size_t            n, len, siglen;
    ECDSA_SIG        *sig;
    EVP_MD_CTX       *md;
    const BIGNUM     *r, *s;
    unsigned char     der[80], raw[64];
    const unsigned char  *p;
    static const char  header[] = "{\"typ\":\"JWT\",\"alg\":\"ES256\"}";

    /* the claims are ours (an origin, a number, a mailto:): no quoting */
    if (strpbrk(aud, "\"\\") || strpbrk(sub, "\"\\")) {
        return -1;
    }

    len = (size_t) snprintf(claims, sizeof(claims),
                            "{\"aud\":\"%s\",\"exp\":%lld,\"sub\":\"%s\"}",
                            aud, exp, sub);
    if (len >= sizeof(claims)) {
        return -1;
    }

    /* header . claims . signature, each base64url */
    if (size < (sizeof(header) + len + 64) * 4 / 3 + 8) {
        return -1;
    }

    n = mstdn_base64url_encode((const unsigned char *) header,
                               sizeof(header) - 1, out);
    out[n++] = '.';
    n += mstdn_base64url_encode((const unsigned char *) claims, len, out + n);

    md = EVP_MD_CTX_new();
    if (md == NULL) {
        return -1;
    }

    rc = -1;
    sig = NULL;
    siglen = sizeof(der);

    if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1
        || EVP_DigestSign(md, der, &siglen, (const unsigned char *) out, n)
           != 1)
    {
        goto done;
    }

    /* JWS wants r | s, 32 bytes each, not DER */
    p = der;
    sig = d2i_ECDSA_SIG(NULL, &p, (long) siglen);
    if (sig == NULL) {
        goto done;
    }

    ECDSA_SIG_get0(sig, &r, &s);

    if (BN_bn2binpad(r, raw, 32) != 32 || BN_bn2binpad(s, raw + 32, 32) != 32)
    {
        goto done;
    }

    out[n++] = '.';
    mstdn_base64url_encode(raw, sizeof(raw), out + n);
    rc = 0;

done:

    ECDSA_SIG_free(sig);
    EVP_MD_CTX_free(md);

    return rc;
}


static int
hkdf(const unsigned char *salt, size_t salt_len, const unsigned char *ikm,
    size_t ikm_len, const unsigned char *info, size_t info_len,
    unsigned char *out, size_t len)
{
    int            ok;
    EVP_PKEY_CTX  *ctx;

    ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
    if (ctx == NULL) {
        return -1;
    }

    ok = EVP_PKEY_derive_init(ctx) > 0
         && EVP_PKEY_CTX_set_hkdf_md(ctx, EVP_sha256()) > 0
         && EVP_PKEY_CTX_set1_hkdf_salt(ctx, salt, (int) salt_len) > 0
         && EVP_PKEY_CTX_set1_hkdf_key(ctx, ikm, (int) ikm_len) > 0
         && EVP_PKEY_CTX_add1_hkdf_info(ctx, info, (int) info_len) > 0
         && EVP_PKEY_derive(ctx, out, &len) > 0;

    EVP_PKEY_CTX_free(ctx);

    return ok ? 0 : -1;
}


static int
ecdh(EVP_PKEY *own, EVP_PKEY *peer, unsigned char *secret)
{
    int            ok;
    size_t         len;
    EVP_PKEY_CTX  *ctx;

    ctx = EVP_PKEY_CTX_new(own, NULL);
    if (ctx == NULL) {
        return -1;
    }

    len = 32;
    ok = EVP_PKEY_derive_init(ctx) > 0
         && EVP_PKEY_derive_set_peer(ctx, peer) > 0
         && EVP_PKEY_derive(ctx, secret, &len) > 0 && len == 32;

    EVP_PKEY_CTX_free(ctx);

    return ok ? 0 : -1;
}


/* AES-128-GCM of the parts (concatenated) into out, the tag after. */
static int
aes_gcm(const unsigned char *key, const unsigned char *nonce,
    const unsigned char *pre, size_t pre_len, const unsigned char *payload,
    size_t len, const unsigned char *post, size_t post_len,
    unsigned char *out)
{
    int              n, ok;
    size_t           done;
    EVP_CIPHER_CTX  *c;

    c = EVP_CIPHER_CTX_new();
    if (c == NULL) {
        return -1;
    }

    done = 0;
    ok = EVP_EncryptInit_ex(c, EVP_aes_128_gcm(), NULL, NULL, NULL) == 1
         && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1
         && EVP_EncryptInit_ex(c, NULL, NULL, key, nonce) == 1;

    if (ok && pre_len) {
        ok = EVP_EncryptUpdate(c, out + done, &n, pre, (int) pre_len) == 1;
        done += ok ? (size_t) n : 0;
    }

    if (ok && len) {
        ok = EVP_EncryptUpdate(c, out + done, &n, payload, (int) len) == 1;
        done += ok ? (size_t) n : 0;
    }

    if (ok && post_len) {
        ok = EVP_EncryptUpdate(c, out + done, &n, post, (int) post_len) == 1;
        done += ok ? (size_t) n : 0;
    }

    ok = ok && EVP_EncryptFinal_ex(c, out + done, &n) == 1;
    done += ok ? (size_t) n : 0;

    ok = ok && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG,
                                   MSTDN_WEBPUSH_TAG, out + done) == 1;

    EVP_CIPHER_CTX_free(c);

    return ok ? 0 : -1;
}


int
mstdn_webpush_encrypt(int standard, const unsigned char *p256dh,
    const unsigned char *auth, const unsigned char *payload, size_t len,
    mstdn_webpush_message_t *out)
{
    return mstdn_webpush_encrypt_with(standard, p256dh, auth, payload, len,
                                      NULL, NULL, out);
}


int
mstdn_webpush_encrypt_with(int standard, const unsigned char *p256dh,
    const unsigned char *auth, const unsigned char *payload, size_t len,
    const unsigned char *as_key, const unsigned char *salt,
    mstdn_webpush_message_t *out)
{
    int             rc;
    size_t          info_len, ctx_len, n;
    EVP_PKEY       *peer, *own;
    unsigned char   secret[32], ikm[32], cek[16], nonce[12];
    unsigned char   info[200], context[140];
    unsigned char   rs[4], zero[2];
    static const unsigned char  delimiter = 0x02;

    memset(out, 0, sizeof(mstdn_webpush_message_t));

    if (len > 65536) {
        return -1;
    }

    rc = -1;
    own = NULL;

    peer = ec_key(p256dh, NULL);
    if (peer == NULL) {
        return -1;
    }

    if (as_key) {
        own = ec_key(as_key + 32, as_key);
    } else {
        own = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    }

    if (own == NULL || ec_point(own, out->server_key) != 0
        || ecdh(own, peer, secret) != 0)
    {
        goto done;
    }

    if (salt) {
        memcpy(out->salt, salt, MSTDN_WEBPUSH_SALT_LEN);

    } else if (RAND_bytes(out->salt, MSTDN_WEBPUSH_SALT_LEN) != 1) {
        goto done;
    }

    if (standard) {
        /* "WebPush: info" 0x00 ua_public as_public */
        info_len = sizeof("WebPush: info");
        memcpy(info, "WebPush: info", info_len);
        memcpy(info + info_len, p256dh, MSTDN_WEBPUSH_POINT_LEN);
        info_len += MSTDN_WEBPUSH_POINT_LEN;
        memcpy(info + info_len, out->server_key, MSTDN_WEBPUSH_POINT_LEN);
        info_len += MSTDN_WEBPUSH_POINT_LEN;

        if (hkdf(auth, MSTDN_WEBPUSH_AUTH_LEN, secret, 32, info, info_len,
                 ikm, 32) != 0
            || hkdf(out->salt, MSTDN_WEBPUSH_SALT_LEN, ikm, 32,
                    (const unsigned char *) "Content-Encoding: aes128gcm",
                    sizeof("Content-Encoding: aes128gcm"), cek, 16) != 0
            || hkdf(out->salt, MSTDN_WEBPUSH_SALT_LEN, ikm, 32,
                    (const unsigned char *) "Content-Encoding: nonce",
                    sizeof("Content-Encoding: nonce"), nonce, 12) != 0)
        {
            goto done;
        }

        /* one record: it must hold the payload, the delimiter and the tag */
        n = len + 1 + MSTDN_WEBPUSH_TAG;
        n = n > MSTDN_WEBPUSH_RS ? n : MSTDN_WEBPUSH_RS;
        rs[0] = (unsigned char) (n >> 24);
        rs[1] = (unsigned char) (n >> 16);
        rs[2] = (unsigned char) (n >> 8);
        rs[3] = (unsigned char) n;

        out->len = MSTDN_WEBPUSH_SALT_LEN + 4 + 1 + MSTDN_WEBPUSH_POINT_LEN
                   + len + 1 + MSTDN_WEBPUSH_TAG;
        out->body = malloc(out->len);
        if (out->body == NULL) {
            goto done;
        }

        n = 0;
        memcpy(out->body, out->salt, MSTDN_WEBPUSH_SALT_LEN);
        n += MSTDN_WEBPUSH_SALT_LEN;
        memcpy(out->body + n, rs, 4);
        n += 4;
        out->body[n++] = MSTDN_WEBPUSH_POINT_LEN;
        memcpy(out->body + n, out->server_key, MSTDN_WEBPUSH_POINT_LEN);
        n += MSTDN_WEBPUSH_POINT_LEN;

        rc = aes_gcm(cek, nonce, NULL, 0, payload, len, &delimiter, 1,
                     out->body + n);

    } else {
        /* "P-256" 0x00 len(ua) ua len(as) as */
        ctx_len = sizeof("P-256");
        memcpy(context, "P-256", ctx_len);
        context[ctx_len++] = 0;
        context[ctx_len++] = MSTDN_WEBPUSH_POINT_LEN;
        memcpy(context + ctx_len, p256dh, MSTDN_WEBPUSH_POINT_LEN);
        ctx_len += MSTDN_WEBPUSH_POINT_LEN;
        context[ctx_len++] = 0;
        context[ctx_len++] = MSTDN_WEBPUSH_POINT_LEN;
        memcpy(context + ctx_len, out->server_key, MSTDN_WEBPUSH_POINT_LEN);
        ctx_len += MSTDN_WEBPUSH_POINT_LEN;

        if (hkdf(auth, MSTDN_WEBPUSH_AUTH_LEN, secret, 32,
                 (const unsigned char *) "Content-Encoding: auth",
                 sizeof("Content-Encoding: auth"), ikm, 32) != 0)
        {
            goto done;
        }

        info_len = sizeof("Content-Encoding: aesgcm");
        memcpy(info, "Content-Encoding: aesgcm", info_len);
        memcpy(info + info_len, context, ctx_len);

        if (hkdf(out->salt, MSTDN_WEBPUSH_SALT_LEN, ikm, 32, info,
                 info_len + ctx_len, cek, 16) != 0)
        {
            goto done;
        }

        info_len = sizeof("Content-Encoding: nonce");
        memcpy(info, "Content-Encoding: nonce", info_len);
        memcpy(info + info_len, context, ctx_len);

        if (hkdf(out->salt, MSTDN_WEBPUSH_SALT_LEN, ikm, 32, info,
                 info_len + ctx_len, nonce, 12) != 0)
        {
            goto done;
        }

        out->len = 2 + len + MSTDN_WEBPUSH_TAG;
        out->body = malloc(out->len);
        if (out->body == NULL) {
            goto done;
        }

        /* two bytes of padding length: none */
        zero[0] = 0;
        zero[1] = 0;

        rc = aes_gcm(cek, nonce, zero, 2, payload, len, NULL, 0, out->body);
    }

done:

    OPENSSL_cleanse(secret, sizeof(secret));
    OPENSSL_cleanse(ikm, sizeof(ikm));
    OPENSSL_cleanse(cek, sizeof(cek));
    EVP_PKEY_free(own);
    EVP_PKEY_free(peer);

    if (rc != 0) {
        mstdn_webpush_message_free(out);
    }

    return rc;
}


void
mstdn_webpush_message_free(mstdn_webpush_message_t *m)
{
    free(m->body);
    m->body = NULL;
    m->len = 0;
}
