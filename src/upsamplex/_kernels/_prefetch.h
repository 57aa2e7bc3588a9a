/* Software prefetch of a span of memory, for the kernels whose next rows the hardware
 * prefetchers cannot guess (rows of many channel planes at once, rows after a skip). */
#ifndef UPSAMPLEX_PREFETCH_H
#define UPSAMPLEX_PREFETCH_H

#include <stddef.h>

/* Asks for every cache line of [p, p + bytes), into L1 or, with to_l2, into L2 only (a
 * whole row asked for ahead, that would crowd L1). to_l2 is a constant at each call, so
 * the branch folds away once inlined. */
static inline void ux_prefetch_span(const void* p, size_t bytes, int to_l2)
{
    const char* c = (const char*)p;
    size_t i;
    if (bytes == 0) return;
    for (i = 0; i < bytes; i += 64) {
        if (to_l2) __builtin_prefetch(c + i, 0, 1);
        else __builtin_prefetch(c + i, 0, 3);
    }
    /* The span's last line, where it does not start on a line boundary. */
    if (to_l2) __builtin_prefetch(c + bytes - 1, 0, 1);
    else __builtin_prefetch(c + bytes - 1, 0, 3);
}

#endif
