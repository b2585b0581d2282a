"""Project layouts behind one interface (:class:`~edgeq.targets.platforms.base.Platform`): which layout a board and
runtime get, and the steps that work on an exported folder whatever its layout (build, flash, transport).

=========================  ===============================  ==============================================
layout (module)            boards                           project
=========================  ===============================  ==============================================
``cortexm``                ``project: cortexm`` (QEMU,      bare-metal: startup, linker script, Makefile
                           generic-m4)
``arduino``                ``project: arduino``             sketch of edgeq's compiled C
``tflm``                   32-bit Arduino boards            sketch for the Arduino_TensorFlowLite library
``host``                   ``project: host`` (this          Makefile for the host compiler: a program that
                           computer)                        serves the protocol on stdin/stdout
=========================  ===============================  ==============================================

Adding a layout: docs/DEVELOPING.md ("Targets").
"""

from __future__ import annotations

import os
from pathlib import Path

from edgeq.errors import EdgeqError
from edgeq.targets.boards import Board, get_board
from edgeq.targets.platforms.arduino import ArduinoPlatform
from edgeq.targets.platforms.base import ExportJob, Platform
from edgeq.targets.platforms.cortexm import CortexMPlatform
from edgeq.targets.platforms.host import HostPlatform
from edgeq.targets.platforms.tflm import TflmPlatform, takes_tflm
from edgeq.targets.project import read_project, record_build

__all__ = ["ExportJob", "Platform", "platform_for", "build_project", "takes_tflm"]

#: the board table's ``project`` -> the layout of edgeq's C for it
EDGEQ_LAYOUTS: dict[str, type[Platform]] = {"cortexm": CortexMPlatform, "arduino": ArduinoPlatform,
                                             "host": HostPlatform}


def platform_for(board: Board, runtime: str = "edgeq") -> Platform:
    """The layout for ``board`` running ``runtime`` (``edgeq`` or ``tflm``)."""
    if runtime == "tflm":
        if not takes_tflm(board):
            raise EdgeqError(f"the TFLM export is an Arduino sketch for 32-bit boards; {board.name} is not one",
                             where="--runtime tflm")
        return TflmPlatform(board)
    try:
        return EDGEQ_LAYOUTS[board.project](board)
    except KeyError:  # pragma: no cover - the board table is validated by tests
        raise EdgeqError(f"board {board.name}: unknown project layout {board.project!r}") from None


def build_project(project_dir: str | os.PathLike):
    """Build an exported folder the way its layout and board say; the result (firmware, sizes, log) is recorded in
    its project file. Returns a :class:`edgeq.targets.build.BuildResult`."""
    d = Path(project_dir)
    meta = read_project(d)
    board = get_board(meta["board"])
    res = platform_for(board, meta.get("runtime", "edgeq")).build(d, meta)
    record_build(d, meta, res)
    return res
