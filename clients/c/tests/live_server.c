/* A real `keel serve` for the live tests (live_server.h). */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "live_server.h"

void pause_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

const char *keel_binary(void) {
    const char *bin = getenv("KEEL_BIN");
    return bin != NULL ? bin : TEST_DATA_DIR "/../../../.build/debug/keel";
}

keel_client_t *connect_client(server_t *s, keel_error_t *err) {
    return keel_client_connect(&(keel_client_options_t){.socket_path = s->socket_path}, err);
}

/* Starts `keel serve` in `dir` (its socket, database and log there); returns 0 once it accepts. */
int server_start_in(server_t *s, const char *dir) {
    snprintf(s->socket_path, sizeof s->socket_path, "%s/k.sock", dir);
    snprintf(s->db, sizeof s->db, "%s/keel.db", dir);
    snprintf(s->log, sizeof s->log, "%s/serve.log", dir);
    s->pid = fork();
    if (s->pid == 0) {
        int log = open(s->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        dup2(log, 1);
        dup2(log, 2);
        execl(keel_binary(), "keel", "serve", "--db", s->db, "--socket", s->socket_path, (char *)NULL);
        _exit(127);
    }
    for (int waited = 0; waited < SERVER_WAIT_MS; waited += 50) {
        keel_client_t *c = connect_client(s, NULL);
        if (c != NULL) {
            keel_client_close(c);
            return 0;
        }
        pause_ms(50);
    }
    return -1;
}

int server_start(server_t *s) {
    return server_start_in(s, harness_tmpdir());
}

/* SIGTERM, wait, SIGKILL (STYLE §8); `hard` goes straight to SIGKILL. */
void server_stop(server_t *s, int hard) {
    if (s->pid <= 0) {
        return;
    }
    kill(s->pid, hard ? SIGKILL : SIGTERM);
    for (int waited = 0; waited < SERVER_WAIT_MS / 3; waited += 50) {
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
            s->pid = 0;
            return;
        }
        pause_ms(50);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}

int skip_without_binary(void) {
    if (access(keel_binary(), X_OK) != 0) {
        harness_skip("no keel binary (set KEEL_BIN or build .build/debug/keel)");
        return 1;
    }
    return 0;
}
