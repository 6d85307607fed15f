/* Opening the byte stream to Keel: Unix socket, TCP, or stdio when Keel spawned us. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"

/* "Over stdio, stdout is the wire: a worker must write logs to stderr." (docs/protocol.md) */
#define ENV_TRANSPORT "KEEL_TRANSPORT"
#define ENV_SOCKET "KEEL_SOCKET"
#define ENV_TCP "KEEL_TCP"
#define ENV_TOKEN "KEEL_TOKEN"
#define ENV_TLS "KEEL_TLS"
#define ENV_TLS_CA "KEEL_TLS_CA"
#define ENV_TLS_CERT "KEEL_TLS_CERT"
#define ENV_TLS_KEY "KEEL_TLS_KEY"
#define ENV_TLS_SERVER_NAME "KEEL_TLS_SERVER_NAME"

static const char *nonempty(const char *s) {
    return s != NULL && s[0] != '\0' ? s : NULL;
}

/* TLS from the options, else from KEEL_TLS=1 / KEEL_TLS_CA (and KEEL_TLS_CERT, KEEL_TLS_KEY,
 * KEEL_TLS_SERVER_NAME); the strings are borrowed. */
static keel_tls_options_t resolve_tls(const keel_tls_options_t *tls) {
    if (tls != NULL && (tls->enabled || tls->ca_file != NULL)) {
        keel_tls_options_t t = *tls;
        t.enabled = 1;
        return t;
    }
    const char *flag = getenv(ENV_TLS);
    if ((flag == NULL || strcmp(flag, "1") != 0) && nonempty(getenv(ENV_TLS_CA)) == NULL) {
        return (keel_tls_options_t){0};
    }
    return (keel_tls_options_t){.enabled = 1,
                                .ca_file = nonempty(getenv(ENV_TLS_CA)),
                                .cert_file = nonempty(getenv(ENV_TLS_CERT)),
                                .key_file = nonempty(getenv(ENV_TLS_KEY)),
                                .server_name = nonempty(getenv(ENV_TLS_SERVER_NAME))};
}

int keel__resolve_endpoint(keel__endpoint_t *ep, const char *socket_path, const char *tcp, const char *token,
                           const keel_tls_options_t *tls, int allow_stdio, keel_error_t *err) {
    memset(ep, 0, sizeof *ep);
    const char *transport = getenv(ENV_TRANSPORT);
    if (allow_stdio && transport != NULL && strcasecmp(transport, "stdio") == 0) {
        ep->stdio = 1;
        return 0;
    }
    if (nonempty(socket_path) && nonempty(tcp)) {
        keel__set_error(err, KEEL_E_CONFIG, "give either a socket path or a tcp address, not both");
        return -1;
    }
    ep->token = token != NULL ? token : getenv(ENV_TOKEN);
    if (nonempty(socket_path)) {
        ep->socket_path = socket_path;
    } else if (nonempty(tcp)) {
        ep->tcp = tcp;
    } else if (nonempty(getenv(ENV_SOCKET))) {
        ep->socket_path = getenv(ENV_SOCKET);
    } else if (nonempty(getenv(ENV_TCP))) {
        ep->tcp = getenv(ENV_TCP);
    } else {
        keel__set_error(err, KEEL_E_CONFIG,
                        "no Keel transport: set socket_path or tcp, or KEEL_SOCKET=PATH, KEEL_TCP=HOST:PORT, or run "
                        "under `keel serve --worker` (KEEL_TRANSPORT=stdio)");
        return -1;
    }
    if (ep->tcp != NULL) {
        ep->tls = resolve_tls(tls);
    }
    return 0;
}

static int open_unix(const char *path, keel_error_t *err) {
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof address.sun_path) {
        keel__set_error(err, KEEL_E_CONFIG, "socket path is longer than %zu bytes: %s", sizeof address.sun_path - 1,
                        path);
        return -1;
    }
    strcpy(address.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        keel__set_error(err, KEEL_E_OS, "cannot connect to %s: %s", path, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    return fd;
}

/* Connects to HOST:PORT; *host_out (size HOST_BYTES) gets the host, for TLS's name check. */
#define HOST_BYTES 256
static int open_tcp(const char *address, char *host_out, keel_error_t *err) {
    const char *colon = strrchr(address, ':');
    if (colon == NULL || colon[1] == '\0') {
        keel__set_error(err, KEEL_E_CONFIG, "tcp address must be HOST:PORT, got %s", address);
        return -1;
    }
    char host[HOST_BYTES];
    size_t host_len = (size_t)(colon - address);
    if (host_len >= sizeof host) {
        keel__set_error(err, KEEL_E_CONFIG, "tcp host is too long: %s", address);
        return -1;
    }
    memcpy(host, address, host_len);
    host[host_len] = '\0';
    char *h = host;
    if (h[0] == '[' && host_len > 1 && h[host_len - 1] == ']') { /* [::1]:7000 */
        h[host_len - 1] = '\0';
        h++;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *found = NULL;
    snprintf(host_out, HOST_BYTES, "%s", h[0] ? h : "127.0.0.1");
    int rc = getaddrinfo(host_out, colon + 1, &hints, &found);
    if (rc != 0) {
        keel__set_error(err, KEEL_E_OS, "cannot resolve %s: %s", address, gai_strerror(rc));
        return -1;
    }
    int fd = -1, saved = 0;
    for (struct addrinfo *a = found; a != NULL && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            saved = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(found);
    if (fd < 0) {
        keel__set_error(err, KEEL_E_OS, "cannot connect to %s: %s", address, strerror(saved));
    }
    return fd;
}

/* Over stdio the process's real stdout becomes the wire, and fd 1 is pointed at stderr so stray
 * printf output (ours, the user's, a library's) cannot corrupt it. Only once per process. */
static int open_stdio(int *in_fd, int *out_fd, keel_error_t *err) {
    static int claimed = 0;
    if (claimed) {
        keel__set_error(err, KEEL_E_CONFIG, "the stdio transport can be opened only once per process");
        return -1;
    }
    claimed = 1;
    fflush(stdout);
    int wire = dup(1);
    int input = dup(0);
    if (wire < 0 || input < 0 || dup2(2, 1) < 0) {
        keel__set_error(err, KEEL_E_OS, "cannot set up the stdio transport: %s", strerror(errno));
        return -1;
    }
    *in_fd = input;
    *out_fd = wire;
    return 0;
}

int keel__open_endpoint(const keel__endpoint_t *ep, int *in_fd, int *out_fd, keel_error_t *err) {
    if (ep->stdio) {
        return open_stdio(in_fd, out_fd, err);
    }
    char host[HOST_BYTES];
    int fd = ep->socket_path ? open_unix(ep->socket_path, err) : open_tcp(ep->tcp, host, err);
    if (fd >= 0 && ep->tcp != NULL && ep->tls.enabled) {
        fd = keel__tls_wrap(fd, &ep->tls, host, err);
    }
    if (fd < 0) {
        return -1;
    }
    *in_fd = *out_fd = fd;
    return 0;
}

json_t *keel__initialize_params(const keel__endpoint_t *ep) {
    json_t *params = json_pack("{s:s,s:{s:s,s:s}}", "protocolVersion", KEEL_PROTOCOL_VERSION, "clientInfo", "name",
                               "keel-c", "version", KEEL_VERSION);
    if (ep->tcp != NULL && ep->token != NULL) {
        json_object_set_new(params, "token", json_string(ep->token));
    }
    return params;
}

int keel__check_initialize(keel__conn_t *conn, json_t *result, keel_error_t *err) {
    const char *version = json_string_value(json_object_get(result, "protocolVersion"));
    if (version == NULL || strcmp(version, KEEL_PROTOCOL_VERSION) != 0) {
        keel__set_error(err, KEEL_UNSUPPORTED_PROTOCOL_VERSION,
                        "Keel answered initialize with protocol version %s; this client speaks version 1",
                        version ? version : "(none)");
        return -1;
    }
    json_t *limit = json_object_get(json_object_get(result, "capabilities"), "maxMessageBytes");
    if (json_is_integer(limit) && json_integer_value(limit) > 0) {
        keel__conn_set_peer_limit(conn, (size_t)json_integer_value(limit));
    }
    return 0;
}
