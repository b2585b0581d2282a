"""Arduino Uno (ATmega328P): a small int8 MLP exported as a sketch, built with Debian's arduino-builder, run in
simavr behind the UART<->pty bridge; outputs identical to the TFLM reference interpreter; weights in flash."""

from __future__ import annotations

import contextlib
import json
import os
import signal

import numpy as np
import pytest

from compiler_util import single_op_model  # noqa: F401  (fixture)
from conftest import assert_user_error, run_cli
from fwutil import Serial, need_avr, random_input, tflm_outputs

pytestmark = [pytest.mark.slow, pytest.mark.avr, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def uno(digits_mlp_tflite, tmp_path_factory):
    need_avr()
    from edgeq.targets.export import export

    res = export(digits_mlp_tflite, "uno", tmp_path_factory.mktemp("uno") / "fw", build=True)
    return res


def _inputs(model, digits, n=4):
    from edgeq.tflite import read_model

    t = read_model(model).input_tensors()[0]
    x = digits.x_test[:n].reshape(n, 64)
    q = np.clip(np.round(x / np.float32(t.scale)) + t.zero_point, -128, 127).astype(np.int8)
    return [row.reshape(1, 64) for row in q]


def test_uno_sketch_layout_and_sizes(uno):
    sk = uno.sketch
    assert sk.is_file() and sk.parent.name == sk.stem == "digits_mlp"
    assert (sk.parent / "src" / "model" / "model.h").is_file()
    assert (sk.parent / "src" / "edgeq" / "edgeq_protocol.c").is_file()
    assert "PROGMEM" in (sk.parent / "src" / "model" / "model_data.c").read_text() + \
        (sk.parent / "src" / "model" / "edgeq_nn.h").read_text()
    b = uno.build
    assert b.kind == "arduino-builder" and b.firmware.suffix == ".elf" and b.hex.is_file()
    # the weights sit in flash: static RAM is far below the model's constant bytes and fits the Uno's 2 KB
    assert b.flash_bytes <= 32256 and b.ram_bytes < 1500 < uno.compile["const_bytes"]


def test_uno_outputs_identical_to_tflm(uno, digits_mlp_tflite, digits):
    from edgeq.targets.emulators import start_emulator

    with start_emulator("uno", uno.out_dir) as emu:
        assert emu.url.startswith("/dev/")
        link = Serial(emu.url)
        try:
            boot = link.boot()
            assert boot[0] == "m-boot-[edgeq digits_mlp portable uno]"
            info = link.info()
            assert info["timer"] == {"unit": "cycles", "per_tick": 1, "source": "avr-timer1"}
            assert info["board"] == "uno" and info["core"] == "avr" and info["clock_hz"] == 16_000_000
            assert 0 < info["stack_used"] < info["stack_bytes"] < 2048
            for x in _inputs(digits_mlp_tflite, digits):
                assert link.load(x.tobytes()) == ["m-load-done"]
                ticks, out = link.run()
                assert out == tflm_outputs(digits_mlp_tflite, x)
                assert ticks > 10_000
            # the EEMBC path on the same device
            x = _inputs(digits_mlp_tflite, digits, 1)[0].tobytes()
            assert link.cmd("db load 64") == ["m-[Expecting 64 bytes]"]
            link.cmd(f"db {x[:31].hex()}")
            link.cmd(f"db {x[31:62].hex()}")
            assert link.cmd(f"db {x[62:].hex()}") == ["m-load-done"]
            lines = link.cmd("infer 2 1", timeout=60)
            scores = [float(v) for v in next(ln for ln in lines if ln.startswith("m-results-["))[11:-1].split(",")]
            ref = np.frombuffer(tflm_outputs(digits_mlp_tflite, np.frombuffer(x, np.int8).reshape(1, 64)), np.int8)
            assert int(np.argmax(scores)) == int(np.argmax(ref))
            assert link.cmd("db load 65") == ["e-[db load 65 exceeds the 64-byte input buffer]"]
            assert link.cmd("x" * 200) == ["e-[command too long: at most 79 characters before the terminator]"]
        finally:
            link.close()


def test_uno_flash_cli_prints_the_pty(uno):
    proc = run_cli("flash", "--board", "uno", uno.out_dir, "--detach", "--json", timeout=60)
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    try:
        assert d["url"].startswith("/dev/pts/") and d["pid"] > 0
        link = Serial(d["url"])
        try:
            assert link.boot()[0].startswith("m-boot-[edgeq digits_mlp")
        finally:
            link.close()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(d["pid"], signal.SIGKILL)


def test_model_too_big_for_the_uno(shared_models, tmp_path):
    proc = run_cli("export", shared_models / "kws_ref_model.tflite", "--board", "uno", "-o", tmp_path / "x")
    assert_user_error(proc, "does not fit uno", "flash needs", "32,256 B", "over by", "RAM needs", "2,048 B")
    assert not (tmp_path / "x").exists()


@pytest.mark.tf
@pytest.mark.parametrize("spec,kernels", [
    ({"op": "conv_dw_dense", "inputs": [[6, 6, 2]], "filters": 4, "range": 2.0, "seed": 8},
     ("edgeq_convolve_wrapper_s16(", "edgeq_fully_connected_per_channel_s16(")),
    # BATCH_MATMUL with a constant RHS broadcast over its batch: int16 x int16 products and int64 sums, 16-bit int
    ({"op": "matmul", "inputs": [[3, 6]], "const_shape": [2, 6, 4], "ranges": [3.0, 3.0], "seed": 5,
      "input_names": ["a_lhs"]}, ("edgeq_batch_matmul_s16(",)),
], ids=["conv-dw-fc", "batch-matmul"])
def test_int16x8_model_on_the_uno(single_op_model, tmp_path, spec, kernels):
    """int16x8 models on the simulated ATmega328P: a Conv / depthwise / Conv / per-channel FC model (the int16 kernels
    with 16-bit int, int64 sums and the int64 biases read from flash, EDGEQ_W64) and a BATCH_MATMUL; outputs
    identical to TFLM's."""
    need_avr()
    from edgeq.targets.emulators import start_emulator
    from edgeq.targets.export import export

    path = single_op_model({**spec, "int16x8": True})
    res = export(path, "uno", tmp_path / "fw", build=True)
    model_c = (res.sketch.parent / "src" / "model" / "model.c").read_text()
    assert all(k in model_c for k in kernels), model_c[:3000]
    with start_emulator("uno", res.out_dir) as emu:
        link = Serial(emu.url)
        try:
            link.boot()
            for seed in (1, 2):
                x = random_input(path, seed)
                assert link.load(x.tobytes()) == ["m-load-done"]
                _, out = link.run()
                assert out == tflm_outputs(path, x)
        finally:
            link.close()
