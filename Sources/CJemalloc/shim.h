// jemalloc's control interface. Linking libjemalloc makes it the allocator of the whole
// process, Swift runtime included (verified here: mallctl("version") answers 5.3.0).
#include <stddef.h>

int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);
