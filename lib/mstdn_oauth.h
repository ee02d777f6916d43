#ifndef MSTDN_OAUTH_H
#define MSTDN_OAUTH_H

#include <stddef.h>

/* Mastodon's OAuth scopes (config/initializers/doorkeeper.rb). */
int mstdn_scope_valid(const char *scope, size_t len);

/*
 * A space-separated scope list: every scope valid and at least one.
 * Returns 0, or -1 with *bad and *bad_len pointing at the first unknown scope.
 */
int mstdn_scopes_check(const char *scopes, size_t len, const char **bad,
    size_t *bad_len);

/*
 * Does a token with `granted` (space-separated) scopes satisfy one of the
 * `required` alternatives (space-separated)?  Mastodon's hierarchy: "read"
 * grants every "read:x", "write" every "write:x", "admin:read" every
 * "admin:read:x", "admin:write" every "admin:write:x".  An empty required
 * list needs no scope.
 */
int mstdn_scopes_allow(const char *granted, size_t granted_len,
    const char *required);

/*
 * One redirect URI, as Doorkeeper validates it: the out-of-band URN, or an
 * absolute URI with a scheme (custom schemes such as "tusky://" included),
 * no fragment, no white space or control characters.  Returns NULL when
 * valid, else the reason in Doorkeeper's words.
 */
const char *mstdn_redirect_uri_check(const char *uri, size_t len);

#define MSTDN_OAUTH_OOB  "urn:ietf:wg:oauth:2.0:oob"

/*
 * A random secret as Doorkeeper makes them: 32 bytes from the OS CSPRNG,
 * base64url without padding (43 characters) written to out (44 bytes
 * with the NUL).  Returns 0, or -1 when no randomness is available.
 */
#define MSTDN_SECRET_LEN  43
int mstdn_random_secret(char out[MSTDN_SECRET_LEN + 1]);

#endif
