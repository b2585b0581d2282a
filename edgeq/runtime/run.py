"""Run a .tflite model on the host: float in, float out, whatever the model's I/O types.

``run_model(model, x)`` quantizes a float ``x`` with the input tensor's scale/zero point when the model takes int8
/uint8/int16, passes integer data of the right dtype unchanged, accepts the input with or without its batch dimension
(or a leading ``N`` for a batch, run row by row), and returns both the raw and the dequantized outputs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from edgeq.errors import EdgeqError
from edgeq.runtime.loader import RuntimeModel, TensorInfo, load_interpreter


@dataclass(slots=True)
class RunResult:
    """What one call of :func:`run_model` produced.

    ``raw[i]`` is output ``i`` exactly as the interpreter returned it (int8 for a quantized model) and ``outputs[i]``
    the same values dequantized to float32. For a single sample both keep the model's output shape (batch 1); for a
    batch of ``N`` rows the leading dimension is ``N``.
    """

    outputs: list[np.ndarray]
    raw: list[np.ndarray]
    output_info: tuple[TensorInfo, ...]
    runtime: dict[str, Any]  #: the model's runtime description (shared with the model: do not modify)
    batch: int | None = None  #: None for a single sample, else the number of rows

    def top_k(self, k: int = 5, output: int = 0) -> list:
        """``[(index, score), ...]`` best first (ties: lower index first); for a batch, one such list per row."""
        values = self.outputs[output]
        if self.batch is None:
            return _top_k(values.reshape(-1), k)
        return [_top_k(row.reshape(-1), k) for row in values]

    def to_dict(self, k: int = 5, output: int = 0) -> dict[str, Any]:
        def pairs(tk):
            return [{"index": int(i), "score": float(s)} for i, s in tk]

        tk = self.top_k(k, output)
        return {
            "runtime": self.runtime,
            "batch": self.batch,
            "outputs": [o.tolist() for o in self.outputs],
            "raw": [r.tolist() for r in self.raw],
            "output_details": [t.to_dict() for t in self.output_info],
            "top_k": pairs(tk) if self.batch is None else [pairs(row) for row in tk],
        }


def _top_k(v: np.ndarray, k: int) -> list[tuple[int, float]]:
    k = max(0, min(int(k), v.size))
    order = np.argsort(-v.astype(np.float64), kind="stable")[:k]
    return [(int(i), float(v[i])) for i in order]


def _squeeze_shape(shape: Sequence[int]) -> tuple[int, ...]:
    return tuple(int(d) for d in shape if d != 1)


def _shape_str(shape: Sequence[int | str]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _round_half_away(v: np.ndarray) -> np.ndarray:
    # TFLite's QUANTIZE rounds half away from zero (std::round); np.round rounds half to even
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


def quantize(x: np.ndarray, info: TensorInfo) -> np.ndarray:
    """Float -> the tensor's integer type with its scale/zero point (per-tensor or per-channel), saturating."""
    x = np.asarray(x, dtype=np.float64)
    scales = info.scales.astype(np.float64)
    zps = info.zero_points.astype(np.float64)
    if scales.size > 1:  # per-channel along quantized_dimension (of the full tensor shape)
        shape = [1] * x.ndim
        shape[info.quantized_dimension - (len(info.shape) - x.ndim)] = scales.size
        scales, zps = scales.reshape(shape), zps.reshape(shape)
    q = _round_half_away(x / scales) + zps
    lim = np.iinfo(info.dtype)
    return np.clip(q, lim.min, lim.max).astype(info.dtype)


def dequantize(q: np.ndarray, info: TensorInfo) -> np.ndarray:
    """The tensor's raw values as float32: ``(q - zero_point) * scale`` when quantized, else a float32 copy."""
    lut = info._dequant_lut
    if lut is not None and q.dtype == info.dtype:  # 8-bit: one table lookup instead of three numpy operations
        return lut[q.view(np.uint8)]
    if not info.quantized:
        return q.astype(np.float32)
    if info.scales.size == 1:
        out = q.astype(np.float32)  # q - zp is exact in float32 for 8/16-bit q, as in TFLite's DEQUANTIZE
        np.subtract(out, info._zero_point_f32, out=out)
        return np.multiply(out, info._scale_f32, out=out)
    shape = [1] * q.ndim
    shape[info.quantized_dimension] = info.scales.size
    return (q.astype(np.float32) - info.zero_points.reshape(shape).astype(np.float32)) * info.scales.reshape(shape)


def prepare_input(x: Any, info: TensorInfo, *, position: int = 0) -> tuple[np.ndarray, int | None]:
    """Shape- and type-check ``x`` for input ``info``.

    Returns the array in the tensor's dtype, reshaped to ``info.shape`` (single sample, batch ``None``) or to
    ``(N, *info.shape[1:])`` (a batch of ``N`` rows). Raises a one-line EdgeqError on a shape or type mismatch.
    """
    expected = info.shape
    if type(x) is np.ndarray and x.shape == expected and x.dtype == info.dtype:
        return x, None  # the common case, without the checks below (set_tensor copies any memory layout)
    x = np.asarray(x)
    where = f"input {position} {info.name!r}" if info.name else f"input {position}"
    sample = expected[1:] if expected and expected[0] == 1 else None
    if x.shape == expected or _squeeze_shape(x.shape) == _squeeze_shape(expected):
        batch = None
    elif sample is not None and x.ndim >= 1 and x.shape[0] > 1 and _squeeze_shape(x.shape[1:]) == _squeeze_shape(
        sample
    ):
        batch = int(x.shape[0])
    else:
        forms = [_shape_str(expected)]
        if sample is not None:
            forms += [_shape_str(sample), _shape_str(("N",) + tuple(sample))]
        raise EdgeqError(
            f"shape mismatch: expected {_shape_str(expected)}, got {_shape_str(x.shape)}",
            where=where,
            hint="pass an array of shape " + " or ".join(forms),
        )

    dt = info.dtype
    if x.dtype == dt:
        arr = x
    elif np.issubdtype(dt, np.floating):
        if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
            raise EdgeqError(f"cannot feed {x.dtype} data to a {dt.name} input", where=where)
        arr = x.astype(dt)
    elif np.issubdtype(dt, np.integer):
        if np.issubdtype(x.dtype, np.floating):
            if not info.quantized:
                raise EdgeqError(
                    f"the model input is {dt.name} without quantization parameters; float data cannot be converted",
                    where=where, hint=f"pass {dt.name} values",
                )
            if not np.all(np.isfinite(x)):
                raise EdgeqError("input contains NaN or infinity", where=where)
            arr = quantize(x, info)
        elif np.issubdtype(x.dtype, np.integer):
            # raw quantized values in another integer type (np.save of a list gives int64): fine if they fit, but
            # uint8 <-> int8 is almost always raw pixels vs quantized values, so refuse to guess
            if {x.dtype.itemsize, dt.itemsize} == {1} or x.dtype.kind != dt.kind and x.dtype.itemsize == dt.itemsize:
                raise EdgeqError(
                    f"the model input is {dt.name} but the data is {x.dtype.name}",
                    where=where,
                    hint=f"pass float values to quantize them with scale {info.scale:g} / zero point"
                    f" {info.zero_point}, or already-quantized {dt.name} values",
                )
            lim = np.iinfo(dt)
            if x.size and (x.min() < lim.min or x.max() > lim.max):
                raise EdgeqError(
                    f"integer data outside the {dt.name} range [{lim.min}, {lim.max}]",
                    where=where, hint="pass float values to have them quantized",
                )
            arr = x.astype(dt)
        else:
            raise EdgeqError(f"cannot feed {x.dtype} data to a {dt.name} input", where=where)
    else:
        raise EdgeqError(f"inputs of type {dt.name} are not supported by edgeq run", where=where)

    if batch is None:
        arr = arr.reshape(expected)
    else:
        arr = arr.reshape((batch,) + tuple(expected[1:]))
    return np.ascontiguousarray(arr), batch


def run_model(
    model: RuntimeModel | str | os.PathLike | bytes,
    x: np.ndarray | Sequence[np.ndarray],
    *,
    threads: int | None = None,
    xnnpack: bool = True,
    runtime: str = "auto",
) -> RunResult:
    """Run ``model`` (a :class:`RuntimeModel` or a path/bytes to load) on ``x``.

    ``x`` is one array for a single-input model, or a sequence with one array per input. Float data is quantized
    with the input's scale/zero point when the model takes integers; ``x`` may omit the batch dimension, or carry a
    leading ``N`` for ``N`` samples (each is run separately, the outputs are stacked).
    """
    if not isinstance(model, RuntimeModel):
        model = load_interpreter(model, threads=threads, xnnpack=xnnpack, runtime=runtime)
    inputs = model.inputs
    outputs_info = model.outputs
    set_tensor, get_tensor, invoke = model._set, model._get, model.invoke

    in0 = inputs[0]
    if len(outputs_info) == 1 and len(inputs) == 1 and type(x) is np.ndarray and x.shape == in0.shape \
            and x.dtype == in0.dtype:
        # the hot path (one sample of the right shape and dtype, one output): as little Python as possible after
        # invoke(), where the caches are cold after a large model
        set_tensor(in0.index, x)
        invoke()
        out0 = outputs_info[0]
        r = get_tensor(out0.index)
        lut = out0._dequant_lut
        deq = lut[r.view(np.uint8)] if lut is not None and r.dtype == out0.dtype else dequantize(r, out0)
        return RunResult([deq], [r], outputs_info, model.runtime_info, None)
    if len(inputs) == 1 and not isinstance(x, (list, tuple)):
        arr, batch = prepare_input(x, in0)
        if batch is None:
            set_tensor(inputs[0].index, arr)
            invoke()
            raw = [get_tensor(t.index) for t in outputs_info]
            return RunResult(
                outputs=[dequantize(r, t) for r, t in zip(raw, outputs_info)], raw=raw, output_info=outputs_info,
                runtime=model.runtime_info, batch=None,
            )
        prepared = [arr]
    else:
        if not isinstance(x, (list, tuple)) or (len(inputs) == 1 and not (len(x) == 1 and np.ndim(x[0]) > 0)):
            xs = [x]  # one array, or a nested list holding one sample
        else:
            xs = list(x)
        if len(xs) != len(inputs):
            raise EdgeqError(
                f"the model has {len(inputs)} inputs but {len(xs)} array(s) were given",
                where=model.source, hint="pass one array per input, in the model's input order",
            )
        checked = [prepare_input(a, info, position=i) for i, (a, info) in enumerate(zip(xs, inputs))]
        batch = checked[0][1]
        if any(b != batch for _, b in checked):
            raise EdgeqError("inputs disagree on the batch size", where=model.source,
                             hint="give every input the same leading N (or none)")
        prepared = [a for a, _ in checked]

    in_idx = [t.index for t in inputs]
    if batch is None:
        for idx, arr in zip(in_idx, prepared):
            set_tensor(idx, arr)
        invoke()
        raw = [get_tensor(t.index) for t in outputs_info]
    else:
        rows: list[list[np.ndarray]] = [[] for _ in outputs_info]
        for n in range(batch):
            for idx, arr in zip(in_idx, prepared):
                set_tensor(idx, arr[n : n + 1])
            invoke()
            for j, t in enumerate(outputs_info):
                rows[j].append(get_tensor(t.index))
        raw = [np.concatenate(r, axis=0) if r[0].ndim and r[0].shape[0] == 1 else np.stack(r) for r in rows]
    outputs = [dequantize(r, t) for r, t in zip(raw, outputs_info)]
    return RunResult(outputs=outputs, raw=raw, output_info=outputs_info, runtime=model.runtime_info, batch=batch)
