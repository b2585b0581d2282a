"""`edgeq demo` end to end at a reduced size: every step runs, the device outputs are verified, the report exists."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import assert_user_error, run_cli

pytest.importorskip("tensorflow", reason="edgeq demo needs the [convert] extra (TensorFlow)")

SMALL = ("--epochs", "3", "--qat-epochs", "1", "--runs", "5")


@pytest.mark.slow
def test_demo_reduced(tmp_path):
    if not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")):
        pytest.skip("ARM toolchain/QEMU not installed (apt-get install -y --no-install-recommends gcc-arm-none-eabi "
                    "libnewlib-arm-none-eabi qemu-system-arm)")
    out = tmp_path / "demo"
    proc = run_cli("demo", "-o", out, *SMALL, "--json", timeout=900)
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    assert [s["status"] for s in rep["steps"]] == ["ok"] * 8, rep["steps"]
    variants = [r["variant"] for r in rep["quantization"]]
    assert variants == ["float32", "PTQ int8", "QAT int8"]
    assert rep["bench"]["runs"] == 5 and rep["bench"]["verified"] == 5 and rep["bench"]["mismatches"] == 0
    assert rep["bench"]["latency"]["unit"] == "instructions"
    for name in ("REPORT.md", "quantization.md", "quantization.png", "bench.json", "bench.png",
                 "models/digits_qat_int8.tflite", "firmware/Makefile"):
        assert (out / name).is_file(), name
    assert list((out / "arduino").glob("*/*.ino")), "no Arduino sketch"
    text = (out / "REPORT.md").read_text()
    assert "instructions" in text and "QAT int8" in text
    assert str(tmp_path) not in json.dumps(rep).replace(str(out), "")  # no temporary paths leak
    # the progress went to stderr, step by step
    assert "[8/8]" in proc.stderr


@pytest.mark.slow
def test_demo_without_arm_toolchain_does_the_rest(tmp_path):
    """With arm-none-eabi-gcc and QEMU hidden, the demo names the apt command and still does everything else."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for d in os.environ.get("PATH", "").split(os.pathsep):
        if not d or not Path(d).is_dir():
            continue
        for f in Path(d).iterdir():
            if f.name.startswith(("arm-none-eabi", "qemu-system")) or (bin_dir / f.name).exists():
                continue
            (bin_dir / f.name).symlink_to(f)
    out = tmp_path / "demo"
    proc = run_cli("demo", "-o", out, *SMALL, "--json", env={"PATH": str(bin_dir)}, timeout=900)
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    status = {s["name"].split(" (")[0]: s["status"] for s in rep["steps"]}
    assert list(status.values()).count("ok") == 6, rep["steps"]
    skipped = [s for s in rep["steps"] if s["status"] == "skipped"]
    assert len(skipped) == 2 and all("gcc-arm-none-eabi" in s["note"] for s in skipped)
    assert (out / "firmware" / "Makefile").is_file()  # the sources are still there to build elsewhere
    assert (out / "REPORT.md").is_file()


def test_demo_refuses_a_foreign_folder(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    assert_user_error(run_cli("demo", "-o", tmp_path, *SMALL), "not written by edgeq demo")
    assert (tmp_path / "mine.txt").read_text() == "keep me"


def test_demo_bad_arguments(tmp_path):
    assert_user_error(run_cli("demo", "-o", tmp_path / "d", "--runs", "0"), "--runs")
