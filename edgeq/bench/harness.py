"""The device benchmark run: connect, identify, check the model, load inputs, run, verify, retry, report.

:func:`bench_device` is the whole thing behind ``edgeq bench --port/--board``. The run loop keeps to three rules:

* a result is recorded only when its frame checked out (CRCs) and, with ``verify``, its output equals the bit-exact
  host reference; a mismatch is re-checked once (fresh load, fresh run) before it counts as a mismatch, and a
  mismatching run's timing is never recorded;
* a fault (bad CRC, missing line, timeout, boot banner = reset) costs one retry: resync, reload, run again; too many
  faults in a row stop the run with a clear message;
* whatever happens (failure, Ctrl-C), the results so far are written atomically, marked ``"complete": false``.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeq import protocol_spec as spec
from edgeq.bench.protocol import Device, DeviceReset, FrameError
from edgeq.bench.stats import summarize, throughput, to_microseconds
from edgeq.errors import DeviceError, EdgeqError, ModelError, Terminated

DEFAULT_PARTIAL = "edgeq-bench-partial.json"


@dataclass
class BenchOptions:
    port: str | None = None
    board: str | None = None
    firmware: str | None = None
    backend: str | None = None  # with --board and no firmware: the backend to build with
    baud: int = 115200
    model: str | None = None
    inputs: str | None = None
    runs: int | None = None  # edgeq: 100 timed runs; mlperf: iterations per window (None = the runner's for the model)
    warmup: int | None = None  # edgeq: warm-ups before the first timed run (and after a reset), default 1
    verify: bool = True
    protocol: str = "edgeq"
    seed: int = 0
    timeout: float = 3.0  # one answer line
    run_timeout: float = 60.0  # first answer to a command that computes, until the harness has measured one
    max_retries: int = 10  # faults in a row before giving up
    reference: str | None = None  # "tflm" | "portable" | None (auto)
    output: str | None = None  # -o: the JSON report (partial results go there too)
    progress: bool | None = None  # None: when stderr is a terminal
    record: bool = False  # keep every command sent (tests, benchmarks)
    labels: str | None = None  # --labels Y.npy: true class per --inputs row -> on-device accuracy + confusion matrix


@dataclass
class BenchState:
    samples: list[dict] = field(default_factory=list)
    verified: int = 0
    mismatches: int = 0
    mismatch_details: list[dict] = field(default_factory=list)
    retries: int = 0
    resets: int = 0
    reasons: Counter = field(default_factory=Counter)
    timing_crc: bool | None = None
    upload_payload: int = 0
    upload_wire: int = 0
    windows: list[dict] = field(default_factory=list)
    mlperf: dict | None = None
    device_outputs: dict[int, bytes] = field(default_factory=dict)  # input index -> the device's output bytes

    def fault(self, exc: Exception) -> None:
        self.retries += 1
        if isinstance(exc, DeviceReset):
            self.resets += 1
            self.reasons["reset"] += 1
        else:
            self.reasons[_reason(exc)] += 1


def _reason(exc: Exception) -> str:
    """A fault's category for the report's ``retry_reasons``."""
    if isinstance(exc, DeviceReset):
        return "reset"
    from edgeq.bench.protocol import DeviceTimeout

    if isinstance(exc, DeviceTimeout):
        return "timeout"
    text = str(exc).lower()
    if "crc" in text:
        return "crc"
    if "e-[" in text or "refused" in text:
        return "error answer"
    return "corrupt answer"


# ------------------------------------------------------------------------------------------------------- progress
class Progress:
    """A one-line progress bar on stderr (only on a terminal unless forced)."""

    def __init__(self, total: int, enabled: bool | None, label: str = "bench"):
        self.total = max(1, total)
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.label = label
        self._last = 0.0

    def update(self, done: int, note: str = "", force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.1 and done < self.total:
            return
        self._last = now
        width = 30
        fill = int(width * min(done, self.total) / self.total)
        sys.stderr.write(f"\r{self.label} [{'#' * fill}{'.' * (width - fill)}] {done}/{self.total} {note}\x1b[K")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()


# --------------------------------------------------------------------------------------------------------- inputs
def input_spec_from_info(info: dict) -> dict:
    """The device's input as ``make_inputs`` takes it: input 0's shape/dtype/quantization, ``bytes`` = all inputs,
    and ``parts`` = one spec per input (a multi-input model's inputs travel one after the other, in graph order)."""
    try:
        parts = [{"shape": [int(d) for d in s["shape"]], "dtype": str(s["dtype"]), "scale": float(s.get("scale", 0.0)),
                  "zero_point": int(s.get("zero_point", 0)), "bytes": int(s["bytes"])} for s in info["inputs"]]
        return {**parts[0], "bytes": sum(p["bytes"] for p in parts), "parts": parts}
    except (KeyError, IndexError, TypeError, ValueError):
        raise DeviceError("the device's edgeq-info has no usable 'inputs' entry", hint="rebuild the firmware")


def make_inputs(path: str | None, in_spec: dict, count: int, seed: int) -> tuple[list[bytes], dict]:
    """The input payloads (raw bytes in the model's input dtype) and a description for the report.

    ``path``: a .npy with one input of the model's shape, or K of them stacked on axis 0; float data for an int8 input
    is quantized with the input's scale and zero point. None: ``count`` seeded random inputs.
    """
    parts = in_spec.get("parts") or [in_spec]
    if len(parts) > 1:
        if path is not None:
            raise EdgeqError(f"--inputs takes a .npy for a one-input model; this model has {len(parts)} inputs",
                             where=str(path), hint="leave --inputs out: seeded random inputs, each one verified")
        rng = np.random.default_rng(seed)
        payloads = []
        for _ in range(count):
            blob = b""
            for p in parts:
                dt = np.dtype(p["dtype"])
                if dt.kind in "iu":
                    lim = np.iinfo(dt)
                    a = rng.integers(lim.min, lim.max + 1, size=tuple(p["shape"]), dtype=dt)
                else:
                    a = rng.standard_normal(size=tuple(p["shape"])).astype(dt)
                blob += a.tobytes()
            payloads.append(blob)
        digest = hashlib.sha256(b"".join(payloads)).hexdigest()
        return payloads, {"source": "random", "seed": seed, "count": count, "inputs": len(parts),
                          "shape": [p["shape"] for p in parts], "dtype": [p["dtype"] for p in parts],
                          "sha256": digest}
    shape = tuple(in_spec["shape"])
    dtype = np.dtype(in_spec["dtype"])
    if path is None:
        rng = np.random.default_rng(seed)
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            arr = rng.integers(info.min, info.max + 1, size=(count, *shape), dtype=dtype)
        else:
            arr = rng.standard_normal(size=(count, *shape)).astype(dtype)
        source = {"source": "random", "seed": seed}
    else:
        p = Path(path)
        if not p.is_file():
            raise EdgeqError("no such inputs file", where=str(p))
        from edgeq._fs import MAX_DATA_BYTES, check_input_file

        check_input_file(p, what="inputs file (.npy)", max_bytes=MAX_DATA_BYTES)
        try:
            arr = np.load(p, allow_pickle=False)
        except Exception as exc:
            raise EdgeqError(f"cannot read the inputs as a .npy array: {exc}", where=str(p)) from None
        per = int(np.prod(shape))
        if arr.shape == shape:
            arr = arr.reshape(1, *shape)
        elif arr.ndim >= 1 and arr.shape[1:] == shape:
            pass
        elif len(shape) >= 1 and shape[0] == 1 and arr.ndim >= 1 and arr.shape[1:] == shape[1:]:
            arr = arr.reshape(arr.shape[0], *shape)
        else:
            raise EdgeqError(f"inputs have shape {list(arr.shape)}, the model takes {list(shape)}", where=str(p),
                             hint=f"give one input of shape {list(shape)} or K of them stacked: [K, ...]")
        if arr.shape[0] == 0 or arr.size // arr.shape[0] != per:
            raise EdgeqError("no inputs in the file", where=str(p))
        if arr.dtype != dtype:
            if dtype.kind in "iu" and arr.dtype.kind == "f":
                scale, zp = in_spec["scale"], in_spec["zero_point"]
                if not scale:
                    raise EdgeqError("float inputs for an integer input without a scale", where=str(p))
                lim = np.iinfo(dtype)
                arr = np.clip(np.round(arr / scale) + zp, lim.min, lim.max).astype(dtype)
            elif dtype.kind == "f" and arr.dtype.kind == "f":
                arr = arr.astype(dtype)
            elif arr.dtype.kind in "iu" and dtype.kind in "iu" and np.can_cast(arr.dtype, dtype, "same_kind") \
                    and arr.min(initial=0) >= np.iinfo(dtype).min and arr.max(initial=0) <= np.iinfo(dtype).max:
                arr = arr.astype(dtype)
            else:
                raise EdgeqError(f"inputs are {arr.dtype}, the model takes {dtype}", where=str(p))
        source = {"source": str(p)}
    payloads = [np.ascontiguousarray(a).tobytes() for a in arr]
    for b in payloads:
        if len(b) != in_spec["bytes"]:
            raise DeviceError(f"an input is {len(b)} bytes but the device expects {in_spec['bytes']}")
    digest = hashlib.sha256(b"".join(payloads)).hexdigest()
    return payloads, {**source, "count": len(payloads), "shape": list(shape), "dtype": str(dtype), "sha256": digest}


# ------------------------------------------------------------------------------------------------------ run loops
def run_edgeq_loop(dev: Device, inputs: list[bytes], expected: list[bytes] | None, opts: BenchOptions,
                   state: BenchState, out_bytes: int | None, progress: Progress | None = None) -> None:
    """``opts.runs`` timed runs of the edgeq protocol (binary load + edgeq-run), appending to ``state``.
    With more inputs than runs, only the first ``opts.runs`` inputs are used."""
    loaded: int | None = None
    warm = True
    rechecking = False
    consecutive = 0
    run_timeout = opts.run_timeout
    i = len(state.samples) + state.mismatches
    while i < opts.runs:
        # runs go through the inputs in blocks (0,0,..,1,1,..): one upload per input, not one per run
        idx = i * len(inputs) // opts.runs if opts.runs >= len(inputs) else i
        try:
            if loaded != idx:
                wire0 = dev.link.tx_bytes
                dev.load(inputs[idx])
                state.upload_payload += len(inputs[idx])
                state.upload_wire += dev.link.tx_bytes - wire0
                loaded = idx
            w = opts.warmup if warm else 0
            r = dev.run(w, output_bytes=out_bytes, timeout=run_timeout * (1 + w))
        except FrameError as exc:  # includes DeviceReset and DeviceTimeout
            state.fault(exc)
            consecutive += 1
            if consecutive > opts.max_retries:
                raise DeviceError(f"giving up after {consecutive} faults in a row; last: {exc.one_line()}",
                                  where=dev.link.name, hint="check the cable / baud, or raise --max-retries")
            loaded = None
            if isinstance(exc, DeviceReset):
                warm = True
            if progress:
                progress.update(i, f"retry ({_reason(exc)})", force=True)
            dev.runs_done = len(state.samples) + state.mismatches
            resets = dev.resets
            dev.resync()
            if dev.resets > resets:  # a boot banner while resyncing: the device restarted, warm it up again
                warm = True
            continue
        consecutive = 0
        warm = False
        state.timing_crc = r.timing_crc if state.timing_crc is None else (state.timing_crc and r.timing_crc)
        # adapt the first-line deadline once an inference has been timed (so a lost command costs seconds, not minutes)
        run_timeout = max(opts.timeout, 10 * r.roundtrip_s)
        if expected is not None:
            if r.output != expected[idx]:
                if not rechecking:  # re-check with a fresh load before calling it a mismatch
                    rechecking = True
                    loaded = None
                    state.retries += 1
                    state.reasons["output recheck"] += 1
                    continue
                rechecking = False
                state.device_outputs.setdefault(idx, r.output)
                state.mismatches += 1
                if len(state.mismatch_details) < 20:
                    exp = np.frombuffer(expected[idx], dtype=np.uint8)
                    got = np.frombuffer(r.output, dtype=np.uint8)
                    diff = np.flatnonzero(exp != got) if exp.size == got.size else np.arange(max(exp.size, 1))
                    state.mismatch_details.append({"run": i, "input": idx, "bytes_differing": int(diff.size),
                                                   "first_byte": int(diff[0]) if diff.size else None})
                i += 1
                if progress:
                    progress.update(i, f"MISMATCH x{state.mismatches}")
                continue
            rechecking = False
            state.verified += 1
        state.device_outputs.setdefault(idx, r.output)
        sample = {"run": i, "input": idx, "ticks": r.ticks, "roundtrip_ms": round(r.roundtrip_s * 1e3, 3)}
        state.samples.append(sample)
        i += 1
        if progress:
            progress.update(i, f"retries {state.retries}")


def _dequantize(raw: bytes, dtype: str, scale: float, zp: int) -> np.ndarray:
    a = np.frombuffer(raw, dtype=dtype).astype(np.float64)
    return (a - zp) * scale if scale and np.dtype(dtype).kind in "iu" else a


def _tensor_spec(t) -> dict:
    return {"shape": list(t.shape), "dtype": t.dtype, "scale": t.scale, "zero_point": t.zero_point}


def check_mlperf_results(results: list[float], expected_out: bytes, payload: bytes, ref, model_id: str,
                         db_format: str) -> bool | None:
    """Compare an ``m-results-[...]`` vector with what the MLPerf reference firmware prints for the reference output
    (:func:`edgeq.bench.mlperf.reference_results`: same float arithmetic, same digits). None = not comparable."""
    from edgeq.bench import mlperf

    out0 = expected_out[:ref.outputs[0].nbytes]  # m-results are output 0's (m-out carries every output)
    want = mlperf.reference_results(model_id, out0, _tensor_spec(ref.outputs[0]), payload,
                                    _tensor_spec(ref.inputs[0]), db_format)
    if len(want) != len(results):
        return None if len(results) not in (1, len(want)) else False
    return all(float(w) == r for w, r in zip(want, results))


def run_mlperf_loop(dev: Device, inputs: list[bytes], expected: list[bytes] | None, ref, opts: BenchOptions,
                    state: BenchState, iterations: int | None, warmup: int | None,
                    progress: Progress | None = None, payloads: list[bytes] | None = None,
                    db_format: str = "raw") -> None:
    """The runner's performance flow: 5 windows of [download, infer N W], each with a different input.
    ``iterations``/``warmup`` None: what the runner uses for the device's model id. ``payloads``: what goes over
    the wire per input when the device's ``db`` format differs from its input bytes (float32 for ad01)."""
    from edgeq.bench import mlperf

    name, profile, model_id = mlperf.identify(dev)
    n_def, w_def = mlperf.RUNNER_ITERATIONS.get(model_id, (70, 10))
    iterations = n_def if iterations is None else iterations
    warmup = w_def if warmup is None else warmup
    state.mlperf = {"name": name, "profile": profile, "model_id": model_id, "iterations": iterations,
                    "warmup": warmup}
    for k in range(mlperf.WINDOWS):
        idx = k % len(inputs)
        tries = 0
        while True:
            try:
                wire = mlperf.db_load(dev, (payloads or inputs)[idx])
                win = mlperf.infer(dev, iterations, warmup, timeout=max(mlperf.INFER_TIMEOUT_S, opts.run_timeout))
                break
            except FrameError as exc:
                state.fault(exc)
                tries += 1
                if tries > opts.max_retries:
                    raise DeviceError(f"giving up after {tries} faults in a row; last: {exc.one_line()}")
                dev.runs_done = k
                dev.resync()
        state.upload_payload += len((payloads or inputs)[idx])
        state.upload_wire += wire
        ok = None
        if expected is not None and ref is not None and win.results:  # the scores the reference firmware prints
            ok = check_mlperf_results(win.results, expected[idx], (payloads or inputs)[idx], ref, model_id, db_format)
        if expected is not None and win.output is not None:  # edgeq firmware: also the raw output, CRC-checked
            ok = (ok is not False) and win.output == expected[idx]
        if ok is not None:
            if ok:
                state.verified += 1
            else:
                state.mismatches += 1
                state.mismatch_details.append({"window": k, "input": idx, "results": win.results[:16]})
        d = {"window": k, "input": idx, "iterations": iterations, "warmup": warmup, "elapsed_us": win.elapsed_us,
             "latency_us": round(win.latency_us, 3), "throughput": round(win.throughput, 3),
             "results": win.results, "verified": ok}
        if ok is not False:
            state.windows.append(d)
        if progress:
            progress.update(k + 1, f"window {k + 1}/{mlperf.WINDOWS}")


# ----------------------------------------------------------------------------------------------------------- main
@dataclass
class Session:
    """What :func:`bench_device` knows so far (used for partial reports)."""

    opts: BenchOptions
    state: BenchState = field(default_factory=BenchState)
    info: dict | None = None
    name: str | None = None
    inputs_desc: dict | None = None
    reference_kind: str | None = None
    verify_note: str | None = None
    model: dict | None = None
    firmware: dict | None = None
    url: str | None = None
    started: float = field(default_factory=time.monotonic)
    wall_start: float = field(default_factory=time.time)
    device: Device | None = None
    running: bool = False
    labels: np.ndarray | None = None  # --labels: true class per input
    labels_note: str | None = None
    out_spec: list | None = None  # the device's outputs (edgeq-info)
    expected: list[bytes] | None = None  # the reference's outputs per input


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

            emulator, sess.firmware = start_board(opts.board, opts.firmware, opts.model, opts.backend)
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
        from edgeq._fs import MAX_MODEL_BYTES, read_input_bytes

        data = read_input_bytes(opts.model, what=".tflite model", max_bytes=MAX_MODEL_BYTES, error=ModelError)
        sha = hashlib.sha256(data).hexdigest()
        sess.model = {"path": str(opts.model), "sha256": sha, "bytes": len(data)}
        if info is not None:
            dev_sha = str(info.get("sha256", ""))
            if not dev_sha or not sha.startswith(dev_sha.lower()):
                raise DeviceError(
                    f"the device runs another model ({info.get('model')!r}, sha256 {dev_sha[:16]}...), not "
                    f"{Path(opts.model).name} (sha256 {sha[:16]}...)", where=dev.link.name,
                    hint="flash firmware built from this model, or pass the model the firmware was built from")
    # input spec: the device's own description, else the model's
    if info is not None:
        in_spec = input_spec_from_info(info)
        out_bytes = sum(int(o["bytes"]) for o in info["outputs"]) if info.get("outputs") else None
    elif opts.model:
        from edgeq.reference import model_io

        ins, outs = model_io(opts.model)
        parts = [{"shape": list(t.shape), "dtype": t.dtype, "scale": t.scale, "zero_point": t.zero_point,
                  "bytes": t.nbytes} for t in ins]
        in_spec = {**parts[0], "bytes": sum(p["bytes"] for p in parts), "parts": parts}
        out_bytes = sum(t.nbytes for t in outs)
    else:
        raise EdgeqError("the device does not describe its input (no edgeq-info)",
                         hint="pass --model MODEL.tflite (the model the firmware runs)")
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


def _knows_info(dev: Device) -> bool:
    """Whether the device answers edgeq-info (MLPerf reference firmware does not)."""
    try:
        ans = dev.command(spec.CMD_INFO)
    except FrameError:
        dev.resync()
        return False
    return any(ln.startswith(spec.MSG_INFO) for ln in ans.lines)


# --------------------------------------------------------------------------------------------------------- report
def make_report(sess: Session, *, complete: bool, error: BaseException | None = None) -> dict[str, Any]:
    from edgeq import __version__

    opts, state, info = sess.opts, sess.state, sess.info or {}
    timer = info.get("timer") or {}
    per_tick = float(timer.get("per_tick", 1) or 1)
    clock_hz = info.get("clock_hz")
    if opts.protocol == "mlperf":
        values = [w["latency_us"] for w in state.windows]
        unit = "us"
        if timer.get("unit") == "instructions":  # QEMU -icount shift=0: a virtual microsecond is 1000 instructions
            values = [v * 1000 for v in values]
            unit = "instructions"
        runs = sum(w["iterations"] for w in state.windows)
    else:
        unit = timer.get("unit", "us")
        values = [s["ticks"] * per_tick for s in state.samples]
        runs = len(state.samples)
    unit = unit if unit in ("us", "cycles", "instructions") else "us"
    latency = summarize(values, unit)
    rep: dict[str, Any] = {
        "complete": complete,
        "error": None if error is None else _error_text(error),
        "edgeq_version": __version__,
        "protocol": opts.protocol,
        "port": sess.url,
        "board": opts.board or info.get("board"),
        "baud": opts.baud,
        "firmware": sess.firmware,
        "boot_banners": sess.device.boot_banners[-3:] if sess.device else [],
        "boot_banners_seen": len(sess.device.boot_banners) if sess.device else 0,
        "dut_name": sess.name,
        "device": info or None,
        "model": sess.model,
        "inputs": sess.inputs_desc,
        "runs": runs,
        "requested_runs": opts.runs,
        "warmup": opts.warmup,
        "latency": latency,
        "timer": {"unit": timer.get("unit", unit), "per_tick": per_tick, "clock_hz": clock_hz} if info else None,
        "throughput": throughput(latency.get("mean"), unit, clock_hz),
        "verify": bool(opts.verify and sess.reference_kind),
        "reference": sess.reference_kind,
        "verify_note": sess.verify_note,
        "verified": state.verified,
        "mismatches": state.mismatches,
        "mismatch_details": state.mismatch_details,
        "retries": state.retries,
        "resets": sess.device.resets if sess.device else state.resets,
        "retry_reasons": dict(state.reasons),
        "timing_crc": state.timing_crc,
        "upload": {"payload_bytes": state.upload_payload, "wire_bytes": state.upload_wire,
                   "efficiency": round(state.upload_payload / state.upload_wire, 4) if state.upload_wire else None},
        "elapsed_s": round(time.monotonic() - sess.started, 3),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(sess.wall_start)),
        "host": {"python": sys.version.split()[0], "platform": sys.platform, "machine": os.uname().machine},
    }
    us = [to_microseconds(v, unit, clock_hz) for v in values]
    if values and unit != "us" and all(u is not None for u in us):
        rep["latency_us"] = summarize(us, "us")
    if sess.labels is not None:
        rep["accuracy"] = accuracy_block(sess, state, info)
    if opts.protocol == "edgeq":
        rep["host_roundtrip_ms"] = summarize([s["roundtrip_ms"] for s in state.samples], "us") | {"unit": "ms"}
        rep["samples"] = [{**s, "latency": s["ticks"] * per_tick} for s in state.samples]
    else:
        rep["mlperf"] = (state.mlperf or {}) | {"windows": state.windows}
        if state.windows:
            import statistics

            med = statistics.median(w["throughput"] for w in state.windows)
            rep["mlperf"]["median_throughput"] = round(med, 3)
            rep["mlperf"]["latency_us"] = round(1e6 / med, 3) if med else None
    return rep


def load_labels(path: str, n_inputs: int) -> np.ndarray:
    """--labels: one integer class per input row (a .npy of shape (N,) or (N, 1))."""
    from edgeq._fs import MAX_DATA_BYTES, check_input_file

    check_input_file(path, what="labels file (.npy)", max_bytes=MAX_DATA_BYTES)
    try:
        y = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise EdgeqError(f"unreadable labels file: {str(exc).splitlines()[0]}", where=str(path),
                         hint="a .npy of integer class indices, one per --inputs row") from None
    y = np.asarray(y).reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else np.asarray(y)
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise EdgeqError(f"labels must be integer class indices of shape (N,), got {y.dtype} {list(y.shape)}",
                         where=str(path), hint="e.g. np.save('y.npy', y.astype('int64'))")
    if len(y) != n_inputs:
        raise EdgeqError(f"{len(y)} labels for {n_inputs} inputs", where=str(path),
                         hint="one label per row of --inputs")
    if len(y) and y.min() < 0:
        raise EdgeqError("labels must be class indices >= 0", where=str(path))
    return y.astype(np.int64)


def _predictions(outputs: dict[int, bytes] | list[bytes], spec: dict | None, n: int) -> list[int | None]:
    """argmax of output 0 per input (None for an input that never ran)."""
    dtype = np.dtype((spec or {}).get("dtype", "int8"))
    size = int((spec or {}).get("bytes", 0)) or None
    out = []
    for i in range(n):
        raw = outputs.get(i) if isinstance(outputs, dict) else outputs[i]
        if raw is None:
            out.append(None)
            continue
        a = np.frombuffer(raw[:size] if size else raw, dtype=dtype)
        out.append(int(np.argmax(a)))
    return out


def _scores(y: np.ndarray, pred: list[int | None], n_classes: int) -> dict:
    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    ran = [(int(t), p) for t, p in zip(y, pred) if p is not None]
    for t, p in ran:
        if t < n_classes and p < n_classes:
            m[t, p] += 1
    correct = sum(1 for t, p in ran if t == p)
    return {"samples": len(ran), "correct": correct,
            "accuracy": round(correct / len(ran), 6) if ran else None, "confusion_matrix": m.tolist()}


def accuracy_block(sess: "Session", state: BenchState, info: dict | None) -> dict:
    """On-device accuracy and confusion matrix from the first output of every labelled input, next to the host
    reference's (TFLM) on the same inputs when outputs were verified."""
    y = sess.labels
    spec = (sess.out_spec or [None])[0]
    dev_pred = _predictions(state.device_outputs, spec, len(y))
    n_out = int(np.prod(spec["shape"])) if spec and spec.get("shape") else 0
    n_classes = int(max(n_out, int(y.max()) + 1 if len(y) else 0, *(p + 1 for p in dev_pred if p is not None)))
    block: dict[str, Any] = {"classes": n_classes, "labels": len(y), "device": _scores(y, dev_pred, n_classes)}
    if sess.expected is not None:
        ref_pred = _predictions(sess.expected, spec, len(y))
        block["reference"] = {"engine": sess.reference_kind, **_scores(y, ref_pred, n_classes)}
        block["same_predictions"] = sum(1 for a, b in zip(dev_pred, ref_pred) if a is not None and a == b)
    if sess.labels_note:
        block["note"] = sess.labels_note
    return block


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, Terminated):
        return str(exc)  # "terminated by signal 15"
    if isinstance(exc, EdgeqError):
        return exc.one_line()
    return f"{type(exc).__name__}: {exc}"


def save_json(report: dict, path: str | os.PathLike) -> Path:
    from edgeq._fs import atomic_write_text
    from edgeq._fmt import to_json

    return atomic_write_text(path, to_json(report) + "\n")
