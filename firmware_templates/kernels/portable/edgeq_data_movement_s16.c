/* CONCATENATION, PAD, strided copies (TRANSPOSE, slices, SPLIT, PACK, GATHER, ...) and RESIZE_NEAREST_NEIGHBOR with
 * int16 elements: edgeq_data_movement_s8.c's kernels, element for element (TFLM's kernels for these ops are
 * templates over the element type, or copy by element size). */
#include "edgeq_nn.h"

void edgeq_concatenation_s16(const int16_t *const *inputs, const int32_t *copy_sizes, int32_t num_inputs,
                             int32_t outer_size, int16_t *output)
{
    int32_t k, i, j;
    int16_t *out = output;
    for (k = 0; k < outer_size; ++k) {
        for (i = 0; i < num_inputs; ++i) {
            const int16_t *in = inputs[i] + k * copy_sizes[i];
            for (j = 0; j < copy_sizes[i]; ++j) {
                *out++ = in[j];
            }
        }
    }
}

edgeq_status edgeq_pad_s16(const int16_t *input, int16_t *output, int16_t pad_value, const edgeq_dims *input_size,
                           const edgeq_dims *pre_pad, const edgeq_dims *post_pad)
{
    const int32_t out_n = pre_pad->n + input_size->n + post_pad->n;
    const int32_t out_h = pre_pad->h + input_size->h + post_pad->h;
    const int32_t out_w = pre_pad->w + input_size->w + post_pad->w;
    const int32_t out_c = pre_pad->c + input_size->c + post_pad->c;
    int32_t n, h, w, c;
    int16_t *out = output;
    for (n = 0; n < out_n; ++n) {
        const int32_t in_n = n - pre_pad->n;
        for (h = 0; h < out_h; ++h) {
            const int32_t in_h = h - pre_pad->h;
            for (w = 0; w < out_w; ++w) {
                const int32_t in_w = w - pre_pad->w;
                for (c = 0; c < out_c; ++c) {
                    const int32_t in_c = c - pre_pad->c;
                    if (in_n < 0 || in_n >= input_size->n || in_h < 0 || in_h >= input_size->h || in_w < 0 ||
                        in_w >= input_size->w || in_c < 0 || in_c >= input_size->c) {
                        *out++ = pad_value;
                    } else {
                        *out++ = input[((in_n * input_size->h + in_h) * input_size->w + in_w) * input_size->c + in_c];
                    }
                }
            }
        }
    }
    return EDGEQ_OK;
}

void edgeq_strided_copy_s16(const int16_t *input, const int32_t *in_strides, int16_t *output,
                            const int32_t *out_strides, const int32_t *dims)
{
    int32_t i0, i1, i2, i3, i4, i5;
    for (i0 = 0; i0 < dims[0]; ++i0) {
        for (i1 = 0; i1 < dims[1]; ++i1) {
            for (i2 = 0; i2 < dims[2]; ++i2) {
                for (i3 = 0; i3 < dims[3]; ++i3) {
                    for (i4 = 0; i4 < dims[4]; ++i4) {
                        const int16_t *in = input + i0 * in_strides[0] + i1 * in_strides[1] + i2 * in_strides[2] +
                                           i3 * in_strides[3] + i4 * in_strides[4];
                        int16_t *out = output + i0 * out_strides[0] + i1 * out_strides[1] + i2 * out_strides[2] +
                                      i3 * out_strides[3] + i4 * out_strides[4];
                        if (in_strides[5] == 1 && out_strides[5] == 1) {
                            for (i5 = 0; i5 < dims[5]; ++i5) out[i5] = in[i5];
                        } else {
                            for (i5 = 0; i5 < dims[5]; ++i5) out[i5 * out_strides[5]] = in[i5 * in_strides[5]];
                        }
                    }
                }
            }
        }
    }
}

void edgeq_resize_nearest_s16(const int16_t *input, const edgeq_dims *input_dims, int32_t output_h, int32_t output_w,
                              const int32_t *y_map, const int32_t *x_map, int16_t *output)
{
    const int32_t depth = input_dims->c;
    const int32_t row = input_dims->w * depth;
    int32_t b, y, x, c;
    for (b = 0; b < input_dims->n; ++b) {
        const int16_t *in_b = input + b * input_dims->h * row;
        for (y = 0; y < output_h; ++y) {
            const int16_t *in_y = in_b + EDGEQ_W32(&y_map[y]) * row;
            for (x = 0; x < output_w; ++x) {
                const int16_t *in_x = in_y + EDGEQ_W32(&x_map[x]) * depth;
                for (c = 0; c < depth; ++c) *output++ = in_x[c];
            }
        }
    }
}
