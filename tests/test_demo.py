"""The demo and the command line: a PNG is written and the timing table printed,
with and without Pillow."""

import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest

from upsamplex import __main__ as cli
from upsamplex import _demo


def read_png(path):
    """Decode the PNGs our zlib writer makes (8-bit RGB, filter 0) into (H, W, 3)."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body)
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color = header[:4]
    assert (depth, color) == (8, 2)
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(height, 1 + 3 * width)
    assert not raw[:, 0].any()
    return raw[:, 1:].reshape(height, width, 3)


def hide_pillow(monkeypatch):
    for name in ("PIL", "PIL.Image", "PIL.ImageDraw"):
        monkeypatch.setitem(sys.modules, name, None)  # makes `import PIL` raise ImportError


def run_demo(tmp_path, capsys):
    out = tmp_path / "demo.png"
    assert cli.main(["demo", "--quick", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert out.exists()
    assert "upsamplex ms" in printed
    for label, _, _ in _demo.MODES:
        assert f"\n{label} " in printed
    return out, printed


def test_demo_with_pillow(tmp_path, capsys):
    pytest.importorskip("PIL")
    out, printed = run_demo(tmp_path, capsys)
    assert "unlabelled" not in printed
    from PIL import Image

    with Image.open(out) as image:
        grid, _ = _demo.build_grid()
        assert image.size == (grid.shape[1], grid.shape[0])


def test_demo_without_pillow(tmp_path, capsys, monkeypatch):
    hide_pillow(monkeypatch)
    out, printed = run_demo(tmp_path, capsys)
    assert "unlabelled" in printed
    grid, _ = _demo.build_grid()
    np.testing.assert_array_equal(read_png(out), grid)


def test_png_writer_round_trip(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    _demo.write_png(tmp_path / "x.png", rgb)
    np.testing.assert_array_equal(read_png(tmp_path / "x.png"), rgb)
    pil = pytest.importorskip("PIL.Image")
    with pil.open(tmp_path / "x.png") as image:
        np.testing.assert_array_equal(np.asarray(image), rgb)


def test_synthetic_image_same_scene_at_every_size():
    small, large = _demo.synthetic_image(64), _demo.synthetic_image(256)
    assert small.shape == (3, 64, 64) and small.dtype == np.float32
    assert 0 <= small.min() and small.max() <= 1
    # Pixel centres of the small card fall between large pixels; the area mean agrees
    # on most pixels (the zone plate's fine rings aside).
    pooled = large.reshape(3, 64, 4, 64, 4).mean(axis=(2, 4))
    assert np.mean(np.abs(pooled - small) < 0.5) > 0.8


def test_python_dash_m_default_out(tmp_path):
    # The real entry point, and --out's default: upsamplex_demo.png in the cwd.
    done = subprocess.run([sys.executable, "-m", "upsamplex", "demo", "--quick"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "upsamplex_demo.png").exists()
    assert "upsamplex ms" in done.stdout


def test_cli_usage_and_unknown_command(capsys):
    assert cli.main([]) == 0
    assert "demo" in capsys.readouterr().out
    assert cli.main(["nope"]) == 2
    assert "unknown command 'nope'" in capsys.readouterr().err


def test_train_demo_missing_module_message(capsys, monkeypatch):
    import upsamplex

    # Also hide an already-imported module, which `from . import` would find.
    monkeypatch.delattr(upsamplex, "_train_demo", raising=False)
    monkeypatch.setitem(sys.modules, "upsamplex._train_demo", None)
    assert cli.main(["train-demo"]) == 1
    assert "train-demo is not available" in capsys.readouterr().err


def test_train_demo_dispatches(monkeypatch):
    seen = []

    class Fake:
        @staticmethod
        def main(argv):
            seen.append(argv)
            return 0

    monkeypatch.setitem(sys.modules, "upsamplex._train_demo", Fake)
    import upsamplex

    monkeypatch.setattr(upsamplex, "_train_demo", Fake, raising=False)
    assert cli.main(["train-demo", "--epochs", "1"]) == 0
    assert seen == [["--epochs", "1"]]
