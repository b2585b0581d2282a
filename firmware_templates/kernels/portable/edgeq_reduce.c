/* MEAN / SUM, int8 and int16 (TFLM reference_ops::QuantizedMeanOrSum, a template over the element type: an int32 sum,
 * the input zero point times the element count taken off in int64, MultiplyByQuantizedMultiplier, the output zero
 * point, a clamp to the output type); REDUCE_MAX / REDUCE_MIN, int8 (reduce_common.cc EvalMinMaxHelper ->
 * reference_ops::ReduceGeneric: the raw maximum / minimum, no requantization, as TFLM requires the input and output
 * to share scale and zero point); ARG_MAX / ARG_MIN, int8 (reference_ops::ArgMinMax).
 * MEAN's multiplier and shift already include the 1/num_elements_in_axis factor, computed at compile time exactly as
 * the reference does at run time. Output elements come in the order of the kept dimensions, so keep_dims does not
 * matter here. */
#include "edgeq_nn.h"

/* The reduction over the dimensions flagged in `reduce` of a 4-D input, one output element per kept position:
 * is_sum (a constant in each entry point) picks MEAN's requantized sum, else the raw maximum (is_max) or minimum. */
EDGEQ_ALWAYS_INLINE void edgeq_reduce(const void *input, const edgeq_dims *input_dims, const edgeq_dims *reduce,
                                      int32_t is_sum, int32_t is_max, int32_t input_zero_point,
                                      int32_t num_elements_in_axis, int32_t mult, int32_t shift,
                                      int32_t output_zero_point, void *output, int32_t elem_size)
{
    const int32_t dn = input_dims->n, dh = input_dims->h, dw = input_dims->w, dc = input_dims->c;
    /* extents of the kept (outer) and reduced (inner) loops */
    const int32_t on = reduce->n ? 1 : dn, oh = reduce->h ? 1 : dh, ow = reduce->w ? 1 : dw, oc = reduce->c ? 1 : dc;
    const int32_t rn = reduce->n ? dn : 1, rh = reduce->h ? dh : 1, rw = reduce->w ? dw : 1, rc = reduce->c ? dc : 1;
    uint8_t *out = (uint8_t *)output;
    int32_t n, h, w, c, i, j, k, l;

    for (n = 0; n < on; ++n) {
        for (h = 0; h < oh; ++h) {
            for (w = 0; w < ow; ++w) {
                for (c = 0; c < oc; ++c) {
                    /* MEAN: the sum; MAX / MIN: TFLM's initial value, lowest() / max() */
                    int32_t acc = is_sum ? 0 : is_max ? edgeq_elem_min(elem_size) : edgeq_elem_max(elem_size);
                    for (i = 0; i < rn; ++i) {
                        for (j = 0; j < rh; ++j) {
                            const int32_t row = ((n + i) * dh + (h + j)) * dw + w; /* pixel (n + i, h + j, w) */
                            for (k = 0; k < rw; ++k) {
                                const int32_t at = (row + k) * dc + c;
                                for (l = 0; l < rc; ++l) {
                                    const int32_t v = edgeq_elem_get(input, at + l, elem_size);
                                    if (is_sum) {
                                        acc += v;
                                    } else if (is_max ? v > acc : v < acc) {
                                        acc = v;
                                    }
                                }
                            }
                        }
                    }
                    if (is_sum) {
                        acc = (int32_t)((int64_t)acc - (int64_t)input_zero_point * (int64_t)num_elements_in_axis);
                        acc = edgeq_requantize(acc, mult, shift) + output_zero_point;
                        acc = acc < edgeq_elem_min(elem_size) ? edgeq_elem_min(elem_size) : acc;
                        acc = acc > edgeq_elem_max(elem_size) ? edgeq_elem_max(elem_size) : acc;
                    }
                    edgeq_elem_set(out, 0, acc, elem_size);
                    out += elem_size;
                }
            }
        }
    }
}

edgeq_status edgeq_mean_s8(const int8_t *input, const edgeq_dims *input_dims, const edgeq_dims *reduce,
                           int32_t input_zero_point, int32_t num_elements_in_axis, int32_t mult, int32_t shift,
                           int32_t output_zero_point, int8_t *output)
{
    edgeq_reduce(input, input_dims, reduce, 1, 0, input_zero_point, num_elements_in_axis, mult, shift,
                 output_zero_point, output, 1);
    return EDGEQ_OK;
}

edgeq_status edgeq_mean_s16(const int16_t *input, const edgeq_dims *input_dims, const edgeq_dims *reduce,
                            int32_t input_zero_point, int32_t num_elements_in_axis, int32_t mult, int32_t shift,
                            int32_t output_zero_point, int16_t *output)
{
    edgeq_reduce(input, input_dims, reduce, 1, 0, input_zero_point, num_elements_in_axis, mult, shift,
                 output_zero_point, output, 2);
    return EDGEQ_OK;
}

edgeq_status edgeq_reduce_min_max_s8(const int8_t *input, const edgeq_dims *input_dims, const edgeq_dims *reduce,
                                     int32_t is_max, int8_t *output)
{
    edgeq_reduce(input, input_dims, reduce, 0, is_max, 0, 0, 0, 0, 0, output, 1);
    return EDGEQ_OK;
}

void edgeq_arg_min_max_s8(const int8_t *input, int32_t outer, int32_t axis_size, int32_t inner, int32_t is_max,
                          int32_t *output)
{
    int32_t o, k, i;
    for (o = 0; o < outer; ++o) {
        for (k = 0; k < inner; ++k) {
            const int8_t *p = input + o * axis_size * inner + k;
            int8_t best = p[0];
            int32_t index = 0;
            for (i = 1; i < axis_size; ++i) {
                const int8_t v = p[i * inner];
                if (is_max ? v > best : v < best) { /* strict: the first of equal values wins, as in TFLM */
                    best = v;
                    index = i;
                }
            }
            output[o * inner + k] = index;
        }
    }
}
