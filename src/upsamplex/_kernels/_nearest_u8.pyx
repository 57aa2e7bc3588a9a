"""Nearest gathers of byte pixels: uint8 images of 1..4 channels, both layouts.

The general gather (_resample.pyx) moves one sample at a time through a
per-channel loop. Here a pixel of P = 1..4 dense bytes moves as one unit, an
integer x2 along rows is a widening store, other factors down to about 0.45 move 16
output bytes per one or two byte shuffles, and output rows that repeat the
same source row (upscaling) are computed once and copied: a job is one run of
output rows with one source row, so the copy never reads another thread's row.
"""

from cython.parallel cimport prange
from libc.stdint cimport int32_t, uint8_t
from libc.string cimport memcpy

import numpy as np

from ._tables import element_strides


cdef extern from "_prefetch.h" nogil:
    void ux_prefetch_span(const void* p, size_t n_bytes, int to_l2)


cdef extern from "_gather_u8.h" nogil:
    void ux_gather_row(const uint8_t* src, Py_ssize_t src_bytes, uint8_t* dst, Py_ssize_t n,
                       const Py_ssize_t* off, int P)
    void ux_repeat2_row(const uint8_t* src, uint8_t* dst, Py_ssize_t n_in, int P)
    void ux_decimate2_row(const uint8_t* src, Py_ssize_t src_bytes, uint8_t* dst, Py_ssize_t n,
                          Py_ssize_t c, int P)
    Py_ssize_t ux_shuffle_row(const uint8_t* src, uint8_t* dst, Py_ssize_t n_blocks,
                              Py_ssize_t step, const int32_t* start, const uint8_t* masks,
                              int two)
    int UX_SHUFFLE_U8


def shuffle_table(src_w, Py_ssize_t size_iw, int P):
    """The byte-shuffle table of ``ux_shuffle_row`` for an output row of P-byte pixels
    taking source pixels ``src_w`` from a row of ``size_iw``: ``(start, masks, two)``,
    or None where the build has no byte shuffles or some block of 16 output bytes
    (16 // P whole pixels) reads across more than 32 source bytes (steep downscales).

    Windows are moved back to end inside the source row, and blocks are taken only while
    their 16-byte store ends inside the output row: the rest is left to the scalar
    gather.
    """
    cdef Py_ssize_t n = src_w.shape[0], per = 16 // P, step = per * P
    cdef Py_ssize_t row_bytes = size_iw * P
    if not UX_SHUFFLE_U8 or n * P < 16 or row_bytes < 16 or row_bytes >= 2 ** 31:
        return None
    n_blocks = min(n // per, (n * P - 16) // step + 1)
    pix = np.asarray(src_w[:n_blocks * per], dtype=np.intp).reshape(n_blocks, per)
    src = (pix[:, :, None] * P + np.arange(P)).reshape(n_blocks, step)
    first = src.min(axis=1)
    spread = (src.max(axis=1) - first).max()
    window = 16 if spread < 16 else 32
    if spread >= window or row_bytes < window:
        return None
    start = np.minimum(first, row_bytes - window)
    rel = src - start[:, None]
    masks = np.full((n_blocks, window), 0x80, np.uint8)
    # (RGB: the 16th byte of a block, after its 5 pixels, stays 0x80: a zero that the
    # next block or the scalar rest overwrites.)
    if window == 16:
        masks[:, :step] = rel
    else:
        low = rel < 16
        masks[:, :step] = np.where(low, rel, 0x80)
        masks[:, 16:16 + step] = np.where(low, 0x80, rel - 16)
    return start.astype(np.int32), masks, window == 32


cdef void _gather_runs(const uint8_t* x, const Py_ssize_t* xs, uint8_t* y, const Py_ssize_t* ys,
                       Py_ssize_t n_batch, Py_ssize_t n_chan, Py_ssize_t per_plane, int P,
                       const Py_ssize_t* src_d, Py_ssize_t size_od, const Py_ssize_t* run_lo,
                       const Py_ssize_t* src_h, Py_ssize_t n_runs, Py_ssize_t size_iw,
                       Py_ssize_t size_ow, const Py_ssize_t* off, int w_kind,
                       const int32_t* sh_start, const uint8_t* sh_masks, Py_ssize_t sh_blocks,
                       int sh_two, int num_threads) noexcept nogil:
    # Strides in bytes of (N, C, D, H); per_plane: channel planes per batch
    # item (n_chan planar, 1 channels-last). w_kind: 0 gather, 1 copy, 2 x2,
    # 3 halving (source pixel 2o + off[0] // P), 4 byte shuffles (sh_*, then the
    # rest of the row gathered).
    cdef Py_ssize_t n_jobs = n_batch * per_plane * size_od * n_runs
    cdef Py_ssize_t job, rest, run, od, p, oh, oh0, oh1, done, skip
    cdef Py_ssize_t per = 16 // P
    cdef Py_ssize_t row_bytes = size_ow * P
    cdef const uint8_t* row
    cdef uint8_t* first
    for job in prange(n_jobs, schedule='static', num_threads=num_threads):
        run = job % n_runs
        rest = job // n_runs
        od = rest % size_od
        p = rest // size_od
        oh0 = run_lo[run]
        oh1 = run_lo[run + 1]
        row = (x + (p // per_plane) * xs[0] + (p % per_plane) * xs[1] + src_d[od] * xs[2]
               + src_h[oh0] * xs[3])
        first = y + (p // per_plane) * ys[0] + (p % per_plane) * ys[1] + od * ys[2] + oh0 * ys[3]
        # A downscale skips source rows, and the hardware prefetchers lose the stream at
        # each skip: the next job's row (the next run of this plane) is asked for, into
        # L2, while this one is gathered.
        if run + 1 < n_runs:
            skip = src_h[run_lo[run + 1]] - src_h[oh0]
            if skip > 1:
                ux_prefetch_span(row + skip * xs[3], size_iw * P, 1)
        if w_kind == 1:
            memcpy(first, row, row_bytes)
        elif w_kind == 2:
            ux_repeat2_row(row, first, size_iw, P)
        elif w_kind == 3:
            ux_decimate2_row(row, size_iw * P, first, size_ow, off[0] // P, P)
        elif w_kind == 4:
            done = ux_shuffle_row(row, first, sh_blocks, per * P, sh_start, sh_masks,
                                  sh_two) * per
            ux_gather_row(row, size_iw * P, first + done * P, size_ow - done, off + done, P)
        else:
            ux_gather_row(row, size_iw * P, first, size_ow, off, P)
        for oh in range(oh0 + 1, oh1):
            memcpy(first + (oh - oh0) * ys[3], first, row_bytes)


cdef class GatherU8:
    """The source indices of one nearest gather, analysed once (x2, halving,
    identity, runs of repeated rows); :meth:`run` then only checks layouts."""

    cdef object src_d, src_h, src_w, run_lo, offs, shuffles
    cdef Py_ssize_t size_iw, size_ow, n_runs
    cdef int w_kind

    def __init__(self, src_d, src_h, src_w, Py_ssize_t size_iw):
        self.src_d = np.ascontiguousarray(src_d, dtype=np.intp)
        self.src_h = np.ascontiguousarray(src_h, dtype=np.intp)
        self.src_w = np.ascontiguousarray(src_w, dtype=np.intp)
        self.size_iw = size_iw
        self.size_ow = n = self.src_w.shape[0]
        w = self.src_w
        if n == size_iw and np.array_equal(w, np.arange(n)):
            self.w_kind = 1
        elif n == 2 * size_iw and np.array_equal(w, np.arange(n) // 2):
            self.w_kind = 2
        elif n > 0 and np.array_equal(w, 2 * np.arange(n) + w[0]):
            self.w_kind = 3
        else:
            self.w_kind = 0
        # Runs of output rows reading one source row: each is computed once.
        starts = np.flatnonzero(np.diff(self.src_h) != 0) + 1
        self.run_lo = np.concatenate(([0], starts, [self.src_h.shape[0]])).astype(np.intp)
        self.n_runs = self.run_lo.shape[0] - 1
        self.offs = {}
        self.shuffles = {}

    def run(self, x, y, bint channels_last, int num_threads):
        """Gather 5-D uint8 views ``x`` -> ``y`` (N, C, D, H, W); False, touching
        nothing, unless both hold dense pixels of 1..4 bytes (planar rows of
        single samples, or channels-last pixels of C <= 4 contiguous channels)."""
        if x.dtype != np.uint8 or y.dtype != np.uint8 or x.size == 0 or y.size == 0:
            return False
        cdef const uint8_t[:, :, :, :, :] xv = x
        cdef uint8_t[:, :, :, :, :] yv = y
        cdef Py_ssize_t n_chan = xv.shape[1], i
        cdef Py_ssize_t per_plane
        cdef int P
        if xv.shape[4] != self.size_iw or yv.shape[4] != self.size_ow:
            return False
        if channels_last:
            if not (n_chan <= 4 and xv.strides[1] == 1 and xv.strides[4] == n_chan
                    and yv.strides[1] == 1 and yv.strides[4] == n_chan):
                return False
            P, per_plane = <int>n_chan, 1
        else:
            if not (xv.strides[4] == 1 and yv.strides[4] == 1):
                return False
            P, per_plane = 1, n_chan
        off = self.offs.get(P)
        if off is None:
            off = self.offs[P] = np.ascontiguousarray(self.src_w * P)
        cdef int w_kind = self.w_kind
        # Byte shuffles where the row has no SIMD path of its own (halving has one for
        # masks and 4-byte pixels).
        shuffle = None
        if w_kind == 0 or (w_kind == 3 and (P == 2 or P == 3)):
            if P not in self.shuffles:
                self.shuffles[P] = shuffle_table(self.src_w, self.size_iw, P)
            shuffle = self.shuffles[P]
        cdef const int32_t[::1] sh_start = None
        cdef const uint8_t[:, ::1] sh_masks = None
        cdef int sh_two = 0
        if shuffle is not None:
            w_kind = 4
            sh_start, sh_masks, sh_two = shuffle
        cdef Py_ssize_t xs_c[4]
        cdef Py_ssize_t ys_c[4]
        for i in range(4):
            xs_c[i] = xv.strides[i]
            ys_c[i] = yv.strides[i]
        cdef const Py_ssize_t[::1] sd = self.src_d
        cdef const Py_ssize_t[::1] sh = self.src_h
        cdef const Py_ssize_t[::1] lo = self.run_lo
        cdef const Py_ssize_t[::1] ov = off
        with nogil:
            _gather_runs(&xv[0, 0, 0, 0, 0], xs_c, &yv[0, 0, 0, 0, 0], ys_c, xv.shape[0],
                         n_chan, per_plane, P, &sd[0], sd.shape[0], &lo[0], &sh[0],
                         self.n_runs, self.size_iw, self.size_ow, &ov[0], w_kind,
                         &sh_start[0] if w_kind == 4 else NULL,
                         &sh_masks[0, 0] if w_kind == 4 else NULL,
                         sh_start.shape[0] if w_kind == 4 else 0, sh_two, num_threads)
        return True


def gather_u8(x, y, src_d, src_h, src_w, bint channels_last, int num_threads):
    """Nearest gather of 5-D uint8 views ``x`` -> ``y`` (N, C, D, H, W) by source indices.

    :class:`GatherU8` built for this one call; see :meth:`GatherU8.run`.
    """
    return GatherU8(src_d, src_h, src_w, x.shape[4]).run(x, y, channels_last, num_threads)
