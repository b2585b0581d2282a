"""Float vs PTQ int8 vs QAT int8, side by side: size, accuracy, output and per-layer SQNR, as Markdown and a PNG.

``compare(float_model, qat_tflite, x_test, y_test, calibration_data=...)`` quantizes the float model post-training
(:func:`edgeq.convert.ptq.quantize`, min/max calibration, per-tensor Dense like QAT) and runs all three .tflite
models on the test set with :func:`edgeq.convert.evaluation.evaluate` against the batch-1 float32 .tflite (the
int8 tensors are dequantized with their own scale/zero point; layers are matched by name or op order).
:func:`write_report` writes several comparisons into one Markdown file and one PNG.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class Comparison:
    """One model: the float reference and both int8 versions (``ptq``/``qat`` are EvalReports vs the float)."""

    name: str
    float_bytes: int
    float_accuracy: float | None
    ptq: Any  # edgeq.convert.evaluation.EvalReport
    qat: Any
    notes: list[str] = field(default_factory=list)

    def rows(self) -> list[dict[str, Any]]:
        out = [{"model": self.name, "variant": "float32", "bytes": self.float_bytes,
                "accuracy": self.float_accuracy, "output_sqnr_db": None, "top1_agreement": 1.0}]
        for variant, rep in (("PTQ int8", self.ptq), ("QAT int8", self.qat)):
            out.append({"model": self.name, "variant": variant, "bytes": rep.candidate.size,
                        "accuracy": rep.candidate.accuracy, "kind": rep.candidate.kind,
                        "output_sqnr_db": None if not math.isfinite(rep.output_sqnr_db) else
                        round(rep.output_sqnr_db, 2), "top1_agreement": rep.top1_agreement})
        return out

    def layers(self) -> list[dict[str, Any]]:
        """Per-layer SQNR of PTQ and QAT for each float tensor both could be matched to."""
        qat_by_ref = {layer.ref_tensor: layer for layer in self.qat.layers}
        out = []
        for layer in self.ptq.layers:
            q = qat_by_ref.get(layer.ref_tensor)
            if q is None:
                continue
            out.append({"op": layer.op, "layer": layer.layer, "tensor": layer.name,
                        "ptq_sqnr_db": _db(layer.sqnr_db), "qat_sqnr_db": _db(q.sqnr_db)})
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "samples": self.qat.samples, "rows": self.rows(), "layers": self.layers(),
                "notes": list(self.notes)}


def _db(v: float) -> float | None:
    return None if v is None or not math.isfinite(v) else round(float(v), 2)


def compare(float_model, qat_tflite: bytes, x_test: np.ndarray, y_test: np.ndarray, *,
            calibration_data: np.ndarray, name: str | None = None, ptq_calibration: str = "minmax",
            per_tensor_dense: bool = True) -> Comparison:
    """Measure ``float_model`` (Keras), its PTQ int8 version and ``qat_tflite`` on ``(x_test, y_test)``."""
    from edgeq.convert.evaluation import evaluate
    from edgeq.convert.ptq import quantize

    ptq = quantize(float_model, "int8", data=np.asarray(calibration_data, np.float32), calibration=ptq_calibration,
                   per_tensor_dense=per_tensor_dense, progress=False)
    float_tflite = ptq.float_tflite
    names = keras_layer_names(float_model)
    x, y = np.asarray(x_test, np.float32), np.asarray(y_test)
    ptq_rep = evaluate(float_tflite, ptq.tflite, x, y, progress=False, layer_names=names)
    qat_rep = evaluate(float_tflite, qat_tflite, x, y, progress=False, layer_names=names)
    _label_outputs(float_model, float_tflite, [ptq_rep, qat_rep])
    return Comparison(name or getattr(float_model, "name", "model"), len(float_tflite),
                      ptq_rep.reference.accuracy, ptq_rep, qat_rep,
                      notes=[f"PTQ: {ptq_calibration} calibration on {len(calibration_data)} training samples, "
                             f"{'per-tensor' if per_tensor_dense else 'per-channel'} Dense (as QAT)"])


def keras_layer_names(model) -> list[str]:
    """Every layer of a Keras model (nested models' layers too), in model order: the labels of per-layer rows."""
    return [layer.name for layer in model._flatten_layers(include_self=False, recursive=True)]  # noqa: SLF001


def _label_outputs(model, float_tflite: bytes, reports) -> None:
    """The graph outputs' rows get the model's output layer names (the converter names them ``Identity``)."""
    from edgeq.tflite import parse_model

    outputs = [int(t) for t in parse_model(float_tflite).outputs]
    history = [getattr(t, "_keras_history", None) for t in model.outputs]
    names = [getattr(h[0], "name", None) if h else None for h in history]
    for rep in reports:
        for layer in rep.layers:
            if layer.ref_tensor in outputs and len(names) == len(outputs) and names[outputs.index(layer.ref_tensor)]:
                layer.layer = names[outputs.index(layer.ref_tensor)]


def markdown(comparisons: list[Comparison], *, title: str = "Float vs PTQ int8 vs QAT int8") -> str:
    from edgeq._fmt import markdown_table

    def acc(v):
        return "-" if v is None else f"{100 * v:.2f}%"

    def delta(v, ref):
        return "" if v is None or ref is None else f"{100 * (v - ref):+.2f} pp"

    parts = [f"# {title}", ""]
    rows = []
    for c in comparisons:
        for r in c.rows():
            rows.append([c.name, r["variant"], f"{r['bytes']:,}", acc(r["accuracy"]),
                         delta(r["accuracy"], c.float_accuracy) if r["variant"] != "float32" else "",
                         "-" if r["output_sqnr_db"] is None else f"{r['output_sqnr_db']:.1f}",
                         f"{r['top1_agreement']:.4f}"])
    parts.append(markdown_table(["model", "variant", "bytes", "accuracy", "vs float", "output SQNR (dB)",
                                 "top-1 agreement with float"], rows))
    for c in comparisons:
        parts += ["", f"## {c.name}: per-layer SQNR vs float (dB, {c.qat.samples} test samples)", ""]
        lrows = [[i, layer["op"], layer["layer"] if len(layer["layer"]) <= 48 else "..." + layer["layer"][-45:],
                  _fmt_db(layer["ptq_sqnr_db"]), _fmt_db(layer["qat_sqnr_db"])]
                 for i, layer in enumerate(c.layers())]
        parts.append(markdown_table(["#", "op", "layer", "PTQ int8", "QAT int8"], lrows) if lrows
                     else "(no intermediate tensors could be matched)")
        for note in c.notes:
            parts.append(f"\n{note}")
    return "\n".join(parts) + "\n"


def _fmt_db(v):
    return "inf" if v is None else f"{v:.1f}"


def plot(comparisons: list[Comparison], path: str | os.PathLike) -> Path:
    """One row per model: accuracy of float / PTQ / QAT, and per-layer SQNR of PTQ vs QAT. Written atomically."""
    from edgeq._plot import accuracy_bars, plain_axis, pyplot, save_png

    plt = pyplot("the report plot")
    n = max(1, len(comparisons))
    fig, axes = plt.subplots(n, 2, figsize=(12, 3.8 * n), gridspec_kw={"width_ratios": [1, 3]}, squeeze=False)
    colors = {"float32": "#888888", "PTQ int8": "#cc6677", "QAT int8": "#4477aa"}
    for row, c in zip(axes, comparisons):
        ax = row[0]
        rows = c.rows()
        accuracy_bars(ax, [r["variant"] for r in rows], [100 * (r["accuracy"] or 0.0) for r in rows],
                      [colors[r["variant"]] for r in rows], [f"{r['bytes']:,} B" for r in rows])
        ax.set_title(f"{c.name}: test accuracy ({c.qat.samples:,} samples), .tflite size", fontsize=9)
        ax = row[1]
        layers = c.layers()
        x = np.arange(len(layers))
        cap = 80.0
        ptq = [min(cap, layer["ptq_sqnr_db"] if layer["ptq_sqnr_db"] is not None else cap) for layer in layers]
        qat = [min(cap, layer["qat_sqnr_db"] if layer["qat_sqnr_db"] is not None else cap) for layer in layers]
        ax.bar(x - 0.2, ptq, width=0.4, color=colors["PTQ int8"], label="PTQ int8")
        ax.bar(x + 0.2, qat, width=0.4, color=colors["QAT int8"], label="QAT int8")
        ax.set_xticks(x)
        ax.set_xticklabels([f"{i}:{layer['op']}" for i, layer in enumerate(layers)], rotation=45, ha="right",
                           fontsize=7)
        ax.set_ylim(bottom=0)
        ax.set_ylabel("SQNR vs float (dB)")
        ax.set_xlabel("layer (index:op, execution order)")
        plain_axis(ax.yaxis)
        ax.set_title(f"{c.name}: per-layer SQNR (higher = closer to float; QAT learns weights that quantize well, "
                     f"so its drift from the float model is not the target)", fontsize=8)
        ax.legend(fontsize=8)
    return save_png(fig, path)


def write_report(comparisons: list[Comparison], markdown_path: str | os.PathLike,
                 png_path: str | os.PathLike | None = None, *, title: str = "Float vs PTQ int8 vs QAT int8") -> str:
    """Write the Markdown (with the PNG linked when given) and the PNG; returns the Markdown text."""
    from edgeq._fs import atomic_write_text

    text = markdown(comparisons, title=title)
    if png_path is not None:
        plot(comparisons, png_path)
        rel = os.path.relpath(png_path, Path(markdown_path).parent)
        text = text.replace("\n", f"\n\n![float vs PTQ vs QAT]({rel})\n", 1)
    atomic_write_text(markdown_path, text)
    return text
