"""The values every firmware is rendered from: ``edgeq_config.h`` and the JSON ``info`` object the device prints on
``edgeq-info`` (docs/protocol.md): the model's I/O, the board and its timer, the MLPerf model id, what the `db` path
reads, how results are printed, the baud rate.
"""

from __future__ import annotations

import json

from edgeq.errors import EdgeqError
from edgeq.targets.boards import Board
from edgeq.targets.model_io import MLPERF_DB_DATA, mlperf_id

#: what the device reads on the MLPerf `db` path: ``auto`` and ``mlperf`` the official runner's data for an MLPerf
#: model (raw bytes for any other model), ``raw`` the input tensors' bytes as they are
DB_FORMATS = ("auto", "raw", "mlperf")


def _db_format(db_format: str, mid: str, inp: dict) -> tuple[str, int]:
    """(format the device reads on the `db` path, host bytes per input byte). ``auto``: the MLPerf runner's data
    format for an MLPerf model (so the official runner works with a default export), raw bytes otherwise."""
    if db_format not in DB_FORMATS:
        raise EdgeqError(f"unknown --db-format {db_format!r} (known: {', '.join(DB_FORMATS)})", where="--db-format")
    if db_format == "raw" or mid not in MLPERF_DB_DATA:
        return "raw", 1
    want = MLPERF_DB_DATA[mid]
    if want == "uint8" and inp["dtype"] == "int8" and inp["zero_point"] == -128:
        return "uint8", 1
    if want == "float32" and inp["dtype"] == "int8" and inp["quantized"]:
        return "float32", 4
    return "raw", 1  # int8 features (kws01), or a model whose input already is the runner's data (float32 I/O)


def db_format_note(cfg: dict) -> str:
    """One sentence saying what the firmware reads on the `db` path (``edgeq export`` prints it)."""
    mid, fmt, dt = cfg["mlperf_id"], cfg["db_format"], cfg["input"]["dtype"]
    what = {"uint8": "uint8 pixels (the device computes int8 = u8 - 128)",
            "float32": "float32 values (the device quantizes them; the anomaly score uses the floats)",
            "raw": f"the {dt} input tensor bytes as they are"}[fmt]
    if mid not in MLPERF_DB_DATA:
        return f"`db` takes {what}"
    runner = MLPERF_DB_DATA[mid] == (dt if fmt == "raw" else fmt)
    return (f"MLPerf model {mid}: `db` takes {what}, "
            + ("the MLPerf Tiny runner's data format" if runner else "NOT the MLPerf Tiny runner's data format")
            + f"; m-results printed as the reference firmware prints them; {cfg['baud']} baud")


def choose_baud(board: Board, baud: int | None, inputs: list[dict], outputs: list[dict], name: str) -> int:
    """--baud, else the board table's; ad01 at the runner's 921600 (devices_ad.yaml) where the board can do it."""
    if baud:
        return int(baud)
    if mlperf_id(name, inputs, outputs) == "ad01" and board.max_baud >= 921600:
        return 921600
    return board.baud


def firmware_config(*, name: str, sha256: str, board: Board, runtime: str, backend: str, inputs: list[dict],
                    outputs: list[dict], db_format: str = "auto", timer_board: Board | None = None,
                    baud: int | None = None, energy: bool = False) -> dict:
    """The values edgeq_config.h is rendered from (the protocol's view of model, board and timer)."""
    inp, out = inputs[0], outputs[0]
    mid = mlperf_id(name, inputs, outputs)
    fmt, factor = _db_format(db_format, mid, inp)
    results = "mse" if (len(inputs) == 1 and out["shape"] == inp["shape"] and out["count"] > 1) else "scores"
    in_bytes = sum(d["bytes"] for d in inputs)
    if len(inputs) > 1 and fmt != "raw":
        raise EdgeqError(f"--db-format {db_format} converts one input; the model has {len(inputs)}",
                         hint="use --db-format raw (the inputs' bytes, one after the other)")
    # kws01's reference firmware prints "0.%d%d%d" of the truncated digits (no %f on some printf); others "%0.3f"
    digits = "truncate" if mid == "kws01" and results == "scores" else "round"
    tb = timer_board or board
    timer = {"unit": tb.timer["unit"], "per_tick": tb.timer["per_tick"], "source": tb.timer["source"]}
    info = {
        "model": name,
        "sha256": sha256[:16],
        "backend": backend,
        "runtime": runtime,
        "board": board.name,
        "core": board.core.target,
        "clock_hz": tb.clock_hz,
        "inputs": [{k: d[k] for k in ("shape", "dtype", "scale", "zero_point", "bytes")} for d in inputs],
        "outputs": [{k: d[k] for k in ("shape", "dtype", "scale", "zero_point", "bytes")} for d in outputs],
        "timer": timer,
        "protocol": 1,
        "buffer_bytes": in_bytes,
        "db": {"format": fmt, "bytes": in_bytes * factor},
        "results": results,
        "mlperf_id": mid,
        "baud": int(baud or board.baud),
        "timestamp_mode": "energy" if energy else "performance",
    }
    if timer_board is not None and timer_board is not board:
        info["emulated_by"] = timer_board.name
    from edgeq import protocol_spec as spec

    info["protocol"] = spec.PROTOCOL_VERSION
    head = json.dumps(info, separators=(",", ":"))
    assert head.endswith("}")
    return {
        "model": name,
        "board": board.name,
        "backend": backend,
        "runtime": runtime,
        "mlperf_id": mid,
        "input": inp,
        "output": out,
        "inputs": inputs,
        "outputs": outputs,
        "in_bytes": in_bytes,
        "out_bytes": sum(d["bytes"] for d in outputs),
        "results": results,
        "db_format": fmt,
        "db_factor": factor,
        "results_digits": digits,
        "baud": int(baud or board.baud),
        "energy": bool(energy),
        "info_head": head[:-1],
        "info": info,
    }
