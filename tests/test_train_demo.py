"""The super-resolution demo: a shortened run trains, reports PSNR and writes a PNG."""

import importlib
import struct
import sys
import zlib

import numpy as np
import pytest

import upsamplex

NEEDED = ("interpolate", "conv2d", "conv_transpose2d", "conv_backward", "conv_transpose_backward")


@pytest.fixture
def demo():
    # imported when a test runs, not at collection: tests/test_demo.py checks the CLI's
    # message for a missing upsamplex._train_demo and needs it not imported yet
    return importlib.import_module("upsamplex._train_demo")


@pytest.fixture
def ops():
    missing = [n for n in NEEDED if not hasattr(upsamplex, n)]
    if missing:
        pytest.skip(f"upsamplex lacks {', '.join(missing)}")


def read_png_gray(path):
    """Minimal decoder for the 8-bit grayscale, filter-0 PNGs that write_png produces."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        tag, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(tag + body) & 0xFFFFFFFF
        chunks[tag] = chunks.get(tag, b"") + body
        pos += 12 + length
    width, height = struct.unpack(">II", chunks[b"IHDR"][:8])
    raw = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(height, width + 1)
    assert np.all(raw[:, 0] == 0)
    return raw[:, 1:]


def test_synthetic_images_are_in_range(demo):
    imgs = demo.synthetic_images(np.random.default_rng(0), 6)
    assert imgs.shape == (6, 1, 32, 32)
    assert imgs.min() >= 0 and imgs.max() <= 1 and np.all(imgs.std(axis=(2, 3)) > 0.05)


def test_png_writer_without_pillow(tmp_path, monkeypatch, demo):
    monkeypatch.setitem(sys.modules, "PIL", None)  # force the pure zlib path
    gray = (np.arange(35 * 19) % 256).astype(np.uint8).reshape(19, 35)
    demo.write_png(tmp_path / "g.png", gray)
    np.testing.assert_array_equal(read_png_gray(tmp_path / "g.png"), gray)


def test_model_input_gradient_matches_finite_differences(ops, demo):
    model = demo.SuperResolution(channels=2, dtype=np.float64, rng=0)
    x = np.random.default_rng(1).uniform(size=(1, 1, 4, 4))
    direction = np.random.default_rng(2).standard_normal(x.shape)
    weights = np.random.default_rng(3).standard_normal((1, 1, 8, 8))
    model(x)
    analytic = np.sum(model.backward(weights) * direction)
    eps = 1e-6
    numeric = (np.sum(model(x + eps * direction) * weights)
               - np.sum(model(x - eps * direction) * weights)) / (2 * eps)
    assert abs(analytic - numeric) < 1e-6 * max(1.0, abs(numeric))


def test_short_training_run_lowers_loss(ops, monkeypatch, capsys, demo):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # the plain progress line must work
    with demo._thread_limit(1):
        result = demo.train(steps=40, batch_size=8, seed=1, n_test=8, progress=True)
    losses = result["losses"]
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])
    assert "40/40" in capsys.readouterr().err
    assert np.isfinite(result["psnr_learned"]) and np.isfinite(result["psnr_bicubic"])


def test_main_writes_png(ops, tmp_path, capsys, demo):
    out, weights = tmp_path / "demo.png", tmp_path / "w.npz"
    assert demo.main(["--steps", "3", "--batch-size", "2", "--quiet", "--out", str(out),
                      "--save", str(weights)]) == 0
    text = capsys.readouterr().out
    assert "held-out PSNR: bicubic" in text and "learned" in text
    with open(out, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    demo.SuperResolution().load(weights)


def test_main_rejects_bad_arguments(capsys, demo):
    with pytest.raises(SystemExit):
        demo.main(["--steps", "0"])
    assert "must be positive" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        demo.main(["--threads", "-1"])
