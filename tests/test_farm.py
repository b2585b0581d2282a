"""The board farm on localhost: `edgeq bench --port rfc2217://` against Debian's ser2net exporting the pty of a
qemu-m4 firmware (how a farm's boards travel), every output verified against TFLM; open errors of the RFC 2217
transport are one line; a silent board and an exporter that dies mid-run end with one clear line."""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time

import pytest

from conftest import assert_user_error, popen_cli, run_cli
from farmutil import QemuPty, Ser2net, build_qemu_firmware, established_to, free_port

pytestmark = [pytest.mark.slow, pytest.mark.qemu, pytest.mark.timeout(300)]

MODEL = "ad01_int8.tflite"


@pytest.fixture(scope="module")
def ad_fw(shared_models, tmp_path_factory):
    model = shared_models / MODEL
    return model, build_qemu_firmware(model, tmp_path_factory.mktemp("fw") / "ad")


@pytest.fixture
def exported(ad_fw, tmp_path):
    """qemu-m4 running the AD firmware on a pty, exported by ser2net as RFC 2217 on 127.0.0.1."""
    with QemuPty(ad_fw[1]) as board, Ser2net(board.pty, tmp_path) as server:
        yield server


def _user_dir(tmp_path, model):
    """A fresh working folder holding the model: the CLI gets relative paths, like a user."""
    cwd = tmp_path / "work"
    cwd.mkdir()
    shutil.copy(model, cwd / MODEL)
    return cwd


def test_bench_over_rfc2217_every_output_verified(ad_fw, exported, tmp_path):
    cwd = _user_dir(tmp_path, ad_fw[0])
    proc = run_cli("bench", "--port", exported.url, "--model", MODEL, "--runs", "20", "--json", "-o", "r.json",
                   cwd=cwd, timeout=240)
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    assert rep["complete"] and rep["error"] is None
    assert rep["runs"] == 20 and rep["verified"] == 20 and rep["mismatches"] == 0
    assert rep["verify"] is True and rep["reference"] == "tflm" and rep["port"] == exported.url
    assert rep["latency"]["unit"] == "instructions"
    # the wire is transparent: under -icount one input always costs the same instructions
    by_input: dict[int, set] = {}
    for s in rep["samples"]:
        by_input.setdefault(s["input"], set()).add(s["ticks"])
    assert all(max(v) - min(v) <= 1 for v in by_input.values()), by_input
    assert json.loads((cwd / "r.json").read_text())["verified"] == 20


def test_exporter_killed_mid_run_is_one_line_and_partial_results(ad_fw, exported, tmp_path):
    cwd = _user_dir(tmp_path, ad_fw[0])
    proc = popen_cli("bench", "--port", exported.url, "--model", MODEL, "--runs", "100000", "--timeout", "0.5",
                     "-o", "partial.json", cwd=cwd)
    try:
        deadline = time.monotonic() + 120
        while not established_to(exported.port) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        time.sleep(1.0)  # let some runs complete (not a timing assertion: any number of runs >= 0 is fine)
        exported.kill()
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = err.decode()
    assert proc.returncode == 2, err
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error:" in ln]
    assert len(errors) == 1 and exported.url in errors[0] and "serial link failed" in errors[0], err
    rep = json.loads((cwd / "partial.json").read_text())
    assert rep["complete"] is False and rep["mismatches"] == 0 and rep["verified"] == rep["runs"]
    assert "serial link failed" in rep["error"]


@pytest.mark.parametrize("faults", [
    dict(flip=1e-4, drop=3e-5, reset=0.02, stall=5e-5, stall_s=0.3, seed=13),
    dict(stall=4e-4, stall_s=1.2, seed=21),  # stalls longer than the line timeout: the harness times out, retries
], ids=["mixed", "stalls"])
def test_fault_proxy_over_rfc2217(ad_fw, exported, faults):
    """The fault proxy between the harness and ser2net's RFC 2217 port (telnet commands pass, serial data is
    faulted): no hang, no wrong result kept, every fault a counted retry, the same as over QEMU's raw socket."""
    from edgeq.bench.faultproxy import FaultProxy
    from edgeq.bench.harness import BenchOptions, bench_device

    with FaultProxy(exported.url, **faults) as proxy:
        assert proxy.url.startswith("rfc2217://127.0.0.1:")
        rep = bench_device(BenchOptions(port=proxy.url, model=str(ad_fw[0]), runs=20, warmup=0, timeout=1.0,
                                        max_retries=30, progress=False))
        stats = proxy.stats
    assert rep["complete"] and rep["runs"] == 20 and rep["verified"] == 20 and rep["mismatches"] == 0
    assert rep["reference"] == "tflm"
    assert stats.flips + stats.drops + stats.resets + stats.stalls > 0
    assert rep["retries"] >= 1 and rep["retries"] == sum(rep["retry_reasons"].values())
    assert stats.resets <= rep["boot_banners_seen"] <= stats.resets + 1
    if faults.get("stall_s", 0) > 1.0:
        assert rep["retry_reasons"].get("timeout", 0) >= 1, rep["retry_reasons"]
    by_input: dict[int, set] = {}
    for s in rep["samples"]:
        by_input.setdefault(s["input"], set()).add(s["ticks"])
    assert all(max(v) - min(v) <= 1 for v in by_input.values()), by_input


def test_telnet_splitter_keeps_commands_and_unescapes_data():
    """What the proxy faults over RFC 2217: data bytes only; commands split across chunks stay whole."""
    from edgeq.bench.faultproxy import TelnetSplitter, _telnet_escape

    stream = (b"m-re" + b"\xff\xfb\x01" + b"ady\r\n" + b"\xff\xfa\x2c\x65\x00\xff\xff\x01\xff\xf0" + b"a\xff\xffb"
              + b"\xff\xf1")
    for cut in range(1, len(stream)):  # any chunking gives the same segments
        sp = TelnetSplitter()
        segs = sp.split(stream[:cut]) + sp.split(stream[cut:])
        data = b"".join(seg for is_data, seg in segs if is_data)
        cmds = [seg for is_data, seg in segs if not is_data]
        assert data == b"m-ready\r\na\xffb", cut
        assert cmds == [b"\xff\xfb\x01", b"\xff\xfa\x2c\x65\x00\xff\xff\x01\xff\xf0", b"\xff\xf1"], cut
    assert _telnet_escape(b"a\xffb") == b"a\xff\xffb"


def test_silent_board_behind_ser2net(tmp_path):
    master, slave = os.openpty()  # a board that never answers
    try:
        with Ser2net(os.ttyname(slave), tmp_path) as server:
            proc = run_cli("bench", "--port", server.url, "--timeout", "0.5", timeout=120)
    finally:
        os.close(master)
        os.close(slave)
    assert_user_error(proc, "silent")


def test_rfc2217_open_errors_are_one_line(tmp_path):
    # nothing listens there
    assert_user_error(run_cli("bench", "--port", f"rfc2217://127.0.0.1:{free_port()}", timeout=60),
                      "nothing listens", "rfc2217")
    # ser2net is there but its serial device is not (the server drops the connection)
    with Ser2net("/dev/pts/edgeq-no-such-pty", tmp_path) as server:
        assert_user_error(run_cli("bench", "--port", server.url, timeout=60), "cannot open", server.url)
    # a TCP server that does not speak RFC 2217 (a raw serial-over-TCP port given as rfc2217://)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    conns = []
    t = threading.Thread(target=lambda: conns.append(srv.accept()), daemon=True)
    t.start()
    try:
        proc = run_cli("bench", "--port", f"rfc2217://127.0.0.1:{srv.getsockname()[1]}", timeout=60)
    finally:
        for c, _ in conns:
            c.close()
        srv.close()
    assert_user_error(proc, "does not seem to support RFC2217")
    # a bad option in the URL
    assert_user_error(run_cli("bench", "--port", "rfc2217://127.0.0.1:1?nonsense=1", timeout=60), "cannot open",
                      "unknown option")


# ---- labgrid places ---------------------------------------------------------------------------------------------
@pytest.fixture
def farm(ad_fw, tmp_path):
    """A labgrid coordinator and one exporter on 127.0.0.1; place "board-a" is qemu-m4 running the AD firmware."""
    from farmutil import LabgridFarm

    with QemuPty(ad_fw[1]) as board, LabgridFarm(tmp_path / "farm") as lab:
        lab.add_board("board-a", board.pty)
        yield lab


def test_bench_on_a_labgrid_place_verified_and_released(ad_fw, farm, tmp_path):
    cwd = _user_dir(tmp_path, ad_fw[0])
    proc = run_cli("bench", "--place", "board-a", "--coordinator", farm.address, "--model", MODEL, "--runs", "20",
                   "--json", cwd=cwd, timeout=240)
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    assert rep["complete"] and rep["runs"] == 20 and rep["verified"] == 20 and rep["mismatches"] == 0
    assert rep["port"].startswith("rfc2217://127.0.0.1:")
    assert farm.acquired_by("board-a") is None
    # a failing run releases the place too: the wrong model for this firmware
    shutil.copy(ad_fw[0].parent / "kws_ref_model.tflite", cwd / "kws.tflite")
    proc = run_cli("bench", "--place", "board-a", "--coordinator", farm.address, "--model", "kws.tflite",
                   "--runs", "2", cwd=cwd, timeout=240)
    assert_user_error(proc)
    assert farm.acquired_by("board-a") is None


def test_place_errors_are_one_line(farm, ad_fw, tmp_path):
    from farmutil import labgrid_client

    assert_user_error(run_cli("bench", "--place", "nope", "--coordinator", farm.address, timeout=120),
                      "no such labgrid place", "board-a")
    assert_user_error(run_cli("bench", "--place", "board-a", "--coordinator", f"127.0.0.1:{free_port()}",
                              timeout=120), "cannot reach the labgrid coordinator")
    assert labgrid_client(farm.address, "-p", "board-a", "acquire").returncode == 0
    try:
        assert_user_error(run_cli("bench", "--place", "board-a", "--coordinator", farm.address, timeout=120),
                          "already acquired")
    finally:
        assert labgrid_client(farm.address, "-p", "board-a", "release").returncode == 0
    assert_user_error(run_cli("bench", "--place", "board-a", "--port", "/dev/null", timeout=60), "cannot be combined")


def test_place_released_when_the_bench_is_terminated(ad_fw, farm, tmp_path):
    """SIGTERM mid-run (a CI job cancelled): partial results saved, the place released for the next user."""
    import signal

    cwd = _user_dir(tmp_path, ad_fw[0])
    proc = popen_cli("bench", "--place", "board-a", "--coordinator", farm.address, "--model", MODEL,
                     "--runs", "100000", "-o", "partial.json", cwd=cwd)
    try:
        deadline = time.monotonic() + 120
        while farm.acquired_by("board-a") is None and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert proc.poll() is None and farm.acquired_by("board-a") is not None, proc.communicate()
        deadline = time.monotonic() + 120  # until the benchmark is connected to the place's ser2net
        while not any(established_to(p) for p in _ser2net_ports(farm)) and proc.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.2)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = err.decode()
    assert proc.returncode != 0 and "Traceback" not in err, err
    assert "terminated" in err.lower(), err
    assert farm.acquired_by("board-a") is None


def _ser2net_ports(farm) -> list[int]:
    """TCP ports the farm's ser2net processes listen on (from the exporter logs)."""
    import re

    ports = []
    for log in farm.folder.glob("exporter-*.log"):
        ports += [int(p) for p in re.findall(r"started ser2net for \S+ on port (\d+)", log.read_text(errors="replace"))]
    return ports


def test_serial_resource_to_url():
    """How each labgrid serial resource becomes the port edgeq opens (no labgrid needed)."""
    from edgeq.bench.farm import serial_url
    from edgeq.errors import DeviceError

    assert serial_url("NetworkSerialPort", {"host": "pi1", "port": 4001, "speed": 57600, "protocol": "rfc2217"}) \
        == ("rfc2217://pi1:4001", 57600)
    assert serial_url("NetworkSerialPort", {"host": "127.0.0.1", "port": 4002, "protocol": "raw"}) \
        == ("socket://127.0.0.1:4002", 115200)
    assert serial_url("NetworkSerialPort", {"host": "::1", "port": 4003}) == ("rfc2217://[::1]:4003", 115200)
    assert serial_url("USBSerialPort", {"port": "/dev/ttyACM0", "speed": 9600}) == ("/dev/ttyACM0", 9600)
    with pytest.raises(DeviceError, match="no host/port"):
        serial_url("NetworkSerialPort", {"host": "pi1", "port": None})
    with pytest.raises(DeviceError, match="no device path"):
        serial_url("USBSerialPort", {"port": None})
