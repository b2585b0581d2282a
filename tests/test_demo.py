"""`edgeq demo` end to end at a reduced size: every step runs, the device outputs are verified, the report exists."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from conftest import assert_user_error, run_cli

pytest.importorskip("tensorflow", reason="edgeq demo needs the [convert] extra (TensorFlow)")

SMALL = ("--epochs", "3", "--qat-epochs", "1", "--runs", "5")


def _path_without(tmp_path: Path, *prefixes: str) -> Path:
    """A folder of symlinks to every program on $PATH except those whose name starts with one of ``prefixes``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for d in os.environ.get("PATH", "").split(os.pathsep):
        if not d or not Path(d).is_dir():
            continue
        for f in Path(d).iterdir():
            if f.name.startswith(prefixes) or (bin_dir / f.name).exists() or (bin_dir / f.name).is_symlink():
                continue
            (bin_dir / f.name).symlink_to(f)
    return bin_dir


@pytest.mark.slow
def test_demo_reduced(tmp_path):
    if not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")):
        pytest.skip("ARM toolchain/QEMU not installed (apt-get install -y --no-install-recommends gcc-arm-none-eabi "
                    "libnewlib-arm-none-eabi qemu-system-arm)")
    out = tmp_path / "demo"
    # from a fresh folder with a relative -o, as the README runs it
    proc = run_cli("demo", "-o", "demo", *SMALL, "--json", cwd=tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    expected = ["ok"] * 8
    if not shutil.which("arduino-builder"):
        expected[5] = "skipped"  # the sketch is written but not built
    assert [s["status"] for s in rep["steps"]] == expected, rep["steps"]
    assert rep["ok"] is True
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
    if expected == ["ok"] * 8:
        assert text.splitlines()[2] == "**All 8 steps ran and succeeded.**"
    leaked = [v for v in re.findall(r'"([^"]*)"', json.dumps(rep)) if str(tmp_path) in v.replace(str(out), "")]
    assert not leaked, leaked  # no temporary paths leak
    # the progress went to stderr, step by step
    assert "[8/8]" in proc.stderr


@pytest.mark.slow
def test_demo_without_arm_toolchain_does_the_rest(tmp_path):
    """With arm-none-eabi-gcc and QEMU really absent, the demo skips what needs them, names the apt command, does
    everything else, and exits 0 (nothing failed)."""
    bin_dir = _path_without(tmp_path, "arm-none-eabi", "qemu-system")
    proc = run_cli("demo", "-o", "demo", *SMALL, "--json", cwd=tmp_path, env={"PATH": str(bin_dir)}, timeout=900)
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    by_status = {}
    for s in rep["steps"]:
        by_status.setdefault(s["status"], []).append(s)
    assert len(by_status["ok"]) >= 5 and "failed" not in by_status and "not run" not in by_status, rep["steps"]
    skipped = {s["name"].split(" (")[0]: s["note"] for s in by_status["skipped"]}
    assert "export and build firmware for qemu-m4" in skipped and "benchmark on qemu-m4" in skipped, skipped
    for name in ("export and build firmware for qemu-m4", "benchmark on qemu-m4"):
        assert "arm-none-eabi-gcc" in skipped[name] and "apt-get install" in skipped[name] and \
            "gcc-arm-none-eabi" in skipped[name], skipped[name]
    assert rep["tools"]["arm-none-eabi-gcc"] is None and rep["tools"]["qemu-system-arm"] is None
    out = tmp_path / "demo"
    assert (out / "firmware" / "Makefile").is_file()  # the sources are still there to build elsewhere
    head = (out / "REPORT.md").read_text().splitlines()[:6]
    assert head[2].startswith("**") and "of 8 steps ran" in head[2], head
    assert any(ln.startswith("- SKIPPED: export and build firmware") for ln in head), head


@pytest.mark.slow
def test_demo_failing_build_is_a_failure(tmp_path):
    """A build that fails with its tools present is "failed" (never "skipped"), the demo goes on where it can, says
    so first in REPORT.md, and exits 1. Here: a `make` that exits 1, and arduino-builder really absent."""
    if not shutil.which("arm-none-eabi-gcc"):
        pytest.skip("ARM toolchain not installed (apt-get install -y --no-install-recommends gcc-arm-none-eabi "
                    "libnewlib-arm-none-eabi)")
    bin_dir = _path_without(tmp_path, "arduino-builder", "make")
    broken = bin_dir / "make"
    broken.write_text("#!/bin/sh\necho 'make: *** [firmware.elf] Error 1 (a broken make for the test)' >&2\nexit 1\n")
    broken.chmod(0o755)
    proc = run_cli("demo", "-o", "demo", *SMALL, cwd=tmp_path, env={"PATH": str(bin_dir)}, timeout=900)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "FAILED: export and build firmware for qemu-m4" in proc.stdout, proc.stdout
    out = tmp_path / "demo"
    rep = json.loads((out / "demo.json").read_text())
    status = {s["name"].split(" (")[0]: s for s in rep["steps"]}
    fw = status["export and build firmware for qemu-m4"]
    assert fw["status"] == "failed" and "make" in fw["note"], fw
    assert status["benchmark on qemu-m4"]["status"] == "not run"
    sketch = status["export an Arduino sketch for uno"]
    assert sketch["status"] == "skipped" and "arduino-builder not found" in sketch["note"] \
        and "apt-get install" in sketch["note"], sketch
    # the steps before the failure ran
    assert [s["status"] for s in rep["steps"][:5]] == ["ok"] * 5 and rep["ok"] is False
    head = (out / "REPORT.md").read_text().splitlines()[:8]
    assert head[2] == "**5 of 8 steps ran and succeeded.**", head
    assert any(ln.startswith("- FAILED: export and build firmware for qemu-m4") for ln in head), head
    assert any(ln.startswith("- NOT RUN: benchmark") for ln in head), head


def test_demo_bad_board_is_refused_before_training(tmp_path):
    for args, needle in ((("--board", "nosuch"), "unknown board"), (("--board", "uno-r4"), "not emulated"),
                         (("--arduino-board", "qemu-m4"), "does not take an Arduino sketch")):
        proc = run_cli("demo", "-o", "demo", *args, cwd=tmp_path)
        assert_user_error(proc, needle)
        assert "[1/" not in proc.stderr  # no step started
        assert not (tmp_path / "demo").exists()
    obj = json.loads(run_cli("demo", "--board", "nosuch", "--json", cwd=tmp_path).stdout)
    assert obj["where"] == "--board" and "unknown board" in obj["error"]


def test_demo_refuses_a_foreign_folder(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    assert_user_error(run_cli("demo", "-o", tmp_path, *SMALL), "not written by edgeq demo")
    assert (tmp_path / "mine.txt").read_text() == "keep me"


def test_demo_bad_arguments(tmp_path):
    assert_user_error(run_cli("demo", "-o", tmp_path / "d", "--runs", "0"), "--runs")
