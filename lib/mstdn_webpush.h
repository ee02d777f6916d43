#ifndef MSTDN_WEBPUSH_H
#define MSTDN_WEBPUSH_H

/*
 * Web Push with OpenSSL: the message encryption of RFC 8291
 * (Content-Encoding: aes128gcm, RFC 8188, one record) and the older draft
 * Mastodon still sends to subscriptions that did not register as
 * `standard` (Content-Encoding: aesgcm, with the Encryption and Crypto-Key
 * headers); VAPID (RFC 8292): the server's P-256 key, as Mastodon keeps it
 * (VAPID_PRIVATE_KEY / VAPID_PUBLIC_KEY: URL-safe base64 of the 32-byte
 * scalar and of the 65-byte uncompressed point), and the ES256 JWT.
 */

#include <stddef.h>
#include <openssl/evp.h>

#define MSTDN_WEBPUSH_POINT_LEN   65      /* uncompressed P-256 point */
#define MSTDN_WEBPUSH_AUTH_LEN    16      /* the subscription's auth secret */
#define MSTDN_WEBPUSH_SALT_LEN    16
/* URL-safe base64 of a point, padded, and a NUL */
#define MSTDN_WEBPUSH_KEY_B64_LEN 89

/* URL-safe base64 (RFC 4648 section 5) without padding: writes at most
 * 4 * ceil(len / 3) bytes and a NUL; returns the length. */
size_t mstdn_base64url_encode(const unsigned char *in, size_t len,
    char *out);
/* URL-safe base64, padded or not ('+' and '/' accepted too, as Ruby's
 * urlsafe_decode64 after Webpush.decode64's padding): the decoded length,
 * or -1 when it is not base64 or does not fit size. */
long mstdn_base64url_decode(const char *in, size_t len, unsigned char *out,
    size_t size);

/* 1 when p256dh (base64url) is a point of P-256 and auth (base64url) is
 * 16 bytes, as Webpush validates a subscription's keys; else 0. */
int mstdn_webpush_keys_valid(const char *p256dh, size_t p256dh_len,
    const char *auth, size_t auth_len);

/* A new VAPID key pair as Mastodon's rake task prints it (padded URL-safe
 * base64): private MSTDN_WEBPUSH_KEY_B64_LEN bytes at least, public too.
 * 0 or -1. */
int mstdn_webpush_vapid_generate(char *private_b64, char *public_b64);

/* The VAPID key from its two halves (base64url, padded or not): a P-256
 * key pair whose public point is the given one.  NULL when either is not
 * a key or they do not belong together.  EVP_PKEY_free() it. */
EVP_PKEY *mstdn_webpush_vapid_load(const char *private_b64,
    const char *public_b64);

/* The VAPID JWT (ES256; header {"typ":"JWT","alg":"ES256"}, claims aud,
 * exp, sub) into out: 0, or -1 when it does not fit or signing failed.
 * aud is the push endpoint's origin (scheme://host[:port]). */
int mstdn_webpush_vapid_jwt(EVP_PKEY *key, const char *aud, long long exp,
    const char *sub, char *out, size_t size);

/* An encrypted message. */
typedef struct {
    unsigned char  *body;           /* malloc'd */
    size_t          len;
    unsigned char   salt[MSTDN_WEBPUSH_SALT_LEN];
    unsigned char   server_key[MSTDN_WEBPUSH_POINT_LEN]; /* the sender's
                                     * one-time public key */
} mstdn_webpush_message_t;

/* Encrypts payload for the subscription's keys (raw bytes): standard 1 is
 * RFC 8291 aes128gcm (salt, record size and the key in the body's
 * header), 0 the legacy aesgcm (salt and key go in the Encryption and
 * Crypto-Key headers).  0, or -1 (bad key, out of memory). */
int mstdn_webpush_encrypt(int standard, const unsigned char *p256dh,
    const unsigned char *auth, const unsigned char *payload, size_t len,
    mstdn_webpush_message_t *out);
/* The same with the sender's one-time key (as_key: its 32-byte scalar,
 * then its 65-byte point) and the salt given, for test vectors; NULL:
 * made here. */
int mstdn_webpush_encrypt_with(int standard, const unsigned char *p256dh,
    const unsigned char *auth, const unsigned char *payload, size_t len,
    const unsigned char *as_key, const unsigned char *salt,
    mstdn_webpush_message_t *out);
void mstdn_webpush_message_free(mstdn_webpush_message_t *m);

#endif
