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

/* Appends one address (`length` bytes of `address`, spaces around it ignored) as a socket or tcp endpoint. */
static int add_endpoint(keel__endpoints_t *eps, const char *address, size_t length, int is_socket, keel_error_t *err) {
    while (length > 0 && *address == ' ') {
        address++;
        length--;
    }
    while (length > 0 && address[length - 1] == ' ') {
        length--;
    }
    if (length == 0) {
        keel__set_error(err, KEEL_E_CONFIG, "an endpoint list has an empty entry: give endpoints separated by single commas");
        return -1;
    }
    keel__endpoint_t *grown = realloc(eps->items, (eps->count + 1) * sizeof *grown);
    if (grown != NULL) {
        eps->items = grown;
    }
    char *copy = grown != NULL ? strndup(address, length) : NULL;
    if (copy == NULL) {
        keel__set_error(err, KEEL_E_OS, "out of memory");
        return -1;
    }
    keel__endpoint_t *ep = &eps->items[eps->count++];
    memset(ep, 0, sizeof *ep);
    *(is_socket ? &ep->socket_path : &ep->tcp) = copy;
    return 0;
}

/* Appends a comma-separated list (from KEEL_SOCKET or KEEL_TCP). */
static int add_list(keel__endpoints_t *eps, const char *list, int is_socket, keel_error_t *err) {
    for (const char *start = list;;) {
        const char *comma = strchr(start, ',');
        if (add_endpoint(eps, start, comma != NULL ? (size_t)(comma - start) : strlen(start), is_socket, err) != 0) {
            return -1;
        }
        if (comma == NULL) {
            return 0;
        }
        start = comma + 1;
    }
}

/* Appends `one` (when set) and then `more` (NULL-terminated), each used as is. */
static int add_given(keel__endpoints_t *eps, const char *one, const char *const *more, int is_socket,
                     keel_error_t *err) {
    if (nonempty(one) && add_endpoint(eps, one, strlen(one), is_socket, err) != 0) {
        return -1;
    }
    for (; more != NULL && *more != NULL; more++) {
        if (add_endpoint(eps, *more, strlen(*more), is_socket, err) != 0) {
            return -1;
        }
    }
    return 0;
}

static int any_given(const char *one, const char *const *more) {
    return nonempty(one) != NULL || (more != NULL && *more != NULL);
}

int keel__resolve_endpoints(keel__endpoints_t *eps, const keel__addresses_t *a, int allow_stdio, keel_error_t *err) {
    memset(eps, 0, sizeof *eps);
    const char *transport = getenv(ENV_TRANSPORT);
    int sockets = any_given(a->socket_path, a->socket_paths), tcps = any_given(a->tcp, a->tcp_addresses);
    int rc;
    if (allow_stdio && transport != NULL && strcasecmp(transport, "stdio") == 0) {
        eps->items = calloc(1, sizeof *eps->items);
        if (eps->items == NULL) {
            keel__set_error(err, KEEL_E_OS, "out of memory");
            return -1;
        }
        eps->items[0].stdio = 1;
        eps->count = 1;
        return 0;
    } else if (sockets && tcps) {
        keel__set_error(err, KEEL_E_CONFIG, "give either a socket path or a tcp address, not both");
        return -1;
    } else if (sockets || tcps) {
        rc = sockets ? add_given(eps, a->socket_path, a->socket_paths, 1, err)
                     : add_given(eps, a->tcp, a->tcp_addresses, 0, err);
    } else if (nonempty(getenv(ENV_SOCKET))) {
        rc = add_list(eps, getenv(ENV_SOCKET), 1, err);
    } else if (nonempty(getenv(ENV_TCP))) {
        rc = add_list(eps, getenv(ENV_TCP), 0, err);
    } else {
        keel__set_error(err, KEEL_E_CONFIG,
                        "no Keel transport: set socket_path or tcp, or KEEL_SOCKET=PATH[,PATH...], "
                        "KEEL_TCP=HOST:PORT[,HOST:PORT...], or run under `keel serve --worker` (KEEL_TRANSPORT=stdio)");
        return -1;
    }
    if (rc != 0) {
        keel__endpoints_free(eps);
        return -1;
    }
    const char *token = a->token != NULL ? a->token : getenv(ENV_TOKEN);
    for (size_t i = 0; i < eps->count; i++) {
        eps->items[i].token = token;
        if (eps->items[i].tcp != NULL) {
            eps->items[i].tls = resolve_tls(a->tls);
        }
    }
    return 0;
}

void keel__endpoints_free(keel__endpoints_t *eps) {
    for (size_t i = 0; i < eps->count; i++) {
        free((char *)eps->items[i].socket_path);
        free((char *)eps->items[i].tcp);
    }
    free(eps->items);
    memset(eps, 0, sizeof *eps);
}

char **keel__strv_dup(const char *const *strings) {
    if (strings == NULL) {
        return NULL;
    }
    size_t n = 0;
    while (strings[n] != NULL) {
        n++;
    }
    char **copy = calloc(n + 1, sizeof *copy);
    for (size_t i = 0; copy != NULL && i < n; i++) {
        copy[i] = strdup(strings[i]);
    }
    return copy;
}

void keel__strv_free(char **strings) {
    for (size_t i = 0; strings != NULL && strings[i] != NULL; i++) {
        free(strings[i]);
    }
    free(strings);
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
