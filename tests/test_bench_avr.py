"""`edgeq bench --board uno`: a small model on the Arduino Uno (ATmega328P), simulated by simavr behind a pty,
every output verified against TFLM; timing in cycles (the Uno's 16 MHz timer), reported in us too."""

from __future__ import annotations

import json

import pytest

from compiler_util import single_op_model  # noqa: F401  (fixture)
from conftest import require_tool

pytestmark = [pytest.mark.slow, pytest.mark.avr, pytest.mark.timeout(300)]

SMALL = {"op": "dense", "inputs": [[32]], "units": 8, "bias": True, "act": "relu", "seed": 3}


@pytest.fixture(scope="module")
def uno_fw(single_op_model, tmp_path_factory):  # noqa: F811
    require_tool("arduino-builder", "arduino-builder arduino-core-avr gcc-avr avr-libc")
    require_tool("simavr", "simavr libsimavr-dev")
    try:
        from edgeq.targets.export import export
    except ImportError as exc:  # pragma: no cover
        pytest.skip(f"edgeq.targets.export is not available: {exc}")
    model = single_op_model(SMALL)
    out = tmp_path_factory.mktemp("uno") / "fw"
    export(model, "uno", out, build=True)
    return model, out


def test_uno_small_model_verified(uno_fw, tmp_path, capsys):
    from edgeq.cli.main import main

    model, fw = uno_fw
    capsys.readouterr()
    rc = main(["bench", "--board", "uno", "--firmware", str(fw), "--model", str(model), "--runs", "5", "--json",
               "-o", str(tmp_path / "uno.json")])
    out, err = capsys.readouterr()
    assert rc == 0, err
    rep = json.loads(out)
    assert rep["board"] == "uno" and rep["device"]["board"] == "uno"
    assert rep["runs"] == 5 and rep["verified"] == 5 and rep["mismatches"] == 0
    assert rep["latency"]["unit"] == "cycles" and rep["latency"]["min"] > 0
    assert rep["latency_us"]["unit"] == "us"
    assert abs(rep["latency_us"]["p50"] - rep["latency"]["p50"] / 16) < 1  # 16 MHz
    assert rep["throughput"]["unit"] == "inferences/s"
