"""Worker threads for the conv tiles, each running its GEMMs on one BLAS thread.

Tiles run on ``num_threads`` threads (the calling one and a cached pool), each calling
BLAS single-threaded, so our threads and BLAS's never compete for the cores. The pool
is forgotten in a forked child (its threads do not exist there), and a failure or a
Ctrl-C in the calling thread stops the workers after the item they are on.
"""

import ctypes
import functools
import itertools
import os
from concurrent.futures import ThreadPoolExecutor


def _find_blas_thread_setters():
    """``openblas_set_num_threads_local`` of each OpenBLAS loaded in this process.

    It sets the BLAS thread count of the *calling* thread only (OpenBLAS >= 0.3.27), which
    lets our worker threads run single-threaded GEMMs without touching anyone else's
    BLAS settings. Empty when NumPy uses another BLAS or the library can't be found.
    """
    paths = set()
    try:  # optional: threadpoolctl knows where every BLAS of the process lives
        from threadpoolctl import threadpool_info

        paths.update(i["filepath"] for i in threadpool_info() if i["internal_api"] == "openblas")
    except Exception:  # noqa: BLE001 - any failure just means "not found this way"
        pass
    if not paths:
        try:
            with open("/proc/self/maps") as maps:
                for line in maps:
                    path = line.split(maxsplit=5)[-1].strip()
                    if "openblas" in os.path.basename(path).lower():
                        paths.add(path)
        except OSError:
            pass
    setters = []
    for path in sorted(paths):
        try:
            setter = ctypes.CDLL(path).openblas_set_num_threads_local
        except (OSError, AttributeError):
            continue
        setter.argtypes = [ctypes.c_int]
        setter.restype = ctypes.c_int
        setters.append(setter)
    return tuple(setters)


@functools.cache
def blas_thread_setters():
    return _find_blas_thread_setters()


def _single_threaded_blas():
    for setter in blas_thread_setters():
        setter(1)


@functools.cache
def executor(n_threads):
    # Worker threads run one GEMM at a time each: BLAS's own threads would oversubscribe.
    return ThreadPoolExecutor(
        n_threads, thread_name_prefix="upsamplex-conv", initializer=_single_threaded_blas
    )


# A forked child inherits the cached pools but none of their threads: work submitted to
# them would never run. The child forgets them (and runs serially anyway, see
# check_num_threads).
os.register_at_fork(after_in_child=executor.cache_clear)


def parallel(n_items, make_worker, num_threads):
    """Call ``work(i)`` for each ``i < n_items``, ``work = make_worker()`` once per thread.

    The calling thread and ``num_threads - 1`` pool threads take items as they become
    free (a busy machine then slows one thread, not the whole call). Each item writes
    outputs of its own, so results do not depend on the thread count. Without control
    over BLAS threads everything runs here, serially, and the GEMMs use BLAS's own pool.
    """
    counter = itertools.count()  # next() on it is atomic under the GIL
    stop = []  # non-empty once anything has failed (e.g. Ctrl-C): workers then stop

    def loop():
        work = make_worker()
        for i in counter:
            if i >= n_items or stop:
                return
            work(i)

    setters = blas_thread_setters()
    if not setters:
        loop()
        return
    n_threads = min(num_threads, n_items)
    pool = executor(n_threads - 1) if n_threads > 1 else None
    futures = [pool.submit(loop) for _ in range(n_threads - 1)] if pool else []
    previous = [setter(1) for setter in setters]  # this thread works too, on one BLAS thread
    error = None
    try:
        # Signals (Ctrl-C) are handled here, in the calling thread, between its items.
        loop()
    except BaseException as exc:  # noqa: BLE001 - re-raised below, once the workers are done
        error = exc
    for setter, value in zip(setters, previous):
        setter(value)
    error = _join(futures, stop, error)
    if error is not None:
        raise error


def _join(futures, stop, error):
    """Wait for every worker; return the first exception (``error`` if already one).

    The workers write into the caller's arrays, so they must all be done before the call
    returns, also when it fails. Once anything has failed (the calling thread, a worker,
    or a Ctrl-C during this wait) they stop after the item they are on, so an interrupt
    takes effect within one item instead of after the whole call.
    """
    if error is not None:
        stop.append(True)
    for future in futures:
        while True:
            try:
                future.result()
                break
            except BaseException as exc:  # noqa: BLE001 - returned to the caller
                stop.append(True)
                if error is None:
                    error = exc
                if future.done():
                    break
    return error
