"""Run every ``bench_*.py`` next to this file and print one combined table.

    python benchmarks/run_all.py [--quick] [--markdown] [--threads 1 2]

A benchmark module joins the combined table by defining
``summary_rows(argv) -> list of dict`` with keys ``workload``, ``layout``, ``thr``,
``ours`` and ``torch`` (seconds; ``torch`` may be None). One without it is run as
a script (with ``--quick`` if given, no other flag) and its own output shown.
"""

import argparse
import glob
import importlib.util
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import _harness as h  # noqa: E402


def load(path):
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # spawned children (peak memory) import it by name
    spec.loader.exec_module(module)
    return module


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--threads", nargs="+", default=["1", "2"])
    args = parser.parse_args(argv)
    bench_argv = ["--threads", *args.threads] + (["--quick"] if args.quick else [])

    rows, versions = [], {"numpy": __import__("numpy").__version__}
    for path in sorted(glob.glob(os.path.join(HERE, "bench_*.py"))):
        module = load(path)
        bench = module.__name__.removeprefix("bench_")
        if hasattr(module, "summary_rows"):
            rows += [dict(r, bench=bench)
                     for r in module.summary_rows(bench_argv + ["--no-memory"])]
            versions.update(getattr(module, "versions", dict)())
        else:
            # Its flags are its own business: pass only --quick, which every bench takes.
            print(f"== {bench} (no summary_rows; its own output) ==", flush=True)
            quick = ["--quick"] if args.quick else []
            subprocess.run([sys.executable, path, *quick], check=False)
            print()
    if rows:
        print(("**Machine:** " if args.markdown else "Machine: ") + h.machine_line(versions))
        print()
        headers = ["bench", "workload", "layout", "thr", "upsamplex ms", "torch ms",
                   "speedup vs torch"]
        speedups = [r["torch"] / r["ours"] if r["torch"] else None for r in rows]
        table = [[r["bench"], r["workload"], r["layout"], str(r["thr"]), h.ms(r["ours"]),
                  h.ms(r["torch"]), h.ratio(s)] for r, s in zip(rows, speedups)]
        print(h.format_table(headers, table, args.markdown, n_left=4))
        print()
        print(f"geomean speedup vs torch: {h.geomean(speedups):.2f}×")


if __name__ == "__main__":
    main()
