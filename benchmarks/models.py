"""Every model of the corpus (../shared/models/tflite-micro and mlperf-tiny): its ops, which runtime runs it, edgeq's
RAM against TFLM's arena, and instructions per inference on qemu-m4, outputs verified against TFLM.

    python benchmarks/models.py                                  # Markdown on stdout
    python benchmarks/models.py --out benchmarks/results/models.md [--json benchmarks/results/models.json]
    python benchmarks/models.py --no-qemu                        # RAM only (no firmware builds)

It picks up any model the compiler takes: a model that compiles gets a row with numbers, the others say why not
(the compiler's own refusal, naming the op).

What is measured:
* RAM = ``EDGEQ_RAM_BYTES`` of the portable backend compiled for ``--target cortex-m4`` (the one static array:
  activations + kernel scratch).
* TFLM = "Arena allocation total" of the tflite-micro Python interpreter after AllocateTensors (64-bit host:
  persistent structures hold pointers, so a 32-bit MCU needs somewhat less; see ../shared/reference/tflm-anchors.md),
  read in a child process (TFLM may crash).
* instructions = `edgeq bench --board qemu-m4` on the portable firmware: p50 of 5 timed inferences on random inputs,
  SysTick ticks x 40 under ``-icount shift=0`` (instruction counts, not time); every output compared with TFLM.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# benchmarks/serial.py would shadow pyserial for the bench harness: import from the repository root only
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(REPO))

from edgeq.cli._out import markdown_table  # noqa: E402

CORPUS = ("tflite-micro", "mlperf-tiny")


def corpus_models() -> list[Path]:
    root = REPO.parent / "shared" / "models"
    return [p for d in CORPUS for p in sorted((root / d).glob("*.tflite"))]


def tflm_total(path: Path) -> int | None:
    from edgeq.targets.tflm import _arena_used_in_child

    return _arena_used_in_child(path, 8 << 20)


def qemu_instructions(path: Path, work: Path) -> dict:
    from edgeq.bench.harness import BenchOptions, bench_device
    from edgeq.targets.export import export

    fw = work / f"fw-{path.stem}"
    export(path, "qemu-m4", fw, runtime="edgeq", backend="portable", build=True, force=True)
    rep = bench_device(BenchOptions(board="qemu-m4", firmware=str(fw), model=str(path), runs=5, warmup=1,
                                    progress=False))
    return {"instructions": int(rep["latency"]["p50"]), "unit": rep["latency"]["unit"] if "unit" in rep["latency"]
            else rep["timer"]["unit"], "verified": rep["verified"], "runs": rep["runs"],
            "mismatches": rep["mismatches"], "reference": rep["reference"]}


def run(qemu: bool, work: Path) -> list[dict]:
    from edgeq.compiler import compile_model
    from edgeq.errors import EdgeqError
    from edgeq.tflite import read_model
    from edgeq.tflite.check import runtime_verdicts

    rows = []
    for path in corpus_models():
        g = read_model(path)
        row = {"model": f"{path.parent.name}/{path.name}", "ops": g.op_counts(),
               "verdict": runtime_verdicts(g)["verdict"], "tflm_arena": None}
        if runtime_verdicts(g)["tflm"]["ok"]:
            row["tflm_arena"] = tflm_total(path)
        try:
            res = compile_model(path, target="cortex-m4", backend="portable", out_dir=work / path.stem, force=True)
        except EdgeqError as exc:
            row["edgeq"] = {"error": exc.message}
            rows.append(row)
            print(f"{row['model']}: not compiled ({exc.message[:80]})", file=sys.stderr)
            continue
        row["edgeq"] = {"ram": res.ram_bytes, "arena": res.arena_bytes, "scratch": res.scratch_bytes,
                        "const": res.const_bytes}
        if qemu:
            row["qemu"] = qemu_instructions(path, work)
        print(f"{row['model']}: RAM {res.ram_bytes} (TFLM {row['tflm_arena']})"
              + (f", {row['qemu']['instructions']:,} instructions" if qemu else ""), file=sys.stderr)
        rows.append(row)
    return rows


def report(rows: list[dict]) -> str:
    table = []
    for r in rows:
        ops = ", ".join(f"{op} x{n}" for op, n in r["ops"].items())
        tflm = f"{r['tflm_arena']:,}" if r["tflm_arena"] else "-"
        e = r["edgeq"]
        if "error" in e:
            table.append([r["model"], ops, r["verdict"], "not compiled: " + e["error"].split(";")[0][:90], tflm,
                          "", ""])
            continue
        ratio = f"{e['ram'] / r['tflm_arena']:.2f}" if r["tflm_arena"] else "-"
        q = r.get("qemu")
        instr = f"{q['instructions']:,}" if q else "not run"
        ver = f"{q['verified']}/{q['runs']}" if q else ""
        table.append([r["model"], ops, r["verdict"], f"{e['ram']:,} ({e['arena']:,}+{e['scratch']:,})", tflm, ratio,
                      f"{instr} ({ver} verified)" if q else instr])
    compiled = [r for r in rows if "error" not in r["edgeq"] and r["tflm_arena"]]
    worse = [r["model"] for r in compiled if r["edgeq"]["ram"] > r["tflm_arena"]]
    lines = [
        "# Every model of the corpus: ops, edgeq RAM vs TFLM arena, instructions on qemu-m4", "",
        "Generated by `python benchmarks/models.py --out benchmarks/results/models.md` (see the script's docstring "
        "for what each figure is). verdict = the runtime `edgeq export --runtime auto` picks (edgeq C, else TFLM, "
        "else none).", "",
        markdown_table(["model", "ops", "verdict", "edgeq RAM (arena+scratch), portable, M4", "TFLM arena (64-bit)",
                        "edgeq / TFLM", "instructions / inference, qemu-m4 portable (outputs = TFLM)"], table),
        "",
        f"edgeq RAM <= TFLM arena on {len(compiled) - len(worse)} of {len(compiled)} compiled models"
        + (f"; larger on: {', '.join(worse)}" if worse else "") + ".",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", help="write the Markdown report here")
    ap.add_argument("--json", help="write the raw results here")
    ap.add_argument("--no-qemu", action="store_true", help="skip the firmware builds and QEMU runs")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="edgeq-models-") as tmp:
        rows = run(not args.no_qemu, Path(tmp))
    text = report(rows)
    if args.out:
        Path(args.out).write_text(text)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
