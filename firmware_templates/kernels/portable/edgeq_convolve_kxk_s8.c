/* CONV_2D with a KH x KW filter, not grouped, no dilation, any stride and padding: the first layers of DS-CNN /
 * MobileNet (1-3 input channels, e.g. KWS's 10x4) and ResNet's 3x3 convolutions. Same sums as TFLM's
 * ConvPerChannel, in another order: each output pixel's window (KH x KW x C_IN bytes) is copied into a small buffer
 * on the stack, which makes it one contiguous vector, and the vectors of two pixels then run the 1x1 kernel's core
 * (edgeq_pointwise_pixels_s8 in edgeq_convolve_1x1_s8.c: 2 pixels x 2 output channels per step, raw inputs, weights
 * in read order) with C_IN = KH x KW x C_IN. The compiler prepares the constants as for a 1x1 filter of that depth
 * (edgeq/compiler/ops/conv.py window_constants): the input zero point folded into the bias, the OHWI filter
 * interleaved by channel pairs. Taps outside the input read the input zero point: in TFLM's sum they add nothing,
 * and with the folded bias zero_point x w exactly cancels the folded input_offset x w.
 * The copy costs KH x KW x C_IN byte moves per pixel against C_OUT times as many multiply-accumulates, and saves
 * the loop over filter rows (KWS's 10 rows of 4 bytes become one run of 40). The output goes straight to memory or,
 * when it overwrites the input through a delay ring, through a small stage in memory order (edgeq_out_writer): both
 * pixels' inputs are read before any of their outputs is put, as the ring allows. */
#include "edgeq_nn.h"

#include <string.h>

#define EDGEQ_KXK_STAGE 128 /* output channels staged per pixel when writing through the delay ring */

/* The window of the output pixel whose top-left tap is input (y0, x0) of batch b, as one vector in dst (KH rows of
 * KW * C_IN bytes), the zero point at taps outside the input. */
static void edgeq_kxk_window(const int8_t *input, const edgeq_dims *in, int32_t b, int32_t y0, int32_t x0, int32_t kh,
                             int32_t kw, int8_t zero_point, int8_t *dst)
{
    const int32_t cin = in->c;
    const int32_t len = kw * cin;
    int32_t kx_lo, kx_hi, ky;
    edgeq_tap_range(x0, 1, in->w, kw, &kx_lo, &kx_hi);
    for (ky = 0; ky < kh; ++ky, dst += len) {
        const int32_t y = y0 + ky;
        const int8_t *src; /* tap 0 of the row (maybe left of the input: only taps kx_lo.. are read) */
        if (y < 0 || y >= in->h || kx_lo == kx_hi) {
            memset(dst, zero_point, (size_t)len);
            continue;
        }
        src = input + ((b * in->h + y) * in->w + x0 + kx_lo) * cin - kx_lo * cin;
        if (kx_lo > 0) {
            memset(dst, zero_point, (size_t)(kx_lo * cin));
        }
#if EDGEQ_USE_DSP
        if (kx_lo == 0 && kx_hi == kw && len % 4 == 0) { /* a whole row: words (unaligned loads are allowed) */
            int32_t k;
            for (k = 0; k < len; k += 4) {
                const int32_t v = edgeq_load4(src + k);
                memcpy(dst + k, &v, 4);
            }
            continue;
        }
#endif
        memcpy(dst + kx_lo * cin, src + kx_lo * cin, (size_t)((kx_hi - kx_lo) * cin));
        if (kx_hi < kw) {
            memset(dst + kx_hi * cin, zero_point, (size_t)((kw - kx_hi) * cin));
        }
    }
}

edgeq_status edgeq_convolve_kxk_s8(const edgeq_context *ctx, const edgeq_conv_params *conv_params,
                                   const edgeq_per_channel_quant_params *quant_params, const edgeq_dims *input_dims,
                                   const int8_t *input_data, const edgeq_dims *filter_dims, const int8_t *filter_data,
                                   const edgeq_dims *bias_dims, const int32_t *bias_data,
                                   const edgeq_dims *output_dims, int8_t *output_data)
{
    const int32_t cin = input_dims->c;
    const int32_t kh = filter_dims->h;
    const int32_t kw = filter_dims->w;
    const int32_t depth = kh * kw * cin; /* bytes of one window */
    const int32_t cout = output_dims->c;
    const int32_t out_w = output_dims->w;
    const int32_t out_hw = output_dims->h * out_w;
    const int32_t n_px = output_dims->n * out_hw;
    const int32_t sw = conv_params->stride.w;
    const int32_t sh = conv_params->stride.h;
    const int32_t pad_w = conv_params->padding.w;
    const int32_t pad_h = conv_params->padding.h;
    const int32_t out_offset = conv_params->output_offset;
    const int32_t act_min = conv_params->activation.min;
    const int32_t act_max = conv_params->activation.max;
    const int8_t zero_point = (int8_t)(-conv_params->input_offset); /* what a tap outside the input reads */
    int8_t window[2][EDGEQ_KXK_WINDOW] EDGEQ_ALIGNED(4);
    int8_t stage[2 * EDGEQ_KXK_STAGE];
    edgeq_out_writer writer;
    int32_t p;

    (void)bias_dims;
    if (filter_dims->c != cin || filter_dims->n != cout || depth > EDGEQ_KXK_WINDOW || bias_data == NULL ||
        conv_params->dilation.w != 1 || conv_params->dilation.h != 1) {
        return EDGEQ_ARG_ERROR;
    }
    edgeq_ow_init(&writer, output_data, ctx); /* output written in memory order, maybe in place (see edgeq_nn.h) */
    for (p = 0; p < n_px;) {
        const int two = p + 1 < n_px && (writer.size == 0 || cout <= EDGEQ_KXK_STAGE);
        int32_t t;
        for (t = 0; t < 1 + two; ++t) {
            const int32_t b = (p + t) / out_hw, r = (p + t) % out_hw;
            edgeq_kxk_window(input_data, input_dims, b, (r / out_w) * sh - pad_h, (r % out_w) * sw - pad_w, kh, kw,
                             zero_point, window[t]);
        }
        if (writer.size == 0) {
            edgeq_pointwise_pixels_s8(window[0], two ? window[1] : NULL, filter_data, depth, cout, 0, cout,
                                      bias_data, quant_params, out_offset, act_min, act_max, output_data + p * cout,
                                      output_data + (p + two) * cout);
        } else if (cout <= EDGEQ_KXK_STAGE) {
            edgeq_pointwise_pixels_s8(window[0], two ? window[1] : NULL, filter_data, depth, cout, 0, cout,
                                      bias_data, quant_params, out_offset, act_min, act_max, stage, stage + cout);
            edgeq_ow_put_n(&writer, stage, (1 + two) * cout);
        } else { /* through the ring with many channels: one pixel, EDGEQ_KXK_STAGE channels at a time */
            int32_t c;
            for (c = 0; c < cout; c += EDGEQ_KXK_STAGE) {
                const int32_t c_hi = c + EDGEQ_KXK_STAGE < cout ? c + EDGEQ_KXK_STAGE : cout;
                edgeq_pointwise_pixels_s8(window[0], NULL, filter_data, depth, cout, c, c_hi, bias_data,
                                          quant_params, out_offset, act_min, act_max, stage, stage);
                edgeq_ow_put_n(&writer, stage, c_hi - c);
            }
        }
        p += 1 + two;
    }
    edgeq_ow_flush(&writer);
    return EDGEQ_OK;
}
