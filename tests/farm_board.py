"""An emulated board on a farm host, reflashable: QEMU running a firmware image with its UART on a pty, reached
through a stable path (a symlink) that the host's labgrid exporter publishes as a RawSerialPort. "Flashing" stops
the QEMU serving that path and starts one with the new image, as a USB board's flasher would overwrite its flash and
reset it; the serial path stays the same.

    python farm_board.py flash LINK IMAGE [--board qemu-m4]    # (re)start the board on LINK with IMAGE
    python farm_board.py stop LINK

LINK.pid holds the running QEMU's PID, LINK.log its output. Used as a place's ``flash:`` command in the farm file of
tests/test_farm_matrix.py (run on the exporter host, which on localhost is this machine).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

_PTY_RE = re.compile(rb"char device redirected to (/dev/pts/\d+)")


def stop(link: Path) -> None:
    pidfile = Path(f"{link}.pid")
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            try:  # our child when started by this process (the test's first flash): reap it
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    break
            except ChildProcessError:
                pass
            time.sleep(0.02)
        else:
            continue
        break
    pidfile.unlink(missing_ok=True)


def flash(link: Path, image: Path, board: str) -> int:
    from edgeq.targets.boards import get_board
    from edgeq.targets.emulators import qemu_command, resolve_firmware

    cmd = qemu_command(get_board(board), resolve_firmware(board, image))
    i = cmd.index("-chardev")
    cmd = cmd[:i] + ["-serial", "pty"] + cmd[i + 4:]
    stop(link)
    log = Path(f"{link}.log")
    with open(log, "wb") as f:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                                start_new_session=True)  # the board outlives this flasher
    Path(f"{link}.pid").write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + 20
    while True:
        m = _PTY_RE.search(log.read_bytes())
        if m:
            break
        if proc.poll() is not None or time.monotonic() > deadline:
            print(f"QEMU did not start: {log.read_text(errors='replace')[-500:]}", file=sys.stderr)
            stop(link)
            return 1
        time.sleep(0.02)
    tmp = Path(f"{link}.tmp")
    tmp.unlink(missing_ok=True)
    os.symlink(m.group(1).decode(), tmp)
    os.replace(tmp, link)
    print(f"{board} running {image} on {link} -> {m.group(1).decode()} (PID {proc.pid})")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="farm_board.py", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("flash")
    f.add_argument("link", type=Path)
    f.add_argument("image", type=Path)
    f.add_argument("--board", default="qemu-m4")
    s = sub.add_parser("stop")
    s.add_argument("link", type=Path)
    a = p.parse_args(argv)
    if a.cmd == "flash":
        return flash(a.link, a.image, a.board)
    stop(a.link)
    return 0


if __name__ == "__main__":
    sys.exit(main())
