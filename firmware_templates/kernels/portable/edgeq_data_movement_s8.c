/* CONCATENATION and PAD, int8 (TFLM reference_ops::Concatenation / Pad): pure data movement, no arithmetic. */
#include "edgeq_nn.h"

void edgeq_concatenation_s8(const int8_t *const *inputs, const int32_t *copy_sizes, int32_t num_inputs,
                            int32_t outer_size, int8_t *output)
{
    int32_t k, i, j;
    int8_t *out = output;
    for (k = 0; k < outer_size; ++k) {
        for (i = 0; i < num_inputs; ++i) {
            const int8_t *in = inputs[i] + k * copy_sizes[i];
            for (j = 0; j < copy_sizes[i]; ++j) {
                *out++ = in[j];
            }
        }
    }
}

edgeq_status edgeq_pad_s8(const int8_t *input, int8_t *output, int8_t pad_value, const edgeq_dims *input_size,
                          const edgeq_dims *pre_pad, const edgeq_dims *post_pad)
{
    const int32_t out_n = pre_pad->n + input_size->n + post_pad->n;
    const int32_t out_h = pre_pad->h + input_size->h + post_pad->h;
    const int32_t out_w = pre_pad->w + input_size->w + post_pad->w;
    const int32_t out_c = pre_pad->c + input_size->c + post_pad->c;
    int32_t n, h, w, c;
    int8_t *out = output;
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
