"""The cheap requantizations of the portable kernels equal TFLM's MultiplyByQuantizedMultiplier (edgeq_requantize,
structured as TFLM's SaturatingRoundingDoublingHighMul + RoundingDivideByPOT, itself checked bit-exact with TFLM by
the model tests):

- edgeq_requantize_fast (one 64-bit multiply-accumulate, no branches on the product) for every int32 input;
- edgeq_requantize_bounded and its per-channel split edgeq_rq_apply (SMMLAR on the DSP extension) for multipliers
  >= 2^30 and |x| * 2^left_shift + 2^(right_shift - 1) < 2^31 - 1, the domain in which the compiler lets a kernel
  use them.

For every (multiplier, shift) of the CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED layers of the MLPerf Tiny models
and person_detect: edge inputs, rounding ties, and pseudo-random inputs over the whole range (tests/requant_check.c),
compiled with the host's gcc (also with the ARMv6-M arithmetic forced: EDGEQ_MUL32_ONLY) and run on qemu-m4
(Cortex-M4, where the bounded variant is the SMMLAR instruction) and qemu-m0plus (ARMv6-M: 32-bit multiplies only).
The reference is TFLM's formula written with 64-bit arithmetic in tests/requant_check.c."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from edgeq._resources import templates_dir

HERE = Path(__file__).resolve().parent
MODELS = ("mlperf-tiny/kws_ref_model", "mlperf-tiny/pretrainedResnet_quant", "mlperf-tiny/vww_96_int8",
          "tflite-micro/person_detect")


@pytest.fixture(scope="session")
def requant_cases(shared_models) -> list[tuple[int, int, int]]:
    """(multiplier, shift, limit) for every distinct per-channel requantization of the models' conv/dw/FC layers;
    limit: the largest |x| the bounded variant accepts (conv.py bounded_requantization's condition); 0 for a
    multiplier below 2^30, which it never runs."""
    from edgeq.compiler import plan_model
    from edgeq.compiler.ops.conv import ZERO_MULTIPLIER

    root = shared_models.parent
    pairs: set[tuple[int, int]] = set()
    for m in MODELS:
        lw = plan_model(root / f"{m}.tflite", target="cortex-m4").lowered
        for layer in lw.layers:
            p = layer.params
            if layer.opcode not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
                continue
            if isinstance(p["mult"], str):  # per-channel: names of const arrays
                mults, shifts = lw.ctx.consts[p["mult"]].values, lw.ctx.consts[p["shift"]].values
            else:
                mults, shifts = [p["mult"]], [p["shift"]]
            pairs.update(zip((int(v) for v in mults), (int(v) for v in shifts)))
    assert len(pairs) > 1000  # the four models have thousands of distinct per-channel multipliers

    def limit(m: int, s: int) -> int:
        """The largest x in conv.py bounded_requantization's domain: a = x << left fits, |a| m / 2^31 + 1 + half
        < 2^31 - 1."""
        half = 1 << (-s - 1) if s < 0 else 0
        a_max = min((1 << 31) - 1, (((1 << 31) - 3 - half) << 31) // m)
        while a_max > 0 and (a_max * m >> 31) + 1 + half >= (1 << 31) - 1:
            a_max -= 1
        return a_max >> max(s, 0)

    if any(m == 0 for m, _ in pairs):  # the kernels run a zero multiplier as ZERO_MULTIPLIER: check that pair too
        pairs.add(ZERO_MULTIPLIER)
    return sorted((m, s, limit(m, s) if m >= 1 << 30 else 0) for m, s in pairs)


def _write_cases(folder: Path, cases, samples: int) -> None:
    rows = ",\n".join(f"    {{{m}, {s}, {lim}}}" for m, s, lim in cases)
    (folder / "requant_cases.h").write_text(
        f"#define REQ_N_CASES {len(cases)}\n#define REQ_SAMPLES {samples}\n"
        f"static const int32_t REQ_CASES[REQ_N_CASES][3] = {{\n{rows}\n}};\n")


def _verdict(out: str, cases, samples: int) -> None:
    lines = [ln for ln in out.splitlines() if ln.startswith(("checked", "bad"))]
    assert lines and lines[-1].startswith("checked"), out[-2000:]
    _, n, _, bad = lines[-1].split()
    assert int(bad) == 0, "\n".join(lines[:10])
    assert int(n) >= len(cases) * 2 * samples  # every case really ran


@pytest.mark.parametrize("mul32", [0, 1])
def test_requantize_variants_equal_tflm_on_host(requant_cases, tmp_path, mul32):
    """mul32 = 1: the ARMv6-M arithmetic (edgeq_high_mul, 32-bit multiplies only) forced on the host."""
    samples = 20000 if not mul32 else 8000
    _write_cases(tmp_path, requant_cases, samples)
    main = tmp_path / "main.c"
    main.write_text('#include <stdio.h>\nvoid req_run(void);\nvoid req_puts(const char *s) { fputs(s, stdout); }\n'
                    'int main(void) { req_run(); return 0; }\n')
    kern = templates_dir() / "kernels" / "portable"
    exe = tmp_path / "req"
    subprocess.run(["gcc", "-O2", "-std=c99", "-Wall", "-Werror", f"-DEDGEQ_MUL32_ONLY={mul32}", f"-I{kern}",
                    f"-I{tmp_path}", str(main),
                    str(HERE / "requant_check.c"), str(kern / "edgeq_nn_support.c"), "-o", str(exe), "-lm"],
                   check=True)
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True, timeout=300).stdout
    assert out.splitlines()[:2] == [f"mul32 {mul32}", "mve 0"]
    _verdict(out, requant_cases, samples)


QEMU_MAIN = r"""#include "edgeq_platform.h"
void req_run(void);
void req_puts(const char *s) { while (*s) edgeq_plat_putc(*s++); }
int main(void)
{
    edgeq_plat_init();
    req_run();
    req_puts("END\n");
    edgeq_plat_flush();
    for (;;) {
    }
}
"""


#: (multiplier, shift, limit) beyond the models' for the Helium variant: the extreme multipliers and shifts
MVE_EXTRA_CASES = [(0, 0, 0), (1 << 30, -31, 0), ((1 << 31) - 1, -31, 0), ((1 << 31) - 1, 30, 0), (1 << 30, 30, 0),
                   (-(1 << 31), 0, 0), (-(1 << 31), -7, 0), ((1 << 31) - 1, 0, 0), ((1 << 31) - 1, -1, 0)]


@pytest.mark.parametrize("board", ["qemu-m4", "qemu-m0plus", "qemu-m55"])
def test_requantize_variants_equal_tflm_on_qemu(requant_cases, shared_models, tmp_path, board):
    """The same check as firmware on the emulated Cortex-M4 (the bounded variant is SMMLAR there), on ARMv6-M code
    (Cortex-M0+: edgeq_high_mul's 32-bit multiplies) and on the Cortex-M55 (also edgeq_requantize_mve, Helium)."""
    from fwutil import need_arm

    from edgeq.targets.boards import get_board
    from edgeq.targets.export import export

    need_arm()
    samples = 300 if board == "qemu-m4" else 150
    if board == "qemu-m55":
        requant_cases = sorted(set(requant_cases) | set(MVE_EXTRA_CASES))
    out = tmp_path / "fw"
    export(shared_models / "kws_ref_model.tflite", board, out, runtime="edgeq", backend="portable", force=True)
    (out / "main.c").write_text(QEMU_MAIN)
    (out / "requant_check.c").write_text((HERE / "requant_check.c").read_text())
    _write_cases(out, requant_cases, samples)
    subprocess.run(["make", "-s", "-j2", f"EXTRA_CFLAGS=-I{out} -I{out / 'model'}"], cwd=out, check=True,
                   capture_output=True)
    elf = out / "build" / "firmware.elf"
    dis = subprocess.run(["arm-none-eabi-objdump", "-d", str(elf)], capture_output=True, text=True, check=True).stdout
    if board == "qemu-m4":
        assert "smmlar" in dis  # the bounded variant really is the DSP instruction on the M4
    if board == "qemu-m55":
        assert "vqrdmulh" in dis and "vrshl" in dis  # edgeq_requantize_mve really is Helium code
    qemu = subprocess.Popen(["qemu-system-arm", "-M", get_board(board).qemu["machine"], "-display", "none", "-monitor", "none",
                             "-no-reboot", "-kernel", str(elf), "-serial", "stdio"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    lines = []
    try:
        deadline = time.monotonic() + 600
        for line in qemu.stdout:
            lines.append(line.rstrip())
            if line.strip() == "END" or time.monotonic() > deadline:
                break
    finally:
        qemu.kill()
        qemu.wait()
    assert lines and lines[-1] == "END", lines[-5:]
    assert lines[0] == f"mul32 {int(board == 'qemu-m0plus')}"
    assert lines[1] == f"mve {int(board == 'qemu-m55')}"
    _verdict("\n".join(lines), requant_cases, samples)
