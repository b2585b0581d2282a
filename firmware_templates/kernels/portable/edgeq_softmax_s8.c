/* SOFTMAX, int8 in -> int8 out (scale 1/256, zero point -128) or int16 out (scale 1/65536, zero point -32768): TFLM
 * reference_ops::Softmax for quantized types, gemmlowp fixed point: inputs rescaled to Q5.26, exp accumulated in
 * Q12.19, reciprocal by Newton-Raphson. */
#include "edgeq_nn.h"

#define EDGEQ_SOFTMAX_SCALED_DIFF_INTEGER_BITS 5
#define EDGEQ_SOFTMAX_ACCUMULATION_INTEGER_BITS 12

static int32_t edgeq_clz32(uint32_t x)
{
    int32_t n = 0;
    if (x == 0) {
        return 32;
    }
    while ((x & UINT32_C(0x80000000)) == 0) {
        x <<= 1;
        ++n;
    }
    return n;
}

/* out_bits 8: int8 output in output8; 16: int16 output in output16 (the exponent and the zero point follow) */
static void edgeq_softmax_rows(const int8_t *input, int32_t num_rows, int32_t row_size, int32_t mult, int32_t shift,
                               int32_t diff_min, int32_t out_bits, int8_t *output8, int16_t *output16)
{
    const int32_t out_min = out_bits == 16 ? INT16_MIN : INT8_MIN;
    const int32_t out_max = out_bits == 16 ? INT16_MAX : INT8_MAX;
    int32_t row;
    int32_t c;
    for (row = 0; row < num_rows; ++row) {
        const int8_t *in = input + row * row_size;
        int32_t max_in_row = -128;
        int32_t sum_of_exps = 0; /* Q12.19 */
        int32_t headroom_plus_one;
        int32_t num_bits_over_unit;
        int32_t shifted_scale;
        int32_t exponent;

        for (c = 0; c < row_size; ++c) {
            if (in[c] > max_in_row) {
                max_in_row = in[c];
            }
        }
        for (c = 0; c < row_size; ++c) {
            const int32_t input_diff = (int32_t)in[c] - max_in_row;
            if (input_diff >= diff_min) {
                const int32_t scaled_diff = edgeq_requantize_gt1(input_diff, mult, shift);
                const int32_t e = edgeq_exp_on_negative_values(scaled_diff, EDGEQ_SOFTMAX_SCALED_DIFF_INTEGER_BITS);
                sum_of_exps += edgeq_rdbpot(e, EDGEQ_SOFTMAX_ACCUMULATION_INTEGER_BITS); /* Rescale<12> */
            }
        }
        /* GetReciprocal(sum_of_exps, 12, &num_bits_over_unit) */
        headroom_plus_one = edgeq_clz32((uint32_t)sum_of_exps);
        num_bits_over_unit = EDGEQ_SOFTMAX_ACCUMULATION_INTEGER_BITS - headroom_plus_one;
        shifted_scale = edgeq_one_over_one_plus_x_for_x_in_0_1(
            (int32_t)(((uint32_t)sum_of_exps << headroom_plus_one) - ((uint32_t)1 << 31)));
        exponent = num_bits_over_unit + 31 - out_bits;

        for (c = 0; c < row_size; ++c) {
            const int32_t input_diff = (int32_t)in[c] - max_in_row;
            if (input_diff >= diff_min) {
                const int32_t scaled_diff = edgeq_requantize_gt1(input_diff, mult, shift);
                const int32_t e = edgeq_exp_on_negative_values(scaled_diff, EDGEQ_SOFTMAX_SCALED_DIFF_INTEGER_BITS);
                int32_t v = edgeq_rdbpot(edgeq_srdhm(shifted_scale, e), exponent) + out_min;
                v = v > out_max ? out_max : v;
                v = v < out_min ? out_min : v;
                if (out_bits == 16) {
                    output16[row * row_size + c] = (int16_t)v;
                } else {
                    output8[row * row_size + c] = (int8_t)v;
                }
            } else if (out_bits == 16) {
                output16[row * row_size + c] = INT16_MIN;
            } else {
                output8[row * row_size + c] = INT8_MIN;
            }
        }
    }
}

void edgeq_softmax_s8(const int8_t *input, int32_t num_rows, int32_t row_size, int32_t mult, int32_t shift,
                      int32_t diff_min, int8_t *output)
{
    edgeq_softmax_rows(input, num_rows, row_size, mult, shift, diff_min, 8, output, NULL);
}

void edgeq_softmax_s8_s16(const int8_t *input, int32_t num_rows, int32_t row_size, int32_t mult, int32_t shift,
                          int32_t diff_min, int16_t *output)
{
    edgeq_softmax_rows(input, num_rows, row_size, mult, shift, diff_min, 16, NULL, output);
}
