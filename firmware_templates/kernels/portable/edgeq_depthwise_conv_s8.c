/* DEPTHWISE_CONV_2D, int8, per-channel requantization (TFLM reference_integer_ops::DepthwiseConvPerChannel).
 * Layouts: input NHWC, filter 1HWO ([1, KH, KW, C_IN * ch_mult]), output NHWC.
 * The output is written in memory order through edgeq_out_writer, so it may overwrite the input in place. */
#include "edgeq_nn.h"

edgeq_status edgeq_depthwise_conv_wrapper_s8(const edgeq_context *ctx, const edgeq_dw_conv_params *dw_conv_params,
                                             const edgeq_per_channel_quant_params *quant_params,
                                             const edgeq_dims *input_dims, const int8_t *input_data,
                                             const edgeq_dims *filter_dims, const int8_t *filter_data,
                                             const edgeq_dims *bias_dims, const int32_t *bias_data,
                                             const edgeq_dims *output_dims, int8_t *output_data)
{
    const int32_t batches = input_dims->n;
    const int32_t input_h = input_dims->h;
    const int32_t input_w = input_dims->w;
    const int32_t input_c = input_dims->c;
    const int32_t filter_h = filter_dims->h;
    const int32_t filter_w = filter_dims->w;
    const int32_t output_h = output_dims->h;
    const int32_t output_w = output_dims->w;
    const int32_t output_c = output_dims->c;
    const int32_t ch_mult = dw_conv_params->ch_mult;
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
    int32_t b, out_y, out_x, ic, m, ky, kx;
    edgeq_out_writer writer;

    (void)bias_dims;
    if (output_c != input_c * ch_mult) {
        return EDGEQ_ARG_ERROR;
    }
    edgeq_ow_init(&writer, output_data, ctx); /* output written in memory order, maybe in place (see edgeq_nn.h) */
    for (b = 0; b < batches; ++b) {
        for (out_y = 0; out_y < output_h; ++out_y) {
            const int32_t in_y_origin = out_y * stride_h - pad_h;
            for (out_x = 0; out_x < output_w; ++out_x) {
                const int32_t in_x_origin = out_x * stride_w - pad_w;
                for (ic = 0; ic < input_c; ++ic) {
                    for (m = 0; m < ch_mult; ++m) {
                        const int32_t oc = m + ic * ch_mult;
                        int32_t acc = 0;
                        for (ky = 0; ky < filter_h; ++ky) {
                            const int32_t in_y = in_y_origin + dilation_h * ky;
                            if (in_y < 0 || in_y >= input_h) {
                                continue;
                            }
                            for (kx = 0; kx < filter_w; ++kx) {
                                const int32_t in_x = in_x_origin + dilation_w * kx;
                                int32_t in_val;
                                int32_t w_val;
                                if (in_x < 0 || in_x >= input_w) {
                                    continue;
                                }
                                in_val = input_data[((b * input_h + in_y) * input_w + in_x) * input_c + ic];
                                w_val = EDGEQ_W8(&filter_data[(ky * filter_w + kx) * output_c + oc]);
                                acc += w_val * (in_val + input_offset);
                            }
                        }
                        if (bias_data != NULL) {
                            acc += EDGEQ_W32(&bias_data[oc]);
                        }
                        acc = edgeq_requantize(acc, EDGEQ_W32(&quant_params->multiplier[oc]),
                                               EDGEQ_W32(&quant_params->shift[oc]));
                        acc += output_offset;
                        acc = acc < act_min ? act_min : acc;
                        acc = acc > act_max ? act_max : acc;
                        edgeq_ow_put(&writer, (int8_t)acc);
                    }
                }
            }
        }
    }
    edgeq_ow_flush(&writer);
    return EDGEQ_OK;
}
