"""QAT on MultiWorkerMirroredStrategy: one worker vs two workers on localhost, same fine-tune, same test set.

The README's custom training loop (Keras 3's ``model.fit`` does not run under MultiWorkerMirroredStrategy:
keras-team/keras#20585), run as real worker processes with ``TF_CONFIG``: once with a one-worker cluster and once
with two workers, each time from the same float model, with the same global batch, learning rate, epochs and data
order (shuffled with the seed; each worker reads its shard of every global batch). Worker 0 converts with
``edgeq.qat.convert``; the int8 .tflite's accuracy is measured in the TFLM interpreter on 2,000 test windows.

Model: the Conv1D + Concatenate + MaxPooling1D + BatchNormalization gesture classifier of ``benchmarks/hobbyist.py``
(synthetic 64 x 3 accelerometer windows, 4 classes; 1,200 training windows, float trained 25 epochs).

    python benchmarks/scaleout.py                 # seeds 0 1 2; prints the table, writes benchmarks/results/scaleout.md
    python benchmarks/scaleout.py --seeds 0       # one seed (printed, not recorded)
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

N_TRAIN, N_TEST, EPOCHS, QAT_EPOCHS, GLOBAL_BATCH, LR = 1200, 2000, 25, 4, 64, 3e-4

# One worker of the cluster: the README's recipe, with the data shuffled by the seed (the same order on every
# worker, so the two-worker run sees exactly the global batches of the one-worker run, split in two shards).
_WORKER = """
    import json, os, sys
    import numpy as np
    import tensorflow as tf
    import keras
    from edgeq import qat

    model_path, data_path, out_path, seed, epochs, global_batch, lr = sys.argv[1:8]
    seed, epochs, global_batch, lr = int(seed), int(epochs), int(global_batch), float(lr)
    strategy = tf.distribute.MultiWorkerMirroredStrategy()    # reads TF_CONFIG
    keras.utils.set_random_seed(seed)
    train = np.load(data_path)
    x, y = train["x"].astype("float32"), train["y"]
    with strategy.scope():
        q = qat.quantize_model(keras.models.load_model(model_path))
        opt = keras.optimizers.Adam(lr)
        loss_fn = keras.losses.SparseCategoricalCrossentropy(reduction="none")   # the model ends in softmax

    def shard(ctx):
        ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        ds = ds.batch(global_batch, drop_remainder=True).unbatch()             # global batches, then this shard
        ds = ds.shard(ctx.num_input_pipelines, ctx.input_pipeline_id)
        return ds.batch(ctx.get_per_replica_batch_size(global_batch), drop_remainder=True)

    data = strategy.distribute_datasets_from_function(shard)

    @tf.function
    def train_step(batches):
        def replica_step(xb, yb):
            with tf.GradientTape() as tape:
                loss = tf.nn.compute_average_loss(loss_fn(yb, q(xb, training=True)), global_batch_size=global_batch)
            opt.apply_gradients(zip(tape.gradient(loss, q.trainable_variables), q.trainable_variables))
            return loss
        return strategy.reduce("SUM", strategy.run(replica_step, args=next(batches)), axis=None)

    for epoch in range(epochs):
        batches = iter(data)
        for _ in range(len(x) // global_batch):
            train_step(batches)
    if strategy.cluster_resolver.task_id == 0:
        open(out_path, "wb").write(qat.convert(q))
    print("REPLICAS", strategy.num_replicas_in_sync, flush=True)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cluster(workers: int, tmp: Path, model: Path, data: Path, seed: int) -> bytes:
    """Start ``workers`` worker processes on localhost (TF_CONFIG); return worker 0's int8 .tflite."""
    script = tmp / "worker.py"
    script.write_text(textwrap.dedent(_WORKER))
    out = tmp / f"qat_{workers}w_seed{seed}.tflite"
    cluster = [f"localhost:{_free_port()}" for _ in range(workers)]
    procs = []
    for index in range(workers):
        env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3",
                   TF_CONFIG=json.dumps({"cluster": {"worker": cluster}, "task": {"type": "worker", "index": index}}))
        procs.append(subprocess.Popen(
            [sys.executable, str(script), str(model), str(data), str(out), str(seed), str(QAT_EPOCHS),
             str(GLOBAL_BATCH), str(LR)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp))
    try:
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=1800)
            if proc.returncode != 0 or f"REPLICAS {workers}" not in stdout:
                raise SystemExit(f"worker failed (exit {proc.returncode}):\n{stdout[-2000:]}{stderr[-3000:]}")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return out.read_bytes()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from hobbyist import build, tflm_accuracy

    from edgeq.convert import quantize
    from edgeq.convert._tf import import_keras
    from edgeq.convert.gestures import make_gestures
    from edgeq.convert.verify import require_full_int8

    keras = import_keras()
    x_tr, y_tr = make_gestures(N_TRAIN, seed=0)
    x_te, y_te = make_gestures(N_TEST, seed=1)
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgeq-scaleout-") as tmp_name:
        tmp = Path(tmp_name)
        m = build("conv1d")
        m.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
        m.fit(x_tr, y_tr, epochs=EPOCHS, batch_size=32, verbose=0)
        m.save(tmp / "float.keras")
        np.savez(tmp / "train.npz", x=x_tr, y=y_tr)
        f_acc = float(np.mean(np.argmax(m.predict(x_te, verbose=0), 1) == y_te))
        ptq = quantize(m, "int8", data=x_tr[:300], progress=False).tflite
        rows.append(("float32", "-", f_acc))
        rows.append(("PTQ int8", "-", tflm_accuracy(ptq, x_te, y_te)))
        for seed in args.seeds:
            for workers in (1, 2):
                t0 = time.perf_counter()
                tfl = run_cluster(workers, tmp, tmp / "float.keras", tmp / "train.npz", seed)
                require_full_int8(tfl)
                rows.append((f"QAT int8, {workers} worker{'s' if workers > 1 else ''}", seed,
                             tflm_accuracy(tfl, x_te, y_te)))
                print(f"seed {seed}, {workers} worker(s): {rows[-1][2]:.4f} ({time.perf_counter() - t0:.0f} s)",
                      file=sys.stderr, flush=True)

    lines = [f"| variant | seed | accuracy ({N_TEST:,} test windows, TFLM) |", "|---|---:|---:|"]
    lines += [f"| {v} | {s} | {100 * a:.2f}% |" for v, s, a in rows]
    one = [a for v, _, a in rows if v.endswith("1 worker")]
    two = [a for v, _, a in rows if v.endswith("2 workers")]
    diffs = [100 * (b - a) for a, b in zip(one, two)]
    summary = (f"mean over seeds {args.seeds}: 1 worker {100 * np.mean(one):.2f}%, 2 workers {100 * np.mean(two):.2f}%; "
               f"2 - 1 per seed (pp): {', '.join(f'{d:+.2f}' for d in diffs)}; one test window is "
               f"{100 / N_TEST:.2f} pp")
    text = "\n".join(lines) + "\n\n" + summary
    print(text)
    if args.seeds == [0, 1, 2]:
        (ROOT / "benchmarks" / "results" / "scaleout.md").write_text(
            "# benchmarks/scaleout.py\n\n" + text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
