"""HWC photos (uint8 RGB/RGBA, uint16 grey and RGB, int16) through ``axes=`` vs OpenCV and Pillow.

    python benchmarks/bench_photos.py [--quick] [--markdown] [--threads 1 2]

The arrays image libraries hand out: ``(H, W, C)``, C-contiguous, resized by
``upsamplex.resize`` (antialias when shrinking) with no transpose or copy.
Peers compute the same job: OpenCV (INTER_AREA for shrinking, INTER_LINEAR /
INTER_CUBIC for enlarging; OpenCV's threads set to match) and Pillow
(``Image.resize``, single-threaded; uint8 only). Interleaved medians, ms.
"""

import argparse
import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _harness as h  # noqa: E402
import numpy as np  # noqa: E402

import upsamplex as ux  # noqa: E402

CASES = [  # (name, shape, dtype, out (h, w), mode, cv2 flag, PIL filter)
    ("RGB 1080p x0.5", (1080, 1920, 3), np.uint8, (540, 960), "bilinear", "INTER_AREA",
     "BILINEAR"),
    ("RGB 1080p x0.37", (1080, 1920, 3), np.uint8, (400, 711), "bicubic", "INTER_AREA",
     "BICUBIC"),
    ("RGBA 1080p x2", (1080, 1920, 4), np.uint8, (2160, 3840), "bilinear", "INTER_LINEAR",
     "BILINEAR"),
    ("RGB 720p x1.5 bicubic", (720, 1280, 3), np.uint8, (1080, 1920), "bicubic",
     "INTER_CUBIC", "BICUBIC"),
    ("RGB 1080p x0.5 area", (1080, 1920, 3), np.uint8, (540, 960), "area", "INTER_AREA",
     "BOX"),
    ("RGBA 1080p x0.5 area", (1080, 1920, 4), np.uint8, (540, 960), "area", "INTER_AREA",
     "BOX"),
    ("grey16 2048² x0.5 area", (2048, 2048, 1), np.uint16, (1024, 1024), "area",
     "INTER_AREA", None),
    ("RGB16 1080p x2", (1080, 1920, 3), np.uint16, (2160, 3840), "bilinear", "INTER_LINEAR",
     None),
    ("int16 720p x1.5 bicubic", (720, 1280, 1), np.int16, (1080, 1920), "bicubic",
     "INTER_CUBIC", None),
    ("grey16 2048² x0.6 bilinear", (2048, 2048, 1), np.uint16, (1229, 1229), "bilinear",
     "INTER_AREA", None),
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    args = parser.parse_args(argv)
    try:
        import cv2
    except ImportError:  # pragma: no cover
        cv2 = None
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover
        Image = None
    rng = np.random.default_rng(0)
    rows = []
    for name, shape, dtype, (oh, ow), mode, flag, pil_filter in CASES:
        x = rng.integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)
        for thr in args.threads:
            fns = {"ux": lambda x=x, oh=oh, ow=ow, mode=mode, thr=thr: ux.resize(
                x, (oh, ow), mode=mode, num_threads=thr)}
            if cv2 is not None:
                cv2.setNumThreads(thr)
                src = x[..., 0] if x.shape[2] == 1 else x
                cv_flag = getattr(cv2, flag)
                fns["OpenCV"] = lambda src=src, ow=ow, oh=oh, f=cv_flag: cv2.resize(
                    src, (ow, oh), interpolation=f)
            if Image is not None and pil_filter is not None and thr == 1:
                im = Image.fromarray(x)
                pil_flag = getattr(Image, pil_filter)
                fns["Pillow"] = lambda im=im, ow=ow, oh=oh, f=pil_flag: im.resize((ow, oh), f)
            med = h.interleaved(fns, budget_s=1.0 if args.quick else 4.0)
            row = [name, str(thr), h.ms(med["ux"])]
            for peer in ("OpenCV", "Pillow"):
                row.append(f"{h.ms(med[peer])} ({med[peer] / med['ux']:.2f}×)" if peer in med
                           else "–")
            rows.append(row)
    print(h.machine_line({"upsamplex": ux.__version__}))
    print(h.format_table(["photo (H, W, C)", "thr", "ux ms", "OpenCV ms (speedup)",
                          "Pillow ms (speedup)"], rows, markdown=args.markdown, n_left=2))


if __name__ == "__main__":
    main()
