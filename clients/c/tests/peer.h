/* Test helpers: a scripted peer that plays Keel's side of the wire over a real socket (like the
 * conformance transcripts), and a thread running keel_worker_run. */
#ifndef KEEL_TEST_PEER_H
#define KEEL_TEST_PEER_H

#include <pthread.h>

#include <keel.h>

/* Bound on every wait in these tests, so a broken client fails a case instead of hanging. */
#define PEER_TIMEOUT_MS 5000

typedef struct peer {
    int listen_fd, fd;
    char buf[1 << 16];
    size_t len;
    char path[200];
    int port;
} peer_t;

int peer_listen_unix(peer_t *p, const char *path);
int peer_listen_tcp(peer_t *p);
int peer_accept(peer_t *p);
/* The next message (a new reference), or NULL on timeout or end of stream. */
json_t *peer_read(peer_t *p);
/* Reads until the stream ends; 1 if it ended within the bound. */
int peer_wait_eof(peer_t *p);
/* Sends one message; steals it. */
int peer_send(peer_t *p, json_t *message);
void peer_answer(peer_t *p, json_t *request, json_t *result);
void peer_drop(peer_t *p);
void peer_free(peer_t *p);
/* Accepts, answers initialize and worker/register; returns the register params (or NULL) and
 * stores the initialize params in *init (if not NULL). */
json_t *peer_handshake(peer_t *p, json_t **init);

typedef struct run {
    keel_worker_t *worker;
    int rc;
    keel_error_t err;
    pthread_t thread;
} run_t;

void run_start(run_t *r, keel_worker_t *w);
/* Stops the worker and waits for keel_worker_run to return; returns its rc. */
int run_stop(run_t *r);

#endif
