"""im2col / col2im kernels shared by convolution and transposed convolution.

Everything is phrased in *convolution* terms on 3-D spatial grids (1-D and 2-D
callers add leading singleton axes with kernel 1, stride 1, padding 0):

    cols[n, c*K + kappa, o] = src[n, c, o*stride - padding + kappa*dilation]

``im2col`` builds ``cols`` from ``src`` (zero where the tap falls outside), and
``col2im`` is its exact adjoint: it sums every column entry back onto the source
position it came from. The GEMMs around them run in NumPy (BLAS, GIL released).
Both kernels run one ``prange`` over (sample, channel) planes, so every output
element is written by exactly one thread, in an order fixed by the plane alone:
results are bit-identical for any thread count and no atomics are needed.
"""

from cython.parallel cimport prange

ctypedef fused floating:
    float
    double


cdef struct Geometry:
    Py_ssize_t kernel[3]
    Py_ssize_t stride[3]
    Py_ssize_t padding[3]
    Py_ssize_t dilation[3]
    Py_ssize_t src[3]     # spatial size of the convolution input
    Py_ssize_t out[3]     # spatial size of the convolution output (cols grid)


cdef inline Py_ssize_t floor_div(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    # cdivision=True truncates towards zero; tap offsets can be negative.
    cdef Py_ssize_t q = a // b
    if (a % b != 0) and (a < 0):
        q -= 1
    return q


# Outputs o in [range_lo, range_hi) along ``axis`` have their source index
# o*stride - padding + tap*dilation inside [0, src). They return values rather than
# filling out-pointers so prange sees plain assignments and keeps the results private.
cdef inline Py_ssize_t range_lo(const Geometry* g, int axis, Py_ssize_t tap) noexcept nogil:
    # 0 <= o*stride + offset  <=>  o >= ceil(-offset / stride)
    cdef Py_ssize_t first = -floor_div(tap * g.dilation[axis] - g.padding[axis], g.stride[axis])
    return first if first > 0 else 0


cdef inline Py_ssize_t range_hi(const Geometry* g, int axis, Py_ssize_t tap) noexcept nogil:
    # o*stride + offset <= src - 1  <=>  o <= floor((src - 1 - offset) / stride)
    cdef Py_ssize_t offset = tap * g.dilation[axis] - g.padding[axis]
    cdef Py_ssize_t last = floor_div(g.src[axis] - 1 - offset, g.stride[axis]) + 1
    cdef Py_ssize_t first = range_lo(g, axis, tap)
    if last > g.out[axis]:
        last = g.out[axis]
    return last if last > first else first


cdef Geometry make_geometry(kernel, stride, padding, dilation, src, out) except *:
    cdef Geometry g
    cdef int a
    for a in range(3):
        g.kernel[a] = kernel[a]
        g.stride[a] = stride[a]
        g.padding[a] = padding[a]
        g.dilation[a] = dilation[a]
        g.src[a] = src[a]
        g.out[a] = out[a]
    return g


def valid_range_py(Py_ssize_t tap, Py_ssize_t stride, Py_ssize_t padding,
                   Py_ssize_t dilation, Py_ssize_t n_src, Py_ssize_t n_out):
    """``(range_lo, range_hi)`` along one axis, so tests can table-test the formula."""
    cdef Geometry g = make_geometry((1, 1, 1), (1, 1, stride), (0, 0, padding),
                                    (1, 1, dilation), (1, 1, n_src), (1, 1, n_out))
    return range_lo(&g, 2, tap), range_hi(&g, 2, tap)


def im2col(const floating[:, :, :, :, ::1] src, floating[:, :, ::1] cols,
           kernel, stride, padding, dilation, out_size, int num_threads):
    """Fill ``cols`` (N, C*K, prod(out_size)) with the taps of ``src`` (N, C, D, H, W)."""
    cdef Geometry g = make_geometry(kernel, stride, padding, dilation,
                                    (src.shape[2], src.shape[3], src.shape[4]), out_size)
    cdef Py_ssize_t n_samples = src.shape[0], n_channels = src.shape[1]
    cdef Py_ssize_t n_taps = g.kernel[0] * g.kernel[1] * g.kernel[2]
    cdef Py_ssize_t OD = g.out[0], OH = g.out[1], OW = g.out[2]
    cdef Py_ssize_t plane, n, c, kd, kh, kw, row, od, oh, ow, jd, jh, off_w, base
    cdef Py_ssize_t lo_d, hi_d, lo_h, hi_h, lo_w, hi_w
    cdef Py_ssize_t sw = g.stride[2]
    cdef floating* col_row
    cdef const floating* src_row
    with nogil:
        for plane in prange(n_samples * n_channels, num_threads=num_threads,
                            schedule='static'):
            n = plane // n_channels
            c = plane % n_channels
            row = c * n_taps
            for kd in range(g.kernel[0]):
                lo_d = range_lo(&g, 0, kd)
                hi_d = range_hi(&g, 0, kd)
                for kh in range(g.kernel[1]):
                    lo_h = range_lo(&g, 1, kh)
                    hi_h = range_hi(&g, 1, kh)
                    for kw in range(g.kernel[2]):
                        lo_w = range_lo(&g, 2, kw)
                        hi_w = range_hi(&g, 2, kw)
                        off_w = kw * g.dilation[2] - g.padding[2]
                        for od in range(OD):
                            jd = od * g.stride[0] - g.padding[0] + kd * g.dilation[0]
                            for oh in range(OH):
                                base = (od * OH + oh) * OW
                                if od < lo_d or od >= hi_d or oh < lo_h or oh >= hi_h:
                                    for ow in range(OW):
                                        cols[n, row, base + ow] = 0
                                    continue
                                jh = oh * g.stride[1] - g.padding[1] + kh * g.dilation[1]
                                # Raw row pointers: the compiler then sees one stride per loop.
                                col_row = &cols[n, row, base]
                                src_row = &src[n, c, jd, jh, 0]
                                for ow in range(lo_w):
                                    col_row[ow] = 0
                                for ow in range(lo_w, hi_w):
                                    col_row[ow] = src_row[ow * sw + off_w]
                                for ow in range(hi_w, OW):
                                    col_row[ow] = 0
                        row = row + 1


def col2im(const floating[:, :, ::1] cols, floating[:, :, :, :, ::1] dst,
           const floating[::1] bias, kernel, stride, padding, dilation, out_size,
           int num_threads):
    """Set ``dst`` (N, C, D, H, W) to ``bias`` plus the adjoint of ``im2col`` applied to ``cols``.

    ``bias`` is either empty (no bias) or has one entry per channel of ``dst``.
    """
    cdef Geometry g = make_geometry(kernel, stride, padding, dilation,
                                    (dst.shape[2], dst.shape[3], dst.shape[4]), out_size)
    cdef Py_ssize_t n_samples = dst.shape[0], n_channels = dst.shape[1]
    cdef Py_ssize_t n_taps = g.kernel[0] * g.kernel[1] * g.kernel[2]
    cdef Py_ssize_t OH = g.out[1], OW = g.out[2]
    cdef Py_ssize_t plane, n, c, kd, kh, kw, row, od, oh, ow, jd, jh, jw, off_w, base
    cdef Py_ssize_t lo_d, hi_d, lo_h, hi_h, lo_w, hi_w
    cdef Py_ssize_t sw = g.stride[2]
    cdef bint has_bias = bias.shape[0] > 0
    cdef floating start
    cdef const floating* col_row
    cdef floating* dst_row
    with nogil:
        for plane in prange(n_samples * n_channels, num_threads=num_threads,
                            schedule='static'):
            n = plane // n_channels
            c = plane % n_channels
            start = bias[c] if has_bias else 0
            for jd in range(g.src[0]):
                for jh in range(g.src[1]):
                    for jw in range(g.src[2]):
                        dst[n, c, jd, jh, jw] = start
            # Scatter within the plane: this thread owns every element of it.
            row = c * n_taps
            for kd in range(g.kernel[0]):
                lo_d = range_lo(&g, 0, kd)
                hi_d = range_hi(&g, 0, kd)
                for kh in range(g.kernel[1]):
                    lo_h = range_lo(&g, 1, kh)
                    hi_h = range_hi(&g, 1, kh)
                    for kw in range(g.kernel[2]):
                        lo_w = range_lo(&g, 2, kw)
                        hi_w = range_hi(&g, 2, kw)
                        off_w = kw * g.dilation[2] - g.padding[2]
                        for od in range(lo_d, hi_d):
                            jd = od * g.stride[0] - g.padding[0] + kd * g.dilation[0]
                            for oh in range(lo_h, hi_h):
                                jh = oh * g.stride[1] - g.padding[1] + kh * g.dilation[1]
                                base = (od * OH + oh) * OW
                                col_row = &cols[n, row, base]
                                dst_row = &dst[n, c, jd, jh, 0]
                                for ow in range(lo_w, hi_w):
                                    dst_row[ow * sw + off_w] += col_row[ow]
                        row = row + 1
