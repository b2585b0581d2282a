/* CONV_2D with a 1x1 filter, no padding, not grouped, any stride (the pointwise layers of MobileNet / DS-CNN): a
 * matrix product of pixels x input channels by input channels x output channels. Same sums as TFLM's
 * ConvPerChannel, in another order, with three things the compiler prepares offline (edgeq/compiler/ops/conv.py):
 *
 * - bias_data[c] = bias[c] + input_offset * sum_k w[c][k]: the input zero point folded into the bias, so the inner
 *   loop multiplies the raw int8 inputs (sum_k (x_k + off) w_k = sum_k x_k w_k + off sum_k w_k: the same int32);
 * - filter_data in read order: output channels in pairs (c, c + 1); for each pair, 4 weights of c then the same 4 of
 *   c + 1 along the input channels, then the C_IN % 4 remaining weights of c, then those of c + 1; an odd last channel
 *   follows in natural order. Same bytes as the OHWI filter, so no flash is added;
 * - the accumulators stay in edgeq_requantize_bounded's domain (conv.py bounded_requantization).
 *
 * Two pixels x two output channels per step: each input word feeds two channels and each weight word two pixels.
 * With the DSP extension the two pixels' inputs are first sign-extended into int16 lanes (the lane core below: 4
 * SXTB16 and 8 SMLAD per 16 multiply-accumulates); without it the plain-C byte core. The output goes straight to
 * memory or, when it overwrites the input through a delay ring, through a small stage in memory order
 * (edgeq_out_writer) - except on the lane core with C_OUT <= C_IN, which may write over its input directly. */
#include "edgeq_nn.h"

/* The working bytes in ctx->buf (edgeq_nn.h; the compiler's twin: edgeq/compiler/ops/conv.py Conv2D.working_bytes):
 * with the DSP extension and C_IN <= EDGEQ_1X1_LANES (deeper inputs run the byte core), the two pixels' lanes (C_IN
 * words) and the lane core's accumulators; without it none. */
int32_t edgeq_convolve_1x1_s8_buffer_size(const edgeq_dims *input_dims, const edgeq_dims *output_dims)
{
#if EDGEQ_USE_DSP
    const int32_t cin = input_dims->c, cout = output_dims->c;
    if (cin <= EDGEQ_1X1_LANES) {
        return 4 * cin + 8 * (cout < EDGEQ_LANES_CHUNK ? cout : EDGEQ_LANES_CHUNK);
    }
#else
    (void)input_dims;
    (void)output_dims;
#endif
    return 0;
}

#if !EDGEQ_USE_DSP
/* Without the DSP extension (Cortex-M0+, RISC-V, x86...), one 32-bit multiply gives the products of an input x with
 * the weights a (channel c) and b (channel c + 1) of one position: x (a + b 2^16) = x a + (x b) 2^16. The sum t of
 * two such products has a low half L = x0 a0 + x1 a1 in [-32512, 32768] and a high half H = x0 b0 + x1 b1 in
 * [-32512, 32512] (|x| <= 128, and the compiler picks this kernel only for weights in [-127, 127]:
 * edgeq/compiler/ops/conv.py window_constants), so t = L + H 2^16 fits in int32 and H = (t + 32512) >> 16 exactly
 * (0 <= L + 32512 < 2^16). Channel c + 1 sums the H; channel c sums t, and its own sum is that minus 2^16 times
 * channel c + 1's (modulo 2^32, exact since the true sum fits in int32). */
#define EDGEQ_1X1_PAIR(w, j) ((int32_t)EDGEQ_W8(&(w)[j]) + (int32_t)((uint32_t)(int32_t)EDGEQ_W8(&(w)[4 + (j)]) << 16))
#define EDGEQ_1X1_LOW_BIAS 32512
#endif

/* Channel c of one or two pixels: bias, requantization (its per-channel part computed once), output zero point,
 * clamp; into *o0 and, when two, *o1. */
EDGEQ_ALWAYS_INLINE void edgeq_1x1_out(int32_t acc0, int32_t acc1, int two, int32_t c, const int32_t *bias,
                                       const edgeq_per_channel_quant_params *q, int32_t out_offset, int full,
                                       int32_t act_min, int32_t act_max, int8_t *o0, int8_t *o1)
{
    const edgeq_rq_channel r = edgeq_rq_channel_of(EDGEQ_W32(&q->multiplier[c]), EDGEQ_W32(&q->shift[c]));
    const int32_t b = EDGEQ_W32(&bias[c]);
    *o0 = edgeq_clamp_s8(edgeq_rq_apply(acc0 + b, &r) + out_offset, full, act_min, act_max);
    if (two) {
        *o1 = edgeq_clamp_s8(edgeq_rq_apply(acc1 + b, &r) + out_offset, full, act_min, act_max);
    }
}

/* edgeq_pointwise_pixels_s8 with `full` = whether [act_min, act_max] is all of int8 (a constant after inlining). */
EDGEQ_ALWAYS_INLINE void edgeq_1x1_pixels(const int8_t *x0, const int8_t *x1, const int8_t *filter, int32_t cin,
                                          int32_t cout, int32_t c_lo, int32_t c_hi, const int32_t *bias,
                                          const edgeq_per_channel_quant_params *q, int32_t out_offset, int full,
                                          int32_t act_min, int32_t act_max, int8_t *o0, int8_t *o1)
{
    const int32_t n4 = cin - cin % 4;
    const int32_t tail = cin - n4;
    const int32_t pairs_end = cout - cout % 2; /* channels below this come in interleaved pairs */
    const int8_t *w = filter + c_lo * cin;
    int32_t c;
    for (c = c_lo; c < c_hi; c += 2) {
        const int8_t *i0 = x0;
        const int8_t *i1 = x1;
        int32_t a00 = 0, a01 = 0, a10 = 0, a11 = 0; /* a<pixel><channel> */
        int32_t k;
        if (c >= pairs_end) { /* the odd last channel, natural order */
            for (k = 0; k < cin; ++k) {
                const int32_t v = EDGEQ_W8(&w[k]);
                a00 += (int32_t)i0[k] * v;
                if (x1 != NULL) {
                    a10 += (int32_t)i1[k] * v;
                }
            }
            edgeq_1x1_out(a00, a10, x1 != NULL, c, bias, q, out_offset, full, act_min, act_max, o0 + (c - c_lo),
                          o1 + (c - c_lo));
            break;
        }
        if (x1 != NULL) {
            for (k = 0; k < n4; k += 4) {
#if EDGEQ_USE_DSP
                const int32_t u0 = edgeq_load4(i0);
                const int32_t u1 = edgeq_load4(i1);
                const int32_t p0 = __sxtb16(u0), q0 = edgeq_sxtb16_ror8(u0); /* x0 x2 | x1 x3 of pixel 0 */
                const int32_t p1 = __sxtb16(u1), q1 = edgeq_sxtb16_ror8(u1);
                int32_t v = edgeq_load4(w);
                int32_t va = __sxtb16(v), vb = edgeq_sxtb16_ror8(v);
                a00 = __smlad(p0, va, a00);
                a00 = __smlad(q0, vb, a00);
                a10 = __smlad(p1, va, a10);
                a10 = __smlad(q1, vb, a10);
                v = edgeq_load4(w + 4);
                va = __sxtb16(v);
                vb = edgeq_sxtb16_ror8(v);
                a01 = __smlad(p0, va, a01);
                a01 = __smlad(q0, vb, a01);
                a11 = __smlad(p1, va, a11);
                a11 = __smlad(q1, vb, a11);
#else
                /* Two multiplies per pixel and weight pair (see EDGEQ_1X1_PAIR): a00 / a10 collect the packed sums
                 * t, a01 / a11 channel c + 1's exact sums; channel c's are unpacked after the loop. */
                const int32_t v0 = EDGEQ_1X1_PAIR(w, 0), v1 = EDGEQ_1X1_PAIR(w, 1);
                const int32_t v2 = EDGEQ_1X1_PAIR(w, 2), v3 = EDGEQ_1X1_PAIR(w, 3);
                int32_t t = (int32_t)i0[0] * v0 + (int32_t)i0[1] * v1;
                a00 = (int32_t)((uint32_t)a00 + (uint32_t)t); /* wraps by design */
                a01 += (t + EDGEQ_1X1_LOW_BIAS) >> 16;
                t = (int32_t)i1[0] * v0 + (int32_t)i1[1] * v1;
                a10 = (int32_t)((uint32_t)a10 + (uint32_t)t); /* wraps by design */
                a11 += (t + EDGEQ_1X1_LOW_BIAS) >> 16;
                t = (int32_t)i0[2] * v2 + (int32_t)i0[3] * v3;
                a00 = (int32_t)((uint32_t)a00 + (uint32_t)t); /* wraps by design */
                a01 += (t + EDGEQ_1X1_LOW_BIAS) >> 16;
                t = (int32_t)i1[2] * v2 + (int32_t)i1[3] * v3;
                a10 = (int32_t)((uint32_t)a10 + (uint32_t)t); /* wraps by design */
                a11 += (t + EDGEQ_1X1_LOW_BIAS) >> 16;
#endif
                i0 += 4;
                i1 += 4;
                w += 8;
            }
#if !EDGEQ_USE_DSP
            a00 = (int32_t)((uint32_t)a00 - ((uint32_t)a01 << 16)); /* channel c: packed sum - (channel c + 1) 2^16 */
            a10 = (int32_t)((uint32_t)a10 - ((uint32_t)a11 << 16));
#endif
            for (k = 0; k < tail; ++k) {
                const int32_t va = EDGEQ_W8(&w[k]), vb = EDGEQ_W8(&w[tail + k]);
                a00 += (int32_t)i0[k] * va;
                a01 += (int32_t)i0[k] * vb;
                a10 += (int32_t)i1[k] * va;
                a11 += (int32_t)i1[k] * vb;
            }
        } else {
            for (k = 0; k < n4; k += 4) {
#if EDGEQ_USE_DSP
                const int32_t u0 = edgeq_load4(i0);
                const int32_t p0 = __sxtb16(u0), q0 = edgeq_sxtb16_ror8(u0);
                int32_t v = edgeq_load4(w);
                a00 = __smlad(p0, __sxtb16(v), a00);
                a00 = __smlad(q0, edgeq_sxtb16_ror8(v), a00);
                v = edgeq_load4(w + 4);
                a01 = __smlad(p0, __sxtb16(v), a01);
                a01 = __smlad(q0, edgeq_sxtb16_ror8(v), a01);
#else
                int32_t t = (int32_t)i0[0] * EDGEQ_1X1_PAIR(w, 0) + (int32_t)i0[1] * EDGEQ_1X1_PAIR(w, 1);
                a00 = (int32_t)((uint32_t)a00 + (uint32_t)t); /* wraps by design */
                a01 += (t + EDGEQ_1X1_LOW_BIAS) >> 16;
                t = (int32_t)i0[2] * EDGEQ_1X1_PAIR(w, 2) + (int32_t)i0[3] * EDGEQ_1X1_PAIR(w, 3);
                a00 = (int32_t)((uint32_t)a00 + (uint32_t)t); /* wraps by design */
                a01 += (t + EDGEQ_1X1_LOW_BIAS) >> 16;
#endif
                i0 += 4;
                w += 8;
            }
#if !EDGEQ_USE_DSP
            a00 = (int32_t)((uint32_t)a00 - ((uint32_t)a01 << 16));
#endif
            for (k = 0; k < tail; ++k) {
                a00 += (int32_t)i0[k] * EDGEQ_W8(&w[k]);
                a01 += (int32_t)i0[k] * EDGEQ_W8(&w[tail + k]);
            }
        }
        w += 2 * tail;
        edgeq_1x1_out(a00, a10, x1 != NULL, c, bias, q, out_offset, full, act_min, act_max, o0 + (c - c_lo),
                      o1 + (c - c_lo));
        edgeq_1x1_out(a01, a11, x1 != NULL, c + 1, bias, q, out_offset, full, act_min, act_max, o0 + (c + 1 - c_lo),
                      o1 + (c + 1 - c_lo));
    }
}

/* Output channels [c_lo, c_hi) (c_lo even) of pixel x0 and, when x1 != NULL, pixel x1, into o0[c - c_lo] and
 * o1[c - c_lo] (declared in edgeq_nn.h: edgeq_convolve_kxk_s8 runs it on its window buffers). */
void edgeq_pointwise_pixels_s8(const int8_t *x0, const int8_t *x1, const int8_t *filter, int32_t cin, int32_t cout,
                               int32_t c_lo, int32_t c_hi, const int32_t *bias,
                               const edgeq_per_channel_quant_params *q, int32_t out_offset, int32_t act_min,
                               int32_t act_max, int8_t *o0, int8_t *o1)
{
    if (x1 != NULL && act_min == -128 && act_max == 127) { /* the common case, inlined for two pixels */
        edgeq_1x1_pixels(x0, x1, filter, cin, cout, c_lo, c_hi, bias, q, out_offset, 1, act_min, act_max, o0, o1);
    } else {
        edgeq_1x1_pixels(x0, x1, filter, cin, cout, c_lo, c_hi, bias, q, out_offset, 0, act_min, act_max, o0, o1);
    }
}

#if EDGEQ_USE_DSP
/* ---- the int16-lane core (DSP extension) ------------------------------------------------------------------------
 * Each input value is multiplied by every output channel's weight, so sign-extending the inputs once per pixel,
 * instead of once per output channel pair, takes 4 of the 8 SXTB16 out of the inner loop. edgeq_lanes_s8 writes two
 * pixels' vectors in the order the loop reads them (EDGEQ_LANES words, see edgeq_nn.h): per 4 input values x0..x3,
 * pixel 0's words (x0 | x2 << 16) and (x1 | x3 << 16), then pixel 1's; after the depth / 4 blocks, the depth % 4
 * remaining values of pixel 0 and then of pixel 1 as int16. Per 4 input channels the loop then loads 4 lane words
 * and 2 weight words, extends the weights with 4 SXTB16 and issues 8 SMLAD: 2 pixels x 2 channels x 4 MACs. */

void edgeq_lanes_s8(const int8_t *x, int32_t n_bytes, int32_t *dst)
{
    edgeq_lanes_expand(x, n_bytes, dst);
}

void edgeq_lanes_fill_s8(int8_t value, int32_t n_bytes, int32_t *dst)
{
    const int32_t v = (int32_t)(((uint32_t)(uint16_t)(int16_t)value << 16) | (uint16_t)(int16_t)value);
    int32_t k;
    for (k = 0; k + 4 <= n_bytes; k += 4, dst += 4) {
        dst[0] = v;
        dst[1] = v;
    }
}

/* edgeq_lanes_pixel_s8, inlined into the 1x1 kernel's pixel loop */
EDGEQ_ALWAYS_INLINE void edgeq_1x1_lanes_pixel(const int8_t *x, int32_t depth, int32_t slot, int32_t *lanes)
{
    const int32_t n4 = depth - depth % 4;
    const int32_t tail = depth - n4;
    int16_t *t = (int16_t *)(void *)(lanes + n4) + slot * tail;
    int32_t k;
    edgeq_lanes_expand(x, n4, lanes + 2 * slot);
    for (k = 0; k < tail; ++k) {
        t[k] = x[n4 + k];
    }
}

void edgeq_lanes_pixel_s8(const int8_t *x, int32_t depth, int32_t slot, int32_t *lanes)
{
    edgeq_1x1_lanes_pixel(x, depth, slot, lanes);
}


#if EDGEQ_LANES_ASM
/* One block of the lane loop: 4 input channels of 2 pixels (lane words p0 q0 | p1 q1 at l) x 2 output channels (the
 * weight words va, vb at w: aligned as one LDRD, or two LDR), 8 SMLAD into a<pixel><channel>. */
#define EDGEQ_LANES_LDRD_W "ldrd %[va], %[vb], [%[w]], #8\n\t"
#define EDGEQ_LANES_LDR_W "ldr %[va], [%[w]], #4\n\tldr %[vb], [%[w]], #4\n\t"
#define EDGEQ_LANES_BLOCK(load_w)                                                                                    \
    "ldrd %[p1], %[q1], [%[l], #8]\n\t"                                                                              \
    "ldrd %[p0], %[q0], [%[l]], #16\n\t" load_w "sxtb16 %[t], %[va]\n\t"                                             \
    "smlad %[a00], %[p0], %[t], %[a00]\n\t"                                                                          \
    "smlad %[a10], %[p1], %[t], %[a10]\n\t"                                                                          \
    "sxtb16 %[va], %[va], ror #8\n\t"                                                                                \
    "smlad %[a00], %[q0], %[va], %[a00]\n\t"                                                                         \
    "smlad %[a10], %[q1], %[va], %[a10]\n\t"                                                                         \
    "sxtb16 %[t], %[vb]\n\t"                                                                                         \
    "smlad %[a01], %[p0], %[t], %[a01]\n\t"                                                                          \
    "smlad %[a11], %[p1], %[t], %[a11]\n\t"                                                                          \
    "sxtb16 %[vb], %[vb], ror #8\n\t"                                                                                \
    "smlad %[a01], %[q0], %[vb], %[a01]\n\t"                                                                         \
    "smlad %[a11], %[q1], %[vb], %[a11]\n\t"
/* n (> 0) blocks: an odd one first, then two per pass */
#define EDGEQ_LANES_LOOP(load_w)                                                                                     \
    "tst %[n], #1\n\t"                                                                                               \
    "beq 2f\n\t" EDGEQ_LANES_BLOCK(load_w) "2:\n\t"                                                                  \
    "lsrs %[n], %[n], #1\n\t"                                                                                        \
    "beq 3f\n"                                                                                                       \
    "1:\n\t" EDGEQ_LANES_BLOCK(load_w) EDGEQ_LANES_BLOCK(load_w) "subs %[n], %[n], #1\n\t"                           \
    "bne 1b\n"                                                                                                       \
    "3:\n\t"
#endif


#if EDGEQ_LANES_ASM
/* 2 n blocks (n > 0), two per pass */
#define EDGEQ_LANES_LOOP2(load_w)                                                                                    \
    "1:\n\t" EDGEQ_LANES_BLOCK(load_w) EDGEQ_LANES_BLOCK(load_w) "subs %[n], %[n], #1\n\t"                           \
    "bne 1b\n\t"

/* The accumulators (bias + sum) of `pairs` channel pairs over n blocks (depth 4 n, no tail, weights 4-aligned at w)
 * into acc[0], acc[1] (channel c: pixels 0, 1) and acc[2], acc[3] (channel c + 1) for each pair;
 * returns the filter position after them. A function of its own so that the loop around the assembly keeps its few
 * values in registers. */
__attribute__((noinline)) static const int8_t *edgeq_lanes_pairs(const int32_t *lanes, int32_t n, const int8_t *w,
                                                                const int32_t *bias, int32_t *acc, int32_t pairs)
{
    const int even = n % 2 == 0;
    if (even && pairs > 0) { /* the pair loop in the assembly too: its state in memory operands, 14 registers busy */
        const int32_t half = n / 2;
        int32_t a00, a01, a10, a11, k, p0, q0, p1, q1, va, vb, t;
        const int32_t *l;
        __asm__ volatile("0:\n\t"
                         "ldr %[t], %[bias]\n\t"
                         "ldrd %[a00], %[a01], [%[t]], #8\n\t"
                         "str %[t], %[bias]\n\t"
                         "mov %[a10], %[a00]\n\t"
                         "mov %[a11], %[a01]\n\t"
                         "ldr %[l], %[lanes]\n\t"
                         "ldr %[n], %[half]\n\t" EDGEQ_LANES_LOOP2(EDGEQ_LANES_LDRD_W)
                         "ldr %[t], %[acc]\n\t"
                         "strd %[a00], %[a10], [%[t]], #8\n\t"
                         "strd %[a01], %[a11], [%[t]], #8\n\t"
                         "str %[t], %[acc]\n\t"
                         "ldr %[t], %[pairs]\n\t"
                         "subs %[t], %[t], #1\n\t"
                         "str %[t], %[pairs]\n\t"
                         "bne 0b"
                         : [a00] "=&r"(a00), [a01] "=&r"(a01), [a10] "=&r"(a10), [a11] "=&r"(a11), [l] "=&r"(l),
                           [w] "+r"(w), [n] "=&r"(k), [p0] "=&r"(p0), [q0] "=&r"(q0), [p1] "=&r"(p1),
                           [q1] "=&r"(q1), [va] "=&r"(va), [vb] "=&r"(vb), [t] "=&r"(t), [bias] "+m"(bias),
                           [acc] "+m"(acc), [pairs] "+m"(pairs)
                         : [lanes] "m"(lanes), [half] "m"(half)
                         : "cc", "memory");
        return w;
    }
    for (; pairs > 0; --pairs, bias += 2, acc += 4) {
        int32_t a00 = bias[0], a10 = a00, a01 = bias[1], a11 = a01;
        const int32_t *l = lanes;
        int32_t k = even ? n / 2 : n, p0, q0, p1, q1, va, vb, t;
        if (even) {
            __asm__ volatile(EDGEQ_LANES_LOOP2(EDGEQ_LANES_LDRD_W)
                             : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11), [l] "+r"(l),
                               [w] "+r"(w), [n] "+r"(k), [p0] "=&r"(p0), [q0] "=&r"(q0), [p1] "=&r"(p1),
                               [q1] "=&r"(q1), [va] "=&r"(va), [vb] "=&r"(vb), [t] "=&r"(t)
                             :
                             : "cc", "memory");
        } else {
            __asm__ volatile(EDGEQ_LANES_LOOP(EDGEQ_LANES_LDRD_W)
                             : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11), [l] "+r"(l),
                               [w] "+r"(w), [n] "+r"(k), [p0] "=&r"(p0), [q0] "=&r"(q0), [p1] "=&r"(p1),
                               [q1] "=&r"(q1), [va] "=&r"(va), [vb] "=&r"(vb), [t] "=&r"(t)
                             :
                             : "cc", "memory");
        }
        acc[0] = a00;
        acc[1] = a10;
        acc[2] = a01;
        acc[3] = a11;
    }
    return w;
}
#endif

/* Accumulators (folded bias + sum) of channels [c0, c1) of the two pixels of `lanes` (depth values each) into
 * acc[2 (c - c0) + pixel], the filter of channel c0 (even) at w; returns the filter position after channel c1.
 * Starting from the bias keeps every partial sum within the bound the compiler checks (|bias| + 128 sum |w| < 2^31). */
EDGEQ_ALWAYS_INLINE const int8_t *edgeq_lanes_gemm(const int32_t *lanes, int32_t depth, const int8_t *w, int32_t cout,
                                                   const int32_t *bias, int32_t c0, int32_t c1, int32_t *acc)
{
    const int32_t n4 = depth - depth % 4;
    const int32_t tail = depth - n4;
    const int32_t *end = lanes + n4;
    const int16_t *t0 = (const int16_t *)(const void *)end;
    const int16_t *t1 = t0 + tail;
    const int32_t pairs_end = cout - cout % 2; /* channels below this come in interleaved pairs */
    int32_t c = c0, k;
#if EDGEQ_LANES_ASM
    if (tail == 0 && n4 > 0 && ((uintptr_t)w & 3u) == 0) { /* the common case: every pair in edgeq_lanes_pairs */
        const int32_t pairs = ((c1 < pairs_end ? c1 : pairs_end) - c0) / 2;
        w = edgeq_lanes_pairs(lanes, n4 / 4, w, bias + c0, acc, pairs);
        c += 2 * pairs;
    }
#endif
    for (; c < c1; c += 2) {
        const int32_t *l = lanes;
        int32_t a00 = bias[c], a10 = a00, a01, a11; /* a<pixel><channel> */
        if (c >= pairs_end) { /* the odd last channel, natural order */
            for (; l < end; l += 4, w += 4) {
                const int32_t v = edgeq_load4(w);
                const int32_t va = __sxtb16(v), vb = edgeq_sxtb16_ror8(v);
                a00 = __smlad(l[0], va, a00);
                a00 = __smlad(l[1], vb, a00);
                a10 = __smlad(l[2], va, a10);
                a10 = __smlad(l[3], vb, a10);
            }
            for (k = 0; k < tail; ++k) {
                a00 += t0[k] * w[k];
                a10 += t1[k] * w[k];
            }
            acc[2 * (c - c0)] = a00;
            acc[2 * (c - c0) + 1] = a10;
            return w + tail;
        }
        a01 = bias[c + 1];
        a11 = a01;
#if EDGEQ_LANES_ASM
        if (n4 > 0) { /* the loop below in 16-17 instructions per block, 2 blocks per pass (GCC's: 21, spilling) */
            int32_t n = n4 / 4, p0, q0, p1, q1, va, vb, t;
            if (((uintptr_t)w & 3u) == 0) { /* the weights of a block as one LDRD */
                __asm__ volatile(EDGEQ_LANES_LOOP(EDGEQ_LANES_LDRD_W)
                                 : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11), [l] "+r"(l),
                                   [w] "+r"(w), [n] "+r"(n), [p0] "=&r"(p0), [q0] "=&r"(q0), [p1] "=&r"(p1),
                                   [q1] "=&r"(q1), [va] "=&r"(va), [vb] "=&r"(vb), [t] "=&r"(t)
                                 :
                                 : "cc", "memory");
            } else {
                __asm__ volatile(EDGEQ_LANES_LOOP(EDGEQ_LANES_LDR_W)
                                 : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11), [l] "+r"(l),
                                   [w] "+r"(w), [n] "+r"(n), [p0] "=&r"(p0), [q0] "=&r"(q0), [p1] "=&r"(p1),
                                   [q1] "=&r"(q1), [va] "=&r"(va), [vb] "=&r"(vb), [t] "=&r"(t)
                                 :
                                 : "cc", "memory");
            }
        }
#else
        for (; l < end; l += 4, w += 8) {
            const int32_t va = edgeq_load4(w), vb = edgeq_load4(w + 4);
            int32_t t = __sxtb16(va);
            a00 = __smlad(l[0], t, a00);
            a10 = __smlad(l[2], t, a10);
            t = edgeq_sxtb16_ror8(va);
            a00 = __smlad(l[1], t, a00);
            a10 = __smlad(l[3], t, a10);
            t = __sxtb16(vb);
            a01 = __smlad(l[0], t, a01);
            a11 = __smlad(l[2], t, a11);
            t = edgeq_sxtb16_ror8(vb);
            a01 = __smlad(l[1], t, a01);
            a11 = __smlad(l[3], t, a11);
        }
#endif
        for (k = 0; k < tail; ++k) {
            const int32_t va = w[k], vb = w[tail + k];
            a00 += t0[k] * va;
            a01 += t0[k] * vb;
            a10 += t1[k] * va;
            a11 += t1[k] * vb;
        }
        w += 2 * tail;
        acc[2 * (c - c0)] = a00;
        acc[2 * (c - c0) + 1] = a10;
        acc[2 * (c - c0) + 2] = a01;
        acc[2 * (c - c0) + 3] = a11;
    }
    return w;
}

/* v + out_offset clamped to [act_min, act_max]; `mode` (a constant after inlining): 1 = the range is all of int8
 * (SSAT), 2 = act_min is -128 (SSAT, then only the upper bound: ReLU / ReLU6 with output zero point -128), 0 = any. */
EDGEQ_ALWAYS_INLINE int32_t edgeq_lanes_clamp(int32_t v, int mode, int32_t out_offset, int32_t act_min,
                                              int32_t act_max)
{
    v += out_offset;
    if (mode == 0) {
        v = v < act_min ? act_min : v;
        return v > act_max ? act_max : v;
    }
    v = __ssat(v, 8);
    return mode == 2 && v > act_max ? act_max : v;
}

/* n channels of both pixels from their accumulators (channel i: pixel 0's at acc[2 i], pixel 1's at acc[2 i + 1],
 * bias included): edgeq_requantize_bounded (edgeq_rq_pair: the per-channel work once for both outputs), + output zero
 * point, clamp (edgeq_lanes_clamp's `mode`, a constant after inlining), into o0[i] and o0[o1_offset + i]. multiplier
 * and shift point at the first channel's. */
EDGEQ_ALWAYS_INLINE void edgeq_lanes_out(const int32_t *acc, int32_t n, const int32_t *multiplier,
                                         const int32_t *shift, int32_t out_offset, int mode, int32_t act_min,
                                         int32_t act_max, int8_t *o0, int32_t o1_offset)
{
    const int32_t *end = acc + 2 * n;
    for (; acc < end; acc += 2, ++multiplier, ++shift, ++o0) {
        int32_t v0, v1;
        edgeq_rq_pair(acc[0], acc[1], *multiplier, *shift, &v0, &v1);
        o0[0] = (int8_t)edgeq_lanes_clamp(v0, mode, out_offset, act_min, act_max);
        o0[o1_offset] = (int8_t)edgeq_lanes_clamp(v1, mode, out_offset, act_min, act_max);
    }
}

/* edgeq_lanes_out with the clamp mode chosen once: a function of its own, so that its loop has the registers to
 * itself (inlined into the channel loop, GCC spills the output offset and bounds). */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((noinline))
#endif
static void edgeq_lanes_requantize(const int32_t *acc, int32_t n, const int32_t *multiplier, const int32_t *shift,
                                   int32_t out_offset, int32_t act_min, int32_t act_max, int8_t *o0,
                                   int32_t o1_offset)
{
    if (act_min == -128 && act_max == 127) {
        edgeq_lanes_out(acc, n, multiplier, shift, out_offset, 1, act_min, act_max, o0, o1_offset);
    } else if (act_min == -128) {
        edgeq_lanes_out(acc, n, multiplier, shift, out_offset, 2, act_min, act_max, o0, o1_offset);
    } else {
        edgeq_lanes_out(acc, n, multiplier, shift, out_offset, 0, act_min, act_max, o0, o1_offset);
    }
}

void edgeq_pointwise_lanes_s8(const int32_t *lanes, int32_t depth, const int8_t *filter, int32_t cout,
                              int32_t c_lo, int32_t c_hi, const int32_t *bias,
                              const edgeq_per_channel_quant_params *q, int32_t out_offset, int32_t act_min,
                              int32_t act_max, int8_t *o0, int8_t *o1, int32_t *acc)
{
    /* acc: EDGEQ_LANES_CHUNK channels summed, then requantized */
    const int8_t *w = filter + c_lo * depth;
    int32_t c0;
    for (c0 = c_lo; c0 < c_hi; c0 += EDGEQ_LANES_CHUNK) {
        const int32_t c1 = c0 + EDGEQ_LANES_CHUNK < c_hi ? c0 + EDGEQ_LANES_CHUNK : c_hi;
        w = edgeq_lanes_gemm(lanes, depth, w, cout, bias, c0, c1, acc);
        edgeq_lanes_requantize(acc, c1 - c0, q->multiplier + c0, q->shift + c0, out_offset, act_min, act_max,
                               o0 + (c0 - c_lo), (int32_t)(o1 - o0));
    }
}
#endif

#if EDGEQ_USE_MVE
#define EDGEQ_1X1_MVE_CHUNK 32 /* output channels whose accumulators are held (on the stack) before they are requantized */

/* n (<= EDGEQ_1X1_MVE_CHUNK) accumulators of channels c .. c + n - 1 of one pixel -> int8 outputs o[0..n): + folded
 * bias, TFLM's requantization 4 lanes at a time (edgeq_requantize_mve, exact for every multiplier and shift), +
 * output zero point, clamp, narrowed to bytes. */
static void edgeq_1x1_mve_out(const int32_t *acc, int32_t n, int32_t c, const int32_t *bias,
                              const edgeq_per_channel_quant_params *q, int32_t out_offset, int32_t act_min,
                              int32_t act_max, int8_t *o)
{
    const int32x4_t lo = vdupq_n_s32(act_min), hi = vdupq_n_s32(act_max);
    int32_t t;
    for (t = 0; t < n; t += 4) {
        const mve_pred16_t pr = vctp32q((uint32_t)(n - t));
        int32x4_t a = vaddq_s32(vldrwq_z_s32(acc + t, pr), vldrwq_z_s32(bias + c + t, pr));
        a = edgeq_requantize_mve(a, vldrwq_z_s32(q->multiplier + c + t, pr), vldrwq_z_s32(q->shift + c + t, pr));
        a = vminq_s32(vmaxq_s32(vaddq_n_s32(a, out_offset), lo), hi);
        vstrbq_p_s32(o + t, a, pr);
    }
}

/* edgeq_1x1_pixels with Helium, for filter rows in natural order (row c at filter + c * cin): per 16 input channels
 * one vector load per pixel and per weight row and one VMLADAVA (sum of 16 products into an int32) per pixel and
 * channel; the last C_IN % 16 by a tail predicate (inactive lanes load 0 and touch no memory). Same int32 sums,
 * held for up to EDGEQ_1X1_MVE_CHUNK channels and then requantized 4 channels at a time (edgeq_1x1_mve_out). */
static void edgeq_1x1_pixels_mve(const int8_t *x0, const int8_t *x1, const int8_t *filter, int32_t cin, int32_t cout,
                                 int32_t c_lo, int32_t c_hi, const int32_t *bias,
                                 const edgeq_per_channel_quant_params *q, int32_t out_offset, int32_t act_min,
                                 int32_t act_max, int8_t *o0, int8_t *o1)
{
    int32_t acc0[EDGEQ_1X1_MVE_CHUNK + 1], acc1[EDGEQ_1X1_MVE_CHUNK + 1]; /* + 1: a lone last channel's twin */
    int32_t c0, c;
    (void)cout;
    for (c0 = c_lo; c0 < c_hi; c0 += EDGEQ_1X1_MVE_CHUNK) {
        const int32_t c1 = c0 + EDGEQ_1X1_MVE_CHUNK < c_hi ? c0 + EDGEQ_1X1_MVE_CHUNK : c_hi;
        for (c = c0; c < c1; c += 2) {
            const int8_t *wa = filter + c * cin;
            const int8_t *wb = c + 1 < c1 ? wa + cin : wa; /* a lone last channel is computed twice, kept once */
            int32_t a00 = 0, a01 = 0, a10 = 0, a11 = 0;
            int32_t k;
            if (x1 != NULL) {
                for (k = 0; k < cin; k += 16) {
                    const mve_pred16_t pr = vctp8q((uint32_t)(cin - k));
                    const int8x16_t va = vldrbq_z_s8(wa + k, pr);
                    const int8x16_t vb = vldrbq_z_s8(wb + k, pr);
                    const int8x16_t u0 = vldrbq_z_s8(x0 + k, pr);
                    const int8x16_t u1 = vldrbq_z_s8(x1 + k, pr);
                    a00 = vmladavaq_s8(a00, u0, va);
                    a01 = vmladavaq_s8(a01, u0, vb);
                    a10 = vmladavaq_s8(a10, u1, va);
                    a11 = vmladavaq_s8(a11, u1, vb);
                }
            } else {
                for (k = 0; k < cin; k += 16) {
                    const mve_pred16_t pr = vctp8q((uint32_t)(cin - k));
                    const int8x16_t u0 = vldrbq_z_s8(x0 + k, pr);
                    a00 = vmladavaq_s8(a00, u0, vldrbq_z_s8(wa + k, pr));
                    a01 = vmladavaq_s8(a01, u0, vldrbq_z_s8(wb + k, pr));
                }
            }
            acc0[c - c0] = a00;
            acc0[c + 1 - c0] = a01;
            acc1[c - c0] = a10;
            acc1[c + 1 - c0] = a11;
        }
        edgeq_1x1_mve_out(acc0, c1 - c0, c0, bias, q, out_offset, act_min, act_max, o0 + (c0 - c_lo));
        if (x1 != NULL) {
            edgeq_1x1_mve_out(acc1, c1 - c0, c0, bias, q, out_offset, act_min, act_max, o1 + (c0 - c_lo));
        }
    }
}

/* edgeq_pointwise_pixels_s8 with Helium and the filter in natural order (declared in edgeq_nn.h: the core
 * edgeq_convolve_kxk_mve_s8 runs on its window buffers). */
void edgeq_pointwise_pixels_mve_s8(const int8_t *x0, const int8_t *x1, const int8_t *filter, int32_t cin,
                                   int32_t cout, int32_t c_lo, int32_t c_hi, const int32_t *bias,
                                   const edgeq_per_channel_quant_params *q, int32_t out_offset, int32_t act_min,
                                   int32_t act_max, int8_t *o0, int8_t *o1)
{
    edgeq_1x1_pixels_mve(x0, x1, filter, cin, cout, c_lo, c_hi, bias, q, out_offset, act_min, act_max, o0, o1);
}
#endif

typedef void (*edgeq_1x1_pixels_fn)(const int8_t *x0, const int8_t *x1, const int8_t *filter, int32_t cin,
                                    int32_t cout, int32_t c_lo, int32_t c_hi, const int32_t *bias,
                                    const edgeq_per_channel_quant_params *q, int32_t out_offset, int32_t act_min,
                                    int32_t act_max, int8_t *o0, int8_t *o1);

/* The pixel loop both entry points share: two pixels at a time (one near the end, or one through the delay ring
 * past EDGEQ_CONV_STAGE channels), their output channels by `pixels`. */
EDGEQ_ALWAYS_INLINE edgeq_status edgeq_1x1_run(const edgeq_context *ctx, const edgeq_conv_params *conv_params,
                                               const edgeq_per_channel_quant_params *quant_params,
                                               const edgeq_dims *input_dims, const int8_t *input_data,
                                               const edgeq_dims *filter_dims, const int8_t *filter_data,
                                               const int32_t *bias_data, const edgeq_dims *output_dims,
                                               int8_t *output_data, edgeq_1x1_pixels_fn pixels, int use_lanes)
{
    const int32_t cin = input_dims->c;
    const int32_t cout = output_dims->c;
    const int32_t out_w = output_dims->w;
    const int32_t out_hw = output_dims->h * output_dims->w;
    const int32_t n_px = output_dims->n * out_hw;
    const int32_t sw = conv_params->stride.w;
    const int32_t sh = conv_params->stride.h;
    const int32_t in_w = input_dims->w;
    const int32_t in_h = input_dims->h;
    const int32_t out_offset = conv_params->output_offset;
    const int32_t act_min = conv_params->activation.min;
    const int32_t act_max = conv_params->activation.max;
    const int contiguous = sw == 1 && sh == 1 && in_w == out_w && in_h == output_dims->h; /* pixel p at p * cin */
    /* the working buffers in ctx->buf (edgeq_nn.h): lanes and accumulators, then (in place) stage and delay ring */
    const int32_t work = use_lanes ? edgeq_convolve_1x1_s8_buffer_size(input_dims, output_dims) : 0;
    const int in_place = (const void *)output_data == (const void *)input_data; /* else no ring */
    int8_t *stage = NULL;
    edgeq_context ring = {NULL, 0};
    int direct; /* outputs stored straight to output_data (not through the delay ring) */
#if EDGEQ_USE_DSP
    int32_t *lanes = NULL, *acc = NULL;
    int lanes_ok;
#endif
    edgeq_out_writer writer;
    int32_t p;

    if (filter_dims->h != 1 || filter_dims->w != 1 || filter_dims->c != cin || filter_dims->n != cout ||
        bias_data == NULL || (work > 0 && (ctx == NULL || ctx->size < work))) {
        return EDGEQ_ARG_ERROR;
    }
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
#if EDGEQ_USE_DSP
    lanes_ok = work > 0;
    if (lanes_ok) {
        lanes = (int32_t *)ctx->buf;
        acc = lanes + cin;
    }
    /* In place with C_OUT <= C_IN, the lane path may write straight over its input: both pixels are read whole into
     * the lanes first, and every later pixel reads input bytes at or past (p + 2) C_IN >= (p + 2) C_OUT. */
    direct = writer.size == 0 || (lanes_ok && in_place && cout <= cin);
#else
    (void)use_lanes;
    direct = writer.size == 0;
#endif
    for (p = 0; p < n_px;) {
        const int two = p + 1 < n_px && (direct || cout <= EDGEQ_CONV_STAGE);
        const int8_t *px[2];
        int32_t t;
        for (t = 0; t < 1 + two; ++t) {
            const int32_t pp = p + t;
            if (contiguous) {
                px[t] = input_data + pp * cin;
            } else {
                const int32_t b = pp / out_hw, r = pp % out_hw;
                px[t] = input_data + ((b * in_h + (r / out_w) * sh) * in_w + (r % out_w) * sw) * cin;
            }
        }
#if EDGEQ_USE_DSP
        if (lanes_ok && (two || in_place) && (direct || cout <= EDGEQ_CONV_STAGE)) {
            /* both pixels' inputs sign-extended once (a lone pixel in both slots, its outputs written twice) */
            int8_t *o = direct ? output_data + p * cout : stage;
            edgeq_1x1_lanes_pixel(px[0], cin, 0, lanes);
            edgeq_1x1_lanes_pixel(px[two], cin, 1, lanes);
            edgeq_pointwise_lanes_s8(lanes, cin, filter_data, cout, 0, cout, bias_data, quant_params, out_offset,
                                     act_min, act_max, o, o + two * cout, acc);
            if (!direct) {
                edgeq_ow_put_n(&writer, stage, (1 + two) * cout);
            }
            p += 1 + two;
            continue;
        }
#endif
        if (writer.size == 0) {
            pixels(px[0], two ? px[1] : NULL, filter_data, cin, cout, 0, cout, bias_data, quant_params,
                             out_offset, act_min, act_max, output_data + p * cout,
                             output_data + (p + two) * cout);
        } else if (cout <= EDGEQ_CONV_STAGE) {
            pixels(px[0], two ? px[1] : NULL, filter_data, cin, cout, 0, cout, bias_data, quant_params,
                             out_offset, act_min, act_max, stage, stage + cout);
            edgeq_ow_put_n(&writer, stage, (1 + two) * cout);
        } else { /* through the ring with many channels: one pixel, EDGEQ_CONV_STAGE channels at a time */
            int32_t c;
            for (c = 0; c < cout; c += EDGEQ_CONV_STAGE) {
                const int32_t c_hi = c + EDGEQ_CONV_STAGE < cout ? c + EDGEQ_CONV_STAGE : cout;
                pixels(px[0], NULL, filter_data, cin, cout, c, c_hi, bias_data, quant_params, out_offset,
                                 act_min, act_max, stage, stage);
                edgeq_ow_put_n(&writer, stage, c_hi - c);
            }
        }
        p += 1 + two;
    }
    edgeq_ow_flush(&writer);
    return EDGEQ_OK;
}

edgeq_status edgeq_convolve_1x1_s8(const edgeq_context *ctx, const edgeq_conv_params *conv_params,
                                   const edgeq_per_channel_quant_params *quant_params, const edgeq_dims *input_dims,
                                   const int8_t *input_data, const edgeq_dims *filter_dims, const int8_t *filter_data,
                                   const edgeq_dims *bias_dims, const int32_t *bias_data,
                                   const edgeq_dims *output_dims, int8_t *output_data)
{
    (void)bias_dims;
    return edgeq_1x1_run(ctx, conv_params, quant_params, input_dims, input_data, filter_dims, filter_data, bias_data,
                         output_dims, output_data, edgeq_pointwise_pixels_s8, 1);
}

#if EDGEQ_USE_MVE
edgeq_status edgeq_convolve_1x1_mve_s8(const edgeq_context *ctx, const edgeq_conv_params *conv_params,
                                       const edgeq_per_channel_quant_params *quant_params,
                                       const edgeq_dims *input_dims, const int8_t *input_data,
                                       const edgeq_dims *filter_dims, const int8_t *filter_data,
                                       const edgeq_dims *bias_dims, const int32_t *bias_data,
                                       const edgeq_dims *output_dims, int8_t *output_data)
{
    (void)bias_dims;
    return edgeq_1x1_run(ctx, conv_params, quant_params, input_dims, input_data, filter_dims, filter_data, bias_data,
                         output_dims, output_data, edgeq_1x1_pixels_mve, 0);
}
#endif
