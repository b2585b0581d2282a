"""`edgeq analyze`: per-layer figures from the compiler's own plan; its RAM is exactly the compiled
EDGEQ_RAM_BYTES, its constants exactly EDGEQ_CONST_BYTES; export's fit check uses the same numbers and names them
when it refuses. (How close the instruction estimate comes to QEMU's count is a benchmark: benchmarks/analyze.py.)"""

from __future__ import annotations

import json
import re

import pytest

from conftest import assert_user_error, run_cli


def _compiled(tmp_path, model, target, backend, cmsis=None):
    args = ["compile", str(model), "--target", target, "--backend", backend, "-o", str(tmp_path / f"c-{backend}"),
            "--json"]
    if cmsis:
        args += ["--cmsis-nn", str(cmsis)]
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr
    h = (tmp_path / f"c-{backend}" / "model.h").read_text()
    arena = int(re.search(r"#define EDGEQ_ARENA_BYTES (\d+)", h).group(1))
    scratch = int(re.search(r"#define EDGEQ_SCRATCH_BYTES (\d+)", h).group(1))
    const = int(re.search(r"#define EDGEQ_CONST_BYTES (\d+)", h).group(1))
    return arena, scratch, const


@pytest.mark.parametrize("backend", ["portable", "cmsis-nn"])
def test_ram_and_constants_equal_the_compiled_plan(shared_models, tmp_path, cmsis_nn_dir, backend):
    model = shared_models / "kws_ref_model.tflite"
    cmsis = ["--cmsis-nn", str(cmsis_nn_dir)] if backend == "cmsis-nn" else []
    proc = run_cli("analyze", str(model), "--board", "qemu-m4", "--backend", backend, *cmsis, "--json")
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    arena, scratch, const = _compiled(tmp_path, model, "cortex-m4", backend, cmsis_nn_dir if cmsis else None)
    assert (d["arena_bytes"], d["scratch_bytes"], d["ram_bytes"]) == (arena, scratch, arena + scratch)
    assert d["const_bytes"] == const == sum(r["const_bytes"] for r in d["layers"])
    assert d["fit"]["ram"]["parts"]["arena + scratch"] == arena + scratch
    assert d["fit"]["ram"]["parts"]["input copy"] == 490  # 49 x 10 int8 features
    assert d["fit"]["ram"]["parts"]["stack"] == 16384
    # a layer's high water is the top of its buffers and of its kernel scratch (which may lie past the activations)
    assert max(r["high_water"] for r in d["layers"]) <= arena + scratch
    assert max(r["high_water"] for r in d["layers"] if not r["scratch_bytes"]) <= arena
    assert max(r["live_bytes"] + r["scratch_bytes"] for r in d["layers"]) <= arena + scratch
    # MACs of the first conv: 25x5 outputs x 64 channels x (10x4 window x 1 channel)
    assert d["layers"][0]["op"] == "CONV_2D" and d["layers"][0]["macs"] == 25 * 5 * 64 * 10 * 4
    assert d["layers"][0]["in_shapes"] == [[1, 49, 10, 1]] and d["layers"][0]["out_shapes"] == [[1, 25, 5, 64]]
    assert d["instructions"] > d["macs"] / 4 and d["ms"] == pytest.approx(1000 * d["cycles"] / 25e6)
    assert all(r["cost_row"] == r["kernel"] for r in d["layers"] if not r["no_code"])  # every kind calibrated


def test_uno_refusal_uses_the_plan_and_names_the_parts(digits_mlp_tflite, shared_models, tmp_path):
    """The Uno's fit check and analyze agree, and a refusal lists what the RAM is made of."""
    proc = run_cli("analyze", str(digits_mlp_tflite), "--board", "uno", "--json")
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    arena, scratch, const = _compiled(tmp_path, digits_mlp_tflite, "avr", "portable")
    assert d["ram_bytes"] == arena + scratch and d["const_bytes"] == const
    assert d["instructions"] is None and "no instruction table" in d["calibration"]
    exp = run_cli("export", str(digits_mlp_tflite), "--board", "uno", "-o", str(tmp_path / "fw"), "--json")
    assert exp.returncode == 0, exp.stderr
    assert json.loads(exp.stdout)["fit"] == d["fit"]

    kws = shared_models / "kws_ref_model.tflite"
    a = json.loads(run_cli("analyze", str(kws), "--board", "uno", "--json").stdout)
    assert not a["fit"]["fits"]
    proc = run_cli("export", str(kws), "--board", "uno", "-o", str(tmp_path / "x"))
    ram = a["fit"]["ram"]
    assert_user_error(proc, "does not fit uno", f"RAM needs {ram['needed']:,} B",
                      f"arena + scratch {a['ram_bytes']:,}", f"stack {ram['parts']['stack']:,}", "edgeq analyze")
    assert not (tmp_path / "x").exists()


def test_markdown_and_plot_from_a_fresh_folder(digits_mlp_tflite, tmp_path):
    work = tmp_path / "w"
    work.mkdir()
    (work / "m.tflite").write_bytes(digits_mlp_tflite.read_bytes())
    proc = run_cli("analyze", "m.tflite", "--board", "nano33ble", "--plot", "mem.png", cwd=work)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "| layer | op | input | output | MACs |" in out and "FULLY_CONNECTED" in out
    assert "**RAM**" in out and "arena + scratch" in out and "**Flash**" in out and "ms at 64 MHz" in out
    assert "plot: mem.png" in out
    png = (work / "mem.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert_user_error(run_cli("analyze", "m.tflite", "--plot", "mem.png", cwd=work), "exists", "--force")
    assert_user_error(run_cli("analyze", "missing.tflite", cwd=work), "no such model file")
    assert_user_error(run_cli("analyze", "m.tflite", "--board", "nope", cwd=work), "unknown board 'nope'")


def test_python_api(digits_mlp_tflite):
    import edgeq

    a = edgeq.analyze(digits_mlp_tflite, "qemu-m4", backend="portable")
    assert a.ram_bytes == a.arena_bytes + a.scratch_bytes and a.fit.fits
    assert [r["op"] for r in a.layers][:3] == ["FULLY_CONNECTED"] * 3
    assert a.layers[0]["macs"] == 64 * 64 and a.to_dict()["macs"] == 64 * 64 + 64 * 32 + 32 * 10
