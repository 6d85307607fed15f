/* Internal declarations shared by the library's sources. Not API. */
#ifndef KEEL_INTERNAL_H
#define KEEL_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "keel.h"

/* ---- errors and logging (error.c) ---- */

void keel__set_error(keel_error_t *err, int code, const char *format, ...) __attribute__((format(printf, 3, 4)));
/** Fills err from a wire error object {code, message, data?}, tolerating malformed ones. */
void keel__set_wire_error(keel_error_t *err, json_t *error);
/** Logs one line to stderr ("keel: ..."): stdout may be the wire. */
void keel__log(const char *format, ...) __attribute__((format(printf, 1, 2)));
long long keel__now_ms(void);
/** Adds ms to CLOCK_MONOTONIC now, for pthread_cond_timedwait on a monotonic condvar. */
struct timespec keel__deadline(long long ms);
int keel__cond_init_monotonic(pthread_cond_t *cond);

/* ---- framing (framing.c) ---- */

/** Called per complete frame (without its terminator); frame == NULL means an oversize line. */
typedef void (*keel__frame_fn)(const char *frame, size_t len, void *userdata);

/**
 * Splits a byte stream into lines. Pure: no I/O, so tests can feed any split.
 * "A line longer than the frame limit is discarded up to its newline" (docs/protocol.md).
 */
typedef struct keel__decoder {
    size_t limit;
    char *buf;
    size_t len, cap;
    int discarding;
} keel__decoder_t;

void keel__decoder_init(keel__decoder_t *d, size_t limit);
void keel__decoder_free(keel__decoder_t *d);
/** Consumes data; calls fn per completed frame in order. Returns 0, or -1 out of memory. */
int keel__decoder_feed(keel__decoder_t *d, const char *data, size_t len, keel__frame_fn fn, void *userdata);
/** End of stream: a final unterminated line is delivered (leniently). */
void keel__decoder_finish(keel__decoder_t *d, keel__frame_fn fn, void *userdata);

/**
 * Encodes one message as a compact JSON line ending in "\n" (malloc'd; *len excludes nothing).
 * jansson escapes control characters in strings, so the only raw newline is the terminator.
 * Returns NULL when the value cannot be encoded.
 */
char *keel__encode(json_t *message, size_t *len);

/* ---- connection (connection.c) ---- */

typedef struct keel__conn keel__conn_t;
typedef struct keel__reply keel__reply_t;

/** Serves a request: return 0 when it will be answered (now or later) through reply, -1 when the
 * method is unknown (the connection answers -32601). Runs on the reader thread; must not block. */
typedef int (*keel__request_fn)(keel__conn_t *conn, const char *method, json_t *params, keel__reply_t *reply,
                                void *userdata);
typedef void (*keel__notify_fn)(keel__conn_t *conn, const char *method, json_t *params, void *userdata);
typedef void (*keel__closed_fn)(keel__conn_t *conn, void *userdata);

typedef struct keel__handlers {
    keel__request_fn on_request;
    keel__notify_fn on_notification;
    keel__closed_fn on_closed;
    void *userdata;
} keel__handlers_t;

/** Takes ownership of the fds (in_fd may equal out_fd). Starts no thread yet. */
keel__conn_t *keel__conn_new(int in_fd, int out_fd, size_t max_frame_bytes, const keel__handlers_t *handlers);
/** Starts the reader thread. Returns 0 or -1. */
int keel__conn_start(keel__conn_t *c, keel_error_t *err);
/** Sends a request and waits for the answer; params stolen. timeout_ms < 0: no local bound. */
json_t *keel__conn_call(keel__conn_t *c, const char *method, json_t *params, long long timeout_ms,
                        keel_error_t *err);
/** Sends a notification; params stolen. Dropped when closed. */
void keel__conn_notify(keel__conn_t *c, const char *method, json_t *params);
/** Sets the peer's frame limit (from initialize's capabilities.maxMessageBytes). */
void keel__conn_set_peer_limit(keel__conn_t *c, size_t limit);
size_t keel__conn_peer_limit(keel__conn_t *c);
int keel__conn_closed(keel__conn_t *c);
/** Flushes queued writes (bounded), stops the reader, closes the fds. Idempotent. */
void keel__conn_close(keel__conn_t *c);
void keel__conn_retain(keel__conn_t *c);
/** Drops a reference; the last one closes and frees. */
void keel__conn_release(keel__conn_t *c);

/** Answers a request; result stolen. Each reply is answered exactly once. */
void keel__reply_result(keel__reply_t *r, json_t *result);
/** Answers a request with an error; data stolen (may be NULL). */
void keel__reply_error(keel__reply_t *r, int code, const char *message, json_t *data);

/* ---- reconnecting (reconnect.c; docs/clients.md "Reconnecting") ---- */

/* First wait bound: a restarted `keel serve` binds its socket in well under a second. */
#define KEEL__RECONNECT_INITIAL_MS 100
/* Cap on one wait: a worker is back at most ~2 s after Keel is (a 10 s cap kept it away 5-10 s). */
#define KEEL__RECONNECT_MAX_MS 2000
/* How long one client call keeps reconnecting to an unreachable Keel before it fails. */
#define KEEL__RECONNECT_TIMEOUT_MS 30000

/** Full-jitter exponential backoff: wait uniform(0, min(max, initial * 2^n)), n = failures since
 * the last reset. Not thread-safe: one per loop, or guarded by its owner's lock. */
typedef struct keel__backoff {
    int initial_ms, max_ms, failures;
    unsigned seed;
} keel__backoff_t;

/** Zero or negative bounds take the defaults. */
void keel__backoff_init(keel__backoff_t *b, int initial_ms, int max_ms);
/** Starts over from initial_ms: call after a successful initialize. */
void keel__backoff_reset(keel__backoff_t *b);
/** The next wait in ms; counts one more failure. */
int keel__backoff_next(keel__backoff_t *b);
/** 1 when a call whose connection dropped before its answer may be sent again: a read, an
 * activity/call with an idempotency key, a workflow/start with a workflowId and no "fail" policy. */
int keel__safe_to_repeat(const char *method, json_t *params);

/* ---- transports (transport.c) ---- */

typedef struct keel__endpoint {
    int stdio;
    const char *socket_path;
    const char *tcp;
    const char *token;
    keel_tls_options_t tls; /* tls.enabled: TLS over tcp (from the options or KEEL_TLS*) */
} keel__endpoint_t;

/** Where the options say Keel is: one address and/or a NULL-terminated list of more, per kind. */
typedef struct keel__addresses {
    const char *socket_path;
    const char *const *socket_paths;
    const char *tcp;
    const char *const *tcp_addresses;
    const char *token;
    const keel_tls_options_t *tls; /* may be NULL: KEEL_TLS* decide */
} keel__addresses_t;

/** Several endpoints tried in order (docs/clients.md "Several endpoints"); the addresses are
 *  owned, token and TLS strings borrowed. index/failures: the ring (reconnect.c). */
typedef struct keel__endpoints {
    keel__endpoint_t *items;
    size_t count, index, failures;
} keel__endpoints_t;

/** KEEL_TRANSPORT=stdio wins (when allowed), then the options (each address as is, so a path may
 *  contain a comma), then KEEL_SOCKET, then KEEL_TCP (each a comma-separated list). TLS applies
 *  to tcp; without options, KEEL_TLS* decide. Free with keel__endpoints_free. */
int keel__resolve_endpoints(keel__endpoints_t *eps, const keel__addresses_t *addresses, int allow_stdio,
                            keel_error_t *err);
void keel__endpoints_free(keel__endpoints_t *eps);
/** Where to connect next. */
const keel__endpoint_t *keel__endpoints_current(const keel__endpoints_t *eps);
/** The current endpoint initialized: a later failure starts a new round from it. */
void keel__endpoints_succeeded(keel__endpoints_t *eps);
/** After a failed attempt or a dropped connection: moves to the next endpoint (wrapping) and
 *  returns 1 when every endpoint has failed once since the last success or pause (then wait the
 *  backoff), else 0 (try the next one at once). With one endpoint it always returns 1. */
int keel__endpoints_failed(keel__endpoints_t *eps);
/** An owned copy of a NULL-terminated string array (NULL stays NULL). */
char **keel__strv_dup(const char *const *strings);
void keel__strv_free(char **strings);

/* ---- TLS (tls.c) ---- */

/** Owned copies of TLS options, for reconnects. */
void keel__tls_copy(keel_tls_options_t *dst, const keel_tls_options_t *src);
void keel__tls_free(keel_tls_options_t *tls);
/** Completes a TLS handshake on the connected `tcp` socket (taken: closed on failure) with the
 *  server `host`, and returns the fd of a local socket pair whose bytes a relay thread carries
 *  through TLS; -1 (err: KEEL_E_CONFIG for a bad file, KEEL_E_OS for a failed handshake). */
int keel__tls_wrap(int tcp, const keel_tls_options_t *tls, const char *host, keel_error_t *err);
/** Opens the stream: *in_fd and *out_fd (the same fd for sockets). */
int keel__open_endpoint(const keel__endpoint_t *ep, int *in_fd, int *out_fd, keel_error_t *err);
/** The initialize params: protocolVersion, clientInfo, token when set. */
json_t *keel__initialize_params(const keel__endpoint_t *ep);
/** Checks an initialize result; applies capabilities.maxMessageBytes to the connection. */
int keel__check_initialize(keel__conn_t *conn, json_t *result, keel_error_t *err);

/** Bound on the initialize and worker/register round trips. */
#define KEEL__HANDSHAKE_TIMEOUT_MS 10000
/** Bound on a heartbeat round trip; past it the heartbeat returns -1 (KEEL_E_TIMEOUT). */
#define KEEL__HEARTBEAT_TIMEOUT_MS 10000

#endif
