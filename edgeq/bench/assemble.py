"""The report of a device benchmark (the ``--json`` object, also what ``-o`` saves): assembled from a
:class:`~edgeq.bench.session.Session`, complete or partial, with the on-device accuracy block for ``--labels``."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgeq.bench.session import BenchState, Session
from edgeq.bench.stats import summarize, throughput, to_microseconds
from edgeq.errors import EdgeqError, Terminated


def make_report(sess: Session, *, complete: bool, error: BaseException | None = None) -> dict[str, Any]:
    from edgeq import __version__

    opts, state, info = sess.opts, sess.state, sess.info or {}
    timer = info.get("timer") or {}
    per_tick = float(timer.get("per_tick", 1) or 1)
    clock_hz = info.get("clock_hz")
    if opts.protocol == "mlperf":
        values = [w["latency_us"] for w in state.windows]
        unit = "us"
        if timer.get("unit") == "instructions":  # QEMU -icount shift=0: a virtual microsecond is 1000 instructions
            values = [v * 1000 for v in values]
            unit = "instructions"
        runs = sum(w["iterations"] for w in state.windows)
    else:
        unit = timer.get("unit", "us")
        values = [s["ticks"] * per_tick for s in state.samples]
        runs = len(state.samples)
    unit = unit if unit in ("us", "cycles", "instructions") else "us"
    latency = summarize(values, unit)
    rep: dict[str, Any] = {
        "complete": complete,
        "error": None if error is None else _error_text(error),
        "edgeq_version": __version__,
        "protocol": opts.protocol,
        "port": sess.url,
        "board": opts.board or info.get("board"),
        "baud": opts.baud,
        "firmware": sess.firmware,
        "boot_banners": sess.device.boot_banners[-3:] if sess.device else [],
        "boot_banners_seen": len(sess.device.boot_banners) if sess.device else 0,
        "dut_name": sess.name,
        "device": info or None,
        "model": sess.model,
        "inputs": sess.inputs_desc,
        "runs": runs,
        "requested_runs": opts.runs,
        "warmup": opts.warmup,
        "latency": latency,
        "timer": {"unit": timer.get("unit", unit), "per_tick": per_tick, "clock_hz": clock_hz} if info else None,
        "throughput": throughput(latency.get("mean"), unit, clock_hz),
        "verify": bool(opts.verify and sess.reference_kind),
        "reference": sess.reference_kind,
        "verify_note": sess.verify_note,
        "verified": state.verified,
        "mismatches": state.mismatches,
        "mismatch_details": state.mismatch_details,
        "retries": state.retries,
        "resets": sess.device.resets if sess.device else state.resets,
        "retry_reasons": dict(state.reasons),
        "timing_crc": state.timing_crc,
        "upload": {"payload_bytes": state.upload_payload, "wire_bytes": state.upload_wire,
                   "efficiency": round(state.upload_payload / state.upload_wire, 4) if state.upload_wire else None},
        "elapsed_s": round(time.monotonic() - sess.started, 3),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(sess.wall_start)),
        "host": {"python": sys.version.split()[0], "platform": sys.platform, "machine": os.uname().machine},
    }
    us = [to_microseconds(v, unit, clock_hz) for v in values]
    if values and unit != "us" and all(u is not None for u in us):
        rep["latency_us"] = summarize(us, "us")
    if sess.labels is not None:
        rep["accuracy"] = accuracy_block(sess, state, info)
    if opts.protocol == "edgeq":
        rep["host_roundtrip_ms"] = summarize([s["roundtrip_ms"] for s in state.samples], "us") | {"unit": "ms"}
        rep["samples"] = [{**s, "latency": s["ticks"] * per_tick} for s in state.samples]
    else:
        rep["mlperf"] = (state.mlperf or {}) | {"windows": state.windows}
        if state.windows:
            import statistics

            med = statistics.median(w["throughput"] for w in state.windows)
            rep["mlperf"]["median_throughput"] = round(med, 3)
            rep["mlperf"]["latency_us"] = round(1e6 / med, 3) if med else None
    return rep



def _predictions(outputs: dict[int, bytes] | list[bytes], spec: dict | None, n: int) -> list[int | None]:
    """argmax of output 0 per input (None for an input that never ran)."""
    dtype = np.dtype((spec or {}).get("dtype", "int8"))
    size = int((spec or {}).get("bytes", 0)) or None
    out = []
    for i in range(n):
        raw = outputs.get(i) if isinstance(outputs, dict) else outputs[i]
        if raw is None:
            out.append(None)
            continue
        a = np.frombuffer(raw[:size] if size else raw, dtype=dtype)
        out.append(int(np.argmax(a)))
    return out


def _scores(y: np.ndarray, pred: list[int | None], n_classes: int) -> dict:
    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    ran = [(int(t), p) for t, p in zip(y, pred) if p is not None]
    for t, p in ran:
        if t < n_classes and p < n_classes:
            m[t, p] += 1
    correct = sum(1 for t, p in ran if t == p)
    return {"samples": len(ran), "correct": correct,
            "accuracy": round(correct / len(ran), 6) if ran else None, "confusion_matrix": m.tolist()}


def accuracy_block(sess: "Session", state: BenchState, info: dict | None) -> dict:
    """On-device accuracy and confusion matrix from the first output of every labelled input, next to the host
    reference's (TFLM) on the same inputs when outputs were verified."""
    y = sess.labels
    spec = (sess.out_spec or [None])[0]
    dev_pred = _predictions(state.device_outputs, spec, len(y))
    n_out = int(np.prod(spec["shape"])) if spec and spec.get("shape") else 0
    n_classes = int(max(n_out, int(y.max()) + 1 if len(y) else 0, *(p + 1 for p in dev_pred if p is not None)))
    block: dict[str, Any] = {"classes": n_classes, "labels": len(y), "device": _scores(y, dev_pred, n_classes)}
    if sess.expected is not None:
        ref_pred = _predictions(sess.expected, spec, len(y))
        block["reference"] = {"engine": sess.reference_kind, **_scores(y, ref_pred, n_classes)}
        block["same_predictions"] = sum(1 for a, b in zip(dev_pred, ref_pred) if a is not None and a == b)
    if sess.labels_note:
        block["note"] = sess.labels_note
    return block


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, Terminated):
        return str(exc)  # "terminated by signal 15"
    if isinstance(exc, EdgeqError):
        return exc.one_line()
    return f"{type(exc).__name__}: {exc}"


def save_json(report: dict, path: str | os.PathLike) -> Path:
    from edgeq._fs import atomic_write_text
    from edgeq._fmt import to_json

    return atomic_write_text(path, to_json(report) + "\n")

