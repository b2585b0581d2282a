"""Host runtime: load and run .tflite models with LiteRT (or tflite-runtime, or tf.lite as the last fallback).

This is what a Raspberry Pi (or any Linux/macOS host) user runs; it needs ``pip install "edgeq[pi]"`` and no
TensorFlow::

    from edgeq.runtime import load_interpreter, run_model, bench_local
    model = load_interpreter("kws_ref_model.tflite", threads=2)
    result = run_model(model, x)          # float or int8 x, with or without the batch dimension
    result.top_k(3), result.outputs[0], result.raw[0]
    bench_local(["a.tflite", "b.tflite"], runs=200).to_dict()

Importing this package imports numpy only; the runtime itself is imported on the first load.
"""

from edgeq.runtime.bench import BenchReport, BenchResult, BenchSpec, LatencyStats, bench_local
from edgeq.runtime.loader import (
    PI_INSTALL,
    Runtime,
    RuntimeModel,
    TensorInfo,
    available_runtimes,
    get_runtime,
    load_interpreter,
)
from edgeq.runtime.run import RunResult, dequantize, prepare_input, quantize, run_model

__all__ = [
    "PI_INSTALL",
    "BenchReport",
    "BenchResult",
    "BenchSpec",
    "LatencyStats",
    "RunResult",
    "Runtime",
    "RuntimeModel",
    "TensorInfo",
    "available_runtimes",
    "bench_local",
    "dequantize",
    "get_runtime",
    "load_interpreter",
    "prepare_input",
    "quantize",
    "run_model",
]
