/* UNIDIRECTIONAL_SEQUENCE_LSTM, int8 input / hidden state / output, int8 weights, int32 biases, int16 cell state: the
 * arithmetic of TFLM's EvalLstm<int8_t, int8_t, int16_t, int32_t> (lstm_eval.h), unit by unit.
 *
 * Per time step, for each unit j: the four gates are FC(x_t) + bias and FC(h_prev) (int32 sums requantized to int16
 * Q3.12, added with int16 saturation), through the int16 sigmoid (tanh for the cell gate); then
 * c_j = f_j * c_j + i_j * g_j (two int16 multiplies requantized to the cell scale, a saturating add, the optional
 * clip) and h_j = tanh(c_j) * o_j requantized to the hidden state's int8 scale. Units go four at a time through the
 * gate dot products (edgeq_dot4_s8: one input load for four weight rows). Every unit reads the whole previous
 * hidden state, so the new one is written to the step's output row first and copied into the state at the end of
 * the step: no scratch (TFLM keeps four int16 gate buffers). */
#include "edgeq_nn.h"

/* x scaled by (mult, right shift) with rounding, as TFLM's int16 Logistic / Tanh prologue */
static int32_t edgeq_lut_input(int32_t x, int32_t mult, int32_t shift)
{
    const int32_t round = shift > 0 ? (int32_t)1 << (shift - 1) : 0;
    return (x * mult + round) >> shift;
}

/* int16 sigmoid of a Q3.12 value (reference_integer_ops::Logistic with a power-of-two input scale: x 3 gives the
 * table's 9 fraction bits), Q0.15 out */
static int16_t edgeq_gate_sigmoid(int32_t x)
{
    return edgeq_sigmoid_q15(x * 3);
}

static int32_t edgeq_clamp_s16(int32_t v)
{
    return v < INT16_MIN ? INT16_MIN : (v > INT16_MAX ? INT16_MAX : v);
}

/* Pre-activations of one gate for units j .. j+n-1 (n = 4, or 1 for the last units): the requantized FC of the input
 * row (with the bias) plus the FC of the hidden state, each clamped to int16, added with saturation. Four units share
 * each input load (edgeq_dot4_s8). */
static void edgeq_lstm_gate(const edgeq_lstm_params *p, const edgeq_lstm_gate_data *g, int32_t j, int32_t n,
                            const int8_t *x, const int8_t *h, int32_t out[4])
{
    int32_t in[4] = {0, 0, 0, 0};
    int32_t rec[4] = {0, 0, 0, 0};
    int32_t u;
    if (n == 4) {
        edgeq_dot4_s8(x, g->input_weights + j * p->input_size, p->input_size, p->input_size, p->input_offset, in);
        edgeq_dot4_s8(h, g->recurrent_weights + j * p->units, p->units, p->units, p->hidden_offset, rec);
    } else {
        in[0] = edgeq_dot1_s8(x, g->input_weights + j * p->input_size, p->input_size, p->input_offset, 0);
        rec[0] = edgeq_dot1_s8(h, g->recurrent_weights + j * p->units, p->units, p->hidden_offset, 0);
    }
    for (u = 0; u < n; ++u) {
        const int32_t a = edgeq_clamp_s16(
            edgeq_requantize_fast(in[u] + EDGEQ_W32(g->bias + j + u), g->input_mult, g->input_shift));
        const int32_t r = edgeq_clamp_s16(edgeq_requantize_fast(rec[u], g->recurrent_mult, g->recurrent_shift));
        out[u] = edgeq_clamp_s16(a + r);
    }
}

void edgeq_lstm_s8(const edgeq_lstm_params *p, const edgeq_lstm_gate_data *gates, const int8_t *input,
                   int8_t *hidden_state, int16_t *cell_state, int8_t *output)
{
    int32_t b;
    int32_t t;
    for (b = 0; b < p->batches; ++b) {
        int8_t *h = hidden_state + b * p->units;
        int16_t *c = cell_state + b * p->units;
        for (t = 0; t < p->time_steps; ++t) {
            const int32_t row = p->time_major ? t * p->batches + b : b * p->time_steps + t;
            const int8_t *x = input + row * p->input_size;
            int8_t *out = output + row * p->units;
            int32_t j;
            for (j = 0; j < p->units;) {
                const int32_t n = p->units - j >= 4 ? 4 : 1;
                int32_t f[4], i[4], g[4], o[4];
                int32_t u;
                edgeq_lstm_gate(p, &gates[0], j, n, x, h, f);
                edgeq_lstm_gate(p, &gates[1], j, n, x, h, i);
                edgeq_lstm_gate(p, &gates[2], j, n, x, h, g);
                edgeq_lstm_gate(p, &gates[3], j, n, x, h, o);
                for (u = 0; u < n; ++u, ++j) {
                    const int32_t fs = edgeq_gate_sigmoid(f[u]);
                    const int32_t is = edgeq_gate_sigmoid(i[u]);
                    const int32_t gt = edgeq_tanh_q15(g[u] * 3);
                    const int32_t os = edgeq_gate_sigmoid(o[u]);
                    int32_t cj = edgeq_clamp_s16(edgeq_requantize_fast(fs * c[j], p->forget_mult, p->forget_shift));
                    const int32_t ig = edgeq_clamp_s16(edgeq_requantize_fast(is * gt, p->input_mult, p->input_shift));
                    int32_t hj;
                    cj = edgeq_clamp_s16(cj + ig);
                    if (p->cell_clip > 0) {
                        cj = cj > p->cell_clip ? p->cell_clip : (cj < -p->cell_clip ? -p->cell_clip : cj);
                    }
                    c[j] = (int16_t)cj;
                    hj = edgeq_tanh_q15(edgeq_lut_input(cj, p->cell_tanh_mult, p->cell_tanh_shift));
                    hj = edgeq_requantize_fast(hj * os, p->output_mult, p->output_shift) + p->hidden_zero_point;
                    out[j] = (int8_t)(hj < -128 ? -128 : (hj > 127 ? 127 : hj));
                }
            }
            for (j = 0; j < p->units; ++j) {
                h[j] = out[j];
            }
        }
    }
}
