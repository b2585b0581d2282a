"""edgeq.qat / edgeq qat: QAT in plain Keras 3 -> fully int8 .tflite.

Learned ranges are the converter's ranges; BN folding numerics; MirroredStrategy (two logical CPUs, subprocess);
unsupported layers; a missing range is named; TFLM == edgeq's compiled C on the QAT model; the CLI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import REPO, assert_user_error, run_cli

pytestmark = [pytest.mark.tf, pytest.mark.slow]
pytest.importorskip("tensorflow", reason="TensorFlow is needed (pip install 'edgeq[convert]')")

from edgeq import qat  # noqa: E402
from edgeq.convert.runner import run_float  # noqa: E402
from edgeq.convert.verify import float_tensors, require_full_int8  # noqa: E402
from edgeq.errors import EdgeqError, ModelError, UnsupportedError  # noqa: E402
from edgeq.tflite import parse_model  # noqa: E402
from edgeq.tflite.check import mcu_findings, model_kind  # noqa: E402


def _keras():
    from edgeq.convert._tf import import_keras

    return import_keras()


def _assert_fully_int8(tflite: bytes):
    graph = require_full_int8(tflite, source="qat")
    assert model_kind(graph) == "int8"
    assert not float_tensors(graph)
    assert "QUANTIZE" not in graph.ops_used and "DEQUANTIZE" not in graph.ops_used
    acts = [t for op in graph.operators for t in (*op.inputs, *op.outputs) if t >= 0
            and not graph.tensors[t].is_constant]
    assert {graph.tensors[t].dtype for t in acts} <= {"int8", "int32"}
    assert not [f for f in mcu_findings(graph) if f.blocking]
    return graph


def _residual_bn_model(keras, *, nested: bool = False):
    L = keras.layers
    i = keras.Input((8, 8, 1))
    h = L.ReLU()(L.BatchNormalization()(L.Conv2D(8, 3, padding="same", use_bias=False)(i)))
    r = L.ReLU(max_value=6.0)(L.BatchNormalization()(L.Conv2D(8, 3, padding="same")(h)))
    r = L.BatchNormalization()(L.DepthwiseConv2D(3, padding="same")(r))
    h = L.ReLU()(L.Add()([h, r]))
    if nested:
        h = keras.Sequential([L.MaxPooling2D(), L.Conv2D(8, 1, activation="relu")], name="inner")(h)
    else:
        h = L.MaxPooling2D()(h)
    h = L.GlobalAveragePooling2D()(h)
    h = L.BatchNormalization()(L.Dense(16)(h))
    o = L.Dense(10, activation="softmax")(L.ReLU()(h))
    return keras.Model(i, o, name="residual_bn")


def _randomize_bn(model, seed=0):
    """Non-trivial BatchNormalization statistics, so folding is actually exercised."""
    rng = np.random.default_rng(seed)
    keras = _keras()
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.gamma.assign(rng.uniform(0.5, 2.0, n).astype("float32"))
            layer.beta.assign(rng.normal(0, 0.3, n).astype("float32"))
            layer.moving_mean.assign(rng.normal(0, 0.5, n).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.2, 3.0, n).astype("float32"))


# --------------------------------------------------------------------------------------------------------------------


def test_import_is_light():
    code = ("import sys, edgeq.qat, edgeq.cli.qat_cmd; "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("--help")
    assert proc.returncode == 0 and "qat" in proc.stdout


@pytest.fixture(scope="module")
def trained(digits_cnn_path, digits):
    """The digits CNN (logits) fine-tuned for 2 QAT epochs, and its .tflite."""
    from edgeq.convert.load import load_model
    from edgeq.qat.train import run_qat

    model = load_model(digits_cnn_path).obj
    res = run_qat(model, digits.x_train, digits.y_train, x_val=digits.x_test, y_val=digits.y_test, epochs=2,
                  lr=1e-4, source="digits_cnn")
    return model, res


def test_qat_digits_fully_int8_and_accurate(trained, digits):
    model, res = trained
    graph = _assert_fully_int8(res.tflite)
    assert graph.input_tensors()[0].shape == (1, 8, 8, 1)
    s = res.summary
    assert s["kind"] == "int8" and len(s["history"]) == 2
    assert s["int8_accuracy"] >= s["float_accuracy"] - 0.02, s  # 2 epochs: numbers belong to benchmarks/qat.py
    # the fake-quant Keras model predicts what the int8 model computes
    keras_out = np.asarray(res.model.predict(digits.x_test, verbose=0))
    tfl_out = run_float(res.tflite, digits.x_test)
    assert np.mean(keras_out.argmax(1) == tfl_out.argmax(1)) >= 0.99
    out_scale = graph.output_tensors()[0].scale
    assert np.median(np.abs(keras_out - tfl_out)) <= 2 * out_scale


def test_converter_uses_the_learned_ranges(trained):
    """Every activation (scale, zero point) in the .tflite is exactly the one the QAT model learned, and vice versa."""
    _, res = trained
    graph = parse_model(res.tflite)
    ranges = qat.learned_ranges(res.model)
    assert ranges and all(lo <= 0.0 <= hi for lo, hi in ranges.values())
    expected = {}
    for path, (lo, hi) in ranges.items():
        scale = np.float32((hi - lo) / 255.0)
        zp = int(np.floor(-lo / float(scale) + 0.5)) - 128
        expected[path] = (scale, zp)
    acts = {}
    for op in graph.operators:
        for t in op.outputs:
            tensor = graph.tensors[t]
            acts[t] = (np.float32(tensor.scale), tensor.zero_point)
    for t in graph.inputs:
        acts[t] = (np.float32(graph.tensors[t].scale), graph.tensors[t].zero_point)

    def same(a, b):
        return abs(a[0] - b[0]) <= 2 * np.finfo(np.float32).eps * max(a[0], b[0]) and a[1] == b[1]

    # the model input's quantization is the input FakeQuant's range
    in_key = next(k for k in ranges if k.endswith("_quant") and "/" not in k)
    assert same(acts[graph.inputs[0]], expected[in_key]), (acts[graph.inputs[0]], expected[in_key])
    # each learned range appears in the model, and each activation in the model is a learned range
    for path, e in expected.items():
        assert any(same(a, e) for a in acts.values()), f"{path}: {e} not in the .tflite"
    for t, a in acts.items():
        assert any(same(a, e) for e in expected.values()), f"tensor {graph.tensors[t].name}: {a} was not learned"
    # and in order: the ops that set a new range, one per QAT layer; same-scale ops keep their input's
    same_scale = ("MAX_POOL_2D", "AVERAGE_POOL_2D", "RESHAPE", "PAD")
    ranged_ops = []
    for op in graph.operators:
        out = acts[op.outputs[0]]
        if op.opcode in same_scale:
            assert same(out, acts[op.inputs[0]]), op.opcode
        else:
            ranged_ops.append(out)
    learned = [e for k, e in expected.items() if k != in_key]
    assert len(ranged_ops) == len(learned)
    assert all(same(a, e) for a, e in zip(ranged_ops, learned)), (ranged_ops, learned)


@pytest.mark.parametrize("per_channel", [False, True])
def test_dense_weights_per_tensor_or_per_channel_are_the_trained_ones(per_channel):
    """quantize_model(per_channel_dense=...): the FULLY_CONNECTED weights of the .tflite have one scale per tensor or
    per output channel, each exactly max|w| / 127 of the trained (folded) kernel, and exactly its int8 rounding."""
    keras = _keras()
    from edgeq.qat import layers as Q

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 12)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + 2 * (x[:, 1] > 0)
    inp = keras.Input((12,))
    model = keras.Model(inp, keras.layers.Dense(4)(keras.layers.Dense(16, activation="relu")(inp)))
    q = qat.quantize_model(model, per_channel_dense=per_channel)
    q.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    q.fit(x, y, epochs=1, batch_size=32, verbose=0)
    tflite = qat.convert(q)
    _assert_fully_int8(tflite)
    graph = parse_model(tflite)
    fcs = [op for op in graph.operators if op.opcode == "FULLY_CONNECTED"]
    dense = [layer for layer in q.layers if isinstance(layer, Q.QDense)]
    assert len(fcs) == len(dense) == 2
    for op, layer in zip(fcs, dense):
        weights = graph.tensors[op.inputs[1]]
        w = layer.folded()[0].numpy()  # (in, out); FULLY_CONNECTED holds (out, in)
        m = np.abs(w).max(axis=0) if per_channel else np.full(w.shape[1], np.abs(w).max())
        scale = (m / np.float32(127)).astype(np.float32)
        assert len(weights.quant.scale) == (w.shape[1] if per_channel else 1)
        np.testing.assert_allclose(np.asarray(weights.quant.scale, np.float32), scale[:len(weights.quant.scale)],
                                   rtol=1e-6)
        got = np.frombuffer(weights.data, np.int8).reshape(weights.shape)
        np.testing.assert_array_equal(got, np.clip(np.round(w / scale), -127, 127).astype(np.int8).T)


def test_bn_folding_numerics():
    """The folded conv/depthwise/dense weights reproduce conv+BN (inference) within 1e-5, and the .tflite carries
    exactly those folded weights (per-channel scale = max|w_fold| / 127)."""
    import tensorflow as tf

    keras = _keras()
    L = keras.layers
    keras.utils.set_random_seed(1)
    i = keras.Input((6, 6, 3))
    a = L.BatchNormalization(name="bn_a", epsilon=1e-3)(L.Conv2D(5, 3, padding="same", name="conv_a")(i))
    b = L.BatchNormalization(name="bn_b")(L.DepthwiseConv2D(3, depth_multiplier=2, use_bias=False,
                                                            name="dw_b")(a))
    c = L.BatchNormalization(name="bn_c")(L.Dense(4, name="dense_c")(L.Flatten()(b)))
    model = keras.Model(i, [a, b, c])
    _randomize_bn(model, seed=3)
    x = np.random.default_rng(0).normal(size=(16, 6, 6, 3)).astype("float32")
    ref_a, ref_b, ref_c = (np.asarray(v) for v in model(x, training=False))

    q = qat.quantize_model(model)
    names = {layer.name: layer for layer in q.layers}
    assert {"conv_a", "dw_b", "dense_c"} <= set(names) and not {"bn_a", "bn_b", "bn_c"} & set(names)
    wa, ba = names["conv_a"].folded()
    got_a = tf.nn.bias_add(tf.nn.conv2d(x, wa, 1, "SAME"), ba).numpy()
    wb, bb = names["dw_b"].folded()
    got_b = tf.nn.bias_add(tf.nn.depthwise_conv2d(ref_a, wb, (1, 1, 1, 1), "VALID"), bb).numpy()
    wc, bc = names["dense_c"].folded()
    got_c = (ref_b.reshape(len(x), -1) @ wc.numpy()) + bc.numpy()
    for got, ref in ((got_a, ref_a), (got_b, ref_b), (got_c, ref_c)):
        assert np.max(np.abs(got - ref)) <= 1e-5 * max(1.0, float(np.max(np.abs(ref)))), np.max(np.abs(got - ref))

    # the converter sees the folded weights: conv weights per channel, symmetric, scale max|w| / 127
    qat.calibrate(q, x)
    single = keras.Model(q.inputs, q.outputs[0])  # one output: conv_a
    graph = parse_model(qat.convert(single))
    conv = next(op for op in graph.operators if op.opcode == "CONV_2D")
    w = graph.tensors[conv.inputs[1]]
    assert w.dtype == "int8" and w.quant.per_channel and set(w.quant.zero_point) == {0}
    w_fold = np.transpose(wa.numpy(), (3, 0, 1, 2))  # TFLite OHWI
    np.testing.assert_allclose(w.quant.scales(), np.abs(w_fold).reshape(5, -1).max(1) / 127, rtol=1e-6)
    np.testing.assert_allclose(w.array() * w.quant.scales()[:, None, None, None], w_fold,
                               atol=float(w.quant.scales().max()) / 2 + 1e-7)


def test_residual_bn_functional_and_nested(digits):
    keras = _keras()
    keras.utils.set_random_seed(0)
    model = _residual_bn_model(keras, nested=True)
    _randomize_bn(model)
    q = qat.quantize_model(model)
    kinds = {type(layer).__name__ for layer in q.layers}
    assert "BatchNormalization" not in kinds and "ReLU" not in kinds
    assert {"QConv2D", "QDepthwiseConv2D", "QAdd", "QDense", "QActivation"} <= kinds
    assert not qat.missing_ranges(q) or all("no range learned yet" in m for m in qat.missing_ranges(q))
    q.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    q.fit(digits.x_train[:256], digits.y_train[:256], epochs=1, batch_size=32, verbose=0)
    assert qat.missing_ranges(q) == []
    tflite = qat.convert(q)
    graph = _assert_fully_int8(tflite)
    ops = graph.op_counts()
    assert ops.get("ADD") == 1 and ops.get("DEPTHWISE_CONV_2D") == 1 and ops.get("SOFTMAX") == 1
    assert "RELU" not in ops and "RELU6" not in ops  # fused into conv / add / fc
    k = np.asarray(q.predict(digits.x_test[:100], verbose=0))
    t = run_float(tflite, digits.x_test[:100])
    assert np.mean(k.argmax(1) == t.argmax(1)) >= 0.97


def test_save_and_load_roundtrip(tmp_path, digits):
    keras = _keras()
    keras.utils.set_random_seed(0)
    q = qat.quantize_model(_residual_bn_model(keras))
    qat.calibrate(q, digits.x_train[:64])
    q.save(tmp_path / "q.keras")
    r = keras.models.load_model(tmp_path / "q.keras", custom_objects=qat.custom_objects())
    x = digits.x_test[:32]
    np.testing.assert_array_equal(np.asarray(r.predict(x, verbose=0)), np.asarray(q.predict(x, verbose=0)))
    assert qat.learned_ranges(r) == qat.learned_ranges(q)


def test_unsupported_layers_listed():
    keras = _keras()
    L = keras.layers
    i = keras.Input((8, 8, 1))
    h = L.Conv2D(4, 3, activation="selu", name="selu_conv")(i)
    h = L.LayerNormalization(name="ln")(h)
    h = L.BatchNormalization(name="lonely_bn")(h)
    o = L.Dense(2)(L.Flatten()(h))
    with pytest.raises(UnsupportedError) as err:
        qat.quantize_model(keras.Model(i, o))
    msg = str(err.value)
    for needle in ("selu_conv", "selu", "ln (LayerNormalization)", "lonely_bn", "3 layer(s)", "edgeq quantize"):
        assert needle in msg, msg
    assert "\n" not in msg

    class Sub(keras.Model):
        def call(self, x):
            return x * 2

    with pytest.raises(EdgeqError, match="subclassed"):
        qat.quantize_model(Sub())
    with pytest.raises(EdgeqError, match="not built"):
        qat.quantize_model(keras.Sequential([L.Dense(2)]))


def test_missing_range_is_reported_not_left_float(digits):
    keras = _keras()
    keras.utils.set_random_seed(0)
    L = keras.layers
    float_model = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(4, 3, activation="relu"), L.Flatten(),
                                    L.Dense(10)])
    q = qat.quantize_model(float_model)
    with pytest.raises(ModelError, match="not learned yet"):  # no data seen: no range at all
        qat.convert(q)
    qat.calibrate(q, digits.x_train[:64])
    assert qat.missing_ranges(q) == []
    _assert_fully_int8(qat.convert(q))
    # a plain (float) Dense between QAT layers: its output has no range
    inp = keras.Input((8, 8, 1))
    h = q.layers[1](inp)  # input FakeQuant
    h = q.layers[2](h)  # QConv2D
    h = q.layers[3](h)  # Flatten
    h = L.Dense(6, name="plain_dense")(h)
    out = qat.QDense(10, name="head")(h)
    bad = keras.Model(inp, out)
    qat.calibrate(bad, digits.x_train[:64])
    assert qat.missing_ranges(bad) == ["plain_dense (Dense)"]
    with pytest.raises(ModelError) as err:
        qat.convert(bad)
    assert "plain_dense" in str(err.value) and "float" in str(err.value)


def test_mirrored_strategy_two_cpus(tmp_path):
    """Training under tf.distribute.MirroredStrategy on two logical CPU devices: the EMA range updates of both
    replicas are averaged (all copies equal), training works, and the result converts."""
    script = tmp_path / "mirrored.py"
    script.write_text(textwrap.dedent("""
        import json, os, sys
        import numpy as np
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        import keras
        from edgeq import qat
        from edgeq.tflite import parse_model
        from edgeq.tflite.check import model_kind
        keras.utils.set_random_seed(0)
        L = keras.layers
        model = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(4, 3, activation="relu"), L.Flatten(),
                                  L.Dense(3)])
        rng = np.random.default_rng(0)
        x = rng.uniform(0, 1, (64, 8, 8, 1)).astype("float32")
        x[:32] *= 2.0                                   # replica 0 sees max ~2, replica 1 max ~1
        y = rng.integers(0, 3, 64)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        with strategy.scope():
            q = qat.quantize_model(model)
            q.compile(keras.optimizers.SGD(0.0),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        q.fit(x, y, batch_size=64, epochs=1, shuffle=False, verbose=0)   # one step, two replicas of 32
        fq = q.get_layer("input_layer_quant") if "input_layer_quant" in [l.name for l in q.layers] else q.layers[1]
        copies = [float(v.numpy()) for v in fq.range_max.value.values]
        out = {"replicas": strategy.num_replicas_in_sync, "range_max": fq.range()[1], "copies": copies,
               "max_a": float(x[:32].max()), "max_b": float(x[32:].max())}
        with strategy.scope():
            q.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        hist = q.fit(x, y, batch_size=16, epochs=2, verbose=0)
        out["losses"] = [float(v) for v in hist.history["loss"]]
        out["kind"] = model_kind(parse_model(qat.convert(q)))
        print("RESULT " + json.dumps(out))
    """))
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env,
                          cwd=tmp_path)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line, proc.stdout[-2000:] + proc.stderr[-3000:]
    out = json.loads(line[len("RESULT "):])
    assert out["replicas"] == 2
    assert len(out["copies"]) == 2 and out["copies"][0] == out["copies"][1]
    assert abs(out["range_max"] - (out["max_a"] + out["max_b"]) / 2) < 1e-5, out
    assert all(np.isfinite(out["losses"]))
    assert out["kind"] == "int8"


_MULTI_WORKER = """
    import json, os
    import numpy as np
    import tensorflow as tf
    import keras
    from edgeq import qat
    from edgeq.tflite import parse_model
    from edgeq.tflite.check import model_kind

    strategy = tf.distribute.MultiWorkerMirroredStrategy()   # the cluster comes from TF_CONFIG
    keras.utils.set_random_seed(0)
    L = keras.layers
    model = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(4, 3, activation="relu"), L.Flatten(), L.Dense(3)])
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (64, 8, 8, 1)).astype("float32")
    x[1::2] *= 2.0                                # worker 1's shard (odd samples) reaches ~2, worker 0's ~1
    y = rng.integers(0, 3, 64)
    GLOBAL_BATCH = 16
    with strategy.scope():
        q = qat.quantize_model(model)
        opt = keras.optimizers.Adam(1e-3)
        loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="none")

    def shard(ctx):
        ds = tf.data.Dataset.from_tensor_slices((x, y)).shard(ctx.num_input_pipelines, ctx.input_pipeline_id)
        return ds.batch(ctx.get_per_replica_batch_size(GLOBAL_BATCH))

    data = strategy.distribute_datasets_from_function(shard)

    @tf.function
    def train_step(batches):
        def replica_step(xb, yb):
            with tf.GradientTape() as tape:
                loss = tf.nn.compute_average_loss(loss_fn(yb, q(xb, training=True)), global_batch_size=GLOBAL_BATCH)
            grads = tape.gradient(loss, q.trainable_variables)
            opt.apply_gradients(zip(grads, q.trainable_variables))
            return loss
        return strategy.reduce("SUM", strategy.run(replica_step, args=next(batches)), axis=None)

    losses = []
    for epoch in range(2):
        batches = iter(data)
        losses += [float(train_step(batches)) for _ in range(len(x) // GLOBAL_BATCH)]
    out = {"replicas": strategy.num_replicas_in_sync, "losses": losses,
           "ranges": {k: list(v) for k, v in qat.learned_ranges(q).items()},
           "weights": float(sum(np.abs(np.asarray(v)).sum() for v in q.trainable_weights))}
    if json.loads(os.environ["TF_CONFIG"])["task"]["index"] == 0:   # the chief converts
        out["kind"] = model_kind(parse_model(qat.convert(q)))
    print("RESULT " + json.dumps(out), flush=True)
"""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_multi_worker_mirrored_strategy_two_worker_processes(tmp_path):
    """Two worker processes on localhost (TF_CONFIG), MultiWorkerMirroredStrategy, the README's custom training loop
    (Keras 3's fit does not run under it): each worker trains on its own shard, and both end with the same weights and
    the same activation ranges (the EMA updates are averaged across workers: worker 1's data reaches 2, worker 0's
    only 1); the chief converts the result to a fully int8 model."""
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(_MULTI_WORKER))
    cluster = [f"localhost:{_free_port()}", f"localhost:{_free_port()}"]
    procs = []
    for index in range(2):
        tf_config = json.dumps({"cluster": {"worker": cluster}, "task": {"type": "worker", "index": index}})
        env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3", TF_CONFIG=tf_config,
                   EDGEQ_CONVERT_INPROCESS="1")
        procs.append(subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path))
    results = []
    try:
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=600)
            line = next((ln for ln in stdout.splitlines() if ln.startswith("RESULT ")), None)
            assert line, stdout[-2000:] + stderr[-3000:]
            results.append(json.loads(line[len("RESULT "):]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    chief, other = results
    assert chief["replicas"] == other["replicas"] == 2
    assert chief["losses"] == other["losses"] and all(np.isfinite(chief["losses"]))
    assert chief["weights"] == other["weights"]
    assert chief["ranges"] == other["ranges"]
    assert chief["ranges"]["input_layer_quant"][1] > 1.2  # worker 1's shard reached the shared input range
    assert chief["kind"] == "int8"


def test_tflm_bit_exact_with_compiled_c(trained, digits, tmp_path):
    """The QAT .tflite gives identical outputs in the TFLM reference interpreter and in edgeq's compiled C."""
    try:
        from tflite_micro.python.tflite_micro import runtime
    except Exception:  # noqa: BLE001
        pytest.skip("tflite-micro not installed (pip install tflite-micro, Linux x86-64)")
    _, res = trained
    graph = parse_model(res.tflite)
    t = graph.input_tensors()[0]
    q = np.clip(np.round(digits.x_test / np.float32(t.scale)) + t.zero_point, -128, 127).astype(np.int8)
    interp = runtime.Interpreter.from_bytes(res.tflite)
    ref = []
    for s in q:
        interp.set_input(s[None], 0)
        interp.invoke()
        ref.append(np.array(interp.get_output(0), copy=True).reshape(-1))
    ref = np.stack(ref)
    assert ref.dtype == np.int8
    # TFLM agrees with the host LiteRT run on the predicted classes
    assert np.mean(ref.argmax(1) == run_float(res.tflite, digits.x_test).argmax(1)) >= 0.99
    model = tmp_path / "qat.tflite"
    model.write_bytes(res.tflite)
    proc = run_cli("compile", model, "--target", "host", "--build", "-o", tmp_path / "c")
    assert proc.returncode == 0, proc.stderr
    host = subprocess.run([str(tmp_path / "c" / "model_host")], input=q.tobytes(), capture_output=True,
                          timeout=120)
    assert host.returncode == 0, host.stderr
    got = np.frombuffer(host.stdout, dtype=np.int8).reshape(ref.shape)
    np.testing.assert_array_equal(got, ref)


def test_cli_qat(digits_cnn_path, digits, tmp_path):
    np.savez(tmp_path / "train.npz", x=digits.x_train[:400], y=digits.y_train[:400])
    np.savez(tmp_path / "val.npz", x=digits.x_test, y=digits.y_test)
    out = tmp_path / "qat.tflite"
    proc = run_cli("qat", digits_cnn_path, "--data", tmp_path / "train.npz", "--val", tmp_path / "val.npz",
                   "--epochs", "1", "--lr", "5e-5", "-o", out, "--report", tmp_path / "report.md", "--json")
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout)
    for key in ("float_accuracy", "qat_accuracy", "int8_accuracy", "accuracy_delta", "int8_bytes", "history",
                "output", "kind"):
        assert key in s, key
    assert s["kind"] == "int8" and s["eval_on"] == "validation" and s["eval_samples"] == len(digits.x_test)
    assert len(s["history"]) == 1 and "val_accuracy" in s["history"][0]
    assert "epoch 1/1" in proc.stderr
    assert out.is_file() and out.stat().st_size == s["int8_bytes"]
    _assert_fully_int8(out.read_bytes())
    # the float / PTQ / QAT report
    rows = {r["variant"]: r for r in s["report"]["rows"]}
    assert set(rows) == {"float32", "PTQ int8", "QAT int8"}
    assert rows["QAT int8"]["bytes"] == s["int8_bytes"]
    assert rows["QAT int8"]["accuracy"] == s["int8_accuracy"]  # one predictor: tests/test_one_accuracy.py
    md = (tmp_path / "report.md").read_text()
    assert "PTQ int8" in md and "QAT int8" in md and "per-layer SQNR" in md and "report.png" in md
    # per-layer rows are named by the float model's Keras layers, not TFLite's fused tensor names
    names = {layer.name for layer in _keras().models.load_model(digits_cnn_path).layers}
    labels = [row["layer"] for row in s["report"]["layers"]]
    assert labels and all(set(label.split("+")) <= names for label in labels), (labels, names)
    assert ";" not in md.split("per-layer SQNR")[1]
    assert (tmp_path / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_qat_user_errors(digits_cnn_path, digits, tmp_path):
    np.savez(tmp_path / "nolabels.npz", x=digits.x_train[:50])
    out = tmp_path / "o.tflite"
    assert_user_error(run_cli("qat", digits_cnn_path, "--data", tmp_path / "nolabels.npz", "--epochs", "1",
                              "-o", out), "'y'")
    np.savez(tmp_path / "ok.npz", x=digits.x_train[:50], y=digits.y_train[:50])
    np.save(tmp_path / "x.npy", digits.x_train[:50])
    assert_user_error(run_cli("qat", digits_cnn_path, "--data", tmp_path / "x.npy", "--epochs", "1", "-o", out),
                      "'y'")
    assert_user_error(run_cli("qat", tmp_path / "missing.keras", "--data", tmp_path / "ok.npz", "--epochs",
                              "1", "-o", out), "missing.keras")
    assert_user_error(run_cli("qat", digits_cnn_path, "--data", tmp_path / "nolabels.npz", "--epochs", "-1",
                              "-o", out), "--epochs")
    # a model with a layer QAT cannot handle: one line, pointing to edgeq quantize
    keras = _keras()
    i = keras.Input((8, 8, 1))
    m = keras.Model(i, keras.layers.Dense(10)(keras.layers.Flatten()(keras.layers.LayerNormalization(name="ln")(i))))
    m.save(tmp_path / "ln.keras")
    assert_user_error(run_cli("qat", tmp_path / "ln.keras", "--data", tmp_path / "ok.npz", "--epochs", "1",
                              "-o", out), "LayerNormalization", "edgeq quantize")
    assert not out.exists()


def test_keras_ops_in_the_graph():
    """``x + y`` and keras.activations / keras.ops activations on symbolic tensors are quantized like layers."""
    keras = _keras()
    L = keras.layers
    i = keras.Input((8, 8, 1))
    h = L.Conv2D(4, 3, padding="same", activation="relu")(i)
    r = L.Conv2D(4, 3, padding="same")(h)
    h = keras.activations.relu(h + r)
    h = keras.ops.relu6(L.Conv2D(4, 1)(h))
    h = L.SeparableConv2D(6, 3, depth_multiplier=2, activation="relu", name="sep")(h)
    o = L.Dense(3)(L.Flatten()(h))
    model = keras.Model(i, o)
    q = qat.quantize_model(model)
    assert [type(layer).__name__ for layer in q.layers].count("QAdd") == 1
    x = np.random.default_rng(0).uniform(0, 1, (16, 8, 8, 1)).astype("float32")
    qat.calibrate(q, x)
    graph = _assert_fully_int8(qat.convert(q))
    assert graph.op_counts() == {"CONV_2D": 4, "ADD": 1, "DEPTHWISE_CONV_2D": 1, "RESHAPE": 1,
                                 "FULLY_CONNECTED": 1}  # relu/relu6 fused, SeparableConv2D = depthwise + 1x1
    # the QAT model starts as a close copy of the float one (same weights, 8-bit noise only)
    ref, got = np.asarray(model(x)), np.asarray(q(x))
    assert np.max(np.abs(ref - got)) < 0.1 * np.max(np.abs(ref)) + 1e-3


def test_inference_graph_has_no_variable_writes(trained):
    """Ranges are assigned only while training: the graph the converter traces reads them, never writes them."""
    import tensorflow as tf

    from edgeq.qat.transform import rebuild

    _, res = trained
    inference = rebuild(res.model, batch_size=1)
    spec = tf.TensorSpec((1, 8, 8, 1), tf.float32)
    infer_ops = {op.type for op in tf.function(lambda x: inference(x)).get_concrete_function(spec).graph
                 .get_operations()}
    train_ops = {op.type for op in tf.function(lambda x: inference(x, training=True)).get_concrete_function(spec)
                 .graph.get_operations()}
    assert "AssignVariableOp" in train_ops  # the EMA updates
    assert not {"AssignVariableOp", "AssignAddVariableOp", "AssignSubVariableOp"} & infer_ops
    assert "FakeQuantWithMinMaxVarsPerChannel" in infer_ops and "FakeQuantWithMinMaxVars" in infer_ops
