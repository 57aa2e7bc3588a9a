"""OpenMP introspection: whether the build really linked it, and thread counts."""

cimport openmp
from cython.parallel cimport prange

cdef extern from *:
    """
    #ifdef _OPENMP
    #define UPSAMPLEX_HAVE_OPENMP 1
    #else
    #define UPSAMPLEX_HAVE_OPENMP 0
    #endif
    """
    int UPSAMPLEX_HAVE_OPENMP


def openmp_enabled():
    """Return True when the kernels were compiled with OpenMP."""
    return bool(UPSAMPLEX_HAVE_OPENMP)


def max_threads():
    """Threads a ``prange`` uses by default (honours ``OMP_NUM_THREADS``)."""
    if UPSAMPLEX_HAVE_OPENMP:
        return openmp.omp_get_max_threads()
    return 1


def threads_used(int num_threads):
    """Count the distinct threads a ``prange`` with ``num_threads`` really runs on."""
    cdef int i, total = 0
    cdef int n = max(num_threads, 1) * 4
    cdef int[256] seen
    for i in range(256):
        seen[i] = 0
    for _ in prange(n, nogil=True, num_threads=num_threads, schedule='static', chunksize=1):
        seen[openmp.omp_get_thread_num() % 256] = 1
    for i in range(256):
        total += seen[i]
    return total
