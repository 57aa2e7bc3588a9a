"""upsamplex.dask: chunked resampling equals in-memory upsamplex bit for bit.

The oracle here is in-memory ``upsamplex.interpolate`` (itself tested against
torch elsewhere): every chunked result is compared with ``np.array_equal``.
"""

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
pytest.importorskip("zarr")

import upsamplex  # noqa: E402
import upsamplex.dask as uxd  # noqa: E402

DTYPES = ("float32", "float64", "float16", "uint8", "uint16", "int16")
# Modes by number of resampled axes; the in-memory call decides what is allowed.
MODES = {
    1: ("nearest", "nearest-exact", "area", "linear"),
    2: ("nearest", "nearest-exact", "area", "bilinear", "bicubic", "lanczos"),
    3: ("nearest", "nearest-exact", "area", "trilinear"),
}
SCALES = (0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 2.7, 3.0)


def _random_array(rng, shape, dtype):
    dtype = np.dtype(dtype)
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        return rng.integers(info.min, int(info.max) + 1, size=shape, dtype=dtype)
    return rng.standard_normal(shape).astype(dtype)


def _partition(draw, n, max_pieces=5):
    """A random chunking of length n: ragged, 1-element pieces, or a single chunk."""
    if n <= 1:
        return (n,)
    cuts = draw(st.lists(st.integers(1, n - 1), max_size=max_pieces - 1, unique=True))
    edges = [0, *sorted(cuts), n]
    return tuple(b - a for a, b in zip(edges[:-1], edges[1:]))


@st.composite
def forward_cases(draw):
    n_sp = draw(st.integers(1, 3))
    n_batch = draw(st.integers(0, 2))
    ndim = n_sp + n_batch
    axes = tuple(draw(st.permutations(range(ndim)))[:n_sp])
    shape = tuple(draw(st.integers(1, 10 if n_sp < 3 else 6)) for _ in range(ndim))
    mode = draw(st.sampled_from(MODES[n_sp]))
    antialias = mode == "lanczos" or (mode in ("bilinear", "bicubic", "linear", "trilinear")
                                      and draw(st.booleans()))
    kwargs = {"mode": mode, "axes": axes, "antialias": antialias}
    if mode in ("linear", "bilinear", "bicubic", "trilinear") and draw(st.booleans()):
        kwargs["align_corners"] = draw(st.booleans())
    if draw(st.booleans()):
        kwargs["size"] = tuple(draw(st.integers(1, 14)) for _ in range(n_sp))
    else:
        kwargs["scale_factor"] = tuple(draw(st.sampled_from(SCALES)) for _ in range(n_sp))
        if draw(st.booleans()):
            kwargs["recompute_scale_factor"] = draw(st.booleans())
    dtype = draw(st.sampled_from(DTYPES))
    in_chunks = tuple(_partition(draw, n) for n in shape)
    seed = draw(st.integers(0, 2**32 - 1))
    out_chunks = draw(st.booleans())
    out_seed = draw(st.integers(0, 2**32 - 1))
    return shape, dtype, in_chunks, kwargs, seed, out_chunks, out_seed


def _random_out_chunks(shape, seed):
    rng = np.random.default_rng(seed)
    chunks = []
    for n in shape:
        c = int(rng.integers(1, n + 1))
        chunks.append(c)
    return tuple(chunks)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(forward_cases())
def test_chunked_forward_is_bit_identical(case):
    shape, dtype, in_chunks, kwargs, seed, pick_out_chunks, out_seed = case
    x = _random_array(np.random.default_rng(seed), shape, dtype)
    try:
        expected = upsamplex.interpolate(x, **kwargs)
    except (ValueError, TypeError) as exc:
        event("refused by in-memory interpolate")
        # What in-memory refuses, the dask version refuses the same way (at graph time).
        with pytest.raises(type(exc)):
            uxd.interpolate(da.from_array(x, chunks=in_chunks), **kwargs)
        return
    event(f"computed: {kwargs['mode']}{' antialias' if kwargs['antialias'] else ''}, {dtype}")
    chunks = _random_out_chunks(expected.shape, out_seed) if pick_out_chunks else None
    y = uxd.interpolate(da.from_array(x, chunks=in_chunks), chunks=chunks, **kwargs)
    assert y.shape == expected.shape and y.dtype == expected.dtype
    got = y.compute(scheduler="sync")
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected, strict=True)


@st.composite
def backward_cases(draw):
    shape, dtype, in_chunks, kwargs, seed, pick_out_chunks, out_seed = draw(forward_cases())
    dtype = draw(st.sampled_from(("float32", "float64")))
    return shape, dtype, kwargs, seed, pick_out_chunks, out_seed, draw(st.integers(0, 2**32 - 1))


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=40)
@given(backward_cases())
def test_chunked_backward_is_bit_identical(case):
    shape, dtype, kwargs, seed, pick_chunks, chunk_seed, gseed = case
    rng = np.random.default_rng(seed)
    try:
        out_shape = upsamplex.interpolate(np.zeros(shape, dtype), **kwargs).shape
    except (ValueError, TypeError):
        assume(False)
    g = _random_array(rng, out_shape, dtype)
    expected = upsamplex.interpolate_backward(g, shape, **kwargs)
    g_chunks = _random_out_chunks(out_shape, gseed)
    chunks = _random_out_chunks(shape, chunk_seed) if pick_chunks else None
    gx = uxd.interpolate_backward(da.from_array(g, chunks=g_chunks), shape, chunks=chunks,
                                  **kwargs)
    assert gx.shape == expected.shape
    np.testing.assert_array_equal(gx.compute(scheduler="sync"), expected, strict=True)


# (area at 0.75 on 32-pixel chunks is *not* listed: its 4 -> 3 boxes never cross a chunk
# edge, so there the naive way happens to be right.)
@pytest.mark.parametrize("mode,antialias", [("bilinear", False), ("bicubic", True)])
def test_naive_per_chunk_resize_is_not_equal(mode, antialias, rng):
    """Proof the identity check can fail: resizing each chunk on its own leaves seams."""
    x = rng.standard_normal((1, 1, 96, 96)).astype(np.float32)
    dx = da.from_array(x, chunks=(1, 1, 32, 32))
    expected = upsamplex.interpolate(x, scale_factor=0.75, mode=mode, antialias=antialias)
    naive = dx.map_blocks(
        lambda b: upsamplex.interpolate(b, scale_factor=0.75, mode=mode, antialias=antialias),
        chunks=(1, 1, (24,) * 3, (24,) * 3), dtype=x.dtype).compute(scheduler="sync")
    assert naive.shape == expected.shape
    differs = np.mean(naive != expected)
    assert differs > 0.05, differs
    ours = uxd.interpolate(dx, scale_factor=0.75, mode=mode, antialias=antialias)
    np.testing.assert_array_equal(ours.compute(scheduler="sync"), expected, strict=True)


def test_chunks_smaller_than_the_kernel_support(rng):
    # 1-element input chunks under a 0.1x lanczos: each output pulls ~60 input chunks.
    x = rng.standard_normal((1, 1, 3, 80))
    dx = da.from_array(x, chunks=1)
    kwargs = {"scale_factor": (1.0, 0.1), "mode": "lanczos", "antialias": True}
    y = uxd.interpolate(dx, **kwargs)
    graph = dict(y.__dask_graph__())
    assert max(len(task[-1]) for k, task in graph.items() if k[0] == y.name) >= 60
    np.testing.assert_array_equal(y.compute(scheduler="sync"),
                                  upsamplex.interpolate(x, **kwargs), strict=True)


# ---------------------------------------------------------------------------
# Graph shape, chunks, threads
# ---------------------------------------------------------------------------

def test_one_task_per_output_block_and_no_rechunk():
    x = da.zeros((2, 600, 500), dtype=np.float32, chunks=(1, 100, 100))
    y = uxd.interpolate(x, scale_factor=1.7, mode="bicubic", axes=(1, 2), chunks=(1, 128, 128))
    graph = dict(y.__dask_graph__())
    ours = [k for k in graph if k[0] == y.name]
    assert len(ours) == y.npartitions == 2 * 8 * 7
    # The only other tasks are the input's own: nothing rechunks or copies the whole array.
    assert len(graph) == len(ours) + x.npartitions
    assert len(y.__dask_graph__().layers) == 2


def test_auto_chunks_match_input_block_bytes():
    x = da.zeros((4, 1000, 1000), dtype=np.uint16, chunks=(1, 256, 256))
    up = uxd.interpolate(x, scale_factor=2, mode="bilinear", axes=(1, 2))
    assert up.chunksize == (1, 256, 256)
    assert up.chunks[1][-1] == 2000 - 7 * 256  # ragged last chunk
    down = uxd.interpolate(x, scale_factor=0.1, mode="area", axes=(1, 2))
    # Clipped to the 100x100 output: one block per plane, the input's batch chunks kept.
    assert down.chunks == ((1,) * 4, (100,), (100,))
    flat = da.zeros((1000, 1000), dtype=np.float32, chunks=(1000, 10))
    y = uxd.interpolate(flat, size=(50, 2000), mode="bilinear", axes=(0, 1))
    # The 1000-long chunk axis shrinks to 50: the other axis grows to keep ~10,000 elements.
    assert y.chunksize[0] == 50 and 150 <= y.chunksize[1] <= 250


def test_explicit_chunks_and_num_threads(rng):
    x = rng.standard_normal((1, 3, 50, 70)).astype(np.float32)
    dx = da.from_array(x, chunks=(1, 1, 17, 23))
    y = uxd.interpolate(dx, size=(64, 33), mode="bicubic", chunks=(1, 2, 20, 11), num_threads=2)
    assert y.chunks == ((1,), (2, 1), (20, 20, 20, 4), (11, 11, 11))
    np.testing.assert_array_equal(y.compute(scheduler="threads"),
                                  upsamplex.interpolate(x, size=(64, 33), mode="bicubic"))


def test_import_upsamplex_does_not_import_dask():
    code = ("import sys, upsamplex; upsamplex.interpolate; "
            "assert 'dask' not in sys.modules and 'upsamplex.dask' not in sys.modules, "
            "sorted(m for m in sys.modules if 'dask' in m)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_threaded_and_processes_schedulers(rng):
    x = rng.integers(0, 65535, (2, 45, 40), dtype=np.uint16)
    dx = da.from_array(x, chunks=(1, 13, 15))
    kwargs = {"scale_factor": (0.6, 1.3), "mode": "bilinear", "antialias": True, "axes": (1, 2)}
    expected = upsamplex.interpolate(x, **kwargs)
    y = uxd.interpolate(dx, **kwargs)
    np.testing.assert_array_equal(y.compute(scheduler="threads", num_workers=2), expected)
    np.testing.assert_array_equal(y.compute(scheduler="processes", num_workers=2), expected)


# ---------------------------------------------------------------------------
# Pyramids and OME-Zarr
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("source", ["previous", "full"])
def test_pyramid_equals_in_memory_levels(source, rng):
    x = rng.integers(0, 65535, (2, 45, 67, 33), dtype=np.uint16)
    dx = da.from_array(x, chunks=(1, 16, 20, 9))
    levels = uxd.pyramid(dx, 4, mode="area", axes=(1, 2, 3), source=source)
    assert [lvl.shape for lvl in levels] == [(2, 45, 67, 33), (2, 22, 33, 16), (2, 11, 16, 8),
                                              (2, 5, 8, 4)]
    prev = x
    for k, lvl in enumerate(levels[1:], start=1):
        src = prev if source == "previous" else x
        expected = upsamplex.interpolate(src, size=lvl.shape[1:], mode="area", axes=(1, 2, 3))
        np.testing.assert_array_equal(lvl.compute(scheduler="sync"), expected, strict=True)
        prev = expected
        assert levels.scales[k][0] == 1.0 and levels.translations[k][0] == 0.0


def test_pyramid_transforms_put_pixel_centres_in_place():
    dx = da.zeros((64, 64), dtype=np.float32, chunks=32)
    p = uxd.pyramid(dx, 4, axes=(0, 1))
    # 2x box averages: level-k pixel i covers level-0 pixels [i 2^k, (i+1) 2^k).
    assert p.scales == [(1.0, 1.0), (2.0, 2.0), (4.0, 4.0), (8.0, 8.0)]
    assert p.translations == [(0.0, 0.0), (0.5, 0.5), (1.5, 1.5), (3.5, 3.5)]
    full = uxd.pyramid(dx, 4, axes=(0, 1), source="full")
    assert full.scales == p.scales and full.translations == p.translations
    near = uxd.pyramid(dx, 3, mode="nearest", axes=(0, 1))
    assert near.translations[2] == (0.0, 0.0)  # nearest copies pixel 4i
    exact = uxd.pyramid(dx, 3, mode="nearest-exact", axes=(0, 1))
    assert exact.translations[2] == (3.0, 3.0)  # pixel 2(2i + 1) + 1 = 4i + 3


def test_pyramid_translation_matches_where_area_samples_are():
    """A ramp's value is its coordinate: each level's pixel value is its centre."""
    n = 64
    ramp = np.broadcast_to(np.arange(n, dtype=np.float64)[:, None], (n, 8)).copy()
    p = uxd.pyramid(da.from_array(ramp, chunks=16), 4, axes=(0,))
    for k, lvl in enumerate(p):
        vals = lvl.compute(scheduler="sync")[:, 0]
        centres = np.arange(lvl.shape[0]) * p.scales[k][0] + p.translations[k][0]
        np.testing.assert_allclose(vals, centres, rtol=0, atol=1e-12)


def test_to_zarr_writes_ome_zarr_0_5(tmp_path, rng):
    import zarr

    x = rng.integers(0, 65535, (3, 40, 48), dtype=np.uint16)
    p = uxd.pyramid(da.from_array(x, chunks=(1, 16, 16)), 3, axes=(1, 2))
    path = tmp_path / "img.zarr"
    uxd.to_zarr(p, path, pixel_size=(1.0, 0.25, 0.5), units=(None, "micrometer", "micrometer"),
                name="test")
    meta = json.loads((path / "zarr.json").read_text())
    assert meta["zarr_format"] == 3 and meta["node_type"] == "group"
    ome = meta["attributes"]["ome"]
    assert ome["version"] == "0.5"
    ms = ome["multiscales"][0]
    assert ms["name"] == "test"
    assert ms["axes"] == [{"name": "c", "type": "channel"},
                          {"name": "y", "type": "space", "unit": "micrometer"},
                          {"name": "x", "type": "space", "unit": "micrometer"}]
    assert [d["path"] for d in ms["datasets"]] == ["0", "1", "2"]
    t1 = ms["datasets"][1]["coordinateTransformations"]
    assert t1 == [{"type": "scale", "scale": [1.0, 0.5, 1.0]},
                  {"type": "translation", "translation": [0.0, 0.125, 0.25]}]
    t2 = ms["datasets"][2]["coordinateTransformations"]
    assert t2[0]["scale"] == [1.0, 1.0, 2.0] and t2[1]["translation"] == [0.0, 0.375, 0.75]
    group = zarr.open_group(path, mode="r")
    for k, lvl in enumerate(p):
        arr = group[str(k)]
        assert arr.metadata.dimension_names == ("c", "y", "x")
        np.testing.assert_array_equal(arr[:], lvl.compute(scheduler="sync"))


def test_to_zarr_refuses_an_existing_target(tmp_path):
    p = uxd.pyramid(da.zeros((8, 8), dtype=np.float32, chunks=4), 2, axes=(0, 1))
    uxd.to_zarr(p, tmp_path / "a.zarr")
    with pytest.raises(ValueError, match="already exists; pass overwrite=True"):
        uxd.to_zarr(p, tmp_path / "a.zarr")
    (tmp_path / "plain").mkdir()
    with pytest.raises(ValueError, match="already exists"):
        uxd.to_zarr(p, tmp_path / "plain")
    uxd.to_zarr([p[0] + 1], tmp_path / "a.zarr", overwrite=True)
    import zarr

    group = zarr.open_group(tmp_path / "a.zarr", mode="r")
    assert list(group.array_keys()) == ["0"] and group["0"][0, 0] == 1


def test_pyramid_cli(tmp_path, rng, capsys):
    import zarr

    from upsamplex import _pyramid_cli

    x = rng.integers(0, 65535, (20, 30, 40), dtype=np.uint16)
    src = zarr.create_array(tmp_path / "in.zarr", shape=x.shape, dtype=x.dtype, chunks=(8, 8, 8))
    src[:] = x
    out = tmp_path / "out.zarr"
    rc = _pyramid_cli.main([str(tmp_path / "in.zarr"), str(out), "--levels", "3",
                            "--scheduler", "sync"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "level 2: shape (5, 7, 10)" in text and "peak process memory" in text
    group = zarr.open_group(out, mode="r")
    level1 = upsamplex.interpolate(x, size=(10, 15, 20), mode="area", axes=(0, 1, 2))
    np.testing.assert_array_equal(group["1"][:], level1)
    assert _pyramid_cli.main([str(tmp_path / "in.zarr"), str(out), "--levels", "2",
                              "--scheduler", "sync"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert _pyramid_cli.main([str(tmp_path / "in.zarr"), str(out), "--levels", "9",
                              "--overwrite", "--scheduler", "sync"]) == 2
    assert "below 1 sample" in capsys.readouterr().err


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------

def test_numpy_input_points_to_in_memory_interpolate():
    x = np.zeros((1, 1, 4, 4), np.float32)
    with pytest.raises(TypeError, match="x must be a dask array.*use upsamplex.interpolate"):
        uxd.interpolate(x, scale_factor=2)
    with pytest.raises(TypeError, match="grad_output must be a dask array.*"
                                        "upsamplex.interpolate_backward"):
        uxd.interpolate_backward(x, (1, 1, 2, 2), scale_factor=2)
    with pytest.raises(TypeError, match="x must be a dask array"):
        uxd.pyramid([[1.0]], 2)


def test_unknown_chunk_sizes_say_compute_chunk_sizes():
    x = da.arange(20, chunks=5).astype(np.float32)
    x = x[x > 3][None, None]
    with pytest.raises(ValueError, match=r"unknown chunk sizes \(nan\).*compute_chunk_sizes\(\)"):
        uxd.interpolate(x, scale_factor=2)


def test_chunks_of_the_wrong_rank():
    x = da.zeros((1, 1, 10, 10), dtype=np.float32, chunks=5)
    with pytest.raises(ValueError, match="chunks must have one entry per axis of the output "
                                         r"\(4 axes"):
        uxd.interpolate(x, scale_factor=2, chunks=(5, 5))
    with pytest.raises(ValueError, match="chunks"):
        uxd.interpolate(x, scale_factor=2, chunks=(1, 1, (7, 7), 20))


def test_levels_that_shrink_an_axis_below_one():
    x = da.zeros((3, 100, 9), dtype=np.float32, chunks=5)
    with pytest.raises(ValueError, match=r"levels=5 .* shrink axis 2 \(length 9\) below 1 "
                                         "sample at level 4.*at most 4 levels fit"):
        uxd.pyramid(x, 5, axes=(1, 2))
    with pytest.raises(ValueError, match="levels must be at least 1"):
        uxd.pyramid(x, 0, axes=(1, 2))
    with pytest.raises(TypeError, match="levels must be an int"):
        uxd.pyramid(x, 2.0, axes=(1, 2))
    with pytest.raises(ValueError, match="source must be 'previous' or 'full'"):
        uxd.pyramid(x, 2, axes=(1, 2), source="prev")
    with pytest.raises(ValueError, match="factor must be above 1"):
        uxd.pyramid(x, 2, axes=(1, 2), factor=1)


def test_bad_arguments_are_the_plans_errors():
    x = da.zeros((1, 1, 10, 10), dtype=np.float32, chunks=5)
    with pytest.raises(ValueError, match="mode"):
        uxd.interpolate(x, scale_factor=2, mode="bogus")
    with pytest.raises(TypeError, match="num_threads"):
        uxd.interpolate(x, scale_factor=2, num_threads=1.5)
    with pytest.raises(ValueError, match="grad_output has shape"):
        uxd.interpolate_backward(x, (1, 1, 4, 4), scale_factor=2)


# ---------------------------------------------------------------------------
# On a LocalCluster
# ---------------------------------------------------------------------------

# dashboard_address: with None, distributed still serves its HTTP routes on port 8787 and warns
# when another process holds it; a free loopback port (":0") never collides.
@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address="127.0.0.1:0",
                                       memory_limit="512MiB")
    try:
        with distributed.Client(cluster) as c:
            yield c
    finally:
        cluster.close()


def _peak_rss():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def test_local_cluster_bit_identity_and_pyramid(client, tmp_path, rng):
    import zarr

    x = rng.standard_normal((2, 3, 70, 90)).astype(np.float32)
    dx = da.from_array(x, chunks=(1, 2, 32, 32))
    kwargs = {"scale_factor": (1.7, 0.45), "mode": "bicubic", "antialias": True}
    y = uxd.interpolate(dx, **kwargs)
    np.testing.assert_array_equal(client.compute(y).result(), upsamplex.interpolate(x, **kwargs))
    p = uxd.pyramid(dx, 3, mode="area")
    uxd.to_zarr(p, tmp_path / "p.zarr")
    group = zarr.open_group(tmp_path / "p.zarr", mode="r")
    l1 = upsamplex.interpolate(x, size=(35, 45), mode="area")
    np.testing.assert_array_equal(group["1"][:], l1)
    np.testing.assert_array_equal(group["2"][:], upsamplex.interpolate(l1, size=(17, 22),
                                                                       mode="area"))


def test_docstring_examples():
    import doctest

    result = doctest.testmod(uxd, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 10 and result.failed == 0, result


def test_pyramid_cli_on_a_local_cluster(tmp_path, rng, capsys):
    # The distributed path: client.compute of a multi-level store, progress bar, worker peaks.
    import zarr

    from upsamplex import _pyramid_cli

    x = rng.integers(0, 255, (1, 24, 40), dtype=np.uint8)
    src = zarr.create_array(tmp_path / "in.zarr", shape=x.shape, dtype=x.dtype, chunks=(1, 8, 8))
    src[:] = x
    rc = _pyramid_cli.main([str(tmp_path / "in.zarr"), str(tmp_path / "out.zarr"), "--levels",
                            "3", "--axes", "1,2", "--mode", "bilinear", "--workers", "1",
                            "--memory-limit", "512MiB"])
    assert rc == 0
    assert "peak worker memory" in capsys.readouterr().out
    group = zarr.open_group(tmp_path / "out.zarr", mode="r")
    np.testing.assert_array_equal(
        group["2"][:], upsamplex.interpolate(
            upsamplex.interpolate(x, size=(12, 20), mode="bilinear", axes=(1, 2)),
            size=(6, 10), mode="bilinear", axes=(1, 2)))
