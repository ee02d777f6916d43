#ifndef MSTDN_EMAIL_H
#define MSTDN_EMAIL_H

/*
 * users.email as Mastodon takes it: Devise strips it (Ruby's String#strip)
 * and lower-cases it (String#downcase), then the validations that apply
 * without DNS must pass:
 *   - Devise's email_regexp /\A[^@\s]+@[^@\s]+\z/;
 *   - EmailAddressValidator: Mail::Address.new(value).address == value,
 *     so a local part of atext and dots (the mail gem allows dots
 *     anywhere), or one quoted string; a dot-atom domain or a domain
 *     literal; no comment, display name, group or route;
 *   - EmailMxValidator before it resolves anything: the domain as
 *     Addressable takes a host (none of / ? # { }) and libidn's ToASCII
 *     (what Addressable and idn-ruby use) accepts it.
 * The address is UTF-8, checked already.
 */

#include <stddef.h>

#include "mstdn_value.h"


#define MSTDN_EMAIL_MAX  320    /* longer: invalid (no mail system takes it) */

/*
 * MSTDN_OK with the address Mastodon stores in *out (allocated from a,
 * NUL-terminated) and *out_len; MSTDN_ESYNTAX: invalid; MSTDN_ENOMEM.
 */
int mstdn_email_normalize(const char *s, size_t len, const mstdn_alloc_t *a,
    char **out, size_t *out_len);

#endif
