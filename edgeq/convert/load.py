"""Loading the float model to quantize: Keras 3 (``.keras``, ``.h5``), a SavedModel folder, or a float ``.tflite``.

:func:`detect_format` sniffs the file (zip / HDF5 / TFL3 magic bytes, ``saved_model.pb``) without TensorFlow, so a
missing, empty or foreign file is refused before the slow import. :func:`load_model` returns a :class:`SourceModel`
that knows its input shapes and can produce a batch-1 concrete function for the converter.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeq.errors import ModelError, UnsupportedError

ZIP_MAGIC = b"PK\x03\x04"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
FORMATS = ("keras", "h5", "savedmodel", "tflite")
_WHAT = "expected a Keras model (.keras, .h5), a SavedModel folder or a float .tflite"


def detect_format(path: str | os.PathLike) -> str:
    """``"keras"``, ``"h5"``, ``"savedmodel"`` or ``"tflite"``, from the content, not the extension."""
    p = Path(path)
    where = str(p)
    if not p.exists():
        raise ModelError("no such file or folder", where=where, hint=_WHAT)
    if p.is_dir():
        if (p / "saved_model.pb").is_file() or (p / "saved_model.pbtxt").is_file():
            return "savedmodel"
        raise ModelError("folder is not a SavedModel (no saved_model.pb in it)", where=where, hint=_WHAT)
    from edgeq._fs import MAX_MODEL_BYTES, check_input_file

    check_input_file(p, what="model file", max_bytes=MAX_MODEL_BYTES, hint=_WHAT, error=ModelError)
    try:
        with open(p, "rb") as f:
            head = f.read(16)
    except OSError as exc:
        raise ModelError(f"cannot read the file: {exc.strerror or exc}", where=where) from None
    if not head:
        raise ModelError("file is empty", where=where, hint=_WHAT)
    if head.startswith(ZIP_MAGIC):
        return "keras"
    if head.startswith(HDF5_MAGIC):
        return "h5"
    if len(head) >= 8 and head[4:8] == b"TFL3":
        return "tflite"
    raise ModelError("not a Keras, SavedModel or .tflite model (unrecognised file content)", where=where,
                     hint=_WHAT)


@dataclass
class SourceModel:
    """A loaded float model. ``obj`` is the keras.Model, the loaded SavedModel, or the .tflite bytes."""

    format: str
    source: str
    obj: Any = field(repr=False)
    input_shapes: list[tuple[int | None, ...]]  # as the model declares them (batch may be None)
    input_dtypes: list[str]
    file_size: int = 0
    _signature: Any = field(default=None, repr=False)  # SavedModel: the serving signature
    _input_names: list[str] = field(default_factory=list, repr=False)
    #: what the converter needs besides the concrete function (the variables of a rebuilt recurrent model)
    trackable: Any = field(default=None, repr=False)

    @property
    def fixed_input_shapes(self) -> list[tuple[int, ...]]:
        """Input shapes with the batch set to 1 (the only batch an MCU runs)."""
        out = []
        for s in self.input_shapes:
            if any(d is None or d < 0 for d in s[1:]):
                raise UnsupportedError(f"input shape {s} has an unknown dimension besides the batch",
                                       where=self.source, hint="give the model a fixed input shape")
            out.append((1,) + tuple(int(d) for d in s[1:]) if s else ())
        return out

    def concrete_function(self, *, fuse_lstm: bool = True):
        """A tf ConcreteFunction with every input's batch fixed to 1. A model with recurrent layers is rebuilt by
        :func:`edgeq.convert.recurrent.converter_function` (``fuse_lstm=False``: LSTMs unrolled too) and
        :attr:`trackable` is set for the converter."""
        from edgeq.convert._tf import import_tf

        tf = import_tf()
        specs = [tf.TensorSpec(s, tf.as_dtype(d), name=f"input_{i}")
                 for i, (s, d) in enumerate(zip(self.fixed_input_shapes, self.input_dtypes))]
        if self.format in ("keras", "h5", "keras-object"):
            model = self.obj
            from edgeq.convert.recurrent import converter_function, recurrent_layers

            if recurrent_layers(model):
                cf, self.trackable = converter_function(model, self.fixed_input_shapes, fuse_lstm=fuse_lstm)
                return cf
            if len(specs) == 1:
                fn = tf.function(lambda x: model(x, training=False), input_signature=specs)
            else:
                fn = tf.function(lambda *xs: model(list(xs), training=False), input_signature=specs)
        elif self.format == "savedmodel":
            sig, names = self._signature, self._input_names
            fn = tf.function(lambda *xs: sig(**dict(zip(names, xs))), input_signature=specs)
        else:
            raise UnsupportedError("a .tflite model has no TensorFlow function", where=self.source)
        return fn.get_concrete_function()


def _keras_error(exc: BaseException, where: str, fmt: str) -> ModelError:
    from edgeq.convert._tf import first_line

    msg = first_line(f"{type(exc).__name__}: {exc}") or type(exc).__name__
    hint = "the file is truncated or damaged; save the model again" if isinstance(
        exc, (OSError, EOFError, KeyError)) or "zip" in msg.lower() or "crc" in msg.lower() \
        or "truncat" in msg.lower() else None
    if "Unknown layer" in msg or "custom" in msg.lower():
        hint = "the model uses a custom layer; load it in Python and pass the keras.Model to edgeq.convert.quantize"
    return ModelError(f"cannot load the {fmt} model: {msg}", where=where, hint=hint)


def from_keras(model: Any, source: str = "<keras.Model>", fmt: str = "keras-object") -> SourceModel:
    """Wrap an in-memory keras.Model."""
    inputs = getattr(model, "inputs", None)
    if not inputs:
        raise ModelError("the Keras model has no defined inputs (build or call it once first)", where=source)
    shapes = [tuple(None if d is None else int(d) for d in t.shape) for t in inputs]
    dtypes = [str(getattr(t, "dtype", "float32") or "float32") for t in inputs]
    return SourceModel(fmt, source, model, shapes, dtypes)


def load_model(path_or_model: Any) -> SourceModel:
    """Load ``path_or_model`` (a path, or a keras.Model) as a :class:`SourceModel`; errors are one-line
    :class:`ModelError`s."""
    if not isinstance(path_or_model, (str, os.PathLike)):
        if hasattr(path_or_model, "inputs") and hasattr(path_or_model, "layers"):
            return from_keras(path_or_model)
        if isinstance(path_or_model, (bytes, bytearray, memoryview)):
            return _load_tflite(bytes(path_or_model), "<bytes>")
        raise ModelError(f"expected a model path or a keras.Model, got {type(path_or_model).__name__}")
    p = Path(path_or_model)
    fmt = detect_format(p)
    where = str(p)
    if fmt == "tflite":
        from edgeq._fs import MAX_MODEL_BYTES, read_input_bytes

        sm = _load_tflite(read_input_bytes(p, what=".tflite model", max_bytes=MAX_MODEL_BYTES, error=ModelError), where)
        sm.file_size = p.stat().st_size
        return sm

    if fmt in ("keras", "h5"):
        if fmt == "keras":
            import zipfile

            try:
                with zipfile.ZipFile(p) as z:
                    names = set(z.namelist())
                    bad = z.testzip()
            except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
                raise ModelError(f"not a readable .keras archive ({exc})", where=where,
                                 hint="the file is truncated or damaged; save the model again") from None
            if "config.json" not in names:
                raise ModelError("zip file is not a Keras model (no config.json)", where=where, hint=_WHAT)
            if bad is not None:
                raise ModelError(f"damaged .keras archive (bad CRC in {bad})", where=where,
                                 hint="save the model again") from None
        from edgeq.convert._tf import import_keras, quiet

        keras = import_keras()
        try:
            with quiet():
                model = keras.models.load_model(str(p), compile=False)
        except Exception as exc:  # noqa: BLE001 - Keras raises anything for a bad file
            raise _keras_error(exc, where, "Keras" if fmt == "keras" else "HDF5 (.h5)") from None
        sm = from_keras(model, where, fmt)
        sm.file_size = p.stat().st_size
        return sm

    # SavedModel folder
    from edgeq.convert._tf import import_tf, quiet

    tf = import_tf()
    try:
        with quiet():
            loaded = tf.saved_model.load(str(p))
    except Exception as exc:  # noqa: BLE001
        raise _keras_error(exc, where, "SavedModel") from None
    sigs = getattr(loaded, "signatures", {}) or {}
    key = "serving_default" if "serving_default" in sigs else (next(iter(sigs)) if sigs else None)
    if key is None:
        raise ModelError("SavedModel has no serving signature", where=where,
                         hint="export it with model.export(path) or tf.saved_model.save(..., signatures=...)")
    sig = sigs[key]
    specs = sig.structured_input_signature[1]
    names = sorted(specs)
    shapes = [tuple(None if d is None else int(d) for d in specs[n].shape.as_list()) for n in names]
    dtypes = [specs[n].dtype.name for n in names]
    size = sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return SourceModel("savedmodel", where, loaded, shapes, dtypes, size, sig, names)


def _load_tflite(data: bytes, where: str) -> SourceModel:
    from edgeq.tflite import parse_model

    graph = parse_model(data, source=where)  # bounds-checked: truncated / damaged files fail here
    shapes = []
    for t in graph.input_tensors():
        sig = t.shape_signature
        shapes.append(tuple((None if d < 0 else d) for d in (sig if sig is not None else t.shape)))
    sm = SourceModel("tflite", where, data, shapes, [t.dtype for t in graph.input_tensors()], len(data))
    sm.graph = graph  # type: ignore[attr-defined]
    return sm
