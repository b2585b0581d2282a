"""The board table (``boards.json``, data not code) and the fit check.

A :class:`Board` says what a board is (core, clock, flash, RAM), which kernel backends suit it, what `edgeq export`
writes for it (bare-metal Cortex-M project or Arduino sketch), how `--build` builds it here and how `edgeq flash`
runs it. :func:`fit_check` compares what a model needs with what a board offers and :func:`require_fit` refuses with
both numbers and the margin.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from edgeq.compiler import BACKENDS
from edgeq.errors import EdgeqError, UnsupportedError

BOARDS_JSON = Path(__file__).with_name("boards.json")
DEFAULT_BOARD = "qemu-m4"


@dataclass(frozen=True)
class Core:
    name: str
    arch: str  # "arm" | "avr" | "xtensa" | "host"
    target: str  # the compiler's --target
    cflags: tuple[str, ...]
    dwt: bool
    fpu: bool
    qemu_check: str | None = None  # the QEMU board whose platform layer runs code built for this core

    def to_dict(self) -> dict:
        return {"name": self.name, "arch": self.arch, "target": self.target, "cflags": list(self.cflags),
                "dwt": self.dwt, "fpu": self.fpu, "qemu_check": self.qemu_check}


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    core: Core
    clock_hz: int
    flash: int  # bytes the application may use
    ram: int
    core_flash: int  # what the board's core/startup takes by itself
    core_ram: int
    stack: int  # bytes reserved for the stack
    backends: tuple[str, ...]  # preferred first
    project: str  # "cortexm" | "arduino" | "host"
    build: str  # "make" | "arduino-builder" | "check-qemu" | "check-host" | "host"
    run: str  # "qemu" | "simavr" | "serial" | "host" (a program on this computer: the edgeq-host:// URL)
    timer: Mapping[str, Any]
    serial: Mapping[str, Any]
    fqbn: str | None = None
    upload: str | None = None
    qemu: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    cortexm: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    simavr: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def baud(self) -> int:
        return int(self.serial.get("baud", 115200))

    @property
    def max_baud(self) -> int:
        return int(self.serial.get("max_baud", self.baud))

    @property
    def usb_ids(self) -> tuple[tuple[int, int], ...]:
        """(VID, PID) pairs the board shows up with on USB (its application and bootloader)."""
        return tuple((int(v, 16), int(p, 16)) for v, p in (s.split(":") for s in self.serial.get("usb", ())))

    @property
    def timestamp_pin(self) -> str | None:
        """The pin the MLPerf energy mode pulses at every timestamp (the power monitor's trigger), if any."""
        return self.serial.get("timestamp_pin")

    @property
    def clock_text(self) -> str:
        """The core clock as shown to users ("64 MHz"); the host board runs at whatever this computer runs."""
        return "host CPU" if self.core.name == "host" else f"{self.clock_hz / 1e6:g} MHz"

    @property
    def emulated(self) -> bool:
        return self.run in ("qemu", "simavr")

    def memory_map(self) -> dict:
        """flash/RAM origins for the linker script (Cortex-M projects)."""
        src = self.qemu or self.cortexm
        return {"flash_origin": src.get("flash_origin", "0x00000000"), "ram_origin": src.get("ram_origin", "0x20000000")}

    def to_dict(self) -> dict:
        d = {
            "name": self.name,
            "description": self.description,
            "core": self.core.name,
            "compiler_target": self.core.target,
            "clock_hz": self.clock_hz,
            "flash_bytes": self.flash,
            "ram_bytes": self.ram,
            "core_flash_bytes": self.core_flash,
            "core_ram_bytes": self.core_ram,
            "stack_bytes": self.stack,
            "backends": list(self.backends),
            "project": self.project,
            "build": self.build,
            "run": self.run,
            "timer": dict(self.timer),
            "baud": self.baud,
        }
        if self.fqbn:
            d["fqbn"] = self.fqbn
        if self.qemu:
            d["qemu_machine"] = self.qemu.get("machine")
        if self.upload:
            d["upload"] = self.upload
        return d


def _freeze(d: Any) -> Any:
    if isinstance(d, dict):
        return MappingProxyType({k: _freeze(v) for k, v in d.items()})
    if isinstance(d, list):
        return tuple(_freeze(v) for v in d)
    return d


@functools.lru_cache(maxsize=None)
def _load(path: str) -> tuple[dict[str, Core], dict[str, Board]]:
    data = json.loads(Path(path).read_text())
    cores = {
        name: Core(name=name, arch=c["arch"], target=c["target"], cflags=tuple(c["cflags"]), dwt=bool(c["dwt"]),
                   fpu=bool(c["fpu"]), qemu_check=c.get("qemu_check"))
        for name, c in data["cores"].items()
    }
    boards: dict[str, Board] = {}
    for name, b in data["boards"].items():
        boards[name] = Board(
            name=name,
            description=b["description"],
            core=cores[b["core"]],
            clock_hz=int(b["clock_hz"]),
            flash=int(b["flash"]),
            ram=int(b["ram"]),
            core_flash=int(b.get("core_flash", 0)),
            core_ram=int(b.get("core_ram", 0)),
            stack=int(b.get("stack", 2048)),
            backends=tuple(b["backends"]),
            project=b["project"],
            build=b["build"],
            run=b["run"],
            timer=_freeze(b["timer"]),
            serial=_freeze(b.get("serial", {})),
            fqbn=b.get("fqbn"),
            upload=b.get("upload"),
            qemu=_freeze(b.get("qemu", {})),
            cortexm=_freeze(b.get("cortexm", {})),
            simavr=_freeze(b.get("simavr", {})),
        )
    return cores, boards


def boards() -> dict[str, Board]:
    """Every board, in table order."""
    return dict(_load(str(BOARDS_JSON))[1])


def board_names() -> list[str]:
    return list(boards())


def get_board(name: str) -> Board:
    table = boards()
    if name in table:
        return table[name]
    raise EdgeqError(f"unknown board '{name}' (known: {', '.join(table)})", hint="see `edgeq boards`")


def cmsis_nn_available(cmsis_nn_dir=None) -> bool:
    """Whether the CMSIS-NN backend can be used here: a CMSIS-NN checkout is found (``cmsis_nn_dir``, else
    ``$EDGEQ_CMSIS_NN_DIR`` and the usual places; :func:`edgeq.compiler.cmsis_nn.find_cmsis_nn`)."""
    from edgeq.compiler.cmsis_nn import find_cmsis_nn

    try:
        find_cmsis_nn(cmsis_nn_dir)
    except EdgeqError:
        return False
    return True


def pick_backend(board: Board, requested: str | None, cmsis_nn_available: bool) -> tuple[str, str | None]:
    """The kernel backend for ``board``: the requested one, else the board's first preferred one that is available.
    Returns (backend, note-for-the-user or None)."""
    if requested:
        if requested not in BACKENDS:
            raise EdgeqError(f"unknown backend '{requested}' (known: {', '.join(BACKENDS)})")
        if requested == "cmsis-nn" and "cmsis-nn" not in board.backends:
            raise UnsupportedError(f"board {board.name} ({board.core.name}) has no CMSIS-NN backend",
                                   hint="use --backend portable")
        return requested, None
    for b in board.backends:
        if b == "cmsis-nn" and not cmsis_nn_available:
            continue
        note = None
        if b != board.backends[0]:
            note = (f"{board.backends[0]} is this board's preferred backend but no CMSIS-NN checkout was given "
                    f"(--cmsis-nn DIR or EDGEQ_CMSIS_NN_DIR); using {b}")
        return b, note
    return "portable", None


# ---- fit check ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FitReport:
    board: str
    flash_needed: int
    flash_available: int
    ram_needed: int
    ram_available: int
    flash_parts: Mapping[str, int]
    ram_parts: Mapping[str, int]
    estimated: bool = True

    @property
    def flash_margin(self) -> int:
        return self.flash_available - self.flash_needed

    @property
    def ram_margin(self) -> int:
        return self.ram_available - self.ram_needed

    @property
    def fits(self) -> bool:
        return self.flash_margin >= 0 and self.ram_margin >= 0

    def to_dict(self) -> dict:
        return {
            "board": self.board,
            "fits": self.fits,
            "estimated": self.estimated,
            "flash": {"needed": self.flash_needed, "available": self.flash_available, "margin": self.flash_margin,
                      "parts": dict(self.flash_parts)},
            "ram": {"needed": self.ram_needed, "available": self.ram_available, "margin": self.ram_margin,
                    "parts": dict(self.ram_parts)},
        }

    def summary(self) -> str:
        def one(kind: str, need: int, avail: int) -> str:
            margin = avail - need
            pct = 100.0 * need / avail if avail else math.inf
            word = "free" if margin >= 0 else "over"
            return f"{kind} {need:,} of {avail:,} B ({pct:.0f} %, {abs(margin):,} B {word})"

        return f"{one('flash', self.flash_needed, self.flash_available)}; {one('RAM', self.ram_needed, self.ram_available)}"


def fit_check(board: Board, flash_parts: Mapping[str, int], ram_parts: Mapping[str, int], *,
              estimated: bool = True) -> FitReport:
    """Sum what the firmware needs (the board's own core/startup and stack included) against what the board has."""
    fp = {"core": board.core_flash, **{k: int(v) for k, v in flash_parts.items()}}
    rp = {"core": board.core_ram, **{k: int(v) for k, v in ram_parts.items()}, "stack": board.stack}
    return FitReport(board=board.name, flash_needed=sum(fp.values()), flash_available=board.flash,
                     ram_needed=sum(rp.values()), ram_available=board.ram, flash_parts=MappingProxyType(fp),
                     ram_parts=MappingProxyType(rp), estimated=estimated)


def require_fit(report: FitReport, *, where: str | None = None) -> FitReport:
    """Raise a one-line :class:`UnsupportedError` with both numbers and the margin when the model does not fit."""
    if report.fits:
        return report
    def parts(d: Mapping[str, int]) -> str:
        return " + ".join(f"{k} {v:,}" for k, v in d.items())

    problems = []
    if report.flash_margin < 0:
        problems.append(f"flash needs {report.flash_needed:,} B ({parts(report.flash_parts)}) but {report.board} "
                        f"has {report.flash_available:,} B (over by {-report.flash_margin:,} B)")
    if report.ram_margin < 0:
        problems.append(f"RAM needs {report.ram_needed:,} B ({parts(report.ram_parts)}) but {report.board} has "
                        f"{report.ram_available:,} B (over by {-report.ram_margin:,} B)")
    raise UnsupportedError(f"model does not fit {report.board}: " + "; ".join(problems), where=where,
                           hint="`edgeq analyze MODEL --board BOARD` shows what each layer needs; pick a board with more "
                                "memory (edgeq boards) or a smaller model")
