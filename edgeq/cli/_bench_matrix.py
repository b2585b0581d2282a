"""``edgeq bench matrix``: every model on every labgrid place (argument group and dispatch; wired in by
:mod:`edgeq.cli.bench_cmd`). The work is :func:`edgeq.bench.matrix.run_matrix`.

Nothing heavy at import time: ``edgeq --help`` imports this module.
"""

from __future__ import annotations


def add_matrix_arguments(p) -> None:
    g = p.add_argument_group(
        "matrix (edgeq bench matrix: every model on every labgrid place, in parallel, resumable)")
    g.add_argument("--models", nargs="+", default=None, metavar="MODEL.tflite",
                   help="matrix: the models (default: models: of --farm)")
    g.add_argument("--places", nargs="+", default=None, metavar="NAME",
                   help="matrix: the labgrid places, one worker each (default: places: of --farm)")
    g.add_argument("--farm", default=None, metavar="FARM.yaml",
                   help="each place's board and flash command (and the models, runs, coordinator): see README, "
                        "board farm; also for edgeq flash --place")


def run_matrix_cmd(args, rest: list[str]) -> int:
    from edgeq.bench.matrix import MatrixOptions, pair_line, run_matrix
    from edgeq.cli._out import emit
    from edgeq.errors import EdgeqError

    if rest:
        raise EdgeqError(f"unexpected argument {rest[0]!r} after 'matrix'",
                         hint="edgeq bench matrix --models A.tflite B.tflite --places P1 P2 -o DIR")
    for opt in ("local", "port", "board", "place", "inputs", "labels", "plot", "csv", "firmware"):
        if getattr(args, opt, None):
            raise EdgeqError(f"--{opt} does not go with 'matrix'", where=f"--{opt}",
                             hint="the matrix flashes and benchmarks each place itself")
    if args.protocol != "edgeq" or not args.verify:
        raise EdgeqError("the matrix runs the edgeq protocol with every output verified",
                         hint="drop --protocol/--no-verify")
    if not args.output:
        raise EdgeqError("the matrix needs an output folder", where="-o", hint="-o DIR (results, state, report)")
    farm = None
    if args.farm:
        from edgeq.bench.farmfile import load_farm

        farm = load_farm(args.farm)
    models = args.models or (farm.models if farm else [])
    places = args.places or (list(farm.places) if farm else [])
    runs = args.runs if args.runs is not None else ((farm.runs if farm else None) or 20)
    if args.warmup is not None:
        raise EdgeqError("--warmup does not go with 'matrix' (each run has one warm-up)", where="--warmup")
    if args.max_retries < 0:
        raise EdgeqError(f"--max-retries must be >= 0, got {args.max_retries}")
    report = run_matrix(MatrixOptions(models=models, places=places, out_dir=args.output,
                                      coordinator=args.coordinator, farm=farm, runs=runs, timeout=args.timeout,
                                      max_retries=args.max_retries, seed=getattr(args, "seed", 0) or 0,
                                      backend=args.backend))
    text = report.pop("text")
    failed = [p for p in report["pairs"] if p["status"] not in ("ok", "mismatch")]
    tail = "".join(f"\n{p['model']} @ {p['place']}: {pair_line(p)}" for p in failed)
    emit(args, report, f"{text}\n\nreport: {report['markdown']}, {report['plot']}, "
                       f"{report['markdown'][:-3]}.json{tail}")
    return 0 if report["complete"] and not report["counts"]["mismatch"] else 1
