"""The official MLPerf Tiny runner (mlcommons/tiny benchmark/runner, unmodified, ../shared/third_party) drives edgeq
firmware for KWS, IC, VWW and AD, exported with default options for qemu-m4 and run in QEMU behind a pty
(tests/mlperf_runner_launcher.py), in performance and accuracy mode on small data sets made here. Every score the
runner recorded must equal what the MLPerf reference firmware prints for the TFLM interpreter's output on the same
data (edgeq.bench.mlperf.reference_results: kws01 truncated digits, "%0.3f" for ic01/vww01, ad01's MSE against the
float input)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli
from fwutil import need_arm, tflm_outputs

pytestmark = [pytest.mark.slow, pytest.mark.qemu, pytest.mark.timeout(1200)]

RUNNER = Path(__file__).resolve().parents[1] / ".." / "shared" / "third_party" / "mlperf-tiny-runner"
LAUNCHER = Path(__file__).resolve().parent / "mlperf_runner_launcher.py"
MODELS = {"kws01": "kws_ref_model.tflite", "ic01": "pretrainedResnet_quant.tflite", "vww01": "vww_96_int8.tflite",
          "ad01": "ad01_int8.tflite"}
DEVICES = {"ad01": "devices_ad.yaml"}  # the others: devices_kws_ic_vww.yaml (the runner's own files)
AD_WINDOW, AD_STRIDE = 2560, 512


def runner_dir() -> Path:
    d = Path(os.environ.get("EDGEQ_MLPERF_RUNNER", RUNNER)).resolve()
    if not (d / "main.py").is_file():
        pytest.skip(f"the MLPerf Tiny runner is not at {d} (set EDGEQ_MLPERF_RUNNER to mlcommons/tiny "
                    "benchmark/runner)")
    for mod in ("yaml", "usb", "sklearn", "matplotlib"):
        pytest.importorskip(mod, reason=f"the MLPerf runner imports {mod} (pip install edgeq[dev])")
    return d


# ---- data sets ------------------------------------------------------------------------------------------------
def _files(mid: str, count: int, rng, shared: Path) -> list[bytes]:
    if mid == "kws01":
        return [rng.integers(-128, 128, 490, dtype=np.int8).tobytes() for _ in range(count)]
    if mid == "ic01":
        return [rng.integers(0, 256, 32 * 32 * 3, dtype=np.uint8).tobytes() for _ in range(count)]
    if mid == "vww01":
        return [rng.integers(0, 256, 96 * 96 * 3, dtype=np.uint8).tobytes() for _ in range(count)]
    # ad01: slices of the real spectrogram features, 3 windows of 640 float32 each (window 2560 B, stride 512 B)
    feats = (shared / "ad01_sample_normal_id_01_00000000_hist_librosa.bin").read_bytes()
    n = AD_WINDOW + 2 * AD_STRIDE
    return [feats[k * 4 * 128 * 7:k * 4 * 128 * 7 + n] for k in range(count)]


def make_dataset(root: Path, mid: str, count: int, n_classes: int, seed: int, shared: Path) -> list[tuple]:
    """``root/mid/`` with ``count`` files and the runner's ``y_labels.csv``; returns [(file, label, data)]."""
    d = root / mid
    d.mkdir(parents=True)
    rows, out = [], []
    for k, data in enumerate(_files(mid, count, np.random.default_rng(seed), shared)):
        name = f"{mid}_{k:02d}.bin"
        (d / name).write_bytes(data)
        label = k % n_classes
        rows.append(f"{name},{n_classes},{label}" + (f",{AD_WINDOW},{AD_STRIDE}" if mid == "ad01" else ""))
        out.append((name, label, data))
    (d / "y_labels.csv").write_text("\n".join(rows) + "\n")
    return out


# ---- what the reference firmware would print --------------------------------------------------------------------
def device_input(mid: str, sent: bytes, ti) -> np.ndarray:
    """The int8 input tensor the reference's th_load_tensor makes of the runner's bytes."""
    if mid == "kws01":
        q = np.frombuffer(sent, np.int8)
    elif mid in ("ic01", "vww01"):
        q = (np.frombuffer(sent, np.uint8).astype(np.int16) - 128).astype(np.int8)
    else:  # QuantizeFloatToInt8: round(x / scale) + zp, C round() = half away from zero, float32 division
        r = np.frombuffer(sent, "<f4") / np.float32(ti.scale)
        t = np.trunc(r)
        q = (t + (r - t >= 0.5) - (r - t <= -0.5)).astype(np.int32)
        q = np.clip(q + ti.zero_point, -128, 127).astype(np.int8)
    return q.reshape(ti.shape)


def expected_scores(model: Path, mid: str, sent: bytes) -> list[float]:
    from edgeq.bench.mlperf import reference_results
    from edgeq.targets.model_io import io_facts
    from edgeq.tflite import read_model

    g = read_model(model)
    ti, to = g.input_tensors()[0], g.output_tensors()[0]
    out = tflm_outputs(model, device_input(mid, sent, ti))
    fmt = {"ic01": "uint8", "vww01": "uint8", "ad01": "float32"}.get(mid, "raw")
    return [float(v) for v in reference_results(mid, out, io_facts(to), sent, io_facts(ti), fmt)]


# ---- the runs ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def setup(shared_models, tmp_path_factory):
    need_arm()
    runner = runner_dir()
    root = tmp_path_factory.mktemp("mlperf_runner")

    def export(mid):  # default options, from a fresh folder, relative output path: as a user would
        proc = run_cli("export", str(shared_models / MODELS[mid]), "--build", "-o", mid, cwd=root, timeout=900)
        assert proc.returncode == 0, proc.stderr
        assert f"MLPerf model {mid}" in proc.stderr and "the MLPerf Tiny runner's data format" in proc.stderr, \
            proc.stderr
        return mid, root / mid

    with ThreadPoolExecutor(max_workers=2) as ex:
        firmware = dict(ex.map(export, MODELS))
    data = {}
    for mode, counts in (("p", {"kws01": 5, "ic01": 5, "vww01": 5, "ad01": 5}),
                         ("a", {"kws01": 12, "ic01": 10, "vww01": 2, "ad01": 2})):
        for mid, n in counts.items():  # accuracy: every class once (the runner's AUC needs them all)
            classes = {"kws01": 12, "ic01": 10, "vww01": 2, "ad01": 2}[mid]
            data[mode, mid] = make_dataset(root / f"data_{mode}", mid, n, classes, seed=len(data), shared=shared_models)

    def run(key):
        mode, mid = key
        from edgeq.targets.emulators import start_emulator

        work = root / f"work_{mode}_{mid}"
        with start_emulator("qemu-m4", firmware[mid]) as emu:
            proc = subprocess.run(
                [sys.executable, str(LAUNCHER), "--url", emu.url, "--runner", str(runner), "--workdir", str(work),
                 "--", "-d", str(runner / DEVICES.get(mid, "devices_kws_ic_vww.yaml")), "-m", mode,
                 "-t", str(runner / ("tests_performance.yaml" if mode == "p" else "tests_accuracy.yaml")),
                 "-s", str(root / f"data_{mode}")],
                capture_output=True, text=True, timeout=900)
        sessions = sorted((work / "sessions").glob("*/results.json"))
        assert proc.returncode == 0 and sessions, (proc.stdout[-3000:], proc.stderr[-3000:])
        log = (sessions[-1].parent / "log.txt").read_text()
        return key, (json.loads(sessions[-1].read_text()), log)

    with ThreadPoolExecutor(max_workers=2) as ex:
        runs = dict(ex.map(run, list(data)))
    return {"data": data, "runs": runs, "models": shared_models}


def _windows(mode: str, mid: str, files: list[tuple]) -> list[tuple[str, bytes]]:
    """(file, bytes sent) in the order the runner sends them."""
    if mid != "ad01":
        return [(name, d) for name, _, d in files]
    out = []
    for name, _, d in files:
        segs = [d[s:s + AD_WINDOW] for s in range(0, len(d) - AD_WINDOW + 1, AD_STRIDE)]
        out += [(name, s) for s in (segs[:1] if mode == "p" else segs)]
    return out


@pytest.mark.parametrize("mid", list(MODELS))
@pytest.mark.parametrize("mode", ["p", "a"])
def test_official_runner_scores_equal_tflm(setup, mode, mid):
    results, log = setup["runs"][mode, mid]
    entries = [r for r in results if "infer" in r]
    sent = _windows(mode, mid, setup["data"][mode, mid])
    assert len(entries) == len(sent) == (5 if mode == "p" else len(entries))
    model = setup["models"] / MODELS[mid]
    for r, (name, payload) in zip(entries, sent):
        assert r["file"] == name
        want = expected_scores(model, mid, payload)
        assert r["infer"]["results"] == want, (name, r["infer"])
        print(f"{mid} {'performance' if mode == 'p' else 'accuracy'} {name}: runner {r['infer']['results']} "
              f"== reference-firmware format of TFLM {want}")
    if mode == "p":
        n = {"kws01": 70, "ic01": 20, "vww01": 20, "ad01": 1500}[mid]
        assert all(r["infer"]["iterations"] == n and r["infer"]["elapsed_time"] > 0 for r in entries)
        # the runner prints the median throughput, or ERROR 2 when the 5 windows took under 10 s of wall time
        assert "Median throughput is" in log or "ERROR 2 - loop exited before 10 seconds" in log, log[-2000:]
    else:
        assert "Top 1% =" in log and "AUC =" in log, log[-2000:]
