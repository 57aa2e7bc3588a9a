/*
 * Exact halving of integer samples ('area' at a factor of 2 on uint8, uint16 and
 * int16), for _resample.pyx's `halve`.
 *
 * Why: these dtypes compute 'area' in float32 and round once. At a factor of 2
 * every weight is 1/2 and every partial sum a multiple of 1/8 below 2**19, so the
 * float32 result is the exact mean of the box; rounding it to nearest, ties to
 * even, is done here on the integer sum. Same bits, no float32 copy.
 * (Arithmetic right shift on negative int32 sums: floor, as the rounding needs.)
 */
#ifndef UPSAMPLEX_HALVE_H
#define UPSAMPLEX_HALVE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline int32_t ux_halve_round(int32_t s, int shift)
{
    /* s = q * 2**shift + r (q = floor): q + 1 when r > half, or r == half and q
     * is odd, i.e. when r + (q & 1) + half - 1 reaches 2**shift */
    return (s + (1 << (shift - 1)) - 1 + ((s >> shift) & 1)) >> shift;
}

/* y[o * ystep] = round(sum_k x[o * xstep + off[k]] / 2**shift), o < n; taps = 2**shift
 * (2, 4 or 8). Fixed tap counts so the compiler unrolls and vectorises. */
#define UX_DEFINE_HALVE(NAME, T)                                                           \
    static void NAME(const T *x, T *y, ptrdiff_t n, ptrdiff_t xstep, ptrdiff_t ystep,        \
                     const ptrdiff_t *off, int shift)                                        \
    {                                                                                        \
        ptrdiff_t o;                                                                         \
        if (xstep == 2 && ystep == 1 && off[1] == 1) {                                       \
            /* contiguous pairs along W: stride-2 loads the compiler vectorises */           \
            const T *r0 = x, *r1 = x + (shift > 1 ? off[2] : 0);                             \
            const T *r2 = x + (shift > 2 ? off[4] : 0), *r3 = r2 + (shift > 2 ? off[2] : 0);  \
            if (shift == 1) {                                                                \
                for (o = 0; o < n; o++)                                                      \
                    y[o] = (T)ux_halve_round((int32_t)r0[2 * o] + r0[2 * o + 1], 1);         \
                return;                                                                      \
            }                                                                                \
            if (shift == 2 && off[3] == off[2] + 1) {                                        \
                for (o = 0; o < n; o++)                                                      \
                    y[o] = (T)ux_halve_round((int32_t)r0[2 * o] + r0[2 * o + 1] + r1[2 * o]  \
                                             + r1[2 * o + 1], 2);                            \
                return;                                                                      \
            }                                                                                \
            if (shift == 3 && off[3] == off[2] + 1 && off[5] == off[4] + 1                   \
                && off[6] == off[4] + off[2] && off[7] == off[6] + 1) {                      \
                for (o = 0; o < n; o++)                                                      \
                    y[o] = (T)ux_halve_round((int32_t)r0[2 * o] + r0[2 * o + 1] + r1[2 * o]  \
                                             + r1[2 * o + 1] + r2[2 * o] + r2[2 * o + 1]     \
                                             + r3[2 * o] + r3[2 * o + 1], 3);                \
                return;                                                                      \
            }                                                                                \
        }                                                                                    \
        if (xstep == 1 && ystep == 1 && shift <= 2) {                                        \
            /* W kept, contiguous: rows added sample by sample */                            \
            const ptrdiff_t o1 = off[1], o2 = shift > 1 ? off[2] : 0, o3 = shift > 1 ? off[3] : 0; \
            if (shift == 1) {                                                                \
                for (o = 0; o < n; o++)                                                      \
                    y[o] = (T)ux_halve_round((int32_t)x[o] + x[o + o1], 1);                  \
            } else {                                                                         \
                for (o = 0; o < n; o++)                                                      \
                    y[o] = (T)ux_halve_round((int32_t)x[o] + x[o + o1] + x[o + o2]           \
                                             + x[o + o3], 2);                                \
            }                                                                                \
            return;                                                                          \
        }                                                                                    \
        if (shift == 1) {                                                                    \
            const ptrdiff_t o1 = off[1];                                                     \
            for (o = 0; o < n; o++) {                                                        \
                const T *p = x + o * xstep;                                                  \
                y[o * ystep] = (T)ux_halve_round((int32_t)p[0] + p[o1], 1);                  \
            }                                                                                \
        } else if (shift == 2) {                                                             \
            const ptrdiff_t o1 = off[1], o2 = off[2], o3 = off[3];                           \
            for (o = 0; o < n; o++) {                                                        \
                const T *p = x + o * xstep;                                                  \
                y[o * ystep] = (T)ux_halve_round((int32_t)p[0] + p[o1] + p[o2] + p[o3], 2);  \
            }                                                                                \
        } else {                                                                             \
            for (o = 0; o < n; o++) {                                                        \
                const T *p = x + o * xstep;                                                  \
                int32_t s = 0;                                                               \
                for (int k = 0; k < 8; k++)                                                  \
                    s += p[off[k]];                                                          \
                y[o * ystep] = (T)ux_halve_round(s, 3);                                      \
            }                                                                                \
        }                                                                                    \
    }

/* Dense pixels of C samples (channels-last), W halved: the 1, 2 or 4 input rows
 * (nrows) added sample by sample into s (type A: uint16 for uint8 samples, whose
 * sums stay below 2**11, so twice the lanes of int32; int32 otherwise); output
 * sample (o, c) is round(s[2oC + c] + s[2oC + C + c]). With 2 or 4 samples a pixel
 * the compiler vectorises that directly (whole pixel pairs); otherwise every sample
 * plus the one a pixel on is rounded in one contiguous pass into u (type T) and
 * the first pixel of each pair copied out. ``t`` has room for 3 * n * C int32. */
#define UX_PAIRS(T, CC)                                                                    \
    for (o = 0; o < n; o++)                                                                \
        for (c = 0; c < (CC); c++)                                                         \
            y[o * (CC) + c] = (T)ux_halve_round(                                           \
                (int32_t)s[2 * o * (CC) + c] + s[2 * o * (CC) + (CC) + c], shift);
#define UX_PICK(CC)                                                                        \
    for (o = 0; o < n; o++)                                                                \
        for (c = 0; c < (CC); c++)                                                         \
            y[o * (CC) + c] = u[2 * o * (CC) + c];
#define UX_DEFINE_HALVE_PIXELS(NAME, T, A)                                                 \
    static void NAME(const T *const *rows, int nrows, T *y, ptrdiff_t n, ptrdiff_t C,        \
                     int32_t *t, int shift)                                                  \
    {                                                                                        \
        const ptrdiff_t len = 2 * n * C;                                                     \
        A *s = (A *)t;                                                                       \
        T *u = (T *)(s + len);                                                               \
        ptrdiff_t k, o, c;                                                                   \
        const T *r0 = rows[0];                                                               \
        for (k = 0; k < len; k++)                                                            \
            s[k] = (A)r0[k];                                                                 \
        for (int i = 1; i < nrows; i++) {                                                    \
            const T *r = rows[i];                                                            \
            for (k = 0; k < len; k++)                                                        \
                s[k] = (A)(s[k] + r[k]);                                                     \
        }                                                                                    \
        if (C == 2) {                                                                        \
            UX_PAIRS(T, 2)                                                                   \
            return;                                                                          \
        }                                                                                    \
        if (C == 4) {                                                                        \
            UX_PAIRS(T, 4)                                                                   \
            return;                                                                          \
        }                                                                                    \
        for (k = 0; k < len - C; k++) {                                                      \
            /* in A (sums of 2**shift samples fit): 16-bit lanes for uint8 */               \
            const A v = (A)(s[k] + s[k + C]);                                                \
            u[k] = (T)(A)((A)(v + (A)((1 << (shift - 1)) - 1) + (A)((v >> shift) & 1))       \
                          >> shift);                                                         \
        }                                                                                    \
        if (C == 3) {                                                                        \
            /* 4 samples a pixel, the 4th overwritten by the next: one move each */          \
            for (o = 0; o + 1 < n; o++)                                                      \
                memcpy(y + 3 * o, u + 6 * o, 4 * sizeof(T));                                \
            for (c = 0; n > 0 && c < 3; c++)                                                 \
                y[3 * (n - 1) + c] = u[6 * (n - 1) + c];                                     \
        } else {                                                                             \
            UX_PICK(C)                                                                       \
        }                                                                                    \
    }

UX_DEFINE_HALVE_PIXELS(ux_halve_pixels_u8, uint8_t, uint16_t)
UX_DEFINE_HALVE_PIXELS(ux_halve_pixels_u16, uint16_t, int32_t)
UX_DEFINE_HALVE_PIXELS(ux_halve_pixels_i16, int16_t, int32_t)

UX_DEFINE_HALVE(ux_halve_u8, uint8_t)
UX_DEFINE_HALVE(ux_halve_u16, uint16_t)
UX_DEFINE_HALVE(ux_halve_i16, int16_t)

#endif
