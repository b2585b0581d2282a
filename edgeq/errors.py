"""The one error type for user mistakes.

Anything the user can fix (a missing file, a model edgeq cannot run, a board the model does not fit) raises
:class:`EdgeqError`. The CLI prints it as a single line and exits with status 2; everything else is a bug.
"""

from __future__ import annotations


class EdgeqError(Exception):
    """A problem with the user's input, stated as: what, where, what to do.

    ``where`` (a path, a tensor, an op index) and ``hint`` (what to do) are optional; ``str()`` joins them into one
    line.
    """

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None):
        self.message = message
        self.where = where
        self.hint = hint
        super().__init__(self.one_line())

    def one_line(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text = f"{text} ({self.hint})"
        return " ".join(text.split())  # never more than one line


class ModelError(EdgeqError):
    """The .tflite file is missing, malformed or not what the operation needs."""


class UnsupportedError(EdgeqError):
    """The model is valid but uses something edgeq (or the target) cannot run."""


class ToolchainError(EdgeqError):
    """An external tool (compiler, emulator, runtime package) is missing or failed."""


class DeviceError(EdgeqError):
    """A serial device did not answer, answered garbage, or runs something else."""


class Terminated(BaseException):
    """The process received SIGTERM or SIGHUP. Raised by the CLI's signal handler so that every ``finally`` block runs
    (emulators stopped, partial results saved) before edgeq exits with 128 + the signal number. A BaseException, like
    KeyboardInterrupt: no ``except Exception`` swallows it."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(f"terminated by signal {signum}")
