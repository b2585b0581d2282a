"""edgeq's Python API: one function per CLI command, each returning a typed result with the figures the command
prints (``.to_dict()`` is the command's ``--json`` object). ``import edgeq`` exposes them lazily:

=======================================  ============================================  ===============================
Python                                   CLI                                           result
=======================================  ============================================  ===============================
``edgeq.quantize(model, "int8", ...)``   ``edgeq quantize``                            ``convert.ptq.QuantizeResult``
``edgeq.qat.run_qat(model, x, y, ...)``  ``edgeq qat`` (also ``quantize_model``/...)  ``qat.train.QatResult``
``edgeq.evaluate(ref, cand, x, y)``      ``edgeq evaluate``                            ``convert.evaluation.EvalReport``
``edgeq.compile(model, out, ...)``       ``edgeq compile``                             ``compiler.CompileResult``
``edgeq.analyze(model, board)``          ``edgeq analyze``                             ``targets.analyze.Analysis``
``edgeq.export(model, board, out)``      ``edgeq export``                              ``targets.export.ExportResult``
``edgeq.bench.device(model, board=)``    ``edgeq bench --board/--port``                ``bench.DeviceBench``
``edgeq.bench.local(models)``            ``edgeq bench --local``                       ``runtime.BenchReport``
``edgeq.run(model, x)``                  ``edgeq run``                                 ``runtime.RunResult``
=======================================  ============================================  ===============================

The CLI commands call these same functions. Mistakes raise :class:`edgeq.errors.EdgeqError` (what, where, hint).
TensorFlow is imported only by ``quantize`` and QAT; ``evaluate`` and ``run`` need a TFLite runtime
(``edgeq[pi]``), ``compile``/``export``/``bench`` only the base install (plus a C toolchain to build).
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["quantize", "evaluate", "compile", "analyze", "export", "run"]

PathLike = str | os.PathLike


def quantize(model: Any, mode: str = "int8", *, data: Any = None, calibration: str = "minmax",
             io: str | None = None, per_tensor_dense: bool = False, max_samples: int | None = None,
             output: PathLike | None = None, force: bool = False, progress: bool | None = False):
    """Quantize a Keras model / SavedModel / float .tflite (``mode``: int8, dynamic, float16, float32); ``data``
    (array or .npy/.npz path) calibrates int8. With ``output`` the .tflite is written there (an existing file only
    with ``force``). Returns :class:`edgeq.convert.ptq.QuantizeResult` (``.tflite``, ``.size_before``,
    ``.size_after``, ``.ratio``, ``.kind``, ``.save(path)``)."""
    from edgeq._fs import check_output_file
    from edgeq.convert.ptq import quantize as _quantize

    out = None
    if output is not None:
        src = model if isinstance(model, (str, os.PathLike)) else None
        out = check_output_file(output, source=src, example="model_int8.tflite", force=force)
    result = _quantize(model, mode, data=data, calibration=calibration, io=io, per_tensor_dense=per_tensor_dense,
                       max_samples=max_samples, progress=progress)
    if out is not None:
        result.save(out)
    return result


def evaluate(reference: Any, candidate: Any, data: Any, labels: Any = None, *, per_layer: bool = True,
             max_samples: int | None = None, plot: PathLike | None = None, progress: bool | None = False):
    """Compare two .tflite models (paths or bytes) on ``data`` (array or .npy/.npz): accuracy with ``labels``
    (per class and a confusion matrix too), top-1 agreement, output and per-layer SQNR. Integer models run in TFLM
    when installed (bit-exact with the compiled C). ``plot`` writes the PNG. Returns
    :class:`edgeq.convert.evaluation.EvalReport`."""
    from edgeq.convert.evaluation import evaluate as _evaluate

    if plot is not None:
        from edgeq._fs import check_output_file

        check_output_file(plot, example="evaluate.png", what="plot")
    report = _evaluate(reference, candidate, data, labels, per_layer=per_layer, max_samples=max_samples,
                       progress=progress)
    if plot is not None:
        report.plot_path = report.plot(plot)
    return report


def compile(model: Any, output: PathLike, *, target: str = "host", backend: str = "portable",  # noqa: A001
            build: bool = False, force: bool = False, cmsis_nn: PathLike | None = None, optimize: str = "speed"):
    """Compile an int8 .tflite into standalone C in the folder ``output`` (``target``: host, cortex-m0plus/m4/m7/
    m55, avr, generic; ``backend``: portable or cmsis-nn; ``optimize``: speed, or size for the portable backend's
    general kernels only: less flash, same outputs). ``build`` (host target) also makes ``output/model_host``.
    Returns :class:`edgeq.compiler.CompileResult` (``.ram_bytes``, ``.arena_bytes``, ``.const_bytes``, ``.binary``)."""
    from edgeq.compiler import build_host, compile_model
    from edgeq.errors import EdgeqError

    if build and target != "host":
        raise EdgeqError("build works only for the host target", where="--build",
                         hint="cross-compile the generated C with your firmware build")
    res = compile_model(model, target=target, backend=backend, out_dir=output, force=force, cmsis_nn_dir=cmsis_nn,
                        optimize=optimize)
    if build:
        res.binary = build_host(res.out_dir)
    return res


def analyze(model: PathLike, board: str = "qemu-m4", *, backend: str | None = None,
            cmsis_nn: PathLike | None = None):
    """Per-layer MACs, memory and estimated instructions of ``model`` on ``board``, and the fit against it, from the
    compiler's real memory plan (nothing is written). Returns :class:`edgeq.targets.analyze.Analysis` (``.layers``,
    ``.ram_bytes`` = the compiled EDGEQ_RAM_BYTES, ``.fit``, ``.instructions``, ``.ms``, ``.markdown()``,
    ``.plot(path)``)."""
    from edgeq.targets.analyze import analyze as _analyze

    return _analyze(model, board, backend=backend, cmsis_nn_dir=cmsis_nn)


def export(model: PathLike, board: str, output: PathLike, *, build: bool = False, runtime: str = "auto",
           backend: str | None = None, cmsis_nn: PathLike | None = None, force: bool = False,
           name: str | None = None, db_format: str = "auto", baud: int | None = None, energy: bool = False,
           app: str = "bench", labels: PathLike | None = None, top_k: int = 3, optimize: str = "speed"):
    """Write (and with ``build`` build) the firmware project for ``model`` on ``board`` into the folder ``output``.
    ``app``: ``bench`` (the benchmark protocol), ``classify`` (prints the ``top_k`` of ``labels``) or ``regress``.
    ``optimize``: ``speed`` (default) or ``size`` (edgeq's C: the general portable kernels only, less flash).
    Returns :class:`edgeq.targets.export.ExportResult` (``.fit``, ``.build.firmware``, ``.build.flash_bytes``...)."""
    from edgeq.targets.export import export as _export

    return _export(model, board, output, runtime=runtime, backend=backend, cmsis_nn_dir=cmsis_nn, build=build,
                   force=force, name=name, db_format=db_format, baud=baud, energy=energy, app=app, labels=labels,
                   top_k=top_k, optimize=optimize)


def run(model: Any, x: Any, *, threads: int | None = None, xnnpack: bool = True, runtime: str = "auto"):
    """Run a .tflite (path, bytes or loaded model) on ``x`` with LiteRT: float input quantized for an int8 model,
    outputs dequantized. Returns :class:`edgeq.runtime.RunResult` (``.outputs``, ``.raw``, ``.top_k(k)``)."""
    from edgeq.runtime.run import run_model

    return run_model(model, x, threads=threads, xnnpack=xnnpack, runtime=runtime)
