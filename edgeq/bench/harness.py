"""The device benchmark run: connect, identify, check the model, load inputs, run, verify, retry, report.

:func:`bench_device` is the whole thing behind ``edgeq bench --port/--board``. The run loop keeps to three rules:

* a result is recorded only when its frame checked out (CRCs) and, with ``verify``, its output equals the bit-exact
  host reference; a mismatch is re-checked once (fresh load, fresh run) before it counts as a mismatch, and a
  mismatching run's timing is never recorded;
* a fault (bad CRC, missing line, timeout, boot banner = reset) costs one retry: resync, reload, run again; too many
  faults in a row stop the run with a clear message;
* whatever happens (failure, Ctrl-C), the results so far are written atomically, marked ``"complete": false``.

The jobs live in their own modules, all re-exported here: :mod:`~edgeq.bench.session` (options, state, session),
:mod:`~edgeq.bench.inputs` (input generation), :mod:`~edgeq.bench.runloop` (the run loops),
:mod:`~edgeq.bench.verify` (verification), :mod:`~edgeq.bench.assemble` (the report).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from edgeq import protocol_spec as spec
from edgeq.bench.assemble import accuracy_block, make_report, save_json
from edgeq.bench.inputs import input_spec_from_info, load_labels, make_inputs
from edgeq.bench.protocol import Device, FrameError
from edgeq.bench.runloop import run_edgeq_loop, run_mlperf_loop
from edgeq.bench.session import BenchOptions, BenchState, Progress, Session
from edgeq.bench.verify import check_mlperf_results
from edgeq.errors import DeviceError, EdgeqError, ModelError

DEFAULT_PARTIAL = "edgeq-bench-partial.json"

__all__ = ["BenchOptions", "BenchState", "DEFAULT_PARTIAL", "Progress", "Session", "accuracy_block", "bench_device",
           "check_mlperf_results", "input_spec_from_info", "load_labels", "make_inputs", "make_report",
           "run_edgeq_loop", "run_mlperf_loop", "save_json"]


def bench_device(opts: BenchOptions) -> dict:
    """Run a device benchmark and return the report dict. Partial results are saved on failure or Ctrl-C."""
    if opts.protocol not in ("edgeq", "mlperf"):
        raise EdgeqError(f"unknown protocol {opts.protocol!r}", hint="use edgeq or mlperf")
    if opts.runs is not None and opts.runs < 1:
        raise EdgeqError(f"--runs must be >= 1, got {opts.runs}")
    if opts.warmup is not None and opts.warmup < 0:
        raise EdgeqError(f"--warmup must be >= 0, got {opts.warmup}")
    auto = opts.port == "auto"  # --port auto [--board B]: the board's serial port by its USB VID:PID
    if bool(opts.port) == bool(opts.board) and not auto:
        raise EdgeqError("give exactly one of --port PORT|URL and --board BOARD",
                         hint="or --port auto --board B for a board on USB")
    if auto and opts.board:
        from edgeq.targets.boards import get_board

        if get_board(opts.board).emulated:
            raise EdgeqError(f"--port auto looks for a board on USB; {opts.board} is emulated", where="--port",
                             hint=f"leave out --port to start the emulator (--board {opts.board})")
    if opts.model and not Path(opts.model).is_file():
        raise ModelError("no such model file", where=opts.model)
    if opts.inputs and not Path(opts.inputs).is_file():
        raise EdgeqError("no such inputs file", where=opts.inputs)
    if opts.labels and not opts.inputs:
        raise EdgeqError("--labels needs --inputs X.npy (the labelled inputs)", where="--labels")
    if opts.labels and opts.protocol != "edgeq":
        raise EdgeqError("--labels works with --protocol edgeq (the outputs of every input)", where="--labels")
    if opts.labels and not Path(opts.labels).is_file():
        raise EdgeqError("no such labels file", where=opts.labels)
    sess = Session(opts)
    emulator = None
    link = None
    try:
        if auto:
            from edgeq.bench.transport import find_port

            sess.url = find_port(opts.board)
        elif opts.board:
            from edgeq.bench.boards import start_board

            emulator, sess.firmware = start_board(opts.board, opts.firmware, opts.model, opts.backend, opts.optimize)
            sess.url = emulator.url
        else:
            sess.url = opts.port
        from edgeq.bench.transport import open_link

        link = open_link(sess.url, opts.baud, connect_timeout=10.0 if emulator else 0.0)
        dev = Device(link, timeout=opts.timeout, record=opts.record)
        sess.device = dev
        sess.name = dev.sync(attempts=5, first_wait=0.5 if emulator else 0.3)
        _run(sess, dev)
        report = make_report(sess, complete=True)
    except BaseException as exc:
        if sess.running:  # timed runs were under way: keep what they measured
            report = make_report(sess, complete=False, error=exc)
            path = opts.output or DEFAULT_PARTIAL
            try:
                save_json(report, path)
                print(f"edgeq bench: partial results saved to {path}", file=sys.stderr)
            except Exception:  # never hide the original error behind a save error
                pass
        raise
    finally:
        if link is not None:
            link.close()
        if emulator is not None:
            emulator.stop()
    if opts.output:
        save_json(report, opts.output)
    return report


def _run(sess: Session, dev: Device) -> None:
    opts, state = sess.opts, sess.state
    ref = None
    info = None
    if opts.protocol == "edgeq" or _knows_info(dev):
        info = sess.info = dev.info()
    if opts.model:
        sess.model = _check_model(opts.model, info, dev)
    in_spec, out_bytes = _io_spec(opts.model, info)
    from edgeq.bench import mlperf

    windows = mlperf.WINDOWS
    if opts.protocol == "edgeq":
        opts.runs = 100 if opts.runs is None else opts.runs
        opts.warmup = 1 if opts.warmup is None else opts.warmup
    count = min(opts.runs, 10) if opts.protocol == "edgeq" else windows
    inputs, sess.inputs_desc = make_inputs(opts.inputs, in_spec, count, opts.seed)
    if opts.labels:
        sess.labels = load_labels(opts.labels, len(inputs))
        if opts.runs < len(inputs):  # every labelled input must run once
            sess.labels_note = f"--runs raised from {opts.runs} to {len(inputs)}: every labelled input runs"
            opts.runs = len(inputs)
        sess.out_spec = (info or {}).get("outputs") or None
    expected = None
    if opts.verify:
        if not opts.model:
            sess.verify_note = "no --model given: outputs not verified"
        else:
            from edgeq.reference import load_reference

            ref = load_reference(opts.model, opts.reference)
            sess.reference_kind = ref.kind
            expected = ref.run_many(inputs)
            sess.expected = expected
    else:
        sess.verify_note = "--no-verify"
    total = opts.runs if opts.protocol == "edgeq" else windows
    progress = Progress(total, opts.progress)
    sess.running = True
    try:
        if opts.protocol == "edgeq":
            run_edgeq_loop(dev, inputs, expected, opts, state, out_bytes, progress)
        else:
            db_format = ((info or {}).get("db") or {}).get("format", "raw")
            payloads = [mlperf.db_payload(x, in_spec, db_format) for x in inputs]
            run_mlperf_loop(dev, inputs, expected, ref, opts, state, opts.runs, opts.warmup, progress, payloads,
                            db_format)
    finally:
        progress.close()
        if ref is not None:
            ref.close()


def _check_model(model: str, info: dict | None, dev: Device) -> dict:
    """The report's ``model`` entry; the device must run this model (its edgeq-info SHA-256 prefix), when it says."""
    from edgeq._fs import MAX_MODEL_BYTES, read_input_bytes

    data = read_input_bytes(model, what=".tflite model", max_bytes=MAX_MODEL_BYTES, error=ModelError)
    sha = hashlib.sha256(data).hexdigest()
    if info is not None:
        dev_sha = str(info.get("sha256", ""))
        if not dev_sha or not sha.startswith(dev_sha.lower()):
            raise DeviceError(
                f"the device runs another model ({info.get('model')!r}, sha256 {dev_sha[:16]}...), not "
                f"{Path(model).name} (sha256 {sha[:16]}...)", where=dev.link.name,
                hint="flash firmware built from this model, or pass the model the firmware was built from")
    return {"path": str(model), "sha256": sha, "bytes": len(data)}


def _io_spec(model: str | None, info: dict | None) -> tuple[dict, int | None]:
    """(input spec as :func:`make_inputs` takes it, output bytes): the device's own description, else the model's."""
    if info is not None:
        out_bytes = sum(int(o["bytes"]) for o in info["outputs"]) if info.get("outputs") else None
        return input_spec_from_info(info), out_bytes
    if model:
        from edgeq.reference import model_io

        ins, outs = model_io(model)
        parts = [{"shape": list(t.shape), "dtype": t.dtype, "scale": t.scale, "zero_point": t.zero_point,
                  "bytes": t.nbytes} for t in ins]
        return {**parts[0], "bytes": sum(p["bytes"] for p in parts), "parts": parts}, sum(t.nbytes for t in outs)
    raise EdgeqError("the device does not describe its input (no edgeq-info)",
                     hint="pass --model MODEL.tflite (the model the firmware runs)")


def _knows_info(dev: Device) -> bool:
    """Whether the device answers edgeq-info (MLPerf reference firmware does not)."""
    try:
        ans = dev.command(spec.CMD_INFO)
    except FrameError:
        dev.resync()
        return False
    return any(ln.startswith(spec.MSG_INFO) for ln in ans.lines)

