"""Helpers for the firmware tests (test_firmware_*.py): talk to a firmware over its serial URL with bounded reads,
TFLM reference outputs, toolchain checks. Deliberately independent of edgeq.bench (the harness has its own tests)."""

from __future__ import annotations

import shutil
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

APT_ARM = "gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm"
APT_AVR = "arduino-builder arduino-core-avr gcc-avr avr-libc simavr libsimavr-dev"


def need_arm() -> None:
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm", "make"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} not installed (apt-get install -y --no-install-recommends {APT_ARM} make)")


def need_avr() -> None:
    for tool in ("arduino-builder", "avr-gcc", "simavr"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} not installed (apt-get install -y --no-install-recommends {APT_AVR})")
    if not Path("/usr/include/simavr/sim_avr.h").is_file():
        pytest.skip(f"libsimavr-dev not installed (apt-get install -y --no-install-recommends {APT_AVR})")


def tflm_runtime():
    try:
        from tflite_micro.python.tflite_micro import runtime
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"tflite-micro not installed ({exc})")
    return runtime


def tflm_outputs(model: Path, x: np.ndarray) -> bytes:
    """Raw bytes of output 0 from the TFLM reference interpreter."""
    runtime = tflm_runtime()
    it = runtime.Interpreter.from_file(str(model))
    it.set_input(x, 0)
    it.invoke()
    return np.ascontiguousarray(it.get_output(0)).tobytes()


def random_input(model: Path, seed: int = 0) -> np.ndarray:
    from edgeq.tflite import read_model

    t = read_model(model).input_tensors()[0]
    rng = np.random.default_rng(seed)
    if t.dtype == "int8":
        return rng.integers(-128, 128, size=t.shape, dtype=np.int8)
    if t.dtype == "int16":
        return rng.integers(-32768, 32768, size=t.shape, dtype=np.int16)
    if t.dtype == "float32":
        return rng.standard_normal(t.shape).astype(np.float32)
    raise AssertionError(f"unexpected input dtype {t.dtype}")


class Serial:
    """A serial link to a firmware with every read bounded; ``cmd`` returns the answer's lines (m-ready excluded)."""

    def __init__(self, url: str, timeout: float = 30.0):
        import serial

        self.url = url
        if "://" in url:
            self.s = serial.serial_for_url(url, timeout=0.05)
        else:
            self.s = serial.Serial(url, 115200, timeout=0.05)
        self.timeout = timeout
        self.buf = b""

    def close(self) -> None:
        self.s.close()

    def read_until(self, token: bytes, timeout: float | None = None) -> bytes:
        deadline = time.monotonic() + (timeout or self.timeout)
        while token not in self.buf:
            if time.monotonic() > deadline:
                raise AssertionError(f"no {token!r} within {timeout or self.timeout} s; got {self.buf[-400:]!r}")
            chunk = self.s.read(max(1, self.s.in_waiting))
            self.buf += chunk
        i = self.buf.index(token) + len(token)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def lines_until_ready(self, timeout: float | None = None) -> list[str]:
        raw = self.read_until(b"m-ready\r\n", timeout)
        lines = [ln.strip("\r") for ln in raw.decode("ascii", "replace").split("\n")]
        return [ln for ln in lines if ln and ln != "m-ready"]

    def boot(self, timeout: float = 20.0) -> list[str]:
        return self.lines_until_ready(timeout)

    def cmd(self, text: str, timeout: float | None = None) -> list[str]:
        self.s.write(text.encode("ascii") + b"%")
        return self.lines_until_ready(timeout)

    def send_raw(self, data: bytes) -> None:
        self.s.write(data)

    def load(self, data: bytes) -> list[str]:
        self.s.write(f"edgeq-load {len(data)} {zlib.crc32(data) & 0xFFFFFFFF:08x}%".encode())
        head = self.read_until(b"\r\n", 10).decode()
        assert head.strip() == "m-bin-ready", head
        self.s.write(data)
        return self.lines_until_ready(60)

    def run(self, warmup: int = 0) -> tuple[int, bytes]:
        lines = self.cmd(f"edgeq-run {warmup}", timeout=120)
        t = next(ln for ln in lines if ln.startswith("m-t-"))
        o = next(ln for ln in lines if ln.startswith("m-out-"))
        _, _, digits, crc = t.split("-")
        assert int(crc, 16) == zlib.crc32(digits.encode()), t
        hexes, ocrc = o[len("m-out-"):].rsplit("-", 1)
        out = bytes.fromhex(hexes)
        assert int(ocrc, 16) == zlib.crc32(out), "m-out CRC"
        return int(digits), out

    def info(self) -> dict:
        import json

        lines = self.cmd("edgeq-info")
        line = next(ln for ln in lines if ln.startswith("m-info-"))
        return json.loads(line[len("m-info-"):])
