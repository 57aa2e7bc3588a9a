"""Training-step time of small decoders: upsamplex.nn + optim against torch (issue 10, class 6).

ConvTransposeNd(8, 16, 4, stride=2, padding=1) -> ReLU -> Upsample(x2, bilinear or
trilinear) -> ConvNd(16, 1, 3, padding=1), MSE loss; input (batch, 8, size, ...).
One step = zero_grad + forward + loss + backward + optimizer step. Both sides are
timed in interleaved rounds (medians).

    OMP_NUM_THREADS=1 python benchmarks/bench_train.py --threads 1 [--sweep] [--markdown]
    OMP_NUM_THREADS=2 python benchmarks/bench_train.py --threads 2 [--sweep] [--markdown]
    python benchmarks/bench_train.py --quick         # the sweep, short rounds

Without ``--sweep``: one configuration (``--dims``, ``--batch``, ``--size``,
``--optimizer``), with its phases timed separately so an overhead can be placed.
``--sweep``: the class: 2-D and 3-D, batch 4 and 32, the smallest and largest
inputs (2-D 16² and 64², 3-D 8³ and 16³), Adam and SGD with momentum.

upsamplex's thread count comes from OMP_NUM_THREADS (read once at import);
``--threads`` sets torch's and checks the two agree.
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness as h  # noqa: E402

# (dims, batch, input size): 3-D batch 32 of 16³ would hold ~0.5 GiB a layer; 8 there.
_CASES = [(2, 4, 16), (2, 4, 64), (2, 32, 16), (2, 32, 64),
          (3, 4, 8), (3, 4, 16), (3, 32, 8), (3, 8, 16)]
SWEEP = [case + (opt,) for case in _CASES for opt in ("Adam", "SGD")]


def build(dims, batch, size, dtype, seed=0):
    import torch

    from upsamplex import nn

    rng = np.random.default_rng(seed)
    up = "bilinear" if dims == 2 else "trilinear"
    model = nn.Sequential(
        getattr(nn, f"ConvTranspose{dims}d")(8, 16, 4, stride=2, padding=1, dtype=dtype,
                                             rng=rng),
        nn.ReLU(),
        nn.Upsample(scale_factor=2, mode=up),
        getattr(nn, f"Conv{dims}d")(16, 1, 3, padding=1, dtype=dtype, rng=rng),
    )
    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    twin = torch.nn.Sequential(
        getattr(torch.nn, f"ConvTranspose{dims}d")(8, 16, 4, stride=2, padding=1,
                                                   dtype=tdtype),
        torch.nn.ReLU(),
        torch.nn.Upsample(scale_factor=2, mode=up),
        getattr(torch.nn, f"Conv{dims}d")(16, 1, 3, padding=1, dtype=tdtype),
    )
    with torch.no_grad():
        for p, tp in zip(model.parameters(), twin.parameters()):
            tp.copy_(torch.from_numpy(p.data))
    x = rng.standard_normal((batch, 8) + (size,) * dims).astype(dtype)
    y = rng.standard_normal((batch, 1) + (4 * size,) * dims).astype(dtype)
    return model, twin, x, y


def steps(dims, batch, size, optimizer, dtype):
    """The two step callables (and what the phases need) of one configuration."""
    import torch

    from upsamplex import nn, optim

    model, twin, x, y = build(dims, batch, size, dtype)
    if optimizer == "Adam":
        opt = optim.Adam(model.parameters(), lr=1e-3)
        topt = torch.optim.Adam(twin.parameters(), lr=1e-3)
    else:
        opt = optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
        topt = torch.optim.SGD(twin.parameters(), lr=1e-3, momentum=0.9)
    loss_fn, tloss_fn = nn.MSELoss(), torch.nn.MSELoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def ux_forward():
        return loss_fn(model(x), y)

    def ux_backward():
        model.backward(loss_fn.backward())

    def ux_step():
        opt.zero_grad()
        ux_forward()
        ux_backward()
        opt.step()

    def torch_step():
        topt.zero_grad()
        tloss_fn(twin(xt), yt).backward()
        topt.step()

    ux_step()  # state exists: step() times the steady state
    torch_step()
    n_params = sum(p.data.size for p in model.parameters())
    return ux_step, torch_step, ux_forward, ux_backward, opt, topt, n_params


def one(args, dtype):
    ux_step, torch_step, ux_forward, ux_backward, opt, topt, n_params = steps(
        args.dims, args.batch, args.size, args.optimizer, dtype)
    times = h.interleaved({"upsamplex": ux_step, "torch": torch_step}, budget_s=args.budget)
    # phases (upsamplex only; the optimizer step alone on the gradients of the last backward)
    phases = h.interleaved({"forward": ux_forward, "backward": lambda: (ux_forward(),
                                                                        ux_backward()),
                            "optimizer step": opt.step}, budget_s=args.budget / 2)
    phases["backward"] -= phases["forward"]
    step_us = {}
    for name, step in (("upsamplex", opt.step), ("torch", topt.step)):
        t0 = time.perf_counter()
        for _ in range(200):
            step()
        step_us[name] = (time.perf_counter() - t0) / 200 * 1e6
    print(f"decoder step, {args.dims}-D, batch {args.batch}, input {args.size}^{args.dims}, "
          f"{np.dtype(dtype).name}, {args.optimizer}, {args.threads} thread(s), "
          f"{n_params} parameters")
    print(f"  upsamplex {times['upsamplex'] * 1e3:8.2f} ms   torch {times['torch'] * 1e3:8.2f} ms"
          f"   torch / upsamplex {times['torch'] / times['upsamplex']:.2f}x")
    print("  upsamplex phases: " + ", ".join(f"{k} {v * 1e3:.2f} ms" for k, v in phases.items()))
    print(f"  {args.optimizer} step alone: upsamplex {step_us['upsamplex']:.0f} us, "
          f"torch {step_us['torch']:.0f} us")


def sweep(args, dtype):
    import upsamplex as ux

    rows = []
    for dims, batch, size, optimizer in SWEEP:
        ux_step, torch_step, *_ = steps(dims, batch, size, optimizer, dtype)
        t = h.interleaved({"upsamplex": ux_step, "torch": torch_step},
                          budget_s=args.budget / 4)
        rows.append([f"{dims}-D", str(batch), f"{size}^{dims}", optimizer,
                     f"{t['upsamplex'] * 1e3:.2f}", f"{t['torch'] * 1e3:.2f}",
                     f"{t['torch'] / t['upsamplex']:.2f}×"])
    print(h.machine_line({"upsamplex": ux.__version__}) + f"; {args.threads} thread(s), "
          f"{np.dtype(dtype).name}")
    print(h.format_table(["decoder", "batch", "input", "optimizer", "ux ms", "torch ms",
                          "torch ÷ ux"], rows, markdown=args.markdown, n_left=4))
    ratios = [float(r[-1][:-1]) for r in rows]
    print(f"geomean {np.exp(np.mean(np.log(ratios))):.2f}×, lowest {min(ratios):.2f}×")


def main():
    import torch

    from upsamplex._kernels import _openmp

    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=None,
                        help="torch's threads (default: upsamplex's, from OMP_NUM_THREADS)")
    parser.add_argument("--sweep", action="store_true", help="the whole class, one table")
    parser.add_argument("--quick", action="store_true", help="the sweep, shorter rounds")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--dims", type=int, default=2, choices=(2, 3))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--optimizer", default="Adam", choices=("Adam", "SGD"))
    parser.add_argument("--budget", type=float, default=6.0)
    parser.add_argument("--float64", action="store_true")
    args = parser.parse_args()
    if args.threads is None:
        args.threads = _openmp.max_threads()
    if args.quick:
        args.sweep, args.budget = True, 2.0
    torch.set_num_threads(args.threads)
    if _openmp.max_threads() != args.threads:
        sys.exit(f"set OMP_NUM_THREADS={args.threads} for upsamplex (it has "
                 f"{_openmp.max_threads()})")
    dtype = np.float64 if args.float64 else np.float32
    (sweep if args.sweep else one)(args, dtype)


if __name__ == "__main__":
    main()
