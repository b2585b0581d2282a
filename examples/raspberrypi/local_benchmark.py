"""Benchmark .tflite models on the Raspberry Pi itself with LiteRT, side by side.

Every model x thread count x XNNPACK setting is measured in ONE interleaved run (round-robin), so throttling or a
background job on the Pi slows all of them alike and the comparison stays fair. Only invoke() is timed.

    python local_benchmark.py                                   # MLPerf Tiny KWS: int8 vs the hybrid "float" model
    python local_benchmark.py a_int8.tflite a_float.tflite --threads 1,4 --xnnpack both --runs 300
    python local_benchmark.py model.tflite --json report.json   # also save the edgeq bench --local JSON

The same measurement for one setting is `edgeq bench --local MODEL [MODEL ...] --threads N`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from edgeq.errors import EdgeqError
from edgeq.runtime import BenchSpec, bench_local


def shared_models() -> Path:
    env = os.environ.get("EDGEQ_SHARED_MODELS")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "models" / "mlperf-tiny"


def parse_threads(text: str) -> list[int]:
    try:
        values = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers like 1,4, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("thread counts must be >= 1")
    return values


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="*", type=Path, help="models to compare (default: MLPerf Tiny KWS int8 + float)")
    ap.add_argument("--threads", type=parse_threads, default=[1], help="comma-separated thread counts (default 1)")
    ap.add_argument("--xnnpack", choices=["on", "off", "both"], default="on", help="XNNPACK delegate (default on)")
    ap.add_argument("--runs", type=int, default=100, help="timed runs per configuration (default 100)")
    ap.add_argument("--warmup", type=int, default=10, help="warm-up runs per configuration (default 10)")
    ap.add_argument("--json", type=Path, default=None, help="also write the report as JSON to this file")
    args = ap.parse_args(argv)

    models = args.models or [shared_models() / "kws_ref_model.tflite",
                             shared_models() / "kws_ref_model_float32.tflite"]
    xnn = {"on": [True], "off": [False], "both": [True, False]}[args.xnnpack]
    specs = [
        BenchSpec(m, threads=t, xnnpack=x, label=f"{m.name} {t}T XNNPACK {'on' if x else 'off'}")
        for m in models for t in args.threads for x in xnn
    ]
    try:
        report = bench_local(specs, runs=args.runs, warmup=args.warmup)
        if args.json:
            from edgeq._fs import atomic_write_text

            atomic_write_text(args.json, json.dumps(report.to_dict(), indent=2) + "\n")
    except EdgeqError as exc:
        print(f"local_benchmark.py: error: {exc.one_line()}", file=sys.stderr)
        return 2

    rt = report.results[0].runtime
    print(f"{rt['package']} {rt['version']}: {args.warmup} warm-up + {args.runs} timed runs each, "
          f"{len(specs)} configurations interleaved; latency of one invoke() in microseconds")
    print("| model | threads | XNNPACK | p50 | mean | p90 | p99 | min | max |")
    print("|---|---|---|---|---|---|---|---|---|")
    for spec, r in zip(specs, report.results):
        s = r.latency
        print(f"| {Path(r.model).name} | {r.threads} | {'on' if r.xnnpack else 'off'} | {s.p50:.1f} | {s.mean:.1f} "
              f"| {s.p90:.1f} | {s.p99:.1f} | {s.min:.1f} | {s.max:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
