#define _POSIX_C_SOURCE 200809L
#include "peer.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int peer_listen_unix(peer_t *p, const char *path) {
    memset(p, 0, sizeof *p);
    p->fd = -1;
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    snprintf(address.sun_path, sizeof address.sun_path, "%s", path);
    snprintf(p->path, sizeof p->path, "%s", path);
    p->listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
    unlink(path);
    if (bind(p->listen_fd, (struct sockaddr *)&address, sizeof address) != 0 || listen(p->listen_fd, 4) != 0) {
        return -1;
    }
    return 0;
}

int peer_listen_tcp(peer_t *p) {
    memset(p, 0, sizeof *p);
    p->fd = -1;
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    p->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    socklen_t size = sizeof address;
    if (bind(p->listen_fd, (struct sockaddr *)&address, sizeof address) != 0 || listen(p->listen_fd, 4) != 0 ||
        getsockname(p->listen_fd, (struct sockaddr *)&address, &size) != 0) {
        return -1;
    }
    p->port = ntohs(address.sin_port);
    return 0;
}

int peer_accept(peer_t *p) {
    struct pollfd fd = {.fd = p->listen_fd, .events = POLLIN};
    if (poll(&fd, 1, PEER_TIMEOUT_MS) != 1) {
        return -1;
    }
    peer_drop(p);
    p->fd = accept(p->listen_fd, NULL, NULL);
    p->len = 0;
    return p->fd >= 0 ? 0 : -1;
}

json_t *peer_read(peer_t *p) {
    for (;;) {
        char *newline = memchr(p->buf, '\n', p->len);
        if (newline != NULL) {
            size_t n = (size_t)(newline - p->buf);
            json_t *message = json_loadb(p->buf, n, JSON_DECODE_ANY, NULL);
            memmove(p->buf, newline + 1, p->len - n - 1);
            p->len -= n + 1;
            return message;
        }
        struct pollfd fd = {.fd = p->fd, .events = POLLIN};
        if (p->fd < 0 || poll(&fd, 1, PEER_TIMEOUT_MS) != 1 || p->len == sizeof p->buf) {
            return NULL;
        }
        ssize_t got = read(p->fd, p->buf + p->len, sizeof p->buf - p->len);
        if (got <= 0) {
            return NULL;
        }
        p->len += (size_t)got;
    }
}

int peer_wait_eof(peer_t *p) {
    char scratch[4096];
    for (;;) {
        struct pollfd fd = {.fd = p->fd, .events = POLLIN};
        if (poll(&fd, 1, PEER_TIMEOUT_MS) != 1) {
            return 0;
        }
        ssize_t got = read(p->fd, scratch, sizeof scratch);
        if (got <= 0) {
            return 1;
        }
    }
}

int peer_send(peer_t *p, json_t *message) {
    char *text = json_dumps(message, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(message);
    size_t n = strlen(text);
    text[n] = '\n'; /* json_dumps leaves the NUL; overwrite it and send n + 1 bytes */
    ssize_t sent = send(p->fd, text, n + 1, MSG_NOSIGNAL);
    free(text);
    return sent == (ssize_t)(n + 1) ? 0 : -1;
}

void peer_answer(peer_t *p, json_t *request, json_t *result) {
    peer_send(p, json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", json_object_get(request, "id"), "result", result));
}

void peer_drop(peer_t *p) {
    if (p->fd >= 0) {
        close(p->fd);
        p->fd = -1;
    }
}

void peer_free(peer_t *p) {
    peer_drop(p);
    if (p->listen_fd >= 0) {
        close(p->listen_fd);
    }
    if (p->path[0]) {
        unlink(p->path);
    }
}

json_t *peer_handshake(peer_t *p, json_t **init) {
    if (peer_accept(p) != 0) {
        return NULL;
    }
    json_t *request = peer_read(p);
    const char *method = json_string_value(json_object_get(request, "method"));
    if (method == NULL || strcmp(method, "initialize") != 0) {
        json_decref(request);
        return NULL;
    }
    if (init != NULL) {
        *init = json_incref(json_object_get(request, "params"));
    }
    peer_answer(p, request,
                json_pack("{s:s,s:{s:s,s:s},s:{s:b,s:i}}", "protocolVersion", "1", "serverInfo", "name", "keel",
                          "version", "0.1.0", "capabilities", "batches", 1, "maxMessageBytes", 16777216));
    json_decref(request);
    request = peer_read(p);
    method = json_string_value(json_object_get(request, "method"));
    if (method == NULL || strcmp(method, "worker/register") != 0) {
        json_decref(request);
        return NULL;
    }
    json_t *params = json_incref(json_object_get(request, "params"));
    peer_answer(p, request, json_pack("{s:s}", "workerId", "w-1"));
    json_decref(request);
    return params;
}

static void *run_thread(void *arg) {
    run_t *r = arg;
    r->rc = keel_worker_run(r->worker, &r->err);
    return NULL;
}

void run_start(run_t *r, keel_worker_t *w) {
    memset(r, 0, sizeof *r);
    r->worker = w;
    pthread_create(&r->thread, NULL, run_thread, r);
}

int run_stop(run_t *r) {
    keel_worker_stop(r->worker);
    pthread_join(r->thread, NULL);
    return r->rc;
}
