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
/* AVX2 twin of the SSE2 loop below, chosen at run time: 32 bytes a step. */
__attribute__((target("avx2")))
static ptrdiff_t ux_u8_blend_rows_avx2(const uint8_t *rows, ptrdiff_t row_len, ptrdiff_t n,
                                       const int16_t *w, int precision, uint8_t *out)
{
    const int32_t bias = precision > 0 ? (1 << (precision - 1)) : 0;
    const __m256i zero = _mm256_setzero_si256();
    const __m256i vbias = _mm256_set1_epi32(bias);
    const __m128i shift = _mm_cvtsi32_si128(precision);
    ptrdiff_t i = 0, j;
    for (; i + 32 <= row_len; i += 32) {
        __m256i a0 = vbias, a1 = vbias, a2 = vbias, a3 = vbias;
        for (j = 0; j < n; j += 2) {
            __m256i r0 = _mm256_loadu_si256((const __m256i *)(rows + j * row_len + i));
            __m256i r1 = zero;
            uint32_t pair = (uint16_t)w[j];
            if (j + 1 < n) {
                r1 = _mm256_loadu_si256((const __m256i *)(rows + (j + 1) * row_len + i));
                pair |= (uint32_t)(uint16_t)w[j + 1] << 16;
            }
            __m256i ww = _mm256_set1_epi32((int32_t)pair);
            /* Per 128-bit lane, like the SSE2 code; the packs below undo the
             * lane split, so bytes come out in order. */
            __m256i lo = _mm256_unpacklo_epi8(r0, r1);
            __m256i hi = _mm256_unpackhi_epi8(r0, r1);
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_unpacklo_epi8(lo, zero), ww));
            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_unpackhi_epi8(lo, zero), ww));
            a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(_mm256_unpacklo_epi8(hi, zero), ww));
            a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(_mm256_unpackhi_epi8(hi, zero), ww));
        }
        a0 = _mm256_sra_epi32(a0, shift);
        a1 = _mm256_sra_epi32(a1, shift);
        a2 = _mm256_sra_epi32(a2, shift);
        a3 = _mm256_sra_epi32(a3, shift);
        __m256i packed = _mm256_packus_epi16(_mm256_packs_epi32(a0, a1),
                                             _mm256_packs_epi32(a2, a3));
        _mm256_storeu_si256((__m256i *)(out + i), packed);
    }
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

#endif /* UPSAMPLEX_UINT8_SIMD_H */
