"""`edgeq bench` against real firmware (edgeq export, portable backend) running in QEMU (qemu-m4, -icount):
KWS and AD fully verified against TFLM, the JSON contract, identical instruction counts across runs, the MLPerf
runner flow with its 31-byte hex `db` chunks, fault injection, bad input, partial results on Ctrl-C, compare."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_user_error, popen_cli, require_tool, run_cli
from edgeq import protocol_spec as spec

pytestmark = [pytest.mark.slow, pytest.mark.qemu, pytest.mark.timeout(300)]

JSON_KEYS = {"latency", "runs", "verified", "mismatches", "retries", "device", "protocol", "board", "baud",
             "edgeq_version", "inputs", "firmware"}
STATS = ("min", "p50", "mean", "p90", "p99", "max", "std")


def build_firmware(model: Path, out: Path, board: str = "qemu-m4", **kw) -> Path:
    require_tool("arm-none-eabi-gcc", "gcc-arm-none-eabi libnewlib-arm-none-eabi")
    require_tool("qemu-system-arm", "qemu-system-arm")
    try:
        from edgeq.targets.export import export
    except ImportError as exc:  # pragma: no cover - the firmware side is not in this tree
        pytest.skip(f"edgeq.targets.export is not available: {exc}")
    export(model, board, out, build=True, backend="portable", **kw)
    return out


def start(board: str, fw: Path):
    try:
        from edgeq.targets.emulators import start_emulator
    except ImportError as exc:  # pragma: no cover - the emulator side is not in this tree
        pytest.skip(f"edgeq.targets.emulators is not available: {exc}")
    return start_emulator(board, fw)


@pytest.fixture(scope="module")
def kws(shared_models, tmp_path_factory):
    model = shared_models / "kws_ref_model.tflite"
    return model, build_firmware(model, tmp_path_factory.mktemp("fw") / "kws")


@pytest.fixture(scope="module")
def ad(shared_models, tmp_path_factory):
    model = shared_models / "ad01_int8.tflite"
    return model, build_firmware(model, tmp_path_factory.mktemp("fw") / "ad")


def cli(capsys, *args) -> tuple[int, str, str]:
    """The CLI in-process (the firmware fixtures and the TFLM reference stay loaded)."""
    from edgeq.cli.main import main

    capsys.readouterr()
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def check_schema(rep: dict, runs: int) -> None:
    assert JSON_KEYS <= set(rep), JSON_KEYS - set(rep)
    lat = rep["latency"]
    assert set(STATS) <= set(lat) and lat["unit"] in ("us", "cycles", "instructions")
    assert lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
    assert lat["min"] <= lat["mean"] <= lat["max"] and lat["std"] >= 0
    assert rep["runs"] == runs and rep["complete"] is True and rep["error"] is None
    dev = rep["device"]
    assert {"model", "sha256", "backend", "board", "timer", "inputs", "outputs"} <= set(dev)
    assert len(rep["inputs"]["sha256"]) == 64


def test_kws_verified_json_csv_plot_and_icount_repeatable(kws, tmp_path, capsys):
    model, fw = kws
    reports = []
    for k in range(2):
        out = tmp_path / f"r{k}.json"
        rc, stdout, err = cli(capsys, "bench", "--board", "qemu-m4", "--firmware", fw, "--model", model,
                              "--runs", 6, "--warmup", 1, "--json", "-o", out, "--csv", tmp_path / f"s{k}.csv",
                              "--plot", tmp_path / f"p{k}.png")
        assert rc == 0, err
        rep = json.loads(stdout)
        assert json.loads(out.read_text()) == rep
        check_schema(rep, 6)
        assert rep["verified"] == 6 and rep["mismatches"] == 0 and rep["reference"] == "tflm"
        assert rep["latency"]["unit"] == "instructions" and "latency_us" not in rep
        assert rep["board"] == "qemu-m4" and rep["device"]["backend"] == "portable"
        assert rep["timing_crc"] is True
        assert rep["device"]["sha256"] == rep["model"]["sha256"][:16]
        assert rep["host_roundtrip_ms"]["unit"] == "ms"
        assert rep["upload"]["efficiency"] >= 0.95
        assert (tmp_path / f"p{k}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        lines = (tmp_path / f"s{k}.csv").read_text().splitlines()
        assert lines[0].startswith("run,input,ticks") and len(lines) == 7
        reports.append(rep)
    # -icount: the same input costs the same instructions, run after run (a tick is 40 instructions)
    a = {s["input"]: s["ticks"] for s in reports[0]["samples"]}
    b = {s["input"]: s["ticks"] for s in reports[1]["samples"]}
    assert a.keys() == b.keys()
    assert all(abs(a[i] - b[i]) <= 1 for i in a), (a, b)
    # compare: the ratio table of two runs
    rc, stdout, err = cli(capsys, "bench", "compare", tmp_path / "r0.json", tmp_path / "r1.json", "--json")
    assert rc == 0, err
    cmp = json.loads(stdout)
    assert cmp["unit"] == "instructions" and len(cmp["rows"]) == 7
    assert all(abs(r["ratio"] - 1) < 1e-4 for r in cmp["rows"] if r["statistic"] != "std")
    rc, stdout, _ = cli(capsys, "bench", "compare", tmp_path / "r0.json", tmp_path / "r1.json")
    assert rc == 0 and "| p50 |" in stdout


def test_ad_verified_with_given_inputs(ad, tmp_path, capsys, shared_models):
    model, fw = ad
    # the MLPerf AD sample: float32 frames, quantized by the harness with the input's scale / zero point
    raw = np.fromfile(shared_models / "ad01_sample_normal_id_01_00000000_hist_librosa.bin", dtype="<f4")
    x = raw[: 3 * 640].reshape(3, 1, 640)
    np.save(tmp_path / "x.npy", x)
    rc, stdout, err = cli(capsys, "bench", "--board", "qemu-m4", "--firmware", fw, "--model", model,
                          "--inputs", tmp_path / "x.npy", "--runs", 6, "--json")
    assert rc == 0, err
    rep = json.loads(stdout)
    check_schema(rep, 6)
    assert rep["verified"] == 6 and rep["mismatches"] == 0
    assert rep["inputs"]["count"] == 3 and rep["inputs"]["source"].endswith("x.npy")
    assert [s["input"] for s in rep["samples"]] == [0, 0, 1, 1, 2, 2]  # one upload per input


def test_build_from_model_and_portable_reference(shared_models, capsys):
    """--board without --firmware builds from --model; --reference portable verifies with the host build (what a
    Raspberry Pi without tflite-micro uses)."""
    require_tool("arm-none-eabi-gcc", "gcc-arm-none-eabi libnewlib-arm-none-eabi")
    require_tool("qemu-system-arm", "qemu-system-arm")
    require_tool("gcc", "gcc")
    model = shared_models / "ad01_int8.tflite"
    rc, stdout, err = cli(capsys, "bench", "--board", "qemu-m4", "--model", model, "--backend", "portable",
                          "--reference", "portable", "--runs", 3, "--json")
    assert rc == 0, err
    rep = json.loads(stdout)
    assert rep["reference"] == "portable-host" and rep["verified"] == 3 and rep["mismatches"] == 0
    assert rep["firmware"]["built_from_model"] is True


def test_mlperf_flow_against_our_firmware(kws, capsys, tmp_path):
    """The runner's flow: name, profile, 5 x (db load + 31-byte hex db chunks, infer N W), median of 5 windows."""
    model, fw = kws
    from edgeq.bench import mlperf
    from edgeq.bench.protocol import Device
    from edgeq.bench.transport import open_link

    emu = start("qemu-m4", fw)
    try:
        dev = Device(open_link(emu.url, connect_timeout=10), record=True)
        dev.sync()
        name, profile, mid = mlperf.identify(dev)
        assert (name, profile, mid) == (spec.DUT_NAME, spec.MLPERF_PROFILE, "kws01")
        sample = (model.parent / "kws01_sample_mfcc_49x10_int8.bin").read_bytes()
        wire = mlperf.db_load(dev, sample)
        db = [c for c in dev.sent if c.startswith("db")]
        assert db[0] == "db load 490"
        assert [len(c) for c in db[1:]] == [3 + 62] * 15 + [3 + 50]  # 15 x 31 bytes + 25 bytes, as the runner
        assert all(len(c) + 1 <= spec.CMD_MAX for c in db)
        assert wire == sum(len(c) + 1 for c in db)
        ans = dev.command("db print")
        dumped = bytes.fromhex("".join(ln[len("m-buffer-"):].replace("-", "") for ln in ans.lines))
        assert dumped == sample
        win = mlperf.infer(dev, 2, 1)
        assert win.elapsed_us > 0 and len(win.results) == 12
        from edgeq.reference import load_reference

        expected = load_reference(model).run(sample)
        assert win.output == expected  # m-out in the infer answer: bit-exact with TFLM
        assert np.argmax(win.results) == np.argmax(np.frombuffer(expected, np.int8))
        dev.link.close()
    finally:
        emu.stop()
    rc, stdout, err = cli(capsys, "bench", "--board", "qemu-m4", "--firmware", fw, "--model", model,
                          "--protocol", "mlperf", "--runs", 2, "--warmup", 1, "--json")
    assert rc == 0, err
    rep = json.loads(stdout)
    assert rep["protocol"] == "mlperf" and len(rep["mlperf"]["windows"]) == 5
    assert rep["verified"] == 5 and rep["mismatches"] == 0
    assert rep["mlperf"]["model_id"] == "kws01" and rep["mlperf"]["iterations"] == 2
    assert rep["latency"]["unit"] == "instructions"
    thr = sorted(w["throughput"] for w in rep["mlperf"]["windows"])
    assert rep["mlperf"]["median_throughput"] == thr[2]
    assert 0.4 < rep["upload"]["efficiency"] < 0.5


@pytest.mark.parametrize("faults", [
    dict(flip=2e-4, seed=11),
    dict(drop=5e-5, reset=0.02, seed=12),
    dict(flip=1e-4, drop=3e-5, reset=0.02, stall=5e-5, stall_s=0.3, seed=13),
], ids=["flips", "drops+resets", "mixed"])
def test_fault_injection_against_qemu(ad, faults, tmp_path):
    """No hang, no wrong result kept, every fault counted as a retry."""
    model, fw = ad
    from edgeq.bench.faultproxy import FaultProxy
    from edgeq.bench.harness import BenchOptions, bench_device
    from edgeq.reference import load_reference

    emu = start("qemu-m4", fw)
    try:
        with FaultProxy(emu.url, **faults) as proxy:
            rep = bench_device(BenchOptions(port=proxy.url, model=str(model), runs=20, warmup=0, timeout=1.0,
                                            max_retries=30, progress=False,
                                            output=str(tmp_path / "r.json")))
            stats = proxy.stats
    finally:
        emu.stop()
    assert rep["complete"] and rep["runs"] == 20 and rep["verified"] == 20 and rep["mismatches"] == 0
    assert stats.flips + stats.drops + stats.resets + stats.stalls > 0
    # every fake reset reached the harness as a boot banner (+ maybe the board's own at connect), wherever it landed
    # (a run's answer, or the drain of a resync: where depends on the machine's load); those after the session
    # began are counted as resets
    assert stats.resets <= rep["boot_banners_seen"] <= stats.resets + 1
    assert rep["resets"] <= rep["boot_banners_seen"]
    assert rep["retries"] == sum(rep["retry_reasons"].values())
    # every kept timing is the true one: the same input always costs the same instructions under -icount
    by_input: dict[int, set] = {}
    for s in rep["samples"]:
        by_input.setdefault(s["input"], set()).add(s["ticks"])
    assert all(max(v) - min(v) <= 1 for v in by_input.values()), by_input
    # and the outputs were checked against TFLM (bench_device compared each one)
    assert load_reference(model).kind == "tflm"


def test_wrong_model_on_the_device(kws, shared_models):
    model, fw = kws
    emu = start("qemu-m4", fw)
    try:
        proc = run_cli("bench", "--port", emu.url, "--model", shared_models / "ad01_int8.tflite", "--runs", 2,
                       timeout=120)
    finally:
        emu.stop()
    assert_user_error(proc, "another model", "kws_ref_model")


def test_inputs_of_the_wrong_shape(kws, tmp_path):
    model, fw = kws
    np.save(tmp_path / "bad.npy", np.zeros((2, 7, 7), np.int8))
    emu = start("qemu-m4", fw)
    try:
        proc = run_cli("bench", "--port", emu.url, "--model", model, "--inputs", tmp_path / "bad.npy",
                       timeout=120)
    finally:
        emu.stop()
    assert_user_error(proc, "shape [2, 7, 7]", "[1, 49, 10, 1]")


def test_ctrl_c_saves_partial_results_atomically(kws, tmp_path):
    model, fw = kws
    out = tmp_path / "partial.json"
    emu = start("qemu-m4", fw)
    try:
        proc = popen_cli("bench", "--port", emu.url, "--model", model, "--runs", "1000", "--progress", "-o", out)
        buf = b""
        deadline = time.monotonic() + 120
        while b"/1000" not in buf and time.monotonic() < deadline:  # the progress bar: timed runs under way
            import select

            if select.select([proc.stderr], [], [], 1.0)[0]:
                chunk = os.read(proc.stderr.fileno(), 256)
                if not chunk:
                    break
                buf += chunk
        assert b"/1000" in buf, buf.decode(errors="replace")
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        emu.stop()
    assert proc.returncode == 130, err
    rep = json.loads(out.read_text())
    assert rep["complete"] is False and rep["error"] == "interrupted"
    assert rep["runs"] >= 1 and rep["runs"] == rep["verified"] and rep["mismatches"] == 0
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


# ------------------------------------------------------------------------------------------- no firmware needed
def test_no_such_port():
    assert_user_error(run_cli("bench", "--port", "/dev/ttyEDGEQNOPE0", timeout=60), "no such serial port")


def test_nothing_listening():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    assert_user_error(run_cli("bench", "--port", f"socket://127.0.0.1:{port}", timeout=60), "nothing listens")


def test_silent_device():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    conns = []
    t = threading.Thread(target=lambda: conns.append(srv.accept()), daemon=True)
    t.start()
    try:
        proc = run_cli("bench", "--port", f"socket://127.0.0.1:{srv.getsockname()[1]}", "--timeout", "0.5",
                       timeout=120)
    finally:
        for c, _ in conns:
            c.close()
        srv.close()
    assert_user_error(proc, "silent")


def test_garbage_at_a_wrong_baud():
    master, slave = os.openpty()
    stop = threading.Event()

    def spew():  # what 115200-baud text looks like to a port set to 9600: bytes with the high bits set
        rng = np.random.default_rng(1)
        while not stop.is_set():
            try:
                os.write(master, rng.integers(128, 256, 32, dtype=np.uint8).tobytes())
            except OSError:
                return
            stop.wait(0.01)

    threading.Thread(target=spew, daemon=True).start()
    try:
        proc = run_cli("bench", "--port", os.ttyname(slave), "--baud", "9600", "--timeout", "0.5", timeout=120)
    finally:
        stop.set()
        os.close(master)
        os.close(slave)
    assert_user_error(proc, "garbage", "baud")
