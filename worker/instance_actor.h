#ifndef MW_INSTANCE_ACTOR_H
#define MW_INSTANCE_ACTOR_H

#include <stddef.h>
#include <libpq-fe.h>

#include "config.h"

/* Creates the instance actor's row (account -99) with its key pair, or
 * completes it; blocking (the CLI's migrate).  0, or -1 + err. */
int instance_actor_ensure(PGconn *conn, const worker_config *cfg, char *err,
                          size_t errlen);

#endif
