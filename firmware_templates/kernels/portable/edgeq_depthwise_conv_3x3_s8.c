/* DEPTHWISE_CONV_2D with a 3x3 filter, depth multiplier 1, no dilation (any stride and padding): the MobileNet /
 * DS-CNN depthwise layers. Same sums as TFLM's DepthwiseConvPerChannel in another order:
 * - four neighbouring channels at a time (their inputs and weights are four consecutive bytes: one 32-bit load each,
 *   and with the DSP extension SXTAB16 adds the input offset to two lanes while sign-extending them);
 * - a pixel whose 3x3 window lies inside the input (all but the border) runs the nine taps unrolled; a border pixel
 *   runs, row by row, the valid ones of the three taps of each valid row (edgeq_tap_range);
 * - requantization through edgeq_requantize_bounded: the compiler picks this kernel only when every accumulator is
 *   in its domain (edgeq/compiler/ops/conv.py bounded_requantization);
 * - the output is stored directly or, when it overwrites the input through a delay ring, one pixel (or, past
 *   EDGEQ_DW3_STAGE channels, four channels) at a time in memory order (edgeq_out_writer): a pixel's outputs are put
 *   after its last read, which the delay ring the compiler sized for the general kernel's order allows. */
#include "edgeq_nn.h"

#define EDGEQ_DW3_STAGE 256 /* one pixel's outputs staged when writing through the delay ring (if they fit) */
#define EDGEQ_DW3_RQ 64     /* through the ring, up to this many channels get their requantization prepared once */

/* acc[t] += (in[t] + input_offset) * w[t], t = 0..3 */
#if EDGEQ_USE_DSP
#define EDGEQ_DW_TAP(ip, wp)                                                                                          \
    do {                                                                                                              \
        const int32_t x_ = edgeq_load4(ip);                                                                           \
        const int32_t v_ = edgeq_load4(wp);                                                                           \
        const int32_t x02_ = __sxtab16(off2, x_);                                                                     \
        const int32_t x13_ = edgeq_sxtab16_ror8(off2, x_);                                                            \
        const int32_t v02_ = __sxtb16(v_);                                                                            \
        const int32_t v13_ = edgeq_sxtb16_ror8(v_);                                                                   \
        a0 = __smlabb(x02_, v02_, a0);                                                                                \
        a2 = __smlatt(x02_, v02_, a2);                                                                                \
        a1 = __smlabb(x13_, v13_, a1);                                                                                \
        a3 = __smlatt(x13_, v13_, a3);                                                                                \
    } while (0)
#else
#define EDGEQ_DW_TAP(ip, wp)                                                                                          \
    do {                                                                                                              \
        const int8_t *i_ = (ip);                                                                                      \
        const int8_t *w_ = (wp);                                                                                      \
        a0 += ((int32_t)i_[0] + input_offset) * EDGEQ_W8(&w_[0]);                                                     \
        a1 += ((int32_t)i_[1] + input_offset) * EDGEQ_W8(&w_[1]);                                                     \
        a2 += ((int32_t)i_[2] + input_offset) * EDGEQ_W8(&w_[2]);                                                     \
        a3 += ((int32_t)i_[3] + input_offset) * EDGEQ_W8(&w_[3]);                                                     \
    } while (0)
#endif

#if EDGEQ_USE_DSP
/* One tap of four channels whose weights are already sign-extended: w02 = lanes (w0, w2), w13 = lanes (w1, w3). */
#define EDGEQ_DW_TAPX(ip, w02, w13)                                                                                   \
    do {                                                                                                              \
        const int32_t x_ = edgeq_load4(ip);                                                                           \
        const int32_t x02_ = __sxtab16(off2, x_);                                                                     \
        const int32_t x13_ = edgeq_sxtab16_ror8(off2, x_);                                                            \
        a0 = __smlabb(x02_, (w02), a0);                                                                               \
        a2 = __smlatt(x02_, (w02), a2);                                                                               \
        a1 = __smlabb(x13_, (w13), a1);                                                                               \
        a3 = __smlatt(x13_, (w13), a3);                                                                               \
    } while (0)
#endif

static inline int8_t edgeq_dw3_out(int32_t acc, const int32_t *bias, const edgeq_per_channel_quant_params *q,
                                   int32_t c, int32_t out_offset, int32_t act_min, int32_t act_max)
{
    int32_t v;
    if (bias != NULL) {
        acc += EDGEQ_W32(&bias[c]);
    }
    v = edgeq_requantize_bounded(acc, EDGEQ_W32(&q->multiplier[c]), EDGEQ_W32(&q->shift[c])) + out_offset;
    v = v < act_min ? act_min : v;
    return (int8_t)(v > act_max ? act_max : v);
}

/* One requantized output of a channel whose per-channel part is r: + output zero point, clamp (`full`, a constant
 * after inlining: the range is all of int8, one SSAT with the DSP extension). */
EDGEQ_ALWAYS_INLINE int8_t edgeq_dw3_rq(int32_t acc, const edgeq_rq_channel *r, int32_t out_offset, int full,
                                        int32_t act_min, int32_t act_max)
{
    int32_t v = edgeq_rq_apply(acc, r) + out_offset;
#if EDGEQ_USE_DSP
    if (full) {
        return (int8_t)__ssat(v, 8);
    }
#else
    (void)full;
#endif
    v = v < act_min ? act_min : v;
    return (int8_t)(v > act_max ? act_max : v);
}

/* The output written straight to memory (not in place), four channels at a time over the whole output: the four
 * channels' bias and requantization constants are prepared once per group of four instead of once per output. */
EDGEQ_ALWAYS_INLINE void edgeq_dw3_direct(const edgeq_dw_conv_params *dw, const edgeq_per_channel_quant_params *q,
                                          const edgeq_dims *input_dims, const int8_t *input_data,
                                          const int8_t *filter_data, const int32_t *bias_data,
                                          const edgeq_dims *output_dims, int8_t *output_data, int full)
{
    const int32_t input_h = input_dims->h;
    const int32_t input_w = input_dims->w;
    const int32_t cc = input_dims->c;
    const int32_t output_h = output_dims->h;
    const int32_t output_w = output_dims->w;
    const int32_t stride_w = dw->stride.w;
    const int32_t stride_h = dw->stride.h;
    const int32_t pad_w = dw->padding.w;
    const int32_t pad_h = dw->padding.h;
    const int32_t input_offset = dw->input_offset;
    const int32_t out_offset = dw->output_offset;
    const int32_t act_min = dw->activation.min;
    const int32_t act_max = dw->activation.max;
    const int32_t row = input_w * cc; /* bytes of one input row */
#if EDGEQ_USE_DSP
    const int32_t off2 = (int32_t)(((uint32_t)input_offset << 16) | ((uint32_t)input_offset & 0xFFFFu));
#endif
    int32_t b, out_y, out_x, c, t, ky, kx;
    for (c = 0; c < cc; c += 4) {
        const int32_t n = cc - c < 4 ? cc - c : 4; /* channels in this group */
        edgeq_rq_channel r[4];
        int32_t bias[4];
#if EDGEQ_USE_DSP
        int32_t w02[9], w13[9]; /* the group's nine weight words, sign-extended once for the whole output */
#endif
        for (t = 0; t < n; ++t) {
            r[t] = edgeq_rq_channel_of(EDGEQ_W32(&q->multiplier[c + t]), EDGEQ_W32(&q->shift[c + t]));
            bias[t] = bias_data != NULL ? EDGEQ_W32(&bias_data[c + t]) : 0;
        }
#if EDGEQ_USE_DSP
        if (n == 4) {
            for (t = 0; t < 9; ++t) {
                const int32_t v = edgeq_load4(filter_data + t * cc + c);
                w02[t] = __sxtb16(v);
                w13[t] = edgeq_sxtb16_ror8(v);
            }
        }
#endif
        for (b = 0; b < input_dims->n; ++b) {
            int8_t *out = output_data + b * output_h * output_w * cc + c;
            for (out_y = 0; out_y < output_h; ++out_y) {
                const int32_t in_y0 = out_y * stride_h - pad_h;
                int32_t ky_lo, ky_hi;
                edgeq_tap_range(in_y0, 1, input_h, 3, &ky_lo, &ky_hi);
                for (out_x = 0; out_x < output_w; ++out_x, out += cc) {
                    const int32_t in_x0 = out_x * stride_w - pad_w;
                    /* the window's top-left tap (outside the input at a border: only valid taps are read) */
                    const int8_t *in0 = input_data + ((b * input_h + in_y0) * input_w + in_x0) * cc + c;
                    int32_t kx_lo, kx_hi;
                    edgeq_tap_range(in_x0, 1, input_w, 3, &kx_lo, &kx_hi);
                    if (n == 4) {
                        int32_t a0 = bias[0], a1 = bias[1], a2 = bias[2], a3 = bias[3];
                        if (ky_hi - ky_lo == 3 && kx_hi - kx_lo == 3) { /* inside: nine taps unrolled */
#if EDGEQ_USE_DSP
                            const int8_t *ip = in0;
                            EDGEQ_DW_TAPX(ip, w02[0], w13[0]);
                            EDGEQ_DW_TAPX(ip + cc, w02[1], w13[1]);
                            EDGEQ_DW_TAPX(ip + 2 * cc, w02[2], w13[2]);
                            ip += row;
                            EDGEQ_DW_TAPX(ip, w02[3], w13[3]);
                            EDGEQ_DW_TAPX(ip + cc, w02[4], w13[4]);
                            EDGEQ_DW_TAPX(ip + 2 * cc, w02[5], w13[5]);
                            ip += row;
                            EDGEQ_DW_TAPX(ip, w02[6], w13[6]);
                            EDGEQ_DW_TAPX(ip + cc, w02[7], w13[7]);
                            EDGEQ_DW_TAPX(ip + 2 * cc, w02[8], w13[8]);
#else
                            const int8_t *ip = in0;
                            const int8_t *wp = filter_data + c;
                            for (ky = 0; ky < 3; ++ky, ip += row, wp += 3 * cc) {
                                EDGEQ_DW_TAP(ip, wp);
                                EDGEQ_DW_TAP(ip + cc, wp + cc);
                                EDGEQ_DW_TAP(ip + 2 * cc, wp + 2 * cc);
                            }
#endif
                        } else { /* border: the valid taps */
                            for (ky = ky_lo; ky < ky_hi; ++ky) {
                                for (kx = kx_lo; kx < kx_hi; ++kx) {
                                    EDGEQ_DW_TAP(in0 + ky * row + kx * cc, filter_data + (ky * 3 + kx) * cc + c);
                                }
                            }
                        }
                        out[0] = edgeq_dw3_rq(a0, &r[0], out_offset, full, act_min, act_max);
                        out[1] = edgeq_dw3_rq(a1, &r[1], out_offset, full, act_min, act_max);
                        out[2] = edgeq_dw3_rq(a2, &r[2], out_offset, full, act_min, act_max);
                        out[3] = edgeq_dw3_rq(a3, &r[3], out_offset, full, act_min, act_max);
                    } else { /* the last C % 4 channels, one at a time */
                        for (t = 0; t < n; ++t) {
                            int32_t acc = bias[t];
                            for (ky = ky_lo; ky < ky_hi; ++ky) {
                                for (kx = kx_lo; kx < kx_hi; ++kx) {
                                    acc += ((int32_t)in0[ky * row + kx * cc + t] + input_offset) *
                                           EDGEQ_W8(&filter_data[(ky * 3 + kx) * cc + c + t]);
                                }
                            }
                            out[t] = edgeq_dw3_rq(acc, &r[t], out_offset, full, act_min, act_max);
                        }
                    }
                }
            }
        }
    }
}

edgeq_status edgeq_depthwise_conv_3x3_s8(const edgeq_context *ctx, const edgeq_dw_conv_params *dw_conv_params,
                                         const edgeq_per_channel_quant_params *quant_params,
                                         const edgeq_dims *input_dims, const int8_t *input_data,
                                         const edgeq_dims *filter_dims, const int8_t *filter_data,
                                         const edgeq_dims *bias_dims, const int32_t *bias_data,
                                         const edgeq_dims *output_dims, int8_t *output_data)
{
    const int32_t input_h = input_dims->h;
    const int32_t input_w = input_dims->w;
    const int32_t cc = input_dims->c;
    const int32_t output_h = output_dims->h;
    const int32_t output_w = output_dims->w;
    const int32_t stride_w = dw_conv_params->stride.w;
    const int32_t stride_h = dw_conv_params->stride.h;
    const int32_t pad_w = dw_conv_params->padding.w;
    const int32_t pad_h = dw_conv_params->padding.h;
    const int32_t input_offset = dw_conv_params->input_offset;
    const int32_t out_offset = dw_conv_params->output_offset;
    const int32_t act_min = dw_conv_params->activation.min;
    const int32_t act_max = dw_conv_params->activation.max;
    const int32_t row = input_w * cc; /* bytes of one input row */
    const int32_t c4 = cc - cc % 4;
#if EDGEQ_USE_DSP
    const int32_t off2 = (int32_t)(((uint32_t)input_offset << 16) | ((uint32_t)input_offset & 0xFFFFu));
#endif
    int32_t b, out_y, out_x, c, ky, kx;
    int direct, staged;
    int8_t *out = output_data;
    int8_t stage[EDGEQ_DW3_STAGE];
    edgeq_rq_channel rq[EDGEQ_DW3_RQ]; /* per channel, when cc <= EDGEQ_DW3_RQ: requantization and bias */
    int32_t rq_bias[EDGEQ_DW3_RQ];
    const int prepared = cc <= EDGEQ_DW3_RQ;
    const int full = act_min == -128 && act_max == 127;
    edgeq_out_writer writer;

    (void)bias_dims;
    if (filter_dims->h != 3 || filter_dims->w != 3 || output_dims->c != cc || dw_conv_params->ch_mult != 1 ||
        dw_conv_params->dilation.w != 1 || dw_conv_params->dilation.h != 1) {
        return EDGEQ_ARG_ERROR;
    }
    edgeq_ow_init(&writer, output_data, ctx); /* output written in memory order, maybe in place (see edgeq_nn.h) */
    if (writer.size == 0 && act_min == -128 && act_max == 127) {
        edgeq_dw3_direct(dw_conv_params, quant_params, input_dims, input_data, filter_data, bias_data, output_dims,
                         output_data, 1);
        return EDGEQ_OK;
    }
    if (writer.size == 0) {
        edgeq_dw3_direct(dw_conv_params, quant_params, input_dims, input_data, filter_data, bias_data, output_dims,
                         output_data, 0);
        return EDGEQ_OK;
    }
    direct = 0;
    staged = !direct && cc <= EDGEQ_DW3_STAGE;
    for (c = 0; prepared && c < cc; ++c) {
        rq[c] = edgeq_rq_channel_of(EDGEQ_W32(&quant_params->multiplier[c]), EDGEQ_W32(&quant_params->shift[c]));
        rq_bias[c] = bias_data != NULL ? EDGEQ_W32(&bias_data[c]) : 0;
    }
    for (b = 0; b < input_dims->n; ++b) {
        for (out_y = 0; out_y < output_h; ++out_y) {
            const int32_t in_y0 = out_y * stride_h - pad_h;
            int32_t ky_lo, ky_hi;
            edgeq_tap_range(in_y0, 1, input_h, 3, &ky_lo, &ky_hi);
            for (out_x = 0; out_x < output_w; ++out_x) {
                const int32_t in_x0 = out_x * stride_w - pad_w;
                int32_t kx_lo, kx_hi;
                /* offset of the window's top-left tap (outside the input at a border: only valid taps are read) */
                const int32_t in0 = ((b * input_h + in_y0) * input_w + in_x0) * cc;
                edgeq_tap_range(in_x0, 1, input_w, 3, &kx_lo, &kx_hi);
                if (staged) {
                    out = stage;
                }
                for (c = 0; c < c4; c += 4) {
                    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
                    int8_t o[4];
                    if (ky_hi - ky_lo == 3 && kx_hi - kx_lo == 3) { /* inside: nine taps unrolled */
                        for (ky = 0; ky < 3; ++ky) {
                            const int8_t *ip = input_data + in0 + ky * row + c;
                            const int8_t *wp = filter_data + ky * 3 * cc + c;
                            EDGEQ_DW_TAP(ip, wp);
                            EDGEQ_DW_TAP(ip + cc, wp + cc);
                            EDGEQ_DW_TAP(ip + 2 * cc, wp + 2 * cc);
                        }
                    } else { /* border: the valid rows, and in each the valid ones of its three taps */
                        for (ky = ky_lo; ky < ky_hi; ++ky) {
                            const int32_t i = in0 + ky * row + c; /* tap 0 of the row (maybe left of the input) */
                            const int8_t *wp = filter_data + ky * 3 * cc + c;
                            if (kx_lo == 0 && kx_hi > 0) {
                                EDGEQ_DW_TAP(input_data + i, wp);
                            }
                            if (kx_lo <= 1 && kx_hi > 1) {
                                EDGEQ_DW_TAP(input_data + i + cc, wp + cc);
                            }
                            if (kx_hi == 3 && kx_lo <= 2) {
                                EDGEQ_DW_TAP(input_data + i + 2 * cc, wp + 2 * cc);
                            }
                        }
                    }
                    if (prepared) {
                        o[0] = edgeq_dw3_rq(a0 + rq_bias[c], &rq[c], out_offset, full, act_min, act_max);
                        o[1] = edgeq_dw3_rq(a1 + rq_bias[c + 1], &rq[c + 1], out_offset, full, act_min, act_max);
                        o[2] = edgeq_dw3_rq(a2 + rq_bias[c + 2], &rq[c + 2], out_offset, full, act_min, act_max);
                        o[3] = edgeq_dw3_rq(a3 + rq_bias[c + 3], &rq[c + 3], out_offset, full, act_min, act_max);
                    } else {
                        o[0] = edgeq_dw3_out(a0, bias_data, quant_params, c, out_offset, act_min, act_max);
                        o[1] = edgeq_dw3_out(a1, bias_data, quant_params, c + 1, out_offset, act_min, act_max);
                        o[2] = edgeq_dw3_out(a2, bias_data, quant_params, c + 2, out_offset, act_min, act_max);
                        o[3] = edgeq_dw3_out(a3, bias_data, quant_params, c + 3, out_offset, act_min, act_max);
                    }
                    if (direct || staged) {
                        out[0] = o[0];
                        out[1] = o[1];
                        out[2] = o[2];
                        out[3] = o[3];
                        out += 4;
                    } else {
                        edgeq_ow_put_n(&writer, o, 4);
                    }
                }
                for (; c < cc; ++c) { /* the last C % 4 channels, one at a time */
                    int32_t acc = 0;
                    int8_t o;
                    for (ky = ky_lo; ky < ky_hi; ++ky) {
                        for (kx = kx_lo; kx < kx_hi; ++kx) {
                            acc += ((int32_t)input_data[in0 + ky * row + kx * cc + c] + input_offset) *
                                   EDGEQ_W8(&filter_data[(ky * 3 + kx) * cc + c]);
                        }
                    }
                    o = edgeq_dw3_out(acc, bias_data, quant_params, c, out_offset, act_min, act_max);
                    if (direct || staged) {
                        *out++ = o;
                    } else {
                        edgeq_ow_put(&writer, o);
                    }
                }
                if (staged) {
                    edgeq_ow_put_n(&writer, stage, cc);
                }
            }
        }
    }
    edgeq_ow_flush(&writer);
    return EDGEQ_OK;
}
