"""upsamplex.interpolate against torch, OpenCV, Pillow and SciPy, side by side.

    python benchmarks/bench_interpolate.py [--threads 1 2] [--quick] [--markdown]
                                           [--only SUBSTRING] [--no-memory]

Every candidate of one workload and thread count is timed in the same
interleaved rounds (see ``_harness.interleaved``), together with a memcpy that
gives the memory-bandwidth floor under the same load. See README.md for what
each column means.
"""

import argparse
import dataclasses
import os
import sys

# torch ships its own OpenMP runtime. Interleaving its calls with ours, each
# runtime's idle threads would spin-wait on the 2 cores the other one needs next;
# passive waiting measures each library, not their contention (set before any
# OpenMP runtime starts; an explicit setting wins).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _harness as h  # noqa: E402

import upsamplex as ux  # noqa: E402

# The peers, imported by load_peers() only: spawned peak-memory children import this
# module too and need none of them.
torch = cv2 = PIL = Image = scipy = ndimage = None


def _optional(name):
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def load_peers():
    global torch, cv2, PIL, Image, scipy, ndimage
    torch, cv2, PIL = _optional("torch"), _optional("cv2"), _optional("PIL")
    Image = _optional("PIL.Image")
    scipy, ndimage = _optional("scipy"), _optional("scipy.ndimage")

LAYOUTS = {3: ("NCL", "NLC"), 4: ("NCHW", "NHWC"), 5: ("NCDHW", "NDHWC")}


@dataclasses.dataclass(frozen=True)
class Workload:
    name: str
    shape: tuple  # of the forward input, contiguous NC... order
    mode: str
    kw: dict  # size / scale_factor / antialias, as both libraries spell them
    dtype: str = "float32"
    channels_last_only: bool = False  # the uint8 case is an HWC image
    backward: bool = False
    cv2_flag: str | None = None  # cv2.INTER_* doing the same computation
    pillow: bool = False  # Image.BILINEAR does the same computation
    scipy: bool = False  # ndimage.zoom(order=1, grid_mode=True, mode="nearest") does


X2 = {"scale_factor": 2}
B64 = (8, 64, 128, 128)
HD = (1, 3, 1080, 1920)
WORKLOADS = [
    Workload("nearest ×2", B64, "nearest", X2, cv2_flag="INTER_NEAREST"),
    Workload("nearest-exact ×1.5", B64, "nearest-exact", {"scale_factor": 1.5}),
    Workload("bilinear ×2", B64, "bilinear", X2, cv2_flag="INTER_LINEAR"),
    Workload("bicubic ×2", B64, "bicubic", X2, cv2_flag="INTER_CUBIC"),
    Workload("area →128", (8, 64, 256, 256), "area", {"size": (128, 128)},
             cv2_flag="INTER_AREA"),
    Workload("1080p bilinear ×2", HD, "bilinear", X2, cv2_flag="INTER_LINEAR",
             pillow=True, scipy=True),
    Workload("1080p AA bilinear →540×960", HD, "bilinear",
             {"size": (540, 960), "antialias": True}, pillow=True),
    Workload("1080p uint8 RGB bilinear ×2", HD, "bilinear", X2, dtype="uint8",
             cv2_flag="INTER_LINEAR", pillow=True),
    Workload("trilinear ×2", (2, 16, 32, 64, 64), "trilinear", X2),
    Workload("linear ×2", (16, 32, 8192), "linear", X2, cv2_flag="INTER_LINEAR"),
    Workload("backward bilinear ×2", B64, "bilinear", X2, backward=True),
    Workload("backward bicubic ×2", B64, "bicubic", X2, backward=True),
]


def quick_shape(shape):
    """A quarter of the batch, or half of each spatial size for a single image."""
    if shape[0] >= 4:
        return (shape[0] // 4,) + shape[1:]
    return shape[:2] + tuple(s // 2 for s in shape[2:])


def channels_last(x):
    """The same values, stored channels-last, viewed back in NC... order."""
    order = (0,) + tuple(range(2, x.ndim)) + (1,)
    back = (0, x.ndim - 1) + tuple(range(1, x.ndim - 1))
    return np.ascontiguousarray(x.transpose(order)).transpose(back)


def random_input(shape, dtype, rng):
    if dtype == "uint8":
        return rng.integers(0, 256, size=shape, dtype=np.uint8)
    return rng.random(shape, dtype=np.float32)


# --- candidates ------------------------------------------------------------------------


def ux_call(w, shape, x, n, out=None):
    if w.backward:
        return ux.interpolate_backward(x, shape, mode=w.mode, **w.kw, out=out, num_threads=n)
    return ux.interpolate(x, mode=w.mode, **w.kw, out=out, num_threads=n)


def torch_call(w, shape, out_hw):
    """A callable timing torch on a tensor: forward, or the aten backward op alone."""
    F = torch.nn.functional
    if not w.backward:
        return lambda t: F.interpolate(t, mode=w.mode, **w.kw)
    op = getattr(torch.ops.aten, f"upsample_{w.mode}2d_backward")
    scale = float(w.kw["scale_factor"])
    return lambda g: op(g, list(out_hw), list(shape), False, scale, scale)


def peers(w, x, out_spatial):
    """OpenCV / Pillow / SciPy doing the same computation.

    Returns ``{column: (timed callable, to_nchw(result) -> array, what was timed)}``.
    """
    found = {}
    n, c = x.shape[:2]
    if w.cv2_flag and cv2 is not None:
        flag = getattr(cv2, w.cv2_flag)
        if x.ndim == 3:
            # Linear along the last axis = a 1-channel (N*C, L) image resized in width only.
            img = x.reshape(n * c, -1)
            dsize = (out_spatial[0], n * c)
            found["OpenCV"] = (lambda: cv2.resize(img, dsize, interpolation=flag),
                               lambda r: r.reshape(n, c, -1),
                               f"cv2.resize({w.cv2_flag}) of one ({n * c}, {x.shape[2]}) "
                               "1-channel image")
        else:
            hwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
            dsize = out_spatial[::-1]
            found["OpenCV"] = (
                lambda: [cv2.resize(im, dsize, interpolation=flag) for im in hwc],
                lambda r: np.stack(r).reshape((n,) + out_spatial + (c,)).transpose(0, 3, 1, 2),
                f"cv2.resize({w.cv2_flag}) on HWC images, looping over N={n} "
                f"({c} channels each)")
    if w.pillow and PIL is not None:
        size = out_spatial[::-1]
        if w.dtype == "uint8":
            img = Image.fromarray(np.ascontiguousarray(x[0].transpose(1, 2, 0)))
            found["Pillow"] = (lambda: img.resize(size, Image.BILINEAR),
                               lambda r: np.asarray(r).transpose(2, 0, 1)[None],
                               "Image.resize(BILINEAR) of one uint8 RGB image")
        else:
            planes = [Image.fromarray(np.ascontiguousarray(p)) for p in x.reshape(-1, *x.shape[2:])]
            found["Pillow"] = (lambda: [p.resize(size, Image.BILINEAR) for p in planes],
                               lambda r: np.stack([np.asarray(p) for p in r]).reshape(
                                   (n, c) + out_spatial),
                               f"Image.resize(BILINEAR) of {n * c} float32 'F' planes")
    if w.scipy and scipy is not None:
        zoom = (1,) + tuple(o / i for o, i in zip(out_spatial, x.shape[2:]))
        found["SciPy"] = (
            lambda: ndimage.zoom(x[0], zoom, order=1, grid_mode=True, mode="nearest"),
            lambda r: r[None],
            "ndimage.zoom(order=1, grid_mode=True, mode='nearest') of one (C, H, W) image")
    return found


def set_threads(n):
    if torch is not None:
        torch.set_num_threads(n)
    if cv2 is not None:
        cv2.setNumThreads(n)


# --- one workload ----------------------------------------------------------------------


def bench_workload(w, threads, quick, rng):
    shape = quick_shape(w.shape) if quick else w.shape
    x = random_input(shape, w.dtype, rng)
    y_ref = ux.interpolate(x, mode=w.mode, **w.kw)
    out_spatial = y_ref.shape[2:]
    ours = {}  # layout name -> array the kernel reads (input, or grad_output for backward)
    names = LAYOUTS[x.ndim]
    if w.backward:
        g = random_input(y_ref.shape, w.dtype, rng)
        ours = {names[0]: g, names[1]: channels_last(g)}
    elif w.channels_last_only:
        ours = {names[1]: channels_last(x)}
    else:
        ours = {names[0]: x, names[1]: channels_last(x)}
    feed = next(iter(ours.values()))
    result_bytes = (x if w.backward else y_ref).nbytes
    bytes_moved = feed.nbytes + result_bytes

    tensors = {}
    if torch is not None:
        contiguous = g if w.backward else x
        tensors["torch " + names[0]] = torch.from_numpy(contiguous)
        if x.ndim > 3:  # torch has no channels-last format for 3-D tensors
            tensors["torch " + names[1]] = torch.from_numpy(channels_last(contiguous))
        run_torch = torch_call(w, shape, out_spatial)
    outer = {} if w.backward else peers(w, x, out_spatial)

    notes = [f"{w.name} {shape} {w.dtype}:"]
    if w.backward and torch is not None:
        notes.append(f"torch = aten.upsample_{w.mode}2d_backward alone (no forward)")
    for col, (fn, to_nchw, what) in outer.items():
        diff = np.abs(to_nchw(fn()).astype(np.float64) - y_ref).max()
        notes.append(f"{col} = {what}; max|diff| vs ours {diff:.3g}")
    if len(notes) == 1:
        notes.append("no peer besides torch computes this")

    rows = []
    for n in threads:
        set_threads(n)
        outs = {lay: ux_call(w, shape, arr, n) for lay, arr in ours.items()}
        fns = {}
        for lay, arr in ours.items():
            fns["ux " + lay] = lambda arr=arr, n=n: ux_call(w, shape, arr, n)
            fns["ux out " + lay] = lambda arr=arr, n=n, out=outs[lay]: ux_call(w, shape, arr, n,
                                                                               out)
        for col, t in tensors.items():
            fns[col] = lambda t=t: run_torch(t)
        for col, (fn, _, _) in outer.items():
            fns[col] = fn
        copy = h.CopyBandwidth(n)
        fns.update(copy.fns())
        med = h.interleaved(fns, budget_s=1.0 if quick else 2.5)
        copy.close()
        for lay in ours:
            row = {
                "workload": w.name, "layout": lay, "thr": n, "ux": med["ux " + lay],
                "ux out": med["ux out " + lay], "bytes": bytes_moved,
                "bytes in": feed.nbytes, "bytes out": result_bytes,
                # bandwidths of this group; add_floors() uses the best of the run.
                "bw fresh": copy.fresh_write_bandwidth(med["fill fresh"]),
                "bw out": copy.bandwidth(med["memcpy"]),
            }
            for col in list(tensors) + list(outer):
                row[col] = med[col]
            same = "torch " + lay
            row["torch same"] = med.get(same)
            row["torch best"] = min((med[c] for c in tensors), default=None)
            rows.append(row)
    return rows, notes


def add_floors(rows):
    """× floor against the best memcpy bandwidth of the whole run, per thread count.

    Each group measures the copy beside its kernels, but a neighbour's burst can
    slow one group's copy tenfold; the fastest copy seen is the better estimate of
    what the memory system can do.
    """
    for n in {r["thr"] for r in rows}:
        sel = [r for r in rows if r["thr"] == n]
        best = {kind: max(r["bw " + kind] for r in sel) for kind in ("fresh", "out")}
        for r in sel:
            r["floor fresh"] = r["ux"] / h.fresh_floor_seconds(
                r["bytes in"], r["bytes out"], best["out"], best["fresh"])
            r["floor out"] = r["ux out"] / h.floor_seconds(r["bytes"], best["out"])
            r["best bw"] = best


# --- peak memory -----------------------------------------------------------------------


def peak_build(case):
    """Runs in a spawned child: inputs without large temporaries, then the call."""
    src = (8, 64, 128, 128)
    if case == "NCHW":
        x = np.full(src, 0.5, np.float32)
    elif case in ("NHWC", "NHWC out="):
        x = np.full((8, 128, 128, 64), 0.5, np.float32).transpose(0, 3, 1, 2)
    elif case == "cropped view":
        x = np.full((8, 64, 144, 144), 0.5, np.float32)[:, :, 8:-8, 8:-8]
    elif case == "every 2nd channel":
        x = np.full((8, 128, 128, 128), 0.5, np.float32)[:, ::2]
    elif case == "uint8 HWC 1080p":
        x = np.full((1, 1080, 1920, 3), 7, np.uint8).transpose(0, 3, 1, 2)
    elif case == "backward NHWC":
        g = np.full((8, 256, 256, 64), 0.5, np.float32).transpose(0, 3, 1, 2)
        return lambda: ux.interpolate_backward(g, src, mode="bilinear", scale_factor=2,
                                               num_threads=1)
    out = None
    if case.endswith("out="):
        out = ux.interpolate(x, mode="bilinear", scale_factor=2)
    return lambda: ux.interpolate(x, mode="bilinear", scale_factor=2, out=out, num_threads=1)


PEAK_CASES = ["NCHW", "NHWC", "NHWC out=", "cropped view", "every 2nd channel",
              "uint8 HWC 1080p", "backward NHWC"]


def peak_table(markdown):
    rows = []
    for case in PEAK_CASES:
        r = h.peak_memory(peak_build, case)
        if r["error"]:
            rows.append([case, "error", r["error"], "", ""])
            continue
        new_out = 0 if case.endswith("out=") else r["output"]
        mib = lambda b: f"{b / h.MiB:.1f}"  # noqa: E731
        rows.append([case, mib(new_out), mib(r["rss"]), mib(r["traced"]),
                     mib(r["rss"] - new_out)])
    headers = ["bilinear ×2 of (8,64,128,128) unless named", "new output MiB", "RSS rise MiB",
               "tracemalloc peak MiB", "extra MiB"]
    return h.format_table(headers, rows, markdown)


# --- report ----------------------------------------------------------------------------

PEER_COLUMNS = ["torch NCHW", "torch NHWC", "OpenCV", "Pillow", "SciPy"]


def torch_column(row, col):
    """torch NCHW/NHWC columns also carry torch's 3-D and 5-D contiguous/channels-last."""
    if col in row:
        return row[col]
    lay_contig = {"torch NCHW": ("torch NCL", "torch NCDHW"),
                  "torch NHWC": ("torch NLC", "torch NDHWC")}.get(col, ())
    return next((row[c] for c in lay_contig if c in row), None)


def format_rows(rows):
    out = []
    for r in rows:
        cells = [r["workload"], r["layout"], str(r["thr"]), h.ms(r["ux"]), h.ms(r["ux out"]),
                 f"{r['floor fresh']:.1f} / {r['floor out']:.1f}"]
        for col in PEER_COLUMNS:
            t = torch_column(r, col)
            cells.append("–" if t is None else f"{h.ms(t)} ({h.ratio(t / r['ux'])})")
        out.append(cells)
    return out


def summary(rows, threads):
    def geo(sel, peer, ours="ux"):
        return h.geomean([r[peer] / r[ours] for r in sel if r.get(peer)])

    lines = []
    for n in threads:
        sel = [r for r in rows if r["thr"] == n]
        lines.append(
            f"{n} thread{'s' if n > 1 else ''}: geomean speedup vs torch same layout "
            f"{geo(sel, 'torch same'):.2f}×, vs torch best layout {geo(sel, 'torch best'):.2f}× "
            f"(with out=: {geo(sel, 'torch best', 'ux out'):.2f}×), "
            f"vs OpenCV {geo(sel, 'OpenCV'):.2f}×")
    return lines


# --- antialias where it does not shrink: must cost what the plain mode costs ----------

AA_UP_SCALES = (1, 1.5, 2, 3)
# (antialiased mode, the plain mode with the same taps); lanczos has no plain
# twin: against bicubic, per tap (6 taps against 4).
AA_UP_PAIRS = (("bilinear", "bilinear", 2, 2), ("bicubic", "bicubic", 4, 4),
               ("lanczos", "bicubic", 6, 4))
AA_UP_SHAPE = (1, 3, 512, 512)


def bench_aa_up(threads, quick, dtypes=("float32", "float64")):
    """``antialias=True`` at scales >= 1 against the plain mode, interleaved."""
    rng = np.random.default_rng(0)
    shape = quick_shape(AA_UP_SHAPE) if quick else AA_UP_SHAPE
    rows = []
    for dtype in dtypes:
        base = rng.random(shape).astype(dtype)
        for layout, x in (("NCHW", base), ("NHWC", channels_last(base))):
            for mode, plain, taps, plain_taps in AA_UP_PAIRS:
                for scale in AA_UP_SCALES:
                    for n in threads:
                        fns = {
                            "aa": lambda x=x, m=mode, s=scale, n=n: ux.interpolate(
                                x, scale_factor=s, mode=m, antialias=True, num_threads=n),
                            "plain": lambda x=x, m=plain, s=scale, n=n: ux.interpolate(
                                x, scale_factor=s, mode=m, num_threads=n),
                        }
                        med = h.interleaved(fns, budget_s=0.4 if quick else 1.0)
                        ratio = med["aa"] / med["plain"]
                        rows.append({"mode": mode, "plain": plain, "scale": scale,
                                     "dtype": dtype, "layout": layout, "thr": n,
                                     "aa": med["aa"], "plain ms": med["plain"],
                                     "ratio": ratio,
                                     "per tap": ratio * plain_taps / taps})
    return rows


def aa_up_table(rows, markdown):
    headers = ["AA mode", "vs", "scale", "dtype", "layout", "thr", "AA ms", "plain ms",
               "AA / plain", "per tap"]
    body = [[r["mode"], r["plain"], f"×{r['scale']:g}", r["dtype"], r["layout"], str(r["thr"]),
             f"{r['aa'] * 1e3:.3f}", f"{r['plain ms'] * 1e3:.3f}", f"{r['ratio']:.2f}",
             f"{r['per tap']:.2f}"] for r in rows]
    return h.format_table(headers, body, markdown, n_left=6)


def versions():
    return {
        "numpy": np.__version__, "upsamplex": ux.__version__,
        "torch": getattr(torch, "__version__", None), "opencv": getattr(cv2, "__version__", None),
        "Pillow": getattr(PIL, "__version__", None), "scipy": getattr(scipy, "__version__", None),
    }


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--quick", action="store_true",
                        help="smaller batches and fewer rounds, for development")
    parser.add_argument("--markdown", action="store_true", help="print markdown tables")
    parser.add_argument("--only", default=None, help="run workloads whose name contains this")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory table")
    parser.add_argument("--aa-up", action="store_true",
                        help="only the antialias-at-scales->=1 class: AA against the plain "
                             "mode with the same taps")
    return parser.parse_args(argv)


def run(args):
    """Time every selected workload; returns (rows, notes)."""
    load_peers()
    rng = np.random.default_rng(0)
    rows, notes = [], []
    for w in WORKLOADS:
        if args.only and args.only not in w.name:
            continue
        print(f"… {w.name}", file=sys.stderr, flush=True)
        r, nt = bench_workload(w, args.threads, args.quick, rng)
        rows += r
        notes.append(nt[0] + "".join("\n    " + line for line in nt[1:]))
    add_floors(rows)
    return rows, notes


def summary_rows(argv=None):
    """Rows for run_all.py's combined table: ours against torch's best layout."""
    rows, _ = run(parse_args(argv))
    return [{"workload": r["workload"], "layout": r["layout"], "thr": r["thr"],
             "ours": r["ux"], "torch": r["torch best"]} for r in rows]


def main(argv=None):
    args = parse_args(argv)
    if args.aa_up:
        print(("**Machine:** " if args.markdown else "Machine: ") + h.machine_line(versions()))
        print()
        print(aa_up_table(bench_aa_up(args.threads, args.quick), args.markdown))
        return
    rows, notes = run(args)
    headers = ["workload", "layout", "thr", "ux ms", "ux out= ms", "× floor fresh / out="]
    headers += [f"{c} ms (speedup)" for c in PEER_COLUMNS]
    md = args.markdown
    bullet = "- " if md else ""
    print(("**Machine:** " if md else "Machine: ") + h.machine_line(versions()))
    if args.quick:
        print("(--quick: reduced shapes, see notes)")
    print()
    print(h.format_table(headers, format_rows(rows), md, n_left=3))
    print()
    for line in summary(rows, args.threads):
        print(bullet + line)
    for n in args.threads:
        sel = [r for r in rows if r["thr"] == n]
        if sel:
            bw = sorted(r["bw out"] / 1e9 for r in sel)
            best = sel[0]["best bw"]
            print(bullet + f"memcpy with {n} thread(s): floors use {best['out'] / 1e9:.1f} GB/s "
                  f"(copy into a kept buffer) and {best['fresh'] / 1e9:.1f} GB/s "
                  f"(filling a fresh buffer); kept-buffer copies ranged "
                  f"{bw[0]:.1f}–{bw[-1]:.1f} GB/s across groups")
    print()
    print("**Notes**" if md else "Notes:")
    for nt in notes:
        print(("- " if md else "  ") + nt)
    if not args.no_memory:
        print()
        print("Peak memory of one call (fresh spawn child, 1 thread):")
        print()
        print(peak_table(md))


if __name__ == "__main__":
    main()
