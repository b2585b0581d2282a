"""The cmsis-nn backend on emulated Cortex-M: firmware exported with ``--backend cmsis-nn`` (the firmware engineer's
bare-metal project), built with arm-none-eabi-gcc, run in QEMU; raw outputs identical to the TFLM reference
interpreter. This exercises CMSIS-NN's DSP code path (qemu-m4, qemu-m7) and its MVE/Helium path (qemu-m55, including
the FULLY_CONNECTED kernel sums edgeq precomputes), with the kernel scratch sized by edgeq's mirrored getter rules.

Needs $EDGEQ_CMSIS_NN_DIR (a CMSIS-NN checkout), arm-none-eabi-gcc and qemu-system-arm.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from compiler_util import single_op_model  # noqa: F401  (fixture)
from fwutil import need_arm
from test_firmware_qemu import _check_bit_exact

pytestmark = [pytest.mark.slow, pytest.mark.qemu, pytest.mark.timeout(900)]

MODELS = {"kws": "kws_ref_model.tflite", "ic": "pretrainedResnet_quant.tflite", "vww": "vww_96_int8.tflite",
          "ad": "ad01_int8.tflite", "ww": "str_ww_ref_model.tflite"}
BUILDS = {  # key: (model key, board)
    "kws-m4": ("kws", "qemu-m4"),
    "ic-m4": ("ic", "qemu-m4"),
    "vww-m4": ("vww", "qemu-m4"),
    "ad-m4": ("ad", "qemu-m4"),
    "ww-m4": ("ww", "qemu-m4"),
    "ic-m7": ("ic", "qemu-m7"),
    "kws-m55": ("kws", "qemu-m55"),
    "ad-m55": ("ad", "qemu-m55"),
}


@pytest.fixture(scope="module")
def fw(shared_models, tmp_path_factory, cmsis_nn_dir):
    raw = cmsis_nn_dir
    need_arm()
    from edgeq.targets.export import export

    root = tmp_path_factory.mktemp("fw-cmsis")

    def build(key):
        mkey, board = BUILDS[key]
        return key, export(shared_models / MODELS[mkey], board, root / key, backend="cmsis-nn", cmsis_nn_dir=raw,
                           build=True)

    with ThreadPoolExecutor(max_workers=2) as ex:
        return dict(ex.map(build, BUILDS))


@pytest.mark.parametrize("key", list(BUILDS))
def test_cmsis_nn_firmware_bit_exact_with_tflm(fw, shared_models, key):
    res = fw[key]
    mkey, board = BUILDS[key]
    for seed in (1, 2):
        info, ticks = _check_bit_exact(res, shared_models / MODELS[mkey], board, seed=seed)
    assert info["backend"] == "cmsis-nn" and info["board"] == board
    assert info["arena_bytes"] == res.compile["arena_bytes"] + res.compile["scratch_bytes"]
    model_c = (res.out_dir / "model" / "model.c").read_text() if (res.out_dir / "model").is_dir() else ""
    if model_c:
        assert "arm_" in model_c


#: generated single-op models whose CMSIS-NN call edgeq renders itself (edgeq/compiler/cmsis_calls.py), and the board
OP_BUILDS = {
    "bmm-const-m4": ({"op": "matmul", "inputs": [[3, 6]], "const_shape": [2, 6, 4], "ranges": [2.0],
                      "centers": [0.5], "seed": 3, "input_names": ["a_lhs"]}, "qemu-m4", "arm_batch_matmul_s8"),
    "bmm-const-m55": ({"op": "matmul", "inputs": [[3, 6]], "const_shape": [2, 6, 4], "ranges": [2.0],
                       "centers": [0.5], "seed": 3, "input_names": ["a_lhs"]}, "qemu-m55", "arm_batch_matmul_s8"),
    "tconv-reverse-m4": ({"op": "transpose_conv", "seed": 2, "inputs": [[5, 4, 20]], "filters": 6, "kernel": [3, 3],
                          "strides": [2, 2], "padding": "same"}, "qemu-m4", "arm_transpose_conv_wrapper_s8"),
    "tconv-reverse-m55": ({"op": "transpose_conv", "seed": 2, "inputs": [[5, 4, 20]], "filters": 6, "kernel": [3, 3],
                           "strides": [2, 2], "padding": "same"}, "qemu-m55", "arm_transpose_conv_wrapper_s8"),
    "tconv-m4": ({"op": "transpose_conv", "seed": 2, "inputs": [[4, 4, 3]], "filters": 5, "kernel": [3, 3],
                  "strides": [2, 2], "padding": "same"}, "qemu-m4", "arm_transpose_conv_wrapper_s8"),
    "transpose-m4": ({"op": "transpose", "inputs": [[3, 5, 7]], "perm": [0, 2, 3, 1]}, "qemu-m4",
                     "arm_transpose_s8"),
    "maximum-m4": ({"op": "maximum", "inputs": [[4, 5, 3]], "const_shape": [1, 1, 5, 1], "seed": 2}, "qemu-m4",
                   "arm_maximum_s8"),  # one input: _check_bit_exact loads one
}


@pytest.mark.tf
@pytest.mark.parametrize("key", list(OP_BUILDS))
def test_cmsis_nn_op_mappings_on_qemu(single_op_model, tmp_path, cmsis_nn_dir, key):
    """BATCH_MATMUL (with its MVE vector-sum scratch on the M55), TRANSPOSE_CONV (both wrapper paths, its two
    buffers in one scratch block), TRANSPOSE and MAXIMUM through their CMSIS-NN functions on the emulated core: raw
    outputs identical to TFLM's."""
    need_arm()
    from edgeq.targets.export import export

    spec, board, function = OP_BUILDS[key]
    path = single_op_model(spec)
    res = export(path, board, tmp_path / key, backend="cmsis-nn", cmsis_nn_dir=cmsis_nn_dir, build=True)
    assert function in (res.out_dir / "model" / "model.c").read_text()
    for seed in (1, 2):
        _check_bit_exact(res, path, board, seed=seed)


@pytest.mark.tf
@pytest.mark.parametrize("backend,board", [("portable", "qemu-m4"), ("cmsis-nn", "qemu-m4"), ("cmsis-nn", "qemu-m55")])
def test_int16x8_model_on_qemu(single_op_model, tmp_path, cmsis_nn_dir, backend, board):
    """An int16x8 model of pooling, ADD, MUL, TANH, LOGISTIC, CONCATENATION, PAD, MEAN and SOFTMAX (int16
    activations end to end) on the emulated Cortex-M4 / M55: edgeq's int16 kernels, and with --backend cmsis-nn
    CMSIS-NN's DSP (M4) and MVE (M55) paths of arm_avgpool_s16 / arm_max_pool_s16 / arm_elementwise_add_s16 /
    _mul_s16; raw outputs identical to TFLM's."""
    need_arm()
    from edgeq.targets.export import export

    path = single_op_model({"op": "int16_chain", "inputs": [[8, 8, 3]], "range": 3.0, "seed": 4, "int16x8": True})
    kw = {"cmsis_nn_dir": cmsis_nn_dir} if backend == "cmsis-nn" else {}
    res = export(path, board, tmp_path / backend, backend=backend, build=True, **kw)
    model_c = (res.out_dir / "model" / "model.c").read_text()
    for function in ("avgpool_s16", "max_pool_s16", "elementwise_add_s16", "elementwise_mul_s16"):
        assert f"{'arm' if backend == 'cmsis-nn' else 'edgeq'}_{function}(" in model_c, function
    assert "edgeq_softmax_s16(" in model_c and "edgeq_tanh_s16(" in model_c and "edgeq_mean_s16(" in model_c
    for seed in (1, 2):
        _check_bit_exact(res, path, board, seed=seed)


@pytest.mark.tf
@pytest.mark.parametrize("backend,board", [("portable", "qemu-m4"), ("cmsis-nn", "qemu-m4"),
                                           ("cmsis-nn", "qemu-m55")])
def test_int16x8_conv_model_on_qemu(single_op_model, tmp_path, cmsis_nn_dir, backend, board):
    """An int16x8 Conv (5 filters: CMSIS-NN's odd-channel path), 3x3 depthwise (its fast path), Conv to 1x1 and
    per-tensor FC on the emulated Cortex-M4 and M55: edgeq's int16 kernels, and with --backend cmsis-nn
    arm_convolve_wrapper_s16 / arm_depthwise_conv_wrapper_s16 / arm_fully_connected_s16 with their DSP / MVE
    scratch; raw outputs identical to TFLM's."""
    need_arm()
    from edgeq.targets.export import export

    path = single_op_model({"op": "conv_dw_dense", "inputs": [[9, 8, 3]], "filters": 5, "range": 2.0, "seed": 6,
                            "per_tensor_dense": True, "int16x8": True})
    kw = {"cmsis_nn_dir": cmsis_nn_dir} if backend == "cmsis-nn" else {}
    res = export(path, board, tmp_path / backend, backend=backend, build=True, **kw)
    model_c = (res.out_dir / "model" / "model.c").read_text()
    prefix = "arm" if backend == "cmsis-nn" else "edgeq"
    for function in ("convolve_wrapper_s16", "depthwise_conv_wrapper_s16", "fully_connected_s16"):
        assert f"{prefix}_{function}(" in model_c, function
    for seed in (1, 2):
        _check_bit_exact(res, path, board, seed=seed)


@pytest.mark.tf
def test_int16x8_wide_conv_on_qemu_m4(single_op_model, tmp_path, cmsis_nn_dir):
    """A 3x3 CONV_2D of 59 input and 5 output channels (531 columns): on a DSP core the cmsis-nn backend keeps
    edgeq's kernel (arm_convolve_wrapper_s16's odd-channel DSP path multiplies 3 columns too many past 512:
    benchmarks/cmsis_s16_mismatch.py); identical to TFLM."""
    need_arm()
    from edgeq.targets.export import export

    path = single_op_model({"op": "conv", "inputs": [[5, 4, 59]], "filters": 5, "kernel": [3, 3], "strides": [1, 1],
                            "dilation": [1, 1], "padding": "same", "act": "relu", "bias": True, "range": 4.0,
                            "seed": 2, "w_std": 0.05, "int16x8": True})
    res = export(path, "qemu-m4", tmp_path / "fw", backend="cmsis-nn", build=True, cmsis_nn_dir=cmsis_nn_dir)
    assert "edgeq_convolve_wrapper_s16(" in (res.out_dir / "model" / "model.c").read_text()
    _check_bit_exact(res, path, "qemu-m4", seed=1)
