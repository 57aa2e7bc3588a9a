"""torch and torch.nn.functional for test modules that also hold torch-free tests.

With torch installed these are the real modules. Without it they are stand-ins: module-level
tables such as ``{1: F.conv1d}`` still build, and the first *call* through one skips the
test making it, so the module's pure-NumPy tests keep running.
"""

import pytest

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # conftest turns a missing torch into a skip that is also an ImportError

    class _Missing:
        def __init__(self, name):
            self._name = name

        def __getattr__(self, attr):
            return _Missing(f"{self._name}.{attr}")

        def __call__(self, *args, **kwargs):
            pytest.skip(f"{self._name} needs torch (the live oracle), which is not installed")

        def __repr__(self):
            return f"<{self._name}: torch is not installed>"

    torch = _Missing("torch")
    F = _Missing("torch.nn.functional")

__all__ = ["F", "torch"]
