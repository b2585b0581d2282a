"""Why the cmsis-nn backend keeps edgeq's portable kernel for an int16x8 CONV_2D of more than 512 columns (filter
KH x KW x C_IN): the same model on the emulated Cortex-M4 (CMSIS-NN's DSP path), once as edgeq compiles it and once
with the mapping forced onto arm_convolve_wrapper_s16, both compared with the TFLM reference interpreter.

The model: a 3x3 CONV_2D of 59 input channels (531 columns, 531 % 4 = 3) and 5 output channels on a 5x4 input.
arm_nn_mat_mult_kernel_s16's DSP path handles the odd last output channel with ``col_count = num_col_a & 0x3``
where the even channels use ``num_col_a_fast & 0x3`` (num_col_a_fast = 512), so it multiplies 3 columns too many,
reading past the filter row and the im2col column. (Whether the 3 stray weights are zero depends on the padding
after the filter array: with 3x3x64 = 576 columns, a multiple of 4, nothing strays.)

Then, for scale, the instructions per inference (qemu-m4, 1 SysTick tick = 40 instructions; NOT time on a chip) of
the int16x8 model of tests/test_firmware_cmsis_nn.py::test_int16x8_conv_model_on_qemu (Conv, 3x3 depthwise, Conv,
per-tensor FC) on edgeq's int16 kernels and on CMSIS-NN's, each output checked against TFLM first.

    EDGEQ_CMSIS_NN_DIR=../shared/third_party/cmsis-nn python benchmarks/cmsis_s16_mismatch.py
Needs TensorFlow (the models are converted on the fly), arm-none-eabi-gcc and qemu-system-arm; about two minutes.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
# not this folder: benchmarks/serial.py would shadow pyserial, which the QEMU link (tests/fwutil.py) imports
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(REPO / "tests"))

SPEC = {"op": "conv", "inputs": [[5, 4, 59]], "filters": 5, "kernel": [3, 3], "strides": [1, 1], "dilation": [1, 1],
        "padding": "same", "act": "relu", "bias": True, "range": 4.0, "seed": 2, "w_std": 0.05, "int16x8": True}
SEEDS = range(4)
CHAIN = {"op": "conv_dw_dense", "inputs": [[9, 8, 3]], "filters": 5, "range": 2.0, "seed": 6, "per_tensor_dense": True,
         "int16x8": True}


def run(path: Path, out: Path, cmsis: str) -> list[tuple[int, int, int]]:
    """(differing elements, elements, max |difference|) per seed against TFLM."""
    from fwutil import random_input, tflm_outputs
    from test_firmware_qemu import device

    from edgeq.targets.export import export

    res = export(path, "qemu-m4", out, backend="cmsis-nn", build=True, cmsis_nn_dir=cmsis)
    rows = []
    for seed in SEEDS:
        x = random_input(path, seed)
        ref = np.frombuffer(tflm_outputs(path, x), np.int16).astype(np.int32)
        with device("qemu-m4", res.out_dir) as (link, _):
            assert link.load(x.tobytes()) == ["m-load-done"]
            _, got = link.run(warmup=1)
        diff = np.abs(ref - np.frombuffer(got, np.int16).astype(np.int32))
        rows.append((int((diff > 0).sum()), int(diff.size), int(diff.max())))
    return rows


def main() -> int:
    import compiler_util

    import edgeq.compiler.cmsis_calls as cc

    cmsis = os.environ.get("EDGEQ_CMSIS_NN_DIR") or str(REPO.parent / "shared" / "third_party" / "cmsis-nn")
    work = Path(tempfile.mkdtemp(prefix="edgeq-cmsis-s16-"))
    path = work / "conv531.tflite"
    compiler_util._convert(SPEC, path)
    print("| build | seed | outputs differing from TFLM | max abs difference (LSB) |\n|---|---:|---:|---:|")
    for name in ("edgeq (portable kernel for this layer)", "forced arm_convolve_wrapper_s16"):
        if name.startswith("forced"):
            cc.CMSIS_MAX_COL_COUNT = 1 << 30
        for seed, (bad, n, worst) in zip(SEEDS, run(path, work / name.split()[0], cmsis)):
            print(f"| {name} | {seed} | {bad} of {n} | {worst} |")
    cc.CMSIS_MAX_COL_COUNT = 512
    speed(work, cmsis)
    return 0


def speed(work: Path, cmsis: str) -> None:
    import compiler_util
    from test_firmware_qemu import _check_bit_exact

    from edgeq.targets.export import export

    path = work / "chain.tflite"
    compiler_util._convert(CHAIN, path)
    print("\n| int16x8 Conv/depthwise/Conv/FC on qemu-m4 | instructions / inference |\n|---|---:|")
    for backend in ("portable", "cmsis-nn"):
        res = export(path, "qemu-m4", work / f"chain-{backend}", backend=backend, build=True, cmsis_nn_dir=cmsis)
        _, ticks = _check_bit_exact(res, path, "qemu-m4", seed=1)
        print(f"| {backend} | {ticks * 40:,} |")


if __name__ == "__main__":
    sys.exit(main())
