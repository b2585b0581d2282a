"""Firmware on emulated Cortex-M (QEMU): the MLPerf Tiny models and a QAT model exported for qemu-m4 with the portable
backend, built with arm-none-eabi-gcc, run in QEMU; input over the emulated UART, raw outputs identical to the TFLM
reference interpreter. Also qemu-m7 / qemu-m55, an Arduino sketch's check build, the EEMBC command path (MLPerf
runner style, including the float32 AD window), protocol abuse on the device, and the SysTick calibration."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from compiler_util import random_inputs, single_op_model  # noqa: F401
from conftest import run_cli
from fwutil import Serial, need_arm, random_input, tflm_outputs

pytestmark = [pytest.mark.slow, pytest.mark.qemu, pytest.mark.timeout(900)]

MODELS = {"kws": "kws_ref_model.tflite", "ic": "pretrainedResnet_quant.tflite", "vww": "vww_96_int8.tflite",
          "ad": "ad01_int8.tflite", "toycar": "model_ToyCar_quant_fullint.tflite"}
BUILDS = {
    # key: (model key, board, export options)
    "kws": ("kws", "qemu-m4", {}),
    "ic": ("ic", "qemu-m4", {}),
    "vww": ("vww", "qemu-m4", {}),
    "ad": ("ad", "qemu-m4", {"db_format": "raw"}),
    "ic-m7": ("ic", "qemu-m7", {}),
    "kws-m55": ("kws", "qemu-m55", {}),
    "ad-mlperf": ("ad", "qemu-m4", {}),  # the default for ad01: the runner's float32 windows
    "kws-energy": ("kws", "qemu-m4", {"energy": True}),
    "kws-nano33ble": ("kws", "nano33ble", {}),
    "toycar": ("toycar", "qemu-m4", {}),
}


@pytest.fixture(scope="module")
def fw(shared_models, tmp_path_factory):
    """Every firmware of this module, exported and built once (two at a time)."""
    need_arm()
    from edgeq.targets.export import export

    root = tmp_path_factory.mktemp("fw")

    def build(key):
        mkey, board, opts = BUILDS[key]
        res = export(shared_models / MODELS[mkey], board, root / key, backend="portable", build=True, **opts)
        return key, res

    with ThreadPoolExecutor(max_workers=2) as ex:
        results = dict(ex.map(build, BUILDS))
    return results


@contextlib.contextmanager
def device(board: str, firmware):
    from edgeq.targets.emulators import start_emulator

    emu = start_emulator(board, firmware)
    link = None
    try:
        link = Serial(emu.url)
        boot = link.boot()
        assert boot[0].startswith("m-boot-[edgeq "), boot
        yield link, boot
    finally:
        if link:
            link.close()
        emu.stop()
        assert not emu.alive()


def _check_bit_exact(res, model: Path, board: str, seed: int = 0, firmware=None):
    x = random_input(model, seed)
    ref = tflm_outputs(model, x)
    with device(board, firmware or res.out_dir) as (link, boot):
        assert link.load(x.tobytes()) == ["m-load-done"]
        ticks, out = link.run(warmup=1)
        ticks2, out2 = link.run()
        info = link.info()
    assert out == ref, f"{model.name} on {board}: device output differs from TFLM"
    assert out2 == out and abs(ticks2 - ticks) <= 2 and ticks > 0  # -icount: repeatable
    return info, ticks


def test_host_target_plan_on_a_core_with_dsp(shared_models, tmp_path):
    """--target host plans the plain C loops' working buffers, and its Makefiles define EDGEQ_NO_DSP, so a 32-bit Arm
    computer (a Raspberry Pi's armhf userland, whose armv7-a has the DSP extension) runs the plan it was made for (it
    once returned EDGEQ_ARG_ERROR there). KWS compiled for --target host (a KxK first layer and 1x1 layers, some in
    place), built into the qemu-m4 firmware in place of its own model: without EDGEQ_NO_DSP the build stops with a
    clear #error, with it the outputs are TFLM's."""
    import shutil

    from edgeq.compiler import compile_model
    from edgeq.targets.export import export

    need_arm()
    model = shared_models / MODELS["kws"]
    host = tmp_path / "host"
    compile_model(model, target="host", backend="portable", out_dir=host)
    assert "-DEDGEQ_NO_DSP" in (host / "Makefile").read_text()
    res = export(model, "qemu-m4", tmp_path / "fw", backend="portable", force=True)
    model_dir = res.out_dir / "model"
    shutil.rmtree(model_dir)
    model_dir.mkdir()
    for f in host.iterdir():
        if f.name not in ("main_host.c", "Makefile"):
            shutil.copy(f, model_dir / f.name)
    assert "edgeq_convolve_1x1_s8(" in (model_dir / "model.c").read_text()
    proc = subprocess.run(["make", "-s", "-j2"], cwd=res.out_dir, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "compiled for --target host (no DSP extension)" in proc.stderr, proc.stderr[-2000:]
    subprocess.run(["make", "-s", "-j2", "-B", "EXTRA_CFLAGS=-DEDGEQ_NO_DSP"], cwd=res.out_dir, check=True,
                   capture_output=True)
    x = random_input(model, 3)
    with device("qemu-m4", res.out_dir / "build" / "firmware.elf") as (link, _):
        assert link.load(x.tobytes()) == ["m-load-done"]
        assert link.run()[1] == tflm_outputs(model, x), "the --target host plan built with EDGEQ_NO_DSP differs"


@pytest.mark.parametrize("key", ["kws", "ic", "vww", "ad"])
def test_mlperf_model_on_qemu_m4_bit_exact_with_tflm(fw, shared_models, key):
    res = fw[key]
    info, ticks = _check_bit_exact(res, shared_models / MODELS[key], "qemu-m4", seed=hash(key) % 100)
    assert info["model"] == res.model_name and info["sha256"] == res.sha256[:16]
    assert info["board"] == "qemu-m4" and info["backend"] == "portable" and info["runtime"] == "edgeq"
    assert info["timer"] == {"unit": "instructions", "per_tick": 40, "source": "systick-icount"}
    assert info["arena_bytes"] == res.compile["arena_bytes"] + res.compile["scratch_bytes"]
    assert 0 < info["stack_used"] < info["stack_bytes"] == 16384
    assert res.build.firmware.is_file() and res.build.flash_bytes > res.compile["const_bytes"]


@pytest.mark.parametrize("key,board,per_tick", [("ic-m7", "qemu-m7", 40), ("kws-m55", "qemu-m55", 31.25)])
def test_other_cores_bit_exact(fw, shared_models, key, board, per_tick):
    res = fw[key]
    info, _ = _check_bit_exact(res, shared_models / MODELS[BUILDS[key][0]], board, seed=7)
    assert info["board"] == board and info["timer"]["per_tick"] == per_tick


def test_float_io_model_bit_exact(fw, shared_models):
    """int8 inside, float32 input and output (QUANTIZE/DEQUANTIZE ops): raw float bytes both ways."""
    info, _ = _check_bit_exact(fw["toycar"], shared_models / MODELS["toycar"], "qemu-m4", seed=11)
    assert info["inputs"][0]["dtype"] == "float32" and info["inputs"][0]["bytes"] == 2560
    assert info["outputs"][0]["dtype"] == "float32" and info["results"] == "mse"


@pytest.fixture(scope="module")
def qat_model(digits_cnn_path, digits, tmp_path_factory):
    pytest.importorskip("tensorflow", reason="TensorFlow is needed for the QAT model")
    from edgeq.convert.load import load_model
    from edgeq.qat.train import run_qat

    model = load_model(digits_cnn_path).obj
    res = run_qat(model, digits.x_train, digits.y_train, epochs=1, lr=1e-4, source="digits_qat")
    path = tmp_path_factory.mktemp("qat") / "digits_qat.tflite"
    path.write_bytes(res.tflite)
    return path


def test_qat_model_on_qemu_m4_bit_exact_with_tflm(qat_model, tmp_path, digits):
    need_arm()
    from edgeq.targets.export import export
    from edgeq.tflite import read_model

    res = export(qat_model, "qemu-m4", tmp_path / "qat", backend="portable", build=True)
    t = read_model(qat_model).input_tensors()[0]
    with device("qemu-m4", res.out_dir) as (link, _):
        for i in range(3):
            x = np.clip(np.round(digits.x_test[i] / np.float32(t.scale)) + t.zero_point, -128, 127)
            x = x.astype(np.int8).reshape(t.shape)
            assert link.load(x.tobytes()) == ["m-load-done"]
            assert link.run()[1] == tflm_outputs(qat_model, x)


#: single-op models for the DSP (__smlad / __smlabb) paths of the portable kernels on the M4, at their edges: runs
#: that are not a multiple of 4 bytes (the plain C tail), fewer than 4 channels left over, grouped and dilated
#: convolutions (one run per tap), depth multiplier > 1, SAME borders, strides; the MLPerf models only cover the
#: shapes they happen to have.
DSP_SPECS = {
    "conv-cin3-same": {"op": "conv", "inputs": [[9, 7, 3]], "filters": 7, "kernel": [3, 3], "strides": [1, 1],
                       "dilation": [1, 1], "padding": "same", "act": "relu", "bias": True, "range": 2.0, "seed": 1},
    "conv-1x1-cin13": {"op": "conv", "inputs": [[5, 6, 13]], "filters": 10, "kernel": [1, 1], "strides": [1, 1],
                       "dilation": [1, 1], "padding": "valid", "act": None, "bias": True, "range": 8.0, "seed": 2},
    "conv-1x1-odd": {"op": "conv", "inputs": [[5, 5, 9]], "filters": 7, "kernel": [1, 1], "strides": [1, 1],
                     "dilation": [1, 1], "padding": "valid", "act": "relu6", "bias": True, "range": 4.0, "seed": 9},
    "conv-1x1-stride2": {"op": "conv", "inputs": [[9, 7, 8]], "filters": 6, "kernel": [1, 1], "strides": [2, 2],
                         "dilation": [1, 1], "padding": "valid", "act": None, "bias": False, "range": 2.0,
                         "seed": 10},
    # the int16-lane core (C_IN % 4 == 0 windows straight into lanes, SAME padding read as the zero point, stride 2,
    # odd output channels; a 1x1 with a depth % 4 tail, more than the 64 channels held before requantization and an
    # odd last one)
    "conv-3x3-cin16-same": {"op": "conv", "inputs": [[7, 6, 16]], "filters": 13, "kernel": [3, 3],
                            "strides": [1, 1], "dilation": [1, 1], "padding": "same", "act": "relu", "bias": True,
                            "range": 3.0, "seed": 18},
    "conv-3x3-cin8-stride2": {"op": "conv", "inputs": [[9, 8, 8]], "filters": 6, "kernel": [3, 3],
                              "strides": [2, 2], "dilation": [1, 1], "padding": "same", "act": None, "bias": False,
                              "range": 8.0, "seed": 16},
    "conv-1x1-cin37-cout67": {"op": "conv", "inputs": [[3, 5, 37]], "filters": 67, "kernel": [1, 1],
                              "strides": [1, 1], "dilation": [1, 1], "padding": "valid", "act": "relu6",
                              "bias": True, "range": 3.0, "seed": 21},
    "conv-k10x4-cin1-stride2": {"op": "conv", "inputs": [[13, 10, 1]], "filters": 9, "kernel": [10, 4],
                                "strides": [2, 2], "dilation": [1, 1], "padding": "same", "act": "relu",
                                "bias": True, "range": 2.0, "seed": 13},
    "conv-5x3-cin6-stride21": {"op": "conv", "inputs": [[9, 8, 6]], "filters": 6, "kernel": [5, 3],
                               "strides": [2, 1], "dilation": [1, 1], "padding": "same", "act": None,
                               "bias": False, "range": 8.0, "seed": 14},
    "conv-dilated-stride": {"op": "conv", "inputs": [[11, 10, 6]], "filters": 5, "kernel": [3, 2],
                            "strides": [1, 1], "dilation": [2, 2], "padding": "same", "act": "relu6", "bias": False,
                            "range": 0.5, "seed": 3},
    "conv-grouped": {"op": "conv", "inputs": [[6, 6, 8]], "filters": 12, "groups": 2, "kernel": [3, 3],
                     "strides": [2, 2], "dilation": [1, 1], "padding": "same", "act": None, "bias": True,
                     "range": 2.0, "seed": 4},
    "dw-c6-same": {"op": "dw", "inputs": [[8, 9, 6]], "mult": 1, "kernel": [3, 3], "strides": [1, 1],
                   "dilation": [1, 1], "padding": "same", "act": "relu", "bias": True, "range": 2.0, "seed": 5},
    "dw-3x3-c7-same": {"op": "dw", "inputs": [[6, 5, 7]], "mult": 1, "kernel": [3, 3], "strides": [1, 1],
                       "dilation": [1, 1], "padding": "same", "act": "relu", "bias": True, "range": 4.0, "seed": 11},
    "dw-3x3-stride2-valid": {"op": "dw", "inputs": [[9, 8, 12]], "mult": 1, "kernel": [3, 3], "strides": [2, 1],
                             "dilation": [1, 1], "padding": "valid", "act": None, "bias": False, "range": 2.0,
                             "seed": 12},
    "dw-cin1-mult8-stride2": {"op": "dw", "inputs": [[11, 10, 1]], "mult": 8, "kernel": [3, 3], "strides": [2, 2],
                              "dilation": [1, 1], "padding": "same", "act": "relu", "bias": True, "range": 2.0,
                              "seed": 15},
    "dw-mult2-stride2": {"op": "dw", "inputs": [[9, 8, 5]], "mult": 2, "kernel": [3, 3], "strides": [2, 2],
                         "dilation": [1, 1], "padding": "same", "act": None, "bias": True, "range": 8.0, "seed": 6},
    "dense-37x7": {"op": "dense", "inputs": [[37]], "units": 7, "act": "relu", "bias": True,
                   "per_tensor_dense": False, "range": 2.0, "seed": 7},
    "dense-per-tensor-2x19": {"op": "dense", "inputs": [[2, 19]], "units": 9, "act": None, "bias": False,
                              "per_tensor_dense": True, "range": 0.5, "seed": 8},
}


@pytest.mark.tf
@pytest.mark.parametrize("key", list(DSP_SPECS))
def test_dsp_kernel_paths_on_qemu_m4_bit_exact_with_tflm(single_op_model, tmp_path, key):
    need_arm()
    from edgeq.targets.export import export

    model = single_op_model(DSP_SPECS[key])
    res = export(model, "qemu-m4", tmp_path / key, backend="portable", build=True)
    with device("qemu-m4", res.out_dir) as (link, _):
        for x in random_inputs(model, 3, seed=len(key)):
            assert link.load(x.tobytes()) == ["m-load-done"]
            assert link.run()[1] == tflm_outputs(model, x), f"{key}: device output differs from TFLM"


#: Helium kernels on the M55. 1x1 convolutions run edgeq_convolve_1x1_mve_s8 (Helium, 16 input channels per vector, a tail
#: predicate): fewer than 16 input channels, more but not a multiple of 16, an odd channel and pixel count, a stride
MVE_SPECS = {
    "conv-1x1-cin13": DSP_SPECS["conv-1x1-cin13"],
    "conv-1x1-cin37-odd": {"op": "conv", "inputs": [[3, 5, 37]], "filters": 7, "kernel": [1, 1], "strides": [1, 1],
                           "dilation": [1, 1], "padding": "valid", "act": "relu", "bias": True, "range": 4.0,
                           "seed": 13},
    "conv-1x1-stride2": DSP_SPECS["conv-1x1-stride2"],
    # 67 output channels: a second block of held accumulators (64 at a time) with an odd last channel
    "conv-1x1-cout67": {"op": "conv", "inputs": [[5, 3, 20]], "filters": 67, "kernel": [1, 1], "strides": [1, 1],
                        "dilation": [1, 1], "padding": "valid", "act": "relu6", "bias": True, "range": 3.0,
                        "seed": 21},
    # depthwise layers run edgeq_depthwise_conv_mve_s8 (16 channels per vector, tail predicates): fewer than 16
    # channels, more but not a multiple of 16, stride 2 with and without padding, a dilated and a 5x5 filter, and a
    # depth multiplier of 2 that keeps the general kernel. Tall and narrow inputs so that the planner keeps the delay
    # ring (the kernel's own order) rather than the channel-plane kernel for the in-place layers.
    "dw-3x3-c7-same": {"op": "dw", "inputs": [[30, 3, 7]], "mult": 1, "kernel": [3, 3], "strides": [1, 1],
                       "dilation": [1, 1], "padding": "same", "act": "relu", "bias": True, "range": 4.0, "seed": 11},
    "dw-3x3-c37-same": {"op": "dw", "inputs": [[50, 3, 37]], "mult": 1, "kernel": [3, 3], "strides": [1, 1],
                        "dilation": [1, 1], "padding": "same", "act": "relu6", "bias": True, "range": 4.0,
                        "seed": 14},
    "dw-3x3-stride2-valid": DSP_SPECS["dw-3x3-stride2-valid"],
    "dw-3x3-c33-stride2-same": {"op": "dw", "inputs": [[9, 8, 33]], "mult": 1, "kernel": [3, 3], "strides": [2, 2],
                                "dilation": [1, 1], "padding": "same", "act": None, "bias": True, "range": 2.0,
                                "seed": 16},
    "dw-3x3-c20-dilated": {"op": "dw", "inputs": [[50, 6, 20]], "mult": 1, "kernel": [3, 3], "strides": [1, 1],
                           "dilation": [2, 2], "padding": "same", "act": None, "bias": False, "range": 2.0,
                           "seed": 15},
    "dw-5x5-c20-valid": {"op": "dw", "inputs": [[9, 8, 20]], "mult": 1, "kernel": [5, 5], "strides": [1, 1],
                         "dilation": [1, 1], "padding": "valid", "act": "relu", "bias": True, "range": 2.0,
                         "seed": 17},
    "dw-mult2-stride2": DSP_SPECS["dw-mult2-stride2"],
    # one input channel, depth multiplier 8 (person_detect's first layer): the convolution it is, on the shallow
    # kernel (a 9-byte window, DSP SMLAD tiles)
    "dw-c1-mult8-stride2": {"op": "dw", "inputs": [[12, 11, 1]], "mult": 8, "kernel": [3, 3], "strides": [2, 2],
                            "dilation": [1, 1], "padding": "same", "act": "relu", "bias": True, "range": 2.0,
                            "seed": 22},
    # KxK convolutions run edgeq_convolve_kxk_mve_s8 (windows of 3 x 3 x 16 and 10 x 4 x 1 bytes: tail predicates,
    # SAME padding reading the zero point, stride 2, odd output channels), except a first layer with a window of at
    # most 32 bytes (3 x 3 x 3), which runs edgeq_convolve_shallow_3x3x3_s8; a dilated one keeps the general kernel
    "conv-3x3-c16-same": {"op": "conv", "inputs": [[10, 9, 16]], "filters": 13, "kernel": [3, 3], "strides": [1, 1],
                          "dilation": [1, 1], "padding": "same", "act": "relu", "bias": True, "range": 3.0,
                          "seed": 18},
    "conv-3x3-c3-stride2": {"op": "conv", "inputs": [[11, 12, 3]], "filters": 8, "kernel": [3, 3], "strides": [2, 2],
                            "dilation": [1, 1], "padding": "same", "act": "relu6", "bias": True, "range": 2.0,
                            "seed": 19},
    "conv-10x4-c1-stride2": {"op": "conv", "inputs": [[15, 10, 1]], "filters": 7, "kernel": [10, 4],
                             "strides": [2, 2], "dilation": [1, 1], "padding": "same", "act": "relu", "bias": True,
                             "range": 2.0, "seed": 20},
    "conv-dilated-stride": DSP_SPECS["conv-dilated-stride"],
}

#: the kernel each MVE_SPECS layer must be compiled to on the M55 (the longest matching key prefix)
MVE_KERNELS = {"conv-1x1": "edgeq_convolve_1x1_mve_s8(", "conv": "edgeq_convolve_kxk_mve_s8(",
               "conv-dilated": "edgeq_convolve_wrapper_s8(", "dw": "edgeq_depthwise_conv_mve_s8(",
               "dw-mult2": "edgeq_depthwise_conv_wrapper_s8(", "dw-c1": "edgeq_convolve_shallow_3x3x1_s8(",
               "conv-3x3-c3": "edgeq_convolve_shallow_3x3x3_s8("}


@pytest.mark.tf
@pytest.mark.parametrize("key", list(MVE_SPECS))
def test_mve_kernels_on_qemu_m55_bit_exact_with_tflm(single_op_model, tmp_path, key):
    need_arm()
    from edgeq.targets.export import export

    model = single_op_model(MVE_SPECS[key])
    res = export(model, "qemu-m55", tmp_path / key, backend="portable", build=True)
    kernel = MVE_KERNELS[max((k for k in MVE_KERNELS if key.startswith(k)), key=len)]
    assert kernel in next(res.out_dir.rglob("model.c")).read_text()
    with device("qemu-m55", res.out_dir) as (link, _):
        for x in random_inputs(model, 3, seed=len(key)):
            assert link.load(x.tobytes()) == ["m-load-done"]
            assert link.run()[1] == tflm_outputs(model, x), f"{key}: device output differs from TFLM"


@pytest.mark.tf
def test_folded_pads_and_inplace_depthwise_on_qemu_m4_bit_exact_with_tflm(single_op_model, tmp_path):
    """An MCUNet-like net (explicit PADs folded into their convolutions, depthwise layers in place through delay
    rings or channel planes, 1x1 layers in place, e.g. 24 -> 8 and 48 -> 16, which the DSP lane core writes
    straight over their inputs) on the emulated Cortex-M4 with the DSP kernels: outputs equal TFLM's."""
    need_arm()
    from edgeq.targets.export import export

    model = single_op_model({"op": "mcunet_like", "inputs": [[32, 32, 3]], "width": 8, "seed": 4})
    res = export(model, "qemu-m4", tmp_path / "mcunet", backend="portable", build=True)
    model_c = next(res.out_dir.rglob("model.c")).read_text()
    assert model_c.count("PAD folded into layer") == 3
    assert re.search(r"DEPTHWISE_CONV_2D +(?:\d+ +){4}in place", model_c)
    assert len(re.findall(r"CONV_2D +(?:\d+ +){4}in place, \d+ B ring", model_c)) >= 2
    with device("qemu-m4", res.out_dir) as (link, _):
        for x in random_inputs(model, 3, seed=17):
            assert link.load(x.tobytes()) == ["m-load-done"]
            assert link.run()[1] == tflm_outputs(model, x), "device output differs from TFLM"


@pytest.mark.tf
@pytest.mark.parametrize("board", ["qemu-m4", "qemu-m0plus"])
def test_inplace_3x3_depthwise_plane_kernel_on_qemu_bit_exact_with_tflm(single_op_model, tmp_path, board):
    """A 3x3 depthwise layer in place through its padded channel plane (edgeq_depthwise_conv_3x3_plane_s8) with an
    odd channel count, an odd width and a clamped activation: with the DSP extension (SMLAD on plane words, M4) and
    without (M0+), outputs equal TFLM's."""
    need_arm()
    from edgeq.targets.export import export

    model = single_op_model({"op": "dw", "inputs": [[7, 9, 13]], "mult": 1, "kernel": [3, 3], "strides": [1, 1],
                             "dilation": [1, 1], "padding": "same", "act": "relu6", "bias": True, "seed": 31})
    res = export(model, board, tmp_path / board, backend="portable", build=True)
    assert "edgeq_depthwise_conv_3x3_plane_s8(" in next(res.out_dir.rglob("model.c")).read_text()
    with device(board, res.out_dir) as (link, _):
        for x in random_inputs(model, 3, seed=5):
            assert link.load(x.tobytes()) == ["m-load-done"]
            assert link.run()[1] == tflm_outputs(model, x), "device output differs from TFLM"


@pytest.mark.tf
@pytest.mark.parametrize("board", ["qemu-m4", "qemu-m0plus"])
def test_kxk_depthwise_plane_kernel_on_qemu_bit_exact_with_tflm(single_op_model, tmp_path, board):
    """A 7x7 depthwise layer that cannot run in place (its input feeds a residual ADD) runs on
    edgeq_depthwise_conv_kxk_plane_s8 with its plane in the kernel scratch: with the DSP extension (two SMLAD per plane
    word, M4) and without (M0+), outputs equal TFLM's."""
    need_arm()
    from edgeq.targets.export import export

    model = single_op_model({"op": "dw_keep", "expand": 4, "inputs": [[8, 11, 9]], "kernel": [7, 7],
                             "strides": [1, 1], "padding": "same", "act": None, "bias": True, "seed": 45})
    res = export(model, board, tmp_path / board, backend="portable", build=True)
    assert "edgeq_depthwise_conv_kxk_plane_s8(" in next(res.out_dir.rglob("model.c")).read_text()
    with device(board, res.out_dir) as (link, _):
        for x in random_inputs(model, 3, seed=6):
            assert link.load(x.tobytes()) == ["m-load-done"]
            assert link.run()[1] == tflm_outputs(model, x), "device output differs from TFLM"


def test_check_build_of_an_arduino_sketch_runs_on_qemu(fw, shared_models):
    """nano33ble: the sketch's own sources, compiled for its Cortex-M4F and linked with the qemu-m4 platform."""
    res = fw["kws-nano33ble"]
    assert res.sketch.is_file() and res.build.kind == "check-qemu"
    info, _ = _check_bit_exact(res, shared_models / MODELS["kws"], "qemu-m4", seed=3, firmware=res.build.firmware)
    assert info["board"] == "nano33ble" and info["emulated_by"] == "qemu-m4"
    assert info["timer"]["unit"] == "instructions"


def test_eembc_session_like_the_mlperf_runner(fw, shared_models):
    """name, profile, db load + 31-byte db chunks, infer N W, results: the reference KWS sample gives 'On' (0.996)."""
    from edgeq import protocol_spec as spec

    sample = (shared_models / "kws01_sample_mfcc_49x10_int8.bin").read_bytes()
    ref = tflm_outputs(shared_models / MODELS["kws"], np.frombuffer(sample, np.int8).reshape(1, 49, 10, 1))
    with device("qemu-m4", fw["kws"].out_dir) as (link, boot):
        assert boot[1:] [:1] == ["m-timestamp-mode-performance"] and boot[-1] == "m-init-done"
        assert link.cmd("name") == ["m-name-dut-[edgeq]"]
        assert link.cmd("profile")[1] == "m-model-[kws01]"
        assert link.cmd(f"db load {len(sample)}") == [f"m-[Expecting {len(sample)} bytes]"]
        chunks = [sample[i:i + spec.MLPERF_DB_CHUNK] for i in range(0, len(sample), spec.MLPERF_DB_CHUNK)]
        for i, c in enumerate(chunks):
            assert link.cmd(f"db {c.hex()}") == (["m-load-done"] if i == len(chunks) - 1 else [])
        lines = link.cmd("infer 2 1", timeout=120)
        laps = [int(ln[len("m-lap-us-"):]) for ln in lines if ln.startswith("m-lap-us-")]
        assert len(laps) == 2 and laps[1] > laps[0]
        results = next(ln for ln in lines if ln.startswith("m-results-["))
        scores = [float(v) for v in results[len("m-results-["):-1].split(",")]
        assert len(scores) == 12 and int(np.argmax(scores)) == 5 and abs(scores[5] - 0.996) < 0.001
        out = next(ln for ln in lines if ln.startswith("m-out-"))
        assert out == f"m-out-{ref.hex()}-{zlib.crc32(ref):08x}"
        assert link.cmd("results") == [results, out]


def test_ad_float_window_with_mlperf_db_format(fw, shared_models):
    """--db-format mlperf: the AD window goes in as 2560 bytes of float32 (as the MLPerf runner sends it); the
    device quantizes it and prints the anomaly score."""
    from edgeq.tflite import read_model

    res = fw["ad-mlperf"]
    model = shared_models / MODELS["ad"]
    g = read_model(model)
    ti, to = g.input_tensors()[0], g.output_tensors()[0]
    window = (shared_models / "ad01_sample_normal_id_01_00000000_hist_librosa.bin").read_bytes()[:2560]
    r = np.frombuffer(window, "<f4") / np.float32(ti.scale)
    t = np.trunc(r)
    q = np.clip((t + (r - t >= 0.5) - (r - t <= -0.5)).astype(np.int32) + ti.zero_point, -128, 127).astype(np.int8)
    out = tflm_outputs(model, q.reshape(1, 640))
    from edgeq.bench.mlperf import reference_results
    from edgeq.targets.model_io import io_facts

    want = reference_results("ad01", out, io_facts(to), window, io_facts(ti), "float32")
    with device("qemu-m4", res.out_dir) as (link, _):
        info = link.info()
        assert info["db"] == {"format": "float32", "bytes": 2560} and info["buffer_bytes"] == 640
        assert link.cmd("db load 2560") == ["m-[Expecting 2560 bytes]"]
        for i in range(0, 2560, 31):
            link.cmd(f"db {window[i:i + 31].hex()}")
        lines = link.cmd("infer 1 0")
    assert f"m-results-[{want[0]}]" in lines  # the reference firmware's score: MSE against the float input
    assert abs(float(want[0]) - 11.648) < 0.1
    assert next(ln for ln in lines if ln.startswith("m-out-")).startswith(f"m-out-{out.hex()}-")


def test_protocol_abuse_on_the_device(fw, shared_models):
    model = shared_models / MODELS["ad"]
    x = random_input(model, 5)
    ref = tflm_outputs(model, x)
    with device("qemu-m4", fw["ad"].out_dir) as (link, _):
        assert link.load(x.tobytes()) == ["m-load-done"]
        assert link.cmd("db load 100000") == ["e-[db load 100000 exceeds the 640-byte input buffer]"]
        assert link.cmd("db load 10") == ["m-[Expecting 10 bytes]"]
        assert link.cmd("db 0x1") == ["e-[Insufficient number of hex digits]"]
        assert link.cmd("db zz11") == ["e-[Invalid hex digit 'zz']"]
        assert link.cmd("db " + "ab" * 40) == ["e-[command too long: at most 79 characters before the terminator]"]
        assert link.cmd("reboot now") == ["e-[Unknown command: reboot]"]
        assert link.cmd("edgeq-load 641 00000000") == ["e-[edgeq-load 641 exceeds the 640-byte input buffer]"]
        assert link.cmd("infer 1 0")[-1] == "e-[no input loaded: use db load N + db HEX, or edgeq-load N CRC]"
        link.send_raw(b"\x00\xff\x80garbage\r\n")
        assert link.cmd("")[-1].startswith("e-[Unknown command:")
        link.send_raw(b"edgeq-load 640 00000000%")
        link.read_until(b"m-bin-ready\r\n")
        link.send_raw(x.tobytes())
        assert link.lines_until_ready() == ["e-[crc mismatch]"]
        assert link.load(x.tobytes()) == ["m-load-done"]
        assert link.run()[1] == ref
        assert "m-boot" not in link.buf.decode(errors="replace")


@pytest.mark.parametrize("board", ["qemu-m4", "qemu-m7", "qemu-m55", "qemu-m0plus"])
def test_systick_calibration(board, tmp_path):
    """A loop of exactly 10,000,000 instructions measures per_tick as the board table says."""
    need_arm()
    from edgeq.targets.boards import get_board
    from edgeq.targets.emulators import start_emulator
    from edgeq.targets.platforms.cortexm import render_cortexm_platform
    from edgeq._templates import templates_dir

    b = get_board(board)
    render_cortexm_platform(tmp_path, b, {"model": "calibration"})
    (tmp_path / "main.c").write_text(r"""
#include <stdint.h>
#include "edgeq_platform.h"
static void put_u32(uint32_t v) { char b[12]; int n = 0; do { b[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (n) edgeq_plat_putc(b[--n]); }
int main(void) {
    edgeq_plat_init();
    uint32_t t0 = edgeq_plat_ticks();
    __asm volatile(".syntax unified\n ldr r0, =5000000\n 1: subs r0, #1\n bne 1b\n" ::: "r0", "cc");
    uint32_t t1 = edgeq_plat_ticks();
    put_u32(t1 - t0); edgeq_plat_putc('\r'); edgeq_plat_putc('\n'); edgeq_plat_putc('m'); edgeq_plat_putc('-');
    for (;;) {}
}
""")
    elf = tmp_path / "cal.elf"
    srcs = [str(tmp_path / f) for f in ("startup.c", "platform_qemu.c", "main.c")]
    subprocess.run(["arm-none-eabi-gcc", *b.core.cflags, "-O2", f"-I{tmp_path}", f"-I{templates_dir() / 'protocol'}",
                    *srcs, "-nostartfiles", "-specs=nano.specs", "-specs=nosys.specs", "-T", str(tmp_path / "link.ld"),
                    "-o", str(elf)], check=True, capture_output=True)
    with start_emulator(board, elf) as emu:
        link = Serial(emu.url)
        try:
            ticks = int(link.read_until(b"m-", 30).split(b"\r\n")[0])
        finally:
            link.close()
    instructions = 10_000_000
    assert abs(ticks * b.timer["per_tick"] - instructions) <= 4 * b.timer["per_tick"] + 20


def test_flash_cli_starts_qemu_and_prints_the_url(fw):
    """`edgeq flash --board qemu-m4 DIR --detach --json`: URL + PID; the device answers; stopped by its PID."""
    proc = run_cli("flash", "--board", "qemu-m4", fw["ad"].out_dir, "--detach", "--json", timeout=60)
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    try:
        assert d["url"].startswith("socket://127.0.0.1:") and d["pid"] > 0 and d["detached"] is True
        link = Serial(d["url"])
        try:
            assert link.boot()[0] == "m-boot-[edgeq ad01_int8 portable qemu-m4]"
            assert link.cmd("name") == ["m-name-dut-[edgeq]"]
        finally:
            link.close()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(d["pid"], signal.SIGKILL)


def test_energy_mode_pulses_the_fpgaio_led(fw, shared_models):
    """--energy on qemu-m4: boots with m-timestamp-mode-energy; every timestamp (boot, `timestamp`, both of `infer`)
    prints no m-lap-us and writes LED0 of the FPGA I/O low then high, as QEMU's trace of that register shows."""
    import re
    import time

    from edgeq.targets.emulators import start_emulator

    res = fw["kws-energy"]
    emu = start_emulator("qemu-m4", res.out_dir, trace=("mps2_fpgaio_write",))
    try:
        link = Serial(emu.url)
        boot = link.boot()
        assert "m-timestamp-mode-energy" in boot and not any(ln.startswith("m-lap-us-") for ln in boot), boot
        assert link.cmd("timestamp") == []
        link.load(random_input(shared_models / MODELS["kws"]).tobytes())
        lines = link.cmd("infer 2 1")
        assert lines[:4] == ["m-warmup-start-1", "m-warmup-done", "m-infer-start-2", "m-infer-done"], lines
        assert link.info()["timestamp_mode"] == "energy"
        link.close()
        time.sleep(0.3)
        writes = re.findall(r"mps2_fpgaio_write .*offset 0x0 data (0x[01]) ", emu.log.read_text())
    finally:
        emu.stop()
    assert writes == ["0x0", "0x1"] * 4, writes  # boot, timestamp, infer start, infer end
