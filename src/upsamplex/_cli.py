"""The ``upsamplex`` command: resize image files and folders, inspect them, run the demos.

``upsamplex resize``/``info`` need the ``upsamplex[cli]`` extra (Pillow, tifffile, tqdm),
imported only when those commands run; ``demo``, ``train-demo`` and ``pyramid`` are
forwarded to their own modules. Every user mistake ends in one line on stderr and a
non-zero exit status (2 for a bad command line, 1 for a file that failed), never a traceback.
"""

import argparse
import math
import os
import re
import sys
import textwrap
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import cache
from multiprocessing import get_context
from pathlib import Path

import numpy as np

PROG = "upsamplex"
MODES = ("nearest", "nearest-exact", "bilinear", "bicubic", "area", "lanczos")
ANTIALIAS_MODES = ("bilinear", "bicubic", "lanczos")
CLI_EXTRA = 'pip install "upsamplex[cli]"'
# Integer and half-float images go through a float type when upsamplex has no native kernel
# for their dtype and mode; the result is rounded and clipped back to the input's dtype.
_VIA_FLOAT = {
    np.dtype(np.uint8): np.float32, np.dtype(np.int8): np.float32,
    np.dtype(np.uint16): np.float32, np.dtype(np.int16): np.float32,
    np.dtype(np.float16): np.float32,
    np.dtype(np.uint32): np.float64, np.dtype(np.int32): np.float64,
}
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class CliError(Exception):
    """A one-line message for stderr; ``status`` is the exit code."""

    def __init__(self, message, status=1):
        super().__init__(message)
        self.status = status


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit status 2), not a usage dump."""

    def error(self, message):
        raise CliError(f"{self.prog}: error: {message} (see {self.prog} --help)", status=2)


USAGE = f"""usage: {PROG} COMMAND [options]      (python -m upsamplex COMMAND ... works too)

commands:
  resize       resize image files or folders (PNG, JPEG, TIFF, WebP, BMP, .npy)
  info         print an image's shape, dtype, metadata and which modes run natively
  pyramid      write a multi-resolution pyramid of a zarr array (needs upsamplex[dask])
  demo         resize a synthetic test card in every mode, write a PNG grid, print timings
               ({PROG} demo [--out PATH] [--quick])
  train-demo   a small training loop with upsamplex layers ({PROG} train-demo -h)

'{PROG} COMMAND --help' describes each command; resize and info need: {CLI_EXTRA}
"""

RESIZE_EPILOG = """\
examples:
  upsamplex resize photo.jpg -o small.jpg --size 1024x768 --mode bicubic
  upsamplex resize scans/ -o out/ --scale 0.5 --mode area --jobs 2
  upsamplex resize stack.tif -o half.tif --scale 0.5      # every page, 16-bit kept

Sizes are WIDTH x HEIGHT, like every image tool (not numpy's rows x columns); leave one side
out (1024x or x768) to keep the aspect ratio. --scale S gives round(S * size), at least 1.
Antialiasing is on for bilinear and bicubic whenever a side shrinks (PIL's resize), always on
for lanczos.
{dtypes}
EXIF orientation is applied; ICC profile, DPI and EXIF are carried over where the output
format can hold them. Folders are walked recursively and keep their layout; nothing is
overwritten without --force.
"""


def dtype_help():
    """How each image dtype is resampled, asked of this build (so it stays true when
    upsamplex gains native kernels for more dtypes)."""
    lines = []
    for name in ("uint8", "uint16", "int16", "float16"):
        native = [m for m in MODES if native_support(np.dtype(name), m)]
        via = [m for m in MODES if m not in native]
        work = np.dtype(_VIA_FLOAT[np.dtype(name)]).name
        back = "cast back" if name.startswith("float") else "rounded back"
        if not via:
            lines.append(f"{name}: native kernels in every mode.")
        elif not native:
            lines.append(f"{name}: resampled in {work} and {back} to {name} "
                         f"(no native {name} kernels yet); the output stays {name}.")
        else:
            lines.append(f"{name}: native kernels for {', '.join(native)}; "
                         f"{', '.join(via)} in {work}, {back} to {name}.")
    lines.append("float32, float64: native kernels in every mode; int32/uint32 go through "
                 "float64.")
    return "\n".join(textwrap.fill(line, 92, subsequent_indent="  ") for line in lines)


def main(argv=None):
    """Run the command; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        return _main(argv)
    except CliError as exc:
        message = str(exc)
        if not message.startswith(PROG):
            message = f"{PROG}: error: {message}"
        print(message, file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


def _main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, end="")
        return 0
    if argv[0] in ("-V", "--version"):
        from . import __version__

        print(f"{PROG} {__version__}")
        return 0
    command, rest = argv[0], argv[1:]
    if command == "demo":
        from ._demo import main as demo_main

        return demo_main(rest)
    if command == "train-demo":
        try:
            from . import _train_demo
        except ImportError as exc:
            if exc.name != f"{__package__}._train_demo":
                raise  # the module exists but something it imports is missing
            raise CliError("train-demo is not available in this build of upsamplex "
                           "(upsamplex._train_demo is missing).") from None
        return _train_demo.main(rest)
    if command == "pyramid":
        return _pyramid(rest)
    if command == "resize":
        return _resize(rest)
    if command == "info":
        return _info(rest)
    raise CliError(f"unknown command {command!r}\n\n{USAGE}".rstrip("\n"), status=2)


# --------------------------------------------------------------------------- forwarding

def _pyramid(rest):
    try:
        from . import _pyramid_cli
    except ImportError as exc:
        if exc.name == f"{__package__}._pyramid_cli":
            raise CliError("pyramid is not available in this build of upsamplex "
                           "(upsamplex._pyramid_cli is missing).") from None
        raise _missing_extra("pyramid", exc, 'pip install "upsamplex[dask]"') from None
    try:
        return _pyramid_cli.main(rest)
    except ImportError as exc:  # the module may import dask/zarr lazily, inside main()
        if exc.name and exc.name.split(".")[0] in ("dask", "zarr", "numcodecs"):
            raise _missing_extra("pyramid", exc, 'pip install "upsamplex[dask]"') from None
        raise


def _missing_extra(command, exc, how):
    missing = (exc.name or str(exc)).split(".")[0]
    return CliError(f"{PROG} {command}: error: needs the module {missing!r}, which is not "
                    f"installed: {how}")


def _load_imageio(command):
    try:
        from . import _imageio
    except ImportError as exc:
        if exc.name == f"{__package__}._imageio":
            raise
        raise _missing_extra(command, exc, CLI_EXTRA) from None
    return _imageio


# --------------------------------------------------------------------------- resampling

@cache
def native_support(dtype, mode):
    """Does ``upsamplex.interpolate`` run `mode` on `dtype` directly? (Asked, not assumed:
    the answer follows whatever this build of upsamplex supports.)"""
    from . import interpolate

    x = np.zeros((1, 1, 4, 4), dtype)
    try:
        interpolate(x, size=(2, 2), mode=mode, antialias=mode in ANTIALIAS_MODES,
                    num_threads=1)
    except (TypeError, ValueError):
        return False
    return True


def compute_dtype(dtype, mode):
    """The dtype the resampling runs in, or CliError when `dtype` has no path at all."""
    dtype = np.dtype(dtype)
    if native_support(dtype, mode):
        return dtype
    if dtype in _VIA_FLOAT:
        return np.dtype(_VIA_FLOAT[dtype])
    kinds = sorted({str(d) for d in (*_FLOATS, *_VIA_FLOAT)})
    raise CliError(f"mode {mode!r} does not support {dtype} images; supported dtypes: "
                   f"{', '.join(kinds)}")


def want_antialias(mode, in_hw, out_hw, antialias):
    """PIL's rule: antialias when either side shrinks; lanczos always needs it."""
    if mode == "lanczos":
        if antialias is False:
            raise CliError("--no-antialias: lanczos always filters (it is antialiased by "
                           "definition)", status=2)
        return True
    if mode not in ANTIALIAS_MODES:
        if antialias:
            raise CliError(f"--antialias applies to {', '.join(ANTIALIAS_MODES)}, not "
                           f"mode {mode!r}", status=2)
        return False
    if antialias is None:
        return out_hw[0] < in_hw[0] or out_hw[1] < in_hw[1]
    return antialias


def resample(data, axes, out_hw, mode, antialias, num_threads=None):
    """Resize the ``Y`` and ``X`` axes of `data` to `out_hw` = (height, width).

    Every other axis (pages, channels, depth...) is carried through. Returns the result
    in `data`'s dtype and a note (str or None) when it went through a float type.
    """
    from . import interpolate

    work = compute_dtype(data.dtype, mode)
    note = None
    x = data
    if work != data.dtype:
        back = "cast" if data.dtype.kind == "f" else "rounded"
        note = (f"{data.dtype} has no native {mode!r} kernel: resampled in {work} and "
                f"{back} back to {data.dtype}")
        x = data.astype(work)
    # axes= resamples Y and X in place of the array's own layout: pages, channels and any
    # other axes are carried through without a copy or a transpose.
    y = interpolate(x, size=tuple(out_hw), mode=mode, antialias=antialias,
                    axes=(axes.index("Y"), axes.index("X")), num_threads=num_threads)
    if y.dtype != data.dtype:
        if data.dtype.kind in "ui":
            info = np.iinfo(data.dtype)
            y = np.clip(np.rint(y), info.min, info.max)
        y = y.astype(data.dtype)
    return np.ascontiguousarray(y), note


# --------------------------------------------------------------------------- resize

_SIZE_RE = re.compile(r"^\s*(\d*)\s*[xX×]\s*(\d*)\s*$")


def parse_size(text):
    """'1024x768' -> (1024, 768) as (width, height); '1024x' or 'x768' leave one side None."""
    m = _SIZE_RE.match(text)
    if not m or not (m.group(1) or m.group(2)):
        raise CliError(f"--size must be WIDTHxHEIGHT (e.g. 1024x768, or 1024x / x768 to keep "
                       f"the aspect ratio), got {text!r}", status=2)
    w = int(m.group(1)) if m.group(1) else None
    h = int(m.group(2)) if m.group(2) else None
    if w == 0 or h == 0:
        raise CliError(f"--size sides must be at least 1, got {text!r}", status=2)
    return w, h


def parse_scale(text):
    try:
        s = float(text)
    except ValueError:
        raise CliError(f"--scale must be a number > 0, got {text!r}", status=2) from None
    if not math.isfinite(s) or s <= 0:
        raise CliError(f"--scale must be a number > 0, got {text!r}", status=2)
    return s


def output_hw(in_hw, size=None, scale=None):
    """Output (height, width) from --size (width, height) or --scale."""
    h, w = in_hw
    if scale is not None:
        return max(1, round(h * scale)), max(1, round(w * scale))
    out_w, out_h = size
    if out_w is None:
        out_w = max(1, round(w * out_h / h))
    if out_h is None:
        out_h = max(1, round(h * out_w / w))
    return out_h, out_w


@dataclass(frozen=True)
class Job:
    src: str
    dst: str
    size: tuple = None
    scale: float = None
    mode: str = "bicubic"
    antialias: bool = None
    quality: int = None
    num_threads: int = None
    dry_run: bool = False


@dataclass
class Result:
    src: str
    dst: str
    error: str = None
    note: str = None
    plan: str = None


def run_job(job):
    """Read, resize and write one file; every failure becomes ``Result.error`` (one line).

    Module-level so worker processes (spawn) can import and run it.
    """
    try:
        from . import _imageio

        img = _imageio.read_image(job.src)
        if job.dry_run:
            _imageio.format_of(job.dst)
        in_hw = (img.height, img.width)
        out_hw = output_hw(in_hw, job.size, job.scale)
        aa = want_antialias(job.mode, in_hw, out_hw, job.antialias)
        compute_dtype(img.data.dtype, job.mode)
        plan = (f"{job.src} -> {job.dst}: {in_hw[1]}x{in_hw[0]} -> {out_hw[1]}x{out_hw[0]} "
                f"(WxH), {job.mode}{', antialias' if aa else ''}, {img.data.dtype}"
                + (f", {img.pages} pages" if img.pages > 1 else ""))
        if job.dry_run:
            # The output format's limits (dtype, channels, pages) without resampling.
            shape = [0 if a in "YX" else n for n, a in zip(img.data.shape, img.axes)]
            probe = _imageio.Image(np.empty(shape, img.data.dtype), img.axes, img.format)
            _imageio._check_writable(job.dst, probe, _imageio.format_of(job.dst))
            return Result(job.src, job.dst, plan=plan)
        data, note = resample(img.data, img.axes, out_hw, job.mode, aa, job.num_threads)
        out = _imageio.Image(data, img.axes, img.format, img.info)
        try:
            Path(job.dst).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CliError(f"{job.dst}: cannot create its folder "
                           f"({exc.strerror or type(exc).__name__})") from None
        _imageio.write_image(job.dst, out, quality=job.quality)
        notes = "; ".join(n for n in [*img.notes, note] if n) or None
        return Result(job.src, job.dst, note=notes, plan=plan)
    except (CliError, _imageio_error()) as exc:
        return Result(job.src, job.dst, error=str(exc))
    except MemoryError:
        return Result(job.src, job.dst, error=f"{job.src}: not enough memory")
    except Exception as exc:  # a bug or an exotic file: still one line, and the run goes on
        return Result(job.src, job.dst,
                      error=f"{job.src}: {type(exc).__name__}: {' '.join(str(exc).split())}")


def _imageio_error():
    from ._imageio import ImageError

    return ImageError


def _resize_parser():
    p = _Parser(prog=f"{PROG} resize", description="Resize image files or whole folders.",
                epilog=RESIZE_EPILOG.format(dtypes=dtype_help()),
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", help="an image file or a folder (walked recursively)")
    p.add_argument("-o", "--output", required=True,
                   help="output file, or folder (for a folder input, or an existing folder)")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--size", metavar="WxH",
                     help="output WIDTH x HEIGHT in pixels, e.g. 1024x768 (width first); "
                          "1024x or x768 keeps the aspect ratio")
    how.add_argument("--scale", metavar="S", help="multiply both sides by S > 0 (0.5 halves)")
    p.add_argument("--mode", choices=MODES, default="bicubic",
                   help="resampling mode (default: bicubic)")
    aa = p.add_mutually_exclusive_group()
    aa.add_argument("--antialias", dest="antialias", action="store_true", default=None,
                    help="force antialiasing (bilinear/bicubic); default: on when shrinking")
    aa.add_argument("--no-antialias", dest="antialias", action="store_false",
                    help="never antialias (aliasing when shrinking)")
    p.add_argument("--quality", type=int, metavar="Q",
                   help="JPEG/WebP quality 1-95 (Pillow's default 75 when not given)")
    p.add_argument("--format", metavar="EXT", dest="out_format",
                   help="for folders: write this format instead of each input's own "
                        "(png, jpg, tif, webp, bmp, npy)")
    p.add_argument("-j", "--jobs", type=int, default=1, metavar="N",
                   help="worker processes for a folder (default 1)")
    p.add_argument("--threads", type=int, metavar="N",
                   help="threads per resize (default: all CPUs, shared out among --jobs)")
    p.add_argument("-f", "--force", action="store_true", help="overwrite existing outputs")
    p.add_argument("-n", "--dry-run", action="store_true",
                   help="print what would be written, write nothing")
    bar = p.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None,
                     help="always show the progress bar (default: on a terminal)")
    bar.add_argument("--no-progress", dest="progress", action="store_false")
    return p


def _resize(argv):
    args = _resize_parser().parse_args(argv)
    imageio = _load_imageio("resize")
    size = parse_size(args.size) if args.size is not None else None
    scale = parse_scale(args.scale) if args.scale is not None else None
    if args.quality is not None and not 1 <= args.quality <= 100:
        raise CliError(f"--quality must be 1-100, got {args.quality}", status=2)
    if args.jobs < 1:
        raise CliError(f"--jobs must be at least 1, got {args.jobs}", status=2)
    if args.threads is not None and args.threads < 1:
        raise CliError(f"--threads must be at least 1, got {args.threads}", status=2)
    if args.antialias is not None:
        want_antialias(args.mode, (2, 2), (1, 1), args.antialias)  # flag/mode mismatch only
    out_suffix = None
    if args.out_format is not None:
        out_suffix = "." + args.out_format.lower().lstrip(".")
        if out_suffix not in imageio.FORMATS:
            raise CliError(f"--format: unknown format {args.out_format!r}; known: "
                           f"{', '.join(sorted(s[1:] for s in imageio.FORMATS))}", status=2)

    src = Path(args.input)
    dst = Path(args.output)
    if not src.exists():
        raise CliError(f"{src}: no such file or folder")
    threads = args.threads
    if threads is None and args.jobs > 1:
        threads = max(1, available_cpus() // args.jobs)
    common = dict(size=size, scale=scale, mode=args.mode, antialias=args.antialias,
                  quality=args.quality, num_threads=threads, dry_run=args.dry_run)

    if src.is_dir():
        return _resize_folder(src, dst, out_suffix, args, common, imageio)

    # One file.
    try:
        imageio.format_of(src)
    except imageio.ImageError as exc:
        raise CliError(str(exc)) from None
    if dst.is_dir():
        dst = dst / (src.stem + (out_suffix or src.suffix))
    _check_parent(dst)
    if dst.exists() and not args.force and not args.dry_run:
        raise CliError(f"{dst}: already exists (use --force to overwrite)")
    result = run_job(Job(str(src), str(dst), **common))
    if result.error:
        raise CliError(result.error)
    if args.dry_run:
        print(f"would write {result.plan}{_exists_note(dst, args.force)}")
    elif result.note:
        print(f"note: {result.src}: {result.note}", file=sys.stderr)
    return 0


def _exists_note(dst, force):
    if not Path(dst).exists():
        return ""
    return " (exists: overwritten)" if force else " (exists: kept unless --force)"


def available_cpus():
    """CPUs this process may use: its affinity mask, capped by a cgroup CPU quota."""
    from ._cpu import cpu_quota_threads

    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS and Windows have no affinity call
        n = os.cpu_count() or 1
    quota = cpu_quota_threads()
    return max(1, n if quota is None else min(n, quota))


def _check_parent(dst):
    for parent in dst.parents:
        if parent.exists():
            if not parent.is_dir():
                raise CliError(f"{parent}: output folder is a file")
            return


def _resize_folder(src, dst, out_suffix, args, common, imageio):
    if dst.exists() and not dst.is_dir():
        raise CliError(f"{dst}: output folder is a file")
    _check_parent(dst)
    src_abs, dst_abs = src.resolve(), dst.resolve()
    inputs, skipped = [], 0
    for path in sorted(src.rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        if dst_abs == path.resolve().parent or dst_abs in path.resolve().parents:
            continue  # outputs written inside the input folder are not inputs
        if path.suffix.lower() in imageio.FORMATS:
            inputs.append(path)
        else:
            skipped += 1
    if not inputs:
        raise CliError(f"{src}: no image files found (looked for "
                       f"{', '.join(sorted(imageio.FORMATS))})")

    jobs, failures = [], []
    for path in inputs:
        rel = path.resolve().relative_to(src_abs)
        out = dst / rel
        if out_suffix:
            out = out.with_suffix(out_suffix)
        if out.exists() and not args.force and not args.dry_run:
            failures.append(Result(str(path), str(out),
                                   error=f"{out}: already exists (use --force to overwrite)"))
            continue
        jobs.append(Job(str(path), str(out), **common))

    start = time.perf_counter()
    results = []
    if args.dry_run:
        for job in jobs:
            r = run_job(job)
            if r.error:
                failures.append(r)
            else:
                print(f"would write {r.plan}{_exists_note(job.dst, args.force)}")
                results.append(r)
    else:
        from tqdm import tqdm

        progress = args.progress if args.progress is not None else sys.stderr.isatty()
        with tqdm(total=len(jobs), unit="file", disable=not progress, file=sys.stderr,
                  desc="resize") as bar:
            if args.jobs == 1 or len(jobs) == 1:
                for job in jobs:
                    results.append(run_job(job))
                    bar.update()
            else:
                # spawn: no fork of a process whose OpenMP runtime already started threads.
                with ProcessPoolExecutor(max_workers=min(args.jobs, len(jobs)),
                                         mp_context=get_context("spawn")) as pool:
                    futures = {pool.submit(run_job, job): job for job in jobs}
                    for fut in as_completed(futures):
                        try:
                            results.append(fut.result())
                        except Exception as exc:  # a worker died (out of memory, killed)
                            job = futures[fut]
                            results.append(Result(job.src, job.dst, error=(
                                f"{job.src}: worker process failed ({type(exc).__name__})")))
                        bar.update()
        failures.extend(r for r in results if r.error)
    elapsed = time.perf_counter() - start

    done = [r for r in results if not r.error]
    notes = sorted({r.note for r in done if r.note})
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    verb = "would resize" if args.dry_run else "resized"
    line = (f"{verb} {len(done)} of {len(inputs)} files in {elapsed:.2f} s"
            f" ({args.jobs} job{'s' if args.jobs > 1 else ''})"
            + (f", {len(failures)} failed" if failures else "")
            + (f"; {skipped} non-image files ignored" if skipped else ""))
    print(line, file=sys.stderr if failures else sys.stdout)
    for r in sorted(failures, key=lambda r: r.src):
        print(f"  failed: {r.error}", file=sys.stderr)
    return 1 if failures else 0


# --------------------------------------------------------------------------- info

def _info(argv):
    p = _Parser(prog=f"{PROG} info",
                description="Print an image's size, dtype, metadata and mode support.")
    p.add_argument("files", nargs="+", metavar="FILE")
    args = p.parse_args(argv)
    imageio = _load_imageio("info")
    status = 0
    for name in args.files:
        try:
            img = imageio.read_image(name)
        except imageio.ImageError as exc:
            print(f"{PROG}: error: {exc}", file=sys.stderr)
            status = 1
            continue
        print(describe(name, img))
    return status


def describe(name, img):
    d = img.data.dtype
    lines = [f"{name}: {img.format}, {img.width}x{img.height} (WxH), "
             f"{img.channels} channel{'s' if img.channels > 1 else ''}, {d}"
             + (f", {img.pages} pages" if img.pages > 1 else "")]
    lines.append(f"  array: shape {tuple(img.data.shape)}, axes {img.axes}")
    meta = list(img.notes)
    if img.info.get("icc_profile"):
        meta.append(f"ICC profile ({len(img.info['icc_profile'])} bytes)")
    if img.info.get("dpi"):
        meta.append("dpi " + "x".join(f"{v:g}" for v in img.info["dpi"]))
    if img.info.get("exif"):
        meta.append(f"EXIF ({len(img.info['exif'])} bytes)")
    if img.info.get("resolution"):
        meta.append("resolution " + "x".join(f"{v:g}" for v in img.info["resolution"]))
    if meta:
        lines.append("  metadata: " + ", ".join(meta))
    native, via, none = [], [], []
    for mode in MODES:
        try:
            work = compute_dtype(d, mode)
        except CliError:
            none.append(mode)
            continue
        (native if work == d else via).append(mode if work == d else f"{mode} ({work})")
    if native:
        lines.append(f"  native {d} kernels: {', '.join(native)}")
    if via:
        lines.append(f"  through a float type, rounded back to {d}: {', '.join(via)}")
    if none:
        lines.append(f"  not supported for {d}: {', '.join(none)}")
    return "\n".join(textwrap.fill(line, 92, subsequent_indent="  ") for line in lines)


if __name__ == "__main__":
    sys.exit(main())
