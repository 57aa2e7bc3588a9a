"""upsamplex.dask on a volume several times one worker's memory limit, zarr to zarr.

Runs on a LocalCluster whose two workers have a 256 MiB limit each; the 768 MiB
uint16 input is written to zarr and resampled to zarr without ever being held
whole. The assertion is on each worker process's peak resident memory
sampled while the resample runs.
"""

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
zarr = pytest.importorskip("zarr")

import upsamplex  # noqa: E402
import upsamplex.dask as uxd  # noqa: E402

pytestmark = pytest.mark.slow

LIMIT = 256 * 2**20


def _start_sampler(dask_worker):
    """In a worker: sample its resident memory every 20 ms (getrusage's peak is set by
    start-up, which touches more than the idle worker keeps)."""
    import threading
    import time

    worker = dask_worker
    worker.rss_peak = 0

    def sample():
        with open("/proc/self/statm") as f:
            page = int(f.read().split()[1])
        worker.rss_peak = max(worker.rss_peak, page * 4096)

    def loop():
        while not getattr(worker, "rss_stop", False):
            sample()
            time.sleep(0.02)

    sample()
    threading.Thread(target=loop, daemon=True).start()
    return worker.rss_peak


def _read_sampler(dask_worker):
    dask_worker.rss_stop = True
    return dask_worker.rss_peak


def _pattern(block, block_info=None):
    # Cheap to make, compressible but not constant: the voxel's global coordinates.
    (z0, _), (y0, _), (x0, _) = block_info[None]["array-location"]
    z, y, x = np.ogrid[z0:z0 + block.shape[0], y0:y0 + block.shape[1], x0:x0 + block.shape[2]]
    return ((z * 7 + y * 3 + x) % 65521).astype(np.uint16)


def test_larger_than_memory_zarr_to_zarr(tmp_path):
    shape, chunks = (384, 1024, 1024), (32, 256, 256)  # 768 MiB = 3 x one worker's limit
    src = da.zeros(shape, dtype=np.uint16, chunks=chunks).map_blocks(_pattern, dtype=np.uint16)
    # Written here, uncompressed (the quickest to make); the cluster below only resamples.
    target = zarr.create_array(str(tmp_path / "in.zarr"), shape=shape, dtype="uint16",
                               chunks=chunks, compressors=None)
    da.store(src, target, lock=False, scheduler="threads")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address="127.0.0.1:0",
                                  memory_limit=LIMIT) as cluster, \
            distributed.Client(cluster) as client:
        workers = set(client.scheduler_info()["workers"])
        base = client.run(_start_sampler)
        vol = da.from_zarr(str(tmp_path / "in.zarr"))
        assert vol.nbytes >= 3 * LIMIT
        # Output blocks of half the input chunk: each task's slab is one input chunk. (The
        # default, blocks as large as input chunks, makes 8-chunk slabs: 32 MiB + its float32
        # passes per task, more than a 256 MiB worker holding ~100 MiB of Python has.)
        small = uxd.interpolate(vol, scale_factor=0.5, mode="area", axes=(0, 1, 2),
                                chunks=(16, 128, 128))
        da.to_zarr(small, str(tmp_path / "out.zarr"))
        peaks = client.run(_read_sampler)
        assert set(client.scheduler_info()["workers"]) == workers  # nobody was killed
    print(f"worker baseline {[v >> 20 for v in base.values()]} MiB, "
          f"peak {[v >> 20 for v in peaks.values()]} MiB, limit {LIMIT >> 20} MiB")
    assert max(peaks.values()) < LIMIT
    # Growth over the idle worker is a few input chunks (4 MiB each), not the volume.
    assert max(peaks[w] - base[w] for w in peaks) < 64 * 2**20
    out = zarr.open_array(str(tmp_path / "out.zarr"), mode="r")
    assert out.shape == (192, 512, 512)
    # Spot checks: a 2x area box is local, so a slab of the input gives the same bits.
    inp = zarr.open_array(str(tmp_path / "in.zarr"), mode="r")
    for z, y, x in [(0, 0, 0), (17, 130, 255), (191, 511, 500)]:
        zs, ys, xs = (slice(max(0, v - 2), v + 2) for v in (z, y, x))
        piece = inp[2 * zs.start:2 * zs.stop, 2 * ys.start:2 * ys.stop, 2 * xs.start:2 * xs.stop]
        expected = upsamplex.interpolate(piece, scale_factor=0.5, mode="area", axes=(0, 1, 2))
        np.testing.assert_array_equal(out[zs, ys, xs], expected)
