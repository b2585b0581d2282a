"""Shared fixtures. Engineers: add fixtures in clearly headed sections; don't reorder others'."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


# --- MLPerf Tiny models (../shared/models/mlperf-tiny, or $EDGEQ_SHARED_MODELS) -------------------------------------
def shared_models_dir() -> Path:
    env = os.environ.get("EDGEQ_SHARED_MODELS")
    return Path(env) if env else REPO.parent / "shared" / "models" / "mlperf-tiny"


@pytest.fixture(scope="session")
def shared_models() -> Path:
    d = shared_models_dir()
    if not (d / "kws_ref_model.tflite").is_file():
        pytest.skip(f"MLPerf Tiny models not found in {d} (set EDGEQ_SHARED_MODELS to the folder that holds them)")
    return d


# --- running the CLI the way a user does -----------------------------------------------------------------------------
def run_cli(*args: str, cwd: Path | None = None, timeout: float = 600, env: dict | None = None,
            input: bytes | None = None) -> subprocess.CompletedProcess:
    """``python -m edgeq ARGS`` in a subprocess; returns the CompletedProcess with text stdout/stderr."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    return subprocess.run([sys.executable, "-m", "edgeq", *map(str, args)], cwd=cwd, timeout=timeout,
                          capture_output=True, env=full_env, input=input, text=input is None)


def assert_user_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    """A user mistake: exit 2, exactly one line on stderr naming the problem, no traceback."""
    err = proc.stderr if isinstance(proc.stderr, str) else proc.stderr.decode()
    assert proc.returncode == 2, f"exit {proc.returncode}, stderr: {err}"
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got: {err!r}"
    for needle in needles:
        assert needle.lower() in lines[0].lower(), f"{needle!r} not in {lines[0]!r}"


def require_tool(name: str, apt: str) -> str:
    path = shutil.which(name)
    if not path:
        pytest.skip(f"{name} not installed (apt-get install -y --no-install-recommends {apt})")
    return path
