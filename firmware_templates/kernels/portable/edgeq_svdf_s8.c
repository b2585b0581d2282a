/* SVDF, int8 input / weights / state / output, int32 bias: the arithmetic of TFLM's EvalIntegerSvdfReference<int8_t>
 * (svdf_common.cc). No scratch: each unit's rank filters are reduced as soon as their time products are known (the
 * integer sums are the same in any order; the dot products use edgeq_dot1_s8, DSP SIMD on Cortex-M4/M7). The fused
 * activation is ignored, as TFLM's integer SVDF does. */
#include <string.h>

#include "edgeq_nn.h"

/* The feature matmul of filter f (step 2), requantized; the caller clamps it to its state type. */
static int32_t edgeq_svdf_feature(const edgeq_svdf_params *p, const int8_t *in, const int8_t *weights_feature,
                                  int32_t f)
{
    const int32_t acc = edgeq_dot1_s8(in, weights_feature + f * p->input_size, p->input_size,
                                      -p->input_zero_point, 0);
    return edgeq_requantize_fast(acc, p->mult_1, p->shift_1);
}

/* One output (end of step 3): the unit's time sum plus bias, rescaled to the int8 output. */
static int8_t edgeq_svdf_output(const edgeq_svdf_params *p, int32_t acc)
{
    acc = edgeq_requantize_fast(acc, p->mult_2, p->shift_2) + p->output_zero_point;
    return (int8_t)(acc < -128 ? -128 : (acc > 127 ? 127 : acc));
}

void edgeq_svdf_s8(const edgeq_svdf_params *p, const int8_t *input, const int8_t *weights_feature,
                   const int8_t *weights_time, const int32_t *bias, int8_t *state, int8_t *output)
{
    const int32_t filters = p->num_filters;
    const int32_t memory = p->memory_size;
    const int32_t units = filters / p->rank;
    const int32_t state_size = p->batches * filters * memory;
    int32_t b;

    /* 1. the whole state moves one element left (each filter's newest slot is rewritten below) */
    if (state_size > 1) {
        memmove(state, state + 1, (size_t)(state_size - 1) * sizeof(*state));
    }

    for (b = 0; b < p->batches; ++b) {
        const int8_t *in = input + b * p->input_size;
        int8_t *state_b = state + b * filters * memory;
        int32_t f;
        int32_t u;

        /* 2. feature matmul: each filter's newest state entry */
        for (f = 0; f < filters; ++f) {
            int32_t acc = edgeq_svdf_feature(p, in, weights_feature, f);
            acc = acc < -128 ? -128 : (acc > 127 ? 127 : acc);
            state_b[f * memory + memory - 1] = (int8_t)(acc + p->state_zero_point);
        }

        /* 3. time matmul, reduced over the rank filters of each unit, bias, rescale */
        for (u = 0; u < units; ++u) {
            int32_t acc = bias != NULL ? EDGEQ_W32(bias + u) : 0;
            for (f = u * p->rank; f < (u + 1) * p->rank; ++f) {
                acc = edgeq_dot1_s8(state_b + f * memory, weights_time + f * memory, memory, -p->state_zero_point,
                                    acc);
            }
            output[b * units + u] = edgeq_svdf_output(p, acc);
        }
    }
}

#if defined(__AVR__)
#define EDGEQ_W16S(p) ((int16_t)pgm_read_word(p))
#else
#define EDGEQ_W16S(p) (*(const int16_t *)(p))
#endif

/* int16 time weights and state: the same three steps, the feature result clamped to the int16 range */
void edgeq_svdf_s8_s16(const edgeq_svdf_params *p, const int8_t *input, const int8_t *weights_feature,
                       const int16_t *weights_time, const int32_t *bias, int16_t *state, int8_t *output)
{
    const int32_t filters = p->num_filters;
    const int32_t memory = p->memory_size;
    const int32_t units = filters / p->rank;
    const int32_t state_size = p->batches * filters * memory;
    int32_t b;

    if (state_size > 1) {
        memmove(state, state + 1, (size_t)(state_size - 1) * sizeof(*state));
    }
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in = input + b * p->input_size;
        int16_t *state_b = state + b * filters * memory;
        int32_t f;
        int32_t u;
        for (f = 0; f < filters; ++f) {
            int32_t acc = edgeq_svdf_feature(p, in, weights_feature, f);
            acc = acc < INT16_MIN ? INT16_MIN : (acc > INT16_MAX ? INT16_MAX : acc);
            state_b[f * memory + memory - 1] = (int16_t)(acc + p->state_zero_point);
        }
        for (u = 0; u < units; ++u) {
            int32_t acc = bias != NULL ? EDGEQ_W32(bias + u) : 0;
            for (f = u * p->rank; f < (u + 1) * p->rank; ++f) {
                const int16_t *w = weights_time + f * memory;
                const int16_t *s = state_b + f * memory;
                int32_t m;
                for (m = 0; m < memory; ++m) {
                    acc += (int32_t)EDGEQ_W16S(w + m) * ((int32_t)s[m] - p->state_zero_point);
                }
            }
            output[b * units + u] = edgeq_svdf_output(p, acc);
        }
    }
}
