"""Local (host) latency benchmark, in the spirit of TFLite's ``benchmark_model``.

Inputs are filled once with seeded random data in each input's dtype; then ``warmup`` untimed rounds and ``runs``
timed rounds follow. Only ``invoke()`` is inside the timer (``time.perf_counter_ns``). Several models (or the same
model with different threads / XNNPACK settings) are measured side by side in ONE run: every round invokes each of
them once, round-robin, with the starting model rotating each round, so machine noise (other processes, frequency
changes, thermal throttling on a Raspberry Pi) hits all of them equally. Statistics are in microseconds.
"""

from __future__ import annotations

import gc
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from edgeq.errors import EdgeqError
from edgeq.runtime.loader import RuntimeModel, load_interpreter

STAT_KEYS = ("min", "p50", "mean", "p90", "p99", "max", "std")


@dataclass(frozen=True)
class LatencyStats:
    """Per-invoke latency statistics in microseconds (``std`` is the population standard deviation)."""

    min: float
    p50: float
    mean: float
    p90: float
    p99: float
    max: float
    std: float
    n: int

    @classmethod
    def from_ns(cls, samples_ns: Sequence[int] | np.ndarray) -> "LatencyStats":
        us = np.asarray(samples_ns, dtype=np.float64) / 1000.0
        if us.size == 0:
            raise EdgeqError("no latency samples")
        p50, p90, p99 = np.percentile(us, [50, 90, 99])
        return cls(
            min=float(us.min()), p50=float(p50), mean=float(us.mean()), p90=float(p90), p99=float(p99),
            max=float(us.max()), std=float(us.std()), n=int(us.size),
        )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {k: round(getattr(self, k), 3) for k in STAT_KEYS}
        d["unit"] = "us"
        return d


@dataclass(frozen=True)
class BenchSpec:
    """One entry of a side-by-side benchmark: a model plus its own runtime settings.

    ``threads``/``xnnpack``/``runtime`` left at None take the defaults given to :func:`bench_local`.
    """

    model: Any  #: path, bytes or an already loaded RuntimeModel
    threads: int | None = None
    xnnpack: bool | None = None
    runtime: str | None = None
    label: str | None = None


@dataclass
class BenchResult:
    model: str
    label: str
    runtime: dict[str, str]
    threads: int
    xnnpack: bool
    runs: int
    warmup: int
    latency: LatencyStats
    samples_ns: np.ndarray | None = field(default=None, repr=False)
    outputs_sha256: str | None = None  #: of every output after the last timed run (the seeded inputs): same numbers?

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "model": self.model,
            "latency": self.latency.to_dict(),
            "outputs_sha256": self.outputs_sha256,
            "runs": self.runs,
            "warmup": self.warmup,
            "threads": self.threads,
            "xnnpack": self.xnnpack,
            "runtime": self.runtime,
        }
        if self.label != self.model:
            d["label"] = self.label
        return d


@dataclass
class BenchReport:
    results: list[BenchResult]
    runs: int
    warmup: int
    interleaved: bool = True

    @property
    def runtime(self) -> dict[str, str] | None:
        rts = {tuple(sorted(r.runtime.items())) for r in self.results}
        return dict(rts.pop()) if len(rts) == 1 else None

    def samples_csv(self) -> str:
        """Every timed invoke as CSV: ``model,label,threads,xnnpack,round,latency_us`` (needs ``keep_samples``)."""
        import csv
        import io

        if any(r.samples_ns is None for r in self.results):
            raise EdgeqError("no per-run samples were kept", hint="bench_local(..., keep_samples=True)")
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["model", "label", "threads", "xnnpack", "round", "latency_us"])
        for r in self.results:
            for i, ns in enumerate(r.samples_ns):
                w.writerow([r.model, r.label, r.threads, int(r.xnnpack), i, f"{ns / 1000.0:.3f}"])
        return buf.getvalue()

    def plot(self, path: str | os.PathLike) -> Any:
        """PNG (written atomically): the latency distribution of each model (box: p25-p75, whiskers: p1-p99,
        p50 written) and the per-round timeline, in microseconds. Needs ``keep_samples``."""
        from edgeq._plot import plain_axis, pyplot, save_png

        if any(r.samples_ns is None for r in self.results):
            raise EdgeqError("no per-run samples were kept", hint="bench_local(..., keep_samples=True)")
        plt = pyplot("--plot")
        names = [os.path.basename(r.label) + ("" if len(self.results) == 1 else
                                               f" ({r.threads} thr, XNNPACK {'on' if r.xnnpack else 'off'})")
                 for r in self.results]
        us = [r.samples_ns / 1000.0 for r in self.results]
        p50s = [r.latency.p50 for r in self.results]
        log = max(p50s) > 20 * max(min(p50s), 1e-9)  # models of very different speed: a log axis shows them all
        top = 1.3 * max(float(np.percentile(u, 99)) for u in us)  # rare stalls of a busy host would flatten it
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 1.6 + 0.7 * max(2, len(us))),
                                       gridspec_kw={"width_ratios": [1, 1.4]})
        ax1.boxplot(us[::-1], vert=False, whis=(5, 95), showfliers=False)
        ax1.set_yticks(range(1, len(us) + 1))
        ax1.set_yticklabels(names[::-1], fontsize=8)
        for i, r in enumerate(self.results[::-1]):
            ax1.annotate(f"p50 {r.latency.p50:,.1f} us", (r.latency.p50, i + 1), xytext=(0, 12),
                         textcoords="offset points", ha="center", fontsize=7)
        if log:
            ax1.set_xscale("log")
        else:
            ax1.set_xlim(left=0)
        ax1.set_xlabel("latency per invoke (us" + (", log scale)" if log else ")"))
        ax1.set_title("distribution (box p25-p75, whiskers p5-p95)", fontsize=9)
        plain_axis(ax1.xaxis)
        clipped = 0
        for name, u in zip(names, us):
            ax2.plot(range(len(u)), np.minimum(u, top), ".", markersize=3, label=name)
            clipped += int(np.sum(u > top))
        if log:
            ax2.set_yscale("log")
            ax2.set_ylim(top=top)
        else:
            ax2.set_ylim(0, top)
        ax2.set_xlabel("timed round (runs)")
        ax2.set_ylabel("latency per invoke (us" + (", log scale)" if log else ")"))
        note = (f"\n{clipped:,} slower run{'s' if clipped > 1 else ''} (a busy host) drawn at the top edge; "
                f"all values in --csv") if clipped else ""
        ax2.set_title("timeline" + (", models interleaved round-robin" if self.interleaved else "") + note,
                      fontsize=8)
        plain_axis(ax2.xaxis, decimals=0)
        plain_axis(ax2.yaxis)
        if len(us) > 1:
            ax2.legend(fontsize=7)
        rt = self.runtime
        title = "local latency"
        if rt:
            title += f", {rt.get('package', '')} {rt.get('version', '')}"
        fig.suptitle(f"{title}, {self.warmup:,} warm-up + {self.runs:,} timed runs per model", fontsize=10)
        return save_png(fig, path)

    def to_dict(self) -> dict[str, Any]:
        rt = self.runtime
        return {
            "mode": "local",
            "runtime": rt if rt is not None else [r.runtime for r in self.results],
            "interleaved": self.interleaved,
            "models": [r.to_dict() for r in self.results],
        }


def random_inputs(model: RuntimeModel, seed: int = 0) -> list[np.ndarray]:
    """Seeded random data for every input: the full integer range, or uniform [-1, 1) for float inputs."""
    rng = np.random.default_rng(seed)
    arrays = []
    for t in model.inputs:
        if np.issubdtype(t.dtype, np.integer):
            lim = np.iinfo(t.dtype)
            arrays.append(rng.integers(lim.min, lim.max, size=t.shape, endpoint=True, dtype=t.dtype))
        elif t.dtype == np.bool_:
            arrays.append(rng.integers(0, 1, size=t.shape, endpoint=True).astype(np.bool_))
        else:
            arrays.append(rng.uniform(-1.0, 1.0, size=t.shape).astype(t.dtype))
    return arrays


def _check_counts(runs: int, warmup: int) -> None:
    if isinstance(runs, bool) or int(runs) != runs or runs < 1:
        raise EdgeqError(f"runs must be >= 1, got {runs}")
    if isinstance(warmup, bool) or int(warmup) != warmup or warmup < 0:
        raise EdgeqError(f"warmup must be >= 0, got {warmup}")


def _label(model: Any) -> str:
    if isinstance(model, RuntimeModel):
        return model.source
    if isinstance(model, (bytes, bytearray, memoryview)):
        return "<bytes>"
    return os.fspath(model)


def bench_local(
    models: Sequence[Any],
    *,
    runs: int = 100,
    warmup: int = 10,
    threads: int | None = None,
    xnnpack: bool = True,
    runtime: str = "auto",
    seed: int = 0,
    keep_samples: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> BenchReport:
    """Benchmark one or more models side by side (interleaved round-robin) in this process.

    ``models``: paths, bytes, loaded :class:`RuntimeModel` objects or :class:`BenchSpec` entries (to give each
    entry its own threads / XNNPACK setting). Returns a :class:`BenchReport`; ``keep_samples`` keeps the raw
    nanosecond samples. ``progress(done, total)`` is called after each round.
    """
    _check_counts(runs, warmup)
    runs, warmup = int(runs), int(warmup)
    if not models:
        raise EdgeqError("no model to benchmark")
    loaded = [_load(m, threads=threads, xnnpack=xnnpack, runtime=runtime, seed=seed) for m in models]
    samples = _time_round_robin(loaded, runs=runs, warmup=warmup, progress=progress)
    results = [
        BenchResult(
            model=rm.source, label=label, runtime=rm.runtime.to_dict(), threads=rm.threads, xnnpack=rm.xnnpack,
            runs=runs, warmup=warmup, latency=LatencyStats.from_ns(samples[i]),
            samples_ns=samples[i].copy() if keep_samples else None, outputs_sha256=_outputs_digest(rm),
        )
        for i, (rm, label) in enumerate(loaded)
    ]
    return BenchReport(results=results, runs=runs, warmup=warmup, interleaved=len(loaded) > 1)


def _load(m: Any, *, threads: int | None, xnnpack: bool, runtime: str, seed: int) -> tuple[RuntimeModel, str]:
    """One entry of ``bench_local``'s ``models`` loaded (its own settings over the call's), with random inputs set;
    returns (model, label)."""
    spec = m if isinstance(m, BenchSpec) else BenchSpec(m)
    if isinstance(spec.model, RuntimeModel):
        rm = spec.model
    else:
        rm = load_interpreter(
            spec.model,
            threads=spec.threads if spec.threads is not None else threads,
            xnnpack=spec.xnnpack if spec.xnnpack is not None else xnnpack,
            runtime=spec.runtime if spec.runtime is not None else runtime,
        )
    for t, arr in zip(rm.inputs, random_inputs(rm, seed)):
        rm.interpreter.set_tensor(t.index, arr)
    return rm, spec.label or _label(spec.model)


def _time_round_robin(loaded: list[tuple[RuntimeModel, str]], *, runs: int, warmup: int,
                      progress: Callable[[int, int], None] | None) -> np.ndarray:
    """Nanoseconds per invoke, shape (models, runs): the models take turns, each round starting with the next one,
    so that drifts (clock, temperature, other load) spread evenly; the garbage collector is off while timing."""
    n = len(loaded)
    invokes = [rm.interpreter.invoke for rm, _ in loaded]
    samples = np.zeros((n, runs), dtype=np.int64)
    clock = time.perf_counter_ns

    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    j = 0
    try:
        for r in range(warmup):
            for k in range(n):
                j = (r + k) % n
                invokes[j]()
        for r in range(runs):
            for k in range(n):
                j = (r + k) % n
                invoke = invokes[j]
                t0 = clock()
                invoke()
                samples[j, r] = clock() - t0
            if progress is not None:
                progress(r + 1, runs)
    except (RuntimeError, ValueError) as exc:
        raise EdgeqError(f"invoke failed: {' '.join(str(exc).split())[:200]}", where=loaded[j][1]) from None
    finally:
        if gc_was_enabled:
            gc.enable()
    return samples


def _outputs_digest(rm: RuntimeModel) -> str:
    """The outputs the timed runs computed (a Pi must get the host's numbers): first 16 hex digits of their sha256."""
    import hashlib

    h = hashlib.sha256()
    for k in range(len(rm.outputs)):
        h.update(np.ascontiguousarray(rm.get_output(k)).tobytes())
    return h.hexdigest()[:16]
