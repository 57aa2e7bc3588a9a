"""The team size of conv's GEMM kernels, and BLAS held to one thread while they run.

The im2col, stride-phase and Winograd kernels (``_kernels/_conv.pyx``) run their items on
an OpenMP team like every other kernel: each thread packs its operands without the GIL
and calls NumPy's matmul for the GEMM (BLAS releases the GIL while it computes). So that
``num_threads`` is all the threads a call uses, BLAS is held to one thread meanwhile,
through threadpoolctl: the supported way to ask whichever BLAS NumPy links (OpenBLAS,
MKL, BLIS, FlexiBLAS) for its threads. threadpoolctl is optional (numpy is the only
runtime dependency); without it the items run on the calling thread alone and each GEMM
on BLAS's own threads: the call is parallel only inside BLAS, never oversubscribed.
"""

import functools
import threading
import warnings


@functools.cache
def blas_controllers():
    """threadpoolctl's controllers of the BLAS libraries loaded; None without threadpoolctl."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    with warnings.catch_warnings():
        # e.g. two OpenMP runtimes loaded side by side (torch's and ours): not ours to report.
        warnings.simplefilter("ignore")
        return tuple(ThreadpoolController().select(user_api="blas").lib_controllers)


def team_size(num_threads, n_items):
    """Threads for ``n_items`` items: ``num_threads``, at most one per item.

    One where BLAS's threads can't be limited (no threadpoolctl): the GEMMs then use
    BLAS's own threads, and a team around them would oversubscribe the cores.
    """
    if blas_controllers() is None:
        return 1
    return max(1, min(num_threads, n_items))


class _OneBlasThread:
    """Context manager: every BLAS threadpoolctl knows runs on one thread inside.

    Calls may overlap (several Python threads running convs): the first to enter saves
    the thread counts and sets them to 1, the last to leave puts them back, so no call
    restores a count another one set. A BLAS already on one thread is left alone (each
    change costs a few microseconds and wakes OpenBLAS's idle threads).
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._depth = 0
        self._changed = ()

    def __enter__(self):
        libs = blas_controllers()
        if libs:
            with self._lock:
                if self._depth == 0:
                    changed = []
                    for lib in libs:
                        n = lib.get_num_threads()
                        if n != 1:  # None (unknown) included
                            lib.set_num_threads(1)
                            changed.append((lib, n))
                    self._changed = changed
                self._depth += 1
        return self

    def __exit__(self, *exc):
        if blas_controllers():
            with self._lock:
                self._depth -= 1
                if self._depth == 0:
                    for lib, n in self._changed:
                        if n is not None:
                            lib.set_num_threads(n)
                    self._changed = ()


one_blas_thread = _OneBlasThread()
