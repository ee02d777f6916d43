/* A TLS bridge per Redis connection (redis_tls.h): hiredis speaks plain
 * RESP on a socketpair, a small thread carries it over OpenSSL. */
#include "redis_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "util.h"

static pthread_mutex_t ctx_lock = PTHREAD_MUTEX_INITIALIZER;
static SSL_CTX *ctx;                /* one per process: the settings do not change */

static void tls_error(char *err, size_t errlen, const char *what)
{
    char reason[256] = "";
    unsigned long e = ERR_get_error();

    if (e != 0)
        ERR_error_string_n(e, reason, sizeof(reason));
    ERR_clear_error();
    snprintf(err, errlen, "TLS: %s%s%s", what, reason[0] ? ": " : "", reason);
}

static SSL_CTX *tls_context(const worker_config *cfg, char *err, size_t errlen)
{
    const char *cafile = cfg->redis_ssl_trusted_certificate;
    SSL_CTX *c;

    pthread_mutex_lock(&ctx_lock);
    if (ctx != NULL) {
        pthread_mutex_unlock(&ctx_lock);
        return ctx;
    }
    if (cafile[0] == '\0') {
        /* OpenSSL's own choice, as the module and Mastodon's client take it */
        cafile = getenv(X509_get_default_cert_file_env());
        if (cafile == NULL || cafile[0] == '\0')
            cafile = X509_get_default_cert_file();
    }
    c = SSL_CTX_new(TLS_client_method());
    if (c == NULL || SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) != 1) {
        tls_error(err, errlen, "no context");
    } else if (SSL_CTX_load_verify_locations(c, cafile, NULL) != 1) {
        char what[600];
        snprintf(what, sizeof(what), "cannot load CA file %s", cafile);
        tls_error(err, errlen, what);
    } else {
        SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
        ctx = c;
        c = NULL;
    }
    SSL_CTX_free(c);
    pthread_mutex_unlock(&ctx_lock);
    return ctx;
}

/* Waits for events on fd until deadline (monotonic ms): 1, 0 on timeout. */
static int wait_fd(int fd, short events, long long deadline)
{
    struct pollfd p = { fd, events, 0 };
    long long left;

    while ((left = deadline - monotonic_ms()) > 0) {
        int n = poll(&p, 1, (int) left);
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR)
            return 0;
    }
    return 0;
}

/* A non-blocking TCP connection to host:port, or -1. */
static int tcp_connect(const char *host, int port, long long deadline, char *err, size_t errlen)
{
    struct addrinfo hints, *res, *ai;
    char service[8];
    int fd = -1, rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    snprintf(service, sizeof(service), "%d", port);
    rc = getaddrinfo(host, service, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "%s", gai_strerror(rc));
        return -1;
    }
    snprintf(err, errlen, "no address");
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        int soerr = 0, on = 1;
        socklen_t len = sizeof(soerr);

        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS)
            soerr = errno;
        else if (!wait_fd(fd, POLLOUT, deadline))
            soerr = ETIMEDOUT;
        else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
            soerr = errno;
        if (soerr == 0) {
            setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
            break;
        }
        snprintf(err, errlen, "%s", strerror(soerr));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

/* The handshake, the certificate verified for name (an address or a host
 * name). */
static SSL *tls_handshake(SSL_CTX *c, int fd, const char *name, long long deadline,
                          char *err, size_t errlen)
{
    unsigned char addr[16];
    int ip = inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1;
    SSL *ssl = SSL_new(c);

    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1) {
        tls_error(err, errlen, "no connection");
        SSL_free(ssl);
        return NULL;
    }
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    if ((ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name)
            : X509_VERIFY_PARAM_set1_host(param, name, 0)) != 1
        || (!ip && SSL_set_tlsext_host_name(ssl, name) != 1))
    {
        tls_error(err, errlen, "bad server name");
        SSL_free(ssl);
        return NULL;
    }

    for (;;) {
        int rc = SSL_connect(ssl), e = SSL_get_error(ssl, rc);
        if (rc == 1)
            return ssl;
        if ((e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            && wait_fd(fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline))
            continue;

        long v = SSL_get_verify_result(ssl);
        if (v != X509_V_OK) {
            ERR_clear_error();
            snprintf(err, errlen, "TLS: certificate verify error: (%ld:%s)", v,
                     X509_verify_cert_error_string(v));
        } else if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            snprintf(err, errlen, "TLS: handshake timed out");
        } else {
            tls_error(err, errlen, "handshake failed");
        }
        SSL_free(ssl);
        return NULL;
    }
}

/* All of buf to hiredis' end, or -1 (closed). */
static int send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t) n;
    }
    return 0;
}

typedef struct {
    SSL *ssl;
    int  tcp;
    int  local;
    long timeout_ms;                /* one write towards the server */
} bridge;

/* All of buf to the server, or -1. */
static int bridge_send(bridge *b, const char *buf, int len)
{
    while (len > 0) {
        int n = SSL_write(b->ssl, buf, len), e = SSL_get_error(b->ssl, n);
        if (n > 0) {
            buf += n;
            len -= n;
        } else if ((e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                   && wait_fd(b->tcp, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
                              monotonic_ms() + b->timeout_ms)) {
            continue;
        } else {
            return -1;
        }
    }
    return 0;
}

static void *bridge_main(void *arg)
{
    bridge *b = arg;
    char buf[16384];

    for (;;) {
        struct pollfd p[2] = { { b->local, POLLIN, 0 }, { b->tcp, POLLIN, 0 } };

        /* bytes OpenSSL already holds would not wake poll() */
        if (SSL_pending(b->ssl) == 0 && poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (SSL_pending(b->ssl) > 0 || p[1].revents) {
            int n = SSL_read(b->ssl, buf, sizeof(buf)), e = SSL_get_error(b->ssl, n);
            if (n > 0) {
                if (send_all(b->local, buf, (size_t) n) != 0)
                    break;
            } else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                break;              /* the server closed, or an error */
            }
        }
        if (p[0].revents) {
            ssize_t n = read(b->local, buf, sizeof(buf));
            if (n <= 0 || bridge_send(b, buf, (int) n) != 0)
                break;              /* hiredis closed it: redisFree() */
        }
    }
    ERR_clear_error();
    SSL_free(b->ssl);
    close(b->tcp);
    close(b->local);
    free(b);
    return NULL;
}

int redis_tls_connect(const worker_config *cfg, char *err, size_t errlen)
{
    const mstdn_redis_url *u = &cfg->redis_url;
    const char *name = cfg->redis_ssl_name[0] != '\0' ? cfg->redis_ssl_name : u->host;
    long long deadline = monotonic_ms() + cfg->redis_connect_timeout_ms;
    SSL_CTX *c = tls_context(cfg, err, errlen);
    bridge *b;
    pthread_t thread;
    pthread_attr_t attr;
    int pair[2], fd, rc;
    SSL *ssl;

    if (c == NULL)
        return -1;
    fd = tcp_connect(u->host, u->port, deadline, err, errlen);
    if (fd < 0)
        return -1;
    ssl = tls_handshake(c, fd, name, deadline, err, errlen);
    if (ssl == NULL) {
        close(fd);
        return -1;
    }
    SSL_clear_mode(ssl, SSL_MODE_AUTO_RETRY);   /* a session ticket is no reply */

    b = calloc(1, sizeof(*b));
    if (b == NULL || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
        snprintf(err, errlen, "TLS: %s", strerror(errno));
        free(b);
        SSL_free(ssl);
        close(fd);
        return -1;
    }
    b->ssl = ssl;
    b->tcp = fd;
    b->local = pair[1];
    b->timeout_ms = cfg->redis_timeout_ms;

    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&thread, &attr, bridge_main, b);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        snprintf(err, errlen, "TLS: no bridge thread: %s", strerror(rc));
        SSL_free(ssl);
        close(fd);
        close(pair[0]);
        close(pair[1]);
        free(b);
        return -1;
    }
    return pair[0];
}
