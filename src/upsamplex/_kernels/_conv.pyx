"""Tile kernels for convolution and transposed convolution.

Everything is phrased on 3-D spatial grids (1-D and 2-D callers add leading
singleton axes with one tap at offset 0). Along each axis a *tap* ``t`` reads
the source at ``o * step + offset[t]`` for output position ``o``:

* convolution:            step = stride, offset[t] = t*dilation - padding
* one stride phase of a transposed convolution (see ``_conv.py``):
                          step = 1,      offset[t] = (phase + padding - t*dilation) / stride

``im2col`` fills the columns of one sample for a tile of flattened output
positions ``[p0, p1)`` (zero where a tap falls outside the source), so a tile of
columns stays in cache between being written and being read by the GEMM.
``store_phases`` writes GEMM tiles onto their strided sub-grids of a transposed
convolution's output: every output element is written exactly once, so no
scatter-add, no zero fill and no atomics are needed.

The kernels are serial and release the GIL; ``_conv.py`` runs independent tiles
on several threads, each tile written by one thread only, so results do not
depend on the thread count.
"""

from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

ctypedef fused floating:
    float
    double


cdef struct Taps:
    const Py_ssize_t* offset[3]
    Py_ssize_t n_taps[3]
    Py_ssize_t step[3]
    Py_ssize_t src[3]     # spatial size of the source
    Py_ssize_t out[3]     # spatial size of the output grid (the columns' positions)


cdef inline Py_ssize_t floor_div(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    # cdivision=True truncates towards zero; tap offsets can be negative.
    cdef Py_ssize_t q = a // b
    if (a % b != 0) and (a < 0):
        q -= 1
    return q


# Outputs o in [range_lo, range_hi) have their source index o*step + offset inside
# [0, n_src). They return values rather than filling out-pointers so the results
# stay plain locals.
cdef inline Py_ssize_t range_lo(Py_ssize_t offset, Py_ssize_t step) noexcept nogil:
    # 0 <= o*step + offset  <=>  o >= ceil(-offset / step)
    cdef Py_ssize_t first = -floor_div(offset, step)
    return first if first > 0 else 0


cdef inline Py_ssize_t range_hi(Py_ssize_t offset, Py_ssize_t step, Py_ssize_t n_src,
                                Py_ssize_t n_out) noexcept nogil:
    # o*step + offset <= n_src - 1  <=>  o <= floor((n_src - 1 - offset) / step)
    cdef Py_ssize_t last = floor_div(n_src - 1 - offset, step) + 1
    cdef Py_ssize_t first = range_lo(offset, step)
    if last > n_out:
        last = n_out
    return last if last > first else first


def valid_range_py(Py_ssize_t tap, Py_ssize_t stride, Py_ssize_t padding,
                   Py_ssize_t dilation, Py_ssize_t n_src, Py_ssize_t n_out):
    """``(range_lo, range_hi)`` of a convolution tap, so tests can table-test the formula."""
    cdef Py_ssize_t offset = tap * dilation - padding
    return range_lo(offset, stride), range_hi(offset, stride, n_src, n_out)


# memset / memcpy: the C library picks the widest vector instructions the CPU has at run
# time, wider than the kernels' own compile-time baseline. All-zero bits are +0.0.
cdef inline void zero(floating* row, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    if hi > lo:
        memset(row + lo, 0, (hi - lo) * sizeof(floating))


def im2col(const floating[:, :, :, ::1] src, floating[:, ::1] cols,
           const Py_ssize_t[:, ::1] offset_d, const Py_ssize_t[:, ::1] offset_h,
           const Py_ssize_t[:, ::1] offset_w, step, out_size, Py_ssize_t p0, Py_ssize_t p1):
    """Fill ``cols`` (S*C*K, p1 - p0) from one sample ``src`` (C, D, H, W).

    Row ``(s, c, td, th, tw)`` at column ``p - p0`` holds ``src[c, od*sd + offset_d[s, td],
    oh*sh + offset_h[s, th], ow*sw + offset_w[s, tw]]`` for the flattened output position
    ``p = (od, oh, ow)``: one block of rows per tap set ``s`` (one per stride phase).
    """
    cdef Taps g
    cdef Py_ssize_t a, s, n_sets = offset_d.shape[0]
    cdef Py_ssize_t set_rows = (src.shape[0] * offset_d.shape[1] * offset_h.shape[1]
                                * offset_w.shape[1])
    g.n_taps[0] = offset_d.shape[1]
    g.n_taps[1] = offset_h.shape[1]
    g.n_taps[2] = offset_w.shape[1]
    for a in range(3):
        g.step[a] = step[a]
        g.src[a] = src.shape[a + 1]
        g.out[a] = out_size[a]
    with nogil:
        for s in range(n_sets):
            g.offset[0] = &offset_d[s, 0]
            g.offset[1] = &offset_h[s, 0]
            g.offset[2] = &offset_w[s, 0]
            _im2col(src, cols[s * set_rows:(s + 1) * set_rows], &g, p0, p1)


cdef void _im2col(const floating[:, :, :, ::1] src, floating[:, ::1] cols, const Taps* g,
                  Py_ssize_t p0, Py_ssize_t p1) noexcept nogil:
    cdef Py_ssize_t OH = g.out[1], OW = g.out[2]
    cdef Py_ssize_t sd = g.step[0], sh = g.step[1], sw = g.step[2]
    cdef Py_ssize_t src_w = g.src[2]
    cdef Py_ssize_t c, td, th, tw, row = 0, r, od, oh, ow, w0, w1, a, b, n_rows, run, k
    # Stride 1 and equal widths: consecutive rows of a source plane are adjacent in memory.
    cdef bint rows_contiguous = sw == 1 and sh == 1 and g.src[2] == OW
    cdef Py_ssize_t off_d, off_h, off_w, lo_d, hi_d, lo_h, hi_h, lo_w, hi_w
    cdef Py_ssize_t r_first = p0 // OW, r_last = (p1 - 1) // OW
    cdef Py_ssize_t od_first = r_first // OH, oh_first = r_first % OH
    cdef floating* dst
    cdef const floating* src_row
    cdef const floating* src_plane
    n_rows = r_last - r_first + 1
    for c in range(src.shape[0]):
        src_plane = &src[c, 0, 0, 0]
        for td in range(g.n_taps[0]):
            off_d = g.offset[0][td]
            lo_d = range_lo(off_d, sd)
            hi_d = range_hi(off_d, sd, g.src[0], g.out[0])
            for th in range(g.n_taps[1]):
                off_h = g.offset[1][th]
                lo_h = range_lo(off_h, sh)
                hi_h = range_hi(off_h, sh, g.src[1], OH)
                for tw in range(g.n_taps[2]):
                    off_w = g.offset[2][tw]
                    lo_w = range_lo(off_w, sw)
                    hi_w = range_hi(off_w, sw, src_w, OW)
                    if hi_d <= lo_d or hi_h <= lo_h or hi_w <= lo_w:
                        # The tap reads no source element anywhere in the grid (e.g. a
                        # dilation or padding larger than the input). The copy below
                        # joins the rows of a run into one block and trims its edges
                        # afterwards, which is only in bounds when each row has a
                        # non-empty valid range: an empty range must never reach it.
                        zero(&cols[row, 0], 0, p1 - p0)
                        row = row + 1
                        continue
                    # dst[ow] is the column of output position (od, oh, ow).
                    dst = &cols[row, 0] + (r_first * OW - p0)
                    od = od_first
                    oh = oh_first
                    w0 = p0 - r_first * OW
                    r = 0
                    while r < n_rows:
                        if od < lo_d or od >= hi_d or oh < lo_h or oh >= hi_h:
                            run = 1
                            zero(dst, w0, p1 - (r_first + r) * OW if r == n_rows - 1 else OW)
                        else:
                            # Rows of one source plane that follow each other in memory
                            # are copied as one block, then their edges are zeroed.
                            run = 1
                            if rows_contiguous:
                                run = hi_h - oh
                                if run > n_rows - r:
                                    run = n_rows - r
                            w1 = p1 - (r_first + r + run - 1) * OW if r + run == n_rows else OW
                            src_row = (src_plane + ((od * sd + off_d) * g.src[1]
                                                    + oh * sh + off_h) * src_w + off_w)
                            a = lo_w if lo_w > w0 else w0
                            b = (run - 1) * OW + (hi_w if hi_w < w1 else w1)
                            if sw == 1:
                                if b > a:
                                    memcpy(dst + a, src_row + a, (b - a) * sizeof(floating))
                            else:
                                for ow in range(a, b):
                                    dst[ow] = src_row[ow * sw]
                            for k in range(run):
                                a = w0 if k == 0 else 0
                                b = w1 if k == run - 1 else OW
                                zero(dst + k * OW, a, lo_w if lo_w < b else b)
                                zero(dst + k * OW, hi_w if hi_w > a else a, b)
                        dst += run * OW
                        r += run
                        w0 = 0
                        oh += run
                        if oh == OH:
                            oh = 0
                            od += 1
                    row = row + 1


def store_phases(const floating[:, ::1] tile, floating[:, :, :, ::1] dst,
                 const floating[::1] bias, const Py_ssize_t[:, ::1] residues, step, grid,
                 Py_ssize_t p0, Py_ssize_t p1):
    """``dst[c, q*step + residues[s]] = bias[c] + tile[s*C + c, p - p0]`` for flattened ``q``.

    ``dst`` is one sample (C, D, H, W), ``q`` runs over [p0, p1) of the phases' common
    sub-grid of size ``grid``. ``bias`` is empty (no bias) or has one entry per channel;
    ``tile`` with no rows reads as zeros.
    """
    cdef Py_ssize_t sd = step[0], sh = step[1], sw = step[2]
    cdef Py_ssize_t QH = grid[1], QW = grid[2]
    cdef Py_ssize_t H = dst.shape[2], W = dst.shape[3], C = dst.shape[0]
    cdef bint has_bias = bias.shape[0] > 0, has_tile = tile.shape[0] > 0
    cdef Py_ssize_t s, c, r, qd, qh, qw, w0, w1, rd, rh, rw
    cdef Py_ssize_t r_first = p0 // QW, r_last = (p1 - 1) // QW
    cdef floating start
    cdef const floating* src
    cdef floating* dst_row
    with nogil:
        for c in range(C):
            start = bias[c] if has_bias else 0
            for s in range(residues.shape[0]):
                rd = residues[s, 0]
                rh = residues[s, 1]
                rw = residues[s, 2]
                qd = r_first // QH
                qh = r_first % QH
                w0 = p0 - r_first * QW
                src = &tile[s * C + c, 0] - w0 if has_tile else NULL
                for r in range(r_first, r_last + 1):
                    w1 = p1 - r * QW if r == r_last else QW
                    dst_row = &dst[c, 0, 0, 0] + ((qd * sd + rd) * H + qh * sh + rh) * W + rw
                    if not has_tile:
                        for qw in range(w0, w1):
                            dst_row[qw * sw] = start
                    elif sw == 1:
                        for qw in range(w0, w1):
                            dst_row[qw] = start + src[qw]
                    else:
                        for qw in range(w0, w1):
                            dst_row[qw * sw] = start + src[qw]
                    if has_tile:
                        src += QW
                    w0 = 0
                    qh += 1
                    if qh == QH:
                        qh = 0
                        qd += 1


# Winograd F(2x2, 3x3) (Lavin & Gray 2015) for 3x3 stride-1 convolutions: each 2x2 block
# of outputs costs 16 multiply-adds per channel pair instead of 36. The transforms
# (B^T d B on 4x4 input tiles, A^T m A on the 16 products) only add, subtract and
# multiply by 1/2 (in G, applied to the weight by the caller), so rounding stays at the
# level of the direct sum.

def winograd_input(const floating[:, :, ::1] src, floating[:, :, ::1] tiles,
                   Py_ssize_t pad_h, Py_ssize_t pad_w, Py_ssize_t n_tx,
                   Py_ssize_t t0, Py_ssize_t t1):
    """``tiles[ξ, c, t - t0]`` = B^T d B of the 4x4 input tile of output block ``t``.

    ``src`` is one sample (C, H, W); block ``t = ty * n_tx + tx`` covers outputs
    (2ty..2ty+1, 2tx..2tx+1) and reads input rows from 2ty - pad_h (zero outside).
    One row of blocks at a time: its four input rows are copied with their zero padding,
    combined (B^T d) and split into even and odd columns, so that every step is a
    contiguous loop over the blocks of the row.
    """
    cdef Py_ssize_t wb = 2 * n_tx + 2, half = n_tx + 1
    cdef floating* scratch = <floating*> malloc((4 * wb + 8 * half) * sizeof(floating))
    if scratch == NULL:
        raise MemoryError("winograd_input: no memory for a row buffer")
    with nogil:
        _winograd_input(src, tiles, pad_h, pad_w, n_tx, t0, t1, scratch)
    free(scratch)


cdef void _winograd_input(const floating[:, :, ::1] src, floating[:, :, ::1] tiles,
                          Py_ssize_t pad_h, Py_ssize_t pad_w, Py_ssize_t n_tx,
                          Py_ssize_t t0, Py_ssize_t t1, floating* scratch) noexcept nogil:
    cdef Py_ssize_t H = src.shape[1], W = src.shape[2]
    cdef Py_ssize_t wb = 2 * n_tx + 2, half = n_tx + 1
    cdef Py_ssize_t c, ty, i, k, x, a, b, lo, hi, yy
    cdef Py_ssize_t ty_first = t0 // n_tx, ty_last = (t1 - 1) // n_tx
    cdef floating* rows = scratch            # 4 padded input rows, x from -pad_w
    cdef floating* even = scratch + 4 * wb   # (B^T d) row i, even columns: even[i*half + k]
    cdef floating* odd = even + 4 * half
    cdef floating* L0
    cdef floating* L1
    cdef floating* L2
    cdef floating* L3
    cdef floating* e
    cdef floating* o
    cdef floating* out[16]
    cdef const floating* src_row
    # Input columns x in [lo, hi) of a padded row come from the source.
    lo = pad_w if pad_w < wb else wb
    hi = W + pad_w if W + pad_w < wb else wb
    for c in range(src.shape[0]):
        for ty in range(ty_first, ty_last + 1):
            a = t0 - ty * n_tx if ty == ty_first else 0
            b = t1 - ty * n_tx if ty == ty_last else n_tx
            for i in range(4):
                L0 = rows + i * wb
                yy = 2 * ty - pad_h + i
                if yy < 0 or yy >= H:
                    zero(L0, 0, wb)
                    continue
                src_row = &src[c, yy, 0] - pad_w
                zero(L0, 0, lo)
                if hi > lo:
                    memcpy(L0 + lo, src_row + lo, (hi - lo) * sizeof(floating))
                zero(L0, hi if hi > lo else lo, wb)
            L0 = rows
            L1 = rows + wb
            L2 = rows + 2 * wb
            L3 = rows + 3 * wb
            for k in range(half):
                x = 2 * k
                even[k] = L0[x] - L2[x]
                even[half + k] = L1[x] + L2[x]
                even[2 * half + k] = L2[x] - L1[x]
                even[3 * half + k] = L1[x] - L3[x]
                x = x + 1
                odd[k] = L0[x] - L2[x]
                odd[half + k] = L1[x] + L2[x]
                odd[2 * half + k] = L2[x] - L1[x]
                odd[3 * half + k] = L1[x] - L3[x]
            for k in range(16):
                out[k] = &tiles[k, c, 0] + (ty * n_tx - t0)
            for i in range(4):
                e = even + i * half
                o = odd + i * half
                for k in range(a, b):
                    out[4 * i][k] = e[k] - e[k + 1]
                    out[4 * i + 1][k] = o[k] + e[k + 1]
                    out[4 * i + 2][k] = e[k + 1] - o[k]
                    out[4 * i + 3][k] = o[k] - o[k + 1]


def winograd_output(const floating[:, :, ::1] products, floating[:, :, ::1] dst,
                    const floating[::1] bias, Py_ssize_t n_tx, Py_ssize_t t0, Py_ssize_t t1):
    """``dst[m]`` 2x2 block ``t`` = bias[m] + A^T M A, M = ``products[:, m, t - t0]`` (4x4).

    ``dst`` is one sample (M, OH, OW); blocks hanging over its edge are cut.
    """
    cdef floating* scratch = <floating*> malloc(4 * n_tx * sizeof(floating))
    if scratch == NULL:
        raise MemoryError("winograd_output: no memory for a row buffer")
    with nogil:
        _winograd_output(products, dst, bias, n_tx, t0, t1, scratch)
    free(scratch)


cdef void _winograd_output(const floating[:, :, ::1] products, floating[:, :, ::1] dst,
                           const floating[::1] bias, Py_ssize_t n_tx, Py_ssize_t t0,
                           Py_ssize_t t1, floating* scratch) noexcept nogil:
    cdef Py_ssize_t OH = dst.shape[1], OW = dst.shape[2]
    cdef bint has_bias = bias.shape[0] > 0
    cdef Py_ssize_t m, ty, k, a, b, pairs, q, oy
    cdef Py_ssize_t ty_first = t0 // n_tx, ty_last = (t1 - 1) // n_tx
    cdef const floating* p[16]
    cdef floating* y[4]   # output rows 2ty (even, odd columns) and 2ty + 1 (even, odd)
    cdef floating* row
    cdef floating start, s00, s01, s02, s03, s10, s11, s12, s13
    for q in range(4):
        y[q] = scratch + q * n_tx
    for m in range(dst.shape[0]):
        start = bias[m] if has_bias else 0
        for ty in range(ty_first, ty_last + 1):
            a = t0 - ty * n_tx if ty == ty_first else 0
            b = t1 - ty * n_tx if ty == ty_last else n_tx
            for q in range(16):
                p[q] = &products[q, m, 0] + (ty * n_tx - t0)
            for k in range(a, b):
                # A^T M (rows), then (A^T M) A (columns).
                s00 = p[0][k] + p[4][k] + p[8][k]
                s01 = p[1][k] + p[5][k] + p[9][k]
                s02 = p[2][k] + p[6][k] + p[10][k]
                s03 = p[3][k] + p[7][k] + p[11][k]
                s10 = p[4][k] - p[8][k] - p[12][k]
                s11 = p[5][k] - p[9][k] - p[13][k]
                s12 = p[6][k] - p[10][k] - p[14][k]
                s13 = p[7][k] - p[11][k] - p[15][k]
                y[0][k] = start + (s00 + s01 + s02)
                y[1][k] = start + (s01 - s02 - s03)
                y[2][k] = start + (s10 + s11 + s12)
                y[3][k] = start + (s11 - s12 - s13)
            pairs = OW // 2 if OW // 2 < b else b  # blocks whose odd column exists
            for q in range(2):
                oy = 2 * ty + q
                if oy >= OH:
                    break
                row = &dst[m, oy, 0]
                for k in range(a, pairs):
                    row[2 * k] = y[2 * q][k]
                    row[2 * k + 1] = y[2 * q + 1][k]
                for k in range(pairs if pairs > a else a, b):
                    row[2 * k] = y[2 * q][k]


def add_bias(floating[:, :] tile, const floating[::1] bias):
    """``tile[c, :] += bias[c]`` on a tile whose rows are contiguous (a GEMM's output)."""
    cdef Py_ssize_t c, i, width = tile.shape[1]
    cdef floating* row
    cdef floating b
    if width > 1 and tile.strides[1] != sizeof(floating):
        raise ValueError("add_bias: the tile's rows must be contiguous")
    with nogil:
        for c in range(tile.shape[0]):
            row = &tile[c, 0]
            b = bias[c]
            for i in range(width):
                row[i] += b
