"""The Raspberry Pi promise: with only the base + [pi] extras (no TensorFlow, no tflite-micro), `edgeq --help`,
`inspect`, `run`, `bench` (local and on a device), `compile` and `export` work."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import venv
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO


@pytest.fixture(scope="module")
def pi_venv(tmp_path_factory) -> Path:
    """A fresh venv with `pip install -e REPO[pi]` only (PyPI is reachable here; the pip cache keeps it quick)."""
    if os.environ.get("EDGEQ_SKIP_VENV_TESTS"):
        pytest.skip("EDGEQ_SKIP_VENV_TESTS is set")
    d = tmp_path_factory.mktemp("pi-venv") / "venv"
    venv.EnvBuilder(with_pip=True).create(d)
    py = d / "bin" / "python"
    proc = subprocess.run([str(py), "-m", "pip", "install", "-q", "-e", f"{REPO}[pi]"], capture_output=True,
                          text=True, timeout=900)
    if proc.returncode != 0:
        pytest.fail(f"pip install edgeq[pi] failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return d


def _edgeq(venv_dir: Path, *args, timeout=300, cwd=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    return subprocess.run([str(venv_dir / "bin" / "edgeq"), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=cwd)


def test_pi_venv_has_no_tensorflow(pi_venv):
    code = "import importlib.util as u; print([m for m in ('tensorflow', 'keras', 'tflite_micro') if u.find_spec(m)])"
    out = subprocess.run([str(pi_venv / "bin" / "python"), "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_help_inspect_run_bench_local(pi_venv, shared_models, tmp_path):
    assert _edgeq(pi_venv, "--help").returncode == 0
    kws = shared_models / "kws_ref_model.tflite"
    proc = _edgeq(pi_venv, "inspect", kws, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["kind"] == "int8"
    x = np.frombuffer((shared_models / "kws01_sample_mfcc_49x10_int8.bin").read_bytes(), np.int8).reshape(1, 49, 10, 1)
    np.save(tmp_path / "x.npy", x)
    proc = _edgeq(pi_venv, "run", kws, "--input", tmp_path / "x.npy", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["runtime"]["name"] if isinstance(out["runtime"], dict) else out["runtime"]
    assert int(np.argmax(out["raw"][0] if isinstance(out["raw"][0], list) else out["raw"])) == 5
    proc = _edgeq(pi_venv, "bench", "--local", kws, "--runs", "20", "--warmup", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["models"][0]["latency"]["unit"] == "us"


def test_quantize_says_what_to_install(pi_venv, tmp_path):
    import zipfile

    with zipfile.ZipFile(tmp_path / "m.keras", "w") as z:  # shaped like a .keras archive
        z.writestr("metadata.json", "{}")
        z.writestr("config.json", "{}")
        z.writestr("model.weights.h5", b"")
    np.save(tmp_path / "calib.npy", np.zeros((4, 8, 8, 1), np.float32))
    proc = _edgeq(pi_venv, "quantize", tmp_path / "m.keras", "--mode", "int8", "--data", tmp_path / "calib.npy",
                  "-o", tmp_path / "o.tflite")
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "tensorflow" in proc.stderr.lower() or "convert" in proc.stderr.lower()
    assert not (tmp_path / "o.tflite").exists()


def test_compile_and_export_and_bench_device(pi_venv, shared_models, tmp_path):
    """On a Pi the bit-exact reference is edgeq's portable C build (tflite-micro has no ARM wheels)."""
    if not shutil.which("gcc"):
        pytest.skip("gcc not installed (apt-get install -y gcc)")
    ad = shared_models / "ad01_int8.tflite"
    proc = _edgeq(pi_venv, "compile", ad, "--target", "host", "-o", tmp_path / "c", "--build", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["ram_bytes"] > 0
    if not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")):
        pytest.skip("ARM toolchain not installed (apt-get install -y --no-install-recommends gcc-arm-none-eabi "
                    "libnewlib-arm-none-eabi qemu-system-arm)")
    proc = _edgeq(pi_venv, "export", ad, "--board", "qemu-m4", "-o", tmp_path / "fw", "--build", "--json")
    assert proc.returncode == 0, proc.stderr
    proc = _edgeq(pi_venv, "bench", "--board", "qemu-m4", "--firmware", tmp_path / "fw", "--model", ad,
                  "--runs", "3", "--json", timeout=600)
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    assert rep["verified"] == 3 and rep["mismatches"] == 0
    assert rep["latency"]["unit"] == "instructions"
