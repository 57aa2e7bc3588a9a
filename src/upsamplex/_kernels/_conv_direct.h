/* Register-blocked inner loop of the direct convolution kernels (_conv.pyx).
 *
 * out[b][q] = start[b] + sum_t sum_k w[(t*n_k + k)*4 + b] * rows[t][col0 + off[k] + q]
 * for q < n_out and up to 4 output channels b, stored at out + b*ch_stride + q*out_step.
 * Each strip of 8 (float) or 4 (double) outputs of 4 channels is summed in registers
 * over every tap, in the order t, then k: a fixed order, so a result does not depend on
 * how the outputs are split between threads. Each row must be readable up to
 * col0 + off[k] + round_up(n_out, strip) for every k (the caller pads them with zeros).
 * The rows are pointers, so that a caller can keep gathered rows that the next output
 * row needs again where they are.
 * GCC/Clang vector extensions: 16-byte vectors (32 in the AVX2 build), two per strip,
 * no FMA contraction, so every build gives the plain sum's result bit for bit.
 */
#ifndef UPSAMPLEX_CONV_DIRECT_H
#define UPSAMPLEX_CONV_DIRECT_H
#include <limits.h>
#include <stddef.h>
#include <string.h>

#include "_prefetch.h"

#ifdef __AVX__
#define UX_VEC_BYTES 32
#else
#define UX_VEC_BYTES 16
#endif
/* Strip lengths the callers pad their rows for: 2 vectors of float. */
#define UX_STRIP_MAX (2 * UX_VEC_BYTES / 4)

/* One tap of the register strip: a{b} += w[b] * x[0:LANES], c{b} += w[b] * x[LANES:2*LANES]
 * for the 4 channels b. Under AVX2 it is written out in assembly: with the tap in C, GCC
 * hoisted every broadcast weight of a row's taps ahead of the products and spilled two
 * accumulators to the stack, so their sums waited on store-to-load forwarding (a strip
 * of 3 taps ran at twice the cycles of its multiplies and adds). The same multiplies and
 * adds, in the same order per accumulator, as the C tap: the same bits. */
#if defined(__AVX2__) && defined(__x86_64__) && defined(__GNUC__) && !defined(UX_NO_ASM)
#define UX_TAP_CHANNEL(BCAST, MUL, ADD, WOFF, A, C)                                        \
    BCAST " " WOFF "(%[w]), %%ymm14\n\t"                                                   \
    MUL " %%ymm12, %%ymm14, %%ymm15\n\t"                                                   \
    ADD " %%ymm15, %[" A "], %[" A "]\n\t"                                                 \
    MUL " %%ymm13, %%ymm14, %%ymm15\n\t"                                                   \
    ADD " %%ymm15, %[" C "], %[" C "]\n\t"
#define UX_TAP_ASM(T, LOAD, BCAST, MUL, ADD, W1, W2, W3, xp, wp)                           \
    __asm__(LOAD " (%[x]), %%ymm12\n\t"                                                     \
            LOAD " 32(%[x]), %%ymm13\n\t"                                                   \
            UX_TAP_CHANNEL(BCAST, MUL, ADD, "", "a0", "c0")                                \
            UX_TAP_CHANNEL(BCAST, MUL, ADD, W1, "a1", "c1")                                \
            UX_TAP_CHANNEL(BCAST, MUL, ADD, W2, "a2", "c2")                                \
            UX_TAP_CHANNEL(BCAST, MUL, ADD, W3, "a3", "c3")                                \
            : [a0] "+x"(a0), [c0] "+x"(c0), [a1] "+x"(a1), [c1] "+x"(c1),                 \
              [a2] "+x"(a2), [c2] "+x"(c2), [a3] "+x"(a3), [c3] "+x"(c3)                  \
            : [x] "r"(xp), [w] "r"(wp), "m"(*(const T(*)[64 / sizeof(T)])(xp)),            \
              "m"(*(const T(*)[4])(wp))                                                    \
            : "xmm12", "xmm13", "xmm14", "xmm15")
#define UX_TAP_float(xp, wp) \
    UX_TAP_ASM(float, "vmovups", "vbroadcastss", "vmulps", "vaddps", "4", "8", "12", xp, wp)
#define UX_TAP_double(xp, wp) \
    UX_TAP_ASM(double, "vmovupd", "vbroadcastsd", "vmulpd", "vaddpd", "8", "16", "24", xp, wp)
#define UX_TAP(T, LANES, xp, wp) UX_TAP_##T(xp, wp)
#else
#define UX_TAP UX_TAP_C
#endif
#define UX_TAP_C(T, LANES, xp, wp)                                                         \
    do {                                                                                   \
        __typeof__(a0) x0, x1;                                                             \
        memcpy(&x0, (xp), sizeof(x0));                                                     \
        memcpy(&x1, (xp) + LANES, sizeof(x1));                                             \
        a0 += (wp)[0] * x0; c0 += (wp)[0] * x1;                                            \
        a1 += (wp)[1] * x0; c1 += (wp)[1] * x1;                                            \
        a2 += (wp)[2] * x0; c2 += (wp)[2] * x1;                                            \
        a3 += (wp)[3] * x0; c3 += (wp)[3] * x1;                                            \
    } while (0)

#define UX_DEFINE_ROWS(NAME, T, LANES)                                                     \
typedef T NAME##_vec __attribute__((vector_size(UX_VEC_BYTES)));                                     \
static inline __attribute__((always_inline)) void NAME##_body(                             \
    const T* const* rows, ptrdiff_t col0, ptrdiff_t n_rows, const ptrdiff_t* off,          \
    const ptrdiff_t n_k, const T* w, const T* start, T* out, ptrdiff_t ch_stride,          \
    int n_ch, ptrdiff_t n_out, ptrdiff_t out_step)                                         \
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
            const T* row = rows[t] + col0 + q0;                                            \
            const T* wt = w + t * n_k * 4;                                                 \
            /* One tap a row (constant n_k 1) runs faster in C: GCC interleaves rows. */   \
            if (n_k == 1)                                                                  \
                UX_TAP_C(T, LANES, row + off[0], wt);                                      \
            else                                                                           \
                for (k = 0; k < n_k; k++) UX_TAP(T, LANES, row + off[k], wt + 4 * k);      \
        }                                                                                  \
        memcpy(tmp[0], &a0, sizeof(a0)); memcpy(tmp[0] + LANES, &c0, sizeof(c0));          \
        memcpy(tmp[1], &a1, sizeof(a1)); memcpy(tmp[1] + LANES, &c1, sizeof(c1));          \
        memcpy(tmp[2], &a2, sizeof(a2)); memcpy(tmp[2] + LANES, &c2, sizeof(c2));          \
        memcpy(tmp[3], &a3, sizeof(a3)); memcpy(tmp[3] + LANES, &c3, sizeof(c3));          \
        ptrdiff_t n = n_out - q0 < STRIP ? n_out - q0 : STRIP;                             \
        for (b = 0; b < n_ch; b++) {                                                       \
            T* o = out + b * ch_stride + q0 * out_step;                                    \
            if (out_step == 1 && n == STRIP) {                                             \
                memcpy(o, tmp[b], sizeof(tmp[b]));  /* constant size: vector moves */      \
            } else if (out_step == 1) {                                                    \
                memcpy(o, tmp[b], n * sizeof(T));                                          \
            } else {                                                                       \
                for (i = 0; i < n; i++) o[i * out_step] = tmp[b][i];                       \
            }                                                                              \
        }                                                                                  \
    }                                                                                      \
}                                                                                          \
/* Constant tap counts 1-4 (kernel widths, or a stride phase's share of them): loops the \
 * compiler unrolls, without a counter or a branch per tap. */                              \
static void NAME(const T* const* rows, ptrdiff_t col0, ptrdiff_t n_rows,                   \
                 const ptrdiff_t* off,                                                     \
                 ptrdiff_t n_k, const T* w, const T* start, T* out, ptrdiff_t ch_stride,   \
                 int n_ch, ptrdiff_t n_out, ptrdiff_t out_step)                            \
{                                                                                          \
    switch (n_k) {                                                                         \
    case 1: NAME##_body(UX_ROWS_ARGS(1)); break;                                           \
    case 2: NAME##_body(UX_ROWS_ARGS(2)); break;                                           \
    case 3: NAME##_body(UX_ROWS_ARGS(3)); break;                                           \
    case 4: NAME##_body(UX_ROWS_ARGS(4)); break;                                           \
    default: NAME##_body(UX_ROWS_ARGS(n_k)); break;                                        \
    }                                                                                      \
}

#define UX_ROWS_ARGS(K) rows, col0, n_rows, off, K, w, start, out, ch_stride, n_ch, n_out, out_step
UX_DEFINE_ROWS(ux_direct_rows_f32, float, UX_VEC_BYTES / 4)
UX_DEFINE_ROWS(ux_direct_rows_f64, double, UX_VEC_BYTES / 8)

/* Register-blocked weight-gradient kernel (direct_grad_weight in _conv.pyx).
 *
 * f[k*f_stride + b*8 + l] += sum over strips j of g[b*g_stride + 8j + l] * x[off[k] + 8j + l]
 * (or f = that sum, or the float64 lanes += f + that sum: see UX_GW_STORE) for n_m <= 4
 * output channels b, n_k <= 4 taps k and the 8 lanes l, over q = 8j + l < n_out.
 * Each (b, k) pair keeps one 8-lane vector in registers for the whole row, so a row of
 * ``x`` and of each ``g`` is loaded once per strip for all the pairs (the dot-product
 * form loaded both once per pair). The lanes are fixed (8, whatever the vector width of
 * the build): each lane's sum depends on the data only, so the result does not depend on
 * the build, the blocking or the thread count. A row's last partial strip is summed as
 * its last 8 outputs with the lanes summed before masked off (lane l then takes output
 * n_out - 8 + l); a row shorter than 8 masks the lanes past it (also where ``x`` there
 * is inf or NaN). ``x`` must be readable up to off[k] + round_up(n_out, 8); ``g`` up to
 * n_out only.
 */
#define UX_GW_LANES 8

/* Named accumulators (rather than an array) so that they stay in registers; the
 * conditions are constants once the body is inlined with constant n_m and n_k. */
/* Each g and x vector is used by several products: GCC folded them into the multiplies
 * as memory operands, loading every x vector once per channel (10 loads a step where 6
 * do, and the step was load-bound). An empty asm that needs the value in a register
 * keeps one load each. Only for blocks of 4 taps (2 channels: 8 accumulators, 6 vectors),
 * where it measured 14-16% faster; the wider blocks of fewer taps ran 9-15% slower
 * pinned (spills). For float under AVX only (UX_GW_LOADG_PIN): elsewhere the 8-lane
 * vectors take two registers each. */
#if defined(__AVX__) && defined(__GNUC__)
#define UX_GW_PIN(v) __asm__("" : "+x"(v))
#else
#define UX_GW_PIN(v) ((void)0)
#endif
#define UX_GW_ALL(M)                                                                       \
    M(0, 0) M(0, 1) M(0, 2) M(0, 3) M(1, 0) M(1, 1) M(1, 2) M(1, 3)                        \
    M(2, 0) M(2, 1) M(2, 2) M(2, 3) M(3, 0) M(3, 1) M(3, 2) M(3, 3)
#define UX_GW_ROWS(M) M(0) M(1) M(2) M(3)

/* One step of every (channel b, tap k) pair; V and MK are the body's vector types. */
#define UX_GW_DECL(b, k) V a##b##k = {0};
#define UX_GW_LOADG(b) if (b < n_m) memcpy(&g##b, g + b * g_stride + q, sizeof(V));
#define UX_GW_LOADX(k) if (k < n_k) memcpy(&x##k, xk[k] + q, sizeof(V));
#define UX_GW_LOADG_PIN(b)                                                                 \
    if (b < n_m) {                                                                         \
        memcpy(&g##b, g + b * g_stride + q, sizeof(V));                                    \
        if (n_k == 4) UX_GW_PIN(g##b);                                                     \
    }
#define UX_GW_LOADX_PIN(k)                                                                 \
    if (k < n_k) {                                                                         \
        memcpy(&x##k, xk[k] + q, sizeof(V));                                               \
        if (n_k == 4) UX_GW_PIN(x##k);                                                     \
    }
#define UX_GW_MAC(b, k) if (b < n_m && k < n_k) a##b##k += g##b * x##k;
#define UX_GW_TAILG(b)                                                                     \
    if (b < n_m) {                                                                         \
        g##b = (V){0};                                                                     \
        memcpy(&g##b, g + b * g_stride + q, (size_t)(n_out - q) * sizeof(g##b[0]));       \
    }
#define UX_GW_MASKED(b, k) if (b < n_m && k < n_k) a##b##k += (V)((MK)(g##b * x##k) & mask);
/* Store modes (``mode`` bits) of a call's lane sums a: f = a (UX_GW_FIRST_CALL, the first
 * call of a group: f needs no zeroing) or f + a; the last call of a group adds that
 * straight into the float64 lanes instead of storing it, or stores it there
 * (UX_GW_FIRST_GROUP, the first group of a block: the lanes need no zeroing either). A
 * sum that starts at +0 never becomes -0, so 0 + a is a, bit for bit. */
#define UX_GW_FIRST_CALL 1
#define UX_GW_FIRST_GROUP 2
#define UX_GW_STORE(b, k)                                                                  \
    if (b < n_m && k < n_k) {                                                              \
        V fv = a##b##k;                                                                    \
        __typeof__(f) fp = f + k * f_stride + b * UX_GW_LANES;                             \
        if (!(mode & UX_GW_FIRST_CALL)) {                                                  \
            memcpy(&fv, fp, sizeof(V));                                                    \
            fv += a##b##k;                                                                 \
        }                                                                                  \
        if (lanes != NULL) {                                                               \
            ux_gw_d8 lv, fd = __builtin_convertvector(fv, ux_gw_d8);                       \
            double* lp = lanes + k * f_stride + b * UX_GW_LANES;                           \
            if (mode & UX_GW_FIRST_GROUP) {                                                \
                lv = fd;                                                                   \
            } else {                                                                       \
                memcpy(&lv, lp, sizeof(lv));                                               \
                lv += fd;                                                                  \
            }                                                                              \
            memcpy(lp, &lv, sizeof(lv));                                                   \
        } else {                                                                           \
            memcpy(fp, &fv, sizeof(V));                                                    \
        }                                                                                  \
    }
typedef double ux_gw_d8 __attribute__((vector_size(UX_GW_LANES * sizeof(double))));

#define UX_DEFINE_GW(NAME, T, IT, LOADG, LOADX)                                                          \
typedef T NAME##_v __attribute__((vector_size(UX_GW_LANES * sizeof(T))));                  \
typedef IT NAME##_m __attribute__((vector_size(UX_GW_LANES * sizeof(T))));                 \
/* lanes + 8 - n: n zeros, then ones (-1); lanes + 16 - n: n ones, then zeros. */         \
static const IT NAME##_lanes[3 * UX_GW_LANES] = {0, 0, 0, 0, 0, 0, 0, 0,                   \
                                                 -1, -1, -1, -1, -1, -1, -1, -1};          \
static inline __attribute__((always_inline)) void NAME##_body(                             \
    const T* x_rows, ptrdiff_t x_stride, ptrdiff_t n_rows, const ptrdiff_t* off,           \
    const T* const* g_rows, ptrdiff_t g_first, ptrdiff_t g_stride, ptrdiff_t n_out,        \
    T* f, ptrdiff_t f_stride, const int mode, double* lanes, const int n_m,               \
    const int n_k)                                                                         \
{                                                                                          \
    typedef NAME##_v V;                                                                    \
    typedef NAME##_m MK;                                                                   \
    MK mask;                                                                               \
    ptrdiff_t q, i, full = n_out / UX_GW_LANES * UX_GW_LANES;                              \
    const T* xk[4];                                                                        \
    const T* g;                                                                            \
    int k;                                                                                 \
    /* The partial strip: the last 8 outputs once more with the lanes already summed     \
     * masked off (nothing is read past the row); or, in a row shorter than 8, the lanes  \
     * past it masked (x there may be inf or NaN). */                                     \
    if (n_out >= UX_GW_LANES)                                                              \
        memcpy(&mask, NAME##_lanes + n_out - full, sizeof(mask));                          \
    else                                                                                   \
        memcpy(&mask, NAME##_lanes + 2 * UX_GW_LANES - n_out, sizeof(mask));              \
    _Pragma("GCC diagnostic push")                                                         \
    _Pragma("GCC diagnostic ignored \"-Wuninitialized\"")                                  \
    UX_GW_ALL(UX_GW_DECL)                                                                  \
    for (i = 0; i < n_rows; i++) {                                                         \
        g = g_rows[i] + g_first;                                                           \
        for (k = 0; k < 4; k++) xk[k] = x_rows + i * x_stride + (k < n_k ? off[k] : 0);    \
        for (q = 0; q < full; q += UX_GW_LANES) {                                          \
            V x0, x1, x2, x3, g0, g1, g2, g3;                                              \
            UX_GW_ROWS(LOADG)                                                              \
            UX_GW_ROWS(LOADX)                                                              \
            UX_GW_ALL(UX_GW_MAC)                                                           \
        }                                                                                  \
        if (full < n_out) {                                                                \
            V x0, x1, x2, x3, g0, g1, g2, g3;                                              \
            if (n_out >= UX_GW_LANES) {                                                    \
                q = n_out - UX_GW_LANES;                                                   \
                UX_GW_ROWS(UX_GW_LOADG)                                                    \
            } else {                                                                       \
                q = 0;                                                                     \
                UX_GW_ROWS(UX_GW_TAILG)                                                    \
            }                                                                              \
            UX_GW_ROWS(UX_GW_LOADX)                                                        \
            UX_GW_ALL(UX_GW_MASKED)                                                        \
        }                                                                                  \
    }                                                                                      \
    UX_GW_ALL(UX_GW_STORE)                                                                 \
    _Pragma("GCC diagnostic pop")                                                          \
}                                                                                          \
static void NAME##_block(const T* x_rows, ptrdiff_t x_stride, ptrdiff_t n_rows,            \
                         const ptrdiff_t* off, int n_k, const T* const* g_rows,            \
                         ptrdiff_t g_first, ptrdiff_t g_stride, int n_m, ptrdiff_t n_out,  \
                         T* f, ptrdiff_t f_stride, int mode, double* lanes)               \
{                                                                                          \
    /* Constant block sizes, so that the accumulators live in registers. */               \
    switch (n_m * 8 + n_k) {                                                               \
    case 8 + 1: NAME##_body(UX_GW_ARGS, 1, 1); break;                                     \
    case 8 + 2: NAME##_body(UX_GW_ARGS, 1, 2); break;                                     \
    case 8 + 3: NAME##_body(UX_GW_ARGS, 1, 3); break;                                     \
    case 8 + 4: NAME##_body(UX_GW_ARGS, 1, 4); break;                                     \
    case 16 + 1: NAME##_body(UX_GW_ARGS, 2, 1); break;                                    \
    case 16 + 2: NAME##_body(UX_GW_ARGS, 2, 2); break;                                    \
    case 16 + 3: NAME##_body(UX_GW_ARGS, 2, 3); break;                                    \
    case 16 + 4: NAME##_body(UX_GW_ARGS, 2, 4); break;                                    \
    case 24 + 1: NAME##_body(UX_GW_ARGS, 3, 1); break;                                    \
    case 24 + 2: NAME##_body(UX_GW_ARGS, 3, 2); break;                                    \
    case 24 + 3: NAME##_body(UX_GW_ARGS, 3, 3); break;                                    \
    case 24 + 4: NAME##_body(UX_GW_ARGS, 3, 4); break;                                    \
    case 32 + 1: NAME##_body(UX_GW_ARGS, 4, 1); break;                                    \
    case 32 + 2: NAME##_body(UX_GW_ARGS, 4, 2); break;                                    \
    case 32 + 3: NAME##_body(UX_GW_ARGS, 4, 3); break;                                    \
    default: NAME##_body(UX_GW_ARGS, 4, 4); break;                                         \
    }                                                                                      \
}                                                                                          \
/* Every tap k < n_taps and channel b < n_m, summed over n_rows rows i (x_rows +         \
 * i*x_stride against g_rows[i] + g_first + b*g_stride): with s the lane l sums of the    \
 * products and i = k*f_stride + b*8 + l, f[i] = (first call ? 0 : f[i]) + s, or with    \
 * lanes (not NULL) lanes[i] = (first group ? 0 : lanes[i]) + that instead (UX_GW_STORE). */\
static void NAME(const T* x_rows, ptrdiff_t x_stride, ptrdiff_t n_rows,                    \
                 const ptrdiff_t* off, ptrdiff_t n_taps, const T* const* g_rows,           \
                 ptrdiff_t g_first, ptrdiff_t g_stride, ptrdiff_t n_m, ptrdiff_t n_out,    \
                 T* f, ptrdiff_t f_stride, int mode, double* lanes)                       \
{                                                                                          \
    ptrdiff_t k0, m0;                                                                      \
    for (k0 = 0; k0 < n_taps; k0 += 4) {                                                   \
        int n_k = n_taps - k0 < 4 ? (int)(n_taps - k0) : 4;                                \
        /* About 8-12 accumulators, room left for the g and x vectors (16 registers). */  \
        int block = n_k <= 2 ? 4 : (n_k == 3 ? 3 : 2);                                     \
        for (m0 = 0; m0 < n_m; m0 += block) {                                              \
            int b = n_m - m0 < block ? (int)(n_m - m0) : block;                            \
            NAME##_block(x_rows, x_stride, n_rows, off + k0, n_k, g_rows,                  \
                         g_first + m0 * g_stride, g_stride, b, n_out,                      \
                         f + k0 * f_stride + m0 * UX_GW_LANES, f_stride, mode,             \
                         lanes ? lanes + k0 * f_stride + m0 * UX_GW_LANES : NULL);         \
        }                                                                                  \
    }                                                                                      \
}

#define UX_GW_ARGS \
    x_rows, x_stride, n_rows, off, g_rows, g_first, g_stride, n_out, f, f_stride, mode, lanes
UX_DEFINE_GW(ux_direct_gw_f32, float, int, UX_GW_LOADG_PIN, UX_GW_LOADX_PIN)
UX_DEFINE_GW(ux_direct_gw_f64, double, long long, UX_GW_LOADG, UX_GW_LOADX)

/* Stride phases of a zero-padded source row, for the direct kernels:
 * out[ph*phase_len + u] = row[u*step + ph - lead] where that lies in [0, n), else 0,
 * for ph < step and u < phase_len. Every row of a kernel call has the same geometry, so
 * its interior [lo, hi) (the u whose sources lie inside the row in every phase) is worked
 * out once, in a ux_split plan: per row, two integer divisions were a fifth of the work. */
/* Entries outside the interior a plan lists one by one (else they are walked per phase). */
#define UX_SPLIT_EDGES 32

typedef struct {
    ptrdiff_t n, lead, step, phase_len, lo, hi;
    /* out[edge_dst[e]] = edge_src[e] < 0 ? 0 : row[edge_src[e]]; n_edge < 0: too many. */
    int n_edge;
    int edge_dst[UX_SPLIT_EDGES], edge_src[UX_SPLIT_EDGES];
} ux_split;

static inline ux_split ux_split_plan(ptrdiff_t n, ptrdiff_t lead, ptrdiff_t step,
                                     ptrdiff_t phase_len)
{
    ux_split s;
    ptrdiff_t ph, u, src;
    s.n = n;
    s.lead = lead;
    s.step = step;
    s.phase_len = phase_len;
    /* Interior: u*step - lead >= 0 and u*step + step - 1 - lead < n. */
    s.lo = lead > 0 ? (lead + step - 1) / step : 0;
    s.hi = n + lead - step >= 0 ? (n + lead - step) / step + 1 : 0;
    if (s.hi > phase_len) s.hi = phase_len;
    if (s.lo > s.hi) s.lo = s.hi;
    s.n_edge = 0;
    if (step * (s.lo + phase_len - s.hi) > UX_SPLIT_EDGES || n > INT_MAX
        || step * phase_len > INT_MAX) {
        s.n_edge = -1;
        return s;
    }
    for (ph = 0; ph < step; ph++) {
        for (u = 0; u < phase_len; u++) {
            if (u == s.lo) u = s.hi;
            if (u >= phase_len) break;
            src = u * step + ph - lead;
            s.edge_dst[s.n_edge] = (int)(ph * phase_len + u);
            s.edge_src[s.n_edge] = src >= 0 && src < n ? (int)src : -1;
            s.n_edge++;
        }
    }
    return s;
}

/* Stride 2 splits two vectors of inputs at a time into even and odd lanes with two
 * shuffles each (an in-lane pick, then a swap of the middle 64-bit pairs: vshufps and
 * vpermd under AVX2); copies, so any build gives the same values. */
#define UX_ARGS(...) __VA_ARGS__
#define UX_DEFINE_SPLIT(NAME, T, LANES, PICK_E, PICK_O, SWAP)                              \
typedef T NAME##_v __attribute__((vector_size(LANES * sizeof(T))));                        \
static void NAME(const T* row, const ux_split* sp, T* out)                                 \
{                                                                                          \
    const ptrdiff_t n = sp->n, lead = sp->lead, step = sp->step;                           \
    const ptrdiff_t phase_len = sp->phase_len, lo = sp->lo, hi = sp->hi;                   \
    ptrdiff_t u, ph, s;                                                                    \
    int e;                                                                                 \
    if (sp->n_edge >= 0) {                                                                 \
        for (e = 0; e < sp->n_edge; e++)                                                   \
            out[sp->edge_dst[e]] = sp->edge_src[e] < 0 ? 0 : row[sp->edge_src[e]];         \
    } else {                                                                               \
        for (ph = 0; ph < step; ph++) {                                                    \
            T* o = out + ph * phase_len;                                                   \
            for (u = 0; u < lo; u++) {                                                     \
                s = u * step + ph - lead;                                                  \
                o[u] = s >= 0 && s < n ? row[s] : 0;                                       \
            }                                                                              \
            for (u = hi; u < phase_len; u++) {                                             \
                s = u * step + ph - lead;                                                  \
                o[u] = s >= 0 && s < n ? row[s] : 0;                                       \
            }                                                                              \
        }                                                                                  \
    }                                                                                      \
    if (step == 1) {                                                                       \
        if (hi > lo) memcpy(out + lo, row + lo - lead, (size_t)(hi - lo) * sizeof(T));     \
        return;                                                                            \
    }                                                                                      \
    u = lo;                                                                                \
    if (step == 2 && hi - lo >= LANES) {                                                   \
        /* The last block overlaps the one before it rather than leaving a short tail. */ \
        for (;; u += LANES) {                                                              \
            NAME##_v a, b, even, odd;                                                      \
            if (u + LANES > hi) u = hi - LANES;                                            \
            memcpy(&a, row + 2 * u - lead, sizeof(a));                                     \
            memcpy(&b, row + 2 * u - lead + LANES, sizeof(b));                             \
            even = __builtin_shufflevector(a, b, PICK_E);                                  \
            odd = __builtin_shufflevector(a, b, PICK_O);                                   \
            even = __builtin_shufflevector(even, even, SWAP);                              \
            odd = __builtin_shufflevector(odd, odd, SWAP);                                 \
            memcpy(out + u, &even, sizeof(even));                                          \
            memcpy(out + phase_len + u, &odd, sizeof(odd));                                \
            if (u + LANES >= hi) break;                                                    \
        }                                                                                  \
        return;                                                                            \
    }                                                                                      \
    for (ph = 0; ph < step; ph++) {                                                        \
        T* o = out + ph * phase_len;                                                       \
        const T* src = row + ph - lead;                                                    \
        ptrdiff_t v;                                                                       \
        for (v = u; v < hi; v++) o[v] = src[v * step];                                     \
    }                                                                                      \
}

UX_DEFINE_SPLIT(ux_split_phases_f32, float, 8, UX_ARGS(0, 2, 8, 10, 4, 6, 12, 14),
                UX_ARGS(1, 3, 9, 11, 5, 7, 13, 15), UX_ARGS(0, 1, 4, 5, 2, 3, 6, 7))
UX_DEFINE_SPLIT(ux_split_phases_f64, double, 4, UX_ARGS(0, 4, 2, 6), UX_ARGS(1, 5, 3, 7),
                UX_ARGS(0, 2, 1, 3))


#endif
