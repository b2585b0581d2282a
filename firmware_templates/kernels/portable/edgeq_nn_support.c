/*
 * Fixed-point helpers with the exact semantics of TFLM's reference kernels (tensorflow/lite/kernels/internal/common.h)
 * and gemmlowp's fixedpoint.h, written from their definitions for C99. Every constant shift is done on a 32/64-bit
 * type, since `int` is 16 bits on AVR.
 */
#include "edgeq_nn.h"

int32_t edgeq_srdhm(int32_t a, int32_t b)
{
#if EDGEQ_MUL32_ONLY
    /* (ab + nudge) / 2^31 truncated = floor((ab + 2^30) / 2^31) (see edgeq_requantize_fast): 32-bit multiplies only */
    return a == b && a == INT32_MIN ? INT32_MAX : edgeq_high_mul(a, b & 0xFFFF, b >> 16);
#else
    int64_t ab;
    int64_t nudge;
    if (a == b && a == INT32_MIN) {
        return INT32_MAX;
    }
    ab = (int64_t)a * (int64_t)b;
    nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    /* C division truncates toward zero, like gemmlowp's (ab + nudge) / (1ll << 31) */
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
#endif
}

int32_t edgeq_rdbpot(int32_t x, int32_t exponent)
{
    const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* x * 2^left_shift with the wrap-around of the reference (which multiplies int32 by (1 << shift)). */
static int32_t edgeq_shl(int32_t x, int32_t left_shift)
{
    return (int32_t)((uint32_t)x * ((uint32_t)1 << left_shift));
}

int32_t edgeq_requantize(int32_t x, int32_t multiplier, int32_t shift)
{
    const int32_t left_shift = shift > 0 ? shift : 0;
    const int32_t right_shift = shift > 0 ? 0 : -shift;
    return edgeq_rdbpot(edgeq_srdhm(edgeq_shl(x, left_shift), multiplier), right_shift);
}

int32_t edgeq_requantize_lt1(int32_t x, int32_t multiplier, int32_t left_shift)
{
    return edgeq_rdbpot(edgeq_srdhm(x, multiplier), -left_shift);
}

int32_t edgeq_requantize_gt1(int32_t x, int32_t multiplier, int32_t left_shift)
{
    return edgeq_srdhm(edgeq_shl(x, left_shift), multiplier);
}

/* gemmlowp SaturatingRoundingMultiplyByPOT<exponent> for exponent > 0 */
static int32_t edgeq_sat_shl(int32_t x, int32_t exponent)
{
    const int32_t threshold = (int32_t)(((int64_t)1 << (31 - exponent)) - 1);
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return (int32_t)((int64_t)x * ((int64_t)1 << exponent));
}

/* exp(a) for a in [-1/4, 0), Q0.31 in and out */
static int32_t edgeq_exp_on_interval_between_negative_one_quarter_and_0_excl(int32_t a)
{
    const int32_t constant_term = 1895147668;    /* exp(-1/8) */
    const int32_t constant_1_over_3 = 715827883; /* 1/3 */
    const int32_t x = a + ((int32_t)1 << 28);    /* a + 1/8 */
    const int32_t x2 = edgeq_srdhm(x, x);
    const int32_t x3 = edgeq_srdhm(x2, x);
    const int32_t x4 = edgeq_srdhm(x2, x2);
    const int32_t x4_over_4 = edgeq_rdbpot(x4, 2);
    const int32_t x4_over_24_plus_x3_over_6_plus_x2_over_2 =
        edgeq_rdbpot(edgeq_srdhm(x4_over_4 + x3, constant_1_over_3) + x2, 1);
    return constant_term + edgeq_srdhm(constant_term, x + x4_over_24_plus_x3_over_6_plus_x2_over_2);
}

int32_t edgeq_exp_on_negative_values(int32_t a, int32_t integer_bits)
{
    static const int32_t multipliers[7] = {
        1672461947, /* exp(-1/4) */
        1302514674, /* exp(-1/2) */
        790015084,  /* exp(-1) */
        290630308,  /* exp(-2) */
        39332535,   /* exp(-4) */
        720401,     /* exp(-8) */
        242,        /* exp(-16) */
    };
    const int32_t fractional_bits = 31 - integer_bits;
    const int32_t one_quarter = (int32_t)1 << (fractional_bits - 2);
    const int32_t mask = one_quarter - 1;
    const int32_t a_mod_quarter_minus_one_quarter = (a & mask) - one_quarter;
    int32_t result;
    int32_t remainder;
    int32_t exponent;

    /* Rescale<0> of a Q(integer_bits) value: saturating left shift by integer_bits */
    result = edgeq_exp_on_interval_between_negative_one_quarter_and_0_excl(
        integer_bits > 0 ? edgeq_sat_shl(a_mod_quarter_minus_one_quarter, integer_bits)
                         : a_mod_quarter_minus_one_quarter);
    remainder = a_mod_quarter_minus_one_quarter - a;

    for (exponent = -2; exponent <= 4; ++exponent) {
        if (integer_bits > exponent) {
            const int32_t shift_amount = fractional_bits + exponent;
            if (remainder & ((int32_t)1 << shift_amount)) {
                result = edgeq_srdhm(result, multipliers[exponent + 2]);
            }
        }
    }
    if (integer_bits > 5) {
        const int32_t clamp = -((int32_t)1 << (36 - integer_bits)); /* -32.0 */
        if (a < clamp) {
            result = 0;
        }
    }
    if (a == 0) {
        result = INT32_MAX; /* 1.0 */
    }
    return result;
}

#define EDGEQ_ONE_Q2_29 ((int32_t)1 << 29)

/* gemmlowp's Newton-Raphson division shared by the two functions below: 1 / (1 + a) in Q2.29 for a in [0, 1) (Q0.31),
 * with half_denominator = RoundingHalfSum(a, One) and three iterations from 48/17 - 32/17 * half_denominator. */
static int32_t edgeq_reciprocal_one_plus_x_q2(int32_t a)
{
    const int64_t sum = (int64_t)a + (int64_t)INT32_MAX;
    const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    const int32_t constant_48_over_17 = 1515870810;      /* Q2.29 */
    const int32_t constant_neg_32_over_17 = -1010580540; /* Q2.29 */
    int32_t x = constant_48_over_17 + edgeq_srdhm(half_denominator, constant_neg_32_over_17);
    int32_t i;
    for (i = 0; i < 3; ++i) {
        const int32_t half_denominator_times_x = edgeq_srdhm(half_denominator, x);
        const int32_t one_minus_half_denominator_times_x = EDGEQ_ONE_Q2_29 - half_denominator_times_x;
        x = x + edgeq_sat_shl(edgeq_srdhm(x, one_minus_half_denominator_times_x), 2);
    }
    return x;
}

int32_t edgeq_one_over_one_plus_x_for_x_in_0_1(int32_t a)
{
    /* Rescale<0>(ExactMulByPot<-1>(x)): Q1.30 -> Q0.31 */
    return edgeq_sat_shl(edgeq_reciprocal_one_plus_x_q2(a), 1);
}

int32_t edgeq_one_minus_x_over_one_plus_x_for_x_in_0_1(int32_t a)
{
    /* Rescale<0>(x - F2::One()) */
    return edgeq_sat_shl(edgeq_reciprocal_one_plus_x_q2(a) - EDGEQ_ONE_Q2_29, 2);
}

void edgeq_ow_init(edgeq_out_writer *w, int8_t *out, const edgeq_context *ctx)
{
    w->out = out;
    w->ring = (ctx != NULL && ctx->buf != NULL && ctx->size > 0) ? (int8_t *)ctx->buf : NULL;
    w->size = w->ring != NULL ? ctx->size : 0;
    w->pos = 0;
    w->slot = 0;
}

void edgeq_ow_put_n(edgeq_out_writer *w, const int8_t *src, int32_t n)
{
    int32_t k;
    if (w->size == 0) {
        for (k = 0; k < n; ++k) {
            w->out[w->pos + k] = src[k];
        }
        w->pos += n;
        return;
    }
    while (n > 0 && w->pos < w->size) { /* the ring is still filling: nothing leaves it yet */
        edgeq_ow_put(w, *src++);
        --n;
    }
    while (n > 0) { /* full ring: the oldest bytes go out as the new ones come in, up to the ring's end */
        const int32_t chunk = w->size - w->slot < n ? w->size - w->slot : n;
        int8_t *out = w->out + (w->pos - w->size);
        int8_t *ring = w->ring + w->slot;
        for (k = 0; k < chunk; ++k) {
            out[k] = ring[k];
            ring[k] = src[k];
        }
        src += chunk;
        n -= chunk;
        w->pos += chunk;
        w->slot = w->slot + chunk == w->size ? 0 : w->slot + chunk;
    }
}

void edgeq_ow_flush(edgeq_out_writer *w)
{
    int32_t n;
    int32_t k;
    int32_t slot;
    if (w->size == 0) {
        return;
    }
    n = w->pos < w->size ? w->pos : w->size;
    slot = w->pos < w->size ? 0 : w->slot; /* the oldest byte still in the ring */
    for (k = 0; k < n; ++k) {
        w->out[w->pos - n + k] = w->ring[slot];
        slot = slot + 1 == w->size ? 0 : slot + 1;
    }
    w->size = 0;
}
