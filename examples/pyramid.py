"""Build an OME-Zarr pyramid from a synthetic multi-GB zarr volume with upsamplex.dask.

    python examples/pyramid.py --gib 2 --levels 5 --memory-limit 512MiB

writes a synthetic uint16 (Z, Y, X) volume of about ``--gib`` GiB to
``WORKDIR/raw.zarr`` (zarr v3, 32 x 256 x 256 chunks of 4 MiB) and then runs the same
code as ``python -m upsamplex pyramid raw.zarr pyramid.zarr --levels N``: a
local dask.distributed cluster of ``--workers`` processes, each level a 2x area
downscale of the previous one, written as an OME-Zarr 0.5 multiscales group,
with a progress bar, the wall time and every worker's peak memory printed.
The workers' memory limit can be far below the volume's size: each task holds
one output block and the input slab its tables touch.
"""

import argparse
import math
import os
import sys
import tempfile
import time

import numpy as np


def _texture(block, block_info=None):
    """Smooth structure plus noise from the voxel's global position (cheap, deterministic)."""
    (z0, _), (y0, _), (x0, _) = block_info[None]["array-location"]
    z, y, x = np.ogrid[z0:z0 + block.shape[0], y0:y0 + block.shape[1], x0:x0 + block.shape[2]]
    smooth = 20000 + 8000 * np.sin(z * 0.05) * np.cos(y * 0.01) + 6000 * np.sin(x * 0.013)
    rng = np.random.default_rng((z0 * 7919 + y0) * 104729 + x0)
    noise = rng.integers(0, 2000, size=block.shape)
    return (smooth + noise).astype(np.uint16)


def make_volume(path, gib, workers, memory_limit):
    import dask.array as da
    import distributed

    side = int(round(math.sqrt(gib * 2**30 / 2 / 256) / 256)) * 256 or 256
    shape = (256, side, side)
    vol = da.zeros(shape, dtype=np.uint16, chunks=(32, 256, 256)).map_blocks(_texture,
                                                                           dtype=np.uint16)
    print(f"writing synthetic volume {shape} uint16 ({vol.nbytes / 2**30:.2f} GiB) to {path}")
    t0 = time.perf_counter()
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address="127.0.0.1:0",
                                  memory_limit=memory_limit) as cluster, \
            distributed.Client(cluster) as client:
        future = client.compute(da.to_zarr(vol, path, compute=False))
        distributed.progress(future)
        print()
        future.result()
    print(f"  written in {time.perf_counter() - t0:.1f} s")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gib", type=float, default=2.0, help="volume size in GiB (default 2)")
    p.add_argument("--levels", type=int, default=5)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--memory-limit", default="512MiB", help="per worker (default 512MiB)")
    p.add_argument("--workdir", default=None, help="default: a new temporary folder")
    p.add_argument("--source", choices=("previous", "full"), default="previous")
    args = p.parse_args(argv)

    from upsamplex import _pyramid_cli

    workdir = args.workdir or tempfile.mkdtemp(prefix="upsamplex_pyramid_")
    raw, out = os.path.join(workdir, "raw.zarr"), os.path.join(workdir, "pyramid.zarr")
    if not os.path.exists(raw):
        make_volume(raw, args.gib, args.workers, args.memory_limit)
    return _pyramid_cli.main([raw, out, "--levels", str(args.levels), "--workers",
                              str(args.workers), "--memory-limit", args.memory_limit,
                              "--source", args.source, "--overwrite"])


if __name__ == "__main__":
    sys.exit(main())
