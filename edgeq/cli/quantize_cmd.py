"""``edgeq quantize``: post-training quantization of a Keras model, SavedModel or float .tflite."""

from __future__ import annotations

import argparse

from edgeq._argtypes import count

HELP = "post-training quantization: Keras/SavedModel/float .tflite -> int8, dynamic-range, float16 or float32 .tflite"
DESCRIPTION = (
    "Quantize MODEL (.keras, .h5, a SavedModel folder, or a float .tflite for int8) and write OUT.tflite. "
    "--mode int8 is static full-integer quantization with calibration data (--data), int8 I/O, batch 1, "
    "per-channel conv; the result is checked to be fully int8. Calibration methods other than minmax change the "
    "ranges the converter uses."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help=".keras / .h5 file, SavedModel folder, or float .tflite")
    p.add_argument("--mode", choices=("int8", "int16x8", "dynamic", "float16", "float32"), default="int8",
                   help="int8: full-integer static (default); int16x8: int16 activations, int8 weights (for "
                        "accuracy-sensitive models; TFLM runs it); dynamic: int8 weights, float activations; "
                        "float16; float32")
    p.add_argument("--data", metavar="CALIB.npy|.npz",
                   help="calibration samples for int8 (first dimension = samples; .npz: key 'x' or the only array)")
    p.add_argument("--calibration", choices=("minmax", "percentile", "mse", "entropy"), default=None,
                   help="how activation ranges are chosen from the calibration data (int8; default minmax)")
    p.add_argument("--io", choices=("int8", "int16", "float32"), default=None,
                   help="input/output type (default int8 for --mode int8, int16 for --mode int16x8)")
    p.add_argument("--per-tensor-dense", action="store_true",
                   help="per-tensor weights for fully-connected layers (most MCU models); conv stays per-channel")
    p.add_argument("--max-samples", type=count(1), default=None, metavar="N", help="use at most N calibration samples")
    p.add_argument("-o", "--output", required=True, metavar="OUT.tflite", help="where to write the model")
    p.add_argument("--force", action="store_true", help="replace an existing output file")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")


def run(args: argparse.Namespace) -> int:
    from edgeq._fs import check_output_file
    from edgeq.cli._out import emit
    from edgeq.errors import EdgeqError

    out = check_output_file(args.output, source=args.model, example="model_int8.tflite", force=args.force)
    if args.max_samples is not None and args.max_samples < 1:
        raise EdgeqError(f"--max-samples must be >= 1, got {args.max_samples}")

    from edgeq.api import quantize

    calibration = args.calibration
    if calibration is None:
        calibration = "minmax"
    result = quantize(args.model, args.mode, data=args.data, calibration=calibration, io=args.io,
                      per_tensor_dense=args.per_tensor_dense, max_samples=args.max_samples, output=out,
                      force=True, progress=None)
    emit(args, result.to_dict(), result.text())
    return 0
