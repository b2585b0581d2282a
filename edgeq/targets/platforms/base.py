"""The interface every project layout implements, and what ``edgeq export`` hands it.

A :class:`Platform` is one layout of firmware project (bare-metal Cortex-M, Arduino sketch of edgeq's C, TFLM
sketch). Like microTVM's Project API it answers four requests:

* :meth:`Platform.plan`: choose what the layout needs (kernel backend, TFLM resolver and arena) and check that the
  model fits the board, before anything is written;
* :meth:`Platform.generate`: write the project's files into a folder;
* :meth:`Platform.build`: build it with the board's toolchain;
* :meth:`Platform.flash` / :meth:`Platform.open_transport`: put it on a real board, or start the board's emulator and
  hand back the serial URL pyserial opens.

An :class:`ExportJob` carries the validated request through these steps and collects what each adds to the
project file.
"""

from __future__ import annotations

import shutil
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from edgeq.targets.boards import Board, FitReport
from edgeq._templates import render


@dataclass
class ExportJob:
    """One ``edgeq export``: the checked inputs (model, board, runtime, options), then what the platform adds."""

    board: Board
    runtime: str  # "edgeq" | "tflm" (``auto`` is resolved before)
    model_path: Path
    graph: Any  # edgeq.tflite.Graph
    name: str  # the model's C identifier
    sketch_name: str
    inputs: list[dict]
    outputs: list[dict]
    app: str = "bench"
    app_ctx: dict | None = None  # the classify/regress app's template values
    backend_request: str | None = None
    cmsis_nn_dir: Any = None
    optimize: str = "speed"  # edgeq's C: edgeq.compiler.OPTIMIZE
    # filled by Platform.plan / the export pipeline
    backend: str = ""
    fit: FitReport | None = None
    cfg: dict = field(default_factory=dict)  # edgeq.targets.fwconfig.firmware_config
    check_cfg: dict | None = None  # the same for the QEMU check build of an Arduino board
    notes: list[str] = field(default_factory=list)
    planned: Any = None  # edgeq.compiler.Planned (edgeq's C)
    tflm_entries: list = field(default_factory=list)
    tflm_arena: dict | None = None
    # recorded in the project file by Platform.generate
    extra_meta: dict = field(default_factory=dict)
    sketch: str | None = None  # the .ino relative to the project folder

    @property
    def in_bytes(self) -> int:
        return sum(d["bytes"] for d in self.inputs)


class Platform(ABC):
    """One project layout for one board (see the module docstring)."""

    #: the project file's ``project`` value: which layout the folder has
    layout: ClassVar[str]

    def __init__(self, board: Board):
        self.board = board

    @abstractmethod
    def plan(self, job: ExportJob) -> None:
        """Set ``job.backend`` and ``job.fit`` (and what generate needs); raise when the model does not fit."""

    @abstractmethod
    def generate(self, job: ExportJob, dest: Path) -> None:
        """Write the project into ``dest`` (an empty folder that becomes the export folder) and its README."""

    @abstractmethod
    def build(self, folder: Path, meta: dict):
        """Build the exported ``folder`` (``meta``: its project file); returns a
        :class:`edgeq.targets.build.BuildResult`."""

    def flash(self, folder: Path, meta: dict, port: str):
        """Upload to a real board on ``port`` with the board's tool; returns an
        :class:`edgeq.targets.upload.UploadResult`. ``folder`` is an export folder or a firmware image."""
        from edgeq.targets.upload import upload

        return upload(self.board, folder, meta, port)

    def open_transport(self, firmware: str | Path):
        """Start the board's emulator with ``firmware`` (an export folder or an .elf); returns the running
        :class:`edgeq.targets.emulators.Emulator`, whose ``url`` pyserial opens. A real board's transport is its
        serial port: nothing to start."""
        from edgeq.targets.emulators import start_emulator

        return start_emulator(self.board.name, firmware)


# ---- files every layout writes ------------------------------------------------------------------------------------
def template_path(rel: str) -> Path:
    """A file of firmware_templates/ that is copied as it is."""
    from edgeq._resources import templates_dir

    return templates_dir() / rel


def write_protocol_files(dest: Path) -> None:
    """The device side of the serial protocol (docs/protocol.md; plain C, copied) with the platform/app interfaces it
    calls, and the one header rendered from :mod:`edgeq.protocol_spec`."""
    from edgeq import protocol_spec

    (dest / "edgeq_protocol_spec.h").write_text(render("protocol/edgeq_protocol_spec.h.j2",
                                                       version=protocol_spec.PROTOCOL_VERSION,
                                                       defines=protocol_spec.c_defines()))
    for f in ("edgeq_protocol.c", "edgeq_protocol.h", "edgeq_platform.h", "edgeq_app.h"):
        shutil.copyfile(template_path(f"protocol/{f}"), dest / f)


def write_config(dest: Path, cfg: dict, check_cfg: dict | None = None) -> None:
    """edgeq_config.h: the model, board and timer facts the protocol reports (``check_cfg``: the QEMU check build's)."""
    (dest / "edgeq_config.h").write_text(render("firmware/common/edgeq_config.h.j2", cfg=cfg, check=check_cfg))
