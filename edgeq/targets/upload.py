"""Uploading an exported firmware to a real board with the tool that board uses.

* the Uno (``upload`` starts with avrdude): ``avrdude ... -U flash:w:HEX:i`` with the export's ``build/firmware.hex``
  (:meth:`edgeq.targets.platforms.arduino.ArduinoPlatform.flash` builds it first when it is missing);
* every other Arduino board: ``arduino-cli compile --fqbn FQBN SKETCH`` then ``arduino-cli upload -p PORT --fqbn FQBN
  SKETCH`` (arduino-cli runs the core's own uploader: bossac, picotool, esptool, STM32CubeProgrammer);
* RP2040 boards (``nano-rp2040``, ``pico``) when ``--port`` is the mounted RPI-RP2 drive (a folder): compiled with
  arduino-cli into ``build/`` and the ``.uf2`` copied onto the drive.

A tool that is missing is an error naming what to install and the exact command; nothing uploaded is never exit 0.
"""

from __future__ import annotations

import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from edgeq._proc import run
from edgeq.errors import EdgeqError, ToolchainError
from edgeq.targets.boards import Board

#: how to get each uploader (Debian / the Arduino CLI's own installer)
INSTALL = {
    "avrdude": "apt-get install -y avrdude",
    "arduino-cli": "curl -fsSL https://raw.githubusercontent.com/arduino/arduino-cli/master/install.sh | sh, then "
                   "arduino-cli core install {core}",
}
UPLOAD_TIMEOUT = 600


@dataclass
class UploadResult:
    board: str
    port: str
    commands: list[list[str]] = field(default_factory=list)
    copied: str | None = None  # the .uf2 written onto an RP2040 drive

    def to_dict(self) -> dict:
        return {"board": self.board, "uploaded": True, "port": self.port,
                "commands": [shlex.join(c) for c in self.commands], "copied": self.copied}


def _core_of(fqbn: str) -> str:
    return ":".join(fqbn.split(":")[:2])


def _need(tool: str, board: Board, command: str) -> str:
    path = shutil.which(tool)
    if path:
        return path
    how = INSTALL.get(tool, f"install {tool}").format(core=_core_of(board.fqbn or ""))
    raise ToolchainError(f"{tool} is not installed, nothing was uploaded to {board.name}",
                         hint=f"install it ({how}) and run edgeq flash again, or run: {command}")


def _run(argv: list[str], what: str, port: str) -> None:
    run(argv, what=what, timeout=UPLOAD_TIMEOUT, where=port, hint=f"command: {shlex.join(argv)}")


def upload(board: Board, folder: Path, meta: dict, port: str) -> UploadResult:
    """Upload with the board's tool (arduino-cli compiles first); raises when nothing was uploaded."""
    res = UploadResult(board=board.name, port=port)
    if not board.upload:
        raise EdgeqError(f"no upload method known for {board.name}")
    sketch = str((folder / meta["sketch"]).parent) if meta.get("sketch") else str(folder)
    if board.upload.startswith("avrdude"):
        hexf = folder if folder.is_file() else folder / "build" / "firmware.hex"  # an export folder, or a .hex
        argv = [w.format(port=port, sketch=sketch, hex=str(hexf)) for w in shlex.split(board.upload)]
        _need("avrdude", board, shlex.join(argv))
        if not hexf.is_file():
            raise ToolchainError("no built firmware.hex to upload", where=str(folder),
                                 hint="build it first: edgeq export ... --build")
        _run(argv, "avrdude upload", port)
        res.commands.append(argv)
        return res
    if not folder.is_dir():
        raise EdgeqError(f"arduino-cli uploads a sketch: give the export folder for {board.name}", where=str(folder),
                         hint="edgeq export MODEL --board BOARD -o DIR, then edgeq flash --board BOARD DIR --port PORT")
    if not board.fqbn:
        raise EdgeqError(f"no Arduino board id (FQBN) for {board.name} in the board table")
    up = [w.format(port=port, sketch=sketch, hex="") for w in shlex.split(board.upload)]
    rp2040_drive = Path(port).is_dir() and board.core.name == "cortex-m0plus"
    out_dir = folder / "build" / "arduino-cli"
    compile_argv = ["arduino-cli", "compile", "--fqbn", board.fqbn, "--output-dir", str(out_dir), sketch]
    _need("arduino-cli", board, shlex.join(compile_argv) + (" && " + shlex.join(up) if not rp2040_drive else ""))
    _run(compile_argv, "arduino-cli compile", port)
    res.commands.append(compile_argv)
    if rp2040_drive:
        uf2 = sorted(out_dir.glob("*.uf2"))
        if not uf2:
            raise ToolchainError("arduino-cli compile wrote no .uf2 file", where=str(out_dir),
                                 hint=f"upload with: {shlex.join(up)}")
        dest = Path(port) / uf2[0].name
        shutil.copyfile(uf2[0], dest)  # the RP2040 boot ROM flashes the file and reboots
        res.copied = str(dest)
        return res
    up = up[:-1] + ["--input-dir", str(out_dir), up[-1]]  # the binary just compiled, not a second build
    _run(up, "arduino-cli upload", port)
    res.commands.append(up)
    return res
