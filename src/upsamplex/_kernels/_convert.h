/*
 * float32 <-> the dtypes that compute in float32 (uint8, uint16, int16, float16),
 * for _resample.pyx's `convert`.
 *
 * Why C: the rounding store is the whole cost of a 16-bit resize when NumPy
 * does it (rint, clip, cast: three passes over a float temporary); here it is
 * one pass over a temporary that is still in cache. cvtps2dq rounds to
 * nearest, ties to even (the default MXCSR mode), as rint does; clamping to the
 * integer bounds first gives the same result as rounding first. NaN becomes the
 * lower bound (it cannot arise from integer inputs). float16 is converted with
 * F16C when the build has it, else bit by bit; both are IEEE round-to-nearest-
 * even, so every build gives the same bits.
 */
#ifndef UPSAMPLEX_CONVERT_H
#define UPSAMPLEX_CONVERT_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__F16C__) && defined(__AVX__)
#include <immintrin.h>
#endif

/* the fast loops index typed pointers: only for aligned data (UBSan) */
static inline int ux_aligned(const void *p, size_t n) { return ((uintptr_t)p % n) == 0; }

enum { UX_CONV_U8 = 1, UX_CONV_U16 = 2, UX_CONV_I16 = 3, UX_CONV_F16 = 4 };

static inline float ux_half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, em = h & 0x7fffu, bits;
    if (em >= 0x7c00u) {  /* inf, or NaN made quiet */
        bits = 0x7f800000u | ((em & 0x3ffu) << 13) | (em > 0x7c00u ? 0x400000u : 0u);
    } else if (em >= 0x400u) {  /* normal: rebias the exponent (127 - 15) */
        bits = (em << 13) + 0x38000000u;
    } else {  /* subnormal or zero: em units of 2**-24, exact in float */
        float f = (float)em * 5.9604644775390625e-8f;
        memcpy(&bits, &f, 4);
    }
    bits |= sign;
    float out;
    memcpy(&out, &bits, 4);
    return out;
}

static inline uint16_t ux_float_to_half(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u)  /* inf, or NaN made quiet keeping its top payload bits */
        return (uint16_t)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u | ((ax >> 13) & 0x3ffu) : 0u));
    if (ax >= 0x477ff000u)  /* from halfway past 65504 up: rounds to inf */
        return (uint16_t)(sign | 0x7c00u);
    if (ax < 0x38800000u) {  /* below 2**-14: adding 0.5 rounds to units of 2**-24 */
        float a;
        memcpy(&a, &ax, 4);
        a += 0.5f;
        uint32_t r;
        memcpy(&r, &a, 4);
        return (uint16_t)(sign | (r - 0x3f000000u));
    }
    /* normal: rebias, then round the 13 dropped bits to nearest even */
    ax += 0xc8000fffu + ((ax >> 13) & 1u);
    return (uint16_t)(sign | (ax >> 13));
}

static inline int32_t ux_round_clamp(float v, float lo, float hi)
{
    float c = v >= lo ? v : lo;  /* NaN -> lo, as _mm_max_ps(v, lo) */
    c = c <= hi ? c : hi;
#if defined(__SSE2__)
    return _mm_cvtss_si32(_mm_set_ss(c));
#else
    return (int32_t)lrintf(c);
#endif
}

#define UX_DEFINE_WIDEN(NAME, T, EXPR)                                                     \
    static void NAME(const char *src, ptrdiff_t ss, float *dst, ptrdiff_t ds, ptrdiff_t n) \
    {                                                                                      \
        if (ss == (ptrdiff_t)sizeof(T) && ds == 4 && ux_aligned(src, sizeof(T)) &&           \
            ux_aligned(dst, 4)) {                                                          \
            const T *s = (const T *)src;                                                   \
            for (ptrdiff_t i = 0; i < n; i++) {                                            \
                T v = s[i];                                                                \
                dst[i] = EXPR;                                                             \
            }                                                                              \
            return;                                                                        \
        }                                                                                  \
        for (ptrdiff_t i = 0; i < n; i++) {                                                \
            T v;                                                                           \
            memcpy(&v, src + i * ss, sizeof(T));                                           \
            float r = EXPR;                                                                \
            memcpy((char *)dst + i * ds, &r, 4);                                           \
        }                                                                                  \
    }

UX_DEFINE_WIDEN(ux_widen_u8, uint8_t, (float)v)
UX_DEFINE_WIDEN(ux_widen_u16, uint16_t, (float)v)
UX_DEFINE_WIDEN(ux_widen_i16, int16_t, (float)v)

static void ux_widen_f16(const char *src, ptrdiff_t ss, float *dst, ptrdiff_t ds, ptrdiff_t n)
{
    ptrdiff_t i = 0;
    if (ss == 2 && ds == 4 && ux_aligned(src, 2) && ux_aligned(dst, 4)) {
        const uint16_t *s = (const uint16_t *)src;
#if defined(__F16C__) && defined(__AVX__)
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s + i))));
#endif
        for (; i < n; i++)
            dst[i] = ux_half_to_float(s[i]);
        return;
    }
    for (; i < n; i++) {
        uint16_t h;
        memcpy(&h, src + i * ss, 2);
        float r = ux_half_to_float(h);
        memcpy((char *)dst + i * ds, &r, 4);
    }
}

#if defined(__SSE2__)
/* 8 floats -> 8 rounded, clamped int32 in two registers */
static inline void ux_round8(const float *s, __m128 lo, __m128 hi, __m128i *a, __m128i *b)
{
    *a = _mm_cvtps_epi32(_mm_min_ps(_mm_max_ps(_mm_loadu_ps(s), lo), hi));
    *b = _mm_cvtps_epi32(_mm_min_ps(_mm_max_ps(_mm_loadu_ps(s + 4), lo), hi));
}
#endif

static void ux_narrow_u8(const float *src, ptrdiff_t ss, char *dst, ptrdiff_t ds, ptrdiff_t n)
{
    ptrdiff_t i = 0;
    if (ss == 4 && ds == 1 && ux_aligned(src, 4)) {
        uint8_t *d = (uint8_t *)dst;
#if defined(__SSE2__)
        const __m128 lo = _mm_set1_ps(0.0f), hi = _mm_set1_ps(255.0f);
        for (; i + 8 <= n; i += 8) {
            __m128i a, b;
            ux_round8(src + i, lo, hi, &a, &b);
            __m128i w = _mm_packs_epi32(a, b);
            _mm_storel_epi64((__m128i *)(d + i), _mm_packus_epi16(w, w));
        }
#endif
        for (; i < n; i++)
            d[i] = (uint8_t)ux_round_clamp(src[i], 0.0f, 255.0f);
        return;
    }
    for (; i < n; i++) {
        float v;
        memcpy(&v, (const char *)src + i * ss, 4);
        dst[i * ds] = (char)(uint8_t)ux_round_clamp(v, 0.0f, 255.0f);
    }
}

static void ux_narrow_16(const float *src, ptrdiff_t ss, char *dst, ptrdiff_t ds, ptrdiff_t n,
                         int is_signed)
{
    const float flo = is_signed ? -32768.0f : 0.0f, fhi = is_signed ? 32767.0f : 65535.0f;
    ptrdiff_t i = 0;
    if (ss == 4 && ds == 2 && ux_aligned(src, 4) && ux_aligned(dst, 2)) {
        uint16_t *d = (uint16_t *)dst;
#if defined(__SSE2__)
        const __m128 lo = _mm_set1_ps(flo), hi = _mm_set1_ps(fhi);
        /* SSE2 packs only signed: uint16 is shifted into int16's range and back */
        const __m128i shift = _mm_set1_epi32(is_signed ? 0 : 32768);
        const __m128i back = _mm_set1_epi16(is_signed ? 0 : (short)0x8000);
        for (; i + 8 <= n; i += 8) {
            __m128i a, b;
            ux_round8(src + i, lo, hi, &a, &b);
            a = _mm_sub_epi32(a, shift);
            b = _mm_sub_epi32(b, shift);
            _mm_storeu_si128((__m128i *)(d + i), _mm_xor_si128(_mm_packs_epi32(a, b), back));
        }
#endif
        for (; i < n; i++)
            d[i] = (uint16_t)ux_round_clamp(src[i], flo, fhi);
        return;
    }
    for (; i < n; i++) {
        float v;
        memcpy(&v, (const char *)src + i * ss, 4);
        uint16_t r = (uint16_t)ux_round_clamp(v, flo, fhi);
        memcpy(dst + i * ds, &r, 2);
    }
}

static void ux_narrow_f16(const float *src, ptrdiff_t ss, char *dst, ptrdiff_t ds, ptrdiff_t n)
{
    ptrdiff_t i = 0;
    if (ss == 4 && ds == 2 && ux_aligned(src, 4) && ux_aligned(dst, 2)) {
        uint16_t *d = (uint16_t *)dst;
#if defined(__F16C__) && defined(__AVX__)
        for (; i + 8 <= n; i += 8)
            _mm_storeu_si128((__m128i *)(d + i),
                             _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
#endif
        for (; i < n; i++)
            d[i] = ux_float_to_half(src[i]);
        return;
    }
    for (; i < n; i++) {
        float v;
        memcpy(&v, (const char *)src + i * ss, 4);
        uint16_t r = ux_float_to_half(v);
        memcpy(dst + i * ds, &r, 2);
    }
}

/* dst = src for n items; `code` names the narrow side, `widen` the direction;
 * strides in bytes. */
static void ux_convert(int code, int widen, const char *src, ptrdiff_t ss, char *dst,
                       ptrdiff_t ds, ptrdiff_t n)
{
    if (widen) {
        switch (code) {
        case UX_CONV_U8: ux_widen_u8(src, ss, (float *)dst, ds, n); break;
        case UX_CONV_U16: ux_widen_u16(src, ss, (float *)dst, ds, n); break;
        case UX_CONV_I16: ux_widen_i16(src, ss, (float *)dst, ds, n); break;
        default: ux_widen_f16(src, ss, (float *)dst, ds, n); break;
        }
        return;
    }
    switch (code) {
    case UX_CONV_U8: ux_narrow_u8((const float *)src, ss, dst, ds, n); break;
    case UX_CONV_U16: ux_narrow_16((const float *)src, ss, dst, ds, n, 0); break;
    case UX_CONV_I16: ux_narrow_16((const float *)src, ss, dst, ds, n, 1); break;
    default: ux_narrow_f16((const float *)src, ss, dst, ds, n); break;
    }
}

#endif
