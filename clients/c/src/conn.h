/* The connection's private state, shared by connection.c (lifecycle, writing, calls) and
 * dispatch.c (reading: requests, responses, batches, replies). Not API. */
#ifndef KEEL_CONN_H
#define KEEL_CONN_H

#include "internal.h"

typedef struct pending {
    long long id;
    int done;
    json_t *result;
    json_t *error;
    pthread_cond_t cond;
    struct pending *next;
} pending_t;

typedef struct batch {
    pthread_mutex_t mu;
    int remaining;
    json_t *answers;
} batch_t;

struct keel__reply {
    keel__conn_t *conn;
    json_t *id;
    batch_t *batch;
};

struct keel__conn {
    int in_fd, out_fd;
    int wake[2];
    keel__handlers_t h;
    keel__decoder_t decoder;
    pthread_t reader;
    int reader_started;

    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t flushed;
    size_t peer_limit;
    char *out;
    size_t out_len, out_cap;
    int writing;
    int closed;      /* no more reads or writes; pending calls failed */
    int read_eof;    /* the peer's side ended: no answers can arrive, but writes still go out */
    int fds_closed;
    int refs;
    pending_t *pending;
    long long next_id;
};

/* connection.c */
/** Fails every pending call; later writes are dropped. Caller holds c->mu. */
void keel__mark_closed_locked(keel__conn_t *c);
void keel__conn_write(keel__conn_t *c, json_t *message);
json_t *keel__error_message(json_t *id, int code, const char *message, json_t *data);
/* dispatch.c */
void *keel__read_loop(void *arg);

#endif
