"""OpenMP introspection: whether the build really linked it, and thread counts."""

from cython.parallel cimport prange

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define UPSAMPLEX_HAVE_OPENMP 1
    static int ux_max_threads(void) { return omp_get_max_threads(); }
    static int ux_thread_num(void) { return omp_get_thread_num(); }
    #else
    /* Built with -Dopenmp=disabled: prange loops run serially. */
    #define UPSAMPLEX_HAVE_OPENMP 0
    static int ux_max_threads(void) { return 1; }
    static int ux_thread_num(void) { return 0; }
    #endif
    """
    int UPSAMPLEX_HAVE_OPENMP
    int ux_max_threads() noexcept nogil
    int ux_thread_num() noexcept nogil


def openmp_enabled():
    """Return True when the kernels were compiled with OpenMP."""
    return bool(UPSAMPLEX_HAVE_OPENMP)


def max_threads():
    """Threads a ``prange`` uses by default (honours ``OMP_NUM_THREADS``)."""
    return ux_max_threads()


def threads_used(int num_threads):
    """Count the distinct threads a ``prange`` with ``num_threads`` really runs on."""
    cdef int i, total = 0
    cdef int n = max(num_threads, 1) * 4
    cdef int[256] seen
    for i in range(256):
        seen[i] = 0
    for _ in prange(n, nogil=True, num_threads=num_threads, schedule='static', chunksize=1):
        seen[ux_thread_num() % 256] = 1
    for i in range(256):
        total += seen[i]
    return total
