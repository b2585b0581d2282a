"""The shared types of a device benchmark: what it is told (:class:`BenchOptions`), what its run loops measure
(:class:`BenchState`), what :func:`edgeq.bench.harness.bench_device` knows so far (:class:`Session`, enough for a
partial report), and the one-line progress bar."""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from edgeq import protocol_spec as spec
from edgeq.bench.protocol import DeviceReset, DeviceTimeout

if TYPE_CHECKING:
    from edgeq.bench.protocol import Device


@dataclass
class BenchOptions:
    port: str | None = None
    board: str | None = None
    firmware: str | None = None
    backend: str | None = None  # with --board and no firmware: the backend to build with
    optimize: str = "speed"  # with --board and no firmware: edgeq compile's --optimize
    baud: int = 115200
    model: str | None = None
    inputs: str | None = None
    runs: int | None = None  # edgeq: 100 timed runs; mlperf: iterations per window (None = the runner's for the model)
    warmup: int | None = None  # edgeq: warm-ups before the first timed run (and after a reset), default 1
    verify: bool = True
    protocol: str = "edgeq"
    seed: int = 0
    timeout: float = 3.0  # one answer line
    run_timeout: float = 60.0  # first answer to a command that computes, until the harness has measured one
    max_retries: int = 10  # faults in a row before giving up
    reference: str | None = None  # "tflm" | "portable" | None (auto)
    output: str | None = None  # -o: the JSON report (partial results go there too)
    progress: bool | None = None  # None: when stderr is a terminal
    record: bool = False  # keep every command sent (tests, benchmarks)
    labels: str | None = None  # --labels Y.npy: true class per --inputs row -> on-device accuracy + confusion matrix


@dataclass
class BenchState:
    samples: list[dict] = field(default_factory=list)
    verified: int = 0
    mismatches: int = 0
    mismatch_details: list[dict] = field(default_factory=list)
    retries: int = 0
    resets: int = 0
    reasons: Counter = field(default_factory=Counter)
    timing_crc: bool | None = None
    upload_payload: int = 0
    upload_wire: int = 0
    windows: list[dict] = field(default_factory=list)
    mlperf: dict | None = None
    device_outputs: dict[int, bytes] = field(default_factory=dict)  # input index -> the device's output bytes

    def fault(self, exc: Exception) -> None:
        self.retries += 1
        if isinstance(exc, DeviceReset):
            self.resets += 1
            self.reasons["reset"] += 1
        else:
            self.reasons[fault_reason(exc)] += 1



def fault_reason(exc: Exception) -> str:
    """A fault's category for the report's ``retry_reasons``."""
    if isinstance(exc, DeviceReset):
        return "reset"
    if isinstance(exc, DeviceTimeout):
        return "timeout"
    text = str(exc).lower()
    if "crc" in text:
        return "crc"
    if spec.ERR_PREFIX in text or "refused" in text:
        return "error answer"
    return "corrupt answer"


@dataclass
class Session:
    """What :func:`bench_device` knows so far (used for partial reports)."""

    opts: BenchOptions
    state: BenchState = field(default_factory=BenchState)
    info: dict | None = None
    name: str | None = None
    inputs_desc: dict | None = None
    reference_kind: str | None = None
    verify_note: str | None = None
    model: dict | None = None
    firmware: dict | None = None
    url: str | None = None
    started: float = field(default_factory=time.monotonic)
    wall_start: float = field(default_factory=time.time)
    device: Device | None = None
    running: bool = False
    labels: np.ndarray | None = None  # --labels: true class per input
    labels_note: str | None = None
    out_spec: list | None = None  # the device's outputs (edgeq-info)
    expected: list[bytes] | None = None  # the reference's outputs per input



class Progress:
    """A one-line progress bar on stderr (only on a terminal unless forced)."""

    def __init__(self, total: int, enabled: bool | None, label: str = "bench"):
        self.total = max(1, total)
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.label = label
        self._last = 0.0

    def update(self, done: int, note: str = "", force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.1 and done < self.total:
            return
        self._last = now
        width = 30
        fill = int(width * min(done, self.total) / self.total)
        sys.stderr.write(f"\r{self.label} [{'#' * fill}{'.' * (width - fill)}] {done}/{self.total} {note}\x1b[K")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()

