"""The device mode and ``compare`` of ``edgeq bench`` (argument group and dispatch; wired in by :mod:`edgeq.cli.bench_cmd`).

Nothing heavy at import time: ``edgeq --help`` imports this module.
"""

from __future__ import annotations

from edgeq._argtypes import count, seconds
from edgeq.compiler import BACKENDS, OPTIMIZE


def add_device_arguments(g) -> None:
    """Options of the device mode, added to ``g`` (bench_cmd's "device mode" group, which already has --port,
    --board and --model)."""
    g.add_argument("--baud", type=count(50, 100_000_000), default=None,
                   help="serial baud rate (default 115200, or the --place's serial speed; ignored by socket://)")
    g.add_argument("--place", default=None, metavar="NAME",
                   help="a labgrid place (board farm): acquired, its serial port benchmarked, released "
                        "(needs edgeq[farm])")
    g.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                   help="with --place: the labgrid coordinator (default $LG_COORDINATOR, else 127.0.0.1:20408)")
    g.add_argument("--flash", default=None, metavar="FIRMWARE",
                   help="with --place: flash this firmware (export folder or image) onto the place first, in the "
                        "same acquisition (the place's flash command from --farm, or edgeq's uploader on a local USB "
                        "port)")
    g.add_argument("--firmware", default=None, metavar="DIR",
                   help="with --board: the firmware folder `edgeq export --build` wrote (default: build from --model)")
    g.add_argument("--backend", default=None, choices=BACKENDS,
                   help="with --board and no --firmware: the backend to build with")
    g.add_argument("--optimize", default="speed", choices=OPTIMIZE,
                   help="with --board and no --firmware: build for speed (default) or for size, as edgeq export")
    g.add_argument("--inputs", default=None, metavar="X.npy",
                   help="inputs: one of the model's input shape or K stacked on axis 0 (float data is quantized); "
                        "default: seeded random inputs (--seed)")
    g.add_argument("--labels", default=None, metavar="Y.npy",
                   help="true class of every --inputs row: reports on-device accuracy and a confusion matrix next "
                        "to the reference's (TFLM) on the same inputs (every input runs at least once)")
    g.add_argument("--verify", dest="verify", action="store_true", default=True,
                   help="compare every device output with a bit-exact host reference (default: on)")
    g.add_argument("--no-verify", dest="verify", action="store_false", help="do not verify outputs")
    g.add_argument("--reference", default=None, choices=["tflm", "portable"],
                   help="reference engine (default: TFLM if installed, else the model compiled for this host)")
    g.add_argument("--protocol", default="edgeq", choices=["edgeq", "mlperf"],
                   help="edgeq: binary loads + per-inference timing (default); mlperf: the MLPerf Tiny runner flow "
                        "(db hex upload, infer N W, median of 5 windows); works with any MLPerf Tiny firmware")
    g.add_argument("--csv", nargs="?", const="-", default=None, metavar="OUT.csv",
                   help="per-run samples as CSV (to the file, or stdout without a file)")
    g.add_argument("--plot", default=None, metavar="OUT.png", help="histogram + timeline of the latencies (PNG)")
    g.add_argument("-o", "--output", default=None, metavar="RESULTS.json",
                   help="write the full JSON report here (partial results go here too on failure or Ctrl-C); "
                        "with matrix: the output folder")
    g.add_argument("--timeout", type=seconds(3600), default=3.0, metavar="S",
                   help="deadline of one answer line (default 3; finite, > 0, <= 3600)")
    g.add_argument("--max-retries", type=count(0, 1_000_000), default=10, metavar="N",
                   help="faults in a row (CRC, timeout, reset) before giving up (default 10)")
    g.add_argument("--progress", dest="progress", action="store_true", default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")
    g.add_argument("--no-progress", dest="progress", action="store_false")


def run_device(args) -> int:
    from edgeq._fs import MAX_DATA_BYTES, MAX_MODEL_BYTES, check_input_file, check_output_file
    from edgeq.errors import EdgeqError

    # every path is checked before an emulator starts or a run begins: a bad -o must not cost the whole benchmark
    for opt, path, example in (("-o", args.output, "results.json"), ("--plot", args.plot, "latency.png"),
                               ("--csv", None if args.csv == "-" else args.csv, "samples.csv")):
        if path:
            check_output_file(path, example=example, what=f"{opt} output")
    if args.model:
        check_input_file(args.model, what=".tflite model", max_bytes=MAX_MODEL_BYTES)
    if args.inputs:
        check_input_file(args.inputs, what="inputs file (.npy)", max_bytes=MAX_DATA_BYTES)
    if args.labels:
        check_input_file(args.labels, what="labels file (.npy)", max_bytes=MAX_DATA_BYTES)
    if args.timeout <= 0:
        raise EdgeqError(f"--timeout must be positive, got {args.timeout}")
    if args.max_retries < 0:
        raise EdgeqError(f"--max-retries must be >= 0, got {args.max_retries}")
    for opt in ("coordinator", "flash", "farm"):
        if getattr(args, opt, None) and not args.place:
            raise EdgeqError(f"--{opt} goes with --place", where=f"--{opt}", hint="add --place NAME")
    farm = None
    if args.farm:
        from edgeq.bench.farmfile import load_farm

        farm = load_farm(args.farm)
    if args.flash:
        from pathlib import Path

        if not Path(args.flash).exists():
            raise EdgeqError("no such firmware", where=str(args.flash), hint="give an export folder or an image")
    if args.place:
        if args.port or args.board:
            raise EdgeqError("--place cannot be combined with --port/--board", where="--place",
                             hint="the place's serial port is used: drop --port/--board")
        from edgeq.bench.farm import acquire_place, coordinator_address

        coordinator = coordinator_address(args.coordinator or (farm.coordinator if farm else None))
        with acquire_place(args.place, coordinator) as place:
            flashed = None
            if args.flash:
                from edgeq.bench.farmfile import PlaceConfig, flash_place

                cfg = farm.place(args.place) if farm else PlaceConfig(args.place)
                flashed = flash_place(place, cfg, args.flash, coordinator).to_dict()
            args.port = place.url
            if args.baud is None:
                args.baud = place.baud
            return _bench(args, extra={"place": place.to_dict(), "flash": flashed})
    if args.baud is None:
        args.baud = 115200
    return _bench(args)


def _bench(args, extra: dict | None = None) -> int:
    from edgeq.bench.report import samples_csv, summary_text, write_csv, write_plot
    from edgeq.cli._out import emit
    from edgeq.bench import device

    res = device(args.model, port=args.port, board=args.board, firmware=args.firmware, baud=args.baud,
                 inputs=args.inputs, runs=args.runs, warmup=args.warmup, verify=args.verify, protocol=args.protocol,
                 seed=getattr(args, "seed", 0) or 0, timeout=args.timeout, max_retries=args.max_retries,
                 reference=args.reference, output=args.output, progress=args.progress, backend=args.backend,
                 labels=args.labels, optimize=args.optimize)
    rep = res.report
    if extra:
        rep.update(extra)
        if args.output:
            from edgeq._fmt import to_json
            from edgeq._fs import atomic_write_text

            atomic_write_text(args.output, to_json(rep) + "\n")
    if args.plot:
        write_plot(rep, args.plot)
    if args.csv and args.csv != "-":
        write_csv(rep, args.csv)
    if args.csv == "-" and not args.json:
        print(samples_csv(rep), end="")
    else:
        emit(args, rep, summary_text(rep))
    return 1 if rep["mismatches"] else 0


def run_compare(args, files: list[str]) -> int:
    from edgeq.bench.report import compare, compare_text
    from edgeq.cli._out import emit
    from edgeq.errors import EdgeqError

    if len(files) != 2:
        raise EdgeqError("compare takes two reports", hint="edgeq bench compare A.json B.json")
    cmp = compare(files[0], files[1])
    emit(args, cmp, compare_text(cmp))
    return 0

