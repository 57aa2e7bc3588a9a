"""Every mode on a test card

A 32×32 test card (zone plate, checkerboard, rings and a Siemens star) enlarged ×8 by
each mode of :func:`upsamplex.interpolate`. ``nearest`` keeps the blocks (at an integer
factor ``nearest-exact`` picks the same pixels; they differ at fractional ones),
``bilinear`` blurs, ``bicubic`` and ``lanczos`` are sharper and ring a little at edges,
and ``area`` (adaptive average pooling) repeats pixels when enlarging, as ``nearest``
does.
"""

import sys

import matplotlib.pyplot as plt
import numpy as np

import upsamplex as ux
from upsamplex._demo import synthetic_image

MODES = [
    ("nearest", {}), ("nearest-exact", {}), ("bilinear", {}), ("bicubic", {}),
    ("area", {}), ("lanczos", {"antialias": True}),
]


def main(out):
    card = synthetic_image(32)[None]  # (1, 3, 32, 32) float32 in [0, 1]
    fig, axes = plt.subplots(2, 4, figsize=(12, 6.4), layout="constrained")
    axes = axes.ravel()
    axes[0].imshow(card[0].transpose(1, 2, 0), interpolation="nearest")
    axes[0].set_title("input, 32×32")
    for ax, (mode, kw) in zip(axes[1:], MODES):
        big = ux.interpolate(card, scale_factor=8, mode=mode, **kw)
        ax.imshow(np.clip(big[0].transpose(1, 2, 0), 0, 1), interpolation="nearest")
        ax.set_title(f"{mode} ×8")
    axes[-1].axis("off")
    axes[-1].text(0.5, 0.5, "interpolate(card, scale_factor=8,\n            mode=...)",
                  ha="center", va="center", family="monospace")
    for ax in axes[:-1]:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.savefig(out, dpi=80, bbox_inches="tight", pad_inches=0.1)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "plot_modes.png")
