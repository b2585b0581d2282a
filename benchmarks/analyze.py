"""Calibrate and check `edgeq analyze`'s instruction estimate against instructions measured on qemu-m4.

Measuring: every model is exported for qemu-m4 (`edgeq.export`, portable and cmsis-nn backends) and its main.c is
replaced by a profiling main that fills the input with a fixed pseudo-random pattern, runs one warm-up inference,
then one more in which model.c's `EDGEQ_LAYER_DONE(index)` hook (compiled in with `-include prof.h`) reads the
SysTick counter after every layer. QEMU runs with `-icount shift=0`: one instruction per virtual ns, one SysTick tick
per 40 instructions (25 MHz) -- so these are instruction counts (+-40 per layer), not time on a real chip.

Fitting (default, or --fit): for every kernel kind (edgeq.targets.analyze.kernel_kind: backend, kernel, variant)
non-negative least squares of instructions = a x MACs + b x outputs + c x inputs + d over the measured layers of the
CALIBRATION models, written to edgeq/targets/cost_model.json (plus one fallback row per backend for kinds none of
them has, and the invoke overhead).

Checking: estimate (`edgeq analyze`) vs measured instructions per inference for KWS, IC, VWW and person_detect on
each backend, also leave-one-model-out (the model's own layers removed from the fit), in
benchmarks/results/analyze.md.

    EDGEQ_CMSIS_NN_DIR=../shared/third_party/cmsis-nn python benchmarks/analyze.py          # measure, fit, check
    EDGEQ_CMSIS_NN_DIR=../shared/third_party/cmsis-nn python benchmarks/analyze.py --check  # measure, check only
Takes a few minutes on 2 cores (building the weight arrays dominates).
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

import numpy as np  # noqa: E402

from edgeq._fmt import markdown_table  # noqa: E402
from edgeq.errors import UnsupportedError  # noqa: E402

SHARED = REPO.parent / "shared" / "models"
#: the acceptance models (estimate within 15 % of the measured count)
CHECK = {
    "KWS": SHARED / "mlperf-tiny" / "kws_ref_model.tflite",
    "IC": SHARED / "mlperf-tiny" / "pretrainedResnet_quant.tflite",
    "VWW": SHARED / "mlperf-tiny" / "vww_96_int8.tflite",
    "person_detect": SHARED / "tflite-micro" / "person_detect.tflite",
}
#: further models whose layers calibrate the table (the CHECK models' layers are used too)
EXTRA = {
    "AD": SHARED / "mlperf-tiny" / "ad01_int8.tflite",
    "ToyCar": SHARED / "mlperf-tiny" / "model_ToyCar_quant_fullint.tflite",
    "ResNet-large": SHARED / "mlperf-tiny" / "pretrainedResnet_large_int8.tflite",
    "str_ww": SHARED / "mlperf-tiny" / "str_ww_ref_model.tflite",
    "micro_speech": SHARED / "tflite-micro" / "micro_speech_quantized.tflite",
    "hello_world": SHARED / "tflite-micro" / "hello_world_int8.tflite",
    "keyword_scrambled": SHARED / "tflite-micro" / "keyword_scrambled_8bit.tflite",
    "lstm": SHARED / "tflite-micro" / "trained_lstm_int8.tflite",
}
RESULTS = REPO / "benchmarks" / "results"
COST_JSON = REPO / "edgeq" / "targets" / "cost_model.json"

PROF_H = """#ifndef EDGEQ_PROF_H
#define EDGEQ_PROF_H
#include <stdint.h>
void edgeq_prof_mark(int index);
#define EDGEQ_LAYER_DONE(index) edgeq_prof_mark(index)
#endif
"""

PROF_MAIN = r"""/* profiling main (benchmarks/analyze.py): SysTick after every layer of one inference, printed on the UART */
#include <stdint.h>
#include "edgeq_platform.h"
#include "model.h"

#define MAX_MARKS 1024
static uint32_t mark_index[MAX_MARKS];
static uint32_t mark_ticks[MAX_MARKS];
static volatile uint32_t n_marks;
static volatile int recording;

void edgeq_prof_mark(int index)
{
    uint32_t t = edgeq_plat_ticks();
    if (recording && n_marks < MAX_MARKS) {
        mark_index[n_marks] = (uint32_t)index;
        mark_ticks[n_marks] = t;
        n_marks++;
    }
}

static void put_str(const char *s) { while (*s) edgeq_plat_putc(*s++); }

static void put_u32(uint32_t v)
{
    char buf[11];
    int i = 10;
    buf[i] = 0;
    do { buf[--i] = (char)('0' + v % 10u); v /= 10u; } while (v);
    put_str(&buf[i]);
}

static void fill_inputs(void)
{
    uint32_t x = 12345u;
    int k;
    for (k = 0; k < EDGEQ_NUM_INPUTS; k++) {
        static const uint32_t bytes[] = {
#define B(i) EDGEQ_INPUT##i##_BYTES
            B(0)
#if EDGEQ_NUM_INPUTS > 1
            , B(1)
#endif
#if EDGEQ_NUM_INPUTS > 2
            , B(2)
#endif
        };
        uint8_t *p = (uint8_t *)edgeq_input(k);
        uint32_t i;
        for (i = 0; i < bytes[k]; i++) { x = x * 1103515245u + 12345u; p[i] = (uint8_t)(x >> 16); }
    }
}

int main(void)
{
    uint32_t start, end, i;
    int status, k;
    edgeq_plat_init();
    edgeq_reset();
    fill_inputs();
    (void)edgeq_invoke(); /* warm-up */
    edgeq_reset();
    fill_inputs();
    recording = 1;
    start = edgeq_plat_ticks();
    status = edgeq_invoke();
    end = edgeq_plat_ticks();
    recording = 0;
    put_str("S "); put_u32((uint32_t)status); put_str("\n");
    put_str("B "); put_u32(start); put_str("\n");
    for (i = 0; i < n_marks; i++) {
        put_str("L "); put_u32(mark_index[i]); put_str(" "); put_u32(mark_ticks[i]); put_str("\n");
    }
    put_str("E "); put_u32(end); put_str("\n");
    for (k = 0; k < EDGEQ_NUM_OUTPUTS; k++) { /* the outputs of the timed inference, as hex, for the exactness check */
        static const uint32_t out_bytes[] = {
#define OB(i) EDGEQ_OUTPUT##i##_BYTES
            OB(0)
#if EDGEQ_NUM_OUTPUTS > 1
            , OB(1)
#endif
#if EDGEQ_NUM_OUTPUTS > 2
            , OB(2)
#endif
        };
        const uint8_t *o = (const uint8_t *)edgeq_output(k);
        put_str("O ");
        for (i = 0; i < out_bytes[k]; i++) { edgeq_plat_putc("0123456789abcdef"[o[i] >> 4]);
                                            edgeq_plat_putc("0123456789abcdef"[o[i] & 15]); }
        put_str("\n");
    }
    put_str("END\n");
    edgeq_plat_flush();
    for (;;) {
    }
}
"""


def profile_input(model: Path) -> bytes:
    """The input bytes PROF_MAIN's fill_inputs() writes (the same generator, all inputs one after the other)."""
    from edgeq.reference import model_io

    x, out = 12345, bytearray()
    for spec in model_io(model)[0]:
        for _ in range(spec.nbytes):
            x = (x * 1103515245 + 12345) & 0xFFFFFFFF
            out.append((x >> 16) & 0xFF)
    return bytes(out)


def measure(model: Path, backend: str, cmsis_nn_dir: str | None, work: Path, board: str = "qemu-m4",
            optimize: str = "speed") -> dict:
    """Per-layer and total instructions of one inference of ``model`` on an emulated ``board`` (a QEMU board of
    edgeq/targets/boards.json; see the module docstring), the profiling firmware's ELF (``elf``) and the output
    bytes of the timed inference (``output``, all outputs one after the other)."""
    from edgeq.targets.boards import get_board
    from edgeq.targets.export import export

    b = get_board(board)
    per_tick = float(b.timer["per_tick"])
    out = work / f"{model.stem}-{backend}-{board}-{optimize}"
    export(model, board, out, runtime="edgeq", backend=backend, cmsis_nn_dir=cmsis_nn_dir, force=True,
           optimize=optimize)
    (out / "prof.h").write_text(PROF_H)
    (out / "main.c").write_text(PROF_MAIN)
    proc = subprocess.run(["make", "-s", "-j2", f"EXTRA_CFLAGS=-include {out / 'prof.h'}"], cwd=out,
                          capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"build of {model.name} ({backend}) failed:\n{proc.stderr[-3000:]}")
    qemu = subprocess.Popen(["qemu-system-arm", "-M", b.qemu["machine"], "-display", "none", "-monitor", "none",
                             "-no-reboot", "-icount", "shift=0", "-kernel", str(out / "build" / "firmware.elf"),
                             "-serial", "stdio"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines = []
    try:
        deadline = time.monotonic() + 600
        for line in qemu.stdout:
            lines.append(line.strip())
            if line.strip() == "END" or time.monotonic() > deadline:
                break
    finally:
        qemu.kill()
        qemu.wait()
    if not lines or lines[-1] != "END" or lines[0] != "S 0":
        raise RuntimeError(f"profiling {model.name} ({backend}, {board}) printed {lines[:3]}...")
    start = int(lines[1].split()[1])
    end = next(int(ln.split()[1]) for ln in lines if ln.startswith("E "))
    layers: dict[int, int] = {}
    prev = start
    for ln in lines:
        if ln.startswith("L "):
            _, idx, t = ln.split()
            layers[int(idx)] = round((int(t) - prev) * per_tick)
            prev = int(t)
    output = b"".join(bytes.fromhex(ln.split()[1]) for ln in lines if ln.startswith("O "))
    return {"total": round((end - start) * per_tick), "layers": layers, "elf": out / "build" / "firmware.elf",
            "output": output}


def layer_rows(model: Path, backend: str, cmsis_nn_dir: str | None) -> list[dict]:
    """Kind and features of every layer that runs code, as edgeq analyze sees them."""
    from edgeq.compiler import plan_model
    from edgeq.targets.analyze import kernel_kind, layer_features

    planned = plan_model(model, target="cortex-m4", backend=backend, cmsis_nn_dir=cmsis_nn_dir)
    return [{"index": layer.index, "kind": kernel_kind(layer, planned.backend_impl),
             "feats": list(layer_features(layer, planned.graph))}
            for layer in planned.lowered.layers
            if not layer.is_alias and layer.params.get("folded_into") is None]


def nnls(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    from scipy.optimize import nnls as _nnls

    # relative least squares: every layer counts by its share, so a 20-instruction RESHAPE-like layer and a
    # 3-million-instruction convolution both matter (weights 1 / max(measured, 200))
    w = 1.0 / np.maximum(b, 200.0)
    return _nnls(a * w[:, None], b * w)[0]


def fit(samples: list[dict], overhead: float) -> dict:
    """The cost table from (kind, feats, measured) samples."""
    kinds: dict[str, dict] = {}
    by_kind: dict[str, list[dict]] = {}
    for s in samples:
        by_kind.setdefault(s["kind"], []).append(s)
    for backend in ("portable", "cmsis-nn"):
        rows = [s for s in samples if s["kind"].startswith(backend + ":")]
        by_kind.setdefault("fallback:" + backend, rows)
    for kind, rows in sorted(by_kind.items()):
        a = np.array([r["feats"] + [1] for r in rows], dtype=np.float64)
        b = np.array([r["measured"] for r in rows], dtype=np.float64)
        if len(rows) < 4:  # too few layers for four coefficients: one per-output coefficient plus a constant
            a2 = a[:, [1, 3]] if not a[:, 0].any() else a[:, [0, 3]]
            c2 = nnls(a2, b)
            coef = [0.0, 0.0, 0.0, 0.0]
            if not a[:, 0].any():
                coef[1], coef[3] = c2
            else:
                coef[0], coef[3] = c2
        else:
            coef = list(nnls(a, b))
        kinds[kind] = {"coef": [round(float(c), 4) for c in coef], "layers": len(rows)}
    return {"kinds": kinds, "invoke_overhead": round(overhead)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="measure the CHECK models only; do not refit")
    ap.add_argument("--out", default=str(RESULTS / "analyze.md"))
    args = ap.parse_args()
    cmsis = os.environ.get("EDGEQ_CMSIS_NN_DIR") or str(REPO.parent / "shared" / "third_party" / "cmsis-nn")
    backends = ["portable", "cmsis-nn"] if Path(cmsis).is_dir() else ["portable"]
    models = dict(CHECK) if args.check else {**CHECK, **EXTRA}
    t0 = time.time()
    data: dict[str, dict] = {}
    samples: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="edgeq-analyze-") as tmp:
        for name, path in models.items():
            for be in backends:
                try:
                    rows = layer_rows(path, be, cmsis)
                    m = measure(path, be, cmsis, Path(tmp))
                except UnsupportedError as exc:  # a calibration model edgeq refuses is left out, and said so;
                    if name in CHECK:  # anything else (a build or run that fails) stops the benchmark
                        raise
                    print(f"skip {name} ({be}): {str(exc).splitlines()[0]}", file=sys.stderr)
                    continue
                for r in rows:
                    r.update(model=name, backend=be, measured=m["layers"].get(r["index"], 0))
                samples += rows
                data[f"{name}/{be}"] = {"total": m["total"], "layers": rows}
                print(f"{name} {be}: {m['total']:,} instructions, {len(rows)} layers", file=sys.stderr)
    overhead = float(np.median([d["total"] - sum(r["measured"] for r in d["layers"]) for d in data.values()]))
    if not args.check:
        table = fit(samples, overhead)
        table = {"_doc": "edgeq analyze's instruction cost per kernel kind: instructions = coef[0] x MACs + "
                         "coef[1] x output elements + coef[2] x input elements + coef[3]; fitted by "
                         "benchmarks/analyze.py from per-layer counts measured on qemu-m4 (-icount shift=0)",
                 "measured_on": f"qemu-m4 (QEMU mps2-an386, Cortex-M4F), -icount shift=0, per-layer SysTick, "
                                f"{len({s['model'] for s in samples})} models",
                 "models": sorted({s["model"] for s in samples}), **table}
        COST_JSON.write_text(json.dumps(table, indent=1) + "\n")
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "analyze_layers.json").write_text(json.dumps(data, indent=1) + "\n")
    from edgeq.targets import analyze as an

    an._cost_table.cache_clear()
    table = an.cost_table()
    out_rows = []
    worst = 0.0
    for name in CHECK:
        for be in backends:
            d = data[f"{name}/{be}"]
            est = an.analyze(CHECK[name], "qemu-m4", backend=be, cmsis_nn_dir=cmsis).instructions
            loo = fit([s for s in samples if s["model"] != name], overhead) if not args.check else None
            loo_est = None
            if loo:
                loo_est = int(sum(an.estimate_instructions(r["kind"], tuple(r["feats"]), loo)[0]
                                  for r in d["layers"]) + overhead)
            err = 100.0 * (est - d["total"]) / d["total"]
            worst = max(worst, abs(err))
            out_rows.append([name, be, f"{d['total']:,}", f"{est:,}", f"{err:+.1f} %",
                             "-" if loo_est is None else f"{100.0 * (loo_est - d['total']) / d['total']:+.1f} %"])
    md = ["# edgeq analyze: estimated vs measured instructions per inference on qemu-m4", "",
          f"Measured by `benchmarks/analyze.py{' --check' if args.check else ''}` in {time.time() - t0:.0f} s. "
          f"Measured = one inference on QEMU mps2-an386 (`-icount shift=0`, SysTick x 40); estimate = "
          f"`edgeq analyze MODEL --board qemu-m4 --backend B` with edgeq/targets/cost_model.json "
          f"({table['measured_on']}). Leave-one-out: the table refitted without that model's layers.", "",
          markdown_table(["model", "backend", "measured", "estimate", "error", "error, leave-one-out"], out_rows),
          "", f"Worst error: {worst:.1f} %."]
    Path(args.out).write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0 if worst <= 15.0 else 1


if __name__ == "__main__":
    sys.exit(main())
