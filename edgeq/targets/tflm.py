"""What a TFLM (TensorFlow Lite for Microcontrollers) export needs from the model: the op resolver entries and the
tensor arena size, measured with the TFLM reference interpreter (the ``tflite-micro`` Python package).

* :func:`resolver_entries` lists exactly the ops the operators execute (not the opcode table, which may list unused
  ops), each as its ``MicroMutableOpResolver::Add...()`` call, with the int8-only kernel registration where TFLM has
  one (they leave out the float code paths: ~30 KB less flash with CMSIS-NN).
* :func:`measure_arena` finds the smallest arena for which ``AllocateTensors`` and ``Invoke`` succeed, by bisection.
  ``arena_used_bytes()`` alone is not enough: AllocateTensors needs temporary room on top (444 B for the AD model).
  Every probe runs in a child process (``python -m edgeq.targets.tflm_probe``): TFLM itself crashes (SIGSEGV) at some
  too-small arenas on LSTM models, and a crash must cost one probe, not edgeq's process.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from edgeq._proc import spawn, stop as stop_process
from edgeq.errors import ToolchainError, UnsupportedError
from edgeq.tflite.runtimes import NPU_CUSTOM_OPS, custom_name, tflm_method

# ops with an int8-only registration (tensorflow/lite/micro/kernels/*.h: Register_<OP>_INT8), used when the op's
# first input is int8
_INT8_REGISTRATIONS = {
    "FULLY_CONNECTED": "Register_FULLY_CONNECTED_INT8",
    "CONV_2D": "Register_CONV_2D_INT8",
    "DEPTHWISE_CONV_2D": "Register_DEPTHWISE_CONV_2D_INT8",
    "SOFTMAX": "Register_SOFTMAX_INT8",
    "AVERAGE_POOL_2D": "Register_AVERAGE_POOL_2D_INT8",
    "MAX_POOL_2D": "Register_MAX_POOL_2D_INT8",
    "ADD": "Register_ADD_INT8",
    "MUL": "Register_MUL_INT8",
    "SVDF": "Register_SVDF_INT8",
    "TRANSPOSE_CONV": "Register_TRANSPOSE_CONV_INT8",
    "BATCH_MATMUL": "Register_BATCH_MATMUL_INT8",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "Register_UNIDIRECTIONAL_SEQUENCE_LSTM_INT8",
    "PAD": "Register_PAD_INT8",
    "MAXIMUM": "Register_MAXIMUM_INT8",
    "MINIMUM": "Register_MINIMUM_INT8",
    "TRANSPOSE": "Register_TRANSPOSE_INT8",
}


@dataclass(frozen=True)
class ResolverEntry:
    op: str  # TFLite builtin name, e.g. "FULLY_CONNECTED"
    method: str  # "AddFullyConnected"
    registration: str | None  # "Register_FULLY_CONNECTED_INT8" or None (the default registration)

    @property
    def call(self) -> str:
        arg = f"tflite::{self.registration}()" if self.registration else ""
        return f"{self.method}({arg})"

    def to_dict(self) -> dict:
        return {"op": self.op, "method": self.method, "registration": self.registration, "call": self.call}


def resolver_method(op: str) -> str:
    """The ``MicroMutableOpResolver`` method that registers ``op`` (a builtin name or ``CUSTOM:<name>``)."""
    method = tflm_method(op)
    if method is None:
        raise KeyError(op)
    return method


def resolver_entries(graph) -> list[ResolverEntry]:
    """One entry per op the model's operators execute, in first-use order."""
    entries: list[ResolverEntry] = []
    int8_everywhere: dict[str, bool] = {}
    where = graph.source or graph.name
    for op in graph.operators:
        name = custom_name(op.opcode)
        if name is not None and name in NPU_CUSTOM_OPS:
            raise UnsupportedError(f"custom op {name!r} (operator {op.index}) needs {NPU_CUSTOM_OPS[name]}",
                                   where=where, hint="export the model as it was before Vela compiled it")
        if tflm_method(op.opcode) is None:
            what = f"custom op {name!r}" if name is not None else f"op {op.opcode}"
            raise UnsupportedError(f"{what} (operator {op.index}) has no kernel in TFLM's op resolver", where=where,
                                   hint="register your own kernel in the sketch (MicroMutableOpResolver::AddCustom)"
                                   if name is not None else "replace the op in the model")
        first = next((graph.tensors[i] for i in op.inputs if i >= 0), None)
        is_int8 = first is not None and first.dtype == "int8"
        int8_everywhere[op.opcode] = int8_everywhere.get(op.opcode, True) and is_int8
    for name in graph.ops_used:
        reg = _INT8_REGISTRATIONS.get(name) if int8_everywhere.get(name) else None
        entries.append(ResolverEntry(op=name, method=resolver_method(name), registration=reg))
    return entries


class _Prober:
    """One child process (``python -m edgeq.targets.tflm_probe MODEL``) that answers, per arena size, whether TFLM
    can allocate and invoke the model. A child killed by a signal counts as a failed probe and is replaced."""

    def __init__(self, model_path: Path):
        self.model_path = model_path
        self.proc: subprocess.Popen | None = None
        self.crashes: list[tuple[int, int]] = []  # (arena bytes, signal)

    def _start(self) -> subprocess.Popen:
        env = dict(os.environ)
        # the child must import this same edgeq (a source checkout on PYTHONPATH, or the installed package)
        pkg_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = pkg_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        return spawn([sys.executable, "-m", "edgeq.targets.tflm_probe", str(self.model_path)],
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)

    def works(self, arena: int) -> bool:
        if self.proc is None:
            self.proc = self._start()
        try:
            self.proc.stdin.write(f"{arena}\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline().strip()
        except (BrokenPipeError, OSError):
            line = ""
        if line in ("ok", "fail"):
            return line == "ok"
        rc = self.proc.wait()
        self.proc = None
        if line.startswith("error "):
            raise ToolchainError(f"the TFLM reference interpreter is not available ({line[6:]})",
                                 hint="pip install 'edgeq[micro]' (tflite-micro, Linux x86-64)")
        if rc >= 0:
            raise ToolchainError(f"the TFLM arena probe stopped (exit {rc}) without an answer",
                                 where=str(self.model_path))
        self.crashes.append((arena, -rc))
        return False

    def close(self) -> None:
        if self.proc is not None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):  # pragma: no cover
                pass
            stop_process(self.proc, grace=0)
            self.proc = None


def measure_arena(model_path: str | os.PathLike, graph=None) -> dict:
    """Smallest tensor arena (bytes) that TFLM's reference interpreter accepts for this model (AllocateTensors and
    one Invoke), found by bisection; measured on this 64-bit host, so an upper bound for a 32-bit MCU (TFLM's
    persistent structures hold pointers). Probes run in a child process; sizes at which TFLM crashed are reported
    in ``crashed_at``."""
    import signal

    model_path = Path(model_path)
    data_len = model_path.stat().st_size
    prober = _Prober(model_path)
    try:
        hi = max(16 * 1024, 4 * data_len)
        while not prober.works(hi):
            hi *= 2
            if hi > 1 << 30:
                crash = ""
                if prober.crashes:
                    sig = prober.crashes[-1][1]
                    crash = f" (it crashed with {signal.Signals(sig).name} at {prober.crashes[-1][0]:,} bytes)"
                raise UnsupportedError(f"the TFLM interpreter cannot allocate and run this model with any arena "
                                       f"size{crash}", where=str(model_path))
        lo = 0  # lo fails, hi works
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if prober.works(mid):
                hi = mid
            else:
                lo = mid
    finally:
        prober.close()
    used = _arena_used_in_child(model_path, hi)
    return {"arena_bytes": hi, "arena_used_bytes": used, "host_bits": 64,
            "crashed_at": sorted(a for a, _ in prober.crashes),
            "method": "bisection over AllocateTensors + Invoke with the tflite-micro reference interpreter, "
                      "each probe in a child process"}


def _arena_used_in_child(model_path: Path, arena: int) -> int | None:
    """Arena allocation total after AllocateTensors at ``arena`` bytes (informational; a child process too)."""
    prober = _Prober(model_path)
    proc = prober._start()
    try:
        out, _ = proc.communicate(f"used {arena}\n", timeout=120)
    except subprocess.TimeoutExpired:  # pragma: no cover
        return None
    finally:
        stop_process(proc, grace=0)
    m = re.search(r"used (\d+)", out or "")
    return int(m.group(1)) if m else None
