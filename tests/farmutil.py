"""A board farm on localhost for the tests: QEMU boards whose UART is a pty (what a USB serial port looks like to
ser2net), ser2net exporting a pty as RFC 2217 on 127.0.0.1, free ports. Every process is stopped by its PID."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import require_tool

_PTY_RE = re.compile(r"char device redirected to (/dev/pts/\d+)")


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def stop(proc: subprocess.Popen | None, timeout: float = 2.0) -> None:
    """SIGTERM, then SIGKILL (ser2net 4 ignores SIGTERM while a client is connected); by PID, idempotent."""
    if proc is None or proc.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            continue


def wait_listening(port: int, proc: subprocess.Popen, what: str, timeout: float = 15.0) -> None:
    """Until something accepts TCP connections on 127.0.0.1:``port`` (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


class QemuPty:
    """A qemu-m4 (or other QEMU board) running ``fw`` with its UART on a pty: ``.pty`` is /dev/pts/N."""

    def __init__(self, fw: Path, board: str = "qemu-m4"):
        require_tool("qemu-system-arm", "qemu-system-arm")
        from edgeq.targets.boards import get_board
        from edgeq.targets.emulators import qemu_command, resolve_firmware

        cmd = qemu_command(get_board(board), resolve_firmware(board, fw))
        i = cmd.index("-chardev")
        cmd = cmd[:i] + ["-serial", "pty"] + cmd[i + 4:]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        line = self.proc.stdout.readline()  # QEMU names the pty first thing
        m = _PTY_RE.search(line)
        if not m:
            self.stop()
            raise RuntimeError(f"QEMU did not name its pty: {line!r}")
        self.pty = m.group(1)

    def stop(self) -> None:
        stop(self.proc)
        if self.proc.stdout:
            self.proc.stdout.close()

    def __enter__(self) -> "QemuPty":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class Ser2net:
    """Debian's ser2net in the foreground exporting ``device`` as RFC 2217 on 127.0.0.1:``.port`` (a YAML config in
    ``folder``). ``.url`` is the rfc2217:// URL edgeq opens."""

    def __init__(self, device: str, folder: Path, speed: int = 115200):
        exe = require_tool("ser2net", "ser2net")
        self.port = free_port()
        self.config = Path(folder) / f"ser2net-{self.port}.yaml"
        self.config.write_text(
            f"connection: &con{self.port}\n"
            f"  accepter: telnet(rfc2217),tcp,127.0.0.1,{self.port}\n"
            f"  connector: serialdev,{device},{speed}n81,local\n")
        self.proc = subprocess.Popen([exe, "-n", "-d", "-c", str(self.config)], cwd=folder,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_listening(self.port, self.proc, "ser2net")
        except BaseException:
            self.stop()
            raise
        self.url = f"rfc2217://127.0.0.1:{self.port}"

    def kill(self) -> None:
        """Die like a crashed exporter host: SIGKILL, no goodbye to the client."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)

    def stop(self) -> None:
        stop(self.proc)

    def __enter__(self) -> "Ser2net":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def build_qemu_firmware(model: Path, out: Path, board: str = "qemu-m4") -> Path:
    require_tool("arm-none-eabi-gcc", "gcc-arm-none-eabi libnewlib-arm-none-eabi")
    from edgeq.targets.export import export

    export(model, board, out, build=True, backend="portable")
    return out


def established_to(port: int) -> bool:
    """Whether some TCP connection to 127.0.0.1:``port`` is ESTABLISHED (from /proc/net/tcp)."""
    want = f"0100007F:{port:04X}"
    try:
        rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:  # pragma: no cover - not Linux
        pytest.skip("/proc/net/tcp is not available")
    return any(r.split()[2] == want and r.split()[3] == "01" for r in rows)


# ---- labgrid: a coordinator and exporters on 127.0.0.1 ------------------------------------------------------------
def _lg(module: str) -> list[str]:
    import sys

    return [sys.executable, "-c", f"from labgrid.remote.{module} import main; main()"]


def labgrid_client(coordinator: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """``labgrid-client -x COORDINATOR ARGS`` (as a user would type it)."""
    return subprocess.run(_lg("client") + ["-x", coordinator, *args], capture_output=True, text=True,
                          timeout=timeout)


class LabgridFarm:
    """labgrid-coordinator on 127.0.0.1 in a fresh folder (it writes places.yaml/resources.yaml there), plus one
    exporter per board: ``add_board(name, pty)`` exports the pty as a RawSerialPort (the exporter starts ser2net
    when the place is acquired) and creates place ``name`` matching it."""

    def __init__(self, folder: Path):
        pytest.importorskip("labgrid", reason="labgrid not installed (pip install 'edgeq[farm]')")
        require_tool("ser2net", "ser2net")
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.exporters: dict[str, subprocess.Popen] = {}
        self.coordinator = subprocess.Popen(_lg("coordinator") + ["-l", self.address], cwd=self.folder,
                                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                            stderr=open(self.folder / "coordinator.log", "wb"))
        try:
            wait_listening(self.port, self.coordinator, "labgrid-coordinator")
        except BaseException:
            self.stop()
            raise

    def add_board(self, name: str, pty: str) -> None:
        cfg = self.folder / f"exporter-{name}.yaml"
        cfg.write_text(f"serial:\n  RawSerialPort:\n    port: {pty}\n    speed: 115200\n")
        self.start_exporter(name)
        for args in (("-p", name, "create"), ("-p", name, "add-match", f"{name}/serial/*")):
            proc = labgrid_client(self.address, *args)
            assert proc.returncode == 0, proc.stderr

    def start_exporter(self, name: str) -> None:
        """(Re)start the exporter of board ``name`` (its config written by add_board) and wait for its resource."""
        cfg = self.folder / f"exporter-{name}.yaml"
        self.exporters[name] = subprocess.Popen(
            _lg("exporter") + ["-c", self.address, "--name", name, "--hostname", "127.0.0.1", str(cfg)],
            cwd=self.folder, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(self.folder / f"exporter-{name}.log", "wb"))
        deadline = time.monotonic() + 60
        while f"{name}/serial/NetworkSerialPort" not in labgrid_client(self.address, "resources").stdout:
            if self.exporters[name].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"exporter {name} did not register: "
                                   + (self.folder / f"exporter-{name}.log").read_text(errors="replace")[-2000:])
            time.sleep(0.2)

    def acquired_by(self, name: str) -> str | None:
        out = labgrid_client(self.address, "-p", name, "show").stdout
        m = re.search(r"^\s*acquired: (\S+)", out, re.M)
        assert m, out
        return None if m.group(1) == "None" else m.group(1)

    def kill_exporter(self, name: str) -> None:
        """The exporter's host dies: SIGKILL the exporter and the ser2net it started (no goodbye to anyone)."""
        proc = self.exporters[name]
        if proc.poll() is None:
            kids = _children(proc.pid)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
            for pid in kids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def stop(self) -> None:
        for proc in self.exporters.values():
            stop(proc)  # the exporter stops its ser2net on SIGTERM
        stop(self.coordinator)

    def __enter__(self) -> "LabgridFarm":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _children(pid: int) -> list[int]:
    """PIDs whose parent is ``pid`` (from /proc)."""
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


class ReflashableBoard:
    """A qemu-m4 on a stable serial path ``link`` (a symlink to its pty), flashed by tests/farm_board.py: what a
    farm file's ``flash:`` command runs for this board."""

    SCRIPT = Path(__file__).with_name("farm_board.py")

    def __init__(self, link: Path, image: Path):
        require_tool("qemu-system-arm", "qemu-system-arm")
        self.link = Path(link)
        self.flash(image)

    def flash_command(self) -> list[str]:
        import sys

        return [sys.executable, str(self.SCRIPT), "flash", str(self.link), "{image}"]

    def flash(self, image: Path) -> None:
        import sys

        proc = subprocess.run([sys.executable, str(self.SCRIPT), "flash", str(self.link), str(image)],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr

    def stop(self) -> None:
        import sys

        subprocess.run([sys.executable, str(self.SCRIPT), "stop", str(self.link)], capture_output=True, timeout=30)
