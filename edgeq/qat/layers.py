"""Fake-quantization layers for quantization-aware training in plain Keras 3 (TensorFlow backend).

Every layer here computes, in float, exactly what the TFLite int8 kernel will compute, so that training sees the
rounding and clipping of the deployed model and the converter reads the ranges from the graph:

* :class:`FakeQuant` - an activation tensor: int8 asymmetric, range tracked by an exponential moving average of the
  batch min/max while training (``training=True``) and frozen otherwise; or a fixed range (softmax/sigmoid outputs,
  whose int8 scale TFLite fixes at 1/256).
* :class:`QConv2D`, :class:`QDepthwiseConv2D`, :class:`QDense` - the weight layer, with a BatchNormalization that
  followed it folded in (``w * gamma / sqrt(var + eps)``, moving statistics), its fused ReLU/ReLU6, symmetric
  narrow-range weight fake-quant (per output channel for convolutions; per tensor for Dense, or per output channel
  with ``per_channel=True``, see :func:`round_weights_per_channel`) and the fake-quant of its output.
* :class:`QAdd` - element-wise add with an optional fused ReLU/ReLU6 and its output fake-quant.
* :class:`QActivation` - a stand-alone ReLU/ReLU6 (rescaling int8 RELU), softmax or sigmoid (fixed output range).

The weight ranges are computed from the (folded) kernel on every call, never stored: variables assigned in
``call()`` would leak ``AssignVariableOp`` into the inference graph. The activation ranges are assigned only when
``training`` is true (or during :func:`edgeq.qat.calibrate`), so the traced inference graph reads them as constants.
Under ``tf.distribute`` the range variables use ``aggregation="mean"``: every replica's update is averaged and all
copies stay equal.

This module imports TensorFlow; ``edgeq.qat`` imports it only when a QAT model is built or loaded.
"""

from __future__ import annotations

import keras
import tensorflow as tf

#: activations a weight layer / add may fuse (what the TFLite converter folds into the op)
FUSABLE_ACTIVATIONS = ("linear", "relu", "relu6")
#: fixed int8 output ranges TFLite imposes (softmax/sigmoid: scale 1/256, zero point -128; tanh: 1/128, 0)
FIXED_RANGES = {"softmax": (0.0, 255.0 / 256.0), "sigmoid": (0.0, 255.0 / 256.0), "tanh": (-1.0, 127.0 / 128.0)}
#: stand-alone activations with an int8 kernel whose output has its own (learned) range
OWN_RANGE_ACTIVATIONS = ("hard_swish", "leaky_relu")
#: smallest range an activation may have (an all-zero tensor would give a zero scale)
MIN_RANGE = 1e-6
_PACKAGE = "edgeq"


def _apply_activation(y, activation: str):
    if activation == "relu":
        return tf.nn.relu(y)
    if activation == "relu6":
        return tf.nn.relu6(y)
    if activation == "softmax":
        return tf.nn.softmax(y, axis=-1)
    if activation == "sigmoid":
        return tf.math.sigmoid(y)
    if activation == "tanh":
        return tf.math.tanh(y)
    if activation == "hard_swish":
        return y * tf.nn.relu6(y + 3.0) / 6.0
    if activation.startswith("leaky_relu"):
        alpha = float(activation.split(":")[1]) if ":" in activation else 0.2
        return tf.nn.leaky_relu(y, alpha=alpha)
    return y


def fake_quant_weights(w, *, per_channel: bool):
    """Symmetric narrow-range int8 fake-quant of a kernel whose last axis is the output channel.

    The range is ``[-max|w|, +max|w|]`` per output channel (or per tensor), computed from ``w`` itself: the same
    scale the converter will write (``max|w| / 127``, zero point 0).
    """
    rank = len(w.shape)
    if per_channel:
        m = tf.reduce_max(tf.abs(w), axis=list(range(rank - 1)))
        m = tf.stop_gradient(tf.maximum(m, MIN_RANGE))
        return tf.quantization.fake_quant_with_min_max_vars_per_channel(w, -m, m, num_bits=8, narrow_range=True)
    m = tf.stop_gradient(tf.maximum(tf.reduce_max(tf.abs(w)), MIN_RANGE))
    return tf.quantization.fake_quant_with_min_max_vars(w, -m, m, num_bits=8, narrow_range=True)


def round_weights_per_channel(w):
    """Per-output-channel symmetric narrow-range int8 rounding of a Dense kernel ``(in, out)``, straight-through.

    TF's per-channel fake-quant op quantizes the last axis, and the converter transposes a Dense kernel to the
    ``(out, in)`` weights of FULLY_CONNECTED, which it refuses for a fake-quant op (mismatched quantized axes). So the
    rounding is written in plain ops: the converter folds them into a constant kernel already on the int8 grid and
    quantizes it per channel itself, with the scale ``max|w| / 127`` of each column, exactly the one used here, so
    the .tflite's int8 weights are exactly the trained ones. The gradient passes straight through, as through
    TF's fake-quant op (nothing is clipped: the range is the column's own maximum)."""
    m = tf.stop_gradient(tf.maximum(tf.reduce_max(tf.abs(w), axis=0), MIN_RANGE))
    scale = m / 127.0
    q = tf.clip_by_value(tf.round(w / scale), -127.0, 127.0) * scale
    return w + tf.stop_gradient(q - w)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class FakeQuant(keras.layers.Layer):
    """Int8 fake quantization of an activation tensor.

    ``fixed_range=(lo, hi)`` pins the range (softmax/sigmoid outputs, or a known input range such as ``(0, 1)``);
    otherwise the range is the EMA (``ema_decay``) of the batch min/max seen while training, always containing 0.
    Until the first training batch (or :func:`edgeq.qat.calibrate`) the layer has no range: ``has_range`` is False
    and the model cannot be converted.
    """

    def __init__(self, ema_decay: float = 0.99, fixed_range: tuple[float, float] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.ema_decay = float(ema_decay)
        self.fixed_range = None if fixed_range is None else (float(fixed_range[0]), float(fixed_range[1]))
        #: set by edgeq.qat.calibrate: update with the running min/max while called with training=False
        self._calibrating = False

    def build(self, input_shape):
        if self.fixed_range is None:
            kw = dict(shape=(), initializer="zeros", trainable=False, dtype="float32", autocast=False,
                      aggregation="mean")
            self.range_min = self.add_weight(name="range_min", **kw)
            self.range_max = self.add_weight(name="range_max", **kw)
            self.range_seen = self.add_weight(name="range_seen", **kw)
        self.built = True

    # -- what the converter will use -------------------------------------------------------------------------------
    @property
    def has_range(self) -> bool:
        return self.fixed_range is not None or (self.built and float(self.range_seen.numpy()) > 0)

    def range(self) -> tuple[float, float]:
        """The (min, max) fed to fake_quant at inference (before TF's zero-point nudging)."""
        if self.fixed_range is not None:
            return self.fixed_range
        lo = min(float(self.range_min.numpy()), 0.0)
        hi = max(float(self.range_max.numpy()), lo + MIN_RANGE, 0.0)
        return lo, hi

    def call(self, x, training=None):
        if self.fixed_range is not None:
            lo, hi = self.fixed_range
            return tf.quantization.fake_quant_with_min_max_args(x, min=lo, max=hi, num_bits=8, narrow_range=False)
        if training or self._calibrating:
            bmin = tf.minimum(tf.reduce_min(x), 0.0)
            bmax = tf.maximum(tf.reduce_max(x), 0.0)
            seen = tf.convert_to_tensor(self.range_seen) > 0
            old_min = tf.convert_to_tensor(self.range_min)
            old_max = tf.convert_to_tensor(self.range_max)
            if self._calibrating:  # plain min/max over all calibration batches, like post-training calibration
                new_min = tf.where(seen, tf.minimum(old_min, bmin), bmin)
                new_max = tf.where(seen, tf.maximum(old_max, bmax), bmax)
            else:
                d = self.ema_decay
                new_min = tf.where(seen, d * old_min + (1.0 - d) * bmin, bmin)
                new_max = tf.where(seen, d * old_max + (1.0 - d) * bmax, bmax)
            self.range_min.assign(new_min)
            self.range_max.assign(new_max)
            self.range_seen.assign(tf.ones_like(old_min))
            lo, hi = new_min, new_max
        else:
            lo = tf.convert_to_tensor(self.range_min)
            hi = tf.convert_to_tensor(self.range_max)
        lo = tf.minimum(lo, 0.0)
        hi = tf.maximum(tf.maximum(hi, lo + MIN_RANGE), 0.0)
        return tf.quantization.fake_quant_with_min_max_vars(x, lo, hi, num_bits=8, narrow_range=False)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        cfg = super().get_config()
        cfg.update(ema_decay=self.ema_decay, fixed_range=self.fixed_range)
        return cfg


class _QuantLayerBase(keras.layers.Layer):
    """Common parts: the output quantizer and the names of the float layers this layer replaces."""

    def __init__(self, activation: str = "linear", ema_decay: float = 0.99, source_layers=(), **kwargs):
        super().__init__(**kwargs)
        activation = activation or "linear"
        if activation not in FUSABLE_ACTIVATIONS + tuple(FIXED_RANGES) + OWN_RANGE_ACTIVATIONS \
                and not activation.startswith("leaky_relu:"):
            raise ValueError(f"activation {activation!r} cannot be fused (use one of {FUSABLE_ACTIVATIONS})")
        self.activation = activation
        self.ema_decay = float(ema_decay)
        self.source_layers = tuple(source_layers) or (self.name,)
        self.output_quant = FakeQuant(ema_decay=ema_decay, fixed_range=FIXED_RANGES.get(activation),
                                      name="output_quant")

    def get_config(self):
        cfg = super().get_config()
        cfg.update(activation=self.activation, ema_decay=self.ema_decay, source_layers=list(self.source_layers))
        return cfg


class _WeightLayerBase(_QuantLayerBase):
    """Kernel + bias + optional folded BatchNormalization (moving statistics, gamma/beta trainable)."""

    def __init__(self, use_bias: bool = True, batchnorm: dict | None = None, **kwargs):
        super().__init__(**kwargs)
        self.use_bias = bool(use_bias)
        # {"epsilon": float, "center": bool, "scale": bool}: a folded BatchNormalization, or None
        self.batchnorm = None if batchnorm is None else dict(batchnorm)

    def _kernel_shape(self, input_shape) -> tuple[int, ...]:
        raise NotImplementedError

    def _channels(self, input_shape) -> int:
        raise NotImplementedError

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=self._kernel_shape(input_shape),
                                      initializer="glorot_uniform")
        n = self._channels(input_shape)
        self.bias = self.add_weight(name="bias", shape=(n,), initializer="zeros") if self.use_bias else None
        if self.batchnorm is not None:
            bn = self.batchnorm
            self.bn_gamma = self.add_weight(name="bn_gamma", shape=(n,), initializer="ones",
                                            trainable=bool(bn.get("scale", True)))
            self.bn_beta = self.add_weight(name="bn_beta", shape=(n,), initializer="zeros",
                                           trainable=bool(bn.get("center", True)))
            self.bn_moving_mean = self.add_weight(name="bn_moving_mean", shape=(n,), initializer="zeros",
                                                  trainable=False)
            self.bn_moving_variance = self.add_weight(name="bn_moving_variance", shape=(n,), initializer="ones",
                                                      trainable=False)
        self.output_quant.build(None)
        self.built = True

    def folded(self):
        """(kernel, bias) with the BatchNormalization folded in, as float tensors (what TFLite will see)."""
        w = tf.convert_to_tensor(self.kernel)
        n = w.shape[-1] if not isinstance(self, QDepthwiseConv2D) else w.shape[-2] * w.shape[-1]
        b = tf.convert_to_tensor(self.bias) if self.bias is not None else tf.zeros((n,), w.dtype)
        if self.batchnorm is None:
            return w, b
        mult = tf.convert_to_tensor(self.bn_gamma) * tf.math.rsqrt(
            tf.convert_to_tensor(self.bn_moving_variance) + self.batchnorm["epsilon"])
        b = tf.convert_to_tensor(self.bn_beta) + (b - tf.convert_to_tensor(self.bn_moving_mean)) * mult
        if isinstance(self, QDepthwiseConv2D):
            w = w * tf.reshape(mult, (w.shape[-2], w.shape[-1]))
        else:
            w = w * mult
        return w, b

    def quantized_kernel(self):
        raise NotImplementedError

    def get_config(self):
        cfg = super().get_config()
        cfg.update(use_bias=self.use_bias, batchnorm=self.batchnorm)
        return cfg


@keras.saving.register_keras_serializable(package=_PACKAGE)
class QConv2D(_WeightLayerBase):
    """Conv2D (+ folded BatchNormalization + fused ReLU/ReLU6) with per-channel int8 weights and int8 output."""

    def __init__(self, filters: int, kernel_size, strides=(1, 1), padding: str = "valid", dilation_rate=(1, 1),
                 **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = tuple(int(k) for k in kernel_size)
        self.strides = tuple(int(s) for s in strides)
        self.padding = padding
        self.dilation_rate = tuple(int(d) for d in dilation_rate)

    def _kernel_shape(self, input_shape):
        return (*self.kernel_size, int(input_shape[-1]), self.filters)

    def _channels(self, input_shape):
        return self.filters

    def quantized_kernel(self):
        w, b = self.folded()
        return fake_quant_weights(w, per_channel=True), b

    def call(self, x, training=None):
        w, b = self.quantized_kernel()
        y = tf.nn.conv2d(x, w, strides=(1, *self.strides, 1), padding=self.padding.upper(),
                         dilations=(1, *self.dilation_rate, 1))
        y = tf.nn.bias_add(y, b)
        return self.output_quant(_apply_activation(y, self.activation), training=training)

    def compute_output_shape(self, input_shape):
        return keras.layers.Conv2D(self.filters, self.kernel_size, self.strides, self.padding,
                                   dilation_rate=self.dilation_rate).compute_output_shape(input_shape)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(filters=self.filters, kernel_size=self.kernel_size, strides=self.strides, padding=self.padding,
                   dilation_rate=self.dilation_rate)
        return cfg


@keras.saving.register_keras_serializable(package=_PACKAGE)
class QDepthwiseConv2D(_WeightLayerBase):
    """DepthwiseConv2D (+ folded BN + fused ReLU/ReLU6), int8 weights per output channel (``cin * multiplier``)."""

    def __init__(self, kernel_size, strides=(1, 1), padding: str = "valid", depth_multiplier: int = 1,
                 dilation_rate=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = tuple(int(k) for k in kernel_size)
        self.strides = tuple(int(s) for s in strides)
        self.padding = padding
        self.depth_multiplier = int(depth_multiplier)
        self.dilation_rate = tuple(int(d) for d in dilation_rate)

    def _kernel_shape(self, input_shape):
        return (*self.kernel_size, int(input_shape[-1]), self.depth_multiplier)

    def _channels(self, input_shape):
        return int(input_shape[-1]) * self.depth_multiplier

    def quantized_kernel(self):
        w, b = self.folded()
        kh, kw, cin, mult = w.shape
        # TFLite's depthwise kernel is (1, kh, kw, cin * mult) with one scale per output channel c * mult + m.
        wq = fake_quant_weights(tf.reshape(w, (kh, kw, 1, cin * mult)), per_channel=True)
        return tf.reshape(wq, (kh, kw, cin, mult)), b

    def call(self, x, training=None):
        w, b = self.quantized_kernel()
        y = tf.nn.depthwise_conv2d(x, w, strides=(1, *self.strides, 1), padding=self.padding.upper(),
                                   dilations=self.dilation_rate)
        y = tf.nn.bias_add(y, b)
        return self.output_quant(_apply_activation(y, self.activation), training=training)

    def compute_output_shape(self, input_shape):
        return keras.layers.DepthwiseConv2D(self.kernel_size, self.strides, self.padding,
                                            depth_multiplier=self.depth_multiplier,
                                            dilation_rate=self.dilation_rate).compute_output_shape(input_shape)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(kernel_size=self.kernel_size, strides=self.strides, padding=self.padding,
                   depth_multiplier=self.depth_multiplier, dilation_rate=self.dilation_rate)
        return cfg


@keras.saving.register_keras_serializable(package=_PACKAGE)
class QConv1D(QConv2D):
    """Conv1D as TFLite runs it: RESHAPE to (1, W, C) rows, CONV_2D with a (1, k) kernel, RESHAPE back.

    The kernel is stored as ``(1, k, cin, filters)`` (per-channel int8 like :class:`QConv2D`); strides and dilation
    act on the width. ``kernel_size``/``strides``/``dilation_rate`` are given as 1-D values.
    """

    def __init__(self, filters: int, kernel_size, strides=1, padding: str = "valid", dilation_rate=1, **kwargs):
        k = _one(kernel_size)
        super().__init__(filters, (1, k), strides=(1, _one(strides)), padding=padding,
                         dilation_rate=(1, _one(dilation_rate)), **kwargs)

    def call(self, x, training=None):
        w, b = self.quantized_kernel()
        y = tf.nn.conv2d(tf.expand_dims(x, 1), w, strides=(1, *self.strides, 1), padding=self.padding.upper(),
                         dilations=(1, *self.dilation_rate, 1))
        y = tf.squeeze(tf.nn.bias_add(y, b), axis=1)
        return self.output_quant(_apply_activation(y, self.activation), training=training)

    def compute_output_shape(self, input_shape):
        return keras.layers.Conv1D(self.filters, self.kernel_size[1], self.strides[1], self.padding,
                                   dilation_rate=self.dilation_rate[1]).compute_output_shape(input_shape)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(kernel_size=self.kernel_size[1], strides=self.strides[1], dilation_rate=self.dilation_rate[1])
        return cfg


@keras.saving.register_keras_serializable(package=_PACKAGE)
class QDepthwiseConv1D(QDepthwiseConv2D):
    """DepthwiseConv1D as TFLite runs it: DEPTHWISE_CONV_2D with a (1, k) kernel between two RESHAPEs."""

    def __init__(self, kernel_size, strides=1, padding: str = "valid", depth_multiplier: int = 1, dilation_rate=1,
                 **kwargs):
        super().__init__((1, _one(kernel_size)), strides=(1, _one(strides)), padding=padding,
                         depth_multiplier=depth_multiplier, dilation_rate=(1, _one(dilation_rate)), **kwargs)

    def call(self, x, training=None):
        w, b = self.quantized_kernel()
        y = tf.nn.depthwise_conv2d(tf.expand_dims(x, 1), w, strides=(1, *self.strides, 1),
                                   padding=self.padding.upper(), dilations=self.dilation_rate)
        y = tf.squeeze(tf.nn.bias_add(y, b), axis=1)
        return self.output_quant(_apply_activation(y, self.activation), training=training)

    def compute_output_shape(self, input_shape):
        return keras.layers.DepthwiseConv1D(self.kernel_size[1], self.strides[1], self.padding,
                                            depth_multiplier=self.depth_multiplier,
                                            dilation_rate=self.dilation_rate[1]).compute_output_shape(input_shape)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(kernel_size=self.kernel_size[1], strides=self.strides[1], dilation_rate=self.dilation_rate[1])
        return cfg


def _one(v) -> int:
    """A 1-D size given as an int or a 1-tuple."""
    return int(v[0]) if isinstance(v, (list, tuple)) else int(v)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class QDense(_WeightLayerBase):
    """Dense (+ folded BN + fused ReLU/ReLU6) with per-tensor int8 weights (per output channel with
    ``per_channel=True``) and int8 output.

    A softmax/sigmoid of the float Dense becomes a separate :class:`QActivation` (TFLite keeps SOFTMAX/LOGISTIC as
    their own op, with a fixed output range).
    """

    def __init__(self, units: int, per_channel: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.per_channel = bool(per_channel)

    def _kernel_shape(self, input_shape):
        return (int(input_shape[-1]), self.units)

    def _channels(self, input_shape):
        return self.units

    def quantized_kernel(self):
        w, b = self.folded()
        if self.per_channel:
            return round_weights_per_channel(w), b
        return fake_quant_weights(w, per_channel=False), b

    def call(self, x, training=None):
        w, b = self.quantized_kernel()
        y = tf.matmul(x, w) if len(x.shape) == 2 else tf.tensordot(x, w, axes=1)
        y = tf.nn.bias_add(y, b)
        return self.output_quant(_apply_activation(y, self.activation), training=training)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(units=self.units, per_channel=self.per_channel)
        return cfg


@keras.saving.register_keras_serializable(package=_PACKAGE)
class QAdd(_QuantLayerBase):
    """Element-wise sum of its inputs (+ fused ReLU/ReLU6), int8 output."""

    def build(self, input_shape):
        self.output_quant.build(None)
        self.built = True

    def call(self, inputs, training=None):
        y = inputs[0]
        for other in inputs[1:]:
            y = y + other
        return self.output_quant(_apply_activation(y, self.activation), training=training)

    def compute_output_shape(self, input_shape):
        return input_shape[0]


@keras.saving.register_keras_serializable(package=_PACKAGE)
class QConcatenate(_QuantLayerBase):
    """Concatenate along ``axis`` with its own int8 output range (the converter requantizes inputs whose range
    differs, as CONCATENATION needs one scale)."""

    def __init__(self, axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def build(self, input_shape):
        self.output_quant.build(None)
        self.built = True

    def call(self, inputs, training=None):
        return self.output_quant(tf.concat(list(inputs), axis=self.axis), training=training)

    def compute_output_shape(self, input_shape):
        return keras.layers.Concatenate(axis=self.axis).compute_output_shape(input_shape)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(axis=self.axis)
        return cfg


@keras.saving.register_keras_serializable(package=_PACKAGE)
class QActivation(_QuantLayerBase):
    """A stand-alone activation: ReLU/ReLU6/hard_swish/leaky_relu (own range) or softmax/sigmoid/tanh (fixed)."""

    def build(self, input_shape):
        self.output_quant.build(None)
        self.built = True

    def call(self, x, training=None):
        return self.output_quant(_apply_activation(x, self.activation), training=training)

    def compute_output_shape(self, input_shape):
        return input_shape


#: every QAT layer class by name (for custom_objects and isinstance checks)
QAT_LAYERS = {cls.__name__: cls for cls in (FakeQuant, QConv2D, QDepthwiseConv2D, QConv1D, QDepthwiseConv1D, QDense,
                                             QAdd, QConcatenate, QActivation)}


def fake_quant_layers(model) -> list[FakeQuant]:
    """Every activation quantizer in ``model`` (nested in the QAT layers), in layer order."""
    out = []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, FakeQuant):
            out.append(layer)
    return out
