"""The cmsis-nn backend on emulated Cortex-M: firmware exported with ``--backend cmsis-nn`` (the firmware engineer's
bare-metal project), built with arm-none-eabi-gcc, run in QEMU; raw outputs identical to the TFLM reference
interpreter. This exercises CMSIS-NN's DSP code path (qemu-m4, qemu-m7) and its MVE/Helium path (qemu-m55, including
the FULLY_CONNECTED kernel sums edgeq precomputes), with the kernel scratch sized by edgeq's mirrored getter rules.

Needs $EDGEQ_CMSIS_NN_DIR (a CMSIS-NN checkout), arm-none-eabi-gcc and qemu-system-arm.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

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
