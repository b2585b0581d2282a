"""Does the firmware fit the board? The one estimate ``edgeq export`` checks before writing anything and ``edgeq
analyze`` reports, per runtime:

* edgeq's C (:func:`edgeq_fit`): the compiler's memory plan, exactly what model.c will declare (arena + scratch) and
  its constant arrays, plus a code estimate (protocol, one kernel per op kind, one call per layer), the firmware's
  input copy and the protocol's or app's state;
* TFLM (:func:`tflm_fit`): the .tflite itself (the model stays a flatbuffer in flash), an estimate of the TFLM
  library's code, and the tensor arena measured with TFLM's reference interpreter.

:func:`edgeq.targets.boards.fit_check` adds the board core's own flash/RAM and the stack it reserves. After a build
the ELF's real sizes replace the estimate (``edgeq.targets.build.check_built_fit``).
"""

from __future__ import annotations

from edgeq.targets.boards import Board, FitReport, fit_check

#: code sizes per architecture for the estimate before anything is built (the build reports the real figures)
PROTOCOL_FLASH = {"arm": 4200, "avr": 6200, "xtensa": 6000, "host": 8000}
KERNEL_FLASH_PER_OP = {"arm": 1800, "avr": 2600, "xtensa": 2400, "host": 3000}
CALL_FLASH_PER_LAYER = {"arm": 96, "avr": 160, "xtensa": 120, "host": 150}
PROTOCOL_RAM = 160  # the protocol's command line and state (edgeq_protocol.c)
#: the classify/regress app's state instead: its number parser and result buffer
APP_RAM = 48

#: TFLM sketch: the interpreter, allocator and flatbuffer access (measured: the AD model's 322 KB image - 277 KB
#: model), one kernel per op the resolver registers, and the interpreter's own RAM beside the arena
TFLM_RUNTIME_FLASH = 42000
TFLM_FLASH_PER_OP = 9000
TFLM_RAM = 1500


def code_estimate(board: Board, graph) -> int:
    """Code bytes before the build: the protocol, one kernel per op kind, one call per layer."""
    arch = board.core.arch
    return (PROTOCOL_FLASH[arch] + KERNEL_FLASH_PER_OP[arch] * len(graph.ops_used)
            + CALL_FLASH_PER_LAYER[arch] * len(graph.operators))


def edgeq_fit(board: Board, graph, planned, *, io_bytes: int, app_ram: int = PROTOCOL_RAM) -> FitReport:
    """edgeq's C on ``board``: the compiled plan's exact arena + scratch and constants (``planned``: an
    :class:`edgeq.compiler.Planned`), the firmware's input copy (``io_bytes``), the protocol's or app's state."""
    return fit_check(board,
                     {"model constants": planned.const_bytes, "code (estimate)": code_estimate(board, graph)},
                     {"arena + scratch": planned.ram_bytes, "input copy": io_bytes, "protocol/app state": app_ram})


def tflm_fit(board: Board, model_bytes: int, n_ops: int, arena_bytes: int, *, io_bytes: int) -> FitReport:
    """A TFLM sketch on ``board``: the model file, the library's code for ``n_ops`` registered ops, the protocol,
    the measured tensor arena and the input buffer."""
    return fit_check(board, {"model (.tflite)": model_bytes,
                             "TFLM runtime (estimate)": TFLM_RUNTIME_FLASH + TFLM_FLASH_PER_OP * n_ops,
                             "protocol (estimate)": PROTOCOL_FLASH[board.core.arch]},
                     {"tensor arena (measured)": arena_bytes, "input buffer": io_bytes, "runtime": TFLM_RAM})
