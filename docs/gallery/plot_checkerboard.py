"""Transposed convolution's checkerboard against resize-then-convolve

A transposed convolution whose kernel size is not a multiple of its stride (here 3 with
stride 2) overlaps unevenly: some output pixels get contributions from one input pixel,
others from two or four, and the result carries a checkerboard even when the input and
the weights are constant (Odena, Dumoulin and Olah, "Deconvolution and Checkerboard
Artifacts", Distill 2016). Kernel 4 with stride 2 overlaps evenly, but the four phases
of the output still use four different sets of weights, and random (or learned) ones
make the pattern again. Upsampling first (``nearest`` or ``bilinear``) and then a
stride-1 convolution applies the same weights at every output pixel: on a constant input
every pixel gets the same sum, and a smooth input stays smooth. Top: a constant input
and all-ones weights, each output divided by its mean and shown on one grey scale;
bottom: a smooth image and random positive weights.
"""

import sys

import matplotlib.pyplot as plt
import numpy as np

import upsamplex as ux


def smooth_image(n):
    c = (np.arange(n) + 0.5) / n
    y, x = np.meshgrid(c, c, indexing="ij")
    return (np.sin(3 * x) * np.cos(2 * y) + x).astype(np.float32)


def methods(x, weights):
    """Four ×2 upsamplers, each (name, output) with the same output size 2n."""
    w3, w4, wc = weights
    return [
        ("conv_transpose2d k3 s2", ux.conv_transpose2d(x, w3, stride=2, padding=1,
                                                       output_padding=1)),
        ("conv_transpose2d k4 s2", ux.conv_transpose2d(x, w4, stride=2, padding=1)),
        ("nearest ×2, conv2d k3", ux.conv2d(ux.interpolate(x, scale_factor=2), wc,
                                            padding=1)),
        ("bilinear ×2, conv2d k3",
         ux.conv2d(ux.interpolate(x, scale_factor=2, mode="bilinear"), wc, padding=1)),
    ]


def main(out):
    n = 16
    rng = np.random.default_rng(0)
    rows = [
        ("constant input, ones", np.ones((1, 1, n, n), np.float32),
         [np.ones((1, 1, 3, 3), np.float32), np.ones((1, 1, 4, 4), np.float32),
          np.ones((1, 1, 3, 3), np.float32)]),
        ("smooth input, random weights", smooth_image(n)[None, None],
         [rng.uniform(0, 1, (1, 1, k, k)).astype(np.float32) for k in (3, 4, 3)]),
    ]
    fig, axes = plt.subplots(2, 4, figsize=(14, 7.4), layout="constrained")
    for r, (label, x, weights) in enumerate(rows):
        for c, (name, y) in enumerate(methods(x, weights)):
            inner = y[0, 0, 2:-2, 2:-2]  # leave out the zero-padded border
            if r == 0:
                # a constant input: any pattern is an artefact; one grey scale for all four
                inner = inner / inner.mean()
                axes[r, c].imshow(inner, cmap="gray", vmin=0, vmax=2, interpolation="nearest")
                note = f"{label}: max ÷ min = {inner.max() / inner.min():.2g}"
            else:
                axes[r, c].imshow(inner, cmap="gray", interpolation="nearest")
                note = label
            axes[r, c].set_title(f"{name}\n{note}", fontsize=9)
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
    fig.savefig(out, dpi=72, bbox_inches="tight", pad_inches=0.1)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "plot_checkerboard.png")
