"""Classify data with an int8 .tflite model on a Raspberry Pi, through edgeq.runtime (LiteRT, no TensorFlow).

With no arguments it runs the MLPerf Tiny keyword-spotting model (kws_ref_model.tflite, int8) on its sample MFCC
input and prints the top classes ("On" wins):

    python classify.py
    python classify.py --model kws_ref_model.tflite --input kws01_sample_mfcc_49x10_int8.bin --top-k 3
    python classify.py --model my_int8.tflite --input samples.npy --labels labels.txt --threads 4

Inputs: a .npy file (float values are quantized with the model's input scale/zero point; int8 values are used as
they are; a leading N runs N samples) or a raw .bin file in the model input's dtype. The MLPerf models are looked up
in $EDGEQ_SHARED_MODELS, else in ../shared/models/mlperf-tiny next to the edgeq checkout.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from edgeq.errors import EdgeqError
from edgeq.runtime import load_interpreter, run_model

KWS_LABELS = ["Down", "Go", "Left", "No", "Off", "On", "Right", "Stop", "Up", "Yes", "Silence", "Unknown"]
KNOWN_LABELS = {
    "kws_ref_model.tflite": KWS_LABELS,
    "kws_ref_model_float32.tflite": KWS_LABELS,
    "vww_96_int8.tflite": ["no person", "person"],
    "vww_96_float.tflite": ["no person", "person"],
    "pretrainedResnet_quant.tflite": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                                      "ship", "truck"],
}


def shared_models() -> Path:
    env = os.environ.get("EDGEQ_SHARED_MODELS")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "models" / "mlperf-tiny"


def load_input(path: Path, model) -> np.ndarray:
    """A .npy array as saved, or a raw .bin file read in the model input's dtype and shape."""
    if not path.is_file():
        raise EdgeqError("input file not found", where=str(path))
    if path.suffix == ".npy":
        return np.load(path, allow_pickle=False)
    info = model.inputs[0]
    flat = np.fromfile(path, dtype=info.dtype)
    sample = int(np.prod(info.shape[1:]))
    if flat.size == 0 or flat.size % sample:
        raise EdgeqError(f"{flat.size} {info.dtype.name} values do not fill input shape {info.shape}",
                         where=str(path))
    return flat.reshape((-1,) + tuple(info.shape[1:]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, default=None, help="int8 .tflite model (default: MLPerf Tiny KWS)")
    ap.add_argument("--input", type=Path, default=None, help=".npy or raw .bin input (default: the KWS sample)")
    ap.add_argument("--labels", type=Path, default=None, help="text file with one class name per line")
    ap.add_argument("--top-k", type=int, default=3, help="how many classes to print (default 3)")
    ap.add_argument("--threads", type=int, default=1, help="interpreter threads (default 1)")
    ap.add_argument("--no-xnnpack", dest="xnnpack", action="store_false", help="disable the XNNPACK delegate")
    args = ap.parse_args(argv)

    try:
        model_path = args.model or shared_models() / "kws_ref_model.tflite"
        input_path = args.input
        if input_path is None:
            if args.model is not None:
                raise EdgeqError("--input is required with --model")
            input_path = shared_models() / "kws01_sample_mfcc_49x10_int8.bin"
        model = load_interpreter(model_path, threads=args.threads, xnnpack=args.xnnpack)
        if len(model.inputs) != 1:
            raise EdgeqError("this example handles single-input models", where=str(model_path))
        if args.labels:
            labels = [ln.strip() for ln in args.labels.read_text().splitlines() if ln.strip()]
        else:
            labels = KNOWN_LABELS.get(Path(model_path).name)
        x = load_input(input_path, model)

        t0 = time.perf_counter()
        result = run_model(model, x)
        ms = (time.perf_counter() - t0) * 1000
    except (EdgeqError, OSError) as exc:
        msg = exc.one_line() if isinstance(exc, EdgeqError) else str(exc)
        print(f"classify.py: error: {msg}", file=sys.stderr)
        return 2

    info = model.inputs[0]
    print(f"model   {model_path} ({info.dtype.name} input {info.shape}, scale {info.scale:g}, zp {info.zero_point})")
    print(f"runtime {model.runtime} - {model.threads} thread(s), XNNPACK {'on' if model.xnnpack else 'off'}")
    rows = result.top_k(args.top_k)
    if result.batch is None:
        rows = [rows]
    for n, row in enumerate(rows):
        title = f"sample {n}" if result.batch is not None else "result"
        print(f"{title}:")
        for rank, (index, score) in enumerate(row, 1):
            name = labels[index] if labels and index < len(labels) else f"class {index}"
            print(f"  {rank}. {name:<12} {score:.4f}  (index {index})")
    print(f"{ms:.2f} ms for {result.batch or 1} sample(s), load and quantization included")
    return 0


if __name__ == "__main__":
    sys.exit(main())
