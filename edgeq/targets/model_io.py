"""What the firmware needs to know about a model's inputs and outputs, and which MLPerf Tiny model it is.

:func:`io_facts` describes one tensor the way the protocol and the templates use it (shape, dtype, quantization,
bytes); :func:`mlperf_id` names the MLPerf Tiny model a firmware answers ``profile`` with.
"""

from __future__ import annotations

from pathlib import Path

from edgeq.errors import UnsupportedError

#: the tensor types the benchmark protocol carries
IO_DTYPES = ("int8", "uint8", "int16", "int32", "float32")

#: MLPerf Tiny closed-division models by their I/O signature: (input shape, output shape) -> model id
MLPERF_SIGNATURES = {
    ((1, 49, 10, 1), (1, 12)): "kws01",
    ((1, 32, 32, 3), (1, 10)): "ic01",
    ((1, 96, 96, 3), (1, 2)): "vww01",
    ((1, 640), (1, 640)): "ad01",
}
#: what the official runner sends on the `db` path, per model id (benchmark/runner/datasets.py + the reference
#: submissions' th_load_tensor): int8 MFCC features (kws01), uint8 RGB pixels (ic01, vww01), float32 LE (ad01)
MLPERF_DB_DATA = {"kws01": "int8", "ic01": "uint8", "vww01": "uint8", "ad01": "float32"}


def io_facts(t) -> dict:
    """One model input or output (an :class:`edgeq.tflite.graph.Tensor`) as the firmware sees it: name, shape,
    dtype, scale and zero point (0 when not quantized), bytes, element count. Refuses a type the protocol does not
    carry."""
    import numpy as np

    if t.dtype not in IO_DTYPES:
        raise UnsupportedError(f"{t.dtype} model input/output {t.name!r}: the benchmark protocol carries "
                               f"{', '.join(IO_DTYPES)} tensors", hint="quantize the model to int8 I/O")
    quantized = bool(t.quant is not None and t.quant.is_quantized and t.scale != 0.0)
    return {
        "name": t.name,
        "shape": [int(d) for d in t.shape],
        "dtype": t.dtype,
        "scale": float(np.float32(t.scale)) if quantized else 0.0,
        "zero_point": int(t.zero_point) if quantized else 0,
        "bytes": int(t.nbytes),
        "count": int(t.num_elements),
        "quantized": quantized,
    }


def model_name(path: Path) -> str:
    """A valid C identifier and sketch name from the model's file name: ``kws_ref_model.tflite`` -> ``kws_ref_model``;
    a C keyword gets a suffix (``int.tflite`` -> ``int_model``); other characters are replaced (plus a short hash)."""
    from edgeq.compiler.names import c_identifier

    ident = c_identifier(path.stem or "model", max_len=40)
    if c_identifier(ident) != ident:  # a keyword got a trailing '_', which the next pass would strip
        ident = c_identifier(ident.rstrip("_") + "_model", max_len=46)
    return ident


def mlperf_id(name: str, inputs: list[dict] | None = None, outputs: list[dict] | None = None) -> str:
    """The MLPerf Tiny model id a model answers ``profile`` with: from its I/O shapes (the benchmark's models have
    distinctive ones), else from its file name (``spec.MLPERF_MODEL_IDS`` prefixes), else the model's name."""
    from edgeq import protocol_spec as spec

    if inputs and outputs:
        sig = (tuple(inputs[0]["shape"]), tuple(outputs[0]["shape"]))
        if sig in MLPERF_SIGNATURES:
            return MLPERF_SIGNATURES[sig]
    low = name.lower()
    for prefix, mid in spec.MLPERF_MODEL_IDS.items():
        if low.startswith(prefix.lower()):
            return mid
    return name
