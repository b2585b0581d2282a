/* LOGISTIC, TANH and SOFTMAX with int16 input and output (TFLM's int16 reference kernels).
 *
 * LOGISTIC / TANH (reference_integer_ops::Logistic / Tanh for int16): the input scaled by (input_multiplier,
 * input_left_shift) with rounding, then TFLM's 256-entry sigmoid table interpolated on the absolute value (9 bits of
 * fraction for LOGISTIC, 8 for TANH, as tanh(x) = 2 sigmoid(2x) - 1), mirrored for negative inputs; Q0.15 out. A
 * power-of-two input scale arrives as multiplier 3 << shift and shift 0 (what TFLM does at the start of Eval).
 *
 * SOFTMAX (reference_ops::SoftmaxInt16): per row, exp(x - max) from a 513-entry table over [-10, 0] (the difference
 * scaled by mult / shift), the sum's reciprocal from a 513-entry 1 / (1 + x) table, both interpolated (LUTLookup);
 * the tables are computed at compile time exactly as TFLM's Prepare (gen_lut / LUTPopulate<int16_t>). The output row
 * holds the exp values until the reciprocal is known, as in TFLM. */
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

/* sigmoid of v, the input already scaled to 9 fraction bits (TFLM's int16 Logistic after its prologue), Q0.15 out;
 * also the LSTM's gate sigmoid (edgeq_lstm_s8.c) */
int16_t edgeq_sigmoid_q15(int32_t v)
{
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

/* tanh of v, the input already scaled to 8 fraction bits (TFLM's int16 Tanh after its prologue), Q0.15 out; also
 * the LSTM's cell-gate and output tanh */
int16_t edgeq_tanh_q15(int32_t v)
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

void edgeq_logistic_s16(const int16_t *input, int32_t size, int32_t input_multiplier, int32_t input_left_shift,
                        int16_t *output)
{
    const int32_t round = input_left_shift > 0 ? (int32_t)1 << (input_left_shift - 1) : 0;
    int32_t i;
    for (i = 0; i < size; ++i) {
        output[i] = edgeq_sigmoid_q15(((int32_t)input[i] * input_multiplier + round) >> input_left_shift);
    }
}

void edgeq_tanh_s16(const int16_t *input, int32_t size, int32_t input_multiplier, int32_t input_left_shift,
                    int16_t *output)
{
    const int32_t round = input_left_shift > 0 ? (int32_t)1 << (input_left_shift - 1) : 0;
    int32_t i;
    for (i = 0; i < size; ++i) {
        output[i] = edgeq_tanh_q15(((int32_t)input[i] * input_multiplier + round) >> input_left_shift);
    }
}

/* TFLM's LUTLookup: 9 bits of index, 7 of interpolation (the tables are constant data: flash on AVR) */
static int16_t edgeq_lut_lookup_s16(int16_t value, const int16_t *lut)
{
    const uint16_t index = (uint16_t)(256 + (value >> 7));
    const int16_t offset = (int16_t)(value & 0x7f);
    const int16_t base = (int16_t)EDGEQ_W16(&lut[index]);
    const int16_t slope = (int16_t)((int16_t)EDGEQ_W16(&lut[index + 1]) - base);
    const int32_t delta = ((int32_t)slope * offset + 64) >> 7;
    return (int16_t)(base + delta);
}

static int32_t edgeq_clz32_s16(uint32_t x)
{
    int32_t n = 0;
    if (x == 0) {
        return 32;
    }
    while ((x & UINT32_C(0x80000000)) == 0) {
        x <<= 1;
        ++n;
    }
    return n;
}

void edgeq_softmax_s16(const int16_t *input, int32_t num_rows, int32_t row_size, int32_t mult, int32_t shift,
                       const edgeq_softmax_lut_s16 *softmax_params, int16_t *output)
{
    int32_t row, c;
    for (row = 0; row < num_rows; ++row) {
        const int16_t *in = input + row * row_size;
        int16_t *out = output + row * row_size;
        int16_t max_in_row = -32768;
        int32_t sum_of_exps = 0; /* Q16.15 */
        int32_t headroom_plus_one, shifted_sum, sym_shifted_sum, right_shift;
        int16_t reciprocal;
        for (c = 0; c < row_size; ++c) {
            max_in_row = in[c] > max_in_row ? in[c] : max_in_row;
        }
        for (c = 0; c < row_size; ++c) {
            const int32_t scaled_diff = edgeq_requantize((int32_t)in[c] - max_in_row, mult, shift);
            int32_t sym = scaled_diff + 32767;
            sym = sym < -32768 ? -32768 : sym;
            sym = sym > 32767 ? 32767 : sym;
            out[c] = edgeq_lut_lookup_s16((int16_t)sym, softmax_params->exp_lut);
            sum_of_exps += out[c];
        }
        headroom_plus_one = edgeq_clz32_s16((uint32_t)sum_of_exps);
        shifted_sum = (int32_t)((((int64_t)sum_of_exps << (headroom_plus_one - 1)) + (1 << 13)) >> 14);
        sym_shifted_sum = shifted_sum - (((int32_t)1 << 15) + ((int32_t)1 << 16));
        sym_shifted_sum = sym_shifted_sum < -32768 ? -32768 : sym_shifted_sum;
        sym_shifted_sum = sym_shifted_sum > 32767 ? 32767 : sym_shifted_sum;
        reciprocal = edgeq_lut_lookup_s16((int16_t)sym_shifted_sum, softmax_params->one_by_one_lut);
        right_shift = 31 - headroom_plus_one;
        for (c = 0; c < row_size; ++c) {
            const int64_t round = (int64_t)1 << (right_shift - 1);
            int32_t result = (int32_t)(((int64_t)out[c] * reciprocal + round) >> right_shift);
            result = result < 0 ? 0 : result;
            result = result > 32767 ? 32767 : result;
            out[c] = (int16_t)result;
        }
    }
}

/* MAXIMUM / MINIMUM, int16: the larger / smaller stored value (TFLM's maximum_minimum.cc), 4-D broadcasting through
 * element strides (0 = broadcast). */
static void edgeq_max_min_s16(const int16_t *a, const int32_t *sa, const int16_t *b, const int32_t *sb,
                              const edgeq_dims *d, int16_t *out, int32_t is_max)
{
    int32_t n, h, w, c;
    for (n = 0; n < d->n; ++n) {
        for (h = 0; h < d->h; ++h) {
            for (w = 0; w < d->w; ++w) {
                const int16_t *pa = a + n * sa[0] + h * sa[1] + w * sa[2];
                const int16_t *pb = b + n * sb[0] + h * sb[1] + w * sb[2];
                for (c = 0; c < d->c; ++c) {
                    const int16_t x = pa[c * sa[3]];
                    const int16_t y = pb[c * sb[3]];
                    *out++ = is_max ? (x > y ? x : y) : (x < y ? x : y);
                }
            }
        }
    }
}

void edgeq_maximum_s16(const int16_t *input1, const int32_t *in1_strides, const int16_t *input2,
                       const int32_t *in2_strides, const edgeq_dims *output_dims, int16_t *output)
{
    edgeq_max_min_s16(input1, in1_strides, input2, in2_strides, output_dims, output, 1);
}

void edgeq_minimum_s16(const int16_t *input1, const int32_t *in1_strides, const int16_t *input2,
                       const int32_t *in2_strides, const edgeq_dims *output_dims, int16_t *output)
{
    edgeq_max_min_s16(input1, in1_strides, input2, in2_strides, output_dims, output, 0);
}

/* RELU, int16 (TFLM's ReluQuantized<int16_t>): requantized to the output scale, clamped. */
void edgeq_relu_s16(const int16_t *input, int32_t size, int32_t input_zero_point, int32_t mult, int32_t shift,
                    int32_t output_zero_point, int32_t act_min, int32_t act_max, int16_t *output)
{
    int32_t i;
    for (i = 0; i < size; ++i) {
        int32_t v = output_zero_point + edgeq_requantize((int32_t)input[i] - input_zero_point, mult, shift);
        v = v < act_min ? act_min : v;
        v = v > act_max ? act_max : v;
        output[i] = (int16_t)v;
    }
}

/* RELU6, int16 (Relu6Quantized<int16_t>): a clamp to [lower, upper] in the input's quantization. */
void edgeq_relu6_s16(const int16_t *input, int32_t size, int32_t lower, int32_t upper, int16_t *output)
{
    int32_t i;
    for (i = 0; i < size; ++i) {
        const int32_t v = input[i];
        output[i] = (int16_t)(v > upper ? upper : (v < lower ? lower : v));
    }
}

/* LEAKY_RELU, int16 (QuantizeLeakyRelu<int16_t>): x - zp_in requantized by the identity multiplier when >= 0, else
 * by |alpha|'s multiplier and negated for a negative alpha; plus zp_out, clamped to int16. */
void edgeq_leaky_relu_s16(const int16_t *input, int32_t size, int32_t input_zero_point, int32_t output_zero_point,
                          int32_t mult_identity, int32_t shift_identity, int32_t mult_alpha, int32_t shift_alpha,
                          int32_t alpha_negative, int16_t *output)
{
    int32_t i;
    for (i = 0; i < size; ++i) {
        const int32_t x = (int32_t)input[i] - input_zero_point;
        int32_t v;
        if (x >= 0) {
            v = edgeq_requantize(x, mult_identity, shift_identity);
        } else {
            v = edgeq_requantize(x, mult_alpha, shift_alpha);
            v = alpha_negative ? -v : v;
        }
        v += output_zero_point;
        v = v < -32768 ? -32768 : v;
        v = v > 32767 ? 32767 : v;
        output[i] = (int16_t)v;
    }
}
