# Per-axis tap tables shared by the resampling kernels.
#
# A table maps each output index o of one axis to cnt[o] (<= k) source taps:
# idx[o*k + j] and weights w[o*k + j], j < cnt[o]. Every mode is one table per
# axis (nearest: 1 tap, linear: 2, cubic: 4 clamped taps, area and antialias: a
# window), so one separable kernel serves all of them, and the adjoint is the
# same kernel run with the transposed tables.
#
# A one-column table (k == 1) is a box table: row o reads the cnt[o]
# consecutive samples idx[o] .. idx[o] + cnt[o] - 1, all with the one weight
# w[o] (area: O(size_out) memory, not O(size_out * taps)). Every other table
# has cnt[o] <= k, so for them a one-column table means the same thing.

from libc.math cimport floor, fma, fmaf, sin, M_PI

cdef enum:
    NEAREST = 0
    NEAREST_EXACT = 1
    LINEAR = 2
    CUBIC = 3
    AREA = 4
    AA_LINEAR = 5
    AA_CUBIC = 6
    AA_LANCZOS = 7

# How the kernels walk an axis: chosen once per call from the table's content.
cdef enum:
    WALK_GENERIC = 0   # variable tap counts
    WALK_COPY = 1      # identity: o -> o with weight 1
    WALK_GATHER = 2    # one tap of weight 1 (nearest)
    WALK_TAP2 = 3      # exactly two taps everywhere (linear)
    WALK_TAP4 = 4      # exactly four taps everywhere (cubic)

ctypedef struct Axis:
    Py_ssize_t size_in
    Py_ssize_t size_out
    Py_ssize_t k
    const Py_ssize_t* idx
    const void* w
    const Py_ssize_t* cnt
    int walk
    # Integer x2 upsampling: for lo <= i < hi, outputs 2i and 2i+1 use the
    # taps of rows 2lo and 2lo+1 shifted by i - lo (the table is periodic).
    Py_ssize_t up2_lo
    Py_ssize_t up2_hi
    # Decimation by 2: for dn2_lo <= o < dn2_hi, output o reads dn2_taps taps
    # from 2o + dn2_off with the weights of row dn2_lo.
    Py_ssize_t dn2_lo
    Py_ssize_t dn2_hi
    Py_ssize_t dn2_taps
    Py_ssize_t dn2_off
    # Rows fix_lo <= o < fix_hi have exactly k taps (the interior of a table
    # whose border rows are truncated, as antialias tables are): walked with a
    # constant tap count, no per-row count look-ups.
    Py_ssize_t fix_lo
    Py_ssize_t fix_hi

ctypedef fused floating:
    float
    double


cdef inline Py_ssize_t block_ranges(const Py_ssize_t* idx, const Py_ssize_t* cnt,
                                    Py_ssize_t k, Py_ssize_t size_in, Py_ssize_t size_out,
                                    Py_ssize_t block, Py_ssize_t* lo,
                                    Py_ssize_t* hi) noexcept nogil:
    # Input rows [lo[b], hi[b]) that block b of ``block`` consecutive output rows
    # reads (rows without taps, possible in an adjoint table, are skipped);
    # returns the widest span, the row buffer a block needs.
    cdef Py_ssize_t b, o, n, first, last, widest = 1
    for b in range((size_out + block - 1) // block):
        lo[b] = size_in
        hi[b] = 0
        for o in range(b * block, min(b * block + block, size_out)):
            n = cnt[o]
            if n > 0:
                first = idx[o * k]
                last = idx[o] + n if k == 1 else idx[o * k + n - 1] + 1
                lo[b] = first if first < lo[b] else lo[b]
                hi[b] = last if last > hi[b] else hi[b]
        if hi[b] <= lo[b]:
            lo[b] = 0
            hi[b] = 0
        widest = hi[b] - lo[b] if hi[b] - lo[b] > widest else widest
    return widest


cdef inline Py_ssize_t tap_index(const Axis* a, Py_ssize_t o, Py_ssize_t j) noexcept nogil:
    # Source index of tap j of row o (box tables: consecutive samples).
    return a.idx[o] + j if a.k == 1 else a.idx[o * a.k + j]


cdef inline floating tap_weight(const floating* w, const Axis* a, Py_ssize_t o,
                                Py_ssize_t j) noexcept nogil:
    # Weight of tap j of row o, ``w`` the axis' weights (box tables: one per row).
    return w[o] if a.k == 1 else w[o * a.k + j]


cdef inline floating cubic_near(floating x, floating a) noexcept nogil:
    # Keys' cubic convolution for |x| <= 1.
    return ((a + 2) * x - (a + 3)) * x * x + 1


cdef inline floating cubic_far(floating x, floating a) noexcept nogil:
    # Keys' cubic convolution for 1 < |x| < 2.
    return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a


cdef inline Py_ssize_t nearest_src(floating r, Py_ssize_t o, Py_ssize_t size_in) noexcept nogil:
    # torch: floor of the product rounded to float32 (OpenCV INTER_NEAREST);
    # float64 input computes the product in double, then rounds it to float32.
    cdef float prod = <float>((<floating>o) * r)
    cdef Py_ssize_t s = <Py_ssize_t>floor(prod)
    return s if s < size_in - 1 else size_in - 1


cdef inline Py_ssize_t nearest_exact_src(floating r, Py_ssize_t o,
                                         Py_ssize_t size_in) noexcept nogil:
    # torch's generic path: real = r * (o + 0.5) - 0.5 with one rounding to
    # float32 (the AVX2 build fuses it), clamped at 0, then floor(real + 0.5)
    # in float32.
    cdef float real
    if floating is float:
        real = fmaf(r, <float>o + 0.5, -0.5)
    else:
        real = <float>fma(r, <double>o + 0.5, -0.5)
    if real < 0:
        real = 0
    cdef float shifted = real + <float>0.5
    cdef Py_ssize_t s = <Py_ssize_t>floor(shifted)
    return s if s < size_in - 1 else size_in - 1


cdef inline floating area_source(floating r, Py_ssize_t o, bint align_corners,
                                 bint cubic) noexcept nogil:
    # torch's area_pixel_compute_source_index: half-pixel centres, clamped at 0
    # except for cubic, which reads past the border through clamped taps. The
    # AVX2 build fuses r * (o + 0.5) - 0.5 into one rounding; so do we.
    cdef floating real
    if align_corners:
        return r * <floating>o
    if floating is float:
        real = fmaf(r, <float>o + 0.5, -0.5)
    else:
        real = fma(r, <double>o + 0.5, -0.5)
    if not cubic and real < 0:
        return 0
    return real


cdef inline floating aa_filter(int mode, floating x) noexcept nogil:
    # Antialias filters (PIL's), in the table's precision as torch evaluates
    # them: triangle, Keys cubic with a = -0.5, Lanczos-3.
    cdef floating px
    if x < 0:
        x = -x
    if mode == AA_LINEAR:
        return 1 - x if x < 1 else 0
    if mode == AA_CUBIC:
        if x < 1:
            return cubic_near(x, <floating>-0.5)
        if x < 2:
            return cubic_far(x, <floating>-0.5)
        return 0
    if x >= 3:
        return 0
    if x == 0:
        return 1
    px = x * <floating>M_PI
    return (sin(px) / px) * (sin(px / 3) / (px / 3))
