"""Per-axis tap tables: build them per mode, transpose them, quantize them.

One table per spatial axis describes a whole resampling mode (see
``_tables.pxd``); the kernels in ``_resample`` and ``_resample_uint8`` only
walk tables, so forward, adjoint and uint8 share one definition of each mode.
Tables are built from global output indices, so any window of an output can be
computed from the matching slice of the table.
"""

from libc.math cimport ceil, floor

import numpy as np

from ._tables cimport (
    AA_CUBIC,
    AA_LANCZOS,
    AA_LINEAR,
    AREA,
    CUBIC,
    LINEAR,
    NEAREST,
    NEAREST_EXACT,
    WALK_COPY,
    WALK_GATHER,
    WALK_GENERIC,
    WALK_TAP2,
    WALK_TAP4,
    aa_filter,
    area_source,
    cubic_far,
    cubic_near,
    floating,
    nearest_exact_src,
    nearest_src,
)

MODE_CODES = {
    "nearest": NEAREST,
    "nearest-exact": NEAREST_EXACT,
    "linear": LINEAR,
    "cubic": CUBIC,
    "area": AREA,
    "aa-linear": AA_LINEAR,
    "aa-cubic": AA_CUBIC,
    "aa-lanczos": AA_LANCZOS,
}
# Half-width of each antialias filter's support at scale 1 (taps = 2 * half + 1 when
# not downscaling); the planner sizes tables from it too.
AA_HALF_WIDTH = {"aa-linear": 1.0, "aa-cubic": 2.0, "aa-lanczos": 3.0}
WALK_CODES = {
    "generic": WALK_GENERIC,
    "copy": WALK_COPY,
    "gather": WALK_GATHER,
    "tap2": WALK_TAP2,
    "tap4": WALK_TAP4,
}


# ---------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------

cdef floating _ratio(floating[:, ::1] w, Py_ssize_t size_in, Py_ssize_t size_out,
                     bint align_corners, double scale) noexcept:
    # torch's area_pixel_compute_scale, evaluated in the table's precision.
    # (``w`` only selects the precision.)
    if align_corners:
        if size_out > 1:
            return <floating>(size_in - 1) / <floating>(size_out - 1)
        return 0
    if scale > 0:
        return <floating>(1.0 / scale)
    return <floating>size_in / <floating>size_out


cdef void _identity(Py_ssize_t o0, Py_ssize_t[:, ::1] idx, floating[:, ::1] w,
                    Py_ssize_t[::1] cnt) noexcept:
    cdef Py_ssize_t o
    for o in range(cnt.shape[0]):
        idx[o, 0] = o0 + o
        w[o, 0] = 1
        cnt[o] = 1


cdef void _fill_table(int mode, Py_ssize_t size_in, Py_ssize_t size_out, double scale,
                      bint align_corners, double support, Py_ssize_t o0,
                      Py_ssize_t[:, ::1] idx_all, floating[:, ::1] w_all,
                      Py_ssize_t[::1] cnt_all) noexcept:
    # Rows o0 .. o0 + len(cnt_all) - 1 of the global table (a window: long axes
    # are never held whole), row o written at o - o0.
    cdef floating r = _ratio(w_all, size_in, size_out, align_corners, scale)
    cdef floating real, lam, t, total, center, fsupport, finv, arg
    cdef floating coeffs[4]
    cdef Py_ssize_t o, j, i0, tap, lo, hi, k = idx_all.shape[1], n
    cdef Py_ssize_t o1 = o0 + cnt_all.shape[0]
    cdef Py_ssize_t q, rem, step_q, step_rem, n_last
    cdef floating inv = 1
    if o1 <= o0:
        return
    cdef Py_ssize_t* idx = &idx_all[0, 0]
    cdef floating* w = &w_all[0, 0]
    cdef Py_ssize_t* cnt = &cnt_all[0]

    if mode == NEAREST:
        for o in range(o0, o1):
            idx[(o - o0) * k + 0] = nearest_src(r, o, size_in)
            w[(o - o0) * k + 0] = 1
            cnt[o - o0] = 1
    elif mode == NEAREST_EXACT:
        for o in range(o0, o1):
            idx[(o - o0) * k + 0] = nearest_exact_src(r, o, size_in)
            w[(o - o0) * k + 0] = 1
            cnt[o - o0] = 1
    elif mode == LINEAR:
        for o in range(o0, o1):
            real = area_source(r, o, align_corners, False)
            i0 = <Py_ssize_t>floor(real)
            if i0 > size_in - 1:
                i0 = size_in - 1
            lam = real - <floating>i0
            lam = 0 if lam < 0 else (1 if lam > 1 else lam)
            # torch's second tap repeats the last sample at the border.
            idx[(o - o0) * k + 0] = i0
            w[(o - o0) * k + 0] = 1 - lam
            idx[(o - o0) * k + 1] = i0 + 1 if i0 < size_in - 1 else i0
            w[(o - o0) * k + 1] = lam
            cnt[o - o0] = 2
    elif mode == CUBIC:
        for o in range(o0, o1):
            real = area_source(r, o, align_corners, True)
            i0 = <Py_ssize_t>floor(real)
            if i0 > size_in - 1:
                i0 = size_in - 1
            t = real - <floating>i0
            t = 0 if t < 0 else (1 if t > 1 else t)
            coeffs[0] = cubic_far(t + 1, <floating>-0.75)
            coeffs[1] = cubic_near(t, <floating>-0.75)
            coeffs[2] = cubic_near(1 - t, <floating>-0.75)
            coeffs[3] = cubic_far(2 - t, <floating>-0.75)
            # Clamped taps replicate the border, as torch does; they stay in
            # torch's order so full four-tap rows sum exactly as torch sums.
            for j in range(4):
                tap = i0 - 1 + j
                tap = 0 if tap < 0 else (size_in - 1 if tap > size_in - 1 else tap)
                idx[(o - o0) * k + j] = tap
                w[(o - o0) * k + j] = coeffs[j]
            cnt[o - o0] = 4
    elif mode == AREA:
        # torch's adaptive_avg_pool: the window [lo, hi) with one weight
        # 1 / (hi - lo); a one-column table is its box form (_tables.pxd).
        # Stepped without divisions (two per row were most of a long axis'
        # cost): q, rem = divmod(o * size_in, size_out), advanced per row.
        q = (o0 * size_in) // size_out
        rem = (o0 * size_in) % size_out
        step_q = size_in // size_out
        step_rem = size_in % size_out
        n_last = 0
        for o in range(o0, o1):
            lo = q
            q += step_q
            rem += step_rem
            if rem >= size_out:
                q += 1
                rem -= size_out
            hi = q + (1 if rem > 0 else 0)  # ceil((o + 1) * size_in / size_out)
            n = hi - lo
            if n != n_last:
                inv = (<floating>1) / <floating>n
                n_last = n
            for j in range(1 if k == 1 else n):
                idx[(o - o0) * k + j] = lo + j
                w[(o - o0) * k + j] = inv
            cnt[o - o0] = n
    else:
        # Antialias (PIL's scheme): the filter is stretched by the scale when
        # downsampling; taps are clipped to the input and renormalised.
        fsupport = <floating>support
        finv = 1 / r if r >= 1 else 1
        for o in range(o0, o1):
            # torch rounds the centre to the table precision before using it.
            center = <floating>(r * (o + 0.5))
            lo = <Py_ssize_t>(center - fsupport + 0.5)
            if lo < 0:
                lo = 0
            hi = <Py_ssize_t>(center + fsupport + 0.5)
            if hi > size_in:
                hi = size_in
            n = hi - lo
            n = 0 if n < 0 else (k if n > k else n)
            total = 0
            for j in range(n):
                arg = <floating>(((<floating>(lo + j)) - center + 0.5) * finv)
                w[(o - o0) * k + j] = aa_filter(mode, arg)
                idx[(o - o0) * k + j] = lo + j
                total = total + w[(o - o0) * k + j]
            if total != 0:
                for j in range(n):
                    w[(o - o0) * k + j] = w[(o - o0) * k + j] / total
            if n == 0:
                # Unreachable for valid sizes; keep the table well formed.
                idx[(o - o0) * k + 0] = lo if lo < size_in else size_in - 1
                w[(o - o0) * k + 0] = 0
                n = 1
            cnt[o - o0] = n


def element_strides(arr):
    """Strides of ``arr`` in elements (the kernels walk typed pointers)."""
    item = arr.itemsize
    return [s // item for s in arr.strides]


def build_table(str mode, Py_ssize_t size_in, Py_ssize_t size_out, scale,
                bint align_corners, dtype, Py_ssize_t o0=0, o1=None):
    """Build the tap table of one axis, or its rows ``o0 .. o1-1``.

    Parameters
    ----------
    mode : str
        A key of ``MODE_CODES``.
    size_in, size_out : int
        Axis lengths, both >= 1.
    scale : float or None
        The user's scale factor when it reaches the kernel, else None.
    align_corners : bool
    dtype : numpy dtype
        float32 or float64: the precision torch computes this table in.
    o0, o1 : int, optional
        The rows to build (default: all). Every row is computed from its global
        output index, so the rows equal that slice of the whole table (indices
        stay global); only their width ``k`` may be narrower where an antialias
        window holds only short border rows.

    Returns
    -------
    idx : ndarray of intp, shape (o1 - o0, k)
    weights : ndarray of dtype, shape (o1 - o0, k)
    count : ndarray of intp, shape (o1 - o0,)
        k is the widest row; k == 1 with counts above 1 is the box form of an
        area table (see ``_tables.pxd``).
    """
    cdef int code = MODE_CODES[mode]
    cdef double s = -1.0 if scale is None else float(scale)
    cdef Py_ssize_t k
    cdef double r, support = 0.0
    dtype = np.dtype(dtype)
    identity = (size_in == size_out and code in (LINEAR, AA_LINEAR, AA_CUBIC, AA_LANCZOS))
    if identity:
        # torch: linear and antialiased axes of unchanged length are copied,
        # whatever the scale factor says.
        k = 1
    elif code in (NEAREST, NEAREST_EXACT):
        k = 1
    elif code == LINEAR:
        k = 2
    elif code == CUBIC:
        k = 4
    elif code == AREA:
        # The box form: O(size_out) memory, whatever the window.
        k = 1
    else:
        half = AA_HALF_WIDTH[mode]
        if dtype == np.float32:
            r = _ratio[float](np.empty((1, 1), np.float32), size_in, size_out,
                              align_corners, s)
            support = <float>(half * r) if r >= 1 else <float>half
        else:
            r = _ratio[double](np.empty((1, 1), np.float64), size_in, size_out,
                               align_corners, s)
            support = half * r if r >= 1 else half
        k = <Py_ssize_t>ceil(support) * 2 + 1
    cdef Py_ssize_t stop = size_out if o1 is None else o1
    if not 0 <= o0 <= stop <= size_out:
        raise ValueError(f"rows {o0}..{stop} are outside the table's 0..{size_out}")
    idx = np.zeros((stop - o0, k), dtype=np.intp)
    weights = np.zeros((stop - o0, k), dtype=dtype)
    count = np.zeros(stop - o0, dtype=np.intp)
    if dtype == np.float32:
        if identity:
            _identity[float](o0, idx, weights, count)
        else:
            _fill_table[float](code, size_in, size_out, s, align_corners, support, o0,
                               idx, weights, count)
    elif dtype == np.float64:
        if identity:
            _identity[double](o0, idx, weights, count)
        else:
            _fill_table[double](code, size_in, size_out, s, align_corners, support, o0,
                                idx, weights, count)
    else:
        raise TypeError(f"table dtype must be float32 or float64, got {dtype}")
    if code in (AA_LINEAR, AA_CUBIC, AA_LANCZOS) and k > 1:
        # The support bound allows one tap more than any row uses (and border
        # rows use fewer): trimmed to the widest row, the interior rows are
        # full and the constant-count walks cover them.
        used = int(count.max()) if count.shape[0] else k
        if used < k:
            idx = np.ascontiguousarray(idx[:, :used])
            weights = np.ascontiguousarray(weights[:, :used])
    return idx, weights, count


cdef void _transpose_fill(const Py_ssize_t[:, ::1] idx, const floating[:, ::1] w,
                          const Py_ssize_t[::1] count, Py_ssize_t lo, Py_ssize_t o_base,
                          Py_ssize_t[:, ::1] idx_t, floating[:, ::1] w_t,
                          Py_ssize_t[::1] cnt_t) noexcept:
    # Taps outside the inputs lo .. lo + len(cnt_t) - 1 are left out (a window).
    cdef Py_ssize_t o, j, i, n_in = cnt_t.shape[0]
    cdef bint box = idx.shape[1] == 1
    for o in range(idx.shape[0]):
        for j in range(count[o]):
            if box:
                # Box rows: consecutive taps, one weight (never repeated).
                i = idx[o, 0] + j - lo
                if 0 <= i < n_in:
                    idx_t[i, cnt_t[i]] = o_base + o
                    w_t[i, cnt_t[i]] = w[o, 0]
                    cnt_t[i] += 1
                continue
            i = idx[o, j] - lo
            if i < 0 or i >= n_in:
                continue
            if j > 0 and idx[o, j] == idx[o, j - 1]:
                w_t[i, cnt_t[i] - 1] = w_t[i, cnt_t[i] - 1] + w[o, j]
                continue
            idx_t[i, cnt_t[i]] = o_base + o
            w_t[i, cnt_t[i]] = w[o, j]
            cnt_t[i] += 1


def transpose_table(const Py_ssize_t[:, ::1] idx, weights, const Py_ssize_t[::1] count,
                    Py_ssize_t size_in, Py_ssize_t lo=0, Py_ssize_t o_base=0):
    """Transpose one axis' table: for each input index, the outputs that read it.

    Repeated taps of one output (clamped borders) are merged by adding their
    weights. Outputs come in increasing order, so the adjoint kernel gathers
    instead of scattering. A box table (one column) reads its taps
    consecutively; its transpose is an explicit table (a shrinking area reads
    each input from at most two outputs).

    With ``lo`` and ``o_base``: the rows of inputs ``lo .. lo + size_in - 1``
    only, from forward rows that are the global rows ``o_base ..`` (a window of
    the transposed table: it equals that slice of the whole transpose when the
    forward rows given are all that read those inputs).
    """
    cdef Py_ssize_t o, j, i
    cdef Py_ssize_t[::1] n_refs = np.zeros(size_in, dtype=np.intp)
    cdef bint box = idx.shape[1] == 1
    for o in range(idx.shape[0]):
        for j in range(count[o]):
            if box:
                i = idx[o, 0] + j - lo
            elif j == 0 or idx[o, j] != idx[o, j - 1]:
                i = idx[o, j] - lo
            else:
                continue
            if 0 <= i < size_in:
                n_refs[i] += 1
    kt = max(1, int(np.max(n_refs))) if size_in else 1
    idx_t = np.zeros((size_in, kt), dtype=np.intp)
    w_t = np.zeros((size_in, kt), dtype=weights.dtype)
    # The counts are refilled below: reuse the array (long axes: 8 bytes a sample).
    cnt_t = np.asarray(n_refs)
    cnt_t[:] = 0
    if weights.dtype == np.float32:
        _transpose_fill[float](idx, weights, count, lo, o_base, idx_t, w_t, cnt_t)
    else:
        _transpose_fill[double](idx, weights, count, lo, o_base, idx_t, w_t, cnt_t)
    return idx_t, w_t, cnt_t


def quantize_table(weights, count):
    """Fixed-point weights for uint8 (Pillow-SIMD's int16 scheme, as torch).

    Returns ``(weights_int16, precision)``: weights scaled by 2**precision,
    precision the largest < 22 keeping the biggest weight (doubled) in int16.
    """
    w = np.asarray(weights, dtype=np.float64)
    mask = np.arange(w.shape[1])[None, :] < np.asarray(count)[:, None]
    w_max = float(w[mask].max()) if mask.any() else 0.0
    precision = 0
    while precision < 22:
        if int(0.5 + w_max * (1 << (precision + 1))) >= (1 << 15):
            break
        precision += 1
    scaled = w * (1 << precision)
    q = np.where(scaled < 0, scaled - 0.5, scaled + 0.5).astype(np.int64)
    q = np.clip(q, -(1 << 15), (1 << 15) - 1).astype(np.int16)
    q[~mask] = 0
    return q, precision


# ---------------------------------------------------------------------------
# Walk analysis: the row ranges the kernels' fast loops may cover
# ---------------------------------------------------------------------------
# One pass over the rows concerned, no temporaries: a long axis is analysed
# tile by tile on every call, so this must cost little next to the kernel.
# Exact comparisons: a fast loop must use the very weights the table holds.

cdef bint _same_row(const floating[:, ::1] w, Py_ssize_t r, Py_ssize_t ref,
                    Py_ssize_t n) noexcept:
    cdef Py_ssize_t j
    for j in range(n):
        if w[r, j] != w[ref, j]:
            return False
    return True


cdef bint _contiguous(const Py_ssize_t[:, ::1] idx, Py_ssize_t r, Py_ssize_t n) noexcept:
    cdef Py_ssize_t j
    for j in range(1, n):
        if idx[r, j] != idx[r, 0] + j:
            return False
    return True


cdef bint _x2_pair(const Py_ssize_t[:, ::1] idx, const floating[:, ::1] w,
                   const Py_ssize_t[::1] cnt, Py_ssize_t i, Py_ssize_t ref,
                   Py_ssize_t se, Py_ssize_t so) noexcept:
    # Outputs 2i and 2i+1 repeat the reference pair shifted by i - ref.
    cdef Py_ssize_t k = idx.shape[1]
    return (cnt[2 * i] == k and cnt[2 * i + 1] == k
            and idx[2 * i, 0] == i + se and idx[2 * i + 1, 0] == i + so
            and _contiguous(idx, 2 * i, k) and _contiguous(idx, 2 * i + 1, k)
            and _same_row(w, 2 * i, 2 * ref, k) and _same_row(w, 2 * i + 1, 2 * ref + 1, k))


def periodic_x2_run(const Py_ssize_t[:, ::1] idx, const floating[:, ::1] w,
                    const Py_ssize_t[::1] cnt, Py_ssize_t size_in):
    """[lo, hi): the run of i where outputs 2i, 2i+1 have k contiguous taps and
    repeat rows 2r, 2r+1 shifted by i - r (r a reference pair past the border).

    Border rows may have fewer taps (antialias tables): the run stops where the
    pattern does. Windows of a x2 table (a plan's tiles, a Dask block:
    ``size_in`` a few taps more than half the outputs, any start parity) take
    the loop too. (0, 0) when there is no run of at least 2 pairs.
    """
    cdef Py_ssize_t size_out = idx.shape[0], k = idx.shape[1]
    cdef Py_ssize_t n_pairs = size_out // 2, ref, se, so, lo, hi
    if abs(size_out - 2 * size_in) > 2 * k + 2 or k < 2 or n_pairs < 8:
        return (0, 0)
    # A reference pair past any border effect (the support is at most k / 2).
    ref = min(k + 1, n_pairs // 2)
    if not (cnt[2 * ref] == k and cnt[2 * ref + 1] == k and _contiguous(idx, 2 * ref, k)
            and _contiguous(idx, 2 * ref + 1, k)):
        return (0, 0)
    se = idx[2 * ref, 0] - ref
    so = idx[2 * ref + 1, 0] - ref
    if not _x2_pair(idx, w, cnt, ref, ref, se, so):
        return (0, 0)  # NaN weights
    lo = ref
    while lo > 0 and _x2_pair(idx, w, cnt, lo - 1, ref, se, so):
        lo -= 1
    hi = ref + 1
    while hi < n_pairs and _x2_pair(idx, w, cnt, hi, ref, se, so):
        hi += 1
    if hi - lo < 2:
        return (0, 0)
    return (lo, hi)


cdef bint _down2_row(const Py_ssize_t[:, ::1] idx, const floating[:, ::1] w,
                     const Py_ssize_t[::1] cnt, Py_ssize_t o, Py_ssize_t mid, Py_ssize_t n,
                     Py_ssize_t off) noexcept:
    # Row o reads n taps from 2o + off with row mid's weights.
    cdef Py_ssize_t j, k = idx.shape[1]
    if cnt[o] != n or idx[o, 0] != 2 * o + off:
        return False
    if k == 1:  # box rows: consecutive taps, one weight
        return w[o, 0] == w[mid, 0]
    return _contiguous(idx, o, n) and _same_row(w, o, mid, n)


def periodic_down2(const Py_ssize_t[:, ::1] idx, const floating[:, ::1] w,
                   const Py_ssize_t[::1] cnt):
    """(lo, hi, taps, off): outputs lo..hi-1 read taps at 2o + off with row mid's
    weights, the run around the middle row; (0, 0, 0, 0) when there is none of
    at least 4 rows."""
    cdef Py_ssize_t size_out = idx.shape[0], k = idx.shape[1]
    cdef Py_ssize_t mid = size_out // 2, n, off, lo, hi
    if size_out < 8:
        return (0, 0, 0, 0)
    n = cnt[mid]
    if n < 2 or (n > k and k != 1):
        return (0, 0, 0, 0)
    off = idx[mid, 0] - 2 * mid
    if not _down2_row(idx, w, cnt, mid, mid, n, off):
        return (0, 0, 0, 0)
    lo = mid
    while lo > 0 and _down2_row(idx, w, cnt, lo - 1, mid, n, off):
        lo -= 1
    hi = mid + 1
    while hi < size_out and _down2_row(idx, w, cnt, hi, mid, n, off):
        hi += 1
    if hi - lo < 4:
        return (0, 0, 0, 0)
    return (lo, hi, n, off)
