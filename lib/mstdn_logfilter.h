#ifndef MSTDN_LOGFILTER_H
#define MSTDN_LOGFILTER_H

#include <stddef.h>

/*
 * What Mastodon keeps out of its logs: the value of every parameter whose
 * name contains (case-insensitively, once %-decoded) one of the names of
 * Rails' filter_parameters as Mastodon and Doorkeeper set them (password,
 * private_key, public_key, otp_attempt; client_secret, code, token) is
 * written as "[FILTERED]".
 */
#define MSTDN_FILTERED  "[FILTERED]"

/* The most mstdn_logfilter_query() may write for a query string of len. */
size_t mstdn_logfilter_size(const char *query, size_t len);

/*
 * query ("a=1&access_token=x") with the secret values replaced, into out
 * (mstdn_logfilter_size() bytes).  Returns the length written, or 0 when
 * nothing in query is secret (out then holds nothing of use).
 */
size_t mstdn_logfilter_query(const char *query, size_t len, char *out);

#endif
