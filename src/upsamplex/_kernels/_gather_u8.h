/*
 * Nearest gathers of rows of 1..4-byte pixels (uint8 masks, RGB, RGBA; any
 * layout whose pixels are dense bytes), for _nearest_u8.pyx.
 *
 * A pixel is moved as one unit (a 1/2/4-byte load and store; RGB as a 4-byte
 * move whose 4th byte is rewritten by the next pixel), integer x2 along the
 * row is a widening store, the identity a memcpy, and rows whose every 16
 * output bytes read inside 32 source bytes (scales from about 0.45 up) are
 * gathered by byte shuffles. Nothing is computed, so every path gives the plain
 * gather's bytes.
 */
#ifndef UPSAMPLEX_GATHER_U8_H
#define UPSAMPLEX_GATHER_U8_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__SSSE3__)
#include <tmmintrin.h>
#define UX_SHUFFLE_U8 1
#else
#define UX_SHUFFLE_U8 0
#endif

/* dst pixel o = src pixel at byte offset off[o] (P bytes each), for o < n. */
static void ux_gather_row(const uint8_t *src, ptrdiff_t src_bytes, uint8_t *dst, ptrdiff_t n,
                          const ptrdiff_t *off, int P)
{
    ptrdiff_t o;
    if (P == 1) {
        /* 4 at a time: one 4-byte store instead of 4 byte stores */
        for (o = 0; o + 4 <= n; o += 4) {
            uint32_t v = (uint32_t)src[off[o]] | ((uint32_t)src[off[o + 1]] << 8)
                         | ((uint32_t)src[off[o + 2]] << 16) | ((uint32_t)src[off[o + 3]] << 24);
            memcpy(dst + o, &v, 4);
        }
        for (; o < n; o++)
            dst[o] = src[off[o]];
    } else if (P == 2) {
        for (o = 0; o < n; o++)
            memcpy(dst + 2 * o, src + off[o], 2);
    } else if (P == 4) {
        for (o = 0; o < n; o++)
            memcpy(dst + 4 * o, src + off[o], 4);
    } else {
        /* RGB: 4-byte moves while both the load and the store stay in bounds
         * (the store's 4th byte is the next output pixel's, written next). */
        for (o = 0; o + 1 < n; o++) {
            if (off[o] + 4 <= src_bytes) {
                memcpy(dst + 3 * o, src + off[o], 4);
            } else {
                memcpy(dst + 3 * o, src + off[o], 3);
            }
        }
        if (n > 0)
            memcpy(dst + 3 * (n - 1), src + off[n - 1], 3);
    }
}

/* dst pixels 2i and 2i+1 = src pixel i, for i < n_in (P bytes each). */
static void ux_repeat2_row(const uint8_t *src, uint8_t *dst, ptrdiff_t n_in, int P)
{
    ptrdiff_t i = 0;
#if defined(__SSE2__)
    if (P == 1) {
        for (; i + 16 <= n_in; i += 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(src + i));
            _mm_storeu_si128((__m128i *)(dst + 2 * i), _mm_unpacklo_epi8(v, v));
            _mm_storeu_si128((__m128i *)(dst + 2 * i + 16), _mm_unpackhi_epi8(v, v));
        }
    } else if (P == 2) {
        for (; i + 8 <= n_in; i += 8) {
            __m128i v = _mm_loadu_si128((const __m128i *)(src + 2 * i));
            _mm_storeu_si128((__m128i *)(dst + 4 * i), _mm_unpacklo_epi16(v, v));
            _mm_storeu_si128((__m128i *)(dst + 4 * i + 16), _mm_unpackhi_epi16(v, v));
        }
    } else if (P == 4) {
        for (; i + 4 <= n_in; i += 4) {
            __m128i v = _mm_loadu_si128((const __m128i *)(src + 4 * i));
            _mm_storeu_si128((__m128i *)(dst + 8 * i), _mm_unpacklo_epi32(v, v));
            _mm_storeu_si128((__m128i *)(dst + 8 * i + 16), _mm_unpackhi_epi32(v, v));
        }
    }
#endif
    if (P == 3) {
        /* 4-byte moves; the last input pixel's last copy is exact. */
        for (; i + 1 < n_in; i++) {
            uint32_t v;
            memcpy(&v, src + 3 * i, 4);
            memcpy(dst + 6 * i, &v, 4);
            memcpy(dst + 6 * i + 3, &v, 4);
        }
    }
    for (; i < n_in; i++) {
        memcpy(dst + 2 * P * i, src + P * i, (size_t)P);
        memcpy(dst + 2 * P * i + P, src + P * i, (size_t)P);
    }
}

/* dst pixel o = src pixel 2o + c, for o < n (halving; nearest reads every
 * other pixel). Wide loads stay inside the src_bytes of the row. */
static void ux_decimate2_row(const uint8_t *src, ptrdiff_t src_bytes, uint8_t *dst,
                             ptrdiff_t n, ptrdiff_t c, int P)
{
    ptrdiff_t o = 0;
    const uint8_t *s = src + c * P;
    const ptrdiff_t avail = src_bytes - c * P;  /* bytes from s to the row's end */
#if defined(__SSE2__)
    if (P == 1) {
        const __m128i m = _mm_set1_epi16(0x00ff);
        for (; o + 16 <= n && 2 * o + 32 <= avail; o += 16) {
            __m128i a = _mm_and_si128(_mm_loadu_si128((const __m128i *)(s + 2 * o)), m);
            __m128i b = _mm_and_si128(_mm_loadu_si128((const __m128i *)(s + 2 * o + 16)), m);
            _mm_storeu_si128((__m128i *)(dst + o), _mm_packus_epi16(a, b));
        }
    } else if (P == 4) {
        for (; o + 4 <= n && 8 * o + 32 <= avail; o += 4) {
            __m128 a = _mm_castsi128_ps(_mm_loadu_si128((const __m128i *)(s + 8 * o)));
            __m128 b = _mm_castsi128_ps(_mm_loadu_si128((const __m128i *)(s + 8 * o + 16)));
            _mm_storeu_si128((__m128i *)(dst + 4 * o),
                             _mm_castps_si128(_mm_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0))));
        }
    }
#endif
    if (P == 3) {
        for (; o + 1 < n && 6 * o + 4 <= avail; o++)
            memcpy(dst + 3 * o, s + 6 * o, 4);
    }
    for (; o < n; o++)
        memcpy(dst + P * o, s + 2 * P * o, (size_t)P);
}

/* A row gathered by byte shuffles: output block b (bytes [b*step, b*step + 16), whole
 * pixels in the first ``step``) takes its bytes from a window of 16 (``two`` = 0) or 32
 * source bytes starting at start[b], picked by the block's masks (16 or 32 bytes: a
 * byte index into the window's first half, then into its second, 0x80 for the other
 * half). One or two loads and shuffles per block instead of a load and a store per
 * pixel; the table (GatherU8._shuffle) keeps every window and store inside the rows.
 * Returns the blocks done: all of them with SSSE3, none without (the caller's scalar
 * gather does the rest). */
static ptrdiff_t ux_shuffle_row(const uint8_t *src, uint8_t *dst, ptrdiff_t n_blocks,
                                ptrdiff_t step, const int32_t *start, const uint8_t *masks,
                                int two)
{
#if UX_SHUFFLE_U8
    ptrdiff_t b;
    if (two) {
        for (b = 0; b < n_blocks; b++) {
            const uint8_t *s = src + start[b];
            const uint8_t *m = masks + 32 * b;
            __m128i lo = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)s),
                                          _mm_loadu_si128((const __m128i *)m));
            __m128i hi = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(s + 16)),
                                          _mm_loadu_si128((const __m128i *)(m + 16)));
            _mm_storeu_si128((__m128i *)(dst + step * b), _mm_or_si128(lo, hi));
        }
    } else {
        for (b = 0; b < n_blocks; b++) {
            __m128i v = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(src + start[b])),
                                         _mm_loadu_si128((const __m128i *)(masks + 16 * b)));
            _mm_storeu_si128((__m128i *)(dst + step * b), v);
        }
    }
    return n_blocks;
#else
    (void)src; (void)dst; (void)n_blocks; (void)step; (void)start; (void)masks; (void)two;
    return 0;
#endif
}

#endif /* UPSAMPLEX_GATHER_U8_H */
