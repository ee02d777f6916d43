#ifndef MW_PAYLOAD_H
#define MW_PAYLOAD_H

/* Renderings the module leaves for jobs: mastodon:payload:status:<id> (a
 * status without viewer flags) and mastodon:payload:account:<id> (an
 * Account), kept an hour.  Jobs carry ids only (ARCHITECTURE.md, "Job
 * outbox"); what they publish comes from here. */

#include <stddef.h>
#include <hiredis/hiredis.h>

/* The rendering of kind ("status", "account") and id into *out (malloc'd,
 * NUL-terminated, *len bytes).  The module writes it just after its commit,
 * so the job may be faster: with wait set, a missing key is asked again for
 * up to half a second.  1 found, 0 not there (Redis was down when the module
 * wrote, or it is older than an hour: the job goes on without it), -1 + err. */
int payload_get(redisContext *c, const char *kind, const char *id, int wait, char **out,
                size_t *len, char *err, size_t errlen);

#endif
