/* ADD, SUB and MUL, int8 (TFLM reference_integer_ops::AddFunc, reference_ops::SubElementwise, MulElementwise,
 * and their broadcast forms). SUB is ADD's arithmetic with the scaled second input subtracted.
 * ADD: both inputs are shifted left by left_shift (20), scaled to a common scale, summed and requantized.
 * Each output element depends only on the input elements at the same position, so the output may share memory
 * with an input (the compiler plans it in place when that input dies here). */
#include "edgeq_nn.h"

static int8_t edgeq_add_one(int32_t x, int32_t y, int32_t input_1_offset, int32_t input_1_mult, int32_t input_1_shift,
                            int32_t input_2_offset, int32_t input_2_mult, int32_t input_2_shift, int32_t left_shift,
                            int32_t out_offset, int32_t out_mult, int32_t out_shift, int32_t act_min, int32_t act_max)
{
    const int32_t shifted_1 = (input_1_offset + x) * ((int32_t)1 << left_shift);
    const int32_t shifted_2 = (input_2_offset + y) * ((int32_t)1 << left_shift);
    const int32_t scaled_1 = edgeq_requantize_lt1(shifted_1, input_1_mult, input_1_shift);
    const int32_t scaled_2 = edgeq_requantize_lt1(shifted_2, input_2_mult, input_2_shift);
    int32_t out = edgeq_requantize_lt1(scaled_1 + scaled_2, out_mult, out_shift) + out_offset;
    out = out < act_min ? act_min : out;
    out = out > act_max ? act_max : out;
    return (int8_t)out;
}

static int8_t edgeq_sub_one(int32_t x, int32_t y, int32_t input_1_offset, int32_t input_1_mult, int32_t input_1_shift,
                            int32_t input_2_offset, int32_t input_2_mult, int32_t input_2_shift, int32_t left_shift,
                            int32_t out_offset, int32_t out_mult, int32_t out_shift, int32_t act_min, int32_t act_max)
{
    const int32_t shifted_1 = (input_1_offset + x) * ((int32_t)1 << left_shift);
    const int32_t shifted_2 = (input_2_offset + y) * ((int32_t)1 << left_shift);
    const int32_t scaled_1 = edgeq_requantize_lt1(shifted_1, input_1_mult, input_1_shift);
    const int32_t scaled_2 = edgeq_requantize_lt1(shifted_2, input_2_mult, input_2_shift);
    int32_t out = edgeq_requantize_lt1(scaled_1 - scaled_2, out_mult, out_shift) + out_offset;
    out = out < act_min ? act_min : out;
    out = out > act_max ? act_max : out;
    return (int8_t)out;
}

static int8_t edgeq_mul_one(int32_t x, int32_t y, int32_t input_1_offset, int32_t input_2_offset, int32_t out_offset,
                            int32_t out_mult, int32_t out_shift, int32_t act_min, int32_t act_max)
{
    int32_t out = out_offset + edgeq_requantize((input_1_offset + x) * (input_2_offset + y), out_mult, out_shift);
    out = out < act_min ? act_min : out;
    out = out > act_max ? act_max : out;
    return (int8_t)out;
}

edgeq_status edgeq_elementwise_add_s8(const int8_t *input_1_vect, const int8_t *input_2_vect,
                                      int32_t input_1_offset, int32_t input_1_mult, int32_t input_1_shift,
                                      int32_t input_2_offset, int32_t input_2_mult, int32_t input_2_shift,
                                      int32_t left_shift, int8_t *output, int32_t out_offset, int32_t out_mult,
                                      int32_t out_shift, int32_t out_activation_min, int32_t out_activation_max,
                                      int32_t block_size)
{
    int32_t i;
    for (i = 0; i < block_size; ++i) {
        output[i] = edgeq_add_one(input_1_vect[i], input_2_vect[i], input_1_offset, input_1_mult, input_1_shift,
                                  input_2_offset, input_2_mult, input_2_shift, left_shift, out_offset, out_mult,
                                  out_shift, out_activation_min, out_activation_max);
    }
    return EDGEQ_OK;
}

edgeq_status edgeq_elementwise_mul_s8(const int8_t *input_1_vect, const int8_t *input_2_vect,
                                      int32_t input_1_offset, int32_t input_2_offset, int8_t *output,
                                      int32_t out_offset, int32_t out_mult, int32_t out_shift,
                                      int32_t out_activation_min, int32_t out_activation_max, int32_t block_size)
{
    int32_t i;
    for (i = 0; i < block_size; ++i) {
        output[i] = edgeq_mul_one(input_1_vect[i], input_2_vect[i], input_1_offset, input_2_offset, out_offset,
                                  out_mult, out_shift, out_activation_min, out_activation_max);
    }
    return EDGEQ_OK;
}

edgeq_status edgeq_broadcast_add_s8(const int8_t *input_1, const int32_t *in1_strides, const int8_t *input_2,
                                    const int32_t *in2_strides, const edgeq_dims *output_dims,
                                    int32_t input_1_offset, int32_t input_1_mult, int32_t input_1_shift,
                                    int32_t input_2_offset, int32_t input_2_mult, int32_t input_2_shift,
                                    int32_t left_shift, int8_t *output, int32_t out_offset, int32_t out_mult,
                                    int32_t out_shift, int32_t out_activation_min, int32_t out_activation_max)
{
    int32_t n, h, w, c;
    int8_t *out = output;
    for (n = 0; n < output_dims->n; ++n) {
        for (h = 0; h < output_dims->h; ++h) {
            for (w = 0; w < output_dims->w; ++w) {
                for (c = 0; c < output_dims->c; ++c) {
                    const int32_t i1 = n * in1_strides[0] + h * in1_strides[1] + w * in1_strides[2] + c * in1_strides[3];
                    const int32_t i2 = n * in2_strides[0] + h * in2_strides[1] + w * in2_strides[2] + c * in2_strides[3];
                    *out++ = edgeq_add_one(input_1[i1], input_2[i2], input_1_offset, input_1_mult, input_1_shift,
                                           input_2_offset, input_2_mult, input_2_shift, left_shift, out_offset,
                                           out_mult, out_shift, out_activation_min, out_activation_max);
                }
            }
        }
    }
    return EDGEQ_OK;
}

edgeq_status edgeq_broadcast_mul_s8(const int8_t *input_1, const int32_t *in1_strides, const int8_t *input_2,
                                    const int32_t *in2_strides, const edgeq_dims *output_dims,
                                    int32_t input_1_offset, int32_t input_2_offset, int8_t *output,
                                    int32_t out_offset, int32_t out_mult, int32_t out_shift,
                                    int32_t out_activation_min, int32_t out_activation_max)
{
    int32_t n, h, w, c;
    int8_t *out = output;
    for (n = 0; n < output_dims->n; ++n) {
        for (h = 0; h < output_dims->h; ++h) {
            for (w = 0; w < output_dims->w; ++w) {
                for (c = 0; c < output_dims->c; ++c) {
                    const int32_t i1 = n * in1_strides[0] + h * in1_strides[1] + w * in1_strides[2] + c * in1_strides[3];
                    const int32_t i2 = n * in2_strides[0] + h * in2_strides[1] + w * in2_strides[2] + c * in2_strides[3];
                    *out++ = edgeq_mul_one(input_1[i1], input_2[i2], input_1_offset, input_2_offset, out_offset,
                                           out_mult, out_shift, out_activation_min, out_activation_max);
                }
            }
        }
    }
    return EDGEQ_OK;
}

edgeq_status edgeq_elementwise_sub_s8(const int8_t *input_1_vect, const int8_t *input_2_vect,
                                      int32_t input_1_offset, int32_t input_1_mult, int32_t input_1_shift,
                                      int32_t input_2_offset, int32_t input_2_mult, int32_t input_2_shift,
                                      int32_t left_shift, int8_t *output, int32_t out_offset, int32_t out_mult,
                                      int32_t out_shift, int32_t out_activation_min, int32_t out_activation_max,
                                      int32_t block_size)
{
    int32_t i;
    for (i = 0; i < block_size; ++i) {
        output[i] = edgeq_sub_one(input_1_vect[i], input_2_vect[i], input_1_offset, input_1_mult, input_1_shift,
                                  input_2_offset, input_2_mult, input_2_shift, left_shift, out_offset, out_mult,
                                  out_shift, out_activation_min, out_activation_max);
    }
    return EDGEQ_OK;
}

edgeq_status edgeq_broadcast_sub_s8(const int8_t *input_1, const int32_t *in1_strides, const int8_t *input_2,
                                    const int32_t *in2_strides, const edgeq_dims *output_dims,
                                    int32_t input_1_offset, int32_t input_1_mult, int32_t input_1_shift,
                                    int32_t input_2_offset, int32_t input_2_mult, int32_t input_2_shift,
                                    int32_t left_shift, int8_t *output, int32_t out_offset, int32_t out_mult,
                                    int32_t out_shift, int32_t out_activation_min, int32_t out_activation_max)
{
    int32_t n, h, w, c;
    int8_t *out = output;
    for (n = 0; n < output_dims->n; ++n) {
        for (h = 0; h < output_dims->h; ++h) {
            for (w = 0; w < output_dims->w; ++w) {
                for (c = 0; c < output_dims->c; ++c) {
                    const int32_t i1 = n * in1_strides[0] + h * in1_strides[1] + w * in1_strides[2] + c * in1_strides[3];
                    const int32_t i2 = n * in2_strides[0] + h * in2_strides[1] + w * in2_strides[2] + c * in2_strides[3];
                    *out++ = edgeq_sub_one(input_1[i1], input_2[i2], input_1_offset, input_1_mult, input_1_shift,
                                           input_2_offset, input_2_mult, input_2_shift, left_shift, out_offset,
                                           out_mult, out_shift, out_activation_min, out_activation_max);
                }
            }
        }
    }
    return EDGEQ_OK;
}

edgeq_status edgeq_squared_difference_s8(const int8_t *input_1, const int32_t *in1_strides, const int8_t *input_2,
                                         const int32_t *in2_strides, const edgeq_dims *output_dims,
                                         const edgeq_squared_difference_params *p, int8_t *output)
{
    int32_t n, h, w, c;
    int8_t *out = output;
    for (n = 0; n < output_dims->n; ++n) {
        for (h = 0; h < output_dims->h; ++h) {
            for (w = 0; w < output_dims->w; ++w) {
                for (c = 0; c < output_dims->c; ++c) {
                    const int32_t i1 = n * in1_strides[0] + h * in1_strides[1] + w * in1_strides[2] + c * in1_strides[3];
                    const int32_t i2 = n * in2_strides[0] + h * in2_strides[1] + w * in2_strides[2] + c * in2_strides[3];
                    const int32_t a = edgeq_requantize_lt1((p->input_1_offset + input_1[i1]) * ((int32_t)1 << 7),
                                                           p->input_1_mult, p->input_1_shift);
                    const int32_t b = edgeq_requantize_lt1((p->input_2_offset + input_2[i2]) * ((int32_t)1 << 7),
                                                           p->input_2_mult, p->input_2_shift);
                    int32_t v = edgeq_requantize((a - b) * (a - b), p->out_mult, p->out_shift) + p->out_offset;
                    v = v < -128 ? -128 : v;
                    v = v > 127 ? 127 : v;
                    *out++ = (int8_t)v;
                }
            }
        }
    }
    return EDGEQ_OK;
}
