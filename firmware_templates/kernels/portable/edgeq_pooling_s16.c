/* AVERAGE_POOL_2D and MAX_POOL_2D, int16 (TFLM reference_integer_ops::AveragePool / MaxPool for int16_t): windows
 * clipped to the image, an int32 sum divided by the number of taps inside the window, rounding half away from zero;
 * the fused activation clamp. filter_dims->h/w hold the window size. ctx is unused (the output never shares the
 * input's memory); it keeps arm_avgpool_s16's signature. */
#include "edgeq_nn.h"

/* The clipped window of output pixel (out_y, out_x): [fy_start, fy_end) x [fx_start, fx_end). */
typedef struct {
    int32_t in_y, in_x, fy_start, fy_end, fx_start, fx_end;
} edgeq_pool_window;

static edgeq_pool_window edgeq_pool_window_at(const edgeq_pool_params *p, const edgeq_dims *in,
                                              const edgeq_dims *filter, int32_t out_y, int32_t out_x)
{
    edgeq_pool_window win;
    win.in_y = out_y * p->stride.h - p->padding.h;
    win.in_x = out_x * p->stride.w - p->padding.w;
    win.fy_start = win.in_y < 0 ? -win.in_y : 0;
    win.fy_end = filter->h < in->h - win.in_y ? filter->h : in->h - win.in_y;
    win.fx_start = win.in_x < 0 ? -win.in_x : 0;
    win.fx_end = filter->w < in->w - win.in_x ? filter->w : in->w - win.in_x;
    return win;
}

edgeq_status edgeq_avgpool_s16(const edgeq_context *ctx, const edgeq_pool_params *pool_params,
                               const edgeq_dims *input_dims, const int16_t *input_data,
                               const edgeq_dims *filter_dims, const edgeq_dims *output_dims, int16_t *output_data)
{
    const int32_t depth = input_dims->c;
    int32_t b, out_y, out_x, ch, fy, fx;
    int16_t *out = output_data;
    (void)ctx;

    for (b = 0; b < input_dims->n; ++b) {
        const int16_t *in_b = input_data + b * input_dims->h * input_dims->w * depth;
        for (out_y = 0; out_y < output_dims->h; ++out_y) {
            for (out_x = 0; out_x < output_dims->w; ++out_x) {
                const edgeq_pool_window win = edgeq_pool_window_at(pool_params, input_dims, filter_dims, out_y,
                                                                   out_x);
                const int32_t count = (win.fy_end - win.fy_start) * (win.fx_end - win.fx_start);
                if (win.fy_end <= win.fy_start || win.fx_end <= win.fx_start) {
                    return EDGEQ_ARG_ERROR; /* a window outside the image: TFLM fails too */
                }
                for (ch = 0; ch < depth; ++ch) {
                    int32_t acc = 0;
                    for (fy = win.fy_start; fy < win.fy_end; ++fy) {
                        const int16_t *row = in_b + ((win.in_y + fy) * input_dims->w + win.in_x) * depth + ch;
                        for (fx = win.fx_start; fx < win.fx_end; ++fx) {
                            acc += row[fx * depth];
                        }
                    }
                    acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                    acc = acc < pool_params->activation.min ? pool_params->activation.min : acc;
                    acc = acc > pool_params->activation.max ? pool_params->activation.max : acc;
                    *out++ = (int16_t)acc;
                }
            }
        }
    }
    return EDGEQ_OK;
}

edgeq_status edgeq_max_pool_s16(const edgeq_context *ctx, const edgeq_pool_params *pool_params,
                                const edgeq_dims *input_dims, const int16_t *input_data,
                                const edgeq_dims *filter_dims, const edgeq_dims *output_dims, int16_t *output_data)
{
    const int32_t depth = input_dims->c;
    int32_t b, out_y, out_x, ch, fy, fx;
    int16_t *out = output_data;
    (void)ctx;

    for (b = 0; b < input_dims->n; ++b) {
        const int16_t *in_b = input_data + b * input_dims->h * input_dims->w * depth;
        for (out_y = 0; out_y < output_dims->h; ++out_y) {
            for (out_x = 0; out_x < output_dims->w; ++out_x) {
                const edgeq_pool_window win = edgeq_pool_window_at(pool_params, input_dims, filter_dims, out_y,
                                                                   out_x);
                for (ch = 0; ch < depth; ++ch) {
                    int32_t max = -32768;
                    for (fy = win.fy_start; fy < win.fy_end; ++fy) {
                        const int16_t *row = in_b + ((win.in_y + fy) * input_dims->w + win.in_x) * depth + ch;
                        for (fx = win.fx_start; fx < win.fx_end; ++fx) {
                            const int32_t v = row[fx * depth];
                            max = v > max ? v : max;
                        }
                    }
                    max = max < pool_params->activation.min ? pool_params->activation.min : max;
                    max = max > pool_params->activation.max ? pool_params->activation.max : max;
                    *out++ = (int16_t)max;
                }
            }
        }
    }
    return EDGEQ_OK;
}
