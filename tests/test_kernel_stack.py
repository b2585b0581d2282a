"""The portable kernels keep their working memory out of the C stack: every function's frame, as arm-none-eabi-gcc
reports it with -fstack-usage (-O2, each ARM core's flags from edgeq/targets/boards.json), stays within
EDGEQ_MAX_KERNEL_FRAME (edgeq_nn.h). Boards reserve little stack (uno-r4 2 KB, nano33ble 4 KB) and the memory plan
cannot see the stack: a kernel's large buffer belongs in its planned kernel scratch (ctx->buf, sized by its
``*_buffer_size`` twin), where the plan and the fit check count it."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from compiler_util import SANITIZE, assert_bit_exact, random_inputs, require_gcc, single_op_model  # noqa: F401
from compiler_util import tflm_runtime
from edgeq.targets.boards import boards
from tests.conftest import require_tool

KERNELS = Path(__file__).resolve().parents[1] / "firmware_templates" / "kernels" / "portable"

#: kernels whose large buffers are still on the stack (not yet moved into planned kernel scratch), with the frame
#: they may not exceed: each must shrink, never grow; remove an entry once the kernel takes its buffers from ctx->buf.
NOT_YET_MOVED = {
    "edgeq_convolve_shallow_s8": 1500,  # window, row words and stage (EDGEQ_SHALLOW_MAX_*)
    "edgeq_convolve_shallow_3x3x3_s8": 1600,
    "edgeq_convolve_shallow_3x3x1_s8": 1600,
    "edgeq_convolve_shallow_3x3x2_s8": 1700,
    "edgeq_convolve_shallow_5x5x1_s8": 1600,
    "edgeq_convolve_shallow_5x5x3_s8": 2600,
    "edgeq_convolve_shallow_10x4x1_s8": 1800,
    "edgeq_depthwise_conv_3x3_s8": 2500,  # stage and per-channel requantization (EDGEQ_DW3_STAGE, EDGEQ_DW3_RQ)
    "edgeq_depthwise_conv_3x3_plane_s8": 900,  # per-channel constants of a channel group
    "edgeq_depthwise_conv_kxk_plane_s8": 1100,
}


def _arm_cores() -> dict[str, tuple[str, ...]]:
    """core name -> its cflags, for every ARM core a board uses."""
    return {b.core.name: b.core.cflags for b in boards().values() if b.core.arch == "arm"}


def _frames(gcc: str, cflags: tuple[str, ...], tmp: Path) -> dict[str, int]:
    """function -> its largest frame in bytes over the kernel sources (a dynamic frame counts as unbounded)."""
    frames: dict[str, int] = {}
    for src in sorted(KERNELS.glob("*.c")):
        obj = tmp / (src.stem + ".o")
        subprocess.run([gcc, *cflags, "-O2", "-std=gnu99", "-fstack-usage", f"-I{KERNELS}", "-c", str(src), "-o",
                        str(obj)], check=True, cwd=tmp, capture_output=True, text=True)
        for line in (tmp / (src.stem + ".su")).read_text().splitlines():
            where, size, kind = line.split("\t")
            name = re.sub(r"\.(constprop|isra|part)\.\d+$", "", where.rsplit(":", 1)[-1])
            frames[name] = max(frames.get(name, 0), 1 << 30 if "dynamic" in kind else int(size))
    return frames


def test_kernel_frames_stay_small(tmp_path):
    gcc = require_tool("arm-none-eabi-gcc", "gcc-arm-none-eabi")
    bound = int(re.search(r"#define EDGEQ_MAX_KERNEL_FRAME (\d+)", (KERNELS / "edgeq_nn.h").read_text()).group(1))
    assert bound <= 512
    cores = _arm_cores()
    assert {"cortex-m0plus", "cortex-m4f", "cortex-m55"} <= set(cores)
    too_big = []
    seen = set()
    for core, cflags in sorted(cores.items()):
        d = tmp_path / core
        d.mkdir()
        frames = _frames(gcc, cflags, d)
        seen |= set(frames)
        for name, size in frames.items():
            if size > NOT_YET_MOVED.get(name, bound):
                too_big.append(f"{core} {name}: {size} B")
    assert not too_big, f"kernel stack frames above {bound} B (move the buffer into ctx->buf): {too_big}"
    # the convolutions that moved their windows, lanes and accumulators into the kernel scratch are measured
    assert {"edgeq_convolve_kxk_s8", "edgeq_convolve_1x1_s8", "edgeq_pointwise_lanes_s8",
            "edgeq_convolve_kxk_mve_s8"} <= seen
    assert set(NOT_YET_MOVED) <= seen, "a kernel in NOT_YET_MOVED is gone: drop its entry"


def _spec(op: str, hwc, kernel, strides, padding, **extra) -> dict:
    return {"op": op, "inputs": [hwc], "kernel": kernel, "strides": strides, "dilation": [1, 1], "padding": padding,
            "act": "relu", "bias": True, "range": 2.0, "seed": hwc[2] + kernel[0], **extra}


#: layers whose kernel works in planned scratch: a depthwise layer on one channel (edgeq_convolve_kxk_s8), a 3x3
#: convolution (edgeq_convolve_kxk_s8) and a 1x1 one (edgeq_convolve_1x1_s8; no working buffers without the DSP
#: extension (cortex-m0plus; host, whose builds define EDGEQ_NO_DSP), the DSP build's lanes for --target generic)
SCRATCH_SPECS = {
    "dw-c1-3x3": (_spec("dw", [12, 11, 1], [3, 3], [2, 2], "same", mult=8), "edgeq_convolve_kxk_s8("),
    "conv-c8-3x3": (_spec("conv", [9, 8, 8], [3, 3], [1, 1], "same", filters=12), "edgeq_convolve_kxk_s8("),
    "conv-c12-1x1": (_spec("conv", [6, 7, 12], [1, 1], [1, 1], "valid", filters=10), "edgeq_convolve_1x1_s8("),
}


@pytest.mark.tf
@pytest.mark.parametrize("target", ["cortex-m0plus", "host", "generic"])
@pytest.mark.parametrize("key", list(SCRATCH_SPECS))
def test_working_buffers_in_kernel_scratch_bit_exact(single_op_model, tmp_path, key, target):
    """The kernel gets exactly its working buffers from the plan (a kernel given too few returns EDGEQ_ARG_ERROR,
    which fails the run) and the outputs are TFLM's, for a plan without DSP (cortex-m0plus) and host and for --target generic
    (planned for the larger DSP build, here run by the plain one)."""
    from edgeq.compiler import compile_model

    tflm_runtime()
    require_gcc()
    spec, kernel = SCRATCH_SPECS[key]
    model = single_op_model(spec)
    out = tmp_path / target
    res = compile_model(model, target=target, backend="portable", out_dir=out)
    model_c = (out / "model.c").read_text()
    assert kernel in model_c
    has_work = key != "conv-c12-1x1" or target == "generic"
    assert ("B working buffers" in model_c) == has_work and res.ram_bytes > 0
    host = tmp_path / "host_main"
    compile_model(model, target="host", backend="portable", out_dir=host)
    if target != "host":
        shutil.copy(host / "main_host.c", out)
    sources = ["main_host.c"] + sorted(p.name for p in out.glob("*.c") if p.name != "main_host.c")
    subprocess.run(["gcc", "-O2", "-std=c99", "-Wall", "-Wextra", "-Werror", *SANITIZE.split(), "-I.", "-o",
                    "model_host", *sources, "-lm"], cwd=out, check=True, capture_output=True)
    assert_bit_exact(model, out / "model_host", random_inputs(model, 3, seed=len(key)))
