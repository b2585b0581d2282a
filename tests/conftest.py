"""Shared fixtures. Engineers: add fixtures in clearly headed sections; don't reorder others'."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


# --- hypothesis: the same examples on every run, so a failure in CI reproduces on any machine; EDGEQ_HYPOTHESIS=explore
# draws new examples each run (what `./run.sh fuzz` and a developer hunting bugs want). Per-test @settings still set
# their own max_examples.
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("edgeq", derandomize=True, database=None, deadline=None)
_hypothesis_settings.register_profile("explore", deadline=None)
_hypothesis_settings.load_profile(os.environ.get("EDGEQ_HYPOTHESIS", "edgeq"))


# --- MLPerf Tiny models (../shared/models/mlperf-tiny, or $EDGEQ_SHARED_MODELS) -------------------------------------
def shared_models_dir() -> Path:
    env = os.environ.get("EDGEQ_SHARED_MODELS")
    return Path(env) if env else REPO.parent / "shared" / "models" / "mlperf-tiny"


@pytest.fixture(scope="session")
def shared_models() -> Path:
    d = shared_models_dir()
    if not (d / "kws_ref_model.tflite").is_file():
        pytest.skip(f"MLPerf Tiny models not found in {d} (set EDGEQ_SHARED_MODELS to the folder that holds them)")
    return d


# --- the benchmark firmware built for this computer (edgeq export --board host), under ASan + UBSan -----------------------
HOST_SANITIZERS = "-fsanitize=address,undefined -fno-sanitize-recover=all"


@pytest.fixture(scope="session")
def host_firmware(shared_models, tmp_path_factory) -> Path:
    """KWS's real benchmark firmware (protocol, model, kernels) as a host program serving the protocol on
    stdin/stdout, built once per session with sanitizers: any out-of-bounds access or undefined behaviour the
    tests provoke aborts it. Reach it as ``edgeq-host://<this path>``."""
    if not shutil.which("make") or not (shutil.which("cc") or shutil.which("gcc")):
        pytest.skip("no host C compiler/make (apt-get install -y gcc make)")
    from edgeq.targets.boards import get_board
    from edgeq.targets.export import export
    from edgeq.targets.platforms.host import HostPlatform

    out = tmp_path_factory.mktemp("host-fw") / "kws"
    export(shared_models / "kws_ref_model.tflite", "host", out)
    return HostPlatform(get_board("host")).build(out, {}, extra_cflags=HOST_SANITIZERS).firmware


# --- suites with their own command: the product suites (./run.sh product: tests/acceptance, the executable docs),
# the board farm (./run.sh farm: labgrid coordinator, exporters, ser2net and QEMU boards on localhost) and the
# training suites (./run.sh train: QAT, the demo, the accuracy report). CI runs each.
_SUITES = {"acceptance": "product", "test_docs.py": "product", "test_farm.py": "farm", "test_farm_matrix.py": "farm",
           # ./run.sh train: the suites that train Keras models (QAT, the demo, the accuracy report)
           "test_qat.py": "train", "test_qat_layers.py": "train", "test_demo.py": "train",
           "test_one_accuracy.py": "train"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        rel = Path(str(item.fspath)).relative_to(REPO / "tests").parts
        if rel and rel[0] in _SUITES:
            item.add_marker(getattr(pytest.mark, _SUITES[rel[0]]))


# --- CMSIS-NN (../shared/third_party/cmsis-nn, pinned; or $EDGEQ_CMSIS_NN_DIR) ----------------------------------------
def shared_cmsis_nn_dir() -> Path | None:
    """The CMSIS-NN checkout the tests use: $EDGEQ_CMSIS_NN_DIR, else the pinned copy in ../shared/third_party."""
    env = os.environ.get("EDGEQ_CMSIS_NN_DIR")
    if env:
        return Path(env)
    d = REPO.parent / "shared" / "third_party" / "cmsis-nn"
    return d if (d / "Include" / "arm_nnfunctions.h").is_file() else None


@pytest.fixture(scope="session")
def cmsis_nn_dir() -> Path:
    from edgeq.compiler.cmsis_nn import find_cmsis_nn

    d = shared_cmsis_nn_dir()
    if d is None:
        pytest.skip("no CMSIS-NN checkout: ../shared/third_party/cmsis-nn is missing and EDGEQ_CMSIS_NN_DIR is not set")
    return find_cmsis_nn(d)


# --- running the CLI the way a user does -----------------------------------------------------------------------------
def run_cli(*args: str, cwd: Path | None = None, timeout: float = 600, env: dict | None = None,
            input: bytes | None = None) -> subprocess.CompletedProcess:
    """``python -m edgeq ARGS`` in a subprocess; returns the CompletedProcess with text stdout/stderr."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    return subprocess.run([sys.executable, "-m", "edgeq", *map(str, args)], cwd=cwd, timeout=timeout,
                          capture_output=True, env=full_env, input=input, text=input is None)


def popen_cli(*args: str, cwd: Path | None = None, **kw) -> subprocess.Popen:
    """``python -m edgeq ARGS`` started in the background (stdout/stderr piped), for tests that signal it. SIGINT is
    reset to its default in the child: a shell starts background jobs with SIGINT ignored, Python then installs no
    KeyboardInterrupt handler, and a Ctrl-C test run from such a job would test nothing (or fail)."""
    import signal

    return subprocess.Popen([sys.executable, "-m", "edgeq", *map(str, args)], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
                            **kw)


def assert_user_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    """A user mistake: exit 2, exactly one line on stderr naming the problem, no traceback."""
    err = proc.stderr if isinstance(proc.stderr, str) else proc.stderr.decode()
    assert proc.returncode == 2, f"exit {proc.returncode}, stderr: {err}"
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got: {err!r}"
    for needle in needles:
        assert needle.lower() in lines[0].lower(), f"{needle!r} not in {lines[0]!r}"


def require_tool(name: str, apt: str) -> str:
    path = shutil.which(name)
    if not path:
        pytest.skip(f"{name} not installed (apt-get install -y --no-install-recommends {apt})")
    return path


# --- sklearn digits + a trained Keras CNN (PTQ, QAT, compiler, demo) -------------------------------------------------
# ``digits``: edgeq.convert.digits.Digits (x_* float32 (N, 8, 8, 1) in [0, 1], y_* int64; 75/25 stratified split).
# ``digits_cnn_path``: a small CNN trained on it, saved as .keras (open batch; edgeq fixes it to 1 when converting).
# ``digits_cnn_accuracy``: its float test accuracy. ``digits_calib_npy`` / ``digits_test_npy``: the arrays on disk.
@pytest.fixture(scope="session")
def digits():
    pytest.importorskip("sklearn", reason="scikit-learn is needed for the digits data (pip install scikit-learn)")
    from edgeq.convert.digits import load_digits_split

    return load_digits_split()


@pytest.fixture(scope="session")
def _digits_cnn(tmp_path_factory, digits):
    pytest.importorskip("tensorflow", reason="TensorFlow is needed (pip install 'edgeq[convert]')")
    from edgeq.convert.digits import train_digits_cnn

    path = tmp_path_factory.mktemp("digits_cnn") / "digits_cnn.keras"
    acc = train_digits_cnn(path, "small", epochs=12, data=digits)
    return path, acc


@pytest.fixture(scope="session")
def digits_cnn_path(_digits_cnn) -> Path:
    return _digits_cnn[0]


@pytest.fixture(scope="session")
def digits_cnn_accuracy(_digits_cnn) -> float:
    return _digits_cnn[1]


@pytest.fixture(scope="session")
def digits_calib_npy(tmp_path_factory, digits) -> Path:
    """200 training images as a .npy (calibration data)."""
    import numpy as np

    path = tmp_path_factory.mktemp("digits_data") / "calib.npy"
    np.save(path, digits.x_train[:200])
    return path


@pytest.fixture(scope="session")
def digits_test_npy(tmp_path_factory, digits) -> tuple[Path, Path]:
    """(x_test.npy, y_test.npy)."""
    import numpy as np

    d = tmp_path_factory.mktemp("digits_test")
    np.save(d / "x_test.npy", digits.x_test)
    np.save(d / "y_test.npy", digits.y_test)
    return d / "x_test.npy", d / "y_test.npy"


# --- firmware (test_firmware_*.py) ---------------------------------------------------------------------------------
# ``digits_mlp_tflite``: a tiny int8 MLP (8x8 digits -> 64 -> 32 -> 10, softmax), trained with fixed seeds and
# quantized with the TF converter: small enough for an Arduino Uno (about 6.6 KB of weights).
@pytest.fixture(scope="session")
def digits_mlp_tflite(tmp_path_factory, digits) -> Path:
    tf = pytest.importorskip("tensorflow", reason="TensorFlow is needed (pip install 'edgeq[convert]')")
    import numpy as np

    tf.keras.utils.set_random_seed(0)
    x = digits.x_train.reshape(len(digits.x_train), 64).astype(np.float32)
    model = tf.keras.Sequential([
        tf.keras.Input((64,)),
        tf.keras.layers.Dense(64, activation="relu"),
        tf.keras.layers.Dense(32, activation="relu"),
        tf.keras.layers.Dense(10),
        tf.keras.layers.Softmax(),
    ])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, digits.y_train, epochs=25, batch_size=32, verbose=0)
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([x[i:i + 1]] for i in range(200))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    path = tmp_path_factory.mktemp("digits_mlp") / "digits_mlp.tflite"
    path.write_bytes(conv.convert())
    return path
