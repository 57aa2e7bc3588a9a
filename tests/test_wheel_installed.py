"""Checks that only make sense against an installed wheel (``.ci/wheel`` sets
UPSAMPLEX_EXPECT_WHEEL=1): the package is not the source tree, libgomp is bundled, and
the command-line entry point is installed."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import upsamplex

pytestmark = pytest.mark.skipif(os.environ.get("UPSAMPLEX_EXPECT_WHEEL") != "1",
                                reason="only in the wheel check (.ci/wheel)")


def test_imported_from_site_packages():
    where = Path(upsamplex.__file__).resolve()
    source = Path(os.environ["UPSAMPLEX_SOURCE_TREE"]).resolve()
    assert source not in where.parents, where
    assert "site-packages" in where.parts


def test_libgomp_is_bundled_and_linked():
    libs = Path(upsamplex.__file__).resolve().parents[1] / "upsamplex.libs"
    bundled = sorted(p.name for p in libs.glob("libgomp*"))
    assert bundled, f"no libgomp in {libs}"
    from upsamplex._kernels import _openmp
    assert _openmp.openmp_enabled()
    maps = Path("/proc/self/maps").read_text()
    assert any(str(libs) in line and "libgomp" in line for line in maps.splitlines())


def test_no_compiler_on_path():
    # The probe flag keeps these calls out of .ci/wheel's "did anything compile" log.
    env = dict(os.environ, UPSAMPLEX_SHIM_PROBE="1")
    for tool in ("cc", "gcc", "c++"):
        exe = shutil.which(tool)
        if exe is not None:
            done = subprocess.run([exe, "--version"], capture_output=True, env=env)
            assert done.returncode != 0


def test_console_script_installed():
    exe = Path(sys.executable).with_name("upsamplex")
    assert exe.exists()
    done = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "resize" in done.stdout
