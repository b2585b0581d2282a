"""A serial fault-injection proxy: a TCP relay on 127.0.0.1 between the harness and a TCP serial port (QEMU's
``-serial`` socket, a raw ser2net port, or an RFC 2217 server such as ser2net or a labgrid exporter's) that flips
bits, drops bytes, stalls, and fakes device resets (a boot banner), all from one seed so a failure can be replayed.

    python -m edgeq.bench.faultproxy socket://127.0.0.1:4321 --flip 1e-3 --drop 1e-4 --reset 0.01 --seed 7
    # prints socket://127.0.0.1:PORT: give that to `edgeq bench --port`
    python -m edgeq.bench.faultproxy rfc2217://127.0.0.1:3333 --drop 1e-4     # prints rfc2217://127.0.0.1:PORT

Over RFC 2217 the faults hit the serial data only, as they would on the wire behind the server: the proxy follows the
telnet stream (IAC commands, option negotiation, RFC 2217 subnegotiations pass untouched; a data byte 0xFF travels
as IAC IAC and is faulted as one byte, re-escaped when a flip makes one).

Rates: ``flip``/``drop``/``stall`` per byte, ``reset`` per device line. ``direction`` picks which way the byte faults
apply: ``both``, ``to-device`` or ``from-device`` (fake resets are always device -> host).
"""

from __future__ import annotations

import argparse
import random
import select
import socket
import sys
import threading
import time
from dataclasses import dataclass, field

from edgeq import protocol_spec as spec

FAKE_BOOT = (f"{spec.MSG_BOOT}edgeq fault-proxy reset]{spec.LINE_END}{spec.MSG_TIMESTAMP_MODE}{spec.LINE_END}"
             f"{spec.MSG_INIT_DONE}{spec.LINE_END}{spec.READY}{spec.LINE_END}").encode()


@dataclass
class FaultStats:
    flips: int = 0
    drops: int = 0
    stalls: int = 0
    resets: int = 0
    bytes_to_device: int = 0
    bytes_from_device: int = 0
    connections: int = 0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


IAC, SB, SE = 255, 250, 240
_OPTION_VERBS = (251, 252, 253, 254)  # WILL WONT DO DONT


class TelnetSplitter:
    """Splits one direction of a telnet (RFC 854 / RFC 2217) byte stream into serial data and telnet commands,
    across chunk boundaries: :meth:`split` returns ``(is_data, bytes)`` segments in order, data unescaped."""

    def __init__(self) -> None:
        self.state = "data"
        self.cmd = bytearray()

    def split(self, data: bytes) -> list[tuple[bool, bytes]]:
        out: list[tuple[bool, bytes]] = []
        buf = bytearray()

        def flush() -> None:
            if buf:
                out.append((True, bytes(buf)))
                buf.clear()

        for b in data:
            st = self.state
            if st == "data":
                if b == IAC:
                    self.state = "iac"
                else:
                    buf.append(b)
            elif st == "iac":
                if b == IAC:  # an escaped 0xFF data byte
                    buf.append(IAC)
                    self.state = "data"
                elif b in _OPTION_VERBS:
                    flush()
                    self.cmd = bytearray([IAC, b])
                    self.state = "option"
                elif b == SB:
                    flush()
                    self.cmd = bytearray([IAC, SB])
                    self.state = "sb"
                else:  # a two-byte command (NOP, BREAK, ...)
                    flush()
                    out.append((False, bytes([IAC, b])))
                    self.state = "data"
            elif st == "option":
                self.cmd.append(b)
                out.append((False, bytes(self.cmd)))
                self.state = "data"
            elif st == "sb":
                self.cmd.append(b)
                if b == IAC:
                    self.state = "sb-iac"
            else:  # "sb-iac"
                self.cmd.append(b)
                if b == SE:
                    out.append((False, bytes(self.cmd)))
                    self.state = "data"
                else:  # IAC IAC inside a subnegotiation
                    self.state = "sb"
        flush()
        return out


def _telnet_escape(data: bytes) -> bytes:
    return data.replace(b"\xff", b"\xff\xff")


def _parse_upstream(upstream: str) -> tuple[str, int]:
    u = upstream.split("://", 1)[-1].split("?", 1)[0]
    host, _, port = u.rpartition(":")
    return host or "127.0.0.1", int(port)


@dataclass
class FaultProxy:
    upstream: str
    seed: int = 0
    flip: float = 0.0
    drop: float = 0.0
    stall: float = 0.0
    stall_s: float = 0.5
    reset: float = 0.0
    direction: str = "both"
    listen_port: int = 0
    stats: FaultStats = field(default_factory=FaultStats)

    def __post_init__(self):
        if self.direction not in ("both", "to-device", "from-device"):
            raise ValueError(f"direction must be both, to-device or from-device, not {self.direction!r}")
        # one random stream per direction: the faults of a direction depend on its own bytes only, not on how the
        # two directions' chunks interleave in time (which a loaded machine changes), so a seed replays
        self._rng_up = random.Random(2 * self.seed)
        self._rng_down = random.Random(2 * self.seed + 1)
        self.telnet = self.upstream.startswith("rfc2217://")
        self._stop = threading.Event()
        self._server: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.url: str | None = None

    # ----------------------------------------------------------------------------------------------- lifecycle
    def start(self) -> str:
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", self.listen_port))
        srv.listen(1)
        self._server = srv
        scheme = "rfc2217" if self.telnet else "socket"
        self.url = f"{scheme}://127.0.0.1:{srv.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, name="edgeq-faultproxy", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            try:
                self._server.close()
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "FaultProxy":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # --------------------------------------------------------------------------------------------------- relay
    def _serve(self) -> None:
        assert self._server is not None
        # one upstream connection for the proxy's whole life: QEMU's serial socket takes one client, and a
        # harness that reconnects must find the same device. An RFC 2217 session is negotiated per connection, so
        # there the upstream connection follows the client's (ser2net keeps the device open in between).
        up: socket.socket | None = None
        while not self._stop.is_set():
            try:
                r, _, _ = select.select([self._server], [], [], 0.1)
            except (OSError, ValueError):
                break
            if not r:
                continue
            try:
                client, _ = self._server.accept()
            except OSError:
                break
            self.stats.connections += 1
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if up is None:
                try:
                    up = socket.create_connection(_parse_upstream(self.upstream), timeout=10)
                    up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                except OSError:
                    client.close()
                    continue
            if not self._pump(client, up) or self.telnet:
                up.close()
                up = None
            client.close()
        if up is not None:
            up.close()

    def _pump(self, client: socket.socket, up: socket.socket) -> bool:
        """Relay until one side closes; True if the upstream is still usable."""
        line_start = True
        if self.telnet:
            up_split, down_split = TelnetSplitter(), TelnetSplitter()
        while not self._stop.is_set():
            try:
                r, _, _ = select.select([client, up], [], [], 0.1)
            except (OSError, ValueError):
                return False
            for s in r:
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    return s is client
                if s is client:
                    faults = self.direction in ("both", "to-device")
                    if self.telnet:
                        out = b""
                        for is_data, seg in up_split.split(data):
                            if is_data:
                                self.stats.bytes_to_device += len(seg)
                                seg = _telnet_escape(self._mangle(seg, faults))
                            out += seg
                    else:
                        self.stats.bytes_to_device += len(data)
                        out = self._mangle(data, faults)
                    try:
                        up.sendall(out)
                    except OSError:
                        return False
                else:
                    if self.telnet:
                        out = b""
                        for is_data, seg in down_split.split(data):
                            if is_data:
                                self.stats.bytes_from_device += len(seg)
                                seg, line_start = self._mangle_down(seg, line_start)
                                seg = _telnet_escape(seg)
                            out += seg
                    else:
                        self.stats.bytes_from_device += len(data)
                        out, line_start = self._mangle_down(data, line_start)
                    try:
                        client.sendall(out)
                    except OSError:
                        return True
        return True

    def _mangle(self, data: bytes, faults: bool, rng: random.Random | None = None) -> bytes:
        """Byte faults (stall, drop, flip) on ``data``; ``rng`` is the direction's stream (to-device by default)."""
        if not faults or not (self.flip or self.drop or self.stall):
            return data
        rng = rng or self._rng_up
        out = bytearray()
        for b in data:
            if self.stall and rng.random() < self.stall:
                self.stats.stalls += 1
                time.sleep(self.stall_s)
            if self.drop and rng.random() < self.drop:
                self.stats.drops += 1
                continue
            if self.flip and rng.random() < self.flip:
                self.stats.flips += 1
                b ^= 1 << rng.randrange(8)
            out.append(b)
        return bytes(out)

    def _mangle_down(self, data: bytes, line_start: bool) -> tuple[bytes, bool]:
        """Device -> host: a fake reset (boot banner) may come before any line, then the byte faults. The banner of a
        fake reset arrives intact (a board that reboots prints it whole), so every one is visible to the harness."""
        faults = self.direction in ("both", "from-device")
        rng = self._rng_down
        if not self.reset:
            if data:
                line_start = data[-1] == 0x0A
            return self._mangle(data, faults, rng), line_start
        out = bytearray()
        for b in data:
            if line_start and rng.random() < self.reset:
                self.stats.resets += 1
                out += FAKE_BOOT
            line_start = b == 0x0A
            out += self._mangle(bytes([b]), faults, rng)
        return bytes(out), line_start


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edgeq.bench.faultproxy", description=__doc__.split("\n\n")[0])
    p.add_argument("upstream", help="the serial port's TCP address: socket://HOST:PORT (raw) or rfc2217://HOST:PORT")
    p.add_argument("--flip", type=float, default=0.0, help="bit-flip probability per byte")
    p.add_argument("--drop", type=float, default=0.0, help="drop probability per byte")
    p.add_argument("--stall", type=float, default=0.0, help="stall probability per byte")
    p.add_argument("--stall-s", type=float, default=0.5, help="stall length in seconds")
    p.add_argument("--reset", type=float, default=0.0, help="fake-reset (boot banner) probability per device line")
    p.add_argument("--direction", default="both", choices=["both", "to-device", "from-device"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--listen-port", type=int, default=0, help="port on 127.0.0.1 (default: any free one)")
    a = p.parse_args(argv)
    proxy = FaultProxy(a.upstream, seed=a.seed, flip=a.flip, drop=a.drop, stall=a.stall, stall_s=a.stall_s,
                       reset=a.reset, direction=a.direction, listen_port=a.listen_port)
    print(proxy.start(), flush=True)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        proxy.stop()
        print(proxy.stats.to_dict(), file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
