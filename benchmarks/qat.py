"""Quantization-aware training vs post-training quantization, measured: float32 / PTQ int8 / QAT int8.

Two models on sklearn's load_digits (8x8 images scaled to [0, 1]; stratified 75/25 split, seed 0, so the test set
is 450 samples and one sample is 0.22 pp):

* ``digits_cnn``: Conv(16)-ReLU, MaxPool, Conv(32)-ReLU, Flatten, Dense(10)-softmax;
* ``residual_bn_cnn``: conv-BN-ReLU stem, a residual block (conv-BN-ReLU, conv-BN, Add, ReLU), MaxPool, a
  depthwise residual block (depthwise-BN-ReLU6, 1x1 conv-BN, Add, ReLU), GlobalAveragePooling, Dense(10)-softmax.

Each is trained in float (Adam 1e-3), then quantized twice: PTQ (``edgeq.convert.quantize``, min/max calibration on
the training set, per-tensor Dense like QAT) and QAT (``edgeq.qat``: fine-tuning from the float weights, Adam 1e-4
cosine-decayed, no representative dataset at conversion). All three .tflite models are run on the test set with
``edgeq.convert.evaluation`` (size, accuracy, output and per-layer SQNR vs float). The acceptance checks:
QAT accuracy >= float - 0.1 pp and >= PTQ; the QAT .tflite fully int8; TFLM and edgeq's compiled C (host build)
give identical outputs on the whole test set.

    python benchmarks/qat.py                       # ~2 min on 2 cores; writes benchmarks/results/qat.{md,png}
    python benchmarks/qat.py --qat-epochs 20 --out-dir /tmp/qat
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def digits_cnn(keras):
    return keras.Sequential([
        keras.Input((8, 8, 1), name="image"),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ], name="digits_cnn")


def residual_bn_cnn(keras):
    L = keras.layers
    i = keras.Input((8, 8, 1), name="image")
    h = L.ReLU()(L.BatchNormalization()(L.Conv2D(16, 3, padding="same", use_bias=False)(i)))
    r = L.ReLU()(L.BatchNormalization()(L.Conv2D(16, 3, padding="same", use_bias=False)(h)))
    r = L.BatchNormalization()(L.Conv2D(16, 3, padding="same", use_bias=False)(r))
    h = L.ReLU()(L.Add()([h, r]))
    h = L.MaxPooling2D()(h)
    r = L.ReLU(max_value=6.0)(L.BatchNormalization()(L.DepthwiseConv2D(3, padding="same", use_bias=False)(h)))
    r = L.BatchNormalization()(L.Conv2D(16, 1, use_bias=False)(r))
    h = L.ReLU()(L.Add()([h, r]))
    h = L.GlobalAveragePooling2D()(h)
    o = L.Dense(10, activation="softmax")(h)
    return keras.Model(i, o, name="residual_bn_cnn")


def bit_exact(tflite: bytes, x: np.ndarray) -> str:
    """'yes' when TFLM and edgeq's compiled host C give identical outputs on every sample, else why not."""
    try:
        from tflite_micro.python.tflite_micro import runtime
    except Exception:  # noqa: BLE001
        return "n/a (no tflite-micro)"
    from edgeq.tflite import parse_model

    graph = parse_model(tflite)
    t = graph.input_tensors()[0]
    q = np.clip(np.round(x / np.float32(t.scale)) + t.zero_point, -128, 127).astype(np.int8)
    interp = runtime.Interpreter.from_bytes(tflite)
    ref = []
    for s in q:
        interp.set_input(s[None], 0)
        interp.invoke()
        ref.append(np.array(interp.get_output(0), copy=True).reshape(-1))
    ref = np.stack(ref)
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "m.tflite"
        model.write_bytes(tflite)
        proc = subprocess.run([sys.executable, "-m", "edgeq", "compile", str(model), "--target", "host", "--build",
                               "-o", str(Path(tmp) / "c")], capture_output=True, text=True)
        if proc.returncode != 0:
            return f"compile failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}"
        out = subprocess.run([str(Path(tmp) / "c" / "model_host")], input=q.tobytes(), capture_output=True)
    host = np.frombuffer(out.stdout, dtype=np.int8)
    if host.size != ref.size:
        return f"host binary wrote {host.size} bytes, expected {ref.size}"
    diff = int(np.abs(host.reshape(ref.shape).astype(int) - ref.astype(int)).max())
    return f"yes ({len(q)}/{len(q)} identical)" if diff == 0 else f"NO (max diff {diff} LSB)"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--float-epochs", type=int, default=40)
    ap.add_argument("--qat-epochs", type=int, default=10)
    ap.add_argument("--qat-lr", type=float, default=1e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out-dir", default=str(REPO / "benchmarks" / "results"))
    ap.add_argument("--models", default="digits_cnn,residual_bn_cnn")
    args = ap.parse_args(argv)

    from edgeq.convert._tf import import_keras

    keras = import_keras()
    from edgeq.qat.report import Comparison, compare, write_report
    from edgeq.qat.train import run_qat
    from edgeq.tflite import parse_model
    from edgeq.tflite.check import mcu_findings, model_kind

    from edgeq.convert.digits import load_digits_split

    d = load_digits_split()
    xtr, xte, ytr, yte = d.x_train, d.x_test, d.y_train, d.y_test
    builders = {"digits_cnn": digits_cnn, "residual_bn_cnn": residual_bn_cnn}
    comparisons: list[Comparison] = []
    checks: list[tuple[str, str, bool]] = []
    extra_rows = []
    started = time.perf_counter()
    for name in args.models.split(","):
        keras.utils.set_random_seed(args.seed)
        model = builders[name](keras)
        model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
        t0 = time.perf_counter()
        model.fit(xtr, ytr, epochs=args.float_epochs, batch_size=32, verbose=0)
        t_float = time.perf_counter() - t0
        res = run_qat(model, xtr, ytr, x_val=xte, y_val=yte, epochs=args.qat_epochs, lr=args.qat_lr,
                      seed=args.seed, source=name)
        cmp = compare(model, res.tflite, xte, yte, calibration_data=xtr, name=name)
        cmp.notes.append(f"float: {args.float_epochs} epochs ({t_float:.0f} s); QAT: {args.qat_epochs} epochs "
                         f"fine-tuning, lr {args.qat_lr:g} cosine ({res.summary['seconds']:.0f} s incl. conversion)")
        comparisons.append(cmp)
        graph = parse_model(res.tflite)
        f_acc, p_acc, q_acc = cmp.float_accuracy, cmp.ptq.candidate.accuracy, cmp.qat.candidate.accuracy
        inner = [f for f in mcu_findings(graph) if f.blocking]
        exact = bit_exact(res.tflite, xte)
        checks += [
            (name, f"QAT {100 * q_acc:.2f}% >= float {100 * f_acc:.2f}% - 0.1 pp", q_acc >= f_acc - 0.001),
            (name, f"QAT {100 * q_acc:.2f}% >= PTQ {100 * p_acc:.2f}%", q_acc >= p_acc),
            (name, f"QAT .tflite fully int8 (kind {model_kind(graph)}, ops {', '.join(graph.ops_used)}, "
                   f"{len(inner)} MCU blockers)", model_kind(graph) == "int8" and not inner),
            (name, f"TFLM == edgeq host C on the test set: {exact}", exact.startswith("yes")),
        ]
        extra_rows.append((name, exact))

    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    md, png = out_dir / "qat.md", out_dir / "qat.png"
    text = write_report(comparisons, md, png, title="Float vs PTQ int8 vs QAT int8 (sklearn digits, 450 test samples)")
    lines = ["", "## Acceptance", ""]
    lines += [f"- [{'x' if ok else ' '}] {name}: {what}" for name, what, ok in checks]
    lines += ["", f"Whole run: {time.perf_counter() - started:.0f} s (`python benchmarks/qat.py`)."]
    from edgeq._fs import atomic_write_text

    atomic_write_text(md, text + "\n".join(lines) + "\n")
    print(text + "\n".join(lines))
    print(f"\nwrote {md} and {png}")
    return 0 if all(ok for _, _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
