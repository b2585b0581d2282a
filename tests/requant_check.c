/* Checks edgeq_requantize_fast, edgeq_requantize_bounded, edgeq_rq_apply, edgeq_rq_pair (edgeq_nn.h) and
 * edgeq_requantize (edgeq_nn_support.c) against TFLM's MultiplyByQuantizedMultiplier written here with 64-bit arithmetic
 * (ref_requantize: SaturatingRoundingDoublingHighMul then RoundingDivideByPOT). With EDGEQ_MUL32_ONLY (ARMv6-M, or
 * forced with -DEDGEQ_MUL32_ONLY=1) all four use edgeq_high_mul's 32-bit multiplies; the first output line says which.
 * With Helium (qemu-m55) also edgeq_requantize_mve, 4 lanes at once; the second output line says whether.
 * Built by tests/test_requantize.py for the host and for qemu-m4 / qemu-m0plus / qemu-m55 with a generated
 * requant_cases.h:
 *   REQ_CASES[i] = {multiplier, shift, limit}: limit = the largest |accumulator| the compiler allows for the bounded
 *   variant on that channel (|x| * 2^left_shift + 2^(right_shift - 1) < 2^31 - 1);  REQ_N_CASES, REQ_SAMPLES (random inputs per case).
 * Inputs per case: edge values (0, +-1, +-limit, powers of two, INT32 extremes for the exact variant), inputs whose
 * product lands on a rounding tie of RoundingDivideByPOT (and one either side), and REQ_SAMPLES pseudo-random inputs
 * over the whole int32 range (fast) and over [-limit, limit] (bounded). Prints one line "checked N bad M" and, for
 * the first mismatches, "bad variant m s x got want"; the caller supplies req_puts. */
#include <stdint.h>

#include "edgeq_nn.h"
#include "requant_cases.h"

void req_puts(const char *s);

static uint32_t rng = 0x2545F491u;
static uint32_t next_u32(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static char *put_i64(char *p, int64_t v)
{
    char buf[24];
    int n = 0;
    uint64_t u = v < 0 ? (uint64_t)(-(v + 1)) + 1u : (uint64_t)v;
    if (v < 0) *p++ = '-';
    do { buf[n++] = (char)('0' + (int)(u % 10u)); u /= 10u; } while (u);
    while (n) *p++ = buf[--n];
    *p++ = ' ';
    return p;
}

static uint32_t checked, bad;

/* TFLM's MultiplyByQuantizedMultiplier written here with 64-bit arithmetic (SaturatingRoundingDoublingHighMul, then
 * RoundingDivideByPOT), independent of edgeq_nn_support.c, which may use 32-bit multiplies only (EDGEQ_MUL32_ONLY) */
static int32_t ref_requantize(int32_t x, int32_t m, int32_t s)
{
    const int32_t left = s > 0 ? s : 0, right = s > 0 ? 0 : -s;
    const int32_t a = (int32_t)((uint32_t)x * ((uint32_t)1 << left));
    int32_t high, mask, remainder, threshold;
    if (a == INT32_MIN && m == INT32_MIN) {
        high = INT32_MAX;
    } else {
        const int64_t ab = (int64_t)a * (int64_t)m;
        const int64_t nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
        high = (int32_t)((ab + nudge) / ((int64_t)1 << 31));
    }
    mask = (int32_t)(((int64_t)1 << right) - 1);
    remainder = high & mask;
    threshold = (mask >> 1) + (high < 0 ? 1 : 0);
    return (high >> right) + (remainder > threshold ? 1 : 0);
}

static void check(int bounded, int32_t m, int32_t s, int32_t x)
{
    int32_t want = ref_requantize(x, m, s);
    const edgeq_rq_channel r = edgeq_rq_channel_of(m, s);
    int32_t got = bounded ? edgeq_requantize_bounded(x, m, s) : edgeq_requantize_fast(x, m, s);
    if (!bounded && got == want) { /* the reference-structured one (srdhm + rdbpot) too */
        got = edgeq_requantize(x, m, s);
        bounded = 3;
    }
#if EDGEQ_USE_MVE
    if (bounded == 3 && got == want) { /* Helium, 4 lanes: x and its neighbours, the same multiplier and shift */
        int32_t lanes[4];
        const int32_t xs[4] = {x, (int32_t)((uint32_t)x + 1u), (int32_t)((uint32_t)x - 1u), (int32_t)~(uint32_t)x};
        int32_t t;
        vst1q_s32(lanes, edgeq_requantize_mve(vld1q_s32(xs), vdupq_n_s32(m), vdupq_n_s32(s)));
        got = lanes[0];
        bounded = 4;
        for (t = 1; t < 4 && got == want; ++t) {
            if (lanes[t] != ref_requantize(xs[t], m, s)) {
                got = lanes[t];
                want = ref_requantize(xs[t], m, s);
            }
        }
    }
#endif
    if (bounded == 1 && got == want) { /* the per-channel split of the bounded variant (edgeq_rq_channel) */
        got = edgeq_rq_apply(x, &r);
        bounded = 2;
    }
    if (bounded == 2 && got == want) { /* two values of one channel (edgeq_rq_pair): x and -x */
        int32_t y0, y1;
        edgeq_rq_pair(x, -x, m, s, &y0, &y1);
        got = y0 != want ? y0 : y1;
        want = y0 != want ? want : ref_requantize(-x, m, s);
        bounded = 5;
    }
    ++checked;
    if (got != want) {
        if (bad < 10u) {
            char line[160];
            char *p = line;
            static const char variant[] = "FBREVP"; /* fast, bounded, rq_apply, exact, MVE, rq_pair */
            *p++ = variant[bounded];
            *p++ = ' ';
            p = put_i64(p, m);
            p = put_i64(p, s);
            p = put_i64(p, x);
            p = put_i64(p, got);
            p = put_i64(p, want);
            *p++ = '\n';
            *p = 0;
            req_puts("bad ");
            req_puts(line);
        }
        ++bad;
    }
}

/* x in [-limit, limit]: checks the bounded variant there, the exact one everywhere */
static void check_both(int32_t m, int32_t s, int32_t limit, int64_t x)
{
    if (x < INT32_MIN || x > INT32_MAX) return;
    check(0, m, s, (int32_t)x);
    if (x >= -(int64_t)limit && x <= (int64_t)limit) check(1, m, s, (int32_t)x);
}

void req_run(void)
{
    int32_t i;
    uint32_t k;
    char line[64];
    char *p;
    req_puts(EDGEQ_MUL32_ONLY ? "mul32 1\n" : "mul32 0\n");
    req_puts(EDGEQ_USE_MVE ? "mve 1\n" : "mve 0\n");
    for (i = 0; i < REQ_N_CASES; ++i) {
        const int32_t m = REQ_CASES[i][0], s = REQ_CASES[i][1], limit = REQ_CASES[i][2];
        const int32_t e = s < 0 ? -s : 0; /* right shift */
        int32_t j;
        static const int64_t fixed[] = {0, 1, -1, 2, -2, 3, -3, INT32_MAX, INT32_MIN, INT32_MIN + 1, INT32_MAX - 1,
                                        1 << 30, -(1 << 30), (1 << 30) - 1, -(1 << 30) + 1};
        for (j = 0; j < (int32_t)(sizeof fixed / sizeof fixed[0]); ++j) check_both(m, s, limit, fixed[j]);
        for (j = -1; j <= 1; ++j) {
            check_both(m, s, limit, (int64_t)limit + j);
            check_both(m, s, limit, -(int64_t)limit + j);
        }
        for (j = 0; j < 31; ++j) {
            check_both(m, s, limit, (int64_t)1 << j);
            check_both(m, s, limit, -((int64_t)1 << j));
            check_both(m, s, limit, ((int64_t)1 << j) - 1);
            check_both(m, s, limit, -((int64_t)1 << j) + 1);
        }
        /* ties of RoundingDivideByPOT: x * m / 2^31 ~ t with t = q * 2^e + 2^(e-1) (both signs), x and its neighbours */
        if (m > 0) {
            for (k = 0; k < 64u; ++k) {
                const int64_t half = e > 0 ? ((int64_t)1 << (e - 1)) : 0;
                int64_t t = (int64_t)(next_u32() % ((uint32_t)limit + 1u)) * m / ((int64_t)1 << 31);
                /* limit < 2^31, so limit + 1 fits in uint32 */
                int64_t x;
                t = ((t >> e) << e) + half;
                if (k & 1u) t = -t;
                x = (t * ((int64_t)1 << 31)) / m;
                if (s > 0) x >>= s;
                for (j = -2; j <= 2; ++j) check_both(m, s, limit, x + j);
            }
        }
        for (k = 0; k < (uint32_t)REQ_SAMPLES; ++k) {
            const int32_t x = (int32_t)next_u32();
            const uint64_t r = ((uint64_t)next_u32() << 32) | next_u32();
            check(0, m, s, x);
            check(1, m, s, (int32_t)((int64_t)(r % (2u * (uint64_t)limit + 1u)) - limit));
        }
    }
    p = line;
    req_puts("checked ");
    p = put_i64(p, checked);
    *p++ = 'b'; *p++ = 'a'; *p++ = 'd'; *p++ = ' ';
    p = put_i64(p, bad);
    *p++ = '\n';
    *p = 0;
    req_puts(line);
}
