/* ADD, SUB, MUL and SQUARED_DIFFERENCE, int8 and int16 (TFLM reference_integer_ops::AddFunc / reference_ops::Add with
 * pot_scale = false, SubElementwise / BroadcastQuantSubSlow, MulElementwise / BroadcastMul6DSlow,
 * squared_difference.cc; the same arithmetic for both element types, in int32). ADD / SUB: both inputs shifted left
 * by left_shift (20 for int8, 15 for int16), scaled to a common scale, added (subtracted) and requantized; MUL
 * requantizes the product of the offset inputs (zero points 0 for int16). Each output element depends only on the
 * input elements at the same position, so the output may share memory with an input (the compiler plans it in place
 * when that input dies here).
 *
 * The arithmetic of one output element, with its parameters: ADD and SUB share one (SUB subtracts the scaled second
 * input), MUL and SQUARED_DIFFERENCE have their own. The loops below (same shapes, or 4-D broadcasting through element
 * strides that are 0 along broadcast dimensions) call it once per output element. All are forced inline into the
 * entry points, where the element size is a constant, so each kernel compiles to its own loop with the arithmetic in
 * it (no call per element, at -O2 and at Arduino's -Os). */
#include "edgeq_nn.h"

typedef struct {
    int32_t input_1_offset, input_1_mult, input_1_shift;
    int32_t input_2_offset, input_2_mult, input_2_shift;
    int32_t left_shift, out_offset, out_mult, out_shift, act_min, act_max;
    int32_t subtract;
} edgeq_add_sub_args;

typedef struct {
    int32_t input_1_offset, input_2_offset, out_offset, out_mult, out_shift, act_min, act_max;
} edgeq_mul_args;

/* one output element from the two input elements x, y (widened to int32), clamped to the output range */
typedef int32_t (*edgeq_binary_fn)(int32_t x, int32_t y, const void *args, int32_t elem_size);

EDGEQ_ALWAYS_INLINE int32_t edgeq_add_sub_one(int32_t x, int32_t y, const void *args, int32_t elem_size)
{
    const edgeq_add_sub_args *a = (const edgeq_add_sub_args *)args;
    const int32_t shifted_1 = (a->input_1_offset + x) * ((int32_t)1 << a->left_shift);
    const int32_t shifted_2 = (a->input_2_offset + y) * ((int32_t)1 << a->left_shift);
    const int32_t scaled_1 = edgeq_requantize_lt1(shifted_1, a->input_1_mult, a->input_1_shift);
    const int32_t scaled_2 = edgeq_requantize_lt1(shifted_2, a->input_2_mult, a->input_2_shift);
    int32_t out = edgeq_requantize_lt1(a->subtract ? scaled_1 - scaled_2 : scaled_1 + scaled_2, a->out_mult,
                                       a->out_shift) + a->out_offset;
    (void)elem_size;
    out = out < a->act_min ? a->act_min : out;
    return out > a->act_max ? a->act_max : out;
}

EDGEQ_ALWAYS_INLINE int32_t edgeq_mul_one(int32_t x, int32_t y, const void *args, int32_t elem_size)
{
    const edgeq_mul_args *a = (const edgeq_mul_args *)args;
    int32_t out = a->out_offset + edgeq_requantize((a->input_1_offset + x) * (a->input_2_offset + y), a->out_mult,
                                                   a->out_shift);
    (void)elem_size;
    out = out < a->act_min ? a->act_min : out;
    return out > a->act_max ? a->act_max : out;
}

/* SQUARED_DIFFERENCE: both inputs shifted left by 7 (int8; 0 for int16) and scaled to twice the larger input
 * scale, the difference squared in int32 (at most 32767^2 for int16) and requantized, clamped to the output type. */
EDGEQ_ALWAYS_INLINE int32_t edgeq_squared_difference_one(int32_t x, int32_t y, const void *args, int32_t elem_size)
{
    const edgeq_squared_difference_params *sd_params = (const edgeq_squared_difference_params *)args;
    const int32_t left_shift = elem_size == 1 ? 7 : 0;
    const int32_t a = edgeq_requantize_lt1((sd_params->input_1_offset + x) * ((int32_t)1 << left_shift),
                                           sd_params->input_1_mult, sd_params->input_1_shift);
    const int32_t b = edgeq_requantize_lt1((sd_params->input_2_offset + y) * ((int32_t)1 << left_shift),
                                           sd_params->input_2_mult, sd_params->input_2_shift);
    int32_t v = edgeq_requantize((a - b) * (a - b), sd_params->out_mult, sd_params->out_shift) + sd_params->out_offset;
    v = v < edgeq_elem_min(elem_size) ? edgeq_elem_min(elem_size) : v;
    return v > edgeq_elem_max(elem_size) ? edgeq_elem_max(elem_size) : v;
}

EDGEQ_ALWAYS_INLINE void edgeq_elementwise_loop(const void *input_1, const void *input_2, int32_t size,
                                                edgeq_binary_fn one, const void *args, void *output,
                                                int32_t elem_size)
{
    int32_t i;
    for (i = 0; i < size; ++i) {
        edgeq_elem_set(output, i,
                       one(edgeq_elem_get(input_1, i, elem_size), edgeq_elem_get(input_2, i, elem_size), args,
                           elem_size),
                       elem_size);
    }
}

EDGEQ_ALWAYS_INLINE void edgeq_broadcast_loop(const void *input_1, const int32_t *s1, const void *input_2,
                                              const int32_t *s2, const edgeq_dims *d, edgeq_binary_fn one,
                                              const void *args, void *output, int32_t elem_size)
{
    uint8_t *out = (uint8_t *)output;
    int32_t n, h, w, c;
    for (n = 0; n < d->n; ++n) {
        for (h = 0; h < d->h; ++h) {
            for (w = 0; w < d->w; ++w) {
                const uint8_t *p1 = (const uint8_t *)input_1 + (n * s1[0] + h * s1[1] + w * s1[2]) * elem_size;
                const uint8_t *p2 = (const uint8_t *)input_2 + (n * s2[0] + h * s2[1] + w * s2[2]) * elem_size;
                for (c = 0; c < d->c; ++c, out += elem_size) {
                    edgeq_elem_set(out, 0,
                                   one(edgeq_elem_get(p1, c * s1[3], elem_size),
                                       edgeq_elem_get(p2, c * s2[3], elem_size), args, elem_size),
                                   elem_size);
                }
            }
        }
    }
}

/* ADD / SUB of same-shape (broadcast: output_dims and element strides) inputs, for both element types */
EDGEQ_ALWAYS_INLINE void edgeq_add_sub(const void *input_1, const int32_t *in1_strides, const void *input_2,
                                       const int32_t *in2_strides, const edgeq_dims *output_dims, int32_t size,
                                       int32_t input_1_offset, int32_t input_1_mult, int32_t input_1_shift,
                                       int32_t input_2_offset, int32_t input_2_mult, int32_t input_2_shift,
                                       int32_t left_shift, void *output, int32_t out_offset, int32_t out_mult,
                                       int32_t out_shift, int32_t out_activation_min, int32_t out_activation_max,
                                       int32_t subtract, int32_t elem_size)
{
    const edgeq_add_sub_args a = {input_1_offset, input_1_mult, input_1_shift, input_2_offset, input_2_mult,
                                  input_2_shift, left_shift, out_offset, out_mult, out_shift, out_activation_min,
                                  out_activation_max, subtract};
    if (output_dims == NULL) {
        edgeq_elementwise_loop(input_1, input_2, size, edgeq_add_sub_one, &a, output, elem_size);
    } else {
        edgeq_broadcast_loop(input_1, in1_strides, input_2, in2_strides, output_dims, edgeq_add_sub_one, &a, output,
                             elem_size);
    }
}

/* MUL, likewise */
EDGEQ_ALWAYS_INLINE void edgeq_mul(const void *input_1, const int32_t *in1_strides, const void *input_2,
                                   const int32_t *in2_strides, const edgeq_dims *output_dims, int32_t size,
                                   int32_t input_1_offset, int32_t input_2_offset, void *output, int32_t out_offset,
                                   int32_t out_mult, int32_t out_shift, int32_t out_activation_min,
                                   int32_t out_activation_max, int32_t elem_size)
{
    const edgeq_mul_args a = {input_1_offset, input_2_offset, out_offset, out_mult, out_shift, out_activation_min,
                              out_activation_max};
    if (output_dims == NULL) {
        edgeq_elementwise_loop(input_1, input_2, size, edgeq_mul_one, &a, output, elem_size);
    } else {
        edgeq_broadcast_loop(input_1, in1_strides, input_2, in2_strides, output_dims, edgeq_mul_one, &a, output,
                             elem_size);
    }
}

edgeq_status edgeq_elementwise_add_s8(const int8_t *input_1_vect, const int8_t *input_2_vect,
                                      int32_t input_1_offset, int32_t input_1_mult, int32_t input_1_shift,
                                      int32_t input_2_offset, int32_t input_2_mult, int32_t input_2_shift,
                                      int32_t left_shift, int8_t *output, int32_t out_offset, int32_t out_mult,
                                      int32_t out_shift, int32_t out_activation_min, int32_t out_activation_max,
                                      int32_t block_size)
{
    edgeq_add_sub(input_1_vect, NULL, input_2_vect, NULL, NULL, block_size, input_1_offset, input_1_mult, input_1_shift,
                  input_2_offset, input_2_mult, input_2_shift, left_shift, output, out_offset, out_mult, out_shift,
                  out_activation_min, out_activation_max, 0, 1);
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
    edgeq_add_sub(input_1_vect, NULL, input_2_vect, NULL, NULL, block_size, input_1_offset, input_1_mult, input_1_shift,
                  input_2_offset, input_2_mult, input_2_shift, left_shift, output, out_offset, out_mult, out_shift,
                  out_activation_min, out_activation_max, 1, 1);
    return EDGEQ_OK;
}

edgeq_status edgeq_elementwise_mul_s8(const int8_t *input_1_vect, const int8_t *input_2_vect,
                                      int32_t input_1_offset, int32_t input_2_offset, int8_t *output,
                                      int32_t out_offset, int32_t out_mult, int32_t out_shift,
                                      int32_t out_activation_min, int32_t out_activation_max, int32_t block_size)
{
    edgeq_mul(input_1_vect, NULL, input_2_vect, NULL, NULL, block_size, input_1_offset, input_2_offset, output,
              out_offset, out_mult, out_shift, out_activation_min, out_activation_max, 1);
    return EDGEQ_OK;
}

edgeq_status edgeq_broadcast_add_s8(const int8_t *input_1, const int32_t *in1_strides, const int8_t *input_2,
                                    const int32_t *in2_strides, const edgeq_dims *output_dims,
                                    int32_t input_1_offset, int32_t input_1_mult, int32_t input_1_shift,
                                    int32_t input_2_offset, int32_t input_2_mult, int32_t input_2_shift,
                                    int32_t left_shift, int8_t *output, int32_t out_offset, int32_t out_mult,
                                    int32_t out_shift, int32_t out_activation_min, int32_t out_activation_max)
{
    edgeq_add_sub(input_1, in1_strides, input_2, in2_strides, output_dims, 0, input_1_offset, input_1_mult,
                  input_1_shift, input_2_offset, input_2_mult, input_2_shift, left_shift, output, out_offset, out_mult,
                  out_shift, out_activation_min, out_activation_max, 0, 1);
    return EDGEQ_OK;
}

edgeq_status edgeq_broadcast_sub_s8(const int8_t *input_1, const int32_t *in1_strides, const int8_t *input_2,
                                    const int32_t *in2_strides, const edgeq_dims *output_dims,
                                    int32_t input_1_offset, int32_t input_1_mult, int32_t input_1_shift,
                                    int32_t input_2_offset, int32_t input_2_mult, int32_t input_2_shift,
                                    int32_t left_shift, int8_t *output, int32_t out_offset, int32_t out_mult,
                                    int32_t out_shift, int32_t out_activation_min, int32_t out_activation_max)
{
    edgeq_add_sub(input_1, in1_strides, input_2, in2_strides, output_dims, 0, input_1_offset, input_1_mult,
                  input_1_shift, input_2_offset, input_2_mult, input_2_shift, left_shift, output, out_offset, out_mult,
                  out_shift, out_activation_min, out_activation_max, 1, 1);
    return EDGEQ_OK;
}

edgeq_status edgeq_broadcast_mul_s8(const int8_t *input_1, const int32_t *in1_strides, const int8_t *input_2,
                                    const int32_t *in2_strides, const edgeq_dims *output_dims,
                                    int32_t input_1_offset, int32_t input_2_offset, int8_t *output,
                                    int32_t out_offset, int32_t out_mult, int32_t out_shift,
                                    int32_t out_activation_min, int32_t out_activation_max)
{
    edgeq_mul(input_1, in1_strides, input_2, in2_strides, output_dims, 0, input_1_offset, input_2_offset, output,
              out_offset, out_mult, out_shift, out_activation_min, out_activation_max, 1);
    return EDGEQ_OK;
}

edgeq_status edgeq_squared_difference_s8(const int8_t *input_1, const int32_t *in1_strides, const int8_t *input_2,
                                         const int32_t *in2_strides, const edgeq_dims *output_dims,
                                         const edgeq_squared_difference_params *sd_params, int8_t *output)
{
    edgeq_broadcast_loop(input_1, in1_strides, input_2, in2_strides, output_dims, edgeq_squared_difference_one,
                         sd_params, output, 1);
    return EDGEQ_OK;
}

edgeq_status edgeq_elementwise_add_s16(const int16_t *input_1_vect, const int16_t *input_2_vect,
                                       int32_t input_1_offset, int32_t input_1_mult, int32_t input_1_shift,
                                       int32_t input_2_offset, int32_t input_2_mult, int32_t input_2_shift,
                                       int32_t left_shift, int16_t *output, int32_t out_offset, int32_t out_mult,
                                       int32_t out_shift, int32_t out_activation_min, int32_t out_activation_max,
                                       int32_t block_size)
{
    edgeq_add_sub(input_1_vect, NULL, input_2_vect, NULL, NULL, block_size, input_1_offset, input_1_mult, input_1_shift,
                  input_2_offset, input_2_mult, input_2_shift, left_shift, output, out_offset, out_mult, out_shift,
                  out_activation_min, out_activation_max, 0, 2);
    return EDGEQ_OK;
}

edgeq_status edgeq_elementwise_sub_s16(const int16_t *input_1_vect, const int16_t *input_2_vect,
                                       int32_t input_1_offset, int32_t input_1_mult, int32_t input_1_shift,
                                       int32_t input_2_offset, int32_t input_2_mult, int32_t input_2_shift,
                                       int32_t left_shift, int16_t *output, int32_t out_offset, int32_t out_mult,
                                       int32_t out_shift, int32_t out_activation_min, int32_t out_activation_max,
                                       int32_t block_size)
{
    edgeq_add_sub(input_1_vect, NULL, input_2_vect, NULL, NULL, block_size, input_1_offset, input_1_mult, input_1_shift,
                  input_2_offset, input_2_mult, input_2_shift, left_shift, output, out_offset, out_mult, out_shift,
                  out_activation_min, out_activation_max, 1, 2);
    return EDGEQ_OK;
}

edgeq_status edgeq_elementwise_mul_s16(const int16_t *input_1_vect, const int16_t *input_2_vect,
                                       int32_t input_1_offset, int32_t input_2_offset, int16_t *output,
                                       int32_t out_offset, int32_t out_mult, int32_t out_shift,
                                       int32_t out_activation_min, int32_t out_activation_max, int32_t block_size)
{
    edgeq_mul(input_1_vect, NULL, input_2_vect, NULL, NULL, block_size, input_1_offset, input_2_offset, output,
              out_offset, out_mult, out_shift, out_activation_min, out_activation_max, 2);
    return EDGEQ_OK;
}

edgeq_status edgeq_broadcast_add_s16(const int16_t *input_1, const int32_t *in1_strides, const int16_t *input_2,
                                     const int32_t *in2_strides, const edgeq_dims *output_dims,
                                     int32_t input_1_offset, int32_t input_1_mult, int32_t input_1_shift,
                                     int32_t input_2_offset, int32_t input_2_mult, int32_t input_2_shift,
                                     int32_t left_shift, int16_t *output, int32_t out_offset, int32_t out_mult,
                                     int32_t out_shift, int32_t out_activation_min, int32_t out_activation_max)
{
    edgeq_add_sub(input_1, in1_strides, input_2, in2_strides, output_dims, 0, input_1_offset, input_1_mult,
                  input_1_shift, input_2_offset, input_2_mult, input_2_shift, left_shift, output, out_offset, out_mult,
                  out_shift, out_activation_min, out_activation_max, 0, 2);
    return EDGEQ_OK;
}

edgeq_status edgeq_broadcast_sub_s16(const int16_t *input_1, const int32_t *in1_strides, const int16_t *input_2,
                                     const int32_t *in2_strides, const edgeq_dims *output_dims,
                                     int32_t input_1_offset, int32_t input_1_mult, int32_t input_1_shift,
                                     int32_t input_2_offset, int32_t input_2_mult, int32_t input_2_shift,
                                     int32_t left_shift, int16_t *output, int32_t out_offset, int32_t out_mult,
                                     int32_t out_shift, int32_t out_activation_min, int32_t out_activation_max)
{
    edgeq_add_sub(input_1, in1_strides, input_2, in2_strides, output_dims, 0, input_1_offset, input_1_mult,
                  input_1_shift, input_2_offset, input_2_mult, input_2_shift, left_shift, output, out_offset, out_mult,
                  out_shift, out_activation_min, out_activation_max, 1, 2);
    return EDGEQ_OK;
}

edgeq_status edgeq_broadcast_mul_s16(const int16_t *input_1, const int32_t *in1_strides, const int16_t *input_2,
                                     const int32_t *in2_strides, const edgeq_dims *output_dims,
                                     int32_t input_1_offset, int32_t input_2_offset, int16_t *output,
                                     int32_t out_offset, int32_t out_mult, int32_t out_shift,
                                     int32_t out_activation_min, int32_t out_activation_max)
{
    edgeq_mul(input_1, in1_strides, input_2, in2_strides, output_dims, 0, input_1_offset, input_2_offset, output,
              out_offset, out_mult, out_shift, out_activation_min, out_activation_max, 2);
    return EDGEQ_OK;
}

edgeq_status edgeq_squared_difference_s16(const int16_t *input_1, const int32_t *in1_strides, const int16_t *input_2,
                                          const int32_t *in2_strides, const edgeq_dims *output_dims,
                                          const edgeq_squared_difference_params *sd_params, int16_t *output)
{
    edgeq_broadcast_loop(input_1, in1_strides, input_2, in2_strides, output_dims, edgeq_squared_difference_one,
                         sd_params, output, 2);
    return EDGEQ_OK;
}
