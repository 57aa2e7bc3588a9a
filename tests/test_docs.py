"""The README's and docstrings' examples run and print what they say."""

import doctest
import importlib
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@pytest.mark.skipif(not README.exists(), reason="README.md not next to the tests")
def test_readme_examples():
    result = doctest.testfile(str(README), module_relative=False, optionflags=FLAGS)
    assert result.attempted > 0
    assert result.failed == 0


@pytest.mark.parametrize("module", ["upsamplex", "upsamplex._interpolate",
                                    "upsamplex._upsample", "upsamplex._conv",
                                    "upsamplex.nn", "upsamplex.optim"])
def test_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=FLAGS)
    assert result.failed == 0
