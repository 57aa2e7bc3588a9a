"""Time upsamplex's conv / conv_transpose (forward and backward) against torch on the CPU.

Both sides use the same thread count (``torch.set_num_threads`` and ``num_threads=``).
Runs are interleaved (A B, B A, ...) so machine noise hits both alike; the speedup
printed is the median of the per-pair ratios torch_time / upsamplex_time (> 1: we are
faster).

    python benchmarks/bench_conv.py            # about a minute or two
    python benchmarks/bench_conv.py --quick    # a few seconds
    python benchmarks/bench_conv.py --few      # the few-channel class, 1 and 2 threads
                                               # (1 thread timed in CPU time; --wall-time)
    python benchmarks/bench_conv.py --few --quick   # its smaller sample, < 1 minute
"""

import argparse
import os
import statistics
import time

# name, transposed, x shape, out channels, kernel, stride, padding
CASES = [
    ("convT2d 16x64x64x64 64->32 k4s2p1", True, (16, 64, 64, 64), 32, 4, 2, 1),
    ("convT3d 2x16x16x32x32 16->8 k4s2p1", True, (2, 16, 16, 32, 32), 8, 4, 2, 1),
    ("convT1d 16x64x4096 64->32 k4s2p1", True, (16, 64, 4096), 32, 4, 2, 1),
    ("conv2d 16x64x64x64 64->64 k3s1p1", False, (16, 64, 64, 64), 64, 3, 1, 1),
    ("conv2d 16x64x64x64 64->128 k1 (matmul)", False, (16, 64, 64, 64), 128, 1, 1, 0),
]


# The few-channel class (issue 10): C_in, C_out in {1, 3, 4, 8, 16, 32, 64}, kernel 2-4,
# stride 1-2, 32^2..512^2, batch 1-16. The full grid is ~5000 cases; this sample walks
# it diagonally so every value of every axis appears: (transposed, N, C_in, C_out, size,
# kernel, stride, padding). The seed tutorial's ConvTranspose2d 3->3 k3 s2 comes first.
FEW_CHANNEL = [
    (True, 4, 3, 3, 64, 3, 2, 1),
    (True, 1, 3, 3, 256, 3, 2, 1),
    (False, 1, 3, 16, 256, 3, 1, 1),
    (False, 16, 1, 1, 64, 2, 2, 0),
    (True, 8, 4, 4, 32, 4, 2, 1),
    (False, 4, 8, 8, 128, 3, 2, 1),
    (True, 2, 16, 8, 64, 4, 2, 1),
    (False, 2, 16, 16, 128, 4, 1, 1),
    (True, 1, 32, 3, 128, 3, 1, 1),
    (False, 1, 64, 3, 128, 3, 1, 1),
    (True, 4, 8, 32, 32, 2, 2, 0),
    (False, 1, 3, 64, 512, 4, 2, 1),
    (True, 1, 1, 1, 512, 3, 2, 1),
    (False, 16, 4, 4, 32, 3, 1, 1),
    # Corners the diagonal misses: kernel 2 stride 1, a transposed kernel 4 stride 1,
    # a batch of 16 at 128^2.
    (False, 8, 3, 8, 128, 2, 1, 0),
    (True, 16, 4, 3, 64, 4, 1, 1),
    (False, 16, 3, 3, 128, 3, 2, 1),
]
# --quick: the first cases, at most 64^2 and batch 4.
FEW_CHANNEL_QUICK = 8


def few_channel_cases(quick):
    cases = FEW_CHANNEL[:FEW_CHANNEL_QUICK] if quick else FEW_CHANNEL
    for transposed, n, c_in, c_out, size, k, stride, padding in cases:
        if quick:
            n, size = min(n, 4), min(size, 64)
        kind = "convT2d" if transposed else "conv2d"
        name = f"{kind} {n}x{c_in}x{size}^2 {c_in}->{c_out} k{k}s{stride}p{padding}"
        yield name, transposed, (n, c_in, size, size), c_out, k, stride, padding


def make_ops(np, torch, ux, transposed, x_shape, c_out, k, stride, padding, threads, dtype):
    rng = np.random.default_rng(0)
    nd = len(x_shape) - 2
    c_in = x_shape[1]
    w_shape = ((c_in, c_out) if transposed else (c_out, c_in)) + (k,) * nd
    x = rng.standard_normal(x_shape, dtype=dtype)
    w = rng.standard_normal(w_shape, dtype=dtype) * dtype(1 / np.sqrt(c_in * k**nd))
    b = rng.standard_normal(c_out, dtype=dtype)
    xt, wt, bt = (torch.from_numpy(a) for a in (x, w, b))
    ours_f = getattr(ux, f"conv_transpose{nd}d" if transposed else f"conv{nd}d")
    torch_f = getattr(torch.nn.functional, f"conv_transpose{nd}d" if transposed else f"conv{nd}d")
    geometry = dict(stride=stride, padding=padding)
    y = ours_f(x, w, b, num_threads=threads, **geometry)
    gy = rng.standard_normal(y.shape, dtype=dtype)
    gyt = torch.from_numpy(gy)
    ours_b = ux.conv_transpose_backward if transposed else ux.conv_backward
    zeros = [0] * nd

    def torch_backward():
        # aten's own backward kernel: the part autograd runs, without graph overhead.
        return torch.ops.aten.convolution_backward(
            gyt,
            xt,
            wt,
            [c_out],
            [stride] * nd,
            [padding] * nd,
            [1] * nd,
            transposed,
            zeros,
            1,
            [True, True, True],
        )

    forward = (
        lambda: ours_f(x, w, b, num_threads=threads, **geometry),
        lambda: torch_f(xt, wt, bt, **geometry),
    )
    backward = (lambda: ours_b(gy, x, w, num_threads=threads, **geometry), torch_backward)
    return forward, backward


def timed(f, clock=time.perf_counter):
    t0 = clock()
    f()
    return clock() - t0


def interleaved(ours, theirs, repeats, clock=time.perf_counter):
    ours(), theirs()  # warm up (allocator, thread pools)
    t_ours, t_theirs, ratios = [], [], []
    for i in range(repeats):
        # Alternate which side goes first (A B, B A, ...): torch's OpenMP threads spin for
        # a while after each call and would otherwise always slow the call right after it.
        if i % 2:
            b, a = timed(theirs, clock), timed(ours, clock)
        else:
            a, b = timed(ours, clock), timed(theirs, clock)
        t_ours.append(a)
        t_theirs.append(b)
        ratios.append(b / a)
    return statistics.median(t_ours), statistics.median(t_theirs), statistics.median(ratios)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, smaller batch")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument(
        "--few", action="store_true", help="the few-channel sweep class, on 1 and 2 threads"
    )
    parser.add_argument(
        "--wall-time",
        dest="cpu_time",
        action="store_false",
        help="--few: time the one-thread rows in wall time too (default: process CPU time)",
    )
    args = parser.parse_args()
    # NumPy's OpenBLAS reads its thread count once, at import. Our GEMM lowerings hold it to
    # one thread inside their OpenMP team (threadpoolctl); without threadpoolctl they run on
    # one thread with BLAS's own threads: then this count makes them match torch's.
    os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
    # As in bench_interpolate.py: two OpenMP runtimes (torch's and ours) interleaved
    # must not spin-wait on the cores the other needs.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import numpy as np
    import torch

    import upsamplex as ux
    from upsamplex._kernels import _openmp

    repeats = args.repeats or (3 if args.quick else 7)
    if args.few:
        return few_channel(np, torch, ux, args, repeats)
    torch.set_num_threads(args.threads)
    dtype = getattr(np, args.dtype)
    print(
        f"threads={args.threads} (torch, upsamplex and OpenBLAS), {args.dtype}, "
        f"repeats={repeats}, "
        f"openmp={_openmp.openmp_enabled()}, torch {torch.__version__}; {blas_note()}"
    )
    print(f"{'case':42s} {'pass':8s} {'ours ms':>9s} {'torch ms':>9s} {'speedup':>8s}")
    for name, transposed, x_shape, c_out, k, stride, padding in CASES:
        if args.quick:
            x_shape = (max(1, x_shape[0] // 4),) + x_shape[1:]
        ops = make_ops(
            np, torch, ux, transposed, x_shape, c_out, k, stride, padding, args.threads, dtype
        )
        for label, (ours, theirs) in zip(("forward", "backward"), ops):
            t_ours, t_theirs, ratio = interleaved(ours, theirs, repeats)
            print(f"{name:42s} {label:8s} {t_ours * 1e3:9.1f} {t_theirs * 1e3:9.1f} {ratio:7.2f}x")


def blas_note():
    """How our GEMMs are threaded: the BLAS threadpoolctl holds to one thread, or none."""
    from upsamplex import _conv_threads

    libs = _conv_threads.blas_controllers()
    if libs is None:
        return "no threadpoolctl: GEMM lowerings on 1 thread, BLAS on its own threads"
    names = ", ".join(f"{lib.internal_api} {lib.version}" for lib in libs) or "none found"
    return f"BLAS held to 1 thread in the team: {names}"


def few_channel(np, torch, ux, args, repeats):
    """The few-channel class on 1 and 2 threads; one row per case, pass and thread count."""
    from upsamplex._kernels import _openmp

    dtype = getattr(np, args.dtype)
    print(
        f"few-channel class, {args.dtype}, repeats={repeats} (medians of interleaved pairs; "
        f"1 thread: {'process CPU' if args.cpu_time else 'wall'} time, 2 threads: wall time), "
        f"openmp={_openmp.openmp_enabled()}, torch {torch.__version__}; {blas_note()}"
    )
    print(f"{'case':40s} {'pass':8s} {'thr':>3s} {'ours ms':>9s} {'torch ms':>9s} {'speedup':>8s}")
    ratios = []
    for name, transposed, x_shape, c_out, k, stride, padding in few_channel_cases(args.quick):
        for threads in (1, 2):
            torch.set_num_threads(threads)
            ops = make_ops(
                np, torch, ux, transposed, x_shape, c_out, k, stride, padding, threads, dtype
            )
            # One thread: process CPU time (both sides run on this thread alone), which
            # other processes on a shared machine disturb far less than wall time; two
            # threads: wall time.
            clock = time.process_time if threads == 1 and args.cpu_time else time.perf_counter
            for label, (ours, theirs) in zip(("forward", "backward"), ops):
                t_ours, t_theirs, ratio = interleaved(ours, theirs, repeats, clock)
                ratios.append(ratio)
                print(
                    f"{name:40s} {label:8s} {threads:3d} {t_ours * 1e3:9.2f} "
                    f"{t_theirs * 1e3:9.2f} {ratio:7.2f}x",
                    flush=True,
                )
    below = sum(r < 1 for r in ratios)
    print(
        f"geometric mean {statistics.geometric_mean(ratios):.2f}x; "
        f"{below} of {len(ratios)} below 1.0x"
    )


if __name__ == "__main__":
    main()
