"""Calibration beyond min/max, and the calibrate-only + edit-ranges path to a fully int8 model.

The TFLite converter only does min/max calibration. To use another method (percentile, MSE, entropy), edgeq:

1. gets a *calibrated float model*: for Keras / SavedModel, the converter with ``_experimental_calibrate_only =
   True`` (a float .tflite whose activation tensors carry ``min``/``max``); for a float ``.tflite``, the model itself
   (every float activation gets a range);
2. runs that float model with the LiteRT interpreter over the calibration data, reading every activation tensor
   (``experimental_preserve_all_tensors=True``, no delegates) into an observer of the chosen method
   (:func:`edgeq.quant.observers.make_observer`); graph inputs and outputs always use min/max;
3. writes the observers' ranges into the model's ``min``/``max`` fields and fixes the batch to 1;
4. calls the converter's ``mlir_quantize(fully_quantize=True)``, which quantizes with exactly those ranges;
5. checks that it did: the scale of every CONV/DEPTHWISE/FC/ADD/MUL output equals
   :func:`edgeq.quant.affine.choose_qparams` of the range edgeq wrote (:func:`check_ranges_used`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np

from edgeq.errors import EdgeqError, UnsupportedError

CALIBRATIONS: tuple[str, ...] = ("minmax", "percentile", "mse", "entropy")
#: ops whose int8 output scale comes straight from the output's own calibrated range
RANGE_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "MUL", "SUB")
#: buffered activation bytes before the observers are updated (bounds memory on large models)
_CHUNK_BYTES = 64 * 1024 * 1024
_CHUNK_SAMPLES = 32
#: samples the converter itself calibrates on in calibrate-only mode (edgeq overwrites every range afterwards)
CONVERTER_SAMPLES = 8


# --------------------------------------------------------------------------------------------------------------------
# flatbuffer object API (tensorflow.lite.python.schema_py_generated ships with TensorFlow)


def _schema():
    from edgeq.convert._tf import import_tf

    import_tf()
    from tensorflow.lite.python import schema_py_generated as schema  # noqa: PLC0415

    return schema


def model_t(buf: bytes):
    schema = _schema()
    return schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(buf, 0))


def pack(mt) -> bytes:
    import flatbuffers  # noqa: PLC0415 - a TensorFlow dependency

    b = flatbuffers.Builder(1024)
    b.Finish(mt.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _name(t) -> str:
    n = t.name
    return n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n or "")


def _is_const(mt, t) -> bool:
    b = mt.buffers[t.buffer] if 0 <= t.buffer < len(mt.buffers) else None
    return b is not None and b.data is not None and len(b.data) > 0


def activation_tensors(mt, *, only_with_ranges: bool = False) -> list[int]:
    """Float32 activation tensors (read or written by an operator, not constant, not variables) of subgraph 0.

    ``only_with_ranges``: those the converter gave a min/max (a calibrate-only model)."""
    sg = mt.subgraphs[0]
    used: list[int] = []
    seen: set[int] = set()
    for t in list(sg.inputs):
        if t not in seen:
            seen.add(t)
            used.append(int(t))
    for op in sg.operators:
        for t in list(op.inputs if op.inputs is not None else []) + list(op.outputs if op.outputs is not None else []):
            if t >= 0 and t not in seen:
                seen.add(t)
                used.append(int(t))
    owned = converter_owned_tensors(mt)
    out = []
    for t in used:
        if t in owned:
            continue
        tt = sg.tensors[t]
        if tt.type != 0 or tt.isVariable or _is_const(mt, tt):  # 0 = FLOAT32
            continue
        if only_with_ranges:
            q = tt.quantization
            if q is None or q.min is None or q.max is None or len(q.min) == 0:
                continue
        out.append(t)
    return out


def set_ranges(mt, ranges: dict[int, tuple[float, float]]) -> None:
    schema = _schema()
    sg = mt.subgraphs[0]
    for t, (lo, hi) in ranges.items():
        q = sg.tensors[t].quantization or schema.QuantizationParametersT()
        q.min = [float(np.float32(lo))]
        q.max = [float(np.float32(hi))]
        q.scale, q.zeroPoint = None, None
        sg.tensors[t].quantization = q


#: state inputs whose quantization the converter derives itself (the LSTM's hidden state shares the output's scale,
#: its cell state gets a power-of-two int16 scale): their calibrated ranges are kept, never observed
_STATE_INPUTS = {"UNIDIRECTIONAL_SEQUENCE_LSTM": (18, 19)}


def converter_owned_tensors(mt) -> set[int]:
    """Tensors whose ranges only the converter's own calibrator can set: every op's ``intermediates`` (the LSTM
    gate outputs, not visible to an interpreter) and recurrent state inputs. Their calibrated ranges are kept."""
    schema = _schema()
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    out: set[int] = set()
    for op in mt.subgraphs[0].operators:
        if op.intermediates is not None:
            out.update(int(t) for t in op.intermediates if t >= 0)
        code = mt.operatorCodes[op.opcodeIndex]
        opname = names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "")
        for i in _STATE_INPUTS.get(opname, ()):
            if op.inputs is not None and len(op.inputs) > i and op.inputs[i] >= 0:
                out.add(int(op.inputs[i]))
    return out


def clear_ranges(mt) -> None:
    keep = converter_owned_tensors(mt)
    for i, t in enumerate(mt.subgraphs[0].tensors):
        q = t.quantization
        if i not in keep and q is not None and (q.scale is None or len(q.scale) == 0):
            t.quantization = None


def fix_batch(mt) -> None:
    """Batch 1 everywhere: a ``-1`` first dimension in a shape signature becomes 1 (MCUs have no dynamic shapes)."""
    for sg in mt.subgraphs:
        for t in sg.tensors:
            sig = t.shapeSignature
            if sig is not None and len(sig) and sig[0] == -1:
                sig = np.array(sig, dtype=np.int32)
                sig[0] = 1
                t.shapeSignature = sig


# --------------------------------------------------------------------------------------------------------------------
# running the float model and observing its activations


def _interpreter(model: bytes, *, preserve_all: bool = True):
    """A LiteRT interpreter with every intermediate tensor readable (no delegates). One place to swap runtimes."""
    from edgeq.convert.runner import make_interpreter

    return make_interpreter(model, preserve_all=preserve_all)


class _EntropyIgnoringZeros:
    """Entropy (KL) calibration that does not count exact zeros.

    An asymmetric int8 range always contains 0 exactly (the zero point), so the zeros a ReLU produces (16-35 % of
    the values in the digits CNN) are quantized without error whatever the range. Left in the histogram of ``|x|``
    they dominate the KL divergence and push the threshold far down: on the digits CNN
    :class:`~edgeq.quant.observers.EntropyObserver` on all values clipped the second conv to 3.85 of 6.60 (22 dB SQNR
    instead of 44 dB, -1.8 pp accuracy); on the non-zero values it keeps 6.60. The non-zero values go to the
    observer unchanged (TensorRT's method, 128 quantized bins).

    A KL divergence between 2048-bin histograms means nothing with fewer values than bins: the MLPerf AD
    autoencoder's 8-unit bottleneck sees 8 values per sample, and on 98 samples entropy clipped it to 4 dB SQNR
    (anomaly score 71 instead of 10). Below ``MIN_VALUES`` non-zero values the range is the plain min/max.
    """

    MIN_VALUES = 16 * 2048

    def __init__(self, make):
        self.inner = make("entropy")
        self.minmax = make("minmax")
        self.count = 0

    def update(self, batch):
        x = np.asarray(batch)
        nz = x[x != 0]
        if nz.size:
            self.inner.update(nz)
            self.minmax.update(nz)
            self.count += int(nz.size)
        return self

    def range(self):
        if not self.count:
            return 0.0, 0.0
        lo, hi = self.inner.range() if self.count >= self.MIN_VALUES else self.minmax.range()
        return min(float(lo), 0.0) if lo < 0 else float(lo), float(hi)


def make_calibration_observer(method: str):
    """The observer edgeq calibrates a tensor with (entropy ignores exact zeros, see above)."""
    from edgeq.quant.observers import make_observer

    if method == "entropy":
        return _EntropyIgnoringZeros(make_observer)
    return make_observer(method)


def progress_bar(total: int, desc: str, progress: bool | None):
    """tqdm on stderr (``progress=None``: only on a terminal); a no-op stand-in without tqdm."""
    try:
        from tqdm.auto import tqdm  # noqa: PLC0415
    except ModuleNotFoundError:
        tqdm = None
    disable = (not sys.stderr.isatty()) if progress is None else (not progress)
    if tqdm is None or disable:
        class _Null:
            def update(self, n=1): ...
            def close(self): ...
            def set_postfix_str(self, s): ...
        return _Null()
    return tqdm(total=total, desc=desc, unit="sample", file=sys.stderr, dynamic_ncols=True, leave=True)


def collect_ranges(float_model: bytes, tensors: Iterable[int], samples: np.ndarray, method: str = "minmax", *,
                   progress: bool | None = None, input_method: str = "minmax",
                   observer_factory: Callable[[str], Any] | None = None) -> dict[int, tuple[float, float]]:
    """Run ``float_model`` on every sample and return ``{tensor index: (min, max)}`` from one observer per tensor."""
    if method not in CALIBRATIONS and method != "moving_average":
        raise EdgeqError(f"unknown calibration method {method!r}", hint=f"use one of {', '.join(CALIBRATIONS)}")
    make = observer_factory or make_calibration_observer
    interp = _interpreter(float_model, preserve_all=True)
    inp = interp.get_input_details()
    if len(inp) != 1:
        raise UnsupportedError(f"int8 calibration needs a single-input model, this one has {len(inp)} inputs")
    in_index, in_shape = inp[0]["index"], tuple(inp[0]["shape"])
    tensors = list(dict.fromkeys(int(t) for t in tensors))
    # graph inputs and outputs keep min/max: the input range is the data's own, and clipping an output saturates
    # exactly the values the application reads (an autoencoder's reconstruction, a large logit)
    ends = {int(d["index"]) for d in inp} | {int(d["index"]) for d in interp.get_output_details()}
    observers = {t: make(input_method if t in ends else method) for t in tensors}

    # chunk the observer updates: fewer, larger numpy calls, bounded memory
    interp.set_tensor(in_index, samples[:1].reshape(in_shape).astype(np.float32))
    interp.invoke()
    per_sample = sum(interp.get_tensor(t).nbytes for t in tensors) or 1
    chunk = int(max(1, min(_CHUNK_SAMPLES, _CHUNK_BYTES // per_sample)))
    buffers: dict[int, list[np.ndarray]] = {t: [] for t in tensors}

    def flush() -> None:
        for t, parts in buffers.items():
            if parts:
                observers[t].update(np.concatenate(parts, axis=0) if len(parts) > 1 else parts[0])
                parts.clear()

    bar = progress_bar(len(samples), f"calibrating ({method})", progress)
    try:
        for i, x in enumerate(samples):
            interp.reset_all_variables()  # a fused LSTM's state: every sample starts from zero, as at inference
            interp.set_tensor(in_index, np.asarray(x, dtype=np.float32).reshape(in_shape))
            interp.invoke()
            for t in tensors:
                buffers[t].append(np.array(interp.get_tensor(t), dtype=np.float32, copy=True))
            if (i + 1) % chunk == 0:
                flush()
            bar.update(1)
        flush()
    finally:
        bar.close()
    ranges: dict[int, tuple[float, float]] = {}
    for t, obs in observers.items():
        lo, hi = obs.range()
        lo, hi = float(lo), float(hi)
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise EdgeqError(f"calibration produced a non-finite range for tensor {t}",
                             hint="check the calibration data for extreme values")
        if hi < lo:
            lo, hi = hi, lo
        ranges[t] = (lo, hi)
    return ranges


# --------------------------------------------------------------------------------------------------------------------
# the converter's quantizer, and checking it used our ranges


def mlir_quantize(calibrated: bytes, *, io: str = "int8", per_tensor_dense: bool = False, where: str = "") -> bytes:
    """The converter's quantizer on a float model whose activations carry ranges (``io``: int8 or float32).

    Op outputs that nothing reads are made graph outputs for the quantizer and dropped again afterwards
    (:func:`expose_dead_outputs`): with one in the graph, the quantizer's result varies from call to call."""
    from edgeq.convert._tf import first_line, import_tf, quiet

    tf = import_tf()
    from tensorflow.lite.python.convert import mlir_quantize as _mq  # noqa: PLC0415

    dtype = tf.int8 if io == "int8" else tf.float32
    calibrated, exposed = expose_dead_outputs(calibrated)
    try:
        with quiet() as log:
            # fully_quantize=True makes the I/O int8 whatever the I/O types say; False keeps float I/O around
            # QUANTIZE/DEQUANTIZE (every op inside is still quantized; require_full_int8 checks that)
            out = _mq(calibrated, fully_quantize=(io == "int8"), input_data_type=dtype, output_data_type=dtype,
                      disable_per_channel_for_dense_layers=bool(per_tensor_dense))
    except Exception as exc:  # noqa: BLE001 - the converter raises anything
        detail = first_line(str(exc)) or first_line("".join(log)) or type(exc).__name__
        raise UnsupportedError(f"the converter could not quantize the model to int8: {detail}", where=where or None,
                               hint="an op without an int8 kernel? try --mode dynamic") from None
    return drop_exposed_outputs(bytes(out), exposed)


# --------------------------------------------------------------------------------------------------------------------
# dead op outputs
#
# A multi-output op whose outputs are not all read (a SPLIT part nothing uses: an unrolled GRU's reset gate in its
# first step, where the zero initial state lets the converter fold that gate's only use away) makes the quantizer's
# result depend on the order in which it visits the graph, which changes from call to call: on the same input,
# about half of the calls quantized the SPLIT and half left it float between a DEQUANTIZE and QUANTIZEs (not fully
# int8). As a graph output, the same tensor is quantized every time; edgeq then removes it from the outputs.

#: name of the signature entries edgeq adds for exposed outputs
_EXPOSED_PREFIX = "edgeq_unread_"


def dead_outputs(mt) -> list[int]:
    """Op outputs of subgraph 0 that no op reads and that are not graph outputs, in operator order."""
    sg = mt.subgraphs[0]
    read = {int(t) for op in sg.operators for t in (op.inputs if op.inputs is not None else []) if t >= 0}
    read.update(int(t) for t in (sg.outputs if sg.outputs is not None else []))
    out: list[int] = []
    for op in sg.operators:
        for t in (op.outputs if op.outputs is not None else []):
            if t >= 0 and int(t) not in read and int(t) not in out:
                out.append(int(t))
    return out


def expose_dead_outputs(model: bytes) -> tuple[bytes, int]:
    """``model`` with every dead op output appended to the graph outputs (and its signature); how many were added."""
    mt = model_t(model)
    dead = dead_outputs(mt)
    if not dead:
        return model, 0
    schema = _schema()
    sg = mt.subgraphs[0]
    sg.outputs = np.array([int(t) for t in sg.outputs] + dead, dtype=np.int32)
    for sig in mt.signatureDefs or []:
        if sig.subgraphIndex == 0:
            for i, t in enumerate(dead):
                entry = schema.TensorMapT()
                entry.name, entry.tensorIndex = f"{_EXPOSED_PREFIX}{i}".encode(), t
                sig.outputs.append(entry)
    return pack(mt), len(dead)


def drop_exposed_outputs(model: bytes, count: int) -> bytes:
    """Undo :func:`expose_dead_outputs` on the quantized model: the last ``count`` graph outputs stop being outputs,
    a DEQUANTIZE made only for one of them (float I/O) is removed, and so are the tensors nothing refers to then."""
    if not count:
        return model
    mt = model_t(model)
    sg = mt.subgraphs[0]
    outputs = [int(t) for t in sg.outputs]
    keep, extra = outputs[:-count], set(outputs[-count:])
    sg.outputs = np.array(keep, dtype=np.int32)
    names = {v: k for k, v in vars(_schema().BuiltinOperator).items() if not k.startswith("_")}
    ops = []
    for op in sg.operators:
        code = mt.operatorCodes[op.opcodeIndex]
        opname = names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "")
        if opname == "DEQUANTIZE" and all(int(t) in extra for t in op.outputs):
            continue
        ops.append(op)
    sg.operators = ops
    for sig in mt.signatureDefs or []:
        if sig.subgraphIndex == 0:
            sig.outputs = [e for e in sig.outputs if not _name_of(e).startswith(_EXPOSED_PREFIX)]
    _compact_tensors(mt)
    return pack(mt)


def _name_of(entry) -> str:
    n = entry.name
    return n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n or "")


def _compact_tensors(mt) -> None:
    """Remove the tensors of subgraph 0 that no operator, graph input/output or signature refers to (renumbering)."""
    sg = mt.subgraphs[0]
    used: set[int] = set()
    for op in sg.operators:
        for seq in (op.inputs, op.outputs, op.intermediates):
            used.update(int(t) for t in (seq if seq is not None else []) if t >= 0)
    used.update(int(t) for t in sg.inputs)
    used.update(int(t) for t in sg.outputs)
    if len(used) == len(sg.tensors):
        return
    new = {old: i for i, old in enumerate(sorted(used))}

    def remap(seq):
        return None if seq is None else np.array([new[int(t)] if t >= 0 else -1 for t in seq], dtype=np.int32)

    for op in sg.operators:
        op.inputs, op.outputs = remap(op.inputs), remap(op.outputs)
        if op.intermediates is not None:
            op.intermediates = remap(op.intermediates)
    sg.inputs, sg.outputs = remap(sg.inputs), remap(sg.outputs)
    for sig in mt.signatureDefs or []:
        if sig.subgraphIndex == 0:
            for e in list(sig.inputs or []) + list(sig.outputs or []):
                e.tensorIndex = new[int(e.tensorIndex)]
    sg.tensors = [t for i, t in enumerate(sg.tensors) if i in used]


@dataclass
class RangeCheck:
    checked: int = 0
    matched: int = 0
    mismatches: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"checked": self.checked, "matched": self.matched, "mismatches": self.mismatches[:10]}


def expected_scale(lo: float, hi: float) -> tuple[float, int]:
    """Scale and zero point the converter gives an int8 activation with calibrated range ``[lo, hi]``."""
    from edgeq.quant.affine import choose_qparams  # noqa: PLC0415

    qp = choose_qparams(lo, hi, "int8")
    return float(qp.scale), int(qp.zero_point)


def check_ranges_used(quantized: bytes, ranges_by_name: dict[str, tuple[float, float]]) -> RangeCheck:
    """Compare the output scales of range-setting ops with the ranges edgeq wrote."""
    from edgeq.tflite import parse_model

    graph = parse_model(quantized, source="<quantized>")
    res = RangeCheck()
    for op in graph.operators:
        if op.opcode not in RANGE_OPS:
            continue
        for t in op.outputs:
            tensor = graph.tensors[t]
            if tensor.dtype != "int8" or tensor.name not in ranges_by_name or not tensor.quant:
                continue
            lo, hi = ranges_by_name[tensor.name]
            scale, zp = expected_scale(lo, hi)
            res.checked += 1
            if np.isclose(tensor.scale, scale, rtol=1e-6, atol=0) and abs(tensor.zero_point - zp) <= 1:
                res.matched += 1
            else:
                res.mismatches.append({"tensor": tensor.name, "op": op.opcode, "range": [lo, hi],
                                       "expected_scale": scale, "scale": tensor.scale})
    return res


# --------------------------------------------------------------------------------------------------------------------
# Keras / SavedModel: the converter's calibrate-only mode


def calibrate_only(concrete_function, samples: np.ndarray, *, where: str = "", trackable=None,
                   all_samples: bool = False) -> bytes:
    """A float .tflite with converter min/max on every activation it will quantize (batch fixed by the function).

    ``all_samples``: calibrate on every sample, not :data:`CONVERTER_SAMPLES` (models whose op intermediates, such
    as the LSTM gates, keep the converter's ranges)."""
    from edgeq.convert._tf import first_line, import_tf, quiet

    tf = import_tf()
    few = samples if all_samples else samples[: max(1, min(CONVERTER_SAMPLES, len(samples)))]

    def representative():
        for x in few:
            yield [np.asarray(x, dtype=np.float32)[None]]

    try:
        with quiet() as log:
            conv = tf.lite.TFLiteConverter.from_concrete_functions([concrete_function], trackable)
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            conv.representative_dataset = representative
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            conv.inference_input_type = tf.int8
            conv.inference_output_type = tf.int8
            conv._experimental_calibrate_only = True  # noqa: SLF001 - documented in tflite-facts.md
            out = conv.convert()
    except Exception as exc:  # noqa: BLE001
        detail = first_line(str(exc)) or first_line("".join(log)) or type(exc).__name__
        raise UnsupportedError(f"the converter could not prepare the model for int8: {detail}",
                               where=where or None) from None
    return bytes(out)
