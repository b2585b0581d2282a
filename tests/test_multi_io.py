"""Models with several inputs and outputs, and a PyTorch-style network through the newer ops, end to end:
model.h, the host program, the references (TFLM and the portable host build agree byte for byte on every output),
and the firmware on qemu-m4 (the device protocol loads each input and returns each output; `edgeq bench` verifies
them all against TFLM)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from compiler_util import require_gcc, single_op_model  # noqa: F401
from conftest import require_tool, run_cli

pytestmark = pytest.mark.tf

SPECS = {
    "two_inputs": {"op": "add", "inputs": [[4, 5, 3], [4, 5, 3]], "ranges": [2.0, 6.0], "seed": 3},
    "two_outputs": {"op": "two_outputs", "inputs": [[6, 6, 3]], "filters": 5, "seed": 4},
}


@pytest.fixture(scope="module")
def models(single_op_model):
    from edgeq.tflite import read_model

    paths = {k: single_op_model(v) for k, v in SPECS.items()}
    assert len(read_model(paths["two_inputs"]).inputs) == 2
    assert len(read_model(paths["two_outputs"]).outputs) == 2
    return paths


@pytest.mark.parametrize("name", sorted(SPECS))
def test_host_program_and_references_agree(models, tmp_path, name):
    require_gcc()
    pytest.importorskip("tflite_micro.python.tflite_micro.runtime")
    from edgeq.reference import PortableHostReference, TflmReference

    model = models[name]
    proc = run_cli("compile", model, "--target", "host", "--build", "-o", "c", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    h = (tmp_path / "c" / "model.h").read_text()
    n_in, n_out = (2, 1) if name == "two_inputs" else (1, 2)
    assert f"#define EDGEQ_NUM_INPUTS {n_in}" in h and f"#define EDGEQ_NUM_OUTPUTS {n_out}" in h
    rng = np.random.default_rng(0)
    tflm = TflmReference(model)
    host = PortableHostReference(model, binary=tmp_path / "c" / "model_host")
    n_bytes = sum(s.nbytes for s in tflm.inputs)
    batch = [rng.integers(0, 256, size=n_bytes, dtype=np.uint8).tobytes() for _ in range(8)]
    want = tflm.run_many(batch)
    assert all(len(w) == sum(s.nbytes for s in tflm.outputs) for w in want)
    assert host.run_many(batch) == want
    # each output of the concatenation is what TFLM gives for that output alone
    from tflite_micro.python.tflite_micro import runtime

    it = runtime.Interpreter.from_file(str(model))
    off = 0
    for k, s in enumerate(tflm.inputs):
        it.set_input(np.frombuffer(batch[0][off:off + s.nbytes], dtype=s.dtype).reshape(s.shape), k)
        off += s.nbytes
    it.invoke()
    assert b"".join(np.asarray(it.get_output(k)).tobytes() for k in range(n_out)) == want[0]


@pytest.mark.slow
@pytest.mark.qemu
@pytest.mark.parametrize("name", sorted(SPECS))
def test_qemu_bench_verifies_every_input_and_output(models, tmp_path, name):
    require_tool("arm-none-eabi-gcc", "gcc-arm-none-eabi libnewlib-arm-none-eabi")
    require_tool("qemu-system-arm", "qemu-system-arm")
    pytest.importorskip("tflite_micro.python.tflite_micro.runtime")
    model = models[name]
    proc = run_cli("export", model, "--board", "qemu-m4", "--build", "-o", "fw", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert d["runtime"] == "edgeq"
    proc = run_cli("bench", "--board", "qemu-m4", "--firmware", "fw", "--model", model, "--runs", 6, "--warmup", 0,
                   "--json", cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    assert rep["runs"] == 6 and rep["verified"] == 6 and rep["mismatches"] == 0
    assert rep["reference"] == "tflm"
    info = rep["device"]
    assert len(info["inputs"]) == (2 if name == "two_inputs" else 1)
    assert len(info["outputs"]) == (1 if name == "two_inputs" else 2)
    assert rep["inputs"]["inputs" if name == "two_inputs" else "count"] == (2 if name == "two_inputs" else 6)


NCHW_NET = {"op": "nchw_net", "inputs": [[3, 8, 8]], "seed": 5, "range": 3.0}
NEW_OPS = {"TRANSPOSE", "HARD_SWISH", "LEAKY_RELU", "RESIZE_NEAREST_NEIGHBOR", "MAXIMUM", "STRIDED_SLICE", "MEAN",
           "TANH"}


def test_nchw_net_on_host_is_bit_exact(single_op_model, tmp_path):
    """A PyTorch-style network (NCHW input, TRANSPOSE first, TRANSPOSE before MEAN as in MCUNet) through the new ops."""
    require_gcc()
    pytest.importorskip("tflite_micro.python.tflite_micro.runtime")
    from compiler_util import compile_and_build
    from edgeq.reference import PortableHostReference, TflmReference

    model = single_op_model(NCHW_NET)
    binary, res = compile_and_build(model, tmp_path / "c")
    assert NEW_OPS <= set(res.op_counts), res.op_counts
    tflm, host = TflmReference(model), PortableHostReference(model, binary=binary)
    rng = np.random.default_rng(1)
    batch = [rng.integers(0, 256, size=tflm.inputs[0].nbytes, dtype=np.uint8).tobytes() for _ in range(16)]
    assert host.run_many(batch) == tflm.run_many(batch)


@pytest.mark.slow
@pytest.mark.qemu
def test_nchw_net_on_qemu(single_op_model, tmp_path):
    """The same network as Cortex-M4 firmware (strided copies, tables in flash, tanh, max) under QEMU: every output
    verified against TFLM by edgeq bench."""
    require_tool("arm-none-eabi-gcc", "gcc-arm-none-eabi libnewlib-arm-none-eabi")
    require_tool("qemu-system-arm", "qemu-system-arm")
    pytest.importorskip("tflite_micro.python.tflite_micro.runtime")
    model = single_op_model(NCHW_NET)
    proc = run_cli("export", model, "--board", "qemu-m4", "--build", "-o", "fw", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("bench", "--board", "qemu-m4", "--firmware", "fw", "--model", model, "--runs", 6, "--warmup", 0,
                   "--json", cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    assert rep["runs"] == 6 and rep["verified"] == 6 and rep["mismatches"] == 0 and rep["reference"] == "tflm"


MIXED_NET = {"op": "mixed_net", "inputs": [[8, 8, 3]], "seed": 6, "range": 2.0}
MIXED_OPS = {"CONV_2D", "PRELU", "RESIZE_BILINEAR", "SPLIT", "SUB", "SQUARED_DIFFERENCE", "PACK", "GATHER",
             "ARG_MAX"}


def test_mixed_net_on_host_is_bit_exact(single_op_model, tmp_path):
    require_gcc()
    pytest.importorskip("tflite_micro.python.tflite_micro.runtime")
    from compiler_util import compile_and_build
    from edgeq.reference import PortableHostReference, TflmReference

    model = single_op_model(MIXED_NET)
    binary, res = compile_and_build(model, tmp_path / "c")
    assert MIXED_OPS <= set(res.op_counts), res.op_counts
    assert "PAD folded into layer" in (tmp_path / "c" / "model.c").read_text()
    tflm, host = TflmReference(model), PortableHostReference(model, binary=binary)
    rng = np.random.default_rng(2)
    batch = [rng.integers(0, 256, size=tflm.inputs[0].nbytes, dtype=np.uint8).tobytes() for _ in range(12)]
    assert host.run_many(batch) == tflm.run_many(batch)


@pytest.mark.slow
@pytest.mark.qemu
def test_mixed_net_on_qemu(single_op_model, tmp_path):
    """The same network as Cortex-M4 firmware: int64 bilinear sums, strided copies, an int32 ARG_MAX output next to
    an int8 one; edgeq bench verifies both outputs of every run against TFLM."""
    require_tool("arm-none-eabi-gcc", "gcc-arm-none-eabi libnewlib-arm-none-eabi")
    require_tool("qemu-system-arm", "qemu-system-arm")
    pytest.importorskip("tflite_micro.python.tflite_micro.runtime")
    model = single_op_model(MIXED_NET)
    proc = run_cli("export", model, "--board", "qemu-m4", "--build", "-o", "fw", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("bench", "--board", "qemu-m4", "--firmware", "fw", "--model", model, "--runs", 6, "--warmup", 0,
                   "--json", cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    assert rep["runs"] == 6 and rep["verified"] == 6 and rep["mismatches"] == 0 and rep["reference"] == "tflm"
    assert sorted(o["dtype"] for o in rep["device"]["outputs"]) == ["int32", "int8"]
