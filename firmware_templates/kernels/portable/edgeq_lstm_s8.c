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

#if defined(__AVR__)
#define EDGEQ_W16(p) ((uint16_t)pgm_read_word(p))
#else
#define EDGEQ_W16(p) (*(const uint16_t *)(p))
#endif

/* TFLM's sigmoid look-up table (reference kernels, kernels/internal/common.h): sigmoid(i / 24) in Q0.16. Tanh uses
 * it too (tanh(x) = 2 sigmoid(2x) - 1). Numeric data, needed as is for bit-exact results. */
static const uint16_t edgeq_sigmoid_lut[256] EDGEQ_CONST_DATA = {
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149, 40794, 41432, 42064, 42688,
    43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369, 47911, 48443, 48964, 49475, 49975, 50464, 50942, 51409,
    51865, 52311, 52745, 53169, 53581, 53983, 54374, 54755, 55125, 55485, 55834, 56174, 56503, 56823, 57133, 57433,
    57724, 58007, 58280, 58544, 58800, 59048, 59288, 59519, 59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110,
    61279, 61441, 61599, 61750, 61896, 62036, 62172, 62302, 62428, 62549, 62666, 62778, 62886, 62990, 63090, 63186,
    63279, 63368, 63454, 63536, 63615, 63691, 63765, 63835, 63903, 63968, 64030, 64090, 64148, 64204, 64257, 64308,
    64357, 64405, 64450, 64494, 64536, 64576, 64614, 64652, 64687, 64721, 64754, 64786, 64816, 64845, 64873, 64900,
    64926, 64950, 64974, 64997, 65019, 65039, 65060, 65079, 65097, 65115, 65132, 65149, 65164, 65179, 65194, 65208,
    65221, 65234, 65246, 65258, 65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360, 65367,
    65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425, 65429, 65433, 65438, 65442, 65445, 65449,
    65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474, 65476, 65479, 65481, 65483, 65485, 65488, 65489, 65491,
    65493, 65495, 65497, 65498, 65500, 65501, 65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513,
    65514, 65515, 65516, 65517, 65517, 65518, 65519, 65520, 65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524,
    65525, 65525, 65526, 65526, 65526, 65527, 65527, 65528, 65528, 65528, 65529, 65529, 65529, 65529, 65530, 65530,
    65530, 65530, 65531, 65531, 65531, 65531, 65531, 65532, 65532, 65532, 65532, 65532, 65532, 65533, 65533, 65533,
    65533, 65533, 65533, 65533, 65533, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65535,
};

/* x scaled by (mult, right shift) with rounding, as TFLM's int16 Logistic / Tanh prologue */
static int32_t edgeq_lut_input(int32_t x, int32_t mult, int32_t shift)
{
    const int32_t round = shift > 0 ? (int32_t)1 << (shift - 1) : 0;
    return (x * mult + round) >> shift;
}

/* int16 sigmoid of a Q3.12 value (reference_integer_ops::Logistic with a power-of-two input scale), Q0.15 out */
static int16_t edgeq_sigmoid_s16(int32_t x)
{
    const int32_t v = x * 3;
    const uint32_t a = (uint32_t)(v < 0 ? -v : v);
    const uint32_t uh = a >> 9;
    uint32_t r;
    if (uh >= 255) {
        r = (uint32_t)0x7FFF << 10;
    } else {
        const uint32_t ua = EDGEQ_W16(&edgeq_sigmoid_lut[uh]);
        const uint32_t ub = EDGEQ_W16(&edgeq_sigmoid_lut[uh + 1]);
        r = (ua << 9) + (a & 0x1ff) * (ub - ua);
    }
    r = v >= 0 ? r + ((uint32_t)1 << 9) : ((uint32_t)1 << 25) - r + ((uint32_t)1 << 9) - 1;
    return (int16_t)(r >> 10);
}

/* int16 tanh (reference_integer_ops::Tanh), input already scaled by edgeq_lut_input; Q0.15 out */
static int16_t edgeq_tanh_s16(int32_t v)
{
    const uint32_t a = (uint32_t)(v < 0 ? -v : v);
    const uint32_t uh = a >> 8;
    int32_t r;
    if (uh >= 255) {
        r = (int32_t)0xFFFF << 8;
    } else {
        const uint32_t ua = EDGEQ_W16(&edgeq_sigmoid_lut[uh]);
        const uint32_t ub = EDGEQ_W16(&edgeq_sigmoid_lut[uh + 1]);
        r = (int32_t)((ua << 8) + (a & 0xff) * (ub - ua));
    }
    r = v >= 0 ? r - ((int32_t)1 << 23) + 128 : -r + ((int32_t)1 << 23) + 127; /* int is 16 bits on AVR */
    return (int16_t)(r >> 8);
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
                    const int32_t fs = edgeq_sigmoid_s16(f[u]);
                    const int32_t is = edgeq_sigmoid_s16(i[u]);
                    const int32_t gt = edgeq_tanh_s16(g[u] * 3);
                    const int32_t os = edgeq_sigmoid_s16(o[u]);
                    int32_t cj = edgeq_clamp_s16(edgeq_requantize_fast(fs * c[j], p->forget_mult, p->forget_shift));
                    const int32_t ig = edgeq_clamp_s16(edgeq_requantize_fast(is * gt, p->input_mult, p->input_shift));
                    int32_t hj;
                    cj = edgeq_clamp_s16(cj + ig);
                    if (p->cell_clip > 0) {
                        cj = cj > p->cell_clip ? p->cell_clip : (cj < -p->cell_clip ? -p->cell_clip : cj);
                    }
                    c[j] = (int16_t)cj;
                    hj = edgeq_tanh_s16(edgeq_lut_input(cj, p->cell_tanh_mult, p->cell_tanh_shift));
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
