"""upsamplex.dask against in-memory upsamplex and what Dask users resample with today.

Two workloads on one float32 volume stored as zarr (default 32 x 1024 x 1024,
chunks 8 x 256 x 256, 128 MiB):

* ``down2``: a 2x downscale of (Z, Y, X), the step of a pyramid. upsamplex
  ``mode="area"``; dask-image ``affine_transform`` (order 1 with offset 0.5,
  which at a 2x downscale is the same box mean), ome-zarr-py
  ``dask_utils.resize`` (order 1, no anti-aliasing: also the box mean),
  ngff-zarr's ``dask_bin_shrink`` (box mean) and ``dask_image_gaussian``
  (its Gaussian default: a different filter, listed for time and placement).
* ``pyramid4``: 4 levels of 2x area downscales, each from the previous level
  (``source="previous"``) or from level 0 (``source="full"``); the time is all
  three new levels computed together, the error the last level's difference.
* ``up1.5``: a 1.5x bilinear upscale of (Y, X): upsamplex ``bilinear``;
  dask-image ``affine_transform`` order 1 (``matrix`` given as the 1-D
  diagonal, and as a 2-D matrix); ome-zarr-py ``resize`` order 1.

Every candidate runs in its own child process, once untimed (warm-up) and
then ``--repeat`` times (median reported), (so its peak memory is its
own) on the threaded scheduler with 2 threads, except ``upsamplex.dask
(LocalCluster)``: 2 worker processes x 1 thread. Input is read from zarr and
the result gathered into memory (peak memory: the process's resident memory
sampled during a run, minus before it; it includes the gathered result). The
in-memory baseline reads the same zarr
and calls ``upsamplex.interpolate(num_threads=2)``. Errors are against that
in-memory result: the largest ``|diff|`` on output pixels within 2 pixels of an
input chunk seam, and elsewhere (the array's 3-pixel border excluded: edge
rules differ between libraries, seams are what chunking gets wrong).

``python benchmarks/bench_dask.py [--shape 32,1024,1024] [--chunks 8,256,256]
[--repeat 3] [--only NAME] [--markdown]``; peers are the ``bench-dask`` extra.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def _rss_peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class _Sampler:
    """Peak resident memory of this process while a run is going (sampled every 10 ms)."""

    def __enter__(self):
        import threading

        self.peak, self._stop = _rss_now(), False
        self.base = self.peak
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def _loop(self):
        while not self._stop:
            self.peak = max(self.peak, _rss_now())
            time.sleep(0.01)

    def __exit__(self, *exc):
        self._stop = True
        self._thread.join()
        self.peak = max(self.peak, _rss_now())


def _rss_now():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# ---------------------------------------------------------------------------
# Candidates (run in the child): each returns a zero-argument callable giving
# a NumPy result. ``vol`` is the lazily read dask array, ``path`` the zarr.
# ---------------------------------------------------------------------------

def _geometry(workload, shape):
    if workload in ("down2", "pyramid4"):
        return {"axes": (0, 1, 2), "out": tuple(n // 2 for n in shape)}
    return {"axes": (1, 2), "out": (shape[0],) + tuple(int(n * 1.5) for n in shape[1:])}


def _ux_kwargs(workload, shape):
    g = _geometry(workload, shape)
    size = tuple(g["out"][a] for a in g["axes"])
    mode = "area" if workload == "down2" else "bilinear"
    return {"size": size, "mode": mode, "axes": g["axes"]}


def _affine_params(workload, shape):
    """Diagonal matrix and offset mapping output to input pixel centres (half-pixel)."""
    g = _geometry(workload, shape)
    s = np.array([n / m for n, m in zip(shape, g["out"])])
    offset = 0.5 * s - 0.5
    offset[s == 1.0] = 0.0
    return s, offset, g["out"]


def build(name, workload, path, shape, chunks):
    import dask.array as da
    import zarr

    import upsamplex

    kwargs = _ux_kwargs(workload, shape)
    if name.startswith("pyramid"):
        import dask

        import upsamplex.dask as uxd

        levels = uxd.pyramid(da.from_zarr(path), 4, axes=(0, 1, 2),
                             source=name.split("=")[1])
        return (lambda: dask.compute(*levels[1:], scheduler="threads", num_workers=2)[-1]), None
    if name == "in-memory upsamplex":
        def run():
            x = zarr.open_array(path, mode="r")[:]
            return upsamplex.interpolate(x, num_threads=2, **kwargs)
        return run, None
    vol = da.from_zarr(path)
    if name == "upsamplex.dask (threads)":
        import upsamplex.dask as uxd

        y = uxd.interpolate(vol, **kwargs)
        return lambda: y.compute(scheduler="threads", num_workers=2), None
    if name == "upsamplex.dask (LocalCluster)":
        import distributed

        import upsamplex.dask as uxd

        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           host="127.0.0.1", dashboard_address="127.0.0.1:0",
                                           memory_limit="2GiB")
        client = distributed.Client(cluster)
        y = uxd.interpolate(vol, **kwargs)
        return (lambda: client.compute(y).result()), client
    if name.startswith("dask-image"):
        from dask_image.ndinterp import affine_transform

        s, offset, out_shape = _affine_params(workload, shape)
        matrix = s if "1-D" in name else np.diag(s)
        y = affine_transform(vol, matrix, offset=offset, output_shape=out_shape, order=1,
                             mode="nearest", output_chunks=vol.chunksize)
        return lambda: y.compute(scheduler="threads", num_workers=2), None
    if name == "ome-zarr-py resize":
        from ome_zarr.dask_utils import resize

        out_shape = _geometry(workload, shape)["out"]
        y = resize(vol, out_shape, order=1, mode="edge", anti_aliasing=False,
                   preserve_range=True)
        return lambda: y.compute(scheduler="threads", num_workers=2), None
    if name.startswith("ngff-zarr"):
        import ngff_zarr

        method = (ngff_zarr.Methods.DASK_BIN_SHRINK if "bin_shrink" in name
                  else ngff_zarr.Methods.DASK_IMAGE_GAUSSIAN)
        image = ngff_zarr.to_ngff_image(vol, dims=("z", "y", "x"))
        ms = ngff_zarr.to_multiscales(image, scale_factors=[2], method=method,
                                      chunks=dict(zip("zyx", chunks)))
        y = ms.images[1].data
        meta = {"scale": [ms.images[1].scale[d] for d in "zyx"],
                "translation": [ms.images[1].translation[d] for d in "zyx"]}
        return (lambda: y.compute(scheduler="threads", num_workers=2)), meta
    raise ValueError(f"unknown candidate {name!r}")


CANDIDATES = {
    "down2": ["in-memory upsamplex", "upsamplex.dask (threads)", "upsamplex.dask (LocalCluster)",
              "dask-image affine (1-D matrix)", "dask-image affine (2-D matrix)",
              "ome-zarr-py resize", "ngff-zarr dask_bin_shrink", "ngff-zarr dask_image_gaussian"],
    "up1.5": ["in-memory upsamplex", "upsamplex.dask (threads)", "upsamplex.dask (LocalCluster)",
              "dask-image affine (1-D matrix)", "dask-image affine (2-D matrix)",
              "ome-zarr-py resize"],
    # The last of 4 levels, all levels computed together; errors are against source=previous.
    "pyramid4": ["pyramid source=previous", "pyramid source=full"],
}


def child(args):
    shape = tuple(args.shape)
    try:
        run, extra = build(args.one, args.workload[-1], args.path, shape, tuple(args.chunks))
    except ImportError as exc:
        print(json.dumps({"error": f"not installed ({exc.name})"}))
        return 0
    run()  # warm-up: worker imports, plan tables, page cache
    times, extra_peak = [], 0
    for _ in range(args.repeat):
        y = None  # the previous result is not part of this run's memory
        with _Sampler() as mem:
            t0 = time.perf_counter()
            y = run()
            times.append(time.perf_counter() - t0)
        extra_peak = max(extra_peak, mem.peak - mem.base)
    result = {"times": times, "peak_extra": extra_peak}
    if args.one == "upsamplex.dask (LocalCluster)":
        peaks = extra.run(_rss_peak)
        result["worker_peaks"] = list(peaks.values())
        extra.close()
    elif isinstance(extra, dict):
        result["meta"] = extra
    np.save(args.out, np.asarray(y))
    print(json.dumps(result))
    return 0


# ---------------------------------------------------------------------------
# Parent: make the volume, run each child, compare
# ---------------------------------------------------------------------------

def _make_volume(path, shape, chunks):
    import zarr

    rng = np.random.default_rng(0)
    arr = zarr.create_array(path, shape=shape, dtype="float32", chunks=chunks)
    z = np.arange(shape[0])[:, None, None]
    for z0 in range(0, shape[0], chunks[0]):
        zz = z[z0:z0 + chunks[0]]
        y, x = np.ogrid[:shape[1], :shape[2]]
        smooth = np.sin(zz * 0.3) + np.cos(y * 0.05) * np.sin(x * 0.07)
        noise = rng.standard_normal((zz.shape[0], shape[1], shape[2]))
        arr[z0:z0 + chunks[0]] = (smooth + 0.3 * noise).astype(np.float32)


def _seam_mask(shape_in, shape_out, chunks, axes, border=3, width=2):
    """Output pixels within ``width`` of an input chunk boundary (mapped to the output)."""
    masks = []
    for a, (n, m, c) in enumerate(zip(shape_in, shape_out, chunks)):
        idx = np.arange(m)
        near = np.zeros(m, bool)
        if a in axes:
            for b in range(c, n, c):
                near |= np.abs(idx - b * m / n) <= width
        masks.append(near)
    seam = np.zeros(shape_out, bool)
    inner = np.ones(shape_out, bool)
    for a, (near, m) in enumerate(zip(masks, shape_out)):
        sl = [None] * len(shape_out)
        sl[a] = slice(None)
        seam |= near[tuple(sl)]
        if a in axes:
            keep = np.zeros(m, bool)
            b = min(border, (m - 1) // 2)
            keep[b:m - b] = True
            inner &= keep[tuple(sl)]
    return seam & inner, ~seam & inner


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shape", type=lambda s: [int(v) for v in s.split(",")],
                   default=[32, 1024, 1024])
    p.add_argument("--chunks", type=lambda s: [int(v) for v in s.split(",")],
                   default=[8, 256, 256])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--workload", choices=sorted(CANDIDATES), action="append")
    p.add_argument("--only", action="append", help="run only candidates containing this")
    p.add_argument("--markdown", action="store_true")
    p.add_argument("--one", help=argparse.SUPPRESS)
    p.add_argument("--path", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        return child(args)

    shape, chunks = tuple(args.shape), tuple(args.chunks)
    tmp = tempfile.mkdtemp(prefix="bench_dask_")
    path = os.path.join(tmp, "vol.zarr")
    t0 = time.perf_counter()
    _make_volume(path, shape, chunks)
    print(f"volume {shape} float32 ({np.prod(shape) * 4 / 2**20:.0f} MiB), chunks {chunks}, "
          f"written in {time.perf_counter() - t0:.1f} s to {path}", flush=True)
    rows = []
    for workload in args.workload or ["down2", "up1.5", "pyramid4"]:
        ref = None
        for name in CANDIDATES[workload]:
            if args.only and not any(o in name for o in args.only):
                if name != CANDIDATES[workload][0]:
                    continue
            out = os.path.join(tmp, "out.npy")
            cmd = [sys.executable, os.path.abspath(__file__), "--one", name, "--workload",
                   workload, "--path", path, "--out", out, "--repeat", str(args.repeat),
                   "--shape", ",".join(map(str, shape)), "--chunks", ",".join(map(str, chunks))]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
            if proc.returncode != 0 or not lines:
                err = (proc.stderr.strip().splitlines() or ["failed"])[-1]
                rows.append((workload, name, None, None, None, None, f"failed: {err[:80]}"))
                print(rows[-1], flush=True)
                continue
            res = json.loads(lines[-1])
            if "error" in res:
                rows.append((workload, name, None, None, None, None, res["error"]))
                continue
            y = np.load(out)
            if ref is None:  # the first candidate of a workload is its reference
                ref = y
                seam, rest = _seam_mask(shape, ref.shape, chunks,
                                        _geometry(workload, shape)["axes"])
            t = float(np.median(res["times"]))
            note = ""
            if y.shape != ref.shape:
                err_seam = err_rest = None
                note = f"shape {y.shape} (reference {ref.shape})"
            else:
                diff = np.abs(y.astype(np.float64) - ref.astype(np.float64))
                err_seam = float(diff[seam].max()) if seam.any() else None
                err_rest = float(diff[rest].max()) if rest.any() else None
                if name.startswith("upsamplex"):
                    note = "bit-identical" if np.array_equal(y, ref) else "NOT bit-identical"
            mem = res["peak_extra"]
            if "worker_peaks" in res:
                note += f"; worker peak RSS {[w >> 20 for w in res['worker_peaks']]} MiB"
            if "meta" in res:
                note += f"; records scale {res['meta']['scale']} translation " \
                        f"{res['meta']['translation']}"
            rows.append((workload, name, t, mem, err_seam, err_rest, note.strip("; ")))
            print(rows[-1], flush=True)
    base = {r[0]: r[2] for r in rows if r[1] in ("in-memory upsamplex",
                                                  "pyramid source=previous")}
    print()
    sep = " | " if args.markdown else "  "
    head = ["workload", "candidate", "time (s)", "vs in-memory", "peak extra MiB",
            "max|err| at seams", "max|err| elsewhere", "notes"]
    if args.markdown:
        print("| " + sep.join(head) + " |")
        print("|" + "---|" * len(head))
    else:
        print(sep.join(head))
    for workload, name, t, mem, es, er, note in rows:
        cells = [workload, name,
                 "–" if t is None else f"{t:.3f}",
                 "–" if t is None or not base.get(workload) else f"{t / base[workload]:.2f}x",
                 "–" if mem is None else f"{mem / 2**20:.0f}",
                 "–" if es is None else f"{es:.3g}",
                 "–" if er is None else f"{er:.3g}", note]
        print(("| " + sep.join(cells) + " |") if args.markdown else sep.join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
