"""The models hobbyists build for an IMU gesture classifier, through edgeq: float / PTQ int8 / QAT int8 / int16x8.

Data: ``edgeq.convert.gestures.make_gestures`` (synthetic 64 x 3 accelerometer windows, 4 classes, deterministic):
1200 training and 2000 test windows (one window is 0.05 pp). Models: a Conv1D + Concatenate + MaxPooling1D + BatchNormalization net, a CNN
with a (2, 1)-strided DepthwiseConv2D, an LSTM and a GRU. Every quantized model is checked fully int8 (int16x8: no
float tensor) and its accuracy is measured in the TFLM interpreter (tflite-micro), one window at a time; each is also
compiled by edgeq for this host (portable C, gcc) and its outputs compared byte for byte with TFLM's on every test
window (the last column).

    python benchmarks/hobbyist.py            # prints the Markdown table, writes benchmarks/results/hobbyist.md
    python benchmarks/hobbyist.py lstm gru   # only those models (printed, not recorded)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgeq.convert._tf import import_keras  # noqa: E402
from edgeq.convert.gestures import make_gestures  # noqa: E402

N_TRAIN, N_TEST, EPOCHS, QAT_EPOCHS = 1200, 2000, 25, 4


def build(kind: str):
    keras = import_keras()
    keras.utils.set_random_seed(0)
    inp = keras.Input((64, 3), name="imu")
    L = keras.layers
    if kind == "conv1d":
        h = L.Conv1D(16, 5, padding="same", name="conv_in")(inp)
        h = L.BatchNormalization(name="bn_in")(h)
        h = L.ReLU(name="relu_in")(h)
        a = L.Conv1D(16, 3, padding="same", activation="relu", name="branch_k3")(h)
        b = L.Conv1D(16, 3, dilation_rate=2, padding="same", activation="relu", name="branch_d2")(h)
        h = L.Concatenate(name="concat")([a, b])
        h = L.MaxPooling1D(2, name="pool")(h)
        h = L.Conv1D(24, 3, name="conv_out")(h)
        h = L.BatchNormalization(name="bn_out")(h)
        h = L.ReLU(name="relu_out")(h)
        h = L.GlobalAveragePooling1D(name="gap")(h)
    elif kind == "dwcnn":
        h = L.Reshape((64, 3, 1), name="as_image")(inp)
        h = L.Conv2D(16, (5, 3), padding="same", activation="relu", name="conv")(h)
        h = L.DepthwiseConv2D((3, 1), strides=(2, 1), padding="same", name="dw_s21")(h)
        h = L.BatchNormalization(name="bn")(h)
        h = L.ReLU(name="relu")(h)
        h = L.Conv2D(24, 1, activation="relu", name="pointwise")(h)
        h = L.GlobalAveragePooling2D(name="gap")(h)
    elif kind == "lstm":
        h = L.LSTM(24, name="lstm")(inp)
    elif kind == "gru":
        h = L.GRU(24, name="gru")(inp)
    else:
        raise ValueError(kind)
    out = L.Dense(4, activation="softmax", name="probs")(h)
    return keras.Model(inp, out, name=kind)


def model_inputs(it, x: np.ndarray) -> list[np.ndarray]:
    """Each window as the model's input tensor (quantized with its scale / zero point unless it takes float)."""
    i = it.get_input_details(0)
    dtype = i["dtype"]
    qp = i["quantization_parameters"]
    s, z = (qp["scales"][0], qp["zero_points"][0]) if len(qp["scales"]) else (0.0, 0)
    if np.dtype(dtype).kind == "f":
        return [sample[None].astype(dtype) for sample in x]
    info = np.iinfo(dtype)
    return [np.clip(np.round(sample / s) + z, info.min, info.max).astype(dtype)[None] for sample in x]


def tflm_accuracy(tflite: bytes, x: np.ndarray, y: np.ndarray) -> float:
    from tflite_micro.python.tflite_micro import runtime

    it = runtime.Interpreter.from_bytes(tflite)
    correct = 0
    for q, label in zip(model_inputs(it, x), y):
        it.set_input(q, 0)
        it.invoke()
        correct += int(np.argmax(it.get_output(0).ravel()) == label)
        it.reset()
    return correct / len(y)


def edgeq_c_vs_tflm(tflite: bytes, x: np.ndarray) -> str:
    """The model compiled by edgeq for this host (portable C, built with gcc) against the TFLM interpreter, output
    bytes compared window by window; or why edgeq's compiler refuses it."""
    import tempfile

    from tflite_micro.python.tflite_micro import runtime

    from edgeq.errors import EdgeqError
    from edgeq.reference import PortableHostReference, TflmReference

    batch = [q.tobytes() for q in model_inputs(runtime.Interpreter.from_bytes(tflite), x)]
    with tempfile.TemporaryDirectory(prefix="edgeq-hobbyist-") as tmp:
        path = Path(tmp) / "model.tflite"
        path.write_bytes(tflite)
        try:
            with PortableHostReference(path) as host:
                got = host.run_many(batch)
        except EdgeqError as exc:
            return f"not compiled: {str(exc).splitlines()[0][:80]}"
        with TflmReference(path) as ref:
            want = ref.run_many(batch)
    same = sum(g == w for g, w in zip(got, want))
    return f"{same:,}/{len(batch):,} identical"


def main() -> int:
    from edgeq.convert import quantize
    from edgeq.convert.verify import require_full_int8
    from edgeq.errors import EdgeqError
    from edgeq.qat.train import run_qat

    keras = import_keras()
    x_tr, y_tr = make_gestures(N_TRAIN, seed=0)
    x_te, y_te = make_gestures(N_TEST, seed=1)
    rows = []
    kinds = sys.argv[1:] or ["conv1d", "dwcnn", "lstm", "gru"]
    for kind in kinds:
        t0 = time.perf_counter()
        m = build(kind)
        m.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
        m.fit(x_tr, y_tr, epochs=EPOCHS, batch_size=32, verbose=0, validation_split=0.0)
        f_acc = float(np.mean(np.argmax(m.predict(x_te, verbose=0), 1) == y_te))
        fsize = len(quantize(m, "float32").tflite)
        rows.append((kind, "float32", fsize, f_acc, "-", "-"))
        ptq = quantize(m, "int8", data=x_tr[:300], progress=False)
        require_full_int8(ptq.tflite)
        p_acc = tflm_accuracy(ptq.tflite, x_te, y_te)
        rows.append((kind, "PTQ int8", len(ptq.tflite), p_acc, "TFLM", edgeq_c_vs_tflm(ptq.tflite, x_te)))
        try:  # recurrent layers stay frozen in float and are calibrated post-training; QAT for the rest
            q = run_qat(m, x_tr, y_tr, epochs=QAT_EPOCHS, lr=3e-4, source=kind)
            require_full_int8(q.tflite)
            rows.append((kind, "QAT int8", len(q.tflite), tflm_accuracy(q.tflite, x_te, y_te), "TFLM",
                         edgeq_c_vs_tflm(q.tflite, x_te)))
        except EdgeqError as exc:
            rows.append((kind, "QAT int8", None, None, f"n/a: {str(exc)[:90]}", "-"))
        i16 = quantize(m, "int16x8", data=x_tr[:300], progress=False)
        rows.append((kind, "int16x8", len(i16.tflite), tflm_accuracy(i16.tflite, x_te, y_te), "TFLM",
                     edgeq_c_vs_tflm(i16.tflite, x_te)))
        print(f"{kind}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)

    lines = [f"| model | variant | bytes | accuracy ({N_TEST:,} test windows) | drop vs float (pp) | run by | "
             "edgeq C (host) vs TFLM, outputs |",
             "|---|---|---:|---:|---:|---|---|"]
    base = {}
    for kind, variant, size, acc, how, exact in rows:
        if variant == "float32":
            base[kind] = acc
        drop = "-" if acc is None or variant == "float32" else f"{100 * (base[kind] - acc):.2f}"
        lines.append(f"| {kind} | {variant} | {'-' if size is None else f'{size:,}'} | "
                     f"{'-' if acc is None else f'{100 * acc:.2f}%'} | {drop} | {how} | {exact} |")
    text = "\n".join(lines)
    print(text)
    if not sys.argv[1:]:  # the full run is the one recorded
        out = ROOT / "benchmarks" / "results" / "hobbyist.md"
        out.write_text("# benchmarks/hobbyist.py\n\n" + text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
