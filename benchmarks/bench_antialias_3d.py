"""Trilinear antialias x0.25 against MONAI's recipe (Gaussian blur, then trilinear).

torch has no 3-D antialias, so MONAI's ``Resize(anti_aliasing=True)`` blurs first
(``GaussianSmooth`` with sigma = max(0, (in/out - 1) / 2) per axis, skimage's rule) and
then calls plain trilinear. Here: ``scipy.ndimage.gaussian_filter`` with that sigma, then
``upsamplex.interpolate(mode="trilinear")``, against one ``upsamplex.interpolate(
mode="trilinear", antialias=True)`` call, on a 3-D zone plate (rings up to the input's
Nyquist at the corners), timed in interleaved rounds (A B A B ..., medians) at 1 and 2
threads. scipy's filter is single-threaded; the thread count applies to upsamplex only.

Quality, on the same volume (every method is linear, so the parts add):

* alias energy: ||R(x_high)||^2 / ||ideal||^2, what the part of the input above the new
  Nyquist limit leaves in the output (ideal: 0);
* passband error: ||R(x_low) - ideal||^2 / ||ideal||^2, the blur of what should stay;
* total error: ||R(x) - ideal||^2 / ||ideal||^2.

x_low is the input band-limited to the new Nyquist limit (a box in frequency, through
the DFT) and ``ideal`` is x_low sampled at the output centres.

    python benchmarks/bench_antialias_3d.py [--size 128] [--threads 1 2] [--markdown]
"""

import argparse
import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import format_table, interleaved, machine_line, ms  # noqa: E402

import upsamplex as ux  # noqa: E402

FACTOR = 4


def zone_plate(n, dtype=np.float32):
    """cos(k r^2) at voxel centres, reaching Nyquist (1/2 cycle per voxel) at the corners."""
    c = np.arange(n) + 0.5 - n / 2
    r2 = c[:, None, None] ** 2 + c[None, :, None] ** 2 + c[None, None, :] ** 2
    return np.cos(np.pi / (n * np.sqrt(3)) * r2).astype(dtype)


def _band(n_in, factor, positions):
    """Real matrix: band-limit to 0.5 / factor cycles per voxel, evaluate at ``positions``."""
    freq = np.fft.fftfreq(n_in)
    keep = np.abs(freq) <= 0.5 / factor
    evaluate = np.exp(2j * np.pi * positions[:, None] * freq[None, keep])
    dft = np.exp(-2j * np.pi * freq[keep, None] * np.arange(n_in)[None, :])
    return np.real(evaluate @ dft) / n_in


def apply_axes(x, m):
    for axis in (-3, -2, -1):
        x = np.moveaxis(np.tensordot(m, x, axes=([1], [axis])), 0, axis)
    return x


def quality(resize, volume, factor):
    """(alias energy, passband error, total error), each relative to the ideal's energy."""
    n = volume.shape[-1]
    v = volume.astype(np.float64)
    low = apply_axes(v, _band(n, factor, np.arange(n, dtype=np.float64)))
    ideal = apply_axes(v, _band(n, factor, factor * (np.arange(n // factor) + 0.5) - 0.5))
    e = np.sum(ideal ** 2)
    return (float(np.sum(resize(v - low) ** 2) / e),
            float(np.sum((resize(low) - ideal) ** 2) / e),
            float(np.sum((resize(v) - ideal) ** 2) / e))


def monai_sigma(n_in, n_out):
    """MONAI Resize's default: max(0, (in/out - 1) / 2) on each axis."""
    return max(0.0, (n_in / n_out - 1) / 2)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=128, help="voxels per axis (default 128)")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--budget", type=float, default=3.0, help="seconds per thread count")
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args(argv)

    import scipy
    from scipy.ndimage import gaussian_filter

    n = args.size
    n_out = n // FACTOR
    sigma = monai_sigma(n, n_out)
    volume = zone_plate(n)

    def methods(threads):
        def aa(v):
            return ux.interpolate(v[None, None], size=n_out, mode="trilinear",
                                  antialias=True, num_threads=threads)[0, 0]

        def blur(v):
            return ux.interpolate(gaussian_filter(v, sigma)[None, None], size=n_out,
                                  mode="trilinear", num_threads=threads)[0, 0]

        def plain(v):
            return ux.interpolate(v[None, None], size=n_out, mode="trilinear",
                                  num_threads=threads)[0, 0]

        return {"upsamplex trilinear antialias": aa,
                f"gaussian_filter(sigma={sigma:g}) + upsamplex trilinear": blur,
                "upsamplex trilinear (no filter)": plain}

    print(machine_line({"numpy": np.__version__, "upsamplex": ux.__version__,
                        "scipy": scipy.__version__}))
    print(f"zone plate {n}^3 float32 -> {n_out}^3 (x{1 / FACTOR:g}); MONAI sigma {sigma:g}")
    qual = {name: quality(fn, volume, FACTOR) for name, fn in methods(1).items()}
    rows = []
    for threads in args.threads:
        fns = methods(threads)
        # float32 volume, fresh outputs (as a data pipeline calls them), A B C A B C ...
        med = interleaved({name: (lambda fn=fn: fn(volume)) for name, fn in fns.items()},
                          budget_s=args.budget)
        base = med["upsamplex trilinear antialias"]
        for name in fns:
            alias, passband, total = qual[name]
            rows.append([name, str(threads), ms(med[name]), f"{med[name] / base:.2f}",
                         f"{alias:.4f}", f"{passband:.4f}", f"{total:.4f}"])
    print(format_table(["method", "thr", "ms", "× antialias time", "alias energy",
                        "passband error", "total error"], rows, markdown=args.markdown))


if __name__ == "__main__":
    main()
