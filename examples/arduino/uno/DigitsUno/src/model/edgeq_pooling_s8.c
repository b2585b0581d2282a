/* AVERAGE_POOL_2D and MAX_POOL_2D, int8 (TFLM reference_integer_ops::AveragePool / MaxPool).
 * Windows are clipped to the image; the average divides by the number of taps inside it, rounding half away
 * from zero. filter_dims->h/w hold the window size. */
#include "edgeq_nn.h"

edgeq_status edgeq_avgpool_s8(const edgeq_context *ctx, const edgeq_pool_params *pool_params,
                              const edgeq_dims *input_dims, const int8_t *input_data,
                              const edgeq_dims *filter_dims, const edgeq_dims *output_dims, int8_t *output_data)
{
    const int32_t batches = input_dims->n;
    const int32_t input_h = input_dims->h;
    const int32_t input_w = input_dims->w;
    const int32_t depth = input_dims->c;
    const int32_t output_h = output_dims->h;
    const int32_t output_w = output_dims->w;
    int32_t b, out_y, out_x, ch, fy, fx;
    edgeq_out_writer writer;

    edgeq_ow_init(&writer, output_data, ctx); /* output written in memory order, maybe in place (see edgeq_nn.h) */
    for (b = 0; b < batches; ++b) {
        for (out_y = 0; out_y < output_h; ++out_y) {
            const int32_t in_y_origin = out_y * pool_params->stride.h - pool_params->padding.h;
            const int32_t fy_start = in_y_origin < 0 ? -in_y_origin : 0;
            const int32_t fy_end =
                filter_dims->h < input_h - in_y_origin ? filter_dims->h : input_h - in_y_origin;
            for (out_x = 0; out_x < output_w; ++out_x) {
                const int32_t in_x_origin = out_x * pool_params->stride.w - pool_params->padding.w;
                const int32_t fx_start = in_x_origin < 0 ? -in_x_origin : 0;
                const int32_t fx_end =
                    filter_dims->w < input_w - in_x_origin ? filter_dims->w : input_w - in_x_origin;
                for (ch = 0; ch < depth; ++ch) {
                    int32_t acc = 0;
                    int32_t count = 0;
                    for (fy = fy_start; fy < fy_end; ++fy) {
                        for (fx = fx_start; fx < fx_end; ++fx) {
                            const int32_t in_y = in_y_origin + fy;
                            const int32_t in_x = in_x_origin + fx;
                            acc += input_data[((b * input_h + in_y) * input_w + in_x) * depth + ch];
                            ++count;
                        }
                    }
                    if (count == 0) {
                        edgeq_ow_flush(&writer);
                        return EDGEQ_ARG_ERROR;
                    }
                    acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                    acc = acc < pool_params->activation.min ? pool_params->activation.min : acc;
                    acc = acc > pool_params->activation.max ? pool_params->activation.max : acc;
                    edgeq_ow_put(&writer, (int8_t)acc);
                }
            }
        }
    }
    edgeq_ow_flush(&writer);
    return EDGEQ_OK;
}

edgeq_status edgeq_max_pool_s8(const edgeq_context *ctx, const edgeq_pool_params *pool_params,
                               const edgeq_dims *input_dims, const int8_t *input_data,
                               const edgeq_dims *filter_dims, const edgeq_dims *output_dims, int8_t *output_data)
{
    const int32_t batches = input_dims->n;
    const int32_t input_h = input_dims->h;
    const int32_t input_w = input_dims->w;
    const int32_t depth = input_dims->c;
    const int32_t output_h = output_dims->h;
    const int32_t output_w = output_dims->w;
    int32_t b, out_y, out_x, ch, fy, fx;
    edgeq_out_writer writer;

    edgeq_ow_init(&writer, output_data, ctx); /* output written in memory order, maybe in place (see edgeq_nn.h) */
    for (b = 0; b < batches; ++b) {
        for (out_y = 0; out_y < output_h; ++out_y) {
            const int32_t in_y_origin = out_y * pool_params->stride.h - pool_params->padding.h;
            const int32_t fy_start = in_y_origin < 0 ? -in_y_origin : 0;
            const int32_t fy_end =
                filter_dims->h < input_h - in_y_origin ? filter_dims->h : input_h - in_y_origin;
            for (out_x = 0; out_x < output_w; ++out_x) {
                const int32_t in_x_origin = out_x * pool_params->stride.w - pool_params->padding.w;
                const int32_t fx_start = in_x_origin < 0 ? -in_x_origin : 0;
                const int32_t fx_end =
                    filter_dims->w < input_w - in_x_origin ? filter_dims->w : input_w - in_x_origin;
                for (ch = 0; ch < depth; ++ch) {
                    int32_t max = -128;
                    for (fy = fy_start; fy < fy_end; ++fy) {
                        for (fx = fx_start; fx < fx_end; ++fx) {
                            const int32_t in_y = in_y_origin + fy;
                            const int32_t in_x = in_x_origin + fx;
                            const int32_t v = input_data[((b * input_h + in_y) * input_w + in_x) * depth + ch];
                            max = v > max ? v : max;
                        }
                    }
                    max = max < pool_params->activation.min ? pool_params->activation.min : max;
                    max = max > pool_params->activation.max ? pool_params->activation.max : max;
                    edgeq_ow_put(&writer, (int8_t)max);
                }
            }
        }
    }
    edgeq_ow_flush(&writer);
    return EDGEQ_OK;
}
