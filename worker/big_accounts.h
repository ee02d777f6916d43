#ifndef MW_BIG_ACCOUNTS_H
#define MW_BIG_ACCOUNTS_H

/* Big accounts merged on read (sql/0031_big_accounts.sql): whether a
 * status skips the push into its author's followers' home feeds. */

#include <libpq-fe.h>
#include "status.h"

/* 1 when f is merged on read (its author has reached `threshold`
 * followers, now or before, and f is not older than the switch: the first
 * such status records it, and 2 is returned then), 0 when it is pushed,
 * -1 + err.  Direct statuses
 * are always pushed (to the few mentioned); threshold 0 turns new
 * switches off. */
int big_account_merged(PGconn *db, const status_facts *f, long threshold,
                       char *err, size_t errlen);

#endif
