"""`edgeq bench ... --inputs X.npy --labels Y.npy`: accuracy and confusion matrix measured on the device (qemu-m4),
next to TFLM's on the same inputs; the firmware is bit-exact, so both agree input by input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import assert_user_error, run_cli
from fwutil import need_arm, tflm_outputs

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def test_on_device_accuracy_and_confusion_matrix(digits_mlp_tflite, digits, tmp_path):
    need_arm()
    n = 30
    (tmp_path / "m.tflite").write_bytes(digits_mlp_tflite.read_bytes())
    x = digits.x_test[:n].reshape(n, 1, 64).astype(np.float32)
    y = digits.y_test[:n].astype(np.int64)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    proc = run_cli("bench", "--board", "qemu-m4", "--model", "m.tflite", "--inputs", "x.npy", "--labels", "y.npy",
                   "--runs", "5", "--json", "-o", "rep.json", "--plot", "acc.png", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    acc = d["accuracy"]
    assert d["runs"] == n and acc["labels"] == n and "raised from 5 to 30" in acc["note"]
    dev, ref = acc["device"], acc["reference"]
    assert ref["engine"] == d["reference"] and d["mismatches"] == 0 and d["verified"] == n
    assert acc["same_predictions"] == n and dev == {k: v for k, v in ref.items() if k != "engine"}
    m = np.array(dev["confusion_matrix"])
    assert m.shape == (10, 10) and m.sum() == n and np.trace(m) == dev["correct"]
    assert dev["accuracy"] == pytest.approx(dev["correct"] / n) and dev["accuracy"] >= 0.8
    # the labels' row sums are the class counts
    assert list(m.sum(axis=1)) == [int((y == c).sum()) for c in range(10)]
    # independently: TFLM's argmax on the inputs the harness sent (the device's own quantization of x)
    from edgeq.tflite import read_model

    t = read_model(tmp_path / "m.tflite").input_tensors()[0]
    q = np.clip(np.round(x / np.float32(t.scale)) + t.zero_point, -128, 127).astype(np.int8)
    ref_pred = [int(np.argmax(np.frombuffer(tflm_outputs(tmp_path / "m.tflite", q[i]), np.int8))) for i in range(n)]
    assert sum(int(p == t_) for p, t_ in zip(ref_pred, y)) == dev["correct"]
    assert json.loads((tmp_path / "rep.json").read_text())["accuracy"] == acc
    assert (tmp_path / "acc.png").read_bytes()[:4] == b"\x89PNG"
    md = run_cli("bench", "--board", "qemu-m4", "--model", "m.tflite", "--inputs", "x.npy", "--labels", "y.npy",
                 "--runs", "30", cwd=tmp_path)
    assert md.returncode == 0, md.stderr
    assert "## Accuracy on the device" in md.stdout
    assert f"same top-1 prediction as the reference: {n} of {n} inputs" in md.stdout
    assert "| true \\ predicted | 0 | 1 |" in md.stdout


def test_labels_are_checked_before_the_device_is_started(tmp_path, digits_mlp_tflite):
    np.save(tmp_path / "x.npy", np.zeros((4, 1, 64), np.float32))
    np.save(tmp_path / "y3.npy", np.zeros(3, np.int64))
    np.save(tmp_path / "yf.npy", np.zeros(4, np.float32))
    m = str(digits_mlp_tflite)
    assert_user_error(run_cli("bench", "--board", "qemu-m4", "--model", m, "--labels", "y3.npy", cwd=tmp_path),
                      "--labels needs --inputs")
    assert_user_error(run_cli("bench", "--board", "qemu-m4", "--model", m, "--inputs", "x.npy", "--labels",
                              "nope.npy", cwd=tmp_path), "nope.npy")
    assert_user_error(run_cli("bench", "--port", "loop://", "--model", m, "--inputs", "x.npy", "--labels", "y3.npy",
                              "--protocol", "mlperf", cwd=tmp_path), "--protocol edgeq")
    from edgeq.bench.harness import load_labels
    from edgeq.errors import EdgeqError

    with pytest.raises(EdgeqError, match="3 labels for 4 inputs"):
        load_labels(str(tmp_path / "y3.npy"), 4)
    with pytest.raises(EdgeqError, match="integer class indices"):
        load_labels(str(tmp_path / "yf.npy"), 4)
    assert list(load_labels(str(tmp_path / "y3.npy"), 3)) == [0, 0, 0]
