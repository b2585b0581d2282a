"""Transport: bytes in and out of a serial port or a pyserial URL, every read bounded by a timeout.

This module knows nothing about the protocol (that is :mod:`edgeq.bench.protocol`). ``PORT`` is a device path
(``/dev/ttyACM0``, ``COM3``, a pty) or any pyserial URL (``socket://127.0.0.1:4321`` for QEMU's TCP serial,
``rfc2217://host:port`` for a network serial server, ``edgeq-host://PATH`` for the host build of the firmware, whose
handler lives in :mod:`edgeq.bench.urls`). Failures to open become one-line :class:`DeviceError`\\ s.
"""

from __future__ import annotations

import os
import time

from edgeq.errors import DeviceError, EdgeqError

#: edgeq's own pyserial URL handlers (``edgeq-host://``), found through ``serial.protocol_handler_packages``
URL_HANDLERS = "edgeq.bench.urls"
#: how long a single blocking read may wait before the caller's deadline is looked at again (serial ports)
POLL_S = 0.02
WRITE_TIMEOUT_S = 10.0


def _list_ports_hint() -> str:
    try:
        from serial.tools import list_ports

        names = [p.device for p in list_ports.comports()]
    except Exception:  # pragma: no cover - list_ports is best effort
        names = []
    if names:
        return "ports here: " + ", ".join(names[:8])
    return "no serial ports found here; a board must be plugged in, or use --board qemu-m4 or a socket:// URL"


#: URL schemes whose ports are byte streams (a TCP socket, the host firmware's socket pair): a read waits for the
#: first byte with the caller's deadline as the port's own timeout, then takes whatever else has arrived; writes need
#: no flush. Every other port (a tty, RFC 2217) keeps one short poll timeout -- changing a tty's timeout reprograms
#: the port -- and polls until the deadline.
STREAM_SCHEMES = ("socket", "edgeq-host")


def scheme(port: str) -> str | None:
    """The URL scheme of ``port`` (lower case), or None for a device path."""
    head, sep, _ = port.partition("://")
    return head.lower() if sep else None


class Link:
    """An open byte link with counters. ``read_some`` never blocks past its timeout. How it reads follows from the
    port's URL (:data:`STREAM_SCHEMES`), decided once by :func:`open_link`."""

    def __init__(self, ser, name: str, baud: int):
        self.ser = ser
        self.name = name
        self.baud = baud
        self.is_stream = scheme(name) in STREAM_SCHEMES
        self.is_real_uart = scheme(name) is None
        self.tx_bytes = 0
        self.rx_bytes = 0
        self._timeout = ser.timeout

    # seconds one byte takes on the wire; sockets (QEMU) are no slower than 115200 baud
    @property
    def byte_time(self) -> float:
        return 10.0 / self.baud if self.is_real_uart else 10.0 / 115200

    def _set_timeout(self, t: float) -> None:
        if t != self._timeout:
            self.ser.timeout = t
            self._timeout = t

    def read_some(self, timeout: float) -> bytes:
        """Whatever arrives within ``timeout`` seconds (at least one byte), or ``b''``."""
        import serial

        timeout = max(0.0, timeout)
        try:
            if self.is_stream:
                self._set_timeout(timeout)
                data = self.ser.read(1)
                if data:
                    self._set_timeout(0)
                    data += self.ser.read(65536)
            else:
                deadline = time.monotonic() + timeout
                self._set_timeout(POLL_S)
                while True:
                    n = self.ser.in_waiting
                    data = self.ser.read(max(1, n))
                    if data or time.monotonic() >= deadline:
                        break
        except serial.SerialException as exc:
            raise DeviceError(f"the serial link failed while reading: {exc}", where=self.name,
                              hint="the device or emulator closed the connection (did it crash or get unplugged?)")
        except OSError as exc:
            raise DeviceError(f"the serial link failed while reading: {exc}", where=self.name)
        self.rx_bytes += len(data)
        return data

    def write(self, data: bytes) -> None:
        import serial

        try:
            self.ser.write(data)
            if not self.is_stream:
                self.ser.flush()
        except serial.SerialTimeoutException:
            raise DeviceError(f"writing {len(data)} bytes timed out after {WRITE_TIMEOUT_S:.0f} s", where=self.name,
                              hint="the device does not read its serial input (flow control? wrong port?)")
        except (serial.SerialException, OSError) as exc:
            raise DeviceError(f"the serial link failed while writing: {exc}", where=self.name,
                              hint="the device or emulator closed the connection")
        self.tx_bytes += len(data)

    def close(self) -> None:
        try:
            self.ser.close()
        except Exception:  # pragma: no cover - closing is best effort
            pass

    def __enter__(self) -> "Link":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_link(port: str, baud: int = 115200, *, connect_timeout: float = 0.0) -> Link:
    """Open ``port`` (device path or pyserial URL). ``connect_timeout`` > 0 retries a refused ``socket://`` connection
    for that long (an emulator that is still starting)."""
    import serial

    if not port:
        raise DeviceError("no serial port given", hint="use --port /dev/ttyACM0 (or a socket:// URL) or --board")
    if baud <= 0:
        raise DeviceError(f"--baud must be positive, got {baud}")
    is_url = scheme(port) is not None
    if not is_url and not os.path.exists(port) and not port.upper().startswith("COM"):
        raise DeviceError("no such serial port", where=port, hint=_list_ports_hint())
    if URL_HANDLERS not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append(URL_HANDLERS)
    url, kwargs = _url_and_options(port)
    deadline = time.monotonic() + connect_timeout
    while True:
        try:
            ser = serial.serial_for_url(url, baudrate=baud, timeout=POLL_S, **kwargs)
            break
        except serial.SerialException as exc:
            text = str(exc)
            refused = "refused" in text.lower() or "errno 111" in text.lower()
            if refused and time.monotonic() < deadline:
                time.sleep(0.05)
                continue
            if refused:
                raise DeviceError("nothing listens at this address", where=port,
                                  hint=_open_hint(port) if port.lower().startswith("rfc2217://")
                                  else "start the emulator first, or let edgeq start it with --board")
            if "permission denied" in text.lower() or "errno 13" in text.lower():
                raise DeviceError("permission denied opening the serial port", where=port,
                                  hint="add yourself to the 'dialout' group (sudo usermod -aG dialout $USER), "
                                       "then log in again")
            if "no such file" in text.lower() or "errno 2" in text.lower():
                raise DeviceError("no such serial port", where=port, hint=_list_ports_hint())
            raise DeviceError(f"cannot open the serial port: {text}", where=port)
        except ValueError as exc:  # bad URL / unsupported scheme / bad baud
            raise DeviceError(f"cannot open the serial port: {exc}", where=port,
                              hint="use a device path or a pyserial URL such as socket://127.0.0.1:4321")
        except (OSError, NotImplementedError) as exc:  # a transport refusing an option, a socket error past connect
            raise DeviceError(f"cannot open the serial port: {type(exc).__name__}: {exc}", where=port,
                              hint=_open_hint(port))
    return Link(ser, port, baud)


def _url_and_options(port: str) -> tuple[str, dict]:
    """The URL pyserial opens for ``port`` and the keyword options it accepts for that transport.

    ``rfc2217://``: pyserial's RFC 2217 client refuses ``write_timeout`` (NotImplementedError), so writes rely on TCP;
    and ``ign_set_control`` is added (as labgrid's SerialDriver does) because a server that cannot drive the modem
    lines -- ser2net exporting a pty or a USB port without them -- never answers the DTR/RTS request, and the open
    would time out waiting for option 'control'. Every other port gets ``write_timeout``.
    """
    if port.lower().startswith("rfc2217://"):
        from urllib.parse import parse_qs, urlsplit

        query = urlsplit(port).query
        if "ign_set_control" not in parse_qs(query, keep_blank_values=True):
            port += ("&" if query else "?") + "ign_set_control"
        _quiet_rfc2217_reader()
        return port, {}
    return port, {"write_timeout": WRITE_TIMEOUT_S}


_RFC2217_READER = "pySerial RFC 2217 reader thread"


def _quiet_rfc2217_reader() -> None:
    """pyserial's RFC 2217 client answers telnet negotiation from a reader thread; when the server drops the
    connection (ser2net cannot open its device, an exporter stops) that thread dies with a socket error and Python
    prints its traceback. The caller already gets the failure (the open raises, reads return nothing), so that
    thread's socket errors are not printed; every other thread's exceptions go to the previous hook."""
    import threading

    previous = threading.excepthook
    if getattr(previous, "_edgeq_rfc2217", False):
        return

    def hook(args) -> None:
        name = getattr(args.thread, "name", "") or ""
        if name.startswith(_RFC2217_READER) and isinstance(args.exc_value, OSError):
            return
        previous(args)

    hook._edgeq_rfc2217 = True  # type: ignore[attr-defined]
    threading.excepthook = hook


def _open_hint(port: str) -> str:
    if port.lower().startswith("rfc2217://"):
        return "is an RFC 2217 server (ser2net with telnet(rfc2217)) listening there and its serial device present?"
    return "check the port, or use a pyserial URL such as socket://127.0.0.1:4321"


def _usb_id(p) -> str:
    return f"{p.vid:04x}:{p.pid:04x}" if getattr(p, "vid", None) is not None else "no USB id"


def find_port(board: str | None = None, ports: list | None = None) -> str:
    """``--port auto``: the one serial port whose USB VID:PID belongs to ``board`` (any board of the table when
    None), from pyserial's ``list_ports.comports()`` (or ``ports``). Zero or several matches: an error that lists
    the candidates."""
    from edgeq.targets.boards import boards as all_boards, get_board

    boards = [get_board(board)] if board else [b for b in all_boards().values() if b.usb_ids]
    if board and not boards[0].usb_ids:
        raise EdgeqError(f"--port auto: board {boards[0].name} has no USB VID:PID in the board table",
                         where="--port", hint="give the port itself, e.g. --port /dev/ttyACM0")
    if ports is None:
        from serial.tools import list_ports

        ports = list(list_ports.comports())
    matches = [(p, b) for p in ports for b in boards if (p.vid, p.pid) in b.usb_ids]
    if len(matches) == 1:
        return matches[0][0].device
    want = (f"{boards[0].name} ({', '.join(f'{v:04x}:{p:04x}' for v, p in boards[0].usb_ids)})" if board
            else "any board of the table")
    if not matches:
        seen = ", ".join(f"{p.device} ({_usb_id(p)})" for p in ports) or "none"
        raise EdgeqError(f"--port auto: no serial port has the USB VID:PID of {want}; ports present: {seen}",
                         where="--port", hint="plug the board in (and check its cable carries data), or give --port")
    listed = ", ".join(f"{p.device} ({b.name} {_usb_id(p)})" for p, b in matches)
    raise EdgeqError(f"--port auto: {len(matches)} serial ports match {want}: {listed}", where="--port",
                     hint="pick one with --port PORT")
