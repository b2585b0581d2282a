"""Post-training quantization: ``quantize(model, mode, data, calibration, io, per_tensor_dense) -> QuantizeResult``.

Modes:

* ``int8``: static full-integer quantization with calibration data; int8 I/O by default (``io="float32"`` keeps float
  I/O around QUANTIZE/DEQUANTIZE), batch fixed to 1, per-channel conv weights (and per-channel dense unless
  ``per_tensor_dense``). The result is checked to be fully int8 (:func:`edgeq.convert.verify.require_full_int8`).
  Calibration ``minmax``, ``percentile``, ``mse`` or ``entropy`` (see :mod:`edgeq.convert.calibrate`).
* ``dynamic``: dynamic-range (int8 weights, float activations quantized at run time).
* ``float16``: float16 weights.
* ``float32``: plain conversion (batch 1).

Nothing is written here; :meth:`QuantizeResult.save` writes atomically.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeq._fs import atomic_write_bytes
from edgeq.convert.calibrate import CALIBRATIONS
from edgeq.errors import EdgeqError, ModelError, ToolchainError, UnsupportedError

MODES: tuple[str, ...] = ("int8", "int16x8", "dynamic", "float16", "float32")
IO_TYPES: tuple[str, ...] = ("int8", "int16", "float32")
#: model_kind() each mode must produce
EXPECTED_KIND = {"int8": "int8", "int16x8": "int16x8", "dynamic": "dynamic-range", "float16": "float16",
                 "float32": "float32"}


@dataclass
class QuantizeResult:
    """The quantized model (``tflite`` bytes) and what happened (``summary``, the ``--json`` object)."""

    tflite: bytes = field(repr=False)
    summary: dict[str, Any]
    float_tflite: bytes | None = field(default=None, repr=False)  #: the batch-1 float32 model (reference)
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict, repr=False)  #: int8: tensor -> range used

    def save(self, path: str | os.PathLike) -> Path:
        out = atomic_write_bytes(path, self.tflite)
        self.summary["output"] = str(out)
        return out

    def to_dict(self) -> dict[str, Any]:
        return dict(self.summary)

    # the figures `edgeq quantize` prints, typed
    @property
    def mode(self) -> str:
        return self.summary["mode"]

    @property
    def kind(self) -> str:
        """What the result is: int8, int8 (float I/O), dynamic-range, float16, float32."""
        return self.summary["kind"]

    @property
    def size_before(self) -> int:
        """Bytes of the float32 .tflite (batch 1)."""
        return self.summary["size_before"]

    @property
    def size_after(self) -> int:
        return self.summary["size_after"]

    @property
    def ratio(self) -> float | None:
        """size_after / size_before."""
        return self.summary["ratio"]

    @property
    def output(self) -> str | None:
        """Where :meth:`save` wrote the model."""
        return self.summary.get("output")

    def text(self) -> str:
        s = self.summary
        mode = s["mode"]
        if mode == "int16x8":
            detail = f"int16x8 (int16 activations, int8 weights; min/max on {s['samples']} samples, {s['io']} I/O)"
        elif mode == "int8":
            detail = (f"int8 (calibration {s['calibration']} on {s['samples']} samples, {s['io']} I/O, "
                      f"per-channel conv, {'per-tensor' if s['per_tensor_dense'] else 'per-channel'} dense)")
        else:
            detail = mode
        rows = [
            ("model", f"{s['model']} ({s['format']})"),
            ("output", s.get("output") or "(not written)"),
            ("mode", detail),
            ("kind", s["kind"]),
            ("size before", f"{s['size_before']:,} B (float32 .tflite, batch 1)"),
            ("size after", f"{s['size_after']:,} B"),
            ("ratio", f"{s['ratio']:.3f} ({1 / s['ratio']:.2f}x smaller)" if s["ratio"] else "n/a"),
        ]
        if s.get("ranges_checked"):
            rows.append(("ranges used", f"{s['ranges_matched']}/{s['ranges_checked']} op outputs have exactly the "
                                        f"calibrated scale"))
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def _check_options(mode: str, calibration: str | None, io: str | None, data: Any) -> tuple[str, str]:
    if mode not in MODES:
        raise EdgeqError(f"unknown mode {mode!r}", hint=f"use one of {', '.join(MODES)}")
    calibration = calibration or "minmax"
    if calibration not in CALIBRATIONS:
        raise EdgeqError(f"unknown calibration method {calibration!r}", hint=f"use one of {', '.join(CALIBRATIONS)}")
    if io is not None and io not in IO_TYPES:
        raise EdgeqError(f"unknown I/O type {io!r}", hint=f"use one of {', '.join(IO_TYPES)}")
    if mode == "int8":
        if io == "int16":
            raise EdgeqError("--io int16 needs --mode int16x8")
        if data is None:
            raise EdgeqError("int8 quantization needs calibration data",
                             hint="pass --data CALIB.npy (a few hundred representative input samples)")
        return calibration, io or "int8"
    if mode == "int16x8":
        if data is None:
            raise EdgeqError("int16x8 quantization needs calibration data",
                             hint="pass --data CALIB.npy (a few hundred representative input samples)")
        if calibration != "minmax":
            raise EdgeqError(f"--calibration {calibration} is not available for --mode int16x8 (min/max only)")
        if io == "int8":
            raise EdgeqError("--io int8 does not apply to --mode int16x8 (its I/O is int16, or float32)")
        return calibration, io or "int16"
    if io in ("int8", "int16"):
        raise EdgeqError(f"--io {io} needs --mode int8 or int16x8 (a {mode} model has float I/O)")
    if calibration != "minmax":
        raise EdgeqError(f"--calibration {calibration} only applies to --mode int8")
    return calibration, "float32"


def quantize(model: Any, mode: str = "int8", data: Any = None, calibration: str | None = "minmax",
             io: str | None = None, per_tensor_dense: bool = False, *, progress: bool | None = None,
             max_samples: int | None = None) -> QuantizeResult:
    """Quantize ``model`` (a .keras/.h5 path, a SavedModel folder, a float .tflite, or a keras.Model).

    ``data``: calibration samples (a .npy/.npz path or an array, first dimension = samples), required for int8.
    ``io``: ``"int8"`` (default for int8) or ``"float32"``. ``progress``: tqdm bar on stderr (None = only on a
    terminal). ``max_samples``: use at most that many calibration samples. Raises :class:`EdgeqError` subclasses
    for anything the user can fix.

    The conversion runs in a child process (:mod:`edgeq.convert.isolate`): a crash of the TFLite converter is an
    :class:`UnsupportedError` naming what it was converting, never a crash of the caller.
    """
    calibration, io = _check_options(mode, calibration, io, data)
    if isinstance(model, (str, os.PathLike)):
        from edgeq.convert.load import detect_format

        detect_format(model)  # a missing / foreign model file is reported before anything about the data
    arr, data_where = None, ""
    if mode in ("int8", "int16x8"):
        from edgeq.convert.data import load_array

        arr = load_array(data, what="calibration data") if isinstance(data, (str, os.PathLike)) else np.asarray(data)
        data_where = str(data) if isinstance(data, (str, os.PathLike)) else "<array>"
        if arr.dtype.kind not in "biuf":
            raise EdgeqError(f"calibration data has dtype {arr.dtype}, expected numbers", where=data_where)
    kwargs = dict(mode=mode, arr=arr, data_where=data_where, calibration=calibration, io=io,
                  per_tensor_dense=per_tensor_dense, progress=progress, max_samples=max_samples)
    from edgeq.convert.isolate import inprocess, run_isolated

    if isinstance(model, (str, os.PathLike)):
        return run_isolated("quantize", dict(model=str(model), **kwargs), where=str(model))
    if isinstance(model, (bytes, bytearray, memoryview)):
        return run_isolated("quantize", dict(model=bytes(model), **kwargs), where="<bytes>")
    if inprocess() or not (hasattr(model, "save") and hasattr(model, "layers")):
        return _quantize_here(model, **kwargs)
    import tempfile

    from edgeq.convert._tf import quiet

    with tempfile.TemporaryDirectory(prefix="edgeq-model-") as tmp:
        path = Path(tmp) / "model.keras"
        try:
            with quiet():
                model.save(path)
        except Exception:  # noqa: BLE001 - a model Keras cannot save (custom layers): convert it here
            return _quantize_here(model, **kwargs)
        result = run_isolated("quantize", dict(model=str(path), source="<keras.Model>", **kwargs),
                              where=getattr(model, "name", None))
    return result


def _quantize_here(model: Any, mode: str, arr: np.ndarray | None, data_where: str, calibration: str, io: str,
                   per_tensor_dense: bool, progress: bool | None, max_samples: int | None,
                   source: str | None = None) -> QuantizeResult:
    """:func:`quantize` in this process (the child's side of it)."""
    from edgeq.convert.isolate import stage

    started = time.perf_counter()
    from edgeq.convert.load import load_model

    stage(f"loading {source or (model if isinstance(model, str) else '<model>')}")
    src = load_model(model)
    if source:
        src.source = source
    stage(_stage_text(src, mode))
    convert = _from_tflite if src.format == "tflite" else _from_keras
    out, float_bytes, ranges_by_name, check, samples_used = convert(
        src, mode, arr, data_where, calibration, io, per_tensor_dense, progress, max_samples)
    graph = _verify(out, mode, io, src.source)
    summary = _summary(src, graph, out, float_bytes, check, mode=mode, calibration=calibration, io=io,
                       per_tensor_dense=per_tensor_dense, samples=samples_used)
    summary["seconds"] = round(time.perf_counter() - started, 2)
    return QuantizeResult(out, summary, float_bytes, ranges_by_name)


def _calibration_samples(src, mode: str, arr, data_where: str, max_samples: int | None) -> np.ndarray:
    """The calibration samples shaped for the model's one input (``--data``); multi-input models are refused."""
    from edgeq.convert.data import fit_samples

    if len(src.input_shapes) != 1:
        raise UnsupportedError(
            f"{mode} calibration supports single-input models (this one has {len(src.input_shapes)} inputs)",
            where=src.source, hint="convert it with tf.lite.TFLiteConverter and a representative_dataset that yields "
                                   "a dict of arrays keyed by input name; edgeq compile/export/bench take the "
                                   "multi-input .tflite")
    samples = fit_samples(arr, src.fixed_input_shapes[0], where=data_where, what="calibration data")
    return samples[:max_samples] if max_samples else samples


def _from_keras(src, mode: str, arr, data_where: str, calibration: str, io: str, per_tensor_dense: bool,
                progress: bool | None, max_samples: int | None):
    """A Keras model / SavedModel in ``mode``: (model, float32 model, ranges used, range check, samples used)."""
    if mode not in ("int8", "int16x8"):
        cf = src.concrete_function()
        out = _convert(cf, mode, src.source, src.trackable)
        return out, out if mode == "float32" else _convert(cf, "float32", src.source, src.trackable), {}, None, 0
    samples = _calibration_samples(src, mode, arr, data_where, max_samples)
    if mode == "int16x8":
        from edgeq.convert.bias import requantize_biases

        cf = src.concrete_function(fuse_lstm=False)  # the converter has no int16x8 fused LSTM: unrolled
        # an unrolled recurrent layer's steps share one int64 bias quantized for the first step's scale: each gets
        # its own (edgeq.convert.bias)
        out, _ = requantize_biases(_convert(cf, mode, src.source, src.trackable, samples=samples, io=io))
        return out, _convert(cf, "float32", src.source, src.trackable), {}, None, len(samples)
    out, float_bytes, ranges_by_name, check = _int8_from_calibrated(
        _calibrate_only(src.concrete_function(), samples, src.source, src.trackable), samples, calibration, io,
        per_tensor_dense, progress, src.source, calibrated_by_converter=True)
    return out, float_bytes, ranges_by_name, check, len(samples)


def _summary(src, graph, out: bytes, float_bytes: bytes | None, check, *, mode: str, calibration: str, io: str,
             per_tensor_dense: bool, samples: int) -> dict[str, Any]:
    """The ``--json`` object of a quantization (``seconds`` added by the caller)."""
    from edgeq.tflite.check import model_kind

    size_before = src.file_size if src.format == "tflite" or float_bytes is None else len(float_bytes)
    calibrated = mode in ("int8", "int16x8")
    summary: dict[str, Any] = {
        "model": src.source,
        "format": src.format,
        "output": None,
        "mode": mode,
        "calibration": calibration if calibrated else None,
        "io": io,
        "per_tensor_dense": bool(per_tensor_dense) if mode == "int8" else None,
        "samples": samples if calibrated else None,
        "kind": model_kind(graph),
        "input_shape": list(graph.input_tensors()[0].shape) if graph.inputs else [],
        "size_before": int(size_before),
        "size_after": len(out),
        "ratio": round(len(out) / size_before, 4) if size_before else None,
        "source_file_bytes": int(src.file_size),
    }
    if check is not None:
        summary["ranges_checked"] = check.checked
        summary["ranges_matched"] = check.matched
    return summary


def _stage_text(src, mode: str) -> str:
    """What the child is converting, naming the layers the converter is most likely to choke on."""
    text = f"converting {src.source} to {mode}"
    if src.format in ("keras", "h5", "keras-object"):
        from edgeq.convert.recurrent import describe, recurrent_layers

        rnn = recurrent_layers(src.obj)
        if rnn:
            text += f" (recurrent layer(s) {describe(rnn)})"
    return text


# --------------------------------------------------------------------------------------------------------------------


def _convert(cf, mode: str, where: str, trackable=None, *, samples: np.ndarray | None = None,
             io: str = "float32") -> bytes:
    from edgeq.convert._tf import first_line, import_tf, quiet

    tf = import_tf()
    try:
        with quiet() as log:
            conv = tf.lite.TFLiteConverter.from_concrete_functions([cf], trackable)
            if mode == "int16x8":  # the converter's own min/max calibration over every sample
                conv.optimizations = [tf.lite.Optimize.DEFAULT]
                conv.representative_dataset = lambda: ([np.asarray(x, np.float32)[None]] for x in samples)
                conv.target_spec.supported_ops = [
                    tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
                if io == "int16":
                    conv.inference_input_type = tf.int16
                    conv.inference_output_type = tf.int16
            if mode in ("dynamic", "float16"):
                conv.optimizations = [tf.lite.Optimize.DEFAULT]
            if mode == "float16":
                conv.target_spec.supported_types = [tf.float16]
            out = conv.convert()
    except Exception as exc:  # noqa: BLE001 - the converter raises anything
        detail = first_line(str(exc)) or first_line("".join(log)) or type(exc).__name__
        raise UnsupportedError(f"the TFLite converter failed ({mode}): {detail}", where=where) from None
    return bytes(out)


def _calibrate_only(cf, samples: np.ndarray, where: str, trackable=None) -> bytes:
    from edgeq.convert.calibrate import calibrate_only

    return calibrate_only(cf, samples, where=where, trackable=trackable, all_samples=trackable is not None)


def _int8_from_calibrated(calibrated: bytes, samples: np.ndarray, calibration: str, io: str, per_tensor_dense: bool,
                          progress: bool | None, where: str, *, calibrated_by_converter: bool):
    """Observe, edit ranges, mlir_quantize, check the ranges were used. Returns (int8, float, ranges, check)."""
    from edgeq.convert import calibrate as cal

    mt = cal.model_t(calibrated)
    tensors = cal.activation_tensors(mt, only_with_ranges=calibrated_by_converter)
    if not tensors:
        tensors = cal.activation_tensors(mt)
    # the float reference: the same graph without ranges
    cal.clear_ranges(mt)
    cal.fix_batch(mt)
    float_bytes = cal.pack(mt)
    ranges = cal.collect_ranges(float_bytes, tensors, samples, calibration, progress=progress)
    mt = cal.model_t(float_bytes)
    cal.set_ranges(mt, ranges)
    edited = cal.pack(mt)
    out = cal.mlir_quantize(edited, io=io, per_tensor_dense=per_tensor_dense, where=where)
    sg = mt.subgraphs[0]
    ranges_by_name = {cal._name(sg.tensors[t]): r for t, r in ranges.items()}
    check = cal.check_ranges_used(out, ranges_by_name)
    if check.checked and not check.matched:
        raise ToolchainError("the converter ignored the calibrated ranges (no op output has the expected scale)",
                             where=where, hint="this TensorFlow version changed the calibrate-only path; "
                                               "use tensorflow 2.21")
    return out, float_bytes, ranges_by_name, check


def _from_tflite(src, mode: str, arr, data_where: str, calibration: str, io: str, per_tensor_dense: bool,
                 progress: bool | None, max_samples: int | None):
    from edgeq.convert import calibrate as cal
    from edgeq.tflite.check import model_kind

    kind = model_kind(src.graph)
    if kind != "float32":
        raise UnsupportedError(f"the .tflite model is already {kind}; edgeq quantizes float32 .tflite models",
                               where=src.source, hint="pass the float model (or the Keras model)")
    if mode in ("dynamic", "float16", "int16x8"):
        raise UnsupportedError(f"--mode {mode} needs the Keras model or SavedModel, not a .tflite",
                               where=src.source, hint="a float .tflite can be quantized with --mode int8")
    mt = cal.model_t(src.obj)
    cal.clear_ranges(mt)
    cal.fix_batch(mt)
    float_bytes = cal.pack(mt)
    if mode == "float32":
        return float_bytes, float_bytes, {}, None, 0
    samples = _calibration_samples(src, mode, arr, data_where, max_samples)
    out, float_bytes, ranges, check = _int8_from_calibrated(
        float_bytes, samples, calibration, io, per_tensor_dense, progress, src.source,
        calibrated_by_converter=False)
    return out, float_bytes, ranges, check, len(samples)


def _verify(out: bytes, mode: str, io: str, where: str):
    from edgeq.convert.verify import require_batch_one, require_full_int8
    from edgeq.tflite import parse_model
    from edgeq.tflite.check import model_kind

    graph = parse_model(out, source=f"{where} (converted)")
    if mode == "int8":
        require_full_int8(graph, source=where, io=io)
        require_batch_one(graph, source=where)
        return graph
    if mode == "int16x8":
        from edgeq.convert.verify import FLOAT_TYPES, describe, float_tensors

        bad = float_tensors(graph, allow_float_io=(io == "float32"), bad_types=FLOAT_TYPES)
        if bad:
            raise ModelError(f"the int16x8 model is not fully quantized: {describe(*bad[0])}", where=where,
                             hint="an op without an int16x8 kernel; use --mode int8")
        require_batch_one(graph, source=where)
    kind = model_kind(graph)
    if kind != EXPECTED_KIND[mode] and not (mode == "dynamic" and kind == "float32"):
        raise ModelError(f"--mode {mode} produced a {kind} model", where=where)
    return graph
