/* The runner for the unit, channel and live tests (tests/harness.h). */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "harness.h"

#define MAX_CASES 256

static struct test_case {
    const char *name;
    harness_fn fn;
} cases[MAX_CASES];
static int n_cases;
static int failed_now, skipped_now;
static char failure[1024], skip_reason[512], tmpdir[128];

void harness_register(const char *name, harness_fn fn) {
    if (n_cases < MAX_CASES) {
        cases[n_cases].name = name;
        cases[n_cases].fn = fn;
        n_cases++;
    }
}

void harness_fail(const char *file, int line, const char *what) {
    if (!failed_now) {
        snprintf(failure, sizeof failure, "%s:%d: %s", file, line, what);
    }
    failed_now = 1;
}

void harness_skip(const char *reason) {
    skipped_now = 1;
    snprintf(skip_reason, sizeof skip_reason, "%s", reason);
}

const char *harness_tmpdir(void) {
    if (tmpdir[0] == '\0') {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/keel-c-XXXXXX");
        if (mkdtemp(tmpdir) == NULL) {
            perror("mkdtemp");
            exit(2);
        }
    }
    return tmpdir;
}

static void remove_tree(const char *path) {
    DIR *d = opendir(path);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
                char child[512];
                snprintf(child, sizeof child, "%s/%s", path, e->d_name);
                remove_tree(child);
            }
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const struct test_case *)a)->name, ((const struct test_case *)b)->name);
}

int main(int argc, char **argv) {
    int passed = 0, failed = 0, skipped = 0;
    const char *keep = getenv("KEEL_TEST_KEEP_TMPDIR");
    json_object_seed(0); /* before the tests' peer threads create objects (jansson: threadsafety) */
    qsort(cases, (size_t)n_cases, sizeof cases[0], by_name);
    for (int i = 0; i < n_cases; i++) {
        if (argc > 1 && strstr(cases[i].name, argv[1]) == NULL) {
            continue;
        }
        failed_now = skipped_now = 0;
        tmpdir[0] = '\0';
        cases[i].fn();
        if (failed_now) {
            failed++;
            printf("FAIL %s: %s\n", cases[i].name, failure);
        } else if (skipped_now) {
            skipped++;
            printf("SKIP %s: %s\n", cases[i].name, skip_reason);
        } else {
            passed++;
            printf("PASS %s\n", cases[i].name);
        }
        fflush(stdout);
        if (tmpdir[0] != '\0') {
            if (keep != NULL && strcmp(keep, "1") == 0) {
                printf("  kept %s\n", tmpdir);
            } else {
                remove_tree(tmpdir);
            }
        }
    }
    if (skipped) {
        printf("%d skipped\n", skipped);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
