"""The portable kernels are source a user compiles with their own flags: every file must build, warning-free
(-Wall -Wextra -Werror; -O3 finds maybe-uninitialized cases the others miss), at every optimisation level a
toolchain or IDE may use (-O0 debug builds free no frame pointer, so inline assembly that needs 14 registers must fall
back to C there), for every Cortex-M core edgeq targets, and with a frame pointer when EDGEQ_NO_ASM is defined
(edgeq_nn.h)."""

from __future__ import annotations

import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

KERNELS = Path(__file__).resolve().parents[1] / "firmware_templates" / "kernels" / "portable"
CORES = {
    "cortex-m0plus": ["-mcpu=cortex-m0plus", "-mthumb", "-mfloat-abi=soft"],
    "cortex-m4": ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
    "cortex-m55": ["-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard"],
}
FLAGS = {"O0": ["-O0"], "Og": ["-Og"], "Os": ["-Os"], "O2": ["-O2"], "O3": ["-O3"],
         "O2-frame-pointer-no-asm": ["-O2", "-fno-omit-frame-pointer", "-DEDGEQ_NO_ASM"]}
#: the DSP core (inline assembly, SIMD intrinsics) at every level; the others at the extremes
BUILDS = [("cortex-m4", f) for f in FLAGS] + [("cortex-m0plus", "O0"), ("cortex-m0plus", "Os"),
                                              ("cortex-m55", "O0"), ("cortex-m55", "O2")]


@pytest.mark.parametrize("core,flags", BUILDS, ids=[f"{c}-{f}" for c, f in BUILDS])
def test_every_portable_kernel_builds_warning_free(core, flags, tmp_path):
    gcc = shutil.which("arm-none-eabi-gcc")
    if gcc is None:
        pytest.skip("arm-none-eabi-gcc not installed (apt-get install -y gcc-arm-none-eabi)")
    sources = sorted(KERNELS.glob("*.c"))
    assert len(sources) > 10

    def build(src: Path) -> str | None:
        r = subprocess.run([gcc, *CORES[core], *FLAGS[flags], "-std=c99", "-Wall", "-Wextra", "-Werror",
                            f"-I{KERNELS}", "-c", str(src), "-o", str(tmp_path / (src.stem + ".o"))],
                           capture_output=True, text=True, timeout=300)
        if r.returncode == 0:
            return None
        return src.name + ": " + next((ln for ln in r.stderr.splitlines() if "error" in ln), r.stderr.strip()[:300])

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        failed = [f for f in pool.map(build, sources) if f]
    assert not failed, f"{core} {' '.join(FLAGS[flags])}:\n" + "\n".join(failed)
