"""Sample arrays for calibration and evaluation: ``.npy`` (first dimension = samples) or ``.npz`` (key ``x``, or the
only array), checked against a model input shape."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Sequence

import numpy as np

from edgeq.errors import EdgeqError

#: keys tried, in order, in an .npz that holds several arrays
NPZ_KEYS = ("x", "X", "inputs", "input", "data", "x_test", "x_calib")


def load_array(path: str | os.PathLike, *, what: str = "data", keys: Sequence[str] = NPZ_KEYS) -> np.ndarray:
    """Read one numeric array from ``.npy`` or ``.npz``; every problem is a one-line :class:`EdgeqError`."""
    p = Path(path)
    where = str(p)
    if not p.exists():
        raise EdgeqError(f"{what} file not found", where=where)
    if p.is_dir():
        raise EdgeqError(f"{what} path is a folder, expected a .npy or .npz file", where=where)
    from edgeq._fs import MAX_DATA_BYTES, check_input_file

    check_input_file(p, what=f"{what} file", max_bytes=MAX_DATA_BYTES, hint="expected a .npy or .npz array")
    if p.stat().st_size == 0:
        raise EdgeqError(f"{what} file is empty", where=where, hint="expected a .npy or .npz array")
    with open(p, "rb") as f:
        head = f.read(6)
    if not (head.startswith(b"\x93NUMPY") or head.startswith(b"PK\x03\x04")):
        raise EdgeqError(f"{what} is not a .npy or .npz file", where=where,
                         hint="save it with numpy.save or numpy.savez")
    try:
        loaded = np.load(p, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        msg = " ".join(str(exc).split())[:160]
        raise EdgeqError(f"cannot read {what} as a .npy/.npz array ({msg})", where=where,
                         hint="save it with numpy.save or numpy.savez") from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            names = list(loaded.files)
            if not names:
                raise EdgeqError(f"{what} .npz holds no arrays", where=where)
            if len(names) == 1:
                key = names[0]
            else:
                key = next((k for k in keys if k in names), None)
                if key is None:
                    raise EdgeqError(f"{what} .npz holds {len(names)} arrays ({', '.join(names[:8])}) and none is "
                                     f"named {keys[0]!r}", where=where, hint=f"name the array {keys[0]!r}")
            try:
                arr = loaded[key]
            except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
                raise EdgeqError(f"cannot read array {key!r} from the .npz ({exc})", where=where) from None
    else:
        arr = np.asarray(loaded)
    if arr.dtype.kind not in "biuf":
        raise EdgeqError(f"{what} has dtype {arr.dtype}, expected numbers", where=where)
    return arr


def fit_samples(arr: np.ndarray, input_shape: Sequence[int], *, where: str = "data", what: str = "data",
                dtype=np.float32) -> np.ndarray:
    """Reshape-free check of ``arr`` against a model input of ``input_shape`` (batch first, e.g. ``(1, 8, 8, 1)``).

    Accepts ``(N, *sample)``, ``(N, 1, *sample)`` or a single ``sample``; returns ``(N, *sample)`` as ``dtype``.
    """
    shape = tuple(-1 if d is None else int(d) for d in input_shape)
    sample = shape[1:] if len(shape) > 1 else shape
    got = tuple(arr.shape)

    def dims_match(a: Sequence[int], b: Sequence[int]) -> bool:  # -1 / None in the model shape matches anything
        return len(a) == len(b) and all(m is None or m < 0 or m == g for m, g in zip(b, a))

    if len(got) == len(sample) + 1 and dims_match(got[1:], sample):
        out = arr
    elif len(got) == len(sample) + 2 and got[1] == 1 and dims_match(got[2:], sample):
        out = arr.reshape((got[0],) + got[2:])
    elif dims_match(got, sample):
        out = arr[None]
    else:
        expected = "(N, " + ", ".join(str(d) for d in sample) + ")"
        raise EdgeqError(f"{what} has shape {got}, but the model input is {shape}: expected {expected}",
                         where=where)
    if out.shape[0] == 0:
        raise EdgeqError(f"{what} holds no samples", where=where)
    out = np.ascontiguousarray(out, dtype=dtype) if np.dtype(dtype).kind == "f" else out.astype(dtype)
    if out.dtype.kind == "f" and not np.all(np.isfinite(out)):
        raise EdgeqError(f"{what} contains NaN or infinite values", where=where)
    return out


def load_samples(data, input_shape: Sequence[int], *, what: str = "calibration data",
                 dtype=np.float32) -> np.ndarray:
    """``data`` (a path or an array) as ``(N, *sample)`` matching ``input_shape``."""
    if isinstance(data, (str, os.PathLike)):
        where = str(data)
        arr = load_array(data, what=what)
    else:
        where = "<array>"
        arr = np.asarray(data)
        if arr.dtype.kind not in "biuf":
            raise EdgeqError(f"{what} has dtype {arr.dtype}, expected numbers")
    return fit_samples(arr, input_shape, where=where, what=what, dtype=dtype)


def load_labels(path_or_array, n: int, *, where: str | None = None, classes: int | None = None) -> np.ndarray:
    """Class labels, ``(N,)`` integers or ``(N, C)`` one-hot/probabilities, as ``(N,)`` int64.

    ``classes``: the number of classes the model predicts; every label must lie in ``[0, classes)`` (negative
    labels are refused in any case)."""
    if isinstance(path_or_array, (str, os.PathLike)):
        where = str(path_or_array)
        arr = load_array(path_or_array, what="labels", keys=("y", "Y", "labels", "label", "y_test", "targets"))
    else:
        arr = np.asarray(path_or_array)
    where = where or "<labels>"
    if arr.ndim == 2 and arr.shape[1] > 1:
        arr = arr.argmax(axis=1)
    elif arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise EdgeqError(f"labels have shape {tuple(arr.shape)}, expected (N,) class indices or (N, C) one-hot",
                         where=where)
    if arr.shape[0] != n:
        raise EdgeqError(f"{arr.shape[0]} labels for {n} samples", where=where,
                         hint="pass one label per sample of --data")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise EdgeqError("labels must be whole class indices", where=where)
    if arr.dtype.kind not in "biuf":
        raise EdgeqError(f"labels have dtype {arr.dtype}, expected class indices", where=where)
    out = arr.astype(np.int64)
    if out.size and out.min() < 0:
        bad = int(np.argmax(out < 0))
        raise EdgeqError(f"label {int(out[bad])} at index {bad} is negative", where=where,
                         hint="class labels are 0 .. classes-1")
    if classes is not None and out.size and out.max() >= classes:
        bad = int(np.argmax(out >= classes))
        raise EdgeqError(f"label {int(out[bad])} at index {bad} is outside [0, {classes}) (the model predicts "
                         f"{classes} classes)", where=where, hint="class labels are 0 .. classes-1")
    return out
