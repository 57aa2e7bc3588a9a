"""Shared fixtures for the interpolate test suite.

torch is the test-only oracle, and optional: ``_reference`` (next to this file) holds the
pure-NumPy float64 reference and the torch oracle helpers, and ``test_fixtures.py`` checks
torch's stored answers. Without torch, every test that imports it is skipped, at that
import (see ``_TorchMissingFinder``), and the rest of the suite runs.
"""

import importlib.abc
import os
import sys
import zlib

import numpy as np
import pytest
from hypothesis import settings

try:
    import torch
except ModuleNotFoundError as exc:
    if exc.name != "torch":
        raise
    torch = None


class TorchMissing(pytest.skip.Exception, ModuleNotFoundError):
    """A skip that is also an ImportError: tests skip where they import torch, while code
    that probes for torch with ``try: import torch / except ImportError`` still falls back."""

    def __init__(self, name):
        pytest.skip.Exception.__init__(
            self, "needs torch (the live oracle), which is not installed; "
            "tests/test_fixtures.py checks torch's stored answers instead",
            allow_module_level=True)
        self.name = name


class _TorchMissingFinder(importlib.abc.MetaPathFinder):
    """Turns ``import torch`` (anywhere, at any time) into a skip of the test doing it.

    pytest.importorskip("torch") works only at the top of a module; most of the torch
    comparisons import it lazily through ``_reference``, inside tests that also run pure
    NumPy checks, so the skip has to happen at the import itself. A skip raised inside a
    hypothesis test propagates at once (no shrinking), as pytest's own skips do.
    """

    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise TorchMissing(name)
        return None


if torch is None:
    sys.meta_path.insert(0, _TorchMissingFinder())
else:
    # upsamplex runs small calls on one thread by itself; torch, the oracle, does not, and
    # its thread pool competing with ours for 2 cores only slows the suite. upsamplex's
    # threading is exercised on purpose by the num_threads tests.
    torch.set_num_threads(1)

# --import-mode=importlib does not put the tests folder on sys.path; the helper
# module next to this file is imported by name.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

settings.register_profile("upsamplex", deadline=None, max_examples=60, print_blob=True)
# CI explores the same examples every run, so a landing never hinges on a lucky draw;
# developers' runs (and "thorough", 1000 examples) keep exploring new ones.
settings.register_profile("ci", deadline=None, max_examples=60, print_blob=True,
                          derandomize=True)
settings.register_profile("thorough", deadline=None, max_examples=1000, print_blob=True)
_default_profile = "ci" if os.environ.get("CI") else "upsamplex"
settings.load_profile(os.environ.get("UPSAMPLEX_HYPOTHESIS_PROFILE", _default_profile))


@pytest.fixture
def rng(request):
    """A generator seeded from the test id, so each case is reproducible on its own."""
    seed = zlib.crc32(request.node.nodeid.encode())
    return np.random.default_rng(seed)
