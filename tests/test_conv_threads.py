"""Conv's GEMM lowerings on one OpenMP team (issue 10, "One threading model").

im2col, the stride-phase gathers and Winograd run their items on an OpenMP team whose
threads call NumPy's matmul with the GIL, BLAS held to one thread by threadpoolctl
meanwhile. These tests pin what that promises: the same bits on any team, the GEMMs
really on several threads at once, BLAS on one thread inside and back after, errors
raised, and a serial fallback without threadpoolctl.
"""

import sys
import threading

import numpy as np
import pytest

import upsamplex as ux
from upsamplex import _conv_lowering, _conv_threads

threadpoolctl = pytest.importorskip("threadpoolctl")

_RNG = np.random.default_rng(21)


def _arr(*shape, dtype=np.float32):
    return _RNG.standard_normal(shape).astype(dtype)


# (name, call): each call returns a tuple of arrays and runs the GEMM lowering named.
CASES = {
    # im2col forward with bias and groups, and its backward (col2im + weight gradient).
    "im2col": (_arr(3, 8, 11, 13), _arr(12, 4, 3, 3), _arr(12), dict(stride=2, groups=2)),
    # 3x3 stride 1 with >= 16 channels: Winograd forward and input gradient.
    "winograd": (_arr(2, 16, 10, 9), _arr(16, 16, 3, 3), _arr(16), dict(padding=1)),
    # 1x1: the GEMM reads the source itself (no im2col), fused 1x1 backward.
    "pointwise": (_arr(3, 8, 7, 5, dtype=np.float64), _arr(6, 8, 1, 1, dtype=np.float64),
                  _arr(6, dtype=np.float64), dict()),
}
TRANSPOSED = {
    # One set of 4 phases (k4 s2), and uneven phases (k3 s2: sets of their own).
    "phases": (_arr(3, 8, 6, 7), _arr(8, 6, 4, 4), _arr(6), dict(stride=2, padding=1)),
    "uneven": (_arr(2, 8, 5, 6), _arr(8, 4, 3, 3), _arr(4), dict(stride=2, output_padding=1)),
    # Kernel 1, stride 3: most phases have no taps and store the bias alone.
    "no taps": (_arr(2, 8, 4, 5), _arr(8, 4, 1, 1), _arr(4), dict(stride=3)),
    # 1x1 transposed: the identity col2im, bias added after the GEMM.
    "pointwise": (_arr(2, 8, 6, 6), _arr(8, 12, 1, 1), _arr(12), dict()),
}


def _run(name, transposed, num_threads):
    x, w, b, kw = (TRANSPOSED if transposed else CASES)[name]
    if transposed:
        y = ux.conv_transpose2d(x, w, b, num_threads=num_threads, **kw)
        grads = ux.conv_transpose_backward(y, x, w, num_threads=num_threads, **kw)
    else:
        y = ux.conv2d(x, w, b, num_threads=num_threads, **kw)
        grads = ux.conv_backward(y, x, w, num_threads=num_threads, **kw)
    return (y, *grads)


ALL = [(n, False) for n in CASES] + [(n, True) for n in TRANSPOSED]


@pytest.fixture
def gemm_path(monkeypatch):
    # The few-channel shapes here would otherwise take the direct kernels.
    monkeypatch.setattr(_conv_lowering, "FORCE_PATH", "gemm")


@pytest.mark.parametrize("num_threads", [2, 3])
@pytest.mark.parametrize(("name", "transposed"), ALL)
def test_same_bits_on_any_team(gemm_path, name, transposed, num_threads):
    one = _run(name, transposed, 1)
    for a, b in zip(one, _run(name, transposed, num_threads)):
        np.testing.assert_array_equal(a, b)


class _Recorder:
    """np.matmul that records the thread and BLAS's thread counts of each call.

    The first call of each thread waits (GIL released) until ``parties`` threads have
    called: with fewer threads really running the GEMMs the barrier breaks.
    """

    def __init__(self, parties):
        self.matmul = np.matmul
        self.barrier = threading.Barrier(parties, timeout=20)
        self.threads = set()
        self.blas_threads = set()
        self.lock = threading.Lock()

    def __call__(self, *args, **kwargs):
        ident = threading.get_ident()
        with self.lock:
            first = ident not in self.threads
            self.threads.add(ident)
            for lib in _conv_threads.blas_controllers() or ():
                self.blas_threads.add(lib.get_num_threads())
        if first:
            self.barrier.wait()
        return self.matmul(*args, **kwargs)


@pytest.mark.parametrize("num_threads", [1, 2])
@pytest.mark.parametrize(("name", "transposed"), ALL)
def test_gemms_run_on_num_threads_with_one_blas_thread_each(
    gemm_path, monkeypatch, name, transposed, num_threads
):
    if not _conv_threads.blas_controllers():
        pytest.skip("threadpoolctl finds no BLAS to hold to one thread")
    expected = _run(name, transposed, 1)
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        before = {lib.get_num_threads() for lib in _conv_threads.blas_controllers()}
        recorder = _Recorder(num_threads)
        monkeypatch.setattr(np, "matmul", recorder)
        got = _run(name, transposed, num_threads)
        monkeypatch.setattr(np, "matmul", recorder.matmul)
        after = {lib.get_num_threads() for lib in _conv_threads.blas_controllers()}
    assert len(recorder.threads) == num_threads
    assert recorder.blas_threads == {1}  # num_threads=1 too: one thread in all
    assert after == before
    for a, b in zip(expected, got):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("num_threads", [1, 2])
@pytest.mark.parametrize(("name", "transposed"), ALL)
def test_an_error_in_a_gemm_is_raised(gemm_path, monkeypatch, name, transposed, num_threads):
    calls = []
    matmul = np.matmul

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise FloatingPointError("gemm number 2")
        return matmul(*args, **kwargs)

    monkeypatch.setattr(np, "matmul", failing)
    with pytest.raises(FloatingPointError, match="gemm number 2"):
        _run(name, transposed, num_threads)
    monkeypatch.setattr(np, "matmul", matmul)
    # The team and BLAS are fine afterwards.
    for a, b in zip(_run(name, transposed, 1), _run(name, transposed, num_threads)):
        np.testing.assert_array_equal(a, b)


def _blas_counts():
    return {lib.get_num_threads() for lib in _conv_threads.blas_controllers()}


def _in_threads(work, n):
    errors = []

    def run(i):
        try:
            work(i)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert not errors, errors


def test_blas_limit_is_restored_by_the_last_of_overlapping_calls(gemm_path, monkeypatch):
    if not _conv_threads.blas_controllers():
        pytest.skip("threadpoolctl finds no BLAS")
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        with _conv_threads.one_blas_thread as held:
            assert held and _blas_counts() == {1}
            with _conv_threads.one_blas_thread as held_inside:
                assert held_inside and _blas_counts() == {1}
            assert _blas_counts() == {1}
        assert _blas_counts() == {2}
    before = _blas_counts()
    if before == {1}:
        pytest.skip("BLAS runs on one thread already")
    # Python threads (none of them threadpoolctl's controlling thread for OpenBLAS)
    # running convs at once: whichever finishes last, the counts come back.
    x, w = _arr(4, 32, 16, 16), _arr(32, 32, 3, 3)
    expected = ux.conv2d(x, w, stride=2, num_threads=1)
    recorder = _Recorder(1)
    monkeypatch.setattr(np, "matmul", recorder)
    results = {}

    def work(i):
        results[i] = [ux.conv2d(x, w, stride=2, num_threads=2) for _ in range(10)]

    for _ in range(3):
        _in_threads(work, 3)
        assert _blas_counts() == before
    monkeypatch.setattr(np, "matmul", recorder.matmul)
    assert recorder.blas_threads == {1}
    for got in results.values():
        for y in got:
            np.testing.assert_array_equal(y, expected)
    # Nobody keeps the control: this thread can still set the count.
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        assert _blas_counts() == {1}
    assert _blas_counts() == before


def test_blas_held_by_another_thread_means_a_serial_team(gemm_path, monkeypatch):
    """threadpoolctl lets one thread at a time set OpenBLAS's count: others don't oversubscribe."""
    libs = _conv_threads.blas_controllers()
    if not libs or any(lib.internal_api != "openblas" for lib in libs):
        pytest.skip("OpenBLAS's process-wide thread count")
    if any(getattr(lib, "threading_layer", None) == "openmp" for lib in libs):
        pytest.skip("OpenBLAS on OpenMP: per-thread limits")
    expected = _run("phases", True, 1)
    with threadpoolctl.threadpool_limits(2, user_api="blas"):  # this thread controls it
        recorder = _Recorder(1)
        monkeypatch.setattr(np, "matmul", recorder)
        got = {}
        _in_threads(lambda i: got.update(y=_run("phases", True, 2)), 1)
        monkeypatch.setattr(np, "matmul", recorder.matmul)
        assert len(recorder.threads) == 1 and threading.get_ident() not in recorder.threads
        assert recorder.blas_threads == {2}  # not ours to change: one team thread only
        assert _blas_counts() == {2}
    for a, b in zip(expected, got["y"]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)  # BLAS's threads: its rounding


def test_without_threadpoolctl_items_run_on_the_calling_thread(gemm_path, monkeypatch):
    _conv_threads.blas_controllers.cache_clear()
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # import fails
    try:
        assert _conv_threads.blas_controllers() is None
        assert _conv_threads.team_size(4, 100) == 1
        recorder = _Recorder(1)
        monkeypatch.setattr(np, "matmul", recorder)
        got = _run("phases", True, 2)
        monkeypatch.setattr(np, "matmul", recorder.matmul)
        assert recorder.threads == {threading.get_ident()}
    finally:
        monkeypatch.setitem(sys.modules, "threadpoolctl", threadpoolctl)
        _conv_threads.blas_controllers.cache_clear()
    for a, b in zip(_run("phases", True, 1), got):
        np.testing.assert_array_equal(a, b)


def test_team_size(monkeypatch):
    if not _conv_threads.blas_controllers():
        pytest.skip("threadpoolctl finds no BLAS")
    assert _conv_threads.team_size(4, 2) == 2
    assert _conv_threads.team_size(2, 100) == 2
    assert _conv_threads.team_size(3, 0) == 1
    assert _conv_threads.team_size(4, 2, blas_held=False) == 1
    # A BLAS threadpoolctl cannot see (e.g. Accelerate) is not held: one thread.
    monkeypatch.setattr(_conv_threads, "blas_controllers", lambda: ())
    with _conv_threads.one_blas_thread as held:
        assert not held
    assert _conv_threads.team_size(4, 2) == 1
