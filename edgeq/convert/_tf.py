"""Importing and calling TensorFlow quietly.

TensorFlow, Keras and the TFLite converter print a lot on C-level stdout/stderr (absl/oneDNN banners, "Saved
artifact at ...", MLIR pass statistics, UserWarnings). edgeq's CLI promises one line on stderr for a user error and one
JSON object on stdout for ``--json``, so every TensorFlow call made by :mod:`edgeq.convert` runs inside
:func:`quiet`, which sends file descriptors 1 and 2 to a temporary file. Set ``EDGEQ_TF_VERBOSE=1`` to see it all.

Nothing here imports TensorFlow at module level.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import sys
import tempfile
import warnings
from typing import Any, Iterator

from edgeq.errors import ToolchainError

CONVERT_INSTALL = 'pip install "edgeq[convert]"'

#: environment TensorFlow reads at import time; set only when the user has not chosen otherwise
_TF_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "KERAS_BACKEND": "tensorflow",
    "GRPC_VERBOSITY": "ERROR",
}


def _verbose() -> bool:
    return os.environ.get("EDGEQ_TF_VERBOSE", "") not in ("", "0")


@contextlib.contextmanager
def quiet() -> Iterator[list[str]]:
    """Silence C-level and Python stdout/stderr and warnings; yields a list that receives the captured text."""
    captured: list[str] = []
    if _verbose():
        yield captured
        return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    saved: dict[int, int] = {}
    with tempfile.TemporaryFile(mode="w+b") as sink:
        try:
            for fd in (1, 2):
                try:
                    saved[fd] = os.dup(fd)
                    os.dup2(sink.fileno(), fd)
                except OSError:  # no such descriptor (embedded use): nothing to silence
                    saved.pop(fd, None)
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()) as out, \
                    contextlib.redirect_stderr(io.StringIO()) as err:
                warnings.simplefilter("ignore")
                try:
                    yield captured
                finally:
                    captured.append(out.getvalue())
                    captured.append(err.getvalue())
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            for fd, old in saved.items():
                os.dup2(old, fd)
                os.close(old)
            with contextlib.suppress(Exception):
                sink.seek(0)
                captured.insert(0, sink.read().decode("utf-8", "replace"))


def import_tf() -> Any:
    """``import tensorflow`` (quietly), or a :class:`ToolchainError` saying how to install it."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    for key, value in _TF_ENV.items():
        os.environ.setdefault(key, value)
    try:
        with quiet():
            import tensorflow as tf  # noqa: PLC0415
            # importing the converter pieces now keeps their import-time chatter inside quiet()
            importlib.import_module("tensorflow.lite.python.convert")
            importlib.import_module("keras")
    except ModuleNotFoundError as exc:
        raise ToolchainError(f"TensorFlow is needed for this ({exc.name} is not installed)",
                             hint=CONVERT_INSTALL) from None
    with contextlib.suppress(Exception):
        tf.get_logger().setLevel("ERROR")
        import absl.logging  # noqa: PLC0415
        absl.logging.set_verbosity(absl.logging.ERROR)
    return tf


def import_keras() -> Any:
    import_tf()
    import keras  # noqa: PLC0415

    return keras


def first_line(text: str, limit: int = 200) -> str:
    """The first meaningful line of an exception message or captured log, shortened."""
    for line in str(text).splitlines():
        line = line.strip()
        if line and not line.startswith(("WARNING:", "I0000", "W0000", "INFO:")):
            return line[:limit]
    return ""
