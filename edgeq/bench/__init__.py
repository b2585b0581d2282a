"""On-device benchmarking over serial: protocol (framing) separate from transport; harness, statistics, reports.

The Python form of ``edgeq bench`` (``import edgeq`` then ``edgeq.bench.device(...)`` / ``edgeq.bench.local(...)``):

* :func:`device` — ``edgeq bench --board B --model M`` / ``--port PORT``: latency from the device's own timer,
  every output verified against the bit-exact host reference; returns a :class:`DeviceBench`.
* :func:`local` — ``edgeq bench --local M1 M2``: LiteRT on this machine, models interleaved; returns
  :class:`edgeq.runtime.BenchReport`.

Nothing heavy is imported until one of them runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

__all__ = ["DeviceBench", "device", "local"]


@dataclass
class DeviceBench:
    """One device benchmark: the figures ``edgeq bench`` prints, plus the full report (``report``, the ``--json``
    object). ``latency`` holds min/p50/mean/p90/p99/max/std in ``unit`` (instructions on QEMU, else cycles/us)."""

    latency: dict[str, float]
    unit: str
    runs: int
    verified: int
    mismatches: int
    retries: int
    reference: str | None
    board: str | None
    port: str | None
    report: dict[str, Any] = field(repr=False)

    @property
    def p50(self) -> float:
        return self.latency["p50"]

    @property
    def p99(self) -> float:
        return self.latency["p99"]

    @property
    def all_verified(self) -> bool:
        """Every timed output was checked and equals the reference."""
        return self.mismatches == 0 and self.verified == self.runs

    def to_dict(self) -> dict[str, Any]:
        return self.report

    def text(self) -> str:
        from edgeq.bench.report import summary_text

        return summary_text(self.report)

    def plot(self, path: str | os.PathLike) -> Path:
        from edgeq.bench.report import write_plot

        return write_plot(self.report, path)

    def csv(self, path: str | os.PathLike) -> Path:
        from edgeq.bench.report import write_csv

        return write_csv(self.report, path)

    @classmethod
    def from_report(cls, rep: dict[str, Any]) -> "DeviceBench":
        lat = rep["latency"]
        return cls(latency={k: v for k, v in lat.items() if k != "unit"}, unit=lat["unit"], runs=rep["runs"],
                   verified=rep.get("verified", 0), mismatches=rep.get("mismatches", 0),
                   retries=rep.get("retries", 0), reference=rep.get("reference"), board=rep.get("board"),
                   port=rep.get("port"), report=rep)


def device(model: str | os.PathLike | None = None, *, board: str | None = None, port: str | None = None,
           firmware: str | os.PathLike | None = None, inputs: str | os.PathLike | None = None,
           runs: int | None = None, warmup: int | None = None, verify: bool = True, protocol: str = "edgeq",
           backend: str | None = None, reference: str | None = None, baud: int = 115200, seed: int = 0,
           timeout: float = 3.0, max_retries: int = 10, output: str | os.PathLike | None = None,
           progress: bool | None = False, labels: str | os.PathLike | None = None,
           optimize: str = "speed") -> DeviceBench:
    """Benchmark ``model`` on a board over serial, as ``edgeq bench --board/--port`` does.

    ``board`` names an emulated board (started and stopped for you; built from ``model`` unless ``firmware`` is
    the folder ``edgeq export --build`` wrote) or, with ``port``, a real one. ``inputs``: a .npy of samples
    (default: seeded random inputs). ``labels``: a .npy of the true class per ``inputs`` row (adds on-device accuracy
    and the confusion matrix, next to the reference's, as ``.report["accuracy"]``). ``output``: also save the JSON
    report there. ``backend`` / ``optimize``: how a firmware built from ``model`` is compiled (as ``edgeq export``).
    """
    from edgeq.bench.harness import BenchOptions, bench_device

    def s(v):
        return None if v is None else os.fspath(v)

    opts = BenchOptions(port=port, board=board, firmware=s(firmware), backend=backend, baud=baud, model=s(model),
                        inputs=s(inputs), runs=runs, warmup=warmup, verify=verify, protocol=protocol, seed=seed,
                        timeout=timeout, max_retries=max_retries, reference=reference, output=s(output),
                        progress=progress, labels=s(labels), optimize=optimize)
    return DeviceBench.from_report(bench_device(opts))


def local(models: str | os.PathLike | Sequence[Any], *, runs: int = 100, warmup: int = 10,
          threads: int | None = None, xnnpack: bool = True, runtime: str = "auto", seed: int = 0,
          keep_samples: bool = True) -> Any:
    """Latency of one or more models on this machine with LiteRT, as ``edgeq bench --local`` measures it
    (interleaved round-robin); returns :class:`edgeq.runtime.BenchReport` (``.results[i].latency.p50`` in us,
    ``.plot(path)``, ``.samples_csv()``)."""
    from edgeq.runtime.bench import bench_local

    if isinstance(models, (str, os.PathLike, bytes)):
        models = [models]
    return bench_local(list(models), runs=runs, warmup=warmup, threads=threads, xnnpack=xnnpack, runtime=runtime,
                       seed=seed, keep_samples=keep_samples)
