"""Thread-privacy of the OpenMP loop bodies (issue "Hardening", data race class).

Cython makes a variable of a ``prange`` body (or of its ``with parallel()`` block)
thread-private only when that code *assigns* it. A variable the body only writes
through its address (``f(..., &v)``) stays shared between the threads: a data race,
latent while the compiler keeps it in a register. The static check below refuses the
pattern in every kernel; the value test is the case where AddressSanitizer saw the race
read out of bounds (run it under ``.ci/sanitize`` to see that).
"""

import pathlib
import re

import numpy as np
import pytest
from _torch import F, torch

import upsamplex as ux

# The sources, next to the tests (an installed package has no .pyx files).
KERNELS = pathlib.Path(__file__).resolve().parents[1] / "src" / "upsamplex" / "_kernels"
_ADDRESS = re.compile(r"&\s*([A-Za-z_]\w*)\b(?!\s*[\[.(])")


def _indent(line):
    return len(line) - len(line.lstrip())


def _block(lines, start):
    """Lines of the block opened by ``lines[start]`` (more indented, until dedent)."""
    base = _indent(lines[start])
    body = []
    for line in lines[start + 1 :]:
        if line.strip() and _indent(line) <= base:
            break
        body.append(line)
    return body


def _assigned(lines):
    names = set()
    for line in lines:
        code = line.split("#", 1)[0]
        match = re.match(r"\s*([A-Za-z_]\w*)\s*(?:[-+*/]?=)(?!=)", code)
        if match:
            names.add(match.group(1))
        match = re.match(r"\s*for\s+([A-Za-z_]\w*)\s+in\b", code)
        if match:
            names.add(match.group(1))
    return names


def parallel_bodies(source):
    """``(line number, prange body, names private there)`` for each prange of ``source``."""
    lines = source.splitlines()
    found = []
    for i, line in enumerate(lines):
        if "prange(" not in line or line.lstrip().startswith(("#", "from", "cimport")):
            continue
        if not line.lstrip().startswith("for "):
            continue
        body = _block(lines, i)
        private = _assigned(body) | _assigned([line])
        # The enclosing ``with parallel():`` block, if any: its assignments are private too.
        for j in range(i - 1, -1, -1):
            if lines[j].strip() and _indent(lines[j]) < _indent(line):
                if "parallel(" in lines[j]:
                    private |= _assigned(_block(lines, j))
                break
        found.append((i + 1, body, private))
    return found


def shared_addresses(source):
    """``(line, name)`` for each ``&name`` in a prange body of a name it never assigns."""
    problems = []
    for line_no, body, private in parallel_bodies(source):
        for offset, line in enumerate(body, start=1):
            code = line.split("#", 1)[0]
            for name in _ADDRESS.findall(code):
                if name not in private:
                    problems.append((line_no + offset, name))
    return problems


def test_every_prange_body_keeps_address_taken_variables_private():
    sources = sorted(KERNELS.glob("*.pyx"))
    assert {p.name for p in sources} >= {"_resample.pyx", "_resample_uint8.pyx", "_openmp.pyx"}
    n_bodies = 0
    problems = []
    for path in sources:
        source = path.read_text()
        n_bodies += len(parallel_bodies(source))
        problems += [(path.name, line, name) for line, name in shared_addresses(source)]
    assert n_bodies >= 8  # the audit saw every parallel loop
    assert not problems, f"written only through their address inside prange: {problems}"


def test_the_audit_sees_the_pattern():
    race = """
cdef void f(int n) noexcept nogil:
    cdef Py_ssize_t i, step
    with parallel(num_threads=2):
        for i in prange(n):
            row = g(i, &step)
            h(row, step)
"""
    assert shared_addresses(race) == [(6, "step")]
    fixed = race.replace("            h(row, step)", "            step = 1\n            h(row, step)")
    assert shared_addresses(fixed) == []
    array_element = race.replace("&step", "&buf[i]")
    assert shared_addresses(array_element) == []


@pytest.mark.parametrize("num_threads", [1, 3])
def test_planar_w_first_strided_5d_matches_torch(num_threads):
    """The W-first planar kernel on 5-D input with a non-unit W stride, >= 2 threads."""
    rng = np.random.default_rng(3)
    base = rng.standard_normal((3, 3, 39, 3, 84))
    x = base[..., ::2]
    assert x.strides[-1] != x.itemsize
    scale = (1.5, 4, 1 / 7)
    y = ux.interpolate(x, scale_factor=scale, mode="area", num_threads=num_threads)
    ref = F.interpolate(torch.tensor(np.ascontiguousarray(x)), scale_factor=scale, mode="area")
    np.testing.assert_allclose(y, ref.numpy(), rtol=0, atol=1e-12)
    for mode in ("trilinear", "nearest"):
        y = ux.interpolate(x, scale_factor=scale, mode=mode, num_threads=num_threads)
        ref = F.interpolate(torch.tensor(np.ascontiguousarray(x)), scale_factor=scale, mode=mode)
        np.testing.assert_allclose(y, ref.numpy(), rtol=0, atol=1e-12)
