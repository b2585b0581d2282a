"""Host-side framing, retry and report logic against the real benchmark firmware built for this computer (KWS,
``edgeq export --board host``, under ASan + UBSan; the ``host_firmware`` fixture), reached through its pyserial URL
``edgeq-host://``, directly and through the fault-injection proxy. The emulated boards are in test_bench_qemu.py /
test_bench_avr.py."""

from __future__ import annotations

import os
import re
import threading

import numpy as np
import pytest

from edgeq import protocol_spec as spec
from edgeq.bench import mlperf
from edgeq.bench.faultproxy import FaultProxy
from edgeq.bench.harness import BenchOptions, BenchState, make_inputs, run_edgeq_loop
from edgeq.bench.hostfw import HostFirmwareServer
from edgeq.bench.protocol import Device, FrameError
from edgeq.bench.stats import summarize, ticks_delta
from edgeq.bench.transport import open_link
from edgeq.errors import DeviceError

pytestmark = pytest.mark.timeout(180)

IN_BYTES = 490  # KWS: 49 x 10 int8 MFCC features
OUT_BYTES = 12  # 12 int8 class scores


@pytest.fixture(scope="module")
def kws_reference(shared_models):
    from edgeq.reference import load_reference

    ref = load_reference(shared_models / "kws_ref_model.tflite")
    yield ref
    ref.close()


def _inputs(n=10, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(-128, 128, IN_BYTES, dtype=np.int8).tobytes() for _ in range(n)]


def _connect(url, **kw):
    dev = Device(open_link(url), timeout=kw.pop("timeout", 2.0), **kw)
    dev.sync()
    return dev


def test_session_load_run_verify(host_firmware, kws_reference):
    dev = _connect(f"edgeq-host://{host_firmware}", record=True)
    try:
        info = dev.info()
        assert info["inputs"][0]["bytes"] == IN_BYTES and info["board"] == "host"
        assert info["timer"] == {"unit": "us", "per_tick": 1, "source": "clock-monotonic"}
        ins = _inputs(4)
        state = BenchState()
        opts = BenchOptions(runs=12, warmup=2, timeout=2.0)
        run_edgeq_loop(dev, ins, kws_reference.run_many(ins), opts, state, OUT_BYTES)
        assert state.verified == 12 and state.mismatches == 0 and state.retries == 0
        assert [s["input"] for s in state.samples] == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
        assert all(s["ticks"] > 0 for s in state.samples)  # microseconds of a real inference
        assert state.timing_crc is True
        # warm-ups only on the first run; every input loaded once per use
        runs = [c for c in dev.sent if c.startswith(spec.CMD_RUN)]
        assert runs[0] == f"{spec.CMD_RUN} 2" and set(runs[1:]) == {f"{spec.CMD_RUN} 0"}
        assert state.upload_payload == 4 * IN_BYTES
    finally:
        dev.link.close()


def test_mismatch_is_rechecked_and_never_recorded(host_firmware, kws_reference):
    """A reference that disagrees with the device (one bit of each expected output flipped): every run is re-checked
    and none is recorded."""
    dev = _connect(f"edgeq-host://{host_firmware}")
    try:
        ins = _inputs(3)
        wrong = [bytes([o[0] ^ 1]) + o[1:] for o in kws_reference.run_many(ins)]
        state = BenchState()
        run_edgeq_loop(dev, ins, wrong, BenchOptions(runs=3, warmup=0, timeout=2.0), state, OUT_BYTES)
        assert state.mismatches == 3 and state.verified == 0 and state.samples == []
        assert state.reasons["output recheck"] == 3
    finally:
        dev.link.close()


def test_timing_without_crc_is_accepted_and_reported():
    """Firmware that sends m-t-<ticks> without the digits' CRC (an older protocol revision) is measured, and the
    report says its timings were not checked."""
    out = bytes(range(OUT_BYTES))
    answer = f"m-t-1234\r\nm-out-{out.hex()}-{spec.crc32(out):08x}\r\nm-ready\r\n".encode()
    link = _FakeLink([b"m-bin-ready\r\n", b"m-load-done\r\nm-ready\r\n", answer, answer])
    state = BenchState()
    run_edgeq_loop(Device(link, timeout=1.0), [bytes(IN_BYTES)], None, BenchOptions(runs=2, warmup=0), state,
                   OUT_BYTES)
    assert state.timing_crc is False and [s["ticks"] for s in state.samples] == [1234, 1234]


_TICKS_LINE = re.compile(rb"m-t-(\d+)-[0-9a-f]{8}\r\n")


@pytest.mark.parametrize("faults", [
    dict(flip=2e-3, seed=1),
    dict(drop=5e-4, seed=2),
    dict(reset=0.05, seed=3),
    dict(flip=1e-3, drop=2e-4, reset=0.02, stall=1e-3, stall_s=0.2, seed=4),
])
def test_fault_injection_never_records_a_wrong_result(faults, host_firmware, kws_reference):
    """Faults injected between the harness and the real firmware (served on TCP, as QEMU serves a UART): every
    recorded output is the reference's, and every recorded timing is one the device really sent."""
    with HostFirmwareServer(host_firmware, record=True) as server, FaultProxy(server.url, **faults) as proxy:
        dev = _connect(proxy.url, timeout=1.0)
        try:
            ins = _inputs(8, seed=faults["seed"])
            state = BenchState()
            run_edgeq_loop(dev, ins, kws_reference.run_many(ins),
                           BenchOptions(runs=30, warmup=1, timeout=1.0, max_retries=20), state, OUT_BYTES)
        finally:
            dev.link.close()
        assert len(state.samples) == 30 and state.verified == 30 and state.mismatches == 0
        sent = [int(t) for t in _TICKS_LINE.findall(bytes(server.device_output))]
        assert all(s["ticks"] in sent for s in state.samples), "a timing the device never sent was recorded"
        injected = proxy.stats
        assert injected.flips + injected.drops + injected.resets + injected.stalls > 0
        # every fake reset reached the harness (wherever it landed: a run, or a resync's drain)
        assert len(dev.boot_banners) >= injected.resets
        assert state.resets <= dev.resets <= len(dev.boot_banners)


def test_mlperf_flow_chunks_like_the_runner(host_firmware, kws_reference):
    dev = _connect(f"edgeq-host://{host_firmware}", record=True)
    try:
        name, profile, model_id = mlperf.identify(dev)
        assert (name, profile, model_id) == (spec.DUT_NAME, spec.MLPERF_PROFILE, "kws01")
        data = _inputs(1, seed=7)[0]
        wire = mlperf.db_load(dev, data)
        db = [c for c in dev.sent if c.startswith("db ")]
        assert db[0] == f"db load {IN_BYTES}"
        chunks = db[1:]
        assert len(chunks) == -(-IN_BYTES // 31)
        assert all(len(c) + 1 <= spec.CMD_MAX for c in chunks)
        assert b"".join(bytes.fromhex(c[3:]) for c in chunks) == data
        assert [len(bytes.fromhex(c[3:])) for c in chunks[:-1]] == [31] * (len(chunks) - 1)
        assert wire == sum(len(c) + 1 for c in db)
        dump = "".join(ln[len(spec.MSG_BUFFER):] for ln in dev.command(f"{spec.CMD_DB} print").lines)
        assert bytes.fromhex(dump.replace("-", "")) == data  # what the device holds is what was sent
        win = mlperf.infer(dev, 7, 3)
        assert win.elapsed_us > 0
        expected = kws_reference.run_many([data])[0]
        assert win.output == expected  # m-out: the device's raw outputs, bit-exact with TFLM
        out_spec = dev.info()["outputs"][0]
        in_spec = dev.info()["inputs"][0]
        assert [f"{v:.3f}" for v in win.results] == mlperf.reference_results("kws01", expected, out_spec, data,
                                                                              in_spec)
    finally:
        dev.link.close()


def test_silent_device_fails_clearly():
    """A serial line nobody answers on (a pty with nothing behind it)."""
    master, slave = os.openpty()
    try:
        link = open_link(os.ttyname(slave))
        with pytest.raises(DeviceError, match="silent"):
            Device(link, timeout=0.3).sync(attempts=2, first_wait=0.1)
        link.close()
    finally:
        os.close(master)
        os.close(slave)


def test_garbage_on_a_pty_says_baud():
    master, slave = os.openpty()
    stop = threading.Event()

    def spew():
        rng = np.random.default_rng(0)
        while not stop.is_set():
            try:
                os.write(master, rng.integers(128, 256, 64, dtype=np.uint8).tobytes())
            except OSError:
                return
            stop.wait(0.01)

    t = threading.Thread(target=spew, daemon=True)
    t.start()
    try:
        link = open_link(os.ttyname(slave), 9600)
        with pytest.raises(DeviceError, match="garbage.*baud"):
            Device(link, timeout=0.3).sync(attempts=2, first_wait=0.1)
        link.close()
    finally:
        stop.set()
        t.join()
        os.close(master)
        os.close(slave)


def test_open_errors(tmp_path):
    with pytest.raises(DeviceError, match="no such serial port"):
        open_link("/dev/ttyDOESNOTEXIST9")
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(DeviceError, match="nothing listens"):
        open_link(f"socket://127.0.0.1:{port}")
    with pytest.raises(DeviceError, match="no host firmware at"):
        open_link(f"edgeq-host://{tmp_path}/firmware_host")
    (tmp_path / "not-a-program").write_text("hello")
    with pytest.raises(DeviceError, match="not executable"):
        open_link(f"edgeq-host://{tmp_path}/not-a-program")


def test_load_too_large_is_refused(host_firmware):
    dev = _connect(f"edgeq-host://{host_firmware}")
    try:
        with pytest.raises(DeviceError, match="refuses") as ei:
            dev.load(bytes(IN_BYTES + 1))
        assert not isinstance(ei.value, FrameError)
    finally:
        dev.link.close()


def test_a_firmware_that_dies_is_a_one_line_device_error(tmp_path):
    """The line's other end ends (the program exits): reads fail with how it ended, never hang."""
    prog = tmp_path / "dies"
    prog.write_text("#!/bin/sh\nprintf 'm-boot-[x]\\r\\n'\nexit 3\n")
    prog.chmod(0o755)
    link = open_link(f"edgeq-host://{prog}")
    try:
        with pytest.raises(DeviceError, match="exited with status 3"):
            for _ in range(50):
                link.read_some(0.1)
    finally:
        link.close()


def test_host_board_from_the_cli(shared_models, tmp_path):
    """As a user runs it, from a fresh folder with relative paths: export the firmware for this computer, build it,
    bench it through its URL (every output verified against TFLM), and `flash` names the URL."""
    import json

    from conftest import assert_user_error, run_cli

    model = tmp_path / "kws.tflite"
    model.write_bytes((shared_models / "kws_ref_model.tflite").read_bytes())
    proc = run_cli("export", "kws.tflite", "--board", "host", "--build", "-o", "fw", cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "fw" / "firmware_host").is_file() and "edgeq-host://" in proc.stdout
    proc = run_cli("bench", "--port", "edgeq-host://fw/firmware_host", "--model", "kws.tflite", "--runs", "5",
                   "--json", cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    assert rep["verified"] == 5 and rep["mismatches"] == 0 and rep["complete"] is True
    assert rep["device"]["board"] == "host" and rep["latency"]["unit"] == "us"
    assert rep["boot_banners"] == ["edgeq kws portable host"]  # the device printed its boot banner, and it was read
    proc = run_cli("flash", "--board", "host", "fw", cwd=tmp_path, timeout=60)
    assert proc.returncode == 0 and f"edgeq-host://{(tmp_path / 'fw' / 'firmware_host').resolve()}" in proc.stdout
    assert_user_error(run_cli("export", "kws.tflite", "--board", "host", "--app", "classify", "-o", "app",
                              cwd=tmp_path, timeout=120), "--app", "host build serves the benchmark protocol")


def test_make_inputs_shapes(tmp_path):
    spec_ = {"shape": [1, 4, 2], "dtype": "int8", "scale": 0.5, "zero_point": 1, "bytes": 8}
    ins, desc = make_inputs(None, spec_, 3, 0)
    assert len(ins) == 3 and desc["count"] == 3 and len(desc["sha256"]) == 64
    assert make_inputs(None, spec_, 3, 0)[0] == ins  # seeded
    np.save(tmp_path / "one.npy", np.zeros((1, 4, 2), np.int8))
    np.save(tmp_path / "many.npy", np.zeros((5, 4, 2), np.int8))
    np.save(tmp_path / "f.npy", np.full((2, 1, 4, 2), 1.0, np.float32))
    np.save(tmp_path / "bad.npy", np.zeros((3, 3), np.int8))
    assert len(make_inputs(str(tmp_path / "one.npy"), spec_, 1, 0)[0]) == 1
    assert len(make_inputs(str(tmp_path / "many.npy"), spec_, 1, 0)[0]) == 5
    f = make_inputs(str(tmp_path / "f.npy"), spec_, 1, 0)[0]
    assert f[0] == bytes([3] * 8)  # 1.0 / 0.5 + 1
    from edgeq.errors import EdgeqError

    with pytest.raises(EdgeqError, match=r"shape \[3, 3\].*\[1, 4, 2\]"):
        make_inputs(str(tmp_path / "bad.npy"), spec_, 1, 0)


def test_stats():
    s = summarize([1, 2, 3, 4], "cycles")
    assert s["min"] == 1 and s["max"] == 4 and s["p50"] == 2.5 and s["unit"] == "cycles" and s["n"] == 4
    with pytest.raises(ValueError):
        summarize([1], "ms")
    assert ticks_delta(2**32 - 10, 5) == 15


class _FakeLink:
    """An in-memory Link: ``data`` arrives in ``chunks``; afterwards reads time out."""

    name = "fake"
    baud = 115200
    byte_time = 10 / 115200

    def __init__(self, chunks):
        self.chunks = list(chunks)
        self.rx_bytes = self.tx_bytes = 0
        self.written = b""

    def read_some(self, timeout):
        if self.chunks:
            c = self.chunks.pop(0)
            self.rx_bytes += len(c)
            return c
        from edgeq.bench.protocol import DeviceTimeout

        raise DeviceTimeout("fake link exhausted")  # what the deadline would do, without the wait

    def write(self, data):
        self.written += data
        self.tx_bytes += len(data)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=12), st.integers(0, 2**32 - 1),
       st.binary(min_size=OUT_BYTES, max_size=OUT_BYTES))
def test_run_answer_parser_never_accepts_a_corrupt_frame(noise, ticks, out):
    """Whatever bytes surround or replace a run answer, run() returns the true (ticks, output) or raises FrameError."""
    t = str(ticks)
    good = (f"m-t-{t}-{spec.crc32(t.encode()):08x}\r\nm-out-{out.hex()}-{spec.crc32(out):08x}\r\nm-ready\r\n").encode()
    r = Device(_FakeLink([good]), timeout=1.0).run(0, output_bytes=OUT_BYTES, timeout=1.0)
    assert (r.ticks, r.output) == (ticks, out)
    for stream in (noise + [good], [good[:len(good) // 2]] + noise, noise):
        dev = Device(_FakeLink(stream), timeout=1.0)
        try:
            r = dev.run(0, output_bytes=OUT_BYTES, timeout=1.0)
        except FrameError:
            continue
        assert (r.ticks, r.output) == (ticks, out)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32 - 1), st.binary(min_size=OUT_BYTES, max_size=OUT_BYTES), st.data())
def test_single_bit_flips_never_pass(ticks, out, data):
    t = str(ticks)
    good = bytearray((f"m-t-{t}-{spec.crc32(t.encode()):08x}\r\nm-out-{out.hex()}-{spec.crc32(out):08x}\r\n"
                      "m-ready\r\n").encode())
    pos = data.draw(st.integers(0, len(good) - 1))
    good[pos] ^= 1 << data.draw(st.integers(0, 7))
    dev = Device(_FakeLink([bytes(good)]), timeout=1.0)
    try:
        r = dev.run(0, output_bytes=OUT_BYTES, timeout=1.0)
    except FrameError:
        return
    assert (r.ticks, r.output) == (ticks, out)  # e.g. a flip in a hex letter's case, or in m-ready's tail


def test_compare_bad_input(tmp_path):
    from edgeq.bench.report import compare
    from edgeq.errors import EdgeqError

    (tmp_path / "x.json").write_text("{}")
    (tmp_path / "y.json").write_text("not json")
    with pytest.raises(EdgeqError, match="not an edgeq bench report"):
        compare(str(tmp_path / "x.json"), str(tmp_path / "x.json"))
    with pytest.raises(EdgeqError, match="not a JSON report"):
        compare(str(tmp_path / "y.json"), str(tmp_path / "x.json"))
    with pytest.raises(EdgeqError, match="no such report"):
        compare(str(tmp_path / "nope.json"), str(tmp_path / "x.json"))
    a = {"latency": {"p50": 10, "min": 5, "mean": 10, "p90": 12, "p99": 13, "max": 14, "std": 1, "unit": "cycles"}}
    b = {"latency": {**a["latency"], "unit": "instructions"}}
    import json

    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    with pytest.raises(EdgeqError, match="different units"):
        compare(str(tmp_path / "a.json"), str(tmp_path / "b.json"))


# ---- --port auto ----------------------------------------------------------------------------------------------------
def _fake_ports():
    from serial.tools.list_ports_common import ListPortInfo

    def port(dev, vid=None, pid=None):
        p = ListPortInfo(dev, skip_link_detection=True)
        p.vid, p.pid = vid, pid
        return p

    return port


def test_port_auto_picks_the_board_by_usb_id():
    from edgeq.bench.transport import find_port

    port = _fake_ports()
    ports = [port("/dev/ttyS0"), port("/dev/ttyACM0", 0x2341, 0x805A), port("/dev/ttyUSB0", 0x1A86, 0x7523)]
    assert find_port("nano33ble", ports) == "/dev/ttyACM0"
    assert find_port("esp32", ports) == "/dev/ttyUSB0"
    assert find_port("nucleo-l4r5zi", [port("/dev/ttyACM3", 0x0483, 0x374B)]) == "/dev/ttyACM3"


def test_port_auto_lists_candidates_when_zero_or_several_match():
    from edgeq.bench.transport import find_port
    from edgeq.errors import EdgeqError

    port = _fake_ports()
    with pytest.raises(EdgeqError) as e:
        find_port("uno", [port("/dev/ttyS0"), port("/dev/ttyACM0", 0x2341, 0x805A)])
    msg = e.value.one_line()
    assert "no serial port has the USB VID:PID of uno (2341:0043" in msg
    assert "/dev/ttyS0 (no USB id), /dev/ttyACM0 (2341:805a)" in msg
    two = [port("/dev/ttyACM0", 0x2341, 0x0043), port("/dev/ttyACM1", 0x2A03, 0x0043)]
    with pytest.raises(EdgeqError) as e:
        find_port("uno", two)
    assert "2 serial ports match uno" in e.value.one_line()
    assert "/dev/ttyACM0 (uno 2341:0043), /dev/ttyACM1 (uno 2a03:0043)" in e.value.one_line()
    with pytest.raises(EdgeqError) as e:  # no --board: any board of the table
        find_port(None, [port("/dev/ttyACM0", 0x2341, 0x805A), port("/dev/ttyUSB0", 0x10C4, 0xEA60)])
    assert "nano33ble" in e.value.one_line() and "esp32" in e.value.one_line()
    with pytest.raises(EdgeqError, match="has no USB VID:PID"):
        find_port("generic-m4", [])


def test_port_auto_cli_without_a_board_attached(tmp_path):
    """As a user runs it here (no USB serial device in the sandbox / CI): one line naming what was looked for."""
    from conftest import assert_user_error, run_cli

    proc = run_cli("bench", "--port", "auto", "--board", "nano33ble", cwd=tmp_path, timeout=60)
    assert_user_error(proc, "--port auto: no serial port has the USB VID:PID of nano33ble (2341:805a, 2341:005a)")
    proc = run_cli("bench", "--port", "auto", "--board", "qemu-m4", cwd=tmp_path, timeout=60)
    assert_user_error(proc, "--port auto looks for a board on USB; qemu-m4 is emulated")
