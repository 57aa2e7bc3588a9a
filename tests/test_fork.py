"""upsamplex in child processes after a threaded call in the parent (issue "Hardening").

GNU libgomp's thread pool and conv's worker threads do not survive ``fork``: before the
fix, a forked child's first threaded call waited forever. Each start method runs in a
fresh interpreter (its own process group) with a timeout, so a hang fails the test
instead of stalling the suite.
"""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

_PARENT = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    import upsamplex as ux
    from upsamplex._kernels import _openmp

    rng = np.random.default_rng(0)
    X = rng.standard_normal((2, 3, 96, 96)).astype(np.float32)
    XC = rng.standard_normal((2, 16, 24, 24)).astype(np.float32)
    WC = rng.standard_normal((16, 16, 3, 3)).astype(np.float32)
    WT = rng.standard_normal((16, 8, 4, 4)).astype(np.float32)

    def work(num_threads):
        # interpolate (OpenMP), conv via Winograd and im2col, a transposed conv (phase
        # gathers) and a backward: the conv tiles run on the worker-thread pool.
        return [
            ux.interpolate(X, scale_factor=2, mode="bilinear", num_threads=num_threads),
            ux.conv2d(XC, WC, padding=1, num_threads=num_threads),
            ux.conv2d(XC, WC, stride=2, num_threads=num_threads),
            ux.conv_transpose2d(XC, WT, stride=2, padding=1, num_threads=num_threads),
            ux.conv_backward(XC, XC, WC, padding=1, num_threads=num_threads)[1],
        ]

    def child(num_threads):
        return work(num_threads)

    if __name__ == "__main__":
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        assert _openmp.threads_used(2) == 2 or not _openmp.openmp_enabled()
        expected = work(2)  # threaded calls in the parent: pools now exist
        mode = sys.argv[1]
        if mode == "os.fork":
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                ok = all(np.array_equal(a, b) for a, b in zip(child(None), expected))
                ok = ok and all(np.array_equal(a, b) for a, b in zip(child(2), expected))
                ok = ok and _openmp.in_forked_child()
                os.write(w, b"1" if ok else b"0")
                os._exit(0)
            os.close(w)
            result = os.read(r, 1)
            os.waitpid(pid, 0)
            assert result == b"1", result
        else:
            method, kind = mode.split("-")
            ctx = mp.get_context(method)
            if kind == "pool":
                with ctx.Pool(1) as pool:
                    results = pool.map(child, [None, 2])
            else:
                with ProcessPoolExecutor(1, mp_context=ctx) as ex:
                    results = list(ex.map(child, [None, 2]))
            for got in results:
                assert all(np.array_equal(a, b) for a, b in zip(got, expected))
        # The parent itself still runs threaded.
        assert not _openmp.in_forked_child()
        assert all(np.array_equal(a, b) for a, b in zip(work(2), expected))
        print("fork ok")
    """
)

MODES = [
    "os.fork",
    "fork-pool",
    "fork-executor",
    "forkserver-pool",
    "forkserver-executor",
    "spawn-executor",
]


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method: Linux")
@pytest.mark.parametrize("mode", MODES)
def test_child_processes_do_not_hang(mode, tmp_path):
    script = tmp_path / "fork_case.py"
    script.write_text(_PARENT)
    proc = subprocess.Popen(
        [sys.executable, str(script), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a hung grandchild is killed with its group
        cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "2"},
    )
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"{mode}: the child process hung (killed after 60 s)")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # leftovers of a failed run
        except ProcessLookupError:
            pass
    assert proc.returncode == 0, f"{mode}: exit {proc.returncode}\n{err[-3000:]}"
    assert "fork ok" in out


def test_forked_child_runs_serially():
    """check_num_threads is 1 in a forked child, and the child's arguments still validated."""
    code = textwrap.dedent(
        """
        import os
        from upsamplex._validation import check_num_threads
        assert check_num_threads(2) == 2 and check_num_threads(None) >= 1
        pid = os.fork()
        if pid == 0:
            ok = check_num_threads(None) == 1 and check_num_threads(7) == 1
            try:
                check_num_threads(0)
                ok = False
            except ValueError:
                pass
            try:
                check_num_threads(1.5)
                ok = False
            except TypeError:
                pass
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert check_num_threads(2) == 2
        print("serial ok")
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "serial ok" in run.stdout
