"""edgeq inspect MODEL.tflite [--json] [--tensors]"""

from __future__ import annotations

HELP = ("show ops, tensors, quantization, sizes and an MCU check per runtime (edgeq C, TFLM) of a .tflite "
        "(no TensorFlow needed)")


def add_arguments(p) -> None:
    p.add_argument("model", help="the .tflite file")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--tensors", action="store_true", help="also list every tensor")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 when the model is invalid or no MCU runtime (edgeq C or TFLM) runs it (for "
                        "scripts)")


def run(args) -> int:
    from edgeq.cli._out import emit
    from edgeq.tflite import read_model
    from edgeq.tflite.inspect import format_text, inspect_model

    graph = read_model(args.model, validate=False)  # structural problems are reported, not raised
    report = inspect_model(graph)
    emit(args, report, None if args.json else format_text(graph, report, all_tensors=args.tensors))
    return 1 if args.strict and (not report["mcu"]["ok"] or report["problems"]) else 0
