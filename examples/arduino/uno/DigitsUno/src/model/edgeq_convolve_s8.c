/* CONV_2D, int8, per-channel requantization (TFLM reference_integer_ops::ConvPerChannel).
 * Layouts: input NHWC, filter OHWI ([C_OUT, KH, KW, C_IN / groups]), output NHWC. Zero padding is implicit:
 * taps outside the image are skipped. */
#include "edgeq_nn.h"

edgeq_status edgeq_convolve_wrapper_s8(const edgeq_context *ctx, const edgeq_conv_params *conv_params,
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
    const int32_t filter_c = filter_dims->c; /* input channels per group */
    const int32_t output_h = output_dims->h;
    const int32_t output_w = output_dims->w;
    const int32_t output_c = output_dims->c;
    const int32_t stride_w = conv_params->stride.w;
    const int32_t stride_h = conv_params->stride.h;
    const int32_t dilation_w = conv_params->dilation.w;
    const int32_t dilation_h = conv_params->dilation.h;
    const int32_t pad_w = conv_params->padding.w;
    const int32_t pad_h = conv_params->padding.h;
    const int32_t input_offset = conv_params->input_offset;
    const int32_t output_offset = conv_params->output_offset;
    const int32_t act_min = conv_params->activation.min;
    const int32_t act_max = conv_params->activation.max;
    int32_t groups;
    int32_t filters_per_group;
    int32_t b, out_y, out_x, out_ch, ky, kx, ic;
    edgeq_out_writer writer;

    (void)bias_dims;
    if (filter_c <= 0 || input_c % filter_c != 0) {
        return EDGEQ_ARG_ERROR;
    }
    groups = input_c / filter_c;
    filters_per_group = output_c / groups;
    if (filters_per_group <= 0) {
        return EDGEQ_ARG_ERROR;
    }

    edgeq_ow_init(&writer, output_data, ctx); /* output written in memory order, maybe in place (see edgeq_nn.h) */
    for (b = 0; b < batches; ++b) {
        for (out_y = 0; out_y < output_h; ++out_y) {
            const int32_t in_y_origin = out_y * stride_h - pad_h;
            for (out_x = 0; out_x < output_w; ++out_x) {
                const int32_t in_x_origin = out_x * stride_w - pad_w;
                for (out_ch = 0; out_ch < output_c; ++out_ch) {
                    const int32_t group = out_ch / filters_per_group;
                    const int8_t *filter_ch = filter_data + out_ch * filter_h * filter_w * filter_c;
                    int32_t acc = 0;
                    for (ky = 0; ky < filter_h; ++ky) {
                        const int32_t in_y = in_y_origin + dilation_h * ky;
                        if (in_y < 0 || in_y >= input_h) {
                            continue;
                        }
                        for (kx = 0; kx < filter_w; ++kx) {
                            const int32_t in_x = in_x_origin + dilation_w * kx;
                            const int8_t *in_px;
                            const int8_t *w_px;
                            if (in_x < 0 || in_x >= input_w) {
                                continue;
                            }
                            in_px = input_data + ((b * input_h + in_y) * input_w + in_x) * input_c + group * filter_c;
                            w_px = filter_ch + (ky * filter_w + kx) * filter_c;
                            for (ic = 0; ic < filter_c; ++ic) {
                                acc += (int32_t)EDGEQ_W8(&w_px[ic]) * ((int32_t)in_px[ic] + input_offset);
                            }
                        }
                    }
                    if (bias_data != NULL) {
                        acc += EDGEQ_W32(&bias_data[out_ch]);
                    }
                    acc = edgeq_requantize(acc, EDGEQ_W32(&quant_params->multiplier[out_ch]),
                                           EDGEQ_W32(&quant_params->shift[out_ch]));
                    acc += output_offset;
                    acc = acc < act_min ? act_min : acc;
                    acc = acc > act_max ? act_max : acc;
                    edgeq_ow_put(&writer, (int8_t)acc);
                }
            }
        }
    }
    edgeq_ow_flush(&writer);
    return EDGEQ_OK;
}
