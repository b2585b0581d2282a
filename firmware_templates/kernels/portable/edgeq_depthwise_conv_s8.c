/* DEPTHWISE_CONV_2D, int8, per-channel requantization (TFLM reference_integer_ops::DepthwiseConvPerChannel).
 * Layouts: input NHWC, filter 1HWO ([1, KH, KW, C_IN * ch_mult]), output NHWC.
 * The output is written in memory order through edgeq_out_writer, so it may overwrite the input in place.
 *
 * How it is fast (same sums as the reference, only in another order): the valid taps of an output pixel form a
 * rectangle of the filter (edgeq_tap_range: no per-tap bounds test), and with a depth multiplier of 1 four
 * neighbouring channels are accumulated together (their inputs and weights are four consecutive bytes; with the DSP
 * extension one 32-bit load each and 16x16 multiply-accumulates on the halves). */
#include "edgeq_nn.h"

/* acc[t] += sum over the valid taps of (in[c + t] + input_offset) * w[c + t], t = 0..3 (depth multiplier 1). */
static void edgeq_dw_taps4(const int8_t *in, int32_t in_row_stride, int32_t in_px_stride, const int8_t *w,
                           int32_t w_row_stride, int32_t w_px_stride, int32_t rows, int32_t cols,
                           int32_t input_offset, int32_t acc[4])
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    int32_t r, k;
#if EDGEQ_USE_DSP
    const int32_t off2 = (int32_t)(((uint32_t)input_offset << 16) | ((uint32_t)input_offset & 0xFFFFu));
#endif
    for (r = 0; r < rows; ++r) {
        const int8_t *ip = in + r * in_row_stride;
        const int8_t *wp = w + r * w_row_stride;
        for (k = 0; k < cols; ++k) {
#if EDGEQ_USE_DSP
            const int32_t x = edgeq_load4(ip);
            const int32_t v = edgeq_load4(wp);
            const int32_t x02 = __sxtab16(off2, x);             /* lanes: in[c] + off, in[c+2] + off */
            const int32_t x13 = edgeq_sxtab16_ror8(off2, x); /* lanes: in[c+1] + off, in[c+3] + off */
            const int32_t v02 = __sxtb16(v);
            const int32_t v13 = edgeq_sxtb16_ror8(v);
            a0 = __smlabb(x02, v02, a0); /* bottom lane x bottom lane */
            a2 = __smlatt(x02, v02, a2); /* top lane x top lane */
            a1 = __smlabb(x13, v13, a1);
            a3 = __smlatt(x13, v13, a3);
#else
            a0 += ((int32_t)ip[0] + input_offset) * EDGEQ_W8(&wp[0]);
            a1 += ((int32_t)ip[1] + input_offset) * EDGEQ_W8(&wp[1]);
            a2 += ((int32_t)ip[2] + input_offset) * EDGEQ_W8(&wp[2]);
            a3 += ((int32_t)ip[3] + input_offset) * EDGEQ_W8(&wp[3]);
#endif
            ip += in_px_stride;
            wp += w_px_stride;
        }
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

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
    int32_t b, out_y, out_x, ic, m, ky, kx, t;
    edgeq_out_writer writer;

    (void)bias_dims;
    if (output_c != input_c * ch_mult) {
        return EDGEQ_ARG_ERROR;
    }
    edgeq_ow_init(&writer, output_data, ctx); /* output written in memory order, maybe in place (see edgeq_nn.h) */
    for (b = 0; b < batches; ++b) {
        for (out_y = 0; out_y < output_h; ++out_y) {
            const int32_t in_y_origin = out_y * stride_h - pad_h;
            int32_t ky_lo, ky_hi;
            edgeq_tap_range(in_y_origin, dilation_h, input_h, filter_h, &ky_lo, &ky_hi);
            for (out_x = 0; out_x < output_w; ++out_x) {
                const int32_t in_x_origin = out_x * stride_w - pad_w;
                int32_t kx_lo, kx_hi;
                /* the first valid tap of this pixel, in the input and in the filter */
                const int8_t *in_first;
                const int8_t *w_first;
                edgeq_tap_range(in_x_origin, dilation_w, input_w, filter_w, &kx_lo, &kx_hi);
                if (ky_lo < ky_hi && kx_lo < kx_hi) {
                    in_first = input_data + ((b * input_h + in_y_origin + dilation_h * ky_lo) * input_w +
                                             in_x_origin + dilation_w * kx_lo) * input_c;
                    w_first = filter_data + (ky_lo * filter_w + kx_lo) * output_c;
                } else { /* no valid tap at all (padding larger than the filter): every sum is 0 */
                    kx_hi = kx_lo;
                    in_first = input_data;
                    w_first = filter_data;
                }
                ic = 0;
                if (ch_mult == 1) { /* four channels at a time */
                    for (; ic + 4 <= input_c; ic += 4) {
                        int32_t acc[4] = {0, 0, 0, 0};
                        edgeq_dw_taps4(in_first + ic, dilation_h * input_w * input_c, dilation_w * input_c,
                                       w_first + ic, filter_w * output_c, output_c, ky_hi - ky_lo, kx_hi - kx_lo,
                                       input_offset, acc);
                        for (t = 0; t < 4; ++t) {
                            int32_t a = acc[t];
                            if (bias_data != NULL) {
                                a += EDGEQ_W32(&bias_data[ic + t]);
                            }
                            edgeq_ow_put(&writer, edgeq_acc_to_s8(a, EDGEQ_W32(&quant_params->multiplier[ic + t]),
                                                                  EDGEQ_W32(&quant_params->shift[ic + t]),
                                                                  output_offset, act_min, act_max));
                        }
                    }
                }
                for (; ic < input_c; ++ic) { /* any depth multiplier, one output channel at a time */
                    for (m = 0; m < ch_mult; ++m) {
                        const int32_t oc = m + ic * ch_mult;
                        int32_t acc = 0;
                        for (ky = ky_lo; ky < ky_hi; ++ky) {
                            const int32_t in_y = in_y_origin + dilation_h * ky;
                            for (kx = kx_lo; kx < kx_hi; ++kx) {
                                const int32_t in_x = in_x_origin + dilation_w * kx;
                                const int32_t in_val =
                                    input_data[((b * input_h + in_y) * input_w + in_x) * input_c + ic];
                                const int32_t w_val = EDGEQ_W8(&filter_data[(ky * filter_w + kx) * output_c + oc]);
                                acc += w_val * (in_val + input_offset);
                            }
                        }
                        if (bias_data != NULL) {
                            acc += EDGEQ_W32(&bias_data[oc]);
                        }
                        edgeq_ow_put(&writer, edgeq_acc_to_s8(acc, EDGEQ_W32(&quant_params->multiplier[oc]),
                                                              EDGEQ_W32(&quant_params->shift[oc]), output_offset,
                                                              act_min, act_max));
                    }
                }
            }
        }
    }
    edgeq_ow_flush(&writer);
    return EDGEQ_OK;
}
