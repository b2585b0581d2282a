"""``edgeq bench``: latency benchmarks.

Modes (``run()`` dispatches on them):

* ``edgeq bench --local MODEL.tflite [MODEL2 ...]``: on this machine with LiteRT, several models measured side by
  side (interleaved round-robin) in one run -> :func:`_run_local`.
* ``edgeq bench --port PORT|URL | --board BOARD --model MODEL``: on a microcontroller over serial ->
  :func:`_run_device` (the serial-device mode; not part of this build yet).
* ``edgeq bench compare A.json B.json``: compare two saved reports -> :func:`_run_compare` (not part of this build
  yet).

Options shared by every mode (``--runs``, ``--warmup``, ``--json``) are added in :func:`add_arguments`; each mode adds
its own group (``_add_local_arguments``, ``_add_device_arguments``).
"""

from __future__ import annotations

import argparse

from edgeq._argtypes import SEED, THREADS, count

HELP = "measure inference latency: on this machine (--local, LiteRT) or on a board over serial"
DESCRIPTION = (
    "Measure per-inference latency. --local MODEL [MODEL ...] runs on this machine with LiteRT (like TFLite's "
    "benchmark_model: warmup, timed runs around invoke() only, min/p50/mean/p90/p99/max/std in microseconds); "
    "several models are measured interleaved in one run so machine noise affects all of them equally."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "action", nargs="*", metavar="compare A.json B.json",
        help="'compare A.json B.json' compares two saved --json reports; 'matrix' runs every --models x "
             "--places pair on a labgrid farm (-o DIR: per-pair results, a resumable state file, matrix.md/json/png)",
    )
    p.add_argument("--runs", type=count(1, 10_000_000), default=None, metavar="N",
                   help="timed runs per model (local default 100)")
    p.add_argument("--warmup", type=count(0, 10_000_000), default=None, metavar="W",
                   help="untimed warm-up runs per model (local default 10)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _add_local_arguments(p)
    _add_device_arguments(p)
    from edgeq.cli._bench_matrix import add_matrix_arguments

    add_matrix_arguments(p)


def _add_local_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("local mode (this machine, LiteRT)")
    g.add_argument("--local", nargs="+", metavar="MODEL.tflite", default=None,
                   help="benchmark these models here, side by side in one interleaved run")
    g.add_argument("--threads", type=THREADS, default=None, metavar="N", help="interpreter threads (default 1)")
    g.add_argument("--no-xnnpack", dest="xnnpack", action="store_false",
                   help="disable the XNNPACK delegate (plain builtin kernels)")
    g.add_argument("--runtime", default="auto", choices=["auto", "litert", "tflite-runtime", "tensorflow"],
                   help="which interpreter to use (default: auto = the first one installed)")
    g.add_argument("--seed", type=SEED, default=0, help="seed of the random input data (default 0)")


def _add_device_arguments(p: argparse.ArgumentParser) -> None:
    """Serial-device mode options (the implementation lives in :mod:`edgeq.cli._bench_device`)."""
    from edgeq.cli._bench_device import add_device_arguments

    g = p.add_argument_group("device mode (a board over serial, or an emulated one)")
    g.add_argument("--port", default=None, metavar="PORT|URL|auto",
                   help="serial port (/dev/ttyACM0, COM3), pyserial URL (socket://127.0.0.1:PORT, rfc2217://...), or "
                        "auto: the one port whose USB VID:PID is --board's (any board of the table without --board)")
    g.add_argument("--board", default=None, metavar="BOARD",
                   help="an emulated board (qemu-m4, qemu-m7, qemu-m55, uno): started, benchmarked and stopped; "
                        "with --port auto: the real board to look for")
    g.add_argument("--model", default=None, metavar="MODEL.tflite",
                   help="the model the firmware runs: checked against the device (SHA-256), used to verify outputs")
    add_device_arguments(g)


def run(args) -> int:
    from edgeq.errors import EdgeqError

    action = list(getattr(args, "action", None) or [])
    if action:
        if action[0] == "compare":
            return _run_compare(args, action[1:])
        if action[0] == "matrix":
            from edgeq.cli._bench_matrix import run_matrix_cmd

            return run_matrix_cmd(args, action[1:])
        raise EdgeqError(
            f"unknown bench action {action[0]!r}",
            hint="use --local MODEL.tflite, --port PORT / --board BOARD, compare A.json B.json, or matrix",
        )
    if args.local:
        return _run_local(args)
    return _run_device(args)


# ----------------------------------------------------------------------------------------------------------- local


def _run_local(args) -> int:
    from pathlib import Path

    from edgeq.cli._out import emit, markdown_table
    from edgeq.errors import EdgeqError
    from edgeq.bench import local as bench_local

    if getattr(args, "port", None) or getattr(args, "board", None):
        raise EdgeqError("--local cannot be combined with --port/--board", hint="run one mode at a time")
    runs = 100 if args.runs is None else args.runs
    warmup = 10 if args.warmup is None else args.warmup
    if args.threads is not None and args.threads < 1:
        raise EdgeqError(f"--threads must be >= 1, got {args.threads}")
    from edgeq._fs import check_output_file

    for flag, path, example in (("--plot", args.plot, "latency.png"),
                                ("--csv", None if args.csv == "-" else args.csv, "latency.csv")):
        if path:
            check_output_file(path, example=example, what=f"{flag} output")
    if args.plot:
        from edgeq._plot import pyplot

        pyplot("--plot")  # a missing matplotlib is reported before the benchmark runs
    report = bench_local(args.local, runs=runs, warmup=warmup, threads=args.threads, xnnpack=args.xnnpack,
                         runtime=args.runtime, seed=args.seed, keep_samples=bool(args.plot or args.csv))
    obj = report.to_dict()
    if args.plot:
        obj["plot"] = str(report.plot(args.plot))
    if args.csv and args.csv != "-":
        from edgeq._fs import atomic_write_text

        obj["csv"] = str(atomic_write_text(args.csv, report.samples_csv()))
    if args.csv == "-" and not args.json:
        print(report.samples_csv(), end="")
        return 0

    names = [Path(r.model).name for r in report.results]
    if len(set(names)) < len(names):
        names = [r.model for r in report.results]
    rows = [
        [name, r.threads, "on" if r.xnnpack else "off", r.runs]
        + [f"{getattr(r.latency, k):.1f}" for k in ("min", "p50", "mean", "p90", "p99", "max", "std")]
        for name, r in zip(names, report.results)
    ]
    rts = {f"{r.runtime['package']} {r.runtime['version']}" for r in report.results}
    head = f"# local latency, {', '.join(sorted(rts))}, {warmup} warm-up + {runs} timed runs per model"
    if len(report.results) > 1:
        head += ", interleaved round-robin"
    table = markdown_table(
        ["model", "threads", "XNNPACK", "runs", "min us", "p50 us", "mean us", "p90 us", "p99 us", "max us", "std us"],
        rows,
    )
    emit(args, obj, f"{head}\n{table}")
    return 0


# ---------------------------------------------------------------------------------------------------------- device


def _run_device(args) -> int:
    """Serial-device mode (``--port`` / ``--board``): :func:`edgeq.cli._bench_device.run_device`."""
    from edgeq.errors import EdgeqError

    if not (getattr(args, "port", None) or getattr(args, "board", None) or getattr(args, "place", None)):
        raise EdgeqError(
            "nothing to benchmark",
            hint="use --local MODEL.tflite for this machine, or --port PORT / --board BOARD / --place NAME for a device",
        )
    from edgeq.cli._bench_device import run_device

    return run_device(args)


def _run_compare(args, files: list[str]) -> int:
    """``compare A.json B.json``: :func:`edgeq.cli._bench_device.run_compare`."""
    from edgeq.cli._bench_device import run_compare

    return run_compare(args, files)
