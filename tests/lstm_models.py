"""Build an int8 .tflite whose recurrent layer is one fused UNIDIRECTIONAL_SEQUENCE_LSTM, with the TF converter.

Run as a child process (``python tests/lstm_models.py SPEC_JSON OUT``, or ``python tests/lstm_models.py PAIRS_JSON``
with a list of [SPEC, OUT] pairs to pay TensorFlow's start-up once): the converter can crash (SIGSEGV) on some LSTM
graphs, which must fail a test, not the test run. The LSTM is written the way Keras 2 marked its LSTM function
(``api_implements="lstm_<id>"``, six tensor arguments, five results), which the converter's composite-function pass
replaces by the fused op (what tflite-micro's mnist_lstm example gets from tf.keras); Keras 3's LSTM is a while loop
the converter does not fuse. Weights are seeded random; int8 post-training quantization from a representative
dataset, int8 input and output, int16 cell state (the converter's choice for int8 LSTMs).

SPEC: {"batch": 1, "steps": T, "features": F, "units": [U1, U2, ...] (stacked LSTMs), "time_major": false,
       "return_sequences": true (of the last LSTM), "dense": 0 (units of a Dense head, 0 = none), "seed": 0,
       "range": 1.0 (inputs uniform in [-range, range])}
"""

from __future__ import annotations

import json
import sys
import uuid


def _lstm_body(inputs, init_h, init_c, kernel, recurrent_kernel, bias, time_major):
    import tensorflow as tf

    steps = tf.unstack(inputs, axis=0 if time_major else 1)
    h, c = init_h, init_c
    outs = []
    for x in steps:
        z = tf.matmul(x, kernel) + tf.matmul(h, recurrent_kernel) + bias
        i, f, g, o = tf.split(z, 4, axis=1)
        c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
        h = tf.sigmoid(o) * tf.tanh(c)
        outs.append(h)
    return h, tf.stack(outs, axis=0 if time_major else 1), h, c, tf.constant(0.0)


def build(spec: dict, out: str) -> None:
    import numpy as np
    import tensorflow as tf

    batch, steps, feats = spec.get("batch", 1), spec["steps"], spec["features"]
    time_major = bool(spec.get("time_major", False))
    units = spec["units"]
    rng = np.random.default_rng(spec.get("seed", 0))
    holder = tf.Module()
    weights = []
    fin = feats
    for u in units:
        k = tf.Variable((rng.uniform(-1, 1, (fin, 4 * u)) / np.sqrt(fin)).astype(np.float32))
        r = tf.Variable((rng.uniform(-1, 1, (u, 4 * u)) / np.sqrt(u)).astype(np.float32))
        b = tf.Variable(rng.normal(0, 0.4, (4 * u,)).astype(np.float32))
        weights.append((k, r, b, u))
        fin = u
    dense = spec.get("dense", 0)
    if dense:
        dw = tf.Variable(rng.normal(0, 1 / np.sqrt(fin), (fin, dense)).astype(np.float32))
        db = tf.Variable(rng.normal(0, 0.1, (dense,)).astype(np.float32))
    holder.vars = [v for w in weights for v in w[:3]] + ([dw, db] if dense else [])
    shape = [steps, batch, feats] if time_major else [batch, steps, feats]

    def forward(x):
        for n, (k, r, b, u) in enumerate(weights):
            zeros = tf.zeros((batch, u))
            attrs = {"api_implements": f"lstm_{uuid.uuid4()}", "api_preferred_device": "CPU",
                     "time_major": time_major, "go_backwards": False}
            fn = tf.function(lambda i, h, c, kk, rr, bb: _lstm_body(i, h, c, kk, rr, bb, time_major),
                             experimental_attributes=attrs, autograph=False)
            last, seq, _, _, _ = fn(x, zeros, zeros, tf.convert_to_tensor(k), tf.convert_to_tensor(r),
                                    tf.convert_to_tensor(b))
            x = seq if (n < len(weights) - 1 or spec.get("return_sequences", True)) else last
        if dense:
            x = tf.matmul(tf.reshape(x, (-1, x.shape[-1])), dw) + db
        return x

    fwd = tf.function(forward, input_signature=[tf.TensorSpec(shape, tf.float32)], autograph=False)
    holder.forward = fwd
    cf = fwd.get_concrete_function()
    r_in = spec.get("range", 1.0)

    def rep():
        for _ in range(48):
            yield [rng.uniform(-r_in, r_in, size=shape).astype(np.float32)]

    conv = tf.lite.TFLiteConverter.from_concrete_functions([cf], holder)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    data = conv.convert()
    with open(out, "wb") as f:
        f.write(data)


if __name__ == "__main__":
    # one model (SPEC OUT), or several in one TensorFlow start-up: a JSON list of [SPEC, OUT] pairs
    if len(sys.argv) == 2:
        for spec_, out_ in json.loads(sys.argv[1]):
            build(spec_, out_)
    else:
        build(json.loads(sys.argv[1]), sys.argv[2])
