"""`--optimize size` (edgeq compile / export, the Python API): the portable backend's general kernels only (no
shape-specialised 1x1 convolution or 3x3 depthwise kernel, no reordered weights), bit-exact with TFLM on the host and
in QEMU, less flash than `--optimize speed`; a bad value is one line and exit 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from compiler_util import assert_bit_exact, random_inputs, require_gcc, tflm_runtime
from conftest import assert_user_error, require_tool, run_cli

SPECIALISED = {"edgeq_convolve_1x1_s8", "edgeq_convolve_kxk_s8", "edgeq_depthwise_conv_3x3_s8",
               "edgeq_depthwise_conv_3x3_plane_s8", "edgeq_convolve_shallow_s8", "edgeq_convolve_shallow_10x4x1_s8"}


@pytest.fixture(scope="module")
def kws(shared_models):
    return shared_models / "kws_ref_model.tflite"


def test_size_host_bit_exact_general_kernels_only(kws, shared_models, tmp_path):
    tflm_runtime()
    require_gcc()
    proc = run_cli("compile", kws, "--target", "host", "--optimize", "size", "--build", "--json", "-o", "kws_size",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert res["optimize"] == "size"
    kernels = {layer["kernel"] for layer in res["layers"] if layer["kernel"]}
    assert not kernels & SPECIALISED and {"edgeq_convolve_wrapper_s8", "edgeq_depthwise_conv_wrapper_s8"} <= kernels
    assert not {f"{k}.c" for k in SPECIALISED} & set(res["files"])

    from edgeq.compiler import plan_model

    speed = plan_model(kws, target="host")  # the default picks the specialised kernels for the same model
    assert {layer.calls[0].kernel for layer in speed.lowered.layers if layer.calls} >= {
        "convolve_1x1_s8", "convolve_kxk_s8", "depthwise_conv_3x3_plane_s8"}
    for optimize, first in (("speed", "convolve_shallow_10x4x1_s8"), ("size", "convolve_wrapper_s8")):
        m4 = plan_model(kws, target="cortex-m4", optimize=optimize)  # the first layer on a DSP core
        assert m4.lowered.layers[0].calls[0].kernel == first
    sample = np.fromfile(shared_models / "kws01_sample_mfcc_49x10_int8.bin", dtype=np.int8).reshape(1, 49, 10, 1)
    assert_bit_exact(kws, tmp_path / "kws_size" / "model_host", [sample] + random_inputs(kws, 6, seed=15))


@pytest.mark.slow
@pytest.mark.qemu
def test_size_firmware_bit_exact_in_qemu_and_smaller(kws, tmp_path):
    tflm_runtime()
    require_tool("arm-none-eabi-gcc", "gcc-arm-none-eabi libnewlib-arm-none-eabi")
    require_tool("qemu-system-arm", "qemu-system-arm")
    flash = {}
    for opt in ("size", "speed"):
        proc = run_cli("export", kws, "--board", "qemu-m4", "--runtime", "edgeq", "--backend", "portable",
                       "--optimize", opt, "--build", "--json", "-o", f"fw_{opt}", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        d = json.loads(proc.stdout)
        assert d["compile"]["optimize"] == opt
        flash[opt] = d["flash_bytes"]
    assert flash["size"] < flash["speed"]
    # bench builds the same firmware from the model with --optimize size, and verifies it against TFLM
    proc = run_cli("bench", "--board", "qemu-m4", "--model", kws, "--backend", "portable", "--optimize", "size",
                   "--runs", "4", "--warmup", "0", "--json", cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    assert rep["verified"] == 4 and rep["mismatches"] == 0 and rep["reference"] == "tflm"
    assert rep["firmware"]["built_from_model"] and rep["firmware"]["optimize"] == "size"
    assert rep["firmware"]["flash_bytes"] == flash["size"]


@pytest.mark.parametrize("command", ["compile", "export"])
def test_bad_optimize_value(kws, tmp_path, command):
    proc = run_cli(command, kws, "--optimize", "fast", "-o", "out", cwd=tmp_path)
    assert_user_error(proc, "--optimize", "fast")
    assert not (tmp_path / "out").exists()


def test_bad_optimize_value_bench(kws, tmp_path):
    proc = run_cli("bench", "--board", "qemu-m4", "--model", kws, "--optimize", "fast", cwd=tmp_path)
    assert_user_error(proc, "--optimize", "fast")


def test_bad_optimize_value_api(kws, tmp_path):
    from edgeq.api import compile as compile_model
    from edgeq.errors import EdgeqError

    with pytest.raises(EdgeqError, match="optimiz"):
        compile_model(kws, tmp_path / "out", optimize="fast")
    assert not (tmp_path / "out").exists()
