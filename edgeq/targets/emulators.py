"""Emulated boards: QEMU for the Cortex-M boards, simavr (through a small UART<->pty bridge) for the Uno.

    from edgeq.targets.emulators import start_emulator
    with start_emulator("qemu-m4", "out/kws") as emu:     # an export folder, or the .elf itself
        link = serial.serial_for_url(emu.url, timeout=1)   # socket://127.0.0.1:PORT, or /dev/pts/N for simavr

QEMU runs with ``-icount shift=0`` (1 virtual ns per instruction: repeatable instruction counts) and its UART on a TCP
socket with ``port=0`` (the OS picks a free port, QEMU names it on stderr) and ``wait=on`` (the guest waits for the
host to connect, so no boot output is lost). Every start is bounded by a timeout; :meth:`Emulator.stop` ends the
process group (SIGTERM, then SIGKILL) and is idempotent; the context manager always calls it.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from edgeq._proc import run, spawn, stop as stop_process
from edgeq.errors import DeviceError, EdgeqError, ToolchainError

START_TIMEOUT_S = 15.0
_QEMU_PORT_RE = re.compile(r"tcp:127\.0\.0\.1:(\d+)")
_PTY_RE = re.compile(r"^PTY (/dev/\S+)", re.M)


#: emulators started by this process and not stopped yet: stopped at exit, whatever the exit path (the CLI turns
#: SIGTERM/SIGHUP into an exception, so finally blocks and this hook run)
_LIVE: "set[Emulator]" = set()


def stop_all() -> None:
    """Stop every emulator this process started (not the detached ones handed to the user)."""
    for emu in list(_LIVE):
        try:
            emu.stop(timeout=1.0)
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


atexit.register(stop_all)


@dataclass(eq=False)
class Emulator:
    board: str
    url: str
    pid: int
    firmware: Path
    command: list[str]
    log: Path | None = None
    _proc: subprocess.Popen | None = field(default=None, repr=False)
    _tmp: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self._proc is not None:
            _LIVE.add(self)

    def detach(self) -> None:
        """Hand the process over to the user: it keeps running after this process exits (``flash --detach``)."""
        self._proc = None
        self._tmp = None  # its log stays too
        _LIVE.discard(self)

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout: float = 2.0) -> None:
        """Terminate the emulator (SIGTERM to its process group, then SIGKILL after ``timeout``). Safe to call twice."""
        if self._proc is not None:
            stop_process(self._proc, grace=timeout)
        self._proc = None
        _LIVE.discard(self)
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> "Emulator":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __del__(self):  # last resort: never leave an emulator behind
        try:
            self.stop(timeout=0.5)
        except Exception:
            pass

    def to_dict(self) -> dict:
        return {"board": self.board, "url": self.url, "pid": self.pid, "firmware": str(self.firmware),
                "command": " ".join(self.command)}


#: ELF e_machine values of the architectures the emulators run
_ELF_MACHINES = {"arm": (40, "ARM"), "avr": (83, "AVR")}


def check_firmware_image(arch: str, path: str | os.PathLike, *, allow_hex: bool = False) -> Path:
    """Refuse anything but a 32-bit little-endian ELF for ``arch`` ("arm", "avr") before an emulator starts: a .npy or
    a host binary given as the firmware is one line, not an emulator running garbage. Size-capped, regular files only.
    """
    from edgeq._fs import MAX_FIRMWARE_BYTES, check_input_file

    p = check_input_file(path, what="firmware image", max_bytes=MAX_FIRMWARE_BYTES,
                         hint="give an export folder (edgeq export --build) or its .elf")
    try:
        with open(p, "rb") as f:
            head = f.read(20)
    except OSError as exc:
        raise EdgeqError(f"cannot read the firmware image: {exc.strerror or exc}", where=str(p)) from None
    machine, name = _ELF_MACHINES.get(arch, (None, arch))
    if allow_hex and head[:1] == b":" and all(chr(c) in "0123456789ABCDEFabcdef\r\n" for c in head[1:]):
        return p  # Intel HEX (an upload tool's input) carries no architecture to check
    if head[:4] != b"\x7fELF":
        what = "an Intel HEX file" if head[:1] == b":" else "not an ELF file"
        raise EdgeqError(f"is {what}; the {name} emulator runs an ELF firmware image", where=str(p),
                         hint="give an export folder (edgeq export --build) or its .elf")
    if len(head) < 20 or head[4] != 1 or head[5] != 1:
        raise EdgeqError("is not a 32-bit little-endian ELF (a host program?)", where=str(p),
                         hint=f"give firmware built for the board ({name})")
    e_machine = int.from_bytes(head[18:20], "little")
    if machine is not None and e_machine != machine:
        raise EdgeqError(f"is an ELF for machine {e_machine}, not {name} (EM {machine})", where=str(p),
                         hint=f"give firmware built for the board ({name})")
    return p


def resolve_firmware(board: str, path: str | os.PathLike) -> Path:
    """The image to run: ``path`` itself (.elf) or the one an export folder's build produced, checked to be an ELF
    for the board's architecture."""
    from edgeq.targets.boards import get_board

    arch = get_board(board).core.arch
    return check_firmware_image(arch, _firmware_path(board, path))


def resolve_program(board: str, path: str | os.PathLike) -> Path:
    """The host build's program: ``path`` itself or the one an export folder's build produced."""
    return _firmware_path(board, path)


def _firmware_path(board: str, path: str | os.PathLike) -> Path:
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        return p
    if p.is_dir():
        from edgeq.targets.project import read_project

        meta = read_project(p)
        if meta.get("board") != board:
            from edgeq.targets.boards import get_board

            b = get_board(meta.get("board", "?"))
            if not (b.build == "check-qemu" and b.core.qemu_check == board):
                raise EdgeqError(f"this firmware was exported for {meta.get('board')}, not {board}", where=str(p),
                                 hint=f"use --board {meta.get('board')}")
        fw = meta.get("firmware")
        if not fw or not (p / fw).is_file():
            raise EdgeqError("the export folder has no built firmware", where=str(p),
                             hint="export it with --build (or run make in it)")
        return p / fw
    raise EdgeqError("no such firmware", where=str(p), hint="give an export folder or an .elf")


def start_emulator(board: str, firmware_path: str | os.PathLike, *, timeout: float = START_TIMEOUT_S,
                   trace: tuple[str, ...] = ()) -> Emulator:
    """Start ``board``'s emulator with the firmware (an export folder or an .elf); returns an :class:`Emulator`
    whose ``url`` pyserial opens (``serial.serial_for_url``). ``trace``: QEMU trace events to enable (their lines go
    to ``Emulator.log``), e.g. ``("mps2_fpgaio_write",)`` shows the energy-mode timestamp pulses."""
    from edgeq.targets.boards import get_board

    b = get_board(board)
    if b.run == "qemu":
        return start_qemu(b, resolve_firmware(board, firmware_path), timeout=timeout, trace=trace)
    if trace:
        raise EdgeqError(f"trace events are a QEMU feature; {board} runs in {b.run}")
    if b.run == "simavr":
        return start_simavr(b, resolve_firmware(board, firmware_path), timeout=timeout)
    if b.run == "host":  # a program on this computer: its URL starts it when the harness opens the port
        from edgeq.targets.platforms import platform_for

        return platform_for(b).open_transport(firmware_path)
    raise EdgeqError(f"{board} is a real board, not an emulator", hint=f"use edgeq flash --board {board} --port PORT")


def qemu_command(board, elf: Path) -> list[str]:
    exe = shutil.which("qemu-system-arm")
    if not exe:
        from edgeq.targets.build import APT_ARM

        raise ToolchainError("qemu-system-arm not found", hint=f"install it: {APT_ARM}")
    return [exe, "-M", board.qemu["machine"], "-display", "none", "-monitor", "none", "-no-reboot",
            "-icount", "shift=0", "-kernel", str(elf),
            "-chardev", "socket,id=s0,host=127.0.0.1,port=0,server=on,wait=on,nodelay=on", "-serial", "chardev:s0"]


def _wait_for(log: Path, proc: subprocess.Popen, pattern: re.Pattern, timeout: float, what: str) -> re.Match:
    deadline = time.monotonic() + timeout
    while True:
        text = log.read_text(errors="replace") if log.exists() else ""
        m = pattern.search(text)
        if m:
            return m
        if proc.poll() is not None:
            last = (text.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
            raise DeviceError(f"{what} exited at start: {last}")
        if time.monotonic() > deadline:
            raise DeviceError(f"{what} did not start within {timeout:.0f} s", hint=f"see {log}")
        time.sleep(0.01)


def start_qemu(board, elf: Path, *, timeout: float = START_TIMEOUT_S, trace: tuple[str, ...] = ()) -> Emulator:
    cmd = qemu_command(board, elf) + [a for ev in trace for a in ("-trace", ev)]
    tmp = tempfile.mkdtemp(prefix="edgeq-qemu-")
    log = Path(tmp) / "qemu.log"
    with open(log, "wb") as err:
        proc = spawn(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    emu = Emulator(board=board.name, url="", pid=proc.pid, firmware=elf, command=cmd, log=log, _proc=proc, _tmp=tmp)
    try:
        m = _wait_for(log, proc, _QEMU_PORT_RE, timeout, f"QEMU ({board.qemu['machine']})")
    except BaseException:
        emu.stop()
        raise
    emu.url = f"socket://127.0.0.1:{m.group(1)}"
    return emu


# ---- simavr -------------------------------------------------------------------------------------------------------
def bridge_source() -> Path:
    from edgeq._templates import templates_dir

    return templates_dir() / "tools" / "simavr_bridge.c"


def _cache_dir() -> Path:
    base = os.path.expanduser(os.environ.get("EDGEQ_CACHE_DIR") or "") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "edgeq")
    return Path(base)


def simavr_bridge() -> Path:
    """The UART<->pty bridge on libsimavr, compiled on first use into the cache folder (keyed by its source)."""
    from edgeq.targets.build import APT_AVR

    src = bridge_source()
    digest = hashlib.sha256(src.read_bytes()).hexdigest()[:12]
    exe = _cache_dir() / f"simavr_bridge-{digest}"
    if exe.is_file() and os.access(exe, os.X_OK):
        return exe
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise ToolchainError("no host C compiler to build the simavr bridge", hint="apt-get install -y gcc")
    if not Path("/usr/include/simavr/sim_avr.h").is_file():
        raise ToolchainError("libsimavr headers not found", hint=f"install them: {APT_AVR}")
    exe.parent.mkdir(parents=True, exist_ok=True)
    tmp = exe.with_name(exe.name + f".{os.getpid()}.tmp")
    cmd = [cc, "-O2", "-std=gnu99", "-I/usr/include/simavr", str(src), "-o", str(tmp), "-lsimavr",
           "-lelf", "-lpthread", "-lutil"]
    what = "building the simavr bridge"
    if run(cmd, what=what, timeout=120, check=False).returncode != 0:
        cmd.remove("-lelf")  # some libsimavr builds link libelf statically: retry without -lelf
        run(cmd, what=what, timeout=120, hint=f"install: {APT_AVR}")
    os.replace(tmp, exe)
    return exe


def start_simavr(board, elf: Path, *, timeout: float = START_TIMEOUT_S) -> Emulator:
    exe = simavr_bridge()
    mcu = board.simavr.get("mcu", "atmega328p")
    cmd = [str(exe), str(elf), mcu, str(board.clock_hz)]
    tmp = tempfile.mkdtemp(prefix="edgeq-simavr-")
    log = Path(tmp) / "simavr.log"
    with open(log, "wb") as out:
        proc = spawn(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    emu = Emulator(board=board.name, url="", pid=proc.pid, firmware=elf, command=cmd, log=log, _proc=proc, _tmp=tmp)
    try:
        m = _wait_for(log, proc, _PTY_RE, timeout, "simavr")
    except BaseException:
        emu.stop()
        raise
    emu.url = m.group(1)
    return emu
