"""Sphinx configuration for the upsamplex documentation.

Build: ``sphinx-build -W --keep-going -b html docs docs/_build/html`` (``.ci/docs`` does it in
a fresh venv). Before reading the sources, ``_ext/gallery.py`` runs every ``docs/gallery/*.py``
and ``docs/plots/*.py`` script (the benchmark plot parses the README's tables); the pictures
go to ``docs/_generated/``, which is never committed.
"""

import inspect
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

import upsamplex  # noqa: E402

project = "upsamplex"
author = "the upsamplex developers"
copyright = "the upsamplex developers"
version = release = upsamplex.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",  # to include the README's sections, so they are written once
    "gallery",
]

source_suffix = {".rst": "restructuredtext"}
exclude_patterns = ["_build", "_generated"]
templates_path = []

# numpydoc renders the docstrings' Parameters / Returns / Examples sections.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = set()
autosummary_generate = False
autodoc_default_options = {"members": False}
# the README's GitHub-style anchors (#training-a-small-decoder) are not Sphinx targets
myst_heading_anchors = 3
suppress_warnings = ["myst.xref_missing"]

html_theme = "furo"
html_title = f"upsamplex {release}"
html_static_path = []

# The docstrings write shapes with Python's unpacking star in plain text, "(N, C, *spatial)",
# which reStructuredText reads as the start of emphasis. Escape a lone star before a name,
# outside ``literals`` and doctest lines, so the docstrings can stay as they read in help().
_UNPACKING_STAR = re.compile(r"(?<![\\*\w`])\*(?=[A-Za-z_])(?![A-Za-z_]\w*\*)")


def _escape_unpacking_stars(app, what, name, obj, options, lines):
    for i, line in enumerate(lines):
        if line.lstrip().startswith((">>>", "...")):
            continue
        parts = line.split("``")
        parts[::2] = [_UNPACKING_STAR.sub(r"\\*", part) for part in parts[::2]]
        lines[i] = "``".join(parts)


def _api_entries(module):
    """autodoc entries for every name in ``module.__all__``, in that order."""
    lines = []
    for name in module.__all__:
        obj = getattr(module, name)
        if name.startswith("__") or inspect.ismodule(obj):
            continue  # the version, and nn / optim, which have sections of their own
        if inspect.isclass(obj):
            lines += [f".. autoclass:: {module.__name__}.{name}", "   :members:", ""]
        else:
            lines += [f".. autofunction:: {module.__name__}.{name}", ""]
    return "\n".join(lines)


def _write_api(app):
    """api.rst includes one file per public module, written from its ``__all__``: a new
    public name is documented (and a docstring that does not build fails the build)
    without editing api.rst."""
    import upsamplex.nn
    import upsamplex.optim

    out = HERE / "_generated"
    out.mkdir(exist_ok=True)
    for module in (upsamplex, upsamplex.nn, upsamplex.optim):
        target = out / f"api_{module.__name__}.inc"
        body = _api_entries(module)
        if not target.exists() or target.read_text(encoding="utf-8") != body:
            target.write_text(body, encoding="utf-8")


def setup(app):
    app.connect("autodoc-process-docstring", _escape_unpacking_stars)
    app.connect("builder-inited", _write_api)
