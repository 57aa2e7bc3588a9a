"""The build itself: OpenMP really linked, threads really used, public names present."""

import upsamplex as ux
from upsamplex._kernels import _openmp


def test_openmp_linked():
    # scikit-image once shipped prange loops that silently ran serially.
    assert _openmp.openmp_enabled()
    assert ux.show_config()["openmp"] is True


def test_prange_uses_requested_threads():
    assert _openmp.threads_used(1) == 1
    assert _openmp.threads_used(2) == 2


def test_public_names():
    for name in ux.__all__:
        assert hasattr(ux, name), name
