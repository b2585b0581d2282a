"""One model, one data set, one accuracy: ``edgeq qat``'s summary, its ``--report``, ``edgeq evaluate`` with and
without the per-layer pass, and the compiled C (``edgeq compile --target host --build``) agree exactly.

They used to disagree (99.60 / 99.80 / 0.998 / 0.996 on one model): the summary and ``--no-layers`` ran LiteRT with
its default XNNPACK delegate, whose int8 kernels round differently, while the per-layer pass ran the builtin kernels.
Now every figure comes from :func:`edgeq.convert.runner.predict` (TFLM for int8 models, bit-exact with the C).
Run from a fresh folder with relative paths, as a user would.
"""

from __future__ import annotations

import json
import re
import subprocess

import numpy as np
import pytest

from conftest import require_tool, run_cli

pytestmark = pytest.mark.tf
pytest.importorskip("tensorflow", reason="TensorFlow is needed (pip install 'edgeq[convert]')")


def test_qat_summary_report_evaluate_and_compiled_c_agree(digits_cnn_path, digits, tmp_path):
    require_tool("gcc", "gcc")
    np.savez(tmp_path / "train.npz", x=digits.x_train[:400], y=digits.y_train[:400])
    np.savez(tmp_path / "val.npz", x=digits.x_test, y=digits.y_test)
    np.save(tmp_path / "x_test.npy", digits.x_test)
    np.save(tmp_path / "y_test.npy", digits.y_test)
    (tmp_path / "model.keras").write_bytes(digits_cnn_path.read_bytes())

    def cli(*args):
        proc = run_cli(*args, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        return proc

    s = json.loads(cli("qat", "model.keras", "--data", "train.npz", "--val", "val.npz", "--epochs", "1",
                       "-o", "qat.tflite", "--report", "qat.md", "--json").stdout)
    summary = s["int8_accuracy"]
    report = {r["variant"]: r for r in s["report"]["rows"]}["QAT int8"]["accuracy"]
    md_line = next(ln for ln in (tmp_path / "qat.md").read_text().splitlines() if "| QAT int8 |" in ln)
    md = float(re.search(r"\| ([0-9.]+)% \|", md_line).group(1)) / 100

    cli("quantize", "model.keras", "--mode", "float32", "-o", "float.tflite")
    ev = [json.loads(cli("evaluate", "float.tflite", "qat.tflite", "--data", "x_test.npy", "--labels", "y_test.npy",
                         *extra, "--json").stdout) for extra in ((), ("--no-layers",))]
    with_layers, no_layers = (e["candidate"]["accuracy"] for e in ev)
    assert ev[0]["layers"] and not ev[1]["layers"]
    assert ev[0]["top1_agreement"] == ev[1]["top1_agreement"]
    assert ev[0]["candidate"]["confusion_matrix"] == ev[1]["candidate"]["confusion_matrix"]

    # the compiled C on the same inputs (quantized with the model's input scale/zero point)
    cli("compile", "qat.tflite", "--target", "host", "--backend", "portable", "--build", "-o", "c")
    from edgeq.convert.runner import make_interpreter, quantize_input

    detail = make_interpreter((tmp_path / "qat.tflite").read_bytes()).get_input_details()[0]
    q = quantize_input(digits.x_test, detail)
    host = subprocess.run(["./c/model_host"], input=q.tobytes(), capture_output=True, cwd=tmp_path, timeout=120)
    assert host.returncode == 0, host.stderr
    logits = np.frombuffer(host.stdout, dtype=np.int8).reshape(len(digits.x_test), -1)
    compiled = float(np.mean(logits.argmax(axis=1) == digits.y_test))
    confusion = np.zeros((10, 10), np.int64)
    np.add.at(confusion, (digits.y_test, logits.argmax(axis=1)), 1)

    figures = {"qat summary": summary, "qat --report": report, "qat report.md": round(md, 4),
               "evaluate": with_layers, "evaluate --no-layers": no_layers, "compiled C": compiled}
    assert len({round(v, 4) for v in figures.values()}) == 1, figures
    assert ev[0]["candidate"]["confusion_matrix"] == confusion.tolist()
    assert s["int8_engine"] == ev[0]["candidate"]["engine"]
