#ifndef MW_REDIS_TLS_H
#define MW_REDIS_TLS_H

#include <stddef.h>

#include "config.h"

/* rediss:// for hiredis 0.14, which has no TLS.  Connects to the server of
 * cfg->redis_url within redis_connect_timeout_ms and makes the TLS
 * handshake, verifying the server's certificate against
 * redis_ssl_trusted_certificate (else $SSL_CERT_FILE, else OpenSSL's
 * default file) for redis_ssl_name (else the host), as the module does.
 * Returns one end of a socketpair for redisConnectFd(); a thread relays
 * between the other end and the TLS connection until either side closes.
 * -1 with a message in err on failure. */
int redis_tls_connect(const worker_config *cfg, char *err, size_t errlen);

#endif
