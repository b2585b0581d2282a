"""A tiny device simulator speaking the benchmark protocol, ONLY for unit tests of the host's framing and retry logic
(the issue's verification runs against the real QEMU/simavr firmware). It listens on 127.0.0.1 (QEMU style: one
TCP client, boot lines on connect) and behaves like firmware_templates/protocol byte for byte where the host can see
it: ``%``-terminated commands, 80-char buffer, binary load with a per-byte timeout, m-t with CRC, m-out with CRC.
The "model" is ``output = reversed(input[:out_bytes]) xor 0x5a``.
"""

from __future__ import annotations

import json
import select
import socket
import threading

from edgeq import protocol_spec as spec

IN_BYTES = 64
OUT_BYTES = 12


def sim_model(data: bytes) -> bytes:
    return bytes(b ^ 0x5A for b in reversed(data[:OUT_BYTES]))


def sim_ticks(data: bytes) -> int:
    return 1000 + sum(data) % 7


class SimDevice:
    def __init__(self, *, timing_crc: bool = True, byte_timeout_s: float = spec.BIN_BYTE_TIMEOUT_MS / 1000,
                 wrong_output: bool = False, silent: bool = False, model_sha: str = "0123456789abcdef",
                 know_info: bool = True, silent_after_runs: int | None = None):
        self.timing_crc = timing_crc
        self.byte_timeout_s = byte_timeout_s
        self.wrong_output = wrong_output
        self.silent = silent
        self.model_sha = model_sha
        self.know_info = know_info
        self.silent_after_runs = silent_after_runs  # answer this many edgeq-run commands, then never again
        self.runs_served = 0
        self.buffer = bytearray(IN_BYTES)
        self.commands: list[str] = []
        self._srv = socket.socket()
        self._srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._srv.bind(("127.0.0.1", 0))
        self._srv.listen(1)
        self.url = f"socket://127.0.0.1:{self._srv.getsockname()[1]}"
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._serve, daemon=True)
        self._t.start()

    def stop(self):
        self._stop.set()
        self._srv.close()
        self._t.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # ----------------------------------------------------------------------------------------------------
    def _serve(self):
        while not self._stop.is_set():
            try:
                r, _, _ = select.select([self._srv], [], [], 0.1)
                if not r:
                    continue
                c, _ = self._srv.accept()
            except OSError:
                return
            try:
                c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._session(c)
            except OSError:
                pass
            finally:
                c.close()

    def _getc(self, c, timeout):
        r, _, _ = select.select([c], [], [], timeout)
        if not r:
            return None
        b = c.recv(1)
        if not b:
            raise OSError("closed")
        return b[0]

    def _say(self, c, *lines):
        if not self.silent:
            c.sendall("".join(ln + spec.LINE_END for ln in lines).encode())

    def _session(self, c):
        self._say(c, f"{spec.MSG_BOOT}edgeq sim portable sim]", spec.MSG_TIMESTAMP_MODE, f"{spec.MSG_LAP_US}0",
                  spec.MSG_INIT_DONE, spec.READY)
        cmd = bytearray()
        while not self._stop.is_set():
            b = self._getc(c, 0.1)
            if b is None:
                continue
            if b == ord(spec.CMD_TERMINATOR):
                text = cmd.decode("ascii", "replace")
                cmd.clear()
                self._command(c, text)
            elif len(cmd) < spec.CMD_MAX - 1:
                cmd.append(b)
            else:
                cmd[-1] = b

    def _command(self, c, text):
        self.commands.append(text)
        words = text.split(spec.CMD_DELIMITER)
        w = words[0]
        if w == spec.CMD_NAME:
            self._say(c, f"{spec.MSG_NAME}{spec.DUT_NAME}]")
        elif w == spec.CMD_PROFILE:
            self._say(c, f"{spec.MSG_PROFILE}{spec.MLPERF_PROFILE}]", f"{spec.MSG_MODEL}kws01]")
        elif w == spec.CMD_INFO and self.know_info:
            info = {"model": "sim", "sha256": self.model_sha, "backend": "portable", "runtime": "edgeq",
                    "board": "sim", "core": "python", "clock_hz": 1000000, "arena_bytes": 0,
                    "inputs": [{"shape": [1, IN_BYTES], "dtype": "int8", "scale": 0.5, "zero_point": 0,
                                "bytes": IN_BYTES}],
                    "outputs": [{"shape": [1, OUT_BYTES], "dtype": "int8", "scale": 0.5, "zero_point": 0,
                                 "bytes": OUT_BYTES}],
                    "timer": {"unit": "cycles", "per_tick": 1}, "protocol": spec.PROTOCOL_VERSION,
                    "buffer_bytes": IN_BYTES}
            self._say(c, spec.MSG_INFO + json.dumps(info, separators=(",", ":")))
        elif w == spec.CMD_LOAD and len(words) == 3:
            self._load(c, words)
            return
        elif w == spec.CMD_RUN and len(words) == 2:
            out = sim_model(bytes(self.buffer))
            if self.wrong_output:
                out = bytes([out[0] ^ 1]) + out[1:]
            t = str(sim_ticks(bytes(self.buffer)))
            tline = f"{spec.MSG_TICKS}{t}-{spec.crc32(t.encode()):08x}" if self.timing_crc else f"{spec.MSG_TICKS}{t}"
            self._say(c, tline, f"{spec.MSG_OUT}{out.hex()}-{spec.crc32(out):08x}")
            self.runs_served += 1
            if self.silent_after_runs is not None and self.runs_served >= self.silent_after_runs:
                self._say(c, spec.READY)
                self.silent = True
                return
        elif w == spec.CMD_DB and len(words) == 3 and words[1] == "load":
            self._db_n = int(words[2])
            self._db_pos = 0
            self._say(c, f"{spec.MSG_EXPECTING}{self._db_n} bytes]")
        elif w == spec.CMD_DB and len(words) == 2:
            data = bytes.fromhex(words[1])
            self.buffer[self._db_pos:self._db_pos + len(data)] = data
            self._db_pos += len(data)
            if self._db_pos >= self._db_n:
                self._say(c, spec.MSG_LOAD_DONE)
        elif w == spec.CMD_INFER:
            n = int(words[1])
            self._say(c, f"{spec.MSG_WARMUP_START}{words[2]}", spec.MSG_WARMUP_DONE, f"{spec.MSG_INFER_START}{n}",
                      f"{spec.MSG_LAP_US}4294967000", f"{spec.MSG_LAP_US}{(4294967000 + 1000 * n) % 2**32}",
                      spec.MSG_INFER_DONE,
                      f"{spec.MSG_RESULTS}" + ",".join(f"{(b - 0) * 0.5:0.3f}"
                                                        for b in _s8(sim_model(bytes(self.buffer)))) + "]")
        else:
            self._say(c, f"e-[Unknown command: {w}]")
        self._say(c, spec.READY)

    def _load(self, c, words):
        try:
            n = int(words[1])
            crc = int(words[2], 16)
        except ValueError:
            self._say(c, "e-[bad edgeq-load]", spec.READY)
            return
        if n > IN_BYTES:
            self._say(c, f"e-[edgeq-load {n} exceeds the {IN_BYTES}-byte input buffer]", spec.READY)
            return
        self._say(c, spec.MSG_BIN_READY)
        data = bytearray()
        while len(data) < n:
            b = self._getc(c, self.byte_timeout_s)
            if b is None:
                self._say(c, spec.ERR_TIMEOUT, spec.READY)
                return
            data.append(b)
        if spec.crc32(bytes(data)) != crc:
            self._say(c, spec.ERR_CRC, spec.READY)
            return
        self.buffer[:n] = data
        self._say(c, spec.MSG_LOAD_DONE, spec.READY)


def _s8(b: bytes):
    return [x - 256 if x > 127 else x for x in b]

