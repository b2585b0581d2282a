/* QUANTIZE (float32 -> int8) and DEQUANTIZE (int8 -> float32) at float model I/O: the only float code.
 * Same arithmetic as TFLM's reference_ops::AffineQuantize / Dequantize. */
#include <math.h>

#include "edgeq_nn.h"

void edgeq_quantize_f32_s8(const float *input, int32_t size, float scale, int32_t zero_point, int8_t *output)
{
    int32_t i;
    for (i = 0; i < size; ++i) {
        float r = roundf(input[i] / scale);
        int32_t v;
        /* keep the float -> int conversion defined; anything this large saturates anyway (NaN -> min, as on x86) */
        if (!(r >= -1.0e9f)) {
            r = -1.0e9f;
        }
        if (r > 1.0e9f) {
            r = 1.0e9f;
        }
        v = (int32_t)r + zero_point;
        v = v < -128 ? -128 : v;
        v = v > 127 ? 127 : v;
        output[i] = (int8_t)v;
    }
}

void edgeq_dequantize_s8_f32(const int8_t *input, int32_t size, double scale, int32_t zero_point, float *output)
{
    int32_t i;
    for (i = 0; i < size; ++i) {
        output[i] = (float)(scale * (double)((int32_t)input[i] - zero_point));
    }
}
