#ifndef MW_PAYLOAD_H
#define MW_PAYLOAD_H

/* Renderings the module leaves for jobs: mastodon:payload:status:<id> (a
 * status without viewer flags), kept an hour.  Jobs carry ids only (ARCHITECTURE.md, "Job
 * outbox"); what they publish comes from here. */

#include <stddef.h>
#include <hiredis/hiredis.h>

/* The rendering of kind ("status", "account") and id into *out (malloc'd,
 * NUL-terminated, *len bytes).  Never waited for: 1 found, 0 not there (not
 * written yet, Redis was down when the module wrote, or it is older than an
 * hour: the job publishes ids, rendered by the streaming side), -1 + err. */
int payload_get(redisContext *c, const char *kind, const char *id, char **out, size_t *len,
                char *err, size_t errlen);

#endif
