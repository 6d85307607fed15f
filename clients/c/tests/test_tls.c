/* TLS against the real `keel serve --tls-cert --tls-key --tls-client-ca` (docs/clients.md "TLS"),
 * with a CA and certificates made by Tests/tls/make-test-certs.sh. Skipped without the binary. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "keel.h"

/* Bound on the orchestrator's start and stop. */
#define TLS_SERVER_WAIT_MS 30000
#define TLS_TOKEN "c-tls-token-0123456789"

typedef struct tls_server {
    pid_t pid;
    char certs[256], address[64];
} tls_server_t;

static void tls_pause_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static const char *tls_keel_binary(void) {
    const char *bin = getenv("KEEL_BIN");
    return bin != NULL ? bin : TEST_DATA_DIR "/../../../.build/debug/keel";
}

static void cert_path(const tls_server_t *s, const char *name, char *out, size_t len) {
    snprintf(out, len, "%s/%s", s->certs, name);
}

/* Makes the certificates, starts keel serve with TLS and client certificates, and waits for the
 * start-up line that names the TCP port. */
static int tls_server_start(tls_server_t *s) {
    const char *dir = harness_tmpdir();
    char cmd[700], token[256], db[256], sock[256], log[256], cert[300], key[300], ca[300];
    snprintf(s->certs, sizeof s->certs, "%s/tls", dir);
    snprintf(cmd, sizeof cmd, "bash '%s/../../../Tests/tls/make-test-certs.sh' '%s'", TEST_DATA_DIR, s->certs);
    if (system(cmd) != 0) {
        return -1;
    }
    snprintf(token, sizeof token, "%s/token", dir);
    snprintf(db, sizeof db, "%s/keel.db", dir);
    snprintf(sock, sizeof sock, "%s/k.sock", dir);
    snprintf(log, sizeof log, "%s/serve.log", dir);
    cert_path(s, "server.pem", cert, sizeof cert);
    cert_path(s, "server.key", key, sizeof key);
    cert_path(s, "ca.pem", ca, sizeof ca);
    int fd = open(token, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, TLS_TOKEN, strlen(TLS_TOKEN)) != (ssize_t)strlen(TLS_TOKEN)) {
        return -1;
    }
    close(fd);
    s->pid = fork();
    if (s->pid == 0) {
        int out = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        dup2(out, 1);
        dup2(out, 2);
        execl(tls_keel_binary(), "keel", "serve", "--db", db, "--socket", sock, "--tcp", "127.0.0.1:0", "--token-file",
              token, "--tls-cert", cert, "--tls-key", key, "--tls-client-ca", ca, (char *)NULL);
        _exit(127);
    }
    for (int waited = 0; waited < TLS_SERVER_WAIT_MS; waited += 50) {
        char text[8192] = {0};
        int in = open(log, O_RDONLY);
        ssize_t n = in >= 0 ? read(in, text, sizeof text - 1) : -1;
        if (in >= 0) {
            close(in);
        }
        const char *at = n > 0 ? strstr(text, "tcp=") : NULL;
        if (at != NULL && atoi(at + 4) > 0) {
            snprintf(s->address, sizeof s->address, "127.0.0.1:%d", atoi(at + 4));
            return 0;
        }
        tls_pause_ms(50);
    }
    return -1;
}

static void tls_server_stop(tls_server_t *s) {
    if (s->pid <= 0) {
        return;
    }
    kill(s->pid, SIGTERM);
    for (int waited = 0; waited < TLS_SERVER_WAIT_MS / 3; waited += 50) {
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
            s->pid = 0;
            return;
        }
        tls_pause_ms(50);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}

TEST(tls_a_client_with_the_ca_and_a_client_certificate_reaches_keel) {
    if (access(tls_keel_binary(), X_OK) != 0) {
        harness_skip("no keel binary (set KEEL_BIN or build .build/debug/keel)");
        return;
    }
    tls_server_t s = {0};
    CHECK(tls_server_start(&s) == 0);
    char ca[300], cert[300], key[300];
    cert_path(&s, "ca.pem", ca, sizeof ca);
    cert_path(&s, "client.pem", cert, sizeof cert);
    cert_path(&s, "client.key", key, sizeof key);
    keel_error_t err = {0};
    keel_client_t *c = keel_client_connect(
        &(keel_client_options_t){.tcp = s.address, .token = TLS_TOKEN, .reconnect_timeout_ms = 1000,
                                 .tls = {.ca_file = ca, .cert_file = cert, .key_file = key}},
        &err);
    json_t *list = c != NULL ? keel_client_call(c, "worker/list", NULL, 10000, &err) : NULL;
    int listed = json_is_array(json_object_get(list, "workers"));
    json_decref(list);
    keel_client_close(c);
    tls_server_stop(&s);
    CHECK_MSG(listed, "worker/list over TLS: %s", err.message);
}

TEST(tls_a_client_that_does_not_trust_the_ca_fails_the_handshake) {
    if (access(tls_keel_binary(), X_OK) != 0) {
        harness_skip("no keel binary (set KEEL_BIN or build .build/debug/keel)");
        return;
    }
    tls_server_t s = {0};
    CHECK(tls_server_start(&s) == 0);
    keel_error_t err = {0};
    keel_client_t *c = keel_client_connect(
        &(keel_client_options_t){.tcp = s.address, .token = TLS_TOKEN, .reconnect_timeout_ms = 1000, .tls = {.enabled = 1}},
        &err);
    keel_client_close(c);
    tls_server_stop(&s);
    CHECK(c == NULL);
    CHECK_MSG(strstr(err.message, "TLS handshake") != NULL && strstr(err.message, "certificate") != NULL, "got: %s",
              err.message);
}
