/* FULLY_CONNECTED, int8 (TFLM reference_integer_ops::FullyConnected / FullyConnectedPerChannel). */
#include "edgeq_nn.h"

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
                edgeq_dot4_s8(in, filter_data + out_c * accum_depth, accum_depth, accum_depth, input_offset, acc);
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

void edgeq_batch_matmul_s8(const int8_t *lhs, const int8_t *rhs, const edgeq_bmm_params *p, int8_t *output)
{
    int32_t b0, b1, b2, i, j, k;
    for (b0 = 0; b0 < p->batch[0]; ++b0) {
        for (b1 = 0; b1 < p->batch[1]; ++b1) {
            for (b2 = 0; b2 < p->batch[2]; ++b2) {
                const int8_t *a = lhs + b0 * p->lhs_batch_strides[0] + b1 * p->lhs_batch_strides[1] +
                                  b2 * p->lhs_batch_strides[2];
                const int8_t *b = rhs + b0 * p->rhs_batch_strides[0] + b1 * p->rhs_batch_strides[1] +
                                  b2 * p->rhs_batch_strides[2];
                for (i = 0; i < p->rows; ++i) {
                    for (j = 0; j < p->cols; ++j) {
                        int32_t acc = 0;
                        int32_t v;
                        for (k = 0; k < p->depth; ++k) {
                            acc += ((int32_t)a[i * p->lhs_row_stride + k * p->lhs_depth_stride] + p->lhs_offset) *
                                   ((int32_t)b[k * p->rhs_depth_stride + j * p->rhs_col_stride] + p->rhs_offset);
                        }
                        v = edgeq_requantize(acc, p->mult, p->shift) + p->output_offset;
                        v = v < -128 ? -128 : v;
                        v = v > 127 ? 127 : v;
                        *output++ = (int8_t)v;
                    }
                }
            }
        }
    }
}
