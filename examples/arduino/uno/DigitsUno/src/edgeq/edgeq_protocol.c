/*
 * edgeq benchmark protocol, device side. Full description: docs/protocol.md. Plain C99, copied into every firmware
 * project as it is; every command word, message and error text comes from edgeq_protocol_spec.h (EDGEQ_CMD_*,
 * EDGEQ_MSG_*, EDGEQ_E_*), rendered from edgeq/protocol_spec.py, and the model's sizes from edgeq_config.h.
 *
 * Host -> device: ASCII commands, words separated by spaces, terminated by EDGEQ_CMD_TERMINATOR ('%'), at most
 * EDGEQ_CMD_MAX - 1 characters before it. Device -> host: lines ending in CR LF; every command is answered last by
 * "m-ready". Everything is bounds-checked: an oversize load, bad hex, an overlong line or an unknown command is
 * answered with an "e-[...]" line and changes nothing.
 *
 * No printf: numbers are formatted here (newlib-nano and avr-libc printf have no float, and vsnprintf alone costs
 * ~13 KB of flash on Cortex-M).
 */
#include <stdint.h>
#include <string.h>

#include "edgeq_config.h"
#include "edgeq_platform.h"
#include "edgeq_app.h"
#include "edgeq_protocol.h"

/* ---- strings in flash on AVR ------------------------------------------------------------------------------- */
#if defined(__AVR__)
#include <avr/pgmspace.h>
#define EQ_PROGMEM PROGMEM
#define EQ_FSTR(s) PSTR(s)
#define EQ_STREQ(a, lit) (strcmp_P((a), PSTR(lit)) == 0)
static void put_fstr(const char *s)
{
    char c;
    while ((c = (char)pgm_read_byte(s++)) != 0) edgeq_plat_putc(c);
}
#else
#define EQ_PROGMEM
#define EQ_FSTR(s) (s)
#define EQ_STREQ(a, lit) (strcmp((a), (lit)) == 0)
static void put_fstr(const char *s)
{
    while (*s) edgeq_plat_putc(*s++);
}
#endif
#define PUTS(lit) put_fstr(EQ_FSTR(lit))

/* ---- protocol constants (edgeq_protocol_spec.h) ------------------------------------------------------------- */
#define EQ_TERMINATOR EDGEQ_CMD_TERMINATOR
#define EQ_LINE_END EDGEQ_LINE_END
#define EQ_READY EDGEQ_READY
#define EQ_ERR EDGEQ_ERR_PREFIX
#define EQ_BIN_TIMEOUT_MS EDGEQ_BIN_BYTE_TIMEOUT_MS
#define EQ_DEFAULT_WARMUP EDGEQ_INFER_DEFAULT_WARMUP
#define EQ_MAX_TOKENS 4

/* Input buffer ("db buffer"): the model's inputs in their own dtypes, one after the other in graph order
 * (EDGEQ_CFG_IN_SIZES), copied into the runtime before every invoke (the runtime may reuse that memory for
 * activations). The EEMBC `db` path may take the host's data in another
 * format (EDGEQ_CFG_DB_FORMAT) and converts it byte by byte on the way in. */
#define EQ_IN_BYTES ((uint32_t)EDGEQ_CFG_IN_BYTES)
#define EQ_DB_CAPACITY ((uint32_t)EDGEQ_CFG_IN_BYTES * (uint32_t)EDGEQ_CFG_DB_FACTOR)

static uint8_t eq_input[EDGEQ_CFG_IN_BYTES] __attribute__((aligned(8)));
static char eq_line[EDGEQ_CMD_MAX];
static uint8_t eq_line_len;
static uint8_t eq_line_overflow;
static uint32_t eq_db_expected; /* host bytes announced by `db load`, 0 = no load in progress */
static uint32_t eq_db_received; /* host bytes received since */
static uint32_t eq_in_pos;      /* input bytes written since */
#if EDGEQ_CFG_DB_FORMAT == EDGEQ_DB_FLOAT32
static uint8_t eq_f32[4];
static uint8_t eq_f32_n;
#if EDGEQ_CFG_RESULTS_MSE
/* the float input as the host sent it: the anomaly score compares the reconstruction with it (as the MLPerf
 * reference firmware does), not with its quantized copy */
static float eq_in_f32[EDGEQ_CFG_IN_BYTES];
static uint8_t eq_in_f32_valid;
#endif
#endif
static uint32_t eq_in_loaded;   /* input bytes the last completed load wrote (a whole input = EQ_IN_BYTES) */
static uint8_t eq_input_valid;
static uint8_t eq_have_results;
static uint8_t eq_runtime_ok;

/* ---- output helpers ---------------------------------------------------------------------------------------- */
static void put_end(void) { PUTS(EQ_LINE_END); }
static void put_ready(void) { PUTS(EQ_READY EQ_LINE_END); }

static uint8_t fmt_u32(char *buf, uint32_t v) /* decimal digits, no terminator; returns the length */
{
    char tmp[10];
    uint8_t n = 0, i;
    do {
        tmp[n++] = (char)('0' + (v % 10u));
        v /= 10u;
    } while (v);
    for (i = 0; i < n; i++) buf[i] = tmp[n - 1 - i];
    return n;
}

static void put_u32(uint32_t v)
{
    char buf[10];
    uint8_t n = fmt_u32(buf, v), i;
    for (i = 0; i < n; i++) edgeq_plat_putc(buf[i]);
}

static void put_hex4(uint8_t v) { edgeq_plat_putc((char)(v < 10 ? '0' + v : 'a' + v - 10)); }
static void put_hex8(uint8_t v)
{
    put_hex4((uint8_t)(v >> 4));
    put_hex4((uint8_t)(v & 15u));
}
static void put_hex32(uint32_t v)
{
    int8_t s;
    for (s = 24; s >= 0; s -= 8) put_hex8((uint8_t)(v >> s));
}

#if !EDGEQ_CFG_RESULTS_TRUNCATE
/* v with three decimals exactly as printf("%0.3f", v) prints it: the float's exact value rounded to nearest, ties to
 * even (v * 1000 is exact in a 64-bit double: 24 + 10 mantissa bits; AVR's double is 32-bit, so there it is
 * v * 1000 rounded once more). The MLPerf runner float()-parses these. */
static void put_fixed3(float v)
{
    uint32_t m, r;
    double x, f;
    if (v != v) {
        PUTS("nan");
        return;
    }
    if (v < 0.0f) {
        edgeq_plat_putc('-');
        v = -v;
    }
    if (v > 4000000.0f) v = 4000000.0f;
    x = (double)v * 1000.0;
    m = (uint32_t)x;
    f = x - (double)m;
    if (f > 0.5 || (f == 0.5 && (m & 1u))) m++;
    r = m % 1000u;
    put_u32(m / 1000u);
    edgeq_plat_putc('.');
    edgeq_plat_putc((char)('0' + r / 100u));
    edgeq_plat_putc((char)('0' + (r / 10u) % 10u));
    edgeq_plat_putc((char)('0' + r % 10u));
}
#endif

#if EDGEQ_CFG_RESULTS_TRUNCATE
static void put_i32(int32_t v)
{
    if (v < 0) {
        edgeq_plat_putc('-');
        put_u32((uint32_t)(-v));
    } else {
        put_u32((uint32_t)v);
    }
}

/* the kws01 reference firmware's score format, for printf without %f: "0.%d" (int)(c*10), "%d" (int)(c*100) % 10,
 * "%d" (int)(c*1000) % 10 -- truncated, in float arithmetic, digit by digit (identical here so the runner sees
 * the same numbers) */
static void put_kws_digits(float c)
{
    PUTS("0.");
    put_i32((int32_t)(c * 10));
    put_i32((int32_t)(c * 100) % 10);
    put_i32((int32_t)(c * 1000) % 10);
}
#endif

static void err_begin(void) { PUTS(EQ_ERR); }
static void err_end(void) { PUTS(EDGEQ_ERR_SUFFIX EQ_LINE_END); }

static void put_ram_str(const char *s)
{
    while (*s) edgeq_plat_putc(*s++);
}

/* ---- CRC-32/IEEE (zlib's), bitwise: no table in flash ------------------------------------------------------ */
static uint32_t crc32_update(uint32_t crc, const uint8_t *p, uint32_t n)
{
    uint8_t k;
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        for (k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

/* ---- parsing ------------------------------------------------------------------------------------------------ */
static int parse_u32(const char *s, uint32_t *out) /* 1..9 decimal digits, nothing else */
{
    uint32_t v = 0;
    uint8_t n = 0;
    if (!s || !*s) return 0;
    for (; *s; s++, n++) {
        if (*s < '0' || *s > '9' || n >= 9) return 0;
        v = v * 10u + (uint32_t)(*s - '0');
    }
    *out = v;
    return 1;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int parse_hex32(const char *s, uint32_t *out) /* exactly 8 hex digits */
{
    uint32_t v = 0;
    uint8_t n;
    if (!s) return 0;
    for (n = 0; n < 8; n++) {
        int h = hexval(s[n]);
        if (h < 0) return 0;
        v = (v << 4) | (uint32_t)h;
    }
    if (s[8] != 0) return 0;
    *out = v;
    return 1;
}

/* ---- model I/O ---------------------------------------------------------------------------------------------- */
static const uint32_t eq_in_sizes[EDGEQ_CFG_NUM_INPUTS] = EDGEQ_CFG_IN_SIZES;
static const uint32_t eq_out_sizes[EDGEQ_CFG_NUM_OUTPUTS] = EDGEQ_CFG_OUT_SIZES;

static void copy_inputs(void) /* the db buffer -> each of the runtime's inputs */
{
    uint32_t k, off = 0;
    for (k = 0; k < (uint32_t)EDGEQ_CFG_NUM_INPUTS; k++) {
        memcpy(edgeq_app_input(k), eq_input + off, eq_in_sizes[k]);
        off += eq_in_sizes[k];
    }
}

static int run_once(void)
{
    copy_inputs();
    return edgeq_app_invoke();
}

static float out_value(uint32_t i) /* element i of output 0, dequantized */
{
    const uint8_t *o = edgeq_app_output(0);
#if EDGEQ_CFG_OUT_DTYPE == EDGEQ_DT_FLOAT32
    float f;
    memcpy(&f, o + 4u * i, 4);
    return f;
#else
#if EDGEQ_CFG_OUT_DTYPE == EDGEQ_DT_INT8
    int32_t q = (int8_t)o[i];
#elif EDGEQ_CFG_OUT_DTYPE == EDGEQ_DT_UINT8
    int32_t q = o[i];
#elif EDGEQ_CFG_OUT_DTYPE == EDGEQ_DT_INT16
    int32_t q = (int16_t)((uint16_t)o[2u * i] | ((uint16_t)o[2u * i + 1u] << 8));
#elif EDGEQ_CFG_OUT_DTYPE == EDGEQ_DT_INT32
    int32_t q = (int32_t)((uint32_t)o[4u * i] | ((uint32_t)o[4u * i + 1u] << 8) | ((uint32_t)o[4u * i + 2u] << 16) |
                          ((uint32_t)o[4u * i + 3u] << 24));
#else
    int32_t q = o[i];
#endif
#if EDGEQ_CFG_OUT_QUANTIZED
    return EDGEQ_CFG_OUT_SCALE * (float)(q - (int32_t)EDGEQ_CFG_OUT_ZERO_POINT);
#else
    return (float)q;
#endif
#endif
}

#if EDGEQ_CFG_RESULTS_MSE
static float in_value(uint32_t i)
{
#if EDGEQ_CFG_DB_FORMAT == EDGEQ_DB_FLOAT32
    if (eq_in_f32_valid) return eq_in_f32[i];
#endif
#if EDGEQ_CFG_IN_DTYPE == EDGEQ_DT_FLOAT32
    float f;
    memcpy(&f, eq_input + 4u * i, 4);
    return f;
#else
#if EDGEQ_CFG_IN_DTYPE == EDGEQ_DT_INT8
    int32_t q = (int8_t)eq_input[i];
#elif EDGEQ_CFG_IN_DTYPE == EDGEQ_DT_INT16
    int32_t q = (int16_t)((uint16_t)eq_input[2u * i] | ((uint16_t)eq_input[2u * i + 1u] << 8));
#else
    int32_t q = eq_input[i];
#endif
#if EDGEQ_CFG_IN_QUANTIZED
    return EDGEQ_CFG_IN_SCALE * (float)(q - (int32_t)EDGEQ_CFG_IN_ZERO_POINT);
#else
    return (float)q;
#endif
#endif
}
#endif

#if EDGEQ_CFG_RESULTS_MSE
/* The anomaly score as the ad01 reference firmware computes it (calculate_result): float sum in index order of
 * (dequantized output - input)^2, divided by the count. The input is the float the host sent when it came through
 * `db` as float32, else the dequantized input. No fused multiply-add, so the host can repeat it bit for bit. */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("fp-contract=off")))
#endif
static float anomaly_score(void)
{
    uint32_t i;
    float acc = 0.0f;
    for (i = 0; i < (uint32_t)EDGEQ_CFG_OUT_COUNT; i++) {
        float d = out_value(i) - in_value(i);
        acc += d * d;
    }
    return acc / (float)EDGEQ_CFG_OUT_COUNT;
}
#endif

/* m-results-[...] as the MLPerf reference firmware prints it: every output dequantized (float (q - zp) * scale)
 * with "%0.3f" (kws01: the reference's truncated "0.%d%d%d" digits), or for an autoencoder (output shaped like the
 * input) the anomaly score. */
static void put_results(void)
{
    PUTS(EDGEQ_MSG_RESULTS);
#if EDGEQ_CFG_RESULTS_MSE
    put_fixed3(anomaly_score());
#else
    {
        uint32_t i;
        for (i = 0; i < (uint32_t)EDGEQ_CFG_OUT_COUNT; i++) {
            if (i) edgeq_plat_putc(',');
#if EDGEQ_CFG_RESULTS_TRUNCATE
            put_kws_digits(out_value(i));
#else
            put_fixed3(out_value(i));
#endif
        }
    }
#endif
    PUTS("]" EQ_LINE_END);
}

/* m-out-<hex>-<crc32>: the raw bytes of every output, one after the other in graph order (EDGEQ_CFG_OUT_SIZES),
 * for bit-exact comparison on the host */
static void put_out(void)
{
    uint32_t i, k, crc = 0;
    PUTS(EDGEQ_MSG_OUT);
    for (k = 0; k < (uint32_t)EDGEQ_CFG_NUM_OUTPUTS; k++) {
        const uint8_t *o = edgeq_app_output(k);
        for (i = 0; i < eq_out_sizes[k]; i++) put_hex8(o[i]);
        crc = crc32_update(crc, o, eq_out_sizes[k]);
    }
    edgeq_plat_putc('-');
    put_hex32(crc);
    put_end();
}

/* th_timestamp(): performance mode prints m-lap-us-<us>; energy mode prints nothing and pulses the timestamp pin
 * low then high (the power monitor records the edges; the pin idles high, as on the reference board) */
static void put_lap(void)
{
#if EDGEQ_CFG_ENERGY_MODE
    uint32_t t0;
    edgeq_plat_timestamp_pin(0);
    t0 = edgeq_plat_us();
    while ((uint32_t)(edgeq_plat_us() - t0) < 2u) {
    }
    edgeq_plat_timestamp_pin(1);
#else
    PUTS(EDGEQ_MSG_LAP_US);
    put_u32(edgeq_plat_us());
    put_end();
#endif
}

static int need_model(void)
{
    if (!eq_runtime_ok) {
        err_begin();
        PUTS(EDGEQ_E_NO_RUNTIME);
        err_end();
        return 0;
    }
    return 1;
}

static int need_input(void)
{
    if (!eq_input_valid) {
        err_begin();
        PUTS(EDGEQ_E_NO_INPUT);
        err_end();
        return 0;
    }
    if (eq_in_loaded != EQ_IN_BYTES) { /* a short `db load`: never run on the rest of an older input */
        err_begin();
        PUTS(EDGEQ_E_INCOMPLETE_INPUT);
        put_u32(eq_in_loaded * (uint32_t)EDGEQ_CFG_DB_FACTOR);
        PUTS(EDGEQ_E_INCOMPLETE_INPUT_OF);
        put_u32(EQ_DB_CAPACITY);
        PUTS(EDGEQ_E_INCOMPLETE_INPUT_TAIL);
        err_end();
        return 0;
    }
    return 1;
}

static void err_invoke(int rc)
{
    err_begin();
    PUTS(EDGEQ_E_INVOKE_FAILED);
    if (rc < 0) {
        edgeq_plat_putc('-');
        put_u32((uint32_t)(-(int32_t)rc));
    } else {
        put_u32((uint32_t)rc);
    }
    err_end();
}

/* ---- EEMBC commands ----------------------------------------------------------------------------------------- */
static void db_put(uint8_t b) /* one host byte of a `db` load, converted to the input dtype */
{
#if EDGEQ_CFG_DB_FORMAT == EDGEQ_DB_UINT8
    eq_input[eq_in_pos++] = (uint8_t)(b ^ 0x80u); /* uint8 pixel -> int8 (q = u8 - 128) */
#elif EDGEQ_CFG_DB_FORMAT == EDGEQ_DB_FLOAT32
    eq_f32[eq_f32_n++] = b;
    if (eq_f32_n == 4) {
        float x, r;
        int32_t q;
        memcpy(&x, eq_f32, 4);
        eq_f32_n = 0;
#if EDGEQ_CFG_RESULTS_MSE
        eq_in_f32[eq_in_pos] = x;
#endif
        /* QuantizeFloatToInt8 of the reference: round(x / scale) + zp (float division, C round(): half away from
         * zero), clamped to int8. Done exactly without libm: r - trunc(r) is exact in float. */
        r = x / EDGEQ_CFG_IN_SCALE;
        if (r != r) r = 0.0f;
        if (r > 1.0e6f) r = 1.0e6f;
        if (r < -1.0e6f) r = -1.0e6f;
        q = (int32_t)r;
        if (r - (float)q >= 0.5f) q++;
        if (r - (float)q <= -0.5f) q--;
        q += (int32_t)EDGEQ_CFG_IN_ZERO_POINT;
        if (q < -128) q = -128;
        if (q > 127) q = 127;
        eq_input[eq_in_pos++] = (uint8_t)(int8_t)q;
    }
#else
    eq_input[eq_in_pos++] = b;
#endif
    eq_db_received++;
}

static void cmd_db(char **tok, uint8_t ntok)
{
    uint32_t n, i, len;
    const char *hex;
    if (ntok < 2) {
        err_begin();
        PUTS(EDGEQ_E_DB_USAGE);
        err_end();
        return;
    }
    if (EQ_STREQ(tok[1], "load")) {
        if (ntok < 3) {
            err_begin();
            PUTS(EDGEQ_E_DB_LOAD_COUNT);
            err_end();
            return;
        }
        if (!parse_u32(tok[2], &n)) {
            err_begin();
            PUTS(EDGEQ_E_BAD_NUMBER);
            put_ram_str(tok[2]);
            PUTS("'");
            err_end();
            return;
        }
        if (n == 0) {
            err_begin();
            PUTS(EDGEQ_E_DB_LOAD_ZERO);
            err_end();
            return;
        }
        if (n > EQ_DB_CAPACITY) {
            err_begin();
            PUTS(EDGEQ_CMD_DB " load ");
            put_u32(n);
            PUTS(EDGEQ_E_TOO_LARGE);
            put_u32(EQ_DB_CAPACITY);
            PUTS(EDGEQ_E_TOO_LARGE_TAIL);
            err_end();
            return;
        }
        if (n % (uint32_t)EDGEQ_CFG_DB_FACTOR) {
            err_begin();
            PUTS(EDGEQ_CMD_DB " load ");
            put_u32(n);
            PUTS(EDGEQ_E_DB_LOAD_PARTIAL);
            err_end();
            return;
        }
        eq_db_expected = n;
        eq_db_received = 0;
        eq_in_pos = 0;
#if EDGEQ_CFG_DB_FORMAT == EDGEQ_DB_FLOAT32
        eq_f32_n = 0;
#endif
        eq_input_valid = 0;
#if EDGEQ_CFG_DB_FORMAT == EDGEQ_DB_FLOAT32 && EDGEQ_CFG_RESULTS_MSE
        eq_in_f32_valid = 0;
#endif
        PUTS(EDGEQ_MSG_EXPECTING);
        put_u32(n);
        PUTS(EDGEQ_MSG_EXPECTING_TAIL EQ_LINE_END);
        return;
    }
    if (EQ_STREQ(tok[1], "print")) {
        for (i = 0; i < eq_in_pos; i++) {
            if (i % 8u == 0) PUTS(EDGEQ_MSG_BUFFER);
            edgeq_plat_putc('-');
            put_hex8(eq_input[i]);
            if (i % 8u == 7u || i + 1 == eq_in_pos) put_end();
        }
        return;
    }
    /* db <hex> */
    if (ntok > 2) {
        err_begin();
        PUTS(EDGEQ_E_DB_ONE_WORD);
        err_end();
        return;
    }
    if (eq_db_expected == 0) {
        err_begin();
        PUTS(EDGEQ_E_DB_NOT_LOADING);
        err_end();
        return;
    }
    hex = tok[1];
    len = (uint32_t)strlen(hex);
    if (len & 1u) {
        err_begin();
        PUTS(EDGEQ_E_HEX_ODD);
        err_end();
        return;
    }
    for (i = 0; i < len; i += 2) {
        if (hexval(hex[i]) < 0 || hexval(hex[i + 1]) < 0) {
            err_begin();
            PUTS(EDGEQ_E_HEX_INVALID);
            edgeq_plat_putc(hex[i]);
            edgeq_plat_putc(hex[i + 1]);
            PUTS("'");
            err_end();
            return;
        }
    }
    if (len / 2u > eq_db_expected - eq_db_received) {
        err_begin();
        put_u32(len / 2u);
        PUTS(EDGEQ_E_DB_TOO_MANY);
        put_u32(eq_db_expected - eq_db_received);
        PUTS(EDGEQ_E_DB_TOO_MANY_TAIL);
        err_end();
        return;
    }
    for (i = 0; i < len; i += 2) db_put((uint8_t)((hexval(hex[i]) << 4) | hexval(hex[i + 1])));
    if (eq_db_received == eq_db_expected) {
        eq_db_expected = 0;
        eq_input_valid = 1;
        eq_in_loaded = eq_in_pos;
#if EDGEQ_CFG_DB_FORMAT == EDGEQ_DB_FLOAT32 && EDGEQ_CFG_RESULTS_MSE
        eq_in_f32_valid = 1;
#endif
        PUTS(EDGEQ_MSG_LOAD_DONE EQ_LINE_END);
    }
}

static void cmd_infer(char **tok, uint8_t ntok)
{
    uint32_t n = 1, w = EQ_DEFAULT_WARMUP, i;
    int rc;
    if (ntok >= 2 && (!parse_u32(tok[1], &n) || n == 0)) {
        err_begin();
        PUTS(EDGEQ_E_INFER_ITERATIONS);
        err_end();
        return;
    }
    if (ntok >= 3 && !parse_u32(tok[2], &w)) {
        err_begin();
        PUTS(EDGEQ_E_INFER_WARMUP);
        err_end();
        return;
    }
    if (!need_model() || !need_input()) return;
    PUTS(EDGEQ_MSG_WARMUP_START);
    put_u32(w);
    put_end();
    for (i = 0; i < w; i++) {
        rc = run_once();
        if (rc) {
            err_invoke(rc);
            return;
        }
    }
    PUTS(EDGEQ_MSG_WARMUP_DONE EQ_LINE_END);
    PUTS(EDGEQ_MSG_INFER_START);
    put_u32(n);
    put_end();
    edgeq_plat_flush();
    put_lap();
    for (i = 0; i < n; i++) {
        rc = run_once(); /* the input copy is inside the lap (a memcpy: negligible next to the model) */
        if (rc) break;
    }
    put_lap();
    if (rc) {
        err_invoke(rc);
        return;
    }
    PUTS(EDGEQ_MSG_INFER_DONE EQ_LINE_END);
    eq_have_results = 1;
    put_results();
    put_out();
}

static void cmd_profile(void)
{
    PUTS(EDGEQ_MSG_PROFILE EDGEQ_MLPERF_PROFILE "]" EQ_LINE_END);
    PUTS(EDGEQ_MSG_MODEL EDGEQ_CFG_MLPERF_ID "]" EQ_LINE_END);
}

static void cmd_help(void)
{
    PUTS("edgeq " EDGEQ_CFG_MODEL " on " EDGEQ_CFG_BOARD ", protocol " EDGEQ_PROTOCOL_VERSION_STR EQ_LINE_END);
    PUTS("name                 device name" EQ_LINE_END);
    PUTS("profile              benchmark profile and model id" EQ_LINE_END);
    PUTS("timestamp            m-lap-us-<microseconds>" EQ_LINE_END);
    PUTS("db load N            expect N input bytes" EQ_LINE_END);
    PUTS("db HEX               input bytes as hex (31 per command)" EQ_LINE_END);
    PUTS("db print             dump the input buffer" EQ_LINE_END);
    PUTS("infer N [W]          W warm-ups (default 10), N timed inferences, results" EQ_LINE_END);
    PUTS("results              results of the last inference" EQ_LINE_END);
    PUTS("edgeq-info           one JSON line about model, board and timer" EQ_LINE_END);
    PUTS("edgeq-load N CRC     binary load of N bytes with their CRC-32" EQ_LINE_END);
    PUTS("edgeq-run W          W warm-ups, one timed inference: m-t-<ticks>-<crc>, m-out-<hex>-<crc>" EQ_LINE_END);
}

/* ---- edgeq extensions --------------------------------------------------------------------------------------- */
static const char eq_info_head[] EQ_PROGMEM = EDGEQ_CFG_INFO_JSON_HEAD;

static void put_opt_u32(uint32_t v)
{
    if (v == EDGEQ_UNKNOWN)
        PUTS("null");
    else
        put_u32(v);
}

static void cmd_info(void)
{
    PUTS(EDGEQ_MSG_INFO);
    put_fstr(eq_info_head);
    PUTS(",\"arena_bytes\":");
    put_u32(edgeq_app_arena_bytes());
    PUTS(",\"stack_used\":");
    put_opt_u32(edgeq_plat_stack_used());
    PUTS(",\"stack_bytes\":");
    put_opt_u32(edgeq_plat_stack_size());
    PUTS(",\"runtime_ok\":");
    if (eq_runtime_ok)
        PUTS("true");
    else
        PUTS("false");
    PUTS("}" EQ_LINE_END);
}

static void cmd_load(char **tok, uint8_t ntok)
{
    uint32_t n, crc, got = 0, i;
    if (ntok != 3 || !parse_u32(tok[1], &n) || n == 0 || !parse_hex32(tok[2], &crc)) {
        err_begin();
        PUTS(EDGEQ_E_LOAD_USAGE);
        err_end();
        return;
    }
    if (n > EQ_IN_BYTES) {
        err_begin();
        PUTS(EDGEQ_CMD_LOAD " ");
        put_u32(n);
        PUTS(EDGEQ_E_TOO_LARGE);
        put_u32(EQ_IN_BYTES);
        PUTS(EDGEQ_E_TOO_LARGE_TAIL);
        err_end();
        return;
    }
    eq_db_expected = 0;
    eq_input_valid = 0;
#if EDGEQ_CFG_DB_FORMAT == EDGEQ_DB_FLOAT32 && EDGEQ_CFG_RESULTS_MSE
    eq_in_f32_valid = 0; /* raw int8 bytes: the score falls back to the dequantized input */
#endif
    PUTS(EDGEQ_MSG_BIN_READY EQ_LINE_END);
    edgeq_plat_flush();
    for (i = 0; i < n; i++) {
        int c = edgeq_plat_getc(EQ_BIN_TIMEOUT_MS);
        if (c < 0) {
            PUTS(EQ_ERR EDGEQ_E_TIMEOUT EDGEQ_ERR_SUFFIX EQ_LINE_END);
            return;
        }
        eq_input[i] = (uint8_t)c;
    }
    got = crc32_update(0, eq_input, n);
    if (got != crc) {
        PUTS(EQ_ERR EDGEQ_E_CRC EDGEQ_ERR_SUFFIX EQ_LINE_END);
        return;
    }
    eq_in_pos = n;
    eq_in_loaded = n;
    eq_input_valid = 1;
    PUTS(EDGEQ_MSG_LOAD_DONE EQ_LINE_END);
}

static void cmd_run(char **tok, uint8_t ntok)
{
    uint32_t w = 0, i, t0, t1, dt;
    char digits[10];
    uint8_t nd, k;
    int rc;
    if (ntok > 2 || (ntok == 2 && !parse_u32(tok[1], &w))) {
        err_begin();
        PUTS(EDGEQ_E_RUN_USAGE);
        err_end();
        return;
    }
    if (!need_model() || !need_input()) return;
    for (i = 0; i < w; i++) {
        rc = run_once();
        if (rc) {
            err_invoke(rc);
            return;
        }
    }
    copy_inputs();
    t0 = edgeq_plat_ticks();
    rc = edgeq_app_invoke();
    t1 = edgeq_plat_ticks();
    if (rc) {
        err_invoke(rc);
        return;
    }
    dt = t1 - t0; /* modulo 2^32: right across a wrap */
    eq_have_results = 1;
    nd = fmt_u32(digits, dt);
    PUTS(EDGEQ_MSG_TICKS);
    for (k = 0; k < nd; k++) edgeq_plat_putc(digits[k]);
    edgeq_plat_putc('-');
    put_hex32(crc32_update(0, (const uint8_t *)digits, nd));
    put_end();
    put_out();
}

/* ---- dispatch ----------------------------------------------------------------------------------------------- */
static void dispatch(char *line)
{
    char *tok[EQ_MAX_TOKENS];
    uint8_t ntok = 0;
    char *p = line;
    while (*p) {
        while (*p == ' ') *p++ = 0;
        if (!*p) break;
        if (ntok == EQ_MAX_TOKENS) {
            err_begin();
            PUTS(EDGEQ_E_TOO_MANY_WORDS);
            err_end();
            return;
        }
        tok[ntok++] = p;
        while (*p && *p != ' ') p++;
    }
    if (ntok == 0) return; /* an empty command: only m-ready (handy to resynchronise) */
    if (EQ_STREQ(tok[0], EDGEQ_CMD_NAME)) {
        PUTS(EDGEQ_MSG_NAME EDGEQ_DUT_NAME "]" EQ_LINE_END);
    } else if (EQ_STREQ(tok[0], EDGEQ_CMD_PROFILE)) {
        cmd_profile();
    } else if (EQ_STREQ(tok[0], EDGEQ_CMD_HELP)) {
        cmd_help();
    } else if (EQ_STREQ(tok[0], EDGEQ_CMD_TIMESTAMP)) {
        put_lap();
    } else if (EQ_STREQ(tok[0], EDGEQ_CMD_DB)) {
        cmd_db(tok, ntok);
    } else if (EQ_STREQ(tok[0], EDGEQ_CMD_INFER)) {
        cmd_infer(tok, ntok);
    } else if (EQ_STREQ(tok[0], EDGEQ_CMD_RESULTS)) {
        if (!eq_have_results) {
            err_begin();
            PUTS(EDGEQ_E_NO_RESULTS);
            err_end();
        } else {
            put_results();
            put_out();
        }
    } else if (EQ_STREQ(tok[0], EDGEQ_CMD_INFO)) {
        cmd_info();
    } else if (EQ_STREQ(tok[0], EDGEQ_CMD_LOAD)) {
        cmd_load(tok, ntok);
    } else if (EQ_STREQ(tok[0], EDGEQ_CMD_RUN)) {
        cmd_run(tok, ntok);
    } else {
        err_begin();
        PUTS(EDGEQ_E_UNKNOWN_COMMAND);
        put_ram_str(tok[0]);
        err_end();
    }
}

void edgeq_proto_feed(int c)
{
    if (c < 0 || c == '\r' || c == '\n' || c == 0) return;
    if (c == EQ_TERMINATOR) {
        if (eq_line_overflow) {
            err_begin();
            PUTS(EDGEQ_E_COMMAND_TOO_LONG);
            put_u32(EDGEQ_CMD_MAX - 1);
            PUTS(EDGEQ_E_COMMAND_TOO_LONG_TAIL);
            err_end();
        } else {
            eq_line[eq_line_len] = 0;
            dispatch(eq_line);
        }
        eq_line_len = 0;
        eq_line_overflow = 0;
        put_ready();
        edgeq_plat_flush();
        return;
    }
    if (eq_line_len < EDGEQ_CMD_MAX - 1)
        eq_line[eq_line_len++] = (char)c;
    else
        eq_line_overflow = 1;
}

void edgeq_proto_boot(void)
{
    PUTS(EDGEQ_MSG_BOOT EDGEQ_DUT_NAME " " EDGEQ_CFG_MODEL " " EDGEQ_CFG_BACKEND " " EDGEQ_CFG_BOARD "]" EQ_LINE_END);
    eq_runtime_ok = edgeq_app_init() == 0;
    if (!eq_runtime_ok) {
        err_begin();
        PUTS(EDGEQ_E_INIT_FAILED);
        err_end();
    }
#if EDGEQ_CFG_ENERGY_MODE
    PUTS(EDGEQ_MSG_TIMESTAMP_MODE_ENERGY EQ_LINE_END);
#else
    PUTS(EDGEQ_MSG_TIMESTAMP_MODE EQ_LINE_END);
#endif
    put_lap();
    PUTS(EDGEQ_MSG_INIT_DONE EQ_LINE_END);
    put_ready();
    edgeq_plat_flush();
}
