/* A small test runner: TEST(name) registers a case; build/test_keel runs them all (or those whose
 * name contains argv[1]) and prints one line per case, then exactly "N passed, M failed". */
#ifndef KEEL_TEST_HARNESS_H
#define KEEL_TEST_HARNESS_H

#include <stdio.h>

typedef void (*harness_fn)(void);
void harness_register(const char *name, harness_fn fn);
/* Records a failure of the running case (the case returns at once through CHECK). */
void harness_fail(const char *file, int line, const char *what);
/* Marks the running case skipped, with a reason. */
void harness_skip(const char *reason);
/* A temporary directory for the running case (short: Unix socket paths stay under ~100 bytes). */
const char *harness_tmpdir(void);

#define TEST(name)                                                        \
    static void name(void);                                               \
    __attribute__((constructor)) static void register_##name(void) {      \
        harness_register(#name, name);                                    \
    }                                                                     \
    static void name(void)

#define CHECK(cond)                                       \
    do {                                                  \
        if (!(cond)) {                                    \
            harness_fail(__FILE__, __LINE__, #cond);      \
            return;                                       \
        }                                                 \
    } while (0)

#define CHECK_MSG(cond, ...)                                       \
    do {                                                           \
        if (!(cond)) {                                             \
            char what_[1200];                                       \
            snprintf(what_, sizeof what_, __VA_ARGS__);            \
            harness_fail(__FILE__, __LINE__, what_);               \
            return;                                                \
        }                                                          \
    } while (0)

#endif
