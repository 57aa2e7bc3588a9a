"""``python -m upsamplex demo``: every mode on a synthetic test card, and timings.

Writes a labelled PNG grid (one column per mode; a row downsampling ×0.5 to show
aliasing and what antialias does about it, a row upsampling ×4 to show blur and
ringing) and prints upsamplex's time per mode on a batch, with torch's beside it
when torch is importable. Needs only NumPy; Pillow (the ``demo`` extra) adds the
labels, and without it a small zlib PNG writer saves the grid unlabelled.
"""

import argparse
import statistics
import struct
import sys
import time
import zlib

import numpy as np

from ._interpolate import interpolate

# (label, mode, antialias)
MODES = [
    ("nearest", "nearest", False),
    ("nearest-exact", "nearest-exact", False),
    ("bilinear", "bilinear", False),
    ("bicubic", "bicubic", False),
    ("area", "area", False),
    ("bilinear AA", "bilinear", True),
    ("bicubic AA", "bicubic", True),
    ("lanczos", "lanczos", True),
]
TILE = 256  # every tile is shown at this size
GAP = 4
BAND = 16  # height of the label band above each row


def synthetic_image(size):
    """A (3, size, size) float32 test card in [0, 1], sampled at pixel centres.

    Four quadrants: a zone plate whose frequency reaches Nyquist at the quadrant's
    edge (aliasing), a checkerboard and sharp rings (ringing at edges), and a
    Siemens star (aliasing at every scale). The scene is analytic, so every size
    shows the same picture.
    """
    c = (np.arange(size) + 0.5) / size
    y, x = np.meshgrid(c, c, indexing="ij")
    qy, qx = (2 * y % 1) * 2 - 1, (2 * x % 1) * 2 - 1  # [-1, 1) within each quadrant
    r2 = qx * qx + qy * qy
    top, left = y < 0.5, x < 0.5
    # A quadrant spans size/2 pixels, so phase pi*size/8*r^2 hits Nyquist at r = 1.
    zone = 0.5 + 0.5 * np.cos(np.pi * size / 8 * r2)
    checker = (np.floor(qx * 4) + np.floor(qy * 4)) % 2
    rings = np.floor(np.sqrt(r2) * 6) % 2
    star = np.floor((np.arctan2(qy, qx) / (2 * np.pi) + 0.5) * 32) % 2
    red = np.select([top & left, top & ~left, ~top & left], [zone, checker, rings], star)
    green = np.select([top & left, top & ~left, ~top & left], [zone, 1 - checker, rings], star)
    blue = np.select([top & left, top & ~left, ~top & left], [zone, checker, 0.2], 1 - star)
    return np.stack([red, green, blue]).astype(np.float32)


def _resize(image, mode, antialias, scale):
    y = interpolate(image[None], scale_factor=scale, mode=mode, antialias=antialias)
    return y[0]


def _to_tile(image):
    """(3, h, w) float -> (TILE, TILE, 3) uint8, nearest-repeated to the tile size."""
    rep = TILE // image.shape[1]
    rgb = np.clip(image.transpose(1, 2, 0) * 255 + 0.5, 0, 255).astype(np.uint8)
    return rgb.repeat(rep, axis=0).repeat(rep, axis=1)


def build_grid():
    """The grid as a (H, W, 3) uint8 array, and the labels to draw on it.

    Returns ``grid, labels`` where ``labels`` is a list of ``(x, y, text)``.
    """
    rows = [
        (f"down x0.5: {TILE}x{TILE} -> {TILE // 2} (tiles shown x2)",
         synthetic_image(TILE), 0.5),
        (f"up x4: {TILE // 4}x{TILE // 4} -> {TILE}", synthetic_image(TILE // 4), 4),
    ]
    n_cols = len(MODES) + 1
    height = len(rows) * (BAND + TILE + GAP)
    width = n_cols * (TILE + GAP) - GAP
    grid = np.zeros((height, width, 3), np.uint8)
    labels = []
    for r, (title, image, scale) in enumerate(rows):
        top = r * (BAND + TILE + GAP)
        labels.append((2, top + 2, title))
        tiles = [("input", image)]
        tiles += [(label, _resize(image, mode, aa, scale)) for label, mode, aa in MODES]
        for c, (label, tile) in enumerate(tiles):
            left = c * (TILE + GAP)
            grid[top + BAND:top + BAND + TILE, left:left + TILE] = _to_tile(tile)
            labels.append((left + 3, top + BAND + 3, label))
    return grid, labels


def write_png(path, rgb):
    """Write an (H, W, 3) uint8 array as an 8-bit RGB PNG with nothing but zlib."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    height, width = rgb.shape[:2]
    # Each scanline starts with its filter type; 0 = None.
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rgb.reshape(height, -1)], axis=1)

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit truecolour
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", ihdr))
        f.write(chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)))
        f.write(chunk(b"IEND", b""))


def save_grid(path, grid, labels):
    """Save with Pillow (labelled) if it is installed, else with :func:`write_png`.

    Returns True when the labels were drawn.
    """
    try:
        from PIL import Image, ImageDraw
    except ImportError:
        write_png(path, grid)
        return False
    image = Image.fromarray(grid)
    draw = ImageDraw.Draw(image)
    for x, y, text in labels:
        box = draw.textbbox((x, y), text)
        draw.rectangle((box[0] - 2, box[1] - 2, box[2] + 2, box[3] + 2), fill=(0, 0, 0))
        draw.text((x, y), text, fill=(255, 255, 255))
    image.save(path)
    return True


def _median_ms(fns, repeats):
    """Median ms of each callable, run interleaved (A B A B ...) after one warm-up."""
    times = [[] for _ in fns]
    for fn in fns:
        fn()  # warm-up: tables, thread pools
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    return [statistics.median(ts) * 1e3 for ts in times]


def time_modes(shape, repeats):
    """Median ms per mode for a ×2 resize of a ``shape`` batch: upsamplex and torch."""
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        torch = None
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    t = None if torch is None else torch.from_numpy(x)
    results = []
    for label, mode, aa in MODES:
        fns = [lambda mode=mode, aa=aa: interpolate(x, scale_factor=2, mode=mode, antialias=aa)]
        if t is not None:
            fns.append(lambda mode=mode, aa=aa: F.interpolate(t, scale_factor=2, mode=mode,
                                                              antialias=aa))
        ours, *theirs = _median_ms(fns, repeats)
        results.append((label, ours, theirs[0] if theirs else None))
    return results, torch is not None


def format_timings(results, shape, has_torch):
    head = f"{'mode':<15}{'upsamplex ms':>14}"
    if has_torch:
        head += f"{'torch ms':>11}{'torch/ours':>12}"
    lines = [f"x2 resize of a float32 batch of shape {shape}:", head, "-" * len(head)]
    for label, ours, theirs in results:
        line = f"{label:<15}{ours:>14.2f}"
        if has_torch:
            line += (f"{theirs:>11.2f}{theirs / ours:>11.2f}x" if theirs is not None
                     else f"{'-':>11}{'-':>12}")
        lines.append(line)
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m upsamplex demo",
        description="Resize a synthetic test card in every mode; write a PNG grid and "
                    "print timings.")
    parser.add_argument("--out", default="upsamplex_demo.png",
                        help="PNG to write (default: %(default)s in the current directory)")
    parser.add_argument("--quick", action="store_true",
                        help="time a smaller batch, fewer repeats")
    args = parser.parse_args(argv)

    grid, labels = build_grid()
    labelled = save_grid(args.out, grid, labels)
    note = "" if labelled else " (unlabelled: install Pillow, the 'demo' extra, for labels)"
    print(f"wrote {args.out}: {grid.shape[1]}x{grid.shape[0]}, columns: input, "
          f"{', '.join(label for label, _, _ in MODES)}{note}")
    shape = (2, 3, 128, 128) if args.quick else (8, 3, 512, 512)
    results, has_torch = time_modes(shape, repeats=2 if args.quick else 3)
    print(format_timings(results, shape, has_torch))
    sys.stdout.flush()
    return 0
