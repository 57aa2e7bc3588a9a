"""Shared timing utilities for the upsamplex benchmarks.

Everything here is peer-agnostic: interleaved timing with medians, a memcpy
bandwidth floor measured inside the same rounds, peak memory of one call in a
fresh child process, and plain-text / markdown tables. ``bench_interpolate.py``
uses it; ``bench_conv.py`` can too.

The machine these run on is usually shared, so a single timing means little.
Candidates are therefore run in rounds (A B C A B C ...) and each reports its
median: a burst of load from a neighbour hits every candidate of a round alike,
and the ratios stay meaningful even when the absolute times drift.
"""

import datetime
import math
import os
import platform
import statistics
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import numpy as np

MiB = 1 << 20
# Large enough to spill every cache level, small enough to copy in ~10 ms.
BANDWIDTH_BYTES = 128 * MiB


def interleaved(fns, *, budget_s=4.0, min_rounds=3, max_rounds=21, warmup=1):
    """Median seconds of each callable in ``fns``, timed in interleaved rounds.

    Parameters
    ----------
    fns : dict of str to callable
        Zero-argument callables; insertion order is the order within a round.
    budget_s : float
        Rough wall-clock budget; the number of rounds is chosen from the
        warm-up round's duration, clipped to ``[min_rounds, max_rounds]``.

    Returns
    -------
    dict of str to float
        Median seconds per name.
    """
    times = {name: [] for name in fns}
    start = time.perf_counter()
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    per_round = (time.perf_counter() - start) / max(warmup, 1)
    rounds = int(min(max_rounds, max(min_rounds, budget_s // max(per_round, 1e-9))))
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


class CopyBandwidth:
    """memcpy of ``nbytes`` with ``threads`` threads, into a kept or a fresh buffer.

    ``np.copyto`` releases the GIL, so splitting it over Python threads uses as
    many cores as our OpenMP kernels do. Add :meth:`fns` to an interleaved group
    and convert its medians with :meth:`bandwidth`: the floor is then measured
    under the same load as the kernels it judges.
    """

    def __init__(self, threads, nbytes=BANDWIDTH_BYTES):
        self.nbytes = nbytes
        self.threads = threads
        self.src = np.ones(nbytes // 4, dtype=np.float32)
        self.dst = np.empty_like(self.src)
        self._pool = ThreadPoolExecutor(threads) if threads > 1 else None
        edges = np.linspace(0, self.src.size, threads + 1).astype(np.int64)
        self._bounds = list(zip(edges[:-1], edges[1:]))

    def _copy(self, dst):
        if self._pool is None:
            np.copyto(dst, self.src)
            return dst
        list(self._pool.map(lambda b: np.copyto(dst[b[0]:b[1]], self.src[b[0]:b[1]]),
                            self._bounds))
        return dst

    def _fill(self, dst):
        if self._pool is None:
            dst.fill(0.0)
            return dst
        list(self._pool.map(lambda b: dst[b[0]:b[1]].fill(0.0), self._bounds))
        return dst

    def fns(self):
        """``{"memcpy": ..., "fill fresh": ...}`` for :func:`interleaved`."""
        return {
            "memcpy": lambda: self._copy(self.dst),
            # A fresh np.empty of this size is a new mmap: writing it page-faults it in
            # (the kernel zeroes every page first), the unavoidable cost of a new array.
            "fill fresh": lambda: self._fill(np.empty_like(self.src)),
        }

    def bandwidth(self, seconds):
        """Bytes per second moved (read + written) by a copy that took ``seconds``."""
        return 2 * self.nbytes / seconds

    def fresh_write_bandwidth(self, seconds):
        """Bytes per second written into fresh memory by a fill that took ``seconds``."""
        return self.nbytes / seconds

    def close(self):
        if self._pool is not None:
            self._pool.shutdown()


def floor_seconds(bytes_moved, bandwidth):
    """The memory-bandwidth floor: time to read the input and write the output."""
    return bytes_moved / bandwidth


def fresh_floor_seconds(bytes_in, bytes_out, copy_bandwidth, fresh_bandwidth):
    """Floor for a fresh output: read the input, write a newly mapped output."""
    return bytes_in / copy_bandwidth + bytes_out / fresh_bandwidth


def geomean(values):
    values = [v for v in values if v and math.isfinite(v)]
    if not values:
        return float("nan")
    return math.exp(sum(math.log(v) for v in values) / len(values))


# --- peak memory of one call, in a fresh process ------------------------------------


def _proc_status_bytes(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise OSError(f"{field} not in /proc/self/status")


def _reset_peak_rss():
    """Start a new high-water mark; ``VmHWM`` then rises only with what comes next.

    ``ru_maxrss`` cannot serve: Linux carries it over ``execve``, so a spawned child
    starts with its (large) parent's peak. Writing 5 to ``clear_refs`` (Linux 4.0+)
    resets ``VmHWM`` to the current RSS.
    """
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _peak_child(build, args, queue):
    try:
        call = build(*args)  # builds inputs and buffers; returns the call to measure
        _reset_peak_rss()
        before = _proc_status_bytes("VmRSS")
        result = call()
        rss_delta = _proc_status_bytes("VmHWM") - before
        del result
        tracemalloc.start()
        result = call()
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out_bytes = 0 if result is None else result.nbytes
        queue.put((rss_delta, traced_peak, out_bytes, None))
    except Exception as exc:  # reported by the parent, which owns the table
        queue.put((0, 0, 0, f"{type(exc).__name__}: {exc}"))


def peak_memory(build, *args):
    """Extra peak memory of one call, measured in a fresh ``spawn`` child.

    ``build(*args)`` runs in the child, allocates its inputs and returns a
    zero-argument callable. The child reports the rise of its peak resident set
    (``VmHWM`` over ``VmRSS`` before the call: every byte page-faulted, C
    allocations and thread stacks included; Linux only) and the peak that
    ``tracemalloc`` sees on a second call (NumPy reports its data buffers there).
    ``build`` must be importable by the child: a module-level function.

    Returns
    -------
    dict
        ``rss``, ``traced`` and ``output`` in bytes, and ``error`` (None or text).
    """
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_peak_child, args=(build, args, queue))
    proc.start()
    rss, traced, out_bytes, error = queue.get()
    proc.join()
    return {"rss": rss, "traced": traced, "output": out_bytes, "error": error}


# --- reporting ------------------------------------------------------------------------


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_line(versions):
    """One line naming the machine: CPU, cores, library versions, date."""
    libs = ", ".join(f"{name} {ver}" for name, ver in versions.items() if ver)
    return (f"{cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"{libs}; {datetime.date.today().isoformat()}")


def format_table(headers, rows, markdown=False, n_left=1):
    """Rows of strings as an aligned text table, or a GitHub markdown table.

    The first ``n_left`` columns (labels) are left-aligned, the rest (numbers) right.
    """
    if markdown:
        lines = ["| " + " | ".join(headers) + " |",
                 "|" + "|".join("---" if i < n_left else "---:" for i in range(len(headers)))
                 + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" if i < n_left else f"{{:>{w}}}" for i, w in enumerate(widths))
    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt.format(*headers), rule] + [fmt.format(*row) for row in rows])


def ms(seconds):
    """Milliseconds with three significant figures (or a dash when not timed)."""
    if seconds is None:
        return "–"
    value = seconds * 1e3
    return f"{value:.3g}" if value < 100 else f"{value:.0f}"


def ratio(value):
    return "–" if value is None or not math.isfinite(value) else f"{value:.2f}×"
