"""The benchmark firmware for this computer (``project: host``, the ``host`` board): edgeq's compiled C, the
protocol and its glue, exactly as on a board, with ``platform_host.c`` (the serial line is stdin/stdout, the timer
CLOCK_MONOTONIC in microseconds) and a Makefile for the host C compiler. Built with ``make`` into
``firmware_host``; its transport is the pyserial URL ``edgeq-host://PATH`` (:mod:`edgeq.bench.hostfw`), which
starts the program when the port is opened."""

from __future__ import annotations

import os
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

from edgeq.errors import UnsupportedError
from edgeq.targets.build import APT_CC, APT_MAKE, BuildResult, need_tool, run_tool
from edgeq.targets.platforms.base import ExportJob, Platform, template_path
from edgeq.targets.platforms.edgeq_c import plan_edgeq, write_edgeq_sources
from edgeq._templates import render

PROGRAM = "firmware_host"


class HostPlatform(Platform):
    layout = "host"

    def plan(self, job: ExportJob) -> None:
        if job.app != "bench":
            raise UnsupportedError(f"--app {job.app} is for boards; the host build serves the benchmark protocol",
                                   where="--app", hint="leave out --app (or pick a board)")
        plan_edgeq(job)

    def generate(self, job: ExportJob, dest: Path) -> None:
        write_edgeq_sources(job, src_dir=dest, model_dir=dest / "model", model_include="model.h")
        shutil.copyfile(template_path("firmware/common/main.c"), dest / "main.c")
        shutil.copyfile(template_path("firmware/host/platform_host.c"), dest / "platform_host.c")
        (dest / "Makefile").write_text(render("firmware/host/Makefile.j2", cfg=job.cfg))

    def build(self, folder: Path, meta: dict, extra_cflags: str = "") -> BuildResult:
        """``make`` with the host compiler (``extra_cflags``: e.g. sanitizer flags) -> ``firmware_host``."""
        make = need_tool("make", APT_MAKE)
        cc = os.environ.get("CC") or shutil.which("cc") or need_tool("gcc", APT_CC)
        log = folder / "build" / "build.log"
        log.parent.mkdir(exist_ok=True)
        if log.exists():
            log.unlink()
        exe = folder / PROGRAM
        if exe.exists():
            exe.unlink()  # make would keep a program built with other flags
        cmd = [make, f"CC={cc}", *([f"EXTRA_CFLAGS={extra_cflags}"] if extra_cflags else []), PROGRAM]
        run_tool(cmd, cwd=folder, log=log, what=f"building the {self.board.name} firmware (make)")
        return BuildResult(kind="host", firmware=exe, flash_bytes=None, ram_bytes=None, log=log,
                           command=f"make -C {shlex.quote(str(folder))}",
                           note=f"run it as a serial device: edgeq bench --port {HostProgram(exe).url}")

    def flash(self, folder: Path, meta: dict, port: str):
        raise UnsupportedError("the host build runs on this computer: there is nothing to upload", where="--port",
                               hint="leave out --port: edgeq flash --board host DIR prints its edgeq-host:// URL")

    def open_transport(self, firmware: str | Path) -> "HostProgram":
        from edgeq.targets.emulators import resolve_program

        return HostProgram(resolve_program(self.board.name, firmware))


@dataclass
class HostProgram:
    """The transport of the host build: nothing runs until the line is opened. The pyserial URL
    ``edgeq-host://FIRMWARE`` starts the program when the harness opens it (a fresh process: a board fresh from
    reset) and ends it when it closes it. Answers what an :class:`edgeq.targets.emulators.Emulator` does."""

    firmware: Path
    board: str = "host"
    pid: int | None = None

    @property
    def url(self) -> str:
        return f"edgeq-host://{Path(self.firmware).resolve()}"

    def alive(self) -> bool:
        return False

    def detach(self) -> None:
        """Nothing runs: nothing to hand over."""

    def stop(self, timeout: float = 2.0) -> None:
        """Nothing runs: the port's close ends the program."""

    def to_dict(self) -> dict:
        return {"board": self.board, "url": self.url, "pid": None, "firmware": str(self.firmware), "command": ""}
