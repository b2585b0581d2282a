"""The whole QAT recipe behind ``edgeq qat``: float model + labelled data -> trained QAT model -> int8 .tflite.

``run_qat(model, x, y, x_val=None, y_val=None, epochs=..., lr=...)`` measures the float accuracy, builds the QAT
model (:func:`edgeq.qat.quantize_model`), starts its activation ranges from the training data
(:func:`edgeq.qat.calibrate`), fine-tunes it with ``model.fit`` (Adam, cosine-decayed learning rate: the float
weights are already trained), converts it (:func:`edgeq.qat.convert`) and measures the int8 .tflite's accuracy in
a TFLite interpreter. Classification only (labels are class indices or one-hot rows).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgeq.convert.data import load_labels
from edgeq.errors import EdgeqError


@dataclass
class QatResult:
    """The trained QAT Keras model, the int8 .tflite bytes and the summary (``edgeq qat --json``)."""

    model: Any = field(repr=False)
    tflite: bytes = field(repr=False)
    summary: dict[str, Any]

    def save(self, path: str | os.PathLike) -> Path:
        from edgeq._fs import atomic_write_bytes

        out = atomic_write_bytes(path, self.tflite)
        self.summary["output"] = str(out)
        return out

    def to_dict(self) -> dict[str, Any]:
        return dict(self.summary)

    # the figures `edgeq qat` prints, typed
    @property
    def float_accuracy(self) -> float:
        return self.summary["float_accuracy"]

    @property
    def qat_accuracy(self) -> float:
        """The fake-quant Keras model's accuracy."""
        return self.summary["qat_accuracy"]

    @property
    def int8_accuracy(self) -> float:
        """The int8 .tflite's accuracy, through the same predictor as ``edgeq evaluate`` (``int8_engine``)."""
        return self.summary["int8_accuracy"]

    @property
    def int8_engine(self) -> str:
        return self.summary["int8_engine"]

    @property
    def int8_bytes(self) -> int:
        return self.summary["int8_bytes"]

    @property
    def kind(self) -> str:
        return self.summary["kind"]

    @staticmethod
    def summary_labels(y: Any) -> np.ndarray:
        """Labels as class indices (one-hot rows -> argmax), as the summary's accuracies use them."""
        return labels_of(y, len(y), where="labels")

    def text(self) -> str:
        s = self.summary

        def pct(v):
            return "-" if v is None else f"{100 * v:.2f}%"

        delta = "-" if s["accuracy_delta"] is None else f"{100 * s['accuracy_delta']:+.2f} pp"
        lines = [
            f"QAT: {s['epochs']} epoch(s) on {s['train_samples']} samples, "
            f"evaluated on {s['eval_samples']} {s['eval_on']} samples ({s['seconds']:.1f} s)",
            f"  float accuracy        {pct(s['float_accuracy'])}",
            f"  QAT (fake-quant)      {pct(s['qat_accuracy'])}",
            f"  int8 .tflite          {pct(s['int8_accuracy'])}  ({s['int8_bytes']:,} bytes, {s['kind']}; run by "
            f"{_ENGINE_TEXT.get(s.get('int8_engine'), s.get('int8_engine'))})",
            f"  change vs float       {delta}",
        ]
        if s.get("output"):
            lines.append(f"wrote {s['output']}")
        return "\n".join(lines)


_ENGINE_TEXT = {"tflm": "TFLM, bit-exact with the compiled C", "litert-builtin": "LiteRT builtin kernels"}


def labels_of(y: Any, n: int, *, where: str) -> np.ndarray:
    y = np.asarray(y)
    if y.dtype.kind == "f" and y.ndim == 1 and not np.all(np.equal(np.mod(y, 1), 0)):
        raise EdgeqError("labels are not class indices (edgeq qat trains classifiers)", where=where,
                         hint="store integer class labels (N,) or one-hot rows (N, C) as 'y'")
    return load_labels(y, n, where=where)


def outputs_are_probabilities(model, x: np.ndarray) -> bool:
    """True when the model ends in softmax/sigmoid (rows in [0, 1] summing to 1): the loss takes probabilities."""
    p = np.asarray(model.predict(x[:64], verbose=0))
    p = p.reshape(len(p), -1)
    if p.shape[1] == 1:
        return bool(np.all((p >= 0) & (p <= 1)))
    return bool(np.all(p >= 0) and np.allclose(p.sum(axis=1), 1.0, atol=1e-3))


def keras_accuracy(model, x: np.ndarray, y: np.ndarray, *, threshold: float = 0.5, batch_size: int = 256) -> float:
    p = np.asarray(model.predict(x, batch_size=batch_size, verbose=0))
    p = p.reshape(len(p), -1)
    pred = (p[:, 0] > threshold).astype(np.int64) if p.shape[1] == 1 else p.argmax(axis=1)
    return float(np.mean(pred == y))


def tflite_accuracy(tflite: bytes, x: np.ndarray, y: np.ndarray, *, threshold: float = 0.5) -> tuple[float, str]:
    """Accuracy of an int8 .tflite and the engine that ran it, through :func:`edgeq.convert.runner.predict` (the
    one path ``edgeq evaluate`` uses too: TFLM when installed, bit-exact with the compiled C), batch 1. A
    single-output model predicts class 1 when its (dequantized) output exceeds ``threshold``."""
    from edgeq.convert.runner import predict

    p = predict(tflite, x)
    return float(np.mean(p.classes(threshold) == np.asarray(y).astype(np.int64))), p.engine


def run_qat(model, x: np.ndarray, y: np.ndarray, *, x_val: np.ndarray | None = None, y_val: np.ndarray | None = None,
            epochs: int = 5, lr: float = 1e-4, batch_size: int = 32, input_range: tuple[float, float] | None = None,
            calibration_samples: int = 1024, callbacks: list | None = None, seed: int | None = 0,
            post_training: list[str] | tuple[str, ...] | None = None, per_channel_dense: bool = False,
            train_recurrent: bool = False, on_epoch: Callable[[int, int, dict], None] | None = None, source: str = "<keras.Model>",
            verbose: int = 0) -> QatResult:
    """Fine-tune ``model`` (a float Keras 3 classifier) with quantization-aware training; see the module doc."""
    from edgeq.convert._tf import import_keras
    from edgeq.qat import calibrate, convert, quantize_model
    from edgeq.qat.transform import post_training_layers
    from edgeq.tflite import parse_model
    from edgeq.tflite.check import model_kind

    keras = import_keras()
    started = time.perf_counter()
    n_out = int(np.prod(model.outputs[0].shape[1:]))
    y, y_val = _check_inputs(x, y, x_val, y_val, epochs=epochs, lr=lr, batch_size=batch_size,
                             classes=max(n_out, 2))
    has_val = x_val is not None
    x_eval, y_eval = (x_val, y_val) if has_val else (x, y)
    if seed is not None:
        keras.utils.set_random_seed(seed)
    probs = outputs_are_probabilities(model, x)
    threshold = 0.5 if probs else 0.0
    float_acc = keras_accuracy(model, x_eval, y_eval, threshold=threshold)

    qmodel = quantize_model(model, input_range=input_range, post_training=post_training,
                            per_channel_dense=per_channel_dense, train_recurrent=train_recurrent)
    ptq_layers = post_training_layers(model, post_training)
    calibrate(qmodel, x[:calibration_samples], batch_size=max(batch_size, 64))
    steps = max(1, math.ceil(len(x) / batch_size)) * max(epochs, 1)
    _compile(keras, qmodel, lr=lr, steps=steps, binary=(n_out == 1), probs=probs)
    history: list[dict[str, float]] = []
    if epochs > 0:
        y_fit = y.astype(np.float32) if n_out == 1 else y
        val = (x_val, y_val.astype(np.float32) if n_out == 1 else y_val) if has_val else None
        qmodel.fit(x, y_fit, validation_data=val, epochs=epochs, batch_size=batch_size, shuffle=True,
                   callbacks=[_progress(keras, history, epochs, on_epoch), *(callbacks or [])], verbose=verbose)
    qat_acc = keras_accuracy(qmodel, x_eval, y_eval, threshold=threshold)
    tflite = convert(qmodel, source=source, calibration_data=x[:calibration_samples] if ptq_layers else None)
    graph = parse_model(tflite, source=source)
    int8_acc, engine = tflite_accuracy(tflite, x_eval, y_eval, threshold=threshold)
    summary = {
        "model": source, "output": None, "epochs": epochs, "lr": lr, "batch_size": batch_size,
        "train_samples": int(len(x)), "eval_on": "validation" if has_val else "training",
        "eval_samples": int(len(x_eval)),
        "float_accuracy": float_acc, "qat_accuracy": qat_acc, "int8_accuracy": int8_acc,
        "accuracy_delta": round(int8_acc - float_acc, 6), "int8_engine": engine, "int8_bytes": len(tflite),
        "post_training_layers": ptq_layers, "kind": model_kind(graph), "ops": graph.ops_used,
        "history": history, "seconds": round(time.perf_counter() - started, 2),
    }
    return QatResult(qmodel, tflite, summary)


def _check_inputs(x, y, x_val, y_val, *, epochs: int, lr: float, batch_size: int, classes: int):
    """The options and data a user can get wrong, each refused with one line; returns the (training, validation)
    labels as class indices."""
    if epochs < 0:
        raise EdgeqError(f"--epochs must be >= 0, got {epochs}")
    if not (lr > 0 and math.isfinite(lr)):
        raise EdgeqError(f"--lr must be a positive number, got {lr}")
    if batch_size < 1:
        raise EdgeqError(f"--batch-size must be >= 1, got {batch_size}")
    y = labels_of(y, len(x), where="training labels")
    if x_val is not None:
        y_val = labels_of(y_val, len(x_val), where="validation labels")
    for what, labels in (("training labels", y), ("validation labels", y_val if x_val is not None else None)):
        if labels is not None:
            load_labels(labels, len(labels), where=what, classes=classes)
    for what, arr in (("training data", x), ("validation data", x_val)):
        if arr is not None and np.asarray(arr).dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise EdgeqError(f"{what} contains NaN or infinite values", where=what)
    return y, y_val


def _compile(keras, qmodel, *, lr: float, steps: int, binary: bool, probs: bool) -> None:
    """Adam on a cosine-decayed ``lr`` over ``steps``; (binary / sparse categorical) cross-entropy on logits or
    probabilities, as the float model outputs them."""
    schedule = keras.optimizers.schedules.CosineDecay(lr, decay_steps=steps, alpha=0.0)
    if binary:
        loss = keras.losses.BinaryCrossentropy(from_logits=not probs)
        metric = keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.5 if probs else 0.0)
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=not probs)
        metric = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
    qmodel.compile(optimizer=keras.optimizers.Adam(schedule), loss=loss, metrics=[metric])


def _progress(keras, history: list, epochs: int, on_epoch):
    """A callback appending each epoch's logs and seconds to ``history`` and passing them to ``on_epoch``."""

    class _Progress(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self._t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            row = {"epoch": epoch + 1, **{k: round(float(v), 6) for k, v in (logs or {}).items()
                                          if isinstance(v, (int, float, np.floating))},
                   "seconds": round(time.perf_counter() - self._t, 2)}
            history.append(row)
            if on_epoch is not None:
                on_epoch(epoch + 1, epochs, row)

    return _Progress()

