"""Recurrent Keras 3 layers in a form the TFLite converter turns into MCU ops.

Keras 3 runs LSTM/GRU/SimpleRNN as a ``while`` loop over variables. The TFLite converter turns that into WHILE +
READ_VARIABLE subgraphs that no MCU runtime executes, and its int8 calibrator crashes on them (a segfault, not an
exception). edgeq therefore rebuilds the model's forward pass for the converter (:func:`converter_function`):

* ``LSTM`` (tanh / sigmoid, no state outputs, not stateful) becomes one call of a function marked the way Keras 2
  marked its LSTM (``api_implements="lstm_<id>"``, ``time_major``, ``go_backwards``, six tensor arguments, five
  results): the converter's composite-function pass replaces it by one ``UNIDIRECTIONAL_SEQUENCE_LSTM`` op. Its int8
  quantization keeps the cell state in int16, as TFLM's int8 LSTM kernel expects.
* ``GRU``, ``SimpleRNN`` and an LSTM the fused op cannot express are unrolled over the (fixed) time axis with the
  layer's own cell: UNPACK, FULLY_CONNECTED, LOGISTIC, TANH, MUL, ADD/SUB per step. TFLite has no fused GRU op; the
  unrolled graph is fully int8 and every op in it has a TFLM int8 kernel.
* ``Bidirectional`` becomes its forward and backward layers (each as above) merged as Keras merges them.

The batch is fixed to 1 (the fused LSTM needs a static state shape; MCUs run batch 1). Everything else replays the
model's own layers. TensorFlow is imported inside the functions.
"""

from __future__ import annotations

import uuid
from typing import Any

RECURRENT_TYPES = ("LSTM", "GRU", "SimpleRNN", "Bidirectional")


def recurrent_layers(model) -> list[Any]:
    """The recurrent layers of a Keras model (nested models included), in layer order."""
    out = []
    for layer in model._flatten_layers(include_self=False, recursive=True):  # noqa: SLF001 - Keras 3 API
        if type(layer).__name__ in RECURRENT_TYPES and type(layer).__module__.startswith("keras"):
            out.append(layer)
    return out


def describe(layers) -> str:
    return ", ".join(f"{layer.name!r} ({type(layer).__name__})" for layer in layers)


def _act(fn) -> str:
    name = getattr(fn, "__name__", None) or str(fn)
    return name


def fusable_lstm(layer) -> str | None:
    """None when ``layer`` (a keras LSTM) maps onto UNIDIRECTIONAL_SEQUENCE_LSTM, else why not."""
    cell = layer.cell
    if _act(cell.activation) != "tanh" or _act(cell.recurrent_activation) != "sigmoid":
        return "activation other than tanh/sigmoid"
    if layer.return_state:
        return "return_state=True"
    if layer.stateful:
        return "stateful=True"
    return None


def _lstm_body(inputs, init_h, init_c, kernel, recurrent_kernel, bias, *, go_backwards: bool):
    """What the fused op computes (Keras gate order i, f, c, o); the converter replaces this body."""
    import tensorflow as tf

    steps = tf.unstack(inputs, axis=1)
    if go_backwards:
        steps = steps[::-1]
    h, c = init_h, init_c
    outs = []
    for x in steps:
        z = tf.matmul(x, kernel) + tf.matmul(h, recurrent_kernel) + bias
        i, f, g, o = tf.split(z, 4, axis=1)
        c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
        h = tf.sigmoid(o) * tf.tanh(c)
        outs.append(h)
    return h, tf.stack(outs, axis=1), h, c, tf.constant(0.0)


def fused_lstm(layer, x):
    """``layer`` (a keras LSTM) applied to ``x`` (batch fixed) as one converter-fusable function call."""
    import tensorflow as tf

    cell = layer.cell
    units = int(cell.units)
    batch = int(x.shape[0])
    kernel = tf.convert_to_tensor(cell.kernel.value)
    recurrent = tf.convert_to_tensor(cell.recurrent_kernel.value)
    bias = tf.convert_to_tensor(cell.bias.value) if cell.use_bias else tf.zeros((4 * units,), kernel.dtype)
    zeros = tf.zeros((batch, units), kernel.dtype)
    go_backwards = bool(layer.go_backwards)
    attrs = {"api_implements": f"lstm_{uuid.uuid4()}", "api_preferred_device": "CPU", "time_major": False,
             "go_backwards": go_backwards}
    fn = tf.function(lambda i, h, c, k, r, b: _lstm_body(i, h, c, k, r, b, go_backwards=go_backwards),
                     experimental_attributes=attrs, autograph=False)
    last, seq, _, _, _ = fn(x, zeros, zeros, kernel, recurrent, bias)
    return seq if layer.return_sequences else last


def unrolled(layer, x):
    """``layer`` (LSTM / GRU / SimpleRNN) applied to ``x`` step by step with its own cell (no loop op)."""
    import tensorflow as tf

    cell = layer.cell
    batch = int(x.shape[0])
    sizes = cell.state_size if isinstance(cell.state_size, (list, tuple)) else [cell.state_size]
    states = [tf.zeros((batch, int(s)), x.dtype) for s in sizes]
    steps = tf.unstack(x, axis=1)
    if layer.go_backwards:
        steps = steps[::-1]
    outs = []
    for step in steps:
        y, new = cell(step, states if len(states) > 1 else states[0], training=False)
        states = list(new) if isinstance(new, (list, tuple)) else [new]
        outs.append(y)
    out = tf.stack(outs, axis=1) if layer.return_sequences else outs[-1]
    return [out, *states] if layer.return_state else out


def recurrent_call(layer, x, *, fuse_lstm: bool = True):
    """A keras LSTM/GRU/SimpleRNN/Bidirectional layer on ``x`` (fixed batch), as the converter should see it.
    ``fuse_lstm=False`` unrolls LSTMs too (the converter has no int16x8 fused LSTM)."""
    import tensorflow as tf

    name = type(layer).__name__
    if name == "Bidirectional":
        if layer.return_state:
            raise _unsupported(layer, "return_state=True")
        fwd = recurrent_call(layer.forward_layer, x, fuse_lstm=fuse_lstm)
        bwd = recurrent_call(layer.backward_layer, x, fuse_lstm=fuse_lstm)
        if layer.return_sequences:
            bwd = tf.reverse(bwd, axis=[1])
        mode = layer.merge_mode
        if mode == "concat":
            return tf.concat([fwd, bwd], axis=-1)
        if mode == "sum":
            return fwd + bwd
        if mode == "ave":
            return (fwd + bwd) / 2
        if mode == "mul":
            return fwd * bwd
        raise _unsupported(layer, f"merge_mode={mode!r}")
    if getattr(layer, "stateful", False):
        raise _unsupported(layer, "stateful=True")
    if name == "LSTM" and fuse_lstm and fusable_lstm(layer) is None:
        return fused_lstm(layer, x)
    return unrolled(layer, x)


def _unsupported(layer, why: str):
    from edgeq.errors import UnsupportedError

    return UnsupportedError(f"recurrent layer {layer.name!r} ({type(layer).__name__}) has {why}, which edgeq "
                            f"cannot convert for a microcontroller", where=layer.name,
                            hint="rebuild the layer without it (the converter would make a WHILE loop)")


def converter_function(model, input_shapes: list[tuple[int, ...]], *, fuse_lstm: bool = True):
    """(concrete function with the batch fixed, trackable object holding the variables) for the converter.

    ``from_concrete_functions([cf], trackable)`` keeps the marked LSTM functions intact (the graph-freezing path
    without a trackable object inlines them first, and nothing is fused)."""
    import keras
    import tensorflow as tf

    from edgeq.qat.transform import read_graph, replay

    g = read_graph(model)
    specs = [tf.TensorSpec(s, tf.float32, name=f"input_{i}") for i, s in enumerate(input_shapes)]

    def make(node):
        if type(node.op).__name__ in RECURRENT_TYPES and type(node.op).__module__.startswith("keras"):
            layer = node.op
            return lambda x, *a, **kw: recurrent_call(layer, x, fuse_lstm=fuse_lstm)
        return node.op

    def forward(*xs):
        outs = replay(g, list(xs), make, strip_kwargs=("training", "mask"))
        return outs[0] if len(outs) == 1 else outs

    fn = tf.function(forward, input_signature=specs, autograph=False)
    cf = fn.get_concrete_function()
    holder = tf.Module()
    holder.variables_ = [v.value if isinstance(v, keras.Variable) else v for v in model.weights]
    holder.forward = fn
    return cf, holder
