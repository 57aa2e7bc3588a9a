"""Separable resampling kernels: per-axis tap tables, forward and adjoint.

Python (``upsamplex._interpolate``) validates and plans; this module builds the
per-axis tables and runs the kernels. Every kernel runs in one ``nogil`` block,
parallel over output rows, each output element written by exactly one thread,
so results do not depend on the thread count.
"""

from cython.parallel cimport parallel, prange
from libc.math cimport ceil, floor
from libc.stdint cimport int16_t, int32_t, uint8_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

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
    Axis,
    aa_filter,
    area_source,
    cubic_far,
    cubic_near,
    floating,
    nearest_exact_src,
    nearest_src,
)

ctypedef fused pixel:
    uint8_t
    float
    double

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


cdef void _identity(Py_ssize_t[:, ::1] idx, floating[:, ::1] w, Py_ssize_t[::1] cnt) noexcept:
    cdef Py_ssize_t o
    for o in range(cnt.shape[0]):
        idx[o, 0] = o
        w[o, 0] = 1
        cnt[o] = 1


cdef void _fill_table(int mode, Py_ssize_t size_in, Py_ssize_t size_out, double scale,
                      bint align_corners, double support,
                      Py_ssize_t[:, ::1] idx, floating[:, ::1] w,
                      Py_ssize_t[::1] cnt) noexcept:
    cdef floating r = _ratio(w, size_in, size_out, align_corners, scale)
    cdef floating real, lam, t, total, center, fsupport, finv, arg
    cdef floating coeffs[4]
    cdef Py_ssize_t o, j, i0, tap, lo, hi, k = idx.shape[1], n

    if mode == NEAREST:
        for o in range(size_out):
            idx[o, 0] = nearest_src(r, o, size_in)
            w[o, 0] = 1
            cnt[o] = 1
    elif mode == NEAREST_EXACT:
        for o in range(size_out):
            idx[o, 0] = nearest_exact_src(r, o, size_in)
            w[o, 0] = 1
            cnt[o] = 1
    elif mode == LINEAR:
        for o in range(size_out):
            real = area_source(r, o, align_corners, False)
            i0 = <Py_ssize_t>floor(real)
            if i0 > size_in - 1:
                i0 = size_in - 1
            lam = real - <floating>i0
            lam = 0 if lam < 0 else (1 if lam > 1 else lam)
            # torch's second tap repeats the last sample at the border.
            idx[o, 0] = i0
            w[o, 0] = 1 - lam
            idx[o, 1] = i0 + 1 if i0 < size_in - 1 else i0
            w[o, 1] = lam
            cnt[o] = 2
    elif mode == CUBIC:
        for o in range(size_out):
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
                idx[o, j] = tap
                w[o, j] = coeffs[j]
            cnt[o] = 4
    elif mode == AREA:
        for o in range(size_out):
            lo = (o * size_in) // size_out
            hi = ((o + 1) * size_in + size_out - 1) // size_out
            n = hi - lo
            for j in range(n):
                idx[o, j] = lo + j
                w[o, j] = (<floating>1) / <floating>n
            cnt[o] = n
    else:
        # Antialias (PIL's scheme): the filter is stretched by the scale when
        # downsampling; taps are clipped to the input and renormalised.
        fsupport = <floating>support
        finv = 1 / r if r >= 1 else 1
        for o in range(size_out):
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
                w[o, j] = aa_filter(mode, arg)
                idx[o, j] = lo + j
                total = total + w[o, j]
            if total != 0:
                for j in range(n):
                    w[o, j] = w[o, j] / total
            if n == 0:
                # Unreachable for valid sizes; keep the table well formed.
                idx[o, 0] = lo if lo < size_in else size_in - 1
                w[o, 0] = 0
                n = 1
            cnt[o] = n


def build_table(str mode, Py_ssize_t size_in, Py_ssize_t size_out, scale,
                bint align_corners, dtype):
    """Build the tap table of one axis.

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

    Returns
    -------
    idx : ndarray of intp, shape (size_out, k)
    weights : ndarray of dtype, shape (size_out, k)
    count : ndarray of intp, shape (size_out,)
    """
    cdef int code = MODE_CODES[mode]
    cdef double s = -1.0 if scale is None else float(scale)
    cdef Py_ssize_t k, o, lo, hi
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
        k = 1
        for o in range(size_out):
            lo = (o * size_in) // size_out
            hi = ((o + 1) * size_in + size_out - 1) // size_out
            k = max(k, hi - lo)
    else:
        half = {AA_LINEAR: 1.0, AA_CUBIC: 2.0, AA_LANCZOS: 3.0}[code]
        if dtype == np.float32:
            r = _ratio[float](np.empty((1, 1), np.float32), size_in, size_out,
                              align_corners, s)
            support = <float>(half * r) if r >= 1 else <float>half
        else:
            r = _ratio[double](np.empty((1, 1), np.float64), size_in, size_out,
                               align_corners, s)
            support = half * r if r >= 1 else half
        k = <Py_ssize_t>ceil(support) * 2 + 1
    idx = np.zeros((size_out, k), dtype=np.intp)
    weights = np.zeros((size_out, k), dtype=dtype)
    count = np.zeros(size_out, dtype=np.intp)
    if dtype == np.float32:
        if identity:
            _identity[float](idx, weights, count)
        else:
            _fill_table[float](code, size_in, size_out, s, align_corners, support,
                               idx, weights, count)
    elif dtype == np.float64:
        if identity:
            _identity[double](idx, weights, count)
        else:
            _fill_table[double](code, size_in, size_out, s, align_corners, support,
                                idx, weights, count)
    else:
        raise TypeError(f"table dtype must be float32 or float64, got {dtype}")
    return idx, weights, count


cdef void _transpose_fill(const Py_ssize_t[:, ::1] idx, const floating[:, ::1] w,
                          const Py_ssize_t[::1] count, Py_ssize_t[:, ::1] idx_t,
                          floating[:, ::1] w_t, Py_ssize_t[::1] cnt_t) noexcept:
    cdef Py_ssize_t o, j, i
    for o in range(idx.shape[0]):
        for j in range(count[o]):
            i = idx[o, j]
            if j > 0 and i == idx[o, j - 1]:
                w_t[i, cnt_t[i] - 1] = w_t[i, cnt_t[i] - 1] + w[o, j]
                continue
            idx_t[i, cnt_t[i]] = o
            w_t[i, cnt_t[i]] = w[o, j]
            cnt_t[i] += 1


def transpose_table(const Py_ssize_t[:, ::1] idx, weights, const Py_ssize_t[::1] count,
                    Py_ssize_t size_in):
    """Transpose one axis' table: for each input index, the outputs that read it.

    Repeated taps of one output (clamped borders) are merged by adding their
    weights. Outputs come in increasing order, so the adjoint kernel gathers
    instead of scattering.
    """
    cdef Py_ssize_t o, j
    cdef Py_ssize_t[::1] n_refs = np.zeros(size_in, dtype=np.intp)
    for o in range(idx.shape[0]):
        for j in range(count[o]):
            if j == 0 or idx[o, j] != idx[o, j - 1]:
                n_refs[idx[o, j]] += 1
    kt = max(1, int(np.max(n_refs))) if size_in else 1
    idx_t = np.zeros((size_in, kt), dtype=np.intp)
    w_t = np.zeros((size_in, kt), dtype=weights.dtype)
    cnt_t = np.zeros(size_in, dtype=np.intp)
    if weights.dtype == np.float32:
        _transpose_fill[float](idx, weights, count, idx_t, w_t, cnt_t)
    else:
        _transpose_fill[double](idx, weights, count, idx_t, w_t, cnt_t)
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
# Float kernels
# ---------------------------------------------------------------------------

cdef inline void _walk(const floating* row, Py_ssize_t step, floating* out,
                       Py_ssize_t out_step, const Axis* a) noexcept nogil:
    # Last-axis pass over one row. ``step`` is the distance between samples
    # of ``row`` and ``out_step`` between outputs; both are 1 for planar data.
    cdef Py_ssize_t o, j, n, size_out = a.size_out, k = a.k
    cdef const Py_ssize_t* idx = a.idx
    cdef const floating* w = <const floating*>a.w
    cdef const Py_ssize_t* cnt = a.cnt
    cdef floating acc
    if a.walk == WALK_COPY:
        if step == 1 and out_step == 1:
            memcpy(out, row, size_out * sizeof(floating))
        else:
            for o in range(size_out):
                out[o * out_step] = row[o * step]
    elif a.walk == WALK_GATHER:
        for o in range(size_out):
            out[o * out_step] = row[idx[o] * step]
    elif a.walk == WALK_TAP2:
        for o in range(size_out):
            out[o * out_step] = (w[2 * o] * row[idx[2 * o] * step]
                                 + w[2 * o + 1] * row[idx[2 * o + 1] * step])
    elif a.walk == WALK_TAP4:
        for o in range(size_out):
            out[o * out_step] = (w[4 * o] * row[idx[4 * o] * step]
                                 + w[4 * o + 1] * row[idx[4 * o + 1] * step]
                                 + w[4 * o + 2] * row[idx[4 * o + 2] * step]
                                 + w[4 * o + 3] * row[idx[4 * o + 3] * step])
    else:
        for o in range(size_out):
            n = cnt[o]
            if n == 0:
                out[o * out_step] = 0
                continue
            acc = w[o * k] * row[idx[o * k] * step]
            for j in range(1, n):
                acc = acc + w[o * k + j] * row[idx[o * k + j] * step]
            out[o * out_step] = acc


cdef inline bint _combine_rows(const floating* base, const Py_ssize_t* xs,
                               const Axis* ad, const Axis* ah, Py_ssize_t od, Py_ssize_t oh,
                               Py_ssize_t width, Py_ssize_t sw, floating* tmp) noexcept nogil:
    # Weighted sum of the input rows that output row (od, oh) reads, into the
    # contiguous buffer ``tmp`` of ``width`` samples read with stride ``sw``.
    # Returns False when no input row contributes (adjoint of a skipped row).
    cdef Py_ssize_t a, b, i, nd = ad.cnt[od], nh = ah.cnt[oh]
    cdef const Py_ssize_t* idx_d = ad.idx + od * ad.k
    cdef const Py_ssize_t* idx_h = ah.idx + oh * ah.k
    cdef const floating* w_d = (<const floating*>ad.w) + od * ad.k
    cdef const floating* w_h = (<const floating*>ah.w) + oh * ah.k
    cdef const floating* src
    cdef floating wv
    cdef bint first = True
    if nd == 0 or nh == 0:
        return False
    for a in range(nd):
        for b in range(nh):
            wv = w_d[a] * w_h[b]
            src = base + idx_d[a] * xs[2] + idx_h[b] * xs[3]
            if first:
                if wv == 1:
                    if sw == 1:
                        memcpy(tmp, src, width * sizeof(floating))
                    else:
                        for i in range(width):
                            tmp[i] = src[i * sw]
                elif sw == 1:
                    for i in range(width):
                        tmp[i] = wv * src[i]
                else:
                    for i in range(width):
                        tmp[i] = wv * src[i * sw]
                first = False
            elif sw == 1:
                for i in range(width):
                    tmp[i] = tmp[i] + wv * src[i]
            else:
                for i in range(width):
                    tmp[i] = tmp[i] + wv * src[i * sw]
    return True


cdef inline bint _direct_row(const floating* proto, const Axis* ad, const Axis* ah,
                             Py_ssize_t od, Py_ssize_t oh) noexcept nogil:
    # One source row with weight 1: read it in place instead of copying.
    # (``proto`` only selects the precision of the weights.)
    return (ad.cnt[od] == 1 and ah.cnt[oh] == 1
            and (<const floating*>ad.w)[od * ad.k] == 1
            and (<const floating*>ah.w)[oh * ah.k] == 1)


cdef int _resample_planar(const floating* x, const Py_ssize_t* xs, floating* y,
                          const Py_ssize_t* ys, Py_ssize_t n_batch, Py_ssize_t n_chan,
                          const Axis* axes, int num_threads) noexcept nogil:
    # Planar layout: W is the fastest output axis (output W stride 1).
    cdef const Axis* ad = &axes[0]
    cdef const Axis* ah = &axes[1]
    cdef const Axis* aw = &axes[2]
    cdef Py_ssize_t size_od = ad.size_out, size_oh = ah.size_out, width = aw.size_in
    cdef Py_ssize_t n_rows = n_batch * n_chan * size_od * size_oh
    cdef Py_ssize_t r, rest, n, c, od, oh, step
    cdef floating* tmp
    cdef const floating* base
    cdef const floating* row
    cdef floating* yrow
    cdef int failed = 0
    cdef int* failed_ptr = &failed
    with parallel(num_threads=num_threads):
        tmp = <floating*>malloc((width + 1) * sizeof(floating))
        for r in prange(n_rows, schedule='static'):
            if tmp == NULL:
                failed_ptr[0] = 1
                continue
            oh = r % size_oh
            rest = r // size_oh
            od = rest % size_od
            rest = rest // size_od
            c = rest % n_chan
            n = rest // n_chan
            base = x + n * xs[0] + c * xs[1]
            yrow = y + n * ys[0] + c * ys[1] + od * ys[2] + oh * ys[3]
            if _direct_row(base, ad, ah, od, oh):
                row = base + ad.idx[od * ad.k] * xs[2] + ah.idx[oh * ah.k] * xs[3]
                step = xs[4]
            elif _combine_rows(base, xs, ad, ah, od, oh, width, xs[4], tmp):
                row = tmp
                step = 1
            else:
                memset(yrow, 0, aw.size_out * sizeof(floating))
                continue
            _walk(row, step, yrow, 1, aw)
        free(tmp)
    return -1 if failed else 0


cdef int _resample_channels_last(const floating* x, const Py_ssize_t* xs, floating* y,
                                 const Py_ssize_t* ys, Py_ssize_t n_batch,
                                 Py_ssize_t n_chan, const Axis* axes,
                                 int num_threads) noexcept nogil:
    # Channels-last layout: C is the fastest axis of input and output (stride
    # 1); ys holds the output strides of (N, D, H, W).
    cdef const Axis* ad = &axes[0]
    cdef const Axis* ah = &axes[1]
    cdef const Axis* aw = &axes[2]
    cdef Py_ssize_t size_od = ad.size_out, size_oh = ah.size_out
    cdef Py_ssize_t width = aw.size_in, size_ow = aw.size_out
    cdef Py_ssize_t n_rows = n_batch * size_od * size_oh
    cdef Py_ssize_t r, rest, n, od, oh, c, o, j, cnt, k = aw.k, sw, i
    cdef floating* tmp
    cdef const floating* base
    cdef const floating* row
    cdef const floating* src
    cdef floating* yrow
    cdef floating* ypix
    cdef floating wt
    cdef const floating* wtab = <const floating*>aw.w
    cdef int failed = 0
    cdef int* failed_ptr = &failed
    with parallel(num_threads=num_threads):
        tmp = <floating*>malloc((width * n_chan + 1) * sizeof(floating))
        for r in prange(n_rows, schedule='static'):
            if tmp == NULL:
                failed_ptr[0] = 1
                continue
            oh = r % size_oh
            rest = r // size_oh
            od = rest % size_od
            n = rest // size_od
            base = x + n * xs[0]
            yrow = y + n * ys[0] + od * ys[1] + oh * ys[2]
            if _direct_row(base, ad, ah, od, oh):
                row = base + ad.idx[od * ad.k] * xs[2] + ah.idx[oh * ah.k] * xs[3]
                sw = xs[4]
            else:
                # Treat each (w, c) pair as one sample of a width*C row.
                if not _combine_rows_cl(base, xs, ad, ah, od, oh, width, n_chan, tmp):
                    for o in range(size_ow):
                        memset(yrow + o * ys[3], 0, n_chan * sizeof(floating))
                    continue
                row = tmp
                sw = n_chan
            for o in range(size_ow):
                ypix = yrow + o * ys[3]
                cnt = aw.cnt[o]
                if cnt == 0:
                    memset(ypix, 0, n_chan * sizeof(floating))
                    continue
                wt = wtab[o * k]
                src = row + aw.idx[o * k] * sw
                if aw.walk == WALK_COPY or aw.walk == WALK_GATHER:
                    for c in range(n_chan):
                        ypix[c] = src[c]
                    continue
                for c in range(n_chan):
                    ypix[c] = wt * src[c]
                for j in range(1, cnt):
                    wt = wtab[o * k + j]
                    src = row + aw.idx[o * k + j] * sw
                    for c in range(n_chan):
                        ypix[c] = ypix[c] + wt * src[c]
        free(tmp)
    return -1 if failed else 0


cdef inline bint _combine_rows_cl(const floating* base, const Py_ssize_t* xs,
                                  const Axis* ad, const Axis* ah, Py_ssize_t od,
                                  Py_ssize_t oh, Py_ssize_t width, Py_ssize_t n_chan,
                                  floating* tmp) noexcept nogil:
    # As _combine_rows, for channels-last rows: tmp[w * C + c].
    cdef Py_ssize_t a, b, i, c, nd = ad.cnt[od], nh = ah.cnt[oh], sw = xs[4]
    cdef const Py_ssize_t* idx_d = ad.idx + od * ad.k
    cdef const Py_ssize_t* idx_h = ah.idx + oh * ah.k
    cdef const floating* w_d = (<const floating*>ad.w) + od * ad.k
    cdef const floating* w_h = (<const floating*>ah.w) + oh * ah.k
    cdef const floating* src
    cdef floating* dst
    cdef floating wv
    cdef bint first = True
    if nd == 0 or nh == 0:
        return False
    for a in range(nd):
        for b in range(nh):
            wv = w_d[a] * w_h[b]
            src = base + idx_d[a] * xs[2] + idx_h[b] * xs[3]
            for i in range(width):
                dst = tmp + i * n_chan
                if first:
                    for c in range(n_chan):
                        dst[c] = wv * src[i * sw + c]
                else:
                    for c in range(n_chan):
                        dst[c] = dst[c] + wv * src[i * sw + c]
            first = False
    return True


# ---------------------------------------------------------------------------
# Nearest: pure gathers, any dtype (uint8 included)
# ---------------------------------------------------------------------------

cdef void _nearest_planar(const pixel* x, const Py_ssize_t* xs, pixel* y,
                          const Py_ssize_t* ys, Py_ssize_t n_batch, Py_ssize_t n_chan,
                          const Py_ssize_t* src_d, const Py_ssize_t* src_h,
                          const Py_ssize_t* off_w, Py_ssize_t size_od, Py_ssize_t size_oh,
                          Py_ssize_t size_ow, bint copy_w, int num_threads) noexcept nogil:
    cdef Py_ssize_t n_rows = n_batch * n_chan * size_od * size_oh
    cdef Py_ssize_t r, rest, n, c, od, oh, o
    cdef const pixel* row
    cdef pixel* yrow
    for r in prange(n_rows, schedule='static', num_threads=num_threads):
        oh = r % size_oh
        rest = r // size_oh
        od = rest % size_od
        rest = rest // size_od
        c = rest % n_chan
        n = rest // n_chan
        row = x + n * xs[0] + c * xs[1] + src_d[od] * xs[2] + src_h[oh] * xs[3]
        yrow = y + n * ys[0] + c * ys[1] + od * ys[2] + oh * ys[3]
        if copy_w:
            memcpy(yrow, row, size_ow * sizeof(pixel))
        else:
            for o in range(size_ow):
                yrow[o] = row[off_w[o]]


cdef void _nearest_channels_last(const pixel* x, const Py_ssize_t* xs, pixel* y,
                                 const Py_ssize_t* ys, Py_ssize_t n_batch,
                                 Py_ssize_t n_chan, const Py_ssize_t* src_d,
                                 const Py_ssize_t* src_h, const Py_ssize_t* off_w,
                                 Py_ssize_t size_od, Py_ssize_t size_oh, Py_ssize_t size_ow,
                                 int num_threads) noexcept nogil:
    cdef Py_ssize_t n_rows = n_batch * size_od * size_oh
    cdef Py_ssize_t r, rest, n, od, oh, o, c
    cdef const pixel* row
    cdef const pixel* src
    cdef pixel* yrow
    cdef pixel* ypix
    for r in prange(n_rows, schedule='static', num_threads=num_threads):
        oh = r % size_oh
        rest = r // size_oh
        od = rest % size_od
        n = rest // size_od
        row = x + n * xs[0] + src_d[od] * xs[2] + src_h[oh] * xs[3]
        yrow = y + n * ys[0] + od * ys[1] + oh * ys[2]
        for o in range(size_ow):
            src = row + off_w[o]
            ypix = yrow + o * ys[3]
            for c in range(n_chan):
                ypix[c] = src[c]


# ---------------------------------------------------------------------------
# uint8: separable fixed point, W pass then H pass with a uint8 intermediate
# ---------------------------------------------------------------------------

cdef inline uint8_t _clip8(int32_t v, int precision) noexcept nogil:
    v = v >> precision
    return 0 if v < 0 else (255 if v > 255 else <uint8_t>v)


cdef void _uint8_separable(const uint8_t* x, const Py_ssize_t* xs, uint8_t* y,
                           const Py_ssize_t* ys, Py_ssize_t n_batch, Py_ssize_t n_chan,
                           bint channels_last,
                           Py_ssize_t size_ih, Py_ssize_t size_oh, Py_ssize_t size_ow,
                           const Py_ssize_t* idx_h, const int16_t* w_h,
                           const Py_ssize_t* cnt_h, Py_ssize_t k_h, int prec_h, bint skip_h,
                           const Py_ssize_t* idx_w, const int16_t* w_w,
                           const Py_ssize_t* cnt_w, Py_ssize_t k_w, int prec_w, bint skip_w,
                           Py_ssize_t block, Py_ssize_t rows_max, int num_threads,
                           int* failed) noexcept nogil:
    # Jobs are (plane, block of output rows). A job runs the W pass over the
    # input rows its block reads into a private uint8 buffer (torch rounds the
    # intermediate to uint8 too), then the H pass. Strides are (N, C, H, W).
    # Planar: a plane is one (n, c) and a pixel one sample; channels-last: a
    # plane is one n and a pixel holds the C samples.
    cdef Py_ssize_t per_plane = 1 if channels_last else n_chan
    cdef Py_ssize_t samples = n_chan if channels_last else 1
    cdef Py_ssize_t n_blocks = (size_oh + block - 1) // block
    cdef Py_ssize_t row_len = size_ow * samples
    cdef Py_ssize_t job, p, b, oh0, oh1, lo, hi, ih, o, j, s, oh, cnt, first
    cdef Py_ssize_t sw = xs[3], xss = xs[1], yss = ys[1], yw = ys[3]
    cdef uint8_t* buf
    cdef const uint8_t* xbase
    cdef const uint8_t* src
    cdef const uint8_t* pix
    cdef const int16_t* wt
    cdef uint8_t* dst
    cdef uint8_t* ybase
    cdef uint8_t* yrow
    cdef int32_t acc
    cdef int32_t bias_w = (1 << (prec_w - 1)) if prec_w > 0 else 0
    cdef int32_t bias_h = (1 << (prec_h - 1)) if prec_h > 0 else 0
    with parallel(num_threads=num_threads):
        buf = <uint8_t*>malloc(rows_max * row_len + 1)
        for job in prange(n_batch * per_plane * n_blocks, schedule='static'):
            if buf == NULL:
                failed[0] = 1
                continue
            p = job // n_blocks
            b = job % n_blocks
            xbase = x + (p // per_plane) * xs[0] + (p % per_plane) * xs[1]
            ybase = y + (p // per_plane) * ys[0] + (p % per_plane) * ys[1]
            oh0 = b * block
            oh1 = oh0 + block if oh0 + block < size_oh else size_oh
            lo = idx_h[oh0 * k_h]
            hi = idx_h[(oh1 - 1) * k_h + cnt_h[oh1 - 1] - 1] + 1
            if hi - lo > rows_max:
                failed[0] = 2
                continue
            # W pass: input rows lo..hi-1 -> buf.
            for ih in range(lo, hi):
                src = xbase + ih * xs[2]
                dst = buf + (ih - lo) * row_len
                if skip_w:
                    for o in range(size_ow):
                        for s in range(samples):
                            dst[o * samples + s] = src[o * sw + s * xss]
                    continue
                for o in range(size_ow):
                    cnt = cnt_w[o]
                    wt = w_w + o * k_w
                    pix = src + idx_w[o * k_w] * sw
                    for s in range(samples):
                        acc = bias_w
                        for j in range(cnt):
                            acc = acc + <int32_t>wt[j] * <int32_t>pix[j * sw + s * xss]
                        dst[o * samples + s] = _clip8(acc, prec_w)
            # H pass: buf -> output rows oh0..oh1-1.
            for oh in range(oh0, oh1):
                yrow = ybase + oh * ys[2]
                cnt = cnt_h[oh]
                first = idx_h[oh * k_h] - lo
                wt = w_h + oh * k_h
                if skip_h:
                    src = buf + first * row_len
                    for o in range(size_ow):
                        for s in range(samples):
                            yrow[o * yw + s * yss] = src[o * samples + s]
                    continue
                for o in range(size_ow):
                    for s in range(samples):
                        acc = bias_h
                        for j in range(cnt):
                            acc = acc + <int32_t>wt[j] * <int32_t>buf[
                                (first + j) * row_len + o * samples + s]
                        yrow[o * yw + s * yss] = _clip8(acc, prec_h)
        free(buf)


# ---------------------------------------------------------------------------
# Entry points (GIL held here only to unpack arguments)
# ---------------------------------------------------------------------------

cdef void _fill_axis(Axis* a, tuple table, Py_ssize_t size_in, int walk,
                     list keep) except *:
    idx, w, cnt = table
    cdef const Py_ssize_t[:, ::1] idx_v = idx
    cdef const Py_ssize_t[::1] cnt_v = cnt
    cdef const uint8_t[::1] w_bytes = np.ascontiguousarray(w).reshape(-1).view(np.uint8)
    keep.extend((idx_v, cnt_v, w_bytes))
    a.size_in = size_in
    a.size_out = idx.shape[0]
    a.k = idx.shape[1]
    a.idx = &idx_v[0, 0]
    a.cnt = &cnt_v[0]
    a.w = <const void*>&w_bytes[0]
    a.walk = walk


def _element_strides(arr):
    item = arr.itemsize
    return [s // item for s in arr.strides]


def resample(x, y, tables, sizes_in, walks, bint channels_last, int num_threads):
    """Float resampling of 5-D views ``x`` -> ``y`` with per-axis ``tables`` (D, H, W).

    ``y`` must have W stride 1 (planar) or C stride 1 (channels-last).
    """
    cdef Axis axes[3]
    cdef list keep = []
    cdef Py_ssize_t xs[5]
    cdef Py_ssize_t ys[4]
    cdef Py_ssize_t i, n_batch = x.shape[0], n_chan = x.shape[1]
    cdef int status
    for i in range(3):
        _fill_axis(&axes[i], tables[i], sizes_in[i], walks[i], keep)
    xstr = _element_strides(x)
    ystr = _element_strides(y)
    for i in range(5):
        xs[i] = xstr[i]
    if channels_last:
        ys[0], ys[1], ys[2], ys[3] = ystr[0], ystr[2], ystr[3], ystr[4]
    else:
        ys[0], ys[1], ys[2], ys[3] = ystr[0], ystr[1], ystr[2], ystr[3]
    if x.dtype == np.float32:
        status = _run_float[float](x, y, xs, ys, n_batch, n_chan, axes, channels_last,
                                   num_threads)
    else:
        status = _run_float[double](x, y, xs, ys, n_batch, n_chan, axes, channels_last,
                                    num_threads)
    if status != 0:
        raise MemoryError("could not allocate a row buffer for the resampling kernel")


cdef int _run_float(floating[:, :, :, :, :] x, floating[:, :, :, :, :] y,
                    Py_ssize_t* xs, Py_ssize_t* ys, Py_ssize_t n_batch, Py_ssize_t n_chan,
                    Axis* axes, bint channels_last, int num_threads) except? -2:
    cdef const floating* xp = &x[0, 0, 0, 0, 0]
    cdef floating* yp = &y[0, 0, 0, 0, 0]
    cdef int status
    with nogil:
        if channels_last:
            status = _resample_channels_last(xp, xs, yp, ys, n_batch, n_chan, axes,
                                             num_threads)
        else:
            status = _resample_planar(xp, xs, yp, ys, n_batch, n_chan, axes, num_threads)
    return status


def nearest(x, y, src_d, src_h, src_w, bint channels_last, int num_threads):
    """Nearest gather of 5-D views ``x`` -> ``y`` given source indices per axis."""
    cdef Py_ssize_t xs[5]
    cdef Py_ssize_t ys[4]
    cdef Py_ssize_t i
    xstr = _element_strides(x)
    ystr = _element_strides(y)
    for i in range(5):
        xs[i] = xstr[i]
    if channels_last:
        ys[0], ys[1], ys[2], ys[3] = ystr[0], ystr[2], ystr[3], ystr[4]
    else:
        ys[0], ys[1], ys[2], ys[3] = ystr[0], ystr[1], ystr[2], ystr[3]
    off_w = np.ascontiguousarray(src_w * xs[4], dtype=np.intp)
    copy_w = (not channels_last and xs[4] == 1 and src_w.shape[0] == x.shape[4]
              and bool(np.all(src_w == np.arange(src_w.shape[0]))))
    if x.dtype == np.uint8:
        _run_nearest[uint8_t](x, y, xs, ys, src_d, src_h, off_w, copy_w, channels_last,
                              num_threads)
    elif x.dtype == np.float32:
        _run_nearest[float](x, y, xs, ys, src_d, src_h, off_w, copy_w, channels_last,
                            num_threads)
    else:
        _run_nearest[double](x, y, xs, ys, src_d, src_h, off_w, copy_w, channels_last,
                             num_threads)


cdef void _run_nearest(pixel[:, :, :, :, :] x, pixel[:, :, :, :, :] y,
                       Py_ssize_t* xs, Py_ssize_t* ys, const Py_ssize_t[::1] src_d,
                       const Py_ssize_t[::1] src_h, const Py_ssize_t[::1] off_w,
                       bint copy_w, bint channels_last, int num_threads) noexcept:
    cdef const pixel* xp = &x[0, 0, 0, 0, 0]
    cdef pixel* yp = &y[0, 0, 0, 0, 0]
    cdef Py_ssize_t n_batch = x.shape[0], n_chan = x.shape[1]
    with nogil:
        if channels_last:
            _nearest_channels_last(xp, xs, yp, ys, n_batch, n_chan, &src_d[0], &src_h[0],
                                   &off_w[0], src_d.shape[0], src_h.shape[0],
                                   off_w.shape[0], num_threads)
        else:
            _nearest_planar(xp, xs, yp, ys, n_batch, n_chan, &src_d[0], &src_h[0],
                            &off_w[0], src_d.shape[0], src_h.shape[0], off_w.shape[0],
                            copy_w, num_threads)


def resample_uint8(const uint8_t[:, :, :, :] x, uint8_t[:, :, :, :] y, table_h, table_w,
                   bint skip_h, bint skip_w, bint channels_last, int num_threads):
    """uint8 fixed-point resampling of 4-D views ``x`` -> ``y`` (N, C, H, W).

    ``table_h``/``table_w`` are ``(idx, int16 weights, count, precision)`` in
    window form (contiguous taps starting at ``idx[o, 0]``).
    """
    cdef const Py_ssize_t[:, ::1] idx_h = table_h[0]
    cdef const int16_t[:, ::1] w_h = table_h[1]
    cdef const Py_ssize_t[::1] cnt_h = table_h[2]
    cdef const Py_ssize_t[:, ::1] idx_w = table_w[0]
    cdef const int16_t[:, ::1] w_w = table_w[1]
    cdef const Py_ssize_t[::1] cnt_w = table_w[2]
    cdef int prec_h = table_h[3], prec_w = table_w[3]
    cdef Py_ssize_t xs[4]
    cdef Py_ssize_t ys[4]
    cdef Py_ssize_t i, block = 16, rows_max
    cdef int failed = 0
    xstr = _element_strides(np.asarray(x))
    ystr = _element_strides(np.asarray(y))
    for i in range(4):
        xs[i] = xstr[i]
        ys[i] = ystr[i]
    # The most input rows one block of output rows reads.
    first = np.asarray(idx_h)[:, 0]
    last = first + np.asarray(cnt_h) - 1
    starts = np.arange(0, y.shape[2], block)
    ends = np.minimum(starts + block, y.shape[2]) - 1
    rows_max = int(np.max(last[ends] - first[starts] + 1))
    with nogil:
        _uint8_separable(&x[0, 0, 0, 0], xs, &y[0, 0, 0, 0], ys, x.shape[0], x.shape[1],
                         channels_last, x.shape[2], y.shape[2], y.shape[3],
                         &idx_h[0, 0], &w_h[0, 0], &cnt_h[0], idx_h.shape[1], prec_h, skip_h,
                         &idx_w[0, 0], &w_w[0, 0], &cnt_w[0], idx_w.shape[1], prec_w, skip_w,
                         block, rows_max, num_threads, &failed)
    if failed == 1:
        raise MemoryError("could not allocate a row buffer for the uint8 kernel")
    if failed:
        raise AssertionError("uint8 kernel: tap window larger than its buffer")
