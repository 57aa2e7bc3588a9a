"""OpenMP in a real process: threadpoolctl sees and limits ours, and two OpenMP runtimes
(torch's bundled libgomp and the one upsamplex links) live together in either import order.

Each case runs in a fresh interpreter: the test process already has torch loaded
(conftest), which would hide what upsamplex alone brings.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

WHEEL_RUN = os.environ.get("UPSAMPLEX_EXPECT_WHEEL") == "1"


def run_python(code, env_extra=None, timeout=180):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS",)}
    env.update(env_extra or {})
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, env=env)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _threadpoolctl():
    if WHEEL_RUN:
        import threadpoolctl  # the wheel check installs it: a skip would hide a failure
        return threadpoolctl
    return pytest.importorskip("threadpoolctl")


def test_threadpoolctl_sees_and_limits_our_openmp():
    _threadpoolctl()
    out = run_python("""
        import json
        import numpy as np
        from threadpoolctl import threadpool_info, threadpool_limits
        import upsamplex as ux
        from upsamplex._kernels import _openmp
        info = [p for p in threadpool_info() if p["user_api"] == "openmp"]
        before = _openmp.max_threads()
        with threadpool_limits(limits=1, user_api="openmp"):
            inside = _openmp.max_threads()
            import io
            cfg = ux.show_config(file=io.StringIO())
            used = _openmp.threads_used(cfg["max_threads"])
            y = ux.interpolate(np.ones((1, 2, 8, 8), np.float32), scale_factor=2, mode="bilinear")
        after = _openmp.max_threads()
        print(json.dumps({"info": info, "before": before, "inside": inside,
                          "cfg": cfg["max_threads"], "used": used, "after": after,
                          "enabled": _openmp.openmp_enabled(), "ok": bool((y == 1).all())}))
    """, env_extra={"OMP_NUM_THREADS": "2"})
    got = json.loads(out.strip().splitlines()[-1])
    if not got["enabled"]:
        pytest.skip("this build has no OpenMP (-Dopenmp=disabled)")
    assert got["info"], "threadpoolctl found no OpenMP runtime after importing upsamplex"
    assert got["before"] == 2
    assert got["inside"] == 1 and got["cfg"] == 1 and got["used"] == 1
    assert got["after"] == 2
    assert got["ok"]
    if WHEEL_RUN:
        # The repaired wheel loads the libgomp auditwheel bundled, not the system's.
        paths = [p["filepath"] for p in got["info"]]
        assert any("upsamplex.libs" in p and "libgomp" in p for p in paths), paths


CALLS = """
    import numpy as np
    x = np.random.default_rng(0).random((2, 3, 32, 32), dtype=np.float32)
    y = ux.interpolate(x, scale_factor=2, mode="bilinear", num_threads=2)
    t = torch.nn.functional.interpolate(torch.from_numpy(x), scale_factor=2, mode="bilinear")
    torch.set_num_threads(2)
    z = torch.nn.functional.conv2d(torch.from_numpy(y), torch.ones(3, 3, 3, 3))
    y2 = ux.interpolate(x, size=(17, 9), mode="bicubic", antialias=True, num_threads=2)
    assert np.abs(y - t.numpy()).max() < 1e-5, np.abs(y - t.numpy()).max()
    print("ok", z.shape[-1], y2.shape)
"""


@pytest.mark.parametrize("order", ["import torch\nimport upsamplex as ux",
                                   "import upsamplex as ux\nimport torch"])
def test_two_openmp_runtimes_in_one_process(order):
    pytest.importorskip("torch")
    out = run_python(order + "\n" + textwrap.dedent(CALLS))
    assert out.strip().splitlines()[-1] == "ok 62 (2, 3, 17, 9)"
