/* DEPTHWISE_CONV_2D with Helium (Cortex-M55): depth multiplier 1, any filter size, stride, padding and dilation.
 * Same sums as TFLM's DepthwiseConvPerChannel in another order, and the same output order as the general
 * edgeq_depthwise_conv_wrapper_s8 (pixel by pixel, channels ascending, through edgeq_out_writer), so it may
 * overwrite its input through the delay ring the compiler sizes for that kernel (it reads a pixel's window for 16
 * channels before it puts their outputs: never later than the general kernel).
 *
 * Channels across lanes: 16 neighbouring channels of one tap are 16 consecutive input bytes and 16 consecutive weight
 * bytes (filter 1HWO). Each group of 8 is loaded sign-extended into the 8 int16 lanes of a vector (VLDRB.S16), the
 * input offset added (|x + offset| <= 255 fits), and the even and odd lanes multiplied into int32 (VMULLB / VMULLT)
 * and added to 4 int32 accumulators per 16 channels (even and odd channels apart); the last C % 16 channels by tail
 * predicates (inactive lanes load 0 and touch no memory). Requantization is TFLM's, 4 channels at a time
 * (edgeq_requantize_mve, exact). Defined only when built with MVE (the compiler calls it for --target
 * cortex-m55). */
#include "edgeq_nn.h"

#if EDGEQ_USE_MVE

/* The predicate of the int16 lanes of channels base .. base + 7 among n (n - base may be <= 0: no lane). */
static inline mve_pred16_t edgeq_dw_mve_pred(int32_t n, int32_t base)
{
    return vctp16q((uint32_t)(n > base ? n - base : 0));
}

/* n (<= 16) accumulators of channels c .. c + n - 1 -> int8 outputs: + bias, TFLM's requantization 4 lanes at a time
 * (edgeq_requantize_mve), + output zero point, clamp, narrowed to bytes. */
static inline void edgeq_dw_mve_out(const int32_t *acc, int32_t n, int32_t c, const int32_t *bias,
                                    const edgeq_per_channel_quant_params *q, int32_t output_offset, int32_t act_min,
                                    int32_t act_max, int8_t *o)
{
    int32_t t;
    for (t = 0; t < n; t += 4) {
        const mve_pred16_t pr = vctp32q((uint32_t)(n - t));
        int32x4_t a = vld1q_s32(acc + t);
        if (bias != NULL) {
            a = vaddq_s32(a, vldrwq_z_s32(bias + c + t, pr));
        }
        a = edgeq_requantize_mve(a, vldrwq_z_s32(q->multiplier + c + t, pr), vldrwq_z_s32(q->shift + c + t, pr));
        a = vaddq_n_s32(a, output_offset);
        a = vmaxq_s32(a, vdupq_n_s32(act_min));
        a = vminq_s32(a, vdupq_n_s32(act_max));
        vstrbq_p_s32(o + t, a, pr);
    }
}

/* edgeq_ow_put_n with 16-byte vector copies: the same bytes to the same places in the same order of positions. */
static void edgeq_ow_put_n_mve(edgeq_out_writer *w, const int8_t *src, int32_t n)
{
    int32_t k;
    if (w->size == 0) {
        int8_t *out = w->out + w->pos;
        for (k = 0; k < n; k += 16) {
            const mve_pred16_t pr = vctp8q((uint32_t)(n - k));
            vstrbq_p_s8(out + k, vldrbq_z_s8(src + k, pr), pr);
        }
        w->pos += n;
        return;
    }
    while (n > 0 && w->pos < w->size) { /* the ring is still filling: nothing leaves it yet */
        edgeq_ow_put(w, *src++);
        --n;
    }
    while (n > 0) { /* full ring: the oldest bytes go out as the new ones come in, up to the ring's end */
        const int32_t chunk = w->size - w->slot < n ? w->size - w->slot : n;
        int8_t *out = w->out + (w->pos - w->size);
        int8_t *ring = w->ring + w->slot;
        for (k = 0; k < chunk; k += 16) {
            const mve_pred16_t pr = vctp8q((uint32_t)(chunk - k));
            vstrbq_p_s8(out + k, vldrbq_z_s8(ring + k, pr), pr);
            vstrbq_p_s8(ring + k, vldrbq_z_s8(src + k, pr), pr);
        }
        src += chunk;
        n -= chunk;
        w->pos += chunk;
        w->slot = w->slot + chunk == w->size ? 0 : w->slot + chunk;
    }
}

edgeq_status edgeq_depthwise_conv_mve_s8(const edgeq_context *ctx, const edgeq_dw_conv_params *dw_conv_params,
                                         const edgeq_per_channel_quant_params *quant_params,
                                         const edgeq_dims *input_dims, const int8_t *input_data,
                                         const edgeq_dims *filter_dims, const int8_t *filter_data,
                                         const edgeq_dims *bias_dims, const int32_t *bias_data,
                                         const edgeq_dims *output_dims, int8_t *output_data)
{
    const int32_t input_h = input_dims->h;
    const int32_t input_w = input_dims->w;
    const int32_t cc = input_dims->c;
    const int32_t filter_h = filter_dims->h;
    const int32_t filter_w = filter_dims->w;
    const int32_t output_h = output_dims->h;
    const int32_t output_w = output_dims->w;
    const int32_t stride_w = dw_conv_params->stride.w;
    const int32_t stride_h = dw_conv_params->stride.h;
    const int32_t dilation_w = dw_conv_params->dilation.w;
    const int32_t dilation_h = dw_conv_params->dilation.h;
    const int32_t pad_w = dw_conv_params->padding.w;
    const int32_t pad_h = dw_conv_params->padding.h;
    const int32_t output_offset = dw_conv_params->output_offset;
    const int32_t act_min = dw_conv_params->activation.min;
    const int32_t act_max = dw_conv_params->activation.max;
    const int16_t input_offset = (int16_t)dw_conv_params->input_offset; /* in [-127, 128] */
    const int32_t in_row_stride = dilation_h * input_w * cc; /* from one valid filter row to the next */
    const int32_t in_px_stride = dilation_w * cc;
    const int32_t w_row_stride = filter_w * cc;
    int32_t b, out_y, out_x, c, r, k;
    edgeq_out_writer writer;

    (void)bias_dims;
    if (output_dims->c != cc || dw_conv_params->ch_mult != 1) {
        return EDGEQ_ARG_ERROR;
    }
    edgeq_ow_init(&writer, output_data, ctx); /* output written in memory order, maybe in place (see edgeq_nn.h) */
    for (b = 0; b < input_dims->n; ++b) {
        for (out_y = 0; out_y < output_h; ++out_y) {
            const int32_t in_y_origin = out_y * stride_h - pad_h;
            int32_t ky_lo, ky_hi;
            edgeq_tap_range(in_y_origin, dilation_h, input_h, filter_h, &ky_lo, &ky_hi);
            for (out_x = 0; out_x < output_w; ++out_x) {
                const int32_t in_x_origin = out_x * stride_w - pad_w;
                int32_t kx_lo, kx_hi, rows, cols;
                const int8_t *in_first;
                const int8_t *w_first;
                edgeq_tap_range(in_x_origin, dilation_w, input_w, filter_w, &kx_lo, &kx_hi);
                rows = ky_hi - ky_lo;
                cols = kx_hi - kx_lo;
                if (rows > 0 && cols > 0) { /* the first valid tap, in the input and in the filter */
                    in_first = input_data + ((b * input_h + in_y_origin + dilation_h * ky_lo) * input_w +
                                             in_x_origin + dilation_w * kx_lo) * cc;
                    w_first = filter_data + (ky_lo * filter_w + kx_lo) * cc;
                } else { /* no valid tap (padding larger than the filter): every sum is 0 */
                    rows = 0;
                    in_first = input_data;
                    w_first = filter_data;
                }
                for (c = 0; c < cc; c += 16) {
                    const int32_t n = cc - c < 16 ? cc - c : 16;
                    const mve_pred16_t p0 = edgeq_dw_mve_pred(n, 0);
                    const mve_pred16_t p1 = edgeq_dw_mve_pred(n, 8);
                    /* even / odd channels of c .. c + 7 and of c + 8 .. c + 15 */
                    int32x4_t e0 = vdupq_n_s32(0), o0 = e0, e1 = e0, o1 = e0;
                    int32_t acc[16];
                    int8_t o[16];
                    for (r = 0; r < rows; ++r) {
                        const int8_t *ip = in_first + r * in_row_stride + c;
                        const int8_t *wp = w_first + r * w_row_stride + c;
                        if (n == 16) { /* a whole group: no predicate (one half after the other: fewer registers) */
                            for (k = 0; k < cols; ++k) {
                                const int16x8_t x0 = vaddq_n_s16(vldrbq_s16(ip), input_offset);
                                const int16x8_t w0 = vldrbq_s16(wp);
                                e0 = vaddq_s32(e0, vmullbq_int_s16(x0, w0));
                                o0 = vaddq_s32(o0, vmulltq_int_s16(x0, w0));
                                {
                                    const int16x8_t x1 = vaddq_n_s16(vldrbq_s16(ip + 8), input_offset);
                                    const int16x8_t w1 = vldrbq_s16(wp + 8);
                                    e1 = vaddq_s32(e1, vmullbq_int_s16(x1, w1));
                                    o1 = vaddq_s32(o1, vmulltq_int_s16(x1, w1));
                                }
                                ip += in_px_stride;
                                wp += cc;
                            }
                            continue;
                        }
                        for (k = 0; k < cols; ++k) {
                            const int16x8_t x0 = vaddq_n_s16(vldrbq_z_s16(ip, p0), input_offset);
                            const int16x8_t x1 = vaddq_n_s16(vldrbq_z_s16(ip + 8, p1), input_offset);
                            const int16x8_t w0 = vldrbq_z_s16(wp, p0);
                            const int16x8_t w1 = vldrbq_z_s16(wp + 8, p1);
                            e0 = vaddq_s32(e0, vmullbq_int_s16(x0, w0));
                            o0 = vaddq_s32(o0, vmulltq_int_s16(x0, w0));
                            e1 = vaddq_s32(e1, vmullbq_int_s16(x1, w1));
                            o1 = vaddq_s32(o1, vmulltq_int_s16(x1, w1));
                            ip += in_px_stride;
                            wp += cc;
                        }
                    }
                    /* inactive lanes hold (0 + offset) x 0 = 0 and are not used; VST2 interleaves the even and
                     * odd channels back into channel order */
                    vst2q_s32(acc, ((int32x4x2_t){{e0, o0}}));
                    vst2q_s32(acc + 8, ((int32x4x2_t){{e1, o1}}));
                    edgeq_dw_mve_out(acc, n, c, bias_data, quant_params, output_offset, act_min, act_max, o);
                    edgeq_ow_put_n_mve(&writer, o, n);
                }
            }
        }
    }
    edgeq_ow_flush(&writer);
    return EDGEQ_OK;
}

#endif
