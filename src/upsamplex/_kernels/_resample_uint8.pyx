"""uint8 resampling: separable int16 fixed point, W pass then H pass.

torch (like Pillow-SIMD) resizes uint8 images in two 1-D passes with int16
weights scaled by 2**precision, rounding and clamping the intermediate image to
uint8; matching that order keeps results within ±1 of torch. Jobs are (plane,
block of output rows): each runs the W pass over the input rows its block reads
into a private buffer, then the H pass, so each output row is written by one
thread and no full-size intermediate is ever allocated. Planar 3/4-channel
images run as pixels (the channels' rows interleaved 4 at a time, the output
rows moved back to the planes): the pixel loops do 2 outputs x 4 rows a step.
"""

from cython.parallel cimport parallel, prange
from libc.stdint cimport int16_t, int32_t, uint8_t
from libc.stdlib cimport free, malloc

cimport numpy as cnp

from collections import OrderedDict

import numpy as np

from ._tables import element_strides

cnp.import_array()

# (ids of a W table's weights and counts) -> (them, their padded weights)
_PADDED = OrderedDict()

from ._tables cimport block_ranges


cdef extern from "_uint8_simd.h" nogil:
    void ux_u8_blend_rows(const uint8_t* rows, Py_ssize_t row_len, Py_ssize_t n,
                          const int16_t* w, int precision, uint8_t* out)
    void ux_u8_walk_pixels(const uint8_t* src, Py_ssize_t step, Py_ssize_t width,
                           int samples, uint8_t* dst, Py_ssize_t size_out,
                           const Py_ssize_t* idx, const int16_t* w, const Py_ssize_t* cnt,
                           Py_ssize_t k, int precision)
    Py_ssize_t ux_u8_up2_gray(const uint8_t* src, uint8_t* dst, Py_ssize_t lo, Py_ssize_t hi,
                              Py_ssize_t even_first, Py_ssize_t odd_first, const int16_t* we,
                              const int16_t* wo, int precision)
    Py_ssize_t ux_u8_up2_rgb(const uint8_t* src, uint8_t* dst, Py_ssize_t lo, Py_ssize_t hi,
                             Py_ssize_t even_first, Py_ssize_t odd_first, const int16_t* we,
                             const int16_t* wo, int precision)
    int ux_u8_hpass_padded(const uint8_t* src, Py_ssize_t width, int P, uint8_t* dst,
                           Py_ssize_t size_out, const Py_ssize_t* idx, Py_ssize_t k,
                           const int16_t* wp, Py_ssize_t kp, const Py_ssize_t* cnt,
                           int precision)
    int ux_u8_hpass_rows(const uint8_t* src, Py_ssize_t src_stride, Py_ssize_t nrows,
                         Py_ssize_t width, int P, uint8_t* dst, Py_ssize_t dst_stride,
                         Py_ssize_t size_out, const Py_ssize_t* idx, Py_ssize_t k,
                         const int16_t* wp, Py_ssize_t kp, const Py_ssize_t* cnt,
                         int precision)
    int ux_u8_can_pack_planes()
    int ux_u8_hpass_planes(const uint8_t* src, Py_ssize_t plane, Py_ssize_t row_stride, int C,
                           Py_ssize_t nrows, Py_ssize_t width, uint8_t* dst,
                           Py_ssize_t dst_stride, Py_ssize_t size_out, const Py_ssize_t* idx,
                           Py_ssize_t k, const int16_t* wp, Py_ssize_t kp,
                           const Py_ssize_t* cnt, int precision, uint8_t* scratch)
    void ux_u8_unpack_planes(const uint8_t* src, int C, Py_ssize_t width, uint8_t* dst,
                             Py_ssize_t plane)


cdef inline uint8_t _clip8(int32_t v, int precision) noexcept nogil:
    v = v >> precision
    return 0 if v < 0 else (255 if v > 255 else <uint8_t>v)


cdef inline void _w_pass_gray(const uint8_t* src, Py_ssize_t sw, uint8_t* dst,
                              Py_ssize_t o_begin, Py_ssize_t o_end, const Py_ssize_t* idx,
                              const int16_t* w, const Py_ssize_t* cnt, Py_ssize_t k,
                              int precision) noexcept nogil:
    # Outputs o_begin..o_end-1 of a row of single samples, straight from the table.
    cdef Py_ssize_t o, j
    cdef const uint8_t* pix
    cdef const int16_t* wt
    cdef int32_t bias = (1 << (precision - 1)) if precision > 0 else 0
    cdef int32_t a0
    for o in range(o_begin, o_end):
        pix = src + idx[o * k] * sw
        wt = w + o * k
        if cnt[o] == 2:
            dst[o] = _clip8(bias + <int32_t>wt[0] * <int32_t>pix[0]
                            + <int32_t>wt[1] * <int32_t>pix[sw], precision)
            continue
        a0 = bias
        for j in range(cnt[o]):
            a0 = a0 + <int32_t>wt[j] * <int32_t>pix[j * sw]
        dst[o] = _clip8(a0, precision)


cdef inline void _w_pass(const uint8_t* src, Py_ssize_t sw, Py_ssize_t ss,
                         Py_ssize_t width, uint8_t* dst,
                         Py_ssize_t samples, Py_ssize_t size_ow, const Py_ssize_t* idx,
                         const int16_t* w, const Py_ssize_t* cnt, Py_ssize_t k,
                         int precision, Py_ssize_t up2_lo, Py_ssize_t up2_hi,
                         const int16_t* wp, Py_ssize_t kp) noexcept nogil:
    # One input row (``width`` pixels) -> one row of the intermediate
    # (size_ow pixels of ``samples`` values each, contiguous). ``wp`` is the
    # padded weight table (NULL: walk the table plainly, as tests compare).
    cdef Py_ssize_t o, j, s, n, de, do, limit, done
    cdef const uint8_t* pix
    cdef const int16_t* wt
    cdef int32_t bias = (1 << (precision - 1)) if precision > 0 else 0
    cdef int32_t a0
    if wp != NULL and not (up2_hi > up2_lo and (samples == 1 or samples == 3)) and (
            (samples == 1 and sw == 1) or
            ((samples == 3 or samples == 4) and ss == 1 and sw == samples)):
        # Dense rows: wide multiply-adds over groups of taps (_uint8_simd.h).
        if ux_u8_hpass_padded(src, width, <int>samples, dst, size_ow, idx, k, wp, kp, cnt,
                              precision):
            return
    if samples == 1 and sw == 1 and up2_hi > up2_lo:
        # Planar rows, integer x2: 16 samples per step (_uint8_simd.h); the
        # borders and what the step leaves straight from the table.
        de = idx[2 * up2_lo * k] - up2_lo
        do = idx[(2 * up2_lo + 1) * k] - up2_lo
        limit = width - 1 - (de if de > do else do)
        done = ux_u8_up2_gray(src, dst, up2_lo, up2_hi if up2_hi < limit else limit,
                              idx[2 * up2_lo * k], idx[(2 * up2_lo + 1) * k],
                              w + 2 * up2_lo * k, w + (2 * up2_lo + 1) * k, precision)
        if done < up2_lo:
            done = up2_lo
        _w_pass_gray(src, sw, dst, 0, 2 * up2_lo, idx, w, cnt, k, precision)
        _w_pass_gray(src, sw, dst, 2 * done, size_ow, idx, w, cnt, k, precision)
    elif samples == 1:
        _w_pass_gray(src, sw, dst, 0, size_ow, idx, w, cnt, k, precision)
    elif samples == 3 and ss == 1 and sw == 3 and up2_hi > up2_lo:
        # Dense RGB, integer x2: 5 pixels per step with byte shuffles; the
        # borders (and what the step leaves) straight from the table.
        de = idx[2 * up2_lo * k] - up2_lo
        do = idx[(2 * up2_lo + 1) * k] - up2_lo
        limit = (3 * width - 4 - 3 * (de if de > do else do)) // 3
        done = ux_u8_up2_rgb(src, dst, up2_lo, up2_hi if up2_hi < limit else limit,
                             idx[2 * up2_lo * k], idx[(2 * up2_lo + 1) * k],
                             w + 2 * up2_lo * k, w + (2 * up2_lo + 1) * k, precision)
        ux_u8_walk_pixels(src, sw, width, 3, dst, 2 * up2_lo, idx, w, cnt, k, precision)
        n = 2 * done
        ux_u8_walk_pixels(src, sw, width, 3, dst + 3 * n, size_ow - n, idx + n * k,
                          w + n * k, cnt + n, k, precision)
    elif (samples == 3 or samples == 4) and ss == 1:
        # RGB / RGBA pixels: one pmaddwd per pair of taps (_uint8_simd.h).
        ux_u8_walk_pixels(src, sw, width, <int>samples, dst, size_ow, idx, w, cnt, k,
                          precision)
    else:
        for o in range(size_ow):
            pix = src + idx[o * k] * sw
            wt = w + o * k
            n = cnt[o]
            for s in range(samples):
                a0 = bias
                for j in range(n):
                    a0 = a0 + <int32_t>wt[j] * <int32_t>pix[j * sw + s * ss]
                dst[o * samples + s] = _clip8(a0, precision)


cdef void _uint8_separable(const uint8_t* x, const Py_ssize_t* xs, uint8_t* y,
                           const Py_ssize_t* ys, Py_ssize_t n_batch, Py_ssize_t n_chan,
                           bint channels_last, Py_ssize_t size_iw, Py_ssize_t size_oh,
                           Py_ssize_t size_ow,
                           const Py_ssize_t* idx_h, const int16_t* w_h,
                           const Py_ssize_t* cnt_h, Py_ssize_t k_h, int prec_h, bint skip_h,
                           const Py_ssize_t* idx_w, const int16_t* w_w,
                           const Py_ssize_t* cnt_w, Py_ssize_t k_w, int prec_w, bint skip_w,
                           Py_ssize_t up2_lo, Py_ssize_t up2_hi,
                           const int16_t* wp, Py_ssize_t kp, Py_ssize_t block, const Py_ssize_t* block_lo,
                           const Py_ssize_t* block_hi, Py_ssize_t rows_max, int num_threads,
                           bint pack, int* failed) noexcept nogil:
    # Strides are (N, C, H, W). Planar: a plane is one (n, c) and a pixel one
    # sample; channels-last: a plane is one n and a pixel holds C samples.
    # ``pack``: planar 3/4 channels as pixels, a plane is one n (the W pass
    # interleaves the channels' rows, the H pass's rows go back to the planes).
    cdef Py_ssize_t per_plane = 1 if (channels_last or pack) else n_chan
    cdef Py_ssize_t samples = n_chan if (channels_last or pack) else 1
    cdef Py_ssize_t n_blocks = (size_oh + block - 1) // block
    cdef Py_ssize_t row_len = size_ow * samples
    cdef Py_ssize_t job, p, b, oh0, oh1, lo, hi, ih, o, s, oh, first
    cdef Py_ssize_t sw = xs[3], yw = ys[3]
    cdef Py_ssize_t xss = xs[1] if channels_last else 0
    cdef Py_ssize_t yss = ys[1] if channels_last else 0
    cdef bint out_contiguous = (yw == samples and (samples == 1 or yss == 1))
    # The W pass of whole blocks in wide loops: dense rows (single samples or
    # 3/4-byte pixels), a padded table, and no periodic x2 loop that fits better.
    cdef bint wide_rows = (wp != NULL and not skip_w
                           and not (up2_hi > up2_lo and (samples == 1 or samples == 3))
                           and ((samples == 1 and sw == 1)
                                or ((samples == 3 or samples == 4) and xss == 1
                                    and sw == samples)))
    cdef int rows_done
    cdef uint8_t* buf
    cdef uint8_t* line
    cdef uint8_t* scratch
    cdef const uint8_t* xbase
    cdef const uint8_t* src
    cdef uint8_t* dst
    cdef uint8_t* ybase
    cdef uint8_t* yrow
    buf = NULL
    line = NULL
    scratch = NULL
    with parallel(num_threads=num_threads):
        buf = <uint8_t*>malloc(rows_max * row_len + 1)
        line = <uint8_t*>malloc(row_len + 1)
        scratch = <uint8_t*>malloc(4 * (size_iw * samples + 16) if pack else 1)
        for job in prange(n_batch * per_plane * n_blocks, schedule='static'):
            if buf == NULL or line == NULL or scratch == NULL:
                failed[0] = 1
                continue
            p = job // n_blocks
            b = job % n_blocks
            xbase = x + (p // per_plane) * xs[0] + (p % per_plane) * xs[1]
            ybase = y + (p // per_plane) * ys[0] + (p % per_plane) * ys[1]
            oh0 = b * block
            oh1 = oh0 + block if oh0 + block < size_oh else size_oh
            lo = block_lo[b]
            hi = block_hi[b]
            rows_done = 0
            if pack:
                if not ux_u8_hpass_planes(xbase + lo * xs[2], xs[1], xs[2], <int>samples,
                                          hi - lo, size_iw, buf, row_len, size_ow, idx_w, k_w,
                                          wp, kp, cnt_w, prec_w, scratch):
                    failed[0] = 1
                    continue
                for oh in range(oh0, oh1):
                    ux_u8_blend_rows(buf + (idx_h[oh * k_h] - lo) * row_len, row_len, cnt_h[oh],
                                     w_h + oh * k_h, prec_h, line)
                    ux_u8_unpack_planes(line, <int>samples, size_ow, ybase + oh * ys[2], ys[1])
                continue
            if wide_rows:
                # The block's rows in pairs, sharing each output's weights.
                rows_done = ux_u8_hpass_rows(xbase + lo * xs[2], xs[2], hi - lo, size_iw,
                                             <int>samples, buf, row_len, size_ow, idx_w,
                                             k_w, wp, kp, cnt_w, prec_w)
            for ih in range(lo, hi if not rows_done else lo):
                src = xbase + ih * xs[2]
                dst = buf + (ih - lo) * row_len
                if skip_w:
                    for o in range(size_ow):
                        for s in range(samples):
                            dst[o * samples + s] = src[o * sw + s * xss]
                else:
                    _w_pass(src, sw, xss, size_iw, dst, samples, size_ow, idx_w, w_w, cnt_w,
                            k_w, prec_w, up2_lo, up2_hi, wp, kp)
            for oh in range(oh0, oh1):
                yrow = ybase + oh * ys[2]
                first = idx_h[oh * k_h] - lo
                if skip_h:
                    src = buf + first * row_len
                elif out_contiguous:
                    ux_u8_blend_rows(buf + first * row_len, row_len, cnt_h[oh],
                                     w_h + oh * k_h, prec_h, yrow)
                    continue
                else:
                    ux_u8_blend_rows(buf + first * row_len, row_len, cnt_h[oh],
                                     w_h + oh * k_h, prec_h, line)
                    src = line
                for o in range(size_ow):
                    for s in range(samples):
                        yrow[o * yw + s * yss] = src[o * samples + s]
        free(buf)
        free(line)
        free(scratch)


def resample_uint8(x, y, table_h, table_w, bint skip_h, bint skip_w, bint channels_last,
                   Py_ssize_t block, up2_w, int num_threads, bint plain=False):
    """uint8 fixed-point resampling of 4-D views ``x`` -> ``y`` (N, C, H, W).

    ``table_h``/``table_w`` are ``(idx, int16 weights, count, precision)`` in
    window form: contiguous taps starting at ``idx[o, 0]``. ``up2_w`` is the
    range ``(lo, hi)`` where the W table is periodic x2, or ``(0, 0)``.
    ``plain`` walks the W table tap by tap (no wide loops): the reference the
    tests hold the fast paths to.
    """
    U8Call(x, y, table_h, table_w, skip_h, skip_w, channels_last, block, up2_w,
           num_threads, plain).run(x, y, num_threads)


cdef class U8Call:
    """:func:`resample_uint8` bound to one layout and its tables.

    Built from the 4-D views a call would pass; :meth:`run` then reads only the
    data of arrays laid out as those (any view of the same memory), so a
    repeated tiny call skips the buffer checks and the table preparation. The
    row blocks are fixed for ``num_threads`` here; any thread count may run
    them (each output row is computed alone: the same bits).
    """

    cdef const Py_ssize_t[:, ::1] idx_h
    cdef const Py_ssize_t[:, ::1] idx_w
    cdef const int16_t[:, ::1] w_h
    cdef const int16_t[:, ::1] w_w
    cdef const Py_ssize_t[::1] cnt_h
    cdef const Py_ssize_t[::1] cnt_w
    cdef int prec_h, prec_w
    cdef bint skip_h, skip_w, channels_last, pack
    cdef Py_ssize_t xs[4]
    cdef Py_ssize_t ys[4]
    cdef Py_ssize_t n_batch, n_chan, size_iw, size_oh, size_ow, up2_lo, up2_hi, kp, block
    cdef Py_ssize_t rows_max
    cdef object keep
    cdef const int16_t* wp_ptr
    cdef const Py_ssize_t* lo
    cdef const Py_ssize_t* hi

    def __init__(self, const uint8_t[:, :, :, :] x, uint8_t[:, :, :, :] y, table_h, table_w,
                 bint skip_h, bint skip_w, bint channels_last, Py_ssize_t block, up2_w,
                 int num_threads, bint plain=False):
        cdef Py_ssize_t i, n_blocks, o, j, kp = 0
        cdef int16_t[:, ::1] wp
        self.idx_h, self.w_h, self.cnt_h = table_h[0], table_h[1], table_h[2]
        self.idx_w, self.w_w, self.cnt_w = table_w[0], table_w[1], table_w[2]
        self.prec_h, self.prec_w = table_h[3], table_w[3]
        self.skip_h, self.skip_w, self.channels_last = skip_h, skip_w, channels_last
        self.up2_lo, self.up2_hi = up2_w[0], up2_w[1]
        self.n_batch, self.n_chan = x.shape[0], x.shape[1]
        self.size_iw, self.size_oh, self.size_ow = x.shape[3], y.shape[2], y.shape[3]
        self.wp_ptr = NULL
        self.keep = []
        if not plain and not skip_w:
            # The W weights padded to a multiple of 8 taps with zeros: the wide
            # loops then read whole groups (a zero weight adds nothing).
            # Kept per weight array (the plan's cached tables are reused call after
            # call); the entry holds the array, so its id stays its own.
            key = (id(table_w[1]), id(table_w[2]))
            hit = _PADDED.get(key)
            if hit is None:
                kp = (self.w_w.shape[1] + 7) // 8 * 8
                wp = np.zeros((self.w_w.shape[0], kp), dtype=np.int16)
                for o in range(self.w_w.shape[0]):
                    for j in range(self.w_w.shape[1]):
                        wp[o, j] = self.w_w[o, j] if j < self.cnt_w[o] else 0
                hit = (table_w[1], table_w[2], np.asarray(wp))
                if not table_w[1].flags.writeable:  # frozen: a cached table's array
                    _PADDED[key] = hit
                    while len(_PADDED) > 32:
                        _PADDED.popitem(last=False)
            wp = hit[2]
            self.keep.append(hit[2])
            kp = wp.shape[1]
            self.wp_ptr = &wp[0, 0]
        self.kp = kp
        xstr = element_strides(np.asarray(x))
        ystr = element_strides(np.asarray(y))
        for i in range(4):
            self.xs[i] = xstr[i]
            self.ys[i] = ystr[i]
        # Planar 3/4-channel images with dense rows take the pixel loops (see
        # ux_u8_hpass_planes); their jobs are (image, block), so blocks shrink to
        # keep every thread several jobs. Not for an empty batch: the pixel loops' setup
        # divides by the batch size (the callers never bind one; this guards the class).
        self.pack = (x.shape[0] > 0 and self.wp_ptr != NULL and not channels_last and not skip_h
                     and (x.shape[1] == 3 or x.shape[1] == 4) and self.xs[3] == 1
                     and self.ys[3] == 1 and not self.up2_hi > self.up2_lo
                     and ux_u8_can_pack_planes())
        if self.pack:
            per_image = max(1, -(-4 * num_threads // x.shape[0]))
            block = min(block, max(4, -(-y.shape[2] // per_image)))
        self.block = block
        n_blocks = (y.shape[2] + block - 1) // block
        ranges = np.empty(2 * n_blocks, dtype=np.intp)
        self.keep.append(ranges)
        cdef Py_ssize_t[::1] lo_v = ranges[:n_blocks]
        cdef Py_ssize_t[::1] hi_v = ranges[n_blocks:]
        self.rows_max = block_ranges(&self.idx_h[0, 0], &self.cnt_h[0], self.idx_h.shape[1],
                                     x.shape[2], y.shape[2], block, &lo_v[0], &hi_v[0])
        self.lo, self.hi = &lo_v[0], &hi_v[0]

    def run(self, cnp.ndarray x, cnp.ndarray y, int num_threads):
        """Resample ``x`` -> ``y``, laid out as the views this call was built from."""
        cdef const uint8_t* xp = <const uint8_t*>cnp.PyArray_DATA(x)
        cdef uint8_t* yp = <uint8_t*>cnp.PyArray_DATA(y)
        cdef int failed = 0
        with nogil:
            _uint8_separable(xp, self.xs, yp, self.ys, self.n_batch, self.n_chan,
                             self.channels_last, self.size_iw, self.size_oh, self.size_ow,
                             &self.idx_h[0, 0], &self.w_h[0, 0], &self.cnt_h[0],
                             self.idx_h.shape[1], self.prec_h, self.skip_h,
                             &self.idx_w[0, 0], &self.w_w[0, 0], &self.cnt_w[0],
                             self.idx_w.shape[1], self.prec_w, self.skip_w,
                             self.up2_lo, self.up2_hi, self.wp_ptr, self.kp, self.block,
                             self.lo, self.hi, self.rows_max, num_threads, self.pack, &failed)
        if failed:
            raise MemoryError("could not allocate a row buffer for the uint8 kernel")
