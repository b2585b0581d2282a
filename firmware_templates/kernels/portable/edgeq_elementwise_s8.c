/* ADD, SUB and MUL, int8 (TFLM reference_integer_ops::AddFunc, reference_ops::SubElementwise, MulElementwise,
 * and their broadcast forms). SUB is ADD's arithmetic with the scaled second input subtracted.
 * ADD: both inputs are shifted left by left_shift (20), scaled to a common scale, summed and requantized.
 * Each output element depends only on the input elements at the same position, so the output may share memory
 * with an input (the compiler plans it in place when that input dies here). */
#include "edgeq_nn.h"

/* The arithmetic of one output element, with its parameters: ADD and SUB share one (SUB subtracts the scaled second
 * input), MUL and SQUARED_DIFFERENCE have their own. The loops below (same shapes, or 4-D broadcasting through
 * element strides that are 0 along broadcast dimensions) call it once per output element. Both are forced inline, so
 * each kernel compiles to its own loop with the arithmetic in it (no call per element, at -O2 and at Arduino's -Os). */
typedef struct {
    int32_t input_1_offset, input_1_mult, input_1_shift;
    int32_t input_2_offset, input_2_mult, input_2_shift;
    int32_t left_shift, out_offset, out_mult, out_shift, act_min, act_max;
    int32_t subtract;
} edgeq_add_sub_args;

typedef struct {
    int32_t input_1_offset, input_2_offset, out_offset, out_mult, out_shift, act_min, act_max;
} edgeq_mul_args;

typedef int8_t (*edgeq_binary_fn)(int32_t x, int32_t y, const void *args);

EDGEQ_ALWAYS_INLINE int8_t edgeq_add_sub_one(int32_t x, int32_t y, const void *args)
{
    const edgeq_add_sub_args *a = (const edgeq_add_sub_args *)args;
    const int32_t shifted_1 = (a->input_1_offset + x) * ((int32_t)1 << a->left_shift);
    const int32_t shifted_2 = (a->input_2_offset + y) * ((int32_t)1 << a->left_shift);
    const int32_t scaled_1 = edgeq_requantize_lt1(shifted_1, a->input_1_mult, a->input_1_shift);
    const int32_t scaled_2 = edgeq_requantize_lt1(shifted_2, a->input_2_mult, a->input_2_shift);
    int32_t out = edgeq_requantize_lt1(a->subtract ? scaled_1 - scaled_2 : scaled_1 + scaled_2, a->out_mult,
                                       a->out_shift) + a->out_offset;
    out = out < a->act_min ? a->act_min : out;
    out = out > a->act_max ? a->act_max : out;
    return (int8_t)out;
}

EDGEQ_ALWAYS_INLINE int8_t edgeq_mul_one(int32_t x, int32_t y, const void *args)
{
    const edgeq_mul_args *a = (const edgeq_mul_args *)args;
    int32_t out = a->out_offset + edgeq_requantize((a->input_1_offset + x) * (a->input_2_offset + y), a->out_mult,
                                                   a->out_shift);
    out = out < a->act_min ? a->act_min : out;
    out = out > a->act_max ? a->act_max : out;
    return (int8_t)out;
}

EDGEQ_ALWAYS_INLINE int8_t edgeq_squared_difference_one(int32_t x, int32_t y, const void *args)
{
    const edgeq_squared_difference_params *p = (const edgeq_squared_difference_params *)args;
    const int32_t a = edgeq_requantize_lt1((p->input_1_offset + x) * ((int32_t)1 << 7), p->input_1_mult,
                                           p->input_1_shift);
    const int32_t b = edgeq_requantize_lt1((p->input_2_offset + y) * ((int32_t)1 << 7), p->input_2_mult,
                                           p->input_2_shift);
    int32_t v = edgeq_requantize((a - b) * (a - b), p->out_mult, p->out_shift) + p->out_offset;
    v = v < -128 ? -128 : v;
    v = v > 127 ? 127 : v;
    return (int8_t)v;
}

EDGEQ_ALWAYS_INLINE void edgeq_elementwise_loop(const int8_t *input_1, const int8_t *input_2, int32_t size,
                                          edgeq_binary_fn one, const void *args, int8_t *output)
{
    int32_t i;
    for (i = 0; i < size; ++i) {
        output[i] = one(input_1[i], input_2[i], args);
    }
}

EDGEQ_ALWAYS_INLINE void edgeq_broadcast_loop(const int8_t *input_1, const int32_t *s1, const int8_t *input_2,
                                        const int32_t *s2, const edgeq_dims *d, edgeq_binary_fn one, const void *args,
                                        int8_t *out)
{
    int32_t n, h, w, c;
    for (n = 0; n < d->n; ++n) {
        for (h = 0; h < d->h; ++h) {
            for (w = 0; w < d->w; ++w) {
                const int8_t *p1 = input_1 + n * s1[0] + h * s1[1] + w * s1[2];
                const int8_t *p2 = input_2 + n * s2[0] + h * s2[1] + w * s2[2];
                for (c = 0; c < d->c; ++c) {
                    *out++ = one(p1[c * s1[3]], p2[c * s2[3]], args);
                }
            }
        }
    }
}

edgeq_status edgeq_elementwise_add_s8(const int8_t *input_1_vect, const int8_t *input_2_vect,
                                      int32_t input_1_offset, int32_t input_1_mult, int32_t input_1_shift,
                                      int32_t input_2_offset, int32_t input_2_mult, int32_t input_2_shift,
                                      int32_t left_shift, int8_t *output, int32_t out_offset, int32_t out_mult,
                                      int32_t out_shift, int32_t out_activation_min, int32_t out_activation_max,
                                      int32_t block_size)
{
    const edgeq_add_sub_args a = {input_1_offset, input_1_mult, input_1_shift, input_2_offset, input_2_mult,
                                  input_2_shift, left_shift, out_offset, out_mult, out_shift, out_activation_min,
                                  out_activation_max, 0};
    edgeq_elementwise_loop(input_1_vect, input_2_vect, block_size, edgeq_add_sub_one, &a, output);
    return EDGEQ_OK;
}

/* ADD through two tables of the scaled inputs (table_k[x + 128] = scaled_k of edgeq_add_sub_one for the int8 input
 * x, computed offline with TFLM's arithmetic): per element two loads and one requantization instead of three. */
edgeq_status edgeq_elementwise_add_lut_s8(const int8_t *input_1_vect, const int8_t *input_2_vect,
                                          const int32_t *table_1, const int32_t *table_2, int8_t *output,
                                          int32_t out_offset, int32_t out_mult, int32_t out_shift,
                                          int32_t out_activation_min, int32_t out_activation_max, int32_t block_size)
{
    const int32_t *t1 = table_1 + 128;
    const int32_t *t2 = table_2 + 128;
    int32_t i;
    for (i = 0; i < block_size; ++i) {
        int32_t out = edgeq_requantize_fast(EDGEQ_W32(&t1[input_1_vect[i]]) + EDGEQ_W32(&t2[input_2_vect[i]]),
                                            out_mult, out_shift) + out_offset;
        out = out < out_activation_min ? out_activation_min : out;
        output[i] = (int8_t)(out > out_activation_max ? out_activation_max : out);
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
    const edgeq_add_sub_args a = {input_1_offset, input_1_mult, input_1_shift, input_2_offset, input_2_mult,
                                  input_2_shift, left_shift, out_offset, out_mult, out_shift, out_activation_min,
                                  out_activation_max, 1};
    edgeq_elementwise_loop(input_1_vect, input_2_vect, block_size, edgeq_add_sub_one, &a, output);
    return EDGEQ_OK;
}

edgeq_status edgeq_elementwise_mul_s8(const int8_t *input_1_vect, const int8_t *input_2_vect,
                                      int32_t input_1_offset, int32_t input_2_offset, int8_t *output,
                                      int32_t out_offset, int32_t out_mult, int32_t out_shift,
                                      int32_t out_activation_min, int32_t out_activation_max, int32_t block_size)
{
    const edgeq_mul_args a = {input_1_offset, input_2_offset, out_offset, out_mult, out_shift, out_activation_min,
                              out_activation_max};
    edgeq_elementwise_loop(input_1_vect, input_2_vect, block_size, edgeq_mul_one, &a, output);
    return EDGEQ_OK;
}

edgeq_status edgeq_broadcast_add_s8(const int8_t *input_1, const int32_t *in1_strides, const int8_t *input_2,
                                    const int32_t *in2_strides, const edgeq_dims *output_dims,
                                    int32_t input_1_offset, int32_t input_1_mult, int32_t input_1_shift,
                                    int32_t input_2_offset, int32_t input_2_mult, int32_t input_2_shift,
                                    int32_t left_shift, int8_t *output, int32_t out_offset, int32_t out_mult,
                                    int32_t out_shift, int32_t out_activation_min, int32_t out_activation_max)
{
    const edgeq_add_sub_args a = {input_1_offset, input_1_mult, input_1_shift, input_2_offset, input_2_mult,
                                  input_2_shift, left_shift, out_offset, out_mult, out_shift, out_activation_min,
                                  out_activation_max, 0};
    edgeq_broadcast_loop(input_1, in1_strides, input_2, in2_strides, output_dims, edgeq_add_sub_one, &a, output);
    return EDGEQ_OK;
}

edgeq_status edgeq_broadcast_sub_s8(const int8_t *input_1, const int32_t *in1_strides, const int8_t *input_2,
                                    const int32_t *in2_strides, const edgeq_dims *output_dims,
                                    int32_t input_1_offset, int32_t input_1_mult, int32_t input_1_shift,
                                    int32_t input_2_offset, int32_t input_2_mult, int32_t input_2_shift,
                                    int32_t left_shift, int8_t *output, int32_t out_offset, int32_t out_mult,
                                    int32_t out_shift, int32_t out_activation_min, int32_t out_activation_max)
{
    const edgeq_add_sub_args a = {input_1_offset, input_1_mult, input_1_shift, input_2_offset, input_2_mult,
                                  input_2_shift, left_shift, out_offset, out_mult, out_shift, out_activation_min,
                                  out_activation_max, 1};
    edgeq_broadcast_loop(input_1, in1_strides, input_2, in2_strides, output_dims, edgeq_add_sub_one, &a, output);
    return EDGEQ_OK;
}

edgeq_status edgeq_broadcast_mul_s8(const int8_t *input_1, const int32_t *in1_strides, const int8_t *input_2,
                                    const int32_t *in2_strides, const edgeq_dims *output_dims,
                                    int32_t input_1_offset, int32_t input_2_offset, int8_t *output,
                                    int32_t out_offset, int32_t out_mult, int32_t out_shift,
                                    int32_t out_activation_min, int32_t out_activation_max)
{
    const edgeq_mul_args a = {input_1_offset, input_2_offset, out_offset, out_mult, out_shift, out_activation_min,
                              out_activation_max};
    edgeq_broadcast_loop(input_1, in1_strides, input_2, in2_strides, output_dims, edgeq_mul_one, &a, output);
    return EDGEQ_OK;
}

edgeq_status edgeq_squared_difference_s8(const int8_t *input_1, const int32_t *in1_strides, const int8_t *input_2,
                                         const int32_t *in2_strides, const edgeq_dims *output_dims,
                                         const edgeq_squared_difference_params *p, int8_t *output)
{
    edgeq_broadcast_loop(input_1, in1_strides, input_2, in2_strides, output_dims, edgeq_squared_difference_one, p,
                         output);
    return EDGEQ_OK;
}
