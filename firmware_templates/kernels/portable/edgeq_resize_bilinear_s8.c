/* RESIZE_BILINEAR, int8 (TFLM reference_ops::ResizeBilinearInteger): the four source pixels of each output pixel
 * weighted by the 10-bit fractions of the maps computed at compile time, in int64, rounded half away from zero. */
#include "edgeq_nn.h"

void edgeq_resize_bilinear_s8(const int8_t *input, const edgeq_dims *input_dims, int32_t output_h, int32_t output_w,
                              const int32_t *y_map, const int32_t *x_map, int8_t *output)
{
    const int32_t depth = input_dims->c;
    const int32_t row = input_dims->w * depth;
    int32_t b, y, x, c;
    for (b = 0; b < input_dims->n; ++b) {
        const int8_t *in_b = input + b * input_dims->h * row;
        for (y = 0; y < output_h; ++y) {
            const int8_t *r0 = in_b + EDGEQ_W32(&y_map[3 * y]) * row;
            const int8_t *r1 = in_b + EDGEQ_W32(&y_map[3 * y + 1]) * row;
            const int64_t dy = EDGEQ_W32(&y_map[3 * y + 2]);
            for (x = 0; x < output_w; ++x) {
                const int32_t c0 = EDGEQ_W32(&x_map[3 * x]) * depth;
                const int32_t c1 = EDGEQ_W32(&x_map[3 * x + 1]) * depth;
                const int64_t dx = EDGEQ_W32(&x_map[3 * x + 2]);
                for (c = 0; c < depth; ++c) {
                    const int64_t sum = (int64_t)r0[c0 + c] * (1024 - dy) * (1024 - dx) +
                                        (int64_t)r1[c0 + c] * dy * (1024 - dx) +
                                        (int64_t)r0[c1 + c] * (1024 - dy) * dx + (int64_t)r1[c1 + c] * dy * dx;
                    const int64_t round = sum > 0 ? ((int64_t)1 << 19) : -((int64_t)1 << 19);
                    *output++ = (int8_t)((sum + round) / ((int64_t)1 << 20));
                }
            }
        }
    }
}
