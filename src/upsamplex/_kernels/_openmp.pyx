"""OpenMP introspection: whether the build really linked it, thread counts, fork state."""

import os

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


# GNU libgomp is not fork-safe: a child forked after the parent has run a parallel
# region inherits a thread pool whose threads do not exist, and its next region of
# more than one thread waits for them forever. A one-thread region does not touch
# the pool (tested in tests/test_fork.py). Any process forked from one that had
# loaded upsamplex therefore runs its kernels on one thread: whether the parent's
# OpenMP runtime had started a pool (ours, or another library's, sharing libgomp)
# cannot be asked of libgomp.
cdef bint _forked_child = False


def _mark_forked_child():
    global _forked_child
    _forked_child = True


os.register_at_fork(after_in_child=_mark_forked_child)


def in_forked_child():
    """True in a process forked (``os.fork``) from one that had imported upsamplex."""
    return bool(_forked_child)


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
