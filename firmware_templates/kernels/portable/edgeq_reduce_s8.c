/* REDUCE_MAX / REDUCE_MIN, int8 (TFLM reduce_common.cc EvalMinMaxHelper -> reference_ops::ReduceGeneric): the raw
 * int8 maximum / minimum over the dimensions flagged in `reduce`, no requantization (TFLM requires the input and
 * output to share scale and zero point). Output elements in the order of the kept dimensions, as edgeq_mean_s8.
 * ARG_MAX / ARG_MIN, int8 (TFLM reference_ops::ArgMinMax): the index of the first largest (smallest) value. */
#include "edgeq_nn.h"

edgeq_status edgeq_reduce_min_max_s8(const int8_t *input, const edgeq_dims *input_dims, const edgeq_dims *reduce,
                                     int32_t is_max, int8_t *output)
{
    const int32_t dn = input_dims->n, dh = input_dims->h, dw = input_dims->w, dc = input_dims->c;
    const int32_t on = reduce->n ? 1 : dn, oh = reduce->h ? 1 : dh, ow = reduce->w ? 1 : dw, oc = reduce->c ? 1 : dc;
    const int32_t rn = reduce->n ? dn : 1, rh = reduce->h ? dh : 1, rw = reduce->w ? dw : 1, rc = reduce->c ? dc : 1;
    int32_t n, h, w, c, i, j, k, l;
    int8_t *out = output;

    for (n = 0; n < on; ++n) {
        for (h = 0; h < oh; ++h) {
            for (w = 0; w < ow; ++w) {
                for (c = 0; c < oc; ++c) {
                    int32_t acc = is_max ? -128 : 127; /* TFLM's initial value: lowest() / max() */
                    for (i = 0; i < rn; ++i) {
                        for (j = 0; j < rh; ++j) {
                            for (k = 0; k < rw; ++k) {
                                for (l = 0; l < rc; ++l) {
                                    const int32_t v = input[(((n + i) * dh + (h + j)) * dw + (w + k)) * dc + (c + l)];
                                    if (is_max ? v > acc : v < acc) {
                                        acc = v;
                                    }
                                }
                            }
                        }
                    }
                    *out++ = (int8_t)acc;
                }
            }
        }
    }
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
