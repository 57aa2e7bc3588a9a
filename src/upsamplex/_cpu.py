"""CPU budget of this process: the cgroup CPU quota a container runtime sets.

``os.cpu_count()`` and OpenMP's default team size count the host's cores, but a
container limited to, say, 2 CPUs by ``docker run --cpus 2`` (a CFS quota, not a
cpuset) gets throttled when more threads than that run at once. scikit-learn's
``_openmp_effective_n_threads`` (through loky's ``cpu_count``) reads the same
files; this module only reads them, it imports nothing but the standard library.
"""

import math
import os

# Where cgroup v2 (unified) and v1 (the "cpu" controller, sometimes mounted
# together with cpuacct) expose the CFS quota. Inside a container these are the
# container's own cgroup, which is the one that throttles us.
_V2_FILE = "cpu.max"
_V1_DIRS = ("cpu", "cpu,cpuacct", "cpuacct,cpu")


def _read_text(path):
    try:
        with open(path, encoding="ascii") as f:
            return f.read().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _threads_from_quota(quota, period):
    """ceil(quota / period), at least 1; None when there is no (valid) quota."""
    try:
        quota, period = int(quota), int(period)
    except (TypeError, ValueError):
        return None
    if quota <= 0 or period <= 0:  # v1 writes -1 for "no limit"
        return None
    return max(1, math.ceil(quota / period))


def cpu_quota_threads(root="/sys/fs/cgroup"):
    """Number of CPUs the cgroup CPU quota allows, or None when there is none.

    Parameters
    ----------
    root : str or os.PathLike, default '/sys/fs/cgroup'
        The cgroup mount point (a different folder in tests).

    Returns
    -------
    int or None
        ``ceil(quota / period)`` (at least 1) from cgroup v2's ``cpu.max``
        ("max 100000" means no limit) or, failing that, cgroup v1's
        ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (-1 means no limit);
        None when neither file states a limit or they cannot be read.

    Examples
    --------
    >>> from upsamplex._cpu import cpu_quota_threads
    >>> n = cpu_quota_threads()   # e.g. 2 under `docker run --cpus 1.5`  # doctest: +SKIP
    """
    root = os.fspath(root)
    text = _read_text(os.path.join(root, _V2_FILE))
    if text is not None:
        fields = text.split()
        if len(fields) == 2 and fields[0] != "max":
            return _threads_from_quota(*fields)
        return None  # v2 present: "max ..." is an explicit "no limit"
    for name in _V1_DIRS:
        base = os.path.join(root, name)
        quota = _read_text(os.path.join(base, "cpu.cfs_quota_us"))
        period = _read_text(os.path.join(base, "cpu.cfs_period_us"))
        if quota is not None and period is not None:
            return _threads_from_quota(quota, period)
    return None


_quota_cache = []


def default_threads(omp_max_threads, environ=None, root="/sys/fs/cgroup"):
    """Thread count for ``num_threads=None``: OpenMP's default capped by the CPU quota.

    An explicit ``OMP_NUM_THREADS`` is the user's choice and wins, as in
    scikit-learn; otherwise the OpenMP default (the cores in our affinity mask)
    is capped by the cgroup quota. The quota of the default `root` is read once
    per process (it costs a few file reads; interpolate is called in loops).

    Parameters
    ----------
    omp_max_threads : int
        ``omp_get_max_threads()`` (it already honours ``OMP_NUM_THREADS``,
        ``threadpoolctl`` limits and the affinity mask).
    environ : mapping, optional
        Environment to look ``OMP_NUM_THREADS`` up in; ``os.environ`` when None.
    root : str or os.PathLike, default '/sys/fs/cgroup'
        The cgroup mount point (tests pass a folder of fake files; not cached).

    Returns
    -------
    int
        At least 1.
    """
    environ = os.environ if environ is None else environ
    if environ.get("OMP_NUM_THREADS", "").strip():
        return max(1, omp_max_threads)
    if os.fspath(root) == "/sys/fs/cgroup":
        if not _quota_cache:
            _quota_cache.append(cpu_quota_threads(root))
        quota = _quota_cache[0]
    else:
        quota = cpu_quota_threads(root)
    return max(1, omp_max_threads if quota is None else min(omp_max_threads, quota))
