"""edgeq_convolve_shallow_s8: convolutions on 1-3 input channels (first layers: RGB / grayscale images, spectrograms,
and a depthwise layer on one channel) on the Cortex-M4 with the DSP extension, compared byte for byte with the TFLM
interpreter on single-op models from the real TF converter. The shapes cover its edges: 1, 2 and 3 input channels;
odd and even output channel counts; strides 1 and 2 (and 2 x 1); SAME (symmetric and asymmetric) and VALID padding;
3x3, 5x5, 10x4, 1x1 and 2x4 filters (specialised instances and the general one); ReLU / ReLU6 (a clamped range) and
none (all of int8); per-channel and per-tensor weights; a bias and none. The planner runs three of them in place
(:data:`RING`: the output written through the delay ring, one with an odd channel count through the stage).

The same C is also built for the host (the plain-C path of the kernel, with ASan/UBSan) from code compiled for
cortex-m4, so the constants' layout is checked without QEMU too."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from compiler_util import assert_bit_exact, random_inputs, require_gcc, single_op_model  # noqa: F401
from compiler_util import SANITIZE, tflm_runtime
from fwutil import need_arm, tflm_outputs

pytestmark = pytest.mark.tf


def _conv(hwc, filters, kernel, strides, padding, act, bias=True, seed=0, **extra):
    return {"op": "conv", "inputs": [hwc], "filters": filters, "kernel": kernel, "strides": strides,
            "dilation": [1, 1], "padding": padding, "act": act, "bias": bias, "range": 2.0, "seed": seed, **extra}


#: spec key -> (spec, the kernel model.c must call)
SPECS = {
    "c3-3x3-s2-same-relu6": (_conv([13, 12, 3], 8, [3, 3], [2, 2], "same", "relu6", seed=1),
                             "edgeq_convolve_shallow_3x3x3_s8("),
    "c3-3x3-s1-same-odd-cout": (_conv([9, 7, 3], 7, [3, 3], [1, 1], "same", None, bias=False, seed=2),
                                "edgeq_convolve_shallow_3x3x3_s8("),
    "c1-10x4-s2-same": (_conv([15, 10, 1], 9, [10, 4], [2, 2], "same", "relu", seed=3),
                        "edgeq_convolve_shallow_10x4x1_s8("),
    "c2-5x5-s1-valid": (_conv([9, 8, 2], 6, [5, 5], [1, 1], "valid", None, seed=4), "edgeq_convolve_shallow_s8("),
    "c3-5x5-s2-same-per-tensor": (_conv([11, 10, 3], 5, [5, 5], [2, 2], "same", "relu", seed=5, per_tensor=True),
                                  "edgeq_convolve_shallow_5x5x3_s8("),
    "c2-3x3-s21-same": (_conv([8, 9, 2], 4, [3, 3], [2, 1], "same", "relu", seed=6),
                        "edgeq_convolve_shallow_3x3x2_s8("),
    "c1-5x5-s1-valid-odd": (_conv([8, 8, 1], 3, [5, 5], [1, 1], "valid", None, bias=False, seed=7),
                            "edgeq_convolve_shallow_5x5x1_s8("),
    "c3-2x4-s1-same": (_conv([7, 9, 3], 4, [2, 4], [1, 1], "same", "relu6", seed=8), "edgeq_convolve_shallow_s8("),
    "c3-1x1": (_conv([5, 6, 3], 5, [1, 1], [1, 1], "valid", None, seed=9), "edgeq_convolve_shallow_s8("),
    "dw-c1-mult8-s2-same": ({"op": "dw", "inputs": [[11, 10, 1]], "mult": 8, "kernel": [3, 3], "strides": [2, 2],
                             "dilation": [1, 1], "padding": "same", "act": "relu", "bias": True, "range": 2.0,
                             "seed": 10}, "edgeq_convolve_shallow_3x3x1_s8("),
}

#: the specs whose layer the planner runs in place (its output over its input through a delay ring)
RING = {"c3-3x3-s2-same-relu6", "c3-5x5-s2-same-per-tensor", "c2-3x3-s21-same"}


@pytest.mark.parametrize("key", list(SPECS))
def test_shallow_kernel_compiled_for_m4_on_host_bit_exact(single_op_model, tmp_path, key):
    """Code compiled for cortex-m4 (the shallow kernel chosen), built for this computer: the plain-C path."""
    from edgeq.compiler import compile_model

    tflm_runtime()
    require_gcc()
    spec, kernel = SPECS[key]
    model = single_op_model(spec)
    m4, host = tmp_path / "m4", tmp_path / "host"
    compile_model(model, target="cortex-m4", backend="portable", out_dir=m4)
    model_c = (m4 / "model.c").read_text()
    assert kernel in model_c and ("ctx = {.buf = scratch_conv0" in model_c) == (key in RING)
    compile_model(model, target="host", backend="portable", out_dir=host)  # for its main_host.c (stdin/stdout)
    shutil.copy(host / "main_host.c", m4)
    sources = ["main_host.c"] + sorted(p.name for p in m4.glob("*.c") if p.name != "main_host.c")
    subprocess.run(["gcc", "-O2", "-std=c99", "-Wall", "-Wextra", "-Werror", *SANITIZE.split(), "-I.", "-o",
                    "model_host", *sources, "-lm"], cwd=m4, check=True, capture_output=True)
    assert_bit_exact(model, m4 / "model_host", random_inputs(model, 4, seed=len(key)))


@pytest.mark.slow
@pytest.mark.qemu
@pytest.mark.parametrize("key", list(SPECS))
def test_shallow_kernel_on_qemu_m4_bit_exact(single_op_model, tmp_path, key):
    """The DSP path (SXTB16, LDRD + SMLAD tiles, SMMLAR) on the emulated Cortex-M4."""
    need_arm()
    from edgeq.targets.export import export
    from test_firmware_qemu import device

    spec, kernel = SPECS[key]
    model = single_op_model(spec)
    res = export(model, "qemu-m4", tmp_path / key, backend="portable", build=True)
    assert kernel in next(res.out_dir.rglob("model.c")).read_text()
    with device("qemu-m4", res.out_dir) as (link, _):
        for x in random_inputs(model, 3, seed=len(key)):
            assert link.load(x.tobytes()) == ["m-load-done"]
            assert link.run()[1] == tflm_outputs(model, x), f"{key}: device output differs from TFLM"
