/* CONV_2D, DEPTHWISE_CONV_2D and TRANSPOSE_CONV, int16x8: int16 activations, int8 weights (OHWI / 1HWC), int64 bias
 * (or int32 for CONV_2D when bias_data->is_int32_bias), per-channel requantization - TFLM's reference_integer_ops
 * ConvPerChannel, DepthwiseConvPerChannel and TransposeConv for int16. Activation zero points are 0 (TFLM's int16
 * kernels read none).
 *
 * Each output is the int64 sum of the int32 products over the valid taps (edgeq_tap_range: taps outside the image
 * are skipped, as in TFLM), plus the bias, through edgeq_requantize_s64 (TFLM's int64 MultiplyByQuantizedMultiplier),
 * clamped. With an int32 bias TFLM sums in int32 and uses the int32 MultiplyByQuantizedMultiplier: the compiler
 * checks that the int32 sum cannot overflow, so the int64 sum truncated to int32 is that sum. */
#include "edgeq_nn.h"

/* requantize one output: int64 sum + bias -> int16, clamped */
EDGEQ_ALWAYS_INLINE int16_t edgeq_s16_out(int64_t acc, const edgeq_bias_data *bias, int32_t ch, int32_t mult,
                                          int32_t shift, int32_t act_min, int32_t act_max)
{
    int32_t v = edgeq_s16_requantize_acc(acc, bias, ch, mult, shift);
    v = v < act_min ? act_min : v;
    v = v > act_max ? act_max : v;
    return (int16_t)v;
}

edgeq_status edgeq_convolve_wrapper_s16(const edgeq_context *ctx, const edgeq_conv_params *conv_params,
                                        const edgeq_per_channel_quant_params *quant_params,
                                        const edgeq_dims *input_dims, const int16_t *input_data,
                                        const edgeq_dims *filter_dims, const int8_t *filter_data,
                                        const edgeq_dims *bias_dims, const edgeq_bias_data *bias_data,
                                        const edgeq_dims *output_dims, int16_t *output_data)
{
    const int32_t input_h = input_dims->h, input_w = input_dims->w, input_c = input_dims->c;
    const int32_t filter_h = filter_dims->h, filter_w = filter_dims->w, filter_c = filter_dims->c;
    const int32_t output_h = output_dims->h, output_w = output_dims->w, output_c = output_dims->c;
    const int32_t stride_w = conv_params->stride.w, stride_h = conv_params->stride.h;
    const int32_t dilation_w = conv_params->dilation.w, dilation_h = conv_params->dilation.h;
    const int32_t pad_w = conv_params->padding.w, pad_h = conv_params->padding.h;
    const int32_t act_min = conv_params->activation.min, act_max = conv_params->activation.max;
    const int32_t filter_size = filter_h * filter_w * filter_c;
    int32_t filters_per_group;
    int32_t b, out_y, out_x, oc, ky, kx, ic;

    (void)ctx;
    (void)bias_dims;
    if (filter_c <= 0 || input_c % filter_c != 0) {
        return EDGEQ_ARG_ERROR;
    }
    filters_per_group = output_c / (input_c / filter_c);
    if (filters_per_group <= 0) {
        return EDGEQ_ARG_ERROR;
    }
    for (b = 0; b < input_dims->n; ++b) {
        for (out_y = 0; out_y < output_h; ++out_y) {
            const int32_t in_y_origin = out_y * stride_h - pad_h;
            int32_t ky_lo, ky_hi;
            edgeq_tap_range(in_y_origin, dilation_h, input_h, filter_h, &ky_lo, &ky_hi);
            for (out_x = 0; out_x < output_w; ++out_x) {
                const int32_t in_x_origin = out_x * stride_w - pad_w;
                int32_t kx_lo, kx_hi;
                edgeq_tap_range(in_x_origin, dilation_w, input_w, filter_w, &kx_lo, &kx_hi);
                for (oc = 0; oc < output_c; ++oc) {
                    const int32_t group = oc / filters_per_group;
                    const int8_t *filter_ch = filter_data + oc * filter_size;
                    int64_t acc = 0;
                    for (ky = ky_lo; ky < ky_hi; ++ky) {
                        const int32_t in_y = in_y_origin + dilation_h * ky;
                        for (kx = kx_lo; kx < kx_hi; ++kx) {
                            const int32_t in_x = in_x_origin + dilation_w * kx;
                            const int16_t *in = input_data + ((b * input_h + in_y) * input_w + in_x) * input_c +
                                                group * filter_c;
                            const int8_t *w = filter_ch + (ky * filter_w + kx) * filter_c;
                            for (ic = 0; ic < filter_c; ++ic) {
                                acc += (int32_t)EDGEQ_W8(&w[ic]) * (int32_t)in[ic];
                            }
                        }
                    }
                    *output_data++ = edgeq_s16_out(acc, bias_data, oc, EDGEQ_W32(&quant_params->multiplier[oc]),
                                                   EDGEQ_W32(&quant_params->shift[oc]), act_min, act_max);
                }
            }
        }
    }
    return EDGEQ_OK;
}

edgeq_status edgeq_depthwise_conv_wrapper_s16(const edgeq_context *ctx, const edgeq_dw_conv_params *dw_conv_params,
                                              const edgeq_per_channel_quant_params *quant_params,
                                              const edgeq_dims *input_dims, const int16_t *input_data,
                                              const edgeq_dims *filter_dims, const int8_t *filter_data,
                                              const edgeq_dims *bias_dims, const int64_t *bias_data,
                                              const edgeq_dims *output_dims, int16_t *output_data)
{
    const int32_t input_h = input_dims->h, input_w = input_dims->w, input_c = input_dims->c;
    const int32_t filter_h = filter_dims->h, filter_w = filter_dims->w;
    const int32_t output_h = output_dims->h, output_w = output_dims->w, output_c = output_dims->c;
    const int32_t ch_mult = dw_conv_params->ch_mult;
    const int32_t stride_w = dw_conv_params->stride.w, stride_h = dw_conv_params->stride.h;
    const int32_t dilation_w = dw_conv_params->dilation.w, dilation_h = dw_conv_params->dilation.h;
    const int32_t pad_w = dw_conv_params->padding.w, pad_h = dw_conv_params->padding.h;
    const int32_t act_min = dw_conv_params->activation.min, act_max = dw_conv_params->activation.max;
    const edgeq_bias_data bias = {bias_data, 0};
    int32_t b, out_y, out_x, oc, ky, kx;

    (void)ctx;
    (void)bias_dims;
    if (ch_mult <= 0 || output_c != input_c * ch_mult) {
        return EDGEQ_ARG_ERROR;
    }
    for (b = 0; b < input_dims->n; ++b) {
        for (out_y = 0; out_y < output_h; ++out_y) {
            const int32_t in_y_origin = out_y * stride_h - pad_h;
            int32_t ky_lo, ky_hi;
            edgeq_tap_range(in_y_origin, dilation_h, input_h, filter_h, &ky_lo, &ky_hi);
            for (out_x = 0; out_x < output_w; ++out_x) {
                const int32_t in_x_origin = out_x * stride_w - pad_w;
                int32_t kx_lo, kx_hi;
                edgeq_tap_range(in_x_origin, dilation_w, input_w, filter_w, &kx_lo, &kx_hi);
                for (oc = 0; oc < output_c; ++oc) {
                    const int32_t ic = oc / ch_mult;
                    int64_t acc = 0;
                    for (ky = ky_lo; ky < ky_hi; ++ky) {
                        const int32_t in_y = in_y_origin + dilation_h * ky;
                        const int16_t *in_row = input_data + (b * input_h + in_y) * input_w * input_c + ic;
                        const int8_t *w_row = filter_data + ky * filter_w * output_c + oc;
                        for (kx = kx_lo; kx < kx_hi; ++kx) {
                            acc += (int32_t)EDGEQ_W8(&w_row[kx * output_c]) *
                                   (int32_t)in_row[(in_x_origin + dilation_w * kx) * input_c];
                        }
                    }
                    *output_data++ = edgeq_s16_out(acc, &bias, oc, EDGEQ_W32(&quant_params->multiplier[oc]),
                                                   EDGEQ_W32(&quant_params->shift[oc]), act_min, act_max);
                }
            }
        }
    }
    return EDGEQ_OK;
}

edgeq_status edgeq_transpose_conv_s16(const edgeq_transpose_conv_params *tc_params,
                                      const edgeq_per_channel_quant_params *quant_params,
                                      const edgeq_dims *input_dims, const int16_t *input,
                                      const edgeq_dims *filter_dims, const int8_t *filter, const int64_t *bias,
                                      const edgeq_dims *output_dims, int16_t *output)
{
    const int32_t kh = filter_dims->h, kw = filter_dims->w, cin = input_dims->c;
    const int32_t stride_h = tc_params->stride_h, stride_w = tc_params->stride_w;
    int32_t b, oy, ox, oc, fy, fx, ic;
    for (b = 0; b < output_dims->n; ++b) {
        for (oy = 0; oy < output_dims->h; ++oy) {
            for (ox = 0; ox < output_dims->w; ++ox) {
                for (oc = 0; oc < output_dims->c; ++oc) {
                    int64_t acc = 0;
                    int32_t v;
                    for (fy = 0; fy < kh; ++fy) {
                        const int32_t ty = oy + tc_params->pad_h - fy; /* = iy * stride_h for the input row */
                        int32_t iy;
                        if (ty < 0 || ty % stride_h != 0) continue;
                        iy = ty / stride_h;
                        if (iy >= input_dims->h) continue;
                        for (fx = 0; fx < kw; ++fx) {
                            const int32_t tx = ox + tc_params->pad_w - fx;
                            const int16_t *in;
                            const int8_t *w;
                            int32_t ix;
                            if (tx < 0 || tx % stride_w != 0) continue;
                            ix = tx / stride_w;
                            if (ix >= input_dims->w) continue;
                            in = input + ((b * input_dims->h + iy) * input_dims->w + ix) * cin;
                            w = filter + ((oc * kh + fy) * kw + fx) * cin;
                            for (ic = 0; ic < cin; ++ic) {
                                acc += (int32_t)in[ic] * (int32_t)EDGEQ_W8(&w[ic]);
                            }
                        }
                    }
                    if (bias != NULL) acc += EDGEQ_W64(&bias[oc]);
                    v = edgeq_requantize_s64(acc, EDGEQ_W32(&quant_params->multiplier[oc]),
                                             EDGEQ_W32(&quant_params->shift[oc]));
                    v = v < tc_params->act_min ? tc_params->act_min : v;
                    v = v > tc_params->act_max ? tc_params->act_max : v;
                    *output++ = (int16_t)v;
                }
            }
        }
    }
    return EDGEQ_OK;
}
