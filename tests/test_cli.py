"""The ``upsamplex`` command, run for real in a subprocess on files these tests write.

Pixels are compared with ``upsamplex.interpolate`` on the same arrays; every bad input
must give one line on stderr and a non-zero exit status, never a traceback.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import upsamplex as ux

PIL = pytest.importorskip("PIL")
tifffile = pytest.importorskip("tifffile")
pytest.importorskip("tqdm")
from PIL import Image  # noqa: E402

from upsamplex import _cli  # noqa: E402


def run(*args, cwd=None, check=None):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-m", "upsamplex", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300, env=env)
    assert "Traceback" not in done.stderr, done.stderr
    if check is not None:
        assert done.returncode == check, (done.returncode, done.stdout, done.stderr)
    return done


def load(path):
    with Image.open(path) as im:
        return np.asarray(im)


def size_of(path):
    with Image.open(path) as im:
        return im.size


def nchw(img):
    """(H, W) or (H, W, C) -> (1, C, H, W) view."""
    return img[None, None] if img.ndim == 2 else img.transpose(2, 0, 1)[None]


def hwc(y, like):
    return y[0, 0] if like.ndim == 2 else y[0].transpose(1, 2, 0)


def expected(img, hw, mode, antialias):
    return hwc(ux.interpolate(nchw(img), size=hw, mode=mode, antialias=antialias), img)


def expected_via_float(img, hw, mode, antialias):
    y = expected(img.astype(np.float32), hw, mode, antialias)
    info = np.iinfo(img.dtype)
    return np.clip(np.rint(y), info.min, info.max).astype(img.dtype)


def expected_any(img, hw, mode, antialias):
    """upsamplex.interpolate on the image's own dtype where it has a kernel for it, else
    the command's documented fallback (float32, rounded back)."""
    if _cli.native_support(img.dtype, mode):
        return expected(img, hw, mode, antialias)
    return expected_via_float(img, hw, mode, antialias)


@pytest.fixture
def rgb(rng):
    return rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)


# --------------------------------------------------------------------------- pixels

@pytest.mark.parametrize(("mode", "size", "hw", "antialias"), [
    ("bicubic", "24x16", (16, 24), True),       # shrinking: antialias on
    ("bilinear", "90x70", (70, 90), False),     # enlarging: plain bilinear
    ("nearest", "30x", (20, 30), False),        # width only: aspect kept
    ("lanczos", "x20", (20, 30), True),
])
def test_resize_png_matches_interpolate(tmp_path, rgb, mode, size, hw, antialias):
    Image.fromarray(rgb).save(tmp_path / "in.png")
    run("resize", "in.png", "-o", "out.png", "--size", size, "--mode", mode,
        cwd=tmp_path, check=0)
    got = load(tmp_path / "out.png")
    np.testing.assert_array_equal(got, expected(rgb, hw, mode, antialias))


def test_no_antialias_flag(tmp_path, rgb):
    Image.fromarray(rgb).save(tmp_path / "in.png")
    run("resize", "in.png", "-o", "out.png", "--scale", "0.5", "--mode", "bilinear",
        "--no-antialias", cwd=tmp_path, check=0)
    got = load(tmp_path / "out.png")
    np.testing.assert_array_equal(got, expected(rgb, (20, 30), "bilinear", False))
    assert not np.array_equal(got, expected(rgb, (20, 30), "bilinear", True))


def test_uint8_area(tmp_path, rng):
    grey = rng.integers(0, 256, (33, 47), dtype=np.uint8)
    Image.fromarray(grey).save(tmp_path / "in.bmp")
    done = run("resize", "in.bmp", "-o", "out.bmp", "--size", "20x11", "--mode", "area",
               cwd=tmp_path, check=0)
    fallback = "uint8 has no native 'area' kernel: resampled in float32"
    assert (fallback in done.stderr) == (not _cli.native_support(grey.dtype, "area"))
    got = load(tmp_path / "out.bmp")
    np.testing.assert_array_equal(got, expected_any(grey, (11, 20), "area", False))


def test_multipage_16bit_tiff_kept(tmp_path, rng):
    stack = rng.integers(0, 65536, (3, 40, 60), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "stack.tif", stack, photometric="minisblack")
    done = run("resize", "stack.tif", "-o", "half.tif", "--scale", "0.5", "--mode", "bilinear",
               cwd=tmp_path, check=0)
    # 16-bit stays 16-bit: upsamplex's uint16 kernels, or float32 rounded back (and said so).
    native = _cli.native_support(stack.dtype, "bilinear")
    assert ("rounded back to uint16" in done.stderr) == (not native)
    with tifffile.TiffFile(tmp_path / "half.tif") as tif:
        got = tif.series[0].asarray()
        assert len(tif.pages) == 3
    assert got.dtype == np.uint16 and got.shape == (3, 20, 30)
    for page in range(3):
        np.testing.assert_array_equal(
            got[page], expected_any(stack[page], (20, 30), "bilinear", True))


def test_rgb16_and_float32_and_bigtiff(tmp_path, rng):
    rgb16 = rng.integers(0, 65536, (20, 30, 3), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "rgb16.tif", rgb16, photometric="rgb")
    f32 = rng.random((20, 30), dtype=np.float32)
    tifffile.imwrite(tmp_path / "f32.tif", f32, bigtiff=True)
    run("resize", "rgb16.tif", "-o", "rgb16_out.tif", "--size", "45x31", cwd=tmp_path, check=0)
    run("resize", "f32.tif", "-o", "f32_out.tif", "--size", "45x31", "--mode", "area",
        cwd=tmp_path, check=0)
    got16 = tifffile.imread(tmp_path / "rgb16_out.tif")
    assert got16.dtype == np.uint16
    np.testing.assert_array_equal(got16, expected_any(rgb16, (31, 45), "bicubic", False))
    got32 = tifffile.imread(tmp_path / "f32_out.tif")
    np.testing.assert_array_equal(got32, expected(f32, (31, 45), "area", False))


def test_npy_float64_and_webp_lossless(tmp_path, rng, rgb):
    x = rng.random((25, 35, 2))
    np.save(tmp_path / "x.npy", x)
    run("resize", "x.npy", "-o", "y.npy", "--scale", "1.6", "--mode", "bicubic",
        cwd=tmp_path, check=0)
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"),
                                  expected(x, (40, 56), "bicubic", False))
    Image.fromarray(rgb).save(tmp_path / "in.webp", lossless=True)
    run("resize", "in.webp", "-o", "out.png", "--scale", "0.5", "--mode", "nearest-exact",
        cwd=tmp_path, check=0)
    got = load(tmp_path / "out.png")
    np.testing.assert_array_equal(got, expected(rgb, (20, 30), "nearest-exact", False))


def test_jpeg_quality(tmp_path, rgb):
    Image.fromarray(rgb).save(tmp_path / "in.png")
    run("resize", "in.png", "-o", "q95.jpg", "--scale", "2", "--quality", "95",
        cwd=tmp_path, check=0)
    run("resize", "in.png", "-o", "q10.jpg", "--scale", "2", "--quality", "10",
        cwd=tmp_path, check=0)
    assert size_of(tmp_path / "q95.jpg") == (120, 80)
    assert (tmp_path / "q95.jpg").stat().st_size > 2 * (tmp_path / "q10.jpg").stat().st_size


def test_exif_orientation_icc_dpi_carried(tmp_path, rgb):
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x0112] = 6          # "rotate 90° clockwise to display"
    exif[0x010F] = "upsamplex-test-camera"
    Image.fromarray(rgb).save(tmp_path / "in.png", exif=exif, icc_profile=icc, dpi=(300, 300))
    upright = np.rot90(rgb, k=-1)                 # what a viewer shows: 60 high, 40 wide
    for out in ("out.png", "out.jpg"):
        run("resize", "in.png", "-o", out, "--scale", "0.5", "--mode", "nearest",
            "--quality", "95", cwd=tmp_path, check=0)
        with Image.open(tmp_path / out) as im:
            assert im.size == (20, 30)
            assert im.info["icc_profile"] == icc
            assert im.info["dpi"] == pytest.approx((300, 300), abs=0.01)
            got_exif = im.getexif()
            assert got_exif.get(0x0112, 1) == 1       # already upright: no rotation left
            assert got_exif[0x010F] == "upsamplex-test-camera"
            if out.endswith(".png"):
                np.testing.assert_array_equal(np.asarray(im),
                                              expected(upright, (30, 20), "nearest", False))


def test_info(tmp_path, rng):
    tifffile.imwrite(tmp_path / "s.tif", rng.integers(0, 9, (4, 10, 12), dtype=np.uint16),
                     photometric="minisblack")
    Image.fromarray(rng.integers(0, 256, (10, 12, 4), dtype=np.uint8)).save(tmp_path / "a.png")
    done = run("info", "s.tif", "a.png", cwd=tmp_path, check=0)
    lines = done.stdout.splitlines()
    assert lines[0] == "s.tif: TIFF, 12x10 (WxH), 1 channel, uint16, 4 pages"
    assert "shape (4, 10, 12)" in lines[1]
    if _cli.native_support(np.dtype(np.uint16), "bicubic"):
        assert "native uint16 kernels: nearest, nearest-exact, bilinear, bicubic, area, " \
            "lanczos" in done.stdout
    else:
        assert "through a float type, rounded back to uint16" in done.stdout
    assert "a.png: PNG, 12x10 (WxH), 4 channels, uint8" in done.stdout
    assert "native uint8 kernels: nearest, nearest-exact, bilinear, bicubic, " in done.stdout
    bad = run("info", "nope.png", cwd=tmp_path, check=1)
    assert bad.stderr.strip() == "upsamplex: error: nope.png: no such file"


# --------------------------------------------------------------------------- folders

def make_tree(root, rng):
    (root / "sub" / "deeper").mkdir(parents=True)
    a = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    Image.fromarray(a).save(root / "a.png")
    tifffile.imwrite(root / "sub" / "b.tif", rng.integers(0, 65536, (2, 16, 18), np.uint16),
                     photometric="minisblack")
    np.save(root / "sub" / "deeper" / "c.npy", rng.random((10, 14), dtype=np.float32))
    (root / "sub" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (root / "notes.txt").write_text("not an image")
    return a


def test_folder_jobs2_progress_summary(tmp_path, rng):
    a = make_tree(tmp_path / "in", rng)
    done = run("resize", "in", "-o", "out", "--scale", "0.5", "--mode", "area", "--jobs", "2",
               "--progress", cwd=tmp_path, check=1)
    assert (tmp_path / "out" / "sub" / "b.tif").exists()
    assert (tmp_path / "out" / "sub" / "deeper" / "c.npy").exists()
    assert not (tmp_path / "out" / "sub" / "broken.png").exists()
    got = load(tmp_path / "out" / "a.png")
    np.testing.assert_array_equal(got, expected_any(a, (10, 15), "area", False))
    assert np.load(tmp_path / "out" / "sub" / "deeper" / "c.npy").shape == (5, 7)
    assert "resize: 100%" in done.stderr                      # the tqdm bar
    assert "resized 3 of 4 files in" in done.stderr and "(2 jobs), 1 failed" in done.stderr
    assert "1 non-image files ignored" in done.stderr
    failed = [ln for ln in done.stderr.splitlines() if ln.startswith("  failed:")]
    assert len(failed) == 1 and "broken.png" in failed[0] and "not a valid PNG" in failed[0]
    # No stray temporary files from the atomic writes.
    assert not [p for p in (tmp_path / "out").rglob(".*partial*")]


def test_folder_dry_run_and_force(tmp_path, rng):
    make_tree(tmp_path / "in", rng)
    (tmp_path / "in" / "sub" / "broken.png").unlink()
    dry = run("resize", "in", "-o", "out", "--size", "8x8", "--dry-run", cwd=tmp_path, check=0)
    assert not (tmp_path / "out").exists()
    src, dst = os.path.join("in", "a.png"), os.path.join("out", "a.png")
    assert f"would write {src} -> {dst}: 30x20 -> 8x8 (WxH), bicubic, antialias, uint8" \
        in dry.stdout
    assert "would resize 3 of 3 files" in dry.stdout
    run("resize", "in", "-o", "out", "--size", "8x8", cwd=tmp_path, check=0)
    before = (tmp_path / "out" / "a.png").read_bytes()
    again = run("resize", "in", "-o", "out", "--size", "9x9", cwd=tmp_path, check=1)
    assert again.stderr.count("already exists (use --force to overwrite)") == 3
    assert (tmp_path / "out" / "a.png").read_bytes() == before
    dry2 = run("resize", "in", "-o", "out", "--size", "9x9", "-n", cwd=tmp_path, check=0)
    assert "(exists: kept unless --force)" in dry2.stdout
    run("resize", "in", "-o", "out", "--size", "9x9", "--force", cwd=tmp_path, check=0)
    assert size_of(tmp_path / "out" / "a.png") == (9, 9)


def test_single_file_no_overwrite_without_force(tmp_path, rgb):
    Image.fromarray(rgb).save(tmp_path / "in.png")
    (tmp_path / "out.png").write_bytes(b"keep me")
    done = run("resize", "in.png", "-o", "out.png", "--scale", "2", cwd=tmp_path, check=1)
    assert done.stderr.strip() == \
        "upsamplex: error: out.png: already exists (use --force to overwrite)"
    assert (tmp_path / "out.png").read_bytes() == b"keep me"
    run("resize", "in.png", "-o", "out.png", "--scale", "2", "-f", cwd=tmp_path, check=0)
    assert size_of(tmp_path / "out.png") == (120, 80)
    (tmp_path / "dir").mkdir()       # -o an existing folder: the file goes inside it
    run("resize", "in.png", "-o", "dir", "--scale", "2", cwd=tmp_path, check=0)
    assert (tmp_path / "dir" / "in.png").exists()


# --------------------------------------------------------------------------- bad input

def _bad_files(tmp, rgb):
    Image.fromarray(rgb).save(tmp / "ok.png")
    data = (tmp / "ok.png").read_bytes()
    (tmp / "truncated.png").write_bytes(data[: len(data) // 2])
    (tmp / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg" * 4)
    (tmp / "random.png").write_bytes(bytes(range(256)) * 4)
    (tmp / "photo.xyz").write_bytes(b"whatever")
    np.save(tmp / "complex.npy", np.zeros((4, 4), np.complex64))
    np.save(tmp / "float.npy", np.zeros((4, 4), np.float32))
    (tmp / "afile").write_text("I am a file")
    Image.fromarray(np.zeros((4, 4, 4), np.uint8)).save(tmp / "rgba.png")
    tifffile.imwrite(tmp / "stack.tif", np.zeros((2, 4, 4), np.uint8), photometric="minisblack")
    (tmp / "folder").mkdir()
    Image.fromarray(rgb).save(tmp / "folder" / "x.png")


BAD = [
    (["missing.png", "-o", "o.png", "--scale", "2"], 1,
     "upsamplex: error: missing.png: no such file or folder"),
    (["truncated.png", "-o", "o.png", "--scale", "2"], 1,
     "upsamplex: error: truncated.png: corrupt or truncated PNG"),
    (["corrupt.jpg", "-o", "o.png", "--scale", "2"], 1,
     "upsamplex: error: corrupt.jpg: corrupt or truncated JPEG"),
    (["random.png", "-o", "o.png", "--scale", "2"], 1,
     "upsamplex: error: random.png: not a valid PNG image (corrupt, or another format)"),
    (["photo.xyz", "-o", "o.png", "--scale", "2"], 1,
     "upsamplex: error: photo.xyz: unknown image format ('.xyz')"),
    (["ok.png", "-o", "o.gif", "--scale", "2"], 1,
     "upsamplex: error: o.gif: unknown image format ('.gif')"),
    (["ok.png", "-o", "o.png", "--size", "1024*768"], 2,
     "upsamplex: error: --size must be WIDTHxHEIGHT"),
    (["ok.png", "-o", "o.png", "--size", "768"], 2, "--size must be WIDTHxHEIGHT"),
    (["ok.png", "-o", "o.png", "--size", "0x10"], 2, "--size sides must be at least 1"),
    (["ok.png", "-o", "o.png", "--scale", "0"], 2, "--scale must be a number > 0, got '0'"),
    (["ok.png", "-o", "o.png", "--scale", "-0.5"], 2, "--scale must be a number > 0"),
    (["ok.png", "-o", "o.png", "--scale", "nan"], 2, "--scale must be a number > 0"),
    (["ok.png", "-o", "o.png", "--scale", "half"], 2, "--scale must be a number > 0"),
    (["folder", "-o", "afile", "--scale", "2"], 1,
     "upsamplex: error: afile: output folder is a file"),
    (["ok.png", "-o", "afile/o.png", "--scale", "2"], 1, "afile: output folder is a file"),
    (["complex.npy", "-o", "o.npy", "--scale", "2"], 1,
     "mode 'bicubic' does not support complex64 images; supported dtypes:"),
    (["float.npy", "-o", "o.png", "--scale", "2"], 1,
     "o.png: PNG cannot store float32 data; write .tif or .npy"),
    (["rgba.png", "-o", "o.jpg", "--scale", "2"], 1,
     "o.jpg: JPEG cannot store 4-channel images (no alpha channel); write .png, .tif or .npy"),
    (["stack.tif", "-o", "o.png", "--scale", "2"], 1,
     "o.png: PNG holds one image, this one has 2 pages; write .tif or .npy"),
    (["ok.png", "-o", "o.png", "--scale", "2", "--mode", "nearest", "--antialias"], 2,
     "--antialias applies to bilinear, bicubic, lanczos, not mode 'nearest'"),
    (["ok.png", "-o", "o.png", "--scale", "2", "--mode", "trilinear"], 2,
     "upsamplex resize: error: argument --mode: invalid choice: 'trilinear'"),
    (["ok.png", "-o", "o.png"], 2, "one of the arguments --size --scale is required"),
    (["ok.png", "-o", "o.png", "--scale", "2", "--jobs", "0"], 2, "--jobs must be at least 1"),
    (["ok.png", "-o", "o.png", "--scale", "2", "--quality", "101"], 2, "--quality must be 1-100"),
]


@pytest.mark.parametrize(("args", "status", "message"), BAD,
                         ids=[" ".join(a[:1] + a[3:]) for a, _, _ in BAD])
def test_bad_input_one_line(tmp_path, rgb, args, status, message, monkeypatch, capsys):
    # In-process: the same main() the console script calls (a subprocess per case would
    # cost ~1 s each); test_bad_input_in_a_real_process covers the process boundary.
    _bad_files(tmp_path, rgb)
    monkeypatch.chdir(tmp_path)
    assert _cli.main(["resize", *args]) == status
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert message in lines[0]
    assert captured.out == ""
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(("o.", ".o."))]


@pytest.mark.parametrize("case", [0, 1, 6, 13, 15])
def test_bad_input_in_a_real_process(tmp_path, rgb, case):
    args, status, message = BAD[case]
    _bad_files(tmp_path, rgb)
    done = run("resize", *args, cwd=tmp_path, check=status)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root reads any file")
def test_unreadable_file(tmp_path, rgb):
    Image.fromarray(rgb).save(tmp_path / "secret.png")
    os.chmod(tmp_path / "secret.png", 0)
    done = run("resize", "secret.png", "-o", "o.png", "--scale", "2", cwd=tmp_path, check=1)
    assert done.stderr.strip() == "upsamplex: error: secret.png: cannot read (permission denied)"


def test_usage_and_unknown_command():
    done = run("--help", check=0)
    assert "resize" in done.stdout and "pyramid" in done.stdout
    helped = run("resize", "--help", check=0).stdout
    assert "WIDTH x HEIGHT" in helped
    # The dtype lines describe this build, whatever it supports natively.
    if not _cli.native_support(np.dtype(np.uint16), "bilinear"):
        assert "uint16: resampled in float32 and rounded back to uint16 (no native uint16" \
            in helped
    else:
        assert "uint16: native kernels" in helped
    bad = run("frobnicate", check=2)
    assert "unknown command 'frobnicate'" in bad.stderr


# --------------------------------------------------------------------------- extras

BLOCK_PIL = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "PIL" or name.startswith("PIL."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Block())
from upsamplex._cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_without_the_cli_extra_says_what_to_install(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((4, 4), np.float32))
    for args in (["resize", "x.npy", "-o", "y.npy", "--scale", "2"], ["info", "x.npy"]):
        done = subprocess.run([sys.executable, "-c", BLOCK_PIL, *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 1, done.stderr
        assert done.stderr.strip() == (
            f"upsamplex {args[0]}: error: needs the module 'PIL', which is not "
            'installed: pip install "upsamplex[cli]"')
    # The demo does not need the extra's modules: it still runs its own usage.
    done = subprocess.run([sys.executable, "-c", BLOCK_PIL, "--help"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and "resize" in done.stdout


def test_core_import_does_not_load_the_extra():
    code = textwrap.dedent("""
        import sys
        import upsamplex, upsamplex.__main__, upsamplex._cli
        print(sorted(m for m in ("PIL", "tifffile", "tqdm") if m in sys.modules))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.strip() == "[]", done.stderr


def test_pyramid_forwards(monkeypatch, capsys):
    seen = []

    class Fake:
        @staticmethod
        def main(argv):
            seen.append(argv)
            return 0

    import upsamplex

    monkeypatch.setitem(sys.modules, "upsamplex._pyramid_cli", Fake)
    monkeypatch.setattr(upsamplex, "_pyramid_cli", Fake, raising=False)
    assert _cli.main(["pyramid", "in.zarr", "out.zarr", "--levels", "3"]) == 0
    assert seen == [["in.zarr", "out.zarr", "--levels", "3"]]

    class NeedsZarr:
        @staticmethod
        def main(argv):
            raise ModuleNotFoundError("No module named 'zarr'", name="zarr")

    monkeypatch.setitem(sys.modules, "upsamplex._pyramid_cli", NeedsZarr)
    monkeypatch.setattr(upsamplex, "_pyramid_cli", NeedsZarr, raising=False)
    assert _cli.main(["pyramid", "a", "b"]) == 1
    assert capsys.readouterr().err.strip() == (
        "upsamplex pyramid: error: needs the module 'zarr', which is not "
        'installed: pip install "upsamplex[dask]"')


def test_pyramid_missing_module(monkeypatch, capsys):
    import upsamplex

    monkeypatch.delattr(upsamplex, "_pyramid_cli", raising=False)
    monkeypatch.setitem(sys.modules, "upsamplex._pyramid_cli", None)
    assert _cli.main(["pyramid", "a", "b"]) == 1
    assert "pyramid is not available in this build" in capsys.readouterr().err


# --------------------------------------------------------------------------- helpers

@pytest.mark.parametrize(("text", "expected"), [
    ("1024x768", (1024, 768)), ("1024X768", (1024, 768)), (" 64 x 32 ", (64, 32)),
    ("1024x", (1024, None)), ("x768", (None, 768)), ("3×2", (3, 2)),
])
def test_parse_size(text, expected):
    assert _cli.parse_size(text) == expected


@pytest.mark.parametrize("text", ["x", "", "10", "10x10x10", "-5x3", "1.5x2", "axb"])
def test_parse_size_rejects(text):
    with pytest.raises(_cli.CliError, match="--size must be WIDTHxHEIGHT") as info:
        _cli.parse_size(text)
    assert info.value.status == 2


def test_output_hw():
    assert _cli.output_hw((40, 60), size=(30, None)) == (20, 30)     # (H, W) back
    assert _cli.output_hw((40, 60), size=(None, 10)) == (10, 15)
    assert _cli.output_hw((40, 60), size=(7, 9)) == (9, 7)
    assert _cli.output_hw((3, 5), scale=0.1) == (1, 1)                # never 0
    assert _cli.output_hw((40, 60), scale=1.5) == (60, 90)


def test_folder_keeps_going_when_an_output_folder_cannot_be_made(tmp_path, rng, monkeypatch,
                                                                  capsys):
    make_tree(tmp_path / "in", rng)
    (tmp_path / "in" / "sub" / "broken.png").unlink()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "sub").write_text("a file where a folder should be")
    monkeypatch.chdir(tmp_path)
    assert _cli.main(["resize", "in", "-o", "out", "--scale", "2", "--mode", "nearest"]) == 1
    err = capsys.readouterr().err
    assert "resized 1 of 3 files" in err and "2 failed" in err
    assert err.count("cannot create its folder") == 2
    assert (tmp_path / "out" / "a.png").exists()


def test_single_file_into_a_new_folder(tmp_path, rgb, monkeypatch):
    Image.fromarray(rgb).save(tmp_path / "in.png")
    monkeypatch.chdir(tmp_path)
    assert _cli.main(["resize", "in.png", "-o", "new/deeper/o.tif", "--scale", "0.5"]) == 0
    got = tifffile.imread(tmp_path / "new" / "deeper" / "o.tif")
    np.testing.assert_array_equal(got, expected(rgb, (20, 30), "bicubic", True))


def test_png_16bit_grey_and_palette(tmp_path, rng, monkeypatch):
    grey16 = rng.integers(0, 65536, (20, 30), dtype=np.uint16)
    Image.fromarray(grey16).save(tmp_path / "g16.png")
    pal = Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)).quantize(16)
    pal.save(tmp_path / "pal.png")
    monkeypatch.chdir(tmp_path)
    assert _cli.main(["resize", "g16.png", "-o", "g16_out.png", "--size", "15x10",
                      "--mode", "bilinear"]) == 0
    got = load(tmp_path / "g16_out.png")
    assert got.dtype == np.uint16          # 16-bit PNG stays 16-bit
    np.testing.assert_array_equal(got, expected_any(grey16, (10, 15), "bilinear", True))
    assert _cli.main(["resize", "pal.png", "-o", "pal_out.png", "--scale", "2",
                      "--mode", "nearest"]) == 0
    rgb = np.asarray(pal.convert("RGB"))
    np.testing.assert_array_equal(load(tmp_path / "pal_out.png"),
                                  expected(rgb, (40, 60), "nearest", False))


@pytest.mark.parametrize("dtype", [np.int16, np.float16, np.int32])
def test_npy_other_dtypes_keep_their_dtype(tmp_path, rng, monkeypatch, dtype, capsys):
    x = (rng.random((12, 18, 2)) * 2000 - 1000).astype(dtype)
    np.save(tmp_path / "x.npy", x)
    monkeypatch.chdir(tmp_path)
    assert _cli.main(["resize", "x.npy", "-o", "y.npy", "--size", "9x6",
                      "--mode", "bicubic"]) == 0
    got = np.load(tmp_path / "y.npy")
    assert got.dtype == dtype and got.shape == (6, 9, 2)
    work = np.float64 if dtype == np.int32 else np.float32
    native = _cli.native_support(np.dtype(dtype), "bicubic")
    if native:
        want = expected(x, (6, 9), "bicubic", True)
    else:
        want = expected(x.astype(work), (6, 9), "bicubic", True)
        if np.dtype(dtype).kind == "i":
            info = np.iinfo(dtype)
            want = np.clip(np.rint(want), info.min, info.max)
    np.testing.assert_array_equal(got, want.astype(dtype))
    note = f"resampled in {np.dtype(work).name} and" in capsys.readouterr().err
    assert note == (not native)


def test_jobs_share_the_cpus(monkeypatch):
    from upsamplex import _cpu

    monkeypatch.setattr(_cpu, "cpu_quota_threads", lambda root="/sys/fs/cgroup": 3)
    assert 1 <= _cli.available_cpus() <= 3
    monkeypatch.setattr(_cpu, "cpu_quota_threads", lambda root="/sys/fs/cgroup": None)
    assert _cli.available_cpus() >= 1
