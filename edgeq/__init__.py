"""edgeq: take a Keras model to a microcontroller and prove how fast and how faithfully it runs there.

The data walks one way: model -> Graph (edgeq.tflite) -> lowered layers and memory plan (edgeq.compiler)
-> C sources (firmware_templates/) -> firmware (edgeq.targets) -> device -> report (edgeq.bench).

The Python API mirrors the CLI (docs/api.md; :mod:`edgeq.api`): ``edgeq.quantize``, ``edgeq.qat``,
``edgeq.evaluate``, ``edgeq.compile``, ``edgeq.analyze``, ``edgeq.export``, ``edgeq.bench.device`` / ``edgeq.bench.local`` and
``edgeq.run``, each returning a typed result. They are loaded on first use, so ``import edgeq`` stays light;
TensorFlow is imported only by quantize and QAT.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

from edgeq.errors import EdgeqError  # noqa: E402  (tiny module, no heavy imports)

#: functions of edgeq.api, resolved on first use
_API = ("quantize", "evaluate", "compile", "analyze", "export", "run")
#: subpackages that are part of the API (``edgeq.qat.quantize_model``, ``edgeq.bench.device``)
_PACKAGES = ("qat", "bench")

__all__ = ["EdgeqError", "__version__", *_API, *_PACKAGES]


def __getattr__(name: str) -> Any:
    import importlib

    if name in _API:
        return getattr(importlib.import_module("edgeq.api"), name)
    if name in _PACKAGES:
        return importlib.import_module(f"edgeq.{name}")
    raise AttributeError(f"module 'edgeq' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
