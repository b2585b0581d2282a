"""``--board BOARD``: start the board's emulator with the benchmark firmware (building it from ``--model`` when no
``--firmware`` is given), hand back its serial URL, and stop it by PID at the end. The emulators and builds belong to
:mod:`edgeq.targets`; this is only the harness's glue."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from edgeq.errors import EdgeqError


class _BuiltEmulator:
    """Wraps an Emulator so that ``stop()`` also removes the temporary firmware folder."""

    def __init__(self, emulator, tmp: str | None):
        self._emu = emulator
        self._tmp = tmp
        self.url = emulator.url
        self.pid = getattr(emulator, "pid", None)

    def stop(self) -> None:
        try:
            self._emu.stop()
        finally:
            if self._tmp:
                shutil.rmtree(self._tmp, ignore_errors=True)
                self._tmp = None


def build_firmware(board: str, model: str, out: Path, backend: str | None = None, optimize: str = "speed"):
    """``edgeq export MODEL --board BOARD --build`` into ``out``; returns the export result."""
    from edgeq.targets.export import export

    return export(model, board, out, build=True, backend=backend, optimize=optimize)


def start_board(board: str, firmware: str | None, model: str | None, backend: str | None = None,
                optimize: str = "speed"):
    """Start ``board``'s emulator; returns (emulator with .url/.pid/.stop(), firmware description for the report)."""
    from edgeq.targets.emulators import start_emulator

    tmp, built = None, None
    if firmware is None:
        if not model:
            raise EdgeqError(f"--board {board} needs --firmware DIR or --model MODEL.tflite to build it")
        tmp = tempfile.mkdtemp(prefix="edgeq-bench-fw-")
        built = build_firmware(board, model, Path(tmp) / "fw", backend, optimize)
        firmware = str(built.out_dir)
    elif not Path(firmware).exists():
        raise EdgeqError("no such firmware", where=firmware, hint="give the folder `edgeq export --build` wrote")
    try:
        emu = start_emulator(board, firmware)
    except BaseException:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    desc = {"path": None if tmp else str(firmware), "built_from_model": tmp is not None, "emulator_pid": emu.pid}
    if built is not None:  # how edgeq compiled it (the edgeq runtime; None for a TFLM firmware)
        desc.update(runtime=built.runtime, backend=built.backend,
                    optimize=(built.compile or {}).get("optimize"), flash_bytes=built.build.flash_bytes)
    return _BuiltEmulator(emu, tmp), desc
