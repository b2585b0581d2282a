"""The portable kernels keep their working memory out of the C stack: every function's frame, as arm-none-eabi-gcc
reports it with -fstack-usage (-O2, each ARM core's flags from edgeq/targets/boards.json), stays within
EDGEQ_MAX_KERNEL_FRAME (edgeq_nn.h). Boards reserve little stack (uno-r4 2 KB, nano33ble 4 KB) and the memory plan
cannot see the stack: a kernel's large buffer belongs in its planned kernel scratch (ctx->buf, sized by its
``*_buffer_size`` twin), where the plan and the fit check count it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

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
