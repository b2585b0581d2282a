"""The one way edgeq runs an external tool (make, a compiler, an uploader, the host reference binary).

    from edgeq._proc import run
    run(["make", "-s"], what="building model_host", cwd=out_dir, timeout=600, log=out_dir / "build.log")

Every run is bounded by a timeout and started in its own process group, so a timeout, Ctrl-C or SIGTERM
(:class:`edgeq.errors.Terminated`) kills the tool *and* what it started (``make -j`` and its compilers) instead of
leaving orphans. With ``log`` the command line and its whole output are appended to that file. A tool that fails or
times out raises one line (:class:`edgeq.errors.ToolchainError` unless ``error`` says otherwise): what was running,
the first line of its output that mentions an error (else its last line), where, and where the full output is.

:func:`stop` ends a long-running process started with :func:`spawn` (an emulator, a probe): SIGTERM to its group,
then SIGKILL after a grace period.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
from pathlib import Path
from typing import Sequence

from edgeq.errors import EdgeqError, ToolchainError


def first_error_line(output: str, default: str) -> str:
    """The line of a tool's output that says what went wrong: the first one mentioning an error, else the last one."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    return next((ln for ln in lines if "error" in ln.lower()), lines[-1] if lines else default)


def run(cmd: Sequence[str], *, what: str, timeout: float, cwd: str | os.PathLike | None = None,
        env: dict[str, str] | None = None, input: bytes | str | None = None, text: bool = True,
        log: str | os.PathLike | None = None, where: str | None = None, hint: str | None = None,
        check: bool = True, error: type[EdgeqError] = ToolchainError) -> subprocess.CompletedProcess:
    """Run ``cmd`` to completion and return its :class:`subprocess.CompletedProcess` (stdout and stderr captured).

    ``what`` names the step in the error ("building the qemu-m4 firmware (make)"); ``where`` defaults to ``cwd``;
    ``hint`` defaults to the log file, else the command line. ``env`` entries are added to this process's
    environment. With ``check=False`` a non-zero exit is returned, not raised (a timeout always raises)."""
    argv = [str(a) for a in cmd]
    full_env = {**os.environ, **env} if env else None
    where = where or (str(cwd) if cwd is not None else None)
    proc = spawn(argv, cwd=cwd, env=full_env, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=text)
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(proc, grace=0)
        raise error(f"{what} took longer than {timeout:.0f} s", where=where,
                    hint=hint or f"command: {shlex.join(argv)}") from None
    except BaseException:  # Ctrl-C, Terminated, a broken pipe: never leave the tool (or its children) running
        stop(proc, grace=0)
        raise
    if log is not None:
        _append_log(Path(log), argv, out, err, text)
    if check and proc.returncode != 0:
        both = (err + out) if text else (err + out).decode("utf-8", "replace")
        line = first_error_line(both, f"exit status {proc.returncode}")
        raise error(f"{what} failed: {line[:300]}", where=where,
                    hint=hint or (f"full log: {log}" if log is not None else f"command: {shlex.join(argv)}"))
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def spawn(cmd: Sequence[str], **popen_kwargs) -> subprocess.Popen:
    """Start ``cmd`` in a new process group (so :func:`stop` can end it with everything it started)."""
    return subprocess.Popen([str(a) for a in cmd], start_new_session=True, **popen_kwargs)


def stop(proc: subprocess.Popen, *, grace: float = 2.0) -> None:
    """End ``proc`` and its process group: SIGTERM, then SIGKILL after ``grace`` seconds (at once with 0); waits for
    it, closes its pipes. Safe on a process that already exited."""
    if proc.poll() is None:
        _signal_group(proc, signal.SIGTERM if grace > 0 else signal.SIGKILL)
        try:
            proc.wait(timeout=grace if grace > 0 else 5)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait(timeout=5)
    elif grace == 0:  # the leader exited; children it left behind still hold its group id (so it is not reused)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream:
            stream.close()


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)  # spawn() made the pid the group id
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            pass


def _append_log(log: Path, argv: list[str], out, err, text: bool) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    if not text:
        out, err = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
    with open(log, "a", encoding="utf-8") as f:
        f.write("$ " + shlex.join(argv) + "\n" + out + err + "\n")
