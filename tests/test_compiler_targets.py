"""The generated C on microcontroller toolchains: Cortex-M4 (arm-none-eabi-gcc, -Werror, compiled and linked) and
AVR (avr-gcc, PROGMEM): compiled for an ATmega328P, and run on simavr (ATmega328P) against TFLM byte for byte."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from compiler_util import random_inputs, single_op_model, tflm_run  # noqa: F401
from conftest import require_tool

M4_FLAGS = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-std=c99", "-O2", "-Wall",
            "-Wextra", "-Werror"]
SMALL = {"op": "chain", "inputs": [[8, 8, 2]], "range": 1.0, "seed": 5}


def _compile(model, out: Path, target: str):
    from edgeq.compiler import compile_model

    return compile_model(model, target=target, backend="portable", out_dir=out)


def _c_sources(out: Path) -> list[Path]:
    return sorted(out.glob("*.c"))


def test_cortex_m4_kws(tmp_path, shared_models):
    gcc = require_tool("arm-none-eabi-gcc", "gcc-arm-none-eabi libnewlib-arm-none-eabi")
    out = tmp_path / "kws_m4"
    res = _compile(shared_models / "kws_ref_model.tflite", out, "cortex-m4")
    assert not (out / "Makefile").exists()
    objs = []
    for src in _c_sources(out):
        obj = tmp_path / (src.stem + ".o")
        proc = subprocess.run([gcc, *M4_FLAGS, "-I", str(out), "-c", str(src), "-o", str(obj)], capture_output=True,
                              text=True)
        assert proc.returncode == 0, proc.stderr
        objs.append(obj)
    # and it links into a program (newlib nano, no OS): every symbol the generated code needs exists
    main = tmp_path / "main.c"
    main.write_text('#include <string.h>\n#include "model.h"\nint main(void) {\n'
                    '    memset(edgeq_input(0), 0, EDGEQ_INPUT0_BYTES);\n    return edgeq_invoke();\n}\n')
    elf = tmp_path / "kws.elf"
    proc = subprocess.run([gcc, *M4_FLAGS, "-I", str(out), str(main), *map(str, objs), "--specs=nano.specs",
                           "--specs=nosys.specs", "-Wl,--gc-sections", "-lm", "-o", str(elf)], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    size = shutil.which("arm-none-eabi-size")
    if size:
        text = subprocess.run([size, str(elf)], capture_output=True, text=True).stdout.splitlines()[1].split()
        assert int(text[0]) + int(text[1]) >= res.const_bytes  # the weights are in flash (text/rodata)


def test_avr_refuses_more_than_64k_of_constants(tmp_path, shared_models):
    from edgeq.errors import UnsupportedError

    with pytest.raises(UnsupportedError, match="64 KB"):
        _compile(shared_models / "ad01_int8.tflite", tmp_path / "ad", "avr")
    assert not (tmp_path / "ad").exists()


_AVR_MAIN = """\
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/pgmspace.h>
#include <avr/sleep.h>
#include <stdint.h>
#include "avr_mcu_section.h"
#include "model.h"

AVR_MCU(16000000, "atmega328p");
AVR_MCU_SIMAVR_CONSOLE(&GPIOR0);

#define N_INPUTS {n}
static const int8_t inputs[N_INPUTS][EDGEQ_INPUT0_BYTES] PROGMEM = {{
{rows}
}};

static void put(char c) {{ GPIOR0 = (uint8_t)c; }}
static void puts_(const char *s) {{ while (*s) put(*s++); }}

int main(void)
{{
    static const char hex[] = "0123456789abcdef";
    int32_t i, k;
    for (i = 0; i < N_INPUTS; ++i) {{
        const uint8_t *out;
        int rc;
        memcpy_P(edgeq_input(0), inputs[i], EDGEQ_INPUT0_BYTES);
        rc = edgeq_invoke();
        puts_(rc == 0 ? "m-out-" : "e-invoke-");
        out = (const uint8_t *)edgeq_output(0);
        for (k = 0; k < EDGEQ_OUTPUT0_BYTES; ++k) {{
            put(hex[out[k] >> 4]);
            put(hex[out[k] & 15]);
        }}
        put('\\r'); /* simavr's console prints a line at CR */
    }}
    cli();
    sleep_mode();
    return 0;
}}
"""


@pytest.mark.tf
def test_avr_progmem_compiles_and_runs_bit_exact(tmp_path, single_op_model):
    avr_gcc = require_tool("avr-gcc", "gcc-avr avr-libc")
    model = single_op_model(SMALL)
    out = tmp_path / "avr"
    res = _compile(model, out, "avr")
    data = (out / "model_data.c").read_text()
    assert "EDGEQ_CONST_DATA" in data and "PROGMEM" in (out / "edgeq_nn.h").read_text()
    # 1) every source compiles for an ATmega328P with -Werror
    for src in _c_sources(out):
        proc = subprocess.run([avr_gcc, "-mmcu=atmega328p", "-std=c99", "-Os", "-Wall", "-Wextra", "-Werror", "-I",
                               str(out), "-c", str(src), "-o", str(tmp_path / (src.stem + ".o"))],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    assert res.ram_bytes < 2048  # fits the ATmega328P's 2 KB of SRAM
    # 2) linked for the ATmega328P and run on simavr: the same bytes as TFLM
    simavr = shutil.which("simavr")
    section_h = Path("/usr/include/simavr/avr/avr_mcu_section.h")
    if not simavr or not section_h.is_file():
        pytest.skip("simavr not installed (apt-get install -y --no-install-recommends simavr libsimavr-dev)")
    xs = random_inputs(model, 3, seed=11)
    rows = ",\n".join("    {" + ", ".join(str(int(v)) for v in x.reshape(-1)) + "}" for x in xs)
    main = out / "avr_main.c"
    main.write_text(_AVR_MAIN.format(n=len(xs), rows=rows))
    elf = tmp_path / "model.elf"
    # linked as the Arduino core links a sketch: unused kernel functions (a kernel file holds a whole op family)
    # are dropped by --gc-sections
    proc = subprocess.run([avr_gcc, "-mmcu=atmega328p", "-std=c99", "-Os", "-Wall", "-Wextra", "-Werror",
                           "-ffunction-sections", "-fdata-sections", "-I", str(out), "-I", str(section_h.parent),
                           *map(str, _c_sources(out)), "-Wl,--gc-sections",
                           "-Wl,--undefined=_mmcu,--section-start=.mmcu=0x910000", "-lm", "-o", str(elf)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    run = subprocess.run([simavr, str(elf)], capture_output=True, text=True, timeout=300)
    got = re.findall(r"m-out-([0-9a-f]+)", run.stdout + run.stderr)
    assert len(got) == len(xs), run.stdout + run.stderr
    ref = tflm_run(model, xs)
    for g, r in zip(got, ref):
        assert bytes.fromhex(g) == r.astype(np.int8).tobytes()
