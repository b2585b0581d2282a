"""The commands that need TensorFlow (quantize, qat, evaluate), run as a user runs them: from a fresh folder, with
relative paths, a folder with a space and ``~`` (HOME is a temporary folder). They use this environment's edgeq (the
[convert] extra), not the [pi] wheel of test_wheel.py. ``edgeq demo`` from a fresh folder with a relative -o is
tests/test_demo.py::test_demo_reduced."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from conftest import run_cli

pytest.importorskip("tensorflow", reason="these commands need the [convert] extra (TensorFlow)")

pytestmark = [pytest.mark.tf, pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture
def folder(tmp_path, digits, digits_cnn_path):
    """A fresh working folder holding model.keras, calib.npy, train.npz, val.npz, x_test.npy, y_test.npy; HOME is
    tmp_path/home."""
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    shutil.copyfile(digits_cnn_path, work / "model.keras")
    np.save(work / "calib.npy", digits.x_train[:200])
    np.savez(work / "train.npz", x=digits.x_train, y=digits.y_train)
    np.savez(home / "val.npz", x=digits.x_test, y=digits.y_test)
    np.save(work / "x_test.npy", digits.x_test)
    np.save(work / "y_test.npy", digits.y_test)
    return work, {"HOME": str(home)}


def _ok(proc):
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def test_quantize_qat_evaluate_with_relative_paths(folder):
    work, env = folder
    (work / "out dir").mkdir()
    _ok(run_cli("quantize", "model.keras", "--mode", "int8", "--data", "calib.npy", "-o", "out dir/int8.tflite",
                cwd=work, env=env))
    assert (work / "out dir" / "int8.tflite").is_file()
    # '~' inside an option (--val=~/...) or quoted reaches edgeq unexpanded: edgeq expands it like the shell
    _ok(run_cli("qat", "model.keras", "--data", "train.npz", "--val=~/val.npz", "--epochs", "1",
                "-o", "~/qat.tflite", "--report", "out dir/qat.md", cwd=work, env=env))
    assert (work.parent / "home" / "qat.tflite").is_file() and not (work / "~").exists()
    assert (work / "out dir" / "qat.md").is_file()
    rep = json.loads(_ok(run_cli("evaluate", "out dir/int8.tflite", "~/qat.tflite", "--data=x_test.npy",
                                 "--labels", "y_test.npy", "--json", cwd=work, env=env)).stdout)
    assert rep["samples"] == 450
    assert rep["reference"]["path"] == "out dir/int8.tflite" and rep["reference"]["kind"] == "int8"
    assert rep["candidate"]["kind"] == "int8"
    assert 0.8 < rep["candidate"]["accuracy"] <= 1.0 and 0.8 < rep["reference"]["accuracy"] <= 1.0
