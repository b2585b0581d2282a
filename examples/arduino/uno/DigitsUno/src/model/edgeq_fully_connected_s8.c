/* FULLY_CONNECTED, int8 (TFLM reference_integer_ops::FullyConnected / FullyConnectedPerChannel). */
#include "edgeq_nn.h"

/* acc[j] += sum over d < n of (in[d] + input_offset) * w[j * n + d] for the four output channels j = 0..3 (four
 * consecutive weight rows): each input byte is loaded once for four multiply-accumulates; with the DSP extension four
 * bytes at a time through __smlad (two 16x16 multiply-accumulates per instruction). */
static void edgeq_fc_dot4(const int8_t *in, const int8_t *w, int32_t n, int32_t input_offset, int32_t acc[4])
{
    const int8_t *w0 = w;
    const int8_t *w1 = w0 + n;
    const int8_t *w2 = w1 + n;
    const int8_t *w3 = w2 + n;
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    int32_t d = 0;
#if EDGEQ_USE_DSP
    /* the offset in both 16-bit lanes: __sxtab16(off2, x) sign-extends bytes 0 and 2 of x and adds it to each */
    const int32_t off2 = (int32_t)(((uint32_t)input_offset << 16) | ((uint32_t)input_offset & 0xFFFFu));
    for (; d + 4 <= n; d += 4) {
        const int32_t x = edgeq_load4(in + d);
        const int32_t x02 = __sxtab16(off2, x);             /* lanes: x0 + off, x2 + off */
        const int32_t x13 = __sxtab16(off2, edgeq_ror8(x)); /* lanes: x1 + off, x3 + off */
        int32_t v;
        v = edgeq_load4(w0 + d);
        a0 = __smlad(x02, __sxtb16(v), a0);
        a0 = __smlad(x13, __sxtb16(edgeq_ror8(v)), a0);
        v = edgeq_load4(w1 + d);
        a1 = __smlad(x02, __sxtb16(v), a1);
        a1 = __smlad(x13, __sxtb16(edgeq_ror8(v)), a1);
        v = edgeq_load4(w2 + d);
        a2 = __smlad(x02, __sxtb16(v), a2);
        a2 = __smlad(x13, __sxtb16(edgeq_ror8(v)), a2);
        v = edgeq_load4(w3 + d);
        a3 = __smlad(x02, __sxtb16(v), a3);
        a3 = __smlad(x13, __sxtb16(edgeq_ror8(v)), a3);
    }
#endif
    for (; d < n; ++d) {
        const int32_t x = (int32_t)in[d] + input_offset;
        a0 += x * EDGEQ_W8(&w0[d]);
        a1 += x * EDGEQ_W8(&w1[d]);
        a2 += x * EDGEQ_W8(&w2[d]);
        a3 += x * EDGEQ_W8(&w3[d]);
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

static edgeq_status edgeq_fc_s8(const edgeq_fc_params *fc_params, const int32_t *mults, const int32_t *shifts,
                                int32_t per_channel, int32_t mult0, int32_t shift0, const edgeq_dims *input_dims,
                                const int8_t *input_data, const edgeq_dims *filter_dims, const int8_t *filter_data,
                                const int32_t *bias_data, const edgeq_dims *output_dims, int8_t *output_data)
{
    const int32_t batches = input_dims->n;
    const int32_t accum_depth = filter_dims->n;
    const int32_t output_depth = output_dims->c;
    const int32_t input_offset = fc_params->input_offset;
    const int32_t filter_offset = fc_params->filter_offset;
    const int32_t output_offset = fc_params->output_offset;
    const int32_t act_min = fc_params->activation.min;
    const int32_t act_max = fc_params->activation.max;
    int32_t b;
    int32_t out_c;
    int32_t d;
    int32_t t;

    for (b = 0; b < batches; ++b) {
        const int8_t *in = input_data + b * accum_depth;
        for (out_c = 0; out_c < output_depth;) {
            /* four output channels at a time (symmetric weights), else one */
            const int32_t n_ch = (output_depth - out_c >= 4 && filter_offset == 0) ? 4 : 1;
            int32_t acc[4] = {0, 0, 0, 0};
            if (n_ch == 4) {
                edgeq_fc_dot4(in, filter_data + out_c * accum_depth, accum_depth, input_offset, acc);
            } else {
                const int8_t *w = filter_data + out_c * accum_depth;
                for (d = 0; d < accum_depth; ++d) {
                    acc[0] += ((int32_t)EDGEQ_W8(&w[d]) + filter_offset) * ((int32_t)in[d] + input_offset);
                }
            }
            for (t = 0; t < n_ch; ++t) {
                const int32_t oc = out_c + t;
                int32_t a = acc[t];
                if (bias_data != NULL) {
                    a += EDGEQ_W32(&bias_data[oc]);
                }
                output_data[b * output_depth + oc] =
                    per_channel ? edgeq_acc_to_s8(a, EDGEQ_W32(&mults[oc]), EDGEQ_W32(&shifts[oc]), output_offset,
                                                  act_min, act_max)
                                : edgeq_acc_to_s8(a, mult0, shift0, output_offset, act_min, act_max);
            }
            out_c += n_ch;
        }
    }
    return EDGEQ_OK;
}

edgeq_status edgeq_fully_connected_s8(const edgeq_context *ctx, const edgeq_fc_params *fc_params,
                                      const edgeq_per_tensor_quant_params *quant_params,
                                      const edgeq_dims *input_dims, const int8_t *input_data,
                                      const edgeq_dims *filter_dims, const int8_t *filter_data,
                                      const edgeq_dims *bias_dims, const int32_t *bias_data,
                                      const edgeq_dims *output_dims, int8_t *output_data)
{
    (void)ctx;
    (void)bias_dims;
    return edgeq_fc_s8(fc_params, NULL, NULL, 0, quant_params->multiplier, quant_params->shift, input_dims,
                       input_data, filter_dims, filter_data, bias_data, output_dims, output_data);
}

edgeq_status edgeq_fully_connected_per_channel_s8(const edgeq_context *ctx, const edgeq_fc_params *fc_params,
                                                  const edgeq_per_channel_quant_params *quant_params,
                                                  const edgeq_dims *input_dims, const int8_t *input_data,
                                                  const edgeq_dims *filter_dims, const int8_t *filter_data,
                                                  const edgeq_dims *bias_dims, const int32_t *bias_data,
                                                  const edgeq_dims *output_dims, int8_t *output_data)
{
    (void)ctx;
    (void)bias_dims;
    return edgeq_fc_s8(fc_params, quant_params->multiplier, quant_params->shift, 1, 0, 0, input_dims, input_data,
                       filter_dims, filter_data, bias_data, output_dims, output_data);
}
