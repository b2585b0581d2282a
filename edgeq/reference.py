"""Bit-exact host reference for on-device outputs.

Two engines, in this order:

* ``tflm``: the TFLM interpreter from the ``tflite-micro`` package (wheels exist for Linux x86-64 only);
* ``portable-host``: the model compiled for this host with edgeq's portable backend (``edgeq compile MODEL --target
  host --backend portable --build``), run as a subprocess that reads raw input bytes on stdin and writes raw output
  bytes on stdout. Needs a C compiler, so a Raspberry Pi with gcc can verify too.

LiteRT is deliberately not an engine here: it is not bit-exact with TFLM. ``EDGEQ_REFERENCE=tflm|portable`` forces one.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edgeq._proc import first_error_line, run
from edgeq.errors import ModelError, ToolchainError

KINDS = ("tflm", "portable-host")


@dataclass(frozen=True)
class TensorSpec:
    shape: tuple[int, ...]
    dtype: str
    scale: float
    zero_point: int

    @property
    def nbytes(self) -> int:
        import numpy as np

        n = 1
        for d in self.shape:
            n *= int(d)
        return n * np.dtype(self.dtype).itemsize


def model_io(model_path: str | os.PathLike) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """Input and output tensor specs of a .tflite file (edgeq's own reader, no TensorFlow)."""
    from edgeq.tflite import read_model

    g = read_model(model_path)

    def spec(t) -> TensorSpec:
        q = t.quant
        scale = float(q.scale[0]) if q is not None and q.scale else 0.0
        zp = int(q.zero_point[0]) if q is not None and q.zero_point else 0
        return TensorSpec(tuple(int(d) for d in t.shape), t.dtype, scale, zp)

    return [spec(t) for t in g.input_tensors()], [spec(t) for t in g.output_tensors()]


class Reference:
    """``run(input bytes) -> output bytes`` with the chosen engine; ``run_many`` batches. A multi-input model takes
    its inputs' bytes one after the other (graph order) and gives its outputs' bytes the same way, as the device
    protocol carries them."""

    kind: str

    def __init__(self, model_path: str | os.PathLike):
        self.model_path = Path(model_path)
        self.inputs, self.outputs = model_io(model_path)

    def run(self, data: bytes) -> bytes:
        return self.run_many([data])[0]

    def run_many(self, batch: list[bytes]) -> list[bytes]:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class TflmReference(Reference):
    kind = "tflm"

    def __init__(self, model_path):
        super().__init__(model_path)
        from tflite_micro.python.tflite_micro import runtime

        try:
            self._interp = runtime.Interpreter.from_file(str(model_path))
        except Exception as exc:  # TFLM raises RuntimeError/ValueError with its own text
            raise ModelError(f"the TFLM reference interpreter cannot load the model: {exc}",
                             where=str(model_path)) from None

    def run_many(self, batch):
        import numpy as np

        n_in = sum(s.nbytes for s in self.inputs)
        out: list[bytes] = []
        for data in batch:
            if len(data) != n_in:
                raise ModelError(f"reference input has {len(data)} bytes, the model takes {n_in}")
            off = 0
            for k, spec in enumerate(self.inputs):
                x = np.frombuffer(data, dtype=spec.dtype, count=spec.nbytes // np.dtype(spec.dtype).itemsize,
                                  offset=off).reshape(spec.shape)
                self._interp.set_input(x, k)
                off += spec.nbytes
            self._interp.invoke()
            out.append(b"".join(np.ascontiguousarray(self._interp.get_output(k)).tobytes()
                                for k in range(len(self.outputs))))
            # recurrent state (SVDF / LSTM variable tensors) back to its initial value: each output depends on its
            # input only, as on the device (edgeq_reset() before every inference)
            self._interp.reset()
        return out


class PortableHostReference(Reference):
    """The model compiled for the host (portable backend); ``binary`` may be a prebuilt ``model_host``."""

    kind = "portable-host"

    def __init__(self, model_path, binary: str | os.PathLike | None = None):
        super().__init__(model_path)
        self._tmp: str | None = None
        self.binary = Path(binary) if binary else self._build()

    def _build(self) -> Path:
        if not (shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")):
            raise ToolchainError("no C compiler to build the host reference",
                                 hint="install gcc (apt-get install gcc), or install tflite-micro (Linux x86-64)")
        self._tmp = tempfile.mkdtemp(prefix="edgeq-ref-")
        out = Path(self._tmp) / "host"
        cmd = [sys.executable, "-m", "edgeq", "compile", str(self.model_path), "--target", "host",
               "--backend", "portable", "--build", "-o", str(out)]
        run(cmd, what="building the host reference with edgeq's portable backend", timeout=600,
            where=str(self.model_path), hint="install tflite-micro (Linux x86-64) or fix the compile error")
        binary = out / "model_host"
        if not binary.is_file():  # pragma: no cover - `edgeq compile --build` exits non-zero without it
            raise ToolchainError("the host reference build made no model_host", where=str(out))
        return binary

    def run_many(self, batch):
        n_out = sum(s.nbytes for s in self.outputs)
        n_in = sum(s.nbytes for s in self.inputs)
        for data in batch:
            if len(data) != n_in:
                raise ModelError(f"reference input has {len(data)} bytes, the model takes {n_in}")
        proc = run([self.binary], what="the host reference binary", input=b"".join(batch), text=False,
                   timeout=60 + 0.1 * len(batch), where=str(self.binary), check=False)
        if proc.returncode != 0 or len(proc.stdout) != n_out * len(batch):
            said = first_error_line(proc.stderr.decode("utf-8", "replace"), "")
            raise ToolchainError(
                f"the host reference returned {len(proc.stdout)} bytes (exit {proc.returncode}), expected "
                f"{n_out * len(batch)}" + (f": {said[:200]}" if said else ""), where=str(self.binary))
        return [proc.stdout[i * n_out:(i + 1) * n_out] for i in range(len(batch))]

    def close(self):
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


def tflm_available() -> bool:
    try:
        importlib.import_module("tflite_micro.python.tflite_micro.runtime")
    except Exception:
        return False
    return True


def load_reference(model_path: str | os.PathLike, kind: str | None = None) -> Reference:
    """The best bit-exact reference here (``kind``: ``tflm``, ``portable``/``portable-host``, or None = auto,
    overridable with ``$EDGEQ_REFERENCE``)."""
    if not Path(model_path).is_file():
        raise ModelError("no such model file", where=str(model_path))
    kind = kind or os.environ.get("EDGEQ_REFERENCE") or "auto"
    if kind == "portable":
        kind = "portable-host"
    if kind not in ("auto", *KINDS):
        raise ToolchainError(f"unknown reference {kind!r}", hint="use tflm or portable")
    if kind in ("auto", "tflm"):
        if tflm_available():
            return TflmReference(model_path)
        if kind == "tflm":
            raise ToolchainError("the tflite-micro package is not installed",
                                 hint="pip install tflite-micro (Linux x86-64 only)")
    return PortableHostReference(model_path)
