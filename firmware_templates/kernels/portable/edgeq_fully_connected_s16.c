/* FULLY_CONNECTED, int16x8: int16 input/output, int8 weights [C_OUT, ACCUM], int64 (or int32) bias, per-tensor or
 * per-channel requantization - TFLM's reference_integer_ops::FullyConnected / FullyConnectedPerChannel:
 * acc = sum w * (x + input_offset) + bias, requantized (edgeq_s16_requantize_acc: int64 and edgeq_requantize_s64, or
 * int32 and edgeq_requantize with an int32 bias), + output_offset, clamped. */
#include "edgeq_nn.h"

static edgeq_status edgeq_fc_s16(const edgeq_fc_params *fc_params, const int32_t *mult, const int32_t *shift,
                                 int32_t per_channel, const edgeq_dims *input_dims, const int16_t *input_data,
                                 const edgeq_dims *filter_dims, const int8_t *filter_data,
                                 const edgeq_bias_data *bias_data, const edgeq_dims *output_dims,
                                 int16_t *output_data)
{
    const int32_t accum = filter_dims->n;
    const int32_t out_depth = output_dims->c;
    const int32_t input_offset = fc_params->input_offset;
    const int32_t output_offset = fc_params->output_offset;
    const int32_t act_min = fc_params->activation.min, act_max = fc_params->activation.max;
    int32_t b, oc, k;

    for (b = 0; b < input_dims->n; ++b) {
        const int16_t *in = input_data + b * accum;
        for (oc = 0; oc < out_depth; ++oc) {
            const int8_t *w = filter_data + oc * accum;
            const int32_t c = per_channel ? oc : 0;
            int64_t acc = 0;
            int32_t v;
            for (k = 0; k < accum; ++k) {
                acc += (int32_t)EDGEQ_W8(&w[k]) * ((int32_t)in[k] + input_offset);
            }
            v = edgeq_s16_requantize_acc(acc, bias_data, oc, per_channel ? EDGEQ_W32(&mult[c]) : mult[0],
                                         per_channel ? EDGEQ_W32(&shift[c]) : shift[0]) + output_offset;
            v = v < act_min ? act_min : v;
            v = v > act_max ? act_max : v;
            *output_data++ = (int16_t)v;
        }
    }
    return EDGEQ_OK;
}

edgeq_status edgeq_fully_connected_s16(const edgeq_context *ctx, const edgeq_fc_params *fc_params,
                                       const edgeq_per_tensor_quant_params *quant_params,
                                       const edgeq_dims *input_dims, const int16_t *input_data,
                                       const edgeq_dims *filter_dims, const int8_t *filter_data,
                                       const edgeq_dims *bias_dims, const edgeq_bias_data *bias_data,
                                       const edgeq_dims *output_dims, int16_t *output_data)
{
    (void)ctx;
    (void)bias_dims;
    return edgeq_fc_s16(fc_params, &quant_params->multiplier, &quant_params->shift, 0, input_dims, input_data,
                        filter_dims, filter_data, bias_data, output_dims, output_data);
}

edgeq_status edgeq_fully_connected_per_channel_s16(const edgeq_context *ctx, const edgeq_fc_params *fc_params,
                                                   const edgeq_per_channel_quant_params *quant_params,
                                                   const edgeq_dims *input_dims, const int16_t *input_data,
                                                   const edgeq_dims *filter_dims, const int8_t *filter_data,
                                                   const edgeq_dims *bias_dims, const edgeq_bias_data *bias_data,
                                                   const edgeq_dims *output_dims, int16_t *output_data)
{
    (void)ctx;
    (void)bias_dims;
    return edgeq_fc_s16(fc_params, quant_params->multiplier, quant_params->shift, 1, input_dims, input_data,
                        filter_dims, filter_data, bias_data, output_dims, output_data);
}

/* BATCH_MATMUL int16: out[b][i][j] = MBQM64(sum_k lhs[b][i][k] * rhs[b][k][j]), clamped to int16 (TFLM's
 * reference_ops::BatchMatMul<int16_t, int64_t>; zero points 0). Each product fits int32 (|p| <= 2^30), the sum is
 * int64 and exact in any order; the compiler bounds depth so that |sum| < 2^47 (edgeq_requantize_s64's range). */
void edgeq_batch_matmul_s16(const int16_t *lhs, const int16_t *rhs, const edgeq_bmm_params *p, int16_t *output)
{
    int32_t b0, b1, b2, i, j, k;
    for (b0 = 0; b0 < p->batch[0]; ++b0) {
        for (b1 = 0; b1 < p->batch[1]; ++b1) {
            for (b2 = 0; b2 < p->batch[2]; ++b2) {
                const int16_t *a = lhs + b0 * p->lhs_batch_strides[0] + b1 * p->lhs_batch_strides[1] +
                                   b2 * p->lhs_batch_strides[2];
                const int16_t *b = rhs + b0 * p->rhs_batch_strides[0] + b1 * p->rhs_batch_strides[1] +
                                   b2 * p->rhs_batch_strides[2];
                for (i = 0; i < p->rows; ++i) {
                    for (j = 0; j < p->cols; ++j) {
                        int64_t acc = 0;
                        int32_t v;
                        for (k = 0; k < p->depth; ++k) {
                            acc += (int32_t)a[i * p->lhs_row_stride + k * p->lhs_depth_stride] *
                                   (int32_t)b[k * p->rhs_depth_stride + j * p->rhs_col_stride];
                        }
                        v = edgeq_requantize_s64(acc, p->mult, p->shift);
                        v = v < -32768 ? -32768 : v;
                        v = v > 32767 ? 32767 : v;
                        *output++ = (int16_t)v;
                    }
                }
            }
        }
    }
}
