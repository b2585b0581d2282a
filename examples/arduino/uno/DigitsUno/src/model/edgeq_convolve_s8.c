/* CONV_2D, int8, per-channel requantization (TFLM reference_integer_ops::ConvPerChannel).
 * Layouts: input NHWC, filter OHWI ([C_OUT, KH, KW, C_IN / groups]), output NHWC. Zero padding is implicit:
 * taps outside the image are skipped (they contribute nothing, exactly as in TFLM).
 *
 * How it is fast (same sums as the reference, only in another order):
 * - for each output pixel the valid taps form a rectangle of the filter (edgeq_tap_range), so the border needs no
 *   per-tap test, and one filter row of a non-grouped, non-dilated convolution reads KW * C_IN *contiguous* input
 *   bytes: the inner loop is a plain dot product (a 1x1 convolution is one dot product of C_IN per channel);
 * - four output channels are computed together, so each input byte is loaded once for four multiply-accumulates;
 * - with the DSP extension, four bytes at a time through __smlad (two 16x16 multiply-accumulates per instruction).
 * The output is written in memory order through edgeq_out_writer, so it may overwrite the input in place. */
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
    const int32_t filter_size = filter_h * filter_w * filter_c; /* bytes of one output channel's filter */
    int32_t groups;
    int32_t filters_per_group;
    int32_t contiguous; /* one filter row reads one contiguous run of input bytes */
    int32_t b, out_y, out_x, g, j, t, ky, kx;
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
    contiguous = groups == 1 && dilation_w == 1;

    edgeq_ow_init(&writer, output_data, ctx); /* output written in memory order, maybe in place (see edgeq_nn.h) */
    for (b = 0; b < batches; ++b) {
        for (out_y = 0; out_y < output_h; ++out_y) {
            const int32_t in_y_origin = out_y * stride_h - pad_h;
            int32_t ky_lo, ky_hi;
            edgeq_tap_range(in_y_origin, dilation_h, input_h, filter_h, &ky_lo, &ky_hi);
            for (out_x = 0; out_x < output_w; ++out_x) {
                const int32_t in_x_origin = out_x * stride_w - pad_w;
                int32_t kx_lo, kx_hi;
                edgeq_tap_range(in_x_origin, dilation_w, input_w, filter_w, &kx_lo, &kx_hi);
                for (g = 0; g < groups; ++g) {
                    /* output channels out_ch .. out_ch + n_ch - 1 of group g: four at a time, then one at a time */
                    for (j = 0; j < filters_per_group;) {
                        const int32_t out_ch = g * filters_per_group + j;
                        const int32_t n_ch = filters_per_group - j >= 4 ? 4 : 1;
                        const int8_t *filter_ch = filter_data + out_ch * filter_size;
                        int32_t acc[4] = {0, 0, 0, 0};
                        for (ky = ky_lo; ky < ky_hi; ++ky) {
                            const int32_t in_y = in_y_origin + dilation_h * ky;
                            const int8_t *in_row = input_data + ((b * input_h + in_y) * input_w) * input_c +
                                                   g * filter_c;
                            const int8_t *w_row = filter_ch + ky * filter_w * filter_c;
                            if (contiguous) { /* taps kx_lo .. kx_hi - 1 of this row, in one run */
                                const int8_t *in_px = in_row + (in_x_origin + kx_lo) * input_c;
                                const int8_t *w_px = w_row + kx_lo * filter_c;
                                const int32_t n = (kx_hi - kx_lo) * filter_c;
                                if (n_ch == 4) {
                                    edgeq_dot4_s8(in_px, w_px, filter_size, n, input_offset, acc);
                                } else {
                                    acc[0] = edgeq_dot1_s8(in_px, w_px, n, input_offset, acc[0]);
                                }
                            } else { /* grouped or dilated: one run of filter_c bytes per tap */
                                for (kx = kx_lo; kx < kx_hi; ++kx) {
                                    const int8_t *in_px = in_row + (in_x_origin + dilation_w * kx) * input_c;
                                    const int8_t *w_px = w_row + kx * filter_c;
                                    if (n_ch == 4) {
                                        edgeq_dot4_s8(in_px, w_px, filter_size, filter_c, input_offset, acc);
                                    } else {
                                        acc[0] = edgeq_dot1_s8(in_px, w_px, filter_c, input_offset, acc[0]);
                                    }
                                }
                            }
                        }
                        for (t = 0; t < n_ch; ++t) {
                            const int32_t oc = out_ch + t;
                            int32_t a = acc[t];
                            if (bias_data != NULL) {
                                a += EDGEQ_W32(&bias_data[oc]);
                            }
                            edgeq_ow_put(&writer, edgeq_acc_to_s8(a, EDGEQ_W32(&quant_params->multiplier[oc]),
                                                                  EDGEQ_W32(&quant_params->shift[oc]),
                                                                  output_offset, act_min, act_max));
                        }
                        j += n_ch;
                    }
                }
            }
        }
    }
    edgeq_ow_flush(&writer);
    return EDGEQ_OK;
}

edgeq_status edgeq_transpose_conv_s8(const edgeq_transpose_conv_params *p, const edgeq_per_channel_quant_params *q,
                                     const edgeq_dims *input_dims, const int8_t *input, const edgeq_dims *filter_dims,
                                     const int8_t *filter, const int32_t *bias, const edgeq_dims *output_dims,
                                     int8_t *output)
{
    const int32_t kh = filter_dims->h, kw = filter_dims->w, cin = input_dims->c;
    int32_t b, oy, ox, oc, fy, fx, ic;
    for (b = 0; b < output_dims->n; ++b) {
        for (oy = 0; oy < output_dims->h; ++oy) {
            for (ox = 0; ox < output_dims->w; ++ox) {
                for (oc = 0; oc < output_dims->c; ++oc) {
                    int32_t acc = 0;
                    int32_t v;
                    for (fy = 0; fy < kh; ++fy) {
                        const int32_t ty = oy + p->pad_h - fy; /* = iy * stride_h for the input row feeding it */
                        int32_t iy;
                        if (ty < 0 || ty % p->stride_h != 0) continue;
                        iy = ty / p->stride_h;
                        if (iy >= input_dims->h) continue;
                        for (fx = 0; fx < kw; ++fx) {
                            const int32_t tx = ox + p->pad_w - fx;
                            const int8_t *in;
                            const int8_t *w;
                            int32_t ix;
                            if (tx < 0 || tx % p->stride_w != 0) continue;
                            ix = tx / p->stride_w;
                            if (ix >= input_dims->w) continue;
                            in = input + ((b * input_dims->h + iy) * input_dims->w + ix) * cin;
                            w = filter + ((oc * kh + fy) * kw + fx) * cin;
                            for (ic = 0; ic < cin; ++ic) {
                                acc += ((int32_t)in[ic] + p->input_offset) * (int32_t)EDGEQ_W8(&w[ic]);
                            }
                        }
                    }
                    if (bias != NULL) acc += EDGEQ_W32(&bias[oc]);
                    v = edgeq_requantize(acc, EDGEQ_W32(&q->multiplier[oc]), EDGEQ_W32(&q->shift[oc])) +
                        p->output_offset;
                    v = v < p->act_min ? p->act_min : v;
                    v = v > p->act_max ? p->act_max : v;
                    *output++ = (int8_t)v;
                }
            }
        }
    }
    return EDGEQ_OK;
}
