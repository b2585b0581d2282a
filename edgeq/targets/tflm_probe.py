"""Child process of :func:`edgeq.targets.tflm.measure_arena`: ``python -m edgeq.targets.tflm_probe MODEL``.

Reads one request per line on stdin and answers one line on stdout:
* ``<N>``: ``ok`` when TFLM's reference interpreter allocates the model in an N-byte arena and invokes it once on
  zero inputs, else ``fail``;
* ``used <N>``: ``used <bytes>``, the arena allocation total TFLM prints after AllocateTensors (``used ?`` if none).
If the interpreter cannot be imported the answer is ``error <reason>``. TFLM may crash the process (SIGSEGV at some
too-small arenas): that is why this runs apart from edgeq.
"""

from __future__ import annotations

import os
import re
import sys


def main(argv: list[str]) -> int:
    path = argv[0]
    out = sys.stdout
    # TFLM prints its allocation failures on fd 2: the parent discards our stderr
    import numpy as np

    from edgeq.tflite import read_model

    try:
        from tflite_micro.python.tflite_micro import runtime
    except Exception as exc:  # ImportError, or a wheel that fails to load
        out.write(f"error {type(exc).__name__}: {exc}\n".replace("\n", " ").rstrip() + "\n")
        out.flush()
        return 0
    data = open(path, "rb").read()
    sample = [np.zeros(t.shape, dtype=np.dtype(t.dtype)) for t in read_model(path).input_tensors()]
    for line in sys.stdin:
        req = line.split()
        if not req:
            continue
        if req[0] == "used":
            out.write(f"used {_used(runtime, data, int(req[1]))}\n")
        else:
            out.write("ok\n" if _works(runtime, data, int(req[0]), sample) else "fail\n")
        out.flush()
    return 0


def _works(runtime, data: bytes, arena: int, sample) -> bool:
    try:
        it = runtime.Interpreter.from_bytes(data, arena_size=arena)
        for i, x in enumerate(sample):
            it.set_input(x, i)
        it.invoke()
        return True
    except (RuntimeError, ValueError):
        return False


def _used(runtime, data: bytes, arena: int) -> str:
    """PrintAllocations() writes "Arena allocation total N bytes" on fd 2: read it through a pipe."""
    try:
        it = runtime.Interpreter.from_bytes(data, arena_size=arena)
    except (RuntimeError, ValueError):
        return "?"
    r, w = os.pipe()
    saved = os.dup(2)
    try:
        os.dup2(w, 2)
        os.close(w)
        it.print_allocations()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    with os.fdopen(r, "rb") as f:
        text = f.read(1 << 16).decode("utf-8", "replace")
    m = re.search(r"Arena allocation total (\d+) bytes", text)
    return m.group(1) if m else "?"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
