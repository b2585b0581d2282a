"""edgeq.quant.fixedpoint: integer requantization, checked against the math, a C oracle and the TFLM interpreter."""

from __future__ import annotations

import math
import shutil
import subprocess
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeq.quant import (
    QuantizationError,
    add_params,
    calculate_activation_range_quantized,
    calculate_input_radius,
    conv2d_int8,
    conv_multipliers,
    depthwise_conv2d_int8,
    fully_connected_int8,
    fully_connected_multipliers,
    mul_params,
    multiply_by_quantized_multiplier,
    preprocess_softmax_scaling,
    quantize_multiplier,
    quantize_multiplier_greater_than_one,
    quantize_multiplier_smaller_than_one_exp,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
    softmax_params,
)

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
FAST = settings(max_examples=80, deadline=None)
# Noise from the converter and LiteRT that says nothing about edgeq.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Statistics for quantized inputs were expected:UserWarning"),
    pytest.mark.filterwarnings("ignore:Warning. Enabling .experimental_preserve_all_tensors.:UserWarning"),
]


# --------------------------------------------------------------------------------------------------------------------
# quantize_multiplier
# --------------------------------------------------------------------------------------------------------------------


def test_quantize_multiplier_known_values():
    assert quantize_multiplier(0.0) == (0, 0)
    assert quantize_multiplier(0.5) == (2**30, 0)
    assert quantize_multiplier(1.0) == (2**30, 1)
    assert quantize_multiplier(0.75) == (3 * 2**29, 0)
    assert quantize_multiplier(-0.5) == (-(2**30), 0)
    assert quantize_multiplier(2.0**-31) == (2**30, -30)
    assert quantize_multiplier(2.0**-40) == (0, 0)  # shift < -31 flushes to zero
    # q * 2**31 = 2**31 - 0.25 rounds up to 2**31: halved, shift + 1
    assert quantize_multiplier((1 - 2.0**-33) * 2.0**-3) == (2**30, -2)
    # a tie q * 2**31 = 2**30 + 0.5 rounds away from zero
    assert quantize_multiplier((2**30 + 0.5) / 2**31) == (2**30 + 1, 0)
    assert quantize_multiplier(-(2**30 + 0.5) / 2**31) == (-(2**30 + 1), 0)


def test_quantize_multiplier_single_rounding_saturates_large_shifts():
    assert quantize_multiplier(2.0**40) == (2**30, 41)
    assert quantize_multiplier(2.0**40, single_rounding=True) == (INT32_MAX, 30)


def test_quantize_multiplier_variants_check_their_range():
    assert quantize_multiplier_smaller_than_one_exp(0.25) == (2**30, -1)
    assert quantize_multiplier_greater_than_one(3.0) == (3 * 2**29, 2)
    for bad in (0.0, 1.0, 1.5, -0.1):
        with pytest.raises(QuantizationError):
            quantize_multiplier_smaller_than_one_exp(bad)
    for bad in (1.0, 0.5):
        with pytest.raises(QuantizationError):
            quantize_multiplier_greater_than_one(bad)
    with pytest.raises(QuantizationError):
        quantize_multiplier(float("nan"))


@FAST
@given(st.floats(min_value=2.0**-31, max_value=2.0**20, allow_nan=False, allow_infinity=False))
def test_quantize_multiplier_represents_the_real_value(real):
    m, shift = quantize_multiplier(real)
    assert 2**30 <= m <= INT32_MAX
    assert math.ldexp(m, shift - 31) == pytest.approx(real, rel=2.0**-30)


# --------------------------------------------------------------------------------------------------------------------
# gemmlowp primitives
# --------------------------------------------------------------------------------------------------------------------


def test_srdhm_edge_cases():
    assert saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MIN) == INT32_MAX  # the one overflow
    assert saturating_rounding_doubling_high_mul(INT32_MAX, INT32_MAX) == INT32_MAX - 1
    assert saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MAX) == INT32_MIN + 1
    assert saturating_rounding_doubling_high_mul(2**30, 2**30) == 2**29  # 0.5 * 0.5 = 0.25
    assert saturating_rounding_doubling_high_mul(1, 2**30) == 1  # 0.5 rounds up
    assert saturating_rounding_doubling_high_mul(-1, 2**30) == 0  # -0.5 rounds up (toward +inf)
    assert saturating_rounding_doubling_high_mul(-3, 2**30) == -1  # -1.5 -> -1
    out = saturating_rounding_doubling_high_mul(np.array([1, 2, 3]), 2**30)
    assert out.dtype == np.int32 and out.tolist() == [1, 1, 2]


def test_rounding_divide_by_pot_rounds_half_away_from_zero():
    x = np.array([5, -5, 3, -3, 4, -4, 6, -6, 7, -7])
    assert rounding_divide_by_pot(x, 1).tolist() == [3, -3, 2, -2, 2, -2, 3, -3, 4, -4]
    assert rounding_divide_by_pot(x, 0).tolist() == x.tolist()
    assert rounding_divide_by_pot(INT32_MIN, 31) == -1
    assert rounding_divide_by_pot(INT32_MAX, 31) == 1
    assert rounding_divide_by_pot(np.array([10, 10]), np.array([1, 2])).tolist() == [5, 3]
    with pytest.raises(QuantizationError):
        rounding_divide_by_pot(1, 32)


@FAST
@given(st.integers(INT32_MIN, INT32_MAX), st.integers(0, 31))
def test_rounding_divide_by_pot_matches_exact_rounding(x, exponent):
    half = (1 << exponent) >> 1  # 2**(exponent - 1), or 0 for exponent 0
    magnitude = (abs(x) + half) >> exponent  # |x| / 2**e rounded half up, in exact integer arithmetic
    assert int(rounding_divide_by_pot(x, exponent)) == (magnitude if x >= 0 else -magnitude)


def test_multiply_by_quantized_multiplier_rejects_bad_arguments():
    with pytest.raises(QuantizationError):
        multiply_by_quantized_multiplier(1, 2**30, 0, rounding="triple")
    with pytest.raises(QuantizationError):
        multiply_by_quantized_multiplier(1, 2**30, 31, rounding="single")
    with pytest.raises(QuantizationError):
        multiply_by_quantized_multiplier(2**31, 2**30, 0)  # not an int32
    with pytest.raises(QuantizationError):
        multiply_by_quantized_multiplier(1.5, 2**30, 0)


@FAST
@given(
    st.integers(-(2**24), 2**24),
    st.floats(min_value=2.0**-20, max_value=1.0, exclude_max=True),
    st.sampled_from(["double", "single"]),
)
def test_requantization_is_within_one_lsb_of_the_real_product(x, real, rounding):
    m, shift = quantize_multiplier(real)
    got = int(multiply_by_quantized_multiplier(x, m, shift, rounding=rounding))
    exact = x * real
    assert abs(got - exact) <= 1.0  # one rounding (single) or two (double) of at most 1/2 LSB each
    assert abs(got - int(np.sign(exact) * math.floor(abs(exact) + 0.5))) <= 1


@FAST
@given(st.integers(-(2**20), 2**20), st.floats(min_value=1.0, max_value=512.0))
def test_requantization_with_left_shift(x, real):
    m, shift = quantize_multiplier(real)
    assert shift >= 1
    got = int(multiply_by_quantized_multiplier(x, m, shift))
    assert abs(got - x * real) <= 1.0


def test_requantization_broadcasts_per_channel():
    acc = np.arange(-12, 12, dtype=np.int32).reshape(4, 6)
    reals = [0.5, 0.25, 0.1, 0.9, 0.01, 0.3]
    m, s = zip(*(quantize_multiplier(r) for r in reals))
    out = multiply_by_quantized_multiplier(acc, np.array(m), np.array(s))
    cols = [multiply_by_quantized_multiplier(acc[:, c], m[c], s[c]) for c in range(6)]
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, np.stack(cols, axis=1))


def test_double_and_single_rounding_differ_by_at_most_one():
    rng = np.random.default_rng(7)
    x = rng.integers(-(2**20), 2**20, 20000)
    differences = 0
    for real in (0.3, 0.0123, 1 / 3, 0.987654, 0.00071):
        m, s = quantize_multiplier(real)
        d = multiply_by_quantized_multiplier(x, m, s, "double").astype(np.int64)
        single = multiply_by_quantized_multiplier(x, m, s, "single").astype(np.int64)
        assert np.max(np.abs(d - single)) <= 1
        differences += int(np.sum(d != single))
    assert differences > 0  # they really are different schemes (the right shift rounds a second time)


# --------------------------------------------------------------------------------------------------------------------
# C oracle: the same primitives written in C (gemmlowp / TFLM / CMSIS-NN semantics), compiled with gcc
# --------------------------------------------------------------------------------------------------------------------

ORACLE_C = textwrap.dedent(
    r"""
    /* Written for this test from the TFLite / gemmlowp / CMSIS-NN specifications. Built with -fwrapv, so an
       overflowing int32 multiply wraps as it does on the hardware. */
    #include <math.h>
    #include <stdint.h>
    #include <stdio.h>
    #include <stdlib.h>

    static int32_t srdhm(int32_t a, int32_t b) {            /* gemmlowp SaturatingRoundingDoublingHighMul */
        int overflow = a == b && a == INT32_MIN;
        int64_t ab = (int64_t)a * (int64_t)b;
        int32_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
        int32_t high = (int32_t)((ab + nudge) / ((int64_t)1 << 31));
        return overflow ? INT32_MAX : high;
    }
    static int32_t rdbpot(int32_t x, int e) {                /* gemmlowp RoundingDivideByPOT */
        int32_t mask = (int32_t)(((int64_t)1 << e) - 1);
        int32_t remainder = x & mask;
        int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
        return (x >> e) + (remainder > threshold ? 1 : 0);
    }
    static int32_t mbqm_double(int32_t x, int32_t m, int shift) {   /* TFLM MultiplyByQuantizedMultiplier */
        int left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
        return rdbpot(srdhm(x * (1 << left), m), right);
    }
    static int32_t mbqm_single(int32_t x, int32_t m, int shift) {   /* TFLITE_SINGLE_ROUNDING variant */
        int64_t total_shift = 31 - shift;
        int64_t round = (int64_t)1 << (total_shift - 1);
        int64_t result = x * (int64_t)m + round;
        return (int32_t)(result >> total_shift);
    }
    static int32_t cmsis_high_mult_no_sat(int32_t m1, int32_t m2) {  /* arm_nn_doubling_high_mult_no_sat */
        int64_t v = ((int64_t)1 << 30) + (int64_t)m1 * m2;
        return (int32_t)(v >> 31);
    }
    static int32_t cmsis_divide_pot(int32_t dividend, int32_t exponent) { /* arm_nn_divide_by_power_of_two */
        int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
        int32_t remainder = mask & dividend;
        int32_t result = dividend >> exponent;
        int32_t threshold = mask >> 1;
        if (result < 0) threshold++;
        if (remainder > threshold) result++;
        return result;
    }
    static int32_t cmsis_requantize(int32_t v, int32_t m, int32_t shift) {   /* arm_nn_requantize, default */
        int left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
        return cmsis_divide_pot(cmsis_high_mult_no_sat(v * (1 << left), m), right);
    }
    static int32_t cmsis_requantize_single(int32_t v, int32_t m, int32_t shift) { /* CMSIS_NN_USE_SINGLE_ROUNDING */
        int64_t total_shift = 31 - shift;
        int64_t new_val = v * (int64_t)m;
        int32_t result = (int32_t)(new_val >> (total_shift - 1));
        return (result + 1) >> 1;
    }
    static void quantize_multiplier(double d, int32_t *qm, int32_t *shift) {  /* TFLite QuantizeMultiplier */
        int s = 0;
        if (d == 0.) { *qm = 0; *shift = 0; return; }
        double q = frexp(d, &s);
        int64_t q_fixed = (int64_t)round(q * (double)(1LL << 31));
        if (q_fixed == (1LL << 31)) { q_fixed /= 2; ++s; }
        if (s < -31) { s = 0; q_fixed = 0; }
        *qm = (int32_t)q_fixed; *shift = s;
    }

    int main(int argc, char **argv) {
        FILE *in = fopen(argv[2], "rb"), *out = fopen(argv[3], "wb");
        int64_t n;
        if (!in || !out || fread(&n, 8, 1, in) != 1) return 2;
        if (argv[1][0] == 'r') {          /* requantization: x[n], m[n], shift[n] -> 7 result arrays */
            int32_t *x = malloc(4 * n), *m = malloc(4 * n), *s = malloc(4 * n), *r = malloc(4 * 7 * n);
            if (fread(x, 4, n, in) != (size_t)n || fread(m, 4, n, in) != (size_t)n || fread(s, 4, n, in) != (size_t)n)
                return 3;
            for (int64_t i = 0; i < n; i++) {
                r[i] = srdhm(x[i], m[i]);
                r[n + i] = rdbpot(x[i], (s[i] < 0 ? -s[i] : s[i]) % 32);
                r[2 * n + i] = mbqm_double(x[i], m[i], s[i]);
                r[3 * n + i] = mbqm_single(x[i], m[i], s[i]);
                r[4 * n + i] = cmsis_requantize(x[i], m[i], s[i]);
                r[5 * n + i] = cmsis_requantize_single(x[i], m[i], s[i]);
                r[6 * n + i] = cmsis_divide_pot(x[i], (s[i] < 0 ? -s[i] : s[i]) % 32);
            }
            fwrite(r, 4, 7 * n, out);
        } else {                           /* multipliers: d[n] -> (m, shift)[n] */
            double *d = malloc(8 * n);
            int32_t *r = malloc(8 * n);
            if (fread(d, 8, n, in) != (size_t)n) return 3;
            for (int64_t i = 0; i < n; i++) quantize_multiplier(d[i], &r[2 * i], &r[2 * i + 1]);
            fwrite(r, 4, 2 * n, out);
        }
        fclose(out);
        return 0;
    }
    """
)


@pytest.fixture(scope="module")
def oracle(tmp_path_factory):
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.skip("no C compiler (gcc/cc) on PATH to build the fixed-point oracle")
    d = tmp_path_factory.mktemp("fixedpoint_oracle")
    (d / "oracle.c").write_text(ORACLE_C)
    exe = d / "oracle"
    subprocess.run([gcc, "-O2", "-fwrapv", "-std=c99", "-o", str(exe), str(d / "oracle.c"), "-lm"], check=True)

    def run(mode: str, *arrays: np.ndarray) -> np.ndarray:
        n = len(arrays[0])
        src, dst = d / f"{mode}.in", d / f"{mode}.out"
        src.write_bytes(np.int64(n).tobytes() + b"".join(a.tobytes() for a in arrays))
        subprocess.run([str(exe), mode, str(src), str(dst)], check=True)
        return np.frombuffer(dst.read_bytes(), dtype=np.int32)

    return run


def _edge_int32():
    powers = [2**k for k in range(31)]
    values = [0, 1, -1, INT32_MAX, INT32_MIN, INT32_MIN + 1, INT32_MAX - 1]
    for p in powers:
        values += [p, -p, p - 1, -(p - 1), p + 1, -(p + 1)]
    return np.array(values, dtype=np.int64)


def test_requantization_matches_c_oracle(oracle):
    rng = np.random.default_rng(1234)
    n_random = 100_000
    edges = _edge_int32()
    edges = edges[(edges >= INT32_MIN) & (edges <= INT32_MAX)]
    x = np.concatenate([rng.integers(INT32_MIN, INT32_MAX, n_random, endpoint=True), edges, edges]).astype(np.int32)
    # Accumulator-sized values too (what kernels really feed in), so that left shifts do not always overflow.
    x[: n_random // 2] //= np.int32(2) ** rng.integers(0, 31, n_random // 2).astype(np.int32)
    n = x.size
    m = rng.integers(2**30, 2**31, n, dtype=np.int64)
    m[:200] = 2**30
    m[200:400] = INT32_MAX
    m = m.astype(np.int32)
    shift = rng.integers(-31, 31, n).astype(np.int32)  # -31..30
    shift[:62] = np.arange(-31, 31)
    r = oracle("r", x, m, shift).reshape(7, n)

    np.testing.assert_array_equal(saturating_rounding_doubling_high_mul(x, m), r[0])
    exponent = np.abs(shift.astype(np.int64)) % 32
    np.testing.assert_array_equal(rounding_divide_by_pot(x, exponent), r[1])
    np.testing.assert_array_equal(r[6], r[1])  # CMSIS-NN's divide is gemmlowp's RDBPOT
    double = multiply_by_quantized_multiplier(x, m, shift, rounding="double")
    np.testing.assert_array_equal(double, r[2])
    np.testing.assert_array_equal(double, r[4])  # CMSIS-NN arm_nn_requantize == TFLM (multiplier != INT32_MIN)
    single = multiply_by_quantized_multiplier(x, m, shift, rounding="single")
    np.testing.assert_array_equal(single, r[3])
    # CMSIS-NN's single rounding computes the same value while its 32-bit intermediate does not overflow.
    fits = np.abs(single.astype(np.int64)) < 2**29
    assert fits.sum() > n // 4
    np.testing.assert_array_equal(single[fits], r[5][fits])


def test_srdhm_matches_c_oracle_on_the_full_int32_square(oracle):
    rng = np.random.default_rng(99)
    edges = _edge_int32()
    a = np.concatenate([rng.integers(INT32_MIN, INT32_MAX, 20000, endpoint=True), np.repeat(edges, edges.size)])
    b = np.concatenate([rng.integers(INT32_MIN, INT32_MAX, 20000, endpoint=True), np.tile(edges, edges.size)])
    a, b = a.astype(np.int32), b.astype(np.int32)
    r = oracle("r", a, b, np.zeros_like(a)).reshape(7, a.size)
    np.testing.assert_array_equal(saturating_rounding_doubling_high_mul(a, b), r[0])


def test_quantize_multiplier_matches_c_oracle(oracle):
    rng = np.random.default_rng(5)
    reals = [0.0, 1.0, 0.5, 2.0**-31, 2.0**-32, 2.0**-33, (1 - 2.0**-33), (1 - 2.0**-33) * 2.0**-5, 2.0**30]
    # exact ties of q * 2**31 at every exponent
    reals += [math.ldexp(2**30 + k + 0.5, e - 31) for k in range(0, 2**30, 2**26) for e in (-20, -3, 0, 4)]
    reals += list(np.exp2(rng.uniform(-40, 40, 20000)))
    reals += list(-np.exp2(rng.uniform(-35, 10, 2000)))
    # effective scales built from float32 model scales, the common case
    s = rng.uniform(1e-4, 0.1, (3, 20000)).astype(np.float32).astype(np.float64)
    reals += list(s[0] * s[1] / s[2])
    d = np.array(reals, dtype=np.float64)
    r = oracle("q", d).reshape(-1, 2)
    ours = np.array([quantize_multiplier(v) for v in d.tolist()], dtype=np.int64)
    np.testing.assert_array_equal(ours, r)


# --------------------------------------------------------------------------------------------------------------------
# Per-op parameter derivation
# --------------------------------------------------------------------------------------------------------------------


def test_conv_multipliers_use_double_products_of_float32_scales():
    in_s, out_s = np.float32(0.0235), np.float32(0.0417)
    w = np.array([0.0012, 0.0007, 0.0031], np.float32)
    m, s = conv_multipliers(in_s, w, out_s)
    expected = [quantize_multiplier(float(in_s) * float(wc) / float(out_s)) for wc in w]
    assert list(zip(m.tolist(), s.tolist())) == expected
    assert m.dtype == np.int32 and s.dtype == np.int32
    with pytest.raises(QuantizationError):
        conv_multipliers(0.0, w, out_s)


def test_fully_connected_per_tensor_multiplies_scales_in_float32():
    # Find scales whose float32 product differs from the double product: the two TFLM paths then differ.
    rng = np.random.default_rng(3)
    found = 0
    for _ in range(2000):
        in_s, w_s, out_s = rng.uniform(1e-3, 0.1, 3).astype(np.float32)
        per_tensor = fully_connected_multipliers(in_s, [w_s], out_s)
        via_float = quantize_multiplier(float(np.float32(in_s * w_s)) / float(out_s))
        via_double = quantize_multiplier(float(in_s) * float(w_s) / float(out_s))
        assert (int(per_tensor[0][0]), int(per_tensor[1][0])) == via_float
        found += via_float != via_double
    assert found > 0  # the distinction is real, so the compiler must pick the right path
    m, s = fully_connected_multipliers(0.02, [0.001, 0.002], 0.05)  # per channel: the conv path
    np.testing.assert_array_equal(m, conv_multipliers(0.02, [0.001, 0.002], 0.05)[0])


def test_mul_params():
    assert mul_params(0.5, 0.25, 0.125) == quantize_multiplier(1.0)


def test_add_params_as_tflm():
    p = add_params(0.02, 0.04, 0.05)
    assert p.left_shift == 20
    twice_max = 2 * float(np.float32(0.04))
    assert (p.input1_multiplier, p.input1_shift) == quantize_multiplier(float(np.float32(0.02)) / twice_max)
    assert (p.input2_multiplier, p.input2_shift) == (2**30, 0)  # exactly 0.5 = 2**30 * 2**(0 - 31)
    assert (p.output_multiplier, p.output_shift) == quantize_multiplier(twice_max / ((1 << 20) * float(np.float32(0.05))))
    assert p.input1_shift <= 0 and p.output_shift <= 0
    assert add_params(0.02, 0.04, 0.05, left_shift=15).left_shift == 15
    with pytest.raises(QuantizationError):
        add_params(1.0, 1.0, 1e-9)  # output multiplier >= 1: TFLM rejects it too


def test_softmax_params():
    p = softmax_params(0.1)
    real = float(np.float32(1.0)) * float(np.float32(0.1)) * 2**26
    assert (p.input_multiplier, p.input_left_shift) == quantize_multiplier(real)
    assert p.diff_min == -calculate_input_radius(5, p.input_left_shift)
    assert calculate_input_radius(5, 0) == 31 * 2**26
    assert calculate_input_radius(5, 26) == 31
    assert calculate_input_radius(5, 27) == 15  # floor(15.5)
    # a huge beta*scale is capped at 2**31 - 1
    assert preprocess_softmax_scaling(1.0, 1e6) == quantize_multiplier(2.0**31 - 1)
    assert preprocess_softmax_scaling(1.0, 1e6, single_rounding=True) == quantize_multiplier(2.0**30 - 1)
    with pytest.raises(QuantizationError):
        softmax_params(1e-12)


def test_activation_ranges():
    assert calculate_activation_range_quantized("NONE", 0.1, 3) == (-128, 127)
    assert calculate_activation_range_quantized("RELU", 0.1, 3) == (3, 127)
    assert calculate_activation_range_quantized("RELU", 0.1, -128) == (-128, 127)
    assert calculate_activation_range_quantized("RELU6", 0.05, -128) == (-128, -8)  # 6 / 0.05 = 120
    assert calculate_activation_range_quantized("RELU6", 0.01, -128) == (-128, 127)  # 6 / 0.01 saturates
    assert calculate_activation_range_quantized("relu_n1_to_1", 0.02, 0) == (-50, 50)
    assert calculate_activation_range_quantized("RELU6", 6 / 255, -128, qmin=0, qmax=255) == (0, 127)
    # 1 / float32(0.4) is 2.5 in float32 and rounds away from zero to 3
    assert calculate_activation_range_quantized("RELU_N1_TO_1", np.float32(0.4), 0) == (-3, 3)
    assert calculate_activation_range_quantized("TANH", 0.1, 0) == (-128, 127)
    with pytest.raises(QuantizationError):
        calculate_activation_range_quantized("GELU", 0.1, 0)


# --------------------------------------------------------------------------------------------------------------------
# Reference ops, small self-checks (the TFLM comparison is below)
# --------------------------------------------------------------------------------------------------------------------


def test_fully_connected_reference_on_a_hand_example():
    x = np.array([[10, -20, 30]], np.int8)
    w = np.array([[1, 2, 3], [-1, 0, 1]], np.int8)
    # acc0 = (12)*1 + (-18)*2 + (32)*3 + 5 = 77; acc1 = -12 + 32 - 7 = 13 with input zp -2
    m, s = quantize_multiplier(0.5)
    out = fully_connected_int8(x, -2, w, np.array([5, -7]), m, s, 1)
    assert out.tolist() == [[40, 8]]  # 77 * 0.5 = 38.5 -> 39, 13 * 0.5 = 6.5 -> 7; then + output zero point 1


def test_conv_reference_equals_fully_connected_for_1x1():
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (1, 3, 4, 5)).astype(np.int8)
    w = rng.integers(-127, 128, (6, 1, 1, 5)).astype(np.int8)
    b = rng.integers(-1000, 1000, 6)
    m, s = conv_multipliers(0.05, np.full(6, 0.003, np.float32), 0.1)
    conv = conv2d_int8(x, 3, w, b, m, s, -2)
    fc = fully_connected_int8(x.reshape(-1, 5), 3, w.reshape(6, 5), b, m, s, -2)
    np.testing.assert_array_equal(conv.reshape(-1, 6), fc)
    # a 1x1 depthwise conv is a per-channel scaling: out[..., c] = requantize((x[..., c] - zp) * w[c] + b[c])
    dw_filter = rng.integers(-127, 128, (1, 1, 1, 5)).astype(np.int8)
    dw = depthwise_conv2d_int8(x, 3, dw_filter, b[:5], m[:5], s[:5], -2)
    acc = (x.astype(np.int64) - 3) * dw_filter[0, 0, 0] + b[:5]
    expected = np.clip(multiply_by_quantized_multiplier(acc, m[:5], s[:5]).astype(np.int64) - 2, -128, 127)
    np.testing.assert_array_equal(dw, expected)


# --------------------------------------------------------------------------------------------------------------------
# End to end: converter -> TFLM interpreter vs numpy reference built on these functions
# --------------------------------------------------------------------------------------------------------------------


def _convert(model, rep) -> dict[bool, bytes]:
    """Calibrate once, then let the converter quantize twice: FULLY_CONNECTED per tensor and per channel."""
    import tensorflow as tf
    from tensorflow.lite.python.convert import mlir_quantize

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    conv._experimental_calibrate_only = True
    calibrated = conv.convert()
    return {
        per_channel: mlir_quantize(
            calibrated,
            fully_quantize=True,
            input_data_type=tf.int8,
            output_data_type=tf.int8,
            disable_per_channel_for_dense_layers=not per_channel,
        )
        for per_channel in (False, True)
    }


class _Tensors:
    """Tensor quantization parameters and constant data of a converted model, read through LiteRT."""

    def __init__(self, buf: bytes):
        from ai_edge_litert.interpreter import Interpreter
        from tensorflow.lite.python import schema_py_generated as schema

        self.model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(buf, 0))
        self.interpreter = Interpreter(model_content=buf, experimental_preserve_all_tensors=True)
        self.interpreter.allocate_tensors()
        self.subgraph = self.model.subgraphs[0]
        self.opcodes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in self.model.operatorCodes]

    def scale(self, i):
        return np.asarray(self.subgraph.tensors[i].quantization.scale, np.float32)

    def zp(self, i):
        return int(self.subgraph.tensors[i].quantization.zeroPoint[0])

    def data(self, i):
        return self.interpreter.get_tensor(i)

    def ops(self, code):
        return [op for op in self.subgraph.operators if self.opcodes[op.opcodeIndex] == code]


def _act_name(code: int) -> str:
    return {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6"}[code]


def _padding(code: int) -> str:
    return {0: "SAME", 1: "VALID"}[code]


def _run_tflm(buf: bytes, x: np.ndarray):
    runtime = pytest.importorskip("tflite_micro.python.tflite_micro.runtime", reason="tflite-micro is not installed")
    interp = runtime.Interpreter.from_bytes(buf, intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
    interp.set_input(x, 0)
    interp.invoke()
    return lambda i: interp.GetTensor(i, 0)["tensor_data"]


def _reference_layer(t: _Tensors, op, x: np.ndarray) -> np.ndarray:
    """Run one CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED / ADD op in numpy with parameters from edgeq.quant."""
    from tensorflow.lite.python import schema_py_generated as schema

    code = t.opcodes[op.opcodeIndex]
    out_i = op.outputs[0]
    out_s, out_zp = t.scale(out_i)[0], t.zp(out_i)
    if code == schema.BuiltinOperator.ADD:
        a_i, b_i = op.inputs
        p = add_params(t.scale(a_i)[0], t.scale(b_i)[0], out_s)
        act_min, act_max = calculate_activation_range_quantized(
            _act_name(op.builtinOptions.fusedActivationFunction), out_s, out_zp
        )
        a, b = x
        a = (a.astype(np.int64) - t.zp(a_i)) * (1 << p.left_shift)
        b = (b.astype(np.int64) - t.zp(b_i)) * (1 << p.left_shift)
        a = multiply_by_quantized_multiplier(a, p.input1_multiplier, p.input1_shift)
        b = multiply_by_quantized_multiplier(b, p.input2_multiplier, p.input2_shift)
        total = multiply_by_quantized_multiplier(a.astype(np.int64) + b, p.output_multiplier, p.output_shift)
        return np.clip(total.astype(np.int64) + out_zp, act_min, act_max).astype(np.int8)

    in_i, w_i, b_i = op.inputs
    in_s, in_zp = t.scale(in_i)[0], t.zp(in_i)
    w, bias = t.data(w_i), (None if b_i < 0 else t.data(b_i))
    opts = op.builtinOptions
    act_min, act_max = calculate_activation_range_quantized(_act_name(opts.fusedActivationFunction), out_s, out_zp)
    if code == schema.BuiltinOperator.FULLY_CONNECTED:
        m, s = fully_connected_multipliers(in_s, t.scale(w_i), out_s)
        return fully_connected_int8(x, in_zp, w, bias, m, s, out_zp, act_min, act_max)
    m, s = conv_multipliers(in_s, t.scale(w_i), out_s)
    common = dict(
        stride=(opts.strideH, opts.strideW),
        padding=_padding(opts.padding),
        dilation=(opts.dilationHFactor, opts.dilationWFactor),
        activation_min=act_min,
        activation_max=act_max,
    )
    if code == schema.BuiltinOperator.CONV_2D:
        return conv2d_int8(x, in_zp, w, bias, m, s, out_zp, **common)
    assert code == schema.BuiltinOperator.DEPTHWISE_CONV_2D
    return depthwise_conv2d_int8(x, in_zp, w, bias, m, s, out_zp, depth_multiplier=opts.depthMultiplier, **common)


@pytest.fixture(scope="module")
def tflm_models():
    tf = pytest.importorskip("tensorflow", reason="TensorFlow is needed to build int8 models with the converter")
    pytest.importorskip("ai_edge_litert", reason="ai-edge-litert is needed to read tensor data")
    pytest.importorskip("tflite_micro", reason="tflite-micro (the TFLM interpreter) is not installed")
    import keras

    tf.random.set_seed(0)
    rng = np.random.default_rng(42)
    inp = keras.Input((9, 9, 3), batch_size=1)
    c = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv")(inp)
    d = keras.layers.DepthwiseConv2D(3, strides=2, depth_multiplier=2, activation="relu6", name="dw")(c)
    e = keras.layers.Conv2D(16, 1, name="pointwise")(d)
    skip = keras.layers.Conv2D(16, 3, strides=2, dilation_rate=1, name="skip")(c)
    a = keras.layers.Add()([e, skip])
    f = keras.layers.Flatten()(a)
    h = keras.layers.Dense(24, name="fc1")(f)
    o = keras.layers.Dense(10, name="fc2")(h)
    model = keras.Model(inp, o)
    for layer in model.layers:  # wide, uneven weight ranges so the per-channel scales really differ
        if layer.weights:
            layer.set_weights(
                [(rng.standard_normal(w.shape) * rng.uniform(0.05, 1.0, w.shape[-1])).astype(np.float32) for w in layer.weights]
            )

    def rep():
        for _ in range(16):
            yield [rng.standard_normal((1, 9, 9, 3)).astype(np.float32)]

    return _convert(model, rep)


@pytest.mark.parametrize("per_channel_dense", [False, True], ids=["fc-per-tensor", "fc-per-channel"])
def test_reference_ops_are_bit_exact_with_tflm(tflm_models, per_channel_dense):
    from tensorflow.lite.python import schema_py_generated as schema

    buf = tflm_models[per_channel_dense]
    t = _Tensors(buf)
    fc_ops = t.ops(schema.BuiltinOperator.FULLY_CONNECTED)
    assert {t.scale(op.inputs[1]).size > 1 for op in fc_ops} == {per_channel_dense}
    rng = np.random.default_rng(11 + per_channel_dense)
    checked = 0
    for _ in range(4):
        x = rng.integers(-128, 128, (1, 9, 9, 3)).astype(np.int8)
        tflm = _run_tflm(buf, x)
        ours = {t.subgraph.inputs[0]: x}  # the whole network run on the numpy reference alone
        for op in t.subgraph.operators:
            code = t.opcodes[op.opcodeIndex]
            want = tflm(op.outputs[0])
            if code == schema.BuiltinOperator.RESHAPE:
                ours[op.outputs[0]] = ours[op.inputs[0]].reshape(want.shape)
                continue
            # Layer by layer, from TFLM's own inputs: pinpoints a mismatch to one op.
            if code == schema.BuiltinOperator.ADD:
                layer = _reference_layer(t, op, [tflm(i) for i in op.inputs])
                ours[op.outputs[0]] = _reference_layer(t, op, [ours[i] for i in op.inputs])
            else:
                layer = _reference_layer(t, op, tflm(op.inputs[0]))
                ours[op.outputs[0]] = _reference_layer(t, op, ours[op.inputs[0]])
            assert len(np.unique(want)) > 2  # a meaningful, non-saturated output
            np.testing.assert_array_equal(layer, want, err_msg=f"operator code {code}")
            checked += 1
        output = t.subgraph.outputs[0]
        np.testing.assert_array_equal(ours[output], tflm(output))
    assert checked == 4 * 7  # conv, dw, pointwise, skip, add, fc1, fc2
