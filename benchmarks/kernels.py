"""Per-layer instructions of edgeq's kernels on qemu-m4: portable vs cmsis-nn backend, with TFLM's totals beside.

Every model is exported for qemu-m4 and run once (after a warm-up) with the profiling main of benchmarks/analyze.py
(`EDGEQ_LAYER_DONE` reads SysTick after every layer). QEMU runs with `-icount shift=0`, so the figures are
**instructions (QEMU -icount)**, +-40 per layer -- not cycles or time on a real chip. The TFLM column is TFLM +
CMSIS-NN on the same emulated board (../shared/reference/tflm-anchors.md; totals only, no per-layer figures).

Printed (and written to benchmarks/results/kernels.md, raw numbers to kernels.json):
- per model: total instructions per backend, ratio to cmsis-nn and to TFLM + CMSIS-NN, flash of the profiling
  firmware (text + data: model, kernels, startup; no bench protocol);
- per model and layer kind (conv 1x1, conv kxk, depthwise 3x3, FC, pool, add, ...): where the instructions go;
- with --layers, every layer.

    python benchmarks/kernels.py                        # KWS, IC, VWW, person_detect; portable and cmsis-nn
    python benchmarks/kernels.py --models KWS --backends portable --layers    # one short run (seconds)

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
from analyze import measure  # noqa: E402

from edgeq._fmt import markdown_table  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
#: TFLM + CMSIS-NN instructions per inference on qemu-m4 (../shared/reference/tflm-anchors.md, 2026-11-28)
TFLM_CMSIS = {"KWS": 7_698_356, "IC": 29_865_232, "VWW": 24_118_408}
#: the goal of issue 15: portable <= 0.70 x TFLM + CMSIS-NN
TARGET_RATIO = 0.70


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


def layers_of(model: Path, backend: str, cmsis: str | None) -> list[dict]:
    from edgeq.compiler import plan_model

    planned = plan_model(model, target="cortex-m4", backend=backend, cmsis_nn_dir=cmsis)
    return [{"index": layer.index, "kind": layer_kind(layer), "what": describe(layer, planned.graph)}
            for layer in planned.lowered.layers
            if not layer.is_alias and layer.params.get("folded_into") is None]


def flash_bytes(elf: Path) -> int:
    """text + data of an ELF (what is stored in flash)."""
    out = subprocess.run(["arm-none-eabi-size", str(elf)], capture_output=True, text=True, check=True).stdout
    text, data = (int(v) for v in out.splitlines()[1].split()[:2])
    return text + data


def ratio(a: int | None, b: int | None) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=",".join(MODELS), help=f"comma-separated subset of {', '.join(MODELS)}")
    ap.add_argument("--backends", default=None,
                    help="comma-separated: portable, cmsis-nn (default: both, cmsis-nn when a checkout is found)")
    ap.add_argument("--board", default="qemu-m4", choices=["qemu-m4"],
                    help="emulated board (only qemu-m4 is measured per layer today)")
    ap.add_argument("--layers", action="store_true", help="also print every layer")
    ap.add_argument("--out", default=str(RESULTS / "kernels.md"), help="markdown report ('' to write none)")
    args = ap.parse_args()
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    cmsis = os.environ.get("EDGEQ_CMSIS_NN_DIR") or str(REPO.parent / "shared" / "third_party" / "cmsis-nn")
    if args.backends is None:
        args.backends = "portable,cmsis-nn" if Path(cmsis).is_dir() else "portable"
        if not Path(cmsis).is_dir():
            print(f"kernels.py: no CMSIS-NN checkout at {cmsis} (EDGEQ_CMSIS_NN_DIR): portable only", file=sys.stderr)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    for m in models:
        if m not in MODELS:
            ap.error(f"unknown model {m!r}: use {', '.join(MODELS)}")
    for b in backends:
        if b not in ("portable", "cmsis-nn"):
            ap.error(f"unknown backend {b!r}: use portable, cmsis-nn")
    if "cmsis-nn" in backends and not Path(cmsis).is_dir():
        print(f"kernels.py: no CMSIS-NN checkout at {cmsis}; set EDGEQ_CMSIS_NN_DIR or use --backends portable",
              file=sys.stderr)
        return 2

    t0 = time.time()
    data: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="edgeq-kernels-") as tmp:
        for name in models:
            for be in backends:
                rows = layers_of(MODELS[name], be, cmsis)
                m = measure(MODELS[name], be, cmsis, Path(tmp))
                for r in rows:
                    r["instructions"] = m["layers"].get(r["index"], 0)
                data[f"{name}/{be}"] = {"total": m["total"], "flash": flash_bytes(m["elf"]), "layers": rows}
                print(f"{name} {be}: {m['total']:,} instructions (QEMU -icount)", file=sys.stderr)

    md = ["# edgeq kernels on qemu-m4: instructions per inference (QEMU -icount)", "",
          f"`python benchmarks/kernels.py --models {','.join(models)} --backends {','.join(backends)}` "
          f"({time.time() - t0:.0f} s). Instructions counted by QEMU mps2-an386 with `-icount shift=0` (SysTick x 40, "
          f"+-40 per layer), one inference after a warm-up: instruction counts, not time on a chip. "
          "TFLM + CMSIS-NN: ../shared/reference/tflm-anchors.md (same board and counting). Flash: text + data of the "
          "profiling firmware (model, kernels, startup; no bench protocol).", ""]
    head = ["model"] + [f"{b} instructions" for b in backends] + [f"{b} flash B" for b in backends]
    head += ["TFLM+CMSIS-NN"]
    if "portable" in backends and "cmsis-nn" in backends:
        head.append("portable / cmsis-nn")
    if "portable" in backends:
        head.append(f"portable / TFLM+CMSIS-NN (goal <= {TARGET_RATIO:.2f})")
    rows = []
    for name in models:
        d = {b: data[f"{name}/{b}"] for b in backends}
        row = [name] + [f"{d[b]['total']:,}" for b in backends] + [f"{d[b]['flash']:,}" for b in backends]
        tflm = TFLM_CMSIS.get(name)
        row.append(f"{tflm:,}" if tflm else "-")
        if "portable" in backends and "cmsis-nn" in backends:
            row.append(ratio(d["portable"]["total"], d["cmsis-nn"]["total"]))
        if "portable" in backends:
            row.append(ratio(d["portable"]["total"], tflm))
        rows.append(row)
    md += ["## Totals", "", markdown_table(head, rows), ""]

    md += ["## By layer kind", ""]
    krows = []
    for name in models:
        kinds: dict[str, dict[str, int]] = {}
        for b in backends:
            for r in data[f"{name}/{b}"]["layers"]:
                kinds.setdefault(r["kind"], {}).setdefault(b, 0)
                kinds[r["kind"]][b] += r["instructions"]
        for b in backends:
            rest = data[f"{name}/{b}"]["total"] - sum(r["instructions"] for r in data[f"{name}/{b}"]["layers"])
            kinds.setdefault("(invoke overhead)", {})[b] = rest
        for kind, per in sorted(kinds.items(), key=lambda kv: -max(kv[1].values())):
            row = [name, kind] + [f"{per.get(b, 0):,}" for b in backends]
            if len(backends) == 2:
                row.append(ratio(per.get("portable"), per.get("cmsis-nn")))
            krows.append(row)
    khead = ["model", "layer kind"] + [f"{b}" for b in backends] + (["portable / cmsis-nn"] if len(backends) == 2
                                                                    else [])
    md += [markdown_table(khead, krows), ""]

    layer_md = ["## Every layer", ""]
    lrows = []
    for name in models:
        first = data[f"{name}/{backends[0]}"]["layers"]
        by_b = {b: {r["index"]: r["instructions"] for r in data[f"{name}/{b}"]["layers"]} for b in backends}
        for r in first:
            row = [name, str(r["index"]), r["kind"], r["what"]] + [f"{by_b[b].get(r['index'], 0):,}" for b in backends]
            if len(backends) == 2:
                row.append(ratio(by_b["portable"].get(r["index"]), by_b["cmsis-nn"].get(r["index"])))
            lrows.append(row)
    layer_md += [markdown_table(["model", "layer", "kind", "shape"] + backends +
                                (["portable / cmsis-nn"] if len(backends) == 2 else []), lrows), ""]
    print("\n".join(md + (layer_md if args.layers else [])))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text("\n".join(md + layer_md) + "\n")
        Path(args.out).with_suffix(".json").write_text(json.dumps(data, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
