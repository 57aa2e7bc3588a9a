"""Per-call overhead on tiny arrays (<= 4k elements): every public function vs torch.

    python benchmarks/bench_overhead.py [--quick] [--markdown]

On arrays this small the work is nothing and the call is everything: argument
checks, plan lookup, output allocation, the kernel entry. Each row times many
calls of one function in interleaved rounds (upsamplex, a bound plan where one
exists, torch), one thread, medians, microseconds per call.
"""

import argparse
import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _harness as h  # noqa: E402
import numpy as np  # noqa: E402

import upsamplex as ux  # noqa: E402


def _per_call(fn, n):
    def run():
        for _ in range(n):
            fn()
    return run


def cases():
    rng = np.random.default_rng(0)
    sig = np.arange(4, dtype=np.float32).reshape(1, 1, 4)
    img = rng.random((1, 3, 16, 16), dtype=np.float32)
    hwc = (rng.random((32, 32, 3)) * 255).astype(np.uint8)
    vol = rng.random((1, 1, 8, 8, 8), dtype=np.float32)
    w = rng.random((3, 3, 3, 3), dtype=np.float32)
    wt = rng.random((3, 3, 3, 3), dtype=np.float32)
    rows = []

    def add(name, ours, plan=None, torch_fn=None):
        rows.append((name, ours, plan, torch_fn))

    p_sig = ux.plan(sig.shape, sig.dtype, scale_factor=2, mode="nearest")
    p_img = ux.plan(img.shape, img.dtype, scale_factor=2, mode="bilinear")
    p_cub = ux.plan(img.shape, img.dtype, size=(24, 24), mode="bicubic")
    p_vol = ux.plan(vol.shape, vol.dtype, scale_factor=2, mode="trilinear")
    g_img = np.ones(p_img.out_shape, np.float32)
    try:
        import torch
        import torch.nn.functional as F

        torch.set_num_threads(1)
        t = {k: torch.from_numpy(v) for k, v in dict(sig=sig, img=img, vol=vol, w=w, wt=wt,
                                                     hwc=hwc.transpose(2, 0, 1)[None].copy()
                                                     ).items()}
        tg = torch.from_numpy(g_img)

        def t_back():
            x = t["img"].clone().requires_grad_(True)
            F.interpolate(x, scale_factor=2, mode="bilinear").backward(tg)
    except ImportError:  # pragma: no cover - torch is the peer, optional here
        t = None
    add("nearest 1-D x2, 4 samples", lambda: ux.interpolate(sig, scale_factor=2),
        lambda: p_sig(sig),
        t and (lambda: F.interpolate(t["sig"], scale_factor=2)))
    add("bilinear x2, 3x16x16", lambda: ux.interpolate(img, scale_factor=2, mode="bilinear"),
        lambda: p_img(img),
        t and (lambda: F.interpolate(t["img"], scale_factor=2, mode="bilinear")))
    add("bicubic ->24x24, 3x16x16",
        lambda: ux.interpolate(img, size=(24, 24), mode="bicubic"), lambda: p_cub(img),
        t and (lambda: F.interpolate(t["img"], size=(24, 24), mode="bicubic")))
    add("trilinear x2, 8x8x8", lambda: ux.interpolate(vol, scale_factor=2, mode="trilinear"),
        lambda: p_vol(vol),
        t and (lambda: F.interpolate(t["vol"], scale_factor=2, mode="trilinear")))
    add("interpolate_backward bilinear, 3x16x16",
        lambda: ux.interpolate_backward(g_img, img.shape, scale_factor=2, mode="bilinear"),
        lambda: p_img.backward(g_img), t and t_back)
    add("resize uint8 HWC 32x32x3 -> 16x16", lambda: ux.resize(hwc, (16, 16)), None,
        t and (lambda: F.interpolate(t["hwc"], size=(16, 16), mode="bilinear",
                                     antialias=True)))
    add("conv2d 3->3 k3, 16x16", lambda: ux.conv2d(img, w, padding=1), None,
        t and (lambda: F.conv2d(t["img"], t["w"], padding=1)))
    add("conv_transpose2d 3->3 k3 s2, 16x16",
        lambda: ux.conv_transpose2d(img, wt, stride=2), None,
        t and (lambda: F.conv_transpose2d(t["img"], t["wt"], stride=2)))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    n = 200 if args.quick else 1000
    rows = []
    for name, ours, plan, torch_fn in cases():
        fns = {"ux": _per_call(ours, n)}
        if plan is not None:
            fns["plan"] = _per_call(plan, n)
        if torch_fn is not None:
            fns["torch"] = _per_call(torch_fn, n)
        med = h.interleaved(fns, budget_s=1.0 if args.quick else 3.0)
        us = {k: v / n * 1e6 for k, v in med.items()}
        rows.append([name, f"{us['ux']:.1f}", f"{us['plan']:.1f}" if "plan" in us else "–",
                     f"{us['torch']:.1f}" if "torch" in us else "–",
                     f"{us['torch'] / us['ux']:.2f}×" if "torch" in us else "–"])
    versions = {"upsamplex": ux.__version__}
    print(h.machine_line(versions))
    print(h.format_table(["workload (1 thread)", "ux µs", "plan µs", "torch µs",
                          "torch ÷ ux"], rows, markdown=args.markdown))


if __name__ == "__main__":
    main()
