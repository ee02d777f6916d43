#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "mstdn_rsa.h"


static char *
mstdn_rsa_bio_string(BIO *bio)
{
    char  *mem, *s;
    long   n;

    n = BIO_get_mem_data(bio, &mem);
    if (n <= 0) {
        return NULL;
    }

    s = malloc((size_t) n + 1);
    if (s) {
        memcpy(s, mem, (size_t) n);
        s[n] = '\0';
    }

    return s;
}


int
mstdn_rsa_keypair(char **private_pem, char **public_pem)
{
    int        rc;
    BIO       *priv, *pub;
    EVP_PKEY  *key;

    *private_pem = NULL;
    *public_pem = NULL;

    key = EVP_RSA_gen(MSTDN_RSA_BITS);
    priv = BIO_new(BIO_s_mem());
    pub = BIO_new(BIO_s_mem());

    rc = -1;

    if (key && priv && pub
        && PEM_write_bio_PrivateKey_traditional(priv, key, NULL, NULL, 0,
                                                NULL, NULL) == 1
        && PEM_write_bio_PUBKEY(pub, key) == 1)
    {
        *private_pem = mstdn_rsa_bio_string(priv);
        *public_pem = mstdn_rsa_bio_string(pub);

        if (*private_pem && *public_pem) {
            rc = 0;

        } else {
            mstdn_rsa_free(*private_pem, *public_pem);
            *private_pem = NULL;
            *public_pem = NULL;
        }
    }

    if (priv) {
        /* the memory BIO holds the private key too */
        char  *mem;
        long   n = BIO_get_mem_data(priv, &mem);

        if (n > 0) {
            OPENSSL_cleanse(mem, (size_t) n);
        }
    }

    BIO_free(priv);
    BIO_free(pub);
    EVP_PKEY_free(key);

    return rc;
}


void
mstdn_rsa_free(char *private_pem, char *public_pem)
{
    if (private_pem) {
        OPENSSL_cleanse(private_pem, strlen(private_pem));
        free(private_pem);
    }

    free(public_pem);
}
