/* TLS over TCP (docs/clients.md "TLS"). The connection code works on plain file descriptors with
 * one reader thread and writers on any thread; one OpenSSL object cannot be shared that way. So
 * after the handshake, a relay thread owns the SSL object and carries bytes between it and one
 * end of a local socket pair; the connection gets the other end and never sees TLS. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

/* Bytes moved per read on either side. */
#define RELAY_CHUNK_BYTES 16384

static char *dup_or_null(const char *s) {
    return s != NULL ? strdup(s) : NULL;
}

void keel__tls_copy(keel_tls_options_t *dst, const keel_tls_options_t *src) {
    memset(dst, 0, sizeof *dst);
    if (src == NULL) {
        return;
    }
    dst->enabled = src->enabled;
    dst->ca_file = dup_or_null(src->ca_file);
    dst->cert_file = dup_or_null(src->cert_file);
    dst->key_file = dup_or_null(src->key_file);
    dst->server_name = dup_or_null(src->server_name);
}

void keel__tls_free(keel_tls_options_t *tls) {
    free((char *)tls->ca_file);
    free((char *)tls->cert_file);
    free((char *)tls->key_file);
    free((char *)tls->server_name);
    memset(tls, 0, sizeof *tls);
}

/* OpenSSL's reason for the last failure, e.g. "certificate verify failed". */
static const char *openssl_reason(char *buf, size_t len) {
    unsigned long e = ERR_peek_last_error();
    if (e == 0) {
        return "the connection closed";
    }
    const char *reason = ERR_reason_error_string(e);
    snprintf(buf, len, "%s", reason != NULL ? reason : "unknown error");
    ERR_clear_error();
    return buf;
}

static SSL_CTX *make_context(const keel_tls_options_t *tls, keel_error_t *err) {
    char reason[256];
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        keel__set_error(err, KEEL_E_OS, "cannot set up TLS: %s", openssl_reason(reason, sizeof reason));
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    /* SSL_read returns after a record with no application data instead of blocking for more. */
    SSL_CTX_clear_mode(ctx, SSL_MODE_AUTO_RETRY);
    int ok = tls->ca_file != NULL ? SSL_CTX_load_verify_locations(ctx, tls->ca_file, NULL)
                                  : SSL_CTX_set_default_verify_paths(ctx);
    if (ok != 1) {
        keel__set_error(err, KEEL_E_CONFIG, "cannot load TLS CA file %s: %s", tls->ca_file ? tls->ca_file : "(system)",
                        openssl_reason(reason, sizeof reason));
        SSL_CTX_free(ctx);
        return NULL;
    }
    if ((tls->cert_file == NULL) != (tls->key_file == NULL)) {
        keel__set_error(err, KEEL_E_CONFIG, "a TLS client certificate needs both cert_file and key_file");
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (tls->cert_file != NULL && (SSL_CTX_use_certificate_chain_file(ctx, tls->cert_file) != 1 ||
                                   SSL_CTX_use_PrivateKey_file(ctx, tls->key_file, SSL_FILETYPE_PEM) != 1 ||
                                   SSL_CTX_check_private_key(ctx) != 1)) {
        keel__set_error(err, KEEL_E_CONFIG, "cannot load TLS client certificate %s with key %s: %s", tls->cert_file,
                        tls->key_file, openssl_reason(reason, sizeof reason));
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* The name to check: an IP address against the certificate's IP entries, else a DNS name (sent as SNI). */
static int expect_name(SSL *ssl, const char *name) {
    unsigned char ip[16];
    if (inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1) {
        return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name);
    }
    return SSL_set_tlsext_host_name(ssl, name) == 1 && SSL_set1_host(ssl, name) == 1;
}

typedef struct relay {
    SSL_CTX *ctx;
    SSL *ssl;
    int tcp, local;
} relay_t;

static int send_all(int fd, const char *data, size_t len) {
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Carries bytes both ways until either side closes, then closes both. */
static void *relay_loop(void *arg) {
    relay_t *r = arg;
    /* A write to a peer that closed must fail with EPIPE here, not kill the process. */
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, NULL);
    char *buf = malloc(RELAY_CHUNK_BYTES);
    struct pollfd fds[2] = {{.fd = r->tcp, .events = POLLIN}, {.fd = r->local, .events = POLLIN}};
    while (buf != NULL) {
        fds[0].revents = fds[1].revents = 0;
        if (SSL_pending(r->ssl) == 0 && poll(fds, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        if (SSL_pending(r->ssl) > 0 || fds[0].revents != 0) {
            int n = SSL_read(r->ssl, buf, RELAY_CHUNK_BYTES);
            if (n > 0) {
                if (send_all(r->local, buf, (size_t)n) != 0) {
                    break;
                }
            } else {
                int e = SSL_get_error(r->ssl, n);
                if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                    break; /* closed by Keel, or a TLS error */
                }
            }
        }
        if (fds[1].revents != 0) {
            ssize_t n = read(r->local, buf, RELAY_CHUNK_BYTES);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0 || SSL_write(r->ssl, buf, (int)n) <= 0) {
                break; /* closed locally, or Keel went away */
            }
        }
    }
    free(buf);
    SSL_shutdown(r->ssl);
    SSL_free(r->ssl);
    SSL_CTX_free(r->ctx);
    close(r->tcp);
    close(r->local);
    free(r);
    return NULL;
}

int keel__tls_wrap(int tcp, const keel_tls_options_t *tls, const char *host, keel_error_t *err) {
    char reason[256];
    SSL_CTX *ctx = make_context(tls, err);
    SSL *ssl = ctx != NULL ? SSL_new(ctx) : NULL;
    const char *name = tls->server_name != NULL ? tls->server_name : host;
    if (ssl == NULL || SSL_set_fd(ssl, tcp) != 1 || expect_name(ssl, name) != 1) {
        if (ctx != NULL) {
            keel__set_error(err, KEEL_E_CONFIG, "cannot set up TLS for %s: %s", name, openssl_reason(reason, sizeof reason));
        }
        SSL_free(ssl);
        SSL_CTX_free(ctx);
        close(tcp);
        return -1;
    }
    if (SSL_connect(ssl) != 1) {
        long verify = SSL_get_verify_result(ssl);
        keel__set_error(err, KEEL_E_OS, "TLS handshake with %s failed: %s", name,
                        verify != X509_V_OK ? X509_verify_cert_error_string(verify) : openssl_reason(reason, sizeof reason));
        SSL_free(ssl);
        SSL_CTX_free(ctx);
        close(tcp);
        return -1;
    }
    int pair[2];
    relay_t *r = malloc(sizeof *r);
    pthread_t thread;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (r == NULL || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
        keel__set_error(err, KEEL_E_OS, "cannot set up the TLS relay: %s", strerror(errno));
        free(r);
        SSL_free(ssl);
        SSL_CTX_free(ctx);
        close(tcp);
        pthread_attr_destroy(&attr);
        return -1;
    }
    *r = (relay_t){.ctx = ctx, .ssl = ssl, .tcp = tcp, .local = pair[1]};
    if (pthread_create(&thread, &attr, relay_loop, r) != 0) {
        keel__set_error(err, KEEL_E_OS, "cannot start the TLS relay thread");
        close(pair[0]);
        close(pair[1]);
        SSL_free(ssl);
        SSL_CTX_free(ctx);
        close(tcp);
        free(r);
        pthread_attr_destroy(&attr);
        return -1;
    }
    pthread_attr_destroy(&attr);
    return pair[0];
}
