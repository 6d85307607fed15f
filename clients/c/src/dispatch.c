/* Reading: frames become requests, notifications and responses; requests are answered through
 * replies, batch members collected into one array answer (JSON-RPC 2.0 §6). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"

/* Bytes asked of the stream per read: large enough that small frames arrive many per read. */
#define READ_CHUNK_BYTES (64 * 1024)

/* ---- replies and batches ---- */

static void batch_release(keel__conn_t *c, batch_t *b) {
    pthread_mutex_lock(&b->mu);
    int last = --b->remaining == 0;
    pthread_mutex_unlock(&b->mu);
    if (!last) {
        return;
    }
    /* "the answer is an array of the responses (none for an all-notification batch)" */
    if (json_array_size(b->answers) > 0) {
        keel__conn_write(c, b->answers);
    }
    json_decref(b->answers);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

static void batch_add(batch_t *b, json_t *answer) {
    pthread_mutex_lock(&b->mu);
    json_array_append_new(b->answers, answer);
    pthread_mutex_unlock(&b->mu);
}

/* Sends an answer, or replaces one that cannot be sent (not JSON, or over the peer's limit). */
static void finish(keel__reply_t *r, json_t *answer) {
    keel__conn_t *c = r->conn;
    size_t len = 0;
    char *line = keel__encode(answer, &len);
    size_t limit = keel__conn_peer_limit(c);
    if (line == NULL || (limit > 0 && len - 1 > limit)) {
        keel__log("cannot send the answer to a request (%s); answering -32603",
                  line == NULL ? "not encodable" : "over the peer's frame limit");
        json_decref(answer);
        answer = keel__error_message(r->id, KEEL_INTERNAL_ERROR, "Internal error: result not sendable", NULL);
    }
    free(line);
    if (r->batch != NULL) {
        batch_add(r->batch, answer);
        batch_release(c, r->batch);
    } else {
        keel__conn_write(c, answer);
        json_decref(answer);
    }
    json_decref(r->id);
    free(r);
    keel__conn_release(c);
}

void keel__reply_result(keel__reply_t *r, json_t *result) {
    json_t *answer = json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", r->id, "result", result ? result : json_null());
    finish(r, answer);
}

void keel__reply_error(keel__reply_t *r, int code, const char *message, json_t *data) {
    finish(r, keel__error_message(r->id, code, message, data));
}

/* ---- reading ---- */

static int valid_id(json_t *id) {
    return json_is_string(id) || json_is_number(id) || json_is_null(id);
}

static void handle_response(keel__conn_t *c, json_t *id, json_t *message) {
    long long key;
    if (json_is_integer(id)) {
        key = json_integer_value(id);
    } else if (json_is_real(id) && json_real_value(id) == (double)(long long)json_real_value(id)) {
        key = (long long)json_real_value(id);
    } else {
        return; /* we only send integer ids: nobody asked */
    }
    pthread_mutex_lock(&c->mu);
    for (pending_t *p = c->pending; p != NULL; p = p->next) {
        if (p->id == key && !p->done) {
            p->done = 1;
            json_t *error = json_object_get(message, "error");
            if (error != NULL) {
                p->error = json_incref(error);
            } else {
                p->result = json_incref(json_object_get(message, "result"));
            }
            pthread_cond_signal(&p->cond);
            break;
        }
    }
    /* A response whose id matches no request in flight is dropped silently. */
    pthread_mutex_unlock(&c->mu);
}

/* Returns an immediate answer (a protocol error), or NULL: nothing to answer, or a reply owns it. */
static json_t *handle_message(keel__conn_t *c, json_t *message, batch_t *batch) {
    if (!json_is_object(message)) {
        return keel__error_message(NULL, KEEL_INVALID_REQUEST, "Invalid Request: a message must be a JSON object", NULL);
    }
    json_t *id = json_object_get(message, "id");
    json_t *answer_id = id != NULL && valid_id(id) ? id : NULL;
    const char *version = json_string_value(json_object_get(message, "jsonrpc"));
    if (version == NULL || strcmp(version, "2.0") != 0) {
        return keel__error_message(answer_id, KEEL_INVALID_REQUEST, "Invalid Request: \"jsonrpc\" must be \"2.0\"", NULL);
    }
    json_t *method = json_object_get(message, "method");
    if (method == NULL) {
        if (id != NULL && (json_object_get(message, "result") != NULL || json_object_get(message, "error") != NULL)) {
            handle_response(c, id, message);
            return NULL;
        }
        return keel__error_message(answer_id, KEEL_INVALID_REQUEST, "Invalid Request: neither a request nor a response",
                             NULL);
    }
    if (!json_is_string(method) || (id != NULL && !valid_id(id))) {
        return keel__error_message(answer_id, KEEL_INVALID_REQUEST, "Invalid Request: bad method or id", NULL);
    }
    json_t *params = json_object_get(message, "params");
    json_t *empty = json_object();
    if (params == NULL) {
        params = empty;
    }
    json_t *answer = NULL;
    if (id == NULL) {
        if (c->h.on_notification != NULL && json_is_object(params)) {
            c->h.on_notification(c, json_string_value(method), params, c->h.userdata);
        }
    } else if (!json_is_object(params)) {
        /* "Params are always one object". */
        answer = keel__error_message(id, KEEL_INVALID_PARAMS, "Invalid params: params must be an object", NULL);
    } else {
        keel__reply_t *reply = calloc(1, sizeof *reply);
        keel__conn_retain(c);
        reply->conn = c;
        reply->id = json_incref(id);
        reply->batch = batch;
        if (batch != NULL) {
            pthread_mutex_lock(&batch->mu);
            batch->remaining++;
            pthread_mutex_unlock(&batch->mu);
        }
        const char *name = json_string_value(method);
        if (c->h.on_request == NULL || c->h.on_request(c, name, params, reply, c->h.userdata) != 0) {
            char text[300];
            snprintf(text, sizeof text, "Method not found: %.200s", name);
            keel__reply_error(reply, KEEL_METHOD_NOT_FOUND, text, NULL);
        }
    }
    json_decref(empty);
    return answer;
}

static void handle_batch(keel__conn_t *c, json_t *messages) {
    if (json_array_size(messages) == 0) {
        json_t *answer = keel__error_message(NULL, KEEL_INVALID_REQUEST, "Invalid Request: empty batch", NULL);
        keel__conn_write(c, answer);
        json_decref(answer);
        return;
    }
    batch_t *b = calloc(1, sizeof *b);
    pthread_mutex_init(&b->mu, NULL);
    b->remaining = 1; /* held by this function until every member is dispatched */
    b->answers = json_array();
    size_t index;
    json_t *message;
    json_array_foreach(messages, index, message) {
        json_t *answer = handle_message(c, message, b);
        if (answer != NULL) {
            batch_add(b, answer);
        }
    }
    batch_release(c, b);
}

static void on_frame(const char *frame, size_t len, void *userdata) {
    keel__conn_t *c = userdata;
    json_t *answer = NULL;
    if (frame == NULL) {
        char text[128];
        snprintf(text, sizeof text, "a %zu-byte message exceeds the %zu-byte frame limit", len, c->decoder.limit);
        answer = keel__error_message(NULL, KEEL_MESSAGE_TOO_LARGE, text, NULL);
    } else {
        json_error_t error;
        /* jansson rejects invalid UTF-8, NaN/Infinity and trailing garbage: all -32700. */
        json_t *message = json_loadb(frame, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &error);
        if (message == NULL) {
            /* "A line that is not JSON gets -32700 parseError with id: null; the connection stays open." */
            char text[256];
            snprintf(text, sizeof text, "Parse error: %s", error.text);
            answer = keel__error_message(NULL, KEEL_PARSE_ERROR, text, NULL);
        } else if (json_is_array(message)) {
            handle_batch(c, message);
        } else {
            answer = handle_message(c, message, NULL);
        }
        json_decref(message);
    }
    if (answer != NULL) {
        keel__conn_write(c, answer);
        json_decref(answer);
    }
}

void *keel__read_loop(void *arg) {
    keel__conn_t *c = arg;
    char *chunk = malloc(READ_CHUNK_BYTES);
    struct pollfd fds[2] = {{.fd = c->in_fd, .events = POLLIN}, {.fd = c->wake[0], .events = POLLIN}};
    while (chunk != NULL) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        if (fds[1].revents != 0) {
            break; /* closed locally */
        }
        ssize_t n = read(c->in_fd, chunk, READ_CHUNK_BYTES);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        if (n <= 0) {
            keel__decoder_finish(&c->decoder, on_frame, c);
            break;
        }
        if (keel__decoder_feed(&c->decoder, chunk, (size_t)n, on_frame, c) != 0) {
            keel__log("out of memory reading a frame; closing the connection");
            break;
        }
    }
    free(chunk);
    /* Over stdio the end of stdin does not close stdout: a draining worker may still send the
     * results of running attempts. Pending calls fail now, since no answer can arrive. */
    pthread_mutex_lock(&c->mu);
    c->read_eof = 1;
    for (pending_t *p = c->pending; p != NULL; p = p->next) {
        pthread_cond_signal(&p->cond);
    }
    pthread_mutex_unlock(&c->mu);
    if (c->h.on_closed != NULL) {
        c->h.on_closed(c, c->h.userdata);
    }
    keel__conn_release(c); /* the reader's own reference, taken in keel__conn_start */
    return NULL;
}

