"""Clone a float Keras 3 model (Sequential or functional, residual branches, nested models) into its QAT twin.

The float graph is read into a flat list of nodes (nested models inlined), then rewritten the way the TFLite
converter will see it:

* ``Conv2D | DepthwiseConv2D | Dense`` [-> ``BatchNormalization``] [-> ``ReLU``/``ReLU6``] becomes one
  :class:`~edgeq.qat.layers.QConv2D` / ``QDepthwiseConv2D`` / ``QDense`` (BN folded, activation fused, output range);
* ``Add`` [-> ReLU] becomes :class:`~edgeq.qat.layers.QAdd`;
* a stand-alone ReLU/ReLU6/softmax/sigmoid becomes :class:`~edgeq.qat.layers.QActivation`; a softmax/sigmoid inside
  a weight layer is split off the same way (TFLite keeps them as separate ops with a fixed int8 range);
* ops that keep their input's scale in int8 (pooling, Flatten, Reshape, Dropout, ZeroPadding2D) are cloned as they
  are: the converter propagates the range through them;
* each model input gets a :class:`~edgeq.qat.layers.FakeQuant` (EMA range, or ``input_range``).

Anything else is listed in one :class:`~edgeq.errors.UnsupportedError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import keras

from edgeq.errors import EdgeqError, UnsupportedError
from edgeq.qat import layers as Q

PTQ_HINT = "use post-training quantization instead: 'edgeq quantize MODEL --mode int8 --data CALIB.npy'"

# ops that TFLite runs in int8 with the input's scale: cloned unchanged, no range of their own
_SAME_SCALE = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D, keras.layers.MaxPooling1D,
               keras.layers.AveragePooling1D, keras.layers.GlobalMaxPooling1D, keras.layers.GlobalMaxPooling2D,
               keras.layers.Flatten, keras.layers.Reshape, keras.layers.Permute,
               keras.layers.Dropout, keras.layers.SpatialDropout1D, keras.layers.SpatialDropout2D,
               keras.layers.ZeroPadding1D, keras.layers.ZeroPadding2D, keras.layers.UpSampling1D,
               keras.layers.UpSampling2D, keras.layers.Cropping1D, keras.layers.Cropping2D,
               keras.layers.GaussianNoise, keras.layers.GaussianDropout, keras.layers.ActivityRegularization)
# ops with their own output range (MEAN rescales)
_OWN_RANGE_POOL = (keras.layers.GlobalAveragePooling2D, keras.layers.GlobalAveragePooling1D)
_CONV1D = (keras.layers.Conv1D, keras.layers.DepthwiseConv1D, keras.layers.SeparableConv1D)
_WEIGHT = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense, keras.layers.SeparableConv2D) \
    + _CONV1D


@dataclass
class _Node:
    op: Any  # the keras Layer / Operation
    arguments: Any  # keras SymbolicArguments of the call (structure of the call args)
    in_keys: list  # one key per arguments.keras_tensors
    out_keys: list
    path: str  # "outer_model/inner_model" for nested models, "" at top level

    @property
    def name(self) -> str:
        return getattr(self.op, "name", type(self.op).__name__)


@dataclass
class _Graph:
    inputs: list  # keys
    input_layers: list  # the InputLayer (or None) for each input
    outputs: list  # keys
    outputs_struct: Any
    nodes: list[_Node] = field(default_factory=list)

    def consumers(self) -> dict:
        out: dict = {}
        for n in self.nodes:
            for k in n.in_keys:
                out.setdefault(k, []).append(n)
        return out

    def producer(self) -> dict:
        return {k: n for n in self.nodes for k in n.out_keys}


def _functional_of(model):
    """The Functional graph behind ``model`` (a Sequential's own functional twin)."""
    if isinstance(model, keras.Sequential):
        fn = getattr(model, "_functional", None)
        if fn is None:
            raise EdgeqError("the Sequential model is not built: its input shape is unknown", where=model.name,
                             hint="start it with keras.Input(shape) or call model.build(input_shape)")
        return fn
    if not hasattr(model, "_nodes_by_depth"):
        raise UnsupportedError(f"{type(model).__name__} is a subclassed model: its graph cannot be read",
                               where=model.name, hint="rebuild it as a Sequential or functional model, or " + PTQ_HINT)
    return model


def read_graph(model) -> _Graph:
    """Flatten ``model`` (Sequential / functional, nested models inlined) into nodes in execution order."""
    fn = _functional_of(model)
    ins = [("in", i) for i in range(len(fn.inputs))]
    g = _Graph(inputs=ins, input_layers=[getattr(t, "_keras_history", (None,))[0] for t in fn.inputs],
               outputs=[], outputs_struct=getattr(fn, "_outputs_struct", None))
    counter = [0]
    g.outputs = _emit(fn, ins, g, "", counter)
    return g


def _emit(fn, in_keys: list, g: _Graph, path: str, counter: list) -> list:
    local: dict[int, Any] = {id(t): k for t, k in zip(fn.inputs, in_keys)}
    for depth in sorted(fn._nodes_by_depth, reverse=True):
        for node in fn._nodes_by_depth[depth]:
            op = node.operation
            if op is None or node.is_input or isinstance(op, keras.layers.InputLayer):
                continue
            if any(id(t) not in local for t in node.input_tensors):
                continue  # not reachable from the inputs (keras skips these too)
            n_in = [local[id(t)] for t in node.input_tensors]
            if isinstance(op, keras.Model):  # nested model: inline its graph
                inner = _functional_of(op)
                if len(n_in) != len(inner.inputs):
                    raise UnsupportedError("nested model called with an unexpected number of inputs", where=op.name)
                outs = _emit(inner, n_in, g, f"{path}{op.name}/", counter)
                for t, k in zip(node.outputs, outs):
                    local[id(t)] = k
                continue
            keys = []
            for _ in node.outputs:
                counter[0] += 1
                keys.append(("t", counter[0]))
            for t, k in zip(node.outputs, keys):
                local[id(t)] = k
            g.nodes.append(_Node(op, node.arguments, n_in, keys, path))
    return [local[id(t)] for t in fn.outputs]


def replay(g: _Graph, inputs: list, make=lambda node: node.op, *, strip_kwargs=()) -> list:
    """Run the node list on new symbolic ``inputs``; ``make(node)`` returns the callable for a node (or None to
    pass its single input through)."""
    values: dict = dict(zip(g.inputs, inputs))
    for node in g.nodes:
        fn = make(node)
        if fn is None:
            y = values[node.in_keys[0]]
            values[node.out_keys[0]] = y
            continue
        args, kwargs = node.arguments.fill_in({id(t): values[k]
                                               for t, k in zip(node.arguments.keras_tensors, node.in_keys)})
        for key in strip_kwargs:
            kwargs.pop(key, None)
        out = fn(*args, **kwargs)
        flat = keras.tree.flatten(out)
        for k, y in zip(node.out_keys, flat):
            values[k] = y
    return [values[k] for k in g.outputs]


# -- classification -------------------------------------------------------------------------------------------------

def _act_name(fn) -> str | None:
    """'relu', 'relu6', 'linear', 'softmax', 'sigmoid', or None for anything else."""
    if fn is None:
        return "linear"
    try:
        name = keras.activations.serialize(fn)
    except Exception:  # noqa: BLE001 - a custom callable
        return None
    if isinstance(name, dict):
        name = name.get("config", name.get("class_name"))
    if name in ("hard_silu", "hard_swish"):
        return "hard_swish"
    if name == "leaky_relu":
        return "leaky_relu"
    return name if name in Q.FUSABLE_ACTIVATIONS + tuple(Q.FIXED_RANGES) else None


def _activation_of(op) -> str | None:
    """The activation a stand-alone activation layer applies, or None when it is not one edgeq can quantize."""
    if type(op) is keras.layers.LeakyReLU:
        return f"leaky_relu:{float(op.negative_slope)}"
    if type(op) is keras.layers.ReLU:
        if float(op.threshold or 0) != 0:
            return None
        if float(op.negative_slope or 0) != 0:
            return f"leaky_relu:{float(op.negative_slope)}" if op.max_value is None else None
        if op.max_value is None:
            return "relu"
        return "relu6" if float(op.max_value) == 6.0 else None
    if type(op) is keras.layers.Activation:
        return _act_name(op.activation)
    if type(op) is keras.layers.Softmax:
        axis = op.axis if isinstance(op.axis, int) else (op.axis[0] if len(op.axis) == 1 else None)
        return "softmax" if axis == -1 else None
    return _op_activation(op)


def _op_activation(op) -> str | None:
    """keras.ops / keras.activations called on symbolic tensors (``keras.ops.relu(x)``, ``keras.activations.relu``)."""
    mod, cls = type(op).__module__, type(op).__name__
    if mod.startswith("keras.src.ops.nn"):
        if cls == "Softmax":
            axis = getattr(op, "axis", -1)
            return "softmax" if axis in (-1, None) else None
        return {"Relu": "relu", "Relu6": "relu6", "Sigmoid": "sigmoid", "Tanh": "tanh", "HardSilu": "hard_swish",
                "LeakyRelu": "leaky_relu"}.get(cls)
    if mod.startswith("keras.src.activations") and cls == "ReLU":
        if float(getattr(op, "negative_slope", 0) or 0) != 0 or float(getattr(op, "threshold", 0) or 0) != 0:
            return None
        mv = getattr(op, "max_value", None)
        return "relu" if mv is None else ("relu6" if float(mv) == 6.0 else None)
    return None


def _is_add(op) -> bool:
    return type(op) is keras.layers.Add or (type(op).__name__ == "Add" and type(op).__module__.startswith(
        "keras.src.ops"))


def _is_concat(op) -> bool:
    return type(op) is keras.layers.Concatenate


def _why_unsupported(node: _Node) -> str | None:
    op = node.op
    if type(op) in _WEIGHT:
        if getattr(op, "data_format", "channels_last") != "channels_last":
            return "channels_first"
        if getattr(op, "padding", "valid") == "causal":
            return "causal padding (pad with ZeroPadding1D before the layer instead)"
        if getattr(op, "groups", 1) != 1:
            return "grouped convolution"
        if _act_name(op.activation) is None:
            return f"activation {getattr(op.activation, '__name__', op.activation)!r}"
        if getattr(op, "lora_enabled", False):
            return "LoRA enabled"
        return None
    if type(op) in _SAME_SCALE or type(op) in _OWN_RANGE_POOL:
        if getattr(op, "data_format", "channels_last") != "channels_last":
            return "channels_first"
        return None
    if _is_add(op) or _is_concat(op):
        return None
    if type(op) is keras.layers.BatchNormalization:
        return None  # decided by the fusion pass
    if type(op) in (keras.layers.ReLU, keras.layers.Activation, keras.layers.Softmax, keras.layers.LeakyReLU):
        return None if _activation_of(op) is not None else "activation"
    if _op_activation(op) is not None:
        return None
    return "layer"


# -- the transform --------------------------------------------------------------------------------------------------

def _single_consumer(g: _Graph, consumers: dict, key) -> _Node | None:
    users = consumers.get(key, [])
    if len(users) != 1 or key in g.outputs:
        return None
    return users[0]


def _bn_foldable(node: _Node) -> str | None:
    """None when the BatchNormalization normalises the channel (last) axis without renorm, else why not."""
    bn = node.op
    axis = bn.axis if isinstance(bn.axis, int) else (bn.axis[0] if len(bn.axis) == 1 else None)
    rank = len(node.arguments.keras_tensors[0].shape)
    if axis not in (-1, rank - 1):
        return "normalises a non-channel axis"
    if getattr(bn, "renorm", False):
        return "renorm"
    return None


def _is_recurrent(op) -> bool:
    return type(op).__name__ in ("LSTM", "GRU", "SimpleRNN", "Bidirectional") \
        and type(op).__module__.startswith("keras")


def post_training_layers(model, names=None) -> list[str]:
    """The layers of ``model`` a QAT model leaves to post-training calibration: the recurrent ones (LSTM, GRU,
    SimpleRNN, Bidirectional: the converter fuses or unrolls them, its calibrator sets their ranges) and ``names``."""
    g = read_graph(model)
    known = {f"{n.path}{n.name}" for n in g.nodes} | {n.name for n in g.nodes}
    unknown = sorted(set(names or ()) - known)
    if unknown:
        raise EdgeqError(f"no layer named {', '.join(map(repr, unknown))} in the model", where=model.name,
                         hint="layer names: " + ", ".join(sorted(n.name for n in g.nodes))[:300])
    return [f"{n.path}{n.name}" for n in g.nodes
            if _is_recurrent(n.op) or n.name in set(names or ()) or f"{n.path}{n.name}" in set(names or ())]


def quantize_model(model, *, input_range: tuple[float, float] | None = None, ema_decay: float = 0.99,
                   name: str | None = None, post_training: list[str] | tuple[str, ...] | None = None,
                   per_channel_dense: bool = False, train_recurrent: bool = False):
    """Return a trainable Keras 3 model that fake-quantizes ``model`` the way TFLite int8 inference will run it.

    ``model``: a built Sequential or functional Keras 3 model (float32, channels-last). Its weights are copied; the
    original is not changed. ``input_range=(lo, hi)`` fixes the input's int8 range (e.g. ``(0, 1)`` for normalised
    images); otherwise it is learned like every activation range: by an EMA (``ema_decay``) of the batch min/max while
    training. Train the result with ``model.fit``; convert it with :func:`edgeq.qat.convert`.

    Selective quantization (like tfmot's ``quantize_annotate_layer``, the other way round): the layers named in
    ``post_training`` and every recurrent layer (LSTM, GRU, SimpleRNN, Bidirectional) get no fake quantization;
    they run in float inside the QAT model and the converter calibrates their ranges post-training
    (:func:`edgeq.qat.convert` then needs ``calibration_data``). A BatchNormalization right after such a layer stays
    with it.

    The recurrent layers are frozen (``trainable = False``) unless ``train_recurrent``: they are calibrated after
    training anyway, so fine-tuning them in float teaches them nothing about quantization and only moves them away
    from the weights post-training quantization was measured on; frozen, the fake-quantized layers around them adapt
    to them. On the gesture GRU of ``benchmarks/hobbyist.py`` (2,000 test windows, three QAT seeds) QAT int8 was
    96.80-96.90 % with the GRU trained and 97.15 % frozen (PTQ int8 97.05 %); on the gesture LSTM 95.10-95.80 %
    trained and 95.30 % frozen (PTQ 95.25-95.35 %: within the seed-to-seed spread).

    ``per_channel_dense``: int8 Dense weights per output channel (as ``edgeq quantize`` does by default) instead of
    per tensor; :func:`edgeq.qat.convert` then writes per-channel FULLY_CONNECTED weights, the trained ones exactly.

    Raises :class:`~edgeq.errors.UnsupportedError` listing every layer it cannot quantize.
    """
    if not isinstance(model, keras.Model):
        raise EdgeqError(f"expected a Keras 3 model, got {type(model).__name__}",
                         hint="load it with keras.models.load_model (a tf_keras / Keras 2 model is not supported)")
    g = read_graph(model)
    ptq = _post_training_nodes(model, g, post_training)
    plan, absorbed = _plan_fusions(g, ptq)
    problems = _unsupported(g, ptq, absorbed)
    if problems:
        raise UnsupportedError(f"{len(problems)} layer(s) cannot be quantization-aware trained: "
                               + "; ".join(problems), where=model.name, hint=PTQ_HINT)
    build = _Build(ema_decay, per_channel_dense=per_channel_dense, train_recurrent=train_recurrent)
    for node in g.nodes:
        build.add(node, plan.get(id(node)), absorbed=id(node) in absorbed, post_training=id(node) in ptq)
    qat = _wire(model, g, build, ptq, input_range=input_range, name=name or f"{model.name}_qat")
    build.copy_weights()
    return qat


def _post_training_nodes(model, g: _Graph, post_training) -> set[int]:
    """ids of the nodes that train in float and are calibrated post-training: the recurrent layers, the layers
    named in ``post_training``, and a BatchNormalization right after one of them (the converter folds it there)."""
    names = set(post_training_layers(model, post_training))
    ptq: set[int] = {id(n) for n in g.nodes if f"{n.path}{n.name}" in names}
    producer = g.producer()
    for node in g.nodes:
        if type(node.op) is keras.layers.BatchNormalization and node.in_keys and \
                id(producer.get(node.in_keys[0])) in ptq:
            ptq.add(id(node))
    return ptq


def _plan_fusions(g: _Graph, ptq: set[int]) -> tuple[dict[int, dict], set[int]]:
    """What each fake-quantized node becomes, as the converter fuses it: ``{id(head node): entry}`` (``kind``
    weight / add / concat, fused ``bn`` and ``act``, a separate ``post`` activation, the ``absorbed`` nodes) and
    the ids of every absorbed node (a BatchNormalization or activation folded into its producer)."""
    consumers = g.consumers()
    plan: dict[int, dict] = {}
    absorbed: set[int] = set()
    for node in g.nodes:
        op = node.op
        if id(node) in absorbed or id(node) in ptq:
            continue
        if type(op) in _WEIGHT and _why_unsupported(node) is None:
            entry = _plan_weight(g, consumers, node)
        elif _is_concat(op):
            entry = {"kind": "concat", "absorbed": []}
        elif _is_add(op):
            entry = {"kind": "add", "act": "linear", "absorbed": []}
            nxt = _single_consumer(g, consumers, node.out_keys[0])
            if nxt is not None and _activation_of(nxt.op) in Q.FUSABLE_ACTIVATIONS:
                entry["act"] = _activation_of(nxt.op)
                entry["absorbed"].append(nxt)
        else:
            continue
        plan[id(node)] = entry
        absorbed.update(id(n) for n in entry["absorbed"])
    return plan, absorbed


def _plan_weight(g: _Graph, consumers: dict, node: _Node) -> dict:
    """A conv / Dense node: its own activation fused when TFLite fuses it (else a separate ``post`` activation);
    with a linear activation, a foldable BatchNormalization and then a ReLU/ReLU6 right after it are absorbed."""
    act = _act_name(node.op.activation)
    fusable = act in Q.FUSABLE_ACTIVATIONS
    entry = {"kind": "weight", "bn": None, "act": act if fusable else "linear",
             "post": None if fusable else act, "absorbed": []}
    if entry["act"] != "linear" or entry["post"] is not None:
        return entry
    out = node.out_keys[0]
    nxt = _single_consumer(g, consumers, out)
    if nxt is not None and type(nxt.op) is keras.layers.BatchNormalization and not _bn_foldable(nxt):
        entry["bn"] = nxt
        entry["absorbed"].append(nxt)
        out = nxt.out_keys[0]
    nxt = _single_consumer(g, consumers, out)
    if nxt is not None and _activation_of(nxt.op) in Q.FUSABLE_ACTIVATIONS:
        entry["act"] = _activation_of(nxt.op)
        entry["absorbed"].append(nxt)
    return entry


def _unsupported(g: _Graph, ptq: set[int], absorbed: set[int]) -> list[str]:
    """Every fake-quantized node QAT cannot mirror (``"name (Class: why)"``), BatchNormalizations left unfolded too."""
    problems: list[str] = []
    for node in g.nodes:
        if id(node) in ptq:
            continue
        reason = _why_unsupported(node)
        if reason is not None:
            why = "" if reason == "layer" else f": {reason}"
            problems.append(f"{node.path}{node.name} ({type(node.op).__name__}{why})")
    for node in g.nodes:
        if type(node.op) is keras.layers.BatchNormalization and id(node) not in absorbed and id(node) not in ptq:
            why = _bn_foldable(node) or (
                "BatchNormalization that does not directly follow a convolution or Dense (only BN right "
                "after one, with no activation between and no other user of its input, can be folded)")
            problems.append(f"{node.path}{node.name} (BatchNormalization: {why})")
    return problems


class _Build:
    """The QAT twin's layers, node by node: ``makers[id(node)]`` is what replays the node (a layer, a function of
    the node's inputs, or None for an absorbed node), ``copies`` / ``floats`` the weights to copy once built."""

    def __init__(self, ema_decay: float, *, per_channel_dense: bool = False, train_recurrent: bool = False):
        self.ema_decay = ema_decay
        self.per_channel_dense = bool(per_channel_dense)
        self.train_recurrent = bool(train_recurrent)
        self.used: set[str] = set()
        self.makers: dict[int, Any] = {}
        self.copies: list[tuple[Any, _Node, Any]] = []  # (qat layer, weight node, bn node | "depthwise")
        self.floats: list[tuple[Any, Any]] = []  # (clone, original) of post-training layers

    def unique(self, n: str) -> str:
        base, i = n.replace("/", "_"), 1
        n = base
        while n in self.used:
            i += 1
            n = f"{base}_{i}"
        self.used.add(n)
        return n

    def layer_name(self, node: _Node) -> str:
        return self.unique(f"{node.path}{node.name}")

    def add(self, node: _Node, entry: dict | None, *, absorbed: bool, post_training: bool) -> None:
        op, key, ema = node.op, id(node), self.ema_decay
        source = [f"{node.path}{node.name}"]
        if absorbed:
            self.makers[key] = None
        elif post_training:
            cfg = keras.layers.serialize(op)
            cfg["config"]["name"] = self.layer_name(node)
            clone = keras.layers.deserialize(cfg)
            if _is_recurrent(op) and not self.train_recurrent:
                clone.trainable = False  # calibrated after training: fine-tuning it in float only moves it
            self.floats.append((clone, op))
            self.makers[key] = clone
        elif entry is not None and entry["kind"] == "weight":
            self.makers[key] = self._weight(node, entry)
        elif entry is not None and entry["kind"] == "add":
            src = source + [f"{n.path}{n.name}" for n in entry["absorbed"]]
            q = Q.QAdd(activation=entry["act"], ema_decay=ema, source_layers=src, name=self.layer_name(node))
            self.makers[key] = (lambda q: lambda *a, **kw: q(_as_list(a)))(q)
        elif entry is not None and entry["kind"] == "concat":
            q = Q.QConcatenate(axis=op.axis, ema_decay=ema, source_layers=source, name=self.layer_name(node))
            self.makers[key] = (lambda q: lambda *a, **kw: q(_as_list(a)))(q)
        elif _activation_of(op) is not None:
            act = _activation_of(op)
            if act == "linear":
                self.makers[key] = None
            else:
                q = Q.QActivation(activation=act, ema_decay=ema, source_layers=source, name=self.layer_name(node))
                self.makers[key] = (lambda q: lambda x, **kw: q(x))(q)
        elif type(op) in _OWN_RANGE_POOL:
            clone = type(op).from_config({**op.get_config(), "name": self.layer_name(node)})
            fq = Q.FakeQuant(ema_decay=ema, name=self.unique(f"{node.path}{node.name}_quant"))
            self.makers[key] = (lambda c, fq: lambda x, **kw: fq(c(x)))(clone, fq)
        else:  # same-scale op
            self.makers[key] = type(op).from_config({**op.get_config(), "name": self.layer_name(node)})

    def _weight(self, node: _Node, entry: dict):
        """The QConv*/QDepthwise*/QDense (a separable conv: depthwise + 1x1 conv) for a weight node, with a separate
        QActivation after it when its activation is not fused."""
        op, bn = node.op, entry["bn"]
        src = [f"{node.path}{node.name}"] + [f"{n.path}{n.name}" for n in entry["absorbed"]]
        common = dict(activation=entry["act"], ema_decay=self.ema_decay, source_layers=src,
                      name=self.layer_name(node), use_bias=bool(op.use_bias),
                      batchnorm=None if bn is None else {"epsilon": float(bn.op.epsilon), "center": bool(bn.op.center),
                                                         "scale": bool(bn.op.scale)})
        if type(op) is keras.layers.Dense:
            q = Q.QDense(op.units, per_channel=self.per_channel_dense, **common)
            self.copies.append((q, node, bn))
            return self._with_post(q, node, entry, src)
        conv = dict(strides=op.strides, padding=op.padding, dilation_rate=op.dilation_rate)
        depthwise = dict(conv, kernel_size=op.kernel_size, depth_multiplier=getattr(op, "depth_multiplier", 1))
        if type(op) is keras.layers.Conv2D:
            q = Q.QConv2D(op.filters, op.kernel_size, **conv, **common)
        elif type(op) is keras.layers.Conv1D:
            q = Q.QConv1D(op.filters, op.kernel_size, **conv, **common)
        elif type(op) is keras.layers.DepthwiseConv1D:
            q = Q.QDepthwiseConv1D(**depthwise, **common)
        elif type(op) is keras.layers.DepthwiseConv2D:
            q = Q.QDepthwiseConv2D(**depthwise, **common)
        elif type(op) in (keras.layers.SeparableConv1D, keras.layers.SeparableConv2D):
            # TFLite runs it as DEPTHWISE_CONV_2D (no bias, own output range) + 1x1 CONV_2D
            one_d = type(op) is keras.layers.SeparableConv1D
            dw = (Q.QDepthwiseConv1D if one_d else Q.QDepthwiseConv2D)(
                **depthwise, use_bias=False, activation="linear", ema_decay=self.ema_decay, source_layers=src[:1],
                name=self.unique(f"{node.path}{node.name}_depthwise"))
            pw = Q.QConv1D(op.filters, 1, **common) if one_d else Q.QConv2D(op.filters, (1, 1), **common)
            self.copies.append((dw, node, "depthwise"))
            q = (lambda dw, pw: lambda x: pw(dw(x)))(dw, pw)
            self.copies.append((pw, node, bn))
        if type(op) not in (keras.layers.SeparableConv2D, keras.layers.SeparableConv1D):
            self.copies.append((q, node, bn))
        return self._with_post(q, node, entry, src)

    def _with_post(self, q, node: _Node, entry: dict, src: list[str]):
        """``q`` as a node maker, followed by a QActivation when the node's activation is not fused."""
        if entry["post"] is None:
            return (lambda q: lambda x, **kw: q(x))(q)
        post = Q.QActivation(activation=entry["post"], ema_decay=self.ema_decay, source_layers=src[:1],
                             name=self.unique(f"{node.path}{node.name}_{entry['post']}"))
        return (lambda q, post: lambda x, **kw: post(q(x)))(q, post)

    def copy_weights(self) -> None:
        """The float model's weights into the built QAT layers (a 1-D kernel (k, cin, cout) is the (1, k, cin,
        cout) kernel of the CONV_2D TFLite runs; a folded BatchNormalization's statistics go with its conv)."""
        for clone, op in self.floats:
            clone.set_weights(op.get_weights())
        for q, node, bn in self.copies:
            op = node.op
            if bn == "depthwise":  # the depthwise half of a SeparableConv1D/2D
                q.kernel.assign(keras.ops.reshape(op.depthwise_kernel, q.kernel.shape))
                continue
            separable = type(op) in (keras.layers.SeparableConv2D, keras.layers.SeparableConv1D)
            q.kernel.assign(keras.ops.reshape(op.pointwise_kernel if separable else op.kernel, q.kernel.shape))
            if op.use_bias:
                q.bias.assign(op.bias)
            if bn is not None:
                b = bn.op
                if b.scale:
                    q.bn_gamma.assign(b.gamma)
                if b.center:
                    q.bn_beta.assign(b.beta)
                q.bn_moving_mean.assign(b.moving_mean)
                q.bn_moving_variance.assign(b.moving_variance)


def _wire(model, g: _Graph, build: _Build, ptq: set[int], *, input_range, name: str):
    """The QAT model: fresh inputs, each behind a FakeQuant (unless only post-training layers read it), and the
    float graph replayed with the built layers."""
    consumers = g.consumers()
    fn = _functional_of(model)
    new_inputs = []
    quantized_inputs = []
    for key, t, layer in zip(g.inputs, fn.inputs, g.input_layers):
        in_name = build.unique(getattr(layer, "name", None) or "input")
        x = keras.Input(shape=t.shape[1:], dtype=t.dtype, name=in_name)
        new_inputs.append(x)
        readers = consumers.get(key, [])
        if readers and all(id(n) in ptq for n in readers):
            # read only by post-training layers: the converter calibrates the input too (a fake-quant feeding a
            # fused LSTM directly is left float by the converter)
            quantized_inputs.append(x)
            continue
        fq = Q.FakeQuant(ema_decay=build.ema_decay, fixed_range=input_range, name=build.unique(f"{in_name}_quant"))
        quantized_inputs.append(fq(x))
    outputs = replay(g, quantized_inputs, lambda node: build.makers[id(node)])
    struct = g.outputs_struct
    out = outputs[0] if len(outputs) == 1 and not isinstance(struct, (list, tuple, dict)) else outputs
    return keras.Model(new_inputs if len(new_inputs) > 1 else new_inputs[0], out, name=name)


def _as_list(args: tuple) -> list:
    if len(args) == 1 and isinstance(args[0], (list, tuple)):
        return list(args[0])
    return list(args)


def rebuild(model, *, batch_size: int | None = 1):
    """The same model (same layer objects, shared weights) on inputs with a fixed batch size: what the converter
    needs for an MCU (an open batch adds SHAPE/STRIDED_SLICE/PACK ops around Flatten)."""
    g = read_graph(model)
    fn = _functional_of(model)
    inputs = [keras.Input(shape=t.shape[1:], batch_size=batch_size, dtype=t.dtype,
                          name=getattr(layer, "name", None) or f"input_{i}")
              for i, (t, layer) in enumerate(zip(fn.inputs, g.input_layers))]
    outputs = replay(g, inputs, lambda node: node.op)
    struct = g.outputs_struct
    out = outputs[0] if len(outputs) == 1 and not isinstance(struct, (list, tuple, dict)) else outputs
    return keras.Model(inputs if len(inputs) > 1 else inputs[0], out, name=model.name)
