"""Run the official MLPerf Tiny runner (mlcommons/tiny benchmark/runner, unmodified) against a firmware in QEMU.

The runner finds its DUT only through ``serial.tools.list_ports.comports()``, by USB VID:PID, and opens it by device
path. QEMU's UART is a TCP socket. This launcher bridges the socket to a pseudo-terminal, adds one port entry for
that pty with the VID:PID the runner's devices yaml expects (the reference NUCLEO-L4R5ZI's 0483:374B), and then runs
the runner's own ``main.py`` in this process with the remaining arguments. Nothing of the runner is copied or
changed.

    python tests/mlperf_runner_launcher.py --url socket://127.0.0.1:PORT --runner DIR --workdir W \
        -- -d DIR/devices_kws_ic_vww.yaml -m p -s datasets

The runner writes ``W/sessions/<time>/{log.txt,results.json,results.txt}``.
"""

from __future__ import annotations

import argparse
import os
import pty
import runpy
import select
import socket
import sys
import threading
import tty


def bridge(url: str, boot_timeout: float = 30.0) -> str:
    """Connect to ``socket://HOST:PORT``, read the firmware's boot lines (up to its first ``m-ready``: a real board
    has booted long before the runner opens its port), then copy bytes both ways to a new pty; returns its path."""
    import time

    host, port = url[len("socket://"):].rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    boot = b""
    deadline = time.monotonic() + boot_timeout
    while b"m-ready\r\n" not in boot:
        if time.monotonic() > deadline:
            raise SystemExit(f"mlperf_runner_launcher: no boot m-ready from {url} in {boot_timeout} s: {boot[-200:]!r}")
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        chunk = sock.recv(4096)
        if not chunk:
            raise SystemExit(f"mlperf_runner_launcher: {url} closed during boot: {boot[-200:]!r}")
        boot += chunk
    sock.settimeout(None)
    master, slave = pty.openpty()
    tty.setraw(slave)  # no echo, no line discipline until the runner opens it (pyserial sets raw mode too)
    path = os.ttyname(slave)
    rest = boot[boot.index(b"m-ready\r\n") + len(b"m-ready\r\n"):]
    if rest:
        os.write(master, rest)

    def pump() -> None:
        while True:
            r, _, _ = select.select([master, sock], [], [], 0.5)
            try:
                if sock in r:
                    data = sock.recv(65536)
                    if not data:
                        return
                    os.write(master, data)
                if master in r:
                    sock.sendall(os.read(master, 65536))
            except OSError:  # the pty side closed for a moment (the runner reopens the port): keep going
                continue

    threading.Thread(target=pump, daemon=True).start()
    # our slave fd stays open: the master never sees EOF while the runner opens and closes the port
    return path


def fake_port(path: str, vid: int, pid: int):
    from serial.tools.list_ports_common import ListPortInfo

    p = ListPortInfo(path, skip_link_detection=True)
    p.vid, p.pid = vid, pid
    p.description = "edgeq firmware in QEMU (pty bridge)"
    p.hwid = f"USB VID:PID={vid:04X}:{pid:04X}"
    return p


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", required=True, help="socket://HOST:PORT of the firmware's UART (edgeq flash prints it)")
    ap.add_argument("--runner", required=True, help="folder of the runner's main.py")
    ap.add_argument("--workdir", required=True, help="where the runner writes sessions/")
    ap.add_argument("--usb", default="0483:374b", help="VID:PID of the port entry (default: the reference DUT's)")
    ap.add_argument("args", nargs=argparse.REMAINDER, help="-- then the runner's own arguments")
    a = ap.parse_args()
    args = a.args[1:] if a.args[:1] == ["--"] else a.args
    vid, pid = (int(x, 16) for x in a.usb.split(":"))

    path = bridge(a.url)
    import serial.tools.list_ports as list_ports

    real = list_ports.comports
    list_ports.comports = lambda include_links=False: [*real(include_links), fake_port(path, vid, pid)]

    runner = os.path.abspath(a.runner)
    os.makedirs(a.workdir, exist_ok=True)
    os.chdir(a.workdir)
    sys.path.insert(0, runner)
    sys.argv = [os.path.join(runner, "main.py"), *args]
    runpy.run_path(sys.argv[0], run_name="__main__")


if __name__ == "__main__":
    main()
