"""`edgeq boards`, `edgeq export` and `edgeq flash`: the board table, the fit check, the folder rules, missing
toolchains, --json with --build, real-board upload commands, and the builds that only prove the sources compile."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from conftest import assert_user_error, run_cli

REQUIRED = ["qemu-m4", "qemu-m7", "qemu-m55", "uno", "nano33ble", "portenta-h7", "uno-r4", "nano-rp2040", "pico",
            "esp32", "nucleo-l4r5zi", "host"]


def test_board_table_is_complete_data():
    from edgeq.targets.boards import DEFAULT_BOARD, boards

    table = boards()
    assert DEFAULT_BOARD == "qemu-m4"
    for name in REQUIRED:
        b = table[name]
        assert b.clock_hz > 0 and b.flash > 0 and b.ram > 0 and b.backends
        assert b.project in ("cortexm", "arduino", "host") and b.build and b.run
        assert b.timer["unit"] in ("cycles", "us", "instructions")
        if b.project == "arduino":
            assert b.fqbn and b.upload
    assert table["qemu-m4"].qemu["machine"] == "mps2-an386"
    assert table["qemu-m7"].qemu["machine"] == "mps2-an500"
    assert table["qemu-m55"].qemu["machine"] == "mps3-an547"
    assert (table["nano33ble"].flash, table["nano33ble"].ram) == (983040, 262144)
    assert table["uno"].core.arch == "avr" and table["uno"].run == "simavr"


def test_boards_cli():
    proc = run_cli("boards")
    assert proc.returncode == 0, proc.stderr
    for name in REQUIRED:
        assert name in proc.stdout
    rows = {ln.split("|")[1].strip(): [c.strip() for c in ln.split("|")[2:-1]] for ln in proc.stdout.splitlines()[2:]}
    assert rows["uno"][1] == "16 MHz" and rows["host"][1] == "host CPU"  # the host board has no clock of its own
    d = json.loads(run_cli("boards", "--json").stdout)
    assert d["default"] == "qemu-m4" and [b["name"] for b in d["boards"]][:3] == ["qemu-m4", "qemu-m7", "qemu-m55"]
    one = json.loads(run_cli("boards", "uno", "--json").stdout)
    assert one["fqbn"] == "arduino:avr:uno" and one["flash_bytes"] == 32256 and one["ram_bytes"] == 2048
    assert_user_error(run_cli("boards", "nope"), "unknown board 'nope'", "known:", "qemu-m4", "esp32")


def test_unknown_board(shared_models, tmp_path):
    proc = run_cli("export", shared_models / "ad01_int8.tflite", "--board", "m4-qemu", "-o", tmp_path / "x")
    assert_user_error(proc, "unknown board 'm4-qemu'", "known:", "qemu-m4", "nucleo-l4r5zi")
    assert not (tmp_path / "x").exists()


def test_fit_check_refuses_with_both_numbers_and_the_margin(shared_models, tmp_path):
    proc = run_cli("export", shared_models / "vww_96_int8.tflite", "--board", "uno-r4", "-o", tmp_path / "x")
    assert_user_error(proc, "does not fit uno-r4", "flash needs", "262,144 B", "RAM needs", "32,768 B", "over by")
    assert not (tmp_path / "x").exists()


def test_fit_report_arithmetic():
    from edgeq.errors import UnsupportedError
    from edgeq.targets.boards import fit_check, get_board, require_fit

    b = get_board("uno")
    r = fit_check(b, {"model": 31000}, {"arena": 1000})
    assert r.flash_needed == 31000 + b.core_flash and r.ram_needed == 1000 + b.core_ram + b.stack
    assert r.flash_margin == b.flash - r.flash_needed and not r.fits
    with pytest.raises(UnsupportedError) as e:
        require_fit(r)
    msg = str(e.value)
    assert (f"flash needs {r.flash_needed:,} B (core {b.core_flash:,} + model 31,000) but uno has 32,256 B "
            f"(over by {-r.flash_margin:,} B)") in msg
    assert "RAM" not in msg  # RAM fits: only flash is named
    ok = fit_check(b, {"model": 1000}, {"arena": 100})
    assert ok.fits and require_fit(ok) is ok and "free" in ok.summary()


def test_existing_output_folder_needs_force(shared_models, tmp_path):
    out = tmp_path / "fw"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    proc = run_cli("export", shared_models / "ad01_int8.tflite", "-o", out)
    assert_user_error(proc, "already exists", "--force")
    assert (out / "keep.txt").read_text() == "mine"
    proc = run_cli("export", shared_models / "ad01_int8.tflite", "-o", out, "--force", "--json")
    assert proc.returncode == 0, proc.stderr
    assert not (out / "keep.txt").exists() and (out / "Makefile").is_file() and (out / "model" / "model.h").is_file()
    d = json.loads(proc.stdout)
    assert d["board"] == "qemu-m4" and d["backend"] == "portable" and d["fit"]["fits"]
    assert "firmware" not in d  # not built


def test_bad_inputs_are_one_line_errors(tmp_path, shared_models):
    assert_user_error(run_cli("export", tmp_path / "missing.tflite", "-o", tmp_path / "a"), "no such model file")
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a flatbuffer at all")
    assert_user_error(run_cli("export", junk, "-o", tmp_path / "b"))
    assert_user_error(run_cli("export", shared_models / "ad01_int8.tflite", "--board", "uno", "--backend",
                              "cmsis-nn", "-o", tmp_path / "c"), "no CMSIS-NN backend")
    assert_user_error(run_cli("flash", "--board", "qemu-m4", tmp_path / "nothing"), "no such firmware")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_user_error(run_cli("flash", "--board", "qemu-m4", empty), "not an edgeq export folder")


def _path_without(*tools: str) -> str:
    """A PATH in which none of ``tools`` can be found but python and the rest still work."""
    keep = Path(sys.executable).parent
    return str(keep)


@pytest.mark.parametrize("board,tool,apt", [
    ("qemu-m4", "arm-none-eabi-gcc", "apt-get install -y --no-install-recommends gcc-arm-none-eabi"),
    ("uno", "arduino-builder", "apt-get install -y --no-install-recommends arduino-builder arduino-core-avr"),
])
def test_missing_toolchain_names_the_apt_command(digits_mlp_tflite, tmp_path, board, tool, apt):
    proc = run_cli("export", digits_mlp_tflite, "--board", board, "-o", tmp_path / "fw", "--build",
                   env={"PATH": _path_without(tool)})
    assert_user_error(proc, f"{tool} not found", apt)
    assert (tmp_path / "fw" / "edgeq-project.json").is_file()  # the project itself was written


def test_export_build_json_qemu(digits_mlp_tflite, tmp_path):
    if not shutil.which("arm-none-eabi-gcc"):
        pytest.skip("arm-none-eabi-gcc not installed")
    from edgeq.targets.build import elf_sizes

    proc = run_cli("export", digits_mlp_tflite, "--board", "qemu-m4", "-o", tmp_path / "fw", "--build", "--json")
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    fw = Path(d["firmware"])
    assert fw == tmp_path / "fw" / "build" / "firmware.elf" and fw.is_file()
    flash, ram, secs = elf_sizes(fw)
    assert (d["flash_bytes"], d["ram_bytes"]) == (flash, ram)
    assert secs[".stack"] == 16384 and ram == secs.get(".data", 0) + secs[".bss"] + secs[".stack"]
    assert flash == sum(v for k, v in secs.items() if k not in (".bss", ".stack"))
    meta = json.loads((tmp_path / "fw" / "edgeq-project.json").read_text())
    assert meta["firmware"] == "build/firmware.elf" and meta["board"] == "qemu-m4"
    # the project builds by hand too (the Makefile is for users)
    assert (tmp_path / "fw" / "README.md").read_text().count("edgeq flash --board qemu-m4") == 1


def test_export_build_json_uno(digits_mlp_tflite, tmp_path):
    if not shutil.which("arduino-builder"):
        pytest.skip("arduino-builder not installed")
    proc = run_cli("export", digits_mlp_tflite, "--board", "uno", "-o", tmp_path / "fw", "--build", "--json")
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert d["firmware"].endswith(".elf") and d["build"]["hex"].endswith(".hex")
    assert 0 < d["ram_bytes"] < 2048 and 0 < d["flash_bytes"] <= 32256
    assert d["sketch"].endswith("digits_mlp/digits_mlp.ino")


@pytest.mark.parametrize("board,core_flag", [("nano33ble", "-mcpu=cortex-m4"), ("pico", "-mcpu=cortex-m0plus"),
                                             ("portenta-h7", "-mcpu=cortex-m7")])
def test_arduino_arm_boards_build_for_their_core(digits_mlp_tflite, tmp_path, board, core_flag):
    if not shutil.which("arm-none-eabi-gcc"):
        pytest.skip("arm-none-eabi-gcc not installed")
    from edgeq.targets.export import export

    res = export(digits_mlp_tflite, board, tmp_path / "fw", build=True)
    assert res.build.kind == "check-qemu" and res.build.firmware.is_file()
    assert core_flag in res.build.command
    log = res.build.log.read_text()
    assert core_flag in log and "platform_arduino" not in log
    plat = (res.sketch.parent / "src" / "edgeq" / "edgeq_platform_arduino.cpp").read_text()
    if board == "pico":
        assert "edgeq_plat_ticks(void) { return (uint32_t)micros(); }" in plat and "EDGEQ_DWT_CYCCNT" not in plat
    else:
        assert "EDGEQ_DWT_CYCCNT" in plat


def test_esp32_sources_compile_on_the_host(digits_mlp_tflite, tmp_path):
    if not (shutil.which("cc") or shutil.which("gcc")):
        pytest.skip("no host C compiler")
    from edgeq.targets.export import export

    res = export(digits_mlp_tflite, "esp32", tmp_path / "fw", build=True)
    assert res.build.kind == "check-host" and res.build.firmware is None and "esp32" in res.build.note
    assert "ESP.getCycleCount()" in (res.sketch.parent / "src" / "edgeq" / "edgeq_platform_arduino.cpp").read_text()


def test_generic_cortex_m_project_builds(digits_mlp_tflite, tmp_path):
    if not shutil.which("arm-none-eabi-gcc"):
        pytest.skip("arm-none-eabi-gcc not installed")
    from edgeq.targets.export import export

    res = export(digits_mlp_tflite, "generic-m4", tmp_path / "fw", build=True)
    assert (tmp_path / "fw" / "platform_user.c").is_file() and res.build.firmware.is_file()
    assert "ORIGIN = 0x08000000" in (tmp_path / "fw" / "link.ld").read_text()


def test_flash_real_board_without_arduino_cli_says_what_to_install(digits_mlp_tflite, tmp_path):
    from edgeq.targets.export import export

    export(digits_mlp_tflite, "nano33ble", tmp_path / "fw")
    assert_user_error(run_cli("flash", "--board", "nano33ble", tmp_path / "fw"), "--port")
    assert_user_error(run_cli("flash", "--board", "qemu-m7", tmp_path / "fw"), "exported for nano33ble")
    proc = run_cli("flash", "--board", "nano33ble", tmp_path / "fw", "--port", "/dev/ttyACM7",
                   env={"PATH": _path_without("arduino-cli")})
    sketch = tmp_path / "fw" / "digits_mlp"
    assert_user_error(proc, "arduino-cli is not installed, nothing was uploaded to nano33ble",
                      "arduino-cli core install arduino:mbed_nano",
                      f"arduino-cli upload -p /dev/ttyACM7 --fqbn arduino:mbed_nano:nano33ble {sketch}")


def test_render_escapes_c_strings():
    from edgeq._templates import c_char_literal, c_float, c_string_literal

    assert c_string_literal('a"b\\c\r\n?') == '"a\\"b\\\\c\\r\\n\\?"'
    assert c_string_literal("é") == '"\\303\\251"'
    assert c_char_literal("%") == "'%'" and c_char_literal("'") == "'\\''"
    assert c_float(0.00390625) == "0.00390625f" and c_float(1) == "1.0f"


def test_flash_uno_with_a_port_uploads_instead_of_simulating(digits_mlp_tflite, tmp_path):
    from edgeq.targets.export import export

    export(digits_mlp_tflite, "uno", tmp_path / "fw")
    assert_user_error(run_cli("flash", "--board", "qemu-m4", tmp_path / "fw", "--port", "/dev/ttyACM0"),
                      "emulated", "--port")
    proc = run_cli("flash", "--board", "uno", tmp_path / "fw", "--port", "/dev/ttyACM0", "--json",
                   env={"PATH": _path_without("avrdude")})
    assert proc.returncode == 2
    d = json.loads(proc.stdout)
    assert d["error"] == "avrdude is not installed, nothing was uploaded to uno"
    assert "apt-get install -y avrdude" in d["hint"] and "avrdude -p atmega328p -c arduino -P /dev/ttyACM0" in d["hint"]
    assert f"flash:w:{tmp_path / 'fw' / 'build' / 'firmware.hex'}:i" in d["hint"]


def test_baud_default_per_board_and_model_and_override(shared_models, tmp_path):
    """The UART rate: the board table's (115200), 921600 for ad01 as the runner's devices_ad.yaml expects, --baud
    overrides; it reaches the sketch's Serial.begin through edgeq_config.h and edgeq-info."""
    def export(model, *extra):
        out = tmp_path / f"{model.split('.')[0]}{len(extra)}"
        proc = run_cli("export", shared_models / model, "--board", "nano33ble", "--runtime", "edgeq", "-o", out,
                       "--json", *extra, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        cfg = next(out.rglob("edgeq_config.h")).read_text()
        info = json.loads((out / "edgeq-project.json").read_text())["info"]
        return cfg, info, next(out.rglob("edgeq_platform_arduino.cpp")).read_text()

    cfg, info, plat = export("ad01_int8.tflite")
    assert "#define EDGEQ_CFG_BAUD 921600UL" in cfg and info["baud"] == 921600 and info["mlperf_id"] == "ad01"
    assert "Serial.begin(EDGEQ_BAUD)" in plat and "#define EDGEQ_BAUD EDGEQ_CFG_BAUD" in plat
    cfg, info, _ = export("kws_ref_model.tflite")
    assert "#define EDGEQ_CFG_BAUD 115200UL" in cfg and info["baud"] == 115200
    cfg, info, _ = export("kws_ref_model.tflite", "--baud", "57600")
    assert "#define EDGEQ_CFG_BAUD 57600UL" in cfg and info["baud"] == 57600
    proc = run_cli("export", shared_models / "kws_ref_model.tflite", "--board", "nano33ble", "-o", tmp_path / "x",
                   "--baud", "7", cwd=tmp_path)
    assert_user_error(proc, "--baud 7 is not a serial baud rate")
    assert not (tmp_path / "x").exists()
