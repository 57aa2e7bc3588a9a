"""Ctrl-C during a long multi-threaded conv stops it promptly (issue "Hardening").

Before the fix the calling thread got the KeyboardInterrupt but then waited for the
worker threads to finish every remaining tile of the call.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

_CHILD = textwrap.dedent(
    """
    import math, signal, sys, time
    import numpy as np
    import upsamplex as ux

    # Python keeps SIGINT ignored when it starts with it ignored (a background job of a
    # non-interactive shell): take Ctrl-C as a terminal would deliver it.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    rng = np.random.default_rng(0)
    w = rng.standard_normal((128, 128, 15, 15)).astype(np.float32)
    one = rng.standard_normal((1, 128, 32, 32)).astype(np.float32)
    t0 = time.perf_counter()
    ux.conv2d(one, w, padding=7, num_threads=2)
    per_sample = time.perf_counter() - t0
    # One call that would run for >= 30 s: long enough that stopping "at the end" fails.
    n = min(64, max(2, math.ceil(30 / per_sample)))
    x = np.broadcast_to(one, (n,) + one.shape[1:])
    print(f"start {n * per_sample:.1f}", flush=True)
    t0 = time.perf_counter()
    try:
        ux.conv2d(x, w, padding=7, num_threads=2)
    except KeyboardInterrupt:
        print(f"interrupted {time.perf_counter() - t0:.2f}", flush=True)
        sys.exit(0)
    print("finished", flush=True)
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_stops_a_threaded_conv_within_seconds():
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("start"), line + proc.stderr.read()[-3000:]
        expected = float(line.split()[1])
        time.sleep(1.0)
        sent = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the conv ignored Ctrl-C for 20 s (whole call: ~{expected:.0f} s)")
        stopped = time.perf_counter() - sent
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert "interrupted" in out, out + err[-3000:]
    # About one tile per thread after the signal; 3 s leaves room for a loaded machine.
    assert stopped < 3.0, f"stopped {stopped:.2f} s after Ctrl-C (whole call ~{expected:.0f} s)"
