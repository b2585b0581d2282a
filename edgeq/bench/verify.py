"""Verification of what the device returned: its raw outputs against the bit-exact host reference's, and the
``m-results-[...]`` scores of the MLPerf flow against what the MLPerf reference firmware prints for the reference
output."""

from __future__ import annotations

import numpy as np


def mismatch_detail(run: int, idx: int, expected: bytes, got: bytes) -> dict:
    """Where a device output differs from the reference's, for the report's ``mismatch_details``."""
    exp = np.frombuffer(expected, dtype=np.uint8)
    out = np.frombuffer(got, dtype=np.uint8)
    diff = np.flatnonzero(exp != out) if exp.size == out.size else np.arange(max(exp.size, 1))
    return {"run": run, "input": idx, "bytes_differing": int(diff.size),
            "first_byte": int(diff[0]) if diff.size else None}


def _tensor_spec(t) -> dict:
    return {"shape": list(t.shape), "dtype": t.dtype, "scale": t.scale, "zero_point": t.zero_point}


def check_mlperf_results(results: list[float], expected_out: bytes, payload: bytes, ref, model_id: str,
                         db_format: str) -> bool | None:
    """Compare an ``m-results-[...]`` vector with what the MLPerf reference firmware prints for the reference output
    (:func:`edgeq.bench.mlperf.reference_results`: same float arithmetic, same digits). None = not comparable."""
    from edgeq.bench import mlperf

    out0 = expected_out[:ref.outputs[0].nbytes]  # m-results are output 0's (m-out carries every output)
    want = mlperf.reference_results(model_id, out0, _tensor_spec(ref.outputs[0]), payload,
                                    _tensor_spec(ref.inputs[0]), db_format)
    if len(want) != len(results):
        return None if len(results) not in (1, len(want)) else False
    return all(float(w) == r for w, r in zip(want, results))

