"""One loader for every host-side use of a .tflite model: LiteRT, else tflite-runtime, else tf.lite.

``load_interpreter(model)`` returns a :class:`RuntimeModel`: the interpreter (tensors already allocated), which
runtime and version it came from, and the input/output tensors with their quantization. Every failure a user can
fix becomes a one-line :class:`~edgeq.errors.EdgeqError`:

* no runtime installed -> :class:`ToolchainError` naming ``pip install "edgeq[pi]"`` (ai-edge-litert);
* tflite-runtime built for NumPy 1.x running under NumPy 2 (``_ARRAY_API not found``) -> :class:`ToolchainError`
  suggesting ai-edge-litert or ``numpy<2``;
* a missing, empty, garbage or truncated file -> :class:`ModelError`;
* an op the runtime does not know -> :class:`UnsupportedError`.

Nothing here imports TensorFlow at module level; ``tensorflow.lite`` is only the last fallback (and is noisy and
slow to import, so LiteRT is what a Raspberry Pi user should install).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from edgeq.errors import ModelError, ToolchainError, UnsupportedError

#: install line printed when no runtime is available
PI_INSTALL = 'pip install "edgeq[pi]"'

#: runtime names in "auto" order, with their import module and pip distribution
RUNTIMES: dict[str, tuple[str, str]] = {
    "litert": ("ai_edge_litert.interpreter", "ai-edge-litert"),
    "tflite-runtime": ("tflite_runtime.interpreter", "tflite-runtime"),
    "tensorflow": ("tensorflow", "tensorflow"),
}

_ALIASES = {
    "auto": "auto",
    "litert": "litert",
    "ai-edge-litert": "litert",
    "ai_edge_litert": "litert",
    "tflite-runtime": "tflite-runtime",
    "tflite_runtime": "tflite-runtime",
    "tensorflow": "tensorflow",
    "tf": "tensorflow",
    "tf.lite": "tensorflow",
    "tensorflow.lite": "tensorflow",
}

#: what a NumPy-1.x extension module says when it is loaded under NumPy 2
_NUMPY2_MARKERS = (
    "_ARRAY_API",
    "compiled using NumPy 1.x",
    "numpy.core.multiarray failed to import",
    "numpy.core._multiarray_umath failed to import",
)

#: benign lines LiteRT / TensorFlow print on C-level stderr while loading a model or importing
_NOISE_PREFIXES = (
    "INFO: Created TensorFlow Lite XNNPACK delegate",
    "INFO: Initialized TensorFlow Lite runtime",
    "WARNING: All log messages before absl::InitializeLog()",
)


# --------------------------------------------------------------------------------------------------------------------
# runtimes


@dataclass(frozen=True)
class Runtime:
    """An importable TFLite interpreter implementation."""

    name: str  #: "litert" | "tflite-runtime" | "tensorflow"
    package: str  #: pip distribution name
    version: str
    interpreter_cls: Any = field(repr=False, compare=False)
    op_resolver_type: Any = field(default=None, repr=False, compare=False)  #: the module's OpResolverType enum

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "package": self.package, "version": self.version}

    def __str__(self) -> str:
        return f"{self.package} {self.version}"


_cache: dict[str, Runtime | Exception] = {}


class _NotInstalled(Exception):
    pass


def _is_numpy2_failure(text: str) -> bool:
    return any(marker in text for marker in _NUMPY2_MARKERS)


def _numpy2_error(version: str) -> ToolchainError:
    return ToolchainError(
        f"tflite-runtime {version} was built for NumPy 1.x and fails under NumPy {np.__version__}"
        " (_ARRAY_API not found)",
        hint=f'{PI_INSTALL} for ai-edge-litert, which supports NumPy 2; or pip install "numpy<2" on Python <= 3.11',
    )


def _none_installed_error(tried: list[str]) -> ToolchainError:
    return ToolchainError(
        f"no TFLite runtime is installed (tried {', '.join(tried)})",
        hint=f"{PI_INSTALL} installs ai-edge-litert; on 32-bit Raspberry Pi OS (armv7l), which has no ai-edge-litert"
        ' wheels, use pip install tflite-runtime "numpy<2" with Python <= 3.11',
    )


@contextlib.contextmanager
def _captured_stderr() -> Iterator[list[str]]:
    """Capture both Python-level and C-level (fd 2) stderr; the text is appended to the yielded list on exit.

    LiteRT prints delegate INFO lines and errors on fd 2 and NumPy prints its "compiled using NumPy 1.x" story on
    ``sys.stderr``; the CLI promises a single line on stderr for a user mistake, so loading goes through here.
    """
    out: list[str] = []
    py_buf = io.StringIO()
    try:
        sys.stderr.flush()
    except Exception:  # pragma: no cover - a closed or odd stderr
        pass
    saved = None
    tmp = None
    try:
        saved = os.dup(2)
        tmp = tempfile.TemporaryFile()
        os.dup2(tmp.fileno(), 2)
    except OSError:  # no usable fd 2: capture Python-level only
        if saved is not None:
            os.close(saved)
        saved = None
    try:
        with contextlib.redirect_stderr(py_buf):
            yield out
    finally:
        c_text = ""
        if saved is not None:
            os.dup2(saved, 2)
            os.close(saved)
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.seek(0)
                c_text = tmp.read().decode("utf-8", errors="replace")
            tmp.close()
        out.append(py_buf.getvalue() + c_text)


def _replay(text: str) -> None:
    """Print captured stderr lines again, minus the known noise."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith(_NOISE_PREFIXES)]
    if lines:
        print("\n".join(lines), file=sys.stderr)


def _first_error_line(text: str) -> str:
    for ln in text.splitlines():
        s = ln.strip()
        if s and not s.startswith(_NOISE_PREFIXES) and ("ERROR" in s or "error" in s):
            return s.removeprefix("ERROR: ").strip()
    return ""


def _dist_version(dist: str, module: Any) -> str:
    v = getattr(module, "__version__", None)
    if v:
        return str(v)
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:
        return "unknown"


def _import_runtime(name: str) -> Runtime:
    """Import one runtime. Raises ModuleNotFoundError when it is not installed, ToolchainError when it is broken."""
    cached = _cache.get(name)
    if isinstance(cached, Runtime):
        return cached
    if isinstance(cached, Exception):
        raise cached

    module_name, dist = RUNTIMES[name]
    top = module_name.split(".")[0]
    if name == "tensorflow":
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    captured: list[str] = []
    try:
        with _captured_stderr() as captured:
            try:
                importlib.import_module(top)
            except ModuleNotFoundError as exc:
                if exc.name == top:  # not installed (or hidden with sys.modules[top] = None)
                    raise _NotInstalled(top) from None
                raise
            module = importlib.import_module(module_name)
    except _NotInstalled:
        raise ModuleNotFoundError(f"No module named {top!r}", name=top) from None
    except ImportError as exc:  # includes ModuleNotFoundError of a dependency or of the submodule
        err: Exception | None = exc
    except Exception as exc:  # a broken install can raise anything at import
        err = exc
    else:
        err = None
    text = "".join(captured)
    if err is not None or (name == "tflite-runtime" and _is_numpy2_failure(text)):
        version = "?"
        with contextlib.suppress(Exception):
            version = _dist_version(dist, importlib.import_module(top))
        if name == "tflite-runtime" and _is_numpy2_failure(f"{err}\n{text}"):
            failure: Exception = _numpy2_error(version)
        else:
            detail = " ".join(str(err).split())[:200] if err is not None else _first_error_line(text)
            failure = ToolchainError(
                f"{dist} {version} is installed but fails to import: {type(err).__name__}: {detail}",
                hint=f"reinstall it, or {PI_INSTALL}",
            )
        _cache[name] = failure
        raise failure

    if name == "tensorflow":
        try:
            interp_cls = module.lite.Interpreter
            resolver = module.lite.experimental.OpResolverType
        except AttributeError as exc:
            failure = ToolchainError(f"tensorflow {module.__version__} has no tf.lite.Interpreter ({exc})",
                                     hint=PI_INSTALL)
            _cache[name] = failure
            raise failure from None
        version = str(module.__version__)
    else:
        interp_cls = module.Interpreter
        resolver = getattr(module, "OpResolverType", None)
        version = _dist_version(dist, importlib.import_module(top))
    rt = Runtime(name=name, package=dist, version=version, interpreter_cls=interp_cls, op_resolver_type=resolver)
    _cache[name] = rt
    return rt


def _candidates(runtime: str) -> list[str]:
    key = _ALIASES.get(str(runtime).strip().lower())
    if key is None:
        raise ToolchainError(
            f"unknown runtime {runtime!r}", hint="use one of: auto, litert, tflite-runtime, tensorflow"
        )
    return list(RUNTIMES) if key == "auto" else [key]


def get_runtime(runtime: str = "auto") -> Runtime:
    """The first importable runtime (``"auto"``) or the named one; raises ToolchainError when none works."""
    failures: list[Exception] = []
    tried: list[str] = []
    for name in _candidates(runtime):
        tried.append(RUNTIMES[name][0].replace("tensorflow", "tensorflow.lite"))
        try:
            return _import_runtime(name)
        except ModuleNotFoundError:
            continue
        except ToolchainError as exc:
            failures.append(exc)
    raise _pick_failure(failures, tried, runtime)


def _pick_failure(failures: list[Exception], tried: list[str], runtime: str) -> ToolchainError:
    for f in failures:  # the NumPy-2 story is the most useful one
        if isinstance(f, ToolchainError) and "NumPy" in f.message:
            return f
    if failures:
        return failures[0]  # type: ignore[return-value]
    key = _ALIASES.get(str(runtime).strip().lower())
    if key not in (None, "auto"):
        dist = RUNTIMES[key][1]
        hint = PI_INSTALL if key == "litert" else f"pip install {dist}, or {PI_INSTALL} (ai-edge-litert)"
        return ToolchainError(f"runtime {key!r} is not installed ({dist})", hint=hint)
    return _none_installed_error(tried)


def available_runtimes() -> list[str]:
    """Names of the runtimes that import and work here, in "auto" order (imports each one; slow with TF)."""
    names = []
    for name in RUNTIMES:
        try:
            _import_runtime(name)
        except (ModuleNotFoundError, ToolchainError):
            continue
        names.append(name)
    return names


# --------------------------------------------------------------------------------------------------------------------
# tensors and the loaded model


@dataclass(frozen=True)
class TensorInfo:
    """One model input or output, as the interpreter reports it."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    scale: float  #: per-tensor scale (0.0 when not quantized)
    zero_point: int
    scales: np.ndarray = field(repr=False, compare=False)  #: per-channel scales (length 1 for per-tensor)
    zero_points: np.ndarray = field(repr=False, compare=False)
    quantized_dimension: int = 0
    quantized: bool = False  #: an integer tensor with a non-zero scale
    # 0-d float32 copies of scale / zero point for the per-call dequantization (a 0-d array is the fastest operand)
    _scale_f32: np.ndarray = field(default=None, repr=False, compare=False)  # type: ignore[assignment]
    _zero_point_f32: np.ndarray = field(default=None, repr=False, compare=False)  # type: ignore[assignment]
    #: for a per-tensor quantized 8-bit tensor: float32 value of every raw byte, indexed by the uint8 view of q
    _dequant_lut: np.ndarray | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_details(cls, d: dict) -> "TensorInfo":
        scale, zp = d.get("quantization", (0.0, 0))
        qp = d.get("quantization_parameters") or {}
        scales = np.asarray(qp.get("scales", np.zeros(0)), dtype=np.float32)
        zps = np.asarray(qp.get("zero_points", np.zeros(0)), dtype=np.int64)
        if scales.size == 0 and scale:
            scales = np.asarray([scale], dtype=np.float32)
            zps = np.asarray([zp], dtype=np.int64)
        dtype = np.dtype(d["dtype"])
        quantized = bool(np.issubdtype(dtype, np.integer) and scales.size and np.any(scales != 0))
        lut = None
        if quantized and scales.size == 1 and dtype in (np.dtype(np.int8), np.dtype(np.uint8)):
            # (q - zp) * scale in float32, exactly as TFLite's DEQUANTIZE, for all 256 byte values
            q = np.arange(256, dtype=np.uint8).view(dtype).astype(np.float32)
            lut = (q - np.float32(zp)) * np.float32(scale)
        return cls(
            index=int(d["index"]),
            name=str(d.get("name", "")),
            shape=tuple(int(s) for s in d["shape"]),
            dtype=dtype,
            scale=float(scale),
            zero_point=int(zp),
            scales=scales,
            zero_points=zps,
            quantized_dimension=int(qp.get("quantized_dimension", 0)),
            quantized=quantized,
            _scale_f32=np.array(scale, dtype=np.float32),
            _zero_point_f32=np.array(zp, dtype=np.float32),
            _dequant_lut=lut,
        )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "shape": list(self.shape), "dtype": self.dtype.name}
        if self.quantized:
            d["scale"] = self.scale if self.scales.size == 1 else self.scales.tolist()
            d["zero_point"] = self.zero_point if self.zero_points.size == 1 else self.zero_points.tolist()
        return d


class RuntimeModel:
    """A loaded, allocated interpreter plus what edgeq needs to know about it.

    ``interpreter`` is the runtime's own ``Interpreter`` object; use it directly when you need something this wrapper
    does not offer. The wrapper adds no work to :meth:`invoke`.
    """

    def __init__(self, interpreter: Any, runtime: Runtime, *, source: str, threads: int, xnnpack: bool):
        self.interpreter = interpreter
        self.runtime = runtime
        self.runtime_info = runtime.to_dict()
        self.source = source
        self.threads = threads
        self.xnnpack = xnnpack
        self.inputs: tuple[TensorInfo, ...] = tuple(
            TensorInfo.from_details(d) for d in interpreter.get_input_details()
        )
        self.outputs: tuple[TensorInfo, ...] = tuple(
            TensorInfo.from_details(d) for d in interpreter.get_output_details()
        )
        # bound methods, looked up once: the per-invoke path stays as short as calling the interpreter directly
        self.invoke: Callable[[], None] = interpreter.invoke
        self._set = interpreter.set_tensor
        self._get = interpreter.get_tensor

    def set_input(self, i: int, array: np.ndarray) -> None:
        """Copy ``array`` (already in the tensor's dtype and shape) into input ``i``."""
        self._set(self.inputs[i].index, array)

    def get_output(self, i: int = 0) -> np.ndarray:
        """A copy of output ``i`` (raw: int8 for a quantized model)."""
        return self._get(self.outputs[i].index)

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.source,
            "runtime": self.runtime.to_dict(),
            "threads": self.threads,
            "xnnpack": self.xnnpack,
            "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs],
        }

    def __repr__(self) -> str:
        return (
            f"RuntimeModel({self.source!r}, runtime={self.runtime}, threads={self.threads}, xnnpack={self.xnnpack})"
        )


# --------------------------------------------------------------------------------------------------------------------
# loading


def _read_model(model: str | os.PathLike | bytes | bytearray | memoryview) -> tuple[bytes, str]:
    if isinstance(model, (bytes, bytearray, memoryview)):
        return bytes(model), "<bytes>"
    if not isinstance(model, (str, os.PathLike)):
        raise ModelError(f"expected a .tflite path or bytes, got {type(model).__name__}")
    path = Path(model)
    where = str(path)
    if path.exists() and not path.is_dir():
        from edgeq._fs import MAX_MODEL_BYTES, check_input_file

        check_input_file(path, what=".tflite model", max_bytes=MAX_MODEL_BYTES, error=ModelError)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelError("model file not found", where=where) from None
    except IsADirectoryError:
        raise ModelError("is a folder, not a .tflite file", where=where) from None
    except OSError as exc:
        raise ModelError(f"cannot read the model file: {exc.strerror or exc}", where=where) from None
    return data, where


def _check_flatbuffer(data: bytes, where: str) -> None:
    if len(data) < 8:
        raise ModelError(f"not a .tflite model (only {len(data)} bytes)", where=where)
    if data[4:8] != b"TFL3":
        raise ModelError(
            "not a .tflite model (no TFL3 flatbuffer identifier)",
            where=where,
            hint="pass a .tflite file, e.g. from edgeq quantize",
        )


def _create(rt: Runtime, data: bytes, threads: int, xnnpack: bool) -> Any:
    kwargs: dict[str, Any] = {"model_content": data, "num_threads": threads}
    if not xnnpack:
        if rt.op_resolver_type is None or not hasattr(rt.op_resolver_type, "BUILTIN_WITHOUT_DEFAULT_DELEGATES"):
            raise ToolchainError(f"{rt} cannot turn XNNPACK off", hint=f"drop --no-xnnpack, or {PI_INSTALL}")
        kwargs["experimental_op_resolver_type"] = rt.op_resolver_type.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation warning: we chose it knowingly
        interp = rt.interpreter_cls(**kwargs)
    interp.allocate_tensors()
    return interp


def _load_with(rt: Runtime, data: bytes, where: str, threads: int, xnnpack: bool) -> RuntimeModel:
    captured: list[str] = []
    try:
        with _captured_stderr() as captured:
            interp = _create(rt, data, threads, xnnpack)
    except ToolchainError:
        raise
    except Exception as exc:  # ValueError / RuntimeError from the interpreter, ImportError from a NumPy mismatch
        text = "".join(captured)
        msg = " ".join(str(exc).split())
        if rt.name == "tflite-runtime" and (_is_numpy2_failure(msg) or _is_numpy2_failure(text)):
            failure = _numpy2_error(rt.version)
            _cache[rt.name] = failure
            raise failure from None
        if isinstance(exc, (ImportError, AttributeError, TypeError)):
            raise ToolchainError(f"{rt} failed to create an interpreter: {type(exc).__name__}: {msg[:200]}",
                                 hint=f"reinstall it, or {PI_INSTALL}") from None
        detail = _first_error_line(text) or msg
        low = f"{detail} {msg}".lower()
        if "custom op" in low or "didn't find op" in low or "unresolved" in low or "op builtin_code" in low:
            raise UnsupportedError(
                f"{rt} cannot run this model: {detail[:200]}", where=where,
                hint="the model uses an op this runtime does not have; try a newer ai-edge-litert",
            ) from None
        if "quantized_dimension must be in range" in low:
            import re

            tensors = sorted({int(t) for t in re.findall(r"Tensor (\d+) has invalid quantization", f"{text} {msg}")})
            m = re.search(r"range \[0, (\d+)\)\. Was (\d+)", f"{detail} {msg}")
            rank, axis = (m.group(1), m.group(2)) if m else ("?", "?")
            raise UnsupportedError(
                f"{rt} refuses this model: tensors {', '.join(map(str, tensors[:8])) or '?'}"
                f"{', ...' if len(tensors) > 8 else ''} have rank {rank} but name axis {axis} as their per-channel "
                f"quantization axis (LiteRT: 'quantized_dimension must be in range'); TFLM and edgeq compile "
                f"accept the model", where=where,
                hint="run it where TFLM or edgeq's compiler runs it: edgeq export + bench --port (a board or "
                     "qemu-m4)",
            ) from None
        if "not a valid flatbuffer" in low:
            raise ModelError(
                "the model is truncated or corrupt (the flatbuffer does not verify)",
                where=where, hint="re-export or re-copy the .tflite file",
            ) from None
        raise ModelError(f"{rt} cannot load the model: {detail[:200]}", where=where) from None
    _replay("".join(captured))
    return RuntimeModel(interp, rt, source=where, threads=threads, xnnpack=xnnpack)


def load_interpreter(
    model_path_or_bytes: str | os.PathLike | bytes | bytearray | memoryview,
    *,
    threads: int | None = None,
    xnnpack: bool = True,
    runtime: str = "auto",
) -> RuntimeModel:
    """Load a .tflite model with the first working runtime and allocate its tensors.

    ``runtime``: ``"auto"`` (ai_edge_litert, then tflite_runtime, then tensorflow.lite), or one of ``"litert"``,
    ``"tflite-runtime"``, ``"tensorflow"``. ``threads=None`` means 1 (LiteRT's own default; pass more explicitly).
    ``xnnpack=False`` disables the default XNNPACK delegate (``BUILTIN_WITHOUT_DEFAULT_DELEGATES``).
    """
    if threads is None:
        threads = 1
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise ToolchainError(f"threads must be a whole number >= 1, got {threads!r}")
    threads = int(threads)
    candidates = _candidates(runtime)
    data, where = _read_model(model_path_or_bytes)
    _check_flatbuffer(data, where)

    failures: list[Exception] = []
    tried: list[str] = []
    for name in candidates:
        tried.append(RUNTIMES[name][0].replace("tensorflow", "tensorflow.lite"))
        try:
            rt = _import_runtime(name)
        except ModuleNotFoundError:
            continue
        except ToolchainError as exc:
            failures.append(exc)
            continue
        try:
            return _load_with(rt, data, where, threads, bool(xnnpack))
        except ToolchainError as exc:  # the runtime is broken (e.g. NumPy 2): try the next one
            failures.append(exc)
            continue
    raise _pick_failure(failures, tried, runtime)
