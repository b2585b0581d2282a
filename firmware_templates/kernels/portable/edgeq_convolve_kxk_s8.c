/* CONV_2D with a KH x KW filter, not grouped, no dilation, any stride and padding: the first layers of DS-CNN /
 * MobileNet (1-3 input channels, e.g. KWS's 10x4) and ResNet's 3x3 convolutions. Same sums as TFLM's
 * ConvPerChannel, in another order: each output pixel's window (KH x KW x C_IN bytes) is copied into a small buffer
 * in ctx->buf (the layer's kernel scratch, see edgeq_nn.h), which makes it one contiguous vector, and the vectors of two pixels then run the 1x1 kernel's core
 * (edgeq_pointwise_pixels_s8 in edgeq_convolve_1x1_s8.c: 2 pixels x 2 output channels per step, raw inputs, weights
 * in read order; with the DSP extension and C_IN % 4 == 0 the window is written as int16 lanes and runs
 * edgeq_pointwise_lanes_s8) with C_IN = KH x KW x C_IN. The compiler prepares the constants as for a 1x1 filter of that depth
 * (edgeq/compiler/ops/conv.py window_constants): the input zero point folded into the bias, the OHWI filter
 * interleaved by channel pairs. Taps outside the input read the input zero point: in TFLM's sum they add nothing,
 * and with the folded bias zero_point x w exactly cancels the folded input_offset x w.
 * The copy costs KH x KW x C_IN byte moves per pixel against C_OUT times as many multiply-accumulates, and saves
 * the loop over filter rows (KWS's 10 rows of 4 bytes become one run of 40). The output goes straight to memory or,
 * when it overwrites the input through a delay ring, through a small stage in memory order (edgeq_out_writer): both
 * pixels' inputs are read before any of their outputs is put, as the ring allows. */
#include "edgeq_nn.h"

#include <string.h>

/* The working bytes in ctx->buf (edgeq_nn.h; the compiler's twin: edgeq/compiler/ops/conv.py Conv2D.working_bytes). */
int32_t edgeq_convolve_kxk_s8_buffer_size(const edgeq_dims *input_dims, const edgeq_dims *filter_dims,
                                          const edgeq_dims *output_dims)
{
    const int32_t depth = filter_dims->h * filter_dims->w * input_dims->c;
#if EDGEQ_USE_DSP
    if (input_dims->c % 4 == 0) { /* int16 lanes (depth words) + the lane core's accumulators */
        const int32_t cout = output_dims->c;
        return 4 * depth + 8 * (cout < EDGEQ_LANES_CHUNK ? cout : EDGEQ_LANES_CHUNK);
    }
#endif
    (void)output_dims;
    return 2 * EDGEQ_ALIGN4(depth); /* two byte windows */
}

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

#if EDGEQ_USE_DSP
/* edgeq_kxk_window straight into int16 lanes (slot `slot` of the two-pixel buffer, see edgeq_nn.h), for C_IN a
 * multiple of 4 (then every tap is whole lane blocks). */
static void edgeq_kxk_window_lanes(const int8_t *input, const edgeq_dims *in, int32_t b, int32_t y0, int32_t x0,
                                   int32_t kh, int32_t kw, int8_t zero_point, int32_t slot, int32_t *lanes)
{
    const int32_t cin = in->c;
    const int32_t len = kw * cin;
    int32_t kx_lo, kx_hi, ky;
    int32_t *dst = lanes + 2 * slot;
    edgeq_tap_range(x0, 1, in->w, kw, &kx_lo, &kx_hi);
    for (ky = 0; ky < kh; ++ky, dst += len) { /* len bytes of a row: len / 4 blocks of 4 words */
        const int32_t y = y0 + ky;
        const int8_t *src;
        if (y < 0 || y >= in->h || kx_lo == kx_hi) {
            edgeq_lanes_fill_s8(zero_point, len, dst);
            continue;
        }
        src = input + ((b * in->h + y) * in->w + x0) * cin; /* tap 0 (only taps kx_lo.. are read) */
        edgeq_lanes_fill_s8(zero_point, kx_lo * cin, dst);
        edgeq_lanes_expand(src + kx_lo * cin, (kx_hi - kx_lo) * cin, dst + kx_lo * cin);
        edgeq_lanes_fill_s8(zero_point, (kw - kx_hi) * cin, dst + kx_hi * cin);
    }
}
#endif

/* The two pixels' vectors in ctx->buf: byte windows (window[0], window[1]) or, with the DSP extension and C_IN % 4
 * == 0, int16 lanes (edgeq_nn.h: depth words) and the lane core's accumulators (acc) */
typedef struct {
    int8_t *window[2];
    int32_t *lanes;
    int32_t *acc;
} edgeq_kxk_buf;

/* What the core needs besides the vectors: the layer's constants. */
typedef struct {
    const int8_t *filter;
    int32_t depth;
    int32_t cout;
    const int32_t *bias;
    const edgeq_per_channel_quant_params *q;
    int32_t out_offset;
    int32_t act_min;
    int32_t act_max;
} edgeq_kxk_layer;

/* Output channels [c_lo, c_hi) of one or two pixels (`two`) into o0 / o1, on the byte windows or (`lanes`) on the
 * lanes (a lone pixel fills both lane slots: it is computed twice and its outputs written to o0 twice). */
EDGEQ_ALWAYS_INLINE void edgeq_kxk_core(const edgeq_kxk_layer *k, const edgeq_kxk_buf *buf, int lanes, int two,
                                        int32_t c_lo, int32_t c_hi, int8_t *o0, int8_t *o1)
{
#if EDGEQ_USE_DSP
    if (lanes) {
        edgeq_pointwise_lanes_s8(buf->lanes, k->depth, k->filter, k->cout, c_lo, c_hi, k->bias, k->q, k->out_offset,
                                 k->act_min, k->act_max, o0, two ? o1 : o0, buf->acc);
        return;
    }
#else
    (void)lanes;
#endif
    edgeq_pointwise_pixels_s8(buf->window[0], two ? buf->window[1] : NULL, k->filter, k->depth, k->cout, c_lo, c_hi,
                              k->bias, k->q, k->out_offset, k->act_min, k->act_max, o0, o1);
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
    const int32_t cout = output_dims->c;
    const int32_t out_w = output_dims->w;
    const int32_t out_hw = output_dims->h * out_w;
    const int32_t n_px = output_dims->n * out_hw;
    const int32_t sw = conv_params->stride.w;
    const int32_t sh = conv_params->stride.h;
    const int32_t pad_w = conv_params->padding.w;
    const int32_t pad_h = conv_params->padding.h;
    const int8_t zero_point = (int8_t)(-conv_params->input_offset); /* what a tap outside the input reads */
    const edgeq_kxk_layer k = {filter_data, kh * kw * cin, cout, bias_data, quant_params,
                               conv_params->output_offset, conv_params->activation.min,
                               conv_params->activation.max};
    const int lanes = EDGEQ_USE_DSP && cin % 4 == 0;
    /* the working buffers in ctx->buf (edgeq_nn.h): windows or lanes, then (in place) stage and delay ring */
    const int32_t work = edgeq_convolve_kxk_s8_buffer_size(input_dims, filter_dims, output_dims);
    const int in_place = (const void *)output_data == (const void *)input_data; /* else no ring */
    edgeq_kxk_buf buf;
    int8_t *stage = NULL;
    edgeq_context ring = {NULL, 0};
    edgeq_out_writer writer;
    int32_t p;

    (void)bias_dims;
    if (filter_dims->c != cin || filter_dims->n != cout || k.depth > EDGEQ_KXK_WINDOW || bias_data == NULL ||
        conv_params->dilation.w != 1 || conv_params->dilation.h != 1 || ctx == NULL || ctx->size < work) {
        return EDGEQ_ARG_ERROR;
    }
    buf.window[0] = (int8_t *)ctx->buf;
    buf.window[1] = buf.window[0] + EDGEQ_ALIGN4(k.depth);
    buf.lanes = (int32_t *)ctx->buf;
    buf.acc = buf.lanes + k.depth;
    if (in_place && ctx != NULL && ctx->size > work) { /* in place through a delay ring */
        const int32_t stage_bytes = EDGEQ_CONV_STAGE_BYTES(cout);
        if (ctx->size <= work + stage_bytes) {
            return EDGEQ_ARG_ERROR;
        }
        stage = (int8_t *)ctx->buf + work;
        ring.buf = stage + stage_bytes;
        ring.size = ctx->size - work - stage_bytes;
    }
    edgeq_ow_init(&writer, output_data, &ring); /* output in memory order, maybe in place (see edgeq_nn.h) */
    for (p = 0; p < n_px;) {
        const int two = p + 1 < n_px && (writer.size == 0 || cout <= EDGEQ_CONV_STAGE);
        int32_t t;
        for (t = 0; t < (lanes ? 2 : 1 + two); ++t) {
            const int32_t pp = two ? p + t : p;
            const int32_t b = pp / out_hw, r = pp % out_hw;
            const int32_t y0 = (r / out_w) * sh - pad_h, x0 = (r % out_w) * sw - pad_w;
#if EDGEQ_USE_DSP
            if (lanes) {
                edgeq_kxk_window_lanes(input_data, input_dims, b, y0, x0, kh, kw, zero_point, t, buf.lanes);
                continue;
            }
#endif
            edgeq_kxk_window(input_data, input_dims, b, y0, x0, kh, kw, zero_point, buf.window[t]);
        }
        if (writer.size == 0) {
            edgeq_kxk_core(&k, &buf, lanes, two, 0, cout, output_data + p * cout, output_data + (p + two) * cout);
        } else if (cout <= EDGEQ_CONV_STAGE) {
            edgeq_kxk_core(&k, &buf, lanes, two, 0, cout, stage, stage + cout);
            edgeq_ow_put_n(&writer, stage, (1 + two) * cout);
        } else { /* through the ring with many channels: one pixel, EDGEQ_CONV_STAGE channels at a time */
            int32_t c;
            for (c = 0; c < cout; c += EDGEQ_CONV_STAGE) {
                const int32_t c_hi = c + EDGEQ_CONV_STAGE < cout ? c + EDGEQ_CONV_STAGE : cout;
                edgeq_kxk_core(&k, &buf, lanes, 0, c, c_hi, stage, stage);
                edgeq_ow_put_n(&writer, stage, c_hi - c);
            }
        }
        p += 1 + two;
    }
    edgeq_ow_flush(&writer);
    return EDGEQ_OK;
}
