"""Recurrent ops (SVDF, UNIDIRECTIONAL_SEQUENCE_LSTM) and what their int16x8 models need around them (int16 input,
QUANTIZE int16 -> int8 and int16 -> int32, SOFTMAX int8 -> int16, int32 output), bit-exact with the TFLM interpreter:
the two real TFLM example models on the host (ASan/UBSan build, seeded random inputs) and on qemu-m4, the state
carried from one invoke to the next (TFLM semantics) as well as reset per inference, and the memory TFLM needs."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler_util import (SANITIZE, assert_bit_exact, compile_and_build, random_inputs, run_host, tflm_run,
                           tflm_runtime)

KWS = "keyword_scrambled_8bit.tflite"
LSTM = "trained_lstm_int8.tflite"
N_RANDOM = 24


@pytest.fixture(scope="session")
def tflm_models(shared_models) -> Path:
    d = shared_models.parent / "tflite-micro"
    if not (d / KWS).is_file():
        pytest.skip(f"the TFLM example models are not in {d}")
    return d


def kws_inputs(model: Path, n: int) -> list[np.ndarray]:
    """Half uniform over the whole int16 range (the int8 QUANTIZE saturates), half speech-like amplitudes."""
    rng = np.random.default_rng(5)
    half = random_inputs(model, n // 2, seed=3)
    return half + [np.clip(rng.normal(0, 2500, size=half[0].shape), -32768, 32767).astype(np.int16)
                   for _ in range(n - n // 2)]


@pytest.fixture(scope="module")
def kws_built(tflm_models, tmp_path_factory):
    tflm_runtime()
    model = tflm_models / KWS
    binary, res = compile_and_build(model, tmp_path_factory.mktemp("kws_svdf") / "host")
    return model, binary, res


def test_svdf_keyword_model_bit_exact_with_tflm(kws_built):
    model, binary, res = kws_built
    assert res.op_counts["SVDF"] == 7 and res.inputs[0]["dtype"] == "int16" and res.outputs[0]["dtype"] == "int32"
    assert_bit_exact(model, binary, kws_inputs(model, N_RANDOM))


def test_model_header_io_types(kws_built):
    _, _, res = kws_built
    h = (res.out_dir / "model.h").read_text()
    assert '#define EDGEQ_INPUT0_DTYPE "int16"' in h and "#define EDGEQ_INPUT0_BYTES 192" in h
    assert '#define EDGEQ_OUTPUT0_DTYPE "int32"' in h and "#define EDGEQ_OUTPUT0_BYTES 8" in h
    assert "int16_t edgeq_quantize_input0(float x);" in h and "float edgeq_dequantize_output0(int32_t q);" in h
    assert "#define EDGEQ_STATE_BYTES 5120" in h  # 4 x 512 + 3 x 1024 bytes of SVDF state


def with_outputs(model: Path, outputs: list[int], dest: Path) -> Path:
    """The model with other graph outputs (intermediate tensors), written with TFLM's own flatbuffer schema."""
    import flatbuffers
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb

    m = fb.ModelT.InitFromObj(fb.Model.GetRootAsModel(model.read_bytes(), 0))
    m.subgraphs[0].outputs = np.array(outputs, dtype=np.int32)
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    dest.write_bytes(b.Output())
    return dest


def test_lstm_mnist_model_bit_exact_with_tflm(tflm_models, tmp_path):
    """The mnist_lstm example (28 steps of 28 inputs, 20 units, int16 cell state), with the LSTM's own output
    sequence as a second graph output so that every step is compared, not only the softmax."""
    runtime = tflm_runtime()
    model = with_outputs(tflm_models / LSTM, [26, 23], tmp_path / "lstm_two_outputs.tflite")
    binary, res = compile_and_build(model, tmp_path / "host")
    assert res.op_counts["UNIDIRECTIONAL_SEQUENCE_LSTM"] == 1
    xs = random_inputs(model, N_RANDOM, seed=8)
    rng = np.random.default_rng(2)  # mnist-like: mostly background (-128) with bright strokes
    xs += [np.where(rng.random((1, 28, 28)) < 0.8, -128, rng.integers(-128, 128, (1, 28, 28))).astype(np.int8)
           for _ in range(4)]
    it = runtime.Interpreter.from_file(str(model))
    raw = subprocess.run([str(binary)], input=b"".join(x.tobytes() for x in xs), capture_output=True, check=True)
    per = 10 + 28 * 20
    seqs = []
    for k, x in enumerate(xs):
        it.set_input(x, 0)
        it.invoke()
        ref = np.array(it.get_output(0)).tobytes() + np.array(it.get_output(1)).tobytes()
        it.reset()
        assert raw.stdout[k * per:(k + 1) * per] == ref, f"input {k}: differs from TFLM"
        seqs.append(np.frombuffer(ref[10:], np.int8))
    assert len(np.unique(np.concatenate(seqs))) > 100  # the hidden states are not saturated
    # the plain model (softmax output only) through the usual helper too
    binary2, _ = compile_and_build(tflm_models / LSTM, tmp_path / "plain")
    assert_bit_exact(tflm_models / LSTM, binary2, xs[:8])


@pytest.mark.parametrize("name", [KWS, LSTM])
def test_cmsis_nn_backend_bit_exact_with_tflm(tflm_models, cmsis_nn_dir, tmp_path, name):
    """--backend cmsis-nn: FULLY_CONNECTED and SOFTMAX int8 -> int16 on CMSIS-NN, SVDF / LSTM / QUANTIZE on edgeq's
    kernels (CMSIS-NN's SVDF and LSTM are not TFLM's reference arithmetic: docs/cmsis-nn.md)."""
    from edgeq.compiler import build_host, compile_model

    tflm_runtime()
    model = tflm_models / name
    res = compile_model(model, target="host", backend="cmsis-nn", out_dir=tmp_path / "c", cmsis_nn_dir=cmsis_nn_dir)
    kernels = {layer["op"]: layer["kernel"] for layer in res.layers}
    assert kernels["FULLY_CONNECTED"] == "arm_fully_connected_s8"
    if name == KWS:
        assert kernels["SOFTMAX"] == "arm_softmax_s8_s16" and kernels["SVDF"] == "edgeq_svdf_s8"
    else:
        assert kernels["UNIDIRECTIONAL_SEQUENCE_LSTM"] == "edgeq_lstm_s8"
    # CMSIS-NN's own code shifts negative values (as tests/test_compiler_cmsis_nn.py notes): no UBSan shift check
    binary = build_host(res.out_dir, extra_cflags=SANITIZE + " -fno-sanitize=shift,signed-integer-overflow")
    xs = kws_inputs(model, 12) if name == KWS else random_inputs(model, 12, seed=4)
    assert_bit_exact(model, binary, xs)


# ---- converter-generated LSTM models ---------------------------------------------------------------------------------

LSTM_SPECS = {
    "t7-f5-u9": {"steps": 7, "features": 5, "units": [9], "seed": 1},
    "t1-f3-u4": {"steps": 1, "features": 3, "units": [4], "seed": 2},
    "stacked-dense": {"steps": 6, "features": 8, "units": [12, 7], "dense": 4,
                      "seed": 3},
    "batch2-t4-f6-u5": {"batch": 2, "steps": 4, "features": 6, "units": [5], "seed": 4},
    "time-major-b2-t5": {"batch": 2, "steps": 5, "features": 4, "units": [6], "time_major": True, "seed": 5},
    "saturating-t10-f16-u32": {"steps": 10, "features": 16, "units": [32], "range": 4.0, "seed": 6},
}


@pytest.fixture(scope="session")
def lstm_model(request, tmp_path_factory):
    """spec (one of LSTM_SPECS) -> converted .tflite, cached in pytest's cache by spec and TF version. The converter
    runs in a child process (it crashes with SIGSEGV on some LSTM graphs): every missing model in one child (one
    TensorFlow start-up); should that child fail, one child per model, so the failure names its spec."""
    import hashlib
    import json
    import os
    import sys

    tf_version = pytest.importorskip("tensorflow", reason="TensorFlow is needed to build LSTM models").__version__
    cache = Path(request.config.cache.mkdir("edgeq-lstm-models")) if request.config.cache else \
        tmp_path_factory.mktemp("lstm-cache")
    script = str(Path(__file__).parent / "lstm_models.py")

    def path_of(spec: dict) -> Path:
        key = hashlib.sha256(json.dumps([spec, tf_version], sort_keys=True).encode()).hexdigest()[:20]
        return cache / f"lstm-{key}.tflite"

    def convert(pairs: list) -> subprocess.CompletedProcess:
        tmp = [(spec, str(path.with_suffix(f".{os.getpid()}.tmp"))) for spec, path in pairs]
        proc = subprocess.run([sys.executable, script, json.dumps(tmp)], capture_output=True, text=True, timeout=900)
        if proc.returncode == 0:
            for (_, path), (_, t) in zip(pairs, tmp):
                Path(t).replace(path)
        return proc

    missing = [(spec, path_of(spec)) for spec in LSTM_SPECS.values() if not path_of(spec).exists()]
    if missing:
        convert(missing)

    def make(spec: dict) -> Path:
        path = path_of(spec)
        if not path.exists():
            proc = convert([(spec, path)])
            assert proc.returncode == 0, f"converter failed (exit {proc.returncode}): {proc.stderr[-2000:]}"
        return path

    return make


@pytest.mark.tf
@pytest.mark.parametrize("name", list(LSTM_SPECS))
def test_converter_lstm_bit_exact_with_tflm(lstm_model, tmp_path, name):
    from edgeq.tflite import read_model

    model = lstm_model(LSTM_SPECS[name])
    g = read_model(model)
    lstms = [op for op in g.operators if op.opcode == "UNIDIRECTIONAL_SEQUENCE_LSTM"]
    assert len(lstms) == len(LSTM_SPECS[name]["units"])  # fused, not unrolled
    assert g.tensors[lstms[0].inputs[19]].dtype == "int16"
    binary, res = compile_and_build(model, tmp_path / "host")
    xs = random_inputs(model, 16, seed=len(name))
    assert_bit_exact(model, binary, xs)
    got = run_host(binary, xs, np.int8)
    assert len(np.unique(np.concatenate(got))) > 4  # not a constant output


def _with_lstm_options(model: Path, dest: Path, **changes) -> Path:
    """The model with its LSTMs' options changed (cellClip, fusedActivationFunction...), via TFLM's schema."""
    import flatbuffers
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb

    m = fb.ModelT.InitFromObj(fb.Model.GetRootAsModel(model.read_bytes(), 0))
    for op in m.subgraphs[0].operators:
        if isinstance(op.builtinOptions, fb.UnidirectionalSequenceLSTMOptionsT):
            for k, v in changes.items():
                setattr(op.builtinOptions, k, v)
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    dest.write_bytes(b.Output())
    return dest


@pytest.mark.tf
@pytest.mark.parametrize("variant,changes", [("cell-clip", {"cellClip": 0.3}), ("no-clip", {"cellClip": 0.0})])
def test_lstm_option_variants_bit_exact_with_tflm(lstm_model, tmp_path, variant, changes):
    """Cell clipping (a quantized clip inside the int16 range: other outputs) and no clip at all (the converter
    writes 10.0, whose quantized value saturates to 32767: the same outputs); both match TFLM."""
    base = lstm_model(LSTM_SPECS["saturating-t10-f16-u32"])
    model = _with_lstm_options(base, tmp_path / f"{variant}.tflite", **changes)
    binary, _ = compile_and_build(model, tmp_path / "host")
    xs = random_inputs(model, 10, seed=12)
    assert_bit_exact(model, binary, xs)
    changed = [r.tolist() for r in tflm_run(model, xs)] != [r.tolist() for r in tflm_run(base, xs)]
    # the converter's clip (10.0 at cell scale 2^-12 and below) quantizes past int16: the same as no clip
    assert changed == (variant == "cell-clip")


@pytest.mark.tf
def test_converter_lstm_state_carries_across_invokes_like_tflm(lstm_model, tmp_path):
    model = lstm_model(LSTM_SPECS["t7-f5-u9"])
    _, res = compile_and_build(model, tmp_path / "host")
    stream = _stream_build(res.out_dir, tmp_path / "stream")
    xs = random_inputs(model, 12, seed=3)
    it = tflm_runtime().Interpreter.from_file(str(model))
    ref = []
    for k, x in enumerate(xs):
        if k == 8:
            it.reset()
        it.set_input(x, 0)
        it.invoke()
        ref.append(np.array(it.get_output(0)).reshape(-1))
    got = run_host(stream, xs, np.int8)
    assert [r.tolist() for r in ref] == [g.tolist() for g in got]
    fresh = run_host(res.out_dir / "model_host", xs, np.int8)
    assert [g.tolist() for g in got[1:8]] != [f.tolist() for f in fresh[1:8]]  # the state carried over matters
    assert got[8].tolist() == fresh[8].tolist()  # after edgeq_reset() as from a fresh start


# ---- generated single-op SVDF models -------------------------------------------------------------------------------
# The keyword model's weights are scrambled: its SVDF outputs saturate whatever the input, so it proves little beyond
# the plumbing. These models are built directly with the TFLite schema (the converter has no SVDF path from Keras),
# with scales from a float pass so that every stage (feature matmul, state, time matmul, output) is in range.


def svdf_model(path: Path, batches: int, input_size: int, units: int, rank: int, memory: int, state_zp: int,
               bias: bool, state16: bool = False, *, seed: int) -> Path:
    import flatbuffers
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb

    rng = np.random.default_rng(seed)
    filters = units * rank
    s_in, zp_in = 0.02, int(rng.integers(-20, 20))
    wf = rng.integers(-127, 128, size=(filters, input_size)).astype(np.int8)
    wt = rng.integers(-127, 128, size=(filters, memory)).astype(np.int8)
    s_wf, s_wt = 0.01, 0.008
    state_max = 100.0
    if state16:  # int16 time weights and state: 256x finer steps
        wt = (wt.astype(np.int32) * 256 + rng.integers(-128, 128, size=wt.shape)).astype(np.int16)
        s_wt, state_max = s_wt / 256, 100.0 * 256
    # float pass on random inputs: ranges of the feature activations (state) and of the output
    xs = (rng.integers(-128, 128, size=(64, batches, input_size)) - zp_in) * s_in
    feat = xs @ (wf.astype(np.float64) * s_wf).T  # [64, b, filters]
    s_state = float(np.abs(feat).max()) / state_max
    acts = np.clip(np.round(feat / s_state), -state_max * 1.28, state_max * 1.27) * s_state
    tm = acts[..., None] * (wt.astype(np.float64) * s_wt)  # one memory slot filled: rough scale of the time sum
    s_out = float(np.abs(tm.sum(-1)).max()) * np.sqrt(rank) / 60.0
    s_bias = np.float32(np.float32(s_state) * np.float32(s_wt))
    b = rng.integers(-2000, 2000, size=units).astype(np.int32)

    def tensor(shape, ttype, scale, zp, buf, name, variable=False):
        t = fb.TensorT()
        t.shape = np.array(shape, dtype=np.int32)
        t.type = ttype
        t.buffer = buf
        t.name = name
        t.isVariable = variable
        q = fb.QuantizationParametersT()
        q.scale = [float(scale)]
        q.zeroPoint = [int(zp)]
        t.quantization = q
        return t

    bufs = [fb.BufferT()]

    def buffer(arr=None):
        bb = fb.BufferT()
        if arr is not None:
            bb.data = np.frombuffer(arr.tobytes(), dtype=np.uint8)
        bufs.append(bb)
        return len(bufs) - 1

    T = fb.TensorType
    tensors = [
        tensor([batches, input_size], T.INT8, s_in, zp_in, buffer(), "input"),
        tensor([filters, input_size], T.INT8, s_wf, 0, buffer(wf), "weights_feature"),
        tensor([filters, memory], T.INT16 if state16 else T.INT8, s_wt, 0, buffer(wt), "weights_time"),
        tensor([units], T.INT32, s_bias, 0, buffer(b), "bias"),
        tensor([batches, filters * memory], T.INT16 if state16 else T.INT8, s_state, state_zp, buffer(), "state",
               variable=True),
        tensor([batches, units], T.INT8, s_out, int(rng.integers(-10, 10)), buffer(), "output"),
    ]
    op = fb.OperatorT()
    op.opcodeIndex = 0
    op.inputs = np.array([0, 1, 2, 3 if bias else -1, 4], dtype=np.int32)
    op.outputs = np.array([5], dtype=np.int32)
    op.builtinOptionsType = fb.BuiltinOptions.SVDFOptions
    op.builtinOptions = fb.SVDFOptionsT()
    op.builtinOptions.rank = rank
    op.builtinOptions.fusedActivationFunction = fb.ActivationFunctionType.RELU
    sg = fb.SubGraphT()
    sg.tensors, sg.operators = tensors, [op]
    sg.inputs, sg.outputs = np.array([0], dtype=np.int32), np.array([5], dtype=np.int32)
    code = fb.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = fb.BuiltinOperator.SVDF
    code.version = 1
    m = fb.ModelT()
    m.version, m.operatorCodes, m.subgraphs, m.buffers = 3, [code], [sg], bufs
    m.description = "edgeq test svdf"
    builder = flatbuffers.Builder(1024)
    builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
    path.write_bytes(builder.Output())
    return path


SVDF_SHAPES = {
    # name: (batches, input_size, units, rank, memory, state zero point, bias[, int16 state])
    "b1-r1-m8": (1, 24, 16, 1, 8, 0, True),
    "b2-r2-m5-zp": (2, 13, 6, 2, 5, -7, True),
    "b1-r3-m1": (1, 9, 4, 3, 1, 3, True),
    "b3-r1-m10-zp": (3, 17, 5, 1, 10, 11, True),
    "int16-state-b2-r2-m6": (2, 11, 5, 2, 6, 0, True, True),
    "int16-state-zp-b1-r1-m9": (1, 30, 7, 1, 9, -300, True, True),
}


@pytest.mark.parametrize("name", list(SVDF_SHAPES))
def test_generated_svdf_bit_exact_with_tflm_streaming_and_reset(tmp_path, name):
    """Reset per input (model_host) and state carried over 12 invokes with one reset in between, both against TFLM;
    the outputs vary with the input (not saturated)."""
    runtime = tflm_runtime()
    model = svdf_model(tmp_path / f"svdf_{name}.tflite", *SVDF_SHAPES[name], seed=len(name))
    binary, res = compile_and_build(model, tmp_path / "host")
    xs = random_inputs(model, 12, seed=4)
    assert_bit_exact(model, binary, xs)
    stream = _stream_build(res.out_dir, tmp_path / "stream")
    it = runtime.Interpreter.from_file(str(model))
    ref = []
    for k, x in enumerate(xs):
        if k == 8:
            it.reset()
        it.set_input(x, 0)
        it.invoke()
        ref.append(np.array(it.get_output(0)).reshape(-1))
    got = run_host(stream, xs, np.int8)
    assert [r.tolist() for r in ref] == [g.tolist() for g in got]
    fresh = run_host(binary, xs, np.int8)
    if SVDF_SHAPES[name][4] > 1:  # with a memory, the state matters
        assert [g.tolist() for g in got[1:8]] != [f.tolist() for f in fresh[1:8]]
    else:
        assert [g.tolist() for g in got] == [f.tolist() for f in fresh]
    values = np.concatenate(got)
    assert len(np.unique(values)) > 8 and (np.abs(values.astype(int)) < 127).mean() > 0.5


@pytest.mark.tf
def test_lstm_cell_gate_other_than_tanh_is_refused(lstm_model, tmp_path):
    from edgeq.compiler import compile_model
    from edgeq.errors import UnsupportedError

    model = _with_lstm_options(lstm_model(LSTM_SPECS["t1-f3-u4"]), tmp_path / "relu.tflite", fusedActivationFunction=1)
    with pytest.raises(UnsupportedError, match=r"operator 0 \(UNIDIRECTIONAL_SEQUENCE_LSTM\).*RELU.*tanh only"):
        compile_model(model, out_dir=tmp_path / "out")


@settings(max_examples=5, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.integers(1, 3), input_size=st.integers(1, 40), units=st.integers(1, 9), rank=st.integers(1, 3),
       memory=st.integers(1, 12), state_zp=st.integers(-40, 40), seed=st.integers(0, 1000))
def test_svdf_hypothesis_shapes_bit_exact_with_tflm(tmp_path, batches, input_size, units, rank, memory, state_zp,
                                                    seed):
    """Drawn SVDF shapes and state zero points, the state carried over 6 invokes (the streaming binary) against TFLM."""
    import uuid

    runtime = tflm_runtime()
    work = tmp_path / uuid.uuid4().hex[:8]
    work.mkdir()
    model = svdf_model(work / "svdf.tflite", batches, input_size, units, rank, memory, state_zp, True, seed=seed)
    _, res = compile_and_build(model, work / "host")
    stream = _stream_build(res.out_dir, work / "stream")
    xs = random_inputs(model, 6, seed=seed)
    it = runtime.Interpreter.from_file(str(model))
    ref = []
    for x in xs:
        it.set_input(x, 0)
        it.invoke()
        ref.append(np.array(it.get_output(0)).reshape(-1).tolist())
    assert ref == [g.tolist() for g in run_host(stream, xs, np.int8)]


def test_svdf_without_bias_is_refused(tmp_path):
    """TFLM's SVDF Prepare reads the bias scale unconditionally (it crashes without one): refused, naming the op."""
    from edgeq.compiler import compile_model
    from edgeq.errors import UnsupportedError

    model = svdf_model(tmp_path / "svdf_nobias.tflite", 1, 9, 4, 3, 2, 0, bias=False, seed=1)
    with pytest.raises(UnsupportedError, match=r"operator 0 \(SVDF\).*bias"):
        compile_model(model, out_dir=tmp_path / "out")


def _stream_build(src: Path, out: Path) -> Path:
    shutil.copytree(src, out)
    (out / "main_host.c").write_text(_STREAM_MAIN)
    (out / "model_host").unlink(missing_ok=True)
    proc = subprocess.run(["make", "-s", "-C", str(out), f"EXTRA_CFLAGS={SANITIZE}"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return out / "model_host"


# model_host that keeps the recurrent state between inputs (and resets it once, before the 9th)
_STREAM_MAIN = r"""
#include <stdio.h>
#include "model.h"
int main(void)
{
    unsigned long n = 0;
    while (fread(edgeq_input(0), 1, EDGEQ_INPUT0_BYTES, stdin) == EDGEQ_INPUT0_BYTES) {
        if (n == 8) {
            edgeq_reset();
        }
        if (edgeq_invoke() != 0) {
            return 1;
        }
        fwrite(edgeq_output(0), 1, EDGEQ_OUTPUT0_BYTES, stdout);
        ++n;
    }
    return 0;
}
"""


# ---- qemu-m4 ---------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _device(firmware):
    from fwutil import Serial

    from edgeq.targets.emulators import start_emulator

    emu = start_emulator("qemu-m4", firmware)
    link = None
    try:
        link = Serial(emu.url)
        assert link.boot()[0].startswith("m-boot-[edgeq ")
        yield link
    finally:
        if link:
            link.close()
        emu.stop()


@pytest.mark.slow
@pytest.mark.qemu
@pytest.mark.timeout(900)
@pytest.mark.parametrize("backend", ["portable", "cmsis-nn"])
@pytest.mark.parametrize("name", [KWS, LSTM])
def test_recurrent_model_on_qemu_m4_bit_exact_with_tflm(tflm_models, tmp_path, request, name, backend):
    """Each inference (3 warm-ups, then the timed one) starts from the initial state: the output is TFLM's. cmsis-nn:
    FULLY_CONNECTED / SOFTMAX on CMSIS-NN's DSP path, the recurrent ops on edgeq's kernels."""
    from fwutil import need_arm, tflm_outputs

    from edgeq.targets.export import export

    need_arm()
    cmsis = request.getfixturevalue("cmsis_nn_dir") if backend == "cmsis-nn" else None
    model = tflm_models / name
    res = export(model, "qemu-m4", tmp_path / "fw", backend=backend, build=True, cmsis_nn_dir=cmsis)
    xs = kws_inputs(model, 4) if name == KWS else random_inputs(model, 3, seed=9)
    with _device(res.out_dir) as link:
        for x in xs:
            assert link.load(x.tobytes()) == ["m-load-done"]
            ticks, out = link.run(warmup=3)
            assert ticks > 0
            assert out == tflm_outputs(model, x), f"{name} ({backend}): device output differs from TFLM"


@pytest.mark.slow
@pytest.mark.qemu
@pytest.mark.tf
@pytest.mark.timeout(900)
def test_odd_sizes_on_qemu_m4_dsp_paths(lstm_model, tmp_path):
    """The DSP (__smlad) dot products of the LSTM / SVDF kernels with sizes that are not multiples of 4 (the plain C
    tails), batch 2 and time-major, on the Cortex-M4: outputs identical to TFLM."""
    from fwutil import need_arm, tflm_outputs

    from edgeq.targets.export import export

    need_arm()
    models = [lstm_model(LSTM_SPECS["t7-f5-u9"]), lstm_model(LSTM_SPECS["time-major-b2-t5"]),
              svdf_model(tmp_path / "svdf_a.tflite", *SVDF_SHAPES["b2-r2-m5-zp"], seed=3),
              svdf_model(tmp_path / "svdf_b.tflite", *SVDF_SHAPES["b3-r1-m10-zp"], seed=4)]
    for k, model in enumerate(models):
        res = export(model, "qemu-m4", tmp_path / f"fw{k}", backend="portable", build=True)
        with _device(res.out_dir) as link:
            for x in random_inputs(model, 3, seed=k):
                assert link.load(x.tobytes()) == ["m-load-done"]
                assert link.run(warmup=1)[1] == tflm_outputs(model, x), f"{model.name}: differs from TFLM"


# ---- Arduino Uno (AVR, weights and the sigmoid table in flash) -------------------------------------------------------


@pytest.mark.slow
@pytest.mark.avr
@pytest.mark.tf
@pytest.mark.timeout(900)
def test_lstm_and_svdf_on_the_uno_bit_exact_with_tflm(lstm_model, tmp_path):
    """16-bit int, PROGMEM weights, biases and sigmoid table (pgm_read_*): a converter LSTM and generated SVDFs (int8
    and int16 state) on the simulated ATmega328P, outputs identical to TFLM."""
    from fwutil import Serial, need_avr, tflm_outputs

    from edgeq.targets.emulators import start_emulator
    from edgeq.targets.export import export

    need_avr()
    models = [lstm_model(LSTM_SPECS["t7-f5-u9"]),
              svdf_model(tmp_path / "svdf_uno.tflite", *SVDF_SHAPES["b2-r2-m5-zp"], seed=2),
              svdf_model(tmp_path / "svdf16_uno.tflite", *SVDF_SHAPES["int16-state-zp-b1-r1-m9"], seed=5)]
    for k, model in enumerate(models):
        res = export(model, "uno", tmp_path / f"uno{k}", build=True)
        with start_emulator("uno", res.out_dir) as emu:
            link = Serial(emu.url)
            try:
                assert link.boot()[0].startswith("m-boot-[edgeq ")
                for x in random_inputs(model, 3, seed=k):
                    assert link.load(x.tobytes()) == ["m-load-done"]
                    assert link.run()[1] == tflm_outputs(model, x), f"{model.name}: Uno output differs from TFLM"
            finally:
                link.close()
