"""Run the picture scripts at build time and write the gallery page's body.

Every ``docs/gallery/*.py`` and ``docs/plots/*.py`` script runs in its own process as
``python SCRIPT OUT.png``, in OUT.png's folder, and must write that one PNG (matplotlib,
Agg backend); a ``SCRIPT.png`` written next to the script instead is taken too. The
gallery body lists every gallery script, ``plot_modes.py`` first, then by file name: the
first line of its docstring is the title and the rest the caption (reStructuredText),
then the picture and the script's code. A new script in ``docs/gallery/`` therefore
appears with no other change; one that fails, or writes no PNG, fails the build with its
error output.
"""

import ast
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)
GENERATED = "_generated"
SCRIPT_DIRS = ("gallery", "plots")
FIRST = "plot_modes"


def title_and_caption(script):
    """(title, caption) from the module docstring; the file name if there is none."""
    doc = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8"))) or ""
    first, _, rest = doc.strip().partition("\n")
    title = first.strip().rstrip(".") or script.stem.removeprefix("plot_").replace("_", " ")
    return title, rest.strip()


def code_start(script):
    """First line after the module docstring (shown above the picture already)."""
    tree = ast.parse(script.read_text(encoding="utf-8"))
    first = tree.body[0] if tree.body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
            and isinstance(first.value.value, str):
        return first.end_lineno + 1
    return 1


def run_script(script, png):
    """Run one script; the PNG it wrote, or an ExtensionError with its output."""
    png.unlink(missing_ok=True)
    env = {**os.environ, "MPLBACKEND": "Agg"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, str(script), str(png)], cwd=png.parent, env=env,
                          capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise ExtensionError(f"docs picture script {script} failed (exit {proc.returncode}):\n"
                             f"{proc.stdout}{proc.stderr}")
    beside = script.with_suffix(".png")
    if not png.is_file() and beside.is_file():
        # a script run by hand writes next to itself; take that picture (and move it out
        # of the source tree)
        beside.replace(png)
    if not png.is_file():
        raise ExtensionError(f"docs picture script {script} wrote no {png.name}: a script gets "
                             "the PNG's path as its first argument and must write it")
    logger.info(f"[gallery] {script.relative_to(script.parents[1])}: {seconds:.1f} s")
    return png


def _indent(text, spaces=3):
    pad = " " * spaces
    return "\n".join(pad + line if line.strip() else "" for line in text.splitlines())


def gallery_body(entries):
    """reStructuredText for the gallery page: a section per script."""
    parts = []
    for script, title in entries:
        rel_png = f"{GENERATED}/gallery/{script.stem}.png"
        _, caption = title_and_caption(script)
        parts.append("\n".join([
            f".. _gallery-{script.stem}:",
            "",
            title,
            "-" * len(title),
            "",
            f".. figure:: {rel_png}",
            f"   :alt: {title}",
            "   :width: 100%",
            "",
            _indent(caption) if caption else f"   {title}",
            "",
            f".. literalinclude:: gallery/{script.name}",
            "   :language: python",
            f"   :lines: {code_start(script)}-",
            f"   :caption: docs/gallery/{script.name}",
            "",
        ]))
    return "\n".join(parts)


def build_pictures(app):
    src = Path(app.srcdir)
    jobs = []
    for sub in SCRIPT_DIRS:
        out_dir = src / GENERATED / sub
        out_dir.mkdir(parents=True, exist_ok=True)
        # the overview (every mode) first, then by file name
        scripts = sorted((src / sub).glob("*.py"), key=lambda p: (p.stem != FIRST, p.name))
        jobs += [(script, out_dir / f"{script.stem}.png") for script in scripts]
    # one process per script, as many at once as there are cores: most of their time is
    # importing matplotlib
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for done in [pool.submit(run_script, script, png) for script, png in jobs]:
            done.result()  # re-raises a script's failure
    entries = [(script, title_and_caption(script)[0]) for script, _ in jobs
               if script.parent.name == "gallery"]
    if not entries:
        raise ExtensionError(f"no gallery scripts found in {src / 'gallery'}")
    body = gallery_body(entries)
    target = src / GENERATED / "gallery.inc"
    # rewrite only on change, so an unchanged gallery does not force a re-read
    if not target.exists() or target.read_text(encoding="utf-8") != body:
        target.write_text(body, encoding="utf-8")


def setup(app):
    app.connect("builder-inited", build_pictures)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
