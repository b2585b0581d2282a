"""``edgeq demo``: the whole chain in one command, on the emulated board by default.

    digits data -> float CNN (Keras) -> PTQ int8 and QAT int8 -> float/PTQ/QAT table
    -> Arduino sketch + Cortex-M firmware (edgeq export) -> firmware running on qemu-m4 (or a real board)
    -> serial benchmark with every output verified bit-exact -> report (Markdown + PNG) in the output folder

Each step is a call of edgeq's public API, in the order a user would run the commands; the report says which
command does the same by hand.

Honest about what ran: the options (board, Arduino board, counts, output folder) and TensorFlow are checked before
any training; every external tool a step needs is looked up once, up front. A step is

* ``ok`` when it ran and did what it says;
* ``skipped`` only when a tool it needs is really absent (the step names the tool and the apt command);
* ``failed`` when it ran with its tools present and did not succeed (an error, a failed build, an output that
  differs from the reference);
* ``not run`` when it needs what an earlier failed step should have made.

The demo goes on with every step that can still run, and the command exits 1 when any step failed. REPORT.md
starts with what ran and what did not.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgeq.errors import EdgeqError, ToolchainError

MARKER = ".edgeq-demo"  # marks a folder a previous demo wrote, so a re-run may replace it


@dataclass
class DemoOptions:
    out: Path = Path("edgeq-demo")
    board: str = "qemu-m4"  # where the firmware runs (an emulated board unless --port)
    port: str | None = None  # a real board's serial port: bench it there instead of the emulator
    arduino_board: str = "uno"  # the Arduino sketch's board
    epochs: int = 15  # float training
    qat_epochs: int = 5
    runs: int = 50  # timed inferences on the device
    force: bool = False
    progress: bool = True
    seed: int = 0


@dataclass
class Step:
    name: str
    seconds: float = 0.0
    status: str = "ok"  # ok | skipped | failed | not run
    note: str = ""


@dataclass
class DemoReport:
    out: Path
    steps: list[Step] = field(default_factory=list)
    models: dict[str, Any] = field(default_factory=dict)
    quantization: list[dict] = field(default_factory=list)
    exports: dict[str, Any] = field(default_factory=dict)
    bench: dict[str, Any] | None = None
    files: dict[str, str] = field(default_factory=dict)
    tools: dict[str, str | None] = field(default_factory=dict)  #: tool -> path, None when absent

    @property
    def failed(self) -> list[Step]:
        return [s for s in self.steps if s.status in ("failed", "not run")]

    @property
    def ok(self) -> bool:
        """No step failed (skipped steps, for a missing tool, do not count as failures)."""
        return not self.failed

    def to_dict(self) -> dict:
        return {
            "output": str(self.out),
            "ok": self.ok,
            "tools": self.tools,
            "steps": [s.__dict__ for s in self.steps],
            "models": self.models,
            "quantization": self.quantization,
            "exports": self.exports,
            "bench": _bench_summary(self.bench),
            "files": self.files,
        }


def _bench_summary(rep: dict | None) -> dict | None:
    if rep is None:
        return None
    keys = ("latency", "runs", "verified", "mismatches", "retries", "throughput", "host_round_trip")
    out = {k: rep[k] for k in keys if k in rep}
    dev = rep.get("device") or {}
    out["device"] = {k: dev.get(k) for k in ("model", "sha256", "backend", "board", "core", "arena_bytes")
                     if k in dev}
    return out


class Skip(Exception):
    """A step cannot run because a tool is really absent (``tool`` and the apt command that installs it)."""

    def __init__(self, note: str):
        super().__init__(note)
        self.note = note


class NotRun(Exception):
    """A step cannot run because an earlier step failed to make what it needs."""


class _Steps:
    """Runs the numbered steps, timing each and printing progress to stderr. A step function raises :class:`Skip`
    (tool absent), :class:`NotRun` (an earlier failure), or anything else (the step failed); it may also set
    ``step.status`` itself (e.g. "skipped" when it did part of its work without an absent tool)."""

    def __init__(self, report: DemoReport, total: int, progress: bool):
        self.report, self.total, self.progress, self.i = report, total, progress, 0

    def say(self, text: str) -> None:
        if self.progress:
            print(text, file=sys.stderr, flush=True)

    def run(self, name: str, fn: Callable[[Step], Any]) -> Any:
        self.i += 1
        step = Step(name)
        self.say(f"[{self.i}/{self.total}] {name} ...")
        t0 = time.perf_counter()
        try:
            return fn(step)
        except Skip as exc:
            step.status, step.note = "skipped", exc.note
            return None
        except NotRun as exc:
            step.status, step.note = "not run", str(exc)
            return None
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001 - the step failed with its tools present: record it, go on
            step.status = "failed"
            step.note = exc.one_line() if isinstance(exc, EdgeqError) else f"{type(exc).__name__}: {exc}"
            step.note = " ".join(step.note.split())[:600]
            return None
        finally:
            step.seconds = round(time.perf_counter() - t0, 1)
            self.report.steps.append(step)
            if step.status == "ok":
                self.say(f"      done in {step.seconds:.1f} s{': ' + step.note if step.note else ''}")
            else:
                self.say(f"      {step.status.upper()}: {step.note}")


# ---- tools, checked once before anything runs ----------------------------------------------------------------------
def _build_tools(board) -> list[tuple[str, str]]:
    """(tool, apt command) that building firmware for ``board`` needs."""
    from edgeq.targets.build import APT_ARM, APT_AVR, APT_CC, APT_MAKE

    return {"make": [("arm-none-eabi-gcc", APT_ARM), ("make", APT_MAKE)],
            "arduino-builder": [("arduino-builder", APT_AVR), ("avr-gcc", APT_AVR)],
            "check-qemu": [("arm-none-eabi-gcc", APT_ARM)],
            "check-host": [("cc", APT_CC)]}.get(board.build, [])


def _run_tools(board) -> list[tuple[str, str]]:
    """(tool, apt command) that running ``board``'s firmware in an emulator needs."""
    from edgeq.targets.build import APT_ARM, APT_AVR

    return {"qemu": [("qemu-system-arm", APT_ARM)], "simavr": [("simavr", APT_AVR)]}.get(board.run, [])


def _absent(tools: list[tuple[str, str]], found: dict[str, str | None]) -> str | None:
    """One sentence naming the absent tools and the apt command, or None when all are there."""
    missing = [(t, apt) for t, apt in tools if not found.get(t)]
    if not missing:
        return None
    names = ", ".join(t for t, _ in missing)
    apts = "; ".join(dict.fromkeys(apt for _, apt in missing))
    return f"{names} not found (install: {apts})"


def validate_options(opts: DemoOptions) -> None:
    """Everything that can be checked before training: raises EdgeqError (exit 2) on a bad option."""
    import importlib.util

    from edgeq.targets.boards import boards, get_board

    for name in ("epochs", "qat_epochs", "runs"):
        if int(getattr(opts, name)) < 1:
            raise EdgeqError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(opts, name)}")
    def board_of(name: str, flag: str):
        try:
            return get_board(name)
        except EdgeqError as exc:
            raise EdgeqError(exc.message, where=flag, hint=exc.hint) from None

    board = board_of(opts.board, "--board")
    if not opts.port and board.run not in ("qemu", "simavr"):
        emulated = ", ".join(n for n, b in boards().items() if b.run in ("qemu", "simavr"))
        raise EdgeqError(f"board {board.name} is not emulated, so the demo cannot run it by itself", where="--board",
                         hint=f"give --port PORT of the real board (flash the firmware the demo exports), or use an "
                              f"emulated board: {emulated}")
    sketch = board_of(opts.arduino_board, "--arduino-board")
    if sketch.project != "arduino":
        arduino = ", ".join(n for n, b in boards().items() if b.project == "arduino")
        raise EdgeqError(f"board {sketch.name} does not take an Arduino sketch", where="--arduino-board",
                         hint=f"use one of {arduino}")
    if importlib.util.find_spec("tensorflow") is None:
        raise ToolchainError("edgeq demo trains a Keras model and needs TensorFlow", hint='pip install "edgeq[convert]"')
    if importlib.util.find_spec("sklearn") is None:
        raise ToolchainError("edgeq demo needs scikit-learn for the digits data", hint="pip install scikit-learn")


def find_tools(opts: DemoOptions) -> dict[str, str | None]:
    """Every external tool the demo's steps may use -> its path (None when absent)."""
    from edgeq.targets.boards import get_board

    names = [t for t, _ in _build_tools(get_board(opts.arduino_board)) + _build_tools(get_board(opts.board))]
    if not opts.port:
        names += [t for t, _ in _run_tools(get_board(opts.board))]
    return {t: shutil.which(t) for t in dict.fromkeys(names)}


def _prepare_out(out: Path, force: bool) -> None:
    if out.exists():
        if not out.is_dir():
            raise EdgeqError("output path exists and is not a folder", where=str(out))
        if any(out.iterdir()) and not (out / MARKER).exists() and not force:
            raise EdgeqError("output folder exists and was not written by edgeq demo", where=str(out),
                             hint="choose another -o or pass --force")


def run_demo(opts: DemoOptions) -> DemoReport:
    """Run the demo into ``opts.out`` (written to a temporary folder first, then moved into place)."""
    from edgeq._fs import atomic_dir

    out = Path(opts.out)
    validate_options(opts)
    _prepare_out(out, opts.force)
    final = out.resolve()
    with atomic_dir(out, force=True) as tmp:
        (tmp / MARKER).write_text("written by edgeq demo; a re-run replaces this folder\n")
        report = _run(opts, tmp)
        # the folder is built under a temporary name: make every recorded path name its final place (tools record
        # it absolute, edgeq relative when -o was relative: the absolute form first)
        def final_paths(text: str) -> str:
            text = text.replace(str(tmp.resolve()), str(final))
            return text if tmp.is_absolute() else text.replace(str(tmp), str(final))

        moved = json.loads(final_paths(json.dumps(report.to_dict(), default=str)))
        for f in tmp.rglob("*"):
            if f.suffix in (".json", ".md") and f.is_file():
                f.write_text(final_paths(f.read_text()))
    report.out = final
    report.files = moved["files"]
    report.exports = moved["exports"]
    report.models = moved["models"]
    return report


def _run(opts: DemoOptions, out: Path) -> DemoReport:
    """Run every step into ``out``; a step that fails or cannot run is recorded, and the steps after it that need its
    result are recorded as not run."""
    return _DemoRun(opts, out).run()


class _DemoRun:
    """One demo run: the steps, in order, as methods; what one step makes for the next is kept in ``state``."""

    #: state key -> the step that makes it (named when a later step cannot run without it)
    MADE_BY = {"digits": "load the digits data", "float_model": "train", "qat_path": "quantization-aware training",
               "qat_tflite": "quantization-aware training", "firmware": "export and build firmware"}

    def __init__(self, opts: DemoOptions, out: Path):
        from edgeq.targets.boards import get_board

        self.opts, self.out = opts, out
        self.report = DemoReport(out)
        self.report.tools = find_tools(opts)
        self.board, self.sketch_board = get_board(opts.board), get_board(opts.arduino_board)
        self.steps = _Steps(self.report, total=8 if not opts.port else 7, progress=opts.progress)
        self.models = out / "models"
        self.state: dict[str, Any] = {}

    def run(self) -> DemoReport:
        opts, out, report, steps = self.opts, self.out, self.report, self.steps
        present = [t for t, p in report.tools.items() if p]
        absent = [t for t, p in report.tools.items() if not p]
        steps.say(f"tools: {', '.join(present) or 'none'} found" + (f"; absent: {', '.join(absent)}" if absent else ""))
        self.models.mkdir()
        steps.run("load the digits data", self.data)
        steps.run(f"train a small float CNN ({opts.epochs} epochs)", self.train)
        steps.run("post-training quantization to int8 (edgeq quantize)", self.ptq)
        steps.run(f"quantization-aware training ({opts.qat_epochs} epochs, edgeq qat)", self.qat)
        steps.run("compare float / PTQ / QAT (size, accuracy, per-layer SQNR)", self.compare)
        steps.run(f"export an Arduino sketch for {opts.arduino_board} (edgeq export --build)", self.export_sketch)
        if not opts.port:
            steps.run(f"export and build firmware for {opts.board} (edgeq export --build)", self.export_firmware)
        target = opts.port or f"{opts.board} (emulated)"
        steps.run(f"benchmark on {target} over serial, verifying every output (edgeq bench)", self.bench)

        (out / "REPORT.md").write_text(markdown(report, opts))
        (out / "demo.json").write_text(json.dumps(report.to_dict(), indent=2, default=str))
        report.files["report"] = str(out / "REPORT.md")
        return report

    def need(self, *keys: str) -> None:
        for key in keys:
            if key not in self.state:
                raise NotRun(f"needs the {key.replace('_', ' ')} from the step '{self.MADE_BY.get(key, '?')}', "
                             f"which did not succeed")

    def data(self, step: Step):
        from edgeq.convert.digits import load_digits_split

        self.state["digits"] = d = load_digits_split(seed=self.opts.seed)
        np.save(self.models / "test_x.npy", d.x_test)
        np.save(self.models / "test_y.npy", d.y_test)
        step.note = f"sklearn digits: {len(d.x_train)} train / {len(d.x_test)} test, 8x8x1"

    def train(self, step: Step):
        from edgeq.convert._tf import import_keras
        from edgeq.convert.digits import train_digits_cnn

        self.need("digits")
        path = self.models / "digits_float.keras"
        opts = self.opts
        acc = train_digits_cnn(path, "small", epochs=opts.epochs, seed=opts.seed, data=self.state["digits"])
        self.state["float_model"] = import_keras().models.load_model(path)
        self.state["float_path"] = path
        self.report.models["float"] = {"path": str(path), "accuracy": acc}
        step.note = f"test accuracy {acc:.4f}"

    def ptq(self, step: Step):
        from edgeq.api import quantize

        self.need("float_model")
        path = self.models / "digits_ptq_int8.tflite"
        res = quantize(self.state["float_path"], "int8", data=self.state["digits"].x_train, calibration="minmax",
                       per_tensor_dense=True, output=path)
        self.report.models["ptq_int8"] = {"path": str(path), "bytes": res.size_after, "kind": res.kind}
        step.note = f"{res.size_after:,} B, {res.kind}"

    def qat(self, step: Step):
        from edgeq.qat import run_qat

        self.need("float_model")
        d = self.state["digits"]

        def on_epoch(epoch: int, total: int, row: dict) -> None:
            self.steps.say(f"      QAT epoch {epoch}/{total}: loss {row.get('loss', float('nan')):.4f} "
                           f"accuracy {row.get('accuracy', float('nan')):.4f}")

        res = run_qat(self.state["float_model"], d.x_train, d.y_train, x_val=d.x_test, y_val=d.y_test,
                      epochs=self.opts.qat_epochs, seed=self.opts.seed, on_epoch=on_epoch,
                      source="digits_float.keras")
        path = self.models / "digits_qat_int8.tflite"
        res.save(path)
        self.state["qat_tflite"], self.state["qat_path"] = res.tflite, path
        self.report.models["qat_int8"] = {"path": str(path), "bytes": res.int8_bytes, "kind": res.kind,
                                          "accuracy": res.int8_accuracy, "engine": res.int8_engine}
        step.note = f"int8 test accuracy {res.int8_accuracy:.4f} ({res.int8_bytes:,} B)"

    def compare(self, step: Step):
        from edgeq.qat.report import compare as compare_models
        from edgeq.qat.report import write_report

        self.need("float_model", "qat_tflite")
        d = self.state["digits"]
        cmp = compare_models(self.state["float_model"], self.state["qat_tflite"], d.x_test, d.y_test,
                             calibration_data=d.x_train, name="digits CNN")
        write_report([cmp], self.out / "quantization.md", self.out / "quantization.png")
        self.report.quantization = cmp.rows()
        self.report.files["quantization_report"] = str(self.out / "quantization.md")
        self.report.files["quantization_plot"] = str(self.out / "quantization.png")
        step.note = "; ".join(f"{r['variant']} {r['bytes']:,} B acc {r['accuracy']:.4f}" for r in cmp.rows())

    def export_sketch(self, step: Step):
        from edgeq.api import export

        self.need("qat_path")
        missing = _absent(_build_tools(self.sketch_board), self.report.tools)
        res = export(self.state["qat_path"], self.opts.arduino_board, self.out / "arduino", build=missing is None,
                     force=True, name="DigitsDemo")
        self.report.exports["arduino"] = res.to_dict()
        sketch = Path(res.sketch).relative_to(self.out) if res.sketch else "sketch"
        step.note = f"{sketch} ({res.board.name}; {res.fit.summary()})"
        if missing:
            step.status = "skipped"
            step.note += f"; sources written, not built: {missing}"
        elif res.build is not None and res.build.flash_bytes:
            step.note += f"; built: flash {res.build.flash_bytes:,} B, RAM {res.build.ram_bytes:,} B"

    def export_firmware(self, step: Step):
        from edgeq.api import export

        self.need("qat_path")
        missing = _absent(_build_tools(self.board), self.report.tools)
        res = export(self.state["qat_path"], self.opts.board, self.out / "firmware", build=missing is None,
                     force=True, name="digits_qat")
        self.report.exports["firmware"] = res.to_dict()
        if missing:
            step.status = "skipped"
            step.note = f"sources written to firmware/, not built: {missing}"
            self.state["firmware_skipped"] = missing
            return
        b = res.build
        if b is None or not b.firmware:
            raise EdgeqError("the build finished without a firmware image", where=str(self.out / "firmware"),
                             hint=(b.note if b is not None and b.note else None))
        self.state["firmware"] = self.out / "firmware"
        step.note = (f"{self.board.name}: built {Path(b.firmware).name}: flash {b.flash_bytes:,} B, "
                     f"RAM {b.ram_bytes:,} B")

    def bench(self, step: Step):
        from edgeq.bench import device
        from edgeq.bench.report import write_plot

        self.need("qat_path")
        if not self.opts.port:
            if "firmware_skipped" in self.state:
                raise Skip(f"no firmware to run: {self.state['firmware_skipped']}")
            missing = _absent(_run_tools(self.board), self.report.tools)
            if missing:
                raise Skip(missing)
            self.need("firmware")
        opts, d = self.opts, self.state["digits"]
        inputs = self.models / "bench_inputs.npy"
        np.save(inputs, d.x_test[: opts.runs])
        res = device(self.state["qat_path"], port=opts.port, board=None if opts.port else opts.board,
                     firmware=None if opts.port else self.state["firmware"], inputs=inputs, runs=opts.runs,
                     verify=True, output=self.out / "bench.json", progress=opts.progress and sys.stderr.isatty())
        rep = res.report
        write_plot(rep, self.out / "bench.png")
        self.report.bench = rep
        self.report.files["bench_json"] = str(self.out / "bench.json")
        self.report.files["bench_plot"] = str(self.out / "bench.png")
        step.note = (f"{res.verified}/{res.runs} outputs bit-exact with the reference; p50 "
                     f"{res.p50:,.0f} {res.unit}, p99 {res.p99:,.0f} {res.unit}")
        if not res.all_verified:
            raise EdgeqError(f"{res.mismatches} of {res.runs} device outputs differ from the reference "
                             f"({res.verified} verified)", where=self.opts.port or self.opts.board)


def status_lines(report: DemoReport) -> list[str]:
    """What ran and what did not, in a few lines (the first lines of REPORT.md and of the summary)."""
    n = len(report.steps)
    ok = [s for s in report.steps if s.status == "ok"]
    lines = []
    if len(ok) == n:
        lines.append(f"All {n} steps ran and succeeded.")
    else:
        lines.append(f"{len(ok)} of {n} steps ran and succeeded.")
    for s in report.steps:
        if s.status != "ok":
            lines.append(f"{s.status.upper()}: {s.name}: {s.note}")
    return lines


def markdown(report: DemoReport, opts: DemoOptions) -> str:
    lines = ["# edgeq demo report", ""]
    lines += [f"**{ln}**" if i == 0 else f"- {ln}" for i, ln in enumerate(status_lines(report))]
    lines += ["",
             "The digits CNN from Keras to a microcontroller: quantized two ways, compiled to C, run on "
             f"{'the board at ' + opts.port if opts.port else opts.board + ' (emulated)'}, and verified there.", ""]
    if report.quantization:
        lines += ["## Float vs PTQ int8 vs QAT int8 (test split, 450 images)", "",
                  "| variant | .tflite bytes | accuracy | output SQNR dB | top-1 agreement with float |",
                  "|---|---:|---:|---:|---:|"]
        for r in report.quantization:
            sqnr = "-" if r.get("output_sqnr_db") is None else f"{r['output_sqnr_db']:.1f}"
            lines.append(f"| {r['variant']} | {r['bytes']:,} | {r['accuracy']:.4f} | {sqnr} | "
                         f"{r['top1_agreement']:.4f} |")
        lines += ["", "Per-layer SQNR: [quantization.md](quantization.md). ![](quantization.png)", ""]
    for key, title in (("arduino", "Arduino sketch"), ("firmware", "Cortex-M firmware")):
        e = report.exports.get(key)
        if not e:
            continue
        lines += [f"## {title}", ""]
        fit = e.get("fit") or {}
        lines.append(f"- board `{e.get('board')}`, runtime `{e.get('runtime')}`, backend `{e.get('backend')}`")
        for part in ("flash", "ram"):
            if part in fit:
                f = fit[part]
                how = "estimated" if fit.get("estimated") else "measured"
                lines.append(f"- {part}: {f['needed']:,} of {f['available']:,} B needed ({how}), "
                             f"{f['margin']:,} B to spare")
        if e.get("firmware"):  # ExportResult.to_dict() carries the build's figures at its top level
            lines.append(f"- built `{Path(e['firmware']).name}`: flash {e.get('flash_bytes') or 0:,} B, "
                         f"RAM {e.get('ram_bytes') or 0:,} B")
        else:
            lines.append("- not built (see the steps below)")
        lines.append("")
    if report.bench:
        rep = report.bench
        lat = rep["latency"]
        unit = lat["unit"]
        lines += ["## On-device benchmark", ""]
        if unit == "instructions":
            lines.append("Emulated board: QEMU `-icount shift=0` counts **instructions**, not time; the figures "
                         "are instruction counts per inference, repeatable run to run.")
            lines.append("")
        lines += ["| runs | verified bit-exact | mismatches | retries | min | p50 | mean | p90 | p99 | max | unit |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
                  f"| {rep['runs']} | {rep['verified']} | {rep['mismatches']} | {rep['retries']} | "
                  + " | ".join(f"{lat[k]:,.0f}" for k in ("min", "p50", "mean", "p90", "p99", "max"))
                  + f" | {unit} |", "", "![](bench.png)", ""]
    lines += ["## Steps", "", "| step | status | seconds | note |", "|---|---|---:|---|"]
    for s in report.steps:
        lines.append(f"| {s.name} | {s.status} | {s.seconds} | {s.note.replace('|', '/')} |")
    lines += ["", "By hand: `edgeq quantize`, `edgeq qat`, `edgeq export --board ... --build`, "
                  "`edgeq bench --board qemu-m4 --firmware DIR --model MODEL.tflite`.", ""]
    return "\n".join(lines)


def summary_text(report: DemoReport) -> str:
    lines = []
    for r in report.quantization:
        lines.append(f"{r['variant']:9s} {r['bytes']:>8,} B  accuracy {r['accuracy']:.4f}")
    if report.bench:
        rep, lat = report.bench, report.bench["latency"]
        lines.append(f"device: {rep['verified']}/{rep['runs']} outputs bit-exact; p50 {lat['p50']:,.0f} "
                     f"{lat['unit']}, p99 {lat['p99']:,.0f} {lat['unit']}")
    lines += status_lines(report)
    where = report.files.get("report")
    if where:
        try:  # as the user named the folder: relative to the working folder when it is inside it
            where = str(Path(where).relative_to(Path.cwd().resolve()))
        except ValueError:
            pass
    lines.append(f"report: {where}")
    return "\n".join(lines)
