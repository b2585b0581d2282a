"""Hostile input (issue 13): every case an outside fuzz run found is a regression test here, through the CLI as a user
runs it (one line on stderr, exit 2, no traceback, no partial output), plus the fixed-seed budget of the model fuzzer
(tests/fuzz_models.py): 0 tracebacks, 0 hangs, 0 sanitizer findings, 0 compiled-but-unbuildable models."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, assert_user_error, popen_cli, run_cli
from edgeq import protocol_spec as spec
from edgeq.bench.hostfw import HostFirmwareServer

HELLO = REPO.parent / "shared" / "models" / "tflite-micro" / "hello_world_int8.tflite"


@pytest.fixture(scope="module")
def hello() -> Path:
    if not HELLO.is_file():
        pytest.skip(f"{HELLO} not found (the shared tflite-micro models)")
    return HELLO


def mutated(src: Path, dest: Path, change) -> Path:
    """``src`` with ``change(model)`` applied to its TFLite schema object (ModelT), written to ``dest``."""
    import fuzz_models

    schema = fuzz_models.schema()
    model = schema.ModelT.InitFromPackedBuf(src.read_bytes(), 0)
    change(model)
    dest.write_bytes(fuzz_models.serialize(model))
    return dest


def _fc_output(model):
    sg = model.subgraphs[0]
    return sg.tensors[sg.operators[1].outputs[0]]


def _no_outputs(m):
    m.subgraphs[0].operators[1].outputs = []


def _own_input(m):
    op = m.subgraphs[0].operators[1]
    op.outputs = [op.inputs[0]]


def _no_inputs(m):
    m.subgraphs[0].inputs = []


def _scale(value):
    def change(m):
        _fc_output(m).quantization.scale = [value]
    return change


def _zero_point(value):
    def change(m):
        _fc_output(m).quantization.zeroPoint = [value]
    return change


# --------------------------------------------------------------------------------------------- invalid models
BAD_MODELS = {
    "op-without-outputs": (_no_outputs, ("operator 1", "outputs", "FULLY_CONNECTED takes 1")),
    "op-writes-own-input": (_own_input, ("operator 1", "writes its own input")),
    "no-graph-inputs": (_no_inputs, ("no inputs",)),
    "scale-3e38": (_scale(3e38), ("operator 2", "shift")),
    "scale-1e-45": (_scale(1e-45), ("quantization.scale", "e-45")),
    "zero-point-2^40": (_zero_point(1 << 40), ("zero_point", "1099511627776", "int8")),
}


@pytest.mark.parametrize("case", sorted(BAD_MODELS))
def test_invalid_model_refused_by_compile_and_reported_by_inspect(case, hello, tmp_path):
    change, needles = BAD_MODELS[case]
    model = mutated(hello, tmp_path / f"{case}.tflite", change)
    out = tmp_path / "out"
    assert_user_error(run_cli("compile", model, "-o", out, cwd=tmp_path), *needles)
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert_user_error(run_cli("export", model, "--board", "qemu-m4", "-o", tmp_path / "fw", cwd=tmp_path))
    proc = run_cli("inspect", model, "--json", cwd=tmp_path)
    rep = json.loads(proc.stdout)
    if case == "scale-3e38":  # structurally fine: the compiler finds the impossible multiplier
        assert proc.returncode == 0 and rep["problems"] == []
        return
    assert proc.returncode == 0, proc.stderr
    assert rep["problems"] and rep["mcu"]["ok"] is False and rep["mcu"]["verdict"] == "none"
    text = " ".join(f"{p['where']} {p['field']}: {p['message']}" for p in rep["problems"])
    assert all(n.lower() in text.lower() for n in needles if n != "shift"), text
    plain = run_cli("inspect", model, cwd=tmp_path)
    assert plain.returncode == 0 and "PROBLEMS:" in plain.stdout
    assert run_cli("inspect", model, "--strict", cwd=tmp_path).returncode == 1


def test_the_reference_refuses_an_invalid_model(hello, tmp_path):
    from edgeq.errors import ModelError
    from edgeq.reference import load_reference

    model = mutated(hello, tmp_path / "noout.tflite", _no_outputs)
    for kind in ("tflm", "portable"):
        with pytest.raises(ModelError, match="operator 1"):
            load_reference(model, kind)


def test_a_failing_host_reference_says_why(shared_models, hello, tmp_path):
    """A host reference program that fails (here: KWS's model_host fed hello_world's one-byte inputs) is an error that
    carries the program's own line, not only a byte count."""
    from compiler_util import require_gcc

    from edgeq.compiler import build_host, compile_model
    from edgeq.errors import ToolchainError
    from edgeq.reference import PortableHostReference

    require_gcc()
    compile_model(shared_models / "kws_ref_model.tflite", target="host", out_dir=tmp_path / "kws")
    binary = build_host(tmp_path / "kws")
    ref = PortableHostReference(HELLO, binary=binary)
    with pytest.raises(ToolchainError, match=r"returned 0 bytes \(exit 1\), expected 1: model_host: short input: "
                                             r"got 1 of 490 bytes"):
        ref.run_many([b"\x00"])


def test_every_real_model_is_valid():
    """No false positives: the published models (MLPerf Tiny, tflite-micro examples) have no structural problem."""
    from edgeq.tflite import read_model
    from edgeq.tflite.validate import problems

    models = sorted((REPO.parent / "shared" / "models").glob("*/*.tflite"))
    if not models:
        pytest.skip("no shared models")
    for path in models:
        assert problems(read_model(path, validate=False)) == [], path


def test_every_compiled_op_has_its_input_output_counts_checked():
    """The validator checks the operand counts of every op the compiler lowers, so a mutated model with a missing or
    extra operand is refused before a kernel's prepare() indexes past its operand list."""
    from edgeq.compiler.ops import LAYERS
    from edgeq.tflite.validate import OP_ARITY

    assert sorted(set(LAYERS) - set(OP_ARITY)) == []


def test_an_op_the_arity_table_does_not_know_is_left_to_the_compiler(tmp_path):
    """person_detect_vela has one CUSTOM:ethos-u op (no row in OP_ARITY): valid for the validator, refused by the
    compiler's op check with its own message."""
    from edgeq.tflite.validate import OP_ARITY

    model = REPO.parent / "shared" / "models" / "tflite-micro" / "person_detect_vela.tflite"
    if not model.is_file():
        pytest.skip("person_detect_vela.tflite not found")
    assert "CUSTOM:ethos-u" not in OP_ARITY
    proc = run_cli("compile", model, "-o", tmp_path / "out")
    assert_user_error(proc, "ethos-u")
    assert "invalid model" not in proc.stderr


# ----------------------------------------------------------------------------------------- special input files
def test_inspect_dev_zero_answers_at_once():
    assert_user_error(run_cli("inspect", "/dev/zero", timeout=30), "/dev/zero", "not a regular file")


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "model.tflite"
    os.mkfifo(fifo)
    assert_user_error(run_cli("inspect", fifo, timeout=30), "not a regular file")
    assert_user_error(run_cli("compile", fifo, "-o", tmp_path / "out", timeout=30), "not a regular file")


def _never_opened(tmp_path: Path) -> str:
    """A port URL for options that must be refused before the port is opened: a host firmware that does not exist
    (opening it would fail with "no host firmware at ...", not with the option's own error)."""
    return f"edgeq-host://{tmp_path}/never-opened/firmware_host"


def test_a_folder_as_inputs_is_refused(hello, tmp_path):
    (tmp_path / "x.npy").mkdir()
    proc = run_cli("bench", "--port", _never_opened(tmp_path), "--model", hello, "--inputs", tmp_path / "x.npy",
                   timeout=60)
    assert_user_error(proc, "folder")
    assert "no host firmware" not in proc.stderr


# ------------------------------------------------------------------------------------------------- outputs
@pytest.mark.parametrize("cmd", ["compile", "export"])
def test_unwritable_output_folder_is_one_line(cmd, hello, tmp_path):
    extra = ["--board", "qemu-m4"] if cmd == "export" else []
    assert_user_error(run_cli(cmd, hello, *extra, "-o", "/proc/edgeq-out", cwd=tmp_path), "/proc",
                      "not writable")


def test_unwritable_quantize_output_is_refused_before_work(hello, tmp_path):
    np.save(tmp_path / "calib.npy", np.zeros((4, 1), np.float32))
    assert_user_error(run_cli("quantize", hello, "--mode", "int8", "--data", tmp_path / "calib.npy", "-o",
                              "/proc/edgeq.tflite", cwd=tmp_path), "not writable")


def test_atomic_helpers_turn_oserrors_into_one_line_errors():
    from edgeq._fs import atomic_dir, atomic_write_bytes
    from edgeq.errors import EdgeqError

    with pytest.raises(EdgeqError, match="not writable|cannot"):
        atomic_write_bytes("/proc/edgeq-out.json", b"{}")
    with pytest.raises(EdgeqError, match="not writable|cannot"):
        with atomic_dir("/proc/edgeq-out"):
            pass
    with pytest.raises(EdgeqError, match="is a folder"):
        atomic_write_bytes("/tmp", b"x")


def test_a_file_where_the_output_folder_goes(hello, tmp_path):
    (tmp_path / "out").write_text("a file")
    assert_user_error(run_cli("compile", hello, "-o", "out", "--force", cwd=tmp_path), "not a folder")


@pytest.mark.parametrize("opt,value", [("-o", "DIR"), ("--csv", "DIR"), ("--plot", "DIR"),
                                       ("-o", "/proc/edgeq-results.json"), ("-o", "nofolder/r.json")])
def test_bench_checks_its_outputs_before_it_runs(opt, value, hello, tmp_path):
    """`bench -o EXISTING_DIR` used to run the whole benchmark, then lose the results in a traceback."""
    (tmp_path / "DIR").mkdir()
    proc = run_cli("bench", "--port", _never_opened(tmp_path), "--no-verify", "--runs", "5", opt, value,
                   cwd=tmp_path, timeout=60)
    assert_user_error(proc, opt)
    assert "no host firmware" not in proc.stderr  # refused before the port was even opened


# ------------------------------------------------------------------------------------------------- options
@pytest.mark.parametrize("args,needle", [
    (["bench", "--timeout", "nan"], "--timeout"), (["bench", "--timeout", "inf"], "--timeout"),
    (["bench", "--timeout", "0"], "--timeout"), (["bench", "--timeout", "-1"], "--timeout"),
    (["bench", "--runs", "0"], "--runs"), (["bench", "--max-retries", "-1"], "--max-retries"),
    (["bench", "--baud", "1e9"], "--baud"), (["bench", "--local", "m.tflite", "--threads", "0"], "--threads"),
    (["qat", "m.keras", "--data", "d.npz", "--epochs", "nan", "-o", "o.tflite"], "--epochs"),
    (["qat", "m.keras", "--data", "d.npz", "--epochs", "1", "--lr", "inf", "-o", "o.tflite"], "--lr"),
    (["quantize", "m.keras", "--max-samples", "-5", "-o", "o.tflite"], "--max-samples"),
    (["run", "m.tflite", "--top-k", "0"], "--top-k"),
    (["demo", "--runs", "-1"], "--runs"),
])
def test_numbers_are_validated_at_parse_time(args, needle, tmp_path):
    if args[0] == "bench" and "--local" not in args:
        args = args + ["--port", _never_opened(tmp_path)]
    proc = run_cli(*args, timeout=60)
    assert_user_error(proc, needle)
    assert "no host firmware" not in proc.stderr


# --------------------------------------------------------------------------------------- firmware and children
def test_flash_refuses_a_file_that_is_not_firmware(tmp_path):
    np.save(tmp_path / "anything.npy", np.zeros(4))
    assert_user_error(run_cli("flash", "--board", "qemu-m4", tmp_path / "anything.npy", timeout=60), "not an ELF")
    assert_user_error(run_cli("flash", "--board", "qemu-m4", sys.executable, timeout=60), "ELF")
    assert_user_error(run_cli("bench", "--board", "qemu-m4", "--firmware", tmp_path / "anything.npy", timeout=60),
                      "not an ELF")
    # a real board: the upload takes an ELF for its architecture or an Intel HEX file
    assert_user_error(run_cli("flash", "--board", "nano33ble", "--port", "/dev/ttyACM9", tmp_path / "anything.npy",
                              timeout=60), "not an ELF")


@pytest.fixture(scope="module")
def qemu_fw(hello, tmp_path_factory) -> Path:
    if not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")):
        pytest.skip("arm-none-eabi-gcc / qemu-system-arm not installed (apt-get install -y gcc-arm-none-eabi "
                    "libnewlib-arm-none-eabi qemu-system-arm)")
    out = tmp_path_factory.mktemp("fw") / "hello"
    proc = run_cli("export", hello, "--board", "qemu-m4", "-o", out, "--build")
    assert proc.returncode == 0, proc.stderr
    return out


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def _gone(pid: int, wait: float = 10.0) -> bool:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        except OSError:
            return True
        if state == "Z":  # a zombie is dead; its parent just has not reaped it yet
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_killing_flash_stops_qemu(sig, qemu_fw):
    proc = popen_cli("flash", "--board", "qemu-m4", str(qemu_fw), "--json")
    try:
        text = ""
        while not text.rstrip().endswith("}") or text.count("{") != text.count("}"):
            line = proc.stdout.readline().decode()
            assert line, proc.stderr.read().decode()
            text += line
        qemu_pid = json.loads(text)["pid"]
        assert not _gone(qemu_pid, wait=0.5), "QEMU did not start"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _gone(qemu_pid), f"QEMU (pid {qemu_pid}) outlived edgeq flash after {sig.name}"
    assert b"Traceback" not in err
    assert proc.returncode in ((0, 130) if sig == signal.SIGINT else (128 + signal.SIGTERM,)), err


def test_sigterm_on_bench_stops_its_emulator(hello, qemu_fw, tmp_path):
    proc = popen_cli("bench", "--board", "qemu-m4", "--firmware", qemu_fw, "--model", hello, "--runs", "1000000",
                     "--progress", "-o", "r.json", cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        kids: list[int] = []
        while time.monotonic() < deadline and not kids:
            kids = [k for k in _children(proc.pid) if "qemu" in Path(f"/proc/{k}/cmdline").read_bytes().decode(
                errors="replace")]
            time.sleep(0.2)
        assert kids, "bench did not start QEMU"
        buf = b""
        while b"/1000000" not in buf and time.monotonic() < deadline + 60:  # the progress bar: timed runs under way
            if select.select([proc.stderr], [], [], 1.0)[0]:
                chunk = os.read(proc.stderr.fileno(), 256)
                if not chunk:
                    break
                buf += chunk
        assert b"/1000000" in buf, buf.decode(errors="replace")
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        err = buf + err
    finally:
        if proc.poll() is None:
            proc.kill()
    assert all(_gone(k) for k in kids), f"QEMU {kids} outlived edgeq bench after SIGTERM"
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert b"Traceback" not in err
    rep = json.loads((tmp_path / "r.json").read_text())  # what it measured before the signal is kept
    assert rep["complete"] is False and rep["error"] == "terminated by signal 15" and rep["runs"] >= 1


# ---------------------------------------------------------------------------------------------- sketch names
def test_a_c_keyword_file_name_exports_for_an_arduino_board(hello, tmp_path):
    shutil.copy(hello, tmp_path / "int.tflite")
    proc = run_cli("export", "int.tflite", "--board", "uno", "-o", "sk", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "sk" / "int_model" / "int_model.ino").is_file()


def test_a_bad_name_says_where_it_came_from(hello, tmp_path):
    assert_user_error(run_cli("export", hello, "--board", "uno", "--name", "int", "-o", tmp_path / "sk"),
                      "--name", "'int'")


# ----------------------------------------------------------------------------------------------------- serial
class _HangsAfterRuns(HostFirmwareServer):
    """The real host firmware on TCP, which hangs (SIGSTOP) once it has answered ``runs`` edgeq-run commands: the
    answer of the last one, up to its m-ready, still reaches the harness; nothing after it does."""

    def __init__(self, firmware, runs: int):
        self.runs = runs
        super().__init__(firmware, record=True)

    def _tee(self, proc, conn) -> None:
        seen, pending = 0, b""
        with conn:
            while True:
                chunk = proc.stdout.read1(4096)
                if not chunk:
                    return
                pending += chunk
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    conn.sendall(line + b"\n")
                    seen += line.startswith(spec.MSG_OUT.encode())
                    if seen == self.runs and line.rstrip(b"\r") == spec.READY.encode():
                        os.kill(proc.pid, signal.SIGSTOP)
                        return


def test_a_device_that_goes_silent_mid_run_is_named_so(host_firmware, tmp_path):
    with _HangsAfterRuns(host_firmware, runs=10) as server:
        proc = run_cli("bench", "--port", server.url, "--runs", "30", "--no-verify", "--timeout", "0.3",
                       "--max-retries", "1", "-o", tmp_path / "r.json", timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "went silent after 10 runs" in last, proc.stderr
    assert "EEMBC" not in proc.stderr and "not an edgeq" not in proc.stderr
    assert json.loads((tmp_path / "r.json").read_text())["runs"] == 10  # the partial results are kept


# ------------------------------------------------------------------------------------------------------ fuzzer
#: the CI budget: a fixed seed, a bounded number of cases (about two minutes on 2 cores); `./run.sh fuzz` runs longer
FUZZ_SEED = 3  # on the code before issue 13 this seed finds 4 tracebacks and 3 hangs in 48 cases
FUZZ_CASES = 48


def test_fuzzer_budget_finds_nothing(tmp_path):
    pytest.importorskip("hypothesis")
    if not shutil.which("gcc") or not shutil.which("make"):
        pytest.skip("gcc/make not installed (apt-get install -y gcc make)")
    import fuzz_models

    try:
        fuzz_models.schema()
    except ImportError:
        pytest.skip("no TFLite schema module (pip install 'edgeq[pi]')")
    stats = fuzz_models.fuzz(seed=FUZZ_SEED, cases=FUZZ_CASES, save=tmp_path / "failures")
    print(stats.table())
    assert stats.cases == FUZZ_CASES
    assert stats.compiled > 0 and stats.inspect_refused > 0 and stats.compile_refused > 0  # it reached every stage
    assert (stats.tracebacks, stats.hangs, stats.sanitizer, stats.unbuildable) == (0, 0, 0, 0), stats.failures
