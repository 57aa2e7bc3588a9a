"""Float resampling kernels: walk per-axis tap tables, forward and adjoint.

Python (``upsamplex._interpolate``) validates, plans and builds the tables
(``_tables``); these kernels run in one ``nogil`` block each, parallel over
output rows, every output element written by exactly one thread, so results do
not depend on the thread count. The adjoint is the same kernel fed the
transposed tables.
"""

from cython.parallel cimport parallel, prange
from libc.stdint cimport int16_t, int32_t, uint8_t, uint16_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

cimport numpy as cnp
import numpy as np

cnp.import_array()

from ._tables import element_strides

from ._tables cimport (
    WALK_COPY,
    WALK_GATHER,
    WALK_TAP2,
    WALK_TAP4,
    Axis,
    block_ranges,
    floating,
    tap_index,
    tap_weight,
)

cdef extern from "_stream.h" nogil:
    void ux_blend2_f32(float* out, const float* a, const float* b, float w0, float w1,
                       Py_ssize_t n, int stream)
    void ux_blend2_f64(double* out, const double* a, const double* b, double w0, double w1,
                       Py_ssize_t n, int stream)
    void ux_blend4_f32(float* out, const float* a, const float* b, const float* c,
                       const float* d, float w0, float w1, float w2, float w3, Py_ssize_t n,
                       int stream)
    void ux_blend4_f64(double* out, const double* a, const double* b, const double* c,
                       const double* d, double w0, double w1, double w2, double w3,
                       Py_ssize_t n, int stream)
    void ux_blend6_f32(float* out, const float* a, const float* b, const float* c,
                       const float* d, const float* e, const float* f, float w0, float w1,
                       float w2, float w3, float w4, float w5, Py_ssize_t n, int stream)
    void ux_blend6_f64(double* out, const double* a, const double* b, const double* c,
                       const double* d, const double* e, const double* f, double w0,
                       double w1, double w2, double w3, double w4, double w5, Py_ssize_t n,
                       int stream)
    void ux_repeat2_f32(float* out, const float* row, Py_ssize_t n_in, int stream)
    void ux_repeat2_f64(double* out, const double* row, Py_ssize_t n_in, int stream)
    Py_ssize_t ux_gather8_f32(float* out, const float* row, Py_ssize_t n, const int32_t* table,
                              int stream)
    int UX_GATHER8
    void ux_stream_fence()

ctypedef fused pixel:
    uint8_t
    uint16_t
    float
    double


cdef extern from "_convert.h" nogil:
    void ux_convert(int code, int widen, const char* src, Py_ssize_t ss, char* dst,
                    Py_ssize_t ds, Py_ssize_t n)


# A narrow output (uint8/uint16/int16/float16) of a float32 computation: each
# finished float32 row, still in L1, is rounded straight into it (no float32
# output array; _convert.h's rounding).
ctypedef struct Narrow:
    int code  # _CONVERT_CODES; 0: no narrow output, rows go to y itself
    char* data
    Py_ssize_t s[5]  # byte strides of the (N, C, D, H, W) output


cdef Narrow _SAME_DTYPE  # code 0 (zero-initialised): rows go to y


cdef inline void _narrow_row(const Narrow* nw, const void* row, Py_ssize_t n, Py_ssize_t c,
                             Py_ssize_t od, Py_ssize_t oh, Py_ssize_t size_ow,
                             Py_ssize_t n_chan) noexcept nogil:
    # ``row``: size_ow float32 values of plane c (n_chan == 0), or size_ow pixels
    # of n_chan values each (channels-last).
    cdef char* d = nw.data + n * nw.s[0] + od * nw.s[2] + oh * nw.s[3]
    cdef const char* src = <const char*>row
    cdef Py_ssize_t o
    if n_chan == 0:
        ux_convert(nw.code, 0, src, 4, d + c * nw.s[1], nw.s[4], size_ow)
    elif n_chan == 1:
        ux_convert(nw.code, 0, src, 4, d, nw.s[4], size_ow)
    elif nw.s[4] == n_chan * nw.s[1]:  # pixels packed: one run
        ux_convert(nw.code, 0, src, 4, d, nw.s[1], size_ow * n_chan)
    else:
        for o in range(size_ow):
            ux_convert(nw.code, 0, src + o * n_chan * 4, 4, d + o * nw.s[4], nw.s[1], n_chan)


# ---------------------------------------------------------------------------
# Float kernels
# ---------------------------------------------------------------------------

cdef inline void _walk_rows(const floating* row, Py_ssize_t step, floating* out,
                            Py_ssize_t out_step, const Axis* a, Py_ssize_t o_begin,
                            Py_ssize_t o_end) noexcept nogil:
    # The plain table walk: outputs o_begin..o_end-1 of a last-axis pass,
    # straight from the table (every fast loop gives exactly these bits).
    cdef Py_ssize_t o, j, n, k = a.k
    cdef const Py_ssize_t* idx = a.idx
    cdef const floating* w = <const floating*>a.w
    cdef const Py_ssize_t* cnt = a.cnt
    cdef const floating* r
    cdef floating acc, wv
    if a.walk == WALK_COPY:
        if step == 1 and out_step == 1:
            memcpy(out + o_begin, row + o_begin, (o_end - o_begin) * sizeof(floating))
        else:
            for o in range(o_begin, o_end):
                out[o * out_step] = row[o * step]
    elif a.walk == WALK_GATHER:
        for o in range(o_begin, o_end):
            out[o * out_step] = row[idx[o] * step]
    elif k == 1:
        # Box rows (area): consecutive taps, one weight.
        for o in range(o_begin, o_end):
            n = cnt[o]
            if n == 0:
                out[o * out_step] = 0
                continue
            wv = w[o]
            r = row + idx[o] * step
            acc = wv * r[0]
            for j in range(1, n):
                acc = acc + wv * r[j * step]
            out[o * out_step] = acc
    else:
        for o in range(o_begin, o_end):
            n = cnt[o]
            if n == 0:
                out[o * out_step] = 0
                continue
            acc = w[o * k] * row[idx[o * k] * step]
            for j in range(1, n):
                acc = acc + w[o * k + j] * row[idx[o * k + j] * step]
            out[o * out_step] = acc


cdef inline void _walk_full(const floating* row, Py_ssize_t step, floating* out,
                            Py_ssize_t out_step, const Py_ssize_t* idx, const floating* w,
                            Py_ssize_t o_begin, Py_ssize_t o_end,
                            const Py_ssize_t k) noexcept nogil:
    # Rows with exactly k taps: no count look-ups; called with a constant k so
    # the compiler unrolls the taps. Same products, same order as _walk_rows.
    cdef Py_ssize_t o, j
    cdef const Py_ssize_t* ip
    cdef const floating* wp
    cdef floating acc
    # Two and four taps spelled out: these rows are short (a border, or a whole
    # row of a small image), so the loop's set-up would cost more than its body.
    if k == 2:
        for o in range(o_begin, o_end):
            out[o * out_step] = (w[2 * o] * row[idx[2 * o] * step]
                                 + w[2 * o + 1] * row[idx[2 * o + 1] * step])
        return
    if k == 4:
        for o in range(o_begin, o_end):
            out[o * out_step] = (w[4 * o] * row[idx[4 * o] * step]
                                 + w[4 * o + 1] * row[idx[4 * o + 1] * step]
                                 + w[4 * o + 2] * row[idx[4 * o + 2] * step]
                                 + w[4 * o + 3] * row[idx[4 * o + 3] * step])
        return
    for o in range(o_begin, o_end):
        ip = idx + o * k
        wp = w + o * k
        acc = wp[0] * row[ip[0] * step]
        for j in range(1, k):
            acc = acc + wp[j] * row[ip[j] * step]
        out[o * out_step] = acc


cdef inline void _walk_taps(const floating* row, Py_ssize_t step, floating* out,
                            Py_ssize_t out_step, const Axis* a, Py_ssize_t o_begin,
                            Py_ssize_t o_end) noexcept nogil:
    # Outputs o_begin..o_end-1: full rows (fix_lo..fix_hi) with a constant tap
    # count, the others (truncated border rows) through the plain walk.
    cdef Py_ssize_t lo = a.fix_lo if a.fix_lo > o_begin else o_begin
    cdef Py_ssize_t hi = a.fix_hi if a.fix_hi < o_end else o_end
    cdef const floating* w = <const floating*>a.w
    if lo == o_begin and hi == o_end and (a.k == 2 or a.k == 4):
        # The whole range is full rows (every row of a linear / cubic table):
        # straight to the unrolled loop; the x2 walk calls this for two
        # border outputs per row, where any set-up shows.
        if a.k == 2:
            _walk_full(row, step, out, out_step, a.idx, w, lo, hi, 2)
        else:
            _walk_full(row, step, out, out_step, a.idx, w, lo, hi, 4)
        return
    if hi <= lo or a.walk == WALK_COPY or a.walk == WALK_GATHER:
        _walk_rows(row, step, out, out_step, a, o_begin, o_end)
        return
    _walk_rows(row, step, out, out_step, a, o_begin, lo)
    if a.k == 2:
        _walk_full(row, step, out, out_step, a.idx, w, lo, hi, 2)
    elif a.k == 4:
        _walk_full(row, step, out, out_step, a.idx, w, lo, hi, 4)
    elif a.k == 6:
        _walk_full(row, step, out, out_step, a.idx, w, lo, hi, 6)
    else:
        _walk_full(row, step, out, out_step, a.idx, w, lo, hi, a.k)
    _walk_rows(row, step, out, out_step, a, hi, o_end)


cdef inline void _walk_down2(const floating* row, floating* out, const Axis* a) noexcept nogil:
    # Decimation by 2 (area / antialias downscale, adjoint of x2 upscaling):
    # constant weights, taps at 2o + off; same products and order as the table.
    cdef Py_ssize_t o, j, n = a.dn2_taps, lo = a.dn2_lo, hi = a.dn2_hi
    cdef const floating* w = (<const floating*>a.w) + lo * a.k
    cdef const floating* r
    cdef floating w0, w1, w2, w3, acc
    # A box table (area by 2) has one weight for all its taps (at w[lo]).
    cdef bint box = a.k == 1
    w0 = w[0]
    w1 = w0 if box else (w[1] if n > 1 else 0)
    w2 = w0 if box else (w[2] if n > 2 else 0)
    w3 = w0 if box else (w[3] if n > 3 else 0)
    if n == 2:
        for o in range(lo, hi):
            r = row + 2 * o + a.dn2_off
            out[o] = w0 * r[0] + w1 * r[1]
    elif n == 3:
        for o in range(lo, hi):
            r = row + 2 * o + a.dn2_off
            out[o] = w0 * r[0] + w1 * r[1] + w2 * r[2]
    elif n == 4:
        for o in range(lo, hi):
            r = row + 2 * o + a.dn2_off
            out[o] = w0 * r[0] + w1 * r[1] + w2 * r[2] + w3 * r[3]
    else:
        # Tap-outer passes (each one vectorises); per output the same sum in the
        # same order as the single loop.
        r = row + a.dn2_off
        for o in range(lo, hi):
            out[o] = w0 * r[2 * o]
        for j in range(1, n):
            acc = w0 if box else w[j]
            for o in range(lo, hi):
                out[o] = out[o] + acc * r[2 * o + j]


cdef inline void _up2_taps(const floating* row, floating* out, Py_ssize_t lo, Py_ssize_t hi,
                           Py_ssize_t se, Py_ssize_t so, const floating* we,
                           const floating* wo, const Py_ssize_t k) noexcept nogil:
    # Integer x2 with k taps (constant k: unrolled): outputs 2i and 2i+1 from
    # the reference rows' weights ``we`` and ``wo``; same order as the table.
    cdef Py_ssize_t i, j
    cdef const floating* r
    cdef floating acc
    for i in range(lo, hi):
        r = row + i + se
        acc = we[0] * r[0]
        for j in range(1, k):
            acc = acc + we[j] * r[j]
        out[2 * i] = acc
        r = row + i + so
        acc = wo[0] * r[0]
        for j in range(1, k):
            acc = acc + wo[j] * r[j]
        out[2 * i + 1] = acc


cdef inline void _walk(const floating* row, Py_ssize_t step, floating* out,
                       Py_ssize_t out_step, const Axis* a) noexcept nogil:
    # Last-axis pass over one row. ``step`` is the distance between samples
    # of ``row`` and ``out_step`` between outputs; both are 1 for planar data.
    cdef Py_ssize_t i, lo = a.up2_lo, hi = a.up2_hi, k = a.k
    cdef const floating* w = <const floating*>a.w
    cdef const floating* r
    cdef floating e0, e1, e2, e3, d0, d1, d2, d3
    cdef Py_ssize_t se, so
    if a.dn2_hi > a.dn2_lo and step == 1 and out_step == 1:
        _walk_taps(row, 1, out, 1, a, 0, a.dn2_lo)
        _walk_down2(row, out, a)
        _walk_taps(row, 1, out, 1, a, a.dn2_hi, a.size_out)
        return
    if hi <= lo or step != 1 or out_step != 1:
        _walk_taps(row, step, out, out_step, a, 0, a.size_out)
        return
    # Integer x2: constant weights per output parity, so the loop has no
    # table look-ups and vectorises; same products, same order as the table.
    _walk_taps(row, 1, out, 1, a, 0, 2 * lo)
    # Reference rows 2lo (even) and 2lo+1 (odd); row 2i reads from i + se.
    se = a.idx[2 * lo * k] - lo
    so = a.idx[(2 * lo + 1) * k] - lo
    w = w + 2 * lo * k - 2 * k
    if k == 2:
        e0 = w[2 * k]
        e1 = w[2 * k + 1]
        d0 = w[3 * k]
        d1 = w[3 * k + 1]
        for i in range(lo, hi):
            out[2 * i] = e0 * row[i + se] + e1 * row[i + se + 1]
            out[2 * i + 1] = d0 * row[i + so] + d1 * row[i + so + 1]
    elif k == 4:
        e0 = w[2 * k]
        e1 = w[2 * k + 1]
        e2 = w[2 * k + 2]
        e3 = w[2 * k + 3]
        d0 = w[3 * k]
        d1 = w[3 * k + 1]
        d2 = w[3 * k + 2]
        d3 = w[3 * k + 3]
        for i in range(lo, hi):
            r = row + i + se
            out[2 * i] = e0 * r[0] + e1 * r[1] + e2 * r[2] + e3 * r[3]
            r = row + i + so
            out[2 * i + 1] = d0 * r[0] + d1 * r[1] + d2 * r[2] + d3 * r[3]
    elif k == 6:
        # Lanczos-3 (antialias) x2.
        _up2_taps(row, out, lo, hi, se, so, w + 2 * k, w + 3 * k, 6)
    else:
        _up2_taps(row, out, lo, hi, se, so, w + 2 * k, w + 3 * k, k)
    _walk_taps(row, 1, out, 1, a, 2 * hi, a.size_out)


cdef inline bint _combine_rows(const floating* base, const Py_ssize_t* xs,
                               const Axis* ad, const Axis* ah, Py_ssize_t od, Py_ssize_t oh,
                               Py_ssize_t width, Py_ssize_t sw, floating* tmp) noexcept nogil:
    # Weighted sum of the input rows that output row (od, oh) reads, into the
    # contiguous buffer ``tmp`` of ``width`` samples read with stride ``sw``.
    # Returns False when no input row contributes (adjoint of a skipped row).
    cdef Py_ssize_t a, b, i, nd = ad.cnt[od], nh = ah.cnt[oh]
    cdef const floating* w_d = <const floating*>ad.w
    cdef const floating* w_h = <const floating*>ah.w
    cdef const floating* src
    cdef floating wv
    cdef bint first = True
    if nd == 0 or nh == 0:
        return False
    for a in range(nd):
        for b in range(nh):
            wv = tap_weight(w_d, ad, od, a) * tap_weight(w_h, ah, oh, b)
            src = base + tap_index(ad, od, a) * xs[2] + tap_index(ah, oh, b) * xs[3]
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
                          const Axis* axes, const Narrow* nw, int num_threads) noexcept nogil:
    # Planar layout: W is the fastest output axis (output W stride 1).
    cdef const Axis* ad = &axes[0]
    cdef const Axis* ah = &axes[1]
    cdef const Axis* aw = &axes[2]
    cdef Py_ssize_t size_od = ad.size_out, size_oh = ah.size_out, width = aw.size_in
    cdef Py_ssize_t n_rows = n_batch * n_chan * size_od * size_oh
    cdef Py_ssize_t r, rest, n, c, od, oh, step
    cdef floating* tmp
    cdef floating* orow
    cdef const floating* base
    cdef const floating* row
    cdef floating* yrow
    cdef int failed = 0
    cdef int* failed_ptr = &failed
    with parallel(num_threads=num_threads):
        tmp = <floating*>malloc((width + 1) * sizeof(floating))
        orow = <floating*>malloc((aw.size_out + 1) * sizeof(floating))
        for r in prange(n_rows, schedule='static'):
            if tmp == NULL or orow == NULL:
                failed_ptr[0] = 1
                continue
            oh = r % size_oh
            rest = r // size_oh
            od = rest % size_od
            rest = rest // size_od
            c = rest % n_chan
            n = rest // n_chan
            base = x + n * xs[0] + c * xs[1]
            if nw.code:
                yrow = orow
            else:
                yrow = y + n * ys[0] + c * ys[1] + od * ys[2] + oh * ys[3]
            if _direct_row(base, ad, ah, od, oh):
                row = base + ad.idx[od * ad.k] * xs[2] + ah.idx[oh * ah.k] * xs[3]
                step = xs[4]
                _walk(row, step, yrow, 1, aw)
            elif _combine_rows(base, xs, ad, ah, od, oh, width, xs[4], tmp):
                _walk(tmp, 1, yrow, 1, aw)
            else:
                memset(yrow, 0, aw.size_out * sizeof(floating))
            if nw.code:
                _narrow_row(nw, orow, n, c, od, oh, aw.size_out, 0)
        free(tmp)
        free(orow)
    return -1 if failed else 0


cdef inline void _blend_rows(const floating* rows, Py_ssize_t row_len, Py_ssize_t first,
                             const Axis* ah, Py_ssize_t oh, floating* out,
                             int stream) noexcept nogil:
    # out = sum_j w_j * rows[(idx_j - first) * row_len + :] over the taps of
    # row oh of ``ah``, contiguous rows. Every count sums in the same order
    # (first tap, then each next one added), one pass or several.
    cdef Py_ssize_t i, j, n = ah.cnt[oh]
    cdef const floating* wt = <const floating*>ah.w
    cdef const floating* r[6]
    cdef floating w[6]
    cdef const floating* src
    cdef floating wv
    if n == 0:
        memset(out, 0, row_len * sizeof(floating))
        return
    cdef const Py_ssize_t* ip = ah.idx + oh * ah.k
    cdef const floating* wp = wt + oh * ah.k
    if n == 2 and ah.k != 1:
        # Linear: the common case first, with no per-tap set-up (rows can be
        # short: this runs once per output row).
        if floating is float:
            ux_blend2_f32(out, rows + (ip[0] - first) * row_len,
                          rows + (ip[1] - first) * row_len, wp[0], wp[1], row_len, stream)
        else:
            ux_blend2_f64(out, rows + (ip[0] - first) * row_len,
                          rows + (ip[1] - first) * row_len, wp[0], wp[1], row_len, stream)
        return
    # One branch per output row, not one per tap.
    if ah.k == 1:
        for j in range(n if n < 6 else 6):
            r[j] = rows + (ip[0] + j - first) * row_len
            w[j] = wp[0]
    else:
        for j in range(n if n < 6 else 6):
            r[j] = rows + (ip[j] - first) * row_len
            w[j] = wp[j]
    if n == 1:
        if w[0] == 1:
            memcpy(out, r[0], row_len * sizeof(floating))
        else:
            wv = w[0]
            src = r[0]
            for i in range(row_len):
                out[i] = wv * src[i]
        return
    if n == 2:
        # Large outputs skip the cache on the way out (_stream.h).
        if floating is float:
            ux_blend2_f32(out, r[0], r[1], w[0], w[1], row_len, stream)
        else:
            ux_blend2_f64(out, r[0], r[1], w[0], w[1], row_len, stream)
        return
    if n == 4:
        # Bicubic: one pass.
        if floating is float:
            ux_blend4_f32(out, r[0], r[1], r[2], r[3], w[0], w[1], w[2], w[3], row_len,
                          stream)
        else:
            ux_blend4_f64(out, r[0], r[1], r[2], r[3], w[0], w[1], w[2], w[3], row_len,
                          stream)
        return
    if n == 6:
        # Lanczos-3 (antialias, not shrinking): one pass.
        if floating is float:
            ux_blend6_f32(out, r[0], r[1], r[2], r[3], r[4], r[5], w[0], w[1], w[2], w[3],
                          w[4], w[5], row_len, stream)
        else:
            ux_blend6_f64(out, r[0], r[1], r[2], r[3], r[4], r[5], w[0], w[1], w[2], w[3],
                          w[4], w[5], row_len, stream)
        return
    if floating is float:
        ux_blend2_f32(out, r[0], r[1], w[0], w[1], row_len, 0)
    else:
        ux_blend2_f64(out, r[0], r[1], w[0], w[1], row_len, 0)
    for j in range(2, n):
        src = rows + (tap_index(ah, oh, j) - first) * row_len
        wv = tap_weight(wt, ah, oh, j)
        for i in range(row_len):
            out[i] = out[i] + wv * src[i]


cdef inline const floating* _depth_row(
        const floating* base, Py_ssize_t zs, Py_ssize_t sw, const Axis* ad, Py_ssize_t od,
        Py_ssize_t width, floating* tmp) noexcept nogil:
    # The input row at depth output od: the source row itself when one tap of
    # weight 1 (2-D data, or nearest/copied depth), else the weighted sum of
    # the depth taps into ``tmp`` (same order as _combine_rows: first tap
    # assigned, then added). ``base`` points at the row's (d=0) start; width
    # samples ``sw`` apart. The result is ``tmp`` (dense, step 1) or a source
    # row (step ``sw``): callers tell them apart by the pointer. The step is not
    # an out-parameter because a variable written only through its address
    # inside a prange body is shared between the OpenMP threads (Cython makes
    # a variable thread-private only when the body assigns it).
    cdef Py_ssize_t a, i, n = ad.cnt[od], k = ad.k
    cdef const floating* w = (<const floating*>ad.w) + od * k
    cdef const Py_ssize_t* idx = ad.idx + od * k
    cdef const floating* src
    cdef floating wv
    if n == 1 and w[0] == 1:
        return base + idx[0] * zs
    if n == 0:
        memset(tmp, 0, width * sizeof(floating))
        return tmp
    for a in range(n):
        # (box tables: consecutive taps, one weight)
        wv = w[0] if k == 1 else w[a]
        src = base + (idx[0] + a if k == 1 else idx[a]) * zs
        if a == 0:
            for i in range(width):
                tmp[i] = wv * src[i * sw]
        else:
            for i in range(width):
                tmp[i] = tmp[i] + wv * src[i * sw]
    return tmp


cdef int _resample_planar_hfirst(const floating* x, const Py_ssize_t* xs, floating* y,
                                 const Py_ssize_t* ys, Py_ssize_t n_batch,
                                 Py_ssize_t n_chan, const Axis* ad, const Axis* ah,
                                 const Axis* aw, Py_ssize_t block, const Py_ssize_t* block_lo,
                                 const Py_ssize_t* block_hi, Py_ssize_t rows_max,
                                 int stream, const Narrow* nw, int num_threads) noexcept nogil:
    # Planar, W pass first: each job (plane, output depth, block of output rows)
    # resamples the input rows its block reads once into a private buffer (3-D:
    # after combining the depth taps), then blends them per output row with
    # contiguous, vectorisable loops. Cheaper than the vertical-first kernel
    # when upsampling along H.
    cdef Py_ssize_t size_od = ad.size_out, size_oh = ah.size_out, size_ow = aw.size_out
    cdef Py_ssize_t width = aw.size_in
    cdef Py_ssize_t n_blocks = (size_oh + block - 1) // block
    cdef Py_ssize_t job, p, b, n, c, od, oh, oh0, oh1, lo, hi, ih, rest, step
    cdef floating* buf
    cdef floating* tmp
    cdef const floating* base
    cdef const floating* row
    cdef floating* yplane
    cdef int failed = 0
    cdef int* failed_ptr = &failed
    with parallel(num_threads=num_threads):
        buf = <floating*>malloc((rows_max * size_ow + 1) * sizeof(floating))
        # (also the output row of a narrow output)
        tmp = <floating*>malloc(((width if width > size_ow else size_ow) + 1)
                                * sizeof(floating))
        for job in prange(n_batch * n_chan * size_od * n_blocks, schedule='static'):
            if buf == NULL or tmp == NULL:
                failed_ptr[0] = 1
                continue
            b = job % n_blocks
            rest = job // n_blocks
            od = rest % size_od
            p = rest // size_od
            n = p // n_chan
            c = p % n_chan
            base = x + n * xs[0] + c * xs[1]
            yplane = y + n * ys[0] + c * ys[1] + od * ys[2]
            oh0 = b * block
            oh1 = oh0 + block if oh0 + block < size_oh else size_oh
            lo = block_lo[b]
            hi = block_hi[b]
            for ih in range(lo, hi):
                row = _depth_row(base + ih * xs[3], xs[2], xs[4], ad, od, width, tmp)
                step = 1 if row == tmp else xs[4]
                _walk(row, step, buf + (ih - lo) * size_ow, 1, aw)
            for oh in range(oh0, oh1):
                if nw.code:
                    _blend_rows(buf, size_ow, lo, ah, oh, tmp, 0)
                    _narrow_row(nw, tmp, n, c, od, oh, size_ow, 0)
                else:
                    _blend_rows(buf, size_ow, lo, ah, oh, yplane + oh * ys[3], stream)
        ux_stream_fence()
        free(buf)
        free(tmp)
    return -1 if failed else 0


cdef inline void _cl_up2_taps(const floating* row, Py_ssize_t step, Py_ssize_t n_chan,
                              floating* out, Py_ssize_t out_step, const Axis* a,
                              const Py_ssize_t k) noexcept nogil:
    # Integer x2 with k taps (constant k: unrolled): constant weights per
    # output parity, as in _walk; same order as the table.
    cdef Py_ssize_t par, i, c, j, se, lo = a.up2_lo, hi = a.up2_hi
    cdef const floating* w
    cdef const floating* src
    cdef floating* pix
    cdef floating acc
    for par in range(2):
        se = a.idx[(2 * lo + par) * k] - lo
        w = (<const floating*>a.w) + (2 * lo + par) * k
        for i in range(lo, hi):
            src = row + (i + se) * step
            pix = out + (2 * i + par) * out_step
            for c in range(n_chan):
                acc = w[0] * src[c]
                for j in range(1, k):
                    acc = acc + w[j] * src[c + j * step]
                pix[c] = acc


cdef inline void _walk_cl(const floating* row, Py_ssize_t step, Py_ssize_t n_chan,
                          floating* out, Py_ssize_t out_step, const Axis* a) noexcept nogil:
    # Channels-last last-axis pass: pixel o of ``out`` (C values at stride 1,
    # pixels ``out_step`` apart) from the pixels of ``row`` (``step`` apart).
    # Same summation order as _walk, so both layouts give identical bits.
    cdef Py_ssize_t c, k = a.k
    cdef const floating* wtab = <const floating*>a.w
    cdef const floating* src
    cdef floating* pix
    cdef floating e0, e1, d0, d1
    cdef Py_ssize_t lo = a.up2_lo, hi = a.up2_hi, i, se, so, lo_done
    if hi > lo and k == 2:
        # Integer x2, as in _walk: constant weights per output parity.
        se = a.idx[2 * lo * k] - lo
        so = a.idx[(2 * lo + 1) * k] - lo
        e0 = wtab[2 * lo * k]
        e1 = wtab[2 * lo * k + 1]
        d0 = wtab[(2 * lo + 1) * k]
        d1 = wtab[(2 * lo + 1) * k + 1]
        if n_chan == 3 and step == 3 and out_step == 3:
            # Dense RGB, unrolled: six outputs from two pixel pairs.
            for i in range(lo, hi):
                src = row + 3 * (i + se)
                pix = out + 6 * i
                pix[0] = e0 * src[0] + e1 * src[3]
                pix[1] = e0 * src[1] + e1 * src[4]
                pix[2] = e0 * src[2] + e1 * src[5]
                src = row + 3 * (i + so)
                pix[3] = d0 * src[0] + d1 * src[3]
                pix[4] = d0 * src[1] + d1 * src[4]
                pix[5] = d0 * src[2] + d1 * src[5]
            lo_done = hi
        else:
            lo_done = lo
        for i in range(lo_done, hi):
            src = row + (i + se) * step
            pix = out + 2 * i * out_step
            for c in range(n_chan):
                pix[c] = e0 * src[c] + e1 * src[c + step]
            src = row + (i + so) * step
            pix = out + (2 * i + 1) * out_step
            for c in range(n_chan):
                pix[c] = d0 * src[c] + d1 * src[c + step]
        _walk_cl_range(row, step, n_chan, out, out_step, a, 0, 2 * lo)
        _walk_cl_range(row, step, n_chan, out, out_step, a, 2 * hi, a.size_out)
        return
    if a.dn2_hi > a.dn2_lo:
        # Halving: taps at pixel 2o + off with constant weights (as _walk_down2).
        _walk_cl_range(row, step, n_chan, out, out_step, a, 0, a.dn2_lo)
        _walk_cl_down2(row, step, n_chan, out, out_step, a)
        _walk_cl_range(row, step, n_chan, out, out_step, a, a.dn2_hi, a.size_out)
        return
    if hi > lo:
        # Integer x2 bicubic / Lanczos: k taps, constant weights per parity.
        if k == 4:
            _cl_up2_taps(row, step, n_chan, out, out_step, a, 4)
        elif k == 6:
            _cl_up2_taps(row, step, n_chan, out, out_step, a, 6)
        else:
            _cl_up2_taps(row, step, n_chan, out, out_step, a, k)
        _walk_cl_range(row, step, n_chan, out, out_step, a, 0, 2 * lo)
        _walk_cl_range(row, step, n_chan, out, out_step, a, 2 * hi, a.size_out)
        return
    _walk_cl_range(row, step, n_chan, out, out_step, a, 0, a.size_out)


cdef inline void _walk_cl_down2(const floating* row, Py_ssize_t step, Py_ssize_t n_chan,
                                floating* out, Py_ssize_t out_step,
                                const Axis* a) noexcept nogil:
    cdef Py_ssize_t o, j, c, n = a.dn2_taps
    cdef const floating* w = (<const floating*>a.w) + a.dn2_lo * a.k
    cdef const floating* src
    cdef floating* pix
    cdef floating p0, p1, p2
    cdef floating wb[8]
    if a.k == 1:
        # Box rows: the one weight for every tap (n <= 8 when halving).
        for j in range(n if n < 8 else 8):
            wb[j] = w[0]
        w = wb
        if n > 8:
            _walk_cl_rows(row, step, n_chan, out, out_step, a, a.dn2_lo, a.dn2_hi)
            return
    for o in range(a.dn2_lo, a.dn2_hi):
        src = row + (2 * o + a.dn2_off) * step
        pix = out + o * out_step
        if n_chan == 3:
            p0 = w[0] * src[0]
            p1 = w[0] * src[1]
            p2 = w[0] * src[2]
            for j in range(1, n):
                p0 = p0 + w[j] * src[j * step]
                p1 = p1 + w[j] * src[j * step + 1]
                p2 = p2 + w[j] * src[j * step + 2]
            pix[0] = p0
            pix[1] = p1
            pix[2] = p2
            continue
        for c in range(n_chan):
            pix[c] = w[0] * src[c]
        for j in range(1, n):
            for c in range(n_chan):
                pix[c] = pix[c] + w[j] * src[j * step + c]


cdef inline void _walk_cl_rows(const floating* row, Py_ssize_t step, Py_ssize_t n_chan,
                               floating* out, Py_ssize_t out_step, const Axis* a,
                               Py_ssize_t o_begin, Py_ssize_t o_end) noexcept nogil:
    # The plain table walk, channels-last (box tables included).
    cdef Py_ssize_t o, j, c, cnt
    cdef const floating* wtab = <const floating*>a.w
    cdef const floating* src
    cdef floating* pix
    cdef floating wt, p0, p1, p2
    for o in range(o_begin, o_end):
        pix = out + o * out_step
        cnt = a.cnt[o]
        if cnt == 0:
            memset(pix, 0, n_chan * sizeof(floating))
            continue
        src = row + a.idx[o * a.k] * step
        if a.walk == WALK_COPY or a.walk == WALK_GATHER:
            memcpy(pix, src, n_chan * sizeof(floating))
            continue
        wt = tap_weight(wtab, a, o, 0)
        if n_chan == 3:
            # RGB: keep the three sums in registers.
            p0 = wt * src[0]
            p1 = wt * src[1]
            p2 = wt * src[2]
            for j in range(1, cnt):
                wt = tap_weight(wtab, a, o, j)
                src = row + tap_index(a, o, j) * step
                p0 = p0 + wt * src[0]
                p1 = p1 + wt * src[1]
                p2 = p2 + wt * src[2]
            pix[0] = p0
            pix[1] = p1
            pix[2] = p2
            continue
        for c in range(n_chan):
            pix[c] = wt * src[c]
        for j in range(1, cnt):
            wt = tap_weight(wtab, a, o, j)
            src = row + tap_index(a, o, j) * step
            for c in range(n_chan):
                pix[c] = pix[c] + wt * src[c]


cdef inline void _walk_cl_full(const floating* row, Py_ssize_t step, Py_ssize_t n_chan,
                               floating* out, Py_ssize_t out_step, const Py_ssize_t* idx,
                               const floating* w, Py_ssize_t o_begin, Py_ssize_t o_end,
                               const Py_ssize_t k) noexcept nogil:
    # Rows with exactly k taps (constant k: unrolled), channels-last; same
    # order as _walk_cl_rows.
    cdef Py_ssize_t o, j, c
    cdef const Py_ssize_t* ip
    cdef const floating* wp
    cdef const floating* src
    cdef floating* pix
    cdef floating p0, p1, p2
    for o in range(o_begin, o_end):
        pix = out + o * out_step
        ip = idx + o * k
        wp = w + o * k
        if n_chan == 3:
            src = row + ip[0] * step
            p0 = wp[0] * src[0]
            p1 = wp[0] * src[1]
            p2 = wp[0] * src[2]
            for j in range(1, k):
                src = row + ip[j] * step
                p0 = p0 + wp[j] * src[0]
                p1 = p1 + wp[j] * src[1]
                p2 = p2 + wp[j] * src[2]
            pix[0] = p0
            pix[1] = p1
            pix[2] = p2
            continue
        src = row + ip[0] * step
        for c in range(n_chan):
            pix[c] = wp[0] * src[c]
        for j in range(1, k):
            src = row + ip[j] * step
            for c in range(n_chan):
                pix[c] = pix[c] + wp[j] * src[c]


cdef inline void _walk_cl_range(const floating* row, Py_ssize_t step, Py_ssize_t n_chan,
                                floating* out, Py_ssize_t out_step, const Axis* a,
                                Py_ssize_t o_begin, Py_ssize_t o_end) noexcept nogil:
    # Full rows (fix_lo..fix_hi) with a constant tap count, the rest plain.
    cdef Py_ssize_t lo = a.fix_lo if a.fix_lo > o_begin else o_begin
    cdef Py_ssize_t hi = a.fix_hi if a.fix_hi < o_end else o_end
    cdef const floating* w = <const floating*>a.w
    if hi <= lo or a.walk == WALK_COPY or a.walk == WALK_GATHER:
        _walk_cl_rows(row, step, n_chan, out, out_step, a, o_begin, o_end)
        return
    _walk_cl_rows(row, step, n_chan, out, out_step, a, o_begin, lo)
    if a.k == 2:
        _walk_cl_full(row, step, n_chan, out, out_step, a.idx, w, lo, hi, 2)
    elif a.k == 4:
        _walk_cl_full(row, step, n_chan, out, out_step, a.idx, w, lo, hi, 4)
    elif a.k == 6:
        _walk_cl_full(row, step, n_chan, out, out_step, a.idx, w, lo, hi, 6)
    else:
        _walk_cl_full(row, step, n_chan, out, out_step, a.idx, w, lo, hi, a.k)
    _walk_cl_rows(row, step, n_chan, out, out_step, a, hi, o_end)


cdef int _resample_cl_hfirst(const floating* x, const Py_ssize_t* xs, floating* y,
                             const Py_ssize_t* ys, Py_ssize_t n_batch, Py_ssize_t n_chan,
                             const Axis* ad, const Axis* ah, const Axis* aw, Py_ssize_t block,
                             const Py_ssize_t* block_lo, const Py_ssize_t* block_hi,
                             Py_ssize_t rows_max, int stream, const Narrow* nw,
                             int num_threads) noexcept nogil:
    # Channels-last twin of _resample_planar_hfirst (same arithmetic order):
    # rows are OW * C contiguous values, so the H blend vectorises across
    # pixels and channels. ys: output strides of (N, D, H, W).
    cdef Py_ssize_t size_od = ad.size_out, size_oh = ah.size_out, size_ow = aw.size_out
    cdef Py_ssize_t width = aw.size_in, row_len = size_ow * n_chan
    cdef Py_ssize_t n_blocks = (size_oh + block - 1) // block
    cdef Py_ssize_t job, n, b, od, oh, oh0, oh1, lo, hi, ih, o, rest, step, i, c, a, nd
    cdef bint dense = ys[3] == n_chan
    cdef floating* buf
    cdef floating* line
    cdef floating* tmp
    cdef floating* yrow
    cdef const floating* base
    cdef const floating* row
    cdef const floating* src
    cdef floating wv
    cdef int failed = 0
    cdef int* failed_ptr = &failed
    with parallel(num_threads=num_threads):
        buf = <floating*>malloc((rows_max * row_len + 1) * sizeof(floating))
        line = <floating*>malloc((row_len + 1) * sizeof(floating))
        tmp = <floating*>malloc((width * n_chan + 1) * sizeof(floating))
        for job in prange(n_batch * size_od * n_blocks, schedule='static'):
            if buf == NULL or line == NULL or tmp == NULL:
                failed_ptr[0] = 1
                continue
            b = job % n_blocks
            rest = job // n_blocks
            od = rest % size_od
            n = rest // size_od
            base = x + n * xs[0]
            oh0 = b * block
            oh1 = oh0 + block if oh0 + block < size_oh else size_oh
            lo = block_lo[b]
            hi = block_hi[b]
            for ih in range(lo, hi):
                if xs[4] == n_chan:
                    # Dense pixels: combine the depth taps over the flat row.
                    row = _depth_row(base + ih * xs[3], xs[2], 1, ad, od, width * n_chan,
                                     tmp)
                    step = n_chan
                elif ad.cnt[od] == 1 and (<const floating*>ad.w)[od * ad.k] == 1:
                    row = base + ad.idx[od * ad.k] * xs[2] + ih * xs[3]
                    step = xs[4]
                else:
                    nd = ad.cnt[od]
                    if nd == 0:
                        memset(tmp, 0, width * n_chan * sizeof(floating))
                    for a in range(nd):
                        wv = tap_weight(<const floating*>ad.w, ad, od, a)
                        src = base + tap_index(ad, od, a) * xs[2] + ih * xs[3]
                        for i in range(width):
                            for c in range(n_chan):
                                if a == 0:
                                    tmp[i * n_chan + c] = wv * src[i * xs[4] + c]
                                else:
                                    tmp[i * n_chan + c] = (tmp[i * n_chan + c]
                                                           + wv * src[i * xs[4] + c])
                    row = tmp
                    step = n_chan
                _walk_cl(row, step, n_chan, buf + (ih - lo) * row_len, n_chan, aw)
            for oh in range(oh0, oh1):
                yrow = y + n * ys[0] + od * ys[1] + oh * ys[2]
                if nw.code:
                    _blend_rows(buf, row_len, lo, ah, oh, line, 0)
                    _narrow_row(nw, line, n, 0, od, oh, size_ow, n_chan)
                elif dense:
                    _blend_rows(buf, row_len, lo, ah, oh, yrow, stream)
                else:
                    _blend_rows(buf, row_len, lo, ah, oh, line, 0)
                    for o in range(size_ow):
                        memcpy(yrow + o * ys[3], line + o * n_chan, n_chan * sizeof(floating))
        ux_stream_fence()
        free(buf)
        free(line)
        free(tmp)
    return -1 if failed else 0


cdef int _resample_channels_last(const floating* x, const Py_ssize_t* xs, floating* y,
                                 const Py_ssize_t* ys, Py_ssize_t n_batch,
                                 Py_ssize_t n_chan, const Axis* axes, const Narrow* nw,
                                 int num_threads) noexcept nogil:
    # Channels-last layout: C is the fastest axis of input and output (stride
    # 1); ys holds the output strides of (N, D, H, W).
    cdef const Axis* ad = &axes[0]
    cdef const Axis* ah = &axes[1]
    cdef const Axis* aw = &axes[2]
    cdef Py_ssize_t size_od = ad.size_out, size_oh = ah.size_out
    cdef Py_ssize_t width = aw.size_in, size_ow = aw.size_out
    cdef Py_ssize_t n_rows = n_batch * size_od * size_oh
    cdef Py_ssize_t r, rest, n, od, oh, o, pix
    cdef floating* tmp
    cdef floating* orow
    cdef const floating* base
    cdef const floating* row
    cdef floating* yrow
    cdef int failed = 0
    cdef int* failed_ptr = &failed
    with parallel(num_threads=num_threads):
        tmp = <floating*>malloc((width * n_chan + 1) * sizeof(floating))
        orow = <floating*>malloc((size_ow * n_chan + 1) * sizeof(floating))
        for r in prange(n_rows, schedule='static'):
            if tmp == NULL or orow == NULL:
                failed_ptr[0] = 1
                continue
            oh = r % size_oh
            rest = r // size_oh
            od = rest % size_od
            n = rest // size_od
            base = x + n * xs[0]
            if nw.code:
                yrow = orow
                pix = n_chan
            else:
                yrow = y + n * ys[0] + od * ys[1] + oh * ys[2]
                pix = ys[3]
            if _direct_row(base, ad, ah, od, oh):
                row = base + ad.idx[od * ad.k] * xs[2] + ah.idx[oh * ah.k] * xs[3]
                _walk_cl(row, xs[4], n_chan, yrow, pix, aw)
            elif _combine_rows_cl(base, xs, ad, ah, od, oh, width, n_chan, tmp):
                # Treat each (w, c) pair as one sample of a width*C row.
                _walk_cl(tmp, n_chan, n_chan, yrow, pix, aw)
            else:
                for o in range(size_ow):
                    memset(yrow + o * pix, 0, n_chan * sizeof(floating))
            if nw.code:
                _narrow_row(nw, orow, n, 0, od, oh, size_ow, n_chan)
        free(tmp)
        free(orow)
    return -1 if failed else 0


cdef inline bint _combine_rows_cl(const floating* base, const Py_ssize_t* xs,
                                  const Axis* ad, const Axis* ah, Py_ssize_t od,
                                  Py_ssize_t oh, Py_ssize_t width, Py_ssize_t n_chan,
                                  floating* tmp) noexcept nogil:
    # As _combine_rows, for channels-last rows: tmp[w * C + c].
    cdef Py_ssize_t a, b, i, c, nd = ad.cnt[od], nh = ah.cnt[oh], sw = xs[4]
    cdef const floating* w_d = <const floating*>ad.w
    cdef const floating* w_h = <const floating*>ah.w
    cdef const floating* src
    cdef floating* dst
    cdef floating wv
    cdef bint first = True
    if nd == 0 or nh == 0:
        return False
    if sw == n_chan:
        # Dense pixels: the row is one flat run of width * C values.
        return _combine_rows(base, xs, ad, ah, od, oh, width * n_chan, 1, tmp)
    for a in range(nd):
        for b in range(nh):
            wv = tap_weight(w_d, ad, od, a) * tap_weight(w_h, ah, oh, b)
            src = base + tap_index(ad, od, a) * xs[2] + tap_index(ah, oh, b) * xs[3]
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
                          Py_ssize_t size_ow, bint copy_w, Py_ssize_t repeat,
                          const int32_t* blocks, int stream, int num_threads) noexcept nogil:
    cdef Py_ssize_t n_rows = n_batch * n_chan * size_od * size_oh
    cdef Py_ssize_t r
    # One thread runs outside OpenMP: even a one-thread region costs a futex
    # wake (~1.5 us), most of a tiny call.
    if num_threads == 1:
        for r in range(n_rows):
            _nearest_planar_row(r, x, xs, y, ys, n_chan, src_d, src_h, off_w, size_od,
                                size_oh, size_ow, copy_w, repeat, blocks, stream)
        return
    for r in prange(n_rows, schedule='static', num_threads=num_threads):
        _nearest_planar_row(r, x, xs, y, ys, n_chan, src_d, src_h, off_w, size_od, size_oh,
                            size_ow, copy_w, repeat, blocks, stream)


cdef inline void _nearest_planar_row(Py_ssize_t r, const pixel* x, const Py_ssize_t* xs,
                                     pixel* y, const Py_ssize_t* ys, Py_ssize_t n_chan,
                                     const Py_ssize_t* src_d, const Py_ssize_t* src_h,
                                     const Py_ssize_t* off_w, Py_ssize_t size_od,
                                     Py_ssize_t size_oh, Py_ssize_t size_ow, bint copy_w,
                                     Py_ssize_t repeat, const int32_t* blocks,
                                     int stream) noexcept nogil:
    cdef Py_ssize_t oh = r % size_oh
    cdef Py_ssize_t rest = r // size_oh
    cdef Py_ssize_t od = rest % size_od
    cdef Py_ssize_t o, j
    rest = rest // size_od
    cdef Py_ssize_t c = rest % n_chan
    cdef Py_ssize_t n = rest // n_chan
    cdef const pixel* row = x + n * xs[0] + c * xs[1] + src_d[od] * xs[2] + src_h[oh] * xs[3]
    cdef pixel* yrow = y + n * ys[0] + c * ys[1] + od * ys[2] + oh * ys[3]
    if copy_w:
        memcpy(yrow, row, size_ow * sizeof(pixel))
    elif repeat == 2:
        # Integer x2 (the common case): interleaving stores instead of a
        # gather, streamed past the cache for large outputs.
        if pixel is float:
            ux_repeat2_f32(yrow, row, size_ow // 2, stream)
        elif pixel is double:
            ux_repeat2_f64(yrow, row, size_ow // 2, stream)
        else:
            for o in range(size_ow // 2):
                yrow[2 * o] = row[o]
                yrow[2 * o + 1] = row[o]
    elif repeat > 2:
        for o in range(size_ow // repeat):
            for j in range(repeat):
                yrow[o * repeat + j] = row[o]
    else:
        o = 0
        if pixel is float:
            if blocks != NULL:
                o = ux_gather8_f32(yrow, row, size_ow, blocks, stream)
        for o in range(o, size_ow):
            yrow[o] = row[off_w[o]]


cdef void _nearest_channels_last(const pixel* x, const Py_ssize_t* xs, pixel* y,
                                 const Py_ssize_t* ys, Py_ssize_t n_batch,
                                 Py_ssize_t n_chan, const Py_ssize_t* src_d,
                                 const Py_ssize_t* src_h, const Py_ssize_t* off_w,
                                 Py_ssize_t size_od, Py_ssize_t size_oh, Py_ssize_t size_ow,
                                 int num_threads) noexcept nogil:
    cdef Py_ssize_t n_rows = n_batch * size_od * size_oh
    cdef Py_ssize_t r
    if num_threads == 1:  # outside OpenMP, as in _nearest_planar
        for r in range(n_rows):
            _nearest_cl_row(r, x, xs, y, ys, n_chan, src_d, src_h, off_w, size_od, size_oh,
                            size_ow)
        return
    for r in prange(n_rows, schedule='static', num_threads=num_threads):
        _nearest_cl_row(r, x, xs, y, ys, n_chan, src_d, src_h, off_w, size_od, size_oh,
                        size_ow)


cdef inline void _nearest_cl_row(Py_ssize_t r, const pixel* x, const Py_ssize_t* xs,
                                 pixel* y, const Py_ssize_t* ys, Py_ssize_t n_chan,
                                 const Py_ssize_t* src_d, const Py_ssize_t* src_h,
                                 const Py_ssize_t* off_w, Py_ssize_t size_od,
                                 Py_ssize_t size_oh, Py_ssize_t size_ow) noexcept nogil:
    cdef Py_ssize_t oh = r % size_oh
    cdef Py_ssize_t rest = r // size_oh
    cdef Py_ssize_t od = rest % size_od
    cdef Py_ssize_t n = rest // size_od
    cdef Py_ssize_t o, c
    cdef const pixel* row = x + n * xs[0] + src_d[od] * xs[2] + src_h[oh] * xs[3]
    cdef pixel* yrow = y + n * ys[0] + od * ys[1] + oh * ys[2]
    cdef const pixel* src
    cdef pixel* ypix
    for o in range(size_ow):
        src = row + off_w[o]
        ypix = yrow + o * ys[3]
        for c in range(n_chan):
            ypix[c] = src[c]


# ---------------------------------------------------------------------------
# Entry points (GIL held here only to unpack arguments)
# ---------------------------------------------------------------------------

cdef void _fill_axis(Axis* a, tuple table, Py_ssize_t size_in, walk,
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
    # ``walk`` is a walk code or (code, up2_lo, up2_hi, dn2_lo, dn2_hi,
    # dn2_taps, dn2_off[, fix_lo, fix_hi]); a bare tap2/tap4 code means every
    # row is full.
    if not isinstance(walk, tuple):
        full = a.size_out if walk in (WALK_TAP2, WALK_TAP4) else 0
        walk = (walk, 0, 0, 0, 0, 0, 0, 0, full)
    elif len(walk) == 7:
        walk = walk + (0, 0)
    (a.walk, a.up2_lo, a.up2_hi, a.dn2_lo, a.dn2_hi, a.dn2_taps, a.dn2_off, a.fix_lo,
     a.fix_hi) = walk
    if a.fix_hi > a.size_out or a.fix_lo < 0 or a.up2_hi * 2 > a.size_out or a.k < 2:
        # Ranges from a table of another shape would read past this one.
        a.fix_lo = a.fix_hi = a.up2_lo = a.up2_hi = 0


cdef void _view_strides(x, y, bint channels_last, Py_ssize_t* xs, Py_ssize_t* ys,
                        Narrow* nw) except *:
    # Element strides of the 5-D input (N, C, D, H, W), and of the output's
    # (N, C, D, H) axes (planar: W stride 1) or (N, D, H, W) axes (channels-last:
    # C stride 1). An output of another dtype than the input's (float32) is a
    # narrow one: ``nw`` gets its byte strides and ``ys`` is unused.
    cdef Py_ssize_t i
    if not y.flags.writeable:
        raise ValueError("the kernel's output array is read-only")
    xstr = element_strides(x)
    for i in range(5):
        xs[i] = xstr[i]
    nw.code = 0
    if y.dtype == x.dtype:
        ystr = element_strides(y)
        for i in range(4):
            ys[i] = ystr[i + 1 if channels_last and i > 0 else i]
        return
    if x.dtype != np.float32 or y.dtype not in _CONVERT_CODES:
        raise TypeError(f"no kernel writes {y.dtype} from {x.dtype}")
    cdef cnp.ndarray ya = y
    nw.code = _CONVERT_CODES[y.dtype]
    nw.data = <char*>cnp.PyArray_DATA(ya)
    for i in range(5):
        nw.s[i] = y.strides[i]
    for i in range(4):
        ys[i] = 0


cdef inline void* _data(arr) except NULL:
    cdef cnp.ndarray a = arr
    return cnp.PyArray_DATA(a) if a.size else <void*>1  # (an empty array has no rows)


def resample(x, y, tables, sizes_in, walks, bint channels_last, int num_threads):
    """Float resampling of 5-D views ``x`` -> ``y`` with per-axis ``tables`` (D, H, W).

    ``y`` must have W stride 1 (planar) or C stride 1 (channels-last), or be
    uint8/uint16/int16/float16 (any strides) for a float32 ``x``: each row is
    then rounded into it as it is finished.
    """
    cdef Axis axes[3]
    cdef list keep = []
    cdef Py_ssize_t xs[5]
    cdef Py_ssize_t ys[4]
    cdef Narrow nw
    cdef Py_ssize_t i, n_batch = x.shape[0], n_chan = x.shape[1]
    cdef int status
    for i in range(3):
        _fill_axis(&axes[i], tables[i], sizes_in[i], walks[i], keep)
    _view_strides(x, y, channels_last, xs, ys, &nw)
    cdef void* yp = _data(y)
    if x.dtype == np.float32:
        status = _run_float[float](x, <float*>yp, xs, ys, n_batch, n_chan, axes,
                                   channels_last, &nw, num_threads)
    else:
        status = _run_float[double](x, <double*>yp, xs, ys, n_batch, n_chan, axes,
                                    channels_last, &nw, num_threads)
    if status != 0:
        raise MemoryError("could not allocate a row buffer for the resampling kernel")


cdef int _run_float(const floating[:, :, :, :, :] x, floating* yp,
                    Py_ssize_t* xs, Py_ssize_t* ys, Py_ssize_t n_batch, Py_ssize_t n_chan,
                    Axis* axes, bint channels_last, const Narrow* nw,
                    int num_threads) except? -2:
    cdef const floating* xp = &x[0, 0, 0, 0, 0]
    cdef int status
    with nogil:
        if channels_last:
            status = _resample_channels_last(xp, xs, yp, ys, n_batch, n_chan, axes, nw,
                                             num_threads)
        else:
            status = _resample_planar(xp, xs, yp, ys, n_batch, n_chan, axes, nw, num_threads)
    return status


def resample_hfirst(x, y, table_d, table_h, table_w, Py_ssize_t size_id, Py_ssize_t size_ih,
                    Py_ssize_t size_iw, walk_w, Py_ssize_t block, bint channels_last,
                    int num_threads, bint stream=False):
    """Resampling of 5-D views, W pass first (depth taps combined before it);
    ``y`` as in :func:`resample`."""
    cdef Axis axes[3]
    cdef list keep = []
    cdef Py_ssize_t xs[5]
    cdef Py_ssize_t ys[4]
    cdef Narrow nw
    cdef Py_ssize_t rows_max
    cdef int status
    _fill_axis(&axes[0], table_d, size_id, 0, keep)
    _fill_axis(&axes[1], table_h, size_ih, 0, keep)
    _fill_axis(&axes[2], table_w, size_iw, walk_w, keep)
    n_blocks = (axes[1].size_out + block - 1) // block
    ranges = np.empty(2 * n_blocks, dtype=np.intp)
    cdef Py_ssize_t[::1] lo_v = ranges[:n_blocks]
    cdef Py_ssize_t[::1] hi_v = ranges[n_blocks:]
    rows_max = block_ranges(axes[1].idx, axes[1].cnt, axes[1].k, axes[1].size_in,
                            axes[1].size_out, block, &lo_v[0], &hi_v[0])
    _view_strides(x, y, channels_last, xs, ys, &nw)
    cdef void* yp = _data(y)
    if x.dtype == np.float32:
        status = _run_hfirst[float](x, <float*>yp, xs, ys, axes, block, &lo_v[0], &hi_v[0],
                                    rows_max, channels_last, stream, &nw, num_threads)
    else:
        status = _run_hfirst[double](x, <double*>yp, xs, ys, axes, block, &lo_v[0],
                                     &hi_v[0], rows_max, channels_last, stream, &nw,
                                     num_threads)
    if status != 0:
        raise MemoryError("could not allocate a row buffer for the resampling kernel")


cdef int _run_hfirst(const floating[:, :, :, :, :] x, floating* yp,
                     Py_ssize_t* xs, Py_ssize_t* ys, Axis* axes, Py_ssize_t block,
                     const Py_ssize_t* lo, const Py_ssize_t* hi, Py_ssize_t rows_max,
                     bint channels_last, int stream, const Narrow* nw,
                     int num_threads) except? -2:
    cdef const floating* xp = &x[0, 0, 0, 0, 0]
    cdef Py_ssize_t n_batch = x.shape[0], n_chan = x.shape[1]
    cdef int status
    with nogil:
        if channels_last:
            status = _resample_cl_hfirst(xp, xs, yp, ys, n_batch, n_chan, &axes[0], &axes[1],
                                         &axes[2], block, lo, hi, rows_max, stream, nw,
                                         num_threads)
        else:
            status = _resample_planar_hfirst(xp, xs, yp, ys, n_batch, n_chan, &axes[0],
                                             &axes[1], &axes[2], block, lo, hi, rows_max,
                                             stream, nw, num_threads)
    return status


def nearest(x, y, src_d, src_h, src_w, bint channels_last, int num_threads,
            bint stream=False):
    """Nearest gather of 5-D views ``x`` -> ``y`` given source indices per axis."""
    cdef Py_ssize_t xs[5]
    cdef Py_ssize_t ys[4]
    cdef Narrow nw
    if y.dtype != x.dtype:
        raise TypeError(f"nearest: {x.dtype} input, {y.dtype} output")
    _view_strides(x, y, channels_last, xs, ys, &nw)
    off_w = np.ascontiguousarray(src_w * xs[4], dtype=np.intp)
    copy_w, repeat, blocks = _row_gather(src_w, x.shape[4], not channels_last and xs[4] == 1,
                                         x.dtype == np.float32)
    # Integer items are gathered as raw bytes (any dtype of that width).
    if x.dtype == np.uint8:
        _run_nearest[uint8_t](x, y, xs, ys, src_d, src_h, off_w, copy_w, repeat, None,
                              channels_last, stream, num_threads)
    elif x.dtype == np.uint16:
        _run_nearest[uint16_t](x, y, xs, ys, src_d, src_h, off_w, copy_w, repeat, None,
                               channels_last, stream, num_threads)
    elif x.dtype == np.float32:
        _run_nearest[float](x, y, xs, ys, src_d, src_h, off_w, copy_w, repeat, blocks,
                            channels_last, stream, num_threads)
    else:
        _run_nearest[double](x, y, xs, ys, src_d, src_h, off_w, copy_w, repeat, None,
                             channels_last, stream, num_threads)


def _row_gather(src_w, Py_ssize_t size_iw, bint unit_w, bint four_bytes):
    """How a planar output row gathers along W, for rows of unit stride (``unit_w``):
    ``(copy_w, repeat, blocks)``. ``copy_w``: the row is the input row; ``repeat``:
    each input sample repeated that many times (integer upscaling), else 0;
    ``blocks``: for 4-byte samples on a build with lane permutes, the table of
    ``ux_gather8_f32`` when every block of 8 outputs reads inside 8 inputs, else None.
    """
    cdef Py_ssize_t size_ow = src_w.shape[0]
    if not unit_w:
        return False, 0, None
    if size_ow == size_iw and bool(np.all(src_w == np.arange(size_ow))):
        return True, 0, None
    if (size_ow % size_iw == 0 and size_ow // size_iw > 1
            and np.array_equal(src_w, np.arange(size_ow) // (size_ow // size_iw))):
        return False, size_ow // size_iw, None
    if not (four_bytes and UX_GATHER8) or size_ow < 8 or size_iw < 8 or size_iw >= 2 ** 31:
        return False, 0, None
    groups = src_w[:size_ow // 8 * 8].reshape(-1, 8)
    base = np.minimum(groups.min(axis=1), size_iw - 8)
    if np.any(groups.max(axis=1) - base > 7):
        return False, 0, None
    blocks = np.empty((groups.shape[0], 9), np.int32)
    blocks[:, 0] = base
    blocks[:, 1:] = groups - base[:, None]
    return False, 0, blocks


cdef void _run_nearest(const pixel[:, :, :, :, :] x, pixel[:, :, :, :, :] y,
                       Py_ssize_t* xs, Py_ssize_t* ys, const Py_ssize_t[::1] src_d,
                       const Py_ssize_t[::1] src_h, const Py_ssize_t[::1] off_w,
                       bint copy_w, Py_ssize_t repeat, blocks, bint channels_last,
                       int stream, int num_threads) noexcept:
    cdef const int32_t* table = NULL if blocks is None else <const int32_t*>cnp.PyArray_DATA(
        <cnp.ndarray>blocks)
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
                            copy_w, repeat, table, stream, num_threads)


# ---------------------------------------------------------------------------
# Prepared kernels: a plan's tables unpacked once, so a repeated call only
# reads the arrays' pointers and strides (microseconds, not tens of them)
# ---------------------------------------------------------------------------

cdef class Prepared:
    """One float/gather kernel of a plan, bound to one input and output layout.

    ``order`` is 0 (H pass first), 1 (W pass first, ``block`` output rows per
    job) or 2 (nearest gather). Same arithmetic as :func:`resample`,
    :func:`resample_hfirst` and :func:`nearest` with the same tables.
    :meth:`bind` fixes the strides once; :meth:`run_bound` then needs only the
    arrays' data, which keeps a tiny call to a few hundred instructions.
    """

    cdef Axis axes[3]
    cdef list keep
    cdef int order
    cdef Py_ssize_t block, rows_max, n_blocks
    cdef const Py_ssize_t* lo
    cdef const Py_ssize_t* hi
    cdef object src_d, src_h, src_w, off_w
    cdef bint copy_w
    cdef Py_ssize_t repeat
    cdef object blocks
    # The bound layout (element strides of the 5-D views; y's without its
    # channel axis when channels-last).
    cdef Py_ssize_t xs[5]
    cdef Py_ssize_t ys[4]
    cdef Py_ssize_t n_batch, n_chan
    cdef int kind
    cdef bint channels_last, bound

    def __init__(self, tables, sizes_in, walks, int order, Py_ssize_t block=4):
        cdef Py_ssize_t i
        cdef Py_ssize_t[::1] lo_v
        cdef Py_ssize_t[::1] hi_v
        self.keep = []
        self.order = order
        self.block = block
        self.bound = False
        for i in range(3):
            _fill_axis(&self.axes[i], tuple(tables[i]), sizes_in[i],
                       walks[i] if order != 2 else 0, self.keep)
        if order == 1:
            self.n_blocks = (self.axes[1].size_out + block - 1) // block
            ranges = np.empty(2 * self.n_blocks, dtype=np.intp)
            self.keep.append(ranges)
            lo_v = ranges[:self.n_blocks]
            hi_v = ranges[self.n_blocks:]
            self.rows_max = block_ranges(self.axes[1].idx, self.axes[1].cnt, self.axes[1].k,
                                         self.axes[1].size_in, self.axes[1].size_out, block,
                                         &lo_v[0], &hi_v[0])
            self.lo = &lo_v[0]
            self.hi = &hi_v[0]
        elif order == 2:
            self.src_d = np.ascontiguousarray(tables[0][0][:, 0], dtype=np.intp)
            self.src_h = np.ascontiguousarray(tables[1][0][:, 0], dtype=np.intp)
            self.src_w = np.ascontiguousarray(tables[2][0][:, 0], dtype=np.intp)

    def bind(self, cnp.ndarray x, cnp.ndarray y, bint channels_last):
        """Fix the layout from 5-D views ``x`` -> ``y`` (validated by the plan:
        dtypes equal, shapes matching the tables, element-aligned strides)."""
        cdef Py_ssize_t i, item = cnp.PyArray_ITEMSIZE(x)
        cdef cnp.npy_intp* xst = cnp.PyArray_STRIDES(x)
        cdef cnp.npy_intp* yst = cnp.PyArray_STRIDES(y)
        self.kind = cnp.PyArray_TYPE(x)
        if not (self.kind == cnp.NPY_FLOAT or self.kind == cnp.NPY_DOUBLE or (
                self.order == 2 and (self.kind == cnp.NPY_UINT8 or self.kind == cnp.NPY_UINT16))):
            raise TypeError(f"prepared kernel got dtype {x.dtype}")
        self.n_batch, self.n_chan = cnp.PyArray_DIM(x, 0), cnp.PyArray_DIM(x, 1)
        self.channels_last = channels_last
        for i in range(5):
            self.xs[i] = xst[i] // item
        for i in range(4):
            self.ys[i] = yst[i + 1 if channels_last and i > 0 else i] // item
        if self.order == 2:  # source offsets along W, in elements
            self.off_w = self.src_w * self.xs[4]
            self.copy_w, self.repeat, self.blocks = _row_gather(
                self.src_w, self.axes[2].size_in, not channels_last and self.xs[4] == 1,
                self.kind == cnp.NPY_FLOAT)
        self.bound = True

    def run_bound(self, cnp.ndarray x, cnp.ndarray y, int num_threads, bint stream=False):
        """Run on ``x`` -> ``y`` laid out as the views given to :meth:`bind`
        (any view of the same memory: only the data pointers are read)."""
        cdef int status = 0
        cdef void* xp = cnp.PyArray_DATA(x)
        cdef void* yp = cnp.PyArray_DATA(y)
        if not self.bound:
            raise RuntimeError("Prepared.run_bound before bind")
        if self.order == 2:
            self._gather(xp, yp, stream, num_threads)
            return
        if self.kind == cnp.NPY_FLOAT:
            status = self._float[float](<const float*>xp, <float*>yp, stream, num_threads)
        else:
            status = self._float[double](<const double*>xp, <double*>yp, stream, num_threads)
        if status != 0:
            raise MemoryError("could not allocate a row buffer for the resampling kernel")

    cdef int _float(self, const floating* xp, floating* yp, int stream,
                    int num_threads) noexcept:
        cdef int status
        with nogil:
            if self.order == 1:
                if self.channels_last:
                    status = _resample_cl_hfirst(xp, self.xs, yp, self.ys, self.n_batch,
                                                 self.n_chan, &self.axes[0], &self.axes[1],
                                                 &self.axes[2], self.block, self.lo, self.hi,
                                                 self.rows_max, stream, &_SAME_DTYPE,
                                                 num_threads)
                else:
                    status = _resample_planar_hfirst(xp, self.xs, yp, self.ys, self.n_batch,
                                                     self.n_chan, &self.axes[0],
                                                     &self.axes[1], &self.axes[2], self.block,
                                                     self.lo, self.hi, self.rows_max, stream,
                                                     &_SAME_DTYPE, num_threads)
            elif self.channels_last:
                status = _resample_channels_last(xp, self.xs, yp, self.ys, self.n_batch,
                                                 self.n_chan, self.axes, &_SAME_DTYPE,
                                                 num_threads)
            else:
                status = _resample_planar(xp, self.xs, yp, self.ys, self.n_batch, self.n_chan,
                                          self.axes, &_SAME_DTYPE, num_threads)
        return status

    cdef void _gather(self, void* xp, void* yp, bint stream, int num_threads) noexcept:
        cdef const Py_ssize_t* sd = <const Py_ssize_t*>cnp.PyArray_DATA(self.src_d)
        cdef const Py_ssize_t* sh = <const Py_ssize_t*>cnp.PyArray_DATA(self.src_h)
        cdef const Py_ssize_t* ow = <const Py_ssize_t*>cnp.PyArray_DATA(self.off_w)
        cdef Py_ssize_t size_od = self.axes[0].size_out, size_oh = self.axes[1].size_out
        cdef Py_ssize_t size_ow = self.axes[2].size_out
        cdef bint copy_w = self.copy_w
        cdef Py_ssize_t repeat = self.repeat
        cdef const int32_t* table = (NULL if self.blocks is None else
                                     <const int32_t*>cnp.PyArray_DATA(self.blocks))
        if self.kind == cnp.NPY_UINT8:
            _gather_run[uint8_t](<const uint8_t*>xp, <uint8_t*>yp, self.xs, self.ys,
                                 self.n_batch, self.n_chan, sd, sh, ow, size_od, size_oh,
                                 size_ow, copy_w, repeat, NULL, self.channels_last, stream,
                                 num_threads)
        elif self.kind == cnp.NPY_UINT16:
            _gather_run[uint16_t](<const uint16_t*>xp, <uint16_t*>yp, self.xs, self.ys,
                                  self.n_batch, self.n_chan, sd, sh, ow, size_od, size_oh,
                                  size_ow, copy_w, repeat, NULL, self.channels_last,
                                  stream, num_threads)
        elif self.kind == cnp.NPY_FLOAT:
            _gather_run[float](<const float*>xp, <float*>yp, self.xs, self.ys, self.n_batch,
                               self.n_chan, sd, sh, ow, size_od, size_oh, size_ow, copy_w,
                               repeat, table, self.channels_last, stream, num_threads)
        else:
            _gather_run[double](<const double*>xp, <double*>yp, self.xs, self.ys,
                                self.n_batch, self.n_chan, sd, sh, ow, size_od, size_oh,
                                size_ow, copy_w, repeat, NULL, self.channels_last, stream,
                                num_threads)


cdef void _gather_run(const pixel* xp, pixel* yp, const Py_ssize_t* xs,
                      const Py_ssize_t* ys, Py_ssize_t n_batch, Py_ssize_t n_chan,
                      const Py_ssize_t* sd, const Py_ssize_t* sh, const Py_ssize_t* off_w,
                      Py_ssize_t size_od, Py_ssize_t size_oh, Py_ssize_t size_ow, bint copy_w,
                      Py_ssize_t repeat, const int32_t* blocks, bint channels_last,
                      bint stream, int num_threads) noexcept:
    with nogil:
        if channels_last:
            _nearest_channels_last(xp, xs, yp, ys, n_batch, n_chan, sd, sh, off_w, size_od,
                                   size_oh, size_ow, num_threads)
        else:
            _nearest_planar(xp, xs, yp, ys, n_batch, n_chan, sd, sh, off_w, size_od,
                            size_oh, size_ow, copy_w, repeat, blocks, stream, num_threads)


# ---------------------------------------------------------------------------
# float32 <-> the dtypes computed in float32 (uint8 area/3-D, uint16, int16, float16)
# ---------------------------------------------------------------------------

_CONVERT_CODES = {np.dtype(np.uint8): 1, np.dtype(np.uint16): 2, np.dtype(np.int16): 3,
                  np.dtype(np.float16): 4}
# Segments of a run converted by one thread: long enough to amortise the
# odometer, short enough to share a 1-D run between threads.
DEF _SEGMENT = 16384
DEF _MAX_DIMS = 32


def convert(src, dst, int num_threads):
    """``dst[...] = src`` between float32 and uint8, uint16, int16 or float16.

    Widening is exact. Narrowing rounds to nearest, ties to even; integers are
    then saturated to their range (NaN gives the lower bound), float16 takes
    IEEE overflow to inf. Same shape, any strides; one pass, parallel.
    """
    cdef int widen = dst.dtype == np.float32
    narrow = src.dtype if widen else dst.dtype
    other = dst.dtype if widen else src.dtype
    if other != np.float32 or narrow not in _CONVERT_CODES or src.shape != dst.shape:
        raise TypeError(f"convert: no conversion {src.dtype} {src.shape} -> "
                        f"{dst.dtype} {dst.shape}")
    cdef int code = _CONVERT_CODES[narrow]
    # Visit dst in its memory order and merge dims that both arrays step over
    # evenly, so that contiguous arrays become one run.
    if src.flags.c_contiguous and dst.flags.c_contiguous:
        dims = []
        merged = [[src.size, src.itemsize, dst.itemsize]]
    else:
        dims = sorted((a for a in range(dst.ndim) if dst.shape[a] > 1),
                      key=lambda a: -abs(dst.strides[a]))
        merged = []  # [size, src stride, dst stride], outermost first
    for a in dims:  # (no negative indexing: this module is built with wraparound=False)
        n, s, d = dst.shape[a], src.strides[a], dst.strides[a]
        last = merged[len(merged) - 1] if merged else None
        if last is not None and last[1] == s * n and last[2] == d * n:
            merged[len(merged) - 1] = [last[0] * n, s, d]
        else:
            merged.append([n, s, d])
    if not merged:
        merged = [[1, 0, 0]]
    cdef Py_ssize_t nd = len(merged) - 1
    if nd > _MAX_DIMS:
        raise ValueError("convert: too many dimensions")
    cdef Py_ssize_t shape[_MAX_DIMS]
    cdef Py_ssize_t sstr[_MAX_DIMS]
    cdef Py_ssize_t dstr[_MAX_DIMS]
    cdef Py_ssize_t i
    for i in range(nd):
        shape[i], sstr[i], dstr[i] = merged[i]
    cdef Py_ssize_t n_inner = merged[nd][0], s_inner = merged[nd][1], d_inner = merged[nd][2]
    cdef Py_ssize_t n_seg = (n_inner + _SEGMENT - 1) // _SEGMENT
    cdef Py_ssize_t rows = 1
    for i in range(nd):
        rows *= shape[i]
    cdef Py_ssize_t blocks = rows * n_seg
    cdef cnp.ndarray s_arr = src, d_arr = dst
    cdef const char* sp = <const char*>cnp.PyArray_DATA(s_arr)
    cdef char* dp = <char*>cnp.PyArray_DATA(d_arr)
    cdef Py_ssize_t b, r, j, seg, so, do, count
    if rows * n_inner < 65536:
        num_threads = 1
    with nogil:
        for b in prange(blocks, num_threads=num_threads, schedule="static"):
            r = b // n_seg
            seg = b - r * n_seg
            so = seg * _SEGMENT * s_inner
            do = seg * _SEGMENT * d_inner
            for j in range(nd - 1, -1, -1):  # the row's offsets, innermost dim first
                so = so + (r % shape[j]) * sstr[j]
                do = do + (r % shape[j]) * dstr[j]
                r = r // shape[j]
            count = n_inner - seg * _SEGMENT
            if count > _SEGMENT:
                count = _SEGMENT
            ux_convert(code, widen, sp + so, s_inner, dp + do, d_inner, count)


# ---------------------------------------------------------------------------
# 'area' at a factor of 2 on integer samples: exact box sums (_halve.h)
# ---------------------------------------------------------------------------

cdef extern from "_halve.h" nogil:
    void ux_halve_u8(const uint8_t* x, uint8_t* y, Py_ssize_t n, Py_ssize_t xstep,
                     Py_ssize_t ystep, const Py_ssize_t* off, int shift)
    void ux_halve_u16(const uint16_t* x, uint16_t* y, Py_ssize_t n, Py_ssize_t xstep,
                      Py_ssize_t ystep, const Py_ssize_t* off, int shift)
    void ux_halve_i16(const int16_t* x, int16_t* y, Py_ssize_t n, Py_ssize_t xstep,
                      Py_ssize_t ystep, const Py_ssize_t* off, int shift)

    void ux_halve_pixels_u8(const uint8_t* const* rows, int nrows, uint8_t* y, Py_ssize_t n,
                            Py_ssize_t C, int* t, int shift)
    void ux_halve_pixels_u16(const uint16_t* const* rows, int nrows, uint16_t* y,
                             Py_ssize_t n, Py_ssize_t C, int* t, int shift)
    void ux_halve_pixels_i16(const int16_t* const* rows, int nrows, int16_t* y, Py_ssize_t n,
                             Py_ssize_t C, int* t, int shift)

_HALVE_CODES = {np.dtype(np.uint8): 1, np.dtype(np.uint16): 2, np.dtype(np.int16): 3}


def halve(x, y, int num_threads):
    """``y`` = the means of ``x`` over 2-sample boxes, rounded to nearest, ties to even.

    5-D views (N, C, D, H, W) of one integer dtype (uint8, uint16, int16), element-
    aligned strides; each spatial axis of ``x`` is as long as ``y``'s or twice as
    long (at least one twice): the float32 'area' result of these dtypes, exactly.
    """
    cdef int code = _HALVE_CODES.get(x.dtype, 0)
    if code == 0 or y.dtype != x.dtype or x.ndim != 5 or y.ndim != 5 or (
            x.shape[:2] != y.shape[:2]):
        raise TypeError(f"halve: no kernel for {x.dtype} {x.shape} -> {y.dtype} {y.shape}")
    cdef int f[3]
    cdef int i, shift = 0
    for i in range(3):
        f[i] = 2 if x.shape[2 + i] == 2 * y.shape[2 + i] else 1
        if x.shape[2 + i] != f[i] * y.shape[2 + i]:
            raise ValueError(f"halve: axis {2 + i} is neither kept nor halved "
                             f"({x.shape[2 + i]} -> {y.shape[2 + i]})")
        shift += f[i] - 1
    if shift == 0:
        raise ValueError("halve: no axis is halved")
    if not y.flags.writeable:
        raise ValueError("the kernel's output array is read-only")
    cdef Py_ssize_t xs[5]
    cdef Py_ssize_t ys[5]
    xstr, ystr = element_strides(x), element_strides(y)
    for i in range(5):
        xs[i] = xstr[i]
        ys[i] = ystr[i]
    cdef Py_ssize_t off[8]
    cdef int a, b, e, k = 0
    for a in range(f[0]):
        for b in range(f[1]):
            for e in range(f[2]):
                off[k] = a * xs[2] + b * xs[3] + e * xs[4]
                k += 1
    cdef Py_ssize_t n_batch = y.shape[0], n_chan = y.shape[1], size_od = y.shape[2]
    cdef Py_ssize_t size_oh = y.shape[3], size_ow = y.shape[4]
    cdef Py_ssize_t n_rows = n_batch * n_chan * size_od * size_oh
    if y.size == 0:
        return
    if y.size < 32768:
        num_threads = 1
    cdef cnp.ndarray xa = x, ya = y
    cdef char* xp = <char*>cnp.PyArray_DATA(xa)
    cdef char* yp = <char*>cnp.PyArray_DATA(ya)
    cdef Py_ssize_t r, rest, n, c, od, oh, xo, yo
    if (f[2] == 2 and n_chan > 1 and xs[1] == 1 and xs[4] == n_chan and ys[1] == 1
            and ys[4] == n_chan):
        # dense pixels (channels-last): whole rows of pixel pairs, no strided walks
        _halve_pixels(code, xp, xs, yp, ys, n_batch, n_chan, size_od, size_oh, size_ow, f,
                      shift, num_threads)
        return
    with nogil:
        for r in prange(n_rows, schedule="static", num_threads=num_threads):
            oh = r % size_oh
            rest = r // size_oh
            od = rest % size_od
            rest = rest // size_od
            c = rest % n_chan
            n = rest // n_chan
            xo = n * xs[0] + c * xs[1] + od * f[0] * xs[2] + oh * f[1] * xs[3]
            yo = n * ys[0] + c * ys[1] + od * ys[2] + oh * ys[3]
            if code == 1:
                ux_halve_u8(<const uint8_t*>xp + xo, <uint8_t*>yp + yo, size_ow,
                            f[2] * xs[4], ys[4], off, shift)
            elif code == 2:
                ux_halve_u16(<const uint16_t*>xp + xo, <uint16_t*>yp + yo, size_ow,
                             f[2] * xs[4], ys[4], off, shift)
            else:
                ux_halve_i16(<const int16_t*>xp + xo, <int16_t*>yp + yo, size_ow,
                             f[2] * xs[4], ys[4], off, shift)


cdef void _halve_pixels(int code, const char* xp, const Py_ssize_t* xs, char* yp,
                        const Py_ssize_t* ys, Py_ssize_t n_batch, Py_ssize_t n_chan,
                        Py_ssize_t size_od, Py_ssize_t size_oh, Py_ssize_t size_ow,
                        const int* f, int shift, int num_threads) except *:
    cdef Py_ssize_t n_rows = n_batch * size_od * size_oh, item = 1 if code == 1 else 2
    cdef Py_ssize_t r, rest, n, od, oh, xo, yo
    cdef int a, b, k
    cdef int* t
    cdef const char** rows  # per thread, with t
    cdef int failed = 0
    cdef int* failed_ptr = &failed
    with nogil, parallel(num_threads=num_threads):
        t = <int*>malloc((3 * size_ow * n_chan + 1) * sizeof(int))  # sums, pairs
        rows = <const char**>malloc(4 * sizeof(char*))
        for r in prange(n_rows, schedule="static"):
            if t == NULL or rows == NULL:
                failed_ptr[0] = 1
                continue
            oh = r % size_oh
            rest = r // size_oh
            od = rest % size_od
            n = rest // size_od
            xo = n * xs[0] + od * f[0] * xs[2] + oh * f[1] * xs[3]
            yo = n * ys[0] + od * ys[2] + oh * ys[3]
            k = 0
            for a in range(f[0]):
                for b in range(f[1]):
                    rows[k] = xp + (xo + a * xs[2] + b * xs[3]) * item
                    k = k + 1
            if code == 1:
                ux_halve_pixels_u8(<const uint8_t* const*>rows, k, <uint8_t*>yp + yo,
                                   size_ow, n_chan, t, shift)
            elif code == 2:
                ux_halve_pixels_u16(<const uint16_t* const*>rows, k, <uint16_t*>yp + yo,
                                    size_ow, n_chan, t, shift)
            else:
                ux_halve_pixels_i16(<const int16_t* const*>rows, k, <int16_t*>yp + yo,
                                    size_ow, n_chan, t, shift)
        free(t)
        free(rows)
    if failed:
        raise MemoryError("could not allocate a row buffer for the halving kernel")
