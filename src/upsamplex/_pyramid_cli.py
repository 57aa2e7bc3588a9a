"""``upsamplex pyramid IN.zarr OUT.zarr --levels N``: an OME-Zarr pyramid from a zarr array.

Reads a zarr v3 array (or level 0 of an OME-Zarr group), builds the pyramid
with :func:`upsamplex.dask.pyramid` and writes it with
:func:`upsamplex.dask.to_zarr`, showing a progress bar and printing the wall
time and the peak memory of the worker processes.
"""

import argparse
import os
import resource
import sys
import time

USAGE_EXTRA = "needs the dask extra: pip install 'upsamplex[dask]'"


def _parser():
    p = argparse.ArgumentParser(
        prog="upsamplex pyramid",
        description="Build an OME-Zarr (NGFF 0.5) multiscale pyramid from a zarr array, "
                    "bit-identical to in-memory upsamplex.interpolate level by level.",
    )
    p.add_argument("input", metavar="IN.zarr", help="a zarr array, or an OME-Zarr group "
                   "(its first multiscale level is read)")
    p.add_argument("output", metavar="OUT.zarr", help="where to write the OME-Zarr group")
    p.add_argument("--levels", type=int, required=True,
                   help="number of levels written, level 0 (a copy of the input) included")
    p.add_argument("--factor", type=_int_list, default=[2],
                   help="downscale factor per level: one int, or one per resampled axis "
                        "(comma-separated); default 2")
    p.add_argument("--mode", default="area", help="interpolation mode (default area)")
    p.add_argument("--axes", type=_int_list, default=None,
                   help="resampled axes, comma-separated (default: all axes of a 1-3-D "
                        "array, the last three otherwise)")
    p.add_argument("--chunks", type=_int_list, default=None,
                   help="output chunks of every level, comma-separated, one per axis "
                        "(default: blocks of about the input chunk's bytes)")
    p.add_argument("--source", choices=("previous", "full"), default="previous",
                   help="build each level from the previous one (default) or from level 0")
    p.add_argument("--scheduler", choices=("distributed", "threads", "sync"),
                   default="distributed",
                   help="a local dask.distributed cluster (default), the threaded or the "
                        "synchronous scheduler")
    p.add_argument("--workers", type=int, default=2, help="distributed workers (default 2)")
    p.add_argument("--threads-per-worker", type=int, default=1,
                   help="threads per distributed worker, or threaded-scheduler threads when "
                        "--scheduler threads (default 1)")
    p.add_argument("--memory-limit", default="1GiB",
                   help="memory limit per distributed worker (default 1GiB)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT.zarr if it exists")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _int_list(text):
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints, got {text!r}") from None


def _peak_rss():
    """Peak resident memory of this process, in bytes (Linux reports KiB)."""
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _open_input(path):
    import dask.array as da
    import zarr

    node = zarr.open(path, mode="r")
    if isinstance(node, zarr.Array):
        return da.from_zarr(node), None, None
    attrs = node.attrs.asdict()
    ome = attrs.get("ome", attrs)
    multiscales = ome.get("multiscales")
    if multiscales:
        ds = multiscales[0]["datasets"][0]
        names = [a["name"] if isinstance(a, dict) else a for a in multiscales[0].get("axes", [])]
        px = None
        for t in ds.get("coordinateTransformations", []):
            if t.get("type") == "scale":
                px = t["scale"]
        return da.from_zarr(node[ds["path"]]), names or None, px
    raise ValueError(f"{path!r} is a zarr group without OME multiscales metadata; point IN.zarr "
                     "at an array inside it")


def _human(n):
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024


def main(argv=None):
    """Run ``upsamplex pyramid``; returns the process exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits on -h and on usage errors
        return int(exc.code or 0)
    try:
        import dask.array  # noqa: F401
        import zarr  # noqa: F401

        from upsamplex import dask as uxd
    except ImportError as exc:
        print(f"upsamplex pyramid {USAGE_EXTRA} ({exc})", file=sys.stderr)
        return 1

    if os.path.exists(args.output) and not args.overwrite:
        print(f"error: {args.output!r} already exists; pass --overwrite to replace it",
              file=sys.stderr)
        return 2
    try:
        vol, names, px = _open_input(args.input)
        axes = args.axes
        if axes is None:
            axes = list(range(vol.ndim)) if vol.ndim <= 3 else list(range(vol.ndim - 3, vol.ndim))
        factor = args.factor[0] if len(args.factor) == 1 else tuple(args.factor)
        levels = uxd.pyramid(vol, args.levels, factor=factor, mode=args.mode, axes=tuple(axes),
                             source=args.source,
                             chunks=None if args.chunks is None else tuple(args.chunks))
        if names is not None and len(names) != vol.ndim:
            names = None
        write = uxd.to_zarr(levels, args.output, overwrite=args.overwrite, axis_names=names,
                            pixel_size=px, compute=False)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    print(f"input {args.input}: shape {vol.shape} {vol.dtype}, chunks {vol.chunksize}, "
          f"{_human(vol.nbytes)}")
    for k, lvl in enumerate(levels):
        print(f"  level {k}: shape {lvl.shape}, chunks {lvl.chunksize}, {lvl.npartitions} blocks")
    t0 = time.perf_counter()
    if args.scheduler == "distributed":
        from distributed import Client, LocalCluster, progress

        with LocalCluster(n_workers=args.workers, threads_per_worker=args.threads_per_worker,
                          processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0",
                          memory_limit=args.memory_limit) as cluster, Client(cluster) as client:
            t0 = time.perf_counter()
            futures = client.compute(write)  # one future or a list, by dask version
            if not args.no_progress:
                progress(futures)
                print()
            client.gather(futures)
            elapsed = time.perf_counter() - t0
            peaks = client.run(_peak_rss)
        peak_text = ", ".join(_human(v) for v in peaks.values())
        print(f"wrote {args.output} in {elapsed:.2f} s; peak worker memory {peak_text} "
              f"(limit {args.memory_limit} each)")
    else:
        import dask
        from dask.diagnostics import ProgressBar

        kwargs = {"scheduler": args.scheduler}
        if args.scheduler == "threads":
            kwargs["num_workers"] = args.threads_per_worker
        if args.no_progress:
            dask.compute(write, **kwargs)
        else:
            with ProgressBar():
                dask.compute(write, **kwargs)
        elapsed = time.perf_counter() - t0
        print(f"wrote {args.output} in {elapsed:.2f} s; peak process memory "
              f"{_human(_peak_rss())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
