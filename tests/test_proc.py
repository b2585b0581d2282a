"""edgeq._proc.run: the one runner of external tools. A failure is one line naming what ran, the tool's error line
and where its log is; a timeout kills the tool and the processes it started (no orphans)."""

from __future__ import annotations

import os
import sys
import time

import pytest

from edgeq._proc import run, spawn, stop
from edgeq.errors import EdgeqError, ToolchainError


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead too (its parent, the shell, was killed and init reaps it)
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_failure_is_one_line_with_the_error_and_the_log(tmp_path):
    log = tmp_path / "build" / "build.log"
    script = "echo compiling; echo 'model.c:3: error: expected ;' >&2; echo 'make: *** [all] Error 1' >&2; exit 2"
    with pytest.raises(ToolchainError) as e:
        run(["sh", "-c", script], what="building the firmware", cwd=tmp_path, log=log, timeout=30)
    assert str(e.value) == (f"{tmp_path}: building the firmware failed: model.c:3: error: expected ; "
                            f"(full log: {log})")
    text = log.read_text()
    assert text.startswith("$ sh -c ") and "compiling" in text and "Error 1" in text


def test_output_input_and_check_false(tmp_path):
    res = run([sys.executable, "-c", "import sys; d = sys.stdin.buffer.read(); sys.stdout.buffer.write(d[::-1])"],
              what="reverse", input=b"abc", text=False, timeout=60)
    assert res.stdout == b"cba" and res.returncode == 0
    res = run(["sh", "-c", "exit 3"], what="x", timeout=30, check=False)
    assert res.returncode == 3


def test_timeout_kills_the_tool_and_its_children(tmp_path):
    pidfile = tmp_path / "child.pid"
    script = f"sleep 300 & echo $! > {pidfile}; wait"
    t0 = time.monotonic()
    with pytest.raises(ToolchainError) as e:
        run(["sh", "-c", script], what="a hanging step", timeout=1, where="here")
    assert str(e.value).startswith("here: a hanging step took longer than 1 s (command: sh -c ")
    assert time.monotonic() - t0 < 60
    child = int(pidfile.read_text())
    for _ in range(100):
        if not _alive(child):
            break
        time.sleep(0.05)
    assert not _alive(child), "the tool's child survived the timeout"


def test_stop_ends_a_spawned_group():
    proc = spawn(["sh", "-c", "sleep 300 & wait"])
    stop(proc, grace=1.0)
    assert proc.returncode is not None
    stop(proc)  # a second stop is harmless


def test_error_type_can_be_chosen():
    class Mine(EdgeqError):
        pass

    with pytest.raises(Mine):
        run(["sh", "-c", "exit 1"], what="x", timeout=30, error=Mine)
