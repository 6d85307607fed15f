/* JSON-RPC 2.0 connection over a line-framed byte stream: calls and notifications out, requests
 * and notifications in. One reader thread per connection; writes from any thread are coalesced. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"

/* close() waits this long for queued bytes to leave before closing the stream anyway. */
#define CLOSE_FLUSH_TIMEOUT_MS 1000

/* ---- lifecycle ---- */

keel__conn_t *keel__conn_new(int in_fd, int out_fd, size_t max_frame_bytes, const keel__handlers_t *handlers) {
    keel__conn_t *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return NULL;
    }
    if (pipe(c->wake) != 0) {
        free(c);
        return NULL;
    }
    c->in_fd = in_fd;
    c->out_fd = out_fd;
    if (handlers != NULL) {
        c->h = *handlers;
    }
    keel__decoder_init(&c->decoder, max_frame_bytes);
    pthread_mutex_init(&c->mu, NULL);
    keel__cond_init_monotonic(&c->flushed);
    c->refs = 1;
    return c;
}

void keel__conn_retain(keel__conn_t *c) {
    pthread_mutex_lock(&c->mu);
    c->refs++;
    pthread_mutex_unlock(&c->mu);
}

void keel__conn_release(keel__conn_t *c) {
    if (c == NULL) {
        return;
    }
    pthread_mutex_lock(&c->mu);
    int last = --c->refs == 0;
    pthread_mutex_unlock(&c->mu);
    if (!last) {
        return;
    }
    keel__conn_close(c);
    keel__decoder_free(&c->decoder);
    free(c->out);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->flushed);
    free(c);
}


void keel__mark_closed_locked(keel__conn_t *c) {
    if (c->closed) {
        return;
    }
    c->closed = 1;
    for (pending_t *p = c->pending; p != NULL; p = p->next) {
        pthread_cond_signal(&p->cond);
    }
}

void keel__conn_close(keel__conn_t *c) {
    pthread_mutex_lock(&c->mu);
    struct timespec until = keel__deadline(CLOSE_FLUSH_TIMEOUT_MS);
    while (!c->closed && (c->writing || c->out_len > 0)) {
        if (pthread_cond_timedwait(&c->flushed, &c->mu, &until) == ETIMEDOUT) {
            break;
        }
    }
    keel__mark_closed_locked(c);
    int close_fds = !c->fds_closed;
    c->fds_closed = 1;
    pthread_mutex_unlock(&c->mu);
    if (!close_fds) {
        return;
    }
    ssize_t ignored = write(c->wake[1], "x", 1);
    (void)ignored;
    if (c->reader_started && !pthread_equal(c->reader, pthread_self())) {
        pthread_join(c->reader, NULL);
    } else if (c->reader_started) {
        pthread_detach(c->reader); /* the reader dropped the last reference on its way out */
    }
    close(c->in_fd);
    if (c->out_fd != c->in_fd) {
        close(c->out_fd);
    }
    close(c->wake[0]);
    close(c->wake[1]);
}

int keel__conn_closed(keel__conn_t *c) {
    pthread_mutex_lock(&c->mu);
    int closed = c->closed || c->read_eof;
    pthread_mutex_unlock(&c->mu);
    return closed;
}

void keel__conn_set_peer_limit(keel__conn_t *c, size_t limit) {
    pthread_mutex_lock(&c->mu);
    c->peer_limit = limit;
    pthread_mutex_unlock(&c->mu);
}

size_t keel__conn_peer_limit(keel__conn_t *c) {
    pthread_mutex_lock(&c->mu);
    size_t limit = c->peer_limit;
    pthread_mutex_unlock(&c->mu);
    return limit;
}

/* ---- writing ---- */

static int write_all(int fd, const char *data, size_t len) {
    while (len > 0) {
        /* MSG_NOSIGNAL: a closed peer is an error here, not a SIGPIPE. Pipes fall back to write. */
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == ENOTSOCK) {
            n = write(fd, data, len);
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Queues bytes; the first writer becomes the flusher and writes everything queued meanwhile in
 * one go, so concurrent answers leave as few large writes instead of many small ones. */
static void write_bytes(keel__conn_t *c, const char *data, size_t len) {
    pthread_mutex_lock(&c->mu);
    if (c->closed) {
        pthread_mutex_unlock(&c->mu);
        return;
    }
    if (c->out_len + len > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + len) {
            cap *= 2;
        }
        char *grown = realloc(c->out, cap);
        if (grown == NULL) {
            pthread_mutex_unlock(&c->mu);
            keel__log("out of memory queueing a %zu-byte message; dropped", len);
            return;
        }
        c->out = grown;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    if (c->writing) {
        pthread_mutex_unlock(&c->mu);
        return;
    }
    c->writing = 1;
    while (c->out_len > 0 && !c->closed) {
        char *chunk = c->out;
        size_t chunk_len = c->out_len;
        c->out = NULL;
        c->out_len = c->out_cap = 0;
        pthread_mutex_unlock(&c->mu);
        int failed = write_all(c->out_fd, chunk, chunk_len);
        free(chunk);
        pthread_mutex_lock(&c->mu);
        if (failed) {
            keel__mark_closed_locked(c); /* the peer is gone: drop what is queued and what follows */
            c->out_len = 0;
            break;
        }
    }
    c->writing = 0;
    pthread_cond_broadcast(&c->flushed);
    pthread_mutex_unlock(&c->mu);
}

void keel__conn_write(keel__conn_t *c, json_t *message) {
    size_t len = 0;
    char *line = keel__encode(message, &len);
    if (line == NULL) {
        keel__log("cannot encode a message; dropped");
        return;
    }
    write_bytes(c, line, len);
    free(line);
}

json_t *keel__error_message(json_t *id, int code, const char *message, json_t *data) {
    json_t *error = json_pack("{s:i,s:s}", "code", code, "message", message);
    if (data != NULL) {
        json_object_set_new(error, "data", data);
    }
    return json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", id ? id : json_null(), "error", error);
}

/* ---- calls ---- */

json_t *keel__conn_call(keel__conn_t *c, const char *method, json_t *params, long long timeout_ms,
                        keel_error_t *err) {
    pending_t p = {0};
    keel__cond_init_monotonic(&p.cond);
    pthread_mutex_lock(&c->mu);
    if (c->closed || c->read_eof) {
        pthread_mutex_unlock(&c->mu);
        pthread_cond_destroy(&p.cond);
        json_decref(params);
        keel__set_error(err, KEEL_E_CLOSED, "connection to Keel is closed");
        return NULL;
    }
    p.id = ++c->next_id;
    p.next = c->pending;
    c->pending = &p;
    pthread_mutex_unlock(&c->mu);

    json_t *message = json_pack("{s:s,s:I,s:s,s:o}", "jsonrpc", "2.0", "id", (json_int_t)p.id, "method", method,
                                "params", params ? params : json_object());
    keel__conn_write(c, message);
    json_decref(message);

    pthread_mutex_lock(&c->mu);
    struct timespec until = keel__deadline(timeout_ms);
    int timed_out = 0;
    while (!p.done && !c->closed && !c->read_eof && !timed_out) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&p.cond, &c->mu);
        } else if (pthread_cond_timedwait(&p.cond, &c->mu, &until) == ETIMEDOUT) {
            timed_out = !p.done;
        }
    }
    for (pending_t **link = &c->pending; *link != NULL; link = &(*link)->next) {
        if (*link == &p) {
            *link = p.next;
            break;
        }
    }
    pthread_mutex_unlock(&c->mu);
    pthread_cond_destroy(&p.cond);

    if (p.done && p.error != NULL) {
        keel__set_wire_error(err, p.error);
        json_decref(p.error);
        json_decref(p.result);
        return NULL;
    }
    if (p.done) {
        return p.result ? p.result : json_null();
    }
    if (timed_out) {
        keel__set_error(err, KEEL_E_TIMEOUT, "no answer to %s within %lld ms", method, timeout_ms);
    } else {
        keel__set_error(err, KEEL_E_CLOSED, "connection to Keel closed before the answer to %s", method);
    }
    return NULL;
}

void keel__conn_notify(keel__conn_t *c, const char *method, json_t *params) {
    json_t *message =
        json_pack("{s:s,s:s,s:o}", "jsonrpc", "2.0", "method", method, "params", params ? params : json_object());
    keel__conn_write(c, message);
    json_decref(message);
}

int keel__conn_start(keel__conn_t *c, keel_error_t *err) {
    /* The reader holds a reference so that a reply finished on it never frees it mid-dispatch. */
    keel__conn_retain(c);
    int rc = pthread_create(&c->reader, NULL, keel__read_loop, c);
    if (rc != 0) {
        keel__conn_release(c);
        keel__set_error(err, KEEL_E_OS, "cannot start the reader thread: %s", strerror(rc));
        return -1;
    }
    c->reader_started = 1;
    return 0;
}
