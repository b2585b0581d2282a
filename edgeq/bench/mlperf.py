"""The MLPerf Tiny (EEMBC) runner flow, as the reference runner drives a DUT in performance mode:

``name`` -> ``profile`` (model id) -> 5 x [``db load N`` + ``db <hex>`` chunks of 31 bytes, ``infer N W``] ->
latency from the two ``m-lap-us-`` lines of each window (wrap-around handled) -> the median throughput of the 5
windows. Works with any MLPerf Tiny reference firmware and with edgeq's own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from edgeq import protocol_spec as spec
from edgeq.bench.protocol import Device, FrameError
from edgeq.bench.stats import ticks_delta
from edgeq.errors import DeviceError

#: ``infer N W`` per model id, as tests_performance.yaml sets them
RUNNER_ITERATIONS = {"kws01": (70, 10), "ic01": (20, 5), "vww01": (20, 5), "ad01": (1500, 10), "strww01": (70, 10)}
WINDOWS = 5
INFER_TIMEOUT_S = 30.0  # the runner's infer timeout

_LAP_RE = re.compile(r"^m-lap-us-(\d+)$")
_RESULTS_RE = re.compile(r"^m-results-\[([^]]+)\]$")
_NAME_RE = re.compile(r"^m-(name)-dut-\[([^]]+)]$")
_OUT_RE = re.compile(r"^m-out-([0-9a-fA-F]*)-([0-9a-fA-F]{8})$")


@dataclass
class Window:
    index: int
    iterations: int
    warmup: int
    elapsed_us: int
    results: list[float]
    output: bytes | None = None  # edgeq firmware also prints m-out-<hex>-<crc>: the raw output, CRC-checked

    @property
    def latency_us(self) -> float:
        return self.elapsed_us / self.iterations

    @property
    def throughput(self) -> float:
        return self.iterations / (self.elapsed_us / 1e6) if self.elapsed_us else float("inf")


def identify(dev: Device) -> tuple[str, str, str]:
    """``name`` and ``profile`` -> (dut name, profile string, model id)."""
    ans = dev.command(spec.CMD_NAME)
    name = next((m.group(2) for ln in ans.lines if (m := _NAME_RE.match(ln))), None)
    if name is None:
        raise DeviceError("no m-name-dut-[...] answer to 'name'", where=dev.link.name,
                          hint="not an MLPerf Tiny / EEMBC benchmark firmware?")
    ans = dev.command(spec.CMD_PROFILE)
    profile = next((ln[len(spec.MSG_PROFILE):-1] for ln in ans.lines if ln.startswith(spec.MSG_PROFILE)), "")
    model_id = next((ln[len(spec.MSG_MODEL):-1] for ln in ans.lines if ln.startswith(spec.MSG_MODEL)), "")
    if not model_id:
        raise DeviceError("no m-model-[...] answer to 'profile'", where=dev.link.name)
    return name, profile, model_id


def db_commands(data: bytes, chunk: int = spec.MLPERF_DB_CHUNK) -> list[str]:
    """The commands the runner sends to upload ``data``: ``db load N`` then ``db <hex>`` per ``chunk`` bytes."""
    cmds = [f"{spec.CMD_DB} load {len(data)}"]
    cmds += [f"{spec.CMD_DB} {data[i:i + chunk].hex()}" for i in range(0, len(data), chunk)]
    return cmds


def db_load(dev: Device, data: bytes, chunk: int = spec.MLPERF_DB_CHUNK) -> int:
    """Upload ``data`` the runner's way; returns the bytes written to the wire. Every chunk must get ``m-ready``;
    the last one ``m-load-done``."""
    start = dev.link.tx_bytes
    cmds = db_commands(data, chunk)
    ans = dev.command(cmds[0])
    if ans.errors:
        raise DeviceError(f"'{cmds[0]}' refused: {ans.errors[0]}", where=dev.link.name)
    if not any(ln.startswith(spec.MSG_EXPECTING) for ln in ans.lines):
        raise FrameError(f"no m-[Expecting ...] answer to '{cmds[0]}'")
    done = False
    for cmd in cmds[1:]:
        ans = dev.command(cmd)
        if ans.errors:
            raise FrameError(f"db chunk refused: {ans.errors[0]}")
        done = done or spec.MSG_LOAD_DONE in ans.lines
    if not done:
        raise FrameError("the device never said m-load-done")
    return dev.link.tx_bytes - start


def infer(dev: Device, iterations: int, warmup: int, *, timeout: float = INFER_TIMEOUT_S) -> Window:
    """``infer N W`` -> a :class:`Window` (elapsed = second m-lap-us minus the first, modulo 2^32)."""
    ans = dev.command(f"{spec.CMD_INFER} {iterations} {warmup}", timeout=timeout, line_timeout=timeout)
    if ans.errors:
        raise DeviceError(f"infer failed: {ans.errors[0]}", where=dev.link.name)
    laps = [int(m.group(1)) for ln in ans.lines if (m := _LAP_RE.match(ln))]
    if len(laps) < 2:
        raise FrameError(f"infer answer has {len(laps)} m-lap-us lines, expected 2")
    results: list[float] = []
    output = None
    for ln in ans.lines:
        m = _RESULTS_RE.match(ln)
        if m:
            try:
                results = [float(x) for x in m.group(1).split(",")]
            except ValueError:
                raise FrameError(f"corrupt results line {ln[:60]!r}")
        m = _OUT_RE.match(ln)
        if m and len(m.group(1)) % 2 == 0:
            out = bytes.fromhex(m.group(1))
            if spec.crc32(out) != int(m.group(2), 16):
                raise FrameError("output CRC mismatch")
            output = out
    return Window(0, iterations, warmup, ticks_delta(laps[0], laps[1]), results, output)


def db_payload(data: bytes, in_spec: dict, db_format: str) -> bytes:
    """What the runner sends for an input whose device-side bytes are ``data``: ``raw`` as is, ``uint8`` pixels
    (the device computes int8 = u8 - 128), ``float32`` little-endian values (the device quantizes them)."""
    if db_format in ("raw", "", None):
        return data
    import numpy as np

    q = np.frombuffer(data, dtype=in_spec["dtype"])
    if db_format == "uint8":
        return (q.astype(np.int16) + 128).astype(np.uint8).tobytes()
    if db_format == "float32":
        x = (q.astype(np.float32) - np.float32(in_spec["zero_point"])) * np.float32(in_spec["scale"])
        return x.astype("<f4").tobytes()
    raise DeviceError(f"the device's db format {db_format!r} is unknown to this edgeq")


def _c_int(v) -> int:
    """C's float -> int conversion (truncation toward zero)."""
    return int(v)


def reference_results(model_id: str, out_raw: bytes, out_spec: dict, sent: bytes, in_spec: dict,
                      db_format: str = "raw") -> list[str]:
    """The ``m-results-[...]`` values the MLPerf Tiny reference firmware prints (its ``th_results``) for output
    bytes ``out_raw`` when the runner sent ``sent`` (the `db` payload): every output dequantized in float,
    ``float(q - zp) * scale``, printed ``"%0.3f"`` -- kws01 prints ``"0.%d%d%d"`` of the truncated digits
    ``(int)(c*10)``, ``(int)(c*100) % 10``, ``(int)(c*1000) % 10`` -- and for an autoencoder (ad01: output shaped like
    the input) the anomaly score: float32 sum over i of (dequantized output - float input)^2, divided by the count,
    ``"%0.3f"``. The float input is what the runner sent (float32 `db` data), else the dequantized input."""
    import math

    import numpy as np

    f32 = np.float32
    q = np.frombuffer(out_raw, dtype=out_spec["dtype"])
    if q.dtype.kind in "iu" and out_spec.get("scale"):
        conv = (q.astype(np.int32) - np.int32(out_spec["zero_point"])).astype(f32) * f32(out_spec["scale"])
    else:
        conv = q.astype(f32)
    n_in = int(np.prod(in_spec["shape"]))
    if conv.size == n_in and conv.size > 1 and list(out_spec["shape"]) == list(in_spec["shape"]):
        if db_format == "float32" or in_spec["dtype"] == "float32":
            x = np.frombuffer(sent, dtype="<f4").astype(f32)
        else:
            xi = np.frombuffer(sent, dtype=in_spec["dtype"])
            x = (xi.astype(np.int32) - np.int32(in_spec["zero_point"])).astype(f32) * f32(in_spec["scale"])
        acc = f32(0.0)
        for a, b in zip(conv, x):
            d = f32(a - b)
            acc = f32(acc + f32(d * d))
        return ["%0.3f" % float(f32(acc / f32(conv.size)))]
    if model_id == "kws01":
        out = []
        for c in conv:
            d1 = _c_int(f32(c * f32(10)))
            d2 = int(math.fmod(_c_int(f32(c * f32(100))), 10))
            d3 = int(math.fmod(_c_int(f32(c * f32(1000))), 10))
            out.append(f"0.{d1}{d2}{d3}")
        return out
    return ["%0.3f" % float(c) for c in conv]
