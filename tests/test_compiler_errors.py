"""Bad input to `edgeq compile`: each is one line on stderr, exit 2, no traceback and no output folder (not even a
temporary one). Hostile tensor / file names compile into C that builds with -Werror and still matches TFLM."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from compiler_util import (  # noqa: F401
    assert_bit_exact, compile_and_build, random_inputs, require_gcc, single_op_model, tflm_runtime,
)
from conftest import assert_user_error, run_cli

SMALL = {"op": "chain", "inputs": [[8, 8, 2]], "range": 1.0, "seed": 5}


def _no_leftovers(parent: Path, name: str) -> None:
    left = [p.name for p in parent.iterdir() if p.name.startswith(f".{name}.") or p.name == name]
    assert not left, left


def _fails(tmp_path: Path, model, *needles: str, extra=()) -> None:
    out = tmp_path / "out"
    proc = run_cli("compile", str(model), "-o", str(out), *extra)
    assert_user_error(proc, *needles)
    _no_leftovers(tmp_path, "out")


# ---- models the compiler refuses ------------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    _fails(tmp_path, tmp_path / "nope.tflite", "no such file")


def test_garbage_file(tmp_path):
    bad = tmp_path / "garbage.tflite"
    bad.write_bytes(os.urandom(3000))
    _fails(tmp_path, bad, "not a .tflite")


def test_truncated_file(tmp_path, shared_models):
    bad = tmp_path / "trunc.tflite"
    bad.write_bytes((shared_models / "kws_ref_model.tflite").read_bytes()[:5000])
    _fails(tmp_path, bad, "trunc.tflite")


def test_float_model(tmp_path, shared_models):
    _fails(tmp_path, shared_models / "vww_96_float.tflite", "float32 model", "edgeq quantize")


def test_hybrid_model(tmp_path, shared_models):
    _fails(tmp_path, shared_models / "kws_ref_model_float32.tflite", "hybrid", "edgeq quantize")


@pytest.mark.tf
def test_float16_model(tmp_path, single_op_model):
    path = single_op_model({"op": "conv", "inputs": [[6, 6, 2]], "filters": 3, "kernel": [3, 3], "strides": [1, 1],
                            "dilation": [1, 1], "padding": "same", "act": None, "bias": True, "float16": True})
    _fails(tmp_path, path, "float16", "edgeq quantize")


@pytest.mark.tf
@pytest.mark.parametrize("op,name", [("log_softmax", "LOG_SOFTMAX")])
def test_unsupported_op(tmp_path, single_op_model, op, name):
    shapes = [[4, 4, 3]]
    path = single_op_model({"op": op, "inputs": shapes, "range": 2.0, "seed": 0})
    out = tmp_path / "out"
    proc = run_cli("compile", str(path), "-o", str(out))
    assert_user_error(proc, f"op {name} (operator 0)", "not supported by edgeq's compiler", "TFLM runs it",
                      "--runtime tflm")
    _no_leftovers(tmp_path, "out")


def test_unknown_target_and_backend(tmp_path, shared_models):
    model = shared_models / "ad01_int8.tflite"
    for extra in (("--target", "z80"), ("--backend", "tvm")):
        proc = run_cli("compile", str(model), "-o", str(tmp_path / "out"), *extra)
        assert proc.returncode == 2
        assert "Traceback" not in proc.stderr
        _no_leftovers(tmp_path, "out")


def test_cmsis_nn_without_checkout(tmp_path, shared_models):
    env = {"EDGEQ_CMSIS_NN_DIR": ""}
    proc = run_cli("compile", str(shared_models / "ad01_int8.tflite"), "-o", str(tmp_path / "out"),
                   "--backend", "cmsis-nn", env=env)
    assert_user_error(proc, "cmsis-nn", "--cmsis-nn")
    _no_leftovers(tmp_path, "out")


def test_build_needs_host_target(tmp_path, shared_models):
    _fails(tmp_path, shared_models / "ad01_int8.tflite", "--build", extra=("--target", "cortex-m4", "--build"))


# ---- output folder --------------------------------------------------------------------------------------------------


def test_existing_output_needs_force(tmp_path, shared_models):
    model = shared_models / "ad01_int8.tflite"
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    proc = run_cli("compile", str(model), "-o", str(out))
    assert_user_error(proc, "already exists", "--force")
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    proc = run_cli("compile", str(model), "-o", str(out), "--force", "--json")
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert not (out / "keep.txt").exists()
    assert {"model.h", "model.c", "model_data.c", "edgeq_nn.h", "Makefile", "main_host.c"} <= set(d["files"])
    assert all((out / f).is_file() for f in d["files"])
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_failed_compile_keeps_old_output(tmp_path, shared_models):
    out = tmp_path / "out"
    assert run_cli("compile", str(shared_models / "ad01_int8.tflite"), "-o", str(out)).returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    proc = run_cli("compile", str(shared_models / "vww_96_float.tflite"), "-o", str(out), "--force")
    assert_user_error(proc, "float32")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_json_output(tmp_path, shared_models):
    proc = run_cli("compile", str(shared_models / "kws_ref_model.tflite"), "-o", str(tmp_path / "k"), "--json",
                   "--target", "cortex-m4")
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)  # exactly one JSON object
    assert d["ram_bytes"] == d["arena_bytes"] + d["scratch_bytes"]
    assert d["arena_bytes"] > 0 and d["const_bytes"] > 0 and d["ops"] == 13
    assert d["op_counts"]["CONV_2D"] == 5
    assert "Makefile" not in d["files"]  # host only


# ---- hostile names --------------------------------------------------------------------------------------------------

HOSTILE = [
    '*/ #include <x> \n int evil; /*',
    'a"b\\"; system("rm -rf /"); //',
    '??/\n#define X 1 ??= ??( ??)',
    "\x00\x01\x7f tab\there \u00e9\u4e2d\u6587 \U0001f600",
    "/* nested */ */ */",
    "x" * 500,
]


# comments and string literals, as the C tokenizer sees them
_C_TOKENS = re.compile(r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"', re.S)


def _rename_tensors(src: Path, dst: Path) -> None:
    from tensorflow.lite.python import schema_py_generated as schema
    import flatbuffers

    mt = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(src.read_bytes(), 0))
    for i, t in enumerate(mt.subgraphs[0].tensors):
        t.name = (HOSTILE[i % len(HOSTILE)] + f" {i}").encode("utf-8", "surrogatepass")
    mt.description = HOSTILE[0].encode()
    b = flatbuffers.Builder(1024)
    b.Finish(mt.Pack(b), file_identifier=b"TFL3")
    dst.write_bytes(bytes(b.Output()))


@pytest.mark.tf
def test_hostile_names(tmp_path, shared_models):
    pytest.importorskip("tensorflow")
    tflm_runtime()
    require_gcc()
    evil_dir = tmp_path / 'we"ird *\\ dir'
    evil_dir.mkdir()
    model = evil_dir / 'kws *\\ #include "x.h" ??=.tflite'
    _rename_tensors(shared_models / "kws_ref_model.tflite", model)
    out = tmp_path / "out"
    binary, res = compile_and_build(model, out)  # -Wall -Wextra -Werror + sanitizers
    for f in res.files:
        if f == "Makefile":
            continue
        text = (out / f).read_text(errors="strict")
        assert text.isascii(), f
        assert "??" not in text, f  # no trigraphs anywhere (gcc -std=c99 honours them, even in comments)
        code = _C_TOKENS.sub(lambda m: " " if m.group(0).startswith("/") else '""', text)
        for needle in ("evil", "system", "#include <x>", "define X", "x.h", "nested", "xxxx"):
            assert needle not in code, (f, needle)
    h = (out / "model.h").read_text()
    name = re.search(r'#define EDGEQ_MODEL_NAME "([^"]*)"', h).group(1)
    assert "*" not in name and "?" not in name and "\\" not in name
    # comments never close early: every "/*" has its "*/" on the same line, and no "*/" appears inside
    for line in (out / "model.c").read_text().splitlines():
        if "/*" in line and "*/" in line:
            assert line.count("/*") == 1 and line.count("*/") == 1, line
    assert_bit_exact(model, binary, random_inputs(model, 3))


def test_host_program_short_input(tmp_path, shared_models):
    require_gcc()
    binary, _ = compile_and_build(shared_models / "ad01_int8.tflite", tmp_path / "ad", sanitize=False)
    import subprocess

    for data in (b"", b"\x01" * 100, b"\x01" * 700):
        proc = subprocess.run([str(binary)], input=data, capture_output=True, timeout=60)
        assert proc.returncode == 1
        assert b"short input" in proc.stderr
    proc = subprocess.run([str(binary)], input=b"\x01" * 1280, capture_output=True, timeout=60)
    assert proc.returncode == 0 and len(proc.stdout) == 1280
    assert shutil.which(str(binary))
    assert np.frombuffer(proc.stdout[:640], np.int8).tobytes() == proc.stdout[640:]  # same input, same output
