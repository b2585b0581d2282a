"""Hostile-model fuzzer: mutate real .tflite models, run ``edgeq inspect`` and ``edgeq compile`` on each, and build and
run every model that compiles with AddressSanitizer + UndefinedBehaviorSanitizer.

    python tests/fuzz_models.py --minutes 30          # or: ./run.sh fuzz --minutes 30
    python tests/fuzz_models.py --cases 40 --seed 1   # the fixed-seed budget CI runs (tests/test_hostile.py)

Mutations (hypothesis draws them, so a seed reproduces a run):

* structural, through the TFLite schema object API (``ModelT``): tensor shapes, dtypes, buffers, scales, zero points,
  per-channel axes; operator opcodes, input/output lists (out of range, -1, the op's own output, dropped, added,
  emptied), builtin option fields; the graph's inputs/outputs lists; then re-serialized with flatbuffers;
* byte-wise on the serialized file: bit flips, 32-bit words overwritten with edge values, truncation.

Per case, counted: ``inspect`` and ``compile`` run in-process through the CLI entry point (``edgeq.cli.main.main``);
anything but exit 0/1 or a one-line exit-2 error is a **traceback**; a step over its time limit is a **hang**; a model
that compiles but whose C does not build (``-Wall -Wextra -Werror`` + sanitizers) is **compiled-but-unbuildable**;
``model_host`` run on a few random inputs that prints a sanitizer report, dies on a signal or exceeds its timeout is a
**sanitizer finding** (or a hang). Every failing model is saved in the ``--save`` folder with the reason.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere: import this checkout's edgeq
    sys.path.insert(0, str(REPO))

SANITIZE = "-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g"
#: seed models: small, and between them every op family the compiler lowers
SEED_MODELS = (
    "tflite-micro/hello_world_int8.tflite",
    "tflite-micro/micro_speech_quantized.tflite",
    "mlperf-tiny/kws_ref_model.tflite",
    "mlperf-tiny/pretrainedResnet_quant.tflite",
    "mlperf-tiny/model_ToyCar_quant_fullint.tflite",
    "mlperf-tiny/ad01_int8.tflite",
)
STEP_TIMEOUT_S = 60  # inspect / compile, in-process
BUILD_TIMEOUT_S = 300
RUN_TIMEOUT_S = 20
RUN_INPUTS = 3
SANITIZER_MARKS = ("runtime error:", "AddressSanitizer", "UndefinedBehaviorSanitizer", "LeakSanitizer")


def shared_models_dir() -> Path:
    env = os.environ.get("EDGEQ_SHARED_MODELS")
    base = Path(env).parent if env else REPO.parent / "shared" / "models"
    return base


def schema():
    """The TFLite flatbuffer schema object API (LiteRT's copy; tflite-micro's or TensorFlow's otherwise)."""
    try:
        from ai_edge_litert import schema_py_generated as s
    except ImportError:
        try:
            from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as s
        except ImportError:
            from tensorflow.lite.python import schema_py_generated as s
    return s


@dataclass
class Stats:
    cases: int = 0
    structural: int = 0
    bytewise: int = 0
    inspect_ok: int = 0
    inspect_refused: int = 0
    compile_refused: int = 0
    compiled: int = 0
    built: int = 0
    ran: int = 0
    tracebacks: int = 0
    hangs: int = 0
    sanitizer: int = 0
    unbuildable: int = 0
    seconds: float = 0.0
    failures: list[dict] = field(default_factory=list)

    def bad(self) -> int:
        return self.tracebacks + self.hangs + self.sanitizer + self.unbuildable

    def table(self) -> str:
        rows = [("cases", self.cases), ("  structural mutations", self.structural),
                ("  byte-wise mutations", self.bytewise), ("inspect: report", self.inspect_ok),
                ("inspect: refused (one line, exit 2)", self.inspect_refused),
                ("compile: refused (one line, exit 2)", self.compile_refused), ("compiled", self.compiled),
                ("built with ASan+UBSan", self.built), ("ran on random inputs", self.ran),
                ("tracebacks", self.tracebacks), ("hangs", self.hangs), ("sanitizer findings", self.sanitizer),
                ("compiled but unbuildable", self.unbuildable), ("seconds", f"{self.seconds:.0f}")]
        width = max(len(r[0]) for r in rows)
        return "\n".join(f"| {k:<{width}} | {v:>7} |" for k, v in rows)

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["failures"] = list(self.failures)
        return d


class _Timeout(BaseException):
    """Raised by SIGALRM inside an in-process step (BaseException: no except Exception swallows it)."""


@contextlib.contextmanager
def _time_limit(seconds: int):
    def handler(signum, frame):
        raise _Timeout()

    old = signal.signal(signal.SIGALRM, handler)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def run_cli_inprocess(argv: list[str]) -> tuple[int | None, str, str]:
    """``edgeq ARGV`` in this process: (exit code or None on a hang, stderr, 'traceback' text or '')."""
    import traceback

    from edgeq.cli.main import main

    err = io.StringIO()
    out = io.StringIO()
    try:
        with _time_limit(STEP_TIMEOUT_S), contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code = main(argv)
    except _Timeout:
        return None, err.getvalue(), ""
    except SystemExit as exc:  # argparse
        return int(exc.code or 0), err.getvalue(), ""
    except BaseException:  # noqa: BLE001 - anything escaping main() is a traceback the user would see
        return 3, err.getvalue(), traceback.format_exc()
    return code, err.getvalue(), ""


# ---- mutations -----------------------------------------------------------------------------------------------------

EDGE_INTS = (0, 1, -1, 2, 3, 7, 8, 127, 128, -128, -129, 255, 256, 65535, 1 << 20, (1 << 31) - 1, -(1 << 31),
             1 << 40, -(1 << 40))
EDGE_DIMS = (0, -1, 1, 2, 3, 5, 16, 1000, 1 << 20, (1 << 31) - 1)
EDGE_SCALES = (0.0, -1.0, float("nan"), float("inf"), 3e38, 1e-45, 1e-38, 1e-30, 1e-12, 1e-6, 1.0 / 256, 0.5, 2.0,
               100.0, 1e10, 1e30)


#: structural mutation kinds, repeated by weight (the ones behind real crashes drawn more often)
MUTATIONS = (("scale",) * 4 + ("zero_point",) * 2 + ("shape",) * 3 + ("op_io",) * 3 + ("self_loop",) * 2
             + ("graph_io",) * 2 + ("const_value",) * 2 + ("dtype", "buffer", "axis", "scales_count", "op_code",
                                                           "options", "options", "cycle"))


def _pick(data, st, seq):
    return data.draw(st.sampled_from(seq))


def mutate_structure(data, st, model) -> str:
    """Apply one structural mutation to ``model`` (a ModelT) in place; returns its description."""
    sg = model.subgraphs[0]
    tensors = sg.tensors or []
    ops = sg.operators or []
    n_t = len(tensors)
    kind = data.draw(st.sampled_from(MUTATIONS))
    if kind in ("shape", "dtype", "buffer", "scale", "zero_point", "axis", "scales_count", "const_value") and n_t:
        ti = data.draw(st.integers(0, n_t - 1))
        t = tensors[ti]
        if kind == "shape":
            shape = list(t.shape if t.shape is not None else [])
            action = data.draw(st.sampled_from(("set", "drop", "add")))
            if action == "set" and shape:
                k = data.draw(st.integers(0, len(shape) - 1))
                shape[k] = _pick(data, st, EDGE_DIMS + (shape[k] + 1, max(shape[k] - 1, 0), shape[k] * 2))
            elif action == "drop" and shape:
                shape.pop(data.draw(st.integers(0, len(shape) - 1)))
            else:
                shape.insert(data.draw(st.integers(0, len(shape))), _pick(data, st, EDGE_DIMS))
            t.shape = shape
            return f"tensor {ti} shape -> {shape}"
        if kind == "dtype":
            t.type = data.draw(st.integers(0, 22))
            return f"tensor {ti} type -> {t.type}"
        if kind == "const_value":
            buf = (model.buffers or [])[t.buffer] if 0 < t.buffer < len(model.buffers or []) else None
            raw = getattr(buf, "data", None)
            if raw is None or len(raw) < 4:
                return f"tensor {ti} has no constant data (no-op)"
            raw = bytearray(bytes(raw))
            k = data.draw(st.integers(0, len(raw) // 4 - 1)) * 4
            v = _pick(data, st, EDGE_INTS)
            raw[k:k + 4] = struct.pack("<i", max(-(1 << 31), min(v, (1 << 31) - 1)))
            import numpy as np

            buf.data = np.frombuffer(bytes(raw), dtype=np.uint8)
            return f"tensor {ti} constant bytes {k}..{k + 3} -> {v}"
        if kind == "buffer":
            n_b = len(model.buffers or [])
            t.buffer = data.draw(st.sampled_from((0, n_b, n_b + 5, data.draw(st.integers(0, max(n_b - 1, 0))))))
            return f"tensor {ti} buffer -> {t.buffer}"
        q = t.quantization or schema().QuantizationParametersT()
        t.quantization = q
        scales = list(q.scale if q.scale is not None else [1.0])
        zps = list(q.zeroPoint if q.zeroPoint is not None else [0] * len(scales))
        if kind == "scale":
            k = data.draw(st.integers(0, len(scales) - 1))
            scales[k] = _pick(data, st, EDGE_SCALES + (scales[k] * 1e20, scales[k] * 1e-20))
            q.scale = scales
            q.zeroPoint = zps
            return f"tensor {ti} scale[{k}] -> {scales[k]!r}"
        if kind == "zero_point":
            k = data.draw(st.integers(0, max(len(zps) - 1, 0)))
            if not zps:
                zps = [0]
            zps[k] = _pick(data, st, EDGE_INTS)
            q.scale = scales
            q.zeroPoint = zps
            return f"tensor {ti} zero_point[{k}] -> {zps[k]}"
        if kind == "axis":
            q.quantizedDimension = _pick(data, st, (-1, 0, 1, 2, 3, 4, 100))
            q.scale = scales
            q.zeroPoint = zps
            return f"tensor {ti} quantized_dimension -> {q.quantizedDimension}"
        # scales_count
        n = _pick(data, st, (0, 1, 2, len(scales) + 1, max(len(scales) - 1, 0)))
        q.scale = (scales * (n + 1))[:n] if scales else [0.5] * n
        q.zeroPoint = (zps * (n + 1))[:n] if zps else [0] * n
        return f"tensor {ti} {n} scales / zero points"
    if kind in ("op_io", "op_code", "options", "self_loop", "cycle") and ops:
        oi = data.draw(st.integers(0, len(ops) - 1))
        op = ops[oi]
        ins = list(op.inputs if op.inputs is not None else [])
        outs = list(op.outputs if op.outputs is not None else [])
        if kind == "op_io":
            which = data.draw(st.sampled_from(("inputs", "outputs")))
            lst = ins if which == "inputs" else outs
            action = data.draw(st.sampled_from(("set", "drop", "add", "clear")))
            value = _pick(data, st, (-1, -2, n_t, n_t + 100, 1 << 30, data.draw(st.integers(0, max(n_t - 1, 0)))))
            if action == "set" and lst:
                lst[data.draw(st.integers(0, len(lst) - 1))] = value
            elif action == "drop" and lst:
                lst.pop(data.draw(st.integers(0, len(lst) - 1)))
            elif action == "clear":
                lst.clear()
            else:
                lst.append(value)
            op.inputs, op.outputs = ins, outs
            return f"operator {oi} {which} {action} -> {lst}"
        if kind == "op_code":
            n_c = len(model.operatorCodes or [])
            op.opcodeIndex = _pick(data, st, (n_c, n_c + 3, data.draw(st.integers(0, max(n_c - 1, 0)))))
            return f"operator {oi} opcode_index -> {op.opcodeIndex}"
        if kind == "self_loop" and ins and outs:
            op.outputs = [ins[0]] + outs[1:]
            return f"operator {oi} writes its own input {ins[0]}"
        if kind == "cycle" and ins and outs and oi + 1 < len(ops) and ops[-1].outputs is not None:
            later = list(ops[-1].outputs)
            if later:
                ins[0] = later[0]
                op.inputs = ins
                return f"operator {oi} reads the output {later[0]} of the last operator"
        opts = op.builtinOptions
        fields = [k for k, v in (opts.__dict__.items() if opts is not None else []) if isinstance(v, (int, bool))]
        if fields:
            f = data.draw(st.sampled_from(sorted(fields)))
            setattr(opts, f, _pick(data, st, (0, 1, 2, 3, 4, 5, 6, 100, -1, -(1 << 31), (1 << 31) - 1)))
            return f"operator {oi} option {f} -> {getattr(opts, f)}"
        return "no-op (operator without options)"
    # graph_io (also the fallback for models without tensors/ops)
    which = data.draw(st.sampled_from(("inputs", "outputs")))
    lst = list(getattr(sg, which) if getattr(sg, which) is not None else [])
    action = data.draw(st.sampled_from(("clear", "set", "add")))
    if action == "clear":
        lst = []
    elif action == "set" and lst:
        lst[0] = _pick(data, st, (-1, n_t, data.draw(st.integers(0, max(n_t - 1, 0)))))
    else:
        lst.append(data.draw(st.integers(0, max(n_t - 1, 0))))
    setattr(sg, which, lst)
    return f"subgraph {which} -> {lst}"


def serialize(model) -> bytes:
    import flatbuffers

    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def mutate_bytes(data, st, blob: bytes) -> tuple[bytes, str]:
    buf = bytearray(blob)
    kind = data.draw(st.sampled_from(("flip", "word", "truncate")))
    if kind == "truncate":
        n = data.draw(st.integers(0, len(buf)))
        return bytes(buf[:n]), f"truncated to {n} bytes"
    if kind == "flip":
        descr = []
        for _ in range(data.draw(st.integers(1, 8))):
            pos = data.draw(st.integers(0, len(buf) - 1))
            bit = data.draw(st.integers(0, 7))
            buf[pos] ^= 1 << bit
            descr.append(f"{pos}:{bit}")
        return bytes(buf), "bit flips " + ",".join(descr)
    pos = data.draw(st.integers(0, max(len(buf) - 4, 0)))
    word = _pick(data, st, (0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, len(buf), len(buf) - 4, 0x10000))
    buf[pos:pos + 4] = struct.pack("<I", word)[: len(buf) - pos]
    return bytes(buf), f"u32 {word:#x} at {pos}"


# ---- one case ------------------------------------------------------------------------------------------------------


def _fail(stats: Stats, save: Path | None, kind: str, blob: bytes, what: str, detail: str) -> None:
    entry = {"kind": kind, "mutation": what, "detail": detail[-2000:]}
    if save is not None:
        save.mkdir(parents=True, exist_ok=True)
        name = f"{kind}-{len(stats.failures):04d}.tflite"
        (save / name).write_bytes(blob)
        entry["model"] = str(save / name)
    stats.failures.append(entry)


def _one_line_error(code: int | None, err: str) -> bool:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    return code == 2 and len(lines) == 1 and "Traceback" not in err


def run_case(blob: bytes, what: str, stats: Stats, work: Path, save: Path | None) -> None:
    """inspect + compile ``blob``; build and run it sanitized if it compiles. Updates ``stats``."""
    import numpy as np

    stats.cases += 1
    case = work / f"case{stats.cases}"
    shutil.rmtree(case, ignore_errors=True)
    case.mkdir(parents=True)
    model = case / "model.tflite"
    model.write_bytes(blob)

    code, err, tb = run_cli_inprocess(["inspect", str(model), "--json"])
    if code is None:
        stats.hangs += 1
        return _fail(stats, save, "hang-inspect", blob, what, err)
    if tb or code not in (0, 1, 2) or (code == 2 and not _one_line_error(code, err)):
        stats.tracebacks += 1
        return _fail(stats, save, "traceback-inspect", blob, what, tb or err)
    if code == 2:
        stats.inspect_refused += 1
    else:
        stats.inspect_ok += 1

    out = case / "c"
    code, err, tb = run_cli_inprocess(["compile", str(model), "--target", "host", "-o", str(out)])
    if code is None:
        stats.hangs += 1
        return _fail(stats, save, "hang-compile", blob, what, err)
    if tb or code not in (0, 2) or (code == 2 and not _one_line_error(code, err)):
        stats.tracebacks += 1
        return _fail(stats, save, "traceback-compile", blob, what, tb or err)
    if code == 2:
        stats.compile_refused += 1
        return None
    stats.compiled += 1

    make = subprocess.run(["make", "-s", "-C", str(out), f"EXTRA_CFLAGS={SANITIZE}"], capture_output=True,
                          text=True, timeout=BUILD_TIMEOUT_S)
    if make.returncode != 0:
        stats.unbuildable += 1
        return _fail(stats, save, "unbuildable", blob, what, make.stderr or make.stdout)
    stats.built += 1

    from edgeq.tflite import read_model

    graph = read_model(model)
    rng = np.random.default_rng(stats.cases)
    chunks = []
    for _ in range(RUN_INPUTS):
        for t in graph.input_tensors():
            n = t.nbytes
            chunks.append(rng.integers(0, 256, size=n, dtype=np.uint8).tobytes() if t.dtype != "float32"
                          else rng.standard_normal(t.num_elements).astype(np.float32).tobytes())
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    try:
        proc = subprocess.run([str(out / "model_host")], input=b"".join(chunks), capture_output=True,
                              timeout=RUN_TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired:
        stats.hangs += 1
        return _fail(stats, save, "hang-run", blob, what, f"model_host ran over {RUN_TIMEOUT_S} s")
    stderr = proc.stderr.decode(errors="replace")
    expected = sum(t.nbytes for t in graph.output_tensors()) * RUN_INPUTS
    if proc.returncode != 0 or any(m in stderr for m in SANITIZER_MARKS) or len(proc.stdout) != expected:
        stats.sanitizer += 1
        return _fail(stats, save, "sanitizer", blob, what,
                     f"exit {proc.returncode}, {len(proc.stdout)} of {expected} output bytes\n{stderr}")
    stats.ran += 1
    shutil.rmtree(case, ignore_errors=True)
    return None


# ---- driver --------------------------------------------------------------------------------------------------------


def fuzz(*, seed: int = 0, cases: int | None = None, minutes: float | None = None, save: Path | None = None,
         models: tuple[str, ...] = SEED_MODELS, batch: int = 10, log=None) -> Stats:
    """Run the fuzzer until ``cases`` cases or ``minutes`` minutes (whichever is given; both: the first reached)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hyp_seed
    from hypothesis import strategies as st

    s = schema()
    base = shared_models_dir()
    seeds = []
    for rel in models:
        p = base / rel
        if p.is_file():
            seeds.append((rel, p.read_bytes()))
    if not seeds:
        raise SystemExit(f"no seed models found under {base} (set EDGEQ_SHARED_MODELS)")
    parsed = {rel: blob for rel, blob in seeds}
    stats = Stats()
    start = time.monotonic()
    deadline = start + minutes * 60 if minutes else math.inf
    limit = cases if cases is not None else (math.inf if minutes else 50)
    work = Path(tempfile.mkdtemp(prefix="edgeq-fuzz-"))

    def done() -> bool:
        return stats.cases >= limit or time.monotonic() >= deadline

    def one(data):
        rel = data.draw(st.sampled_from(sorted(parsed)))
        blob = parsed[rel]
        bytewise = data.draw(st.integers(0, 3)) == 0
        if bytewise:
            blob, what = mutate_bytes(data, st, blob)
        else:
            model = s.ModelT.InitFromPackedBuf(blob, 0)
            whats = [mutate_structure(data, st, model) for _ in range(data.draw(st.integers(1, 3)))]
            try:
                blob = serialize(model)
            except Exception as exc:  # noqa: BLE001 - flatbuffers refuses some values (e.g. out of int32): not ours
                blob, whats = parsed[rel], whats + [f"(unserializable: {exc.__class__.__name__}, seed model kept)"]
            what = "; ".join(whats)
        what = f"{rel}: {what}"
        before = stats.bad()
        run_case(blob, what, stats, work, save)
        if bytewise:
            stats.bytewise += 1
        else:
            stats.structural += 1
        if log is not None and stats.bad() > before:
            print(f"  case {stats.cases}: {stats.failures[-1]['kind']}: {what}", file=log, flush=True)

    try:
        k = 0
        while not done():
            # batches of hypothesis examples, each with its own derived seed; the time limit is checked between
            # batches (the last batch is cut to the cases left, so --cases N runs exactly N cases)
            n = int(min(batch, limit - stats.cases))
            run = settings(max_examples=n, deadline=None, database=None, phases=[Phase.generate],
                           suppress_health_check=list(HealthCheck), print_blob=False)(given(st.data())(one))
            hyp_seed(seed * 100003 + k)(run)()
            k += 1
            if log is not None:
                print(f"  ... {stats.cases} cases, {stats.bad()} problems, {time.monotonic() - start:.0f} s",
                      file=log, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    stats.seconds = time.monotonic() - start
    return stats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=None, help="run this long (default: 5 unless --cases)")
    ap.add_argument("--cases", type=int, default=None, help="stop after this many cases")
    ap.add_argument("--seed", type=int, default=0, help="hypothesis seed (default 0)")
    ap.add_argument("--save", default="fuzz-failures", help="folder for failing models (default fuzz-failures)")
    ap.add_argument("--json", default=None, metavar="OUT.json", help="also write the figures as JSON")
    args = ap.parse_args(argv)
    if args.minutes is None and args.cases is None:
        args.minutes = 5.0
    os.environ.setdefault("EDGEQ_FUZZ", "1")
    stats = fuzz(seed=args.seed, cases=args.cases, minutes=args.minutes, save=Path(args.save), log=sys.stderr)
    print(f"edgeq fuzz: seed {args.seed}, " + (f"{args.minutes:g} minutes" if args.minutes else f"{args.cases} cases"))
    print(stats.table())
    for f in stats.failures[:20]:
        print(f"- {f['kind']}: {f['mutation']} ({f.get('model', '')})\n    {f['detail'].strip().splitlines()[-1:]}")
    if args.json:
        Path(args.json).write_text(json.dumps(stats.to_dict(), indent=2) + "\n")
    return 1 if stats.bad() else 0


if __name__ == "__main__":
    sys.exit(main())
