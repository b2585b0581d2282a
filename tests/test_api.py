"""The public Python API mirrors the CLI: ``edgeq.quantize``, ``edgeq.qat``, ``edgeq.evaluate``, ``edgeq.compile``,
``edgeq.export``, ``edgeq.bench.device`` / ``edgeq.bench.local`` and ``edgeq.run`` return typed results with the
figures the commands print; ``import edgeq`` stays light."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import run_cli


def _python(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_import_is_light_and_the_api_resolves_lazily():
    out = _python(
        "import sys, edgeq\n"
        "names = [edgeq.quantize, edgeq.evaluate, edgeq.compile, edgeq.export, edgeq.run, edgeq.qat.run_qat,\n"
        "         edgeq.qat.quantize_model, edgeq.qat.convert, edgeq.bench.device, edgeq.bench.local]\n"
        "assert all(callable(n) for n in names)\n"
        "print(','.join(m for m in ('tensorflow', 'keras', 'ai_edge_litert', 'tflite_micro', 'matplotlib')\n"
        "               if m in sys.modules))\n")
    assert out == "", f"import edgeq and resolving the API imported {out}"


def test_convert_evaluate_is_the_function_before_and_after_its_module_loads():
    # used to raise RecursionError (module __getattr__ vs the submodule named 'evaluate'), then "'module' object is
    # not callable" once the submodule was imported
    _python("import edgeq.convert\n"
            "f = edgeq.convert.evaluate\n"
            "assert callable(f) and f.__name__ == 'evaluate', f\n"
            "import edgeq.convert.evaluation, edgeq.convert.ptq\n"
            "assert edgeq.convert.evaluate is f and callable(edgeq.convert.quantize)\n")


def test_compile_run_and_bench_local_without_tensorflow(shared_models, tmp_path):
    import edgeq

    kws = shared_models / "kws_ref_model.tflite"
    res = edgeq.compile(kws, tmp_path / "c", build=True)
    assert res.binary is not None and res.binary.is_file()
    assert res.ram_bytes == res.arena_bytes + res.scratch_bytes and res.const_bytes > 0
    # the CLI prints the same figures (one code path)
    cli = json.loads(run_cli("compile", kws, "-o", tmp_path / "c2", "--json").stdout)
    assert (cli["arena_bytes"], cli["const_bytes"]) == (res.arena_bytes, res.const_bytes)

    pytest.importorskip("ai_edge_litert", reason="edgeq.run needs LiteRT (pip install 'edgeq[pi]')")
    x = np.random.default_rng(0).uniform(-1, 1, (3, 49, 10, 1)).astype(np.float32)
    r = edgeq.run(kws, x)
    assert r.batch == 3 and r.outputs[0].shape == (3, 12) and r.raw[0].dtype == np.int8
    rep = edgeq.bench.local(kws, runs=5, warmup=1)
    assert rep.results[0].runs == 5 and rep.results[0].latency.p50 > 0
    assert len(rep.samples_csv().splitlines()) == 6


@pytest.mark.tf
def test_quantize_and_evaluate_typed_results(digits_cnn_path, digits, tmp_path):
    pytest.importorskip("tensorflow", reason="TensorFlow is needed (pip install 'edgeq[convert]')")
    import edgeq
    from edgeq.errors import EdgeqError

    q = edgeq.quantize(digits_cnn_path, "int8", data=digits.x_train[:100], output=tmp_path / "m.tflite")
    assert q.kind == "int8" and q.size_after == len(q.tflite) and 0 < q.ratio < 1
    assert q.output == str(tmp_path / "m.tflite") and (tmp_path / "m.tflite").read_bytes() == q.tflite
    with pytest.raises(EdgeqError, match="already exists"):
        edgeq.quantize(digits_cnn_path, "float32", output=tmp_path / "m.tflite")
    (tmp_path / "f.tflite").write_bytes(q.float_tflite)
    ev = edgeq.evaluate(tmp_path / "f.tflite", tmp_path / "m.tflite", digits.x_test[:60], digits.y_test[:60],
                        plot=tmp_path / "ev.png")
    assert ev.samples == 60 and ev.candidate.kind == "int8" and ev.plot_path.is_file()
    assert ev.candidate.confusion.sum() == 60 and len(ev.candidate.per_class_accuracy) == 10
    assert ev.candidate.accuracy == pytest.approx(np.trace(ev.candidate.confusion) / 60)
