/* A real `keel serve` for the live tests: the binary in KEEL_BIN (default <repo>/.build/debug/keel)
 * on a socket, database and log in a directory of the test's own. */
#ifndef KEEL_TESTS_LIVE_SERVER_H
#define KEEL_TESTS_LIVE_SERVER_H

#include <sys/types.h>

#include "keel.h"

/* Bound on the orchestrator's start and stop. */
#define SERVER_WAIT_MS 15000

typedef struct server {
    pid_t pid;
    char socket_path[256], db[256], log[256];
} server_t;

void pause_ms(long ms);
const char *keel_binary(void);
/* 1 (and the test marked skipped) when there is no binary to run. */
int skip_without_binary(void);
keel_client_t *connect_client(server_t *s, keel_error_t *err);
/* Starts `keel serve` in `dir`; 0 once it accepts a client. */
int server_start_in(server_t *s, const char *dir);
/* The same in the test's temp dir. */
int server_start(server_t *s);
/* SIGTERM, wait, SIGKILL (STYLE §8); `hard` goes straight to SIGKILL. */
void server_stop(server_t *s, int hard);

#endif
