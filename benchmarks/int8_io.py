"""Give a fully int8 .tflite with float I/O (a QUANTIZE after the input, a DEQUANTIZE before the output) int8 I/O:
the converter's own rewrite (TensorFlow Lite's modify_model_interface), which removes those two ops and moves their
scale and zero point onto the model's input and output tensors. The int8 layers are untouched.

    python benchmarks/int8_io.py vww.tflite vww_int8io.tflite    # TinyEngine's MCUNet-VWW (assets/vww.tflite)

Needs TensorFlow (the dev/benchmark extras); the result is what benchmarks/kernels.py and benchmarks/compiler.py
measure as ``--extra vww_int8io.tflite:mcunet-vww``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

INT8 = 9  # tflite::TensorType_INT8


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", type=Path, help="int8 .tflite with float32 input/output")
    ap.add_argument("out", type=Path, help="where to write the int8-I/O .tflite")
    args = ap.parse_args(argv)
    if not args.model.is_file():
        print(f"int8_io.py: {args.model}: no such file", file=sys.stderr)
        return 2
    try:
        from tensorflow.lite.python import _pywrap_modify_model_interface as rewrite
    except ImportError as e:
        print(f"int8_io.py: TensorFlow's modify_model_interface is not available ({e}); install tensorflow",
              file=sys.stderr)
        return 2
    tmp = args.out.with_name(args.out.name + ".part")
    status = rewrite.modify_model_interface(str(args.model), str(tmp), INT8, INT8)
    if status != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        print(f"int8_io.py: {args.model}: the rewrite failed (status {status}): is it a fully int8 model with "
              "float32 I/O?", file=sys.stderr)
        return 2
    tmp.replace(args.out)
    print(f"{args.out}: int8 input and output")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
