"""The inputs of a device benchmark: the device's input description, seeded random inputs or a .npy file turned into
the payloads the device takes (raw bytes in the model's input dtype), and the ``--labels`` file."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from edgeq.errors import DeviceError, EdgeqError


def input_spec_from_info(info: dict) -> dict:
    """The device's input as ``make_inputs`` takes it: input 0's shape/dtype/quantization, ``bytes`` = all inputs,
    and ``parts`` = one spec per input (a multi-input model's inputs travel one after the other, in graph order)."""
    try:
        parts = [{"shape": [int(d) for d in s["shape"]], "dtype": str(s["dtype"]), "scale": float(s.get("scale", 0.0)),
                  "zero_point": int(s.get("zero_point", 0)), "bytes": int(s["bytes"])} for s in info["inputs"]]
        return {**parts[0], "bytes": sum(p["bytes"] for p in parts), "parts": parts}
    except (KeyError, IndexError, TypeError, ValueError):
        raise DeviceError("the device's edgeq-info has no usable 'inputs' entry", hint="rebuild the firmware")


def make_inputs(path: str | None, in_spec: dict, count: int, seed: int) -> tuple[list[bytes], dict]:
    """The input payloads (raw bytes in the model's input dtype) and a description for the report.

    ``path``: a .npy with one input of the model's shape, or K of them stacked on axis 0; float data for an int8 input
    is quantized with the input's scale and zero point. None: ``count`` seeded random inputs.
    """
    parts = in_spec.get("parts") or [in_spec]
    if len(parts) > 1:
        if path is not None:
            raise EdgeqError(f"--inputs takes a .npy for a one-input model; this model has {len(parts)} inputs",
                             where=str(path), hint="leave --inputs out: seeded random inputs, each one verified")
        rng = np.random.default_rng(seed)
        payloads = [b"".join(_random(rng, tuple(p["shape"]), np.dtype(p["dtype"])).tobytes() for p in parts)
                    for _ in range(count)]
        digest = hashlib.sha256(b"".join(payloads)).hexdigest()
        return payloads, {"source": "random", "seed": seed, "count": count, "inputs": len(parts),
                          "shape": [p["shape"] for p in parts], "dtype": [p["dtype"] for p in parts],
                          "sha256": digest}
    shape = tuple(in_spec["shape"])
    dtype = np.dtype(in_spec["dtype"])
    if path is None:
        arr = _random(np.random.default_rng(seed), (count, *shape), dtype)
        source = {"source": "random", "seed": seed}
    else:
        arr = _converted(_load_npy(Path(path), shape), dtype, in_spec, Path(path))
        source = {"source": str(path)}
    payloads = [np.ascontiguousarray(a).tobytes() for a in arr]
    for b in payloads:
        if len(b) != in_spec["bytes"]:
            raise DeviceError(f"an input is {len(b)} bytes but the device expects {in_spec['bytes']}")
    digest = hashlib.sha256(b"".join(payloads)).hexdigest()
    return payloads, {**source, "count": len(payloads), "shape": list(shape), "dtype": str(dtype), "sha256": digest}


def _random(rng: np.random.Generator, shape: tuple, dtype: np.dtype) -> np.ndarray:
    """Uniform over an integer type's whole range; standard normal for a float input."""
    if dtype.kind in "iu":
        lim = np.iinfo(dtype)
        return rng.integers(lim.min, lim.max + 1, size=shape, dtype=dtype)
    return rng.standard_normal(size=shape).astype(dtype)


def _load_npy(p: Path, shape: tuple) -> np.ndarray:
    """``--inputs``: K inputs of ``shape`` stacked on axis 0 (one input alone, or a model shape with a leading 1
    the file leaves out, are taken too)."""
    if not p.is_file():
        raise EdgeqError("no such inputs file", where=str(p))
    from edgeq._fs import MAX_DATA_BYTES, check_input_file

    check_input_file(p, what="inputs file (.npy)", max_bytes=MAX_DATA_BYTES)
    try:
        arr = np.load(p, allow_pickle=False)
    except Exception as exc:
        raise EdgeqError(f"cannot read the inputs as a .npy array: {exc}", where=str(p)) from None
    per = int(np.prod(shape))
    if arr.shape == shape:
        arr = arr.reshape(1, *shape)
    elif arr.ndim >= 1 and arr.shape[1:] == shape:
        pass
    elif len(shape) >= 1 and shape[0] == 1 and arr.ndim >= 1 and arr.shape[1:] == shape[1:]:
        arr = arr.reshape(arr.shape[0], *shape)
    else:
        raise EdgeqError(f"inputs have shape {list(arr.shape)}, the model takes {list(shape)}", where=str(p),
                         hint=f"give one input of shape {list(shape)} or K of them stacked: [K, ...]")
    if arr.shape[0] == 0 or arr.size // arr.shape[0] != per:
        raise EdgeqError("no inputs in the file", where=str(p))
    return arr


def _converted(arr: np.ndarray, dtype: np.dtype, in_spec: dict, p: Path) -> np.ndarray:
    """``arr`` in the input's dtype: floats for an integer input quantized with its scale and zero point, floats
    cast to another float type, integers cast when every value fits."""
    if arr.dtype == dtype:
        return arr
    if dtype.kind in "iu" and arr.dtype.kind == "f":
        scale, zp = in_spec["scale"], in_spec["zero_point"]
        if not scale:
            raise EdgeqError("float inputs for an integer input without a scale", where=str(p))
        lim = np.iinfo(dtype)
        return np.clip(np.round(arr / scale) + zp, lim.min, lim.max).astype(dtype)
    if dtype.kind == "f" and arr.dtype.kind == "f":
        return arr.astype(dtype)
    if arr.dtype.kind in "iu" and dtype.kind in "iu" and np.can_cast(arr.dtype, dtype, "same_kind") \
            and arr.min(initial=0) >= np.iinfo(dtype).min and arr.max(initial=0) <= np.iinfo(dtype).max:
        return arr.astype(dtype)
    raise EdgeqError(f"inputs are {arr.dtype}, the model takes {dtype}", where=str(p))


def load_labels(path: str, n_inputs: int) -> np.ndarray:
    """--labels: one integer class per input row (a .npy of shape (N,) or (N, 1))."""
    from edgeq._fs import MAX_DATA_BYTES, check_input_file

    check_input_file(path, what="labels file (.npy)", max_bytes=MAX_DATA_BYTES)
    try:
        y = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise EdgeqError(f"unreadable labels file: {str(exc).splitlines()[0]}", where=str(path),
                         hint="a .npy of integer class indices, one per --inputs row") from None
    y = np.asarray(y).reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else np.asarray(y)
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise EdgeqError(f"labels must be integer class indices of shape (N,), got {y.dtype} {list(y.shape)}",
                         where=str(path), hint="e.g. np.save('y.npy', y.astype('int64'))")
    if len(y) != n_inputs:
        raise EdgeqError(f"{len(y)} labels for {n_inputs} inputs", where=str(path),
                         hint="one label per row of --inputs")
    if len(y) and y.min() < 0:
        raise EdgeqError("labels must be class indices >= 0", where=str(path))
    return y.astype(np.int64)

