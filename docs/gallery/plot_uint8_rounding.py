"""uint8 against float: where the rounding differs

A uint8 image (the test card at grey levels 28 to 228) enlarged ×1.7 two ways: in uint8
directly — the integer path torch and Pillow-SIMD use, with int16 fixed-point weights —
and in float32, then rounded. ``bilinear`` (top) differs from the rounded float result by
at most one grey level: only the fixed-point rounding. ``bicubic`` (bottom) also rounds
and clamps to 0..255 *between* its two passes, so where it overshoots at sharp edges (the
star's spokes) a few pixels differ by several levels. torch's uint8 path does the same:
its own consistency test allows bicubic a maximum under 15, with under 3% of pixels off
by more than 2; upsamplex's test suite holds it to torch's uint8 result within ±1 (±2 for
bicubic and lanczos). Middle: the difference on the red channel; right: how often each
difference occurs (log scale).
"""

import sys

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

import upsamplex as ux
from upsamplex._demo import synthetic_image


def main(out):
    card = synthetic_image(96)[None]  # (1, 3, 96, 96) in [0, 1]
    img = np.round(card * 200 + 28).astype(np.uint8)
    fig, axes = plt.subplots(2, 3, figsize=(13, 8.4), layout="constrained",
                             gridspec_kw={"width_ratios": [1, 1.2, 1.1]})
    for row, mode in zip(axes, ("bilinear", "bicubic")):
        kw = {"scale_factor": 1.7, "mode": mode}
        via_uint8 = ux.interpolate(img, **kw)
        via_float = np.clip(np.round(ux.interpolate(img.astype(np.float32), **kw)), 0, 255)
        diff = via_uint8.astype(np.int16) - via_float.astype(np.int16)
        worst = int(np.abs(diff).max())

        row[0].imshow(via_uint8[0].transpose(1, 2, 0))
        row[0].set_title(f"uint8 {mode} ×1.7")
        limit = max(worst, 1)
        shown = row[1].imshow(diff[0, 0], cmap="coolwarm", vmin=-limit, vmax=limit,
                              interpolation="nearest")
        row[1].set_title(f"{mode}: uint8 − rounded float32 (red channel)")
        fig.colorbar(shown, ax=row[1], shrink=0.8, ticks=MaxNLocator(integer=True))
        for ax in row[:2]:
            ax.set_xticks([])
            ax.set_yticks([])
        values, counts = np.unique(diff, return_counts=True)
        row[2].bar(values, 100 * counts / diff.size, color="tab:gray")
        row[2].set_yscale("log")
        row[2].set_xlabel("uint8 − rounded float32, grey levels")
        row[2].set_ylabel("% of output values")
        off = 100 * np.mean(np.abs(diff) > 2)
        row[2].set_title(f"{mode}: max |difference| {worst}, {off:.2f}% off by more than 2",
                         fontsize=10)
    fig.savefig(out, dpi=72, bbox_inches="tight", pad_inches=0.1)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "plot_uint8_rounding.png")
