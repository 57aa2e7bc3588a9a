"""Tile kernels for convolution and transposed convolution.

Everything is phrased on 3-D spatial grids (1-D and 2-D callers add leading
singleton axes with one tap at offset 0). Along each axis a *tap* ``t`` reads
the source at ``o * step + offset[t]`` for output position ``o``:

* convolution:            step = stride, offset[t] = t*dilation - padding
* one stride phase of a transposed convolution (see ``_conv_lowering.py``):
                          step = 1,      offset[t] = (phase + padding - t*dilation) / stride

``_im2col`` fills the columns of one sample for a tile of flattened output
positions ``[p0, p1)`` (zero where a tap falls outside the source), so a tile of
columns stays in cache between being written and being read by the GEMM.
``_store_phases`` writes GEMM tiles onto their strided sub-grids of a transposed
convolution's output: every output element is written exactly once, so no
scatter-add, no zero fill and no atomics are needed.

``im2col_gemm``, ``phase_gemm`` and ``winograd_gemm`` run the items of a lowering on
one OpenMP team, as every other kernel does: a thread packs its item's operands
without the GIL into a buffer of its own, takes the GIL only to call the item's
GEMM (a NumPy matmul: its BLAS releases the GIL while it computes, held to one
thread by ``_conv_threads``), and writes outputs no other item writes, so results
do not depend on the thread count.
"""

from cpython.exc cimport PyErr_CheckSignals
from cpython.ref cimport PyObject
from cython.parallel cimport parallel, prange, threadid
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

cimport numpy as cnp

ctypedef fused floating:
    float
    double


cdef extern from *:
    """
    /* A team thread attaches to the interpreter once per parallel region (an OpenMP
       thread has no thread state of its own), so that each GEMM it calls only
       swaps the GIL in and out instead of creating and deleting a thread state. */
    typedef struct { PyGILState_STATE state; PyThreadState* saved; } ux_attached;
    static ux_attached ux_attach(void) {
        ux_attached a;
        a.state = PyGILState_Ensure();
        a.saved = PyEval_SaveThread();
        return a;
    }
    static void ux_detach(ux_attached a) {
        PyEval_RestoreThread(a.saved);
        PyGILState_Release(a.state);
    }
    /* The stop flag is written with the GIL and read without it between items. */
    static int ux_stopped(const int* flag) { return *(const volatile int*)flag; }
    static void ux_stop(int* flag) { *(volatile int*)flag = 1; }
    """
    ctypedef struct ux_attached:
        pass
    ux_attached ux_attach() noexcept nogil
    void ux_detach(ux_attached) noexcept nogil
    int ux_stopped(const int* flag) noexcept nogil
    void ux_stop(int* flag) noexcept nogil


cdef int _gemm(PyObject* gemm, PyObject* errors, int* stop, Py_ssize_t item, Py_ssize_t step,
               int thread) noexcept with gil:
    # ``gemm(item, step, thread)`` with the GIL; nonzero: stop (this or another thread
    # failed). Signals are handled here, between GEMMs: Python runs their handlers in
    # the main thread only, which is the team's thread 0 when the caller is that thread.
    if ux_stopped(stop):
        return 1
    try:
        (<object>gemm)(item, step, thread)
        PyErr_CheckSignals()
    except BaseException as exc:  # re-raised by the caller after the parallel region
        (<list>errors).append(exc)
        ux_stop(stop)
        return 1
    return 0


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


cdef void _set_taps(Taps* g, const Py_ssize_t[:, ::1] offset_d,
                    const Py_ssize_t[:, ::1] offset_h, const Py_ssize_t[:, ::1] offset_w,
                    src, step, out_size):
    # Tap set 0; the offsets of set s follow at s * n_taps (see _im2col_sets).
    cdef Py_ssize_t a
    g.offset[0] = &offset_d[0, 0] if offset_d.shape[1] else NULL
    g.offset[1] = &offset_h[0, 0] if offset_h.shape[1] else NULL
    g.offset[2] = &offset_w[0, 0] if offset_w.shape[1] else NULL
    g.n_taps[0] = offset_d.shape[1]
    g.n_taps[1] = offset_h.shape[1]
    g.n_taps[2] = offset_w.shape[1]
    for a in range(3):
        g.step[a] = step[a]
        g.src[a] = src[a]
        g.out[a] = out_size[a]


cdef void _im2col_sets(const floating* src, Py_ssize_t channels, const Taps* taps,
                       Py_ssize_t n_sets, floating* cols, Py_ssize_t p0,
                       Py_ssize_t p1) noexcept nogil:
    # cols (S*C*K, p1 - p0), contiguous: row (s, c, td, th, tw) at column p - p0 holds
    # src[c, od*sd + offset_d[s, td], oh*sh + offset_h[s, th], ow*sw + offset_w[s, tw]]
    # for the flattened output position p = (od, oh, ow); one block of rows per tap set
    # s (one per stride phase).
    cdef Taps g = taps[0]
    cdef Py_ssize_t s, a
    cdef Py_ssize_t set_rows = channels * g.n_taps[0] * g.n_taps[1] * g.n_taps[2]
    for s in range(n_sets):
        for a in range(3):
            g.offset[a] = taps.offset[a] + s * g.n_taps[a]
        _im2col(src, channels, &g, cols + s * set_rows * (p1 - p0), p0, p1)


cdef void _im2col(const floating* src, Py_ssize_t channels, const Taps* g, floating* cols,
                  Py_ssize_t p0, Py_ssize_t p1) noexcept nogil:
    # One tap set: src (C, D, H, W) and cols (C*K, p1 - p0), both contiguous.
    cdef Py_ssize_t OH = g.out[1], OW = g.out[2]
    cdef Py_ssize_t sd = g.step[0], sh = g.step[1], sw = g.step[2]
    cdef Py_ssize_t src_w = g.src[2], width = p1 - p0
    cdef Py_ssize_t plane = g.src[0] * g.src[1] * g.src[2]
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
    for c in range(channels):
        src_plane = src + c * plane
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
                        zero(cols + row * width, 0, width)
                        row = row + 1
                        continue
                    # dst[ow] is the column of output position (od, oh, ow).
                    dst = cols + row * width + (r_first * OW - p0)
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


cdef void _store_phases(const floating* tile, floating* dst, Py_ssize_t C,
                        const Py_ssize_t* size, const floating* bias,
                        const Py_ssize_t* residues, Py_ssize_t n_residues,
                        const Py_ssize_t* step, const Py_ssize_t* grid, Py_ssize_t p0,
                        Py_ssize_t p1) noexcept nogil:
    # dst[c, q*step + residues[s]] = bias[c] + tile[s*C + c, q - p0] for the flattened q
    # in [p0, p1) of the phases' common sub-grid ``grid``. dst is one sample (C, D, H, W)
    # of spatial ``size``, tile (S*C, p1 - p0); NULL bias: none, NULL tile: zeros.
    cdef Py_ssize_t sd = step[0], sh = step[1], sw = step[2]
    cdef Py_ssize_t QH = grid[1], QW = grid[2], width = p1 - p0
    cdef Py_ssize_t H = size[1], W = size[2], plane = size[0] * size[1] * size[2]
    cdef bint has_tile = tile != NULL
    cdef Py_ssize_t s, c, r, qd, qh, qw, w0, w1, rd, rh, rw
    cdef Py_ssize_t r_first = p0 // QW, r_last = (p1 - 1) // QW
    cdef floating start
    cdef const floating* src
    cdef floating* dst_row
    for c in range(C):
        start = bias[c] if bias != NULL else 0
        for s in range(n_residues):
            rd = residues[3 * s]
            rh = residues[3 * s + 1]
            rw = residues[3 * s + 2]
            qd = r_first // QH
            qh = r_first % QH
            w0 = p0 - r_first * QW
            src = tile + (s * C + c) * width - w0 if has_tile else NULL
            for r in range(r_first, r_last + 1):
                w1 = p1 - r * QW if r == r_last else QW
                dst_row = dst + c * plane + ((qd * sd + rd) * H + qh * sh + rh) * W + rw
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


cdef inline void _add_bias(floating* dst, Py_ssize_t rows, Py_ssize_t stride, Py_ssize_t width,
                           const floating* bias) noexcept nogil:
    # dst[c, :width] += bias[c]: the bias of a GEMM's output tile, after the GEMM as torch.
    cdef Py_ssize_t c, i
    cdef floating* row
    cdef floating b
    for c in range(rows):
        row = dst + c * stride
        b = bias[c]
        for i in range(width):
            row[i] += b


# Winograd F(2x2, 3x3) (Lavin & Gray 2015) for 3x3 stride-1 convolutions: each 2x2 block
# of outputs costs 16 multiply-adds per channel pair instead of 36. The transforms
# (B^T d B on 4x4 input tiles, A^T m A on the 16 products) only add, subtract and
# multiply by 1/2 (in G, applied to the weight by the caller), so rounding stays at the
# level of the direct sum.

cdef void _winograd_input(const floating* src, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
                          floating* tiles, Py_ssize_t pad_h, Py_ssize_t pad_w, Py_ssize_t n_tx,
                          Py_ssize_t t0, Py_ssize_t t1, floating* scratch) noexcept nogil:
    # tiles[ξ, c, t - t0] = B^T d B of the 4x4 input tile of output block t, for one
    # sample src (C, H, W); tiles is (16, C, t1 - t0). Block t = ty * n_tx + tx covers
    # outputs (2ty..2ty+1, 2tx..2tx+1) and reads input rows from 2ty - pad_h (zero
    # outside). One row of blocks at a time: its four input rows are copied with their
    # zero padding, combined (B^T d) and split into even and odd columns, so that every
    # step is a contiguous loop over the blocks of the row. scratch holds
    # 4 * (2 n_tx + 2) + 8 * (n_tx + 1) entries.
    cdef Py_ssize_t width = t1 - t0
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
    for c in range(C):
        for ty in range(ty_first, ty_last + 1):
            a = t0 - ty * n_tx if ty == ty_first else 0
            b = t1 - ty * n_tx if ty == ty_last else n_tx
            for i in range(4):
                L0 = rows + i * wb
                yy = 2 * ty - pad_h + i
                if yy < 0 or yy >= H:
                    zero(L0, 0, wb)
                    continue
                src_row = src + (c * H + yy) * W - pad_w
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
                out[k] = tiles + (k * C + c) * width + (ty * n_tx - t0)
            for i in range(4):
                e = even + i * half
                o = odd + i * half
                for k in range(a, b):
                    out[4 * i][k] = e[k] - e[k + 1]
                    out[4 * i + 1][k] = o[k] + e[k + 1]
                    out[4 * i + 2][k] = e[k + 1] - o[k]
                    out[4 * i + 3][k] = o[k] - o[k + 1]


cdef void _winograd_output(const floating* products, floating* dst, Py_ssize_t M,
                           Py_ssize_t OH, Py_ssize_t OW, const floating* bias, Py_ssize_t n_tx,
                           Py_ssize_t t0, Py_ssize_t t1, floating* scratch) noexcept nogil:
    # dst[m] 2x2 block t = bias[m] + A^T P A, P = products[:, m, t - t0] (4x4), for one
    # sample dst (M, OH, OW); products is (16, M, t1 - t0), NULL bias: none. Blocks
    # hanging over the edge are cut. scratch holds 4 * n_tx entries.
    cdef Py_ssize_t width = t1 - t0
    cdef Py_ssize_t m, ty, k, a, b, pairs, q, oy
    cdef Py_ssize_t ty_first = t0 // n_tx, ty_last = (t1 - 1) // n_tx
    cdef const floating* p[16]
    cdef floating* y[4]   # output rows 2ty (even, odd columns) and 2ty + 1 (even, odd)
    cdef floating* row
    cdef floating start, s00, s01, s02, s03, s10, s11, s12, s13
    for q in range(4):
        y[q] = scratch + q * n_tx
    for m in range(M):
        start = bias[m] if bias != NULL else 0
        for ty in range(ty_first, ty_last + 1):
            a = t0 - ty * n_tx if ty == ty_first else 0
            b = t1 - ty * n_tx if ty == ty_last else n_tx
            for q in range(16):
                p[q] = products + (q * M + m) * width + (ty * n_tx - t0)
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
                row = dst + (m * OH + oy) * OW
                for k in range(a, pairs):
                    row[2 * k] = y[2 * q][k]
                    row[2 * k + 1] = y[2 * q + 1][k]
                for k in range(pairs if pairs > a else a, b):
                    row[2 * k] = y[2 * q][k]


# --------------------------------------------------------------------------- GEMM items
#
# Each driver runs its items on one OpenMP team (schedule dynamic: a thread slowed by a
# busy machine takes fewer items; the results do not depend on who takes which). The
# GEMM of an item is NumPy's matmul, called through ``gemm(item, step, thread)`` with
# the GIL; everything around it (im2col, the Winograd transforms, bias, stores) runs
# without it, in the thread's own buffers. Once anything fails (a Ctrl-C included) the
# threads skip the items left, and the error is raised here after the region.

def im2col_gemm(const floating[:, :, :, :, ::1] src, floating[:, ::1] cols,
                const Py_ssize_t[:, ::1] offset_d, const Py_ssize_t[:, ::1] offset_h,
                const Py_ssize_t[:, ::1] offset_w, step, out_size, Py_ssize_t tile,
                Py_ssize_t per_sample, floating[:, :, ::1] dst, const floating[::1] bias,
                gemm, int num_threads):
    """Run the items of a sweep over ``cols = im2col(src)`` on ``num_threads`` threads.

    ``src`` is (N, C, D, H, W); the output positions of a sample (``out_size``,
    flattened) are cut into tiles ``[t * tile, (t + 1) * tile)``, and item
    ``n * per_sample + b`` is the ``b``-th of ``per_sample`` fixed blocks of tiles of
    sample ``n``. For each of its tiles the thread fills ``cols[thread]`` (rows, width)
    (unless ``cols`` has no rows: then the source is its own columns), calls
    ``gemm(item, tile, thread)`` with the GIL, and adds ``bias`` (empty: none) to
    ``dst[n, :, tile]``, where ``dst`` is (N, M, positions).
    """
    cdef Taps g
    cdef Taps* taps = &g
    cdef Py_ssize_t n_out = out_size[0] * out_size[1] * out_size[2]
    cdef Py_ssize_t n_items = src.shape[0] * per_sample
    cdef Py_ssize_t n_tiles = (n_out + tile - 1) // tile, channels = src.shape[1]
    cdef Py_ssize_t item, n, t, first, last, p0, p1
    cdef bint pack = cols.shape[0] > 0
    cdef const floating* bias_ptr = &bias[0] if bias.shape[0] else NULL
    cdef floating* cols_ptr
    cdef int thread, stop = 0
    cdef int* stop_ptr = &stop
    cdef list errors = []
    cdef PyObject* gemm_ptr = <PyObject*>gemm
    cdef PyObject* errors_ptr = <PyObject*>errors
    cdef ux_attached attached
    _set_taps(taps, offset_d, offset_h, offset_w, (src.shape[2], src.shape[3], src.shape[4]),
              step, out_size)
    if n_items == 0 or n_out == 0:
        return
    with nogil, parallel(num_threads=num_threads):
        attached = ux_attach()
        thread = threadid()
        cols_ptr = &cols[thread, 0] if pack else NULL
        for item in prange(n_items, schedule='dynamic', chunksize=1):
            if ux_stopped(stop_ptr):
                continue
            n = item // per_sample
            first = item % per_sample * n_tiles // per_sample
            last = (item % per_sample + 1) * n_tiles // per_sample
            for t in range(first, last):
                p0 = t * tile
                p1 = min(p0 + tile, n_out)
                if pack:
                    _im2col_sets(&src[n, 0, 0, 0, 0], channels, taps, 1, cols_ptr, p0, p1)
                if _gemm(gemm_ptr, errors_ptr, stop_ptr, item, t, thread):
                    break
                if bias_ptr != NULL:
                    _add_bias(&dst[n, 0, p0], dst.shape[1], dst.shape[2], p1 - p0, bias_ptr)
        ux_detach(attached)
    if errors:
        raise errors[0]


cdef struct PhaseSet:
    Taps taps                     # offsets (P, taps) per axis; ``out`` is the sub-grid
    const Py_ssize_t* residues    # (P, 3)
    Py_ssize_t n_residues
    Py_ssize_t size               # positions of the sub-grid
    bint has_weight


def phase_gemm(const floating[:, :, :, :, ::1] src, floating[:, ::1] cols,
               floating[:, ::1] tiles, sets, floating[:, :, :, :, ::1] dst,
               const floating[::1] bias, step, Py_ssize_t tile, gemm, int num_threads):
    """``dst = col2im(weightᵀ @ src) + bias`` by stride-phase gathers, on a team.

    ``src`` is (N, M, ...) and ``dst`` (N, C, D, H, W); ``sets`` holds per phase set
    ``(residues (P, 3), grid, (offset_d, offset_h, offset_w), has_weight)`` with offsets
    (P, taps) (step 1, see ``_phase_sets``). Item ``n * n_tiles + t`` is tile ``t``
    (positions ``[t * tile, (t + 1) * tile)`` of each set's sub-grid) of sample ``n``:
    for each set with taps the thread fills ``cols[thread]`` by im2col and calls
    ``gemm(item, set, thread)`` with the GIL, which leaves the (P*C, width) product in
    ``tiles[thread]``; then the tile goes onto its strided sub-grids of ``dst[n]`` with
    ``bias`` (empty: none; a set without taps stores the bias alone).
    """
    cdef Py_ssize_t n_sets = len(sets), k, n_grid = 0, n_tiles, n_items
    cdef Py_ssize_t channels = src.shape[1], item, n, t, p0, p1
    cdef Py_ssize_t stride[3]
    cdef Py_ssize_t size[3]
    cdef Py_ssize_t* stride_ptr = stride
    cdef Py_ssize_t* size_ptr = size
    cdef const Py_ssize_t[:, ::1] residues
    cdef const floating* bias_ptr = &bias[0] if bias.shape[0] else NULL
    cdef floating* cols_ptr
    cdef floating* tiles_ptr
    cdef const floating* product
    cdef int thread, stop = 0
    cdef int* stop_ptr = &stop
    cdef list errors = []
    cdef PyObject* gemm_ptr = <PyObject*>gemm
    cdef PyObject* errors_ptr = <PyObject*>errors
    cdef ux_attached attached
    cdef PhaseSet* phases = <PhaseSet*>malloc(n_sets * sizeof(PhaseSet))
    if phases == NULL:
        raise MemoryError("phase_gemm: no memory for the phase table")
    try:
        for k in range(3):
            stride[k] = step[k]
            size[k] = dst.shape[k + 2]
        for k, (res, grid, offsets, has_weight) in enumerate(sets):
            residues = res
            phases[k].residues = &residues[0, 0]
            phases[k].n_residues = residues.shape[0]
            _set_taps(&phases[k].taps, offsets[0], offsets[1], offsets[2],
                      (src.shape[2], src.shape[3], src.shape[4]), (1, 1, 1), grid)
            phases[k].size = grid[0] * grid[1] * grid[2]
            phases[k].has_weight = has_weight
            n_grid = max(n_grid, phases[k].size)
        n_tiles = (n_grid + tile - 1) // tile
        n_items = src.shape[0] * n_tiles
        if n_items == 0:
            return
        with nogil, parallel(num_threads=num_threads):
            attached = ux_attach()
            thread = threadid()
            cols_ptr = &cols[thread, 0]
            tiles_ptr = &tiles[thread, 0]
            for item in prange(n_items, schedule='dynamic', chunksize=1):
                if ux_stopped(stop_ptr):
                    continue
                n = item // n_tiles
                t = item % n_tiles
                # One tile of every set: the sets' sub-grids interleave in memory, so
                # together they fill whole cache lines of the output while those are hot.
                for k in range(n_sets):
                    p0 = t * tile
                    p1 = min(p0 + tile, phases[k].size)
                    if p0 >= p1:
                        continue
                    product = NULL
                    if phases[k].has_weight:
                        _im2col_sets(&src[n, 0, 0, 0, 0], channels, &phases[k].taps,
                                     phases[k].n_residues, cols_ptr, p0, p1)
                        if _gemm(gemm_ptr, errors_ptr, stop_ptr, item, k, thread):
                            break
                        product = tiles_ptr
                    _store_phases(product, &dst[n, 0, 0, 0, 0], dst.shape[1], size_ptr,
                                  bias_ptr, phases[k].residues, phases[k].n_residues,
                                  stride_ptr, phases[k].taps.out, p0, p1)
            ux_detach(attached)
    finally:
        free(phases)
    if errors:
        raise errors[0]


def winograd_gemm(const floating[:, :, :, ::1] src, floating[:, ::1] tiles,
                  floating[:, ::1] products, floating[:, :, :, ::1] dst,
                  const floating[::1] bias, Py_ssize_t pad_h, Py_ssize_t pad_w,
                  Py_ssize_t width, gemm, int num_threads):
    """``dst = conv(src, weight) + bias``, 3x3 stride 1, by Winograd F(2x2, 3x3) on a team.

    ``src`` is (N, C, H, W), ``dst`` (N, M, OH, OW), ``pad_h``/``pad_w`` the padding
    before each axis. Item ``n * per_sample + b`` is the output blocks
    ``[b * width, (b + 1) * width)`` of sample ``n``: the thread transforms their input
    tiles into ``tiles[thread]`` (16, C, blocks), calls ``gemm(item, 0, thread)`` with
    the GIL, which leaves U @ tiles in ``products[thread]`` (16, M, blocks), and
    transforms those back into ``dst[n]`` with ``bias`` (empty: none).
    """
    cdef Py_ssize_t C = src.shape[1], H = src.shape[2], W = src.shape[3]
    cdef Py_ssize_t M = dst.shape[1], OH = dst.shape[2], OW = dst.shape[3]
    cdef Py_ssize_t n_tx = (OW + 1) // 2
    cdef Py_ssize_t n_blocks = (OH + 1) // 2 * n_tx
    cdef Py_ssize_t per_sample = (n_blocks + width - 1) // width
    cdef Py_ssize_t n_items = src.shape[0] * per_sample, item, n, t0, t1
    cdef Py_ssize_t n_scratch = 4 * (2 * n_tx + 2) + 8 * (n_tx + 1)  # >= 4 * n_tx (output)
    cdef const floating* bias_ptr = &bias[0] if bias.shape[0] else NULL
    cdef floating* tiles_ptr
    cdef floating* products_ptr
    cdef floating* scratch
    cdef int thread, stop = 0, failed = 0
    cdef int* stop_ptr = &stop
    cdef int* failed_ptr = &failed
    cdef list errors = []
    cdef PyObject* gemm_ptr = <PyObject*>gemm
    cdef PyObject* errors_ptr = <PyObject*>errors
    cdef ux_attached attached
    if n_items == 0:
        return
    with nogil, parallel(num_threads=num_threads):
        attached = ux_attach()
        thread = threadid()
        tiles_ptr = &tiles[thread, 0]
        products_ptr = &products[thread, 0]
        scratch = <floating*>malloc(n_scratch * sizeof(floating))
        for item in prange(n_items, schedule='dynamic', chunksize=1):
            if ux_stopped(stop_ptr):
                continue
            if scratch == NULL:
                failed_ptr[0] = 1
                continue
            n = item // per_sample
            t0 = item % per_sample * width
            t1 = min(t0 + width, n_blocks)
            _winograd_input(&src[n, 0, 0, 0], C, H, W, tiles_ptr, pad_h, pad_w, n_tx, t0, t1,
                            scratch)
            if _gemm(gemm_ptr, errors_ptr, stop_ptr, item, 0, thread):
                continue
            _winograd_output(products_ptr, &dst[n, 0, 0, 0], M, OH, OW, bias_ptr, n_tx, t0, t1,
                             scratch)
        free(scratch)
        ux_detach(attached)
    if errors:
        raise errors[0]
    if failed:
        raise MemoryError("winograd_gemm: no memory for a row buffer")


# --------------------------------------------------------------------------- direct kernels
#
# With few channels im2col + GEMM spends its time packing columns and in GEMMs too thin
# to run at speed; these kernels sum the taps straight from the source instead. Each
# parallel item is one output row (batch, channel, depth, height), written by one thread
# in a fixed order (channel, then taps d, h, w), so results do not depend on the thread
# count. Rows of a stride > 1 are first split into their stride phases in a per-thread
# buffer, so that every inner loop runs over contiguous memory (and vectorises).

cdef struct Grid:
    # One convolution in conv terms on 3-D grids: ``src`` (N, C, D, H, W) is the
    # convolution's input, ``col`` (N, M, OD, OH, OW) its output (column) grid.
    Py_ssize_t n, c, m, groups
    Py_ssize_t src[3]
    Py_ssize_t out[3]
    Py_ssize_t kernel[3]
    Py_ssize_t stride[3]
    Py_ssize_t padding[3]
    Py_ssize_t dilation[3]


cdef int _grid(Grid* g, Py_ssize_t n, Py_ssize_t c, Py_ssize_t m, Py_ssize_t groups,
               src, out, kernel, stride, padding, dilation) except -1:
    cdef int a
    g.n = n
    g.c = c
    g.m = m
    g.groups = groups
    for a in range(3):
        g.src[a] = src[a]
        g.out[a] = out[a]
        g.kernel[a] = kernel[a]
        g.stride[a] = stride[a]
        g.padding[a] = padding[a]
        g.dilation[a] = dilation[a]
    return 0


cdef inline Py_ssize_t floor_mod(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return a - floor_div(a, b) * b


cdef extern from "_conv_direct.h" nogil:
    void ux_direct_rows_f32(const float* const* rows, Py_ssize_t col0, Py_ssize_t n_rows,
                            const Py_ssize_t* off, Py_ssize_t n_k, const float* w,
                            const float* start, float* out, Py_ssize_t ch_stride, int n_ch,
                            Py_ssize_t n_out, Py_ssize_t out_step)
    void ux_direct_rows_f64(const double* const* rows, Py_ssize_t col0, Py_ssize_t n_rows,
                            const Py_ssize_t* off, Py_ssize_t n_k, const double* w,
                            const double* start, double* out, Py_ssize_t ch_stride, int n_ch,
                            Py_ssize_t n_out, Py_ssize_t out_step)

# Outputs summed at once in registers per channel (_conv_direct.h), and channels per item.
DEF STRIP = 16  # >= the widest build's strip (UX_STRIP_MAX)
DEF BLOCK = 4


cdef inline void direct_rows(floating** rows, Py_ssize_t col0, Py_ssize_t n_rows,
                             const Py_ssize_t* off, Py_ssize_t n_k, const floating* w,
                             const floating* start, floating* out, Py_ssize_t ch_stride,
                             int n_ch, Py_ssize_t n_out, Py_ssize_t out_step) noexcept nogil:
    # The gathered rows are pointers: rows[t] + col0 is row t's first column.
    if floating is float:
        ux_direct_rows_f32(<const float* const*>rows, col0, n_rows, off, n_k, w, start, out,
                           ch_stride, n_ch, n_out, out_step)
    else:
        ux_direct_rows_f64(<const double* const*>rows, col0, n_rows, off, n_k, w, start, out,
                           ch_stride, n_ch, n_out, out_step)


cdef extern from "_prefetch.h" nogil:
    void ux_prefetch_span(const void* p, size_t n_bytes, int to_l2)


cdef extern from "_conv_direct.h" nogil:
    ctypedef struct ux_split:
        pass
    ux_split ux_split_plan(Py_ssize_t n, Py_ssize_t lead, Py_ssize_t step, Py_ssize_t phase_len)
    void ux_split_phases_f32(const float* row, const ux_split* plan, float* out)
    void ux_split_phases_f64(const double* row, const ux_split* plan, double* out)


cdef inline void stride_phases(const floating* row, const ux_split* plan,
                               floating* out) noexcept nogil:
    # out[ph*phase_len + u] = row[u*step + ph - lead] (0 outside the row), every ph < step,
    # with n, lead, step and phase_len those of the plan.
    if floating is float:
        ux_split_phases_f32(row, plan, out)
    else:
        ux_split_phases_f64(row, plan, out)


cdef inline void gather_row(floating* buf, const floating* row, Py_ssize_t n,
                            Py_ssize_t base, Py_ssize_t step, Py_ssize_t length) noexcept nogil:
    # buf[u] = row[base + u*step] where that lies in [0, n), else 0 (the zero padding).
    cdef Py_ssize_t u, lo = range_lo(base, step), hi = range_hi(base, step, n, length)
    zero(buf, 0, lo)
    if step == 1:
        if hi > lo:
            memcpy(buf + lo, row + base + lo, (hi - lo) * sizeof(floating))
    else:
        for u in range(lo, hi):
            buf[u] = row[base + u * step]
    zero(buf, hi if hi > lo else lo, length)


def direct_conv(const floating[:, :, :, :, ::1] src, const floating[:, :, :, :, ::1] weight,
                const floating[::1] bias, floating[:, :, :, :, ::1] dst, stride, padding,
                dilation, Py_ssize_t groups, Py_ssize_t item0, Py_ssize_t item1,
                int num_threads):
    """``dst = conv(src, weight) + bias`` for work items ``[item0, item1)``.

    ``src`` is (N, C, D, H, W), ``weight`` (M, C/groups, kd, kh, kw), ``dst``
    (N, M, OD, OH, OW); an item is an output row of every channel of one group,
    flattened (n, group, od, oh) (``direct_items`` counts them): its source rows are
    gathered once, then summed 4 channels at a time. ``bias`` is empty (none) or has
    M entries.
    """
    cdef Grid g
    _grid(&g, src.shape[0], src.shape[1], dst.shape[1], groups,
          (src.shape[2], src.shape[3], src.shape[4]), (dst.shape[2], dst.shape[3], dst.shape[4]),
          (weight.shape[2], weight.shape[3], weight.shape[4]), stride, padding, dilation)
    cdef int failed = 0
    with nogil:
        failed = _direct_conv(&src[0, 0, 0, 0, 0], &weight[0, 0, 0, 0, 0],
                              &bias[0] if bias.shape[0] else NULL, &dst[0, 0, 0, 0, 0], &g,
                              item0, item1, num_threads)
    if failed:
        raise MemoryError("direct_conv: no memory for a row buffer")


cnp.import_array()


cdef class DirectCall:
    """The direct kernel bound to one geometry, run over all its items on one thread.

    ``call(x, weight, bias, y)`` is ``direct_conv`` (or ``direct_conv_transpose``)
    of the 5-D arrays with these shapes over items ``[0, items)`` with one thread:
    the same kernel with the same arguments, so the same bits, without the
    per-call buffer checks. The caller binds it to C-contiguous, aligned arrays of
    the bound dtype and shapes (any shape of that memory: only the data is read);
    ``bias`` is None or M (C when transposed) values.
    """

    cdef Grid g
    cdef bint transposed, wide
    cdef Py_ssize_t items

    def __init__(self, bint transposed, bint wide, x5_shape, w5_shape, y5_shape, stride,
                 padding, dilation, Py_ssize_t groups, Py_ssize_t items):
        if transposed:  # conv terms: y is the conv's input grid, x its output grid
            _grid(&self.g, y5_shape[0], y5_shape[1], x5_shape[1], groups, y5_shape[2:],
                  x5_shape[2:], w5_shape[2:], stride, padding, dilation)
        else:
            _grid(&self.g, x5_shape[0], x5_shape[1], y5_shape[1], groups, x5_shape[2:],
                  y5_shape[2:], w5_shape[2:], stride, padding, dilation)
        self.transposed = transposed
        self.wide = wide  # float64, else float32
        self.items = items

    def __call__(self, cnp.ndarray x, cnp.ndarray weight, bias, cnp.ndarray y):
        cdef const void* xp = cnp.PyArray_DATA(x)
        cdef const void* wp = cnp.PyArray_DATA(weight)
        cdef const void* bp = NULL if bias is None else cnp.PyArray_DATA(<cnp.ndarray>bias)
        cdef void* yp = cnp.PyArray_DATA(y)
        cdef int failed
        with nogil:
            if self.wide and self.transposed:
                failed = _direct_conv_transpose[double](<const double*>xp, <const double*>wp,
                                                        <const double*>bp, <double*>yp,
                                                        &self.g, 0, self.items, 1)
            elif self.wide:
                failed = _direct_conv[double](<const double*>xp, <const double*>wp,
                                              <const double*>bp, <double*>yp, &self.g, 0,
                                              self.items, 1)
            elif self.transposed:
                failed = _direct_conv_transpose[float](<const float*>xp, <const float*>wp,
                                                       <const float*>bp, <float*>yp, &self.g,
                                                       0, self.items, 1)
            else:
                failed = _direct_conv[float](<const float*>xp, <const float*>wp,
                                             <const float*>bp, <float*>yp, &self.g, 0,
                                             self.items, 1)
        if failed:
            raise MemoryError("direct convolution: no memory for a row buffer")


def direct_items(Py_ssize_t n, Py_ssize_t groups, Py_ssize_t depth, Py_ssize_t height):
    """Work items of ``direct_conv`` / ``direct_conv_transpose`` with that output."""
    return n * groups * depth * height


cdef int _direct_conv(const floating* src, const floating* weight, const floating* bias,
                      floating* dst, const Grid* g, Py_ssize_t item0, Py_ssize_t item1,
                      int num_threads) noexcept nogil:
    cdef Py_ssize_t OW = g.out[2], KW = g.kernel[2], sw = g.stride[2], dw = g.dilation[2]
    cdef Py_ssize_t cg = g.c // g.groups, mg = g.m // g.groups
    cdef Py_ssize_t blocks = (mg + BLOCK - 1) // BLOCK
    cdef Py_ssize_t n_taps = g.kernel[0] * g.kernel[1] * KW
    # Each source row is split into its ``sw`` stride phases of ``phase_len`` (zero
    # padded): tap kw of output i reads phase (kw*dw) % sw at i + (kw*dw) // sw.
    cdef Py_ssize_t phase_len = (OW + STRIP - 1) // STRIP * STRIP + (KW - 1) * dw // sw + 1
    cdef Py_ssize_t off[64]
    cdef Py_ssize_t grp, blk, m0, c, kw, b, t
    cdef int failed = 0
    cdef int* failed_ptr = &failed
    if KW > 64:
        return 1
    for kw in range(KW):
        off[kw] = (kw * dw) % sw * phase_len + kw * dw // sw
    # wfull[(group block, c, kd, kh, kw), b] = weight[m0 + b, c, kd, kh, kw] (0 past the group)
    cdef floating* wfull = <floating*>malloc((g.groups * blocks * cg * n_taps * BLOCK + 1)
                                             * sizeof(floating))
    if wfull == NULL:
        return 1
    for grp in range(g.groups):
        for blk in range(blocks):
            m0 = grp * mg + blk * BLOCK
            for c in range(cg):
                for t in range(n_taps):
                    for b in range(BLOCK):
                        wfull[(((grp * blocks + blk) * cg + c) * n_taps + t) * BLOCK + b] = (
                            weight[((m0 + b) * cg + c) * n_taps + t]
                            if blk * BLOCK + b < mg else 0)
    cdef Py_ssize_t chunk, n_items = item1 - item0
    if num_threads == 1 or n_items < 2:
        # One thread runs outside OpenMP: even a one-thread region costs a
        # futex wake (~1.5 us), most of a tiny call.
        failed = _direct_conv_items(src, weight, bias, dst, g, off, wfull, item0, item1)
    else:
        # One contiguous run of items per thread, as a static prange splits them.
        for chunk in prange(num_threads, schedule='static', chunksize=1,
                            num_threads=num_threads):
            if _direct_conv_items(src, weight, bias, dst, g, off, wfull,
                                  item0 + n_items * chunk // num_threads,
                                  item0 + n_items * (chunk + 1) // num_threads):
                failed_ptr[0] = 1
    free(wfull)
    return failed


# Bytes of the gathered rows that one column tile of the direct kernels reads: small
# enough to stay in L1 (32 KiB on most x86 cores) beside the packed weights while every
# channel block runs over the tile.
DEF ROWS_TILE_BYTES = 12 * 1024


cdef inline Py_ssize_t _column_tile(Py_ssize_t n_rows, Py_ssize_t itemsize) noexcept nogil:
    # Output columns per tile: whole register strips (tiles only partition the outputs,
    # so every output's sum is the same), at least one.
    cdef Py_ssize_t tile = ROWS_TILE_BYTES // (n_rows * itemsize + 1) // STRIP * STRIP
    return tile if tile > STRIP else STRIP


cdef inline int _block_start(const floating* bias, Py_ssize_t first, Py_ssize_t left,
                             floating* start) noexcept nogil:
    # The channels of a block (at most BLOCK of the ``left`` from channel ``first`` on)
    # and their start values: the bias, 0 past the channels or without one.
    cdef Py_ssize_t n_ch = left if left < BLOCK else BLOCK, b
    for b in range(BLOCK):
        start[b] = bias[first + b] if bias != NULL and b < n_ch else 0
    return <int>n_ch


cdef inline void _free_row_buffers(floating* rows, floating* wpack, floating** row_at,
                                   Py_ssize_t* held) noexcept nogil:
    # The per-thread buffers of the direct kernels' items (any of them may be NULL).
    free(rows)
    free(wpack)
    free(<void*>row_at)
    free(held)


cdef inline void _forget_rows(Py_ssize_t key, Py_ssize_t* last_key, Py_ssize_t* held,
                              Py_ssize_t n_slots) noexcept nogil:
    # Row slots hold rows of one ``key`` (batch item, group, depth): a new key empties them.
    cdef Py_ssize_t slot
    if key != last_key[0]:
        for slot in range(n_slots):
            held[slot] = -1
        last_key[0] = key


cdef int _direct_conv_items(const floating* src, const floating* weight,
                            const floating* bias, floating* dst, const Grid* g,
                            const Py_ssize_t* off, const floating* wfull, Py_ssize_t lo,
                            Py_ssize_t hi) noexcept nogil:
    # Items [lo, hi) of _direct_conv on the calling thread, with its own row buffers.
    # Source rows are gathered into slots kept across output rows: slot (c, kd, h mod span)
    # holds row h, so the next output row (the same item but for oh) gathers only the rows
    # it does not share with this one (one of four for a 4-tap stride-1 kernel).
    cdef Py_ssize_t D = g.src[0], H = g.src[1], W = g.src[2]
    cdef Py_ssize_t OD = g.out[0], OH = g.out[1], OW = g.out[2]
    cdef Py_ssize_t KD = g.kernel[0], KH = g.kernel[1], KW = g.kernel[2]
    cdef Py_ssize_t sd = g.stride[0], sh = g.stride[1], sw = g.stride[2]
    cdef Py_ssize_t dw = g.dilation[2], pw = g.padding[2]
    cdef Py_ssize_t cg = g.c // g.groups, mg = g.m // g.groups
    cdef Py_ssize_t blocks = (mg + BLOCK - 1) // BLOCK
    cdef Py_ssize_t plane = D * H * W, out_plane = OD * OH * OW, n_taps = KD * KH * KW
    cdef Py_ssize_t phase_len = (OW + STRIP - 1) // STRIP * STRIP + (KW - 1) * dw // sw + 1
    cdef Py_ssize_t row_len = sw * phase_len, max_rows = cg * KD * KH
    cdef Py_ssize_t span = (KH - 1) * g.dilation[1] + 1, n_slots = cg * KD * span
    cdef ux_split split = ux_split_plan(W, pw, sw, phase_len)
    cdef Py_ssize_t item, rest, n, grp, blk, m0, od, oh, c, kd, kh, kw, b, d, h, t, r, n_ch
    cdef Py_ssize_t q0, nq, slot, last_key = -1
    cdef Py_ssize_t tile = _column_tile(max_rows, sizeof(floating))
    cdef const floating* x
    cdef floating* rows
    cdef floating* wpack
    cdef floating* start
    cdef floating** row_at
    cdef Py_ssize_t* held
    rows = <floating*>malloc((n_slots * row_len + 1) * sizeof(floating))
    wpack = <floating*>malloc((max_rows * KW * BLOCK + BLOCK) * sizeof(floating))
    row_at = <floating**>malloc((max_rows + 1) * sizeof(floating*))
    held = <Py_ssize_t*>malloc((n_slots + 1) * sizeof(Py_ssize_t))
    start = wpack + max_rows * KW * BLOCK if wpack != NULL else NULL
    if rows == NULL or wpack == NULL or row_at == NULL or held == NULL:
        _free_row_buffers(rows, wpack, row_at, held)
        return 1
    for item in range(lo, hi):
        oh = item % OH
        rest = item // OH
        od = rest % OD
        rest = rest // OD
        grp = rest % g.groups
        n = rest // g.groups
        _forget_rows(item // OH, &last_key, held, n_slots)  # key (n, group, od)
        t = 0
        for c in range(cg):
            x = src + (n * g.c + grp * cg + c) * plane
            for kd in range(KD):
                d = od * sd + kd * g.dilation[0] - g.padding[0]
                if d < 0 or d >= D:
                    continue
                for kh in range(KH):
                    h = oh * sh + kh * g.dilation[1] - g.padding[1]
                    if h < 0 or h >= H:
                        continue
                    slot = (c * KD + kd) * span + h % span
                    if held[slot] != h:
                        stride_phases(x + (d * H + h) * W, &split, rows + slot * row_len)
                        held[slot] = h
                        # The rows the next output row gathers after this one.
                        r = H - 1 - h if H - 1 - h < sh else sh
                        if r > 0:
                            ux_prefetch_span(x + (d * H + h + 1) * W, r * W * sizeof(floating), 0)
                    row_at[t] = rows + slot * row_len
                    t = t + 1
        if t == cg * KD * KH:
            # Every tap row is inside the source: the weights packed up front. The
            # channel blocks run inside column tiles, so that a tile of the rows stays in
            # L1 for every block.
            q0 = 0
            while q0 < OW:
                nq = OW - q0
                if nq > tile:
                    nq = tile
                for blk in range(blocks):
                    m0 = grp * mg + blk * BLOCK
                    n_ch = _block_start(bias, m0, mg - blk * BLOCK, start)
                    direct_rows(row_at, q0, t, off, KW,
                                wfull + (grp * blocks + blk) * cg * n_taps * BLOCK, start,
                                dst + ((n * g.m + m0) * OD + od) * OH * OW + oh * OW + q0,
                                out_plane, <int>n_ch, nq, 1)
                q0 = q0 + tile
            continue
        for blk in range(blocks):
            m0 = grp * mg + blk * BLOCK
            n_ch = _block_start(bias, m0, mg - blk * BLOCK, start)
            # The weights in the order of the rows gathered above.
            t = 0
            for c in range(cg):
                for kd in range(KD):
                    d = od * sd + kd * g.dilation[0] - g.padding[0]
                    if d < 0 or d >= D:
                        continue
                    for kh in range(KH):
                        h = oh * sh + kh * g.dilation[1] - g.padding[1]
                        if h < 0 or h >= H:
                            continue
                        for kw in range(KW):
                            for b in range(BLOCK):
                                wpack[(t * KW + kw) * BLOCK + b] = (
                                    weight[((m0 + b) * cg + c) * n_taps
                                           + (kd * KH + kh) * KW + kw] if b < n_ch else 0)
                        t = t + 1
            direct_rows(row_at, 0, t, off, KW, wpack, start,
                        dst + ((n * g.m + m0) * OD + od) * OH * OW + oh * OW, out_plane,
                        <int>n_ch, OW, 1)
    _free_row_buffers(rows, wpack, row_at, held)
    return 0


def direct_conv_transpose(const floating[:, :, :, :, ::1] cols,
                          const floating[:, :, :, :, ::1] weight, const floating[::1] bias,
                          floating[:, :, :, :, ::1] dst, stride, padding, dilation,
                          Py_ssize_t groups, Py_ssize_t item0, Py_ssize_t item1,
                          int num_threads):
    """``dst = conv_transpose(cols, weight) + bias`` for work items ``[item0, item1)``.

    In conv terms: ``cols`` (N, M, OD, OH, OW) lies on a convolution's output grid,
    ``weight`` is the conv weight (M, C/groups, kd, kh, kw) and ``dst`` (N, C, D, H, W)
    its input grid (conv's input gradient; torch's transposed weight has this layout).
    Each output element gathers the taps that land on it; an item is an output row of
    every channel of one group, as in ``direct_conv``.
    """
    cdef Grid g
    _grid(&g, dst.shape[0], dst.shape[1], cols.shape[1], groups,
          (dst.shape[2], dst.shape[3], dst.shape[4]), (cols.shape[2], cols.shape[3], cols.shape[4]),
          (weight.shape[2], weight.shape[3], weight.shape[4]), stride, padding, dilation)
    cdef int failed = 0
    with nogil:
        failed = _direct_conv_transpose(&cols[0, 0, 0, 0, 0], &weight[0, 0, 0, 0, 0],
                                        &bias[0] if bias.shape[0] else NULL,
                                        &dst[0, 0, 0, 0, 0], &g, item0, item1, num_threads)
    if failed:
        raise MemoryError("direct_conv_transpose: no memory for a row buffer")


cdef int _direct_conv_transpose(const floating* cols, const floating* weight,
                                const floating* bias, floating* dst, const Grid* g,
                                Py_ssize_t item0, Py_ssize_t item1,
                                int num_threads) noexcept nogil:
    cdef Py_ssize_t W = g.src[2], KW = g.kernel[2], sw = g.stride[2]
    cdef Py_ssize_t dw = g.dilation[2], pw = g.padding[2]
    # Output column j = q*sw + r (phase r) takes tap kw when r + pw - kw*dw is a multiple
    # of sw, from column q + delta, delta = (r + pw - kw*dw) / sw. Source rows are copied
    # with ``lead`` zeros before them so that every delta + lead is >= 0.
    cdef Py_ssize_t n_phase = sw if sw < W else W
    cdef Py_ssize_t phase_out = (W + sw - 1) // sw
    cdef Py_ssize_t lead = 0, last = 0, delta, row_len
    cdef Py_ssize_t n_k[64]
    cdef Py_ssize_t tap_w[64 * 64]
    cdef Py_ssize_t off[64 * 64]
    cdef Py_ssize_t k, kw, r
    cdef int failed = 0
    cdef int* failed_ptr = &failed
    if KW > 64 or n_phase > 64:
        return 1
    for r in range(n_phase):
        n_k[r] = 0
        for kw in range(KW):
            if floor_mod(r + pw - kw * dw, sw) == 0:
                delta = floor_div(r + pw - kw * dw, sw)
                tap_w[r * 64 + n_k[r]] = kw
                off[r * 64 + n_k[r]] = delta
                n_k[r] += 1
                if -delta > lead:
                    lead = -delta
                if delta > last:
                    last = delta
    row_len = (phase_out + STRIP - 1) // STRIP * STRIP + lead + last + 1
    for r in range(n_phase):
        for k in range(n_k[r]):
            off[r * 64 + k] += lead
    cdef Py_ssize_t chunk, n_items = item1 - item0
    if num_threads == 1 or n_items < 2:
        # One thread runs outside OpenMP: even a one-thread region costs a
        # futex wake (~1.5 us), most of a tiny call.
        failed = _direct_transpose_items(cols, weight, bias, dst, g, n_k, tap_w, off,
                                         n_phase, lead, row_len, item0, item1)
    else:
        # One contiguous run of items per thread, as a static prange splits them.
        for chunk in prange(num_threads, schedule='static', chunksize=1,
                            num_threads=num_threads):
            if _direct_transpose_items(cols, weight, bias, dst, g, n_k, tap_w, off,
                                       n_phase, lead, row_len,
                                       item0 + n_items * chunk // num_threads,
                                       item0 + n_items * (chunk + 1) // num_threads):
                failed_ptr[0] = 1
    return failed


cdef inline Py_ssize_t _pack_transpose(const floating* weight, const Grid* g, Py_ssize_t grp,
                                       Py_ssize_t blk, Py_ssize_t n_ch, Py_ssize_t d,
                                       Py_ssize_t h, Py_ssize_t nk, const Py_ssize_t* taps,
                                       floating* wpack) noexcept nogil:
    # The weights of one block of channels for output row (d, h) and one phase's taps
    # ``taps[:nk]``, in the order _direct_transpose_items gathers the rows of ``cols``
    # (m, kd, kh over the taps that land on the row); returns the rows.
    cdef Py_ssize_t KD = g.kernel[0], KH = g.kernel[1], KW = g.kernel[2]
    cdef Py_ssize_t sd = g.stride[0], sh = g.stride[1]
    cdef Py_ssize_t OD = g.out[0], OH = g.out[1], n_taps = KD * KH * KW
    cdef Py_ssize_t cg = g.c // g.groups, mg = g.m // g.groups
    cdef Py_ssize_t tt = 0, m, kd, kh, k, b, od, oh
    for m in range(mg):
        for kd in range(KD):
            od = d + g.padding[0] - kd * g.dilation[0]
            if od < 0 or od % sd != 0 or od // sd >= OD:
                continue
            for kh in range(KH):
                oh = h + g.padding[1] - kh * g.dilation[1]
                if oh < 0 or oh % sh != 0 or oh // sh >= OH:
                    continue
                for k in range(nk):
                    for b in range(BLOCK):
                        wpack[(tt * nk + k) * BLOCK + b] = (
                            weight[((grp * mg + m) * cg + blk * BLOCK + b) * n_taps
                                   + (kd * KH + kh) * KW + taps[k]] if b < n_ch else 0)
                tt = tt + 1
    return tt


cdef inline bint _every_tap_lands(Py_ssize_t o, Py_ssize_t pad, Py_ssize_t dil, Py_ssize_t k,
                                  Py_ssize_t stride, Py_ssize_t n_cols) noexcept nogil:
    # Whether every tap of one axis whose column index (o + pad - tap*dil) / stride is a
    # whole number lands inside the ``n_cols`` columns: then which taps land on output
    # index o depends only on (o + pad) mod stride.
    cdef Py_ssize_t tap, tt
    for tap in range(k):
        tt = o + pad - tap * dil
        if floor_mod(tt, stride) == 0 and (tt < 0 or tt // stride >= n_cols):
            return False
    return True


# Packed weights kept per (row class, block, phase) by a thread of the transposed kernel:
# above this many bytes they are packed for every row instead.
DEF PACK_CACHE_BYTES = 4 * 1024 * 1024


cdef int _direct_transpose_items(const floating* cols, const floating* weight,
                                 const floating* bias, floating* dst, const Grid* g,
                                 const Py_ssize_t* n_k, const Py_ssize_t* tap_w,
                                 const Py_ssize_t* off, Py_ssize_t n_phase, Py_ssize_t lead,
                                 Py_ssize_t row_len, Py_ssize_t lo,
                                 Py_ssize_t hi) noexcept nogil:
    # Items [lo, hi) of _direct_conv_transpose on the calling thread, with its own
    # row buffers: slots kept across output rows, as in _direct_conv_items; slot
    # (m, kd, oh mod span) holds ``cols`` row oh.
    cdef Py_ssize_t D = g.src[0], H = g.src[1], W = g.src[2]
    cdef Py_ssize_t OD = g.out[0], OH = g.out[1], OW = g.out[2]
    cdef Py_ssize_t KD = g.kernel[0], KH = g.kernel[1], KW = g.kernel[2]
    cdef Py_ssize_t sd = g.stride[0], sh = g.stride[1], sw = g.stride[2]
    cdef Py_ssize_t cg = g.c // g.groups, mg = g.m // g.groups
    cdef Py_ssize_t blocks = (cg + BLOCK - 1) // BLOCK
    cdef Py_ssize_t plane = OD * OH * OW, out_plane = D * H * W
    cdef Py_ssize_t max_rows = mg * KD * KH
    # The rows oh landing on one output row lie within (KH - 1) * dilation // stride + 1.
    cdef Py_ssize_t span = (KH - 1) * g.dilation[1] // sh + 1, n_slots = mg * KD * span
    cdef Py_ssize_t slot, last_key = -1
    cdef Py_ssize_t item, rest, n, grp, blk, c0, d, h, m, kd, kh, b, t, tt, r, od, oh
    cdef Py_ssize_t n_ch, cls, q0, nq
    cdef Py_ssize_t phase_out = (W + sw - 1) // sw
    cdef Py_ssize_t tile = _column_tile(max_rows, sizeof(floating))
    cdef const floating* x
    cdef floating* rows
    cdef floating* wpack
    cdef floating* start
    cdef floating** row_at
    cdef Py_ssize_t* held
    cdef floating* cache = NULL
    cdef char* filled = NULL
    cdef bint interior
    # Phase r's weights of a block start at phase_at[r] * BLOCK * max_rows in a slot.
    cdef Py_ssize_t phase_at[65]
    phase_at[0] = 0
    for r in range(n_phase):
        phase_at[r + 1] = phase_at[r] + n_k[r]
    # Away from the borders, the taps landing on output row (d, h) depend only on its
    # class (group, (d + pad) mod sd, (h + pad) mod sh): the packed weights of such rows
    # are kept per class (packing them for every row was a third of the kernel's
    # instructions on a 16->8 channel 4x4 stride-2 transposed convolution).
    cdef Py_ssize_t n_class = g.groups * sd * sh
    cdef Py_ssize_t slot_len = max_rows * phase_at[n_phase] * BLOCK
    cdef Py_ssize_t cache_len = n_class * blocks * slot_len
    rows = <floating*>malloc((n_slots * row_len + 1) * sizeof(floating))
    wpack = <floating*>malloc((max_rows * KW * BLOCK + BLOCK) * sizeof(floating))
    row_at = <floating**>malloc((max_rows + 1) * sizeof(floating*))
    held = <Py_ssize_t*>malloc((n_slots + 1) * sizeof(Py_ssize_t))
    start = wpack + max_rows * KW * BLOCK if wpack != NULL else NULL
    if rows == NULL or wpack == NULL or row_at == NULL or held == NULL:
        _free_row_buffers(rows, wpack, row_at, held)
        return 1
    if cache_len * sizeof(floating) <= PACK_CACHE_BYTES and hi - lo > 1:
        cache = <floating*>malloc(cache_len * sizeof(floating) + n_class)
        if cache != NULL:
            filled = <char*>(cache + cache_len)
            memset(filled, 0, n_class)
    for item in range(lo, hi):
        h = item % H
        rest = item // H
        d = rest % D
        rest = rest // D
        grp = rest % g.groups
        n = rest // g.groups
        _forget_rows(item // H, &last_key, held, n_slots)  # key (n, group, d)
        # The rows (m, kd, kh) of ``cols`` that land on output row (d, h).
        t = 0
        for m in range(mg):
            x = cols + (n * g.m + grp * mg + m) * plane
            for kd in range(KD):
                # Column depth od with od*sd + kd*dd - pd == d: a whole od in range.
                tt = d + g.padding[0] - kd * g.dilation[0]
                if tt < 0 or tt % sd != 0 or tt // sd >= OD:
                    continue
                od = tt // sd
                for kh in range(KH):
                    tt = h + g.padding[1] - kh * g.dilation[1]
                    if tt < 0 or tt % sh != 0 or tt // sh >= OH:
                        continue
                    oh = tt // sh
                    slot = (m * KD + kd) * span + oh % span
                    if held[slot] != oh:
                        gather_row(rows + slot * row_len, x + (od * OH + oh) * OW, OW, -lead,
                                   1, row_len)
                        held[slot] = oh
                        if oh + 1 < OH:
                            ux_prefetch_span(x + (od * OH + oh + 1) * OW, OW * sizeof(floating), 0)
                    row_at[t] = rows + slot * row_len
                    t = t + 1
        interior = cache != NULL and (
            _every_tap_lands(d, g.padding[0], g.dilation[0], KD, sd, OD)
            and _every_tap_lands(h, g.padding[1], g.dilation[1], KH, sh, OH))
        cls = (grp * sd + floor_mod(d + g.padding[0], sd)) * sh + floor_mod(h + g.padding[1], sh)
        if interior:
            if not filled[cls]:
                for blk in range(blocks):
                    n_ch = cg - blk * BLOCK
                    if n_ch > BLOCK:
                        n_ch = BLOCK
                    for r in range(n_phase):
                        _pack_transpose(weight, g, grp, blk, n_ch, d, h, n_k[r],
                                        &tap_w[r * 64],
                                        cache + (cls * blocks + blk) * slot_len
                                        + phase_at[r] * max_rows * BLOCK)
                filled[cls] = 1
            # Column tiles (per phase) outside the channel blocks, as in
            # _direct_conv_items: a tile of the rows stays in L1 for every block.
            q0 = 0
            while q0 < phase_out:
                for blk in range(blocks):
                    c0 = grp * cg + blk * BLOCK
                    n_ch = _block_start(bias, c0, cg - blk * BLOCK, start)
                    for r in range(n_phase):
                        nq = (W - r + sw - 1) // sw - q0
                        if nq > tile:
                            nq = tile
                        if nq <= 0:
                            continue
                        direct_rows(row_at, q0, t, &off[r * 64], n_k[r],
                                    cache + (cls * blocks + blk) * slot_len
                                    + phase_at[r] * max_rows * BLOCK, start,
                                    dst + ((n * g.c + c0) * D + d) * H * W + h * W + r
                                    + q0 * sw, out_plane, <int>n_ch, nq, sw)
                q0 = q0 + tile
            continue
        for blk in range(blocks):
            c0 = grp * cg + blk * BLOCK
            n_ch = _block_start(bias, c0, cg - blk * BLOCK, start)
            for r in range(n_phase):
                _pack_transpose(weight, g, grp, blk, n_ch, d, h, n_k[r], &tap_w[r * 64],
                                wpack)
                direct_rows(row_at, 0, t, &off[r * 64], n_k[r], wpack, start,
                            dst + ((n * g.c + c0) * D + d) * H * W + h * W + r, out_plane,
                            <int>n_ch, (W - r + sw - 1) // sw, sw)
    _free_row_buffers(rows, wpack, row_at, held)
    free(cache)
    return 0


def direct_grad_weight(const floating[:, :, :, :, ::1] src,
                       const floating[:, :, :, :, ::1] lhs, double[:, :, :, :, :, ::1] partials,
                       stride, padding, dilation, Py_ssize_t groups, Py_ssize_t block0,
                       Py_ssize_t n_blocks, int num_threads):
    """``partials[b - block0, m] = Σ lhs[n, m, o] * src[n, c, o*stride + k*dilation - padding]``.

    Each block is one parallel item.

    The sum over the (n, od, oh) rows is cut into ``n_blocks`` fixed blocks of whole
    groups of rows (``direct_grad_weight_groups``); this call fills blocks
    ``block0 ..`` (``partials.shape[0]`` of them) and the caller adds the blocks in order.
    ``partials`` is (blocks, M, C/groups, kd, kh, kw), summed in float64.
    """
    cdef Grid g
    _grid(&g, src.shape[0], src.shape[1], lhs.shape[1], groups, (src.shape[2], src.shape[3], src.shape[4]),
          (lhs.shape[2], lhs.shape[3], lhs.shape[4]), (partials.shape[3], partials.shape[4], partials.shape[5]), stride, padding, dilation)
    cdef int failed = 0
    with nogil:
        failed = _direct_grad_weight(&src[0, 0, 0, 0, 0], &lhs[0, 0, 0, 0, 0],
                                     &partials[0, 0, 0, 0, 0, 0], block0,
                                     partials.shape[0], n_blocks, &g, num_threads)
    if failed:
        raise MemoryError("direct_grad_weight: no memory for a row buffer")


cdef double _channel_sum(const floating* src, Py_ssize_t N, Py_ssize_t C, Py_ssize_t P,
                         Py_ssize_t c) noexcept nogil:
    # Channel c's samples in 8 float64 lanes (vector adds), the lanes then summed in pairs.
    cdef double acc[8]
    cdef const floating* row
    cdef Py_ssize_t n, p, l
    for l in range(8):
        acc[l] = 0
    for n in range(N):
        row = src + (n * C + c) * P
        p = 0
        while p + 8 <= P:
            for l in range(8):
                acc[l] += row[p + l]
            p = p + 8
        for l in range(P - p):
            acc[l] += row[p + l]
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))


def channel_sums(const floating[:, :, ::1] src, double[::1] out, int num_threads):
    """``out[c] = Σ_n Σ_p src[n, c, p]`` (a convolution's bias gradient), summed in float64.

    One pass at memory speed: NumPy's sum over the batch and spatial axes took about two
    instructions a sample. Channels are split between the threads; each channel's sum
    is the same on any number of them.
    """
    cdef Py_ssize_t N = src.shape[0], C = src.shape[1], P = src.shape[2], c
    if N == 0 or C == 0:
        out[:] = 0
        return
    with nogil:
        if num_threads > 1 and C > 1:
            for c in prange(C, num_threads=num_threads, schedule='static'):
                out[c] = _channel_sum(&src[0, 0, 0], N, C, P, c)
        else:
            for c in range(C):
                out[c] = _channel_sum(&src[0, 0, 0], N, C, P, c)


# Products summed per lane in the dtype before they are added in float64: about as many
# as one row's dot product of 512 outputs took before (8 lanes of 64).
DEF GW_FLUSH_PRODUCTS = 64
DEF GW_LANES = 8


def direct_grad_weight_groups(Py_ssize_t n_rows, Py_ssize_t out_width):
    """Groups of rows of ``direct_grad_weight`` whose products are summed in the dtype
    before float64 (blocks hold whole groups, so more blocks than groups stay empty)."""
    cdef Py_ssize_t flush_rows = max(1, GW_FLUSH_PRODUCTS // ((out_width + GW_LANES - 1) // GW_LANES))
    return (n_rows + flush_rows - 1) // flush_rows


cdef extern from "_conv_direct.h" nogil:
    int UX_GW_FIRST_CALL
    int UX_GW_FIRST_GROUP
    void ux_direct_gw_f32(const float* x_rows, Py_ssize_t x_stride, Py_ssize_t n_rows,
                          const Py_ssize_t* off, Py_ssize_t n_taps, const float* const* g_rows,
                          Py_ssize_t g_first, Py_ssize_t g_stride, Py_ssize_t n_m,
                          Py_ssize_t n_out, float* f, Py_ssize_t f_stride, int mode,
                          double* lanes)
    void ux_direct_gw_f64(const double* x_rows, Py_ssize_t x_stride, Py_ssize_t n_rows,
                          const Py_ssize_t* off, Py_ssize_t n_taps, const double* const* g_rows,
                          Py_ssize_t g_first, Py_ssize_t g_stride, Py_ssize_t n_m,
                          Py_ssize_t n_out, double* f, Py_ssize_t f_stride, int mode,
                          double* lanes)


cdef inline void direct_gw(const floating* x_rows, Py_ssize_t x_stride, Py_ssize_t n_rows,
                           const Py_ssize_t* off, Py_ssize_t n_taps, const floating** g_rows,
                           Py_ssize_t g_first, Py_ssize_t g_stride, Py_ssize_t n_m,
                           Py_ssize_t n_out, floating* f, Py_ssize_t f_stride, int mode,
                           double* lanes) noexcept nogil:
    if floating is float:
        ux_direct_gw_f32(x_rows, x_stride, n_rows, off, n_taps, g_rows, g_first, g_stride, n_m,
                         n_out, f, f_stride, mode, lanes)
    else:
        ux_direct_gw_f64(x_rows, x_stride, n_rows, off, n_taps, g_rows, g_first, g_stride, n_m,
                         n_out, f, f_stride, mode, lanes)


# Output channels per pass over the gathered source rows: their gradient rows (about
# 16 KiB) stay in the L1 cache while every source row is summed against them.
DEF GW_CHUNK_BYTES = 16384
# Upper bound for the source rows gathered at once (several output rows of them, summed
# in registers across those rows): about the L2 cache.
DEF GW_ROWS_BYTES = 524288


cdef int _direct_grad_weight(const floating* src, const floating* lhs, double* partials,
                             Py_ssize_t block0, Py_ssize_t n_items, Py_ssize_t n_blocks,
                             const Grid* g, int num_threads) noexcept nogil:
    cdef Py_ssize_t D = g.src[0], H = g.src[1], W = g.src[2]
    cdef Py_ssize_t OD = g.out[0], OH = g.out[1], OW = g.out[2]
    cdef Py_ssize_t KD = g.kernel[0], KH = g.kernel[1], KW = g.kernel[2]
    cdef Py_ssize_t sd = g.stride[0], sh = g.stride[1], sw = g.stride[2]
    cdef Py_ssize_t dw = g.dilation[2], pw = g.padding[2]
    cdef Py_ssize_t cg = g.c // g.groups, mg = g.m // g.groups
    cdef Py_ssize_t plane = D * H * W, out_plane = OD * OH * OW, n_taps = KD * KH * KW
    cdef Py_ssize_t n_rows = g.n * OD * OH, max_rows = cg * KD * KH
    # Accumulators f[(c, kd, kh, kw), m, lane]: one register block's channels side by side.
    cdef Py_ssize_t n_acc = g.m * cg * n_taps * GW_LANES
    # Each source row is split into its ``sw`` stride phases, as in ``_direct_conv``.
    cdef Py_ssize_t phase_len = (OW + STRIP - 1) // STRIP * STRIP + (KW - 1) * dw // sw + 1
    cdef Py_ssize_t row_len = sw * phase_len
    cdef ux_split split = ux_split_plan(W, pw, sw, phase_len)
    cdef const ux_split* split_plan = &split  # read, never written, by the threads
    # Rows summed per lane in the dtype between two additions into float64 (a group).
    cdef Py_ssize_t flush_rows = GW_FLUSH_PRODUCTS // ((OW + GW_LANES - 1) // GW_LANES)
    # Output rows whose source rows are gathered at once (a group, or a fixed part of one).
    cdef Py_ssize_t per_call
    cdef Py_ssize_t chunk
    cdef Py_ssize_t off[64]
    cdef Py_ssize_t item, b, r, ra, rb, r0, r1, n, od, oh, c, kd, kh, d, h, grp, m, m0, i
    cdef Py_ssize_t j, t, n_m, n_call, r_end
    cdef int mode
    cdef const floating* x
    cdef floating* rows
    cdef floating* row
    cdef floating* f
    cdef const floating** g_rows
    cdef double* acc
    cdef double* lanes
    cdef double* l8
    cdef int failed = 0
    cdef int* failed_ptr = &failed
    if KW > 64:
        return 1
    if flush_rows < 1:
        flush_rows = 1
    per_call = GW_ROWS_BYTES // (max_rows * row_len * sizeof(floating))
    if per_call > flush_rows:
        per_call = flush_rows
    if per_call < 1:
        per_call = 1
    chunk = GW_CHUNK_BYTES // (per_call * OW * sizeof(floating)) // 4 * 4
    if chunk < 4:
        chunk = 4
    cdef Py_ssize_t n_groups = (n_rows + flush_rows - 1) // flush_rows
    for i in range(KW):
        off[i] = (i * dw) % sw * phase_len + i * dw // sw
    with parallel(num_threads=num_threads):
        rows = <floating*>malloc((max_rows * per_call * row_len + n_acc + 1) * sizeof(floating))
        f = rows + max_rows * per_call * row_len
        lanes = <double*>malloc((n_acc + 1) * sizeof(double))
        g_rows = <const floating**>malloc((per_call + 1) * sizeof(floating*))
        for item in prange(n_items, schedule='static'):
            if rows == NULL or lanes == NULL or g_rows == NULL:
                failed_ptr[0] = 1
                continue
            # One block of rows, every (m, c, tap). Blocks are whole groups of
            # ``flush_rows`` rows, counted from row 0, summed in the dtype and then added
            # into float64 (lanes): a group's sums are the same however rows are blocked.
            b = block0 + item
            r0 = b * n_groups // n_blocks * flush_rows
            r1 = (b + 1) * n_groups // n_blocks * flush_rows
            if r1 > n_rows:
                r1 = n_rows
            if r0 >= r1:  # else the first group's sums are stored into the lanes
                memset(lanes, 0, n_acc * sizeof(double))
            ra = r0
            while ra < r1:
                # A group's output rows, ``per_call`` at a time: their source rows are
                # gathered (split into stride phases, zero padded; zero rows where a tap
                # falls in the padding) as rows[(c, kd, kh), row, :], then every channel's
                # products with them are summed in registers across the rows.
                r = ra
                r_end = ra + flush_rows if ra + flush_rows < r1 else r1
                while r < r_end:
                    n_call = ra + flush_rows - r
                    if n_call > r1 - r:
                        n_call = r1 - r
                    if n_call > per_call:
                        n_call = per_call
                    for grp in range(g.groups):
                        for j in range(n_call):
                            oh = (r + j) % OH
                            od = ((r + j) // OH) % OD
                            n = (r + j) // (OH * OD)
                            g_rows[j] = lhs + n * g.m * out_plane + (od * OH + oh) * OW
                            t = 0
                            for c in range(cg):
                                x = src + (n * g.c + grp * cg + c) * plane
                                for kd in range(KD):
                                    d = od * sd + kd * g.dilation[0] - g.padding[0]
                                    for kh in range(KH):
                                        h = oh * sh + kh * g.dilation[1] - g.padding[1]
                                        row = rows + (t * per_call + j) * row_len
                                        if d < 0 or d >= D or h < 0 or h >= H:
                                            memset(row, 0, row_len * sizeof(floating))
                                        else:
                                            stride_phases(x + (d * H + h) * W,
                                                          split_plan, row)
                                        t = t + 1
                        # A chunk of channels' gradient rows against every source row.
                        m0 = grp * mg
                        while m0 < (grp + 1) * mg:
                            n_m = (grp + 1) * mg - m0
                            if n_m > chunk:
                                n_m = chunk
                            # The group's first call stores its sums into f, the
                            # next ones add, and its last one adds them into the lanes
                            # (stores them there in the block's first group).
                            mode = (UX_GW_FIRST_CALL if r == ra else 0) | (
                                UX_GW_FIRST_GROUP if ra == r0 else 0)
                            for t in range(max_rows):
                                i = (t * KW * g.m + m0) * GW_LANES
                                direct_gw(rows + t * per_call * row_len, row_len, n_call, off,
                                          KW, g_rows, m0 * out_plane, out_plane, n_m, OW,
                                          f + i, g.m * GW_LANES, mode,
                                          lanes + i if r + n_call == r_end else NULL)
                            m0 = m0 + n_m
                    r = r + n_call
                ra = ra + flush_rows
            # The lanes in the order they lie in memory (walked per channel, each read
            # took a cache line of its own: most of this loop's time).
            acc = partials + item * g.m * cg * n_taps
            for i in range(cg * n_taps):
                for m in range(g.m):
                    l8 = lanes + (i * g.m + m) * GW_LANES
                    acc[m * cg * n_taps + i] = (((l8[0] + l8[1]) + (l8[2] + l8[3]))
                                                + ((l8[4] + l8[5]) + (l8[6] + l8[7])))
        free(rows)
        free(lanes)
        free(<void*>g_rows)
    return failed
