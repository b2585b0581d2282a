"""``edgeq evaluate``: compare a reference .tflite with a candidate (accuracy, agreement, SQNR per layer, size)."""

from __future__ import annotations

import argparse

from edgeq._argtypes import count

HELP = "compare two .tflite models on data: accuracy, top-1 agreement, output and per-layer SQNR, size"
DESCRIPTION = (
    "Run REF.tflite (usually the float model) and CANDIDATE.tflite (usually its quantized version) on --data and "
    "print a Markdown table: accuracy of each (with --labels), top-1 agreement, output SQNR in dB, the SQNR of every "
    "matched intermediate tensor, and sizes. --plot writes a PNG of the per-layer SQNR."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("reference", metavar="REF.tflite", help="reference model (e.g. float32)")
    p.add_argument("candidate", metavar="CANDIDATE.tflite", help="model to compare (e.g. int8)")
    p.add_argument("--data", required=True, metavar="X.npy",
                   help="float input samples (first dimension = samples; .npz: key 'x' or the only array)")
    p.add_argument("--labels", metavar="Y.npy", help="class labels (N,) or one-hot (N, C): accuracy of each model")
    p.add_argument("--max-samples", type=count(1), default=None, metavar="N", help="use at most N samples")
    p.add_argument("--no-layers", action="store_true", help="skip the per-layer SQNR (faster)")
    p.add_argument("--plot", metavar="OUT.png", help="write a PNG plot of the per-layer SQNR")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")


def run(args: argparse.Namespace) -> int:
    from edgeq.cli._out import emit
    from edgeq.errors import EdgeqError

    if args.plot:
        from edgeq._fs import check_output_file

        check_output_file(args.plot, example="sqnr.png", what="--plot")
    if args.max_samples is not None and args.max_samples < 1:
        raise EdgeqError(f"--max-samples must be >= 1, got {args.max_samples}")
    from edgeq.api import evaluate

    report = evaluate(args.reference, args.candidate, args.data, args.labels, per_layer=not args.no_layers,
                      max_samples=args.max_samples, plot=args.plot, progress=None)
    result = report.to_dict()
    if report.plot_path is not None:
        result["plot"] = str(report.plot_path)
    emit(args, result, report.markdown())
    return 0
