"""The host build of the benchmark firmware as a serial device.

``edgeq export MODEL --board host --build -o DIR`` writes ``DIR/firmware_host``: the real firmware (protocol,
model, kernels) compiled for this computer, its serial line on stdin/stdout. Two ways to reach it:

* the pyserial URL ``edgeq-host://PATH`` (handler package :mod:`edgeq.bench.urls`, registered by
  :func:`edgeq.bench.transport.open_link`; any pyserial program can add it to ``serial.protocol_handler_packages``).
  Opening the port starts the program with stdin and stdout on one end of a socket pair (binary-clean, no tty line
  discipline), the port being the other end; closing it ends the program. PATH is absolute
  (``edgeq-host:///tmp/fw/firmware_host``) or relative to the working folder (``edgeq-host://fw/firmware_host``).
* :class:`HostFirmwareServer`: the program behind a TCP port on 127.0.0.1, a fresh process per connection, as QEMU
  serves a board's UART; a ``socket://`` URL for tools that take one (the fault-injection proxy)::

      python -m edgeq.bench.hostfw fw/firmware_host     # prints socket://127.0.0.1:PORT
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

from serial.serialutil import PortNotOpenError, SerialBase, SerialException, SerialTimeoutException, Timeout

SCHEME = "edgeq-host"
_STOP_GRACE_S = 2.0


def firmware_path(url: str) -> Path:
    """The program an ``edgeq-host://`` URL names (checked: an executable file)."""
    head, sep, rest = url.partition("://")
    if not sep or head.lower() != SCHEME:
        raise SerialException(f"not an {SCHEME}:// URL: {url!r}")
    if "?" in rest:
        raise SerialException(f"{SCHEME}:// takes no options: {url!r}")
    path = Path(rest).expanduser()
    if not path.is_file():
        raise SerialException(f"no host firmware at {path} (build one: edgeq export MODEL --board host --build -o DIR)")
    if not os.access(path, os.X_OK):
        raise SerialException(f"the host firmware {path} is not executable")
    return path


def spawn(path: Path, stdio: socket.socket, stdout: int | socket.socket | None = None) -> subprocess.Popen:
    """Start the firmware with ``stdio`` as its stdin (and stdout, unless ``stdout`` is given), in its own session
    so that a signal to it never reaches us; stderr is ours (a sanitizer report shows up there)."""
    return subprocess.Popen([str(path)], stdin=stdio, stdout=stdout if stdout is not None else stdio,
                            close_fds=True, start_new_session=True)


def stop(proc: subprocess.Popen, grace: float = _STOP_GRACE_S) -> None:
    """Wait for a program whose input was closed (it exits at end of input); kill it after ``grace`` seconds."""
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def exit_text(proc: subprocess.Popen) -> str:
    """How the program ended, for the error the harness shows."""
    try:
        rc = proc.wait(timeout=1.0)
    except subprocess.TimeoutExpired:
        return "the host firmware closed its output"
    if rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = f"signal {-rc}"
        return f"the host firmware was killed by {name}"
    return f"the host firmware exited with status {rc}"


class Serial(SerialBase):
    """pyserial port for ``edgeq-host://PATH`` (see the module docstring). Baud rate and modem lines are accepted
    and ignored, as on ``socket://``."""

    def open(self) -> None:
        if self._port is None:
            raise SerialException("port must be configured before it can be used")
        if self.is_open:
            raise SerialException("port already open")
        path = firmware_path(self.portstr)
        ours, theirs = socket.socketpair()
        try:
            self._proc = spawn(path, theirs)
        except OSError as exc:
            ours.close()
            raise SerialException(f"cannot start the host firmware {path}: {exc}") from None
        finally:
            theirs.close()
        self._sock = ours
        self.is_open = True
        self._reconfigure_port()
        if not self._dsrdtr:
            self._update_dtr_state()
        if not self._rtscts:
            self._update_rts_state()
        # no reset_input_buffer(): the socket pair is new, and what is in it already is the boot banner

    def _reconfigure_port(self) -> None:
        """Nothing to configure on a socket pair (baud rate, parity... mean nothing here)."""

    def close(self) -> None:
        if not self.is_open:
            return
        self.is_open = False
        try:
            self._sock.close()  # end of input: the firmware exits
        finally:
            stop(self._proc)

    @property
    def in_waiting(self) -> int:
        if not self.is_open:
            raise PortNotOpenError()
        buf = fcntl.ioctl(self._sock.fileno(), termios.FIONREAD, struct.pack("i", 0))
        return struct.unpack("i", buf)[0]

    def read(self, size: int = 1) -> bytes:
        if not self.is_open:
            raise PortNotOpenError()
        data = bytearray()
        timeout = Timeout(self._timeout)
        while len(data) < size:
            ready, _, _ = select.select([self._sock], [], [], timeout.time_left())
            if not ready:
                break
            chunk = self._sock.recv(size - len(data))
            if not chunk:
                raise SerialException(exit_text(self._proc))
            data += chunk
            if timeout.expired():
                break
        return bytes(data)

    def write(self, data) -> int:
        if not self.is_open:
            raise PortNotOpenError()
        data = bytes(data)
        self._sock.settimeout(self._write_timeout)
        try:
            self._sock.sendall(data)
        except socket.timeout:
            raise SerialTimeoutException("Write timeout") from None
        except OSError as exc:
            raise SerialException(f"{exit_text(self._proc)} ({exc})") from None
        finally:
            self._sock.settimeout(None)
        return len(data)

    def reset_input_buffer(self) -> None:
        if not self.is_open:
            raise PortNotOpenError()
        while select.select([self._sock], [], [], 0)[0]:
            if not self._sock.recv(4096):
                break

    def reset_output_buffer(self) -> None:
        """Nothing is buffered on our side: written bytes are in the socket already."""

    def send_break(self, duration: float = 0.25) -> None:
        """A host program has no line to break."""

    def _update_break_state(self) -> None:
        pass

    def _update_rts_state(self) -> None:
        pass

    def _update_dtr_state(self) -> None:
        pass

    @property
    def cts(self) -> bool:
        return True

    @property
    def dsr(self) -> bool:
        return True

    @property
    def ri(self) -> bool:
        return False

    @property
    def cd(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._sock.fileno()


class HostFirmwareServer:
    """The host firmware behind ``socket://127.0.0.1:PORT``: each TCP connection runs a fresh program with the
    connection as its serial line. ``record``: keep everything the programs wrote (:attr:`device_output`), the
    device's side of the line before anything between it and the harness could change it."""

    def __init__(self, firmware: str | os.PathLike, *, port: int = 0, record: bool = False):
        self.firmware = firmware_path(f"{SCHEME}://{firmware}")
        self.record = record
        self.device_output = bytearray()
        self._srv = socket.socket()
        self._srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._srv.bind(("127.0.0.1", port))
        self._srv.listen(1)
        self.url = f"socket://127.0.0.1:{self._srv.getsockname()[1]}"
        self._procs: list[subprocess.Popen] = []
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._accept = threading.Thread(target=self._serve, name="edgeq-hostfw", daemon=True)
        self._accept.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                if not select.select([self._srv], [], [], 0.1)[0]:
                    continue
                conn, _ = self._srv.accept()
            except (OSError, ValueError):
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._procs = [p for p in self._procs if p.poll() is None]  # reap the programs whose line closed
            with conn:
                if not self.record:
                    self._procs.append(spawn(self.firmware, conn))
                    continue
                proc = spawn(self.firmware, conn, stdout=subprocess.PIPE)
                self._procs.append(proc)
                t = threading.Thread(target=self._tee, args=(proc, conn.dup()), daemon=True)
                t.start()
                self._threads.append(t)

    def _tee(self, proc: subprocess.Popen, conn: socket.socket) -> None:
        with conn:
            while True:
                chunk = proc.stdout.read1(4096)
                if not chunk:
                    return
                self.device_output += chunk
                try:
                    conn.sendall(chunk)
                except OSError:
                    return

    def stop(self) -> None:
        """Stop accepting; end every program (SIGKILL: the connection may still be open at the other end)."""
        self._stop.set()
        self._srv.close()
        self._accept.join(timeout=5)
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        for t in self._threads:
            t.join(timeout=5)

    def __enter__(self) -> "HostFirmwareServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    import argparse
    import time

    p = argparse.ArgumentParser(prog="python -m edgeq.bench.hostfw", description=__doc__.split("\n\n")[0])
    p.add_argument("firmware", help="the host firmware (DIR/firmware_host of `edgeq export --board host --build`)")
    p.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (default: any free one)")
    a = p.parse_args(argv)
    try:
        server = HostFirmwareServer(a.firmware, port=a.port)
    except (SerialException, OSError) as exc:
        print(f"edgeq: {exc}", file=sys.stderr)
        return 2
    print(server.url, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # `kill PID` stops the programs too (the finally below)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
