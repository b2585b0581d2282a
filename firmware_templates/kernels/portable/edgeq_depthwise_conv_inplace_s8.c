/* DEPTHWISE_CONV_2D in place, one channel at a time (TinyEngine's technique), int8, depth multiplier 1, per-channel
 * requantization: the same sums and the same requantization as edgeq_depthwise_conv_wrapper_s8 (TFLM
 * reference_integer_ops::DepthwiseConvPerChannel), in another order.
 *
 * The output starts at the input's address. For each channel c: the H x W values of channel c are copied into the
 * channel plane ctx->buf (H * W bytes), then every output pixel q of channel c is computed from the plane and stored
 * at q * C + c. That byte is channel c of input pixel q (the output has no more pixels than the input: the compiler
 * checks), which the plane already holds: no input value of another channel is ever overwritten before it is read.
 * Memory: max(input, output) + H * W bytes, whatever the stride, filter size or padding (a delay ring needs about
 * one filter height of rows of every channel instead). Padding (also the extra bottom/right padding of a folded PAD)
 * is the taps edgeq_tap_range leaves out, as in the general kernel. */
#include "edgeq_nn.h"

edgeq_status edgeq_depthwise_conv_inplace_s8(const edgeq_context *ctx, const edgeq_dw_conv_params *dw_conv_params,
                                             const edgeq_per_channel_quant_params *quant_params,
                                             const edgeq_dims *input_dims, const int8_t *input_data,
                                             const edgeq_dims *filter_dims, const int8_t *filter_data,
                                             const edgeq_dims *bias_dims, const int32_t *bias_data,
                                             const edgeq_dims *output_dims, int8_t *output_data)
{
    const int32_t input_h = input_dims->h;
    const int32_t input_w = input_dims->w;
    const int32_t channels = input_dims->c;
    const int32_t filter_h = filter_dims->h;
    const int32_t filter_w = filter_dims->w;
    const int32_t output_h = output_dims->h;
    const int32_t output_w = output_dims->w;
    const int32_t stride_w = dw_conv_params->stride.w;
    const int32_t stride_h = dw_conv_params->stride.h;
    const int32_t dilation_w = dw_conv_params->dilation.w;
    const int32_t dilation_h = dw_conv_params->dilation.h;
    const int32_t pad_w = dw_conv_params->padding.w;
    const int32_t pad_h = dw_conv_params->padding.h;
    const int32_t input_offset = dw_conv_params->input_offset;
    const int32_t output_offset = dw_conv_params->output_offset;
    const int32_t act_min = dw_conv_params->activation.min;
    const int32_t act_max = dw_conv_params->activation.max;
    const int32_t plane_size = input_h * input_w;
    int8_t *plane = (int8_t *)ctx->buf;
    int32_t c, p, out_y, out_x, ky, kx;

    (void)bias_dims;
    if (dw_conv_params->ch_mult != 1 || output_dims->c != channels || input_dims->n != 1 || output_dims->n != 1 ||
        output_h * output_w > plane_size || plane == NULL || ctx->size < plane_size) {
        return EDGEQ_ARG_ERROR;
    }
    for (c = 0; c < channels; ++c) {
        const int32_t multiplier = EDGEQ_W32(&quant_params->multiplier[c]);
        const int32_t shift = EDGEQ_W32(&quant_params->shift[c]);
        const int32_t bias = bias_data != NULL ? EDGEQ_W32(&bias_data[c]) : 0;
        const int8_t *src = input_data + c;
        int8_t *dst = output_data + c;
        for (p = 0; p < plane_size; ++p) { /* channel c of every input pixel, before any of it is overwritten */
            plane[p] = src[p * channels];
        }
        for (out_y = 0; out_y < output_h; ++out_y) {
            const int32_t in_y_origin = out_y * stride_h - pad_h;
            int32_t ky_lo, ky_hi;
            edgeq_tap_range(in_y_origin, dilation_h, input_h, filter_h, &ky_lo, &ky_hi);
            for (out_x = 0; out_x < output_w; ++out_x) {
                const int32_t in_x_origin = out_x * stride_w - pad_w;
                int32_t kx_lo, kx_hi;
                int32_t acc = 0;
                edgeq_tap_range(in_x_origin, dilation_w, input_w, filter_w, &kx_lo, &kx_hi);
                for (ky = ky_lo; ky < ky_hi; ++ky) {
                    const int8_t *row = plane + (in_y_origin + dilation_h * ky) * input_w + in_x_origin;
                    const int8_t *w_row = filter_data + ky * filter_w * channels + c;
                    for (kx = kx_lo; kx < kx_hi; ++kx) {
                        acc += ((int32_t)row[dilation_w * kx] + input_offset) * EDGEQ_W8(&w_row[kx * channels]);
                    }
                }
                *dst = edgeq_acc_to_s8(acc + bias, multiplier, shift, output_offset, act_min, act_max);
                dst += channels;
            }
        }
    }
    return EDGEQ_OK;
}
