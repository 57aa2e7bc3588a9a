"""Compiled kernels. Private: call the public functions in :mod:`upsamplex`."""

import importlib


def _cpu_has_avx2(*also):
    """AVX2 (and the ``also`` features, NumPy's names) at run time."""
    try:  # NumPy's own run-time CPU detection
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:  # pragma: no cover - older NumPy layout
        try:
            from numpy.core._multiarray_umath import __cpu_features__
        except ImportError:
            return False
    return all(__cpu_features__.get(f, False) for f in ("AVX2",) + also)


def float_kernels():
    """The float resampling module for this CPU: the AVX2 build when it can run."""
    if _cpu_has_avx2("F16C"):  # its float16 conversions use F16C
        try:
            return importlib.import_module(__name__ + "._resample_avx2")
        except ImportError:  # built without it (non-x86, or -Dnative=true)
            pass
    return importlib.import_module(__name__ + "._resample")
