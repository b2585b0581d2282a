"""Board-farm places: a labgrid place is acquired through labgrid's client API, its serial resource becomes the port
the harness opens, and the place is released on every exit path.

    with acquire_place("board-1", "127.0.0.1:20408") as board:
        bench_device(BenchOptions(port=board.url, baud=board.baud, ...))

A labgrid exporter publishes a board's serial port as a ``NetworkSerialPort`` (ser2net speaking RFC 2217, started by
the exporter when the place is acquired): it becomes ``rfc2217://HOST:PORT`` (``edgeq.bench.transport`` adds
``ign_set_control``), or ``socket://HOST:PORT`` for the ``raw`` protocol. A place whose serial resource is a local one
(``USBSerialPort``/``RawSerialPort`` on this machine) gives its device path. labgrid is the optional extra
``edgeq[farm]``, imported only here.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from edgeq.errors import DeviceError, EdgeqError

#: labgrid's default coordinator port
DEFAULT_COORDINATOR = "127.0.0.1:20408"
#: how long to wait for the exporter's ser2net to listen after the place is acquired
SERIAL_READY_S = 15.0
_SERIAL_CLASSES = ("NetworkSerialPort", "USBSerialPort", "RawSerialPort")


@dataclass
class PlacePort:
    place: str
    url: str
    baud: int
    resource: str  # labgrid class/name of the serial resource, e.g. "NetworkSerialPort/RawSerialPort"
    tags: dict[str, str] = field(default_factory=dict)  # the place's labgrid tags (``board`` names its edgeq board)
    # the serial port is a device on this machine: a local resource, or a NetworkSerialPort whose exporter runs here
    # (its ``extra.path``); edgeq's own uploader can then use ``device``
    local: bool = False
    device: str | None = None

    def to_dict(self) -> dict:
        return {"place": self.place, "url": self.url, "baud": self.baud, "resource": self.resource,
                "tags": dict(self.tags), "device": self.device}


def coordinator_address(value: str | None) -> str:
    """``--coordinator``, else ``$LG_COORDINATOR`` (labgrid's own variable), else labgrid's default."""
    return value or os.environ.get("LG_COORDINATOR") or DEFAULT_COORDINATOR


def _labgrid():
    try:
        from labgrid.remote import client
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb2
    except ImportError as exc:
        raise EdgeqError(f"--place needs labgrid, which is not installed ({exc})", where="--place",
                         hint="pip install 'edgeq[farm]'") from None
    return client, pb2


def serial_url(cls: str, args: dict) -> tuple[str, int]:
    """The pyserial URL and baud rate of one labgrid serial resource (its class and its ``args``)."""
    speed = int(args.get("speed") or 115200)
    if cls == "NetworkSerialPort":
        host, port = args.get("host"), args.get("port")
        if not host or not port:
            raise DeviceError(f"the place's {cls} has no host/port yet (is its exporter running?)")
        host = f"[{host}]" if ":" in str(host) else host
        scheme = "socket" if args.get("protocol") == "raw" else "rfc2217"
        return f"{scheme}://{host}:{int(port)}", speed
    path = args.get("port")
    if not path:
        raise DeviceError(f"the place's {cls} has no device path (is the board plugged in?)")
    return str(path), speed


def _grpc_text(exc: BaseException) -> str:
    details = getattr(exc, "details", None)
    text = details() if callable(details) else str(exc)
    return (text or type(exc).__name__).strip().splitlines()[0]


def _wait_listening(url: str, timeout: float) -> None:
    """A place's ser2net starts when the place is acquired: wait (bounded) until it accepts connections."""
    if "://" not in url:
        return
    hostport = url.split("://", 1)[1].split("?", 1)[0]
    host, _, port = hostport.rpartition(":")
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=1.0).close()
            return
        except OSError as exc:
            if time.monotonic() >= deadline:
                raise DeviceError(f"the place's serial server does not answer: {exc}", where=url,
                                  hint="is ser2net installed on the exporter host, and the port reachable?")
            time.sleep(0.1)


@contextlib.contextmanager
def _client_session(client, address: str) -> Iterator[tuple]:
    """A labgrid client session with the coordinator at ``address``, on a fresh event loop of this thread: yields
    ``(loop, session)``; on exit the session is stopped and closed and the loop closed, whatever the exit."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)  # labgrid's client looks the loop up (a matrix acquires places from worker threads)
    _mute_root_logger(True)
    session = None
    quiet = io.StringIO()  # labgrid's client prints progress ("acquired place ...") on stdout: not ours
    try:
        try:
            with contextlib.redirect_stdout(quiet):
                session = loop.run_until_complete(asyncio.wait_for(_start(client, address, loop), 15.0))
        except (asyncio.TimeoutError, client.Error, OSError) as exc:
            raise DeviceError(f"cannot reach the labgrid coordinator: {_grpc_text(exc) or 'timed out'}",
                              where=address, hint="start labgrid-coordinator there, or give --coordinator HOST:PORT")
        yield loop, session
    finally:
        try:
            if session is not None:
                with contextlib.suppress(Exception), contextlib.redirect_stdout(quiet):
                    loop.run_until_complete(asyncio.wait_for(session.stop(), 5))
                with contextlib.suppress(Exception):
                    loop.run_until_complete(asyncio.wait_for(session.close(), 5))
        finally:
            loop.close()
            asyncio.set_event_loop(None)
            _mute_root_logger(False)


def _check_known(session, name: str, address: str) -> None:
    if name not in session.places:
        known = ", ".join(sorted(session.places)) or "none"
        raise DeviceError(f"no such labgrid place (places: {known})", where=f"place {name} at {address}",
                          hint=f"labgrid-client -x {address} -p {name} create, then add-match")


@contextlib.contextmanager
def acquire_place(name: str, coordinator: str | None = None, *,
                  ready_timeout: float = SERIAL_READY_S) -> Iterator[PlacePort]:
    """Acquire labgrid place ``name`` at ``coordinator`` (HOST:PORT), yield its serial port, release it on exit
    (whatever the exit: an error, Ctrl-C, SIGTERM turned into an exception by the CLI)."""
    if not name:
        raise EdgeqError("--place needs a place name", where="--place", hint="labgrid-client places lists them")
    client, pb2 = _labgrid()
    address = coordinator_address(coordinator)
    where = f"place {name} at {address}"
    with _client_session(client, address) as (loop, session):
        _check_known(session, name, address)
        place = session.places[name]
        if place.acquired:
            raise DeviceError(f"the place is already acquired by {place.acquired}", where=where,
                              hint=f"wait for it, or release it: labgrid-client -x {address} -p {name} release")
        acquired = False
        try:
            try:
                loop.run_until_complete(session.stub.AcquirePlace(pb2.AcquirePlaceRequest(placename=name)))
                acquired = True
                loop.run_until_complete(session.sync_with_coordinator())
            except Exception as exc:  # grpc.aio.AioRpcError: the coordinator refused (e.g. a resource is taken)
                if acquired:
                    raise
                raise DeviceError(f"acquiring the place failed: {_grpc_text(exc)}", where=where,
                                  hint="labgrid-client -p NAME show lists its matches and their exporters") from None
            port = _serial_port(session, client, session.places[name], where)
            _wait_listening(port.url, ready_timeout)
            yield port
        finally:
            if acquired:
                with contextlib.suppress(Exception):
                    loop.run_until_complete(
                        asyncio.wait_for(session.stub.ReleasePlace(pb2.ReleasePlaceRequest(placename=name)), 10))


_mute_lock = threading.Lock()
_mute_count = 0
_mute_handler = logging.NullHandler()


def _mute_root_logger(on: bool) -> None:
    """labgrid logs connection trouble on the root logger; edgeq reports it as one line of its own. With no handler of
    the user's there, a NullHandler keeps Python's last-resort handler from printing it, for as long as any place
    is held (places are acquired from several threads by a matrix run)."""
    global _mute_count
    root = logging.getLogger()
    with _mute_lock:
        if on:
            if _mute_count == 0 and not root.handlers:
                root.addHandler(_mute_handler)
            _mute_count += 1
        else:
            _mute_count = max(0, _mute_count - 1)
            if _mute_count == 0 and _mute_handler in root.handlers:
                root.removeHandler(_mute_handler)


async def _start(client, address: str, loop):
    session = client.ClientSession(client.proxymanager.get_grpc_address(address, default_port=20408), loop)
    await session.start()
    return session


def _serial_port(session, client, place, where: str) -> PlacePort:
    try:
        resources = session.get_target_resources(place)
    except client.Error as exc:
        raise DeviceError(f"the place's resources are not available: {exc}", where=where) from None
    serial = [(name, cls, res) for (name, cls), res in sorted(resources.items()) if cls in _SERIAL_CLASSES]
    if not serial and not resources and getattr(place, "matches", None):
        matches = ", ".join(str(m) for m in place.matches)
        raise DeviceError(f"none of the place's resources is there (matches: {matches}): its exporter is gone",
                          where=where, hint="is labgrid-exporter running on the board's host, and the board plugged "
                                            "in? (labgrid-client resources lists what the exporters publish)")
    if not serial:
        have = ", ".join(sorted(cls for _, cls in resources)) or "none"
        raise DeviceError(f"the place has no serial port (resources: {have})", where=where,
                          hint="add-match the exporter's serial resource, e.g. labgrid-client -p NAME add-match "
                               "'EXPORTER/GROUP/NetworkSerialPort'")
    if len(serial) > 1:
        names = ", ".join(f"{cls}/{name}" for name, cls, _ in serial)
        raise DeviceError(f"the place has {len(serial)} serial ports ({names}); edgeq needs exactly one",
                          where=where, hint="keep one serial match on the place (labgrid-client delete-match)")
    name, cls, res = serial[0]
    args = dict(res.args)
    if cls != "NetworkSerialPort" and not res.avail:
        raise DeviceError(f"the place's {cls} is not available (unplugged?)", where=where)
    url, baud = serial_url(cls, args)
    if cls == "NetworkSerialPort":
        extra = dict(getattr(res, "extra", None) or {})
        device = extra.get("path") if _this_machine(str(args.get("host", ""))) else None
    else:
        device = url
    return PlacePort(place=place.name, url=url, baud=baud, resource=f"{cls}/{name}",
                     tags={str(k): str(v) for k, v in dict(place.tags or {}).items()},
                     local=device is not None, device=device)


def _this_machine(host: str) -> bool:
    """Whether an exporter that publishes its ports as ``host`` runs on this machine."""
    return host.strip("[]") in {"localhost", "127.0.0.1", "::1", socket.gethostname(), socket.getfqdn()}


def place_tags(names: list[str], coordinator: str | None = None) -> dict[str, dict[str, str]]:
    """The labgrid tags of each place in ``names`` (one short client session); an unknown place or an unreachable
    coordinator is a :class:`DeviceError`. A matrix run checks its places with this before anything is built."""
    client, _ = _labgrid()
    address = coordinator_address(coordinator)
    with _client_session(client, address) as (_loop, session):
        out = {}
        for name in names:
            _check_known(session, name, address)
            out[name] = {str(k): str(v) for k, v in dict(session.places[name].tags or {}).items()}
        return out
