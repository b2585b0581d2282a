"""``edgeq demo``: the whole chain in one command, on the emulated board by default.

    digits data -> float CNN (Keras) -> PTQ int8 and QAT int8 -> float/PTQ/QAT table
    -> Arduino sketch + Cortex-M firmware (edgeq export) -> firmware running on qemu-m4 (or a real board)
    -> serial benchmark with every output verified bit-exact -> report (Markdown + PNG) in the output folder

Each step is a call of edgeq's public API, in the order a user would run the commands; the report says which
command does the same by hand. A missing toolchain skips the steps that need it and says how to install it.
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
    status: str = "ok"  # ok | skipped | failed
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

    def to_dict(self) -> dict:
        return {
            "output": str(self.out),
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


class _Steps:
    """Runs the numbered steps, timing each and printing progress to stderr."""

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
        except ToolchainError as exc:  # a missing tool skips this step only
            step.status, step.note = "skipped", exc.one_line()
            self.say(f"      skipped: {step.note}")
            return None
        finally:
            step.seconds = round(time.perf_counter() - t0, 1)
            self.report.steps.append(step)
            if step.status == "ok":
                self.say(f"      done in {step.seconds:.1f} s{': ' + step.note if step.note else ''}")


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
    _prepare_out(out, opts.force)
    final = out.resolve()
    with atomic_dir(out, force=True) as tmp:
        (tmp / MARKER).write_text("written by edgeq demo; a re-run replaces this folder\n")
        report = _run(opts, tmp)
        # the folder is built under a temporary name: make every recorded path name its final place
        moved = json.loads(json.dumps(report.to_dict(), default=str).replace(str(tmp), str(final)))
        for f in tmp.rglob("*"):
            if f.suffix in (".json", ".md") and f.is_file():
                f.write_text(f.read_text().replace(str(tmp), str(final)))
    report.out = final
    report.files = moved["files"]
    report.exports = moved["exports"]
    report.models = moved["models"]
    return report


def _run(opts: DemoOptions, out: Path) -> DemoReport:
    from edgeq.convert._tf import import_keras
    from edgeq.convert.digits import load_digits_split, train_digits_cnn

    report = DemoReport(out)
    steps = _Steps(report, total=8, progress=opts.progress)
    models = out / "models"
    models.mkdir()
    state: dict[str, Any] = {}

    def data(step: Step):
        state["digits"] = d = load_digits_split(seed=opts.seed)
        np.save(models / "test_x.npy", d.x_test)
        np.save(models / "test_y.npy", d.y_test)
        step.note = f"sklearn digits: {len(d.x_train)} train / {len(d.x_test)} test, 8x8x1"

    def train(step: Step):
        path = models / "digits_float.keras"
        acc = train_digits_cnn(path, "small", epochs=opts.epochs, seed=opts.seed, data=state["digits"])
        state["float_path"] = path
        state["float_model"] = import_keras().models.load_model(path)
        report.models["float"] = {"path": str(path), "accuracy": acc}
        step.note = f"test accuracy {acc:.4f}"

    def ptq(step: Step):
        from edgeq.convert.ptq import quantize

        res = quantize(state["float_path"], "int8", data=state["digits"].x_train, calibration="minmax",
                       per_tensor_dense=True, progress=False)
        path = models / "digits_ptq_int8.tflite"
        res.save(path)
        report.models["ptq_int8"] = {"path": str(path), "bytes": len(res.tflite), "kind": res.summary["kind"]}
        step.note = f"{len(res.tflite):,} B, {res.summary['kind']}"

    def qat(step: Step):
        from edgeq._fs import atomic_write_bytes
        from edgeq.qat.train import run_qat

        d = state["digits"]

        def on_epoch(epoch: int, total: int, row: dict) -> None:
            steps.say(f"      QAT epoch {epoch}/{total}: loss {row.get('loss', float('nan')):.4f} "
                      f"accuracy {row.get('accuracy', float('nan')):.4f}")

        res = run_qat(state["float_model"], d.x_train, d.y_train, x_val=d.x_test, y_val=d.y_test,
                      epochs=opts.qat_epochs, seed=opts.seed, on_epoch=on_epoch, source="digits_float.keras")
        path = models / "digits_qat_int8.tflite"
        atomic_write_bytes(path, res.tflite)
        state["qat_tflite"], state["qat_path"] = res.tflite, path
        report.models["qat_int8"] = {"path": str(path), "bytes": len(res.tflite), "kind": res.summary["kind"],
                                     "accuracy": res.summary["int8_accuracy"]}
        step.note = f"int8 test accuracy {res.summary['int8_accuracy']:.4f} ({len(res.tflite):,} B)"

    def compare(step: Step):
        from edgeq.qat.report import compare as compare_models
        from edgeq.qat.report import write_report

        d = state["digits"]
        cmp = compare_models(state["float_model"], state["qat_tflite"], d.x_test, d.y_test,
                             calibration_data=d.x_train, name="digits CNN")
        write_report([cmp], out / "quantization.md", out / "quantization.png")
        report.quantization = cmp.rows()
        report.files["quantization_report"] = str(out / "quantization.md")
        report.files["quantization_plot"] = str(out / "quantization.png")
        step.note = "; ".join(f"{r['variant']} {r['bytes']:,} B acc {r['accuracy']:.4f}" for r in cmp.rows())

    def export_sketch(step: Step):
        from edgeq.targets.export import export

        build = shutil.which("arduino-builder") is not None
        res = export(state["qat_path"], opts.arduino_board, out / "arduino", build=build, force=True,
                     name="DigitsDemo")
        report.exports["arduino"] = res.to_dict()
        sketch = Path(res.sketch).relative_to(out) if res.sketch else "sketch"
        step.note = f"{sketch} ({res.board.name}; {res.fit.summary()})"
        if not build:
            step.note += "; not built: arduino-builder missing (apt-get install -y --no-install-recommends " \
                         "arduino-builder arduino-core-avr gcc-avr avr-libc)"

    def export_firmware(step: Step):
        from edgeq.targets.boards import get_board
        from edgeq.targets.export import export

        from edgeq.targets.build import APT_ARM

        build = shutil.which("arm-none-eabi-gcc") is not None
        res = export(state["qat_path"], opts.board, out / "firmware", build=build, force=True, name="digits_qat")
        report.exports["firmware"] = res.to_dict()
        b = res.build
        if b is not None and b.firmware:
            state["firmware"] = out / "firmware"
            step.note = f"{get_board(opts.board).name}: built {Path(b.firmware).name}: flash {b.flash_bytes:,} B, " \
                        f"RAM {b.ram_bytes:,} B"
        else:
            step.status = "skipped"
            step.note = f"sources written, not built: arm-none-eabi-gcc not found (install it: {APT_ARM})"
            steps.say(f"      {step.note}")

    def bench(step: Step):
        from edgeq.bench.harness import BenchOptions, bench_device
        from edgeq.bench.report import write_plot

        from edgeq.targets.build import APT_ARM

        if not opts.port and ("firmware" not in state or not shutil.which("qemu-system-arm")):
            raise ToolchainError("no firmware was built or no emulator is installed, so there is nothing to run",
                                 hint=f"install the ARM toolchain and QEMU: {APT_ARM}")
        d = state["digits"]
        inputs = out / "models" / "bench_inputs.npy"
        np.save(inputs, d.x_test[: opts.runs])
        bo = BenchOptions(port=opts.port, board=None if opts.port else opts.board,
                          firmware=None if opts.port else str(state["firmware"]), model=str(state["qat_path"]),
                          inputs=str(inputs), runs=opts.runs, verify=True, output=str(out / "bench.json"),
                          progress=opts.progress and sys.stderr.isatty())
        rep = bench_device(bo)
        write_plot(rep, out / "bench.png")
        report.bench = rep
        report.files["bench_json"] = str(out / "bench.json")
        report.files["bench_plot"] = str(out / "bench.png")
        lat = rep["latency"]
        step.note = (f"{rep['verified']}/{rep['runs']} outputs bit-exact with the reference; p50 "
                     f"{lat['p50']:,.0f} {lat['unit']}, p99 {lat['p99']:,.0f} {lat['unit']}")

    steps.run("load the digits data", data)
    steps.run(f"train a small float CNN ({opts.epochs} epochs)", train)
    steps.run("post-training quantization to int8 (edgeq quantize)", ptq)
    steps.run(f"quantization-aware training ({opts.qat_epochs} epochs, edgeq qat)", qat)
    steps.run("compare float / PTQ / QAT (size, accuracy, per-layer SQNR)", compare)
    steps.run(f"export an Arduino sketch for {opts.arduino_board} (edgeq export)", export_sketch)
    if not opts.port:
        steps.run(f"export and build firmware for {opts.board} (edgeq export --build)", export_firmware)
    else:
        steps.total -= 1
    target = opts.port or f"{opts.board} (emulated)"
    steps.run(f"benchmark on {target} over serial, verifying every output (edgeq bench)", bench)

    text = markdown(report, opts)
    (out / "REPORT.md").write_text(text)
    (out / "demo.json").write_text(json.dumps(report.to_dict(), indent=2, default=str))
    report.files["report"] = str(out / "REPORT.md")
    return report


def markdown(report: DemoReport, opts: DemoOptions) -> str:
    lines = ["# edgeq demo report", "",
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
        b = e.get("build") or {}
        if b.get("firmware"):
            lines.append(f"- built `{Path(b['firmware']).name}`: flash {b.get('flash_bytes', 0):,} B, "
                         f"RAM {b.get('ram_bytes', 0):,} B")
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
        lines += [f"| runs | verified bit-exact | mismatches | retries | min | p50 | mean | p90 | p99 | max | unit |",
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
    skipped = [s for s in report.steps if s.status != "ok"]
    for s in skipped:
        lines.append(f"{s.status}: {s.name}: {s.note}")
    lines.append(f"report: {report.files.get('report')}")
    return "\n".join(lines)
