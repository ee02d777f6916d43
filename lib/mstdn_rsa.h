#ifndef MSTDN_RSA_H
#define MSTDN_RSA_H

/*
 * An account's ActivityPub key pair, in the forms Mastodon stores:
 * 2048-bit RSA, the private key as PKCS#1 PEM ("BEGIN RSA PRIVATE KEY")
 * and the public key as SubjectPublicKeyInfo PEM ("BEGIN PUBLIC KEY").
 *
 * Slow (tens to hundreds of milliseconds): the nginx module runs it in a
 * thread pool, never in the event loop.  Thread-safe.
 */

#define MSTDN_RSA_BITS  2048

/*
 * 0 with two malloc'd NUL-terminated strings, or -1 (both NULL).  Release
 * them with mstdn_rsa_free(), which wipes the private key first.
 */
int mstdn_rsa_keypair(char **private_pem, char **public_pem);

void mstdn_rsa_free(char *private_pem, char *public_pem);

#endif
