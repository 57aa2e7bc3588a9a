"""uint8 photo sweeps: antialiased downscaling and nearest, vs torch, OpenCV, Pillow, Pillow-SIMD.

    python benchmarks/bench_uint8.py [--quick] [--markdown] [--threads 1 2]
                                     [--only aa|up|nearest] [--simd-python PATH]
                                     [--budget SECONDS] [--cpu-time]

Issue 10's classes 1 and 3 as grids, not single shapes:

* **aa** -- bilinear, bicubic and lanczos with ``antialias=True``, 1080p and 4K,
  RGB and RGBA, shrink factors 1.2 to 4 (non-integer ones included), in two
  layouts: NHWC (``upsamplex.resize`` on the ``(H, W, C)`` array, the same
  bytes as torch's channels-last tensor) and NCHW (``interpolate`` on
  ``(1, C, H, W)``). Peers: torch in the same memory format (no lanczos in
  torch), Pillow and Pillow-SIMD (``Image.resize``, single-threaded, on the
  HWC image), OpenCV ``INTER_AREA`` (the same job by a box filter) for NHWC.
* **up** -- plain (no antialias) bilinear and bicubic x2 up, the same peers.
* **nearest** -- ``nearest`` / ``nearest-exact`` on masks, RGB and RGBA, up
  and down (x2, x0.5, non-integer), vs torch, and for NHWC OpenCV
  ``INTER_NEAREST`` / ``INTER_NEAREST_EXACT`` (and Pillow's ``NEAREST``, which
  takes pixel centres, in the nearest-exact rows).

Pillow-SIMD replaces Pillow in an environment, so it runs in its own
interpreter (``--simd-python``, default ``.venv-simd/bin/python`` at the
repository root; see benchmarks/README.md for how to build it): a worker
process that times one call per request. Every candidate, the worker's
included, runs once per round, the order reversed every other round (A B C,
C B A, ...); cells are medians over rounds, in ms, with the peer's time over
ours in brackets (above 1: upsamplex is faster). ``best`` is the best peer's
time over ours. Pillow is single-threaded: its 1-thread time is the bar in
the 2-thread rows too.

``--cpu-time`` times the 1-thread rows by the calling thread's CPU time
(``time.thread_time``; every candidate, the worker's included, computes in
the thread that calls it when given one thread), so time spent descheduled
on a shared machine does not count; 2-thread rows stay wall-clock, against
Pillow's 1-thread CPU time then (a stricter bar than its wall time).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

PIL_FILTERS = {"bilinear": "BILINEAR", "bicubic": "BICUBIC", "lanczos": "LANCZOS",
               "nearest-exact": "NEAREST"}


def _worker():
    """Pillow(-SIMD) timing server: one JSON request a line, one time back."""
    import numpy as np
    from PIL import Image

    images = {}
    print(json.dumps({"version": Image.__version__}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        key = tuple(req["shape"])
        if key not in images:
            rng = np.random.default_rng(0)
            images[key] = Image.fromarray(rng.integers(0, 256, key, dtype=np.uint8))
        im = images[key]
        flt = getattr(Image, req["filter"])
        size = tuple(req["size"])
        t0, c0 = time.perf_counter(), time.thread_time()
        im.resize(size, flt)
        t1, c1 = time.perf_counter(), time.thread_time()
        print(json.dumps({"s": t1 - t0, "cpu": c1 - c0}), flush=True)


class SimdPeer:
    """A Pillow-SIMD worker process; None-like when its interpreter is missing."""

    def __init__(self, python):
        self.proc = None
        self.version = None
        if not python or not os.path.exists(python):
            return
        self.proc = subprocess.Popen([python, os.path.abspath(__file__), "--worker"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env={**os.environ, "PYTHONPATH": ""})
        self.version = json.loads(self.proc.stdout.readline())["version"]

    def timer(self, shape, size, pil_filter, cpu=False):
        req = json.dumps({"shape": list(shape), "size": list(size), "filter": pil_filter})

        def run():
            self.proc.stdin.write(req + "\n")
            self.proc.stdin.flush()
            return json.loads(self.proc.stdout.readline())["cpu" if cpu else "s"]

        return run

    def close(self):
        if self.proc is not None:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)


def timed(fn, cpu=False):
    """``fn`` as a callable returning its own duration (wall, or the calling
    thread's CPU time)."""
    clock = time.thread_time if cpu else time.perf_counter

    def run():
        t0 = clock()
        fn()
        return clock() - t0

    return run


def alternating(fns, budget_s, min_rounds=3, max_rounds=15):
    """Medians of self-timing callables, one call each per round, order reversed
    every other round (so no candidate always runs right after another)."""
    names = list(fns)
    t0 = time.perf_counter()
    for name in names:
        fns[name]()
    per_round = time.perf_counter() - t0
    rounds = int(min(max_rounds, max(min_rounds, budget_s // max(per_round, 1e-9))))
    times = {name: [] for name in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            times[name].append(fns[name]())
    return {name: statistics.median(ts) for name, ts in times.items()}


def aa_grid(quick):
    sizes = [("1080p", 1080, 1920)] + ([] if quick else [("4K", 2160, 3840)])
    factors = [1.2, 2.7] if quick else [1.2, 2.0, 2.7, 4.0]
    channels = [3] if quick else [3, 4]
    layouts = ["NHWC", "NCHW"]
    for label, h, w in sizes:
        for c in channels:
            for mode in ("bilinear", "bicubic", "lanczos"):
                for f in factors:
                    for layout in layouts:
                        yield dict(name=f"{mode} AA {label} C{c} /{f:g}", shape=(h, w, c),
                                   out=(round(h / f), round(w / f)), mode=mode,
                                   antialias=True, layout=layout, cv="INTER_AREA")


def up_grid(quick):
    cases = [("3x512² x2", (512, 512, 3)), ("RGB 1080p x2", (1080, 1920, 3))]
    for name, shape in cases[:1] if quick else cases:
        for mode, cv in (("bilinear", "INTER_LINEAR"), ("bicubic", "INTER_CUBIC")):
            for layout in ("NHWC", "NCHW"):
                h, w, _ = shape
                yield dict(name=f"{mode} {name}", shape=shape, out=(2 * h, 2 * w), mode=mode,
                           antialias=False, layout=layout, cv=cv)


def nearest_grid(quick):
    h, w = 1080, 1920
    factors = [("x2", 2.0), ("x0.5", 0.5), ("x1.5", 1.5), ("x0.7", 0.7)]
    for c, label in ((1, "mask"), (3, "RGB"), (4, "RGBA")):
        for fname, f in factors[:2] if quick else factors:
            for mode, cv in (("nearest", "INTER_NEAREST"), ("nearest-exact",
                                                             "INTER_NEAREST_EXACT")):
                for layout in ("NHWC",) if c == 1 else ("NHWC", "NCHW"):
                    yield dict(name=f"{mode} {label} 1080p {fname}", shape=(h, w, c),
                               out=(round(h * f), round(w * f)), mode=mode, antialias=False,
                               layout=layout, cv=cv)


def run_case(case, thr, libs, simd, budget_s, pil_1thread, cpu_time=False):
    import numpy as np

    import upsamplex as ux

    cpu = cpu_time and thr == 1

    cv2, torch, F, Image = libs
    h, w, c = case["shape"]
    oh, ow = case["out"]
    mode, aa, layout = case["mode"], case["antialias"], case["layout"]
    rng = np.random.default_rng(0)
    hwc = rng.integers(0, 256, (h, w, c), dtype=np.uint8)
    fns = {}
    if layout == "NHWC":
        fns["ux"] = timed(lambda: ux.resize(hwc, (oh, ow), mode=mode, antialias=aa,
                                            num_threads=thr), cpu)
    else:
        nchw = np.ascontiguousarray(hwc.transpose(2, 0, 1))[None]
        fns["ux"] = timed(lambda: ux.interpolate(nchw, size=(oh, ow), mode=mode, antialias=aa,
                                                 num_threads=thr), cpu)
    if torch is not None and mode != "lanczos":
        t = torch.from_numpy(hwc).permute(2, 0, 1)[None]
        t = t.contiguous() if layout == "NCHW" else t  # the HWC bytes are channels-last
        kw = {"antialias": aa} if mode in ("bilinear", "bicubic") else {}
        fns["torch"] = timed(lambda: F.interpolate(t, size=(oh, ow), mode=mode, **kw), cpu)
    # OpenCV and Pillow work on HWC images: peers of the NHWC rows.
    if cv2 is not None and layout == "NHWC":
        src = hwc[..., 0] if c == 1 else hwc
        flag = getattr(cv2, case["cv"])
        fns["OpenCV"] = timed(lambda: cv2.resize(src, (ow, oh), interpolation=flag), cpu)
    pil_filter = PIL_FILTERS.get(mode)
    # Pillow always antialiases when shrinking: a peer of the AA rows, of plain
    # upscaling (where antialias changes nothing) and of nearest-exact.
    with_pil = (layout == "NHWC" and pil_filter is not None
                and (aa or oh >= h or mode == "nearest-exact"))
    key = (case["name"], layout)
    if with_pil and thr == 1:
        if Image is not None:
            im = Image.fromarray(hwc[..., 0] if c == 1 else hwc)
            flt = getattr(Image, pil_filter)
            fns["Pillow"] = timed(lambda: im.resize((ow, oh), flt), cpu)
        if simd.proc is not None:
            fns["Pillow-SIMD"] = simd.timer(hwc.shape if c > 1 else (h, w), (ow, oh),
                                            pil_filter, cpu)
    if torch is not None:
        torch.set_num_threads(thr)
    if cv2 is not None:
        cv2.setNumThreads(thr)
    med = alternating(fns, budget_s)
    if thr == 1:
        pil_1thread[key] = {k: med[k] for k in ("Pillow", "Pillow-SIMD") if k in med}
    else:
        med.update(pil_1thread.get(key, {}))
    return med


PEERS = ["torch", "OpenCV", "Pillow", "Pillow-SIMD"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--only", choices=["aa", "up", "nearest"], nargs="+",
                        default=["aa", "up", "nearest"])
    parser.add_argument("--simd-python", default=os.environ.get(
        "UPSAMPLEX_PILLOW_SIMD_PYTHON", os.path.join(HERE, "..", ".venv-simd", "bin", "python")))
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds of rounds per row (default 1.5; 0.25 with --quick)")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time 1-thread rows by CPU time (time.thread_time), not wall")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker()
        return
    import _harness as h

    import upsamplex as ux

    try:
        import cv2
    except ImportError:  # pragma: no cover
        cv2 = None
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:  # pragma: no cover
        torch = F = None
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover
        Image = None
    simd = SimdPeer(args.simd_python)
    budget = args.budget if args.budget is not None else (0.25 if args.quick else 1.5)
    grids = {"aa": aa_grid, "up": up_grid, "nearest": nearest_grid}
    pil_1thread = {}
    versions = {"upsamplex": ux.__version__, "torch": torch and torch.__version__,
                "OpenCV": cv2 and cv2.__version__, "Pillow": Image and Image.__version__,
                "Pillow-SIMD": simd.version}
    print(h.machine_line(versions))
    try:
        for grid in args.only:
            rows = []
            for case in grids[grid](args.quick):
                for thr in sorted(args.threads):
                    med = run_case(case, thr, (cv2, torch, F, Image), simd, budget,
                                   pil_1thread, args.cpu_time)
                    ours = med["ux"]
                    row = [case["name"], case["layout"], str(thr), h.ms(ours)]
                    best = None
                    for peer in PEERS:
                        if peer in med:
                            row.append(f"{h.ms(med[peer])} ({med[peer] / ours:.2f}×)")
                            best = med[peer] if best is None else min(best, med[peer])
                        else:
                            row.append("–")
                    row.append(h.ratio(best / ours) if best else "–")
                    rows.append(row)
                    print("  ".join(row), file=sys.stderr, flush=True)
            print(f"\n{grid}:")
            print(h.format_table(["workload", "layout", "thr", "ux ms"]
                                 + [f"{p} ms (speedup)" for p in PEERS] + ["best"], rows,
                                 markdown=args.markdown, n_left=2))
    finally:
        simd.close()


if __name__ == "__main__":
    main()
