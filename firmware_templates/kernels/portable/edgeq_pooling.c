/* AVERAGE_POOL_2D and MAX_POOL_2D, int8 and int16 (TFLM reference_integer_ops::AveragePool / MaxPool, templates over
 * the element type): windows clipped to the image; the average is an int32 sum divided by the number of taps inside
 * the window, rounding half away from zero; the fused activation clamp. filter_dims->h/w hold the window size.
 * int8 writes through edgeq_out_writer, so its output may overwrite its input (see edgeq_nn.h); int16 never runs in
 * place (ctx is unused there; it keeps arm_avgpool_s16's signature). */
#include "edgeq_nn.h"

/* Both pools on both element types (is_max and elem_size are constants in each entry point below). The window of
 * output pixel (out_y, out_x) starts at input (y0, x0) and is clipped to the image: taps [fy_start, fy_end) x
 * [fx_start, fx_end). */
EDGEQ_ALWAYS_INLINE edgeq_status edgeq_pool(const edgeq_context *ctx, const edgeq_pool_params *pool_params,
                                            const edgeq_dims *input_dims, const void *input_data,
                                            const edgeq_dims *filter_dims, const edgeq_dims *output_dims,
                                            void *output_data, int32_t is_max, int32_t elem_size)
{
    const int32_t input_h = input_dims->h, input_w = input_dims->w, depth = input_dims->c;
    int32_t b, out_y, out_x, ch, fy, fx;
    uint8_t *out = (uint8_t *)output_data; /* int16 */
    edgeq_out_writer writer;               /* int8 */

    if (elem_size == 1) {
        edgeq_ow_init(&writer, (int8_t *)output_data, ctx);
    }
    for (b = 0; b < input_dims->n; ++b) {
        for (out_y = 0; out_y < output_dims->h; ++out_y) {
            const int32_t y0 = out_y * pool_params->stride.h - pool_params->padding.h;
            const int32_t fy_start = y0 < 0 ? -y0 : 0;
            const int32_t fy_end = filter_dims->h < input_h - y0 ? filter_dims->h : input_h - y0;
            for (out_x = 0; out_x < output_dims->w; ++out_x) {
                const int32_t x0 = out_x * pool_params->stride.w - pool_params->padding.w;
                const int32_t fx_start = x0 < 0 ? -x0 : 0;
                const int32_t fx_end = filter_dims->w < input_w - x0 ? filter_dims->w : input_w - x0;
                const int32_t count = (fy_end - fy_start) * (fx_end - fx_start);
                if (!is_max && (fy_end <= fy_start || fx_end <= fx_start)) {
                    if (elem_size == 1) {
                        edgeq_ow_flush(&writer);
                    }
                    return EDGEQ_ARG_ERROR; /* an average over no input: TFLM fails too */
                }
                for (ch = 0; ch < depth; ++ch) {
                    int32_t acc = is_max ? edgeq_elem_min(elem_size) : 0;
                    for (fy = fy_start; fy < fy_end; ++fy) {
                        const int32_t at = ((b * input_h + y0 + fy) * input_w + x0 + fx_start) * depth + ch;
                        const uint8_t *tap = (const uint8_t *)input_data + at * elem_size;
                        for (fx = fx_start; fx < fx_end; ++fx, tap += depth * elem_size) {
                            const int32_t v = edgeq_elem_get(tap, 0, elem_size);
                            acc = is_max ? (v > acc ? v : acc) : acc + v;
                        }
                    }
                    if (!is_max) {
                        acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                    }
                    acc = acc < pool_params->activation.min ? pool_params->activation.min : acc;
                    acc = acc > pool_params->activation.max ? pool_params->activation.max : acc;
                    if (elem_size == 1) {
                        edgeq_ow_put(&writer, (int8_t)acc);
                    } else {
                        edgeq_elem_set(out, 0, acc, elem_size);
                        out += elem_size;
                    }
                }
            }
        }
    }
    if (elem_size == 1) {
        edgeq_ow_flush(&writer);
    }
    return EDGEQ_OK;
}

edgeq_status edgeq_avgpool_s8(const edgeq_context *ctx, const edgeq_pool_params *pool_params,
                              const edgeq_dims *input_dims, const int8_t *input_data,
                              const edgeq_dims *filter_dims, const edgeq_dims *output_dims, int8_t *output_data)
{
    return edgeq_pool(ctx, pool_params, input_dims, input_data, filter_dims, output_dims, output_data, 0, 1);
}

edgeq_status edgeq_max_pool_s8(const edgeq_context *ctx, const edgeq_pool_params *pool_params,
                               const edgeq_dims *input_dims, const int8_t *input_data,
                               const edgeq_dims *filter_dims, const edgeq_dims *output_dims, int8_t *output_data)
{
    return edgeq_pool(ctx, pool_params, input_dims, input_data, filter_dims, output_dims, output_data, 1, 1);
}

edgeq_status edgeq_avgpool_s16(const edgeq_context *ctx, const edgeq_pool_params *pool_params,
                               const edgeq_dims *input_dims, const int16_t *input_data,
                               const edgeq_dims *filter_dims, const edgeq_dims *output_dims, int16_t *output_data)
{
    return edgeq_pool(ctx, pool_params, input_dims, input_data, filter_dims, output_dims, output_data, 0, 2);
}

edgeq_status edgeq_max_pool_s16(const edgeq_context *ctx, const edgeq_pool_params *pool_params,
                                const edgeq_dims *input_dims, const int16_t *input_data,
                                const edgeq_dims *filter_dims, const edgeq_dims *output_dims, int16_t *output_data)
{
    return edgeq_pool(ctx, pool_params, input_dims, input_data, filter_dims, output_dims, output_data, 1, 2);
}
