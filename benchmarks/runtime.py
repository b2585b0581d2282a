"""Host runtime latency on the MLPerf Tiny models: float vs int8, 1 vs 2 threads, XNNPACK on vs off, and edgeq's own
per-invoke overhead versus calling the LiteRT interpreter directly.

Everything in one table is measured in ONE interleaved run (every round invokes each configuration once,
round-robin with a rotating start), so background load and frequency changes hit all configurations alike.
Only ``invoke()`` is timed for the latency table. Takes about a minute on an x86 laptop and a few on a Pi 4/5.

    python benchmarks/runtime.py                      # print the Markdown report
    python benchmarks/runtime.py --out report.md      # ... and save it
    EDGEQ_SHARED_MODELS=/path/to/mlperf-tiny python benchmarks/runtime.py --runs 500

The KWS "float" model of MLPerf Tiny (kws_ref_model_float32.tflite) is NOT pure float: it is a dynamic-range
("hybrid") model with int8 CONV_2D weights and float activations; the table says so.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edgeq.cli._out import markdown_table  # noqa: E402
from edgeq.runtime import BenchSpec, bench_local, load_interpreter, run_model  # noqa: E402
from edgeq.runtime.bench import random_inputs  # noqa: E402

#: benchmark -> (float model, float kind, int8 model)
MODELS = {
    "VWW (MobileNetV1 0.25, 96x96)": ("vww_96_float.tflite", "float32", "vww_96_int8.tflite"),
    "IC (ResNet-8, CIFAR-10)": ("pretrainedResnet.tflite", "float32", "pretrainedResnet_quant.tflite"),
    "KWS (DS-CNN)": ("kws_ref_model_float32.tflite", "hybrid*", "kws_ref_model.tflite"),
    "AD (FC autoencoder)": ("ad01_fp32.tflite", "float32", "ad01_int8.tflite"),
}
CONFIGS = [(1, True), (1, False), (2, True), (2, False)]  # (threads, xnnpack)


def models_dir() -> Path:
    env = os.environ.get("EDGEQ_SHARED_MODELS")
    return Path(env) if env else REPO.parent / "shared" / "models" / "mlperf-tiny"


def cpu_name() -> str:
    try:
        fields = {}
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip().lower(), value.strip())
        # x86: "model name"; Raspberry Pi: "Model" (e.g. "Raspberry Pi 5 Model B Rev 1.0") and "Hardware"
        for key in ("model name", "hardware"):
            if fields.get(key):
                return fields[key] + (f" ({fields['model']})" if "raspberry" in fields.get("model", "").lower() else "")
        if fields.get("model") and not fields["model"].isdigit():
            return fields["model"]
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _loadavg() -> str:
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except (OSError, AttributeError):
        return "n/a"


def latency_table(d: Path, runs: int, warmup: int) -> tuple[str, dict]:
    specs, keys = [], []
    for bench, (fmodel, fkind, imodel) in MODELS.items():
        for kind, name in ((fkind, fmodel), ("int8", imodel)):
            for threads, xnn in CONFIGS:
                specs.append(BenchSpec(d / name, threads=threads, xnnpack=xnn, label=f"{name} t{threads} x{xnn}"))
                keys.append((bench, kind, name, threads, xnn))
    t0 = time.perf_counter()
    report = bench_local(specs, runs=runs, warmup=warmup)
    elapsed = time.perf_counter() - t0
    stats = {k: r.latency for k, r in zip(keys, report.results)}

    headers = ["benchmark", "model", "kind"] + [
        f"{t} thr, XNNPACK {'on' if x else 'off'}" for t, x in CONFIGS
    ]
    rows = []
    for bench, (fmodel, fkind, imodel) in MODELS.items():
        for kind, name in ((fkind, fmodel), ("int8", imodel)):
            cells = []
            for threads, xnn in CONFIGS:
                s = stats[(bench, kind, name, threads, xnn)]
                cells.append(f"{s.p50:.1f} ({s.p90:.1f})")
            rows.append([bench, f"`{name}`", kind] + cells)
    table = markdown_table(headers, rows)

    # int8 speed-up over float, per configuration (p50 ratio)
    sp_rows = []
    for bench, (fmodel, fkind, imodel) in MODELS.items():
        cells = []
        for threads, xnn in CONFIGS:
            f = stats[(bench, fkind, fmodel, threads, xnn)].p50
            i = stats[(bench, "int8", imodel, threads, xnn)].p50
            cells.append(f"{f / i:.2f}x")
        sp_rows.append([bench, fkind] + cells)
    speed = markdown_table(["benchmark", "float kind"] + headers[3:], sp_rows)
    meta = {"configs": len(specs), "runs": runs, "warmup": warmup, "seconds": elapsed,
            "runtime": report.runtime}
    return table + "\n\nint8 speed-up over the float model (p50 float / p50 int8; > 1 means int8 is faster):\n\n" \
        + speed, meta


def overhead_table(d: Path, rounds: int) -> str:
    """edgeq vs direct LiteRT calls on the same interpreter, interleaved.

    * invoke: ``RuntimeModel.invoke()`` (what ``edgeq bench --local`` times) vs ``interpreter.invoke()``.
    * run: ``run_model(model, x)`` (shape/dtype check, set, invoke, get, dequantize, result object) vs the minimum a
      direct user writes: ``set_tensor``, ``invoke``, ``get_tensor``.
    """
    rows = []
    for bench, (_, _, imodel) in MODELS.items():
        m = load_interpreter(d / imodel, threads=1)
        it = m.interpreter
        x = random_inputs(m, seed=1)[0]
        i_idx, o_idx = m.inputs[0].index, m.outputs[0].index
        set_tensor, get_tensor, invoke = it.set_tensor, it.get_tensor, it.invoke

        def direct_run():
            set_tensor(i_idx, x)
            invoke()
            get_tensor(o_idx)

        out = m.outputs[0]
        zp, scale = np.float32(out.zero_point), np.float32(out.scale)

        def direct_run_deq():  # what a direct user writes to get the same float output
            set_tensor(i_idx, x)
            invoke()
            (get_tensor(o_idx).astype(np.float32) - zp) * scale

        def edgeq_run():
            run_model(m, x)

        fns = [it.invoke, m.invoke, direct_run, edgeq_run, direct_run_deq]
        n = max(200, rounds if "AD" in bench or "KWS" in bench else rounds // 4)
        samples = np.zeros((len(fns), n), dtype=np.int64)
        for f in fns:  # warm-up
            for _ in range(20):
                f()
        clock = time.perf_counter_ns
        gc.collect()
        gc.disable()
        try:
            for r in range(n):
                for k in range(len(fns)):
                    j = (r + k) % len(fns)
                    f = fns[j]
                    t0 = clock()
                    f()
                    samples[j, r] = clock() - t0
        finally:
            gc.enable()
        p50 = np.median(samples, axis=1) / 1000.0
        def pct(a: float, b: float) -> str:
            return f"{(a - b) / b * 100:+.1f} %"

        rows.append([
            bench, f"`{imodel}`", n,
            f"{p50[0]:.1f}", f"{p50[1]:.1f}", pct(p50[1], p50[0]),
            f"{p50[2]:.1f}", f"{p50[4]:.1f}", f"{p50[3]:.1f}",
            f"{p50[3] - p50[2]:+.1f} ({pct(p50[3], p50[2])})",
            f"{p50[3] - p50[4]:+.1f} ({pct(p50[3], p50[4])})",
        ])
    return markdown_table(
        ["benchmark", "int8 model", "rounds", "invoke: direct", "invoke: edgeq", "invoke overhead",
         "direct set+invoke+get", "direct + dequantize", "run_model", "run_model vs bare: us (%)",
         "run_model vs direct+dequantize: us (%)"],
        rows,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=200, help="timed rounds of the latency run (default 200)")
    ap.add_argument("--warmup", type=int, default=20, help="warm-up rounds (default 20)")
    ap.add_argument("--overhead-rounds", type=int, default=3000,
                    help="rounds of the overhead run for KWS/AD (a quarter for VWW/IC; default 3000)")
    ap.add_argument("--out", default=None, help="also write the report to this Markdown file")
    args = ap.parse_args(argv)

    d = models_dir()
    missing = [n for v in MODELS.values() for n in (v[0], v[2]) if not (d / n).is_file()]
    if missing:
        print(f"benchmarks/runtime.py: MLPerf Tiny models missing in {d}: {', '.join(missing)} "
              "(set EDGEQ_SHARED_MODELS)", file=sys.stderr)
        return 2

    load_before = _loadavg()
    table, meta = latency_table(d, args.runs, args.warmup)
    overhead = overhead_table(d, args.overhead_rounds)
    load_after = _loadavg()
    rt = meta["runtime"] or {}
    lines = [
        "## LiteRT latency on the MLPerf Tiny models",
        "",
        f"Host: {cpu_name()} ({platform.machine()}, {os.cpu_count()} logical CPUs), Python "
        f"{platform.python_version()}, NumPy {np.__version__}, {rt.get('package', '?')} {rt.get('version', '?')}. "
        f"{meta['configs']} configurations measured in one interleaved run: {meta['warmup']} warm-up + "
        f"{meta['runs']} timed rounds ({meta['seconds']:.0f} s). Cells: p50 (p90) latency of one invoke() in us. "
        f"1-minute load average before / after: {load_before} / {load_after} (with a load near or above the CPU "
        "count, the 2-thread columns measure contention, not the kernels).",
        "",
        table,
        "",
        "\\* `kws_ref_model_float32.tflite` is **not** a float model: it is dynamic-range (\"hybrid\") quantized, "
        "with int8 CONV_2D weights and float activations (DEPTHWISE_CONV_2D and FULLY_CONNECTED weights stay float).",
        "",
        "## edgeq overhead per invoke (int8 models, 1 thread, XNNPACK on, interleaved on the same interpreter)",
        "",
        "p50 in us. invoke: `RuntimeModel.invoke()` (what `edgeq bench --local` times) vs `interpreter.invoke()`. "
        "run: `run_model(model, x)` (shape/dtype checks, set, invoke, get, dequantize, result object) vs direct "
        "`set_tensor` + `invoke` + `get_tensor` (bare), and vs the same plus the dequantization a direct user "
        "writes to get the same float output. Target: < 5 %.",
        "",
        overhead,
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        from edgeq._fs import atomic_write_text

        atomic_write_text(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
