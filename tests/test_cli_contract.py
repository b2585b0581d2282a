"""The CLI contract every command keeps: with ``--json`` an error is exactly one JSON object on stdout
(``{"error", "where", "hint"}``) and exit 2; ``quantize``/``qat`` refuse to overwrite without ``--force``;
``bench --local`` writes ``--plot`` and ``--csv``. Run as a user would, from a fresh folder with relative paths."""

from __future__ import annotations

import csv
import io
import json

import pytest

from conftest import assert_user_error, run_cli

#: one user mistake per command (each fails before any heavy work); argparse's own errors too
BAD = {
    "inspect": ("inspect", "missing.tflite"),
    "quantize": ("quantize", "missing.keras", "--mode", "float32", "-o", "out.tflite"),
    "evaluate": ("evaluate", "missing.tflite", "missing.tflite", "--data", "x.npy"),
    "qat": ("qat", "missing.keras", "--data", "train.npz", "--epochs", "1", "-o", "out.tflite"),
    "compile": ("compile", "missing.tflite", "--target", "host", "-o", "out"),
    "boards": ("boards", "no-such-board"),
    "analyze": ("analyze", "missing.tflite"),
    "export": ("export", "missing.tflite", "--board", "qemu-m4", "-o", "fw"),
    "flash": ("flash", "missing-fw", "--board", "no-such-board"),
    "bench": ("bench", "--local", "missing.tflite"),
    "bench device": ("bench", "--board", "qemu-m4"),
    "run": ("run", "missing.tflite", "--input", "x.npy"),
    "demo": ("demo", "--runs", "0"),
    "argparse: missing argument": ("quantize",),
    "argparse: bad choice": ("compile", "m.tflite", "--target", "nonesuch", "-o", "out"),
    "argparse: bad number": ("bench", "--local", "m.tflite", "--runs", "many"),
}


def test_every_command_has_a_json_error_case():
    from edgeq.cli.main import COMMANDS

    assert set(COMMANDS) <= {case.split()[0] for case in BAD}, "add a user mistake for the new command to BAD"


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_json_error_is_one_object(case, tmp_path):
    proc = run_cli(*BAD[case], "--json", cwd=tmp_path)
    assert_user_error(proc)
    obj = json.loads(proc.stdout)  # the whole stdout is one JSON object
    assert isinstance(obj, dict) and set(obj) == {"error", "where", "hint"}, obj
    assert obj["error"] and "\n" not in obj["error"]
    assert list(tmp_path.iterdir()) == [], "an error left output behind"


def test_json_error_names_where_and_hint(tmp_path):
    obj = json.loads(run_cli("inspect", "missing.tflite", "--json", cwd=tmp_path).stdout)
    assert obj["where"] == "missing.tflite" and obj["hint"]
    # without --json stdout stays empty
    assert run_cli("inspect", "missing.tflite", cwd=tmp_path).stdout == ""


# --- quantize / qat refuse to overwrite without --force ----------------------------------------------------------
@pytest.mark.tf
def test_quantize_and_qat_refuse_to_overwrite(tmp_path, digits_cnn_path, digits):
    pytest.importorskip("tensorflow", reason="TensorFlow is needed (pip install 'edgeq[convert]')")
    import numpy as np

    (tmp_path / "model.keras").write_bytes(digits_cnn_path.read_bytes())
    np.savez(tmp_path / "train.npz", x=digits.x_train[:64], y=digits.y_train[:64])
    (tmp_path / "out.tflite").write_bytes(b"keep me")
    (tmp_path / "qat.md").write_text("keep me")
    for args in (("quantize", "model.keras", "--mode", "float32", "-o", "out.tflite"),
                 ("qat", "model.keras", "--data", "train.npz", "--epochs", "0", "-o", "out.tflite"),
                 ("qat", "model.keras", "--data", "train.npz", "--epochs", "0", "-o", "new.tflite",
                  "--report", "qat.md")):
        assert_user_error(run_cli(*args, cwd=tmp_path), "already exists", "--force")
    assert (tmp_path / "out.tflite").read_bytes() == b"keep me" and not (tmp_path / "new.tflite").exists()
    assert (tmp_path / "qat.md").read_text() == "keep me"
    proc = run_cli("quantize", "model.keras", "--mode", "float32", "-o", "out.tflite", "--force", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out.tflite").read_bytes()[4:8] == b"TFL3"
    proc = run_cli("qat", "model.keras", "--data", "train.npz", "--epochs", "0", "-o", "out.tflite", "--force",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr


# --- bench --local --plot / --csv --------------------------------------------------------------------------------
def test_bench_local_plot_and_csv(tmp_path, shared_models):
    pytest.importorskip("matplotlib", reason="--plot needs matplotlib (pip install 'edgeq[plot]')")
    from edgeq.runtime.loader import available_runtimes

    if not available_runtimes():
        pytest.skip("no TFLite runtime installed (pip install 'edgeq[pi]')")
    (tmp_path / "kws.tflite").write_bytes((shared_models / "kws_ref_model.tflite").read_bytes())
    (tmp_path / "ad.tflite").write_bytes((shared_models / "ad01_int8.tflite").read_bytes())
    proc = run_cli("bench", "--local", "kws.tflite", "ad.tflite", "--runs", "20", "--warmup", "2",
                   "--plot", "lat.png", "--csv", "lat.csv", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    assert rep["plot"] == "lat.png" and rep["csv"] == "lat.csv"
    assert (tmp_path / "lat.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.DictReader(io.StringIO((tmp_path / "lat.csv").read_text())))
    assert len(rows) == 2 * 20 and {r["model"] for r in rows} == {"kws.tflite", "ad.tflite"}
    # the CSV holds exactly the samples the statistics were computed from
    for m in rep["models"]:
        us = sorted(float(r["latency_us"]) for r in rows if r["model"] == m["model"])
        assert us[0] == pytest.approx(m["latency"]["min"], abs=1e-3)
        assert us[-1] == pytest.approx(m["latency"]["max"], abs=1e-3)
    # --csv without a file prints the samples to stdout
    proc = run_cli("bench", "--local", "ad.tflite", "--runs", "5", "--warmup", "0", "--csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "model,label,threads,xnnpack,round,latency_us"
    assert len(proc.stdout.splitlines()) == 6
    # a plot into a missing folder is refused before the benchmark runs
    assert_user_error(run_cli("bench", "--local", "ad.tflite", "--plot", "nope/lat.png", cwd=tmp_path),
                      "does not exist")
