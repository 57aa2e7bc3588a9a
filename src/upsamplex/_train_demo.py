"""``python -m upsamplex train-demo``: learn x2 super-resolution on synthetic images.

A tiny network learns a correction on top of bicubic upsampling::

    prediction = bicubic(low_res) + Conv -> ReLU -> ConvTranspose(x2) -> ReLU -> Conv (low_res)

trained with Adam on 32x32 images of blobs, edges and stripes generated on the
fly and reduced to 16x16 by area averaging. At the end it reports the PSNR of
the learned model and of plain bicubic on held-out images, and writes a PNG
with low-res input, bicubic, learned output and ground truth side by side.
Only NumPy is needed; tqdm (progress bar) and Pillow (PNG) are used if present.
"""

import argparse
import struct
import sys
import time
import zlib

import numpy as np

from . import nn, optim

HR_SIZE = 32


def synthetic_images(rng, n, size=HR_SIZE):
    """``n`` images (n, 1, size, size) in [0, 1]: mixtures of blobs, edges and stripes."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    images = np.empty((n, 1, size, size))
    for i in range(n):
        img = np.zeros((size, size))
        for _ in range(rng.integers(1, 4)):
            theta = rng.uniform(0, np.pi)
            along = xx * np.cos(theta) + yy * np.sin(theta)
            kind = rng.integers(3)
            if kind == 0:  # smooth blobs
                for _ in range(rng.integers(2, 6)):
                    cy, cx = rng.uniform(0, 1, 2)
                    sigma = rng.uniform(0.04, 0.2)
                    r2 = (yy - cy) ** 2 + (xx - cx) ** 2
                    img += rng.uniform(-1, 1) * np.exp(-r2 / (2 * sigma**2))
            elif kind == 1:  # a soft or sharp straight edge
                amplitude, offset = rng.uniform(-1, 1), rng.uniform(0.2, 1.2)
                img += amplitude * np.tanh((along - offset) / rng.uniform(0.005, 0.05))
            else:  # stripes, 2 to 7 cycles per image
                amplitude, cycles = rng.uniform(0.3, 1), rng.uniform(2, 7)
                img += amplitude * np.sin(2 * np.pi * cycles * along + rng.uniform(0, 6.3))
        lo, hi = img.min(), img.max()
        images[i, 0] = (img - lo) / (hi - lo + 1e-12)
    return images


def downscale(hr):
    """The x2 low-resolution version: area averaging, as ``interpolate(mode='area')``."""
    from . import interpolate

    return interpolate(hr, size=(hr.shape[-2] // 2, hr.shape[-1] // 2), mode="area")


_BICUBIC = dict(scale_factor=2, mode="bicubic", align_corners=False)


def bicubic(lr):
    """The x2 bicubic baseline (torch's ``align_corners=False`` convention)."""
    from . import interpolate

    return interpolate(lr, **_BICUBIC)


class SuperResolution(nn.Module):
    """Bicubic upsampling plus a learned residual; ``backward`` trains the residual net."""

    def __init__(self, channels=16, dtype=np.float32, rng=None):
        super().__init__()
        rng = np.random.default_rng(rng)
        self.body = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1, dtype=dtype, rng=rng),
            nn.ReLU(),
            nn.ConvTranspose2d(channels, channels, 4, stride=2, padding=1, dtype=dtype, rng=rng),
            nn.ReLU(),
            nn.Conv2d(channels, 1, 3, padding=1, dtype=dtype, rng=rng),
        )

    def forward(self, lr):
        out = bicubic(lr) + self.body(lr)
        self._cache = {"in_shape": lr.shape, "out_shape": out.shape}
        return out

    def backward(self, grad_output):
        from . import interpolate_backward

        cache, grad = self._check_backward(grad_output)
        # d(bicubic(x) + body(x))/dx: both branches; only the body has parameters
        return self.body.backward(grad) + interpolate_backward(grad, cache["in_shape"], **_BICUBIC)


def psnr(prediction, target):
    """Peak signal-to-noise ratio in dB for images in [0, 1] (prediction clipped)."""
    mse = np.mean((np.clip(prediction, 0, 1) - target) ** 2)
    return float(10 * np.log10(1.0 / mse))


class _Progress:
    """tqdm if installed, else a carriage-return status line on stderr."""

    def __init__(self, total, enabled):
        self.total, self.enabled, self.bar = total, enabled, None
        self.start = self.last = time.perf_counter()
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:
                pass
            else:
                self.bar = tqdm(total=total, desc="train", unit="step")

    def update(self, step, loss):
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{loss:.5f}", refresh=False)
            return
        now = time.perf_counter()
        if now - self.last < 0.1 and step + 1 < self.total:
            return  # at most ten redraws a second
        self.last = now
        done = (step + 1) / self.total
        bar = "#" * int(30 * done)
        elapsed = now - self.start
        status = f"{step + 1}/{self.total} loss {loss:.5f} {elapsed:5.1f}s"
        sys.stderr.write(f"\rtrain [{bar:<30}] {status}")
        sys.stderr.flush()

    def close(self):
        if self.bar is not None:
            self.bar.close()
        elif self.enabled:
            sys.stderr.write("\n")


def train(steps=400, batch_size=16, lr=3e-3, seed=0, channels=16, n_test=64, progress=True):
    """Train the model; return a dict with the model, losses, PSNRs and test images."""
    rng = np.random.default_rng(seed)
    model = SuperResolution(channels, rng=rng)
    opt = optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.MSELoss()
    losses = []
    bar = _Progress(steps, progress)
    start = time.perf_counter()
    for step in range(steps):
        hr = synthetic_images(rng, batch_size).astype(np.float32)
        lr_batch = downscale(hr)
        opt.lr = lr * 0.5 * (1 + np.cos(np.pi * step / steps))  # cosine decay
        opt.zero_grad()
        loss = loss_fn(model(lr_batch), hr)
        model.backward(loss_fn.backward())
        opt.step()
        losses.append(float(loss))
        bar.update(step, float(np.mean(losses[-20:])))
    bar.close()
    seconds = time.perf_counter() - start
    test_rng = np.random.default_rng(seed + 10_000)  # held-out images, never trained on
    hr = synthetic_images(test_rng, n_test).astype(np.float32)
    lr_test = downscale(hr)
    baseline, learned = bicubic(lr_test), model.eval()(lr_test)
    return {
        "model": model, "losses": losses, "seconds": seconds,
        "psnr_bicubic": psnr(baseline, hr), "psnr_learned": psnr(learned, hr),
        "images": (lr_test, baseline, learned, hr),
    }


def comparison_grid(lr, baseline, learned, hr, rows=4, zoom=3):
    """uint8 grid, one row per image: low-res (pixel-doubled), bicubic, learned, truth."""
    tiles = []
    for i in range(min(rows, len(hr))):
        lr_big = np.repeat(np.repeat(lr[i, 0], 2, axis=0), 2, axis=1)
        row = [lr_big, baseline[i, 0], learned[i, 0], hr[i, 0]]
        pad = [np.pad(np.clip(t, 0, 1), 1, constant_values=1.0) for t in row]
        tiles.append(np.concatenate(pad, axis=1))
    grid = np.concatenate(tiles, axis=0)
    grid = np.repeat(np.repeat(grid, zoom, axis=0), zoom, axis=1)
    return np.round(grid * 255).astype(np.uint8)


def write_png(path, gray):
    """Write a 2-D uint8 array as a grayscale PNG (Pillow if present, else zlib)."""
    try:
        from PIL import Image
    except ImportError:
        pass
    else:
        Image.fromarray(gray, mode="L").save(path)
        return

    def chunk(tag, data):
        body = tag + data
        crc = zlib.crc32(body) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + body + struct.pack(">I", crc)

    height, width = gray.shape
    raw = b"".join(b"\x00" + gray[r].tobytes() for r in range(height))  # filter 0 per row
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
        f.write(chunk(b"IEND", b""))


def _thread_limit(threads):
    """Cap OpenMP and BLAS threads with threadpoolctl when asked and installed.

    Each step works on a few small arrays, where waking threads costs more than
    it saves; on a busy machine, spinning threads made the demo ~50x slower.
    """
    import contextlib

    if threads:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            pass
        else:
            return threadpool_limits(threads)
    return contextlib.nullcontext()


def main(argv=None):
    """Entry point of ``python -m upsamplex train-demo``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m upsamplex train-demo",
        description="Train a tiny x2 super-resolution network with upsamplex.nn and compare "
        "it with bicubic interpolation.",
    )
    parser.add_argument("--steps", type=int, default=400, help="training steps (default 400)")
    parser.add_argument("--batch-size", type=int, default=16, help="images per step (default 16)")
    parser.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate (default 3e-3)")
    parser.add_argument("--channels", type=int, default=16, help="hidden channels (default 16)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--out", metavar="PNG", default="superres_demo.png",
                        help="where to write the comparison image ('' to skip)")
    parser.add_argument("--save", metavar="NPZ", default=None, help="also save the weights here")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--threads", type=int, default=1,
                        help="OpenMP/BLAS threads, applied if threadpoolctl is installed; 0 keeps "
                        "the library default (default 1: the arrays are too small to share out)")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.batch_size < 1 or args.channels < 1 or args.threads < 0:
        parser.error("--steps, --batch-size and --channels must be positive, --threads >= 0")

    with _thread_limit(args.threads):
        result = train(args.steps, args.batch_size, args.lr, args.seed, args.channels,
                       progress=not args.quiet)
    gain = result["psnr_learned"] - result["psnr_bicubic"]
    print(f"trained {args.steps} steps in {result['seconds']:.1f} s; "
          f"loss {np.mean(result['losses'][:10]):.5f} -> {np.mean(result['losses'][-10:]):.5f}")
    print(f"held-out PSNR: bicubic {result['psnr_bicubic']:.2f} dB, "
          f"learned {result['psnr_learned']:.2f} dB ({gain:+.2f} dB)")
    if args.out:
        write_png(args.out, comparison_grid(*result["images"]))
        print(f"wrote {args.out} (columns: low-res, bicubic, learned, ground truth)")
    if args.save:
        result["model"].save(args.save)
        print(f"saved weights to {args.save}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
