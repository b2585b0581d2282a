"""Paths as users type them, for the builds and commands test_wheel.py does not cover: every build kind from a fresh
folder with a relative output that has a space in it, ``~`` in any argument, and upload commands whose paths have
spaces."""

from __future__ import annotations

import json
import shlex
import shutil

import pytest

from conftest import REPO, assert_user_error, require_tool, run_cli

DIGITS = REPO / "examples" / "arduino" / "digits_int8.tflite"


@pytest.fixture
def work(tmp_path):
    d = tmp_path / "work"
    d.mkdir()
    (tmp_path / "home").mkdir()
    shutil.copyfile(DIGITS, d / "digits.tflite")
    return d


@pytest.mark.slow
@pytest.mark.qemu
@pytest.mark.parametrize("board", ["nano33ble", "qemu-m0plus"])  # check-qemu (sketch + QEMU platform), make
def test_export_build_with_a_relative_output_folder(work, board):
    require_tool("arm-none-eabi-gcc", "gcc-arm-none-eabi libnewlib-arm-none-eabi")
    proc = run_cli("export", "digits.tflite", "--board", board, "-o", f"out dir/{board}", "--build", "--json",
                   cwd=work)
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert d["out_dir"] == f"out dir/{board}"
    elf = work / "out dir" / board / "build" / "firmware.elf"
    assert elf.is_file() and d["flash_bytes"] > 0
    if board == "nano33ble":  # the note names a runnable command: the path with its space is quoted
        assert shlex.split(d["build"]["note"].split("`")[1])[-1] == str(elf.relative_to(work))


def test_tilde_is_expanded_in_any_argument(work):
    home = work.parent / "home"
    shutil.copyfile(DIGITS, home / "model.tflite")
    env = {"HOME": str(home)}
    proc = run_cli("inspect", "~/model.tflite", "--json", cwd=work, env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["ops_used"] == ["CONV_2D", "MAX_POOL_2D", "RESHAPE", "FULLY_CONNECTED"]
    proc = run_cli("compile", "~/model.tflite", "--target", "cortex-m4", "-o", "~/c out", "--json", cwd=work, env=env)
    assert proc.returncode == 0, proc.stderr
    assert (home / "c out" / "model.c").is_file() and not (work / "~").exists()
    # a missing file under ~ is named with the expanded path
    assert_user_error(run_cli("inspect", "~/nothing.tflite", cwd=work, env=env), str(home / "nothing.tflite"))


def test_upload_command_keeps_a_path_with_spaces_as_one_argument(work):
    proc = run_cli("export", "digits.tflite", "--board", "nano33ble", "-o", "my sketch", cwd=work)
    assert proc.returncode == 0, proc.stderr
    if shutil.which("arduino-cli"):
        pytest.skip("arduino-cli is installed here: it would really try to upload")
    proc = run_cli("flash", "--board", "nano33ble", "my sketch", "--port", "/dev/ttyACM7", "--json", cwd=work)
    assert proc.returncode == 2, proc.stderr
    hint = json.loads(proc.stdout)["hint"]
    # the command to run by hand: each path, spaces and all, is one shell word
    words = shlex.split(hint.split("or run: ", 1)[1].rstrip(")"))
    assert words[:2] == ["arduino-cli", "compile"] and "&&" in words
    assert words.count("my sketch/digits") == 2 and "my sketch/build/arduino-cli" in words
