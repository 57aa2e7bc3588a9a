"""The team size of conv's GEMM kernels, and BLAS held to one thread while they run.

The im2col, stride-phase and Winograd kernels (``_kernels/_conv.pyx``) run their items on
an OpenMP team like every other kernel: each thread packs its operands without the GIL
and calls NumPy's matmul for the GEMM (BLAS releases the GIL while it computes). So that
``num_threads`` is all the threads a call uses, BLAS is held to one thread meanwhile,
through threadpoolctl: the supported way to ask whichever BLAS NumPy links (OpenBLAS,
MKL, BLIS, FlexiBLAS) for its threads. threadpoolctl is optional (numpy is the only
runtime dependency); without it, or when it finds no BLAS it can hold (Apple's Accelerate,
say), the items run on the calling thread alone and each GEMM on BLAS's own threads: the
call is parallel only inside BLAS, never oversubscribed.
"""

import functools
import os
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


def team_size(num_threads, n_items, blas_held=True):
    """Threads for ``n_items`` items: ``num_threads``, at most one per item.

    One where BLAS's threads are not held to one (no threadpoolctl, no BLAS it can hold,
    or it could not set them from this thread): the GEMMs then use BLAS's own threads,
    and a team around them would oversubscribe the cores.
    """
    if not blas_held or not blas_controllers():
        return 1
    return max(1, min(num_threads, n_items))


class _OneBlasThread:
    """Context manager holding every BLAS threadpoolctl knows to one thread.

    Entering returns whether they all run on one thread now. Calls may overlap (several
    Python threads running convs): the first to enter saves the thread counts and sets
    them to 1, the last to leave puts them back. threadpoolctl lets only one Python thread
    at a time change OpenBLAS's process-wide count (the first to set it, until released):
    a call entering while another thread holds it just finds it not held; the last of
    ours to leave takes the control over once all of ours are done, restores the counts
    and releases it, as ``threadpool_limits`` does. A BLAS already on one thread is left
    alone (each change costs microseconds and wakes OpenBLAS's idle threads).
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._depth = 0
        self._changed = ()

    def __enter__(self):
        libs = blas_controllers()
        if not libs:
            return False  # none it can hold (e.g. Accelerate), or no threadpoolctl
        with self._lock:
            if self._depth == 0:
                changed = []
                for lib in libs:
                    n = lib.get_num_threads()
                    if n != 1:  # None (unknown) included
                        lib.set_num_threads(1)
                        if lib.get_num_threads() == 1:  # else another thread controls it
                            changed.append((lib, n))
                self._changed = changed
            self._depth += 1
            return all(lib.get_num_threads() == 1 for lib in libs)

    def __exit__(self, *exc):
        libs = blas_controllers()
        if not libs:
            return
        with self._lock:
            self._depth -= 1
            if self._depth == 0:
                changed, self._changed = self._changed, ()
                _restore(changed)


def _restore(changed):
    # ``changed``: the libraries our first call set to 1, with their counts before.
    for lib, n in changed:
        release = getattr(type(lib), "clear_controlling_thread", None)
        if n is not None:
            lib.set_num_threads(n)
            if release is not None and lib.get_num_threads() != n:
                # The call that set it ran on another thread, which holds the control;
                # all of our calls are done now, so take it over to put the count back.
                release(force=True)
                lib.set_num_threads(n)
        if release is not None:
            release()  # as threadpool_limits does on exit: others may set it next


one_blas_thread = _OneBlasThread()
# A child forked while a conv of another thread held BLAS would inherit its lock and count
# (and runs on one thread anyway, see check_num_threads): it starts afresh.
os.register_at_fork(after_in_child=one_blas_thread.__init__)
