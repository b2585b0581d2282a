"""Host runtime (edgeq.runtime, `edgeq run`, `edgeq bench --local`): every available runtime, the fallback chain and
its messages, user mistakes as one line, and the MLPerf Tiny reference answers."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from edgeq.errors import EdgeqError, ModelError, ToolchainError
from edgeq.runtime import (
    BenchSpec,
    LatencyStats,
    bench_local,
    dequantize,
    load_interpreter,
    prepare_input,
    quantize,
    run_model,
)

from conftest import REPO, assert_user_error, run_cli

KWS_LABELS = ["Down", "Go", "Left", "No", "Off", "On", "Right", "Stop", "Up", "Yes", "Silence", "Unknown"]
KWS_SAMPLE = "kws01_sample_mfcc_49x10_int8.bin"


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


RUNTIME_PARAMS = [
    pytest.param("litert", marks=pytest.mark.skipif(not _installed("ai_edge_litert"),
                                                    reason='ai-edge-litert not installed (pip install "edgeq[pi]")')),
    pytest.param("tflite-runtime", marks=pytest.mark.skipif(not _installed("tflite_runtime"),
                                                            reason="tflite-runtime not installed")),
    pytest.param("tensorflow", marks=[pytest.mark.tf, pytest.mark.skipif(
        not _installed("tensorflow"), reason='TensorFlow not installed (pip install "edgeq[convert]")')]),
]


@pytest.fixture(scope="module")
def kws_sample(shared_models) -> np.ndarray:
    return np.fromfile(shared_models / KWS_SAMPLE, dtype=np.int8).reshape(1, 49, 10, 1)


def _env(**extra: str) -> dict:
    """PYTHONPATH so a subprocess imports this checkout's edgeq (plus anything given first)."""
    paths = [extra.pop("PYTHONPATH")] if "PYTHONPATH" in extra else []
    paths += [str(REPO)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
    return {"PYTHONPATH": os.pathsep.join(paths), **extra}


# ------------------------------------------------------------------------------------------------ every runtime


@pytest.mark.parametrize("runtime", RUNTIME_PARAMS)
def test_api_kws_int8_sample_is_on(shared_models, kws_sample, runtime):
    for xnnpack in (True, False):
        model = load_interpreter(shared_models / "kws_ref_model.tflite", runtime=runtime, xnnpack=xnnpack)
        assert model.runtime.name == runtime
        res = run_model(model, kws_sample)
        assert res.raw[0].dtype == np.int8
        assert res.raw[0].tolist() == [[-128] * 5 + [127] + [-128] * 6]  # README reference output
        (idx, score), *_ = res.top_k(3)
        assert KWS_LABELS[idx] == "On" and score == pytest.approx(0.996, abs=1e-3)


@pytest.mark.parametrize("runtime", RUNTIME_PARAMS)
def test_cli_run_json(shared_models, runtime):
    proc = run_cli("run", shared_models / "kws_ref_model.tflite", "--input", shared_models / KWS_SAMPLE,
                   "--top-k", "3", "--json", "--runtime", runtime, env=_env())
    assert proc.returncode == 0, proc.stderr
    obj = json.loads(proc.stdout)
    assert obj["runtime"]["name"] == runtime and obj["runtime"]["version"]
    assert obj["top_k"][0]["index"] == 5 and obj["top_k"][0]["score"] == pytest.approx(0.99609375)
    assert len(obj["top_k"]) == 3
    assert obj["raw"][0] == [[-128] * 5 + [127] + [-128] * 6]
    assert obj["outputs"][0][0][5] == pytest.approx(0.99609375)
    assert obj["batch"] is None


@pytest.mark.parametrize("runtime", RUNTIME_PARAMS)
def test_cli_bench_local_json(shared_models, runtime):
    a, b = shared_models / "kws_ref_model.tflite", shared_models / "ad01_int8.tflite"
    proc = run_cli("bench", "--local", a, b, "--runs", "5", "--warmup", "1", "--threads", "2", "--no-xnnpack",
                   "--json", "--runtime", runtime, env=_env())
    assert proc.returncode == 0, proc.stderr
    obj = json.loads(proc.stdout)
    assert obj["mode"] == "local"
    assert obj["runtime"]["name"] == runtime
    assert [m["model"] for m in obj["models"]] == [str(a), str(b)]
    for m in obj["models"]:
        assert set(m["latency"]) == {"min", "p50", "mean", "p90", "p99", "max", "std", "unit"}
        assert m["latency"]["unit"] == "us"
        lat = m["latency"]
        assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
        assert lat["min"] <= lat["mean"] <= lat["max"] and lat["std"] >= 0
        assert m["runs"] == 5 and m["threads"] == 2 and m["xnnpack"] is False


def test_cli_bench_local_text(shared_models):
    proc = run_cli("bench", "--local", shared_models / "ad01_int8.tflite", "--runs", "3", "--warmup", "0", env=_env())
    assert proc.returncode == 0, proc.stderr
    assert "| ad01_int8.tflite | 1 | on | 3 |" in proc.stdout
    assert "p50 us" in proc.stdout


def test_cli_run_text_and_batch(shared_models, kws_sample, tmp_path):
    x = np.concatenate([kws_sample] * 3)  # (3, 49, 10, 1): a batch of 3
    np.save(tmp_path / "x.npy", x)
    proc = run_cli("run", shared_models / "kws_ref_model.tflite", "--input", tmp_path / "x.npy", "-k", "1",
                   "--labels", _labels_file(tmp_path), env=_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("1. class 5  On  score 0.996094") == 3
    proc = run_cli("run", shared_models / "kws_ref_model.tflite", "--input", tmp_path / "x.npy", "--json",
                   env=_env())
    obj = json.loads(proc.stdout)
    assert obj["batch"] == 3 and [row[0]["index"] for row in obj["top_k"]] == [5, 5, 5]
    assert np.asarray(obj["raw"][0]).shape == (3, 12)
    # without --top-k: the output vector, dequantized and raw
    proc = run_cli("run", shared_models / "kws_ref_model.tflite", "--input", shared_models / KWS_SAMPLE,
                   env=_env())
    assert proc.returncode == 0 and "0.996094" in proc.stdout and "raw (int8)" in proc.stdout


def _labels_file(tmp_path: Path) -> Path:
    p = tmp_path / "labels.txt"
    p.write_text("\n".join(KWS_LABELS) + "\n")
    return p


# ------------------------------------------------------------------------------------------------ numerics


def test_float_input_is_quantized_like_tflite(shared_models, kws_sample):
    model = load_interpreter(shared_models / "kws_ref_model.tflite")
    info = model.inputs[0]
    assert (info.scale, info.zero_point) == (pytest.approx(0.5847029089927673), 83)
    xf = (kws_sample.astype(np.float64) - 83) * info.scale  # dequantized sample
    assert np.array_equal(quantize(xf, info), kws_sample)
    assert np.array_equal(run_model(model, xf[0]).raw[0], run_model(model, kws_sample).raw[0])
    # round half away from zero (TFLite's QUANTIZE), saturating
    half = (np.array([0.5, 1.5, -0.5, -1.5, 1e6, -1e6]) * info.scale) + 0.0
    q = quantize(half, info).astype(int) - 83
    assert q[:4].tolist() == [1, 2, -1, -2] and quantize(half, info)[4:].tolist() == [127, -128]


def test_dequantize_matches_definition(shared_models):
    model = load_interpreter(shared_models / "ad01_int8.tflite")
    out = model.outputs[0]
    q = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    want = (q.astype(np.float32) - np.float32(out.zero_point)) * np.float32(out.scale)
    got = dequantize(q, out)
    assert got.dtype == np.float32 and np.array_equal(got, want)


def test_float_and_hybrid_models(shared_models, kws_sample):
    # the "float32" KWS model is hybrid (int8 conv weights, float activations): fed the dequantized sample -> On
    xf = (kws_sample.astype(np.float32) - 83) * np.float32(0.5847029089927673)
    res = run_model(shared_models / "kws_ref_model_float32.tflite", xf.reshape(49, 10))
    assert res.raw[0].dtype == np.float32 and res.top_k(1)[0][0] == 5
    assert res.outputs[0][0, 5] == pytest.approx(1.0, abs=1e-3)


def test_ad_sample_scores_match_reference(shared_models):
    """Anomaly detection: MSE of the reconstruction (README: window 0 int8 11.648, fp32 11.094; 196 windows 10.265)."""
    data = np.fromfile(shared_models / "ad01_sample_normal_id_01_00000000_hist_librosa.bin", dtype="<f4")
    w0 = data[:640]
    for name, want in (("ad01_int8.tflite", 11.648), ("ad01_fp32.tflite", 11.094)):
        out = run_model(shared_models / name, w0).outputs[0].reshape(-1)
        assert float(np.mean((out - w0) ** 2)) == pytest.approx(want, abs=2e-3), name
    windows = np.stack([data[i * 128: i * 128 + 640] for i in range(196)])
    res = run_model(shared_models / "ad01_int8.tflite", windows)  # a batch: run row by row
    assert res.batch == 196 and res.outputs[0].shape == (196, 640)
    assert float(np.mean(np.mean((res.outputs[0] - windows) ** 2, axis=1))) == pytest.approx(10.265, abs=2e-3)


def test_shapes_accepted_and_refused(shared_models, kws_sample):
    model = load_interpreter(shared_models / "kws_ref_model.tflite")
    info = model.inputs[0]
    for shape in [(1, 49, 10, 1), (49, 10, 1), (49, 10)]:
        arr, batch = prepare_input(kws_sample.reshape(shape), info)
        assert arr.shape == (1, 49, 10, 1) and batch is None
    arr, batch = prepare_input(np.zeros((4, 49, 10), np.int8), info)
    assert arr.shape == (4, 49, 10, 1) and batch == 4
    for bad in [(3, 4), (490,), (2, 49, 10, 2), (1, 10, 49, 1)]:
        with pytest.raises(EdgeqError) as e:
            run_model(model, np.zeros(bad, np.int8))
        assert "expected (1, 49, 10, 1)" in str(e.value) and f"got {bad}" in str(e.value)
    with pytest.raises(EdgeqError, match="int8 but the data is uint8"):
        run_model(model, kws_sample.astype(np.uint8))  # raw pixels vs quantized values: refuse to guess
    with pytest.raises(EdgeqError, match="outside the int8 range"):
        run_model(model, np.full((49, 10), 300))
    assert run_model(model, kws_sample.astype(np.int64)).top_k(1)[0][0] == 5  # np.save of a list: ints that fit
    with pytest.raises(EdgeqError, match="NaN"):
        run_model(model, np.full((49, 10), np.nan, np.float32))
    assert run_model(model, [kws_sample[0], kws_sample[0]]).batch == 2  # a list of samples is a batch


def test_top_k_order_and_ties(shared_models, kws_sample):
    res = run_model(shared_models / "kws_ref_model.tflite", kws_sample)
    top = res.top_k(4)
    assert [i for i, _ in top] == [5, 0, 1, 2]  # ties (all 0.0) in index order
    assert len(res.top_k(100)) == 12


# ------------------------------------------------------------------------------------------------ bench


def test_latency_stats():
    s = LatencyStats.from_ns([1000, 2000, 3000, 4000, 5000])
    assert (s.min, s.p50, s.mean, s.max, s.n) == (1.0, 3.0, 3.0, 5.0, 5)
    assert s.std == pytest.approx(np.std([1, 2, 3, 4, 5]))
    assert s.to_dict()["unit"] == "us"


def test_bench_interleaved_specs(shared_models):
    m = shared_models / "ad01_int8.tflite"
    specs = [BenchSpec(m, threads=1, xnnpack=True, label="on"), BenchSpec(m, threads=1, xnnpack=False, label="off"),
             BenchSpec(shared_models / "kws_ref_model.tflite", threads=2)]
    rep = bench_local(specs, runs=7, warmup=2, keep_samples=True)
    assert rep.interleaved and len(rep.results) == 3
    assert [r.xnnpack for r in rep.results] == [True, False, True]
    assert [r.threads for r in rep.results] == [1, 1, 2]
    assert all(r.samples_ns.shape == (7,) and (r.samples_ns > 0).all() for r in rep.results)
    d = rep.to_dict()
    assert d["mode"] == "local" and d["models"][0]["label"] == "on" and "label" not in d["models"][2]
    with pytest.raises(EdgeqError):
        bench_local([m], runs=0)
    with pytest.raises(EdgeqError):
        bench_local([], runs=1)


# ------------------------------------------------------------------------------------------------ user mistakes


@pytest.fixture(scope="module")
def bad_models(tmp_path_factory, shared_models) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad")
    real = (shared_models / "kws_ref_model.tflite").read_bytes()
    (d / "garbage.tflite").write_bytes(bytes(range(256)) * 20)
    (d / "truncated.tflite").write_bytes(real[: len(real) // 2])
    (d / "header_only.tflite").write_bytes(real[:64])
    (d / "empty.tflite").write_bytes(b"")
    np.save(d / "ok.npy", np.zeros((49, 10, 1), np.float32))
    np.save(d / "wrong_shape.npy", np.zeros((3, 4), np.float32))
    return {"missing": d / "missing.tflite", **{p.stem: p for p in d.iterdir()}}


@pytest.mark.parametrize("case,needle", [
    ("missing", "not found"), ("garbage", "not a .tflite model"), ("truncated", "truncated or corrupt"),
    ("header_only", "truncated or corrupt"), ("empty", "not a .tflite model"),
])
def test_bad_model_one_line(bad_models, case, needle):
    proc = run_cli("run", bad_models[case], "--input", bad_models["ok"], env=_env())
    assert_user_error(proc, needle, str(bad_models[case].name))
    proc = run_cli("bench", "--local", bad_models[case], "--runs", "1", env=_env())
    assert_user_error(proc, needle)
    with pytest.raises(ModelError):
        load_interpreter(bad_models[case])


def test_bad_input_one_line(shared_models, bad_models, tmp_path):
    model = shared_models / "kws_ref_model.tflite"
    assert_user_error(run_cli("run", model, "--input", bad_models["wrong_shape"], env=_env()),
                      "expected (1, 49, 10, 1)", "got (3, 4)")
    assert_user_error(run_cli("run", model, "--input", tmp_path / "nope.npy", env=_env()), "input file not found")
    (tmp_path / "bad.npy").write_bytes(b"not numpy")
    assert_user_error(run_cli("run", model, "--input", tmp_path / "bad.npy", env=_env()), "npy")
    (tmp_path / "short.bin").write_bytes(b"\x00" * 100)
    assert_user_error(run_cli("run", model, "--input", tmp_path / "short.bin", env=_env()), "do not fill")
    assert_user_error(run_cli("run", model, "--input", bad_models["ok"], "--threads", "0", env=_env()), "threads")
    assert_user_error(run_cli("bench", "--local", model, "--runs", "0", env=_env()), "runs")
    assert_user_error(run_cli("bench", env=_env()), "--local")


def test_bench_device_mode_not_in_this_build(shared_models):
    proc = run_cli("bench", "--port", "/dev/ttyACM0", "--model", shared_models / "kws_ref_model.tflite", env=_env())
    assert_user_error(proc, "serial")


# ------------------------------------------------------------------------------------------------ fallback chain


SITECUSTOMIZE = textwrap.dedent("""
    import os, sys
    for name in filter(None, os.environ.get("EDGEQ_TEST_HIDE", "").split(",")):
        sys.modules[name] = None  # "import name" now raises ModuleNotFoundError, as if not installed
""")


@pytest.fixture
def hide_dir(tmp_path) -> Path:
    d = tmp_path / "hide"
    d.mkdir()
    (d / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return d


def test_no_runtime_installed_message(shared_models, bad_models, hide_dir):
    env = _env(PYTHONPATH=str(hide_dir), EDGEQ_TEST_HIDE="ai_edge_litert,tflite_runtime,tensorflow")
    proc = run_cli("run", shared_models / "kws_ref_model.tflite", "--input", bad_models["ok"], env=env)
    assert_user_error(proc, "no TFLite runtime is installed", 'pip install "edgeq[pi]"', "ai-edge-litert")
    proc = run_cli("bench", "--local", shared_models / "kws_ref_model.tflite", env=env)
    assert_user_error(proc, 'pip install "edgeq[pi]"')
    proc = run_cli("run", shared_models / "kws_ref_model.tflite", "--input", bad_models["ok"],
                   "--runtime", "litert", env=_env(PYTHONPATH=str(hide_dir), EDGEQ_TEST_HIDE="ai_edge_litert"))
    assert_user_error(proc, "not installed", 'pip install "edgeq[pi]"')


@pytest.mark.tf
@pytest.mark.skipif(not _installed("tensorflow"), reason="TensorFlow not installed")
def test_falls_back_to_tf_lite(shared_models, hide_dir):
    env = _env(PYTHONPATH=str(hide_dir), EDGEQ_TEST_HIDE="ai_edge_litert,tflite_runtime")
    proc = run_cli("run", shared_models / "kws_ref_model.tflite", "--input", shared_models / KWS_SAMPLE, "--json",
                   env=env)
    assert proc.returncode == 0, proc.stderr
    obj = json.loads(proc.stdout)
    assert obj["runtime"]["name"] == "tensorflow" and obj["top_k"][0]["index"] == 5


FAKE_TFLITE_RUNTIME = textwrap.dedent('''
    """Stand-in for tflite-runtime 2.14 (built against NumPy 1.x) running under NumPy 2."""
    import enum, os, sys

    def _import_numpy_c_api():
        # what a NumPy-1.x extension does on load: fetch numpy's C API table. NumPy 2 prints its "compiled using
        # NumPy 1.x" story (with a traceback) on stderr and raises; pybind11 then reports "_ARRAY_API not found".
        try:
            import numpy.core._multiarray_umath as m
            m._ARRAY_API
        except ImportError:
            sys.stderr.write("AttributeError: _ARRAY_API not found\\n")
            raise ImportError("numpy.core.multiarray failed to import")

    if os.environ.get("FAKE_FAIL_AT") == "import":
        _import_numpy_c_api()

    class OpResolverType(enum.Enum):
        AUTO = 0
        BUILTIN = 1
        BUILTIN_REF = 2
        BUILTIN_WITHOUT_DEFAULT_DELEGATES = 3

    class Interpreter:
        def __init__(self, model_path=None, model_content=None, num_threads=None, **kwargs):
            _import_numpy_c_api()
''')


@pytest.mark.parametrize("fail_at", ["import", "interpreter"])
def test_tflite_runtime_numpy2_message(shared_models, bad_models, hide_dir, fail_at):
    if int(np.__version__.split(".")[0]) < 2:
        pytest.skip("needs NumPy 2 to reproduce the _ARRAY_API failure")
    pkg = hide_dir / "tflite_runtime"
    pkg.mkdir()
    (pkg / "__init__.py").write_text('__version__ = "2.14.0"\n')
    (pkg / "interpreter.py").write_text(FAKE_TFLITE_RUNTIME)
    env = _env(PYTHONPATH=str(hide_dir), EDGEQ_TEST_HIDE="ai_edge_litert,tensorflow", FAKE_FAIL_AT=fail_at)
    for args in (["run", shared_models / "kws_ref_model.tflite", "--input", bad_models["ok"]],
                 ["run", shared_models / "kws_ref_model.tflite", "--input", bad_models["ok"], "--runtime",
                  "tflite-runtime"],
                 ["bench", "--local", shared_models / "kws_ref_model.tflite"]):
        proc = run_cli(*args, env=env)
        # one line: NumPy's own message and traceback were captured, not printed
        assert_user_error(proc, "tflite-runtime 2.14.0", "NumPy 1.x", "_ARRAY_API", 'pip install "edgeq[pi]"',
                          "numpy<2")


# ------------------------------------------------------------------------------------------------ hygiene


def test_no_tensorflow_or_tflm_on_the_runtime_path(shared_models, kws_sample, tmp_path):
    np.save(tmp_path / "x.npy", kws_sample)
    code = textwrap.dedent(f"""
        import sys
        import edgeq.runtime, edgeq.runtime.loader, edgeq.runtime.run, edgeq.runtime.bench
        import edgeq.cli.run_cmd, edgeq.cli.bench_cmd
        assert "tensorflow" not in sys.modules and "tflite_micro" not in sys.modules
        assert "ai_edge_litert" not in sys.modules  # imported on the first load, not at import
        from edgeq.cli.main import main
        rc = main(["run", {str(shared_models / 'kws_ref_model.tflite')!r}, "--input", {str(tmp_path / 'x.npy')!r}])
        assert rc == 0
        assert "tensorflow" not in sys.modules and "tflite_micro" not in sys.modules, "TF imported"
        print("OK")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **_env()},
                          timeout=300)
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stderr


def test_load_from_bytes_and_describe(shared_models):
    data = (shared_models / "ad01_int8.tflite").read_bytes()
    m = load_interpreter(data, threads=2, xnnpack=False)
    d = m.describe()
    assert d["model"] == "<bytes>" and d["threads"] == 2 and d["xnnpack"] is False
    assert d["inputs"][0] == {"name": "input_1", "shape": [1, 640], "dtype": "int8",
                              "scale": pytest.approx(0.3910152316093445), "zero_point": 89}
    with pytest.raises(ToolchainError):
        load_interpreter(data, runtime="onnx")
    with pytest.raises(ToolchainError):
        load_interpreter(data, threads=0)


# ------------------------------------------------------------------------------------------------ examples


EXAMPLES = REPO / "examples" / "raspberrypi"


def _example(name: str, *args, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(EXAMPLES / name), *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **_env(**(env_extra or {}))}, timeout=300)


def test_example_classify(shared_models):
    proc = _example("classify.py", env_extra={"EDGEQ_SHARED_MODELS": str(shared_models)})
    assert proc.returncode == 0, proc.stderr
    assert "1. On" in proc.stdout, proc.stdout
    proc = _example("classify.py", "--model", shared_models / "vww_96_int8.tflite",
                    "--input", shared_models / KWS_SAMPLE)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_example_local_benchmark(shared_models, tmp_path):
    out = tmp_path / "r.json"
    proc = _example("local_benchmark.py", shared_models / "ad01_int8.tflite", shared_models / "ad01_fp32.tflite",
                    "--threads", "1,2", "--xnnpack", "both", "--runs", "3", "--warmup", "1", "--json", out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("| ad01_") == 8
    assert len(json.loads(out.read_text())["models"]) == 8


def test_example_serial_host(shared_models):
    model = shared_models / "kws_ref_model.tflite"
    proc = _example("serial_host.py", "--dry-run", "--port", "/dev/ttyACM0", "--model", model, "--runs", "5")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"edgeq bench --port /dev/ttyACM0 --model {model} --runs 5"
    proc = _example("serial_host.py", "--port", "/dev/edgeq-no-such-port", "--model", model)
    assert proc.returncode == 2 and "no such serial port" in proc.stderr and "Traceback" not in proc.stderr
    # a URL port goes straight to `edgeq bench --port` (edgeq's CLI main(), in-process)
    proc = _example("serial_host.py", "--port", "socket://127.0.0.1:9", "--model", model)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("edgeq bench") and len(proc.stderr.strip().splitlines()) == 1
    assert _example("serial_host.py", "--list").returncode == 0


@pytest.mark.skipif(not _installed("ai_edge_litert"), reason='ai-edge-litert not installed (pip install "edgeq[pi]")')
def test_person_detect_refusal_is_explained(shared_models, tmp_path):
    """ai-edge-litert 2.3.0 refuses tflite-micro's person_detect ("quantized_dimension must be in range [0, 1). Was
    3" for its biases): `edgeq run` and `edgeq bench --local` say which tensors, why, and where it does run."""
    model = shared_models.parent / "tflite-micro" / "person_detect.tflite"
    if not model.is_file():
        pytest.skip(f"{model} not found")
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 96, 96, 1), np.int8))
    run = run_cli("run", model, "--input", x, "--runtime", "litert", cwd=tmp_path, env=_env())
    bench = run_cli("bench", "--local", model, "--runtime", "litert", "--runs", "2", cwd=tmp_path, env=_env())
    for proc in (run, bench):
        if proc.returncode == 0:  # a LiteRT release that accepts it: then it must really have run
            assert proc.stdout.strip() and not proc.stderr.strip(), proc.stderr
            continue
        assert_user_error(proc, "refuses this model", "have rank 1 but name axis 3",
                          "quantized_dimension must be in range", "edgeq export + bench --port")
