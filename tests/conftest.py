"""Shared fixtures for the interpolate test suite.

torch is the test-only oracle; ``_reference`` (next to this file) holds the
pure-NumPy float64 reference and the torch oracle helpers.
"""

import os
import sys
import zlib

# upsamplex runs small calls on one thread by itself; torch, the oracle, does not, and its
# thread pool competing with ours for 2 cores only slows the suite. upsamplex's threading
# is exercised on purpose by the num_threads tests.
import torch  # noqa: E402

torch.set_num_threads(1)

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

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
