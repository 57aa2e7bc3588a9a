"""Trilinear antialias on a 3-D zone plate

A 96×96×96 zone plate, cos(k r²) around the centre of the volume, whose rings get finer
outwards until they reach the Nyquist limit at the corners, shrunk ×0.25 to 24×24×24.
torch has no antialias in 3-D: plain ``trilinear`` reads only the 2×2×2 voxels around
each output point, so rings too fine for 24 voxels alias into false, coarse rings
(moiré). upsamplex's ``trilinear`` with ``antialias=True`` widens the triangle filter by
the downscale factor on every axis (torch's 2-D antialias, per axis), and those rings
fade to grey, as in the ideal result: the volume low-passed at the new Nyquist limit
(a box in frequency) and sampled at the same points. Each panel is the central
depth slice; the titles give the alias energy (what the out-of-band part of the input
leaves in the output, relative to the ideal result's energy).

Run as ``python plot_antialias_3d.py [OUT.png]``; without an argument the picture goes to
``_generated/antialias_3d.png`` next to this file.
"""

import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import upsamplex as ux  # noqa: E402

N = 96        # input voxels per axis
FACTOR = 4    # downscale factor per axis


def zone_plate(n):
    """cos(k r^2) at voxel centres; local frequency k r / pi cycles per voxel reaches
    Nyquist (1/2) at the corners, r = n sqrt(3) / 2."""
    c = np.arange(n) + 0.5 - n / 2
    r2 = c[:, None, None] ** 2 + c[None, :, None] ** 2 + c[None, None, :] ** 2
    k = np.pi / (n * np.sqrt(3))
    return np.cos(k * r2)


def ideal_axis(n_in, factor):
    """(n_in // factor, n_in) matrix: band-limit to the new Nyquist and sample at the
    output centres factor * (i + 0.5) - 0.5 (align_corners=False), through the DFT."""
    n_out = n_in // factor
    freq = np.fft.fftfreq(n_in)
    keep = np.abs(freq) <= 0.5 / factor
    pos = factor * (np.arange(n_out) + 0.5) - 0.5
    sample = np.exp(2j * np.pi * pos[:, None] * freq[None, keep])
    dft = np.exp(-2j * np.pi * freq[keep, None] * np.arange(n_in)[None, :])
    return np.real(sample @ dft) / n_in


def lowpass_axis(n_in, factor):
    """(n_in, n_in) matrix: the same band limit, kept on the input grid."""
    freq = np.fft.fftfreq(n_in)
    keep = np.abs(freq) <= 0.5 / factor
    grid = np.arange(n_in)
    inverse = np.exp(2j * np.pi * grid[:, None] * freq[None, keep])
    dft = np.exp(-2j * np.pi * freq[keep, None] * grid[None, :])
    return np.real(inverse @ dft) / n_in


def apply_axes(x, m):
    """The same matrix on each of the three trailing axes."""
    for axis in (-3, -2, -1):
        x = np.moveaxis(np.tensordot(m, x, axes=([1], [axis])), 0, axis)
    return x


def alias_energy(resize, volume, factor):
    """Energy the out-of-band part of ``volume`` leaves in ``resize``'s output, over the
    energy of the ideal output (the method is linear, so the two parts add)."""
    high = volume - apply_axes(volume, lowpass_axis(volume.shape[-1], factor))
    ideal = apply_axes(volume, ideal_axis(volume.shape[-1], factor))
    return float(np.sum(resize(high) ** 2) / np.sum(ideal ** 2))


CASES = [("trilinear", {"mode": "trilinear"}),
         ("trilinear, antialias=True", {"mode": "trilinear", "antialias": True})]


def main(out):
    volume = zone_plate(N)
    x = volume[None, None]
    centre = N // FACTOR // 2
    panels = [(f"input {N}³, slice {N // 2}", volume[N // 2], N)]
    for label, kw in CASES:
        def resize(v, kw=kw):
            return ux.interpolate(v[None, None], scale_factor=1 / FACTOR, **kw)[0, 0]
        small = ux.interpolate(x, scale_factor=1 / FACTOR, **kw)[0, 0]
        energy = alias_energy(resize, volume, FACTOR)
        panels.append((f"{label}\n×{1 / FACTOR:g} → {N // FACTOR}³, alias energy "
                       f"{energy:.3f}", small[centre], N // FACTOR))
    ideal = apply_axes(volume, ideal_axis(N, FACTOR))
    panels.append((f"ideal low-pass, sampled\n→ {N // FACTOR}³", ideal[centre], N // FACTOR))

    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 4.6),
                             layout="constrained")
    for ax, (title, image, n) in zip(axes, panels):
        # matplotlib would resample the 96-voxel slice to fit its panel: filter it, or
        # the picture of the input would show moire of its own.
        ax.imshow(image, cmap="gray", vmin=-1, vmax=1,
                  interpolation="antialiased" if n == N else "nearest")
        ax.set_title(title, fontsize=11)
        ax.set_xticks([])
        ax.set_yticks([])
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=72)
    plt.close(fig)
    return out


def _default_out():
    here = os.path.dirname(os.path.abspath(globals().get("__file__", "plot_antialias_3d.py")))
    return os.path.join(here, "_generated", "antialias_3d.png")


if __name__ == "__main__":
    print(main(sys.argv[1] if len(sys.argv) > 1 else _default_out()))
