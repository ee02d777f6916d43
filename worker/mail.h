#ifndef MW_MAIL_H
#define MW_MAIL_H

#include <stddef.h>

#include "config.h"
#include "http.h"

/* One plain-text e-mail (UTF-8) over SMTP with libcurl (smtp_* keys), a
 * transfer on the job thread's event loop (http), waited for: other
 * transfers on that loop go on meanwhile.  Connect and total timeouts.
 * Returns 0 once the server accepted it, or -1 with a message in err. */
int mail_send(const worker_config *cfg, http_client *http, const char *to, const char *subject,
              const char *text, char *err, size_t errlen);

/* 1 if addr can go into the envelope and a header as it is: one '@',
 * no white space, control characters or address syntax (<>"(),;:\[]). */
int mail_address_safe(const char *addr);

#endif
