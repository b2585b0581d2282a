"""Running TensorFlow converter work in a child process, so that a converter crash is an error, not edgeq's death.

The TFLite converter and its calibrator are C++; on a graph they mishandle they abort or segfault (a Keras 3 LSTM
did, exit 139, no message). :func:`run_isolated` runs one registered function (``"module:function"``) in
``python -m edgeq.convert.isolate`` with pickled arguments and returns its pickled result. An
:class:`~edgeq.errors.EdgeqError` raised in the child is raised again in the parent; a child killed by a signal
becomes one :class:`~edgeq.errors.UnsupportedError` naming the stage it was in and the layers most likely at fault
(the child reports its stage with :func:`stage` before each converter call).

The child prints nothing on stdout (``--json`` keeps its one object): its stdout goes to the parent's stderr.
Set ``EDGEQ_CONVERT_INPROCESS=1`` to run everything in the calling process (debugging).
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from edgeq import errors

#: the functions a child may run
TASKS = {
    "quantize": "edgeq.convert.ptq:_quantize_here",
    "qat_convert": "edgeq.qat.converter:_convert_file",
}
_STAGE_ENV = "EDGEQ_CONVERT_STAGE_FILE"
#: fault injection for tests: the child kills itself with this signal when it reaches a stage containing the text
#: of EDGEQ_CONVERT_CRASH_AT (e.g. "converting"); a real converter crash takes the same path
_CRASH_ENV = "EDGEQ_CONVERT_CRASH_AT"


def inprocess() -> bool:
    return os.environ.get("EDGEQ_CONVERT_INPROCESS", "") not in ("", "0")


def stage(text: str) -> None:
    """Record what the child is doing now (read by the parent if the child dies)."""
    path = os.environ.get(_STAGE_ENV)
    if not path:
        return
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    crash_at = os.environ.get(_CRASH_ENV)
    if crash_at and crash_at in text:
        os.kill(os.getpid(), signal.SIGSEGV)


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def run_isolated(task: str, kwargs: dict[str, Any], *, where: str | None = None) -> Any:
    """``TASKS[task](**kwargs)`` in a child Python process; its result, or its EdgeqError raised here."""
    if inprocess():
        return _resolve(task)(**kwargs)
    root = str(Path(__file__).resolve().parents[2])
    with tempfile.TemporaryDirectory(prefix="edgeq-convert-") as tmp:
        d = Path(tmp)
        (d / "args.pkl").write_bytes(pickle.dumps(kwargs, protocol=pickle.HIGHEST_PROTOCOL))
        env = dict(os.environ)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env[_STAGE_ENV] = str(d / "stage.txt")
        try:
            sys.stderr.flush()
        except Exception:  # noqa: BLE001 - a closed stream: nothing to flush
            pass
        proc = subprocess.run([sys.executable, "-m", "edgeq.convert.isolate", str(d), task], env=env,
                              stdin=subprocess.DEVNULL, stdout=2, check=False)
        result = d / "result.pkl"
        if proc.returncode == 0 and result.is_file():
            kind, value = pickle.loads(result.read_bytes())
            if kind == "ok":
                return value
            cls = getattr(errors, value.get("class", ""), None)
            if not (isinstance(cls, type) and issubclass(cls, errors.EdgeqError)):
                cls = errors.UnsupportedError
            raise cls(value["message"], where=value.get("where"), hint=value.get("hint"))
        what = (d / "stage.txt").read_text(encoding="utf-8") if (d / "stage.txt").is_file() else "starting"
        how = _signal_name(proc.returncode) if proc.returncode < 0 else f"exit status {proc.returncode}"
        raise errors.UnsupportedError(f"the TFLite converter crashed ({how}) while {what}", where=where,
                                      hint="edgeq's own process is fine; rebuild or remove that layer, or report "
                                           "the model to edgeq")


def _resolve(task: str):
    import importlib

    mod, fn = TASKS[task].split(":")
    return getattr(importlib.import_module(mod), fn)


def _child(folder: str, task: str) -> int:
    d = Path(folder)
    kwargs = pickle.loads((d / "args.pkl").read_bytes())
    try:
        value = ("ok", _resolve(task)(**kwargs))
    except errors.EdgeqError as exc:
        value = ("error", {"class": type(exc).__name__, "message": exc.message, "where": exc.where,
                           "hint": exc.hint})
    except Exception as exc:  # noqa: BLE001 - anything else from TensorFlow: one line, not a traceback
        from edgeq.convert._tf import first_line

        value = ("error", {"class": "UnsupportedError",
                           "message": f"the TFLite converter failed: {first_line(str(exc)) or type(exc).__name__}"})
    (d / "result.pkl").write_bytes(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1], sys.argv[2]))
