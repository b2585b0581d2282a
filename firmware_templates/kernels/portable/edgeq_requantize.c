/* QUANTIZE between integer types (int16x8 models' edges): TFLM's reference_ops::Requantize, i.e.
 * clamp(MultiplyByQuantizedMultiplier(x - zp_in, mult, shift) + zp_out) to the output type. */
#include "edgeq_nn.h"

#define EDGEQ_DEFINE_REQUANTIZE(NAME, IN_T, OUT_T, OUT_MIN, OUT_MAX)                                              \
    void NAME(const IN_T *input, int32_t size, int32_t input_zero_point, int32_t mult, int32_t shift,               \
              int32_t output_zero_point, OUT_T *output)                                                             \
    {                                                                                                               \
        int32_t i;                                                                                                  \
        for (i = 0; i < size; ++i) {                                                                                \
            int32_t v = edgeq_requantize((int32_t)input[i] - input_zero_point, mult, shift) + output_zero_point;    \
            v = v < (OUT_MIN) ? (OUT_MIN) : v;                                                                      \
            v = v > (OUT_MAX) ? (OUT_MAX) : v;                                                                      \
            output[i] = (OUT_T)v;                                                                                   \
        }                                                                                                           \
    }

EDGEQ_DEFINE_REQUANTIZE(edgeq_requantize_s16_s8, int16_t, int8_t, INT8_MIN, INT8_MAX)
EDGEQ_DEFINE_REQUANTIZE(edgeq_requantize_s8_s16, int8_t, int16_t, INT16_MIN, INT16_MAX)
EDGEQ_DEFINE_REQUANTIZE(edgeq_requantize_s16_s16, int16_t, int16_t, INT16_MIN, INT16_MAX)
EDGEQ_DEFINE_REQUANTIZE(edgeq_requantize_s16_s32, int16_t, int32_t, INT32_MIN, INT32_MAX)
EDGEQ_DEFINE_REQUANTIZE(edgeq_requantize_s8_s32, int8_t, int32_t, INT32_MIN, INT32_MAX)
