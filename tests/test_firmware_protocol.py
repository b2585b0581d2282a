"""The device side of the benchmark protocol (firmware_templates/protocol), compiled for the host with a fake model
and a stdin/stdout platform layer, under AddressSanitizer + UBSan: every command, every error path, the input
formats, and random abuse. Fast (no emulator); the same C runs on QEMU and simavr in test_firmware_qemu/uno."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from edgeq import protocol_spec as spec

HOST_MAIN = r"""
#include <poll.h>
#include <stdio.h>
#include <unistd.h>
#include "edgeq_app.h"
#include "edgeq_config.h"
#include "edgeq_platform.h"
#include "edgeq_protocol.h"

static uint32_t tick;
void edgeq_plat_init(void) {}
void edgeq_plat_putc(char c) { putchar(c); }
void edgeq_plat_flush(void) { fflush(stdout); }
int edgeq_plat_getc(uint32_t timeout_ms)
{
    struct pollfd p = {0, POLLIN, 0};
    unsigned char c;
    fflush(stdout);
    if (poll(&p, 1, timeout_ms == EDGEQ_FOREVER ? -1 : (int)timeout_ms) <= 0) return -1;
    if (read(0, &c, 1) != 1) return -2; /* end of input */
    return c;
}
uint32_t edgeq_plat_ticks(void) { return tick += 1000u; }
uint32_t edgeq_plat_us(void) { return (tick += 10u) / 10u; }
uint32_t edgeq_plat_stack_used(void) { return EDGEQ_UNKNOWN; }
uint32_t edgeq_plat_stack_size(void) { return 4096u; }
void edgeq_plat_timestamp_pin(int level) { fprintf(stderr, "PIN%d\n", level); }

/* the fake runtime keeps its inputs (and outputs) back to back, so output byte i = (all inputs)[i] ^ 0x5A */
static uint8_t in[EDGEQ_CFG_IN_BYTES], out[EDGEQ_CFG_OUT_BYTES];
static const uint32_t in_sizes[] = EDGEQ_CFG_IN_SIZES, out_sizes[] = EDGEQ_CFG_OUT_SIZES;
int edgeq_app_init(void) { return 0; }
uint8_t *edgeq_app_input(uint32_t k) { uint32_t o = 0; while (k--) o += in_sizes[k]; return in + o; }
const uint8_t *edgeq_app_output(uint32_t k) { uint32_t o = 0; while (k--) o += out_sizes[k]; return out + o; }
int edgeq_app_invoke(void)
{
    unsigned i;
    for (i = 0; i < sizeof out; i++) out[i] = (uint8_t)(in[i % sizeof in] ^ 0x5Au);
    return 0;
}
uint32_t edgeq_app_arena_bytes(void) { return 1234u; }

int main(void)
{
    edgeq_plat_init();
    edgeq_proto_boot();
    for (;;) {
        int c = edgeq_plat_getc(EDGEQ_FOREVER);
        if (c == -2) break;
        edgeq_proto_feed(c);
    }
    fflush(stdout);
    return 0;
}
"""

IN_SCALE, IN_ZP = 0.5, 3


def _io(shape, dtype="int8", scale=0.5, zp=3):
    n = int(np.prod(shape))
    return {"name": "t", "shape": shape, "dtype": dtype, "scale": scale, "zero_point": zp, "bytes": n, "count": n,
            "quantized": True}


VARIANTS = {
    # name: (model name, inputs, outputs, db format)
    "raw": ("kws_fake", [_io([1, 40])], [_io([1, 10], scale=0.00390625, zp=-128)], "raw"),
    "f32": ("ad01_fake", [_io([1, 40])], [_io([1, 40], scale=0.25, zp=-5)], "mlperf"),
    "u8": ("vww_fake", [_io([1, 40], scale=1 / 255, zp=-128)], [_io([1, 2], scale=0.00390625, zp=-128)], "mlperf"),
    "multi": ("two_io_fake", [_io([1, 24]), _io([2, 8])], [_io([1, 10]), _io([1, 3])], "raw"),
    "energy": ("kws_fake", [_io([1, 40])], [_io([1, 10], scale=0.00390625, zp=-128)], "raw"),
}


@pytest.fixture(scope="module")
def protocol_bins(tmp_path_factory):
    cc = shutil.which("gcc") or shutil.which("cc")
    if not cc:
        pytest.skip("no host C compiler (apt-get install -y gcc)")
    from edgeq.targets.boards import get_board
    from edgeq.targets.fwconfig import firmware_config
    from edgeq.targets.platforms.base import write_config, write_protocol_files

    board = get_board("qemu-m4")
    bins = {}
    for key, (name, ins, outs, fmt) in VARIANTS.items():
        d = tmp_path_factory.mktemp(f"proto_{key}")
        cfg = firmware_config(name=name, sha256="ab" * 32, board=board, runtime="edgeq", backend="portable",
                              inputs=ins, outputs=outs, db_format=fmt, energy=key == "energy")
        write_protocol_files(d)
        write_config(d, cfg)
        (d / "main.c").write_text(HOST_MAIN)
        exe = d / "proto"
        flags = ["-std=c99", "-D_POSIX_C_SOURCE=200809L", "-O1", "-g", "-Wall", "-Wextra", "-Werror"]
        san = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
        proc = subprocess.run([cc, *flags, *san, "-I", str(d), "-c", str(d / "edgeq_protocol.c"), "-o",
                               str(d / "edgeq_protocol.o")], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr  # the real protocol source: warning-free under -Werror
        proc = subprocess.run([cc, *flags[:5], *san, "-I", str(d), str(d / "edgeq_protocol.o"), str(d / "main.c"),
                               "-o", str(exe)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        bins[key] = (exe, cfg, d)
    return bins


def talk(exe: Path, data: bytes, timeout: float = 20) -> list[str]:
    proc = subprocess.run([str(exe)], input=data, capture_output=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    text = proc.stdout.decode("ascii")
    assert all(ln.endswith("\r") for ln in text.split("\n")[:-1]), "every line ends in CR LF"
    return [ln.rstrip("\r") for ln in text.split("\n") if ln.strip("\r")]


def answers(lines: list[str]) -> list[list[str]]:
    """Split into per-command answers at m-ready (the first one is the boot)."""
    out, cur = [], []
    for ln in lines:
        if ln == spec.READY:
            out.append(cur)
            cur = []
        else:
            cur.append(ln)
    assert not cur, f"lines after the last m-ready: {cur}"
    return out


def cmds(*c: str) -> bytes:
    return b"".join(x.encode() + b"%" for x in c)


def test_boot_and_eembc_identity(protocol_bins):
    exe, *_ = protocol_bins["raw"]
    a = answers(talk(exe, cmds("name", "profile", "timestamp", "help", "")))
    assert a[0][0] == "m-boot-[edgeq kws_fake portable qemu-m4]"
    assert a[0][1:3] == [spec.MSG_TIMESTAMP_MODE, a[0][2]] and a[0][2].startswith(spec.MSG_LAP_US)
    assert a[0][3] == spec.MSG_INIT_DONE
    assert a[1] == ["m-name-dut-[edgeq]"]
    assert a[2] == [f"m-profile-[{spec.MLPERF_PROFILE}]", "m-model-[kws01]"]
    assert len(a[3]) == 1 and a[3][0].startswith("m-lap-us-")
    assert any("edgeq-load" in ln for ln in a[4])
    assert a[5] == []  # an empty command: only m-ready


def test_db_load_hex_infer_results(protocol_bins):
    exe, *_ = protocol_bins["raw"]
    data = bytes(range(40))
    chunks = [data[i:i + spec.MLPERF_DB_CHUNK] for i in range(0, 40, spec.MLPERF_DB_CHUNK)]
    script = cmds("db load 40", *(f"db {c.hex().upper() if i else c.hex()}" for i, c in enumerate(chunks)),
                  "db print", "infer 3 2", "results")
    a = answers(talk(exe, script))[1:]
    assert a[0] == ["m-[Expecting 40 bytes]"]
    assert a[1] == [] and a[2] == ["m-load-done"]
    dump = "".join(ln[len("m-buffer"):] for ln in a[3]).replace("-", "")
    assert bytes.fromhex(dump) == data and len(a[3]) == 5
    inf = a[4]
    assert inf[:3] == ["m-warmup-start-2", "m-warmup-done", "m-infer-start-3"]
    assert inf[3].startswith("m-lap-us-") and inf[4].startswith("m-lap-us-") and inf[5] == "m-infer-done"
    assert int(inf[4][9:]) > int(inf[3][9:])
    expected = bytes(b ^ 0x5A for b in data[:10])
    vals = inf[6][len("m-results-["):-1].split(",")
    assert inf[6].startswith("m-results-[") and len(vals) == 10
    # a model named kws*: the kws01 reference's truncated "0.%d%d%d" digits, character for character
    from edgeq.bench.mlperf import reference_results

    cfg = protocol_bins["raw"][1]
    assert vals == reference_results("kws01", expected, cfg["output"], data, cfg["input"])
    deq = (np.frombuffer(expected, np.int8).astype(np.float64) + 128) * 0.00390625
    got = np.array([float(v) for v in vals])
    assert np.all((deq - got >= 0) & (deq - got < 0.001)), (deq, got)  # truncated, not rounded
    assert all(len(v.split(".")[1]) == 3 for v in vals)
    assert inf[7] == f"m-out-{expected.hex()}-{zlib.crc32(expected):08x}"
    assert a[5] == inf[6:8]


def test_edgeq_load_run_info(protocol_bins):
    exe, cfg, _ = protocol_bins["raw"]
    data = bytes(range(100, 140))
    script = cmds(f"edgeq-load 40 {zlib.crc32(data):08x}") + data + cmds("edgeq-run 2", "edgeq-info")
    a = answers(talk(exe, script))[1:]
    assert a[0] == [spec.MSG_BIN_READY, spec.MSG_LOAD_DONE]
    t, o = a[1]
    digits, crc = t[len("m-t-"):].split("-")
    assert int(digits) == 1000 and int(crc, 16) == zlib.crc32(digits.encode())  # the fake timer: 1000 per read
    expected = bytes(b ^ 0x5A for b in data[:10])
    assert o == f"m-out-{expected.hex()}-{zlib.crc32(expected):08x}"
    info = json.loads(a[2][0][len("m-info-"):])
    for key in ("model", "sha256", "backend", "runtime", "board", "core", "clock_hz", "arena_bytes", "inputs",
                "outputs", "timer", "protocol", "buffer_bytes"):
        assert key in info, key
    assert info["sha256"] == "ab" * 8 and info["arena_bytes"] == 1234 and info["buffer_bytes"] == 40
    assert info["timer"] == {"unit": "instructions", "per_tick": 40, "source": "systick-icount"}
    assert info["inputs"][0] == {"shape": [1, 40], "dtype": "int8", "scale": 0.5, "zero_point": 3, "bytes": 40}
    assert info["stack_used"] is None and info["stack_bytes"] == 4096 and info["runtime_ok"] is True
    assert info == {**cfg["info"], "arena_bytes": 1234, "stack_used": None, "stack_bytes": 4096, "runtime_ok": True}


def test_several_inputs_and_outputs(protocol_bins):
    """A two-input, two-output model: the load carries both inputs back to back (graph order), every invoke copies
    each one into the runtime, m-out carries both outputs back to back with one CRC."""
    exe, cfg, _ = protocol_bins["multi"]
    data = bytes(range(7, 47))  # input 0: 24 bytes, input 1: 16 bytes
    script = cmds(f"edgeq-load 40 {zlib.crc32(data):08x}") + data + cmds("edgeq-run 0", "edgeq-info",
                                                                         "edgeq-load 41 00000000")
    a = answers(talk(exe, script))[1:]
    assert a[0] == [spec.MSG_BIN_READY, spec.MSG_LOAD_DONE]
    expected = bytes(b ^ 0x5A for b in data[:13])  # output 0 (10 bytes) then output 1 (3 bytes)
    assert a[1][1] == f"m-out-{expected.hex()}-{zlib.crc32(expected):08x}"
    info = json.loads(a[2][0][len("m-info-"):])
    assert [i["bytes"] for i in info["inputs"]] == [24, 16] and [o["bytes"] for o in info["outputs"]] == [10, 3]
    assert info["buffer_bytes"] == 40
    assert a[3] == ["e-[edgeq-load 41 exceeds the 40-byte input buffer]"]
    cfg_h = (exe.parent / "edgeq_config.h").read_text()
    assert "#define EDGEQ_CFG_IN_SIZES {24, 16}" in cfg_h and "#define EDGEQ_CFG_OUT_SIZES {10, 3}" in cfg_h


ABUSE = [
    ("db load", "e-[Command 'db load' requires the # of bytes]"),
    ("db load 0", "e-[Command 'db load' must be >0 bytes]"),
    ("db load 41", "e-[db load 41 exceeds the 40-byte input buffer]"),
    ("db load 99999999999", "e-[bad number '99999999999']"),
    ("db load -3", "e-[bad number '-3']"),
    ("db 00ff", "e-[no db load in progress: send db load N first]"),
    ("db", "e-[db needs: load N, print, or hex bytes]"),
    ("infer 0", "e-[Inference iterations must be >0]"),
    ("infer x", "e-[Inference iterations must be >0]"),
    ("infer 5 -1", "e-[Inference warmup must be >=0]"),
    ("frobnicate now", "e-[Unknown command: frobnicate]"),
    ("a b c d e", "e-[too many words]"),
    ("edgeq-load 41 00000000", "e-[edgeq-load 41 exceeds the 40-byte input buffer]"),
    ("edgeq-load 4 xyz", "e-[usage: edgeq-load N CRC (N > 0 bytes, CRC = 8 hex digits of their CRC-32)]"),
    ("edgeq-load 0 00000000", "e-[usage: edgeq-load N CRC (N > 0 bytes, CRC = 8 hex digits of their CRC-32)]"),
    ("edgeq-run x", "e-[usage: edgeq-run W (W >= 0 warm-ups)]"),
]


def test_abuse_before_any_input(protocol_bins):
    exe, *_ = protocol_bins["raw"]
    a = answers(talk(exe, cmds("results", "infer 1 0", "edgeq-run")))[1:]
    assert a[0] == ["e-[no results yet: run infer first]"]
    assert a[1] == ["e-[no input loaded: use db load N + db HEX, or edgeq-load N CRC]"]
    assert a[2] == a[1]


@pytest.mark.parametrize("command,error", ABUSE)
def test_abuse_is_refused_and_changes_nothing(protocol_bins, command, error):
    exe, *_ = protocol_bins["raw"]
    data = bytes(range(40))
    script = cmds("db load 40", f"db {data[:20].hex()}", f"db {data[20:].hex()}", command, "infer 1 0")
    a = answers(talk(exe, script))[1:]
    assert a[3] == [error]
    assert f"m-out-{bytes(b ^ 0x5A for b in data[:10]).hex()}" in a[4][-1]  # the input survived


@pytest.mark.parametrize("chunk,error", [
    ("0", "e-[Insufficient number of hex digits]"),
    ("00zz", "e-[Invalid hex digit 'zz']"),
    ("0g", "e-[Invalid hex digit '0g']"),
    ("00" * 31, "e-[31 bytes is more than the 30 still expected]"),
])
def test_bad_hex_keeps_nothing_from_the_chunk(protocol_bins, chunk, error):
    exe, *_ = protocol_bins["raw"]
    data = bytes(range(1, 41))
    script = cmds("db load 40", f"db {data[:10].hex()}", f"db {chunk}", f"db {data[10:].hex()}", "db print")
    a = answers(talk(exe, script))[1:]
    assert a[2] == [error]
    assert a[3] == ["m-load-done"]
    dump = "".join(ln[len("m-buffer"):] for ln in a[4]).replace("-", "")
    assert bytes.fromhex(dump) == data


def test_overlong_line_is_discarded_whole(protocol_bins):
    exe, *_ = protocol_bins["raw"]
    a = answers(talk(exe, b"name" + b"x" * 300 + b"%" + cmds("x" * 79, "name")))[1:]
    assert a[0] == [f"e-[command too long: at most {spec.CMD_MAX - 1} characters before the terminator]"]
    assert a[1] == ["e-[Unknown command: " + "x" * 79 + "]"]  # 79 characters is still a command
    assert a[2] == ["m-name-dut-[edgeq]"]


def test_crc_mismatch_keeps_nothing(protocol_bins):
    exe, *_ = protocol_bins["raw"]
    good = bytes(range(40))
    bad = bytes(range(1, 41))
    script = (cmds(f"edgeq-load 40 {zlib.crc32(good):08x}") + good
              + cmds(f"edgeq-load 40 {zlib.crc32(good):08x}") + bad + cmds("edgeq-run 0"))
    a = answers(talk(exe, script))[1:]
    assert a[0] == ["m-bin-ready", "m-load-done"]
    assert a[1] == ["m-bin-ready", spec.ERR_CRC]
    assert a[2] == ["e-[no input loaded: use db load N + db HEX, or edgeq-load N CRC]"]


def test_binary_load_timeout(protocol_bins):
    exe, *_ = protocol_bins["raw"]
    proc = subprocess.Popen([str(exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        proc.stdin.write(cmds(f"edgeq-load 40 {zlib.crc32(bytes(40)):08x}") + bytes(10))
        proc.stdin.flush()
        out, _ = proc.communicate(input=None, timeout=spec.BIN_BYTE_TIMEOUT_MS / 1000 + 10)
    finally:
        if proc.poll() is None:
            proc.kill()
    # stdin closed after 10 bytes: the host platform reports end of input as a timeout
    lines = [ln.rstrip("\r") for ln in out.decode().split("\n") if ln.strip()]
    assert lines[-3:] == ["m-bin-ready", spec.ERR_TIMEOUT, spec.READY]


def test_binary_load_real_timeout_waits_for_the_byte_timeout(protocol_bins):
    import time

    exe, *_ = protocol_bins["raw"]
    proc = subprocess.Popen([str(exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        proc.stdin.write(cmds("edgeq-load 40 00000000") + bytes(10))
        proc.stdin.flush()
        t0 = time.monotonic()
        buf = b""
        while b"e-[timeout]" not in buf:
            buf += proc.stdout.read1(4096)
        waited = time.monotonic() - t0
        proc.stdin.write(cmds("name"))
        proc.stdin.flush()
        while b"m-name-dut" not in buf:
            buf += proc.stdout.read1(4096)
    finally:
        proc.kill()
        proc.wait()
    assert waited >= spec.BIN_BYTE_TIMEOUT_MS / 1000 * 0.9


def test_float32_db_format_quantizes(protocol_bins):
    exe, cfg, _ = protocol_bins["f32"]
    assert cfg["db_format"] == "float32" and cfg["info"]["db"] == {"format": "float32", "bytes": 160}
    x = np.linspace(-70, 70, 40).astype("<f4")
    raw = x.tobytes()
    hexes = [raw[i:i + 31].hex() for i in range(0, len(raw), 31)]
    a = answers(talk(exe, cmds("db load 160", *(f"db {h}" for h in hexes), "db print", "infer 1 0",
                               "db load 161", "db load 158")))[1:]
    assert a[len(hexes)] == ["m-load-done"]
    dump = bytes.fromhex("".join(ln[len("m-buffer"):] for ln in a[len(hexes) + 1]).replace("-", ""))
    r = x.astype(np.float32) / np.float32(IN_SCALE)
    q = np.clip(np.where(r < 0, r - 0.5, r + 0.5).astype(np.int32) + IN_ZP, -128, 127).astype(np.int8)
    assert np.frombuffer(dump, np.int8).tolist() == q.tolist()
    # output shaped like the input: m-results is the ad01 reference's anomaly score, the MSE between the dequantized
    # output and the float input the host sent (not its quantized copy), float32 arithmetic, "%0.3f"
    from edgeq.bench.mlperf import reference_results

    res = a[len(hexes) + 2][-2]
    out_raw = bytes(b ^ 0x5A for b in q.tobytes())
    want = reference_results("ad01", out_raw, cfg["output"], raw, cfg["input"], "float32")
    assert res == f"m-results-[{want[0]}]"
    out = np.frombuffer(out_raw, np.int8).astype(np.float64)
    mse_q = np.mean(((out + 5) * 0.25 - (q.astype(np.float64) - IN_ZP) * IN_SCALE) ** 2)
    assert abs(float(want[0]) - np.mean(((out + 5) * 0.25 - x) ** 2)) < 0.001 < abs(float(want[0]) - mse_q)
    assert a[-2] == ["e-[db load 161 exceeds the 160-byte input buffer]"]
    assert a[-1] == ["e-[db load 158 is not a whole number of input elements]"]


def test_uint8_db_format_subtracts_128(protocol_bins):
    exe, cfg, _ = protocol_bins["u8"]
    assert cfg["db_format"] == "uint8" and cfg["mlperf_id"] == "vww01"
    px = bytes(range(0, 200, 5))
    a = answers(talk(exe, cmds("db load 40", f"db {px[:31].hex()}", f"db {px[31:].hex()}", "db print",
                               "profile")))[1:]
    dump = bytes.fromhex("".join(ln[len("m-buffer"):] for ln in a[3]).replace("-", ""))
    assert np.frombuffer(dump, np.int8).tolist() == [p - 128 for p in px]
    assert a[4][1] == "m-model-[vww01]"


def test_short_db_load_refuses_infer(protocol_bins):
    """A `db load` shorter than the input completes (m-load-done, as on the reference firmware) but infer and
    edgeq-run refuse it with an error line: never an inference on the rest of an older input."""
    exe, *_ = protocol_bins["raw"]
    full = bytes(range(40))
    a = answers(talk(exe, cmds("db load 40", f"db {full[:31].hex()}", f"db {full[31:].hex()}", "infer 1 0",
                               "db load 4", "db 01020304", "infer 1 0", "edgeq-run 0", "results",
                               "db load 40", f"db {full[:31].hex()}", f"db {full[31:].hex()}", "infer 1 0")))[1:]
    assert a[3][-1].startswith("m-out-")
    assert a[5] == ["m-load-done"]
    err = "e-[incomplete input: the last db load gave 4 of the 40 bytes the model needs]"
    assert a[6] == [err] and a[7] == [err]
    assert a[8][0].startswith("m-results-[")  # the results of the last real inference are still there
    assert a[12][-1] == a[3][-1]


def test_scores_print_like_printf(protocol_bins):
    """'%0.3f' of the float's exact value, ties to even (0.0625 -> 0.062, 0.1875 -> 0.188), as the ic01/vww01
    reference firmware prints with printf; the old `+ 0.5` rounding printed 0.063."""
    from edgeq.bench.mlperf import reference_results

    exe, cfg, _ = protocol_bins["u8"]
    # the fake model's output 0/1 = input byte ^ 0x5A; want output q = -112 (16/256) and -80 (48/256)
    want_q = np.array([-112, -80], np.int8).view(np.uint8)
    px = bytes(((q ^ 0x5A) ^ 0x80) for q in want_q.tolist()) + bytes(38)
    a = answers(talk(exe, cmds("db load 40", f"db {px[:31].hex()}", f"db {px[31:].hex()}", "infer 1 0")))[1:]
    res = next(ln for ln in a[3] if ln.startswith("m-results-["))
    assert res == "m-results-[0.062,0.188]"
    out_raw = want_q.view(np.int8).tobytes()
    assert res[11:-1].split(",") == reference_results("vww01", out_raw, cfg["output"], px, cfg["input"], "uint8")
    assert ["%0.3f" % v for v in (0.0625, 0.1875)] == ["0.062", "0.188"]


def test_random_abuse_never_crashes(protocol_bins):
    """Random printable junk with terminators: the parser answers every '%' with exactly one m-ready, under ASan."""
    exe, *_ = protocol_bins["raw"]
    rng = random.Random(1234)
    words = ["db", "load", "print", "infer", "results", "edgeq-run", "edgeq-info", "name", "help", "0", "1",
             "99999", "ff" * 40, "-1", "zz", "profile", "timestamp", " ", "  "]
    parts = []
    for _ in range(400):
        if rng.random() < 0.7:
            cmd = " ".join(rng.choice(words) for _ in range(rng.randint(0, 6)))
        else:
            cmd = "".join(chr(rng.randint(32, 126)) for _ in range(rng.randint(0, 150))).replace("%", "")
        parts.append(cmd.replace("edgeq-load", ""))
    script = "".join(p + "%" for p in parts).encode()
    lines = talk(exe, script, timeout=60)
    assert lines.count(spec.READY) == len(parts) + 1


def test_energy_mode_pulses_the_timestamp_pin(protocol_bins):
    """--energy: boots with m-timestamp-mode-energy; every timestamp (boot, `timestamp`, the two of `infer`) prints
    no m-lap-us and drives the pin low then high."""
    exe, cfg, _ = protocol_bins["energy"]
    assert cfg["info"]["timestamp_mode"] == "energy"
    data = bytes(range(40))
    proc = subprocess.run([str(exe)], input=cmds("timestamp", "db load 40", f"db {data[:31].hex()}",
                                                 f"db {data[31:].hex()}", "infer 3 1"), capture_output=True,
                          timeout=20)
    lines = [ln.rstrip("\r") for ln in proc.stdout.decode().split("\n") if ln.strip("\r")]
    a = answers(lines)
    assert a[0][1] == spec.MSG_TIMESTAMP_MODE_ENERGY and not any(ln.startswith(spec.MSG_LAP_US) for ln in lines)
    assert a[1] == []  # `timestamp`: only m-ready
    assert a[5][:4] == ["m-warmup-start-1", "m-warmup-done", "m-infer-start-3", "m-infer-done"]
    assert proc.stderr.decode().split() == ["PIN0", "PIN1"] * 4  # boot, timestamp, infer start and end


@pytest.mark.parametrize("cpu", ["cortex-m0plus", "cortex-m4"])
def test_the_protocol_source_is_warning_free_for_arm(protocol_bins, cpu):
    """edgeq_protocol.c is plain C copied into every project: it builds with -Wall -Wextra -Werror for the boards'
    cores too, in every configuration (db formats, several inputs, energy mode)."""
    cc = shutil.which("arm-none-eabi-gcc")
    if not cc:
        pytest.skip("no arm-none-eabi-gcc (apt-get install -y gcc-arm-none-eabi libnewlib-arm-none-eabi)")
    fpu = ["-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"] if cpu == "cortex-m4" else ["-mfloat-abi=soft"]
    for key, (_, _, d) in protocol_bins.items():
        proc = subprocess.run([cc, f"-mcpu={cpu}", "-mthumb", *fpu, "-std=c99", "-Os", "-Wall", "-Wextra", "-Werror",
                               "-I", str(d), "-c", str(d / "edgeq_protocol.c"), "-o", str(d / f"arm-{cpu}.o")],
                              capture_output=True, text=True)
        assert proc.returncode == 0, (key, proc.stderr)


def test_hostile_binary_frames_under_sanitizers(protocol_bins):
    """Frames a broken or hostile host could send, as raw bytes: a command cut off at the end of input, NULs and
    bytes >= 0x80 inside commands, binary loads with a bad CRC, a length past the buffer or 2^32, a load cut short by
    the end of input. Every complete command gets exactly one m-ready, nothing crashes (ASan/UBSan abort on any
    out-of-bounds access or undefined behaviour), and a good frame afterwards still works."""
    exe, *_ = protocol_bins["raw"]
    rng = random.Random(99)
    good = bytes(range(40))
    frames = [
        cmds(f"edgeq-load 40 {zlib.crc32(good) ^ 1:08x}") + good,  # bad CRC
        cmds("edgeq-load 4294967295 00000000"),  # a length no buffer has (and past 9 digits)
        cmds("edgeq-load 41 00000000"),  # one byte past the buffer
        b"na\x00me%",  # a NUL inside a command is skipped
        b"\xff\xfe\x80 db\xc3\xa9%",  # high bytes: an unknown command, echoed back safely
        cmds("db load 40") + b"db " + b"\xff" * 60 + b"%",
        b"%" * 5,  # empty commands
        b"db 00" * 40 + b"%",  # overlong
    ]
    for _ in range(150):  # random binary junk, every chunk closed by a terminator
        frames.append(bytes(rng.randrange(256) for _ in range(rng.randint(0, 120))).replace(b"%", b"") + b"%")
    n_cmds = sum(f.count(b"%") for f in frames) - good.count(b"%")  # the bad-CRC load's payload holds a '%' byte
    tail = cmds(f"edgeq-load 40 {zlib.crc32(good):08x}") + good + cmds("edgeq-run 0")
    proc = subprocess.run([str(exe)], input=b"".join(frames) + tail + b"edgeq-lo", capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    lines = [ln.rstrip(b"\r") for ln in proc.stdout.split(b"\n") if ln.strip(b"\r")]
    assert lines.count(spec.READY.encode()) == 1 + n_cmds + 2  # boot + every frame's commands + the good tail's two
    assert spec.ERR_CRC.encode() in lines
    out = bytes(b ^ 0x5A for b in good[:10])
    assert lines[-2] == f"m-out-{out.hex()}-{zlib.crc32(out):08x}".encode()
    # a binary load cut short by the end of input: the device reports a timeout, not garbage
    cut = subprocess.run([str(exe)], input=cmds(f"edgeq-load 40 {zlib.crc32(good):08x}") + good[:7],
                         capture_output=True, timeout=30)
    assert cut.returncode == 0 and cut.stdout.rstrip().endswith(
        f"{spec.MSG_BIN_READY}\r\n{spec.ERR_TIMEOUT}\r\n{spec.READY}".encode())
