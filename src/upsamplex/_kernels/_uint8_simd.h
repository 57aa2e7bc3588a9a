/*
 * SIMD inner loops for the uint8 fixed-point kernels (_resample_uint8.pyx).
 *
 * Why C: the work is int16 multiply-adds of pixel pairs (pmaddwd), which
 * compilers do not generate from scalar code. Each function computes exactly
 * what the scalar definition does (sum of int16 weight * uint8 sample, plus a
 * rounding bias, shifted right by `precision`, clamped to 0..255), so results
 * are bit-identical with and without SSE2; non-x86 builds use the scalar code.
 */
#ifndef UPSAMPLEX_UINT8_SIMD_H
#define UPSAMPLEX_UINT8_SIMD_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#define UX_HAVE_SSE2 1
#else
#define UX_HAVE_SSE2 0
#endif

static inline uint8_t ux_clip8(int32_t v, int precision)
{
    v >>= precision;
    return v < 0 ? 0 : (v > 255 ? 255 : (uint8_t)v);
}

#if UX_HAVE_SSE2 && defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#include <immintrin.h>
#define UX_HAVE_AVX2_DISPATCH 1
/* AVX2 twin of the SSE2 loop below, chosen at run time: 32 bytes a step. The
 * madd operands of the pairs of taps are made once a call, not once a step
 * (on the stack up to 64 taps, which covers lanczos down to /10). */
__attribute__((target("avx2")))
static ptrdiff_t ux_u8_blend_rows_avx2(const uint8_t *rows, ptrdiff_t row_len, ptrdiff_t n,
                                       const int16_t *w, int precision, uint8_t *out)
{
    const int32_t bias = precision > 0 ? (1 << (precision - 1)) : 0;
    const __m256i zero = _mm256_setzero_si256();
    const __m256i vbias = _mm256_set1_epi32(bias);
    const __m128i shift = _mm_cvtsi32_si128(precision);
    __m256i stack_w[32];
    __m256i *ww = stack_w;
    void *heap = NULL;
    ptrdiff_t i = 0, j;
    if ((n + 1) / 2 > 32) {
        heap = malloc((size_t)((n + 1) / 2) * sizeof(__m256i) + 32);
        if (heap == NULL)
            return 0;  /* the SSE2 loop does the row */
        ww = (__m256i *)(((uintptr_t)heap + 31) & ~(uintptr_t)31);
    }
    for (j = 0; j < n; j += 2) {
        uint32_t pair = (uint16_t)w[j];
        if (j + 1 < n)
            pair |= (uint32_t)(uint16_t)w[j + 1] << 16;
        ww[j / 2] = _mm256_set1_epi32((int32_t)pair);
    }
    for (; i + 32 <= row_len; i += 32) {
        const uint8_t *p = rows + i;
        __m256i a0 = vbias, a1 = vbias, a2 = vbias, a3 = vbias;
        for (j = 0; j + 1 < n; j += 2, p += 2 * row_len) {
            const __m256i r0 = _mm256_loadu_si256((const __m256i *)p);
            const __m256i r1 = _mm256_loadu_si256((const __m256i *)(p + row_len));
            const __m256i wj = _mm256_load_si256(ww + j / 2);
            /* Per 128-bit lane, like the SSE2 code; the packs below undo the
             * lane split, so bytes come out in order. */
            const __m256i lo = _mm256_unpacklo_epi8(r0, r1);
            const __m256i hi = _mm256_unpackhi_epi8(r0, r1);
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_unpacklo_epi8(lo, zero), wj));
            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_unpackhi_epi8(lo, zero), wj));
            a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(_mm256_unpacklo_epi8(hi, zero), wj));
            a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(_mm256_unpackhi_epi8(hi, zero), wj));
        }
        if (n & 1) {
            /* the last row alone: its pair's second weight is 0 */
            const __m256i r0 = _mm256_loadu_si256((const __m256i *)p);
            const __m256i wj = _mm256_load_si256(ww + n / 2);
            const __m256i lo = _mm256_unpacklo_epi8(r0, zero);
            const __m256i hi = _mm256_unpackhi_epi8(r0, zero);
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_unpacklo_epi8(lo, zero), wj));
            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_unpackhi_epi8(lo, zero), wj));
            a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(_mm256_unpacklo_epi8(hi, zero), wj));
            a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(_mm256_unpackhi_epi8(hi, zero), wj));
        }
        a0 = _mm256_sra_epi32(a0, shift);
        a1 = _mm256_sra_epi32(a1, shift);
        a2 = _mm256_sra_epi32(a2, shift);
        a3 = _mm256_sra_epi32(a3, shift);
        __m256i packed = _mm256_packus_epi16(_mm256_packs_epi32(a0, a1),
                                             _mm256_packs_epi32(a2, a3));
        _mm256_storeu_si256((__m256i *)(out + i), packed);
    }
    free(heap);
    return i;
}

static int ux_cpu_has_avx2(void)
{
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") ? 1 : 0;
    }
    return cached;
}
#else
#define UX_HAVE_AVX2_DISPATCH 0
#endif

/*
 * out[i] = clip(sum_j w[j] * rows[j * row_len + i]) for i < row_len: the
 * vertical pass over `n` consecutive intermediate rows.
 */
static void ux_u8_blend_rows(const uint8_t *rows, ptrdiff_t row_len, ptrdiff_t n,
                             const int16_t *w, int precision, uint8_t *out)
{
    const int32_t bias = precision > 0 ? (1 << (precision - 1)) : 0;
    ptrdiff_t i = 0, j;
#if UX_HAVE_SSE2
    const __m128i zero = _mm_setzero_si128();
    const __m128i vbias = _mm_set1_epi32(bias);
    const __m128i shift = _mm_cvtsi32_si128(precision);
#if UX_HAVE_AVX2_DISPATCH
    if (ux_cpu_has_avx2())
        i = ux_u8_blend_rows_avx2(rows, row_len, n, w, precision, out);
#endif
    for (; i + 16 <= row_len; i += 16) {
        __m128i a0 = vbias, a1 = vbias, a2 = vbias, a3 = vbias;
        for (j = 0; j < n; j += 2) {
            /* Interleave rows j and j+1 so one madd does w[j]*r0 + w[j+1]*r1. */
            __m128i r0 = _mm_loadu_si128((const __m128i *)(rows + j * row_len + i));
            __m128i r1 = zero;
            uint32_t pair = (uint16_t)w[j];
            if (j + 1 < n) {
                r1 = _mm_loadu_si128((const __m128i *)(rows + (j + 1) * row_len + i));
                pair |= (uint32_t)(uint16_t)w[j + 1] << 16;
            }
            __m128i ww = _mm_set1_epi32((int32_t)pair);
            __m128i lo = _mm_unpacklo_epi8(r0, r1);
            __m128i hi = _mm_unpackhi_epi8(r0, r1);
            a0 = _mm_add_epi32(a0, _mm_madd_epi16(_mm_unpacklo_epi8(lo, zero), ww));
            a1 = _mm_add_epi32(a1, _mm_madd_epi16(_mm_unpackhi_epi8(lo, zero), ww));
            a2 = _mm_add_epi32(a2, _mm_madd_epi16(_mm_unpacklo_epi8(hi, zero), ww));
            a3 = _mm_add_epi32(a3, _mm_madd_epi16(_mm_unpackhi_epi8(hi, zero), ww));
        }
        a0 = _mm_sra_epi32(a0, shift);
        a1 = _mm_sra_epi32(a1, shift);
        a2 = _mm_sra_epi32(a2, shift);
        a3 = _mm_sra_epi32(a3, shift);
        /* Saturating packs clamp to 0..255, as ux_clip8 does. */
        __m128i packed = _mm_packus_epi16(_mm_packs_epi32(a0, a1), _mm_packs_epi32(a2, a3));
        _mm_storeu_si128((__m128i *)(out + i), packed);
    }
#endif
    for (; i < row_len; i++) {
        int32_t acc = bias;
        for (j = 0; j < n; j++)
            acc += (int32_t)w[j] * (int32_t)rows[j * row_len + i];
        out[i] = ux_clip8(acc, precision);
    }
}

/* Pixel of 3 or 4 samples as the low 32 bits of a vector; reads 4 bytes only
 * when `wide` says the 4th byte is inside the array. */
#if UX_HAVE_SSE2
static inline __m128i ux_load_pixel(const uint8_t *p, int samples, int wide)
{
    uint32_t v;
    if (samples == 4 || wide) {
        memcpy(&v, p, 4);
    } else {
        v = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16);
    }
    return _mm_cvtsi32_si128((int32_t)v);
}
#endif

/*
 * Horizontal pass over one row of pixels of 3 or 4 interleaved samples
 * (channels-last RGB/RGBA): dst pixel o = clip(sum_j w[o*k + j] * src pixel
 * (idx[o*k] + j)), pixels `step` bytes apart in src, `samples` apart in dst.
 */
static void ux_u8_walk_pixels(const uint8_t *src, ptrdiff_t step, ptrdiff_t width,
                              int samples, uint8_t *dst, ptrdiff_t size_out,
                              const ptrdiff_t *idx, const int16_t *w, const ptrdiff_t *cnt,
                              ptrdiff_t k, int precision)
{
    const int32_t bias = precision > 0 ? (1 << (precision - 1)) : 0;
    ptrdiff_t o, j, s;
#if UX_HAVE_SSE2
    const __m128i zero = _mm_setzero_si128();
    const __m128i vbias = _mm_set1_epi32(bias);
    const __m128i shift = _mm_cvtsi32_si128(precision);
    /* A 4-byte load of pixel q stays inside the row while q + 1 < width. */
    const ptrdiff_t last_wide = samples == 4 ? width : width - 1;
    for (o = 0; o < size_out; o++) {
        const ptrdiff_t first = idx[o * k], n = cnt[o];
        const int16_t *wt = w + o * k;
        __m128i acc = vbias;
        if (n == 2 && first + 1 < last_wide) {
            /* The common two-tap case (bilinear up): straight-line code. */
            uint32_t v0, v1, pair;
            memcpy(&v0, src + first * step, 4);
            memcpy(&v1, src + (first + 1) * step, 4);
            memcpy(&pair, wt, 4);
            __m128i both = _mm_unpacklo_epi8(
                _mm_unpacklo_epi8(_mm_cvtsi32_si128((int32_t)v0), _mm_cvtsi32_si128((int32_t)v1)),
                zero);
            acc = _mm_add_epi32(acc, _mm_madd_epi16(both, _mm_set1_epi32((int32_t)pair)));
            goto store;
        }
        for (j = 0; j < n; j += 2) {
            __m128i p0 = ux_load_pixel(src + (first + j) * step, samples,
                                       first + j < last_wide);
            __m128i p1 = zero;
            uint32_t pair = (uint16_t)wt[j];
            if (j + 1 < n) {
                p1 = ux_load_pixel(src + (first + j + 1) * step, samples,
                                   first + j + 1 < last_wide);
                pair |= (uint32_t)(uint16_t)wt[j + 1] << 16;
            }
            /* [s0 of p0, s0 of p1, s1 of p0, s1 of p1, ...] as int16 lanes */
            __m128i both = _mm_unpacklo_epi8(_mm_unpacklo_epi8(p0, p1), zero);
            acc = _mm_add_epi32(acc, _mm_madd_epi16(both, _mm_set1_epi32((int32_t)pair)));
        }
    store:
        acc = _mm_sra_epi32(acc, shift);
        acc = _mm_packus_epi16(_mm_packs_epi32(acc, zero), zero);
        uint32_t v = (uint32_t)_mm_cvtsi128_si32(acc);
        uint8_t *px = dst + o * samples;
        if (samples == 4) {
            memcpy(px, &v, 4);
        } else {
            px[0] = (uint8_t)v;
            px[1] = (uint8_t)(v >> 8);
            px[2] = (uint8_t)(v >> 16);
        }
    }
    (void)s;
#else
    for (o = 0; o < size_out; o++) {
        const uint8_t *pix = src + idx[o * k] * step;
        const int16_t *wt = w + o * k;
        for (s = 0; s < samples; s++) {
            int32_t acc = bias;
            for (j = 0; j < cnt[o]; j++)
                acc += (int32_t)wt[j] * (int32_t)pix[j * step + s];
            dst[o * samples + s] = ux_clip8(acc, precision);
        }
    }
    (void)width;
#endif
}

/*
 * Integer x2 upsampling of dense RGB rows (3 samples a pixel, 3 bytes apart)
 * where the table is periodic: for lo <= i < hi, output pixel 2i is
 * we[0] * P[i-1] + we[1] * P[i] and pixel 2i+1 is wo[0] * P[i] + wo[1] * P[i+1]
 * (P[i-1] and P[i+1] as the table says: even_first/odd_first give the first
 * tap of pixels 2lo and 2lo+1). Writes output pixels 2lo .. 2*hi_done - 1 and
 * returns hi_done; the caller finishes the rest from the table.
 *
 * Flat view: with j = 3i + c, even outputs are E[j] = we0*x[j+de] + we1*x[j+de+3]
 * and odd outputs O[j] = wo0*x[j+do] + wo1*x[j+do+3]; every 5 pixels (15
 * samples) give 30 output bytes, interleaved E,E,E,O,O,O by byte shuffles.
 */
#if UX_HAVE_SSE2 && defined(__SSSE3__)
#include <tmmintrin.h>

static inline __m128i ux_u8_pairs(__m128i a, __m128i b, __m128i ww, __m128i vbias,
                                  __m128i shift)
{
    const __m128i zero = _mm_setzero_si128();
    __m128i lo = _mm_unpacklo_epi8(a, b), hi = _mm_unpackhi_epi8(a, b);
    __m128i s0 = _mm_add_epi32(vbias, _mm_madd_epi16(_mm_unpacklo_epi8(lo, zero), ww));
    __m128i s1 = _mm_add_epi32(vbias, _mm_madd_epi16(_mm_unpackhi_epi8(lo, zero), ww));
    __m128i s2 = _mm_add_epi32(vbias, _mm_madd_epi16(_mm_unpacklo_epi8(hi, zero), ww));
    __m128i s3 = _mm_add_epi32(vbias, _mm_madd_epi16(_mm_unpackhi_epi8(hi, zero), ww));
    s0 = _mm_sra_epi32(s0, shift);
    s1 = _mm_sra_epi32(s1, shift);
    s2 = _mm_sra_epi32(s2, shift);
    s3 = _mm_sra_epi32(s3, shift);
    return _mm_packus_epi16(_mm_packs_epi32(s0, s1), _mm_packs_epi32(s2, s3));
}

static ptrdiff_t ux_u8_up2_rgb(const uint8_t *src, uint8_t *dst, ptrdiff_t lo, ptrdiff_t hi,
                               ptrdiff_t even_first, ptrdiff_t odd_first,
                               const int16_t *we, const int16_t *wo, int precision)
{
    const int32_t bias = precision > 0 ? (1 << (precision - 1)) : 0;
    const __m128i vbias = _mm_set1_epi32(bias);
    const __m128i shift = _mm_cvtsi32_si128(precision);
    const __m128i wwe = _mm_set1_epi32((int32_t)((uint32_t)(uint16_t)we[0]
                                                 | ((uint32_t)(uint16_t)we[1] << 16)));
    const __m128i wwo = _mm_set1_epi32((int32_t)((uint32_t)(uint16_t)wo[0]
                                                 | ((uint32_t)(uint16_t)wo[1] << 16)));
    /* Output byte m of a 30-byte group: pixel m / 6, E for m % 6 < 3, else O. */
    const __m128i me0 = _mm_setr_epi8(0, 1, 2, -1, -1, -1, 3, 4, 5, -1, -1, -1, 6, 7, 8, -1);
    const __m128i mo0 = _mm_setr_epi8(-1, -1, -1, 0, 1, 2, -1, -1, -1, 3, 4, 5, -1, -1, -1, 6);
    const __m128i me1 = _mm_setr_epi8(-1, -1, 9, 10, 11, -1, -1, -1, 12, 13, 14, -1, -1, -1, -1, -1);
    const __m128i mo1 = _mm_setr_epi8(7, 8, -1, -1, -1, 9, 10, 11, -1, -1, -1, 12, 13, 14, -1, -1);
    /* Input offsets (in samples) of the first tap of pixel i relative to 3i. */
    const ptrdiff_t de = 3 * (even_first - lo), dodd = 3 * (odd_first - lo);
    ptrdiff_t i = lo;
    for (; i + 5 <= hi; i += 5) {
        const uint8_t *x = src + 3 * i;
        __m128i e = ux_u8_pairs(_mm_loadu_si128((const __m128i *)(x + de)),
                                _mm_loadu_si128((const __m128i *)(x + de + 3)), wwe, vbias, shift);
        __m128i o = ux_u8_pairs(_mm_loadu_si128((const __m128i *)(x + dodd)),
                                _mm_loadu_si128((const __m128i *)(x + dodd + 3)), wwo, vbias,
                                shift);
        uint8_t *y = dst + 6 * i;
        _mm_storeu_si128((__m128i *)y,
                         _mm_or_si128(_mm_shuffle_epi8(e, me0), _mm_shuffle_epi8(o, mo0)));
        /* Bytes 16..29; the two bytes after them belong to the next group,
         * which rewrites them (or the caller's tail does). */
        _mm_storeu_si128((__m128i *)(y + 16),
                         _mm_or_si128(_mm_shuffle_epi8(e, me1), _mm_shuffle_epi8(o, mo1)));
    }
    return i;
}

/*
 * The same for rows of single samples (planar uint8): 16 input samples give
 * 16 even and 16 odd outputs, interleaved by unpacking. Returns hi_done.
 */
static ptrdiff_t ux_u8_up2_gray(const uint8_t *src, uint8_t *dst, ptrdiff_t lo, ptrdiff_t hi,
                                ptrdiff_t even_first, ptrdiff_t odd_first,
                                const int16_t *we, const int16_t *wo, int precision)
{
    const int32_t bias = precision > 0 ? (1 << (precision - 1)) : 0;
    const __m128i vbias = _mm_set1_epi32(bias);
    const __m128i shift = _mm_cvtsi32_si128(precision);
    const __m128i wwe = _mm_set1_epi32((int32_t)((uint32_t)(uint16_t)we[0]
                                                 | ((uint32_t)(uint16_t)we[1] << 16)));
    const __m128i wwo = _mm_set1_epi32((int32_t)((uint32_t)(uint16_t)wo[0]
                                                 | ((uint32_t)(uint16_t)wo[1] << 16)));
    const ptrdiff_t de = even_first - lo, dodd = odd_first - lo;
    ptrdiff_t i = lo;
    for (; i + 16 <= hi; i += 16) {
        const uint8_t *x = src + i;
        __m128i e = ux_u8_pairs(_mm_loadu_si128((const __m128i *)(x + de)),
                                _mm_loadu_si128((const __m128i *)(x + de + 1)), wwe, vbias,
                                shift);
        __m128i o = ux_u8_pairs(_mm_loadu_si128((const __m128i *)(x + dodd)),
                                _mm_loadu_si128((const __m128i *)(x + dodd + 1)), wwo, vbias,
                                shift);
        _mm_storeu_si128((__m128i *)(dst + 2 * i), _mm_unpacklo_epi8(e, o));
        _mm_storeu_si128((__m128i *)(dst + 2 * i + 16), _mm_unpackhi_epi8(e, o));
    }
    return i;
}
#define UX_HAVE_UP2_RGB 1
#else
#define UX_HAVE_UP2_RGB 0
static ptrdiff_t ux_u8_up2_rgb(const uint8_t *src, uint8_t *dst, ptrdiff_t lo, ptrdiff_t hi,
                               ptrdiff_t even_first, ptrdiff_t odd_first,
                               const int16_t *we, const int16_t *wo, int precision)
{
    (void)src; (void)dst; (void)hi; (void)even_first; (void)odd_first;
    (void)we; (void)wo; (void)precision;
    return lo;
}
static ptrdiff_t ux_u8_up2_gray(const uint8_t *src, uint8_t *dst, ptrdiff_t lo, ptrdiff_t hi,
                                ptrdiff_t even_first, ptrdiff_t odd_first,
                                const int16_t *we, const int16_t *wo, int precision)
{
    (void)src; (void)dst; (void)hi; (void)even_first; (void)odd_first;
    (void)we; (void)wo; (void)precision;
    return lo;
}
#endif

/*
 * Horizontal pass from a padded weight table: `wp` holds, for each output o,
 * its weights in `kp` int16 slots (kp a multiple of 8, zeros past the count),
 * so groups of 4 (pixels) or 8 (single samples) taps need no tail handling.
 * Integer sums do not depend on the order of the taps, so grouping them gives
 * exactly the plain walk's result. Outputs whose wide loads would leave the
 * row are done one by one in scalar code.
 */
static inline void ux_u8_scalar_out(const uint8_t *pix, ptrdiff_t step, int samples,
                                    const int16_t *wt, ptrdiff_t n, int precision, uint8_t *out)
{
    const int32_t bias = precision > 0 ? (1 << (precision - 1)) : 0;
    int s;
    ptrdiff_t j;
    for (s = 0; s < samples; s++) {
        int32_t acc = bias;
        for (j = 0; j < n; j++)
            acc += (int32_t)wt[j] * (int32_t)pix[j * step + s];
        out[s] = ux_clip8(acc, precision);
    }
}

#if UX_HAVE_AVX2_DISPATCH
/* Dense pixels of P = 3 or 4 bytes: 4 taps a step in one 256-bit madd (taps
 * 0,1 in the low lane, 2,3 in the high lane, one int16 pair per sample). */
__attribute__((target("avx2")))
static void ux_u8_hpix_avx2(const uint8_t *src, ptrdiff_t width, int P, uint8_t *dst,
                            ptrdiff_t o0, ptrdiff_t o1, const ptrdiff_t *idx, ptrdiff_t k,
                            const int16_t *wp, ptrdiff_t kp, const ptrdiff_t *cnt,
                            int precision)
{
    const int32_t bias = precision > 0 ? (1 << (precision - 1)) : 0;
    const __m256i mask = P == 4
        ? _mm256_setr_epi8(0, -1, 4, -1, 1, -1, 5, -1, 2, -1, 6, -1, 3, -1, 7, -1,
                           8, -1, 12, -1, 9, -1, 13, -1, 10, -1, 14, -1, 11, -1, 15, -1)
        : _mm256_setr_epi8(0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1,
                           6, -1, 9, -1, 7, -1, 10, -1, 8, -1, 11, -1, -1, -1, -1, -1);
    const __m256i wsel = _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1);
    const __m128i vbias = _mm_set1_epi32(bias);
    const __m128i shift = _mm_cvtsi32_si128(precision);
    const ptrdiff_t row_bytes = width * P;
    ptrdiff_t o, g;
    for (o = o0; o < o1; o++) {
        const ptrdiff_t first = idx[o * k], n = cnt[o], ng = (n + 3) >> 2;
        const uint8_t *p = src + first * P;
        const int16_t *wt = wp + o * kp;
        if (ng == 0 || (first + 4 * (ng - 1)) * P + 16 > row_bytes) {
            ux_u8_scalar_out(p, P, P, wt, n, precision, dst + o * P);
            continue;
        }
        __m256i acc = _mm256_setzero_si256();
        for (g = 0; g < ng; g++) {
            __m256i v = _mm256_broadcastsi128_si256(
                _mm_loadu_si128((const __m128i *)(p + 4 * g * P)));
            __m256i ww = _mm256_permutevar8x32_epi32(
                _mm256_castsi128_si256(_mm_loadl_epi64((const __m128i *)(wt + 4 * g))), wsel);
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_shuffle_epi8(v, mask), ww));
        }
        __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc),
                                  _mm256_extracti128_si256(acc, 1));
        s = _mm_sra_epi32(_mm_add_epi32(s, vbias), shift);
        s = _mm_packus_epi16(_mm_packs_epi32(s, s), s);
        uint32_t v = (uint32_t)_mm_cvtsi128_si32(s);
        if (P == 4 || o + 1 < o1) {
            /* For RGB the 4th byte is the next pixel's, written after this. */
            memcpy(dst + o * P, &v, 4);
        } else {
            dst[o * P] = (uint8_t)v;
            dst[o * P + 1] = (uint8_t)(v >> 8);
            dst[o * P + 2] = (uint8_t)(v >> 16);
        }
    }
}
#endif

#if UX_HAVE_AVX2_DISPATCH
/* Pairs of output pixels (o, o+1) of 4 (R == 4) or 2 rows of the same table at
 * once: each 256-bit register holds output o in its low lane and o+1 in its
 * high lane, 4 taps a step (two madds a lane, taps 0,1 and 2,3), so a lane's
 * sum is its output's and no lanes are added up at the end; the 2 outputs x R
 * rows leave in one pack, one permute and R stores, which is most of the
 * per-output cost at few taps. The weights, bounds and loop are shared by the
 * rows. P is a constant in each instantiation below, so the byte arithmetic
 * folds away. `meta` holds per pair the byte offsets of its outputs' first
 * taps and the pair's number of tap pairs (-1: a 16-byte load would leave
 * the row, scalar code), `wx` each group's two madd operands ([w0 w1] x4 of o
 * | of o+1, then [w2 w3]), 2 G per pair; both are made once per block of rows
 * by ux_u8_hpair_prepare. An odd last output is paired with the one before
 * it, which is written twice with the same bytes. */
static inline __attribute__((always_inline, target("avx2")))
void ux_u8_hpair_rows_body(const uint8_t *src, ptrdiff_t ss, const int R, const int P,
                           uint8_t *dst, ptrdiff_t ds, ptrdiff_t size_out,
                           const ptrdiff_t *meta, const __m256i *wx, ptrdiff_t G,
                           const int16_t *wp, ptrdiff_t kp, const ptrdiff_t *cnt,
                           int precision)
{
    const int32_t bias = precision > 0 ? (1 << (precision - 1)) : 0;
    /* int16 lanes [p0c0 p1c0 p0c1 p1c1 ...] of taps 0,1 (m01) and 2,3 (m23) */
    const __m256i m01 = P == 4
        ? _mm256_setr_epi8(0, -1, 4, -1, 1, -1, 5, -1, 2, -1, 6, -1, 3, -1, 7, -1,
                           0, -1, 4, -1, 1, -1, 5, -1, 2, -1, 6, -1, 3, -1, 7, -1)
        : _mm256_setr_epi8(0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1,
                           0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1);
    const __m256i m23 = P == 4
        ? _mm256_setr_epi8(8, -1, 12, -1, 9, -1, 13, -1, 10, -1, 14, -1, 11, -1, 15, -1,
                           8, -1, 12, -1, 9, -1, 13, -1, 10, -1, 14, -1, 11, -1, 15, -1)
        : _mm256_setr_epi8(6, -1, 9, -1, 7, -1, 10, -1, 8, -1, 11, -1, -1, -1, -1, -1,
                           6, -1, 9, -1, 7, -1, 10, -1, 8, -1, 11, -1, -1, -1, -1, -1);
    /* after the packs, dword q of lane l is row q's output o + l: row r's two
     * pixels to qword r; for RGB the 4th bytes dropped, 6 bytes a row */
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    const __m256i rgb = _mm256_setr_epi8(0, 1, 2, 4, 5, 6, -1, -1, 8, 9, 10, 12, 13, 14, -1, -1,
                                         0, 1, 2, 4, 5, 6, -1, -1, 8, 9, 10, 12, 13, 14, -1, -1);
    const __m256i vbias = _mm256_set1_epi32(bias);
    const __m128i shift = _mm_cvtsi32_si128(precision);
    const ptrdiff_t pairs = (size_out + 1) / 2;
    ptrdiff_t m, g, r;
    for (m = 0; m < pairs; m++) {
        const ptrdiff_t o = 2 * m + 1 < size_out ? 2 * m : size_out - 2;
        const ptrdiff_t off0 = meta[3 * m], off1 = meta[3 * m + 1], ng = meta[3 * m + 2];
        if (ng < 0) {
            for (r = 0; r < R; r++) {
                ux_u8_scalar_out(src + r * ss + off0, P, P, wp + o * kp, cnt[o], precision,
                                 dst + r * ds + o * P);
                ux_u8_scalar_out(src + r * ss + off1, P, P, wp + (o + 1) * kp, cnt[o + 1],
                                 precision, dst + r * ds + (o + 1) * P);
            }
            continue;
        }
        const __m256i *wm = wx + 2 * G * m;
        const uint8_t *s0 = src, *s1 = src + ss, *s2 = src + 2 * ss, *s3 = src + 3 * ss;
        __m256i a0 = vbias, a1 = vbias, a2 = vbias, a3 = vbias;
        /* ng counts pairs of taps: whole groups of 4, then maybe one pair
         * (taps 0,1 of the last group; its taps 2,3 are past both counts) */
        __m256i v;
#define UX_HPAIR_ROW(S, A, W23)                                                            \
        v = _mm256_loadu2_m128i((const __m128i *)((S) + at1), (const __m128i *)((S) + at0)); \
        A = _mm256_add_epi32(A, W23 ? _mm256_add_epi32(                                     \
            _mm256_madd_epi16(_mm256_shuffle_epi8(v, m01), w01),                            \
            _mm256_madd_epi16(_mm256_shuffle_epi8(v, m23), w23))                            \
            : _mm256_madd_epi16(_mm256_shuffle_epi8(v, m01), w01));
#define UX_HPAIR_STEP(W23)                                                                 \
        {                                                                                  \
            const ptrdiff_t at0 = off0 + 4 * g * P, at1 = off1 + 4 * g * P;                \
            const __m256i w01 = _mm256_load_si256(wm + 2 * g);                             \
            const __m256i w23 = W23 ? _mm256_load_si256(wm + 2 * g + 1) : w01;             \
            UX_HPAIR_ROW(s0, a0, W23)                                                      \
            UX_HPAIR_ROW(s1, a1, W23)                                                      \
            if (R == 4) {                                                                  \
                UX_HPAIR_ROW(s2, a2, W23)                                                  \
                UX_HPAIR_ROW(s3, a3, W23)                                                  \
            }                                                                              \
        }
        for (g = 0; g < ng >> 1; g++)
            UX_HPAIR_STEP(1)
        if (ng & 1)
            UX_HPAIR_STEP(0)
#undef UX_HPAIR_STEP
#undef UX_HPAIR_ROW
        /* Saturating packs clamp to 0..255, as ux_clip8 does. */
        a0 = _mm256_sra_epi32(a0, shift);
        a1 = _mm256_sra_epi32(a1, shift);
        __m256i t;
        if (R == 4) {
            a2 = _mm256_sra_epi32(a2, shift);
            a3 = _mm256_sra_epi32(a3, shift);
            t = _mm256_packus_epi16(_mm256_packs_epi32(a0, a1), _mm256_packs_epi32(a2, a3));
        } else {
            t = _mm256_packs_epi32(a0, a1);
            t = _mm256_packus_epi16(t, t);
        }
        t = _mm256_permutevar8x32_epi32(t, order);
        if (P == 3)
            t = _mm256_shuffle_epi8(t, rgb);
        const __m128i lo = _mm256_castsi256_si128(t), hi = _mm256_extracti128_si256(t, 1);
        uint8_t *d = dst + o * P;
        if (P == 4 || o + 2 < size_out) {
            /* For RGB the 2 bytes past the pair are the next pair's, written after. */
            _mm_storel_epi64((__m128i *)d, lo);
            /* The high 8 bytes through an integer store: movhps through a double *
               would be a misaligned double store (undefined behaviour, UBSan). */
            _mm_storel_epi64((__m128i *)(d + ds), _mm_unpackhi_epi64(lo, lo));
            if (R == 4) {
                _mm_storel_epi64((__m128i *)(d + 2 * ds), hi);
                _mm_storel_epi64((__m128i *)(d + 3 * ds), _mm_unpackhi_epi64(hi, hi));
            }
        } else {
            uint64_t q[4];
            _mm_storeu_si128((__m128i *)q, lo);
            _mm_storeu_si128((__m128i *)(q + 2), hi);
            for (r = 0; r < R; r++)
                memcpy(d + r * ds, &q[r], 6);
        }
    }
}

/* meta and wx of ux_u8_hpair_rows_body for one table and row width. */
__attribute__((target("avx2")))
static void ux_u8_hpair_prepare(ptrdiff_t width, int P, ptrdiff_t size_out,
                                const ptrdiff_t *idx, ptrdiff_t k, const int16_t *wp,
                                ptrdiff_t kp, const ptrdiff_t *cnt, ptrdiff_t *meta,
                                __m256i *wx, ptrdiff_t G)
{
    const __m256i w01 = _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4);
    const __m256i w23 = _mm256_setr_epi32(1, 1, 1, 1, 5, 5, 5, 5);
    const ptrdiff_t row_bytes = width * P, pairs = (size_out + 1) / 2;
    ptrdiff_t m, g;
    for (m = 0; m < pairs; m++) {
        const ptrdiff_t o = 2 * m + 1 < size_out ? 2 * m : size_out - 2;
        const ptrdiff_t f0 = idx[o * k], f1 = idx[(o + 1) * k];
        /* in pairs of taps: a count of 5 or 6 costs one group and a pair */
        const ptrdiff_t n0 = (cnt[o] + 1) >> 1, n1 = (cnt[o + 1] + 1) >> 1;
        const ptrdiff_t ng = n0 > n1 ? n0 : n1, last = (ng - 1) >> 1;
        meta[3 * m] = f0 * P;
        meta[3 * m + 1] = f1 * P;
        /* groups past an output's count have zero weights (wp is padded to
         * kp = 4 G taps), but their pixels are still loaded: bound both */
        meta[3 * m + 2] = (ng == 0 || (f0 + 4 * last) * P + 16 > row_bytes
                           || (f1 + 4 * last) * P + 16 > row_bytes) ? -1 : ng;
        for (g = 0; 2 * g < ng && g < G; g++) {
            /* dwords [o: w0w1 w2w3 | o+1: w0w1 w2w3] -> the two madd operands */
            const __m256i both = _mm256_inserti128_si256(
                _mm256_castsi128_si256(_mm_loadl_epi64((const __m128i *)(wp + o * kp + 4 * g))),
                _mm_loadl_epi64((const __m128i *)(wp + (o + 1) * kp + 4 * g)), 1);
            _mm256_store_si256(wx + 2 * G * m + 2 * g, _mm256_permutevar8x32_epi32(both, w01));
            _mm256_store_si256(wx + 2 * G * m + 2 * g + 1,
                               _mm256_permutevar8x32_epi32(both, w23));
        }
    }
}

#define UX_HPAIR_ROWS(NAME, R, P)                                                          \
__attribute__((target("avx2")))                                                            \
static void NAME(const uint8_t *src, ptrdiff_t ss, uint8_t *dst, ptrdiff_t ds,             \
                 ptrdiff_t size_out, const ptrdiff_t *meta, const __m256i *wx, ptrdiff_t G, \
                 const int16_t *wp, ptrdiff_t kp, const ptrdiff_t *cnt, int precision)     \
{                                                                                          \
    ux_u8_hpair_rows_body(src, ss, R, P, dst, ds, size_out, meta, wx, G, wp, kp, cnt,      \
                          precision);                                                      \
}
UX_HPAIR_ROWS(ux_u8_hpair4_p3, 4, 3)
UX_HPAIR_ROWS(ux_u8_hpair4_p4, 4, 4)
UX_HPAIR_ROWS(ux_u8_hpair2_p3, 2, 3)
UX_HPAIR_ROWS(ux_u8_hpair2_p4, 2, 4)
#endif

#if UX_HAVE_AVX2_DISPATCH && defined(__SSSE3__)
/*
 * Planar images of 3 or 4 channels (NCHW) take the pixel loops: the W pass of
 * all channels' rows at once, as rows of interleaved pixels (every channel
 * shares the tables), and the H pass on interleaved rows, moved back to the
 * planes row by row. Torch packs such images likewise; here only 4 rows of
 * pixels and one output row exist at a time. Moving bytes changes no sum.
 */
#define UX_HAVE_PACK_PLANES 1

/* `width` pixels of C = 3 or 4 planes (`plane` bytes apart) -> dst; writes
 * up to 4 bytes past width * C (callers leave 16). */
static void ux_u8_interleave(const uint8_t *src, ptrdiff_t plane, int C, ptrdiff_t width,
                             uint8_t *dst)
{
    const uint8_t *r = src, *g = src + plane, *b = src + 2 * plane;
    const uint8_t *a = C == 4 ? src + 3 * plane : NULL;
    const __m128i rgb = _mm_setr_epi8(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1);
    ptrdiff_t i = 0;
    for (; i + 16 <= width; i += 16) {
        const __m128i vr = _mm_loadu_si128((const __m128i *)(r + i));
        const __m128i vg = _mm_loadu_si128((const __m128i *)(g + i));
        const __m128i vb = _mm_loadu_si128((const __m128i *)(b + i));
        const __m128i va = C == 4 ? _mm_loadu_si128((const __m128i *)(a + i))
                                  : _mm_setzero_si128();
        const __m128i rg0 = _mm_unpacklo_epi8(vr, vg), rg1 = _mm_unpackhi_epi8(vr, vg);
        const __m128i ba0 = _mm_unpacklo_epi8(vb, va), ba1 = _mm_unpackhi_epi8(vb, va);
        __m128i p0 = _mm_unpacklo_epi16(rg0, ba0), p1 = _mm_unpackhi_epi16(rg0, ba0);
        __m128i p2 = _mm_unpacklo_epi16(rg1, ba1), p3 = _mm_unpackhi_epi16(rg1, ba1);
        uint8_t *d = dst + i * C;
        if (C == 4) {
            _mm_storeu_si128((__m128i *)d, p0);
            _mm_storeu_si128((__m128i *)(d + 16), p1);
            _mm_storeu_si128((__m128i *)(d + 32), p2);
            _mm_storeu_si128((__m128i *)(d + 48), p3);
        } else {
            /* 12 bytes each; every store's last 4 are rewritten by the next */
            _mm_storeu_si128((__m128i *)d, _mm_shuffle_epi8(p0, rgb));
            _mm_storeu_si128((__m128i *)(d + 12), _mm_shuffle_epi8(p1, rgb));
            _mm_storeu_si128((__m128i *)(d + 24), _mm_shuffle_epi8(p2, rgb));
            _mm_storeu_si128((__m128i *)(d + 36), _mm_shuffle_epi8(p3, rgb));
        }
    }
    for (; i < width; i++) {
        dst[i * C] = r[i];
        dst[i * C + 1] = g[i];
        dst[i * C + 2] = b[i];
        if (C == 4)
            dst[i * C + 3] = a[i];
    }
}

/* `width` interleaved pixels of C = 3 or 4 samples -> C planes `plane` apart. */
static void ux_u8_deinterleave(const uint8_t *src, int C, ptrdiff_t width, uint8_t *dst,
                               ptrdiff_t plane)
{
    ptrdiff_t i = 0;
    int c;
    if (C == 4) {
        const __m128i gather = _mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
        for (; i + 16 <= width; i += 16) {
            const uint8_t *s = src + 4 * i;
            /* each: [c0 x4, c1 x4, c2 x4, c3 x4] of 4 pixels, then a 4x4 transpose */
            const __m128i q0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)s), gather);
            const __m128i q1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(s + 16)), gather);
            const __m128i q2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(s + 32)), gather);
            const __m128i q3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(s + 48)), gather);
            const __m128i t0 = _mm_unpacklo_epi32(q0, q1), t1 = _mm_unpackhi_epi32(q0, q1);
            const __m128i t2 = _mm_unpacklo_epi32(q2, q3), t3 = _mm_unpackhi_epi32(q2, q3);
            _mm_storeu_si128((__m128i *)(dst + i), _mm_unpacklo_epi64(t0, t2));
            _mm_storeu_si128((__m128i *)(dst + plane + i), _mm_unpackhi_epi64(t0, t2));
            _mm_storeu_si128((__m128i *)(dst + 2 * plane + i), _mm_unpacklo_epi64(t1, t3));
            _mm_storeu_si128((__m128i *)(dst + 3 * plane + i), _mm_unpackhi_epi64(t1, t3));
        }
    } else {
        /* plane c's byte i is input byte 3i + c, in 16-byte chunk (3i + c) / 16 */
        const __m128i m00 = _mm_setr_epi8(0, 3, 6, 9, 12, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
        const __m128i m01 = _mm_setr_epi8(-1, -1, -1, -1, -1, -1, 2, 5, 8, 11, 14, -1, -1, -1, -1, -1);
        const __m128i m02 = _mm_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 1, 4, 7, 10, 13);
        const __m128i m10 = _mm_setr_epi8(1, 4, 7, 10, 13, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
        const __m128i m11 = _mm_setr_epi8(-1, -1, -1, -1, -1, 0, 3, 6, 9, 12, 15, -1, -1, -1, -1, -1);
        const __m128i m12 = _mm_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 2, 5, 8, 11, 14);
        const __m128i m20 = _mm_setr_epi8(2, 5, 8, 11, 14, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
        const __m128i m21 = _mm_setr_epi8(-1, -1, -1, -1, -1, 1, 4, 7, 10, 13, -1, -1, -1, -1, -1, -1);
        const __m128i m22 = _mm_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 3, 6, 9, 12, 15);
        for (; i + 16 <= width; i += 16) {
            const uint8_t *s = src + 3 * i;
            const __m128i q0 = _mm_loadu_si128((const __m128i *)s);
            const __m128i q1 = _mm_loadu_si128((const __m128i *)(s + 16));
            const __m128i q2 = _mm_loadu_si128((const __m128i *)(s + 32));
            _mm_storeu_si128((__m128i *)(dst + i), _mm_or_si128(_mm_or_si128(
                _mm_shuffle_epi8(q0, m00), _mm_shuffle_epi8(q1, m01)), _mm_shuffle_epi8(q2, m02)));
            _mm_storeu_si128((__m128i *)(dst + plane + i), _mm_or_si128(_mm_or_si128(
                _mm_shuffle_epi8(q0, m10), _mm_shuffle_epi8(q1, m11)), _mm_shuffle_epi8(q2, m12)));
            _mm_storeu_si128((__m128i *)(dst + 2 * plane + i), _mm_or_si128(_mm_or_si128(
                _mm_shuffle_epi8(q0, m20), _mm_shuffle_epi8(q1, m21)), _mm_shuffle_epi8(q2, m22)));
        }
    }
    for (; i < width; i++)
        for (c = 0; c < C; c++)
            dst[c * plane + i] = src[i * C + c];
}
#else
#define UX_HAVE_PACK_PLANES 0
#endif

#if defined(__SSE4_1__)
#include <smmintrin.h>
static inline __m128i ux_u8_gray_acc(const uint8_t *p, const int16_t *wt, ptrdiff_t ng)
{
    __m128i acc = _mm_setzero_si128();
    ptrdiff_t g;
    for (g = 0; g < ng; g++) {
        __m128i px = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)(p + 8 * g)));
        acc = _mm_add_epi32(acc, _mm_madd_epi16(px, _mm_loadu_si128((const __m128i *)(wt + 8 * g))));
    }
    return acc;
}
#endif

/* Single samples (planar rows, 1 byte apart): 8 taps a madd, 4 outputs a store. */
static void ux_u8_hgray(const uint8_t *src, ptrdiff_t width, uint8_t *dst, ptrdiff_t o0,
                        ptrdiff_t o1, const ptrdiff_t *idx, ptrdiff_t k, const int16_t *wp,
                        ptrdiff_t kp, const ptrdiff_t *cnt, int precision)
{
    ptrdiff_t o = o0;
#if defined(__SSE4_1__)
    const int32_t bias = precision > 0 ? (1 << (precision - 1)) : 0;
    const __m128i vbias = _mm_set1_epi32(bias);
    const __m128i shift = _mm_cvtsi32_si128(precision);
    for (; o + 4 <= o1; o += 4) {
        ptrdiff_t f0 = idx[o * k], f1 = idx[(o + 1) * k], f2 = idx[(o + 2) * k];
        ptrdiff_t f3 = idx[(o + 3) * k];
        ptrdiff_t g0 = (cnt[o] + 7) >> 3, g1 = (cnt[o + 1] + 7) >> 3;
        ptrdiff_t g2 = (cnt[o + 2] + 7) >> 3, g3 = (cnt[o + 3] + 7) >> 3;
        if (f0 + 8 * g0 > width || f1 + 8 * g1 > width || f2 + 8 * g2 > width
                || f3 + 8 * g3 > width) {
            ptrdiff_t q;
            for (q = o; q < o + 4; q++)
                ux_u8_scalar_out(src + idx[q * k], 1, 1, wp + q * kp, cnt[q], precision,
                                 dst + q);
            continue;
        }
        __m128i a0 = ux_u8_gray_acc(src + f0, wp + o * kp, g0);
        __m128i a1 = ux_u8_gray_acc(src + f1, wp + (o + 1) * kp, g1);
        __m128i a2 = ux_u8_gray_acc(src + f2, wp + (o + 2) * kp, g2);
        __m128i a3 = ux_u8_gray_acc(src + f3, wp + (o + 3) * kp, g3);
        __m128i s = _mm_hadd_epi32(_mm_hadd_epi32(a0, a1), _mm_hadd_epi32(a2, a3));
        s = _mm_sra_epi32(_mm_add_epi32(s, vbias), shift);
        s = _mm_packus_epi16(_mm_packs_epi32(s, s), s);
        uint32_t v = (uint32_t)_mm_cvtsi128_si32(s);
        memcpy(dst + o, &v, 4);
    }
#endif
    for (; o < o1; o++)
        ux_u8_scalar_out(src + idx[o * k], 1, 1, wp + o * kp, cnt[o], precision, dst + o);
}

#if defined(__SSE4_1__)
/* Output (one tap window p, weights wt) of 4 rows ss apart, as 4 int32 lanes. */
static inline __attribute__((always_inline))
__m128i ux_u8_gray_col(const uint8_t *p, ptrdiff_t ss, const int16_t *wt, ptrdiff_t ng,
                       __m128i vbias, __m128i shift)
{
    __m128i ww = _mm_loadu_si128((const __m128i *)wt);
    __m128i s0 = _mm_madd_epi16(_mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)p)), ww);
    __m128i s1 = _mm_madd_epi16(
        _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)(p + ss))), ww);
    __m128i s2 = _mm_madd_epi16(
        _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)(p + 2 * ss))), ww);
    __m128i s3 = _mm_madd_epi16(
        _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)(p + 3 * ss))), ww);
    ptrdiff_t g;
    for (g = 1; g < ng; g++) {
        const uint8_t *pg = p + 8 * g;
        ww = _mm_loadu_si128((const __m128i *)(wt + 8 * g));
        s0 = _mm_add_epi32(s0, _mm_madd_epi16(
            _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)pg)), ww));
        s1 = _mm_add_epi32(s1, _mm_madd_epi16(
            _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)(pg + ss))), ww));
        s2 = _mm_add_epi32(s2, _mm_madd_epi16(
            _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)(pg + 2 * ss))), ww));
        s3 = _mm_add_epi32(s3, _mm_madd_epi16(
            _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)(pg + 3 * ss))), ww));
    }
    __m128i t = _mm_hadd_epi32(_mm_hadd_epi32(s0, s1), _mm_hadd_epi32(s2, s3));
    return _mm_sra_epi32(_mm_add_epi32(t, vbias), shift);
}

/* Four rows of single samples at once: each output's weights and bounds are
 * read once for the four rows, and 4 outputs x 4 rows leave in 4 stores. */
static void ux_u8_hgray4(const uint8_t *src, ptrdiff_t ss, ptrdiff_t width, uint8_t *dst,
                         ptrdiff_t ds, ptrdiff_t size_out, const ptrdiff_t *idx, ptrdiff_t k,
                         const int16_t *wp, ptrdiff_t kp, const ptrdiff_t *cnt, int precision)
{
    const int32_t bias = precision > 0 ? (1 << (precision - 1)) : 0;
    const __m128i vbias = _mm_set1_epi32(bias);
    const __m128i shift = _mm_cvtsi32_si128(precision);
    ptrdiff_t o = 0, q, r;
    for (; o + 4 <= size_out; o += 4) {
        ptrdiff_t f[4], ng[4];
        int wide = 1;
        for (q = 0; q < 4; q++) {
            f[q] = idx[(o + q) * k];
            ng[q] = (cnt[o + q] + 7) >> 3;
            wide &= f[q] + 8 * ng[q] <= width;
        }
        if (!wide)
            break;
        /* col q: output o+q of rows 0..3; bytes transposed to rows at the end */
        __m128i c0 = ux_u8_gray_col(src + f[0], ss, wp + o * kp, ng[0], vbias, shift);
        __m128i c1 = ux_u8_gray_col(src + f[1], ss, wp + (o + 1) * kp, ng[1], vbias, shift);
        __m128i c2 = ux_u8_gray_col(src + f[2], ss, wp + (o + 2) * kp, ng[2], vbias, shift);
        __m128i c3 = ux_u8_gray_col(src + f[3], ss, wp + (o + 3) * kp, ng[3], vbias, shift);
        /* bytes [o+0: rows 0-3, o+1: rows 0-3, ...] -> [row 0: o..o+3, row 1: ...] */
        __m128i packed = _mm_packus_epi16(_mm_packs_epi32(c0, c1), _mm_packs_epi32(c2, c3));
        packed = _mm_shuffle_epi8(packed, _mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14,
                                                        3, 7, 11, 15));
        uint32_t v[4];
        _mm_storeu_si128((__m128i *)v, packed);
        for (r = 0; r < 4; r++)
            memcpy(dst + r * ds + o, &v[r], 4);
    }
    if (o < size_out)
        for (r = 0; r < 4; r++)
            ux_u8_hgray(src + r * ss, width, dst + r * ds, o, size_out, idx, k, wp, kp, cnt,
                        precision);
}
#endif

/*
 * The horizontal pass of one row from the padded table: single samples
 * (P == 1) or dense pixels of 3 or 4 bytes. Returns 0 (nothing done) where
 * this build or CPU has no wide loop for P; the caller walks the table then.
 */
static int ux_u8_hpass_padded(const uint8_t *src, ptrdiff_t width, int P, uint8_t *dst,
                              ptrdiff_t size_out, const ptrdiff_t *idx, ptrdiff_t k,
                              const int16_t *wp, ptrdiff_t kp, const ptrdiff_t *cnt,
                              int precision)
{
    if (P == 1) {
#if defined(__SSE4_1__)
        ux_u8_hgray(src, width, dst, 0, size_out, idx, k, wp, kp, cnt, precision);
        return 1;
#endif
    }
#if UX_HAVE_AVX2_DISPATCH
    if ((P == 3 || P == 4) && ux_cpu_has_avx2()) {
        ux_u8_hpix_avx2(src, width, P, dst, 0, size_out, idx, k, wp, kp, cnt, precision);
        return 1;
    }
#endif
    (void)src; (void)width; (void)dst; (void)size_out; (void)idx; (void)k; (void)wp;
    (void)kp; (void)cnt; (void)precision;
    return 0;
}

/*
 * The horizontal pass of `nrows` rows (`src_stride` bytes apart in src, dense
 * `dst_stride` apart in dst), pairs of rows at a time where a wide loop
 * exists. Returns 0 (nothing done) where it does not: the caller walks rows.
 */
static int ux_u8_hpass_rows(const uint8_t *src, ptrdiff_t src_stride, ptrdiff_t nrows,
                            ptrdiff_t width, int P, uint8_t *dst, ptrdiff_t dst_stride,
                            ptrdiff_t size_out, const ptrdiff_t *idx, ptrdiff_t k,
                            const int16_t *wp, ptrdiff_t kp, const ptrdiff_t *cnt,
                            int precision)
{
    ptrdiff_t r = 0;
#if UX_HAVE_AVX2_DISPATCH
    if ((P == 3 || P == 4) && nrows >= 2 && size_out >= 2 && ux_cpu_has_avx2()) {
        /* per-pair offsets, group counts and madd-ready weights, once a block */
        const ptrdiff_t G = kp / 4, pairs = (size_out + 1) / 2;
        char *mem = (char *)malloc((size_t)(pairs * 2 * G * 32 + pairs * 3 * sizeof(ptrdiff_t)
                                            + 32));
        if (mem != NULL) {
            __m256i *wx = (__m256i *)(((uintptr_t)mem + 31) & ~(uintptr_t)31);
            ptrdiff_t *meta = (ptrdiff_t *)(wx + pairs * 2 * G);
            ux_u8_hpair_prepare(width, P, size_out, idx, k, wp, kp, cnt, meta, wx, G);
            for (; r + 4 <= nrows; r += 4)
                (P == 3 ? ux_u8_hpair4_p3 : ux_u8_hpair4_p4)(
                    src + r * src_stride, src_stride, dst + r * dst_stride, dst_stride,
                    size_out, meta, wx, G, wp, kp, cnt, precision);
            for (; r + 2 <= nrows; r += 2)
                (P == 3 ? ux_u8_hpair2_p3 : ux_u8_hpair2_p4)(
                    src + r * src_stride, src_stride, dst + r * dst_stride, dst_stride,
                    size_out, meta, wx, G, wp, kp, cnt, precision);
            free(mem);
        }
    }
#endif
#if defined(__SSE4_1__)
    if (P == 1)
        for (; r + 4 <= nrows; r += 4)
            ux_u8_hgray4(src + r * src_stride, src_stride, width, dst + r * dst_stride,
                         dst_stride, size_out, idx, k, wp, kp, cnt, precision);
#endif
    if (P != 1 && r == 0 && nrows >= 2)
        return 0;
    for (; r < nrows; r++)
        if (!ux_u8_hpass_padded(src + r * src_stride, width, P, dst + r * dst_stride, size_out,
                                idx, k, wp, kp, cnt, precision))
            return 0;
    return 1;
}

/* Whether ux_u8_hpass_planes has a loop on this build and CPU. */
static int ux_u8_can_pack_planes(void)
{
#if UX_HAVE_PACK_PLANES
    return ux_cpu_has_avx2();
#else
    return 0;
#endif
}

/*
 * The W pass of `nrows` rows (`row_stride` apart) of C = 3 or 4 planes
 * (`plane` apart), into rows of interleaved output pixels (`dst_stride`
 * apart): 4 rows at a time interleaved into `scratch` (4 * (width * C + 16)
 * bytes), then the pixel pair loops. Returns 0 where nothing was done (no
 * loop on this build or CPU, or no memory): the caller has to check
 * ux_u8_can_pack_planes() before choosing this layout.
 */
static int ux_u8_hpass_planes(const uint8_t *src, ptrdiff_t plane, ptrdiff_t row_stride, int C,
                              ptrdiff_t nrows, ptrdiff_t width, uint8_t *dst,
                              ptrdiff_t dst_stride, ptrdiff_t size_out, const ptrdiff_t *idx,
                              ptrdiff_t k, const int16_t *wp, ptrdiff_t kp,
                              const ptrdiff_t *cnt, int precision, uint8_t *scratch)
{
#if UX_HAVE_PACK_PLANES
    const ptrdiff_t ss = width * C + 16;
    ptrdiff_t r = 0, q;
    char *mem = NULL;
    __m256i *wx = NULL;
    ptrdiff_t *meta = NULL;
    const ptrdiff_t G = kp / 4, pairs = (size_out + 1) / 2;
    if (!ux_u8_can_pack_planes())
        return 0;
    if (size_out >= 2 && nrows >= 2) {
        mem = (char *)malloc((size_t)(pairs * 2 * G * 32 + pairs * 3 * sizeof(ptrdiff_t) + 32));
        if (mem == NULL)
            return 0;
        wx = (__m256i *)(((uintptr_t)mem + 31) & ~(uintptr_t)31);
        meta = (ptrdiff_t *)(wx + pairs * 2 * G);
        ux_u8_hpair_prepare(width, C, size_out, idx, k, wp, kp, cnt, meta, wx, G);
        for (; r + 2 <= nrows; ) {
            const ptrdiff_t R = r + 4 <= nrows ? 4 : 2;
            for (q = 0; q < R; q++)
                ux_u8_interleave(src + (r + q) * row_stride, plane, C, width, scratch + q * ss);
            if (R == 4)
                (C == 3 ? ux_u8_hpair4_p3 : ux_u8_hpair4_p4)(
                    scratch, ss, dst + r * dst_stride, dst_stride, size_out, meta, wx, G, wp, kp,
                    cnt, precision);
            else
                (C == 3 ? ux_u8_hpair2_p3 : ux_u8_hpair2_p4)(
                    scratch, ss, dst + r * dst_stride, dst_stride, size_out, meta, wx, G, wp, kp,
                    cnt, precision);
            r += R;
        }
        free(mem);
    }
    for (; r < nrows; r++) {
        ux_u8_interleave(src + r * row_stride, plane, C, width, scratch);
        ux_u8_hpix_avx2(scratch, width, C, dst + r * dst_stride, 0, size_out, idx, k, wp, kp,
                        cnt, precision);
    }
    return 1;
#else
    (void)src; (void)plane; (void)row_stride; (void)C; (void)nrows; (void)width; (void)dst;
    (void)dst_stride; (void)size_out; (void)idx; (void)k; (void)wp; (void)kp; (void)cnt;
    (void)precision; (void)scratch;
    return 0;
#endif
}

/* Interleaved pixels back to C planes (see ux_u8_hpass_planes). */
static void ux_u8_unpack_planes(const uint8_t *src, int C, ptrdiff_t width, uint8_t *dst,
                                ptrdiff_t plane)
{
#if UX_HAVE_PACK_PLANES
    ux_u8_deinterleave(src, C, width, dst, plane);
#else
    ptrdiff_t i;
    int c;
    for (i = 0; i < width; i++)
        for (c = 0; c < C; c++)
            dst[c * plane + i] = src[i * C + c];
#endif
}

#endif /* UPSAMPLEX_UINT8_SIMD_H */
