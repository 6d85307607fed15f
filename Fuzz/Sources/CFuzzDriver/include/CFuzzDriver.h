#ifndef CFUZZDRIVER_H
#define CFUZZDRIVER_H
#include <stddef.h>
#include <stdint.h>

/// libFuzzer's driver (compiler-rt, LLVM 12+): runs the fuzzing loop with `callback` as the target.
/// SwiftPM gives each executable its own entry point (`<Module>_main`) and points `main` at it, so
/// the targets call this from their top-level code instead of relying on libFuzzer's `main`.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
