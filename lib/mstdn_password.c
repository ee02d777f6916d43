#include <stdlib.h>
#include <string.h>
#include <crypt.h>

#include "mstdn_password.h"


int
mstdn_secure_equal(const void *a, const void *b, size_t len)
{
    const unsigned char  *p = a, *q = b;
    unsigned char         d = 0;
    size_t                i;

    for (i = 0; i < len; i++) {
        d |= p[i] ^ q[i];
    }

    return d == 0;
}


/* bcrypt reads at most 72 bytes, and a NUL would end the password early */
static char *
mstdn_password_copy(const char *password, size_t len)
{
    char  *p;

    if (memchr(password, '\0', len) != NULL) {
        return NULL;
    }

    p = malloc(len + 1);
    if (p) {
        memcpy(p, password, len);
        p[len] = '\0';
    }

    return p;
}


/*
 * crypt_rn() of the password with setting (a salt, or a whole hash to
 * check against) into out; what it used is wiped.  0, or -1.
 */
static int
mstdn_password_crypt(const char *password, size_t len, const char *setting,
    char out[MSTDN_PASSWORD_HASH_MAX])
{
    char               *pw, *h;
    struct crypt_data  *cd;
    int                 rc;

    pw = mstdn_password_copy(password, len);
    cd = calloc(1, sizeof(struct crypt_data));   /* ~32 KB: not on a stack */

    rc = -1;

    if (pw && cd) {
        h = crypt_rn(pw, setting, cd, sizeof(struct crypt_data));
        if (h && h[0] == '$' && strlen(h) < MSTDN_PASSWORD_HASH_MAX) {
            strcpy(out, h);
            rc = 0;
        }
    }

    if (pw) {
        explicit_bzero(pw, len);
        free(pw);
    }
    if (cd) {
        explicit_bzero(cd, sizeof(struct crypt_data));
        free(cd);
    }

    return rc;
}


int
mstdn_password_hash(const char *password, size_t len, unsigned cost,
    char out[MSTDN_PASSWORD_HASH_MAX])
{
    char  setting[CRYPT_GENSALT_OUTPUT_SIZE];

    if (cost < 4 || cost > 31) {
        return -1;
    }

    if (crypt_gensalt_rn("$2a$", cost, NULL, 0, setting, sizeof(setting))
        == NULL)
    {
        return -1;
    }

    return mstdn_password_crypt(password, len, setting, out);
}


int
mstdn_password_verify(const char *password, size_t len, const char *hash)
{
    char    h[MSTDN_PASSWORD_HASH_MAX];
    size_t  n;
    int     ok;

    n = strlen(hash);

    if (n < 7 || hash[0] != '$' || hash[1] != '2') {
        return 0;
    }

    if (mstdn_password_crypt(password, len, hash, h) != 0) {
        return 0;
    }

    ok = strlen(h) == n && mstdn_secure_equal(h, hash, n);

    explicit_bzero(h, sizeof(h));

    return ok;
}
