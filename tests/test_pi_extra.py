"""The [pi] extra picks the runtime a Raspberry Pi can install, by environment markers: ai-edge-litert on aarch64
(64-bit Raspberry Pi OS) and x86-64, tflite-runtime with NumPy < 2 on armv7l (32-bit Raspberry Pi OS, where no
ai-edge-litert wheel exists). ./run.sh pi installs it for real in a bookworm arm64 root."""

from __future__ import annotations

import tomllib

import pytest
from packaging.requirements import Requirement

from conftest import REPO


def _pi_for(machine: str) -> dict[str, str]:
    reqs = [Requirement(r) for r in tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]["pi"]]
    env = {"platform_machine": machine, "sys_platform": "linux", "python_version": "3.11", "extra": "pi"}
    return {r.name: str(r.specifier) for r in reqs if r.marker is None or r.marker.evaluate(env)}


@pytest.mark.parametrize("machine", ["aarch64", "x86_64"])
def test_pi_extra_on_64_bit(machine):
    got = _pi_for(machine)
    assert "ai-edge-litert" in got and "tflite-runtime" not in got and "numpy" not in got


def test_pi_extra_on_armv7l():
    got = _pi_for("armv7l")
    assert "ai-edge-litert" not in got
    assert got["tflite-runtime"] == ">=2.14" and got["numpy"] == "<2"
