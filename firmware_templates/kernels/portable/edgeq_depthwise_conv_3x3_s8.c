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

#include <string.h>

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
    return edgeq_clamp_s8(edgeq_rq_apply(acc, r) + out_offset, full, act_min, act_max);
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
        for (t = 0; t < 9; ++t) { /* (only a full group of four reads them; a last, shorter one sets them to 0) */
            const int32_t v = n == 4 ? edgeq_load4(filter_data + t * cc + c) : 0;
            w02[t] = __sxtb16(v);
            w13[t] = edgeq_sxtb16_ror8(v);
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

/* ---- in place, one channel at a time through a padded channel plane (edgeq_depthwise_conv_3x3_plane_s8) ---------
 * The plane holds the (Ho - 1) * stride + 3 rows and (Wo - 1) * stride + 3 columns of one channel the 3x3 windows
 * read, the padding included: plane row r, column k is input row r - pad_h, column k - pad_w, or the input zero point
 * (-input_offset) outside the input. A padded tap then adds (zero point + input_offset) * w = 0, exactly what TFLM's
 * skipped tap adds, so every output runs the same nine taps, and the input offset folds into the bias:
 * sum (x + offset) w = sum x w + offset * sum w. The border cells are written once per call (the same value for
 * every channel); each channel copies only its input cells. With the DSP extension one word of a plane row holds
 * bytes k .. k+3: SXTB16 splits it into lanes (b0, b2) and (b1, b3), and with the filter row packed as lanes
 * (w0, w2) and w1, one SMLAD + one SMLABB give b0 w0 + b1 w1 + b2 w2, and one SMLAD + one SMLATB the neighbouring
 * output's b1 w0 + b2 w1 + b3 w2 (stride 1: two outputs per three loads). A word read may reach one byte past the
 * last row: the plane has EDGEQ_DW3_PLANE_SLACK bytes more (edgeq/compiler/ops/depthwise_conv.py sizes it). */

#if EDGEQ_USE_DSP
/* acc += bytes 0..2 at p times the filter row (w02 = lanes (w0, w2), w1) */
#define EDGEQ_PL_TAP3(acc, p, w02, w1)                                                                                \
    do {                                                                                                              \
        const int32_t v_ = edgeq_load4(p);                                                                            \
        acc = __smlad(__sxtb16(v_), (w02), acc);                                                                      \
        acc = __smlabb(edgeq_sxtb16_ror8(v_), (w1), acc);                                                             \
    } while (0)
/* a0 = bytes 0..2 at p times the filter row, a1 = bytes 1..3 (the first row: SMUAD starts the sums) */
#define EDGEQ_PL_TAP3X2_FIRST(a0, a1, p, w02, w1)                                                                     \
    do {                                                                                                              \
        const int32_t v_ = edgeq_load4(p);                                                                            \
        const int32_t e_ = __sxtb16(v_);           /* lanes b0, b2 */                                                 \
        const int32_t o_ = edgeq_sxtb16_ror8(v_);  /* lanes b1, b3 */                                                 \
        a0 = __smlabb(o_, (w1), __smuad(e_, (w02)));                                                                  \
        a1 = __smlatb(e_, (w1), __smuad(o_, (w02)));                                                                  \
    } while (0)
/* a0 += bytes 0..2 at p times the filter row, a1 += bytes 1..3 */
#define EDGEQ_PL_TAP3X2(a0, a1, p, w02, w1)                                                                           \
    do {                                                                                                              \
        const int32_t v_ = edgeq_load4(p);                                                                            \
        const int32_t e_ = __sxtb16(v_);           /* lanes b0, b2 */                                                 \
        const int32_t o_ = edgeq_sxtb16_ror8(v_);  /* lanes b1, b3 */                                                 \
        a0 = __smlad(e_, (w02), a0);                                                                                  \
        a0 = __smlabb(o_, (w1), a0);                                                                                  \
        a1 = __smlad(o_, (w02), a1);                                                                                  \
        a1 = __smlatb(e_, (w1), a1);                                                                                  \
    } while (0)
#endif

#if defined(__GNUC__) || defined(__clang__)
#define EDGEQ_DW3_NOINLINE __attribute__((noinline))
#else
#define EDGEQ_DW3_NOINLINE
#endif
#define EDGEQ_DW3_ACC 128 /* accumulators of up to this many outputs (whole rows) computed before requantizing */

/* The accumulators (without bias) of `rows` output rows of one channel (rows * out_w <= EDGEQ_DW3_ACC) from its
 * plane, p = the top-left tap of the first row's first window; k = the nine weights. Its own function: the loop
 * keeps the filter, the plane pointer and both accumulators in registers. */
static EDGEQ_DW3_NOINLINE void edgeq_dw3_plane_rows(const int8_t *p, int32_t wp, int32_t rows, int32_t out_w,
                                                    int32_t stride_h, int32_t stride_w, const int32_t *k,
                                                    int32_t *acc)
{
    int32_t y, x;
#if EDGEQ_USE_DSP
    /* filter row r as lanes (w0, w2) and w1 */
    const int32_t w02_0 = (int32_t)(((uint32_t)k[0] & 0xFFFFu) | ((uint32_t)k[2] << 16));
    const int32_t w02_1 = (int32_t)(((uint32_t)k[3] & 0xFFFFu) | ((uint32_t)k[5] << 16));
    const int32_t w02_2 = (int32_t)(((uint32_t)k[6] & 0xFFFFu) | ((uint32_t)k[8] << 16));
    const int32_t w1_0 = k[1], w1_1 = k[4], w1_2 = k[7];
#endif
    for (y = 0; y < rows; ++y, p += stride_h * wp) {
        const int8_t *q = p;
        x = 0;
#if EDGEQ_USE_DSP
        if (stride_w == 1) {
            for (; x + 2 <= out_w; x += 2, q += 2, acc += 2) {
                int32_t a0, a1;
                EDGEQ_PL_TAP3X2_FIRST(a0, a1, q, w02_0, w1_0);
                EDGEQ_PL_TAP3X2(a0, a1, q + wp, w02_1, w1_1);
                EDGEQ_PL_TAP3X2(a0, a1, q + 2 * wp, w02_2, w1_2);
                acc[0] = a0;
                acc[1] = a1;
            }
        }
        for (; x < out_w; ++x, q += stride_w, ++acc) {
            int32_t a = 0;
            EDGEQ_PL_TAP3(a, q, w02_0, w1_0);
            EDGEQ_PL_TAP3(a, q + wp, w02_1, w1_1);
            EDGEQ_PL_TAP3(a, q + 2 * wp, w02_2, w1_2);
            *acc = a;
        }
#else
        for (; x < out_w; ++x, q += stride_w, ++acc) {
            const int8_t *r = q;
            int32_t a = r[0] * k[0] + r[1] * k[1] + r[2] * k[2];
            r += wp;
            a += r[0] * k[3] + r[1] * k[4] + r[2] * k[5];
            r += wp;
            a += r[0] * k[6] + r[1] * k[7] + r[2] * k[8];
            *acc = a;
        }
#endif
    }
}

/* n accumulators of one channel (bias not yet added) requantized and stored `step` bytes apart from o. */
EDGEQ_ALWAYS_INLINE void edgeq_dw3_store(const int32_t *acc, int32_t n, int8_t *o, int32_t step, int32_t bias,
                                         const edgeq_rq_channel *r, int32_t out_offset, int full, int32_t act_min,
                                         int32_t act_max)
{
    int32_t i;
#if EDGEQ_USE_DSP && (defined(__GNUC__) || defined(__clang__))
    if (r->left_shift == 0 && r->right_shift > 0) { /* the usual case: edgeq_rq_apply without its no-op steps */
        const int32_t m = r->multiplier;
        const int32_t half = r->half;
        const int32_t rs = r->right_shift;
        for (i = 0; i < n; ++i, o += step) {
            const int32_t a = acc[i] + bias;
            int32_t v;
            __asm__("smmlar %0, %1, %2, %3" : "=r"(v) : "r"(a), "r"(m), "r"(a));
            v = ((v + (v >> 31) + half) >> rs) + out_offset; /* (v >> 31: a negative exact half rounds down) */
            *o = edgeq_clamp_s8(v, full, act_min, act_max);
        }
        return;
    }
#endif
    for (i = 0; i < n; ++i, o += step) {
        *o = edgeq_dw3_rq(acc[i] + bias, r, out_offset, full, act_min, act_max);
    }
}

/* One channel's outputs from its plane: `lines` plane lines of `cols` outputs (wp bytes a line, line stride s_line,
 * column stride s_col); output (line j, column i) at out + j * out_line + i * out_col. */
EDGEQ_ALWAYS_INLINE void edgeq_dw3_plane_channel(const int8_t *plane, int32_t wp, int32_t lines, int32_t cols,
                                                 int32_t s_line, int32_t s_col, const int32_t *k, int32_t bias,
                                                 const edgeq_rq_channel *r, int32_t out_offset, int full,
                                                 int32_t act_min, int32_t act_max, int8_t *out, int32_t out_line,
                                                 int32_t out_col)
{
    int32_t acc[EDGEQ_DW3_ACC];
    const int32_t per_step = cols <= EDGEQ_DW3_ACC ? EDGEQ_DW3_ACC / cols : 1; /* whole lines per step */
    int32_t y, x, j;
    for (y = 0; y < lines; y += per_step) {
        const int32_t rows = lines - y < per_step ? lines - y : per_step;
        for (x = 0; x < cols; x += EDGEQ_DW3_ACC) { /* (one line in pieces when it has more outputs) */
            const int32_t n = cols - x < EDGEQ_DW3_ACC ? cols - x : EDGEQ_DW3_ACC;
            edgeq_dw3_plane_rows(plane + y * s_line * wp + x * s_col, wp, rows, n, s_line, s_col, k, acc);
            if (n == cols && out_line == n * out_col) { /* whole lines, stored one after the other */
                edgeq_dw3_store(acc, rows * n, out + y * out_line, out_col, bias, r, out_offset, full, act_min,
                                act_max);
                continue;
            }
            for (j = 0; j < rows; ++j) {
                edgeq_dw3_store(acc + j * n, n, out + (y + j) * out_line + x * out_col, out_col, bias, r, out_offset,
                                full, act_min, act_max);
            }
        }
    }
}

/* tap t of the transposed filter (line tap = filter column, column tap = filter row) */
static const uint8_t edgeq_dw3_transposed_tap[9] = {0, 3, 6, 1, 4, 7, 2, 5, 8};

/* The plane's lines run along the longer output side (a tall, narrow layer such as KWS's 25 x 5 is read column by
 * column: 5 lines of 25 outputs instead of 25 of 5), the filter transposed with it. */
EDGEQ_ALWAYS_INLINE void edgeq_dw3_plane(const edgeq_dw_conv_params *dw, const edgeq_per_channel_quant_params *q,
                                         const edgeq_dims *input_dims, const int8_t *input_data,
                                         const int8_t *filter_data, const int32_t *bias_data,
                                         const edgeq_dims *output_dims, int8_t *output_data, int8_t *plane, int full,
                                         int transposed)
{
    const int32_t cc = input_dims->c;
    const int32_t out_h = output_dims->h;
    const int32_t out_w = output_dims->w;
    const int32_t lines = transposed ? out_w : out_h;
    const int32_t cols = transposed ? out_h : out_w;
    const int32_t s_line = transposed ? dw->stride.w : dw->stride.h;
    const int32_t s_col = transposed ? dw->stride.h : dw->stride.w;
    const int32_t hp = (lines - 1) * s_line + 3;
    const int32_t wp = (cols - 1) * s_col + 3;
    const int32_t pad_line = transposed ? dw->padding.w : dw->padding.h;
    const int32_t pad_col = transposed ? dw->padding.h : dw->padding.w;
    const int32_t in_lines = transposed ? input_dims->w : input_dims->h;
    const int32_t in_cols = transposed ? input_dims->h : input_dims->w;
    const int32_t row = input_dims->w * cc; /* bytes of one input row */
    const int32_t src_line = transposed ? cc : row;
    const int32_t src_col = transposed ? row : cc;
    const int32_t out_line = transposed ? cc : out_w * cc;
    const int32_t out_col = transposed ? out_w * cc : cc;
    const int32_t input_offset = dw->input_offset;
    /* the plane lines / columns that hold input cells: [r_lo, r_hi) x [k_lo, k_hi) */
    const int32_t r_lo = pad_line < hp ? pad_line : hp;
    const int32_t r_hi = pad_line + in_lines < hp ? pad_line + in_lines : hp;
    const int32_t k_lo = pad_col < wp ? pad_col : wp;
    const int32_t k_hi = pad_col + in_cols < wp ? pad_col + in_cols : wp;
    const int32_t n = k_hi - k_lo;
    int32_t c, i, t;

    memset(plane, (int8_t)-input_offset, (size_t)(hp * wp + EDGEQ_DW3_PLANE_SLACK)); /* zero point: taps add 0 */
    for (c = 0; c < cc; ++c) {
        int32_t bias = bias_data != NULL ? EDGEQ_W32(&bias_data[c]) : 0;
        edgeq_rq_channel r = edgeq_rq_channel_of(EDGEQ_W32(&q->multiplier[c]), EDGEQ_W32(&q->shift[c]));
        int32_t k[9]; /* k[3 * line tap + column tap] */
        int32_t wsum = 0;
        for (t = 0; t < 9; ++t) {
            k[t] = EDGEQ_W8(&filter_data[(transposed ? edgeq_dw3_transposed_tap[t] : t) * cc + c]);
            wsum += k[t];
        }
        bias += input_offset * wsum;
        for (i = r_lo; i < r_hi; ++i) { /* channel c of every input cell the windows read, before any is overwritten */
            const int8_t *src = input_data + (i - pad_line) * src_line + c;
            int8_t *dst = plane + i * wp + k_lo;
            int32_t j = 0;
            for (; j + 4 <= n; j += 4, src += 4 * src_col) {
                const int8_t v0 = src[0], v1 = src[src_col], v2 = src[2 * src_col], v3 = src[3 * src_col];
                dst[j] = v0;
                dst[j + 1] = v1;
                dst[j + 2] = v2;
                dst[j + 3] = v3;
            }
            for (; j < n; ++j, src += src_col) {
                dst[j] = *src;
            }
        }
        edgeq_dw3_plane_channel(plane, wp, lines, cols, s_line, s_col, k, bias, &r, dw->output_offset, full,
                                dw->activation.min, dw->activation.max, output_data + c, out_line, out_col);
    }
}

edgeq_status edgeq_depthwise_conv_3x3_plane_s8(const edgeq_context *ctx, const edgeq_dw_conv_params *dw_conv_params,
                                               const edgeq_per_channel_quant_params *quant_params,
                                               const edgeq_dims *input_dims, const int8_t *input_data,
                                               const edgeq_dims *filter_dims, const int8_t *filter_data,
                                               const edgeq_dims *bias_dims, const int32_t *bias_data,
                                               const edgeq_dims *output_dims, int8_t *output_data)
{
    const int32_t out_h = output_dims->h;
    const int32_t out_w = output_dims->w;
    const int32_t plane_bytes = ((out_h - 1) * dw_conv_params->stride.h + 3) *
                                ((out_w - 1) * dw_conv_params->stride.w + 3) + EDGEQ_DW3_PLANE_SLACK;

    (void)bias_dims;
    if (filter_dims->h != 3 || filter_dims->w != 3 || output_dims->c != input_dims->c ||
        dw_conv_params->ch_mult != 1 || dw_conv_params->dilation.w != 1 || dw_conv_params->dilation.h != 1 ||
        input_dims->n != 1 || output_dims->n != 1 || out_h * out_w > input_dims->h * input_dims->w ||
        ctx->buf == NULL || ctx->size < plane_bytes) {
        return EDGEQ_ARG_ERROR;
    }
    /* (full activation range or not, lines along rows or columns: each a constant after inlining) */
    if (dw_conv_params->activation.min == -128 && dw_conv_params->activation.max == 127) {
        if (out_w < out_h) {
            edgeq_dw3_plane(dw_conv_params, quant_params, input_dims, input_data, filter_data, bias_data,
                            output_dims, output_data, (int8_t *)ctx->buf, 1, 1);
        } else {
            edgeq_dw3_plane(dw_conv_params, quant_params, input_dims, input_data, filter_data, bias_data,
                            output_dims, output_data, (int8_t *)ctx->buf, 1, 0);
        }
    } else if (out_w < out_h) {
        edgeq_dw3_plane(dw_conv_params, quant_params, input_dims, input_data, filter_data, bias_data, output_dims,
                        output_data, (int8_t *)ctx->buf, 0, 1);
    } else {
        edgeq_dw3_plane(dw_conv_params, quant_params, input_dims, input_data, filter_data, bias_data, output_dims,
                        output_data, (int8_t *)ctx->buf, 0, 0);
    }
    return EDGEQ_OK;
}

/* ---- 5x5 to 7x7 filters (K <= EDGEQ_DWK_MAX): the same padded channel plane (edgeq_depthwise_conv_kxk_plane_s8) ---
 * Each filter line of K taps is read as two plane words; with the DSP extension each word's lanes (b0, b2)
 * and (b1, b3) meet the taps packed the same way by two SMLAD (taps past K are 0; the word read past the window is
 * why the plane has EDGEQ_DWK_PLANE_SLACK bytes more). */
#define EDGEQ_DWK_MAX 7

/* The accumulators of `rows` plane lines of out_w outputs (see edgeq_dw3_plane_rows); w: per filter line, nw words
 * of (even taps, odd taps) lanes with the DSP extension, else the kk * kk taps. */
static EDGEQ_DW3_NOINLINE void edgeq_dwk_plane_rows(const int8_t *p, int32_t wp, int32_t rows, int32_t out_w,
                                                    int32_t s_line, int32_t s_col, int32_t kk, const int32_t *w,
                                                    int32_t *acc)
{
    int32_t y, x, ky;
#if !EDGEQ_USE_DSP
    int32_t j;
#endif
    for (y = 0; y < rows; ++y, p += s_line * wp) {
        const int8_t *q = p;
        for (x = 0; x < out_w; ++x, q += s_col) {
            const int8_t *r = q;
            const int32_t *k = w;
            int32_t a = 0;
            for (ky = 0; ky < kk; ++ky, r += wp) {
#if EDGEQ_USE_DSP
                const int32_t v0 = edgeq_load4(r);     /* taps 0..3 */
                const int32_t v1 = edgeq_load4(r + 4); /* taps 4..7 (those past K have weight 0) */
                a = __smlad(__sxtb16(v0), k[0], a);
                a = __smlad(edgeq_sxtb16_ror8(v0), k[1], a);
                a = __smlad(__sxtb16(v1), k[2], a);
                a = __smlad(edgeq_sxtb16_ror8(v1), k[3], a);
                k += 4;
#else
                for (j = 0; j < kk; ++j) {
                    a += r[j] * k[j];
                }
                k += kk;
#endif
            }
            *acc++ = a;
        }
    }
}

EDGEQ_ALWAYS_INLINE void edgeq_dwk_plane(const edgeq_dw_conv_params *dw, const edgeq_per_channel_quant_params *q,
                                         const edgeq_dims *input_dims, const int8_t *input_data, int32_t kk,
                                         const int8_t *filter_data, const int32_t *bias_data,
                                         const edgeq_dims *output_dims, int8_t *output_data, int8_t *plane, int full)
{
    const int32_t cc = input_dims->c;
    const int32_t out_h = output_dims->h;
    const int32_t out_w = output_dims->w;
    const int transposed = out_w < out_h;
    const int32_t lines = transposed ? out_w : out_h;
    const int32_t cols = transposed ? out_h : out_w;
    const int32_t s_line = transposed ? dw->stride.w : dw->stride.h;
    const int32_t s_col = transposed ? dw->stride.h : dw->stride.w;
    const int32_t hp = (lines - 1) * s_line + kk;
    const int32_t wp = (cols - 1) * s_col + kk;
    const int32_t pad_line = transposed ? dw->padding.w : dw->padding.h;
    const int32_t pad_col = transposed ? dw->padding.h : dw->padding.w;
    const int32_t in_lines = transposed ? input_dims->w : input_dims->h;
    const int32_t in_cols = transposed ? input_dims->h : input_dims->w;
    const int32_t row = input_dims->w * cc;
    const int32_t src_line = transposed ? cc : row;
    const int32_t src_col = transposed ? row : cc;
    const int32_t out_line = transposed ? cc : out_w * cc;
    const int32_t out_col = transposed ? out_w * cc : cc;
    const int32_t input_offset = dw->input_offset;
    const int32_t r_lo = pad_line < hp ? pad_line : hp;
    const int32_t r_hi = pad_line + in_lines < hp ? pad_line + in_lines : hp;
    const int32_t k_lo = pad_col < wp ? pad_col : wp;
    const int32_t k_hi = pad_col + in_cols < wp ? pad_col + in_cols : wp;
    const int32_t n = k_hi - k_lo;
    const int32_t per_step = cols <= EDGEQ_DW3_ACC ? EDGEQ_DW3_ACC / cols : 1;
    int32_t acc[EDGEQ_DW3_ACC];
#if EDGEQ_USE_DSP
    int32_t w[EDGEQ_DWK_MAX * 2 * 2]; /* per filter line: two words of (even, odd) tap lanes */
    const int32_t nw = 2;
#else
    int32_t w[EDGEQ_DWK_MAX * EDGEQ_DWK_MAX];
#endif
    int32_t c, i, a, b, y, x;

    memset(plane, (int8_t)-input_offset, (size_t)(hp * wp + EDGEQ_DWK_PLANE_SLACK)); /* zero point: taps add 0 */
    for (c = 0; c < cc; ++c) {
        int32_t bias = bias_data != NULL ? EDGEQ_W32(&bias_data[c]) : 0;
        edgeq_rq_channel r = edgeq_rq_channel_of(EDGEQ_W32(&q->multiplier[c]), EDGEQ_W32(&q->shift[c]));
        int32_t wsum = 0;
        for (a = 0; a < kk; ++a) {     /* filter line (plane line direction) */
            for (b = 0; b < kk; ++b) { /* tap along the line */
                const int32_t t = transposed ? b * kk + a : a * kk + b;
                const int32_t v = EDGEQ_W8(&filter_data[t * cc + c]);
                wsum += v;
#if EDGEQ_USE_DSP
                if (b % 4 == 0) {
                    w[(a * nw + b / 4) * 2] = 0;
                    w[(a * nw + b / 4) * 2 + 1] = 0;
                }
                /* tap b: word b / 4, lane (b % 4) / 2... of the even (b % 2 == 0) or odd word */
                w[(a * nw + b / 4) * 2 + (b % 2)] |= (int32_t)(((uint32_t)v & 0xFFFFu) << (16 * ((b % 4) / 2)));
#else
                w[a * kk + b] = v;
#endif
            }
        }
        bias += input_offset * wsum;
        for (i = r_lo; i < r_hi; ++i) { /* channel c of every input cell the windows read, before any is overwritten */
            const int8_t *src = input_data + (i - pad_line) * src_line + c;
            int8_t *dst = plane + i * wp + k_lo;
            int32_t j;
            for (j = 0; j < n; ++j, src += src_col) {
                dst[j] = *src;
            }
        }
        for (y = 0; y < lines; y += per_step) {
            const int32_t rows = lines - y < per_step ? lines - y : per_step;
            for (x = 0; x < cols; x += EDGEQ_DW3_ACC) {
                const int32_t m = cols - x < EDGEQ_DW3_ACC ? cols - x : EDGEQ_DW3_ACC;
                edgeq_dwk_plane_rows(plane + y * s_line * wp + x * s_col, wp, rows, m, s_line, s_col, kk, w, acc);
                for (i = 0; i < rows; ++i) {
                    edgeq_dw3_store(acc + i * m, m, output_data + c + (y + i) * out_line + x * out_col, out_col,
                                    bias, &r, dw->output_offset, full, dw->activation.min, dw->activation.max);
                }
            }
        }
    }
}

edgeq_status edgeq_depthwise_conv_kxk_plane_s8(const edgeq_context *ctx, const edgeq_dw_conv_params *dw_conv_params,
                                               const edgeq_per_channel_quant_params *quant_params,
                                               const edgeq_dims *input_dims, const int8_t *input_data,
                                               const edgeq_dims *filter_dims, const int8_t *filter_data,
                                               const edgeq_dims *bias_dims, const int32_t *bias_data,
                                               const edgeq_dims *output_dims, int8_t *output_data)
{
    const int32_t kk = filter_dims->h;
    const int32_t out_h = output_dims->h;
    const int32_t out_w = output_dims->w;
    const int32_t plane_bytes = ((out_h - 1) * dw_conv_params->stride.h + kk) *
                                ((out_w - 1) * dw_conv_params->stride.w + kk) + EDGEQ_DWK_PLANE_SLACK;

    (void)bias_dims;
    if (kk < 5 || kk > EDGEQ_DWK_MAX || filter_dims->w != kk || output_dims->c != input_dims->c ||
        dw_conv_params->ch_mult != 1 || dw_conv_params->dilation.w != 1 || dw_conv_params->dilation.h != 1 ||
        input_dims->n != 1 || output_dims->n != 1 || out_h * out_w > input_dims->h * input_dims->w ||
        ctx->buf == NULL || ctx->size < plane_bytes) {
        return EDGEQ_ARG_ERROR;
    }
    if (dw_conv_params->activation.min == -128 && dw_conv_params->activation.max == 127) {
        edgeq_dwk_plane(dw_conv_params, quant_params, input_dims, input_data, kk, filter_data, bias_data, output_dims,
                        output_data, (int8_t *)ctx->buf, 1);
    } else {
        edgeq_dwk_plane(dw_conv_params, quant_params, input_dims, input_data, kk, filter_data, bias_data, output_dims,
                        output_data, (int8_t *)ctx->buf, 0);
    }
    return EDGEQ_OK;
}
