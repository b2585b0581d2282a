/* CONV_2D on a shallow input (1 to 3 channels: the first layer of an image or spectrogram network, e.g. VWW's
 * 96x96x3 -> 48x48x8 3x3 stride 2, KWS's 49x10x1 -> 25x5x64 10x4 stride 2; also a 1 -> N depthwise layer, which is
 * the same convolution), not grouped, no dilation, any stride and padding. Same sums as TFLM's ConvPerChannel, in
 * another order.
 *
 * With a few input channels the window of an output pixel is short (KH x KW x C_IN = 9 to a few dozen bytes) and
 * every output channel reads all of it, so each window is sign-extended once into int16 pairs (SXTB16: one
 * instruction per two values) and kept in a small buffer; the output channels then run over it two at a time, with
 * two pixels at a time (a 2 x 2 register tile: per pair of taps one LDRD of the two pixels' inputs, one LDRD of the
 * two channels' weights, four SMLAD). The compiler prepares everything else offline
 * (edgeq/compiler/ops/conv.py shallow_constants):
 *
 * - filter_data, one stream the channel loop reads in order: for each pair of output channels (c, c + 1; an odd
 *   count is padded with an all-zero channel) the two biases with the input zero point folded in (bias + input_offset
 *   x sum of the channel's weights, so the loops multiply raw inputs), then for each int16 pair k of the window (in
 *   the order edgeq_shallow_expand makes them, up to an even count) the weights of c then those of c + 1, then
 *   EDGEQ_SHALLOW_RQ words per channel for edgeq_requantize_bounded (EDGEQ_SHALLOW_MULT...). A channel whose
 *   requantization shifts left has that shift folded into its weights and bias (x 2^shift: the same int32 sum as
 *   TFLM's acc << shift, the compiler checks it fits), so only right shifts remain.
 *
 * Taps outside the input read the input zero point: in TFLM's sum they add nothing, and with the folded bias
 * zero_point x w exactly cancels the folded input_offset x w. The output goes straight to memory or, when it
 * overwrites the input through a delay ring, through a small stage in memory order (edgeq_out_writer): both
 * pixels' windows are read before any of their outputs is put, as the ring allows. */
#include "edgeq_nn.h"

#include <string.h>

/* the requantization words of one output channel in filter_data: edgeq_rq_channel's fields (edgeq_nn.h) without the
 * left shift (folded into the weights): the SMMLAR operand 2m - 2^32, 2^(right_shift - 1) or 0, right_shift, -1 when
 * right_shift > 0 else 0 */
enum { EDGEQ_SHALLOW_MULT, EDGEQ_SHALLOW_HALF, EDGEQ_SHALLOW_RSHIFT, EDGEQ_SHALLOW_NEG };

#if !EDGEQ_USE_DSP
/* Without the DSP extension (host builds of code compiled for a DSP core): the same arithmetic in plain C. */
static inline int32_t edgeq_shallow_smlad(int32_t x, int32_t w, int32_t acc)
{
    const int32_t lo = (int32_t)(int16_t)(x & 0xFFFF) * (int32_t)(int16_t)(w & 0xFFFF);
    const int32_t hi = (x >> 16) * (w >> 16);
    return (int32_t)((uint32_t)acc + (uint32_t)lo + (uint32_t)hi); /* wraps like SMLAD (never does here) */
}
#define __smlad(x, w, acc) edgeq_shallow_smlad((x), (w), (acc))
#endif

/* complete unrolling of the loops whose trip counts are constants in a specialised instance */
#if defined(__GNUC__) && !defined(__clang__)
#define EDGEQ_SHALLOW_UNROLL _Pragma("GCC unroll 64")
#else
#define EDGEQ_SHALLOW_UNROLL
#endif

/* Two int16 lanes: lo in bits 0-15, hi in 16-31 (what SXTB16 makes of bytes 0 and 2). */
EDGEQ_ALWAYS_INLINE int32_t edgeq_shallow_pack(int32_t lo, int32_t hi)
{
    return (int32_t)(((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16));
}

/* The number of int16 pairs of a window of kh rows of len bytes (see edgeq_shallow_expand). */
EDGEQ_ALWAYS_INLINE int32_t edgeq_shallow_pairs(int32_t kh, int32_t len)
{
    return (kh * (len >> 2) * 2 + (kh * (len & 3) + 1) / 2 + 1) & ~1;
}

/* The window whose rows start at src (row r at src + r * row_stride; kh rows of len = KW x C_IN bytes) as int16
 * pairs, every second word of dst (dst[0], dst[2], ...: the other pixel of the tile fills the words between):
 * each row's whole words first, bytes 0 and 2 of a word then bytes 1 and 3; then the rows' last len % 4 bytes, all
 * rows' in order, paired (a lone last byte with 0); then, for an odd number of pairs, a zero pair.
 * shallow_constants orders the weights the same way. */
EDGEQ_ALWAYS_INLINE void edgeq_shallow_row(const int8_t *row, int32_t words, int32_t tail, int32_t *dst, int32_t *rest)
{
    int32_t j;
    for (j = 0; j < words; ++j, dst += 4) {
#if EDGEQ_USE_DSP
        const int32_t u = edgeq_load4(row + 4 * j);
        dst[0] = __sxtb16(u);
        dst[2] = edgeq_sxtb16_ror8(u);
#else
        const int8_t *b = row + 4 * j;
        dst[0] = edgeq_shallow_pack(b[0], b[2]);
        dst[2] = edgeq_shallow_pack(b[1], b[3]);
#endif
    }
    for (j = 0; j < tail; ++j) {
        rest[j] = row[4 * words + j];
    }
}

EDGEQ_ALWAYS_INLINE void edgeq_shallow_expand(const int8_t *src, int32_t row_stride, int32_t kh, int32_t len,
                                              int unroll, int32_t *dst)
{
    const int32_t words = len >> 2, tail = len & 3;
    const int32_t n = kh * tail;
    int32_t rest[3 * EDGEQ_SHALLOW_MAX_ROWS + 1];
    int32_t r, j;
    if (unroll) { /* every count a constant: straight-line code */
        EDGEQ_SHALLOW_UNROLL
        for (r = 0; r < kh; ++r) {
            edgeq_shallow_row(src + r * row_stride, words, tail, dst + 4 * words * r, rest + tail * r);
        }
    } else {
        for (r = 0; r < kh; ++r) {
            edgeq_shallow_row(src + r * row_stride, words, tail, dst + 4 * words * r, rest + tail * r);
        }
    }
    dst += 4 * words * kh;
    for (j = 0; j + 1 < n; j += 2, dst += 2) {
        dst[0] = edgeq_shallow_pack(rest[j], rest[j + 1]);
    }
    if (n & 1) {
        dst[0] = edgeq_shallow_pack(rest[n - 1], 0);
        dst += 2;
    }
    if (((kh * words * 2 + (n + 1) / 2) & 1) != 0) {
        dst[0] = 0;
    }
}

/* The window of the output pixel whose top-left tap is input (y0, x0) of batch b into every second word of dst:
 * straight from the input when it lies inside, else through a byte copy with the zero point at taps outside. */
EDGEQ_ALWAYS_INLINE void edgeq_shallow_window(const int8_t *input, const edgeq_dims *in, int32_t b, int32_t y0,
                                              int32_t x0, int32_t kh, int32_t kw, int32_t len, int8_t zero_point,
                                              int unroll, int32_t *dst)
{
    const int32_t cin = in->c;
    int8_t win[EDGEQ_SHALLOW_MAX_WINDOW];
    int32_t kx_lo, kx_hi, ky;
    if (y0 >= 0 && x0 >= 0 && y0 + kh <= in->h && x0 + kw <= in->w) {
        edgeq_shallow_expand(input + ((b * in->h + y0) * in->w + x0) * cin, in->w * cin, kh, len, unroll, dst);
        return;
    }
    edgeq_tap_range(x0, 1, in->w, kw, &kx_lo, &kx_hi);
    for (ky = 0; ky < kh; ++ky) {
        const int32_t y = y0 + ky;
        int8_t *row = win + ky * len;
        memset(row, zero_point, (size_t)len);
        if (y >= 0 && y < in->h && kx_lo < kx_hi) {
            memcpy(row + kx_lo * cin, input + ((b * in->h + y) * in->w + x0 + kx_lo) * cin,
                   (size_t)((kx_hi - kx_lo) * cin));
        }
    }
    edgeq_shallow_expand(win, len, kh, len, unroll, dst);
}

/* The two accumulators a0, a1 of one channel (two pixels) requantized: edgeq_rq_apply (left shift 0) with the
 * channel's requantization words q (see the top of this file, loaded once for both), + output zero point. */
EDGEQ_ALWAYS_INLINE void edgeq_shallow_rq(int32_t a0, int32_t a1, const int32_t *q, int32_t out_offset, int32_t *v0,
                                          int32_t *v1)
{
    const int32_t mult = EDGEQ_W32(&q[EDGEQ_SHALLOW_MULT]), half = EDGEQ_W32(&q[EDGEQ_SHALLOW_HALF]);
    const int32_t right = EDGEQ_W32(&q[EDGEQ_SHALLOW_RSHIFT]), neg = EDGEQ_W32(&q[EDGEQ_SHALLOW_NEG]);
    int32_t h0, h1;
#if EDGEQ_USE_DSP && (defined(__GNUC__) || defined(__clang__))
    __asm__("smmlar %0, %1, %2, %3" : "=r"(h0) : "r"(a0), "r"(mult), "r"(a0));
    __asm__("smmlar %0, %1, %2, %3" : "=r"(h1) : "r"(a1), "r"(mult), "r"(a1));
#else
    const int64_t m = (int64_t)((uint32_t)mult >> 1); /* 2m mod 2^32 back to m (m < 2^31) */
    h0 = (int32_t)(((int64_t)a0 * m + ((int64_t)1 << 30)) >> 31);
    h1 = (int32_t)(((int64_t)a1 * m + ((int64_t)1 << 30)) >> 31);
#endif
    *v0 = ((h0 + half + ((h0 >> 31) & neg)) >> right) + out_offset;
    *v1 = ((h1 + half + ((h1 >> 31) & neg)) >> right) + out_offset;
}

/* One pair of taps of the 2 x 2 tile, advancing *x and *w by two words: (*x)[0], (*x)[1] the two pixels' int16
 * pairs, (*w)[0], (*w)[1] the two channels'. With the DSP extension one LDRD each and four SMLAD, in one asm
 * statement (left to itself GCC splits the loads and spills the tile's registers in the unrolled loop). */
EDGEQ_ALWAYS_INLINE void edgeq_shallow_mac(const int32_t **x, const int32_t **w, int32_t *a00, int32_t *a01,
                                           int32_t *a10, int32_t *a11)
{
#if EDGEQ_USE_DSP && EDGEQ_LANES_ASM /* GCC / clang with optimisation and without EDGEQ_NO_ASM (edgeq_nn.h) */
    typedef struct { int32_t v[2]; } edgeq_two_words;
    int32_t x0, x1, w0, w1;
    __asm__("ldrd %[x0], %[x1], [%[xp]], #8\n\t"
            "ldrd %[w0], %[w1], [%[wp]], #8\n\t"
            "smlad %[a00], %[x0], %[w0], %[a00]\n\t"
            "smlad %[a01], %[x0], %[w1], %[a01]\n\t"
            "smlad %[a10], %[x1], %[w0], %[a10]\n\t"
            "smlad %[a11], %[x1], %[w1], %[a11]"
            : [x0] "=&r"(x0), [x1] "=&r"(x1), [w0] "=&r"(w0), [w1] "=&r"(w1), [xp] "+r"(*x), [wp] "+r"(*w),
              [a00] "+r"(*a00), [a01] "+r"(*a01), [a10] "+r"(*a10), [a11] "+r"(*a11)
            : "m"(*(const edgeq_two_words *)*x), "m"(*(const edgeq_two_words *)*w));
#else
    const int32_t x0 = (*x)[0], x1 = (*x)[1], w0 = EDGEQ_W32(&(*w)[0]), w1 = EDGEQ_W32(&(*w)[1]);
    *a00 = __smlad(x0, w0, *a00);
    *a01 = __smlad(x0, w1, *a01);
    *a10 = __smlad(x1, w0, *a10);
    *a11 = __smlad(x1, w1, *a11);
    *x += 2;
    *w += 2;
#endif
}

/* All output channels of the two pixels whose expanded windows are interleaved in x (x[2k]: pixel 0's pair k,
 * x[2k + 1]: pixel 1's), n_pairs (even) pairs each, into o0[0..cout) and o1[0..cout), cout even (the compiler pads
 * an odd count with a zero channel; the kernel then writes through its stage); `unroll`: n_pairs is a constant (a
 * specialised instance). */
EDGEQ_ALWAYS_INLINE void edgeq_shallow_pixels(const int32_t *x, int32_t n_pairs, const int32_t *filter, int32_t cout,
                                              int32_t out_offset, int full, int32_t act_min, int32_t act_max,
                                              int unroll, int8_t *o0, int8_t *o1)
{
    const int32_t *w = filter;
    int8_t *const end = o0 + cout;
    while (o0 < end) {
        const int32_t *xp = x;
        int32_t a00 = EDGEQ_W32(&w[0]), a01 = EDGEQ_W32(&w[1]); /* a<pixel><channel>: the folded biases */
        int32_t a10 = a00, a11 = a01;
        int32_t k;
        w += 2;
        if (unroll) {
            EDGEQ_SHALLOW_UNROLL
            for (k = 0; k < n_pairs; ++k) {
                edgeq_shallow_mac(&xp, &w, &a00, &a01, &a10, &a11);
            }
        } else {
            for (k = 0; k < n_pairs; k += 2) {
                edgeq_shallow_mac(&xp, &w, &a00, &a01, &a10, &a11);
                edgeq_shallow_mac(&xp, &w, &a00, &a01, &a10, &a11);
            }
        }
        edgeq_shallow_rq(a00, a10, w, out_offset, &a00, &a10);
        edgeq_shallow_rq(a01, a11, w + EDGEQ_SHALLOW_RQ, out_offset, &a01, &a11);
        o0[0] = edgeq_clamp_s8(a00, full, act_min, act_max);
        o1[0] = edgeq_clamp_s8(a10, full, act_min, act_max);
        o0[1] = edgeq_clamp_s8(a01, full, act_min, act_max);
        o1[1] = edgeq_clamp_s8(a11, full, act_min, act_max);
        w += 2 * EDGEQ_SHALLOW_RQ;
        o0 += 2;
        o1 += 2;
    }
}

/* The kernel for windows of KH rows of LEN = KW x C_IN bytes: constants in a specialised instance (everything
 * unrolled), or 0 and 0 for the general one (read from filter_dims and input_dims). */
EDGEQ_ALWAYS_INLINE edgeq_status edgeq_shallow_run(const edgeq_context *ctx, const edgeq_conv_params *conv_params,
                                                   const edgeq_dims *input_dims, const int8_t *input_data,
                                                   const edgeq_dims *filter_dims, const int32_t *filter_data,
                                                   const edgeq_dims *output_dims, int8_t *output_data, int32_t KH,
                                                   int32_t LEN)
{
    const int32_t cin = input_dims->c;
    const int32_t kw = filter_dims->w;
    const int32_t kh = KH ? KH : filter_dims->h;
    const int32_t len = LEN ? LEN : kw * cin;
    const int32_t n_pairs = edgeq_shallow_pairs(kh, len); /* even: see edgeq_shallow_expand */
    const int32_t cout = output_dims->c;
    const int32_t cpad = cout + (cout & 1); /* the channels of filter_data: an odd count padded */
    const int32_t out_w = output_dims->w;
    const int32_t out_h = output_dims->h;
    const int32_t n_px = output_dims->n * out_h * out_w;
    const int32_t sw = conv_params->stride.w;
    const int32_t sh = conv_params->stride.h;
    const int32_t out_offset = conv_params->output_offset;
    const int32_t act_min = conv_params->activation.min;
    const int32_t act_max = conv_params->activation.max;
    const int full = act_min == -128 && act_max == 127;
    const int8_t zero_point = (int8_t)(-conv_params->input_offset); /* what a tap outside the input reads */
    int32_t x[2 * EDGEQ_SHALLOW_MAX_PAIRS] EDGEQ_ALIGNED(8);
    int8_t stage[2 * EDGEQ_SHALLOW_MAX_COUT + 2];
    edgeq_out_writer writer;
    int32_t p, b = 0, ox = 0, oy = 0;
    int32_t y0 = -conv_params->padding.h, x0 = -conv_params->padding.w; /* the next pixel's top-left tap */

    if (filter_dims->c != cin || filter_dims->n != cout || cin > 3 || filter_dims->h != kh || kw * cin != len ||
        kh > EDGEQ_SHALLOW_MAX_ROWS || kh * len > EDGEQ_SHALLOW_MAX_WINDOW || n_pairs > EDGEQ_SHALLOW_MAX_PAIRS ||
        cout > EDGEQ_SHALLOW_MAX_COUT || conv_params->dilation.w != 1 || conv_params->dilation.h != 1) {
        return EDGEQ_ARG_ERROR;
    }
    edgeq_ow_init(&writer, output_data, ctx); /* output written in memory order, maybe in place (see edgeq_nn.h) */
    for (p = 0; p < n_px; p += 2) {
        const int two = p + 1 < n_px;
        /* straight into the output, else (in place, an odd channel count, a lone last pixel) through the stage */
        const int direct = writer.size == 0 && cpad == cout;
        int8_t *o0 = direct ? output_data + p * cout : stage;
        int8_t *o1 = direct && two ? o0 + cout : stage + cpad;
        int32_t t;
        for (t = 0; t < 1 + two; ++t) {
            edgeq_shallow_window(input_data, input_dims, b, y0, x0, kh, kw, len, zero_point, KH != 0, x + t);
            x0 += sw;
            if (++ox == out_w) {
                ox = 0;
                x0 = -conv_params->padding.w;
                y0 += sh;
                if (++oy == out_h) {
                    oy = 0;
                    y0 = -conv_params->padding.h;
                    ++b;
                }
            }
        }
        if (!two) { /* a last lone pixel: its window twice, one output kept */
            for (t = 0; t < n_pairs; ++t) {
                x[2 * t + 1] = x[2 * t];
            }
        }
        edgeq_shallow_pixels(x, n_pairs, filter_data, cpad, out_offset, full, act_min, act_max, KH != 0, o0, o1);
        if (writer.size != 0) {
            edgeq_ow_put_n(&writer, stage, cout);
            if (two) {
                edgeq_ow_put_n(&writer, stage + cpad, cout);
            }
        } else if (!direct) {
            memcpy(output_data + p * cout, stage, (size_t)cout);
            if (two) {
                memcpy(output_data + (p + 1) * cout, stage + cpad, (size_t)cout);
            }
        }
    }
    edgeq_ow_flush(&writer);
    return EDGEQ_OK;
}

/* The general instance (any window within the limits of edgeq_nn.h) and the specialised ones, named
 * edgeq_convolve_shallow_<KH>x<KW>x<C_IN>_s8 (the compiler calls one when the layer's window has that shape:
 * edgeq/compiler/ops/conv.py SHALLOW_SHAPES; the linker drops the ones a model does not call). */
edgeq_status edgeq_convolve_shallow_s8(const edgeq_context *ctx, const edgeq_conv_params *conv_params,
                                       const edgeq_dims *input_dims, const int8_t *input_data,
                                       const edgeq_dims *filter_dims, const int32_t *filter_data,
                                       const edgeq_dims *output_dims, int8_t *output_data)
{
    return edgeq_shallow_run(ctx, conv_params, input_dims, input_data, filter_dims, filter_data, output_dims,
                             output_data, 0, 0);
}

#define EDGEQ_SHALLOW_INSTANCE(KH, KW, CIN)                                                                        \
    edgeq_status edgeq_convolve_shallow_##KH##x##KW##x##CIN##_s8(                                                  \
        const edgeq_context *ctx, const edgeq_conv_params *conv_params, const edgeq_dims *input_dims,              \
        const int8_t *input_data, const edgeq_dims *filter_dims, const int32_t *filter_data,                       \
        const edgeq_dims *output_dims, int8_t *output_data)                                                    \
    {                                                                                                              \
        return edgeq_shallow_run(ctx, conv_params, input_dims, input_data, filter_dims, filter_data, output_dims,  \
                                 output_data, KH, (KW) * (CIN));                                                   \
    }
EDGEQ_SHALLOW_INSTANCES
