"""`edgeq export --app classify`: a gesture model goes from .keras to a firmware that prints the right labels, with
three commands (quantize, export --app classify --build, flash), on qemu-m4 and on the Uno in simavr. The labels it
prints equal the argmax of TFLM's output on the same quantized input; text and binary input both work."""

from __future__ import annotations

import contextlib
import json
import os
import signal

import numpy as np
import pytest

from conftest import assert_user_error, run_cli
from fwutil import Serial, need_arm, need_avr, tflm_outputs

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

LABELS = ["idle", "wave", "circle", "shake"]


def gesture_data(n_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Accelerometer windows (32 samples x 3 axes, in g): idle noise, a wave on x, a circle in x/y, a shake on z."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, 32, dtype=np.float32)
    xs, ys = [], []
    for label in range(4):
        for _ in range(n_per_class):
            f = rng.uniform(1.5, 3.0)
            ph = rng.uniform(0, 2 * np.pi)
            w = rng.normal(0, 0.08, size=(32, 3)).astype(np.float32)
            if label == 1:
                w[:, 0] += np.sin(2 * np.pi * f * t + ph)
            elif label == 2:
                w[:, 0] += np.sin(2 * np.pi * f * t + ph)
                w[:, 1] += np.cos(2 * np.pi * f * t + ph)
            elif label == 3:
                w[:, 2] += 0.8 * np.sign(np.sin(2 * np.pi * 8 * f * t + ph))
            xs.append(w)
            ys.append(label)
    return np.stack(xs).astype(np.float32), np.array(ys)


@pytest.fixture(scope="module")
def gesture(tmp_path_factory):
    """A fresh folder with gesture.keras (trained float model), gesture_calib.npy and gestures.txt; then the first
    two of the three commands, run there with relative paths."""
    tf = pytest.importorskip("tensorflow", reason="TensorFlow is needed (pip install 'edgeq[convert]')")
    need_arm()
    work = tmp_path_factory.mktemp("gesture")
    x, y = gesture_data(60, 0)
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([tf.keras.Input((32, 3)), tf.keras.layers.Flatten(),
                                 tf.keras.layers.Dense(16, activation="relu"), tf.keras.layers.Dense(4),
                                 tf.keras.layers.Softmax()])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=15, batch_size=16, verbose=0)
    model.save(work / "gesture.keras")
    np.save(work / "gesture_calib.npy", x[::2])
    (work / "gestures.txt").write_text("\n".join(LABELS) + "\n")
    proc = run_cli("quantize", "gesture.keras", "--mode", "int8", "--data", "gesture_calib.npy", "-o",
                   "gesture.tflite", cwd=work)
    assert proc.returncode == 0, proc.stderr
    return work


def _quantize(model, x: np.ndarray) -> np.ndarray:
    """The device's edgeq_quantize_input0: roundf(x / scale) + zero point, clamped (float32 arithmetic)."""
    from edgeq.tflite import read_model

    t = read_model(model).input_tensors()[0]
    v = x.astype(np.float32) / np.float32(t.scale)
    r = np.sign(v) * np.floor(np.abs(v) + np.float32(0.5))  # roundf: half away from zero
    return np.clip(r + t.zero_point, -128, 127).astype(np.int8)


def _windows():
    x, y = gesture_data(3, 7)  # 12 windows the model never saw
    return x, y


def _check_labels(link: Serial, model, texts: bool = True) -> int:
    """Send every test window (text, then binary) and check the printed label against TFLM's argmax."""
    x, y = _windows()
    agree_truth = 0
    for i, w in enumerate(x):
        q = _quantize(model, w.reshape(1, 32, 3))
        ref = int(np.argmax(np.frombuffer(tflm_outputs(model, q), np.int8)))
        if texts:
            # 6 decimals: the float the device parses rounds to the same int8 as the host's float32 (checked here)
            text = " ".join(f"{v:.6f}" for v in w.reshape(-1))
            assert np.array_equal(_quantize(model, np.array([float(s) for s in text.split()], np.float32)),
                                  q.reshape(-1))
            link.send_raw(text.encode() + b"\n")
        else:
            link.send_raw(b"!" + q.tobytes())
        line = link.read_until(b"\n", 60).decode().strip()
        assert line.startswith("class: "), line
        top = [part.split() for part in line[len("class: "):].split(" | ")]
        assert len(top) == 3 and all(name in LABELS for name, _ in top)
        assert top[0][0] == LABELS[ref], (i, line, LABELS[ref])
        scores = [float(s) for _, s in top]
        assert scores == sorted(scores, reverse=True) and 0.0 <= scores[-1] <= scores[0] <= 1.0
        agree_truth += top[0][0] == LABELS[int(y[i])]
    return agree_truth


def test_gesture_classify_on_qemu_m4(gesture):
    proc = run_cli("export", "gesture.tflite", "--board", "qemu-m4", "--app", "classify", "--labels", "gestures.txt",
                   "--build", "-o", "fw/gesture", "--json", cwd=gesture)
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert d["firmware"] and d["fit"]["fits"]
    proc = run_cli("flash", "--board", "qemu-m4", "fw/gesture", "--detach", "--json", cwd=gesture, timeout=60)
    assert proc.returncode == 0, proc.stderr
    f = json.loads(proc.stdout)
    try:
        link = Serial(f["url"])
        try:
            head = link.read_until(b"\n", 20).decode()
            assert head.startswith("edgeq classify gesture: send 96 values per window"), head
            assert _check_labels(link, gesture / "gesture.tflite", texts=True) >= 10  # the model is right, too
            _check_labels(link, gesture / "gesture.tflite", texts=False)
        finally:
            link.close()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(f["pid"], signal.SIGTERM)


def test_nano33ble_sketch_check_build_runs_the_app(gesture):
    """The Nano 33 BLE sketch's sources, compiled for its Cortex-M4 and linked with the QEMU platform (the check
    build), run the same classify app: the labels match TFLM's on qemu-m4 (binary input this time)."""
    proc = run_cli("export", "gesture.tflite", "--board", "nano33ble", "--app", "classify", "--labels",
                   "gestures.txt", "--build", "-o", "fw/nano", "--json", cwd=gesture)
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert d["sketch"].endswith("gesture/gesture.ino") and "classify app" in d["build"]["note"]
    sketch = (gesture / "fw" / "nano" / "gesture" / "gesture.ino").read_text()
    assert "edgeq_app_step();" in sketch and "extern \"C\" int edgeq_read_input(void)" in sketch
    proc = run_cli("flash", "--board", "qemu-m4", d["firmware"], "--detach", "--json", cwd=gesture, timeout=60)
    assert proc.returncode == 0, proc.stderr
    f = json.loads(proc.stdout)
    try:
        link = Serial(f["url"])
        try:
            assert link.read_until(b"\n", 20).decode().startswith("edgeq classify gesture")
            _check_labels(link, gesture / "gesture.tflite", texts=False)
        finally:
            link.close()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(f["pid"], signal.SIGTERM)


@pytest.mark.avr
def test_gesture_classify_on_the_uno(gesture):
    need_avr()
    proc = run_cli("export", "gesture.tflite", "--board", "uno", "--app", "classify", "--labels", "gestures.txt",
                   "--build", "-o", "fw/uno", "--json", cwd=gesture)
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert d["ram_bytes"] <= 2048 and d["flash_bytes"] <= 32256
    proc = run_cli("flash", "--board", "uno", "fw/uno", "--detach", "--json", cwd=gesture, timeout=60)
    assert proc.returncode == 0, proc.stderr
    f = json.loads(proc.stdout)
    try:
        link = Serial(f["url"])
        try:
            head = link.read_until(b"\n", 30).decode()
            assert "edgeq classify gesture: send 96 values per window" in head, head
            _check_labels(link, gesture / "gesture.tflite", texts=True)
        finally:
            link.close()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(f["pid"], signal.SIGKILL)


def test_app_options_are_checked(gesture, shared_models):
    (gesture / "bad.txt").write_text("a\nb\n")
    assert_user_error(run_cli("export", "gesture.tflite", "--app", "classify", "--labels", "bad.txt", "-o", "x",
                              cwd=gesture), "2 labels but the model has 4 classes")
    assert_user_error(run_cli("export", "gesture.tflite", "--app", "regress", "--labels", "gestures.txt", "-o", "x",
                              cwd=gesture), "--labels goes with --app classify")
    assert_user_error(run_cli("export", "gesture.tflite", "--app", "classify", "--top-k", "5", "-o", "x",
                              cwd=gesture), "--top-k 5")
    assert not (gesture / "x").exists()


def test_regress_prints_dequantized_outputs(gesture, shared_models, tmp_path):
    """--app regress on the AD autoencoder (640 -> 640): the printed values are TFLM's outputs dequantized."""
    from edgeq.tflite import read_model

    model = shared_models / "ad01_int8.tflite"
    proc = run_cli("export", str(model), "--board", "qemu-m4", "--app", "regress", "--build", "-o",
                   str(tmp_path / "fw"), "--json")
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("flash", "--board", "qemu-m4", str(tmp_path / "fw"), "--detach", "--json", timeout=60)
    f = json.loads(proc.stdout)
    try:
        link = Serial(f["url"])
        try:
            link.read_until(b"\n", 20)
            q = np.random.default_rng(3).integers(-128, 128, size=(1, 640), dtype=np.int8)
            link.send_raw(b"!" + q.tobytes())
            line = link.read_until(b"\n", 60).decode().strip()
            assert line.startswith("output: ")
            got = np.array([float(v) for v in line[len("output: "):].split()])
            o = read_model(model).output_tensors()[0]
            ref = (np.frombuffer(tflm_outputs(model, q), np.int8).astype(np.float64) - o.zero_point) * o.scale
            assert got.shape == (640,) and np.allclose(got, ref, atol=6e-5)
        finally:
            link.close()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(f["pid"], signal.SIGTERM)


def test_labels_from_the_model_metadata(shared_models, tmp_path):
    """Class names packed into the .tflite as TFLite metadata associated files (a zip appended to the flatbuffer)
    name the classes when --labels is not given; --labels wins over them."""
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("labels.txt", "\n".join(f"word{i}" for i in range(12)) + "\n")
    model = tmp_path / "kws_meta.tflite"
    model.write_bytes((shared_models / "kws_ref_model.tflite").read_bytes() + buf.getvalue())
    proc = run_cli("export", model, "--board", "qemu-m4", "--app", "classify", "-o", tmp_path / "a")
    assert proc.returncode == 0, proc.stderr
    meta = json.loads((tmp_path / "a" / "edgeq-project.json").read_text())
    assert meta["app"] == "classify" and meta["labels"] == [f"word{i}" for i in range(12)]
    assert 'edgeq_label11[] = "word11";' in (tmp_path / "a" / "edgeq_classify.c").read_text()
    (tmp_path / "mine.txt").write_text("\n".join(f"k{i}" for i in range(12)))
    proc = run_cli("export", model, "--board", "qemu-m4", "--app", "classify", "--labels", tmp_path / "mine.txt",
                   "-o", tmp_path / "b")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "b" / "edgeq-project.json").read_text())["labels"][0] == "k0"
    proc = run_cli("export", shared_models / "kws_ref_model.tflite", "--board", "qemu-m4", "--app", "classify",
                   "-o", tmp_path / "c")
    assert json.loads((tmp_path / "c" / "edgeq-project.json").read_text())["labels"][:2] == ["class0", "class1"]
