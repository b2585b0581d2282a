"""Framing of the serial benchmark protocol (EEMBC commands plus the edgeq extensions), over any :class:`Link`.

Host -> device: ASCII command + ``%``. Device -> host: ``\\r\\n`` lines; every command is answered last by ``m-ready``.
Every read here has a deadline, so nothing can hang. Faults are typed, so the harness can choose:

* :class:`FrameError` - an answer that is corrupt or incomplete (bad CRC, a missing line, an ``e-[...]`` error for a
  command that a bit flip mangled): resync and retry;
* :class:`DeviceReset` - a boot banner (``m-boot-[``) turned up in the middle of a command: the device restarted and
  lost what was loaded;
* :class:`DeviceTimeout` - no complete line in time;
* plain :class:`DeviceError` - a problem retrying cannot fix (wrong firmware, silent device, garbage at a wrong baud).

All constants and device error texts come from :mod:`edgeq.protocol_spec`.
"""

from __future__ import annotations

import json
import re
import time
from collections import deque
from dataclasses import dataclass, field

from edgeq import protocol_spec as spec
from edgeq.bench.transport import Link
from edgeq.errors import DeviceError


class FrameError(DeviceError):
    """A corrupt, incomplete or refused answer; retrying after a resync may help."""


class DeviceTimeout(FrameError):
    """No (complete) answer in time."""


class DeviceReset(FrameError):
    """A boot banner arrived mid-command: the device reset."""

    def __init__(self, banner: str):
        self.banner = banner
        super().__init__(f"the device reset (boot banner {banner!r})")


_T_RE = re.compile(r"^m-t-(\d{1,20})(?:-([0-9a-fA-F]{8}))?$")
_OUT_RE = re.compile(r"^m-out-([0-9a-fA-F]*)-([0-9a-fA-F]{8})$")
_MAX_LINE = 1 << 20


@dataclass
class Answer:
    """The lines of one answer (``m-ready`` excluded) and the ``e-[...]`` errors among them."""

    command: str
    lines: list[str]
    errors: list[str] = field(default_factory=list)


@dataclass
class RunAnswer:
    ticks: int
    output: bytes
    timing_crc: bool
    roundtrip_s: float


_PRINTABLE = bytes(range(32, 127)) + b"\t\r\n\0"


class Device:
    """A device speaking the benchmark protocol over ``link``.

    ``timeout`` is the deadline of one answer line (a longer one is given to commands that compute).
    ``record`` keeps every command sent in :attr:`sent` (tests and the upload-efficiency benchmark read it).
    """

    def __init__(self, link: Link, *, timeout: float = 5.0, record: bool = False):
        self.link = link
        self.timeout = timeout
        self.record = record
        self.sent: list[str] = []
        self.transcript: deque[tuple[str, str]] = deque(maxlen=40)
        self.boot_banners: list[str] = []
        # boot banners seen after the first clean 'name' exchange: the device restarted during the session, wherever
        # the banner turned up (a command's answer, or the drain of a resync)
        self.resets = 0
        self._buf = bytearray()
        self._junk_bytes = 0
        self._line_bytes = 0
        # a binary load was started and not answered: the device may still be counting payload bytes
        self._load_pending = False
        # set by the harness: timed runs completed so far (named when a device that answered goes silent)
        self.runs_done = 0
        self._synced = False  # a 'name' exchange succeeded before: the device speaks the protocol

    # ------------------------------------------------------------------------------------------------ low level
    def send(self, command: str) -> None:
        text = command + spec.CMD_TERMINATOR
        if len(text) > spec.CMD_MAX:
            raise ValueError(f"command longer than {spec.CMD_MAX} characters: {command[:40]!r}...")
        if spec.CMD_TERMINATOR in command or not command.isascii():
            raise ValueError(f"bad command {command!r}")
        if self.record:
            self.sent.append(command)
        self.transcript.append((">", command))
        self.link.write(text.encode("ascii"))

    def send_raw(self, data: bytes) -> None:
        self.link.write(data)

    def readline(self, timeout: float | None = None) -> str:
        """The next non-empty line (without ``\\r\\n``/NULs), or :class:`DeviceTimeout` after ``timeout`` s."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            nl = self._buf.find(b"\n")
            while nl >= 0:
                raw = bytes(self._buf[:nl])
                del self._buf[: nl + 1]
                raw = raw.replace(b"\r", b"").replace(b"\0", b"")
                if raw:
                    line = raw.decode("ascii", errors="replace").strip()
                    if line:
                        self.transcript.append(("<", line[:200]))
                        return line
                nl = self._buf.find(b"\n")
            if len(self._buf) > _MAX_LINE:  # garbage without newlines (wrong baud): drop it
                self._buf.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise DeviceTimeout("no answer from the device in time", where=self.link.name)
            chunk = self.link.read_some(min(left, 0.25))
            junk = len(chunk.translate(None, _PRINTABLE))  # what a wrong baud rate looks like
            self._junk_bytes += junk
            self._line_bytes += len(chunk) - junk
            self._buf += chunk

    def drain(self, quiet: float = 0.25, limit: float = 5.0) -> list[str]:
        """Read and return lines until the device is quiet for ``quiet`` s (at most ``limit`` s)."""
        lines: list[str] = []
        end = time.monotonic() + limit
        while time.monotonic() < end:
            try:
                line = self.readline(timeout=min(quiet, max(0.0, end - time.monotonic())))
            except DeviceTimeout:
                break
            lines.append(line)
            if spec.MSG_BOOT in line:
                self._saw_boot(line)
        if time.monotonic() >= end and self._buf:
            self._buf.clear()
        return lines

    def _saw_boot(self, line: str) -> str:
        banner = _banner_of(line)
        self.boot_banners.append(banner)
        if self._synced:
            self.resets += 1
        return banner

    def answer_line_timeout(self, expected_chars: int = 0) -> float:
        """A line deadline that grows with the line's length on a slow UART."""
        return self.timeout + 3 * expected_chars * self.link.byte_time

    def command(self, command: str, *, timeout: float | None = None, line_timeout: float | None = None) -> Answer:
        """Send ``command`` and collect its answer up to ``m-ready``.

        ``timeout`` bounds the wait for the first line (commands that compute take longer), ``line_timeout`` each
        later one. A boot banner raises :class:`DeviceReset`.
        """
        self.send(command)
        return self.collect(command, timeout=timeout, line_timeout=line_timeout)

    def collect(self, command: str, *, timeout: float | None = None, line_timeout: float | None = None) -> Answer:
        first = self.timeout if timeout is None else timeout
        later = self.timeout if line_timeout is None else line_timeout
        ans = Answer(command, [])
        wait = first
        while True:
            line = self.readline(timeout=wait)
            wait = later
            if spec.MSG_BOOT in line:
                raise DeviceReset(self._saw_boot(line))
            if line.endswith(spec.READY):
                if line != spec.READY:  # a lost line end merged the previous line into m-ready: keep its head
                    ans.lines.append(line[: -len(spec.READY)])
                return ans
            ans.lines.append(line)
            if line.startswith(spec.ERR_PREFIX):
                ans.errors.append(line)

    # ------------------------------------------------------------------------------------------------- session
    def sync(self, *, attempts: int = 4, first_wait: float = 0.3) -> str:
        """Bring the link to a known state: drain, then ``name`` until a clean ``m-name-dut-[...]`` + ``m-ready``.

        Returns the DUT name. Raises a :class:`DeviceError` that says whether the device was silent or sent garbage.
        """
        rx_at_start = self.link.rx_bytes
        self.drain(quiet=first_wait, limit=10.0)
        got_any = bool(self.link.rx_bytes)
        for i in range(attempts):
            try:
                ans = self.command(spec.CMD_NAME, timeout=self.timeout if i < attempts - 1 else 2 * self.timeout)
            except DeviceReset:
                self.drain(quiet=0.3, limit=10.0)
                continue
            except DeviceTimeout:
                self.drain(quiet=0.2, limit=5.0)
                continue
            got_any = True
            for line in ans.lines:
                if line.startswith(spec.MSG_NAME) and line.endswith("]"):
                    self._synced = True
                    return line[len(spec.MSG_NAME):-1]
            self.drain(quiet=0.2, limit=5.0)
        seen = [t for d, t in self.transcript if d == "<"][-3:]
        if self._synced:  # it answered before: a device that stopped, not a wrong firmware
            if self.link.rx_bytes == rx_at_start:
                raise DeviceError(f"the device went silent after {self.runs_done} runs: no answer to 'name%' any "
                                  f"more", where=self.link.name,
                                  hint="did it crash, hang or lose power? reset the board and run again")
            raise DeviceError(f"the device stopped answering 'name%' properly after {self.runs_done} runs",
                              where=self.link.name, hint=f"last lines: {seen}; reset the board and run again")
        if not (got_any or self.link.rx_bytes):
            raise DeviceError("the device is silent: no answer to 'name%'", where=self.link.name,
                              hint="is the benchmark firmware flashed and running? right port? "
                                   "(a board may need a reset after flashing)")
        if self._junk_bytes > self._line_bytes:
            raise DeviceError(
                f"the device answers garbage ({self.link.rx_bytes} bytes, no protocol line)", where=self.link.name,
                hint=f"wrong --baud? (tried {self.link.baud}; edgeq firmware uses 115200 unless built otherwise)",
            )
        raise DeviceError("the device does not answer the EEMBC 'name' command", where=self.link.name,
                          hint=f"not an edgeq / MLPerf Tiny benchmark firmware? last lines: {seen}")

    def info(self, *, attempts: int = 4) -> dict:
        """``edgeq-info`` as a dict. Read until two answers agree (the line has no CRC)."""
        prev = None
        last_err: Exception | None = None
        unknown = 0
        for _ in range(attempts * 2):
            try:
                ans = self.command(spec.CMD_INFO)
                lines = [ln for ln in ans.lines if ln.startswith(spec.MSG_INFO)]
                if ans.errors and not lines:
                    unknown += 1
                    if unknown >= 2:
                        raise DeviceError(f"the device does not know 'edgeq-info' ({ans.errors[0]})",
                                          where=self.link.name,
                                          hint="not edgeq firmware? use --protocol mlperf for MLPerf Tiny firmware")
                    raise FrameError(ans.errors[0])
                if len(lines) != 1:
                    raise FrameError("no m-info line")
                obj = json.loads(lines[0][len(spec.MSG_INFO):])
                if not isinstance(obj, dict):
                    raise FrameError("m-info is not a JSON object")
            except FrameError as exc:
                last_err = exc
                self.resync()
                continue
            except json.JSONDecodeError as exc:
                last_err = exc
                continue
            if obj == prev:
                return obj
            prev = obj
        raise DeviceError(f"no consistent edgeq-info answer ({last_err})", where=self.link.name)

    def resync(self) -> None:
        """After a fault: drain whatever is in flight, then a clean ``name`` exchange.

        If a binary load was under way the device may still be waiting for payload bytes (a byte was lost, or the
        answer was); anything sent now would be swallowed as payload. So stay silent until the device gives up on
        its own (``e-[timeout]`` after BIN_BYTE_TIMEOUT_MS without a byte)."""
        if self._load_pending:
            self.drain(quiet=spec.BIN_BYTE_TIMEOUT_MS / 1000.0 + 0.5, limit=30.0)
            self._load_pending = False
        self.sync(attempts=4, first_wait=0.25)

    # ---------------------------------------------------------------------------------------- edgeq extensions
    def load(self, data: bytes) -> None:
        """Binary load: ``edgeq-load N CRC`` -> ``m-bin-ready`` -> N raw bytes -> ``m-load-done``.

        Raises :class:`FrameError` on ``e-[crc mismatch]``/``e-[timeout]``/anything unexpected (retryable), a plain
        :class:`DeviceError` when the device refuses the size.
        """
        n = len(data)
        crc = spec.crc32(data)
        self._load_pending = True
        self.send(f"{spec.CMD_LOAD} {n} {crc:08x}")
        while True:
            line = self.readline()
            if spec.MSG_BOOT in line:
                raise DeviceReset(self._saw_boot(line))
            if line == spec.MSG_BIN_READY:
                break
            if line.startswith(spec.ERR_PREFIX):
                self._load_pending = False
                rest = self._finish_quietly()
                if spec.is_size_refusal(line):
                    raise DeviceError(f"the device refuses a {n}-byte input: {line}", where=self.link.name)
                raise FrameError(f"edgeq-load refused: {line} {rest}")
            if line == spec.READY:
                raise FrameError("edgeq-load answered m-ready without m-bin-ready")
        self.send_raw(data)
        wait = self.timeout + spec.BIN_BYTE_TIMEOUT_MS / 1000.0 + 3 * n * self.link.byte_time
        ans = self.collect(spec.CMD_LOAD, timeout=wait)
        self._load_pending = False
        if ans.errors:
            raise FrameError(f"binary load failed: {ans.errors[0]}")
        if spec.MSG_LOAD_DONE not in ans.lines:
            raise FrameError(f"binary load not confirmed (got {ans.lines[:3]})")

    def _finish_quietly(self) -> str:
        try:
            ans = self.collect("", timeout=1.0)
            return " ".join(ans.lines)
        except FrameError:
            return ""

    def run(self, warmup: int, *, output_bytes: int | None, timeout: float = 30.0) -> RunAnswer:
        """``edgeq-run W``: W untimed warm-ups and one timed inference on the loaded input."""
        t0 = time.perf_counter()
        self.send(f"{spec.CMD_RUN} {int(warmup)}")
        out_chars = 2 * (output_bytes or 0) + 20
        ans = self.collect(spec.CMD_RUN, timeout=timeout, line_timeout=self.answer_line_timeout(out_chars))
        rt = time.perf_counter() - t0
        if ans.errors:
            raise FrameError(f"edgeq-run failed: {ans.errors[0]}")
        ticks_lines = [ln for ln in ans.lines if ln.startswith(spec.MSG_TICKS)]
        out_lines = [ln for ln in ans.lines if ln.startswith(spec.MSG_OUT)]
        if len(ticks_lines) != 1 or len(out_lines) != 1:
            raise FrameError(f"edgeq-run answer incomplete ({len(ticks_lines)} m-t, {len(out_lines)} m-out lines)")
        m = _T_RE.match(ticks_lines[0])
        if not m:
            raise FrameError(f"corrupt timing line {ticks_lines[0][:40]!r}")
        digits, tcrc = m.group(1), m.group(2)
        if tcrc is not None and int(tcrc, 16) != spec.crc32(digits.encode()):
            raise FrameError("timing line CRC mismatch")
        m2 = _OUT_RE.match(out_lines[0])
        if not m2 or len(m2.group(1)) % 2:
            raise FrameError("corrupt output line")
        out = bytes.fromhex(m2.group(1))
        if spec.crc32(out) != int(m2.group(2), 16):
            raise FrameError("output CRC mismatch")
        if output_bytes is not None and len(out) != output_bytes:
            raise FrameError(f"output has {len(out)} bytes, expected {output_bytes}")
        return RunAnswer(int(digits), out, tcrc is not None, rt)


def _banner_of(line: str) -> str:
    i = line.find(spec.MSG_BOOT)
    rest = line[i + len(spec.MSG_BOOT):]
    j = rest.find("]")
    return rest[:j] if j >= 0 else rest
