"""Quantization-aware training for Keras 3, without tensorflow-model-optimization.

::

    from edgeq import qat
    q = qat.quantize_model(float_model)          # trainable Keras 3 model with int8 fake quantization
    q.compile(...); q.fit(x, y, ...)             # ordinary training (callbacks, validation, tf.distribute)
    tflite = qat.convert(q)                      # fully int8 .tflite bytes, no representative dataset

What the fake quantization mirrors (TFLite int8 inference): per-channel symmetric weights for Conv2D /
DepthwiseConv2D, per-tensor for Dense, BatchNormalization folded into the preceding layer's weights, ReLU/ReLU6 fused
into the conv/dense/add before them, activation ranges tracked by EMA during training and frozen for inference, the
fixed 1/256 scale of softmax/sigmoid outputs, and a range for each model input.

This package imports without TensorFlow; TensorFlow is loaded when a QAT model is built, converted or loaded
(the layer classes ``FakeQuant``, ``QConv2D``, ``QDepthwiseConv2D``, ``QDense``, ``QAdd``, ``QActivation`` are
attributes resolved on first use).
"""

from __future__ import annotations

from typing import Any

__all__ = ["SUPPORTED_TABLE", "run_qat", "QatResult", "quantize_model", "convert", "calibrate", "learned_ranges",
           "missing_ranges", "custom_objects", "FakeQuant", "QConv2D", "QDepthwiseConv2D", "QConv1D",
           "QDepthwiseConv1D", "QDense", "QAdd", "QConcatenate", "QActivation"]

#: what ``edgeq qat`` trains with fake quantization, as shown in the README and ``edgeq qat --help``
SUPPORTED_TABLE: tuple[tuple[str, str], ...] = (
    ("Conv1D, Conv2D, DepthwiseConv1D/2D, SeparableConv1D/2D, Dense",
     "int8 weights (per-channel conv; per-tensor Dense, per-channel with --per-channel-dense), any "
     "strides/dilations, 'valid'/'same' padding; a "
     "BatchNormalization right after is folded, a ReLU/ReLU6 after is fused"),
    ("Add, Concatenate", "own output range (Add may fuse a ReLU/ReLU6)"),
    ("ReLU, ReLU6, LeakyReLU, hard_swish, Activation(...)", "own output range"),
    ("softmax, sigmoid, tanh", "the fixed int8 range TFLite uses (1/256, 1/256, 1/128)"),
    ("GlobalAveragePooling1D/2D", "own output range (MEAN rescales)"),
    ("Max/AveragePooling1D/2D, GlobalMaxPooling1D/2D, Flatten, Reshape, Permute, ZeroPadding1D/2D, "
     "UpSampling1D/2D, Cropping1D/2D, Dropout", "keep the input's range (as in int8 TFLite)"),
    ("LSTM, GRU, SimpleRNN, Bidirectional", "frozen in float inside the QAT model (the layers around them "
                                            "fine-tune), calibrated post-training at conversion (LSTM: fused int8 "
                                            "op; GRU/SimpleRNN: unrolled)"),
    ("any layer named in --post-training / post_training=[...]", "selective quantization: no fake quantization, "
                                                                 "calibrated post-training at conversion"),
)


def supported_table_markdown() -> str:
    rows = ["| layers | how QAT quantizes them |", "|---|---|"]
    rows += [f"| {a} | {b} |" for a, b in SUPPORTED_TABLE]
    return "\n".join(rows)


def supported_table_text() -> str:
    """The table as plain text (``edgeq qat --help``)."""
    return "\n".join(f"  {a}\n      {b}" for a, b in SUPPORTED_TABLE)


_LAYERS = ("FakeQuant", "QConv2D", "QDepthwiseConv2D", "QConv1D", "QDepthwiseConv1D", "QDense", "QAdd", "QConcatenate",
           "QActivation")


def _tf_ready() -> None:
    from edgeq.convert._tf import import_tf

    import_tf()


def run_qat(model, x, y, **kwargs):
    """The whole ``edgeq qat`` recipe in one call: float Keras classifier + labelled data -> fine-tuned QAT model ->
    int8 .tflite, with the float / fake-quant / int8 accuracies; returns :class:`edgeq.qat.train.QatResult`
    (``.tflite``, ``.int8_accuracy``, ``.save(path)``). Keyword arguments: see :func:`edgeq.qat.train.run_qat`
    (``x_val``, ``y_val``, ``epochs``, ``lr``, ``batch_size``, ``input_range``, ``seed``, ...)."""
    from edgeq.qat.train import run_qat as _run_qat

    return _run_qat(model, x, y, **kwargs)


def quantize_model(model, *, input_range: tuple[float, float] | None = None, ema_decay: float = 0.99,
                   name: str | None = None, post_training=None, per_channel_dense: bool = False,
                   train_recurrent: bool = False):
    """A trainable Keras 3 copy of ``model`` with int8 fake quantization (see :mod:`edgeq.qat.transform`).

    ``input_range=(lo, hi)`` fixes the input's range (otherwise learned). Raises
    :class:`~edgeq.errors.UnsupportedError` listing the layers it cannot quantize (use ``edgeq quantize`` for those).
    ``post_training=["name", ...]``: layers trained in float and calibrated post-training at conversion (selective
    quantization); recurrent layers always are, and stay frozen while the rest fine-tunes unless
    ``train_recurrent=True``. ``per_channel_dense=True``: per-output-channel Dense weights.
    """
    _tf_ready()
    from edgeq.qat.transform import quantize_model as _quantize_model

    return _quantize_model(model, input_range=input_range, ema_decay=ema_decay, name=name,
                           post_training=post_training, per_channel_dense=per_channel_dense,
                           train_recurrent=train_recurrent)


def convert(model, *, source: str | None = None, calibration_data=None) -> bytes:
    """Fully int8 .tflite bytes (int8 I/O, batch 1) from a trained QAT model; see :func:`edgeq.qat.converter.convert`
    (``calibration_data``: samples for the post-training layers of a selectively quantized model)."""
    from edgeq.qat.converter import convert as _convert

    return _convert(model, source=source, calibration_data=calibration_data)


def calibrate(model, x, *, batch_size: int = 64, steps: int | None = None) -> None:
    """Set the activation ranges of a QAT model from data (running min/max), without training."""
    from edgeq.qat.converter import calibrate as _calibrate

    _calibrate(model, x, batch_size=batch_size, steps=steps)


def learned_ranges(model) -> dict[str, tuple[float, float]]:
    """FakeQuant path -> (min, max) the converter will use."""
    from edgeq.qat.converter import learned_ranges as _learned

    return _learned(model)


def missing_ranges(model) -> list[str]:
    """Layers of ``model`` whose output has no int8 range (would stay float in the .tflite)."""
    from edgeq.qat.converter import missing_ranges as _missing

    return _missing(model)


def custom_objects() -> dict[str, Any]:
    """The QAT layer classes, for ``keras.models.load_model(path, custom_objects=edgeq.qat.custom_objects())``."""
    _tf_ready()
    from edgeq.qat import layers

    return dict(layers.QAT_LAYERS)


def __getattr__(name: str) -> Any:
    if name == "QatResult":
        from edgeq.qat.train import QatResult

        return QatResult
    if name in _LAYERS:
        _tf_ready()
        from edgeq.qat import layers

        return getattr(layers, name)
    raise AttributeError(f"module 'edgeq.qat' has no attribute {name!r}")
