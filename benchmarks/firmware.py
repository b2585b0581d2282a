"""Firmware footprint and speed on the emulated Cortex-M4 (qemu-m4, QEMU mps2-an386), per MLPerf Tiny model.

For every model and backend (portable; cmsis-nn when a CMSIS-NN checkout is given with $EDGEQ_CMSIS_NN_DIR):
`edgeq export --board qemu-m4 --build`, run it in QEMU (`-icount shift=0`), load one input over the emulated UART
(edgeq-load), run one warm-up + one timed inference (edgeq-run), check the output against the TFLM reference
interpreter, and read:

* flash: the image's allocated sections with contents (vectors + text + rodata + .data's initial values);
* RAM: .data + .bss (arena, scratch, input buffer, protocol state) + the stack high-water mark the firmware reports
  (edgeq-info; the stack is painted at reset);
* instructions per inference: SysTick ticks x 40 (25 MHz SysTick, 1 instruction per virtual ns with -icount
  shift=0). Instruction counts, NOT time on a real chip.

Side by side: the TFLM figures measured on the same board with the same counting (../shared/reference/
tflm-anchors.md: TFLM 90b983c2, arm-none-eabi-gcc 12.2 -O2, newlib-nano). Their flash includes TFLM's interpreter
and the .tflite; their RAM is arena_used_bytes() (or the arena really needed) without stack or static data.

    EDGEQ_CMSIS_NN_DIR=/work/cmsis-nn python benchmarks/firmware.py [--out benchmarks/results/firmware.md]
Takes a few minutes (most of it compiling the weight arrays and uploading VWW's 27 KB input at ~8 kB/s).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]
# benchmarks/serial.py would shadow pyserial: drop this folder from the import path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from edgeq.cli._out import markdown_table  # noqa: E402

BOARD = "qemu-m4"
MODELS = {
    "KWS": "kws_ref_model.tflite",
    "IC": "pretrainedResnet_quant.tflite",
    "VWW": "vww_96_int8.tflite",
    "AD": "ad01_int8.tflite",
}
#: ../shared/reference/tflm-anchors.md (qemu-m4, -icount shift=0, same counting): flash B, RAM B, instructions
TFLM = {
    "KWS": {"ref": (128160, 22772, 198620372), "cmsis": (171764, 22820, 7698356), "cmsis_int8_flash": 139260},
    "IC": {"ref": (179084, 54340, 824058640), "cmsis": (213260, 54996, 29865232), "cmsis_int8_flash": 183824},
    "VWW": {"ref": (434664, 100660, 552366964), "cmsis": (478268, 100708, 24118408), "cmsis_int8_flash": 445764},
    "AD": {"ref": (322456, 2704, 1953028), "cmsis": (335232, 3024, 583716), "cmsis_int8_flash": 330968},
}


def models_dir() -> Path:
    env = os.environ.get("EDGEQ_SHARED_MODELS")
    return Path(env) if env else REPO.parent / "shared" / "models" / "mlperf-tiny"


def build(model: Path, backend: str, out: Path):
    from edgeq.targets.export import export

    return export(model, BOARD, out, backend=backend, build=True, force=True)


def measure(res, model: Path, seed: int = 0) -> dict:
    from fwutil import Serial, random_input, tflm_outputs

    from edgeq.targets.boards import get_board
    from edgeq.targets.build import elf_sections
    from edgeq.targets.emulators import start_emulator

    x = random_input(model, seed)
    ref = tflm_outputs(model, x)
    t0 = time.monotonic()
    with start_emulator(BOARD, res.out_dir) as emu:
        link = Serial(emu.url, timeout=120)
        try:
            link.boot()
            assert link.load(x.tobytes()) == ["m-load-done"]
            upload_s = time.monotonic() - t0
            ticks, out = link.run(warmup=1)
            info = link.info()
        finally:
            link.close()
    secs = {s["name"]: s for s in elf_sections(res.build.firmware)}
    static = sum(s["size"] for n, s in secs.items() if s["write"] and n != ".stack")
    per_tick = get_board(BOARD).timer["per_tick"]
    return {
        "flash": res.build.flash_bytes,
        "ram": static + info["stack_used"],
        "ram_static": static,
        "stack_used": info["stack_used"],
        "arena": info["arena_bytes"],
        "ticks": ticks,
        "instructions": int(ticks * per_tick),
        "verified": out == ref,
        "upload_s": round(upload_s, 2),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", help="also write the Markdown report here (and a .json next to it)")
    ap.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    args = ap.parse_args(argv)

    from edgeq.targets.boards import cmsis_nn_available

    mdir = models_dir()
    backends = ["portable"] + (["cmsis-nn"] if cmsis_nn_available(None) else [])
    started = time.monotonic()
    results: dict[str, dict[str, dict]] = {m: {} for m in args.models}
    with tempfile.TemporaryDirectory(prefix="edgeq-fw-bench-") as tmp:
        jobs = [(m, b) for m in args.models for b in backends]

        def do_build(job):
            m, b = job
            return job, build(mdir / MODELS[m], b, Path(tmp) / f"{m}-{b}")

        with ThreadPoolExecutor(max_workers=2) as ex:
            built = dict(ex.map(do_build, jobs))
        for (m, b), res in built.items():  # QEMU runs one at a time: the counts do not depend on load, uploads do
            results[m][b] = measure(res, mdir / MODELS[m])
            print(f"{m} {b}: {results[m][b]}", file=sys.stderr)

    rows = []
    for m in args.models:
        r = results[m]
        p = r["portable"]
        c = r.get("cmsis-nn")
        t = TFLM[m]
        ratio = f"{p['instructions'] / c['instructions']:.2f}x" if c else "n/a"
        rows.append([m, "edgeq portable", f"{p['flash']:,}", f"{p['ram']:,}", f"{p['instructions']:,}",
                     ratio, "yes" if p["verified"] else "NO"])
        if c:
            rows.append([m, "edgeq cmsis-nn", f"{c['flash']:,}", f"{c['ram']:,}", f"{c['instructions']:,}",
                         "1.00x", "yes" if c["verified"] else "NO"])
        rows.append([m, "TFLM reference kernels (anchor)", f"{t['ref'][0]:,}", f"{t['ref'][1]:,}",
                     f"{t['ref'][2]:,}", f"{t['ref'][2] / c['instructions']:.2f}x" if c else "", "(anchor)"])
        rows.append([m, "TFLM + CMSIS-NN (anchor)", f"{t['cmsis'][0]:,} ({t['cmsis_int8_flash']:,} int8-only)",
                     f"{t['cmsis'][1]:,}", f"{t['cmsis'][2]:,}",
                     f"{t['cmsis'][2] / c['instructions']:.2f}x" if c else "", "(anchor)"])
    table = markdown_table(["model", "build", "flash B", "RAM B", "instructions / inference",
                            "vs edgeq cmsis-nn", "output = TFLM"], rows)
    elapsed = time.monotonic() - started
    report = "\n".join([
        "# Firmware on qemu-m4 (QEMU mps2-an386, Cortex-M4F): flash, RAM, instructions per inference",
        "",
        f"Measured by `benchmarks/firmware.py` in {elapsed:.0f} s; backends: {', '.join(backends)}"
        + ("" if "cmsis-nn" in backends else " (set EDGEQ_CMSIS_NN_DIR for the cmsis-nn column)") + ".",
        "edgeq flash = vectors + text + rodata (+ .data init); edgeq RAM = .data + .bss + stack high-water (the "
        "firmware's own measurement; it includes the protocol's own copy of the input, e.g. 27,648 B for VWW, and "
        "the 80-byte command line). Instructions = SysTick ticks x 40 under `-icount shift=0` (1 instruction per "
        "virtual ns): instruction counts, not time on a real chip. TFLM rows: tflm-anchors.md (same board, same "
        "counting; flash includes the interpreter and the .tflite, RAM is the arena only).",
        "",
        table,
        "",
        "Per-model details (JSON): arena bytes, static RAM, stack high-water, SysTick ticks, upload time.",
    ])
    print(report)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(report + "\n")
        out.with_suffix(".json").write_text(json.dumps({"board": BOARD, "backends": backends, "results": results,
                                                        "tflm_anchors": TFLM, "elapsed_s": round(elapsed, 1)},
                                                       indent=2) + "\n")
    return 0 if all(r["verified"] for mr in results.values() for r in mr.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
