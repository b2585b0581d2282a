"""`edgeq flash --port`: builds what the uploader needs and runs the board's tool with the exact arguments; the tools
are faked by scripts on PATH that record their argv (one JSON line per call) and, for arduino-cli compile, write the
files the real one writes. Nothing uploaded is never exit 0."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from conftest import assert_user_error, run_cli

FAKE = """#!{python}
import json, os, sys
from pathlib import Path
with open(os.environ["EDGEQ_FAKE_RECORD"], "a") as f:
    f.write(json.dumps([Path(sys.argv[0]).name] + sys.argv[1:]) + "\\n")
if os.environ.get("EDGEQ_FAKE_FAIL"):
    print("programmer is not responding", file=sys.stderr)
    sys.exit(1)
if sys.argv[1:2] == ["compile"] and "--output-dir" in sys.argv:
    out = Path(sys.argv[sys.argv.index("--output-dir") + 1])
    out.mkdir(parents=True, exist_ok=True)
    name = Path(sys.argv[-1]).name
    (out / (name + ".ino.bin")).write_bytes(b"BIN")
    (out / (name + ".ino.uf2")).write_bytes(b"UF2\\n" * 8)
"""


@pytest.fixture
def fake_tools(tmp_path):
    """A PATH with recording arduino-cli and avrdude in front of the system's tools (arduino-builder stays real)."""
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    for tool in ("arduino-cli", "avrdude"):
        p = bin_dir / tool
        p.write_text(FAKE.format(python=sys.executable))
        p.chmod(0o755)
    record = tmp_path / "calls.jsonl"
    env = {"PATH": os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), "/usr/bin", "/bin"]),
           "EDGEQ_FAKE_RECORD": str(record)}

    def calls() -> list[list[str]]:
        return [json.loads(ln) for ln in record.read_text().splitlines()] if record.exists() else []

    return env, calls


def test_nano33ble_compiles_then_uploads_with_arduino_cli(digits_mlp_tflite, tmp_path, fake_tools):
    env, calls = fake_tools
    from edgeq.targets.export import export

    export(digits_mlp_tflite, "nano33ble", tmp_path / "fw", app="classify")
    proc = run_cli("flash", "--board", "nano33ble", "fw", "--port", "/dev/ttyACM7", "--json", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    out = "fw/build/arduino-cli"
    assert calls() == [
        ["arduino-cli", "compile", "--fqbn", "arduino:mbed_nano:nano33ble", "--output-dir", out, "fw/digits_mlp"],
        ["arduino-cli", "upload", "-p", "/dev/ttyACM7", "--fqbn", "arduino:mbed_nano:nano33ble", "--input-dir", out,
         "fw/digits_mlp"],
    ]
    d = json.loads(proc.stdout)
    assert d["uploaded"] is True and d["port"] == "/dev/ttyACM7" and len(d["commands"]) == 2


def test_a_failing_upload_is_an_error(digits_mlp_tflite, tmp_path, fake_tools):
    env, calls = fake_tools
    from edgeq.targets.export import export

    export(digits_mlp_tflite, "esp32", tmp_path / "fw")
    proc = run_cli("flash", "--board", "esp32", tmp_path / "fw", "--port", "/dev/ttyUSB0", cwd=tmp_path,
                   env={**env, "EDGEQ_FAKE_FAIL": "1"})
    assert_user_error(proc, "arduino-cli compile failed: programmer is not responding", "command: arduino-cli compile")
    assert [c[:2] for c in calls()] == [["arduino-cli", "compile"]]  # no upload after a failed compile


def test_rp2040_drive_gets_the_uf2(digits_mlp_tflite, tmp_path, fake_tools):
    env, calls = fake_tools
    from edgeq.targets.export import export

    export(digits_mlp_tflite, "pico", tmp_path / "fw")
    drive = tmp_path / "RPI-RP2"
    drive.mkdir()
    proc = run_cli("flash", "--board", "pico", tmp_path / "fw", "--port", drive, "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert [c[:2] for c in calls()] == [["arduino-cli", "compile"]]
    assert calls()[0][2:4] == ["--fqbn", "arduino:mbed_rp2040:pico"]
    assert (drive / "digits_mlp.ino.uf2").read_bytes() == b"UF2\n" * 8
    assert json.loads(proc.stdout)["copied"] == str(drive / "digits_mlp.ino.uf2")


@pytest.mark.avr
def test_uno_builds_the_hex_then_runs_avrdude(digits_mlp_tflite, tmp_path, fake_tools):
    if not shutil.which("arduino-builder"):
        pytest.skip("arduino-builder not installed (apt-get install -y arduino-builder arduino-core-avr)")
    env, calls = fake_tools
    from edgeq.targets.export import export

    export(digits_mlp_tflite, "uno", tmp_path / "fw")
    assert not (tmp_path / "fw" / "build" / "firmware.hex").exists()
    proc = run_cli("flash", "--board", "uno", "fw", "--port", "/dev/ttyACM0", "--json", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    hexf = tmp_path / "fw" / "build" / "firmware.hex"
    assert hexf.read_text().startswith(":")  # built here by arduino-builder
    assert calls() == [["avrdude", "-p", "atmega328p", "-c", "arduino", "-P", "/dev/ttyACM0", "-b", "115200", "-D",
                        "-U", "flash:w:fw/build/firmware.hex:i"]]
