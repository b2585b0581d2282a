"""Compare a reference .tflite (usually float) with a candidate (usually its int8 version) on the same inputs.

Accuracy of each (with labels), top-1 agreement, output SQNR, per-layer SQNR of matched intermediate tensors, sizes.
Per-layer matching: by tensor name (after stripping quantization suffixes such as ``_int8``), else by the order of
the producing ops (QUANTIZE/DEQUANTIZE skipped) when both graphs run the same op sequence. The int8 side is
dequantized with each tensor's own scale / zero point.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeq.errors import EdgeqError, ModelError

_SUFFIXES = re.compile(r"(_int8|_uint8|_int16|_quantized|_dequantize|_dequant|/dequantize|_float32|_float16)$")
_SKIP_OPS = ("QUANTIZE", "DEQUANTIZE")


def sqnr_db(ref: np.ndarray, test: np.ndarray) -> float:
    """Signal-to-quantization-noise ratio ``10 log10(sum(ref^2) / sum((ref - test)^2))`` in dB (inf if equal)."""
    ref = np.asarray(ref, dtype=np.float64).ravel()
    test = np.asarray(test, dtype=np.float64).ravel()
    noise = float(np.sum((ref - test) ** 2))
    signal = float(np.sum(ref ** 2))
    if noise == 0.0:
        return math.inf
    if signal == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


class _SQNR:
    """Accumulates signal and noise energy over samples."""

    __slots__ = ("signal", "noise")

    def __init__(self) -> None:
        self.signal = 0.0
        self.noise = 0.0

    def add(self, ref: np.ndarray, test: np.ndarray) -> None:
        r = np.asarray(ref, dtype=np.float64).ravel()
        t = np.asarray(test, dtype=np.float64).ravel()
        self.signal += float(np.dot(r, r))
        d = r - t
        self.noise += float(np.dot(d, d))

    def db(self) -> float:
        if self.noise == 0.0:
            return math.inf
        if self.signal == 0.0:
            return -math.inf
        return 10.0 * math.log10(self.signal / self.noise)


def _finite(x: float | None):
    return None if x is None or not math.isfinite(x) else round(float(x), 3)


@dataclass
class ModelStats:
    """One model's figures. ``engine``: what ran it (``tflm`` for integer models when tflite-micro is installed,
    bit-exact with the compiled C; else ``litert-builtin``). ``confusion[true, predicted]`` counts (with labels)."""

    path: str
    size: int
    kind: str
    accuracy: float | None = None
    engine: str = "litert-builtin"
    confusion: np.ndarray | None = field(default=None, repr=False)

    @property
    def per_class_accuracy(self) -> list[float | None] | None:
        """Recall of each class (correct / samples of that class; None for a class absent from the labels)."""
        if self.confusion is None:
            return None
        totals = self.confusion.sum(axis=1)
        return [None if t == 0 else round(float(self.confusion[i, i] / t), 6) for i, t in enumerate(totals)]

    def to_dict(self) -> dict:
        out = {"path": self.path, "size": self.size, "kind": self.kind, "accuracy": self.accuracy,
               "engine": self.engine}
        if self.confusion is not None:
            out["per_class_accuracy"] = self.per_class_accuracy
            out["confusion_matrix"] = self.confusion.tolist()
        return out


@dataclass
class LayerSQNR:
    name: str  #: the reference tensor's name (TFLite's, fused: "functional_1/relu_1/Relu;functional_1/conv_1/...")
    op: str
    sqnr_db: float
    ref_tensor: int
    candidate_tensor: int
    layer: str = ""  #: the Keras layer(s) the tensor belongs to (:func:`layer_label`)

    def to_dict(self) -> dict:
        return {"name": self.name, "layer": self.layer or layer_label(self.name), "op": self.op,
                "sqnr_db": _finite(self.sqnr_db), "ref_tensor": self.ref_tensor,
                "candidate_tensor": self.candidate_tensor}


def layer_label(tensor_name: str, layer_names: list[str] | None = None) -> str:
    """The Keras layer(s) a TFLite tensor name belongs to, ``+``-joined in model order.

    The converter names a fused op's output after every TF op it absorbed (``"functional_1/relu_a_1/Relu;
    functional_1/conv_a_1/convolution"``), each under its Keras layer's name scope, which Keras 3 re-enters as
    ``<layer>_1`` when the model is traced. With ``layer_names`` (the model's layers, in order) a scope maps to the
    layer whose name it is, a ``_N`` suffix allowed, preferring ``<layer>_1`` (so ``conv2d_1`` is layer ``conv2d``
    when ``conv2d_1`` itself would appear as ``conv2d_1_1``): ``"conv_a+relu_a"``. Without them, or when no scope is
    a layer's, the label is the scopes that hold the ops (``"relu_a_1+conv_a_1"``), or the name itself when it has no
    scope (``"Identity"``)."""
    pieces = [p.strip() for p in tensor_name.split(";") if p.strip()]
    scopes = list(dict.fromkeys(p.split("/")[-2] for p in pieces if "/" in p))
    if layer_names:
        order = {n: i for i, n in enumerate(layer_names)}
        found: set[str] = set()
        for part in {q for p in pieces for q in p.split("/")}:
            hit = _layer_of_scope(part, order)
            if hit is not None:
                found.add(hit)
        if found:
            return "+".join(sorted(found, key=order.__getitem__))
    return "+".join(scopes) if scopes else tensor_name


def _layer_of_scope(scope: str, order: dict[str, int]) -> str | None:
    if scope.endswith("_1") and scope[:-2] in order:
        return scope[:-2]
    if scope in order:
        return scope
    base = re.sub(r"(_\d+)+$", "", scope)
    return base if base in order else None


@dataclass
class EvalReport:
    reference: ModelStats
    candidate: ModelStats
    samples: int
    top1_agreement: float
    output_sqnr_db: float
    layers: list[LayerSQNR] = field(default_factory=list)
    matched_by: str = "name"
    size_ratio: float | None = None
    plot_path: Path | None = None  #: the PNG, once written by :meth:`plot` through ``edgeq.evaluate(plot=...)``

    def to_dict(self) -> dict[str, Any]:
        acc_drop = None
        if self.reference.accuracy is not None and self.candidate.accuracy is not None:
            acc_drop = self.reference.accuracy - self.candidate.accuracy
        return {
            "reference": self.reference.to_dict(),
            "candidate": self.candidate.to_dict(),
            "samples": self.samples,
            "top1_agreement": self.top1_agreement,
            "accuracy_drop": acc_drop,
            "output_sqnr_db": _finite(self.output_sqnr_db),
            "size_ratio": self.size_ratio,
            "layers_matched_by": self.matched_by,
            "layers": [layer.to_dict() for layer in self.layers],
        }

    def markdown(self) -> str:
        from edgeq._fmt import markdown_table

        def acc(v):
            return "-" if v is None else f"{v:.4f}"

        def db(v):
            return "inf" if v == math.inf else f"{v:.1f}"

        rows = [
            ["model", Path(self.reference.path).name, Path(self.candidate.path).name],
            ["kind", self.reference.kind, self.candidate.kind],
            ["size (bytes)", f"{self.reference.size:,}", f"{self.candidate.size:,}"],
            ["size ratio", "1", f"{self.size_ratio:.3f}" if self.size_ratio else "-"],
            ["accuracy", acc(self.reference.accuracy), acc(self.candidate.accuracy)],
            ["top-1 agreement", "", f"{self.top1_agreement:.4f}"],
            ["output SQNR (dB)", "", db(self.output_sqnr_db)],
            ["samples", str(self.samples), str(self.samples)],
            ["run by", self.reference.engine, self.candidate.engine],
        ]
        text = markdown_table(["", "reference", "candidate"], rows)
        ref_pc, cand_pc = self.reference.per_class_accuracy, self.candidate.per_class_accuracy
        if cand_pc is not None and ref_pc is not None:
            totals = self.candidate.confusion.sum(axis=1)
            prows = [[c, int(totals[c]), acc(ref_pc[c]), acc(cand_pc[c])] for c in range(len(cand_pc))]
            text += "\n\nPer-class accuracy (correct / samples of the class):\n\n"
            text += markdown_table(["class", "samples", "reference", "candidate"], prows)
            m = self.candidate.confusion
            text += "\n\nConfusion matrix of the candidate (rows: true class, columns: predicted class):\n\n"
            text += markdown_table(["true \\ predicted", *[str(c) for c in range(m.shape[1])]],
                                   [[c, *[int(v) for v in m[c]]] for c in range(m.shape[0])])
        if self.layers:
            lrows = [[i, layer.op, _short(layer.layer or layer_label(layer.name)), db(layer.sqnr_db)]
                     for i, layer in enumerate(self.layers)]
            text += f"\n\nPer-layer SQNR (matched by {self.matched_by}):\n\n"
            text += markdown_table(["#", "op", "layer", "SQNR (dB)"], lrows)
        return text

    def plot(self, path: str | os.PathLike) -> Path:
        """A PNG, written atomically: per-layer SQNR bars with the output SQNR, and (with labels) the candidate's
        confusion matrix."""
        from edgeq._plot import confusion_heatmap, plain_axis, pyplot, save_png

        plt = pyplot("--plot")
        m = self.candidate.confusion
        ncols = 2 if m is not None else 1
        width = max(6.0, 0.35 * len(self.layers) + 2)
        fig, axes = plt.subplots(1, ncols, figsize=(width + (5.5 if m is not None else 0), 4.6), squeeze=False,
                                 gridspec_kw={"width_ratios": [width, 5.0] if m is not None else [1]})
        ax = axes[0][0]
        values = [min(layer.sqnr_db, 100.0) for layer in self.layers]
        labels = [f"{i}:{layer.op}" for i, layer in enumerate(self.layers)]
        if values:
            ax.bar(range(len(values)), values, color="#4477aa")
            ax.set_xticks(range(len(values)))
            ax.set_xticklabels(labels, rotation=75, fontsize=7)
            for i, v in enumerate(values):
                ax.text(i, v, f"{v:.0f}", ha="center", va="bottom", fontsize=6)
        else:
            ax.text(0.5, 0.5, "per-layer SQNR not measured (--no-layers)", ha="center", va="center",
                    transform=ax.transAxes, fontsize=9)
            ax.set_xticks([])
        if math.isfinite(self.output_sqnr_db):
            ax.axhline(self.output_sqnr_db, color="#cc6677", linestyle="--",
                       label=f"output SQNR {self.output_sqnr_db:.1f} dB")
            ax.legend(loc="lower left", fontsize=8)
        ax.set_ylim(bottom=0)
        ax.set_ylabel("SQNR vs reference (dB, higher = closer)")
        ax.set_xlabel("layer (index:op, execution order)")
        plain_axis(ax.yaxis)

        def pct(v):
            return "" if v is None else f"{100 * v:.2f} %"

        title = f"{Path(self.candidate.path).name} vs {Path(self.reference.path).name} ({self.samples:,} samples)"
        title += f"\ntop-1 agreement {100 * self.top1_agreement:.2f} %"
        if self.candidate.accuracy is not None:
            title += f", accuracy {pct(self.reference.accuracy)} (reference) vs {pct(self.candidate.accuracy)}"
        ax.set_title(title, fontsize=9)
        if m is not None:
            confusion_heatmap(fig, axes[0][1], m, f"{Path(self.candidate.path).name}: confusion matrix (samples)")
        return save_png(fig, path)


# --------------------------------------------------------------------------------------------------------------------


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else "..." + text[-(width - 3):]


def _read(model: Any, what: str) -> tuple[bytes, str]:
    if isinstance(model, (bytes, bytearray, memoryview)):
        return bytes(model), f"<{what}>"
    p = Path(model)
    if not p.exists():
        raise ModelError("no such file", where=str(p), hint=f"the {what} .tflite model")
    if p.is_dir():
        raise ModelError("is a folder, not a .tflite file", where=str(p))
    from edgeq._fs import MAX_MODEL_BYTES, read_input_bytes

    return read_input_bytes(p, what=".tflite model", max_bytes=MAX_MODEL_BYTES, error=ModelError), str(p)


def _base_name(name: str) -> str:
    name = name.strip()
    prev = None
    while prev != name:
        prev = name
        name = _SUFFIXES.sub("", name)
    return name


def match_layers(ref_graph, cand_graph) -> tuple[list[tuple[int, int, str, str]], str]:
    """Pairs ``(ref tensor, candidate tensor, name, op)`` of intermediate activations, and how they were matched."""
    def acts(graph):
        out = []
        for op in graph.operators:
            if op.opcode in _SKIP_OPS:
                continue
            for t in op.outputs:
                tensor = graph.tensors[t]
                if t >= 0 and not tensor.is_constant and tensor.dtype in ("float32", "int8", "int16", "uint8"):
                    out.append((t, op.opcode))
        return out

    ref_acts, cand_acts = acts(ref_graph), acts(cand_graph)
    by_name: dict[str, tuple[int, str]] = {}
    for t, op in cand_acts:
        by_name.setdefault(_base_name(cand_graph.tensors[t].name), (t, op))
    pairs = []
    for t, op in ref_acts:
        hit = by_name.get(_base_name(ref_graph.tensors[t].name))
        if hit and ref_graph.tensors[t].shape == cand_graph.tensors[hit[0]].shape:
            pairs.append((t, hit[0], ref_graph.tensors[t].name, op))
    by_order = []
    if [op for _, op in ref_acts] == [op for _, op in cand_acts]:
        by_order = [(r, c, ref_graph.tensors[r].name, op) for (r, op), (c, _) in zip(ref_acts, cand_acts)
                    if ref_graph.tensors[r].shape == cand_graph.tensors[c].shape]
    if len(by_order) > len(pairs):
        return by_order, "op order"
    return pairs, "name"


def confusion_matrix(y: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """``m[true, predicted]`` = number of samples (int64, ``n_classes`` x ``n_classes``)."""
    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(m, (np.asarray(y, np.int64), np.asarray(pred, np.int64)), 1)
    return m


def evaluate(reference: Any, candidate: Any, data: Any, labels: Any = None, *, per_layer: bool = True,
             max_samples: int | None = None, progress: bool | None = None,
             layer_names: list[str] | None = None) -> EvalReport:
    """Run both models on ``data`` (a .npy/.npz path or an array of float samples) and compare them.

    ``layer_names``: the Keras model's layer names, in order, to label the per-layer rows (:func:`layer_label`)."""
    from edgeq.convert.calibrate import progress_bar
    from edgeq.convert.data import load_array, load_labels, fit_samples
    from edgeq.convert.runner import dequantize, make_interpreter, predict, quantize_input
    from edgeq.tflite import parse_model
    from edgeq.tflite.check import model_kind

    ref_bytes, ref_src = _read(reference, "reference")
    cand_bytes, cand_src = _read(candidate, "candidate")
    ref_graph = parse_model(ref_bytes, source=ref_src)
    cand_graph = parse_model(cand_bytes, source=cand_src)
    if isinstance(data, (str, os.PathLike)):
        arr, data_where = load_array(data, what="data"), str(data)
    else:
        arr, data_where = np.asarray(data), "<array>"
    if len(ref_graph.inputs) != 1 or len(cand_graph.inputs) != 1:
        raise EdgeqError("evaluate compares single-input models")
    ref_in, cand_in = ref_graph.input_tensors()[0], cand_graph.input_tensors()[0]
    if ref_in.shape[1:] != cand_in.shape[1:]:
        raise EdgeqError(f"the models have different input shapes: {list(ref_in.shape)} vs {list(cand_in.shape)}",
                         where=cand_src)
    ref_out, cand_out = ref_graph.output_tensors(), cand_graph.output_tensors()
    if [t.num_elements for t in ref_out] != [t.num_elements for t in cand_out]:
        raise EdgeqError("the models have different output shapes: "
                         f"{[list(t.shape) for t in ref_out]} vs {[list(t.shape) for t in cand_out]}", where=cand_src)
    samples = fit_samples(arr, ref_in.shape, where=data_where, what="data")
    if max_samples:
        samples = samples[:max_samples]
    n_classes = max(2, int(sum(t.num_elements for t in ref_out)))
    y = load_labels(labels, len(samples), classes=n_classes) if labels is not None else None
    if y is not None and max_samples:
        y = y[:max_samples]

    # the outputs (accuracy, agreement, output SQNR) come from the one predictor every accuracy figure uses
    ref_p = predict(ref_bytes, samples, source=ref_src)
    cand_p = predict(cand_bytes, samples, source=cand_src)
    out_acc = _SQNR()
    out_acc.add(np.concatenate(ref_p.outputs, axis=1), np.concatenate(cand_p.outputs, axis=1))

    pairs, matched_by = match_layers(ref_graph, cand_graph) if per_layer else ([], "name")
    layer_acc = [_SQNR() for _ in pairs]
    if pairs:  # intermediate tensors: LiteRT's builtin kernels with every tensor kept
        ref_i = make_interpreter(ref_bytes, preserve_all=True, source=ref_src)
        cand_i = make_interpreter(cand_bytes, preserve_all=True, source=cand_src)
        r_in, c_in = ref_i.get_input_details()[0], cand_i.get_input_details()[0]
        bar = progress_bar(len(samples), "per-layer SQNR", progress)
        try:
            for x in samples:
                x1 = x[None]
                ref_i.reset_all_variables()  # every sample from a zero recurrent state, as predict() runs it
                cand_i.reset_all_variables()
                ref_i.set_tensor(r_in["index"], quantize_input(x1, r_in).reshape(r_in["shape"]))
                cand_i.set_tensor(c_in["index"], quantize_input(x1, c_in).reshape(c_in["shape"]))
                ref_i.invoke()
                cand_i.invoke()
                for acc, (rt, ct, _, _) in zip(layer_acc, pairs):
                    tensor = cand_graph.tensors[ct]
                    acc.add(dequantize(ref_i.get_tensor(rt), ref_graph.tensors[rt].scale,
                                       ref_graph.tensors[rt].zero_point),
                            dequantize(cand_i.get_tensor(ct), tensor.scale, tensor.zero_point))
                bar.update(1)
        finally:
            bar.close()
    rp, cp = ref_p.classes(), cand_p.classes()
    ref_stats = ModelStats(ref_src, len(ref_bytes), model_kind(ref_graph), engine=ref_p.engine)
    cand_stats = ModelStats(cand_src, len(cand_bytes), model_kind(cand_graph), engine=cand_p.engine)
    if y is not None:
        n_classes = int(max(y.max(), rp.max(), cp.max(), ref_p.scores.shape[1] - 1)) + 1
        for stats, pred in ((ref_stats, rp), (cand_stats, cp)):
            stats.accuracy = float(np.mean(pred == y))
            stats.confusion = confusion_matrix(y, pred, n_classes)
    layers = [LayerSQNR(name, op, acc.db(), rt, ct, layer_label(name, layer_names))
              for acc, (rt, ct, name, op) in zip(layer_acc, pairs)]
    return EvalReport(ref_stats, cand_stats, len(samples), float(np.mean(rp == cp)), out_acc.db(), layers,
                      matched_by, round(len(cand_bytes) / len(ref_bytes), 4))
