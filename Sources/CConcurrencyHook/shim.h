// The Swift runtime's hook for enqueueing a job on the global executor, by address. NIO installs
// it after finding it with dlsym, which a --static-swift-stdlib build does not allow (the static
// runtime defines the variable hidden); a reference from code linked into the same binary still
// resolves to it, as it does to the shared runtime's. Used by keel's EventLoopExecutor.
#include <stddef.h>
extern void *swift_task_enqueueGlobal_hook;
static inline void **keel_swift_task_enqueue_global_hook(void) { return &swift_task_enqueueGlobal_hook; }
