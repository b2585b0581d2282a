/* LOGISTIC, RELU, RELU6 and int8 -> int8 QUANTIZE, int8 (TFLM reference_integer_ops::Logistic, micro ReluQuantized,
 * Relu6Quantized, reference_ops::Requantize). All are element by element, so they may run in place. */
#include "edgeq_nn.h"

#define EDGEQ_LOGISTIC_INPUT_INTEGER_BITS 4

/* gemmlowp logistic() of a Q4.27 value, result Q0.31 */
static int32_t edgeq_logistic_q4(int32_t a)
{
    int32_t abs_a;
    int32_t positive;
    if (a == 0) {
        return (int32_t)1 << 30; /* 0.5 */
    }
    abs_a = a > 0 ? a : -a;
    positive = edgeq_one_over_one_plus_x_for_x_in_0_1(
        edgeq_exp_on_negative_values(-abs_a, EDGEQ_LOGISTIC_INPUT_INTEGER_BITS));
    return a > 0 ? positive : INT32_MAX - positive;
}

/* gemmlowp tanh() of a Q4.27 value, result Q0.31: -tanh(-|a|) = (1 - e^(-2|a|)) / (1 + e^(-2|a|)) */
static int32_t edgeq_tanh_q4(int32_t a)
{
    int32_t n;
    int32_t t;
    if (a == 0) {
        return 0;
    }
    n = a < 0 ? a : -a;
    /* ExactMulByPot<1>: the same raw value read as Q5.26 */
    t = edgeq_one_minus_x_over_one_plus_x_for_x_in_0_1(edgeq_exp_on_negative_values(n, 5));
    return a < 0 ? -t : t;
}

/* LOGISTIC and TANH: the input outside +-input_range_radius saturates; inside, it is rescaled to Q4.27 and the
 * Q0.31 curve value rounded to the int8 output (LOGISTIC: scale 1/256, zero point -128; TANH: scale 1/128, zero
 * point 0). */
static void edgeq_curve_s8(const int8_t *input, int32_t size, int32_t input_zero_point, int32_t input_range_radius,
                           int32_t input_multiplier, int32_t input_left_shift, int32_t is_tanh, int8_t *output)
{
    int32_t i;
    for (i = 0; i < size; ++i) {
        const int32_t x = (int32_t)input[i] - input_zero_point;
        if (x <= -input_range_radius) {
            output[i] = -128;
        } else if (x >= input_range_radius) {
            output[i] = 127;
        } else {
            const int32_t x_q4 = edgeq_requantize(x, input_multiplier, input_left_shift);
            int32_t v = is_tanh ? edgeq_rdbpot(edgeq_tanh_q4(x_q4), 31 - 7)
                                : edgeq_rdbpot(edgeq_logistic_q4(x_q4), 31 - 8) - 128;
            v = v < -128 ? -128 : v;
            v = v > 127 ? 127 : v;
            output[i] = (int8_t)v;
        }
    }
}

void edgeq_logistic_s8(const int8_t *input, int32_t size, int32_t input_zero_point, int32_t input_range_radius,
                       int32_t input_multiplier, int32_t input_left_shift, int8_t *output)
{
    edgeq_curve_s8(input, size, input_zero_point, input_range_radius, input_multiplier, input_left_shift, 0, output);
}

void edgeq_tanh_s8(const int8_t *input, int32_t size, int32_t input_zero_point, int32_t input_range_radius,
                   int32_t input_multiplier, int32_t input_left_shift, int8_t *output)
{
    edgeq_curve_s8(input, size, input_zero_point, input_range_radius, input_multiplier, input_left_shift, 1, output);
}

static void edgeq_max_min_s8(const int8_t *a, const int32_t *sa, const int8_t *b, const int32_t *sb,
                             const edgeq_dims *d, int8_t *out, int32_t is_max)
{
    int32_t n, h, w, c;
    for (n = 0; n < d->n; ++n) {
        for (h = 0; h < d->h; ++h) {
            for (w = 0; w < d->w; ++w) {
                const int8_t *pa = a + n * sa[0] + h * sa[1] + w * sa[2];
                const int8_t *pb = b + n * sb[0] + h * sb[1] + w * sb[2];
                for (c = 0; c < d->c; ++c) {
                    const int8_t x = pa[c * sa[3]];
                    const int8_t y = pb[c * sb[3]];
                    *out++ = is_max ? (x > y ? x : y) : (x < y ? x : y);
                }
            }
        }
    }
}

void edgeq_maximum_s8(const int8_t *input1, const int32_t *in1_strides, const int8_t *input2,
                      const int32_t *in2_strides, const edgeq_dims *output_dims, int8_t *output)
{
    edgeq_max_min_s8(input1, in1_strides, input2, in2_strides, output_dims, output, 1);
}

void edgeq_minimum_s8(const int8_t *input1, const int32_t *in1_strides, const int8_t *input2,
                      const int32_t *in2_strides, const edgeq_dims *output_dims, int8_t *output)
{
    edgeq_max_min_s8(input1, in1_strides, input2, in2_strides, output_dims, output, 0);
}

void edgeq_relu_s8(const int8_t *input, int32_t size, int32_t input_zero_point, int32_t mult, int32_t shift,
                   int32_t output_zero_point, int32_t act_min, int32_t act_max, int8_t *output)
{
    int32_t i;
    for (i = 0; i < size; ++i) {
        int32_t v = output_zero_point + edgeq_requantize((int32_t)input[i] - input_zero_point, mult, shift);
        v = v < act_min ? act_min : v;
        v = v > act_max ? act_max : v;
        output[i] = (int8_t)v;
    }
}

void edgeq_relu6_s8(const int8_t *input, int32_t size, int32_t lower, int32_t upper, int8_t *output)
{
    int32_t i;
    for (i = 0; i < size; ++i) {
        const int32_t v = input[i];
        output[i] = (int8_t)(v > upper ? upper : (v < lower ? lower : v));
    }
}

void edgeq_requantize_s8(const int8_t *input, int32_t size, int32_t input_zero_point, int32_t mult, int32_t shift,
                         int32_t output_zero_point, int8_t *output)
{
    edgeq_relu_s8(input, size, input_zero_point, mult, shift, output_zero_point, -128, 127, output);
}

void edgeq_lut_s8(const int8_t *input, int32_t size, const int8_t *lut, int8_t *output)
{
    int32_t i;
    for (i = 0; i < size; ++i) {
        output[i] = EDGEQ_W8(&lut[(int32_t)input[i] + 128]);
    }
}

void edgeq_prelu_s8(const int8_t *input, const int32_t *in_strides, const int8_t *alpha, const int32_t *alpha_strides,
                    const edgeq_dims *output_dims, const edgeq_prelu_params *p, int8_t *output)
{
    int32_t n, h, w, c;
    for (n = 0; n < output_dims->n; ++n) {
        for (h = 0; h < output_dims->h; ++h) {
            for (w = 0; w < output_dims->w; ++w) {
                const int8_t *pi = input + n * in_strides[0] + h * in_strides[1] + w * in_strides[2];
                const int8_t *pa = alpha + n * alpha_strides[0] + h * alpha_strides[1] + w * alpha_strides[2];
                for (c = 0; c < output_dims->c; ++c) {
                    const int32_t x = p->input_offset + pi[c * in_strides[3]];
                    int32_t v;
                    if (x >= 0) {
                        v = edgeq_requantize(x, p->mult_1, p->shift_1);
                    } else {
                        v = edgeq_requantize(x * (p->alpha_offset + pa[c * alpha_strides[3]]), p->mult_2, p->shift_2);
                    }
                    v += p->output_offset;
                    v = v < -128 ? -128 : v;
                    v = v > 127 ? 127 : v;
                    *output++ = (int8_t)v;
                }
            }
        }
    }
}
