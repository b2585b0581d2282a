/* QUANTIZE (float32 -> int8 / int16) and DEQUANTIZE (int8 / int16 -> float32) at float model I/O: the only float
 * code.
 * Same arithmetic as TFLM's reference_ops::AffineQuantize / Dequantize. */
#include <math.h>

#include "edgeq_nn.h"

/* round(x / scale) + zero_point before the clamp to the output type */
static int32_t edgeq_affine_quantize(float x, float scale, int32_t zero_point)
{
    float r = roundf(x / scale);
    /* keep the float -> int conversion defined; anything this large saturates anyway (NaN -> min, as on x86) */
    if (!(r >= -1.0e9f)) {
        r = -1.0e9f;
    }
    if (r > 1.0e9f) {
        r = 1.0e9f;
    }
    return (int32_t)r + zero_point;
}

void edgeq_quantize_f32_s8(const float *input, int32_t size, float scale, int32_t zero_point, int8_t *output)
{
    int32_t i;
    for (i = 0; i < size; ++i) {
        int32_t v = edgeq_affine_quantize(input[i], scale, zero_point);
        v = v < -128 ? -128 : v;
        v = v > 127 ? 127 : v;
        output[i] = (int8_t)v;
    }
}

void edgeq_quantize_f32_s16(const float *input, int32_t size, float scale, int32_t zero_point, int16_t *output)
{
    int32_t i;
    for (i = 0; i < size; ++i) {
        int32_t v = edgeq_affine_quantize(input[i], scale, zero_point);
        v = v < -32768 ? -32768 : v;
        v = v > 32767 ? 32767 : v;
        output[i] = (int16_t)v;
    }
}

void edgeq_dequantize_s16_f32(const int16_t *input, int32_t size, double scale, int32_t zero_point, float *output)
{
    int32_t i;
    for (i = 0; i < size; ++i) {
        output[i] = (float)(scale * (double)((int32_t)input[i] - zero_point));
    }
}

void edgeq_dequantize_s8_f32(const int8_t *input, int32_t size, double scale, int32_t zero_point, float *output)
{
    int32_t i;
    for (i = 0; i < size; ++i) {
        output[i] = (float)(scale * (double)((int32_t)input[i] - zero_point));
    }
}
