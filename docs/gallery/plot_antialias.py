"""Antialias against aliasing on a zone plate

A 512×512 zone plate (rings whose frequency grows to the Nyquist limit at the corners)
shrunk to 128×128. Plain ``bilinear`` samples only the 2×2 pixels around each output
point, so the fine rings alias into false, coarse rings (moiré). With ``antialias=True``
the filter widens by the downscale factor (as Pillow's resize does) and the rings too fine
for 128 pixels fade to grey instead; ``lanczos`` does the same with a sharper cut-off.
``area`` (a 4×4 box average here) removes most of the moiré but leaves a faint trace: a
box is a poor low-pass filter. The bottom row zooms on the top-right corner.
"""

import sys

import matplotlib.pyplot as plt
import numpy as np

import upsamplex as ux

CASES = [
    ("bilinear", {"mode": "bilinear"}),
    ("bilinear, antialias=True", {"mode": "bilinear", "antialias": True}),
    ("area", {"mode": "area"}),
    ("lanczos", {"mode": "lanczos", "antialias": True}),
]


def zone_plate(n):
    """cos(pi r^2 / k) at pixel centres: local frequency r / k cycles per pixel, with k
    chosen so that it reaches Nyquist (1/2) at the corners, r = n / sqrt(2)."""
    c = np.arange(n) + 0.5 - n / 2
    r2 = c[:, None] ** 2 + c[None, :] ** 2
    return (0.5 + 0.5 * np.cos(np.pi * r2 / (n * np.sqrt(2)))).astype(np.float32)


def main(out):
    plate = zone_plate(512)[None, None]
    fig, axes = plt.subplots(2, 5, figsize=(15, 6.6), layout="constrained")
    # matplotlib shrinks the 512-pixel input to fit its panel: filter it, or the
    # picture of the input would show moire of its own
    axes[0, 0].imshow(plate[0, 0], cmap="gray", vmin=0, vmax=1, interpolation="antialiased")
    axes[0, 0].set_title("input, 512×512")
    axes[1, 0].imshow(plate[0, 0, :128, -128:], cmap="gray", vmin=0, vmax=1,
                      interpolation="antialiased")
    axes[1, 0].set_title("input, top-right 128×128")
    for k, (label, kw) in enumerate(CASES, start=1):
        small = ux.interpolate(plate, size=(128, 128), **kw)[0, 0]
        axes[0, k].imshow(small, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        axes[0, k].set_title(f"{label} →128")
        axes[1, k].imshow(small[:32, -32:], cmap="gray", vmin=0, vmax=1,
                          interpolation="nearest")
        axes[1, k].set_title("zoom: top-right 32×32")
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.savefig(out, dpi=72, bbox_inches="tight", pad_inches=0.1)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "plot_antialias.png")
