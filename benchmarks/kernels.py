"""Per-layer instructions of edgeq's kernels on the emulated Cortex-M cores: portable (optimize speed and size) vs
the cmsis-nn backend, with TFLM's totals beside where they were measured.

Every model is exported for each QEMU board (qemu-m4 = mps2-an386 Cortex-M4F, qemu-m0plus = mps2-an385 running
ARMv6-M code, qemu-m7 = mps2-an500, qemu-m55 = mps3-an547 with Helium) and run once after a warm-up with the profiling
main of benchmarks/analyze.py (`EDGEQ_LAYER_DONE` reads SysTick after every layer). QEMU runs with `-icount shift=0`,
so the figures are **instructions (QEMU -icount)**, +-1 SysTick tick (40 instructions; 31.25 on the M55 board) per
layer -- not cycles or time on a real chip (an M0+ needs more cycles per instruction than an M7, and one Helium
instruction does up to 16 lanes of work). The outputs of the timed inference are compared byte for byte with the TFLM
interpreter on the same input: a firmware that is not bit-exact makes the script fail. The TFLM column is TFLM +
CMSIS-NN on qemu-m4 (../shared/reference/tflm-anchors.md; totals only). On qemu-m55 the cmsis-nn firmware is checked
to contain Helium (MVE) instructions, i.e. that CMSIS-NN's MVE paths are what runs.

Printed (and written to benchmarks/results/kernels.md, raw numbers to kernels.json):
- per board and model: total instructions per variant, the ratios, flash of the profiling firmware (text + data:
  model, kernels, startup; no bench protocol), for portable with --optimize speed and --optimize size;
- per board, model and layer kind (conv 1x1, conv kxk, depthwise 3x3, FC, pool, add, ...): where the instructions go;
- with --layers, every layer (always in the markdown file).

    python benchmarks/kernels.py                        # 4 boards x KWS, IC, VWW, person_detect (about 10 min)
    python benchmarks/kernels.py --boards qemu-m0plus --models KWS --layers   # one short run (seconds)

cmsis-nn needs a CMSIS-NN checkout: EDGEQ_CMSIS_NN_DIR or ../shared/third_party/cmsis-nn. Run one at a time and under
nice on a shared machine: building the weight arrays and the emulation are CPU-heavy.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from analyze import CHECK as MODELS  # noqa: E402  (KWS, IC, VWW, person_detect)
from analyze import measure, profile_input  # noqa: E402

from edgeq._fmt import markdown_table  # noqa: E402
from edgeq.errors import UnsupportedError  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
BOARDS = ("qemu-m4", "qemu-m0plus", "qemu-m7", "qemu-m55")
#: the measured variants: (backend, optimize)
VARIANTS = {"portable": ("portable", "speed"), "portable-size": ("portable", "size"), "cmsis-nn": ("cmsis-nn", "speed")}
#: TFLM + CMSIS-NN instructions per inference on qemu-m4 (../shared/reference/tflm-anchors.md, 2026-11-28)
TFLM_CMSIS = {"KWS": 7_698_356, "IC": 29_865_232, "VWW": 24_118_408}
#: the goal of issue 15: portable <= 0.70 x TFLM + CMSIS-NN
TARGET_RATIO = 0.70
#: TinyEngine's instructions per inference on qemu-m4, by --extra label (../shared/reference/tinyengine-anchor.md:
#: MCUNet-VWW, mit-han-lab/tinyengine assets/vww.tflite with int8 I/O, TinyEngine commit 47bb283; not bit-exact)
TINYENGINE = {"mcunet-vww": 34_747_400}


def layer_kind(layer) -> str:
    """What a layer is, for attributing instructions: conv 1x1 / conv KxK / depthwise KxK / FC / pool / add / ..."""
    op = layer.opcode
    p = layer.params
    if op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        _, kh, kw, _ = p["filter_dims"]
        base = "conv" if op == "CONV_2D" else "depthwise"
        size = "1x1" if (kh, kw) == (1, 1) else f"{kh}x{kw}"
        return f"{base} {size}" if base == "depthwise" or size == "1x1" else "conv kxk"
    return {"FULLY_CONNECTED": "FC", "AVERAGE_POOL_2D": "pool", "MAX_POOL_2D": "pool", "ADD": "add",
            "SOFTMAX": "softmax"}.get(op, op.lower())


def describe(layer, graph) -> str:
    """Short shape summary of a layer: input -> output, filter and stride for windows."""
    def shape(t):
        return "x".join(str(d) for d in graph.tensors[t].shape[1:])

    s = f"{shape(layer.reads()[0]) if layer.reads() else ''} -> {shape(layer.op.outputs[0])}"
    p = layer.params
    if "filter_dims" in p and layer.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        s += f" k{p['filter_dims'][1]}x{p['filter_dims'][2]} s{p['stride'][1]}"
    return s


def layers_of(model: Path, backend: str, cmsis: str | None, target: str, optimize: str) -> list[dict]:
    from edgeq.compiler import plan_model

    planned = plan_model(model, target=target, backend=backend, cmsis_nn_dir=cmsis, optimize=optimize)
    return [{"index": layer.index, "kind": layer_kind(layer), "what": describe(layer, planned.graph)}
            for layer in planned.lowered.layers
            if not layer.is_alias and layer.params.get("folded_into") is None]


def flash_bytes(elf: Path) -> int:
    """text + data of an ELF (what is stored in flash)."""
    out = subprocess.run(["arm-none-eabi-size", str(elf)], capture_output=True, text=True, check=True).stdout
    text, data = (int(v) for v in out.splitlines()[1].split()[:2])
    return text + data


def mve_instructions(elf: Path) -> int:
    """How many Helium (MVE) vector instructions the ELF's code holds (loads/stores/multiply-accumulates on Q
    registers: v* mnemonics with an element-size suffix, and the low-overhead loop dlstp/letp)."""
    import re

    out = subprocess.run(["arm-none-eabi-objdump", "-d", str(elf)], capture_output=True, text=True, check=True).stdout
    pat = re.compile(r"\t(vldr[bhw]\.|vstr[bhw]\.|vmla[dv]?a?v?a?\.|vmladava|vmlava|vdup\.|vqrdmulh\.|vrshl\.|vadd\.i|dlstp|letp)")
    return sum(1 for line in out.splitlines() if pat.search(line))


def ratio(a: int | None, b: int | None) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=",".join(MODELS), help=f"comma-separated subset of {', '.join(MODELS)}")
    ap.add_argument("--boards", default=",".join(BOARDS), help=f"comma-separated subset of {', '.join(BOARDS)}")
    ap.add_argument("--variants", default=None,
                    help=f"comma-separated subset of {', '.join(VARIANTS)} (default: all; cmsis-nn when a checkout "
                         "is found)")
    ap.add_argument("--extra", action="append", default=[], metavar="MODEL.tflite[:LABEL]",
                    help="measure this int8 model too (label mcunet-vww: TinyEngine's MCUNet-VWW with int8 I/O, "
                         "compared with TinyEngine's instructions on qemu-m4; benchmarks/int8_io.py makes the int8-I/O "
                         "file from TinyEngine's float-I/O assets/vww.tflite)")
    ap.add_argument("--layers", action="store_true", help="also print every layer")
    ap.add_argument("--out", default=None,
                    help="markdown report, raw numbers beside it as .json ('' to write none; default: "
                         "benchmarks/results/kernels.md for a run of every board, model and variant, none for a "
                         "subset, so a partial run never replaces the full table)")
    args = ap.parse_args()
    from edgeq.reference import load_reference
    from edgeq.targets.boards import get_board

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    boards = [b.strip() for b in args.boards.split(",") if b.strip()]
    cmsis = os.environ.get("EDGEQ_CMSIS_NN_DIR") or str(REPO.parent / "shared" / "third_party" / "cmsis-nn")
    if args.variants is None:
        args.variants = ",".join(v for v in VARIANTS if v != "cmsis-nn" or Path(cmsis).is_dir())
        if not Path(cmsis).is_dir():
            print(f"kernels.py: no CMSIS-NN checkout at {cmsis} (EDGEQ_CMSIS_NN_DIR): portable only", file=sys.stderr)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    for m in models:
        if m not in MODELS:
            ap.error(f"unknown model {m!r}: use {', '.join(MODELS)}")
    paths = {m: MODELS[m] for m in models}
    for spec in args.extra:
        path, _, label = spec.partition(":")
        label = label or Path(path).stem
        if not Path(path).is_file():
            ap.error(f"--extra {spec}: no such file")
        if label in paths:
            ap.error(f"--extra {spec}: label {label!r} is taken")
        paths[label] = Path(path)
    default_models = models
    models = list(paths)
    for b in boards:
        if b not in BOARDS:
            ap.error(f"unknown board {b!r}: use {', '.join(BOARDS)}")
    for v in variants:
        if v not in VARIANTS:
            ap.error(f"unknown variant {v!r}: use {', '.join(VARIANTS)}")
    if "cmsis-nn" in variants and not Path(cmsis).is_dir():
        print(f"kernels.py: no CMSIS-NN checkout at {cmsis}; set EDGEQ_CMSIS_NN_DIR or leave out cmsis-nn",
              file=sys.stderr)
        return 2

    t0 = time.time()
    data: dict[str, dict] = {}
    inexact: list[str] = []
    unfit: dict[tuple[str, str], str] = {}  # (board, --extra model) -> why it was not measured
    with tempfile.TemporaryDirectory(prefix="edgeq-kernels-") as tmp:
        for name in models:
            expected = load_reference(paths[name], "tflm").run(profile_input(paths[name]))
            for board in boards:
                target = get_board(board).core.target
                for v in variants:
                    be, opt = VARIANTS[v]
                    rows = layers_of(paths[name], be, cmsis, target, opt)
                    try:
                        m = measure(paths[name], be, cmsis, Path(tmp), board=board, optimize=opt)
                    except UnsupportedError as e:  # an --extra model too big for this board: say so, go on
                        if name in MODELS:
                            raise
                        unfit[(board, name)] = e.message.split(": ", 1)[-1]
                        print(f"{board} {name}: not measured ({unfit[(board, name)]})", file=sys.stderr)
                        break
                    for r in rows:
                        r["instructions"] = m["layers"].get(r["index"], 0)
                    exact = m["output"] == expected
                    d = {"total": m["total"], "flash": flash_bytes(m["elf"]), "exact": exact, "layers": rows}
                    if board == "qemu-m55" and be == "cmsis-nn":
                        d["mve_instructions"] = mve_instructions(m["elf"])
                        if d["mve_instructions"] == 0:
                            inexact.append(f"{board} {name} {v}: no Helium instruction in the cmsis-nn firmware")
                    data[f"{board}/{name}/{v}"] = d
                    if not exact:
                        inexact.append(f"{board} {name} {v}: output {m['output'].hex()} != TFLM {expected.hex()}")
                    print(f"{board} {name} {v}: {m['total']:,} instructions (QEMU -icount), flash {d['flash']:,} B, "
                          f"{'bit-exact with TFLM' if exact else 'NOT bit-exact with TFLM'}", file=sys.stderr)

    cmd = "python benchmarks/kernels.py" + (
        f" --models {','.join(default_models)}" if default_models != list(MODELS) else "") + "".join(
        f" --extra {paths[m]}:{m}" for m in models if m not in MODELS) + (
        f" --boards {','.join(boards)}" if boards != list(BOARDS) else "") + (
        f" --variants {','.join(variants)}" if variants != list(VARIANTS) else "")
    def ran(board: str) -> list[str]:
        return [n for n in models if (board, n) not in unfit]

    md = ["# edgeq kernels on the emulated Cortex-M cores: instructions per inference (QEMU -icount)", "",
          f"`{cmd}` ({time.time() - t0:.0f} s). Instructions counted by QEMU with `-icount shift=0` (SysTick ticks x "
          "40, x 31.25 on qemu-m55; +-1 tick per layer), one inference after a warm-up: **QEMU -icount instruction "
          "counts, not time on a chip** (cycles per instruction differ by core; one Helium instruction works on up "
          "to 16 lanes). Boards: qemu-m4 = mps2-an386 (Cortex-M4F, DSP), qemu-m0plus = mps2-an385 running "
          "`-mcpu=cortex-m0plus` (ARMv6-M, no DSP) code, qemu-m7 = mps2-an500 (DSP), qemu-m55 = mps3-an547 "
          "(`-mcpu=cortex-m55`: DSP + Helium; CMSIS-NN takes its MVE paths). Variants: portable = edgeq's own "
          "kernels (`--optimize speed`, the default), portable-size = the same with `--optimize size` (general "
          "kernels only), cmsis-nn = edgeq's cmsis-nn backend (../shared/third_party/cmsis-nn). Every firmware's "
          "output was compared with the TFLM interpreter on the same input (column exact). TFLM + CMSIS-NN: "
          "../shared/reference/tflm-anchors.md (qemu-m4 only); TinyEngine (an --extra mcunet-vww): "
          "../shared/reference/tinyengine-anchor.md (qemu-m4, same counting; its outputs are not bit-exact). Flash: text + data of the profiling firmware (model, "
          "kernels, startup; no bench protocol).", ""]
    have = lambda v: v in variants  # noqa: E731
    head = ["board", "model"] + [f"{v} instr" for v in variants] + [f"{v} flash B" for v in variants]
    head += ["exact"]
    if have("portable") and have("cmsis-nn"):
        head.append("portable / cmsis-nn")
    if have("portable") and have("portable-size"):
        head += ["size / speed instr", "size / speed flash"]
    head += ["TFLM+CMSIS-NN", f"portable / TFLM+CMSIS-NN (goal <= {TARGET_RATIO:.2f})"]
    tiny = any(m in TINYENGINE for m in models) and "qemu-m4" in boards
    if tiny:
        head += ["TinyEngine", "portable / TinyEngine (goal <= 1.00)"]
    rows = []
    for board in boards:
        for name in ran(board):
            d = {v: data[f"{board}/{name}/{v}"] for v in variants}
            row = [board, name] + [f"{d[v]['total']:,}" for v in variants] + [f"{d[v]['flash']:,}" for v in variants]
            row.append("yes" if all(x["exact"] for x in d.values()) else "NO")
            if have("portable") and have("cmsis-nn"):
                row.append(ratio(d["portable"]["total"], d["cmsis-nn"]["total"]))
            if have("portable") and have("portable-size"):
                row += [ratio(d["portable-size"]["total"], d["portable"]["total"]),
                        ratio(d["portable-size"]["flash"], d["portable"]["flash"])]
            tflm = TFLM_CMSIS.get(name) if board == "qemu-m4" else None
            row += [f"{tflm:,}" if tflm else "-",
                    ratio(d["portable"]["total"], tflm) if have("portable") and tflm else "-"]
            if tiny:
                te = TINYENGINE.get(name) if board == "qemu-m4" else None
                row += [f"{te:,}" if te else "-", ratio(d["portable"]["total"], te) if have("portable") and te else "-"]
            rows.append(row)
    md += ["## Totals", "", markdown_table(head, rows), ""]
    md += [f"Not measured: {name} on {board} ({why})." for (board, name), why in unfit.items()]
    md += [""] if unfit else []
    mve = [(k.split("/")[0], k.split("/")[1], v["mve_instructions"]) for k, v in data.items()
           if "mve_instructions" in v]
    if mve:
        md += ["Helium instructions in the qemu-m55 cmsis-nn firmware (objdump: vldrb/vstrb/vmladava/... , "
               "dlstp/letp): " + ", ".join(f"{m} {n:,}" for _, m, n in mve) + ".", ""]

    md += ["## By layer kind", ""]
    krows = []
    for board in boards:
        for name in ran(board):
            kinds: dict[str, dict[str, int]] = {}
            for v in variants:
                d = data[f"{board}/{name}/{v}"]
                for r in d["layers"]:
                    kinds.setdefault(r["kind"], {}).setdefault(v, 0)
                    kinds[r["kind"]][v] += r["instructions"]
                kinds.setdefault("(invoke overhead)", {})[v] = d["total"] - sum(r["instructions"] for r in d["layers"])
            for kind, per in sorted(kinds.items(), key=lambda kv: -max(kv[1].values())):
                row = [board, name, kind] + [f"{per.get(v, 0):,}" for v in variants]
                if have("portable") and have("cmsis-nn"):
                    row.append(ratio(per.get("portable"), per.get("cmsis-nn")))
                krows.append(row)
    extra = ["portable / cmsis-nn"] if have("portable") and have("cmsis-nn") else []
    md += [markdown_table(["board", "model", "layer kind"] + variants + extra, krows), ""]

    layer_md = ["## Every layer", ""]
    lrows = []
    for board in boards:
        for name in ran(board):
            first = data[f"{board}/{name}/{variants[0]}"]["layers"]
            by_v = {v: {r["index"]: r["instructions"] for r in data[f"{board}/{name}/{v}"]["layers"]}
                    for v in variants}
            for r in first:
                row = [board, name, str(r["index"]), r["kind"], r["what"]]
                row += [f"{by_v[v].get(r['index'], 0):,}" for v in variants]
                if extra:
                    row.append(ratio(by_v["portable"].get(r["index"]), by_v["cmsis-nn"].get(r["index"])))
                lrows.append(row)
    layer_md += [markdown_table(["board", "model", "layer", "kind", "shape"] + variants + extra, lrows), ""]
    print("\n".join(md + (layer_md if args.layers else [])))
    for line in inexact:
        print(f"kernels.py: {line}", file=sys.stderr)
    full_run = set(default_models) == set(MODELS) and set(boards) == set(BOARDS) and set(variants) == set(VARIANTS)
    if args.out is None:
        args.out = str(RESULTS / "kernels.md") if full_run else ""
        if not full_run:
            print("kernels.py: a subset run: benchmarks/results/kernels.md left as it is (--out FILE writes one)",
                  file=sys.stderr)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text("\n".join(md + layer_md) + "\n")
        Path(args.out).with_suffix(".json").write_text(json.dumps(data, indent=1) + "\n")
    return 1 if inexact else 0


if __name__ == "__main__":
    sys.exit(main())
