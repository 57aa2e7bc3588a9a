"""Shared fixtures for the interpolate test suite.

torch is the test-only oracle; ``_reference`` (next to this file) holds the
pure-NumPy float64 reference and the torch oracle helpers.
"""

import os
import sys
import zlib

# The suite makes thousands of calls on tiny arrays, where starting an OpenMP team costs far
# more than the work (x10-x20 on a loaded 2-core machine). Threading is exercised on purpose
# by the num_threads tests, which pass num_threads=2 explicitly. Set before any OpenMP
# runtime (upsamplex's or torch's) is loaded; an explicit OMP_NUM_THREADS wins.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

# --import-mode=importlib does not put the tests folder on sys.path; the helper
# module next to this file is imported by name.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

settings.register_profile("upsamplex", deadline=None, max_examples=60, print_blob=True)
settings.register_profile("thorough", deadline=None, max_examples=1000, print_blob=True)
settings.load_profile(os.environ.get("UPSAMPLEX_HYPOTHESIS_PROFILE", "upsamplex"))


@pytest.fixture
def rng(request):
    """A generator seeded from the test id, so each case is reproducible on its own."""
    seed = zlib.crc32(request.node.nodeid.encode())
    return np.random.default_rng(seed)
