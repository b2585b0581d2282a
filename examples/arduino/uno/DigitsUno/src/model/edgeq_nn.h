/*
 * edgeq portable int8 kernels (C99, no malloc, no float in the int8 path).
 *
 * The API has the same shape as CMSIS-NN (arm_nnfunctions.h): the same parameter structs and field names under an
 * edgeq_ / EDGEQ_ prefix, and functions whose arguments mirror arm_convolve_wrapper_s8, arm_depthwise_conv_wrapper_s8,
 * arm_fully_connected_s8, arm_avgpool_s8, arm_max_pool_s8, arm_elementwise_add_s8, arm_elementwise_mul_s8,
 * arm_softmax_s8, arm_pad_s8 (+ elem_size). The arithmetic is the one of the TensorFlow Lite Micro reference kernels
 * (double-rounding requantization, gemmlowp fixed-point exp/logistic), so the results are bit-exact with TFLM.
 *
 * Constant data (weights, biases, multipliers, shifts) is read through EDGEQ_W8 / EDGEQ_W32, which read flash on AVR
 * (PROGMEM + pgm_read_*) and dereference everywhere else. Activations are always plain RAM pointers.
 * All sizes are int32_t: `int` is 16 bits on AVR.
 */
#ifndef EDGEQ_NN_H
#define EDGEQ_NN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- constant data in flash ---------------------------------------------------------------------------------- */
#if defined(__AVR__)
#include <avr/pgmspace.h>
#define EDGEQ_CONST_DATA PROGMEM
#define EDGEQ_W8(p) ((int8_t)pgm_read_byte(p))
#define EDGEQ_W32(p) ((int32_t)pgm_read_dword(p))
#define EDGEQ_W64(p) edgeq_w64_flash((const void *)(p))
/* an int64 from flash (int16x8 biases): two dwords, little-endian */
static inline int64_t edgeq_w64_flash(const void *p)
{
    const uint32_t lo = pgm_read_dword(p);
    const uint32_t hi = pgm_read_dword((const uint8_t *)p + 4);
    return (int64_t)(((uint64_t)hi << 32) | lo);
}
#else
#define EDGEQ_CONST_DATA
#define EDGEQ_W8(p) (*(const int8_t *)(p))
#define EDGEQ_W32(p) (*(const int32_t *)(p))
#define EDGEQ_W64(p) (*(const int64_t *)(p))
#endif

#if defined(__GNUC__) || defined(__clang__)
#define EDGEQ_ALIGNED(n) __attribute__((aligned(n)))
/* a per-element helper that must be inlined into its loop (a call per element costs more than its arithmetic) */
#define EDGEQ_ALWAYS_INLINE static inline __attribute__((always_inline))
#else
#define EDGEQ_ALIGNED(n)
#define EDGEQ_ALWAYS_INLINE static inline
#endif

#define EDGEQ_OK 0
#define EDGEQ_ARG_ERROR (-1)
typedef int32_t edgeq_status;

/* ---- parameter structs (field-for-field the CMSIS-NN ones) ------------------------------------------------- */
typedef struct { int32_t w; int32_t h; } edgeq_tile;
typedef struct { void *buf; int32_t size; } edgeq_context;
typedef struct { int32_t n; int32_t h; int32_t w; int32_t c; } edgeq_dims;
typedef struct { const int32_t *multiplier; const int32_t *shift; } edgeq_per_channel_quant_params;
typedef struct { int32_t multiplier; int32_t shift; } edgeq_per_tensor_quant_params;
typedef struct { int32_t min; int32_t max; } edgeq_activation;
typedef struct {
    int32_t input_offset;  /* -input zero point */
    int32_t output_offset; /* +output zero point */
    edgeq_tile stride;
    edgeq_tile padding;
    edgeq_tile dilation;
    edgeq_activation activation;
} edgeq_conv_params;
typedef struct {
    int32_t input_offset;
    int32_t output_offset;
    int32_t ch_mult;
    edgeq_tile stride;
    edgeq_tile padding;
    edgeq_tile dilation;
    edgeq_activation activation;
} edgeq_dw_conv_params;
typedef struct {
    edgeq_tile stride;
    edgeq_tile padding;
    edgeq_activation activation;
} edgeq_pool_params;
typedef struct {
    int32_t input_offset;
    int32_t filter_offset;
    int32_t output_offset;
    edgeq_activation activation;
} edgeq_fc_params;

/* bias of the int16x8 convolution (cmsis_nn_bias_data): int64 values, or int32 ones when is_int32_bias */
typedef struct {
    const void *data;
    int32_t is_int32_bias;
} edgeq_bias_data;

/* ---- fixed-point helpers (TFLM / gemmlowp semantics, defined in edgeq_nn_support.c) -------------------------- */
/* gemmlowp SaturatingRoundingDoublingHighMul */
int32_t edgeq_srdhm(int32_t a, int32_t b);
/* gemmlowp RoundingDivideByPOT, exponent in [0, 31] */
int32_t edgeq_rdbpot(int32_t x, int32_t exponent);
/* TFLM MultiplyByQuantizedMultiplier (double rounding); shift > 0 is a left shift */
int32_t edgeq_requantize(int32_t x, int32_t multiplier, int32_t shift);
/* TFLM MultiplyByQuantizedMultiplierSmallerThanOneExp (shift <= 0) */
int32_t edgeq_requantize_lt1(int32_t x, int32_t multiplier, int32_t left_shift);
/* TFLM MultiplyByQuantizedMultiplierGreaterThanOne (shift >= 0) */
int32_t edgeq_requantize_gt1(int32_t x, int32_t multiplier, int32_t left_shift);
/* gemmlowp exp_on_negative_values for a Q(integer_bits).(31-integer_bits) input; result Q0.31 */
int32_t edgeq_exp_on_negative_values(int32_t a, int32_t integer_bits);
/* gemmlowp one_over_one_plus_x_for_x_in_0_1 (Q0.31 in and out) */
int32_t edgeq_one_over_one_plus_x_for_x_in_0_1(int32_t a);
/* gemmlowp one_minus_x_over_one_plus_x_for_x_in_0_1 (Q0.31 in and out) */
int32_t edgeq_one_minus_x_over_one_plus_x_for_x_in_0_1(int32_t a);

/* ---- output writer of the window kernels (conv, depthwise, pooling) ----------------------------------------------
 * Writes output bytes in memory order: directly, or - when the output overwrites the kernel's own input and
 * ctx->size > 0 - through a delay ring of ctx->size bytes in ctx->buf, so that an output byte reaches memory only
 * after every input byte at or below its position has been read for the last time. The compiler computes the ring
 * size exactly for each layer's loop order (edgeq/compiler/ops/base.py inplace_delay). */
typedef struct {
    int8_t *out;
    int8_t *ring;
    int32_t size;
    int32_t pos;  /* bytes produced so far */
    int32_t slot; /* next ring slot */
} edgeq_out_writer;
void edgeq_ow_init(edgeq_out_writer *w, int8_t *out, const edgeq_context *ctx);
void edgeq_ow_flush(edgeq_out_writer *w);
/* n output bytes at once (the same as n calls of edgeq_ow_put, in fewer instructions) */
void edgeq_ow_put_n(edgeq_out_writer *w, const int8_t *src, int32_t n);

/* One output byte (inline: it runs once per output element, and the common case is a plain store). */
static inline void edgeq_ow_put(edgeq_out_writer *w, int8_t v)
{
    if (w->size == 0) {
        w->out[w->pos++] = v;
        return;
    }
    if (w->pos >= w->size) {
        w->out[w->pos - w->size] = w->ring[w->slot]; /* the oldest held-back byte is now safe to store */
    }
    w->ring[w->slot] = v;
    w->slot = w->slot + 1 == w->size ? 0 : w->slot + 1;
    ++w->pos;
}

/* DSP extension (Cortex-M4/M7/M33/M55...; not when EDGEQ_NO_DSP is defined, as --target host builds do): the kernels use the two-lane 16-bit multiply-accumulates of ACLE
 * (<arm_acle.h>) on four int8 values loaded as one 32-bit word. Every other target (AVR, M0+, RISC-V, x86) runs the
 * plain C loops, which compute the same sums. */
#if !defined(EDGEQ_NO_DSP) && defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__ARM_FEATURE_SIMD32) && \
    __ARM_FEATURE_SIMD32
#define EDGEQ_USE_DSP 1
#include <arm_acle.h>
#include <string.h>
/* four int8 from any address (memcpy compiles to one unaligned LDR) */
static inline int32_t edgeq_load4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}
/* rotate right by 8 bits: brings bytes 1 and 3 to the positions __sxtb16 extends (ACLE has no __ror) */
static inline int32_t edgeq_ror8(int32_t v)
{
    return (int32_t)(((uint32_t)v >> 8) | ((uint32_t)v << 24));
}
#else
#define EDGEQ_USE_DSP 0
#endif

/* Helium (M-profile vector extension, integer: Cortex-M55/M85): edgeq_convolve_1x1_mve_s8 takes 16 int8 per vector
 * instruction (the compiler calls it for --target cortex-m55, with its weights in natural order). */
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#define EDGEQ_USE_MVE 1
#include <arm_mve.h>
#else
#define EDGEQ_USE_MVE 0
#endif

/* ---- inline helpers of the hot loops -------------------------------------------------------------------------- */

/* ARMv6-M (Cortex-M0/M0+/M1) has no 32x32 -> 64-bit multiply: a 64-bit product is a call of libgcc's __aeabi_lmul
 * (about 45 instructions). There the requantizations below use edgeq_high_mul, four 32-bit multiplies of 16-bit
 * halves, instead. Defining EDGEQ_MUL32_ONLY to 1 forces that path on any target (the tests do, on the host). */
#ifndef EDGEQ_MUL32_ONLY
#if !EDGEQ_USE_DSP && defined(__ARM_ARCH_6M__)
#define EDGEQ_MUL32_ONLY 1
#else
#define EDGEQ_MUL32_ONLY 0
#endif
#endif

/* floor((a m + 2^30) / 2^31) for int32 a and m = mh 2^16 + ml (ml in [0, 2^16), mh = m >> 16), except a = m =
 * INT32_MIN (2^31 does not fit), with 32-bit multiplies only. With a = ah 2^16 + al (al = a & 0xFFFF, ah = a >> 16),
 * p = al ml (< 2^32, unsigned), m1 = ah ml and m2 = al mh (|m1|, |m2| < 2^31):
 *   a m + 2^30 = ah mh 2^32 + (m1 + m2 + (p >> 16) + 2^14) 2^16 + (p & 0xFFFF),
 * and floor((Y 2^16 + r) / 2^31) = floor(Y / 2^15) for 0 <= r < 2^16, so the result is
 *   2 ah mh + (m1 >> 15) + (m2 >> 15) + (((m1 & 0x7FFF) + (m2 & 0x7FFF) + (p >> 16) + 2^14) >> 15)
 * (>> floors; the last sum is < 2^17). Every term is exact; the sum is taken modulo 2^32 and the true result fits
 * in int32, so it is exact too. Checked against the 64-bit form by tests/test_requantize.py. */
static inline int32_t edgeq_high_mul(int32_t a, int32_t ml, int32_t mh)
{
    /* 16-bit operand types: a 16 x 16 -> 32-bit multiply where the target has one (AVR's __mulhisi3) */
    const uint16_t al = (uint16_t)((uint32_t)a & 0xFFFFu);
    const int16_t ah = (int16_t)(a >> 16);
    const uint16_t ml16 = (uint16_t)ml;
    const int16_t mh16 = (int16_t)mh;
    const uint32_t p = (uint32_t)al * (uint32_t)ml16;
    const int32_t m1 = (int32_t)ah * (int32_t)ml16;
    const int32_t m2 = (int32_t)al * (int32_t)mh16;
    const uint32_t low = ((uint32_t)m1 & 0x7FFFu) + ((uint32_t)m2 & 0x7FFFu) + (p >> 16) + 0x4000u;
    return (int32_t)((uint32_t)((int32_t)ah * (int32_t)mh16) * 2u + (uint32_t)(m1 >> 15) + (uint32_t)(m2 >> 15) +
                     (low >> 15));
}

/* edgeq_requantize, inline (it runs once per output element of every conv / depthwise / FC), exact for every input.
 * TFLM's SaturatingRoundingDoublingHighMul is (ab + nudge) / 2^31 truncated toward zero, nudge = 2^30 for ab >= 0 and
 * 1 - 2^30 for ab < 0. That equals floor((ab + 2^30) / 2^31) for every ab: for ab >= 0 both are the same floor; for
 * n = -ab > 0, TFLM gives -floor((n + 2^30 - 1) / 2^31) and the floor gives -ceil((n - 2^30) / 2^31), and
 * ceil(m / d) = floor((m + d - 1) / d) makes them equal. So one 64-bit multiply-accumulate and an arithmetic shift
 * (SMLAL + 2 on Cortex-M) replace the branches; only a = b = INT32_MIN saturates. RoundingDivideByPOT follows as
 * in TFLM (mask, remainder, threshold). */
static inline int32_t edgeq_requantize_fast(int32_t x, int32_t multiplier, int32_t shift)
{
    const int32_t left_shift = shift > 0 ? shift : 0;
    const int32_t right_shift = shift > 0 ? 0 : -shift;
    const int32_t a = (int32_t)((uint32_t)x * ((uint32_t)1 << left_shift)); /* wraps like the reference */
    int32_t high;
    if (a == INT32_MIN && multiplier == INT32_MIN) {
        high = INT32_MAX; /* the one saturating case of SaturatingRoundingDoublingHighMul */
    } else {
#if EDGEQ_MUL32_ONLY
        high = edgeq_high_mul(a, multiplier & 0xFFFF, multiplier >> 16);
#else
        high = (int32_t)(((int64_t)a * (int64_t)multiplier + ((int64_t)1 << 30)) >> 31);
#endif
    }
    if (right_shift == 0) {
        return high;
    } else {
        /* RoundingDivideByPOT: round half away from zero */
        const int32_t mask = (int32_t)(((uint32_t)1 << right_shift) - 1);
        const int32_t remainder = high & mask;
        const int32_t threshold = (mask >> 1) + (high < 0 ? 1 : 0);
        return (high >> right_shift) + (remainder > threshold ? 1 : 0);
    }
}

/* edgeq_requantize for a multiplier m >= 2^30 (what TFLM's QuantizeMultiplier makes for every non-zero scale) and
 * inputs the compiler bounds: a = x * 2^left_shift fits in int32 and |a| m / 2^31 + 1 + 2^(right_shift - 1) <
 * 2^31 - 1 (it proves both from the constants before choosing a kernel that calls this; edgeq/compiler/ops/conv.py
 * bounded_requantization, which also turns a zero multiplier into an equivalent one). Then:
 * - high = floor((a m + 2^30) / 2^31) (SaturatingRoundingDoublingHighMul, see edgeq_requantize_fast) =
 *   floor((a 2^32 + a (2m - 2^32) + 2^31) / 2^32): one SMMLAR of a by the int32 2m - 2^32, accumulating a (exact for
 *   every int32 a); 64-bit arithmetic without the DSP extension;
 * - |high| <= |a| m / 2^31 + 1, so RoundingDivideByPOT(high, e) = (high + 2^(e-1) - [high < 0]) >> e without
 *   overflow (round half away from zero: for high >= 0 the half rounds up, for high < 0 an exact half does not).
 * Checked against edgeq_requantize by tests/test_requantize.py (every multiplier of the MLPerf Tiny models). */
static inline int32_t edgeq_requantize_bounded(int32_t x, int32_t multiplier, int32_t shift)
{
    int32_t high;
    if (shift > 0) {
        x = (int32_t)((uint32_t)x << shift);
        shift = 0;
    }
#if EDGEQ_USE_DSP && (defined(__GNUC__) || defined(__clang__))
    __asm__("smmlar %0, %1, %2, %3" : "=r"(high) : "r"(x), "r"((int32_t)((uint32_t)multiplier << 1)), "r"(x));
#elif EDGEQ_MUL32_ONLY
    high = edgeq_high_mul(x, multiplier & 0xFFFF, multiplier >> 16);
#else
    high = (int32_t)(((int64_t)x * (int64_t)multiplier + ((int64_t)1 << 30)) >> 31);
#endif
    if (shift < 0) {
        high = (high + (int32_t)((uint32_t)1 << (-shift - 1)) + (high >> 31)) >> -shift;
    }
    return high;
}

#if EDGEQ_USE_MVE
/* edgeq_requantize on 4 lanes with Helium (per-lane multiplier and shift), exact for every input:
 * - x * 2^left_shift wraps like the reference (VSHL by register, not saturating);
 * - SaturatingRoundingDoublingHighMul is VQRDMULH: (2ab + 2^31) >> 32 = floor((ab + 2^30) / 2^31), which equals
 *   TFLM's for every ab (see edgeq_requantize_fast), saturating only for a = b = INT32_MIN as TFLM does;
 * - RoundingDivideByPOT(high, e): VRSHL by -e rounds half up; 1 is subtracted first from a negative high when e > 0
 *   (the sign bit of high & -e), which makes it round half away from zero: with high = q 2^e + r, floor((high - 1 +
 *   2^(e-1)) / 2^e) = q + [r > 2^(e-1)], TFLM's threshold; the subtraction saturates at INT32_MIN, whose remainder
 *   is 0, and gives the same q.
 * Checked against TFLM's formula by tests/test_requantize.py on qemu-m55. */
static inline int32x4_t edgeq_requantize_mve(int32x4_t x, int32x4_t multiplier, int32x4_t shift)
{
    const int32x4_t zero = vdupq_n_s32(0);
    const int32x4_t neg_right = vminq_s32(shift, zero); /* -right_shift */
    const int32x4_t high = vqrdmulhq_s32(vshlq_s32(x, vmaxq_s32(shift, zero)), multiplier);
    const int32x4_t fixup = vshrq_n_s32(vandq_s32(high, neg_right), 31);
    return vrshlq_s32(vqaddq_s32(high, fixup), neg_right);
}
#endif

/* Requantize an int32 accumulator to the int8 output: multiplier/shift, + output zero point, clamp. */
static inline int8_t edgeq_acc_to_s8(int32_t acc, int32_t multiplier, int32_t shift, int32_t output_offset,
                                     int32_t act_min, int32_t act_max)
{
    acc = edgeq_requantize_fast(acc, multiplier, shift) + output_offset;
    acc = acc < act_min ? act_min : acc;
    acc = acc > act_max ? act_max : acc;
    return (int8_t)acc;
}

/* edgeq_requantize_bounded split into a per-channel part, computed once and shared by every output of the channel
 * a kernel requantizes together, and a per-output part without branches (the same arithmetic). */
typedef struct {
    int32_t multiplier;  /* with the DSP extension: the SMMLAR operand 2m - 2^32; EDGEQ_MUL32_ONLY: m & 0xFFFF */
#if EDGEQ_MUL32_ONLY
    int32_t multiplier_high; /* m >> 16 */
#endif
    int32_t left_shift;  /* max(shift, 0) */
    int32_t right_shift; /* max(-shift, 0) */
    int32_t half;        /* 2^(right_shift - 1), or 0 */
    int32_t neg_mask;    /* -1 when right_shift > 0: a negative value's exact half does not round up */
} edgeq_rq_channel;

static inline edgeq_rq_channel edgeq_rq_channel_of(int32_t multiplier, int32_t shift)
{
    edgeq_rq_channel r;
#if EDGEQ_USE_DSP && (defined(__GNUC__) || defined(__clang__))
    r.multiplier = (int32_t)((uint32_t)multiplier << 1);
#elif EDGEQ_MUL32_ONLY
    r.multiplier = multiplier & 0xFFFF;
    r.multiplier_high = multiplier >> 16;
#else
    r.multiplier = multiplier;
#endif
    r.left_shift = shift > 0 ? shift : 0;
    r.right_shift = shift > 0 ? 0 : -shift;
    r.half = r.right_shift > 0 ? (int32_t)((uint32_t)1 << (r.right_shift - 1)) : 0;
    r.neg_mask = r.right_shift > 0 ? -1 : 0;
    return r;
}

/* edgeq_requantize_bounded(x, multiplier, shift) for the channel r describes (same domain). */
static inline int32_t edgeq_rq_apply(int32_t x, const edgeq_rq_channel *r)
{
    const int32_t a = (int32_t)((uint32_t)x << r->left_shift);
    int32_t high;
#if EDGEQ_USE_DSP && (defined(__GNUC__) || defined(__clang__))
    __asm__("smmlar %0, %1, %2, %3" : "=r"(high) : "r"(a), "r"(r->multiplier), "r"(a));
#elif EDGEQ_MUL32_ONLY
    high = edgeq_high_mul(a, r->multiplier, r->multiplier_high);
#else
    high = (int32_t)(((int64_t)a * (int64_t)r->multiplier + ((int64_t)1 << 30)) >> 31);
#endif
    return (high + r->half + ((high >> 31) & r->neg_mask)) >> r->right_shift;
}

/* v clamped to [act_min, act_max]; `full` (a constant after inlining) says that range is all of int8, which the DSP
 * extension's SSAT does in one instruction. */
EDGEQ_ALWAYS_INLINE int8_t edgeq_clamp_s8(int32_t v, int full, int32_t act_min, int32_t act_max)
{
    if (full) {
#if EDGEQ_USE_DSP
        return (int8_t)__ssat(v, 8);
#else
        act_min = -128;
        act_max = 127;
#endif
    }
    v = v < act_min ? act_min : v;
    return (int8_t)(v > act_max ? act_max : v);
}

/* edgeq_requantize_bounded(x0, ...) and (x1, ...) for one channel (same domain) with the per-channel work done once:
 * with the DSP extension the branch on the shift's sign is taken once for both values, and then a right shift
 * (shift < 0) needs no left shift and its rounding's sign term is just high >> 31, a left shift no rounding. */
EDGEQ_ALWAYS_INLINE void edgeq_rq_pair(int32_t x0, int32_t x1, int32_t multiplier, int32_t shift, int32_t *y0,
                                       int32_t *y1)
{
#if EDGEQ_USE_DSP && (defined(__GNUC__) || defined(__clang__))
    const int32_t m2 = (int32_t)((uint32_t)multiplier << 1); /* the SMMLAR operand 2m - 2^32 */
    int32_t h0, h1;
    if (__builtin_expect(shift < 0, 1)) { /* round(x m / 2^31), then / 2^-shift, halves away from zero */
        const int32_t right = -shift;
        const int32_t half = (int32_t)((uint32_t)1 << (right - 1));
        __asm__("smmlar %0, %1, %2, %1" : "=r"(h0) : "r"(x0), "r"(m2));
        __asm__("smmlar %0, %1, %2, %1" : "=r"(h1) : "r"(x1), "r"(m2));
        *y0 = (h0 + half + (h0 >> 31)) >> right;
        *y1 = (h1 + half + (h1 >> 31)) >> right;
    } else {
        x0 = (int32_t)((uint32_t)x0 << shift);
        x1 = (int32_t)((uint32_t)x1 << shift);
        __asm__("smmlar %0, %1, %2, %1" : "=r"(h0) : "r"(x0), "r"(m2));
        __asm__("smmlar %0, %1, %2, %1" : "=r"(h1) : "r"(x1), "r"(m2));
        *y0 = h0;
        *y1 = h1;
    }
#else
    const edgeq_rq_channel r = edgeq_rq_channel_of(multiplier, shift);
    *y0 = edgeq_rq_apply(x0, &r);
    *y1 = edgeq_rq_apply(x1, &r);
#endif
}

/* The valid filter taps along one axis: tap k reads input position origin + dilation * k, which must lie in
 * [0, size). The valid k form one range [*lo, *hi) (empty when *lo == *hi), so border pixels need no per-tap test. */
static inline void edgeq_tap_range(int32_t origin, int32_t dilation, int32_t size, int32_t taps, int32_t *lo,
                                   int32_t *hi)
{
    int32_t a = origin < 0 ? (-origin + dilation - 1) / dilation : 0; /* first k with origin + dilation*k >= 0 */
    int32_t b = size > origin ? (size - origin + dilation - 1) / dilation : 0; /* first k past the end */
    b = b < taps ? b : taps;
    a = a < b ? a : b;
    *lo = a;
    *hi = b;
}

/* SXTB16 of the word rotated right by 8 (bytes 1 and 3 sign-extended to two 16-bit lanes): one instruction, which
 * GCC does not form from edgeq_sxtb16_ror8(v). */
#if EDGEQ_USE_DSP
static inline int32_t edgeq_sxtb16_ror8(int32_t v)
{
#if defined(__GNUC__) || defined(__clang__)
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
#else
    return edgeq_sxtb16_ror8(v);
#endif
}
#endif

#if EDGEQ_USE_DSP && (defined(__GNUC__) || defined(__clang__))
/* SXTAB16 with the operand rotated right by 8: off + sign-extended bytes 1 and 3, one instruction */
static inline int32_t edgeq_sxtab16_ror8(int32_t off, int32_t v)
{
    int32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(off), "r"(v));
    return r;
}
#elif EDGEQ_USE_DSP
static inline int32_t edgeq_sxtab16_ror8(int32_t off, int32_t v)
{
    return __sxtab16(off, edgeq_ror8(v));
}
#endif

/* ---- dot products shared by CONV_2D and FULLY_CONNECTED ---------------------------------------------------
 * acc[j] += sum over k < n of (in[k] + input_offset) * w[j * w_stride + k] for four output channels j = 0..3 (four
 * weight rows w_stride apart): each input byte is loaded once for four multiply-accumulates; with the DSP extension
 * four bytes at a time through __smlad (two 16x16 multiply-accumulates per instruction). */
static inline void edgeq_dot4_s8(const int8_t *in, const int8_t *w, int32_t w_stride, int32_t n,
                                 int32_t input_offset, int32_t acc[4])
{
    const int8_t *w0 = w;
    const int8_t *w1 = w0 + w_stride;
    const int8_t *w2 = w1 + w_stride;
    const int8_t *w3 = w2 + w_stride;
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    int32_t k = 0;
#if EDGEQ_USE_DSP
    /* the offset in both 16-bit lanes: __sxtab16(off2, x) sign-extends bytes 0 and 2 of x and adds it to each */
    const int32_t off2 = (int32_t)(((uint32_t)input_offset << 16) | ((uint32_t)input_offset & 0xFFFFu));
    for (; k + 4 <= n; k += 4) {
        const int32_t x = edgeq_load4(in + k);
        const int32_t x02 = __sxtab16(off2, x);             /* lanes: x0 + off, x2 + off */
        const int32_t x13 = edgeq_sxtab16_ror8(off2, x); /* lanes: x1 + off, x3 + off */
        int32_t v;
        v = edgeq_load4(w0 + k); /* __smlad(a, b, acc) = acc + a.lo * b.lo + a.hi * b.hi */
        a0 = __smlad(x02, __sxtb16(v), a0);
        a0 = __smlad(x13, edgeq_sxtb16_ror8(v), a0);
        v = edgeq_load4(w1 + k);
        a1 = __smlad(x02, __sxtb16(v), a1);
        a1 = __smlad(x13, edgeq_sxtb16_ror8(v), a1);
        v = edgeq_load4(w2 + k);
        a2 = __smlad(x02, __sxtb16(v), a2);
        a2 = __smlad(x13, edgeq_sxtb16_ror8(v), a2);
        v = edgeq_load4(w3 + k);
        a3 = __smlad(x02, __sxtb16(v), a3);
        a3 = __smlad(x13, edgeq_sxtb16_ror8(v), a3);
    }
#endif
    for (; k < n; ++k) {
        const int32_t x = (int32_t)in[k] + input_offset;
        a0 += x * EDGEQ_W8(&w0[k]);
        a1 += x * EDGEQ_W8(&w1[k]);
        a2 += x * EDGEQ_W8(&w2[k]);
        a3 += x * EDGEQ_W8(&w3[k]);
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* One channel: returns acc + sum over k < n of (in[k] + input_offset) * w[k]. */
static inline int32_t edgeq_dot1_s8(const int8_t *in, const int8_t *w, int32_t n, int32_t input_offset,
                                    int32_t acc)
{
    int32_t k = 0;
#if EDGEQ_USE_DSP
    const int32_t off2 = (int32_t)(((uint32_t)input_offset << 16) | ((uint32_t)input_offset & 0xFFFFu));
    for (; k + 4 <= n; k += 4) {
        const int32_t x = edgeq_load4(in + k);
        const int32_t v = edgeq_load4(w + k);
        acc = __smlad(__sxtab16(off2, x), __sxtb16(v), acc);
        acc = __smlad(edgeq_sxtab16_ror8(off2, x), edgeq_sxtb16_ror8(v), acc);
    }
#endif
    for (; k < n; ++k) {
        acc += ((int32_t)in[k] + input_offset) * EDGEQ_W8(&w[k]);
    }
    return acc;
}

/* TFLM's MultiplyByQuantizedMultiplier(int64_t x, ...) (double-rounding build, common.cc): the multiplier reduced to
 * 16 bits (rounded), one rounding right shift by 15 - shift, the int64 result truncated to int32. The compiler
 * refuses shifts above 14 (TFLM asserts shift < 8) and bounds |x| so that x * reduced stays inside int64. */
static inline int32_t edgeq_requantize_s64(int64_t x, int32_t multiplier, int32_t shift)
{
    const int32_t reduced = multiplier < (int32_t)0x7FFF0000 ? (multiplier + ((int32_t)1 << 15)) >> 16 : 0x7FFF;
    const int32_t total_shift = 15 - shift;
    x = x * (int64_t)reduced + ((int64_t)1 << (total_shift - 1));
    return (int32_t)(x >> total_shift);
}

/* The requantized accumulator of an int16x8 kernel (before output offset and clamp): TFLM sums in int64 with an int64
 * bias and edgeq_requantize_s64, or - int32 bias (bias->is_int32_bias) - in int32 with the int32
 * MultiplyByQuantizedMultiplier; the compiler bounds the sum so that the int32 one cannot overflow. */
EDGEQ_ALWAYS_INLINE int32_t edgeq_s16_requantize_acc(int64_t acc, const edgeq_bias_data *bias, int32_t ch,
                                                     int32_t multiplier, int32_t shift)
{
    if (bias != NULL && bias->is_int32_bias) {
        int32_t a = (int32_t)acc;
        if (bias->data != NULL) {
            a += EDGEQ_W32(&((const int32_t *)bias->data)[ch]);
        }
        return edgeq_requantize(a, multiplier, shift);
    }
    if (bias != NULL && bias->data != NULL) {
        acc += EDGEQ_W64(&((const int64_t *)bias->data)[ch]);
    }
    return edgeq_requantize_s64(acc, multiplier, shift);
}

/* ---- kernels ----------------------------------------------------------------------------------------------- */
edgeq_status edgeq_convolve_wrapper_s8(const edgeq_context *ctx, const edgeq_conv_params *conv_params,
                                       const edgeq_per_channel_quant_params *quant_params,
                                       const edgeq_dims *input_dims, const int8_t *input_data,
                                       const edgeq_dims *filter_dims, const int8_t *filter_data,
                                       const edgeq_dims *bias_dims, const int32_t *bias_data,
                                       const edgeq_dims *output_dims, int8_t *output_data);

/* CONV_2D with a 1x1 filter, no padding, not grouped (any stride), with constants the compiler prepares offline
 * (edgeq/compiler/ops/conv.py): bias_data holds bias + input_offset * (sum of the channel's weights), filter_data is
 * in the order the kernel reads it (edgeq_convolve_1x1_s8.c), and every accumulator is in the domain of
 * edgeq_requantize_bounded. conv_params->input_offset is not read. */
edgeq_status edgeq_convolve_1x1_s8(const edgeq_context *ctx, const edgeq_conv_params *conv_params,
                                   const edgeq_per_channel_quant_params *quant_params, const edgeq_dims *input_dims,
                                   const int8_t *input_data, const edgeq_dims *filter_dims, const int8_t *filter_data,
                                   const edgeq_dims *bias_dims, const int32_t *bias_data,
                                   const edgeq_dims *output_dims, int8_t *output_data);
#if EDGEQ_USE_MVE
/* The same with Helium and filter_data in natural order ([C_OUT][C_IN]); defined only when the code is built with
 * MVE, so code compiled for --target cortex-m55 does not link for a core without it. */
edgeq_status edgeq_convolve_1x1_mve_s8(const edgeq_context *ctx, const edgeq_conv_params *conv_params,
                                       const edgeq_per_channel_quant_params *quant_params,
                                       const edgeq_dims *input_dims, const int8_t *input_data,
                                       const edgeq_dims *filter_dims, const int8_t *filter_data,
                                       const edgeq_dims *bias_dims, const int32_t *bias_data,
                                       const edgeq_dims *output_dims, int8_t *output_data);
#endif

/* ---- working memory of the convolution kernels ----------------------------------------------------------------
 * As CMSIS-NN's arm_*_get_buffer_size: edgeq_convolve_1x1_s8 and edgeq_convolve_kxk_s8 keep no large buffer on the
 * C stack (each kernel function's frame stays under EDGEQ_MAX_KERNEL_FRAME bytes, checked with -fstack-usage by
 * tests/test_kernel_stack.py); their pixel windows, int16 lanes and accumulators live in ctx->buf, which the compiler
 * plans per layer as kernel scratch (edgeq/compiler/ops/conv.py Conv2D.working_bytes is the Python twin of the
 * *_buffer_size functions below), so the memory plan and the fit check count them. The block ctx->buf, 4-aligned:
 *   [ working buffers: edgeq_convolve_*_s8_buffer_size() bytes, a multiple of 4 ]
 *   [ only when the layer overwrites its input (output_data == input_data) through a delay ring (ctx->size >
 *     working bytes): the output stage, EDGEQ_CONV_STAGE_BYTES(C_OUT) bytes, then the delay ring: the rest ]
 * (the 1x1 lane core with C_OUT <= C_IN writes straight over its input: the compiler gives it no stage and no ring).
 * A larger block than the kernel's build needs (--target generic: the larger of the DSP and plain builds) only
 * delays the ring's writes, which stays exact.
 * A kernel returns EDGEQ_ARG_ERROR when ctx->size is smaller than its working buffers. */
#define EDGEQ_MAX_KERNEL_FRAME 512
#define EDGEQ_ALIGN4(n) (((n) + 3) & ~3)
/* output channels staged per pixel when a convolution writes through its delay ring; the stage's bytes */
#define EDGEQ_CONV_STAGE 128
#define EDGEQ_CONV_STAGE_BYTES(cout) ((cout) <= EDGEQ_CONV_STAGE ? 2 * (cout) : EDGEQ_CONV_STAGE)
/* output channels whose accumulators (two pixels: 8 bytes each) the DSP lane core holds before requantizing */
#define EDGEQ_LANES_CHUNK 64
/* bytes of ctx->buf edgeq_convolve_1x1_s8 works in (with the DSP extension and C_IN <= EDGEQ_1X1_LANES: the two
 * pixels' int16 lanes, 4 C_IN, + the accumulators, 8 min(C_OUT, EDGEQ_LANES_CHUNK); else 0) */
#define EDGEQ_1X1_LANES 256
int32_t edgeq_convolve_1x1_s8_buffer_size(const edgeq_dims *input_dims, const edgeq_dims *output_dims);
/* CONV_2D with a KH x KW filter, not grouped, no dilation, any stride and padding, KH * KW * C_IN <=
 * EDGEQ_KXK_WINDOW: the constants are those of edgeq_convolve_1x1_s8 for an input depth of KH * KW * C_IN (the OHWI
 * filter is that 1x1 filter). Its working buffers (edgeq_convolve_kxk_s8_buffer_size): with the DSP extension and
 * C_IN % 4 == 0 the two pixels' windows as int16 lanes, 4 D bytes (D = KH x KW x C_IN), + the accumulators, 8
 * min(C_OUT, EDGEQ_LANES_CHUNK); else the two byte windows, 2 EDGEQ_ALIGN4(D). */
#define EDGEQ_KXK_WINDOW 576
int32_t edgeq_convolve_kxk_s8_buffer_size(const edgeq_dims *input_dims, const edgeq_dims *filter_dims,
                                          const edgeq_dims *output_dims);
edgeq_status edgeq_convolve_kxk_s8(const edgeq_context *ctx, const edgeq_conv_params *conv_params,
                                   const edgeq_per_channel_quant_params *quant_params, const edgeq_dims *input_dims,
                                   const int8_t *input_data, const edgeq_dims *filter_dims, const int8_t *filter_data,
                                   const edgeq_dims *bias_dims, const int32_t *bias_data,
                                   const edgeq_dims *output_dims, int8_t *output_data);

/* The core of edgeq_convolve_1x1_s8 and edgeq_convolve_kxk_s8: output channels [c_lo, c_hi) (c_lo even) of the
 * depth-cin vectors x0 and, when x1 != NULL, x1 (two pixels), with the 1x1 kernel's constants (folded bias, filter
 * in read order, bounded requantization), into o0[c - c_lo] and o1[c - c_lo]. */
void edgeq_pointwise_pixels_s8(const int8_t *x0, const int8_t *x1, const int8_t *filter, int32_t cin, int32_t cout,
                               int32_t c_lo, int32_t c_hi, const int32_t *bias,
                               const edgeq_per_channel_quant_params *q, int32_t out_offset, int32_t act_min,
                               int32_t act_max, int8_t *o0, int8_t *o1);

#if EDGEQ_USE_DSP
/* The core with the DSP extension, on two pixels whose inputs were sign-extended once into int16 lanes
 * (edgeq_convolve_1x1_s8.c): a buffer of `depth` int32 (in ctx->buf, see above) holds two vectors of that depth.
 * edgeq_lanes_s8 extends n_bytes (a multiple of 4) values of x into the lane words of one pixel (dst: lanes + 4 *
 * (offset / 4) + 2 * slot, slot 0 or 1), edgeq_lanes_fill_s8 writes `value` there instead, edgeq_lanes_pixel_s8 a
 * whole vector (with its depth % 4 tail) into slot `slot`. edgeq_pointwise_lanes_s8 is edgeq_pointwise_pixels_s8 on
 * such a buffer (depth words), its accumulators in acc (2 min(c_hi - c_lo, EDGEQ_LANES_CHUNK) words). */
#define EDGEQ_LANES_WORDS EDGEQ_KXK_WINDOW
/* The lane kernels' assembly loops need up to 14 registers: GCC / clang with optimisation (which frees the frame
 * pointer); defining EDGEQ_NO_ASM (e.g. for a build with -fno-omit-frame-pointer) keeps their C loops. */
#if (defined(__GNUC__) || defined(__clang__)) && defined(__OPTIMIZE__) && !defined(EDGEQ_NO_ASM)
#define EDGEQ_LANES_ASM 1
#else
#define EDGEQ_LANES_ASM 0
#endif
/* edgeq_lanes_s8 inline (the kernels' per-pixel expansion): n_bytes (a multiple of 4) values of x into lane words */
EDGEQ_ALWAYS_INLINE void edgeq_lanes_expand(const int8_t *x, int32_t n_bytes, int32_t *dst)
{
    int32_t k;
#if EDGEQ_LANES_ASM
    if (n_bytes >= 4) { /* 6 instructions per 4 values (GCC's loop: 8) */
        const int8_t *end = x + (n_bytes - n_bytes % 4);
        int32_t u, a, b;
        __asm__ volatile("1:\n\t"
                         "ldr %[u], [%[x]], #4\n\t"
                         "sxtb16 %[a], %[u]\n\t"
                         "sxtb16 %[b], %[u], ror #8\n\t"
                         "strd %[a], %[b], [%[d]], #16\n\t"
                         "cmp %[x], %[e]\n\t"
                         "bne 1b"
                         : [x] "+r"(x), [d] "+r"(dst), [u] "=&r"(u), [a] "=&r"(a), [b] "=&r"(b)
                         : [e] "r"(end)
                         : "cc", "memory");
        return;
    }
#endif
    for (k = 0; k + 4 <= n_bytes; k += 4, dst += 4) {
        const int32_t u = edgeq_load4(x + k);
        dst[0] = __sxtb16(u);
        dst[1] = edgeq_sxtb16_ror8(u);
    }
}
void edgeq_lanes_s8(const int8_t *x, int32_t n_bytes, int32_t *dst);
void edgeq_lanes_fill_s8(int8_t value, int32_t n_bytes, int32_t *dst);
void edgeq_lanes_pixel_s8(const int8_t *x, int32_t depth, int32_t slot, int32_t *lanes);
void edgeq_pointwise_lanes_s8(const int32_t *lanes, int32_t depth, const int8_t *filter, int32_t cout,
                              int32_t c_lo, int32_t c_hi, const int32_t *bias,
                              const edgeq_per_channel_quant_params *q, int32_t out_offset, int32_t act_min,
                              int32_t act_max, int8_t *o0, int8_t *o1, int32_t *acc);
#endif

/* CONV_2D on an input of 1 to 3 channels (first layers; edgeq_convolve_shallow_s8.c), not grouped, no dilation, any
 * stride and padding: each window sign-extended once into int16 pairs, 2 pixels x 2 output channels per step. Its
 * constants (edgeq/compiler/ops/conv.py shallow_constants), one stream in read order: per pair of output channels
 * the folded biases, the weights as int16 pairs in the window's expansion order, EDGEQ_SHALLOW_RQ words per channel
 * for edgeq_requantize_bounded. Limits: KH <= EDGEQ_SHALLOW_MAX_ROWS, KH x KW x C_IN <=
 * EDGEQ_SHALLOW_MAX_WINDOW bytes, <= EDGEQ_SHALLOW_MAX_PAIRS int16 pairs, C_OUT <= EDGEQ_SHALLOW_MAX_COUT. */
#define EDGEQ_SHALLOW_RQ 4
#define EDGEQ_SHALLOW_MAX_ROWS 16
#define EDGEQ_SHALLOW_MAX_WINDOW 128
#define EDGEQ_SHALLOW_MAX_PAIRS 66
#define EDGEQ_SHALLOW_MAX_COUT 128
edgeq_status edgeq_convolve_shallow_s8(const edgeq_context *ctx, const edgeq_conv_params *conv_params,
                                       const edgeq_dims *input_dims, const int8_t *input_data,
                                       const edgeq_dims *filter_dims, const int32_t *filter_data,
                                       const edgeq_dims *output_dims, int8_t *output_data);
/* The same specialised for the window shapes of common first layers (KH x KW x C_IN; everything unrolled):
 * edgeq_convolve_shallow_3x3x3_s8 ... (edgeq/compiler/ops/conv.py SHALLOW_SHAPES lists the same shapes). */
#define EDGEQ_SHALLOW_INSTANCES                                                                                  \
    EDGEQ_SHALLOW_INSTANCE(3, 3, 3) EDGEQ_SHALLOW_INSTANCE(3, 3, 1) EDGEQ_SHALLOW_INSTANCE(10, 4, 1)              \
    EDGEQ_SHALLOW_INSTANCE(5, 5, 3) EDGEQ_SHALLOW_INSTANCE(5, 5, 1) EDGEQ_SHALLOW_INSTANCE(3, 3, 2)
#define EDGEQ_SHALLOW_INSTANCE(KH, KW, CIN)                                                                      \
    edgeq_status edgeq_convolve_shallow_##KH##x##KW##x##CIN##_s8(                                                \
        const edgeq_context *ctx, const edgeq_conv_params *conv_params, const edgeq_dims *input_dims,            \
        const int8_t *input_data, const edgeq_dims *filter_dims, const int32_t *filter_data,                     \
        const edgeq_dims *output_dims, int8_t *output_data);
EDGEQ_SHALLOW_INSTANCES
#undef EDGEQ_SHALLOW_INSTANCE

#if EDGEQ_USE_MVE
/* The same two with Helium and the filter in natural order ([C_OUT][KH * KW * C_IN]; edgeq_convolve_kxk_mve_s8.c,
 * edgeq_convolve_1x1_s8.c): the compiler's choice for --target cortex-m55, defined only with MVE. The 1x1 one needs
 * no working buffers; the KxK one its two byte windows, 2 EDGEQ_ALIGN4(KH x KW x C_IN) bytes. */
int32_t edgeq_convolve_kxk_mve_s8_buffer_size(const edgeq_dims *input_dims, const edgeq_dims *filter_dims,
                                              const edgeq_dims *output_dims);
edgeq_status edgeq_convolve_kxk_mve_s8(const edgeq_context *ctx, const edgeq_conv_params *conv_params,
                                       const edgeq_per_channel_quant_params *quant_params,
                                       const edgeq_dims *input_dims, const int8_t *input_data,
                                       const edgeq_dims *filter_dims, const int8_t *filter_data,
                                       const edgeq_dims *bias_dims, const int32_t *bias_data,
                                       const edgeq_dims *output_dims, int8_t *output_data);
void edgeq_pointwise_pixels_mve_s8(const int8_t *x0, const int8_t *x1, const int8_t *filter, int32_t cin,
                                   int32_t cout, int32_t c_lo, int32_t c_hi, const int32_t *bias,
                                   const edgeq_per_channel_quant_params *q, int32_t out_offset, int32_t act_min,
                                   int32_t act_max, int8_t *o0, int8_t *o1);
#endif

edgeq_status edgeq_depthwise_conv_wrapper_s8(const edgeq_context *ctx, const edgeq_dw_conv_params *dw_conv_params,
                                             const edgeq_per_channel_quant_params *quant_params,
                                             const edgeq_dims *input_dims, const int8_t *input_data,
                                             const edgeq_dims *filter_dims, const int8_t *filter_data,
                                             const edgeq_dims *bias_dims, const int32_t *bias_data,
                                             const edgeq_dims *output_dims, int8_t *output_data);

/* DEPTHWISE_CONV_2D in place one channel at a time: depth multiplier 1, batch 1, output pixels <= input pixels,
 * output_data == input_data, ctx->buf = a channel plane of input H x W bytes (edgeq_depthwise_conv_inplace_s8.c) */
edgeq_status edgeq_depthwise_conv_inplace_s8(const edgeq_context *ctx, const edgeq_dw_conv_params *dw_conv_params,
                                             const edgeq_per_channel_quant_params *quant_params,
                                             const edgeq_dims *input_dims, const int8_t *input_data,
                                             const edgeq_dims *filter_dims, const int8_t *filter_data,
                                             const edgeq_dims *bias_dims, const int32_t *bias_data,
                                             const edgeq_dims *output_dims, int8_t *output_data);

/* DEPTHWISE_CONV_2D with a 3x3 filter, depth multiplier 1, no dilation, whose accumulators are in the domain of
 * edgeq_requantize_bounded (the compiler checks; edgeq_depthwise_conv_3x3_s8.c) */
edgeq_status edgeq_depthwise_conv_3x3_s8(const edgeq_context *ctx, const edgeq_dw_conv_params *dw_conv_params,
                                         const edgeq_per_channel_quant_params *quant_params,
                                         const edgeq_dims *input_dims, const int8_t *input_data,
                                         const edgeq_dims *filter_dims, const int8_t *filter_data,
                                         const edgeq_dims *bias_dims, const int32_t *bias_data,
                                         const edgeq_dims *output_dims, int8_t *output_data);
/* The same layer (batch 1, no more output than input pixels) in place or not, one channel at a time through a
 * padded channel plane in ctx->buf of ((H_out - 1) * stride_h + 3) * ((W_out - 1) * stride_w + 3) +
 * EDGEQ_DW3_PLANE_SLACK bytes (edgeq_depthwise_conv_3x3_s8.c) */
#define EDGEQ_DW3_PLANE_SLACK 1
/* The same for a K x K filter, 5 <= K <= 7 (5x5, 7x7), stride and padding any: a plane of
 * ((H_out - 1) * stride_h + K) * ((W_out - 1) * stride_w + K) + EDGEQ_DWK_PLANE_SLACK bytes */
#define EDGEQ_DWK_PLANE_SLACK 3
edgeq_status edgeq_depthwise_conv_kxk_plane_s8(const edgeq_context *ctx, const edgeq_dw_conv_params *dw_conv_params,
                                               const edgeq_per_channel_quant_params *quant_params,
                                               const edgeq_dims *input_dims, const int8_t *input_data,
                                               const edgeq_dims *filter_dims, const int8_t *filter_data,
                                               const edgeq_dims *bias_dims, const int32_t *bias_data,
                                               const edgeq_dims *output_dims, int8_t *output_data);
edgeq_status edgeq_depthwise_conv_3x3_plane_s8(const edgeq_context *ctx, const edgeq_dw_conv_params *dw_conv_params,
                                               const edgeq_per_channel_quant_params *quant_params,
                                               const edgeq_dims *input_dims, const int8_t *input_data,
                                               const edgeq_dims *filter_dims, const int8_t *filter_data,
                                               const edgeq_dims *bias_dims, const int32_t *bias_data,
                                               const edgeq_dims *output_dims, int8_t *output_data);

#if EDGEQ_USE_MVE
/* DEPTHWISE_CONV_2D with Helium, depth multiplier 1, any filter, stride, padding and dilation (16 channels per
 * vector; edgeq_depthwise_conv_mve_s8.c): the compiler's choice for --target cortex-m55, defined only with MVE. */
edgeq_status edgeq_depthwise_conv_mve_s8(const edgeq_context *ctx, const edgeq_dw_conv_params *dw_conv_params,
                                         const edgeq_per_channel_quant_params *quant_params,
                                         const edgeq_dims *input_dims, const int8_t *input_data,
                                         const edgeq_dims *filter_dims, const int8_t *filter_data,
                                         const edgeq_dims *bias_dims, const int32_t *bias_data,
                                         const edgeq_dims *output_dims, int8_t *output_data);
#endif

edgeq_status edgeq_fully_connected_s8(const edgeq_context *ctx, const edgeq_fc_params *fc_params,
                                      const edgeq_per_tensor_quant_params *quant_params,
                                      const edgeq_dims *input_dims, const int8_t *input_data,
                                      const edgeq_dims *filter_dims, const int8_t *filter_data,
                                      const edgeq_dims *bias_dims, const int32_t *bias_data,
                                      const edgeq_dims *output_dims, int8_t *output_data);

edgeq_status edgeq_fully_connected_per_channel_s8(const edgeq_context *ctx, const edgeq_fc_params *fc_params,
                                                  const edgeq_per_channel_quant_params *quant_params,
                                                  const edgeq_dims *input_dims, const int8_t *input_data,
                                                  const edgeq_dims *filter_dims, const int8_t *filter_data,
                                                  const edgeq_dims *bias_dims, const int32_t *bias_data,
                                                  const edgeq_dims *output_dims, int8_t *output_data);

edgeq_status edgeq_avgpool_s8(const edgeq_context *ctx, const edgeq_pool_params *pool_params,
                              const edgeq_dims *input_dims, const int8_t *input_data,
                              const edgeq_dims *filter_dims, const edgeq_dims *output_dims, int8_t *output_data);

edgeq_status edgeq_max_pool_s8(const edgeq_context *ctx, const edgeq_pool_params *pool_params,
                               const edgeq_dims *input_dims, const int8_t *input_data,
                               const edgeq_dims *filter_dims, const edgeq_dims *output_dims, int8_t *output_data);

edgeq_status edgeq_elementwise_add_s8(const int8_t *input_1_vect, const int8_t *input_2_vect,
                                      int32_t input_1_offset, int32_t input_1_mult, int32_t input_1_shift,
                                      int32_t input_2_offset, int32_t input_2_mult, int32_t input_2_shift,
                                      int32_t left_shift, int8_t *output, int32_t out_offset, int32_t out_mult,
                                      int32_t out_shift, int32_t out_activation_min, int32_t out_activation_max,
                                      int32_t block_size);

edgeq_status edgeq_elementwise_mul_s8(const int8_t *input_1_vect, const int8_t *input_2_vect,
                                      int32_t input_1_offset, int32_t input_2_offset, int8_t *output,
                                      int32_t out_offset, int32_t out_mult, int32_t out_shift,
                                      int32_t out_activation_min, int32_t out_activation_max, int32_t block_size);

/* ADD with the two inputs' scaling done offline: table_k[x + 128] = MultiplyByQuantizedMultiplierSmallerThanOneExp(
 * (x + input_k_offset) << left_shift, input_k_mult, input_k_shift) for every int8 x (edgeq/compiler/ops/add.py), so
 * each element costs two table loads and the output requantization; the same result as edgeq_elementwise_add_s8. */
edgeq_status edgeq_elementwise_add_lut_s8(const int8_t *input_1_vect, const int8_t *input_2_vect,
                                          const int32_t *table_1, const int32_t *table_2, int8_t *output,
                                          int32_t out_offset, int32_t out_mult, int32_t out_shift,
                                          int32_t out_activation_min, int32_t out_activation_max, int32_t block_size);

/* SUB: ADD's arithmetic, the scaled second input subtracted (TFLM reference_ops::SubElementwise). */
edgeq_status edgeq_elementwise_sub_s8(const int8_t *input_1_vect, const int8_t *input_2_vect,
                                      int32_t input_1_offset, int32_t input_1_mult, int32_t input_1_shift,
                                      int32_t input_2_offset, int32_t input_2_mult, int32_t input_2_shift,
                                      int32_t left_shift, int8_t *output, int32_t out_offset, int32_t out_mult,
                                      int32_t out_shift, int32_t out_activation_min, int32_t out_activation_max,
                                      int32_t block_size);
edgeq_status edgeq_broadcast_sub_s8(const int8_t *input_1, const int32_t *in1_strides, const int8_t *input_2,
                                    const int32_t *in2_strides, const edgeq_dims *output_dims,
                                    int32_t input_1_offset, int32_t input_1_mult, int32_t input_1_shift,
                                    int32_t input_2_offset, int32_t input_2_mult, int32_t input_2_shift,
                                    int32_t left_shift, int8_t *output, int32_t out_offset, int32_t out_mult,
                                    int32_t out_shift, int32_t out_activation_min, int32_t out_activation_max);

/* SQUARED_DIFFERENCE (TFLM squared_difference.cc, int8): both inputs shifted left by 7 and scaled to twice the larger
 * input scale, the difference squared (int32) and requantized; 4-D broadcasting through element strides. */
typedef struct {
    int32_t input_1_offset;
    int32_t input_1_mult;
    int32_t input_1_shift;
    int32_t input_2_offset;
    int32_t input_2_mult;
    int32_t input_2_shift;
    int32_t out_offset;
    int32_t out_mult;
    int32_t out_shift;
} edgeq_squared_difference_params;
edgeq_status edgeq_squared_difference_s8(const int8_t *input_1, const int32_t *in1_strides, const int8_t *input_2,
                                         const int32_t *in2_strides, const edgeq_dims *output_dims,
                                         const edgeq_squared_difference_params *sd_params, int8_t *output);

/* TRANSPOSE_CONV (int8, per-channel weights [C_OUT, KH, KW, C_IN]): TFLM's reference_integer_ops::TransposeConv
 * computed per output element (the input rows/columns that scatter into it) instead of scattering into an int32
 * scratch of the output's size: the same integer sums, no scratch. */
typedef struct {
    int32_t stride_h;
    int32_t stride_w;
    int32_t pad_h;
    int32_t pad_w;
    int32_t input_offset;
    int32_t output_offset;
    int32_t act_min;
    int32_t act_max;
} edgeq_transpose_conv_params;
edgeq_status edgeq_transpose_conv_s8(const edgeq_transpose_conv_params *tc_params,
                                     const edgeq_per_channel_quant_params *quant_params,
                                     const edgeq_dims *input_dims, const int8_t *input, const edgeq_dims *filter_dims,
                                     const int8_t *filter, const int32_t *bias, const edgeq_dims *output_dims,
                                     int8_t *output);

/* BATCH_MATMUL (int8): out[b][i][j] = MBQM(sum_k (lhs[b][i][k] - zp_l) * (rhs[b][k][j] - zp_r)) + zp_out, clamped
 * (TFLM's batch_matmul.cc; the integer sum is exact in any order). Strides give adj_x / adj_y and broadcast batches
 * (stride 0); the output is [batch0, batch1, batch2, rows, cols] row-major. */
typedef struct {
    int32_t batch[3];
    int32_t lhs_batch_strides[3];
    int32_t rhs_batch_strides[3];
    int32_t rows;
    int32_t cols;
    int32_t depth;
    int32_t lhs_row_stride;
    int32_t lhs_depth_stride;
    int32_t rhs_depth_stride;
    int32_t rhs_col_stride;
    int32_t lhs_offset;
    int32_t rhs_offset;
    int32_t output_offset;
    int32_t mult;
    int32_t shift;
} edgeq_bmm_params;
void edgeq_batch_matmul_s8(const int8_t *lhs, const int8_t *rhs, const edgeq_bmm_params *bmm_params,
                           int8_t *output);
/* BATCH_MATMUL int16 (int16x8 models; edgeq_fully_connected_s16.c): TFLM's BatchMatMul<int16_t, int64_t>: int64
 * sums of the int16 products, the int64 MultiplyByQuantizedMultiplier (edgeq_requantize_s64), clamped to int16. Zero
 * points are 0 (TFLM's Prepare requires it): bmm_params' offsets are not read. */
void edgeq_batch_matmul_s16(const int16_t *lhs, const int16_t *rhs, const edgeq_bmm_params *bmm_params,
                            int16_t *output);

/* Broadcasting ADD / MUL (CMSIS-NN has none; TFLM's BroadcastAdd6DSlow / BroadcastMul6DSlow arithmetic).
 * in*_strides: element strides of each input for the 4 output dimensions (0 where the input is broadcast). */
edgeq_status edgeq_broadcast_add_s8(const int8_t *input_1, const int32_t *in1_strides, const int8_t *input_2,
                                    const int32_t *in2_strides, const edgeq_dims *output_dims,
                                    int32_t input_1_offset, int32_t input_1_mult, int32_t input_1_shift,
                                    int32_t input_2_offset, int32_t input_2_mult, int32_t input_2_shift,
                                    int32_t left_shift, int8_t *output, int32_t out_offset, int32_t out_mult,
                                    int32_t out_shift, int32_t out_activation_min, int32_t out_activation_max);

edgeq_status edgeq_broadcast_mul_s8(const int8_t *input_1, const int32_t *in1_strides, const int8_t *input_2,
                                    const int32_t *in2_strides, const edgeq_dims *output_dims,
                                    int32_t input_1_offset, int32_t input_2_offset, int8_t *output,
                                    int32_t out_offset, int32_t out_mult, int32_t out_shift,
                                    int32_t out_activation_min, int32_t out_activation_max);

void edgeq_softmax_s8(const int8_t *input, int32_t num_rows, int32_t row_size, int32_t mult, int32_t shift,
                      int32_t diff_min, int8_t *output);

void edgeq_logistic_s8(const int8_t *input, int32_t size, int32_t input_zero_point, int32_t input_range_radius,
                       int32_t input_multiplier, int32_t input_left_shift, int8_t *output);

/* TANH: TFLM's reference_integer_ops::Tanh (gemmlowp tanh of a Q4.27 value; output scale 1/128, zero point 0). */
void edgeq_tanh_s8(const int8_t *input, int32_t size, int32_t input_zero_point, int32_t input_range_radius,
                   int32_t input_multiplier, int32_t input_left_shift, int8_t *output);

/* MAXIMUM / MINIMUM: the larger / smaller raw int8 value (TFLM compares the stored values), 4-D broadcasting
 * through element strides (0 = broadcast). */
void edgeq_maximum_s8(const int8_t *input1, const int32_t *in1_strides, const int8_t *input2,
                      const int32_t *in2_strides, const edgeq_dims *output_dims, int8_t *output);
void edgeq_minimum_s8(const int8_t *input1, const int32_t *in1_strides, const int8_t *input2,
                      const int32_t *in2_strides, const edgeq_dims *output_dims, int8_t *output);

/* An int8 -> int8 function as a 256-entry table (const data, indexed by input + 128), computed at compile time from
 * TFLM's integer kernel (LEAKY_RELU); every entry is checked against TFLM by the tests. */
void edgeq_lut_s8(const int8_t *input, int32_t size, const int8_t *lut, int8_t *output);

/* PRELU: TFLM's BroadcastPrelu4DSlow: x >= 0 ? MBQM(x, mult_1, shift_1) : MBQM(x * alpha, mult_2, shift_2), plus
 * the output offset, clamped; input and alpha broadcast through element strides. */
typedef struct {
    int32_t input_offset;
    int32_t alpha_offset;
    int32_t output_offset;
    int32_t mult_1;
    int32_t shift_1;
    int32_t mult_2;
    int32_t shift_2;
} edgeq_prelu_params;
void edgeq_prelu_s8(const int8_t *input, const int32_t *in_strides, const int8_t *alpha, const int32_t *alpha_strides,
                    const edgeq_dims *output_dims, const edgeq_prelu_params *prelu_params, int8_t *output);

/* RELU: TFLM requantizes (input scale may differ from the output scale), then clamps. */
void edgeq_relu_s8(const int8_t *input, int32_t size, int32_t input_zero_point, int32_t mult, int32_t shift,
                   int32_t output_zero_point, int32_t act_min, int32_t act_max, int8_t *output);
/* RELU6: a clamp to [lower, upper] in the input's quantization. */
void edgeq_relu6_s8(const int8_t *input, int32_t size, int32_t lower, int32_t upper, int8_t *output);

/* QUANTIZE int8 -> int8 (a change of scale / zero point inside the graph): TFLM's Requantize. */
void edgeq_requantize_s8(const int8_t *input, int32_t size, int32_t input_zero_point, int32_t mult, int32_t shift,
                         int32_t output_zero_point, int8_t *output);

/* MEAN over the dimensions flagged (non-zero) in `reduce` (n, h, w, c) of a 4-D input. */
edgeq_status edgeq_mean_s8(const int8_t *input, const edgeq_dims *input_dims, const edgeq_dims *reduce,
                           int32_t input_zero_point, int32_t num_elements_in_axis, int32_t mult, int32_t shift,
                           int32_t output_zero_point, int8_t *output);

/* REDUCE_MAX (is_max != 0) / REDUCE_MIN over the dimensions flagged (non-zero) in `reduce` (n, h, w, c) of a 4-D
 * input: the raw int8 max / min (input and output share scale and zero point). */
edgeq_status edgeq_reduce_min_max_s8(const int8_t *input, const edgeq_dims *input_dims, const edgeq_dims *reduce,
                                     int32_t is_max, int8_t *output);

/* ---- int16x8: int16 activations, int8 weights (TFLM's reference_integer_ops int16 kernels; edgeq_convolve_s16.c,
 * edgeq_fully_connected_s16.c). The sums are int64 (exact), the bias int64 and requantized with
 * edgeq_requantize_s64; CONV_2D and FULLY_CONNECTED with int32 bias (bias_data->is_int32_bias) sum in int32 and
 * requantize like the int8 kernels, as TFLM does. Activation zero points are 0 (conv_params / dw_conv_params
 * offsets are not read); the FC kernels apply fc_params' offsets as TFLM's FullyConnected does. Grouped
 * convolutions: filter_dims->c < input channels. Signatures as arm_convolve_wrapper_s16 /
 * arm_depthwise_conv_wrapper_s16 / arm_fully_connected_s16 (whose bias is a plain int64 array). */
edgeq_status edgeq_convolve_wrapper_s16(const edgeq_context *ctx, const edgeq_conv_params *conv_params,
                                        const edgeq_per_channel_quant_params *quant_params,
                                        const edgeq_dims *input_dims, const int16_t *input_data,
                                        const edgeq_dims *filter_dims, const int8_t *filter_data,
                                        const edgeq_dims *bias_dims, const edgeq_bias_data *bias_data,
                                        const edgeq_dims *output_dims, int16_t *output_data);
edgeq_status edgeq_depthwise_conv_wrapper_s16(const edgeq_context *ctx, const edgeq_dw_conv_params *dw_conv_params,
                                              const edgeq_per_channel_quant_params *quant_params,
                                              const edgeq_dims *input_dims, const int16_t *input_data,
                                              const edgeq_dims *filter_dims, const int8_t *filter_data,
                                              const edgeq_dims *bias_dims, const int64_t *bias_data,
                                              const edgeq_dims *output_dims, int16_t *output_data);
/* TRANSPOSE_CONV int16x8: TFLM's int16 reference_integer_ops::TransposeConv gathered per output element (as
 * edgeq_transpose_conv_s8): int64 sums, int64 bias, edgeq_requantize_s64; tc_params' offsets are not read. */
edgeq_status edgeq_transpose_conv_s16(const edgeq_transpose_conv_params *tc_params,
                                      const edgeq_per_channel_quant_params *quant_params,
                                      const edgeq_dims *input_dims, const int16_t *input,
                                      const edgeq_dims *filter_dims, const int8_t *filter, const int64_t *bias,
                                      const edgeq_dims *output_dims, int16_t *output);
edgeq_status edgeq_fully_connected_s16(const edgeq_context *ctx, const edgeq_fc_params *fc_params,
                                       const edgeq_per_tensor_quant_params *quant_params,
                                       const edgeq_dims *input_dims, const int16_t *input_data,
                                       const edgeq_dims *filter_dims, const int8_t *filter_data,
                                       const edgeq_dims *bias_dims, const edgeq_bias_data *bias_data,
                                       const edgeq_dims *output_dims, int16_t *output_data);
edgeq_status edgeq_fully_connected_per_channel_s16(const edgeq_context *ctx, const edgeq_fc_params *fc_params,
                                                   const edgeq_per_channel_quant_params *quant_params,
                                                   const edgeq_dims *input_dims, const int16_t *input_data,
                                                   const edgeq_dims *filter_dims, const int8_t *filter_data,
                                                   const edgeq_dims *bias_dims, const edgeq_bias_data *bias_data,
                                                   const edgeq_dims *output_dims, int16_t *output_data);

/* QUANTIZE between integer types (edgeq_requantize.c): TFLM's Requantize clamped to the output type. */
void edgeq_requantize_s16_s8(const int16_t *input, int32_t size, int32_t input_zero_point, int32_t mult,
                             int32_t shift, int32_t output_zero_point, int8_t *output);
void edgeq_requantize_s8_s16(const int8_t *input, int32_t size, int32_t input_zero_point, int32_t mult,
                             int32_t shift, int32_t output_zero_point, int16_t *output);
void edgeq_requantize_s16_s16(const int16_t *input, int32_t size, int32_t input_zero_point, int32_t mult,
                              int32_t shift, int32_t output_zero_point, int16_t *output);
void edgeq_requantize_s16_s32(const int16_t *input, int32_t size, int32_t input_zero_point, int32_t mult,
                              int32_t shift, int32_t output_zero_point, int32_t *output);
void edgeq_requantize_s8_s32(const int8_t *input, int32_t size, int32_t input_zero_point, int32_t mult,
                             int32_t shift, int32_t output_zero_point, int32_t *output);

/* SOFTMAX int8 -> int16 (output scale 1/65536, zero point -32768): TFLM's reference_ops::Softmax<int8_t, int16_t>,
 * the arithmetic of edgeq_softmax_s8 with 16 output bits (arm_softmax_s8_s16). */
void edgeq_softmax_s8_s16(const int8_t *input, int32_t num_rows, int32_t row_size, int32_t mult, int32_t shift,
                          int32_t diff_min, int16_t *output);

/* SVDF (int8, int8 state): TFLM's EvalIntegerSvdfReference<int8_t>. The state is [batches, filters * memory]. */
typedef struct {
    int32_t batches;
    int32_t input_size;
    int32_t num_filters;
    int32_t rank;
    int32_t memory_size;
    int32_t input_zero_point;
    int32_t state_zero_point;
    int32_t output_zero_point;
    int32_t mult_1; /* input * feature weights -> state */
    int32_t shift_1;
    int32_t mult_2; /* state * time weights -> output */
    int32_t shift_2;
} edgeq_svdf_params;
void edgeq_svdf_s8(const edgeq_svdf_params *svdf_params, const int8_t *input, const int8_t *weights_feature,
                   const int8_t *weights_time, const int32_t *bias, int8_t *state, int8_t *output);
/* The same with int16 time weights and state (TFLM's EvalInt16SvdfReference). */
void edgeq_svdf_s8_s16(const edgeq_svdf_params *svdf_params, const int8_t *input, const int8_t *weights_feature,
                       const int16_t *weights_time, const int32_t *bias, int16_t *state, int8_t *output);

/* UNIDIRECTIONAL_SEQUENCE_LSTM (int8 activations and weights, int32 biases, int16 cell state): TFLM's integer
 * EvalLstm. Gates in the order forget, input, cell, output. */
typedef struct {
    const int8_t *input_weights;     /* [units, input_size] */
    const int8_t *recurrent_weights; /* [units, units] */
    const int32_t *bias;             /* [units] */
    int32_t input_mult;              /* input FC -> Q3.12 */
    int32_t input_shift;
    int32_t recurrent_mult;          /* recurrent FC -> Q3.12 */
    int32_t recurrent_shift;
} edgeq_lstm_gate_data;
typedef struct {
    int32_t batches;
    int32_t time_steps;
    int32_t input_size;
    int32_t units;
    int32_t time_major;        /* input [time, batch, in] instead of [batch, time, in] */
    int32_t input_offset;      /* -input zero point */
    int32_t hidden_offset;     /* -hidden state zero point */
    int32_t hidden_zero_point;
    int32_t cell_tanh_mult;    /* tanh(cell): (c * mult + round) >> shift */
    int32_t cell_tanh_shift;
    int32_t cell_clip;         /* quantized; 0: no clip */
    int32_t forget_mult;       /* forget * cell -> cell */
    int32_t forget_shift;
    int32_t input_mult;        /* input gate * cell gate -> cell */
    int32_t input_shift;
    int32_t output_mult;       /* output gate * tanh(cell) -> hidden */
    int32_t output_shift;
} edgeq_lstm_params;
void edgeq_lstm_s8(const edgeq_lstm_params *lstm_params, const edgeq_lstm_gate_data *gates, const int8_t *input,
                   int8_t *hidden_state, int16_t *cell_state, int8_t *output);

/* ---- kernels shared by int8 and int16 (pooling, MEAN, ADD / SUB / MUL, SQUARED_DIFFERENCE) ------------------------
 * Their arithmetic is the same for both element types (TFLM's reference kernels are templates over it, with int32 /
 * int64 intermediates either way), so each is written once over elem_size (1 = int8, 2 = int16) with these accessors
 * and forced inline into a thin entry point per type (edgeq_avgpool_s8 / _s16, ...), where elem_size is a constant:
 * each compiles to its own type's loads and stores, with no test per element. */
EDGEQ_ALWAYS_INLINE int32_t edgeq_elem_get(const void *base, int32_t i, int32_t elem_size)
{
    return elem_size == 1 ? (int32_t)((const int8_t *)base)[i] : (int32_t)((const int16_t *)base)[i];
}
EDGEQ_ALWAYS_INLINE void edgeq_elem_set(void *base, int32_t i, int32_t v, int32_t elem_size)
{
    if (elem_size == 1) {
        ((int8_t *)base)[i] = (int8_t)v;
    } else {
        ((int16_t *)base)[i] = (int16_t)v;
    }
}
/* the element type's range: [-128, 127] or [-32768, 32767] */
EDGEQ_ALWAYS_INLINE int32_t edgeq_elem_min(int32_t elem_size)
{
    return elem_size == 1 ? -128 : -32768;
}
EDGEQ_ALWAYS_INLINE int32_t edgeq_elem_max(int32_t elem_size)
{
    return elem_size == 1 ? 127 : 32767;
}

/* ---- data movement, any element type (edgeq_data_movement.c) --------------------------------------------------
 * Copies only, so one kernel per op serves every element type: elem_size is the size of one element in bytes
 * (1 = int8, 2 = int16, 4 = int32 / float); sizes, strides and offsets count elements. */

/* CONCATENATION: outer_size blocks; input i contributes copy_sizes[i] elements per block. */
void edgeq_concatenation(const void *const *inputs, const int32_t *copy_sizes, int32_t num_inputs,
                         int32_t outer_size, void *output, int32_t elem_size);

/* PAD (arm_pad_s8's arguments, and the element size): the 4-D input framed by pre_pad / post_pad elements of
 * pad_value (an integer of elem_size = 1, 2 or 4 bytes; any other size: EDGEQ_ARG_ERROR). */
edgeq_status edgeq_pad(const void *input, void *output, int32_t pad_value, const edgeq_dims *input_size,
                       const edgeq_dims *pre_pad, const edgeq_dims *post_pad, int32_t elem_size);

/* Strided copy over 6 dimensions (TRANSPOSE, SLICE, STRIDED_SLICE, SPLIT, SPLIT_V, PACK, UNPACK, GATHER,
 * DEPTH_TO_SPACE, SPACE_TO_DEPTH): output element (i0..i5) at output + sum(i_k * out_strides[k]) is the input element
 * at input + sum(i_k * in_strides[k]); strides count elements and may be negative (a reversed slice) or 0. */
void edgeq_strided_copy(const void *input, const int32_t *in_strides, void *output, const int32_t *out_strides,
                        const int32_t *dims, int32_t elem_size);

/* RESIZE_NEAREST_NEIGHBOR, MIRROR_PAD (NHWC): output pixel (y, x) copies input pixel (y_map[y], x_map[x]); the maps
 * (const data) are TFLM's GetNearestNeighbor (MIRROR_PAD: the mirrored indices), computed at compile time. */
void edgeq_resize_nearest(const void *input, const edgeq_dims *input_dims, int32_t output_h, int32_t output_w,
                          const int32_t *y_map, const int32_t *x_map, void *output, int32_t elem_size);

/* RESIZE_BILINEAR (NHWC, int8): TFLM's ResizeBilinearInteger. y_map / x_map hold, per output row / column, the two
 * source indices and the 10-bit fraction (scaled - 1024 * first index); the sum of the four weighted pixels (int64)
 * is divided by 2^20, rounding half away from zero. */
void edgeq_resize_bilinear_s8(const int8_t *input, const edgeq_dims *input_dims, int32_t output_h, int32_t output_w,
                              const int32_t *y_map, const int32_t *x_map, int8_t *output);

/* ARG_MAX / ARG_MIN over the middle axis of [outer, axis_size, inner]: the index of the first largest (smallest)
 * value, as int32 - TFLM's reference_ops::ArgMinMax. */
void edgeq_arg_min_max_s8(const int8_t *input, int32_t outer, int32_t axis_size, int32_t inner, int32_t is_max,
                          int32_t *output);

/* ---- int16 activations (int16x8 models): the same arithmetic as TFLM's int16 reference kernels ---------------- */

/* AVERAGE_POOL_2D / MAX_POOL_2D, int16 (arm_avgpool_s16 / arm_max_pool_s16's signatures; never in place). */
edgeq_status edgeq_avgpool_s16(const edgeq_context *ctx, const edgeq_pool_params *pool_params,
                               const edgeq_dims *input_dims, const int16_t *input_data,
                               const edgeq_dims *filter_dims, const edgeq_dims *output_dims, int16_t *output_data);
edgeq_status edgeq_max_pool_s16(const edgeq_context *ctx, const edgeq_pool_params *pool_params,
                                const edgeq_dims *input_dims, const int16_t *input_data,
                                const edgeq_dims *filter_dims, const edgeq_dims *output_dims, int16_t *output_data);

/* ADD / SUB / MUL, int16: the int8 kernels' arguments with int16 elements (ADD/SUB left_shift 15). */
edgeq_status edgeq_elementwise_add_s16(const int16_t *input_1_vect, const int16_t *input_2_vect,
                                       int32_t input_1_offset, int32_t input_1_mult, int32_t input_1_shift,
                                       int32_t input_2_offset, int32_t input_2_mult, int32_t input_2_shift,
                                       int32_t left_shift, int16_t *output, int32_t out_offset, int32_t out_mult,
                                       int32_t out_shift, int32_t out_activation_min, int32_t out_activation_max,
                                       int32_t block_size);
edgeq_status edgeq_elementwise_sub_s16(const int16_t *input_1_vect, const int16_t *input_2_vect,
                                       int32_t input_1_offset, int32_t input_1_mult, int32_t input_1_shift,
                                       int32_t input_2_offset, int32_t input_2_mult, int32_t input_2_shift,
                                       int32_t left_shift, int16_t *output, int32_t out_offset, int32_t out_mult,
                                       int32_t out_shift, int32_t out_activation_min, int32_t out_activation_max,
                                       int32_t block_size);
edgeq_status edgeq_elementwise_mul_s16(const int16_t *input_1_vect, const int16_t *input_2_vect,
                                       int32_t input_1_offset, int32_t input_2_offset, int16_t *output,
                                       int32_t out_offset, int32_t out_mult, int32_t out_shift,
                                       int32_t out_activation_min, int32_t out_activation_max, int32_t block_size);
edgeq_status edgeq_broadcast_add_s16(const int16_t *input_1, const int32_t *in1_strides, const int16_t *input_2,
                                     const int32_t *in2_strides, const edgeq_dims *output_dims,
                                     int32_t input_1_offset, int32_t input_1_mult, int32_t input_1_shift,
                                     int32_t input_2_offset, int32_t input_2_mult, int32_t input_2_shift,
                                     int32_t left_shift, int16_t *output, int32_t out_offset, int32_t out_mult,
                                     int32_t out_shift, int32_t out_activation_min, int32_t out_activation_max);
edgeq_status edgeq_broadcast_sub_s16(const int16_t *input_1, const int32_t *in1_strides, const int16_t *input_2,
                                     const int32_t *in2_strides, const edgeq_dims *output_dims,
                                     int32_t input_1_offset, int32_t input_1_mult, int32_t input_1_shift,
                                     int32_t input_2_offset, int32_t input_2_mult, int32_t input_2_shift,
                                     int32_t left_shift, int16_t *output, int32_t out_offset, int32_t out_mult,
                                     int32_t out_shift, int32_t out_activation_min, int32_t out_activation_max);
edgeq_status edgeq_broadcast_mul_s16(const int16_t *input_1, const int32_t *in1_strides, const int16_t *input_2,
                                     const int32_t *in2_strides, const edgeq_dims *output_dims,
                                     int32_t input_1_offset, int32_t input_2_offset, int16_t *output,
                                     int32_t out_offset, int32_t out_mult, int32_t out_shift,
                                     int32_t out_activation_min, int32_t out_activation_max);

/* SQUARED_DIFFERENCE, int16: left shift 0, zero points 0 (TFLM's squared_difference.cc for int16). */
edgeq_status edgeq_squared_difference_s16(const int16_t *input_1, const int32_t *in1_strides, const int16_t *input_2,
                                          const int32_t *in2_strides, const edgeq_dims *output_dims,
                                          const edgeq_squared_difference_params *sd_params, int16_t *output);

/* MEAN, int16: edgeq_mean_s8's arithmetic (TFLM's QuantizedMeanOrSum<int16_t>), clamped to int16. */
edgeq_status edgeq_mean_s16(const int16_t *input, const edgeq_dims *input_dims, const edgeq_dims *reduce,
                            int32_t input_zero_point, int32_t num_elements_in_axis, int32_t mult, int32_t shift,
                            int32_t output_zero_point, int16_t *output);

/* LOGISTIC / TANH, int16 in and out (Q0.15), TFLM's sigmoid-table arithmetic (edgeq_activations_s16.c). */
int16_t edgeq_sigmoid_q15(int32_t v); /* v with 9 fraction bits (the scaled input) */
int16_t edgeq_tanh_q15(int32_t v);    /* v with 8 fraction bits */
void edgeq_logistic_s16(const int16_t *input, int32_t size, int32_t input_multiplier, int32_t input_left_shift,
                        int16_t *output);
void edgeq_tanh_s16(const int16_t *input, int32_t size, int32_t input_multiplier, int32_t input_left_shift,
                    int16_t *output);

/* SOFTMAX, int16 in and out (output scale 1/32768, zero points 0): TFLM's SoftmaxInt16 with the two 513-entry tables
 * of its Prepare (arm_softmax_s16's signature; cmsis_nn_softmax_lut_s16's fields). */
typedef struct {
    const int16_t *exp_lut;
    const int16_t *one_by_one_lut;
} edgeq_softmax_lut_s16;
void edgeq_softmax_s16(const int16_t *input, int32_t num_rows, int32_t row_size, int32_t mult, int32_t shift,
                       const edgeq_softmax_lut_s16 *softmax_params, int16_t *output);

/* MAXIMUM / MINIMUM, RELU, RELU6, LEAKY_RELU with int16 elements (edgeq_activations_s16.c): the int8 kernels'
 * arithmetic; LEAKY_RELU computes TFLM's QuantizeLeakyRelu per element (no table). */
void edgeq_maximum_s16(const int16_t *input1, const int32_t *in1_strides, const int16_t *input2,
                       const int32_t *in2_strides, const edgeq_dims *output_dims, int16_t *output);
void edgeq_minimum_s16(const int16_t *input1, const int32_t *in1_strides, const int16_t *input2,
                       const int32_t *in2_strides, const edgeq_dims *output_dims, int16_t *output);
void edgeq_relu_s16(const int16_t *input, int32_t size, int32_t input_zero_point, int32_t mult, int32_t shift,
                    int32_t output_zero_point, int32_t act_min, int32_t act_max, int16_t *output);
void edgeq_relu6_s16(const int16_t *input, int32_t size, int32_t lower, int32_t upper, int16_t *output);
void edgeq_leaky_relu_s16(const int16_t *input, int32_t size, int32_t input_zero_point, int32_t output_zero_point,
                          int32_t mult_identity, int32_t shift_identity, int32_t mult_alpha, int32_t shift_alpha,
                          int32_t alpha_negative, int16_t *output);

/* Float model I/O only (the only float code). */
void edgeq_quantize_f32_s8(const float *input, int32_t size, float scale, int32_t zero_point, int8_t *output);
void edgeq_dequantize_s8_f32(const int8_t *input, int32_t size, double scale, int32_t zero_point, float *output);
void edgeq_quantize_f32_s16(const float *input, int32_t size, float scale, int32_t zero_point, int16_t *output);
void edgeq_dequantize_s16_f32(const int16_t *input, int32_t size, double scale, int32_t zero_point, float *output);

#ifdef __cplusplus
}
#endif

#endif /* EDGEQ_NN_H */
