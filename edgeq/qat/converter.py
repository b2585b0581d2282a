"""QAT model -> fully int8 .tflite, with no representative dataset, checked, with the missing range named.

The converter reads every range from the fake-quant ops of the graph. An activation without one either stays
float (float I/O) or makes the converter fail with an EMPTY ``ValueError`` (int8 I/O); either way edgeq checks the
result (:func:`edgeq.convert.verify.require_full_int8`) and names the Keras layer whose output had no range.

TensorFlow is imported inside the functions.
"""

from __future__ import annotations

from typing import Any

from edgeq.errors import EdgeqError, ModelError

HINT_MISSING = ("build the model with edgeq.qat.quantize_model (every layer it makes has an output range), or put an "
                "edgeq.qat.FakeQuant layer after it")


def missing_ranges(model) -> list[str]:
    """Layers of a QAT model whose output tensor has no int8 range (``"name (Class)"``), found on the Keras graph.

    A tensor has a range when a QAT layer or a :class:`~edgeq.qat.layers.FakeQuant` produces it, when a same-scale
    op (pooling, Flatten, Reshape, Dropout, padding) passes on a ranged input, or when only FakeQuant layers read it.
    Graph inputs need a FakeQuant too. Layers whose FakeQuant has not seen data yet are listed as well.
    """
    from edgeq.qat import layers as Q
    from edgeq.qat.transform import _SAME_SCALE, read_graph

    g = read_graph(model)
    consumers = g.consumers()
    ranged: dict = {}
    out: list[str] = []

    def only_fake_quant_reads(key) -> bool:
        users = consumers.get(key, [])
        return bool(users) and key not in g.outputs and all(type(u.op) is Q.FakeQuant for u in users)

    for i, key in enumerate(g.inputs):
        ranged[key] = only_fake_quant_reads(key)
        if not ranged[key]:
            layer = g.input_layers[i]
            out.append(f"{getattr(layer, 'name', f'input {i}')} (model input)")
    for node in g.nodes:
        op = node.op
        if isinstance(op, Q.FakeQuant) or isinstance(op, tuple(Q.QAT_LAYERS.values())):
            quants = [op] if isinstance(op, Q.FakeQuant) else Q.fake_quant_layers(op)
            if any(not fq.has_range for fq in quants):
                out.append(f"{node.path}{node.name} ({type(op).__name__}: no range learned yet)")
            ok = True
        elif isinstance(op, _SAME_SCALE):
            ok = all(ranged.get(k, False) for k in node.in_keys)
        else:
            ok = all(only_fake_quant_reads(k) for k in node.out_keys)
            if not ok:
                out.append(f"{node.path}{node.name} ({type(op).__name__})")
        for k in node.out_keys:
            ranged[k] = ok
    return out


def per_channel_dense(model) -> bool:
    """Whether the QAT model's Dense layers have per-channel weights (``quantize_model(per_channel_dense=True)``)."""
    from edgeq.qat import layers as Q

    dense = [layer for layer in model._flatten_layers(include_self=False, recursive=True)  # noqa: SLF001
             if isinstance(layer, Q.QDense)]
    return bool(dense) and all(layer.per_channel for layer in dense)


def _converter(tf, model, *, io: str):
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if io == "int8":
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    # per-channel Dense cannot come from a fake-quant op ('tfl.transpose' op has mismatched quantized axes): a
    # per-channel QDense rounds its kernel in plain ops and the converter quantizes it per channel with its scales
    conv._experimental_disable_per_channel_quantization_for_dense_layers = not per_channel_dense(model)
    return conv


def _layer_candidates(model, tensor_name: str) -> list[str]:
    """Keras layers whose name (possibly with the ``_N`` suffix TF adds to re-entered name scopes) is a component
    of a .tflite tensor name."""
    import re

    names = {layer.name for layer in model._flatten_layers(include_self=False, recursive=True)}
    parts = {p for piece in tensor_name.split(";") for p in piece.split("/")}
    found = []
    for n in sorted(names, key=len, reverse=True):
        pat = re.compile(re.escape(n) + r"(_\d+)*")
        if any(pat.fullmatch(p) for p in parts):
            found.append(n)
    return found


def _hybrid_convert(model, calibration_data, where: str) -> bytes:
    """A QAT model with post-training layers: fake-quant ranges where the model has them, the converter's
    calibration on ``calibration_data`` for the rest; recurrent layers rewritten as for PTQ."""
    import numpy as np

    from edgeq.convert._tf import first_line, import_tf, quiet
    from edgeq.convert.recurrent import converter_function
    from edgeq.errors import UnsupportedError

    tf = import_tf()
    x = np.asarray(calibration_data, dtype=np.float32)
    if len(x) == 0:
        raise EdgeqError("calibration data holds no samples", where=where)
    shape = (1, *[int(d) for d in model.inputs[0].shape[1:]])
    cf, holder = converter_function(model, [shape])
    try:
        with quiet() as log:
            conv = tf.lite.TFLiteConverter.from_concrete_functions([cf], holder)
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            conv.representative_dataset = lambda: ([s[None]] for s in x)
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            conv.inference_input_type = tf.int8
            conv.inference_output_type = tf.int8
            conv._experimental_disable_per_channel_quantization_for_dense_layers = \
                not per_channel_dense(model)  # noqa: SLF001
            buf = conv.convert()
    except Exception as exc:  # noqa: BLE001 - the converter raises anything
        detail = first_line(str(exc)) or first_line("".join(log)) or type(exc).__name__
        raise UnsupportedError(f"the TFLite converter failed: {detail}", where=where) from None
    return bytes(buf)


def convert(model, *, source: str | None = None, calibration_data=None) -> bytes:
    """:func:`convert_here` in a child process (:mod:`edgeq.convert.isolate`): a converter crash is one
    :class:`~edgeq.errors.UnsupportedError`, not a crash of the caller. The model travels as a .keras file."""
    import tempfile
    from pathlib import Path

    from edgeq.convert._tf import quiet
    from edgeq.convert.isolate import inprocess, run_isolated

    where = source or getattr(model, "name", "<QAT model>")
    if inprocess():
        return convert_here(model, source=source, calibration_data=calibration_data)
    unlearned = [s for s in missing_ranges(model) if "no range learned yet" in s]
    if unlearned:  # a user mistake, found before the child starts
        raise ModelError(f"activation ranges not learned yet: {', '.join(unlearned)}", where=where,
                         hint="train the QAT model (model.fit) or call edgeq.qat.calibrate(model, x) first")
    with tempfile.TemporaryDirectory(prefix="edgeq-qat-") as tmp:
        path = Path(tmp) / "qat.keras"
        try:
            with quiet():
                model.save(path)
        except Exception:  # noqa: BLE001 - a model Keras cannot save (custom layers): convert it here
            return convert_here(model, source=source, calibration_data=calibration_data)
        return run_isolated("qat_convert", dict(path=str(path), source=where, calibration_data=calibration_data),
                            where=where)


def _convert_file(path: str, source: str, calibration_data=None) -> bytes:
    """The child's side of :func:`convert`: load the saved QAT model and convert it."""
    from edgeq.convert._tf import import_keras, quiet
    from edgeq.qat import custom_objects

    keras = import_keras()
    with quiet():
        model = keras.models.load_model(path, custom_objects=custom_objects(), compile=False)
    return convert_here(model, source=source, calibration_data=calibration_data)


def convert_here(model, *, source: str | None = None, calibration_data=None) -> bytes:
    """Convert a QAT model (from :func:`edgeq.qat.quantize_model`, trained) to fully int8 .tflite bytes.

    Batch fixed at 1, int8 input and output, per-channel int8 conv weights, per-tensor int8 Dense weights, every
    activation range taken from the model (no representative dataset). A model with post-training layers
    (recurrent layers, or ``quantize_model(..., post_training=[...])``) needs ``calibration_data`` (float samples):
    the converter calibrates those layers on it and keeps the learned ranges everywhere else. Raises
    :class:`~edgeq.errors.ModelError` naming the layer(s) without a range if the result is not fully int8.
    """
    from edgeq.convert._tf import first_line, import_tf, quiet
    from edgeq.convert.verify import describe, float_tensors, require_full_int8
    from edgeq.qat.transform import rebuild
    from edgeq.tflite import parse_model

    tf = import_tf()
    where = source or getattr(model, "name", "<QAT model>")
    unlearned = [s for s in missing_ranges(model) if "no range learned yet" in s]
    if unlearned:
        raise ModelError(f"activation ranges not learned yet: {', '.join(unlearned)}", where=where,
                         hint="train the QAT model (model.fit) or call edgeq.qat.calibrate(model, x) first")
    inference = rebuild(model, batch_size=1)
    if calibration_data is not None and missing_ranges(model):
        from edgeq.convert.isolate import stage

        stage(f"converting the QAT model {where} with post-training layers")
        buf = _hybrid_convert(inference, calibration_data, where)
        require_full_int8(parse_model(buf, source=where), source=where)
        return buf
    error: str | None = None
    buf: bytes | None = None
    try:
        with quiet() as log:
            buf = _converter(tf, inference, io="int8").convert()
    except Exception as exc:  # noqa: BLE001 - the converter raises bare ValueErrors, often with no message
        error = first_line(f"{exc}") or first_line("".join(log)) or f"{type(exc).__name__} with no message"
    if buf is not None:
        graph = parse_model(buf, source=where)
        if not float_tensors(graph):
            require_full_int8(graph, source=where)
            return bytes(buf)
    # Not fully int8: name the Keras layer(s) whose output had no range.
    missing = missing_ranges(model)
    float_names: list[str] = []
    try:
        with quiet():
            fbuf = buf if buf is not None else _converter(tf, inference, io="float32").convert()
        fgraph = parse_model(fbuf, source=where)
        for tensor, op in float_tensors(fgraph, allow_float_io=True):
            cands = _layer_candidates(model, tensor.name)
            float_names.append(describe(tensor, op) + (f" (layer {cands[0]!r})" if cands else ""))
    except Exception:  # noqa: BLE001 - diagnosis only
        pass
    if missing:
        msg = f"no int8 range for the output of: {', '.join(missing)}; that tensor would stay float"
    elif float_names:
        msg = f"the converted model is not fully int8: {float_names[0]}"
    else:
        msg = f"the TFLite converter failed: {error}"
    if error and missing:
        msg += f" (the converter said: {error})"
    raise ModelError(msg, where=where, hint=HINT_MISSING if missing or float_names else None)


def learned_ranges(model) -> dict[str, tuple[float, float]]:
    """Every activation range of a QAT model: FakeQuant path -> (min, max) as the converter will read it."""
    from edgeq.qat import layers as Q

    return {fq.path: fq.range() for fq in Q.fake_quant_layers(model) if fq.has_range}


def calibrate(model, x: Any, *, batch_size: int = 64, steps: int | None = None) -> None:
    """Set every activation range from data (running min/max over ``x``, no weight update), e.g. before evaluating
    an untrained QAT model or to start training from calibrated ranges."""
    import numpy as np

    from edgeq.qat import layers as Q

    quants = Q.fake_quant_layers(model)
    x = np.asarray(x, dtype=np.float32)
    if len(x) == 0:
        raise EdgeqError("calibration data holds no samples")
    for fq in quants:
        fq._calibrating = True
    try:
        for i, start in enumerate(range(0, len(x), batch_size)):
            if steps is not None and i >= steps:
                break
            model(x[start:start + batch_size], training=False)
    finally:
        for fq in quants:
            fq._calibrating = False
