/* Register-blocked inner loop of the direct convolution kernels (_conv.pyx).
 *
 * out[b][q] = start[b] + sum_t sum_k w[(t*n_k + k)*4 + b] * rows[t*row_len + off[k] + q]
 * for q < n_out and up to 4 output channels b, stored at out + b*ch_stride + q*out_step.
 * Each strip of 8 (float) or 4 (double) outputs of 4 channels is summed in registers
 * over every tap, in the order t, then k: a fixed order, so a result does not depend on
 * how the outputs are split between threads. ``rows`` must be readable up to
 * off[k] + round_up(n_out, strip) for every k (the caller pads them with zeros).
 * GCC/Clang vector extensions: 16-byte vectors (32 in the AVX2 build), two per strip,
 * no FMA contraction, so every build gives the plain sum's result bit for bit.
 */
#ifndef UPSAMPLEX_CONV_DIRECT_H
#define UPSAMPLEX_CONV_DIRECT_H
#include <stddef.h>
#include <string.h>

#ifdef __AVX__
#define UX_VEC_BYTES 32
#else
#define UX_VEC_BYTES 16
#endif
/* Strip lengths the callers pad their rows for: 2 vectors of float. */
#define UX_STRIP_MAX (2 * UX_VEC_BYTES / 4)

#define UX_DEFINE_ROWS(NAME, T, LANES)                                                     \
typedef T NAME##_vec __attribute__((vector_size(UX_VEC_BYTES)));                                     \
static void NAME(const T* rows, ptrdiff_t n_rows, ptrdiff_t row_len, const ptrdiff_t* off, \
                 ptrdiff_t n_k, const T* w, const T* start, T* out, ptrdiff_t ch_stride,   \
                 int n_ch, ptrdiff_t n_out, ptrdiff_t out_step)                            \
{                                                                                          \
    enum { STRIP = 2 * LANES };                                                            \
    T tmp[4][STRIP];                                                                       \
    ptrdiff_t q0, t, k, i;                                                                 \
    int b;                                                                                 \
    for (q0 = 0; q0 < n_out; q0 += STRIP) {                                                \
        NAME##_vec a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};                                 \
        NAME##_vec c0 = {0}, c1 = {0}, c2 = {0}, c3 = {0};                                 \
        a0 += start[0]; c0 += start[0]; a1 += start[1]; c1 += start[1];                    \
        a2 += start[2]; c2 += start[2]; a3 += start[3]; c3 += start[3];                    \
        for (t = 0; t < n_rows; t++) {                                                     \
            const T* row = rows + t * row_len + q0;                                        \
            const T* wt = w + t * n_k * 4;                                                 \
            for (k = 0; k < n_k; k++) {                                                    \
                NAME##_vec x0, x1;                                                         \
                memcpy(&x0, row + off[k], sizeof(x0));                                     \
                memcpy(&x1, row + off[k] + LANES, sizeof(x1));                             \
                a0 += wt[4 * k] * x0; c0 += wt[4 * k] * x1;                                \
                a1 += wt[4 * k + 1] * x0; c1 += wt[4 * k + 1] * x1;                        \
                a2 += wt[4 * k + 2] * x0; c2 += wt[4 * k + 2] * x1;                        \
                a3 += wt[4 * k + 3] * x0; c3 += wt[4 * k + 3] * x1;                        \
            }                                                                              \
        }                                                                                  \
        memcpy(tmp[0], &a0, sizeof(a0)); memcpy(tmp[0] + LANES, &c0, sizeof(c0));          \
        memcpy(tmp[1], &a1, sizeof(a1)); memcpy(tmp[1] + LANES, &c1, sizeof(c1));          \
        memcpy(tmp[2], &a2, sizeof(a2)); memcpy(tmp[2] + LANES, &c2, sizeof(c2));          \
        memcpy(tmp[3], &a3, sizeof(a3)); memcpy(tmp[3] + LANES, &c3, sizeof(c3));          \
        ptrdiff_t n = n_out - q0 < STRIP ? n_out - q0 : STRIP;                             \
        for (b = 0; b < n_ch; b++) {                                                       \
            T* o = out + b * ch_stride + q0 * out_step;                                    \
            if (out_step == 1) {                                                           \
                memcpy(o, tmp[b], n * sizeof(T));                                          \
            } else {                                                                       \
                for (i = 0; i < n; i++) o[i * out_step] = tmp[b][i];                       \
            }                                                                              \
        }                                                                                  \
    }                                                                                      \
}

UX_DEFINE_ROWS(ux_direct_rows_f32, float, UX_VEC_BYTES / 4)
UX_DEFINE_ROWS(ux_direct_rows_f64, double, UX_VEC_BYTES / 8)

#endif
