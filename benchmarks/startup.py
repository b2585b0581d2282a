#!/usr/bin/env python3
"""Start-up time of the light commands (target: well under 0.5 s, without importing TensorFlow).

    python benchmarks/startup.py [--runs 10]

Runs each command as a new process (what a user waits for), interleaved, and prints the median and max wall time,
plus which heavy modules each one imported (none expected).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODELS = Path(os.environ.get("EDGEQ_SHARED_MODELS", REPO.parent / "shared" / "models" / "mlperf-tiny"))
HEAVY = ("tensorflow", "keras", "tflite_micro", "ai_edge_litert", "matplotlib")

PROBE = ("import sys, runpy; sys.argv = ['edgeq'] + sys.argv[1:]\n"
         "try:\n    runpy.run_module('edgeq', run_name='__main__')\nexcept SystemExit:\n    pass\n"
         f"print('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    kws = MODELS / "kws_ref_model.tflite"
    commands = {
        "edgeq --help": ["--help"],
        "edgeq inspect KWS": ["inspect", str(kws)],
        "edgeq inspect KWS --json": ["inspect", str(kws), "--json"],
        "edgeq boards": ["boards"],
    }
    times: dict[str, list[float]] = {k: [] for k in commands}
    heavy: dict[str, str] = {}
    for _ in range(args.runs):
        for name, argv in commands.items():
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "edgeq", *argv], capture_output=True)
            times[name].append(time.perf_counter() - t0)
            if proc.returncode != 0:
                print(f"{name} failed: {proc.stderr.decode()[-500:]}", file=sys.stderr)
                return 1
    for name, argv in commands.items():
        proc = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True)
        heavy[name] = next((ln[6:] for ln in proc.stderr.splitlines() if ln.startswith("HEAVY=")), "?") or "none"
    print(f"Start-up, {args.runs} runs each, interleaved (python {sys.version.split()[0]}, load average "
          f"{os.getloadavg()[0]:.2f})\n")
    print("| command | median s | max s | heavy modules imported |\n|---|---:|---:|---|")
    for name, ts in times.items():
        print(f"| `{name}` | {statistics.median(ts):.3f} | {max(ts):.3f} | {heavy[name]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
