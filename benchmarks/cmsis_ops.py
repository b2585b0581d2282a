"""Instructions per inference on the emulated Cortex-M4 (qemu-m4, 1 SysTick tick = 40 instructions), portable vs
cmsis-nn, for the generated single-op models whose CMSIS-NN call edgeq renders itself (edgeq/compiler/cmsis_calls.py;
the models of tests/test_firmware_cmsis_nn.py::OP_BUILDS). Each output is checked against the TFLM reference
interpreter first. Instruction counts, NOT time on a real chip; a few hundred instructions are the call overhead.

    EDGEQ_CMSIS_NN_DIR=../shared/third_party/cmsis-nn python benchmarks/cmsis_ops.py
Needs TensorFlow (the models are converted on the fly), arm-none-eabi-gcc and qemu-system-arm; about two minutes.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# not this folder: benchmarks/serial.py would shadow pyserial, which the QEMU link (tests/fwutil.py) imports
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(REPO / "tests"))


def main() -> int:
    import compiler_util
    from test_firmware_cmsis_nn import OP_BUILDS
    from test_firmware_qemu import _check_bit_exact

    from edgeq.targets.export import export

    cmsis = os.environ.get("EDGEQ_CMSIS_NN_DIR") or str(REPO.parent / "shared" / "third_party" / "cmsis-nn")
    work = Path(tempfile.mkdtemp(prefix="edgeq-cmsis-ops-"))
    print("| model | CMSIS-NN function | portable | cmsis-nn |\n|---|---|---:|---:|")
    for key, (spec, board, function) in OP_BUILDS.items():
        if board != "qemu-m4":
            continue
        path = work / f"{key}.tflite"
        compiler_util._convert(spec, path)
        counts = []
        for backend in ("portable", "cmsis-nn"):
            res = export(path, board, work / f"{key}-{backend}", backend=backend, build=True, cmsis_nn_dir=cmsis)
            _, ticks = _check_bit_exact(res, path, board, seed=1)
            counts.append(ticks * 40)
        print(f"| {key} | `{function}` | {counts[0]:,} | {counts[1]:,} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
