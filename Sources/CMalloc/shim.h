// glibc's malloc statistics and trim (malloc.h is not part of Swift's Glibc module); used by
// KeelServer's HeapTrim. Empty where there is no glibc.
#if defined(__linux__)
#include <features.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#endif
