"""The README's benchmark tables as a plot

Parses the tables of the README's Performance section (the one place the numbers are
written) and plots each workload's speedup: upsamplex's time against torch's (same
layout) and OpenCV's for interpolate, against torch's for convolution, at 1 and 2 threads.
"""

import re
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

README = Path(__file__).resolve().parents[2] / "README.md"


def performance_tables(text):
    """The markdown tables of the '## Performance' section, as lists of cell rows."""
    section = text.split("\n## Performance", 1)[1].split("\n## ", 1)[0]
    tables, current = [], []
    for line in section.splitlines() + [""]:
        if line.startswith("|"):
            current.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif current:
            tables.append([row for row in current if not set("".join(row)) <= set("-: ")])
            current = []
    return tables


def number(cell):
    """'81.3 (4.76×)' -> 81.3; '–' -> nan."""
    match = re.match(r"[\d.]+", cell)
    return float(match.group()) if match else float("nan")


def find_table(tables, column):
    for table in tables:
        if column in table[0]:
            return table
    raise SystemExit(f"README's Performance section has no table with a {column!r} column")


def interpolate_speedups(table):
    """{threads: (labels, vs torch same layout, vs OpenCV)} from the first-layout rows."""
    head = table[0]
    col = {name: head.index(name) for name in
           ("workload", "layout", "thr", "ux ms", "torch NCHW ms (speedup)",
            "torch NHWC ms (speedup)", "OpenCV ms (speedup)")}
    out = {}
    for row in table[1:]:
        layout = row[col["layout"]]
        if layout.startswith("N") and layout[1] == "C":  # NCHW, NCDHW, NCL: contiguous torch
            labels, torch_x, cv_x = out.setdefault(int(row[col["thr"]]), ([], [], []))
            ours = number(row[col["ux ms"]])
            labels.append(row[col["workload"]])
            torch_x.append(number(row[col["torch NCHW ms (speedup)"]]) / ours)
            cv_x.append(number(row[col["OpenCV ms (speedup)"]]) / ours)
    return out


def conv_speedups(table):
    head = table[0]
    labels = [f"{row[0].split(' ')[0]} {row[0].split(' ', 1)[1]}, {row[1]}" for row in table[1:]]
    speedup_cols = [i for i, name in enumerate(head) if name == "speedup"]
    one, two = ([number(row[i]) for row in table[1:]] for i in speedup_cols[:2])
    return labels, one, two


def barh(ax, labels, series, title, log=True):
    y = np.arange(len(labels))
    height = 0.8 / len(series)
    for k, (name, values) in enumerate(series):
        ax.barh(y + (k - (len(series) - 1) / 2) * height, values, height, label=name)
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    if log:
        ax.set_xscale("log")
    ax.axvline(1, color="k", lw=0.8)
    scale = ", log scale" if log else ""
    ax.set_xlabel(f"speedup (peer ms ÷ upsamplex ms){scale}; > 1: upsamplex faster")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper right")


def main(out):
    tables = performance_tables(README.read_text(encoding="utf-8"))
    interp = interpolate_speedups(find_table(tables, "ux ms"))
    conv_labels, conv1, conv2 = conv_speedups(find_table(tables, "pass"))
    fig, axes = plt.subplots(1, 2, figsize=(15, 8), layout="constrained",
                             gridspec_kw={"width_ratios": [1.1, 1]})
    labels = interp[1][0]
    barh(axes[0], labels, [
        ("vs torch, 1 thread", interp[1][1]), ("vs torch, 2 threads", interp[2][1]),
        ("vs OpenCV, 1 thread", interp[1][2]), ("vs OpenCV, 2 threads", interp[2][2]),
    ], "interpolate (float32 unless named; torch and ours on NCHW-type arrays)")
    barh(axes[1], conv_labels, [("vs torch, 1 thread", conv1), ("vs torch, 2 threads", conv2)],
         "convolution and transposed convolution (float32)", log=False)
    fig.savefig(out, dpi=72, bbox_inches="tight", pad_inches=0.1)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "plot_benchmarks.png")
