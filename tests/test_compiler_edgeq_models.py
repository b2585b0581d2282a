"""Models made by edgeq itself (`edgeq quantize` PTQ with int8 and float I/O, per-tensor Dense, `edgeq qat`) compile
into C that is bit-exact with TFLM on the real digits test images and on random inputs."""

from __future__ import annotations

import numpy as np
import pytest

from compiler_util import assert_bit_exact, compile_and_build, random_inputs, tflm_runtime
from conftest import run_cli

pytestmark = [pytest.mark.tf, pytest.mark.slow]


def _digit_inputs(model_path, digits, n: int = 12) -> list[np.ndarray]:
    from edgeq.tflite import read_model

    t = read_model(model_path).input_tensors()[0]
    x = digits.x_test[:n].astype(np.float32).reshape((n, *t.shape[1:]))
    if t.dtype == "float32":
        return [x[i:i + 1] for i in range(n)]
    q = np.clip(np.round(x / t.scale) + t.zero_point, -128, 127).astype(np.int8)
    return [q[i:i + 1] for i in range(n)]


@pytest.mark.parametrize("flags", [(), ("--io", "float32"), ("--per-tensor-dense", "--calibration", "percentile")],
                         ids=["int8", "float-io", "per-tensor-dense"])
def test_edgeq_quantize_models(tmp_path, digits, digits_cnn_path, digits_calib_npy, flags):
    tflm_runtime()
    model = tmp_path / "m.tflite"
    proc = run_cli("quantize", str(digits_cnn_path), "--mode", "int8", "--data", str(digits_calib_npy), "-o",
                   str(model), *flags)
    assert proc.returncode == 0, proc.stderr
    binary, res = compile_and_build(model, tmp_path / "c")
    assert_bit_exact(model, binary, _digit_inputs(model, digits) + random_inputs(model, 20, seed=3))
    if "float32" in flags:
        assert {"QUANTIZE", "DEQUANTIZE"} <= set(res.op_counts)


def test_edgeq_qat_model(tmp_path, digits, digits_cnn_path):
    tflm_runtime()
    train = tmp_path / "train.npz"
    np.savez(train, x=digits.x_train[:256], y=digits.y_train[:256])
    model = tmp_path / "qat.tflite"
    proc = run_cli("qat", str(digits_cnn_path), "--data", str(train), "--epochs", "1", "--input-range", "0,1",
                   "-o", str(model))
    assert proc.returncode == 0, proc.stderr
    binary, _ = compile_and_build(model, tmp_path / "c")
    assert_bit_exact(model, binary, _digit_inputs(model, digits) + random_inputs(model, 20, seed=4))
