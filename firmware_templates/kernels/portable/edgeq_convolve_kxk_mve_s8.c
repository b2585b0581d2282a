/* CONV_2D with a KH x KW filter, not grouped, no dilation, any stride and padding, with Helium (Cortex-M55):
 * edgeq_convolve_kxk_s8's method with the vector core. Each output pixel's window (KH x KW x C_IN bytes, the input
 * zero point at taps outside the input) is copied into a buffer in ctx->buf with 16-byte vector moves, which makes it one
 * contiguous vector; two pixels' windows then run edgeq_pointwise_pixels_mve_s8 (VMLADAVA over 16 bytes of the
 * window and of a filter row, tail predicate, 2 pixels x 2 output channels) with the filter in natural order
 * ([C_OUT][KH * KW * C_IN]) and the constants of edgeq/compiler/ops/conv.py window_constants (input zero point
 * folded into the bias: a tap outside the input reads the zero point, whose product cancels the folded term
 * exactly, so the sums are TFLM's). Same pixel order and output writes as edgeq_convolve_kxk_s8 (both pixels'
 * windows are read before any of their outputs is put), so the same delay ring serves it in place. Defined only when
 * built with MVE. */
#include "edgeq_nn.h"

#if EDGEQ_USE_MVE

/* The working bytes in ctx->buf (edgeq_nn.h; the compiler's twin: edgeq/compiler/ops/conv.py Conv2D.working_bytes):
 * the two byte windows. */
int32_t edgeq_convolve_kxk_mve_s8_buffer_size(const edgeq_dims *input_dims, const edgeq_dims *filter_dims,
                                              const edgeq_dims *output_dims)
{
    (void)output_dims;
    return 2 * EDGEQ_ALIGN4(filter_dims->h * filter_dims->w * input_dims->c);
}

/* n bytes of src to dst, or of the zero point when src is NULL, 16 at a time (a tail predicate for the rest) */
static inline void edgeq_kxk_mve_fill(int8_t *dst, const int8_t *src, int32_t n, int8_t zero_point)
{
    int32_t k;
    const int8x16_t z = vdupq_n_s8(zero_point);
    for (k = 0; k < n; k += 16) {
        const mve_pred16_t pr = vctp8q((uint32_t)(n - k));
        vstrbq_p_s8(dst + k, src != NULL ? vldrbq_z_s8(src + k, pr) : z, pr);
    }
}

/* The window of the output pixel whose top-left tap is input (y0, x0) of batch b, as one vector in dst (KH rows of
 * KW * C_IN bytes), the zero point at taps outside the input. */
static void edgeq_kxk_mve_window(const int8_t *input, const edgeq_dims *in, int32_t b, int32_t y0, int32_t x0,
                                 int32_t kh, int32_t kw, int8_t zero_point, int8_t *dst)
{
    const int32_t cin = in->c;
    const int32_t len = kw * cin;
    int32_t kx_lo, kx_hi, ky;
    edgeq_tap_range(x0, 1, in->w, kw, &kx_lo, &kx_hi);
    for (ky = 0; ky < kh; ++ky, dst += len) {
        const int32_t y = y0 + ky;
        if (y < 0 || y >= in->h || kx_lo == kx_hi) {
            edgeq_kxk_mve_fill(dst, NULL, len, zero_point);
            continue;
        }
        edgeq_kxk_mve_fill(dst, NULL, kx_lo * cin, zero_point);
        edgeq_kxk_mve_fill(dst + kx_lo * cin, input + ((b * in->h + y) * in->w + x0 + kx_lo) * cin,
                           (kx_hi - kx_lo) * cin, zero_point);
        edgeq_kxk_mve_fill(dst + kx_hi * cin, NULL, (kw - kx_hi) * cin, zero_point);
    }
}

edgeq_status edgeq_convolve_kxk_mve_s8(const edgeq_context *ctx, const edgeq_conv_params *conv_params,
                                       const edgeq_per_channel_quant_params *quant_params,
                                       const edgeq_dims *input_dims, const int8_t *input_data,
                                       const edgeq_dims *filter_dims, const int8_t *filter_data,
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
    /* the working buffers in ctx->buf (edgeq_nn.h): the two windows, then (in place) stage and delay ring */
    const int32_t work = edgeq_convolve_kxk_mve_s8_buffer_size(input_dims, filter_dims, output_dims);
    const int in_place = (const void *)output_data == (const void *)input_data; /* else no ring */
    int8_t *window[2];
    int8_t *stage = NULL;
    edgeq_context ring = {NULL, 0};
    edgeq_out_writer writer;
    int32_t p;

    (void)bias_dims;
    if (filter_dims->c != cin || filter_dims->n != cout || depth > EDGEQ_KXK_WINDOW || bias_data == NULL ||
        conv_params->dilation.w != 1 || conv_params->dilation.h != 1 || ctx == NULL || ctx->size < work) {
        return EDGEQ_ARG_ERROR;
    }
    window[0] = (int8_t *)ctx->buf;
    window[1] = window[0] + EDGEQ_ALIGN4(depth);
    if (in_place && ctx != NULL && ctx->size > work) { /* in place through a delay ring */
        const int32_t stage_bytes = EDGEQ_CONV_STAGE_BYTES(cout);
        if (ctx->size <= work + stage_bytes) {
            return EDGEQ_ARG_ERROR;
        }
        stage = window[0] + work;
        ring.buf = stage + stage_bytes;
        ring.size = ctx->size - work - stage_bytes;
    }
    edgeq_ow_init(&writer, output_data, &ring); /* output in memory order, maybe in place (see edgeq_nn.h) */
    for (p = 0; p < n_px;) {
        const int two = p + 1 < n_px && (writer.size == 0 || cout <= EDGEQ_CONV_STAGE);
        int32_t t;
        for (t = 0; t < 1 + two; ++t) {
            const int32_t b = (p + t) / out_hw, r = (p + t) % out_hw;
            edgeq_kxk_mve_window(input_data, input_dims, b, (r / out_w) * sh - pad_h, (r % out_w) * sw - pad_w, kh,
                                 kw, zero_point, window[t]);
        }
        if (writer.size == 0) {
            edgeq_pointwise_pixels_mve_s8(window[0], two ? window[1] : NULL, filter_data, depth, cout, 0, cout,
                                          bias_data, quant_params, out_offset, act_min, act_max,
                                          output_data + p * cout, output_data + (p + two) * cout);
        } else if (cout <= EDGEQ_CONV_STAGE) {
            edgeq_pointwise_pixels_mve_s8(window[0], two ? window[1] : NULL, filter_data, depth, cout, 0, cout,
                                          bias_data, quant_params, out_offset, act_min, act_max, stage,
                                          stage + cout);
            edgeq_ow_put_n(&writer, stage, (1 + two) * cout);
        } else { /* through the ring with many channels: one pixel, EDGEQ_CONV_STAGE channels at a time */
            int32_t c;
            for (c = 0; c < cout; c += EDGEQ_CONV_STAGE) {
                const int32_t c_hi = c + EDGEQ_CONV_STAGE < cout ? c + EDGEQ_CONV_STAGE : cout;
                edgeq_pointwise_pixels_mve_s8(window[0], NULL, filter_data, depth, cout, c, c_hi, bias_data,
                                              quant_params, out_offset, act_min, act_max, stage, stage);
                edgeq_ow_put_n(&writer, stage, c_hi - c);
            }
        }
        p += 1 + two;
    }
    edgeq_ow_flush(&writer);
    return EDGEQ_OK;
}

#endif
