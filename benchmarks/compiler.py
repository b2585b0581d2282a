"""edgeq's compiler on the MLPerf Tiny int8 models and an MCUNet-like net: RAM (static plan) against TFLM's arena
and the op-order bound, and flash for a Cortex-M4 build, for the portable and the CMSIS-NN backend.

    python benchmarks/compiler.py                                # Markdown report on stdout
    python benchmarks/compiler.py --json                         # one JSON object instead
    python benchmarks/compiler.py --cmsis-nn ~/src/CMSIS-NN      # or set EDGEQ_CMSIS_NN_DIR; without: portable only
    python benchmarks/compiler.py --out benchmarks/results/compiler.md
    python benchmarks/compiler.py --extra vww_int8io.tflite:mcunet-vww   # more models (label mcunet-vww: TinyEngine)

What is measured:
* RAM = arena + scratch of edgeq's plan (``EDGEQ_RAM_BYTES``: the one static array, activations and kernel scratch),
  compiled for ``--target cortex-m4`` (CMSIS-NN's DSP scratch rules; the portable kernels need no scratch).
* TFLM = "Arena allocation total" of the tflite-micro Python interpreter's ``print_allocations()`` (captured from C
  stderr): what the TFLM reference interpreter needs on this 64-bit host, persistent structures included; "head" is
  its activation plan alone (the part comparable to edgeq's arena).
* bound without in-place = max over ops of the activation bytes live at that op (planner.op_order_bound).
* op-order bound (per backend) = the least RAM any plan of this op order can have with that backend's kernels and
  in-place rules (planner.inplace_bound, defined in docs/compiler.md "Memory plan, in place"); RAM >= it always.
* MCUNet-like = benchmarks/mcunet_like.py (TF converter, explicit PADs, 3x3-7x7 depthwise, 80x80x3), built here
  (needs TensorFlow; --no-mcunet-like skips it). TinyEngine = the RAM TinyEngine plans for MCUNet-VWW (93,992 B,
  measured on the same int8 graph, see the project's tinyengine-anchor notes), shown for an --extra model labelled
  ``mcunet-vww``.
* flash = text + data of the generated C (model.c, model_data.c, the kernels) + ``int main(void){return
  edgeq_invoke();}``, arm-none-eabi-gcc -Os -mcpu=cortex-m4 -mfloat-abi=hard, --gc-sections, no startup or libc
  printf: constant data + code of the model alone.
Instructions per inference (QEMU -icount) are in benchmarks/firmware.py.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edgeq.cli._out import markdown_table  # noqa: E402

#: file stem -> label
MODELS = {
    "kws_ref_model": "KWS (DS-CNN)",
    "pretrainedResnet_quant": "IC (ResNet-8)",
    "vww_96_int8": "VWW (MobileNetV1 0.25)",
    "ad01_int8": "AD (FC autoencoder)",
    "str_ww_ref_model": "Streaming wake word",
    "pretrainedResnet_large_int8": "IC large ResNet",
}
M4_FLAGS = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
TARGET_GEOMEAN = 0.55
#: TFLM + CMSIS-NN on a 32-bit Cortex-M4 (QEMU mps2-an386, arena_used_bytes(), TFLM 90b983c2, measured 2026-11-28;
#: see the project's tflm-anchors notes): context for the 64-bit host figures measured here
TFLM_M4_CMSIS = {"kws_ref_model": 22820, "pretrainedResnet_quant": 54996, "vww_96_int8": 100708, "ad01_int8": 3024}
TARGET_KWS_FLASH = 64 * 1024
#: RAM TinyEngine plans (activations + im2col), by --extra label; MCUNet-VWW measured 2026-12-03 (commit 47bb283)
TINYENGINE_RAM = {"mcunet-vww": 93992}
MCUNET_LIKE_LABEL = "MCUNet-like (80x80, explicit PADs)"


def models_dir() -> Path:
    env = os.environ.get("EDGEQ_SHARED_MODELS")
    return Path(env) if env else REPO.parent / "shared" / "models" / "mlperf-tiny"


def tflm_arena(path: Path) -> dict:
    """TFLM reference interpreter: {"total": bytes, "head": bytes} from print_allocations() (C-level stderr)."""
    from tflite_micro.python.tflite_micro import runtime

    interp = runtime.Interpreter.from_file(str(path))
    with tempfile.TemporaryFile() as tmp:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)
        try:
            interp.print_allocations()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        text = tmp.read().decode(errors="replace")
    total = re.search(r"Arena allocation total (\d+) bytes", text)
    head = re.search(r"Arena allocation head (\d+) bytes", text)
    if not total:
        raise RuntimeError(f"no 'Arena allocation total' in TFLM's print_allocations() output for {path.name}")
    return {"total": int(total.group(1)), "head": int(head.group(1)) if head else None}


def m4_flash(out: Path) -> dict | None:
    """Build the generated C for Cortex-M4 at -Os; {"flash", "text", "data", "bss"} or None without a toolchain."""
    gcc = shutil.which("arm-none-eabi-gcc")
    size = shutil.which("arm-none-eabi-size")
    if not gcc or not size:
        return None
    (out / "edgeq_size_main.c").write_text('#include "model.h"\nint main(void) { return edgeq_invoke(); }\n')
    srcs = [str(p) for p in sorted(out.glob("*.c")) if p.name != "main_host.c"]
    elf = out / "size.elf"
    cmd = [gcc, *M4_FLAGS, "-Os", "-std=c99", "-Wall", "-Wextra", "-Werror", "-ffunction-sections",
           "-fdata-sections", *srcs, "-nostartfiles", "-specs=nano.specs", "-specs=nosys.specs", "-Wl,--gc-sections",
           "-Wl,-e,main", "-o", str(elf), "-lm"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"Cortex-M4 build of {out.name} failed:\n{proc.stderr[-2000:]}")
    fields = subprocess.run([size, str(elf)], capture_output=True, text=True, check=True).stdout.splitlines()[1]
    text, data, bss = map(int, fields.split()[:3])
    return {"flash": text + data, "text": text, "data": data, "bss": bss}


def compile_one(path: Path, backend: str, work: Path, cmsis_dir) -> dict:
    from edgeq.compiler import compile_model

    out = work / f"{path.stem}-{backend}"
    res = compile_model(path, target="cortex-m4", backend=backend, out_dir=out, force=True,
                        cmsis_nn_dir=cmsis_dir)
    max_scratch = max((row["scratch"] for row in res.memory_report), default=0)
    d = {"ram": res.ram_bytes, "arena": res.arena_bytes, "scratch": res.scratch_bytes, "max_scratch": max_scratch,
         "const": res.const_bytes, "inplace": len(res.inplace), "bound": res.bound,
         "inplace_choice": res.inplace_choice}
    fl = m4_flash(out)
    if fl:
        d.update(fl)
        d["code"] = fl["flash"] - res.const_bytes
    return d


def geomean(xs: list[float]) -> float:
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def run(cmsis_dir, work: Path, extra=(), mcunet_like: bool = True) -> dict:
    """``extra``: (path, label) of more models; ``mcunet_like``: also build and measure benchmarks/mcunet_like.py."""
    from edgeq.compiler.lower import buffer_requests, lower
    from edgeq.compiler.planner import op_order_bound
    from edgeq.tflite import read_model

    backends = ["portable"] + (["cmsis-nn"] if cmsis_dir else [])
    models = [(models_dir() / f"{stem}.tflite", stem, label, True) for stem, label in MODELS.items()]
    if mcunet_like:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from mcunet_like import build

        models.append((build(work / "mcunet_like.tflite"), "mcunet_like", MCUNET_LIKE_LABEL, False))
    models += [(Path(p), label, label, False) for p, label in extra]
    rows = []
    for path, key, label, mlperf in models:
        if not path.exists():
            continue
        graph = read_model(path)
        row = {"model": key, "label": label, "mlperf": mlperf,
               "bound": op_order_bound(buffer_requests(lower(graph))), "tflm": tflm_arena(path),
               "tinyengine": TINYENGINE_RAM.get(key)}
        for be in backends:
            d = compile_one(path, be, work, cmsis_dir)
            d["ratio_tflm"] = d["ram"] / row["tflm"]["total"]
            d["within_bound"] = d["ram"] <= row["bound"] + d["max_scratch"]
            d["at_bound"] = d["ram"] == d["bound"]
            row[be] = d
        rows.append(row)
    summary = {}
    for be in backends:
        mlperf = [r for r in rows if r["mlperf"]]
        s = {"geomean_ram_over_tflm": geomean([r[be]["ratio_tflm"] for r in mlperf]),
             "all_within_bound_plus_scratch": all(r[be]["within_bound"] for r in rows),
             "all_at_op_order_bound": all(r[be]["at_bound"] for r in rows)}
        kws = next((r for r in rows if r["model"] == "kws_ref_model"), None)
        if kws and "flash" in kws[be]:
            s["kws_flash"] = kws[be]["flash"]
            s["kws_flash_ok"] = kws[be]["flash"] <= TARGET_KWS_FLASH
        s["geomean_ok"] = s["geomean_ram_over_tflm"] <= TARGET_GEOMEAN
        m4 = [r[be]["ram"] / TFLM_M4_CMSIS[r["model"]] for r in mlperf if r["model"] in TFLM_M4_CMSIS]
        if m4:
            s["geomean_ram_over_tflm_m4_4models"] = geomean(m4)
        summary[be] = s
    return {"models": rows, "summary": summary, "backends": backends, "tools": tools(cmsis_dir)}


def tools(cmsis_dir) -> dict:
    out = {}
    gcc = shutil.which("arm-none-eabi-gcc")
    if gcc:
        out["arm-none-eabi-gcc"] = subprocess.run([gcc, "-dumpversion"], capture_output=True, text=True).stdout.strip()
    try:
        from importlib.metadata import version

        out["tflite-micro"] = version("tflite-micro")
    except Exception:  # pragma: no cover - reporting only
        pass
    if cmsis_dir:
        from edgeq.compiler.cmsis_nn import cmsis_nn_version

        out["cmsis-nn"] = cmsis_nn_version(Path(cmsis_dir))
    return out


def report(res: dict) -> str:
    bes = res["backends"]
    headers = ["model", "bound without in-place", "TFLM arena (head)", "TinyEngine RAM"]
    for be in bes:
        headers += [f"{be} op-order bound", f"{be} RAM (arena+scratch)", f"{be} / TFLM"]
    for be in bes:
        headers += [f"{be} flash M4 -Os (const+code)"]
    rows = []
    for r in res["models"]:
        t = r["tflm"]
        row = [r["label"], r["bound"], f"{t['total']} ({t['head']})", r.get("tinyengine") or "-"]
        for be in bes:
            d = r[be]
            ok = "" if d["within_bound"] else " **> bound+scratch**"
            row += [d["bound"], f"{d['ram']} ({d['arena']}+{d['scratch']}; max scratch {d['max_scratch']}){ok}"
                    + ("" if d["at_bound"] else " **> op-order bound**"), f"{d['ratio_tflm']:.3f}"]
        for be in bes:
            d = r[be]
            row += [f"{d['flash']} ({d['const']}+{d['code']})" if "flash" in d else "n/a"]
        rows.append(row)
    lines = ["# edgeq compiler: RAM and flash on the MLPerf Tiny int8 models (and MCUNet-like nets)", "",
             markdown_table(headers, rows), ""]
    for be in bes:
        s = res["summary"][be]
        lines.append(f"- **{be}**: geometric mean RAM/TFLM = {s['geomean_ram_over_tflm']:.3f} (target <= "
                     f"{TARGET_GEOMEAN}: {'met' if s['geomean_ok'] else 'NOT met'}, MLPerf models); RAM = op-order "
                     f"bound on every model: {'yes' if s['all_at_op_order_bound'] else 'NO'}; RAM <= bound without "
                     f"in-place + scratch: {'yes' if s['all_within_bound_plus_scratch'] else 'NO'}"
                     + (f"; KWS flash {s['kws_flash']} B (target <= {TARGET_KWS_FLASH}: "
                        f"{'met' if s['kws_flash_ok'] else 'NOT met'})" if "kws_flash" in s else ""))
    m4 = [f"{be} {res['summary'][be]['geomean_ram_over_tflm_m4_4models']:.3f}" for be in bes
          if "geomean_ram_over_tflm_m4_4models" in res["summary"][be]]
    if m4:
        lines.append("- against TFLM + CMSIS-NN's 32-bit arena measured on a Cortex-M4 (KWS 22820, IC 54996, VWW 100708, "
                     "AD 3024 B), geometric mean RAM/TFLM over those 4 models: " + ", ".join(m4))
    lines += [
        "",
        "RAM: edgeq's static plan for --target cortex-m4 (EDGEQ_RAM_BYTES: one array holding activations and kernel "
        "scratch; scratch that fits in a hole of the activation plan adds nothing; \"max scratch\" is the largest "
        "request of one kernel). TFLM: the tflite-micro reference interpreter's arena on this 64-bit host "
        "(print_allocations total; head = its activation plan alone). Op-order bound: the least RAM any plan of the "
        "op order can have with the backend's kernels and in-place rules (docs/compiler.md \"Memory plan, in "
        "place\"). Flash: generated C + a one-line main, "
        "arm-none-eabi-gcc -Os, --gc-sections, no startup/libc. Tools: "
        + ", ".join(f"{k} {v}" for k, v in res["tools"].items()) + ".",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--cmsis-nn", dest="cmsis_nn", default=os.environ.get("EDGEQ_CMSIS_NN_DIR") or None,
                    help="CMSIS-NN checkout (default $EDGEQ_CMSIS_NN_DIR); without it only the portable backend")
    ap.add_argument("--out", help="also write the report (Markdown, or JSON with --json) to this file")
    ap.add_argument("--extra", action="append", default=[], metavar="MODEL.tflite[:LABEL]",
                    help="measure this int8 model too (label mcunet-vww: TinyEngine's MCUNet-VWW, whose RAM under "
                         "TinyEngine is known)")
    ap.add_argument("--no-mcunet-like", action="store_true", help="do not build the MCUNet-like net (no TensorFlow)")
    args = ap.parse_args(argv)
    extra = [(e.rsplit(":", 1)[0], e.rsplit(":", 1)[1]) if ":" in e else (e, Path(e).stem) for e in args.extra]
    with tempfile.TemporaryDirectory(prefix="edgeq-bench-compiler-") as work:
        res = run(args.cmsis_nn, Path(work), extra, not args.no_mcunet_like)
    text = json.dumps(res, indent=1) + "\n" if args.json else report(res)
    sys.stdout.write(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
