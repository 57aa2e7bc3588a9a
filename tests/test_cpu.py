"""cgroup CPU quota: ``num_threads=None`` must not start more threads than the quota allows."""

import pytest

from upsamplex import _cpu


def write(root, rel, text):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize(("text", "expected"), [
    ("200000 100000\n", 2),
    ("150000 100000", 2),      # --cpus 1.5 -> 2 threads (ceil), not 1
    ("50000 100000", 1),       # below one CPU: still one thread
    ("400000 50000", 8),
    ("max 100000\n", None),    # v2's explicit "no limit"
    ("max", None),
    ("garbage", None),
    ("0 100000", None),
    ("100000 0", None),
    ("", None),
])
def test_cgroup_v2(tmp_path, text, expected):
    write(tmp_path, "cpu.max", text)
    assert _cpu.cpu_quota_threads(tmp_path) == expected


@pytest.mark.parametrize("subdir", ["cpu", "cpu,cpuacct"])
@pytest.mark.parametrize(("quota", "period", "expected"), [
    ("300000", "100000", 3),
    ("250000", "100000", 3),
    ("-1", "100000", None),    # v1's "no limit"
    ("x", "100000", None),
])
def test_cgroup_v1(tmp_path, subdir, quota, period, expected):
    write(tmp_path, f"{subdir}/cpu.cfs_quota_us", quota + "\n")
    write(tmp_path, f"{subdir}/cpu.cfs_period_us", period + "\n")
    assert _cpu.cpu_quota_threads(tmp_path) == expected


def test_v2_wins_over_v1(tmp_path):
    write(tmp_path, "cpu.max", "max 100000")
    write(tmp_path, "cpu/cpu.cfs_quota_us", "100000")
    write(tmp_path, "cpu/cpu.cfs_period_us", "100000")
    assert _cpu.cpu_quota_threads(tmp_path) is None


def test_no_cgroup_files(tmp_path):
    assert _cpu.cpu_quota_threads(tmp_path) is None
    assert _cpu.cpu_quota_threads(tmp_path / "missing") is None
    write(tmp_path, "cpu/cpu.cfs_quota_us", "100000")   # period missing
    assert _cpu.cpu_quota_threads(tmp_path) is None


def test_this_machine_reads_without_error():
    got = _cpu.cpu_quota_threads()
    assert got is None or (isinstance(got, int) and got >= 1)


def test_default_threads_caps_by_quota(tmp_path):
    write(tmp_path, "cpu.max", "200000 100000")
    assert _cpu.default_threads(16, environ={}, root=tmp_path) == 2
    assert _cpu.default_threads(1, environ={}, root=tmp_path) == 1
    # An explicit OMP_NUM_THREADS is the user's choice.
    assert _cpu.default_threads(16, environ={"OMP_NUM_THREADS": "16"}, root=tmp_path) == 16
    write(tmp_path, "cpu.max", "max 100000")
    assert _cpu.default_threads(16, environ={}, root=tmp_path) == 16
    assert _cpu.default_threads(0, environ={}, root=tmp_path) == 1
