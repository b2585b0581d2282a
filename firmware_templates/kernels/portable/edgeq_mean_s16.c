/* MEAN, int16 (TFLM reference_ops::QuantizedMeanOrSum<int16_t>, compute_sum = false): edgeq_mean_s8.c's arithmetic
 * with int16 elements and an int16 clamp. The multiplier and shift passed in already include the
 * 1/num_elements_in_axis factor, computed at compile time exactly as the reference does at run time. */
#include "edgeq_nn.h"

edgeq_status edgeq_mean_s16(const int16_t *input, const edgeq_dims *input_dims, const edgeq_dims *reduce,
                            int32_t input_zero_point, int32_t num_elements_in_axis, int32_t mult, int32_t shift,
                            int32_t output_zero_point, int16_t *output)
{
    const int32_t dn = input_dims->n, dh = input_dims->h, dw = input_dims->w, dc = input_dims->c;
    /* extents of the kept (outer) and reduced (inner) loops */
    const int32_t on = reduce->n ? 1 : dn, oh = reduce->h ? 1 : dh, ow = reduce->w ? 1 : dw, oc = reduce->c ? 1 : dc;
    const int32_t rn = reduce->n ? dn : 1, rh = reduce->h ? dh : 1, rw = reduce->w ? dw : 1, rc = reduce->c ? dc : 1;
    int32_t n, h, w, c, i, j, k, l;
    int16_t *out = output;

    for (n = 0; n < on; ++n) {
        for (h = 0; h < oh; ++h) {
            for (w = 0; w < ow; ++w) {
                for (c = 0; c < oc; ++c) {
                    int32_t sum = 0;
                    int32_t v;
                    for (i = 0; i < rn; ++i) {
                        for (j = 0; j < rh; ++j) {
                            for (k = 0; k < rw; ++k) {
                                for (l = 0; l < rc; ++l) {
                                    sum += input[(((n + i) * dh + (h + j)) * dw + (w + k)) * dc + (c + l)];
                                }
                            }
                        }
                    }
                    v = (int32_t)((int64_t)sum - (int64_t)input_zero_point * (int64_t)num_elements_in_axis);
                    v = edgeq_requantize(v, mult, shift) + output_zero_point;
                    v = v < -32768 ? -32768 : v;
                    v = v > 32767 ? 32767 : v;
                    *out++ = (int16_t)v;
                }
            }
        }
    }
    return EDGEQ_OK;
}
