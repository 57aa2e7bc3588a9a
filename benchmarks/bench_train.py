"""Training-step time of a small decoder: upsamplex.nn + optim against torch (issue 10, class 6).

ConvTranspose2d(8, 16, 4, stride=2, padding=1) -> ReLU -> Upsample(x2, bilinear)
-> Conv2d(16, 1, 3, padding=1), MSE loss, Adam; input (batch, 8, size, size).
One step = zero_grad + forward + loss + backward + optimizer step. Both sides
are timed in interleaved rounds (medians), and the three phases are timed
separately too, so an overhead can be placed.

    OMP_NUM_THREADS=1 python benchmarks/bench_train.py --threads 1
    OMP_NUM_THREADS=2 python benchmarks/bench_train.py --threads 2

upsamplex's thread count comes from OMP_NUM_THREADS (read once at import);
``--threads`` sets torch's and checks the two agree.
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import interleaved  # noqa: E402


def build(batch, size, dtype, seed=0):
    import torch

    from upsamplex import nn

    rng = np.random.default_rng(seed)
    model = nn.Sequential(
        nn.ConvTranspose2d(8, 16, 4, stride=2, padding=1, dtype=dtype, rng=rng),
        nn.ReLU(),
        nn.Upsample(scale_factor=2, mode="bilinear"),
        nn.Conv2d(16, 1, 3, padding=1, dtype=dtype, rng=rng),
    )
    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    twin = torch.nn.Sequential(
        torch.nn.ConvTranspose2d(8, 16, 4, stride=2, padding=1, dtype=tdtype),
        torch.nn.ReLU(),
        torch.nn.Upsample(scale_factor=2, mode="bilinear"),
        torch.nn.Conv2d(16, 1, 3, padding=1, dtype=tdtype),
    )
    with torch.no_grad():
        for p, tp in zip(model.parameters(), twin.parameters()):
            tp.copy_(torch.from_numpy(p.data))
    x = rng.standard_normal((batch, 8, size, size)).astype(dtype)
    y = rng.standard_normal((batch, 1, 4 * size, 4 * size)).astype(dtype)
    return model, twin, x, y


def main():
    import torch

    from upsamplex import nn, optim
    from upsamplex._kernels import _openmp

    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--budget", type=float, default=6.0)
    parser.add_argument("--float64", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if _openmp.max_threads() != args.threads:
        sys.exit(f"set OMP_NUM_THREADS={args.threads} for upsamplex (it has "
                 f"{_openmp.max_threads()})")
    dtype = np.float64 if args.float64 else np.float32
    model, twin, x, y = build(args.batch, args.size, dtype)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    topt = torch.optim.Adam(twin.parameters(), lr=1e-3)
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
    times = interleaved({"upsamplex": ux_step, "torch": torch_step}, budget_s=args.budget)

    # phases (upsamplex only; the optimizer step alone on the gradients of the last backward)
    phases = interleaved({"forward": ux_forward, "backward": lambda: (ux_forward(),
                                                                      ux_backward()),
                          "optimizer step": opt.step}, budget_s=args.budget / 2)
    phases["backward"] -= phases["forward"]
    t0 = time.perf_counter()
    for _ in range(200):
        opt.step()
    adam_us = (time.perf_counter() - t0) / 200 * 1e6
    t0 = time.perf_counter()
    for _ in range(200):
        topt.step()
    tadam_us = (time.perf_counter() - t0) / 200 * 1e6

    n_params = sum(p.data.size for p in model.parameters())
    print(f"decoder step, batch {args.batch}, input {args.size}x{args.size}, "
          f"{np.dtype(dtype).name}, Adam, {args.threads} thread(s), {n_params} parameters")
    print(f"  upsamplex {times['upsamplex'] * 1e3:8.2f} ms   torch {times['torch'] * 1e3:8.2f} ms"
          f"   ratio {times['upsamplex'] / times['torch']:.2f}x")
    print("  upsamplex phases: " + ", ".join(f"{k} {v * 1e3:.2f} ms" for k, v in phases.items()))
    print(f"  Adam step alone: upsamplex {adam_us:.0f} us, torch {tadam_us:.0f} us")


if __name__ == "__main__":
    main()
