/*
 * Output-row writers for large results (_resample.pyx).
 *
 * Why C: a large output is written once and not read back soon, so
 * non-temporal (streaming) stores skip the read-for-ownership of every cache
 * line, cutting the memory traffic of write-bound kernels by about a third;
 * compilers do not emit them on their own. The arithmetic is the same as the
 * Cython loops' (w0 * a + w1 * b, in that order), so results are identical;
 * `stream` = 0 gives ordinary stores for outputs that fit in cache.
 */
#ifndef UPSAMPLEX_STREAM_H
#define UPSAMPLEX_STREAM_H

#include <stddef.h>
#include <stdint.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#define UX_STREAM 1
#else
#define UX_STREAM 0
#endif

/* out[i] = w0 * a[i] + w1 * b[i] */
static void ux_blend2_f32(float *out, const float *a, const float *b, float w0, float w1,
                          ptrdiff_t n, int stream)
{
    ptrdiff_t i = 0;
#if UX_STREAM
    if (stream) {
        for (; i < n && ((uintptr_t)(out + i) & 15); i++)
            out[i] = w0 * a[i] + w1 * b[i];
        const __m128 v0 = _mm_set1_ps(w0), v1 = _mm_set1_ps(w1);
        for (; i + 4 <= n; i += 4) {
            __m128 r = _mm_add_ps(_mm_mul_ps(v0, _mm_loadu_ps(a + i)),
                                  _mm_mul_ps(v1, _mm_loadu_ps(b + i)));
            _mm_stream_ps(out + i, r);
        }
    }
#endif
    for (; i < n; i++)
        out[i] = w0 * a[i] + w1 * b[i];
}

static void ux_blend2_f64(double *out, const double *a, const double *b, double w0, double w1,
                          ptrdiff_t n, int stream)
{
    ptrdiff_t i = 0;
#if UX_STREAM
    if (stream) {
        for (; i < n && ((uintptr_t)(out + i) & 15); i++)
            out[i] = w0 * a[i] + w1 * b[i];
        const __m128d v0 = _mm_set1_pd(w0), v1 = _mm_set1_pd(w1);
        for (; i + 2 <= n; i += 2) {
            __m128d r = _mm_add_pd(_mm_mul_pd(v0, _mm_loadu_pd(a + i)),
                                   _mm_mul_pd(v1, _mm_loadu_pd(b + i)));
            _mm_stream_pd(out + i, r);
        }
    }
#endif
    for (; i < n; i++)
        out[i] = w0 * a[i] + w1 * b[i];
}

/* out[i] = ((w0 * a[i] + w1 * b[i]) + w2 * c[i]) + w3 * d[i] (bicubic rows) */
#define UX_BLEND4(NAME, T, VT, SET1, LOADU, MUL, ADD, STREAM, LANES)                      \
    static void NAME(T *out, const T *a, const T *b, const T *c, const T *d, T w0, T w1,   \
                     T w2, T w3, ptrdiff_t n, int stream)                                  \
    {                                                                                      \
        ptrdiff_t i = 0;                                                                   \
        if (UX_STREAM && stream) {                                                         \
            for (; i < n && ((uintptr_t)(out + i) & 15); i++)                              \
                out[i] = ((w0 * a[i] + w1 * b[i]) + w2 * c[i]) + w3 * d[i];                 \
            UX_BLEND4_BODY(VT, SET1, LOADU, MUL, ADD, STREAM, LANES)                       \
        }                                                                                  \
        for (; i < n; i++)                                                                 \
            out[i] = ((w0 * a[i] + w1 * b[i]) + w2 * c[i]) + w3 * d[i];                     \
    }

#if UX_STREAM
#define UX_BLEND4_BODY(VT, SET1, LOADU, MUL, ADD, STREAM, LANES)                           \
    const VT v0 = SET1(w0), v1 = SET1(w1), v2 = SET1(w2), v3 = SET1(w3);                   \
    for (; i + LANES <= n; i += LANES) {                                                   \
        VT r = ADD(ADD(ADD(MUL(v0, LOADU(a + i)), MUL(v1, LOADU(b + i))),                  \
                       MUL(v2, LOADU(c + i))), MUL(v3, LOADU(d + i)));                     \
        STREAM(out + i, r);                                                                \
    }
UX_BLEND4(ux_blend4_f32, float, __m128, _mm_set1_ps, _mm_loadu_ps, _mm_mul_ps, _mm_add_ps,
          _mm_stream_ps, 4)
UX_BLEND4(ux_blend4_f64, double, __m128d, _mm_set1_pd, _mm_loadu_pd, _mm_mul_pd, _mm_add_pd,
          _mm_stream_pd, 2)
#else
#define UX_BLEND4_BODY(VT, SET1, LOADU, MUL, ADD, STREAM, LANES)
UX_BLEND4(ux_blend4_f32, float, float, , , , , , 1)
UX_BLEND4(ux_blend4_f64, double, double, , , , , , 1)
#endif

/* out[i] = ((((w0 * a[i] + w1 * b[i]) + w2 * c[i]) + w3 * d[i]) + w4 * e[i]) + w5 * f[i]
 * (Lanczos-3 rows) */
#define UX_SUM6(i) ((((w0 * a[i] + w1 * b[i]) + w2 * c[i]) + w3 * d[i]) + w4 * e[i]) + w5 * f[i]
#define UX_BLEND6(NAME, T, VT, SET1, LOADU, MUL, ADD, STREAM, LANES)                      \
    static void NAME(T *out, const T *a, const T *b, const T *c, const T *d, const T *e,   \
                     const T *f, T w0, T w1, T w2, T w3, T w4, T w5, ptrdiff_t n,          \
                     int stream)                                                           \
    {                                                                                      \
        ptrdiff_t i = 0;                                                                   \
        if (UX_STREAM && stream) {                                                         \
            for (; i < n && ((uintptr_t)(out + i) & 15); i++)                              \
                out[i] = UX_SUM6(i);                                                       \
            UX_BLEND6_BODY(VT, SET1, LOADU, MUL, ADD, STREAM, LANES)                       \
        }                                                                                  \
        for (; i < n; i++)                                                                 \
            out[i] = UX_SUM6(i);                                                           \
    }

#if UX_STREAM
#define UX_BLEND6_BODY(VT, SET1, LOADU, MUL, ADD, STREAM, LANES)                           \
    const VT v0 = SET1(w0), v1 = SET1(w1), v2 = SET1(w2), v3 = SET1(w3), v4 = SET1(w4),    \
             v5 = SET1(w5);                                                                \
    for (; i + LANES <= n; i += LANES) {                                                   \
        VT r = ADD(ADD(ADD(MUL(v0, LOADU(a + i)), MUL(v1, LOADU(b + i))),                  \
                       MUL(v2, LOADU(c + i))), MUL(v3, LOADU(d + i)));                     \
        r = ADD(ADD(r, MUL(v4, LOADU(e + i))), MUL(v5, LOADU(f + i)));                     \
        STREAM(out + i, r);                                                                \
    }
UX_BLEND6(ux_blend6_f32, float, __m128, _mm_set1_ps, _mm_loadu_ps, _mm_mul_ps, _mm_add_ps,
          _mm_stream_ps, 4)
UX_BLEND6(ux_blend6_f64, double, __m128d, _mm_set1_pd, _mm_loadu_pd, _mm_mul_pd, _mm_add_pd,
          _mm_stream_pd, 2)
#else
#define UX_BLEND6_BODY(VT, SET1, LOADU, MUL, ADD, STREAM, LANES)
UX_BLEND6(ux_blend6_f32, float, float, , , , , , 1)
UX_BLEND6(ux_blend6_f64, double, double, , , , , , 1)
#endif

/* out[2i] = out[2i + 1] = row[i] for i < n_in (nearest, integer x2) */
static void ux_repeat2_f32(float *out, const float *row, ptrdiff_t n_in, int stream)
{
    ptrdiff_t i = 0;
#if UX_STREAM
    if (stream && !((uintptr_t)out & 15)) {
        for (; i + 4 <= n_in; i += 4) {
            __m128 v = _mm_loadu_ps(row + i);
            _mm_stream_ps(out + 2 * i, _mm_unpacklo_ps(v, v));
            _mm_stream_ps(out + 2 * i + 4, _mm_unpackhi_ps(v, v));
        }
    }
#endif
    for (; i < n_in; i++) {
        out[2 * i] = row[i];
        out[2 * i + 1] = row[i];
    }
}

static void ux_repeat2_f64(double *out, const double *row, ptrdiff_t n_in, int stream)
{
    ptrdiff_t i = 0;
#if UX_STREAM
    if (stream && !((uintptr_t)out & 15)) {
        for (; i + 2 <= n_in; i += 2) {
            __m128d v = _mm_loadu_pd(row + i);
            _mm_stream_pd(out + 2 * i, _mm_unpacklo_pd(v, v));
            _mm_stream_pd(out + 2 * i + 2, _mm_unpackhi_pd(v, v));
        }
    }
#endif
    for (; i < n_in; i++) {
        out[2 * i] = row[i];
        out[2 * i + 1] = row[i];
    }
}

/* Nearest rows of 4-byte samples whose every block of 8 outputs reads inside 8
 * consecutive inputs (any upscale, mild downscales): one load and one lane permute
 * per block instead of 8 scalar gathers. ``table`` holds, per block, the first
 * input read (``base``) then the 8 lanes (input - base). A gather moves values
 * unchanged, so any path gives the same bits. Returns the outputs written: the
 * whole blocks with AVX2, none without (the caller's scalar loop does the rest).
 */
#if defined(__AVX2__)
#include <immintrin.h>
#define UX_GATHER8 1
#else
#define UX_GATHER8 0
#endif

static ptrdiff_t ux_gather8_f32(float *out, const float *row, ptrdiff_t n,
                                const int32_t *table, int stream)
{
#if UX_GATHER8
    ptrdiff_t b, nb = n / 8;
    int aligned = stream && !((uintptr_t)out & 31);
    for (b = 0; b < nb; b++) {
        const int32_t *t = table + 9 * b;
        __m256 v = _mm256_permutevar8x32_ps(_mm256_loadu_ps(row + t[0]),
                                            _mm256_loadu_si256((const __m256i *)(t + 1)));
        if (aligned)
            _mm256_stream_ps(out + 8 * b, v);
        else
            _mm256_storeu_ps(out + 8 * b, v);
    }
    return nb * 8;
#else
    (void)out; (void)row; (void)n; (void)table; (void)stream;
    return 0;
#endif
}

/* Make streamed stores visible before the threads join. */
static inline void ux_stream_fence(void)
{
#if UX_STREAM
    _mm_sfence();
#endif
}

#endif /* UPSAMPLEX_STREAM_H */
