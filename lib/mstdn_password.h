#ifndef MSTDN_PASSWORD_H
#define MSTDN_PASSWORD_H

#include <stddef.h>

/*
 * Devise-compatible bcrypt ("$2a$", cost 4-31) through libxcrypt's
 * reentrant crypt_rn().  Both calls are slow on purpose (cost 10: ~50 ms):
 * the nginx module runs them in a thread pool, never in the event loop.
 * They allocate nothing visible to the caller and are thread-safe.
 */

#define MSTDN_PASSWORD_HASH_MAX  128

/* 0 and the hash in out, or -1 (no randomness, bad cost). */
int mstdn_password_hash(const char *password, size_t len, unsigned cost,
    char out[MSTDN_PASSWORD_HASH_MAX]);

/* 1 when password matches hash, 0 otherwise; compares in constant time. */
int mstdn_password_verify(const char *password, size_t len, const char *hash);

/* Constant-time equality of two byte strings of the same length. */
int mstdn_secure_equal(const void *a, const void *b, size_t len);

#endif
